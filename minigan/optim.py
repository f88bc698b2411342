"""Optimisers: SGD with momentum, Adam, RMSprop, with PyTorch's update rules.

An optimiser holds references to the parameter and gradient arrays of one or more
modules and updates the parameters *in place*. Its state (momentum buffers, Adam
moments, the step count) is plain arrays, so a checkpoint can save and restore it
exactly: see :meth:`Optimizer.state_dict`. Derivations and pictures: notebook 02.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

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

    # The names of the per-parameter buffers this optimiser keeps (None: any, not checked).
    _buffer_names = None

    def buffer_names(self):
        """The buffers kept per parameter (e.g. ("m", "v") for Adam), or None if not known."""
        return self._buffer_names

    def load_state_dict(self, state: dict, strict: bool = True):
        """Restore ``t``, ``lr`` and the buffers from :meth:`state_dict`, all or nothing.

        Checked before anything changes: ``t`` a whole number >= 0, ``lr`` a finite number > 0,
        every buffer named "<parameter>/<buffer>" for a parameter this optimiser updates and a
        buffer it keeps, with that parameter's shape, real and finite (cast to the
        parameter's dtype); a failure is a :class:`~minigan.nn.module.StateDictError`
        naming the entry, and leaves the optimiser as it was. Strict by default, as torch:
        unknown entries are an error, and so is a state with ``t > 0`` that lacks a buffer
        (every step creates all of them); ``strict=False`` skips unknown entries and
        tolerates missing buffers (they start at zero)."""
        self.prepare_load_state_dict(state, strict=strict)()

    def prepare_load_state_dict(self, state: dict, prefix="", strict: bool = True):
        """Check ``state`` (its entries under ``prefix``) as :meth:`load_state_dict` does,
        change nothing, and return a function of no arguments that loads it."""
        from .nn.module import StateDictError, check_state_keys, checked_state_array
        where = type(self).__name__
        if not isinstance(state, Mapping):
            raise StateDictError(f"{where}: expected the state as a dict of arrays, got "
                                 f"{type(state).__name__}")
        # the entries under prefix are this optimiser's (a model's state holds other parts too)
        mine = {k[len(prefix):]: v for k, v in state.items()
                if isinstance(k, str) and k.startswith(prefix)}
        if strict and not prefix and len(mine) != len(state):
            raise StateDictError(f"{where}: the state does not fit: unexpected entries "
                                 f"{', '.join(repr(k) for k in state if not isinstance(k, str))}")
        missing = [k for k in ("t", "lr") if k not in mine]
        if missing:
            raise StateDictError(f"{where}: the state has no {' and '.join(repr(prefix + k) for k in missing)}")
        t = _scalar(where, prefix + "t", mine["t"])
        if t != int(t) or t < 0:
            raise StateDictError(f"{where}: entry {prefix + 't'!r} (the step count) must be a "
                                 f"whole number >= 0, got {t}")
        lr = _scalar(where, prefix + "lr", mine["lr"])
        if not lr > 0:
            raise StateDictError(f"{where}: entry {prefix + 'lr'!r} (the learning rate) must "
                                 f"be positive, got {lr}")
        params = {n: p for n, p, _ in self.params}
        allowed = self.buffer_names()
        loaded, strangers, unexpected = {}, [], []
        for k, v in mine.items():
            if k in ("t", "lr"):
                continue
            name, slash, key = k.rpartition("/")
            if not slash:
                unexpected.append(prefix + k)
            elif name not in params:
                strangers.append(name)
            elif allowed is not None and key not in allowed:
                unexpected.append(prefix + k)
            else:
                p = params[name]
                loaded.setdefault(name, {})[key] = checked_state_array(
                    where, prefix + k, v, p.shape, p.dtype)
        if strict and strangers:
            names = list(dict.fromkeys(strangers))
            raise StateDictError(
                f"{where}: checkpoint state for unknown parameter"
                f"{'s' if len(names) > 1 else ''} {', '.join(repr(n) for n in names[:6])}: "
                f"this optimiser updates {len(params)} parameters, such as "
                f"{', '.join(repr(n) for n in list(params)[:3])} (strict=False skips them)")
        if strict and unexpected:
            kept = "any buffers" if allowed is None else \
                f"the buffers {', '.join(repr(b) for b in allowed)}" if allowed else "no buffers"
            raise StateDictError(
                f"{where}: the state does not fit: unexpected {', '.join(map(repr, unexpected[:6]))}"
                f" (expected 't', 'lr' and '<parameter>/<buffer>'; this optimiser keeps {kept};"
                f" strict=False skips them)")
        if strict and int(t) > 0 and allowed:        # every step creates every buffer
            lacking = [prefix + f"{n}/{key}" for n in params for key in allowed
                       if key not in loaded.get(n, {})]
            if lacking:
                check_state_keys(where, {}, lacking)

        def commit():
            self.t, self.lr = int(t), float(lr)
            # the checked arrays are fresh copies: the buffers, updated in place, never write
            # back into the state they were loaded from
            self.state = {name: {key: get_array_module(params[name]).asarray(v)
                                 for key, v in bufs.items()} for name, bufs in loaded.items()}
        return commit


def _scalar(where, key, value):
    """A state entry that must be one real, finite number, as a float."""
    from .nn.module import StateDictError
    try:
        v = np.asarray(backend.to_numpy(value))
    except Exception:
        v = None
    if v is None or v.shape not in ((), (1,)) or v.dtype.kind not in "iuf":
        got = type(value).__name__ if v is None else f"dtype {v.dtype}, shape {v.shape}"
        raise StateDictError(f"{where}: entry {key!r} must be one real number, got {got}")
    x = float(v.reshape(()))
    if not math.isfinite(x):
        raise StateDictError(f"{where}: entry {key!r} is {x}, expected a finite number")
    return x


class SGD(Optimizer):
    """v ← μ v + g;  θ ← θ − lr v   (torch.optim.SGD, dampening 0; plain SGD when μ = 0)."""

    def __init__(self, params, lr=0.01, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr)
        self.momentum, self.weight_decay = momentum, weight_decay

    def buffer_names(self):
        return ("momentum",) if self.momentum else ()

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

    _buffer_names = ("m", "v")

    def _update(self, name, p, g):
        b1, b2 = self.betas
        xp = get_array_module(p)
        if self.weight_decay:
            g = g + self.weight_decay * p
        m, v = self._buf(name, "m", p), self._buf(name, "v", p)
        # The formulas above, operation by operation, in place in two scratch arrays instead of
        # a temporary per operation: the same numbers (tests/test_optim.py), ~15% faster.
        tmp = xp.multiply(g, 1 - b1)                       # (1 − β₁) g
        m *= b1
        m += tmp                                           # m ← β₁ m + (1 − β₁) g
        xp.multiply(g, g, out=tmp)
        tmp *= 1 - b2                                      # (1 − β₂) g²
        v *= b2
        v += tmp                                           # v ← β₂ v + (1 − β₂) g²
        denom = xp.divide(v, 1 - b2 ** self.t)             # v̂
        xp.sqrt(denom, out=denom)
        denom += self.eps                                  # √v̂ + ε
        xp.divide(m, 1 - b1 ** self.t, out=tmp)            # m̂
        tmp *= self.lr
        tmp /= denom                                       # lr · m̂ / (√v̂ + ε)
        p -= tmp


class RMSprop(Optimizer):
    """v ← α v + (1 − α) g²;  θ ← θ − lr g / (√v + ε)   (torch.optim.RMSprop defaults)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8):
        super().__init__(params, lr)
        self.alpha, self.eps = alpha, eps

    _buffer_names = ("square_avg",)

    def _update(self, name, p, g):
        xp = get_array_module(p)
        v = self._buf(name, "square_avg", p)
        v *= self.alpha
        v += (1 - self.alpha) * (g * g)
        p -= (self.lr * g / (xp.sqrt(v) + self.eps)).astype(p.dtype, copy=False)
