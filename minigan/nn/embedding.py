"""Embedding: a lookup table of learned vectors, as torch.nn.Embedding.

Shape letters: V number of embeddings (vocabulary), D embedding dimension; indices of any
shape (...). The derivation is in chapter 6 (notebooks/06_conditional_gan.ipynb,
the label embedding): y[...] = W[idx[...]] is a linear map of W (a product with one-hot rows), so

    dW[v] += Σ_{positions p with idx[p] = v} dy[p]

a scatter-ADD: an index that occurs twice receives both gradients (``W[idx] += dy`` would keep
only one of them; ``np.add.at`` and ``cupyx.scatter_add`` add every one). Indices have no
gradient: ``backward`` returns None.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..backend import get_array_module
from .module import Module, charge_allocation, positive_int


def _scatter_add(target, idx, values):
    """target[idx[p]] += values[p] for every p, repeated indices included (in place).

    ``xp.add.at`` on every backend: NumPy's, and CuPy's since CuPy 12 (minigan needs 13), the
    same scatter-add as ``cupyx.scatter_add``, which it replaces."""
    get_array_module(target).add.at(target, idx, values)


class Embedding(Module):
    """y = W[idx].

    idx: integer array of any shape (...), entries in [0, V); W: (V, D); y: (..., D).
    Backward (chapter 9): dW[v] += Σ_{p: idx[p] = v} dy[p] (scatter-add); returns None.
    padding_idx (as torch): that row starts at zero and receives no gradient (negative
    values count from the end). Initialisation as torch.nn.Embedding: W ~ N(0, 1).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, rng=None,
                 dtype="float32"):
        super().__init__()
        num_embeddings = positive_int(num_embeddings, "num_embeddings", "Embedding")
        embedding_dim = positive_int(embedding_dim, "embedding_dim", "Embedding")
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
                raise ValueError(f"Embedding: padding_idx must be an int or None, got "
                                 f"{padding_idx!r}")
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be in [{-num_embeddings}, "
                                 f"{num_embeddings}), got {padding_idx}")
            padding_idx = int(padding_idx) % num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = (num_embeddings,
                                                                     embedding_dim, padding_idx)
        charge_allocation(f"Embedding({num_embeddings}, {embedding_dim})",
                          (num_embeddings, embedding_dim), dtype,
                          [(num_embeddings, embedding_dim)])
        rng = rng if rng is not None else backend.rng()
        W = rng.standard_normal((num_embeddings, embedding_dim)).astype(dtype)
        if padding_idx is not None:
            W[padding_idx] = 0
        self.params["weight"] = W
        self.grads["weight"] = get_array_module(W).zeros_like(W)

    def forward(self, idx):
        if not hasattr(idx, "dtype") or not hasattr(idx, "shape"):
            raise ValueError(f"{self!r}: expected an integer array of indices, "
                             f"got {type(idx).__name__}")
        if idx.dtype.kind not in "iu":
            raise ValueError(f"{self!r}: expected integer indices, got dtype {idx.dtype} "
                             "(convert with idx.astype(int) if the values are whole numbers)")
        if idx.size:
            lo, hi = int(idx.min()), int(idx.max())
            if lo < 0 or hi >= self.num_embeddings:
                raise ValueError(f"{self!r}: indices must be in [0, {self.num_embeddings}), "
                                 f"got values from {lo} to {hi}")
        return self.params["weight"][idx], idx

    def backward(self, dy, cache):
        idx = cache
        shape = tuple(idx.shape) + (self.embedding_dim,)
        if not hasattr(dy, "shape") or tuple(dy.shape) != shape:
            raise ValueError(f"{self!r}: expected dy of shape {shape}, "
                             f"got {tuple(getattr(dy, 'shape', ()))}")
        idx = idx.reshape(-1)
        dy = dy.reshape(-1, self.embedding_dim)
        if self.padding_idx is not None:          # the padding row gets no gradient
            keep = idx != self.padding_idx
            idx, dy = idx[keep], dy[keep]
        _scatter_add(self.grads["weight"], idx, dy.astype(self.grads["weight"].dtype, copy=False))
        return None

    def _shape_hint(self):
        return "(...) integer indices"

    def __repr__(self):
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}{pad})"
