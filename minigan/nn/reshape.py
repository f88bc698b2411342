"""Layers that only rearrange: Flatten and Reshape. Their backward passes reshape back.

Both keep the batch dimension N: they change how each sample is laid out, never how many
samples there are (so they sit between a conv stack and a Linear layer, either way round).
"""
from __future__ import annotations

import math

from .jvp import check_tangent
from .module import Module


class _Reshaping(Module):
    """What every reshape shares: the cache is the input's shape, and the backward pass (and
    the tangent pass, a reshape being linear) reshapes back."""

    def backward(self, dy, cache):
        return dy.reshape(cache)

    def forward_jvp(self, x, x_dot):
        """A reshape is linear: ẏ = ẋ reshaped like y."""
        check_tangent(self, x, x_dot)
        y, shape = self.forward(x)
        return y, x_dot.reshape(y.shape), shape

    def backward_jvp(self, dy, dy_dot, cache):
        return dy.reshape(cache), dy_dot.reshape(cache)


class Flatten(_Reshaping):
    """Flatten dimensions start_dim..end_dim into one, as torch.nn.Flatten (default: all but N).

    x: (N, C, H, W) -> y: (N, C·H·W) with the defaults.  Backward: dx = dy.reshape(x.shape).
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        self._check_input(x)
        start = self.start_dim % x.ndim
        end = self.end_dim % x.ndim
        if start == 0 or start > end:
            raise ValueError(f"{self!r}: cannot flatten dimensions "
                             f"{self.start_dim}..{self.end_dim} of an input of shape {tuple(x.shape)} (the batch dimension stays)")
        shape = x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:]
        return x.reshape(shape), x.shape

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
        if not shape or sum(1 for s in shape if s == -1) > 1 or \
                any(s <= 0 and s != -1 for s in shape):
            raise ValueError(f"Reshape: expected positive sizes (at most one -1), got {shape!r}")
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x):
        self._check_input(x)
        per_sample = math.prod(x.shape[1:])
        known = math.prod(s for s in self.shape if s != -1)
        if (per_sample != known if -1 not in self.shape else per_sample % known):
            raise ValueError(f"{self!r}: cannot reshape an input of shape {tuple(x.shape)} "
                             f"({per_sample} values per sample) to (N, "
                             f"{', '.join(map(str, self.shape))})")
        return x.reshape((x.shape[0],) + self.shape), x.shape

    def __repr__(self):
        return f"Reshape{self.shape}"
