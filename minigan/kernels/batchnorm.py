"""Batch-norm statistics: per-channel sums of (N, C, ...) arrays in one pass.

Shape letters: N batch, C channels, and any trailing axes (L, or H×W), M = N·(trailing size)
values per channel.

- :func:`channel_mean_var`: the forward's μ = (1/M) Σx and biased var = (1/M) Σ(x − μ)².
- :func:`channel_sums`: the backward's Σdy and Σ(dy·x̂) (normalisation chapter:
  dx = (1/M)·γ/σ·(M·dy − Σdy − x̂·Σ(dy·x̂)), dγ = Σ dy·x̂, dβ = Σ dy).

Both are one kernel, Σu and Σu·v per channel with u = a − k, v = b − k:
- statistics: a = b = x, k = the channel's first value (a "shifted" one-pass variance):
  var = Σu²/M − (Σu/M)², μ = k + Σu/M;
- backward sums: a = dy, b = x̂, k = 0.

Why one pass with a shift and float64 accumulators, not Welford, not two passes: the
textbook one-pass formula E[x²] − E[x]² loses digits when |μ| ≫ σ (its rounding error is
about ε·μ²/σ² relative); shifting by a value of the channel makes that ε·(μ − k)²/σ², with
(μ − k)² of the order of σ² for any sample, and float64 accumulators (ε = 1e-16) leave the
float32 result exact to its last bit or so. Two passes (the reference) read x twice; Welford
is exact enough too but divides once per element and its running update cannot be
vectorised. The accumulators are float64 for float32 and float64 input alike.

Three implementations, one dispatch each: ``*_reference`` (NumPy/CuPy, two passes, readable),
``*_numba`` (``_batchnorm_numba.py``, one task per channel) and, on CuPy arrays, a RawKernel
with one block per channel (``_cupy.py``).
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ._dispatch import choose, load_numba, need

__all__ = ["channel_mean_var", "channel_sums", "channel_mean_var_reference",
           "channel_sums_reference", "channel_mean_var_numba", "channel_sums_numba",
           "implementation"]


def _axes(a):
    if a.ndim < 2:
        raise ValueError(f"batch norm statistics: expected (N, C, ...), got shape {a.shape}")
    return (0,) + tuple(range(2, a.ndim))        # every axis but the channels


# --- the readable reference (NumPy or CuPy) ---------------------------------------------

def _channel_dot(a, b):
    """Σ a·b over every axis but the channels: (N, C, ...) x2 -> (C,). The same as
    ``(a * b).sum(axis=(0, 2, ...))``, by einsum, which skips the temporary product (measured
    2-3x faster on batch-norm-sized tensors)."""
    idx = "nc" + "hwxyz"[:a.ndim - 2]
    return get_array_module(a).einsum(f"{idx},{idx}->c", a, b)


def channel_mean_var_reference(x):
    """x: (N, C, ...) -> mean, var: (C,), var biased (÷M); two passes: μ first, then Σ(x − μ)²."""
    axes = _axes(x)
    mean = x.mean(axis=axes)
    xc = x - mean.reshape((1, -1) + (1,) * (x.ndim - 2))
    return mean, _channel_dot(xc, xc) / x.dtype.type(x.size // x.shape[1])


def channel_sums_reference(dy, x_hat):
    """dy, x_hat: (N, C, ...) -> Σdy, Σ(dy·x̂): (C,) each."""
    return dy.sum(axis=_axes(dy)), _channel_dot(dy, x_hat)


# --- numba, imported lazily ----------------------------------------------------------------

_numba = {"module": None, "tried": False}


def _numba_kernels():
    return load_numba(_numba, "_batchnorm_numba", "batch-norm statistics")


def implementation(a) -> str:
    """``"cupy"``, ``"numba"`` or ``"numpy"``: which kernel the dispatch uses for ``a``."""
    return choose(a, _numba_kernels)


# Reference below NUMBA_MIN_SIZE entries; threads from NUMBA_PARALLEL_MIN_SIZE on (on 2 shared
# cores the threaded kernel was 3-25x slower than the serial one up to 8·10^5 entries).
NUMBA_MIN_SIZE = 1 << 8
NUMBA_PARALLEL_MIN_SIZE = 1 << 23


def _sums_numba(a, b, shift, parallel):
    kernels = need(_numba_kernels, "batch-norm numba kernels")
    parallel = a.size >= NUMBA_PARALLEL_MIN_SIZE if parallel is None else bool(parallel)
    kernel = kernels.channel_sums if parallel else kernels.channel_sums_serial
    N, C = a.shape[:2]
    out = np.empty((C, 3), dtype=np.float64)      # Σu, Σu·v, k per channel
    kernel(np.ascontiguousarray(a).reshape(N, C, -1), np.ascontiguousarray(b).reshape(N, C, -1),
           shift, out)
    return out


def _mean_var_from_sums(out, M, dtype):
    s, q, k = out[:, 0] / M, out[:, 1] / M, out[:, 2]
    var = get_array_module(out).maximum(q - s * s, 0)         # ≥ 0 despite rounding
    return (k + s).astype(dtype), var.astype(dtype)


def channel_mean_var_numba(x, parallel=None):
    """:func:`channel_mean_var_reference` in one pass by the numba kernel (CPU)."""
    _axes(x)
    return _mean_var_from_sums(_sums_numba(x, x, True, parallel), x.size // x.shape[1], x.dtype)


def channel_sums_numba(dy, x_hat, parallel=None):
    """:func:`channel_sums_reference` in one pass by the numba kernel (CPU)."""
    _axes(dy)
    out = _sums_numba(dy, x_hat, False, parallel)
    return out[:, 0].astype(dy.dtype), out[:, 1].astype(dy.dtype)


# --- CuPy ------------------------------------------------------------------------------------

def _sums_cupy(a, b, shift):
    from ._cupy import channel_sums
    return channel_sums(a, b, shift)


# --- the dispatch ----------------------------------------------------------------------------

def channel_mean_var(x):
    """x: (N, C, ...) -> mean, biased var: (C,) in x's dtype, by the fastest available kernel."""
    impl = implementation(x)
    if impl == "cupy":
        _axes(x)
        return _mean_var_from_sums(_sums_cupy(x, x, True), x.size // x.shape[1], x.dtype)
    if impl == "numba" and x.size >= NUMBA_MIN_SIZE:
        return channel_mean_var_numba(x)
    return channel_mean_var_reference(x)


def channel_sums(dy, x_hat):
    """dy, x_hat: (N, C, ...) -> Σdy, Σ(dy·x̂): (C,) in dy's dtype."""
    impl = implementation(dy)
    if impl == "cupy":
        _axes(dy)
        out = _sums_cupy(dy, x_hat, False)
        return out[:, 0].astype(dy.dtype), out[:, 1].astype(dy.dtype)
    if impl == "numba" and dy.size >= NUMBA_MIN_SIZE:
        return channel_sums_numba(dy, x_hat)
    return channel_sums_reference(dy, x_hat)
