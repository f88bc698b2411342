"""Losses: each returns ``(value, gradient)``, the gradient with respect to its first argument.

All losses average over every element (``reduction="mean"``, PyTorch's default), so the
gradient carries the 1/N; derivations in notebook 01, section 4.
"""
from __future__ import annotations

from ..backend import get_array_module


def _check_pair(name, a, b):
    if not hasattr(a, "shape") or not hasattr(b, "shape"):
        raise ValueError(f"{name}: expected arrays, got {type(a).__name__} and {type(b).__name__}")
    if a.shape != b.shape:
        raise ValueError(f"{name}: prediction has shape {tuple(a.shape)} but target has shape "
                         f"{tuple(b.shape)}; they must match")
    if a.dtype.kind != "f":
        raise ValueError(f"{name}: expected floating-point predictions, got dtype {a.dtype}")


def bce_with_logits(logits, targets):
    """Binary cross-entropy on logits z with targets t in [0, 1]:

        ℓ = mean( max(z, 0) − z t + log(1 + e^(−|z|)) )      (= −t log σ(z) − (1−t) log(1−σ(z)))
        ∂ℓ/∂z = (σ(z) − t) / n

    The first form never overflows: it is finite and exact for logits of ±1000.
    logits, targets: same shape (N,) or (N, 1) or any. Returns (float, array like logits).
    """
    _check_pair("bce_with_logits", logits, targets)
    xp = get_array_module(logits)
    z, t = logits, targets.astype(logits.dtype)
    n = z.size
    loss = xp.maximum(z, 0) - z * t + xp.log1p(xp.exp(-xp.abs(z)))
    sig = 0.5 * (1 + xp.tanh(0.5 * z))
    return float(loss.mean()), (sig - t) / z.dtype.type(n)


def mse(pred, target):
    """Mean squared error: ℓ = mean((y − t)²), ∂ℓ/∂y = 2 (y − t) / n."""
    _check_pair("mse", pred, target)
    diff = pred - target.astype(pred.dtype)
    return float((diff * diff).mean()), 2 * diff / pred.dtype.type(diff.size)


def log_softmax(logits, axis=-1):
    """log softmax, shifted by the max so that exp never overflows."""
    xp = get_array_module(logits)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(logits, axis=-1):
    xp = get_array_module(logits)
    return xp.exp(log_softmax(logits, axis))


def softmax_cross_entropy(logits, labels):
    """Softmax cross-entropy, averaged over the batch.

    logits: (N, C). labels: (N,) integer class indices, or (N, C) probabilities.
        ℓ = −(1/N) Σ_n Σ_c t_nc log softmax(z_n)_c,     ∂ℓ/∂z = (softmax(z) − t) / N
    Returns (float, array of shape (N, C)).
    """
    xp = get_array_module(logits)
    if not hasattr(logits, "ndim") or logits.ndim != 2:
        raise ValueError("softmax_cross_entropy: expected logits of shape (N, C), got "
                         f"{getattr(logits, 'shape', type(logits).__name__)}")
    if logits.dtype.kind != "f":
        raise ValueError(f"softmax_cross_entropy: expected floating-point logits, got {logits.dtype}")
    N, C = logits.shape
    labels = xp.asarray(labels)
    if labels.ndim == 1:
        if labels.shape[0] != N:
            raise ValueError(f"softmax_cross_entropy: {N} rows of logits but {labels.shape[0]} labels")
        if labels.dtype.kind not in "iu":
            raise ValueError(f"softmax_cross_entropy: expected integer labels, got {labels.dtype}")
        if N and (int(labels.min()) < 0 or int(labels.max()) >= C):
            raise ValueError(f"softmax_cross_entropy: labels must be in [0, {C - 1}], got "
                             f"[{int(labels.min())}, {int(labels.max())}]")
        t = xp.zeros_like(logits)
        t[xp.arange(N), labels] = 1
    else:
        if labels.shape != logits.shape:
            raise ValueError(f"softmax_cross_entropy: target probabilities have shape "
                             f"{tuple(labels.shape)}, expected {tuple(logits.shape)}")
        t = labels.astype(logits.dtype)
    logp = log_softmax(logits)
    loss = -(t * logp).sum() / N
    return float(loss), (xp.exp(logp) - t) / logits.dtype.type(N)


def l1_loss(pred, target):
    """Mean absolute error, as torch.nn.L1Loss (reduction="mean"): pix2pix's reconstruction term.

        ℓ = mean(|y − t|),     ∂ℓ/∂y = sign(y − t) / n          (n = the number of entries)

    |u| has no derivative at u = 0; the gradient uses the subgradient 0 there (sign(0) = 0, as
    torch's sign and torch's L1Loss backward): an entry that matches its target exactly gets
    no gradient. pred, target: same shape, any. Returns (float, array like pred).
    """
    _check_pair("l1_loss", pred, target)
    xp = get_array_module(pred)
    diff = pred - target.astype(pred.dtype)
    return float(xp.abs(diff).mean()), xp.sign(diff) / pred.dtype.type(diff.size)
