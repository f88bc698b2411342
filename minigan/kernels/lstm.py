"""The LSTM cell's pointwise work, forward and backward, fused into one pass each.

Shape letters: N batch, H hidden size. One time step of an LSTM is a matrix product that
gives the gate pre-activations ``a = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh`` of shape (N, 4H), in
torch's order (i, f, g, o), followed by pointwise work::

    i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)          (acts, (N, 4H))
    c = f ⊙ c_prev + i ⊙ g                                         (N, H)
    h = o ⊙ tanh(c)                                                 (N, H)

and its backward pass (chapter 9 derives it), given dh_next and dc_next, the gradients
flowing into this step's h and c, to da = [da_i | da_f | da_g | da_o] (N, 4H) and dc_prev::

    dc_total = dc_next + dh_next ⊙ o ⊙ (1 − tanh²c)       (c's two paths: direct and via h)
    da_i = dc_total ⊙ g ⊙ i(1 − i)        da_f = dc_total ⊙ c_prev ⊙ f(1 − f)
    da_g = dc_total ⊙ i ⊙ (1 − g²)        da_o = dh_next ⊙ tanh(c) ⊙ o(1 − o)
    dc_prev = dc_total ⊙ f

Unfused, NumPy makes some twenty passes over (N, H) arrays and as many temporaries. The
backward kernel reads each input once and writes each output once; the forward one leaves its
five tanh to NumPy's vectorised tanh (a scalar tanh in a numba loop is 40x slower, see
``_lstm_numba.py``) and fuses everything between them. The cache is ``acts`` (the four
activated gates) and ``tanh_c``: with ``c_prev`` (which the caller keeps anyway) that is all the
backward pass needs. Every function keeps the dtype of its input.

Three implementations, one dispatch per op, as in :mod:`minigan.kernels.activation`:
``*_reference`` (NumPy/CuPy, readable), ``*_numba`` (``_lstm_numba.py``, a loop over (n, j))
and, on CuPy arrays, ``ElementwiseKernel``s (``_cupy.py``). ``MINIGAN_KERNELS=numpy`` selects the
reference.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ._dispatch import choose, load_numba, need

__all__ = ["lstm_gates_forward", "lstm_gates_backward",
           "lstm_gates_forward_reference", "lstm_gates_backward_reference",
           "lstm_gates_forward_numba", "lstm_gates_backward_numba", "implementation"]


def _check(four_gates, c_prev, name):
    """H, after checking that ``four_gates`` (a or acts) is (N, 4H) and c_prev is (N, H)."""
    if four_gates.ndim != 2 or c_prev.ndim != 2 or four_gates.shape != (c_prev.shape[0],
                                                                          4 * c_prev.shape[1]):
        raise ValueError(f"{name}: expected gates of shape (N, 4H) and c_prev of shape (N, H), "
                         f"got {tuple(four_gates.shape)} and {tuple(c_prev.shape)}")
    return c_prev.shape[1]


def _sigmoid(x):
    xp = get_array_module(x)
    return 0.5 * (1 + xp.tanh(0.5 * x))       # σ without overflow (as minigan.nn.sigmoid)


# --- the readable reference (NumPy or CuPy) ---------------------------------------------

def lstm_gates_forward_reference(a, c_prev):
    """a: (N, 4H) gate pre-activations [a_i | a_f | a_g | a_o]; c_prev: (N, H).

    Returns h, c: (N, H); acts: (N, 4H), the activated gates (i, f, g, o); tanh_c: (N, H)."""
    H = _check(a, c_prev, "lstm_gates_forward")
    xp = get_array_module(a)
    acts = xp.empty_like(a)
    acts[:, :2 * H] = _sigmoid(a[:, :2 * H])                # i, f
    acts[:, 2 * H:3 * H] = xp.tanh(a[:, 2 * H:3 * H])       # g
    acts[:, 3 * H:] = _sigmoid(a[:, 3 * H:])                # o
    i, f, g, o = (acts[:, k * H:(k + 1) * H] for k in range(4))
    c = f * c_prev + i * g
    tanh_c = xp.tanh(c)
    h = o * tanh_c
    return h, c, acts, tanh_c


def lstm_gates_backward_reference(dh_next, dc_next, acts, c_prev, tanh_c):
    """dh_next, dc_next: (N, H) gradients flowing into h and c of this step (dc_next may be
    None: zero); acts: (N, 4H) and tanh_c: (N, H) from the forward pass; c_prev: (N, H).

    Returns da: (N, 4H), the gradient of the pre-activations a, and dc_prev: (N, H)."""
    H = _check(acts, c_prev, "lstm_gates_backward")
    xp = get_array_module(acts)
    i, f, g, o = (acts[:, k * H:(k + 1) * H] for k in range(4))
    dc_total = dh_next * o * (1 - tanh_c * tanh_c)          # through h = o·tanh(c)
    if dc_next is not None:
        dc_total = dc_total + dc_next                        # + directly
    da = xp.empty_like(acts)
    da[:, :H] = dc_total * g * i * (1 - i)                   # da_i = di · σ'
    da[:, H:2 * H] = dc_total * c_prev * f * (1 - f)         # da_f = df · σ'
    da[:, 2 * H:3 * H] = dc_total * i * (1 - g * g)          # da_g = dg · tanh'
    da[:, 3 * H:] = dh_next * tanh_c * o * (1 - o)           # da_o = do · σ'
    return da, dc_total * f                                  # dc_prev = dc_total ⊙ f


# --- numba, imported lazily ----------------------------------------------------------------

_numba = {"module": None, "tried": False}


def _numba_kernels():
    return load_numba(_numba, "_lstm_numba", "LSTM gate kernels")


def implementation(a) -> str:
    """``"cupy"``, ``"numba"`` or ``"numpy"``: which kernel the dispatch uses for ``a``."""
    return choose(a, _numba_kernels)


# Below NUMBA_MIN_SIZE entries of c the reference; the threaded kernels only from
# NUMBA_PARALLEL_MIN_SIZE on (see minigan.kernels.activation for why so late).
NUMBA_MIN_SIZE = 1 << 8
NUMBA_PARALLEL_MIN_SIZE = 1 << 21


def _c(arr):
    return np.ascontiguousarray(arr)


def _gate_scale(H, dtype):
    """(4H,) [½]*2H + [1]*H + [½]*H: tanh(a·s) gives tanh(a/2) for the σ-gates, tanh(a) for g."""
    key = (H, np.dtype(dtype).str)
    if key not in _scales:
        s = np.full(4 * H, 0.5, dtype)
        s[2 * H:3 * H] = 1
        _scales[key] = s
    return _scales[key]


_scales: dict = {}


def _outputs(out, shapes, dtype, name):
    """The caller's ``out`` arrays (checked), or new ones."""
    if out is None:
        return [np.empty(shape, dtype) for shape in shapes]
    if len(out) != len(shapes):
        raise ValueError(f"{name}: expected {len(shapes)} arrays in out, got {len(out)}")
    for arr, shape in zip(out, shapes):
        if not isinstance(arr, np.ndarray) or arr.shape != shape or arr.dtype != dtype \
                or not arr.flags.c_contiguous:
            got = [(getattr(b, "shape", None), str(getattr(b, "dtype", None))) for b in out]
            raise ValueError(f"{name}: out arrays must be C-contiguous {np.dtype(dtype)} arrays "
                             f"of shapes {shapes}, got {got}")
    return list(out)


def lstm_gates_forward_numba(a, c_prev, out=None, parallel=None):
    """:func:`lstm_gates_forward_reference` with the numba kernel (CPU). The five tanh per
    entry go to NumPy's vectorised tanh, everything between them to one fused loop.
    ``out=(h, c, acts, tanh_c)`` writes into given arrays (``acts`` may be ``a`` itself)."""
    H = _check(a, c_prev, "lstm_gates_forward")
    kernels = need(_numba_kernels, "lstm_gates_forward_numba")
    parallel = c_prev.size >= NUMBA_PARALLEL_MIN_SIZE if parallel is None else bool(parallel)
    N, dt = a.shape[0], a.dtype
    h, c, acts, tanh_c = _outputs(out, [(N, H), (N, H), (N, 4 * H), (N, H)], dt,
                                  "lstm_gates_forward")
    c_prev = _c(c_prev).astype(dt, copy=False)
    # acts is the kernel's work array: it holds t = tanh(a·s) (tanh(a/2) for the σ-gates,
    # tanh(a) for g) until the kernel turns it, in place, into the gates i, f, g, o.
    np.multiply(a, _gate_scale(H, dt), out=acts)
    np.tanh(acts, out=acts)
    kernel = kernels.lstm_forward if parallel else kernels.lstm_forward_serial
    kernel(acts, c_prev, c, dt.type(0.5))            # acts := gates; c = f·c_prev + i·g
    np.tanh(c, out=tanh_c)
    np.multiply(acts[:, 3 * H:], tanh_c, out=h)
    return h, c, acts, tanh_c


def lstm_gates_backward_numba(dh_next, dc_next, acts, c_prev, tanh_c, out=None,
                              parallel=None):
    """:func:`lstm_gates_backward_reference` by the fused numba kernel (CPU).
    ``out=(da, dc_prev)`` writes into given arrays (``dc_prev`` may be ``dc_next`` itself)."""
    H = _check(acts, c_prev, "lstm_gates_backward")
    kernels = need(_numba_kernels, "lstm_gates_backward_numba")
    parallel = c_prev.size >= NUMBA_PARALLEL_MIN_SIZE if parallel is None else bool(parallel)
    dt = acts.dtype
    dc_next = (np.zeros(c_prev.shape, dt) if dc_next is None
               else _c(dc_next).astype(dt, copy=False))
    dh_next, acts, c_prev, tanh_c = (_c(arr).astype(dt, copy=False)
                                     for arr in (dh_next, acts, c_prev, tanh_c))
    for arr, name in ((dh_next, "dh"), (dc_next, "dc"), (tanh_c, "tanh_c")):
        if arr.shape != c_prev.shape:
            raise ValueError(f"lstm_gates_backward: expected {name} of shape "
                             f"{tuple(c_prev.shape)}, got {tuple(arr.shape)}")
    N = acts.shape[0]
    da, dc_prev = _outputs(out, [(N, 4 * H), (N, H)], dt, "lstm_gates_backward")
    kernel = kernels.lstm_backward if parallel else kernels.lstm_backward_serial
    kernel(dh_next, dc_next, acts, c_prev, tanh_c, da, dc_prev, dt.type(1))
    return da, dc_prev


# --- the dispatch ----------------------------------------------------------------------------

def _copy_into(out, results):
    if out is None:
        return results
    for o, r in zip(out, results):
        o[...] = r
    return tuple(out)


def lstm_gates_forward(a, c_prev, out=None):
    """a: (N, 4H) gate pre-activations, c_prev: (N, H) previous cell state -> h, c, acts,
    tanh_c (see :func:`lstm_gates_forward_reference`), by the fastest available kernel.

    ``out=(h, c, acts, tanh_c)``: arrays to write into (the LSTM's per-step slices of its
    (T, N, ...) caches, which saves a copy and an allocation per step); ``acts`` may be
    ``a`` itself, the other outputs must not overlap the inputs."""
    impl = implementation(a)
    if impl == "cupy":
        H = _check(a, c_prev, "lstm_gates_forward")
        from ._cupy import lstm_kernel as kernel
        xp = get_array_module(a)
        a = xp.ascontiguousarray(a)
        if out is None:
            out = (xp.empty(c_prev.shape, a.dtype), xp.empty(c_prev.shape, a.dtype),
                   xp.empty_like(a), xp.empty(c_prev.shape, a.dtype))
        else:
            a = a.copy()                 # out's acts may be a itself (a copy is cheap here)
        h, c, acts, tanh_c = out
        kernel("lstm_gates_forward")(a, c_prev, np.int64(H), acts, h, c, tanh_c)
        return h, c, acts, tanh_c
    if impl == "numba" and c_prev.size >= NUMBA_MIN_SIZE:
        return lstm_gates_forward_numba(a, c_prev, out=out)
    return _copy_into(out, lstm_gates_forward_reference(a, c_prev))


def lstm_gates_backward(dh_next, dc_next, acts, c_prev, tanh_c, out=None):
    """dh_next, dc_next (dc_next may be None), and the forward's acts, c_prev, tanh_c ->
    da (N, 4H), dc_prev (N, H) (see :func:`lstm_gates_backward_reference`), one fused pass.

    ``out=(da, dc_prev)``: arrays to write into; ``dc_prev`` may be ``dc_next`` itself."""
    impl = implementation(acts)
    if impl == "cupy":
        H = _check(acts, c_prev, "lstm_gates_backward")
        from ._cupy import lstm_kernel as kernel
        xp = get_array_module(acts)
        if dc_next is None:
            dc_next = xp.zeros_like(c_prev)
        acts = xp.ascontiguousarray(acts)
        if out is None:
            out = (xp.empty_like(acts), xp.empty(c_prev.shape, acts.dtype))
        else:
            dc_next = dc_next.copy()     # out's dc_prev may be dc_next itself
        da, dc_prev = out
        kernel("lstm_gates_backward")(dh_next, dc_next, c_prev, tanh_c, acts, np.int64(H),
                                      da, dc_prev)
        return da, dc_prev
    if impl == "numba" and c_prev.size >= NUMBA_MIN_SIZE:
        return lstm_gates_backward_numba(dh_next, dc_next, acts, c_prev, tanh_c, out=out)
    return _copy_into(out, lstm_gates_backward_reference(dh_next, dc_next, acts, c_prev,
                                                         tanh_c))
