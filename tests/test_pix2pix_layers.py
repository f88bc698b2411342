"""What pix2pix (Isola et al. 2017) needs from minigan.nn: InstanceNorm2d, l1_loss, the U-Net's
skip concatenation, dropout kept on at test time, and the receptive field of a PatchGAN.

Every backward pass against float64 finite differences with random upstream gradients and
non-zero random parameters, over configurations (batch 1, odd sizes, affine on/off); the
receptive-field arithmetic against brute force (which input pixels an output actually reads).
"""
import re

import numpy as np
import pytest

from minigan import backend
from minigan.gradcheck import check_layer, check_loss, check_scalar_function, numerical_gradient
from minigan.nn import (AvgPool2d, BatchNorm2d, Conv2d, ConvTranspose2d, Dropout, Flatten,
                        Highway, InstanceNorm2d, LeakyReLU, Linear, ReceptiveField, ReLU,
                        Sequential, SpectralNorm, Tanh, Upsample, concat_channels,
                        concat_channels_backward, l1_loss, receptive_field)

TOL = 1e-6


def randomize(layer, seed=0):
    """float64, with every parameter random and clearly non-zero (not torch's 1 and 0)."""
    layer.to("float64")
    rng = np.random.default_rng(seed)
    for p in layer.params.values():
        p[...] = rng.standard_normal(p.shape) + 0.5
    return layer


# --- 1. InstanceNorm2d ---------------------------------------------------------------------------
IN_SHAPES = [
    (2, 3, 4, 5),
    (1, 2, 3, 5),        # batch 1, odd H and W
    (3, 1, 5, 3),        # one channel
    (1, 4, 1, 7),        # a single row
    (2, 2, 2, 1),        # two values per map: the smallest allowed
]


def instance_norm_naive(x, gamma=None, beta=None, eps=1e-5):
    y = np.empty_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            m = x[n, c]
            y[n, c] = (m - m.mean()) / np.sqrt(m.var() + eps)
            if gamma is not None:
                y[n, c] = gamma[c] * y[n, c] + beta[c]
    return y


def image(rng, shape):
    """Random maps, each with its own offset and scale (the statistics differ per map)."""
    N, C = shape[:2]
    return (rng.uniform(0.5, 3, (N, C, 1, 1)) * rng.standard_normal(shape)
            + 2 * rng.standard_normal((N, C, 1, 1)))


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("shape", IN_SHAPES)
def test_instance_norm_forward_matches_definition(shape, affine, rng):
    layer = InstanceNorm2d(shape[1], affine=affine, dtype="float64")
    if affine:
        randomize(layer, seed=1)
    x = image(rng, shape)
    y, _ = layer.forward(x)
    expected = instance_norm_naive(x, *((layer.params["weight"], layer.params["bias"]) if affine
                                        else ()))
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    layer.eval()                                # no running statistics: the same in eval mode
    np.testing.assert_array_equal(layer.forward(x)[0], y)


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("shape", IN_SHAPES)
def test_instance_norm_gradcheck(shape, affine, rng):
    # Two values per map: x̂ = ±d/√(d² + eps) is ±1 up to O(eps), so dx is O(eps) and the
    # rounding of central differences (~1e-10) would be 1e-5 of it: a larger eps there.
    eps = 0.5 if shape[2] * shape[3] == 2 else 1e-5
    layer = InstanceNorm2d(shape[1], eps=eps, affine=affine)
    if affine:
        randomize(layer, seed=2)
    report = check_layer(layer, image(rng, shape), seed=3)
    assert set(report) == ({"x", "weight", "bias"} if affine else {"x"})
    assert max(report.values()) < TOL, report


def test_instance_norm_torch_defaults_and_names():
    layer = InstanceNorm2d(3)
    assert layer.affine is False and layer.params == {} and layer.grads == {}
    assert layer.eps == 1e-5
    affine = InstanceNorm2d(3, affine=True)
    assert set(affine.params) == {"weight", "bias"}
    np.testing.assert_array_equal(affine.params["weight"], np.ones(3, np.float32))
    np.testing.assert_array_equal(affine.params["bias"], np.zeros(3, np.float32))
    assert set(affine.state_dict()) == {"weight", "bias"}        # no running statistics
    assert repr(layer) == "InstanceNorm2d(3, eps=1e-05, affine=False)"


def test_instance_norm_constant_map_is_finite_and_differentiable(rng):
    """σ of the data 0: eps keeps σ = √eps > 0, x̂ = 0, y = β, a finite gradient."""
    layer = randomize(InstanceNorm2d(2, affine=True), seed=4)
    x = image(rng, (2, 2, 3, 3))
    x[0, 1] = 1.7                                           # one constant map among others
    y, _ = layer.forward(x)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y[0, 1], layer.params["bias"][1], atol=1e-12)
    report = check_layer(layer, x, seed=5)
    assert max(report.values()) < TOL, report


def test_instance_norm_refuses_1x1_maps_as_torch():
    layer = InstanceNorm2d(3, affine=True)
    x = np.ones((4, 3, 1, 1), np.float32)
    for mode in ("train", "eval"):
        getattr(layer, mode)()
        with pytest.raises(ValueError, match="more than 1 spatial element.*bottleneck"):
            layer.forward(x)


def test_instance_norm_statistics_are_per_map(rng):
    x = image(rng, (3, 4, 5, 6))
    y, _ = InstanceNorm2d(4, dtype="float64").forward(x)
    np.testing.assert_allclose(y.mean(axis=(2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(2, 3)), x.var(axis=(2, 3)) / (x.var(axis=(2, 3))
                                                                         + 1e-5), rtol=1e-12)
    # a sample's output does not depend on the other samples of the batch
    np.testing.assert_allclose(InstanceNorm2d(4).forward(x[1:2])[0], y[1:2], rtol=1e-13)


def test_instance_norm_contract_dtype_accumulation_and_errors(rng):
    x = image(rng, (2, 3, 4, 4))
    # without parameters the dtype follows the input
    y32, _ = InstanceNorm2d(3).forward(x.astype(np.float32))
    assert y32.dtype == np.float32
    layer = randomize(InstanceNorm2d(3, affine=True), seed=6)
    with pytest.raises(ValueError, match="float32 but the parameters are float64"):
        layer.forward(x.astype(np.float32))
    # two calls, two caches; two backward passes add up; x and dy untouched
    x2 = image(rng, (2, 3, 4, 4))
    (_, c1), (_, c2) = layer.forward(x), layer.forward(x2)
    dy1, dy2 = rng.standard_normal(x.shape), rng.standard_normal(x.shape)
    keep = x.copy(), dy1.copy()
    layer.zero_grad()
    layer.backward(dy1, c1)
    g1 = {k: g.copy() for k, g in layer.grads.items()}
    layer.zero_grad()
    layer.backward(dy2, c2)
    g2 = {k: g.copy() for k, g in layer.grads.items()}
    layer.backward(dy1, c1)
    for k, g in g1.items():
        np.testing.assert_allclose(layer.grads[k], g + g2[k], rtol=1e-12)
    np.testing.assert_array_equal(x, keep[0])
    np.testing.assert_array_equal(dy1, keep[1])
    with pytest.raises(ValueError, match=r"InstanceNorm2d\(3.*\(N, 3, H, W\).*got shape \(2, 4, 4, 4\)"):
        layer.forward(image(rng, (2, 4, 4, 4)))
    with pytest.raises(ValueError, match="4 dimensions"):
        layer.forward(rng.standard_normal((3, 4, 4)))
    with pytest.raises(ValueError, match=re.escape("expected dy of shape (2, 3, 4, 4)")):
        layer.backward(rng.standard_normal((2, 3, 4, 1)), c1)
    with pytest.raises(ValueError, match="num_features must be a positive int"):
        InstanceNorm2d(0)
    with pytest.raises(ValueError, match="eps must be positive"):
        InstanceNorm2d(3, eps=0)


# --- 2. l1_loss ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1,), (7,), (5, 1), (2, 3, 4, 5)])
def test_l1_loss_gradcheck_away_from_the_kink(shape, rng):
    target = rng.standard_normal(shape)
    gap = rng.uniform(0.05, 2, shape) * rng.choice([-1.0, 1.0], shape)      # |y − t| >= 0.05
    assert check_loss(l1_loss, target + gap, target) < TOL


def test_l1_loss_value_as_torch_and_subgradient_zero_at_ties(rng):
    pred = rng.standard_normal((3, 4))
    target = pred + rng.uniform(0.1, 1, pred.shape) * rng.choice([-1.0, 1.0], pred.shape)
    ties = np.zeros(pred.shape, bool)
    ties[0, 1] = ties[2, 3] = ties[1, 0] = True
    target[ties] = pred[ties]                                   # exact ties
    value, grad = l1_loss(pred, target)
    assert value == pytest.approx(np.abs(pred - target).mean(), rel=1e-15)
    np.testing.assert_array_equal(grad[ties], 0.0)              # sign(0) = 0, as torch
    np.testing.assert_array_equal(grad[~ties], np.sign(pred - target)[~ties] / pred.size)
    # central differences at a tie also give 0 (|h| − |−h| = 0): the same subgradient
    num = numerical_gradient(lambda: l1_loss(pred, target)[0], pred)
    np.testing.assert_allclose(num, grad, atol=1e-9)


def test_l1_loss_dtype_and_errors(rng):
    p = rng.standard_normal((2, 3)).astype(np.float32)
    value, grad = l1_loss(p, np.zeros((2, 3)))
    assert isinstance(value, float) and grad.dtype == np.float32
    with pytest.raises(ValueError, match=r"l1_loss: prediction has shape \(2, 3\) but target"):
        l1_loss(p, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="floating-point"):
        l1_loss(np.zeros((2, 3), int), np.zeros((2, 3)))


# --- 3. the U-Net's skip: concat_channels --------------------------------------------------------
def conv(rng, C, F, k=3, stride=1, padding=1):
    """A float64 Conv2d with random weights of unit gain (tanh kept out of saturation, where
    its gradient would be too small for finite differences to judge) and non-zero biases."""
    layer = Conv2d(C, F, k, stride=stride, padding=padding, rng=rng, dtype="float64")
    layer.params["weight"][...] = rng.standard_normal(layer.params["weight"].shape) / np.sqrt(
        C * k * k)
    layer.params["bias"][...] = rng.uniform(0.2, 0.5, F) * rng.choice([-1.0, 1.0], F)
    return layer


def test_concat_channels_forward_backward_and_copies(rng):
    a, b = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 1, 4, 5))
    y, cache = concat_channels(a, b)
    assert y.shape == (2, 4, 4, 5)
    np.testing.assert_array_equal(y[:, :3], a)
    np.testing.assert_array_equal(y[:, 3:], b)
    dy = rng.standard_normal(y.shape)
    keep = dy.copy()
    da, db = concat_channels_backward(dy, cache)
    np.testing.assert_array_equal(da, dy[:, :3])
    np.testing.assert_array_equal(db, dy[:, 3:])
    da += 1                                         # new arrays: dy is never written through them
    db += 1
    np.testing.assert_array_equal(dy, keep)
    assert da.flags.c_contiguous and db.flags.c_contiguous


@pytest.mark.parametrize("N, C, H, W", [(1, 2, 3, 5), (2, 3, 4, 4), (3, 1, 5, 3)])
def test_skip_gradient_is_the_sum_of_both_paths(N, C, H, W, rng):
    """y = f([g(x), x]): x feeds the skip and the deeper path g; dL/dx = g.backward(du) + dx_skip,
    and either term alone is wrong."""
    g = Sequential(conv(rng, C, 2), Tanh(), conv(rng, 2, 3))
    f = conv(rng, 3 + C, 2)
    x = rng.standard_normal((N, C, H, W))
    out_dy = rng.standard_normal((N, 2, H, W))

    def loss():
        u, _ = g.forward(x)
        y, _ = f.forward(concat_channels(u, x)[0])
        return float((y * out_dy).sum())

    for net in (g, f):
        net.zero_grad()
    u, cg = g.forward(x)
    s, cs = concat_channels(u, x)
    _, cf = f.forward(s)
    du, dx_skip = concat_channels_backward(f.backward(out_dy, cf), cs)
    dx_deep = g.backward(du, cg)
    arrays = {"x": x, **{f"g.{n}": p for n, p, _ in g.named_parameters()},
              **{f"f.{n}": p for n, p, _ in f.named_parameters()}}
    analytic = {"x": dx_deep + dx_skip, **{f"g.{n}": d for n, _, d in g.named_parameters()},
                **{f"f.{n}": d for n, _, d in f.named_parameters()}}
    report = check_scalar_function(loss, arrays, analytic)
    assert max(report.values()) < TOL, report
    for partial in (dx_deep, dx_skip):                      # one path alone is not the gradient
        assert check_scalar_function(loss, {"x": x}, {"x": partial})["x"] > 1e-3


def test_unet_level_with_a_downsampling_deeper_path(rng):
    """One U-Net level, batch 1: e = enc(x); u = up(down(e)); y = out([u, e])."""
    enc = Sequential(conv(rng, 2, 3), LeakyReLU(0.2))
    deeper = Sequential(conv(rng, 3, 4, k=4, stride=2, padding=1), Tanh(),
                        ConvTranspose2d(4, 2, 4, stride=2, padding=1, rng=rng, dtype="float64"))
    out = conv(rng, 2 + 3, 1)
    x = rng.standard_normal((1, 2, 6, 8))
    dy = rng.standard_normal((1, 1, 6, 8))
    nets = {"enc": enc, "deeper": deeper, "out": out}

    def loss():
        e, _ = enc.forward(x)
        y, _ = out.forward(concat_channels(deeper.forward(e)[0], e)[0])
        return float((y * dy).sum())

    for net in nets.values():
        net.zero_grad()
    e, ce = enc.forward(x)
    u, cd = deeper.forward(e)
    s, cs = concat_channels(u, e)
    _, co = out.forward(s)
    du, de_skip = concat_channels_backward(out.backward(dy, co), cs)
    de = deeper.backward(du, cd) + de_skip                  # the sum, before going on into enc
    dx = enc.backward(de, ce)
    arrays = {"x": x, **{f"{k}.{n}": p for k, net in nets.items()
                         for n, p, _ in net.named_parameters()}}
    analytic = {"x": dx, **{f"{k}.{n}": d for k, net in nets.items()
                            for n, _, d in net.named_parameters()}}
    report = check_scalar_function(loss, arrays, analytic)
    assert max(report.values()) < TOL, report


def test_concat_channels_errors(rng):
    a = rng.standard_normal((2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"a has shape \(2, 3, 4, 5\) and b has shape "
                                         r"\(2, 3, 4, 4\).*but the channels"):
        concat_channels(a, rng.standard_normal((2, 3, 4, 4)))
    with pytest.raises(ValueError, match="but the channels"):
        concat_channels(a, rng.standard_normal((1, 3, 4, 5)))
    with pytest.raises(ValueError, match="a is float64 and b is float32"):
        concat_channels(a, a.astype(np.float32))
    with pytest.raises(ValueError, match="expected b of shape"):
        concat_channels(a, np.ones(3))
    with pytest.raises(ValueError, match="expected an array as a"):
        concat_channels([1.0], a)
    _, cache = concat_channels(a, a)
    with pytest.raises(ValueError, match=re.escape("expected dy of shape (2, 6, 4, 5)")):
        concat_channels_backward(rng.standard_normal((2, 5, 4, 5)), cache)


# --- 4. dropout at test time ------------------------------------------------------------------------
def test_dropout_always_drops_in_eval_mode_and_the_default_does_not(rng):
    x = backend.asarray(rng.uniform(0.5, 1.5, (8, 50)))     # on the backend in use (`is`, below)
    always = Dropout(0.5, rng=np.random.default_rng(1), always=True).eval()
    y, _ = always.forward(x)
    assert np.mean(y == 0) == pytest.approx(0.5, abs=0.05)
    np.testing.assert_array_equal(y[y != 0], 2 * x[y != 0])
    assert not np.array_equal(always.forward(x)[0], y)       # a fresh mask at every call
    default = Dropout(0.5, rng=np.random.default_rng(1)).eval()
    y_default, cache = default.forward(x)
    assert y_default is x and cache is None                  # torch's eval: the identity
    # inside a network, .eval() does not switch it off
    net = Sequential(Tanh(), Dropout(0.5, always=True), Dropout(0.5)).eval()
    assert np.any(net.forward(x)[0] == 0)
    assert repr(always) == "Dropout(p=0.5, always=True)" and repr(default) == "Dropout(p=0.5)"


def test_dropout_always_backward_masks_the_units_forward_dropped(rng):
    x = rng.uniform(0.5, 1.5, (4, 3, 5, 5))
    d = Dropout(0.3, rng=np.random.default_rng(2), always=True).eval()
    y, cache = d.forward(x)
    dy = rng.standard_normal(x.shape)
    dx = d.backward(dy, cache)
    dropped = y == 0
    assert dropped.any() and (~dropped).any()
    np.testing.assert_array_equal(dx == 0, dropped)
    np.testing.assert_allclose(dx[~dropped], dy[~dropped] / 0.7, rtol=1e-15)
    # and against finite differences, the mask held fixed
    report = check_layer(d, x, forward=lambda a: (a * cache, cache), seed=3)
    assert report["x"] < TOL, report


def test_dropout_default_is_unchanged(rng):
    """always=True changes nothing in training mode: the same draws, the same masks."""
    x = rng.standard_normal((6, 7))
    for p in (0.2, 0.5):
        a = Dropout(p, rng=np.random.default_rng(9))
        b = Dropout(p, rng=np.random.default_rng(9), always=True)
        for _ in range(3):
            ya, ca = a.forward(x)
            yb, cb = b.forward(x)
            np.testing.assert_array_equal(ya, yb)
            np.testing.assert_array_equal(ca, cb)
    assert Dropout(0.0, always=True).eval().forward(x)[1] is None       # p = 0: the identity
    with pytest.raises(ValueError, match="always must be True or False"):
        Dropout(0.5, always=1)


# --- 5. receptive fields ------------------------------------------------------------------------------
def patchgan(n_layers, ndf=64, in_channels=6, norm=BatchNorm2d, rng=None, spectral=False):
    """pix2pix's discriminators (NLayerDiscriminator / PixelDiscriminator of the authors' code):
    4×4 convolutions, padding 1; n_layers strided ones (the first without a norm), one more of
    stride 1, then the 1-channel output of stride 1. n_layers=0: the 1×1 PixelGAN."""
    rng = rng if rng is not None else np.random.default_rng(0)
    wrap = SpectralNorm if spectral else (lambda layer: layer)
    if n_layers == 0:
        return Sequential(Conv2d(in_channels, ndf, 1, rng=rng), LeakyReLU(0.2),
                          Conv2d(ndf, 2 * ndf, 1, rng=rng), norm(2 * ndf), LeakyReLU(0.2),
                          Conv2d(2 * ndf, 1, 1, rng=rng))
    layers = [wrap(Conv2d(in_channels, ndf, 4, stride=2, padding=1, rng=rng)), LeakyReLU(0.2)]
    mult = 1
    for n in range(1, n_layers):
        prev, mult = mult, min(2 ** n, 8)
        layers += [wrap(Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, rng=rng)),
                   norm(ndf * mult), LeakyReLU(0.2)]
    prev, mult = mult, min(2 ** n_layers, 8)
    layers += [wrap(Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, rng=rng)),
               norm(ndf * mult), LeakyReLU(0.2),
               Conv2d(ndf * mult, 1, 4, stride=1, padding=1, rng=rng)]
    return Sequential(*layers)


def positive_weights(net, rng):
    """Every weight in [0.5, 1.5] (no cancellation anywhere: an output reads a pixel exactly
    when a path of taps joins them), float64, eval mode (batch norm: a per-pixel map)."""
    net.to("float64")
    for name, p, _ in net.named_parameters():
        p[...] = rng.uniform(0.5, 1.5, p.shape) if name.endswith("weight") else 0.1
    return net.eval()


def field_support(net, x, oh, ow):
    """Brute force, backward: with dy one-hot at output (0, 0, oh, ow), the input pixels whose
    gradient is not zero: (rows, cols) sorted."""
    y, cache = net.forward(x)
    dy = np.zeros_like(y)
    dy[0, 0, oh, ow] = 1
    reached = np.abs(net.backward(dy, cache)).sum(axis=(0, 1)) > 0
    return reached


def affected_outputs(net, x, ph, pw):
    """Brute force, forward: the output positions that change when input pixel (ph, pw) does."""
    y0, _ = net.forward(x)
    x1 = x.copy()
    x1[:, :, ph, pw] += 1.0
    y1, _ = net.forward(x1)
    return (y1 != y0).any(axis=(0, 1))


def box_mask(shape, box):
    (h0, h1), (w0, w1) = box
    m = np.zeros(shape, bool)
    m[max(h0, 0):max(h1 + 1, 0), max(w0, 0):max(w1 + 1, 0)] = True
    return m


def bounding_box(mask):
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return (int(rows[0]), int(rows[-1])), (int(cols[0]), int(cols[-1]))


@pytest.mark.parametrize("n_layers, size", [(0, 1), (1, 16), (3, 70), (5, 286)])
def test_patchgan_receptive_fields_are_the_papers(n_layers, size):
    net = patchgan(n_layers, ndf=64 if n_layers <= 3 else 4)
    rf = receptive_field(net, input_size=256)
    assert rf.size == (size, size)
    assert rf.jump == ((2 ** n_layers,) * 2 if n_layers else (1, 1))
    if n_layers == 3:
        assert rf.output_size == (30, 30)          # the 30×30 patch map of a 256×256 image
        assert net.forward(np.zeros((1, 6, 256, 256), np.float32))[0].shape[2:] == (30, 30)
    # spectral normalisation and other norms change nothing of the geometry
    assert receptive_field(patchgan(n_layers, ndf=2, spectral=True, norm=InstanceNorm2d)).size \
        == (size, size)


@pytest.mark.parametrize("n_layers, size, H", [(0, 1, 9), (1, 16, 40), (3, 70, 100)])
def test_patchgan_receptive_fields_against_brute_force(n_layers, size, H):
    rng = np.random.default_rng(n_layers)
    net = positive_weights(patchgan(n_layers, ndf=2, in_channels=3, rng=rng), rng)
    x = rng.standard_normal((1, 3, H, H))
    rf = receptive_field(net, input_size=H)
    OH = rf.output_size[0]
    o = OH // 2
    box = rf.input_box(o, o)
    assert box[0][0] >= 0 and box[0][1] < H, (box, H)      # the whole field inside the image
    reached = field_support(net, x, o, o)
    np.testing.assert_array_equal(reached, box_mask((H, H), box))     # exactly the box
    assert bounding_box(reached) == box and box[0][1] - box[0][0] + 1 == size
    # the corner patch reaches into the padding: it sees its box clipped to the image
    for o in (0, OH - 1):
        np.testing.assert_array_equal(field_support(net, x, o, 0),
                                      box_mask((H, H), rf.input_box(o, 0)))


def random_stack(rng, n_layers, C=2, gaps=True):
    """Random Conv2d (kernel 1..4, stride 1..2, padding 0..2, dilation mostly 1, each axis on
    its own), with AvgPool2d, LeakyReLU, BatchNorm2d and SpectralNorm here and there.
    gaps=False: stride <= kernel and dilation 1 everywhere (fields without holes)."""
    layers, c = [], 1
    for _ in range(n_layers):
        kind = rng.integers(6)
        if kind == 0:
            k = int(rng.integers(2, 4))
            layers.append(AvgPool2d(k, stride=int(rng.integers(1, 3)),
                                    padding=int(rng.integers(0, k // 2 + 1))))
            continue
        k = tuple(int(v) for v in rng.integers(1, 5, 2))
        s = tuple(int(rng.integers(1, 3 if gaps else min(kk, 2) + 1)) for kk in k)
        p = tuple(int(v) for v in rng.integers(0, 3, 2))
        d = tuple(int(v) for v in rng.choice([1, 1, 1, 2] if gaps else [1], 2))
        layer = Conv2d(c, C, k, stride=s, padding=p, dilation=d, rng=rng)
        layers.append(SpectralNorm(layer, rng=rng) if kind == 1 else layer)
        c = C
        if kind == 2:
            layers.append(LeakyReLU(0.2))
        if kind == 3:
            layers.append(BatchNorm2d(C))
    return Sequential(*layers)


def gap_free(net, axis):
    """False if some layer skips pixels along ``axis`` (stride > kernel, or dilation > 1):
    the field may then have holes along it."""
    for layer in net.layers:
        layer = getattr(layer, "layer", layer)
        if isinstance(layer, (Conv2d, AvgPool2d)):
            d = getattr(layer, "dilation", (1, 1))[axis]
            if layer.kernel_size[axis] < layer.stride[axis] or d > 1:
                return False
    return True


def padding_within_kernel(net):
    """True if every layer pads by less than its kernel (p < k): then at least one tap of an
    output at the border reads the image, and its field is its box clipped to the image. With
    p >= k a border output may read only padding (and nothing of the image at all)."""
    for layer in net.layers:
        layer = getattr(layer, "layer", layer)
        if isinstance(layer, (Conv2d, AvgPool2d)) and any(
                p >= k for p, k in zip(layer.padding, layer.kernel_size)):
            return False
    return True


@pytest.mark.parametrize("gaps", [True, False])
@pytest.mark.parametrize("seed", range(25))
def test_receptive_field_of_random_stacks_against_brute_force(seed, gaps):
    rng = np.random.default_rng(seed)
    net = positive_weights(random_stack(rng, int(rng.integers(1, 6)), gaps=gaps), rng)
    rf0 = receptive_field(net)
    (rh, rw), (jh, jw), (fh, fw) = rf0.size, rf0.jump, rf0.first
    H, W = rh + 3 * jh - 2 * fh + 6, rw + 3 * jw - 2 * fw + 7
    rf = receptive_field(net, input_size=(H, W))
    assert (rf.size, rf.jump, rf.first) == (rf0.size, rf0.jump, rf0.first)
    x = np.random.default_rng(seed + 100).uniform(0.5, 1.5, (1, 1, H, W))
    y, _ = net.forward(x)
    assert y.shape[2:] == rf.output_size
    OH, OW = y.shape[2:]
    # The field of output (i, j) is (its rows) × (its columns): every kernel is a full
    # rectangle of non-zero weights, so each axis can be checked on its own (projections).
    free = gap_free(net, 0), gap_free(net, 1)
    assert gaps or all(free)

    # backward: which input pixels reach the middle output; the extent is the formula's
    oh = min(max((H // 2 - fh - (rh - 1) // 2) // jh, 0), OH - 1)
    ow = min(max((W // 2 - fw - (rw - 1) // 2) // jw, 0), OW - 1)
    box = rf.input_box(oh, ow)
    assert box[0][0] >= 0 and box[0][1] < H and box[1][0] >= 0 and box[1][1] < W, (box, H, W)
    reached = field_support(net, x, oh, ow)
    assert bounding_box(reached) == box
    full = box_mask((H, W), box)
    for axis in (0, 1):
        if free[axis]:                     # no holes along this axis: the whole extent
            np.testing.assert_array_equal(reached.any(axis=1 - axis), full.any(axis=1 - axis))
    if all(free):
        np.testing.assert_array_equal(reached, full)
    if all(free) and padding_within_kernel(net):
        # the corner output, whose field reaches into the padding: the box, clipped
        np.testing.assert_array_equal(field_support(net, x, 0, 0),
                                      box_mask((H, W), rf.input_box(0, 0)))

    # forward: which outputs change when the middle input pixel does
    ph, pw = H // 2, W // 2
    changed = affected_outputs(net, x, ph, pw)
    predicted = np.zeros((OH, OW), bool)
    for i in range(OH):
        for j in range(OW):
            (h0, h1), (w0, w1) = rf.input_box(i, j)
            predicted[i, j] = h0 <= ph <= h1 and w0 <= pw <= w1
    assert not (changed & ~predicted).any()             # never outside the formula's fields
    if all(free):
        np.testing.assert_array_equal(changed, predicted)
        assert changed.any()


def test_a_field_with_holes():
    """Kernel 1 stride 2, then kernel 2: the field spans 3 pixels but skips the middle one."""
    rng = np.random.default_rng(0)
    net = positive_weights(Sequential(Conv2d(1, 1, 1, stride=2, rng=rng),
                                      Conv2d(1, 1, 2, rng=rng)), rng)
    rf = receptive_field(net)
    assert rf.size == (3, 3) and rf.jump == (2, 2) and rf.first == (0, 0)
    reached = field_support(net, np.ones((1, 1, 9, 9)), 1, 1)
    rows = np.nonzero(reached.any(axis=1))[0]
    assert rows.tolist() == [2, 4]                       # box 2..4, pixel 3 never read


def test_receptive_field_arithmetic_and_containers():
    rng = np.random.default_rng(0)
    conv = Conv2d(1, 1, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2), rng=rng)
    rf = receptive_field(conv)
    assert rf == ReceptiveField(size=(3, 9), jump=(2, 1), first=(-1, -2))
    pool = AvgPool2d(2)
    nested = Sequential(Sequential(conv, ReLU()), SpectralNorm(Conv2d(1, 1, 3, rng=rng)), pool)
    as_list = [conv, ReLU(), Conv2d(1, 1, 3, rng=rng), pool]
    # then conv 3: r = 3 + 2·2 = 7 (rows), 9 + 2·1 = 11 (cols); pool 2: r += 1·j, j ·= 2
    expected = ReceptiveField(size=(7 + 2, 11 + 1), jump=(4, 2), first=(-1, -2))
    assert receptive_field(nested) == expected == receptive_field(as_list)
    assert receptive_field([]) == ReceptiveField((1, 1), (1, 1), (0, 0))
    assert receptive_field([], input_size=(5, 6)).output_size == (5, 6)
    assert rf.input_box(2, 3) == ((3, 5), (1, 9))


def test_receptive_field_errors():
    rng = np.random.default_rng(0)
    conv = Conv2d(1, 1, 3, rng=rng)
    for layer, why in [(ConvTranspose2d(1, 1, 4, rng=rng), "upsamples"),
                       (Upsample(2), "upsamples"),
                       (Linear(4, 2, rng=rng), "whole input"),
                       (Flatten(), "whole input"),
                       (Highway(4, rng=rng), "no receptive-field rule for Highway")]:
        with pytest.raises(TypeError, match=re.escape("layer layers[1], ") + ".*" + why):
            receptive_field(Sequential(conv, layer))
    with pytest.raises(TypeError, match=r"layers\[0\]\.layer, Linear.*whole input"):
        receptive_field([SpectralNorm(Linear(3, 2, rng=rng), rng=rng)])
    with pytest.raises(TypeError, match="expected minigan.nn layers, got str"):
        receptive_field([conv, "relu"])
    with pytest.raises(ValueError, match=r"layer layers\[1\], Conv2d.*does not fit.*\(2, 2\)"):
        receptive_field([conv, Conv2d(1, 1, 4, rng=rng)], input_size=4)
    for bad in (0, 3.0, (4,), (4, -1), True, "8"):
        with pytest.raises(ValueError, match="input_size must be a positive int"):
            receptive_field([conv], input_size=bad)
