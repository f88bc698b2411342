"""BatchNorm1d/2d and LayerNorm: statistics and running estimates as torch, backward passes
against finite differences (random non-trivial γ, β and upstream gradients), train/eval."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minigan.gradcheck import check_layer
from minigan.nn.norm import BatchNorm1d, BatchNorm2d, LayerNorm

TOL = 1e-6


def randomize(layer, seed=0):
    layer.to("float64")
    rng = np.random.default_rng(seed)
    for p in layer.params.values():
        p[...] = rng.standard_normal(p.shape) + 0.5
    return layer


def channel_axes(x):
    return (0,) + tuple(range(2, x.ndim))


BN_CASES = [
    (BatchNorm1d, (5, 3)),
    (BatchNorm1d, (4, 3, 5)),
    (BatchNorm1d, (1, 3, 6)),        # batch 1: statistics over L
    (BatchNorm2d, (3, 2, 3, 4)),
    (BatchNorm2d, (1, 3, 3, 3)),     # batch 1: statistics over H·W
]


@pytest.mark.parametrize("cls, shape", BN_CASES)
def test_batchnorm_forward_and_running_statistics(cls, shape):
    C = shape[1]
    bn = randomize(cls(C))
    rng = np.random.default_rng(1)
    x = 3 * rng.standard_normal(shape) + rng.standard_normal((1, C) + (1,) * (len(shape) - 2))
    y, _ = bn.forward(x)
    axes, M = channel_axes(x), x.size // C
    bshape = (1, C) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    x_hat = (x - mean.reshape(bshape)) / np.sqrt(var.reshape(bshape) + 1e-5)
    expected = x_hat * bn.params["weight"].reshape(bshape) + bn.params["bias"].reshape(bshape)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    # torch: momentum 0.1, and the UNBIASED variance in the running estimate
    np.testing.assert_allclose(bn.running_mean, 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * var * M / (M - 1), rtol=1e-12)
    # eval: the running estimates, and no update
    bn.eval()
    before = bn.running_mean.copy()
    y_eval, _ = bn.forward(x)
    np.testing.assert_array_equal(bn.running_mean, before)
    expected = ((x - bn.running_mean.reshape(bshape)) / np.sqrt(bn.running_var.reshape(bshape)
                                                               + 1e-5)
                * bn.params["weight"].reshape(bshape) + bn.params["bias"].reshape(bshape))
    np.testing.assert_allclose(y_eval, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("cls, shape", BN_CASES)
def test_batchnorm_gradcheck(cls, shape, mode):
    bn = randomize(cls(shape[1]), seed=2)
    rng = np.random.default_rng(3)
    x = 2 * rng.standard_normal(shape) + 1
    if mode == "eval":                       # non-trivial running statistics first
        bn.forward(x + rng.standard_normal(shape))
        bn.eval()
    errors = check_layer(bn, x, seed=4)
    assert set(errors) == {"x", "weight", "bias"}
    assert max(errors.values()) < TOL, errors


def test_batchnorm_without_affine():
    bn = BatchNorm2d(3, affine=False).to("float64")
    assert bn.params == {}
    x = np.random.default_rng(5).standard_normal((2, 3, 3, 3))
    assert check_layer(bn, x)["x"] < TOL
    y, _ = bn.forward(x)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)


def test_batchnorm_all_ones_upstream_gradient_gives_zero_dx():
    """Why gradchecks use a random dy: with dy = 1 the input gradient is exactly zero."""
    bn = randomize(BatchNorm1d(4))
    x = np.random.default_rng(6).standard_normal((6, 4))
    y, cache = bn.forward(x)
    np.testing.assert_allclose(bn.backward(np.ones_like(y), cache), 0, atol=1e-12)


def test_batchnorm_mode_is_taken_from_the_forward_call():
    """A cache from a training-mode forward is differentiated as training, even if the
    layer was switched to eval before the backward pass."""
    bn = randomize(BatchNorm2d(2))
    rng = np.random.default_rng(7)
    x, dy = rng.standard_normal((3, 2, 2, 2)), rng.standard_normal((3, 2, 2, 2))
    _, cache = bn.forward(x)
    dx_train = bn.backward(dy, cache)
    bn.eval()
    np.testing.assert_allclose(bn.backward(dy, cache), dx_train)


def test_batchnorm_init_buffers_checkpoint_and_errors():
    bn = BatchNorm2d(4)
    assert bn.params["weight"].dtype == np.float32
    np.testing.assert_array_equal(bn.params["weight"], 1)
    np.testing.assert_array_equal(bn.params["bias"], 0)
    np.testing.assert_array_equal(bn.running_mean, 0)
    np.testing.assert_array_equal(bn.running_var, 1)
    x = np.random.default_rng(8).standard_normal((4, 4, 3, 3)).astype(np.float32)
    y, _ = bn.forward(x)
    assert y.dtype == np.float32
    state = bn.state_dict()
    assert set(state) == {"weight", "bias", "running_mean", "running_var"}
    other = BatchNorm2d(4)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.running_var, bn.running_var)
    bn.to("float64")
    assert bn.running_mean.dtype == np.float64
    with pytest.raises(ValueError, match="4 channels"):
        bn.forward(np.zeros((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm1d(3).forward(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="dimensions"):
        BatchNorm1d(3).forward(np.zeros((2, 3, 4, 4), dtype=np.float32))
    y1, _ = BatchNorm1d(3).eval().forward(np.ones((1, 3), dtype=np.float32))   # fine in eval
    assert y1.shape == (1, 3)


@settings(max_examples=10, deadline=None)
@given(N=st.integers(2, 4), C=st.integers(1, 3), L=st.integers(1, 4),
       scale=st.floats(0.5, 4.0), shift=st.floats(-3.0, 3.0), seed=st.integers(0, 99))
def test_property_batchnorm_ignores_per_channel_affine_input_changes(N, C, L, scale, shift, seed):
    """In training mode the output does not change when each channel of the input is scaled
    by a positive number and shifted (exactly so with eps = 0)."""
    bn = randomize(BatchNorm1d(C, eps=0.0), seed)
    x = np.random.default_rng(seed).standard_normal((N, C, L))
    np.testing.assert_allclose(bn.forward(x)[0], bn.forward(scale * x + shift)[0],
                               rtol=1e-9, atol=1e-9)


# --- layer norm ----------------------------------------------------------------------------

@pytest.mark.parametrize("normalized_shape, shape", [
    (5, (3, 5)),
    (4, (2, 3, 4)),
    ((3, 4), (2, 3, 4)),
    ((2, 3, 3), (2, 2, 3, 3)),
    ((3,), (1, 3)),
])
def test_layernorm_forward_and_gradcheck(normalized_shape, shape):
    ln = randomize(LayerNorm(normalized_shape), seed=9)
    rng = np.random.default_rng(10)
    x = 2 * rng.standard_normal(shape) + 1
    y, _ = ln.forward(x)
    k = 1 if isinstance(normalized_shape, int) else len(normalized_shape)
    axes = tuple(range(x.ndim - k, x.ndim))
    x_hat = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True)
                                                              + 1e-5)
    np.testing.assert_allclose(y, x_hat * ln.params["weight"] + ln.params["bias"], rtol=1e-12,
                               atol=1e-12)
    errors = check_layer(ln, x, seed=11)
    assert set(errors) == {"x", "weight", "bias"}
    assert max(errors.values()) < TOL, errors
    ln.eval()                                          # the same in eval mode
    np.testing.assert_array_equal(ln.forward(x)[0], y)


def test_layernorm_without_affine_and_errors():
    ln = LayerNorm(6, elementwise_affine=False).to("float64")
    x = np.random.default_rng(12).standard_normal((3, 6))
    assert check_layer(ln, x)["x"] < TOL
    assert LayerNorm((2, 3)).params["weight"].shape == (2, 3)
    with pytest.raises(ValueError, match=r"\(\.\.\., 2, 3\)"):
        LayerNorm((2, 3)).forward(np.zeros((4, 3, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="positive"):
        LayerNorm(0)
