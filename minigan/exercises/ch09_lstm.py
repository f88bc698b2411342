"""Checks for the exercises of chapter 9 (the LSTM by hand), in the manner of :mod:`minigan.exercises`.

Each ``check_*`` runs the learner's function on several float64 cases (batch 1, odd sizes,
I = H and I = 4H where a missing transpose keeps the shape, random non-zero biases, initial
states and upstream gradients), compares it with minigan's own answer, and either prints one
pass line or raises :class:`~minigan.exercises.ExerciseError` saying which output is wrong
and, where the wrong answer looks like a known mistake, a hint. ``NotImplementedError`` raised
by an unfinished exercise propagates unchanged.

Conventions (notebook 09; those of :class:`minigan.nn.LSTMCell`): row vectors, torch's gate
order (i, f, g, o), ONE bias ``b`` of shape (4H,) (torch's ``b_ih + b_hh``)::

    a = x W_ihᵀ + h_prev W_hhᵀ + b                 (N, 4H) = [a_i | a_f | a_g | a_o]
    i, f, o = σ(a_i), σ(a_f), σ(a_o);  g = tanh(a_g)
    c = f ⊙ c_prev + i ⊙ g;  h = o ⊙ tanh(c)

=====================================  ==========  ==============================================
check                                  exercise    the learner writes
=====================================  ==========  ==============================================
check_lstm_cell_backward               9.1         lstm_cell_backward(dh_next, dc_next, x, h_prev,
                                                   c_prev, W_ih, W_hh, b)
                                                   -> (dx, dh_prev, dc_prev, dW_ih, dW_hh, db)
check_lstm_bptt_backward               9.2         lstm_bptt_backward(dys, dh_T, dc_T, xs, hs, cs,
                                                   W_ih, W_hh, b)
                                                   -> (dxs, dh0, dc0, dW_ih, dW_hh, db)
check_reinforce_grad                   9.3         reinforce_grad(logits, actions, rewards,
                                                   baseline) -> (loss, dlogits)
=====================================  ==========  ==============================================
"""
from __future__ import annotations

import numpy as np

from .checker import by_hand, ExerciseError, _call, _compare, _name, _passed, _quiet, _unpack

__all__ = ["check_lstm_cell_backward", "check_lstm_bptt_backward", "check_reinforce_grad"]

_CELL_OUTPUTS = ("dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db")
_BPTT_OUTPUTS = ("dxs", "dh0", "dc0", "dW_ih", "dW_hh", "db")


def _sigmoid(z):
    return 0.5 * (1 + np.tanh(0.5 * z))


# --------------------------------------------------------------------------------------
# The cell, written out (also the source of the known wrong answers)
# --------------------------------------------------------------------------------------

def _cell_forward(x, h_prev, c_prev, W_ih, W_hh, b, order="ifgo", g_act=np.tanh):
    """One step; ``order`` says which gate each quarter of a is (``"ifog"``: CS231n's)."""
    a = x @ W_ih.T + h_prev @ W_hh.T + b
    H = h_prev.shape[1]
    blocks = [a[:, k * H:(k + 1) * H] for k in range(4)]
    a_i, a_f, a_g, a_o = (blocks[order.index(name)] for name in "ifgo")
    i, f, g, o = _sigmoid(a_i), _sigmoid(a_f), g_act(a_g), _sigmoid(a_o)
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    return o * tanh_c, c, (i, f, g, o, tanh_c)


# mistake -> the hint the checks give when the learner's numbers match it
_CELL_HINTS = {
    "no_tanh_path": "c reaches the loss twice: directly (dc_next) AND through h = o ⊙ tanh(c). "
                    "The gradient of c is dc_next + dh_next ⊙ o ⊙ (1 − tanh²c); you forgot the "
                    "path through h.",
    "no_dc_next": "c reaches the loss twice: through h = o ⊙ tanh(c) AND directly, as the state "
                  "handed to the next step. Add dc_next: dc = dc_next + dh_next ⊙ o ⊙ (1 − tanh²c).",
    "sigmoid_g": "g is the candidate, g = tanh(a_g), not a sigmoid: its derivative is 1 − g², "
                 "not g(1 − g).",
    "sigmoid_g_forward": "g is the candidate cell value, g = tanh(a_g) (in [−1, 1], so that "
                         "the cell can also be decreased), and its derivative is 1 − g²; "
                         "only i, f and o are sigmoids.",
    "order": "the gate order: a is split as (i, f, g, o), torch's order (CS231n's assignment "
             "uses (i, f, o, g)). The third quarter, a[:, 2H:3H], is the candidate g (tanh), the "
             "fourth the output gate o.",
    "no_f": "c = f ⊙ c_prev + i ⊙ g, so ∂c/∂c_prev = f: dc_prev = dc ⊙ f, not dc itself.",
    "dc_prev_from_next": "dc_prev = dc ⊙ f with the TOTAL gradient of c, dc = dc_next + "
                         "dh_next ⊙ o ⊙ (1 − tanh²c), not dc_next alone: the path through h "
                         "reaches c_prev too.",
    "c_new_in_f": "∂c/∂f = c_prev, the OLD cell state (c = f ⊙ c_prev + i ⊙ g): "
                  "da_f = dc ⊙ c_prev ⊙ f(1 − f), not with the new c.",
    "dc_in_o": "the output gate only acts through h = o ⊙ tanh(c): da_o = dh_next ⊙ tanh(c) ⊙ "
               "o(1 − o), with dh_next, not with the total gradient of c.",
    "db_mean": "the bias is added to every row of the batch: db = Σ_n da_n, a sum, not a mean.",
    "dx_transposed": "a = x W_ihᵀ + ..., so dx = da W_ih, without a transpose (here I = 4H, so "
                     "the shapes fit either way).",
    "dW_ih_transposed": "dW_ih = daᵀ x has W_ih's shape (4H, I); xᵀ da is its transpose (here "
                        "I = 4H, so the shapes fit either way).",
}


def _cell_backward(dh, dc, x, h_prev, c_prev, W_ih, W_hh, b, mistake=None):
    """(dx, dh_prev, dc_prev, dW_ih, dW_hh, db) of one step, right or with one known mistake."""
    order = "ifog" if mistake == "order" else "ifgo"
    g_act = _sigmoid if mistake == "sigmoid_g_forward" else np.tanh
    _, c, (i, f, g, o, tanh_c) = _cell_forward(x, h_prev, c_prev, W_ih, W_hh, b, order, g_act)
    dc_total = 0.0 if mistake == "no_tanh_path" else dh * o * (1 - tanh_c * tanh_c)
    if mistake != "no_dc_next":
        dc_total = dc_total + dc
    dc_total = dc_total + np.zeros_like(c)
    da = {"i": dc_total * g * i * (1 - i),
          "f": dc_total * (c if mistake == "c_new_in_f" else c_prev) * f * (1 - f),
          "g": dc_total * i * (g * (1 - g) if mistake in ("sigmoid_g", "sigmoid_g_forward")
                               else 1 - g * g),
          "o": (dc_total if mistake == "dc_in_o" else dh) * tanh_c * o * (1 - o)}
    da = np.concatenate([da[name] for name in order], axis=1)              # (N, 4H)
    dx = da @ W_ih.T if mistake == "dx_transposed" else da @ W_ih
    dW_ih = x.T @ da if mistake == "dW_ih_transposed" else da.T @ x
    db = da.mean(axis=0) if mistake == "db_mean" else da.sum(axis=0)
    dc_prev = dc_total if mistake == "no_f" else dc_total * f
    if mistake == "dc_prev_from_next":
        dc_prev = dc * f + np.zeros_like(c)
    return dx, da @ W_hh, dc_prev, dW_ih, da.T @ h_prev, db


def _cell_reference(dh, dc, x, h_prev, c_prev, W_ih, W_hh, b):
    """minigan's LSTMCell in float64 (bias_ih = b, bias_hh = 0)."""
    from ..nn.recurrent import LSTMCell
    I, H = x.shape[1], h_prev.shape[1]
    cell = LSTMCell(I, H, rng=np.random.default_rng(0), dtype="float64")
    cell.params["weight_ih"][...] = W_ih
    cell.params["weight_hh"][...] = W_hh
    cell.params["bias_ih"][...] = b
    cell.params["bias_hh"][...] = 0.0
    _, cache = cell.forward(x, (h_prev, c_prev))
    cell.zero_grad()
    dx, dh_prev, dc_prev = cell.backward(dh, dc, cache)
    g = cell.grads
    return dx, dh_prev, dc_prev, g["weight_ih"].copy(), g["weight_hh"].copy(), g["bias_ih"].copy()


def _random_cell(rng, N, I, H):
    """x, h_prev, c_prev, W_ih, W_hh, b: gates neither saturated nor all near ½."""
    x = rng.standard_normal((N, I))
    h_prev = rng.uniform(-0.9, 0.9, (N, H))
    c_prev = rng.standard_normal((N, H))
    W_ih = rng.standard_normal((4 * H, I)) / np.sqrt(I)
    W_hh = rng.standard_normal((4 * H, H)) / np.sqrt(H)
    b = rng.standard_normal(4 * H)
    return x, h_prev, c_prev, W_ih, W_hh, b


def _cell_mistakes(args, names, square_ih):
    out = []
    for m in names:
        if m in ("dx_transposed", "dW_ih_transposed") and not square_ih:
            continue
        out.append((m, _cell_backward(*args, mistake=m)))
    return out


def _compare_all(fn, outputs, got, expected, wrong, hints, case, shape_hints=None,
                 fallback=None):
    """_compare every output in turn, each with the known mistakes' values for it."""
    for k, name in enumerate(outputs):
        mistakes = [(w[k], hints[m]) for m, w in wrong]
        try:
            _compare(fn, name, got[k], expected[k], case, mistakes=mistakes,
                     shape_hints=(shape_hints or {}).get(name))
        except ExerciseError as exc:
            if fallback and "\nHint:" not in str(exc):
                raise ExerciseError(f"{exc}\nHint: {fallback}") from None
            raise


# --------------------------------------------------------------------------------------
# Exercise 9.1: the backward pass of one LSTM step
# --------------------------------------------------------------------------------------

@by_hand("9.1")
@_quiet
def check_lstm_cell_backward(lstm_cell_backward, seed=90):
    """Exercise 9.1: ``lstm_cell_backward(dh_next, dc_next, x, h_prev, c_prev, W_ih, W_hh, b)
    -> (dx, dh_prev, dc_prev, dW_ih, dW_hh, db)``.

    dh_next, dc_next, h_prev, c_prev: (N, H); x: (N, I); W_ih: (4H, I); W_hh: (4H, H);
    b: (4H,). dh_next and dc_next are the gradients flowing into this step's outputs h and c.
    Cases: batch 1, odd sizes, I = H, I = 4H (where dx = da W_ihᵀ and dW_ih = xᵀ da keep the
    shape), random non-zero biases, states and upstream gradients.
    """
    fn = lstm_cell_backward
    rng = np.random.default_rng(seed)
    cases = [("batch 1", 1, 3, 2), ("odd sizes", 3, 5, 3), ("I = H", 4, 4, 4),
             ("I = 4H", 2, 8, 2), ("H = 1", 2, 3, 1)]
    for case, N, I, H in cases:
        x, h_prev, c_prev, W_ih, W_hh, b = _random_cell(rng, N, I, H)
        dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
        args = (dh, dc, x, h_prev, c_prev, W_ih, W_hh, b)
        expected = _cell_reference(*args)
        out = _call(fn, dict(zip(("dh_next", "dc_next", "x", "h_prev", "c_prev", "W_ih", "W_hh",
                                  "b"), args)), case,
                    readonly=("dh_next", "dc_next", "x", "h_prev", "c_prev", "W_ih", "W_hh", "b"),
                    error_hint="the shapes of a product do not fit: with da of shape (N, 4H), "
                    "dx = da W_ih is (N, 4H)·(4H, I), dh_prev = da W_hh, dW_ih = daᵀ x is "
                    "(4H, N)·(N, I), dW_hh = daᵀ h_prev. A transpose too many or too few?")
        got = _unpack(fn, out, _CELL_OUTPUTS, case)
        wrong = _cell_mistakes(args, list(_CELL_HINTS), square_ih=(I == 4 * H))
        shape_hints = {
            "dW_ih": {(I, 4 * H): "dW_ih must have W_ih's shape (4H, I): dW_ih = daᵀ x."},
            "dW_hh": {(H, 4 * H): "dW_hh must have W_hh's shape (4H, H): dW_hh = daᵀ h_prev."},
            "db": {(N, 4 * H): "sum over the batch: db = da.sum(axis=0), shape (4H,).",
                   (4, H): "db has b's shape (4H,), the four gates side by side.",
                   (): "db has one entry per gate unit: da.sum(axis=0), shape (4H,)."},
            "dx": {(N, 4 * H): "that is da, the gradient of the pre-activations; dx = da W_ih."},
            "dh_prev": {(N, 4 * H): "that is da; dh_prev = da W_hh."},
        }
        _compare_all(fn, _CELL_OUTPUTS, got, expected, wrong, _CELL_HINTS, case, shape_hints)
    _passed(fn, f"dx, dh_prev, dc_prev, dW_ih, dW_hh and db match minigan's LSTMCell on "
            f"{len(cases)} cases (batch 1, odd sizes, I = H, I = 4H, H = 1).")


# --------------------------------------------------------------------------------------
# Exercise 9.2: backpropagation through time
# --------------------------------------------------------------------------------------

_BPTT_HINTS = {
    "no_carry_h": "h_t reaches the loss twice: through its own output (dys[t]) AND through "
                  "step t+1, which read it as h_prev. The gradient going into step t is "
                  "dh_next = dys[t] + (the dh_prev that step t+1 returned).",
    "no_carry_h_const": "h_t reaches the loss twice: through its own output (dys[t]) AND "
                        "through step t+1. After each step, the dh_prev it returns becomes the "
                        "carried dh of the step before (dh_T is only where the loop starts).",
    "no_carry_c": "carry dc backwards too: the dc_prev that step t+1 returns is the dc_next "
                  "of step t (only the last step starts from dc_T).",
    "no_carry_c_const": "carry dc backwards: the dc_prev that step t+1 returns is the dc_next "
                        "of step t; dc_T is only where the loop starts.",
    "no_dys": "every h_t has its own upstream gradient dys[t] (the outputs at every step are "
              "used): dh_next = dys[t] + the carried dh_prev, not the carried part alone.",
    "no_final": "the backward loop starts from the gradients of the final state: "
                "dh = dh_T and dc = dc_T before step T − 1, not zeros.",
    "no_final_h": "the backward loop starts from the gradients of the final state, BOTH of "
                  "them: dh = dh_T (and dc = dc_T) before step T − 1; dh_T is missing.",
    "no_final_c": "the backward loop starts from the gradients of the final state, BOTH of "
                  "them: dc = dc_T (and dh = dh_T) before step T − 1; dc_T is missing.",
    "overwrite": "the weights are shared by every step, so their gradient is the SUM of every "
                 "step's: dW_ih += (this step's), not =. You kept one step only.",
    "last_only": "the weights are shared by every step, so their gradient is the SUM over all "
                 "steps, not the gradient of one step.",
    "mean_T": "the weight gradients are summed over the steps, not averaged: no 1/T.",
    "off_by_one": "step t (0-based) reads x = xs[t] and the state BEFORE it, h_prev = hs[t], "
                  "c_prev = cs[t] (hs[0] is the initial state h0); hs[t + 1] is what step t "
                  "produced.",
    "reversed_dx": "dxs is in reversed time order: the backward loop visits t = T−1, ..., 0; "
                   "store dxs[t] by index (or reverse the list at the end).",
}


def _bptt(dys, dh_T, dc_T, xs, hs, cs, W_ih, W_hh, b, mistake=None):
    """(dxs, dh0, dc0, dW_ih, dW_hh, db) by the cell's backward in a loop; one known mistake."""
    T = xs.shape[0]
    dh = np.zeros_like(dh_T) if mistake in ("no_final", "no_final_h") else dh_T.copy()
    dc = np.zeros_like(dc_T) if mistake in ("no_final", "no_final_c") else dc_T.copy()
    dxs = np.zeros(xs.shape)
    dW_ih, dW_hh, db = np.zeros(W_ih.shape), np.zeros(W_hh.shape), np.zeros(b.shape)
    steps = []
    for t in reversed(range(T)):
        if mistake == "no_carry_h":
            dh_next = dys[t] + (dh_T if t == T - 1 else 0.0)
        elif mistake == "no_carry_h_const":            # dh never reassigned: dh_T every step
            dh_next = dys[t] + dh_T
        elif mistake == "no_dys":
            dh_next = dh
        else:
            dh_next = dys[t] + dh
        if mistake == "no_carry_c" and t < T - 1:
            dc = np.zeros_like(dc)
        elif mistake == "no_carry_c_const":
            dc = dc_T.copy()
        s = t + 1 if mistake == "off_by_one" else t
        dx, dh, dc, gi, gh, gb = _cell_backward(dh_next, dc, xs[t], hs[s], cs[s], W_ih, W_hh, b)
        dxs[t] = dx
        steps.append((gi, gh, gb))
        dW_ih += gi
        dW_hh += gh
        db += gb
    if mistake == "overwrite":                      # the last one written: step 0
        dW_ih, dW_hh, db = steps[-1]
    elif mistake == "last_only":                    # the first one computed: step T − 1
        dW_ih, dW_hh, db = steps[0]
    elif mistake == "mean_T":
        dW_ih, dW_hh, db = dW_ih / T, dW_hh / T, db / T
    if mistake == "reversed_dx":
        dxs = dxs[::-1]
    return dxs, dh, dc, dW_ih, dW_hh, db


def _lstm_forward_states(xs, h0, c0, W_ih, W_hh, b):
    T, N = xs.shape[:2]
    H = h0.shape[1]
    hs, cs = np.empty((T + 1, N, H)), np.empty((T + 1, N, H))
    hs[0], cs[0] = h0, c0
    for t in range(T):
        hs[t + 1], cs[t + 1], _ = _cell_forward(xs[t], hs[t], cs[t], W_ih, W_hh, b)
    return hs, cs


def _bptt_reference(dys, dh_T, dc_T, xs, h0, c0, W_ih, W_hh, b):
    """minigan's LSTM (time-major, float64): dxs, dh0, dc0, dW_ih, dW_hh, db."""
    from ..nn.recurrent import LSTM
    I, H = xs.shape[2], h0.shape[1]
    lstm = LSTM(I, H, batch_first=False, rng=np.random.default_rng(0), dtype="float64")
    p = lstm.params
    p["weight_ih_l0"][...] = W_ih
    p["weight_hh_l0"][...] = W_hh
    p["bias_ih_l0"][...] = b
    p["bias_hh_l0"][...] = 0.0
    _, cache = lstm.forward(xs, (h0[None], c0[None]))
    lstm.zero_grad()
    dxs, dh0, dc0 = lstm.backward(dys, cache, dh_T[None], dc_T[None])
    g = lstm.grads
    return (dxs, dh0[0], dc0[0], g["weight_ih_l0"].copy(), g["weight_hh_l0"].copy(),
            g["bias_ih_l0"].copy())


class _MinigansCell:
    """9.2 builds on 9.1: while the learner's ``lstm_bptt_backward`` runs, the name
    ``lstm_cell_backward`` in its namespace is minigan's answer to exercise 9.1 (its LSTMCell,
    in float64), so that a wrong or unfinished 9.1 cannot fail 9.2; restored afterwards, pass
    or fail. ``calls`` counts how often the loop called it."""

    NAME = "lstm_cell_backward"

    def __init__(self, fn):
        import inspect
        self.fn = fn
        self.space = getattr(inspect.unwrap(fn), "__globals__", None)
        self.calls = 0

    def cell(self, dh_next, dc_next, x, h_prev, c_prev, W_ih, W_hh, b):
        self.calls += 1
        args = (dh_next, dc_next, x, h_prev, c_prev, W_ih, W_hh, b)
        return _cell_reference(*(np.asarray(a, dtype=np.float64) for a in args))

    def __call__(self, *args):
        space = self.space
        if space is None:
            return self.fn(*args)
        had, old = self.NAME in space, space.get(self.NAME)
        space[self.NAME] = self.cell
        try:
            return self.fn(*args)
        finally:
            if had:
                space[self.NAME] = old
            else:
                del space[self.NAME]

    def own_cell_problem(self):
        """None if the learner's own ``lstm_cell_backward`` passes exercise 9.1 (or there is
        none); else what is wrong with it, in a few words."""
        import contextlib
        import io
        own = (self.space or {}).get(self.NAME)
        if not callable(own):
            return None
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                check_lstm_cell_backward(own)
        except NotImplementedError:
            return "it is not written yet (it raises NotImplementedError)"
        except ExerciseError as exc:
            return "check_lstm_cell_backward says: " + str(exc).split("\n")[0]
        except Exception as exc:                      # noqa: BLE001 (the learner's code)
            return f"it raises {type(exc).__name__}: {exc}"
        return None


@by_hand("9.2")
@_quiet
def check_lstm_bptt_backward(lstm_bptt_backward, seed=91):
    """Exercise 9.2: ``lstm_bptt_backward(dys, dh_T, dc_T, xs, hs, cs, W_ih, W_hh, b)
    -> (dxs, dh0, dc0, dW_ih, dW_hh, db)``: backpropagation through T steps of one LSTM layer.

    Time-major: xs (T, N, I); hs, cs (T + 1, N, H), hs[0] = h0 and hs[t + 1] the output of
    step t (the forward pass, done for you); dys (T, N, H) the upstream gradient of every
    h_{t+1} = hs[t + 1]; dh_T, dc_T (N, H) the gradients of the final state. W_ih (4H, I),
    W_hh (4H, H), b (4H,). Returns dxs (T, N, I), dh0, dc0 (N, H) and the weight gradients.
    Cases: T = 1 (one cell), T = 2 with batch 1, T = 3, non-zero initial states.

    The loop is checked on its own: while it runs, ``lstm_cell_backward`` (the name exercise
    9.2 asks it to call) is minigan's answer to exercise 9.1, not the learner's, so that a
    wrong 9.1 cannot fail 9.2. A loop that does not call it by that name runs as written; if
    it then fails and the learner's own ``lstm_cell_backward`` does not pass exercise 9.1,
    the message says so.
    """
    import functools
    runner = _MinigansCell(lstm_bptt_backward)

    @functools.wraps(lstm_bptt_backward)
    def fn(*args):
        return runner(*args)

    try:
        _check_bptt_cases(fn, runner, seed)
    except ExerciseError as exc:
        problem = runner.own_cell_problem() if runner.calls == 0 else None
        if problem is None:
            raise
        raise ExerciseError(
            f"{exc}\nHint: the real culprit may be exercise 9.1. Your {_name(fn)} does not "
            f"call `lstm_cell_backward` by that name (so the check could not put minigan's in "
            f"its place; a default argument or another name binds your own), and your "
            f"lstm_cell_backward does not pass exercise 9.1: {problem}") from None
    cases = "4 cases (T = 1, 2, 3, batch 1, non-zero initial states)"
    if runner.calls == 0:
        _passed(fn, f"dxs, dh0, dc0 and the weight gradients match minigan's LSTM on {cases}.")
        return
    problem = runner.own_cell_problem()
    _passed(fn, f"dxs, dh0, dc0 and the weight gradients match minigan's LSTM on {cases}; "
            "your loop ran with minigan's lstm_cell_backward in place of yours"
            + ("." if problem is None else
               ", and YOURS does not pass exercise 9.1 yet: fix it before you use this loop "
               "with it."))


def _check_bptt_cases(fn, runner, seed):
    rng = np.random.default_rng(seed)
    cases = [("one step", 1, 2, 3, 2), ("two steps, batch 1", 2, 1, 3, 3),
             ("three steps", 3, 3, 2, 4), ("three steps, I = H", 3, 2, 3, 3)]
    for case, T, N, I, H in cases:
        x0, h0, c0, W_ih, W_hh, b = _random_cell(rng, N, I, H)
        xs = np.concatenate([x0[None], rng.standard_normal((T - 1, N, I))])
        dys = rng.standard_normal((T, N, H))
        dh_T, dc_T = rng.standard_normal((N, H)), rng.standard_normal((N, H))
        hs, cs = _lstm_forward_states(xs, h0, c0, W_ih, W_hh, b)
        args = (dys, dh_T, dc_T, xs, hs, cs, W_ih, W_hh, b)
        expected = _bptt_reference(dys, dh_T, dc_T, xs, h0, c0, W_ih, W_hh, b)
        names = ("dys", "dh_T", "dc_T", "xs", "hs", "cs", "W_ih", "W_hh", "b")
        out = _call(fn, dict(zip(names, args)), case, readonly=names,
                    error_hint="step t (0-based) is one cell: x = xs[t] (N, I), h_prev = hs[t], "
                    "c_prev = cs[t] (N, H); dW_ih has W_ih's shape (4H, I).")
        got = _unpack(fn, out, _BPTT_OUTPUTS, case)
        wrong = [(m, _bptt(*args, mistake=m)) for m in _BPTT_HINTS]
        shape_hints = {"dxs": {(T - 1, N, I): "one dx per step: dxs has xs's shape (T, N, I).",
                               (N, I): "return the dx of EVERY step, stacked: (T, N, I)."},
                       "dh0": {(T, N, H): "dh0 is the gradient of the initial state h0 only, "
                                          "(N, H): what the last backward step returns."},
                       "dc0": {(T, N, H): "dc0 is the gradient of the initial state c0 only, "
                                          "(N, H)."}}
        fallback = None
        if T == 1:
            fallback = ("with T = 1 this is one call of the cell's backward, from dh_next = "
                        "dys[0] + dh_T and dc_next = dc_T, returning its dx as dxs[0] and its "
                        "dh_prev, dc_prev as dh0, dc0"
                        + (" (the check ran your loop with minigan's lstm_cell_backward, so the "
                           "cell is not the problem)." if runner.calls else
                           ": check exercise 9.1 first."))
        _compare_all(fn, _BPTT_OUTPUTS, got, expected, wrong, _BPTT_HINTS, case, shape_hints,
                     fallback)


# --------------------------------------------------------------------------------------
# Exercise 9.3: the REINFORCE estimator for a categorical policy
# --------------------------------------------------------------------------------------

def _log_softmax(z, axis=1):
    m = z.max(axis=axis, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


def _reinforce_reference(logits, actions, rewards, baseline):
    """L = −(1/N) Σ_n (r_n − b_n) log π(a_n | z_n), ∂L/∂z = (r − b)/N ⊙ (softmax(z) − onehot(a)).

    The same formula as ``minigan.lm.LanguageModel.loss_and_backward`` with weights r − b."""
    from ..nn import log_softmax
    N, V = logits.shape
    A = rewards - baseline
    logp = log_softmax(logits)
    rows = np.arange(N)
    loss = -float(np.mean(A * logp[rows, actions]))
    dz = np.exp(logp)
    dz[rows, actions] -= 1
    return loss, dz * (A / N)[:, None]


_NV_HINT = ("the mean is over the N samples only, loss = −(1/N) Σ_n (r_n − b_n) log π(a_n): "
            "np.mean of an (N, V) array (say (r − b)·onehot·log softmax) divides by N·V.")


@by_hand("9.3")
@_quiet
def check_reinforce_grad(reinforce_grad, seed=92):
    """Exercise 9.3: ``reinforce_grad(logits, actions, rewards, baseline) -> (loss, dlogits)``.

    logits: (N, V), the policy π(· | z_n) = softmax(z_n); actions: (N,) ints, the sampled
    a_n; rewards: (N,); baseline: a float or an (N,) array. loss = −(1/N) Σ_n (r_n − b_n)
    log π(a_n) (a float), dlogits = ∂loss/∂logits (N, V). Cases: batch 1 with no baseline,
    a scalar baseline, one baseline per sample, N = V (where a wrongly broadcast reward keeps
    the shape), logits of ±1000 (where log(softmax(z)) is −inf and exp(z) overflows).
    """
    fn = reinforce_grad
    rng = np.random.default_rng(seed)
    cases = [("batch 1, no baseline", 1, 5, 1.0, "zero"),
             ("a scalar baseline", 6, 4, 1.0, "scalar"),
             ("a baseline per sample", 5, 7, 1.0, "array"),
             ("N = V", 5, 5, 1.0, "scalar"),
             ("logits of ±1000", 4, 6, 1000.0, "scalar")]
    for case, N, V, scale, kind in cases:
        logits = scale * rng.uniform(-1, 1, (N, V))
        actions = rng.integers(0, V, N)
        rewards = rng.normal(1.0, 1.0, N)
        baseline = {"zero": 0.0, "scalar": float(rng.normal(0.8, 0.2)),
                    "array": rng.normal(0.8, 0.5, N)}[kind]
        loss_ref, dz_ref = _reinforce_reference(logits, actions, rewards, baseline)
        out = _call(fn, {"logits": logits, "actions": actions, "rewards": rewards,
                         "baseline": baseline}, case,
                    readonly=("logits", "actions", "rewards", "baseline"),
                    error_hint="rewards (N,) scale the ROWS of (N, V): use "
                    "(rewards − baseline)[:, None] (a column), not rewards itself, which "
                    "NumPy broadcasts along the columns.")
        loss, dz = _unpack(fn, out, ("loss", "dlogits"), case)
        if loss.shape != ():
            raise ExerciseError(f"{_name(fn)}: the loss should be one number, got an array of "
                                f"shape {loss.shape} (case '{case}'). Average over the batch.")
        m = logits.max(axis=1, keepdims=True)
        p = np.exp(logits - m)
        p /= p.sum(axis=1, keepdims=True)
        rows = np.arange(N)
        onehot = np.zeros((N, V))
        onehot[rows, actions] = 1.0
        A = rewards - baseline
        logp_a = _log_softmax(logits)[rows, actions]
        with np.errstate(all="ignore"):
            p0 = np.exp(logits - logits.max(axis=0, keepdims=True))
            p0 = p0 / p0.sum(axis=0, keepdims=True)
        has_b = np.any(np.asarray(baseline) != 0)
        nonfinite = ("at logits of ±1000, exp(z) overflows and log(softmax(z)) is log 0 = "
                     "−inf. Subtract each row's maximum before exp (softmax is unchanged), and "
                     "compute log π = z − max − log Σ exp(z − max) directly (a log-softmax).")
        _compare(fn, "loss", loss, loss_ref, case, mistakes=[
            (-loss_ref, "the loss is MINUS the mean of (r − b)·log π(a): minimising it raises "
             "the log-probability of actions with a high reward."),
            (N * loss_ref, "average over the batch (a mean, 1/N), not a sum."),
            (loss_ref / V, _NV_HINT),
            ((-np.mean(rewards * logp_a)) if has_b else np.zeros(0),
             "subtract the baseline: weight log π(a_n) by r_n − b_n."),
            ((-np.mean((rewards + baseline) * logp_a)) if has_b else np.zeros(0),
             "the baseline is subtracted from the reward, r − b, not added."),
            (-np.mean(A * p[rows, actions]), "the loss uses log π(a), not π(a)."),
            (-np.mean(A * np.log(p0[rows, actions])), "softmax over the wrong axis: each row "
             "of logits is one distribution over the V actions, so normalise along axis 1."),
        ], nonfinite=nonfinite)
        mistakes = [
            (-dz_ref, "wrong sign: ∂/∂z log π(a) = onehot(a) − softmax(z), so the gradient of "
             "−(r − b) log π(a) is (r − b)(softmax(z) − onehot(a))/N."),
            (-(A / N)[:, None] * onehot, "log π(a) = z_a − log Σ_j exp(z_j): its gradient is "
             "onehot(a) − softmax(z). You forgot the −softmax(z) that comes from the "
             "normaliser: dlogits = (r − b)/N ⊙ (softmax(z) − onehot(a))."),
            ((A / N)[:, None] * p, "you forgot the one-hot of the action: dlogits = (r − b)/N ⊙ "
             "(softmax(z) − onehot(a)), and the −onehot(a) is the part that says WHICH action "
             "was taken."),
            (N * dz_ref, "the loss is a mean over the batch: divide by N."),
            (dz_ref / V, _NV_HINT),
            ((rewards / N)[:, None] * (p - onehot) if has_b else np.zeros(0),
             "subtract the baseline: the weight of row n is r_n − b_n."),
            (((rewards + baseline) / N)[:, None] * (p - onehot) if has_b else np.zeros(0),
             "the baseline is subtracted, r − b, not added."),
            ((A[None, :] / N) * (p - onehot) if N == V else np.zeros(0),
             "each reward scales its own ROW: (r − b)[:, None], a column. (r − b) as it is "
             "broadcasts along the columns; here N = V, so the shapes fit either way."),
            ((A / N)[:, None] * (p0 - onehot),
             "softmax over the wrong axis: each row of logits is one distribution over the V "
             "actions, so normalise along axis 1."),
            (-(A / N * np.exp(logp_a))[:, None] * (onehot - p),
             "that is the gradient of −(r − b)·π(a); REINFORCE uses log π(a): "
             "∇ log π = ∇π / π."),
        ]
        _compare(fn, "dlogits", dz, dz_ref, case, mistakes=mistakes,
                 shape_hints={(N,): "dlogits has the shape of logits, (N, V): one gradient per "
                                    "logit, not per sample.",
                              (V, N): "it looks transposed: dlogits has the shape of logits, "
                                      "(N, V)."},
                 nonfinite=nonfinite)
    _passed(fn, f"loss and dlogits match on {len(cases)} cases (batch 1, no baseline, scalar "
            "and per-sample baselines, N = V, logits of ±1000).")
