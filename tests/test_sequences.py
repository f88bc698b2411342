"""Sequence data (minigan.data.sequences) and sequence metrics (minigan.evaluation.sequences).

The grammar: every sampled sentence parses, and the parser rejects specific broken ones.
The oracle: its NLL is checked against an independent NumPy re-implementation of the LSTM
equations and, for V = 3, T = 2, against brute-force enumeration of all V^T sequences
(whose probabilities must sum to 1).
"""
import itertools

import numpy as np
import pytest

from minigan import backend
from minigan.data.sequences import (VOCAB, ExpressionDataset, OracleLSTM, is_valid,
                                    sample_expression, sample_sentences, validity)
from minigan.evaluation.sequences import distinct_n, novelty, sentences, sequence_report


# --- the grammar ---------------------------------------------------------------------------
def test_vocab_round_trip():
    ids = VOCAB.encode("3*(4+1)", length=12)
    assert ids.shape == (12,) and ids[7] == VOCAB.eos and (ids[8:] == VOCAB.pad).all()
    assert VOCAB.decode(ids) == "3*(4+1)"
    assert len(VOCAB) == 18 and VOCAB.itos[VOCAB.bos] == "<bos>"
    with pytest.raises(ValueError, match="unknown symbol"):
        VOCAB.encode("3/4")
    with pytest.raises(ValueError, match="more than length"):
        VOCAB.encode("1+2+3", length=4)


def test_sampler_only_produces_valid_sentences():
    toks = sample_sentences(2000, seq_len=16, seed=3, max_depth=4)
    assert toks.shape == (2000, 16) and toks.dtype == np.int64
    assert validity(toks) == 1.0
    # exactly one EOS per row, PAD after it, no PAD/BOS before it
    for row in toks[:200]:
        k = list(row).index(VOCAB.eos)
        assert (row[k + 1:] == VOCAB.pad).all()
        assert not np.isin(row[:k], [VOCAB.pad, VOCAB.bos, VOCAB.eos]).any()
    rng = np.random.default_rng(0)
    for _ in range(300):
        assert is_valid("".join(sample_expression(rng, max_depth=3)))


def test_sampler_is_seeded_and_respects_depth():
    a, b = sample_sentences(50, seed=7), sample_sentences(50, seed=7)
    assert (a == b).all() and not (a == sample_sentences(50, seed=8)).all()
    flat = sample_sentences(300, seed=1, max_depth=0)            # no parentheses at depth 0
    assert not np.isin(flat, [VOCAB.stoi["("], VOCAB.stoi[")"]]).any()
    deep = sample_sentences(300, seed=1, max_depth=2, p_paren=0.9)

    def depth(row):
        d = best = 0
        for i in row:
            d += int(i == VOCAB.stoi["("]) - int(i == VOCAB.stoi[")"])
            best = max(best, d)
        return best
    assert max(depth(r) for r in deep) == 2


@pytest.mark.parametrize("text", ["1", "(1)", "1+2", "1*(2-3)", "((4))", "1-2*3+4",
                                  "(1+2)*(3-4)"])
def test_is_valid_accepts(text):
    assert is_valid(text)


@pytest.mark.parametrize("text", ["", "1+", "+1", "(1+2", "1+2)", ")(", "()", "12", "1**2",
                                  "1(2)", "(1)2", "1+-2", "*", "(", "1 2"])
def test_is_valid_rejects(text):
    assert not is_valid(text)


def test_is_valid_on_ids_needs_eos_and_ignores_what_follows():
    ids = VOCAB.encode("1+2", length=8)
    assert is_valid(ids)
    no_eos = ids.copy()
    no_eos[3:] = VOCAB.stoi["3"]
    assert not is_valid(no_eos[:3])                  # "1+2" without its end token
    junk_after = ids.copy()
    junk_after[4:] = VOCAB.stoi["+"]                 # anything after the EOS is ignored
    assert is_valid(junk_after)
    pad_inside = VOCAB.encode("1+2", length=8)
    pad_inside[1] = VOCAB.pad
    assert not is_valid(pad_inside)
    assert validity(np.stack([ids, no_eos, pad_inside, junk_after])) == 0.5


def test_expression_dataset():
    ds = ExpressionDataset(100, seq_len=12, seed=2)
    assert ds.tokens.shape == (100, 12) and len(ds) == 100 and ds.vocab_size == 18
    assert is_valid(ds.text(0)) and ds.start_token == VOCAB.bos
    assert (ds[3] == ds.tokens[3]).all()


# --- metrics -------------------------------------------------------------------------------
def test_distinct_n_and_novelty_by_hand():
    a = np.array([[1, 2, 3, 2, 3],
                  [1, 2, 3, 9, 9]])
    # bigrams: (1,2)(2,3)(3,2)(2,3) (1,2)(2,3)(3,9)(9,9): 8 in all, 5 distinct
    assert distinct_n(a, 2) == pytest.approx(5 / 8)
    # cut at eos=9: row 2 is (1, 2, 3): bigrams (1,2)(2,3): 6 in all, 3 distinct
    assert distinct_n(a, 2, eos=9) == pytest.approx(3 / 6)
    assert sentences(a, eos=9)[1] == (1, 2, 3)
    assert distinct_n(np.arange(12).reshape(3, 4), 3) == 1.0
    ref = np.array([[1, 2, 3, 9, 0]])
    assert novelty(a, ref, eos=9) == 0.5             # row 2 equals the reference up to EOS
    rep = sequence_report(np.stack([VOCAB.encode("1+2", 6), VOCAB.encode("1+2", 6),
                                    VOCAB.encode("1+", 6)]), reference=VOCAB.encode("1+2", 6)[None])
    assert rep["validity"] == pytest.approx(2 / 3) and rep["unique"] == pytest.approx(2 / 3)
    assert rep["novelty"] == pytest.approx(1 / 3)


# --- the oracle ----------------------------------------------------------------------------
def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def reference_log_probs(oracle, seq):
    """log p(y_t | y_<t) of one sequence from the LSTM equations written out in NumPy,
    independently of minigan.nn: full next-token distributions, (T, V)."""
    p = {k: backend.to_numpy(v) for k, v in oracle.model.state_dict().items()}
    H = p["lstm.weight_hh_l0"].shape[1]
    h, c = np.zeros(H), np.zeros(H)
    x, out = oracle.start_token, []
    for y in seq:
        a = (p["lstm.weight_ih_l0"] @ p["emb.weight"][x] + p["lstm.bias_ih_l0"]
             + p["lstm.weight_hh_l0"] @ h + p["lstm.bias_hh_l0"])
        i, f, g, o = np.split(a, 4)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        z = p["out.weight"] @ h + p["out.bias"]
        out.append(z - z.max() - np.log(np.exp(z - z.max()).sum()))
        x = y
    return np.array(out)


def test_oracle_nll_brute_force_v3_t2():
    oracle = OracleLSTM(vocab_size=3, seq_len=2, embed_dim=4, hidden=5, seed=11)
    seqs = np.array(list(itertools.product(range(3), repeat=2)))          # all 9 sequences
    logp = backend.to_numpy(oracle.log_prob(seqs))                        # (9, 2)
    probs = np.exp(logp.sum(axis=1))
    assert probs.sum() == pytest.approx(1.0, abs=1e-12)
    for s, lp in zip(seqs, logp):
        ref = reference_log_probs(oracle, s)
        assert np.allclose(lp, ref[np.arange(2), s], atol=1e-12)
    pick = seqs[[0, 4, 4, 7]]
    expected = -np.mean([reference_log_probs(oracle, s)[np.arange(2), s] for s in pick])
    assert oracle.nll(pick) == pytest.approx(expected, abs=1e-12)


def test_oracle_samples_follow_its_probabilities():
    oracle = OracleLSTM(vocab_size=3, seq_len=2, embed_dim=4, hidden=5, seed=11)
    seqs = np.array(list(itertools.product(range(3), repeat=2)))
    probs = np.exp(backend.to_numpy(oracle.log_prob(seqs)).sum(axis=1))
    draws = oracle.sample(20000, seed=5)
    freq = np.bincount(draws[:, 0] * 3 + draws[:, 1], minlength=9) / 20000
    assert np.abs(freq - probs).max() < 0.015          # ~4 standard errors at most


def test_oracle_is_peaked_and_seeded():
    oracle = OracleLSTM(vocab_size=50, seq_len=8, seed=0)
    assert oracle.config["std"] == 1.0
    own = oracle.sample(400, seed=1)
    assert (own == OracleLSTM(vocab_size=50, seq_len=8, seed=0).sample(400, seed=1)).all()
    uniform = np.random.default_rng(0).integers(0, 50, (400, 8))
    # std-1 parameters: the oracle's own samples are far more likely than uniform noise,
    # and its entropy rate is well below log V
    assert oracle.nll(own) < np.log(50) - 0.5 < oracle.nll(uniform)
    with pytest.raises(ValueError, match="expected tokens of shape"):
        oracle.nll(own[:, :5])
