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
from collections.abc import Mapping

import numpy as np

from .. import backend
from ..backend import to_numpy
from ..nn import Linear, LeakyReLU, ReLU, Sequential, Tanh, bce_with_logits
from ..optim import Adam


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


def step_rng(seed: int, step: int, stream: int = 0):
    """The generator for one training step: a pure function of (seed, step, stream).

    Drawing noise from a generator derived from the step number (rather than one long
    stream) makes a resumed run see exactly the same noise as an uninterrupted one.
    """
    return backend.default_rng(int(np.random.SeedSequence([seed, step, stream]).generate_state(1)[0]))


class Checkpointed:
    """A model's checkpoint: the step count and the state of each of its ``parts`` (networks
    and optimisers, by attribute name), each under the prefix "<part>." (a part that is None
    is skipped). One place for every model, so that a resumed run restores everything."""

    parts = ("G", "D", "opt_g", "opt_d")

    def state_dict(self) -> dict:
        out = {"step": np.asarray(self.step)}
        for part in self.parts:
            obj = getattr(self, part)
            if obj is not None:
                out.update({f"{part}.{k}": v for k, v in obj.state_dict().items()})
        return out

    def load_state_dict(self, state: dict, strict: bool = True):
        """Restore the step count and every part from :meth:`state_dict`, all or nothing.

        Strict by default, as torch: an entry that belongs to no part of this model (or to
        a part that is None here) and an entry a part needs that ``state`` lacks are errors
        naming them; ``strict=False`` skips both. Every part checks its entries (shapes,
        real finite numbers; see :meth:`minigan.nn.Module.load_state_dict` and
        :meth:`minigan.optim.Optimizer.load_state_dict`) BEFORE any part is written, so a
        state that fails anywhere leaves the whole model as it was. Errors are
        :class:`~minigan.nn.module.StateDictError` (a KeyError and a ValueError)."""
        from ..nn.module import StateDictError, few_names
        where = type(self).__name__
        if not isinstance(state, Mapping):
            raise StateDictError(f"{where}: expected the state as a dict of arrays, got "
                                 f"{type(state).__name__}")
        parts = [(part, getattr(self, part)) for part in self.parts]
        prefixes = tuple(part + "." for part, obj in parts if obj is not None)
        if strict:
            unexpected = [k for k in state if k != "step"
                          and not (isinstance(k, str) and k.startswith(prefixes))]
            if unexpected:
                raise StateDictError(
                    f"{where}: the state does not fit: unexpected "
                    f"{few_names(sorted(map(str, unexpected)))} "
                    f"(this model's state holds 'step' and entries of its parts "
                    f"{', '.join(p[:-1] for p in prefixes)}; strict=False skips the others)")
        step = self.step
        if "step" in state:
            try:
                v = np.asarray(state["step"])
                ok = v.shape == () and v.dtype.kind in "iu" and int(v) >= 0
            except Exception:
                ok = False
            if not ok:
                raise StateDictError(f"{where}: entry 'step' must be one whole number >= 0, got "
                                     f"{state['step']!r}")
            step = int(v)
        elif strict:
            raise StateDictError(f"{where}: the state does not fit: missing 'step' "
                                 f"(strict=False skips it)")
        commits = []
        for part, obj in parts:
            if obj is None:
                continue
            if hasattr(obj, "prepare_load_state_dict"):   # networks and optimisers: checked
                commits.append(obj.prepare_load_state_dict(state, prefix=part + ".",
                                                           strict=strict))
            else:                                          # anything else: loaded as it is
                sub = {k[len(part) + 1:]: v for k, v in state.items()
                       if isinstance(k, str) and k.startswith(part + ".")}
                commits.append(lambda obj=obj, sub=sub: obj.load_state_dict(sub))
        for commit in commits:
            commit()
        self.step = step


class GAN(Checkpointed):
    """MLP GAN, with the stability toolbox as switches (all off by default).

    data_shape: shape of one example, e.g. (2,) for toy points or (1, 8, 8) for digits.
    latent_dim: size of z ~ N(0, I). hidden, depth: width and number of hidden layers of
    G (ReLU) and, unless d_hidden / d_depth say otherwise, of D (LeakyReLU 0.2).
    g_output: "linear" (toy data) or "tanh" (images in [-1, 1]).
    loss: "nonsaturating" (default) or "minimax" for G. d_steps: k of Algorithm 1.
    Adam with (lr, betas) for both networks. dtype: of the parameters ("float64" for
    gradient checks).

    The toolbox (chapter 8), each a remedy for a way GAN training goes wrong:

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

    And one knob of the optimiser: lr_half_life h (steps; 0: constant) multiplies both
    learning rates by 0.5^(step / h). Late in training a smaller step lets G settle its
    samples onto the modes instead of jittering around them.
    """

    name = "gan"
    blas_threads = 1    # small matrices: one BLAS thread is fastest (see backend.blas_threads)
    # the toolbox, off (subclasses that build their own D inherit these)
    pack, label_smoothing, feature_matching = 1, 0.0, False

    def __init__(self, data_shape=(2,), latent_dim=2, hidden=128, depth=2, g_output="linear",
                 loss="nonsaturating", d_steps=1, lr_g=1e-3, lr_d=1e-3, betas=(0.5, 0.999),
                 d_hidden=None, d_depth=None, label_smoothing=0.0, feature_matching=False,
                 minibatch_kernels=0, minibatch_dim=5, spectral_norm=False, pack=1,
                 lr_half_life=0, seed=0, dtype="float32"):
        if loss not in ("nonsaturating", "minimax"):
            raise ValueError(f"GAN: loss must be 'nonsaturating' or 'minimax', got {loss!r}")
        if g_output not in ("linear", "tanh"):
            raise ValueError(f"GAN: g_output must be 'linear' or 'tanh', got {g_output!r}")
        if d_steps < 1:
            raise ValueError(f"GAN: d_steps must be >= 1, got {d_steps}")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"GAN: label_smoothing must be in [0, 1), got {label_smoothing}")
        for what, v, least in (("pack", pack, 1), ("minibatch_kernels", minibatch_kernels, 0),
                               ("minibatch_dim", minibatch_dim, 1)):
            if isinstance(v, bool) or int(v) != v or v < least:
                raise ValueError(f"GAN: {what} must be an integer >= {least}, got {v!r}")
        if not lr_half_life >= 0:
            raise ValueError(f"GAN: lr_half_life must be >= 0 (0: constant), got {lr_half_life}")
        d_hidden = hidden if d_hidden is None else d_hidden
        d_depth = depth if d_depth is None else d_depth
        if feature_matching and d_depth < 1:
            raise ValueError("GAN: feature_matching needs a hidden layer in D (d_depth >= 1)")
        self.config = dict(data_shape=list(data_shape), latent_dim=latent_dim, hidden=hidden,
                           depth=depth, g_output=g_output, loss=loss, d_steps=d_steps,
                           lr_g=lr_g, lr_d=lr_d, betas=list(betas), d_hidden=d_hidden,
                           d_depth=d_depth, label_smoothing=label_smoothing,
                           feature_matching=bool(feature_matching),
                           minibatch_kernels=int(minibatch_kernels),
                           minibatch_dim=int(minibatch_dim), spectral_norm=bool(spectral_norm),
                           pack=int(pack), lr_half_life=lr_half_life, seed=seed, dtype=str(dtype))
        self.data_shape = tuple(data_shape)
        self.data_dim = int(math.prod(self.data_shape))
        self.latent_dim, self.loss, self.d_steps, self.seed = latent_dim, loss, d_steps, seed
        self.label_smoothing, self.feature_matching = float(label_smoothing), bool(feature_matching)
        self.pack, self.lr_half_life = int(pack), lr_half_life
        init = backend.default_rng(seed)
        self.G = mlp([latent_dim] + [hidden] * depth + [self.data_dim], ReLU,
                     Tanh if g_output == "tanh" else None, rng=init, dtype=dtype)
        self.D = toolbox_discriminator(self.data_dim * self.pack, d_hidden, d_depth,
                                       int(minibatch_kernels), int(minibatch_dim),
                                       bool(spectral_norm), rng=init, dtype=dtype)
        self.opt_g = Adam(self.G, lr=lr_g, betas=betas)
        self.opt_d = Adam(self.D, lr=lr_d, betas=betas)
        self.step = 0          # completed train_step calls

    # --- pieces ----------------------------------------------------------------------
    def noise(self, n, rng):
        """z ~ N(0, I), shape (n, latent_dim), in the networks' dtype."""
        return rng.standard_normal((n, self.latent_dim)).astype(self.G.dtype)

    def prepare_batch(self, x):
        """A real batch as D takes it: checked, flattened to (N, D), in D's dtype."""
        if not hasattr(x, "shape") or tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(f"GAN: expected a batch of shape (N, {', '.join(map(str, self.data_shape))}), "
                             f"got {tuple(x.shape) if hasattr(x, 'shape') else type(x).__name__}")
        return x.reshape(x.shape[0], self.data_dim).astype(self.D.dtype, copy=False)

    def discriminate(self, x):
        """D's logits for a batch (N, D) of samples: one per sample, or, with packing (m > 1),
        one per pack of m consecutive samples, (N/m, 1). Returns (logits, cache)."""
        return self.D.forward(self._packed(x))

    def _packed(self, x):
        """(N, D) -> (N/m, m·D): m consecutive samples side by side (no change for m = 1)."""
        if self.pack == 1:
            return x
        if x.shape[0] % self.pack:
            raise ValueError(f"{type(self).__name__}: with pack = {self.pack} the batch size must "
                             f"be a multiple of {self.pack}, got {x.shape[0]}")
        return x.reshape(x.shape[0] // self.pack, self.pack * self.data_dim)

    def discriminate_backward(self, ds, cache):
        """The backward pass of :meth:`discriminate`: ADDS into D.grads, returns dL/dx (N, D)."""
        dx = self.D.backward(ds, cache)
        return dx if self.pack == 1 else dx.reshape(dx.shape[0] * self.pack, self.data_dim)

    def d_loss_and_backward(self, real, z):
        """D's loss on one real batch and one noise batch; ADDS its gradients into D.grads.

        loss_D = BCE(D(x), 1) + BCE(D(G(z)), 0)  =  −mean log D(x) − mean log(1 − D(G(z)))
        (with one-sided label smoothing s, the real target is 1 − s)
        """
        fake, _ = self.G.forward(z)                 # G is not updated here: no G cache kept
        s_real, cache_real = self.discriminate(real)
        s_fake, cache_fake = self.discriminate(fake)
        xp = backend.get_array_module(s_real)
        loss_real, ds_real = bce_with_logits(s_real, xp.full_like(s_real, 1 - self.label_smoothing))
        loss_fake, ds_fake = bce_with_logits(s_fake, xp.zeros_like(s_fake))
        self.D.backward(ds_real, cache_real)         # the two backward passes add up in D.grads
        self.D.backward(ds_fake, cache_fake)
        d_real = float(xp.mean(0.5 * (1 + xp.tanh(0.5 * s_real))))   # mean D(x) = σ(s)
        d_fake = float(xp.mean(0.5 * (1 + xp.tanh(0.5 * s_fake))))
        return loss_real + loss_fake, d_real, d_fake

    def g_loss_and_backward(self, z, real=None):
        """G's loss on one noise batch; ADDS its gradients into G.grads (and, as a side effect
        of backpropagating through D, into D.grads, which the caller discards).

        nonsaturating:    loss_G = −mean log D(G(z)) = BCE(s, 1)
        minimax:          loss_G =  mean log(1 − D(G(z))) = −BCE(s, 0)
        feature matching: loss_G = ‖mean_n f(x_n) − mean_n f(G(z_n))‖², f = D's last hidden
                          layer (``real``: the real batch x); the gradient with respect to
                          f(G(z_n)) is 2(mean f(G(z)) − mean f(x)) / N for every n.
        """
        fake, cache_g = self.G.forward(z)
        if self.feature_matching:
            return self._feature_matching_and_backward(fake, cache_g, real)
        s_fake, cache_d = self.discriminate(fake)
        xp = backend.get_array_module(s_fake)
        if self.loss == "nonsaturating":
            loss, ds = bce_with_logits(s_fake, xp.ones_like(s_fake))
        else:
            loss, ds = bce_with_logits(s_fake, xp.zeros_like(s_fake))
            loss, ds = -loss, -ds
        self.G.backward(self.discriminate_backward(ds, cache_d), cache_g)
        return loss

    def _feature_matching_and_backward(self, fake, cache_g, real):
        if real is None:
            raise ValueError(f"{type(self).__name__}: feature matching needs the real batch")
        features = Sequential(*self.D.layers[:-1])      # D without its logit layer
        f_real, _ = features.forward(self._packed(real))
        f_fake, cache_f = features.forward(self._packed(fake))
        diff = f_fake.mean(axis=0) - f_real.mean(axis=0)
        xp = backend.get_array_module(diff)
        df = xp.broadcast_to(2 * diff / f_fake.shape[0], f_fake.shape).astype(f_fake.dtype)
        dfake = features.backward(df, cache_f).reshape(fake.shape)
        self.G.backward(dfake, cache_g)
        return float((diff * diff).sum())

    def schedule_learning_rates(self):
        """lr = lr₀ · 0.5^(step / half-life): a pure function of the step, so resume is exact."""
        if getattr(self, "lr_half_life", 0):
            factor = 0.5 ** (self.step / self.lr_half_life)
            self.opt_g.lr = self.config["lr_g"] * factor
            self.opt_d.lr = self.config["lr_d"] * factor

    # --- Algorithm 1 -------------------------------------------------------------------
    def train_step(self, real_batches) -> dict:
        """One iteration of Algorithm 1. ``real_batches``: one batch (N, *data_shape), or a
        list of ``d_steps`` batches (one per D step; a single batch is reused k times)."""
        if not isinstance(real_batches, (list, tuple)):
            real_batches = [real_batches] * self.d_steps
        rng = step_rng(self.seed, self.step)
        self.schedule_learning_rates()
        for real in real_batches:                       # k steps on D
            real = self.prepare_batch(real)
            self.opt_d.zero_grad()
            loss_d, d_real, d_fake = self.d_loss_and_backward(real, self.noise(real.shape[0], rng))
            self.opt_d.step()
        self.opt_g.zero_grad()                          # one step on G
        loss_g = self.g_loss_and_backward(self.noise(real.shape[0], rng), real)
        self.opt_g.step()
        self.D.zero_grad()          # D.grads now hold G's pass through D: not D's to use
        self.step += 1
        return {"loss_d": loss_d, "loss_g": loss_g, "d_real": d_real, "d_fake": d_fake}

    # --- use ---------------------------------------------------------------------------
    def sample(self, n, seed=None):
        """n samples from G as a NumPy array of shape (n, *data_shape)."""
        rng = backend.default_rng(seed if seed is not None else self.seed + 1)
        was = self.G.training
        self.G.eval()
        x, _ = self.G.forward(self.noise(n, rng))
        self.G.train(was)
        return to_numpy(x).reshape((n,) + self.data_shape)
