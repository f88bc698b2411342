"""Text-to-image on the captioned shapes: GAN, GAN-CLS, GAN-INT, GAN-INT-CLS, and with word
attention and the sentence matching loss, over seeds (chapter 12's table).

Each run trains a :class:`minigan.gans.text2image.Text2Image` from the preset (``minigan train
text2image``'s settings) with one variant's switches, for the same number of steps, and measures
it with :func:`minigan.evaluation.text2image.evaluate_text2image`:

- attribute accuracy read by the judge (CNNs trained on real renders only), per attribute and
  all four right, on 512 captions of seen colour–shape pairs and 512 of held-out pairs;
- R-precision (the true caption among 99 of other descriptions) ranked by an encoder pair
  trained APART (seed 1000), not by the encoders the generator was trained with;
- the diversity within a caption (mean pixel distance of 8 pictures per caption, 32 captions),
  against real renders';
- FID on the judge's features, against 512 real test pictures.

Real renders give each measure's ceiling (the ``real`` row). Results: stdout, and
``benchmarks/results/text2image.json`` (every run) and ``text2image.md`` (the table: mean ± std
over seeds).

    python benchmarks/quality_text2image.py                       # every row, seeds 0 1 2
    python benchmarks/quality_text2image.py --rows gan-int-cls --seeds 0 --steps 1000
    python benchmarks/quality_text2image.py --jobs 2              # two runs at a time

About 4 to 5 minutes a run on one core (``--jobs 2`` on a 2-core machine: half the wall time;
the whole table, 18 runs, about 45 minutes).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

# row -> the switches (the rest is the preset's); the preset itself is "gan-int-cls+matching"
ROWS = {
    "gan": dict(matching=False, interpolate=False, matching_weight=0.0),
    "gan-cls": dict(matching=True, interpolate=False, matching_weight=0.0),
    "gan-int": dict(matching=False, interpolate=True, matching_weight=0.0),
    "gan-int-cls": dict(matching=True, interpolate=True, matching_weight=0.0),
    "gan-int-cls+matching": dict(matching=True, interpolate=True, matching_weight=3.0),
    "gan-int-cls+matching+attention": dict(matching=True, interpolate=True, matching_weight=3.0,
                                           attention=True),
    # DAMSM's word half beside its sentence half (the encoders pretrained with both)
    "gan-int-cls+matching+words": dict(matching=True, interpolate=True, matching_weight=3.0,
                                       word_matching_weight=1.0),
}
EVAL_ENCODER_SEED = 1000
RESULTS = os.path.join(HERE, "results")
# Published R-precision of AttnGAN (Xu et al. 2018, Table 1), for the table's last column.
PUBLISHED = {"AttnGAN, CUB birds": 67.82, "AttnGAN, COCO": 85.47}


def eval_encoders(steps):
    """A text and an image encoder trained apart (seed EVAL_ENCODER_SEED) by the joint
    embedding: the rankers of R-precision."""
    from minigan.data.captions import MAX_WORDS, VOCAB, load_captioned_shapes
    from minigan.gans.text2image import ImageEncoder, TextEncoder, train_encoders
    from minigan import backend
    rng = backend.default_rng(EVAL_ENCODER_SEED)
    text, image = TextEncoder(len(VOCAB), MAX_WORDS, rng=rng), ImageEncoder((3, 16, 16), rng=rng)
    stream = load_captioned_shapes("train").batches(64, seed=EVAL_ENCODER_SEED)
    train_encoders(text, image, stream.batch_at, steps, lr=2e-3)
    return text, image


def run(row, seed, steps, encoders_file):
    """Train one variant for ``steps`` steps (the preset's share of encoder steps) and measure
    it, R-precision ranked by the encoders in ``encoders_file``. Returns the measures, the row,
    the seed and the seconds."""
    from minigan import backend
    from minigan.data.captions import load_captioned_shapes
    from minigan.evaluation.text2image import evaluate_text2image, shapes_judge
    from minigan.gans.text2image import Text2Image
    from minigan.presets import plan_phases, preset
    settings = preset("text2image", "shapes")
    config = dict(plan_phases(settings, steps), **ROWS[row])
    model = Text2Image(**config, seed=seed)
    stream = load_captioned_shapes("train").batches(settings["batch_size"], seed=seed)
    t0 = time.perf_counter()
    with backend.blas_threads(1):
        for step in range(steps):
            model.train_step(stream.batch_at(step))
        seconds = time.perf_counter() - t0
        out = evaluate_text2image(model, shapes_judge(), encoders=load_encoders(encoders_file),
                                  seed=seed)
    return dict(out, row=row, seed=seed, steps=steps, train_seconds=round(seconds, 1))


def save_encoders(encoders, path):
    text, image = encoders
    np.savez(path, **{f"text.{k}": v for k, v in text.state_dict().items()},
             **{f"image.{k}": v for k, v in image.state_dict().items()})


def load_encoders(path):
    from minigan.data.captions import MAX_WORDS, VOCAB
    from minigan.gans.text2image import ImageEncoder, TextEncoder
    text, image = TextEncoder(len(VOCAB), MAX_WORDS), ImageEncoder((3, 16, 16))
    with np.load(path) as f:
        text.load_state_dict({k[5:]: f[k] for k in f.files if k.startswith("text.")})
        image.load_state_dict({k[6:]: f[k] for k in f.files if k.startswith("image.")})
    return text, image


def table(results, steps):
    """The markdown table: mean ± std over seeds per row."""
    cols = [("seen_all", "all right, seen", 100), ("heldout_all", "all right, held out", 100),
            ("seen_shape", "shape, seen", 100), ("seen_colour", "colour, seen", 100),
            ("seen_size", "size, seen", 100), ("seen_position", "position, seen", 100),
            ("seen_r_precision", "R-prec., seen", 100),
            ("heldout_r_precision", "R-prec., held out", 100),
            ("diversity", "diversity", 1), ("fid", "FID (judge)", 1)]
    lines = [f"Text-to-image on the captioned shapes, {steps} steps per run "
             f"(`benchmarks/quality_text2image.py`); mean ± std over seeds "
             f"{sorted({r['seed'] for r in results})}. Percentages but diversity and FID.", "",
             "| row | " + " | ".join(c[1] for c in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for row in ROWS:
        rs = [r for r in results if r["row"] == row]
        if not rs:
            continue
        cells = []
        for key, _, scale in cols:
            v = np.array([r[key] for r in rs]) * scale
            cells.append(f"{v.mean():.1f} ± {v.std():.1f}" if len(v) > 1 else f"{v.mean():.1f}")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    real = {k: np.mean([r[f"real_{k}"] for r in results]) for k in
            ("seen_all", "heldout_all", "seen_r_precision", "heldout_r_precision", "diversity")}
    lines.append(f"| real renders | {100 * real['seen_all']:.1f} | {100 * real['heldout_all']:.1f}"
                 f" | | | | | {100 * real['seen_r_precision']:.1f} | "
                 f"{100 * real['heldout_r_precision']:.1f} | {real['diversity']:.1f} | |")
    lines += ["", "Published R-precision (a different world: real photographs and captions, "
              "R = 1 among 100): " + ", ".join(f"{k} {v} %" for k, v in PUBLISHED.items()) + "."]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=None, help="steps per run (default: the preset's)")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time (one core each)")
    p.add_argument("--check", action="store_true",
                   help="a smoke run: 2 rows, 1 seed, 40 steps (tests that the script works)")
    p.add_argument("--out", default=os.path.join(RESULTS, "text2image"),
                   help="results prefix: PREFIX.json and PREFIX.md")
    p.add_argument("--add", action="store_true",
                   help="keep PREFIX.json's runs of other rows and seeds (run some rows again, "
                        "or new ones), and write the table of all of them")
    args = p.parse_args(argv)
    from minigan.evaluation.text2image import shapes_judge
    from minigan.presets import preset
    if args.check:
        args.rows, args.seeds, args.steps = ["gan", "gan-int-cls+matching"], [0], 40
    steps = args.steps or preset("text2image", "shapes")["steps"]
    import tempfile
    shapes_judge()                        # trained (or read from the cache) once, before forking
    settings = preset("text2image", "shapes")
    encoders_file = os.path.join(tempfile.mkdtemp(), "eval_encoders.npz")
    encoders = eval_encoders(settings["model"]["encoder_steps"])
    save_encoders(encoders, encoders_file)
    from minigan.data.captions import load_captioned_shapes
    from minigan.gans.text2image import retrieval_accuracy
    test = load_captioned_shapes("test")
    images, tokens, _, attrs = test.batches(len(test), seed=1).batch_at(0)
    print("the ranking encoders (seed 1000): retrieval caption -> picture %.3f, picture -> "
          "caption %.3f on the 512 test pictures" % retrieval_accuracy(*encoders, images, tokens,
                                                                       attrs), flush=True)
    jobs = [(row, seed) for seed in args.seeds for row in args.rows]
    results = []
    import multiprocessing       # spawn: the parent's OpenMP (numba) must not be forked
    with ProcessPoolExecutor(max_workers=args.jobs,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run, row, seed, steps, encoders_file) for row, seed in jobs]
        for f in futures:
            r = f.result()
            results.append(r)
            print(f"{r['row']:32s} seed {r['seed']}: all right seen {r['seen_all']:.3f} held out "
                  f"{r['heldout_all']:.3f}, R-prec. {r['seen_r_precision']:.3f}, diversity "
                  f"{r['diversity']:.2f} (real {r['real_diversity']:.2f}), FID {r['fid']:.1f}, "
                  f"{r['train_seconds']} s", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    if args.add and os.path.exists(args.out + ".json"):
        with open(args.out + ".json") as f:
            old = json.load(f)
        if old["steps"] != steps:
            raise SystemExit(f"--add: {args.out}.json holds runs of {old['steps']} steps, not {steps}")
        done = {(r["row"], r["seed"]) for r in results}
        results = [r for r in old["runs"] if (r["row"], r["seed"]) not in done] + results
        results.sort(key=lambda r: (r["seed"], list(ROWS).index(r["row"])))
    with open(args.out + ".json", "w") as f:
        json.dump({"steps": steps, "runs": results}, f, indent=1)
    md = table(results, steps)
    with open(args.out + ".md", "w") as f:
        f.write(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
