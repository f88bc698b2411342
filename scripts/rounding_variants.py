#!/usr/bin/env python
"""Run the training-quality tests and the notebooks' asserted cells under several roundings.

    python scripts/rounding_variants.py              # quality tests + notebooks 02, 04 (CI's step)
    python scripts/rounding_variants.py --notebooks  # quality tests + every notebook (minutes)
    python scripts/rounding_variants.py --notebooks --all-tests   # the whole suite per variant

A seeded GAN run is chaotic: the last bit of one product decides where it goes, and that bit
depends on the CPU (which OpenBLAS kernel runs the products) and on minigan's own kernels (numba
or the NumPy references). A test that passes on one machine and fails on another, with no change
of code, blocks everything; so the quality tests hold the median of several seeds to bars
calibrated over many seeds (``tests/quality_runs.py``). This script is the proof: it runs them in
a fresh process per variant

- ``default``: OpenBLAS picks its kernel for this CPU (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset);
- ``Haswell``, ``Sandybridge``, ``Prescott``: OpenBLAS forced to that kernel (other SIMD widths,
  other summation orders);
- ``numpy-kernels``: ``MINIGAN_KERNELS=numpy``, the NumPy references instead of numba's kernels;

prints which BLAS kernel each variant really ran (threadpoolctl), and exits non-zero if any
variant fails.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "default": {"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None},
    "Haswell": {"OPENBLAS_CORETYPE": "Haswell"},
    "Sandybridge": {"OPENBLAS_CORETYPE": "Sandybridge"},
    "Prescott": {"OPENBLAS_CORETYPE": "Prescott"},
    "numpy-kernels": {"MINIGAN_KERNELS": "numpy"},
}
# the notebooks whose assertions rest on a training run and that take seconds, not minutes
CHEAP_NOTEBOOKS = ["notebooks/02_optimisers_and_training.ipynb", "notebooks/04_convolutions.ipynb"]
PROBE = ("import numpy, threadpoolctl; "
         "print(','.join(sorted({i.get('architecture') or '?' for i in threadpoolctl.threadpool_info() "
         "if i['user_api'] == 'blas'})))")


def environment(changes):
    env = dict(os.environ)
    for k, v in changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notebooks", action="store_true", help="run every notebook, not only 02 and 04")
    ap.add_argument("--all-tests", action="store_true",
                    help="every test, not only the quality tests (-m quality)")
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--except-current", action="store_true",
                    help="leave out the variant this environment already is (CI: `make test` just ran it)")
    ap.add_argument("--workers", default="2", help="pytest-xdist workers (default 2)")
    args = ap.parse_args(argv)

    if args.except_current:
        current = ("numpy-kernels" if os.environ.get("MINIGAN_KERNELS", "").lower() == "numpy"
                   else os.environ.get("OPENBLAS_CORETYPE") or "default")
        args.variants = [v for v in args.variants if v.lower() != current.lower()]
    targets = ["tests"] if args.all_tests else ["tests", "-m", "quality"]
    notebooks = ["notebooks"] if args.notebooks else CHEAP_NOTEBOOKS
    rows, failed = [], []
    for name in args.variants:
        env = environment(VARIANTS[name])
        blas = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                              text=True).stdout.strip() or "?"
        t0 = time.perf_counter()
        runs = [targets, notebooks]
        rcs = []
        for sel in runs:
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", args.workers,
                   "--dist", "loadscope", "--no-loadscope-reorder", *sel]
            print(f"\n=== {name} (BLAS kernel: {blas}): {' '.join(sel)}", flush=True)
            rcs.append(subprocess.run(cmd, cwd=ROOT, env=env).returncode)
        ok = all(rc == 0 for rc in rcs)
        rows.append((name, blas, ok, time.perf_counter() - t0))
        if not ok:
            failed.append(name)

    print("\nvariant         BLAS kernel    result   time")
    for name, blas, ok, dt in rows:
        print(f"{name:15s} {blas:14s} {'passed' if ok else 'FAILED':8s} {dt:5.0f} s")
    if failed:
        print(f"FAILED under: {', '.join(failed)}")
        return 1
    print(f"all {len(rows)} variants passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
