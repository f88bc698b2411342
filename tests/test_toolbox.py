"""The stability toolbox switched on in the MLP GAN: each remedy's losses checked by finite
differences through both networks (written out independently of the model's code), every
training step moving every parameter with finite gradients, exact resume, clear errors."""
import numpy as np
import pytest

from minigan.data import ring8
from minigan.gans.gan import GAN
from minigan.gradcheck import check_scalar_function
from minigan.nn import MinibatchDiscrimination, SpectralNorm, Sequential, bce_with_logits

from gan_losses import randomize_parameters

REMEDIES = {
    "label smoothing": dict(label_smoothing=0.2),
    "feature matching": dict(feature_matching=True),
    "minibatch discrimination": dict(minibatch_kernels=3, minibatch_dim=2),
    "spectral norm": dict(spectral_norm=True),
    "pack 2": dict(pack=2),
    "pack 3 + SN + minibatch": dict(pack=3, spectral_norm=True, minibatch_kernels=2),
}


def small_gan(seed=0, **kw):
    gan = GAN(data_shape=(3,), latent_dim=2, hidden=5, depth=2, seed=seed, dtype="float64", **kw)
    gan = randomize_parameters(gan, seed)
    gan.D.eval()        # spectral norm: keep u fixed, so that the loss is a function of θ
    return gan


def packed(gan, x):
    return x.reshape(x.shape[0] // gan.pack, gan.pack * x.shape[1])


def d_loss(gan, real, z):
    """BCE(D(x), 1 − s) + BCE(D(G(z)), 0), with packing, written out."""
    s_real, _ = gan.D.forward(packed(gan, real))
    s_fake, _ = gan.D.forward(packed(gan, gan.G.forward(z)[0]))
    return (bce_with_logits(s_real, np.full_like(s_real, 1 - gan.label_smoothing))[0]
            + bce_with_logits(s_fake, np.zeros_like(s_fake))[0])


def g_loss(gan, z, real):
    """BCE(D(G(z)), 1), or ‖mean f(x) − mean f(G(z))‖² with f = D minus its last layer."""
    fake = gan.G.forward(z)[0]
    if gan.feature_matching:
        f = Sequential(*gan.D.layers[:-1])
        diff = f.forward(packed(gan, fake))[0].mean(0) - f.forward(packed(gan, real))[0].mean(0)
        return float((diff ** 2).sum())
    s, _ = gan.D.forward(packed(gan, fake))
    return bce_with_logits(s, np.ones_like(s))[0]


@pytest.mark.parametrize("name", list(REMEDIES))
@pytest.mark.parametrize("batch", [6, 12])
def test_discriminator_loss_gradient(name, batch):
    gan = small_gan(**REMEDIES[name])
    rng = np.random.default_rng(1)
    real, z = rng.standard_normal((batch, 3)), rng.standard_normal((batch, 2))
    gan.D.zero_grad()
    loss, _, _ = gan.d_loss_and_backward(real, z)
    assert loss == pytest.approx(d_loss(gan, real, z), rel=1e-12)
    params = {n: p for n, p, _ in gan.D.named_parameters()}
    grads = {n: g.copy() for n, _, g in gan.D.named_parameters()}
    report = check_scalar_function(lambda: d_loss(gan, real, z), params, grads)
    assert max(report.values()) < 1e-6, report


@pytest.mark.parametrize("name", list(REMEDIES))
@pytest.mark.parametrize("batch", [6, 12])
def test_generator_loss_gradient(name, batch):
    gan = small_gan(**REMEDIES[name])
    rng = np.random.default_rng(2)
    real, z = rng.standard_normal((batch, 3)), rng.standard_normal((batch, 2))
    gan.G.zero_grad()
    value = gan.g_loss_and_backward(z, real)
    assert value == pytest.approx(g_loss(gan, z, real), rel=1e-12)
    params = {n: p for n, p, _ in gan.G.named_parameters()}
    grads = {n: g.copy() for n, _, g in gan.G.named_parameters()}
    report = check_scalar_function(lambda: g_loss(gan, z, real), params, grads)
    assert max(report.values()) < 1e-6, report


def test_label_smoothing_is_one_sided():
    """Smoothing moves the real target only: the fake half of D's loss is unchanged."""
    rng = np.random.default_rng(3)
    real, z = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    plain, smooth = small_gan(), small_gan(label_smoothing=0.1)
    s_real = plain.D.forward(real)[0]
    t = 0.9
    expected_gap = (bce_with_logits(s_real, np.full_like(s_real, t))[0]
                    - bce_with_logits(s_real, np.ones_like(s_real))[0])
    assert smooth.d_loss_and_backward(real, z)[0] - plain.d_loss_and_backward(real, z)[0] \
        == pytest.approx(expected_gap, rel=1e-10)


def test_pack_joins_consecutive_samples():
    gan = small_gan(pack=2)
    x = np.arange(12.0).reshape(4, 3)
    s, _ = gan.discriminate(x)
    assert s.shape == (2, 1)
    assert np.allclose(s, gan.D.forward(np.concatenate([x[0::2], x[1::2]], axis=1))[0])


def test_discriminators_hold_the_remedies():
    gan = GAN(spectral_norm=True, minibatch_kernels=4, minibatch_dim=3, pack=2, hidden=8)
    kinds = [type(layer).__name__ for layer in gan.D.layers]
    assert kinds == ["SpectralNorm", "LeakyReLU", "SpectralNorm", "LeakyReLU",
                     "MinibatchDiscrimination", "SpectralNorm"]
    assert gan.D.layers[0].params["weight"].shape == (8, 4)          # 2 packed 2-D points
    assert isinstance(gan.D.layers[4], MinibatchDiscrimination)
    assert gan.D.layers[5].params["weight"].shape == (1, 8 + 4)
    assert all(isinstance(gan.D.layers[i], SpectralNorm) for i in (0, 2, 5))


def test_options_off_give_the_plain_gan_exactly():
    """The defaults build chapter 3's networks from the same random draws."""
    a = GAN(seed=3)
    b = GAN(seed=3, label_smoothing=0.0, pack=1, minibatch_kernels=0, spectral_norm=False)
    for (na, pa, _), (nb, pb, _) in zip(a.D.named_parameters(), b.D.named_parameters()):
        assert na == nb and np.array_equal(pa, pb)


@pytest.mark.parametrize("name", list(REMEDIES) + ["lr half-life"])
def test_every_step_moves_every_parameter_with_finite_gradients(name):
    kw = REMEDIES.get(name, dict(lr_half_life=2))
    gan = GAN(data_shape=(2,), latent_dim=2, hidden=16, depth=2, seed=0, **kw)
    data = ring8()
    nets = lambda: gan.G.named_parameters("G.") + gan.D.named_parameters("D.")
    for step in range(3):
        before = {n: p.copy() for n, p, _ in nets()}
        grads = {}
        step_d, step_g = gan.opt_d.step, gan.opt_g.step

        def record(net, fn, prefix):
            def wrapped():              # the gradients each optimiser step is given
                for n, _, g in net.named_parameters(prefix):
                    grads[n] = g.copy()
                fn()
            return wrapped
        gan.opt_d.step = record(gan.D, step_d, "D.")
        gan.opt_g.step = record(gan.G, step_g, "G.")
        logs = gan.train_step(data.sample(48, rng=step))
        gan.opt_d.step, gan.opt_g.step = step_d, step_g
        assert all(np.isfinite(v) for v in logs.values()), logs
        assert set(grads) == set(before)
        for n, p, _ in nets():
            assert np.all(np.isfinite(grads[n])), f"step {step}: {n} has a non-finite gradient"
            assert not np.array_equal(before[n], p), f"step {step}: {n} did not move"


def test_learning_rates_halve_every_half_life():
    gan = GAN(lr_g=1e-3, lr_d=2e-3, lr_half_life=4, hidden=8)
    data = ring8()
    for step in range(8):
        gan.train_step(data.sample(16, rng=step))
    assert gan.opt_g.lr == pytest.approx(1e-3 * 0.5 ** (7 / 4))
    assert gan.opt_d.lr == pytest.approx(2e-3 * 0.5 ** (7 / 4))


@pytest.mark.parametrize("name", ["spectral norm", "pack 3 + SN + minibatch", "feature matching"])
def test_state_dict_round_trip_continues_identically(name):
    kw = dict(REMEDIES[name], lr_half_life=5)
    data = ring8()
    a = GAN(hidden=8, seed=1, **kw)
    for step in range(3):
        a.train_step(data.sample(24, rng=step))
    b = GAN(hidden=8, seed=1, **kw)
    b.load_state_dict(a.state_dict())
    for step in range(3, 5):
        la, lb = a.train_step(data.sample(24, rng=step)), b.train_step(data.sample(24, rng=step))
        assert la == lb
    for (_, pa, _), (_, pb, _) in zip(a.D.named_parameters(), b.D.named_parameters()):
        assert np.array_equal(pa, pb)
    assert np.array_equal(a.D.layers[0].u, b.D.layers[0].u) if kw.get("spectral_norm") else True


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="label_smoothing"):
        GAN(label_smoothing=1.0)
    with pytest.raises(ValueError, match="pack"):
        GAN(pack=0)
    with pytest.raises(ValueError, match="minibatch_kernels"):
        GAN(minibatch_kernels=-1)
    with pytest.raises(ValueError, match="lr_half_life"):
        GAN(lr_half_life=-5)
    with pytest.raises(ValueError, match="d_depth"):
        GAN(feature_matching=True, d_depth=0)
    gan = GAN(pack=4, hidden=8)
    with pytest.raises(ValueError, match="multiple of 4"):
        gan.train_step(ring8().sample(10, rng=0))
