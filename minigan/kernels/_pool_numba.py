"""numba kernels for max / average pooling (CPU). Imported lazily by :mod:`minigan.kernels.pool`,
which holds the readable reference these loops must agree with (tests/test_kernels_ops.py).

Every kernel works on the N·C image planes independently: x (P, H, W), y (P, OH, OW),
P = N·C. A window's on-image part is rows [max(top, 0), min(top + KH, H)), top = oh·s − p, so
padding is never materialised. The backward scatter-adds stay inside one plane, so the plane
loop can run in parallel (``prange``) without races; each op also has a ``*_serial`` twin (no
thread wake-up, for the small arrays). Debug with ``NUMBA_DISABLE_JIT=1``.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._im2col_numba import _valid_range


@njit(cache=True)
def _max_plane(x, y, arg, p, KH, KW, sh, sw, ph, pw):  # pragma: no cover - compiled
    """y[p, oh, ow] = max of the window, arg = its index h·W + w (first max; NaN wins).

    Window by window, from its first on-image pixel, replaced only by a STRICTLY larger one.
    NaN is only noted in the loop (``v > best`` is False for it) and, in the rare window that
    has one, the first NaN is looked up after: testing for NaN inside the comparison made the
    loop 2.5x slower."""
    H, W = x.shape[1], x.shape[2]
    OH, OW = y.shape[1], y.shape[2]
    for oh in range(OH):
        h_lo = max(oh * sh - ph, 0)
        h_hi = min(oh * sh - ph + KH, H)
        for ow in range(OW):
            w_lo = max(ow * sw - pw, 0)
            w_hi = min(ow * sw - pw + KW, W)
            best = x[p, h_lo, w_lo]
            where = h_lo * W + w_lo
            nan = False
            for h in range(h_lo, h_hi):
                for w in range(w_lo, w_hi):
                    v = x[p, h, w]
                    nan |= v != v
                    if v > best:
                        best = v
                        where = h * W + w
            if nan:                                            # the first NaN wins
                for h in range(h_hi - 1, h_lo - 1, -1):
                    for w in range(w_hi - 1, w_lo - 1, -1):
                        if x[p, h, w] != x[p, h, w]:
                            best = x[p, h, w]
                            where = h * W + w
            y[p, oh, ow] = best
            arg[p, oh, ow] = where


@njit(cache=True)
def _max_backward_plane(dy, arg, dx, p):  # pragma: no cover - compiled
    """dx[p, arg[p, o]] += dy[p, o] on flattened planes."""
    for o in range(dy.shape[1]):
        dx[p, arg[p, o]] += dy[p, o]


@njit(cache=True)
def _avg_plane(x, y, p, KH, KW, sh, sw, ph, pw, area):  # pragma: no cover - compiled
    """y[p, oh, ow] = (Σ window) / area, area = KH·KW in x's dtype (float32 stays float32):
    the padded zeros are counted, not added. One output row at a time, tap by tap, so that
    the inner loop runs along the row (the taps are summed in the reference's order)."""
    H, W = x.shape[1], x.shape[2]
    OH, OW = y.shape[1], y.shape[2]
    for oh in range(OH):
        out = y[p, oh]
        out[:] = area - area                                   # 0 in x's dtype
        for i in range(KH):
            h = oh * sh - ph + i
            if h < 0 or h >= H:
                continue
            row = x[p, h]
            for j in range(KW):
                lo, hi = _valid_range(j - pw, sw, W, OW)
                w0 = lo * sw - pw + j
                for k in range(hi - lo):
                    out[lo + k] += row[w0 + k * sw]
        for ow in range(OW):
            out[ow] /= area


@njit(cache=True)
def _avg_backward_plane(dy, dx, p, KH, KW, sh, sw, ph, pw, area):  # pragma: no cover
    """dx[p, h, w] += dy[p, oh, ow] / area for every window (oh, ow) covering (h, w)."""
    H, W = dx.shape[1], dx.shape[2]
    OH, OW = dy.shape[1], dy.shape[2]
    share = np.empty(OW, dtype=dy.dtype)
    for oh in range(OH):
        for ow in range(OW):
            share[ow] = dy[p, oh, ow] / area
        for i in range(KH):
            h = oh * sh - ph + i
            if h < 0 or h >= H:
                continue
            row = dx[p, h]
            for j in range(KW):
                lo, hi = _valid_range(j - pw, sw, W, OW)
                w0 = lo * sw - pw + j
                for k in range(hi - lo):
                    row[w0 + k * sw] += share[lo + k]


@njit(parallel=True, cache=True)
def max_pool2d(x, y, arg, KH, KW, sh, sw, ph, pw):  # pragma: no cover - compiled
    for p in prange(x.shape[0]):
        _max_plane(x, y, arg, p, KH, KW, sh, sw, ph, pw)


@njit(cache=True)
def max_pool2d_serial(x, y, arg, KH, KW, sh, sw, ph, pw):  # pragma: no cover - compiled
    for p in range(x.shape[0]):
        _max_plane(x, y, arg, p, KH, KW, sh, sw, ph, pw)


@njit(parallel=True, cache=True)
def max_pool2d_backward(dy, arg, dx):  # pragma: no cover - compiled
    for p in prange(dy.shape[0]):
        _max_backward_plane(dy, arg, dx, p)


@njit(cache=True)
def max_pool2d_backward_serial(dy, arg, dx):  # pragma: no cover - compiled
    for p in range(dy.shape[0]):
        _max_backward_plane(dy, arg, dx, p)


@njit(parallel=True, cache=True)
def avg_pool2d(x, y, KH, KW, sh, sw, ph, pw, area):  # pragma: no cover - compiled
    for p in prange(x.shape[0]):
        _avg_plane(x, y, p, KH, KW, sh, sw, ph, pw, area)


@njit(cache=True)
def avg_pool2d_serial(x, y, KH, KW, sh, sw, ph, pw, area):  # pragma: no cover - compiled
    for p in range(x.shape[0]):
        _avg_plane(x, y, p, KH, KW, sh, sw, ph, pw, area)


@njit(parallel=True, cache=True)
def avg_pool2d_backward(dy, dx, KH, KW, sh, sw, ph, pw, area):  # pragma: no cover - compiled
    for p in prange(dy.shape[0]):
        _avg_backward_plane(dy, dx, p, KH, KW, sh, sw, ph, pw, area)


@njit(cache=True)
def avg_pool2d_backward_serial(dy, dx, KH, KW, sh, sw, ph, pw, area):  # pragma: no cover
    for p in range(dy.shape[0]):
        _avg_backward_plane(dy, dx, p, KH, KW, sh, sw, ph, pw, area)
