"""The checks of the exercises of chapter 1: backprop by hand (see :mod:`minigan.exercises`)."""
from __future__ import annotations

import numpy as np

from .checker import (by_hand, ExerciseError, NONFINITE_LOGITS, _name, _call, _unpack, _compare,
    _quiet, _passed, _softplus, _sigmoid)


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


CLIP_EPS = (1e-7, 1e-8, 1e-12, 1e-15)      # the ε of Keras, of common tutorials, ...


def clipped_bce(z, t):
    """[(ε, per-entry loss)] of the naive cross-entropy with σ(z) clipped to [ε, 1 − ε]: the
    usual 'fix' of log 0, finite but capped at −log ε (a known mistake, nothing more)."""
    s = _sigmoid(z)
    out = []
    for eps in CLIP_EPS:
        c = np.clip(s, eps, 1 - eps)
        out.append((eps, -t * np.log(c) - (1 - t) * np.log(1 - c)))
    return out


def clip_hint(eps):
    return (f"clipping σ(z) to [ε, 1 − ε] (here ε = {eps:g}) keeps the log finite but caps "
            f"each term at −log ε ≈ {-np.log(eps):.3g}: at z = −1000 with target 1 the loss is "
            "1000. Compute it from the logit, max(z, 0) − t·z + log(1 + e^(−|z|)) (chapter 1, "
            "section 4).")


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
        ] + [(c.mean(), clip_hint(eps)) for eps, c in clipped_bce(z, t)],
            nonfinite=NONFINITE_LOGITS, shape_hints={z.shape: "the loss is one number, the mean over the batch."})
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
# Exercise 1.5: a whole two-layer network, forward and backward
# --------------------------------------------------------------------------------------

_MLP_KEYS = ("W1", "b1", "W2", "b2")


def _mlp_reference(P, x, t):
    """minigan's Sequential(Linear, Tanh, Linear) with P's weights and bce_with_logits, in
    float64: (loss, {name: gradient})."""
    from ..nn.layers import Linear, Sequential, Tanh
    from ..nn.losses import bce_with_logits
    H, D = P["W1"].shape
    O = P["W2"].shape[0]
    rng = np.random.default_rng(0)
    net = Sequential(Linear(D, H, rng=rng, dtype="float64"), Tanh(),
                     Linear(H, O, rng=rng, dtype="float64"))
    for (name, p, _), key in zip(net.named_parameters(), _MLP_KEYS):
        p[...] = P[key]
    z, cache = net.forward(x)
    loss, dz = bce_with_logits(z, t)
    net.zero_grad()
    net.backward(dz, cache)
    grads = dict(zip(_MLP_KEYS, (g.copy() for _, _, g in net.named_parameters())))
    return loss, grads


def _mlp_by_hand(P, x, t, mistake=None):
    """The network by hand, right (mistake=None) or with one known mistake: what a learner
    who makes it returns. (loss, {name: gradient})."""
    N = x.shape[0]
    h = x @ P["W1"].T + P["b1"]
    a = np.tanh(h)
    z = a @ P["W2"].T + P["b2"]
    per = _softplus(z) - z * t
    loss = per.sum() if mistake == "loss sum" else per.sum() / N if mistake == "loss /N" \
        else per.mean()
    if mistake == "sigmoid output":                 # σ applied to z, then BCE on σ(z) as logits
        zz = _sigmoid(z)
        loss = (_softplus(zz) - zz * t).mean()
        dz = (_sigmoid(zz) - t) / z.size * zz * (1 - zz)
    else:
        s = _sigmoid(z)
        dz = {"dz no 1/N": lambda: s - t, "dz /N": lambda: (s - t) / N,
              "dz sign": lambda: (t - s) / z.size}.get(mistake, lambda: (s - t) / z.size)()
    dW2 = dz.T @ a
    db2 = dz.sum(0)
    da = dz if mistake == "no W2" else dz @ P["W2"]
    dh = {"tanh' of h": lambda: da * (1 - h * h), "no tanh'": lambda: da,
          "tanh' not squared": lambda: da * (1 - a)}.get(mistake, lambda: da * (1 - a * a))()
    dW1 = dh.T @ x
    db1 = dh.mean(0) if mistake == "db mean" else dh.sum(0)
    if mistake == "db mean":
        db2 = dz.mean(0)
    return float(loss), {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


_MLP_HINTS = {
    "loss sum": "the loss is the MEAN binary cross-entropy, not the sum.",
    "loss /N": "the mean runs over every logit, z.size = N·O entries, not over the N rows "
               "alone (as in Exercise 1.4).",
    "sigmoid output": "the network's output z is a LOGIT: do not apply σ to it before the "
                      "loss; bce_with_logits (and your Exercise 1.4) takes z itself.",
    "dz no 1/N": "the loss is a mean, so dL/dz = (σ(z) − t)/N carries 1/N (N = z.size): "
                 "Exercise 1.4.",
    "dz /N": "the mean runs over every logit: dL/dz = (σ(z) − t)/z.size, not /N rows.",
    "dz sign": "dL/dz = (σ(z) − t)/N: prediction minus target, not the reverse.",
    "no W2": "the gradient reaches the hidden layer through the second layer: da = dz W2 "
             "(Exercise 1.1's dx = dy W), not dz itself (which broadcasts silently).",
    "tanh' of h": "tanh′ = 1 − a² with the tanh's OUTPUT a = tanh(h), not 1 − h² with its "
                  "input h.",
    "no tanh'": "the backward pass skipped the tanh: dh = da·(1 − a²) (Exercise 1.2).",
    "tanh' not squared": "tanh′ = 1 − a², squared.",
    "db mean": "the biases' gradients are sums over the batch, db = Σ_n dy_n (Exercise 1.1); "
               "the 1/N is already in dz.",
}


@by_hand("1.5")
@_quiet
def check_mlp_forward_backward(forward_backward, seed=13):
    """Exercise 1.5: ``forward_backward(P, x, t) -> (loss, grads)`` for the two-layer network
    of section 7, h = x W1ᵀ + b1, a = tanh(h), z = a W2ᵀ + b2, loss = the mean BCE of the
    logits z against t (over all N·O entries, as Exercise 1.4).

    P: {"W1": (H, D), "b1": (H,), "W2": (O, H), "b2": (O,)}; x: (N, D); t: (N, O) in [0, 1].
    grads: a dict with P's keys and shapes. Compared with minigan's Sequential(Linear, Tanh,
    Linear) and bce_with_logits, and with float64 finite differences of that loss. Cases:
    batch 1, odd sizes, N = H (where a sum over the wrong axis keeps db1's shape), two logits
    per example (where dividing by N rows instead of N·O shows), a confident network with
    logits in the hundreds (where a naive log overflows).
    """
    from ..gradcheck import numerical_gradient
    overflow = ("with logits in the hundreds your answer overflows: compute the loss from the "
                "logit, max(z, 0) − t·z + log(1 + e^(−|z|)), and σ without exp(−z) (Exercises "
                "1.3 and 1.4).")
    rng = np.random.default_rng(seed)
    #        case                                       N  D  H  O  scale of W2
    cases = [("batch 1",                                1, 2, 4, 1, 1.0),
             ("odd sizes",                              7, 3, 5, 1, 1.0),
             ("N = H",                                  6, 2, 6, 1, 1.0),
             ("two logits per example",                 5, 3, 4, 2, 1.0),
             ("a confident network (logits of ±100s)",  6, 2, 5, 1, 150.0)]
    for case, N, D, H, O, scale in cases:
        P = {"W1": rng.standard_normal((H, D)), "b1": rng.standard_normal(H) * 0.5,
             "W2": rng.standard_normal((O, H)) * scale, "b2": rng.standard_normal(O) * 0.5}
        x = rng.standard_normal((N, D))
        t = rng.integers(0, 2, (N, O)).astype(float)
        loss_ref, g_ref = _mlp_reference(P, x, t)
        # the reference held to finite differences of the loss, in float64
        Pc = {k: v.copy() for k, v in P.items()}
        for k in _MLP_KEYS:
            num = numerical_gradient(lambda: _mlp_reference(Pc, x, t)[0], Pc[k], h=1e-6)
            if _close_fd(num, g_ref[k]) is False:      # pragma: no cover - minigan itself wrong
                raise AssertionError(f"check_mlp_forward_backward: minigan's d{k} disagrees "
                                     f"with finite differences on the case '{case}'")
        P_in = {k: v.copy() for k, v in P.items()}
        x_in, t_in = x.copy(), t.copy()
        out = _call(forward_backward, {"P": P_in, "x": x_in, "t": t_in}, case,
                    readonly=("x", "t"),
                    error_hint="the shapes of a product do not fit: h = x W1ᵀ is (N, D)·(D, H); "
                    "in the backward pass dW = dyᵀ x and dx = dy W (Exercise 1.1).")
        for k in _MLP_KEYS:
            if not np.array_equal(P_in[k], P[k]):
                raise ExerciseError(f"{_name(forward_backward)} changed P[{k!r}] in place (case "
                                    f"'{case}'): compute the gradients; the update is the "
                                    "training loop's job.")
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ExerciseError(f"{_name(forward_backward)} should return (loss, grads), grads "
                                f"a dict with the keys of P; got {type(out).__name__}"
                                + (f" of length {len(out)}" if isinstance(out, (tuple, list))
                                   else "") + f" (case '{case}').")
        loss, grads = out
        if not isinstance(grads, dict) or set(grads) != set(_MLP_KEYS):
            got = sorted(map(str, grads)) if isinstance(grads, dict) else type(grads).__name__
            raise ExerciseError(f"{_name(forward_backward)}: grads should be a dict with the "
                                f"keys {list(_MLP_KEYS)}, like P; got {got} (case '{case}').")
        (loss,) = _unpack(forward_backward, loss, ("loss",), case)
        wrong = {}
        for m in _MLP_HINTS:
            try:
                wrong[m] = _mlp_by_hand(P, x, t, m)
            except ValueError:               # a mistake whose shapes do not fit this case
                pass
        _compare(forward_backward, "the loss", loss, loss_ref, case,
                 mistakes=[(w[0], _MLP_HINTS[m]) for m, w in wrong.items()],
                 nonfinite=overflow, shape_hints={t.shape: "the loss is one number, the mean "
                                                           "over every logit."})
        for k in ("W2", "b2", "W1", "b1"):               # in the order backward computes them
            (g,) = _unpack(forward_backward, grads[k], (f"grads[{k!r}]",), case)
            shape = P[k].shape
            hints = {shape[::-1]: f"d{k} must have {k}'s shape {shape}: dW = dyᵀ x, not xᵀ dy."} \
                if len(shape) == 2 else {(1,) + shape: f"d{k} must have {k}'s shape {shape}: "
                                         "sum over axis 0 without keepdims."}
            _compare(forward_backward, f"d{k}", g, g_ref[k], case,
                     mistakes=[(w[1][k], _MLP_HINTS[m]) for m, w in wrong.items()],
                     shape_hints=hints, nonfinite=overflow)
    _passed(forward_backward, f"the loss and all four gradients match minigan (Linear, Tanh, "
            f"Linear, bce_with_logits) and float64 finite differences on {len(cases)} cases "
            "(batch 1, N = H, two logits per example, logits in the hundreds).")


def _close_fd(num, exact, tol=1e-6):
    """Whether a finite-difference gradient agrees with an exact one (None: both ~0)."""
    from ..gradcheck import rel_error
    if np.abs(exact).max() < 1e-12 and np.abs(num).max() < 1e-7:
        return None
    return rel_error(num, exact) < tol
