"""Losses: gradient checks, values against textbook formulas, extreme logits, bad input."""
import re

import numpy as np
import pytest

from minigan.gradcheck import check_loss
from minigan.nn import bce_with_logits, log_softmax, mse, softmax, softmax_cross_entropy

TOL = 1e-6
SHAPES = [(1,), (7,), (5, 1), (3, 4)]


# --- gradient checks ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", ["soft", "hard"])
def test_bce_with_logits_gradcheck(shape, kind, rng):
    z = 3 * rng.standard_normal(shape)
    t = rng.uniform(0, 1, shape) if kind == "soft" else rng.integers(0, 2, shape).astype(float)
    assert check_loss(bce_with_logits, z, t) < TOL


@pytest.mark.parametrize("shape", SHAPES)
def test_mse_gradcheck(shape, rng):
    assert check_loss(mse, rng.standard_normal(shape), rng.standard_normal(shape)) < TOL


@pytest.mark.parametrize("N,C", [(1, 2), (5, 3), (4, 10)])
def test_softmax_cross_entropy_gradcheck_int_labels(N, C, rng):
    z = 2 * rng.standard_normal((N, C))
    labels = rng.integers(0, C, N)
    assert check_loss(softmax_cross_entropy, z, labels) < TOL


@pytest.mark.parametrize("N,C", [(1, 2), (5, 3), (4, 10)])
def test_softmax_cross_entropy_gradcheck_probability_targets(N, C, rng):
    z = 2 * rng.standard_normal((N, C))
    t = rng.dirichlet(np.ones(C), N)
    assert check_loss(softmax_cross_entropy, z, t) < TOL


# --- values against textbook formulas -----------------------------------------------------------
def _bce_naive(z, t):
    s = 1 / (1 + np.exp(-z))
    return np.mean(-t * np.log(s) - (1 - t) * np.log(1 - s))


def test_bce_value_and_gradient_against_naive_formula(rng):
    z = rng.uniform(-10, 10, (6, 3))
    t = rng.uniform(0, 1, (6, 3))
    loss, grad = bce_with_logits(z, t)
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, _bce_naive(z, t), rtol=1e-10)
    np.testing.assert_allclose(grad, (1 / (1 + np.exp(-z)) - t) / z.size, rtol=1e-10)
    assert grad.shape == z.shape and grad.dtype == z.dtype


def test_mse_value_and_gradient(rng):
    y, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    loss, grad = mse(y, t)
    np.testing.assert_allclose(loss, np.mean((y - t) ** 2), rtol=1e-12)
    np.testing.assert_allclose(grad, 2 * (y - t) / 12, rtol=1e-12)
    loss32, grad32 = mse(y.astype(np.float32), t)
    assert grad32.dtype == np.float32


def test_softmax_cross_entropy_value(rng):
    z = rng.standard_normal((5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    loss, grad = softmax_cross_entropy(z, labels)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loss, -np.mean(np.log(p[np.arange(5), labels])), rtol=1e-12)
    onehot = np.eye(4)[labels]
    np.testing.assert_allclose(grad, (p - onehot) / 5, rtol=1e-10, atol=1e-15)
    # one-hot probability targets give the same as integer labels
    loss2, grad2 = softmax_cross_entropy(z, onehot)
    np.testing.assert_allclose(loss2, loss, rtol=1e-14)
    np.testing.assert_allclose(grad2, grad, rtol=1e-14)


def test_softmax_and_log_softmax(rng):
    z = rng.standard_normal((3, 6)) * 5
    p = softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-14)
    np.testing.assert_allclose(log_softmax(z), z - np.log(np.exp(z).sum(1, keepdims=True)),
                               rtol=1e-12)
    np.testing.assert_allclose(softmax(z, axis=0).sum(axis=0), 1, rtol=1e-14)


# --- numerics at the extremes ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_with_logits_extreme_logits(dtype):
    z = np.array([1000.0, -1000.0, 1000.0, -1000.0, 0.0], dtype)
    t = np.array([0.0, 1.0, 1.0, 0.0, 1.0], dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):           # no overflow, no log(0), no 0/0
        loss, grad = bce_with_logits(z, t)
    # analytic limit: per element max(z, 0) - z t (+ log 2 at z = 0)
    per_element = np.array([1000.0, 1000.0, 0.0, 0.0, np.log(2.0)])
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, per_element.mean(), rtol=1e-6)
    n = z.size
    np.testing.assert_allclose(grad, np.array([1, -1, 0, 0, -0.5]) / n, atol=1e-7)
    # single-element limit: z = 1000, t = 0 costs exactly 1000
    np.testing.assert_allclose(bce_with_logits(np.array([1000.0], dtype),
                                               np.array([0.0], dtype))[0], 1000.0, rtol=1e-7)


def test_bce_gradient_bounded_by_one_over_n(rng):
    z = rng.uniform(-1000, 1000, 200) * rng.choice([1e-3, 1.0], 200)
    t = rng.uniform(0, 1, 200)
    loss, grad = bce_with_logits(z, t)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert np.all(np.abs(grad) <= 1 / z.size + 1e-18)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_cross_entropy_huge_logits(dtype, rng):
    z = rng.standard_normal((4, 5))
    labels = np.array([0, 1, 4, 2])
    ref, ref_grad = softmax_cross_entropy(z, labels)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss, grad = softmax_cross_entropy((z + 1e4).astype(dtype), labels)  # shift invariant
    np.testing.assert_allclose(loss, ref, rtol=1e-3 if dtype == np.float32 else 1e-8, atol=1e-3)
    assert np.all(np.isfinite(grad))
    big = np.array([[1000.0, 0.0, -1000.0]], dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        assert softmax_cross_entropy(big, np.array([0]))[0] == pytest.approx(0.0, abs=1e-6)
        assert softmax_cross_entropy(big, np.array([2]))[0] == pytest.approx(2000.0, rel=1e-6)
    assert np.all(np.isfinite(softmax(big * 100)))


# --- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss_fn", [bce_with_logits, mse], ids=lambda f: f.__name__)
def test_elementwise_losses_shape_mismatch(loss_fn):
    with pytest.raises(ValueError, match=re.escape(loss_fn.__name__) + r".*\(4,\).*\(4, 1\)"):
        loss_fn(np.zeros(4), np.zeros((4, 1)))
    with pytest.raises(ValueError, match=re.escape(loss_fn.__name__) + ".*expected arrays"):
        loss_fn(np.zeros(2), [0.0, 1.0])
    with pytest.raises(ValueError, match="floating-point"):
        loss_fn(np.zeros(2, int), np.zeros(2))


def test_softmax_cross_entropy_bad_input():
    z = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"\(N, C\).*\(4,\)"):
        softmax_cross_entropy(np.zeros(4), np.array([1]))
    with pytest.raises(ValueError, match="3 rows of logits but 2 labels"):
        softmax_cross_entropy(z, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"\[0, 3\].*\[0, 4\]"):
        softmax_cross_entropy(z, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"\[0, 3\].*\[-1, 1\]"):
        softmax_cross_entropy(z, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match="integer labels.*float64"):
        softmax_cross_entropy(z, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"\(3, 3\).*expected \(3, 4\)"):
        softmax_cross_entropy(z, np.full((3, 3), 1 / 3))
    with pytest.raises(ValueError, match="floating-point logits"):
        softmax_cross_entropy(np.zeros((3, 4), int), np.array([0, 1, 2]))
