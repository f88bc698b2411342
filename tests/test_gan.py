"""The first GAN: its hand-derived losses checked by finite differences through both
networks, Algorithm 1's update order, and training that moves every parameter and
measurably improves the samples."""
import numpy as np
import pytest

import quality_runs
from quality_runs import assert_quality

from minigan.data import ring8
from minigan.gans.gan import GAN, step_rng
from minigan.gradcheck import check_scalar_function

from gan_losses import d_loss, g_loss, randomize_parameters


def small_gan(loss="nonsaturating", g_output="linear", data_shape=(3,), seed=0):
    gan = GAN(data_shape=data_shape, latent_dim=2, hidden=5, depth=2, g_output=g_output,
              loss=loss, seed=seed, dtype="float64")
    return randomize_parameters(gan, seed)


@pytest.mark.parametrize("g_output", ["linear", "tanh"])
@pytest.mark.parametrize("batch", [1, 4])
def test_discriminator_loss_gradient(g_output, batch):
    gan = small_gan(g_output=g_output)
    rng = np.random.default_rng(1)
    real, z = rng.standard_normal((batch, 3)), rng.standard_normal((batch, 2))
    gan.D.zero_grad()
    loss, _, _ = gan.d_loss_and_backward(real, z)
    assert loss == pytest.approx(d_loss(gan, real, z), rel=1e-12)
    params = {n: p for n, p, _ in gan.D.named_parameters()}
    grads = {n: g.copy() for n, _, g in gan.D.named_parameters()}
    report = check_scalar_function(lambda: d_loss(gan, real, z), params, grads)
    assert max(report.values()) < 1e-6, report


@pytest.mark.parametrize("loss", ["nonsaturating", "minimax"])
@pytest.mark.parametrize("batch", [1, 5])
def test_generator_loss_gradient(loss, batch):
    """G's gradient flows through D: checked w.r.t. every parameter of G."""
    gan = small_gan(loss=loss, g_output="tanh")
    z = np.random.default_rng(2).standard_normal((batch, 2))
    gan.G.zero_grad()
    value = gan.g_loss_and_backward(z)
    assert value == pytest.approx(g_loss(gan, z), rel=1e-12)
    params = {n: p for n, p, _ in gan.G.named_parameters()}
    grads = {n: g.copy() for n, _, g in gan.G.named_parameters()}
    report = check_scalar_function(lambda: g_loss(gan, z), params, grads)
    assert max(report.values()) < 1e-6, report


def test_minimax_and_nonsaturating_push_the_same_way_with_different_strength():
    """Both losses move G towards higher D(G(z)); the minimax gradient vanishes when D is
    confident (D(G(z)) ≈ 0), the non-saturating one does not (notebook 03)."""
    z = np.random.default_rng(3).standard_normal((1, 2))     # one sample: same direction
    grads = {}
    for loss in ("nonsaturating", "minimax"):
        gan = small_gan(loss=loss)
        gan.D.params["4.bias"][...] = -8.0           # D confidently says "fake": D(G(z)) ≈ 3e-4
        gan.G.zero_grad()
        gan.g_loss_and_backward(z)
        grads[loss] = gan.G.grads["4.weight"].copy()
    ns, mm = grads["nonsaturating"], grads["minimax"]
    assert np.all(np.sign(ns[np.abs(ns) > 1e-12]) == np.sign(mm[np.abs(ns) > 1e-12]))
    assert np.abs(ns).max() > 100 * np.abs(mm).max()


def test_train_step_moves_every_parameter_of_both_networks():
    gan = GAN(data_shape=(2,), latent_dim=2, hidden=16, depth=2, seed=0)
    before = {n: p.copy() for n, p, _ in gan.G.named_parameters("G.") + gan.D.named_parameters("D.")}
    batch = ring8().sample(64, rng=0)
    logs = gan.train_step(batch)
    for key in ("loss_d", "loss_g", "d_real", "d_fake"):
        assert np.isfinite(logs[key])
    after = {n: p for n, p, _ in gan.G.named_parameters("G.") + gan.D.named_parameters("D.")}
    assert len(before) == 12
    for n in before:
        assert not np.array_equal(before[n], after[n]), f"{n} did not move"
    # D's grads are cleared after G's pass through D, so nothing stale is left behind.
    assert all(np.all(g == 0) for _, _, g in gan.D.named_parameters())


def test_k_discriminator_steps_take_k_batches():
    gan = GAN(data_shape=(2,), hidden=8, d_steps=3, seed=0)
    batches = [ring8().sample(16, rng=i) for i in range(3)]
    gan.train_step(batches)
    assert gan.opt_d.t == 3 and gan.opt_g.t == 1
    gan.train_step(batches[0])                     # one batch: reused for the k D steps
    assert gan.opt_d.t == 6 and gan.opt_g.t == 2


@pytest.mark.quality
def test_training_improves_mode_metrics_and_moves_everything():
    """A short run on a looser ring, measured before and after, from three seeds (the bars and
    why a median: tests/quality_runs.py)."""
    assert_quality(quality_runs.gan_ring)


def test_noise_is_a_function_of_seed_and_step():
    a = step_rng(1, 5).standard_normal(3)
    assert np.array_equal(a, step_rng(1, 5).standard_normal(3))
    assert not np.array_equal(a, step_rng(1, 6).standard_normal(3))
    assert not np.array_equal(a, step_rng(2, 5).standard_normal(3))


def test_images_are_flattened_and_restored():
    gan = GAN(data_shape=(1, 8, 8), latent_dim=4, hidden=16, g_output="tanh", seed=0)
    x = np.random.default_rng(0).uniform(-1, 1, (8, 1, 8, 8)).astype(np.float32)
    gan.train_step(x)
    s = gan.sample(5)
    assert s.shape == (5, 1, 8, 8) and np.all(np.abs(s) <= 1)


def test_bad_input_is_named():
    gan = GAN(data_shape=(2,), hidden=8)
    with pytest.raises(ValueError, match=r"expected a batch of shape \(N, 2\), got \(4, 3\)"):
        gan.train_step(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="loss must be"):
        GAN(loss="hinge")
    with pytest.raises(ValueError, match="g_output"):
        GAN(g_output="relu")


def test_state_dict_round_trip_continues_identically():
    mixture = ring8(std=0.05)
    a = GAN(hidden=16, seed=3)
    for s in range(5):
        a.train_step(mixture.sample(32, rng=s))
    b = GAN(hidden=16, seed=3)
    b.load_state_dict(a.state_dict())
    for s in range(5, 8):
        batch = mixture.sample(32, rng=s)
        a.train_step(batch)
        b.train_step(batch)
    for (n, pa, _), (_, pb, _) in zip(a.G.named_parameters() + a.D.named_parameters(),
                                      b.G.named_parameters() + b.D.named_parameters()):
        assert np.array_equal(pa, pb), n
