"""Three remedies that work on any GAN's parameters or samples, whatever its networks: the
state they keep, its updates and gradients by hand, and its checkpoint entries.

- :class:`HistoricalAverage` (Salimans et al. 2016, §3.3): each player's cost gets the term
  λ‖θ − θ̄‖², θ̄ = (1/t) Σᵢ θ[i] the average of the player's own past parameters. Its
  gradient, with θ̄ held fixed (it is made of past values, which this step cannot change):

      ∂/∂θ λ‖θ − θ̄‖² = 2λ (θ − θ̄)

  added into the gradients before the optimiser step; after the step θ̄ takes in the new
  value: t ← t + 1, θ̄ ← θ̄ + (θ − θ̄)/t (a running mean, exact, in O(1) memory).
- :class:`SampleHistory` (Shrivastava et al. 2017; CycleGAN's image pool, Zhu et al. 2017):
  D is shown, besides G's newest samples, samples G made earlier, so it keeps rejecting what
  G produced before and G cannot win by hopping back to an old mode. The pool holds up to
  ``size`` samples (with their conditions, for a conditional model); until it is full each
  new sample is stored and shown; then each new sample, with probability 1/2, is shown as it
  is, and otherwise swapped with a random stored one, which is shown instead.
- :class:`EMA` (Yazıcı et al. 2019; Karras et al.): an exponential moving average of G's
  parameters, θ̃ ← d θ̃ + (1 − d) θ after every G step, used to sample and evaluate, never to
  train. Averaging the last few hundred steps smooths out G's jitter around a good point.

Each object keeps plain arrays and has ``state_dict()`` and ``prepare_load_state_dict()`` (the
strict, all-or-nothing loading of :mod:`minigan.nn.module`), so a model lists it among its
checkpointed parts and a resumed run continues exactly.
"""
from __future__ import annotations

import contextlib

import numpy as np

from .. import backend
from ..backend import get_array_module, to_numpy
from ..nn.module import StateDictError, check_state_keys, checked_state_array


class _ArrayState:
    """A dict of named arrays of fixed shapes, saved and loaded strictly."""

    def _arrays(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {k: to_numpy(v).copy() for k, v in self._arrays().items()}

    def prepare_load_state_dict(self, state, prefix="", strict=True):
        where = type(self).__name__
        arrays = self._arrays()
        mine = {k[len(prefix):]: v for k, v in state.items()
                if isinstance(k, str) and k.startswith(prefix)}
        if strict:
            check_state_keys(where, mine, list(arrays))
        checked = {k: checked_state_array(where, prefix + k, mine[k], v.shape, v.dtype)
                   for k, v in arrays.items() if k in mine}
        self._check_loaded(checked)

        def commit():
            for k, v in checked.items():        # v: NumPy; copied to the array's device
                target = arrays[k]              # (``filled`` stays on the host)
                target[...] = v if get_array_module(target) is np else \
                    get_array_module(target).asarray(v)
        return commit

    def load_state_dict(self, state, strict=True):
        self.prepare_load_state_dict(state, strict=strict)()

    def _check_loaded(self, checked):
        pass


class HistoricalAverage(_ArrayState):
    """λ‖θ − θ̄‖² over a list of (name, param, grad) triples (one player's parameters).

    State: ``mean/<name>`` (θ̄, the mean of the values after each update so far, the initial
    value included) and ``count`` (how many values θ̄ averages)."""

    def __init__(self, params, weight):
        if not weight > 0:
            raise ValueError(f"HistoricalAverage: weight must be positive, got {weight!r}")
        self.params, self.weight = list(params), float(weight)
        self.mean = {n: p.copy() for n, p, _ in self.params}
        self.count = np.ones((), dtype=np.int64)     # on the host, as SampleHistory.filled

    def _arrays(self):
        return {"count": self.count, **{f"mean/{n}": m for n, m in self.mean.items()}}

    def _check_loaded(self, checked):
        if "count" in checked and int(checked["count"]) < 1:
            raise StateDictError("HistoricalAverage: entry 'count' must be >= 1")

    def restart(self):
        """Forget the history: θ̄ = θ now, t = 1."""
        for n, p, _ in self.params:
            self.mean[n][...] = p
        self.count[...] = 1

    def penalty_and_backward(self) -> float:
        """λ Σ ‖θ − θ̄‖² over the parameters; ADDS 2λ(θ − θ̄) into their gradients."""
        total = 0.0
        for n, p, g in self.params:
            diff = p - self.mean[n]
            g += (2 * self.weight) * diff
            total += float((diff * diff).sum())
        return self.weight * total

    def update(self):
        """θ̄ takes in the parameters' new values: t ← t + 1, θ̄ ← θ̄ + (θ − θ̄)/t."""
        self.count += 1
        t = int(self.count)
        for n, p, _ in self.params:
            m = self.mean[n]
            m += (p - m) / m.dtype.type(t)


class SampleHistory(_ArrayState):
    """A pool of up to ``size`` earlier samples (and their conditions) shown to D.

    sample_shape, dtype: one sample as D receives it. cond_shape, cond_dtype: one sample's
    condition (None for an unconditional model). State: ``samples`` (size, *sample_shape),
    ``conds`` (size, *cond_shape) if conditional, and ``filled`` (how many are stored).
    ``xp``: the array module of the pool (default: the backend in use, as for parameters)."""

    def __init__(self, size, sample_shape, dtype, cond_shape=None, cond_dtype=None, xp=None):
        xp = backend.xp if xp is None else xp
        if isinstance(size, bool) or int(size) != size or size < 1:
            raise ValueError(f"SampleHistory: size must be a positive integer, got {size!r}")
        self.size = int(size)
        self.samples = xp.zeros((self.size,) + tuple(sample_shape), dtype=dtype)
        self.conds = None if cond_shape is None else \
            xp.zeros((self.size,) + tuple(cond_shape), dtype=cond_dtype)
        self.filled = np.zeros((), dtype=np.int64)

    def _arrays(self):
        out = {"samples": self.samples, "filled": self.filled}
        if self.conds is not None:
            out["conds"] = self.conds
        return out

    def _check_loaded(self, checked):
        if "filled" in checked and not 0 <= int(checked["filled"]) <= self.size:
            raise StateDictError(f"SampleHistory: entry 'filled' must be in [0, {self.size}]")

    def query(self, samples, conds=None, rng=None):
        """The batch D is shown instead of ``samples`` (N, ...) (and ``conds`` (N, ...)):
        while the pool is not full, each sample is stored and shown; then, each with
        probability 1/2, it is shown as it is, or swapped with a uniformly chosen stored one,
        which is shown instead. ``rng``: a NumPy Generator (the step's own stream).
        Returns (samples, conds), new arrays; the arguments are not modified."""
        if (conds is None) != (self.conds is None):
            raise ValueError("SampleHistory: give conditions exactly when the pool keeps them")
        n = samples.shape[0]
        coins, picks = rng.random(n), rng.integers(0, self.size, n)
        out = samples.copy()
        out_c = None if conds is None else conds.copy()
        for i in range(n):
            filled = int(self.filled)
            if filled < self.size:                      # not full: store it, show it
                self.samples[filled] = samples[i]
                if conds is not None:
                    self.conds[filled] = conds[i]
                self.filled += 1
            elif coins[i] < 0.5:                        # show an older one, keep the new one
                j = int(picks[i])
                out[i] = self.samples[j]
                self.samples[j] = samples[i]
                if conds is not None:
                    out_c[i] = self.conds[j]
                    self.conds[j] = conds[i]
        return out, out_c


class EMA(_ArrayState):
    """θ̃ ← d θ̃ + (1 − d) θ over a list of (name, param, grad) triples (G's parameters).

    State: ``<name>`` for each parameter (θ̃, starting at θ's initial value)."""

    def __init__(self, params, decay):
        if not 0 < decay < 1:
            raise ValueError(f"EMA: decay must be in (0, 1), got {decay!r}")
        self.params, self.decay = list(params), float(decay)
        self.shadow = {n: p.copy() for n, p, _ in self.params}

    def _arrays(self):
        return self.shadow

    def restart(self):
        """θ̃ = θ now."""
        for n, p, _ in self.params:
            self.shadow[n][...] = p

    def update(self):
        d = self.decay
        for n, p, _ in self.params:
            s = self.shadow[n]
            s *= s.dtype.type(d)
            s += s.dtype.type(1 - d) * p

    @contextlib.contextmanager
    def swapped_in(self):
        """Within the block the parameters hold θ̃ (their own values are restored after).
        Buffers (batch norm's running statistics) are the live network's."""
        kept = {n: p.copy() for n, p, _ in self.params}
        try:
            for n, p, _ in self.params:
                p[...] = self.shadow[n]
            yield
        finally:
            for n, p, _ in self.params:
                p[...] = kept[n]
