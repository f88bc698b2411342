"""im2col and col2im: the indexing that turns a convolution into one matrix product.

Shape letters: N batch, C channels, H×Wd image (height × width; ``W`` is the weight),
KH×KW kernel, s stride, p padding, d dilation, OH×OW output size,
OH = ⌊(H + 2p − d(KH − 1) − 1) / s⌋ + 1.

im2col copies every receptive field into a column::

    cols[(c, i, j), (n, oh, ow)] = x_pad[n, c, oh·s + i·d, ow·s + j·d]        (C·KH·KW, N·OH·OW)

and col2im is its adjoint (its transpose, as a linear map): it adds every entry of a
column back onto the pixel it was copied from, so a pixel seen by several windows
collects several contributions (a scatter-add), and what lands on padding is dropped.
⟨im2col(x), cols⟩ = ⟨x, col2im(cols)⟩ for every x and cols; the tests check it.

Why this layout, (C·KH·KW, N·OH·OW), rows = kernel taps, columns = output pixels:
- the row index (c, i, j) is the C-order flattening of a weight W: (F, C, KH, KW), so
  ``W_mat @ cols`` with ``W_mat = W.reshape(F, -1)`` is ONE big matrix product for the whole
  batch (F × C·KH·KW times C·KH·KW × N·OH·OW), straight to BLAS with no copy of W or cols,
  and the weight gradient dW_mat = dY·colsᵀ contracts over the long N·OH·OW axis, which
  BLAS does best;
- a batched layout (N, C·KH·KW, OH·OW) would give N small products instead of one;
- the last axis is ``ow``, so both kernels below write (im2col) or read (col2im) ``cols``
  in long contiguous runs.

Three implementations, one dispatch (:func:`im2col`, :func:`col2im`):
- ``im2col_reference`` / ``col2im_reference``: NumPy, one strided slice per kernel tap
  (KH·KW array operations), readable, and written with ``xp`` so that it runs on CuPy too;
- ``im2col_numba`` / ``col2im_numba``: numba ``@njit(cache=True)`` loops (``_im2col_numba.py``),
  used on the CPU when numba is installed and the array is not tiny (``NUMBA_MIN_SIZE``):
  threaded (``parallel=True``) for large arrays (``NUMBA_PARALLEL_MIN_SIZE``), serial below,
  held to the reference by ``tests/test_kernels.py``;
- on CuPy arrays the reference (each tap is one strided GPU copy; no custom kernel needed).
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from ..backend import get_array_module
from ._dispatch import on_device

__all__ = ["im2col", "col2im", "im2col_reference", "col2im_reference", "im2col_numba",
           "col2im_numba", "conv_output_size", "implementation"]


def _pair(v, name="value"):
    """(a, b) from an int or a pair of ints."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    """Number of window positions along one axis: ⌊(size + 2p − d(k − 1) − 1) / s⌋ + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _geometry(x_shape, KH, KW, stride, padding, dilation, out_size):
    """(sh, sw), (ph, pw), (dh, dw), (OH, OW), with checks. ``out_size`` may ask for fewer
    output positions than fit (a transposed convolution with output_padding ≥ stride)."""
    N, C, H, Wd = x_shape
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    OH_fit = conv_output_size(H, KH, sh, ph, dh)
    OW_fit = conv_output_size(Wd, KW, sw, pw, dw)
    OH, OW = (OH_fit, OW_fit) if out_size is None else _pair(out_size)
    if OH <= 0 or OW <= 0 or OH > OH_fit or OW > OW_fit:
        raise ValueError(f"im2col: a ({KH}, {KW}) kernel with stride ({sh}, {sw}), padding "
                         f"({ph}, {pw}), dilation ({dh}, {dw}) fits ({OH_fit}, {OW_fit}) times "
                         f"in an image of size ({H}, {Wd}); asked for ({OH}, {OW})")
    return (sh, sw), (ph, pw), (dh, dw), (OH, OW)


def _check_cols(cols, expected):
    if tuple(cols.shape) != expected:
        raise ValueError(f"col2im: expected cols of shape {expected}, got {tuple(cols.shape)}")


# --- the readable reference (NumPy or CuPy) ---------------------------------------------

def im2col_reference(x, KH, KW, stride=1, padding=0, dilation=1, out_size=None):
    """x: (N, C, H, Wd) -> cols: (C·KH·KW, N·OH·OW), one strided slice per kernel tap (i, j)."""
    xp = get_array_module(x)
    N, C, H, Wd = x.shape
    (sh, sw), (ph, pw), (dh, dw), (OH, OW) = _geometry(x.shape, KH, KW, stride, padding,
                                                       dilation, out_size)
    x_pad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = xp.empty((C, KH, KW, N, OH, OW), dtype=x.dtype)
    for i in range(KH):
        for j in range(KW):
            # Tap (i, j) of the window at output (oh, ow) sees x_pad[oh·s + i·d, ow·s + j·d]:
            # for all (oh, ow) at once, rows i·d, i·d + s, ..., i·d + s(OH − 1), same for columns.
            seen = x_pad[:, :, i * dh: i * dh + sh * (OH - 1) + 1: sh,
                         j * dw: j * dw + sw * (OW - 1) + 1: sw]        # (N, C, OH, OW)
            cols[:, i, j] = seen.transpose(1, 0, 2, 3)                  # (C, N, OH, OW)
    return cols.reshape(C * KH * KW, N * OH * OW)


def col2im_reference(cols, x_shape, KH, KW, stride=1, padding=0, dilation=1, out_size=None):
    """cols: (C·KH·KW, N·OH·OW) -> x: x_shape = (N, C, H, Wd); the adjoint of im2col.

    The same slices as im2col, read the other way: ``+=`` adds each tap's values back onto
    the pixels it was copied from. Within one tap the strided slice hits distinct pixels, so
    ``+=`` is a plain add; overlaps between windows are summed across the taps."""
    xp = get_array_module(cols)
    N, C, H, Wd = x_shape
    (sh, sw), (ph, pw), (dh, dw), (OH, OW) = _geometry(x_shape, KH, KW, stride, padding,
                                                       dilation, out_size)
    _check_cols(cols, (C * KH * KW, N * OH * OW))
    cols = cols.reshape(C, KH, KW, N, OH, OW)
    x_pad = xp.zeros((N, C, H + 2 * ph, Wd + 2 * pw), dtype=cols.dtype)
    for i in range(KH):
        for j in range(KW):
            x_pad[:, :, i * dh: i * dh + sh * (OH - 1) + 1: sh,
                  j * dw: j * dw + sw * (OW - 1) + 1: sw] += cols[:, i, j].transpose(1, 0, 2, 3)
    if ph == 0 and pw == 0:
        return x_pad
    # Drop what landed on the padding; written with explicit ends (x_pad[p:-p] is empty for p = 0).
    return xp.ascontiguousarray(x_pad[:, :, ph: ph + H, pw: pw + Wd])


# --- numba, imported lazily ----------------------------------------------------------------

_numba = {"module": None, "tried": False}


def _numba_kernels():
    """The numba module ``_im2col_numba`` or None (with a one-time warning) if numba is missing."""
    if not _numba["tried"]:
        _numba["tried"] = True
        try:
            from . import _im2col_numba
            _numba["module"] = _im2col_numba
        except ImportError as exc:
            warnings.warn(f"numba could not be imported ({exc}): minigan's im2col/col2im fall "
                          "back to the NumPy reference, which is slower. Install it with "
                          "`pip install numba`.", RuntimeWarning, stacklevel=3)
    return _numba["module"]


def implementation(a) -> str:
    """Which kernel :func:`im2col` / :func:`col2im` use for array ``a``: ``"cupy"`` (the
    reference, on the GPU), ``"numba"``, or ``"numpy"`` (the reference: numba is missing, or
    the environment variable ``MINIGAN_KERNELS=numpy`` asks for it, e.g. to compare, or ``a``
    is on the emulated device of the tests)."""
    device = on_device(a)
    if device is not None:
        return device
    if os.environ.get("MINIGAN_KERNELS", "").strip().lower() == "numpy":
        return "numpy"
    return "numba" if _numba_kernels() is not None else "numpy"


# The dispatch: below NUMBA_MIN_SIZE entries of cols the NumPy reference (a few tens of
# microseconds either way), then the serial numba kernel (measured 3-8x faster than the
# reference up to ~10^4 entries), and from NUMBA_PARALLEL_MIN_SIZE on the parallel one. Waking
# worker threads costs more than a mid-sized copy: on 2 busy cores a parallel call on a
# 64x16x4x4 image waited ~10 ms for its second thread, 50x the copy itself, and made a small
# DCGAN step 10x slower. (For a large im2col on ONE thread the reference can be up to 25%
# faster than the numba kernel; on two free cores the parallel kernel is ~2x faster than both.)
NUMBA_MIN_SIZE = 1 << 8
NUMBA_PARALLEL_MIN_SIZE = 1 << 20


def _parallel(parallel, size):
    return size >= NUMBA_PARALLEL_MIN_SIZE if parallel is None else bool(parallel)


def im2col_numba(x, KH, KW, stride=1, padding=0, dilation=1, out_size=None, parallel=None):
    """:func:`im2col_reference` by the numba kernel (CPU, NumPy arrays; needs numba).
    ``parallel``: use the threaded kernel (True), the serial one (False), or pick by size (None)."""
    kernels = _numba_kernels()
    if kernels is None:
        raise RuntimeError("im2col_numba needs numba: `pip install numba`")
    N, C, H, Wd = x.shape
    s, p, d, (OH, OW) = _geometry(x.shape, KH, KW, stride, padding, dilation, out_size)
    cols = np.empty((C, KH, KW, N, OH, OW), dtype=x.dtype)
    parallel = _parallel(parallel, cols.size)
    kernel = kernels.im2col_kernel if parallel else kernels.im2col_kernel_serial
    kernel(np.ascontiguousarray(x), cols, *s, *p, *d)
    return cols.reshape(C * KH * KW, N * OH * OW)


def col2im_numba(cols, x_shape, KH, KW, stride=1, padding=0, dilation=1, out_size=None,
                 parallel=None):
    """:func:`col2im_reference` by the numba kernel (CPU, NumPy arrays; needs numba).
    ``parallel``: use the threaded kernel (True), the serial one (False), or pick by size (None)."""
    kernels = _numba_kernels()
    if kernels is None:
        raise RuntimeError("col2im_numba needs numba: `pip install numba`")
    N, C, H, Wd = x_shape
    s, p, d, (OH, OW) = _geometry(x_shape, KH, KW, stride, padding, dilation, out_size)
    _check_cols(cols, (C * KH * KW, N * OH * OW))
    x = np.zeros((N, C, H, Wd), dtype=cols.dtype)
    parallel = _parallel(parallel, cols.size)
    kernel = kernels.col2im_kernel if parallel else kernels.col2im_kernel_serial
    kernel(np.ascontiguousarray(cols).reshape(C, KH, KW, N, OH, OW), x, *s, *p, *d)
    return x


def im2col(x, KH, KW, stride=1, padding=0, dilation=1, out_size=None):
    """x: (N, C, H, Wd) -> cols: (C·KH·KW, N·OH·OW), by the fastest available kernel.

    ``out_size=(OH, OW)`` asks for only the first OH×OW window positions (default: all)."""
    if implementation(x) == "numba" and x.size * KH * KW >= NUMBA_MIN_SIZE:   # ~ cols' size
        return im2col_numba(x, KH, KW, stride, padding, dilation, out_size)
    return im2col_reference(x, KH, KW, stride, padding, dilation, out_size)


def col2im(cols, x_shape, KH, KW, stride=1, padding=0, dilation=1, out_size=None):
    """cols: (C·KH·KW, N·OH·OW) -> (N, C, H, Wd) = x_shape, the adjoint of :func:`im2col`."""
    if implementation(cols) == "numba" and cols.size >= NUMBA_MIN_SIZE:
        return col2im_numba(cols, x_shape, KH, KW, stride, padding, dilation, out_size)
    return col2im_reference(cols, x_shape, KH, KW, stride, padding, dilation, out_size)
