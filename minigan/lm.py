"""A token-level LSTM language model, trained by maximum likelihood, with hand-derived backward.

Shape letters: N batch (sequences), T sequence length, V vocabulary, E embedding size,
H hidden size. Tokens are integer arrays (N, T). The model factorises a sequence's
probability left to right and reads a fixed START token before the first one::

    x_1 = START, x_t = y_{t−1} (t ≥ 2)                         inputs (teacher forcing)
    e_t = Emb[x_t]                      (N, T, E)             minigan.nn.Embedding
    h_t = LSTM(e_1..e_t)                (N, T, H)             minigan.nn.LSTM
    z_t = h_t W_outᵀ + b_out            (N, T, V)             minigan.nn.Linear (logits)
    log G(y_t | y_<t) = log softmax(z_t)[y_t]

The one loss this module knows is a WEIGHTED token cross-entropy, averaged over all N·T
positions::

    L(θ) = −(1/NT) Σ_n Σ_t w_nt log G(y_nt | y_n,<t)
    ∂L/∂z_nt = w_nt (softmax(z_nt) − onehot(y_nt)) / NT

With w ≡ 1 it is maximum likelihood (the mean per-token negative log-likelihood, "NLL");
with w_nt = Q_nt, the rewards of :mod:`minigan.gans.seqgan`, it is the REINFORCE surrogate
whose gradient is the policy gradient. From ∂L/∂z the backward pass is the Linear backward,
the LSTM's BPTT (:mod:`minigan.nn.recurrent`) and the Embedding's scatter-add, in that order.

Sampling (``sample``) runs the same network one step at a time, feeding each drawn token back
in; ``temperature`` divides the logits (→ 0: greedy), ``top_k`` keeps only the k largest.
``complete(prefix, rng)`` samples the rest of given prefixes (SeqGAN's rollouts), and
``prefix_states`` gives the state after every prefix of a batch, so that rollouts from all
T prefixes of a sequence need one pass over it.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .backend import get_array_module, to_numpy
from .checkpointed import Checkpointed
from .nn import LSTM, Embedding, Linear, Module, clip_grad_norm, log_softmax
from .optim import Adam


def draw_tokens(logits, rng, temperature=1.0, top_k=None):
    """One token per row of ``logits`` (N, V): an int64 array (N,) on the logits' backend.

    temperature 0 (or None), or top_k=1: the argmax (greedy). Otherwise a draw from the
    softmax of logits/temperature, restricted to the ``top_k`` largest logits when top_k is
    given (ties at the k-th value broken by index, so exactly k tokens stay possible).

    How: inverting the cumulative distribution with ONE uniform per row, token = #{j : cdf_j
    < u} for u ∈ (0, cdf_V] (never a token of probability zero). A cumulative sum over V is
    the slowest pass of sampling, so it is done in two levels: the V probabilities are cut
    into blocks of K ≈ √V; u first picks a block by the cumulative sum of the block masses,
    then a token by the cumulative sum inside that block only: O(V) additions but two short
    scans instead of one long one (2x faster for V = 500 on a CPU). In float32; the
    unnormalised p = exp(z − max z) needs no division.
    """
    xp = get_array_module(logits)
    N, V = logits.shape
    if top_k is not None:
        if not 1 <= int(top_k) <= V:
            raise ValueError(f"draw_tokens: top_k must be in [1, {V}], got {top_k}")
        top_k = int(top_k)
    if temperature is None or temperature == 0 or top_k == 1:
        return xp.argmax(logits, axis=1).astype(np.int64)
    if temperature < 0:
        raise ValueError(f"draw_tokens: temperature must be >= 0, got {temperature}")
    z = logits.astype(xp.float32) if temperature == 1 else \
        (logits.astype(xp.float64) / float(temperature)).astype(xp.float32)
    rows = xp.arange(N)
    if top_k is not None and top_k < V:
        keep = xp.argpartition(-z, top_k - 1, axis=1)[:, :top_k]        # (N, k) indices
        masked = xp.full_like(z, -xp.inf)
        masked[rows[:, None], keep] = z[rows[:, None], keep]
        z = masked
    K = int(np.ceil(np.sqrt(V)))
    nb = -(-V // K)                                      # number of blocks
    p = xp.zeros((N, nb * K), dtype=xp.float32)          # padded with zeros to nb·K
    xp.exp(z - z.max(axis=1, keepdims=True), out=p[:, :V])
    pb = p.reshape(N, nb, K)
    mass = pb.sum(axis=2)                                # (N, nb) block masses
    cb = xp.cumsum(mass, axis=1)
    u = (1.0 - rng.random((N, 1))).astype(xp.float32) * cb[:, -1:]     # u ∈ (0, total]
    b = xp.minimum((cb < u).sum(axis=1), nb - 1)         # the block: first cb_b ≥ u
    inner = xp.cumsum(pb[rows, b], axis=1)               # (N, K) cdf inside the block
    u2 = u[:, 0] - (cb[rows, b] - mass[rows, b])         # what is left of u in that block
    top = inner[:, -1]
    u2 = xp.minimum(xp.maximum(u2, top * 1e-6), top)[:, None]          # (0, block mass]
    j = xp.minimum((inner < u2).sum(axis=1), K - 1)
    return (b * K + j).astype(np.int64)


class LanguageModel(Module):
    """Embedding → LSTM → Linear: G(y_t | y_<t) over a vocabulary of V tokens.

    vocab_size V, embed_dim E, hidden H, num_layers L of the LSTM; start_token: the token
    read before the first one (a BOS token, or token 0 as in SeqGAN's oracle); seq_len T:
    the length of sampled sequences. Parameters as the layers (torch init; the Embedding
    N(0, 1)); names ``emb.weight``, ``lstm.weight_ih_l0`` ..., ``out.weight``, ``out.bias``.

    forward(tokens (N, T) int) -> (logits (N, T, V), cache); backward(dlogits, cache) adds
    every parameter's gradient (returns None: tokens have no gradient).
    """

    def __init__(self, vocab_size, embed_dim=32, hidden=32, seq_len=20, start_token=0,
                 num_layers=1, rng=None, dtype="float32"):
        super().__init__()
        if not 0 <= start_token < vocab_size:
            raise ValueError(f"LanguageModel: start_token must be in [0, {vocab_size}), "
                             f"got {start_token}")
        if seq_len < 1:
            raise ValueError(f"LanguageModel: seq_len must be >= 1, got {seq_len}")
        rng = rng if rng is not None else backend.rng()
        self.vocab_size, self.embed_dim, self.hidden = vocab_size, embed_dim, hidden
        self.seq_len, self.start_token, self.num_layers = seq_len, start_token, num_layers
        self.emb = Embedding(vocab_size, embed_dim, rng=rng, dtype=dtype)
        self.lstm = LSTM(embed_dim, hidden, num_layers=num_layers, rng=rng, dtype=dtype)
        self.out = Linear(hidden, vocab_size, rng=rng, dtype=dtype)

    def children(self):
        return [("emb", self.emb), ("lstm", self.lstm), ("out", self.out)]

    # --- teacher forcing --------------------------------------------------------------
    def _check_tokens(self, tokens):
        if not hasattr(tokens, "shape") or tokens.ndim != 2:
            raise ValueError(f"{self!r}: expected tokens of shape (N, T), got "
                             f"{getattr(tokens, 'shape', type(tokens).__name__)}")
        if tokens.dtype.kind not in "iu":
            raise ValueError(f"{self!r}: expected integer tokens, got dtype {tokens.dtype}")

    def inputs(self, tokens):
        """(START, y_1, ..., y_{T−1}): the teacher-forced inputs, (N, T) int."""
        xp = get_array_module(tokens)
        x = xp.empty_like(tokens)
        x[:, 0] = self.start_token
        x[:, 1:] = tokens[:, :-1]
        return x

    def forward(self, tokens):
        self._check_tokens(tokens)
        e, c_emb = self.emb.forward(self.inputs(tokens))
        (h, _), c_lstm = self.lstm.forward(e)
        z, c_out = self.out.forward(h)
        return z, (c_emb, c_lstm, c_out)

    def backward(self, dz, cache):
        c_emb, c_lstm, c_out = cache
        dh = self.out.backward(dz, c_out)
        de, _, _ = self.lstm.backward(dh, c_lstm)
        self.emb.backward(de, c_emb)
        return None

    def loss_and_backward(self, tokens, weights=None):
        """L = −(1/NT) Σ w_nt log G(y_nt | y_<t) (w ≡ 1 when None); ADDS ∂L/∂θ into grads.

        tokens: (N, T) int; weights: (N, T) floats or None. Returns L as a float.
        Backward: ∂L/∂z_nt = w_nt (softmax(z_nt) − onehot(y_nt)) / NT, then through the layers.
        """
        z, cache = self.forward(tokens)
        xp = get_array_module(z)
        N, T, V = z.shape
        logp = log_softmax(z)                                       # (N, T, V)
        n_idx, t_idx = xp.arange(N)[:, None], xp.arange(T)[None, :]
        logp_y = logp[n_idx, t_idx, tokens]                         # (N, T)
        dz = xp.exp(logp)
        dz[n_idx, t_idx, tokens] -= 1
        scale = z.dtype.type(1.0 / (N * T))
        if weights is None:
            loss = -float(logp_y.sum()) / (N * T)
            dz *= scale
        else:
            w = xp.asarray(weights).astype(z.dtype, copy=False)
            if w.shape != (N, T):
                raise ValueError(f"{self!r}: weights must have shape {(N, T)}, got {w.shape}")
            loss = -float((w * logp_y).sum()) / (N * T)
            dz *= (w * scale)[:, :, None]
        self.backward(dz, cache)
        return loss

    def log_prob(self, tokens):
        """log G(y_t | y_<t) of every position: (N, T) array (no gradient, no cache kept)."""
        z, _ = self.forward(tokens)
        xp = get_array_module(z)
        N, T = tokens.shape
        return log_softmax(z)[xp.arange(N)[:, None], xp.arange(T)[None, :], tokens]

    def nll(self, tokens, batch_size=1000, pad=None):
        """Mean per-token negative log-likelihood −(1/NT) Σ log G(y_nt | y_<t) (a float).

        pad: a token id whose positions are left out of the sum and the count (the grammar's
        padding after EOS: predicting it is trivial once EOS is out, and counting it would
        dilute the NLL by the sentences' length). None: every position counts."""
        tokens = backend.asarray(tokens)
        total, count = 0.0, 0
        for i in range(0, tokens.shape[0], batch_size):
            part = tokens[i:i + batch_size]
            logp = self.log_prob(part).astype(np.float64)
            if pad is None:
                total -= float(logp.sum())
                count += part.size
            else:
                keep = part != pad
                total -= float((logp * keep).sum())
                count += int(keep.sum())
        if count == 0:
            raise ValueError(f"{self!r}.nll: no position to score (every token is pad={pad})")
        return total / count

    # --- one step at a time ---------------------------------------------------------------
    def step(self, tokens_in, state):
        """Read one token per row: tokens_in (N,) int, state (h, c) each (L, N, H) or None ->
        (logits (N, V), new state)."""
        e, _ = self.emb.forward(tokens_in[:, None])                # (N, 1, E)
        (h, state), _ = self.lstm.forward(e, state)
        z, _ = self.out.forward(h[:, 0])
        return z, state

    def start_state(self, n):
        """Zero state and the START tokens for n sequences: (tokens_in (n,), None)."""
        return backend.xp.full((n,), self.start_token, dtype=np.int64), None

    def prefix_states(self, tokens):
        """Run the model over ``tokens`` (N, t) and return what sampling would continue from
        after each prefix: a list, entry s (s = 0..t) = (next input token (N,), state, logits
        (N, V) of the next token) after reading the first s tokens."""
        x, state = self.start_state(tokens.shape[0])
        xp = get_array_module(tokens)
        x = xp.asarray(x)
        out = []
        for s in range(tokens.shape[1] + 1):
            z, state = self.step(x, state)
            out.append((x, state, z))
            if s < tokens.shape[1]:
                x = tokens[:, s]
        return out

    def complete(self, prefix, rng, length=None, temperature=1.0, top_k=None, _state=None):
        """Complete each row of ``prefix`` (N, t) int by sampling up to ``length`` (default T)
        tokens in all; the prefix is kept unchanged. Returns (N, length) int (backend array)."""
        length = self.seq_len if length is None else length
        xp = get_array_module(prefix)
        N, t = prefix.shape
        out = xp.empty((N, length), dtype=np.int64)
        out[:, :t] = prefix
        if _state is None:
            _, state, z = self.prefix_states(prefix)[t]
        else:
            state, z = _state
        for s in range(t, length):
            y = draw_tokens(z, rng, temperature, top_k)
            out[:, s] = y
            if s + 1 < length:
                z, state = self.step(y, state)
        return out

    def sample(self, n, temperature=1.0, top_k=None, seed=None, rng=None):
        """n sequences of length T drawn from the model: NumPy int64 array (n, T).

        rng: a backend Generator (wins over ``seed``); seed: for a fresh one (default 0)."""
        rng = rng if rng is not None else backend.default_rng(0 if seed is None else seed)
        empty = backend.xp.empty((n, 0), dtype=np.int64)
        return to_numpy(self.complete(empty, rng, temperature=temperature, top_k=top_k))

    def __repr__(self):
        return (f"LanguageModel(V={self.vocab_size}, E={self.embed_dim}, H={self.hidden}, "
                f"T={self.seq_len}, start={self.start_token})")


class MLE(Checkpointed):
    """Maximum-likelihood training of a :class:`LanguageModel` with Adam and gradient clipping,
    in the shape :func:`minigan.train.fit` expects (``train_step(tokens) -> {"nll": ...}``,
    ``step``, ``state_dict``, ``config``, ``name``).

    train_step: one Adam step on L = mean per-token NLL of the batch (N, T), the gradient
    clipped to global norm ``clip`` first (recurrent gradients can explode).
    """

    name = "lm"
    blas_threads = 1
    batches_per_step = 1     # the batch contract (minigan.gans.base): one batch of tokens a step

    def __init__(self, vocab_size, embed_dim=32, hidden=32, seq_len=20, start_token=0,
                 lr=1e-2, clip=5.0, seed=0, dtype="float32"):
        self.config = dict(vocab_size=vocab_size, embed_dim=embed_dim, hidden=hidden,
                           seq_len=seq_len, start_token=start_token, lr=lr, clip=clip,
                           seed=seed, dtype=str(dtype))
        self.seed, self.clip = seed, clip
        self.G = LanguageModel(vocab_size, embed_dim, hidden, seq_len, start_token,
                               rng=backend.default_rng(seed), dtype=dtype)
        self.opt = Adam(self.G, lr=lr)
        self.step = 0

    def train_step(self, tokens) -> dict:
        self.opt.zero_grad()
        loss = self.G.loss_and_backward(backend.asarray(tokens))
        norm = clip_grad_norm([g for _, _, g in self.G.named_parameters()], self.clip)
        self.opt.step()
        self.step += 1
        return {"nll": loss, "grad_norm": norm}

    def sample(self, n, temperature=1.0, top_k=None, seed=None):
        return self.G.sample(n, temperature, top_k, seed=self.seed + 1 if seed is None else seed)

    # the checkpoint: step, G and the optimiser, loaded strictly and all or nothing (as a GAN's)
    parts = ("G", "opt")
