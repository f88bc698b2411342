"""The loop around any model's ``train_step``: progress, logging, samples, checkpoints, resume.

A model is anything with ``train_step(batch) -> dict of floats``, ``step`` (completed
steps), ``state_dict()``/``load_state_dict()``, ``config`` and ``name``. The batches come
from ``batch_fn(step)``: a pure function of the step number, so that a run resumed at
step k sees exactly the batches (and, since models draw their noise per step too, the
noise) of an uninterrupted run: same seed + resume from step k = the same parameters.

Nothing is lost:
- checkpoints are written to a temporary file and renamed over the old one (an
  interrupted write never leaves a half-written checkpoint);
- a NaN or infinite loss stops training with :class:`TrainingDiverged`, whose message
  names the step and the last good checkpoint, which is left untouched.
"""
from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
import zipfile

import numpy as np

from .backend import blas_threads

CHECKPOINT = "checkpoint.npz"


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite."""


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or does not fit the model."""


# --- checkpoints ------------------------------------------------------------------------
def save_checkpoint(path, model, extra: dict | None = None):
    """Write ``model``'s state (and JSON-able ``extra``) atomically to ``path`` (.npz)."""
    state = dict(model.state_dict())
    meta = {"model": model.name, "config": model.config, "step": int(model.step), **(extra or {})}
    state["__meta__"] = np.asarray(json.dumps(meta))
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **state)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)          # atomic on POSIX and Windows
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_checkpoint(path):
    """(meta dict, state dict of arrays) from a checkpoint, or a clear CheckpointError."""
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT)
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            state = {k: f[k] for k in f.files}
        meta = json.loads(str(state.pop("__meta__")))
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or not a minigan checkpoint ({exc})") from exc
    return meta, state


def load_model(path):
    """Rebuild a model from a checkpoint (file or run directory)."""
    from .gans import get_model_class
    meta, state = read_checkpoint(path)
    model = get_model_class(meta["model"])(**meta["config"])
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} does not fit model {meta['model']!r}: {exc}") from exc
    return model, meta


# --- progress -----------------------------------------------------------------------------
class Progress:
    """A one-line progress bar on a terminal; plain periodic lines elsewhere (CI, notebooks)."""

    def __init__(self, total, start=0, stream=None, enabled=True, every=None):
        self.total, self.start, self.enabled = total, start, enabled
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = every or max(1, total // 10)
        self.t0 = time.perf_counter()

    def update(self, step, logs):
        if not self.enabled:
            return
        done = step - self.start
        if not self.tty and step % self.every and step != self.total:
            return
        rate = done / max(time.perf_counter() - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("nan")
        frac = step / self.total
        bar = "#" * int(24 * frac) + "-" * (24 - int(24 * frac))
        vals = " ".join(f"{k}={v:.3f}" for k, v in logs.items())
        line = f"[{bar}] {step}/{self.total} {rate:.0f} it/s eta {eta:.0f}s {vals}"
        if self.tty:
            self.stream.write("\r" + line[:150])
            if step == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


# --- the loop ---------------------------------------------------------------------------
def fit(model, batch_fn, steps, out=None, *, checkpoint_every=None, log_every=None,
        on_sample=None, sample_every=None, evaluate=None, resume=False, progress=True,
        checkpoint_meta=None):
    """Train ``model`` until ``model.step == steps``.

    batch_fn(step) -> what ``model.train_step`` takes for that step.
    out: run directory for ``checkpoint.npz``, ``history.json`` and ``metrics.json`` (None: no files).
    checkpoint_every: steps between checkpoints (default: steps // 10, and always at the end).
    on_sample(model, step): called every ``sample_every`` steps (e.g. to save a snapshot).
    evaluate(model) -> dict: measured at the end and written to ``metrics.json``.
    resume: continue from ``out/checkpoint.npz`` (exactly: see the module docstring).
    checkpoint_meta: JSON-able dict stored in every checkpoint (e.g. how the run was made).
    Returns the history: {"step": [...], "<loss name>": [...]} logged every ``log_every`` steps.
    """
    history = {"step": []}
    if resume:
        if out is None:
            raise ValueError("fit: resume=True needs the run directory `out`")
        meta, state = read_checkpoint(out)
        if meta["model"] != model.name:
            raise CheckpointError(f"checkpoint in {out} is for model {meta['model']!r}, not {model.name!r}")
        model.load_state_dict(state)
        history = _read_history(out, model.step)
    if steps < model.step:
        raise ValueError(f"fit: the model is already at step {model.step} > steps={steps}")
    checkpoint_every = checkpoint_every or max(1, steps // 10)
    log_every = log_every or max(1, steps // 200)
    bar = Progress(steps, model.step, enabled=progress)
    ckpt = os.path.join(out, CHECKPOINT) if out else None
    with blas_threads(getattr(model, "blas_threads", None)):
        while model.step < steps:
            step = model.step
            logs = model.train_step(batch_fn(step))
            bad = [k for k, v in logs.items() if not math.isfinite(v)]
            if bad:
                last = (f"the last good checkpoint is {ckpt} (step {read_checkpoint(ckpt)[0]['step']})"
                        if ckpt and os.path.exists(ckpt) else "no checkpoint was written yet")
                raise TrainingDiverged(f"{', '.join(bad)} became {logs[bad[0]]} at step {step}; "
                                       f"training stopped and {last}. Try a lower learning rate.")
            if model.step % log_every == 0 or model.step == steps:
                _append_logs(history, model.step, logs)
            if on_sample is not None and sample_every and model.step % sample_every == 0:
                on_sample(model, model.step)
            if ckpt and (model.step % checkpoint_every == 0 or model.step == steps):
                save_checkpoint(ckpt, model, checkpoint_meta)
                _write_json(os.path.join(out, "history.json"), history)
            bar.update(model.step, logs)
    if evaluate is not None:
        metrics = {k: (float(v) if isinstance(v, (float, np.floating)) else v)
                   for k, v in evaluate(model).items()}
        metrics["step"] = int(model.step)
        if out:
            _write_json(os.path.join(out, "metrics.json"), metrics)
        history["metrics"] = metrics
    return history


def _write_json(path, obj):
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=os.path.dirname(os.path.abspath(path)))
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=1, default=_jsonable)
    os.replace(tmp, path)


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON-serialisable: {type(v).__name__}")


def _append_logs(history, step, logs):
    """One row of the history: every list stays as long as ``step``. A key that a model logs
    only in some phases (say, a discriminator loss only after pretraining) is NaN elsewhere."""
    history["step"].append(step)
    n = len(history["step"])
    for k, v in logs.items():
        history.setdefault(k, [math.nan] * (n - 1)).append(float(v))
    for k, v in history.items():
        if len(v) < n:
            v.append(math.nan)


def _read_history(out, upto_step):
    path = os.path.join(out, "history.json")
    if not os.path.exists(path):
        return {"step": []}
    with open(path) as f:
        h = json.load(f)
    keep = [i for i, s in enumerate(h.get("step", [])) if s <= upto_step]
    return {k: [v[i] for i in keep] for k, v in h.items() if isinstance(v, list)}
