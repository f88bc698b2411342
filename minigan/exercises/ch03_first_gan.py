"""The checks of the exercises of chapter 3: a first GAN (see :mod:`minigan.exercises`)."""
from __future__ import annotations

import numpy as np

from .checker import by_hand, ExerciseError, NONFINITE_LOGITS, _name, _call, _unpack, _compare, _quiet, _passed, _softplus, _sigmoid


@by_hand("3.1")
@_quiet
def check_discriminator_loss_and_grad(discriminator_loss_and_grad, seed=7):
    """Exercise 3.1: ``discriminator_loss_and_grad(d_real_logits, d_fake_logits) ->
    (loss, d_real_grad, d_fake_grad)``:

        loss = BCE(real logits, 1) + BCE(fake logits, 0)     (each a mean over its batch)
             = mean(softplus(−r)) + mean(softplus(f))
    """
    from ..nn.losses import bce_with_logits
    rng = np.random.default_rng(seed)
    cases = [("batch 1", rng.standard_normal((1, 1)), rng.standard_normal((1, 1))),
             ("odd sizes", rng.standard_normal((5, 1)) * 2, rng.standard_normal((5, 1)) * 2),
             ("different batch sizes", rng.standard_normal((6, 1)) * 2,
              rng.standard_normal((3, 1)) * 2),
             ("logits of \u00b11000", np.array([[1000.0], [-1000.0], [3.0]]),
              np.array([[-1000.0], [1000.0], [-2.0]]))]
    for case, r, f in cases:
        lr_, gr = bce_with_logits(r, np.ones_like(r))
        lf_, gf = bce_with_logits(f, np.zeros_like(f))
        loss_ref = lr_ + lf_
        nr, nf = r.size, f.size
        sr, sf = _sigmoid(r), _sigmoid(f)
        out = _call(discriminator_loss_and_grad, {"d_real_logits": r, "d_fake_logits": f},
                    case, readonly=("d_real_logits", "d_fake_logits"))
        loss, dr, df = _unpack(discriminator_loss_and_grad, out,
                               ("loss", "d_real_grad", "d_fake_grad"), case)
        swapped = _softplus(r).mean() + _softplus(-f).mean()
        both = np.concatenate([_softplus(-r).ravel(), _softplus(f).ravel()]).mean()
        _compare(discriminator_loss_and_grad, "the loss", loss, loss_ref, case, mistakes=[
            (-loss_ref, "D minimises the cross-entropy, which is −V(D, G): the loss is "
             "−log D(x) − log(1 − D(G(z))), positive."),
            (swapped, "the labels are swapped: real samples have label 1 (loss −log σ(r)), "
             "fakes label 0 (loss −log(1 − σ(f)))."),
            (both, "average each batch separately and add: BCE(real, 1) + BCE(fake, 0), not "
             "one mean over both batches."),
            (_softplus(-r).sum() + _softplus(f).sum(), "the loss is the mean over each batch, "
             "not the sum."),
        ], nonfinite=NONFINITE_LOGITS, shape_hints={r.shape: "the loss is one number."})
        _compare(discriminator_loss_and_grad, "d_real_grad", dr, gr, case, mistakes=[
            ((sr - 1), f"the mean over the real batch carries 1/N: (σ(r) − 1)/N, N = {nr}."),
            ((1 - sr) / nr, "wrong sign: ∂(−log σ(r))/∂r = σ(r) − 1, negative: D raises real "
             "logits."),
            (sr / nr, "real samples have label 1: the gradient is (σ(r) − 1)/N."),
            ((sr - 1) / (nr + nf), "average each batch separately: (σ(r) − 1)/N_real."),
            (-1 / sr / nr, "that is the gradient with respect to D(x) = σ(r); through the "
             "sigmoid it becomes (σ(r) − 1)/N."),
        ], nonfinite=NONFINITE_LOGITS)
        _compare(discriminator_loss_and_grad, "d_fake_grad", df, gf, case, mistakes=[
            (sf, f"the mean over the fake batch carries 1/N: σ(f)/N, N = {nf}."),
            (-sf / nf, "wrong sign: ∂(−log(1 − σ(f)))/∂f = σ(f), positive: D lowers fake "
             "logits."),
            ((sf - 1) / nf, "fake samples have label 0: the gradient is (σ(f) − 0)/N."),
            (sf / (nr + nf), "average each batch separately: σ(f)/N_fake."),
            (1 / (1 - sf) / nf, "that is the gradient with respect to D(G(z)) = σ(f); through "
             "the sigmoid it becomes σ(f)/N."),
        ], nonfinite=NONFINITE_LOGITS)
    _passed(discriminator_loss_and_grad, f"loss and both gradients match BCE(real, 1) + "
            f"BCE(fake, 0) on {len(cases)} cases (incl. logits of \u00b11000).")


@by_hand("3.2")
@_quiet
def check_generator_loss_nonsaturating(generator_loss_nonsaturating, seed=8):
    """Exercise 3.2: ``generator_loss_nonsaturating(d_fake_logits) -> (loss, grad)``:
    loss = mean(−log D(G(z))) = mean(softplus(−f)), grad with respect to the logits f."""
    from ..nn.losses import bce_with_logits
    rng = np.random.default_rng(seed)
    cases = [("batch 1", rng.standard_normal((1, 1))),
             ("odd sizes", rng.standard_normal((7, 1)) * 2),
             ("D sure of itself", np.array([[-8.0], [-5.0], [-6.0], [-9.0]])),
             ("logits of \u00b11000", np.array([[-1000.0], [1000.0], [0.3]]))]
    for case, f in cases:
        n = f.size
        loss_ref, g_ref = bce_with_logits(f, np.ones_like(f))
        s = _sigmoid(f)
        out = _call(generator_loss_nonsaturating, {"d_fake_logits": f}, case,
                    readonly=("d_fake_logits",))
        loss, g = _unpack(generator_loss_nonsaturating, out, ("loss", "grad"), case)
        sat = ("that is the saturating (minimax) loss, log(1 − D(G(z))), which G minimises "
               "in the original game; its gradient vanishes when D rejects the fakes. The "
               "non-saturating loss is −log D(G(z)).")
        _compare(generator_loss_nonsaturating, "the loss", loss, loss_ref, case, mistakes=[
            ((-_softplus(f)).mean(), sat),
            (_softplus(f).mean(), "G wants D to say 'real': the loss is −log σ(f) = "
             "softplus(−f), not −log(1 − σ(f))."),
            (-loss_ref, "−log D(G(z)) is positive: mind the minus."),
            (_softplus(-f).sum(), "the loss is the mean over the batch, not the sum."),
        ], nonfinite=NONFINITE_LOGITS, shape_hints={f.shape: "the loss is one number, the mean over the batch."})
        _compare(generator_loss_nonsaturating, "the gradient", g, g_ref, case, mistakes=[
            (-s / n, sat),
            (s / n, "G wants D to say 'real' (label 1): the gradient is (σ(f) − 1)/N."),
            ((s - 1), f"the loss is a mean, so its gradient carries 1/N: (σ(f) − 1)/N, N = {n}."),
            ((1 - s) / n, "wrong sign: raising f lowers −log σ(f), so the gradient "
             "(σ(f) − 1)/N is negative."),
            (-1 / s / n, "that is the gradient with respect to D(G(z)) = σ(f); through the "
             "sigmoid it becomes (σ(f) − 1)/N."),
        ], nonfinite=NONFINITE_LOGITS)
    _passed(generator_loss_nonsaturating, f"loss and gradient match −mean log σ(f) on "
            f"{len(cases)} cases (incl. a confident D and logits of \u00b11000).")


@by_hand("3.3")
@_quiet
def check_modes_covered(modes_covered, seed=9):
    """Exercise 3.3: ``modes_covered(samples, centers, std) -> int``, as
    :func:`minigan.evaluation.metrics.mode_metrics` counts them: each sample goes to its nearest
    centre; it is of high quality when it lies strictly within 3 std of that centre; a
    mode is covered when at least one high-quality sample goes to it.

    samples: (n, 2), centers: (K, 2), std: a number.
    """
    from ..evaluation.metrics import mode_metrics
    rng = np.random.default_rng(seed)
    ring = 2 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], 1)
    grid = np.array([[i, j] for i in range(-2, 3) for j in range(-2, 3)], float) * 2
    std = 0.02

    def around(centers, idx, s, scale=1.0):
        return centers[idx] + rng.standard_normal((len(idx), 2)) * s * scale

    cases = []
    cases.append(("every mode", around(ring, rng.integers(0, 8, 2000), std), ring, std))
    cases.append(("collapsed onto 3 modes", around(ring, rng.choice([0, 3, 5], 1500), std),
                  ring, std))
    # samples nearest every mode but far from all of them, plus two good modes
    far = around(ring, rng.integers(0, 8, 1000), std) * 0.8
    good = around(ring, rng.choice([1, 2], 1000), std)
    cases.append(("many samples off the modes", np.concatenate([far, good]), ring, std))
    # modes 0..3 sampled about 2 std from their centres (still high quality), 6 exactly
    idx = rng.choice([0, 1, 2, 3], 400)
    ang = rng.uniform(0, 2 * np.pi, 400)
    ring2 = ring[idx] + 2.0 * std * np.stack([np.cos(ang), np.sin(ang)], 1)
    cases.append(("samples 2 std from their modes",
                  np.concatenate([ring2, around(ring, np.full(50, 6), std, 0.3)]), ring, std))
    gstd = 0.05
    idx = rng.choice(25, 2500)
    idx = idx[idx % 3 != 0]
    cases.append(("grid25, some modes missing", around(grid, idx, gstd), grid, gstd))
    # Near the decision boundary: each mode's samples all lie at one distance r·std from it
    # (std 0.1 here), r = 1.5, 2.2, 2.6, 2.9 (high quality) and 3.1, 3.5, 4.5, 6 (not); the far
    # ones sit on the diagonals, where a per-coordinate box |dx|, |dy| < 3 std would still take
    # them. Only a threshold of 3 std on the Euclidean distance counts 4: 2 std counts 1, 15 std
    # 8, no threshold 8, a squared distance compared with 3 std (d < sqrt(0.3): 5.5 std) 7.
    std = 0.1
    radii = np.array([1.5, 2.2, 2.6, 2.9, 3.1, 3.5, 4.5, 6.0])
    diagonals = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]]) / np.sqrt(2)
    ring_samples = []
    for k, r in enumerate(radii):
        if r < 3:
            ang = rng.uniform(0, 2 * np.pi, 5)
            dirs = np.stack([np.cos(ang), np.sin(ang)], 1)
        else:
            dirs = diagonals
        ring_samples.append(ring[k] + r * std * dirs)
    cases.append(("samples at 1.5 to 6 std from their modes",
                  np.concatenate(ring_samples), ring, std))
    for case, x, c, s in cases:
        expected = int(mode_metrics(x, c, s)["modes_covered"])
        out = _call(modes_covered, {"samples": x, "centers": c, "std": s}, case,
                    readonly=("samples", "centers"))
        (got,) = _unpack(modes_covered, out, ("modes_covered",), case)
        if got.shape != ():
            raise ExerciseError(f"{_name(modes_covered)}: return one number, the count of "
                                f"covered modes; got shape {got.shape} (case '{case}').")
        got = float(got)
        if got == expected:
            continue
        d = np.linalg.norm(x[:, None, :] - c[None, :, :], axis=-1)
        nearest, dmin = d.argmin(1), d.min(1)
        hint = None
        if got == len(np.unique(nearest)):
            hint = ("you counted every mode that is the nearest centre of some sample; only "
                    "high-quality samples, within 3 std of their centre, count.")
        elif got == len(np.unique(nearest[dmin < 3])):
            hint = "measure distances in units of std: a sample counts if ||x − μ|| < 3·std."
        elif got == len(np.unique(nearest[dmin < s])):
            hint = "high quality means within 3 std of the centre, not within 1 std."
        elif got == len(np.unique(nearest[dmin ** 2 < 3 * s])):
            hint = ("compare the distance itself with 3·std, not the squared distance: "
                    "||x − μ||² < 3·std is ||x − μ|| < √(3·std), another threshold.")
        elif got == len(np.unique(nearest[np.all(np.abs(x - c[nearest]) < 3 * s, axis=1)])):
            hint = ("that is a square box, |Δx| < 3 std and |Δy| < 3 std; high quality is a "
                    "disc, the Euclidean distance ||x − μ|| < 3 std (a diagonal sample at "
                    "3.1 std is inside the box, outside the disc).")
        elif got == float((dmin < 3 * s).sum()) or got == float((dmin < 3 * s).mean()):
            hint = ("that is the number (or share) of high-quality samples; count the modes "
                    "they fall to.")
        elif got == len(c) - expected:
            hint = "that is the number of modes missed."
        elif 0 < got <= 1 and abs(got * len(c) - expected) < 1e-9:
            hint = "return the number of modes covered, not a fraction."
        raise ExerciseError(f"{_name(modes_covered)}: got {got:g} modes covered on the case "
                            f"'{case}', expected {expected}." + (f"\nHint: {hint}" if hint else ""))
    _passed(modes_covered, f"agrees with minigan.evaluation.metrics.mode_metrics on {len(cases)} cases "
            "(all modes, collapse, off-mode samples, samples 2 std out, grid25, samples on "
            "both sides of 3 std).")
