"""numba kernels for im2col / col2im (CPU). Imported lazily by :mod:`minigan.kernels.im2col`,
which holds the readable reference these loops must agree with (tests/test_kernels.py).

Both work on the 6-D view ``cols[c, i, j, n, oh, ow]`` of the (C·KH·KW, N·OH·OW) matrix and
run one parallel task per image plane (n, c): in im2col a plane is read by its own task only,
in col2im it is written by its own task only, so the scatter-add has no races and needs no
atomics. Padding is handled by computing, once per kernel tap, the window positions that fall
on the image (``_valid_range``), instead of building a padded copy of the image; im2col's copies
are strided 2-D slices, as in the reference. Debug with ``NUMBA_DISABLE_JIT=1``.
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


@njit(parallel=True, cache=True)
def im2col_kernel(x, cols, sh, sw, ph, pw, dh, dw):  # pragma: no cover - compiled
    """cols[c, i, j, n, oh, ow] = x[n, c, oh·sh − ph + i·dh, ow·sw − pw + j·dw], 0 off the image."""
    N, C, H, W = x.shape
    KH, KW, OH, OW = cols.shape[1], cols.shape[2], cols.shape[4], cols.shape[5]
    for q in prange(N * C):
        n = q // C
        c = q % C
        plane = x[n, c]                                             # (H, W)
        for i in range(KH):
            oh_lo, oh_hi = _valid_range(i * dh - ph, sh, H, OH)
            h0 = oh_lo * sh - ph + i * dh                           # first row tap i reads
            for j in range(KW):
                ow_lo, ow_hi = _valid_range(j * dw - pw, sw, W, OW)
                w0 = ow_lo * sw - pw + j * dw
                out = cols[c, i, j, n]                              # (OH, OW)
                out[:oh_lo] = 0                                     # windows on the padding
                out[oh_hi:] = 0
                out[oh_lo:oh_hi, :ow_lo] = 0
                out[oh_lo:oh_hi, ow_hi:] = 0
                out[oh_lo:oh_hi, ow_lo:ow_hi] = plane[h0: h0 + sh * (oh_hi - oh_lo): sh,
                                                      w0: w0 + sw * (ow_hi - ow_lo): sw]


@njit(parallel=True, cache=True)
def col2im_kernel(cols, x, sh, sw, ph, pw, dh, dw):  # pragma: no cover - compiled
    """x[n, c, oh·sh − ph + i·dh, ow·sw − pw + j·dw] += cols[c, i, j, n, oh, ow]; x starts at 0."""
    N, C, H, W = x.shape
    KH, KW, OH, OW = cols.shape[1], cols.shape[2], cols.shape[4], cols.shape[5]
    for q in prange(N * C):
        n = q // C
        c = q % C
        plane = x[n, c]                                             # (H, W)
        for i in range(KH):
            oh_lo, oh_hi = _valid_range(i * dh - ph, sh, H, OH)
            for j in range(KW):
                ow_lo, ow_hi = _valid_range(j * dw - pw, sw, W, OW)
                src = cols[c, i, j, n]                              # (OH, OW)
                # An explicit loop: measured 2-3x faster here than a slice ``plane[...] += ...``.
                for oh in range(oh_lo, oh_hi):
                    row = plane[oh * sh - ph + i * dh]
                    w = ow_lo * sw - pw + j * dw
                    for ow in range(ow_lo, ow_hi):
                        row[w] += src[oh, ow]
                        w += sw
