"""Spectral normalisation (Miyato et al. 2018): a Linear or Conv2d whose weight is divided by
its largest singular value, so that the layer is (at most) 1-Lipschitz.

Shape letters: M output rows of the weight viewed as a matrix, K its columns. For a Linear the
weight is already a matrix, W: (M, K) = (out_features, in_features); for a Conv2d the weight
(F, C, KH, KW) is viewed as W: (F, C·KH·KW), the matrix that conv.py multiplies im2col's
columns by (and the view torch.nn.utils.spectral_norm takes).

The largest singular value σ(W) = max over unit vectors u, v of uᵀ W v, and the maximisers
are the top singular vectors. POWER ITERATION finds them with matrix-vector products only:

    v ← Wᵀu / ‖Wᵀu‖,   u ← W v / ‖W v‖,   σ ≈ uᵀ W v.

Each step multiplies the error by (σ₂/σ₁)², so it converges fast when the top singular value
stands out. Training changes W only a little at each step, so (as the paper does) the layer
keeps u from one call to the next (the buffer ``u``, saved in checkpoints) and does ONE step
per training forward pass: the estimate follows W as it moves.

The layer computes y = layer(x; W_sn) with W_sn = W / σ. The backward pass, in three lines
(u and v are treated as constants, as in the paper and in torch; see SpectralNorm below):

    σ = uᵀ W v = Σ_kl u_k W_kl v_l       ⇒  ∂σ/∂W = u vᵀ
    W_sn = W / σ                          ⇒  ∂(W_sn)_kl/∂W_ij = δ_ki δ_lj / σ − W_kl u_i v_j / σ²
    dW = Σ_kl G_kl ∂(W_sn)_kl/∂W          =  G/σ − (⟨G, W⟩/σ²)·u vᵀ  =  (G − ⟨G, W_sn⟩·u vᵀ) / σ

where G = dL/dW_sn is what the wrapped layer's own backward pass computes (with W_sn in place
of W) and ⟨A, B⟩ = Σ_kl A_kl B_kl. The second term is the one that is easy to forget: scaling
W up also scales σ up, so the part of G along u vᵀ is (partly) cancelled.
"""
from __future__ import annotations

import contextlib

from .. import backend
from ..backend import get_array_module
from .conv import Conv2d
from .layers import Linear, Sequential
from .module import Module, charge_allocation

__all__ = ["power_iteration", "SpectralNorm", "spectral_norm"]


def _normalize(a, eps):
    """a / max(‖a‖, eps), as torch.nn.functional.normalize: never divides by zero."""
    xp = get_array_module(a)
    return a / xp.maximum(xp.linalg.norm(a), a.dtype.type(eps))


def power_iteration(W, u, n_iter: int = 1, eps: float = 1e-12):
    """Estimate the largest singular value of W and its singular vectors.

    W: (M, K), or any weight of ndim >= 2, viewed as the matrix W.reshape(M, -1) (a conv
    weight (F, C, KH, KW) as (F, C·KH·KW)); u: (M,), the current estimate of the left singular
    vector (any non-zero vector to start). ``u`` is not modified.

    ``n_iter`` steps of   v = Wᵀu / ‖Wᵀu‖,   u = W v / ‖W v‖   are taken, then σ = uᵀ W v.
    With n_iter = 0, u is kept as it is and only v = Wᵀu / ‖Wᵀu‖ is computed, so that
    σ = ‖Wᵀu‖ (what an eval-mode forward pass uses: an estimate that does not change u).

    Returns (sigma, u, v): sigma a 0-d array of W's dtype (on W's device), u: (M,), v: (K,).
    """
    if n_iter < 0:
        raise ValueError(f"power_iteration: n_iter must be >= 0, got {n_iter}")
    if W.ndim < 2:
        raise ValueError(f"power_iteration: expected a weight with at least 2 dimensions, "
                         f"got shape {tuple(W.shape)}")
    W_mat = W.reshape(W.shape[0], -1)                                 # (M, K)
    if tuple(u.shape) != (W_mat.shape[0],):
        raise ValueError(f"power_iteration: u must have shape ({W_mat.shape[0]},) for a weight "
                         f"of shape {tuple(W.shape)}, got {tuple(u.shape)}")
    v = None
    for _ in range(n_iter):
        v = _normalize(W_mat.T @ u, eps)                              # (K,)
        u = _normalize(W_mat @ v, eps)                                # (M,)
    if v is None:                                                     # n_iter == 0: u fixed
        v = _normalize(W_mat.T @ u, eps)
    sigma = u @ (W_mat @ v)                                           # uᵀ W v, a 0-d array
    return sigma, u, v


class SpectralNorm(Module):
    """y = layer(x; W / σ(W)), σ the largest singular value of the weight (Miyato et al. 2018).

    ``layer``: a Linear or a Conv2d; shapes of x and y are the wrapped layer's.
    Parameters: the wrapped layer's, under the same names ("weight", "bias"). ``params`` and
    ``grads`` ARE the wrapped layer's dicts, so optimisers, ``named_parameters`` and
    ``state_dict`` see the same arrays and names as before wrapping ("0.weight" in a
    Sequential), and "weight" stays the UNnormalised W (what the optimiser updates).
    Buffer: ``u`` (M,), the estimate of the left singular vector, in checkpoints as "u";
    initialised from a normal draw of ``rng`` (minigan's global generator by default), normed.

    Forward: in training mode ``n_power_iterations`` power-iteration steps update u (module
    docstring); in eval mode u is left as it is and v = Wᵀu/‖Wᵀu‖ (torch keeps v as a second
    buffer instead; the two agree once u has converged). Then σ = uᵀWv, W_sn = W/σ,
    and the wrapped layer's own forward pass runs with W_sn (the weight is swapped in the
    params dict for the call and put back; the array W itself is never written).

    Backward: the wrapped layer's backward with W_sn gives dx, db and G = dL/dW_sn; then
    dW += (G − ⟨G, W_sn⟩·u vᵀ) / σ  (module docstring). u and v are held constant, i.e. the
    gradient does not flow through the power iteration (as in the paper and torch):
    - in eval mode this is the EXACT gradient of the forward pass: v = Wᵀu/‖Wᵀu‖ maximises
      uᵀWv over unit v, so σ(W) = max_v uᵀWv and (envelope theorem) dσ/dW = u vᵀ, the
      dependence of v on W contributes nothing;
    - in training mode the ignored terms vanish as u, v converge to the singular vectors.

    Tangent passes (for gradient penalties, minigan.nn.jvp): the wrapped layer's
    forward_jvp/backward_jvp with W_sn; G collects both the dy and the dẏ streams
    (G = dyᵀx + dẏᵀẋ for a Linear) and then goes through the same map to dW.

    Note: each training-mode call (forward or forward_jvp) takes its power-iteration steps,
    so a critic called on real data, fake data and a penalty batch advances u three times.
    A gradient penalty's two passes (``input_gradient``, then ``input_gradient_backward``)
    must see the SAME W_sn, or the parameter gradient belongs to a different function than
    the penalty's value: inside :func:`held_power_iteration` only the first call takes its
    step and later calls reuse its u, v, σ (minigan.nn.penalty does this).
    """

    def __init__(self, layer, n_power_iterations: int = 1, eps: float = 1e-12, rng=None):
        super().__init__()
        if not isinstance(layer, (Linear, Conv2d)):
            raise TypeError(f"SpectralNorm: expected a minigan.nn.Linear or Conv2d to wrap, got "
                            f"{layer!r} ({type(layer).__name__})")
        if isinstance(n_power_iterations, bool) or not isinstance(n_power_iterations, int) \
                or n_power_iterations < 1:
            raise ValueError(f"SpectralNorm: n_power_iterations must be an int >= 1, got "
                             f"{n_power_iterations!r}")
        if not eps > 0:
            raise ValueError(f"SpectralNorm: eps must be positive, got {eps!r}")
        self.layer, self.n_power_iterations, self.eps = layer, n_power_iterations, eps
        self.params, self.grads = layer.params, layer.grads      # the same dicts, shared
        self.training = layer.training
        self._held = None            # inside held_power_iteration: [] then [(σ, u, v)]
        W = self.params["weight"]
        xp = get_array_module(W)
        charge_allocation(f"SpectralNorm({layer!r})", (W.shape[0],), W.dtype,
                          buffers=[(W.shape[0],)])
        rng = rng if rng is not None else backend.rng()
        u = xp.asarray(rng.standard_normal(W.shape[0])).astype(W.dtype)
        self.u = _normalize(u, eps)                                # (M,)

    def _buffers(self):
        return {"u": self.u}

    def train(self, mode: bool = True):
        self.training = mode
        self.layer.train(mode)
        return self

    # --- σ and W_sn ------------------------------------------------------------------------
    def sigma(self):
        """The current estimate of σ(W), without updating u (as an eval-mode forward pass)."""
        return power_iteration(self.params["weight"], self.u, 0, self.eps)[0]

    def _normalized_weight(self):
        """(W_sn, σ, u, v); in training mode the buffer u is updated (in place)."""
        W = self.params["weight"]
        if self._held:                           # a later call inside held_power_iteration
            _, u, v = self._held[0]
            sigma = u @ (W.reshape(W.shape[0], -1) @ v)                 # uᵀWv, u and v held
            return W / sigma, sigma, u, v
        n = self.n_power_iterations if self.training else 0
        sigma, u, v = power_iteration(W, self.u, n, self.eps)
        if self._held is not None:
            self._held.append((sigma, u.copy(), v))
        if self.training:
            self.u[...] = u                      # the buffer; u itself stays in the cache
        else:
            u = u.copy()                         # the cache must not alias the buffer
        return W / sigma, sigma, u, v

    @contextlib.contextmanager
    def _weight_replaced(self, W_sn, dW_sn=None):
        """Run the wrapped layer with W_sn as its weight (and, for a backward pass, with dW_sn
        as its weight gradient), then put the real W and dW back, even on an error."""
        W, dW = self.params["weight"], self.grads["weight"]
        self.params["weight"] = W_sn
        if dW_sn is not None:
            self.grads["weight"] = dW_sn
        try:
            yield
        finally:
            self.params["weight"], self.grads["weight"] = W, dW

    def _weight_backward(self, dW_sn, W_sn, sigma, u, v):
        """dW += (G − ⟨G, W_sn⟩·u vᵀ) / σ with G = dW_sn (module docstring)."""
        M = W_sn.shape[0]
        G, W_sn_mat = dW_sn.reshape(M, -1), W_sn.reshape(M, -1)           # (M, K)
        inner = (G * W_sn_mat).sum()                                      # ⟨G, W_sn⟩, 0-d
        dW = (G - inner * (u[:, None] * v[None, :])) / sigma
        self.grads["weight"] += dW.reshape(self.grads["weight"].shape)

    # --- the contract ------------------------------------------------------------------------
    def forward(self, x):
        W_sn, sigma, u, v = self._normalized_weight()
        with self._weight_replaced(W_sn):
            y, inner_cache = self.layer.forward(x)
        return y, (inner_cache, W_sn, sigma, u, v)

    def backward(self, dy, cache):
        inner_cache, W_sn, sigma, u, v = cache
        dW_sn = get_array_module(W_sn).zeros_like(W_sn)                   # G, filled below
        with self._weight_replaced(W_sn, dW_sn):
            dx = self.layer.backward(dy, inner_cache)       # dx with W_sn; db into grads; G
        self._weight_backward(dW_sn, W_sn, sigma, u, v)
        return dx

    def forward_jvp(self, x, x_dot):
        """(x, ẋ) -> (y, ẏ, cache): the wrapped layer's tangent pass with W_sn."""
        W_sn, sigma, u, v = self._normalized_weight()
        with self._weight_replaced(W_sn):
            y, y_dot, inner_cache = self.layer.forward_jvp(x, x_dot)
        return y, y_dot, (inner_cache, W_sn, sigma, u, v)

    def backward_jvp(self, dy, dy_dot, cache):
        """(dy, dẏ) -> (dx, dẋ); G = dL/dW_sn from both streams, then dW as in backward."""
        inner_cache, W_sn, sigma, u, v = cache
        self._check_dy_pair(dy, dy_dot, self.layer._tangent_output_shape(inner_cache))
        dW_sn = get_array_module(W_sn).zeros_like(W_sn)
        with self._weight_replaced(W_sn, dW_sn):
            dx, dx_dot = self.layer.backward_jvp(dy, dy_dot, inner_cache)
        self._weight_backward(dW_sn, W_sn, sigma, u, v)
        return dx, dx_dot

    def _shape_hint(self):
        return self.layer._shape_hint()

    def __repr__(self):
        return f"SpectralNorm({self.layer!r}, n_power_iterations={self.n_power_iterations})"


@contextlib.contextmanager
def held_power_iteration(net):
    """Within the block, every SpectralNorm inside ``net`` (found through ``children()``)
    takes its power-iteration step on the FIRST call only (in train mode, as always) and
    every later call reuses that call's u and v, with σ = uᵀWv: the same W_sn, as long as W
    does not change inside the block. Released after, even on an error; nested blocks keep
    the outer block's u and v. A no-op without spectral normalisation."""
    found, stack = [], [net]
    while stack:
        m = stack.pop()
        if isinstance(m, SpectralNorm) and m._held is None:   # (an outer block keeps its own)
            found.append(m)
            m._held = []
        stack.extend(child for _, child in m.children())
    try:
        yield
    finally:
        for m in found:
            m._held = None


def spectral_norm(module, n_power_iterations: int = 1, eps: float = 1e-12, rng=None):
    """Wrap every Linear and Conv2d of ``module`` in a SpectralNorm.

    - a Sequential is modified IN PLACE (nested Sequentials too) and returned: its layers
      are replaced by their wrapped versions, parameter names stay as they were ("0.weight"),
      the parameter arrays are the same (an optimiser made before still updates them), and
      each wrapped layer adds a buffer "<name>.u" to the state dict;
    - a Linear or Conv2d: returns SpectralNorm(module);
    - layers already wrapped are left as they are; other layers (activations, ConvTranspose2d,
      norms) are not touched.
    """
    if isinstance(module, (Linear, Conv2d)):
        return SpectralNorm(module, n_power_iterations, eps, rng)
    if not isinstance(module, Sequential):
        raise TypeError(f"spectral_norm: expected a Sequential, Linear or Conv2d, got "
                        f"{module!r} ({type(module).__name__})")
    for i, layer in enumerate(module.layers):
        if isinstance(layer, (Linear, Conv2d)):
            module.layers[i] = SpectralNorm(layer, n_power_iterations, eps, rng)
        elif isinstance(layer, Sequential):
            spectral_norm(layer, n_power_iterations, eps, rng)
    return module
