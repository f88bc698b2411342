"""Checks for the course's exercises: run a learner's function, say what is wrong.

Each ``check_*`` takes the learner's function, runs it on several random float64
cases (batch 1, odd sizes, non-zero biases, random upstream gradients, extreme
logits where stability matters), compares every output with minigan's own
implementation, and either prints one pass line or raises :class:`ExerciseError`
naming the output that is wrong, its relative error, and, where the wrong answer
looks like a known mistake (a missing transpose, a mean instead of a sum, the
wrong sign, ...), a hint. ``NotImplementedError`` raised by an unfinished
exercise propagates unchanged.

Used from the notebooks, right after each exercise::

    from minigan.exercises import check_linear_backward
    check_linear_backward(linear_backward)

=====================================  ==========  =======================================
check                                  exercise    the learner writes
=====================================  ==========  =======================================
check_linear_backward                  1.1         linear_backward(dy, x, W) -> (dx, dW, db)
check_tanh_backward                    1.2         tanh_backward(dy, x) -> dx
check_sigmoid_backward                 1.3         sigmoid_backward(dy, x) -> dx
check_bce_with_logits_grad             1.4         bce_with_logits_grad(z, t) -> (loss, dz)
check_sgd_momentum_step                2.1         sgd_momentum_step(p, g, v, lr, momentum)
check_adam_step                        2.2         adam_step(p, g, m, v, t, lr, b1, b2, eps)
check_accuracy                         2.3         accuracy(logits, labels) -> float
check_discriminator_loss_and_grad      3.1         (real_logits, fake_logits) -> (loss, dr, df)
check_generator_loss_nonsaturating     3.2         generator_loss_nonsaturating(z) -> (loss, dz)
check_modes_covered                    3.3         modes_covered(samples, centers, std) -> int
check_conv2d_backward                  4.1         conv2d_backward(dy, x, W, stride, padding)
check_conv_transpose2d_forward         4.2         conv_transpose2d_forward(x, W, b, stride, padding)
check_batchnorm_backward               4.3         batchnorm_backward(dy, x, gamma, eps)
=====================================  ==========  =======================================
"""
from __future__ import annotations

import numpy as np

from .gradcheck import rel_error

__all__ = [
    "ExerciseError",
    "check_linear_backward", "check_tanh_backward", "check_sigmoid_backward",
    "check_bce_with_logits_grad",
    "check_sgd_momentum_step", "check_adam_step", "check_accuracy",
    "check_discriminator_loss_and_grad", "check_generator_loss_nonsaturating",
    "check_modes_covered",
    "check_conv2d_backward", "check_conv_transpose2d_forward", "check_batchnorm_backward",
]

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
    except NotImplementedError:
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
    import functools

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
# Chapter 1: backprop by hand
# --------------------------------------------------------------------------------------

def _linear_reference(dy, x, W, b):
    """minigan's Linear in float64: dx, dW, db (and y, to be sure the cases make sense)."""
    from .nn.layers import Linear
    M, D = W.shape
    layer = Linear(D, M, rng=np.random.default_rng(0), dtype="float64")
    layer.params["weight"][...] = W
    layer.params["bias"][...] = b
    _, cache = layer.forward(x)
    layer.zero_grad()
    dx = layer.backward(dy, cache)
    return dx, layer.grads["weight"].copy(), layer.grads["bias"].copy()


@_quiet
def check_linear_backward(linear_backward, seed=0):
    """Exercise 1.1: ``linear_backward(dy, x, W) -> (dx, dW, db)`` for y = x Wᵀ + b.

    dy: (N, M), x: (N, D), W: (M, D). Cases: batch 1, odd sizes, a square W (where a
    transpose keeps the shape), N = M (where summing over the wrong axis keeps the shape).
    """
    rng = np.random.default_rng(seed)
    cases = [("batch 1", 1, 3, 5), ("odd sizes", 7, 5, 3), ("square W", 4, 6, 6),
             ("N = M", 6, 3, 6), ("N = D = M", 5, 5, 5)]
    for case, N, D, M in cases:
        x = rng.standard_normal((N, D))
        W = rng.standard_normal((M, D))
        b = rng.standard_normal(M)
        dy = rng.standard_normal((N, M))
        dx_ref, dW_ref, db_ref = _linear_reference(dy, x, W, b)
        out = _call(linear_backward, {"dy": dy, "x": x, "W": W}, case,
                    readonly=("dy", "x", "W"),
                    error_hint="the shapes of a product do not fit: dx = dy W is (N, M)·(M, D) "
                    "and dW = dyᵀ x is (M, N)·(N, D). A transpose too many or too few?")
        dx, dW, db = _unpack(linear_backward, out, ("dx", "dW", "db"), case)
        _compare(linear_backward, "dx", dx, dx_ref, case, mistakes=[
            (dy @ W.T if M == D else np.zeros(0), "dx = dy W, without a transpose: "
             "y = x Wᵀ, so ∂y/∂x brings back W itself."),
            (dy @ W / N, "dx is per example: do not divide by the batch size."),
            (dy.sum(0, keepdims=True) @ W, "dx has one row per example: do not sum dy "
             "over the batch first."),
        ], shape_hints={(N, M): "dx must have the shape of x, (N, D): dx = dy W.",
                        (D,): "dx has one row per example, shape (N, D): do not sum over the batch."})
        _compare(linear_backward, "dW", dW, dW_ref, case, mistakes=[
            (x.T @ dy, "did you forget a transpose? dW must have W's shape (M, D): dW = dyᵀ x, "
             "not xᵀ dy."),
            (dW_ref / N, "you divided by the batch size. The layer sums over the batch; the "
             "1/N of a mean belongs to the loss, whose gradient already carries it."),
            (np.outer(dy[0], x[0]), "sum over the batch: dW = Σ_n dy_nᵀ x_n = dyᵀ x, not only "
             "the first example."),
            (np.outer(dy.sum(0), x.sum(0)), "sum the products, not the factors: dW = Σ_n "
             "dy_nᵀ x_n = dyᵀ x, not (Σ dy)ᵀ(Σ x)."),
        ], shape_hints={(D, M): "did you forget a transpose? dW must have W's shape (M, D): "
                                "dW = dyᵀ x."})
        _compare(linear_backward, "db", db, db_ref, case, mistakes=[
            (dy[0], "sum over the batch: db = Σ_n dy_n (axis 0), not the first row of dy."),
            (dy.mean(0), "mean instead of sum: the bias is added to every example, so its "
             "gradient is the sum over the batch, db = dy.sum(axis=0)."),
            (dy.sum(1), "wrong axis: sum over the batch (axis 0), which leaves one entry per "
             "output feature, shape (M,)."),
            (dy.sum(), "db has one entry per output feature: sum over axis 0 only."),
            (dy.sum(0, keepdims=True), "db must have b's shape (M,): sum(axis=0) without "
             "keepdims."),
        ], shape_hints={(N, M): "sum over the batch: db = dy.sum(axis=0), shape (M,).",
                        (): "db has one entry per output feature: sum over axis 0 only."})
    _passed(linear_backward, f"dx, dW and db match minigan's Linear on {len(cases)} cases "
            "(batch 1, odd sizes, square W, N = M).")


@_quiet
def check_tanh_backward(tanh_backward, seed=1):
    """Exercise 1.2: ``tanh_backward(dy, x) -> dx`` for y = tanh(x), elementwise."""
    rng = np.random.default_rng(seed)
    cases = [("batch 1", rng.standard_normal((1, 4)) * 2),
             ("odd sizes", rng.standard_normal((5, 3)) * 2),
             ("large |x|", np.array([[-1000.0, -30.0, -3.0, -0.5, 0.0, 0.7, 4.0, 30.0, 1000.0]]))]
    for case, x in cases:
        dy = rng.standard_normal(x.shape)
        t = np.tanh(x)
        ref = dy * (1 - t * t)
        out = _call(tanh_backward, {"dy": dy, "x": x}, case, readonly=("dy", "x"))
        (dx,) = _unpack(tanh_backward, out, ("dx",), case)
        _compare(tanh_backward, "dx", dx, ref, case, mistakes=[
            (dy * (1 - x * x), "1 − y² is in terms of the output y = tanh(x): use "
             "1 − tanh(x)², not 1 − x²."),
            (1 - t * t, "chain rule: multiply the local derivative by the upstream gradient "
             "dy."),
            (dy * (1 - t), "the derivative of tanh is 1 − tanh(x)², squared."),
            (dy * (1 - t) ** 2, "(1 − y)² is not 1 − y²: square y, then subtract."),
            (dy * (1 + t * t), "tanh′(x) = 1 − tanh(x)², minus, not plus."),
            (dy * t, "that is tanh(x) itself times dy; its derivative is 1 − tanh(x)²."),
            (dy / np.cosh(x), "sech(x) must be squared: tanh′(x) = sech²(x) = 1 − tanh²(x)."),
        ], nonfinite="e^x and cosh(x) overflow for |x| > 710: write the "
             "derivative with np.tanh, 1 − tanh(x)², which never overflows.")
    _passed(tanh_backward, f"dx matches dy·(1 − tanh²x) on {len(cases)} cases (incl. |x| = 1000).")


@_quiet
def check_sigmoid_backward(sigmoid_backward, seed=2):
    """Exercise 1.3: ``sigmoid_backward(dy, x) -> dx`` for y = σ(x), elementwise."""
    rng = np.random.default_rng(seed)
    cases = [("batch 1", rng.standard_normal((1, 4)) * 2),
             ("odd sizes", rng.standard_normal((5, 3)) * 2),
             ("logits of \u00b11000", np.array([[-1000.0, -40.0, -2.0, 0.0, 3.0, 40.0, 1000.0]]))]
    for case, x in cases:
        dy = rng.standard_normal(x.shape)
        s = _sigmoid(x)
        ref = dy * s * (1 - s)
        out = _call(sigmoid_backward, {"dy": dy, "x": x}, case, readonly=("dy", "x"))
        (dx,) = _unpack(sigmoid_backward, out, ("dx",), case)
        _compare(sigmoid_backward, "dx", dx, ref, case, mistakes=[
            (dy * x * (1 - x), "y(1 − y) is in terms of the output y = σ(x): use σ(x)(1 − σ(x)), "
             "not x(1 − x)."),
            (s * (1 - s), "chain rule: multiply the local derivative by the upstream gradient dy."),
            (dy * s, "σ′(x) = σ(x)(1 − σ(x)): the factor (1 − σ(x)) is missing."),
            (dy * (1 - s), "σ′(x) = σ(x)(1 − σ(x)): the factor σ(x) is missing."),
            (-dy * s * (1 - s), "σ is increasing, so σ′ > 0: check the sign."),
        ], nonfinite="e^(−x) overflows at x = −1000 and inf/inf gives nan: "
             "compute s = σ(x) first (stably, e.g. 0.5·(1 + tanh(x/2))), then s·(1 − s).")
    _passed(sigmoid_backward, f"dx matches dy·σ(x)(1 − σ(x)) on {len(cases)} cases (incl. "
            "logits of \u00b11000).")


@_quiet
def check_bce_with_logits_grad(bce_with_logits_grad, seed=3):
    """Exercise 1.4: ``bce_with_logits_grad(z, t) -> (loss, dz)``, the mean binary
    cross-entropy of logits z against targets t in [0, 1], and its gradient."""
    from .nn.losses import bce_with_logits
    rng = np.random.default_rng(seed)
    cases = [("batch 1", rng.standard_normal((1, 1)) * 2, np.array([[1.0]])),
             ("hard labels", rng.standard_normal((7, 1)) * 2,
              rng.integers(0, 2, (7, 1)).astype(float)),
             ("soft labels", rng.standard_normal(6) * 3, rng.uniform(0, 1, 6)),
             ("logits of \u00b11000", np.array([-1000.0, -50.0, 0.5, 50.0, 1000.0, -1000.0]),
              np.array([1.0, 1.0, 0.0, 0.0, 0.0, 0.0])),
             # two logits per example (say, two patches a PatchGAN judges): the mean runs over
             # all N·M entries, so dividing by the batch size N alone is wrong by a factor M
             ("(5, 3) logits", rng.standard_normal((5, 3)) * 2,
              rng.integers(0, 2, (5, 3)).astype(float))]
    for case, z, t in cases:
        n = z.size
        loss_ref, dz_ref = bce_with_logits(z, t)
        s = _sigmoid(z)
        out = _call(bce_with_logits_grad, {"z": z, "t": t}, case, readonly=("z", "t"))
        loss, dz = _unpack(bce_with_logits_grad, out, ("loss", "dz"), case)
        per = _softplus(z) - z * t
        _compare(bce_with_logits_grad, "the loss", loss, loss_ref, case, mistakes=[
            (per.sum(), "the loss is the mean over the batch, not the sum."),
            (per.sum() / len(z), f"the mean runs over every entry of z (z.size = {n}), not over "
             f"the first axis alone ({len(z)}): use .mean() or divide by z.size."),
            (-loss_ref, "cross-entropy is −t log σ(z) − (1 − t) log(1 − σ(z)): mind the minus."),
            ((_softplus(z) - z * (1 - t)).mean(), "the target multiplies log σ(z): "
             "t = 1 means 'real', whose loss is −log σ(z)."),
        ], nonfinite=NONFINITE_LOGITS, shape_hints={z.shape: "the loss is one number, the mean over the batch."})
        _compare(bce_with_logits_grad, "dz", dz, dz_ref, case, mistakes=[
            ((s - t), "the loss is a mean over the batch, so its gradient carries 1/N: "
             f"(σ(z) − t) / N with N = {n}."),
            ((s - t) / len(z), f"the mean runs over every entry of z, N = z.size = {n}, not "
             f"over the first axis alone ({len(z)}): divide by z.size."),
            ((t - s) / n, "wrong sign: ∂ℓ/∂z = (σ(z) − t)/N; it is positive when σ(z) is "
             "above the target."),
            ((-t / s + (1 - t) / (1 - s)) / n, "that is the gradient with respect to the "
             "probability p = σ(z); multiply by σ′(z) = σ(1 − σ) and it simplifies to "
             "(σ(z) − t)/N."),
            (s * (1 - s) * (s - t) / n, "the σ′(z) factor cancels: ∂ℓ/∂z = (σ(z) − t)/N."),
        ], nonfinite=NONFINITE_LOGITS)
    _passed(bce_with_logits_grad, f"loss and dz match minigan.nn.bce_with_logits on {len(cases)} "
            "cases (incl. logits of \u00b11000).")


# --------------------------------------------------------------------------------------
# Chapter 2: optimisers and training
# --------------------------------------------------------------------------------------

def _optim_reference(opt_cls, p, g, state, t, **kw):
    """One step of minigan's optimiser from a given state. Returns (p, state)."""
    p = p.copy()
    grad = g.copy()
    opt = opt_cls([("p", p, grad)], **kw)
    opt.t = t - 1
    if state:
        opt.state = {"p": {k: v.copy() for k, v in state.items()}}
    opt.step()
    return p, opt.state.get("p", {})


@_quiet
def check_sgd_momentum_step(sgd_momentum_step, seed=4):
    """Exercise 2.1: ``sgd_momentum_step(param, grad, velocity, lr, momentum) ->
    (param, velocity)``, PyTorch's rule: v ← μ v + g, θ ← θ − lr · v."""
    from .optim import SGD
    rng = np.random.default_rng(seed)
    cases = [("first step (v = 0)", (3,), 0.1, 0.9, True),
             ("a later step", (4, 3), 0.05, 0.9, False),
             ("momentum 0.5", (2, 5), 0.3, 0.5, False),
             ("plain SGD (momentum 0)", (5,), 0.2, 0.0, False)]
    for case, shape, lr, mu, first in cases:
        p = rng.standard_normal(shape)
        g = rng.standard_normal(shape)
        v = np.zeros(shape) if first else rng.standard_normal(shape)
        if mu:
            p_ref, st = _optim_reference(SGD, p, g, {"momentum": v}, 1, lr=lr, momentum=mu)
            v_ref = st["momentum"]
        else:
            p_ref, _ = _optim_reference(SGD, p, g, {}, 1, lr=lr, momentum=0.0)
            v_ref = g.copy()
        out = _call(sgd_momentum_step, {"param": p, "grad": g, "velocity": v, "lr": lr,
                                        "momentum": mu}, case)
        p_new, v_new = _unpack(sgd_momentum_step, out, ("param", "velocity"), case)
        cs231n = ("this is the other convention (CS231n's): v ← μv − lr·g, θ ← θ + v. "
                  "It gives the same path, but here (as in torch.optim.SGD) the velocity is "
                  "in gradient units: v ← μv + g, θ ← θ − lr·v.")
        _compare(sgd_momentum_step, "the new velocity", v_new, v_ref, case, mistakes=[
            (mu * v - lr * g, cs231n),
            (mu * v + (1 - mu) * g, "that is an exponential average, v ← μv + (1 − μ)g "
             "(dampening); PyTorch's momentum adds the whole gradient: v ← μv + g."),
            (mu * v - g, "add the gradient to the velocity: v ← μv + g (the minus comes in "
             "the parameter update)."),
            (v + mu * g, "μ multiplies the old velocity: v ← μv + g."),
            (-lr * g + mu * v, cs231n),
        ])
        _compare(sgd_momentum_step, "the new parameter", p_new, p_ref, case, mistakes=[
            (p + lr * v_ref, "wrong sign: step against the velocity, θ ← θ − lr·v."),
            (p - lr * g, "the step must use the (new) velocity, not the raw gradient: "
             "θ ← θ − lr·v."),
            (p - lr * v, "update the velocity first, then step with the new one: "
             "v ← μv + g;  θ ← θ − lr·v."),
            (p - v_ref, "the step is lr times the velocity: θ ← θ − lr·v."),
            (p + mu * v - lr * g, cs231n),
        ])
    _passed(sgd_momentum_step, f"parameter and velocity match minigan.optim.SGD on {len(cases)} "
            "cases (first step, later steps, momentum 0).")


@_quiet
def check_adam_step(adam_step, seed=5):
    """Exercise 2.2: ``adam_step(param, grad, m, v, t, lr, beta1, beta2, eps) ->
    (param, m, v)``, Adam with bias correction; t counts steps from 1."""
    from .optim import Adam
    rng = np.random.default_rng(seed)
    cases = [("first step (t = 1)", (3,), 1, 1e-2, 0.9, 0.999, 1e-8, 1.0),
             ("step t = 2", (4, 2), 2, 1e-3, 0.9, 0.999, 1e-8, 1.0),
             ("step t = 10", (2, 3), 10, 5e-2, 0.8, 0.99, 1e-8, 1.0),
             ("large eps, small gradients", (5,), 3, 1e-2, 0.9, 0.999, 1e-3, 1e-3)]
    for case, shape, t, lr, b1, b2, eps, gscale in cases:
        p = rng.standard_normal(shape)
        g = rng.standard_normal(shape) * gscale
        if t == 1:
            m, v = np.zeros(shape), np.zeros(shape)
        else:  # a plausible state: moments of earlier gradients, bias-corrected
            m = rng.standard_normal(shape) * gscale * (1 - b1 ** (t - 1))
            v = rng.uniform(0.2, 2.0, shape) * gscale ** 2 * (1 - b2 ** (t - 1))
        p_ref, st = _optim_reference(Adam, p, g, {"m": m, "v": v}, t, lr=lr, betas=(b1, b2),
                                     eps=eps)
        m_ref, v_ref = st["m"], st["v"]
        out = _call(adam_step, {"param": p, "grad": g, "m": m, "v": v, "t": t, "lr": lr,
                                "beta1": b1, "beta2": b2, "eps": eps}, case)
        p_new, m_new, v_new = _unpack(adam_step, out, ("param", "m", "v"), case)
        _compare(adam_step, "m (the first moment)", m_new, m_ref, case, mistakes=[
            (b1 * m + g, "m is an exponential average: m ← β₁m + (1 − β₁)g."),
            ((1 - b1) * m + b1 * g, "β₁ multiplies the old m: m ← β₁m + (1 − β₁)g."),
            (m_ref / (1 - b1 ** t), "return the raw moment m, not the bias-corrected m̂; the "
             "correction is used only for the step."),
        ])
        _compare(adam_step, "v (the second moment)", v_new, v_ref, case, mistakes=[
            (b2 * v + (1 - b2) * g, "v averages the squared gradient: v ← β₂v + (1 − β₂)g²."),
            (b2 * v + (1 - b2) * np.abs(g), "v averages the squared gradient g², not |g|."),
            (b2 * v + g * g, "v is an exponential average: v ← β₂v + (1 − β₂)g²."),
            ((1 - b2) * v + b2 * g * g, "β₂ multiplies the old v: v ← β₂v + (1 − β₂)g²."),
            (b1 * v + (1 - b1) * g * g, "v uses β₂, not β₁."),
            (v_ref / (1 - b2 ** t), "return the raw moment v, not the bias-corrected v̂; the "
             "correction is used only for the step."),
        ])

        def step(mh, vh, e_in=False):
            with np.errstate(all="ignore"):
                return p - lr * mh / (np.sqrt(vh + eps) if e_in else np.sqrt(vh) + eps)

        mh, vh = m_ref / (1 - b1 ** t), v_ref / (1 - b2 ** t)
        with np.errstate(all="ignore"):
            mh0, vh0 = m_ref / (1 - b1 ** (t - 1)), v_ref / (1 - b2 ** (t - 1))
        mh1, vh1 = m_ref / (1 - b1 ** (t + 1)), v_ref / (1 - b2 ** (t + 1))
        no_bc = ("Adam without bias correction: m and v start at 0, so early on they are "
                 "too small by the factors (1 − β₁ᵗ) and (1 − β₂ᵗ). Step with "
                 "m̂ = m/(1 − β₁ᵗ) and v̂ = v/(1 − β₂ᵗ).")
        _compare(adam_step, "the new parameter", p_new, p_ref, case, mistakes=[
            (step(m_ref, v_ref), no_bc),
            (step(mh, v_ref), "v needs its bias correction too: v̂ = v/(1 − β₂ᵗ)."),
            (step(m_ref, vh), "m needs its bias correction too: m̂ = m/(1 − β₁ᵗ)."),
            (step(mh1, vh1), "t counts steps from 1: at the first step t = 1 (bias "
             "correction 1 − β¹)."),
            (step(mh0, vh0), "t counts steps from 1 and is the number of this step, not "
             "of the previous one."),
            (step(mh, vh, e_in=True), "ε goes outside the square root: θ ← θ − lr·m̂/(√v̂ + ε)."),
            (p + lr * mh / (np.sqrt(vh) + eps), "wrong sign: step against m̂, θ ← θ − lr·m̂/(√v̂ + ε)."),
            (step(mh, vh * vh), "divide by the square root of v̂: θ ← θ − lr·m̂/(√v̂ + ε)."),
            (p - lr * mh / (vh + eps), "divide by √v̂ (the root mean square), not by v̂."),
            (p - lr * g / (np.sqrt(vh) + eps), "step with m̂, the averaged gradient, not with g."),
        ], nonfinite="at t = 1 your correction divides by zero: 1 − β^(t−1) = 0. t counts "
             "steps from 1 and the correction is 1 − βᵗ.")
    _passed(adam_step, f"parameter, m and v match minigan.optim.Adam on {len(cases)} cases "
            "(first step, later steps, large eps).")


@_quiet
def check_accuracy(accuracy, seed=6):
    """Exercise 2.3: ``accuracy(logits, labels) -> float`` in [0, 1]: the fraction of rows
    whose largest logit is at the true label."""
    rng = np.random.default_rng(seed)
    cases = [("N = C", 10, 10), ("batch 1", 1, 10), ("odd sizes", 13, 4), ("larger", 50, 3)]
    for case, N, C in cases:
        logits = rng.standard_normal((N, C)) * 3
        labels = rng.integers(0, C, N)
        pred = logits.argmax(1)
        # make the answer interesting: about half right
        flip = rng.random(N) < 0.5
        labels = np.where(flip, pred, labels)
        if case == "batch 1":
            labels = pred.copy()
        ref = float((pred == labels).mean())
        out = _call(accuracy, {"logits": logits, "labels": labels}, case,
                    readonly=("logits", "labels"),
                    error_hint="logits are (N, C) and labels (N,): take the argmax over axis 1, "
                    "the classes, to get one prediction per row.")
        (acc,) = _unpack(accuracy, out, ("accuracy",), case)
        mistakes = [
            (100 * ref, "return a fraction in [0, 1], not a percentage."),
            (ref * N, "that is the number of correct predictions: divide by the number of "
             "examples."),
            (1 - ref, "that is the error rate, 1 − accuracy."),
            ((pred == labels).astype(float), "return one number, the mean over the batch, not "
             "one entry per example."),
        ]
        if N == C:
            mistakes.append((float((logits.argmax(0) == labels).mean()),
                             "argmax over the classes, axis 1 (one prediction per row), not "
                             "axis 0."))
        _compare(accuracy, "the accuracy", acc, ref, case, mistakes=mistakes,
                 shape_hints={(N,): "return one number, the mean over the batch."})
    _passed(accuracy, f"matches the fraction of correct argmax predictions on {len(cases)} cases.")


# --------------------------------------------------------------------------------------
# Chapter 3: a first GAN
# --------------------------------------------------------------------------------------

@_quiet
def check_discriminator_loss_and_grad(discriminator_loss_and_grad, seed=7):
    """Exercise 3.1: ``discriminator_loss_and_grad(d_real_logits, d_fake_logits) ->
    (loss, d_real_grad, d_fake_grad)``:

        loss = BCE(real logits, 1) + BCE(fake logits, 0)     (each a mean over its batch)
             = mean(softplus(−r)) + mean(softplus(f))
    """
    from .nn.losses import bce_with_logits
    rng = np.random.default_rng(seed)
    cases = [("batch 1", rng.standard_normal((1, 1)), rng.standard_normal((1, 1))),
             ("odd sizes", rng.standard_normal((5, 1)) * 2, rng.standard_normal((5, 1)) * 2),
             ("different batch sizes", rng.standard_normal((6, 1)) * 2,
              rng.standard_normal((3, 1)) * 2),
             ("logits of \u00b11000", np.array([[1000.0], [-1000.0], [3.0]]),
              np.array([[-1000.0], [1000.0], [-2.0]]))]
    for case, r, f in cases:
        lr_, gr = bce_with_logits(r, np.ones_like(r))
        lf_, gf = bce_with_logits(f, np.zeros_like(f))
        loss_ref = lr_ + lf_
        nr, nf = r.size, f.size
        sr, sf = _sigmoid(r), _sigmoid(f)
        out = _call(discriminator_loss_and_grad, {"d_real_logits": r, "d_fake_logits": f},
                    case, readonly=("d_real_logits", "d_fake_logits"))
        loss, dr, df = _unpack(discriminator_loss_and_grad, out,
                               ("loss", "d_real_grad", "d_fake_grad"), case)
        swapped = _softplus(r).mean() + _softplus(-f).mean()
        both = np.concatenate([_softplus(-r).ravel(), _softplus(f).ravel()]).mean()
        _compare(discriminator_loss_and_grad, "the loss", loss, loss_ref, case, mistakes=[
            (-loss_ref, "D minimises the cross-entropy, which is −V(D, G): the loss is "
             "−log D(x) − log(1 − D(G(z))), positive."),
            (swapped, "the labels are swapped: real samples have label 1 (loss −log σ(r)), "
             "fakes label 0 (loss −log(1 − σ(f)))."),
            (both, "average each batch separately and add: BCE(real, 1) + BCE(fake, 0), not "
             "one mean over both batches."),
            (_softplus(-r).sum() + _softplus(f).sum(), "the loss is the mean over each batch, "
             "not the sum."),
        ], nonfinite=NONFINITE_LOGITS, shape_hints={r.shape: "the loss is one number."})
        _compare(discriminator_loss_and_grad, "d_real_grad", dr, gr, case, mistakes=[
            ((sr - 1), f"the mean over the real batch carries 1/N: (σ(r) − 1)/N, N = {nr}."),
            ((1 - sr) / nr, "wrong sign: ∂(−log σ(r))/∂r = σ(r) − 1, negative: D raises real "
             "logits."),
            (sr / nr, "real samples have label 1: the gradient is (σ(r) − 1)/N."),
            ((sr - 1) / (nr + nf), "average each batch separately: (σ(r) − 1)/N_real."),
            (-1 / sr / nr, "that is the gradient with respect to D(x) = σ(r); through the "
             "sigmoid it becomes (σ(r) − 1)/N."),
        ], nonfinite=NONFINITE_LOGITS)
        _compare(discriminator_loss_and_grad, "d_fake_grad", df, gf, case, mistakes=[
            (sf, f"the mean over the fake batch carries 1/N: σ(f)/N, N = {nf}."),
            (-sf / nf, "wrong sign: ∂(−log(1 − σ(f)))/∂f = σ(f), positive: D lowers fake "
             "logits."),
            ((sf - 1) / nf, "fake samples have label 0: the gradient is (σ(f) − 0)/N."),
            (sf / (nr + nf), "average each batch separately: σ(f)/N_fake."),
            (1 / (1 - sf) / nf, "that is the gradient with respect to D(G(z)) = σ(f); through "
             "the sigmoid it becomes σ(f)/N."),
        ], nonfinite=NONFINITE_LOGITS)
    _passed(discriminator_loss_and_grad, f"loss and both gradients match BCE(real, 1) + "
            f"BCE(fake, 0) on {len(cases)} cases (incl. logits of \u00b11000).")


@_quiet
def check_generator_loss_nonsaturating(generator_loss_nonsaturating, seed=8):
    """Exercise 3.2: ``generator_loss_nonsaturating(d_fake_logits) -> (loss, grad)``:
    loss = mean(−log D(G(z))) = mean(softplus(−f)), grad with respect to the logits f."""
    from .nn.losses import bce_with_logits
    rng = np.random.default_rng(seed)
    cases = [("batch 1", rng.standard_normal((1, 1))),
             ("odd sizes", rng.standard_normal((7, 1)) * 2),
             ("D sure of itself", np.array([[-8.0], [-5.0], [-6.0], [-9.0]])),
             ("logits of \u00b11000", np.array([[-1000.0], [1000.0], [0.3]]))]
    for case, f in cases:
        n = f.size
        loss_ref, g_ref = bce_with_logits(f, np.ones_like(f))
        s = _sigmoid(f)
        out = _call(generator_loss_nonsaturating, {"d_fake_logits": f}, case,
                    readonly=("d_fake_logits",))
        loss, g = _unpack(generator_loss_nonsaturating, out, ("loss", "grad"), case)
        sat = ("that is the saturating (minimax) loss, log(1 − D(G(z))), which G minimises "
               "in the original game; its gradient vanishes when D rejects the fakes. The "
               "non-saturating loss is −log D(G(z)).")
        _compare(generator_loss_nonsaturating, "the loss", loss, loss_ref, case, mistakes=[
            ((-_softplus(f)).mean(), sat),
            (_softplus(f).mean(), "G wants D to say 'real': the loss is −log σ(f) = "
             "softplus(−f), not −log(1 − σ(f))."),
            (-loss_ref, "−log D(G(z)) is positive: mind the minus."),
            (_softplus(-f).sum(), "the loss is the mean over the batch, not the sum."),
        ], nonfinite=NONFINITE_LOGITS, shape_hints={f.shape: "the loss is one number, the mean over the batch."})
        _compare(generator_loss_nonsaturating, "the gradient", g, g_ref, case, mistakes=[
            (-s / n, sat),
            (s / n, "G wants D to say 'real' (label 1): the gradient is (σ(f) − 1)/N."),
            ((s - 1), f"the loss is a mean, so its gradient carries 1/N: (σ(f) − 1)/N, N = {n}."),
            ((1 - s) / n, "wrong sign: raising f lowers −log σ(f), so the gradient "
             "(σ(f) − 1)/N is negative."),
            (-1 / s / n, "that is the gradient with respect to D(G(z)) = σ(f); through the "
             "sigmoid it becomes (σ(f) − 1)/N."),
        ], nonfinite=NONFINITE_LOGITS)
    _passed(generator_loss_nonsaturating, f"loss and gradient match −mean log σ(f) on "
            f"{len(cases)} cases (incl. a confident D and logits of \u00b11000).")


@_quiet
def check_modes_covered(modes_covered, seed=9):
    """Exercise 3.3: ``modes_covered(samples, centers, std) -> int``, as
    :func:`minigan.metrics.mode_metrics` counts them: each sample goes to its nearest
    centre; it is of high quality when it lies strictly within 3 std of that centre; a
    mode is covered when at least one high-quality sample goes to it.

    samples: (n, 2), centers: (K, 2), std: a number.
    """
    from .metrics import mode_metrics
    rng = np.random.default_rng(seed)
    ring = 2 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], 1)
    grid = np.array([[i, j] for i in range(-2, 3) for j in range(-2, 3)], float) * 2
    std = 0.02

    def around(centers, idx, s, scale=1.0):
        return centers[idx] + rng.standard_normal((len(idx), 2)) * s * scale

    cases = []
    cases.append(("every mode", around(ring, rng.integers(0, 8, 2000), std), ring, std))
    cases.append(("collapsed onto 3 modes", around(ring, rng.choice([0, 3, 5], 1500), std),
                  ring, std))
    # samples nearest every mode but far from all of them, plus two good modes
    far = around(ring, rng.integers(0, 8, 1000), std) * 0.8
    good = around(ring, rng.choice([1, 2], 1000), std)
    cases.append(("many samples off the modes", np.concatenate([far, good]), ring, std))
    # modes 0..3 sampled about 2 std from their centres (still high quality), 6 exactly
    idx = rng.choice([0, 1, 2, 3], 400)
    ang = rng.uniform(0, 2 * np.pi, 400)
    ring2 = ring[idx] + 2.0 * std * np.stack([np.cos(ang), np.sin(ang)], 1)
    cases.append(("samples 2 std from their modes",
                  np.concatenate([ring2, around(ring, np.full(50, 6), std, 0.3)]), ring, std))
    gstd = 0.05
    idx = rng.choice(25, 2500)
    idx = idx[idx % 3 != 0]
    cases.append(("grid25, some modes missing", around(grid, idx, gstd), grid, gstd))
    # Near the decision boundary: each mode's samples all lie at one distance r·std from it
    # (std 0.1 here), r = 1.5, 2.2, 2.6, 2.9 (high quality) and 3.1, 3.5, 4.5, 6 (not); the far
    # ones sit on the diagonals, where a per-coordinate box |dx|, |dy| < 3 std would still take
    # them. Only a threshold of 3 std on the Euclidean distance counts 4: 2 std counts 1, 15 std
    # 8, no threshold 8, a squared distance compared with 3 std (d < sqrt(0.3): 5.5 std) 7.
    std = 0.1
    radii = np.array([1.5, 2.2, 2.6, 2.9, 3.1, 3.5, 4.5, 6.0])
    diagonals = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]]) / np.sqrt(2)
    ring_samples = []
    for k, r in enumerate(radii):
        if r < 3:
            ang = rng.uniform(0, 2 * np.pi, 5)
            dirs = np.stack([np.cos(ang), np.sin(ang)], 1)
        else:
            dirs = diagonals
        ring_samples.append(ring[k] + r * std * dirs)
    cases.append(("samples at 1.5 to 6 std from their modes",
                  np.concatenate(ring_samples), ring, std))
    for case, x, c, s in cases:
        expected = int(mode_metrics(x, c, s)["modes_covered"])
        out = _call(modes_covered, {"samples": x, "centers": c, "std": s}, case,
                    readonly=("samples", "centers"))
        (got,) = _unpack(modes_covered, out, ("modes_covered",), case)
        if got.shape != ():
            raise ExerciseError(f"{_name(modes_covered)}: return one number, the count of "
                                f"covered modes; got shape {got.shape} (case '{case}').")
        got = float(got)
        if got == expected:
            continue
        d = np.linalg.norm(x[:, None, :] - c[None, :, :], axis=-1)
        nearest, dmin = d.argmin(1), d.min(1)
        hint = None
        if got == len(np.unique(nearest)):
            hint = ("you counted every mode that is the nearest centre of some sample; only "
                    "high-quality samples, within 3 std of their centre, count.")
        elif got == len(np.unique(nearest[dmin < 3])):
            hint = "measure distances in units of std: a sample counts if ||x − μ|| < 3·std."
        elif got == len(np.unique(nearest[dmin < s])):
            hint = "high quality means within 3 std of the centre, not within 1 std."
        elif got == len(np.unique(nearest[dmin ** 2 < 3 * s])):
            hint = ("compare the distance itself with 3·std, not the squared distance: "
                    "||x − μ||² < 3·std is ||x − μ|| < √(3·std), another threshold.")
        elif got == len(np.unique(nearest[np.all(np.abs(x - c[nearest]) < 3 * s, axis=1)])):
            hint = ("that is a square box, |Δx| < 3 std and |Δy| < 3 std; high quality is a "
                    "disc, the Euclidean distance ||x − μ|| < 3 std (a diagonal sample at "
                    "3.1 std is inside the box, outside the disc).")
        elif got == float((dmin < 3 * s).sum()) or got == float((dmin < 3 * s).mean()):
            hint = ("that is the number (or share) of high-quality samples; count the modes "
                    "they fall to.")
        elif got == len(c) - expected:
            hint = "that is the number of modes missed."
        elif 0 < got <= 1 and abs(got * len(c) - expected) < 1e-9:
            hint = "return the number of modes covered, not a fraction."
        raise ExerciseError(f"{_name(modes_covered)}: got {got:g} modes covered on the case "
                            f"'{case}', expected {expected}." + (f"\nHint: {hint}" if hint else ""))
    _passed(modes_covered, f"agrees with minigan.metrics.mode_metrics on {len(cases)} cases "
            "(all modes, collapse, off-mode samples, samples 2 std out, grid25, samples on "
            "both sides of 3 std).")


# --------------------------------------------------------------------------------------
# Chapter 4: convolutions by hand
# --------------------------------------------------------------------------------------

def _col2im_assign(cols, x_shape, KH, KW, stride, padding):
    """A WRONG col2im that assigns instead of adding: where windows overlap, the last
    window's value wins. (A mistake to recognise, nothing more.)"""
    N, C, H, W = x_shape
    s, p = stride, padding
    OH = (H + 2 * p - KH) // s + 1
    OW = (W + 2 * p - KW) // s + 1
    c6 = cols.reshape(C, KH, KW, N, OH, OW)
    x_pad = np.zeros((N, C, H + 2 * p, W + 2 * p))
    for i in range(KH):
        for j in range(KW):
            x_pad[:, :, i: i + s * (OH - 1) + 1: s, j: j + s * (OW - 1) + 1: s] = \
                c6[:, i, j].transpose(1, 0, 2, 3)
    return x_pad[:, :, p: p + H, p: p + W]


@_quiet
def check_conv2d_backward(conv2d_backward, seed=10):
    """Exercise 4.1: ``conv2d_backward(dy, x, W, stride, padding) -> (dx, dW, db)`` for
    y = conv(x, W) + b, NCHW, as minigan.nn.Conv2d (dilation 1).

    dy: (N, F, OH, OW), x: (N, C, H, W), W: (F, C, KH, KW); stride, padding: ints.
    Cases: batch 1, padding 0 (where a ``[p:-p]`` slice is empty), padding 2, stride 2 with
    overlapping windows, a non-square kernel, N = F (where a sum over the wrong axes keeps
    the shape), F = C·KH·KW (where a missing transpose of W keeps the shape).
    """
    from .kernels import col2im_reference, conv_output_size, im2col_reference
    from .nn.conv import Conv2d
    rng = np.random.default_rng(seed)
    #        case                                   N  C  H  W  F  KH KW s  p
    cases = [("batch 1, padding 1",                 1, 2, 5, 5, 3, 3, 3, 1, 1),
             ("padding 0",                          2, 3, 6, 5, 4, 3, 3, 1, 0),
             ("stride 2, overlapping windows",      3, 2, 7, 7, 5, 3, 3, 2, 1),
             ("padding 2, non-square kernel",       2, 3, 5, 6, 2, 3, 2, 1, 2),
             ("N = F, stride 2, odd sizes",         4, 3, 9, 7, 4, 4, 3, 2, 1),
             ("F = C·KH·KW",                        2, 1, 5, 5, 4, 2, 2, 1, 1)]
    for case, N, C, H, W_, F, KH, KW, s, p in cases:
        OH, OW = conv_output_size(H, KH, s, p), conv_output_size(W_, KW, s, p)
        x = rng.standard_normal((N, C, H, W_))
        W = rng.standard_normal((F, C, KH, KW))
        b = rng.standard_normal(F)
        dy = rng.standard_normal((N, F, OH, OW))
        layer = Conv2d(C, F, (KH, KW), stride=s, padding=p, rng=np.random.default_rng(0),
                       dtype="float64")
        layer.params["weight"][...] = W
        layer.params["bias"][...] = b
        _, cache = layer.forward(x)
        layer.zero_grad()
        dx_ref = layer.backward(dy, cache)
        dW_ref, db_ref = layer.grads["weight"].copy(), layer.grads["bias"].copy()

        # the known wrong answers, computed the way a learner would get them
        cols = im2col_reference(x, KH, KW, s, p)                       # (C·KH·KW, N·OH·OW)
        Wm = W.reshape(F, -1)
        dY = dy.transpose(1, 0, 2, 3).reshape(F, -1)
        dY_bad = dy.reshape(F, -1)                                     # F not moved first
        layout = ("dy is (N, F, OH, OW) but dY must be (F, N·OH·OW) with the columns in "
                  "im2col's order (n, oh, ow): move F to the front before flattening, "
                  "dY = dy.transpose(1, 0, 2, 3).reshape(F, -1). dy.reshape(F, -1) mixes "
                  "images and filters.")

        def c2i(dcols):
            return col2im_reference(dcols, x.shape, KH, KW, s, p)

        out = _call(conv2d_backward, {"dy": dy, "x": x, "W": W, "stride": s, "padding": p},
                    case, readonly=("dy", "x", "W"),
                    error_hint="the shapes of a product do not fit. With cols = im2col(x): "
                    "(C·KH·KW, N·OH·OW), W_mat = W.reshape(F, -1) and dY: (F, N·OH·OW), "
                    "dW_mat = dY·colsᵀ and dcols = W_matᵀ·dY. A transpose too many or too "
                    "few? (col2im also raises ValueError when its cols or its stride/padding "
                    "do not match the image.)")
        dx, dW, db = _unpack(conv2d_backward, out, ("dx", "dW", "db"), case)
        Hp, Wp = H + 2 * p, W_ + 2 * p
        dx_shape_hints = {
            (N, C, Hp, Wp): "that is the gradient of the PADDED image: crop the padding, "
                            "dx = dx_pad[:, :, p:p + H, p:p + W] (minigan's col2im, given "
                            "the padding, does it for you).",
            (N, C, 0, 0): "dx is empty: x_pad[:, :, p:-p] is empty when p = 0. Slice "
                          "p:p + H instead.",
        }
        if p > 0:
            dx_shape_hints[(N, C, H - 2 * p, W_ - 2 * p)] = (
                "you cropped the padding twice: col2im(dcols, x.shape, ..., padding=p) "
                "already returns the (N, C, H, W) gradient.")
        _compare(conv2d_backward, "dx", dx, dx_ref, case, mistakes=[
            (c2i(Wm.T @ dY_bad), layout),
            (c2i(Wm @ dY) if F == C * KH * KW else np.zeros(0),
             "dcols = W_matᵀ · dY: did you forget the transpose of W_mat? (Here F = C·KH·KW, "
             "so the shapes fit either way.)"),
            (_col2im_assign(Wm.T @ dY, x.shape, KH, KW, s, p),
             "where windows overlap, a pixel's gradient is the SUM of what every window that "
             "saw it sends back: col2im must add (+=) into dx, not assign (=)."),
            (dx_ref / N, "dx is per example: do not divide by the batch size."),
        ], shape_hints=dx_shape_hints)
        _compare(conv2d_backward, "dW", dW, dW_ref, case, mistakes=[
            ((cols @ dY.T).reshape(W.shape),
             "missing transpose: dW_mat = dY·colsᵀ has shape (F, C·KH·KW); cols·dYᵀ is its "
             "transpose, (C·KH·KW, F), and reshaping that to W's shape scrambles it."),
            ((dY_bad @ cols.T).reshape(W.shape), layout),
            (dW_ref / N, "you divided by the batch size. The layer sums over the batch; the "
             "1/N of a mean belongs to the loss."),
        ], shape_hints={(C * KH * KW, F): "dW must have W's shape (F, C, KH, KW): "
                                          "dW = (dY·colsᵀ).reshape(W.shape).",
                        (F, C * KH * KW): "reshape dW_mat to W's shape (F, C, KH, KW)."})
        _compare(conv2d_backward, "db", db, db_ref, case, mistakes=[
            (dy.mean(axis=(0, 2, 3)), "mean instead of sum: the bias of filter f is added at "
             "every (n, oh, ow), so db[f] = Σ_{n,oh,ow} dy[n, f, oh, ow]."),
            (dy.sum(axis=(1, 2, 3)), "wrong axes: db has one entry per FILTER, the sum over "
             "N, OH and OW: dy.sum(axis=(0, 2, 3)). (axis 1 is F.)"),
            (dy[0].sum(axis=(1, 2)), "sum over the batch too: db = dy.sum(axis=(0, 2, 3)), "
             "not only the first image."),
            (dy.sum(axis=(0, 2)), "db = dy.sum(axis=(0, 2, 3)): sum over OW as well."),
        ], shape_hints={
            (N, F): "sum over the batch too: db = dy.sum(axis=(0, 2, 3)), shape (F,).",
            (F, OH, OW): "the bias is added at every output pixel: sum over OH and OW too, "
                         "db = dy.sum(axis=(0, 2, 3)).",
            (F, OW): "sum over OW too: db = dy.sum(axis=(0, 2, 3)).",
            (N,): "wrong axes: db has one entry per filter, dy.sum(axis=(0, 2, 3)).",
            (): "db has one entry per filter: dy.sum(axis=(0, 2, 3)), shape (F,).",
            (1, F, 1, 1): "db must have b's shape (F,): sum without keepdims."})
    _passed(conv2d_backward, f"dx, dW and db match minigan's Conv2d on {len(cases)} cases "
            "(batch 1, padding 0 and 2, stride 2, non-square kernel, N = F).")


@_quiet
def check_conv_transpose2d_forward(conv_transpose2d_forward, seed=11):
    """Exercise 4.2: ``conv_transpose2d_forward(x, W, b, stride, padding) -> y``, as
    minigan.nn.ConvTranspose2d (output_padding 0, dilation 1): the adjoint of the
    convolution with the same weight, plus a bias.

    x: (N, C_in, H, W), W: (C_in, C_out, KH, KW) (torch's layout), b: (C_out,);
    y: (N, C_out, OH, OW), OH = (H − 1)·s − 2p + KH.
    Cases: C_in ≠ C_out (most), C_in = C_out (where swapped weight axes keep the shape),
    stride 2 kernel 4 padding 1 (a DCGAN up-sampling layer), stride larger than the kernel
    (windows that do not even touch), batch 1, non-square kernel.
    """
    from .kernels import col2im_reference
    from .nn.conv import ConvTranspose2d
    rng = np.random.default_rng(seed)
    #        case                                   N  Ci Co H  W  KH KW s  p
    cases = [("batch 1, stride 1",                  1, 2, 3, 4, 4, 3, 3, 1, 0),
             ("stride 2, kernel 4, padding 1",      2, 3, 2, 4, 3, 4, 4, 2, 1),
             ("C_in = C_out",                       2, 3, 3, 3, 4, 3, 3, 2, 1),
             ("stride 3 > kernel 2",                2, 2, 3, 3, 3, 2, 2, 3, 0),
             ("non-square kernel, padding 2",       3, 2, 4, 5, 4, 5, 3, 1, 2)]

    def convT(x, W, b, s, p):
        layer = ConvTranspose2d(W.shape[0], W.shape[1], W.shape[2:], stride=s, padding=p,
                                rng=np.random.default_rng(0), dtype="float64")
        layer.params["weight"][...] = W
        layer.params["bias"][...] = b
        return layer.forward(x)[0]

    for case, N, Ci, Co, H, W_, KH, KW, s, p in cases:
        x = rng.standard_normal((N, Ci, H, W_))
        W = rng.standard_normal((Ci, Co, KH, KW))
        b = rng.standard_normal(Co)
        y_ref = convT(x, W, b, s, p)
        OH, OW = y_ref.shape[2:]
        out = _call(conv_transpose2d_forward, {"x": x, "W": W, "b": b, "stride": s,
                                               "padding": p}, case, readonly=("x", "W", "b"),
                    error_hint="W is (C_in, C_out, KH, KW): W_mat = W.reshape(C_in, -1) is "
                    "(C_in, C_out·KH·KW), X = x as (C_in, N·H·W), cols = W_matᵀ·X is "
                    "(C_out·KH·KW, N·H·W), and col2im(cols, (N, C_out, OH, OW), KH, KW, "
                    "stride, padding) scatters it onto the output. Are the shapes, the "
                    "output size OH = (H − 1)·s − 2p + KH, or the weight layout off?")
        (y,) = _unpack(conv_transpose2d_forward, out, ("y",), case)
        # wrong answers a learner would plausibly get
        X = x.transpose(1, 0, 2, 3).reshape(Ci, -1)
        cols = W.reshape(Ci, -1).T @ X
        b_in_cols = col2im_reference(cols + np.repeat(b, KH * KW)[:, None], (N, Co, OH, OW),
                                     KH, KW, s, p)
        mistakes = [
            (y_ref - b[None, :, None, None], "the bias is missing: add b[c_out] to every "
             "output pixel, y += b[None, :, None, None]."),
            (y_ref + b[None, :, None, None], "the bias is added twice."),
            (b_in_cols, "add the bias after col2im, once per output pixel. Added to the "
             "columns, it is summed once for every window that covers a pixel."),
            (convT(x, W[:, :, ::-1, ::-1], b, s, p), "do not flip the kernel: the adjoint of "
             "a cross-correlation scatters W itself, y[.., ih·s + i − p, iw·s + j − p] += "
             "x[.., ih, iw]·W[.., i, j]. (The flip belongs to the 'insert zeros, then "
             "convolve' picture.)"),
        ]
        if Ci == Co:
            mistakes.append((convT(x, W.transpose(1, 0, 2, 3), b, s, p),
                             "the weight axes are swapped: a transposed convolution's weight "
                             "is (C_in, C_out, KH, KW), input channels FIRST (torch's "
                             "layout, the same array as the Conv2d(C_out, C_in) it is the "
                             "adjoint of): W_mat = W.reshape(C_in, -1)."))
        shape_hints = {
            (N, Co, OH + 2 * p, OW + 2 * p): "crop the padding: OH = (H − 1)·s − 2p + KH. "
                                             "col2im given the padding does it for you.",
            (N, Co, (H - 1) * s + 2 * p + KH, (W_ - 1) * s + 2 * p + KW):
                "padding makes a transposed convolution's output SMALLER: "
                "OH = (H − 1)·s − 2p + KH.",
            (N, Ci, OH, OW) if Ci != Co else None: "the output has C_out channels: "
                                                   "W is (C_in, C_out, KH, KW).",
        }
        if s > 1:
            shape_hints[(N, Co, H - 1 - 2 * p + KH, W_ - 1 - 2 * p + KW)] = (
                "the stride is missing: the output is about s times larger than the input, "
                "OH = (H − 1)·s − 2p + KH, and col2im must be given the stride.")
        shape_hints.pop(None, None)
        _compare(conv_transpose2d_forward, "y", y, y_ref, case, mistakes=mistakes,
                 shape_hints=shape_hints)
    _passed(conv_transpose2d_forward, f"y matches minigan's ConvTranspose2d on {len(cases)} "
            "cases (stride 1 to 3, padding 0 to 2, C_in = C_out, batch 1).")


@_quiet
def check_batchnorm_backward(batchnorm_backward, seed=12):
    """Exercise 4.3: ``batchnorm_backward(dy, x, gamma, eps) -> (dx, dgamma, dbeta)`` for
    BatchNorm2d in training mode, y = γ·x̂ + β with x̂ = (x − μ)/√(var + eps), μ and the
    BIASED var per channel over N, H and W.

    dy, x: (N, C, H, W); gamma: (C,). Cases: batch 1 (statistics over H·W only), odd
    sizes, N = C (where sums over the wrong axis keep some shapes), H = W = 1 (the
    BatchNorm1d case), a large eps with a small variance (where forgetting eps shows).
    """
    from .nn.norm import BatchNorm2d
    rng = np.random.default_rng(seed)
    #        case                              N  C  H  W  eps   x scale
    cases = [("batch 1",                       1, 3, 4, 5, 1e-5, 2.0),
             ("odd sizes",                     5, 2, 3, 3, 1e-5, 1.5),
             ("N = C",                         4, 4, 2, 3, 1e-5, 3.0),
             ("H = W = 1",                     7, 3, 1, 1, 1e-5, 1.0),
             ("large eps, small variance",     3, 2, 3, 2, 0.1,  0.3)]
    for case, N, C, H, W_, eps, scale in cases:
        x = rng.standard_normal((1, C, 1, 1)) * 2 + scale * rng.standard_normal((N, C, H, W_))
        gamma = rng.uniform(0.5, 2.0, C) * rng.choice([-1, 1], C)
        beta = rng.standard_normal(C)
        dy = rng.standard_normal((N, C, H, W_)) + rng.standard_normal((1, C, 1, 1))
        layer = BatchNorm2d(C, eps=eps, dtype="float64")
        layer.params["weight"][...] = gamma
        layer.params["bias"][...] = beta
        layer.train()
        _, cache = layer.forward(x)
        layer.zero_grad()
        dx_ref = layer.backward(dy, cache)
        dg_ref, db_ref = layer.grads["weight"].copy(), layer.grads["bias"].copy()

        # the known wrong answers
        ax = (0, 2, 3)
        g = gamma.reshape(1, C, 1, 1)
        M = N * H * W_

        def parts(axes=ax, var_div=M):
            """x̂ and σ with the statistics over ``axes``, the variance's sum divided by var_div."""
            mu = x.mean(axis=axes, keepdims=True)
            sig = np.sqrt(((x - mu) ** 2).sum(axis=axes, keepdims=True) / var_div + eps)
            return (x - mu) / sig, sig

        xh, sig = parts()
        Sdy = dy.sum(ax, keepdims=True)

        def compact(xh_, sig_, Mm, axes=ax, gam=g):
            S1 = dy.sum(axes, keepdims=True)
            S2 = (dy * xh_).sum(axes, keepdims=True)
            return gam / sig_ / Mm * (Mm * dy - S1 - xh_ * S2)

        xh_u, sig_u = parts(var_div=M - 1)
        unbiased = ("batch norm normalises with the BIASED variance, var = mean((x − μ)²) "
                    "= Σ(x − μ)²/M, not Σ/(M − 1) (torch uses M − 1 only for the running "
                    "estimate).")
        xh_1, sig_1 = parts(axes=(0,), var_div=N)
        xh_s, sig_s = parts(axes=(1, 2, 3), var_div=C * H * W_)
        no_eps_sig = np.sqrt(((x - x.mean(ax, keepdims=True)) ** 2).mean(ax, keepdims=True))
        no_eps_xh = (x - x.mean(ax, keepdims=True)) / no_eps_sig
        out_sig = no_eps_sig + eps                     # the near miss: √var + eps
        out_xh = (x - x.mean(ax, keepdims=True)) / out_sig
        eps_outside = ("σ = √(var + eps): eps goes inside the square root, not after it "
                       "(√var + eps is a near miss, off by about eps/(2σ²)·σ, but wrong).")
        wrong_axes = ("BatchNorm2d has one μ and σ per CHANNEL, over the batch and every "
                      "pixel: sums over axes (0, 2, 3), M = N·H·W values each.")
        out = _call(batchnorm_backward, {"dy": dy, "x": x, "gamma": gamma, "eps": eps},
                    case, readonly=("dy", "x", "gamma"),
                    error_hint="the statistics are per channel: reduce over axes (0, 2, 3) "
                    "with keepdims=True (shape (1, C, 1, 1)) so that they broadcast against "
                    "(N, C, H, W), and reshape γ to (1, C, 1, 1).")
        dx, dg, db = _unpack(batchnorm_backward, out, ("dx", "dgamma", "dbeta"), case)
        _compare(batchnorm_backward, "dx", dx, dx_ref, case, mistakes=[
            (g / sig * dy, "μ and σ depend on x too: treating them as constants gives "
             "dx = γ/σ·dy, the eval-mode gradient. In training mode "
             "dx = (1/M)·γ/σ·(M·dy − Σdy − x̂·Σ(dy·x̂))."),
            (g / sig * (dy - Sdy / M), "σ depends on x too: the term −x̂·Σ(dy·x̂)/M is "
             "missing."),
            (g / sig * (dy - xh * (dy * xh).sum(ax, keepdims=True) / M), "μ depends on x "
             "too: the term −Σdy/M is missing."),
            (compact(xh, sig, M, gam=1.0), "γ is missing: y = γ·x̂ + β, so dx̂ = γ·dy."),
            (compact(xh_u, sig_u, M), unbiased),
            (g / sig / M * (M * dy - Sdy - xh * (dy * xh).sum(ax, keepdims=True) * M / (M - 1))
             if M > 1 else np.zeros(0), unbiased),
            (compact(xh_1, sig_1, N, axes=(0,)), wrong_axes),
            (compact(xh_s, sig_s, C * H * W_, axes=(1, 2, 3)), wrong_axes + " (Sums over "
             "axes (1, 2, 3) are layer norm's.)"),
            (compact(xh, sig, N), "M is the number of values per channel, N·H·W, not the "
             "batch size N."),
            (compact(no_eps_xh, no_eps_sig, M), "σ = √(var + eps): eps belongs inside the "
             "square root, in the forward pass and so in the backward pass."),
            (compact(out_xh, out_sig, M), eps_outside),
            (-compact(xh, sig, M), "it is the right answer with the wrong sign."),
        ], nonfinite="σ = √(var + eps) never vanishes: is eps missing, or do you divide by a "
                     "sum that can be 0?")
        _compare(batchnorm_backward, "dgamma", dg, dg_ref, case, mistakes=[
            (db_ref, "dγ = Σ dy·x̂ (γ multiplies x̂); Σ dy is dβ."),
            ((dy * x).sum(ax), "dγ = Σ dy·x̂, with the NORMALISED x̂ = (x − μ)/σ, not x."),
            ((dy * xh_u).sum(ax) if M > 1 else np.zeros(0), unbiased),
            ((dy * no_eps_xh).sum(ax), "x̂ = (x − μ)/√(var + eps): eps inside the root."),
            ((dy * out_xh).sum(ax), eps_outside),
            ((dy * xh).mean(ax), "a sum, not a mean: γ[c] is used at all M = N·H·W "
             "positions of channel c, so dγ[c] = Σ dy·x̂ over them."),
        ], shape_hints={(C, H, W_): wrong_axes, (1, C, 1, 1): "dgamma must have γ's shape "
                        "(C,): sum without keepdims (or reshape)."})
        _compare(batchnorm_backward, "dbeta", db, db_ref, case, mistakes=[
            (dg_ref, "dβ = Σ dy (β is added to every value); Σ dy·x̂ is dγ."),
            (dy.mean(ax), "a sum, not a mean: dβ[c] = Σ dy over N, H and W."),
            ((g * dy).sum(ax).ravel(), "dβ = Σ dy, without γ: y = γ·x̂ + β."),
        ], shape_hints={(C, H, W_): wrong_axes, (1, C, 1, 1): "dbeta must have β's shape "
                        "(C,): sum without keepdims (or reshape)."})
    _passed(batchnorm_backward, f"dx, dgamma and dbeta match minigan's BatchNorm2d (training "
            f"mode) on {len(cases)} cases (batch 1, N = C, H = W = 1, large eps).")
