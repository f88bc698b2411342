"""Minibatch discrimination (Salimans et al. 2016, "Improved techniques for training GANs",
section 3.2): features that let the discriminator look at a whole batch at once, so that a
generator that collapses onto a few modes (every sample alike) is easy to tell apart.

Shape letters: N batch, A input features, B kernels, C dimensions per kernel.

Forward, one named intermediate per line (the backward pass below follows them in reverse):

    M        = (x T).reshape(N, B, C)                 x: (N, A), T: (A, B·C)
    D[i,j,b,c] = M[i,b,c] − M[j,b,c]                  (N, N, B, C)
    L1[i,j,b]  = Σ_c |D[i,j,b,c]|                     (N, N, B), the L1 distance of rows i, j
    c[i,j,b]   = exp(−L1[i,j,b])                      (N, N, B), 1 for equal rows, → 0 far apart
    o[i,b]     = Σ_{j≠i} c[i,j,b]                     (N, B)
    y          = concat([x, o], axis=1)               (N, A + B)

j = i is left out of the sum: c[i,i,b] = exp(0) = 1 whatever x is, so including it would only
add the constant 1 to every o (the authors' code leaves it out too, by adding 1e6 to L1[i,i]).
A batch of one has o = 0: nothing to compare with.

``average=True`` divides o by N − 1 (the mean of c over the other samples instead of the sum):
o then lies in [0, 1] whatever the batch size. With the sum, a batch of 512 near-identical
samples gives features near 511, which can saturate the logit after them at initialisation
(σ(s) rounds to 1 in float32 beyond s ≈ 17, and the generator's gradient vanishes). The
backward pass is the same with do scaled by 1/(N − 1).

Backward, from dy: (N, A + B) (each line differentiates the forward line with the same name):

    dx_direct = dy[:, :A],   do = dy[:, A:]                               (N, A), (N, B)
    dc[i,j,b] = do[i,b] for j ≠ i, 0 for j = i                            o = Σ_{j≠i} c
    dL1       = −c · dc                                                   c = exp(−L1)
    dD[i,j,b,c] = dL1[i,j,b] · sign(D[i,j,b,c])                           d|t|/dt = sign(t)
    dM[k,b,c] = Σ_j dD[k,j,b,c] − Σ_i dD[i,k,b,c]      (M[k] enters D[k,j] with +, D[i,k] with −)

D is antisymmetric (D[i,k] = −D[k,i]) and c symmetric, so the two sums combine into one:

    dM[i,b,c] = Σ_j w[i,j,b] · sign(M[i,b,c] − M[j,b,c]),   w[i,j,b] = −c[i,j,b]·(do[i,b] + do[j,b])

(the j side: row i also sits in every other row's sum o_j, hence do[j]). Then the matrix
product:  dT += xᵀ · dM.reshape(N, B·C),   dx = dx_direct + dM.reshape(N, B·C) · Tᵀ.
At D = 0 exactly (two identical rows) |t| has no derivative and sign(0) = 0 is used, the
subgradient that torch and NumPy pick too.

Memory: the (N, N, B, C) array D is the largest; it is built once in the forward pass and once
more in the backward pass (the cache holds only M and c, (N, B, C) and (N, N, B)), each time
reused in place: for N = 512, B·C = 64 that is 16.8 million numbers, 67 MB in float32.
"""
from __future__ import annotations

from .. import backend
from ..backend import get_array_module
from .module import Module, charge_allocation, positive_int

__all__ = ["MinibatchDiscrimination"]


class MinibatchDiscrimination(Module):
    """y = concat([x, o(x)], axis=1), o(x_i)_b = Σ_{j≠i} exp(−‖M_ib − M_jb‖₁), M = (x T) as
    (N, B, C)  (Salimans et al. 2016, section 3.2; derivation in the module docstring).

    x: (N, A); T: (A, B·C), the parameter "T"; y: (N, A + B).
    Backward: dM[i] = Σ_j w[i,j]·sign(M[i] − M[j]),  w[i,j] = −c[i,j]·(do[i] + do[j]);
    dT += xᵀ dM,  dx = dy[:, :A] + dM Tᵀ.
    Initialisation: T ~ N(0, 0.05²), the scale of the authors' code (openai/improved-gan,
    whose θ is then weight-normalised). With inputs of unit scale, an entry of M then has
    standard deviation ≈ 0.05·√A (0.4 for A = 64), so that the L1 distances are of order
    one to a few and c is neither saturated at 1 nor vanishing; pass ``init_std`` to change it.

    Every output row depends on every input row: this layer is a discriminator's, not a
    gradient-penalty critic's (it has no tangent pass, like batch norm).
    """

    def __init__(self, in_features: int, n_kernels: int = 16, kernel_dim: int = 4, rng=None,
                 dtype="float32", init_std: float = 0.05, average: bool = False):
        super().__init__()
        in_features, n_kernels, kernel_dim = (
            positive_int(v, name, "MinibatchDiscrimination") for name, v in (
                ("in_features", in_features), ("n_kernels", n_kernels),
                ("kernel_dim", kernel_dim)))
        if not init_std > 0:
            raise ValueError(f"MinibatchDiscrimination: init_std must be positive, got "
                             f"{init_std!r}")
        self.in_features, self.n_kernels, self.kernel_dim = in_features, n_kernels, kernel_dim
        self.average = bool(average)
        charge_allocation(f"MinibatchDiscrimination({in_features}, n_kernels={n_kernels}, "
                          f"kernel_dim={kernel_dim})", (in_features, n_kernels, kernel_dim),
                          dtype, [(in_features, n_kernels * kernel_dim)])
        rng = rng if rng is not None else backend.rng()
        T = rng.standard_normal((in_features, n_kernels * kernel_dim)) * init_std
        self.params["T"] = T.astype(dtype)
        xp = get_array_module(self.params["T"])
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}

    def _differences(self, M):
        """D[i,j,b,c] = M[i,b,c] − M[j,b,c]: (N, N, B, C), a new array (reused in place)."""
        return M[:, None, :, :] - M[None, :, :, :]

    def forward(self, x):
        self._check_input(x, ndim=2, last=self.in_features)
        xp = get_array_module(x)
        N, B, C = x.shape[0], self.n_kernels, self.kernel_dim
        M = (x @ self.params["T"]).reshape(N, B, C)                  # (N, B, C)
        D = self._differences(M)                                     # (N, N, B, C)
        L1 = xp.abs(D, out=D).sum(axis=3)                            # (N, N, B)
        del D
        c = xp.exp(-L1)                                              # (N, N, B)
        i = xp.arange(N)
        c[i, i, :] = 0                                               # leave j = i out
        o = c.sum(axis=1) * self._scale(N)                           # (N, B)
        y = xp.concatenate([x, o], axis=1)                           # (N, A + B)
        return y, (x, M, c)

    def backward(self, dy, cache):
        x, M, c = cache                                              # c[i,i] = 0 already
        A, N = self.in_features, x.shape[0]
        self._check_dy(dy, (N, A + self.n_kernels))
        T = self.params["T"]
        do = dy[:, A:] * self._scale(N)                              # (N, B)
        w = -c * (do[:, None, :] + do[None, :, :])                   # (N, N, B), 0 at j = i
        S = self._differences(M)                                     # (N, N, B, C)
        xp = get_array_module(S)
        xp.sign(S, out=S)
        S *= w[:, :, :, None]
        dM = S.sum(axis=1).reshape(N, -1)                            # (N, B·C)
        del S
        self.grads["T"] += x.T @ dM                                  # dT = xᵀ dM
        return dy[:, :A] + dM @ T.T                                  # dx = dy_x + dM Tᵀ

    def _scale(self, N):
        """1, or 1/(N − 1) with average=True (a batch of one has o = 0 either way)."""
        return 1.0 / (N - 1) if self.average and N > 1 else 1.0

    def forward_jvp(self, x, x_dot):
        """Not supported, on purpose: see the error message."""
        self._refuse_tangent_pass()

    def backward_jvp(self, dy, dy_dot, cache):
        self._refuse_tangent_pass()

    def _refuse_tangent_pass(self):
        raise NotImplementedError(
            f"{self!r} in a critic: a gradient penalty needs ∇ₓD(x_n) of each sample on its "
            "own, and minibatch discrimination mixes the samples (o(x_i) depends on every x_j "
            "of the batch), so the penalty would no longer constrain the critic's per-sample "
            "gradient. Use it in a discriminator trained without a gradient penalty, and keep "
            "gradient-penalty critics to per-sample layers (see minigan.nn.jvp)")

    def _shape_hint(self):
        return f"(N, {self.in_features})"

    def __repr__(self):
        return (f"MinibatchDiscrimination({self.in_features}, n_kernels={self.n_kernels}, "
                f"kernel_dim={self.kernel_dim}{', average=True' if self.average else ''})")
