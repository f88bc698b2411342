"""Dense layers, activations, dropout: each forward with its hand-derived backward.

Shape letters: N batch, D input features, M output features. The derivations are
in notebook 01 (``notebooks/01_backprop_by_hand.ipynb``); each docstring repeats
the one line that matters.

Convention, said once: like ``torch.nn.Linear`` the weight has shape (M, D) and
``y = x @ W.T + b``. In the maths, with row vectors, that is ``y = x Wᵀ + b``.
"""
from __future__ import annotations

import math

from .. import backend
from ..backend import get_array_module
from ..kernels.activation import leaky_relu, leaky_relu_backward, tanh_backward
from .jvp import check_tangent
from .module import Module, charge_allocation, positive_int


class Linear(Module):
    """y = x Wᵀ + b.

    x: (N, D) (or (..., D)); W: (M, D); b: (M,); y: (N, M).
    Backward (notebook 01, section 2): dx = dy W,  dW += dyᵀ x,  db += Σ_n dy.
    Initialisation as torch.nn.Linear: W, b ~ U(-1/√D, 1/√D).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng=None, dtype="float32"):
        super().__init__()
        in_features = positive_int(in_features, "in_features", "Linear")
        out_features = positive_int(out_features, "out_features", "Linear")
        self.in_features, self.out_features, self.has_bias = in_features, out_features, bias
        charge_allocation(f"Linear({in_features}, {out_features})", (in_features, out_features),
                          dtype, [(out_features, in_features)] + [(out_features,)] * bool(bias))
        rng = rng if rng is not None else backend.rng()
        bound = 1.0 / math.sqrt(in_features)
        self.params["weight"] = rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype)
        if bias:
            self.params["bias"] = rng.uniform(-bound, bound, (out_features,)).astype(dtype)
        xp = get_array_module(self.params["weight"])
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x):
        self._check_input(x, last=self.in_features)
        y = x @ self.params["weight"].T
        if self.has_bias:
            y = y + self.params["bias"]
        return y, x

    def _output_shape(self, x_shape):
        """The shape of y for an input of shape ``x_shape``: (..., M)."""
        return tuple(x_shape[:-1]) + (self.out_features,)

    def backward(self, dy, cache):
        x = cache
        self._check_dy(dy, self._output_shape(x.shape))
        W = self.params["weight"]
        dx = dy @ W
        # Flatten any leading dimensions into one batch dimension for the sums.
        dy2, x2 = dy.reshape(-1, self.out_features), x.reshape(-1, self.in_features)
        self.grads["weight"] += dy2.T @ x2
        if self.has_bias:
            self.grads["bias"] += dy2.sum(axis=0)
        return dx

    # Tangent passes for gradient penalties (minigan.nn.jvp): ẏ = ẋWᵀ, no bias.
    def forward_jvp(self, x, x_dot):
        """(x, ẋ) -> (y, ẏ, cache): y = x Wᵀ + b, ẏ = ẋ Wᵀ.  x, ẋ: (N, D); y, ẏ: (N, M)."""
        check_tangent(self, x, x_dot)
        y, _ = self.forward(x)
        return y, x_dot @ self.params["weight"].T, (x, x_dot)

    def backward_jvp(self, dy, dy_dot, cache):
        """(dy, dẏ) -> (dx, dẋ): dx = dy W, dẋ = dẏ W; dW += dyᵀx + dẏᵀẋ, db += Σ dy."""
        x, x_dot = cache
        self._check_dy_pair(dy, dy_dot, self._tangent_output_shape(cache))
        dx = self.backward(dy, x)                       # dy W; dW += dyᵀx; db += Σ dy
        dy_dot2 = dy_dot.reshape(-1, self.out_features)
        self.grads["weight"] += dy_dot2.T @ x_dot.reshape(-1, self.in_features)   # += dẏᵀẋ
        return dx, dy_dot @ self.params["weight"]

    def _tangent_output_shape(self, cache):
        """The shape of y (and ẏ) of the tangent pass whose cache is ``cache``."""
        return self._output_shape(cache[0].shape)

    def _shape_hint(self):
        return f"(N, {self.in_features})"

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features}, bias={self.has_bias})"


class ReLU(Module):
    """y = max(x, 0).  Backward: dx = dy · [x > 0]  (a new array: dy is never written)."""

    def forward(self, x):
        self._check_input(x)
        xp = get_array_module(x)
        return xp.maximum(x, 0), x

    def backward(self, dy, cache):
        x = cache
        self._check_dy(dy, x.shape)
        return dy * (x > 0)

    def forward_jvp(self, x, x_dot):
        """ẏ = [x > 0]·ẋ.  σ'' = 0 (away from the kink, which random data never hits)."""
        check_tangent(self, x, x_dot)
        y, _ = self.forward(x)
        return y, x_dot * (x > 0), x

    def backward_jvp(self, dy, dy_dot, cache):
        """dx = [x > 0]·dy (the σ''·ẋ·dẏ term is 0),  dẋ = [x > 0]·dẏ."""
        x = cache
        self._check_dy_pair(dy, dy_dot, x.shape)
        return dy * (x > 0), dy_dot * (x > 0)


class LeakyReLU(Module):
    """y = x if x > 0 else α x  (torch default α = 0.01).  Backward: dx = dy · (1 or α)."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        self._check_input(x)
        return leaky_relu(x, self.negative_slope), x      # kernels.activation

    def backward(self, dy, cache):
        x = cache
        self._check_dy(dy, x.shape)
        # dx = dy·slope, slope = 1 where x > 0, α elsewhere: one fused pass (kernels.activation)
        return leaky_relu_backward(dy, x, self.negative_slope)

    def forward_jvp(self, x, x_dot):
        """ẏ = slope(x)·ẋ, slope = 1 if x > 0 else α.  σ'' = 0 away from the kink."""
        check_tangent(self, x, x_dot)
        y, _ = self.forward(x)
        return y, leaky_relu_backward(x_dot, x, self.negative_slope), x

    def backward_jvp(self, dy, dy_dot, cache):
        """dx = slope·dy (no σ'' term),  dẋ = slope·dẏ."""
        x = cache
        self._check_dy_pair(dy, dy_dot, x.shape)
        return (leaky_relu_backward(dy, x, self.negative_slope),
                leaky_relu_backward(dy_dot, x, self.negative_slope))

    def __repr__(self):
        return f"LeakyReLU({self.negative_slope})"


class Tanh(Module):
    """y = tanh(x).  Backward: dx = dy · (1 − y²), with y from the forward pass."""

    def forward(self, x):
        self._check_input(x)
        y = get_array_module(x).tanh(x)
        return y, y

    def backward(self, dy, cache):
        y = cache
        self._check_dy(dy, y.shape)
        return tanh_backward(dy, y)                       # dy·(1 − y²), one fused pass

    def forward_jvp(self, x, x_dot):
        """ẏ = σ'(x)·ẋ with σ' = 1 − y²."""
        check_tangent(self, x, x_dot)
        y, _ = self.forward(x)
        return y, tanh_backward(x_dot, y), (y, x_dot)

    def backward_jvp(self, dy, dy_dot, cache):
        """dx = σ'·dy + σ''·ẋ·dẏ,  dẋ = σ'·dẏ;  σ' = 1 − y², σ'' = −2y(1 − y²)."""
        y, x_dot = cache
        self._check_dy_pair(dy, dy_dot, y.shape)
        d1 = 1 - y * y
        d2 = -2 * y * d1
        return d1 * dy + d2 * x_dot * dy_dot, d1 * dy_dot


def sigmoid(x):
    """σ(x) = 1 / (1 + e^(−x)), computed without overflow for x of either sign."""
    xp = get_array_module(x)
    return 0.5 * (1 + xp.tanh(0.5 * x))   # the same function; tanh never overflows


class Sigmoid(Module):
    """y = σ(x).  Backward: dx = dy · y (1 − y)."""

    def forward(self, x):
        self._check_input(x)
        y = sigmoid(x)
        return y, y

    def backward(self, dy, cache):
        y = cache
        self._check_dy(dy, y.shape)
        return dy * y * (1 - y)

    def forward_jvp(self, x, x_dot):
        """ẏ = σ'(x)·ẋ with σ' = y(1 − y)."""
        check_tangent(self, x, x_dot)
        y, _ = self.forward(x)
        return y, x_dot * y * (1 - y), (y, x_dot)

    def backward_jvp(self, dy, dy_dot, cache):
        """dx = σ'·dy + σ''·ẋ·dẏ,  dẋ = σ'·dẏ;  σ' = y(1 − y), σ'' = σ'·(1 − 2y)."""
        y, x_dot = cache
        self._check_dy_pair(dy, dy_dot, y.shape)
        d1 = y * (1 - y)
        d2 = d1 * (1 - 2 * y)
        return d1 * dy + d2 * x_dot * dy_dot, d1 * dy_dot


class Softplus(Module):
    """y = (1/β)·log(1 + e^(βx)), a smooth ReLU, as torch.nn.Softplus: y = x where βx > threshold.

    Backward: dx = dy·σ(βx) (σ the sigmoid; 1 above the threshold).
    Tangent passes: σ' = σ(βx), σ'' = β·σ(βx)(1 − σ(βx)) (0 above the threshold).
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        if beta <= 0:
            raise ValueError(f"Softplus: beta must be positive, got {beta}")
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        self._check_input(x)
        xp = get_array_module(x)
        bx = x * x.dtype.type(self.beta)
        # log(1 + e^z) = max(z, 0) + log1p(e^(−|z|)): never overflows
        y = (xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))) / x.dtype.type(self.beta)
        return xp.where(bx > self.threshold, x, y), x

    def _derivatives(self, x):
        """σ'(x) and σ''(x)."""
        bx = x * x.dtype.type(self.beta)
        linear = bx > self.threshold
        s = sigmoid(bx)
        d1 = get_array_module(x).where(linear, x.dtype.type(1), s)
        d2 = s * (1 - s) * x.dtype.type(self.beta) * ~linear
        return d1, d2

    def backward(self, dy, cache):
        x = cache
        self._check_dy(dy, x.shape)
        return dy * self._derivatives(x)[0]

    def forward_jvp(self, x, x_dot):
        """ẏ = σ'(x)·ẋ with σ' = sigmoid(βx)."""
        check_tangent(self, x, x_dot)
        y, _ = self.forward(x)
        d1, d2 = self._derivatives(x)
        return y, d1 * x_dot, (d1, d2 * x_dot)

    def backward_jvp(self, dy, dy_dot, cache):
        """dx = σ'·dy + σ''·ẋ·dẏ,  dẋ = σ'·dẏ."""
        d1, d2_x_dot = cache
        self._check_dy_pair(dy, dy_dot, d1.shape)
        return d1 * dy + d2_x_dot * dy_dot, d1 * dy_dot

    def __repr__(self):
        return f"Softplus(beta={self.beta}, threshold={self.threshold})"


class Dropout(Module):
    """Inverted dropout, as torch.nn.Dropout: in training y = x · m / (1 − p) with
    m ~ Bernoulli(1 − p); in eval mode y = x.  Backward: dx = dy · m / (1 − p).

    ``rng``: the generator of the masks (default: the backend's), or a list of one generator
    per row of the batch (row n's mask then depends on its own generator only, whatever else
    is in the batch). ``always=True`` keeps it on in eval mode too (a fresh mask at every call): pix2pix's
    generator has no input noise, its only randomness is dropout "applied on several layers of
    our generator at both training and test time" (Isola et al. 2017, "Objective"). The
    default, always=False, is torch's.
    """

    def __init__(self, p: float = 0.5, rng=None, always: bool = False):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        if not isinstance(always, bool):
            raise ValueError(f"Dropout: always must be True or False, got {always!r}")
        self.p = p
        self.rng = rng
        self.always = always

    def forward(self, x):
        self._check_input(x)
        if not (self.training or self.always) or self.p == 0:
            return x, None
        rng = self.rng if self.rng is not None else backend.rng()
        # xp.asarray: a NumPy Generator's mask moves to x's device (a no-op on NumPy)
        xp = backend.get_array_module(x)
        if isinstance(rng, (list, tuple)):          # one generator per row: a row's mask
            if len(rng) != x.shape[0]:              # depends on its own generator only
                raise ValueError(f"{self!r}: {len(rng)} generators for a batch of {x.shape[0]}")
            keep = xp.stack([xp.asarray(r.random(x.shape[1:])) for r in rng]) >= self.p
        else:
            keep = xp.asarray(rng.random(x.shape)) >= self.p
        scale = keep.astype(x.dtype) / x.dtype.type(1 - self.p)
        return x * scale, scale

    def backward(self, dy, cache):
        if cache is None:       # eval mode or p = 0: the identity, nothing to check dy against
            return dy           # (the layer before this one checks it)
        self._check_dy(dy, cache.shape)
        return dy * cache

    def __repr__(self):
        return f"Dropout(p={self.p}, always=True)" if self.always else f"Dropout(p={self.p})"


class Sequential(Module):
    """Layers applied in order. The cache is the list of the layers' caches.

    ``params``/``grads`` are flat views with dotted names ("0.weight", ...) of the
    same arrays the layers hold, so an optimizer can treat a network as one layer.
    """

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise ValueError(f"Sequential: item {i} is {type(layer).__name__}, "
                                 "expected a minigan.nn Module")
        self.layers = list(layers)

    def children(self):
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    # params/grads: flat dicts built from the children (named_parameters is recursive,
    # so the Module base must not also count them as this module's own).
    @property
    def params(self):
        return {n: p for n, p, _ in self.named_parameters()}

    @params.setter
    def params(self, value):
        if value:
            raise AttributeError("Sequential holds no parameters of its own")

    @property
    def grads(self):
        return {n: g for n, _, g in self.named_parameters()}

    @grads.setter
    def grads(self, value):
        if value:
            raise AttributeError("Sequential holds no gradients of its own")

    def named_parameters(self, prefix=""):
        out = []
        for name, child in self.children():
            out.extend(child.named_parameters(prefix + name + "."))
        return out

    def state_dict(self, prefix=""):
        out = {}
        for name, child in self.children():
            out.update(child.state_dict(prefix + name + "."))
        return out

    def _state_entries(self, prefix=""):
        out = []
        for name, child in self.children():
            out.extend(child._state_entries(prefix + name + "."))
        return out

    def to(self, dtype=None, backend_name=None):
        for _, child in self.children():
            child.to(dtype, backend_name)
        return self

    def forward(self, x):
        caches = []
        for layer in self.layers:
            x, cache = layer.forward(x)
            caches.append(cache)
        return x, caches

    def backward(self, dy, cache):
        for layer, c in zip(reversed(self.layers), reversed(cache)):
            dy = layer.backward(dy, c)
        return dy

    def backward_params(self, dy, cache):
        """``backward`` without dL/dx (see Module.backward_params): the layers in reverse
        order down to the first one with parameters, which skips its own dx; returns None."""
        first = next((i for i, layer in enumerate(self.layers) if layer.named_parameters()),
                     None)
        if first is None:                               # no parameters: nothing to add
            return
        for i in reversed(range(first + 1, len(self.layers))):
            dy = self.layers[i].backward(dy, cache[i])
        self.layers[first].backward_params(dy, cache[first])

    def forward_jvp(self, x, x_dot):
        """The layers' tangent passes in order: (x, ẋ) -> (y, ẏ, list of caches)."""
        caches = []
        for i, layer in enumerate(self.layers):
            if not hasattr(layer, "forward_jvp"):
                raise NotImplementedError(
                    f"Sequential: layer {i}, {layer!r}, has no tangent pass (forward_jvp), "
                    "which gradient penalties need; see minigan.nn.jvp for the layers that "
                    "have one")
            x, x_dot, cache = layer.forward_jvp(x, x_dot)
            caches.append(cache)
        return x, x_dot, caches

    def backward_jvp(self, dy, dy_dot, cache):
        """The layers' backward_jvp in reverse order: (dy, dẏ) -> (dx, dẋ). The last layer
        checks dy and dẏ against its output's shape (each layer's backward_jvp does)."""
        for layer, c in zip(reversed(self.layers), reversed(cache)):
            dy, dy_dot = layer.backward_jvp(dy, dy_dot, c)
        return dy, dy_dot

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __repr__(self):
        inner = "\n".join(f"  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"
