"""Speed of minigan's convolution layers, an LSTM and a DCGAN training step, beside PyTorch's.

    python benchmarks/bench_speed.py            # full run (about a minute or two on 2 cores)
    python benchmarks/bench_speed.py --quick    # fewer repeats, smaller peak measurement
    python benchmarks/bench_speed.py --json out.json

What it times (float32, forward + backward, one process):
  conv     Conv2d(64, 128, 3, padding=1) on x: (64, 64, 14, 14)
  convT    ConvTranspose2d(128, 64, 4, stride=2, padding=1) on x: (64, 128, 7, 7)
  bn       BatchNorm2d(128), training mode, on x: (64, 128, 14, 14)
  dcgan    one DCGAN train_step (D update on real + fake, then G update through D) on 64
           MNIST-size (1, 28, 28) images, width 64, latent 100 (minigan.gans.dcgan)
  lstm     LSTM(64, 256) over 32 steps of a batch of 64, forward + backward through time

Each workload is timed as the median of several repeats after a warm-up. When PyTorch is
importable, the same workloads run in PyTorch (CPU, float32, ``torch.set_num_threads`` equal
to minigan's thread count), with minigan and PyTorch repeats interleaved so that a neighbour
process loading the machine slows both alike; the ratio minigan / PyTorch is printed.

It also reports the machine's measured matmul peak (GFLOP/s of a large float32 np.matmul),
the convolutions' achieved GFLOP/s and share of that peak, and the memory of a DCGAN step:
the peak of NumPy allocations during one step (tracemalloc), the growth of the process's
maximum resident set over the run (ru_maxrss), and whether live memory grows across steps.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minigan.backend import blas_threads  # noqa: E402
from minigan.gans.dcgan import DCGAN  # noqa: E402
from minigan.kernels import implementation  # noqa: E402
from minigan.nn import LSTM, BatchNorm2d, Conv2d, ConvTranspose2d  # noqa: E402


def minigan_threads(n=None) -> int:
    """The threads minigan's kernels use: numba's pool, set to ``n`` if given (BLAS and
    PyTorch are given the same number)."""
    try:
        import numba
        if n is not None:
            numba.set_num_threads(n)
        return int(numba.get_num_threads())
    except ImportError:  # pragma: no cover
        return n or os.cpu_count() or 1


# --- minigan workloads: each a zero-argument callable doing one forward + backward ---------

def mg_layer(layer, x_shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    y, _ = layer.forward(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)

    def run():
        y, cache = layer.forward(x)
        layer.backward(dy, cache)
    return run


def mg_dcgan(batch=64, seed=0):
    model = DCGAN(data_shape=(1, 28, 28), latent_dim=100, width=64, seed=seed)
    real = np.random.default_rng(seed).uniform(-1, 1, (batch, 1, 28, 28)).astype(np.float32)
    return (lambda: model.train_step(real)), model, real


def mg_lstm(batch=64, steps=32, inputs=64, hidden=256, seed=0):
    """LSTM forward + backward through time, with upstream gradients on the outputs."""
    lstm = LSTM(inputs, hidden, rng=np.random.default_rng(seed))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, steps, inputs)).astype(np.float32)
    dy = rng.standard_normal((batch, steps, hidden)).astype(np.float32)

    def run():
        (y, _), cache = lstm.forward(x)
        lstm.backward(dy, cache)
    return run


# --- the same in PyTorch --------------------------------------------------------------------

def torch_layer(torch, layer, x_shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(x_shape, generator=g, requires_grad=True)
    with torch.no_grad():
        y = layer(x)
    dy = torch.randn(y.shape, generator=g)

    def run():
        layer(x).backward(dy)
    return run


def torch_dcgan(torch, batch=64, latent=100, width=64, seed=0):
    """DCGAN as in minigan.gans.dcgan (same layers, same step), in PyTorch."""
    nn = torch.nn
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(latent, 2 * width * 49, bias=False), nn.Unflatten(1, (2 * width, 7, 7)),
                      nn.BatchNorm2d(2 * width), nn.ReLU(),
                      nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False),
                      nn.BatchNorm2d(width), nn.ReLU(),
                      nn.ConvTranspose2d(width, 1, 4, 2, 1), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),
                      nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width),
                      nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(2 * width * 49, 1))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    real = torch.rand(batch, 1, 28, 28) * 2 - 1
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)

    def run():
        opt_d.zero_grad()
        fake = G(torch.randn(batch, latent)).detach()
        loss_d = bce(D(real), ones) + bce(D(fake), zeros)
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = bce(D(G(torch.randn(batch, latent))), ones)
        loss_g.backward()
        opt_g.step()
    return run


def torch_lstm(torch, batch=64, steps=32, inputs=64, hidden=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    lstm = torch.nn.LSTM(inputs, hidden, batch_first=True)
    x = torch.randn(batch, steps, inputs, generator=g, requires_grad=True)
    dy = torch.randn(batch, steps, hidden, generator=g)

    def run():
        y, _ = lstm(x)
        y.backward(dy)
    return run


# --- measuring ----------------------------------------------------------------------------

def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(fns: dict, repeats: int, warmup: int) -> dict:
    """Median seconds of each callable; in every round each runs once, in turn."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(timed(fn))
    return {k: statistics.median(v) for k, v in times.items()}


def matmul_peak(n: int, repeats: int) -> float:
    """GFLOP/s of an n×n×n float32 np.matmul (the best of ``repeats``: the machine's peak)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    a @ b
    best = min(timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def conv_flops(N, C, F, OH, OW, KH, KW) -> float:
    """Multiply-adds ×2 of forward + backward (forward, dW and dx: three products of one size)."""
    return 3 * 2 * N * F * OH * OW * C * KH * KW


def dcgan_memory(steps: int) -> dict:
    """Peak NumPy allocation of one step, and the memory retained after each step beyond
    what the first step left (optimiser state), by tracemalloc."""
    run, model, _ = mg_dcgan()
    run()                                   # optimiser state is allocated on the first step
    gc.collect()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    live, peaks = [], []
    for _ in range(steps):
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        run()
        current, peak = tracemalloc.get_traced_memory()
        peaks.append(peak - base)
        live.append(current)
    tracemalloc.stop()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    params = sum(p.nbytes for _, p, _ in model.G.named_parameters() + model.D.named_parameters())
    growth = live[-1] - live[0]
    return {"step_peak_mb": max(peaks) / 2 ** 20, "retained_mb": live[-1] / 2 ** 20,
            "live_growth_kb_over_steps": growth / 2 ** 10, "steps": steps,
            "grows": bool(growth > 0.01 * live[0] + 64 * 2 ** 10),
            "params_mb": params / 2 ** 20, "maxrss_delta_mb": (rss1 - rss0) / 2 ** 10}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, for a fast look")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    ap.add_argument("--threads", type=int, help="threads for numba, BLAS and PyTorch "
                    "(default: numba's default, the number of CPUs)")
    args = ap.parse_args(argv)
    threads = minigan_threads(args.threads)
    with blas_threads(threads):
        return run(args, threads)


def run(args, threads):
    repeats, warmup = (5, 1) if args.quick else (15, 3)

    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            torch = None

    print(f"minigan speed benchmark: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, {threads} threads, im2col kernel: "
          f"{implementation(np.zeros(1, np.float32))}, NumPy {np.__version__}"
          + (f", PyTorch {torch.__version__}" if torch else ", PyTorch not installed"))
    peak = matmul_peak(1024 if args.quick else 2048, 3 if args.quick else 5)
    print(f"matmul peak (float32 np.matmul): {peak:.1f} GFLOP/s\n")

    workloads = {
        "conv": dict(desc="Conv2d 64->128 3x3 p1, x (64,64,14,14)", x=(64, 64, 14, 14),
                     mg=lambda: Conv2d(64, 128, 3, padding=1),
                     pt=lambda: torch.nn.Conv2d(64, 128, 3, padding=1),
                     flops=conv_flops(64, 64, 128, 14, 14, 3, 3)),
        "convT": dict(desc="ConvTranspose2d 128->64 4x4 s2 p1, x (64,128,7,7)", x=(64, 128, 7, 7),
                      mg=lambda: ConvTranspose2d(128, 64, 4, stride=2, padding=1),
                      pt=lambda: torch.nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1),
                      # the adjoint of a conv 64->128 on 14x14 to 7x7: the same products
                      flops=conv_flops(64, 64, 128, 7, 7, 4, 4)),
        "bn": dict(desc="BatchNorm2d(128) train, x (64,128,14,14)", x=(64, 128, 14, 14),
                   mg=lambda: BatchNorm2d(128), pt=lambda: torch.nn.BatchNorm2d(128), flops=None),
        "dcgan": dict(desc="DCGAN train_step, 64 images 1x28x28", flops=None),
        "lstm": dict(desc="LSTM 64->256, 32 steps, batch 64", flops=None),
    }
    results = {"threads": threads, "matmul_peak_gflops": peak, "workloads": {}}
    header = f"{'workload':<52} {'minigan ms':>10} {'torch ms':>9} {'ratio':>6} {'GFLOP/s':>8} {'% peak':>6}"
    print(header)
    print("-" * len(header))
    for name, w in workloads.items():
        if name in ("dcgan", "lstm"):
            fns = {"minigan": mg_dcgan()[0] if name == "dcgan" else mg_lstm()}
            if torch:
                fns["torch"] = (torch_dcgan if name == "dcgan" else torch_lstm)(torch)
        else:
            fns = {"minigan": mg_layer(w["mg"](), w["x"])}
            if torch:
                fns["torch"] = torch_layer(torch, w["pt"](), w["x"])
        med = interleaved(fns, repeats, warmup)
        row = {"description": w["desc"], "minigan_s": med["minigan"]}
        if torch:
            row["torch_s"] = med["torch"]
            row["ratio"] = med["minigan"] / med["torch"]
        if w["flops"]:
            row["gflops"] = w["flops"] / med["minigan"] / 1e9
            row["share_of_peak"] = row["gflops"] / peak
        results["workloads"][name] = row
        print(f"{w['desc']:<52} {1e3 * row['minigan_s']:>10.2f} "
              + (f"{1e3 * row['torch_s']:>9.2f} {row['ratio']:>6.2f}" if torch else f"{'-':>9} {'-':>6}")
              + (f" {row['gflops']:>8.1f} {100 * row['share_of_peak']:>5.0f}%" if w["flops"] else ""))

    mem = dcgan_memory(4 if args.quick else 10)
    results["dcgan_memory"] = mem
    print(f"\nDCGAN step memory: peak {mem['step_peak_mb']:.1f} MB of NumPy allocations in one "
          f"step (parameters {mem['params_mb']:.1f} MB); retained after {mem['steps']} more steps: "
          f"{mem['retained_mb']:.1f} MB, growth {mem['live_growth_kb_over_steps']:+.1f} KB "
          f"({'GROWS' if mem['grows'] else 'no growth'}); ru_maxrss grew {mem['maxrss_delta_mb']:.1f} MB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
