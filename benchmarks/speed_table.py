"""The headline speed table: minigan against PyTorch, each in its own process, at 1 and 2 threads.

    python benchmarks/speed_table.py                   # the full table (~15 min on 2 quiet cores)
    python benchmarks/speed_table.py --quick           # a smoke run: 2 rounds of 3 steps
    python benchmarks/speed_table.py --workloads conv dcgan --threads 1 --rounds 9
    python benchmarks/speed_table.py --json benchmarks/results/speed_table.json \\
        --markdown benchmarks/results/speed_table.md

What is timed (float32, forward + backward; a training step includes the optimiser updates):

  conv       Conv2d(64, 128, 3, padding=1) on x (64, 64, 14, 14)
  convT      ConvTranspose2d(128, 64, 4, stride=2, padding=1) on x (64, 128, 7, 7)
  lstm       LSTM(64, 256) over 32 steps of a batch of 64, backward through time
  dcgan      one DCGAN training step, 28×28, width 64, latent 100, batch 64
             (benchmarks/bench_speed.py builds these four, for minigan and for PyTorch)
  pix2pix    one Pix2Pix training step, the chapter's model at batch 16
             (benchmarks/bench_pix2pix_speed.py's "default" workload and its workers)
  text2image one GAN-CLS/INT training step, `minigan train text2image`'s preset at batch 64
             (benchmarks/bench_text2image_speed.py's "preset" config and its workers)

How: every measurement is a fresh process (``--worker``; for pix2pix and text2image, the worker
of their own benchmark script) that sets the thread environment (OMP, OPENBLAS, MKL, NUMBA
…_NUM_THREADS) before it imports anything, builds the workload, runs ``--warmup`` untimed
repetitions and times ``--steps`` one by one; it prints the times as JSON. This parent imports
neither library. Each round runs, for every workload and thread count, one minigan process and
one PyTorch process, alternating which goes first (ABBA), so that a neighbour loading the
machine for a while slows both alike. Reported per (workload, threads): the median over rounds of
each process's median time, their ratio minigan / PyTorch, and the range of the per-round
(paired) ratios; beside it the issue's target (≤ 1.0 for the four layer workloads and the DCGAN
step, ≤ 1.25 for the Pix2Pix and text-to-image steps) and whether it is met.

Why separate processes: that is what a user comparing the two runs, and in one process the two
libraries' thread pools (OpenMP for PyTorch; OpenBLAS and numba for minigan) disturb each other,
which slows PyTorch and flatters minigan (``bench_speed.py`` times in one process; its ratios are
labelled so). The machine is reported with the table: the CPU and its SIMD flags, the BLAS and the
OpenBLAS kernel it chose (threadpoolctl), numba's threading layer, PyTorch's CPU capability.

The same-network checks of the Pix2Pix and text-to-image steps (minigan's and PyTorch's networks
are the same layers, the same parameters, the same losses from the same weights) are the
``--worker check`` of their own scripts; ``--check`` runs them here too. PyTorch is needed only
here (``pip install torch==2.13.0`` gives a CPU build); no test runs this: timings are
reported, never asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# stdlib-only at import time: safe to import before the thread environment is set
from bench_pix2pix_speed import (  # noqa: E402
    ROOT,
    THREAD_VARS,
    blas_summary,
    loadavg,
    machine_info,
    minigan_info,
    pool_info,
    run_worker,
    set_thread_env,
    torch_info,
)

PIX2PIX_SCRIPT = os.path.join(HERE, "bench_pix2pix_speed.py")
T2I_SCRIPT = os.path.join(HERE, "bench_text2image_speed.py")

# name -> (description, target ratio, which script's workers time it)
WORKLOADS = {
    "conv": ("Conv2d 64→128 3×3 p1 on 64×64×14×14", 1.0, None),
    "convT": ("ConvTranspose2d 128→64 4×4 s2 p1 on 64×128×7×7", 1.0, None),
    "lstm": ("LSTM 64→256, 32 steps, batch 64", 1.0, None),
    "dcgan": ("DCGAN training step, 28×28, width 64, batch 64", 1.0, None),
    "pix2pix": ("Pix2Pix training step, the chapter's model, batch 16", 1.25, PIX2PIX_SCRIPT),
    "text2image": ("GAN-CLS/INT training step, the preset, batch 64", 1.25, T2I_SCRIPT),
}
DEFAULT_JSON = os.path.join("benchmarks", "results", "speed_table.json")
DEFAULT_MD = os.path.join("benchmarks", "results", "speed_table.md")


# =============================================================================================
# The workers of the four workloads of bench_speed.py (each runs in its own process)
# =============================================================================================

def _time_steps(fn, steps, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def minigan_worker(cfg, threads, steps, warmup):
    import minigan  # noqa: F401  (first, as its CLI and notebooks: minigan/_threads.py)
    import numba

    import bench_speed as bs
    from minigan.backend import blas_threads

    numba.set_num_threads(threads)
    name = cfg["workload"]
    with blas_threads(threads):
        if name == "conv":
            fn = bs.mg_layer(bs.Conv2d(64, 128, 3, padding=1), (64, 64, 14, 14))
        elif name == "convT":
            fn = bs.mg_layer(bs.ConvTranspose2d(128, 64, 4, stride=2, padding=1), (64, 128, 7, 7))
        elif name == "lstm":
            fn = bs.mg_lstm()
        else:
            fn = bs.mg_dcgan()[0]
        times = _time_steps(fn, steps, warmup)
        pools = pool_info()
    return {"times_s": times, "info": minigan_info(pools)}


def torch_worker(cfg, threads, steps, warmup):
    import torch

    import bench_speed as bs

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)
    name = cfg["workload"]
    if name == "conv":
        fn = bs.torch_layer(torch, torch.nn.Conv2d(64, 128, 3, padding=1), (64, 64, 14, 14))
    elif name == "convT":
        fn = bs.torch_layer(torch, torch.nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1),
                            (64, 128, 7, 7))
    elif name == "lstm":
        fn = bs.torch_lstm(torch)
    else:
        fn = bs.torch_dcgan(torch)
    times = _time_steps(fn, steps, warmup)
    return {"times_s": times, "info": torch_info(torch)}


def worker_main(args):
    (threads,) = args.threads
    set_thread_env(threads)                 # before numpy, numba or torch is imported
    sys.path.insert(0, ROOT)
    cfg = json.loads(args.config)
    fn = minigan_worker if args.worker == "minigan" else torch_worker
    out = fn(cfg, threads, args.steps, args.warmup)
    out["median_s"] = statistics.median(out["times_s"])
    out["thread_env"] = {v: os.environ.get(v) for v in THREAD_VARS}
    print(json.dumps(out))
    sys.stdout.flush()


# =============================================================================================
# The parent
# =============================================================================================

def worker_configs(names, tmp):
    """{workload: (script, config)}: the config each workload's worker is given."""
    out = {}
    for name in names:
        script = WORKLOADS[name][2]
        if script is None:
            out[name] = (__file__, {"workload": name, "name": name})
        elif name == "pix2pix":
            from bench_pix2pix_speed import WORKLOADS as P2P
            out[name] = (script, dict(P2P["default"], name="pix2pix"))
        else:
            data = run_worker("data", {"configs": {"preset": {}},
                                       "path": os.path.join(tmp, "t2i_batch.npz")}, 1,
                              script=script)
            out[name] = (script, data["configs"]["preset"])
    return out


def markdown(results) -> str:
    m = results["machine"]
    mg = results["minigan_info"]
    pt = results["torch_info"]
    lines = [
        f"Machine: {m['cpu']}, {m['cpus']} CPUs ({m.get('cpus_usable')} usable), SIMD "
        f"{' '.join(m['simd_flags'])}; {m['platform']}; load average {m['loadavg_start']} -> "
        f"{m['loadavg_end']}; {m['date_utc']} UTC; git {m.get('git')}.",
        f"minigan: NumPy {mg['numpy']} ({mg['numpy_blas']}), numba {mg['numba']} (threading "
        f"layer {mg['numba_threading_layer']}), kernels {mg['minigan_kernels']}; BLAS: "
        f"{blas_summary(mg['pools'])}.",
        f"PyTorch {pt['torch']}: CPU capability {pt['cpu_capability']}, oneDNN {pt['mkldnn']}, "
        f"{pt['parallel_backend']}.",
    ]
    if m.get("openblas_env"):
        lines.append("OpenBLAS environment (inherited by the workers): "
                     + " ".join(f"{k}={v}" for k, v in m["openblas_env"].items()) + ".")
    lines += [
        f"Each figure: the median over {results['rounds']} rounds of one process's median of "
        f"{results['steps']} repetitions (after {results['warmup']} warm-up); ratio = minigan / "
        "PyTorch (below 1: minigan is faster); range: the per-round paired ratios.",
        "",
        "| workload | threads | minigan ms | PyTorch ms | ratio | ratio range | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        lines.append(f"| {r['workload']}: {r['description']} | {r['threads']} | "
                     f"{r['minigan_ms']:.1f} | {r['torch_ms']:.1f} | **{r['ratio']:.2f}** | "
                     f"{r['paired_ratio_min']:.2f}-{r['paired_ratio_max']:.2f} | "
                     f"≤ {r['target']:g} | {'yes' if r['met'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, help="rounds of minigan/PyTorch process pairs "
                    "(default 5; --quick 2)")
    ap.add_argument("--steps", type=int, help="timed repetitions per process (default 15; "
                    "--quick 3)")
    ap.add_argument("--warmup", type=int, help="untimed repetitions first (default 3; --quick 1)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="thread counts (default 1 2)")
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS),
                    help="default: all")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds of 3 steps")
    ap.add_argument("--check", action="store_true", help="first run the Pix2Pix and "
                    "text-to-image same-network checks (their scripts' --worker check)")
    ap.add_argument("--json", metavar="PATH", help=f"write the results as JSON (e.g. {DEFAULT_JSON})")
    ap.add_argument("--markdown", metavar="PATH", help=f"write the table as Markdown (e.g. {DEFAULT_MD})")
    ap.add_argument("--worker", choices=("minigan", "torch"), help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker_main(args)
    if any(t < 1 for t in args.threads):
        ap.error(f"--threads: expected positive thread counts, got {args.threads}")

    rounds = args.rounds or (2 if args.quick else 5)
    steps = args.steps or (3 if args.quick else 15)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    machine = machine_info()
    machine["loadavg_start"] = loadavg()
    print(f"minigan vs PyTorch, each in its own process: {machine['cpu']} ({machine['cpus']} "
          f"CPUs; {' '.join(machine['simd_flags'])}), git {machine.get('git')}")
    print(f"{rounds} rounds x (minigan, PyTorch) processes alternated; {warmup} warm-up + "
          f"{steps} timed each; threads {args.threads}; load average "
          f"{machine['loadavg_start']}", flush=True)

    with tempfile.TemporaryDirectory(prefix="speed_table_") as tmp:
        configs = worker_configs(args.workloads, tmp)
        checks = {}
        if args.check:
            for name, (script, cfg) in configs.items():
                if script != __file__:
                    checks[name] = run_worker("check", cfg, 1, script=script)
                    print(f"check {name}: passed (the same network and step in both)", flush=True)
        keys = [(name, t) for name in args.workloads for t in args.threads]
        raw = {k: {"minigan": [], "torch": []} for k in keys}
        infos = {}
        t_start = time.perf_counter()
        for r in range(rounds):
            order = ("minigan", "torch") if r % 2 == 0 else ("torch", "minigan")
            for name, threads in keys:
                script, cfg = configs[name]
                for kind in order:
                    out = run_worker(kind, cfg, threads, steps, warmup, script=script)
                    raw[(name, threads)][kind].append(out["median_s"])
                    if script == __file__:
                        infos.setdefault(kind, out["info"])
            print(f"round {r + 1}/{rounds} done ({time.perf_counter() - t_start:.0f} s, load "
                  f"average {loadavg()})", flush=True)
    machine["loadavg_end"] = loadavg()
    if "minigan" not in infos:   # only pix2pix / text2image asked for: one small probe each
        for kind in ("minigan", "torch"):
            infos[kind] = run_worker(kind, {"workload": "conv", "name": "conv"}, args.threads[0],
                                     1, 0, script=__file__)["info"]

    rows = []
    for name, threads in keys:
        m, t = raw[(name, threads)]["minigan"], raw[(name, threads)]["torch"]
        paired = [a / b for a, b in zip(m, t)]
        ratio = statistics.median(m) / statistics.median(t)
        desc, target, _ = WORKLOADS[name]
        rows.append({"workload": name, "description": desc, "threads": threads,
                     "minigan_ms": 1e3 * statistics.median(m),
                     "torch_ms": 1e3 * statistics.median(t), "ratio": ratio,
                     "paired_ratio_min": min(paired), "paired_ratio_max": max(paired),
                     "target": target, "met": ratio <= target,
                     "minigan_round_ms": [1e3 * v for v in m],
                     "torch_round_ms": [1e3 * v for v in t]})
    results = {"machine": machine, "rounds": rounds, "steps": steps, "warmup": warmup,
               "threads": args.threads, "rows": rows, "minigan_info": infos["minigan"],
               "torch_info": infos["torch"], "checks": checks,
               "worker_configs": {k: {kk: vv for kk, vv in v[1].items() if kk != "batch_file"}
                                  for k, v in configs.items()}}
    table = markdown(results)
    print()
    print(table)
    for path, text in ((args.json, json.dumps(results, indent=1)), (args.markdown, table)):
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
