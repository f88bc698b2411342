"""The checks of chapter 11's exercises accept correct answers, written as a learner would and in
several forms, and reject plausible wrong ones, each with the hint that names the mistake."""
import numpy as np
import pytest

from minigan.exercises import ch11_pix2pix as ex
from minigan.exercises import ExerciseError
from minigan.nn import Conv2d, receptive_field as library_rf

from exercise_helpers import check_tests


# --- 11.1 --------------------------------------------------------------------------------------

def l1_loss(pred, target, *, mistake=None):
    diff = pred - target
    n = diff.size
    loss = {"sum": np.abs(diff).sum(), "per_batch": np.abs(diff).sum() / diff.shape[0],
            "squared": np.mean(diff ** 2), "abs_outside": abs(diff.mean())}.get(
        mistake, np.abs(diff).mean())
    d = {"no_n": np.sign(diff), "batch_n": np.sign(diff) / diff.shape[0], "linear": diff / n,
         "reversed": np.sign(-diff) / n, "ge": np.where(diff >= 0, 1.0, -1.0) / n,
         "gt": np.where(diff > 0, 1.0, -1.0) / n}.get(mistake, np.sign(diff) / n)
    return loss, d


def l1_loss_where(pred, target):
    """Another right form: the subgradient written out with np.where."""
    diff = pred - target
    g = np.where(diff > 0, 1.0, np.where(diff < 0, -1.0, 0.0))
    return float(np.mean(np.abs(diff))), g / diff.size


# --- 11.2 --------------------------------------------------------------------------------------

def instance_norm_backward(dy, x, gamma, eps, *, mistake=None):
    axes = (0, 2, 3) if mistake == "batch_axes" else (2, 3)
    M = np.prod([x.shape[a] for a in axes])
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).sum(axis=axes, keepdims=True) / (M - 1 if mistake == "unbiased" else M)
    sigma = np.sqrt(var) + eps if mistake == "eps_outside" else np.sqrt(var + eps)
    xh = (x - mu) / sigma
    g = dy * (1.0 if mistake == "no_gamma" else gamma.reshape(1, -1, 1, 1))
    if mistake == "constants":
        dx = g / sigma
    elif mistake == "no_mean_term":
        dx = (g - xh * (g * xh).mean(axes, keepdims=True)) / sigma
    else:
        dx = (g - g.mean(axes, keepdims=True) - xh * (g * xh).mean(axes, keepdims=True)) / sigma
    red = (2, 3) if mistake == "per_image_params" else (0, 2, 3)
    dgamma = (dy * xh).sum(red) if mistake != "dgamma_of_x" else (dy * x).sum(red)
    dbeta = dy.sum(red) if mistake != "dbeta_mean" else dy.mean(red)
    return dx, dgamma, dbeta


def instance_norm_backward_loops(dy, x, gamma, eps):
    """Another right form: one map at a time, the Jacobian written out."""
    N, C, H, W = x.shape
    dx = np.empty_like(x)
    dgamma, dbeta = np.zeros(C), np.zeros(C)
    M = H * W
    for n in range(N):
        for c in range(C):
            v = x[n, c].ravel()
            mu, sig = v.mean(), np.sqrt(v.var() + eps)
            xh = (v - mu) / sig
            J = (np.eye(M) - 1.0 / M) / sig - np.outer(xh, xh) / (M * sig)   # ∂x̂_j/∂x_i
            g = gamma[c] * dy[n, c].ravel()
            dx[n, c] = (J.T @ g).reshape(H, W)
            dgamma[c] += dy[n, c].ravel() @ xh
            dbeta[c] += dy[n, c].sum()
    return dx, dgamma, dbeta


# --- 11.3 --------------------------------------------------------------------------------------

def skip_backward(d_cat, c_u, deeper_backward, *, mistake=None):
    du, de_skip = d_cat[:, :c_u], d_cat[:, c_u:]
    if mistake == "swapped":
        c_e = d_cat.shape[1] - c_u
        du, de_skip = d_cat[:, c_e:], d_cat[:, :c_e]
    if mistake == "skip_only":
        return de_skip
    if mistake == "deeper_only":
        return deeper_backward(du)
    if mistake == "average":
        return 0.5 * (deeper_backward(du) + de_skip)
    if mistake == "whole":
        return deeper_backward(d_cat)
    return deeper_backward(du) + de_skip


def skip_backward_split(d_cat, c_u, deeper_backward):
    """Another right form: np.split, the skip's share added into the result."""
    du, de = np.split(d_cat, [c_u], axis=1)
    out = deeper_backward(du)
    out = out + de
    return out


# --- 11.4 --------------------------------------------------------------------------------------

def receptive_field(layers, *, mistake=None):
    r, j, f = 1, 1, 0
    for k, s, p in layers:
        if mistake == "no_jump":
            r += k - 1
        elif mistake == "jump_after":
            r += (k - 1) * j * s
        else:
            r += (k - 1) * j
        f -= {"pad_unscaled": p, "no_pad": 0}.get(mistake, p * j)
        j *= s
    if mistake == "product":
        r = int(np.prod([k for k, _, _ in layers]))
    if mistake == "sum":
        r = sum(k for k, _, _ in layers)
    if mistake == "pair":
        return (r, r), j, f
    return r, j, f


def receptive_field_backwards(layers):
    """Another right form: from the top down, r ← s·r + (k − s), then first from the jumps."""
    r = 1
    for k, s, _ in reversed(layers):
        r = s * r + (k - s)
    j, f = 1, 0
    for _, s, p in layers:
        f -= p * j
        j *= s
    return r, j, f


# --- 11.5: G's loss and its gradient into G's output ----------------------------------------

def _bce(s, t):
    return np.maximum(s, 0) - s * t + np.log1p(np.exp(-np.abs(s)))


def pix2pix_g_loss(x, fake, y, D, lam, *, mistake=None):
    Cx, Cy = x.shape[1], fake.shape[1]
    pair = {"order": [fake, x], "real_pair": [x, y]}.get(mistake, [x, fake])
    s, cache = D.forward(np.concatenate(pair, axis=1))
    N = s.shape[0]
    n = {"patch_sum": 1, "patch_per_image": N, "patch_per_patch": s.size // N}.get(mistake,
                                                                                  s.size)
    sig = 1 / (1 + np.exp(-s))
    if mistake == "minimax":
        loss_gan, ds = -_bce(s, 0.0).sum() / n, -sig / n
    elif mistake == "d_fake":
        loss_gan, ds = _bce(s, 0.0).sum() / n, sig / n
    else:
        loss_gan, ds = _bce(s, 1.0).sum() / n, (sig - 1) / n
    dh = D.backward(ds, cache)
    dgan = dh[:, :Cy] if mistake in ("order", "wrong_channels") else dh[:, Cx:]
    diff = fake - y
    m = {"l1_sum": 1, "l1_per_image": fake.shape[0]}.get(mistake, diff.size)
    sgn = np.where(diff >= 0, 1.0, -1.0) if mistake == "l1_subgradient" else np.sign(diff)
    loss_l1 = np.abs(diff).sum() / m
    dl1 = sgn / m
    dfake = {"no_lambda": lambda: dgan + dl1, "lambda_on_gan": lambda: lam * dgan + dl1,
             "no_gan": lambda: lam * dl1, "no_l1": lambda: dgan}.get(
        mistake, lambda: dgan + lam * dl1)()
    if mistake == "sign":
        dfake = -dfake
    if mistake == "l1_weighted":
        loss_l1 = lam * loss_l1
    if mistake == "whole_dh":
        dfake = dh
    return float(loss_gan), float(loss_l1), dfake


def pix2pix_g_loss_library_pieces(x, fake, y, D, lam):
    """Another right form, with minigan's answers to EARLIER exercises (allowed): the
    concatenation and its backward (11.2's), BCE with logits (1.4's), l1_loss (11.1's)."""
    from minigan.nn import concat_channels, concat_channels_backward, l1_loss
    from minigan.nn.losses import bce_with_logits
    h, c_cat = concat_channels(x, fake)
    s, cache = D.forward(h)
    loss_gan, ds = bce_with_logits(s, np.ones_like(s))
    _, dfake = concat_channels_backward(D.backward(ds, cache), c_cat)
    loss_l1, dl1 = l1_loss(fake, y)
    return loss_gan, loss_l1, dfake + lam * dl1


def pix2pix_g_loss_float32(x, fake, y, D, lam):
    """A right answer whose arithmetic after D ran in float32: not a wrong answer."""
    loss_gan, loss_l1, dfake = pix2pix_g_loss(x, fake, y, D, lam)
    return np.float32(loss_gan), np.float32(loss_l1), dfake.astype(np.float32)


def _g_writes_into_fake(x, fake, y, D, lam):
    out = pix2pix_g_loss(x, fake, y, D, lam)
    np.clip(fake, -0.5, 0.5, out=fake)
    return out


def _g_by_library(x, fake, y, D, lam):
    from minigan.gans.pix2pix import Pix2Pix
    model = Pix2Pix(in_channels=x.shape[1], out_channels=fake.shape[1], size=x.shape[2],
                    lam=lam, depth=1, width=2, d_layers=1, dtype="float64")
    model.D = D
    seen = []
    model.G.backward_params = lambda d, c: seen.append(d)
    return (*model.g_loss_and_backward(x, y, fake, None), seen[0])


def test_pix2pix_g_reference_is_the_written_out_formula():
    rng = np.random.default_rng(4)
    for N, Cx, Cy, S, d_layers in ((2, 3, 2, 8, 1), (3, 2, 3, 6, 0)):
        model, D, x, fake, y = ex._g_case(rng, N, Cx, Cy, S, d_layers, 100.0, 0.2)
        ref = ex._g_reference(model, x, fake, y)
        for a, b in zip(ex._g_parts(x, fake, y, D, 100.0), ref):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
        s = D.forward(np.concatenate([x, fake], 1))[0]
        assert s.shape[2:] != (1, 1) and 0.05 < float((s > 0).mean()) < 0.95, \
            "D's logits on both sides of 0: the BCE mistakes differ"
        assert np.any(fake == y)


def test_every_known_g_loss_mistake_differs_from_the_answer():
    rng = np.random.default_rng(5)
    model, D, x, fake, y = ex._g_case(rng, 2, 3, 2, 8, 1, 100.0, 0.3)
    right = ex._g_parts(x, fake, y, D, 100.0)
    for m in ex._G_HINTS:
        wrong = ex._g_parts(x, fake, y, D, 100.0, m)
        assert any(not np.allclose(w, r) for w, r in zip(wrong, right)), m


def test_receptive_field_forms_agree_with_the_library():
    layers = [(4, 2, 1), (3, 1, 1), (5, 3, 2), (2, 2, 0)]
    rf = library_rf([Conv2d(1, 1, k, stride=s, padding=p) for k, s, p in layers])
    assert receptive_field(layers) == receptive_field_backwards(layers) == \
        (rf.size[0], rf.jump[0], rf.first[0])
    assert receptive_field([(4, 2, 1)] * 3 + [(4, 1, 1)] * 2)[0] == 70     # the paper's PatchGAN


CORRECT = [
    (ex.check_l1_loss, l1_loss),
    (ex.check_l1_loss, l1_loss_where),
    (ex.check_instance_norm_backward, instance_norm_backward),
    (ex.check_instance_norm_backward, instance_norm_backward_loops),
    (ex.check_skip_backward, skip_backward),
    (ex.check_skip_backward, skip_backward_split),
    (ex.check_receptive_field, receptive_field),
    (ex.check_receptive_field, receptive_field_backwards),
    (ex.check_pix2pix_g_loss, pix2pix_g_loss),
    (ex.check_pix2pix_g_loss, pix2pix_g_loss_library_pieces),
    (ex.check_pix2pix_g_loss, pix2pix_g_loss_float32),
]

(test_check_accepts_correct_answer, test_every_check_is_covered,
 test_not_implemented_propagates_unchanged) = check_tests(ex, CORRECT)


# --- wrong answers, with the hint each must produce ----------------------------------------

def _with(fn, m):
    def f(*args):
        return fn(*args, mistake=m)
    return f


def _l1_writes_into_pred(pred, target):
    out = l1_loss(pred, target)
    pred -= target
    return out


WRONG = {
    # 11.1
    "l1: sum": (ex.check_l1_loss, _with(l1_loss, "sum"), r"MEAN of \|pred − target\|"),
    "l1: mean over the batch only": (ex.check_l1_loss, _with(l1_loss, "per_batch"),
                                     r"not over the batch only"),
    "l1: squared error": (ex.check_l1_loss, _with(l1_loss, "squared"), r"SQUARED"),
    "l1: abs of the mean": (ex.check_l1_loss, _with(l1_loss, "abs_outside"), r"cancel"),
    "l1: gradient without 1/n": (ex.check_l1_loss, _with(l1_loss, "no_n"), r"1/n is missing"),
    "l1: gradient over the batch size": (ex.check_l1_loss, _with(l1_loss, "batch_n"),
                                         r"not by the batch size"),
    "l1: gradient of L2": (ex.check_l1_loss, _with(l1_loss, "linear"), r"sign\(u\), not u"),
    "l1: reversed sign": (ex.check_l1_loss, _with(l1_loss, "reversed"), r"sign is reversed"),
    "l1: +1 at ties": (ex.check_l1_loss, _with(l1_loss, "ge"), r"subgradient 0"),
    "l1: −1 at ties": (ex.check_l1_loss, _with(l1_loss, "gt"), r"subgradient 0"),
    "l1: writes into pred": (ex.check_l1_loss, _l1_writes_into_pred,
                             r"changed its argument `pred`"),
    # 11.2
    "in: batch statistics": (ex.check_instance_norm_backward,
                             _with(instance_norm_backward, "batch_axes"), r"one μ and σ per MAP"),
    "in: μ, σ constants": (ex.check_instance_norm_backward,
                           _with(instance_norm_backward, "constants"), r"depend on x too"),
    "in: mean term missing": (ex.check_instance_norm_backward,
                              _with(instance_norm_backward, "no_mean_term"), r"−mean\(dy\)"),
    "in: γ missing": (ex.check_instance_norm_backward, _with(instance_norm_backward, "no_gamma"),
                      r"γ is missing"),
    "in: unbiased variance": (ex.check_instance_norm_backward,
                              _with(instance_norm_backward, "unbiased"), r"BIASED"),
    "in: eps outside the root": (ex.check_instance_norm_backward,
                                 _with(instance_norm_backward, "eps_outside"),
                                 r"eps INSIDE the square root"),
    "in: per-image dγ": (ex.check_instance_norm_backward,
                         _with(instance_norm_backward, "per_image_params"), r"shared by the images"),
    "in: dγ of x": (ex.check_instance_norm_backward, _with(instance_norm_backward, "dgamma_of_x"),
                    r"NORMALISED"),
    "in: dβ as a mean": (ex.check_instance_norm_backward, _with(instance_norm_backward,
                                                                "dbeta_mean"), r"a sum, not a mean"),
    # 11.3
    "skip: only the skip": (ex.check_skip_backward, _with(skip_backward, "skip_only"),
                            r"only the skip's share"),
    "skip: only the deeper path": (ex.check_skip_backward, _with(skip_backward, "deeper_only"),
                                   r"only the deeper path's share"),
    "skip: averaged": (ex.check_skip_backward, _with(skip_backward, "average"), r"ADD"),
    "skip: halves swapped": (ex.check_skip_backward, _with(skip_backward, "swapped"),
                             r"wrong way round|swapped|deeper_backward takes"),
    "skip: whole d_cat into the deeper path": (ex.check_skip_backward, _with(skip_backward,
                                                                              "whole"),
                                               r"d_cat\[:, :c_u\]"),
    # 11.4
    "rf: strides ignored": (ex.check_receptive_field, _with(receptive_field, "no_jump"),
                            r"product of the strides"),
    "rf: the layer's own stride": (ex.check_receptive_field, _with(receptive_field, "jump_after"),
                                   r"does not stretch its own kernel"),
    "rf: padding unscaled": (ex.check_receptive_field, _with(receptive_field, "pad_unscaled"),
                             r"first ← first − p·j"),
    "rf: padding ignored": (ex.check_receptive_field, _with(receptive_field, "no_pad"),
                            r"padding moves the field"),
    "rf: kernels multiplied": (ex.check_receptive_field, _with(receptive_field, "product"),
                               r"do not multiply"),
    "rf: kernels added": (ex.check_receptive_field, _with(receptive_field, "sum"),
                          r"do not add up"),
    "rf: a pair per axis": (ex.check_receptive_field, _with(receptive_field, "pair"),
                            r"one number per axis"),
    # 11.5
    "g: wrong sign": (ex.check_pix2pix_g_loss, _with(pix2pix_g_loss, "sign"), r"sign is reversed"),
    "g: minimax loss": (ex.check_pix2pix_g_loss, _with(pix2pix_g_loss, "minimax"),
                        r"NON-SATURATING"),
    "g: D's loss on the fake": (ex.check_pix2pix_g_loss, _with(pix2pix_g_loss, "d_fake"),
                                r"D's loss on the fake pair"),
    "g: sum over the patches": (ex.check_pix2pix_g_loss, _with(pix2pix_g_loss, "patch_sum"),
                                r"MEAN of the BCE over every logit"),
    "g: mean over the images only": (ex.check_pix2pix_g_loss,
                                     _with(pix2pix_g_loss, "patch_per_image"),
                                     r"not over the\s+N images only"),
    "g: mean over one image's patches": (ex.check_pix2pix_g_loss,
                                         _with(pix2pix_g_loss, "patch_per_patch"),
                                         r"dividing by h·w only"),
    "g: L1 summed": (ex.check_pix2pix_g_loss, _with(pix2pix_g_loss, "l1_sum"),
                     r"MEAN over all entries"),
    "g: L1 over the batch size": (ex.check_pix2pix_g_loss, _with(pix2pix_g_loss, "l1_per_image"),
                                  r"not over the\s+batch only"),
    "g: λ forgotten": (ex.check_pix2pix_g_loss, _with(pix2pix_g_loss, "no_lambda"),
                       r"λ is missing"),
    "g: λ on the adversarial term": (ex.check_pix2pix_g_loss,
                                     _with(pix2pix_g_loss, "lambda_on_gan"),
                                     r"not the adversarial one"),
    "g: x's channels of D's gradient": (ex.check_pix2pix_g_loss,
                                        _with(pix2pix_g_loss, "wrong_channels"),
                                        r"LAST C_y channels"),
    "g: D reads [ŷ, x]": (ex.check_pix2pix_g_loss, _with(pix2pix_g_loss, "order"),
                          r"the input x first"),
    "g: D judges the real pair": (ex.check_pix2pix_g_loss, _with(pix2pix_g_loss, "real_pair"),
                                  r"not the real\s+pair"),
    "g: no adversarial term": (ex.check_pix2pix_g_loss, _with(pix2pix_g_loss, "no_gan"),
                               r"adversarial term is missing"),
    "g: no L1 term": (ex.check_pix2pix_g_loss, _with(pix2pix_g_loss, "no_l1"),
                      r"L1 term is missing"),
    "g: ±1 at ties": (ex.check_pix2pix_g_loss, _with(pix2pix_g_loss, "l1_subgradient"),
                      r"subgradient 0"),
    "g: L1 term returned weighted": (ex.check_pix2pix_g_loss, _with(pix2pix_g_loss, "l1_weighted"),
                                     r"UNWEIGHTED"),
    "g: D's whole input gradient": (ex.check_pix2pix_g_loss, _with(pix2pix_g_loss, "whole_dh"),
                                    r"dh\[:, C_x:\]"),
    "g: writes into fake": (ex.check_pix2pix_g_loss, _g_writes_into_fake,
                            r"changed its argument `fake`"),
    "g: calls Pix2Pix's own G loss": (ex.check_pix2pix_g_loss, _g_by_library,
                                      r"calls minigan's Pix2Pix\.g_loss_and_backward"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_check_rejects_wrong_answer_with_hint(name):
    check, fn, hint = WRONG[name]
    with np.errstate(all="ignore"):
        with pytest.raises(ExerciseError, match=hint):
            check(fn)


@pytest.mark.parametrize("mistake", list(ex._G_HINTS))
def test_g_loss_check_names_every_known_mistake(mistake):
    def fn(x, fake, y, D, lam):
        return ex._g_parts(x, fake, y, D, lam, mistake)
    with pytest.raises(ExerciseError) as info:
        ex.check_pix2pix_g_loss(fn)
    assert ex._G_HINTS[mistake] in str(info.value)
