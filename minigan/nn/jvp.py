"""Second-order gradients by hand: the tangent passes behind the gradient penalty and R1.

A gradient penalty is a function of the critic's INPUT gradient, ``g = ∇ₓ D(x)``, and its
gradient with respect to the parameters θ goes through a backward pass. Without autograd:

1. ``g = ∇ₓ S(x)`` with ``S = Σ_n D(x_n)`` (one forward, one ordinary backward with dy = 1).
   D is applied to each sample separately, so row n of g is ∇D(x_n).
2. The penalty P(g) gives ``v = ∂P/∂g`` in closed form (e.g. R1: P = γ/2·mean‖g_n‖², v = γg/N).
3. By the chain rule, with v held fixed,   ∇θ P = ∇θ ⟨v, g(x; θ)⟩.
   And ⟨v, ∇ₓS(x; θ)⟩ = d/dt S(x + t·v; θ) at t = 0 =: Ṡ, the directional derivative of S at x
   along v. A forward pass can carry it: every layer maps (x, ẋ) to (y, ẏ = J_layer(x)·ẋ),
   starting from ẋ = v; the network's last ẏ is Ṡ (per sample; we sum them).
4. Ṡ(x, v; θ) is an ordinary function of x, v and θ computed by an ordinary chain of layers,
   so reverse mode through it gives ∇θ Ṡ = ∇θ P: each layer's ``backward_jvp(dy, dẏ, cache)``
   takes the adjoints of its two outputs and returns those of its two inputs, (dx, dẋ), adding
   dθ into ``grads``. It is seeded with dy = 0 (Ṡ does not depend on S) and dẏ = 1.

Checked on paper for one activation y = σ(x), ẏ = σ'(x)·ẋ (elementwise):
    dx = σ'(x)·dy + σ''(x)·ẋ·dẏ      (ẏ depends on x through σ': this is the second-order term)
    dẋ = σ'(x)·dẏ
and for a linear map y = xWᵀ + b, ẏ = ẋWᵀ (the bias does not move with x):
    dx = dy W,  dẋ = dẏ W,  dW += dyᵀx + dẏᵀẋ,  db += Σ dy.
Dropping σ'' (as a well-known NumPy WGAN-GP did) is exact for ReLU-type critics only; for tanh
or sigmoid critics it is wrong by tens of percent (tests/test_penalty.py shows it).

Two by-products of step 4 come for free: dẋ at the input is g itself (∂⟨g, ẋ⟩/∂ẋ), and dx is
the Hessian-vector product ∇ₓ⟨v, g⟩ = H v (what the penalty would send to x).

Design: each layer carries its own tangent pass as two methods next to ``forward``/``backward``
(``forward_jvp(x, ẋ) -> (y, ẏ, cache)``, ``backward_jvp(dy, dẏ, cache) -> (dx, dẋ)``), so a
layer's four passes and their derivations sit in one place, ``Sequential`` chains them like
the ordinary passes, and a layer without them fails with a clear message. The primal half of
each ``backward_jvp`` IS the layer's ordinary ``backward`` (it is called), so only the new
terms are new code. This module holds what the network-level passes share: the input
gradient, its backward pass, and finite-difference checks of a layer's tangent passes.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ..gradcheck import numerical_gradient, rel_error

__all__ = ["check_tangent", "input_gradient", "input_gradient_backward", "check_layer_jvp"]


def check_tangent(layer, x, x_dot):
    """Raise a ValueError naming ``layer`` unless the tangent ẋ has x's shape and dtype
    (elementwise layers would otherwise broadcast a wrong-shaped tangent silently)."""
    if not hasattr(x_dot, "shape") or tuple(x_dot.shape) != tuple(x.shape) \
            or x_dot.dtype != x.dtype:
        got = (f"shape {tuple(x_dot.shape)}, dtype {x_dot.dtype}" if hasattr(x_dot, "shape")
               else type(x_dot).__name__)
        raise ValueError(f"{layer!r}: the tangent must have the input's shape "
                         f"{tuple(x.shape)} and dtype {x.dtype}, got {got}")


def _require_tangent_passes(net):
    if not (hasattr(net, "forward_jvp") and hasattr(net, "backward_jvp")):
        raise NotImplementedError(
            f"{net!r} has no tangent pass (forward_jvp/backward_jvp), which a gradient "
            "penalty needs: build the critic from Linear, Conv2d, LayerNorm, Flatten, "
            "Reshape, ReLU, LeakyReLU, Tanh, Sigmoid, Softplus in a Sequential, or give "
            "your module these two methods (see minigan.nn.jvp)")


def input_gradient(net, x):
    """g = ∇ₓ Σ_n D(x_n): one forward and one backward pass with dy = 1.

    x: (N, ...) -> (y, g) with y = D(x): (N, ...) and g: x's shape. ``net.grads`` are left
    exactly as they were (the backward pass adds into them; their values are restored), so
    this can be called in the middle of accumulating a loss's gradients.
    If D has several outputs per sample (a patch critic), g is the gradient of their sum.
    """
    _require_tangent_passes(net)
    saved = [gr.copy() for _, _, gr in net.named_parameters()]
    y, cache = net.forward(x)
    xp = get_array_module(y)
    try:
        g = net.backward(xp.ones_like(y), cache)
    finally:
        for (_, _, gr), old in zip(net.named_parameters(), saved):
            gr[...] = old
    return y, g


def input_gradient_backward(net, x, v):
    """The backward pass of :func:`input_gradient`: for a loss L(g) with ∂L/∂g = v,
    ADD ∂L/∂θ = ∇θ⟨v, ∇ₓS(x; θ)⟩ into ``net.grads`` and return (dx, g_check).

    x, v: (N, ...) the same shape. It runs the tangent forward pass from ẋ = v and its
    backward pass seeded with dy = 0, dẏ = 1 (module docstring, steps 3-4).
    dx = ∇ₓ⟨v, g(x)⟩ = H v, the Hessian-vector product; g_check = dẋ = g(x), which a caller
    may compare with input_gradient's g as a consistency check.
    """
    _require_tangent_passes(net)
    xp = get_array_module(x)
    y, y_dot, cache = net.forward_jvp(x, v)
    return net.backward_jvp(xp.zeros_like(y), xp.ones_like(y_dot), cache)


def check_layer_jvp(layer, x, x_dot=None, dy=None, dy_dot=None, *, seed=0, h=1e-6) -> dict:
    """Compare a layer's (or network's) tangent passes with finite differences, in float64.

    - "y_dot": ẏ from ``forward_jvp(x, ẋ)`` against (y(x + hẋ) − y(x − hẋ)) / 2h;
    - "x", "x_dot", and every parameter name: ``backward_jvp(dy, dẏ)`` against the gradient
      of the scalar ⟨dy, y⟩ + ⟨dẏ, ẏ⟩ with respect to x, ẋ and each parameter.
    ẋ, dy, dẏ default to standard-normal noise (seeded). The layer is converted to float64
    in place and its grads zeroed. Returns ``{name: rel_error}``, as gradcheck.check_layer.
    """
    xp = get_array_module(x)
    layer.to("float64")
    noise = np.random.default_rng(seed)

    def arr(a, shape):
        a = noise.standard_normal(shape) if a is None else a
        return xp.ascontiguousarray(xp.asarray(a, dtype=np.float64))

    x = arr(x, x.shape)
    x_dot = arr(x_dot, x.shape)
    y, y_dot, cache = layer.forward_jvp(x, x_dot)
    dy, dy_dot = arr(dy, y.shape), arr(dy_dot, y_dot.shape)
    layer.zero_grad()
    dx, dx_dot = layer.backward_jvp(dy, dy_dot, cache)
    report = {}
    step = h * x_dot
    fd = (layer.forward(x + step)[0] - layer.forward(x - step)[0]) / (2 * h)
    report["y_dot"] = rel_error(y_dot, fd)

    def f():
        y, y_dot, _ = layer.forward_jvp(x, x_dot)
        return float((y * dy).sum() + (y_dot * dy_dot).sum())

    report["x"] = rel_error(dx, numerical_gradient(f, x, h))
    report["x_dot"] = rel_error(dx_dot, numerical_gradient(f, x_dot, h))
    for name, p, g in layer.named_parameters():
        report[name] = rel_error(g, numerical_gradient(f, p, h))
    return report
