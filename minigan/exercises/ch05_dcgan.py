"""Checks for the exercises of chapter 5 (DCGAN), in the manner of :mod:`minigan.exercises`.

Each ``check_*`` runs the learner's function on several cases, compares it with minigan's own
answer, and either prints one pass line or raises :class:`~minigan.exercises.ExerciseError`
saying which case is wrong and, where the wrong answer looks like a known mistake, a hint.
``NotImplementedError`` raised by an unfinished exercise propagates unchanged.

=====================================  ==========  ==============================================
check                                  exercise    the learner writes
=====================================  ==========  ==============================================
check_transposed_conv_output_size      5.1         transposed_conv_output_size(H, k, s, p, op)
check_dcgan_generator                  5.2         build_generator(latent_dim, image_shape, width,
                                                   n_layers) -> a Sequential of minigan layers
check_interpolate_latents              5.3         interpolate_latents(z0, z1, n) -> (n, d)
=====================================  ==========  ==============================================
"""
from __future__ import annotations

import numpy as np

from .checker import (by_hand, ExerciseError, TOL, _call, _compare, _name, _passed, _quiet,
                      _unpack)
from ..gradcheck import rel_error

__all__ = ["check_transposed_conv_output_size", "check_dcgan_generator",
           "check_interpolate_latents"]


# --------------------------------------------------------------------------------------
# Exercise 5.1: the output size of a transposed convolution
# --------------------------------------------------------------------------------------

# (H, k, s, p, output_padding, what the case is)
_SIZE_CASES = [
    (2, 4, 2, 1, 0, "8x8 DCGAN: 2 -> 4"),
    (4, 4, 2, 1, 0, "8x8 DCGAN: 4 -> 8"),
    (7, 4, 2, 1, 0, "28x28 DCGAN: 7 -> 14"),
    (14, 4, 2, 1, 0, "28x28 DCGAN: 14 -> 28"),
    (5, 3, 1, 1, 0, "stride 1, 'same' padding"),
    (5, 3, 2, 0, 0, "3x3 kernel, stride 2, no padding"),
    (7, 3, 2, 1, 1, "3x3 kernel, stride 2, padding 1, output_padding 1"),
    (4, 5, 2, 2, 1, "5x5 kernel, stride 2, padding 2, output_padding 1"),
    (1, 4, 1, 0, 0, "a 1x1 input (DCGAN's first layer as a transposed conv)"),
    (3, 5, 3, 2, 2, "stride 3, output_padding 2"),
    (6, 2, 2, 0, 0, "2x2 kernel, stride 2: an exact doubling"),
    (5, 2, 3, 0, 0, "a kernel smaller than the stride: gaps between the copies"),
]


def _reference_size(H, k, s, p, op):
    from ..nn import ConvTranspose2d
    layer = ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=op, bias=False,
                            dtype="float64")
    return int(layer.output_size(H, H)[0])


def _size_mistakes(H, k, s, p, op):
    """(value, hint) pairs: what known wrong formulas give on this case."""
    return [
        ((H + 2 * p - k) // s + 1, "that is the output size of a (forward) convolution, "
         "(H + 2p − k)//s + 1; the transposed convolution inverts it: solve for the input."),
        (H * s, "H·s is only the size for k = s and p = 0; the kernel overhangs the last input "
         "pixel by k − s, and padding crops p from each side."),
        ((H - 1) * s - p + k + op, "padding crops p rows at the top AND p at the bottom: −2p."),
        ((H - 1) * s + 2 * p + k + op, "in a transposed convolution padding is cropped from the "
         "output, so it subtracts: −2p, not +2p."),
        ((H - 1) * s - 2 * p + k, "output_padding adds that many rows at the bottom: + output_padding."),
        ((H - 1) * s - 2 * p + k - op, "output_padding is added, not subtracted."),
        (H * s - 2 * p + k + op, "the first input pixel starts the output and each further one "
         "moves it by s: (H − 1)·s, not H·s."),
        ((H - 1) * s - 2 * p + k + op + 1, "one too many: the first input pixel's copy of the "
         "kernel covers k rows (not k + 1), so there is no extra + 1."),
        ((H - 1) * s - 2 * p + k + op - 1, "one too few: the first input pixel's copy of the kernel "
         "covers k rows, so there is no − 1 (the − 1 of d·(k − 1) + 1 cancels its + 1)."),
        ((H - 1) * s + k, "padding and output_padding are both missing: padding crops p rows from "
         "each side, output_padding adds rows at the bottom."),
    ]


@by_hand("5.1")
@_quiet
def check_transposed_conv_output_size(transposed_conv_output_size):
    """Exercise 5.1: ``transposed_conv_output_size(H, k, s, p, output_padding) -> int``,
    the height of the output of ``ConvTranspose2d(kernel_size=k, stride=s, padding=p,
    output_padding=output_padding)`` (dilation 1) on an input of height H, as
    :meth:`minigan.nn.ConvTranspose2d.output_size` (and PyTorch) compute it.
    """
    fn = transposed_conv_output_size
    results = []                                  # (case tuple, expected, got) for every case
    for H, k, s, p, op, case in _SIZE_CASES:
        expected = _reference_size(H, k, s, p, op)
        out = _call(fn, {"H": H, "k": k, "s": s, "p": p, "output_padding": op}, case)
        if out is None:
            raise ExerciseError(f"{_name(fn)} returned None (case '{case}'): did you forget "
                                "a `return`?")
        (got,) = _unpack(fn, out, ("the output size",), case)
        if got.shape != ():
            raise ExerciseError(f"{_name(fn)}: return one number, the output height; got an "
                                f"array of shape {got.shape} (case '{case}').")
        if float(got) == expected and (isinstance(out, (float, np.floating)) or (
                isinstance(out, np.ndarray) and out.dtype.kind == "f")):
            raise ExerciseError(f"{_name(fn)} returned {out!r} on the case '{case}': a size "
                                "is an integer; use // rather than / (and int(...)).")
        results.append(((H, k, s, p, op, case), expected, float(got)))
    wrong = [r for r in results if r[1] != r[2]]
    if wrong:
        # name the known mistake that gives the learner's numbers on EVERY case (on a single
        # case two mistakes can coincide: with p = 1, "− p" and "+ 1" give the same size)
        n_mistakes = len(_size_mistakes(1, 1, 1, 0, 0))
        hint = None
        for j in range(n_mistakes):
            if all(_size_mistakes(*c[:5])[j][0] == got for c, _, got in results):
                hint = _size_mistakes(1, 1, 1, 0, 0)[j][1]
                break
        (H, k, s, p, op, case), expected, got = wrong[0]
        raise ExerciseError(
            f"{_name(fn)}: got {got:g} for H={H}, k={k}, s={s}, p={p}, output_padding={op} "
            f"(case '{case}'), expected {expected}"
            + (f"; wrong on {len(wrong)} of {len(results)} cases." if len(wrong) > 1 else ".")
            + (f"\nHint: {hint}" if hint else ""))
    _passed(fn, f"agrees with ConvTranspose2d.output_size on {len(_SIZE_CASES)} cases "
            "(both DCGAN generators, strides 1-3, kernels 2-5, output_padding 0-2).")


# --------------------------------------------------------------------------------------
# Exercise 5.2: DCGAN's generator, built from layers
# --------------------------------------------------------------------------------------

# (latent_dim, image_shape, width, n_layers, what the case is)
_GENERATOR_CASES = [
    (32, (1, 8, 8), 16, 2, "the digits preset: 8x8 images, z in R^32, width 16"),
    (10, (1, 28, 28), 4, 2, "28x28 MNIST, width 4"),
    (5, (3, 16, 16), 2, 3, "3 channels, 16x16, three strided layers"),
    (3, (2, 4, 12), 3, 1, "2 channels, H != W (4x12), one strided layer"),
]

_GUIDE = ("z -> Linear(latent_dim, ch·h·w, bias=False) -> Reshape(ch, h, w) -> BatchNorm2d -> "
          "ReLU, then n_layers blocks ConvTranspose2d(4, stride=2, padding=1) -> BatchNorm2d -> "
          "ReLU, the last one ConvTranspose2d(..., C, 4, stride=2, padding=1) -> Tanh")


def _flat_layers(net):
    """The layers of a (possibly nested) Sequential, in order."""
    from ..nn import Sequential
    out = []
    for layer in net.layers:
        out.extend(_flat_layers(layer) if isinstance(layer, Sequential) else [layer])
    return out


def _generator_plan(latent_dim, image_shape, width, n_layers):
    """The guidelines' generator, as (kind, settings) pairs; and (ch, h, w) of its first maps."""
    C, H, W = image_shape
    h, w, ch = H >> n_layers, W >> n_layers, width * 2 ** (n_layers - 1)
    plan = [("Linear", (latent_dim, ch * h * w, False)), ("Reshape", (ch, h, w)),
            ("BatchNorm2d", ch), ("ReLU", None)]
    for i in range(n_layers):
        last = i == n_layers - 1
        out = C if last else ch // 2
        plan.append(("ConvTranspose2d", (ch, out, last)))
        plan += [("Tanh", None)] if last else [("BatchNorm2d", out), ("ReLU", None)]
        ch = out
    return plan, (width * 2 ** (n_layers - 1), h, w)


def _generator_structure_hint(layers, latent_dim, image_shape, width, n_layers):
    """None if ``layers`` follow the guidelines (module docstring of minigan.gans.dcgan), else
    what is wrong, said as the guideline it breaks."""
    from ..nn import (AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, ConvTranspose2d, LeakyReLU,
                      Linear, MaxPool2d, ReLU, Sigmoid, Tanh, Upsample)
    C, H, W = image_shape
    kinds = [type(layer).__name__ for layer in layers]
    if any(isinstance(layer, (MaxPool2d, AvgPool2d, Upsample)) for layer in layers):
        return ("no pooling and no fixed upsampling (the first guideline): G grows its maps "
                "with strided TRANSPOSED convolutions, ConvTranspose2d(..., 4, stride=2, "
                "padding=1), which learn their own upsampling.")
    if any(isinstance(layer, Conv2d) for layer in layers):
        return ("G upsamples with ConvTranspose2d; a (strided) Conv2d is how D goes down. "
                "Each ConvTranspose2d(..., 4, stride=2, padding=1) doubles H and W.")
    if any(isinstance(layer, LeakyReLU) for layer in layers):
        return ("LeakyReLU(0.2) is the discriminator's activation; the guidelines give G plain "
                "ReLU inside (and tanh at the output).")
    if not layers:
        return "the Sequential is empty."
    if isinstance(layers[-1], Sigmoid):
        return ("the images are in [-1, 1], tanh's range: end with Tanh(), not Sigmoid (whose "
                "range is (0, 1): G could never draw the black background, -1).")
    if not isinstance(layers[-1], Tanh):
        if isinstance(layers[-1], BatchNorm2d) or (
                len(layers) > 1 and isinstance(layers[-2], BatchNorm2d)
                and isinstance(layers[-1], (ReLU,))):
            return ("no batch norm at G's output, and tanh as its last layer: the last "
                    "ConvTranspose2d is followed by Tanh() only.")
        return (f"G's last layer is Tanh() (the data are in [-1, 1]); yours ends with "
                f"{kinds[-1]}.")
    if len(layers) > 1 and isinstance(layers[-2], BatchNorm2d):
        return ("no batch norm at G's output (a guideline: G's images must be free to have the "
                "data's own mean and spread): the last ConvTranspose2d is followed by Tanh() "
                "only.")
    if any(isinstance(layer, BatchNorm1d) for layer in layers):
        return ("batch norm of the projection is per CHANNEL of the first feature maps: "
                "Reshape first, then BatchNorm2d(ch) (a BatchNorm1d on the Linear's output "
                "normalises each of its ch·h·w numbers separately).")
    n_linear = sum(isinstance(layer, Linear) for layer in layers)
    if not isinstance(layers[0], Linear):
        return ("G starts with ONE Linear, the projection of z: Linear(latent_dim, ch·h·w, "
                "bias=False), reshaped by Reshape(ch, h, w) into a small stack of feature maps.")
    if n_linear > 1:
        return ("no fully connected hidden layers (a guideline): one Linear, the projection of "
                "z, then only transposed convolutions.")
    n_up = sum(isinstance(layer, ConvTranspose2d) for layer in layers)
    if n_up != n_layers:
        return (f"n_layers = {n_layers} transposed convolutions, each doubling H and W "
                f"({H >> n_layers}x{W >> n_layers} -> ... -> {H}x{W}); yours has {n_up}.")
    plan, (ch, h, w) = _generator_plan(latent_dim, image_shape, width, n_layers)
    for i, ((want, settings), layer) in enumerate(zip(plan, layers)):
        got = type(layer).__name__
        if got != want:
            if (want == "BatchNorm2d" and isinstance(layer, ReLU) and i + 1 < len(layers)
                    and isinstance(layers[i + 1], BatchNorm2d)):
                return ("batch norm first, then the ReLU: [..., BatchNorm2d, ReLU] after the "
                        "projection and after every hidden transposed convolution.")
            if want == "BatchNorm2d":
                return ("batch norm in every layer except the output (a guideline): a "
                        "BatchNorm2d after the projection's Reshape and after every hidden "
                        f"ConvTranspose2d; layer {i} is {got}.")
            if want == "Reshape":
                return ("reshape the projection's output (N, ch·h·w) into feature maps "
                        "(N, ch, h, w) with Reshape(ch, h, w) right after the Linear.")
            if want == "ReLU":
                return f"a ReLU after each batch norm (layer {i} is {got})."
            return f"layer {i} is {got}, expected {want}: {_GUIDE}."
    if len(layers) != len(plan):
        return (f"{len(layers)} layers where the guidelines give {len(plan)}: {_GUIDE} "
                f"(yours: {', '.join(kinds)}).")
    size = (h, w)
    for i, ((want, settings), layer) in enumerate(zip(plan, layers)):
        if want == "Linear":
            _, out, _ = settings
            if layer.in_features != latent_dim:
                return f"the projection takes z: Linear(latent_dim = {latent_dim}, ...)."
            if layer.has_bias:
                return ("a layer followed by batch norm carries no bias (bias=False): batch "
                        "norm subtracts the mean anyway, and its β is the bias.")
        elif want == "Reshape":
            shape = tuple(layer.shape)
            if -1 in shape:                                   # Reshape(-1, h, w): inferred
                known = int(np.prod([d for d in shape if d != -1]))
                shape = tuple(layers[0].out_features // known if d == -1 else d for d in shape)
            if shape == (ch, w, h) and h != w:
                return (f"Reshape(ch, h, w), height first: ({ch}, {h}, {w}) for a {H}x{W} "
                        f"image, not ({ch}, {w}, {h}).")
            if shape != (ch, h, w) or layers[0].out_features != ch * h * w:
                return (f"the first feature maps are ch = width·2^(n_layers−1) = {ch} maps of "
                        f"h×w = {h}x{w} (H/2^n_layers × W/2^n_layers: each layer doubles "
                        f"them): Linear(latent_dim, {ch}·{h}·{w}) and Reshape({ch}, {h}, {w}); "
                        f"yours: Linear(..., {layers[0].out_features}) and Reshape"
                        f"{tuple(layer.shape)}.")
        elif want == "BatchNorm2d":
            if layer.num_features != settings:
                return (f"BatchNorm2d({settings}): one scale and shift per channel of the "
                        f"maps it normalises (layer {i} has {layer.num_features}).")
        elif want == "ConvTranspose2d":
            c_in, c_out, last = settings
            geom = (layer.kernel_size, layer.stride, layer.padding, layer.output_padding)
            if geom != ((4, 4), (2, 2), (1, 1), (0, 0)) or layer.dilation != (1, 1):
                sizes, hh = [size[0]], size[0]
                for lay in layers:
                    if isinstance(lay, ConvTranspose2d):
                        (k, _), (st, _), (p, _), (op, _) = (lay.kernel_size, lay.stride,
                                                           lay.padding, lay.output_padding)
                        hh = (hh - 1) * st - 2 * p + (lay.dilation[0] * (k - 1) + 1) + op
                        sizes.append(hh)
                return ("every transposed convolution has a 4×4 kernel, stride 2 and padding "
                        "1, which exactly doubles H and W (exercise 5.1); yours (kernel "
                        f"{layer.kernel_size}, stride {layer.stride}, padding {layer.padding}"
                        + (f", output_padding {layer.output_padding}"
                           if layer.output_padding != (0, 0) else "")
                        + f") take the height {' -> '.join(map(str, sizes))} instead of "
                        f"{' -> '.join(str((H >> n_layers) << j) for j in range(n_layers + 1))}.")
            if (layer.in_channels, layer.out_channels) != (c_in, c_out):
                return (f"the channels halve going up G, from ch = width·2^(n_layers−1) = "
                        f"{ch} after the projection to width = {width} in the last hidden "
                        f"layer, and the output layer makes the image's C = {C}: layer {i} "
                        f"should be ConvTranspose2d({c_in}, {c_out}, ...), yours is "
                        f"({layer.in_channels}, {layer.out_channels}).")
            if last and not layer.has_bias:
                return ("the output ConvTranspose2d keeps its bias (bias=True): no batch norm "
                        "follows it to provide a shift.")
            if not last and layer.has_bias:
                return ("a layer followed by batch norm carries no bias (bias=False): batch "
                        "norm subtracts the mean anyway, and its β is the bias.")
    return None


def _randomised(net, rng):
    """Random, non-zero float64 values for every parameter (batch-norm scales around 1)."""
    for name, p, _ in net.named_parameters():
        if p.ndim == 1 and name.endswith("weight"):          # batch-norm γ
            p[...] = 1 + 0.3 * rng.standard_normal(p.shape)
        else:
            p[...] = 0.3 * rng.standard_normal(p.shape)
    return net


@by_hand("5.2", also=("dcgan_generator", "dcgan_discriminator"))
@_quiet
def check_dcgan_generator(build_generator, seed=52):
    """Exercise 5.2: ``build_generator(latent_dim, image_shape, width, n_layers) -> Sequential``,
    DCGAN's generator by the chapter's guidelines, from minigan's layers: z (N, latent_dim) ->
    images (N, C, H, W) in [-1, 1]; ``width`` channels in its last hidden layer, doubling at
    each layer away from the image; 4×4 transposed convolutions with stride 2 and padding 1;
    no bias in a layer followed by batch norm. The check verifies the guidelines layer by
    layer, the output shape, and that with the same weights its forward pass (training and
    evaluation mode) and backward pass (dz and every parameter's gradient) are those of
    :func:`minigan.gans.dcgan.dcgan_generator`.
    """
    from ..gans.dcgan import dcgan_generator
    from ..nn import Module, Sequential
    fn = build_generator
    rng = np.random.default_rng(seed)
    for latent_dim, shape, width, n_layers, case in _GENERATOR_CASES:
        C, H, W = shape
        net = _call(fn, {"latent_dim": latent_dim, "image_shape": shape, "width": width,
                         "n_layers": n_layers}, case)
        if net is None:
            raise ExerciseError(f"{_name(fn)} returned None (case '{case}'): did you forget "
                                "a `return`?")
        if isinstance(net, (list, tuple)) and all(isinstance(m, Module) for m in net):
            raise ExerciseError(f"{_name(fn)} returned a {type(net).__name__} of layers (case "
                                f"'{case}').\nHint: return one network: Sequential(*layers).")
        if not isinstance(net, Sequential):
            raise ExerciseError(f"{_name(fn)} returned a {type(net).__name__} (case '{case}'); "
                                "expected a minigan.nn.Sequential of minigan's layers.")
        layers = _flat_layers(net)
        hint = _generator_structure_hint(layers, latent_dim, shape, width, n_layers)
        if hint:
            kinds = ", ".join(type(layer).__name__ for layer in layers)
            raise ExerciseError(f"{_name(fn)}: the layers do not follow the DCGAN guidelines on "
                                f"the case '{case}' (latent_dim {latent_dim}, image {shape}, "
                                f"width {width}, n_layers {n_layers}): {kinds}.\nHint: {hint}")
        ref = _randomised(dcgan_generator(latent_dim, shape, width, n_layers,
                                          dtype="float64"), rng)
        net.to("float64")
        mine, theirs = net.named_parameters(), ref.named_parameters()
        if [p.shape for _, p, _ in mine] != [p.shape for _, p, _ in theirs]:
            raise ExerciseError(
                f"{_name(fn)}: the parameters ({', '.join(f'{n} {p.shape}' for n, p, _ in mine)}) "
                f"differ from those of the guidelines' generator ({', '.join(f'{n} {p.shape}' for n, p, _ in theirs)}) "
                f"on the case '{case}'.\nHint: BatchNorm2d with its default affine scale and "
                "shift; bias=False where batch norm follows.")
        for (_, p, _), (_, q, _) in zip(mine, theirs):
            p[...] = q
        N = 3
        z = rng.standard_normal((N, latent_dim))
        try:
            net.train()
            y, cache = net.forward(z.copy())
        except (NotImplementedError, ExerciseError):
            raise
        except Exception as exc:
            raise ExerciseError(f"{_name(fn)}: your network's forward pass raised "
                                f"{type(exc).__name__} on the case '{case}' (z {z.shape}): "
                                f"{exc}") from exc
        y = np.asarray(y, dtype=np.float64)
        if y.shape != (N, C, H, W):
            raise ExerciseError(
                f"{_name(fn)}: G(z) has shape {y.shape} on the case '{case}', expected "
                f"(N, C, H, W) = {(N, C, H, W)}.\nHint: a ConvTranspose2d(k, stride s, padding "
                "p) maps H to (H − 1)·s − 2p + k (exercise 5.1); with 4, 2, 1 it doubles, so "
                "the first maps are H/2^n_layers × W/2^n_layers.")
        y_ref, cache_ref = ref.forward(z.copy())
        _compare(fn, "G(z) (training mode: batch statistics)", y, y_ref, case)
        dy = rng.standard_normal(y.shape)
        net.zero_grad()
        dz = net.backward(dy.copy(), cache)
        ref.zero_grad()
        dz_ref = ref.backward(dy.copy(), cache_ref)
        _compare(fn, "dL/dz from your network's backward pass", dz, dz_ref, case)
        for (name, _, g), (_, _, g_ref) in zip(net.named_parameters(), ref.named_parameters()):
            _compare(fn, f"the gradient of {name}", g, g_ref, case)
        net.eval()
        ref.eval()
        _compare(fn, "G(z) in evaluation mode (running statistics)", net.forward(z.copy())[0],
                 ref.forward(z.copy())[0], case)
    _passed(fn, f"{len(_GENERATOR_CASES)} configurations (8x8, 28x28, 3 layers, H ≠ W): the "
            "guidelines layer by layer, the image's shape, and forward, backward and eval "
            "mode equal to minigan's DCGAN generator with the same weights.")


# --------------------------------------------------------------------------------------
# Exercise 5.3: a row of latent interpolations
# --------------------------------------------------------------------------------------

def _lerp(z0, z1, n):
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) * z0[None, :] + t * z1[None, :]


@by_hand("5.3")
@_quiet
def check_interpolate_latents(interpolate_latents, seed=50):
    """Exercise 5.3: ``interpolate_latents(z0, z1, n) -> (n, d)``: n points evenly spaced on
    the segment from z0 to z1 (vectors of shape (d,)), row 0 equal to z0 and row n − 1 equal
    to z1: row i is z0 + i/(n − 1)·(z1 − z0).
    """
    fn = interpolate_latents
    rng = np.random.default_rng(seed)
    cases = [("d = 32, n = 8", rng.standard_normal(32), rng.standard_normal(32), 8),
             ("d = 5, n = 2: only the endpoints", rng.standard_normal(5), rng.standard_normal(5), 2),
             ("d = 1, n = 11", rng.standard_normal(1), rng.standard_normal(1), 11),
             ("d = 16, n = 7, far-apart endpoints", 3 * rng.standard_normal(16),
              -3 * rng.standard_normal(16), 7)]
    for case, z0, z1, n in cases:
        expected = _lerp(z0, z1, n)
        out = _call(fn, {"z0": z0, "z1": z1, "n": n}, case, readonly=("z0", "z1"))
        (got,) = _unpack(fn, out, ("the interpolations",), case)
        d = z0.shape[0]
        if got.shape != (n, d):
            hint = None
            if got.shape == (d, n):
                hint = "one row per point: shape (n, d); it looks transposed."
            elif got.shape in ((n + 1, d), (n - 1, d)):
                hint = f"exactly n = {n} points, the two endpoints included."
            elif got.shape == (n,):
                hint = "interpolate whole vectors: each row is a latent vector of length d."
            raise ExerciseError(f"{_name(fn)}: the result has shape {got.shape} on the case "
                                f"'{case}', expected (n, d) = {(n, d)}."
                                + (f"\nHint: {hint}" if hint else ""))
        if not np.all(np.isfinite(got)):
            raise ExerciseError(f"{_name(fn)}: the result contains inf or nan on the case "
                                f"'{case}'" + (" (n = 2: did you divide by n − 2?)" if n == 2 else "."))
        err = rel_error(got, expected)
        if err < TOL:
            continue
        hint = None
        if rel_error(got, expected[::-1]) < TOL:
            hint = "the order is reversed: row 0 must be z0 and the last row z1."
        elif rel_error(got[0], z0) > TOL:
            hint = "row 0 must be z0 itself (t = 0)."
        elif rel_error(got[-1], z1) > TOL:
            t_wrong = np.arange(n)[:, None] / n
            if rel_error(got, (1 - t_wrong) * z0 + t_wrong * z1) < TOL:
                hint = ("t = i/n stops one step short of z1 (np.linspace's endpoint=False); "
                        "use t = i/(n − 1) so that the last row is z1.")
            else:
                hint = "the last row must be z1 itself (t = 1)."
        else:
            steps = np.diff(got, axis=0)
            if not np.allclose(steps, steps[0], rtol=TOL, atol=1e-9):
                hint = ("the endpoints are right but the points are not evenly spaced: "
                        "t must grow linearly, t_i = i/(n − 1) (a spherical interpolation "
                        "is a later question, not this exercise).")
        raise ExerciseError(f"{_name(fn)}: the interpolations are wrong on the case '{case}' "
                            f"(relative error {err:.1e})." + (f"\nHint: {hint}" if hint else ""))
    _passed(fn, f"{len(cases)} cases: shape (n, d), row 0 = z0, last row = z1, evenly spaced "
            "(n = 2 included).")
