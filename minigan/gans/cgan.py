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
from ..nn import Embedding, LeakyReLU, ReLU, Tanh, bce_with_logits
from ..optim import Adam
from .gan import GAN, mlp, step_rng

CONDITIONINGS = ("onehot", "embedding")


class CGAN(GAN):
    """MLP conditional GAN; data of any shape, flattened (as :class:`~minigan.gans.gan.GAN`).

    n_classes: K. conditioning: "onehot" (c(y) = e_y, K columns) or "embedding" (c(y) =
    W[y], learned, ``embed_dim`` columns; G and D each have their own table). The other
    arguments are those of :class:`~minigan.gans.gan.GAN`.

    ``train_step((images, labels))``: images (N, *data_shape), labels integer (N,) in
    [0, K); or a list of ``d_steps`` such pairs. ``sample(n, labels=None)``: labels (n,) of
    the classes asked for; by default 0, 1, ..., K−1, 0, 1, ...
    """

    name = "cgan"
    blas_threads = 1

    parts = GAN.parts + ("G_embed", "D_embed")      # the label embeddings (None for one-hot)

    def __init__(self, data_shape=(1, 8, 8), n_classes=10, conditioning="onehot", embed_dim=10,
                 latent_dim=32, hidden=256, depth=2, g_output="tanh", loss="nonsaturating",
                 d_steps=1, lr_g=5e-4, lr_d=5e-4, betas=(0.5, 0.999), seed=0, dtype="float32"):
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"CGAN: conditioning must be 'onehot' or 'embedding', got {conditioning!r}")
        for what, v in (("n_classes", n_classes), ("embed_dim", embed_dim),
                        ("latent_dim", latent_dim), ("hidden", hidden), ("depth", depth)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"CGAN: {what} must be a positive int, got {v!r}")
        if loss not in ("nonsaturating", "minimax"):
            raise ValueError(f"CGAN: loss must be 'nonsaturating' or 'minimax', got {loss!r}")
        if g_output not in ("linear", "tanh"):
            raise ValueError(f"CGAN: g_output must be 'linear' or 'tanh', got {g_output!r}")
        if d_steps < 1:
            raise ValueError(f"CGAN: d_steps must be >= 1, got {d_steps}")
        self.config = dict(data_shape=list(data_shape), n_classes=int(n_classes),
                           conditioning=conditioning, embed_dim=int(embed_dim),
                           latent_dim=latent_dim, hidden=hidden, depth=depth, g_output=g_output,
                           loss=loss, d_steps=d_steps, lr_g=lr_g, lr_d=lr_d, betas=list(betas),
                           seed=seed, dtype=str(dtype))
        self.data_shape = tuple(int(s) for s in data_shape)
        self.data_dim = int(math.prod(self.data_shape))
        self.n_classes, self.conditioning = int(n_classes), conditioning
        self.latent_dim, self.loss, self.d_steps, self.seed = latent_dim, loss, d_steps, seed
        self.code_dim = self.n_classes if conditioning == "onehot" else int(embed_dim)
        init = backend.default_rng(seed)
        self.G = mlp([latent_dim + self.code_dim] + [hidden] * depth + [self.data_dim], ReLU,
                     Tanh if g_output == "tanh" else None, rng=init, dtype=dtype)
        self.D = mlp([self.data_dim + self.code_dim] + [hidden] * depth + [1],
                     lambda: LeakyReLU(0.2), rng=init, dtype=dtype)
        self._codes_and_optimizers(init, dtype, lr_g, lr_d, betas)

    def _codes_and_optimizers(self, init, dtype, lr_g, lr_d, betas):
        """The embedding tables (for conditioning="embedding": one for G, one for D) and the
        two Adam optimisers, each over its network and its table."""
        if self.conditioning == "embedding":
            self.G_embed = Embedding(self.n_classes, self.code_dim, rng=init, dtype=dtype)
            self.D_embed = Embedding(self.n_classes, self.code_dim, rng=init, dtype=dtype)
            self.opt_g = Adam([self.G, self.G_embed], lr=lr_g, betas=betas)
            self.opt_d = Adam([self.D, self.D_embed], lr=lr_d, betas=betas)
        else:
            self.G_embed = self.D_embed = None
            self.opt_g = Adam(self.G, lr=lr_g, betas=betas)
            self.opt_d = Adam(self.D, lr=lr_d, betas=betas)
        self.step = 0

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

    def _forward(self, net, embed, u, labels):
        """net([u, c(y)]) and the cache of both pieces."""
        c, cache_c = self.code(labels, embed)
        xp = get_array_module(u)
        out, cache = net.forward(xp.concatenate([u, c], axis=1))
        return out, (cache, cache_c, u.shape[1])

    def _backward(self, net, embed, dout, cache):
        """Back through net([u, c(y)]): returns dL/du; dL/dc goes into the embedding (if any)."""
        cache_net, cache_c, u_dim = cache
        dh = net.backward(dout, cache_net)
        if embed is not None:
            embed.backward(dh[:, u_dim:], cache_c)      # scatter-add into the table's rows
        return dh[:, :u_dim]

    def generate(self, z, labels):
        """G(z | y): (N, data_dim) and the cache for :meth:`generate_backward`."""
        return self._forward(self.G, self.G_embed, z, labels)

    def generate_backward(self, dx, cache):
        return self._backward(self.G, self.G_embed, dx, cache)

    def discriminate(self, x, labels):
        """D's logit s(x | y): (N, 1) and the cache for :meth:`discriminate_backward`."""
        return self._forward(self.D, self.D_embed, x, labels)

    def discriminate_backward(self, ds, cache):
        return self._backward(self.D, self.D_embed, ds, cache)

    def noise_and_labels(self, n, rng):
        """z ~ N(0, I) (n, latent_dim) and ỹ ~ U{0..K−1} (n,), from one step's generator."""
        z = self.noise(n, rng)
        y = rng.integers(0, self.n_classes, n)
        return z, backend.asarray(np.asarray(to_numpy(y), dtype=np.int64))

    # --- batches ----------------------------------------------------------------------------
    def prepare_batch(self, batch):
        """A real (images, labels) pair, checked: images flattened to (N, D) in D's dtype,
        labels integer (N,) in [0, K)."""
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError("CGAN: expected a batch (images, labels), got "
                             f"{type(batch).__name__}; a conditional GAN needs the labels "
                             "(make_loader(..., with_labels=True))")
        x, labels = batch
        x = super().prepare_batch(x)
        return x, self.check_labels(labels, x.shape[0])

    def _batches(self, real_batches):
        """One (images, labels) pair, or a list of them (one per D step)."""
        if (isinstance(real_batches, (tuple, list)) and len(real_batches) == 2
                and hasattr(real_batches[0], "shape") and hasattr(real_batches[1], "shape")):
            return [real_batches] * self.d_steps
        if isinstance(real_batches, (tuple, list)) and real_batches:
            return list(real_batches)
        raise ValueError("CGAN: expected a batch (images, labels) or a list of such batches, "
                         f"got {type(real_batches).__name__}")

    # --- the losses -------------------------------------------------------------------------
    def d_loss_and_backward(self, real, labels, z, fake_labels):
        """D's loss on one real batch (x, y) and one noise batch (z, ỹ); ADDS its gradients
        into D.grads (and the D embedding's).

        loss_D = BCE(D(x | y), 1) + BCE(D(G(z | ỹ) | ỹ), 0)
        """
        fake, _ = self.generate(z, fake_labels)        # G is not updated here
        s_real, cache_real = self.discriminate(real, labels)
        s_fake, cache_fake = self.discriminate(fake, fake_labels)
        xp = get_array_module(s_real)
        loss_real, ds_real = bce_with_logits(s_real, xp.ones_like(s_real))
        loss_fake, ds_fake = bce_with_logits(s_fake, xp.zeros_like(s_fake))
        self.discriminate_backward(ds_real, cache_real)
        self.discriminate_backward(ds_fake, cache_fake)
        d_real = float(xp.mean(0.5 * (1 + xp.tanh(0.5 * s_real))))
        d_fake = float(xp.mean(0.5 * (1 + xp.tanh(0.5 * s_fake))))
        return loss_real + loss_fake, d_real, d_fake

    def g_loss_and_backward(self, z, labels):
        """G's loss on (z, ỹ); ADDS its gradients into G.grads (and the G embedding's), and as
        a side effect into D's, which the caller discards.

        nonsaturating: loss_G = BCE(D(G(z | ỹ) | ỹ), 1);  minimax: −BCE(D(G(z | ỹ) | ỹ), 0)
        """
        fake, cache_g = self.generate(z, labels)
        s_fake, cache_d = self.discriminate(fake, labels)
        xp = get_array_module(s_fake)
        if self.loss == "nonsaturating":
            loss, ds = bce_with_logits(s_fake, xp.ones_like(s_fake))
        else:
            loss, ds = bce_with_logits(s_fake, xp.zeros_like(s_fake))
            loss, ds = -loss, -ds
        dfake = self.discriminate_backward(ds, cache_d)
        self.generate_backward(dfake, cache_g)
        return loss

    # --- Algorithm 1 ------------------------------------------------------------------------
    def train_step(self, real_batches) -> dict:
        """One iteration of Algorithm 1 with labels. ``real_batches``: (images, labels), or a
        list of ``d_steps`` such pairs (a single pair is reused k times)."""
        batches = [self.prepare_batch(b) for b in self._batches(real_batches)]
        rng = step_rng(self.seed, self.step)
        for real, labels in batches:                               # k steps on D
            self.opt_d.zero_grad()
            z, fake_labels = self.noise_and_labels(real.shape[0], rng)
            loss_d, d_real, d_fake = self.d_loss_and_backward(real, labels, z, fake_labels)
            self.opt_d.step()
        self.opt_g.zero_grad()                                     # one step on G
        loss_g = self.g_loss_and_backward(*self.noise_and_labels(real.shape[0], rng))
        self.opt_g.step()
        self.opt_d.zero_grad()      # D's grads now hold G's pass through D: not D's to use
        self.step += 1
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
        was = self.G.training
        self.G.eval()
        x, _ = self.generate(self.noise(n, rng), backend.asarray(to_numpy(labels).astype(np.int64)))
        self.G.train(was)
        return to_numpy(x).reshape((n,) + self.data_shape)


class CDCGAN(CGAN):
    """Convolutional conditional GAN for (C, H, W) images: the networks of
    :class:`~minigan.gans.dcgan.DCGAN`, conditioned as in :class:`CGAN`.

    G: [z, c(y)] (N, latent_dim + E) -> the DCGAN generator -> (N, C, H, W).
    D: the label code c(y) (N, E) broadcast into E constant maps of size H×W and concatenated
    to the image as extra channels: (N, C + E, H, W) -> the DCGAN discriminator -> logit.
    Backward through the broadcast: each map's gradient is summed over its H×W positions,
    dL/dc[n, e] = Σ_{h,w} dL/dh[n, C + e, h, w], and that goes into the embedding (if any).

    conditioning, n_classes, embed_dim: as :class:`CGAN`; width, n_layers and the optimiser
    settings as :class:`~minigan.gans.dcgan.DCGAN` (lr 2e-4, β₁ = 0.5).
    """

    name = "cdcgan"
    blas_threads = 1

    def __init__(self, data_shape=(1, 8, 8), n_classes=10, conditioning="onehot", embed_dim=10,
                 latent_dim=32, width=16, n_layers=2, loss="nonsaturating", d_steps=1,
                 lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), seed=0, dtype="float32"):
        from .dcgan import dcgan_discriminator, dcgan_generator, dcgan_init_
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"CDCGAN: conditioning must be 'onehot' or 'embedding', got {conditioning!r}")
        for what, v in (("n_classes", n_classes), ("embed_dim", embed_dim), ("latent_dim", latent_dim),
                        ("width", width), ("n_layers", n_layers), ("d_steps", d_steps)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"CDCGAN: {what} must be a positive int, got {v!r}")
        if loss not in ("nonsaturating", "minimax"):
            raise ValueError(f"CDCGAN: loss must be 'nonsaturating' or 'minimax', got {loss!r}")
        if len(data_shape) != 3 or min(data_shape) < 1:
            raise ValueError(f"CDCGAN: data_shape must be (C, H, W), got {tuple(data_shape)}")
        C, H, W = (int(s) for s in data_shape)
        if H % 2 ** n_layers or W % 2 ** n_layers:
            raise ValueError(f"CDCGAN: image size ({H}, {W}) must be divisible by "
                             f"2^n_layers = {2 ** n_layers} (each layer halves or doubles it)")
        self.config = dict(data_shape=list(data_shape), n_classes=int(n_classes),
                           conditioning=conditioning, embed_dim=int(embed_dim),
                           latent_dim=latent_dim, width=width, n_layers=n_layers, loss=loss,
                           d_steps=d_steps, lr_g=lr_g, lr_d=lr_d, betas=list(betas), seed=seed,
                           dtype=str(dtype))
        self.data_shape = (C, H, W)
        self.data_dim = C * H * W
        self.n_classes, self.conditioning = int(n_classes), conditioning
        self.latent_dim, self.loss, self.d_steps, self.seed = latent_dim, loss, d_steps, seed
        self.code_dim = self.n_classes if conditioning == "onehot" else int(embed_dim)
        self.G = dcgan_generator(latent_dim + self.code_dim, self.data_shape, width, n_layers, dtype)
        self.D = dcgan_discriminator((C + self.code_dim, H, W), width, n_layers, dtype)
        init = backend.default_rng(seed)
        dcgan_init_(self.G, init)
        dcgan_init_(self.D, init)
        self._codes_and_optimizers(init, dtype, lr_g, lr_d, betas)

    def prepare_batch(self, batch):
        """A real (images, labels) pair, checked: images (N, C, H, W), N >= 2 (batch norm),
        in D's dtype; labels integer (N,) in [0, K)."""
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError("CDCGAN: expected a batch (images, labels), got "
                             f"{type(batch).__name__}; a conditional GAN needs the labels "
                             "(make_loader(..., with_labels=True))")
        x, labels = batch
        if not hasattr(x, "shape") or tuple(x.shape[1:]) != self.data_shape:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"CDCGAN: expected a batch of shape "
                             f"(N, {', '.join(map(str, self.data_shape))}), got {shape}")
        if x.shape[0] < 2:
            raise ValueError(f"CDCGAN: batch norm needs at least 2 images per batch, got {x.shape[0]}")
        return x.astype(self.D.dtype, copy=False), self.check_labels(labels, x.shape[0])

    def discriminate(self, x, labels):
        """D's logit on [x, label maps]: x (N, C, H, W), the code broadcast to (N, E, H, W)."""
        c, cache_c = self.code(labels, self.D_embed)
        xp = get_array_module(x)
        N, C, H, W = x.shape
        maps = xp.broadcast_to(c[:, :, None, None], (N, c.shape[1], H, W))
        s, cache = self.D.forward(xp.concatenate([x, maps], axis=1))
        return s, (cache, cache_c, C)

    def discriminate_backward(self, ds, cache):
        """dL/dx (N, C, H, W); the label maps' gradient, summed over H×W, goes into the embedding."""
        cache_net, cache_c, C = cache
        dh = self.D.backward(ds, cache_net)
        if self.D_embed is not None:
            self.D_embed.backward(dh[:, C:].sum(axis=(2, 3)), cache_c)
        return dh[:, :C]
