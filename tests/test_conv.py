"""Conv2d and ConvTranspose2d: forward against direct loops (torch's definitions), backward
against finite differences (float64), the adjoint identity, init, errors, the layer contract."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minigan import backend
from minigan.gradcheck import check_layer
from minigan.nn import InstanceNorm2d, LeakyReLU, Sequential
from minigan.nn.conv import Conv2d, ConvTranspose2d

TOL = 1e-6


def pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def randomize(layer, seed=0):
    """Non-trivial float64 parameters: weights AND biases random normal."""
    layer.to("float64")
    rng = np.random.default_rng(seed)
    for p in layer.params.values():
        p[...] = rng.standard_normal(p.shape)
    return layer


# --- direct definitions, written independently of im2col ------------------------------------

def conv2d_naive(x, w, b, stride, padding, dilation):
    """y[n, f, oh, ow] = b[f] + Σ_{c,i,j} w[f, c, i, j] · x_pad[n, c, oh·s + i·d, ow·s + j·d]."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    OH = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    y = np.zeros((N, F, OH, OW))
    for oh in range(OH):
        for ow in range(OW):
            for i in range(KH):
                for j in range(KW):
                    patch = xp[:, :, oh * sh + i * dh, ow * sw + j * dw]          # (N, C)
                    y[:, :, oh, ow] += patch @ w[:, :, i, j].T
    return y + (0 if b is None else b[None, :, None, None])


def conv_transpose2d_naive(x, w, b, stride, padding, output_padding, dilation):
    """torch's definition: input pixel (h, w) adds x[n, c, h, w]·w[c, f, i, j] onto output pixel
    (h·s − p + i·d, w·s − p + j·d); output_padding adds rows/columns at the bottom/right."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    oph, opw = pair(output_padding)
    N, Ci, H, W = x.shape
    _, Co, KH, KW = w.shape
    OH = (H - 1) * sh - 2 * ph + dh * (KH - 1) + oph + 1
    OW = (W - 1) * sw - 2 * pw + dw * (KW - 1) + opw + 1
    canvas = np.zeros((N, Co, (H - 1) * sh + dh * (KH - 1) + 1 + oph,
                       (W - 1) * sw + dw * (KW - 1) + 1 + opw))
    for h in range(H):
        for v in range(W):
            for i in range(KH):
                for j in range(KW):
                    canvas[:, :, h * sh + i * dh, v * sw + j * dw] += x[:, :, h, v] @ w[:, :, i, j]
    y = canvas[:, :, ph: ph + OH, pw: pw + OW]
    return y + (0 if b is None else b[None, :, None, None])


# (C, F, N, H, W, kernel, stride, padding, dilation)
CONV_CONFIGS = [
    (2, 3, 2, 5, 5, 3, 1, 0, 1),
    (2, 3, 1, 6, 7, 3, 2, 1, 1),                   # batch 1, odd size, stride 2
    (1, 2, 2, 7, 6, (2, 3), (1, 2), (2, 1), 1),    # non-square everything
    (3, 2, 2, 7, 7, 3, 3, 2, 1),                   # stride 3, padding 2
    (2, 2, 1, 8, 7, 3, 1, 1, 2),                   # dilation 2
    (2, 2, 2, 9, 8, (3, 2), 2, (0, 2), (2, 1)),
    (2, 3, 2, 5, 5, 5, 2, 2, 2),                   # padding 2, stride 2, dilation 2
    (1, 2, 1, 4, 4, 4, 1, 0, 1),                   # kernel = image: a 1×1 output
    (3, 4, 2, 3, 4, 1, 1, 0, 1),                   # 1×1 convolution
    (2, 2, 3, 5, 6, 2, 3, 0, 1),                   # windows that skip pixels (s > k)
    (3, 1, 2, 6, 6, 4, 1, 1, 1),                   # one filter (a PatchGAN's logits): dx's
]                                                  # product is an outer product

# (C_in, C_out, N, H, W, kernel, stride, padding, output_padding, dilation)
CONVT_CONFIGS = [
    (2, 3, 2, 3, 4, 3, 1, 0, 0, 1),
    (3, 2, 1, 4, 3, 4, 2, 1, 0, 1),                # the DCGAN block, batch 1
    (2, 2, 2, 3, 3, 3, 2, 1, 1, 1),                # output_padding
    (2, 3, 1, 3, 4, (2, 3), (3, 2), (2, 1), (2, 1), 1),   # stride 3, op 2, non-square
    (2, 2, 2, 3, 3, 3, 1, 1, 0, 2),                # dilation 2
    (2, 2, 1, 3, 4, 2, 1, 0, 1, 2),                # output_padding ≥ stride (< dilation)
    (1, 2, 2, 2, 2, 5, 3, 2, 0, 1),
    (2, 2, 1, 4, 3, (1, 3), (2, 1), (0, 2), (1, 0), (1, 2)),
]


@pytest.mark.parametrize("cfg", CONV_CONFIGS)
def test_conv2d_forward_matches_definition(cfg):
    C, F, N, H, W, k, s, p, d = cfg
    layer = randomize(Conv2d(C, F, k, stride=s, padding=p, dilation=d))
    x = np.random.default_rng(1).standard_normal((N, C, H, W))
    y, _ = layer.forward(x)
    expected = conv2d_naive(x, layer.params["weight"], layer.params["bias"], s, p, d)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    assert y.flags.c_contiguous


@pytest.mark.parametrize("cfg", CONV_CONFIGS)
def test_conv2d_gradcheck(cfg):
    C, F, N, H, W, k, s, p, d = cfg
    layer = randomize(Conv2d(C, F, k, stride=s, padding=p, dilation=d), seed=2)
    x = np.random.default_rng(3).standard_normal((N, C, H, W))
    errors = check_layer(layer, x, seed=4)
    assert set(errors) == {"x", "weight", "bias"}
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("cfg", CONVT_CONFIGS)
def test_conv_transpose2d_forward_matches_definition(cfg):
    Ci, Co, N, H, W, k, s, p, op, d = cfg
    layer = randomize(ConvTranspose2d(Ci, Co, k, stride=s, padding=p, output_padding=op,
                                      dilation=d))
    x = np.random.default_rng(1).standard_normal((N, Ci, H, W))
    y, _ = layer.forward(x)
    expected = conv_transpose2d_naive(x, layer.params["weight"], layer.params["bias"], s, p, op, d)
    assert y.shape == expected.shape == (N, Co) + layer.output_size(H, W)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cfg", CONVT_CONFIGS)
def test_conv_transpose2d_gradcheck(cfg):
    Ci, Co, N, H, W, k, s, p, op, d = cfg
    layer = randomize(ConvTranspose2d(Ci, Co, k, stride=s, padding=p, output_padding=op,
                                      dilation=d), seed=5)
    x = np.random.default_rng(6).standard_normal((N, Ci, H, W))
    errors = check_layer(layer, x, seed=7)
    assert set(errors) == {"x", "weight", "bias"}
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("cfg", CONVT_CONFIGS)
def test_adjoint_identity(cfg):
    """⟨conv(x), y⟩ = ⟨x, convT(y)⟩ for a Conv2d and a ConvTranspose2d sharing one weight
    (no bias). With output_padding ≥ stride the conv fits more windows than convT's input
    has pixels; convT is then the adjoint of the conv cropped to those."""
    Ci, Co, N, H, W, k, s, p, op, d = cfg
    convT = randomize(ConvTranspose2d(Ci, Co, k, stride=s, padding=p, output_padding=op,
                                      dilation=d, bias=False), seed=8)
    conv = Conv2d(Co, Ci, k, stride=s, padding=p, dilation=d, bias=False).to("float64")
    conv.params["weight"][...] = convT.params["weight"]      # (C_in, C_out, KH, KW) for both
    OH, OW = convT.output_size(H, W)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((N, Co, OH, OW))                 # conv's input = convT's output
    y = rng.standard_normal((N, Ci, H, W))                   # conv's output = convT's input
    cx = conv.forward(x)[0]
    if all(o < st_ for o, st_ in zip(pair(op), pair(s))):
        assert cx.shape[2:] == (H, W)
    lhs = float((cx[:, :, :H, :W] * y).sum())
    rhs = float((x * convT.forward(y)[0]).sum())
    assert math.isclose(lhs, rhs, rel_tol=1e-10, abs_tol=1e-10), (lhs, rhs)


@settings(max_examples=15, deadline=None)
@given(C=st.integers(1, 3), F=st.integers(1, 3), N=st.integers(1, 2),
       H=st.integers(1, 9), W=st.integers(1, 9), KH=st.integers(1, 4), KW=st.integers(1, 4),
       s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 2), seed=st.integers(0, 99))
def test_property_conv_matches_definition_and_is_adjoint(C, F, N, H, W, KH, KW, s, p, d, seed):
    """For any geometry that fits: Conv2d = the direct definition, and ⟨conv(x), y⟩ =
    ⟨x, convT(y)⟩ with the output_padding that recovers x's size."""
    conv = randomize(Conv2d(C, F, (KH, KW), stride=s, padding=p, dilation=d), seed)
    OH = (H + 2 * p - d * (KH - 1) - 1) // s + 1
    OW = (W + 2 * p - d * (KW - 1) - 1) // s + 1
    if OH <= 0 or OW <= 0:
        with pytest.raises(ValueError, match="too small"):
            conv.forward(np.zeros((N, C, H, W)))
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W))
    y = conv.forward(x)[0]
    np.testing.assert_allclose(y, conv2d_naive(x, conv.params["weight"], conv.params["bias"],
                                               s, p, d), rtol=1e-11, atol=1e-11)
    op = ((H + 2 * p - d * (KH - 1) - 1) % s, (W + 2 * p - d * (KW - 1) - 1) % s)
    convT = ConvTranspose2d(F, C, (KH, KW), stride=s, padding=p, output_padding=op, dilation=d,
                            bias=False).to("float64")
    convT.params["weight"][...] = conv.params["weight"]
    g = rng.standard_normal(y.shape)
    back = convT.forward(g)[0]
    assert back.shape == x.shape
    lhs = float(((y - conv.params["bias"][None, :, None, None]) * g).sum())
    assert math.isclose(lhs, float((x * back).sum()), rel_tol=1e-9, abs_tol=1e-9)


# --- shapes, init, errors -------------------------------------------------------------------

def test_dcgan_shapes_and_torch_output_sizes():
    x = np.zeros((2, 1, 28, 28), dtype=np.float32)
    h, _ = Conv2d(1, 8, 4, stride=2, padding=1).forward(x)
    assert h.shape == (2, 8, 14, 14)
    up, _ = ConvTranspose2d(8, 4, 4, stride=2, padding=1).forward(h)
    assert up.shape == (2, 4, 28, 28)
    convT = ConvTranspose2d(3, 3, 3, stride=2, padding=1, output_padding=1)
    assert convT.output_size(7, 5) == (14, 10)
    assert Conv2d(3, 3, 3, stride=2, padding=1, dilation=2).output_size(14, 9) == (6, 4)


@pytest.mark.parametrize("cls, shape, fan_in", [
    (Conv2d, (64, 32, 3, 5), 32 * 3 * 5),                  # weight (F, C, KH, KW)
    (ConvTranspose2d, (32, 64, 3, 5), 64 * 3 * 5),         # weight (C_in, C_out, KH, KW)
])
def test_torch_initialisation(cls, shape, fan_in):
    layer = cls(32, 64, (3, 5), rng=np.random.default_rng(0))
    w, b = layer.params["weight"], layer.params["bias"]
    assert w.shape == shape and b.shape == (64,) and w.dtype == np.float32
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound      # uniform(−bound, bound)
    assert np.abs(b).max() > 0.5 * bound                           # not zeros


def test_errors_are_clear():
    conv = Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match="3 channels"):
        conv.forward(np.zeros((2, 4, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="too small"):
        conv.forward(np.zeros((2, 3, 2, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="4 dimensions"):
        conv.forward(np.zeros((3, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="dtype"):
        conv.forward(np.zeros((2, 3, 8, 8)))                       # float64 vs float32 params
    with pytest.raises(ValueError, match="stride"):
        Conv2d(3, 4, 3, stride=0)
    with pytest.raises(ValueError, match="padding"):
        Conv2d(3, 4, 3, padding=-1)
    with pytest.raises(ValueError, match="kernel_size"):
        Conv2d(3, 4, (3, 3, 3))
    with pytest.raises(ValueError, match="output_padding"):
        ConvTranspose2d(3, 4, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="4 channels"):
        ConvTranspose2d(4, 2, 3).forward(np.zeros((1, 3, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="too small"):
        ConvTranspose2d(1, 1, 1, padding=2).forward(np.zeros((1, 1, 3, 3), dtype=np.float32))


# --- the layer contract ---------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: Conv2d(2, 3, 3, stride=2, padding=1),
                                  lambda: ConvTranspose2d(2, 3, 4, stride=2, padding=1)])
def test_contract_caches_accumulation_and_dy_untouched(make):
    """Two forwards (real, fake) then two backwards: each uses its own cache, the gradients
    add up, dy is not written, and the layer keeps nothing of a call."""
    layer = randomize(make())
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 5, 5))
    attrs = set(vars(layer))
    ya, ca = layer.forward(xa)
    yb, cb = layer.forward(xb)
    assert set(vars(layer)) == attrs
    dya, dyb = rng.standard_normal(ya.shape), rng.standard_normal(yb.shape)
    dya_copy = dya.copy()
    layer.zero_grad()
    dxb = layer.backward(dyb, cb)
    dxa = layer.backward(dya, ca)
    np.testing.assert_array_equal(dya, dya_copy)
    both = {k: g.copy() for k, g in layer.grads.items()}
    for x, dy, dx_seen in ((xa, dya, dxa), (xb, dyb, dxb)):
        layer.zero_grad()
        dx = layer.backward(dy, layer.forward(x)[1])
        np.testing.assert_allclose(dx, dx_seen)
        for k in both:
            both[k] -= layer.grads[k]
    for k, rest in both.items():
        np.testing.assert_allclose(rest, 0, atol=1e-12)


@pytest.mark.parametrize("make", [lambda: Conv2d(3, 4, 3, padding=1),
                                  lambda: ConvTranspose2d(3, 4, 4, stride=2, padding=1)])
def test_float32_runs_in_float32_and_agrees_with_float64(make):
    layer = make()
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    y, cache = layer.forward(x)
    dx = layer.backward(np.ones_like(y), cache)
    assert y.dtype == dx.dtype == layer.grads["weight"].dtype == np.float32
    y64, _ = layer.to("float64").forward(x.astype(np.float64))
    np.testing.assert_allclose(y, y64, rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and a CUDA GPU")
def test_gpu_matches_cpu():  # pragma: no cover - needs a GPU
    import cupy
    rng = np.random.default_rng(0)
    for layer, shape in ((Conv2d(3, 4, 3, stride=2, padding=1, dilation=2), (2, 3, 9, 8)),
                         (ConvTranspose2d(3, 4, 4, stride=2, padding=1, output_padding=1),
                          (2, 3, 5, 4))):
        randomize(layer)
        x = rng.standard_normal(shape)
        y, c = layer.forward(x)
        dy = rng.standard_normal(y.shape)
        layer.zero_grad()
        dx = layer.backward(dy, c)
        cpu = {k: g.copy() for k, g in layer.grads.items()}
        for k in list(layer.params):                       # move the layer to the GPU
            layer.params[k] = cupy.asarray(layer.params[k])
            layer.grads[k] = cupy.zeros_like(layer.params[k])
        yg, cg = layer.forward(cupy.asarray(x))
        dxg = layer.backward(cupy.asarray(dy), cg)
        np.testing.assert_allclose(cupy.asnumpy(yg), y, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(cupy.asnumpy(dxg), dx, rtol=1e-10, atol=1e-10)
        for k in cpu:
            np.testing.assert_allclose(cupy.asnumpy(layer.grads[k]), cpu[k], rtol=1e-10,
                                       atol=1e-10)


@pytest.mark.parametrize("make, shape", [
    (lambda: Conv2d(8, 6, 3, stride=2, padding=1, dilation=2), (4, 8, 30, 29)),
    (lambda: ConvTranspose2d(8, 6, 4, stride=2, padding=1, output_padding=1), (4, 8, 15, 16)),
    (lambda: ConvTranspose2d(8, 6, 3, stride=1, output_padding=1, dilation=2), (4, 8, 15, 16)),
])
def test_layer_results_do_not_depend_on_the_kernel(make, shape, monkeypatch):
    """Arrays this size take the numba kernels (where installed); MINIGAN_KERNELS=numpy
    forces the NumPy reference. Same forward and backward either way."""
    layer = randomize(make())
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    results = []
    for kernels in ("auto", "numpy"):
        monkeypatch.setenv("MINIGAN_KERNELS", kernels)
        layer.zero_grad()
        y, cache = layer.forward(x)
        dx = layer.backward(np.cos(y), cache)
        results.append([y, dx] + [g.copy() for g in layer.grads.values()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: Conv2d(3, 4, 3, stride=2, padding=1),
    lambda: Sequential(Conv2d(3, 4, 3, padding=1), LeakyReLU(0.2), Conv2d(4, 1, 3)),
    lambda: Sequential(LeakyReLU(0.2), Conv2d(3, 2, 3, bias=False), InstanceNorm2d(2, True)),
    lambda: Sequential(LeakyReLU(0.2)),                       # no parameters at all
    lambda: InstanceNorm2d(3, affine=True),                   # Module's default
], ids=["conv", "seq", "seq-leading-activation", "seq-no-params", "default"])
def test_backward_params_adds_what_backward_adds(make):
    """backward_params (the input is data): the same parameter gradients, bit for bit, as
    backward, and no input gradient (None)."""
    a, b = make().to("float64"), make().to("float64")
    for (_, pa, _), (_, pb, _) in zip(a.named_parameters(), b.named_parameters()):
        pb[...] = pa
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 7))
    y, cache = a.forward(x)
    dy = np.random.default_rng(1).standard_normal(y.shape)
    for _ in range(2):                                        # they accumulate alike
        assert a.backward(dy, cache).shape == x.shape
        assert b.backward_params(dy, b.forward(x)[1]) is None
    for (name, _, ga), (_, _, gb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(ga, gb, err_msg=name)

