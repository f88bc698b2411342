"""Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_ (for recurrent nets,
whose gradients can explode through time)."""
from __future__ import annotations

import math

from ..backend import get_array_module


def clip_grad_norm(grads, max_norm: float) -> float:
    """Scale the gradients in place so that their joint L2 norm is at most ``max_norm``.

    grads: a dict of gradient arrays (``module.grads``) or an iterable of arrays.
    Returns the norm BEFORE clipping (as torch). When ‖g‖ > max_norm every array is multiplied
    by max_norm / (‖g‖ + 1e-6), as torch does; otherwise nothing changes.
    """
    if max_norm <= 0:
        raise ValueError(f"clip_grad_norm: max_norm must be positive, got {max_norm}")
    arrays = list(grads.values()) if isinstance(grads, dict) else list(grads)
    total = 0.0
    for g in arrays:
        total += float((g.astype(get_array_module(g).float64) ** 2).sum())
    norm = math.sqrt(total)
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in arrays:
            g *= g.dtype.type(scale)
    return norm
