"""Conditional GAN (Mirza & Osindero, 2014): the label y conditions both networks.

The game of ``gan.py`` with an extra input on both sides:

    min_G max_D  V(D, G) = E_{x,y}[log D(x | y)] + E_{z,y}[log(1 − D(G(z | y) | y))]

G gets the noise and the label, concatenated: G([z, c(y)]); D gets the data and the label,
concatenated: D([x, c(y)]). D now rejects a well-drawn "3" presented as a 7, so G must draw
the digit it is asked for. The label code c(y) is either

- ``"onehot"``: c(y) = e_y, the y-th unit vector of length K (fixed; the paper's choice), or
- ``"embedding"``: c(y) = W[y], a learned row of an :class:`~minigan.nn.Embedding` table
  (K, E), one table for G and one for D.

The gradient of the embedding comes out of the backward pass for free. With h = [u, c] the
concatenated input of the first Linear layer, the backward pass of the network returns
dL/dh (N, U + E); its last E columns are dL/dc, and the embedding's backward scatter-adds them
into its table: dW[v] += Σ_{n: y_n = v} dL/dc_n. (For one-hot codes the same columns are
simply dropped: e_y is not learned.)

Algorithm 1, one iteration (``train_step``), labels drawn with the data:

    for k steps:                                              (k = d_steps)
        sample (x₁, y₁)..(x_m, y_m) from the data, z₁..z_m ~ p(z), ỹ₁..ỹ_m ~ U{0..K−1}
        update D by ascending  (1/m) Σ [log D(xᵢ | yᵢ) + log(1 − D(G(zᵢ | ỹᵢ) | ỹᵢ))]
    sample z₁..z_m, ỹ₁..ỹ_m
    update G by descending −(1/m) Σ log D(G(zᵢ | ỹᵢ) | ỹᵢ)     (non-saturating; or minimax)

The labels of the fakes are drawn uniformly (the digits' classes are balanced); the same
label goes into G and into D for a fake, so that D judges "is this a convincing ỹ?".
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..backend import get_array_module, to_numpy
from ..nn import Embedding, ReLU, Tanh
from ..optim import Adam
from .base import GANModel, step_rng
from .dcgan import DCGAN, check_conv_shape, check_images
from .gan import CLASSIFIER_SWITCHES, GAN, check_game, mlp, toolbox_discriminator

CONDITIONINGS = ("onehot", "embedding")


class CGAN(GAN):
    """MLP conditional GAN; data of any shape, flattened (as :class:`~minigan.gans.gan.GAN`).

    n_classes: K. conditioning: "onehot" (c(y) = e_y, K columns) or "embedding" (c(y) =
    W[y], learned, ``embed_dim`` columns; G and D each have their own table). The other
    arguments, and the toolbox switches, are those of :class:`~minigan.gans.gan.GAN`
    (packing packs D's input pairs [x, c(y)]; the sample history keeps each sample with
    its label).

    The batch contract: ``train_step((images, labels))``: images (N, *data_shape), labels
    integer (N,) in [0, K); or a list of ``d_steps`` such pairs. ``sample(n, labels=None)``:
    labels (n,) of the classes asked for; by default 0, 1, ..., K−1, 0, 1, ...
    """

    name = "cgan"
    toolbox = CLASSIFIER_SWITCHES
    parts = GAN.parts + ("G_embed", "D_embed")      # the label embeddings (None for one-hot)

    def __init__(self, data_shape=(1, 8, 8), n_classes=10, conditioning="onehot", embed_dim=10,
                 latent_dim=32, hidden=256, depth=2, g_output="tanh", loss="nonsaturating",
                 d_steps=1, lr_g=5e-4, lr_d=5e-4, betas=(0.5, 0.999), seed=0, dtype="float32",
                 **switches):
        check_labelling("CGAN", conditioning, n_classes=n_classes, embed_dim=embed_dim,
                        latent_dim=latent_dim, hidden=hidden, depth=depth)
        check_game("CGAN", loss, d_steps)
        if g_output not in ("linear", "tanh"):
            raise ValueError(f"CGAN: g_output must be 'linear' or 'tanh', got {g_output!r}")
        GANModel.__init__(self, dict(data_shape=list(data_shape), n_classes=int(n_classes),
                                     conditioning=conditioning, embed_dim=int(embed_dim),
                                     latent_dim=latent_dim, hidden=hidden, depth=depth,
                                     g_output=g_output, loss=loss, d_steps=d_steps, lr_g=lr_g,
                                     lr_d=lr_d, betas=list(betas)),
                          seed=seed, dtype=dtype, switches=switches, batches_per_step=d_steps,
                          conditional=True)
        self.data_shape = tuple(int(s) for s in data_shape)
        self.data_dim = int(math.prod(self.data_shape))
        self.n_classes, self.conditioning = int(n_classes), conditioning
        self.latent_dim, self.loss, self.d_steps = latent_dim, loss, d_steps
        self.code_dim = self.n_classes if conditioning == "onehot" else int(embed_dim)
        init = backend.default_rng(seed)
        self.G = mlp([latent_dim + self.code_dim] + [hidden] * depth + [self.data_dim], ReLU,
                     Tanh if g_output == "tanh" else None, rng=init, dtype=dtype)
        self.D = toolbox_discriminator((self.data_dim + self.code_dim) * self.pack, hidden, depth,
                                       self.minibatch_kernels, self.minibatch_dim,
                                       self.spectral_norm, rng=init, dtype=dtype)
        self._codes_and_optimizers(init, dtype, lr_g, lr_d, betas, fake_shape=(self.data_dim,))

    def _codes_and_optimizers(self, init, dtype, lr_g, lr_d, betas, fake_shape):
        """The embedding tables (for conditioning="embedding": one for G, one for D) and the
        two Adam optimisers, each over its network and its table."""
        if self.conditioning == "embedding":
            self.G_embed = Embedding(self.n_classes, self.code_dim, rng=init, dtype=dtype)
            self.D_embed = Embedding(self.n_classes, self.code_dim, rng=init, dtype=dtype)
            opt_g = Adam([self.G, self.G_embed], lr=lr_g, betas=betas)
            opt_d = Adam([self.D, self.D_embed], lr=lr_d, betas=betas)
        else:
            self.G_embed = self.D_embed = None
            opt_g = Adam(self.G, lr=lr_g, betas=betas)
            opt_d = Adam(self.D, lr=lr_d, betas=betas)
        self.setup_training(opt_g, opt_d, fake=(fake_shape, self.D.dtype),
                            cond=((), np.int64))

    # --- the label code and the conditioned networks ---------------------------------------
    def g_parameters(self, prefix="G."):
        """Every trainable parameter on G's side (G, and its embedding table if any) as
        (name, param, grad) triples."""
        out = self.G.named_parameters(prefix)
        if self.G_embed is not None:
            out += self.G_embed.named_parameters(prefix + "embed.")
        return out

    def d_parameters(self, prefix="D."):
        out = self.D.named_parameters(prefix)
        if self.D_embed is not None:
            out += self.D_embed.named_parameters(prefix + "embed.")
        return out

    def check_labels(self, labels, n):
        """labels as an integer array (n,) with values in [0, K), or a ValueError naming the problem."""
        if not hasattr(labels, "shape") or not hasattr(labels, "dtype"):
            raise ValueError(f"CGAN: expected labels as an integer array of shape ({n},), "
                             f"got {type(labels).__name__}")
        if labels.dtype.kind not in "iu":
            raise ValueError(f"CGAN: expected integer labels, got dtype {labels.dtype}")
        if tuple(labels.shape) != (n,):
            raise ValueError(f"CGAN: expected labels of shape ({n},) (one per example), "
                             f"got {tuple(labels.shape)}")
        if n:
            lo, hi = int(labels.min()), int(labels.max())
            if lo < 0 or hi >= self.n_classes:
                raise ValueError(f"CGAN: labels must be in [0, {self.n_classes}), "
                                 f"got values from {lo} to {hi}")
        return labels

    def code(self, labels, embed):
        """c(y) (N, code_dim) and the cache its backward needs (None for one-hot codes)."""
        if embed is None:
            xp = get_array_module(labels)
            eye = xp.eye(self.n_classes, dtype=self.G.dtype)
            return eye[labels], None
        return embed.forward(labels)

    def generate(self, z, labels):
        """G(z | y) = G([z, c(y)]): (N, data_dim) and the cache for :meth:`generate_backward`."""
        c, cache_c = self.code(labels, self.G_embed)
        xp = get_array_module(z)
        x, cache = self.G.forward(xp.concatenate([z, c], axis=1))
        return x, (cache, cache_c)

    def generate_backward(self, dx, cache):
        """Back through G([z, c(y)]): returns dL/dz; dL/dc goes into G's embedding (if any)."""
        cache_net, cache_c = cache
        dh = self.G.backward(dx, cache_net)
        if self.G_embed is not None:
            self.G_embed.backward(dh[:, self.latent_dim:], cache_c)   # scatter-add into rows
        return dh[:, :self.latent_dim]

    def d_input(self, x, labels):
        """D's input for samples x (N, D) with labels y: [x, c(y)] (N, D + E) (packed, with
        PacGAN: m consecutive pairs side by side)."""
        c, cache_c = self.code(labels, self.D_embed)
        h = get_array_module(x).concatenate([x, c], axis=1)
        return self._packed(h), (cache_c, h.shape, x.shape[1])

    def d_input_backward(self, dh, cache):
        """dL/dx from the gradient of [x, c(y)]; dL/dc goes into D's embedding (if any)."""
        cache_c, shape, x_dim = cache
        dh = dh.reshape(shape)
        if self.D_embed is not None:
            self.D_embed.backward(dh[:, x_dim:], cache_c)
        return dh[:, :x_dim]

    def noise_and_labels(self, n, rng):
        """z ~ N(0, I) (n, latent_dim) and ỹ ~ U{0..K−1} (n,), from one step's generator."""
        z = self.noise(n, rng)
        y = rng.integers(0, self.n_classes, n)
        return z, backend.asarray(np.asarray(to_numpy(y), dtype=np.int64))

    # --- batches ----------------------------------------------------------------------------
    def prepare_batch(self, batch):
        """A real (images, labels) pair, checked: images flattened to (N, D) in D's dtype,
        labels integer (N,) in [0, K)."""
        x, labels = self._pair(batch)
        x = GAN.prepare_batch(self, x)
        return x, backend.asarray(self.check_labels(labels, x.shape[0]))

    def _pair(self, batch):
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError(f"{type(self).__name__}: expected a batch (images, labels), got "
                             f"{type(batch).__name__}; a conditional GAN needs the labels "
                             "(make_loader(..., with_labels=True))")
        return batch

    # --- the losses: GAN's, with the labels ---------------------------------------------------
    def d_loss_and_backward(self, real, labels, z, fake_labels):
        """D's loss on one real batch (x, y) and one noise batch (z, ỹ); ADDS its gradients
        into D's (and the D embedding's).

        loss_D = BCE(D(x | y), 1) + BCE(D(G(z | ỹ) | ỹ), 0)
        """
        return GAN.d_loss_and_backward(self, real, z, labels, fake_labels)

    def g_loss_and_backward(self, z, labels, real=None, real_labels=None):
        """G's loss on (z, ỹ); ADDS its gradients into G's (and the G embedding's), and as
        a side effect into D's, which the caller discards.

        nonsaturating: loss_G = BCE(D(G(z | ỹ) | ỹ), 1);  minimax: −BCE(D(G(z | ỹ) | ỹ), 0)
        (feature matching compares D's features of (G(z | ỹ) | ỹ) with those of the real
        pairs (x | y))
        """
        return GAN.g_loss_and_backward(self, z, real, labels, real_labels)

    # --- Algorithm 1 ------------------------------------------------------------------------
    def train_step(self, real_batches) -> dict:
        """One iteration of Algorithm 1 with labels (module docstring). ``real_batches``:
        a list of ``d_steps`` pairs (images, labels), one per D step, or one pair, reused."""
        batches = [self.prepare_batch(b) for b in self.batches(real_batches)]
        rng = step_rng(self.seed, self.step)
        self.schedule_learning_rates()
        for real, labels in batches:                               # k steps on D
            self.zero_grads("d")
            z, fake_labels = self.noise_and_labels(real.shape[0], rng)
            loss_d, d_real, d_fake = self.d_loss_and_backward(real, labels, z, fake_labels)
            self.update("d")
        self.zero_grads("g")                                       # one step on G
        z, fake_labels = self.noise_and_labels(real.shape[0], rng)
        loss_g = self.g_loss_and_backward(z, fake_labels, real, labels)
        self.update("g")
        self.finish_step()
        return {"loss_d": loss_d, "loss_g": loss_g, "d_real": d_real, "d_fake": d_fake}

    # --- use --------------------------------------------------------------------------------
    def sample(self, n, labels=None, seed=None):
        """n samples G(z | y) as a NumPy array (n, *data_shape). labels: integer (n,), the
        class asked for in each sample; default 0, 1, ..., K−1, 0, 1, ..."""
        if labels is None:
            labels = np.arange(n) % self.n_classes
        labels = self.check_labels(labels, n) if hasattr(labels, "shape") else \
            self.check_labels(np.asarray(labels), n)
        rng = backend.default_rng(seed if seed is not None else self.seed + 1)
        with self.sampling():
            x, _ = self.generate(self.noise(n, rng),
                                 backend.asarray(to_numpy(labels).astype(np.int64)))
        return to_numpy(x).reshape((n,) + self.data_shape)


def check_labelling(who, conditioning, **sizes):
    if conditioning not in CONDITIONINGS:
        raise ValueError(f"{who}: conditioning must be 'onehot' or 'embedding', got {conditioning!r}")
    for what, v in sizes.items():
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{who}: {what} must be a positive int, got {v!r}")


class CDCGAN(CGAN):
    """Convolutional conditional GAN for (C, H, W) images: the networks of
    :class:`~minigan.gans.dcgan.DCGAN`, conditioned as in :class:`CGAN`.

    G: [z, c(y)] (N, latent_dim + E) -> the DCGAN generator -> (N, C, H, W).
    D: the label code c(y) (N, E) broadcast into E constant maps of size H×W and concatenated
    to the image as extra channels: (N, C + E, H, W) -> the DCGAN discriminator -> logit.
    Backward through the broadcast: each map's gradient is summed over its H×W positions,
    dL/dc[n, e] = Σ_{h,w} dL/dh[n, C + e, h, w], and that goes into the embedding (if any).

    conditioning, n_classes, embed_dim: as :class:`CGAN`; width, n_layers, the optimiser
    settings and the toolbox switches as :class:`~minigan.gans.dcgan.DCGAN` (lr 2e-4,
    β₁ = 0.5).
    """

    name = "cdcgan"

    def __init__(self, data_shape=(1, 8, 8), n_classes=10, conditioning="onehot", embed_dim=10,
                 latent_dim=32, width=16, n_layers=2, loss="nonsaturating", d_steps=1,
                 lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), seed=0, dtype="float32", **switches):
        check_labelling("CDCGAN", conditioning, n_classes=n_classes, embed_dim=embed_dim,
                        latent_dim=latent_dim, width=width, n_layers=n_layers, d_steps=d_steps)
        check_game("CDCGAN", loss, d_steps)
        check_conv_shape("CDCGAN", data_shape, n_layers)
        GANModel.__init__(self, dict(data_shape=list(data_shape), n_classes=int(n_classes),
                                     conditioning=conditioning, embed_dim=int(embed_dim),
                                     latent_dim=latent_dim, width=width, n_layers=n_layers,
                                     loss=loss, d_steps=d_steps, lr_g=lr_g, lr_d=lr_d,
                                     betas=list(betas)),
                          seed=seed, dtype=dtype, switches=switches, batches_per_step=d_steps,
                          conditional=True)
        C, H, W = (int(s) for s in data_shape)
        self.data_shape = (C, H, W)
        self.data_dim = C * H * W
        self.n_classes, self.conditioning = int(n_classes), conditioning
        self.latent_dim, self.loss, self.d_steps = latent_dim, loss, d_steps
        self.code_dim = self.n_classes if conditioning == "onehot" else int(embed_dim)
        self.G, self.D, init = DCGAN.networks(self, latent_dim + self.code_dim, C + self.code_dim,
                                              width, n_layers, dtype)
        self._codes_and_optimizers(init, dtype, lr_g, lr_d, betas, fake_shape=self.data_shape)

    def prepare_batch(self, batch):
        """A real (images, labels) pair, checked: images (N, C, H, W), N >= 2 (batch norm),
        in D's dtype; labels integer (N,) in [0, K)."""
        x, labels = self._pair(batch)
        x = backend.asarray(check_images("CDCGAN", x, self.data_shape))
        return x.astype(self.D.dtype, copy=False), backend.asarray(self.check_labels(labels,
                                                                                     x.shape[0]))

    def d_input(self, x, labels):
        """D's input for images x (N, C, H, W) with labels y: [x, label maps], the code
        broadcast to (N, E, H, W) (packed, with PacGAN: m consecutive ones as channels)."""
        c, cache_c = self.code(labels, self.D_embed)
        xp = get_array_module(x)
        N, C, H, W = x.shape
        maps = xp.broadcast_to(c[:, :, None, None], (N, c.shape[1], H, W))
        h = xp.concatenate([x, maps], axis=1)
        return self._packed(h), (cache_c, h.shape, C)

    def d_input_backward(self, dh, cache):
        """dL/dx (N, C, H, W); the label maps' gradient, summed over H×W, goes into the
        embedding (if any)."""
        cache_c, shape, C = cache
        dh = dh.reshape(shape)
        if self.D_embed is not None:
            self.D_embed.backward(dh[:, C:].sum(axis=(2, 3)), cache_c)
        return dh[:, :C]
