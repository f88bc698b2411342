"""The checks of chapter 5's exercises accept correct answers and reject plausible wrong ones,
each with the hint that names the mistake."""
import numpy as np
import pytest

from minigan.exercises import ch05_dcgan as ex
from minigan.exercises import ExerciseError

from minigan.gans.dcgan import dcgan_generator        # as a learner's notebook might import it
from exercise_helpers import check_tests


# --- correct answers ---------------------------------------------------------------------

def transposed_conv_output_size(H, k, s, p, output_padding):
    return (H - 1) * s - 2 * p + k + output_padding


def build_generator(latent_dim, image_shape, width, n_layers, *, bad=None):
    """The right answer, or (bad=...) one plausible mistake."""
    from minigan.nn import (BatchNorm1d, BatchNorm2d, Conv2d, ConvTranspose2d,
                            LeakyReLU, Linear, ReLU, Reshape, Sequential, Sigmoid, Tanh, Upsample)
    C, H, W = image_shape
    h, w = H // 2 ** n_layers, W // 2 ** n_layers
    if bad == "fixed start":
        h, w = 2, 2 * W // H                          # the 8x8 preset's 2x2, hard-coded
    ch = width * 2 ** (n_layers - 1)
    if bad == "constant width":
        ch = width
    act = LeakyReLU(0.2) if bad == "leaky" else ReLU()
    k, s, p = {"k3": (3, 2, 1), "p0": (4, 2, 0), "k3 p0": (3, 2, 0)}.get(bad, (4, 2, 1))
    if bad == "extra linear":
        layers = [Linear(latent_dim, 64), ReLU(), Linear(64, ch * h * w, bias=False)]
    else:
        layers = [Linear(latent_dim, ch * h * w, bias=bad == "bias before bn")]
    if bad == "bn1d":
        layers += [BatchNorm1d(ch * h * w), ReLU(), Reshape(ch, h, w)]
    else:
        layers.append(Reshape(ch, w, h) if bad == "reshape w h" else Reshape(ch, h, w))
        layers += [ReLU(), BatchNorm2d(ch)] if bad == "relu first" else [BatchNorm2d(ch), ReLU()]
    for i in range(n_layers):
        last = i == n_layers - 1
        out = C if last else (ch if bad == "constant width" else ch // 2)
        if bad == "upsample":
            layers += [Upsample(2), Conv2d(ch, out, 3, padding=1, bias=last)]
        else:
            layers.append(ConvTranspose2d(ch, out, k, stride=s, padding=p,
                                          bias=(last and bad != "no output bias")
                                          or (not last and bad == "bias before bn")))
        if last:
            if bad == "bn at output":
                layers.append(BatchNorm2d(out))
            layers += {"sigmoid": [Sigmoid()], "no tanh": [], "relu out": [ReLU()]}.get(bad, [Tanh()])
        elif bad == "no hidden bn":
            layers.append(act)
        else:
            layers += [BatchNorm2d(out), act]
        ch = out
    if bad == "list":
        return layers
    if bad == "nested":                               # right: nested Sequentials are fine
        return Sequential(Sequential(*layers[:4]), Sequential(*layers[4:]))
    return Sequential(*layers)


def build_generator_nested(latent_dim, image_shape, width, n_layers):
    return build_generator(latent_dim, image_shape, width, n_layers, bad="nested")


def build_generator_inferred_reshape(latent_dim, image_shape, width, n_layers):
    from minigan.nn import Reshape
    net = build_generator(latent_dim, image_shape, width, n_layers)
    C, H, W = image_shape
    net.layers[1] = Reshape(-1, H // 2 ** n_layers, W // 2 ** n_layers)     # right too
    return net


def build_generator_float64(latent_dim, image_shape, width, n_layers):
    net = build_generator(latent_dim, image_shape, width, n_layers)
    return net.to("float64")


def _gen(bad):
    return lambda latent_dim, image_shape, width, n_layers: build_generator(
        latent_dim, image_shape, width, n_layers, bad=bad)


def interpolate_latents(z0, z1, n):
    t = np.linspace(0, 1, n)[:, None]
    return z0 + t * (z1 - z0)                 # a different, equally right, form from the check's


def interpolate_latents_loop(z0, z1, n):
    return np.stack([z0 + i / (n - 1) * (z1 - z0) for i in range(n)])


def interpolate_latents_float32(z0, z1, n):          # float32 by accident: still right
    t = np.linspace(0, 1, n, dtype=np.float32)[:, None]
    return (z0.astype(np.float32) + t * (z1 - z0).astype(np.float32))


def transposed_conv_output_size_numpy_int(H, k, s, p, output_padding):
    return np.int64(H - 1) * s - 2 * p + k + output_padding


CORRECT = [
    (ex.check_transposed_conv_output_size, transposed_conv_output_size),
    (ex.check_transposed_conv_output_size, transposed_conv_output_size_numpy_int),
    (ex.check_dcgan_generator, build_generator),
    (ex.check_dcgan_generator, build_generator_nested),
    (ex.check_dcgan_generator, build_generator_float64),
    (ex.check_dcgan_generator, build_generator_inferred_reshape),
    (ex.check_interpolate_latents, interpolate_latents),
    (ex.check_interpolate_latents, interpolate_latents_loop),
    (ex.check_interpolate_latents, interpolate_latents_float32),
]


(test_check_accepts_correct_answer, test_every_check_is_covered,
 test_not_implemented_propagates_unchanged) = check_tests(ex, CORRECT)


def test_generator_reference_is_the_library_and_runs_each_case():
    # the check's plan is minigan's own generator, layer for layer, on every case
    from minigan.gans.dcgan import dcgan_generator
    for latent_dim, shape, width, n_layers, _ in ex._GENERATOR_CASES:
        net = dcgan_generator(latent_dim, shape, width, n_layers)
        assert ex._generator_structure_hint(net.layers, latent_dim, shape, width, n_layers) is None
        y, _ = net.forward(np.zeros((2, latent_dim), np.float32))
        assert y.shape == (2,) + shape


def _imported_generator(latent_dim, image_shape, width, n_layers):
    return dcgan_generator(latent_dim, image_shape, width, n_layers)


def test_calling_minigans_generator_is_refused():
    from minigan.gans import DCGAN
    with pytest.raises(ExerciseError, match=r"calls minigan.s dcgan_generator"):     # imported by name
        ex.check_dcgan_generator(_imported_generator)
    assert dcgan_generator.__name__ == "dcgan_generator"          # the name is put back
    with pytest.raises(ExerciseError, match=r"calls minigan's dcgan_generator"):
        ex.check_dcgan_generator(lambda l, sh, w, n: DCGAN(data_shape=sh, latent_dim=l, width=w,
                                                             n_layers=n).G)
    import minigan.gans.dcgan as dcgan_module
    assert dcgan_module.dcgan_generator is dcgan_generator      # put back


def test_reference_sizes_are_pytorchs_formula():
    # the check's reference (minigan's layer) against the formula written out, on every case
    for H, k, s, p, op, _ in ex._SIZE_CASES:
        assert ex._reference_size(H, k, s, p, op) == (H - 1) * s - 2 * p + k + op


# --- wrong answers, with the hint each must produce ----------------------------------------

def _lerp_t(t_fn):
    def f(z0, z1, n):
        t = t_fn(n)[:, None]
        return (1 - t) * z0 + t * z1
    return f


WRONG = {
    # 5.1
    "size: the forward conv's formula": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: (H + 2 * p - k) // s + 1,
        r"forward\) convolution"),
    "size: H * s": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: H * s, r"H·s is only"),
    "size: one p instead of 2p": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: (H - 1) * s - p + k + op,
        r"−2p"),
    "size: + 2p": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: (H - 1) * s + 2 * p + k + op,
        r"subtracts"),
    "size: output_padding forgotten": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: (H - 1) * s - 2 * p + k,
        r"\+ output_padding"),
    "size: output_padding subtracted": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: (H - 1) * s - 2 * p + k - op,
        r"added, not subtracted"),
    "size: H * s instead of (H - 1) * s": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: H * s - 2 * p + k + op,
        r"\(H − 1\)·s, not H·s"),
    "size: an extra + 1": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: (H - 1) * s - 2 * p + k + op + 1,
        r"no extra \+ 1"),
    "size: k - 1 without the + 1": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: (H - 1) * s - 2 * p + k - 1 + op,
        r"no − 1"),
    "size: padding and output_padding ignored": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: (H - 1) * s + k,
        r"both missing"),
    "size: a float from /": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: ((H - 1) * s - 2 * p + k + op) / 1,
        r"integer"),
    "size: returns nothing": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: None, r"return"),
    # 5.2
    "generator: batch norm at the output": (ex.check_dcgan_generator, _gen("bn at output"),
                                            r"no batch norm at G's output"),
    "generator: sigmoid at the output": (ex.check_dcgan_generator, _gen("sigmoid"),
                                         r"not Sigmoid"),
    "generator: no tanh": (ex.check_dcgan_generator, _gen("no tanh"), r"last layer is Tanh"),
    "generator: ReLU at the output": (ex.check_dcgan_generator, _gen("relu out"),
                                      r"last layer is Tanh"),
    "generator: LeakyReLU in G": (ex.check_dcgan_generator, _gen("leaky"),
                                  r"LeakyReLU\(0.2\) is the discriminator's"),
    "generator: 3x3 kernels (8 -> 5)": (ex.check_dcgan_generator, _gen("k3"),
                                          r"(?s)4×4 kernel.*2 -> 3 -> 5 instead of 2 -> 4 -> 8"),
    "generator: no padding (8 -> 14)": (ex.check_dcgan_generator, _gen("p0"),
                                         r"(?s)padding 1.*2 -> 6 -> 14 instead of 2 -> 4 -> 8"),
    "generator: 3x3, no padding": (ex.check_dcgan_generator, _gen("k3 p0"),
                                                 r"4×4 kernel, stride 2 and padding"),
    "generator: a hard-coded 2x2 start (28 -> 8)": (ex.check_dcgan_generator, _gen("fixed start"),
                                                    r"H/2\^n_layers"),
    "generator: upsample + conv instead of transposed convs": (
        ex.check_dcgan_generator, _gen("upsample"), r"no pooling and no fixed upsampling"),
    "generator: a fully connected hidden layer": (ex.check_dcgan_generator, _gen("extra linear"),
                                                  r"no fully connected hidden layers"),
    "generator: no batch norm in the hidden layers": (ex.check_dcgan_generator, _gen("no hidden bn"),
                                                      r"batch norm in every layer except the output"),
    "generator: ReLU before batch norm": (ex.check_dcgan_generator, _gen("relu first"),
                                          r"batch norm first, then the ReLU"),
    "generator: biases before batch norm": (ex.check_dcgan_generator, _gen("bias before bn"),
                                            r"carries no bias"),
    "generator: no bias on the output layer": (ex.check_dcgan_generator, _gen("no output bias"),
                                               r"keeps its bias"),
    "generator: BatchNorm1d on the projection": (ex.check_dcgan_generator, _gen("bn1d"),
                                                 r"per CHANNEL"),
    "generator: the same width everywhere": (ex.check_dcgan_generator, _gen("constant width"),
                                             r"width·2\^\(n_layers−1\)"),
    "generator: Reshape(ch, w, h)": (ex.check_dcgan_generator, _gen("reshape w h"),
                                     r"height first"),
    "generator: a list of layers": (ex.check_dcgan_generator, _gen("list"), r"Sequential\(\*layers\)"),
    "generator: returns nothing": (ex.check_dcgan_generator, lambda l, sh, w, n: None,
                                   r"forget a `return`"),
    # 5.3
    "lerp: endpoint=False": (
        ex.check_interpolate_latents, _lerp_t(lambda n: np.linspace(0, 1, n, endpoint=False)),
        r"one step short of z1"),
    "lerp: t = i / n": (
        ex.check_interpolate_latents, _lerp_t(lambda n: np.arange(n) / n), r"one step short"),
    "lerp: reversed": (
        ex.check_interpolate_latents, lambda z0, z1, n: interpolate_latents(z1, z0, n),
        r"reversed"),
    "lerp: starts one step in": (
        ex.check_interpolate_latents, _lerp_t(lambda n: np.arange(1, n + 1) / n), r"row 0 must be z0"),
    "lerp: n + 1 points": (
        ex.check_interpolate_latents, _lerp_t(lambda n: np.linspace(0, 1, n + 1)),
        r"exactly n = \d+ points"),
    "lerp: n - 1 points": (
        ex.check_interpolate_latents, _lerp_t(lambda n: np.linspace(0, 1, n - 1)),
        r"exactly n = \d+ points"),
    "lerp: transposed": (
        ex.check_interpolate_latents, lambda z0, z1, n: interpolate_latents(z0, z1, n).T,
        r"transposed"),
    "lerp: not evenly spaced (t squared)": (
        ex.check_interpolate_latents, _lerp_t(lambda n: np.linspace(0, 1, n) ** 2),
        r"not evenly spaced"),
    "lerp: slerp instead": (
        ex.check_interpolate_latents,
        lambda z0, z1, n: (lambda om, t: (np.sin((1 - t) * om) * z0 + np.sin(t * om) * z1)
                           / np.sin(om))(
            np.arccos(np.clip(z0 @ z1 / np.linalg.norm(z0) / np.linalg.norm(z1), -1, 1)),
            np.linspace(0, 1, n)[:, None]),
        r"not evenly spaced|interpolations are wrong"),
    "lerp: divides by n - 2": (
        ex.check_interpolate_latents,
        lambda z0, z1, n: z0 + (np.arange(n)[:, None] / (n - 2) if n > 2 else
                                np.arange(n)[:, None] / 0.0) * (z1 - z0),
        r"inf or nan|last row must be z1"),
    "lerp: writes into z0": (
        ex.check_interpolate_latents, lambda z0, z1, n: _writes_into(z0, z1, n),
        r"changed its argument `z0`"),
    "lerp: a 1-D result": (
        ex.check_interpolate_latents, lambda z0, z1, n: np.linspace(0, 1, n), r"whole vectors"),
}


def _writes_into(z0, z1, n):
    out = interpolate_latents(z0, z1, n)
    z0 *= 0.0                                  # clobbers the caller's z0
    return out


@pytest.mark.parametrize("name", list(WRONG))
def test_check_rejects_wrong_answer_with_hint(name):
    check, fn, hint = WRONG[name]
    with np.errstate(all="ignore"):
        with pytest.raises(ExerciseError, match=hint):
            check(fn)
