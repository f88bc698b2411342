"""Token sequences whose quality can be checked exactly: a grammar and SeqGAN's oracle.

Shape letters: N sequences, T tokens each (fixed length), V vocabulary size.

1. **Arithmetic expressions** from a small context-free grammar (a sentence is valid or not,
   decided exactly by a parser)::

       E → T | E + T | E − T          (expression: terms joined by + or −)
       T → F | T * F                  (term: factors joined by *)
       F → d | ( E )                  (factor: one digit 0-9, or a parenthesised expression)

   Vocabulary (V = 18): PAD, BOS, EOS, the digits 0-9 and ``+ - * ( )``. A sentence is an
   expression followed by EOS, padded with PAD to T tokens: ``3*(4+1)`` →
   ``3 * ( 4 + 1 ) EOS PAD PAD ...``. A generated sequence is read up to its first EOS
   (what follows is ignored); it is valid when that prefix parses as E and an EOS is there.
   :func:`sample_expression` draws valid sentences, :func:`is_valid` decides validity,
   :class:`ExpressionDataset` holds N of them as an (N, T) int array.

2. **SeqGAN's synthetic benchmark** (Yu et al., 2017, section 4): an *oracle*, an LSTM
   language model with fixed random parameters drawn from N(0, 1), is the true data
   distribution: its samples are the training set, and a generator G is judged by the
   oracle NLL of G's own samples,

       NLL_oracle = −(1/NT) Σ_n Σ_t log G_oracle(y_nt | y_n,<t),   y_n ~ G,

   which is exact because the oracle's probabilities are known (:class:`OracleLSTM`).
   The paper's oracle: V = 5000, T = 20, embedding 32, hidden 32. Ours defaults to V = 500
   (embedding and hidden 32, T = 20, as the paper): one SeqGAN generator step samples
   N_rollouts · B · T²/2 tokens, each from a softmax over V, and the whole benchmark
   (benchmarks/quality_seq.py: oracle and grammar, several seeds) should fit in about ten
   minutes on one CPU core. Measured on one core: sampling 1024 sequences of 20 tokens takes
   0.22 s at V = 500 and 0.84 s at V = 5000, and an adversarial step (B = 64, 8 rollouts)
   about 0.5 s at V = 500; at V = 5000 every step costs ~4x more. Parameters ~ N(0, 1)
   make the oracle's conditionals peaked (logits of std ≈ √H‖h‖), so its per-token entropy
   is far below log V (V = 500: 3.8 nats against log V = 6.2).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..backend import to_numpy

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
DIGITS = tuple("0123456789")
OPERATORS = ("+", "-", "*")
SYMBOLS = DIGITS + OPERATORS + ("(", ")")


class Vocab:
    """Token strings ↔ ids: ``itos`` (list), ``stoi`` (dict); special ids ``pad``, ``bos``,
    ``eos`` (0, 1, 2). ``encode("3*(4+1)")`` → ids of the symbols + EOS, padded to ``length``;
    ``decode(ids)`` → the string up to the first EOS (PAD, BOS shown as ``_``, ``^``)."""

    def __init__(self, symbols=SYMBOLS):
        self.itos = [PAD, BOS, EOS] + list(symbols)
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("Vocab: symbols must be unique")
        self.pad, self.bos, self.eos = 0, 1, 2

    def __len__(self):
        return len(self.itos)

    def encode(self, text, length=None):
        """ids of the characters of ``text`` (spaces ignored), then EOS, then PAD to length."""
        ids = []
        for ch in text.replace(" ", ""):
            if ch not in self.stoi:
                raise ValueError(f"Vocab.encode: unknown symbol {ch!r} in {text!r}")
            ids.append(self.stoi[ch])
        ids.append(self.eos)
        if length is not None:
            if len(ids) > length:
                raise ValueError(f"Vocab.encode: {text!r} needs {len(ids)} tokens with EOS, "
                                 f"more than length {length}")
            ids += [self.pad] * (length - len(ids))
        return np.asarray(ids, dtype=np.int64)

    def decode(self, ids):
        out = []
        for i in to_numpy(ids).tolist():
            if i == self.eos:
                break
            out.append({self.pad: "_", self.bos: "^"}.get(i, self.itos[i]))
        return "".join(out)


VOCAB = Vocab()


# --- the grammar: sampling ---------------------------------------------------------------
def sample_expression(rng, max_depth=3, p_more_terms=0.4, p_more_factors=0.3, p_paren=0.3,
                      max_terms=3, max_factors=2):
    """One random expression as a list of symbol strings, e.g. ['3', '*', '(', '4', '+', '1', ')'].

    rng: numpy Generator. E has 1 + Geometric(p_more_terms) terms (at most max_terms), T has
    1 + Geometric(p_more_factors) factors (at most max_factors), and F is ( E ) with
    probability p_paren while the nesting depth is below ``max_depth``, else a digit.
    """
    def expr(depth):
        out = term(depth)
        n = 1
        while n < max_terms and rng.random() < p_more_terms:
            out += [OPERATORS[int(rng.integers(2))]] + term(depth)      # + or −
            n += 1
        return out

    def term(depth):
        out = factor(depth)
        n = 1
        while n < max_factors and rng.random() < p_more_factors:
            out += ["*"] + factor(depth)
            n += 1
        return out

    def factor(depth):
        if depth < max_depth and rng.random() < p_paren:
            return ["("] + expr(depth + 1) + [")"]
        return [DIGITS[int(rng.integers(10))]]

    return expr(0)


def sample_sentences(n, seq_len=20, seed=0, max_depth=3, vocab=VOCAB, **kwargs):
    """n valid sentences as an int64 array (n, seq_len): expression ids, EOS, PAD...

    Expressions longer than seq_len − 1 symbols (no room for EOS) are drawn again, so the
    distribution is the grammar's conditioned on fitting. ``kwargs`` go to
    :func:`sample_expression`. Host-side NumPy (the data are small); seeded.
    """
    rng = np.random.default_rng(seed)
    out = np.full((n, seq_len), vocab.pad, dtype=np.int64)
    for i in range(n):
        while True:
            sym = sample_expression(rng, max_depth=max_depth, **kwargs)
            if len(sym) <= seq_len - 1:
                break
        out[i, :len(sym)] = [vocab.stoi[s] for s in sym]
        out[i, len(sym)] = vocab.eos
    return out


# --- the grammar: exact validity -------------------------------------------------------------
class _Parser:
    """Recursive descent over ids; each method returns the position after what it parsed, or
    −1 where the grammar does not match. One token of look-ahead decides every choice."""

    def __init__(self, ids, vocab):
        self.ids, self.v = ids, vocab
        self.plus, self.minus, self.times = (vocab.stoi[s] for s in OPERATORS)
        self.lp, self.rp = vocab.stoi["("], vocab.stoi[")"]
        self.digits = {vocab.stoi[d] for d in DIGITS}

    def expr(self, i):
        i = self.term(i)
        while i >= 0 and i < len(self.ids) and self.ids[i] in (self.plus, self.minus):
            i = self.term(i + 1)
        return i

    def term(self, i):
        i = self.factor(i)
        while i >= 0 and i < len(self.ids) and self.ids[i] == self.times:
            i = self.factor(i + 1)
        return i

    def factor(self, i):
        if i >= len(self.ids):
            return -1
        if self.ids[i] in self.digits:
            return i + 1
        if self.ids[i] == self.lp:
            i = self.expr(i + 1)
            if i < 0 or i >= len(self.ids) or self.ids[i] != self.rp:
                return -1
            return i + 1
        return -1


def is_valid(tokens, vocab=VOCAB) -> bool:
    """Whether one sequence is a sentence of the grammar: the tokens before the first EOS
    parse completely as an expression E, and there is an EOS. Tokens after it are ignored.

    tokens: 1-D int array / list of ids, or a string (checked as if followed by EOS).
    """
    if isinstance(tokens, str):
        try:
            ids = vocab.encode(tokens).tolist()
        except ValueError:
            return False
    else:
        ids = [int(t) for t in to_numpy(tokens).reshape(-1).tolist()]
    if vocab.eos not in ids:
        return False
    ids = ids[:ids.index(vocab.eos)]
    return _Parser(ids, vocab).expr(0) == len(ids) if ids else False


def validity(samples, vocab=VOCAB) -> float:
    """Share of the rows of ``samples`` (N, T) that are valid sentences (:func:`is_valid`)."""
    samples = to_numpy(samples)
    if len(samples) == 0:
        return float("nan")
    return float(np.mean([is_valid(row, vocab) for row in samples]))


class ExpressionDataset:
    """N valid sentences of the expression grammar.

    ``tokens``: int64 NumPy array (N, T); ``vocab``; ``len(ds)``; ``ds[i]`` a row;
    ``ds.text(i)`` the expression as a string. Feed it to training with
    ``minigan.data.DataLoader(ds.tokens, batch_size=B, seed=s).batch_at`` as fit's batch_fn.
    """

    def __init__(self, n=5000, seq_len=20, max_depth=3, seed=0, **kwargs):
        self.vocab = VOCAB
        self.seq_len, self.max_depth, self.seed = seq_len, max_depth, seed
        self.tokens = sample_sentences(n, seq_len, seed, max_depth, **kwargs)

    def __len__(self):
        return len(self.tokens)

    def __getitem__(self, i):
        return self.tokens[i]

    def text(self, i):
        return self.vocab.decode(self.tokens[i])

    @property
    def vocab_size(self):
        return len(self.vocab)

    @property
    def start_token(self):
        return self.vocab.bos

    def __repr__(self):
        return (f"ExpressionDataset(n={len(self)}, seq_len={self.seq_len}, "
                f"max_depth={self.max_depth}, seed={self.seed})")


# --- SeqGAN's oracle -----------------------------------------------------------------------
class OracleLSTM:
    """An LSTM language model with fixed random parameters ~ N(0, std²): the "true" data
    distribution of SeqGAN's synthetic experiment.

    vocab_size V (default 500, the paper 5000), seq_len T = 20, embed_dim = hidden = 32 (as
    the paper), start_token 0 (as the paper's code: token 0 is read before the first token and
    is also an ordinary token). Every parameter (embedding, LSTM weights and biases, output
    layer) is drawn from N(0, std²), std = 1 as the paper's oracle (torch-style init would
    make it nearly uniform). Float64 by default: the oracle is only sampled and scored.

    ``sample(n, rng)`` → int64 NumPy (n, T); ``nll(tokens)`` → mean per-token NLL under the
    oracle (float); ``log_prob(tokens)`` → (N, T) log-probabilities. ``model``: the underlying
    :class:`minigan.lm.LanguageModel`.
    """

    def __init__(self, vocab_size=500, seq_len=20, embed_dim=32, hidden=32, std=1.0, seed=0,
                 start_token=0, dtype="float64"):
        from ..lm import LanguageModel       # minigan.lm imports minigan.nn only
        self.config = dict(vocab_size=vocab_size, seq_len=seq_len, embed_dim=embed_dim,
                           hidden=hidden, std=std, seed=seed, start_token=start_token)
        rng = backend.default_rng(seed)
        self.model = LanguageModel(vocab_size, embed_dim, hidden, seq_len, start_token,
                                   rng=rng, dtype=dtype)
        for _, p, _ in self.model.named_parameters():
            p[...] = (std * rng.standard_normal(p.shape)).astype(p.dtype)
        self.vocab_size, self.seq_len, self.start_token = vocab_size, seq_len, start_token

    def sample(self, n, rng=None, seed=None, batch_size=5000):
        """n sequences (n, T) drawn from the oracle, NumPy int64; rng (backend Generator) or
        seed."""
        rng = rng if rng is not None else backend.default_rng(0 if seed is None else seed)
        parts = []
        for i in range(0, n, batch_size):
            parts.append(self.model.sample(min(batch_size, n - i), rng=rng))
        return np.concatenate(parts) if parts else np.empty((0, self.seq_len), np.int64)

    def log_prob(self, tokens):
        tokens = backend.asarray(np.asarray(to_numpy(tokens), dtype=np.int64))
        return self.model.log_prob(tokens)

    def nll(self, tokens, batch_size=2000) -> float:
        """NLL_oracle = −(1/NT) Σ log G_oracle(y_nt | y_n,<t): the SeqGAN paper's metric."""
        tokens = backend.asarray(np.asarray(to_numpy(tokens), dtype=np.int64))
        if tokens.ndim != 2 or tokens.shape[1] != self.seq_len:
            raise ValueError(f"OracleLSTM.nll: expected tokens of shape (N, {self.seq_len}), "
                             f"got {tuple(tokens.shape)}")
        return self.model.nll(tokens, batch_size)

    def entropy_rate(self, n=2000, seed=123) -> float:
        """Monte-Carlo estimate of the oracle's per-token entropy = NLL of its own samples
        (the best NLL_oracle a generator as diverse as the oracle can reach)."""
        return self.nll(self.sample(n, seed=seed))

    def __repr__(self):
        c = self.config
        return (f"OracleLSTM(V={c['vocab_size']}, T={c['seq_len']}, E={c['embed_dim']}, "
                f"H={c['hidden']}, std={c['std']}, seed={c['seed']})")
