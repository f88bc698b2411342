"""Checks for the exercises of chapter 7 (Wasserstein GANs), in the manner of :mod:`minigan.exercises`.

Each ``check_*`` runs the learner's function on several float64 cases (batch 1, odd sizes,
N = D so that a sum over the wrong axis keeps the shape, random non-zero upstream gradients
and tangents), compares it with minigan's own answer, and either prints one pass line or
raises :class:`~minigan.exercises.ExerciseError` saying which output is wrong and, where the
wrong answer looks like a known mistake, a hint. ``NotImplementedError`` raised by an
unfinished exercise propagates unchanged.

The first three exercises are the pieces of the gradient penalty's parameter gradient
(``minigan.nn.penalty``, ``minigan.nn.jvp``; notebook 07, section 4), the fourth puts them
together into the gradient of one whole WGAN-GP critic loss:

=====================================  ==========  ==============================================
check                                  exercise    the learner writes
=====================================  ==========  ==============================================
check_penalty_dg                       7.1         penalty_dg(g, lam) -> (P, v = ∂P/∂g)
check_tanh_jvp_backward                7.2         tanh_jvp_backward(dy, dydot, x, xdot) -> (dx, dxdot)
check_linear_jvp_backward              7.3         linear_jvp_backward(dy, dydot, x, xdot, W)
                                                   -> (dx, dxdot, dW, db)
check_critic_step                      7.4         critic_step(real, fake, eps, W1, b1, W2, b2,
                                                   lam) -> (loss, dW1, db1, dW2, db2)
=====================================  ==========  ==============================================
"""
from __future__ import annotations

import numpy as np

from .checker import by_hand, ExerciseError, _call, _compare, _name, _passed, _quiet, _unpack

__all__ = ["check_penalty_dg", "check_tanh_jvp_backward", "check_linear_jvp_backward",
           "check_critic_step"]


# --------------------------------------------------------------------------------------
# Exercise 7.1: the penalty as a function of the input gradient, and ∂P/∂g
# --------------------------------------------------------------------------------------

def _penalty_reference(g, lam):
    """minigan.nn.penalty's formulas, on g itself: P = λ·mean_n(‖g_n‖ − 1)², v = ∂P/∂g
    = (2λ/N)(‖g_n‖ − 1)·g_n/‖g_n‖ (0 for a row g_n = 0)."""
    N = g.shape[0]
    norm = np.sqrt((g * g).sum(axis=1, keepdims=True))
    P = lam * float(np.mean((norm - 1) ** 2))
    safe = np.where(norm > 0, norm, 1.0)
    v = (2 * lam / N) * (norm - 1) / safe * g
    return P, v


def _penalty_cases(rng):
    """(case, g (N, D), λ): norms on both sides of 1; N = D; batch 1; a zero row last."""
    def rows(N, D, scales):
        u = rng.standard_normal((N, D))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        return u * np.asarray(scales, dtype=np.float64)[:, None]

    zero_row = rows(4, 3, [0.4, 1.7, 0.9, 1.0])
    zero_row[2] = 0.0
    return [
        ("batch 1, ‖g‖ = 2.3", rows(1, 2, [2.3]), 10.0),
        ("N = 5, D = 2, norms on both sides of 1", rows(5, 2, [0.2, 0.7, 1.3, 2.5, 0.95]), 10.0),
        ("N = D = 4, λ = 3", rows(4, 4, [1.6, 0.5, 3.0, 0.8]), 3.0),
        ("N = 6, D = 3, λ = 0.5", rows(6, 3, rng.uniform(0.1, 3.0, 6)), 0.5),
        ("a row of g is exactly 0 (a flat critic there)", zero_row, 10.0),
    ]


@by_hand("7.1")
@_quiet
def check_penalty_dg(penalty_dg, seed=70):
    """Exercise 7.1: ``penalty_dg(g, lam) -> (P, v)``: for the input gradients g (N, D), one
    row per sample, P = λ·(1/N)·Σ_n (‖g_n‖ − 1)² (a float) and v = ∂P/∂g (N, D), with v_n = 0
    where g_n = 0 (the norm has no gradient there; minigan.nn.penalty's choice).
    """
    fn = penalty_dg
    rng = np.random.default_rng(seed)
    cases = _penalty_cases(rng)
    for case, g, lam in cases:
        N, D = g.shape
        P_ref, v_ref = _penalty_reference(g, lam)
        out = _call(fn, {"g": g, "lam": lam}, case, readonly=("g",),
                    error_hint="the N norms of the rows, shape (N,), do not broadcast against g "
                    "(N, D): keep the summed axis, keepdims=True on the norm (or norm[:, None]).")
        P, v = _unpack(fn, out, ("P", "v"), case)
        norm = np.sqrt((g * g).sum(axis=1, keepdims=True))
        norm0 = np.sqrt((g * g).sum(axis=0, keepdims=True))
        _compare(fn, "P", P, P_ref, case, mistakes=[
            (lam * float(np.sum((norm - 1) ** 2)), "P is a mean over the batch: "
             "λ·(1/N)·Σ_n (‖g_n‖ − 1)², not a sum."),
            (float(np.mean((norm - 1) ** 2)), "multiply by λ."),
            (lam * float(np.mean((norm ** 2 - 1) ** 2)), "the penalty is on the norm ‖g_n‖, not "
             "on its square: (‖g_n‖ − 1)², with ‖g_n‖ = sqrt(Σ_d g_nd²)."),
            (lam * float(np.mean((np.abs(g) - 1) ** 2)), "take the norm of each ROW g_n (one "
             "per sample, over its D coordinates) before subtracting 1, not |g| entry by entry."),
            (lam * float(np.mean((norm0 - 1) ** 2)), "the norm of each sample is over its "
             "coordinates, axis=1: one norm per row, not per column."),
            (lam * float(np.mean(norm - 1) ** 2), "square each sample's (‖g_n‖ − 1) before "
             "taking the mean, not the mean."),
        ], shape_hints={(N,): "P is one number, the mean over the batch.",
                        (N, 1): "P is one number, the mean over the batch."})
        if case.startswith("a row of g is exactly 0") and not np.all(np.isfinite(v)):
            raise ExerciseError(
                f"{_name(fn)}: v contains nan or inf on the case '{case}', where row 2 of g "
                "is exactly 0 (a critic that is flat at that point).\nHint: g_n/‖g_n‖ is 0/0 "
                "there; the norm has no gradient at 0: return 0 for that row, e.g. divide by "
                "np.where(norm > 0, norm, 1).")
        _compare(fn, "v = ∂P/∂g", v, v_ref, case, mistakes=[
            (v_ref * N, "P is a mean over the N samples, so each v_n carries 1/N: "
             "v_n = (2λ/N)·(‖g_n‖ − 1)·g_n/‖g_n‖. Did you forget the 1/m (1/N)?"),
            ((2 * lam / N) * (norm - 1) * g, "chain rule through the norm: ∂‖g_n‖/∂g_n = "
             "g_n/‖g_n‖ (a unit vector), not g_n: divide by ‖g_n‖."),
            ((2 * lam / N) * (norm - 1) * np.ones_like(g), "chain rule through the norm: "
             "∂P/∂g_n = ∂P/∂‖g_n‖ · ∂‖g_n‖/∂g_n, and ∂‖g_n‖/∂g_n = g_n/‖g_n‖."),
            ((2 * lam / N) * (norm - 1) * g * 2, "∂‖g_n‖/∂g_n = g_n/‖g_n‖; 2g_n is the "
             "derivative of ‖g_n‖², not of ‖g_n‖."),
            (-v_ref, "wrong sign: ∂(‖g‖ − 1)²/∂‖g‖ = 2(‖g‖ − 1), which is positive when "
             "‖g‖ > 1 (the penalty pushes the norm down there)."),
            (v_ref / 2, "the derivative of (‖g‖ − 1)² is 2(‖g‖ − 1): a factor 2 is missing."),
            (v_ref / lam, "multiply by λ."),
            ((2 * lam / N) * (norm ** 2 - 1) * 2 * g, "that is the gradient of "
             "λ·mean(‖g_n‖² − 1)²; the penalty is on ‖g_n‖, not on its square."),
            ((2 * lam / (N * D)) * (np.abs(g) - 1) * np.sign(g), "take the norm of each row "
             "g_n, then differentiate (‖g_n‖ − 1)² through it: v_n = (2λ/N)(‖g_n‖ − 1) g_n/‖g_n‖."),
            ((2 * lam / N) * (norm0 - 1) * g / np.where(norm0 > 0, norm0, 1.0),
             "the norm of each sample is over its coordinates, axis=1 (keepdims=True so that "
             "it broadcasts over the row), not over the batch."),
            ((2 * lam / N) * (norm.T - 1) * g / np.where(norm.T > 0, norm.T, 1.0)
             if N == D else np.zeros(0),
             "keepdims=True on the norm: without it the N norms, shape (N,), broadcast along "
             "the ROWS of g (N, D), so that column d is scaled by the norm of row d (with N = D "
             "this runs without an error)."),
        ], shape_hints={(N, 1): "v has g's shape (N, D): the scalar 2λ(‖g_n‖ − 1)/N times "
                                "the unit vector g_n/‖g_n‖.",
                        (N,): "v has g's shape (N, D): the scalar 2λ(‖g_n‖ − 1)/N times the "
                              "unit vector g_n/‖g_n‖ (keepdims=True on the norm)."},
            nonfinite="g_n/‖g_n‖ is 0/0 for a row g_n = 0: return 0 there, e.g. divide by "
                      "np.where(norm > 0, norm, 1).")
    _passed(fn, f"P and v = ∂P/∂g match minigan.nn.penalty on {len(cases)} cases (batch 1, "
            "N = D, norms on both sides of 1, a zero row).")


# --------------------------------------------------------------------------------------
# Exercise 7.2: the backward pass of tanh's tangent pass
# --------------------------------------------------------------------------------------

def _tanh_jvp_reference(dy, dydot, x, xdot):
    """minigan's Tanh.backward_jvp, run on (x, ẋ)."""
    from ..nn.layers import Tanh
    layer = Tanh()
    _, _, cache = layer.forward_jvp(x, xdot)
    return layer.backward_jvp(dy, dydot, cache)


@by_hand("7.2")
@_quiet
def check_tanh_jvp_backward(tanh_jvp_backward, seed=71):
    """Exercise 7.2: ``tanh_jvp_backward(dy, dydot, x, xdot) -> (dx, dxdot)``, the backward
    pass of y = tanh(x), ẏ = tanh'(x)·ẋ (elementwise): the adjoints (dx, dẋ) of the inputs
    given those of the outputs, dy and dẏ. All arrays have the same shape.
    """
    fn = tanh_jvp_backward
    rng = np.random.default_rng(seed)
    cases = [("batch 1", (1, 4), 1.5), ("odd sizes", (5, 3), 1.5),
             ("square", (4, 4), 2.0), ("near 0 and in the tails", (3, 7), 3.0),
             ("dy = 0 (the top of the critic)", (6, 2), 1.2)]
    for case, shape, scale in cases:
        x = rng.standard_normal(shape) * scale
        xdot = rng.standard_normal(shape)
        dy = np.zeros(shape) if case.startswith("dy = 0") else rng.standard_normal(shape)
        dydot = rng.standard_normal(shape)
        dx_ref, dxdot_ref = _tanh_jvp_reference(dy, dydot, x, xdot)
        out = _call(fn, {"dy": dy, "dydot": dydot, "x": x, "xdot": xdot}, case,
                    readonly=("dy", "dydot", "x", "xdot"))
        dx, dxdot = _unpack(fn, out, ("dx", "dxdot"), case)
        t = np.tanh(x)
        d1 = 1 - t * t
        d2 = -2 * t * d1
        missing = "the second-order term σ''(x)·ẋ·dẏ is missing: ẏ = σ'(x)·ẋ depends on x through σ'"
        _compare(fn, "dx", dx, dx_ref, case, mistakes=[
            (d1 * dy, missing + ", so dx = σ'(x)·dy + σ''(x)·ẋ·dẏ, with tanh'' = −2 tanh(1 − tanh²)."),
            (d1 * dy - d2 * xdot * dydot, "tanh''(x) = −2 tanh(x)(1 − tanh²(x)): check the sign "
             "of the second-order term."),
            (d1 * dy - 2 * t * xdot * dydot, "tanh''(x) = d/dx (1 − tanh²x) = −2 tanh(x)·tanh'(x) "
             "= −2 tanh(x)(1 − tanh²(x)): the factor (1 − tanh²) is missing."),
            (d1 * dy + d2 * dydot, "the second-order term is σ''(x)·ẋ·dẏ: multiply by the "
             "tangent ẋ too."),
            (d1 * dy + d2 * xdot, "the second-order term is σ''(x)·ẋ·dẏ: multiply by dẏ too."),
            (d1 * dy + d2 * xdot * dy, "the second-order term comes from ẏ, so it carries ẏ's "
             "adjoint dẏ (dydot), not dy."),
            (d1 * dydot + d2 * xdot * dydot, "the first-order term of dx comes from y = tanh(x): "
             "it is σ'(x)·dy, with y's adjoint dy."),
            (dxdot_ref, "that is dẋ: dx is σ'(x)·dy + σ''(x)·ẋ·dẏ (did you swap the two outputs?)"),
            ((1 - x * x) * dy + (-2 * x * (1 - x * x)) * xdot * dydot, "write the derivatives "
             "in terms of tanh(x): σ' = 1 − tanh²(x), not 1 − x²."),
        ])
        _compare(fn, "dxdot", dxdot, dxdot_ref, case, mistakes=[
            (d1 * dy, "ẋ reaches the output only through ẏ = σ'(x)·ẋ: dẋ = σ'(x)·dẏ, with "
             "ẏ's adjoint dẏ, not dy."),
            (dydot, "dẋ = σ'(x)·dẏ: the factor σ'(x) = 1 − tanh²(x) is missing."),
            (d1 * dydot + d2 * xdot * dydot, "dẋ has no second-order term: ẏ is linear in ẋ, "
             "so dẋ = σ'(x)·dẏ."),
            (d1 * dy + d2 * xdot * dydot, "that is dx: dẋ = σ'(x)·dẏ (did you swap the two "
             "outputs?)"),
            ((1 - x * x) * dydot, "σ' = 1 − tanh²(x), not 1 − x²."),
        ])
    _passed(fn, f"dx and dẋ match minigan's Tanh.backward_jvp on {len(cases)} cases "
            "(batch 1, odd sizes, dy = 0).")


# --------------------------------------------------------------------------------------
# Exercise 7.3: the backward pass of a linear layer's tangent pass
# --------------------------------------------------------------------------------------

def _linear_jvp_reference(dy, dydot, x, xdot, W, b):
    """minigan's Linear.backward_jvp: (dx, dẋ, dW, db)."""
    from ..nn.layers import Linear
    M, D = W.shape
    layer = Linear(D, M, rng=np.random.default_rng(0), dtype="float64")
    layer.params["weight"][...] = W
    layer.params["bias"][...] = b
    _, _, cache = layer.forward_jvp(x, xdot)
    layer.zero_grad()
    dx, dxdot = layer.backward_jvp(dy, dydot, cache)
    return dx, dxdot, layer.grads["weight"].copy(), layer.grads["bias"].copy()


@by_hand("7.3")
@_quiet
def check_linear_jvp_backward(linear_jvp_backward, seed=72):
    """Exercise 7.3: ``linear_jvp_backward(dy, dydot, x, xdot, W) -> (dx, dxdot, dW, db)``,
    the backward pass of y = x Wᵀ + b, ẏ = ẋ Wᵀ. dy, dydot: (N, M); x, xdot: (N, D); W: (M, D).
    Cases: batch 1, odd sizes, a square W (where a transpose keeps the shape), N = M.
    """
    fn = linear_jvp_backward
    rng = np.random.default_rng(seed)
    cases = [("batch 1", 1, 3, 5), ("odd sizes", 7, 5, 3), ("square W", 4, 6, 6),
             ("N = M", 6, 3, 6), ("N = D = M", 5, 5, 5)]
    for case, N, D, M in cases:
        x, xdot = rng.standard_normal((N, D)), rng.standard_normal((N, D))
        W, b = rng.standard_normal((M, D)), rng.standard_normal(M)
        dy, dydot = rng.standard_normal((N, M)), rng.standard_normal((N, M))
        dx_ref, dxdot_ref, dW_ref, db_ref = _linear_jvp_reference(dy, dydot, x, xdot, W, b)
        out = _call(fn, {"dy": dy, "dydot": dydot, "x": x, "xdot": xdot, "W": W}, case,
                    readonly=("dy", "dydot", "x", "xdot", "W"),
                    error_hint="the shapes of a product do not fit: dx = dy W is (N, M)·(M, D), "
                    "dW = dyᵀ x + dẏᵀ ẋ is (M, N)·(N, D). A transpose too many or too few?")
        dx, dxdot, dW, db = _unpack(fn, out, ("dx", "dxdot", "dW", "db"), case)
        square = M == D
        _compare(fn, "dx", dx, dx_ref, case, mistakes=[
            (dy @ W + dydot @ W, "ẏ = ẋ Wᵀ does not depend on x: dx = dy W only (dẏ goes to "
             "dẋ and to dW)."),
            (dydot @ W, "dx comes from y = x Wᵀ + b, so it is y's adjoint times W: dx = dy W, "
             "not dẏ W (did you swap dx and dẋ?)"),
            (dy @ W.T if square else np.zeros(0), "dx = dy W, without a transpose: y = x Wᵀ."),
            (dy @ W / N, "dx is per example: do not divide by the batch size."),
        ], shape_hints={(N, M): "dx must have the shape of x, (N, D): dx = dy W."})
        _compare(fn, "dxdot", dxdot, dxdot_ref, case, mistakes=[
            (dy @ W, "dẋ comes from ẏ = ẋ Wᵀ, so it is ẏ's adjoint times W: dẋ = dẏ W, not "
             "dy W (did you swap dx and dẋ?)"),
            (dy @ W + dydot @ W, "y = x Wᵀ + b does not depend on ẋ: dẋ = dẏ W only."),
            (dydot @ W.T if square else np.zeros(0), "dẋ = dẏ W, without a transpose: ẏ = ẋ Wᵀ."),
            (dydot, "dẋ = dẏ W: the tangent goes through the same matrix as x."),
        ], shape_hints={(N, M): "dẋ must have the shape of ẋ, (N, D): dẋ = dẏ W."})
        _compare(fn, "dW", dW, dW_ref, case, mistakes=[
            (dy.T @ x, "W appears in both outputs, y = x Wᵀ + b and ẏ = ẋ Wᵀ, so dW collects "
             "from both: dW = dyᵀ x + dẏᵀ ẋ. You forgot the tangent's term dẏᵀ ẋ."),
            (dydot.T @ xdot, "W appears in both outputs: dW = dyᵀ x + dẏᵀ ẋ. You have only "
             "the tangent's term; add the ordinary dyᵀ x."),
            (dy.T @ x + dydot.T @ x, "the tangent's term pairs ẏ's adjoint with ẋ, the input "
             "of ẏ = ẋ Wᵀ: dẏᵀ ẋ, not dẏᵀ x."),
            (dy.T @ xdot + dydot.T @ x, "pair each output with its own input: dyᵀ x (from "
             "y = x Wᵀ) + dẏᵀ ẋ (from ẏ = ẋ Wᵀ)."),
            (dy.T @ x + dy.T @ xdot, "the tangent's term carries ẏ's adjoint: dẏᵀ ẋ, not dyᵀ ẋ."),
            ((x.T @ dy + xdot.T @ dydot) if square else np.zeros(0), "did you forget a "
             "transpose? dW has W's shape (M, D): dW = dyᵀ x + dẏᵀ ẋ."),
            (dW_ref / N, "the layer sums over the batch: do not divide by N."),
        ], shape_hints={(D, M): "did you forget a transpose? dW must have W's shape (M, D): "
                                "dW = dyᵀ x + dẏᵀ ẋ."})
        _compare(fn, "db", db, db_ref, case, mistakes=[
            (dy.sum(0) + dydot.sum(0), "ẏ = ẋ Wᵀ has no bias (b does not move with x), so dẏ "
             "contributes nothing to db: db = Σ_n dy_n only."),
            (dydot.sum(0), "the bias is in y = x Wᵀ + b, not in ẏ: db = Σ_n dy_n, with y's "
             "adjoint dy."),
            (dy.mean(0), "mean instead of sum: db = dy.sum(axis=0)."),
            (dy.sum(1), "wrong axis: sum over the batch (axis 0), one entry per output feature."),
        ], shape_hints={(N, M): "sum over the batch: db = dy.sum(axis=0), shape (M,).",
                        (): "db has one entry per output feature: sum over axis 0 only."})
    _passed(fn, f"dx, dẋ, dW and db match minigan's Linear.backward_jvp on {len(cases)} cases "
            "(batch 1, odd sizes, square W, N = M).")


# --------------------------------------------------------------------------------------
# Exercise 7.4: the gradient of one whole WGAN-GP critic loss
# --------------------------------------------------------------------------------------

class _FixedEps:
    """A stand-in for a random Generator whose ``random`` returns the given ε: the library's
    gradient_penalty, on the learner's interpolates."""

    def __init__(self, eps):
        self.eps = eps

    def random(self, shape):
        return np.asarray(self.eps, dtype=np.float64).reshape(shape)


def _critic_step_reference(real, fake, eps, W1, b1, W2, b2, lam):
    """minigan's: the critic Linear -> Tanh -> Linear, its Wasserstein loss backward, and
    minigan.nn.penalty.gradient_penalty at x̂ = ε·real + (1 − ε)·fake."""
    from ..nn import Linear, Sequential, Tanh
    from ..nn.penalty import gradient_penalty
    H, D = W1.shape
    critic = Sequential(Linear(D, H, rng=np.random.default_rng(0), dtype="float64"), Tanh(),
                        Linear(H, 1, rng=np.random.default_rng(0), dtype="float64"))
    for name, value in (("0.weight", W1), ("0.bias", b1), ("2.weight", W2), ("2.bias", b2)):
        critic.params[name][...] = value
    critic.zero_grad()
    N = real.shape[0]
    s_real, c_real = critic.forward(real)
    s_fake, c_fake = critic.forward(fake)
    critic.backward(np.full_like(s_real, -1.0 / N), c_real)
    critic.backward(np.full_like(s_fake, 1.0 / N), c_fake)
    P, _ = gradient_penalty(critic, real, fake, _FixedEps(eps), lam=lam)
    loss = float(s_fake.mean() - s_real.mean()) + P
    g = critic.grads
    return loss, g["0.weight"].copy(), g["0.bias"].copy(), g["2.weight"].copy(), g["2.bias"].copy()


def _critic_step_by_hand(real, fake, eps, W1, b1, W2, b2, lam, bad=()):
    """The same in NumPy, step by step; ``bad``: the known mistakes to make (for the hints)."""
    N = real.shape[0]
    dW1, db1 = np.zeros_like(W1), np.zeros_like(b1)
    dW2, db2 = np.zeros_like(W2), np.zeros_like(b2)
    sign = -1.0 if "W signs" in bad else 1.0
    scale = 1.0 if "W sum" in bad else 1.0 / N
    w_term = 0.0
    for x, ds_value in ((real, -sign * scale), (fake, sign * scale)):
        t = np.tanh(x @ W1.T + b1)
        s = t @ W2.T + b2
        w_term += ds_value / scale / N * float(s.sum())      # −mean f(real) + mean f(fake)
        ds = np.full((N, 1), ds_value)
        dW2 += ds.T @ t
        db2 += ds.sum(0)
        da = (ds @ W2) * (1 - t * t)
        dW1 += da.T @ x
        db1 += da.sum(0)
    if "no penalty" in bad:
        return (w_term, dW1, db1, dW2, db2)
    if "at real" in bad:
        x_hat = real.copy()
    elif "at fake" in bad:
        x_hat = fake.copy()
    elif "eps swapped" in bad:
        x_hat = eps * fake + (1 - eps) * real
    else:
        x_hat = eps * real + (1 - eps) * fake
    a = x_hat @ W1.T + b1
    t = np.tanh(a)
    d1, d2 = 1 - t * t, -2 * t * (1 - t * t)
    g = ((np.ones((N, 1)) @ W2) * d1) @ W1                                   # ∇ₓ f(x̂): (N, D)
    norm = np.sqrt((g * g).sum(axis=1, keepdims=True))
    P = lam * float(np.mean((norm - 1) ** 2))
    v = (2 * lam / N) * (norm - 1) * g / np.where(norm > 0, norm, 1.0)
    if "v without 1/N" in bad:
        v = v * N
    a_dot = v @ W1.T                                                         # the tangent pass
    t_dot = d1 * a_dot
    ds = np.ones((N, 1)) if "seed dy 1" in bad else np.zeros((N, 1))          # (dy, dẏ) = (0, 1)
    ds_dot = np.ones((N, 1))
    dt, dt_dot = ds @ W2, ds_dot @ W2                                        # Linear 2
    dW2 += ds.T @ t + ds_dot.T @ t_dot
    db2 += ds.sum(0) + (ds_dot.sum(0) if "b2 in the tangent" in bad else 0)
    da = d1 * dt + (0 if "no sigma''" in bad else d2 * a_dot * dt_dot)       # Tanh
    da_dot = d1 * dt_dot
    dW1 += da.T @ x_hat + (0 if "no tangent term in dW1" in bad else da_dot.T @ v)   # Linear 1
    db1 += da.sum(0)
    return (w_term + P, dW1, db1, dW2, db2)


_CRITIC_HINTS = {
    "no sigma''": "the second-order term of tanh is missing: in the tangent pass's backward, "
                  "dx = σ'(x)·dy + σ''(x)·ẋ·dẏ (exercise 7.2), and here dy = 0 at the top, so "
                  "the penalty's whole gradient to W1 and b1 through the pre-activations comes "
                  "from σ''.",
    "seed dy 1": "the tangent pass's backward is seeded with (dy, dẏ) = (0, 1): the penalty "
                 "depends on ṡ = ⟨v, ∇ₓS⟩, not on the critic's value S itself (seeding dy = 1 "
                 "adds ∇θ Σ f(x̂), which is not part of the loss).",
    "W signs": "the critic MINIMISES L = mean f(fake) − mean f(real) + P: the scores' "
               "gradients are +1/N for the fakes and −1/N for the real samples.",
    "W sum": "L = mean f(fake) − mean f(real) + P: means over the batch, so each score's "
             "gradient is ±1/N, not ±1.",
    "at real": "the penalty is taken at the interpolates x̂ = ε·real + (1 − ε)·fake, not at "
               "the real samples (that would be R1's place).",
    "at fake": "the penalty is taken at the interpolates x̂ = ε·real + (1 − ε)·fake, not at "
               "the fakes.",
    "eps swapped": "x̂ = ε·real + (1 − ε)·fake: ε weighs the REAL sample (you swapped real and "
                   "fake).",
    "no penalty": "the gradient penalty P (and its gradient) is missing: L = mean f(fake) − "
                  "mean f(real) + λ·mean(‖∇ₓf(x̂)‖ − 1)².",
    "v without 1/N": "P is a MEAN over the batch, so v = ∂P/∂g carries 1/N (exercise 7.1).",
    "no tangent term in dW1": "W1 is in both outputs of the first layer, a = x̂W1ᵀ + b1 and "
                              "ȧ = ẋW1ᵀ: dW1 collects dȧᵀ ẋ too (exercise 7.3), with ẋ = v.",
    "b2 in the tangent": "ṡ = ṫ W2ᵀ has no bias: b2 gets nothing from the penalty (its "
                         "gradient is that of the Wasserstein term only).",
}


def _critic_cases(rng):
    def case(name, N, D, H, lam, eps=None, scale=0.8):
        real, fake = rng.standard_normal((N, D)), 1.5 + rng.standard_normal((N, D))
        eps = rng.uniform(0, 1, (N, 1)) if eps is None else np.asarray(eps, float).reshape(N, 1)
        W1, b1 = scale * rng.standard_normal((H, D)), 0.5 * rng.standard_normal(H)
        W2, b2 = scale * rng.standard_normal((1, H)), 0.5 * rng.standard_normal(1)
        return name, real, fake, eps, W1, b1, W2, b2, lam
    return [
        case("N = 5 points in 2-D, 8 hidden units, λ = 10", 5, 2, 8, 10.0),
        case("batch 1, D = 3, 4 hidden units, λ = 1", 1, 3, 4, 1.0),
        case("N = 6, D = H = 4 (W1 square), λ = 0.5", 6, 4, 4, 0.5),
        case("N = 4, ε = 0, 1, 0.3, 0.9 (x̂ at a fake, at a real sample), λ = 3", 4, 2, 6, 3.0,
             eps=[0.0, 1.0, 0.3, 0.9], scale=1.2),
    ]


@by_hand("7.4", also=("gradient_penalty", "input_gradient_backward"))
@_quiet
def check_critic_step(critic_step, seed=74):
    """Exercise 7.4: ``critic_step(real, fake, eps, W1, b1, W2, b2, lam) -> (loss, dW1, db1,
    dW2, db2)``: for the critic f(x) = tanh(x W1ᵀ + b1) W2ᵀ + b2 (W1 (H, D), b1 (H,), W2
    (1, H), b2 (1,)), the WGAN-GP critic loss

        L = mean f(fake) − mean f(real) + λ·mean_n (‖∇ₓf(x̂_n)‖ − 1)²,
        x̂ = ε·real + (1 − ε)·fake   (ε: (N, 1), given),

    and its gradient with respect to every parameter. real, fake: (N, D). As minigan's
    critic loss with :func:`minigan.nn.penalty.gradient_penalty` drawing the same ε.
    """
    fn = critic_step
    rng = np.random.default_rng(seed)
    cases = _critic_cases(rng)
    names = ("loss", "dW1", "db1", "dW2", "db2")
    for case, real, fake, eps, W1, b1, W2, b2, lam in cases:
        args = dict(real=real, fake=fake, eps=eps, W1=W1, b1=b1, W2=W2, b2=b2, lam=lam)
        expected = _critic_step_reference(real, fake, eps, W1, b1, W2, b2, lam)
        out = _call(fn, args, case, readonly=("real", "fake", "eps", "W1", "b1", "W2", "b2"),
                    error_hint="the shapes: x̂W1ᵀ is (N, D)·(D, H); g = ((1·W2)·tanh'(a)) W1 is "
                    "(N, H)·(H, D); dW1 = daᵀ x̂ + dȧᵀ v is (H, N)·(N, D).")
        got = _unpack(fn, out, names, case)
        wrong = {bad: _critic_step_by_hand(real, fake, eps, W1, b1, W2, b2, lam, bad=(bad,))
                 for bad in _CRITIC_HINTS}
        loss_ref = expected[0]
        w_only = wrong["no penalty"][0]
        loss_mistakes = [(v[0], _CRITIC_HINTS[bad]) for bad, v in wrong.items()]
        loss_mistakes += [(-loss_ref, "the critic's loss is mean f(fake) − mean f(real) + P "
                                      "(the NEGATIVE of the Wasserstein estimate, plus P)."),
                          (-w_only, "that is the Wasserstein estimate mean f(real) − mean "
                                    "f(fake); the loss is its negative plus the penalty P.")]
        _compare(fn, "the loss", got[0], loss_ref, case, mistakes=loss_mistakes,
                 shape_hints={(): None})
        for k in range(1, 5):
            mistakes = [(v[k], _CRITIC_HINTS[bad]) for bad, v in wrong.items()]
            if k == 1 and W1.shape[0] == W1.shape[1]:
                mistakes.append((expected[1].T, "dW1 has W1's shape (H, D): dW1 = daᵀ x + "
                                                "dȧᵀ ẋ; it looks transposed."))
            _compare(fn, names[k], got[k], expected[k], case, mistakes=mistakes,
                     shape_hints={expected[k].shape[::-1]: f"{names[k]} has the shape of its "
                                  "parameter; it looks transposed."})
    _passed(fn, f"the loss and the gradients of W1, b1, W2, b2 match minigan's critic loss with "
            f"gradient_penalty on {len(cases)} cases (batch 1, W1 square, ε = 0 and 1).")
