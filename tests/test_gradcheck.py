"""The checker itself: rel_error and numerical_gradient on known gradients, and proof that
check_layer / check_scalar_function fail on deliberately wrong backward passes."""
import numpy as np
import pytest

from minigan.gradcheck import (check_layer, check_loss, check_scalar_function, numerical_gradient,
                               print_report, rel_error)
from minigan.nn import LeakyReLU, Linear, ReLU, Sequential, Tanh, bce_with_logits, mse

TOL = 1e-6


# --- rel_error ---------------------------------------------------------------------------------
def test_rel_error_values():
    a = np.array([1.0, 2.0])
    assert rel_error(a, a) == 0.0
    assert rel_error(a, -a) == pytest.approx(1.0)
    assert rel_error(a, np.array([1.0, 2.5])) == pytest.approx(0.5 / 4.5)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(np.zeros(2), np.full(2, 1e-10)) == pytest.approx(1e-2)   # 1e-8 floor
    assert rel_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0
    assert rel_error(a.astype(np.float32), a) == 0.0
    assert isinstance(rel_error(a, a), float)
    with pytest.raises(ValueError, match=r"shapes differ.*\(2,\).*\(2, 1\)"):
        rel_error(a, a.reshape(2, 1))


# --- numerical_gradient -------------------------------------------------------------------------
def test_numerical_gradient_cubic(rng):
    a = rng.standard_normal((3, 4))
    g = numerical_gradient(lambda: float(np.sum(a ** 3)), a)
    assert g.shape == a.shape
    assert rel_error(g, 3 * a ** 2) < 1e-8


def test_numerical_gradient_mixed_function(rng):
    a = rng.standard_normal(7)
    w = rng.standard_normal(7)
    f = lambda: float(np.sum(np.sin(a) * w) + np.prod(a[:3]))  # noqa: E731
    want = np.cos(a) * w
    want[:3] += [a[1] * a[2], a[0] * a[2], a[0] * a[1]]
    assert rel_error(numerical_gradient(f, a), want) < 1e-8


def test_numerical_gradient_restores_the_array(rng):
    a = rng.standard_normal((2, 5))
    a_copy = a.copy()
    seen = []
    numerical_gradient(lambda: seen.append(a.copy()) or float(np.sum(a ** 2)), a)
    np.testing.assert_array_equal(a, a_copy)                # bit for bit
    assert len(seen) == 2 * a.size
    assert not np.array_equal(seen[0], a_copy)               # it really did perturb a in place


def test_numerical_gradient_restores_the_array_when_f_raises(rng):
    a = rng.standard_normal(4)
    a_copy = a.copy()

    def f():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, a)
    np.testing.assert_array_equal(a, a_copy)


def test_numerical_gradient_rejects_float32_and_non_contiguous():
    a32 = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="float64.*float32"):
        numerical_gradient(lambda: float(a32.sum()), a32)
    at = np.ones((3, 4)).T                                    # a view that reshape would copy
    with pytest.raises(ValueError, match="contiguous"):
        numerical_gradient(lambda: float(np.sum(at ** 2)), at)


# --- check_layer / check_loss can fail -----------------------------------------------------------
class LinearMissingTranspose(Linear):
    """dW += xᵀ dy (the transpose of the right answer): same shape for a square layer."""

    def backward(self, dy, cache):
        x = cache
        self.grads["weight"] += x.T @ dy
        self.grads["bias"] += dy.sum(axis=0)
        return dy @ self.params["weight"]


class LinearForgottenBatchSum(Linear):
    """db from the first example only (the batch sum forgotten)."""

    def backward(self, dy, cache):
        x = cache
        self.grads["weight"] += dy.T @ x
        self.grads["bias"] += dy[0]
        return dy @ self.params["weight"]


class LinearWrongDx(Linear):
    """dx = dy Wᵀ-ish: uses the transposed weight for the input gradient."""

    def backward(self, dy, cache):
        x = cache
        self.grads["weight"] += dy.T @ x
        self.grads["bias"] += dy.sum(axis=0)
        return dy @ self.params["weight"].T


class ReLUWrongSign(ReLU):
    def backward(self, dy, cache):
        return dy * (cache < 0)


class TanhMissingDerivative(Tanh):
    def backward(self, dy, cache):
        return dy


def _square_linear(cls, rng, D=4):
    layer = cls(D, D, rng=rng, dtype="float64")
    layer.params["bias"][...] = rng.uniform(0.2, 1.0, D)
    return layer


@pytest.mark.parametrize("cls,bad", [(LinearMissingTranspose, {"weight"}),
                                     (LinearForgottenBatchSum, {"bias"}),
                                     (LinearWrongDx, {"x"})])
def test_check_layer_catches_wrong_linear_backward(cls, bad, rng):
    layer = _square_linear(cls, rng)
    x = rng.standard_normal((5, 4))
    report = check_layer(layer, x, rng.standard_normal((5, 4)))
    assert set(report) == {"x", "weight", "bias"}
    for k, err in report.items():
        if k in bad:
            assert err > 1e-2, report
        else:
            assert err < TOL, report                          # and it points at the culprit


@pytest.mark.parametrize("cls", [ReLUWrongSign, TanhMissingDerivative])
def test_check_layer_catches_wrong_activation_backward(cls, rng):
    x = rng.uniform(0.1, 2, (3, 5)) * rng.choice([-1.0, 1.0], (3, 5))
    assert check_layer(cls(), x, rng.standard_normal((3, 5)))["x"] > 1e-2


def test_check_layer_converts_to_float64_and_defaults_dy(rng):
    layer = Linear(3, 2, rng=rng)                         # float32
    x = rng.standard_normal((4, 3)).astype(np.float32)
    report = check_layer(layer, x)                        # dy: seeded random noise
    assert layer.dtype == np.float64
    assert max(report.values()) < TOL
    assert check_layer(layer, x) == report                # deterministic given the seed


def test_check_layer_verbose_prints_report(rng, capsys):
    check_layer(_square_linear(LinearForgottenBatchSum, rng), rng.standard_normal((3, 4)),
                verbose=True)
    out = capsys.readouterr().out
    assert "dbias" in out and "WRONG" in out
    assert "dweight" in out and "ok" in out


def test_print_report_lines(capsys):
    print_report({"x": 3e-10, "weight": 0.3})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "dx" in lines[0] and "3.00e-10" in lines[0] and lines[0].rstrip().endswith("ok")
    assert "dweight" in lines[1] and "3.00e-01" in lines[1] and "WRONG" in lines[1]


def test_check_loss_catches_wrong_loss_gradient(rng):
    def mse_forgot_mean(pred, target):      # value averaged, gradient not
        loss, _ = mse(pred, target)
        return loss, 2 * (pred - target)

    p, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    assert check_loss(mse, p, t) < TOL
    assert check_loss(mse_forgot_mean, p, t) > 0.5


# --- composed network: MLP + BCE w.r.t. every parameter --------------------------------------------
def _mlp(rng):
    net = Sequential(Linear(4, 8, rng=rng, dtype="float64"), Tanh(),
                     Linear(8, 6, rng=rng, dtype="float64"), LeakyReLU(0.1),
                     Linear(6, 1, rng=rng, dtype="float64"))
    for layer in net.layers:
        if "bias" in layer.params:
            layer.params["bias"][...] = rng.uniform(0.2, 1.0, layer.params["bias"].shape) \
                * rng.choice([-1.0, 1.0], layer.params["bias"].shape)
    return net


@pytest.mark.parametrize("N", [1, 5])
def test_mlp_bce_all_parameters(N, rng):
    net = _mlp(rng)
    x = rng.standard_normal((N, 4))
    t = rng.uniform(0, 1, (N, 1))
    _, caches = net.forward(x)
    assert np.abs(caches[3]).min() > 1e-4                 # no LeakyReLU kink within reach

    net.zero_grad()
    logits, cache = net.forward(x)
    _, dlogits = bce_with_logits(logits, t)
    dx = net.backward(dlogits, cache)
    analytic = {k: g.copy() for k, g in net.grads.items()}
    analytic["x"] = dx

    def f():
        return bce_with_logits(net.forward(x)[0], t)[0]

    arrays = dict(net.params, x=x)
    report = check_scalar_function(f, arrays, analytic)
    assert set(report) == set(arrays)
    assert max(report.values()) < TOL, report

    # and a wrong claim is caught: the sign of one layer's gradient flipped
    analytic["2.weight"] = -analytic["2.weight"]
    assert check_scalar_function(f, {"2.weight": net.params["2.weight"]}, analytic)["2.weight"] \
        > 0.5
