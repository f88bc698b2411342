"""Checks for the exercises of chapter 12 (text-to-image synthesis: Reed et al. 2016's GAN-CLS and
GAN-INT, with AttnGAN's word attention), in the manner of :mod:`minigan.exercises`.

Each ``check_*`` runs the learner's function on several float64 cases, compares it with
minigan's own answer, and either prints one pass line or raises
:class:`~minigan.exercises.ExerciseError` saying which output is wrong and, where the wrong
answer looks like a known mistake, a hint. ``NotImplementedError`` raised by an unfinished
exercise propagates unchanged.

=====================================  ==========  ==============================================
check                                  exercise    the learner writes
=====================================  ==========  ==============================================
check_conv1d_backward                  12.1        conv1d_backward(dy, x, W, stride, padding)
                                                   -> (dx, dW, db)
check_joint_embedding_loss             12.2        joint_embedding_loss(v, t, mismatch, margin)
                                                   -> (loss, dv, dt)
check_attention_softmax_backward       12.3        softmax_backward(da, a) -> ds
check_gan_cls_d_loss                   12.4        gan_cls_d_loss(s_real, s_wrong, s_fake)
                                                   -> (loss, ds_real, ds_wrong, ds_fake)
check_word_attention_backward          12.5        word_attention_backward(dcontext, h, words,
                                                   mask, U) -> (dh, dwords, dU)
=====================================  ==========  ==============================================

Conventions. 12.1: x (N, C, L), W (F, C, K), dy (N, F, OL), dilation 1; Conv1d is
cross-correlation, as torch.nn.Conv1d and minigan.nn.Conv1d (the kernel is NOT flipped):
y[n, f, o] = b[f] + Σ_{c,k} W[f, c, k]·x_pad[n, c, o·s + k]. 12.2: Reed's symmetric hinge on
cosine similarities, as minigan.nn.matching.joint_embedding_loss: S = v̂ t̂ᵀ (rows normalised to
length 1), and with M the mismatch mask (True where examples i and j are of different
descriptions; never on the diagonal)

    L = (1/N) Σ_i Σ_{j ∈ M(i)} [max(0, Δ + S_ij − S_ii) + max(0, Δ + S_ji − S_ii)].

No case puts a hinge at its kink (Δ + S_ij − S_ii = 0), so either subgradient there passes.
12.3: a (N, HW, T) is a softmax over the words (the last axis), exactly 0 on padded words;
ds = ∂L/∂s for the scores s, given da = ∂L/∂a (minigan.nn.WordAttention.backward). 12.4: D's
logits (N, 1) or (N,) on (real image, its text), (real image, a wrong text) and (fake, its text),
GAN-CLS's loss with Reed's weights, as minigan.gans.text2image.Text2Image.train_step:

    L_D = BCE(s_real, 1) + ½ BCE(s_wrong, 0) + ½ BCE(s_fake, 0)   (each BCE a mean over N).

12.5: minigan.nn.WordAttention's backward pass, U (C, D) its weight: dh, dwords and dU (the
sum over the batch) for an upstream gradient of the context.
"""
from __future__ import annotations

import numpy as np

from .checker import by_hand
from .checker import (NONFINITE_LOGITS, _call, _compare, _passed, _quiet, _sigmoid, _softplus,
                      _unpack)

__all__ = ["check_conv1d_backward", "check_joint_embedding_loss",
           "check_attention_softmax_backward", "check_gan_cls_d_loss",
           "check_word_attention_backward"]


# --------------------------------------------------------------------------------------
# Exercise 12.1: the backward pass of a 1-D convolution
# --------------------------------------------------------------------------------------

def _fold(dy, W, L, s, p, *, step=None, assign=False):
    """dx_pad (N, C, L + 2p) of y = conv1d(x, W): tap k of window o sends dy[:, :, o]·W[:, :, k]
    back to x_pad[o·step + k] (step = s is right; step = 1 ignores the stride; assign=True
    overwrites where windows overlap instead of adding: both WRONG, mistakes to recognise)."""
    N, F, OL = dy.shape
    C, K = W.shape[1], W.shape[2]
    step = s if step is None else step
    dx_pad = np.zeros((N, C, L + 2 * p))
    for k in range(K):
        taps = slice(k, k + step * (OL - 1) + 1, step)
        contrib = np.einsum("nfo,fc->nco", dy, W[:, :, k])
        if assign:
            dx_pad[:, :, taps] = contrib
        else:
            dx_pad[:, :, taps] += contrib
    return dx_pad


def _unfold(x, K, s, p, OL, step=None):
    """cols (C·K, N·OL), cols[c·K + k, n·OL + o] = x_pad[n, c, o·step + k] (step = s is right)."""
    N, C, L = x.shape
    step = s if step is None else step
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p)))
    cols = np.stack([x_pad[:, :, k:k + step * (OL - 1) + 1:step] for k in range(K)], axis=1)
    return cols.transpose(2, 1, 0, 3).reshape(C * K, N * OL)       # (C, K, N, OL) flattened


@by_hand("12.1")
@_quiet
def check_conv1d_backward(conv1d_backward, seed=120):
    """Exercise 12.1: ``conv1d_backward(dy, x, W, stride, padding) -> (dx, dW, db)`` for
    y = conv1d(x, W) + b, as minigan.nn.Conv1d (dilation 1): cross-correlation, the kernel not
    flipped, y[n, f, o] = b[f] + Σ_{c,k} W[f, c, k]·x_pad[n, c, o·s + k].

    dy: (N, F, OL), x: (N, C, L), W: (F, C, K); stride, padding: ints; OL = ⌊(L + 2p − K)/s⌋ + 1.
    Cases: batch 1, padding 0 (where a ``[p:-p]`` slice is empty), 1 and 2, stride 1, 2 and 3
    with overlapping windows and odd lengths (stride 3: the last input position is seen by no
    window), K = 1, N = F = C (where db over the wrong axis and a transposed dW keep their
    shapes), F = C·K (where a missing transpose of W keeps the shape).
    """
    from ..kernels import conv_output_size
    from ..nn.temporal import Conv1d
    fn = conv1d_backward
    rng = np.random.default_rng(seed)
    #        case                                     N  C  L   F  K  s  p
    cases = [("batch 1, padding 1",                   1, 2, 7,  3, 3, 1, 1),
             ("padding 0, an odd length",             2, 3, 9,  4, 3, 1, 0),
             ("stride 2, overlapping windows",        3, 2, 11, 5, 3, 2, 1),
             ("stride 3, K = 4, padding 2",           2, 3, 10, 2, 4, 3, 2),
             ("K = 1",                                2, 4, 5,  3, 1, 1, 0),
             ("N = F = C, stride 2",                  3, 3, 8,  3, 2, 2, 1),
             ("F = C·K",                              2, 1, 6,  3, 3, 1, 1)]
    for case, N, C, L, F, K, s, p in cases:
        OL = conv_output_size(L, K, s, p)
        x = rng.standard_normal((N, C, L))
        W = rng.standard_normal((F, C, K))
        b = rng.standard_normal(F)
        dy = rng.standard_normal((N, F, OL))
        layer = Conv1d(C, F, K, stride=s, padding=p, rng=np.random.default_rng(0),
                       dtype="float64")
        layer.params["weight"][...] = W
        layer.params["bias"][...] = b
        _, cache = layer.forward(x)
        layer.zero_grad()
        dx_ref = layer.backward(dy, cache)
        dW_ref, db_ref = layer.grads["weight"].copy(), layer.grads["bias"].copy()

        # the known wrong answers, computed the way a learner would get them
        crop = slice(p, p + L)
        cols = _unfold(x, K, s, p, OL)                                  # (C·K, N·OL)
        dY = dy.transpose(1, 0, 2).reshape(F, -1)                      # (F, N·OL)
        dY_bad = dy.reshape(F, -1)                                     # F not moved first
        Wm = W.reshape(F, -1)

        def fold_cols(dcols):
            """dx from dcols (C·K, N·OL), the right fold."""
            d = dcols.reshape(C, K, N, OL).transpose(2, 0, 1, 3)        # (N, C, K, OL)
            dx_pad = np.zeros((N, C, L + 2 * p))
            for k in range(K):
                dx_pad[:, :, k:k + s * (OL - 1) + 1:s] += d[:, :, k]
            return dx_pad[:, :, crop]

        flipped = ("Conv1d is CROSS-correlation (as torch): y[o] = Σ_k W[k]·x_pad[o·s + k], "
                   "the kernel is not flipped. Your answer is the backward pass of a true "
                   "convolution, y[o] = Σ_k W[K − 1 − k]·x_pad[o·s + k].")
        stride_hint = ("window o starts at o·s in the padded input, so tap k of window o "
                       "reads (and its gradient goes back to) x_pad[o·s + k], not "
                       "x_pad[o + k]: the stride belongs in the backward pass too.")
        layout = ("dy is (N, F, OL) but dY must be (F, N·OL) with the columns in the "
                  "unfold's order (n, o): move F to the front before flattening, "
                  "dY = dy.transpose(1, 0, 2).reshape(F, -1). dy.reshape(F, -1) mixes the "
                  "examples and the filters.")
        out = _call(fn, {"dy": dy, "x": x, "W": W, "stride": s, "padding": p}, case,
                    readonly=("dy", "x", "W"),
                    error_hint="the shapes do not fit. Window o of example n reads "
                    "x_pad[n, :, o·s : o·s + K] (C·K numbers); dx_pad has shape "
                    "(N, C, L + 2p) and dx is its middle L positions. In matrix form: "
                    "cols (C·K, N·OL), W_mat = W.reshape(F, -1), dY (F, N·OL), "
                    "dW_mat = dY·colsᵀ, dcols = W_matᵀ·dY.")
        dx, dW, db = _unpack(fn, out, ("dx", "dW", "db"), case)
        dx_hints = {(N, C, L + 2 * p): "that is the gradient of the PADDED sequence: crop "
                                       "the padding from both ends, dx = dx_pad[:, :, p:p + L].",
                    (N, C, 0): "dx is empty: dx_pad[:, :, p:-p] is empty when p = 0. Slice "
                               "p:p + L instead."}
        if p > 0:
            dx_hints[(N, C, L - 2 * p)] = "you cropped the padding twice."
        dx_mistakes = [
            (_fold(dy, W[:, :, ::-1], L, s, p)[:, :, crop], flipped),
            (_fold(dy, W, L, s, p, step=1)[:, :, crop], stride_hint),
            (fold_cols(Wm.T @ dY_bad), layout),
            (fold_cols(Wm @ dY) if F == C * K else np.zeros(0),
             "dcols = W_matᵀ · dY: did you forget the transpose of W_mat? (Here F = C·K, so "
             "the shapes fit either way.)"),
            (_fold(dy, W, L, s, p, assign=True)[:, :, crop],
             "where windows overlap, a position's gradient is the SUM of what every window "
             "that read it sends back: add (+=) into dx_pad, do not assign (=)."),
            (dx_ref / N, "dx is per example: do not divide by the batch size."),
        ]
        if p > 0:
            dx_mistakes.append((_fold(dy, W, L, s, p)[:, :, :L], "the padding is at BOTH ends: "
                                "dx = dx_pad[:, :, p:p + L], not dx_pad[:, :, :L]."))
        _compare(fn, "dx", dx, dx_ref, case, mistakes=dx_mistakes, shape_hints=dx_hints)
        _compare(fn, "dW", dW, dW_ref, case, mistakes=[
            (dW_ref[:, :, ::-1], flipped),
            ((dY @ _unfold(x, K, s, p, OL, step=1).T).reshape(W.shape), stride_hint),
            (dW_ref.transpose(1, 0, 2), "dW must have W's layout (F, C, K): dW[f, c, k] = "
             "Σ_{n,o} dy[n, f, o]·x_pad[n, c, o·s + k]. Yours is (C, F, K): F and C swapped."),
            ((cols @ dY.T).reshape(W.shape), "missing transpose: dW_mat = dY·colsᵀ has shape "
             "(F, C·K); cols·dYᵀ is its transpose, (C·K, F), and reshaping that to W's shape "
             "scrambles it."),
            ((dY_bad @ cols.T).reshape(W.shape), layout),
            (dW_ref / N, "you divided by the batch size. The layer sums over the batch; the "
             "1/N of a mean belongs to the loss."),
        ], shape_hints={(C * K, F): "dW must have W's shape (F, C, K): "
                                    "dW = (dY·colsᵀ).reshape(W.shape).",
                        (F, C * K): "reshape dW_mat to W's shape (F, C, K).",
                        (N, F, C, K): "W is shared by the examples: sum over the batch too."})
        _compare(fn, "db", db, db_ref, case, mistakes=[
            (dy.mean(axis=(0, 2)), "mean instead of sum: the bias of filter f is added at "
             "every (n, o), so db[f] = Σ_{n,o} dy[n, f, o]."),
            (dy.sum(axis=(1, 2)), "wrong axes: db has one entry per FILTER, the sum over N and "
             "OL: dy.sum(axis=(0, 2)). (axis 1 is F.)"),
            (dy[0].sum(axis=1), "sum over the batch too: db = dy.sum(axis=(0, 2)), not only "
             "the first example."),
        ], shape_hints={
            (N, F): "sum over the batch too: db = dy.sum(axis=(0, 2)), shape (F,).",
            (F, OL): "the bias is added at every output position: sum over OL too, "
                     "db = dy.sum(axis=(0, 2)).",
            (N, OL): "wrong axes: db has one entry per filter, dy.sum(axis=(0, 2)).",
            (N,): "wrong axes: db has one entry per filter, dy.sum(axis=(0, 2)).",
            (): "db has one entry per filter: dy.sum(axis=(0, 2)), shape (F,).",
            (1, F, 1): "db must have b's shape (F,): sum without keepdims."})
    _passed(fn, f"dx, dW and db match minigan's Conv1d on {len(cases)} cases (batch 1, "
            "padding 0/1/2, stride 1/2/3, K = 1, N = F = C, F = C·K).")


# --------------------------------------------------------------------------------------
# Exercise 12.2: Reed's symmetric structured joint embedding
# --------------------------------------------------------------------------------------

def _normalize(u):
    n = np.sqrt((u * u).sum(axis=1, keepdims=True) + 1e-8)     # as minigan.nn.l2_normalize
    return u / n, n


def _norm_back(du_hat, u_hat, n):
    return (du_hat - u_hat * (u_hat * du_hat).sum(axis=1, keepdims=True)) / n


def _joint_variants(v, t, M, margin):
    """(the right loss, the known WRONG answers): each wrong answer is (loss, dv, dt, hint),
    what that mistake gives (loss None: the mistake leaves the loss right)."""
    N = v.shape[0]
    vh, nv = _normalize(v)
    th, nt = _normalize(t)
    S = vh @ th.T
    d = np.diag(S)[:, None]
    m = M.astype(float)
    H_it = np.maximum(0, margin + S - d) * m             # image i, wrong text j
    H_ti = np.maximum(0, margin + S.T - d) * m           # text i, wrong image j
    A, B = (H_it > 0) * 1.0, (H_ti > 0) * 1.0
    idx = np.arange(N)

    def dS_of(A, B, *, diag=True, transpose_B=True, B_axis=1):
        dS = A + (B.T if transpose_B else B)
        if diag:
            dS[idx, idx] -= A.sum(axis=1) + B.sum(axis=B_axis)
        return dS / N

    def grads(dS, back="right"):
        dvh, dth = dS @ th, dS.T @ vh
        if back == "none":
            return dvh, dth
        if back == "divide":
            return dvh / nv, dth / nt
        if back == "project":
            return _norm_back(dvh, vh, 1.0), _norm_back(dth, th, 1.0)
        return _norm_back(dvh, vh, nv), _norm_back(dth, th, nt)

    total = H_it.sum() + H_ti.sum()
    loss = total / N
    dS = dS_of(A, B)
    out = []
    # one direction only
    out.append((H_it.sum() / N, *grads(dS_of(A, 0 * B)),
                "the loss is SYMMETRIC: image i against the wrong texts j (S[i, j]) AND text i "
                "against the wrong images j (S[j, i]), both with S[i, i]. Only one direction "
                "is there."))
    out.append((H_ti.sum() / N, *grads(dS_of(0 * A, B)),
                "the loss is SYMMETRIC: image i against the wrong texts j (S[i, j]) AND text i "
                "against the wrong images j (S[j, i]), both with S[i, i]. Only one direction "
                "is there."))
    # the normaliser
    pairs = ("the loss is a sum over the wrong pairs divided by the batch size N (Reed's "
             "(1/N) Σ_i Σ_j), not a mean over the pairs.")
    for div in {float(M.sum()), 2.0 * M.sum(), float(N * (N - 1))} - {float(N)}:
        if div > 0:
            out.append((total / div, *grads(dS * N / div), pairs))
    out.append((total, *grads(dS * N), "divide the sum of the hinges by the batch size N."))
    # the mask
    masks = ("two examples of the SAME description are not a wrong pair (their captions fit "
             "both images): multiply the hinges by the mismatch mask M, which is False for "
             "them and on the diagonal.")
    for m2 in (~np.eye(N, dtype=bool), np.ones((N, N), dtype=bool)):
        f2 = m2.astype(float)
        h1 = np.maximum(0, margin + S - d) * f2
        h2 = np.maximum(0, margin + S.T - d) * f2
        out.append(((h1.sum() + h2.sum()) / N, *grads(dS_of((h1 > 0) * 1.0, (h2 > 0) * 1.0)),
                    masks))
    # cosine, not dot products
    P = v @ t.T
    dP = np.diag(P)[:, None]
    g1 = np.maximum(0, margin + P - dP) * m
    g2 = np.maximum(0, margin + P.T - dP) * m
    dSp = ((g1 > 0) * 1.0 + ((g2 > 0) * 1.0).T)
    dSp[idx, idx] -= (g1 > 0).sum(axis=1) + (g2 > 0).sum(axis=1)
    out.append(((g1.sum() + g2.sum()) / N, dSp @ t / N, dSp.T @ v / N,
                "S holds COSINE similarities: normalise the rows of v and t to length 1 "
                "first (S = v̂ t̂ᵀ), not the raw dot products v tᵀ."))
    # the gradient only
    out.append((None, *grads(dS, "none"), "that is the gradient with respect to v̂ = v/‖v‖ "
                "(and t̂): go back through the normalisation too, "
                "dv = (dv̂ − v̂⟨v̂, dv̂⟩)/‖v‖, row by row."))
    out.append((None, *grads(dS, "divide"), "the normalisation's backward has two parts: "
                "remove the part of dv̂ along v̂ (stretching v does not change v̂), THEN "
                "divide by ‖v‖: dv = (dv̂ − v̂⟨v̂, dv̂⟩)/‖v‖."))
    out.append((None, *grads(dS, "project"), "the normalisation's backward divides by the "
                "norm: dv = (dv̂ − v̂⟨v̂, dv̂⟩)/‖v‖, not (dv̂ − v̂⟨v̂, dv̂⟩)."))
    out.append((None, *grads(dS_of(A, B, diag=False)), "S[i, i] is in every hinge of row i "
                "(with a minus sign): each active hinge also sends −1 to dS[i, i], "
                "dS[i, i] −= Σ_j (A[i, j] + B[i, j])."))
    out.append((None, *grads(dS_of(A, B, transpose_B=False)), "the text-to-image hinge "
                "max(0, Δ + S[j, i] − S[i, i]) is about S[j, i]: its +1 goes to dS[j, i], "
                "the TRANSPOSE of where the image-to-text hinge's goes."))
    out.append((None, *grads(dS_of(A, B, B_axis=0)), "each active hinge of example i, in "
                "either direction, sends −1 to dS[i, i]: dS[i, i] −= Σ_j (A[i, j] + B[i, j]), "
                "both summed over j (axis 1)."))
    A0 = ((S - d > 0) * m)
    B0 = ((S.T - d > 0) * m)
    out.append((None, *grads(dS_of(A0, B0)), "a hinge max(0, Δ + S[i, j] − S[i, i]) is "
                "active where Δ + S[i, j] − S[i, i] > 0, margin included: a wrong caption "
                "that scores below the right one by less than Δ still pushes."))
    return loss, out


def _hinge_gap(v, t, M, margin):
    """The smallest |Δ + S[i, j] − S[i, i]| (either direction) over the wrong pairs."""
    vh, _ = _normalize(v)
    th, _ = _normalize(t)
    S = vh @ th.T
    d = np.diag(S)[:, None]
    return min(np.abs(margin + S - d)[M].min(), np.abs(margin + S.T - d)[M].min())


@by_hand("12.2")
@_quiet
def check_joint_embedding_loss(joint_embedding_loss, seed=121):
    """Exercise 12.2: ``joint_embedding_loss(v, t, mismatch, margin) -> (loss, dv, dt)``,
    Reed's symmetric structured joint embedding on cosine similarities, as
    minigan.nn.matching.joint_embedding_loss.

    v, t: (N, E) image and text embeddings, row i of each example i's; mismatch: (N, N) bool,
    True where examples i and j are of different descriptions (False on the diagonal and for
    two captions of one description); margin Δ ≥ 0. With S = v̂ t̂ᵀ (rows of v and t scaled to
    length 1): L = (1/N) Σ_i Σ_{j: mismatch[i, j]} [max(0, Δ + S_ij − S_ii) + max(0, Δ + S_ji
    − S_ii)]. Cases: all descriptions different, pairs of the same description (masked), a
    batch of 2, margin 0, a margin so large that every hinge is active, unequal norms and an odd
    size. No hinge sits at its kink: every Δ + S_ij − S_ii is at least 1e-3 away from 0.
    """
    from ..nn.matching import joint_embedding_loss as reference, mismatch_mask
    fn = joint_embedding_loss
    rng = np.random.default_rng(seed)
    #        case                                           E  margin  descriptions
    cases = [("5 examples, all of different descriptions",  6, 0.2,   [0, 1, 2, 3, 4]),
             ("two captions of one description (masked)",   5, 0.25,  [0, 1, 0, 2, 1, 3]),
             ("a batch of 2",                               4, 0.3,   [0, 1]),
             ("margin 0",                                   3, 0.0,   [0, 1, 2, 0]),
             ("a margin of 2.5: every hinge active",        4, 2.5,   [0, 1, 2]),
             ("unequal norms, odd sizes",                   7, 0.5,   [0, 1, 2, 3, 0, 1, 2])]
    for case, E, margin, groups in cases:
        M = mismatch_mask(np.array(groups))
        N = len(groups)
        for _ in range(1000):               # resample until no hinge is within 1e-3 of its kink
            v = rng.standard_normal((N, E)) * rng.uniform(0.5, 3.0, (N, 1))
            vh = v / np.linalg.norm(v, axis=1, keepdims=True)
            t = (0.5 * vh + 0.8 * rng.standard_normal((N, E)) / np.sqrt(E)) \
                * rng.uniform(0.5, 3.0, (N, 1))
            if _hinge_gap(v, t, M, margin) > 1e-3:
                break
        loss_ref, dv_ref, dt_ref = reference(v, t, M, margin)
        loss_right, wrong = _joint_variants(v, t, M, margin)
        assert abs(loss_right - loss_ref) < 1e-12, "check_joint_embedding_loss's own reference"
        out = _call(fn, {"v": v, "t": t, "mismatch": M, "margin": margin}, case,
                    readonly=("v", "t", "mismatch"),
                    error_hint="S = v̂ t̂ᵀ is (N, N); S[i, i] as a column, np.diag(S)[:, None] "
                    "(N, 1), broadcasts against it. mismatch is a boolean (N, N) mask.")
        loss, dv, dt = _unpack(fn, out, ("loss", "dv", "dt"), case)
        _compare(fn, "the loss", loss, loss_ref, case,
                 mistakes=[(lw, h) for lw, _, _, h in wrong if lw is not None],
                 shape_hints={(N, N): "the loss is one number: sum the hinges, divide by N.",
                              (N,): "the loss is one number: sum over i too."})
        _compare(fn, "dv", dv, dv_ref, case, mistakes=[(g, h) for _, g, _, h in wrong])
        _compare(fn, "dt", dt, dt_ref, case, mistakes=[(g, h) for _, _, g, h in wrong])
    _passed(fn, f"loss, dv and dt match Reed's symmetric hinge on {len(cases)} cases "
            "(a batch of 2, masked pairs, margin 0, every hinge active, unequal norms).")


# --------------------------------------------------------------------------------------
# Exercise 12.3: the backward pass of the attention's softmax
# --------------------------------------------------------------------------------------

def _masked_softmax(s, mask):
    """softmax over the last axis of s (N, HW, T), exactly 0 where mask (N, T) is False."""
    keep = mask[:, None, :]
    s = np.where(keep, s, -np.inf)
    ex = np.exp(s - s.max(axis=2, keepdims=True))
    return ex / ex.sum(axis=2, keepdims=True)


@by_hand("12.3")
@_quiet
def check_attention_softmax_backward(softmax_backward, seed=122):
    """Exercise 12.3: ``softmax_backward(da, a) -> ds`` for the word attention's softmax, as in
    minigan.nn.WordAttention.backward: a (N, HW, T), a[n, j] = softmax over the words t of the
    scores s[n, j], exactly 0 on padded words (their score is −∞); da = ∂L/∂a (N, HW, T),
    any values, padded words included. Returns ds = ∂L/∂s (N, HW, T):

        ds = a ⊙ (da − Σ_t a·da)       (the sum over the words, one per row (n, j))

    Checked against finite differences on one case. Cases: batch 1 without padding, captions
    of different lengths, a caption of one word (its row is all 1 and 0: ds = 0), HW = T
    (where a sum over the wrong axis keeps every shape), a peaked attention.
    """
    fn = softmax_backward
    rng = np.random.default_rng(seed)
    #        case                                   N  HW T  words per caption  score scale
    cases = [("batch 1, no padding",                1, 4, 5, [5],               1.0),
             ("captions of different lengths",      3, 6, 7, [7, 4, 2],         1.5),
             ("a caption of one word",              2, 5, 4, [1, 4],            1.0),
             ("HW = T, odd sizes",                  3, 5, 5, [5, 3, 5],         2.0),
             ("a peaked attention",                 2, 9, 6, [6, 5],            5.0)]
    for ci, (case, N, HW, T, lengths, scale) in enumerate(cases):
        mask = np.arange(T)[None, :] < np.array(lengths)[:, None]      # (N, T)
        s = scale * rng.standard_normal((N, HW, T))
        a = _masked_softmax(s, mask)
        da = rng.standard_normal((N, HW, T))
        ad = (a * da).sum(axis=2, keepdims=True)
        ds_ref = a * (da - ad)
        if ci == 1:                                        # the reference, held to FD
            h, fd = 1e-6, np.zeros_like(s)
            for i in zip(*np.nonzero(np.broadcast_to(mask[:, None, :], s.shape))):
                sp, sm = s.copy(), s.copy()
                sp[i] += h
                sm[i] -= h
                fd[i] = ((da * _masked_softmax(sp, mask)).sum()
                         - (da * _masked_softmax(sm, mask)).sum()) / (2 * h)
            assert np.max(np.abs(fd - ds_ref)) < 1e-7, "check_attention_softmax_backward's own"
        out = _call(fn, {"da": da, "a": a}, case, readonly=("da", "a"),
                    error_hint="Σ_t a·da is one number per row (n, j): sum over the LAST axis "
                    "with keepdims=True, shape (N, HW, 1), so that it broadcasts against "
                    "(N, HW, T).")
        (ds,) = _unpack(fn, out, ("ds",), case)
        _compare(fn, "ds", ds, ds_ref, case, mistakes=[
            (da * a * (1 - a), "that is only the diagonal of the softmax's Jacobian, "
             "∂a_t/∂s_t = a_t(1 − a_t). Every a_t depends on every score: ∂a_t/∂s_u = "
             "a_t(δ_tu − a_u), so ds_u = a_u(da_u − Σ_t a_t da_t)."),
            (a * (da - (a * da).sum(axis=1, keepdims=True)), "the softmax is over the WORDS, "
             "the last axis: Σ_t a·da is a sum over axis 2 (one number per region), not over "
             "the regions (axis 1)."),
            (a * (da - (a * da).sum(axis=(1, 2), keepdims=True)), "Σ_t a·da is a sum over the "
             "words only (axis 2, one number per row (n, j)), not over the regions as well."),
            (da - ad, "the factor a is missing: ds = a ⊙ (da − Σ_t a·da). (Without it, padded "
             "words, where a = 0, get a gradient.)"),
            (a * (da - da.sum(axis=2, keepdims=True)), "the sum is weighted by the attention: "
             "Σ_t a_t·da_t, not Σ_t da_t."),
            (a * da, "the softmax's normalisation couples the words: subtract Σ_t a·da, "
             "ds = a ⊙ (da − Σ_t a·da)."),
            (a * (da - (a * da).mean(axis=2, keepdims=True)), "Σ_t a·da is a sum over the "
             "words, not a mean (the weights a already sum to 1)."),
            (a * (ad - da), "the sign is reversed: ds = a ⊙ (da − Σ_t a·da)."),
        ], nonfinite="a is exactly 0 on padded words: nothing should be divided by a or "
                     "take its log.",
            shape_hints={(N, HW): "ds has a's shape (N, HW, T): one gradient per score.",
                         (N, HW, 1): "ds has a's shape (N, HW, T): a ⊙ (da − Σ_t a·da)."})
    _passed(fn, f"ds matches the softmax's backward (and finite differences) on {len(cases)} "
            "cases (padded words, a one-word caption, HW = T, a peaked attention).")


# --------------------------------------------------------------------------------------
# Exercise 12.4: GAN-CLS's discriminator loss
# --------------------------------------------------------------------------------------

@by_hand("12.4")
@_quiet
def check_gan_cls_d_loss(gan_cls_d_loss, seed=123):
    """Exercise 12.4: ``gan_cls_d_loss(s_real, s_wrong, s_fake) -> (loss, ds_real, ds_wrong,
    ds_fake)``, the matching-aware discriminator's loss of GAN-CLS with Reed's weights, as
    minigan.gans.text2image.Text2Image.train_step:

        L_D = BCE(s_real, 1) + ½ BCE(s_wrong, 0) + ½ BCE(s_fake, 0)

    s_real = D(x, φ(t)) (a real image, its own text), s_wrong = D(x, φ(t̂)) (a real image, a
    text of another description), s_fake = D(G(z, φ(t)), φ(t)): logits, (N, 1) or (N,), each
    BCE the mean over its N logits, computed from the logits (stable at ±1000). The gradients
    are with respect to the three logit arrays, each of its array's shape. Cases: batch 1, odd
    sizes, a 1-D batch, a D sure of itself, logits of ±1000.
    """
    from ..nn.losses import bce_with_logits
    fn = gan_cls_d_loss
    rng = np.random.default_rng(seed)
    cases = [("batch 1", rng.standard_normal((1, 1)), rng.standard_normal((1, 1)),
              rng.standard_normal((1, 1))),
             ("odd sizes", 2 * rng.standard_normal((5, 1)), 2 * rng.standard_normal((5, 1)),
              2 * rng.standard_normal((5, 1))),
             ("a 1-D batch (N,)", rng.standard_normal(7), rng.standard_normal(7),
              rng.standard_normal(7)),
             ("D sure of itself", np.array([[6.0], [8.0], [5.5]]),
              np.array([[-7.0], [-5.0], [-6.5]]), np.array([[-9.0], [-6.0], [-8.0]])),
             ("logits of \u00b11000", np.array([[1000.0], [-1000.0], [2.0]]),
              np.array([[-1000.0], [1000.0], [0.5]]), np.array([[1000.0], [-1000.0], [-1.5]]))]
    for case, r, w, f in cases:
        N = r.size
        l_r, g_r = bce_with_logits(r, np.ones_like(r))
        l_w, g_w = bce_with_logits(w, np.zeros_like(w))
        l_f, g_f = bce_with_logits(f, np.zeros_like(f))
        loss_ref = l_r + 0.5 * l_w + 0.5 * l_f
        sr, sw, sf = _sigmoid(r), _sigmoid(w), _sigmoid(f)
        out = _call(fn, {"s_real": r, "s_wrong": w, "s_fake": f}, case,
                    readonly=("s_real", "s_wrong", "s_fake"))
        loss, dr, dw, df = _unpack(fn, out, ("loss", "ds_real", "ds_wrong", "ds_fake"), case)
        halves = ("Reed's weights are (1, ½, ½): L_D = BCE(s_real, 1) + ½ BCE(s_wrong, 0) + "
                  "½ BCE(s_fake, 0). The two ways of being fake share the weight of the real "
                  "term.")
        wrong_real = ("a real image with a WRONG text is a negative in GAN-CLS: target 0, "
                      "BCE(s_wrong, 0). That is what makes D check that image and text match.")
        fake_one = "fakes are negatives: BCE(s_fake, 0), target 0 (D's loss, not G's)."
        all_3n = ("each term is its own mean over its N logits, weighted (1, ½, ½); not one "
                  "mean over all 3N logits (which weighs the three terms ⅓ each).")
        no_n = ("each BCE is a MEAN over its N logits, so each gradient carries 1/N: "
                f"ds_real = (σ(s_real) − 1)/N, N = {N}.")
        _compare(fn, "the loss", loss, loss_ref, case, mistakes=[
            (l_r + l_w + l_f, halves),
            ((l_r + l_w + l_f) / 3, all_3n),
            (0.5 * (l_r + l_w + l_f), halves),
            (l_r + 0.5 * _softplus(-w).mean() + 0.5 * l_f, wrong_real),
            (l_r + 0.5 * l_w + 0.5 * _softplus(-f).mean(), fake_one),
            (N * loss_ref, "each BCE is the MEAN over its batch, not the sum."),
            (-loss_ref, "D minimises the cross-entropy: the loss is positive."),
            (_softplus(r).mean() + 0.5 * _softplus(-w).mean() + 0.5 * _softplus(-f).mean(),
             "the targets are swapped: real with its text has target 1, the other two 0."),
        ], nonfinite=NONFINITE_LOGITS, shape_hints={r.shape: "the loss is one number."})
        _compare(fn, "ds_real", dr, g_r, case, mistakes=[
            (sr - 1, no_n),
            ((sr - 1) / (3 * N), all_3n),
            (0.5 * g_r, halves),
            ((1 - sr) / N, "wrong sign: ∂(−log σ(r))/∂r = σ(r) − 1, negative: D raises the "
             "logits of real images with their own text."),
            (sr / N, "a real image with its own text has target 1: (σ(s_real) − 1)/N."),
        ], nonfinite=NONFINITE_LOGITS)
        _compare(fn, "ds_wrong", dw, 0.5 * g_w, case, mistakes=[
            (0.5 * sw, no_n),
            (g_w, halves),
            (sw / (3 * N), all_3n),
            (0.5 * (sw - 1) / N, wrong_real),
            (-0.5 * sw / N, "wrong sign: ∂(−log(1 − σ(w)))/∂w = σ(w), positive: D lowers the "
             "logits of real images with a wrong text."),
            (0.5 * g_f, "return the outputs in the order (loss, ds_real, ds_wrong, ds_fake): "
             "that is ds_fake."),
        ], nonfinite=NONFINITE_LOGITS)
        _compare(fn, "ds_fake", df, 0.5 * g_f, case, mistakes=[
            (0.5 * sf, no_n),
            (g_f, halves),
            (sf / (3 * N), all_3n),
            (0.5 * (sf - 1) / N, fake_one),
            (-0.5 * sf / N, "wrong sign: ∂(−log(1 − σ(f)))/∂f = σ(f), positive: D lowers the "
             "logits of fakes."),
            (0.5 * g_w, "return the outputs in the order (loss, ds_real, ds_wrong, ds_fake): "
             "that is ds_wrong."),
        ], nonfinite=NONFINITE_LOGITS)
    _passed(fn, f"the loss and its three gradients match GAN-CLS's L_D (weights 1, ½, ½) on "
            f"{len(cases)} cases (incl. logits of \u00b11000).")


# --------------------------------------------------------------------------------------
# Exercise 12.5: the backward pass of AttnGAN's word attention
# --------------------------------------------------------------------------------------

def _attention_parts(h, words, mask, U):
    """The forward pass of minigan.nn.WordAttention: r, the words (0 where padded), e, a."""
    N, C, H, W = h.shape
    words = np.where(mask[:, None, :], words, 0.0)
    e = np.matmul(U, words)                                      # (N, C, T)
    r = h.reshape(N, C, H * W)                                   # (N, C, HW)
    s = np.matmul(r.transpose(0, 2, 1), e)                       # (N, HW, T)
    return r, words, e, _masked_softmax(s, mask)


def _attention_backward(dcontext, r, words, e, a, mask, U, *, scores=True, context=True,
                        diagonal=False):
    """(dh, dwords, dU) of the word attention; the keywords switch a path off or use only the
    softmax's diagonal (WRONG answers, to recognise)."""
    N, C, HW = r.shape
    dc = dcontext.reshape(N, C, HW)
    da = np.matmul(dc.transpose(0, 2, 1), e)                     # (N, HW, T)
    ds = da * a * (1 - a) if diagonal else a * (da - (a * da).sum(axis=2, keepdims=True))
    dr = np.matmul(e, ds.transpose(0, 2, 1))                     # (N, C, HW)
    de = np.zeros_like(e)
    if context:
        de = de + np.matmul(dc, a)
    if scores:
        de = de + np.matmul(r, ds)
    dU = np.einsum("nct,ndt->cd", de, words)
    dwords = np.where(mask[:, None, :], np.matmul(U.T, de), 0.0)
    return dr.reshape(dcontext.shape), dwords, dU


@by_hand("12.5")
@_quiet
def check_word_attention_backward(word_attention_backward, seed=124):
    """Exercise 12.5: ``word_attention_backward(dcontext, h, words, mask, U) -> (dh, dwords,
    dU)``, the backward pass of AttnGAN's word attention, as minigan.nn.WordAttention:

        e = U·words (N, C, T) (padded words set to 0 first), r = h as (N, C, HW),
        s[n, j, t] = Σ_c r[n, c, j]·e[n, c, t],  a = softmax over the words t of s (a = 0 on
        padded words),  context[n, :, j] = Σ_t a[n, j, t]·e[n, :, t], as (N, C, H, W).

    h: (N, C, H, W), words: (N, D, T), mask: (N, T) bool (True: a real word), U: (C, D),
    dcontext: (N, C, H, W). Returns dh (N, C, H, W), dwords (N, D, T) (0 on padded words) and
    dU (C, D), summed over the batch. e reaches the output twice, through the context and
    through the scores; the softmax's backward is Exercise 12.3's. Cases: batch 1 without
    padding, captions of different lengths, C = D (where a transposed dU keeps its shape), a
    caption of one word, odd sizes.
    """
    from ..nn.temporal import WordAttention
    fn = word_attention_backward
    rng = np.random.default_rng(seed)
    #        case                                N  C  D  H  W  T  words per caption
    cases = [("batch 1, no padding",             1, 3, 4, 2, 3, 5, [5]),
             ("captions of different lengths",   3, 4, 2, 3, 2, 6, [6, 3, 1]),
             ("C = D",                           2, 3, 3, 2, 2, 4, [4, 2]),
             ("a caption of one word",           2, 2, 5, 3, 3, 3, [1, 3]),
             ("odd sizes",                       3, 5, 3, 3, 1, 7, [7, 5, 6])]
    for case, N, C, D, H, W, T, lengths in cases:
        mask = np.arange(T)[None, :] < np.array(lengths)[:, None]
        h = rng.standard_normal((N, C, H, W))
        words = rng.standard_normal((N, D, T))
        U = rng.standard_normal((C, D)) / np.sqrt(D) * 1.5
        dcontext = rng.standard_normal((N, C, H, W))
        layer = WordAttention(C, D, rng=np.random.default_rng(0), dtype="float64")
        layer.params["weight"][...] = U
        _, cache = layer.forward(h, words, mask)
        layer.zero_grad()
        dh_ref, dwords_ref = layer.backward(dcontext, cache)
        dU_ref = layer.grads["weight"].copy()

        r, w0, e, a = _attention_parts(h, words, mask, U)
        no_scores = _attention_backward(dcontext, r, w0, e, a, mask, U, scores=False)
        no_context = _attention_backward(dcontext, r, w0, e, a, mask, U, context=False)
        diag = _attention_backward(dcontext, r, w0, e, a, mask, U, diagonal=True)
        everything = np.ones_like(mask)              # the mask ignored: padding as words
        unmasked = _attention_backward(dcontext, *_attention_parts(h, words, everything, U),
                                       everything, U)
        no_scores_hint = ("e reaches the output twice: through the context (de += dc·a) AND "
                          "through the scores s = rᵀe (de += r·ds). The scores' share is "
                          "missing.")
        no_context_hint = ("e reaches the output twice: through the context (de += dc·a) AND "
                           "through the scores s = rᵀe (de += r·ds). The context's share is "
                           "missing.")
        diag_hint = ("the softmax's backward is ds = a ⊙ (da − Σ_t a·da) (Exercise 12.3), "
                     "not the diagonal da ⊙ a(1 − a).")
        mask_hint = ("padded words get the score −∞ (a = 0 exactly) before the softmax: only "
                     "the real words of a caption share its attention.")
        out = _call(fn, {"dcontext": dcontext, "h": h, "words": words, "mask": mask, "U": U},
                    case, readonly=("dcontext", "h", "words", "mask", "U"),
                    error_hint="batched products: np.matmul multiplies the last two axes of "
                    "(N, ·, ·) arrays. r (N, C, HW), e (N, C, T), a (N, HW, T): da = dcᵀ·e "
                    "(N, HW, T), dr = e·dsᵀ (N, C, HW), de = dc·a + r·ds (N, C, T).")
        dh, dwords, dU = _unpack(fn, out, ("dh", "dwords", "dU"), case)
        _compare(fn, "dh", dh, dh_ref, case, mistakes=[
            (diag[0], diag_hint), (unmasked[0], mask_hint)],
            shape_hints={(N, C, H * W): "dh has h's shape (N, C, H, W): reshape dr back."})
        _compare(fn, "dwords", dwords, dwords_ref, case, mistakes=[
            (no_scores[1], no_scores_hint), (no_context[1], no_context_hint),
            (diag[1], diag_hint),
            (unmasked[1], mask_hint)])
        _compare(fn, "dU", dU, dU_ref, case, mistakes=[
            (no_scores[2], no_scores_hint), (no_context[2], no_context_hint),
            (diag[2], diag_hint),
            (unmasked[2], mask_hint),
            (dU_ref.T, "dU must have U's layout (C, D): dU = Σ_n de[n]·words[n]ᵀ, not "
             "words·deᵀ."),
            (dU_ref / N, "U is shared by the examples: dU is the SUM over the batch, not the "
             "mean."),
        ], shape_hints={(N, C, D): "U is shared by the examples: sum de[n]·words[n]ᵀ over "
                        "the batch too, shape (C, D)."})
    _passed(fn, f"dh, dwords and dU match minigan's WordAttention on {len(cases)} cases "
            "(padded words, a one-word caption, C = D).")
