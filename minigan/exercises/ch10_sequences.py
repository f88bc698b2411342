"""Checks for the exercises of chapter 10 (GANs for sequences), in the manner of
:mod:`minigan.exercises`.

Each ``check_*`` runs the learner's function on several float64 / integer cases, compares it
with minigan's own answer, and either prints one pass line or raises
:class:`~minigan.exercises.ExerciseError` saying which output is wrong and, where the wrong
answer looks like a known mistake, a hint. ``NotImplementedError`` raised by an unfinished
exercise propagates unchanged.

=====================================  ==========  ==============================================
check                                  exercise    the learner writes
=====================================  ==========  ==============================================
check_rollout_rewards                  10.1        rollout_rewards(y, score, complete, n_rollouts)
                                                   -> Q (B, T)
check_policy_gradient                  10.2        policy_gradient(G, y, Q, baseline)
                                                   -> (loss, dlogits); G.grads += ∂loss/∂θ
check_wasserstein_1d                   10.3        wasserstein_1d(u, v) -> float
=====================================  ==========  ==============================================

Exercise 10.1's conventions (those of :meth:`minigan.gans.seqgan.SeqGAN.rewards`): y (B, T)
int tokens; ``score(seqs (M, T)) -> (M,)`` is D's probability of full sequences;
``complete(prefix (B, t), n) -> (B·n, T)`` returns n completions of every prefix row, rows
b·n .. b·n + n − 1 completing row b (``np.repeat``'s order), the prefix kept::

    Q[:, t − 1] = mean over the n completions of y[:, :t] of score,   t = 1 .. T − 1
    Q[:, T − 1] = score(y)                                             (the finished sequence)

Exercise 10.2's (those of :meth:`minigan.gans.seqgan.SeqGAN.pg_loss_and_backward`): G a
:class:`minigan.lm.LanguageModel`, y (B, T) its sampled tokens, Q (B, T) their rewards, held
fixed; w = Q (baseline "none", the paper's) or Q − Q.mean(axis=0) (baseline "mean": the batch
mean per position); every position counts, padding included::

    loss = −(1/BT) Σ_b Σ_t w_bt log G(y_bt | y_b,<t)
    ∂loss/∂z_bt = w_bt (softmax(z_bt) − onehot(y_bt)) / BT,   then G.backward (ADDS into G.grads)
"""
from __future__ import annotations

import zlib

import numpy as np

from .checker import by_hand, ExerciseError, _call, _compare, _name, _passed, _quiet, _unpack

__all__ = ["check_rollout_rewards", "check_policy_gradient", "check_wasserstein_1d"]


# --------------------------------------------------------------------------------------
# Exercise 10.1: the reward of every prefix, by Monte-Carlo rollouts
# --------------------------------------------------------------------------------------

class _Scorer:
    """A fixed "discriminator" of full sequences: σ(Σ_t W[t, y_t] + b), (M, T) -> (M,).
    Depends on every position and token, so that different sequences get different scores."""

    def __init__(self, rng, V, T):
        self.W = rng.normal(0.0, 1.0, (T, V))
        self.b = float(rng.normal())
        self.V, self.T = V, T
        self.calls = 0

    def __call__(self, seqs):
        seqs = np.asarray(seqs)
        if seqs.ndim != 2 or seqs.shape[1] != self.T:
            raise ValueError(f"score expects full sequences of shape (M, {self.T}), got shape "
                             f"{seqs.shape}. Flatten the completions to (B·n, T) first.")
        if seqs.dtype.kind not in "iu":
            raise ValueError(f"score expects integer tokens, got dtype {seqs.dtype}")
        self.calls += 1
        logit = self.W[np.arange(self.T)[None, :], seqs].sum(axis=1) + self.b
        return 1.0 / (1.0 + np.exp(-logit))


class _Completer:
    """Deterministic "rollouts": complete(prefix (B, t), n) -> (B·n, T), rows b·n .. b·n + n − 1
    completing prefix row b. The tokens drawn after a prefix depend only on that prefix's
    content and the rollout index k, so any correct way of calling it gives the same Q."""

    def __init__(self, V, T, salt):
        self.V, self.T, self.salt = V, T, salt

    def _one(self, prefix_row, k):
        key = zlib.crc32(np.asarray(prefix_row, dtype=np.int64).tobytes()
                         + bytes([len(prefix_row), k % 256, self.salt]))
        rng = np.random.default_rng(key)
        out = np.empty(self.T, dtype=np.int64)
        t = len(prefix_row)
        out[:t] = prefix_row
        out[t:] = rng.integers(0, self.V, self.T - t)
        return out

    def __call__(self, prefix, n):
        prefix = np.asarray(prefix)
        if prefix.ndim != 2 or prefix.shape[1] > self.T:
            raise ValueError(f"complete expects prefixes of shape (B, t) with t <= {self.T}, "
                             f"got shape {prefix.shape}")
        if prefix.dtype.kind not in "iu":
            raise ValueError(f"complete expects integer tokens, got dtype {prefix.dtype}")
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise ValueError(f"complete: n must be a positive integer, got {n!r}")
        return np.stack([self._one(row, k) for row in prefix for k in range(int(n))])


def _rollout_reference(y, score, complete, n, mistake=None):
    """Q (B, T), right or with one known mistake (None where that mistake cannot happen)."""
    B, T = y.shape
    Q = np.zeros((B, T))
    for t in range(1, T):
        if mistake == "prefix_short":
            full = complete(y[:, :t - 1], n)          # the prefix without the token y_t
        elif mistake == "prefix_long":
            full = complete(y[:, :t + 1], n)          # one token too many: y_{t+1} is kept
        else:
            full = complete(y[:, :t], n)
        s = score(full)
        if mistake == "axis_tile":
            q = s.reshape(n, B).mean(axis=0)          # np.tile's order assumed
        elif mistake == "batch_mean":
            q = np.full(B, s.mean())                  # one mean of all B·n scores
        elif mistake == "axis_rollouts":
            if B != n:
                return None                           # the shapes would not fit
            q = s.reshape(B, n).mean(axis=0)
        else:
            q = s.reshape(B, n).mean(axis=1)
        if mistake == "column_shift":
            Q[:, t] = q                               # Q[:, t] instead of Q[:, t − 1]
        elif mistake == "one_rollout":
            Q[:, t - 1] = s.reshape(B, n)[:, 0]
        else:
            Q[:, t - 1] = q
    if mistake == "no_last":
        pass
    elif mistake == "last_rollout":
        Q[:, T - 1] = score(complete(y[:, :T - 1], n)).reshape(B, n).mean(axis=1)
    else:
        Q[:, T - 1] = score(y)
    if mistake == "final_everywhere":
        Q[:] = score(y)[:, None]
    return Q


_ROLLOUT_HINTS = {
    "prefix_short": "off by one in the prefix: Q[:, t − 1] is the reward of the token y_t, so its "
                    "rollouts must start from the prefix y_1..y_t INCLUDING that token: "
                    "complete(y[:, :t], n), not y[:, :t − 1].",
    "prefix_long": "off by one in the prefix: Q[:, t − 1] rewards y_t, so the rollouts keep "
                   "y_1..y_t, i.e. y[:, :t] (t tokens); y[:, :t + 1] also keeps y_{t+1}.",
    "column_shift": "the reward of the prefix y[:, :t] (t tokens) belongs in column t − 1 "
                    "(0-based): it is the value of the t-th token, y_t = y[:, t − 1].",
    "no_last": "the last column is empty: at t = T the sequence is finished, nothing is left "
               "to roll out, and Q[:, T − 1] = score(y) itself.",
    "last_rollout": "at t = T the sequence is already complete: Q[:, T − 1] = score(y), D of "
                    "the sequence itself, not of rollouts from y[:, :T − 1].",
    "axis_tile": "the rows of complete(prefix, n) come in np.repeat's order: rows b·n .. "
                 "b·n + n − 1 complete sequence b. Reshape the scores to (B, n) and average "
                 "over axis 1; reshape(n, B) mixes different sequences' rollouts.",
    "axis_rollouts": "averaging over the wrong axis: the scores reshaped to (B, n) have one "
                     "ROW per sequence; average over the n rollouts, axis 1, not over the "
                     "sequences (axis 0). Here B = n, so the shapes fit either way.",
    "batch_mean": "average each sequence's own n rollouts: reshape the B·n scores to (B, n) and "
                  "take the mean over axis 1. The mean of all B·n scores gives every sequence of "
                  "the batch the same value.",
    "one_rollout": "average over all n rollouts: Q is the MEAN of D over the n completions "
                   "(a Monte-Carlo estimate), not the score of one of them.",
    "final_everywhere": "that is D(y) at every position: REINFORCE without rewards-to-go. "
                        "SeqGAN gives each prefix its own value, the mean score of n "
                        "completions of y[:, :t].",
}


@by_hand("10.1")
@_quiet
def check_rollout_rewards(rollout_rewards, seed=100):
    """Exercise 10.1: ``rollout_rewards(y, score, complete, n_rollouts) -> Q (B, T)``.

    y: (B, T) int tokens; score(seqs (M, T)) -> (M,) floats; complete(prefix (B, t), n)
    -> (B·n, T) (rows b·n .. b·n + n − 1 complete row b). Cases: batch 1, B = n (where
    averaging over the wrong axis keeps the shape), T = 2, a longer sequence with many
    rollouts.
    """
    fn = rollout_rewards
    rng = np.random.default_rng(seed)
    cases = [("batch 1", 1, 5, 6, 3), ("B = n_rollouts", 4, 6, 5, 4), ("T = 2", 3, 2, 4, 5),
             ("longer, 8 rollouts", 5, 9, 7, 8)]
    for salt, (case, B, T, V, n) in enumerate(cases):
        y = rng.integers(0, V, (B, T))
        score = _Scorer(rng, V, T)
        complete = _Completer(V, T, salt)
        expected = _rollout_reference(y, score, complete, n)
        out = _call(fn, {"y": y, "score": score, "complete": complete, "n_rollouts": n}, case,
                    readonly=("y",),
                    error_hint="score takes full sequences (M, T) and returns (M,); "
                    "complete(y[:, :t], n) returns (B·n, T), one block of n rows per "
                    "sequence: reshape the B·n scores to (B, n) and average over the "
                    "rollouts, axis 1 (the wrong axis gives n values, not B).")
        (Q,) = _unpack(fn, out, ("Q",), case)
        mistakes = [(_rollout_reference(y, score, complete, n, m), h)
                    for m, h in _ROLLOUT_HINTS.items()]
        mistakes = [(w, h) for w, h in mistakes if w is not None]
        _compare(fn, "Q", Q, expected, case, mistakes=mistakes,
                 shape_hints={(B,): "Q has one value per sequence AND position: shape (B, T).",
                              (T, B): "it looks transposed: Q has shape (B, T), one row per "
                                      "sequence.",
                              (B, T - 1): "Q needs all T columns: the last one is score(y), "
                                          "the finished sequence's own reward."})
    _passed(fn, f"Q matches on {len(cases)} cases (batch 1, B = n_rollouts, T = 2, "
            "8 rollouts).")


# --------------------------------------------------------------------------------------
# Exercise 10.2: the policy-gradient step of SeqGAN, through the generator
# --------------------------------------------------------------------------------------

_PG_HINTS = {
    "sign": "the surrogate loss is MINUS the weighted log-likelihood, loss = −(1/BT) Σ w log "
            "G(y_bt | y_<t), and dlogits = w (softmax(z) − onehot(y))/BT: G ASCENDS the "
            "expected reward J by DESCENDING this loss, which raises the probability of the "
            "tokens D liked. With the sign reversed, Adam would lower it.",
    "final_everywhere": "that weights every position by the reward of the whole sequence, "
                        "Q[:, −1] = D(y): REINFORCE without rewards-to-go. SeqGAN weights the "
                        "token y_t by its OWN reward Q[:, t], the value of its prefix (the "
                        "rollouts of exercise 10.1).",
    "sum_batch": "a mean over the batch too: loss = −(1/(B·T)) Σ_b Σ_t …; you divided by T "
                 "only, which sums over the B sequences.",
    "sum_time": "a mean over all B·T positions: loss = −(1/(B·T)) Σ_b Σ_t … (as maximum "
                "likelihood's mean per-token NLL); you divided by B only, which sums over the "
                "T positions.",
    "sum_all": "a mean over all B·T positions, not a sum: divide by B·T.",
    "no_baseline": "baseline='mean' asks for the batch mean per position: w = Q − "
                   "Q.mean(axis=0), each position's rewards minus their mean over the B "
                   "sequences. You used Q itself (the paper's baseline='none').",
    "baseline_not_asked": "baseline='none' (the paper's): the weights are the rewards "
                          "themselves, w = Q, with nothing subtracted.",
    "baseline_time": "the baseline is the mean over the BATCH at each position, "
                     "Q.mean(axis=0) (one value per t), not each sequence's mean over its own "
                     "positions (axis 1), which depends on that sequence's tokens.",
    "baseline_time_T": "the baseline is the mean over the BATCH at each position, "
                       "Q.mean(axis=0): Q.mean(axis=1) is each sequence's mean over time, and "
                       "without keepdims it broadcasts along the wrong axis (here B = T, so "
                       "the shapes fit either way).",
    "baseline_all": "the baseline is per position, Q.mean(axis=0) (one mean for each t), not "
                    "one mean over all of Q.",
    "baseline_added": "the baseline is subtracted: w = Q − Q.mean(axis=0).",
    "no_onehot": "you forgot the one-hot of the sampled token: ∂ log softmax(z)_y / ∂z = "
                 "onehot(y) − softmax(z), so dlogits = w (softmax(z) − onehot(y))/BT. The "
                 "−onehot is the part that says WHICH token G sampled.",
    "no_softmax": "log G(y) = z_y − log Σ_j exp(z_j): its gradient is onehot(y) − softmax(z). "
                  "You forgot the −softmax(z) that comes from the normaliser.",
    "argmax": "the log-probability of the SAMPLED token y[b, t], not of the most likely one "
              "(the argmax of the logits).",
    "shifted": "G.forward(y) does the teacher forcing itself: it reads START, y_1 … y_{T−1}, "
               "and its logits at position t are G(· | y_<t), the distribution y_t was drawn "
               "from. Feeding it G.inputs(y) shifts the tokens twice.",
    "mask_pad": "every position counts, padding included: G sampled the PAD tokens after EOS "
                "too (they are its actions, and D judged the whole sequence), and the loss is "
                "the mean over all B·T positions, as SeqGAN.pg_loss_and_backward's. Do not "
                "mask them out.",
    "mask_pad_count": "every position counts, padding included: G sampled the PAD tokens "
                      "after EOS too, and the loss is the mean over all B·T positions. Do not "
                      "mask them out, nor divide by the number of tokens before EOS.",
}

_PG_PROCESS_HINTS = {
    "zero_grad": "G's gradients must be ADDED to what they already hold (minigan's backward "
                 "passes add; the caller zeroes them before a step, as SeqGAN.g_step does): do "
                 "not call G.zero_grad() inside.",
    "no_backward": "G's gradients did not change: after dlogits, call G.backward(dlogits, "
                   "cache) with the cache of G.forward(y), so that the gradient reaches every "
                   "parameter.",
    "twice": "G's gradients hold the answer twice: G.backward adds, so call it once.",
    "unscaled": "G.backward got dlogits before the division by B·T: backpropagate the very "
                "dlogits you return.",
}


def _pg_parts(G, y, Q, baseline, mistake=None, pad=None):
    """(loss, dlogits (B, T, V)) of SeqGAN's policy-gradient surrogate, right or with one known
    mistake (None where that mistake cannot happen in this case)."""
    from ..nn import log_softmax
    z, _ = G.forward(G.inputs(y) if mistake == "shifted" else y)
    B, T, V = z.shape
    logp = log_softmax(z.astype(np.float64), axis=-1)
    p = np.exp(logp)
    target = z.argmax(axis=-1) if mistake == "argmax" else y
    onehot = np.eye(V)[target]
    mean_b = Q.mean(axis=0, keepdims=True)
    if mistake == "no_baseline":
        if baseline != "mean":
            return None
        w = Q
    elif mistake == "baseline_not_asked":
        if baseline != "none":
            return None
        w = Q - mean_b
    elif mistake in ("baseline_time", "baseline_time_T", "baseline_all", "baseline_added"):
        if baseline != "mean" or (mistake == "baseline_time_T" and B != T):
            return None
        w = {"baseline_time": lambda: Q - Q.mean(axis=1, keepdims=True),
             "baseline_time_T": lambda: Q - Q.mean(axis=1)[None, :],
             "baseline_all": lambda: Q - Q.mean(),
             "baseline_added": lambda: Q + mean_b}[mistake]()
    elif mistake == "final_everywhere":
        Qf = np.repeat(Q[:, -1:], T, axis=1)
        w = Qf - (Qf.mean(axis=0, keepdims=True) if baseline == "mean" else 0.0)
    else:
        w = Q - (mean_b if baseline == "mean" else 0.0)
    n = B * T
    if mistake in ("mask_pad", "mask_pad_count"):
        if pad is None or not np.any(y == pad):
            return None
        keep = (y != pad)
        w = w * keep
        if mistake == "mask_pad_count":
            n = int(keep.sum())
    n = {"sum_batch": T, "sum_time": B, "sum_all": 1}.get(mistake, n)
    logp_y = np.take_along_axis(logp, y[:, :, None], axis=2)[:, :, 0]
    loss = -float((w * logp_y).sum()) / n
    W = w[:, :, None] / n
    dz = {"no_onehot": lambda: W * p, "no_softmax": lambda: -W * onehot}.get(
        mistake, lambda: W * (p - onehot))()
    if mistake == "sign":
        loss, dz = -loss, -dz
    return loss, dz


def _pg_case(rng, B, T, V, start, baseline, grammar):
    """A SeqGAN (float64, small) whose G has random non-trivial weights and gradients already
    holding something; the learner's G, a separate LanguageModel in the same state; y, Q."""
    from ..gans.seqgan import SeqGAN
    from ..lm import LanguageModel
    E, H = 3, 4
    gan = SeqGAN(vocab_size=V, seq_len=T, start_token=start, embed_dim=E, hidden=H,
                 d_embed_dim=2, d_hidden=2, baseline=baseline, dtype="float64", seed=0)
    for _, p, g in gan.G.named_parameters():
        p[...] = rng.normal(0.0, 0.8, p.shape)
        g[...] = rng.normal(0.0, 0.1, g.shape)
    G = LanguageModel(V, E, H, T, start, rng=np.random.default_rng(0), dtype="float64")
    G.load_state_dict(gan.G.state_dict())
    for (_, _, g), (_, _, g_ref) in zip(G.named_parameters(), gan.G.named_parameters()):
        g[...] = g_ref
    if grammar:                    # sentences, EOS, then padding: as the grammar's G samples
        from ..data.sequences import VOCAB
        y = np.full((B, T), VOCAB.pad, dtype=np.int64)
        Q = np.empty((B, T))
        for b in range(B):
            L = int(rng.integers(1, T - 1))                     # symbols before EOS
            y[b, :L] = rng.integers(VOCAB.eos + 1, V, L)
            y[b, L] = VOCAB.eos
            Q[b, :L + 1] = rng.uniform(0.05, 0.95, L + 1)
            Q[b, L + 1:] = Q[b, L]                              # after EOS: D's verdict
    else:
        y = rng.integers(0, V, (B, T))
        Q = rng.uniform(0.05, 0.95, (B, T))
    return gan, G, y, Q


def _pg_reference(gan, y, Q):
    """minigan's SeqGAN.pg_loss_and_backward on ``gan``: (loss, dlogits it backpropagated, G's
    gradients afterwards, those before)."""
    before = {name: g.copy() for name, _, g in gan.G.named_parameters()}
    seen = []
    backward = gan.G.backward

    def capture(dz, cache):
        seen.append(np.array(dz, dtype=np.float64, copy=True))
        return backward(dz, cache)

    gan.G.backward = capture                      # this instance only, for one call
    try:
        loss = gan.pg_loss_and_backward(y, Q)
    finally:
        del gan.G.backward
    assert len(seen) == 1, "check_policy_gradient's own reference"
    after = {name: g.copy() for name, _, g in gan.G.named_parameters()}
    return loss, seen[0], after, before


@by_hand("10.2")
@_quiet
def check_policy_gradient(policy_gradient, seed=102):
    """Exercise 10.2: ``policy_gradient(G, y, Q, baseline) -> (loss, dlogits)``, SeqGAN's
    generator update (Yu et al. 2017, eq. 6) written out, through the generator.

    G: a :class:`minigan.lm.LanguageModel` (``G.forward(y) -> (logits (B, T, V), cache)``,
    ``G.backward(dlogits, cache)`` adds into ``G.grads``); y: (B, T) int, sequences G sampled;
    Q: (B, T) their rewards (exercise 10.1), held fixed; baseline: "none" (w = Q) or "mean"
    (w = Q − Q.mean(axis=0)). Returns loss = −(1/BT) Σ w log G(y_bt | y_<t) (a float) and
    dlogits = ∂loss/∂logits (B, T, V), and ADDS ∂loss/∂θ into G.grads by G.backward; G's
    parameters, y and Q are left as they were. Compared with minigan's
    SeqGAN.pg_loss_and_backward from the same state (G's gradients holding something already).
    Cases: batch 1, the batch-mean baseline, T = 1, B = T (where a baseline over the wrong axis
    keeps the shape), grammar sentences ending in EOS and padding.
    """
    fn = policy_gradient
    rng = np.random.default_rng(seed)
    #        case                                         B  T  V   start baseline grammar
    cases = [("batch 1, no baseline",                     1, 4, 5,  0,    "none",  False),
             ("B = T = 4, the batch-mean baseline",       4, 4, 5,  1,    "mean",  False),
             ("T = 1",                                    3, 1, 4,  0,    "none",  False),
             ("4 sequences of 5, the batch-mean baseline", 4, 5, 6, 2,    "mean",  False),
             ("grammar sentences with EOS and padding",   3, 8, 18, 1,    "none",  True),
             ("grammar sentences, the batch-mean baseline", 4, 7, 18, 1,  "mean",  True)]
    from ..data.sequences import VOCAB
    for case, B, T, V, start, baseline, grammar in cases:
        gan, G, y, Q = _pg_case(rng, B, T, V, start, baseline, grammar)
        loss_ref, dz_ref, grads_ref, before = _pg_reference(gan, y, Q)
        params_before = {name: p.copy() for name, p, _ in G.named_parameters()}
        out = _call(fn, {"G": G, "y": y, "Q": Q, "baseline": baseline}, case,
                    readonly=("y", "Q"),
                    error_hint="G.forward(y) returns logits of shape (B, T, V); the weights w "
                    "and the log-probabilities of the sampled tokens are (B, T): use "
                    "w[:, :, None] against (B, T, V), and the baseline Q.mean(axis=0) (shape "
                    "(T,), or (1, T) with keepdims) against Q (B, T).")
        loss, dz = _unpack(fn, out, ("loss", "dlogits"), case)
        for name, p, _ in G.named_parameters():
            if not np.array_equal(p, params_before[name]):
                raise ExerciseError(
                    f"{_name(fn)} changed G's parameter {name} (case '{case}'): the exercise is "
                    "the update's GRADIENT, added into G.grads by G.backward; the step itself "
                    "(Adam, clipping) is the caller's.")
        if loss.shape != ():
            raise ExerciseError(f"{_name(fn)}: the loss should be one number, got an array of "
                                f"shape {loss.shape} (case '{case}'). Average over all B·T "
                                "positions.")
        wrong = {m: _pg_parts(gan.G, y, Q, baseline, m, VOCAB.pad) for m in _PG_HINTS}
        wrong = {m: v for m, v in wrong.items() if v is not None}
        _compare(fn, "loss", loss, loss_ref, case,
                 mistakes=[(v[0], _PG_HINTS[m]) for m, v in wrong.items()])
        _compare(fn, "dlogits", dz, dz_ref, case,
                 mistakes=[(v[1], _PG_HINTS[m]) for m, v in wrong.items()],
                 shape_hints={(B * T, V): "dlogits has the logits' shape (B, T, V): one "
                                          "gradient per position and token.",
                              (B, T): "dlogits is the gradient of every LOGIT, shape (B, T, "
                                      "V), not one number per position."})
        for name, _, g in G.named_parameters():
            grad = grads_ref[name] - before[name]
            process = {"zero_grad": grad, "no_backward": before[name],
                       "twice": before[name] + 2 * grad,
                       "unscaled": before[name] + B * T * grad}
            _compare(fn, f"G's gradient of {name} (after your function)", g, grads_ref[name],
                     case, mistakes=[(v, _PG_PROCESS_HINTS[m]) for m, v in process.items()])
    _passed(fn, f"loss, dlogits and G's gradients match SeqGAN.pg_loss_and_backward on "
            f"{len(cases)} cases (batch 1, both baselines, T = 1, B = T, EOS and padding).")


# --------------------------------------------------------------------------------------
# Exercise 10.3: the 1-D Wasserstein distance between two samples
# --------------------------------------------------------------------------------------

def _w1_reference(u, v):
    """W1 = ∫ |F_u − F_v| dz between the empirical CDFs (minigan.data.sines.wasserstein_1d)."""
    from ..data.sines import wasserstein_1d
    return wasserstein_1d(u, v)


@by_hand("10.3")
@_quiet
def check_wasserstein_1d(wasserstein_1d, seed=101):
    """Exercise 10.3: ``wasserstein_1d(u, v) -> float``, W1 between the empirical
    distributions of two 1-D samples of any sizes (n,) and (m,).

    Cases: equal sizes, shuffled (never pre-sorted); equal sizes with ties; different sizes;
    one value against many; a shifted copy (W1 = the shift).
    """
    fn = wasserstein_1d
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 1, 6)
    cases = [("equal sizes", rng.normal(0, 1, 8), rng.normal(0.5, 2.0, 8)),
             ("equal sizes with ties", rng.integers(0, 4, 9).astype(float),
              rng.integers(1, 6, 9).astype(float)),
             ("different sizes (7 and 5)", rng.normal(0, 1, 7), rng.normal(1, 1, 5)),
             ("one value against 6", np.array([0.3]), rng.normal(0, 1, 6)),
             ("a shifted copy, shuffled", base, rng.permutation(base) + 0.75)]
    for case, u, v in cases:
        expected = _w1_reference(u, v)
        out = _call(fn, {"u": u, "v": v}, case, readonly=("u", "v"),
                    error_hint="the samples may have different sizes, n and m: a pairing of "
                    "sorted values only works for n = m. Use the empirical CDFs: W1 = ∫ "
                    "|F_u(z) − F_v(z)| dz, a sum over the gaps between the pooled, sorted "
                    "values.")
        (w,) = _unpack(fn, out, ("W1",), case)
        if w.shape != ():
            raise ExerciseError(f"{_name(fn)}: W1 should be one number, got an array of shape "
                                f"{w.shape} (case '{case}'). Average the distances.")
        su, sv = np.sort(u), np.sort(v)
        mistakes = [(abs(u.mean() - v.mean()), "that is |mean(u) − mean(v)|, a lower bound of "
                     "W1 (equal only when one sample is a shifted copy of the other). Pair the "
                     "values by rank: W1 = mean |sort(u) − sort(v)| for equal sizes.")]
        if len(u) == len(v):
            d = su - sv
            mistakes += [
                (np.mean(np.abs(u - v)), "sort both samples first: W1 pairs the smallest of u "
                 "with the smallest of v, and so on (the optimal transport plan in 1-D is "
                 "monotone); pairing them in the order given is just one, usually worse, plan."),
                (np.mean(d ** 2), "W1 averages |sort(u) − sort(v)|, not its square (that is "
                 "W2², the squared 2-Wasserstein distance)."),
                (np.sqrt(np.mean(d ** 2)), "that is W2, the 2-Wasserstein distance "
                 "(root mean square of the sorted differences); W1 averages their absolute "
                 "value."),
                (np.abs(np.mean(d)), "take the absolute value of each difference before "
                 "averaging: mean |sort(u) − sort(v)|, not |mean(sort(u) − sort(v))|."),
                (np.sum(np.abs(d)), "a mean, not a sum: W1 is an expectation over the "
                 "transport plan (divide by n)."),
            ]
        else:
            k = min(len(u), len(v))
            mistakes += [
                (np.mean(np.abs(su[:k] - sv[:k])), "different sizes: cutting the longer sample "
                 "to the shorter one's length drops its largest values. Use the empirical CDFs "
                 "(steps of 1/n and 1/m): W1 = ∫ |F_u(z) − F_v(z)| dz over the pooled, sorted "
                 "values."),
            ]
        mistakes = [(m, h) for m, h in mistakes if np.size(m)]
        _compare(fn, "W1", w, expected, case, mistakes=mistakes)
    _passed(fn, f"W1 matches on {len(cases)} cases (equal and different sizes, ties, a single "
            "value, a shifted copy).")
