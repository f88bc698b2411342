"""SeqGAN (Yu, Zhang, Wang & Yu, AAAI 2017): a GAN for discrete token sequences, trained by
policy gradient.

Why not the GAN of :mod:`minigan.gans.gan`: a sequence y = (y_1..y_T) of discrete tokens is
SAMPLED from the generator, and sampling has no gradient, so D(y) cannot be backpropagated
into G. SeqGAN treats G as a stochastic policy: the state is the prefix Y_{1:t−1}, the action
the next token y_t ~ G_θ(· | Y_{1:t−1}), and the reward arrives at the end, D's probability
that the finished sequence is real. G maximises the expected reward J(θ) = E_{Y~G}[D(Y)].

The policy gradient (REINFORCE, Williams 1992), derived. With G(Y) = Π_t G(y_t | Y_{1:t−1})
and the identity ∇G = G ∇log G::

    ∇J = ∇ Σ_Y G(Y) D(Y) = Σ_Y G(Y) D(Y) ∇log G(Y) = E_{Y~G}[ D(Y) Σ_t ∇log G(y_t | Y_{1:t−1}) ]

Rewards-to-go: a token y_t cannot influence what came before it, so (the terms with
earlier rewards have expectation zero) D(Y) may be replaced, at step t, by the expected final
reward GIVEN the prefix, the action value

    Q(Y_{1:t−1}, y_t) = E_{Y_{t+1:T} ~ G}[ D(Y_{1:T}) | Y_{1:t} ],      Q at t = T is D(Y) itself,

    ∇J = E_{Y~G}[ Σ_t Q(Y_{1:t−1}, y_t) ∇log G(y_t | Y_{1:t−1}) ]                   (SeqGAN eq. 6)

Q is estimated by Monte Carlo: N rollouts complete the prefix Y_{1:t} with a copy of G (the
"rollout network" G_β), and Q ≈ (1/N) Σ_n D(Y^n_{1:T}). G_β is a DELAYED copy of G,
β ← r β + (1 − r) θ after every G update (r = 0.8 as the paper's code), which smooths the
reward estimates. The estimate of ∇J from B sampled sequences is the gradient of a
surrogate loss that is a weighted cross-entropy with the rewards held fixed::

    L_PG(θ) = −(1/BT) Σ_b Σ_t Q_bt log G_θ(y_bt | y_b,<t),       −∇L_PG = ∇J / T (estimate)

so the backward pass of the policy gradient is the backward pass of maximum likelihood with
every position's gradient ∂L/∂z_bt = Q_bt (softmax(z_bt) − onehot(y_bt)) / BT: see
:meth:`minigan.lm.LanguageModel.loss_and_backward`. Optional baseline
(``baseline="mean"``, not in the paper): Q_bt − mean_b Q_bt, the batch mean per position;
subtracting anything independent of y_t leaves E[∇J] unchanged (E[∇log G] = 0) and lowers
the variance. The paper uses no baseline (``baseline="none"``, the default).

Sign and alignment are tested with hand-made rewards in place of D (tests/test_seqgan.py:
"token k at position p" drives G to emit k there, also at p = 1, which only works if Q of
y_t is estimated from rollouts of the prefix Y_{1:t} that INCLUDES y_t).

What it achieves (benchmarks/quality_seq.py, the paper's oracle with V = 5000, the paper's
policy gradient; numbers in benchmarks/results/seq_table.txt): SeqGAN's samples score a lower
NLL_oracle than MLE's, as in the paper, with either discriminator. But three measurements say
where the gain comes from:

- its samples' entropy falls with it, and MLE sampled at a temperature that gives the SAME
  entropy scores better still: at equal diversity SeqGAN does not beat maximum likelihood
  (Caccia et al. 2020 found the same for published text GANs);
- a control with no discriminator at all, every reward 0.5 ("const"), lowers NLL_oracle as much
  or more. Without a baseline the policy gradient raises the log-probability of whatever G
  sampled; in expectation that is zero, but every step sharpens G a little towards its own
  samples, and the steps add up (a rich-get-richer drift; Adam's normalised steps make it
  larger), whatever the reward;
- the discriminators do not know what the oracle likes (benchmarks/seq_discriminator.py):
  trained on the same 10,000 sequences as G, they tell held-out real from generated sequences
  barely better than chance (AUC 0.55 and 0.53 at V = 5000), the LSTM D memorises its training
  sequences (mean D 0.87 on them, 0.25 on held-out real ones), and neither score correlates with
  the oracle's likelihood of a fake (|r| < 0.02). D's information about the oracle comes from
  the same 10,000 samples that MLE already uses.

D: :class:`SequenceDiscriminator` (Embedding → LSTM → Linear on the final hidden state; it
reuses minigan's gradient-checked layers and sees the whole order of the tokens, which the
grammar's validity depends on) or :class:`CNNDiscriminator` (the paper's: windows of several
widths, max over time, highway, dropout, L2). D(Y) = σ(logit); D's loss is the GAN's:
BCE(D(real), 1) + BCE(D(fake), 0), fakes fresh from G; rewards use D in eval mode.

Training, as in the paper, in three phases that ``train_step`` walks through by step number
(so that :func:`minigan.train.fit` runs, checkpoints and resumes all of it)::

    steps [0, pretrain_g_steps):                  MLE on G (teacher forcing, Adam, clipping)
    then pretrain_d_steps steps:                  D on real vs fresh G samples
    then, every step (adversarial):               g_steps policy-gradient steps on G,
                                                  rollout update, d_steps steps on D
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..backend import get_array_module
from ..lm import LanguageModel
from ..nn import LSTM, Dropout, Embedding, Highway, Linear, Module, clip_grad_norm, sigmoid
from ..optim import Adam
from .base import GENERAL_SWITCHES, GANModel, bce_d_loss, step_rng


class SequenceDiscriminator(Module):
    """D: Embedding(V, E) → LSTM(E, H) → Linear(H, 1) on the last hidden state h_T.

    forward(tokens (N, T) int) -> (logits (N, 1), cache); D(Y) = σ(logit).
    backward(dlogits (N, 1), cache): dh_T = dlogit W_out (Linear backward), then BPTT from the
    final state only (``LSTM.backward(None, cache, dh_n=dh_T)``), then the Embedding's
    scatter-add. Returns None (tokens have no gradient).
    """

    def __init__(self, vocab_size, embed_dim=32, hidden=32, rng=None, dtype="float32"):
        super().__init__()
        rng = rng if rng is not None else backend.rng()
        self.emb = Embedding(vocab_size, embed_dim, rng=rng, dtype=dtype)
        self.lstm = LSTM(embed_dim, hidden, rng=rng, dtype=dtype)
        self.out = Linear(hidden, 1, rng=rng, dtype=dtype)

    def children(self):
        return [("emb", self.emb), ("lstm", self.lstm), ("out", self.out)]

    def forward(self, tokens):
        e, c_emb = self.emb.forward(tokens)
        (_, (h_n, _)), c_lstm = self.lstm.forward(e)
        s, c_out = self.out.forward(h_n[-1])
        return s, (c_emb, c_lstm, c_out)

    def backward(self, ds, cache):
        c_emb, c_lstm, c_out = cache
        dh = self.out.backward(ds, c_out)                         # (N, H)
        de, _, _ = self.lstm.backward(None, c_lstm, dh_n=dh[None])
        self.emb.backward(de, c_emb)
        return None

    def prob(self, tokens, batch_size=2048):
        """D(Y) = σ(logit) for every row, (N,) float (no cache kept), in eval mode (no
        dropout: rewards and evaluations use the whole D, as the paper's code)."""
        xp = get_array_module(tokens)
        mode = self.training
        self.eval()
        try:
            out = [sigmoid(self.forward(tokens[i:i + batch_size])[0][:, 0])
                   for i in range(0, tokens.shape[0], batch_size)]
        finally:
            self.train(mode)
        return xp.concatenate(out)


class CNNDiscriminator(Module):
    """SeqGAN's D: a convolutional sentence classifier (Kim 2014) with a highway layer.

    tokens (N, T) → Embedding → e (N, T, E). For every window width k with F_k filters:
    the windows u_t = [e_t, …, e_{t+k−1}] (N, T−k+1, k·E) go through a Linear (one filter
    per output: a 1-D convolution over time), a ReLU, and the MAX OVER TIME, the strongest
    match anywhere in the sequence (N, F_k). The features of all widths are concatenated
    (N, ΣF), then Highway → Dropout → Linear(ΣF, 1), a logit; D(Y) = σ(logit).

    Backward: the Linear, Dropout and Highway backward passes; the max over time sends each
    feature's gradient to the window where the max was (ties: the first); the ReLU gates it;
    each window's Linear returns ∂L/∂u (N, T−k+1, k·E), and slice j of a window is e_{t+j},
    so ∂L/∂e_s = Σ_j ∂L/∂u_{s−j}[j] (a shifted add per j); then the Embedding's scatter-add.

    The paper's D (Yu et al. 2017): widths 1–10, 15, 20 with 100–200 filters each, E = 64,
    dropout 0.25 (keep 0.75), L2 0.2 on the output layer. ``l2``: λ of λ/2 ‖W_out‖² (+ bias),
    added by :meth:`l2_loss_and_backward`. Windows wider than T are dropped (none can fit).
    """

    def __init__(self, vocab_size, seq_len, embed_dim=64,
                 windows=((1, 32), (2, 64), (3, 64), (4, 64), (5, 64), (8, 32), (10, 32),
                          (15, 32), (20, 32)),
                 dropout=0.25, l2=0.2, rng=None, dtype="float32"):
        super().__init__()
        rng = rng if rng is not None else backend.rng()
        windows = [(int(k), int(f)) for k, f in windows if k <= seq_len]
        if not windows:
            raise ValueError(f"CNNDiscriminator: no window fits sequences of length {seq_len}")
        self.seq_len, self.embed_dim, self.windows, self.l2 = seq_len, embed_dim, windows, l2
        self.emb = Embedding(vocab_size, embed_dim, rng=rng, dtype=dtype)
        self.convs = [Linear(k * embed_dim, f, rng=rng, dtype=dtype) for k, f in windows]
        width = sum(f for _, f in windows)
        self.highway = Highway(width, rng=rng, dtype=dtype)
        self.drop = Dropout(dropout, rng=rng)
        self.out = Linear(width, 1, rng=rng, dtype=dtype)

    def children(self):
        return ([("emb", self.emb)] + [(f"conv{k}", c) for (k, _), c in zip(self.windows,
                                                                            self.convs)]
                + [("highway", self.highway), ("drop", self.drop), ("out", self.out)])

    def forward(self, tokens):
        if tokens.ndim != 2 or tokens.shape[1] != self.seq_len:
            raise ValueError(f"CNNDiscriminator: expected tokens of shape (N, {self.seq_len}), "
                             f"got {tuple(tokens.shape)}")
        xp = get_array_module(tokens)
        e, c_emb = self.emb.forward(tokens)                           # (N, T, E)
        T = self.seq_len
        feats, c_convs = [], []
        for (k, _), conv in zip(self.windows, self.convs):
            u = xp.concatenate([e[:, j:T - k + 1 + j] for j in range(k)], axis=2)
            a, c = conv.forward(u)                                    # (N, T−k+1, F)
            arg = a.argmax(axis=1)                                    # (N, F)
            m = xp.take_along_axis(a, arg[:, None, :], axis=1)[:, 0]
            feats.append(m * (m > 0))                                 # relu(max) = max(relu)
            c_convs.append((c, arg, m > 0, a.shape[1]))
        h, c_hw = self.highway.forward(xp.concatenate(feats, axis=1))
        d, c_drop = self.drop.forward(h)
        s, c_out = self.out.forward(d)
        return s, (c_emb, c_convs, c_hw, c_drop, c_out, e.shape)

    def backward(self, ds, cache):
        c_emb, c_convs, c_hw, c_drop, c_out, e_shape = cache
        df = self.highway.backward(self.drop.backward(self.out.backward(ds, c_out), c_drop),
                                   c_hw)                              # (N, ΣF)
        xp = get_array_module(df)
        de = xp.zeros(e_shape, dtype=df.dtype)
        E, start = self.embed_dim, 0
        for (k, f), conv, (c, arg, pos, L) in zip(self.windows, self.convs, c_convs):
            dm = df[:, start:start + f] * pos                         # through the ReLU
            start += f
            at_max = xp.arange(L)[None, :, None] == arg[:, None, :]   # (N, L, F)
            du = conv.backward(at_max * dm[:, None, :], c)            # (N, L, k·E)
            for j in range(k):
                de[:, j:j + L] += du[:, :, j * E:(j + 1) * E]
        self.emb.backward(de, c_emb)
        return None

    def l2_loss_and_backward(self):
        """λ/2 (‖W_out‖² + ‖b_out‖²), as the paper's ``l2_reg_lambda · l2_loss``; ADDS λ W_out
        and λ b_out into the output layer's gradients; returns the penalty."""
        loss = 0.0
        for k, p in self.out.params.items():
            self.out.grads[k] += self.l2 * p
            loss += 0.5 * self.l2 * float((p * p).sum())
        return loss

    prob = SequenceDiscriminator.prob


# The stream of step_rng that the CNN discriminator's dropout masks come from (apart from the
# step's own noise: a pure function of the step, as everything a step draws).
DROPOUT_STREAM = 3


class SeqGAN(GANModel):
    """SeqGAN on fixed-length token sequences (N, T) of a vocabulary of V tokens.

    G: :class:`~minigan.lm.LanguageModel` (embed_dim, hidden); D:
    :class:`SequenceDiscriminator` (d_embed_dim, d_hidden). start_token: read before the
    first token (a BOS id, or 0 as the paper's oracle). Phases and their lengths: see the
    module docstring (pretrain_g_steps, pretrain_d_steps; then adversarial steps of g_steps
    policy-gradient updates and d_steps D updates). rollouts: N, the Monte-Carlo rollouts per
    prefix (paper 16); rollout_update: r of β ← r β + (1 − r) θ (paper 0.8). baseline: "none"
    (paper) or "mean". Adam for everything: lr_mle (G in MLE), lr_adv (G in the policy
    gradient), lr_d; every G gradient clipped to global norm ``clip`` (paper: 5).
    pg_batch: sequences sampled per policy-gradient step (default: the real batch's size).

    The batch contract: one real batch (N, T) per step (a list of batches, one per D update,
    is accepted too). Toolbox switches: label_smoothing and the general ones; they act on
    the game (the pretraining and adversarial D steps, the policy-gradient steps), not on
    MLE pretraining, and G's average and EMA start from G as the adversarial phase begins.
    """

    name = "seqgan"
    toolbox = ("label_smoothing",) + GENERAL_SWITCHES
    not_applicable = {
        "feature_matching": "G learns by policy gradient from D's rewards, not by a gradient "
                            "through D's features",
        "minibatch_kernels": "not implemented for the sequence discriminators",
        "minibatch_dim": "not implemented for the sequence discriminators",
        "spectral_norm": "not implemented for the sequence discriminators",
        "pack": "not implemented for the sequence discriminators",
    }
    # R: the rollout network G_β; G's side has two optimisers (MLE and policy gradient)
    parts = ("G", "R", "D", "opt_mle", "opt_adv", "opt_d", "ema_g", "average_g", "average_d",
             "history")

    def __init__(self, vocab_size=500, seq_len=20, start_token=0, embed_dim=32, hidden=32,
                 d_embed_dim=32, d_hidden=32, discriminator="lstm", d_windows=None,
                 d_dropout=0.25, d_l2=0.2, pretrain_g_steps=1000, pretrain_d_steps=200,
                 g_steps=1, d_steps=3, rollouts=16, rollout_update=0.8, baseline="none",
                 lr_mle=1e-2, lr_adv=1e-2, lr_d=1e-3, clip=5.0, pg_batch=None, seed=0,
                 dtype="float32", **switches):
        if discriminator not in ("lstm", "cnn"):
            raise ValueError(f"SeqGAN: discriminator must be 'lstm' or 'cnn', "
                             f"got {discriminator!r}")
        if baseline not in ("none", "mean"):
            raise ValueError(f"SeqGAN: baseline must be 'none' or 'mean', got {baseline!r}")
        if not 0 <= rollout_update <= 1:
            raise ValueError(f"SeqGAN: rollout_update must be in [0, 1], got {rollout_update}")
        if rollouts < 1 or g_steps < 0 or d_steps < 0:
            raise ValueError("SeqGAN: rollouts must be >= 1, g_steps and d_steps >= 0")
        GANModel.__init__(self, dict(
            vocab_size=vocab_size, seq_len=seq_len, start_token=start_token,
            embed_dim=embed_dim, hidden=hidden, d_embed_dim=d_embed_dim, d_hidden=d_hidden,
            discriminator=discriminator,
            d_windows=None if d_windows is None else [list(w) for w in d_windows],
            d_dropout=d_dropout, d_l2=d_l2, pretrain_g_steps=pretrain_g_steps,
            pretrain_d_steps=pretrain_d_steps, g_steps=g_steps, d_steps=d_steps,
            rollouts=rollouts, rollout_update=rollout_update, baseline=baseline,
            lr_mle=lr_mle, lr_adv=lr_adv, lr_d=lr_d, clip=clip, pg_batch=pg_batch),
            seed=seed, dtype=dtype, switches=switches, batches_per_step=1)
        self.seq_len, self.clip = seq_len, clip
        self.pretrain_g_steps, self.pretrain_d_steps = pretrain_g_steps, pretrain_d_steps
        self.g_steps, self.d_steps, self.rollouts = g_steps, d_steps, rollouts
        self.rollout_update, self.baseline, self.pg_batch = rollout_update, baseline, pg_batch
        init = backend.default_rng(seed)
        self.G = LanguageModel(vocab_size, embed_dim, hidden, seq_len, start_token, rng=init,
                               dtype=dtype)
        self.R = LanguageModel(vocab_size, embed_dim, hidden, seq_len, start_token, rng=init,
                               dtype=dtype)                   # the rollout network G_β
        self.R.load_state_dict(self.G.state_dict())
        if discriminator == "lstm":
            self.D = SequenceDiscriminator(vocab_size, d_embed_dim, d_hidden, rng=init,
                                           dtype=dtype)
        else:
            extra = {} if d_windows is None else {"windows": d_windows}
            self.D = CNNDiscriminator(vocab_size, seq_len, d_embed_dim, dropout=d_dropout,
                                      l2=d_l2, rng=init, dtype=dtype, **extra)
        self.opt_mle = Adam(self.G, lr=lr_mle)
        self.opt_adv = Adam(self.G, lr=lr_adv)
        self.setup_training(self.opt_adv, Adam(self.D, lr=lr_d), fake=((seq_len,), np.int64))

    # --- phases --------------------------------------------------------------------------
    @property
    def phase(self) -> str:
        """'mle', 'pretrain_d' or 'adversarial': what the next train_step does."""
        if self.step < self.pretrain_g_steps:
            return "mle"
        if self.step < self.pretrain_g_steps + self.pretrain_d_steps:
            return "pretrain_d"
        return "adversarial"

    def _tokens(self, batch):
        batch = backend.asarray(batch)
        if batch.ndim != 2 or batch.shape[1] != self.seq_len or batch.dtype.kind not in "iu":
            raise ValueError(f"SeqGAN: expected an integer batch of shape (N, {self.seq_len}), "
                             f"got {tuple(batch.shape)} {batch.dtype}")
        return batch

    def _g_params(self):
        return [g for _, _, g in self.G.named_parameters()]

    # --- the three kinds of update ---------------------------------------------------------
    def mle_step(self, real) -> dict:
        """One MLE step on G: L = mean per-token NLL of ``real`` (N, T), clipped, Adam."""
        self.opt_mle.zero_grad()
        loss = self.G.loss_and_backward(self._tokens(real))
        clip_grad_norm(self._g_params(), self.clip)
        self.opt_mle.step()
        return {"nll": loss}

    def d_loss_and_backward(self, real, fake):
        """loss_D = BCE(D(real), 1) + BCE(D(fake), 0) (the real target 1 − s with label
        smoothing; plus the CNN's L2 penalty); ADDS its gradients into D.grads."""
        s_real, c_real = self.D.forward(real)
        s_fake, c_fake = self.D.forward(fake)
        loss, ds_real, ds_fake, d_real, d_fake = bce_d_loss(s_real, s_fake,
                                                            1 - self.label_smoothing)
        self.D.backward(ds_real, c_real)
        self.D.backward(ds_fake, c_fake)
        if isinstance(self.D, CNNDiscriminator):
            loss += self.D.l2_loss_and_backward()
        return loss, d_real, d_fake

    def d_step(self, real, rng) -> dict:
        """One D step: ``real`` (N, T) vs N fresh sequences from G (with the sample history
        on, some of them G's earlier ones)."""
        real = self._tokens(real)
        fake = self.G.complete(backend.xp.empty((real.shape[0], 0), dtype=np.int64), rng)
        fake, _ = self.recall(fake)
        self.zero_grads("d")
        loss, d_real, d_fake = self.d_loss_and_backward(real, fake)
        self.update("d")
        return {"loss_d": loss, "d_real": d_real, "d_fake": d_fake}

    def rewards(self, y, rng):
        """Q(Y_{1:t−1}, y_t) for every sequence and position: (B, T) float array.

        t < T: the mean of D over ``rollouts`` completions of the prefix y_{1:t} sampled by the
        rollout network R (the prefix itself is kept); t = T: D(y).
        """
        xp = get_array_module(y)
        B, T = y.shape
        N = self.rollouts
        Q = xp.empty((B, T), dtype=self.G.dtype)
        states = self.R.prefix_states(y[:, :T - 1])        # entry t: after reading y_1..y_t
        for t in range(1, T):
            _, (h, c), z = states[t]
            state = (xp.repeat(h, N, axis=1), xp.repeat(c, N, axis=1))   # row b → rows bN..
            full = self.R.complete(xp.repeat(y[:, :t], N, axis=0), rng,
                                   _state=(state, xp.repeat(z, N, axis=0)))
            Q[:, t - 1] = self.D.prob(full).reshape(B, N).mean(axis=1)
        Q[:, T - 1] = self.D.prob(y)
        return Q

    def pg_loss_and_backward(self, y, Q):
        """L_PG = −(1/BT) Σ w_bt log G(y_bt | y_<t) with w = Q (or Q − its batch mean per
        position, ``baseline="mean"``), rewards held fixed; ADDS ∂L_PG/∂θ into G.grads."""
        w = Q - Q.mean(axis=0, keepdims=True) if self.baseline == "mean" else Q
        return self.G.loss_and_backward(y, weights=w)

    def g_step(self, batch_size, rng) -> dict:
        """One policy-gradient step on G, then the rollout update β ← r β + (1 − r) θ."""
        y = self.G.complete(backend.xp.empty((batch_size, 0), dtype=np.int64), rng)
        Q = self.rewards(y, rng)
        self.zero_grads("g")
        loss = self.pg_loss_and_backward(y, Q)
        clip_grad_norm(self._g_params(), self.clip)
        self.update("g", self.opt_adv)
        self.update_rollout()
        return {"loss_g": loss, "reward": float(Q[:, -1].mean())}

    def restart_g_averages(self):
        """G's EMA and historical average (if on) restart from G's current weights."""
        for average in (self.ema_g, self.average_g):
            if average is not None:
                average.restart()

    def update_rollout(self):
        r = self.rollout_update
        for (_, beta, _), (_, theta, _) in zip(self.R.named_parameters(),
                                               self.G.named_parameters()):
            beta *= beta.dtype.type(r)
            beta += beta.dtype.type(1 - r) * theta

    # --- the training loop's step ------------------------------------------------------------
    def train_step(self, real_batches) -> dict:
        """One step of the current phase (see ``phase``). ``real_batches``: one batch (N, T),
        or a list of ``d_steps`` batches (one per D step; a single batch is reused).

        Returns the same keys in every phase (fit's history needs aligned lists):
        phase (0 mle, 1 pretrain_d, 2 adversarial), nll (the MLE loss), loss_g (the
        policy-gradient surrogate), reward (mean D(y) of G's samples before its update),
        loss_d, d_real, d_fake (mean D of the real and the fake batch); 0.0 for what the phase
        does not compute."""
        if not isinstance(real_batches, (list, tuple)):
            real_batches = [real_batches] * max(1, self.d_steps)
        rng = step_rng(self.seed, self.step)
        if isinstance(self.D, CNNDiscriminator):   # its dropout masks: this step's own stream,
            self.D.drop.rng = step_rng(self.seed, self.step, DROPOUT_STREAM)   # so resume is exact
        self.schedule_learning_rates()
        phase = self.phase
        logs = dict.fromkeys(("nll", "loss_g", "reward", "loss_d", "d_real", "d_fake"), 0.0)
        logs["phase"] = float(("mle", "pretrain_d", "adversarial").index(phase))
        if phase == "mle":
            logs.update(self.mle_step(real_batches[0]))
            self.restart_g_averages()      # until the game starts, G's EMA is G itself
            if self.step + 1 == self.pretrain_g_steps:
                self.R.load_state_dict(self.G.state_dict())     # rewards() usable from here on
        elif phase == "pretrain_d":
            logs.update(self.d_step(real_batches[0], rng))
        else:
            if self.step == self.pretrain_g_steps + self.pretrain_d_steps:
                self.R.load_state_dict(self.G.state_dict())     # G_β starts as G
                self.restart_g_averages()                       # and so do G's averages
            B = self.pg_batch or self._tokens(real_batches[0]).shape[0]
            for _ in range(self.g_steps):
                logs.update(self.g_step(B, rng))
            for k in range(self.d_steps):
                logs.update(self.d_step(real_batches[k % len(real_batches)], rng))
        self.step += 1           # (not finish_step: G's updates do not pass through D)
        return logs

    # --- use ---------------------------------------------------------------------------------
    def sample(self, n, temperature=1.0, top_k=None, seed=None):
        """n sequences from G (its EMA weights if that switch is on): NumPy int64 (n, T)."""
        with self.sampling():
            return self.G.sample(n, temperature, top_k,
                                 seed=self.seed + 1 if seed is None else seed)

    def nll(self, tokens) -> float:
        """G's mean per-token NLL of ``tokens`` (N, T) (e.g. held-out real data)."""
        return self.G.nll(self._tokens(tokens))


