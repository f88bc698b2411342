"""Wasserstein GANs: WGAN (Arjovsky, Chintala & Bottou, 2017) and WGAN-GP (Gulrajani et al., 2017).

The discriminator becomes a *critic* f: it outputs a score, not a probability (no sigmoid), and
the game estimates the Wasserstein-1 distance through the Kantorovich-Rubinstein duality:

    W(P_r, P_g) = sup_{‖f‖_L ≤ 1}  E_{x~P_r}[f(x)] − E_{x~P_g}[f(x)]

The critic maximises mean f(x) − mean f(G(z)) over (roughly) 1-Lipschitz functions, i.e. it
minimises  loss_D = mean f(G(z)) − mean f(x); G minimises  loss_G = −mean f(G(z)).
With these losses the gradients are constants: ∂loss_D/∂f(x_n) = −1/m, ∂loss_D/∂f(x̃_n) = +1/m,
∂loss_G/∂f(G(z_n)) = −1/m; everything else is the ordinary backward pass.
The two papers differ in how they keep f Lipschitz.

WGAN, Algorithm 1 (α = 5e-5, c = 0.01, m = 64, n_critic = 5), one iteration (``train_step``):

    for t = 1..n_critic:
        sample x₁..x_m from the data, z₁..z_m ~ p(z)
        g_w ← ∇_w [ (1/m) Σ f(xᵢ) − (1/m) Σ f(G(zᵢ)) ]
        w ← w + α · RMSProp(w, g_w)                         (ascent = descent on loss_D)
        w ← clip(w, −c, c)                                  (weight clipping: f is K-Lipschitz)
    sample z₁..z_m
    g_θ ← −∇_θ (1/m) Σ f(G(zᵢ));   θ ← θ − α · RMSProp(θ, g_θ)

WGAN-GP, Algorithm 1 (λ = 10, n_critic = 5, Adam α = 1e-4, β₁ = 0.5, β₂ = 0.9): the same loop
without clipping, and with a penalty added to the critic's loss,

    L = mean f(x̃) − mean f(x) + λ · mean_n (‖∇ₓ f(x̂_n)‖ − 1)²,   x̂ = εx + (1 − ε)x̃, ε ~ U[0, 1]

whose parameter gradient needs a second-order pass (``minigan.nn.penalty``, ARCHITECTURE.md "Second-order
gradients"). The critic has no batch norm (it would make f(x̂_n) depend on the other
samples; layer norm is allowed). ``penalty="r1"`` swaps in R1 (Mescheder et al. 2018),
γ/2 · mean ‖∇ₓ f(x)‖² at the real data.

Networks: MLPs (toy points, flattened digits; G ends in tanh for images), or, with
``arch="conv"``, DCGAN's generator and a convolutional critic without batch norm.
"""
from __future__ import annotations

import math

from .. import backend
from ..nn import Conv2d, Flatten, LayerNorm, LeakyReLU, Linear, ReLU, Sequential, Softplus, Tanh
from ..nn.jvp import input_gradient
from ..optim import Adam, RMSprop
from ..nn.penalty import gradient_penalty, r1_penalty
from .base import GENERAL_SWITCHES, GANModel, step_rng
from .dcgan import dcgan_generator, dcgan_init_, with_remedies
from .gan import mlp

ACTIVATIONS = {"leakyrelu": lambda: LeakyReLU(0.2), "relu": ReLU, "tanh": Tanh, "softplus": Softplus}


def mlp_critic(sizes, activation="leakyrelu", layer_norm=False, rng=None, dtype="float32"):
    """Linear layers of ``sizes`` = [in, h1, ..., 1] with (LayerNorm and) an activation between
    them; no activation at the end: the critic's output is a score. The last layer has no
    bias: both losses and ∇ₓf are unchanged by adding a constant to f, so its gradient would be
    exactly 0 forever (the critic is defined up to a constant)."""
    layers = []
    for i in range(len(sizes) - 1):
        last = i == len(sizes) - 2
        layers.append(Linear(sizes[i], sizes[i + 1], bias=not last, rng=rng, dtype=dtype))
        if i < len(sizes) - 2:
            if layer_norm:
                layers.append(LayerNorm(sizes[i + 1], dtype=dtype))
            layers.append(ACTIVATIONS[activation]())
    return Sequential(*layers)


def conv_critic(in_shape, width, n_layers, activation="leakyrelu", layer_norm=False, dtype="float32"):
    """images (N, C, H, W) -> scores (N, 1): DCGAN's discriminator without batch norm
    (optionally layer norm over (C, H, W) of each hidden map after the first); no bias at the
    output, as :func:`mlp_critic`."""
    C, H, W = in_shape
    layers, ch = [], C
    for i in range(n_layers):
        out = width * 2 ** i
        layers.append(Conv2d(ch, out, 4, stride=2, padding=1, dtype=dtype))
        if layer_norm and i > 0:
            layers.append(LayerNorm((out, H >> (i + 1), W >> (i + 1)), dtype=dtype))
        layers.append(ACTIVATIONS[activation]())
        ch = out
    layers += [Flatten(), Linear(ch * (H >> n_layers) * (W >> n_layers), 1, bias=False, dtype=dtype)]
    return Sequential(*layers)


# Why a switch of the classifier GANs does not apply to a critic.
_CRITIC = "the critic outputs a score, not a probability: there are no labels to smooth"
NOT_FOR_CRITICS = {
    "label_smoothing": _CRITIC,
    "feature_matching": "G's loss is the critic's score, the Wasserstein estimate itself; "
                        "matching features would discard it",
    "minibatch_kernels": "the critic's score must be a function of one sample (the "
                         "Wasserstein estimate and the gradient penalty are per sample)",
    "minibatch_dim": "there is no minibatch layer in a critic",
    "pack": "not implemented for critics (PacGAN packs a classifier's input)",
    "spectral_norm": "weight clipping already bounds the critic (WGAN-GP takes it)",
}


class WGAN(GANModel):
    """WGAN with weight clipping (Arjovsky et al. 2017, Algorithm 1).

    data_shape: one example's shape, (2,) for toy points or (1, 8, 8) for digits.
    arch: "mlp" (hidden, depth: width and hidden layers of G (ReLU) and the critic) or "conv"
    (width, n_layers: as DCGAN; data_shape (C, H, W) with H, W divisible by 2^n_layers).
    g_output: "linear" or "tanh" (images; forced for "conv"). critic_activation: leakyrelu
    (default), relu, tanh, softplus. n_critic: critic steps per G step; a step takes
    n_critic real batches (the batch contract). clip: c. RMSprop(lr) for both networks, as
    the paper. dtype: "float64" for gradient checks. Toolbox switches: the general ones
    (lr_half_life, historical_averaging, sample_history, ema); WGAN-GP also spectral_norm.
    """

    name = "wgan"
    toolbox = GENERAL_SWITCHES
    not_applicable = NOT_FOR_CRITICS

    def __init__(self, data_shape=(2,), latent_dim=2, hidden=128, depth=3, g_output="linear",
                 arch="mlp", width=16, n_layers=2, critic_activation="leakyrelu", n_critic=5,
                 clip=0.01, lr_g=5e-5, lr_d=5e-5, seed=0, dtype="float32", **switches):
        if not clip > 0:
            raise ValueError(f"{type(self).__name__}: clip must be positive, got {clip}")
        self._build(data_shape, latent_dim, hidden, depth, g_output, arch, width, n_layers,
                    critic_activation, False, n_critic, seed, dtype, switches,
                    dict(clip=clip, lr_g=lr_g, lr_d=lr_d))
        self.clip = float(clip)
        self.setup_training(RMSprop(self.G, lr=lr_g), RMSprop(self.D, lr=lr_d),
                            fake=self._fake_shape())

    def _fake_shape(self):
        return (self.data_shape if self.arch == "conv" else (self.data_dim,)), self.D.dtype

    def _build(self, data_shape, latent_dim, hidden, depth, g_output, arch, width, n_layers,
               critic_activation, layer_norm, n_critic, seed, dtype, switches, settings):
        """Check the arguments, set config and the common fields (the contract's
        constructor), build G and the critic D."""
        who = type(self).__name__
        if arch not in ("mlp", "conv"):
            raise ValueError(f"{who}: arch must be 'mlp' or 'conv', got {arch!r}")
        if g_output not in ("linear", "tanh"):
            raise ValueError(f"{who}: g_output must be 'linear' or 'tanh', got {g_output!r}")
        if critic_activation not in ACTIVATIONS:
            raise ValueError(f"{who}: critic_activation must be one of {', '.join(ACTIVATIONS)}, "
                             f"got {critic_activation!r}")
        if isinstance(n_critic, bool) or int(n_critic) != n_critic or n_critic < 1:
            raise ValueError(f"{who}: n_critic must be an integer >= 1, got {n_critic!r}")
        if latent_dim < 1 or hidden < 1 or depth < 0 or width < 1 or n_layers < 1:
            raise ValueError(f"{who}: latent_dim, hidden, width, n_layers must be >= 1 and depth >= 0")
        self.data_shape = tuple(int(s) for s in data_shape)
        self.data_dim = int(math.prod(self.data_shape))
        if arch == "conv":
            if len(self.data_shape) != 3:
                raise ValueError(f"{who}: arch='conv' needs data_shape (C, H, W), got {self.data_shape}")
            C, H, W = self.data_shape
            if H % 2 ** n_layers or W % 2 ** n_layers:
                raise ValueError(f"{who}: image size ({H}, {W}) must be divisible by 2^n_layers = "
                                 f"{2 ** n_layers}")
            g_output = "tanh"
        GANModel.__init__(self, dict(data_shape=list(self.data_shape), latent_dim=latent_dim,
                                     hidden=hidden, depth=depth, g_output=g_output, arch=arch,
                                     width=width, n_layers=n_layers,
                                     critic_activation=critic_activation,
                                     n_critic=int(n_critic), **settings),
                          seed=seed, dtype=dtype, switches=switches,
                          batches_per_step=int(n_critic))
        self.arch, self.latent_dim, self.n_critic = arch, latent_dim, int(n_critic)
        self.d_steps = self.n_critic               # GAN's name for the same k
        init = backend.default_rng(seed)
        if arch == "mlp":
            self.G = mlp([latent_dim] + [hidden] * depth + [self.data_dim], ReLU,
                         Tanh if g_output == "tanh" else None, rng=init, dtype=dtype)
            self.D = mlp_critic([self.data_dim] + [hidden] * depth + [1], critic_activation,
                                layer_norm, rng=init, dtype=dtype)
        else:
            self.G = dcgan_generator(latent_dim, self.data_shape, width, n_layers, dtype)
            self.D = conv_critic(self.data_shape, width, n_layers, critic_activation, layer_norm, dtype)
            dcgan_init_(self.G, init)
            dcgan_init_(self.D, init)
        self.D = with_remedies(self.D, spectral_norm=self.spectral_norm, rng=init)

    # --- pieces ----------------------------------------------------------------------
    def prepare_batch(self, x):
        """A real batch as the critic takes it: checked, flattened to (N, D) for an MLP
        (kept (N, C, H, W) for a conv critic), in D's dtype."""
        if not hasattr(x, "shape") or tuple(x.shape[1:]) != self.data_shape or x.shape[0] < 1:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"{type(self).__name__}: expected a batch of shape "
                             f"(N, {', '.join(map(str, self.data_shape))}), got {shape}")
        x = backend.asarray(x)                  # on the backend in use
        if self.arch == "conv":
            if x.shape[0] < 2:
                raise ValueError(f"{type(self).__name__}: G's batch norm needs at least 2 "
                                 f"samples per batch, got {x.shape[0]}")
            return x.astype(self.D.dtype, copy=False)
        return x.reshape(x.shape[0], self.data_dim).astype(self.D.dtype, copy=False)

    def penalty_and_backward(self, real, fake, rng):
        """The critic's regulariser: ADDS its gradient into D.grads; returns (value, mean
        ‖∇ₓf‖). WGAN has none (clipping does the job): (0, nan)."""
        return 0.0, float("nan")

    def critic_loss_and_backward(self, real, z, rng):
        """The critic's loss on one real batch and one noise batch; ADDS its gradients into
        D.grads. loss_D = mean f(G(z)) − mean f(x) (+ the penalty, WGAN-GP).

        Returns (loss_D incl. penalty, Wasserstein estimate mean f(x) − mean f(G(z)),
        penalty value, mean input-gradient norm)."""
        fake, _ = self.G.forward(z)                 # G is not updated here: no G cache kept
        fake, _ = self.recall(fake)                 # (with the sample history: older fakes too)
        s_real, cache_real = self.D.forward(real)
        s_fake, cache_fake = self.D.forward(fake)
        xp = backend.get_array_module(s_real)
        m = s_real.shape[0]
        self.D.backward(xp.full_like(s_real, -1.0 / m), cache_real)
        self.D.backward(xp.full_like(s_fake, 1.0 / m), cache_fake)
        w_estimate = float(s_real.mean()) - float(s_fake.mean())
        penalty, grad_norm = self.penalty_and_backward(real, fake, rng)
        return -w_estimate + penalty, w_estimate, penalty, grad_norm

    def g_loss_and_backward(self, z):
        """G's loss −mean f(G(z)); ADDS its gradients into G.grads (and, through the critic,
        into D.grads, which the caller discards)."""
        fake, cache_g = self.G.forward(z)
        s_fake, cache_d = self.D.forward(fake)
        xp = backend.get_array_module(s_fake)
        dfake = self.D.backward(xp.full_like(s_fake, -1.0 / s_fake.shape[0]), cache_d)
        self.G.backward(dfake, cache_g)
        return -float(s_fake.mean())

    def clip_weights(self):
        """w ← clip(w, −c, c) for every critic parameter, in place."""
        for _, p, _ in self.D.named_parameters():
            backend.get_array_module(p).clip(p, -self.clip, self.clip, out=p)

    def after_critic_step(self):
        self.clip_weights()

    def monitor_grad_norm(self, real, fake, rng):
        """mean ‖∇ₓf(x̂)‖ at random interpolates (how far from 1-Lipschitz the critic is);
        only measured, nothing is added to the gradients."""
        xp = backend.get_array_module(real)
        eps = xp.asarray(rng.random((real.shape[0],) + (1,) * (real.ndim - 1))).astype(real.dtype)
        _, g = input_gradient(self.D, eps * real + (1 - eps) * fake)
        return float(xp.sqrt((g.reshape(g.shape[0], -1) ** 2).sum(axis=1)).mean())

    # --- Algorithm 1 -------------------------------------------------------------------
    def train_step(self, real_batches) -> dict:
        """One iteration of Algorithm 1. ``real_batches``: a list of n_critic batches (N,
        *data_shape), one per critic step, or one batch, reused for each."""
        rng = step_rng(self.seed, self.step)
        self.schedule_learning_rates()
        for real in self.batches(real_batches):         # n_critic steps on the critic
            real = self.prepare_batch(real)
            self.zero_grads("d")
            z = self.noise(real.shape[0], rng)
            loss_d, w_est, penalty, grad_norm = self.critic_loss_and_backward(real, z, rng)
            self.update("d")
            self.after_critic_step()                    # WGAN: clip the weights
        if grad_norm != grad_norm:                      # WGAN: measure it, last critic step
            grad_norm = self.monitor_grad_norm(real, self.G.forward(z)[0], rng)
        self.zero_grads("g")                            # one step on G
        loss_g = self.g_loss_and_backward(self.noise(real.shape[0], rng))
        self.update("g")
        self.finish_step()
        return {"loss_d": float(loss_d), "loss_g": float(loss_g), "wasserstein": float(w_est),
                "penalty": float(penalty), "grad_norm": float(grad_norm)}


class WGANGP(WGAN):
    """WGAN-GP (Gulrajani et al. 2017, Algorithm 1): no clipping, a gradient penalty.

    As :class:`WGAN`, plus: penalty "gp" (λ·mean(‖∇f(x̂)‖ − 1)² at interpolates, λ = ``lam``)
    or "r1" (γ/2·mean‖∇f(x)‖² at the real data, γ = ``gamma``); layer_norm: LayerNorm in
    the critic's hidden layers (never batch norm). Adam(lr, betas) for both networks.
    """

    name = "wgan-gp"
    toolbox = ("spectral_norm",) + GENERAL_SWITCHES

    def __init__(self, data_shape=(2,), latent_dim=2, hidden=128, depth=3, g_output="linear",
                 arch="mlp", width=16, n_layers=2, critic_activation="leakyrelu",
                 layer_norm=False, n_critic=5, penalty="gp", lam=10.0, gamma=10.0, lr_g=1e-4,
                 lr_d=1e-4, betas=(0.5, 0.9), seed=0, dtype="float32", **switches):
        if penalty not in ("gp", "r1"):
            raise ValueError(f"WGANGP: penalty must be 'gp' or 'r1', got {penalty!r}")
        if lam < 0 or gamma < 0:
            raise ValueError(f"WGANGP: lam and gamma must be >= 0, got {lam}, {gamma}")
        self._build(data_shape, latent_dim, hidden, depth, g_output, arch, width, n_layers,
                    critic_activation, bool(layer_norm), n_critic, seed, dtype, switches,
                    dict(layer_norm=bool(layer_norm), penalty=penalty, lam=lam, gamma=gamma,
                         lr_g=lr_g, lr_d=lr_d, betas=list(betas)))
        self.penalty, self.lam, self.gamma = penalty, float(lam), float(gamma)
        self.setup_training(Adam(self.G, lr=lr_g, betas=betas), Adam(self.D, lr=lr_d, betas=betas),
                            fake=self._fake_shape())

    def penalty_and_backward(self, real, fake, rng):
        """λ·GP at x̂ = εx + (1 − ε)x̃ (ε from ``rng``), or R1 at x; ADDS ∂P/∂θ into D.grads."""
        if self.penalty == "gp":
            value, info = gradient_penalty(self.D, real, fake, rng, lam=self.lam)
        else:
            value, info = r1_penalty(self.D, real, gamma=self.gamma)
        return value, info["grad_norm"]

    def after_critic_step(self):
        pass                                            # no clipping
