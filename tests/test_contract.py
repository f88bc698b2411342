"""The model contract (minigan/gans/base.py) and the three switches that act on any model's
parameters or samples (minigan/gans/toolbox.py): every model builds through the contract,
declares its batches, refuses the switches that do not apply to it by name; the historical
average's gradient by finite differences, the running mean, the EMA and the sample pool
exactly as documented; and a resumed run with any switch on continues exactly."""
import numpy as np
import pytest

from test_every_step import CASES, PLAIN, SWITCH_ON, _batches, _pretraining_steps

from minigan import backend
from minigan.gans import MODELS, SWITCHES, GANModel, get_model_class
from minigan.gans.base import GENERAL_SWITCHES
from minigan.gans.toolbox import EMA, HistoricalAverage, SampleHistory
from minigan.gradcheck import check_scalar_function
from minigan.nn import Linear
from minigan.nn.module import StateDictError


def _small(model, **switches):
    name, kw, batch = CASES[PLAIN.get(model, model)]
    return get_model_class(name)(seed=0, **kw, **switches), batch


# --- the contract ------------------------------------------------------------------------
@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_builds_through_the_contract(model):
    """Built with its defaults: a GANModel whose config has every switch that applies (and
    seed, dtype), rebuilds it exactly, and declares its batches."""
    m = get_model_class(model)()
    assert isinstance(m, GANModel) and m.name == model and m.step == 0
    assert set(m.toolbox) <= set(SWITCHES) and set(GENERAL_SWITCHES) <= set(m.toolbox)
    for switch in m.toolbox:
        assert m.config[switch] == SWITCHES[switch][0] == getattr(m, switch)
    assert m.config["seed"] == 0 and m.config["dtype"] == "float32"
    again = type(m)(**m.config)
    a, b = m.state_dict(), again.state_dict()
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert isinstance(m.batches_per_step, int) and m.batches_per_step >= 1
    # a batch is a pair for the class-conditional models and pix2pix (rcgan: off by default)
    assert m.conditional == (model in ("cgan", "cdcgan", "pix2pix", "text2image"))
    assert m.ema_g is m.average_g is m.average_d is m.history is None   # switches off


@pytest.mark.parametrize("model", sorted(MODELS))
def test_switches_that_do_not_apply_are_refused_by_name(model):
    cls = get_model_class(model)
    for switch in set(SWITCHES) - set(cls.toolbox):
        with pytest.raises(ValueError, match=f"the switch {switch}=.* does not apply to "
                                             f"{model}: .*its switches: "):
            cls(**{switch: SWITCH_ON[switch]})
        cls(**{switch: SWITCHES[switch][0]})            # off is always accepted
    with pytest.raises(ValueError, match="unknown argument 'hiden'; the toolbox switches are"):
        cls(hiden=3)


@pytest.mark.parametrize("switch, bad", [("ema", 1.0), ("ema", -0.1), ("sample_history", 2.5),
                                         ("sample_history", -1), ("historical_averaging", -1),
                                         ("historical_averaging", float("nan")), ("pack", True)])
def test_bad_switch_values_are_named(switch, bad):
    with pytest.raises(ValueError, match=f"GAN: {switch} must be"):
        get_model_class("gan")(**{switch: bad})


@pytest.mark.parametrize("model, k", [("gan", 1), ("wgan", 5), ("wgan-gp", 5), ("rcgan", 1),
                                      ("seqgan", 1), ("cgan", 1)])
def test_the_batch_contract_is_declared(model, k):
    assert get_model_class(model)().batches_per_step == k
    assert get_model_class("gan")(d_steps=3).batches_per_step == 3
    assert get_model_class("cdcgan")(d_steps=2).batches_per_step == 2


# --- historical averaging ------------------------------------------------------------------
def _triples(seed=0):
    rng = np.random.default_rng(seed)
    layer = Linear(3, 2, rng=np.random.default_rng(seed), dtype="float64")
    for _, p, _ in layer.named_parameters():
        p[...] = rng.uniform(-1, 1, p.shape)
    return layer.named_parameters()


def test_historical_average_gradient_by_finite_differences():
    """d/dθ λ‖θ − θ̄‖² = 2λ(θ − θ̄), θ̄ held fixed; checked against central differences on
    random non-zero parameters after a few updates (so θ̄ ≠ θ)."""
    triples = _triples()
    avg = HistoricalAverage(triples, weight=0.3)
    rng = np.random.default_rng(5)
    for _ in range(4):                               # a history of 5 values
        for _, p, _ in triples:
            p += rng.normal(0, 0.5, p.shape)
        avg.update()
    for _, _, g in triples:
        g[...] = rng.normal(size=g.shape)            # the penalty ADDS into what is there
    start = {n: g.copy() for n, _, g in triples}
    value = avg.penalty_and_backward()
    analytic = {n: g - start[n] for n, _, g in triples}
    params = {n: p for n, p, _ in triples}

    def penalty():
        return 0.3 * sum(float(((p - avg.mean[n]) ** 2).sum()) for n, p in params.items())
    assert value == pytest.approx(penalty(), rel=1e-12)
    report = check_scalar_function(penalty, params, analytic)
    assert max(report.values()) < 1e-7, report


def test_historical_average_is_the_mean_of_every_value_so_far():
    triples = _triples(1)
    history = [{n: p.copy() for n, p, _ in triples}]
    avg = HistoricalAverage(triples, weight=1.0)
    rng = np.random.default_rng(2)
    for _ in range(6):
        for _, p, _ in triples:
            p[...] = rng.normal(size=p.shape)
        history.append({n: p.copy() for n, p, _ in triples})
        avg.update()
    assert int(avg.count) == 7
    for n, _, _ in triples:
        assert np.allclose(avg.mean[n], np.mean([h[n] for h in history], axis=0), atol=1e-14)


def test_ema_follows_its_formula_and_is_swapped_in_only_within_the_block():
    triples = _triples(2)
    theta0 = {n: p.copy() for n, p, _ in triples}
    ema = EMA(triples, decay=0.75)
    for _, p, _ in triples:
        p += 1.0
    ema.update()
    for n, p, _ in triples:
        assert np.allclose(ema.shadow[n], 0.75 * theta0[n] + 0.25 * p, atol=1e-15)
    live = {n: p.copy() for n, p, _ in triples}
    with ema.swapped_in():
        for n, p, _ in triples:
            assert np.array_equal(p, ema.shadow[n])
    for n, p, _ in triples:
        assert np.array_equal(p, live[n])


def test_sampling_uses_the_ema_weights():
    """With ema on, sample() is G with the averaged weights (not G's own), and G keeps its own."""
    m, batch = _small("gan", ema=0.5)
    for step in range(3):
        m.train_step(batch(step))
    live = {n: p.copy() for n, p, _ in m.G.named_parameters("G.")}
    got = m.sample(5, seed=3)
    with m.ema_g.swapped_in():
        expected = m.G.forward(m.noise(5, backend.default_rng(3)))[0]
    assert np.array_equal(got, expected.reshape(got.shape))
    assert not np.array_equal(got, m.G.forward(m.noise(5, backend.default_rng(3)))[0])
    for n, p, _ in m.G.named_parameters("G."):
        assert np.array_equal(p, live[n])


# --- the sample history -----------------------------------------------------------------------
def test_sample_history_fills_then_swaps_half_on_average():
    """Until full, every sample is stored and shown; then each is swapped for a stored one
    with probability 1/2, and a sample shown always comes with its own condition. Samples
    here are unique numbers, each sample's condition the same number. (As in CycleGAN's pool,
    the samples of one batch go in one by one: a later one can be swapped for an earlier one.)"""
    pool = SampleHistory(4, (2,), np.float64, cond_shape=(), cond_dtype=np.int64)
    rng = np.random.default_rng(0)
    first = np.repeat(np.arange(3.0)[:, None], 2, axis=1)
    shown, conds = map(backend.to_numpy, pool.query(first, np.arange(3), rng))
    assert np.array_equal(shown, first) and np.array_equal(conds, np.arange(3))
    assert int(pool.filled) == 3
    swapped, seen = 0, set(range(3))
    for i in range(200):
        values = 10 + 5 * i + np.arange(5)
        shown, conds = map(backend.to_numpy, pool.query(
            np.repeat(values[:, None], 2, axis=1).astype(np.float64), values, rng))
        assert np.array_equal(conds, shown[:, 0].astype(np.int64))
        old = shown[:, 0] != values
        assert set(shown[old, 0].astype(int)) <= seen | set(values.tolist())   # given before
        seen |= set(values.tolist())
        swapped += int(old.sum())
    assert int(pool.filled) == 4
    assert 0.44 < swapped / (200 * 5 - 1) < 0.56      # p = 1/2 (the first fills the pool)


def test_sample_history_state_is_checked_on_load():
    pool = SampleHistory(3, (2,), np.float32)
    state = pool.state_dict()
    with pytest.raises(StateDictError, match="filled"):
        pool.load_state_dict({**state, "filled": np.asarray(4)})
    with pytest.raises(StateDictError, match="samples"):
        pool.load_state_dict({**state, "samples": np.zeros((2, 2))})
    with pytest.raises(StateDictError, match="missing"):
        pool.load_state_dict({"filled": np.asarray(0)})


# --- resume ---------------------------------------------------------------------------------
@pytest.mark.parametrize("model, switches", [
    ("gan", dict(historical_averaging=0.01, sample_history=8, ema=0.9, lr_half_life=3)),
    ("cgan", dict(sample_history=8, ema=0.9, pack=2)),
    ("dcgan", dict(historical_averaging=0.01, ema=0.9, spectral_norm=True)),
    ("wgan-gp", dict(sample_history=8, historical_averaging=0.01, spectral_norm=True)),
    ("rcgan", dict(sample_history=8, ema=0.9, label_smoothing=0.1)),
    ("seqgan", dict(sample_history=8, ema=0.9, historical_averaging=0.01)),
    ("seqgan-cnn", dict(ema=0.9, label_smoothing=0.1)),   # its dropout masks come from the step
])
def test_a_resumed_run_with_the_switches_on_continues_exactly(model, switches):
    a, batch = _small(model, **switches)
    b, _ = _small(model, **switches)
    k = a.batches_per_step
    start = _pretraining_steps(a) + 2
    for step in range(start):
        a.train_step(_batches(batch, step, k))
    b.load_state_dict(a.state_dict())
    for step in range(start, start + 2):
        assert a.train_step(_batches(batch, step, k)) == b.train_step(_batches(batch, step, k))
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert any(k.startswith(("ema_g.", "history.", "average_g.")) for k in sa)
    for key in sa:
        assert np.array_equal(sa[key], sb[key]), key
    assert np.array_equal(a.sample(4, seed=1), b.sample(4, seed=1))


# --- the classifier switches on the other models of the GAN family ---------------------------
def _float64_model(model, **switches):
    """A small float64 model with random non-zero parameters everywhere."""
    shape = (1, 4, 4) if model in ("dcgan", "cdcgan") else (3,)
    kw = dict(data_shape=shape, latent_dim=2, seed=0, dtype="float64", **switches)
    if model == "cgan":
        kw.update(n_classes=3, conditioning="embedding", embed_dim=2, hidden=5)
    elif model == "cdcgan":
        kw.update(n_classes=3, conditioning="embedding", embed_dim=2, width=2, n_layers=1)
    else:
        kw.update(width=2, n_layers=1)
    m = get_model_class(model)(**kw)
    rng = np.random.default_rng(7)
    sides = (m.g_parameters() + m.d_parameters() if hasattr(m, "g_parameters")
             else m.G.named_parameters() + m.D.named_parameters())
    for _, p, _ in sides:
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    return m


@pytest.mark.parametrize("model", ["cgan", "cdcgan", "dcgan"])
@pytest.mark.parametrize("switches", [dict(pack=2, label_smoothing=0.2),
                                      dict(minibatch_kernels=3, minibatch_dim=2),
                                      dict(feature_matching=True, pack=2)],
                         ids=["pack+smoothing", "minibatch", "feature-matching+pack"])
def test_switched_losses_gradients_by_finite_differences(model, switches):
    """D's and G's losses with the switches on, against central differences w.r.t. every
    parameter of each side (label tables included), random data, batch 4."""
    m = _float64_model(model, **switches)
    rng = np.random.default_rng(3)
    n = 4
    real = rng.uniform(-1, 1, (n,) + (m.data_shape if model != "cgan" else (m.data_dim,)))
    z = rng.standard_normal((n, 2))
    cond = dict(labels=np.array([0, 2, 1, 2]), fake_labels=np.array([1, 1, 0, 2])) \
        if m.conditional else {}

    def d_loss():
        if m.conditional:
            return m.d_loss_and_backward(real, cond["labels"], z, cond["fake_labels"])[0]
        return m.d_loss_and_backward(real, z)[0]

    def g_loss():
        if m.conditional:
            return m.g_loss_and_backward(z, cond["fake_labels"], real, cond["labels"])
        return m.g_loss_and_backward(z, real)

    for side, loss in (("d", d_loss), ("g", g_loss)):
        triples = m.d_parameters() if side == "d" and hasattr(m, "d_parameters") else \
            m.g_parameters() if hasattr(m, "g_parameters") else \
            (m.D if side == "d" else m.G).named_parameters()
        m.zero_grads("d")
        m.zero_grads("g")
        loss()
        analytic = {name: g.copy() for name, _, g in triples}
        report = check_scalar_function(loss, {name: p for name, p, _ in triples}, analytic)
        assert max(report.values()) < 1e-6, (side, report)
