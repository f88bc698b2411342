"""Pix2Pix (minigan/gans/pix2pix.py): the U-Net's backward pass (the skips' summed gradients)
and the whole of D's and G's losses against float64 finite differences over configurations
(every objective of the paper's Table 1, U-Net and encoder-decoder, PixelGAN to ImageGAN,
batch 1), the receptive fields, the step's order, dropout at test time, exact resume, bad
input."""
import numpy as np
import pytest

from minigan import backend
from minigan.gans import Pix2Pix
from minigan.gans.pix2pix import UNet, patch_discriminator
from minigan.gradcheck import check_layer, check_scalar_function
from minigan.nn import receptive_field


def _randomise(net, seed):
    rng = np.random.default_rng(seed)
    for _, p, _ in net.named_parameters():
        p[...] = rng.uniform(-0.6, 0.6, p.shape)


@pytest.mark.parametrize("skips", [True, False], ids=["unet", "encoder-decoder"])
@pytest.mark.parametrize("depth, size, batch", [(2, 4, 1), (3, 8, 2)])
def test_unet_backward_by_finite_differences(skips, depth, size, batch):
    """dL/dx and every parameter's gradient, random upstream gradient, dropout masks held."""
    net = UNet(2, 3, depth=depth, width=2, dropout=0.5, skips=skips, dtype="float64")
    _randomise(net, 1)

    class Held:                          # the same dropout masks at every forward pass
        def __init__(self, layer):
            self.layer = layer

        def forward(self, x):
            net.set_noise(np.random.default_rng(5))
            return self.layer.forward(x)

        def __getattr__(self, name):
            return getattr(self.layer, name)
    x = np.random.default_rng(2).uniform(-1, 1, (batch, 2, size, size))
    report = check_layer(Held(net), x, seed=3)
    assert max(report.values()) < 1e-6, report


def test_skip_gradients_add():
    """Through a U-Net, the encoder's first output receives the skip's gradient PLUS the deeper
    path's: the input gradient of a U-Net differs from the encoder-decoder's with the same
    weights by exactly what the skips carry, and dropping the deeper share breaks the check."""
    unet = UNet(1, 1, depth=2, width=2, dropout=0, dtype="float64")
    _randomise(unet, 4)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 1, 4, 4))
    y, cache = unet.forward(x)
    dy = np.random.default_rng(1).standard_normal(y.shape)
    dx = unet.backward(dy, cache)
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        for sign in (1, -1):
            xp = x.copy()
            xp[i] += sign * 1e-6
            num[i] += sign * float((unet.forward(xp)[0] * dy).sum()) / 2e-6
    assert np.allclose(dx, num, rtol=1e-6, atol=1e-8)


def test_unet_backward_params_matches_backward():
    """backward_params (the input is an image, data): every parameter gradient exactly as
    backward's, and no input gradient."""
    nets = [UNet(2, 3, depth=3, width=2, dropout=0.5, dtype="float64") for _ in range(2)]
    for net in nets:
        _randomise(net, 1)
    x = np.random.default_rng(2).uniform(-1, 1, (2, 2, 8, 8))
    caches = []
    for net in nets:
        net.set_noise(np.random.default_rng(5))
        y, cache = net.forward(x)
        caches.append(cache)
    dy = np.random.default_rng(3).standard_normal(y.shape)
    assert nets[0].backward(dy, caches[0]).shape == x.shape
    assert nets[1].backward_params(dy, caches[1]) is None
    for (name, _, ga), (_, _, gb) in zip(nets[0].named_parameters(), nets[1].named_parameters()):
        np.testing.assert_array_equal(ga, gb, err_msg=name)


def _model(objective="l1+cgan", generator="unet", d_layers=1, size=8, **kw):
    m = Pix2Pix(in_channels=2, out_channels=3, size=size, objective=objective, generator=generator,
                depth=2, width=2, d_layers=d_layers, d_width=2, lam=3.0, seed=0,
                dtype="float64", **kw)
    _randomise(m.G, 1)
    if m.D is not None:
        _randomise(m.D, 2)
    return m


def _pair(n=2, seed=0, size=8):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, 2, size, size)), rng.uniform(-1, 1, (n, 3, size, size))


@pytest.mark.parametrize("objective", ["gan", "cgan", "l1+gan", "l1+cgan"])
@pytest.mark.parametrize("d_layers", [0, 1, 2], ids=["pixel", "patch16", "image"])
def test_d_loss_gradient(objective, d_layers):
    size = 12 if d_layers == 2 else 8                # the smallest image a 34-pixel field takes
    m = _model(objective, d_layers=d_layers, size=size)
    x, y = _pair(size=size)
    fake = np.random.default_rng(7).uniform(-1, 1, y.shape)
    m.zero_grads("d")
    m.d_loss_and_backward(x, y, x, fake)
    triples = m.D.named_parameters()
    analytic = {n: g.copy() for n, _, g in triples}
    report = check_scalar_function(lambda: m.d_loss_and_backward(x, y, x, fake)[0],
                                   {n: p for n, p, _ in triples}, analytic)
    assert max(report.values()) < 1e-6, report


@pytest.mark.parametrize("objective", ["l1", "gan", "cgan", "l1+cgan"])
@pytest.mark.parametrize("generator", ["unet", "encoder-decoder"])
@pytest.mark.parametrize("batch", [1, 3])
def test_g_loss_gradient(objective, generator, batch):
    """BCE(D(x, G(x)), 1) + λ·mean|G(x) − y| w.r.t. every parameter of G."""
    m = _model(objective, generator)
    x, y = _pair(batch)

    def loss():
        m.G.set_noise(np.random.default_rng(9))
        fake, cache = m.G.forward(x)
        gan, l1 = m.g_loss_and_backward(x, y, fake, cache)
        return gan + m.lam * l1
    m.zero_grads("g")
    loss()
    triples = m.G.named_parameters()
    analytic = {n: g.copy() for n, _, g in triples}
    report = check_scalar_function(loss, {n: p for n, p, _ in triples}, analytic)
    assert max(report.values()) < 1e-6, report


@pytest.mark.parametrize("n_layers, field", [(0, 1), (1, 16), (2, 34), (3, 70)])
def test_patchgan_receptive_fields(n_layers, field):
    assert receptive_field(patch_discriminator(3, n_layers)).size == (field, field)
    if n_layers < 3:
        assert _model(d_layers=n_layers, size=12).receptive_field() == field


def test_objectives_build_the_networks_they_need():
    assert _model("l1").D is None and _model("l1").opt_d is None
    assert _model("gan").D.layers[0].in_channels == 3             # the output only
    assert _model("cgan").D.layers[0].in_channels == 5            # input and output
    assert _model(generator="encoder-decoder").G.skips is False


def test_dropout_stays_on_at_test_time_and_is_seeded():
    m = Pix2Pix(in_channels=2, out_channels=3, size=8, depth=2, width=4, d_layers=1, seed=0)
    x, _ = _pair(4)
    x = x.astype(np.float32)
    a, b = m.translate(x, seed=1), m.translate(x, seed=1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, m.translate(x, seed=2))          # the noise is dropout's
    assert a.shape == (4, 3, 8, 8) and np.abs(a).max() <= 1
    nodrop = Pix2Pix(in_channels=2, out_channels=3, size=8, depth=2, width=4, dropout=0,
                     d_layers=1, seed=0)
    assert np.array_equal(nodrop.translate(x, seed=1), nodrop.translate(x, seed=2))


def test_resume_continues_exactly():
    data = [(_pair(2, s)[0].astype(np.float32), _pair(2, s)[1].astype(np.float32))
            for s in range(5)]
    a = Pix2Pix(in_channels=2, out_channels=3, size=8, depth=2, width=4, d_layers=1, seed=3,
                sample_history=4, ema=0.9, historical_averaging=0.01)
    for s in range(3):
        a.train_step(data[s])
    b = Pix2Pix(**a.config)
    b.load_state_dict(a.state_dict())
    for s in range(3, 5):
        assert a.train_step(data[s]) == b.train_step(data[s])
    for k, v in a.state_dict().items():
        assert np.array_equal(v, b.state_dict()[k]), k


def test_bad_input_is_named():
    m = Pix2Pix(in_channels=2, out_channels=3, size=8, depth=2, width=4, d_layers=1)
    x, y = _pair(2)
    with pytest.raises(ValueError, match=r"expected inputs of shape \(N, 2, 8, 8\)"):
        m.train_step((x[:, :1], y))
    with pytest.raises(ValueError, match=r"expected targets of shape \(N, 3, 8, 8\)"):
        m.train_step((x, y[:, :, :4]))
    with pytest.raises(ValueError, match="2 inputs but 1 targets"):
        m.train_step((x, y[:1]))
    with pytest.raises(ValueError, match=r"a batch \(inputs, targets\)"):
        m.train_step(x)
    with pytest.raises(ValueError, match="objective must be one of"):
        Pix2Pix(objective="l2")
    with pytest.raises(ValueError, match="divisible by 2\\^depth = 16"):
        Pix2Pix(size=24, depth=4)
    with pytest.raises(ValueError, match="translates inputs"):
        m.sample(3)
    with pytest.raises(ValueError, match="does not apply to pix2pix"):
        Pix2Pix(label_smoothing=0.1)
    with pytest.raises(ValueError, match="d_layers=2 needs images of at least 12×12"):
        Pix2Pix(size=8, depth=2)
