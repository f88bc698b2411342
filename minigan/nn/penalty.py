"""Gradient penalties on a critic's input gradient, with their parameter gradients by hand.

- WGAN-GP (Gulrajani et al. 2017):  P = λ · mean_n (‖∇ₓD(x̂_n)‖ − 1)²  at random points
  x̂ = εx + (1 − ε)x̃ between real x and fake x̃, ε ~ U[0, 1] per example.
- R1 (Mescheder et al. 2018):        P = γ/2 · mean_n ‖∇ₓD(x_n)‖²  at the real data.

Both are functions of g = ∇ₓD (one forward, one backward pass); their gradient with respect to
the critic's parameters θ is ∇θ⟨v, g(θ)⟩ with v = ∂P/∂g held fixed, computed by a tangent
forward pass from ẋ = v and its backward pass (``minigan.nn.jvp``, and ARCHITECTURE.md, "Second-order
gradients"). A spectrally normalised critic's power iteration is held for that second
pass, so that both passes see the same W_sn. Closed forms of v, with ĝ_n = g_n / ‖g_n‖:

    WGAN-GP:  v_n = (2λ/N) · (‖g_n‖ − 1) · ĝ_n          R1:  v_n = (γ/N) · g_n

Each function ADDS ∂P/∂θ into ``critic.grads`` (call it after, or before, the critic loss's
own backward pass: the two add up) and returns the value of P. The sample points are treated as
data: no gradient flows to the generator through x̂ (as in the paper's algorithm).

The critic must have tangent passes: a ``Sequential`` of Linear, Conv2d, LayerNorm, Flatten,
Reshape, ReLU, LeakyReLU, Tanh, Sigmoid, Softplus (batch norm is refused, as the paper advises).
If D has several outputs per sample, ∇ₓD is the gradient of their sum.
"""
from __future__ import annotations

from ..backend import get_array_module
from .jvp import input_gradient, input_gradient_backward
from .spectral import held_power_iteration

__all__ = ["gradient_penalty", "r1_penalty"]


def _per_sample_norm(g):
    """‖g_n‖ over every axis but the batch axis: (N, ...) -> (N, 1, ..., 1) (broadcastable)."""
    axes = tuple(range(1, g.ndim))
    return get_array_module(g).sqrt((g * g).sum(axis=axes, keepdims=True))


def _check_batch(name, **arrays):
    shapes = {k: tuple(a.shape) for k, a in arrays.items()}
    if len(set(shapes.values())) != 1 or min(len(s) for s in shapes.values()) < 2:
        raise ValueError(f"{name}: expected arrays of the same shape (N, ...), got {shapes}")


def gradient_penalty(critic, real, fake, rng, lam: float = 10.0):
    """WGAN-GP penalty λ·mean_n (‖∇ₓD(x̂_n)‖ − 1)²; ADDS its gradient into ``critic.grads``.

    real, fake: (N, ...) the same shape and dtype; rng: a random Generator (numpy or cupy)
    for ε ~ U[0, 1], one per example; lam: λ (the paper uses 10).
    Returns (value, info): value a float; info = {"grad_norm": mean ‖g_n‖ (float),
    "grad_norms": (N,), "eps": (N, 1, ...), "x_hat": the sample points}.
    """
    _check_batch("gradient_penalty", real=real, fake=fake)
    xp = get_array_module(real)
    N = real.shape[0]
    eps = xp.asarray(rng.random((N,) + (1,) * (real.ndim - 1))).astype(real.dtype)
    x_hat = eps * real + (1 - eps) * fake
    with held_power_iteration(critic):                     # both passes: the same W_sn
        _, g = input_gradient(critic, x_hat)                # g = ∇ₓD(x̂): (N, ...)
        norm = _per_sample_norm(g)                          # ‖g_n‖: (N, 1, ...)
        value = lam * float(((norm - 1) ** 2).mean())
        # v = ∂P/∂g = (2λ/N)(‖g‖ − 1)·g/‖g‖ (0 where g = 0: the norm has no gradient there)
        safe = xp.where(norm > 0, norm, 1)
        v = (2 * lam / N) * (norm - 1) / safe * g
        input_gradient_backward(critic, x_hat, v.astype(real.dtype))
    norms = norm.reshape(N)
    return value, {"grad_norm": float(norms.mean()), "grad_norms": norms, "eps": eps,
                   "x_hat": x_hat}


def r1_penalty(critic, real, gamma: float = 10.0):
    """R1 penalty γ/2·mean_n ‖∇ₓD(x_n)‖² at the real data; ADDS its gradient into
    ``critic.grads``.

    real: (N, ...). Returns (value, info): info = {"grad_norm": mean ‖g_n‖ (float),
    "grad_norms": (N,)}.
    """
    _check_batch("r1_penalty", real=real)
    N = real.shape[0]
    with held_power_iteration(critic):                     # both passes: the same W_sn
        _, g = input_gradient(critic, real)                 # g = ∇ₓD(x): (N, ...)
        norm = _per_sample_norm(g)
        value = gamma / 2 * float((norm ** 2).mean())
        v = (gamma / N) * g                                 # ∂P/∂g
        input_gradient_backward(critic, real, v.astype(real.dtype))
    norms = norm.reshape(N)
    return value, {"grad_norm": float(norms.mean()), "grad_norms": norms}
