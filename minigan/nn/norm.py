"""Normalisation layers: batch norm (1-D and 2-D) and layer norm, with hand-derived backward.

Shape letters: N batch, C channels (features), L length, H×W image; M = the number of values
each statistic is taken over (N, N·L or N·H·W for batch norm; the size of the normalised
shape, D, for layer norm). Batch norm's backward pass is derived in chapter 4
(``notebooks/04_convolutions.ipynb``, section 5); the docstrings repeat the result.

Both normalise, then scale and shift:  x̂ = (x − μ) / σ,  σ = √(var + eps),  y = γ x̂ + β.
The backward pass through μ and σ, written compactly (the whole derivation fits in 5 lines
once one notices Σ x̂ = 0 and Σ x̂² = M):

    dx = (1/M) · (1/σ) · (M·g − Σ g − x̂ · Σ (g · x̂)),       g = dy · γ

with sums over the M values that share μ and σ. For batch norm γ is constant over those
values and comes out of the sums: dx = (1/M)·γ/σ·(M·dy − Σdy − x̂·Σ(dy·x̂)).
"""
from __future__ import annotations

import math

from .. import backend
from ..backend import get_array_module
from ..kernels.batchnorm import channel_mean_var, channel_sums
from .jvp import check_tangent
from .module import Module, charge_allocation, positive_int


class _BatchNorm(Module):
    """Batch normalisation over every axis but the channel axis 1, as torch.nn.BatchNorm*d.

    Training: normalise with the batch's mean and (biased) variance, and update the running
    estimates  running ← (1 − momentum)·running + momentum·batch  (with the UNBIASED variance,
    M/(M − 1)·var, as torch). Eval: normalise with the running estimates, a fixed affine map.
    """

    _ndims: tuple = ()
    _layout: str = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, dtype="float32"):
        super().__init__()
        name = type(self).__name__
        num_features = positive_int(num_features, "num_features", name)
        if not 0 <= momentum <= 1:
            raise ValueError(f"{name}: momentum must be in [0, 1], got {momentum}")
        self.num_features, self.eps, self.momentum, self.affine = (num_features, eps, momentum,
                                                                   affine)
        charge_allocation(f"{name}({num_features})", (num_features,), dtype,
                          params=[(num_features,)] * (2 * bool(affine)),
                          buffers=[(num_features,)] * 2)
        xp = backend.xp
        if affine:   # as torch: γ = 1, β = 0
            self.params["weight"] = xp.ones(num_features, dtype=dtype)
            self.params["bias"] = xp.zeros(num_features, dtype=dtype)
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}
        self.running_mean = xp.zeros(num_features, dtype=dtype)
        self.running_var = xp.ones(num_features, dtype=dtype)

    def _buffers(self):
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def _shape_hint(self):
        return self._layout.format(C=self.num_features)

    def forward(self, x):
        self._check_input(x, ndim=self._ndims)
        C = self.num_features
        if x.shape[1] != C:
            raise ValueError(f"{self!r}: expected input of shape {self._shape_hint()} "
                             f"({C} channels on axis 1), got shape {tuple(x.shape)}")
        xp = get_array_module(x)
        shape = (1, C) + (1,) * (x.ndim - 2)           # a per-channel vector, broadcastable
        if self.training:
            M = x.size // C
            if M <= 1:
                raise ValueError(f"{self!r}: expected more than 1 value per channel when "
                                 f"training, got input of shape {tuple(x.shape)}")
            # μ and the biased var over every axis but the channels: (C,), in one pass
            # (kernels.batchnorm; its reference: μ = x.mean(axis=(0, 2, ...)), then Σ(x − μ)²/M)
            mean, var = channel_mean_var(x)
            xc = x - mean.reshape(shape)
            m = self.momentum
            self.running_mean[...] = (1 - m) * self.running_mean + m * mean
            self.running_var[...] = (1 - m) * self.running_var + m * var * (M / (M - 1))
        else:
            mean, var = self.running_mean.astype(x.dtype), self.running_var.astype(x.dtype)
            xc = x - mean.reshape(shape)
        inv_std = 1 / xp.sqrt(var + x.dtype.type(self.eps))           # 1/σ: (C,)
        x_hat = xc
        x_hat *= inv_std.reshape(shape)                               # in place: xc is ours
        if self.affine:
            y = x_hat * self.params["weight"].reshape(shape)
            y += self.params["bias"].reshape(shape)
        else:
            y = x_hat
        return y, (x_hat, inv_std, self.training)

    def backward(self, dy, cache):
        x_hat, inv_std, training = cache
        self._check_dy(dy, x_hat.shape)
        C = self.num_features
        shape = (1, C) + (1,) * (dy.ndim - 2)
        sum_dy, sum_dy_xhat = channel_sums(dy, x_hat)                 # Σ dy, Σ dy·x̂: (C,)
        if self.affine:
            self.grads["weight"] += sum_dy_xhat                       # dγ = Σ dy·x̂
            self.grads["bias"] += sum_dy                              # dβ = Σ dy
            scale = self.params["weight"] * inv_std                   # γ/σ
        else:
            scale = inv_std
        if not training:                                              # μ, σ are constants
            return dy * scale.reshape(shape)
        M = dy.size // C
        # dx = γ/σ · (dy − Σdy/M − x̂·Σ(dy·x̂)/M), built in one array: 4 passes, 1 allocation
        dx = x_hat * (-sum_dy_xhat / M).reshape(shape)
        dx += dy
        dx -= (sum_dy / M).reshape(shape)
        dx *= scale.reshape(shape)
        return dx

    def forward_jvp(self, x, x_dot):
        """Not supported, on purpose: see the error message."""
        self._refuse_tangent_pass()

    def backward_jvp(self, dy, dy_dot, cache):
        self._refuse_tangent_pass()

    def _refuse_tangent_pass(self):
        raise NotImplementedError(
            f"{self!r} in a critic: a gradient penalty needs ∇ₓD(x_n) of each sample on its "
            "own, and batch norm makes every output depend on the whole batch, so the penalty "
            "would no longer constrain the critic's per-sample gradient. Gulrajani et al. 2017 "
            "(WGAN-GP, section 4) advise no batch norm in the critic and suggest layer "
            "normalisation instead: use minigan.nn.LayerNorm")

    def __repr__(self):
        extra = "" if self.affine else ", affine=False"
        return (f"{type(self).__name__}({self.num_features}, eps={self.eps}, "
                f"momentum={self.momentum}{extra})")


class BatchNorm1d(_BatchNorm):
    """Batch norm of (N, C) or (N, C, L) inputs, per feature/channel C, as torch.nn.BatchNorm1d.

    Statistics over N (or N·L): μ, var: (C,). γ = weight, β = bias: (C,), init 1 and 0.
    Backward (normalisation chapter): dx = (1/M)·γ/σ·(M·dy − Σdy − x̂·Σ(dy·x̂)),
    dγ += Σ dy·x̂, dβ += Σ dy; in eval mode dx = dy·γ/σ_running.
    Buffers ``running_mean``, ``running_var`` (checkpointed with the parameters).
    """

    _ndims = (2, 3)
    _layout = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm of (N, C, H, W) images, per channel, as torch.nn.BatchNorm2d.

    Statistics over N·H·W: μ, var: (C,). γ = weight, β = bias: (C,), init 1 and 0.
    Backward (normalisation chapter): dx = (1/M)·γ/σ·(M·dy − Σdy − x̂·Σ(dy·x̂)), M = N·H·W,
    dγ += Σ dy·x̂, dβ += Σ dy; in eval mode dx = dy·γ/σ_running.
    Buffers ``running_mean``, ``running_var`` (checkpointed with the parameters).
    """

    _ndims = (4,)
    _layout = "(N, {C}, H, W)"


class LayerNorm(Module):
    """Layer norm over the last dimensions, as torch.nn.LayerNorm.

    x: (..., *normalized_shape); statistics per sample over the D = prod(normalized_shape)
    trailing values; γ = weight, β = bias: normalized_shape, init 1 and 0 (elementwise affine).
    The same in training and eval (no running statistics).
    Backward (normalisation chapter), with g = dy·γ and sums over the D values of a sample:
    dx = (1/D)·(1/σ)·(D·g − Σg − x̂·Σ(g·x̂)),  dγ += Σ_batch dy·x̂,  dβ += Σ_batch dy.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 dtype="float32"):
        super().__init__()
        try:
            sizes = tuple(normalized_shape)
        except TypeError:                       # one size
            sizes = (normalized_shape,)
        try:
            if not sizes:
                raise ValueError
            self.normalized_shape = tuple(positive_int(s, "normalized_shape", "LayerNorm")
                                          for s in sizes)
        except ValueError:
            raise ValueError(f"LayerNorm: normalized_shape must be a positive int or a tuple of "
                             f"them, got {normalized_shape!r}") from None
        self.eps, self.elementwise_affine = eps, elementwise_affine
        charge_allocation(f"LayerNorm({self.normalized_shape})", self.normalized_shape, dtype,
                          params=[self.normalized_shape] * (2 * bool(elementwise_affine)))
        xp = backend.xp
        if elementwise_affine:
            self.params["weight"] = xp.ones(self.normalized_shape, dtype=dtype)
            self.params["bias"] = xp.zeros(self.normalized_shape, dtype=dtype)
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}

    def _shape_hint(self):
        return "(..., " + ", ".join(map(str, self.normalized_shape)) + ")"

    def forward(self, x):
        self._check_input(x)
        k = len(self.normalized_shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k:]) != self.normalized_shape:
            raise ValueError(f"{self!r}: expected input of shape {self._shape_hint()}, "
                             f"got shape {tuple(x.shape)}")
        xp = get_array_module(x)
        axes = tuple(range(x.ndim - k, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)                       # μ: (..., 1, ..., 1)
        xc = x - mean
        var = (xc * xc).mean(axis=axes, keepdims=True)
        inv_std = 1 / xp.sqrt(var + x.dtype.type(self.eps))           # 1/σ
        x_hat = xc * inv_std
        y = x_hat * self.params["weight"] + self.params["bias"] if self.elementwise_affine \
            else x_hat
        return y, (x_hat, inv_std)

    def backward(self, dy, cache):
        x_hat, inv_std = cache
        self._check_dy(dy, x_hat.shape)
        k = len(self.normalized_shape)
        axes = tuple(range(dy.ndim - k, dy.ndim))                     # within a sample
        batch_axes = tuple(range(dy.ndim - k))                        # across samples
        if self.elementwise_affine:
            self.grads["weight"] += (dy * x_hat).sum(axis=batch_axes)     # dγ = Σ dy·x̂
            self.grads["bias"] += dy.sum(axis=batch_axes)                 # dβ = Σ dy
            g = dy * self.params["weight"]
        else:
            g = dy
        D = math.prod(self.normalized_shape)
        return (inv_std / D) * (D * g - g.sum(axis=axes, keepdims=True)
                                - x_hat * (g * x_hat).sum(axis=axes, keepdims=True))

    # Tangent passes for gradient penalties (minigan.nn.jvp). Per sample, with means over its
    # D values, s = 1/σ and ẋc = ẋ − mean ẋ, the tangent of x̂ = (x − μ)·s is
    #     ẋ̂ = s·(ẋc − x̂·m),  m = mean(x̂·ẋc)           (from ṡ = −s³·mean(xc·ẋc)),
    # i.e. ẋ̂ = J ẋ with J = s·(I − 11ᵀ/D − x̂x̂ᵀ/D), the SYMMETRIC Jacobian whose product with
    # g = dy·γ is the ordinary backward pass.
    def _axes(self, a):
        k = len(self.normalized_shape)
        return tuple(range(a.ndim - k, a.ndim)), tuple(range(a.ndim - k))

    def forward_jvp(self, x, x_dot):
        """(x, ẋ) -> (y, ẏ, cache): ẏ = γ·ẋ̂, ẋ̂ = s·(ẋc − x̂·mean(x̂·ẋc))."""
        check_tangent(self, x, x_dot)
        y, (x_hat, inv_std) = self.forward(x)
        axes, _ = self._axes(x)
        x_dot_c = x_dot - x_dot.mean(axis=axes, keepdims=True)              # ẋc
        m = (x_hat * x_dot_c).mean(axis=axes, keepdims=True)
        x_hat_dot = inv_std * (x_dot_c - x_hat * m)                          # ẋ̂
        y_dot = x_hat_dot * self.params["weight"] if self.elementwise_affine else x_hat_dot
        return y, y_dot, (x_hat, inv_std, x_dot_c, x_hat_dot)

    def backward_jvp(self, dy, dy_dot, cache):
        """(dy, dẏ) -> (dx, dẋ). With a = dy·γ, ȧ = dẏ·γ, J u = s·(u − mean u − x̂·mean(u·x̂)),
        m = mean(x̂·ẋc), A = mean(ȧ·ẋc), B = mean(ȧ·x̂)  (derivation: F = ⟨ȧ, ẋ̂⟩ =
        s·D·(A − m·B), differentiated through s, x̂ and m, with ∂s/∂x = −s²x̂/D):
            dx = J a − s·J(B·ẋc + m·ȧ) − s²·x̂·(A − m·B),    dẋ = J ȧ,
            dγ += Σ_batch (dy·x̂ + dẏ·ẋ̂),  dβ += Σ_batch dy."""
        x_hat, inv_std, x_dot_c, x_hat_dot = cache
        self._check_dy_pair(dy, dy_dot, x_hat.shape)
        axes, batch_axes = self._axes(dy)
        dx = self.backward(dy, (x_hat, inv_std))           # J a; dγ += Σ dy·x̂; dβ += Σ dy
        if self.elementwise_affine:
            self.grads["weight"] += (dy_dot * x_hat_dot).sum(axis=batch_axes)
            a_dot = dy_dot * self.params["weight"]
        else:
            a_dot = dy_dot

        def mean(u):
            return u.mean(axis=axes, keepdims=True)

        def J(u):
            return inv_std * (u - mean(u) - x_hat * mean(u * x_hat))

        m, A, B = mean(x_hat * x_dot_c), mean(a_dot * x_dot_c), mean(a_dot * x_hat)
        dx = dx - inv_std * J(B * x_dot_c + m * a_dot) - inv_std * inv_std * x_hat * (A - m * B)
        return dx, J(a_dot)

    def __repr__(self):
        extra = "" if self.elementwise_affine else ", elementwise_affine=False"
        return f"LayerNorm({self.normalized_shape}, eps={self.eps}{extra})"


class InstanceNorm2d(Module):
    """Instance norm of (N, C, H, W) images, as torch.nn.InstanceNorm2d (track_running_stats
    False: no running statistics, the same in training and eval).

    Each map x[n, c] (H×W values, M = H·W) is normalised with its own mean and biased variance:
        μ = mean(x[n, c]),  σ = √(mean((x[n, c] − μ)²) + eps),  x̂ = (x − μ)/σ,
        y = γ_c x̂ + β_c  with affine=True (γ = weight, β = bias: (C,), init 1 and 0);  y = x̂
    otherwise (the default, as torch). Pix2pix's generator and discriminator normalise this way
    (batch norm on a batch of 1 is instance norm).

    Backward, per map, with g = dy·γ_c (g = dy without affine) and means over its H·W values.
    x̂ depends on x directly and through μ and σ:
        ∂μ/∂x_i = 1/M,  ∂σ/∂x_i = x̂_i/M  (from σ² = mean((x − μ)²) + eps, using mean(x − μ) = 0),
        ∂x̂_j/∂x_i = (δ_ij − 1/M)/σ − x̂_j·x̂_i/(M σ),
    so  dx_i = Σ_j g_j ∂x̂_j/∂x_i:
        dx = (1/σ)·(g − mean(g) − x̂·mean(g·x̂)),     dγ += Σ_{n,h,w} dy·x̂,   dβ += Σ_{n,h,w} dy
    (batch norm's formula with the sums over one map instead of over N·H·W).

    Degenerate maps. A constant map (σ of the data 0) is fine: σ = √eps, x̂ = 0, y = β, and dx =
    (g − mean g)/√eps is finite (eps is what keeps it so). A 1×1 map (H·W = 1) is refused with a
    ValueError, as torch refuses it ("Expected more than 1 spatial element"): the arithmetic
    would be NaN-free (x − μ = 0 exactly, so y = β and dx = 0), but a layer whose output is
    a constant and whose input gradient is exactly 0 is always a mistake in the network (in
    pix2pix's U-Net it is the 1×1 bottleneck, which is why the innermost block has no norm).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, affine: bool = False,
                 dtype="float32"):
        super().__init__()
        num_features = positive_int(num_features, "num_features", "InstanceNorm2d")
        if not eps > 0:
            raise ValueError(f"InstanceNorm2d: eps must be positive, got {eps!r}")
        self.num_features, self.eps, self.affine = num_features, eps, bool(affine)
        charge_allocation(f"InstanceNorm2d({num_features})", (num_features,), dtype,
                          params=[(num_features,)] * (2 * bool(affine)))
        xp = backend.xp
        if affine:   # as torch: γ = 1, β = 0
            self.params["weight"] = xp.ones(num_features, dtype=dtype)
            self.params["bias"] = xp.zeros(num_features, dtype=dtype)
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}

    def _shape_hint(self):
        return f"(N, {self.num_features}, H, W)"

    def forward(self, x):
        self._check_input(x, ndim=4)
        C = self.num_features
        if x.shape[1] != C:
            raise ValueError(f"{self!r}: expected input of shape {self._shape_hint()} "
                             f"({C} channels on axis 1), got shape {tuple(x.shape)}")
        if x.shape[2] * x.shape[3] == 1:
            raise ValueError(
                f"{self!r}: expected more than 1 spatial element per map, got input of shape "
                f"{tuple(x.shape)} (as torch): a 1×1 map normalised over itself is always 0, so "
                "the output would be the bias alone and no gradient would reach the input; "
                "leave the norm out at a 1×1 bottleneck (pix2pix's U-Net does)")
        xp = get_array_module(x)
        mean = x.mean(axis=(2, 3), keepdims=True)                      # μ: (N, C, 1, 1)
        xc = x - mean
        var = (xc * xc).mean(axis=(2, 3), keepdims=True)               # biased variance
        inv_std = 1 / xp.sqrt(var + x.dtype.type(self.eps))            # 1/σ: (N, C, 1, 1)
        x_hat = xc
        x_hat *= inv_std                                               # in place: xc is ours
        if self.affine:
            shape = (1, C, 1, 1)
            y = x_hat * self.params["weight"].reshape(shape)
            y += self.params["bias"].reshape(shape)
        else:
            y = x_hat                # (as batch norm: no layer writes into its input)
        return y, (x_hat, inv_std)

    def backward(self, dy, cache):
        x_hat, inv_std = cache
        self._check_dy(dy, x_hat.shape)
        if self.affine:
            shape = (1, self.num_features, 1, 1)
            self.grads["weight"] += (dy * x_hat).sum(axis=(0, 2, 3))   # dγ = Σ dy·x̂
            self.grads["bias"] += dy.sum(axis=(0, 2, 3))               # dβ = Σ dy
            g = dy * self.params["weight"].reshape(shape)
        else:
            g = dy
        # dx = (1/σ)·(g − mean(g) − x̂·mean(g·x̂)), the means over each map's H·W values
        xp = get_array_module(dy)
        mean_g = g.mean(axis=(2, 3), keepdims=True)
        g_xhat = g * x_hat
        mean_g_xhat = g_xhat.mean(axis=(2, 3), keepdims=True)
        # built in place, in the formula's order (the same numbers), in the two temporaries g
        # and g·x̂ (without affine, g is the caller's dy, which no layer writes into)
        dx = g - mean_g if g is dy else xp.subtract(g, mean_g, out=g)
        dx -= xp.multiply(x_hat, mean_g_xhat, out=g_xhat)
        dx *= inv_std
        return dx

    def __repr__(self):
        return f"InstanceNorm2d({self.num_features}, eps={self.eps}, affine={self.affine})"
