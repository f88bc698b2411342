"""numba kernels for im2col / col2im (CPU). Imported lazily by :mod:`minigan.kernels.im2col`,
which holds the readable reference these loops must agree with (tests/test_kernels.py).

Both work on the 6-D view ``cols[c, i, j, n, oh, ow]`` of the (C·KH·KW, N·OH·OW) matrix, one
input channel c at a time: in im2col channel c is read by its own task only, in col2im it is
written by its own task only, so the scatter-add has no races and needs no atomics. Within a
channel the loops run tap (i, j) by tap and, innermost, image by image, so that ``cols`` is
written (im2col) or read (col2im) in one sequential sweep while the channel's N images stay in
cache (measured 15-45% faster than looping image plane by image plane). Padding is handled by
computing, once per kernel tap, the window positions that fall on the image (``_valid_range``),
instead of building a padded copy of the image; im2col copies long rows as strided 2-D slices,
as in the reference, and short ones by explicit loops (``WIDE_ROW``). Debug with
``NUMBA_DISABLE_JIT=1``.

Each op comes twice, around the same per-channel function: ``*_kernel`` runs the channels in
parallel (``prange``), ``*_kernel_serial`` one after the other. Waking the worker threads costs
tens of microseconds on an idle machine and up to milliseconds on a busy one (a parallel call
waits for its slowest thread to be scheduled), so the dispatch in ``im2col.py`` keeps the
parallel kernels for large arrays only.
"""
from __future__ import annotations

from numba import njit, prange


@njit(cache=True)
def _valid_range(offset, stride, size, n_out):  # pragma: no cover - compiled
    """The outputs o in [lo, hi) whose input index o·stride + offset lies in [0, size)."""
    lo = 0
    if offset < 0:
        lo = (-offset + stride - 1) // stride
    hi = 0
    if size - offset > 0:
        hi = min(n_out, (size - offset - 1) // stride + 1)
    return lo, max(lo, hi)


# A tap's window positions copied with one 2-D slice assignment per image when a row holds at
# least this many valid outputs; below it, by explicit loops over flat indices. A numba slice
# copy costs ~30 ns before it moves anything: on the 4×4 to 8×8 maps of a U-Net's inner layers
# (rows of 2 to 8 values) the slices were 2-5x slower than the loops, on 16×16 and larger maps
# (long rows, which the slice copy vectorises) the loops were up to 30% slower.
WIDE_ROW = 16


@njit(cache=True)
def _im2col_channel(x, cols, c, sh, sw, ph, pw, dh, dw):  # pragma: no cover - compiled
    """cols[c, i, j, n, oh, ow] = x[n, c, oh·sh − ph + i·dh, ow·sw − pw + j·dw], 0 off the image.

    x: contiguous (N, C, H, Wd); cols: contiguous (C, KH, KW, N, OH, OW)."""
    N, C, H, Wd = x.shape
    KH, KW, OH, OW = cols.shape[1], cols.shape[2], cols.shape[4], cols.shape[5]
    x_flat, cols_flat = x.reshape(-1), cols.reshape(-1)
    for i in range(KH):
        oh_lo, oh_hi = _valid_range(i * dh - ph, sh, H, OH)
        h0 = oh_lo * sh - ph + i * dh                               # first row tap i reads
        for j in range(KW):
            ow_lo, ow_hi = _valid_range(j * dw - pw, sw, Wd, OW)
            w0 = ow_lo * sw - pw + j * dw                           # first column tap j reads
            if ow_hi - ow_lo >= WIDE_ROW:                           # long rows: 2-D slices
                pad = oh_lo > 0 or oh_hi < OH or ow_lo > 0 or ow_hi < OW  # tap sees padding?
                for n in range(N):
                    out = cols[c, i, j, n]                          # (OH, OW)
                    if pad:                                         # (skipping the empty
                        out[:oh_lo] = 0                             # slices saves ~30% on
                        out[oh_hi:] = 0                             # small images)
                        out[oh_lo:oh_hi, :ow_lo] = 0
                        out[oh_lo:oh_hi, ow_hi:] = 0
                    out[oh_lo:oh_hi, ow_lo:ow_hi] = x[n, c, h0: h0 + sh * (oh_hi - oh_lo): sh,
                                                      w0: w0 + sw * (ow_hi - ow_lo): sw]
                continue
            # short rows: the same copy, element by element, on flat indices
            o = ((c * KH + i) * KW + j) * N * OH * OW               # cols[c, i, j, 0, 0, 0]
            for n in range(N):
                src0 = ((n * C + c) * H + h0) * Wd + w0             # x[n, c, h0, w0]
                for oh in range(OH):
                    if oh < oh_lo or oh >= oh_hi:                   # a row of padding
                        for ow in range(OW):
                            cols_flat[o + ow] = 0
                    else:
                        src = src0 + (oh - oh_lo) * sh * Wd
                        for ow in range(ow_lo):
                            cols_flat[o + ow] = 0
                        for k in range(ow_hi - ow_lo):
                            cols_flat[o + ow_lo + k] = x_flat[src + k * sw]
                        for ow in range(ow_hi, OW):
                            cols_flat[o + ow] = 0
                    o += OW


@njit(cache=True)
def _col2im_channel(cols, x, c, sh, sw, ph, pw, dh, dw):  # pragma: no cover - compiled
    """x[n, c, oh·sh − ph + i·dh, ow·sw − pw + j·dw] += cols[c, i, j, n, oh, ow]; x starts at 0."""
    N, H, Wd = x.shape[0], x.shape[2], x.shape[3]
    KH, KW, OH, OW = cols.shape[1], cols.shape[2], cols.shape[4], cols.shape[5]
    for i in range(KH):
        oh_lo, oh_hi = _valid_range(i * dh - ph, sh, H, OH)
        for j in range(KW):
            ow_lo, ow_hi = _valid_range(j * dw - pw, sw, Wd, OW)
            w0 = ow_lo * sw - pw + j * dw                           # first column tap j hits
            for n in range(N):
                src = cols[c, i, j, n]                              # (OH, OW)
                plane = x[n, c]                                     # (H, Wd)
                # Explicit loops: measured 2-3x faster here than a slice ``plane[...] += ...``;
                # with stride 1 spelled out, LLVM vectorises the inner one.
                for oh in range(oh_lo, oh_hi):
                    row = plane[oh * sh - ph + i * dh]
                    src_row = src[oh]
                    if sw == 1:
                        for k in range(ow_hi - ow_lo):
                            row[w0 + k] += src_row[ow_lo + k]
                    else:
                        for k in range(ow_hi - ow_lo):
                            row[w0 + k * sw] += src_row[ow_lo + k]


@njit(parallel=True, cache=True)
def im2col_kernel(x, cols, sh, sw, ph, pw, dh, dw):  # pragma: no cover - compiled
    """im2col, one parallel task per input channel c."""
    for c in prange(x.shape[1]):
        _im2col_channel(x, cols, c, sh, sw, ph, pw, dh, dw)


@njit(cache=True)
def im2col_kernel_serial(x, cols, sh, sw, ph, pw, dh, dw):  # pragma: no cover - compiled
    """im2col, the channels one after the other (no threads)."""
    for c in range(x.shape[1]):
        _im2col_channel(x, cols, c, sh, sw, ph, pw, dh, dw)


@njit(parallel=True, cache=True)
def col2im_kernel(cols, x, sh, sw, ph, pw, dh, dw):  # pragma: no cover - compiled
    """col2im, one parallel task per channel c: each task writes x[:, c] only."""
    for c in prange(x.shape[1]):
        _col2im_channel(cols, x, c, sh, sw, ph, pw, dh, dw)


@njit(cache=True)
def col2im_kernel_serial(cols, x, sh, sw, ph, pw, dh, dw):  # pragma: no cover - compiled
    """col2im, the channels one after the other (no threads)."""
    for c in range(x.shape[1]):
        _col2im_channel(cols, x, c, sh, sw, ph, pw, dh, dw)
