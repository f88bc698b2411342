"""The checks of the exercises of chapter 2: optimisers and training (see :mod:`minigan.exercises`)."""
from __future__ import annotations

import numpy as np

from .checker import by_hand, _call, _unpack, _compare, _quiet, _passed


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


@by_hand("2.1")
@_quiet
def check_sgd_momentum_step(sgd_momentum_step, seed=4):
    """Exercise 2.1: ``sgd_momentum_step(param, grad, velocity, lr, momentum) ->
    (param, velocity)``, PyTorch's rule: v ← μ v + g, θ ← θ − lr · v."""
    from ..optim import SGD
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


@by_hand("2.2")
@_quiet
def check_adam_step(adam_step, seed=5):
    """Exercise 2.2: ``adam_step(param, grad, m, v, t, lr, beta1, beta2, eps) ->
    (param, m, v)``, Adam with bias correction; t counts steps from 1."""
    from ..optim import Adam
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


@by_hand("2.3")
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
