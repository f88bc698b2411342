"""Checks for the exercises of chapter 11 (image-to-image translation with Pix2Pix), in the
manner of :mod:`minigan.exercises`.

Each ``check_*`` runs the learner's function on several float64 (or integer) cases, compares it
with minigan's own answer, and either prints one pass line or raises
:class:`~minigan.exercises.ExerciseError` saying which output is wrong and, where the wrong
answer looks like a known mistake, a hint. ``NotImplementedError`` raised by an unfinished
exercise propagates unchanged.

=====================================  ==========  ==============================================
check                                  exercise    the learner writes
=====================================  ==========  ==============================================
check_l1_loss                          11.1        l1_loss(pred, target) -> (loss, dpred)
check_skip_backward                    11.2        skip_backward(d_cat, c_u, deeper_backward)
                                                   -> de
check_instance_norm_backward           11.3        instance_norm_backward(dy, x, gamma, eps)
                                                   -> (dx, dgamma, dbeta)
check_receptive_field                  11.4        receptive_field(layers) -> (size, jump, first)
check_pix2pix_g_loss                   11.5        pix2pix_g_loss(x, fake, y, D, lam)
                                                   -> (loss_gan, loss_l1, dfake)
=====================================  ==========  ==============================================

Conventions: images (N, C, H, W); ``l1_loss`` is the MEAN absolute error with the subgradient 0
where pred == target (minigan.nn.l1_loss); instance norm normalises each map x[n, c] over its
H·W values with the biased variance, y = γ_c·x̂ + β_c (minigan.nn.InstanceNorm2d, affine);
the skip concatenates [u, e] (the deeper path's output first, as minigan's UNet); a layer of a
receptive-field stack is ``(kernel, stride, padding)`` and the answer is per axis for square
kernels: size and jump in input pixels, ``first`` the input index of the first pixel that output
0 sees (negative when it reaches into the padding), as minigan.nn.receptive_field. G's loss
(11.5) is Pix2Pix.g_loss_and_backward's for the objective "l1+cgan": the non-saturating
BCE(D([x, ŷ]), 1) averaged over every logit of the PatchGAN's map, plus λ·mean|ŷ − y|, and its
gradient with respect to G's output ŷ (the share of D's input gradient that belongs to ŷ, the
last channels of [x, ŷ], plus λ·sign(ŷ − y)/n).
"""
from __future__ import annotations

import numpy as np

from .checker import (by_hand, ExerciseError, _call, _compare, _name, _passed, _quiet,
                      _sigmoid, _softplus, _unpack)

__all__ = ["check_l1_loss", "check_instance_norm_backward", "check_skip_backward",
           "check_receptive_field", "check_pix2pix_g_loss"]


# --------------------------------------------------------------------------------------
# Exercise 11.1: the L1 loss and its subgradient
# --------------------------------------------------------------------------------------

@by_hand("11.1")
@_quiet
def check_l1_loss(l1_loss, seed=110):
    """Exercise 11.1: ``l1_loss(pred, target) -> (loss, dpred)``, the mean absolute error and its
    gradient with respect to pred, with the subgradient 0 where pred == target.

    Cases: one image, a batch with odd sizes, entries equal to their targets (where the
    subgradient convention shows), a batch of several images where mean and per-image mean
    differ, and a 2-D array (the function must not assume images).
    """
    from ..nn.losses import l1_loss as reference
    fn = l1_loss
    rng = np.random.default_rng(seed)
    cases = [("one image", (1, 3, 4, 4), 0.0), ("odd sizes", (3, 3, 5, 7), 0.0),
             ("a third of the entries equal their targets", (2, 3, 6, 5), 1 / 3),
             ("half equal, one channel", (4, 1, 3, 3), 0.5),
             ("a 2-D array", (5, 6), 0.25)]
    for case, shape, p_equal in cases:
        target = rng.uniform(-1, 1, shape)
        pred = target + rng.normal(0, 0.5, shape)
        equal = rng.random(shape) < p_equal
        pred[equal] = target[equal]
        loss_ref, d_ref = reference(pred, target)
        out = _call(fn, {"pred": pred, "target": target}, case, readonly=("pred", "target"))
        loss, d = _unpack(fn, out, ("loss", "dpred"), case)
        diff, n = pred - target, pred.size
        _compare(fn, "loss", loss, loss_ref, case, mistakes=[
            (np.abs(diff).sum(), "the loss is the MEAN of |pred − target| over all entries, "
             "not the sum (torch's L1Loss, reduction='mean')."),
            (np.abs(diff).sum() / shape[0], "the mean is over ALL entries (N·C·H·W), not over "
             "the batch only."),
            (np.mean(diff ** 2), "that is the mean SQUARED error (L2); L1 is mean |pred − target|."),
            (abs(np.mean(diff)), "|mean(pred − target)| lets errors of opposite signs cancel: "
             "take the absolute value of each entry first, then the mean."),
        ])
        mistakes = [
            (np.sign(diff), "the loss is a mean over n entries, so each entry's gradient is "
             "sign(pred − target)/n; the 1/n is missing."),
            (np.sign(diff) / shape[0], "divide by the number of entries n = pred.size, as the "
             "loss does, not by the batch size."),
            (diff / n, "d|u|/du = sign(u), not u: that is the gradient of ½·mean(u²)."),
            (2 * diff / n, "that is the gradient of the mean SQUARED error; d|u|/du = sign(u)."),
            (np.sign(-diff) / n, "the sign is reversed: d|pred − target|/dpred = "
             "+sign(pred − target)."),
        ]
        if p_equal:
            ties = ("where pred == target, |u| has no derivative; use the subgradient 0 there "
                    "(np.sign(0) = 0, as torch), not ±1: an exact match gets no push.")
            mistakes.append((np.where(diff >= 0, 1.0, -1.0) / n, ties))
            mistakes.append((np.where(diff > 0, 1.0, -1.0) / n, ties))
        _compare(fn, "dpred", d, d_ref, case, mistakes=mistakes)
    _passed(fn, f"loss and dpred match on {len(cases)} cases (ties included: subgradient 0).")


# --------------------------------------------------------------------------------------
# Exercise 11.3: instance norm's backward pass
# --------------------------------------------------------------------------------------

def _norm_parts(x, axes, eps, var_div=None):
    mu = x.mean(axis=axes, keepdims=True)
    M = np.prod([x.shape[a] for a in axes])
    var = ((x - mu) ** 2).sum(axis=axes, keepdims=True) / (M if var_div is None else var_div)
    sig = np.sqrt(var + eps)
    return (x - mu) / sig, sig, M


def _compact_dx(dy, xh, sig, M, axes, gam):
    S1 = dy.sum(axes, keepdims=True)
    S2 = (dy * xh).sum(axes, keepdims=True)
    return gam / sig / M * (M * dy - S1 - xh * S2)


@by_hand("11.3")
@_quiet
def check_instance_norm_backward(instance_norm_backward, seed=111):
    """Exercise 11.3: ``instance_norm_backward(dy, x, gamma, eps) -> (dx, dgamma, dbeta)`` for
    InstanceNorm2d with affine parameters: y = γ_c·x̂ + β_c, x̂ = (x − μ)/√(var + eps) with μ and
    the BIASED var of each map x[n, c] over its H·W values.

    dy, x: (N, C, H, W); gamma: (C,). Cases: batch 1 (where instance norm and batch norm
    coincide, so that case alone cannot tell them apart), several images whose maps have very
    different means and scales (where batch norm's statistics give other numbers), odd sizes,
    N = C, a 2×1 map, a large eps with a small variance.
    """
    from ..nn.norm import InstanceNorm2d
    fn = instance_norm_backward
    rng = np.random.default_rng(seed)
    #        case                              N  C  H  W  eps   x scale
    cases = [("batch 1",                       1, 3, 4, 5, 1e-5, 2.0),
             ("4 images, maps far apart",      4, 2, 3, 4, 1e-5, 1.5),
             ("odd sizes",                     3, 3, 5, 3, 1e-5, 1.0),
             ("N = C",                         3, 3, 2, 3, 1e-5, 3.0),
             ("a 2×1 map",                     5, 2, 2, 1, 1e-5, 1.0),
             ("large eps, small variance",     2, 2, 3, 2, 0.1, 0.3)]
    ax, bn_ax = (2, 3), (0, 2, 3)
    for case, N, C, H, W, eps, scale in cases:
        # every map its own offset and scale: instance statistics differ from batch statistics
        x = (rng.standard_normal((N, C, 1, 1)) * 2
             + scale * rng.uniform(0.3, 2.0, (N, C, 1, 1)) * rng.standard_normal((N, C, H, W)))
        gamma = rng.uniform(0.5, 2.0, C) * rng.choice([-1, 1], C)
        beta = rng.standard_normal(C)
        dy = rng.standard_normal((N, C, H, W)) + rng.standard_normal((N, C, 1, 1))
        layer = InstanceNorm2d(C, eps=eps, affine=True, dtype="float64")
        layer.params["weight"][...] = gamma
        layer.params["bias"][...] = beta
        _, cache = layer.forward(x)
        layer.zero_grad()
        dx_ref = layer.backward(dy, cache)
        dg_ref, db_ref = layer.grads["weight"].copy(), layer.grads["bias"].copy()

        g = gamma.reshape(1, C, 1, 1)
        xh, sig, M = _norm_parts(x, ax, eps)
        xh_bn, sig_bn, M_bn = _norm_parts(x, bn_ax, eps)
        xh_u, sig_u, _ = _norm_parts(x, ax, eps, var_div=M - 1)
        no_eps_sig = np.sqrt(((x - x.mean(ax, keepdims=True)) ** 2).mean(ax, keepdims=True))
        xh_ne = (x - x.mean(ax, keepdims=True)) / no_eps_sig
        batch_stats = ("instance norm has one μ and σ per MAP x[n, c], over its H·W values: "
                       "reduce over axes (2, 3) with keepdims=True (shape (N, C, 1, 1)). Over "
                       "(0, 2, 3) is batch norm (chapter 4), the same formula with other sums.")
        unbiased = ("the variance is the BIASED one, mean((x − μ)²) = Σ/(H·W), not Σ/(H·W − 1).")
        out = _call(fn, {"dy": dy, "x": x, "gamma": gamma, "eps": eps}, case,
                    readonly=("dy", "x", "gamma"),
                    error_hint="the statistics are per map: reduce over axes (2, 3) with "
                    "keepdims=True (shape (N, C, 1, 1)) so that they broadcast against "
                    "(N, C, H, W), and reshape γ to (1, C, 1, 1).")
        dx, dg, db = _unpack(fn, out, ("dx", "dgamma", "dbeta"), case)
        _compare(fn, "dx", dx, dx_ref, case, mistakes=[
            (_compact_dx(dy, xh_bn, sig_bn, M_bn, bn_ax, g), batch_stats),
            (g / sig * dy, "μ and σ depend on x too: treating them as constants gives "
             "dx = γ·dy/σ. With them, per map: dx = (γ/σ)·(dy − mean(dy) − x̂·mean(dy·x̂))."),
            (g / sig * (dy - dy.mean(ax, keepdims=True)), "σ depends on x too: the term "
             "−x̂·mean(dy·x̂) is missing."),
            (g / sig * (dy - xh * (dy * xh).mean(ax, keepdims=True)), "μ depends on x too: "
             "the term −mean(dy) is missing."),
            (_compact_dx(dy, xh, sig, M, ax, 1.0), "γ is missing: y = γ·x̂ + β, so the "
             "gradient reaching x̂ is γ·dy."),
            (_compact_dx(dy, xh_u, sig_u, M, ax, g), unbiased),
            (_compact_dx(dy, xh, sig, N * M, ax, g), "M is the number of values per map, "
             "H·W, not N·H·W."),
            (_compact_dx(dy, xh_ne, no_eps_sig, M, ax, g), "σ = √(var + eps): eps belongs "
             "inside the square root, in the forward pass and so in the backward pass."),
            (_compact_dx(dy, xh_ne * no_eps_sig / (no_eps_sig + eps), no_eps_sig + eps, M, ax,
                         g),
             "σ = √(var + eps), with eps INSIDE the square root (torch's and minigan's "
             "convention), not √var + eps."),
        ], nonfinite="σ = √(var + eps) never vanishes: is eps missing?")
        _compare(fn, "dgamma", dg, dg_ref, case, mistakes=[
            (db_ref, "dγ = Σ dy·x̂ (γ multiplies x̂); Σ dy is dβ."),
            ((dy * x).sum(bn_ax), "dγ = Σ dy·x̂ with the NORMALISED x̂, not x."),
            ((dy * xh_bn).sum(bn_ax), batch_stats),
            ((dy * xh).mean(bn_ax), "a sum, not a mean: γ_c is used at every pixel of every "
             "image's map c, so dγ_c = Σ over n, h, w of dy·x̂."),
        ], shape_hints={(N, C): "γ is shared by the images: sum dy·x̂ over the batch too, "
                        "axes (0, 2, 3), to get shape (C,).",
                        (1, C, 1, 1): "dgamma must have γ's shape (C,): sum without keepdims."})
        _compare(fn, "dbeta", db, db_ref, case, mistakes=[
            (dg_ref, "dβ = Σ dy (β is added to every value); Σ dy·x̂ is dγ."),
            (dy.mean(bn_ax), "a sum, not a mean: dβ_c = Σ dy over n, h and w."),
        ], shape_hints={(N, C): "β is shared by the images: sum over axes (0, 2, 3).",
                        (1, C, 1, 1): "dbeta must have β's shape (C,): sum without keepdims."})
    _passed(fn, f"dx, dgamma and dbeta match minigan's InstanceNorm2d on {len(cases)} cases "
            "(batch 1, maps far apart, N = C, a 2×1 map, large eps).")


# --------------------------------------------------------------------------------------
# Exercise 11.2: the gradient of an encoder output that feeds a skip
# --------------------------------------------------------------------------------------

class _Deeper:
    """The deeper path of a U-Net level, e (N, Ce, H, W) -> u (N, Cu, H, W): a fixed 1×1
    convolution followed by tanh, u = tanh(W·e + b). ``backward(du)`` returns de for the e
    of the last ``forward`` and counts its calls."""

    def __init__(self, rng, Ce, Cu):
        self.W = rng.normal(0, 0.7, (Cu, Ce))
        self.b = rng.normal(0, 0.3, Cu)
        self.Cu = Cu
        self.calls = 0

    def forward(self, e):
        self.e = e
        self.u = np.tanh(np.einsum("oc,nchw->nohw", self.W, e) + self.b[None, :, None, None])
        return self.u

    def backward(self, du):
        du = np.asarray(du)
        if du.shape != self.u.shape:
            raise ValueError(f"deeper_backward expects the gradient of u, shape "
                             f"{self.u.shape} (N, c_u, H, W), got shape {du.shape}")
        self.calls += 1
        return np.einsum("oc,nohw->nchw", self.W, du * (1 - self.u ** 2))


@by_hand("11.2")
@_quiet
def check_skip_backward(skip_backward, seed=112):
    """Exercise 11.2: ``skip_backward(d_cat, c_u, deeper_backward) -> de``.

    One U-Net level: e feeds the deeper path u = deeper(e) and the skip; the decoder reads
    cat = [u, e] (channels 0 … c_u − 1 are u). Given d_cat = ∂L/∂cat (N, c_u + c_e, H, W), the
    number c_u, and ``deeper_backward(du) -> de`` (the deeper path's backward pass), return
    ∂L/∂e. Checked against the chain rule and, on one case, finite differences of L = Σ
    w·cat. Cases: c_u ≠ c_e (where a wrong split shows as a shape or a number), c_u = c_e
    (where swapping the halves keeps every shape), batch 1, odd sizes.
    """
    fn = skip_backward
    rng = np.random.default_rng(seed)
    #        case                           N  Ce Cu H  W
    cases = [("c_u = 3, c_e = 2",           2, 2, 3, 3, 4),
             ("c_u = c_e = 2",              3, 2, 2, 2, 3),
             ("batch 1, odd sizes",         1, 3, 1, 5, 3),
             ("c_u = 2, c_e = 4",           2, 4, 2, 3, 3)]
    for case, N, Ce, Cu, H, W in cases:
        deeper = _Deeper(rng, Ce, Cu)
        e = rng.standard_normal((N, Ce, H, W))
        u = deeper.forward(e)
        w = rng.standard_normal((N, Cu + Ce, H, W))              # L = Σ w·[u, e]
        d_cat = w.copy()
        de_ref = deeper.backward(d_cat[:, :Cu]) + d_cat[:, Cu:]
        if case == cases[0][0]:                                  # the reference, held to FD
            h, fd = 1e-6, np.empty_like(e)
            for i in np.ndindex(e.shape):
                ep, em = e.copy(), e.copy()
                ep[i] += h
                em[i] -= h
                Lp = (w * np.concatenate([deeper.forward(ep), ep], 1)).sum()
                Lm = (w * np.concatenate([deeper.forward(em), em], 1)).sum()
                fd[i] = (Lp - Lm) / (2 * h)
            deeper.forward(e)
            assert np.max(np.abs(fd - de_ref)) < 1e-6, "check_skip_backward's own reference"
        deeper.calls = 0
        out = _call(fn, {"d_cat": d_cat, "c_u": Cu, "deeper_backward": deeper.backward}, case,
                    readonly=("d_cat",),
                    error_hint="deeper_backward takes the gradient of u, shape (N, c_u, H, W): "
                    "the first c_u channels of d_cat, d_cat[:, :c_u].")
        (de,) = _unpack(fn, out, ("de",), case)
        mistakes = [
            (d_cat[:, Cu:], "that is only the skip's share. e also feeds the deeper path: add "
             "what deeper_backward returns for u's share of d_cat, d_cat[:, :c_u]."),
            (deeper.backward(d_cat[:, :Cu]), "that is only the deeper path's share. e also "
             "reaches the decoder directly through the skip: add d_cat[:, c_u:]."),
            (0.5 * de_ref, "the two paths' gradients ADD (the chain rule sums over every way "
             "e reaches the loss); they are not averaged."),
        ]
        mistakes.append((deeper.backward(d_cat[:, Ce:]) + d_cat[:, :Ce], "the split is the "
                         "wrong way round: cat = [u, e], so channels 0 … c_u − 1 are u's "
                         "(d_cat[:, :c_u]) and the last c_e are e's."))
        deeper.calls = 0
        _compare(fn, "de", de, de_ref, case, mistakes=mistakes,
                 shape_hints={(N, Cu + Ce, H, W): "de is the gradient of e, shape "
                              "(N, c_e, H, W): split d_cat along the channels first.",
                              (N, Cu, H, W): "de has e's c_e channels; is the split the wrong "
                              "way round? cat = [u, e]."})
    _passed(fn, f"de matches the chain rule (and finite differences) on {len(cases)} cases "
            "(c_u ≠ c_e, c_u = c_e, batch 1).")


# --------------------------------------------------------------------------------------
# Exercise 11.4: the receptive field of a stack of convolutions
# --------------------------------------------------------------------------------------

def _rf_reference(layers):
    """size, jump, first by brute force on one axis: which inputs move output 0?"""
    from ..nn.receptive import receptive_field as library
    from ..nn import Conv2d
    convs = [Conv2d(1, 1, int(k), stride=int(s), padding=int(p)) for k, s, p in layers]
    rf = library(convs)
    return rf.size[0], rf.jump[0], rf.first[0]


def _rf_mistakes(layers):
    """(size, jump, first) of known wrong recurrences, with their hints."""
    out = []
    # the right recurrence, with one term changed
    def walk(size_term, first_term):
        r, j, f = 1, 1, 0
        for k, s, p in layers:
            r, f = size_term(r, j, k, s), first_term(f, j, p, s)
            j *= s
        return r, j, f
    out.append((walk(lambda r, j, k, s: r + (k - 1), lambda f, j, p, s: f - p * j),
                "each layer widens the field by (k − 1) pixels of ITS input, and one pixel "
                "there is j input pixels, j the product of the strides BELOW it: "
                "r ← r + (k − 1)·j, then j ← j·s."))
    out.append((walk(lambda r, j, k, s: r + (k - 1) * j * s, lambda f, j, p, s: f - p * j),
                "the stride of a layer spaces its OUTPUTS; it does not stretch its own kernel: "
                "r ← r + (k − 1)·j with j the product of the strides of the layers below it, "
                "then j ← j·s."))
    out.append((walk(lambda r, j, k, s: r + (k - 1) * j, lambda f, j, p, s: f - p),
                "padding is counted in the pixels of the layer's input, j input pixels each: "
                "first ← first − p·j."))
    out.append((walk(lambda r, j, k, s: r + (k - 1) * j, lambda f, j, p, s: f),
                "padding moves the field: output 0 of a layer with padding p starts p pixels "
                "before its input's first pixel: first ← first − p·j."))
    r = int(np.prod([k for k, _, _ in layers]))
    out.append(((r, None, None), "kernels do not multiply: r ← r + (k − 1)·j."))
    r = int(sum(k for k, _, _ in layers))
    out.append(((r, None, None), "the kernels' sizes do not add up: neighbouring windows "
                "overlap by k − 1. r ← r + (k − 1)·j, with j the product of the strides below."))
    return out


@by_hand("11.4")
@_quiet
def check_receptive_field(receptive_field, seed=113):
    """Exercise 11.4: ``receptive_field(layers) -> (size, jump, first)`` for a stack of square
    convolutions, ``layers`` a list of ``(kernel, stride, padding)`` from the input up.

    size: the field of one output unit, in input pixels (per axis); jump: the distance between
    neighbouring units' fields (the product of the strides); first: the input index of the first
    pixel that output 0 sees (0 without padding, negative into the padding). Compared with
    minigan.nn.receptive_field, itself tested against brute force (perturb one input pixel, see
    which outputs move). Cases: one layer, pix2pix's 70×70 PatchGAN, stride 1 only (where
    ignoring the strides is right by accident, so other cases catch it), a stride after a
    stride, a 1×1 stack, kernels smaller than their strides (gaps).
    """
    fn = receptive_field
    cases = [("one 4×4 layer, stride 2, padding 1", [(4, 2, 1)]),
             ("pix2pix's 70×70 PatchGAN", [(4, 2, 1), (4, 2, 1), (4, 2, 1), (4, 1, 1),
                                           (4, 1, 1)]),
             ("stride 1 only", [(3, 1, 1), (5, 1, 2), (3, 1, 0)]),
             ("mixed strides and paddings", [(3, 1, 0), (4, 2, 1), (3, 2, 2), (5, 3, 0)]),
             ("the 1×1 PixelGAN", [(1, 1, 0), (1, 1, 0), (1, 1, 0)]),
             ("kernels smaller than strides", [(2, 3, 0), (1, 2, 0), (3, 2, 1)])]
    for case, layers in cases:
        size, jump, first = _rf_reference(layers)
        out = _call(fn, {"layers": [tuple(l) for l in layers]}, case)
        got = _unpack(fn, out, ("size", "jump", "first"), case)
        mistakes = _rf_mistakes(layers)
        for i, (what, value) in enumerate(zip(("size", "jump", "first"), (size, jump, first))):
            ms = [(m[i], h) for m, h in mistakes if m[i] is not None]
            _compare(fn, what, got[i], value, case, mistakes=ms,
                     shape_hints={(2,): f"return {what} as one number per axis (square "
                                  "kernels: both axes agree), not a pair."})
    _passed(fn, f"size, jump and first match brute force on {len(cases)} stacks (pix2pix's "
            "70×70 PatchGAN, stride 1 only, gaps, padding).")


# --------------------------------------------------------------------------------------
# Exercise 11.5: G's loss in pix2pix and its gradient into G's output
# --------------------------------------------------------------------------------------

_G_HINTS = {
    "sign": "the sign is reversed: dfake is the gradient of the loss G DESCENDS, "
            "BCE(D(x, ŷ), 1) + λ·mean|ŷ − y|; its negative would make the fakes more fake and "
            "pull ŷ away from y.",
    "minimax": "pix2pix's G uses the NON-SATURATING loss, BCE(D(x, ŷ), 1) = −mean log σ(s) "
               "(chapter 3), not the minimax mean log(1 − σ(s)), whose gradient vanishes where "
               "D rejects the fakes confidently.",
    "d_fake": "that is D's loss on the fake pair, BCE(s, 0): descending it makes ŷ look MORE "
              "fake. G's adversarial term is BCE(s, 1) (the non-saturating loss).",
    "patch_sum": "the adversarial term is the MEAN of the BCE over every logit of D's map (the "
                 "PatchGAN judges patches: N·h·w logits), not their sum: ds = (σ(s) − 1)/s.size.",
    "patch_per_image": "the mean runs over every logit of the map, N·h·w of them, not over the "
                       "N images only (that sums over each image's patches).",
    "patch_per_patch": "the mean runs over every logit of the map, N·h·w of them, including the "
                       "batch: dividing by h·w only sums over the N images.",
    "l1_sum": "the L1 term is a MEAN over all entries of ŷ: its gradient is λ·sign(ŷ − y)/n with "
              "n = ŷ.size (exercise 11.1).",
    "l1_per_image": "the L1 term's mean runs over ALL entries of ŷ (n = N·C·H·W), not over the "
                    "batch only.",
    "no_lambda": "λ weights the L1 term: dfake = (D's share) + λ·sign(ŷ − y)/n. λ is missing.",
    "lambda_on_gan": "λ weights the L1 term, not the adversarial one: dfake = (D's share) + "
                     "λ·sign(ŷ − y)/n.",
    "wrong_channels": "D reads [x, ŷ] (x first): the gradient of ŷ is the LAST C_y channels of "
                      "D's input gradient, dh[:, C_x:]; the first channels belong to x (data, "
                      "whose gradient is dropped).",
    "order": "D reads the pair in the order [x, ŷ], the input x first (Pix2Pix.d_input: "
             "concat_channels(x, y)); [ŷ, x] is another picture to D.",
    "real_pair": "D must judge G's output: its input is [x, ŷ] (the fake pair), not the real "
                 "pair [x, y].",
    "no_gan": "the adversarial term is missing: add the gradient that comes back through D, "
              "the ŷ-channels of D.backward(ds, cache).",
    "no_l1": "the L1 term is missing: add λ·sign(ŷ − y)/n (exercise 11.1).",
    "l1_subgradient": "where ŷ == y, |u| has no derivative: use the subgradient 0 there "
                      "(np.sign(0) = 0), as minigan.nn.l1_loss (exercise 11.1).",
    "l1_weighted": "return the L1 term UNWEIGHTED, mean|ŷ − y|, as Pix2Pix.g_loss_and_backward: "
                   "λ weights it in the objective and in dfake.",
}


def _g_parts(x, fake, y, D, lam, mistake=None):
    """(loss_gan, loss_l1, dfake) of pix2pix's G loss, right or with one known mistake."""
    Cx = x.shape[1]
    if mistake == "order":
        h = np.concatenate([fake, x], axis=1)
    elif mistake == "real_pair":
        h = np.concatenate([x, y], axis=1)
    else:
        h = np.concatenate([x, fake], axis=1)
    s, cache = D.forward(h)
    N = s.shape[0]
    n_s = {"patch_sum": 1, "patch_per_image": N,
           "patch_per_patch": s.size // N}.get(mistake, s.size)
    sig = _sigmoid(s)
    if mistake == "minimax":
        loss_gan, ds = -float(_softplus(s).sum()) / n_s, -sig / n_s
    elif mistake == "d_fake":
        loss_gan, ds = float(_softplus(s).sum()) / n_s, sig / n_s
    else:
        loss_gan, ds = float(_softplus(-s).sum()) / n_s, (sig - 1) / n_s
    dh = D.backward(ds, cache)
    if mistake == "order":
        dgan = dh[:, :fake.shape[1]]
    elif mistake == "wrong_channels":
        dgan = dh[:, :fake.shape[1]]
    else:
        dgan = dh[:, Cx:]
    diff = fake - y
    n = {"l1_sum": 1, "l1_per_image": fake.shape[0]}.get(mistake, diff.size)
    sgn = np.where(diff >= 0, 1.0, -1.0) if mistake == "l1_subgradient" else np.sign(diff)
    loss_l1 = float(np.abs(diff).sum()) / n
    dl1 = sgn / n
    if mistake == "l1_weighted":
        loss_l1 = lam * loss_l1
    if mistake == "no_lambda":
        dfake = dgan + dl1
    elif mistake == "lambda_on_gan":
        dfake = lam * dgan + dl1
    elif mistake == "no_gan":
        dfake = lam * dl1
    elif mistake == "no_l1":
        dfake = dgan
    else:
        dfake = dgan + lam * dl1
    if mistake == "sign":
        dfake = -dfake
    return loss_gan, loss_l1, dfake


def _g_case(rng, N, Cx, Cy, S, d_layers, lam, p_equal):
    """A Pix2Pix (float64, l1+cgan) with a PatchGAN of random non-trivial weights, and the
    learner's D, a separate patch_discriminator in the same state; x, fake, y."""
    from ..gans.pix2pix import Pix2Pix, patch_discriminator
    model = Pix2Pix(in_channels=Cx, out_channels=Cy, size=S, objective="l1+cgan", lam=lam,
                    depth=1, width=2, dropout=0.0, d_layers=d_layers, d_width=4,
                    dtype="float64", seed=0)
    for name, p, _ in model.D.named_parameters():
        if p.ndim == 1 and not name.endswith("bias"):          # a norm's γ
            p[...] = rng.uniform(0.5, 1.5, p.shape)
        else:
            p[...] = rng.normal(0.0, 0.5, p.shape)
    x = np.where(rng.random((N, Cx, S, S)) < 0.5, -1.0, 1.0)   # a label map's ±1 channels
    y = rng.uniform(-0.9, 0.9, (N, Cy, S, S))
    fake = np.clip(y + rng.normal(0.0, 0.4, y.shape), -0.99, 0.99)
    equal = rng.random(y.shape) < p_equal
    fake[equal] = y[equal]
    # D's logits on both sides of 0 (σ away from 0 and 1), so that the BCE variants differ
    s = model.D.forward(np.concatenate([x, fake], axis=1))[0]
    model.D.layers[-1].params["bias"][...] -= np.median(s)
    D = patch_discriminator(Cx + Cy, d_layers, 4, dtype="float64")
    D.load_state_dict(model.D.state_dict())
    return model, D, x, fake, y


def _g_reference(model, x, fake, y):
    """minigan's Pix2Pix.g_loss_and_backward: (loss_gan, loss_l1, the dfake it hands to G)."""
    seen = []
    model.G.backward_params = lambda dfake, cache: seen.append(np.array(dfake, copy=True))
    try:
        loss_gan, loss_l1 = model.g_loss_and_backward(x, y, fake, None)
    finally:
        del model.G.backward_params
    assert len(seen) == 1, "check_pix2pix_g_loss's own reference"
    return float(loss_gan), float(loss_l1), seen[0]


@by_hand("11.5")
@_quiet
def check_pix2pix_g_loss(pix2pix_g_loss, seed=114):
    """Exercise 11.5: ``pix2pix_g_loss(x, fake, y, D, lam) -> (loss_gan, loss_l1, dfake)``,
    G's loss in pix2pix (objective "l1+cgan") and its gradient with respect to G's output.

    x: (N, C_x, H, W) inputs; fake: (N, C_y, H, W) G's outputs ŷ; y: the targets, like fake;
    D: a PatchGAN (``D.forward(h) -> (logit map (N, 1, h, w), cache)``, ``D.backward(ds, cache)
    -> dh``, the gradient of its input); lam: λ. loss_gan = BCE(D([x, ŷ]), 1), the mean over
    every logit of the map; loss_l1 = mean|ŷ − y| (unweighted); dfake = ∂(loss_gan + λ·loss_l1)
    /∂ŷ. Compared with minigan's Pix2Pix.g_loss_and_backward from the same D. Cases: one image,
    the PixelGAN (a logit per pixel, where sum and mean differ most), C_x = C_y (where taking
    the wrong channels of D's input gradient keeps the shape), outputs equal to their targets
    (the L1 subgradient), a map of one logit per image.
    """
    fn = pix2pix_g_loss
    rng = np.random.default_rng(seed)
    #        case                                        N  Cx Cy S   d_layers lam    p_equal
    cases = [("one image, a 16×16 PatchGAN",             1, 2, 3, 8,  1,       100.0, 0.0),
             ("4 images, the PixelGAN (a logit a pixel)", 4, 3, 2, 6,  0,       10.0,  0.0),
             ("C_x = C_y, λ = 1",                        2, 3, 3, 8,  1,       1.0,   0.0),
             ("a third of the outputs equal their targets", 3, 2, 3, 8, 1,     100.0, 1 / 3),
             ("one logit per image",                     2, 4, 3, 12, 2,       50.0,  0.0)]
    for case, N, Cx, Cy, S, d_layers, lam, p_equal in cases:
        model, D, x, fake, y = _g_case(rng, N, Cx, Cy, S, d_layers, lam, p_equal)
        gan_ref, l1_ref, d_ref = _g_reference(model, x, fake, y)
        out = _call(fn, {"x": x, "fake": fake, "y": y, "D": D, "lam": lam}, case,
                    readonly=("x", "fake", "y"),
                    error_hint="D reads the pair [x, ŷ] along the channels, shape (N, C_x + "
                    "C_y, H, W): np.concatenate([x, fake], axis=1); its backward returns the "
                    "gradient of that pair, and dfake is its last C_y channels.")
        got = _unpack(fn, out, ("loss_gan", "loss_l1", "dfake"), case)
        for what, v in zip(("loss_gan", "loss_l1"), got[:2]):
            if v.shape != ():
                raise ExerciseError(f"{_name(fn)}: {what} should be one number, got an array "
                                    f"of shape {v.shape} (case '{case}'): a mean over all "
                                    f"{'logits of the map' if what == 'loss_gan' else 'entries'}.")
        wrong = {m: _g_parts(x, fake, y, D, lam, m) for m in _G_HINTS}
        if not p_equal:
            del wrong["l1_subgradient"]
        for k, (what, ref) in enumerate((("loss_gan", gan_ref), ("loss_l1", l1_ref),
                                          ("dfake", d_ref))):
            _compare(fn, what, got[k], ref, case,
                     mistakes=[(v[k], _G_HINTS[m]) for m, v in wrong.items()],
                     shape_hints={(N, Cx + Cy, S, S): "that is the gradient of D's whole input "
                                  "[x, ŷ]; dfake is its last C_y channels, dh[:, C_x:]."}
                     if what == "dfake" else None)
    _passed(fn, f"loss_gan, loss_l1 and dfake match Pix2Pix.g_loss_and_backward on "
            f"{len(cases)} cases (a PatchGAN, the PixelGAN, C_x = C_y, ties, one logit per "
            "image).")
