#!/usr/bin/env python
"""RGAN and RCGAN (Esteban et al. 2017) on sine waves: how close are the generated frequencies
and amplitudes to the data's?

    python benchmarks/quality_rcgan.py             # 3 seeds x (RGAN, RCGAN), ~4-7 min, one core
    python benchmarks/quality_rcgan.py --quick     # 1 seed, 800 steps (~35 s)
    python benchmarks/quality_rcgan.py --seeds 5 --steps 4000 --json out.json

Set OPENBLAS_NUM_THREADS=1 (the script also limits BLAS to one thread).

Data: 5,000 training sequences x_t = A sin(2π f t / 30 + φ), t = 1..30, f ~ U[1, 5] cycles per
sequence, A ~ U[0.1, 0.9], φ ~ U[−π, π] (minigan.data.sines). Every sequence, real or
generated, is fitted by least squares with A sin(2π f t / 30 + φ) (a grid search over f,
refined to 1e-6); reported for 1,000 samples of each generator against the fits of 1,000
training sequences:

- w1_freq, w1_amp: 1-D Wasserstein distances between the fitted frequencies (cycles per
  sequence; the data's range is 4 wide) and between the amplitudes (range 0.8 wide);
- rel_resid: mean over samples of RMS(sample − its best sine) / RMS(sample): the share of a
  sample that no sine of the family explains (0 for the data, about 1 for noise);
- freq_err (RCGAN only): mean |f asked − f fitted|, G asked for the frequencies of 1,000
  held-out sequences (for the rows "at init" and "trained"; for the floor row it is the
  estimator's own error on real data).

Rows: "real vs real", 1,000 fresh sequences (another seed) against the training fits: the
floor that sampling noise alone gives; "G at init": the untrained generator; "G trained":
after --steps steps of train_step (minigan.train.fit). Each seed re-draws the initialisation,
the batches and the noise; the data are fixed. Mean ± std over seeds.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from minigan.data.sines import SineDataset, fit_sines, sine_report  # noqa: E402
from minigan.gans.rcgan import RCGAN  # noqa: E402
from minigan.train import fit  # noqa: E402

METRICS = ("w1_freq", "w1_amp", "rel_resid", "freq_err")


def evaluate(model, real_fit, held_out, n_eval):
    """sine_report of n_eval samples; a conditional G is asked for the held-out frequencies."""
    if model.conditional:
        asked = held_out.freq[:n_eval]
        x = model.sample(n_eval, seed=12345, cond=asked)
        return sine_report(x, None, freq_asked=asked, real_fit=real_fit)
    return sine_report(model.sample(n_eval, seed=12345), None, real_fit=real_fit)


def run(args, conditional, seed, data, real_fit, held_out):
    model = RCGAN(hidden=args.hidden, latent_dim=args.latent_dim, conditional=conditional,
                  lr_g=args.lr_g, lr_d=args.lr_d, seed=seed)
    loader = data.loader(args.batch, seed=seed, with_freq=conditional)
    init = evaluate(model, real_fit, held_out, args.n_eval)
    t0 = time.perf_counter()
    fit(model, loader.batch_at, args.steps, progress=False)
    seconds = time.perf_counter() - t0
    trained = evaluate(model, real_fit, held_out, args.n_eval)
    return init, trained, seconds


def fmt(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1 seed, 800 steps")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--latent-dim", type=int, default=5)
    p.add_argument("--lr-g", type=float, default=1e-3)
    p.add_argument("--lr-d", type=float, default=4e-3)
    p.add_argument("--n-train", type=int, default=5000)
    p.add_argument("--n-eval", type=int, default=1000)
    p.add_argument("--models", default="rgan,rcgan", help="comma-separated: rgan, rcgan")
    p.add_argument("--json", help="write the per-seed results here")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.steps = 1, 800

    from minigan.backend import blas_threads
    data = SineDataset(args.n_train, seed=0)
    held_out = SineDataset(args.n_eval, seed=1)
    real_fit = fit_sines(data.sequences[:args.n_eval])
    floor = sine_report(held_out.sequences, None, freq_asked=held_out.freq, real_fit=real_fit)
    print(f"sines: {args.n_train} training sequences of 30 steps; {args.n_eval} samples per "
          f"evaluation; {args.steps} steps, batch {args.batch}, hidden {args.hidden}, "
          f"Z = {args.latent_dim}, Adam lr G {args.lr_g} / D {args.lr_d}; "
          f"{args.seeds} seed(s)\n")
    results = {"floor": floor, "runs": []}
    with blas_threads(1):
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            if name not in ("rgan", "rcgan"):
                p.error(f"unknown model {name!r}: expected rgan or rcgan")
            for seed in range(args.seeds):
                init, trained, sec = run(args, name == "rcgan", seed, data, real_fit, held_out)
                results["runs"].append({"model": name, "seed": seed, "init": init,
                                        "trained": trained, "seconds": sec})
                print(f"{name:5s} seed {seed}: " + "  ".join(
                    f"{k} {trained[k]:.3f}" for k in METRICS if k in trained)
                      + f"   ({sec:.0f} s)", flush=True)

    print(f"\n| model | generator | {' | '.join(METRICS)} |")
    print("|---|---|" + "---|" * len(METRICS))
    for name in ("rgan", "rcgan"):
        runs = [r for r in results["runs"] if r["model"] == name]
        if not runs:
            continue
        cond = name == "rcgan"
        print(f"| {name} | real vs real | " + " | ".join(
            f"{floor[k]:.3f}" if (k != "freq_err" or cond) else "-" for k in METRICS) + " |")
        for row in ("init", "trained"):
            label = {"init": "G at init", "trained": f"G trained ({args.steps} steps)"}[row]
            print(f"| {name} | {label} | " + " | ".join(
                fmt([r[row].get(k) for r in runs]) for k in METRICS) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), **results}, f, indent=1)


if __name__ == "__main__":
    main()
