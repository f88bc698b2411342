"""The checks of the exercises of chapter 1: backprop by hand (see :mod:`minigan.exercises`)."""
from __future__ import annotations

import numpy as np

from .checker import by_hand, NONFINITE_LOGITS, _call, _unpack, _compare, _quiet, _passed, _softplus, _sigmoid


def _linear_reference(dy, x, W, b):
    """minigan's Linear in float64: dx, dW, db (and y, to be sure the cases make sense)."""
    from ..nn.layers import Linear
    M, D = W.shape
    layer = Linear(D, M, rng=np.random.default_rng(0), dtype="float64")
    layer.params["weight"][...] = W
    layer.params["bias"][...] = b
    _, cache = layer.forward(x)
    layer.zero_grad()
    dx = layer.backward(dy, cache)
    return dx, layer.grads["weight"].copy(), layer.grads["bias"].copy()


@by_hand("1.1")
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


@by_hand("1.2")
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


@by_hand("1.3")
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


@by_hand("1.4")
@_quiet
def check_bce_with_logits_grad(bce_with_logits_grad, seed=3):
    """Exercise 1.4: ``bce_with_logits_grad(z, t) -> (loss, dz)``, the mean binary
    cross-entropy of logits z against targets t in [0, 1], and its gradient."""
    from ..nn.losses import bce_with_logits
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
