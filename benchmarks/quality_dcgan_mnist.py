#!/usr/bin/env python
"""DCGAN on real MNIST: the FID of `minigan train dcgan --data mnist`'s defaults, beside the
old defaults (DCGAN() as it is: width 64, latent 100, 3000 steps of batch 64) and the floor.

    python benchmarks/quality_dcgan_mnist.py --root ~/.cache/minigan        # preset + old, seeds 0 1
    python benchmarks/quality_dcgan_mnist.py --configs preset --seeds 0 --set width=32 steps=2000

Only the MNIST **test** file (10,000 images, canonical MD5) is needed: its images 0-4999 are
the training split (of the GAN and of the feature net), 5000-9999 the held-out split.
``--root`` is the cache folder that holds ``mnist/t10k-*`` (as :func:`minigan.data.load_mnist`
reads it; nothing is downloaded). The feature net is
:func:`minigan.evaluation.features.train_mnist_feature_net` on the training split, so it is
trained on the same images as the GAN and never sees the held-out ones, and is independent of
the GAN (another network, trained to classify). FID is the Fréchet distance of its features
of 5,000 samples to those of the 5,000 held-out images; the floor is the same for the 5,000
real training-split images (equal sample sizes). FID is also measured every ``--eval-every``
steps along the run (the curve in the JSON), with the same samples' seed.

Writes benchmarks/results/dcgan_mnist.json (every run) and dcgan_mnist.md (the table).
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from minigan.data import make_loader
from minigan.data.digits import ImageDataset
from minigan.data.mnist import load_mnist
from minigan.evaluation.features import load_classifier, train_mnist_feature_net
from minigan.evaluation.metrics import image_quality
from minigan.gans import get_model_class
from minigan.gans.base import SWITCHES
from minigan.presets import PRESETS
from minigan.train import fit

HERE = os.path.dirname(os.path.abspath(__file__))
OLD = dict(model=dict(data_shape=(1, 28, 28)), batch_size=64, steps=3000)   # DCGAN() defaults
N_SPLIT = 5000


def splits(root):
    test = load_mnist("test", root=root, download=False, quiet=True)
    x, y = np.asarray(test.images), np.asarray(test.labels)
    mk = lambda a, b, name: ImageDataset(x[a:b], y[a:b], name, test.classes)
    return mk(0, N_SPLIT, "mnist-t10k[:5000]"), mk(N_SPLIT, 2 * N_SPLIT, "mnist-t10k[5000:]")


def feature_net(train, held, cache):
    if cache and os.path.isfile(cache):
        return load_classifier(cache)
    clf = train_mnist_feature_net(train, test=held)
    if cache:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        clf.save(cache)
    return clf


def parse_set(items):
    out = {}
    for item in items or []:
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def settings_of(config, overrides):
    s = PRESETS["dcgan"]["mnist"] if config == "preset" else OLD
    model = dict(s["model"])
    batch, steps = s["batch_size"], s["steps"]
    for k, v in overrides.items():
        if k == "batch_size":
            batch = v
        elif k == "steps":
            steps = v
        else:
            model[k] = v
    return model, batch, steps


def run(config, seed, overrides, train, held, clf, eval_every):
    model_kw, batch, steps = settings_of(config, overrides)
    model = get_model_class("dcgan")(**model_kw, seed=seed)
    loader = make_loader(train, batch, seed)
    curve, latest = [], {}                    # latest: the last measurement, whole

    def measure(m):
        q = image_quality(m.sample(N_SPLIT, seed=seed + 12345), train.images, held.images, clf)
        curve.append({"step": m.step, "fid": q["fid"]})
        latest.update(q)
        print(f"  step {m.step}: FID {q['fid']:.2f} (floor {q['fid_floor']:.2f})", flush=True)

    t0 = time.perf_counter()
    train_s = [0.0]
    last = [t0]

    def on_sample(m, step):
        train_s[0] += time.perf_counter() - last[0]
        measure(m)
        last[0] = time.perf_counter()

    fit(model, loader.batch_at, steps, None, progress=False, on_sample=on_sample,
        sample_every=eval_every or steps + 1)
    train_s[0] += time.perf_counter() - last[0]
    if not curve or curve[-1]["step"] != steps:      # the final model, measured once
        measure(model)
    q = latest
    return {"config": config, "seed": seed, "overrides": overrides, "model": model.config,
            "batch_size": batch, "steps": steps, "train_seconds": round(train_s[0], 1),
            "fid": q["fid"], "fid_floor": q["fid_floor"], "ratio": q["fid"] / q["fid_floor"],
            "precision": q["precision"], "recall": q["recall"],
            "floor_precision": q["floor_precision"], "floor_recall": q["floor_recall"],
            "curve": curve}


def table(results, acc):
    lines = ["| settings | seed | steps × batch | train time | FID | floor | FID / floor | precision | recall |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        m = r["model"]
        what = (f"{r['config']}: width {m['width']}, latent {m['latent_dim']}, lr "
                f"{m['lr_g']:g}/{m['lr_d']:g}"
                + "".join(f", {k} {v}" for k, v in m.items() if k not in
                          ("data_shape", "width", "latent_dim", "lr_g", "lr_d", "n_layers", "loss",
                           "d_steps", "betas", "seed", "dtype")
                          and not (k in SWITCHES and v == SWITCHES[k][0])))   # switches that are on
        lines.append(f"| {what} | {r['seed']} | {r['steps']} × {r['batch_size']} | "
                     f"{r['train_seconds']:.0f} s | {r['fid']:.2f} | {r['fid_floor']:.2f} | "
                     f"{r['ratio']:.2f} | {r['precision']:.2f} | {r['recall']:.2f} |")
    return ("# DCGAN on real MNIST (benchmarks/quality_dcgan_mnist.py)\n\n"
            "GAN and feature net trained on MNIST t10k images 0-4999; FID of 5,000 samples "
            "against the held-out images 5000-9999; floor: the 5,000 training-split images "
            f"against the same. Feature net accuracy on the held-out split: {acc:.4f}. "
            "Train time on 2 shared CPU cores, one BLAS thread.\n\n" + "\n".join(lines) + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=os.environ.get("MINIGAN_DATA"),
                   help="cache folder holding mnist/t10k-*-ubyte.gz")
    p.add_argument("--configs", nargs="+", default=["preset", "old"], choices=["preset", "old"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE",
                   help="override a setting (model keys, steps, batch_size); JSON values")
    p.add_argument("--eval-every", type=int, default=0, help="also measure FID every N steps")
    p.add_argument("--feature-cache", default=os.path.join(HERE, "..", ".cache", "mnist_t10k_featnet.npz"))
    p.add_argument("--json", default=os.path.join(HERE, "results", "dcgan_mnist.json"))
    p.add_argument("--md", default=os.path.join(HERE, "results", "dcgan_mnist.md"))
    p.add_argument("--append", action="store_true", help="add to the runs already in --json")
    args = p.parse_args(argv)
    train, held = splits(args.root)
    clf = feature_net(train, held, args.feature_cache)
    acc = clf.accuracy(held)
    print(f"feature net: accuracy {acc:.4f} on the held-out split", flush=True)
    results = []
    if args.append and os.path.isfile(args.json):
        with open(args.json) as f:
            results = json.load(f)["runs"]
    overrides = parse_set(args.set)
    for config in args.configs:
        for seed in args.seeds:
            print(f"{config} seed {seed} {overrides}", flush=True)
            r = run(config, seed, overrides, train, held, clf, args.eval_every)
            print(f"{config} seed {seed}: FID {r['fid']:.2f} floor {r['fid_floor']:.2f} ratio "
                  f"{r['ratio']:.2f} in {r['train_seconds']:.0f} s", flush=True)
            results.append(r)
            with open(args.json, "w") as f:
                json.dump({"feature_net_accuracy": acc, "runs": results}, f, indent=1)
            with open(args.md, "w") as f:
                f.write(table(results, acc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
