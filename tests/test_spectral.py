"""Spectral normalisation (minigan.nn.spectral): power iteration against the SVD, the backward
and tangent passes against finite differences, the buffer u, and the clear errors.

Honest gradient checks: the backward pass holds u and v constant. In eval mode u is not
updated and v = Wᵀu/‖Wᵀu‖ maximises uᵀWv, so the eval-mode forward pass is a fixed function
of (x, W, b) whose exact gradient the backward pass is (the finite differences perturb W and
re-run the same forward pass, with the same u). In training mode, where u moves at every
call, the check differentiates W ↦ layer(x; W / (uᵀWv)) with the u, v of that very call.
"""
import numpy as np
import pytest

from minigan import backend
from minigan.gradcheck import check_layer, numerical_gradient, rel_error
from minigan.nn import (Conv2d, ConvTranspose2d, Flatten, LeakyReLU, Linear, ReLU, Sequential,
                        SpectralNorm, Tanh, power_iteration, spectral_norm)
from minigan.nn.jvp import check_layer_jvp

TOL = 1e-6


def randomize(layer, rng):
    """float64, every parameter random and clearly non-zero (biases included)."""
    layer.to("float64")
    for _, p, _ in layer.named_parameters():
        p[...] = rng.uniform(0.3, 1.0, p.shape) * rng.choice([-1.0, 1.0], p.shape)
    return layer


def assert_passes(report, layer, extra=()):
    expected = {"x", *extra} | {n for n, _, _ in layer.named_parameters()}
    assert set(report) == expected, report          # nothing silently skipped
    assert max(report.values()) < TOL, report


LINEAR_CASES = [((1, 5), 3, True), ((4, 3), 1, False), ((5, 6), 5, True), ((2, 3, 4), 7, True),
                ((3, 1), 4, True)]
CONV_CASES = [
    # (input shape, F, kernel, stride, padding, bias)
    ((1, 1, 5, 5), 2, 3, 1, 0, True),               # batch 1, padding 0
    ((2, 3, 7, 6), 4, 3, 2, 1, True),               # stride 2, odd and non-square
    ((3, 2, 5, 7), 3, (2, 3), (2, 1), 2, False),    # rectangular kernel, padding 2
    ((1, 4, 4, 4), 1, 1, 1, 0, True),               # 1x1 conv, a single filter (M = 1)
]


def make_linear(rng, D, M, bias):
    return SpectralNorm(randomize(Linear(D, M, bias=bias, rng=rng), rng), rng=rng)


def make_conv(rng, C, F, k, stride, padding, bias):
    return SpectralNorm(randomize(Conv2d(C, F, k, stride, padding, bias=bias, rng=rng), rng),
                        rng=rng)


# --- power iteration ----------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (1, 4), (4, 1), (6, 6), (4, 3, 3, 3)])
def test_power_iteration_converges_to_top_singular_value(shape, rng):
    W = rng.standard_normal(shape)
    W_mat = W.reshape(shape[0], -1)
    U, s, Vt = np.linalg.svd(W_mat)
    u0 = rng.standard_normal(shape[0])
    sigma, u, v = power_iteration(W, u0, 200)
    assert abs(float(sigma) - s[0]) < 1e-9 * s[0]
    assert u.shape == (shape[0],) and v.shape == (W_mat.shape[1],)
    np.testing.assert_allclose(abs(u @ U[:, 0]), 1, atol=1e-8)   # singular vectors, up to sign
    np.testing.assert_allclose(abs(v @ Vt[0]), 1, atol=1e-8)
    np.testing.assert_allclose(W_mat @ v, sigma * u, atol=1e-8 * s[0])
    assert u0 is not u


def test_power_iteration_single_steps_and_eval_estimate(rng):
    W, u0 = rng.standard_normal((4, 6)), rng.standard_normal(4)
    sigma, u, v = power_iteration(W, u0, 1)
    v_ref = W.T @ u0 / np.linalg.norm(W.T @ u0)
    u_ref = W @ v_ref / np.linalg.norm(W @ v_ref)
    np.testing.assert_allclose(v, v_ref, rtol=1e-13)
    np.testing.assert_allclose(u, u_ref, rtol=1e-13)
    np.testing.assert_allclose(sigma, u_ref @ W @ v_ref, rtol=1e-13)
    s0, u_0, v_0 = power_iteration(W, u0, 0)          # eval: u kept, σ = ‖Wᵀu‖ (u0 not unit)
    np.testing.assert_array_equal(u_0, u0)
    np.testing.assert_allclose(s0, np.linalg.norm(W.T @ u0), rtol=1e-13)
    np.testing.assert_allclose(s0, u0 @ W @ v_0, rtol=1e-13)
    # the estimate never exceeds the true σ for a unit u (σ = uᵀWv ≤ σ_max)
    un = u0 / np.linalg.norm(u0)
    assert power_iteration(W, un, 0)[0] <= np.linalg.svd(W, compute_uv=False)[0] + 1e-12


def test_power_iteration_bad_input(rng):
    with pytest.raises(ValueError, match="n_iter"):
        power_iteration(rng.standard_normal((3, 3)), rng.standard_normal(3), -1)
    with pytest.raises(ValueError, match=r"u must have shape \(3,\)"):
        power_iteration(rng.standard_normal((3, 4)), rng.standard_normal(4), 1)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        power_iteration(rng.standard_normal(3), rng.standard_normal(3), 1)


# --- gradient checks (u fixed: eval mode) -----------------------------------------------------
@pytest.mark.parametrize("shape,M,bias", LINEAR_CASES)
def test_linear_sn_gradcheck_eval(shape, M, bias, rng):
    sn = make_linear(rng, shape[-1], M, bias).eval()
    u_before = sn.u.copy()
    report = check_layer(sn, rng.standard_normal(shape), rng.standard_normal(shape[:-1] + (M,)))
    assert_passes(report, sn)
    np.testing.assert_array_equal(sn.u, u_before)   # the check really saw one u


@pytest.mark.parametrize("shape,F,k,stride,padding,bias", CONV_CASES)
def test_conv_sn_gradcheck_eval(shape, F, k, stride, padding, bias, rng):
    sn = make_conv(rng, shape[1], F, k, stride, padding, bias).eval()
    x = rng.standard_normal(shape)
    y, _ = sn.forward(x)
    report = check_layer(sn, x, rng.standard_normal(y.shape))
    assert_passes(report, sn)


def _reference_forward(make, x, W, b, u, v):
    """A plain layer (from make()) with the weight W / (uᵀWv), u and v fixed: the function
    that the training-mode backward pass differentiates."""
    plain = make()
    plain.to("float64")
    sigma = u @ W.reshape(W.shape[0], -1) @ v
    plain.params["weight"] = W / sigma
    if b is not None:
        plain.params["bias"] = b
    return plain.forward(x)[0]


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_sn_gradcheck_training_mode_with_the_calls_u_v(kind, rng):
    if kind == "linear":
        sn = make_linear(rng, 5, 3, True)
        x = rng.standard_normal((4, 5))
        make = lambda: Linear(5, 3)                                   # noqa: E731
    else:
        sn = make_conv(rng, 2, 3, 3, 2, 1, True)
        x = rng.standard_normal((2, 2, 5, 6))
        make = lambda: Conv2d(2, 3, 3, 2, 1)                          # noqa: E731
    u_before = sn.u.copy()
    y, cache = sn.forward(x)                                          # training: u moves
    assert not np.allclose(sn.u, u_before)
    _, W_sn, sigma, u, v = cache
    np.testing.assert_array_equal(u, sn.u)
    dy = rng.standard_normal(y.shape)
    sn.zero_grad()
    dx = sn.backward(dy, cache)
    W, b = sn.params["weight"], sn.params["bias"]

    def f():
        return float((_reference_forward(make, x, W, b, u, v) * dy).sum())

    np.testing.assert_allclose(_reference_forward(make, x, W, b, u, v), y, rtol=1e-12)
    assert rel_error(dx, numerical_gradient(f, x)) < TOL
    assert rel_error(sn.grads["weight"], numerical_gradient(f, W)) < TOL
    assert rel_error(sn.grads["bias"], numerical_gradient(f, b)) < TOL


def test_dropping_the_sigma_term_fails_the_check(rng):
    """The −⟨G, W⟩/σ²·u vᵀ term matters: dW = G/σ alone is far from the finite differences."""
    sn = make_linear(rng, 4, 3, True).eval()
    x, dy = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    y, cache = sn.forward(x)
    inner_cache, W_sn, sigma, u, v = cache
    sn.zero_grad()
    sn.backward(dy, cache)
    W = sn.params["weight"]
    fd = numerical_gradient(lambda: float((sn.forward(x)[0] * dy).sum()), W)
    G = dy.T @ x                                                      # dL/dW_sn of a Linear
    wrong = G / sigma
    right = G / sigma - (G * W).sum() / sigma ** 2 * np.outer(u, v)
    assert rel_error(sn.grads["weight"], fd) < TOL
    assert rel_error(right, fd) < TOL
    assert rel_error(wrong, fd) > 1e-2


def test_gradients_accumulate_and_arguments_untouched(rng):
    sn = make_conv(rng, 2, 3, 3, 1, 1, True).eval()
    x = rng.standard_normal((2, 2, 4, 5))
    y, cache = sn.forward(x)
    dy = rng.standard_normal(y.shape)
    x0, dy0 = x.copy(), dy.copy()
    sn.zero_grad()
    sn.backward(dy, cache)
    once = {k: g.copy() for k, g in sn.grads.items()}
    sn.backward(dy, cache)
    for k, g in sn.grads.items():
        np.testing.assert_allclose(g, 2 * once[k], rtol=1e-14)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dy, dy0)


# --- tangent passes -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape,M,bias", LINEAR_CASES[:3])
def test_linear_sn_jvp(shape, M, bias, rng):
    sn = make_linear(rng, shape[-1], M, bias).eval()
    assert_passes(check_layer_jvp(sn, rng.standard_normal(shape), seed=2), sn,
                  extra=("y_dot", "x_dot"))


@pytest.mark.parametrize("shape,F,k,stride,padding,bias", CONV_CASES[:3])
def test_conv_sn_jvp(shape, F, k, stride, padding, bias, rng):
    sn = make_conv(rng, shape[1], F, k, stride, padding, bias).eval()
    assert_passes(check_layer_jvp(sn, rng.standard_normal(shape), seed=3), sn,
                  extra=("y_dot", "x_dot"))


def test_sn_critic_jvp_in_sequential(rng):
    net = randomize(Sequential(Conv2d(2, 3, 3, stride=2, padding=1, rng=rng), Tanh(),
                               Conv2d(3, 2, 2, rng=rng), Tanh(), Flatten(),
                               Linear(8, 1, rng=rng)), rng)
    spectral_norm(net, rng=rng).eval()
    assert_passes(check_layer_jvp(net, rng.standard_normal((2, 2, 5, 6)), seed=6), net,
                  extra=("y_dot", "x_dot"))


def test_jvp_forward_matches_forward_and_the_tangent_uses_W_sn(rng):
    sn = make_linear(rng, 4, 3, True).eval()
    x, x_dot = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    y, y_dot, cache = sn.forward_jvp(x, x_dot)
    np.testing.assert_allclose(y, sn.forward(x)[0], rtol=1e-14)
    np.testing.assert_allclose(y_dot, x_dot @ (sn.params["weight"] / sn.sigma()).T, rtol=1e-12)


# --- the buffer u, the normalisation, the wrapped weight ---------------------------------------
@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_training_forwards_normalise_to_unit_spectral_norm(kind, rng):
    if kind == "linear":
        layer, x = Linear(6, 5, rng=rng, dtype="float32"), rng.standard_normal((3, 6))
    else:
        layer, x = Conv2d(3, 4, 3, padding=1, rng=rng, dtype="float32"), \
            rng.standard_normal((1, 3, 4, 4))
    W0 = layer.params["weight"]
    W0 *= 5                                                            # σ(W) far from 1
    sn = SpectralNorm(layer, rng=rng)
    x = x.astype(np.float32)
    for _ in range(30):
        y, (_, W_sn, sigma, u, v) = sn.forward(x)
    assert y.dtype == np.float32 and W_sn.dtype == np.float32 and sn.u.dtype == np.float32
    top = np.linalg.svd(W_sn.reshape(W_sn.shape[0], -1).astype(np.float64), compute_uv=False)[0]
    assert abs(top - 1) < 1e-4
    true_sigma = np.linalg.svd(W0.reshape(W0.shape[0], -1).astype(np.float64),
                               compute_uv=False)[0]
    assert abs(float(sigma) - true_sigma) < 1e-4 * true_sigma
    assert abs(float(sn.sigma()) - true_sigma) < 1e-4 * true_sigma
    assert true_sigma > 2                                              # the test means something


def test_eval_mode_leaves_u_unchanged_and_training_mode_moves_it(rng):
    sn = make_linear(rng, 5, 4, True)
    x = rng.standard_normal((3, 5))
    u0 = sn.u.copy()
    sn.eval()
    y1, _ = sn.forward(x)
    sn.forward_jvp(x, x)
    np.testing.assert_array_equal(sn.u, u0)
    y2, _ = sn.forward(x)
    np.testing.assert_array_equal(y1, y2)
    sn.train()
    sn.forward(x)
    assert not np.allclose(sn.u, u0)
    u1 = sn.u.copy()
    sn.forward_jvp(x, x)                                               # also a training call
    assert not np.allclose(sn.u, u1)


def test_n_power_iterations_steps(rng):
    layer = randomize(Linear(5, 4, rng=rng), rng)
    sn = SpectralNorm(layer, n_power_iterations=3, rng=rng)
    u0 = sn.u.copy()
    sn.forward(rng.standard_normal((2, 5)))
    np.testing.assert_allclose(sn.u, power_iteration(layer.params["weight"], u0, 3)[1],
                               rtol=1e-13)


def test_forward_and_backward_never_modify_the_wrapped_weight(rng):
    sn = make_conv(rng, 2, 3, 3, 1, 1, True)
    W = sn.params["weight"]
    W_copy, layer_weight = W.copy(), sn.layer.params["weight"]
    x = rng.standard_normal((2, 2, 4, 4))
    for mode in (True, False):
        sn.train(mode)
        y, cache = sn.forward(x)
        sn.backward(rng.standard_normal(y.shape), cache)
        y, y_dot, cache = sn.forward_jvp(x, x)
        sn.backward_jvp(y, y_dot, cache)
    assert sn.params["weight"] is W and sn.layer.params["weight"] is layer_weight is W
    np.testing.assert_array_equal(W, W_copy)
    assert sn.grads["weight"] is sn.layer.grads["weight"]
    assert not np.allclose(W, sn.forward(x)[1][1])                     # W_sn ≠ W


def test_weight_restored_after_an_error(rng):
    sn = make_linear(rng, 3, 2, True)
    W = sn.params["weight"]
    with pytest.raises(ValueError, match="expected input of shape"):
        sn.forward(rng.standard_normal((2, 4)))
    assert sn.params["weight"] is W


def test_state_dict_round_trip_restores_u(rng):
    net = spectral_norm(Sequential(Linear(4, 5, rng=rng), LeakyReLU(0.2), Linear(5, 1, rng=rng)),
                        rng=rng)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    for _ in range(3):
        net.forward(x)
    state = net.state_dict()
    assert set(state) == {"0.weight", "0.bias", "0.u", "2.weight", "2.bias", "2.u"}
    other = spectral_norm(Sequential(Linear(4, 5, rng=rng), LeakyReLU(0.2),
                                     Linear(5, 1, rng=rng)), rng=np.random.default_rng(99))
    assert not np.allclose(other[0].u, net[0].u)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other[0].u, net[0].u)
    np.testing.assert_array_equal(other[2].u, net[2].u)
    # resume is exact: the next training step gives the same output and the same new u
    y1, _ = net.forward(x)
    y2, _ = other.forward(x)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(other[0].u, net[0].u)
    with pytest.raises(KeyError, match="0.u"):
        other.load_state_dict({k: v for k, v in state.items() if k != "0.u"})


def test_spectral_norm_helper_wraps_in_place_and_keeps_names(rng):
    inner = Sequential(Conv2d(1, 2, 3, rng=rng), ReLU())
    net = Sequential(inner, Linear(3, 3, rng=rng), ConvTranspose2d(1, 1, 2, rng=rng))
    names_before = [n for n, _, _ in net.named_parameters()]
    arrays_before = [p for _, p, _ in net.named_parameters()]
    out = spectral_norm(net, n_power_iterations=2, rng=rng)
    assert out is net
    assert isinstance(net[0][0], SpectralNorm) and isinstance(net[0][1], ReLU)
    assert isinstance(net[1], SpectralNorm) and net[1].n_power_iterations == 2
    assert isinstance(net[2], ConvTranspose2d)                        # not touched
    assert [n for n, _, _ in net.named_parameters()] == names_before
    assert all(a is b for a, (_, b, _) in zip(arrays_before, net.named_parameters()))
    spectral_norm(net)                                                # no double wrapping
    assert isinstance(net[1].layer, Linear)
    single = spectral_norm(Linear(2, 2, rng=rng))
    assert isinstance(single, SpectralNorm)
    net.eval()
    assert not net[1].training and not net[1].layer.training


def test_to_converts_u_and_parameters_together(rng):
    sn = SpectralNorm(Linear(3, 2, rng=rng, dtype="float32"), rng=rng)
    assert sn.u.dtype == np.float32 and abs(np.linalg.norm(sn.u) - 1) < 1e-6
    sn.to("float64")
    assert sn.u.dtype == np.float64 and sn.params["weight"].dtype == np.float64
    assert sn.layer.params["weight"] is sn.params["weight"]
    assert sn.dtype == np.float64
    y, _ = sn.forward(rng.standard_normal((2, 3)))
    assert y.dtype == np.float64


def test_u_is_drawn_from_the_given_rng(rng):
    a = SpectralNorm(Linear(3, 4, rng=rng), rng=np.random.default_rng(5))
    b = SpectralNorm(Linear(3, 4, rng=rng), rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.u, b.u)
    expected = np.random.default_rng(5).standard_normal(4)
    np.testing.assert_allclose(a.u, expected / np.linalg.norm(expected), rtol=1e-6)


# --- bad input ---------------------------------------------------------------------------------
def test_clear_errors(rng):
    with pytest.raises(TypeError, match="expected a minigan.nn.Linear or Conv2d.*ReLU"):
        SpectralNorm(ReLU())
    with pytest.raises(TypeError, match="Linear or Conv2d.*ConvTranspose2d"):
        SpectralNorm(ConvTranspose2d(1, 1, 2, rng=rng))
    with pytest.raises(TypeError, match="Linear or Conv2d.*SpectralNorm"):
        SpectralNorm(SpectralNorm(Linear(2, 2, rng=rng)))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n_power_iterations must be an int >= 1"):
            SpectralNorm(Linear(2, 2, rng=rng), n_power_iterations=bad)
    with pytest.raises(ValueError, match="eps must be positive"):
        SpectralNorm(Linear(2, 2, rng=rng), eps=0)
    with pytest.raises(TypeError, match="expected a Sequential, Linear or Conv2d"):
        spectral_norm(Tanh())
    sn = SpectralNorm(Conv2d(3, 2, 3, rng=rng))
    with pytest.raises(ValueError, match="3 channels"):
        sn.forward(np.zeros((1, 2, 5, 5), np.float32))
    assert "SpectralNorm(Conv2d(3, 2" in repr(sn)


# --- cross-checks: torch, GPU ---------------------------------------------------------------------
def test_matches_torch_spectral_norm_in_training_mode(rng):
    """torch.nn.utils.spectral_norm from the same u: the same output, the same new u, and the
    same gradients (torch, too, lets no gradient through u and v)."""
    torch = pytest.importorskip("torch")
    ours = make_conv(rng, 2, 3, 3, 2, 1, True)
    theirs = torch.nn.Conv2d(2, 3, 3, stride=2, padding=1).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(backend.to_numpy(ours.params["weight"])))
        theirs.bias.copy_(torch.from_numpy(backend.to_numpy(ours.params["bias"])))
    theirs = torch.nn.utils.spectral_norm(theirs, n_power_iterations=1, eps=1e-12)
    with torch.no_grad():
        theirs.weight_u.copy_(torch.from_numpy(backend.to_numpy(ours.u)))
    x = rng.standard_normal((2, 2, 5, 6))
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = theirs(tx)
    y, cache = ours.forward(x)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.u, theirs.weight_u.numpy(), rtol=1e-10, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    (ty * torch.from_numpy(dy)).sum().backward()
    ours.zero_grad()
    dx = ours.backward(dy, cache)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.grads["weight"], theirs.weight_orig.grad.numpy(), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(ours.grads["bias"], theirs.bias.grad.numpy(), rtol=1e-10)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and a CUDA GPU")
def test_gpu_matches_cpu(rng):   # pragma: no cover - needs a GPU
    import cupy
    for sn, shape in ((make_linear(rng, 5, 3, True), (4, 5)),
                      (make_conv(rng, 2, 3, 3, 2, 1, True), (2, 2, 5, 6))):
        x = rng.standard_normal(shape)
        x_dot = rng.standard_normal(shape)
        u0 = sn.u.copy()
        y, cache = sn.forward(x)
        dy = rng.standard_normal(y.shape)
        sn.zero_grad()
        dx = sn.backward(dy, cache)
        _, y_dot, jcache = sn.forward_jvp(x, x_dot)
        dx2, dx_dot = sn.backward_jvp(dy, y_dot, jcache)
        cpu = {k: g.copy() for k, g in sn.grads.items()}
        u_cpu = sn.u.copy()
        backend.use("cupy")                                # (conftest switches back after)
        sn.to(backend_name="cupy")
        sn.u[...] = cupy.asarray(u0)
        yg, cg = sn.forward(cupy.asarray(x))
        dxg = sn.backward(cupy.asarray(dy), cg)
        _, y_dotg, jcg = sn.forward_jvp(cupy.asarray(x), cupy.asarray(x_dot))
        dx2g, dx_dotg = sn.backward_jvp(cupy.asarray(dy), y_dotg, jcg)
        assert isinstance(sn.u, cupy.ndarray)
        for a, b in ((yg, y), (dxg, dx), (y_dotg, y_dot), (dx2g, dx2), (dx_dotg, dx_dot),
                     (sn.u, u_cpu)):
            np.testing.assert_allclose(cupy.asnumpy(a), b, rtol=1e-9, atol=1e-10)
        for k in cpu:
            np.testing.assert_allclose(cupy.asnumpy(sn.grads[k]), cpu[k], rtol=1e-9, atol=1e-10)
        backend.use("numpy")


# --- inside a gradient penalty -------------------------------------------------------------
def _sn_critic(rng):
    net = Sequential(spectral_norm(Linear(3, 5, rng=rng, dtype="float64"), rng=rng), Tanh(),
                     spectral_norm(Linear(5, 1, rng=rng, dtype="float64"), rng=rng))
    for _, p, _ in net.named_parameters():
        p[...] = rng.uniform(-1, 1, p.shape)
    return net


@pytest.mark.parametrize("penalty", ["gp", "r1"])
def test_penalty_of_a_spectrally_normalised_critic_is_one_function(penalty, rng):
    """In train mode the penalty's two passes (g, then ∇θ⟨v, g⟩) must use the same W_sn:
    the analytic gradient equals the finite-difference gradient of the penalty with u, v held
    at the values of the call's single power-iteration step (σ = uᵀWv follows W). Letting the
    second pass take another step (the bug this guards against) fails this check."""
    from minigan.nn.penalty import gradient_penalty, r1_penalty
    net = _sn_critic(rng)
    sns = [m for m in net.layers if isinstance(m, SpectralNorm)]
    real, fake = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))

    def value():
        if penalty == "gp":
            return gradient_penalty(net, real, fake, np.random.default_rng(3), lam=2.0)[0]
        return r1_penalty(net, real, gamma=3.0)[0]

    held = [power_iteration(m.params["weight"], m.u.copy(), 1)[1:] for m in sns]  # (u1, v1)
    net.zero_grad()
    value()                                                      # train mode: one step each
    for m, (u1, _) in zip(sns, held):
        assert np.allclose(m.u, u1)                              # u advanced exactly once
    analytic = {n: g.copy() for n, _, g in net.named_parameters()}
    for m, (u1, v1) in zip(sns, held):
        m._held = [(None, u1, v1)]                               # hold u, v for the FD
    try:
        report = {n: rel_error(analytic[n], numerical_gradient(value, p))
                  for n, p, _ in net.named_parameters()}
    finally:
        for m in sns:
            m._held = None
    assert max(report.values()) < 1e-6, report


def test_held_power_iteration_nests_and_releases(rng):
    from minigan.nn.spectral import held_power_iteration
    net = _sn_critic(rng)
    x = rng.standard_normal((2, 3))
    with held_power_iteration(net):
        y1 = net.forward(x)[0]
        with held_power_iteration(net):
            y2 = net.forward(x)[0]
        y3 = net.forward(x)[0]
    assert np.array_equal(y1, y2) and np.array_equal(y1, y3)
    assert all(m._held is None for m in net.layers if hasattr(m, "_held"))
    assert not np.array_equal(net.forward(x)[0], y1)            # steps again outside
