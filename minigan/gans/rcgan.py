"""RGAN and RCGAN (Esteban, Hyland & Rätsch 2017): recurrent GANs for real-valued sequences.

Shape letters: N batch, T time steps, F features per step (1 for the sine waves), Z noise
features per step, C condition features (1, or 0 without a condition), H hidden size.

The two networks are recurrent, and D judges every time step::

    G:  z_t ~ N(0, I_Z) for t = 1..T  ─[z_t, c]─▶ LSTM ─▶ Linear(H, F) ─▶ tanh ─▶ x̂_t   (N, T, F)
    D:  x_t                           ─[x_t, c]─▶ LSTM ─▶ Linear(H, 1)          ─▶ s_t   (N, T, 1)

G sees fresh noise at every step (the paper's "random seed at each time step"), so its
output is one sample of a whole sequence, not a rollout of one initial code. D's logit s_t
at step t has read x_1..x_t: D classifies every prefix, and its loss is the mean binary
cross-entropy over all N·T logits (the paper's per-step cross-entropy, averaged)::

    loss_D = mean_{n,t} BCE(s_t(x_n | c_n), 1) + mean_{n,t} BCE(s_t(G(z_n | c_n) | c_n), 0)
    loss_G = mean_{n,t} BCE(s_t(G(z_n | c_n) | c_n), 1)          (non-saturating: −log D)

RCGAN, the conditional model (``conditional=True``): a scalar condition per sequence, here
the frequency f of a sine wave, normalised to c = 2 (f − lo) / (hi − lo) − 1 ∈ [−1, 1]
(``cond_range`` = (lo, hi), the data's frequency range), is concatenated to the input of
EVERY step of both G and D: G's input is [z_t, c] (N, T, Z + 1), D's is [x_t, c]
(N, T, F + 1). The fakes of a training step are asked for the frequencies of that step's
real batch, so that real and fake sequences reach D with the same conditions.

Backward passes (all by hand, through :class:`~minigan.nn.LSTM` and
:class:`~minigan.nn.Linear`): the per-step Linear is one Linear on the (N·T, H) matrix of
all hidden states, so dW = Σ_{n,t} ds_ntᵀ h_nt and dh = ds W (reshaped back to (N, T, H));
the LSTM's backward then takes those dh_t as its dy, with ZERO gradients of its final state
(h_T, c_T), which no loss reads: ``lstm.backward(dh, cache)`` (dh_n = dc_n = None). The
condition's gradient is dropped (it is data); for G's loss, D's input gradient (N, T, F + C)
is cut to its first F features and sent into G. See :class:`RecurrentNet`.

Choices, with the paper's where it says: G's output is tanh (``g_output="tanh"``; the
sines lie in [−0.9, 0.9]) or linear; both networks are one LSTM layer (the paper: 100 hidden
units; here 32 trains the sines in a few thousand steps on one CPU core,
benchmarks/quality_rcgan.py); Adam for both (the paper used Adam for G and plain gradient
descent for D), D's learning rate 4x G's by default (lr_d = 4e-3, lr_g = 1e-3, β = (0.5,
0.999)): measured on the sines, with equal rates of 1e-3 D stops learning within a few hundred
steps (every logit ≈ 0, D(x) = D(G(z)) = 0.5) while G's samples are still far from sines;
with lr_d = 4e-3 D keeps a margin and G's samples become sine-like. Measurements of the
samples: :mod:`minigan.data.sines`.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..backend import get_array_module, to_numpy
from ..nn import LSTM, Linear, Module, Tanh
from ..optim import Adam
from .base import GENERAL_SWITCHES, GANModel, bce_d_loss, bce_g_loss, step_rng

# Why a switch of the MLP GAN does not apply to the recurrent networks.
_RECURRENT = "D is recurrent"
NOT_FOR_RECURRENT = {
    "feature_matching": f"{_RECURRENT}: it has a hidden state per time step, not one last "
                        "hidden layer (not implemented)",
    "minibatch_kernels": f"{_RECURRENT} (not implemented)",
    "minibatch_dim": f"{_RECURRENT} (not implemented)",
    "spectral_norm": f"{_RECURRENT}: spectral normalisation of LSTM weights is not implemented",
    "pack": f"{_RECURRENT} (not implemented)",
}


class RecurrentNet(Module):
    """LSTM(I, H) then Linear(H, O) at every step, then optionally tanh: (N, T, I) -> (N, T, O).

    forward(x (N, T, I)) -> (y (N, T, O), cache)::

        h_1..h_T = LSTM(x_1..x_T)          (N, T, H), initial state zero
        y = h W_outᵀ + b_out               on h reshaped to (N·T, H), back to (N, T, O)
        y = tanh(y)                        (out_activation="tanh" only)

    backward(dy (N, T, O), cache) -> dx (N, T, I), ADDING into the parameters' grads::

        dy = dy ⊙ (1 − y²)                 (tanh only)
        dh = dy W_out;  dW_out += dyᵀ h;  db_out += Σ_{n,t} dy      (one Linear backward)
        dx = LSTM.backward(dh, cache)      (BPTT; the final state's gradient is zero)

    Parameters: ``lstm.*`` (see :class:`~minigan.nn.LSTM`), ``out.weight`` (O, H),
    ``out.bias`` (O,).
    """

    def __init__(self, input_size, hidden_size, output_size, num_layers=1,
                 out_activation=None, rng=None, dtype="float32"):
        super().__init__()
        if out_activation not in (None, "tanh"):
            raise ValueError(f"RecurrentNet: out_activation must be None or 'tanh', "
                             f"got {out_activation!r}")
        rng = rng if rng is not None else backend.rng()
        self.lstm = LSTM(input_size, hidden_size, num_layers=num_layers, rng=rng, dtype=dtype)
        self.out = Linear(hidden_size, output_size, rng=rng, dtype=dtype)
        self.act = Tanh() if out_activation == "tanh" else None
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size

    def children(self):
        return [("lstm", self.lstm), ("out", self.out)]

    def forward(self, x):
        (h, _), cache_lstm = self.lstm.forward(x)              # h: (N, T, H)
        N, T, H = h.shape
        y, cache_out = self.out.forward(h.reshape(N * T, H))   # (N·T, O)
        y = y.reshape(N, T, self.output_size)
        cache_act = None
        if self.act is not None:
            y, cache_act = self.act.forward(y)
        return y, (cache_lstm, cache_out, cache_act, (N, T, H))

    def backward(self, dy, cache):
        cache_lstm, cache_out, cache_act, (N, T, H) = cache
        if tuple(dy.shape) != (N, T, self.output_size):
            raise ValueError(f"{self!r}: expected dy of shape {(N, T, self.output_size)}, "
                             f"got {tuple(dy.shape)}")
        if self.act is not None:
            dy = self.act.backward(dy, cache_act)
        dh = self.out.backward(dy.reshape(N * T, self.output_size), cache_out)
        dx, _, _ = self.lstm.backward(dh.reshape(N, T, H), cache_lstm)   # dh_n = dc_n = 0
        return dx

    def __repr__(self):
        act = ", tanh" if self.act is not None else ""
        return (f"RecurrentNet(LSTM({self.input_size}, {self.hidden_size}, "
                f"num_layers={self.lstm.num_layers}) -> Linear({self.hidden_size}, "
                f"{self.output_size}){act})")


class RCGAN(GANModel):
    """Recurrent (conditional) GAN for real-valued sequences (module docstring).

    seq_len T and n_features F: the shape (T, F) of one sequence. latent_dim Z: noise
    features per step. hidden (and d_hidden for D, default the same), num_layers: the LSTMs.
    conditional: RCGAN (a scalar condition per sequence, e.g. the frequency, in the
    range ``cond_range``) or RGAN (False). g_output: "tanh" or "linear". d_steps: D updates
    per G update (the same real batch each time, fresh noise). Adam (lr_g, lr_d, betas);
    D's rate is 4x G's by default (module docstring). loss: "nonsaturating" only.
    dtype: of the parameters ("float64" for gradient checks).

    The batch contract: one batch per step (its d_steps D updates reuse it, with fresh
    noise), (N, T, F) arrays for RGAN; (sequences (N, T, F), conditions (N,)) pairs for
    RCGAN, the conditions in natural units (a frequency in cycles per sequence), as
    ``SineDataset.loader(..., with_freq=conditional)`` yields them.

    Toolbox switches: label_smoothing and the general ones (lr_half_life,
    historical_averaging, sample_history (sequences kept with their conditions), ema).
    """

    name = "rcgan"
    toolbox = ("label_smoothing",) + GENERAL_SWITCHES
    not_applicable = NOT_FOR_RECURRENT

    def __init__(self, seq_len=30, n_features=1, latent_dim=5, hidden=32, d_hidden=None,
                 num_layers=1, conditional=False, cond_range=(1.0, 5.0), g_output="tanh",
                 loss="nonsaturating", d_steps=1, lr_g=1e-3, lr_d=4e-3, betas=(0.5, 0.999),
                 seed=0, dtype="float32", **switches):
        for what, v in (("seq_len", seq_len), ("n_features", n_features),
                        ("latent_dim", latent_dim), ("hidden", hidden),
                        ("num_layers", num_layers), ("d_steps", d_steps)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"RCGAN: {what} must be a positive integer, got {v!r}")
        d_hidden = hidden if d_hidden is None else d_hidden
        if (isinstance(d_hidden, bool) or not isinstance(d_hidden, (int, np.integer))
                or d_hidden < 1):
            raise ValueError(f"RCGAN: d_hidden must be a positive integer, got {d_hidden!r}")
        if g_output not in ("tanh", "linear"):
            raise ValueError(f"RCGAN: g_output must be 'tanh' or 'linear', got {g_output!r}")
        if loss != "nonsaturating":
            raise ValueError(f"RCGAN: only loss='nonsaturating' is implemented, got {loss!r}")
        lo, hi = (float(v) for v in cond_range)
        if not hi > lo:
            raise ValueError(f"RCGAN: cond_range must be (low, high) with low < high, "
                             f"got {cond_range!r}")
        GANModel.__init__(self, dict(seq_len=int(seq_len), n_features=int(n_features),
                                     latent_dim=int(latent_dim), hidden=int(hidden),
                                     d_hidden=int(d_hidden), num_layers=int(num_layers),
                                     conditional=bool(conditional), cond_range=[lo, hi],
                                     g_output=g_output, loss=loss, d_steps=int(d_steps),
                                     lr_g=lr_g, lr_d=lr_d, betas=list(betas)),
                          seed=seed, dtype=dtype, switches=switches, batches_per_step=1,
                          conditional=conditional)
        self.seq_len, self.n_features = int(seq_len), int(n_features)
        self.latent_dim = int(latent_dim)
        self.cond_range = (lo, hi)
        self.cond_dim = 1 if self.conditional else 0
        self.d_steps, self.loss = int(d_steps), loss
        init = backend.default_rng(seed)
        self.G = RecurrentNet(self.latent_dim + self.cond_dim, int(hidden), self.n_features,
                              int(num_layers), "tanh" if g_output == "tanh" else None,
                              rng=init, dtype=dtype)
        self.D = RecurrentNet(self.n_features + self.cond_dim, int(d_hidden), 1,
                              int(num_layers), None, rng=init, dtype=dtype)
        self.setup_training(Adam(self.G, lr=lr_g, betas=betas), Adam(self.D, lr=lr_d, betas=betas),
                            fake=((self.seq_len, self.n_features), self.D.dtype),
                            cond=((), self.G.dtype) if self.conditional else None)

    # --- inputs ---------------------------------------------------------------------------
    def noise(self, n, rng):
        """z_t ~ N(0, I_Z) for every step: (n, T, Z), in the networks' dtype."""
        return rng.standard_normal((n, self.seq_len, self.latent_dim)).astype(self.G.dtype)

    def normalise_cond(self, freq):
        """Conditions in natural units (N,) -> c = 2 (f − lo) / (hi − lo) − 1, (N,) in G's
        dtype on the backend in use; None for RGAN."""
        if not self.conditional:
            return None
        lo, hi = self.cond_range
        f = backend.asarray(to_numpy(freq)).astype(self.G.dtype)
        return (2 * (f - lo) / (hi - lo) - 1).astype(self.G.dtype)

    def _with_cond(self, u, c):
        """[u_t, c] at every step: (N, T, K) -> (N, T, K + C)."""
        if c is None:
            return u
        xp = get_array_module(u)
        cc = xp.broadcast_to(c.reshape(-1, 1, 1), (u.shape[0], u.shape[1], 1)).astype(u.dtype)
        return xp.concatenate([u, cc], axis=2)

    def prepare_batch(self, batch):
        """A real batch, checked: (x (N, T, F) in D's dtype, c (N,) normalised or None)."""
        what = "a pair (sequences (N, T, F), frequencies (N,))" if self.conditional \
            else "an array of sequences (N, T, F)"
        shape = f"(N, {self.seq_len}, {self.n_features})"
        if self.conditional:
            if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                raise ValueError(f"RCGAN: the conditional model expects {what}, got "
                                 f"{type(batch).__name__}; build the loader with "
                                 "with_freq=True")
            x, freq = batch
        else:
            if isinstance(batch, (tuple, list)):
                raise ValueError(f"RCGAN: the unconditional model expects {what}, got a "
                                 f"{type(batch).__name__} of {len(batch)}; build the loader "
                                 "without conditions (with_freq=False) or set conditional=True")
            x, freq = batch, None
        if not hasattr(x, "shape") or not hasattr(x, "dtype"):
            raise ValueError(f"RCGAN: expected sequences of shape {shape}, got {type(x).__name__}")
        if x.ndim != 3 or tuple(x.shape[1:]) != (self.seq_len, self.n_features) or x.shape[0] < 1:
            hint = " (add the feature axis: x[..., None])" if x.ndim == 2 else ""
            raise ValueError(f"RCGAN: expected sequences of shape {shape}, got "
                             f"{tuple(x.shape)}{hint}")
        if x.dtype.kind != "f":
            raise ValueError(f"RCGAN: expected floating-point sequences, got dtype {x.dtype}")
        x = backend.asarray(x).astype(self.D.dtype, copy=False)     # on the backend in use
        if freq is None:
            return x, None
        return x, self.normalise_cond(self._check_freq(freq, x.shape[0]))

    def _check_freq(self, freq, n):
        if not hasattr(freq, "shape"):
            freq = np.asarray(freq)
        if tuple(freq.shape) != (n,) or freq.dtype.kind not in "fiu":
            raise ValueError(f"RCGAN: expected one real condition per sequence, shape ({n},), "
                             f"got shape {tuple(freq.shape)} and dtype {freq.dtype}")
        if not np.all(np.isfinite(to_numpy(freq))):
            raise ValueError("RCGAN: the conditions contain NaN or infinite values")
        return freq

    # --- the networks, conditioned ---------------------------------------------------------
    def generate(self, z, c):
        """G(z | c): (N, T, F) and the cache for :meth:`generate_backward`."""
        return self.G.forward(self._with_cond(z, c))

    def generate_backward(self, dx, cache):
        """ADDS into G.grads; returns dL/dz (N, T, Z)."""
        return self.G.backward(dx, cache)[:, :, :self.latent_dim]

    def discriminate(self, x, c):
        """D's logits s_t(x | c), one per step: (N, T, 1), and the cache."""
        return self.D.forward(self._with_cond(x, c))

    def discriminate_backward(self, ds, cache):
        """ADDS into D.grads; returns dL/dx (N, T, F) (the condition's share is dropped)."""
        return self.D.backward(ds, cache)[:, :, :self.n_features]

    # --- the losses ------------------------------------------------------------------------
    def d_loss_and_backward(self, real, c, z):
        """D's loss on a real batch (x, c) and a noise batch (z, same c); ADDS into D.grads.

        loss_D = mean_{n,t} BCE(s_t(x | c), 1) + mean_{n,t} BCE(s_t(G(z | c) | c), 0)
        (the real target 1 − s with label smoothing; with the sample history on, some fakes
        are G's earlier sequences, each with its own condition).
        Returns (loss_D, mean D(x), mean D(G(z))) over all steps.
        """
        fake, _ = self.generate(z, c)                  # G is not updated here: no cache kept
        fake, c_fake = self.recall(fake, c)
        s_real, cache_real = self.discriminate(real, c)
        s_fake, cache_fake = self.discriminate(fake, c_fake)
        loss, ds_real, ds_fake, d_real, d_fake = bce_d_loss(s_real, s_fake,
                                                            1 - self.label_smoothing)
        self.D.backward(ds_real, cache_real)           # the two passes add up in D.grads
        self.D.backward(ds_fake, cache_fake)
        return loss, d_real, d_fake

    def g_loss_and_backward(self, z, c):
        """G's loss, loss_G = mean_{n,t} BCE(s_t(G(z | c) | c), 1); ADDS into G.grads (and, as a
        side effect of backpropagating through D, into D.grads, which the caller discards)."""
        fake, cache_g = self.generate(z, c)
        s_fake, cache_d = self.discriminate(fake, c)
        loss, ds = bce_g_loss(s_fake)
        self.generate_backward(self.discriminate_backward(ds, cache_d), cache_g)
        return loss

    # --- training --------------------------------------------------------------------------
    def train_step(self, batch) -> dict:
        """d_steps updates of D on ``batch`` (fresh noise each), then one of G. ``batch``:
        sequences (N, T, F), or (sequences, conditions (N,)) for the conditional model."""
        real, c = self.prepare_batch(batch)
        rng = step_rng(self.seed, self.step)
        self.schedule_learning_rates()
        n = real.shape[0]
        for _ in range(self.d_steps):
            self.zero_grads("d")
            loss_d, d_real, d_fake = self.d_loss_and_backward(real, c, self.noise(n, rng))
            self.update("d")
        self.zero_grads("g")
        loss_g = self.g_loss_and_backward(self.noise(n, rng), c)
        self.update("g")
        self.finish_step()
        return {"loss_d": loss_d, "loss_g": loss_g, "d_real": d_real, "d_fake": d_fake}

    # --- use -------------------------------------------------------------------------------
    def sample(self, n, seed=None, cond=None, return_cond=False):
        """n sequences from G as a NumPy array (n, T, F).

        cond (conditional model only): (n,) the conditions asked for, in natural units (a
        frequency in cycles per sequence); default: drawn uniformly from ``cond_range`` with
        the same seed. ``return_cond``: also return them (float64 (n,); None for RGAN).
        """
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise ValueError(f"RCGAN.sample: n must be a positive integer, got {n!r}")
        n = int(n)
        seed = seed if seed is not None else self.seed + 1
        if not self.conditional and cond is not None:
            raise ValueError("RCGAN.sample: this model is unconditional (conditional=False); "
                             "it takes no cond")
        if self.conditional:
            if cond is None:
                cond = np.random.default_rng([seed, 1]).uniform(*self.cond_range, n)
            cond = np.asarray(to_numpy(self._check_freq(cond, n)), dtype=np.float64)
        rng = backend.default_rng(seed)
        with self.sampling():
            x, _ = self.generate(self.noise(n, rng), self.normalise_cond(cond))
        x = to_numpy(x)
        return (x, cond) if return_cond else x

