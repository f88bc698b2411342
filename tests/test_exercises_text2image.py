"""The checks of chapter 12's exercises accept correct answers, written as a learner would and in
several forms, and reject plausible wrong ones, each with the hint that names the mistake."""
import numpy as np
import pytest

from minigan.exercises import ch12_text2image as ex
from minigan.exercises import ExerciseError

from exercise_helpers import check_tests


# --- 12.1 --------------------------------------------------------------------------------------

def conv1d_backward(dy, x, W, stride, padding, *, mistake=None):
    """Tap by tap: tap k of every window reads x_pad[:, :, o·s + k] for o = 0 … OL − 1."""
    N, C, L = x.shape
    F, _, K = W.shape
    OL = dy.shape[2]
    s, p = stride, padding
    s_dx = 1 if mistake == "stride_ignored" else s
    s_dW = 1 if mistake == "stride_ignored_dW" else s
    Wk = W[:, :, ::-1] if mistake == "flip" else W
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p)))
    dx_pad = np.zeros((N, C, L + 2 * p))
    dW = np.zeros((F, C, K))
    for k in range(K):
        taps_dx = slice(k, k + s_dx * (OL - 1) + 1, s_dx)
        contrib = np.einsum("nfo,fc->nco", dy, Wk[:, :, k])      # (N, C, OL)
        if mistake == "assign":
            dx_pad[:, :, taps_dx] = contrib
        else:
            dx_pad[:, :, taps_dx] += contrib
        dW[:, :, k] = np.einsum("nfo,nco->fc", dy, x_pad[:, :, k:k + s_dW * (OL - 1) + 1:s_dW])
    if mistake in ("flip", "flip_dW"):
        dW = dW[:, :, ::-1]
    if mistake == "no_crop":
        dx = dx_pad
    elif mistake == "crop_negative":
        dx = dx_pad[:, :, p:-p]
    elif mistake == "crop_one_end":
        dx = dx_pad[:, :, :L]
    else:
        dx = dx_pad[:, :, p:p + L]
    db = {"db_no_batch": lambda: dy.sum(axis=2), "db_no_length": lambda: dy.sum(axis=0),
          "db_wrong_axes": lambda: dy.sum(axis=(1, 2)), "db_mean": lambda: dy.mean(axis=(0, 2)),
          }.get(mistake, lambda: dy.sum(axis=(0, 2)))()
    if mistake == "dW_transposed":
        dW = dW.transpose(1, 0, 2)
    if mistake == "dx_over_N":
        dx = dx / N
    if mistake == "dW_over_N":
        dW = dW / N
    return dx, dW, db


def conv1d_backward_unfold(dy, x, W, stride, padding, *, mistake=None):
    """Another right form: the unfold, as im2col in chapter 4, and two matrix products."""
    N, C, L = x.shape
    F, _, K = W.shape
    OL = dy.shape[2]
    s, p = stride, padding
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p)))
    cols = np.empty((C, K, N, OL))
    for k in range(K):
        cols[:, k] = x_pad[:, :, k:k + s * (OL - 1) + 1:s].transpose(1, 0, 2)
    cols = cols.reshape(C * K, N * OL)
    dY = dy.reshape(F, -1) if mistake == "layout" else dy.transpose(1, 0, 2).reshape(F, -1)
    W_mat = W.reshape(F, -1)
    dW = ((cols @ dY.T).reshape(W.shape) if mistake == "dW_scrambled"
          else (dY @ cols.T).reshape(W.shape))
    dcols = (W_mat.T @ dY).reshape(C, K, N, OL)
    dx_pad = np.zeros((N, C, L + 2 * p))
    for k in range(K):
        dx_pad[:, :, k:k + s * (OL - 1) + 1:s] += dcols[:, k].transpose(1, 0, 2)
    return dx_pad[:, :, p:p + L], dW, dy.sum(axis=(0, 2))


def conv1d_backward_loops(dy, x, W, stride, padding):
    """Another right form: every term of y[n, f, o] = Σ W[f, c, k]·x_pad[n, c, o·s + k]."""
    N, C, L = x.shape
    F, _, K = W.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    dx_pad, dW = np.zeros_like(x_pad), np.zeros_like(W)
    for n in range(N):
        for f in range(F):
            for o in range(dy.shape[2]):
                i = o * stride
                dW[f] += dy[n, f, o] * x_pad[n, :, i:i + K]
                dx_pad[n, :, i:i + K] += dy[n, f, o] * W[f]
    return dx_pad[:, :, padding:padding + L], dW, dy.sum(axis=(0, 2))


def test_conv1d_forms_agree_with_torch_convention():
    """The reference forms are cross-correlation, as the library's Conv1d (torch's)."""
    from minigan.nn import Conv1d
    rng = np.random.default_rng(0)
    x, W = rng.standard_normal((2, 3, 9)), rng.standard_normal((4, 3, 3))
    layer = Conv1d(3, 4, 3, stride=2, padding=1, dtype="float64")
    layer.params["weight"][...] = W
    layer.params["bias"][...] = 0
    y, cache = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    layer.zero_grad()
    dx = layer.backward(dy, cache)
    for form in (conv1d_backward, conv1d_backward_unfold, conv1d_backward_loops):
        a, b, c = form(dy, x, W, 2, 1)
        assert np.allclose(a, dx) and np.allclose(b, layer.grads["weight"])
        assert np.allclose(c, dy.sum(axis=(0, 2)))


# --- 12.2 --------------------------------------------------------------------------------------

def joint_embedding_loss(v, t, mismatch, margin, *, mistake=None):
    N = v.shape[0]
    nv = np.sqrt((v * v).sum(axis=1, keepdims=True) + 1e-8)
    nt = np.sqrt((t * t).sum(axis=1, keepdims=True) + 1e-8)
    vh, th = v / nv, t / nt
    if mistake == "dot":
        vh, th, nv, nt = v, t, 1.0, 1.0
    S = vh @ th.T
    d = np.diag(S)[:, None]
    M = {"no_mask": ~np.eye(N, dtype=bool),
         "no_mask_at_all": np.ones((N, N), dtype=bool)}.get(mistake, mismatch).astype(float)
    H1 = np.maximum(0, margin + S - d) * M
    H2 = np.maximum(0, margin + S.T - d) * M
    if mistake == "it_only":
        H2 = 0 * H2
    if mistake == "ti_only":
        H1 = 0 * H1
    div = {"pairs_mean": M.sum(), "no_N": 1.0}.get(mistake, N)
    loss = (H1.sum() + H2.sum()) / div
    if mistake == "indicator_no_margin":
        A, B = (S - d > 0) * M, (S.T - d > 0) * M
    else:
        A, B = (H1 > 0) * 1.0, (H2 > 0) * 1.0
    dS = A + (B if mistake == "B_not_transposed" else B.T)
    if mistake != "no_diag":
        i = np.arange(N)
        dS[i, i] -= A.sum(axis=1) + B.sum(axis=0 if mistake == "B_axis0" else 1)
    dS = dS / div
    dvh, dth = dS @ th, dS.T @ vh
    if mistake in ("no_norm_back", "dot"):
        return loss, dvh, dth
    if mistake == "divide_only":
        return loss, dvh / nv, dth / nt
    dv = dvh - vh * (vh * dvh).sum(axis=1, keepdims=True)
    dt = dth - th * (th * dth).sum(axis=1, keepdims=True)
    if mistake == "project_only":
        return loss, dv, dt
    return loss, dv / nv, dt / nt


def joint_embedding_loss_loops(v, t, mismatch, margin):
    """Another right form: pair by pair, np.linalg.norm (no eps), and a hinge counted active
    where its argument is >= 0 (the checks put no hinge at its kink, so both subgradients
    pass)."""
    N = v.shape[0]
    nv = np.linalg.norm(v, axis=1)
    nt = np.linalg.norm(t, axis=1)
    vh, th = v / nv[:, None], t / nt[:, None]
    S = vh @ th.T
    dS = np.zeros_like(S)
    loss = 0.0
    for i in range(N):
        for j in range(N):
            if not mismatch[i, j]:
                continue
            for (a, b) in ((i, j), (j, i)):          # image i / text j, then text i / image j
                u = margin + S[a, b] - S[i, i]
                if u >= 0:
                    loss += u
                    dS[a, b] += 1
                    dS[i, i] -= 1
    dS /= N
    dvh, dth = dS @ th, dS.T @ vh
    dv = np.stack([(dvh[i] - vh[i] * (vh[i] @ dvh[i])) / nv[i] for i in range(N)])
    dt = np.stack([(dth[i] - th[i] * (th[i] @ dth[i])) / nt[i] for i in range(N)])
    return loss / N, dv, dt


def joint_embedding_loss_columns(v, t, mismatch, margin):
    """Another right form: the text-to-image hinges indexed the other way round, text j
    against the wrong image i, max(0, Δ + S[i, j] − S[j, j]) (the diagonal as a ROW; the mask
    is symmetric, so the sum is the same), and the normalisation's Jacobian as a matrix."""
    N, E = v.shape
    m = mismatch.astype(float)

    def unit(u):
        n = np.sqrt((u ** 2).sum(1) + 1e-8)
        return u / n[:, None], n

    vh, nv = unit(v)
    th, nt = unit(t)
    S = vh @ th.T
    H_rows = np.maximum(0, margin + S - np.diag(S)[:, None]) * m     # image i, wrong text j
    H_cols = np.maximum(0, margin + S - np.diag(S)[None, :]) * m     # text j, wrong image i
    A, B = (H_rows > 0) / N, (H_cols > 0) / N
    dS = A + B - np.diag(A.sum(1) + B.sum(0))
    J = lambda uh, n: (np.eye(E) - np.outer(uh, uh)) / n               # ∂û/∂u, symmetric
    dv = np.stack([J(vh[i], nv[i]) @ (dS @ th)[i] for i in range(N)])
    dt = np.stack([J(th[i], nt[i]) @ (dS.T @ vh)[i] for i in range(N)])
    return (H_rows.sum() + H_cols.sum()) / N, dv, dt


def test_joint_embedding_forms_agree_with_the_library():
    from minigan.nn.matching import joint_embedding_loss as library, mismatch_mask
    rng = np.random.default_rng(1)
    v, t = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    M = mismatch_mask(np.array([0, 1, 0, 2, 1, 3]))
    ref = library(v, t, M, 0.3)
    for form in (joint_embedding_loss, joint_embedding_loss_loops, joint_embedding_loss_columns):
        got = form(v, t, M, 0.3)
        assert all(np.allclose(a, b, atol=1e-7) for a, b in zip(got, ref))


def test_joint_embedding_check_avoids_the_kinks():
    """The check's cases keep every hinge 1e-3 or more from its kink: the ``>= 0`` form above
    passes, and so would the ``> 0`` one (the library's). A hinge exactly at 0 would make the
    answer depend on the subgradient chosen there."""
    from minigan.nn.matching import mismatch_mask
    rng = np.random.default_rng(2)
    M = mismatch_mask(np.arange(3))
    v = rng.standard_normal((3, 4))
    assert ex._hinge_gap(v, v.copy(), M, 0.0) > 0          # a sanity check of the helper
    t = v.copy()
    t[1] = t[0]                                           # a caption shared by two descriptions
    assert ex._hinge_gap(v, t, M, 0.0) < 1e-12             # ... puts a hinge at its kink


# --- 12.3 --------------------------------------------------------------------------------------

def softmax_backward(da, a, *, mistake=None):
    if mistake == "diagonal":
        return da * a * (1 - a)
    if mistake == "no_keepdims":
        return a * (da - (a * da).sum(axis=2))
    axis = {"axis1": 1, "axis12": (1, 2)}.get(mistake, 2)
    inner = {"unweighted": da, "no_sum": None}.get(mistake, a * da)
    if mistake == "no_sum":
        return a * da
    total = (inner.mean(axis=axis, keepdims=True) if mistake == "mean"
             else inner.sum(axis=axis, keepdims=True))
    if mistake == "no_a":
        return da - total
    if mistake == "sign":
        return a * (total - da)
    return a * (da - total)


def softmax_backward_jacobian(da, a):
    """Another right form: each row's Jacobian, diag(a) − a aᵀ, written out and applied."""
    N, HW, T = a.shape
    ds = np.empty_like(a)
    for n in range(N):
        for j in range(HW):
            row = a[n, j]
            J = np.diag(row) - np.outer(row, row)         # ∂a_t/∂s_u (symmetric)
            ds[n, j] = J.T @ da[n, j]
    return ds


def softmax_backward_einsum(da, a):
    """Another right form: einsum, the sum as a dot product per row."""
    return a * da - a * np.einsum("njt,njt->nj", a, da)[:, :, None]


# --- 12.4 --------------------------------------------------------------------------------------

def _softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _sigmoid(z):
    return 0.5 * (1 + np.tanh(0.5 * z))


def gan_cls_d_loss(s_real, s_wrong, s_fake, *, mistake=None):
    N = s_real.size
    t_wrong = 1.0 if mistake == "wrong_real" else 0.0
    t_fake = 1.0 if mistake == "fake_target_1" else 0.0

    def bce(z, target):
        loss = _softplus(z) - z * target                 # −t log σ(z) − (1 − t) log(1 − σ(z))
        return (loss.sum() if mistake == "sum" else loss.mean()), \
            (_sigmoid(z) - target) / (1 if mistake == "no_1_over_N" else N)

    l_r, g_r = bce(s_real, 1.0)
    l_w, g_w = bce(s_wrong, t_wrong)
    l_f, g_f = bce(s_fake, t_fake)
    w = {"no_halves": (1, 1, 1), "thirds": (1 / 3, 1 / 3, 1 / 3)}.get(mistake, (1, 0.5, 0.5))
    loss = w[0] * l_r + w[1] * l_w + w[2] * l_f
    gw = (1, 1, 1) if mistake == "grad_no_halves" else w
    dr, dw, df = gw[0] * g_r, gw[1] * g_w, gw[2] * g_f
    if mistake == "all_3n":
        allz = np.concatenate([_softplus(-s_real).ravel(), _softplus(s_wrong).ravel(),
                               _softplus(s_fake).ravel()])
        loss = allz.mean()
        dr, dw, df = ((_sigmoid(s_real) - 1) / (3 * N), _sigmoid(s_wrong) / (3 * N),
                      _sigmoid(s_fake) / (3 * N))
    if mistake == "order":
        return loss, dr, df, dw
    if mistake == "grad_sign":
        return loss, -dr, dw, df
    return loss, dr, dw, df


def gan_cls_d_loss_logaddexp(s_real, s_wrong, s_fake):
    """Another right form: log σ(z) = −logaddexp(0, −z), the ½ applied to the gradients last."""
    n = len(s_real)
    loss_real = np.mean(np.logaddexp(0, -s_real))
    loss_wrong = np.mean(np.logaddexp(0, s_wrong))
    loss_fake = np.mean(np.logaddexp(0, s_fake))
    sig = lambda z: np.exp(-np.logaddexp(0, -z))
    return (loss_real + (loss_wrong + loss_fake) / 2, (sig(s_real) - 1) / n,
            sig(s_wrong) / n / 2, sig(s_fake) / n / 2)


def _gan_cls_naive(s_real, s_wrong, s_fake):
    """WRONG: log of the sigmoid, which overflows at logits of ±1000."""
    sig = lambda z: 1 / (1 + np.exp(-z))
    N = s_real.size
    loss = (-np.log(sig(s_real)).mean() - 0.5 * np.log(1 - sig(s_wrong)).mean()
            - 0.5 * np.log(1 - sig(s_fake)).mean())
    return loss, (sig(s_real) - 1) / N, 0.5 * sig(s_wrong) / N, 0.5 * sig(s_fake) / N


def _gan_cls_swapped_targets(s_real, s_wrong, s_fake):
    N = s_real.size
    loss = (_softplus(s_real).mean() + 0.5 * _softplus(-s_wrong).mean()
            + 0.5 * _softplus(-s_fake).mean())
    return loss, _sigmoid(s_real) / N, 0.5 * (_sigmoid(s_wrong) - 1) / N, \
        0.5 * (_sigmoid(s_fake) - 1) / N


# --- 12.5 --------------------------------------------------------------------------------------

def word_attention_backward(dcontext, h, words, mask, U, *, mistake=None):
    N, C, H, W = h.shape
    real = np.ones_like(mask) if mistake == "no_mask" else mask
    words = np.where(real[:, None, :], words, 0.0)
    e = U @ words                                             # (N, C, T)
    r = h.reshape(N, C, H * W)
    s = r.transpose(0, 2, 1) @ e                              # (N, HW, T)
    s = np.where(real[:, None, :], s, -np.inf)
    a = np.exp(s - s.max(axis=2, keepdims=True))
    a /= a.sum(axis=2, keepdims=True)
    dc = dcontext.reshape(N, C, H * W)
    da = dc.transpose(0, 2, 1) @ e
    if mistake == "diagonal":
        ds = da * a * (1 - a)
    else:
        ds = a * (da - (a * da).sum(axis=2, keepdims=True))
    dr = e @ ds.transpose(0, 2, 1)
    de = {"no_scores": dc @ a, "no_context": r @ ds}.get(mistake, dc @ a + r @ ds)
    if mistake == "dU_per_example":
        dU = de @ words.transpose(0, 2, 1)                    # (N, C, D)
    elif mistake == "dU_transposed":
        dU = np.einsum("nct,ndt->dc", de, words)
    elif mistake == "dU_mean":
        dU = np.einsum("nct,ndt->cd", de, words) / N
    else:
        dU = np.einsum("nct,ndt->cd", de, words)
    dh = dr if mistake == "dh_flat" else dr.reshape(N, C, H, W)
    return dh, U.T @ de, dU


def word_attention_backward_loops(dcontext, h, words, mask, U):
    """Another right form: one example at a time, only its real words (padding dropped)."""
    N, C, H, W = h.shape
    dh, dwords, dU = np.zeros_like(h), np.zeros_like(words), np.zeros_like(U)
    for n in range(N):
        real = np.flatnonzero(mask[n])
        x = words[n][:, real]                                  # (D, T_n)
        e = U @ x                                              # (C, T_n)
        r = h[n].reshape(C, -1)                                # (C, HW)
        s = r.T @ e
        a = np.exp(s - s.max(axis=1, keepdims=True))
        a /= a.sum(axis=1, keepdims=True)                      # (HW, T_n)
        dc = dcontext[n].reshape(C, -1)
        da = dc.T @ e
        ds = a * da - a * (a * da).sum(axis=1, keepdims=True)
        de = dc @ a + r @ ds
        dh[n] = (e @ ds.T).reshape(C, H, W)
        dwords[n][:, real] = U.T @ de
        dU += de @ x.T
    return dh, dwords, dU


def test_word_attention_forms_agree_with_the_layer():
    from minigan.nn import WordAttention
    rng = np.random.default_rng(3)
    h, words = rng.standard_normal((2, 3, 2, 3)), rng.standard_normal((2, 4, 5))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    layer = WordAttention(3, 4, dtype="float64")
    context, cache = layer.forward(h, words, mask)
    dcontext = rng.standard_normal(context.shape)
    layer.zero_grad()
    dh, dwords = layer.backward(dcontext, cache)
    U = layer.params["weight"]
    for form in (word_attention_backward, word_attention_backward_loops):
        a, b, c = form(dcontext, h, words, mask, U)
        assert np.allclose(a, dh) and np.allclose(b, dwords)
        assert np.allclose(c, layer.grads["weight"])


CORRECT = [
    (ex.check_conv1d_backward, conv1d_backward),
    (ex.check_conv1d_backward, conv1d_backward_unfold),
    (ex.check_conv1d_backward, conv1d_backward_loops),
    (ex.check_joint_embedding_loss, joint_embedding_loss),
    (ex.check_joint_embedding_loss, joint_embedding_loss_loops),
    (ex.check_joint_embedding_loss, joint_embedding_loss_columns),
    (ex.check_attention_softmax_backward, softmax_backward),
    (ex.check_attention_softmax_backward, softmax_backward_jacobian),
    (ex.check_attention_softmax_backward, softmax_backward_einsum),
    (ex.check_gan_cls_d_loss, gan_cls_d_loss),
    (ex.check_gan_cls_d_loss, gan_cls_d_loss_logaddexp),
    (ex.check_word_attention_backward, word_attention_backward),
    (ex.check_word_attention_backward, word_attention_backward_loops),
]

(test_check_accepts_correct_answer, test_every_check_is_covered,
 test_not_implemented_propagates_unchanged) = check_tests(ex, CORRECT)


# --- wrong answers, with the hint each must produce ----------------------------------------

def _with(fn, m):
    def f(*args):
        return fn(*args, mistake=m)
    f.__name__ = fn.__name__
    return f


def _conv1d_writes_into_dy(dy, x, W, stride, padding):
    out = conv1d_backward(dy, x, W, stride, padding)
    dy *= 0
    return out


def _joint_writes_into_v(v, t, mismatch, margin):
    out = joint_embedding_loss(v, t, mismatch, margin)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return out


def _softmax_writes_into_da(da, a):
    out = softmax_backward(da, a)
    da -= (a * da).sum(axis=2, keepdims=True)
    return out


c1, c2, c3, c4, c5 = (ex.check_conv1d_backward, ex.check_joint_embedding_loss,
                      ex.check_attention_softmax_backward, ex.check_gan_cls_d_loss,
                      ex.check_word_attention_backward)
WRONG = {
    # 12.1
    "conv1d: kernel flipped": (c1, _with(conv1d_backward, "flip"), r"CROSS-correlation"),
    "conv1d: dW of a flipped kernel": (c1, _with(conv1d_backward, "flip_dW"),
                                       r"CROSS-correlation"),
    "conv1d: padding not cropped": (c1, _with(conv1d_backward, "no_crop"), r"PADDED"),
    "conv1d: [p:-p] at p = 0": (c1, _with(conv1d_backward, "crop_negative"), r"is empty"),
    "conv1d: cropped from one end": (c1, _with(conv1d_backward, "crop_one_end"), r"BOTH ends"),
    "conv1d: stride ignored in dx": (c1, _with(conv1d_backward, "stride_ignored"),
                                     r"the stride belongs in the backward pass"),
    "conv1d: stride ignored in dW": (c1, _with(conv1d_backward, "stride_ignored_dW"),
                                     r"the stride belongs in the backward pass"),
    "conv1d: windows assigned": (c1, _with(conv1d_backward, "assign"), r"add \(\+=\)"),
    "conv1d: dx / N": (c1, _with(conv1d_backward, "dx_over_N"), r"per example"),
    "conv1d: dW / N": (c1, _with(conv1d_backward, "dW_over_N"), r"divided by the batch size"),
    "conv1d: dW transposed": (c1, _with(conv1d_backward, "dW_transposed"), r"F and C swapped"),
    "conv1d: dW scrambled": (c1, _with(conv1d_backward_unfold, "dW_scrambled"),
                             r"missing transpose"),
    "conv1d: dy flattened without moving F": (c1, _with(conv1d_backward_unfold, "layout"),
                                              r"move F to the front"),
    "conv1d: db not summed over the batch": (c1, _with(conv1d_backward, "db_no_batch"),
                                             r"sum over the batch too"),
    "conv1d: db not summed over L": (c1, _with(conv1d_backward, "db_no_length"),
                                     r"sum over OL too"),
    "conv1d: db over the wrong axes": (c1, _with(conv1d_backward, "db_wrong_axes"),
                                       r"wrong axes"),
    "conv1d: db a mean": (c1, _with(conv1d_backward, "db_mean"), r"mean instead of sum"),
    "conv1d: writes into dy": (c1, _conv1d_writes_into_dy, r"changed its argument `dy`"),
    # 12.2
    "joint: image-to-text only": (c2, _with(joint_embedding_loss, "it_only"), r"SYMMETRIC"),
    "joint: text-to-image only": (c2, _with(joint_embedding_loss, "ti_only"), r"SYMMETRIC"),
    "joint: mean over the pairs": (c2, _with(joint_embedding_loss, "pairs_mean"),
                                   r"not a mean over the pairs"),
    "joint: no 1/N": (c2, _with(joint_embedding_loss, "no_N"), r"divide the sum of the hinges"),
    "joint: same description as negatives": (c2, _with(joint_embedding_loss, "no_mask"),
                                             r"SAME description"),
    "joint: no mask at all": (c2, _with(joint_embedding_loss, "no_mask_at_all"),
                              r"SAME description"),
    "joint: dot products": (c2, _with(joint_embedding_loss, "dot"), r"COSINE"),
    "joint: gradient of v̂": (c2, _with(joint_embedding_loss, "no_norm_back"),
                             r"gradient with respect to v̂"),
    "joint: only divided by the norm": (c2, _with(joint_embedding_loss, "divide_only"),
                                        r"has two parts"),
    "joint: only projected": (c2, _with(joint_embedding_loss, "project_only"),
                              r"divides by the\s+norm"),
    "joint: dS[i, i] missing": (c2, _with(joint_embedding_loss, "no_diag"), r"in every hinge"),
    "joint: B not transposed": (c2, _with(joint_embedding_loss, "B_not_transposed"),
                                r"TRANSPOSE"),
    "joint: B's diagonal over the wrong axis": (c2, _with(joint_embedding_loss, "B_axis0"),
                                                r"both summed over j"),
    "joint: margin missing from the active test": (c2, _with(joint_embedding_loss,
                                                             "indicator_no_margin"),
                                                   r"margin included"),
    "joint: writes into v": (c2, _joint_writes_into_v, r"changed its argument `v`"),
    # 12.3
    "softmax: the diagonal only": (c3, _with(softmax_backward, "diagonal"), r"only the diagonal"),
    "softmax: sum over the regions": (c3, _with(softmax_backward, "axis1"), r"over the WORDS"),
    "softmax: sum over regions and words": (c3, _with(softmax_backward, "axis12"),
                                            r"not over the regions as well"),
    "softmax: the a factor missing": (c3, _with(softmax_backward, "no_a"), r"factor a is missing"),
    "softmax: unweighted sum": (c3, _with(softmax_backward, "unweighted"),
                                r"weighted by the attention"),
    "softmax: no sum term": (c3, _with(softmax_backward, "no_sum"), r"couples the words"),
    "softmax: a mean": (c3, _with(softmax_backward, "mean"), r"not a mean"),
    "softmax: sign": (c3, _with(softmax_backward, "sign"), r"sign is reversed"),
    "softmax: no keepdims": (c3, _with(softmax_backward, "no_keepdims"), r"keepdims=True"),
    "softmax: writes into da": (c3, _softmax_writes_into_da, r"changed its argument `da`"),
    # 12.4
    "gan-cls: wrong pairs labelled real": (c4, _with(gan_cls_d_loss, "wrong_real"),
                                           r"WRONG text is a negative"),
    "gan-cls: no ½ weights": (c4, _with(gan_cls_d_loss, "no_halves"), r"weights are \(1, ½, ½\)"),
    "gan-cls: thirds": (c4, _with(gan_cls_d_loss, "thirds"), r"⅓ each"),
    "gan-cls: one mean over 3N logits": (c4, _with(gan_cls_d_loss, "all_3n"),
                                         r"not one\s+mean over all 3N"),
    "gan-cls: fake target 1": (c4, _with(gan_cls_d_loss, "fake_target_1"),
                               r"fakes are negatives"),
    "gan-cls: gradients without 1/N": (c4, _with(gan_cls_d_loss, "no_1_over_N"),
                                       r"carries 1/N"),
    "gan-cls: gradients without ½": (c4, _with(gan_cls_d_loss, "grad_no_halves"),
                                     r"weights are \(1, ½, ½\)"),
    "gan-cls: outputs out of order": (c4, _with(gan_cls_d_loss, "order"),
                                      r"in the order \(loss, ds_real, ds_wrong, ds_fake\)"),
    "gan-cls: sums": (c4, _with(gan_cls_d_loss, "sum"), r"MEAN over its batch"),
    "gan-cls: ds_real's sign": (c4, _with(gan_cls_d_loss, "grad_sign"), r"wrong sign"),
    "gan-cls: targets swapped": (c4, _gan_cls_swapped_targets, r"targets are swapped"),
    "gan-cls: overflows at ±1000": (c4, _gan_cls_naive, r"overflows"),
    # 12.5
    "attention: the scores' path missing": (c5, _with(word_attention_backward, "no_scores"),
                                            r"The scores' share is missing"),
    "attention: the context's path missing": (c5, _with(word_attention_backward, "no_context"),
                                              r"The context's share is missing"),
    "attention: the softmax's diagonal only": (c5, _with(word_attention_backward, "diagonal"),
                                               r"not the diagonal"),
    "attention: padding attended to": (c5, _with(word_attention_backward, "no_mask"),
                                       r"padded words get the score −∞"),
    "attention: dU per example": (c5, _with(word_attention_backward, "dU_per_example"),
                                  r"sum de\[n\]·words\[n\]ᵀ over the batch"),
    "attention: dU transposed": (c5, _with(word_attention_backward, "dU_transposed"),
                                 r"U's layout \(C, D\)"),
    "attention: dU a mean": (c5, _with(word_attention_backward, "dU_mean"),
                             r"SUM over the batch"),
    "attention: dh not reshaped": (c5, _with(word_attention_backward, "dh_flat"),
                                   r"reshape dr back"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_check_rejects_wrong_answer_with_hint(name):
    check, fn, hint = WRONG[name]
    with np.errstate(all="ignore"):
        with pytest.raises(ExerciseError, match=hint) as info:
            check(fn)
    assert str(info.value).count("Hint:") <= 1, "the mistake is named unambiguously"


def test_checks_are_fast():
    """Each check runs well under a second on a right answer (the notebooks call them)."""
    import time
    for check, fn in [(c1, conv1d_backward), (c2, joint_embedding_loss), (c3, softmax_backward),
                      (c4, gan_cls_d_loss), (c5, word_attention_backward)]:
        t0 = time.perf_counter()
        check(fn)
        assert time.perf_counter() - t0 < 1.0, check.__name__
