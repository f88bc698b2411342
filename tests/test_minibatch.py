"""Minibatch discrimination (minigan.nn.minibatch): the backward pass against finite
differences in float64 (random upstream gradients, batch 1, odd sizes), the forward pass
against a loop over the paper's formula, its batch-level behaviour, and the clear errors.
"""
import numpy as np
import pytest

from minigan import backend
from minigan.gradcheck import check_layer, rel_error
from minigan.nn import Linear, LeakyReLU, MinibatchDiscrimination, Sequential
from minigan.nn.jvp import input_gradient_backward

TOL = 1e-6


def make(rng, A, B, C, scale=0.5):
    """float64, T large enough that the L1 distances are O(1) for unit inputs (c not ≈ 0)."""
    layer = MinibatchDiscrimination(A, n_kernels=B, kernel_dim=C, rng=rng, dtype="float64")
    layer.params["T"][...] = rng.standard_normal(layer.params["T"].shape) * scale / np.sqrt(A)
    return layer


def reference_forward(x, T, B, C):
    """The paper's formula, one loop per index."""
    N, A = x.shape
    M = (x @ T).reshape(N, B, C)
    o = np.zeros((N, B))
    for i in range(N):
        for j in range(N):
            if j != i:
                for b in range(B):
                    o[i, b] += np.exp(-np.abs(M[i, b] - M[j, b]).sum())
    return np.concatenate([x, o], axis=1)


CASES = [  # (N, A, B, C)
    (1, 3, 2, 2),        # batch 1: o = 0, the gradients still flow through x
    (2, 1, 1, 1),
    (3, 4, 3, 2),
    (5, 3, 2, 3),        # odd sizes
    (4, 6, 1, 5),
    (7, 2, 4, 1),
]


@pytest.mark.parametrize("N,A,B,C", CASES)
def test_minibatch_gradcheck(N, A, B, C, rng):
    layer = make(rng, A, B, C)
    x = rng.standard_normal((N, A))
    dy = rng.standard_normal((N, A + B))
    report = check_layer(layer, x, dy)
    assert set(report) == {"x", "T"}
    assert max(report.values()) < TOL, report


@pytest.mark.parametrize("N,A,B,C", CASES)
def test_forward_matches_the_formula(N, A, B, C, rng):
    layer = make(rng, A, B, C)
    x = rng.standard_normal((N, A))
    y, _ = layer.forward(x)
    assert y.shape == (N, A + B)
    np.testing.assert_allclose(y, reference_forward(x, layer.params["T"], B, C), rtol=1e-12,
                               atol=1e-300)
    np.testing.assert_array_equal(y[:, :A], x)
    if N == 1:
        np.testing.assert_array_equal(y[:, A:], 0)
    else:
        assert (y[:, A:] > 0).all()


def test_gradient_of_the_minibatch_features_alone(rng):
    """dy only on o (dy[:, :A] = 0): the whole dx then comes from the L1 path, both sides."""
    layer = make(rng, 3, 4, 2)
    x = rng.standard_normal((6, 3))
    dy = rng.standard_normal((6, 7))
    dy[:, :3] = 0
    report = check_layer(layer, x, dy)
    assert max(report.values()) < TOL, report
    layer.zero_grad()
    y, cache = layer.forward(x)
    dx = layer.backward(dy, cache)
    assert np.abs(dx).max() > 1e-3 and np.abs(layer.grads["T"]).max() > 1e-3


def test_only_one_side_of_the_l1_is_wrong(rng):
    """A backward pass that forgets that x_i also sits in every other sample's o_j (w =
    −c·do[i] instead of −c·(do[i] + do[j])) is far from the finite differences."""
    layer = make(rng, 3, 2, 3)
    x = rng.standard_normal((5, 3))
    dy = rng.standard_normal((5, 5))
    y, (x_, M, c) = layer.forward(x)
    do = dy[:, 3:]
    S = np.sign(M[:, None] - M[None])
    one_sided = ((-c * do[:, None, :])[..., None] * S).sum(axis=1).reshape(5, -1)
    both = ((-c * (do[:, None, :] + do[None, :, :]))[..., None] * S).sum(axis=1).reshape(5, -1)
    layer.zero_grad()
    layer.backward(dy, (x_, M, c))
    np.testing.assert_allclose(layer.grads["T"], x.T @ both, rtol=1e-12)
    assert rel_error(layer.grads["T"], x.T @ one_sided) > 1e-2


def test_o_depends_on_the_other_samples(rng):
    layer = make(rng, 4, 3, 2)
    x = rng.standard_normal((4, 4))
    y, _ = layer.forward(x)
    x2 = x.copy()
    x2[2] += rng.standard_normal(4)                                    # move sample 2 only
    y2, _ = layer.forward(x2)
    for i in (0, 1, 3):
        np.testing.assert_array_equal(y2[i, :4], y[i, :4])             # x_i itself unchanged
        assert np.abs(y2[i, 4:] - y[i, 4:]).max() > 1e-6               # but o_i moved
    # and the dx of sample i has a part from dy of sample j
    dy = np.zeros_like(y)
    dy[0, 4:] = 1.0
    _, cache = layer.forward(x)
    dx = layer.backward(dy, cache)
    assert np.abs(dx[1:]).max() > 1e-6


@pytest.mark.parametrize("N", [1, 2, 5])
def test_identical_samples_give_n_minus_1(N, rng):
    layer = make(rng, 3, 4, 2)
    x = np.tile(rng.standard_normal((1, 3)), (N, 1))
    y, cache = layer.forward(x)
    np.testing.assert_array_equal(y[:, 3:], N - 1)
    # the L1 kink at zero: sign(0) = 0, so only the direct path carries gradient
    dy = rng.standard_normal(y.shape)
    layer.zero_grad()
    dx = layer.backward(dy, cache)
    np.testing.assert_array_equal(dx, dy[:, :3])
    np.testing.assert_array_equal(layer.grads["T"], 0)


def test_float32_and_gradients_accumulate(rng):
    layer = MinibatchDiscrimination(8, n_kernels=5, kernel_dim=3, rng=rng)
    assert layer.params["T"].dtype == np.float32 and layer.params["T"].shape == (8, 15)
    assert abs(layer.params["T"].std() - 0.05) < 0.02                  # the documented scale
    x = rng.standard_normal((6, 8)).astype(np.float32)
    y, cache = layer.forward(x)
    assert y.dtype == np.float32 and y.shape == (6, 13)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dy0, x0 = dy.copy(), x.copy()
    layer.zero_grad()
    dx = layer.backward(dy, cache)
    assert dx.dtype == np.float32 and layer.grads["T"].dtype == np.float32
    once = layer.grads["T"].copy()
    layer.backward(dy, cache)
    np.testing.assert_allclose(layer.grads["T"], 2 * once, rtol=1e-6)
    np.testing.assert_array_equal(dy, dy0)                             # arguments untouched
    np.testing.assert_array_equal(x, x0)


def test_in_a_discriminator(rng):
    """Linear -> LeakyReLU -> MinibatchDiscrimination -> Linear: gradient check end to end."""
    net = Sequential(Linear(3, 4, rng=rng), LeakyReLU(0.2),
                     MinibatchDiscrimination(4, n_kernels=3, kernel_dim=2, rng=rng),
                     Linear(7, 1, rng=rng))
    net.to("float64")
    net[2].params["T"][...] = rng.standard_normal((4, 6)) * 0.4
    x = rng.standard_normal((5, 3))
    report = check_layer(net, x, rng.standard_normal((5, 1)))
    assert max(report.values()) < TOL, report


def test_state_dict_and_repr(rng):
    layer = MinibatchDiscrimination(4, n_kernels=3, kernel_dim=2, rng=rng)
    other = MinibatchDiscrimination(4, n_kernels=3, kernel_dim=2, rng=np.random.default_rng(1))
    other.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(other.params["T"], layer.params["T"])
    assert repr(layer) == "MinibatchDiscrimination(4, n_kernels=3, kernel_dim=2)"


def test_clear_errors(rng):
    layer = MinibatchDiscrimination(4, n_kernels=3, kernel_dim=2, rng=rng)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 4\)"):
        layer.forward(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="2 dimensions"):
        layer.forward(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="dtype"):
        layer.forward(np.zeros((2, 4), np.float64))
    for kwargs in ({"n_kernels": 0}, {"kernel_dim": -1}, {"n_kernels": 2.5}):
        with pytest.raises(ValueError, match="must be a positive int"):
            MinibatchDiscrimination(4, rng=rng, **kwargs)
    with pytest.raises(NotImplementedError, match="mixes the samples"):
        layer.forward_jvp(np.zeros((2, 4), np.float32), np.zeros((2, 4), np.float32))
    critic = Sequential(Linear(4, 4, rng=rng), layer, Linear(7, 1, rng=rng))
    z = np.zeros((2, 4), np.float32)
    with pytest.raises(NotImplementedError, match="gradient penalty"):
        input_gradient_backward(critic, z, z)


# --- cross-checks: torch autograd, GPU ------------------------------------------------------------
def test_matches_torch_autograd(rng):
    torch = pytest.importorskip("torch")
    N, A, B, C = 6, 5, 3, 4
    layer = make(rng, A, B, C)
    x = rng.standard_normal((N, A))
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    tT = torch.from_numpy(backend.to_numpy(layer.params["T"]).copy()).requires_grad_(True)
    tM = (tx @ tT).reshape(N, B, C)
    tc = torch.exp(-(tM[:, None] - tM[None]).abs().sum(dim=3))           # (N, N, B)
    to = (tc * (1 - torch.eye(N, dtype=tc.dtype))[:, :, None]).sum(dim=1)
    ty = torch.cat([tx, to], dim=1)
    y, cache = layer.forward(x)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12)
    dy = rng.standard_normal(y.shape)
    (ty * torch.from_numpy(dy)).sum().backward()
    layer.zero_grad()
    dx = layer.backward(dy, cache)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads["T"], tT.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and a CUDA GPU")
def test_gpu_matches_cpu(rng):   # pragma: no cover - needs a GPU
    import cupy
    layer = make(rng, 5, 3, 4)
    x = rng.standard_normal((7, 5))
    y, cache = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    layer.zero_grad()
    dx = layer.backward(dy, cache)
    dT = layer.grads["T"].copy()
    backend.use("cupy")                                    # (conftest switches back after)
    layer.to(backend_name="cupy")
    yg, cg = layer.forward(cupy.asarray(x))
    dxg = layer.backward(cupy.asarray(dy), cg)
    np.testing.assert_allclose(cupy.asnumpy(yg), y, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cupy.asnumpy(dxg), dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cupy.asnumpy(layer.grads["T"]), dT, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("N,A,B,C", CASES)
def test_averaged_variant_gradcheck_and_scale(N, A, B, C, rng):
    """average=True: o is the mean over the other samples, o_sum / (N − 1), in [0, 1]."""
    summed = make(rng, A, B, C)
    mean = MinibatchDiscrimination(A, B, C, dtype="float64", average=True)
    mean.params["T"][...] = summed.params["T"]
    x = rng.standard_normal((N, A))
    y_sum, y_mean = summed.forward(x)[0], mean.forward(x)[0]
    np.testing.assert_allclose(y_mean[:, A:], y_sum[:, A:] / max(N - 1, 1), rtol=1e-12)
    assert np.all((y_mean[:, A:] >= 0) & (y_mean[:, A:] <= 1))
    report = check_layer(mean, x, rng.standard_normal((N, A + B)))
    assert max(report.values()) < TOL, report
