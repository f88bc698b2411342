"""WGAN and WGAN-GP: the whole critic objective (loss + penalty) and G's loss checked by finite
differences in float64 against every parameter, Algorithm 1's update order (n_critic steps,
clipping), training that moves every parameter, exact resume, and a short run that measurably
improves the samples."""
import numpy as np
import pytest

import quality_runs
from quality_runs import assert_quality

from minigan import backend
from minigan.data import ring8
from minigan.gans.wgan import WGAN, WGANGP
from minigan.gradcheck import numerical_gradient, rel_error

from gan_losses import randomize_parameters

SEED = 7          # the generator of ε, re-created for every evaluation: the same x̂ each time


def small(cls=WGANGP, act="tanh", data_shape=(3,), **kw):
    model = cls(data_shape=data_shape, latent_dim=2, hidden=5, depth=2, g_output="tanh",
                critic_activation=act, seed=0, dtype="float64", **kw)
    return randomize_parameters(model, 0)


def critic_objective(model, real, z):
    """mean f(G(z)) − mean f(x) + penalty, written independently of wgan.py and penalty.py:
    ∇ₓf by the critic's first-order backward pass, ε drawn as gradient_penalty draws it."""
    fake, _ = model.G.forward(z)
    value = model.D.forward(fake)[0].mean() - model.D.forward(real)[0].mean()
    saved = {n: g.copy() for n, _, g in model.D.named_parameters()}

    def input_grad(x):
        y, cache = model.D.forward(x)
        return model.D.backward(np.ones_like(y), cache)

    if isinstance(model, WGANGP):
        if model.penalty == "gp":
            eps = np.random.default_rng(SEED).random((real.shape[0], 1))
            g = input_grad(eps * real + (1 - eps) * fake)
            value += model.lam * np.mean((np.linalg.norm(g, axis=1) - 1) ** 2)
        else:
            g = input_grad(real)
            value += model.gamma / 2 * np.mean(np.sum(g ** 2, axis=1))
    for n, _, g in model.D.named_parameters():
        g[...] = saved[n]
    return float(value)


def g_objective(model, z):
    return float(-model.D.forward(model.G.forward(z)[0])[0].mean())


def assert_gradients(f, params, analytic, tol=1e-6):
    """The hand gradient of every parameter against central differences of f; where both are
    ~0 (a relative error means nothing) the difference must be at finite-difference noise level."""
    report = {}
    for name, p in params.items():
        numeric = numerical_gradient(f, p)
        err = rel_error(analytic[name], numeric)
        if err >= tol and np.max(np.abs(analytic[name] - numeric)) < 1e-9:
            err = 0.0                                   # both ~0: finite-difference noise
        report[name] = err
    assert set(report) == set(params) and max(report.values()) < tol, report


def every_param(model):
    return model.G.named_parameters("G.") + model.D.named_parameters("D.")


@pytest.mark.parametrize("act", ["tanh", "softplus", "leakyrelu"])
@pytest.mark.parametrize("penalty,batch", [("gp", 1), ("gp", 4), ("r1", 3)])
def test_whole_critic_objective_gradient(act, penalty, batch):
    """Loss and penalty together, w.r.t. every critic parameter (smooth critics: σ'' matters)."""
    model = small(act=act, penalty=penalty, lam=10.0, gamma=3.0)
    rng = np.random.default_rng(1)
    real, z = rng.standard_normal((batch, 3)), rng.standard_normal((batch, 2))

    def f():
        return model.critic_loss_and_backward(real, z, np.random.default_rng(SEED))[0]

    model.D.zero_grad()
    loss, w_est, pen, _ = model.critic_loss_and_backward(real, z, np.random.default_rng(SEED))
    assert pen > 0 and loss == pytest.approx(pen - w_est, rel=1e-12)
    assert loss == pytest.approx(critic_objective(model, real, z), rel=1e-10)
    analytic = {n: g.copy() for n, _, g in model.D.named_parameters()}
    params = {n: p for n, p, _ in model.D.named_parameters()}
    assert_gradients(lambda: critic_objective(model, real, z), params, analytic)
    assert "4.bias" not in params     # f is defined up to a constant: no output bias


def test_layer_norm_critic_objective_gradient():
    model = small(act="tanh", layer_norm=True)
    rng = np.random.default_rng(2)
    real, z = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    model.D.zero_grad()
    model.critic_loss_and_backward(real, z, np.random.default_rng(SEED))
    analytic = {n: g.copy() for n, _, g in model.D.named_parameters()}
    params = {n: p for n, p, _ in model.D.named_parameters()}
    assert any("LayerNorm" in type(layer).__name__ for layer in model.D.layers)
    assert_gradients(lambda: critic_objective(model, real, z), params, analytic)


@pytest.mark.parametrize("cls", [WGAN, WGANGP])
@pytest.mark.parametrize("batch", [1, 5])
def test_generator_loss_gradient(cls, batch):
    """−mean f(G(z)), through the critic, w.r.t. every parameter of G."""
    model = small(cls)
    z = np.random.default_rng(3).standard_normal((batch, 2))
    model.G.zero_grad()
    value = model.g_loss_and_backward(z)
    assert value == pytest.approx(g_objective(model, z), rel=1e-12)
    params = {n: p for n, p, _ in model.G.named_parameters()}
    grads = {n: g.copy() for n, _, g in model.G.named_parameters()}
    assert_gradients(lambda: g_objective(model, z), params, grads)


def test_wgan_gp_every_step_moves_every_parameter_with_finite_gradients():
    model = WGANGP(hidden=16, depth=2, seed=0)
    mixture = ring8(std=0.05)
    assert model.name == "wgan-gp" and len(every_param(model)) == 11
    for step in range(4):
        before = {n: p.copy() for n, p, _ in every_param(model)}
        logs = model.train_step([mixture.sample(32, rng=10 * step + i) for i in range(5)])
        assert set(logs) == {"loss_d", "loss_g", "wasserstein", "penalty", "grad_norm"}
        assert all(isinstance(v, float) and np.isfinite(v) for v in logs.values()), logs
        assert logs["penalty"] > 0 and logs["loss_d"] == pytest.approx(
            logs["penalty"] - logs["wasserstein"], rel=1e-5, abs=1e-6)
        for n, p, g in every_param(model):
            assert np.all(np.isfinite(p)), n
            assert not np.array_equal(before[n], p), f"{n} did not move at step {step}"
        assert all(np.all(g == 0) for _, _, g in model.D.named_parameters())
    assert model.opt_d.t == 20 and model.opt_g.t == 4


def test_wgan_every_step_moves_every_parameter_and_clipping_holds():
    """With clipping, an entry pinned at ±c whose update points outwards is clipped back and does
    not move: so every critic parameter is asserted to move in the update BEFORE clipping, and
    after it to have moved unless all of it sits at the bound. A tanh critic: with clipped
    weights a LeakyReLU critic is often linear over the whole batch (one activation pattern),
    and then its last hidden bias gets −mean + mean of the same constant: exactly 0, no update."""
    model = WGAN(hidden=16, depth=2, critic_activation="tanh", seed=0)
    c = model.clip
    seen = []                                    # critic parameters just before each clipping

    original = model.clip_weights

    def recording_clip():
        seen.append({n: p.copy() for n, p, _ in model.D.named_parameters()})
        original()
    model.clip_weights = recording_clip

    mixture = ring8(std=0.05)
    for step in range(4):
        before = {n: p.copy() for n, p, _ in every_param(model)}
        logs = model.train_step([mixture.sample(32, rng=10 * step + i) for i in range(5)])
        assert all(isinstance(v, float) and np.isfinite(v) for v in logs.values()), logs
        assert logs["penalty"] == 0.0 and logs["loss_d"] == pytest.approx(-logs["wasserstein"])
        assert len(seen) == 5 * (step + 1)
        for n, p, _ in model.D.named_parameters():
            old, bound = before["D." + n], p.dtype.type(c)
            assert np.all(np.abs(p) <= bound), f"D.{n} escapes [-c, c]"      # clipping holds
            pre = seen[-5][n]                # after this step's first update, before its clip
            assert not np.array_equal(pre, old), f"D.{n}: no update at step {step}"
            pinned = np.abs(p) == bound      # at ±c: may have been clipped back where it was
            assert np.any(p != old) or np.all(pinned), f"D.{n} did not move at step {step}"
        for n, p, _ in model.G.named_parameters("G."):
            assert np.all(np.isfinite(p)) and not np.array_equal(before[n], p), n
    assert model.opt_d.t == 20 and model.opt_g.t == 4
    assert any(np.any(np.abs(p) < p.dtype.type(c)) for _, p, _ in model.D.named_parameters())


def test_gradients_are_finite_after_each_pass():
    for model in (WGAN(hidden=8, depth=2, seed=1), WGANGP(hidden=8, depth=2, seed=1)):
        real = ring8().sample(16, rng=0).astype(np.float32)
        z = model.noise(16, np.random.default_rng(0))
        model.D.zero_grad()
        model.critic_loss_and_backward(real, z, np.random.default_rng(0))
        assert all(np.all(np.isfinite(g)) and np.any(g != 0) for _, _, g in model.D.named_parameters())
        model.G.zero_grad()
        model.g_loss_and_backward(z)
        assert all(np.all(np.isfinite(g)) and np.any(g != 0) for _, _, g in model.G.named_parameters())


def test_n_critic_steps_take_their_own_batches():
    model = WGAN(hidden=8, depth=1, n_critic=3, seed=0)
    batches = [ring8().sample(16, rng=i) for i in range(3)]
    model.train_step(batches)
    assert model.opt_d.t == 3 and model.opt_g.t == 1
    model.train_step(batches[0])                 # one batch: reused n_critic times
    assert model.opt_d.t == 6 and model.opt_g.t == 2


@pytest.mark.parametrize("cls", [WGAN, WGANGP])
def test_state_dict_round_trip_continues_identically(cls):
    mixture = ring8(std=0.05)
    a = cls(hidden=16, depth=2, seed=3)
    for s in range(3):
        a.train_step(mixture.sample(32, rng=s))
    b = cls(**a.config)
    b.load_state_dict(a.state_dict())
    for s in range(3, 5):
        batch = mixture.sample(32, rng=s)
        la, lb = a.train_step(batch), b.train_step(batch)
        assert la == lb
    for (n, pa, _), (_, pb, _) in zip(every_param(a), every_param(b)):
        assert np.array_equal(pa, pb), n


def test_images_mlp_and_conv():
    x = np.random.default_rng(0).uniform(-1, 1, (8, 1, 8, 8)).astype(np.float32)
    for model in (WGANGP(data_shape=(1, 8, 8), latent_dim=4, hidden=16, depth=1, g_output="tanh"),
                  WGANGP(data_shape=(1, 8, 8), latent_dim=4, arch="conv", width=4, layer_norm=True),
                  WGAN(data_shape=(1, 8, 8), latent_dim=4, arch="conv", width=4)):
        logs = model.train_step(x)
        assert all(np.isfinite(v) for v in logs.values())
        s = model.sample(5)
        assert s.shape == (5, 1, 8, 8) and np.all(np.abs(s) <= 1)
    assert not any("BatchNorm" in type(layer).__name__ for layer in model.D.layers)


def test_conv_critic_objective_gradient():
    model = WGANGP(data_shape=(1, 4, 4), latent_dim=2, arch="conv", width=2, n_layers=1,
                   critic_activation="softplus", seed=0, dtype="float64")
    rng = np.random.default_rng(4)
    for _, p, _ in model.D.named_parameters():
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    real, fake = rng.standard_normal((3, 1, 4, 4)), rng.standard_normal((3, 1, 4, 4))
    # G is not differentiated here: the critic objective at fixed fakes (x̃ = G(z) is data to D)
    model.G.forward = lambda z: (backend.asarray(fake), None)     # where G's output would be
    z = np.zeros((3, 2))

    def objective():
        eps = np.random.default_rng(SEED).random((3, 1, 1, 1))
        x_hat = eps * real + (1 - eps) * fake
        y, cache = model.D.forward(x_hat)
        saved = {n: g.copy() for n, _, g in model.D.named_parameters()}
        g = model.D.backward(np.ones_like(y), cache)
        for n, _, gr in model.D.named_parameters():
            gr[...] = saved[n]
        norms = np.sqrt((g.reshape(3, -1) ** 2).sum(axis=1))
        return float(model.D.forward(fake)[0].mean() - model.D.forward(real)[0].mean()
                     + 10 * np.mean((norms - 1) ** 2))

    model.D.zero_grad()
    loss = model.critic_loss_and_backward(real, z, np.random.default_rng(SEED))[0]
    assert loss == pytest.approx(objective(), rel=1e-10)
    analytic = {n: g.copy() for n, _, g in model.D.named_parameters()}
    params = {n: p for n, p, _ in model.D.named_parameters()}
    assert_gradients(objective, params, analytic)


@pytest.mark.quality
def test_training_improves_mode_metrics():
    """A short WGAN-GP run on a looser ring, from three seeds: measurably better, not done
    (tests/quality_runs.py)."""
    assert_quality(quality_runs.wgan_gp_ring)


def test_bad_input_is_named():
    model = WGANGP(data_shape=(2,), hidden=8)
    with pytest.raises(ValueError, match=r"expected a batch of shape \(N, 2\), got \(4, 3\)"):
        model.train_step(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="expected a batch"):
        model.train_step([np.zeros((4, 2), np.float32), "not an array"])
    with pytest.raises(ValueError, match="penalty must be"):
        WGANGP(penalty="l2")
    with pytest.raises(ValueError, match="n_critic"):
        WGAN(n_critic=0)
    with pytest.raises(ValueError, match="clip"):
        WGAN(clip=0)
    with pytest.raises(ValueError, match="arch"):
        WGAN(arch="resnet")
    with pytest.raises(ValueError, match="critic_activation"):
        WGANGP(critic_activation="sigmoid-ish")
    with pytest.raises(ValueError, match="divisible"):
        WGANGP(data_shape=(1, 6, 6), arch="conv", n_layers=2)
    with pytest.raises(ValueError, match="empty"):
        WGAN().train_step([])
