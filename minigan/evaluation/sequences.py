"""Metrics for generated token sequences: validity, n-gram diversity, novelty, oracle NLL.

Shape letters: N sequences, T tokens. Every function takes integer arrays (N, T) (any
backend; they are copied to the host) and reads each row up to its first ``eos`` token when
one is given (what follows an end token is not part of the sentence).

- ``validity``: share of rows that the expression grammar accepts
  (:func:`minigan.data.sequences.is_valid`).
- ``distinct_n``: unique n-grams / total n-grams over all rows (Li et al. 2016): 1 when no
  n-gram repeats, near 0 for a generator that says the same thing over and over.
- ``novelty``: share of rows (as whole sentences) that do not occur in a reference set,
  usually the training data: a generator that memorised its training set scores 0.
- ``oracle_nll``: the SeqGAN paper's NLL_oracle, −(1/NT) Σ log G_oracle(y_nt | y_n,<t) of the
  rows under the oracle (:class:`minigan.data.sequences.OracleLSTM`); lower is better
  (the oracle's own samples score its entropy rate).
"""
from __future__ import annotations

import numpy as np

from ..backend import to_numpy
from ..data.sequences import VOCAB, validity

__all__ = ["sentences", "distinct_n", "novelty", "validity", "oracle_nll", "sequence_report"]


def sentences(samples, eos=None):
    """Rows of ``samples`` (N, T) as tuples of ints, each cut before its first ``eos``."""
    rows = np.asarray(to_numpy(samples)).tolist()
    if eos is None:
        return [tuple(r) for r in rows]
    return [tuple(r[:r.index(eos)]) if eos in r else tuple(r) for r in rows]


def distinct_n(samples, n=2, eos=None) -> float:
    """#unique n-grams / #n-grams over all rows (rows shorter than n contribute none)."""
    grams = [s[i:i + n] for s in sentences(samples, eos) for i in range(len(s) - n + 1)]
    return len(set(grams)) / len(grams) if grams else float("nan")


def novelty(samples, reference, eos=None) -> float:
    """Share of rows of ``samples`` whose sentence does not occur among ``reference``'s."""
    ref = set(sentences(reference, eos))
    rows = sentences(samples, eos)
    return float(np.mean([s not in ref for s in rows])) if rows else float("nan")


def oracle_nll(oracle, samples) -> float:
    """NLL_oracle of ``samples`` (N, T): ``oracle.nll(samples)``."""
    return oracle.nll(samples)


def sequence_report(samples, reference=None, vocab=VOCAB, grammar=True) -> dict:
    """validity (when ``grammar``), distinct-2, distinct-3, unique sentences and novelty
    w.r.t. ``reference`` (when given) of samples (N, T), as a dict of floats."""
    eos = vocab.eos if grammar else None
    out = {}
    if grammar:
        out["validity"] = validity(samples, vocab)
    out["distinct_2"] = distinct_n(samples, 2, eos)
    out["distinct_3"] = distinct_n(samples, 3, eos)
    rows = sentences(samples, eos)
    out["unique"] = len(set(rows)) / len(rows) if rows else float("nan")
    if reference is not None:
        out["novelty"] = novelty(samples, reference, eos)
    return out
