"""The layer contract, and the base class every layer and container shares.

A layer holds its parameters and their gradients in two dicts with the same keys::

    layer.params = {"weight": W, "bias": b}
    layer.grads  = {"weight": dW, "bias": db}     # same shapes, accumulated

and its forward pass returns what its backward pass needs, explicitly::

    y, cache = layer.forward(x)      # cache: whatever backward needs, nothing more
    dx = layer.backward(dy, cache)   # returns dL/dx and ADDS dL/dparam into layer.grads

Nothing of a call is kept on ``self``: a discriminator called on a real batch and
then on a fake batch keeps two caches, and two backward passes add up in
``grads``. ``zero_grad()`` clears the gradients (in place, so that optimizers and
containers that hold references to the arrays keep seeing the same arrays).
"""
from __future__ import annotations

import numpy as np

from .. import backend


class Module:
    """Base class: parameters, gradients, train/eval mode, state for checkpoints."""

    def __init__(self):
        self.params: dict = {}
        self.grads: dict = {}
        self.training = True

    # --- the contract -------------------------------------------------------------
    def forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, dy, cache):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.backward")

    # --- children (containers override) ----------------------------------------------
    def children(self):
        """The sub-modules, in order, as (name, module) pairs. Leaves have none."""
        return []

    def named_parameters(self, prefix=""):
        """Every parameter below this module as (dotted name, param, grad) triples."""
        out = [(prefix + k, self.params[k], self.grads[k]) for k in self.params]
        for name, child in self.children():
            out.extend(child.named_parameters(prefix + name + "."))
        return out

    def num_parameters(self) -> int:
        return int(sum(p.size for _, p, _ in self.named_parameters()))

    def zero_grad(self):
        for _, _, g in self.named_parameters():
            g[...] = 0

    def train(self, mode: bool = True):
        self.training = mode
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    # --- dtype / device -------------------------------------------------------------
    @property
    def dtype(self):
        for _, p, _ in self.named_parameters():
            return p.dtype
        return None

    def to(self, dtype=None, backend_name=None):
        """Convert parameters (and zeroed gradients) to ``dtype`` and/or move them to the
        backend in use (``backend_name="numpy"`` brings them back to the CPU). In place.

        The arrays are replaced: create optimisers after calling ``to``, not before."""
        def convert(a):
            if backend_name == "numpy":
                a = backend.to_numpy(a)
            elif backend_name is not None:
                a = backend.xp.asarray(a)
            return a if dtype is None else a.astype(dtype)

        for _, child in self.children():
            child.to(dtype, backend_name)
        for k in list(self.params):
            self.params[k] = convert(self.params[k])
            self.grads[k] = backend.get_array_module(self.params[k]).zeros_like(self.params[k])
        for k, v in list(self._buffers().items()):
            setattr(self, k, convert(v))
        return self

    def _buffers(self) -> dict:
        """Non-trainable arrays that belong in a checkpoint (e.g. running statistics)."""
        return {}

    # --- checkpoints ----------------------------------------------------------------
    def state_dict(self, prefix="") -> dict:
        """Parameters and buffers as a flat dict of NumPy arrays (dotted names)."""
        out = {prefix + k: backend.to_numpy(v).copy() for k, v in self.params.items()}
        out.update({prefix + k: backend.to_numpy(v).copy() for k, v in self._buffers().items()})
        for name, child in self.children():
            out.update(child.state_dict(prefix + name + "."))
        return out

    def load_state_dict(self, state: dict, prefix=""):
        """Copy arrays from ``state`` into this module's parameters, in place."""
        for k, p in self.params.items():
            key = prefix + k
            if key not in state:
                raise KeyError(f"{type(self).__name__}: checkpoint has no entry {key!r}")
            v = np.asarray(state[key])
            if v.shape != p.shape:
                raise ValueError(f"{type(self).__name__}: checkpoint entry {key!r} has shape "
                                 f"{v.shape}, expected {p.shape}")
            p[...] = backend.get_array_module(p).asarray(v, dtype=p.dtype)
        for k, b in self._buffers().items():
            key = prefix + k
            if key not in state:
                raise KeyError(f"{type(self).__name__}: checkpoint has no entry {key!r}")
            v = np.asarray(backend.to_numpy(state[key]))
            if v.shape != b.shape:
                raise ValueError(f"{type(self).__name__}: checkpoint entry {key!r} has shape "
                                 f"{v.shape}, expected {b.shape}")
            b[...] = backend.get_array_module(b).asarray(v, dtype=b.dtype)
        for name, child in self.children():
            child.load_state_dict(state, prefix + name + ".")

    # --- input checks -----------------------------------------------------------------
    def _check_input(self, x, ndim=None, last=None, name="input"):
        """Raise a ValueError naming this layer, the expected and the received shape/dtype."""
        if not hasattr(x, "shape") or not hasattr(x, "dtype"):
            raise ValueError(f"{self!r}: expected an array as {name}, got {type(x).__name__}")
        if ndim is not None and x.ndim not in (ndim if isinstance(ndim, tuple) else (ndim,)):
            raise ValueError(f"{self!r}: expected {name} with {ndim} dimensions "
                             f"{self._shape_hint()}, got shape {tuple(x.shape)}")
        if last is not None and (x.ndim == 0 or x.shape[-1] != last):
            raise ValueError(f"{self!r}: expected {name} of shape {self._shape_hint()}, "
                             f"got shape {tuple(x.shape)}")
        if x.dtype.kind != "f":
            raise ValueError(f"{self!r}: expected a floating-point {name}, got dtype {x.dtype}")
        dt = self.dtype
        if dt is not None and x.dtype != dt:
            raise ValueError(f"{self!r}: {name} has dtype {x.dtype} but the parameters are "
                             f"{dt}; convert one of them (x.astype({dt}) or layer.to({x.dtype}))")

    def _shape_hint(self) -> str:
        return ""

    def __repr__(self):
        return f"{type(self).__name__}()"
