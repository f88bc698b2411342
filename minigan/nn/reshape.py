"""Layers that only rearrange: Flatten and Reshape. Their backward passes reshape back.

Both keep the batch dimension N: they change how each sample is laid out, never how many
samples there are (so they sit between a conv stack and a Linear layer, either way round).
"""
from __future__ import annotations

import math
import operator

from .jvp import check_tangent
from .module import Module


class _Reshaping(Module):
    """What every reshape shares: the cache is the input's shape, and the backward pass (and
    the tangent pass, a reshape being linear) reshapes back."""

    def backward(self, dy, cache):
        self._check_dy(dy, self._out_shape(cache))
        return dy.reshape(cache)

    def forward_jvp(self, x, x_dot):
        """A reshape is linear: ẏ = ẋ reshaped like y."""
        check_tangent(self, x, x_dot)
        y, shape = self.forward(x)
        return y, x_dot.reshape(y.shape), shape

    def backward_jvp(self, dy, dy_dot, cache):
        """dx = dy reshaped back, dẋ = dẏ reshaped back: both checked first (a dẏ of the
        right size but the wrong shape would otherwise be reshaped silently)."""
        self._check_dy_pair(dy, dy_dot, self._out_shape(cache))
        return dy.reshape(cache), dy_dot.reshape(cache)


class Flatten(_Reshaping):
    """Flatten dimensions start_dim..end_dim into one, as torch.nn.Flatten (default: all but N).

    x: (N, C, H, W) -> y: (N, C·H·W) with the defaults.  Backward: dx = dy.reshape(x.shape).
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        for what, v in (("start_dim", start_dim), ("end_dim", end_dim)):
            try:
                if isinstance(v, bool):
                    raise TypeError
                operator.index(v)
            except TypeError:
                raise ValueError(f"Flatten: {what} must be an int, got {v!r}") from None
        self.start_dim, self.end_dim = operator.index(start_dim), operator.index(end_dim)

    def _out_shape(self, shape):
        ndim = len(shape)
        start, end = self.start_dim % ndim, self.end_dim % ndim
        if start == 0 or start > end:
            raise ValueError(f"{self!r}: cannot flatten dimensions "
                             f"{self.start_dim}..{self.end_dim} of an input of shape {tuple(shape)} (the batch dimension stays)")
        return tuple(shape[:start]) + (math.prod(shape[start:end + 1]),) + tuple(shape[end + 1:])

    def forward(self, x):
        self._check_input(x)
        if x.ndim == 0:
            raise ValueError(f"{self!r}: expected an input of shape (N, ...), got a 0-d array")
        return x.reshape(self._out_shape(x.shape)), x.shape

    def __repr__(self):
        return f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim})"


class Reshape(_Reshaping):
    """Reshape every sample to ``shape``, keeping the batch dimension: (N, ...) -> (N, *shape).

    E.g. a generator's Linear output (N, 128·7·7) -> Reshape(128, 7, 7) -> (N, 128, 7, 7).
    One entry of ``shape`` may be -1 (inferred). Backward: dx = dy.reshape(x.shape).
    """

    def __init__(self, *shape):
        super().__init__()
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        try:
            if any(isinstance(s, bool) for s in shape):
                raise TypeError
            sizes = tuple(operator.index(s) for s in shape)
        except TypeError:
            sizes = None
        if not sizes or sum(1 for s in sizes if s == -1) > 1 or \
                any(s <= 0 and s != -1 for s in sizes):
            raise ValueError(f"Reshape: shape must be positive ints (at most one -1), got "
                             f"{shape!r}")
        self.shape = sizes

    def _out_shape(self, shape):
        per_sample = math.prod(shape[1:])
        known = math.prod(s for s in self.shape if s != -1)
        if (per_sample != known if -1 not in self.shape else per_sample % known):
            raise ValueError(f"{self!r}: cannot reshape an input of shape {tuple(shape)} "
                             f"({per_sample} values per sample) to (N, "
                             f"{', '.join(map(str, self.shape))})")
        return (shape[0],) + tuple(per_sample // known if s == -1 else s for s in self.shape)

    def forward(self, x):
        self._check_input(x)
        if x.ndim == 0:
            raise ValueError(f"{self!r}: expected an input of shape (N, ...), got a 0-d array")
        return x.reshape(self._out_shape(x.shape)), x.shape

    def __repr__(self):
        return f"Reshape{self.shape}"
