"""Gradient penalty (WGAN-GP) and R1: the WHOLE penalty against finite differences with respect
to every critic parameter, in float64, for MLP critics with each activation (smooth ones
included: there σ'' matters), conv critics, layer-norm critics, batch 1 and odd sizes, random
non-zero biases. And a test that the check can fail: dropping σ'' for tanh is caught.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minigan.gradcheck import check_scalar_function, numerical_gradient, rel_error
from minigan.nn import (BatchNorm1d, Conv2d, Flatten, LayerNorm, LeakyReLU, Linear, ReLU,
                        Sequential, Sigmoid, Tanh)
from minigan.nn.layers import Softplus
from minigan.nn.penalty import gradient_penalty, r1_penalty

TOL = 1e-6
SEED = 7          # the generator of ε, re-created for every evaluation: the same x̂ each time


def randomize(net, rng):
    """float64; every parameter random and clearly non-zero (biases, γ, β included)."""
    net.to("float64")
    for _, p, _ in net.named_parameters():
        p[...] = rng.uniform(0.3, 1.2, p.shape) * rng.choice([-1.0, 1.0], p.shape)
    return net


def penalty_fn(kind, critic, real, fake):
    """The penalty's value, and it adds its gradient into critic.grads."""
    if kind == "gp":
        return gradient_penalty(critic, real, fake, np.random.default_rng(SEED), lam=10.0)[0]
    return r1_penalty(critic, real, gamma=10.0)[0]


def penalty_report(kind, critic, real, fake):
    """{param name: rel_error of the hand gradient vs finite differences of the penalty}."""
    critic.zero_grad()
    penalty_fn(kind, critic, real, fake)
    analytic = {n: g.copy() for n, _, g in critic.named_parameters()}
    arrays = {n: p for n, p, _ in critic.named_parameters()}
    return check_scalar_function(lambda: penalty_fn(kind, critic, real, fake), arrays, analytic)


def assert_passes(report, critic):
    assert set(report) == {n for n, _, _ in critic.named_parameters()}
    assert max(report.values()) < TOL, report


ACTIVATIONS = {"ReLU": ReLU, "LeakyReLU": lambda: LeakyReLU(0.2), "Tanh": Tanh,
               "Sigmoid": Sigmoid, "Softplus": Softplus}


def mlp(rng, act, D=3, H=(6, 5)):
    sizes = (D,) + H
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [Linear(a, b, rng=rng), ACTIVATIONS[act]()]
    return randomize(Sequential(*layers, Linear(sizes[-1], 1, rng=rng)), rng)


@pytest.mark.parametrize("kind", ["gp", "r1"])
@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("N", [1, 5])
def test_mlp_critic(act, kind, N, rng):
    critic = mlp(rng, act)
    real, fake = rng.standard_normal((N, 3)), rng.standard_normal((N, 3))
    assert_passes(penalty_report(kind, critic, real, fake), critic)


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(act=st.sampled_from(sorted(ACTIVATIONS)), kind=st.sampled_from(["gp", "r1"]),
       N=st.integers(1, 4), D=st.integers(1, 4), H=st.lists(st.integers(1, 5), min_size=1,
                                                            max_size=3),
       seed=st.integers(0, 2**16))
def test_property_random_mlp_critics(act, kind, N, D, H, seed):
    rng = np.random.default_rng(seed)
    critic = mlp(rng, act, D, tuple(H))
    real, fake = rng.standard_normal((N, D)), rng.standard_normal((N, D))
    assert_passes(penalty_report(kind, critic, real, fake), critic)


@pytest.mark.parametrize("kind", ["gp", "r1"])
def test_deeper_odd_sized_mixed_critic(kind, rng):
    critic = randomize(Sequential(Linear(2, 7, rng=rng), Tanh(), Linear(7, 3, rng=rng),
                                  Softplus(), Linear(3, 5, rng=rng), Sigmoid(),
                                  Linear(5, 1, rng=rng)), rng)
    real, fake = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    assert_passes(penalty_report(kind, critic, real, fake), critic)


@pytest.mark.parametrize("kind", ["gp", "r1"])
@pytest.mark.parametrize("N", [1, 3])
def test_conv_critic(kind, N, rng):
    critic = randomize(Sequential(Conv2d(2, 3, 3, stride=2, padding=1, rng=rng), LeakyReLU(0.2),
                                  Flatten(), Linear(3 * 4 * 3, 1, rng=rng)), rng)
    real, fake = rng.standard_normal((N, 2, 7, 5)), rng.standard_normal((N, 2, 7, 5))
    assert_passes(penalty_report(kind, critic, real, fake), critic)


def test_smooth_conv_critic_two_convs(rng):
    critic = randomize(Sequential(Conv2d(1, 2, 3, stride=2, padding=1, rng=rng), Tanh(),
                                  Conv2d(2, 2, 3, stride=1, padding=1, rng=rng), Softplus(),
                                  Flatten(), Linear(2 * 3 * 3, 1, rng=rng)), rng)
    real, fake = rng.standard_normal((2, 1, 5, 6)), rng.standard_normal((2, 1, 5, 6))
    assert_passes(penalty_report("gp", critic, real, fake), critic)


@pytest.mark.parametrize("kind", ["gp", "r1"])
@pytest.mark.parametrize("act", ["Tanh", "LeakyReLU"])
def test_layernorm_critic(kind, act, rng):
    critic = randomize(Sequential(Linear(3, 5, rng=rng), LayerNorm(5), ACTIVATIONS[act](),
                                  Linear(5, 1, rng=rng)), rng)
    real, fake = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    assert_passes(penalty_report(kind, critic, real, fake), critic)


def test_conv_layernorm_critic(rng):
    critic = randomize(Sequential(Conv2d(1, 2, 3, stride=2, padding=1, rng=rng),
                                  LayerNorm((2, 3, 3)), Softplus(), Flatten(),
                                  Linear(18, 1, rng=rng)), rng)
    real, fake = rng.standard_normal((3, 1, 5, 5)), rng.standard_normal((3, 1, 5, 5))
    assert_passes(penalty_report("gp", critic, real, fake), critic)


def test_ignoring_the_second_derivative_is_caught(rng, monkeypatch):
    """Drop the σ''·ẋ·dẏ term of tanh (as a well-known NumPy WGAN-GP did): the check fails."""
    critic = mlp(rng, "Tanh")
    real, fake = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    assert max(penalty_report("gp", critic, real, fake).values()) < TOL

    def first_order_only(self, dy, dy_dot, cache):
        y, _ = cache
        return (1 - y * y) * dy, (1 - y * y) * dy_dot
    monkeypatch.setattr(Tanh, "backward_jvp", first_order_only)
    report = penalty_report("gp", critic, real, fake)
    assert max(report.values()) > 0.1, report


@pytest.mark.parametrize("kind", ["gp", "r1"])
def test_value_and_input_gradient_against_finite_differences(kind, rng):
    critic = mlp(rng, "Softplus")
    real, fake = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    if kind == "gp":
        value, info = gradient_penalty(critic, real, fake, np.random.default_rng(SEED), lam=3.0)
        eps = info["eps"]
        assert eps.shape == (4, 1) and ((0 <= eps) & (eps <= 1)).all()
        x = np.ascontiguousarray(eps * real + (1 - eps) * fake)
        np.testing.assert_allclose(info["x_hat"], x, rtol=1e-15)
    else:
        value, info = r1_penalty(critic, real, gamma=3.0)
        x = real.copy()
    g = numerical_gradient(lambda: float(critic.forward(x)[0].sum()), x)
    norms = np.sqrt((g ** 2).sum(axis=1))
    expected = 3.0 * np.mean((norms - 1) ** 2) if kind == "gp" else 1.5 * np.mean(norms ** 2)
    assert abs(value - expected) < 1e-8 * max(1.0, expected)
    assert rel_error(info["grad_norms"], norms) < TOL
    assert abs(info["grad_norm"] - norms.mean()) < 1e-8


def test_images_per_sample_norm_and_accumulation(rng):
    """Gradients add to what is already in grads (twice the call = twice the gradient)."""
    critic = randomize(Sequential(Conv2d(2, 2, 3, padding=1, rng=rng), LeakyReLU(0.2), Flatten(),
                                  Linear(2 * 4 * 4, 1, rng=rng)), rng)
    real, fake = rng.standard_normal((3, 2, 4, 4)), rng.standard_normal((3, 2, 4, 4))
    critic.zero_grad()
    v1 = penalty_fn("gp", critic, real, fake)
    once = {k: g.copy() for k, g in critic.grads.items()}
    v2 = penalty_fn("gp", critic, real, fake)
    assert v1 == v2
    for k, g in critic.grads.items():
        np.testing.assert_allclose(g, 2 * once[k], rtol=1e-13)


def test_zero_input_gradient_gives_no_nan(rng):
    critic = randomize(Sequential(Linear(3, 2, rng=rng), Tanh(), Linear(2, 1, rng=rng)), rng)
    critic[2].params["weight"][...] = 0             # D is constant: ∇ₓD = 0
    critic.zero_grad()
    value, info = gradient_penalty(critic, rng.standard_normal((2, 3)),
                                   rng.standard_normal((2, 3)), np.random.default_rng(0))
    assert value == 10.0 and info["grad_norm"] == 0.0
    assert all(np.isfinite(g).all() for g in critic.grads.values())


def test_float32_agrees_with_float64(rng):
    critic = mlp(rng, "Tanh")
    real, fake = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    critic.zero_grad()
    v64 = penalty_fn("gp", critic, real, fake)
    g64 = {k: g.copy() for k, g in critic.grads.items()}
    critic.to("float32")
    v32, info = gradient_penalty(critic, real.astype(np.float32), fake.astype(np.float32),
                                 np.random.default_rng(SEED))
    assert info["x_hat"].dtype == np.float32
    assert abs(v32 - v64) < 1e-4 * max(1.0, v64)
    for k, g in critic.grads.items():
        assert g.dtype == np.float32 and rel_error(g, g64[k]) < 1e-4


def test_batchnorm_critic_and_bad_shapes_are_refused(rng):
    critic = Sequential(Linear(3, 4, rng=rng), BatchNorm1d(4), LeakyReLU(0.2),
                        Linear(4, 1, rng=rng))
    x = rng.standard_normal((5, 3)).astype(np.float32)
    with pytest.raises(NotImplementedError, match="WGAN-GP"):
        gradient_penalty(critic, x, x, np.random.default_rng(0))
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(mlp(rng, "ReLU"), x[:4].astype(np.float64), x.astype(np.float64),
                         np.random.default_rng(0))
