"""Layers: finite-difference gradient checks, the layer contract, initialisation, bad input.

Gradient checks run in float64 with random (never all-ones) upstream gradients, non-zero
random biases, batch 1 and odd sizes, and inputs kept away from the kinks of ReLU-type
activations (|x| >= 0.05 by construction, far beyond the finite-difference step 1e-6).
"""
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minigan import backend
from minigan.gradcheck import check_layer
from minigan.nn import (Dropout, LeakyReLU, Linear, Module, ReLU, Sequential, Sigmoid, Tanh,
                        sigmoid)

TOL = 1e-6


# --- helpers -------------------------------------------------------------------------------
def away_from_zero(rng, shape, lo=0.05, hi=2.0):
    """Random values with |x| in [lo, hi] and random signs: no kink within reach of h."""
    return rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


def make_linear(rng, D, M, bias=True, dtype="float64"):
    layer = Linear(D, M, bias=bias, rng=rng, dtype=dtype)
    if bias:   # explicit, clearly non-zero biases: a zero bias hides bias bugs
        layer.params["bias"][...] = away_from_zero(rng, M, 0.2, 1.0)
    return layer


def expected_keys(layer):
    return {"x"} | {name for name, _, _ in layer.named_parameters()}


def assert_passes(report, layer):
    assert set(report) == expected_keys(layer)      # nothing silently skipped
    worst = max(report.values())
    assert worst < TOL, report


def assert_no_kinks(net, x, margin=1e-4):
    """Guard for composed nets: no ReLU-type input within `margin` of 0 (deterministic)."""
    _, caches = net.forward(x)
    for layer, cache in zip(net.layers, caches):
        if isinstance(layer, (ReLU, LeakyReLU)):
            assert np.abs(cache).min() > margin


# --- 1. gradient checks --------------------------------------------------------------------
LINEAR_CASES = [
    # (input shape, out_features, bias)
    ((1, 1), 1, True),
    ((1, 5), 3, True),          # batch 1
    ((7, 3), 1, False),
    ((5, 6), 5, True),
    ((3, 4), 4, False),         # square: a missing transpose would not change any shape
    ((2, 3, 5), 4, True),       # (N, T, D)
    ((1, 1, 4), 3, False),
    ((2, 3, 3, 3), 2, True),    # more leading dims
]


@pytest.mark.parametrize("shape,M,bias", LINEAR_CASES)
def test_linear_gradcheck(shape, M, bias, rng):
    layer = make_linear(rng, shape[-1], M, bias)
    x = rng.standard_normal(shape)
    dy = rng.standard_normal(shape[:-1] + (M,))
    assert_passes(check_layer(layer, x, dy), layer)


@pytest.mark.parametrize("seed", range(6))
def test_linear_gradcheck_random_configs(seed):
    rng = np.random.default_rng(seed)
    N = int(rng.choice([1, 2, 3, 5, 7]))
    D, M = (int(v) for v in rng.integers(1, 10, 2))
    lead = (N,) if rng.random() < 0.5 else (N, int(rng.integers(1, 4)))
    bias = bool(rng.random() < 0.7)
    layer = make_linear(rng, D, M, bias)
    x = rng.standard_normal(lead + (D,))
    dy = rng.standard_normal(lead + (M,))
    assert_passes(check_layer(layer, x, dy), layer)


@settings(max_examples=15, deadline=None, derandomize=True, database=None)
@given(lead=st.lists(st.integers(1, 3), min_size=1, max_size=3),
       D=st.integers(1, 6), M=st.integers(1, 6), bias=st.booleans(),
       seed=st.integers(0, 2**16))
def test_linear_gradcheck_property(lead, D, M, bias, seed):
    rng = np.random.default_rng(seed)
    layer = make_linear(rng, D, M, bias)
    x = rng.standard_normal(tuple(lead) + (D,))
    dy = rng.standard_normal(tuple(lead) + (M,))
    assert_passes(check_layer(layer, x, dy), layer)


ACT_SHAPES = [(1,), (1, 1), (3, 5), (2, 3, 4)]


@pytest.mark.parametrize("shape", ACT_SHAPES)
@pytest.mark.parametrize("make", [ReLU, lambda: LeakyReLU(), lambda: LeakyReLU(0.2),
                                  lambda: LeakyReLU(0.5), lambda: LeakyReLU(1.7)],
                         ids=["ReLU", "LeakyReLU-default", "LeakyReLU-0.2", "LeakyReLU-0.5",
                              "LeakyReLU-1.7"])
def test_relu_type_gradcheck(make, shape, rng):
    layer = make()
    x = away_from_zero(rng, shape)
    if x.size > 1:   # make sure both sides of the kink are exercised
        x.reshape(-1)[0], x.reshape(-1)[1] = abs(x.reshape(-1)[0]), -abs(x.reshape(-1)[1])
    assert_passes(check_layer(layer, x, rng.standard_normal(shape)), layer)


@pytest.mark.parametrize("shape", ACT_SHAPES)
@pytest.mark.parametrize("make", [Tanh, Sigmoid])
def test_smooth_activation_gradcheck(make, shape, rng):
    layer = make()
    x = 2 * rng.standard_normal(shape)
    assert_passes(check_layer(layer, x, rng.standard_normal(shape)), layer)


def _fixed_mask_forward(layer, seed=123):
    """A forward pass that re-seeds the dropout generator: the same mask on every call."""
    def fwd(x):
        layer.rng = np.random.default_rng(seed)
        return layer.forward(x)
    return fwd


@pytest.mark.parametrize("shape", [(6, 7), (2, 5, 4)])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_gradcheck_fixed_mask(p, shape, rng):
    layer = Dropout(p)
    fwd = _fixed_mask_forward(layer)
    x = away_from_zero(rng, shape)
    y, _ = fwd(x)
    dropped = y == 0
    assert dropped.any() and (~dropped).any()          # the mask really does something
    np.testing.assert_allclose(y[~dropped], x[~dropped] / (1 - p), rtol=1e-14)
    assert_passes(check_layer(layer, x, rng.standard_normal(shape), forward=fwd), layer)


def _mixed_net(rng, D=5, out=3):
    return Sequential(
        make_linear(rng, D, 7), LeakyReLU(0.2),
        make_linear(rng, 7, 6), Tanh(),
        Dropout(0.3),
        make_linear(rng, 6, 4, bias=False), ReLU(),
        make_linear(rng, 4, out), Sigmoid(),
    )


@pytest.mark.parametrize("seed,N", [(0, 1), (1, 5), (2, 8)])
def test_sequential_gradcheck(seed, N):
    rng = np.random.default_rng(seed)
    net = _mixed_net(rng)
    dropout = net[4]

    def forward(x):   # re-seed the dropout generator: the same mask on every call
        dropout.rng = np.random.default_rng(123)
        return net.forward(x)

    x = rng.standard_normal((N, 5))
    dropout.rng = np.random.default_rng(123)
    assert_no_kinks(net, x)
    report = check_layer(net, x, rng.standard_normal((N, 3)), forward=forward)
    assert_passes(report, net)
    assert set(report) == {"x", "0.weight", "0.bias", "2.weight", "2.bias", "5.weight",
                           "7.weight", "7.bias"}


def test_nested_sequential_gradcheck(rng):
    net = Sequential(Sequential(make_linear(rng, 4, 6), Tanh()),
                     Sequential(make_linear(rng, 6, 2), Sigmoid()))
    x = rng.standard_normal((3, 2, 4))
    report = check_layer(net, x, rng.standard_normal((3, 2, 2)))
    assert_passes(report, net)
    assert "0.0.weight" in report and "1.0.bias" in report


# --- 2. the layer contract -------------------------------------------------------------------
def _factories():
    return {
        "Linear": lambda rng: make_linear(rng, 4, 3),
        "Linear-nobias": lambda rng: make_linear(rng, 4, 3, bias=False),
        "Sequential": lambda rng: Sequential(make_linear(rng, 4, 6), Tanh(),
                                             make_linear(rng, 6, 3)),
    }


@pytest.mark.parametrize("name", list(_factories()))
def test_gradients_accumulate(name, rng):
    layer = _factories()[name](rng)
    x = rng.standard_normal((5, 4))
    y, cache = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    layer.zero_grad()
    dx1 = layer.backward(dy, cache)
    once = {k: g.copy() for k, g in layer.grads.items()}
    assert all(np.any(g != 0) for g in once.values())
    dx2 = layer.backward(dy, cache)
    np.testing.assert_array_equal(dx1, dx2)
    for k, g in layer.grads.items():
        np.testing.assert_allclose(g, 2 * once[k], rtol=1e-12, atol=0)


def test_linear_grads_match_explicit_formula_with_leading_dims(rng):
    layer = make_linear(rng, 5, 3)
    x = rng.standard_normal((2, 4, 5))
    dy = rng.standard_normal((2, 4, 3))
    y, cache = layer.forward(x)
    W, b = layer.params["weight"], layer.params["bias"]
    np.testing.assert_allclose(y, np.einsum("ntd,md->ntm", x, W) + b, rtol=1e-12)
    dx = layer.backward(dy, cache)
    np.testing.assert_allclose(dx, np.einsum("ntm,md->ntd", dy, W), rtol=1e-12)
    np.testing.assert_allclose(layer.grads["weight"], np.einsum("ntm,ntd->md", dy, x), rtol=1e-12)
    np.testing.assert_allclose(layer.grads["bias"], dy.sum(axis=(0, 1)), rtol=1e-12)


@pytest.mark.parametrize("name", list(_factories()))
def test_zero_grad_clears_in_place(name, rng):
    layer = _factories()[name](rng)
    before = dict(layer.grads)
    leaf_arrays = [g for _, _, g in layer.named_parameters()]
    y, cache = layer.forward(rng.standard_normal((3, 4)))
    layer.backward(rng.standard_normal(y.shape), cache)
    assert any(np.any(g != 0) for g in layer.grads.values())
    next(iter(layer.grads.values())).reshape(-1)[:2] = [np.nan, np.inf]   # after a blow-up
    layer.zero_grad()
    for k, g in layer.grads.items():
        assert g is before[k]
        assert not np.any(g)
    for g, (_, _, g2) in zip(leaf_arrays, layer.named_parameters()):
        assert g is g2


def _all_layers(rng):
    return {
        "Linear": make_linear(rng, 4, 4),
        "ReLU": ReLU(),
        "LeakyReLU": LeakyReLU(0.2),
        "Tanh": Tanh(),
        "Sigmoid": Sigmoid(),
        "Dropout-train": Dropout(0.5, rng=np.random.default_rng(1)),
        "Dropout-eval": Dropout(0.5).eval(),
        "Sequential": Sequential(make_linear(rng, 4, 4), ReLU(), Dropout(0.2), Sigmoid()),
    }


@pytest.mark.parametrize("name", list(_all_layers(np.random.default_rng(0))))
def test_never_writes_into_arguments(name, rng):
    layer = _all_layers(rng)[name]
    x = away_from_zero(rng, (3, 4))
    x_copy = x.copy()
    y, cache = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dy_copy = dy.copy()
    dx = layer.backward(dy, cache)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(dy, dy_copy)
    assert dx.shape == x.shape


@pytest.mark.parametrize("first", ["real", "fake"])
def test_two_forward_calls_keep_independent_caches(first, rng):
    def make(r):
        return Sequential(make_linear(r, 4, 5), LeakyReLU(0.2), make_linear(r, 5, 1))

    net = make(np.random.default_rng(1))
    twin = make(np.random.default_rng(2))
    twin.load_state_dict(net.state_dict())

    x_real, x_fake = away_from_zero(rng, (6, 4)), away_from_zero(rng, (3, 4))
    dy_real, dy_fake = rng.standard_normal((6, 1)), rng.standard_normal((3, 1))

    # reference: the twin, one forward + backward at a time
    twin.zero_grad()
    y, c = twin.forward(x_real)
    y_real_ref, dx_real_ref = y, twin.backward(dy_real, c)
    y, c = twin.forward(x_fake)
    dx_fake_ref = twin.backward(dy_fake, c)

    # the GAN pattern: D(real), D(fake), then both backward passes in either order
    net.zero_grad()
    y_real, c_real = net.forward(x_real)
    y_fake, c_fake = net.forward(x_fake)
    if first == "real":
        dx_real = net.backward(dy_real, c_real)
        dx_fake = net.backward(dy_fake, c_fake)
    else:
        dx_fake = net.backward(dy_fake, c_fake)
        dx_real = net.backward(dy_real, c_real)
    np.testing.assert_allclose(y_real, y_real_ref, rtol=1e-13)
    np.testing.assert_allclose(dx_real, dx_real_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx_fake, dx_fake_ref, rtol=1e-12, atol=1e-14)
    for k, g in net.grads.items():
        np.testing.assert_allclose(g, twin.grads[k], rtol=1e-12, atol=1e-14)


def test_linear_two_calls_sum_of_outer_products(rng):
    layer = make_linear(rng, 3, 2)
    x1, x2 = rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    d1, d2 = rng.standard_normal((4, 2)), rng.standard_normal((5, 2))
    _, c1 = layer.forward(x1)
    _, c2 = layer.forward(x2)
    layer.backward(d2, c2)
    layer.backward(d1, c1)
    np.testing.assert_allclose(layer.grads["weight"], d1.T @ x1 + d2.T @ x2, rtol=1e-12)
    np.testing.assert_allclose(layer.grads["bias"], d1.sum(0) + d2.sum(0), rtol=1e-12)


def test_sequential_params_and_grads_are_the_layers_arrays(rng):
    net = Sequential(make_linear(rng, 3, 4), ReLU(), make_linear(rng, 4, 2, bias=False),
                     Sequential(make_linear(rng, 2, 2)))
    assert list(net.params) == ["0.weight", "0.bias", "2.weight", "3.0.weight", "3.0.bias"]
    assert list(net.grads) == list(net.params)
    for name in net.params:
        *path, key = name.split(".")
        layer = net
        for i in path:
            layer = layer[int(i)]
        assert net.params[name] is layer.params[key]
        assert net.grads[name] is layer.grads[key]
    assert net.num_parameters() == 3 * 4 + 4 + 4 * 2 + 2 * 2 + 2
    # writing through the flat view changes the layer
    net.params["2.weight"][...] = 7.0
    assert np.all(net[2].params["weight"] == 7.0)
    with pytest.raises(AttributeError):
        net.params = {"w": np.zeros(1)}


def test_train_eval_propagate_and_dropout_identity_in_eval(rng):
    net = Sequential(make_linear(rng, 4, 4), Dropout(0.5),
                     Sequential(Dropout(0.5), Tanh()))
    modules = [net, net[0], net[1], net[2], net[2][0], net[2][1]]
    assert all(m.training for m in modules)
    assert net.eval() is net
    assert not any(m.training for m in modules)
    d = Dropout(0.5).eval()
    x = rng.standard_normal((8, 5))
    y, cache = d.forward(x)
    np.testing.assert_array_equal(y, x)
    dy = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(d.backward(dy, cache), dy)
    net.train()
    assert all(m.training for m in modules)
    y, _ = d.train().forward(x)
    assert np.any(y == 0)


def test_dropout_rate_and_scaling(rng):
    p = 0.3
    d = Dropout(p, rng=np.random.default_rng(5))
    y, _ = d.forward(np.ones(20000))
    assert abs(np.mean(y == 0) - p) < 0.015
    assert set(np.unique(y)) == {0.0, 1 / (1 - p)}
    assert abs(y.mean() - 1.0) < 0.02          # inverted dropout keeps the expectation
    assert Dropout(0.0).forward(np.ones(5))[1] is None


def test_dropout_uses_global_seed_when_no_rng_given(rng):
    x = rng.standard_normal((4, 6))
    backend.seed(11)
    a, _ = Dropout(0.5).forward(x)
    backend.seed(11)
    b, _ = Dropout(0.5).forward(x)
    np.testing.assert_array_equal(a, b)


def test_state_dict_round_trip(rng):
    net = _mixed_net(np.random.default_rng(1))
    other = _mixed_net(np.random.default_rng(2))
    state = net.state_dict()
    assert set(state) == set(net.params)
    arrays = dict(other.params)
    other.load_state_dict(state)
    for k, p in other.params.items():
        assert p is arrays[k]                       # loaded in place
        np.testing.assert_array_equal(p, net.params[k])
    net.eval(), other.eval()
    x = rng.standard_normal((4, 5))
    np.testing.assert_array_equal(net.forward(x)[0], other.forward(x)[0])
    # the state is a copy, not a view
    state["0.weight"][...] = 0
    assert np.any(net.params["0.weight"] != 0)


def test_state_dict_casts_to_the_parameters_dtype(rng):
    src = make_linear(rng, 3, 2)                                 # float64
    dst = make_linear(rng, 3, 2, dtype="float32")
    dst.load_state_dict(src.state_dict())
    assert dst.params["weight"].dtype == np.float32
    np.testing.assert_allclose(dst.params["weight"], src.params["weight"], rtol=1e-6)


def test_load_state_dict_errors(rng):
    net = Sequential(make_linear(rng, 3, 4), ReLU(), make_linear(rng, 4, 2))
    state = net.state_dict()
    missing = {k: v for k, v in state.items() if k != "2.bias"}
    with pytest.raises(KeyError, match=re.escape("'2.bias'")):
        net.load_state_dict(missing)
    wrong = dict(state, **{"0.weight": np.zeros((3, 4))})
    with pytest.raises(ValueError, match=r"'0\.weight'.*\(3, 4\).*\(4, 3\)"):
        net.load_state_dict(wrong)


class _WithBuffer(Module):
    """A toy module with a buffer (like batch norm's running mean)."""

    def __init__(self):
        super().__init__()
        self.params["weight"] = np.ones(3)
        self.grads["weight"] = np.zeros(3)
        self.running_mean = np.zeros(3)

    def _buffers(self):
        return {"running_mean": self.running_mean}


def test_state_dict_buffers_round_trip_and_shape_error():
    m = _WithBuffer()
    m.running_mean[...] = [1.0, 2.0, 3.0]
    state = m.state_dict()
    assert set(state) == {"weight", "running_mean"}
    m2 = _WithBuffer()
    buf = m2.running_mean
    m2.load_state_dict(state)
    assert m2.running_mean is buf
    np.testing.assert_array_equal(m2.running_mean, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"'running_mean'.*\(2,\).*\(3,\)"):
        m2.load_state_dict(dict(state, running_mean=np.zeros(2)))
    with pytest.raises(KeyError, match="running_mean"):
        m2.load_state_dict({"weight": np.ones(3)})


def test_to_converts_dtype_and_zeroes_grads(rng):
    layer = make_linear(rng, 3, 2, dtype="float32")
    w = layer.params["weight"].copy()
    layer.grads["weight"][...] = 1
    layer.to("float64")
    assert layer.dtype == np.float64
    assert all(g.dtype == np.float64 and not np.any(g) for g in layer.grads.values())
    np.testing.assert_array_equal(layer.params["weight"], w.astype(np.float64))


# --- 3. initialisation -----------------------------------------------------------------------
@pytest.mark.parametrize("fan_in,fan_out", [(100, 2500), (2500, 100)])
def test_linear_init_like_torch(fan_in, fan_out):
    layer = Linear(fan_in, fan_out, rng=np.random.default_rng(0))
    W, b = layer.params["weight"], layer.params["bias"]
    assert W.shape == (fan_out, fan_in) and b.shape == (fan_out,)
    assert W.dtype == np.float32 and b.dtype == np.float32
    bound = 1 / np.sqrt(fan_in)
    # within the bound, and filling it (so the bound is 1/sqrt(fan_in), not anything smaller)
    assert np.abs(W).max() <= bound and np.abs(W).max() > 0.99 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.9 * bound
    # uniform: std of U(-a, a) is a/sqrt(3), mean 0, equal mass in equal bins
    assert abs(W.std() - bound / np.sqrt(3)) < 0.01 * bound
    assert abs(W.mean()) < 0.01 * bound
    hist = np.histogram(W, bins=10, range=(-bound, bound))[0] / W.size
    assert np.all(np.abs(hist - 0.1) < 0.01)
    assert abs(b.std() - bound / np.sqrt(3)) < 0.15 * bound


def test_linear_init_small_and_reproducible():
    a = Linear(3, 2, rng=np.random.default_rng(4))
    b = Linear(3, 2, rng=np.random.default_rng(4))
    c = Linear(3, 2, rng=np.random.default_rng(5))
    assert np.all(np.abs(a.params["weight"]) <= 1 / np.sqrt(3))
    np.testing.assert_array_equal(a.params["weight"], b.params["weight"])
    assert not np.array_equal(a.params["weight"], c.params["weight"])
    backend.seed(9)
    d = Linear(3, 2)
    backend.seed(9)
    e = Linear(3, 2)
    np.testing.assert_array_equal(d.params["bias"], e.params["bias"])
    assert Linear(3, 2, dtype="float64").dtype == np.float64
    assert "bias" not in Linear(3, 2, bias=False).params


# --- 5. bad input ----------------------------------------------------------------------------
def test_linear_wrong_feature_size_names_layer_and_shapes():
    layer = Linear(3, 4)
    with pytest.raises(ValueError, match=re.escape("Linear(3, 4, bias=True)")) as err:
        layer.forward(np.zeros((2, 5), np.float32))
    assert "(N, 3)" in str(err.value) and "(2, 5)" in str(err.value)
    with pytest.raises(ValueError, match=r"Linear.*\(N, 3\).*\(2, 7, 5\)"):
        layer.forward(np.zeros((2, 7, 5), np.float32))
    with pytest.raises(ValueError, match=r"Linear.*\(N, 3\).*\(\)"):
        layer.forward(np.float32(1.0))


@pytest.mark.parametrize("layer", [Linear(3, 3), ReLU(), LeakyReLU(), Tanh(), Sigmoid(),
                                   Dropout(0.5)], ids=repr)
def test_integer_input_rejected(layer):
    x = np.ones((2, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=re.escape(repr(layer)) + ".*floating-point.*int64"):
        layer.forward(x)


@pytest.mark.parametrize("layer", [ReLU(), Linear(3, 3)], ids=repr)
def test_non_array_input_rejected(layer):
    with pytest.raises(ValueError, match=re.escape(repr(layer)) + ".*expected an array.*list"):
        layer.forward([[1.0, 2.0, 3.0]])


def test_float64_into_float32_layer_rejected_with_a_fix():
    layer = Linear(3, 2)                       # float32 by default
    layer.forward(np.zeros((1, 3), np.float32))
    msg = r"Linear\(3, 2, bias=True\).*float64.*float32.*x\.astype\(float32\).*layer\.to\(float64\)"
    with pytest.raises(ValueError, match=msg):
        layer.forward(np.zeros((1, 3)))
    net = Sequential(Linear(3, 2), Tanh())
    with pytest.raises(ValueError, match=r"Linear\(3, 2.*float64.*float32"):
        net.forward(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"Linear\(3, 2.*\(N, 3\).*\(4, 2\)"):
        net.forward(np.zeros((4, 2), np.float32))


def test_activations_take_the_dtype_of_their_input():
    for layer in (ReLU(), LeakyReLU(0.1), Tanh(), Sigmoid(), Dropout(0.5)):
        for dt in (np.float32, np.float64):
            x = np.linspace(-2, 2, 12, dtype=dt).reshape(3, 4)
            y, cache = layer.forward(x)
            assert y.dtype == dt
            assert layer.backward(np.ones_like(y), cache).dtype == dt


def test_constructor_errors():
    with pytest.raises(ValueError, match="Linear.*positive"):
        Linear(0, 3)
    with pytest.raises(ValueError, match=r"Dropout.*\[0, 1\)"):
        Dropout(1.0)
    with pytest.raises(ValueError, match="Sequential: item 1 is function"):
        Sequential(ReLU(), lambda x: x)


# --- forward values against independent formulas ----------------------------------------------
def test_activation_values(rng):
    x = rng.standard_normal((4, 5)) * 3
    np.testing.assert_array_equal(ReLU().forward(x)[0], np.where(x > 0, x, 0))
    np.testing.assert_allclose(LeakyReLU(0.2).forward(x)[0], np.where(x > 0, x, 0.2 * x))
    np.testing.assert_allclose(Tanh().forward(x)[0], np.tanh(x), rtol=1e-14)
    np.testing.assert_allclose(Sigmoid().forward(x)[0], 1 / (1 + np.exp(-x)), rtol=1e-12)
    big = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        s = sigmoid(big)
    np.testing.assert_allclose(s, [0, 0, 0.5, 1, 1], atol=1e-7)
