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
           "joint_embedding_loss", "retrieval_cross_entropy", "sentence_matching_loss",
           "word_matching_loss",
           "mismatch_mask"]


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


def retrieval_cross_entropy(S, gamma, same=None):
    """Both ways of picking the right partner from scores S (N, N) (row i: image i against
    every caption): L = CE(γ S, diag) + CE(γ Sᵀ, diag), each averaged over N, and dL/dS =
    γ (softmax_rows(γS) − I)/N + γ (softmax_rows(γSᵀ) − I)ᵀ/N. ``same`` (N, N) boolean,
    optional: pairs that are not negatives, removed from the softmax (the diagonal kept).
    DAMSM's sentence and word losses end in it. Returns (loss, dS)."""
    xp = get_array_module(S)
    N = S.shape[0]
    logits = gamma * S
    if same is not None:
        logits = xp.where(same & ~xp.eye(N, dtype=bool), -xp.inf, logits)
    idx = xp.arange(N)
    lp_rows = log_softmax(logits, axis=1)             # image i picks among the texts
    lp_cols = log_softmax(logits.T, axis=1)           # text i picks among the images
    loss = float(-(lp_rows[idx, idx].sum() + lp_cols[idx, idx].sum()) / N)
    P_rows, P_cols = xp.exp(lp_rows), xp.exp(lp_cols)
    P_rows[idx, idx] -= 1
    P_cols[idx, idx] -= 1
    return loss, gamma * (P_rows + P_cols.T) / N


def sentence_matching_loss(v, t, gamma=10.0, same=None):
    """DAMSM's sentence loss (module docstring) on v, t (N, E) with the smoothing factor γ
    (AttnGAN's γ₃ = 10). ``same`` (N, N) boolean, optional: pairs of examples that share a
    description (not negatives; the diagonal is always kept). Returns (loss, dv, dt)."""
    _check_pair("sentence_matching_loss", v, t)
    S, cache = cosine_matrix(v, t)
    loss, dS = retrieval_cross_entropy(S, gamma, same)
    dv, dt = cosine_matrix_backward(dS, cache)
    return loss, dv, dt


def word_matching_loss(regions, words, mask, gamma1=5.0, gamma2=5.0, gamma3=10.0, same=None,
                       eps=1e-8):
    """DAMSM's word loss (Xu et al. 2018, AttnGAN §3.3), every pair (image i, caption k) of a
    batch. regions (N, D, R): image i's R sub-region features; words (N, D, T): caption k's
    word features; mask (N, T) boolean (True: a real word). For each pair, each word attends
    over the image's regions and is compared with what it found:

        s[i,k,t,j] = ⟨e_{k,t}, v_{i,j}⟩,   α = softmax_j(γ₁ s),   c[i,k,t] = Σ_j α v_{i,j}
        R_t(i,k) = cos(c[i,k,t], e_{k,t}),   R(i,k) = (1/γ₂) log Σ_{t real} exp(γ₂ R_t(i,k))

    and, as the sentence loss, image i must pick its caption among the batch's by softmax over
    γ₃ R(i, ·), and caption k its image over γ₃ R(·, k): L = CE(rows) + CE(columns), each /N.
    ``same`` (N, N) boolean, optional: pairs of the same description, removed from the
    softmax (the diagonal kept). Returns (loss, dregions, dwords); padded words get no
    gradient. The backward pass, in reverse order: dR from the two cross-entropies; dR_t =
    dR·softmax_t(γ₂ R_t); the cosine's (dc = dR_t (ê − cos ĉ)/‖c‖, de = dR_t (ĉ − cos ê)/‖e‖);
    the attention's (dα = ⟨dc, v⟩, ds = γ₁ α ⊙ (dα − Σ_j α dα)); then ds and α into v and e."""
    xp = get_array_module(regions)
    if getattr(regions, "ndim", 0) != 3 or getattr(words, "ndim", 0) != 3 \
            or regions.shape[:2] != words.shape[:2]:
        raise ValueError("word_matching_loss: expected regions (N, D, R) and words (N, D, T) "
                         f"with the same N and D, got {getattr(regions, 'shape', None)} and "
                         f"{getattr(words, 'shape', None)}")
    N, D, R = regions.shape
    T = words.shape[2]
    if N < 2:
        raise ValueError(f"word_matching_loss: a batch needs at least 2 examples, got {N}")
    if getattr(mask, "shape", None) != (N, T) or not bool(xp.asarray(mask).any(axis=1).all()):
        raise ValueError(f"word_matching_loss: expected a boolean mask of shape ({N}, {T}) with "
                         "a real word in every row")
    m = xp.asarray(mask).astype(regions.dtype)                       # (N_k, T)
    # Every product below is a matrix product (BLAS): the pairs (i, k) and the words t are
    # batched, layouts (i, k, t, ·). e = words as (K, T, D), v = regions as (I, R, D).
    e = xp.ascontiguousarray(words.transpose(0, 2, 1))                 # (N, T, D)
    v = xp.ascontiguousarray(regions.transpose(0, 2, 1))               # (N, R, D)
    # forward, every pair: i the image, k the caption
    s = (e.reshape(N * T, D) @ v.reshape(N * R, D).T).reshape(N, T, N, R).transpose(2, 0, 1, 3)
    a = xp.exp(gamma1 * (s - s.max(axis=3, keepdims=True)))
    a /= a.sum(axis=3, keepdims=True)                                # α over the regions (i,k,t,j)
    a2 = xp.ascontiguousarray(a).reshape(N, N * T, R)
    c = (a2 @ v).reshape(N, N, T, D)                                 # c[i,k,t] = Σ_j α v_ij
    nc = xp.sqrt((c * c).sum(axis=3, keepdims=True) + eps)           # (N, N, T, 1)
    ne = xp.sqrt((e * e).sum(axis=2, keepdims=True) + eps)           # (N, T, 1)
    c_hat, e_hat = c / nc, (e / ne)[None]                            # e_hat (1, N, T, D)
    r_t = (c_hat * e_hat).sum(axis=3)                                # (N, N, T) cosines
    z = xp.where(m[None] > 0, gamma2 * r_t, -xp.inf)                # pads: −∞ (weight 0)
    zmax = z.max(axis=2, keepdims=True)
    w = xp.exp(z - zmax)
    lse = xp.log(w.sum(axis=2)) + zmax[..., 0]                       # (N, N)
    w /= w.sum(axis=2, keepdims=True)                                # softmax_t(γ₂ R_t), 0 on pads
    loss, dR = retrieval_cross_entropy(lse / gamma2, gamma3, same)    # R(i, k): (N, N)
    drt = (dR[..., None] * w)[..., None]                             # (N, N, T, 1)
    cos = r_t[..., None]
    dc = drt * (e_hat - cos * c_hat) / nc                            # (N, N, T, D)
    de = (drt * (c_hat - cos * e_hat)).sum(axis=0) / ne              # (N, T, D): Σ over images
    dc2 = dc.reshape(N, N * T, D)
    da = (dc2 @ v.transpose(0, 2, 1)).reshape(N, N, T, R)            # ⟨dc, v_ij⟩
    dv = a2.transpose(0, 2, 1) @ dc2                                 # (N, R, D): Σ_{k,t} α dc
    ds = gamma1 * a * (da - (a * da).sum(axis=3, keepdims=True))     # (i, k, t, j)
    ds_kt = xp.ascontiguousarray(ds.transpose(1, 2, 0, 3)).reshape(N * T, N * R)
    dv += (ds_kt.T @ e.reshape(N * T, D)).reshape(N, R, D)           # Σ_{k,t} ds e_kt
    de += (ds_kt @ v.reshape(N * R, D)).reshape(N, T, D)             # Σ_{i,j} ds v_ij
    de *= m[:, :, None]                                              # padded words: no gradient
    dregions = xp.ascontiguousarray(dv.transpose(0, 2, 1))
    dwords = xp.ascontiguousarray(de.transpose(0, 2, 1))
    return loss, dregions, dwords
