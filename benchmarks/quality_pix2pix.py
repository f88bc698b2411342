#!/usr/bin/env python
"""Pix2Pix on the street scenes (labels -> photo, 32×32): the paper's Table 1 (the objective)
and Table 2 (the discriminator's receptive field) at this scale, and U-Net against the
encoder-decoder without skips.

    python benchmarks/quality_pix2pix.py --json benchmarks/results/pix2pix_tables.json
    python benchmarks/quality_pix2pix.py --quick            # 1 seed, a tenth of the steps
    python benchmarks/quality_pix2pix.py --merge a.json b.json --json all.json

Each row trains Pix2Pix from seeds 0, 1, 2 on the 2,000 training pairs (batch 16, Adam 2e-4,
β₁ 0.5, λ = 100 where the objective has L1) and scores its translations of the 200 test label
maps with :func:`minigan.evaluation.translation.translation_report`: per-pixel L1 and PSNR to
the true photo, SSIM, the FCN-score of a segmenter trained by minigan on real renders (it
reads texture: a flat render scores near 0), the colour-histogram intersection with the real
photos (Lab) and FID on the segmenter's features. The reference rows (the ground truth, another
render of the same maps, the conditional mean and median, photos of the wrong maps) come from
:func:`~minigan.evaluation.translation.reference_rows`. Prints a line per run, then Markdown
tables of means ± standard deviations over the seeds, the paper's numbers beside Table 1.
"""
import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")    # one process per core, one thread each

import numpy as np

STEPS, BATCH, SEEDS = 4000, 16, (0, 1, 2)
# name -> (label, Pix2Pix settings beside the preset's); the preset: U-Net depth 4 width 16,
# PatchGAN d_layers 2 (receptive field 34: the whole 32×32 image), objective L1 + cGAN
ROWS = {
    "l1": ("L1", dict(objective="l1")),
    "gan": ("GAN", dict(objective="gan")),
    "cgan": ("cGAN", dict(objective="cgan")),
    "l1+gan": ("L1 + GAN", dict(objective="l1+gan")),
    "l1+cgan": ("L1 + cGAN", dict(objective="l1+cgan")),
    "pixelgan": ("L1 + cGAN, 1×1 PixelGAN", dict(d_layers=0)),
    "patch16": ("L1 + cGAN, 16×16 PatchGAN", dict(d_layers=1)),
    "encoder-decoder": ("L1 + cGAN, encoder-decoder (no skips)", dict(generator="encoder-decoder")),
}
TABLES = {
    "Table 1: the objective (U-Net, the whole-image PatchGAN)": ["l1", "gan", "cgan", "l1+gan", "l1+cgan"],
    "Table 2: the discriminator's receptive field (L1 + cGAN)": ["pixelgan", "patch16", "l1+cgan"],
    "U-Net against encoder-decoder (L1 + cGAN)": ["encoder-decoder", "l1+cgan"],
}
# The paper's Table 1 (Cityscapes labels -> photo): FCN per-pixel acc. / per-class acc. / IoU
PUBLISHED = {"l1": "0.42 / 0.15 / 0.11", "gan": "0.22 / 0.05 / 0.01", "cgan": "0.57 / 0.22 / 0.16",
             "l1+gan": "0.64 / 0.20 / 0.15", "l1+cgan": "0.66 / 0.23 / 0.17",
             "ground truth": "0.80 / 0.26 / 0.21"}
COLUMNS = [("l1", "L1", "{:.3f}"), ("psnr", "PSNR", "{:.1f}"), ("ssim", "SSIM", "{:.3f}"),
           ("fcn_pixel_accuracy", "FCN per-pixel", "{:.3f}"),
           ("fcn_class_accuracy", "FCN per-class", "{:.3f}"), ("fcn_class_iou", "FCN IoU", "{:.3f}"),
           ("hist_mean", "hist. ∩ (Lab)", "{:.3f}"), ("fid", "FID (seg.)", "{:.3f}")]


def run(job):
    """One training run: (row, seed, steps) -> its report."""
    row, seed, steps = job
    from minigan.backend import blas_threads
    from minigan.data.scenes import load_scenes
    from minigan.evaluation.translation import translation_report
    from minigan.gans import Pix2Pix
    from minigan.presets import preset
    from minigan.train import fit
    train, test = load_scenes("train"), load_scenes("test")
    model = Pix2Pix(**dict(preset("pix2pix", "scenes")["model"], **ROWS[row][1]), seed=seed)
    t0 = time.perf_counter()
    with blas_threads(1):
        fit(model, train.loader(BATCH, seed=seed).batch_at, steps, progress=False)
    seconds = time.perf_counter() - t0
    out = model.translate(test.inputs, seed=seed + 12345)
    report = translation_report(out, np.asarray(test.targets), np.asarray(test.labels))
    return dict(row=row, seed=seed, steps=steps, seconds=seconds,
                **{k: float(v) for k, v in report.items() if np.isscalar(v)})


def summarise(runs):
    out = {}
    for row in ROWS:
        rs = [r for r in runs if r["row"] == row]
        if rs:
            out[row] = {k: (float(np.mean([r[k] for r in rs])), float(np.std([r[k] for r in rs])))
                        for k, _, _ in COLUMNS if all(k in r for r in rs)}
            out[row]["seeds"] = len(rs)
            out[row]["steps"] = sorted({r["steps"] for r in rs})
    return out


def markdown(summary, references):
    lines = []
    for title, rows in TABLES.items():
        present = [r for r in rows if r in summary]
        if not present:
            continue
        lines += [f"**{title}**", "",
                  "| row | runs | " + " | ".join(c for _, c, _ in COLUMNS) + " | paper (Cityscapes) FCN |",
                  "|---" * (len(COLUMNS) + 3) + "|"]
        for row in present:
            s = summary[row]
            cells = [(fmt.format(s[k][0]) + " ± " + fmt.format(s[k][1])) if k in s else "–"
                     for k, _, fmt in COLUMNS]
            lines.append(f"| {ROWS[row][0]} | {s['seeds']} × {'/'.join(map(str, s['steps']))} steps | "
                         + " | ".join(cells) + f" | {PUBLISHED.get(row, '–') if 'Table 1' in title else '–'} |")
        lines.append("")
    if references:
        lines += ["**Reference rows** (no training: the test set itself and what a perfect "
                  "regressor outputs)", "",
                  "| row | " + " | ".join(c for _, c, _ in COLUMNS) + " | paper FCN |",
                  "|---" * (len(COLUMNS) + 2) + "|"]
        for name, rep in references.items():
            cells = [fmt.format(rep[k]) if k in rep else "–" for k, _, fmt in COLUMNS]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {PUBLISHED.get(name, '–')} |")
    return "\n".join(lines)


def reference_table():
    from minigan.data.scenes import load_scenes
    from minigan.evaluation.translation import reference_rows
    rows = reference_rows(load_scenes("test"))
    return {name: {k: float(v) for k, v in rep.items() if np.isscalar(v)} for name, rep in rows.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    p.add_argument("--seeds", type=int, default=len(SEEDS), help="seeds 0..N-1 (default 3)")
    p.add_argument("--jobs", type=int, default=2, help="processes (default 2: one per core)")
    p.add_argument("--quick", action="store_true", help="1 seed, a tenth of the steps (a smoke run)")
    p.add_argument("--json", help="write every run, the summary and the reference rows here")
    p.add_argument("--merge", nargs="+", metavar="JSON", help="train nothing: tables of these files' runs")
    args = p.parse_args(argv)
    if args.merge:
        runs = [r for path in args.merge for r in json.load(open(path))["runs"]]
        references = json.load(open(args.merge[0])).get("references", {})
    else:
        from minigan.evaluation.translation import scenes_segmenter
        scenes_segmenter()                       # trained (and cached) once, before the workers
        seeds, steps = (1, STEPS // 10) if args.quick else (args.seeds, STEPS)
        jobs = [(row, s, steps) for s in range(seeds) for row in args.rows]
        runs, t0 = [], time.perf_counter()
        import multiprocessing           # spawn: the parent has started numba's threads
        with ProcessPoolExecutor(max_workers=args.jobs,
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            for r in pool.map(run, jobs):
                runs.append(r)
                print(f"{r['row']:16s} seed {r['seed']}: L1 {r['l1']:.3f}, FCN per-pixel "
                      f"{r['fcn_pixel_accuracy']:.3f}, IoU {r['fcn_class_iou']:.3f}, hist {r['hist_mean']:.3f}, "
                      f"{r['seconds']:.0f} s", flush=True)
        print(f"\n{len(runs)} runs in {time.perf_counter() - t0:.0f} s ({args.jobs} processes)\n")
        references = reference_table()
    summary = summarise(runs)
    table = markdown(summary, references)
    print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": runs, "summary": summary, "references": references,
                       "settings": {"steps": STEPS, "batch": BATCH, "rows": {k: v[1] for k, v in ROWS.items()}},
                       "markdown": table}, f, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
