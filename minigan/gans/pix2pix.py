"""Pix2Pix (Isola, Zhu, Zhou & Efros, 2017): image-to-image translation with a conditional GAN.

G maps an input image x (a label map, say) to an output image; D judges (input, output) pairs.
The objective (the paper's eq. 4), with λ = 100:

    G* = arg min_G max_D  L_cGAN(G, D) + λ·L_L1(G),
    L_cGAN = E_{x,y}[log D(x, y)] + E_x[log(1 − D(x, G(x)))],   L_L1 = E ‖y − G(x)‖₁

There is no noise input: G's only randomness is dropout, kept on at test time (the paper's
"noise in the form of dropout, applied on several layers of our generator at both training and
test time"). One training step, in the paper's order (§3.3 and the authors' code):

    ŷ = G(x)                                  (once; D's step sees it as a constant)
    D: descend ½·[BCE(D(x, y), 1) + BCE(D(x, ŷ), 0)]          (D's loss halved, as the paper)
    G: descend BCE(D(x, ŷ), 1) + λ·mean|ŷ − y|               (non-saturating; D just updated)

The loss variants of the paper's Table 1 (``objective``): "l1" (no D at all), "gan" (D sees the
output only, not the input: unconditional), "cgan" (D sees the pair), "l1+gan", "l1+cgan" (the
paper's choice). Everything is by hand:

- G's gradient of the L1 term: λ·sign(ŷ − y)/n (:func:`minigan.nn.l1_loss`), added to the
  gradient that comes back through D into ŷ (for a "cgan" D, only the output channels of D's
  input gradient; the input x is data).
- The U-Net (:class:`UNet`): each encoder output e feeds the decoder twice, through the skip
  (concatenated to the decoder's features at its resolution) and through the deeper layers, so
  its gradient is the SUM of the two (:func:`minigan.nn.concat_channels_backward`).
- The PatchGAN (:func:`patch_discriminator`): a fully convolutional D whose logits form a map,
  one per patch of the input its receptive field covers (:func:`minigan.nn.receptive_field`);
  the loss is the mean BCE over every logit of the map.

Networks as the paper's appendix, at a smaller scale: encoder blocks LeakyReLU(0.2) → Conv 4×4
stride 2 → InstanceNorm (none on the first block and on the 1×1-or-2×2 innermost), decoder
blocks ReLU → ConvTranspose 4×4 stride 2 → InstanceNorm (→ Dropout 0.5 on the innermost three),
tanh at the output; channel counts ``width``·(1, 2, 4, 8, 8, …). Instance norm rather than the
paper's batch norm: the paper trains with batch size 1 to 10 and normalises test images with
their own statistics, which for one image is instance norm.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..backend import get_array_module, to_numpy
from ..nn import (Conv2d, ConvTranspose2d, Dropout, InstanceNorm2d, LeakyReLU, Module, ReLU,
                  Sequential, Tanh, concat_channels, concat_channels_backward, l1_loss,
                  receptive_field)
from ..optim import Adam
from .base import GENERAL_SWITCHES, GANModel, bce_d_loss, bce_g_loss, step_rng

OBJECTIVES = ("l1", "gan", "cgan", "l1+gan", "l1+cgan")
GENERATORS = ("unet", "encoder-decoder")


class UNet(Module):
    """The U-Net generator (or, with ``skips=False``, the same encoder-decoder without skips).

    x (N, in_channels, H, W) -> y (N, out_channels, H, W) in [-1, 1]; H and W divisible by
    2^depth. With e_0 = x and d = depth::

        e_{i+1} = down_i(e_i),                        i = 0 … d−1   (H/2^{i+1} each)
        u_{d−1} = up_{d−1}(e_d)
        u_i     = up_i([u_{i+1}, e_{i+1}])            i = d−2 … 0   (the skip: a concatenation)
        y = u_0

    Backward, from dy = du_0: up_i's backward gives the gradient of [u_{i+1}, e_{i+1}], split
    into du_{i+1} (on into up_{i+1}) and the skip's share of de_{i+1}; then the encoder from
    the bottom: de_{i+1} = (what down_{i+1} sends back) + (the skip's share), the SUM of the
    two paths by which e_{i+1} reaches the loss, into down_i.

    Parameters are named ``down.<i>.…`` and ``up.<i>.…``. ``set_noise(rng)`` sets the
    generator the dropout masks are drawn from (a training step passes its own, so that a
    resumed run draws the uninterrupted run's masks).
    """

    def __init__(self, in_channels, out_channels, depth=4, width=16, dropout=0.5, skips=True,
                 dtype="float32"):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.depth, self.width, self.skips = depth, width, bool(skips)
        ch = [width * min(2 ** i, 8) for i in range(depth)]          # channels of e_1 … e_d
        self.down = []
        for i in range(depth):
            layers = [] if i == 0 else [LeakyReLU(0.2)]
            layers.append(Conv2d(in_channels if i == 0 else ch[i - 1], ch[i], 4, stride=2,
                                 padding=1, bias=i in (0, depth - 1), dtype=dtype))
            if 0 < i < depth - 1:
                layers.append(InstanceNorm2d(ch[i], affine=True, dtype=dtype))
            self.down.append(Sequential(*layers))
        self.up = []
        self.dropouts = []
        for i in range(depth):
            innermost, outermost = i == depth - 1, i == 0
            c_in = ch[i] if (innermost or not self.skips) else 2 * ch[i]
            c_out = out_channels if outermost else ch[i - 1]
            layers = [ReLU(), ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1,
                                              bias=outermost, dtype=dtype)]
            if outermost:
                layers.append(Tanh())
            else:
                layers.append(InstanceNorm2d(c_out, affine=True, dtype=dtype))
                if dropout and i >= depth - 3:               # the innermost three, as the paper
                    drop = Dropout(dropout, always=True)
                    self.dropouts.append(drop)
                    layers.append(drop)
            self.up.append(Sequential(*layers))

    def children(self):
        return ([(f"down.{i}", m) for i, m in enumerate(self.down)]
                + [(f"up.{i}", m) for i, m in enumerate(self.up)])

    def set_noise(self, rng):
        for drop in self.dropouts:
            drop.rng = rng

    def forward(self, x):
        self._check_input(x, ndim=4, name="input")
        if x.shape[1] != self.in_channels or x.shape[2] % 2 ** self.depth or \
                x.shape[3] % 2 ** self.depth:
            raise ValueError(f"{self!r}: expected images (N, {self.in_channels}, H, W) with H "
                             f"and W divisible by 2^depth = {2 ** self.depth}, got "
                             f"{tuple(x.shape)}")
        e, down_caches = [x], []
        for layer in self.down:                                # the encoder
            out, cache = layer.forward(e[-1])
            e.append(out)
            down_caches.append(cache)
        up_caches, skip_caches = [None] * self.depth, [None] * self.depth
        u = e[self.depth]
        for i in reversed(range(self.depth)):                  # the decoder, bottom up
            inp = u
            if i < self.depth - 1 and self.skips:
                inp, skip_caches[i] = concat_channels(u, e[i + 1])
            u, up_caches[i] = self.up[i].forward(inp)
        return u, (down_caches, up_caches, skip_caches)

    def backward(self, dy, cache):
        return self._backward(dy, cache, input_grad=True)

    def backward_params(self, dy, cache):
        """``backward`` without dL/dx (the input is data): the first conv skips its col2im."""
        self._backward(dy, cache, input_grad=False)

    def _backward(self, dy, cache, input_grad):
        down_caches, up_caches, skip_caches = cache
        de_skip = [None] * (self.depth + 1)                     # the skips' shares of de_i
        du = dy
        for i in range(self.depth):                            # the decoder, top down
            dinp = self.up[i].backward(du, up_caches[i])
            if skip_caches[i] is not None:
                du, de_skip[i + 1] = concat_channels_backward(dinp, skip_caches[i])
            else:
                du = dinp
        de = du                                                # de_d: the bottleneck's
        for i in reversed(range(self.depth)):                  # the encoder, bottom up
            if de_skip[i + 1] is not None:
                de = de + de_skip[i + 1]                       # the two paths' gradients add
            if i == 0 and not input_grad:                       # x is data: no dL/dx
                self.down[0].backward_params(de, down_caches[0])
                return None
            de = self.down[i].backward(de, down_caches[i])
        return de

    def _shape_hint(self):
        return f"(N, {self.in_channels}, H, W)"

    def __repr__(self):
        kind = "UNet" if self.skips else "EncoderDecoder"
        return (f"{kind}({self.in_channels} -> {self.out_channels}, depth={self.depth}, "
                f"width={self.width})")


def patch_discriminator(in_channels, n_layers=2, width=16, dtype="float32"):
    """The PatchGAN of pix2pix (the authors' NLayerDiscriminator): a logit per patch.

    n_layers ≥ 1: Conv 4×4 s2 (width) → LeakyReLU; n_layers − 1 more Conv 4×4 s2 → InstanceNorm
    → LeakyReLU, doubling the channels (at most 8·width); one Conv 4×4 s1 → InstanceNorm →
    LeakyReLU; a Conv 4×4 s1 to one channel: the logit map. Receptive fields (padding 1): 16
    (n_layers = 1), 34 (2), 70 (3), 142 (4): on 32×32 images, n_layers = 1 is a 16×16 PatchGAN
    and n_layers ≥ 2 sees the whole image (the paper's "ImageGAN" end of its Table 2).
    n_layers = 0: the "PixelGAN", 1×1 convolutions only (a logit per pixel, which judges
    colour, not texture).
    """
    if n_layers == 0:
        return Sequential(Conv2d(in_channels, width, 1, dtype=dtype), LeakyReLU(0.2),
                          Conv2d(width, 2 * width, 1, bias=False, dtype=dtype),
                          InstanceNorm2d(2 * width, affine=True, dtype=dtype), LeakyReLU(0.2),
                          Conv2d(2 * width, 1, 1, dtype=dtype))
    layers = [Conv2d(in_channels, width, 4, stride=2, padding=1, dtype=dtype), LeakyReLU(0.2)]
    ch = width
    for i in range(1, n_layers + 1):
        out = width * min(2 ** i, 8)
        stride = 2 if i < n_layers else 1
        layers += [Conv2d(ch, out, 4, stride=stride, padding=1, bias=False, dtype=dtype),
                   InstanceNorm2d(out, affine=True, dtype=dtype), LeakyReLU(0.2)]
        ch = out
    layers.append(Conv2d(ch, 1, 4, stride=1, padding=1, dtype=dtype))
    return Sequential(*layers)


def _normal_init_(net, rng):
    """The paper's initialisation: conv weights ~ N(0, 0.02), biases 0; norm γ ~ N(1, 0.02)."""
    for name, p, _ in net.named_parameters():
        if name.endswith("bias"):
            p[...] = 0
        elif p.ndim == 1:                                       # a norm's γ
            p[...] = backend.normal(rng, 1.0, 0.02, p.shape).astype(p.dtype)
        else:
            p[...] = backend.normal(rng, 0.0, 0.02, p.shape).astype(p.dtype)


class Pix2Pix(GANModel):
    """Pix2Pix (module docstring) for paired images.

    in_channels, out_channels, size: the input's and the output's channels and their (square)
    size, divisible by 2^depth. objective: one of "l1", "gan", "cgan", "l1+gan", "l1+cgan"
    (default, the paper's). lam: λ of the L1 term (100). generator: "unet" or
    "encoder-decoder" (the U-Net without its skips). depth, width: G's levels and base channels;
    dropout: G's dropout (kept on at test time; 0: none). d_layers, d_width: the PatchGAN's
    depth (its receptive field: see :func:`patch_discriminator`) and base channels. Adam
    (lr 2e-4, β₁ = 0.5) for both, as the paper.

    The batch contract: one pair (inputs (N, in_channels, size, size), targets (N,
    out_channels, size, size)) per step, both in [-1, 1]. Toolbox switches: the general ones;
    the sample history keeps (input, output) pairs.
    """

    name = "pix2pix"
    toolbox = GENERAL_SWITCHES
    not_applicable = {s: "not implemented for pix2pix's PatchGAN"
                      for s in ("label_smoothing", "feature_matching", "minibatch_kernels",
                                "minibatch_dim", "spectral_norm", "pack")}

    def __init__(self, in_channels=6, out_channels=3, size=32, objective="l1+cgan", lam=100.0,
                 generator="unet", depth=4, width=16, dropout=0.5, d_layers=2, d_width=16,
                 lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), seed=0, dtype="float32",
                 **switches):
        who = "Pix2Pix"
        if objective not in OBJECTIVES:
            raise ValueError(f"{who}: objective must be one of {', '.join(OBJECTIVES)}, got "
                             f"{objective!r}")
        if generator not in GENERATORS:
            raise ValueError(f"{who}: generator must be 'unet' or 'encoder-decoder', got "
                             f"{generator!r}")
        for what, v, least in (("in_channels", in_channels, 1), ("out_channels", out_channels, 1),
                               ("size", size, 1), ("depth", depth, 1), ("width", width, 1),
                               ("d_layers", d_layers, 0), ("d_width", d_width, 1)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < least:
                raise ValueError(f"{who}: {what} must be an integer >= {least}, got {v!r}")
        if size % 2 ** depth:
            raise ValueError(f"{who}: size {size} must be divisible by 2^depth = {2 ** depth}")
        if objective != "l1" and d_layers and size < 3 * 2 ** d_layers:
            raise ValueError(f"{who}: a PatchGAN of d_layers={d_layers} needs images of at least "
                             f"{3 * 2 ** d_layers}×{3 * 2 ** d_layers} (its last normalised map "
                             f"must have more than one pixel), got size {size}")
        if not lam >= 0 or not 0 <= dropout < 1:
            raise ValueError(f"{who}: lam must be >= 0 and dropout in [0, 1), got {lam}, {dropout}")
        GANModel.__init__(self, dict(in_channels=int(in_channels), out_channels=int(out_channels),
                                     size=int(size), objective=objective, lam=float(lam),
                                     generator=generator, depth=int(depth), width=int(width),
                                     dropout=float(dropout), d_layers=int(d_layers),
                                     d_width=int(d_width), lr_g=lr_g, lr_d=lr_d,
                                     betas=list(betas)),
                          seed=seed, dtype=dtype, switches=switches, batches_per_step=1,
                          conditional=True)
        self.in_channels, self.out_channels, self.size = int(in_channels), int(out_channels), int(size)
        self.objective, self.lam = objective, float(lam)
        self.use_l1 = objective.startswith("l1")
        self.use_gan = objective != "l1"
        self.d_sees_input = objective.endswith("cgan")
        init = backend.default_rng(seed)
        self.G = UNet(self.in_channels, self.out_channels, depth, width, dropout,
                      skips=generator == "unet", dtype=dtype)
        _normal_init_(self.G, init)
        self.D = None
        opt_d = None
        if self.use_gan:
            d_in = self.out_channels + (self.in_channels if self.d_sees_input else 0)
            self.D = patch_discriminator(d_in, d_layers, d_width, dtype)
            _normal_init_(self.D, init)
            opt_d = Adam(self.D, lr=lr_d, betas=betas)
        shape = (self.size, self.size)
        self.setup_training(Adam(self.G, lr=lr_g, betas=betas), opt_d,
                            fake=((self.out_channels,) + shape, self.G.dtype),
                            cond=((self.in_channels,) + shape, self.G.dtype))

    # --- pieces -------------------------------------------------------------------------------
    def receptive_field(self):
        """The side of the square of input pixels each of D's logits sees (None without D)."""
        return None if self.D is None else receptive_field(self.D).size[0]

    def prepare_batch(self, batch):
        """(inputs, targets), checked: (N, in_channels, size, size) and (N, out_channels, size,
        size), N >= 1, in G's dtype."""
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError(f"Pix2Pix: expected a batch (inputs, targets), got "
                             f"{type(batch).__name__}")
        out = [self._images("inputs", batch[0], self.in_channels),
               self._images("targets", batch[1], self.out_channels)]
        if out[0].shape[0] != out[1].shape[0]:
            raise ValueError(f"Pix2Pix: {out[0].shape[0]} inputs but {out[1].shape[0]} targets")
        return out

    def _images(self, what, a, channels):
        want = (channels, self.size, self.size)
        if not hasattr(a, "shape") or a.ndim != 4 or tuple(a.shape[1:]) != want or \
                a.shape[0] < 1 or getattr(a, "dtype", np.dtype(object)).kind != "f":
            got = (f"{tuple(a.shape)} {a.dtype}" if hasattr(a, "shape") and hasattr(a, "dtype")
                   else type(a).__name__)
            raise ValueError(f"Pix2Pix: expected {what} of shape (N, {', '.join(map(str, want))}), "
                             f"floating point in [-1, 1], got {got}")
        return backend.asarray(a).astype(self.G.dtype, copy=False)

    def d_input(self, x, y):
        """What D reads: the pair [x, y] along the channels (cGAN), or y alone (GAN)."""
        if not self.d_sees_input:
            return y, None
        return concat_channels(x, y)

    def discriminate(self, x, y):
        """D's logit map for outputs y given inputs x, and the cache."""
        h, cache_in = self.d_input(x, y)
        s, cache = self.D.forward(h)
        return s, (cache, cache_in)

    def discriminate_backward(self, ds, cache, input_grad=True):
        """ADDS into D's gradients; returns dL/dy (the input x is data: its share is dropped),
        or, with ``input_grad=False`` (D's own step: its inputs are constants), None, and D's
        first conv skips computing its input's gradient."""
        cache_net, cache_in = cache
        if not input_grad:
            self.D.backward_params(ds, cache_net)
            return None
        dh = self.D.backward(ds, cache_net)
        return dh if cache_in is None else concat_channels_backward(dh, cache_in)[1]

    # --- the step -----------------------------------------------------------------------------
    def d_loss_and_backward(self, x, y, fake_x, fake):
        """½·[BCE(D(x, y), 1) + BCE(D(x', ŷ'), 0)], (x', ŷ') the fakes D is shown (ŷ, or, with
        the sample history, some earlier pairs); ADDS its gradients into D's. Returns (loss,
        mean D(x, y), mean D(x', ŷ'))."""
        s_real, cache_real = self.discriminate(x, y)
        s_fake, cache_fake = self.discriminate(fake_x, fake)
        loss, ds_real, ds_fake, d_real, d_fake = bce_d_loss(s_real, s_fake)
        self.discriminate_backward(0.5 * ds_real, cache_real, input_grad=False)  # D's loss
        self.discriminate_backward(0.5 * ds_fake, cache_fake, input_grad=False)  # halved
        return 0.5 * loss, d_real, d_fake

    def g_loss_and_backward(self, x, y, fake, cache_g):
        """BCE(D(x, ŷ), 1) + λ·mean|ŷ − y| (the terms the objective has); ADDS into G's
        gradients (and, through D, into D's, which the caller discards). Returns (the
        adversarial term, the L1 term, unweighted)."""
        xp = get_array_module(fake)
        dfake = xp.zeros_like(fake)
        loss_gan = loss_l1 = 0.0
        if self.use_gan:
            s_fake, cache_d = self.discriminate(x, fake)
            loss_gan, ds = bce_g_loss(s_fake)
            dfake = dfake + self.discriminate_backward(ds, cache_d)
        if self.use_l1:
            loss_l1, dl1 = l1_loss(fake, y)
            dfake = dfake + self.lam * dl1
        self.G.backward_params(dfake, cache_g)                  # x is data: no dL/dx
        return loss_gan, loss_l1

    def train_step(self, batch) -> dict:
        """One step (module docstring): ŷ = G(x); D's step (unless the objective is "l1"), then
        G's. ``batch``: (inputs, targets)."""
        x, y = self.prepare_batch(batch)
        rng = step_rng(self.seed, self.step)
        self.schedule_learning_rates()
        self.G.set_noise(rng)                                   # this step's dropout masks
        fake, cache_g = self.G.forward(x)
        loss_d = d_real = d_fake = 0.0
        if self.use_gan:                                        # D's step
            self.zero_grads("d")
            fake_seen, x_seen = self.recall(fake, x)
            loss_d, d_real, d_fake = self.d_loss_and_backward(x, y, x_seen, fake_seen)
            self.update("d")
        self.zero_grads("g")                                    # G's step
        loss_gan, loss_l1 = self.g_loss_and_backward(x, y, fake, cache_g)
        self.update("g")
        self.finish_step()
        return {"loss_d": float(loss_d), "loss_g": float(loss_gan), "l1": float(loss_l1),
                "d_real": float(d_real), "d_fake": float(d_fake)}

    # --- use ----------------------------------------------------------------------------------
    def translate(self, inputs, seed=None, batch_size=64):
        """G(x) for inputs (N, in_channels, size, size) as a NumPy array (N, out_channels,
        size, size) in [-1, 1]; dropout on (the paper's test-time noise). Output i's dropout
        masks come from (``seed``, i) alone (default seed: the model's seed + 1), so it does
        not depend on the other inputs of the call or on ``batch_size``: the same input at the
        same position with the same seed gives the same output."""
        x = self._images("inputs", inputs, self.in_channels)
        seed = self.seed + 1 if seed is None else int(seed)
        out = []
        with self.sampling():
            for start in range(0, x.shape[0], batch_size):
                chunk = x[start:start + batch_size]
                self.G.set_noise([backend.default_rng(int(np.random.SeedSequence(
                    [seed, start + i]).generate_state(1)[0])) for i in range(chunk.shape[0])])
                out.append(to_numpy(self.G.forward(chunk)[0]))
        return np.concatenate(out)

    def sample(self, n, seed=None, inputs=None):
        """Translations of ``inputs`` (the first n): pix2pix has no noise input to sample from."""
        if inputs is None:
            raise ValueError("Pix2Pix.sample: pix2pix translates inputs; give inputs=... "
                             "(N, in_channels, size, size), or use translate()")
        return self.translate(inputs[:n], seed=seed)
