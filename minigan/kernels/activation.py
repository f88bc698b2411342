"""Fused elementwise activations with their derivatives: leaky ReLU and tanh.

- leaky ReLU, y = x if x > 0 else α·x; backward dx = dy·slope, slope = 1 if x > 0 else α.
  The backward reads dy and x once and writes dx once (the unfused NumPy code builds the
  slope array first). The derivative is taken at the cached INPUT x, so no slope array is
  stored between forward and backward (it would cost as much memory as x).
- tanh, y = tanh(x); backward dx = dy·(1 − y²) from the cached OUTPUT y, one pass (NumPy:
  three passes and two temporaries).

At x = 0 the leaky-ReLU slope is α (as torch). Every op keeps the dtype of its input.

Three implementations, one dispatch per op: ``*_reference`` (NumPy/CuPy, the layer's code),
``*_numba`` (``_activation_numba.py``, one loop over the flattened arrays) and, on CuPy arrays,
``ElementwiseKernel``s (``_cupy.py``). :func:`tanh` itself is NumPy's/CuPy's ``tanh``
everywhere: measured, a numba loop calling libm's ``tanh`` is slower than NumPy's SIMD one.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ._dispatch import choose, load_numba, need

__all__ = ["leaky_relu", "leaky_relu_backward", "tanh", "tanh_backward",
           "leaky_relu_reference", "leaky_relu_backward_reference", "tanh_backward_reference",
           "leaky_relu_numba", "leaky_relu_backward_numba", "tanh_backward_numba",
           "implementation"]


# --- the readable reference (NumPy or CuPy) ---------------------------------------------

def leaky_relu_reference(x, negative_slope=0.01):
    """x -> y = x if x > 0 else α·x (same shape and dtype)."""
    xp = get_array_module(x)
    a = x.dtype.type(negative_slope)
    if 0 <= negative_slope <= 1:
        return xp.maximum(x, a * x)        # the same function for 0 ≤ α ≤ 1, and faster
    return xp.where(x > 0, x, a * x)


def leaky_relu_backward_reference(dy, x, negative_slope=0.01):
    """dy, x -> dx = dy·slope, slope = 1 where x > 0, α elsewhere."""
    # (Not α + (1 − α)·[x > 0], as minigan once had: in float32, 0.2 + 0.8 is not exactly 1.)
    return get_array_module(dy).where(x > 0, dy, dy.dtype.type(negative_slope) * dy)


def tanh_backward_reference(dy, y):
    """dy, y = tanh(x) -> dx = dy·(1 − y²)."""
    return dy * (1 - y * y)


# --- numba, imported lazily ----------------------------------------------------------------

_numba = {"module": None, "tried": False}


def _numba_kernels():
    return load_numba(_numba, "_activation_numba", "fused activations")


def implementation(a) -> str:
    """``"cupy"``, ``"numba"`` or ``"numpy"``: which kernel the dispatch uses for ``a``."""
    return choose(a, _numba_kernels)


# Below NUMBA_MIN_SIZE entries the reference (a few µs either way). The threaded kernels only
# from NUMBA_PARALLEL_MIN_SIZE on: on 2 shared cores they were 3-70x SLOWER than the serial
# ones at 2·10^4-8·10^5 entries (a memory-bound loop gains little from a second thread, and
# waits for it to be scheduled).
NUMBA_MIN_SIZE = 1 << 10
NUMBA_PARALLEL_MIN_SIZE = 1 << 23


def _elementwise(name, out_like, parallel, *arrays_and_scalars):
    kernels = need(_numba_kernels, f"{name}_numba")
    parallel = out_like.size >= NUMBA_PARALLEL_MIN_SIZE if parallel is None else bool(parallel)
    kernel = getattr(kernels, name if parallel else name + "_serial")
    out = np.empty(out_like.shape, dtype=out_like.dtype)
    args = [np.ascontiguousarray(a).reshape(-1) if isinstance(a, np.ndarray) else a
            for a in arrays_and_scalars]
    kernel(*args, out.reshape(-1))
    return out


def _check_same_shape(a, b, name):
    if a.shape != b.shape:
        raise ValueError(f"{name}: shapes differ, {a.shape} and {b.shape}")


def leaky_relu_numba(x, negative_slope=0.01, parallel=None):
    """:func:`leaky_relu_reference` by the numba kernel (CPU)."""
    return _elementwise("leaky_relu", x, parallel, x, x.dtype.type(negative_slope))


def leaky_relu_backward_numba(dy, x, negative_slope=0.01, parallel=None):
    """:func:`leaky_relu_backward_reference` by the fused numba kernel (CPU)."""
    _check_same_shape(dy, x, "leaky_relu_backward")
    return _elementwise("leaky_relu_backward", dy, parallel, dy, x,
                        dy.dtype.type(negative_slope))


def tanh_backward_numba(dy, y, parallel=None):
    """:func:`tanh_backward_reference` by the fused numba kernel (CPU)."""
    _check_same_shape(dy, y, "tanh_backward")
    return _elementwise("tanh_backward", dy, parallel, dy, y, dy.dtype.type(1))


# --- the dispatch ----------------------------------------------------------------------------

def leaky_relu(x, negative_slope=0.01):
    """y = x if x > 0 else α·x, by the fastest available kernel."""
    impl = implementation(x)
    if impl == "cupy":
        from ._cupy import kernel
        return kernel("leaky_relu")(x, x.dtype.type(negative_slope))
    if impl == "numba" and x.size >= NUMBA_MIN_SIZE:
        return leaky_relu_numba(x, negative_slope)
    return leaky_relu_reference(x, negative_slope)


def leaky_relu_backward(dy, x, negative_slope=0.01):
    """dx = dy·(1 if x > 0 else α), one fused pass."""
    impl = implementation(dy)
    if impl == "cupy":
        from ._cupy import kernel
        _check_same_shape(dy, x, "leaky_relu_backward")
        return kernel("leaky_relu_backward")(dy, x, dy.dtype.type(negative_slope))
    if impl == "numba" and dy.size >= NUMBA_MIN_SIZE:
        return leaky_relu_backward_numba(dy, x, negative_slope)
    return leaky_relu_backward_reference(dy, x, negative_slope)


def tanh(x):
    """y = tanh(x): NumPy's or CuPy's own (vectorised) tanh on every backend."""
    return get_array_module(x).tanh(x)


def tanh_backward(dy, y):
    """dx = dy·(1 − y²), one fused pass."""
    impl = implementation(dy)
    if impl == "cupy":
        from ._cupy import kernel
        _check_same_shape(dy, y, "tanh_backward")
        return kernel("tanh_backward")(dy, y)
    if impl == "numba" and dy.size >= NUMBA_MIN_SIZE:
        return tanh_backward_numba(dy, y)
    return tanh_backward_reference(dy, y)
