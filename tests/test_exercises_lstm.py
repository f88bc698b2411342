"""The checks of chapter 9's exercises accept correct answers and reject plausible wrong ones,
each with the hint that names the mistake."""
import numpy as np
import pytest

from minigan.exercises import ch09_lstm as ex
from minigan.exercises import ExerciseError

from exercise_helpers import check_tests


def sig(z):
    return 1 / (1 + np.exp(-z))


# --- correct answers, written as a learner would ------------------------------------------

def lstm_cell_backward(dh_next, dc_next, x, h_prev, c_prev, W_ih, W_hh, b, *, mistake=None):
    """Learner-style cell backward; ``mistake`` switches on one known error (for WRONG)."""
    H = h_prev.shape[1]
    a = x @ W_ih.T + h_prev @ W_hh.T + b
    if mistake == "order":                               # CS231n's (i, f, o, g)
        a_i, a_f, a_o, a_g = np.split(a, 4, axis=1)
    else:
        a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
    i, f, o = sig(a_i), sig(a_f), sig(a_o)
    g = sig(a_g) if mistake == "sigmoid_g_forward" else np.tanh(a_g)
    c = f * c_prev + i * g
    tc = np.tanh(c)
    if mistake == "no_tanh_path":
        dc = dc_next
    elif mistake == "no_dc_next":
        dc = dh_next * o * (1 - tc ** 2)
    else:
        dc = dc_next + dh_next * o * (1 - tc ** 2)
    do = (dc if mistake == "dc_in_o" else dh_next) * tc
    di, dg = dc * g, dc * i
    df = dc * (c if mistake == "c_new_in_f" else c_prev)
    da_i, da_f, da_o = di * i * (1 - i), df * f * (1 - f), do * o * (1 - o)
    # σ' copied to all four gates (or σ in the forward pass as well)
    da_g = dg * g * (1 - g) if mistake in ("sigmoid_g", "sigmoid_g_forward") else dg * (1 - g ** 2)
    if mistake == "order":
        da = np.hstack([da_i, da_f, da_o, da_g])
    else:
        da = np.hstack([da_i, da_f, da_g, da_o])
    assert da.shape[1] == 4 * H
    dx = da @ W_ih.T if mistake == "dx_transposed" else da @ W_ih
    dW_ih = x.T @ da if mistake in ("dW_ih_transposed", "dW_ih_transposed_shape") else da.T @ x
    db = da.mean(axis=0) if mistake == "db_mean" else da.sum(axis=0)
    if mistake == "db_no_sum":
        db = da
    dc_prev = dc if mistake == "no_f" else dc * f
    if mistake == "dc_prev_from_next":
        dc_prev = dc_next * f
    return dx, da @ W_hh, dc_prev, dW_ih, da.T @ h_prev, db


def lstm_cell_backward_per_gate(dh_next, dc_next, x, h_prev, c_prev, W_ih, W_hh, b):
    """Another right form: one weight block per gate, gradients assembled at the end."""
    H = h_prev.shape[1]
    blocks = {}
    for k, name in enumerate("ifgo"):
        sl = slice(k * H, (k + 1) * H)
        blocks[name] = (W_ih[sl], W_hh[sl], b[sl])
    pre = {n: x @ Wi.T + h_prev @ Wh.T + bb for n, (Wi, Wh, bb) in blocks.items()}
    i, f, g, o = sig(pre["i"]), sig(pre["f"]), np.tanh(pre["g"]), sig(pre["o"])
    c = f * c_prev + i * g
    dc = dc_next + dh_next * o / np.cosh(c) ** 2
    da = {"i": dc * g * i * (1 - i), "f": dc * c_prev * f * (1 - f),
          "g": dc * i * (1 - g * g), "o": dh_next * np.tanh(c) * o * (1 - o)}
    dx = sum(da[n] @ blocks[n][0] for n in "ifgo")
    dh_prev = sum(da[n] @ blocks[n][1] for n in "ifgo")
    dW_ih = np.vstack([da[n].T @ x for n in "ifgo"])
    dW_hh = np.vstack([da[n].T @ h_prev for n in "ifgo"])
    db = np.concatenate([da[n].sum(0) for n in "ifgo"])
    return dx, dh_prev, dc * f, dW_ih, dW_hh, db


def lstm_bptt_backward(dys, dh_T, dc_T, xs, hs, cs, W_ih, W_hh, b, *, mistake=None):
    T = xs.shape[0]
    dh, dc = dh_T, dc_T
    dxs = []
    dW_ih, dW_hh, db = np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros_like(b)
    for t in reversed(range(T)):
        if mistake == "no_carry_h":
            dh_in = dys[t] + (dh_T if t == T - 1 else 0)
        elif mistake == "no_carry_h_const":
            dh_in = dys[t] + dh_T
        elif mistake == "no_dys":
            dh_in = dh
        else:
            dh_in = dys[t] + dh
        if mistake == "no_final" and t == T - 1:
            dh_in, dc = dys[t], np.zeros_like(dc_T)
        if mistake == "no_final_h" and t == T - 1:
            dh_in = dys[t]
        if mistake == "no_final_c" and t == T - 1:
            dc = np.zeros_like(dc_T)
        if mistake == "no_carry_c":
            dc = dc_T if t == T - 1 else np.zeros_like(dc_T)
        if mistake == "no_carry_c_const":
            dc = dc_T
        s = t + 1 if mistake == "off_by_one" else t
        dx, dh, dc, gi, gh, gb = lstm_cell_backward(dh_in, dc, xs[t], hs[s], cs[s], W_ih, W_hh, b)
        dxs.append(dx)
        if mistake in ("overwrite", "last_only_write"):
            if mistake == "overwrite" or t == T - 1:
                dW_ih, dW_hh, db = gi, gh, gb
        else:
            dW_ih = dW_ih + gi
            dW_hh = dW_hh + gh
            db = db + gb
    if mistake == "mean_T":
        dW_ih, dW_hh, db = dW_ih / T, dW_hh / T, db / T
    dxs = np.stack(dxs if mistake == "reversed_dx" else dxs[::-1])
    if mistake == "dxs_last_only":
        dxs = dxs[0]
    return dxs, dh, dc, dW_ih, dW_hh, db


def lstm_bptt_backward_batched(dys, dh_T, dc_T, xs, hs, cs, W_ih, W_hh, b):
    """Another right form, as minigan does it: the loop yields da_t; the products at the end."""
    T, N, _ = xs.shape
    H = hs.shape[2]
    das = np.empty((T, N, 4 * H))
    dh, dc = dh_T.copy(), dc_T.copy()
    for t in range(T - 1, -1, -1):
        a = xs[t] @ W_ih.T + hs[t] @ W_hh.T + b
        i, f, o = sig(a[:, :H]), sig(a[:, H:2 * H]), sig(a[:, 3 * H:])
        g = np.tanh(a[:, 2 * H:3 * H])
        tc = np.tanh(cs[t + 1])
        dht = dys[t] + dh
        dct = dc + dht * o * (1 - tc * tc)
        das[t] = np.hstack([dct * g * i * (1 - i), dct * cs[t] * f * (1 - f),
                            dct * i * (1 - g * g), dht * tc * o * (1 - o)])
        dh, dc = das[t] @ W_hh, dct * f
    D = das.reshape(T * N, -1)
    return ((D @ W_ih).reshape(T, N, -1), dh, dc, D.T @ xs.reshape(T * N, -1),
            D.T @ hs[:-1].reshape(T * N, -1), D.sum(0))


def log_softmax(z):
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def reinforce_grad(logits, actions, rewards, baseline, *, mistake=None):
    N, V = logits.shape
    A = rewards - baseline
    if mistake == "no_baseline":
        A = rewards + 0 * np.asarray(baseline)
    elif mistake == "baseline_added":
        A = rewards + baseline
    if mistake == "naive_softmax":
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        logp = np.log(p)
    elif mistake == "softmax_axis0":
        logp = logits - logits.max(0) - np.log(np.exp(logits - logits.max(0)).sum(0))
        p = np.exp(logp)
    else:
        logp = log_softmax(logits)
        p = np.exp(logp)
    rows = np.arange(N)
    onehot = np.eye(V)[actions]
    loss = -np.mean(A * logp[rows, actions])
    w = A[:, None] if np.ndim(A) else A
    dz = w * (p - onehot) / N
    if mistake == "sign":
        loss, dz = -loss, -dz
    elif mistake == "sum":
        loss, dz = N * loss, N * dz
    elif mistake == "no_softmax":
        dz = -w * onehot / N
    elif mistake == "no_onehot":
        dz = w * p / N
    elif mistake == "reward_columns":
        dz = A * (p - onehot) / N            # (N,) broadcast along the columns
    elif mistake == "prob_not_log":
        pa = p[rows, actions]
        loss = -np.mean(A * pa)
        dz = -(w * pa[:, None]) * (onehot - p) / N
    elif mistake == "loss_array":
        loss = -(A * logp[rows, actions]) / N
    elif mistake == "mean_NV":                 # np.mean over the (N, V) array
        loss = -np.mean(w * onehot * logp)
        dz = dz / V
    return loss, dz


def reinforce_grad_loop(logits, actions, rewards, baseline):
    """Another right form: one row at a time, float baseline broadcast explicitly."""
    N, V = logits.shape
    b = np.broadcast_to(np.asarray(baseline, dtype=float), (N,))
    loss, dz = 0.0, np.zeros((N, V))
    for n in range(N):
        z = logits[n] - logits[n].max()
        p = np.exp(z) / np.exp(z).sum()
        adv = rewards[n] - b[n]
        loss -= adv * (z[actions[n]] - np.log(np.exp(z).sum())) / N
        g = p.copy()
        g[actions[n]] -= 1
        dz[n] = adv * g / N
    return loss, dz


CORRECT = [
    (ex.check_lstm_cell_backward, lstm_cell_backward),
    (ex.check_lstm_cell_backward, lstm_cell_backward_per_gate),
    (ex.check_lstm_bptt_backward, lstm_bptt_backward),
    (ex.check_lstm_bptt_backward, lstm_bptt_backward_batched),
    (ex.check_reinforce_grad, reinforce_grad),
    (ex.check_reinforce_grad, reinforce_grad_loop),
]


(test_check_accepts_correct_answer, test_every_check_is_covered,
 test_not_implemented_propagates_unchanged) = check_tests(ex, CORRECT)


def test_references_agree_with_the_written_out_formulas():
    # the checks' references (minigan's LSTMCell and LSTM) against the module's own formulas
    rng = np.random.default_rng(0)
    for N, I, H in [(1, 3, 2), (3, 4, 4)]:
        x, h, c, W_ih, W_hh, b = ex._random_cell(rng, N, I, H)
        dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
        for a, r in zip(ex._cell_backward(dh, dc, x, h, c, W_ih, W_hh, b),
                        ex._cell_reference(dh, dc, x, h, c, W_ih, W_hh, b)):
            np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-12)
        xs = rng.standard_normal((3, N, I))
        dys = rng.standard_normal((3, N, H))
        hs, cs = ex._lstm_forward_states(xs, h, c, W_ih, W_hh, b)
        for a, r in zip(ex._bptt(dys, dh, dc, xs, hs, cs, W_ih, W_hh, b),
                        ex._bptt_reference(dys, dh, dc, xs, h, c, W_ih, W_hh, b)):
            np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-12)


def test_every_known_mistake_differs_from_the_answer():
    # a hint that can never fire is dead code; one that fires on right answers is worse
    rng = np.random.default_rng(1)
    x, h, c, W_ih, W_hh, b = ex._random_cell(rng, 2, 8, 2)         # I = 4H: all mistakes apply
    dh, dc = rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
    right = ex._cell_backward(dh, dc, x, h, c, W_ih, W_hh, b)
    for m in ex._CELL_HINTS:
        wrong = ex._cell_backward(dh, dc, x, h, c, W_ih, W_hh, b, mistake=m)
        assert any(not np.allclose(w, r) for w, r in zip(wrong, right)), m
    xs = rng.standard_normal((3, 2, 8))
    dys = rng.standard_normal((3, 2, 2))
    hs, cs = ex._lstm_forward_states(xs, h, c, W_ih, W_hh, b)
    right = ex._bptt(dys, dh, dc, xs, hs, cs, W_ih, W_hh, b)
    for m in ex._BPTT_HINTS:
        wrong = ex._bptt(dys, dh, dc, xs, hs, cs, W_ih, W_hh, b, mistake=m)
        assert any(not np.allclose(w, r) for w, r in zip(wrong, right)), m


# --- wrong answers, with the hint each must produce ----------------------------------------

def _cell(m):
    impl = lstm_cell_backward       # bound now: while 9.2's check runs, the global name is minigan's

    def f(dh_next, dc_next, x, h_prev, c_prev, W_ih, W_hh, b):
        return impl(dh_next, dc_next, x, h_prev, c_prev, W_ih, W_hh, b, mistake=m)
    return f


def _bptt(m):
    def f(dys, dh_T, dc_T, xs, hs, cs, W_ih, W_hh, b):
        return lstm_bptt_backward(dys, dh_T, dc_T, xs, hs, cs, W_ih, W_hh, b, mistake=m)
    return f


def _bptt_with_cell(cell):
    """A right BPTT loop around a wrong cell (the learner's 9.1)."""
    def f(dys, dh_T, dc_T, xs, hs, cs, W_ih, W_hh, b):
        dh, dc, dxs = dh_T, dc_T, [None] * xs.shape[0]
        dW_ih, dW_hh, db = 0, 0, 0
        for t in reversed(range(xs.shape[0])):
            dxs[t], dh, dc, gi, gh, gb = cell(dys[t] + dh, dc, xs[t], hs[t], cs[t], W_ih, W_hh, b)
            dW_ih, dW_hh, db = dW_ih + gi, dW_hh + gh, db + gb
        return np.stack(dxs), dh, dc, dW_ih, dW_hh, db
    return f


def _rf(m):
    def f(logits, actions, rewards, baseline):
        return reinforce_grad(logits, actions, rewards, baseline, mistake=m)
    return f


def _writes_into_dh(dh_next, dc_next, x, h_prev, c_prev, W_ih, W_hh, b):
    out = lstm_cell_backward(dh_next, dc_next, x, h_prev, c_prev, W_ih, W_hh, b)
    dh_next *= 0.0
    return out


def _writes_into_logits(logits, actions, rewards, baseline):
    out = reinforce_grad(logits, actions, rewards, baseline)
    logits -= logits.max(axis=1, keepdims=True)
    return out


WRONG = {
    # 9.1
    "cell: no tanh'(c) path from h into c": (
        ex.check_lstm_cell_backward, _cell("no_tanh_path"), r"forgot the path through h"),
    "cell: dc_next forgotten": (
        ex.check_lstm_cell_backward, _cell("no_dc_next"), r"Add dc_next"),
    "cell: sigmoid on g": (
        ex.check_lstm_cell_backward, _cell("sigmoid_g"), r"1 − g², not g\(1 − g\)"),
    "cell: sigmoid on g, forward and backward": (
        ex.check_lstm_cell_backward, _cell("sigmoid_g_forward"), r"only i, f and o are sigmoids"),
    "cell: gate order i, f, o, g": (
        ex.check_lstm_cell_backward, _cell("order"), r"gate order"),
    "cell: f forgotten in dc_prev": (
        ex.check_lstm_cell_backward, _cell("no_f"), r"dc_prev = dc ⊙ f"),
    "cell: dc_prev from dc_next alone": (
        ex.check_lstm_cell_backward, _cell("dc_prev_from_next"), r"not dc_next alone"),
    "cell: new c in da_f": (
        ex.check_lstm_cell_backward, _cell("c_new_in_f"), r"OLD cell state"),
    "cell: total dc in da_o": (
        ex.check_lstm_cell_backward, _cell("dc_in_o"), r"with dh_next, not with the total"),
    "cell: db is a mean": (
        ex.check_lstm_cell_backward, _cell("db_mean"), r"a sum, not a mean"),
    "cell: db not summed": (
        ex.check_lstm_cell_backward, _cell("db_no_sum"), r"sum over the batch"),
    "cell: dx with W_ih transposed": (
        ex.check_lstm_cell_backward, _cell("dx_transposed"),
        r"raised ValueError(.|\n)*transpose|without a transpose"),
    "cell: dW_ih transposed": (
        ex.check_lstm_cell_backward, _cell("dW_ih_transposed"), r"W_ih's shape \(4H, I\)"),
    "cell: writes into dh_next": (
        ex.check_lstm_cell_backward, _writes_into_dh, r"changed its argument `dh_next`"),
    "cell: returns 5 things": (
        ex.check_lstm_cell_backward,
        lambda *a: lstm_cell_backward(*a)[:5], r"should return a tuple"),
    # 9.2
    "bptt: carried dh dropped": (
        ex.check_lstm_bptt_backward, _bptt("no_carry_h"), r"AND through step t\+1"),
    "bptt: dh never reassigned (dh_T every step)": (
        ex.check_lstm_bptt_backward, _bptt("no_carry_h_const"), r"AND through step t\+1"),
    "bptt: carried dc dropped": (
        ex.check_lstm_bptt_backward, _bptt("no_carry_c"), r"carry dc backwards"),
    "bptt: dc never reassigned": (
        ex.check_lstm_bptt_backward, _bptt("no_carry_c_const"), r"carry dc backwards"),
    "bptt: dys ignored": (
        ex.check_lstm_bptt_backward, _bptt("no_dys"), r"its own upstream gradient dys\[t\]"),
    "bptt: final-state gradients ignored": (
        ex.check_lstm_bptt_backward, _bptt("no_final"), r"starts from the gradients of the final"),
    "bptt: dh_T ignored": (
        ex.check_lstm_bptt_backward, _bptt("no_final_h"), r"BOTH of them(.|\n)*dh_T is missing"),
    "bptt: dc_T ignored": (
        ex.check_lstm_bptt_backward, _bptt("no_final_c"), r"BOTH of them(.|\n)*dc_T is missing"),
    "bptt: weight grads overwritten": (
        ex.check_lstm_bptt_backward, _bptt("overwrite"), r"SUM"),
    "bptt: only the last step's weight grads": (
        ex.check_lstm_bptt_backward, _bptt("last_only_write"), r"SUM"),
    "bptt: weight grads averaged over T": (
        ex.check_lstm_bptt_backward, _bptt("mean_T"), r"not averaged"),
    "bptt: states off by one": (
        ex.check_lstm_bptt_backward, _bptt("off_by_one"), r"the state BEFORE it"),
    "bptt: dxs in reversed order": (
        ex.check_lstm_bptt_backward, _bptt("reversed_dx"), r"reversed time order"),
    "bptt: only one dx": (
        ex.check_lstm_bptt_backward, _bptt("dxs_last_only"), r"dx of EVERY step"),
    "bptt: a wrong cell (no tanh path), T = 1": (
        ex.check_lstm_bptt_backward, _bptt_with_cell(_cell("no_tanh_path")),
        r"check exercise 9\.1|forgot the path through h"),
    "bptt: a wrong cell (sigmoid g), T = 1": (
        ex.check_lstm_bptt_backward, _bptt_with_cell(_cell("sigmoid_g")),
        r"case 'one step'.*\nHint: with T = 1 this is one call|1 − g²"),
    # 9.3
    "reinforce: wrong sign": (ex.check_reinforce_grad, _rf("sign"), r"MINUS|wrong sign"),
    "reinforce: sum instead of mean": (ex.check_reinforce_grad, _rf("sum"), r"a mean, 1/N|divide by N"),
    "reinforce: softmax forgotten": (ex.check_reinforce_grad, _rf("no_softmax"), r"−softmax\(z\)"),
    "reinforce: one-hot forgotten": (ex.check_reinforce_grad, _rf("no_onehot"), r"one-hot"),
    "reinforce: baseline not subtracted": (
        ex.check_reinforce_grad, _rf("no_baseline"), r"subtract the baseline"),
    "reinforce: baseline added": (
        ex.check_reinforce_grad, _rf("baseline_added"), r"not added"),
    "reinforce: rewards broadcast along the columns": (
        ex.check_reinforce_grad, _rf("reward_columns"), r"ROWS|its own ROW"),
    "reinforce: softmax over axis 0": (
        ex.check_reinforce_grad, _rf("softmax_axis0"), r"wrong axis"),
    "reinforce: π(a) instead of log π(a)": (
        ex.check_reinforce_grad, _rf("prob_not_log"), r"log π\(a\)"),
    "reinforce: naive softmax overflows": (
        ex.check_reinforce_grad, _rf("naive_softmax"), r"maximum before exp"),
    "reinforce: per-sample losses": (
        ex.check_reinforce_grad, _rf("loss_array"), r"one number"),
    "reinforce: a mean over N·V": (ex.check_reinforce_grad, _rf("mean_NV"), r"divides by N·V"),
    "reinforce: writes into logits": (
        ex.check_reinforce_grad, _writes_into_logits, r"changed its argument `logits`"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_check_rejects_wrong_answer_with_hint(name):
    check, fn, hint = WRONG[name]
    with np.errstate(all="ignore"):
        with pytest.raises(ExerciseError, match=hint):
            check(fn)


@pytest.mark.parametrize("mistake", list(ex._CELL_HINTS))
def test_cell_check_names_every_known_mistake(mistake):
    def fn(dh_next, dc_next, x, h_prev, c_prev, W_ih, W_hh, b):
        return ex._cell_backward(dh_next, dc_next, x, h_prev, c_prev, W_ih, W_hh, b, mistake=mistake)
    with pytest.raises(ExerciseError) as info:
        ex.check_lstm_cell_backward(fn)
    if mistake == "dx_transposed":           # before the square case, the product fails
        assert "raised ValueError" in str(info.value) and "transpose" in str(info.value)
    elif mistake == "dW_ih_transposed":      # ... or has the wrong shape
        assert "dW_ih must have W_ih's shape (4H, I)" in str(info.value)
    else:
        assert ex._CELL_HINTS[mistake] in str(info.value)


@pytest.mark.parametrize("mistake", list(ex._BPTT_HINTS))
def test_bptt_check_names_every_known_mistake(mistake):
    def fn(dys, dh_T, dc_T, xs, hs, cs, W_ih, W_hh, b):
        return ex._bptt(dys, dh_T, dc_T, xs, hs, cs, W_ih, W_hh, b, mistake=mistake)
    with pytest.raises(ExerciseError) as info:
        ex.check_lstm_bptt_backward(fn)
    assert ex._BPTT_HINTS[mistake] in str(info.value)


# --- 9.2 builds on 9.1: the loop is checked with minigan's cell ----------------------------------

_LOOP = """
import numpy as np
def lstm_bptt_backward(dys, dh_T, dc_T, xs, hs, cs, W_ih, W_hh, b):
    dh, dc, dxs = dh_T, dc_T, [None] * xs.shape[0]
    dW_ih, dW_hh, db = 0, 0, 0
    for t in reversed(range(xs.shape[0])):
        dxs[t], dh, dc, gi, gh, gb = lstm_cell_backward(dys[t] + dh, dc, xs[t], hs[t], cs[t],
                                                        W_ih, W_hh, b)
        dW_ih, dW_hh, db = dW_ih + gi, dW_hh + gh, db + gb
    return np.stack(dxs), dh, dc, dW_ih, dW_hh, db
"""


def _notebook(cell=None, loop=_LOOP):
    """A learner's namespace (a notebook's): their loop, and their 9.1 (``cell``) if given."""
    ns = {}
    if cell is not None:
        ns["lstm_cell_backward"] = cell
    exec(loop, ns)
    return ns


def _unfinished_cell(*args):
    raise NotImplementedError("Exercise 9.1")


def test_bptt_is_checked_with_minigans_cell_not_the_learners(capsys):
    # a right loop passes whatever the learner's 9.1 does, and the pass line says whose cell ran
    for cell, note in [(lstm_cell_backward, "in place of yours."),
                       (_cell("no_tanh_path"), "YOURS does not pass exercise 9.1 yet"),
                       (_cell("sigmoid_g"), "YOURS does not pass exercise 9.1 yet"),
                       (_unfinished_cell, "YOURS does not pass exercise 9.1 yet")]:
        ns = _notebook(cell)
        ex.check_lstm_bptt_backward(ns["lstm_bptt_backward"])
        out = capsys.readouterr().out
        assert out.startswith("\u2713 lstm_bptt_backward passed") and out.count("\n") == 1
        assert "minigan's lstm_cell_backward in place of yours" in out and note in out
        assert ns["lstm_cell_backward"] is cell                  # the learner's, put back


def test_bptt_runs_before_the_learner_has_written_9_1(capsys):
    ns = _notebook(cell=None)                    # 9.1's cell never run: the name is undefined
    ex.check_lstm_bptt_backward(ns["lstm_bptt_backward"])
    assert "passed" in capsys.readouterr().out
    assert "lstm_cell_backward" not in ns                         # and it is not left behind


def test_a_wrong_loop_still_fails_with_the_loops_hint():
    loop = _LOOP.replace("dys[t] + dh", "dh")                     # dys forgotten
    ns = _notebook(_cell("no_tanh_path"), loop)
    with pytest.raises(ExerciseError) as info:
        ex.check_lstm_bptt_backward(ns["lstm_bptt_backward"])
    assert ex._BPTT_HINTS["no_dys"] in str(info.value)
    assert "exercise 9.1" not in str(info.value)
    # and at T = 1 the fallback no longer blames the cell, which was minigan's
    loop = _LOOP.replace("dys[t] + dh", "dys[t] + 0.5 * dh")
    with pytest.raises(ExerciseError, match=r"case 'one step'(.|\n)*the cell is not the problem"):
        ex.check_lstm_bptt_backward(_notebook(lstm_cell_backward, loop)["lstm_bptt_backward"])


def test_a_loop_that_binds_its_own_wrong_cell_names_the_real_culprit():
    loop = _LOOP.replace("def lstm_bptt_backward(dys, dh_T, dc_T, xs, hs, cs, W_ih, W_hh, b):",
                         "def lstm_bptt_backward(dys, dh_T, dc_T, xs, hs, cs, W_ih, W_hh, b, "
                         "cell=None):\n    cell = cell or MY_CELL").replace(
        "lstm_cell_backward(dys[t]", "cell(dys[t]")
    wrong = _cell("sigmoid_g")
    ns = {"MY_CELL": wrong, "lstm_cell_backward": wrong}
    exec(loop, ns)
    with pytest.raises(ExerciseError, match=r"the real culprit may be exercise 9\.1(.|\n)*"
                                            r"check_lstm_cell_backward says: .*dx is wrong"):
        ex.check_lstm_bptt_backward(ns["lstm_bptt_backward"])
    # the same loop around a RIGHT cell: no culprit to name, the loop passes
    ns = {"MY_CELL": lstm_cell_backward, "lstm_cell_backward": lstm_cell_backward}
    exec(loop, ns)
    ex.check_lstm_bptt_backward(ns["lstm_bptt_backward"])


def test_the_substitute_cell_is_minigans_answer_to_9_1():
    runner = ex._MinigansCell(lambda: None)
    rng = np.random.default_rng(3)
    x, h, c, W_ih, W_hh, b = ex._random_cell(rng, 3, 5, 2)
    dh, dc = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    for got, want in zip(runner.cell(dh, dc, x, h, c, W_ih, W_hh, b),
                         lstm_cell_backward(dh, dc, x, h, c, W_ih, W_hh, b)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert runner.calls == 1
