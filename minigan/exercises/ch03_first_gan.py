"""The checks of the exercises of chapter 3: a first GAN (see :mod:`minigan.exercises`)."""
from __future__ import annotations

import numpy as np

from .checker import by_hand, ExerciseError, NONFINITE_LOGITS, _name, _call, _unpack, _compare, _quiet, _passed, _softplus, _sigmoid
from .ch01_backprop import clip_hint, clipped_bce


@by_hand("3.1")
@_quiet
def check_discriminator_loss_and_grad(discriminator_loss_and_grad, seed=7):
    """Exercise 3.1: ``discriminator_loss_and_grad(d_real_logits, d_fake_logits) ->
    (loss, d_real_grad, d_fake_grad)``:

        loss = BCE(real logits, 1) + BCE(fake logits, 0)     (each a mean over its batch)
             = mean(softplus(−r)) + mean(softplus(f))

    The logits are usually (N, 1); a D with several logits per sample (a PatchGAN's, say)
    gives (N, P), and each mean runs over every logit of its batch.
    """
    from ..nn.losses import bce_with_logits
    rng = np.random.default_rng(seed)
    cases = [("batch 1", rng.standard_normal((1, 1)), rng.standard_normal((1, 1))),
             ("odd sizes", rng.standard_normal((5, 1)) * 2, rng.standard_normal((5, 1)) * 2),
             ("different batch sizes", rng.standard_normal((6, 1)) * 2,
              rng.standard_normal((3, 1)) * 2),
             ("logits of \u00b11000", np.array([[1000.0], [-1000.0], [3.0]]),
              np.array([[-1000.0], [1000.0], [-2.0]])),
             ("3 logits per sample", rng.standard_normal((4, 3)) * 2,
              rng.standard_normal((5, 3)) * 2)]
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
        rows = (f"each mean runs over every logit of its batch (here {nr} real and {nf} fake "
                "logits, several per sample), not over the rows alone: divide by .size, or "
                "use .mean().")
        halved = ("the loss is the SUM of the two cross-entropies, BCE(real, 1) + BCE(fake, 0), "
                  "as −V(D, G) is; not their average.")
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
            (_softplus(-r).sum() / len(r) + _softplus(f).sum() / len(f), rows),
            (loss_ref / 2, halved),
        ] + [(cr.mean() + cf.mean(), clip_hint(eps)) for (eps, cr), (_, cf)
             in zip(clipped_bce(r, np.ones_like(r)), clipped_bce(f, np.zeros_like(f)))],
            nonfinite=NONFINITE_LOGITS, shape_hints={r.shape: "the loss is one number."})
        _compare(discriminator_loss_and_grad, "d_real_grad", dr, gr, case, mistakes=[
            ((sr - 1), f"the mean over the real batch carries 1/N: (σ(r) − 1)/N, N = {nr}."),
            ((1 - sr) / nr, "wrong sign: ∂(−log σ(r))/∂r = σ(r) − 1, negative: D raises real "
             "logits."),
            (sr / nr, "real samples have label 1: the gradient is (σ(r) − 1)/N."),
            ((sr - 1) / (nr + nf), "average each batch separately: (σ(r) − 1)/N_real."),
            (-1 / sr / nr, "that is the gradient with respect to D(x) = σ(r); through the "
             "sigmoid it becomes (σ(r) − 1)/N."),
            ((sr - 1) / len(r), rows),
            (gr / 2, halved),
        ], nonfinite=NONFINITE_LOGITS)
        _compare(discriminator_loss_and_grad, "d_fake_grad", df, gf, case, mistakes=[
            (sf, f"the mean over the fake batch carries 1/N: σ(f)/N, N = {nf}."),
            (-sf / nf, "wrong sign: ∂(−log(1 − σ(f)))/∂f = σ(f), positive: D lowers fake "
             "logits."),
            ((sf - 1) / nf, "fake samples have label 0: the gradient is (σ(f) − 0)/N."),
            (sf / (nr + nf), "average each batch separately: σ(f)/N_fake."),
            (1 / (1 - sf) / nf, "that is the gradient with respect to D(G(z)) = σ(f); through "
             "the sigmoid it becomes σ(f)/N."),
            (sf / len(f), rows),
            (gf / 2, halved),
        ], nonfinite=NONFINITE_LOGITS)
    _passed(discriminator_loss_and_grad, f"loss and both gradients match BCE(real, 1) + "
            f"BCE(fake, 0) on {len(cases)} cases (incl. logits of \u00b11000, 3 logits per sample).")


@by_hand("3.2")
@_quiet
def check_generator_loss_nonsaturating(generator_loss_nonsaturating, seed=8):
    """Exercise 3.2: ``generator_loss_nonsaturating(d_fake_logits) -> (loss, grad)``:
    loss = mean(−log D(G(z))) = mean(softplus(−f)), grad with respect to the logits f
    (usually (N, 1); with several logits per sample the mean runs over all of them)."""
    from ..nn.losses import bce_with_logits
    rng = np.random.default_rng(seed)
    cases = [("batch 1", rng.standard_normal((1, 1))),
             ("odd sizes", rng.standard_normal((7, 1)) * 2),
             ("D sure of itself", np.array([[-8.0], [-5.0], [-6.0], [-9.0]])),
             ("logits of \u00b11000", np.array([[-1000.0], [1000.0], [0.3]])),
             ("3 logits per sample", rng.standard_normal((5, 3)) * 2)]
    for case, f in cases:
        n = f.size
        loss_ref, g_ref = bce_with_logits(f, np.ones_like(f))
        s = _sigmoid(f)
        out = _call(generator_loss_nonsaturating, {"d_fake_logits": f}, case,
                    readonly=("d_fake_logits",))
        loss, g = _unpack(generator_loss_nonsaturating, out, ("loss", "grad"), case)
        rows = (f"the mean runs over every logit ({n} here, several per sample), not over the "
                "rows alone: divide by .size, or use .mean().")
        sat = ("that is the saturating (minimax) loss, log(1 − D(G(z))), which G minimises "
               "in the original game; its gradient vanishes when D rejects the fakes. The "
               "non-saturating loss is −log D(G(z)).")
        _compare(generator_loss_nonsaturating, "the loss", loss, loss_ref, case, mistakes=[
            ((-_softplus(f)).mean(), sat),
            (_softplus(f).mean(), "G wants D to say 'real': the loss is −log σ(f) = "
             "softplus(−f), not −log(1 − σ(f))."),
            (-loss_ref, "−log D(G(z)) is positive: mind the minus."),
            (_softplus(-f).sum(), "the loss is the mean over the batch, not the sum."),
            (_softplus(-f).sum() / len(f), rows),
        ] + [(c.mean(), clip_hint(eps)) for eps, c in clipped_bce(f, np.ones_like(f))],
            nonfinite=NONFINITE_LOGITS, shape_hints={f.shape: "the loss is one number, the mean over the batch."})
        _compare(generator_loss_nonsaturating, "the gradient", g, g_ref, case, mistakes=[
            (-s / n, sat),
            (s / n, "G wants D to say 'real' (label 1): the gradient is (σ(f) − 1)/N."),
            ((s - 1), f"the loss is a mean, so its gradient carries 1/N: (σ(f) − 1)/N, N = {n}."),
            ((1 - s) / n, "wrong sign: raising f lowers −log σ(f), so the gradient "
             "(σ(f) − 1)/N is negative."),
            (-1 / s / n, "that is the gradient with respect to D(G(z)) = σ(f); through the "
             "sigmoid it becomes (σ(f) − 1)/N."),
            ((s - 1) / len(f), rows),
        ], nonfinite=NONFINITE_LOGITS)
    _passed(generator_loss_nonsaturating, f"loss and gradient match −mean log σ(f) on "
            f"{len(cases)} cases (incl. a confident D, logits of \u00b11000, 3 per sample).")


@by_hand("3.4")
@_quiet
def check_modes_covered(modes_covered, seed=9):
    """Exercise 3.4: ``modes_covered(samples, centers, std) -> int``, as
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


# --------------------------------------------------------------------------------------
# Exercise 3.3: one iteration of Algorithm 1
# --------------------------------------------------------------------------------------

def _bce(s, target):
    """Mean BCE of logits s against a constant target, and its gradient (minigan's own)."""
    from ..nn.losses import bce_with_logits
    return bce_with_logits(s, np.full_like(s, target))


def gan_step_by_hand(G, D, opt_G, opt_D, real, z_d, z_g, mistake=None):
    """One iteration of Algorithm 1 (k = 1, non-saturating G loss) with minigan's layers and
    losses: the reference of Exercise 3.3 (mistake=None), or what an answer that makes one
    known mistake does (a key of ``GAN_STEP_MISTAKES``). Returns (loss_d, loss_g)."""
    m = mistake

    def d_loss(s_real, s_fake):
        l_r, d_r = _bce(s_real, 0.0 if m == "d labels swapped" else 1.0)
        l_f, d_f = _bce(s_fake, 1.0 if m in ("d fake label 1", "d labels swapped") else 0.0)
        if m in ("d sum", "d gradient sum"):
            d_r, d_f = d_r * s_real.size, d_f * s_fake.size
            if m == "d sum":
                l_r, l_f = l_r * s_real.size, l_f * s_fake.size
        return l_r + l_f, d_r, d_f

    def g_loss(s):
        if m == "saturating":
            l, d = _bce(s, 0.0)
            return -l, -d
        l, d = _bce(s, 0.0 if m == "g label 0" else 1.0)
        if m in ("g sum", "g gradient sum"):
            l, d = (l * s.size if m == "g sum" else l), d * s.size
        if m == "g sign":
            d = -d
        return l, d

    def d_step(fake=None):
        if m not in ("no zero_grad D", "no zero_grad"):
            opt_D.zero_grad()
        if fake is None:
            fake, cache_g = G.forward(z_g if m == "noise swapped" else z_d)
        else:
            cache_g = None
        s_real, c_real = D.forward(real)
        s_fake, c_fake = D.forward(fake)
        loss, d_r, d_f = d_loss(s_real, s_fake)
        D.backward(d_r, c_real)
        dfake = D.backward(d_f, c_fake)
        if m == "D loss into G":
            G.backward(dfake, cache_g)
        return loss

    def g_pass(z):
        """G's loss through D, backpropagated into G (and, as a side effect, into D)."""
        fake, cache_g = G.forward(z)
        s, cache_d = D.forward(fake)
        loss, ds = g_loss(s)
        G.backward(D.backward(ds, cache_d), cache_g)
        return loss

    if m == "fresh optimisers":                     # new optimisers, their state lost
        opt_D, opt_G = _fresh(opt_D, D), _fresh(opt_G, G)
    z_for_g = {"z_d for G": z_d, "noise swapped": z_d}.get(m, z_g)
    if m in ("G first", "G first, stale fakes"):
        stale = G.forward(z_d)[0]
        opt_G.zero_grad()
        loss_g = g_pass(z_for_g)
        opt_G.step()
        loss_d = d_step(stale if m == "G first, stale fakes" else None)
        opt_D.step()
        return loss_d, loss_g
    if m == "simultaneous":                         # G's pass through D before D's update
        opt_G.zero_grad()
        loss_d = d_step()
        loss_g = g_pass(z_for_g)
        opt_D.step()
        opt_G.step()
        return loss_d, loss_g
    if m == "forward before D's update":            # D's forward for G before, backward after
        loss_d = d_step()
        fake, cache_g = G.forward(z_for_g)
        s, cache_d = D.forward(fake)
        opt_D.step()
        opt_G.zero_grad()
        loss_g, ds = g_loss(s)
        G.backward(D.backward(ds, cache_d), cache_g)
        opt_G.step()
        return loss_d, loss_g
    if m == "D loss into G":
        opt_G.zero_grad()                           # once, at the start
    loss_d = d_step()
    opt_D.step()
    if m not in ("no zero_grad G", "no zero_grad", "D loss into G"):
        opt_G.zero_grad()
    loss_g = g_pass(z_for_g)
    opt_G.step()
    if m == "G step moves D":
        opt_D.step()
    return loss_d, loss_g


def _fresh(opt, net):
    """A new optimiser of the same kind and settings as ``opt`` on ``net`` (its state lost)."""
    from ..optim import SGD, Adam
    if isinstance(opt, Adam):
        return Adam(net, lr=opt.lr, betas=opt.betas, eps=opt.eps)
    return SGD(net, lr=opt.lr, momentum=opt.momentum)


GAN_STEP_MISTAKES = {
    "saturating": "G's loss is the saturating log(1 − D(G(z))) of the minimax game. Algorithm 1 "
                  "as used in practice, and this exercise, take the non-saturating "
                  "−log D(G(z)) = BCE(s, 1) (section 3, Exercise 3.2).",
    "g label 0": "G wants D to call its fakes REAL: G's loss is BCE(D(G(z)), 1), label 1. "
                 "With label 0, G helps D.",
    "g sign": "G descends its loss: opt_G.step() subtracts lr·gradient, so backpropagate "
              "the gradient of the loss G minimises, (σ(s) − 1)/N, not its negative.",
    "d fake label 1": "D's fakes have label 0: D's loss is BCE(s_real, 1) + BCE(s_fake, 0).",
    "d labels swapped": "the labels are swapped: real samples have label 1, fakes label 0.",
    "d sum": "D's loss is a mean over each batch, so its gradients carry 1/N (Exercise 3.1); "
             "a sum makes D's steps N times too large.",
    "d gradient sum": "D's loss is a mean over each batch, so its gradients carry 1/N "
                      "(Exercise 3.1): without it D's steps are N times too large.",
    "g sum": "G's loss is a mean over the batch, so its gradient carries 1/N (Exercise 3.2).",
    "g gradient sum": "G's loss is a mean over the batch, so its gradient carries 1/N "
                      "(Exercise 3.2): without it G's steps are N times too large.",
    "no zero_grad D": "D's update used gradients that were already in D's arrays before this "
                      "step (G's pass backpropagates through D and leaves its gradients "
                      "there; gradients accumulate): call opt_D.zero_grad() before D's "
                      "backward passes.",
    "no zero_grad G": "G's update used gradients that were already in G's arrays before its "
                      "backward pass: call opt_G.zero_grad() first.",
    "no zero_grad": "neither update cleared its gradients first: call opt_D.zero_grad() before "
                    "D's backward passes and opt_G.zero_grad() before G's.",
    "D loss into G": "D's loss leaked into G's update: the fakes D trains on need no backward "
                     "pass into G (G does not learn from D's loss), or clear G's gradients "
                     "right before G's own backward pass.",
    "G step moves D": "G's step moved D too. The backward pass through D adds G's loss "
                      "gradient into D's arrays, but those are not D's to use: in G's step, "
                      "step only opt_G.",
    "simultaneous": "G's gradient went through D as it was BEFORE D's update. Algorithm 1 "
                    "updates D first, then computes G's loss and gradient with the updated "
                    "D: do G's forward pass through D after opt_D.step().",
    "forward before D's update": "G's forward pass through D ran before D's update and its "
                                 "backward pass after it, mixing two Ds: run G's forward and "
                                 "backward passes through D after opt_D.step().",
    "G first": "Algorithm 1 updates D first (its k = 1 step), then G through the updated D: "
               "swap the order.",
    "G first, stale fakes": "D trained on fakes made before G's update, after G had moved; "
                            "and Algorithm 1 updates D first, then G: do D's step (with "
                            "fresh fakes from G) first.",
    "z_d for G": "G's step uses its own noise batch z_g: Algorithm 1 samples new noise for G's "
                 "update. (Reusing D's fakes is a common shortcut, but not this exercise's.)",
    "noise swapped": "the noise batches are swapped: z_d makes D's fakes, z_g is G's.",
    "fresh optimisers": "use the optimisers you are given: they carry their state (momentum, "
                        "Adam's moments and step count) from one step to the next, and new "
                        "ones start from scratch each step.",
}


def _flat(net):
    return np.concatenate([p.ravel() for _, p, _ in net.named_parameters()])


def _toy_nets(rng, data_dim, latent_dim, hidden):
    from ..nn.layers import LeakyReLU, Linear, ReLU, Sequential
    G = Sequential(Linear(latent_dim, hidden, rng=rng, dtype="float64"), ReLU(),
                   Linear(hidden, data_dim, rng=rng, dtype="float64"))
    D = Sequential(Linear(data_dim, hidden, rng=rng, dtype="float64"), LeakyReLU(0.2),
                   Linear(hidden, 1, rng=rng, dtype="float64"))
    return G, D


def _run_gan_steps(step_fn, case, start, batches, mistake=None):
    """Run ``step_fn`` (the learner's, or gan_step_by_hand with a mistake) for every batch from
    the same start; return [(loss_d, D params, loss_g, G params)] per step."""
    import copy
    G, D = copy.deepcopy(start[0]), copy.deepcopy(start[1])
    opt_G, opt_D = case["opt"](G), case["opt"](D)
    for (_, _, g), junk in zip(G.named_parameters() + D.named_parameters(), start[2]):
        g[...] = junk                               # what an earlier step left behind
    out = []
    for real, z_d, z_g in batches:
        args = (G, D, opt_G, opt_D, real.copy(), z_d.copy(), z_g.copy())
        out.append((step_fn(*args, mistake=mistake), _flat(D), _flat(G)))
    return out


@by_hand("3.3")
@_quiet
def check_gan_train_step(gan_train_step, seed=14):
    """Exercise 3.3: ``gan_train_step(G, D, opt_G, opt_D, real, z_d, z_g) -> (loss_d, loss_g)``,
    one iteration of Goodfellow et al.'s Algorithm 1 with k = 1: first one update of D on the
    real batch and G(z_d), then one update of G with the non-saturating loss on G(z_g) through
    the UPDATED D. loss_d is D's loss before its update, loss_g G's loss after D's update.

    G, D: minigan Sequentials (float64), opt_G, opt_D: their minigan optimisers; they arrive
    holding whatever gradients an earlier step left (so a missing zero_grad shows at once).
    Each case runs 3 steps from the same start as minigan's reference (``gan_step_by_hand``,
    minigan's layers and bce_with_logits) and compares both losses and every parameter of D
    and G after each step. Cases: plain SGD (where a missing 1/N shows: Adam hides a
    constant factor), batch 1 with momentum, Adam with β₁ = 0.5 (the chapter's GANs).
    """
    from ..optim import SGD, Adam
    rng = np.random.default_rng(seed)
    cases = [
        {"name": "SGD, batch of 6", "N": 6, "data": 2, "latent": 2, "hidden": 5,
         "opt": lambda net: SGD(net, lr=0.1)},
        {"name": "batch 1, SGD with momentum", "N": 1, "data": 3, "latent": 2, "hidden": 4,
         "opt": lambda net: SGD(net, lr=0.05, momentum=0.9)},
        {"name": "Adam (β₁ = 0.5), batch of 5", "N": 5, "data": 2, "latent": 3, "hidden": 6,
         "opt": lambda net: Adam(net, lr=0.01, betas=(0.5, 0.999))},
    ]
    steps = 3
    names = ("loss_d", "D after its update", "loss_g", "G after its update")
    for case in cases:
        N, name = case["N"], case["name"]
        G, D = _toy_nets(rng, case["data"], case["latent"], case["hidden"])
        junk = [rng.standard_normal(p.shape) for _, p, _ in G.named_parameters()
                + D.named_parameters()]
        start = (G, D, junk)
        batches = [(rng.standard_normal((N, case["data"])) * 0.5 + 1.0,
                    rng.standard_normal((N, case["latent"])),
                    rng.standard_normal((N, case["latent"]))) for _ in range(steps)]
        ref = _run_gan_steps(gan_step_by_hand, case, start, batches)
        wrong = {}
        for m in GAN_STEP_MISTAKES:
            try:
                wrong[m] = _run_gan_steps(gan_step_by_hand, case, start, batches, mistake=m)
            except (ValueError, FloatingPointError):    # pragma: no cover
                pass

        # the learner's, step by step, on its own copy of the same start
        import copy
        G_l, D_l = copy.deepcopy(G), copy.deepcopy(D)
        opt_G, opt_D = case["opt"](G_l), case["opt"](D_l)
        for (_, _, g), j in zip(G_l.named_parameters() + D_l.named_parameters(), junk):
            g[...] = j
        alive = list(wrong)                      # the mistakes that agree with it so far
        for k, (real, z_d, z_g) in enumerate(batches):
            where = f"{name}, step {k + 1}"
            out = _call(gan_train_step, {"G": G_l, "D": D_l, "opt_G": opt_G, "opt_D": opt_D,
                                         "real": real, "z_d": z_d, "z_g": z_g}, where,
                        readonly=("real", "z_d", "z_g"))
            loss_d, loss_g = _unpack(gan_train_step, out, ("loss_d", "loss_g"), where)
            got = (loss_d, _flat(D_l), loss_g, _flat(G_l))
            exp = (ref[k][0][0], ref[k][1], ref[k][0][1], ref[k][2])
            def of(m):
                w = wrong[m][k]
                return (w[0][0], w[1], w[0][1], w[2])
            # the mistakes that explain the whole of this step name the hint, if any does
            whole = [m for m in alive if all(_agree(v, g) for v, g in zip(of(m), got))]
            for i, what in enumerate(names):
                named = whole or alive
                _compare(gan_train_step, what, got[i], exp[i], where,
                         mistakes=[(of(m)[i], GAN_STEP_MISTAKES[m]) for m in named],
                         nonfinite=NONFINITE_LOGITS if i % 2 == 0 else None)
                alive = [m for m in alive if _agree(of(m)[i], got[i])]
    _passed(gan_train_step, f"both losses and every parameter of D and G match minigan's "
            f"Algorithm 1 (D first, then G through the updated D) over {steps} steps on "
            f"{len(cases)} cases (SGD, batch 1 with momentum, Adam).")


def _agree(a, b):
    from .checker import _close
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and _close(a, b)
