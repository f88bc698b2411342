"""One Pix2Pix training step in minigan against the same step in PyTorch, each in its own process.

    python benchmarks/bench_pix2pix_speed.py                 # full run, ~6 min on 2 quiet cores
    python benchmarks/bench_pix2pix_speed.py --quick         # a smoke run: 2 rounds of 3 steps
    python benchmarks/bench_pix2pix_speed.py --threads 1 --workloads default --rounds 9
    python benchmarks/bench_pix2pix_speed.py --json benchmarks/results/pix2pix_speed.json

What is timed: ``Pix2Pix.train_step`` (minigan.gans.pix2pix) on one fixed batch (inputs,
targets) in [-1, 1], and the same step written in PyTorch (CPU, float32) with exactly the same
networks, built from the same config:

  ŷ = G(x)                                   once, U-Net, Dropout(0.5) on (train mode)
  D step: ½·[BCE(D([x, y]), 1) + BCE(D([x, ŷ.detach()]), 0)], backward, Adam step
  G step: BCE(D([x, ŷ]), 1) + λ·mean|ŷ − y| (λ = 100), backward (through the updated D, into
          D's weight gradients too, as minigan does; they are cleared before D's next step),
          Adam step;   Adam(lr 2e-4, β = (0.5, 0.999), ε = 1e-8) on both, PyTorch's defaults
          otherwise; the five numbers minigan's step returns (losses, mean D outputs) read as
          Python floats

Every measurement runs in a fresh process (``--worker minigan|torch``): it sets the thread
environment (OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS) before importing anything, builds the model,
runs ``--warmup`` steps, times ``--steps`` steps one by one and prints their times as JSON. The
parent imports neither library; for each round it runs, for every workload and thread count,
one minigan process and one PyTorch process, alternating which goes first (ABBA), so that a
neighbour loading the machine for a while slows both alike. It reports, per (workload, threads),
the median over rounds of each process's median ms/step, and the ratio minigan / PyTorch of
those medians (the target of the Pix2Pix issue: <= 1.25), with the range of the per-round
(paired) ratios. Why separate processes: in one process the two libraries' thread pools
(OpenMP for PyTorch, OpenBLAS + numba for minigan) disturb each other, which slows PyTorch and
flatters minigan.

Before timing, a check process (``--worker check``, one per workload, untimed) imports both and
asserts that the two implementations are the same network: layer by layer the same layer types,
hyper-parameters (kernel, stride, padding, slope, eps, dropout p) and parameter names, shapes
and counts; then, with dropout 0 (the only difference to the timed config is that the dropout
masks cannot be drawn alike), copies minigan's weights into PyTorch and checks that G's and D's
outputs, G's gradients in the first step and the losses of three training steps agree. Each timing worker also reports its
per-layer parameter counts, and the parent asserts they agree between the two.

PyTorch is needed only here (a CPU build: ``pip install torch==2.13.0 --index-url
https://download.pytorch.org/whl/cpu``); it is not a dependency of minigan. No test runs this:
timings are reported, never asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
TARGET = 1.25

# The chapter's Pix2Pix (the defaults of Pix2Pix.__init__) at batch 16, and a larger one: 64×64
# images, a U-Net down to 1×1 (as the paper's 256×256 one, 8 levels), base width 32, the
# paper's 3-layer (70×70) PatchGAN.
WORKLOADS = {
    "default": {"in_channels": 6, "out_channels": 3, "size": 32, "depth": 4, "width": 16,
                "d_layers": 2, "d_width": 16, "batch": 16},
    "large": {"in_channels": 6, "out_channels": 3, "size": 64, "depth": 6, "width": 32,
              "d_layers": 3, "d_width": 32, "batch": 8},
}
MODEL_KEYS = ("in_channels", "out_channels", "size", "depth", "width", "d_layers", "d_width")
LAM, LR, BETAS, DROPOUT = 100.0, 2e-4, (0.5, 0.999), 0.5


def parse_workload(spec: str) -> dict:
    """``name`` (a key of WORKLOADS) or ``name:key=value,...`` (that workload with changes,
    e.g. ``large:depth=5,batch=4``)."""
    name, _, changes = spec.partition(":")
    if name not in WORKLOADS:
        raise SystemExit(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)} "
                         "(optionally with :key=value,... changes)")
    cfg = dict(WORKLOADS[name])
    for item in filter(None, changes.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in cfg:
            raise SystemExit(f"bad change {item!r} in workload {spec!r}; keys: {', '.join(cfg)}")
        cfg[key] = int(value)
    return cfg


def describe(cfg: dict) -> str:
    return (f"{cfg['in_channels']}->{cfg['out_channels']} {cfg['size']}x{cfg['size']}, "
            f"U-Net depth {cfg['depth']} width {cfg['width']}, "
            f"PatchGAN {cfg['d_layers']} layers width {cfg['d_width']}, batch {cfg['batch']}")


# =============================================================================================
# The workers (each runs in its own process)
# =============================================================================================

def set_thread_env(threads: int, env=None):
    env = os.environ if env is None else env
    for var in THREAD_VARS:
        env[var] = str(threads)
    return env


def layer_counts(named):
    """{layer name: number of parameters} from (parameter name, size) pairs."""
    out = {}
    for name, size in named:
        layer = name.rsplit(".", 1)[0]
        out[layer] = out.get(layer, 0) + int(size)
    return out


def pool_info():
    """The native thread pools this process has loaded (threadpoolctl), for the report: which
    BLAS (and which OpenBLAS kernel, ``architecture``), which OpenMP, how many threads."""
    try:
        import threadpoolctl
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return []
    keep = ("user_api", "internal_api", "version", "num_threads", "architecture", "threading_layer")
    return [{k: i[k] for k in keep if k in i} | {"library": os.path.basename(i.get("filepath", ""))}
            for i in threadpoolctl.threadpool_info()]


def minigan_info(pools):
    """What a minigan worker reports of its process: NumPy and its BLAS, numba (threads, the
    threading layer), which kernels minigan chose, and ``pools`` (threadpoolctl's, read while
    the thread limits of the timed block held)."""
    import numba
    import numpy as np

    from minigan.kernels import implementation
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - older NumPy: no dicts mode
        blas = "?"
    try:
        layer = numba.threading_layer()
    except ValueError:                       # no parallel numba kernel has run yet
        layer = "not initialised"
    return {"numpy": np.__version__, "numpy_blas": blas, "numba": numba.__version__,
            "numba_threads": numba.get_num_threads(), "numba_threading_layer": layer,
            "minigan_kernels": implementation(np.zeros(1, np.float32)), "pools": pools}


def torch_info(torch):
    """What a PyTorch worker reports of its process: version, threads, CPU capability, oneDNN,
    MKL, the parallel backend, the thread pools."""
    return {"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkldnn": bool(torch.backends.mkldnn.is_available()
                           and torch.backends.mkldnn.enabled),
            "mkl": bool(torch.backends.mkl.is_available()),
            "parallel_backend": next((line.split(":", 1)[1].strip() for line in
                                      torch.__config__.parallel_info().splitlines()
                                      if "parallel backend" in line), "?"),
            "pools": pool_info()}


# --- minigan ---------------------------------------------------------------------------------

def minigan_model(cfg, dropout=DROPOUT, seed=0):
    from minigan.gans.pix2pix import Pix2Pix
    return Pix2Pix(**{k: cfg[k] for k in MODEL_KEYS}, objective="l1+cgan", lam=LAM,
                   generator="unet", dropout=dropout, lr_g=LR, lr_d=LR, betas=BETAS, seed=seed)


def batch_numpy(cfg, seed=1):
    import numpy as np
    rng = np.random.default_rng(seed)
    n, s = cfg["batch"], cfg["size"]
    x = rng.uniform(-1, 1, (n, cfg["in_channels"], s, s)).astype(np.float32)
    y = rng.uniform(-1, 1, (n, cfg["out_channels"], s, s)).astype(np.float32)
    return x, y


def minigan_worker(cfg, threads, steps, warmup):
    import minigan  # noqa: F401  (first, as its CLI and notebooks: minigan/_threads.py)
    import numba

    from minigan.backend import blas_threads

    numba.set_num_threads(threads)
    with blas_threads(threads):
        model = minigan_model(cfg)
        batch = batch_numpy(cfg)
        for _ in range(warmup):
            model.train_step(batch)
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            model.train_step(batch)
            times.append(time.perf_counter() - t0)
        pools = pool_info()
    named = [("G." + n, p.size) for n, p, _ in model.G.named_parameters()] + \
            [("D." + n, p.size) for n, p, _ in model.D.named_parameters()]
    return {"times_s": times,
            "param_counts": layer_counts(named),
            "info": minigan_info(pools)}


# --- PyTorch ---------------------------------------------------------------------------------

def torch_networks(torch, cfg, dropout=DROPOUT):
    """G and D as minigan's UNet and patch_discriminator, layer for layer, with the same
    parameter names (``down.<i>.<j>.weight``, ``up.<i>.<j>.…``; D: ``<j>.weight``)."""
    nn = torch.nn

    class UNet(nn.Module):
        def __init__(self, in_channels, out_channels, depth, width):
            super().__init__()
            self.depth = depth
            ch = [width * min(2 ** i, 8) for i in range(depth)]
            down = []
            for i in range(depth):
                layers = [] if i == 0 else [nn.LeakyReLU(0.2)]
                layers.append(nn.Conv2d(in_channels if i == 0 else ch[i - 1], ch[i], 4, stride=2,
                                        padding=1, bias=i in (0, depth - 1)))
                if 0 < i < depth - 1:
                    layers.append(nn.InstanceNorm2d(ch[i], affine=True))
                down.append(nn.Sequential(*layers))
            up = []
            for i in range(depth):
                innermost, outermost = i == depth - 1, i == 0
                c_in = ch[i] if innermost else 2 * ch[i]
                c_out = out_channels if outermost else ch[i - 1]
                layers = [nn.ReLU(), nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1,
                                                        bias=outermost)]
                if outermost:
                    layers.append(nn.Tanh())
                else:
                    layers.append(nn.InstanceNorm2d(c_out, affine=True))
                    if dropout and i >= depth - 3:
                        layers.append(nn.Dropout(dropout))
                up.append(nn.Sequential(*layers))
            self.down, self.up = nn.ModuleList(down), nn.ModuleList(up)

        def forward(self, x):
            e = [x]
            for layer in self.down:
                e.append(layer(e[-1]))
            u = e[self.depth]
            for i in reversed(range(self.depth)):
                u = self.up[i](u if i == self.depth - 1 else torch.cat([u, e[i + 1]], 1))
            return u

    def patch_discriminator(in_channels, n_layers, width):
        if n_layers == 0:
            return nn.Sequential(nn.Conv2d(in_channels, width, 1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(width, 2 * width, 1, bias=False),
                                 nn.InstanceNorm2d(2 * width, affine=True), nn.LeakyReLU(0.2),
                                 nn.Conv2d(2 * width, 1, 1))
        layers = [nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        ch = width
        for i in range(1, n_layers + 1):
            out = width * min(2 ** i, 8)
            layers += [nn.Conv2d(ch, out, 4, stride=2 if i < n_layers else 1, padding=1,
                                 bias=False),
                       nn.InstanceNorm2d(out, affine=True), nn.LeakyReLU(0.2)]
            ch = out
        layers.append(nn.Conv2d(ch, 1, 4, stride=1, padding=1))
        return nn.Sequential(*layers)

    G = UNet(cfg["in_channels"], cfg["out_channels"], cfg["depth"], cfg["width"])
    D = patch_discriminator(cfg["in_channels"] + cfg["out_channels"], cfg["d_layers"],
                            cfg["d_width"])
    return G, D


def torch_init_(torch, net, gen):
    """minigan's _normal_init_: conv weights ~ N(0, 0.02), biases 0, norm γ ~ N(1, 0.02)."""
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif p.ndim == 1:
                p.copy_(1 + 0.02 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.02 * torch.randn(p.shape, generator=gen))


def torch_step_fn(torch, G, D, x, y):
    """The step of Pix2Pix.train_step, in PyTorch; returns minigan's five numbers."""
    F = torch.nn.functional
    opt_g = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS)
    opt_d = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS)

    def step():
        fake = G(x)                                           # once
        opt_d.zero_grad()                                     # D's step
        s_real = D(torch.cat([x, y], 1))
        s_fake = D(torch.cat([x, fake.detach()], 1))
        loss_d = 0.5 * (F.binary_cross_entropy_with_logits(s_real, torch.ones_like(s_real))
                        + F.binary_cross_entropy_with_logits(s_fake, torch.zeros_like(s_fake)))
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()                                     # G's step, through the new D
        s = D(torch.cat([x, fake], 1))
        loss_gan = F.binary_cross_entropy_with_logits(s, torch.ones_like(s))
        l1 = (fake - y).abs().mean()
        (loss_gan + LAM * l1).backward()
        opt_g.step()
        with torch.no_grad():
            d_real, d_fake = torch.sigmoid(s_real).mean(), torch.sigmoid(s_fake).mean()
        return {"loss_d": loss_d.item(), "loss_g": loss_gan.item(), "l1": l1.item(),
                "d_real": d_real.item(), "d_fake": d_fake.item()}
    return step


def torch_worker(cfg, threads, steps, warmup):
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)  # unused by this step; as many as the intra-op pool
    torch.manual_seed(0)
    G, D = torch_networks(torch, cfg)
    gen = torch.Generator().manual_seed(0)
    torch_init_(torch, G, gen)
    torch_init_(torch, D, gen)
    G.train()
    D.train()
    n, s = cfg["batch"], cfg["size"]
    x = torch.rand(n, cfg["in_channels"], s, s, generator=gen) * 2 - 1
    y = torch.rand(n, cfg["out_channels"], s, s, generator=gen) * 2 - 1
    step = torch_step_fn(torch, G, D, x, y)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    named = [("G." + n, p.numel()) for n, p in G.named_parameters()] + \
            [("D." + n, p.numel()) for n, p in D.named_parameters()]
    return {"times_s": times,
            "param_counts": layer_counts(named),
            "info": torch_info(torch)}


# --- the check: the two are the same network and the same step --------------------------------

HYPER = ("kernel_size", "stride", "padding", "dilation", "output_padding", "negative_slope",
         "p", "eps", "affine", "num_features")


def _norm(v):
    return tuple(v) if isinstance(v, (tuple, list)) else v


def check_worker(cfg, threads):
    """Asserts (raises AssertionError) that minigan's and the PyTorch networks are the same,
    layer by layer, and that with dropout 0 and the same weights the two steps agree."""
    import numba
    import numpy as np
    import torch

    from minigan.backend import blas_threads

    numba.set_num_threads(threads)
    torch.set_num_threads(threads)
    report = {}
    with blas_threads(threads):
        # 1. the timed config: layer types, hyper-parameters, parameter names/shapes/counts
        model = minigan_model(cfg)
        G, D = torch_networks(torch, cfg)
        pairs = [(f"G.down.{i}", m, t) for i, (m, t) in enumerate(zip(model.G.down, G.down))] + \
                [(f"G.up.{i}", m, t) for i, (m, t) in enumerate(zip(model.G.up, G.up))] + \
                [("D", model.D, D)]
        assert len(model.G.down) == len(G.down) and len(model.G.up) == len(G.up)
        for where, m_seq, t_seq in pairs:
            m_layers, t_layers = m_seq.layers, list(t_seq)
            m_types = [type(la).__name__ for la in m_layers]
            t_types = [type(la).__name__ for la in t_layers]
            assert m_types == t_types, f"{where}: minigan {m_types} != torch {t_types}"
            for j, (ml, tl) in enumerate(zip(m_layers, t_layers)):
                for attr in HYPER:
                    if hasattr(ml, attr):
                        mv, tv = _norm(getattr(ml, attr)), _norm(getattr(tl, attr))
                        assert mv == tv, (f"{where}.{j} {m_types[j]}.{attr}: minigan {mv} != "
                                          f"torch {tv}")
                if m_types[j] == "InstanceNorm2d":
                    assert not tl.track_running_stats
        for net, m_net, t_net in (("G", model.G, G), ("D", model.D, D)):
            m_shapes = {n: tuple(p.shape) for n, p, _ in m_net.named_parameters()}
            t_shapes = {n: tuple(p.shape) for n, p in t_net.named_parameters()}
            assert m_shapes == t_shapes, (f"{net}: parameters differ:\n minigan {m_shapes}\n "
                                          f"torch {t_shapes}")
            m_count = layer_counts((n, p.size) for n, p, _ in m_net.named_parameters())
            t_count = layer_counts((n, p.numel()) for n, p in t_net.named_parameters())
            assert m_count == t_count, f"{net}: per-layer counts {m_count} != {t_count}"
            report[f"{net}_params"] = sum(m_count.values())
            report[f"{net}_layers_with_params"] = len(m_count)
        assert len(model.G.dropouts) == sum(isinstance(m, torch.nn.Dropout) for m in G.modules())

        # 2. dropout 0, the same weights: the same outputs and the same three steps
        model = minigan_model(cfg, dropout=0.0)
        G, D = torch_networks(torch, cfg, dropout=0.0)
        with torch.no_grad():
            for m_net, t_net in ((model.G, G), (model.D, D)):
                t_params = dict(t_net.named_parameters())
                for n, p, _ in m_net.named_parameters():
                    t_params[n].copy_(torch.from_numpy(np.array(p)))
        x, y = batch_numpy(cfg)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        with torch.no_grad():
            g_t = G(tx).numpy()
            d_t = D(torch.cat([tx, ty], 1)).numpy()
        g_m = np.asarray(model.G.forward(x)[0])
        d_m = np.asarray(model.D.forward(np.concatenate([x, y], 1))[0])
        assert g_m.shape == g_t.shape and d_m.shape == d_t.shape
        report["G_forward_max_abs_diff"] = float(np.abs(g_m - g_t).max())
        report["D_forward_max_abs_diff"] = float(np.abs(d_m - d_t).max())
        assert report["G_forward_max_abs_diff"] < 1e-4, report
        assert report["D_forward_max_abs_diff"] < 1e-4 * max(1.0, float(np.abs(d_t).max())), report
        step = torch_step_fn(torch, G, D, tx, ty)
        losses = []
        for k in range(3):
            lm, lt = model.train_step((x, y)), step()
            losses.append({"step": k, "minigan": lm, "torch": lt})
            for key in ("loss_d", "loss_g", "l1", "d_real", "d_fake"):
                assert abs(lm[key] - lt[key]) <= 1e-3 * max(1.0, abs(lt[key])), \
                    f"step {k} {key}: minigan {lm[key]} != torch {lt[key]}"
            if k == 0:
                # G's gradients of the first step (G's loss through the just-updated D). They
                # agree to ~1e-6 on the default workload but only to ~0.3% on the large one, not
                # to float32 rounding: D's gradient is a difference of a real and a fake term
                # that nearly cancel at the start and Adam's first step is lr·sign(g), so the two
                # updated D's differ where a rounding flips a sign. λ 5% off gives 5%.
                t_grads = dict(G.named_parameters())
                gm = np.concatenate([np.ravel(g) for n, _, g in model.G.named_parameters()])
                gt = np.concatenate([t_grads[n].grad.numpy().ravel()
                                     for n, _, _ in model.G.named_parameters()])
                report["G_grad_rel_diff_step1"] = float(np.linalg.norm(gm - gt)
                                                        / np.linalg.norm(gt))
                assert report["G_grad_rel_diff_step1"] < 2e-2, report
        report["losses"] = losses
    return report


def worker_main(args):
    (threads,) = args.threads               # a worker runs on one thread count
    set_thread_env(threads)                 # before numpy, numba or torch is imported
    sys.path.insert(0, ROOT)
    cfg = json.loads(args.config)
    if args.worker == "check":
        out = check_worker(cfg, threads)
    else:
        fn = minigan_worker if args.worker == "minigan" else torch_worker
        out = fn(cfg, threads, args.steps, args.warmup)
        out["median_s"] = statistics.median(out["times_s"])
    out["thread_env"] = {v: os.environ.get(v) for v in THREAD_VARS}
    print(json.dumps(out))
    sys.stdout.flush()


# =============================================================================================
# The parent
# =============================================================================================

def run_worker(kind, cfg, threads, steps=0, warmup=0, script=None):
    """Run ``script`` (this file by default) as a worker process of ``kind`` with ``threads``
    threads in every pool, and return the JSON line it prints last."""
    env = set_thread_env(threads, dict(os.environ))
    cmd = [sys.executable, os.path.abspath(script or __file__), "--worker", kind, "--config",
           json.dumps(cfg), "--threads", str(threads), "--steps", str(steps),
           "--warmup", str(warmup)]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        name = cfg.get("name", cfg) if isinstance(cfg, dict) else cfg
        raise SystemExit(f"worker {kind} ({name}) threads={threads} failed "
                         f"(rc {proc.returncode}):\n{proc.stderr[-4000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def machine_info():
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        pass
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:  # pragma: no cover - not Linux
        pass
    info["cpu"] = model
    simd = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
            "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")
    info["simd_flags"] = [f for f in simd if f in flags]
    # OPENBLAS_CORETYPE forces OpenBLAS's kernel (the workers inherit it): recorded, not changed
    info["openblas_env"] = {k: v for k, v in sorted(os.environ.items())
                            if k.startswith("OPENBLAS_")}
    try:
        info["git"] = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                                     capture_output=True, text=True,
                                     check=False).stdout.strip() or None
    except OSError:  # pragma: no cover
        info["git"] = None
    return info


def loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


def blas_summary(pools):
    parts = []
    for p in pools:
        arch = f", kernel {p['architecture']}" if p.get("architecture") else ""
        layer = f", {p['threading_layer']}" if p.get("threading_layer") else ""
        parts.append(f"{p.get('internal_api')} {p.get('version') or ''} ({p['library']}{arch}"
                     f"{layer}, {p.get('num_threads')} threads)")
    return "; ".join(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, help="rounds of minigan/PyTorch process pairs "
                    "(default 7; --quick 2)")
    ap.add_argument("--steps", type=int, help="timed steps per process (default 20; --quick 3)")
    ap.add_argument("--warmup", type=int, help="untimed steps first (default 3; --quick 1)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="thread counts (default 1 2)")
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS),
                    help=f"of {', '.join(WORKLOADS)}, or name:key=value,... (default: all)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds of 3 steps")
    ap.add_argument("--no-check", action="store_true",
                    help="skip the (untimed) same-network check before timing")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--worker", choices=("minigan", "torch", "check"), help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker_main(args)

    rounds = args.rounds or (2 if args.quick else 7)
    steps = args.steps or (3 if args.quick else 20)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    workloads = {spec: parse_workload(spec) for spec in args.workloads}
    machine = machine_info()
    machine["loadavg_start"] = loadavg()
    print(f"Pix2Pix step, minigan vs PyTorch in separate processes: {machine['cpu']} "
          f"({machine['cpus']} CPUs; {' '.join(machine['simd_flags'])}), Python "
          f"{machine['python']}, git {machine.get('git')}")
    print(f"{rounds} rounds x (minigan, PyTorch) processes alternated; {warmup} warm-up + "
          f"{steps} timed steps each; threads {args.threads}; load average "
          f"{machine['loadavg_start']}", flush=True)

    checks = {}
    if not args.no_check:
        for spec, cfg in workloads.items():
            t0 = time.perf_counter()
            checks[spec] = run_worker("check", cfg, 1)
            print(f"check {spec}: same layers, hyper-parameters and parameters (G "
                  f"{checks[spec]['G_params']:,}, D {checks[spec]['D_params']:,}); with dropout "
                  f"0, same weights: max |G(x) diff| {checks[spec]['G_forward_max_abs_diff']:.1e}, "
                  f"G's step-1 gradients within {checks[spec]['G_grad_rel_diff_step1']:.1e} "
                  "(relative L2), the losses of 3 steps agree "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)

    keys = [(spec, t) for spec in workloads for t in args.threads]
    raw = {k: {"minigan": [], "torch": []} for k in keys}
    infos = {}
    t_start = time.perf_counter()
    for r in range(rounds):
        order = ("minigan", "torch") if r % 2 == 0 else ("torch", "minigan")
        for spec, threads in keys:
            counts = {}
            for kind in order:
                out = run_worker(kind, workloads[spec], threads, steps, warmup)
                raw[(spec, threads)][kind].append(out["median_s"])
                counts[kind] = out["param_counts"]
                infos.setdefault(kind, {}).setdefault(threads, out["info"])
            assert counts["minigan"] == counts["torch"], \
                f"{spec}: per-layer parameter counts differ: {counts}"
        print(f"round {r + 1}/{rounds} done ({time.perf_counter() - t_start:.0f} s, load average "
              f"{loadavg()})", flush=True)
    machine["loadavg_end"] = loadavg()

    rows = []
    for spec, threads in keys:
        m, t = raw[(spec, threads)]["minigan"], raw[(spec, threads)]["torch"]
        paired = [a / b for a, b in zip(m, t)]
        rows.append({"workload": spec, "config": workloads[spec], "threads": threads,
                     "minigan_ms": 1e3 * statistics.median(m),
                     "torch_ms": 1e3 * statistics.median(t),
                     "ratio": statistics.median(m) / statistics.median(t),
                     "paired_ratio_min": min(paired), "paired_ratio_max": max(paired),
                     "minigan_round_ms": [1e3 * v for v in m],
                     "torch_round_ms": [1e3 * v for v in t]})

    mg, pt = infos["minigan"][args.threads[0]], infos["torch"][args.threads[0]]
    print()
    print(f"Machine: {machine['cpu']}, {machine['cpus']} CPUs ({machine.get('cpus_usable')} "
          "usable), "
          f"flags {' '.join(machine['simd_flags'])}; {machine['platform']}; load average "
          f"{machine['loadavg_start']} -> {machine['loadavg_end']}; {machine['date_utc']} UTC")
    print(f"minigan: NumPy {mg['numpy']} ({mg['numpy_blas']}), numba {mg['numba']} (threading "
          f"layer {mg['numba_threading_layer']}), kernels {mg['minigan_kernels']}; pools: "
          f"{blas_summary(mg['pools'])}")
    print(f"PyTorch: {pt['torch']} (CPU capability {pt['cpu_capability']}, oneDNN "
          f"{pt['mkldnn']}, MKL {pt['mkl']}, {pt['parallel_backend']}); pools: "
          f"{blas_summary(pt['pools'])}")
    if machine["openblas_env"]:
        print("OpenBLAS environment (inherited by the workers): "
              + " ".join(f"{k}={v}" for k, v in machine["openblas_env"].items()))
    print(f"Median over {rounds} rounds of each process's median of {steps} steps (after "
          f"{warmup} warm-up); ratio = minigan / PyTorch (target <= {TARGET}); range: the "
          "per-round paired ratios.\n")
    print("| workload | config | threads | minigan ms/step | PyTorch ms/step | ratio | "
          "ratio range | <= 1.25 |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['workload']} | {describe(row['config'])} | {row['threads']} | "
              f"{row['minigan_ms']:.1f} | {row['torch_ms']:.1f} | {row['ratio']:.2f} | "
              f"{row['paired_ratio_min']:.2f}-{row['paired_ratio_max']:.2f} | "
              f"{'yes' if row['ratio'] <= TARGET else 'no'} |")
    results = {"machine": machine, "rounds": rounds, "steps": steps, "warmup": warmup,
               "threads": args.threads, "target_ratio": TARGET, "rows": rows,
               "workers": {k: {str(t): v for t, v in d.items()} for k, d in infos.items()},
               "checks": checks}
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        print(f"\nwrote {args.json}")
    return results


if __name__ == "__main__":
    main()
