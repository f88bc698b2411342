"""The checks of chapter 7's exercises accept correct answers and reject plausible wrong ones,
each with the hint that names the mistake."""
import re

import numpy as np
import pytest

from minigan.nn.penalty import gradient_penalty      # as the chapter's notebook imports it

from minigan.exercises import ch07_wasserstein as ex
from minigan.exercises import ExerciseError

from exercise_helpers import check_tests


# --- correct answers ---------------------------------------------------------------------

def penalty_dg(g, lam):
    N = g.shape[0]
    norm = np.linalg.norm(g, axis=1, keepdims=True)
    P = lam * np.mean((norm - 1) ** 2)
    v = 2 * lam / N * (norm - 1) * np.divide(g, norm, out=np.zeros_like(g), where=norm > 0)
    return float(P), v


def penalty_dg_loop(g, lam):                     # a different, equally right, form
    N = len(g)
    P, v = 0.0, np.zeros_like(g)
    for n in range(N):
        r = np.sqrt(np.sum(g[n] ** 2))
        P += lam * (r - 1) ** 2 / N
        if r > 0:
            v[n] = 2 * lam * (r - 1) / N * g[n] / r
    return P, v


def tanh_jvp_backward(dy, dydot, x, xdot):
    t = np.tanh(x)
    d1 = 1 - t ** 2
    d2 = -2 * t * d1
    return d1 * dy + d2 * xdot * dydot, d1 * dydot


def tanh_jvp_backward_sech(dy, dydot, x, xdot):  # sech² form: right, and finite for |x| < 700
    s2 = 1 / np.cosh(x) ** 2
    return s2 * dy - 2 * np.tanh(x) * s2 * xdot * dydot, s2 * dydot


def linear_jvp_backward(dy, dydot, x, xdot, W):
    return dy @ W, dydot @ W, dy.T @ x + dydot.T @ xdot, dy.sum(axis=0)


def linear_jvp_backward_einsum(dy, dydot, x, xdot, W):
    dW = np.einsum("nm,nd->md", dy, x) + np.einsum("nm,nd->md", dydot, xdot)
    return np.einsum("nm,md->nd", dy, W), np.einsum("nm,md->nd", dydot, W), dW, dy.sum(0)


def critic_step(real, fake, eps, W1, b1, W2, b2, lam):
    """Exercise 7.4 from the three pieces above, as a learner would put them together."""
    N = real.shape[0]
    dW1, db1, dW2, db2 = (np.zeros_like(a) for a in (W1, b1, W2, b2))
    loss = 0.0
    for x, sign in ((real, -1.0), (fake, 1.0)):            # L = mean f(fake) − mean f(real) + P
        a = x @ W1.T + b1
        t = np.tanh(a)
        s = t @ W2.T + b2
        loss += sign * float(s.mean())
        ds = np.full((N, 1), sign / N)
        dW2 += ds.T @ t
        db2 += ds.sum(0)
        da = (ds @ W2) * (1 - t ** 2)
        dW1 += da.T @ x
        db1 += da.sum(0)
    x_hat = eps * real + (1 - eps) * fake
    a = x_hat @ W1.T + b1
    t = np.tanh(a)
    g = ((np.ones((N, 1)) @ W2) * (1 - t ** 2)) @ W1        # step 1: ∇ₓ f(x̂)
    P, v = penalty_dg(g, lam)                               # step 2
    a_dot = v @ W1.T                                        # step 3: the tangent pass ...
    t_dot = (1 - t ** 2) * a_dot
    zeros, ones = np.zeros((N, 1)), np.ones((N, 1))         # ... and its backward from (0, 1)
    dt, dt_dot, dW2_p, db2_p = linear_jvp_backward(zeros, ones, t, t_dot, W2)
    da, da_dot = tanh_jvp_backward(dt, dt_dot, a, a_dot)
    _, _, dW1_p, db1_p = linear_jvp_backward(da, da_dot, x_hat, v, W1)
    return loss + P, dW1 + dW1_p, db1 + db1_p, dW2 + dW2_p, db2 + db2_p


def critic_step_float32(real, fake, eps, W1, b1, W2, b2, lam):   # float32: still right
    args = [a.astype(np.float32) for a in (real, fake, eps, W1, b1, W2, b2)]
    return critic_step(*args, lam)


CORRECT = [
    (ex.check_penalty_dg, penalty_dg),
    (ex.check_penalty_dg, penalty_dg_loop),
    (ex.check_tanh_jvp_backward, tanh_jvp_backward),
    (ex.check_tanh_jvp_backward, tanh_jvp_backward_sech),
    (ex.check_linear_jvp_backward, linear_jvp_backward),
    (ex.check_linear_jvp_backward, linear_jvp_backward_einsum),
    (ex.check_critic_step, critic_step),
    (ex.check_critic_step, critic_step_float32),
]


(test_check_accepts_correct_answer, test_every_check_is_covered,
 test_not_implemented_propagates_unchanged) = check_tests(ex, CORRECT)


def test_references_are_the_library():
    """The checks' references are minigan's own code: the penalty of minigan.nn.penalty on a
    critic whose input gradient is known, and finite differences of the tangent passes."""
    from minigan.nn import Linear, Sequential
    from minigan.nn.penalty import gradient_penalty
    rng = np.random.default_rng(0)
    # a linear critic f(x) = x wᵀ has ∇ₓf = w for every x: P = λ (‖w‖ − 1)²
    critic = Sequential(Linear(3, 1, bias=False, rng=rng, dtype="float64"))
    w = critic[0].params["weight"]
    x = rng.standard_normal((4, 3))
    value, _ = gradient_penalty(critic, x, x, rng, lam=10.0)
    P, v = ex._penalty_reference(np.repeat(w, 4, axis=0), 10.0)
    assert value == pytest.approx(P, rel=1e-12)
    # v summed over the batch is ∂P/∂w for this critic (∇ₓf = w in every row)
    critic.zero_grad()
    gradient_penalty(critic, x, x, np.random.default_rng(1), lam=10.0)
    np.testing.assert_allclose(critic.grads["0.weight"][0], v.sum(axis=0), rtol=1e-12)
    # the tanh reference is Tanh.backward_jvp, checked against finite differences
    from minigan.nn import Tanh
    from minigan.nn.jvp import check_layer_jvp
    assert max(check_layer_jvp(Tanh(), rng.standard_normal((3, 4))).values()) < 1e-6
    assert max(check_layer_jvp(Linear(4, 3, rng=rng), rng.standard_normal((5, 4))).values()) < 1e-6


# --- wrong answers, with the hint each must produce ----------------------------------------

def _pen(P_fn, v_fn):
    """A penalty_dg built from a P formula and a v formula of (g, lam, norm, N)."""
    def f(g, lam):
        N = g.shape[0]
        norm = np.linalg.norm(g, axis=1, keepdims=True)
        safe = np.where(norm > 0, norm, 1.0)
        return P_fn(g, lam, norm, N), v_fn(g, lam, norm, safe, N)
    return f


P_OK = lambda g, lam, norm, N: float(lam * np.mean((norm - 1) ** 2))
V_OK = lambda g, lam, norm, safe, N: 2 * lam / N * (norm - 1) * g / safe


def _tanh(dx_fn, dxdot_fn):
    def f(dy, dydot, x, xdot):
        t = np.tanh(x)
        d1, d2 = 1 - t * t, -2 * t * (1 - t * t)
        return dx_fn(dy, dydot, x, xdot, t, d1, d2), dxdot_fn(dy, dydot, x, xdot, t, d1, d2)
    return f


DX_OK = lambda dy, dydot, x, xdot, t, d1, d2: d1 * dy + d2 * xdot * dydot
DXDOT_OK = lambda dy, dydot, x, xdot, t, d1, d2: d1 * dydot


def _lin(**parts):
    def f(dy, dydot, x, xdot, W):
        out = dict(zip(("dx", "dxdot", "dW", "db"), linear_jvp_backward(dy, dydot, x, xdot, W)))
        for k, fn in parts.items():
            out[k] = fn(dy, dydot, x, xdot, W)
        return out["dx"], out["dxdot"], out["dW"], out["db"]
    return f


def _writes_into_dy(dy, dydot, x, xdot):
    out = tanh_jvp_backward(dy, dydot, x, xdot)
    dy *= 0.0
    return out


def _by_gradient_penalty(real, fake, eps, W1, b1, W2, b2, lam):
    """The library's penalty on a Sequential built from the weights: refused."""
    from minigan.nn import Linear, Sequential, Tanh

    class Eps:
        def random(self, shape):
            return eps.reshape(shape)
    critic = Sequential(Linear(W1.shape[1], W1.shape[0], dtype="float64"), Tanh(),
                        Linear(W1.shape[0], 1, dtype="float64"))
    for k, v in (("0.weight", W1), ("0.bias", b1), ("2.weight", W2), ("2.bias", b2)):
        critic.params[k][...] = v
    P, _ = gradient_penalty(critic, real, fake, Eps(), lam)
    return (P,) + tuple(critic.grads[k] for k in ("0.weight", "0.bias", "2.weight", "2.bias"))


def _penalty_no_keepdims(g, lam):
    N = g.shape[0]
    norm = np.linalg.norm(g, axis=1)                       # (N,): broadcasts along the rows
    P = lam * float(np.mean((norm - 1) ** 2))
    return P, 2 * lam / N * (norm - 1) * g / np.where(norm > 0, norm, 1.0)


def _penalty_no_keepdims_square(g, lam):                    # wrong only where it runs silently
    return _penalty_no_keepdims(g, lam) if g.shape[0] == g.shape[1] else penalty_dg(g, lam)


def _writes_into_g(g, lam):
    out = penalty_dg(g, lam)
    g /= np.linalg.norm(g, axis=1, keepdims=True) + 1.0
    return out


WRONG = {
    # 7.1: P
    "P: sum instead of mean": (
        ex.check_penalty_dg, _pen(lambda g, lam, norm, N: float(lam * np.sum((norm - 1) ** 2)), V_OK),
        r"mean over the batch"),
    "P: forgot lambda": (
        ex.check_penalty_dg, _pen(lambda g, lam, norm, N: float(np.mean((norm - 1) ** 2)), V_OK),
        r"multiply by λ"),
    "P: squared norm": (
        ex.check_penalty_dg, _pen(lambda g, lam, norm, N: float(lam * np.mean((norm ** 2 - 1) ** 2)), V_OK),
        r"not on its square"),
    "P: entrywise |g|": (
        ex.check_penalty_dg, _pen(lambda g, lam, norm, N: float(lam * np.mean((np.abs(g) - 1) ** 2)), V_OK),
        r"norm of each ROW"),
    "P: norm over the batch axis": (
        ex.check_penalty_dg,
        _pen(lambda g, lam, norm, N: float(lam * np.mean((np.linalg.norm(g, axis=0) - 1) ** 2)), V_OK),
        r"axis=1"),
    "P: square of the mean": (
        ex.check_penalty_dg, _pen(lambda g, lam, norm, N: float(lam * np.mean(norm - 1) ** 2), V_OK),
        r"before taking the mean"),
    "P: one per sample": (
        ex.check_penalty_dg, _pen(lambda g, lam, norm, N: lam * (norm[:, 0] - 1) ** 2, V_OK),
        r"one number"),
    # 7.1: v
    "v: forgot 1/m": (
        ex.check_penalty_dg, _pen(P_OK, lambda g, lam, norm, safe, N: 2 * lam * (norm - 1) * g / safe),
        r"forget the 1/m"),
    "v: forgot the chain through the norm (times g)": (
        ex.check_penalty_dg, _pen(P_OK, lambda g, lam, norm, safe, N: 2 * lam / N * (norm - 1) * g),
        r"chain rule through the norm.*not g_n"),
    "v: forgot the chain through the norm (no direction)": (
        ex.check_penalty_dg,
        _pen(P_OK, lambda g, lam, norm, safe, N: 2 * lam / N * (norm - 1) * np.ones_like(g)),
        r"chain rule through the norm"),
    "v: a scalar per sample": (
        ex.check_penalty_dg, _pen(P_OK, lambda g, lam, norm, safe, N: 2 * lam / N * (norm - 1)),
        r"has g's shape"),
    "v: derivative of the squared norm": (
        ex.check_penalty_dg, _pen(P_OK, lambda g, lam, norm, safe, N: 2 * lam / N * (norm - 1) * 2 * g),
        r"derivative of ‖g_n‖²"),
    "v: sign": (
        ex.check_penalty_dg, _pen(P_OK, lambda g, lam, norm, safe, N: 2 * lam / N * (1 - norm) * g / safe),
        r"wrong sign"),
    "v: missing 2": (
        ex.check_penalty_dg, _pen(P_OK, lambda g, lam, norm, safe, N: lam / N * (norm - 1) * g / safe),
        r"factor 2"),
    "v: forgot lambda": (
        ex.check_penalty_dg, _pen(P_OK, lambda g, lam, norm, safe, N: 2 / N * (norm - 1) * g / safe),
        r"multiply by λ"),
    "v: nan at a zero row": (
        ex.check_penalty_dg, _pen(P_OK, lambda g, lam, norm, safe, N: 2 * lam / N * (norm - 1) * g / norm),
        r"0/0"),
    "v: writes into g": (ex.check_penalty_dg, _writes_into_g, r"changed its argument `g`"),
    "v: returns only P": (ex.check_penalty_dg, lambda g, lam: P_OK(g, lam, np.linalg.norm(g, axis=1, keepdims=True), len(g)),
                          r"should return a tuple \(P, v\)"),
    "v: norm without keepdims (an error, or silently wrong for N = D)": (
        ex.check_penalty_dg, _penalty_no_keepdims, r"keepdims=True on the norm"),
    "v: norm without keepdims, N = D only": (
        ex.check_penalty_dg, _penalty_no_keepdims_square, r"keepdims=True on the norm"),
    # 7.2
    "tanh: missing sigma'' term": (
        ex.check_tanh_jvp_backward, _tanh(lambda dy, dydot, x, xdot, t, d1, d2: d1 * dy, DXDOT_OK),
        r"second-order term σ''\(x\)·ẋ·dẏ is missing"),
    "tanh: sigma'' sign": (
        ex.check_tanh_jvp_backward,
        _tanh(lambda dy, dydot, x, xdot, t, d1, d2: d1 * dy - d2 * xdot * dydot, DXDOT_OK),
        r"sign"),
    "tanh: sigma'' = -2 tanh": (
        ex.check_tanh_jvp_backward,
        _tanh(lambda dy, dydot, x, xdot, t, d1, d2: d1 * dy - 2 * t * xdot * dydot, DXDOT_OK),
        r"factor \(1 − tanh²\) is missing"),
    "tanh: sigma'' term without xdot": (
        ex.check_tanh_jvp_backward,
        _tanh(lambda dy, dydot, x, xdot, t, d1, d2: d1 * dy + d2 * dydot, DXDOT_OK),
        r"multiply by the tangent ẋ"),
    "tanh: sigma'' term without dydot": (
        ex.check_tanh_jvp_backward,
        _tanh(lambda dy, dydot, x, xdot, t, d1, d2: d1 * dy + d2 * xdot, DXDOT_OK),
        r"multiply by dẏ"),
    "tanh: sigma'' term with dy": (
        ex.check_tanh_jvp_backward,
        _tanh(lambda dy, dydot, x, xdot, t, d1, d2: d1 * dy + d2 * xdot * dy, DXDOT_OK),
        r"not dy"),
    "tanh: 1 - x^2": (
        ex.check_tanh_jvp_backward,
        _tanh(lambda dy, dydot, x, xdot, t, d1, d2: (1 - x * x) * dy - 2 * x * (1 - x * x) * xdot * dydot,
              DXDOT_OK),
        r"1 − x²"),
    "tanh: dxdot from dy": (
        ex.check_tanh_jvp_backward, _tanh(DX_OK, lambda dy, dydot, x, xdot, t, d1, d2: d1 * dy),
        r"dẋ = σ'\(x\)·dẏ"),
    "tanh: dxdot without sigma'": (
        ex.check_tanh_jvp_backward, _tanh(DX_OK, lambda dy, dydot, x, xdot, t, d1, d2: dydot),
        r"factor σ'\(x\)"),
    "tanh: dxdot with a second-order term": (
        ex.check_tanh_jvp_backward,
        _tanh(DX_OK, lambda dy, dydot, x, xdot, t, d1, d2: d1 * dydot + d2 * xdot * dydot),
        r"no second-order term"),
    "tanh: outputs swapped": (
        ex.check_tanh_jvp_backward, lambda dy, dydot, x, xdot: tanh_jvp_backward(dy, dydot, x, xdot)[::-1],
        r"swap"),
    "tanh: writes into dy": (ex.check_tanh_jvp_backward, _writes_into_dy, r"changed its argument `dy`"),
    # 7.3
    "linear: forgot dydot^T xdot in dW": (
        ex.check_linear_jvp_backward, _lin(dW=lambda dy, dydot, x, xdot, W: dy.T @ x),
        r"forgot the tangent's term dẏᵀ ẋ"),
    "linear: only the tangent's term in dW": (
        ex.check_linear_jvp_backward, _lin(dW=lambda dy, dydot, x, xdot, W: dydot.T @ xdot),
        r"only the tangent's term"),
    "linear: dydot paired with x": (
        ex.check_linear_jvp_backward, _lin(dW=lambda dy, dydot, x, xdot, W: dy.T @ x + dydot.T @ x),
        r"not dẏᵀ x"),
    "linear: crossed pairs in dW": (
        ex.check_linear_jvp_backward, _lin(dW=lambda dy, dydot, x, xdot, W: dy.T @ xdot + dydot.T @ x),
        r"pair each output with its own input"),
    "linear: dy paired with xdot": (
        ex.check_linear_jvp_backward, _lin(dW=lambda dy, dydot, x, xdot, W: dy.T @ x + dy.T @ xdot),
        r"not dyᵀ ẋ"),
    "linear: dW transposed": (
        ex.check_linear_jvp_backward, _lin(dW=lambda dy, dydot, x, xdot, W: x.T @ dy + xdot.T @ dydot),
        r"forget a transpose"),
    "linear: dW divided by N": (
        ex.check_linear_jvp_backward, _lin(dW=lambda dy, dydot, x, xdot, W: (dy.T @ x + dydot.T @ xdot) / len(x)),
        r"do not divide by N"),
    "linear: db gets dydot too": (
        ex.check_linear_jvp_backward, _lin(db=lambda dy, dydot, x, xdot, W: dy.sum(0) + dydot.sum(0)),
        r"has no bias"),
    "linear: db from dydot": (
        ex.check_linear_jvp_backward, _lin(db=lambda dy, dydot, x, xdot, W: dydot.sum(0)),
        r"not in ẏ"),
    "linear: db mean": (
        ex.check_linear_jvp_backward, _lin(db=lambda dy, dydot, x, xdot, W: dy.mean(0)),
        r"mean instead of sum"),
    "linear: dx gets dydot too": (
        ex.check_linear_jvp_backward, _lin(dx=lambda dy, dydot, x, xdot, W: dy @ W + dydot @ W),
        r"does not depend on x"),
    "linear: dx and dxdot swapped": (
        ex.check_linear_jvp_backward,
        _lin(dx=lambda dy, dydot, x, xdot, W: dydot @ W, dxdot=lambda dy, dydot, x, xdot, W: dy @ W),
        r"swap dx and dẋ"),
    "linear: dxdot gets dy too": (
        ex.check_linear_jvp_backward, _lin(dxdot=lambda dy, dydot, x, xdot, W: dy @ W + dydot @ W),
        r"does not depend on ẋ"),
    "linear: dxdot with W transposed": (
        ex.check_linear_jvp_backward, _lin(dxdot=lambda dy, dydot, x, xdot, W: dydot @ W.T),
        r"without a transpose|shape of ẋ|transpose too many"),
    "linear: dxdot = dydot": (
        ex.check_linear_jvp_backward, _lin(dxdot=lambda dy, dydot, x, xdot, W: dydot.copy()),
        r"same matrix as x|shape of ẋ"),
    # 7.4: every known mistake, made by the by-hand version of the check's module
    **{f"critic step: {bad}": (ex.check_critic_step,
                               (lambda bad: lambda *a: ex._critic_step_by_hand(*a, bad=(bad,)))(bad),
                               re.escape(hint[:40]))
       for bad, hint in ex._CRITIC_HINTS.items()},
    "critic step: the loss negated": (
        ex.check_critic_step, lambda *a: (-critic_step(*a)[0],) + critic_step(*a)[1:],
        r"NEGATIVE of the Wasserstein estimate"),
    "critic step: the Wasserstein estimate as the loss": (
        ex.check_critic_step,
        lambda *a: (-ex._critic_step_by_hand(*a, bad=("no penalty",))[0],) + critic_step(*a)[1:],
        r"that is the Wasserstein estimate"),
    "critic step: dW1 transposed (W1 square)": (
        ex.check_critic_step,
        lambda *a: (lambda out: (out[0], out[1].T) + out[2:])(critic_step(*a)),
        r"transposed"),
    "critic step: returns four": (ex.check_critic_step, lambda *a: critic_step(*a)[:4],
                                  r"should return a tuple"),
    "critic step: writes into W1": (
        ex.check_critic_step, lambda *a: (critic_step(*a), a[3].fill(0))[0],
        r"changed its argument `W1`"),
    "critic step: calls gradient_penalty": (ex.check_critic_step, _by_gradient_penalty,
                                            r"calls (minigan's gradient_penalty|`gradient_penalty`)"),
    "linear: returns three": (
        ex.check_linear_jvp_backward, lambda dy, dydot, x, xdot, W: linear_jvp_backward(dy, dydot, x, xdot, W)[:3],
        r"should return a tuple"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_check_rejects_known_mistake_with_its_hint(name):
    check, fn, hint = WRONG[name]
    with pytest.raises(ExerciseError, match=hint):
        check(fn)


@pytest.mark.parametrize("name", ["P: sum instead of mean", "v: forgot 1/m",
                                  "tanh: missing sigma'' term", "linear: forgot dydot^T xdot in dW",
                                  "linear: db gets dydot too"])
def test_hint_is_labelled(name):
    check, fn, _ = WRONG[name]
    with pytest.raises(ExerciseError, match=r"\nHint: "):
        check(fn)
