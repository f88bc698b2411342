"""Losses that match images with sentences: the joint embedding of Reed et al. (2016) and the
sentence half of AttnGAN's DAMSM (Xu et al. 2018), each with its gradient by hand.

Both compare two batches of embeddings, images ``v`` (N, E) and texts ``t`` (N, E), where row
``i`` of each belongs to example ``i``, through the cosine similarity matrix

    v̂ᵢ = vᵢ / ‖vᵢ‖,   t̂ⱼ = tⱼ / ‖tⱼ‖,   S = v̂ t̂ᵀ   (N, N),   S[i, j] = cos(vᵢ, tⱼ)

The normalisation's backward (one row u, û = u/‖u‖): dû → du = (dû − û ⟨û, dû⟩) / ‖u‖ (the
part of dû along û is removed: stretching u does not change û). Then dv̂ = dS t̂ and
dt̂ = dSᵀ v̂.

**Reed's symmetric structured joint embedding** (:func:`joint_embedding_loss`): a hinge in
both directions. An image must score its own caption above every caption of a *different*
description by a margin Δ, and a caption its own image above every image of a different one:

    L = (1/N) Σᵢ Σ_{j ∈ M(i)} [ max(0, Δ + S[i, j] − S[i, i])      (image i, wrong text j)
                              + max(0, Δ + S[j, i] − S[i, i]) ]     (text i, wrong image j)

``M(i)``: the examples whose attributes differ from example i's (two captions of the same
description are not "wrong"). With A[i, j] = 1 where the first hinge is active and B[i, j]
where the second is, both masked by M and divided by N:

    dS[i, j] += A[i, j],   dS[j, i] += B[i, j],   dS[i, i] −= Σⱼ (A[i, j] + B[i, j])

**The sentence matching loss** (:func:`sentence_matching_loss`, DAMSM's sentence half): with
logits γ S, the image i must pick its caption among the batch's captions and the caption i
its image, by softmax cross-entropy in both directions:

    L = CE(γ S, diag) + CE(γ Sᵀ, diag),   dS = γ (softmax_rows(γS) − I)/N + γ (softmax_rows(γSᵀ) − I)ᵀ/N

A batch that holds two examples of the same description punishes the "wrong" one as AttnGAN
does (its batches are random too); with ``same`` given, those entries are removed from the
softmax (masked to −∞ except the diagonal).
"""
from __future__ import annotations

from ..backend import get_array_module
from .losses import log_softmax

__all__ = ["l2_normalize", "l2_normalize_backward", "cosine_matrix", "cosine_matrix_backward",
           "joint_embedding_loss", "sentence_matching_loss", "mismatch_mask"]


def _check_pair(who, v, t):
    if not hasattr(v, "shape") or not hasattr(t, "shape"):
        raise ValueError(f"{who}: expected two arrays (N, E), got {type(v).__name__} and "
                         f"{type(t).__name__}")
    if v.ndim != 2 or v.shape != t.shape:
        raise ValueError(f"{who}: expected image and text embeddings of the same shape (N, E), "
                         f"got {tuple(v.shape)} and {tuple(t.shape)}")
    if v.shape[0] < 2:
        raise ValueError(f"{who}: a batch needs at least 2 examples to compare, got "
                         f"{v.shape[0]}")
    if v.dtype.kind != "f" or t.dtype.kind != "f":
        raise ValueError(f"{who}: expected floating-point embeddings, got {v.dtype} and "
                         f"{t.dtype}")


def l2_normalize(u, eps=1e-8):
    """Rows of u (N, E) scaled to unit length: (û, norms (N, 1)). eps keeps a zero row finite."""
    xp = get_array_module(u)
    norms = xp.sqrt((u * u).sum(axis=1, keepdims=True) + eps)
    return u / norms, norms


def l2_normalize_backward(du_hat, u_hat, norms):
    """du from dû: (dû − û ⟨û, dû⟩) / ‖u‖, row by row."""
    return (du_hat - u_hat * (u_hat * du_hat).sum(axis=1, keepdims=True)) / norms


def cosine_matrix(v, t):
    """S = v̂ t̂ᵀ (N, N) and the cache for :func:`cosine_matrix_backward`."""
    v_hat, nv = l2_normalize(v)
    t_hat, nt = l2_normalize(t)
    return v_hat @ t_hat.T, (v_hat, nv, t_hat, nt)


def cosine_matrix_backward(dS, cache):
    """(dv, dt) from dS: dv̂ = dS t̂, dt̂ = dSᵀ v̂, then each normalisation's backward."""
    v_hat, nv, t_hat, nt = cache
    return (l2_normalize_backward(dS @ t_hat, v_hat, nv),
            l2_normalize_backward(dS.T @ v_hat, t_hat, nt))


def mismatch_mask(attrs):
    """M (N, N) boolean: M[i, j] is True where examples i and j have different attributes
    (attrs (N, K) integer, one row of labels per example; or (N,) class ids)."""
    a = attrs.reshape(attrs.shape[0], -1)
    return (a[:, None, :] != a[None, :, :]).any(axis=2)


def joint_embedding_loss(v, t, mismatch, margin=0.2):
    """Reed's symmetric hinge (module docstring) on image embeddings v and text embeddings t
    (N, E), ``mismatch`` (N, N) boolean (:func:`mismatch_mask`). Returns (loss, dv, dt)."""
    _check_pair("joint_embedding_loss", v, t)
    xp = get_array_module(v)
    N = v.shape[0]
    if getattr(mismatch, "shape", None) != (N, N):
        raise ValueError(f"joint_embedding_loss: expected a mismatch mask of shape ({N}, {N}), "
                         f"got {getattr(mismatch, 'shape', type(mismatch).__name__)}")
    S, cache = cosine_matrix(v, t)
    d = xp.diag(S)[:, None]                           # S[i, i]
    m = mismatch.astype(S.dtype)
    hinge_it = xp.maximum(0, margin + S - d) * m      # image i, wrong text j
    hinge_ti = xp.maximum(0, margin + S.T - d) * m    # text i, wrong image j
    loss = float((hinge_it.sum() + hinge_ti.sum()) / N)
    A = (hinge_it > 0).astype(S.dtype) / N
    B = (hinge_ti > 0).astype(S.dtype) / N
    dS = A + B.T
    dS[xp.arange(N), xp.arange(N)] -= A.sum(axis=1) + B.sum(axis=1)
    dv, dt = cosine_matrix_backward(dS, cache)
    return loss, dv, dt


def sentence_matching_loss(v, t, gamma=10.0, same=None):
    """DAMSM's sentence loss (module docstring) on v, t (N, E) with the smoothing factor γ
    (AttnGAN's γ₃ = 10). ``same`` (N, N) boolean, optional: pairs of examples that share a
    description (not negatives; the diagonal is always kept). Returns (loss, dv, dt)."""
    _check_pair("sentence_matching_loss", v, t)
    xp = get_array_module(v)
    N = v.shape[0]
    S, cache = cosine_matrix(v, t)
    logits = gamma * S
    if same is not None:
        off = same & ~xp.eye(N, dtype=bool)
        logits = xp.where(off, -xp.inf, logits)
    idx = xp.arange(N)
    lp_rows = log_softmax(logits, axis=1)             # image i picks among the texts
    lp_cols = log_softmax(logits.T, axis=1)           # text i picks among the images
    loss = float(-(lp_rows[idx, idx].sum() + lp_cols[idx, idx].sum()) / N)
    P_rows, P_cols = xp.exp(lp_rows), xp.exp(lp_cols)
    P_rows[idx, idx] -= 1
    P_cols[idx, idx] -= 1
    dS = gamma * (P_rows + P_cols.T) / N
    dv, dt = cosine_matrix_backward(dS, cache)
    return loss, dv, dt
