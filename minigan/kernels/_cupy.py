"""CuPy kernels (CUDA C), compiled lazily on first use: :func:`kernel` returns the compiled
kernel of a name, creating it the first time it is asked for (importing CuPy only then).

Each kernel is held by a test to its NumPy reference (``tests/test_kernels_ops.py``, marked
``gpu``). Indices inside kernels are 64-bit (``long long``) wherever they can pass 2³¹.

- pooling (``ElementwiseKernel``, one thread per element of the OUTPUT array):
  forward, one thread per window; backward, one thread per INPUT pixel, which gathers dy from
  the windows covering it (oh from ⌈(h + p − KH + 1)/s⌉ to ⌊(h + p)/s⌋): no atomics, and the
  same summation order on every run;
- activations (``ElementwiseKernel``): leaky ReLU and the fused backward passes;
- batch-norm sums (``RawModule``, a template for float and double): one block of 256 threads
  per channel, each thread summing a strided share in double, then a tree reduction in
  shared memory.
"""
from __future__ import annotations

_kernels: dict = {}

_POOL_ARGS = ("int32 H, int32 W, int32 OH, int32 OW, int32 KH, int32 KW, int32 sh, int32 sw, "
              "int32 ph, int32 pw")

# Window (oh, ow) of output element i, and the on-image part of it.
_WINDOW = """
    const int ow = i % OW;
    const int oh = (i / OW) % OH;
    const long long plane = (long long)(i / ((long long)OH * OW)) * H * W;
    const int top = oh * sh - ph, left = ow * sw - pw;
    const int h_lo = max(top, 0), h_hi = min(top + KH, H);
    const int w_lo = max(left, 0), w_hi = min(left + KW, W);
"""

# The windows that cover input pixel i = (plane, h, w).
_COVER = """
    const int w = i % W;
    const int h = (i / W) % H;
    const long long plane = (long long)(i / ((long long)H * W)) * OH * OW;
    const int oh_lo = (h + ph < KH) ? 0 : (h + ph - KH) / sh + 1;
    const int oh_hi = min((h + ph) / sh + 1, OH);
    const int ow_lo = (w + pw < KW) ? 0 : (w + pw - KW) / sw + 1;
    const int ow_hi = min((w + pw) / sw + 1, OW);
"""


def _make(name):
    import cupy

    if name == "max_pool2d":
        return cupy.ElementwiseKernel(
            "raw T x, " + _POOL_ARGS, "T y, int64 arg", _WINDOW + """
            long long where = (long long)h_lo * W + w_lo;    // the first on-image pixel
            T best = x[plane + where];
            for (int hh = h_lo; hh < h_hi; ++hh) {
                for (int ww = w_lo; ww < w_hi; ++ww) {
                    const T v = x[plane + (long long)hh * W + ww];
                    if (v > best || (v != v && best == best)) {   // first max; NaN wins
                        best = v;
                        where = (long long)hh * W + ww;
                    }
                }
            }
            y = best;
            arg = where;
            """, "minigan_max_pool2d")
    if name == "max_pool2d_backward":
        return cupy.ElementwiseKernel(
            "raw T dy, raw int64 arg, " + _POOL_ARGS, "T dx", _COVER + """
            const long long me = (long long)h * W + w;
            T total = 0;
            for (int oh = oh_lo; oh < oh_hi; ++oh)
                for (int ow = ow_lo; ow < ow_hi; ++ow) {
                    const long long o = plane + (long long)oh * OW + ow;
                    if (arg[o] == me) total += dy[o];
                }
            dx = total;
            """, "minigan_max_pool2d_backward")
    if name == "avg_pool2d":
        return cupy.ElementwiseKernel(
            "raw T x, " + _POOL_ARGS, "T y", _WINDOW + """
            T total = 0;
            for (int hh = h_lo; hh < h_hi; ++hh)
                for (int ww = w_lo; ww < w_hi; ++ww)
                    total += x[plane + (long long)hh * W + ww];
            y = total / (T)(KH * KW);
            """, "minigan_avg_pool2d")
    if name == "avg_pool2d_backward":
        return cupy.ElementwiseKernel(
            "raw T dy, " + _POOL_ARGS, "T dx", _COVER + """
            const T area = (T)(KH * KW);
            T total = 0;
            for (int oh = oh_lo; oh < oh_hi; ++oh)
                for (int ow = ow_lo; ow < ow_hi; ++ow)
                    total += dy[plane + (long long)oh * OW + ow] / area;
            dx = total;
            """, "minigan_avg_pool2d_backward")
    if name == "leaky_relu":
        return cupy.ElementwiseKernel("T x, T a", "T y", "y = x > (T)0 ? x : a * x",
                                      "minigan_leaky_relu")
    if name == "leaky_relu_backward":
        return cupy.ElementwiseKernel("T dy, T x, T a", "T dx", "dx = x > (T)0 ? dy : a * dy",
                                      "minigan_leaky_relu_backward")
    if name == "tanh_backward":
        return cupy.ElementwiseKernel("T dy, T y", "T dx", "dx = dy * ((T)1 - y * y)",
                                      "minigan_tanh_backward")
    if name == "channel_sums":
        module = cupy.RawModule(code=_CHANNEL_SUMS, options=("-std=c++11",),
                                name_expressions=["channel_sums<float>",
                                                  "channel_sums<double>"])
        return {"float32": module.get_function("channel_sums<float>"),
                "float64": module.get_function("channel_sums<double>")}
    raise KeyError(name)


def kernel(name):
    """The compiled kernel called ``name`` (created on first use)."""
    if name not in _kernels:
        _kernels[name] = _make(name)
    return _kernels[name]


_THREADS = 256   # threads per block of channel_sums (a power of 2: the tree reduction halves)

_CHANNEL_SUMS = r"""
// a, b: (N, C, R) contiguous. out[c] = (Σu, Σu·v, k), u = a − k, v = b − k, k = shift ?
// a[0, c, 0] : 0, in double. One block per channel c.
template <typename T>
__global__ void channel_sums(const T* a, const T* b, long long N, long long C, long long R,
                             int shift, double* out) {
    const long long c = blockIdx.x;
    const double k = shift ? (double)a[c * R] : 0.0;
    double s = 0.0, q = 0.0;
    for (long long m = threadIdx.x; m < N * R; m += blockDim.x) {
        const long long n = m / R, r = m - n * R;
        const long long at = (n * C + c) * R + r;
        const double u = (double)a[at] - k;
        s += u;
        q += u * ((double)b[at] - k);
    }
    __shared__ double ss[256], sq[256];
    ss[threadIdx.x] = s;
    sq[threadIdx.x] = q;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) {
            ss[threadIdx.x] += ss[threadIdx.x + half];
            sq[threadIdx.x] += sq[threadIdx.x + half];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        out[3 * c] = ss[0];
        out[3 * c + 1] = sq[0];
        out[3 * c + 2] = k;
    }
}
"""


def channel_sums(a, b, shift):
    """(C, 3) float64 array of (Σu, Σu·v, k) per channel of a, b: (N, C, ...) CuPy arrays."""
    import cupy
    import numpy as np
    if a.dtype.name not in ("float32", "float64") or b.dtype != a.dtype or b.shape != a.shape:
        raise TypeError(f"channel_sums: expected two float32 or float64 arrays of one shape and "
                        f"dtype, got {a.dtype} {a.shape} and {b.dtype} {b.shape}")
    N, C = a.shape[:2]
    R = a.size // (N * C)
    out = cupy.empty((C, 3), dtype=cupy.float64)
    fn = kernel("channel_sums")[a.dtype.name]
    fn((C,), (_THREADS,), (cupy.ascontiguousarray(a), cupy.ascontiguousarray(b), np.int64(N),
                           np.int64(C), np.int64(R), np.int32(bool(shift)), out))
    return out


# --- LSTM gates (minigan.kernels.lstm): one thread per (n, j) entry of the (N, H) state; the
# four gates of that entry sit at columns j + kH (k = 0..3, torch's order i, f, g, o) of the
# contiguous (N, 4H) arrays, read and written as raw arrays.

_LSTM_ENTRY = """
    const long long n = i / H, j = i - n * H;
    const long long at = n * 4 * H + j;
"""


def _lstm_gates_forward(cupy):
    return cupy.ElementwiseKernel(
        "raw T a, T c_prev, int64 H", "raw T acts, T h, T c, T tanh_c", _LSTM_ENTRY + """
        const T half = 0.5;
        const T gi = half + half * tanh(half * a[at]);            // σ(x) = ½ + ½·tanh(x/2)
        const T gf = half + half * tanh(half * a[at + H]);
        const T gg = tanh(a[at + 2 * H]);
        const T go = half + half * tanh(half * a[at + 3 * H]);
        acts[at] = gi;
        acts[at + H] = gf;
        acts[at + 2 * H] = gg;
        acts[at + 3 * H] = go;
        c = gf * c_prev + gi * gg;
        tanh_c = tanh(c);
        h = go * tanh_c;
        """, "minigan_lstm_gates_forward")


def _lstm_gates_backward(cupy):
    return cupy.ElementwiseKernel(
        "T dh_next, T dc_next, T c_prev, T tanh_c, raw T acts, int64 H", "raw T da, T dc_prev",
        _LSTM_ENTRY + """
        const T one = 1;
        const T gi = acts[at], gf = acts[at + H], gg = acts[at + 2 * H], go = acts[at + 3 * H];
        const T dct = dh_next * go * (one - tanh_c * tanh_c) + dc_next;    // dc_total
        da[at] = dct * gg * gi * (one - gi);
        da[at + H] = dct * c_prev * gf * (one - gf);
        da[at + 2 * H] = dct * gi * (one - gg * gg);
        da[at + 3 * H] = dh_next * tanh_c * go * (one - go);
        dc_prev = dct * gf;
        """, "minigan_lstm_gates_backward")


_LSTM = {"lstm_gates_forward": _lstm_gates_forward, "lstm_gates_backward": _lstm_gates_backward}


def lstm_kernel(name):
    """The compiled LSTM gate kernel called ``name`` (created on first use, kept with the
    others in ``_kernels``)."""
    if name not in _kernels:
        import cupy
        _kernels[name] = _LSTM[name](cupy)
    return _kernels[name]
