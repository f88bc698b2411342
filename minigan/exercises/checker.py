"""The machinery every exercise check shares: call a learner's function safely, compare its
outputs with minigan's, name a known mistake, print one pass line. Each chapter's checks live
in their own module of this package; ``minigan.exercises`` exports them all."""
from __future__ import annotations

import contextlib
import functools

import numpy as np

from ..gradcheck import rel_error

TOL = 1e-6          # float64 inputs: a correct answer is at ~1e-15, a wrong one at 1e-3..1
MATCH = 1e-6        # how close a wrong answer must be to a known mistake to be named


class ExerciseError(AssertionError):
    """A learner's answer is wrong. The message says which output, by how much, and why."""


# --------------------------------------------------------------------------------------
# Shared machinery
# --------------------------------------------------------------------------------------

def _name(fn) -> str:
    return getattr(fn, "__name__", "your function")


def _call(fn, args: dict, case: str, *, readonly=(), error_hint=None):
    """Call fn(**args) on copies; NotImplementedError passes through untouched.

    Arguments named in ``readonly`` must not be written into (a backward pass that
    writes into ``dy`` corrupts the caller's gradient). ``error_hint`` is added when the
    learner's function raises a ValueError (NumPy's shape errors).
    """
    copies = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in args.items()}
    try:
        with np.errstate(all="ignore"):      # the checks report inf/nan themselves
            out = fn(*copies.values())
    except (NotImplementedError, ExerciseError):
        raise
    except Exception as exc:
        shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in args.items()
                           if isinstance(v, np.ndarray))
        hint = f"\nHint: {error_hint}" if error_hint and isinstance(exc, ValueError) else ""
        raise ExerciseError(f"{_name(fn)} raised {type(exc).__name__} on the case '{case}' "
                            f"({shapes}): {exc}{hint}") from exc
    for k in readonly:
        if not np.array_equal(copies[k], args[k], equal_nan=True):
            raise ExerciseError(
                f"{_name(fn)} changed its argument `{k}` in place (case '{case}'). The caller "
                f"still needs it: compute a new array (e.g. `{k} * mask`) instead of writing "
                f"into it (`{k}[mask] = 0`, `{k} *= ...`).")
    return out


def _unpack(fn, out, names, case):
    """The learner's outputs as float64 arrays, in the order of ``names``."""
    if len(names) == 1:
        out = (out,)
    elif not isinstance(out, (tuple, list)) or len(out) != len(names):
        got = (f"a {type(out).__name__} of length {len(out)}"
               if isinstance(out, (tuple, list)) else f"a {type(out).__name__}")
        raise ExerciseError(f"{_name(fn)} should return a tuple ({', '.join(names)}); "
                            f"got {got} (case '{case}').")
    arrays = []
    for n, o in zip(names, out):
        if o is None:
            raise ExerciseError(f"{_name(fn)} returned None for {n} (case '{case}'): "
                                "did you forget a `return`?")
        try:
            arrays.append(np.asarray(o, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise ExerciseError(f"{_name(fn)}: {n} should be a number or an array of "
                                f"numbers, got {type(o).__name__} (case '{case}')") from exc
    return arrays


def _compare(fn, what, got, expected, case, mistakes=(), shape_hints=None, nonfinite=None):
    """Raise ExerciseError unless got ≈ expected; name the mistake if it is a known one.

    mistakes: (array, hint) pairs, the value a known wrong answer would give.
    shape_hints: {shape: hint} for wrong shapes.
    nonfinite: the hint when the answer has inf/nan where the true one is finite.
    """
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    head = f"{_name(fn)}: {what} is wrong on the case '{case}'"
    if got.shape != expected.shape:
        hint = None
        for cand, h in mistakes:
            cand = np.asarray(cand, dtype=np.float64)
            if cand.shape == got.shape and _close(got, cand):
                hint = h
                break
        if hint is None and shape_hints:
            hint = shape_hints.get(got.shape)
        if hint is None and got.shape == expected.shape[::-1] and got.ndim == 2:
            hint = "it looks transposed: did you forget a transpose?"
        msg = f"{head}: it has shape {got.shape}, expected {expected.shape}."
        raise ExerciseError(msg + (f"\nHint: {hint}" if hint else ""))
    if not np.all(np.isfinite(got)):
        if np.all(np.isfinite(expected)):
            bad = "nan" if np.any(np.isnan(got)) else "inf"
            msg = f"{head}: it contains {bad} where the answer is finite."
            raise ExerciseError(msg + (f"\nHint: {nonfinite}" if nonfinite else ""))
    err = rel_error(got, expected)
    if err < TOL:
        return err
    hints = []
    for cand, h in mistakes:
        cand = np.asarray(cand, dtype=np.float64)
        if cand.shape == got.shape and _close(got, cand) and h not in hints:
            hints.append(h)     # several known mistakes can give the same numbers
    hint = "\nHint: ".join(hints) or _generic_hint(got, expected)
    if hint is None and err < 1e-3:
        hint = ("this is not rounding: with float64 inputs a right answer agrees to about "
                "1e-12, so a small term is wrong or missing (an eps in the wrong place? a "
                "term that is small on these inputs?).")
    msg = f"{head} (relative error {err:.1e})."
    raise ExerciseError(msg + (f"\nHint: {hint}" if hint else ""))


def _close(a, b):
    with np.errstate(all="ignore"):
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            return False
        return rel_error(a, b) < MATCH


def _generic_hint(got, expected):
    if _close(got, -expected):
        return "it is the right answer with the wrong sign."
    denom = float(np.sum(expected * expected))
    # Only for an array: any wrong number is "the right one times something", which says
    # nothing; for several numbers one common factor is a real clue.
    if denom > 0 and expected.size > 1:
        c = float(np.sum(got * expected)) / denom
        if abs(c) > 1e-12 and _close(got, c * expected):
            return (f"it is the right answer times {c:.4g}: a factor is missing or extra "
                    "(a batch size? a 2? a learning rate?).")
    return None


def _quiet(check):
    """Run a check with NumPy's floating-point warnings off: the known wrong answers it
    computes for comparison (e.g. 1/σ(z) at z = −1000) may overflow, and it reports
    inf/nan in the learner's answer itself."""

    @functools.wraps(check)
    def wrapper(fn, *args, **kwargs):
        with np.errstate(all="ignore"):
            return check(fn, *args, **kwargs)
    return wrapper


def _passed(fn, text):
    print(f"\u2713 {_name(fn)} passed: {text}")


def _softplus(z):
    """log(1 + e^z), stable for |z| = 1000."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _sigmoid(z):
    return 0.5 * (1 + np.tanh(0.5 * z))


NONFINITE_LOGITS = ("at logits of \u00b11000 your answer overflows. Compute "
                    "log \u03c3(z) and log(1 \u2212 \u03c3(z)) from the logit directly: "
                    "log(1 + e^z) = max(z, 0) + log1p(e^(\u2212|z|)) never overflows "
                    "(notebook 01, section 4).")


# --------------------------------------------------------------------------------------
# Written by hand: an answer that calls minigan's own answer passes nothing
# --------------------------------------------------------------------------------------

def _resolve(entry: str):
    """``"minigan.nn.layers:Linear.backward"`` -> (owner object, attribute name)."""
    import importlib
    module, qual = entry.split(":", 1)
    owner = importlib.import_module(module)
    *path, attr = qual.split(".")
    for p in path:
        owner = getattr(owner, p)
    return owner, attr


def _refuser(fn, what: str, exercise: str):
    def refuse(*args, **kwargs):
        raise ExerciseError(
            f"{_name(fn)} calls {what}, which answers Exercise {exercise} itself: the exercise "
            "is to write it yourself (you may use NumPy, and minigan's answers to earlier "
            "exercises).")
    return refuse


@contextlib.contextmanager
def refusing(exercise: str, fn, also=()):
    """While the block runs, minigan's own answers to ``exercise`` (the functions
    ``answers.ANSWERS`` lists for it), the same functions imported by name into ``fn``'s
    namespace (``from minigan.nn.losses import bce_with_logits`` binds them there too), and
    the names in ``also`` there (a version the chapter wrote out) are replaced by functions
    that raise :class:`ExerciseError` naming ``fn``; everything is put back afterwards.
    ``fn``: the learner's function, or a class (whose methods run after its constructor)."""
    from .answers import ANSWERS
    space = getattr(fn, "__globals__", {})
    saved_lib, saved_own = [], {}
    try:
        refused = []          # (the object itself, its name): compared by `is`
        for entry in ANSWERS.get(exercise, ()):
            owner, attr = _resolve(entry)
            qual = entry.split(":", 1)[1]
            saved_lib.append((owner, attr, owner.__dict__.get(attr, None), attr in owner.__dict__))
            refused.append((getattr(owner, attr), qual))
            setattr(owner, attr, _refuser(fn, f"minigan's {qual}", exercise))
        for n, v in list(space.items()):
            qual = next((q for obj, q in refused if v is obj), None)
            if qual is not None and v is not fn:
                saved_own[n] = v
                space[n] = _refuser(fn, f"minigan's {qual}", exercise)
        for n in also:
            if n in space and space[n] is not fn and n not in saved_own:
                saved_own[n] = space[n]
                space[n] = _refuser(fn, f"`{n}` (the chapter's own version)", exercise)
        yield
    finally:
        for owner, attr, old, had in reversed(saved_lib):
            if had:
                setattr(owner, attr, old)
            else:
                delattr(owner, attr)
        space.update(saved_own)


def by_hand(exercise: str, also=()):
    """Decorate a check so that the learner's function fails it if it calls minigan's own
    answer to ``exercise`` (the functions ``answers.ANSWERS`` lists for it), or one of the
    names in ``also`` from the learner's own namespace (a notebook's loop version written out
    in the chapter, say ``conv2d_backward_loops``): :func:`refusing`.

    Only while the learner's function runs are those replaced by a function that raises
    :class:`ExerciseError`; the check's own reference computations, before and after, use
    the real ones."""
    def decorate(check):
        @functools.wraps(check)
        def wrapper(fn, *args, **kwargs):
            if not callable(fn):
                return check(fn, *args, **kwargs)

            @functools.wraps(fn)
            def guarded(*a, **k):
                with refusing(exercise, fn, also):
                    return fn(*a, **k)
            return check(guarded, *args, **kwargs)
        return wrapper
    return decorate
