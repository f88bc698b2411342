"""The exercise checks accept correct answers and reject plausible wrong ones, with the right hint.

Each wrong answer below is a mistake learners make; the test asserts both that the check
raises ExerciseError (an AssertionError) and that its message names the mistake.
"""
import numpy as np
import pytest

from minigan import exercises as ex
from minigan.exercises import ch01_backprop, ch02_optimisers, ch03_first_gan, ch04_convolutions
from minigan.exercises import ExerciseError

from exercise_helpers import check_tests


def softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def sigmoid(z):
    return 0.5 * (1 + np.tanh(0.5 * z))


# --- correct answers ---------------------------------------------------------------------

def linear_backward(dy, x, W):
    return dy @ W, dy.T @ x, dy.sum(axis=0)


def tanh_backward(dy, x):
    return dy * (1 - np.tanh(x) ** 2)


def sigmoid_backward(dy, x):
    s = sigmoid(x)
    return dy * s * (1 - s)


def bce_with_logits_grad(z, t):
    return float(np.mean(softplus(z) - z * t)), (sigmoid(z) - t) / z.size


def sgd_momentum_step(param, grad, velocity, lr, momentum):
    velocity = momentum * velocity + grad
    return param - lr * velocity, velocity


def adam_step(param, grad, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def accuracy(logits, labels):
    return float(np.mean(logits.argmax(axis=1) == labels))


def discriminator_loss_and_grad(r, f):
    loss = softplus(-r).mean() + softplus(f).mean()
    return loss, (sigmoid(r) - 1) / r.size, sigmoid(f) / f.size


def generator_loss_nonsaturating(f):
    return softplus(-f).mean(), (sigmoid(f) - 1) / f.size


def modes_covered(samples, centers, std):
    d = np.linalg.norm(samples[:, None] - centers[None], axis=-1)
    nearest = d.argmin(1)
    good = d.min(1) < 3 * std
    return len(np.unique(nearest[good]))


CORRECT = [
    (ex.check_linear_backward, linear_backward),
    (ex.check_tanh_backward, tanh_backward),
    (ex.check_sigmoid_backward, sigmoid_backward),
    (ex.check_bce_with_logits_grad, bce_with_logits_grad),
    (ex.check_sgd_momentum_step, sgd_momentum_step),
    (ex.check_adam_step, adam_step),
    (ex.check_accuracy, accuracy),
    (ex.check_discriminator_loss_and_grad, discriminator_loss_and_grad),
    (ex.check_generator_loss_nonsaturating, generator_loss_nonsaturating),
    (ex.check_modes_covered, modes_covered),
]




def test_exercise_error_is_an_assertion_error():
    assert issubclass(ExerciseError, AssertionError)


# --- wrong answers, with the hint each must produce ----------------------------------------

WRONG = {
    # chapter 1 ------------------------------------------------------------------------
    "linear: dW not transposed": (
        ex.check_linear_backward, lambda dy, x, W: (dy @ W, x.T @ dy, dy.sum(0)),
        r"dW .*transpose"),
    "linear: db mean instead of sum": (
        ex.check_linear_backward, lambda dy, x, W: (dy @ W, dy.T @ x, dy.mean(0)),
        r"db .*mean instead of sum"),
    "linear: db first row only": (
        ex.check_linear_backward, lambda dy, x, W: (dy @ W, dy.T @ x, dy[0]),
        r"db .*sum over the batch"),
    "linear: db wrong axis": (
        ex.check_linear_backward, lambda dy, x, W: (dy @ W, dy.T @ x, dy.sum(1)),
        r"db .*(wrong axis|axis 0)"),
    "linear: db keepdims": (
        ex.check_linear_backward, lambda dy, x, W: (dy @ W, dy.T @ x, dy.sum(0, keepdims=True)),
        r"db .*keepdims"),
    "linear: dW divided by N": (
        ex.check_linear_backward, lambda dy, x, W: (dy @ W, dy.T @ x / len(x), dy.sum(0)),
        r"dW .*divided by the batch size"),
    "linear: dW first example only": (
        ex.check_linear_backward, lambda dy, x, W: (dy @ W, np.outer(dy[0], x[0]), dy.sum(0)),
        r"dW .*sum over the batch"),
    "linear: dx with W transposed": (
        ex.check_linear_backward, lambda dy, x, W: (dy @ W.T, dy.T @ x, dy.sum(0)),
        r"dx .*(transpose|shape)"),
    "linear: dx wrong sign": (
        ex.check_linear_backward, lambda dy, x, W: (-(dy @ W), dy.T @ x, dy.sum(0)),
        r"dx .*wrong sign"),
    "linear: db wrong sign": (
        ex.check_linear_backward, lambda dy, x, W: (dy @ W, dy.T @ x, -dy.sum(0)),
        r"db .*wrong sign"),
    "linear: returns two things": (
        ex.check_linear_backward, lambda dy, x, W: (dy @ W, dy.T @ x),
        r"should return a tuple \(dx, dW, db\)"),
    "linear: writes into dy": (
        ex.check_linear_backward, lambda dy, x, W: (dy.__imul__(1.5) @ W / 1.5,
                                                    dy.T @ x / 1.5, dy.sum(0) / 1.5),
        r"changed its argument `dy` in place"),
    "tanh: 1 - x^2": (
        ex.check_tanh_backward, lambda dy, x: dy * (1 - x ** 2), r"output y = tanh\(x\)"),
    "tanh: dy forgotten": (
        ex.check_tanh_backward, lambda dy, x: 1 - np.tanh(x) ** 2, r"chain rule"),
    "tanh: not squared": (
        ex.check_tanh_backward, lambda dy, x: dy * (1 - np.tanh(x)), r"squared"),
    "tanh: wrong sign": (
        ex.check_tanh_backward, lambda dy, x: -dy * (1 - np.tanh(x) ** 2), r"wrong sign"),
    "tanh: hand-made tanh overflows": (
        ex.check_tanh_backward,
        lambda dy, x: dy * (1 - ((np.exp(2 * x) - 1) / (np.exp(2 * x) + 1)) ** 2),
        r"contains nan.*overflows"),
    "tanh: ReLU-style write into dy": (
        ex.check_tanh_backward,
        lambda dy, x: (dy.__imul__(1 - np.tanh(x) ** 2)), r"changed its argument `dy`"),
    "sigmoid: x(1-x)": (
        ex.check_sigmoid_backward, lambda dy, x: dy * x * (1 - x), r"output y = σ\(x\)"),
    "sigmoid: missing factor": (
        ex.check_sigmoid_backward, lambda dy, x: dy * sigmoid(x), r"\(1 − σ\(x\)\) is missing"),
    "sigmoid: naive formula overflows": (
        ex.check_sigmoid_backward,
        lambda dy, x: dy * np.exp(-x) / (1 + np.exp(-x)) ** 2, r"overflow.*nan|nan.*overflow"),
    "bce: naive log overflows": (
        ex.check_bce_with_logits_grad,
        lambda z, t: (float(np.mean(-t * np.log(1 / (1 + np.exp(-z)))
                                    - (1 - t) * np.log(1 - 1 / (1 + np.exp(-z))))),
                      (1 / (1 + np.exp(-z)) - t) / z.size),
        r"±1000.*overflow"),
    "bce: sum instead of mean (loss)": (
        ex.check_bce_with_logits_grad,
        lambda z, t: (float(np.sum(softplus(z) - z * t)), (sigmoid(z) - t) / z.size),
        r"the loss .*mean over the batch, not the sum"),
    "bce: gradient without 1/N": (
        ex.check_bce_with_logits_grad,
        lambda z, t: (float(np.mean(softplus(z) - z * t)), sigmoid(z) - t), r"dz .*1/N"),
    "bce: gradient wrong sign": (
        ex.check_bce_with_logits_grad,
        lambda z, t: (float(np.mean(softplus(z) - z * t)), (t - sigmoid(z)) / z.size),
        r"dz .*wrong sign"),
    "bce: gradient w.r.t. probability": (
        ex.check_bce_with_logits_grad,
        lambda z, t: (float(np.mean(softplus(z) - z * t)),
                      (-t / sigmoid(z) + (1 - t) / (1 - sigmoid(z))) / z.size),
        r"with respect to the probability"),
    "bce: loss has per-example shape": (
        ex.check_bce_with_logits_grad,
        lambda z, t: (softplus(z) - z * t, (sigmoid(z) - t) / z.size), r"one number"),
    # chapter 2 ------------------------------------------------------------------------
    "sgd: CS231n convention": (
        ex.check_sgd_momentum_step,
        lambda p, g, v, lr, mu: (p + (mu * v - lr * g), mu * v - lr * g), r"CS231n"),
    "sgd: dampened momentum": (
        ex.check_sgd_momentum_step,
        lambda p, g, v, lr, mu: (p - lr * (mu * v + (1 - mu) * g), mu * v + (1 - mu) * g),
        r"dampening"),
    "sgd: steps with the old velocity": (
        ex.check_sgd_momentum_step,
        lambda p, g, v, lr, mu: (p - lr * v, mu * v + g), r"update the velocity first"),
    "sgd: steps with the gradient": (
        ex.check_sgd_momentum_step,
        lambda p, g, v, lr, mu: (p - lr * g, mu * v + g), r"not the raw gradient"),
    "sgd: wrong sign": (
        ex.check_sgd_momentum_step,
        lambda p, g, v, lr, mu: (p + lr * (mu * v + g), mu * v + g), r"wrong sign"),
    "adam: no bias correction": (
        ex.check_adam_step,
        lambda p, g, m, v, t, lr, b1, b2, eps: (
            p - lr * (b1 * m + (1 - b1) * g) / (np.sqrt(b2 * v + (1 - b2) * g * g) + eps),
            b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g),
        r"without bias correction"),
    "adam: t from 0": (
        ex.check_adam_step,
        lambda p, g, m, v, t, lr, b1, b2, eps: adam_step(p, g, m, v, t - 1, lr, b1, b2, eps),
        r"(divides by zero|counts steps from 1)"),
    "adam: eps inside the sqrt": (
        ex.check_adam_step,
        lambda p, g, m, v, t, lr, b1, b2, eps: (lambda m2, v2: (
            p - lr * (m2 / (1 - b1 ** t)) / np.sqrt(v2 / (1 - b2 ** t) + eps), m2, v2))(
            b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g),
        r"ε goes outside the square root"),
    "adam: v of g instead of g^2": (
        ex.check_adam_step,
        lambda p, g, m, v, t, lr, b1, b2, eps: (p, b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g),
        r"squared gradient"),
    "adam: returns corrected m": (
        ex.check_adam_step,
        lambda p, g, m, v, t, lr, b1, b2, eps: (lambda r: (r[0], r[1] / (1 - b1 ** t), r[2]))(
            adam_step(p, g, m, v, t, lr, b1, b2, eps)),
        r"raw moment m"),
    "adam: wrong sign": (
        ex.check_adam_step,
        lambda p, g, m, v, t, lr, b1, b2, eps: (lambda r: (2 * p - r[0], r[1], r[2]))(
            adam_step(p, g, m, v, t, lr, b1, b2, eps)),
        r"wrong sign"),
    "accuracy: percentage": (
        ex.check_accuracy, lambda lo, la: 100 * accuracy(lo, la), r"percentage"),
    "accuracy: count": (
        ex.check_accuracy, lambda lo, la: float(np.sum(lo.argmax(1) == la)), r"divide by the number"),
    "accuracy: argmax over axis 0": (
        ex.check_accuracy, lambda lo, la: float(np.mean(lo.argmax(0) == la)),
        r"(axis 1|axis 0)"),
    "accuracy: per-example": (
        ex.check_accuracy, lambda lo, la: (lo.argmax(1) == la).astype(float), r"one number"),
    "accuracy: error rate": (
        ex.check_accuracy, lambda lo, la: 1 - accuracy(lo, la), r"error rate"),
    # chapter 3 ------------------------------------------------------------------------
    "D: labels swapped": (
        ex.check_discriminator_loss_and_grad,
        lambda r, f: (softplus(r).mean() + softplus(-f).mean(), sigmoid(r) / r.size,
                      (sigmoid(f) - 1) / f.size),
        r"labels are swapped"),
    "D: one mean over both batches": (
        ex.check_discriminator_loss_and_grad,
        lambda r, f: (np.concatenate([softplus(-r), softplus(f)]).mean(),
                      (sigmoid(r) - 1) / (r.size + f.size), sigmoid(f) / (r.size + f.size)),
        r"average each batch separately"),
    "D: value function instead of loss": (
        ex.check_discriminator_loss_and_grad,
        lambda r, f: (-(softplus(-r).mean() + softplus(f).mean()), (1 - sigmoid(r)) / r.size,
                      -sigmoid(f) / f.size),
        r"−V\(D, G\)"),
    "D: naive logs overflow": (
        ex.check_discriminator_loss_and_grad,
        lambda r, f: (-np.log(1 / (1 + np.exp(-r))).mean() - np.log(1 - 1 / (1 + np.exp(-f))).mean(),
                      (sigmoid(r) - 1) / r.size, sigmoid(f) / f.size),
        r"±1000"),
    "D: gradient without 1/N": (
        ex.check_discriminator_loss_and_grad,
        lambda r, f: (softplus(-r).mean() + softplus(f).mean(), sigmoid(r) - 1, sigmoid(f)),
        r"d_real_grad .*1/N"),
    "D: fake gradient wrong sign": (
        ex.check_discriminator_loss_and_grad,
        lambda r, f: (softplus(-r).mean() + softplus(f).mean(), (sigmoid(r) - 1) / r.size,
                      -sigmoid(f) / f.size),
        r"d_fake_grad .*wrong sign"),
    "G: saturating loss": (
        ex.check_generator_loss_nonsaturating,
        lambda f: (-softplus(f).mean(), -sigmoid(f) / f.size), r"saturating \(minimax\)"),
    "G: naive log overflows": (
        ex.check_generator_loss_nonsaturating,
        lambda f: (-np.log(1 / (1 + np.exp(-f))).mean(), (sigmoid(f) - 1) / f.size), r"±1000"),
    "G: gradient wrong sign": (
        ex.check_generator_loss_nonsaturating,
        lambda f: (softplus(-f).mean(), (1 - sigmoid(f)) / f.size), r"wrong sign"),
    "G: label 0": (
        ex.check_generator_loss_nonsaturating,
        lambda f: (softplus(f).mean(), sigmoid(f) / f.size), r"G wants D to say 'real'"),
    "G: sum instead of mean": (
        ex.check_generator_loss_nonsaturating,
        lambda f: (softplus(-f).sum(), sigmoid(f) - 1), r"mean over the batch, not the sum"),
    "modes: no quality threshold": (
        ex.check_modes_covered,
        lambda x, c, s: len(np.unique(np.linalg.norm(x[:, None] - c[None], axis=-1).argmin(1))),
        r"only high-quality samples"),
    "modes: threshold not in std units": (
        ex.check_modes_covered,
        lambda x, c, s: (lambda d: len(np.unique(d.argmin(1)[d.min(1) < 3])))(
            np.linalg.norm(x[:, None] - c[None], axis=-1)),
        r"units of std|only high-quality"),
    "modes: within 1 std": (
        ex.check_modes_covered,
        lambda x, c, s: (lambda d: len(np.unique(d.argmin(1)[d.min(1) < s])))(
            np.linalg.norm(x[:, None] - c[None], axis=-1)),
        r"within 3 std of the centre, not within 1"),
    "modes: counts samples": (
        ex.check_modes_covered,
        lambda x, c, s: int((np.linalg.norm(x[:, None] - c[None], axis=-1).min(1) < 3 * s).sum()),
        r"number \(or share\) of high-quality samples"),
    "modes: fraction": (
        ex.check_modes_covered, lambda x, c, s: modes_covered(x, c, s) / len(c),
        r"not a fraction"),
    "modes: modes missed": (
        ex.check_modes_covered, lambda x, c, s: len(c) - modes_covered(x, c, s),
        r"modes missed"),
    "modes: squared distance against 3 std": (
        ex.check_modes_covered,
        lambda x, c, s: (lambda d2: len(np.unique(d2.argmin(1)[d2.min(1) < 3 * s])))(
            ((x[:, None] - c[None]) ** 2).sum(-1)),
        r"not the squared distance"),
    "modes: a box instead of a disc": (
        ex.check_modes_covered,
        lambda x, c, s: (lambda n: len(np.unique(n[np.all(np.abs(x - c[n]) < 3 * s, axis=1)])))(
            np.linalg.norm(x[:, None] - c[None], axis=-1).argmin(1)),
        r"square box"),
    **{f"modes: threshold {k} std": (
        ex.check_modes_covered,
        (lambda k: lambda x, c, s: (lambda d: len(np.unique(d.argmin(1)[d.min(1) < k * s])))(
            np.linalg.norm(x[:, None] - c[None], axis=-1)))(k),
        r"got \d+ modes covered") for k in (2, 2.5, 3.3, 4, 6, 15)},
    "bce: mean over the batch axis only (loss)": (
        ex.check_bce_with_logits_grad,
        lambda z, t: (float(np.sum(softplus(z) - z * t) / len(z)), (sigmoid(z) - t) / z.size),
        r"every entry of z.*z\.size"),
    "bce: mean over the batch axis only (gradient)": (
        ex.check_bce_with_logits_grad,
        lambda z, t: (float(np.mean(softplus(z) - z * t)), (sigmoid(z) - t) / len(z)),
        r"every entry of z.*z\.size"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_check_rejects_wrong_answer_with_hint(name, capsys):
    check, fn, hint = WRONG[name]
    with pytest.raises(ExerciseError) as info:
        check(fn)
    msg = str(info.value)
    assert "passed" not in capsys.readouterr().out
    import re
    assert re.search(hint, msg, flags=re.S), f"hint {hint!r} not in message:\n{msg}"


def test_message_names_output_and_relative_error():
    with pytest.raises(ExerciseError, match=r"dW is wrong on the case '.*' \(relative error "
                                            r"\d\.\de[-+]\d\d\)\.\nHint: "):
        ex.check_linear_backward(lambda dy, x, W: (dy @ W, dy.T @ x / len(x), dy.sum(0)))


def test_unknown_mistake_still_reports_relative_error():
    with pytest.raises(ExerciseError, match=r"dx is wrong .*relative error") as info:
        ex.check_linear_backward(lambda dy, x, W: (dy @ W + 0.1 * np.sin(x), dy.T @ x, dy.sum(0)))
    assert "Hint" not in str(info.value)


def test_other_exceptions_are_reported_with_the_case():
    def broken(dy, x, W):
        return dy.T @ W, dy.T @ x, dy.sum(0)       # shapes do not fit
    with pytest.raises(ExerciseError, match=r"raised ValueError on the case 'batch 1' "
                                            r"\(dy \(1, 5\), x \(1, 3\), W \(5, 3\)\)"):
        ex.check_linear_backward(broken)


def test_missing_return_is_named():
    with pytest.raises(ExerciseError, match="forget a `return`"):
        ex.check_tanh_backward(lambda dy, x: None)


def test_float32_answers_pass():
    """A learner working in float32 by accident is not a wrong answer... unless it is."""
    ex.check_accuracy(lambda lo, la: np.float32(accuracy(lo, la)))


# --- chapter 4: convolutions by hand ---------------------------------------------------------
# Appended as its own block; the shared tests of every check (chapters 1-4) are made below,
# from CORRECT + CH4_CORRECT.

from minigan.kernels import col2im, im2col  # noqa: E402


def conv2d_backward(dy, x, W, stride, padding, *, bad=None):
    """The right answer, or (bad=...) one plausible mistake."""
    N, F, OH, OW = dy.shape
    KH, KW = W.shape[2:]
    cols = im2col(x, KH, KW, stride, padding)
    dY = dy.reshape(F, -1) if bad == "dY layout" else dy.transpose(1, 0, 2, 3).reshape(F, -1)
    Wm = W.reshape(F, -1)
    dW = ((cols @ dY.T) if bad == "dW transpose" else dY @ cols.T).reshape(W.shape)
    db = {"db per image": lambda: dy.sum(axis=(2, 3)), "db mean": lambda: dy.mean(axis=(0, 2, 3)),
          "db axis 0": lambda: dy.sum(axis=0), "db wrong axes": lambda: dy.sum(axis=(1, 2, 3)),
          }.get(bad, lambda: dY.sum(axis=1))()
    dcols = (Wm @ dY) if bad == "dcols transpose" else Wm.T @ dY
    if bad == "no crop":
        Hp, Wp = x.shape[2] + 2 * padding, x.shape[3] + 2 * padding
        dx = col2im(dcols, (N, x.shape[1], Hp, Wp), KH, KW, stride, 0,
                    out_size=(OH, OW))
    elif bad == "assign":
        dx = ch04_convolutions._col2im_assign(dcols, x.shape, KH, KW, stride, padding)
    else:
        dx = col2im(dcols, x.shape, KH, KW, stride, padding)
    if bad == "dx sign":
        dx = -dx
    if bad == "dW sign":
        dW = -dW
    return dx, dW, db


def conv_transpose2d_forward(x, W, b, stride, padding, *, bad=None):
    N, Ci, H, Wd = x.shape
    _, Co, KH, KW = W.shape
    if bad == "swap":
        W = W.transpose(1, 0, 2, 3)
        Ci, Co = Co, Ci
    if bad == "flip":
        W = W[:, :, ::-1, ::-1]
    s = 1 if bad == "no stride" else stride
    p = -padding if bad == "padding added" else padding
    OH, OW = (H - 1) * s - 2 * p + KH, (Wd - 1) * s - 2 * p + KW
    X = x.transpose(1, 0, 2, 3).reshape(Ci, -1)
    cols = W.reshape(Ci, -1).T @ X
    if bad == "bias in cols":
        cols = cols + np.repeat(b, KH * KW)[:, None]
    if bad == "padding added":    # computed on a canvas with the padding kept on
        OHp, OWp = (H - 1) * s + KH, (Wd - 1) * s + KW
        y = col2im(cols, (N, Co, OHp, OWp), KH, KW, s, 0)
        y = np.pad(y, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    elif bad == "no crop":
        OHp, OWp = (H - 1) * s + KH, (Wd - 1) * s + KW
        y = col2im(cols, (N, Co, OHp, OWp), KH, KW, s, 0)
    else:
        y = col2im(cols, (N, Co, OH, OW), KH, KW, s, p)
    if bad in ("no bias", "bias in cols"):
        return y
    if bad == "bias twice":
        return y + 2 * b[None, :, None, None]
    return y + b[None, :, None, None]


def batchnorm_backward(dy, x, gamma, eps, *, bad=None):
    ax = (1, 2, 3) if bad == "layer-norm axes" else (0,) if bad == "axis 0" else (0, 2, 3)
    M = x.size // np.prod([x.shape[a] for a in range(4) if a not in ax])
    mu = x.mean(ax, keepdims=True)
    var = x.var(ax, keepdims=True, ddof=1 if bad == "unbiased" else 0)
    sig = (np.sqrt(var) + eps if bad == "eps outside the root"
           else np.sqrt(var + (0 if bad == "no eps" else eps)))
    xh = (x - mu) / sig
    g = 1.0 if bad == "no gamma" else gamma.reshape(1, -1, 1, 1)
    if bad == "M = N":
        M = x.shape[0]
    Sdy, Sdyx = dy.sum(ax, keepdims=True), (dy * xh).sum(ax, keepdims=True)
    if bad == "constants":
        dx = g / sig * dy
    elif bad == "mean only":
        dx = g / sig * (dy - Sdy / M)
    else:
        dx = g / sig / M * (M * dy - Sdy - xh * Sdyx)
    axp = ax if bad == "axis 0" else (0, 2, 3)      # the parameters' sums (wrong only for "axis 0")
    dgamma = {"dgamma of x": lambda: (dy * x).sum(axp), "dgamma = dbeta": lambda: dy.sum(axp),
              }.get(bad, lambda: (dy * xh).sum(axp))()
    dbeta = dy.sum(axp)
    return dx, dgamma, dbeta


def _bad(fn, bad):
    def wrong(*args):
        return fn(*args, bad=bad)
    wrong.__name__ = fn.__name__
    return wrong


CH4_CORRECT = [
    (ex.check_conv2d_backward, conv2d_backward),
    (ex.check_conv_transpose2d_forward, conv_transpose2d_forward),
    (ex.check_batchnorm_backward, batchnorm_backward),
]
(test_check_accepts_correct_answer, test_every_check_is_covered,
 test_not_implemented_propagates_unchanged) = check_tests(
    [ch01_backprop, ch02_optimisers, ch03_first_gan, ch04_convolutions], CORRECT + CH4_CORRECT)


CH4_WRONG = {
    "conv: dW missing transpose": (
        ex.check_conv2d_backward, _bad(conv2d_backward, "dW transpose"), r"dW .*missing transpose"),
    "conv: dcols missing transpose": (
        ex.check_conv2d_backward, _bad(conv2d_backward, "dcols transpose"), r"transpose"),
    "conv: dy flattened without moving F": (
        ex.check_conv2d_backward, _bad(conv2d_backward, "dY layout"), r"move F to the front"),
    "conv: db per image": (
        ex.check_conv2d_backward, _bad(conv2d_backward, "db per image"), r"db .*sum over the batch"),
    "conv: db over N only": (
        ex.check_conv2d_backward, _bad(conv2d_backward, "db axis 0"), r"db .*OH and OW"),
    "conv: db mean": (
        ex.check_conv2d_backward, _bad(conv2d_backward, "db mean"), r"db .*mean instead of sum"),
    "conv: db wrong axes": (
        ex.check_conv2d_backward, _bad(conv2d_backward, "db wrong axes"), r"db .*wrong axes"),
    "conv: padding not cropped": (
        ex.check_conv2d_backward, _bad(conv2d_backward, "no crop"), r"dx .*PADDED image"),
    "conv: x_pad[p:-p] at p = 0": (
        ex.check_conv2d_backward,
        lambda dy, x, W, s, p: (lambda r: (r[0][:, :, 0:0, 0:0] if p == 0 else r[0], r[1], r[2]))(
            conv2d_backward(dy, x, W, s, p)),
        r"p:-p\] is empty"),
    "conv: col2im assigns": (
        ex.check_conv2d_backward, _bad(conv2d_backward, "assign"), r"must add \(\+=\)"),
    "conv: dx wrong sign": (
        ex.check_conv2d_backward, _bad(conv2d_backward, "dx sign"), r"dx .*wrong sign"),
    "conv: dW wrong sign": (
        ex.check_conv2d_backward, _bad(conv2d_backward, "dW sign"), r"dW .*wrong sign"),
    "convT: stride forgotten": (
        ex.check_conv_transpose2d_forward, _bad(conv_transpose2d_forward, "no stride"),
        r"stride is missing"),
    "convT: weight axes swapped": (
        ex.check_conv_transpose2d_forward, _bad(conv_transpose2d_forward, "swap"),
        r"(weight axes are swapped|C_out channels|weight layout)"),
    "convT: kernel flipped": (
        ex.check_conv_transpose2d_forward, _bad(conv_transpose2d_forward, "flip"),
        r"do not flip the kernel"),
    "convT: no bias": (
        ex.check_conv_transpose2d_forward, _bad(conv_transpose2d_forward, "no bias"),
        r"bias is missing"),
    "convT: bias twice": (
        ex.check_conv_transpose2d_forward, _bad(conv_transpose2d_forward, "bias twice"),
        r"bias is added twice"),
    "convT: bias added to the columns": (
        ex.check_conv_transpose2d_forward, _bad(conv_transpose2d_forward, "bias in cols"),
        r"after col2im"),
    "convT: padding not cropped": (
        ex.check_conv_transpose2d_forward, _bad(conv_transpose2d_forward, "no crop"),
        r"crop the padding"),
    "convT: padding added": (
        ex.check_conv_transpose2d_forward, _bad(conv_transpose2d_forward, "padding added"),
        r"SMALLER"),
    "convT: wrong sign": (
        ex.check_conv_transpose2d_forward,
        lambda x, W, b, s, p: -conv_transpose2d_forward(x, W, b, s, p), r"wrong sign"),
    "bn: mean and var as constants": (
        ex.check_batchnorm_backward, _bad(batchnorm_backward, "constants"),
        r"dx .*treating them as constants"),
    "bn: mean only": (
        ex.check_batchnorm_backward, _bad(batchnorm_backward, "mean only"),
        r"σ depends on x too"),
    "bn: unbiased variance": (
        ex.check_batchnorm_backward, _bad(batchnorm_backward, "unbiased"), r"BIASED variance"),
    "bn: statistics over axis 0 only": (
        ex.check_batchnorm_backward, _bad(batchnorm_backward, "axis 0"),
        r"one μ and σ per CHANNEL|axes \(0, 2, 3\)"),
    "bn: layer-norm axes": (
        ex.check_batchnorm_backward, _bad(batchnorm_backward, "layer-norm axes"),
        r"one μ and σ per CHANNEL"),
    "bn: M = N": (
        ex.check_batchnorm_backward, _bad(batchnorm_backward, "M = N"), r"not the batch size N"),
    "bn: gamma missing": (
        ex.check_batchnorm_backward, _bad(batchnorm_backward, "no gamma"), r"γ is missing"),
    "bn: eps forgotten": (
        ex.check_batchnorm_backward, _bad(batchnorm_backward, "no eps"), r"eps"),
    "bn: eps outside the root (a near miss)": (
        ex.check_batchnorm_backward, _bad(batchnorm_backward, "eps outside the root"),
        r"eps goes inside the square root"),
    "bn: dgamma from x": (
        ex.check_batchnorm_backward, _bad(batchnorm_backward, "dgamma of x"),
        r"dgamma .*NORMALISED"),
    "bn: dgamma = dbeta": (
        ex.check_batchnorm_backward, _bad(batchnorm_backward, "dgamma = dbeta"),
        r"dgamma .*Σ dy is dβ"),
    "bn: dx wrong sign": (
        ex.check_batchnorm_backward,
        lambda dy, x, g, e: (lambda r: (-r[0], r[1], r[2]))(batchnorm_backward(dy, x, g, e)),
        r"dx .*wrong sign"),
    "bn: writes into dy": (
        ex.check_batchnorm_backward,
        lambda dy, x, g, e: batchnorm_backward(dy.__isub__(dy.mean((0, 2, 3), keepdims=True)),
                                               x, g, e),
        r"changed its argument `dy` in place"),
}


@pytest.mark.parametrize("name", list(CH4_WRONG))
def test_ch4_check_rejects_wrong_answer_with_hint(name, capsys):
    import re
    check, fn, hint = CH4_WRONG[name]
    with pytest.raises(ExerciseError) as info:
        check(fn)
    msg = str(info.value)
    assert "passed" not in capsys.readouterr().out
    assert re.search(hint, msg, flags=re.S), f"hint {hint!r} not in message:\n{msg}"


def test_ch4_all_ones_dy_would_hide_the_constant_statistics_mistake():
    """Why the batch-norm check uses a random dy: with dy = 1 the true dx is exactly 0, and so
    is the dx of the γ-less formula; only the random dy tells them apart (as the check does)."""
    rng = np.random.default_rng(0)
    x, gamma = rng.standard_normal((4, 3, 2, 2)), rng.uniform(0.5, 2, 3)
    ones = np.ones_like(x)
    dx_right = batchnorm_backward(ones, x, gamma, 1e-5)[0]
    dx_no_gamma = batchnorm_backward(ones, x, gamma, 1e-5, bad="no gamma")[0]
    assert np.abs(dx_right).max() < 1e-12 and np.abs(dx_no_gamma).max() < 1e-12


@pytest.mark.parametrize("factor", [1.598, 0.5, 2.0])
def test_a_wrong_single_number_gets_no_missing_factor_hint(factor):
    """Any wrong number is the right one times something: for a single number a "factor is
    missing" hint would always fire and mean nothing."""
    with pytest.raises(ExerciseError) as info:
        ex.check_accuracy(lambda logits, labels: factor * accuracy(logits, labels))
    assert "factor" not in str(info.value), str(info.value)


def test_an_array_off_by_one_common_factor_gets_the_factor_hint():
    with pytest.raises(ExerciseError, match=r"right answer times 3: a factor"):
        ex.check_tanh_backward(lambda dy, x: 3 * tanh_backward(dy, x))


def test_a_near_miss_without_a_known_mistake_is_not_mistaken_for_rounding():
    with pytest.raises(ExerciseError, match=r"this is not rounding"):
        ex.check_tanh_backward(lambda dy, x: tanh_backward(dy, x) * (1 + 1e-5 * np.cos(x)))
