"""im2col / col2im: the reference against the definition, col2im as the adjoint of im2col,
the numba kernels held to the reference, the dispatch and its fallback without numba."""
import importlib
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minigan import backend
from minigan.kernels import (col2im, col2im_numba, col2im_reference, conv_output_size, im2col,
                             im2col_numba, im2col_reference, implementation)

# The module (the package attribute ``minigan.kernels.im2col`` is the dispatch function).
k = importlib.import_module("minigan.kernels.im2col")

try:
    import numba  # noqa: F401
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False

# (x shape, KH, KW, stride, padding, dilation)
CONFIGS = [
    ((2, 3, 5, 5), 3, 3, 1, 0, 1),
    ((1, 2, 6, 7), 3, 3, 2, 1, 1),                   # batch 1, odd
    ((2, 1, 7, 6), 2, 3, (1, 2), (2, 1), 1),         # non-square
    ((2, 3, 7, 7), 3, 3, 3, 2, 1),                   # stride 3, padding 2
    ((1, 2, 8, 7), 3, 3, 1, 1, 2),                   # dilation 2
    ((2, 2, 9, 8), 3, 2, 2, (0, 2), (2, 1)),
    ((3, 2, 4, 4), 4, 4, 1, 0, 1),                   # a single window
    ((2, 2, 5, 6), 1, 1, 1, 0, 1),                   # 1×1
    ((2, 2, 5, 6), 2, 2, 3, 0, 1),                   # stride > kernel: skipped pixels
    ((1, 1, 1, 1), 3, 3, 1, 2, 2),                   # a 1×1 image, mostly padding
    # rows of >= 16 outputs: the numba im2col's slice-copy branch (the ones above: its loops)
    ((2, 2, 6, 37), 3, 3, 1, 1, 1),
    ((1, 2, 9, 40), 4, 4, 2, 1, 1),                  # stride 2, as pix2pix's convs
    ((1, 1, 5, 40), 3, 5, (1, 2), 2, (1, 2)),        # padding 2, dilation 2 along the rows
]


def im2col_definition(x, KH, KW, stride, padding, dilation):
    """cols[(c, i, j), (n, oh, ow)] = x_pad[n, c, oh·s + i·d, ow·s + j·d], entry by entry."""
    (sh, sw), (ph, pw), (dh, dw) = (k._pair(stride), k._pair(padding), k._pair(dilation))
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, KH, sh, ph, dh), conv_output_size(W, KW, sw, pw, dw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.zeros((C * KH * KW, N * OH * OW), dtype=x.dtype)
    for c in range(C):
        for i in range(KH):
            for j in range(KW):
                for n in range(N):
                    for oh in range(OH):
                        for ow in range(OW):
                            cols[(c * KH + i) * KW + j, (n * OH + oh) * OW + ow] = \
                                xp[n, c, oh * sh + i * dh, ow * sw + j * dw]
    return cols


@pytest.mark.parametrize("cfg", CONFIGS)
def test_reference_matches_definition_and_is_adjoint(cfg):
    shape, KH, KW, s, p, d = cfg
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    cols = im2col_reference(x, KH, KW, s, p, d)
    np.testing.assert_array_equal(cols, im2col_definition(x, KH, KW, s, p, d))
    c = rng.standard_normal(cols.shape)
    back = col2im_reference(c, shape, KH, KW, s, p, d)
    assert back.shape == shape
    # ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩: col2im is the transpose of im2col.
    np.testing.assert_allclose((cols * c).sum(), (x * back).sum(), rtol=1e-12)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_numba_matches_reference(cfg, dtype):
    shape, KH, KW, s, p, d = cfg
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    cols = im2col_numba(x, KH, KW, s, p, d)
    assert cols.dtype == dtype
    np.testing.assert_array_equal(cols, im2col_reference(x, KH, KW, s, p, d))
    c = rng.standard_normal(cols.shape).astype(dtype)
    back = col2im_numba(c, shape, KH, KW, s, p, d)
    assert back.dtype == dtype and back.shape == shape and back.flags.c_contiguous
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(back, col2im_reference(c, shape, KH, KW, s, p, d),
                               rtol=tol, atol=tol)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 3), C=st.integers(1, 3), H=st.integers(1, 10), W=st.integers(1, 10),
       KH=st.integers(1, 4), KW=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       ph=st.integers(0, 2), pw=st.integers(0, 2), dh=st.integers(1, 2), dw=st.integers(1, 2),
       seed=st.integers(0, 999))
def test_property_numba_equals_reference(N, C, H, W, KH, KW, sh, sw, ph, pw, dh, dw, seed):
    OH, OW = conv_output_size(H, KH, sh, ph, dh), conv_output_size(W, KW, sw, pw, dw)
    args = (KH, KW, (sh, sw), (ph, pw), (dh, dw))
    if OH <= 0 or OW <= 0:
        with pytest.raises(ValueError, match="fits"):
            im2col_numba(np.zeros((N, C, H, W)), *args)
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W))
    cols = im2col_numba(x, *args)
    np.testing.assert_array_equal(cols, im2col_reference(x, *args))
    c = rng.standard_normal(cols.shape)
    back = col2im_numba(c, x.shape, *args)
    np.testing.assert_allclose(back, col2im_reference(c, x.shape, *args), rtol=1e-13,
                               atol=1e-13)
    np.testing.assert_allclose((cols * c).sum(), (x * back).sum(), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("fn", [im2col_numba, im2col_reference])
def test_out_size_takes_the_first_windows(fn):
    """out_size=(OH, OW) gives the first OH×OW windows (used by ConvTranspose2d)."""
    if fn is im2col_numba and not HAVE_NUMBA:  # pragma: no cover
        pytest.skip("numba not installed")
    x = np.random.default_rng(2).standard_normal((2, 2, 7, 6))
    full = im2col_reference(x, 3, 2, 1, 1, 1).reshape(2 * 3 * 2, 2, 7, 7)
    part = fn(x, 3, 2, 1, 1, 1, out_size=(5, 4)).reshape(2 * 3 * 2, 2, 5, 4)
    np.testing.assert_array_equal(part, full[:, :, :5, :4])
    with pytest.raises(ValueError, match="fits"):
        fn(x, 3, 2, 1, 1, 1, out_size=(8, 4))


def test_errors():
    x = np.zeros((1, 2, 4, 4))
    with pytest.raises(ValueError, match="fits"):
        im2col(x, 5, 5)
    with pytest.raises(ValueError, match="cols of shape"):
        col2im(np.zeros((2 * 9, 5)), x.shape, 3, 3)
    with pytest.raises(ValueError, match="cols of shape"):
        col2im_reference(np.zeros((2 * 9, 5)), x.shape, 3, 3)
    if HAVE_NUMBA:
        with pytest.raises(ValueError, match="cols of shape"):
            col2im_numba(np.zeros((2 * 9, 5)), x.shape, 3, 3)


def test_dispatch(monkeypatch):
    """numba for arrays worth the threads, the reference for tiny ones and on request."""
    monkeypatch.delenv("MINIGAN_KERNELS", raising=False)     # the test sets it itself
    small, large = np.zeros((1, 1, 3, 3)), np.zeros((4, 8, 32, 32), dtype=np.float32)
    assert implementation(small) == ("numba" if HAVE_NUMBA else "numpy")
    calls = []
    monkeypatch.setattr(k, "im2col_numba", lambda *a, **kw: calls.append("im2col") or "numba")
    monkeypatch.setattr(k, "col2im_numba", lambda *a, **kw: calls.append("col2im") or "numba")
    assert im2col(small, 3, 3).shape == (9, 1)
    assert col2im(np.zeros((9, 1)), small.shape, 3, 3).shape == small.shape
    assert calls == []
    if HAVE_NUMBA:
        assert im2col(large, 3, 3) == "numba"
        assert col2im(np.zeros((8 * 9, 4 * 30 * 30), np.float32), large.shape, 3, 3) == "numba"
        assert calls == ["im2col", "col2im"]
    monkeypatch.setenv("MINIGAN_KERNELS", "numpy")
    assert implementation(large) == "numpy"
    assert im2col(large, 3, 3).shape == (8 * 9, 4 * 30 * 30)
    assert len(calls) == (2 if HAVE_NUMBA else 0)


def test_fallback_without_numba_warns_once(monkeypatch):
    """With numba unimportable: one RuntimeWarning saying what to install, then the reference."""
    monkeypatch.delenv("MINIGAN_KERNELS", raising=False)
    monkeypatch.setitem(sys.modules, "numba", None)                 # import numba -> ImportError
    monkeypatch.setitem(sys.modules, "minigan.kernels._im2col_numba", None)
    monkeypatch.delattr(sys.modules["minigan.kernels"], "_im2col_numba", raising=False)
    monkeypatch.setattr(k, "_numba", {"module": None, "tried": False})
    x = np.random.default_rng(3).standard_normal((2, 2, 5, 5))
    with pytest.warns(RuntimeWarning, match="pip install numba"):
        cols = im2col(x, 3, 3, 2, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                              # no second warning
        assert implementation(x) == "numpy"
        back = col2im(cols, x.shape, 3, 3, 2, 1)
        with pytest.raises(RuntimeError, match="pip install numba"):
            im2col_numba(x, 3, 3)
    np.testing.assert_array_equal(cols, im2col_reference(x, 3, 3, 2, 1))
    np.testing.assert_array_equal(back, col2im_reference(cols, x.shape, 3, 3, 2, 1))


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and a CUDA GPU")
def test_cupy_matches_numpy():  # pragma: no cover - needs a GPU
    import cupy
    for shape, KH, KW, s, p, d in CONFIGS:
        x = np.random.default_rng(4).standard_normal(shape)
        cols = im2col(cupy.asarray(x), KH, KW, s, p, d)
        assert implementation(cols) == "cupy"
        np.testing.assert_array_equal(cupy.asnumpy(cols), im2col_reference(x, KH, KW, s, p, d))
        back = col2im(cols, shape, KH, KW, s, p, d)
        np.testing.assert_allclose(cupy.asnumpy(back),
                                   col2im_reference(cupy.asnumpy(cols), shape, KH, KW, s, p, d),
                                   rtol=1e-12, atol=1e-12)
