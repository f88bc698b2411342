"""The highway layer (Srivastava, Greff & Schmidhuber 2015), as in SeqGAN's discriminator.

    g = relu(x W_hᵀ + b_h)                 the transform
    t = σ(x W_tᵀ + b_t)                    the gate, t ∈ (0, 1) per feature
    y = t ⊙ g + (1 − t) ⊙ x               carry x where t ≈ 0, transform it where t ≈ 1

x, y: (N, D); W_h, W_t: (D, D). The gate's bias starts at ``gate_bias`` (−2, as SeqGAN's
code): t ≈ 0.12, so a fresh layer mostly carries its input through.

Backward, derived. With a_h = x W_hᵀ + b_h and a_t = x W_tᵀ + b_t::

    ∂L/∂g   = dy ⊙ t              ∂L/∂a_h = dy ⊙ t ⊙ 1[a_h > 0]
    ∂L/∂t   = dy ⊙ (g − x)        ∂L/∂a_t = dy ⊙ (g − x) ⊙ t (1 − t)
    ∂L/∂x   = dy ⊙ (1 − t)  +  (∂L/∂a_h) W_h  +  (∂L/∂a_t) W_t      (the carry, and both Linears)

and the two Linears' parameter gradients are their own backward passes.
"""
from __future__ import annotations

from .. import backend
from .layers import Linear, sigmoid
from .module import Module, positive_int


class Highway(Module):
    """y = t ⊙ relu(x W_hᵀ + b_h) + (1 − t) ⊙ x, t = σ(x W_tᵀ + b_t); x, y: (N, D)."""

    def __init__(self, features: int, gate_bias: float = -2.0, rng=None, dtype="float32"):
        super().__init__()
        features = positive_int(features, "features", "Highway")
        rng = rng if rng is not None else backend.rng()
        self.features = features
        self.transform = Linear(features, features, rng=rng, dtype=dtype)
        self.gate = Linear(features, features, rng=rng, dtype=dtype)
        self.gate.params["bias"][...] = gate_bias

    def children(self):
        return [("transform", self.transform), ("gate", self.gate)]

    def forward(self, x):
        self._check_input(x, last=self.features)
        a_h, c_h = self.transform.forward(x)
        a_t, c_t = self.gate.forward(x)
        g = a_h * (a_h > 0)
        t = sigmoid(a_t)
        return t * g + (1 - t) * x, (x, a_h, g, t, c_h, c_t)

    def backward(self, dy, cache):
        x, a_h, g, t, c_h, c_t = cache
        self._check_dy(dy, x.shape)
        da_h = dy * t * (a_h > 0)
        da_t = dy * (g - x) * t * (1 - t)
        return (dy * (1 - t) + self.transform.backward(da_h, c_h)
                + self.gate.backward(da_t, c_t))

    def _shape_hint(self):
        return f"(N, {self.features})"

    def __repr__(self):
        return f"Highway({self.features})"
