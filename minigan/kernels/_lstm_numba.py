"""numba kernels for the LSTM gates (CPU). Imported lazily by :mod:`minigan.kernels.lstm`,
which holds the reference and the equations. One iteration per (n, j), n < N, j < H, touching
the four gates at columns j + kH, k = 0..3 (torch's order i, f, g, o).

The forward kernel takes t = tanh(a·s), s = ½ for the σ-gates and 1 for g, computed before by
NumPy, and turns it in place into the activated gates (σ(a) = ½ + ½·tanh(a/2)), writing c on
the way. Why not tanh inside the loop: measured, libm's tanhf called from numba costs 16 ns an
entry, NumPy's vectorised tanh 0.4 ns; the kernel would be 3x slower than the reference.
Constants (``half``, ``one``) come in the arrays' dtype so that float32 arithmetic stays
float32 (a literal 0.5 or 1 would make numba compute in float64). ``*_serial`` twins avoid thread wake-up
for the usual small batches. Debug with ``NUMBA_DISABLE_JIT=1``.
"""
from __future__ import annotations

from numba import njit, prange


@njit(inline="always")
def _forward_row(n, t, c_prev, c, half):  # pragma: no cover - compiled
    H = c_prev.shape[1]
    for j in range(H):
        i = half + half * t[n, j]               # σ(a) = ½ + ½·tanh(a/2)
        f = half + half * t[n, H + j]
        g = t[n, 2 * H + j]
        t[n, j] = i
        t[n, H + j] = f
        t[n, 3 * H + j] = half + half * t[n, 3 * H + j]
        c[n, j] = f * c_prev[n, j] + i * g


@njit(parallel=True, cache=True)
def lstm_forward(t, c_prev, c, half):  # pragma: no cover - compiled
    for n in prange(c_prev.shape[0]):
        _forward_row(n, t, c_prev, c, half)


@njit(cache=True)
def lstm_forward_serial(t, c_prev, c, half):  # pragma: no cover - compiled
    for n in range(c_prev.shape[0]):
        _forward_row(n, t, c_prev, c, half)


@njit(inline="always")
def _backward_row(n, dh, dc, acts, c_prev, tanh_c, dgates, dc_prev, one):  # pragma: no cover
    H = c_prev.shape[1]
    for j in range(H):
        i = acts[n, j]
        f = acts[n, H + j]
        g = acts[n, 2 * H + j]
        o = acts[n, 3 * H + j]
        tc = tanh_c[n, j]
        d = dh[n, j]
        dct = d * o * (one - tc * tc) + dc[n, j]
        dgates[n, j] = dct * g * i * (one - i)
        dgates[n, H + j] = dct * c_prev[n, j] * f * (one - f)
        dgates[n, 2 * H + j] = dct * i * (one - g * g)
        dgates[n, 3 * H + j] = d * tc * o * (one - o)
        dc_prev[n, j] = dct * f


@njit(parallel=True, cache=True)
def lstm_backward(dh, dc, acts, c_prev, tanh_c, dgates, dc_prev, one):  # pragma: no cover
    for n in prange(c_prev.shape[0]):
        _backward_row(n, dh, dc, acts, c_prev, tanh_c, dgates, dc_prev, one)


@njit(cache=True)
def lstm_backward_serial(dh, dc, acts, c_prev, tanh_c, dgates, dc_prev,
                         one):  # pragma: no cover - compiled
    for n in range(c_prev.shape[0]):
        _backward_row(n, dh, dc, acts, c_prev, tanh_c, dgates, dc_prev, one)
