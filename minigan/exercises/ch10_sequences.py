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
check_wasserstein_1d                   10.2        wasserstein_1d(u, v) -> float
=====================================  ==========  ==============================================

Exercise 10.1's conventions (those of :meth:`minigan.gans.seqgan.SeqGAN.rewards`): y (B, T)
int tokens; ``score(seqs (M, T)) -> (M,)`` is D's probability of full sequences;
``complete(prefix (B, t), n) -> (B·n, T)`` returns n completions of every prefix row, rows
b·n .. b·n + n − 1 completing row b (``np.repeat``'s order), the prefix kept::

    Q[:, t − 1] = mean over the n completions of y[:, :t] of score,   t = 1 .. T − 1
    Q[:, T − 1] = score(y)                                             (the finished sequence)
"""
from __future__ import annotations

import zlib

import numpy as np

from .checker import by_hand, ExerciseError, _call, _compare, _name, _passed, _quiet, _unpack

__all__ = ["check_rollout_rewards", "check_wasserstein_1d"]


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
# Exercise 10.2: the 1-D Wasserstein distance between two samples
# --------------------------------------------------------------------------------------

def _w1_reference(u, v):
    """W1 = ∫ |F_u − F_v| dz between the empirical CDFs (minigan.data.sines.wasserstein_1d)."""
    from ..data.sines import wasserstein_1d
    return wasserstein_1d(u, v)


@by_hand("10.2")
@_quiet
def check_wasserstein_1d(wasserstein_1d, seed=101):
    """Exercise 10.2: ``wasserstein_1d(u, v) -> float``, W1 between the empirical
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
