"""The pooling, batch-norm and activation kernels (minigan.kernels.pool / batchnorm /
activation): each reference against a definition written entry by entry, each numba kernel
(serial and threaded) against the reference in float32 and float64, the dispatch and its
``MINIGAN_KERNELS=numpy`` override, and the CuPy kernels (``gpu``: skipped without a GPU)."""
import importlib
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minigan import backend
from minigan.kernels import activation as A
from minigan.kernels import batchnorm as B
from minigan.kernels import pool as P

try:
    import numba  # noqa: F401
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False

needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
DTYPES = [np.float32, np.float64]

# (x shape, kernel, stride, padding)
POOL_CONFIGS = [
    ((2, 3, 6, 6), 2, None, 0),                      # the usual 2×2, stride 2
    ((1, 2, 7, 7), 3, 2, 1),                         # batch 1, overlapping windows, padding
    ((2, 2, 9, 8), 3, 1, 1),                         # stride 1: every pixel in up to 9 windows
    ((2, 1, 5, 7), (2, 3), (1, 2), (1, 1)),          # non-square
    ((3, 2, 7, 5), 3, 3, 0),                         # odd sizes, leftover rows dropped
    ((1, 1, 4, 4), 4, 1, 2),                         # a window mostly on padding
    ((2, 2, 6, 5), 2, 3, 0),                         # stride > kernel: skipped pixels
    ((1, 1, 1, 1), 1, 1, 0),                         # a 1×1 image
]


def with_ties(shape, dtype, seed):
    """Few distinct values (many ties in each window), some negative, non-symmetric."""
    rng = np.random.default_rng(seed)
    return rng.integers(-3, 3, size=shape).astype(dtype) * dtype(0.5)


def windows(shape, kernel, stride, padding):
    """Yield (oh, ow, [(h, w) on the image, row-major]) for every window: the definition."""
    (KH, KW), (sh, sw), (ph, pw), (OH, OW) = P.pool_geometry(shape, kernel, stride, padding)
    H, W = shape[2:]
    for oh in range(OH):
        for ow in range(OW):
            yield oh, ow, [(h, w) for h in range(oh * sh - ph, oh * sh - ph + KH)
                           for w in range(ow * sw - pw, ow * sw - pw + KW)
                           if 0 <= h < H and 0 <= w < W]


def max_pool_definition(x, kernel, stride, padding):
    N, C, H, W = x.shape
    OH, OW = P.pool_geometry(x.shape, kernel, stride, padding)[3]
    y, arg = np.empty((N, C, OH, OW), x.dtype), np.empty((N, C, OH, OW), np.int64)
    for n in range(N):
        for c in range(C):
            for oh, ow, pixels in windows(x.shape, kernel, stride, padding):
                values = [x[n, c, h, w] for h, w in pixels]
                k = int(np.argmax(values))                     # first max, first NaN
                y[n, c, oh, ow] = values[k]
                arg[n, c, oh, ow] = pixels[k][0] * W + pixels[k][1]
    return y, arg


def avg_pool_definition(x, kernel, stride, padding):
    (KH, KW), _, _, (OH, OW) = P.pool_geometry(x.shape, kernel, stride, padding)
    y = np.zeros(x.shape[:2] + (OH, OW), np.float64)
    for oh, ow, pixels in windows(x.shape, kernel, stride, padding):
        for h, w in pixels:
            y[:, :, oh, ow] += x[:, :, h, w]
    return y / (KH * KW)


def avg_pool_backward_definition(dy, shape, kernel, stride, padding):
    (KH, KW) = P.pool_geometry(shape, kernel, stride, padding)[0]
    dx = np.zeros(shape, np.float64)
    for oh, ow, pixels in windows(shape, kernel, stride, padding):
        for h, w in pixels:
            dx[:, :, h, w] += dy[:, :, oh, ow] / (KH * KW)
    return dx


def max_pool_backward_definition(dy, arg, shape):
    N, C, H, W = shape
    dx = np.zeros((N, C, H * W), np.float64)
    for n in range(N):
        for c in range(C):
            np.add.at(dx[n, c], arg[n, c].ravel(), dy[n, c].ravel())
    return dx.reshape(shape)


# --- pooling -----------------------------------------------------------------------------

@pytest.mark.parametrize("cfg", POOL_CONFIGS)
def test_pool_reference_matches_definition(cfg):
    shape, k, s, p = cfg
    rng = np.random.default_rng(0)
    x = with_ties(shape, np.float64, 0)
    y, arg = P.max_pool2d_reference(x, k, s, p)
    y_def, arg_def = max_pool_definition(x, k, s, p)
    np.testing.assert_array_equal(y, y_def)
    np.testing.assert_array_equal(arg, arg_def)            # ties: the first max
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(P.max_pool2d_backward_reference(dy, arg, shape, k, s, p),
                               max_pool_backward_definition(dy, arg, shape), rtol=1e-12,
                               atol=1e-12)
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(P.avg_pool2d_reference(x, k, s, p),
                               avg_pool_definition(x, k, s, p), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(P.avg_pool2d_backward_reference(dy, shape, k, s, p),
                               avg_pool_backward_definition(dy, shape, k, s, p), rtol=1e-12,
                               atol=1e-12)


def test_max_pool_overlapping_windows_add_up():
    """One pixel, the max of 4 overlapping windows, receives the sum of their 4 dy."""
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1.0
    y, arg = P.max_pool2d_reference(x, 3, 1, 0)
    assert (arg == 2 * 5 + 2).all()                        # every 3×3 window contains (2, 2)
    dy = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    dx = P.max_pool2d_backward_reference(dy, arg, x.shape, 3, 1, 0)
    assert dx[0, 0, 2, 2] == dy.sum() and np.count_nonzero(dx) == 1
    if HAVE_NUMBA:
        np.testing.assert_array_equal(P.max_pool2d_backward_numba(dy, arg, x.shape, 3, 1, 0), dx)


def test_max_pool_nan_and_minus_inf():
    """A NaN wins its window (the first NaN, as argmax); a window of −∞ keeps its first pixel."""
    x = np.full((1, 1, 4, 4), -np.inf)
    x[0, 0, 0, 3] = x[0, 0, 1, 2] = np.nan
    x[0, 0, 1, 3] = 5.0
    y, arg = P.max_pool2d_reference(x, 2, 2, 0)
    assert np.isnan(y[0, 0, 0, 1]) and arg[0, 0, 0, 1] == 3
    assert y[0, 0, 0, 0] == -np.inf and arg[0, 0, 0, 0] == 0
    assert arg[0, 0, 1, 1] == 2 * 4 + 2
    if HAVE_NUMBA:
        y2, arg2 = P.max_pool2d_numba(x, 2, 2, 0)
        np.testing.assert_array_equal(y2, y)
        np.testing.assert_array_equal(arg2, arg)


@needs_numba
@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", POOL_CONFIGS)
def test_pool_numba_matches_reference(cfg, dtype, parallel):
    shape, k, s, p = cfg
    rng = np.random.default_rng(1)
    x = with_ties(shape, dtype, 1)
    y, arg = P.max_pool2d_numba(x, k, s, p, parallel=parallel)
    y_ref, arg_ref = P.max_pool2d_reference(x, k, s, p)
    assert y.dtype == dtype and arg.dtype == np.int64
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    dy = rng.standard_normal(y.shape).astype(dtype)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    dx = P.max_pool2d_backward_numba(dy, arg, shape, k, s, p, parallel=parallel)
    assert dx.dtype == dtype and dx.shape == shape
    np.testing.assert_allclose(dx, P.max_pool2d_backward_reference(dy, arg, shape, k, s, p),
                               rtol=tol, atol=tol)
    x = rng.standard_normal(shape).astype(dtype)
    ya = P.avg_pool2d_numba(x, k, s, p, parallel=parallel)
    assert ya.dtype == dtype
    np.testing.assert_allclose(ya, P.avg_pool2d_reference(x, k, s, p), rtol=tol, atol=tol)
    dxa = P.avg_pool2d_backward_numba(dy, shape, k, s, p, parallel=parallel)
    assert dxa.dtype == dtype
    np.testing.assert_allclose(dxa, P.avg_pool2d_backward_reference(dy, shape, k, s, p),
                               rtol=tol, atol=tol)


@needs_numba
@settings(max_examples=20, deadline=None)
@given(N=st.integers(1, 2), C=st.integers(1, 2), H=st.integers(1, 9), W=st.integers(1, 9),
       KH=st.integers(1, 4), KW=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       ph=st.integers(0, 2), pw=st.integers(0, 2), seed=st.integers(0, 999))
def test_property_pool_numba_equals_reference(N, C, H, W, KH, KW, sh, sw, ph, pw, seed):
    ph, pw = min(ph, KH // 2), min(pw, KW // 2)
    args = ((KH, KW), (sh, sw), (ph, pw))
    if H + 2 * ph < KH or W + 2 * pw < KW:
        with pytest.raises(ValueError, match="does not fit"):
            P.max_pool2d_numba(np.zeros((N, C, H, W)), *args)
        return
    x = with_ties((N, C, H, W), np.float64, seed)
    y, arg = P.max_pool2d_numba(x, *args)
    y_ref, arg_ref = P.max_pool2d_reference(x, *args)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    dy = np.random.default_rng(seed).standard_normal(y.shape)
    np.testing.assert_allclose(P.max_pool2d_backward_numba(dy, arg, x.shape, *args),
                               max_pool_backward_definition(dy, arg, x.shape), rtol=1e-13,
                               atol=1e-13)
    np.testing.assert_allclose(P.avg_pool2d_numba(x, *args), avg_pool_definition(x, *args),
                               rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(P.avg_pool2d_backward_numba(dy, x.shape, *args),
                               avg_pool_backward_definition(dy, x.shape, *args), rtol=1e-13,
                               atol=1e-13)


def test_max_pool_matches_torch():
    """Values, indices (torch's return_indices) and gradients, ties and overlaps included."""
    torch = pytest.importorskip("torch")
    x = with_ties((2, 3, 9, 8), np.float64, 5)
    dy = np.random.default_rng(5).standard_normal((2, 3, 5, 4))
    y, arg = P.max_pool2d(x, 3, 2, 1)
    xt = torch.tensor(x, requires_grad=True)
    yt, it = torch.nn.functional.max_pool2d(xt, 3, 2, 1, return_indices=True)
    yt.backward(torch.tensor(dy))
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(arg, it.numpy())
    np.testing.assert_allclose(P.max_pool2d_backward(dy, arg, x.shape, 3, 2, 1),
                               xt.grad.numpy(), rtol=1e-12, atol=1e-12)


# --- batch-norm statistics -----------------------------------------------------------------

BN_SHAPES = [(4, 3, 5, 7), (1, 2, 3, 3), (5, 6), (3, 4, 9), (64, 16, 4, 4)]


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batchnorm_reference(shape):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape) * 2 + 3
    axes = (0,) + tuple(range(2, len(shape)))
    mean, var = B.channel_mean_var_reference(x)
    np.testing.assert_allclose(mean, x.mean(axis=axes), rtol=1e-13)
    np.testing.assert_allclose(var, x.var(axis=axes), rtol=1e-12)
    dy = rng.standard_normal(shape)
    s1, s2 = B.channel_sums_reference(dy, x)
    np.testing.assert_allclose(s1, dy.sum(axis=axes), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s2, (dy * x).sum(axis=axes), rtol=1e-12, atol=1e-12)


@needs_numba
@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batchnorm_numba_matches_reference(shape, dtype, parallel):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 2 + 3).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    tol = 2e-6 if dtype == np.float32 else 1e-12
    mean, var = B.channel_mean_var_numba(x, parallel=parallel)
    mean_ref, var_ref = B.channel_mean_var_reference(x)
    assert mean.dtype == var.dtype == dtype and mean.shape == (shape[1],)
    np.testing.assert_allclose(mean, mean_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(var, var_ref, rtol=tol, atol=tol)
    s1, s2 = B.channel_sums_numba(dy, x, parallel=parallel)
    r1, r2 = B.channel_sums_reference(dy, x)
    assert s1.dtype == s2.dtype == dtype
    scale = np.abs(dy).sum() * (1 + np.abs(x).max())      # float32 sums: error ∝ Σ|terms|
    np.testing.assert_allclose(s1, r1, rtol=tol, atol=tol * scale)
    np.testing.assert_allclose(s2, r2, rtol=tol, atol=tol * scale)


@needs_numba
def test_batchnorm_variance_accurate_for_large_mean():
    """|μ| ≫ σ: the shifted one-pass float64 sums keep the float32 variance to ~1e-6."""
    rng = np.random.default_rng(4)
    x = (1000 + 0.01 * rng.standard_normal((32, 3, 8, 8))).astype(np.float32)
    truth = x.astype(np.float64).var(axis=(0, 2, 3))
    _, var = B.channel_mean_var_numba(x)
    np.testing.assert_allclose(var, truth, rtol=1e-5)
    _, var = B.channel_mean_var_numba(np.full((4, 2, 3, 3), 7.1, np.float32))
    assert (var == 0).all()                               # never negative


# --- activations --------------------------------------------------------------------------

ACT_SHAPES = [(64, 16, 4, 4), (3, 5), (1, 7, 3, 3), (2000,)]


def test_activation_reference():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    dy = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    for a in (0.2, 0.0, 1.0, -0.3, 1.5):
        np.testing.assert_array_equal(A.leaky_relu_reference(x, a), np.where(x > 0, x, a * x))
        np.testing.assert_array_equal(A.leaky_relu_backward_reference(dy, x, a),
                                      dy * np.where(x > 0, 1, a))   # slope α at x = 0
    y = np.tanh(x)
    np.testing.assert_allclose(A.tanh_backward_reference(dy, y), dy / np.cosh(x) ** 2,
                               rtol=1e-14)


@needs_numba
@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ACT_SHAPES)
def test_activation_numba_matches_reference(shape, dtype, parallel):
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[:3] = 0                                         # the kink
    dy = rng.standard_normal(shape).astype(dtype)
    for a in (0.2, -0.3, 1.5):
        y = A.leaky_relu_numba(x, a, parallel=parallel)
        assert y.dtype == dtype and y.shape == x.shape
        np.testing.assert_array_equal(y, A.leaky_relu_reference(x, a))
        dx = A.leaky_relu_backward_numba(dy, x, a, parallel=parallel)
        assert dx.dtype == dtype
        np.testing.assert_array_equal(dx, A.leaky_relu_backward_reference(dy, x, a))
    y = np.tanh(x)
    dx = A.tanh_backward_numba(dy, y, parallel=parallel)
    assert dx.dtype == dtype
    tol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(dx, A.tanh_backward_reference(dy, y), rtol=tol, atol=tol)


@needs_numba
def test_activation_numba_takes_non_contiguous_input():
    x = np.random.default_rng(7).standard_normal((40, 60)).T          # a transposed view
    np.testing.assert_array_equal(A.leaky_relu_numba(x, 0.2), A.leaky_relu_reference(x, 0.2))
    with pytest.raises(ValueError, match="shapes differ"):
        A.tanh_backward_numba(np.zeros(3), np.zeros(4))


# --- dispatch --------------------------------------------------------------------------------

def _spy(monkeypatch, module, names, calls=None):
    """Replace module.<name> for each name by a stub that records its name in ``calls``."""
    calls = [] if calls is None else calls
    for name in names:
        monkeypatch.setattr(module, name, lambda *a, _n=name, **k: calls.append(_n) or _n)
    return calls


def test_dispatch_honours_minigan_kernels(monkeypatch):
    """numba for arrays worth it, the reference for tiny ones and under MINIGAN_KERNELS=numpy."""
    monkeypatch.delenv("MINIGAN_KERNELS", raising=False)     # the test sets it itself
    big = np.random.default_rng(8).standard_normal((8, 4, 16, 16)).astype(np.float32)
    tiny = big[:1, :1, :3, :3].copy()
    calls = _spy(monkeypatch, P, ["max_pool2d_numba", "max_pool2d_backward_numba"])
    _spy(monkeypatch, B, ["channel_mean_var_numba", "channel_sums_numba"], calls)
    _spy(monkeypatch, A, ["leaky_relu_numba", "leaky_relu_backward_numba",
                          "tanh_backward_numba"], calls)

    def run(x):
        out = [P.max_pool2d(x, 2), B.channel_mean_var(x), B.channel_sums(x, x),
               A.leaky_relu(x, 0.2), A.leaky_relu_backward(x, x, 0.2), A.tanh_backward(x, x)]
        y = x[:, :, 1::2, 1::2]                                # (N, C, H // 2, W // 2)
        out.append(P.max_pool2d_backward(y, np.zeros(y.shape, np.int64), x.shape, 2))
        return out

    run(tiny)
    assert calls == []                                     # tiny: the reference
    if HAVE_NUMBA:
        for m in (P, B, A):
            assert m.implementation(big) == "numba"
        assert run(big)[0] == "max_pool2d_numba" and len(calls) == 7
    monkeypatch.setenv("MINIGAN_KERNELS", "numpy")
    n = len(calls)
    out = run(big)
    assert len(calls) == n                                 # no numba kernel called
    for m in (P, B, A):
        assert m.implementation(big) == "numpy"
    np.testing.assert_array_equal(out[0][0], P.max_pool2d_reference(big, 2)[0])


def test_avg_pool_dispatch_uses_the_reference_on_cpu(monkeypatch):
    calls = _spy(monkeypatch, P, ["avg_pool2d_numba", "avg_pool2d_backward_numba"])
    x = np.random.default_rng(9).standard_normal((8, 4, 16, 16))
    np.testing.assert_array_equal(P.avg_pool2d(x, 3, 2, 1), P.avg_pool2d_reference(x, 3, 2, 1))
    dy = np.ones((8, 4, 8, 8))
    np.testing.assert_array_equal(P.avg_pool2d_backward(dy, x.shape, 3, 2, 1),
                                  P.avg_pool2d_backward_reference(dy, x.shape, 3, 2, 1))
    assert calls == []


def test_fallback_without_numba_warns_once(monkeypatch):
    """numba unimportable: one RuntimeWarning per kernel module, then the reference."""
    monkeypatch.delenv("MINIGAN_KERNELS", raising=False)
    monkeypatch.setitem(sys.modules, "numba", None)
    x = np.random.default_rng(10).standard_normal((4, 3, 8, 8))
    for module, numba_name, call in [
            (P, "_pool_numba", lambda: P.max_pool2d(x, 2)[0]),
            (B, "_batchnorm_numba", lambda: B.channel_mean_var(x)[1]),
            (A, "_activation_numba", lambda: A.leaky_relu(x, 0.2))]:
        monkeypatch.setitem(sys.modules, f"minigan.kernels.{numba_name}", None)
        monkeypatch.setattr(module, "_numba", {"module": None, "tried": False})
        with pytest.warns(RuntimeWarning, match="pip install numba"):
            first = call()
        with warnings.catch_warnings():
            warnings.simplefilter("error")                 # no second warning
            assert module.implementation(x) == "numpy"
            np.testing.assert_array_equal(call(), first)
    with pytest.raises(RuntimeError, match="pip install numba"):
        P.max_pool2d_numba(x, 2)
    np.testing.assert_array_equal(P.max_pool2d(x, 2)[0], P.max_pool2d_reference(x, 2)[0])


def test_errors():
    with pytest.raises(ValueError, match="does not fit"):
        P.max_pool2d(np.zeros((1, 1, 2, 2)), 3)
    dy, arg = np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int64)
    for backward in (P.max_pool2d_backward_reference, P.max_pool2d_backward_numba):
        if backward is P.max_pool2d_backward_numba and not HAVE_NUMBA:  # pragma: no cover
            continue
        with pytest.raises(ValueError, match="expected dy of shape"):
            backward(dy, arg, (1, 1, 6, 6), 2)
    with pytest.raises(ValueError, match="expected dy of shape"):
        P.avg_pool2d_backward(dy, (1, 1, 6, 6), 2)
    with pytest.raises(ValueError, match="expected \\(N, C, ...\\)"):
        B.channel_mean_var(np.zeros(5))


def test_package_exports():
    k = importlib.import_module("minigan.kernels")
    for name in ("max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
                 "channel_mean_var", "channel_sums", "leaky_relu", "leaky_relu_backward",
                 "tanh", "tanh_backward"):
        assert callable(getattr(k, name))


# --- CuPy (needs a GPU) ------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("dtype", DTYPES)
def test_cupy_pool_matches_reference(dtype):  # pragma: no cover - needs a GPU
    import cupy
    for shape, k, s, p in POOL_CONFIGS:
        x = with_ties(shape, dtype, 11)
        y, arg = P.max_pool2d(cupy.asarray(x), k, s, p)
        assert P.implementation(y) == "cupy" and y.dtype == dtype
        y_ref, arg_ref = P.max_pool2d_reference(x, k, s, p)
        np.testing.assert_array_equal(cupy.asnumpy(y), y_ref)
        np.testing.assert_array_equal(cupy.asnumpy(arg), arg_ref)
        dy = np.random.default_rng(11).standard_normal(y_ref.shape).astype(dtype)
        tol = 1e-6 if dtype == np.float32 else 1e-13
        dx = P.max_pool2d_backward(cupy.asarray(dy), arg, shape, k, s, p)
        np.testing.assert_allclose(cupy.asnumpy(dx),
                                   P.max_pool2d_backward_reference(dy, arg_ref, shape, k, s, p),
                                   rtol=tol, atol=tol)
        x = np.random.default_rng(12).standard_normal(shape).astype(dtype)
        np.testing.assert_allclose(cupy.asnumpy(P.avg_pool2d(cupy.asarray(x), k, s, p)),
                                   P.avg_pool2d_reference(x, k, s, p), rtol=tol, atol=tol)
        np.testing.assert_allclose(
            cupy.asnumpy(P.avg_pool2d_backward(cupy.asarray(dy), shape, k, s, p)),
            P.avg_pool2d_backward_reference(dy, shape, k, s, p), rtol=tol, atol=tol)
    x = np.full((1, 1, 2, 2), np.nan, dtype)
    x[0, 0, 0, 0] = 1
    y, arg = P.max_pool2d(cupy.asarray(x), 2)
    assert np.isnan(float(y[0, 0, 0, 0])) and int(arg[0, 0, 0, 0]) == 1   # the first NaN


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("dtype", DTYPES)
def test_cupy_batchnorm_matches_reference(dtype):  # pragma: no cover - needs a GPU
    import cupy
    tol = 2e-6 if dtype == np.float32 else 1e-12
    for shape in BN_SHAPES + [(3, 700, 2, 2)]:
        rng = np.random.default_rng(13)
        x = (rng.standard_normal(shape) * 2 + 3).astype(dtype)
        dy = rng.standard_normal(shape).astype(dtype)
        mean, var = B.channel_mean_var(cupy.asarray(x))
        assert B.implementation(mean) == "cupy" and mean.dtype == dtype
        mean_ref, var_ref = B.channel_mean_var_reference(x)
        np.testing.assert_allclose(cupy.asnumpy(mean), mean_ref, rtol=tol, atol=tol)
        np.testing.assert_allclose(cupy.asnumpy(var), var_ref, rtol=tol, atol=tol)
        s1, s2 = B.channel_sums(cupy.asarray(dy), cupy.asarray(x))
        r1, r2 = B.channel_sums_reference(dy.astype(np.float64), x.astype(np.float64))
        scale = np.abs(dy).sum() * (1 + np.abs(x).max())
        np.testing.assert_allclose(cupy.asnumpy(s1), r1, rtol=tol, atol=tol * scale)
        np.testing.assert_allclose(cupy.asnumpy(s2), r2, rtol=tol, atol=tol * scale)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("dtype", DTYPES)
def test_cupy_activations_match_reference(dtype):  # pragma: no cover - needs a GPU
    import cupy
    rng = np.random.default_rng(14)
    x = rng.standard_normal((64, 16, 4, 4)).astype(dtype)
    x.flat[:3] = 0
    dy = rng.standard_normal(x.shape).astype(dtype)
    xg, dyg = cupy.asarray(x), cupy.asarray(dy)
    for a in (0.2, -0.3, 1.5):
        y = A.leaky_relu(xg, a)
        assert A.implementation(y) == "cupy" and y.dtype == dtype
        np.testing.assert_array_equal(cupy.asnumpy(y), A.leaky_relu_reference(x, a))
        np.testing.assert_array_equal(cupy.asnumpy(A.leaky_relu_backward(dyg, xg, a)),
                                      A.leaky_relu_backward_reference(dy, x, a))
    y = np.tanh(x)
    tol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(cupy.asnumpy(A.tanh_backward(dyg, cupy.asarray(y))),
                               A.tanh_backward_reference(dy, y), rtol=tol, atol=tol)
    np.testing.assert_allclose(cupy.asnumpy(A.tanh(xg)), np.tanh(x), rtol=tol, atol=tol)
