"""Tangent passes (minigan.nn.jvp): each layer's forward_jvp and backward_jvp against finite
differences, in float64, plus Softplus, the network-level helpers and the clear errors.

forward_jvp: ẏ against (y(x + hẋ) − y(x − hẋ)) / 2h. backward_jvp: (dx, dẋ, dθ) against the
gradient of ⟨dy, y⟩ + ⟨dẏ, ẏ⟩ with respect to x, ẋ and every parameter, with random (never
all-ones) dy, dẏ, ẋ, non-zero random biases and affine parameters, batch 1 and odd sizes.
"""
import re

import numpy as np
import pytest

from minigan.gradcheck import check_layer, numerical_gradient, rel_error
from minigan.nn import (BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, LayerNorm, LeakyReLU,
                        Linear, MaxPool2d, ReLU, Reshape, Sequential, Sigmoid, Tanh)
from minigan.nn.jvp import check_layer_jvp, input_gradient, input_gradient_backward
from minigan.nn.layers import Softplus

TOL = 1e-6


def randomize(layer, rng):
    """float64, and every parameter random and clearly non-zero (biases, γ and β included)."""
    layer.to("float64")
    for _, p, _ in layer.named_parameters():
        p[...] = rng.uniform(0.3, 1.0, p.shape) * rng.choice([-1.0, 1.0], p.shape)
    return layer


def away_from_zero(rng, shape, lo=0.05, hi=2.0):
    return rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


def assert_passes(report, layer):
    expected = {"y_dot", "x", "x_dot"} | {n for n, _, _ in layer.named_parameters()}
    assert set(report) == expected          # nothing silently skipped
    assert max(report.values()) < TOL, report


ACTIVATIONS = {
    "ReLU": ReLU, "LeakyReLU-0.2": lambda: LeakyReLU(0.2), "Tanh": Tanh, "Sigmoid": Sigmoid,
    "Softplus": Softplus, "Softplus-beta2-threshold1": lambda: Softplus(2.0, 1.0),
}


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (3, 4), (2, 3, 5)])
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_jvp(name, shape, rng):
    layer = ACTIVATIONS[name]()
    x = away_from_zero(rng, shape)          # ReLU-type: no kink within reach of h
    assert_passes(check_layer_jvp(layer, x, seed=1), layer)


@pytest.mark.parametrize("shape,M,bias", [((1, 1), 1, True), ((1, 5), 3, True),
                                          ((7, 3), 1, False), ((4, 4), 4, True),
                                          ((2, 3, 5), 2, True)])
def test_linear_jvp(shape, M, bias, rng):
    layer = randomize(Linear(shape[-1], M, bias=bias, rng=rng), rng)
    assert_passes(check_layer_jvp(layer, rng.standard_normal(shape), seed=2), layer)


@pytest.mark.parametrize("shape,F,k,stride,padding,dilation,bias", [
    ((1, 1, 5, 5), 2, 3, 1, 0, 1, True),          # batch 1, padding 0
    ((2, 3, 7, 6), 4, 3, 2, 1, 1, True),          # stride 2, odd and non-square
    ((3, 2, 6, 7), 3, (2, 3), (2, 1), 2, 1, False),
    ((2, 2, 7, 7), 2, 3, 1, 1, 2, True),          # dilation 2
])
def test_conv2d_jvp(shape, F, k, stride, padding, dilation, bias, rng):
    layer = randomize(Conv2d(shape[1], F, k, stride, padding, dilation, bias=bias, rng=rng), rng)
    assert_passes(check_layer_jvp(layer, rng.standard_normal(shape), seed=3), layer)


@pytest.mark.parametrize("normalized_shape,shape,affine", [
    (5, (3, 5), True), (3, (1, 3), True), (4, (2, 3, 4), True), (4, (3, 4), False),
    ((2, 3, 3), (2, 2, 3, 3), True),              # (C, H, W), as after a conv
])
def test_layernorm_jvp(normalized_shape, shape, affine, rng):
    layer = randomize(LayerNorm(normalized_shape, elementwise_affine=affine), rng)
    # 3 * x: var far from eps, and an offset: the mean matters
    assert_passes(check_layer_jvp(layer, 3 * rng.standard_normal(shape) + 1, seed=4), layer)


@pytest.mark.parametrize("layer,shape", [(Flatten(), (2, 3, 2, 2)), (Flatten(2, 3), (2, 3, 2, 2)),
                                         (Reshape(3, 4), (2, 12)), (Flatten(), (1, 1, 1, 1))])
def test_reshape_jvp(layer, shape, rng):
    assert_passes(check_layer_jvp(layer, rng.standard_normal(shape), seed=5), layer)


def test_sequential_jvp_conv_layernorm_critic(rng):
    net = Sequential(Conv2d(2, 3, 3, stride=2, padding=1, rng=rng), LayerNorm((3, 3, 3)),
                     Softplus(), Flatten(), Linear(27, 4, rng=rng), Tanh(), Linear(4, 1, rng=rng))
    randomize(net, rng)
    assert_passes(check_layer_jvp(net, rng.standard_normal((2, 2, 5, 6)), seed=6), net)


def test_tangent_passes_add_into_grads(rng):
    layer = randomize(Linear(3, 2, rng=rng), rng)
    x, x_dot, dy, dy_dot = (rng.standard_normal(s) for s in [(4, 3), (4, 3), (4, 2), (4, 2)])
    layer.zero_grad()
    _, _, cache = layer.forward_jvp(x, x_dot)
    layer.backward_jvp(dy, dy_dot, cache)
    once = {k: g.copy() for k, g in layer.grads.items()}
    layer.backward_jvp(dy, dy_dot, cache)
    for k, g in layer.grads.items():
        np.testing.assert_allclose(g, 2 * once[k], rtol=1e-14)


def test_tangent_passes_never_write_into_their_arguments(rng):
    net = randomize(Sequential(Linear(3, 4, rng=rng), LayerNorm(4), Tanh(), Linear(4, 2, rng=rng)),
                    rng)
    x, x_dot, dy, dy_dot = (rng.standard_normal(s) for s in [(5, 3), (5, 3), (5, 2), (5, 2)])
    copies = [a.copy() for a in (x, x_dot, dy, dy_dot)]
    _, _, cache = net.forward_jvp(x, x_dot)
    net.backward_jvp(dy, dy_dot, cache)
    for a, c in zip((x, x_dot, dy, dy_dot), copies):
        np.testing.assert_array_equal(a, c)


# --- Softplus ---------------------------------------------------------------------------------
def test_softplus_forward_matches_torch_semantics():
    x = np.array([-800.0, -30.0, -1.0, 0.0, 0.5, 19.0, 21.0, 800.0])
    with np.errstate(over="raise"):
        y, _ = Softplus().forward(x)
    expected = np.where(x > 20, x, np.logaddexp(0, x))
    np.testing.assert_allclose(y, expected, rtol=1e-14, atol=0)
    y2, _ = Softplus(beta=2.0, threshold=5.0).forward(x)
    np.testing.assert_allclose(y2, np.where(2 * x > 5, x, np.logaddexp(0, 2 * x) / 2),
                               rtol=1e-14, atol=0)
    y32, _ = Softplus().forward(x.astype(np.float32))
    assert y32.dtype == np.float32 and np.isfinite(y32).all()


@pytest.mark.parametrize("make", [Softplus, lambda: Softplus(0.5), lambda: Softplus(2.0, 1.0)])
def test_softplus_gradcheck(make, rng):
    layer = make()
    x = away_from_zero(rng, (4, 5), 0.05, 3.0)
    x[np.abs(np.abs(layer.beta * x) - layer.threshold) < 0.05] += 0.2   # off the switch point
    report = check_layer(layer, x, rng.standard_normal(x.shape))
    assert report["x"] < TOL, report
    with pytest.raises(ValueError, match="beta"):
        Softplus(beta=0)


# --- network-level helpers ---------------------------------------------------------------------
def test_input_gradient_and_its_backward(rng):
    """g against finite differences of Σ D; the backward's dẋ is g again, its dx is the
    Hessian-vector product ∇ₓ⟨v, g(x)⟩; and input_gradient leaves the grads as they were."""
    net = randomize(Sequential(Linear(3, 5, rng=rng), Softplus(), Linear(5, 4, rng=rng),
                               Sigmoid(), Linear(4, 1, rng=rng)), rng)
    x, v = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    before = {k: rng.standard_normal(g.shape) for k, g in net.grads.items()}
    for k, g in net.grads.items():
        g[...] = before[k]
    _, g = input_gradient(net, x)
    for k, gr in net.grads.items():
        np.testing.assert_array_equal(gr, before[k])
    assert rel_error(g, numerical_gradient(lambda: float(net.forward(x)[0].sum()), x)) < TOL
    dx, g_again = input_gradient_backward(net, x, v)
    assert rel_error(g_again, g) < 1e-12

    def directional():
        return float((input_gradient(net, x)[1] * v).sum())
    assert rel_error(dx, numerical_gradient(directional, x)) < TOL


# --- clear errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("bn,shape", [(BatchNorm1d(3), (4, 3)), (BatchNorm2d(2), (2, 2, 3, 3))])
def test_batchnorm_is_refused_with_the_reason(bn, shape, rng):
    net = Sequential(bn, Flatten())
    x = rng.standard_normal(shape).astype(np.float32)
    with pytest.raises(NotImplementedError, match=r"(?s)whole batch.*WGAN-GP.*LayerNorm"):
        net.forward_jvp(x, x)
    with pytest.raises(NotImplementedError, match="WGAN-GP"):
        bn.backward_jvp(x, x, None)


@pytest.mark.parametrize("layer", [MaxPool2d(2), Dropout(0.5)])
def test_layer_without_tangent_pass_is_named(layer, rng):
    net = Sequential(Conv2d(1, 2, 3, rng=rng), layer)
    x = rng.standard_normal((1, 1, 6, 6)).astype(np.float32)
    with pytest.raises(NotImplementedError, match=r"layer 1, .*forward_jvp"):
        net.forward_jvp(x, x)
    with pytest.raises(NotImplementedError, match="tangent pass"):
        input_gradient(MaxPool2d(2), x)


def test_tangent_of_the_wrong_shape_or_dtype_is_refused(rng):
    x = rng.standard_normal((3, 4))
    with pytest.raises(ValueError, match=r"Tanh\(\).*tangent.*\(3, 4\)"):
        Tanh().forward_jvp(x, x[:1])              # would broadcast silently
    with pytest.raises(ValueError, match="dtype"):
        ReLU().forward_jvp(x, x.astype(np.float32))


# --- every tangent backward pass checks dy and dy_dot -------------------------------------------
def tangent_layer_classes():
    """Every public layer class of minigan.nn (every submodule walked, exported or not) that
    has a backward_jvp, by name: a new layer with tangent passes is found here by itself."""
    import importlib
    import inspect
    import pkgutil

    import minigan.nn
    from minigan.nn import Module
    found = {}
    for info in pkgutil.iter_modules(minigan.nn.__path__):
        module = importlib.import_module(f"minigan.nn.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (issubclass(cls, Module) and cls.__module__.startswith("minigan.nn")
                    and not name.startswith("_") and hasattr(cls, "backward_jvp")):
                found[name] = cls
    return found


# Each class of tangent_layer_classes(), built small in float64, and its input's shape; REFUSED
# marks the layers that refuse tangent passes on purpose (they mix the samples of a batch).
REFUSED = "refused"


def _tangent_cases(r):
    from minigan.nn import MinibatchDiscrimination, SpectralNorm
    img = (2, 3, 6, 5)
    return {
        "Linear": (Linear(4, 3, rng=r, dtype="float64"), (5, 4)),
        "Conv2d": (Conv2d(3, 2, 3, stride=2, padding=1, rng=r, dtype="float64"), img),
        "LayerNorm": (LayerNorm(4, dtype="float64"), (5, 4)),
        "Flatten": (Flatten(), img),
        "Reshape": (Reshape(-1, 5), img),
        "ReLU": (ReLU(), (5, 4)),
        "LeakyReLU": (LeakyReLU(0.2), (5, 4)),
        "Tanh": (Tanh(), (5, 4)),
        "Sigmoid": (Sigmoid(), (5, 4)),
        "Softplus": (Softplus(), (5, 4)),
        "Sequential": (Sequential(Linear(4, 3, rng=r, dtype="float64"), Tanh(),
                                  Linear(3, 2, rng=r, dtype="float64")), (5, 4)),
        "SpectralNorm": (SpectralNorm(Conv2d(3, 2, 3, rng=r, dtype="float64"), rng=r), img),
        "BatchNorm1d": (BatchNorm1d(4, dtype="float64"), (5, 4), REFUSED),
        "BatchNorm2d": (BatchNorm2d(3, dtype="float64"), img, REFUSED),
        "MinibatchDiscrimination": (MinibatchDiscrimination(4, 3, 2, rng=r, dtype="float64"),
                                    (5, 4), REFUSED),
    }


def _wrong_shapes(shape):
    """Shapes an upstream gradient must not have: the same size arranged otherwise (a reshape
    takes it silently), one that broadcasts (an elementwise product takes it silently), one
    unit more, one dimension fewer, and the input's shape where it differs."""
    out = [shape[::-1], (int(np.prod(shape)),), shape[:-1] + (1,), shape[:-1] + (shape[-1] + 1,),
           (1,) + shape[1:], shape[1:]]
    return [s for s in dict.fromkeys(out) if s != shape]


def test_every_layer_with_a_tangent_pass_has_a_case():
    missing = set(tangent_layer_classes()) - set(_tangent_cases(np.random.default_rng(0)))
    assert not missing, f"add a case to _tangent_cases for {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(tangent_layer_classes()))
def test_backward_jvp_refuses_a_dy_or_dy_dot_of_the_wrong_shape(name, rng):
    case = _tangent_cases(np.random.default_rng(0)).get(name)
    assert case is not None, f"add a case to _tangent_cases for {name}"
    layer, shape = case[:2]
    assert type(layer).__name__ == name
    x, x_dot = rng.standard_normal(shape), rng.standard_normal(shape)
    if case[2:] == (REFUSED,):
        for call in (lambda: layer.forward_jvp(x, x_dot),
                     lambda: layer.backward_jvp(x, x_dot, None)):
            with pytest.raises(NotImplementedError, match="gradient penalty"):
                call()
        return
    y, y_dot, cache = layer.forward_jvp(x, x_dot)
    out = tuple(y.shape)
    assert tuple(y_dot.shape) == out
    dy, dy_dot = rng.standard_normal(out), rng.standard_normal(out)
    before = {k: g.copy() for k, g in layer.grads.items()}
    for wrong in _wrong_shapes(out) + [shape]:
        if wrong == out:
            continue
        for arg, bad in (("dy_dot", (dy, np.ones(wrong))), ("dy", (np.ones(wrong), dy_dot))):
            with pytest.raises(ValueError) as info:
                layer.backward_jvp(*bad, cache)
            message = str(info.value)
            assert f"expected {arg} of shape {out} (the shape of this layer's output), got " \
                   f"shape {wrong}" in message, (arg, wrong, message)
            assert type(layer).__name__ in message or name == "Sequential", message
    with pytest.raises(ValueError, match=re.escape(f"expected dy_dot of shape {out}")):
        layer.backward_jvp(dy, 1.0, cache)                         # not an array at all
    for k, g in layer.grads.items():                                # nothing was added
        np.testing.assert_array_equal(g, before[k], err_msg=k)
    dx, dx_dot = layer.backward_jvp(dy, dy_dot, cache)             # the right shapes work
    assert dx.shape == dx_dot.shape == x.shape
