"""Optimisers: SGD with momentum, Adam, RMSprop, with PyTorch's update rules.

An optimiser holds references to the parameter and gradient arrays of one or more
modules and updates the parameters *in place*. Its state (momentum buffers, Adam
moments, the step count) is plain arrays, so a checkpoint can save and restore it
exactly: see :meth:`Optimizer.state_dict`. Derivations and pictures: notebook 02.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .backend import get_array_module


def _collect(params):
    """Accept a Module, a list of Modules, or a list of (name, param, grad) triples."""
    from .nn.module import Module
    if isinstance(params, Module):
        params = [params]
    triples = []
    for i, item in enumerate(params):
        if isinstance(item, Module):
            prefix = f"{i}." if len(params) > 1 else ""
            triples.extend(item.named_parameters(prefix))
        elif isinstance(item, tuple) and len(item) == 3:
            triples.append(item)
        else:
            raise ValueError("optimizer: expected a Module, a list of Modules or of "
                             f"(name, param, grad) triples, got {type(item).__name__}")
    if not triples:
        raise ValueError("optimizer: got no parameters to optimise")
    names = [n for n, _, _ in triples]
    if len(set(names)) != len(names):
        raise ValueError("optimizer: parameter names are not unique")
    return triples


class Optimizer:
    def __init__(self, params, lr):
        if lr <= 0:
            raise ValueError(f"{type(self).__name__}: lr must be positive, got {lr}")
        self.lr = lr
        self.params = _collect(params)
        self.t = 0                      # number of steps taken
        self.state = {}                 # name -> dict of arrays

    def zero_grad(self):
        for _, _, g in self.params:
            g[...] = 0

    def step(self):
        self.t += 1
        for name, p, g in self.params:
            self._update(name, p, g)

    def _update(self, name, p, g):  # pragma: no cover - abstract
        raise NotImplementedError

    def _buf(self, name, key, like):
        s = self.state.setdefault(name, {})
        if key not in s:
            s[key] = get_array_module(like).zeros_like(like)
        return s[key]

    # Checkpoints: a flat dict of NumPy arrays.
    def state_dict(self) -> dict:
        out = {"t": np.asarray(self.t), "lr": np.asarray(self.lr)}
        for name, bufs in self.state.items():
            for key, v in bufs.items():
                out[f"{name}/{key}"] = backend.to_numpy(v).copy()
        return out

    def load_state_dict(self, state: dict):
        self.t = int(state["t"])
        self.lr = float(state["lr"])
        self.state = {}
        params = {n: p for n, p, _ in self.params}
        for k, v in state.items():
            if "/" not in k:
                continue
            name, key = k.rsplit("/", 1)
            if name not in params:
                raise KeyError(f"{type(self).__name__}: checkpoint state for unknown parameter {name!r}")
            # a copy (not asarray): the buffers are updated in place, and must not write
            # back into the checkpoint dict they were loaded from
            self.state.setdefault(name, {})[key] = get_array_module(params[name]).array(
                v, dtype=params[name].dtype)


class SGD(Optimizer):
    """v ← μ v + g;  θ ← θ − lr v   (torch.optim.SGD, dampening 0; plain SGD when μ = 0)."""

    def __init__(self, params, lr=0.01, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr)
        self.momentum, self.weight_decay = momentum, weight_decay

    def _update(self, name, p, g):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            v = self._buf(name, "momentum", p)
            v *= self.momentum
            v += g
            g = v
        p -= self.lr * g


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba 2015; torch.optim.Adam):

        m ← β₁ m + (1 − β₁) g,      v ← β₂ v + (1 − β₂) g²
        θ ← θ − lr · m̂ / (√v̂ + ε),  m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = tuple(betas), eps, weight_decay

    def _update(self, name, p, g):
        b1, b2 = self.betas
        xp = get_array_module(p)
        if self.weight_decay:
            g = g + self.weight_decay * p
        m, v = self._buf(name, "m", p), self._buf(name, "v", p)
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        m_hat = m / (1 - b1 ** self.t)
        v_hat = v / (1 - b2 ** self.t)
        p -= (self.lr * m_hat / (xp.sqrt(v_hat) + self.eps)).astype(p.dtype, copy=False)


class RMSprop(Optimizer):
    """v ← α v + (1 − α) g²;  θ ← θ − lr g / (√v + ε)   (torch.optim.RMSprop defaults)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8):
        super().__init__(params, lr)
        self.alpha, self.eps = alpha, eps

    def _update(self, name, p, g):
        xp = get_array_module(p)
        v = self._buf(name, "square_avg", p)
        v *= self.alpha
        v += (1 - self.alpha) * (g * g)
        p -= (self.lr * g / (xp.sqrt(v) + self.eps)).astype(p.dtype, copy=False)
