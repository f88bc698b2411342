#!/usr/bin/env python
"""Calibrate the training-quality tests' bars on many seeds.

    python scripts/calibrate_quality.py                 # every run, seeds 0-19, 2 processes
    python scripts/calibrate_quality.py gan_ring --seeds 40

A seeded GAN run is chaotic (see ``tests/quality_runs.py``): the seed stands in for the
perturbations that another machine's rounding makes. For each run and criterion this prints the
bar, the median over the seeds, the worst seed, and the share of seeds that clear the bar; a bar
worth keeping is cleared by (nearly) every seed, so that the median of the tests' three seeds
clears it whatever the CPU rounds. Results also go to ``build/calibration.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _one(args):
    name, seed = args
    import quality_runs
    r = quality_runs.RUNS[name](seed)
    return name, seed, {k: (list(v) if k != "moved" else v) for k, v in r.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", help="names from tests/quality_runs.RUNS (default: all)")
    ap.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 (default 20)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    import quality_runs
    names = args.runs or list(quality_runs.RUNS)
    unknown = set(names) - set(quality_runs.RUNS)
    if unknown:
        ap.error(f"unknown runs {sorted(unknown)}; expected some of {sorted(quality_runs.RUNS)}")
    jobs = [(n, s) for n in names for s in range(args.seeds)]
    results = {}
    with ProcessPoolExecutor(args.workers) as pool:
        for name, seed, r in pool.map(_one, jobs):
            results.setdefault(name, {})[seed] = r
    worst_share = 1.0
    for name in names:
        rows = results[name]
        print(f"\n{name}  ({args.seeds} seeds; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}, "
              f"MINIGAN_KERNELS={os.environ.get('MINIGAN_KERNELS', '-')})")
        unmoved = sorted({p for r in rows.values() for p in r["moved"]})
        if unmoved:
            print(f"  parameters that did not move in some seed: {unmoved}")
        for key in rows[0]:
            if key == "moved":
                continue
            vals = [rows[s][key][0] for s in sorted(rows)]
            bar, direction = rows[0][key][1], rows[0][key][2]
            ok = [quality_runs.clears(v, bar, direction) for v in vals]
            worst = min(vals) if direction == ">" else max(vals)
            share = sum(ok) / len(ok)
            worst_share = min(worst_share, share)
            vals_sorted = sorted(vals)
            print(f"  {key:18s} bar {direction} {bar:<8.4g} median {vals_sorted[len(vals)//2]:<8.4g} "
                  f"worst {worst:<8.4g} cleared by {sum(ok)}/{len(ok)}"
                  + ("" if all(ok) else f"  failing seeds {[s for s, o in zip(sorted(rows), ok) if not o]}"))
    out = ROOT / "build" / "calibration.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=float))
    print(f"\nworst share of seeds clearing a bar: {worst_share:.2f}  (written: {out.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
