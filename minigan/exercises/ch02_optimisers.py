"""The checks of the exercises of chapter 2: optimisers and training (see :mod:`minigan.exercises`)."""
from __future__ import annotations

import numpy as np

from .checker import by_hand, refusing, ExerciseError, _name, _call, _unpack, _compare, _quiet, _passed


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
            (p - lr * (g + mu * v_ref), "that is Nesterov's momentum, θ ← θ − lr·(g + μv); "
             "plain (heavy-ball) momentum steps along the velocity itself: θ ← θ − lr·v."),
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
            (b2 * v + (1 - b2) * m_ref ** 2, "v averages the squared GRADIENT g², not the "
             "square of the new m."),
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
        if N > 1:
            mistakes.append((float((logits.argmax(1)[:, None] == labels).mean()),
                             "argmax(axis=1, keepdims=True) is (N, 1), and comparing it with "
                             "labels, (N,), broadcasts to an (N, N) table: compare the (N,) "
                             "predictions with the labels."))
        if N == C:
            mistakes.append((float((logits.argmax(0) == labels).mean()),
                             "argmax over the classes, axis 1 (one prediction per row), not "
                             "axis 0."))
        _compare(accuracy, "the accuracy", acc, ref, case, mistakes=mistakes,
                 shape_hints={(N,): "return one number, the mean over the batch."})
    _passed(accuracy, f"matches the fraction of correct argmax predictions on {len(cases)} cases.")


# --------------------------------------------------------------------------------------
# Exercise 2.4: Adam as an optimiser, over many parameters and many steps
# --------------------------------------------------------------------------------------

def adam_run_by_hand(triples, grads_seq, lr, betas, eps, mistake=None):
    """Adam over ``triples`` [(name, param, grad)] for each step's gradients in ``grads_seq``,
    updating the params in place: the reference of Exercise 2.4 (mistake=None, the numbers of
    minigan.optim.Adam) or what a class with one known mistake does."""
    b1, b2 = betas
    ms = [np.zeros_like(p) for _, p, _ in triples]
    vs = [np.zeros_like(p) for _, p, _ in triples]
    stale = [g.copy() for _, _, g in triples]          # the gradients when it was made
    t = 0
    for step_grads in grads_seq:
        if mistake == "state reset":
            ms = [np.zeros_like(p) for _, p, _ in triples]
            vs = [np.zeros_like(p) for _, p, _ in triples]
        t += 1
        for i, ((_, p, _), g) in enumerate(zip(triples, step_grads)):
            if mistake == "stale gradient":
                g = stale[i]
            tt = {"t per parameter": (t - 1) * len(triples) + i + 1, "t stuck at 1": 1}.get(
                mistake, t)
            ms[i] = b1 * ms[i] + (1 - b1) * g
            vs[i] = b2 * vs[i] + (1 - b2) * g * g
            if mistake == "no bias correction":
                mh, vh = ms[i], vs[i]
            else:
                mh, vh = ms[i] / (1 - b1 ** tt), vs[i] / (1 - b2 ** tt)
            p -= lr * mh / (np.sqrt(vh) + eps)


ADAM_MISTAKES = {
    "no bias correction": "Adam without bias correction: step with m̂ = m/(1 − β₁ᵗ) and "
                          "v̂ = v/(1 − β₂ᵗ) (section 3, Exercise 2.2).",
    "t per parameter": "t counts optimiser steps, not parameters: increment it once per "
                       "step(), before the loop over the parameters, not inside it.",
    "t stuck at 1": "t must count the steps (1, 2, 3, ...): increment it at every step(); "
                    "with t = 1 for ever, the bias correction stays that of the first step.",
    "state reset": "m and v must persist from one step to the next: create them once (zeros, "
                   "one pair per parameter, in __init__ or at the first step) and keep them on "
                   "self; made anew each step, every step is the first.",
    "stale gradient": "step() must read each gradient array as it is NOW: keep references to "
                      "the model's gradient arrays (the triples' third item), not copies made "
                      "in __init__.",
}


def _method(cls, obj, meth, where):
    """obj.meth() for the learner's class, refusing minigan's answer to 2.4 while it runs;
    its errors (other than ExerciseError and NotImplementedError) named with the case."""
    with refusing("2.4", cls):
        try:
            with np.errstate(all="ignore"):
                getattr(obj, meth)()
        except (NotImplementedError, ExerciseError):
            raise
        except Exception as exc:
            raise ExerciseError(f"{_name(cls)}.{meth}() raised {type(exc).__name__} on the case "
                                f"'{where}': {exc}") from exc


@by_hand("2.4")
@_quiet
def check_adam_optimiser(MyAdam, seed=15):
    """Exercise 2.4: ``class MyAdam`` with ``MyAdam(params, lr, betas, eps)``, ``zero_grad()``
    and ``step()``: Adam over every parameter of a model, as minigan.optim.Adam.

    params: a list of (name, param, grad) triples (``model.named_parameters()``): the model's
    own arrays. step() updates each param IN PLACE from its grad as it is at that moment, with
    its own m and v and one step count t for all; zero_grad() sets every grad to 0 in place.
    Each case runs several steps as a training loop does (zero_grad, then the backward pass
    adds new gradients into the arrays, then step) and compares every parameter after every
    step with minigan's Adam. Cases: four parameters, two of one shape (where state kept per
    shape instead of per parameter would mix them), and a GAN's settings (β₁ = 0.5) with a
    large eps and small gradients.
    """
    from ..optim import Adam, Optimizer
    rng = np.random.default_rng(seed)
    #        case                                           shapes                    steps lr    betas         eps   grad scale
    cases = [("four parameters, 6 steps",                   [(3, 4), (4,), (3, 4), (1,)], 6, 0.05, (0.8, 0.99),  1e-8, 1.0),
             ("β₁ = 0.5, large eps, small gradients",       [(2, 3), (3,)],              4, 1e-2, (0.5, 0.999), 1e-3, 1e-3)]
    for case, shapes, steps, lr, betas, eps, gscale in cases:
        names = [f"{i // 2}.{'weight' if i % 2 == 0 else 'bias'}" for i in range(len(shapes))]
        params0 = [rng.standard_normal(s) for s in shapes]
        junk = [rng.standard_normal(s) * gscale for s in shapes]    # left by an earlier step
        grads_seq = [[rng.standard_normal(s) * gscale for s in shapes] for _ in range(steps)]

        def fresh():
            return [(n, p.copy(), j.copy()) for n, p, j in zip(names, params0, junk)]

        ref = fresh()
        ref_opt = Adam(ref, lr=lr, betas=betas, eps=eps)
        # what a class with each known mistake holds after each step
        traj = {m: [] for m in ADAM_MISTAKES}
        for m in ADAM_MISTAKES:
            for k in range(steps):
                w = fresh()
                adam_run_by_hand(w, grads_seq[:k + 1], lr, betas, eps, m)
                traj[m].append(np.concatenate([p.ravel() for _, p, _ in w]))

        triples = fresh()
        with refusing("2.4", MyAdam):
            opt = _call(MyAdam, {"params": list(triples), "lr": lr, "betas": betas,
                                 "eps": eps}, case)
        if isinstance(opt, Optimizer):
            raise ExerciseError(f"{_name(MyAdam)} is minigan's Optimizer (a subclass of it): "
                                "write the class yourself, from scratch (you may use your "
                                "adam_step of Exercise 2.2).")
        for meth in ("zero_grad", "step"):
            if not callable(getattr(opt, meth, None)):
                raise ExerciseError(f"{_name(MyAdam)} has no method {meth}() (case '{case}').")
        before = [p.copy() for _, p, _ in triples]
        for k, gs in enumerate(grads_seq):
            where = f"{case}, step {k + 1}"
            _method(MyAdam, opt, "zero_grad", where)
            for (n, _, g) in triples:
                if not np.all(g == 0):
                    raise ExerciseError(
                        f"{_name(MyAdam)}.zero_grad() left the gradient of {n!r} non-zero (case "
                        f"'{where}'): set the model's own arrays to 0 in place, g[...] = 0 "
                        "(g = np.zeros_like(g) only rebinds a local name).")
            for (_, _, g), new in zip(triples, gs):
                g += new                               # the backward pass adds into them
            ref_opt.zero_grad()
            for (_, _, g), new in zip(ref, gs):
                g += new
            ref_opt.step()
            _method(MyAdam, opt, "step", where)
            for (n, _, g), new in zip(triples, gs):
                if not np.array_equal(g, new):
                    raise ExerciseError(f"{_name(MyAdam)}.step() changed the gradient of {n!r} "
                                        f"(case '{where}'): read the gradients, do not write "
                                        "into them.")
            got = np.concatenate([p.ravel() for _, p, _ in triples])
            if k == 0 and np.array_equal(got, np.concatenate([p.ravel() for p in before])):
                raise ExerciseError(
                    f"{_name(MyAdam)}.step() did not change the model's parameters (case "
                    f"'{where}'). The model holds the very arrays in params: update them in "
                    "place, p -= ... or p[...] = ...; p = p - ... makes a new array the model "
                    "never sees.")
            exp = np.concatenate([p.ravel() for _, p, _ in ref])
            _compare(MyAdam, "the update", got, exp, where,
                     mistakes=[(traj[m][k], h) for m, h in ADAM_MISTAKES.items()],
                     nonfinite="at the first step your bias correction divides by zero: t "
                               "counts steps from 1 (increment it before using it), and the "
                               "correction is 1 − βᵗ.")
    _passed(MyAdam, f"every parameter matches minigan.optim.Adam after every step on "
            f"{len(cases)} cases (several parameters, a GAN's betas, large eps).")
