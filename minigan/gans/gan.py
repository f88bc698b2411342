"""The original GAN (Goodfellow et al., 2014) with MLP generator and discriminator.

The game: D tells real data from G's samples; G tries to fool D.

    min_G max_D  V(D, G) = E_x[log D(x)] + E_z[log(1 − D(G(z)))]

Algorithm 1 of the paper, one iteration (``train_step``):

    for k steps:                                         (k = d_steps)
        sample noise z₁..z_m ~ p(z) and data x₁..x_m
        update D by ascending  (1/m) Σ [log D(xᵢ) + log(1 − D(G(zᵢ)))]
    sample noise z₁..z_m
    update G by descending   (1/m) Σ log(1 − D(G(zᵢ)))              (loss="minimax")
               or, as the paper recommends in practice,
               by descending −(1/m) Σ log D(G(zᵢ))                   (loss="nonsaturating")

D outputs a logit s, D(x) = σ(s); with binary cross-entropy on logits,
−log D(x) = BCE(s, 1) and −log(1 − D(x)) = BCE(s, 0), so D's loss is
BCE(s_real, 1) + BCE(s_fake, 0). The derivation and the pictures are in notebook 03.

Data are flat vectors (N, D); image data of shape (N, C, H, W) are flattened on the
way in and reshaped on the way out (``data_shape``).
"""
from __future__ import annotations

import math

from .. import backend
from ..nn import Linear, LeakyReLU, ReLU, Sequential, Tanh
from ..optim import Adam
from .base import GENERAL_SWITCHES, GANModel, bce_d_loss, bce_g_loss, step_rng


def mlp(sizes, hidden_activation, out_activation=None, rng=None, dtype="float32"):
    """Linear layers of the given sizes with an activation between them (and optionally after).

    sizes: [in, h1, ..., out]. hidden_activation: a zero-argument callable making a layer.
    """
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(Linear(sizes[i], sizes[i + 1], rng=rng, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(hidden_activation())
    if out_activation is not None:
        layers.append(out_activation())
    return Sequential(*layers)


def toolbox_discriminator(in_dim, hidden, depth, minibatch_kernels=0, minibatch_dim=5,
                          spectral_norm=False, rng=None, dtype="float32"):
    """D of the MLP GAN: ``depth`` hidden layers of ``hidden`` units with LeakyReLU(0.2), a
    logit at the end; optionally a minibatch-discrimination layer before the logit
    (``minibatch_kernels`` > 0) and spectral normalisation of every linear layer. With the
    options off this is ``mlp([in_dim] + [hidden] * depth + [1], LeakyReLU)``, drawing its
    initial weights from ``rng`` in the same order."""
    sizes = [in_dim] + [hidden] * depth
    layers = []
    for i in range(depth):
        layers += [Linear(sizes[i], sizes[i + 1], rng=rng, dtype=dtype), LeakyReLU(0.2)]
    width = sizes[-1]
    if minibatch_kernels:
        from ..nn import MinibatchDiscrimination
        layers.append(MinibatchDiscrimination(width, minibatch_kernels, minibatch_dim, rng=rng,
                                              dtype=dtype, average=True))
        width += minibatch_kernels
    layers.append(Linear(width, 1, rng=rng, dtype=dtype))
    if spectral_norm:
        from ..nn import SpectralNorm
        layers = [SpectralNorm(layer, rng=rng) if isinstance(layer, Linear) else layer
                  for layer in layers]
    return Sequential(*layers)



# The switches of the GAN family (GAN, DCGAN, CGAN, CDCGAN): D is a classifier with a last
# hidden layer, so every remedy of chapter 8 applies.
CLASSIFIER_SWITCHES = ("label_smoothing", "feature_matching", "minibatch_kernels",
                       "minibatch_dim", "spectral_norm", "pack") + GENERAL_SWITCHES
LOSSES = ("nonsaturating", "minimax")


def check_game(who, loss, d_steps):
    """The settings of Algorithm 1 every model of the GAN family takes."""
    if loss not in LOSSES:
        raise ValueError(f"{who}: loss must be 'nonsaturating' or 'minimax', got {loss!r}")
    if isinstance(d_steps, bool) or int(d_steps) != d_steps or d_steps < 1:
        raise ValueError(f"{who}: d_steps must be an integer >= 1, got {d_steps!r}")


class GAN(GANModel):
    """MLP GAN, with the stability toolbox as switches (all off by default).

    data_shape: shape of one example, e.g. (2,) for toy points or (1, 8, 8) for digits.
    latent_dim: size of z ~ N(0, I). hidden, depth: width and number of hidden layers of
    G (ReLU) and, unless d_hidden / d_depth say otherwise, of D (LeakyReLU 0.2).
    g_output: "linear" (toy data) or "tanh" (images in [-1, 1]).
    loss: "nonsaturating" (default) or "minimax" for G. d_steps: k of Algorithm 1; a step
    takes k real batches (one per D step; the batch contract, ``batches_per_step``).
    Adam with (lr, betas) for both networks. dtype: of the parameters ("float64" for
    gradient checks).

    The toolbox (chapter 8; :data:`minigan.gans.base.SWITCHES`), keyword arguments, each a
    remedy for a way GAN training goes wrong:

    - label_smoothing s: one-sided label smoothing (Salimans et al. 2016): D's target for
      real data is 1 − s instead of 1 (fake stays 0), so D is not rewarded for ever more
      extreme logits on the data.
    - feature_matching: G minimises ‖mean f(x) − mean f(G(z))‖² where f is D's last hidden
      layer (Salimans et al. 2016) instead of fooling D directly.
    - minibatch_kernels B (and minibatch_dim C): a minibatch-discrimination layer before D's
      output (Salimans et al. 2016): D sees how close each sample is to the rest of its
      batch, so a batch of near-identical fakes is easy to spot. Its features are averaged
      over the batch rather than summed (``average=True``), so that their scale does not
      grow with the batch size.
    - spectral_norm: every linear layer of D divides its weight by its largest singular
      value, estimated by power iteration (Miyato et al. 2018): D is 1-Lipschitz per layer.
    - pack m: PacGAN (Lin et al. 2018): D judges m samples at once, concatenated, all real or
      all fake; a batch of N samples makes N/m packed samples, so N must be a multiple of m.
      A generator that drops modes produces packs that look less varied than real ones.
    - lr_half_life h (steps; 0: constant) multiplies every learning rate by 0.5^(step / h).
      Late in training a smaller step lets G settle its samples onto the modes.
    - historical_averaging λ, sample_history (a pool size), ema (a decay): see
      :mod:`minigan.gans.toolbox`.

    DCGAN, CGAN and CDCGAN play this game with other networks: they inherit its losses and
    its ``train_step`` and build their own networks through the contract's constructor
    (:class:`~minigan.gans.base.GANModel`), as this class does.
    """

    name = "gan"
    toolbox = CLASSIFIER_SWITCHES

    def __init__(self, data_shape=(2,), latent_dim=2, hidden=128, depth=2, g_output="linear",
                 loss="nonsaturating", d_steps=1, lr_g=1e-3, lr_d=1e-3, betas=(0.5, 0.999),
                 d_hidden=None, d_depth=None, seed=0, dtype="float32", **switches):
        check_game("GAN", loss, d_steps)
        if g_output not in ("linear", "tanh"):
            raise ValueError(f"GAN: g_output must be 'linear' or 'tanh', got {g_output!r}")
        d_hidden = hidden if d_hidden is None else d_hidden
        d_depth = depth if d_depth is None else d_depth
        GANModel.__init__(self, dict(data_shape=list(data_shape), latent_dim=latent_dim,
                                     hidden=hidden, depth=depth, g_output=g_output, loss=loss,
                                     d_steps=d_steps, lr_g=lr_g, lr_d=lr_d, betas=list(betas),
                                     d_hidden=d_hidden, d_depth=d_depth),
                          seed=seed, dtype=dtype, switches=switches, batches_per_step=d_steps)
        if self.feature_matching and d_depth < 1:
            raise ValueError("GAN: feature_matching needs a hidden layer in D (d_depth >= 1)")
        self.data_shape = tuple(data_shape)
        self.data_dim = int(math.prod(self.data_shape))
        self.latent_dim, self.loss, self.d_steps = latent_dim, loss, d_steps
        init = backend.default_rng(seed)
        self.G = mlp([latent_dim] + [hidden] * depth + [self.data_dim], ReLU,
                     Tanh if g_output == "tanh" else None, rng=init, dtype=dtype)
        self.D = toolbox_discriminator(self.data_dim * self.pack, d_hidden, d_depth,
                                       self.minibatch_kernels, self.minibatch_dim,
                                       self.spectral_norm, rng=init, dtype=dtype)
        self.setup_training(Adam(self.G, lr=lr_g, betas=betas), Adam(self.D, lr=lr_d, betas=betas),
                            fake=((self.data_dim,), self.D.dtype))

    # --- pieces ----------------------------------------------------------------------
    def prepare_batch(self, x):
        """A real batch as D takes it: checked, on the backend in use (a NumPy batch is moved
        to the GPU under CuPy), flattened to (N, D), in D's dtype."""
        if not hasattr(x, "shape") or tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(f"GAN: expected a batch of shape (N, {', '.join(map(str, self.data_shape))}), "
                             f"got {tuple(x.shape) if hasattr(x, 'shape') else type(x).__name__}")
        x = backend.asarray(x)
        return x.reshape(x.shape[0], self.data_dim).astype(self.D.dtype, copy=False)

    def d_input(self, x, cond=None):
        """What D reads for a batch of samples x (N, ...): x itself, or with packing (m > 1)
        m consecutive samples side by side, (N/m, m·F) or (N/m, m·C, H, W). Returns (input,
        cache for :meth:`d_input_backward`)."""
        return self._packed(x), x.shape

    def d_input_backward(self, dh, cache):
        """dL/dx (N, ...) from the gradient of D's input."""
        return dh.reshape(cache)

    def _packed(self, h):
        if self.pack == 1:
            return h
        if h.shape[0] % self.pack:
            raise ValueError(f"{type(self).__name__}: with pack = {self.pack} the batch size must "
                             f"be a multiple of {self.pack}, got {h.shape[0]}")
        return h.reshape((h.shape[0] // self.pack, self.pack * h.shape[1]) + h.shape[2:])

    def discriminate(self, x, cond=None, net=None):
        """D's logits for a batch of samples (given their conditions, for a conditional
        model): one per sample, or, with packing (m > 1), one per pack, (N/m, 1).
        ``net``: another network on D's input (feature matching's D without its logit).
        Returns (logits, cache)."""
        net = self.D if net is None else net
        h, cache_in = self.d_input(x, cond)
        s, cache = net.forward(h)
        return s, (net, cache, cache_in)

    def discriminate_backward(self, ds, cache):
        """The backward pass of :meth:`discriminate`: ADDS into D's gradients (and its label
        table's), returns dL/dx."""
        net, cache_net, cache_in = cache
        return self.d_input_backward(net.backward(ds, cache_net), cache_in)

    # --- the losses ----------------------------------------------------------------------
    def d_loss_and_backward(self, real, z, cond=None, fake_cond=None):
        """D's loss on one real batch and one noise batch; ADDS its gradients into D's.
        (A conditional model passes the real batch's conditions and those asked of G.)

        loss_D = BCE(D(x), 1) + BCE(D(G(z)), 0)  =  −mean log D(x) − mean log(1 − D(G(z)))
        (with one-sided label smoothing s, the real target is 1 − s; with the sample history
        on, D sees some of G's earlier samples among the fakes)
        """
        fake, _ = self.generate(z, fake_cond)       # G is not updated here: no G cache kept
        fake, fake_cond = self.recall(fake, fake_cond)
        s_real, cache_real = self.discriminate(real, cond)
        s_fake, cache_fake = self.discriminate(fake, fake_cond)
        loss, ds_real, ds_fake, d_real, d_fake = bce_d_loss(s_real, s_fake,
                                                            1 - self.label_smoothing)
        self.discriminate_backward(ds_real, cache_real)   # the two passes add up in D's grads
        self.discriminate_backward(ds_fake, cache_fake)
        return loss, d_real, d_fake

    def g_loss_and_backward(self, z, real=None, cond=None, real_cond=None):
        """G's loss on one noise batch; ADDS its gradients into G's (and, as a side effect
        of backpropagating through D, into D's, which the caller discards).

        nonsaturating:    loss_G = −mean log D(G(z)) = BCE(s, 1)
        minimax:          loss_G =  mean log(1 − D(G(z))) = −BCE(s, 0)
        feature matching: loss_G = ‖mean_n f(x_n) − mean_n f(G(z_n))‖² where f is D's last
                          hidden layer (``real``: the real batch x); the gradient with
                          respect to f(G(z_n)) is 2(mean f(G(z)) − mean f(x)) / N for every n.
        """
        fake, cache_g = self.generate(z, cond)
        if self.feature_matching:
            loss, dfake = self.feature_matching_and_backward(fake, cond, real, real_cond)
        else:
            s_fake, cache_d = self.discriminate(fake, cond)
            loss, ds = bce_g_loss(s_fake, self.loss)
            dfake = self.discriminate_backward(ds, cache_d)
        self.generate_backward(dfake, cache_g)
        return loss

    def feature_matching_and_backward(self, fake, cond, real, real_cond):
        """‖mean f(x) − mean f(G(z))‖² and its gradient with respect to the fakes."""
        if real is None:
            raise ValueError(f"{type(self).__name__}: feature matching needs the real batch")
        features = Sequential(*self.D.layers[:-1])      # D without its logit layer
        f_real, _ = self.discriminate(real, real_cond, net=features)
        f_fake, cache_f = self.discriminate(fake, cond, net=features)
        diff = f_fake.mean(axis=0) - f_real.mean(axis=0)
        xp = backend.get_array_module(diff)
        df = xp.broadcast_to(2 * diff / f_fake.shape[0], f_fake.shape).astype(f_fake.dtype)
        return float((diff * diff).sum()), self.discriminate_backward(df, cache_f)

    # --- Algorithm 1 -------------------------------------------------------------------
    def train_step(self, real_batches) -> dict:
        """One iteration of Algorithm 1. ``real_batches``: a list of ``d_steps`` batches
        (N, *data_shape), one per D step, or one batch, reused for each."""
        rng = step_rng(self.seed, self.step)
        self.schedule_learning_rates()
        for real in self.batches(real_batches):         # k steps on D
            real = self.prepare_batch(real)
            self.zero_grads("d")
            loss_d, d_real, d_fake = self.d_loss_and_backward(real, self.noise(real.shape[0], rng))
            self.update("d")
        self.zero_grads("g")                            # one step on G
        loss_g = self.g_loss_and_backward(self.noise(real.shape[0], rng), real)
        self.update("g")
        self.finish_step()
        return {"loss_d": loss_d, "loss_g": loss_g, "d_real": d_real, "d_fake": d_fake}
