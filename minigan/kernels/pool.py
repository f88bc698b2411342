"""Max and average pooling of (N, C, H, W) images, forward and backward, by window loops.

Shape letters: N batch, C channels, H×W input, KH×KW window, s stride, p padding, OH×OW
output, OH = ⌊(H + 2p − KH) / s⌋ + 1. Window (oh, ow) covers the rows oh·s − p … oh·s − p + KH − 1
(and the same for columns); what falls off the image is padding.

- max pool, as torch.nn.MaxPool2d: padding counts as −∞, so the max is always a real pixel.
  Forward gives y and ``arg``: (N, C, OH, OW) int64, the index h·W + w of each window's max
  in its (H, W) plane (torch's ``return_indices``). Ties go to the FIRST max in row-major
  order inside the window (as torch); a NaN wins over any number (as ``argmax``).
  Backward: dx[n, c].flat[arg[n, c, oh, ow]] += dy[n, c, oh, ow], a scatter-add: with
  overlapping windows (kernel 3, stride 2) one pixel can be the max of several windows.
- average pool, as torch.nn.AvgPool2d(count_include_pad=True): y = (Σ window) / (KH·KW),
  padded zeros count. Backward: every pixel of a window receives dy / (KH·KW), summed over
  the windows that cover it.

Three implementations, one dispatch per op (:func:`max_pool2d`, :func:`max_pool2d_backward`,
:func:`avg_pool2d`, :func:`avg_pool2d_backward`):
- ``*_reference``: NumPy, one strided slice per window tap (KH·KW array operations), readable,
  written with ``xp`` so that it runs on CuPy too;
- ``*_numba``: ``@njit(cache=True)`` loops over each window (``_pool_numba.py``), one image
  plane per task; serial below ``NUMBA_PARALLEL_MIN_SIZE`` entries, threaded above. The
  dispatch uses them for MAX pooling only (measured 2.5-7x faster forward, 8-40x backward
  than the im2col-based layer); for average pooling NumPy's reference was faster;
- CuPy arrays: ``ElementwiseKernel``s (``_cupy.py``), one GPU thread per output (forward) or
  per input pixel (backward: it gathers from the windows that cover it, so no atomics and a
  deterministic sum).
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ._dispatch import choose, load_numba, need
from .im2col import _pair, conv_output_size

__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
           "max_pool2d_reference", "max_pool2d_backward_reference", "avg_pool2d_reference",
           "avg_pool2d_backward_reference", "max_pool2d_numba", "max_pool2d_backward_numba",
           "avg_pool2d_numba", "avg_pool2d_backward_numba", "pool_geometry", "implementation"]


def pool_geometry(x_shape, kernel_size, stride=None, padding=0):
    """(KH, KW), (sh, sw), (ph, pw), (OH, OW) of a pool over x_shape = (N, C, H, W)."""
    N, C, H, W = x_shape
    (KH, KW) = _pair(kernel_size, "kernel_size")
    (sh, sw) = (KH, KW) if stride is None else _pair(stride, "stride")
    (ph, pw) = _pair(padding, "padding")
    OH, OW = conv_output_size(H, KH, sh, ph), conv_output_size(W, KW, sw, pw)
    if OH <= 0 or OW <= 0 or min(KH, KW, sh, sw) <= 0 or min(ph, pw) < 0:
        raise ValueError(f"pool: a ({KH}, {KW}) window with stride ({sh}, {sw}) and padding "
                         f"({ph}, {pw}) does not fit an image of size ({H}, {W})")
    return (KH, KW), (sh, sw), (ph, pw), (OH, OW)


def _check_dy(dy, expected, arg=None):
    if tuple(dy.shape) != expected or (arg is not None and tuple(arg.shape) != expected):
        extra = "" if arg is None else f" and arg {tuple(arg.shape)}"
        raise ValueError(f"pool backward: expected dy of shape {expected}, got "
                         f"{tuple(dy.shape)}{extra}")


def _taps(KH, KW, sh, sw, OH, OW):
    """For each tap (i, j): the strided slices of the PADDED image it reads for all windows."""
    for i in range(KH):
        for j in range(KW):
            yield i, j, (slice(None), slice(None), slice(i, i + sh * (OH - 1) + 1, sh),
                         slice(j, j + sw * (OW - 1) + 1, sw))


# --- the readable reference (NumPy or CuPy) ---------------------------------------------

def max_pool2d_reference(x, kernel_size, stride=None, padding=0):
    """x: (N, C, H, W) -> y: (N, C, OH, OW), arg: (N, C, OH, OW) int64 (index h·W + w).

    A running max over the KH·KW taps; a tap replaces it only if STRICTLY larger (or NaN),
    so ties keep the first max in row-major order."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    (KH, KW), (sh, sw), (ph, pw), (OH, OW) = pool_geometry(x.shape, kernel_size, stride, padding)
    x_pad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    top = xp.arange(OH).reshape(OH, 1) * sh - ph            # first row of each window
    left = xp.arange(OW).reshape(1, OW) * sw - pw           # first column of each window
    y = xp.full((N, C, OH, OW), -np.inf, dtype=x.dtype)
    # Start at the window's first pixel on the image (what wins if everything is −∞).
    arg = xp.broadcast_to(xp.maximum(top, 0) * W + xp.maximum(left, 0), y.shape).astype(xp.int64)
    for i, j, window in _taps(KH, KW, sh, sw, OH, OW):
        seen = x_pad[window]                                 # tap (i, j) of every window
        better = (seen > y) | (xp.isnan(seen) & ~xp.isnan(y))
        y = xp.where(better, seen, y)
        arg = xp.where(better, (top + i) * W + (left + j), arg)
    return y, arg


def max_pool2d_backward_reference(dy, arg, x_shape, kernel_size, stride=None, padding=0):
    """dy, arg: (N, C, OH, OW) -> dx: x_shape = (N, C, H, W); each dy goes to its window's max.

    The winner's tap inside its window, (h − top, w − left), is compared with every tap (i, j);
    each tap adds the dy of the windows it won onto the pixels it reads (as col2im)."""
    xp = get_array_module(dy)
    N, C, H, W = x_shape
    (KH, KW), (sh, sw), (ph, pw), (OH, OW) = pool_geometry(x_shape, kernel_size, stride, padding)
    _check_dy(dy, (N, C, OH, OW), arg)
    top = xp.arange(OH).reshape(OH, 1) * sh - ph
    left = xp.arange(OW).reshape(1, OW) * sw - pw
    win_i, win_j = arg // W - top, arg % W - left            # the winning tap of each window
    dx_pad = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dy.dtype)
    for i, j, window in _taps(KH, KW, sh, sw, OH, OW):
        dx_pad[window] += xp.where((win_i == i) & (win_j == j), dy, 0)
    return xp.ascontiguousarray(dx_pad[:, :, ph: ph + H, pw: pw + W])


def avg_pool2d_reference(x, kernel_size, stride=None, padding=0):
    """x: (N, C, H, W) -> y: (N, C, OH, OW), the mean of each window, zeros of padding included."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    (KH, KW), (sh, sw), (ph, pw), (OH, OW) = pool_geometry(x.shape, kernel_size, stride, padding)
    x_pad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    total = xp.zeros((N, C, OH, OW), dtype=x.dtype)
    for _, _, window in _taps(KH, KW, sh, sw, OH, OW):
        total += x_pad[window]
    return total / x.dtype.type(KH * KW)


def avg_pool2d_backward_reference(dy, x_shape, kernel_size, stride=None, padding=0):
    """dy: (N, C, OH, OW) -> dx: x_shape; each window spreads dy / (KH·KW) over its pixels."""
    xp = get_array_module(dy)
    N, C, H, W = x_shape
    (KH, KW), (sh, sw), (ph, pw), (OH, OW) = pool_geometry(x_shape, kernel_size, stride, padding)
    _check_dy(dy, (N, C, OH, OW))
    share = dy / dy.dtype.type(KH * KW)
    dx_pad = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dy.dtype)
    for _, _, window in _taps(KH, KW, sh, sw, OH, OW):
        dx_pad[window] += share
    return xp.ascontiguousarray(dx_pad[:, :, ph: ph + H, pw: pw + W])


# --- numba, imported lazily ----------------------------------------------------------------

_numba = {"module": None, "tried": False}


def _numba_kernels():
    return load_numba(_numba, "_pool_numba", "pooling kernels")


def implementation(a) -> str:
    """``"cupy"``, ``"numba"`` or ``"numpy"``: which kernel the dispatch functions use for ``a``
    (``MINIGAN_KERNELS=numpy`` asks for the reference)."""
    return choose(a, _numba_kernels)


# Below NUMBA_MIN_SIZE entries (of x) the reference; serial numba kernels up to
# NUMBA_PARALLEL_MIN_SIZE, threaded ones above (on 2 shared cores the threaded kernels were
# slower than the serial ones at every DCGAN size: thread wake-up, see im2col.py).
NUMBA_MIN_SIZE = 1 << 8
NUMBA_PARALLEL_MIN_SIZE = 1 << 23


def _kernel(name, size, parallel):
    kernels = need(_numba_kernels, name)
    parallel = size >= NUMBA_PARALLEL_MIN_SIZE if parallel is None else bool(parallel)
    return getattr(kernels, name.replace("_numba", "") + ("" if parallel else "_serial"))


def max_pool2d_numba(x, kernel_size, stride=None, padding=0, parallel=None):
    """:func:`max_pool2d_reference` by the numba kernel (CPU; ``parallel``: True, False, None =
    by size)."""
    N, C, H, W = x.shape
    (KH, KW), (sh, sw), (ph, pw), (OH, OW) = pool_geometry(x.shape, kernel_size, stride, padding)
    kernel = _kernel("max_pool2d_numba", x.size, parallel)
    y = np.empty((N * C, OH, OW), dtype=x.dtype)
    arg = np.empty((N * C, OH, OW), dtype=np.int64)
    kernel(np.ascontiguousarray(x).reshape(N * C, H, W), y, arg, KH, KW, sh, sw, ph, pw)
    return y.reshape(N, C, OH, OW), arg.reshape(N, C, OH, OW)


def max_pool2d_backward_numba(dy, arg, x_shape, kernel_size, stride=None, padding=0,
                              parallel=None):
    """:func:`max_pool2d_backward_reference` by the numba kernel (CPU)."""
    N, C, H, W = x_shape
    OH, OW = pool_geometry(x_shape, kernel_size, stride, padding)[3]
    _check_dy(dy, (N, C, OH, OW), arg)
    kernel = _kernel("max_pool2d_backward_numba", N * C * H * W, parallel)
    dx = np.zeros((N * C, H * W), dtype=dy.dtype)
    kernel(np.ascontiguousarray(dy).reshape(N * C, -1),
           np.ascontiguousarray(arg).reshape(N * C, -1), dx)
    return dx.reshape(x_shape)


def avg_pool2d_numba(x, kernel_size, stride=None, padding=0, parallel=None):
    """:func:`avg_pool2d_reference` by the numba kernel (CPU)."""
    N, C, H, W = x.shape
    (KH, KW), (sh, sw), (ph, pw), (OH, OW) = pool_geometry(x.shape, kernel_size, stride, padding)
    kernel = _kernel("avg_pool2d_numba", x.size, parallel)
    y = np.empty((N * C, OH, OW), dtype=x.dtype)
    kernel(np.ascontiguousarray(x).reshape(N * C, H, W), y, KH, KW, sh, sw, ph, pw,
           x.dtype.type(KH * KW))
    return y.reshape(N, C, OH, OW)


def avg_pool2d_backward_numba(dy, x_shape, kernel_size, stride=None, padding=0, parallel=None):
    """:func:`avg_pool2d_backward_reference` by the numba kernel (CPU)."""
    N, C, H, W = x_shape
    (KH, KW), (sh, sw), (ph, pw), (OH, OW) = pool_geometry(x_shape, kernel_size, stride, padding)
    _check_dy(dy, (N, C, OH, OW))
    kernel = _kernel("avg_pool2d_backward_numba", N * C * H * W, parallel)
    dx = np.zeros((N * C, H, W), dtype=dy.dtype)
    kernel(np.ascontiguousarray(dy).reshape(N * C, OH, OW), dx, KH, KW, sh, sw, ph, pw,
           dy.dtype.type(KH * KW))
    return dx.reshape(x_shape)


# --- CuPy ------------------------------------------------------------------------------------

def _cupy_args(x_shape, kernel_size, stride, padding):
    N, C, H, W = x_shape
    (KH, KW), (sh, sw), (ph, pw), (OH, OW) = pool_geometry(x_shape, kernel_size, stride, padding)
    return (N, C, H, W, OH, OW), (H, W, OH, OW, KH, KW, sh, sw, ph, pw)


def _max_pool2d_cupy(x, kernel_size, stride, padding):
    import cupy
    from ._cupy import kernel
    (N, C, H, W, OH, OW), geo = _cupy_args(x.shape, kernel_size, stride, padding)
    y = cupy.empty((N, C, OH, OW), dtype=x.dtype)
    arg = cupy.empty((N, C, OH, OW), dtype=cupy.int64)
    kernel("max_pool2d")(cupy.ascontiguousarray(x), *geo, y, arg)
    return y, arg


def _max_pool2d_backward_cupy(dy, arg, x_shape, kernel_size, stride, padding):
    import cupy
    from ._cupy import kernel
    (N, C, H, W, OH, OW), geo = _cupy_args(x_shape, kernel_size, stride, padding)
    _check_dy(dy, (N, C, OH, OW), arg)
    dx = cupy.empty(tuple(x_shape), dtype=dy.dtype)
    kernel("max_pool2d_backward")(cupy.ascontiguousarray(dy), cupy.ascontiguousarray(arg),
                                  *geo, dx)
    return dx


def _avg_pool2d_cupy(x, kernel_size, stride, padding):
    import cupy
    from ._cupy import kernel
    (N, C, H, W, OH, OW), geo = _cupy_args(x.shape, kernel_size, stride, padding)
    y = cupy.empty((N, C, OH, OW), dtype=x.dtype)
    kernel("avg_pool2d")(cupy.ascontiguousarray(x), *geo, y)
    return y


def _avg_pool2d_backward_cupy(dy, x_shape, kernel_size, stride, padding):
    import cupy
    from ._cupy import kernel
    (N, C, H, W, OH, OW), geo = _cupy_args(x_shape, kernel_size, stride, padding)
    _check_dy(dy, (N, C, OH, OW))
    dx = cupy.empty(tuple(x_shape), dtype=dy.dtype)
    kernel("avg_pool2d_backward")(cupy.ascontiguousarray(dy), *geo, dx)
    return dx


# --- the dispatch ----------------------------------------------------------------------------

def max_pool2d(x, kernel_size, stride=None, padding=0):
    """x: (N, C, H, W) -> y, arg: (N, C, OH, OW), by the fastest available kernel."""
    impl = implementation(x)
    if impl == "cupy":
        return _max_pool2d_cupy(x, kernel_size, stride, padding)
    if impl == "numba" and x.size >= NUMBA_MIN_SIZE:
        return max_pool2d_numba(x, kernel_size, stride, padding)
    return max_pool2d_reference(x, kernel_size, stride, padding)


def max_pool2d_backward(dy, arg, x_shape, kernel_size, stride=None, padding=0):
    """dy, arg: (N, C, OH, OW) -> dx: x_shape, the scatter-add of dy onto each window's max."""
    impl = implementation(dy)
    if impl == "cupy":
        return _max_pool2d_backward_cupy(dy, arg, x_shape, kernel_size, stride, padding)
    if impl == "numba" and np.prod(x_shape) >= NUMBA_MIN_SIZE:
        return max_pool2d_backward_numba(dy, arg, x_shape, kernel_size, stride, padding)
    return max_pool2d_backward_reference(dy, arg, x_shape, kernel_size, stride, padding)


# Average pooling on the CPU: the reference, numba or not. Its KH·KW strided adds are
# vectorised by NumPy, and the numba loops (scalar: the strided reads do not vectorise) were
# measured slower on float32 (64, 64, 14, 14): forward 1.3 vs 0.70 ms (kernel 2, stride 2)
# and 2.7 vs 1.9 ms (kernel 3, stride 2, padding 1); backward 1.4 vs 1.1 ms and 2.7 vs 2.8 ms.
# ``avg_pool2d_numba`` / ``avg_pool2d_backward_numba`` stay, held to the reference by the tests.

def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """x: (N, C, H, W) -> y: (N, C, OH, OW), the window means (padding counts as 0)."""
    if implementation(x) == "cupy":
        return _avg_pool2d_cupy(x, kernel_size, stride, padding)
    return avg_pool2d_reference(x, kernel_size, stride, padding)


def avg_pool2d_backward(dy, x_shape, kernel_size, stride=None, padding=0):
    """dy: (N, C, OH, OW) -> dx: x_shape; each window spreads dy / (KH·KW) over its pixels."""
    if implementation(dy) == "cupy":
        return _avg_pool2d_backward_cupy(dy, x_shape, kernel_size, stride, padding)
    return avg_pool2d_backward_reference(dy, x_shape, kernel_size, stride, padding)
