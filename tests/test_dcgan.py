"""DCGAN: the paper's architecture guidelines, D's and G's losses checked by finite differences
through both convolutional networks (batch norm in training mode, on a fixed batch), a training
step that moves every parameter, and a short run on the digits that measurably improves them."""
import numpy as np
import pytest

import quality_runs
from quality_runs import assert_quality

from minigan.data import load_dataset
from minigan.gans.dcgan import DCGAN
from minigan.gradcheck import check_scalar_function
from minigan.kernels import col2im_numba, col2im_reference, im2col_numba, im2col_reference
from minigan.nn import BatchNorm2d, Conv2d, ConvTranspose2d, LeakyReLU, Linear, ReLU, Tanh

from gan_losses import d_loss, g_loss, randomize_parameters


def tiny_dcgan(loss="nonsaturating", seed=0):
    """8x8 images, 2 and 4 channels: a few hundred parameters, all random and non-zero."""
    gan = DCGAN(data_shape=(1, 8, 8), latent_dim=3, width=2, loss=loss, seed=seed,
                dtype="float64")
    return randomize_parameters(gan, seed)


def _all_params(gan):
    return gan.G.named_parameters("G.") + gan.D.named_parameters("D.")


def test_architecture_follows_the_guidelines():
    """Strided convs in D, transposed convs in G, batch norm except at G's output and D's
    input, ReLU in G, LeakyReLU(0.2) in D, tanh output; MNIST: z -> (128, 7, 7) -> 14 -> 28."""
    gan = DCGAN(data_shape=(1, 28, 28), latent_dim=100, width=64)
    G, D = gan.G.layers, gan.D.layers
    assert isinstance(G[0], Linear) and G[1].shape == (128, 7, 7)
    convT = [m for m in G if isinstance(m, ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels, m.stride) for m in convT] == [(128, 64, (2, 2)),
                                                                          (64, 1, (2, 2))]
    assert isinstance(G[-1], Tanh) and isinstance(G[-2], ConvTranspose2d)   # no BN at the output
    assert sum(isinstance(m, BatchNorm2d) for m in G) == 2
    assert all(isinstance(m, ReLU) for m in G if type(m).__name__.endswith("ReLU"))
    conv = [m for m in D if isinstance(m, Conv2d)]
    assert [(m.in_channels, m.out_channels, m.stride) for m in conv] == [(1, 64, (2, 2)),
                                                                         (64, 128, (2, 2))]
    assert isinstance(D[0], Conv2d) and isinstance(D[1], LeakyReLU)         # no BN at the input
    assert sum(isinstance(m, BatchNorm2d) for m in D) == 1
    assert all(m.negative_slope == 0.2 for m in D if isinstance(m, LeakyReLU))
    assert not any(isinstance(m, (ReLU, Tanh)) for m in D)
    # Adam(2e-4, β₁ = 0.5); weights ~ N(0, 0.02), batch-norm scales ~ N(1, 0.02)
    assert gan.opt_d.lr == gan.opt_g.lr == 2e-4 and gan.opt_d.betas[0] == 0.5
    w = np.concatenate([m.params["weight"].ravel() for m in G + D
                        if isinstance(m, (Conv2d, ConvTranspose2d, Linear))])
    assert abs(w.std() - 0.02) < 0.001 and abs(w.mean()) < 0.001
    gammas = np.concatenate([m.params["weight"] for m in G + D if isinstance(m, BatchNorm2d)])
    assert abs(gammas.mean() - 1) < 0.01 and 0.01 < gammas.std() < 0.03


@pytest.mark.parametrize("batch", [2, 3])
def test_discriminator_loss_gradient(batch):
    gan = tiny_dcgan()
    rng = np.random.default_rng(1)
    real, z = rng.uniform(-1, 1, (batch, 1, 8, 8)), rng.standard_normal((batch, 3))
    gan.D.zero_grad()
    loss, _, _ = gan.d_loss_and_backward(real, z)
    assert loss == pytest.approx(d_loss(gan, real, z), rel=1e-12)
    params = {n: p for n, p, _ in gan.D.named_parameters()}
    grads = {n: g.copy() for n, _, g in gan.D.named_parameters()}
    assert len(params) == 7                     # 2 convs (bias only on the first), BN, linear
    report = check_scalar_function(lambda: d_loss(gan, real, z), params, grads)
    assert max(report.values()) < 1e-6, report


@pytest.mark.parametrize("loss", ["nonsaturating", "minimax"])
def test_generator_loss_gradient_through_the_discriminator(loss):
    """G's gradient flows back through D's convs and batch norm: checked for every G parameter."""
    gan = tiny_dcgan(loss=loss)
    z = np.random.default_rng(2).standard_normal((3, 3))
    gan.G.zero_grad()
    value = gan.g_loss_and_backward(z)
    assert value == pytest.approx(g_loss(gan, z), rel=1e-12)
    params = {n: p for n, p, _ in gan.G.named_parameters()}
    grads = {n: g.copy() for n, _, g in gan.G.named_parameters()}
    assert len(params) == 8                     # linear, BN, convT, BN, convT + bias
    report = check_scalar_function(lambda: g_loss(gan, z), params, grads)
    assert max(report.values()) < 1e-6, report


def test_train_step_moves_every_parameter_of_both_networks():
    gan = DCGAN(data_shape=(1, 8, 8), latent_dim=8, width=4, seed=0)
    before = {n: p.copy() for n, p, _ in _all_params(gan)}
    stats = [m.running_mean.copy() for m in gan.G.layers + gan.D.layers
             if isinstance(m, BatchNorm2d)]
    batch = load_dataset("digits", split="train").images[:16]
    logs = gan.train_step(batch)
    for key in ("loss_d", "loss_g", "d_real", "d_fake"):
        assert np.isfinite(logs[key])
    assert len(before) == 15
    for n, p, _ in _all_params(gan):
        assert p.dtype == np.float32
        assert not np.array_equal(before[n], p), f"{n} did not move"
    after = [m.running_mean for m in gan.G.layers + gan.D.layers if isinstance(m, BatchNorm2d)]
    assert all(not np.array_equal(a, b) for a, b in zip(stats, after))
    assert all(np.all(g == 0) for _, _, g in gan.D.named_parameters())
    assert gan.opt_d.t == 1 and gan.opt_g.t == 1 and gan.step == 1


@pytest.mark.quality
def test_training_on_digits_improves_the_samples():
    """300 steps on the 8x8 digits from three seeds, measured before and after
    (tests/quality_runs.py)."""
    assert_quality(quality_runs.dcgan_digits)


def test_shapes_for_28x28():
    gan = DCGAN(data_shape=(1, 28, 28), latent_dim=10, width=4, seed=0)
    z = np.random.default_rng(0).standard_normal((5, 10)).astype(np.float32)
    shapes, x = [], z
    for layer in gan.G.layers:
        x, _ = layer.forward(x)
        shapes.append(tuple(x.shape[1:]))
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32
    assert [sh for sh in shapes if len(sh) == 3][::3] == [(8, 7, 7), (4, 14, 14), (1, 28, 28)]
    s, _ = gan.D.forward(x)
    assert s.shape == (5, 1)
    logs = gan.train_step(np.random.default_rng(1).uniform(-1, 1, (4, 1, 28, 28)).astype(np.float32))
    assert np.isfinite(logs["loss_d"])
    out = gan.sample(3, seed=0)
    assert out.shape == (3, 1, 28, 28) and np.all(np.abs(out) <= 1)
    # three layers: 32x32 from 4x4
    big = DCGAN(data_shape=(3, 32, 32), latent_dim=4, width=2, n_layers=3)
    assert big.sample(2).shape == (2, 3, 32, 32)
    assert big.G.layers[1].shape == (8, 4, 4)


def test_bad_input_is_named():
    gan = DCGAN(data_shape=(1, 8, 8), latent_dim=4, width=2)
    with pytest.raises(ValueError, match=r"expected a batch of shape \(N, 1, 8, 8\), got \(4, 64\)"):
        gan.train_step(np.zeros((4, 64), np.float32))
    with pytest.raises(ValueError, match=r"got \(4, 1, 28, 28\)"):
        gan.train_step(np.zeros((4, 1, 28, 28), np.float32))
    with pytest.raises(ValueError, match="at least 2 images"):
        gan.train_step(np.zeros((1, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="divisible by 2\\^n_layers = 4"):
        DCGAN(data_shape=(1, 10, 10))
    with pytest.raises(ValueError, match="divisible by 2\\^n_layers = 8"):
        DCGAN(data_shape=(1, 28, 28), n_layers=3)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        DCGAN(data_shape=(64,))
    with pytest.raises(ValueError, match="loss must be"):
        DCGAN(loss="hinge")
    with pytest.raises(ValueError, match="d_steps"):
        DCGAN(d_steps=0)


def test_config_rebuilds_and_state_dict_continues_identically():
    """``DCGAN(**config)`` + ``load_state_dict`` (parameters, Adam state, batch-norm running
    statistics, step) continues exactly like the original: what a resumed run relies on."""
    x = load_dataset("digits", split="train").images
    a = DCGAN(data_shape=(1, 8, 8), latent_dim=8, width=4, seed=3)
    for s in range(3):
        a.train_step(x[16 * s: 16 * s + 16])
    b = DCGAN(**a.config)
    assert b.name == "dcgan" and b.config == a.config
    state = a.state_dict()
    assert any(k.endswith("running_var") for k in state)
    b.load_state_dict(state)
    for s in range(3, 5):
        a.train_step(x[16 * s: 16 * s + 16])
        b.train_step(x[16 * s: 16 * s + 16])
    for (n, pa, _), (_, pb, _) in zip(_all_params(a), _all_params(b)):
        assert np.array_equal(pa, pb), n
    np.testing.assert_array_equal(a.sample(4, seed=1), b.sample(4, seed=1))


@pytest.mark.parametrize("shape, KH, s, p", [((64, 16, 4, 4), 4, 2, 1), ((8, 4, 7, 7), 4, 2, 1),
                                              ((2, 3, 14, 14), 3, 1, 1)])
def test_serial_and_parallel_kernels_agree_with_the_reference(shape, KH, s, p):
    """The DCGAN's layer shapes through both numba kernels (the dispatch picks by size)."""
    pytest.importorskip("numba")
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    ref = im2col_reference(x, KH, KH, s, p)
    c = np.random.default_rng(1).standard_normal(ref.shape).astype(np.float32)
    back = col2im_reference(c, shape, KH, KH, s, p)
    for parallel in (False, True):
        np.testing.assert_array_equal(im2col_numba(x, KH, KH, s, p, parallel=parallel), ref)
        np.testing.assert_allclose(col2im_numba(c, shape, KH, KH, s, p, parallel=parallel), back,
                                   rtol=1e-5, atol=1e-5)
