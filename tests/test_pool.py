"""MaxPool2d, AvgPool2d, Upsample, Flatten, Reshape: forward against direct loops, backward
against finite differences (overlapping windows included), ties as torch, errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minigan.gradcheck import check_layer
from minigan.nn.pool import AvgPool2d, MaxPool2d, Upsample
from minigan.nn.reshape import Flatten, Reshape

TOL = 1e-6


def pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def pool_naive(x, kernel, stride, padding, kind):
    """Loops over windows. Max: padding is −∞ and the gradient route is the first maximum in
    row-major order (torch's rule), returned as a (N, C, OH, OW, 2) array of (h, w) positions."""
    (KH, KW), (sh, sw), (ph, pw) = pair(kernel), pair(stride), pair(padding)
    N, C, H, W = x.shape
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    OH, OW = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    y = np.zeros((N, C, OH, OW))
    where = np.zeros((N, C, OH, OW, 2), dtype=int)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    win = xp[n, c, oh * sh: oh * sh + KH, ow * sw: ow * sw + KW]
                    if kind == "max":
                        best = None
                        for i in range(KH):
                            for j in range(KW):
                                if best is None or win[i, j] > win[best]:   # strictly: first wins
                                    best = (i, j)
                        y[n, c, oh, ow] = win[best]
                        where[n, c, oh, ow] = (oh * sh + best[0] - ph, ow * sw + best[1] - pw)
                    else:
                        y[n, c, oh, ow] = win.sum() / (KH * KW)       # count_include_pad
    return y, where


# (shape, kernel, stride, padding)
POOL_CONFIGS = [
    ((2, 2, 4, 6), 2, None, 0),            # the classic: 2×2, stride 2
    ((2, 2, 5, 6), 3, 1, 0),               # overlapping, stride 1
    ((1, 2, 7, 6), 3, 2, 0),               # overlapping, stride 2, batch 1
    ((2, 1, 7, 7), 3, 2, 1),               # overlapping with padding
    ((2, 2, 6, 7), (2, 3), (1, 2), (1, 1)),  # non-square
    ((1, 3, 7, 5), 3, 3, 0),               # odd size, pixels left over
    ((2, 1, 6, 6), (4, 5), (2, 1), (2, 2)),  # padding 2
]


@pytest.mark.parametrize("cls, kind", [(MaxPool2d, "max"), (AvgPool2d, "avg")])
@pytest.mark.parametrize("cfg", POOL_CONFIGS)
def test_pool_forward_and_gradcheck(cfg, cls, kind):
    shape, k, s, p = cfg
    pool = cls(k, s, p)
    x = np.random.default_rng(0).standard_normal(shape)
    y, _ = pool.forward(x)
    expected, _ = pool_naive(x, k, s if s is not None else k, p, kind)
    np.testing.assert_allclose(y, expected, rtol=1e-13, atol=1e-13)
    assert max(check_layer(pool, x, seed=1).values()) < TOL


@pytest.mark.parametrize("cfg", POOL_CONFIGS)
def test_maxpool_ties_go_to_the_first_maximum(cfg):
    """Integer-valued inputs make ties everywhere (a constant image is all ties); each
    window's gradient goes to its first maximum in row-major order, as torch."""
    shape, k, s, p = cfg
    s = s if s is not None else k
    rng = np.random.default_rng(2)
    for x in (np.zeros(shape), rng.integers(0, 2, shape).astype(np.float64)):
        pool = MaxPool2d(k, s, p)
        y, cache = pool.forward(x)
        dy = rng.standard_normal(y.shape)
        dx = pool.backward(dy, cache)
        _, where = pool_naive(x, k, s, p, "max")
        expected = np.zeros_like(x)
        for n, c, oh, ow in np.ndindex(y.shape):
            h, w = where[n, c, oh, ow]
            expected[n, c, h, w] += dy[n, c, oh, ow]
        np.testing.assert_allclose(dx, expected, rtol=1e-13, atol=1e-13)


@settings(max_examples=15, deadline=None)
@given(N=st.integers(1, 2), C=st.integers(1, 2), H=st.integers(2, 8), W=st.integers(2, 8),
       k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2), seed=st.integers(0, 99))
def test_property_maxpool_routes_all_of_dy(N, C, H, W, k, s, p, seed):
    """Each window sends its whole gradient to one real pixel (never to the padding), so
    Σ dx = Σ dy, and the output is the max of the naive windows."""
    if p > k // 2 or H + 2 * p < k or W + 2 * p < k:
        return
    x = np.random.default_rng(seed).standard_normal((N, C, H, W))
    pool = MaxPool2d(k, s, p)
    y, cache = pool.forward(x)
    np.testing.assert_array_equal(y, pool_naive(x, k, s, p, "max")[0])
    dy = np.random.default_rng(seed + 1).standard_normal(y.shape)
    np.testing.assert_allclose(pool.backward(dy, cache).sum(), dy.sum(), rtol=1e-10, atol=1e-10)


def test_pool_defaults_and_errors():
    assert MaxPool2d(2).stride == (2, 2) and AvgPool2d(3, 1).stride == (1, 1)
    with pytest.raises(ValueError, match="at most half"):
        MaxPool2d(3, 1, 2)
    with pytest.raises(ValueError, match="smaller than the window"):
        MaxPool2d(3).forward(np.zeros((1, 1, 2, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="4 dimensions"):
        AvgPool2d(2).forward(np.zeros((2, 4, 4), dtype=np.float32))
    y, _ = MaxPool2d(2).forward(np.zeros((1, 1, 4, 4), dtype=np.float32))
    assert y.dtype == np.float32


# --- upsample, flatten, reshape -------------------------------------------------------------

@pytest.mark.parametrize("factor, shape", [(2, (2, 3, 3, 4)), ((3, 2), (1, 2, 2, 3)),
                                           (1, (1, 1, 2, 2))])
def test_upsample_nearest(factor, shape):
    up = Upsample(factor)
    sh, sw = pair(factor)
    x = np.random.default_rng(3).standard_normal(shape)
    y, _ = up.forward(x)
    np.testing.assert_array_equal(y, np.repeat(np.repeat(x, sh, axis=2), sw, axis=3))
    assert max(check_layer(up, x, seed=4).values()) < TOL


def test_upsample_errors():
    assert Upsample(2.0).scale_factor == (2, 2)
    with pytest.raises(ValueError, match="nearest"):
        Upsample(2, mode="bilinear")
    with pytest.raises(ValueError, match="positive integer"):
        Upsample(1.5)


def test_flatten_and_reshape():
    x = np.random.default_rng(5).standard_normal((2, 3, 4, 5))
    for layer, out_shape in ((Flatten(), (2, 60)), (Flatten(2), (2, 3, 20)),
                             (Flatten(1, 2), (2, 12, 5)), (Reshape(12, 5), (2, 12, 5)),
                             (Reshape((3, -1)), (2, 3, 20)), (Reshape(-1), (2, 60))):
        y, cache = layer.forward(x)
        assert y.shape == out_shape, layer
        assert max(check_layer(layer, x).values()) < TOL
        np.testing.assert_array_equal(layer.backward(y, cache), x)
    with pytest.raises(ValueError, match="cannot reshape"):
        Reshape(7, -1).forward(x)
    with pytest.raises(ValueError, match="cannot reshape"):
        Reshape(3, 4).forward(x)
    with pytest.raises(ValueError, match="batch dimension"):
        Flatten(0).forward(x)
    with pytest.raises(ValueError, match="at most one -1"):
        Reshape(-1, -1)
