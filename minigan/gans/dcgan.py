"""DCGAN (Radford, Metz & Chintala, 2016): the GAN of ``gan.py`` with convolutional networks.

The game and the training step are those of the original GAN (Algorithm 1, non-saturating
G loss); what changes is the pair of networks, built by the paper's guidelines (§3):

- no pooling: D downsamples with strided convolutions, G upsamples with transposed ones;
- batch norm in both networks, except at G's output and D's input;
- ReLU in G, tanh at its output; LeakyReLU(0.2) in D;
- no fully connected hidden layers: G's first layer is a matrix product of z reshaped into a
  small image (the start of the conv stack), D's last is a matrix product to one logit;
- Adam with lr 2e-4 and β₁ = 0.5; every weight initialised N(0, 0.02) (batch-norm scales
  N(1, 0.02), as in the reference implementations); layers followed by batch norm have no
  bias (batch norm's β takes its place).

With ``n_layers = 2`` (the default) and ``width = w`` for 28×28 MNIST images::

    G: z (N, latent) -> Linear -> (N, 2w, 7, 7) -> BN, ReLU
         -> ConvT 4×4 s2 p1 -> (N, w, 14, 14) -> BN, ReLU
         -> ConvT 4×4 s2 p1 -> (N, 1, 28, 28) -> tanh
    D: x (N, 1, 28, 28) -> Conv 4×4 s2 p1 -> (N, w, 14, 14) -> LeakyReLU(0.2)
         -> Conv 4×4 s2 p1 -> (N, 2w, 7, 7) -> BN, LeakyReLU(0.2)
         -> Flatten -> Linear -> (N, 1) logit

and for the 8×8 digits the same with 2×2 -> 4×4 -> 8×8. A 4×4 kernel with stride 2 and
padding 1 exactly halves (D) or doubles (G) the size, so H and W must be divisible by
2^n_layers. Each step doubles the channel count going down D and halves it going up G.

D's loss is computed on a real batch and a fake batch in two separate forward passes (as in
the reference implementations), so each batch is normalised with its own statistics.
"""
from __future__ import annotations

import math

from .. import backend
from ..nn import (BatchNorm2d, Conv2d, ConvTranspose2d, Flatten, LeakyReLU, Linear, ReLU,
                  Reshape, Sequential, Tanh)
from ..optim import Adam
from .base import GANModel
from .gan import GAN, check_game


def dcgan_generator(latent_dim, out_shape, width, n_layers, dtype="float32"):
    """z (N, latent_dim) -> images (N, *out_shape) in [-1, 1]; see the module docstring."""
    C, H, W = out_shape
    h, w = H >> n_layers, W >> n_layers                     # size of the first feature map
    ch = width * 2 ** (n_layers - 1)                        # its channels: the widest layer
    layers = [Linear(latent_dim, ch * h * w, bias=False, dtype=dtype), Reshape(ch, h, w),
              BatchNorm2d(ch, dtype=dtype), ReLU()]
    for i in range(n_layers):
        last = i == n_layers - 1
        out = C if last else ch // 2
        layers.append(ConvTranspose2d(ch, out, 4, stride=2, padding=1, bias=last, dtype=dtype))
        layers += [Tanh()] if last else [BatchNorm2d(out, dtype=dtype), ReLU()]
        ch = out
    return Sequential(*layers)


def dcgan_discriminator(in_shape, width, n_layers, dtype="float32"):
    """images (N, *in_shape) -> logits (N, 1); see the module docstring."""
    C, H, W = in_shape
    layers, ch = [], C
    for i in range(n_layers):
        out = width * 2 ** i
        first = i == 0                                      # no batch norm on D's input layer
        layers.append(Conv2d(ch, out, 4, stride=2, padding=1, bias=first, dtype=dtype))
        layers += [LeakyReLU(0.2)] if first else [BatchNorm2d(out, dtype=dtype), LeakyReLU(0.2)]
        ch = out
    layers += [Flatten(), Linear(ch * (H >> n_layers) * (W >> n_layers), 1, dtype=dtype)]
    return Sequential(*layers)


def with_remedies(D, minibatch_kernels=0, minibatch_dim=5, spectral_norm=False, rng=None):
    """D (a Sequential ending in its logit Linear) with chapter 8's remedies for its layers:
    a minibatch-discrimination layer before the logit (its B features appended to the
    last hidden ones), and spectral normalisation of every Conv2d and Linear layer. Call it
    after initialising D's weights; ``rng`` draws the new layer and the power iterations'
    starting vectors. With both off, D itself."""
    from ..nn import MinibatchDiscrimination, SpectralNorm
    layers = list(D.layers)
    if minibatch_kernels:
        logit = layers.pop()
        width = logit.in_features
        new_logit = Linear(width + minibatch_kernels, 1, rng=rng, dtype=logit.dtype)
        layers += [MinibatchDiscrimination(width, minibatch_kernels, minibatch_dim, rng=rng,
                                           dtype=logit.dtype, average=True), new_logit]
    if spectral_norm:
        layers = [SpectralNorm(layer, rng=rng) if isinstance(layer, (Conv2d, Linear)) else layer
                  for layer in layers]
    return Sequential(*layers) if (minibatch_kernels or spectral_norm) else D


def dcgan_init_(net, rng):
    """The paper's initialisation, in place: conv/linear weights ~ N(0, 0.02), biases 0,
    batch-norm γ ~ N(1, 0.02), β = 0."""
    for layer in net.layers:
        if isinstance(layer, (Conv2d, ConvTranspose2d, Linear)):
            w = layer.params["weight"]
            w[...] = backend.normal(rng, 0.0, 0.02, w.shape).astype(w.dtype)
            if "bias" in layer.params:
                layer.params["bias"][...] = 0
        elif isinstance(layer, BatchNorm2d):
            g = layer.params["weight"]
            g[...] = backend.normal(rng, 1.0, 0.02, g.shape).astype(g.dtype)
            layer.params["bias"][...] = 0


class DCGAN(GAN):
    """Deep convolutional GAN for (C, H, W) images in [-1, 1].

    data_shape: (C, H, W), H and W divisible by 2^n_layers (e.g. (1, 8, 8) digits,
    (1, 28, 28) MNIST). latent_dim: size of z ~ N(0, I). width: channels of D's first and
    G's last hidden layer (the others double per layer). n_layers: strided (transposed)
    convolutions per network. loss, d_steps and the toolbox switches: as
    :class:`~minigan.gans.gan.GAN` (packing puts m images side by side as channels,
    (N/m, m·C, H, W); the minibatch layer sits after D's Flatten). Adam(lr, betas) for
    both networks. dtype: of the parameters ("float64" for checks).

    The game and ``train_step`` are GAN's; the networks are the paper's.
    """

    name = "dcgan"
    # fit() runs train_step on one BLAS thread, as for the MLP GAN (see backend.blas_threads):
    # measured on a 2-core machine shared with other jobs, a 28x28 width-32 step took 0.27 s
    # on one thread and 1.9 s on two; the numba kernels still use every core for large arrays.
    blas_threads = 1

    def __init__(self, data_shape=(1, 28, 28), latent_dim=100, width=64, n_layers=2,
                 loss="nonsaturating", d_steps=1, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999),
                 seed=0, dtype="float32", **switches):
        check_game("DCGAN", loss, d_steps)
        check_conv_shape("DCGAN", data_shape, n_layers, width=width, latent_dim=latent_dim)
        GANModel.__init__(self, dict(data_shape=list(data_shape), latent_dim=latent_dim,
                                     width=width, n_layers=n_layers, loss=loss, d_steps=d_steps,
                                     lr_g=lr_g, lr_d=lr_d, betas=list(betas)),
                          seed=seed, dtype=dtype, switches=switches, batches_per_step=d_steps)
        self.data_shape = tuple(int(s) for s in data_shape)
        self.data_dim = int(math.prod(self.data_shape))
        self.latent_dim, self.loss, self.d_steps = latent_dim, loss, d_steps
        self.G, self.D, _ = self.networks(latent_dim, self.data_shape[0], width, n_layers, dtype)
        self.setup_training(Adam(self.G, lr=lr_g, betas=betas), Adam(self.D, lr=lr_d, betas=betas),
                            fake=(self.data_shape, self.D.dtype))

    def networks(self, g_inputs, d_channels, width, n_layers, dtype):
        """The paper's G (from g_inputs numbers to images) and D (of images with d_channels
        channels, times the pack), initialised as the paper says, D with the remedies that
        are switched on; and the generator that drew them, for anything drawn after."""
        _, H, W = self.data_shape
        G = dcgan_generator(g_inputs, self.data_shape, width, n_layers, dtype)
        D = dcgan_discriminator((d_channels * self.pack, H, W), width, n_layers, dtype)
        init = backend.default_rng(self.seed)
        dcgan_init_(G, init)
        dcgan_init_(D, init)
        D = with_remedies(D, self.minibatch_kernels, self.minibatch_dim, self.spectral_norm,
                          rng=init)
        return G, D, init

    def prepare_batch(self, x):
        """A real batch, checked: (N, C, H, W) with N >= 2 (batch norm needs a batch), on the
        backend in use, in D's dtype."""
        return backend.asarray(check_images("DCGAN", x, self.data_shape)).astype(self.D.dtype,
                                                                                 copy=False)


def check_conv_shape(who, data_shape, n_layers, **sizes):
    """The settings of a DCGAN-style pair of networks: (C, H, W) with H and W divisible by
    2^n_layers, and every size >= 1."""
    if len(data_shape) != 3 or min(data_shape) < 1:
        raise ValueError(f"{who}: data_shape must be (C, H, W), got {tuple(data_shape)}")
    for what, v in dict(sizes, n_layers=n_layers).items():
        if isinstance(v, bool) or int(v) != v or v < 1:
            raise ValueError(f"{who}: {what} must be a positive int, got {v!r}")
    C, H, W = data_shape
    if H % 2 ** n_layers or W % 2 ** n_layers:
        raise ValueError(f"{who}: image size ({H}, {W}) must be divisible by "
                         f"2^n_layers = {2 ** n_layers} (each layer halves or doubles it)")


def check_images(who, x, data_shape):
    """A batch of images (N, C, H, W) as ``data_shape`` says, N >= 2 (batch norm), or a
    ValueError naming what was expected."""
    if not hasattr(x, "shape") or tuple(x.shape[1:]) != tuple(data_shape):
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"{who}: expected a batch of shape "
                         f"(N, {', '.join(map(str, data_shape))}), got {shape}")
    if x.shape[0] < 2:
        raise ValueError(f"{who}: batch norm needs at least 2 images per batch, got {x.shape[0]}")
    return x
