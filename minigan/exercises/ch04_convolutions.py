"""The checks of the exercises of chapter 4: convolutions by hand (see :mod:`minigan.exercises`)."""
from __future__ import annotations

import numpy as np

from .checker import by_hand, _call, _unpack, _compare, _quiet, _passed


def _col2im_assign(cols, x_shape, KH, KW, stride, padding):
    """A WRONG col2im that assigns instead of adding: where windows overlap, the last
    window's value wins. (A mistake to recognise, nothing more.)"""
    N, C, H, W = x_shape
    s, p = stride, padding
    OH = (H + 2 * p - KH) // s + 1
    OW = (W + 2 * p - KW) // s + 1
    c6 = cols.reshape(C, KH, KW, N, OH, OW)
    x_pad = np.zeros((N, C, H + 2 * p, W + 2 * p))
    for i in range(KH):
        for j in range(KW):
            x_pad[:, :, i: i + s * (OH - 1) + 1: s, j: j + s * (OW - 1) + 1: s] = \
                c6[:, i, j].transpose(1, 0, 2, 3)
    return x_pad[:, :, p: p + H, p: p + W]


@by_hand("4.1", also=("conv2d_backward_loops", "conv_forward_backward"))
@_quiet
def check_conv2d_backward(conv2d_backward, seed=10):
    """Exercise 4.1: ``conv2d_backward(dy, x, W, stride, padding) -> (dx, dW, db)`` for
    y = conv(x, W) + b, NCHW, as minigan.nn.Conv2d (dilation 1).

    dy: (N, F, OH, OW), x: (N, C, H, W), W: (F, C, KH, KW); stride, padding: ints.
    Cases: batch 1, padding 0 (where a ``[p:-p]`` slice is empty), padding 2, stride 2 with
    overlapping windows, a non-square kernel, N = F (where a sum over the wrong axes keeps
    the shape), F = C·KH·KW (where a missing transpose of W keeps the shape).
    """
    from ..kernels import col2im_reference, conv_output_size, im2col_reference
    from ..nn.conv import Conv2d
    rng = np.random.default_rng(seed)
    #        case                                   N  C  H  W  F  KH KW s  p
    cases = [("batch 1, padding 1",                 1, 2, 5, 5, 3, 3, 3, 1, 1),
             ("padding 0",                          2, 3, 6, 5, 4, 3, 3, 1, 0),
             ("stride 2, overlapping windows",      3, 2, 7, 7, 5, 3, 3, 2, 1),
             ("padding 2, non-square kernel",       2, 3, 5, 6, 2, 3, 2, 1, 2),
             ("N = F, stride 2, odd sizes",         4, 3, 9, 7, 4, 4, 3, 2, 1),
             ("F = C·KH·KW",                        2, 1, 5, 5, 4, 2, 2, 1, 1)]
    for case, N, C, H, W_, F, KH, KW, s, p in cases:
        OH, OW = conv_output_size(H, KH, s, p), conv_output_size(W_, KW, s, p)
        x = rng.standard_normal((N, C, H, W_))
        W = rng.standard_normal((F, C, KH, KW))
        b = rng.standard_normal(F)
        dy = rng.standard_normal((N, F, OH, OW))
        layer = Conv2d(C, F, (KH, KW), stride=s, padding=p, rng=np.random.default_rng(0),
                       dtype="float64")
        layer.params["weight"][...] = W
        layer.params["bias"][...] = b
        _, cache = layer.forward(x)
        layer.zero_grad()
        dx_ref = layer.backward(dy, cache)
        dW_ref, db_ref = layer.grads["weight"].copy(), layer.grads["bias"].copy()

        # the known wrong answers, computed the way a learner would get them
        cols = im2col_reference(x, KH, KW, s, p)                       # (C·KH·KW, N·OH·OW)
        Wm = W.reshape(F, -1)
        dY = dy.transpose(1, 0, 2, 3).reshape(F, -1)
        dY_bad = dy.reshape(F, -1)                                     # F not moved first
        layout = ("dy is (N, F, OH, OW) but dY must be (F, N·OH·OW) with the columns in "
                  "im2col's order (n, oh, ow): move F to the front before flattening, "
                  "dY = dy.transpose(1, 0, 2, 3).reshape(F, -1). dy.reshape(F, -1) mixes "
                  "images and filters.")

        def c2i(dcols):
            return col2im_reference(dcols, x.shape, KH, KW, s, p)

        out = _call(conv2d_backward, {"dy": dy, "x": x, "W": W, "stride": s, "padding": p},
                    case, readonly=("dy", "x", "W"),
                    error_hint="the shapes of a product do not fit. With cols = im2col(x): "
                    "(C·KH·KW, N·OH·OW), W_mat = W.reshape(F, -1) and dY: (F, N·OH·OW), "
                    "dW_mat = dY·colsᵀ and dcols = W_matᵀ·dY. A transpose too many or too "
                    "few? (col2im also raises ValueError when its cols or its stride/padding "
                    "do not match the image.)")
        dx, dW, db = _unpack(conv2d_backward, out, ("dx", "dW", "db"), case)
        Hp, Wp = H + 2 * p, W_ + 2 * p
        dx_shape_hints = {
            (N, C, Hp, Wp): "that is the gradient of the PADDED image: crop the padding, "
                            "dx = dx_pad[:, :, p:p + H, p:p + W] (minigan's col2im, given "
                            "the padding, does it for you).",
            (N, C, 0, 0): "dx is empty: x_pad[:, :, p:-p] is empty when p = 0. Slice "
                          "p:p + H instead.",
        }
        if p > 0:
            dx_shape_hints[(N, C, H - 2 * p, W_ - 2 * p)] = (
                "you cropped the padding twice: col2im(dcols, x.shape, ..., padding=p) "
                "already returns the (N, C, H, W) gradient.")
        _compare(conv2d_backward, "dx", dx, dx_ref, case, mistakes=[
            (c2i(Wm.T @ dY_bad), layout),
            (c2i(Wm @ dY) if F == C * KH * KW else np.zeros(0),
             "dcols = W_matᵀ · dY: did you forget the transpose of W_mat? (Here F = C·KH·KW, "
             "so the shapes fit either way.)"),
            (_col2im_assign(Wm.T @ dY, x.shape, KH, KW, s, p),
             "where windows overlap, a pixel's gradient is the SUM of what every window that "
             "saw it sends back: col2im must add (+=) into dx, not assign (=)."),
            (dx_ref / N, "dx is per example: do not divide by the batch size."),
        ], shape_hints=dx_shape_hints)
        _compare(conv2d_backward, "dW", dW, dW_ref, case, mistakes=[
            ((cols @ dY.T).reshape(W.shape),
             "missing transpose: dW_mat = dY·colsᵀ has shape (F, C·KH·KW); cols·dYᵀ is its "
             "transpose, (C·KH·KW, F), and reshaping that to W's shape scrambles it."),
            ((dY_bad @ cols.T).reshape(W.shape), layout),
            (dW_ref / N, "you divided by the batch size. The layer sums over the batch; the "
             "1/N of a mean belongs to the loss."),
        ], shape_hints={(C * KH * KW, F): "dW must have W's shape (F, C, KH, KW): "
                                          "dW = (dY·colsᵀ).reshape(W.shape).",
                        (F, C * KH * KW): "reshape dW_mat to W's shape (F, C, KH, KW)."})
        _compare(conv2d_backward, "db", db, db_ref, case, mistakes=[
            (dy.mean(axis=(0, 2, 3)), "mean instead of sum: the bias of filter f is added at "
             "every (n, oh, ow), so db[f] = Σ_{n,oh,ow} dy[n, f, oh, ow]."),
            (dy.sum(axis=(1, 2, 3)), "wrong axes: db has one entry per FILTER, the sum over "
             "N, OH and OW: dy.sum(axis=(0, 2, 3)). (axis 1 is F.)"),
            (dy[0].sum(axis=(1, 2)), "sum over the batch too: db = dy.sum(axis=(0, 2, 3)), "
             "not only the first image."),
            (dy.sum(axis=(0, 2)), "db = dy.sum(axis=(0, 2, 3)): sum over OW as well."),
        ], shape_hints={
            (N, F): "sum over the batch too: db = dy.sum(axis=(0, 2, 3)), shape (F,).",
            (F, OH, OW): "the bias is added at every output pixel: sum over OH and OW too, "
                         "db = dy.sum(axis=(0, 2, 3)).",
            (F, OW): "sum over OW too: db = dy.sum(axis=(0, 2, 3)).",
            (N,): "wrong axes: db has one entry per filter, dy.sum(axis=(0, 2, 3)).",
            (): "db has one entry per filter: dy.sum(axis=(0, 2, 3)), shape (F,).",
            (1, F, 1, 1): "db must have b's shape (F,): sum without keepdims."})
    _passed(conv2d_backward, f"dx, dW and db match minigan's Conv2d on {len(cases)} cases "
            "(batch 1, padding 0 and 2, stride 2, non-square kernel, N = F).")


@by_hand("4.2", also=("conv_transpose_by_zero_insertion",))
@_quiet
def check_conv_transpose2d_forward(conv_transpose2d_forward, seed=11):
    """Exercise 4.2: ``conv_transpose2d_forward(x, W, b, stride, padding) -> y``, as
    minigan.nn.ConvTranspose2d (output_padding 0, dilation 1): the adjoint of the
    convolution with the same weight, plus a bias.

    x: (N, C_in, H, W), W: (C_in, C_out, KH, KW) (torch's layout), b: (C_out,);
    y: (N, C_out, OH, OW), OH = (H − 1)·s − 2p + KH.
    Cases: C_in ≠ C_out (most), C_in = C_out (where swapped weight axes keep the shape),
    stride 2 kernel 4 padding 1 (a DCGAN up-sampling layer), stride larger than the kernel
    (windows that do not even touch), batch 1, non-square kernel.
    """
    from ..kernels import col2im_reference
    from ..nn.conv import ConvTranspose2d
    rng = np.random.default_rng(seed)
    #        case                                   N  Ci Co H  W  KH KW s  p
    cases = [("batch 1, stride 1",                  1, 2, 3, 4, 4, 3, 3, 1, 0),
             ("stride 2, kernel 4, padding 1",      2, 3, 2, 4, 3, 4, 4, 2, 1),
             ("C_in = C_out",                       2, 3, 3, 3, 4, 3, 3, 2, 1),
             ("stride 3 > kernel 2",                2, 2, 3, 3, 3, 2, 2, 3, 0),
             ("non-square kernel, padding 2",       3, 2, 4, 5, 4, 5, 3, 1, 2)]

    def convT(x, W, b, s, p):
        layer = ConvTranspose2d(W.shape[0], W.shape[1], W.shape[2:], stride=s, padding=p,
                                rng=np.random.default_rng(0), dtype="float64")
        layer.params["weight"][...] = W
        layer.params["bias"][...] = b
        return layer.forward(x)[0]

    for case, N, Ci, Co, H, W_, KH, KW, s, p in cases:
        x = rng.standard_normal((N, Ci, H, W_))
        W = rng.standard_normal((Ci, Co, KH, KW))
        b = rng.standard_normal(Co)
        y_ref = convT(x, W, b, s, p)
        OH, OW = y_ref.shape[2:]
        out = _call(conv_transpose2d_forward, {"x": x, "W": W, "b": b, "stride": s,
                                               "padding": p}, case, readonly=("x", "W", "b"),
                    error_hint="W is (C_in, C_out, KH, KW): W_mat = W.reshape(C_in, -1) is "
                    "(C_in, C_out·KH·KW), X = x as (C_in, N·H·W), cols = W_matᵀ·X is "
                    "(C_out·KH·KW, N·H·W), and col2im(cols, (N, C_out, OH, OW), KH, KW, "
                    "stride, padding) scatters it onto the output. Are the shapes, the "
                    "output size OH = (H − 1)·s − 2p + KH, or the weight layout off?")
        (y,) = _unpack(conv_transpose2d_forward, out, ("y",), case)
        # wrong answers a learner would plausibly get
        X = x.transpose(1, 0, 2, 3).reshape(Ci, -1)
        cols = W.reshape(Ci, -1).T @ X
        b_in_cols = col2im_reference(cols + np.repeat(b, KH * KW)[:, None], (N, Co, OH, OW),
                                     KH, KW, s, p)
        mistakes = [
            (y_ref - b[None, :, None, None], "the bias is missing: add b[c_out] to every "
             "output pixel, y += b[None, :, None, None]."),
            (y_ref + b[None, :, None, None], "the bias is added twice."),
            (b_in_cols, "add the bias after col2im, once per output pixel. Added to the "
             "columns, it is summed once for every window that covers a pixel."),
            (convT(x, W[:, :, ::-1, ::-1], b, s, p), "do not flip the kernel: the adjoint of "
             "a cross-correlation scatters W itself, y[.., ih·s + i − p, iw·s + j − p] += "
             "x[.., ih, iw]·W[.., i, j]. (The flip belongs to the 'insert zeros, then "
             "convolve' picture.)"),
        ]
        if Ci == Co:
            mistakes.append((convT(x, W.transpose(1, 0, 2, 3), b, s, p),
                             "the weight axes are swapped: a transposed convolution's weight "
                             "is (C_in, C_out, KH, KW), input channels FIRST (torch's "
                             "layout, the same array as the Conv2d(C_out, C_in) it is the "
                             "adjoint of): W_mat = W.reshape(C_in, -1)."))
        shape_hints = {
            (N, Co, OH + 2 * p, OW + 2 * p): "crop the padding: OH = (H − 1)·s − 2p + KH. "
                                             "col2im given the padding does it for you.",
            (N, Co, (H - 1) * s + 2 * p + KH, (W_ - 1) * s + 2 * p + KW):
                "padding makes a transposed convolution's output SMALLER: "
                "OH = (H − 1)·s − 2p + KH.",
            (N, Ci, OH, OW) if Ci != Co else None: "the output has C_out channels: "
                                                   "W is (C_in, C_out, KH, KW).",
        }
        if s > 1:
            shape_hints[(N, Co, H - 1 - 2 * p + KH, W_ - 1 - 2 * p + KW)] = (
                "the stride is missing: the output is about s times larger than the input, "
                "OH = (H − 1)·s − 2p + KH, and col2im must be given the stride.")
        shape_hints.pop(None, None)
        _compare(conv_transpose2d_forward, "y", y, y_ref, case, mistakes=mistakes,
                 shape_hints=shape_hints)
    _passed(conv_transpose2d_forward, f"y matches minigan's ConvTranspose2d on {len(cases)} "
            "cases (stride 1 to 3, padding 0 to 2, C_in = C_out, batch 1).")


@by_hand("4.3", also=("batchnorm_forward_backward",))
@_quiet
def check_batchnorm_backward(batchnorm_backward, seed=12):
    """Exercise 4.3: ``batchnorm_backward(dy, x, gamma, eps) -> (dx, dgamma, dbeta)`` for
    BatchNorm2d in training mode, y = γ·x̂ + β with x̂ = (x − μ)/√(var + eps), μ and the
    BIASED var per channel over N, H and W.

    dy, x: (N, C, H, W); gamma: (C,). Cases: batch 1 (statistics over H·W only), odd
    sizes, N = C (where sums over the wrong axis keep some shapes), H = W = 1 (the
    BatchNorm1d case), a large eps with a small variance (where forgetting eps shows).
    """
    from ..nn.norm import BatchNorm2d
    rng = np.random.default_rng(seed)
    #        case                              N  C  H  W  eps   x scale
    cases = [("batch 1",                       1, 3, 4, 5, 1e-5, 2.0),
             ("odd sizes",                     5, 2, 3, 3, 1e-5, 1.5),
             ("N = C",                         4, 4, 2, 3, 1e-5, 3.0),
             ("H = W = 1",                     7, 3, 1, 1, 1e-5, 1.0),
             ("large eps, small variance",     3, 2, 3, 2, 0.1,  0.3)]
    for case, N, C, H, W_, eps, scale in cases:
        x = rng.standard_normal((1, C, 1, 1)) * 2 + scale * rng.standard_normal((N, C, H, W_))
        gamma = rng.uniform(0.5, 2.0, C) * rng.choice([-1, 1], C)
        beta = rng.standard_normal(C)
        dy = rng.standard_normal((N, C, H, W_)) + rng.standard_normal((1, C, 1, 1))
        layer = BatchNorm2d(C, eps=eps, dtype="float64")
        layer.params["weight"][...] = gamma
        layer.params["bias"][...] = beta
        layer.train()
        _, cache = layer.forward(x)
        layer.zero_grad()
        dx_ref = layer.backward(dy, cache)
        dg_ref, db_ref = layer.grads["weight"].copy(), layer.grads["bias"].copy()

        # the known wrong answers
        ax = (0, 2, 3)
        g = gamma.reshape(1, C, 1, 1)
        M = N * H * W_

        def parts(axes=ax, var_div=M):
            """x̂ and σ with the statistics over ``axes``, the variance's sum divided by var_div."""
            mu = x.mean(axis=axes, keepdims=True)
            sig = np.sqrt(((x - mu) ** 2).sum(axis=axes, keepdims=True) / var_div + eps)
            return (x - mu) / sig, sig

        xh, sig = parts()
        Sdy = dy.sum(ax, keepdims=True)

        def compact(xh_, sig_, Mm, axes=ax, gam=g):
            S1 = dy.sum(axes, keepdims=True)
            S2 = (dy * xh_).sum(axes, keepdims=True)
            return gam / sig_ / Mm * (Mm * dy - S1 - xh_ * S2)

        xh_u, sig_u = parts(var_div=M - 1)
        unbiased = ("batch norm normalises with the BIASED variance, var = mean((x − μ)²) "
                    "= Σ(x − μ)²/M, not Σ/(M − 1) (torch uses M − 1 only for the running "
                    "estimate).")
        xh_1, sig_1 = parts(axes=(0,), var_div=N)
        xh_s, sig_s = parts(axes=(1, 2, 3), var_div=C * H * W_)
        no_eps_sig = np.sqrt(((x - x.mean(ax, keepdims=True)) ** 2).mean(ax, keepdims=True))
        no_eps_xh = (x - x.mean(ax, keepdims=True)) / no_eps_sig
        out_sig = no_eps_sig + eps                     # the near miss: √var + eps
        out_xh = (x - x.mean(ax, keepdims=True)) / out_sig
        eps_outside = ("σ = √(var + eps): eps goes inside the square root, not after it "
                       "(√var + eps is a near miss, off by about eps/(2σ²)·σ, but wrong).")
        wrong_axes = ("BatchNorm2d has one μ and σ per CHANNEL, over the batch and every "
                      "pixel: sums over axes (0, 2, 3), M = N·H·W values each.")
        out = _call(batchnorm_backward, {"dy": dy, "x": x, "gamma": gamma, "eps": eps},
                    case, readonly=("dy", "x", "gamma"),
                    error_hint="the statistics are per channel: reduce over axes (0, 2, 3) "
                    "with keepdims=True (shape (1, C, 1, 1)) so that they broadcast against "
                    "(N, C, H, W), and reshape γ to (1, C, 1, 1).")
        dx, dg, db = _unpack(batchnorm_backward, out, ("dx", "dgamma", "dbeta"), case)
        _compare(batchnorm_backward, "dx", dx, dx_ref, case, mistakes=[
            (g / sig * dy, "μ and σ depend on x too: treating them as constants gives "
             "dx = γ/σ·dy, the eval-mode gradient. In training mode "
             "dx = (1/M)·γ/σ·(M·dy − Σdy − x̂·Σ(dy·x̂))."),
            (g / sig * (dy - Sdy / M), "σ depends on x too: the term −x̂·Σ(dy·x̂)/M is "
             "missing."),
            (g / sig * (dy - xh * (dy * xh).sum(ax, keepdims=True) / M), "μ depends on x "
             "too: the term −Σdy/M is missing."),
            (compact(xh, sig, M, gam=1.0), "γ is missing: y = γ·x̂ + β, so dx̂ = γ·dy."),
            (compact(xh_u, sig_u, M), unbiased),
            (g / sig / M * (M * dy - Sdy - xh * (dy * xh).sum(ax, keepdims=True) * M / (M - 1))
             if M > 1 else np.zeros(0), unbiased),
            (compact(xh_1, sig_1, N, axes=(0,)), wrong_axes),
            (compact(xh_s, sig_s, C * H * W_, axes=(1, 2, 3)), wrong_axes + " (Sums over "
             "axes (1, 2, 3) are layer norm's.)"),
            (compact(xh, sig, N), "M is the number of values per channel, N·H·W, not the "
             "batch size N."),
            (compact(no_eps_xh, no_eps_sig, M), "σ = √(var + eps): eps belongs inside the "
             "square root, in the forward pass and so in the backward pass."),
            (compact(out_xh, out_sig, M), eps_outside),
            (-compact(xh, sig, M), "it is the right answer with the wrong sign."),
        ], nonfinite="σ = √(var + eps) never vanishes: is eps missing, or do you divide by a "
                     "sum that can be 0?")
        _compare(batchnorm_backward, "dgamma", dg, dg_ref, case, mistakes=[
            (db_ref, "dγ = Σ dy·x̂ (γ multiplies x̂); Σ dy is dβ."),
            ((dy * x).sum(ax), "dγ = Σ dy·x̂, with the NORMALISED x̂ = (x − μ)/σ, not x."),
            ((dy * xh_u).sum(ax) if M > 1 else np.zeros(0), unbiased),
            ((dy * no_eps_xh).sum(ax), "x̂ = (x − μ)/√(var + eps): eps inside the root."),
            ((dy * out_xh).sum(ax), eps_outside),
            ((dy * xh).mean(ax), "a sum, not a mean: γ[c] is used at all M = N·H·W "
             "positions of channel c, so dγ[c] = Σ dy·x̂ over them."),
        ], shape_hints={(C, H, W_): wrong_axes, (1, C, 1, 1): "dgamma must have γ's shape "
                        "(C,): sum without keepdims (or reshape)."})
        _compare(batchnorm_backward, "dbeta", db, db_ref, case, mistakes=[
            (dg_ref, "dβ = Σ dy (β is added to every value); Σ dy·x̂ is dγ."),
            (dy.mean(ax), "a sum, not a mean: dβ[c] = Σ dy over N, H and W."),
            ((g * dy).sum(ax).ravel(), "dβ = Σ dy, without γ: y = γ·x̂ + β."),
        ], shape_hints={(C, H, W_): wrong_axes, (1, C, 1, 1): "dbeta must have β's shape "
                        "(C,): sum without keepdims (or reshape)."})
    _passed(batchnorm_backward, f"dx, dgamma and dbeta match minigan's BatchNorm2d (training "
            f"mode) on {len(cases)} cases (batch 1, N = C, H = W = 1, large eps).")
