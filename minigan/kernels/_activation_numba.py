"""numba kernels for the fused activations (CPU), on flattened contiguous arrays. Imported
lazily by :mod:`minigan.kernels.activation`, which holds the reference. Scalars (α, 1) come in
the arrays' dtype so that float32 arithmetic stays float32, as in NumPy. The loops have no
dependence between iterations: LLVM vectorises them; ``*_serial`` twins avoid thread wake-up
for the small arrays. Debug with ``NUMBA_DISABLE_JIT=1``.
"""
from __future__ import annotations

from numba import njit, prange


@njit(parallel=True, cache=True)
def leaky_relu(x, a, y):  # pragma: no cover - compiled
    for k in prange(x.size):
        v = x[k]
        y[k] = v if v > 0 else a * v


@njit(cache=True)
def leaky_relu_serial(x, a, y):  # pragma: no cover - compiled
    for k in range(x.size):
        v = x[k]
        y[k] = v if v > 0 else a * v


@njit(parallel=True, cache=True)
def leaky_relu_backward(dy, x, a, dx):  # pragma: no cover - compiled
    for k in prange(dy.size):
        dx[k] = dy[k] if x[k] > 0 else a * dy[k]


@njit(cache=True)
def leaky_relu_backward_serial(dy, x, a, dx):  # pragma: no cover - compiled
    for k in range(dy.size):
        dx[k] = dy[k] if x[k] > 0 else a * dy[k]


@njit(parallel=True, cache=True)
def tanh_backward(dy, y, one, dx):  # pragma: no cover - compiled
    for k in prange(dy.size):
        dx[k] = dy[k] * (one - y[k] * y[k])


@njit(cache=True)
def tanh_backward_serial(dy, y, one, dx):  # pragma: no cover - compiled
    for k in range(dy.size):
        dx[k] = dy[k] * (one - y[k] * y[k])
