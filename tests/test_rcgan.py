"""RGAN / RCGAN on sine waves: the data, the (f, A) estimator, the hand-derived gradients of
both losses (checked by finite differences against losses written out here, with an LSTM of
our own), training that moves every parameter and improves the samples, exact resume."""
import numpy as np
import pytest

import quality_runs
from quality_runs import assert_quality

from minigan.data.sines import (AMP_RANGE, FREQ_RANGE, SEQ_LEN, SineDataset, fit_sines,
                                sine_report, sine_waves, wasserstein_1d)
from minigan.gans.rcgan import RCGAN, RecurrentNet
from minigan.gradcheck import check_layer, check_scalar_function
from minigan.train import fit


# --- the data -----------------------------------------------------------------------------
def test_sine_waves_shapes_ranges_and_formula():
    x, p = sine_waves(500, seed=3, return_params=True)
    assert x.shape == (500, SEQ_LEN, 1) and x.dtype == np.float32
    assert FREQ_RANGE[0] <= p["freq"].min() and p["freq"].max() <= FREQ_RANGE[1]
    assert AMP_RANGE[0] <= p["amp"].min() and p["amp"].max() <= AMP_RANGE[1]
    assert -np.pi <= p["phase"].min() and p["phase"].max() <= np.pi
    assert p["freq"].max() - p["freq"].min() > 3.5          # the whole range is used
    assert np.all(np.abs(x[:, :, 0]) <= p["amp"][:, None] + 1e-6)
    t = np.arange(1, SEQ_LEN + 1)                            # t = 1..T, f cycles per sequence
    n = 7
    expect = p["amp"][n] * np.sin(2 * np.pi * p["freq"][n] * t / SEQ_LEN + p["phase"][n])
    np.testing.assert_allclose(x[n, :, 0], expect, atol=1e-6)


def test_sine_waves_are_deterministic_in_the_seed():
    a, b, c = sine_waves(50, seed=1), sine_waves(50, seed=1), sine_waves(50, seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert sine_waves(0).shape == (0, SEQ_LEN, 1)
    with pytest.raises(ValueError, match="n must be"):
        sine_waves(-1)
    with pytest.raises(ValueError, match="freq_range"):
        sine_waves(5, freq_range=(5, 1))


def test_sine_dataset_loader_batches_are_a_pure_function_of_the_step():
    ds = SineDataset(100, seed=0)
    loader = ds.loader(16, seed=4, with_freq=True)
    x, f = loader.batch_at(9)
    assert x.shape == (16, SEQ_LEN, 1) and f.shape == (16,) and f.dtype == np.float32
    x2, f2 = ds.loader(16, seed=4, with_freq=True).batch_at(9)
    assert np.array_equal(x, x2) and np.array_equal(f, f2)
    rows = [np.flatnonzero((ds.sequences == xi).all(axis=(1, 2)))[0] for xi in x]
    np.testing.assert_allclose(f, ds.freq[rows], rtol=1e-6)     # each label is its sequence's
    assert ds.loader(16).batch_at(0).shape == (16, SEQ_LEN, 1)


# --- the measurement ----------------------------------------------------------------------
@pytest.mark.parametrize("T", [30, 17])
def test_fit_sines_recovers_known_sines(T):
    rng = np.random.default_rng(0)
    freq = np.concatenate([[1.0, 5.0, 2.5], rng.uniform(0.8, 6.0, 60)])
    amp = np.concatenate([[0.1, 0.9, 0.5], rng.uniform(0.05, 2.0, 60)])
    phase = rng.uniform(-np.pi, np.pi, freq.size)
    t = np.arange(1, T + 1)
    x = amp[:, None] * np.sin(2 * np.pi * freq[:, None] * t / T + phase[:, None])
    fitted = fit_sines(x)                                        # (N, T) works as (N, T, 1)
    np.testing.assert_allclose(fitted["freq"], freq, atol=2e-6)
    np.testing.assert_allclose(fitted["amp"], amp, atol=1e-5 * max(1, amp.max()))
    dphase = np.angle(np.exp(1j * (fitted["phase"] - phase)))
    assert np.abs(dphase).max() < 1e-3
    assert fitted["resid"].max() < 1e-5
    # float32 data of the dataset itself, (N, T, 1)
    xs, p = sine_waves(200, seed=5, return_params=True)
    f32 = fit_sines(xs)
    assert np.abs(f32["freq"] - p["freq"]).max() < 1e-4
    assert np.abs(f32["amp"] - p["amp"]).max() < 1e-4


def test_fit_sines_residual_measures_how_sine_like_a_sequence_is():
    t = np.arange(1, 31)
    clean = 0.5 * np.sin(2 * np.pi * 2 * t / 30)
    noise = np.random.default_rng(1).standard_normal((3, 30))
    fitted = fit_sines(np.stack([clean, clean + 0.05 * noise[0], noise[1]]))
    assert fitted["resid"][0] < 1e-9
    assert 0.02 < fitted["resid"][1] < 0.06                      # about the noise's RMS
    assert fitted["resid"][2] > 0.5
    assert abs(fitted["freq"][1] - 2) < 0.05 and abs(fitted["amp"][1] - 0.5) < 0.05
    with pytest.raises(ValueError, match="shape"):
        fit_sines(np.zeros((4, 30, 2)))
    with pytest.raises(ValueError, match="NaN"):
        fit_sines(np.full((1, 30), np.nan))


def test_wasserstein_1d():
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal(100), rng.uniform(size=100)
    assert wasserstein_1d(u, v) == pytest.approx(np.abs(np.sort(u) - np.sort(v)).mean())
    assert wasserstein_1d(u, v) == pytest.approx(wasserstein_1d(v, u))
    assert wasserstein_1d(u, u + 0.3) == pytest.approx(0.3)
    assert wasserstein_1d(u, u) == 0
    assert wasserstein_1d([0.0, 1.0], [0.5]) == pytest.approx(0.5)          # unequal sizes
    assert wasserstein_1d([0.0, 0.0, 1.0], [1.0]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        wasserstein_1d([], [1.0])


def test_sine_report_real_against_real_is_near_zero_and_noise_is_not():
    real, other = sine_waves(1000, seed=0), sine_waves(1000, seed=1)
    floor = sine_report(other, real)
    assert floor["w1_freq"] < 0.1 and floor["w1_amp"] < 0.03
    assert floor["resid"] < 1e-4 and floor["rel_resid"] < 1e-4
    noise = np.random.default_rng(0).standard_normal((500, 30, 1)).astype(np.float32) * 0.4
    bad = sine_report(noise, real)
    assert bad["w1_freq"] > 5 * floor["w1_freq"] and bad["rel_resid"] > 0.5
    _, p = sine_waves(1000, seed=1, return_params=True)
    assert sine_report(other, real, freq_asked=p["freq"])["freq_err"] < 1e-4
    with pytest.raises(ValueError, match="asked"):
        sine_report(other, real, freq_asked=p["freq"][:5])


# --- the losses, written out independently (our own LSTM, torch gate order i, f, g, o) --------
def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _net(module, x, tanh_out):
    """LSTM (one layer, zero initial state) -> Linear at every step [-> tanh]:
    (N, T, I) -> (N, T, O)."""
    p = {n: v for n, v, _ in module.named_parameters()}
    W_ih, W_hh = p["lstm.weight_ih_l0"], p["lstm.weight_hh_l0"]
    b = p["lstm.bias_ih_l0"] + p["lstm.bias_hh_l0"]
    N, T, _ = x.shape
    H = W_hh.shape[1]
    h, c, hs = np.zeros((N, H)), np.zeros((N, H)), []
    for t in range(T):
        a = x[:, t] @ W_ih.T + h @ W_hh.T + b
        i, f, g, o = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), \
            _sigmoid(a[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
    y = np.stack(hs, axis=1) @ p["out.weight"].T + p["out.bias"]
    return np.tanh(y) if tanh_out else y


def _bce(s, target):
    return float(np.mean(np.maximum(s, 0) - s * target + np.log1p(np.exp(-np.abs(s)))))


def _cat(u, c):
    if c is None:
        return u
    return np.concatenate([u, np.broadcast_to(c[:, None, None], u.shape[:2] + (1,))], axis=2)


def d_loss(m, real, c, z):
    """mean BCE(D(x | c)_t, 1) + mean BCE(D(G(z | c) | c)_t, 0) over all n, t."""
    fake = _net(m.G, _cat(z, c), m.config["g_output"] == "tanh")
    return _bce(_net(m.D, _cat(real, c), False), 1) + _bce(_net(m.D, _cat(fake, c), False), 0)


def g_loss(m, z, c):
    """mean BCE(D(G(z | c) | c)_t, 1) over all n, t (non-saturating)."""
    fake = _net(m.G, _cat(z, c), m.config["g_output"] == "tanh")
    return _bce(_net(m.D, _cat(fake, c), False), 1)


def small_rcgan(conditional, g_output="tanh", seed=0):
    m = RCGAN(seq_len=6, latent_dim=2, hidden=3, d_hidden=4, conditional=conditional,
              g_output=g_output, seed=seed, dtype="float64")
    rng = np.random.default_rng(seed + 100)
    for net in (m.G, m.D):                  # non-zero, non-symmetric: zeros hide bugs
        for _, p, _ in net.named_parameters():
            p[...] = rng.uniform(-0.9, 0.9, p.shape)
    return m


def _inputs(m, batch, seed=1):
    rng = np.random.default_rng(seed)
    real = rng.uniform(-0.9, 0.9, (batch, m.seq_len, 1))
    z = rng.standard_normal((batch, m.seq_len, m.latent_dim))
    c = m.normalise_cond(rng.uniform(1, 5, batch)) if m.conditional else None
    return real, z, c


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("batch", [1, 3])
def test_discriminator_loss_gradient(conditional, batch):
    m = small_rcgan(conditional)
    real, z, c = _inputs(m, batch)
    m.D.zero_grad()
    loss, _, _ = m.d_loss_and_backward(real, c, z)
    assert loss == pytest.approx(d_loss(m, real, c, z), rel=1e-12)
    params = {n: p for n, p, _ in m.D.named_parameters()}
    grads = {n: g.copy() for n, _, g in m.D.named_parameters()}
    assert len(params) == 6 and all(np.abs(g).max() > 0 for g in grads.values())
    report = check_scalar_function(lambda: d_loss(m, real, c, z), params, grads)
    assert max(report.values()) < 1e-6, report


@pytest.mark.parametrize("conditional,g_output", [(False, "tanh"), (True, "tanh"),
                                                  (True, "linear")])
@pytest.mark.parametrize("batch", [1, 5])
def test_generator_loss_gradient(conditional, g_output, batch):
    """G's gradient flows through D's per-step logits and D's LSTM into G's LSTM."""
    m = small_rcgan(conditional, g_output)
    _, z, c = _inputs(m, batch, seed=2)
    m.G.zero_grad()
    value = m.g_loss_and_backward(z, c)
    assert value == pytest.approx(g_loss(m, z, c), rel=1e-12)
    params = {n: p for n, p, _ in m.G.named_parameters()}
    grads = {n: g.copy() for n, _, g in m.G.named_parameters()}
    assert len(params) == 6
    report = check_scalar_function(lambda: g_loss(m, z, c), params, grads)
    assert max(report.values()) < 1e-6, report


@pytest.mark.parametrize("out_activation,num_layers", [(None, 1), ("tanh", 2)])
def test_recurrent_net_backward(out_activation, num_layers):
    net = RecurrentNet(3, 4, 2, num_layers=num_layers, out_activation=out_activation,
                       rng=np.random.default_rng(0), dtype="float64")
    x = np.random.default_rng(1).standard_normal((3, 5, 3))
    report = check_layer(net, x, seed=2)
    assert max(report.values()) < 1e-6, report
    with pytest.raises(ValueError, match="dy"):
        net.backward(np.zeros((3, 5, 1)), net.forward(x)[1])


# --- training -----------------------------------------------------------------------------
@pytest.mark.parametrize("conditional", [False, True])
def test_train_step_moves_every_parameter_of_both_networks(conditional):
    m = RCGAN(hidden=8, conditional=conditional, seed=0)
    batch = SineDataset(64, seed=0).loader(32, with_freq=conditional).batch_at(0)
    names = m.G.named_parameters("G.") + m.D.named_parameters("D.")
    before = {n: p.copy() for n, p, _ in names}
    logs = m.train_step(batch)
    assert set(logs) == {"loss_d", "loss_g", "d_real", "d_fake"}
    assert all(np.isfinite(v) for v in logs.values())
    for n, p, _ in m.G.named_parameters("G.") + m.D.named_parameters("D."):
        assert np.all(np.isfinite(p)), n
        assert not np.array_equal(before[n], p), f"{n} did not move"
    assert len(before) == 12
    assert all(np.all(g == 0) for _, _, g in m.D.named_parameters())   # no stale G pass


def test_d_steps_update_d_several_times():
    batch = SineDataset(64, seed=0).loader(16).batch_at(0)
    one, three = RCGAN(hidden=4, seed=0), RCGAN(hidden=4, d_steps=3, seed=0)
    one.train_step(batch)
    three.train_step(batch)
    assert one.opt_d.t == 1 and three.opt_d.t == 3 and three.opt_g.t == 1


@pytest.mark.parametrize("conditional", [False, True])
def test_fit_resume_continues_exactly(tmp_path, conditional):
    """train.fit for 3 steps, a checkpoint, resume to 6 = 6 steps without a break."""
    loader = SineDataset(200, seed=0).loader(16, with_freq=conditional)

    def make():
        return RCGAN(hidden=6, conditional=conditional, seed=3)

    straight = make()
    fit(straight, loader.batch_at, 6, progress=False)
    first = make()
    fit(first, loader.batch_at, 3, out=str(tmp_path), progress=False)
    resumed = make()
    fit(resumed, loader.batch_at, 6, out=str(tmp_path), resume=True, progress=False)
    assert resumed.step == 6
    for k, v in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[k], v, err_msg=k)
    assert np.array_equal(straight.sample(4, seed=1), resumed.sample(4, seed=1))


def test_state_dict_round_trip():
    loader = SineDataset(100, seed=0).loader(8)
    a = RCGAN(hidden=5, seed=0)
    for s in range(2):
        a.train_step(loader.batch_at(s))
    b = RCGAN(hidden=5, seed=0)          # same config (the seed drives the noise), other state
    b.train_step(loader.batch_at(7))
    assert not np.array_equal(b.G.out.params["weight"], a.G.out.params["weight"])
    b.load_state_dict(a.state_dict())
    assert b.step == 2
    for s in range(2, 4):
        a.train_step(loader.batch_at(s))
        b.train_step(loader.batch_at(s))
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v, err_msg=k)


def test_sample_shapes_seeds_and_conditions():
    m = RCGAN(hidden=4, conditional=True, seed=0)
    x, f = m.sample(7, seed=2, return_cond=True)
    assert x.shape == (7, SEQ_LEN, 1) and f.shape == (7,)
    assert np.all((1 <= f) & (f <= 5)) and np.all(np.abs(x) <= 1)
    assert np.array_equal(x, m.sample(7, seed=2))
    assert not np.array_equal(x, m.sample(7, seed=3))
    asked = np.linspace(1, 5, 7)
    xa, fa = m.sample(7, seed=2, cond=asked, return_cond=True)
    assert np.array_equal(fa, asked) and not np.array_equal(xa, x)
    u = RCGAN(hidden=4, g_output="linear", seed=0)
    assert u.sample(3).shape == (3, SEQ_LEN, 1)
    with pytest.raises(ValueError, match="unconditional"):
        u.sample(3, cond=np.ones(3))
    with pytest.raises(ValueError, match="shape"):
        m.sample(3, cond=np.ones(4))


def test_clear_errors_for_wrong_batches():
    u, c = RCGAN(hidden=4), RCGAN(hidden=4, conditional=True)
    x = sine_waves(8)
    f = np.full(8, 2.0)
    with pytest.raises(ValueError, match=r"x\[\.\.\., None\]"):
        u.train_step(x[:, :, 0])
    with pytest.raises(ValueError, match=r"\(N, 30, 1\)"):
        u.train_step(x[:, :29])
    with pytest.raises(ValueError, match="unconditional"):
        u.train_step((x, f))
    with pytest.raises(ValueError, match="with_freq=True"):
        c.train_step(x)
    with pytest.raises(ValueError, match=r"shape \(8,\)"):
        c.train_step((x, f[:5]))
    with pytest.raises(ValueError, match="NaN"):
        c.train_step((x, np.full(8, np.nan)))
    with pytest.raises(ValueError, match="floating-point"):
        u.train_step(np.zeros((8, 30, 1), dtype=np.int64))
    with pytest.raises(ValueError, match="g_output"):
        RCGAN(g_output="sigmoid")
    with pytest.raises(ValueError, match="hidden"):
        RCGAN(hidden=0)
    assert u.step == 0 and c.step == 0


@pytest.mark.quality
@pytest.mark.parametrize("run", [quality_runs.rgan_sines, quality_runs.rcgan_sines],
                         ids=["rgan", "rcgan"])
def test_short_training_brings_frequencies_and_amplitudes_closer_to_the_data(run):
    """600 steps from three seeds: the fitted frequencies and amplitudes move towards the
    data's, and RCGAN's frequency error falls (tests/quality_runs.py)."""
    assert_quality(run)
