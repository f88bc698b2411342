"""Command line: ``minigan train|sample|grade`` (also ``python -m minigan``).

    minigan train gan --data ring8 --steps 3000 --seed 0 --out runs/ring8
    minigan train gan --data digits --steps 3000 --out runs/digits
    minigan train seqgan --data oracle --out runs/seqgan     # token sequences (also: grammar)
    minigan train rcgan --data sines --out runs/rcgan        # real-valued sequences
    minigan train dcgan --data mnist --out runs/mnist        # real MNIST (downloaded once)
    minigan train --resume runs/ring8 --steps 6000         # continue a run, exactly
    minigan train gan --lr 2e-4 --beta1 0.5 --out runs/slow  # the optimiser's settings
    minigan sample runs/digits --n 64 --out grid.png
    minigan sample runs/cgan-digits --label all --out classes.png   # a row per class
    minigan sample runs/dcgan-digits --n 1000000 --out samples.npy  # the raw samples, streamed
    minigan grade my_01_backprop_by_hand.ipynb              # a learner's exercises, checked

A run never destroys another: an --out that holds an earlier run is refused unless
--overwrite says to delete it, and a directory that a live run is writing is locked
(minigan.train.run_lock). `minigan sample` writes through a temporary file named after its
process, and removes those that a killed `minigan sample` left where it writes
(:func:`remove_orphaned_samples`). A checkpoint's config is checked before the model it
describes is built (minigan.train.load_model): a crafted size is refused, never allocated.
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import inspect
import json
import math
import os
import re
import shlex
import shutil
import socket
import sys
import tempfile
import time
import zlib

from . import __version__
from .fileio import file_mode
from .presets import (DATASETS, DEFAULT_DATA, LR_KEYS, PRESETS, SHAPE_KEYS, default_data,
                      plan_phases, preset)
# memory_limit: half of this machine's memory (minigan.train: load_model bounds a checkpoint's
# model by it too); imported under this name, which check_train_memory looks up here
from .train import CheckpointError, RunLocked, TrainingDiverged, memory_limit

# What a run writes into its directory (besides run.json and the snapshots samples/step-N.png):
# finding any of them, a new run refuses the directory unless --overwrite.
RUN_FILES = ("checkpoint.npz", "history.json", "metrics.json", "samples.png", "losses.png")
# A rough upper bound of the memory a training step takes per sample, as a multiple of the
# sample's values at 8 bytes each: the activations, gradients and optimiser work arrays of
# G and D. Measured with tracemalloc at the presets: 10 KB a sample for the toy GAN (2
# values: a factor 640), 57 KB for the cDCGAN on digits (64 values: 112), 145 KB for SeqGAN
# on the oracle (20 tokens: 910), 115 KB for RCGAN on the sines (30 values: 480).
TRAIN_MEMORY_FACTOR = 1000
# What `minigan sample --out` writes: a picture, or the raw samples as one array.
SAMPLE_FORMATS = (".png", ".npy")


def default_out(model, data=None):
    """The run directory when --out is not given: runs/MODEL-DATA."""
    return os.path.join("runs", f"{model}-{data or default_data(model)}")


def optimiser_settings(cls, settings, lr=None, beta1=None, beta2=None):
    """A preset's model ``settings`` with --lr for every learning rate that the model ``cls``
    takes (:data:`LR_KEYS`: G's and D's both) and --beta1 / --beta2 for Adam's β of a model
    that takes ``betas`` (the other β stays the preset's, or the model's default). A clear
    error for β on a model without them (WGAN's RMSprop; SeqGAN's Adam keeps its defaults)."""
    params = inspect.signature(cls).parameters
    out = dict(settings)
    if lr is not None:
        out.update({k: lr for k in LR_KEYS if k in params})
    if beta1 is not None or beta2 is not None:
        if "betas" not in params:
            from .gans import MODELS
            takes = sorted(m for m, c in MODELS.items() if "betas" in inspect.signature(c).parameters)
            raise ValueError(f"--beta1/--beta2: model {cls.name!r} has no Adam betas to set; "
                             f"they apply to: {', '.join(takes)}")
        b1, b2 = out.get("betas", params["betas"].default)
        out["betas"] = (b1 if beta1 is None else beta1, b2 if beta2 is None else beta2)
    return out


def check_options(args):
    """Refuse the values of ``minigan train``'s options that would do something other than
    asked: 0 or a negative --steps or --batch-size (``args.steps or default`` once turned 0
    into the default), a learning rate that is not a positive number, a β outside [0, 1), and
    options that a resumed run could not honour (those that must agree with the run's own
    settings are checked against its checkpoint: :func:`check_resume_options`)."""
    for name in ("steps", "batch_size"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    check_seed(args.seed)
    if args.sample_every is not None and args.sample_every < 0:
        raise ValueError(f"--sample-every must be >= 0 (0: no snapshots), got {args.sample_every}")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        raise ValueError(f"--lr must be a positive number, got {args.lr}")
    for name in ("beta1", "beta2"):
        value = getattr(args, name)
        if value is not None and not 0 <= value < 1:
            raise ValueError(f"--{name} must be in [0, 1), got {value}")
    if args.resume:
        if args.overwrite:
            raise ValueError("--overwrite starts a new run in place of an old one; --resume "
                             "continues the old one: give one of them")
        given = [f"--{n}" for n in ("lr", "beta1", "beta2") if getattr(args, n) is not None]
        if given:
            raise ValueError(f"{'/'.join(given)} with --resume: a resumed run keeps the optimiser "
                             f"settings of its checkpoint (that is what makes it exact); to train "
                             f"with others, start a new run (another --out, or --overwrite)")


def check_seed(seed):
    """Refuse a negative --seed here, naming the option: deeper down, NumPy's SeedSequence
    says only "expected non-negative integer"."""
    if seed is not None and seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {seed}")


def run_settings(meta, path):
    """The settings (data, seed, batch_size, steps) that the run of the checkpoint at ``path``
    was made with: its "run" metadata (every checkpoint that `minigan train` writes has it);
    else the run.json beside it, if that describes this very model (same name and config);
    else {}: a checkpoint written by the Python API (:func:`minigan.train.fit`) records none."""
    run = meta.get("run")
    if run:
        return dict(run)
    directory = path if os.path.isdir(path) else (os.path.dirname(path) or ".")
    try:
        with open(os.path.join(directory, "run.json")) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(info, dict) or (info.get("model"), info.get("config")) != \
            (meta.get("model"), meta.get("config")):
        return {}
    return {k: info[k] for k in ("data", "seed", "batch_size", "steps") if k in info}


def _same_directory(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def check_resume_options(args, model_name, run, out):
    """Refuse what `minigan train --resume` was given beside it that differs from the run's
    own settings (``run``: :func:`run_settings`), rather than silently ignore it: a model
    name, --data, --seed, --batch-size, and an --out other than the run's directory ``out``.
    A value equal to the run's is accepted; one the run does not record is left to
    :func:`resume_settings`."""
    keep = "a resumed run keeps its run's settings (that is what makes it exact)"
    new = "start a new run (another --out, or --overwrite)"
    if args.model is not None and args.model != model_name:
        raise ValueError(f"model {args.model} with --resume: the run in {out} is a {model_name} "
                         f"run; {keep}: drop the model name, or {new}")
    for option, name in (("--data", "data"), ("--seed", "seed"), ("--batch-size", "batch_size")):
        given, own = getattr(args, name), run.get(name)
        if given is not None and own is not None and given != own:
            raise ValueError(f"{option} {given} with --resume: the run in {out} was trained with "
                             f"{option} {own}; {keep}: drop {option}, or {new}")
    if args.out is not None and not _same_directory(args.out, out):
        raise ValueError(f"--out {args.out} with --resume: a resumed run continues in its own "
                         f"directory, {out}; drop --out (to continue a copy elsewhere, copy "
                         f"the directory and resume the copy)")


def _listed(value):
    """A shape-like config value comparable across JSON (lists) and the presets (tuples)."""
    return list(value) if isinstance(value, (list, tuple)) else value


def check_model_fits_data(model, data, settings):
    """Refuse to resume ``model`` on ``data`` (given by --data for a checkpoint that records
    no dataset) when the shapes disagree (:data:`SHAPE_KEYS`): a clear error now, rather
    than a shape error deep in the first training step."""
    for key in SHAPE_KEYS:
        want, have = settings["model"].get(key), model.config.get(key)
        if want is not None and have is not None and _listed(want) != _listed(have):
            fits = [d for d, p in PRESETS[model.name].items()
                    if _listed(p["model"].get(key)) == _listed(have)]
            hint = f"; it fits: {', '.join(fits)}" if fits else ""
            raise ValueError(f"--data {data}: the checkpoint's {model.name} has {key} "
                             f"{_listed(have)}, dataset {data} has {_listed(want)}{hint}")


def resume_settings(args):
    """(model, data, seed, batch_size, steps, out) of `minigan train --resume`: the run's own
    settings (:func:`run_settings`), with the options that conflict with them refused
    (:func:`check_resume_options`). A checkpoint that records no dataset (written by
    :func:`minigan.train.fit`) is not assumed to be on any: it needs --data, and then takes
    --seed (default: the model's seed) and --batch-size (default: the preset's)."""
    from .train import load_model
    model, meta = load_model(args.resume)
    # the run's directory (--resume also takes its checkpoint file)
    out = (os.path.dirname(args.resume) or ".") if os.path.isfile(args.resume) else args.resume
    run = run_settings(meta, args.resume)
    check_resume_options(args, model.name, run, out)
    data = run.get("data") or args.data
    if data is None:
        raise ValueError(f"the checkpoint in {out} does not record the dataset it was trained on "
                         f"(it was written by minigan.train.fit, not `minigan train`); give it "
                         f"with --data, one of: {', '.join(PRESETS.get(model.name, {}))} (e.g. "
                         f"`minigan train --resume {shlex.quote(out)} --data "
                         f"{DEFAULT_DATA.get(model.name, 'ring8')}`)")
    settings = preset(model.name, data)
    seed = run.get("seed", model.seed if args.seed is None else args.seed)
    batch_size = run.get("batch_size") or args.batch_size or settings["batch_size"]
    steps = args.steps or run.get("steps") or model.step
    if "data" not in run:
        check_model_fits_data(model, data, settings)
        print(f"minigan: {out} records no run settings (a checkpoint of minigan.train.fit): "
              f"continuing it on {data} with seed {seed} and batch size {batch_size}, the "
              f"batches of `minigan train`", file=sys.stderr)
    if steps < model.step:
        raise ValueError(f"--steps {steps} with --resume: the run in {out} is already at step "
                         f"{model.step}; give --steps {model.step} or more")
    return model, data, seed, batch_size, steps, out


def _size(nbytes):
    """A size in the unit that reads best: "3.2 GiB", "240 MiB"."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes} bytes"


def check_train_memory(data, batch_size, default):
    """Refuse up front a --batch-size whose training would take more memory than
    :func:`memory_limit` (a toy dataset draws batches of any size: 10**9 would be killed
    only after taking the whole machine). A rough upper estimate: batch_size times the
    values of one sample (:func:`minigan.tasks.sample_values`) at 8 bytes times
    :data:`TRAIN_MEMORY_FACTOR`."""
    from .tasks import sample_values
    need = batch_size * sample_values(data) * 8 * TRAIN_MEMORY_FACTOR
    limit = memory_limit()
    if need > limit:
        most = limit // (sample_values(data) * 8 * TRAIN_MEMORY_FACTOR)
        raise ValueError(f"--batch-size {batch_size} on {data} would take about {_size(need)} of "
                         f"memory to train (a rough estimate), more than the {_size(limit)} "
                         f"allowed (half of this machine's); give at most {most} (the default "
                         f"is {default})")


def resume_phase_note(model, data, steps):
    """What resuming a phased model (SeqGAN) to ``steps`` steps does, exactly: None when its
    phase plan is the one an uninterrupted run of ``steps`` steps would have (the resumed run
    is then that run, exactly); else a line saying that the plan the run started with is
    kept, so every step beyond its pretraining phases is adversarial, and which plan an
    uninterrupted run would have had instead. (The plan cannot follow --steps: a run past
    its pretraining cannot un-train it.)"""
    if not hasattr(model, "pretrain_g_steps") or data not in PRESETS.get(model.name, {}):
        return None
    fresh = plan_phases(PRESETS[model.name][data], steps)
    g, d = model.pretrain_g_steps, model.pretrain_d_steps
    if (fresh["pretrain_g_steps"], fresh["pretrain_d_steps"]) == (g, d):
        return None
    return (f"resuming keeps the phase plan the run started with ({g} MLE steps, then {d} "
            f"D-pretraining steps): every later step is adversarial, so this run to {steps} steps "
            f"is not an uninterrupted run of {steps} steps, which would plan "
            f"{fresh['pretrain_g_steps']} MLE and {fresh['pretrain_d_steps']} D-pretraining steps "
            f"(for that, train anew with --steps {steps})")


def _snapshots(out):
    return sorted(glob.glob(os.path.join(glob.escape(out), "samples", "step-*.png")))


def earlier_run(out):
    """What an earlier run left in ``out``: None when nothing (a new or empty directory, or
    only files no run writes), else (who, files, snapshots, resumable): "gan on ring8 at step
    40" (from its checkpoint, or its run.json), the paths of its files (run.json included)
    and of its snapshots, which a new run would mix with, and whether ``--resume`` can
    continue it."""
    if not os.path.isdir(out):
        return None
    files = [os.path.join(out, n) for n in RUN_FILES if os.path.isfile(os.path.join(out, n))]
    snapshots = _snapshots(out)
    if not files and not snapshots:
        return None
    from .train import read_checkpoint
    try:
        meta, _ = read_checkpoint(out)
        data = meta.get("run", {}).get("data")
        who = f"{meta['model']}{f' on {data}' if data else ''} at step {meta['step']}"
        resumable = True
    except (CheckpointError, KeyError):
        who, resumable = "no readable checkpoint", False
        try:
            with open(os.path.join(out, "run.json")) as f:
                who = f"{json.load(f)['model']}, {who}"
        except (OSError, ValueError, KeyError, TypeError):
            pass
    run_json = os.path.join(out, "run.json")
    files += [run_json] if os.path.isfile(run_json) else []
    return who, files, snapshots, resumable


def claim_run_directory(out, overwrite=False):
    """Make ``out`` (held with run_lock) ready for a new run: nothing to do if no earlier run
    is there; else refuse (a clear error offering --resume, another --out or --overwrite), or
    with ``overwrite`` delete that run's files (not others), so that the snapshots, history
    and metrics of two runs never mix."""
    found = earlier_run(out)
    if found is None:
        return
    who, files, snapshots, resumable = found
    if not overwrite:
        resume = f"continue it with `minigan train --resume {shlex.quote(out)}`, " if resumable else ""
        raise ValueError(f"{out} already holds a run ({who}); {resume}choose another --out, or "
                         f"add --overwrite to delete it and train anew")
    for path in files + snapshots:
        os.remove(path)
    try:
        os.rmdir(os.path.join(out, "samples"))
    except OSError:
        pass                                    # absent, or holding files no run wrote
    names = [os.path.basename(p) for p in files]
    if snapshots:
        names.append(f"{len(snapshots)} snapshot(s) in samples/")
    print(f"minigan: --overwrite: deleted the earlier run in {out} ({who}): {', '.join(names)}",
          file=sys.stderr)


def describe_phases(model, steps):
    """One line on what a phased model's run does (None for a model without phases)."""
    if hasattr(model, "encoder_steps"):
        enc = min(model.encoder_steps, steps)
        gan = max(0, steps - enc)
        line = (f"{model.name} phases: {enc} step{'s' * (enc != 1)} training the text and image "
                f"encoders (joint embedding), then {gan} GAN step{'s' * (gan != 1)}")
        if steps <= model.encoder_steps:
            line += f" (to reach the GAN, train more than {model.encoder_steps} steps in all)"
        return line
    if not hasattr(model, "pretrain_g_steps"):
        return None
    g, d = model.pretrain_g_steps, model.pretrain_d_steps
    mle, pre_d = min(g, steps), min(d, max(0, steps - g))
    adv = max(0, steps - g - d)
    line = (f"{model.name} phases: {mle} MLE steps, {pre_d} D-pretraining steps, "
            f"{adv} adversarial steps")
    if adv == 0:
        line += f" (to reach the adversarial phase, train more than {g + d} steps in all)"
    return line


def _parser():
    p = argparse.ArgumentParser(
        prog="minigan", description="minigan: train and sample GANs built on a hand-derived NumPy core.",
        epilog="Examples:\n  minigan train gan --data ring8 --steps 3000 --out runs/ring8\n"
               "  minigan train seqgan --data oracle --out runs/seqgan\n"
               "  minigan train rcgan --data sines --out runs/rcgan\n"
               "  minigan sample runs/ring8 --n 64 --out grid.png\n"
               "  minigan grade build/student/01_backprop_by_hand.ipynb",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"minigan {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="{train,sample,grade}")

    from .gans import MODELS
    t = sub.add_parser("train", help="train a model; writes samples.png, metrics.json, checkpoint.npz",
                       description="Train MODEL on DATA. Writes DIR/samples.png, DIR/metrics.json, "
                                   "DIR/history.json, DIR/losses.png, DIR/checkpoint.npz and "
                                   "snapshots DIR/samples/step-N.png.")
    t.add_argument("model", nargs="?", help=f"model to train: {', '.join(sorted(MODELS))} "
                                            "(omit with --resume)")
    t.add_argument("--data", help=f"dataset: {', '.join(DATASETS)} (default per model: "
                                  + ", ".join(f"{d} for {m}" for m, d in DEFAULT_DATA.items())
                                  + "); mnist and fashion-mnist are downloaded once into the "
                                    "cache folder ($MINIGAN_DATA, else ~/.cache/minigan), the "
                                    "others are embedded")
    t.add_argument("--steps", type=int, help="train until this many steps in total (default per "
                                             "dataset; a new seqgan run scales its pretraining "
                                             "phases with it, a resumed one keeps its plan)")
    t.add_argument("--seed", type=int, help="seed of everything random (default 0)")
    t.add_argument("--batch-size", type=int, help="batch size (default per dataset)")
    t.add_argument("--out", help="run directory (default runs/MODEL-DATA); one that holds an "
                                 "earlier run is refused unless --overwrite")
    t.add_argument("--overwrite", action="store_true",
                   help="delete the earlier run in --out (its checkpoint, metrics, history, "
                        "pictures and snapshots) and train anew")
    t.add_argument("--resume", metavar="DIR",
                   help="continue the run in DIR from its checkpoint, with its own model, data, "
                        "seed and batch size (others given beside it are refused)")
    t.add_argument("--lr", type=float, help="learning rate of every optimiser of the model: G's "
                                            "and D's (seqgan's: MLE, policy gradient and D's; "
                                            "default per dataset)")
    t.add_argument("--beta1", type=float, help="Adam's beta1, for models trained with Adam "
                                               "(not wgan, seqgan) (default per model)")
    t.add_argument("--beta2", type=float, help="Adam's beta2 (as --beta1)")
    t.add_argument("--sample-every", type=int, metavar="N",
                   help="also save DIR/samples/step-N.png every N steps (default: 5 pictures a run; 0: none)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    s = sub.add_parser("sample", help="draw samples from a trained run",
                       description="Draw N samples from the checkpoint in DIR: a picture (.png) "
                                   "or the samples themselves as one array (.npy: images "
                                   "(N, C, H, W) and points (N, D) in the data's range, token "
                                   "ids (N, T), sequences (N, T, F)).")
    s.add_argument("run", metavar="DIR", help="a run directory (or a checkpoint.npz)")
    s.add_argument("--n", type=int, default=None,
                   help="number of samples (default 64; a picture holds a few thousand at most, "
                        ".npy any); text-to-image: samples per caption (default 8)")
    s.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    s.add_argument("--label", metavar="K", help="class-conditional models (cgan, cdcgan): every "
                                                "sample of class K, or 'all': a row per class "
                                                "(--n rounded up to a multiple of the classes)")
    s.add_argument("--input", metavar="FILE",
                   help="translation models (pix2pix): the inputs to translate, a .png label "
                        "map or a .npy array (N, C, H, W) or class ids (N, H, W); default: the "
                        "test set of the run's data. A .png then shows input | output | target "
                        "rows (target where known)")
    s.add_argument("--text", metavar="CAPTION",
                   help="text-to-image (text2image): draw this caption, e.g. \"a small red "
                        "circle in the top left\" (words of the model's vocabulary); default: "
                        "eight captions of the test set")
    s.add_argument("--text-file", metavar="FILE",
                   help="text-to-image: the captions of FILE, one a line")
    s.add_argument("--out", default="samples.png",
                   help="output file: .png a picture, .npy the samples as an array (default "
                        "samples.png; no extension: .png; a directory: DIR/samples.png; a "
                        "missing directory is created)")

    g = sub.add_parser("grade", help="run a learner's notebook and grade its exercises",
                       description="Run NOTEBOOK (.ipynb) top to bottom in a fresh kernel, in its "
                                   "own folder, and print a table: per exercise (a cell tagged "
                                   "exercise-N.M) pass, fail (with the check's message), not done "
                                   "or error. Exit code 0 when every exercise passes, 1 when not. "
                                   "It runs the notebook's code: grade in a sandbox what you "
                                   "would not run yourself.")
    g.add_argument("notebook", metavar="NOTEBOOK", help="a learner's notebook (.ipynb)")
    g.add_argument("--timeout", type=int, default=600, metavar="S",
                   help="seconds allowed per cell (default 600)")
    g.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        if args.command == "train":
            return _train(args)
        if args.command == "grade":
            from .grade import main as grade_main
            if args.timeout < 1:
                raise ValueError(f"--timeout {args.timeout}: give a number of seconds >= 1")
            return grade_main(args)
        return _sample(args)
    except (ValueError, CheckpointError, TrainingDiverged, RunLocked) as exc:
        print(f"minigan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C: checkpoints are atomic, so the last one written is whole; say so, and how
        # to go on, instead of a traceback (130: the shell's code for an interrupt)
        where = None
        if args.command == "train":
            where = args.resume or args.out or (
                default_out(args.model, args.data) if args.model else None)
        if where:
            print(f"minigan: interrupted; the last checkpoint written in {where} is whole: "
                  f"continue with `minigan train --resume {where}`", file=sys.stderr)
        else:
            print("minigan: interrupted", file=sys.stderr)
        return 130


def _train(args):
    from .gans import get_model_class
    from .train import run_lock

    check_options(args)
    if args.resume:
        model, data, seed, batch_size, steps, out = resume_settings(args)
        default_batch = batch_size
    else:
        if not args.model:
            raise ValueError("train: name a model (e.g. `minigan train gan --data ring8`) or give --resume DIR")
        cls = get_model_class(args.model)
        data = args.data or default_data(args.model)
        settings = preset(args.model, data)
        seed = 0 if args.seed is None else args.seed
        default_batch = settings["batch_size"]
        batch_size = args.batch_size or default_batch     # None or positive: checked
        steps = args.steps or settings["steps"]
        out = args.out or default_out(args.model, data)
        if os.path.exists(out) and not os.path.isdir(out):
            raise ValueError(f"--out {out} is a file, not a directory")
    check_train_memory(data, batch_size, default_batch)
    if not args.resume:
        model = cls(**optimiser_settings(cls, plan_phases(settings, steps), args.lr, args.beta1,
                                         args.beta2), seed=seed)
    # the data before the run directory: a dataset that must be downloaded (mnist) and cannot
    # be is an error that leaves nothing behind. The batch contract: a conditional model's
    # batches carry its condition (a cGAN's labels, RCGAN's frequencies); fit() gives each
    # step model.batches_per_step of them
    from .tasks import make_task
    task = make_task(data, batch_size=batch_size, seed=seed, conditional=model.conditional)
    # the whole run holds the directory: fit's checkpoints, and the files written around them
    with run_lock(out):
        if not args.resume:
            claim_run_directory(out, overwrite=args.overwrite)
        else:
            note = resume_phase_note(model, data, steps)
            if note:
                print(f"minigan: {note}", file=sys.stderr)
        return _train_in(args, model, data, seed, batch_size, steps, out, task)


def _train_in(args, model, data, seed, batch_size, steps, out, task):
    from .train import fit, strict_json, write_json

    run_info = {"data": data, "seed": seed, "batch_size": batch_size, "steps": steps}
    write_json(os.path.join(out, "run.json"), {"model": model.name, **run_info, "config": model.config})

    print(f"minigan: training {model.name} on {data} for {steps} steps (seed {seed}) -> {out}",
          file=sys.stderr)
    phases = describe_phases(model, steps)
    if phases:
        print(f"minigan: {phases}", file=sys.stderr)
    t0 = time.perf_counter()
    every = args.sample_every if args.sample_every is not None else max(1, steps // 5)
    snapshots = os.path.join(out, "samples")

    def snapshot(m, step):
        os.makedirs(snapshots, exist_ok=True)
        task.save_samples(m, os.path.join(snapshots, f"step-{step:06d}.png"))

    history = fit(model, task.batch, steps, out,
                  resume=bool(args.resume), evaluate=task.evaluate,
                  progress=not args.quiet, checkpoint_meta={"run": run_info},
                  on_sample=snapshot, sample_every=every)
    seconds = time.perf_counter() - t0
    metrics = history["metrics"]
    metrics["train_seconds"] = round(seconds, 2)
    write_json(os.path.join(out, "metrics.json"), metrics)
    task.save_samples(model, os.path.join(out, "samples.png"))
    plot_history(history, model, data).savefig(os.path.join(out, "losses.png"), dpi=100)
    print(json.dumps(strict_json(metrics), indent=1, allow_nan=False))   # as metrics.json: null
    return 0


# The curves of losses.png: names, and for a phased model (SeqGAN, whose history logs every key
# in every phase, 0.0 where the phase computes nothing) the phases in which each is measured.
CURVE_NAMES = {"loss_d": "D loss", "loss_g": "G loss", "d_real": "mean D(x), real batch",
               "d_fake": "mean D(G(z)), fake batch"}
SEQGAN_CURVES = {"nll": ("G's NLL of the real batch (MLE)", (0,)),
                 "loss_g": ("G's policy-gradient surrogate loss", (2,)),
                 "reward": ("mean reward D(y) of G's samples", (2,)),
                 "loss_d": ("D loss", (1, 2)),
                 "d_real": ("mean D(x), real batch", (1, 2)),
                 "d_fake": ("mean D(y), G's samples", (1, 2))}
PHASE_NAMES = ("MLE", "D pretraining", "adversarial")


def plot_history(history, model, data):
    """The figure of losses.png: one curve per logged quantity. With a ``phase`` column
    (SeqGAN), each quantity is drawn only in the phases that compute it, and dotted lines
    mark where a phase begins."""
    import math
    from .viz import plot_losses
    keys = [k for k in history if k not in ("step", "metrics", "phase")]
    title = f"{model.name} on {data}: losses and the discriminator's outputs"
    if "phase" not in history:
        return plot_losses({CURVE_NAMES.get(k, k): history[k] for k in keys},
                           steps=history["step"], ylabel="value", title=title)
    phase = history["phase"]
    curves = {}
    for k in keys:
        name, where = SEQGAN_CURVES.get(k, (k, (0, 1, 2)))
        curves[name] = [v if (not math.isnan(p) and int(p) in where) else math.nan
                        for v, p in zip(history[k], phase)]
    fig = plot_losses(curves, steps=history["step"], ylabel="value", title=title)
    ax = fig.axes[0]
    for i in range(len(phase)):
        if not math.isnan(phase[i]) and (i == 0 or phase[i] != phase[i - 1]):
            x = history["step"][i - 1] if i else 0
            ax.axvline(x, color="grey", linestyle=":", linewidth=1)
            ax.text(x, 1.0, " " + PHASE_NAMES[int(phase[i])], transform=ax.get_xaxis_transform(),
                    fontsize="x-small", va="top", ha="left", color="grey")
    return fig


def parse_label(text):
    """--label's value: None, "all", or a class number (checked against the model's classes
    by :func:`minigan.tasks.label_plan`); a clear error for anything else."""
    if text is None or text == "all":
        return text
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--label must be a class number or 'all', got {text!r}") from None


def sample_output(out):
    """(path, format) that `minigan sample --out OUT` writes: an existing directory (or a
    name ending in a separator) gets samples.png inside it, and a name without an extension
    gets .png, so that the path reported is the file written. The format is the extension's:
    "png" (a picture) or "npy" (the samples as one array); any other is refused rather than
    written in a format its name does not say."""
    if os.path.isdir(out) or out.endswith(("/", os.sep)):
        out = os.path.join(out, "samples.png")
    ext = os.path.splitext(out)[1]
    if not ext:
        out, ext = out + ".png", ".png"
    if ext.lower() not in SAMPLE_FORMATS:
        raise ValueError(f"--out {out}: minigan sample writes a picture (.png) or the samples as "
                         f"an array (.npy), not {ext}")
    return out, ext.lower()[1:]


def check_not_a_run_file(path):
    """Refuse to write samples over a file of a run (its samples.png, say, when --out names
    the run's directory): sampling never changes a run. Other files are replaced, as
    before."""
    directory = os.path.dirname(path) or "."
    from .train import CHECKPOINT
    if os.path.basename(path) in RUN_FILES and os.path.isfile(os.path.join(directory, CHECKPOINT)):
        raise ValueError(f"--out {path} is a file of the run in {directory}; sampling does not "
                         f"replace it: give another name (e.g. --out "
                         f"{os.path.join(directory, 'more-samples.png')})")


def _existing_ancestor(path):
    directory = os.path.abspath(os.path.dirname(path) or ".")
    while not os.path.isdir(directory) and os.path.dirname(directory) != directory:
        directory = os.path.dirname(directory)
    return directory


def check_npy_size(model, n, seed, condition, path):
    """Refuse up front an array of samples larger than minigan writes at once
    (:data:`minigan.tasks.MAX_SAMPLES_BYTES`) or than the free space of the disk it goes to:
    n times the size of one sample (drawn to learn it), before drawing the rest. Returns
    (shape, dtype) of one sample (:func:`minigan.tasks.sample_layout`)."""
    from . import tasks
    shape, dtype = tasks.sample_layout(model, seed, condition)
    each = math.prod(shape) * dtype.itemsize
    need = n * each + 128                          # and the .npy header
    what = f"{n} samples of shape {shape} ({dtype}, {_size(each)} each) take {_size(need)}"
    if need > tasks.MAX_SAMPLES_BYTES:
        raise ValueError(f"--n {n}: {what}, more than the {_size(tasks.MAX_SAMPLES_BYTES)} that "
                         f"minigan sample writes at once; ask for at most "
                         f"{tasks.MAX_SAMPLES_BYTES // each} (with other --seed values for more)")
    free = shutil.disk_usage(_existing_ancestor(path)).free
    if need > free:
        raise ValueError(f"--n {n}: {what}, more than the {_size(free)} free on the disk of "
                         f"{path}")
    return shape, dtype


def make_parent(path):
    """Create the directory that will hold ``path`` when it is missing (as train does its
    --out); a clear error when a file is in the way or it cannot be created."""
    directory = os.path.dirname(path)
    if not directory or os.path.isdir(directory):
        return
    if os.path.exists(directory):
        raise ValueError(f"--out {path}: {directory} is a file, not a directory")
    try:
        os.makedirs(directory)
    except OSError as exc:
        raise ValueError(f"--out {path}: cannot create the directory {directory} "
                         f"({exc.strerror or exc})") from exc


# The temporary file `minigan sample` writes before renaming it to --out is named
# SAMPLE_TEMPORARY + "<pid>-<host tag>-<random><extension>": the writer's process id and a tag of
# its machine's name, so that a later `minigan sample` can tell an orphan (its writer was killed
# before the rename) from a file that a live writer is still filling.
SAMPLE_TEMPORARY = ".minigan-sample-"
_SAMPLE_TEMPORARY_NAME = re.compile(re.escape(SAMPLE_TEMPORARY)
                                    + r"(\d+)-([0-9a-f]{8})-[a-z0-9_]+(\.[A-Za-z0-9]+)?")


def _host_tag(host=None):
    """A short tag of this machine's name (8 hex digits), for temporary file names: a name has
    room for it where it may not for a host name of up to 253 characters."""
    return f"{zlib.crc32((host or socket.gethostname()).encode()):08x}"


def sample_temporary_prefix():
    """The start of the name of the temporary files this process writes samples to."""
    return f"{SAMPLE_TEMPORARY}{os.getpid()}-{_host_tag()}-"


def orphaned_sample_files(directory):
    """The names of the temporary files in ``directory`` that a `minigan sample` killed before
    its rename left there: named as :func:`sample_temporary_prefix` names them, by a process of
    this machine that is no longer running (as :func:`minigan.train.run_lock` decides that a
    lock is stale). A file of a live process, of this very process (another thread may be
    writing it), of another machine (its process cannot be checked from here) or named
    otherwise is never one."""
    from .train import _pid_alive
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    ours, me = _host_tag(), os.getpid()
    orphans = []
    for name in names:
        match = _SAMPLE_TEMPORARY_NAME.fullmatch(name)
        if match is None or match.group(2) != ours:
            continue
        pid = int(match.group(1))
        if pid != me and not _pid_alive(pid) and os.path.isfile(os.path.join(directory, name)):
            orphans.append(name)
    return orphans


def remove_orphaned_samples(directory, stream=None):
    """Remove :func:`orphaned_sample_files` from ``directory`` and say so on ``stream`` (stderr)
    in one line; returns their names."""
    removed = []
    for name in orphaned_sample_files(directory):
        with contextlib.suppress(FileNotFoundError):       # (another sampler removed it first)
            os.remove(os.path.join(directory, name))
            removed.append(name)
    if removed:
        print(f"minigan: removed {len(removed)} temporary file(s) left in {directory} by an "
              f"interrupted `minigan sample`: {', '.join(removed)}", file=stream or sys.stderr)
    return removed


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary file beside ``path`` (with its extension, from which the writers
    take the format) and rename it to ``path`` once written: an interrupted or failed write
    never leaves a half-written file there (one left by a kill is named after its process,
    :func:`sample_temporary_prefix`, and the next `minigan sample` into the directory removes
    it: :func:`remove_orphaned_samples`). Creating it first checks that the directory is
    writable, before any sample is drawn: a clear error names --out."""
    directory = os.path.dirname(path) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=sample_temporary_prefix(),
                                   suffix=os.path.splitext(path)[1], dir=directory)
    except OSError as exc:
        raise ValueError(f"--out {path}: cannot write in {directory} ({exc.strerror or exc})") from exc
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, file_mode())            # as a plain open() would (mkstemp: 0600)
        os.replace(tmp, path)
    except OSError as exc:
        raise ValueError(f"--out {path}: writing it failed ({exc.strerror or exc})") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def _sample(args):
    from .tasks import check_picture_size, label_plan, save_samples_for, write_samples_npy
    from .train import load_model

    if args.n is not None and args.n <= 0:
        raise ValueError(f"--n must be a positive integer, got {args.n}")
    if args.text is not None and args.text_file is not None:
        raise ValueError("--text and --text-file: give one of them (a caption, or a file of "
                         "captions one a line)")
    check_seed(args.seed)
    label = parse_label(args.label)
    path, fmt = sample_output(args.out)
    check_not_a_run_file(path)
    model, meta = load_model(args.run)
    data = run_settings(meta, args.run).get("data")
    if hasattr(model, "encode_text"):
        return _sample_text(args, model, label, path, fmt)
    if args.text is not None or args.text_file is not None:
        from .gans import MODELS
        takes = sorted(m for m, c in MODELS.items() if hasattr(c, "encode_text"))
        raise ValueError(f"--text: model {model.name!r} takes no caption; --text and "
                         f"--text-file apply to: {', '.join(takes)}")
    args.n = 64 if args.n is None else args.n
    if hasattr(model, "translate"):
        return _translate(args, model, data, label, path, fmt)
    if args.input is not None:
        from .gans import MODELS
        takes = sorted(m for m, c in MODELS.items() if hasattr(c, "translate"))
        raise ValueError(f"--input: model {model.name!r} draws samples from noise, it takes no "
                         f"input; --input applies to: {', '.join(takes)}")
    n, condition, per_row = label_plan(model, label, args.n)
    if fmt == "png":
        check_picture_size(model, data, n)
    else:
        layout = check_npy_size(model, n, args.seed, condition, path)
    make_parent(path)
    remove_orphaned_samples(os.path.dirname(path) or ".")
    with atomic_output(path) as tmp:
        if fmt == "png":
            save_samples_for(model, data, tmp, n=args.n, seed=args.seed, label=label)
        else:
            shape, dtype = write_samples_npy(model, tmp, n, args.seed, condition, layout)
    which = ("" if label is None else f" of class {label}" if label != "all" else
             f", {per_row} of each of its {model.n_classes} classes (a row per class)")
    what = "" if fmt == "png" else f": an array {shape} of {dtype}"
    print(f"minigan: wrote {n} samples of {model.name} (step {model.step}){which} to {path}{what}")
    return 0


def _sample_text(args, model, label, path, fmt):
    """`minigan sample` for text-to-image: --n pictures (default 8) of each caption (--text,
    --text-file, or eight captions of the test set); .png each caption above its pictures (16
    to a line, at most 64 captions),
    .npy the pictures (N, C, H, W) in [-1, 1], caption after caption."""
    import numpy as np

    from .tasks import (MAX_CAPTION_ROWS, MAX_PICTURE_SAMPLES, MAX_SAMPLES_BYTES,
                        caption_images, default_captions, read_caption_file, save_caption_grid)
    if label is not None or args.input is not None:
        raise ValueError(f"--label/--input: model {model.name!r} draws pictures of captions; "
                         "give them with --text CAPTION or --text-file FILE")
    if model.step <= model.encoder_steps:
        raise ValueError(f"the run in {args.run} is still training its encoders (step "
                         f"{model.step} of {model.encoder_steps}): its generator is untrained; "
                         f"train more than {model.encoder_steps} steps")
    texts = ([args.text] if args.text is not None else read_caption_file(args.text_file)
             if args.text_file is not None else default_captions())
    per = 8 if args.n is None else args.n
    model.encode_text(texts)                          # unknown words: an error before writing
    n = per * len(texts)
    if fmt == "png" and (n > MAX_PICTURE_SAMPLES or len(texts) > MAX_CAPTION_ROWS):
        raise ValueError(f"{n} pictures of {len(texts)} caption(s) are too many for a picture (at "
                         f"most {MAX_PICTURE_SAMPLES} pictures of {MAX_CAPTION_ROWS} captions); "
                         "write them as an array instead: --out FILE.npy")
    if n * int(np.prod(model.data_shape)) * 4 > MAX_SAMPLES_BYTES:
        raise ValueError(f"{n} pictures of {model.data_shape} are more than one array of "
                         f"{_size(MAX_SAMPLES_BYTES)} holds: ask for fewer (--n, the captions)")
    make_parent(path)
    remove_orphaned_samples(os.path.dirname(path) or ".")
    with atomic_output(path) as tmp:
        if fmt == "png":
            save_caption_grid(model, tmp, texts, per, args.seed)
        else:
            with open(tmp, "wb") as f:
                np.save(f, caption_images(model, texts, per, args.seed).astype(np.float32),
                        allow_pickle=False)
    what = ("each caption above its pictures" if fmt == "png" else
            f"an array ({n}, {', '.join(map(str, model.data_shape))}) of float32, caption "
            "after caption")
    print(f"minigan: drew {per} pictures of each of {len(texts)} caption(s) with {model.name} "
          f"(step {model.step}) to {path}: {what}")
    return 0


def _translate(args, model, data, label, path, fmt):
    """`minigan sample` for a translation model: the first --n inputs (of --input, or of the
    test set of the run's data) translated; .npy the outputs (N, C, H, W) in [-1, 1], .png
    rows of input | output | target."""
    import numpy as np

    from .backend import to_numpy
    from .tasks import (MAX_PICTURE_SAMPLES, read_translation_inputs, save_translations,
                        translation_test_set)
    if label is not None:
        raise ValueError(f"--label: model {model.name!r} translates inputs, it takes no label "
                         f"(give the inputs with --input)")
    targets = None
    if args.input is not None:
        inputs = read_translation_inputs(args.input, model)
        source = args.input
    elif data is not None:
        test = translation_test_set(data)
        inputs, targets = to_numpy(test.inputs), to_numpy(test.targets)   # on the backend in use
        source = f"the {data} test set"
    else:
        raise ValueError(f"the checkpoint in {args.run} records no dataset: give the inputs to "
                         "translate with --input FILE")
    n = min(args.n, len(inputs))
    if fmt == "png" and n > MAX_PICTURE_SAMPLES:
        raise ValueError(f"{n} translations are too many for a picture (at most "
                         f"{MAX_PICTURE_SAMPLES}); write them as an array instead: --out FILE.npy")
    make_parent(path)
    remove_orphaned_samples(os.path.dirname(path) or ".")
    with atomic_output(path) as tmp:
        if fmt == "png":
            save_translations(model, tmp, inputs[:n], None if targets is None else targets[:n],
                              seed=args.seed)
        else:
            with open(tmp, "wb") as f:
                np.save(f, model.translate(inputs[:n], seed=args.seed), allow_pickle=False)
    what = "input | output | target rows" if targets is not None and fmt == "png" else \
        "input | output rows" if fmt == "png" else \
        f"an array ({n}, {model.out_channels}, {model.size}, {model.size}) of float32"
    print(f"minigan: translated {n} inputs of {source} with {model.name} (step {model.step}) "
          f"to {path}: {what}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
