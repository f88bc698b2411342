"""numba kernel for the batch-norm sums (CPU). Imported lazily by
:mod:`minigan.kernels.batchnorm`, which explains the maths and holds the reference.

One function, per channel c of (N, C, R) arrays a and b: out[c] = (Σu, Σu·v, k) with
u = a − k, v = b − k, k = a[0, c, 0] if ``shift`` else 0, in float64 accumulators. The
channels are independent (``prange`` over c in the parallel twin). ``fastmath`` lets LLVM
reorder the float64 sums (reassociate) so that the inner loop is vectorised; the order does
not matter at float64 precision for float32 results. Debug with ``NUMBA_DISABLE_JIT=1``.
"""
from __future__ import annotations

from numba import njit, prange

_FAST = {"reassoc", "contract"}


@njit(cache=True, fastmath=_FAST)
def _channel(a, b, c, shift, out):  # pragma: no cover - compiled
    N, R = a.shape[0], a.shape[2]
    k = 0.0
    if shift:
        k = float(a[0, c, 0])
    s = 0.0
    q = 0.0
    for n in range(N):
        ar = a[n, c]
        br = b[n, c]
        for r in range(R):
            u = float(ar[r]) - k
            s += u
            q += u * (float(br[r]) - k)
    out[c, 0] = s
    out[c, 1] = q
    out[c, 2] = k


@njit(parallel=True, cache=True)
def channel_sums(a, b, shift, out):  # pragma: no cover - compiled
    for c in prange(a.shape[1]):
        _channel(a, b, c, shift, out)


@njit(cache=True)
def channel_sums_serial(a, b, shift, out):  # pragma: no cover - compiled
    for c in range(a.shape[1]):
        _channel(a, b, c, shift, out)
