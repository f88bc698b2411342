"""The conditional GAN: its losses' hand-derived gradients checked by finite differences
w.r.t. every parameter (the embedding tables included), the update order, exact resume, bad
input, and a short training run whose samples an independent classifier reads as the digit
that was asked for."""
import numpy as np
import pytest

import quality_runs
from quality_runs import assert_quality

from minigan.data import load_digits, make_loader
from minigan.gans.cgan import CDCGAN, CGAN
from minigan.gradcheck import check_scalar_function
from minigan.evaluation.metrics import conditional_accuracy, digits_classifier
from minigan.nn import bce_with_logits

MODES = ["onehot", "embedding"]


def small_cgan(conditioning, loss="nonsaturating", g_output="tanh", seed=0, **kw):
    m = CGAN(data_shape=(3,), n_classes=4, conditioning=conditioning, embed_dim=3, latent_dim=2,
             hidden=5, depth=2, g_output=g_output, loss=loss, seed=seed, dtype="float64", **kw)
    rng = np.random.default_rng(seed + 100)          # non-zero, non-symmetric values everywhere
    for _, p, _ in m.g_parameters() + m.d_parameters():
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    return m


# --- the losses, written out independently of the model's code --------------------------------
def code(m, embed, y):
    """c(y): the one-hot row, or the embedding table's row read directly."""
    return np.eye(m.n_classes)[y] if embed is None else embed.params["weight"][y]


def G(m, z, y):
    return m.G.forward(np.concatenate([z, code(m, m.G_embed, y)], axis=1))[0]


def D(m, x, y):
    return m.D.forward(np.concatenate([x, code(m, m.D_embed, y)], axis=1))[0]


def d_loss(m, x, y, z, yf):
    s_real, s_fake = D(m, x, y), D(m, G(m, z, yf), yf)
    return (bce_with_logits(s_real, np.ones_like(s_real))[0]
            + bce_with_logits(s_fake, np.zeros_like(s_fake))[0])


def g_loss(m, z, y):
    s = D(m, G(m, z, y), y)
    if m.loss == "nonsaturating":
        return bce_with_logits(s, np.ones_like(s))[0]
    return -bce_with_logits(s, np.zeros_like(s))[0]


@pytest.mark.parametrize("conditioning", MODES)
@pytest.mark.parametrize("batch", [1, 6])
def test_discriminator_loss_gradient_every_parameter(conditioning, batch):
    m = small_cgan(conditioning)
    rng = np.random.default_rng(1)
    x, z = rng.standard_normal((batch, 3)), rng.standard_normal((batch, 2))
    y, yf = rng.integers(0, 4, batch), rng.integers(0, 4, batch)
    if batch > 1:
        y[0] = y[1]                                  # a repeated label: the scatter-add must add
    for _, _, g in m.d_parameters():
        g[...] = 0
    loss, _, _ = m.d_loss_and_backward(x, y, z, yf)
    assert loss == pytest.approx(d_loss(m, x, y, z, yf), rel=1e-12)
    triples = m.d_parameters()
    assert any(n.startswith("D.embed.") for n, _, _ in triples) == (conditioning == "embedding")
    params = {n: p for n, p, _ in triples}
    grads = {n: g.copy() for n, _, g in triples}
    report = check_scalar_function(lambda: d_loss(m, x, y, z, yf), params, grads)
    assert max(report.values()) < 1e-6, report


@pytest.mark.parametrize("conditioning", MODES)
@pytest.mark.parametrize("loss", ["nonsaturating", "minimax"])
def test_generator_loss_gradient_every_parameter(conditioning, loss):
    m = small_cgan(conditioning, loss=loss)
    rng = np.random.default_rng(2)
    z, y = rng.standard_normal((5, 2)), np.array([0, 2, 2, 3, 0])
    for _, _, g in m.g_parameters():
        g[...] = 0
    value = m.g_loss_and_backward(z, y)
    assert value == pytest.approx(g_loss(m, z, y), rel=1e-12)
    triples = m.g_parameters()
    params = {n: p for n, p, _ in triples}
    grads = {n: g.copy() for n, _, g in triples}
    report = check_scalar_function(lambda: g_loss(m, z, y), params, grads)
    assert max(report.values()) < 1e-6, report
    if conditioning == "embedding":      # a label never asked for gets no gradient
        assert np.all(m.G_embed.grads["weight"][1] == 0)


@pytest.mark.parametrize("conditioning", MODES)
def test_train_step_moves_every_parameter_of_both_networks(conditioning):
    m = CGAN(data_shape=(1, 8, 8), n_classes=10, conditioning=conditioning, latent_dim=4,
             hidden=16, seed=0)
    ds = load_digits(split="train")
    batch = (ds.images[:64], ds.labels[:64])
    triples = m.g_parameters() + m.d_parameters()
    assert len(triples) == (12 if conditioning == "onehot" else 14)
    before = {n: p.copy() for n, p, _ in triples}
    logs = m.train_step(batch)
    assert set(logs) == {"loss_d", "loss_g", "d_real", "d_fake"}
    assert all(np.isfinite(v) for v in logs.values())
    for n, p, _ in m.g_parameters() + m.d_parameters():
        assert not np.array_equal(before[n], p), f"{n} did not move"
    assert all(np.all(g == 0) for _, _, g in m.d_parameters())   # no stale D grads left
    assert m.opt_d.t == 1 and m.opt_g.t == 1 and m.step == 1


def test_k_discriminator_steps_take_k_batches():
    m = CGAN(data_shape=(2,), n_classes=3, latent_dim=2, hidden=8, d_steps=3, g_output="linear")
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((8, 2)).astype(np.float32), rng.integers(0, 3, 8))
               for _ in range(3)]
    m.train_step(batches)
    assert m.opt_d.t == 3 and m.opt_g.t == 1
    m.train_step(batches[0])                          # one pair: reused for the k D steps
    assert m.opt_d.t == 6 and m.opt_g.t == 2


@pytest.mark.parametrize("conditioning", MODES)
def test_state_dict_round_trip_continues_identically(conditioning):
    ds = load_digits(split="train")
    loader = make_loader(ds, 32, seed=0, with_labels=True)
    kw = dict(conditioning=conditioning, latent_dim=8, hidden=16, seed=3)
    a = CGAN(**kw)
    for s in range(4):
        a.train_step(loader.batch_at(s))
    state = a.state_dict()
    if conditioning == "embedding":
        assert "G_embed.weight" in state and "D_embed.weight" in state
    b = CGAN(**kw)
    b.load_state_dict(state)
    for s in range(4, 7):
        la, lb = a.train_step(loader.batch_at(s)), b.train_step(loader.batch_at(s))
        assert la == lb
    for (n, pa, _), (_, pb, _) in zip(a.g_parameters() + a.d_parameters(),
                                      b.g_parameters() + b.d_parameters()):
        assert np.array_equal(pa, pb), n
    assert np.array_equal(a.sample(10, seed=1), b.sample(10, seed=1))


def test_sample_labels_default_and_explicit():
    m = CGAN(n_classes=10, latent_dim=4, hidden=16)
    s = m.sample(12, seed=0)
    assert s.shape == (12, 1, 8, 8) and np.all(np.abs(s) <= 1)
    # the default labels cycle 0..K-1: the same as asking for them explicitly
    assert np.array_equal(s, m.sample(12, labels=np.arange(12) % 10, seed=0))
    assert np.array_equal(m.sample(3, labels=[4, 4, 4], seed=0),
                          m.sample(3, labels=np.array([4, 4, 4]), seed=0))
    # same noise, another label: another image
    assert not np.array_equal(m.sample(3, labels=[4, 4, 4], seed=0),
                              m.sample(3, labels=[5, 5, 5], seed=0))


@pytest.mark.parametrize("conditioning", MODES)
def test_bad_input_is_named(conditioning):
    m = CGAN(n_classes=10, conditioning=conditioning, latent_dim=4, hidden=8)
    x = np.zeros((4, 1, 8, 8), np.float32)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\), got values from 0 to 10"):
        m.train_step((x, np.array([0, 1, 2, 10])))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\), got values from -1"):
        m.sample(2, labels=np.array([-1, 3]))
    with pytest.raises(ValueError, match=r"labels of shape \(4,\) \(one per example\), got \(3,\)"):
        m.train_step((x, np.array([0, 1, 2])))
    with pytest.raises(ValueError, match=r"labels of shape \(2,\)"):
        m.sample(2, labels=np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="integer labels"):
        m.train_step((x, np.zeros(4)))
    with pytest.raises(ValueError, match=r"expected a batch of shape \(N, 1, 8, 8\), got \(4, 64\)"):
        m.train_step((x.reshape(4, 64), np.zeros(4, np.int64)))
    with pytest.raises(ValueError, match="needs the labels"):
        m.prepare_batch(x)
    with pytest.raises(ValueError, match="conditioning must be"):
        CGAN(conditioning="film")
    with pytest.raises(ValueError, match="n_classes must be a positive int"):
        CGAN(n_classes=0)


def test_conditional_accuracy_arguments_and_reference():
    clf = digits_classifier()
    m = CGAN(latent_dim=4, hidden=16)
    out = conditional_accuracy(m, clf, n_per_class=5)
    assert out["per_class"].shape == (10,) and out["n_per_class"] == 5
    assert out["accuracy"] == pytest.approx(out["per_class"].mean())
    test = load_digits(split="test")
    assert out["real_accuracy"] == pytest.approx(
        clf.score(test.flat.astype(np.float64), test.labels))
    assert out["real_accuracy"] > 0.9
    with pytest.raises(ValueError, match="n_per_class"):
        conditional_accuracy(m, clf, n_per_class=0)
    with pytest.raises(ValueError, match="not a conditional model"):
        from minigan.gans.gan import GAN
        conditional_accuracy(GAN(data_shape=(1, 8, 8)), clf)


@pytest.mark.quality
@pytest.mark.parametrize("run", [quality_runs.cgan_embedding_digits,
                                 quality_runs.cgan_onehot_digits], ids=["embedding", "onehot"])
def test_training_on_digits_raises_conditional_accuracy(run):
    """A short run from three seeds: before, G ignores the label (accuracy near chance, 0.1);
    after, an independent classifier reads most samples as the digit asked for."""
    assert_quality(run)


# --- the convolutional variant: label maps as extra channels of D's input ----------------------
def small_cdcgan(conditioning, seed=0):
    m = CDCGAN(data_shape=(1, 4, 4), n_classes=3, conditioning=conditioning, embed_dim=2,
               latent_dim=2, width=2, n_layers=2, seed=seed, dtype="float64")
    rng = np.random.default_rng(seed + 100)
    for _, p, _ in m.g_parameters() + m.d_parameters():
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    return m


def D_conv(m, x, y):
    c = code(m, m.D_embed, y)
    maps = np.repeat(np.repeat(c[:, :, None, None], x.shape[2], 2), x.shape[3], 3)
    return m.D.forward(np.concatenate([x, maps], axis=1))[0]


@pytest.mark.parametrize("conditioning", MODES)
def test_conv_losses_gradient_every_parameter(conditioning):
    m = small_cdcgan(conditioning)
    rng = np.random.default_rng(4)
    x, z = rng.uniform(-1, 1, (3, 1, 4, 4)), rng.standard_normal((3, 2))
    y, yf = np.array([0, 2, 0]), np.array([1, 1, 2])

    def dl():
        s_real, s_fake = D_conv(m, x, y), D_conv(m, G(m, z, yf), yf)
        return (bce_with_logits(s_real, np.ones_like(s_real))[0]
                + bce_with_logits(s_fake, np.zeros_like(s_fake))[0])

    def gl():
        s = D_conv(m, G(m, z, yf), yf)
        return bce_with_logits(s, np.ones_like(s))[0]

    for _, _, g in m.g_parameters() + m.d_parameters():
        g[...] = 0
    loss, _, _ = m.d_loss_and_backward(x, y, z, yf)
    assert loss == pytest.approx(dl(), rel=1e-12)
    triples = m.d_parameters()
    report = check_scalar_function(dl, {n: p for n, p, _ in triples},
                                   {n: g.copy() for n, _, g in triples})
    assert max(report.values()) < 1e-6, report
    for _, _, g in m.g_parameters() + m.d_parameters():
        g[...] = 0
    assert m.g_loss_and_backward(z, yf) == pytest.approx(gl(), rel=1e-12)
    triples = m.g_parameters()
    report = check_scalar_function(gl, {n: p for n, p, _ in triples},
                                   {n: g.copy() for n, _, g in triples})
    assert max(report.values()) < 1e-6, report


@pytest.mark.parametrize("conditioning", MODES)
def test_conv_train_step_moves_everything_and_resumes_exactly(conditioning):
    loader = make_loader(load_digits(split="train"), 16, seed=0, with_labels=True)
    kw = dict(conditioning=conditioning, latent_dim=8, width=4, seed=2)
    a = CDCGAN(**kw)
    before = {n: p.copy() for n, p, _ in a.g_parameters() + a.d_parameters()}
    a.train_step(loader.batch_at(0))
    for n, p, _ in a.g_parameters() + a.d_parameters():
        assert not np.array_equal(before[n], p), f"{n} did not move"
    b = CDCGAN(**kw)
    b.load_state_dict(a.state_dict())
    for s in range(1, 4):
        assert a.train_step(loader.batch_at(s)) == b.train_step(loader.batch_at(s))
    assert np.array_equal(a.sample(10, seed=1), b.sample(10, seed=1))
    with pytest.raises(ValueError, match="at least 2 images"):
        a.train_step((np.zeros((1, 1, 8, 8), np.float32), np.zeros(1, np.int64)))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\)"):
        a.train_step((np.zeros((2, 1, 8, 8), np.float32), np.array([3, 11])))
    with pytest.raises(ValueError, match=r"got \(2, 64\)"):
        a.train_step((np.zeros((2, 64), np.float32), np.array([3, 1])))
    with pytest.raises(ValueError, match="divisible"):
        CDCGAN(data_shape=(1, 6, 6))


@pytest.mark.quality
def test_conv_training_on_digits_raises_conditional_accuracy():
    assert_quality(quality_runs.cdcgan_digits)
