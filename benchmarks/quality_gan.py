#!/usr/bin/env python
"""How good is the first GAN? The numbers behind README's table, over several seeds.

    python benchmarks/quality_gan.py                    # ring8, grid25, digits; seeds 0-4
    python benchmarks/quality_gan.py --model dcgan      # DCGAN on the digits
    python benchmarks/quality_gan.py --model cgan       # conditional: + conditional accuracy
    python benchmarks/quality_gan.py --data ring8 --seeds 3 --steps 3000 --json out.json

Each run is exactly ``minigan train MODEL --data DATA --steps STEPS --seed S`` (the same
presets, batches and evaluation), so any row can be reproduced from the command line.
Prints one line per run and a mean ± std summary per dataset.
"""
import argparse
import json
import sys
import time

import numpy as np

from minigan.presets import preset
from minigan.gans import get_model_class
from minigan.tasks import make_task
from minigan.train import fit

KEYS = {
    "ring8": ["modes_covered", "high_quality", "reverse_kl"],
    "grid25": ["modes_covered", "high_quality", "reverse_kl"],
    "digits": ["fid", "fid_floor", "precision", "recall", "confidence", "real_confidence",
               "classes_covered"],
}


def run(model_name, data, seed, steps):
    settings = preset(model_name, data)
    model = get_model_class(model_name)(**settings["model"], seed=seed)
    task = make_task(data, batch_size=settings["batch_size"], seed=seed,
                     conditional=hasattr(model, "n_classes"))
    t0 = time.perf_counter()
    history = fit(model, task.batch, steps, None,
                  evaluate=task.evaluate, progress=False)
    m = history["metrics"]
    m["seconds"] = time.perf_counter() - t0
    return m


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="gan", choices=["gan", "dcgan", "cgan", "cdcgan", "wgan", "wgan-gp"])
    p.add_argument("--data", nargs="+", choices=list(KEYS),
                   help="default: ring8 grid25 digits for gan, digits for dcgan")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    p.add_argument("--steps", type=int, help="default: the CLI's default for each dataset")
    p.add_argument("--json", help="write all runs here")
    args = p.parse_args(argv)
    args.data = args.data or {"gan": ["ring8", "grid25", "digits"], "wgan": ["ring8", "grid25"],
                              "wgan-gp": ["ring8", "grid25"]}.get(args.model, ["digits"])
    if args.model in ("cgan", "cdcgan"):
        KEYS["digits"] = KEYS["digits"] + ["conditional_accuracy", "real_accuracy"]
    results = {}
    if "digits" in args.data:
        from minigan.data import load_digits
        from minigan.evaluation.features import digits_feature_net
        from minigan.evaluation.metrics import digits_classifier
        test = load_digits(split="test")
        acc_cnn = digits_feature_net().accuracy(test)
        acc_sk = float((digits_classifier().predict(test.flat.astype(np.float64)) == test.labels).mean())
        print(f"digits judges on the real test split: FID feature CNN accuracy {acc_cnn:.3f}, "
              f"scikit-learn logistic regression accuracy {acc_sk:.3f}", flush=True)
    for data in args.data:
        steps = args.steps or preset(args.model, data)["steps"]
        rows = []
        for seed in range(args.seeds):
            m = run(args.model, data, seed, steps)
            rows.append(m)
            print(f"{args.model} {data:7s} seed {seed} steps {steps}: "
                  + ", ".join(f"{k} {m[k]:.3f}" for k in KEYS[data]) + f", {m['seconds']:.0f} s",
                  flush=True)
        summary = {k: (float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows])))
                   for k in KEYS[data] + ["seconds"]}
        print(f"{args.model} {data:7s} mean ± std over {args.seeds} seeds: "
              + ", ".join(f"{k} {mu:.3f} ± {sd:.3f}" for k, (mu, sd) in summary.items()), flush=True)
        results[data] = {"steps": steps, "runs": rows, "summary": summary}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
