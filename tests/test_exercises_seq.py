"""The checks of chapter 10's exercises accept correct answers and reject plausible wrong ones,
each with the hint that names the mistake."""
import numpy as np
import pytest

from minigan.exercises import ch10_sequences as ex
from minigan.data.sines import wasserstein_1d as library_w1
from minigan.exercises import ExerciseError

from exercise_helpers import check_tests


# --- 10.1: correct answers, written as a learner would --------------------------------------

def rollout_rewards(y, score, complete, n_rollouts, *, mistake=None):
    """Learner-style Q; ``mistake`` switches on one known error (for WRONG)."""
    B, T = y.shape
    Q = np.zeros((B, T))
    for t in range(1, T):
        prefix = {"prefix_short": y[:, :t - 1], "prefix_long": y[:, :t + 1]}.get(mistake, y[:, :t])
        scores = score(complete(prefix, n_rollouts))
        if mistake == "axis_tile":
            q = scores.reshape(n_rollouts, B).mean(axis=0)
        elif mistake == "axis_rollouts":
            q = scores.reshape(B, n_rollouts).mean(axis=0)
        elif mistake == "one_rollout":
            q = scores.reshape(B, n_rollouts)[:, 0]
        elif mistake == "unshaped":
            q = scores.mean()
        else:
            q = scores.reshape(B, n_rollouts).mean(axis=1)
        Q[:, t if mistake == "column_shift" else t - 1] = q
    if mistake == "last_rollout":
        Q[:, T - 1] = score(complete(y[:, :T - 1], n_rollouts)).reshape(B, n_rollouts).mean(1)
    elif mistake != "no_last":
        Q[:, T - 1] = score(y)
    if mistake == "final_everywhere":
        Q = np.repeat(score(y)[:, None], T, axis=1)
    if mistake == "drop_last_column":
        Q = Q[:, :-1]
    return Q


def rollout_rewards_all_at_once(y, score, complete, n_rollouts):
    """Another right form: every prefix's completions scored in one call, the last column from
    a 'completion' of the full sequence (which is the sequence itself)."""
    B, T = y.shape
    blocks = [complete(y[:, :t], n_rollouts) for t in range(1, T)] + [y]
    s = score(np.concatenate(blocks))
    Q = np.empty((B, T))
    for t in range(T - 1):
        Q[:, t] = s[t * B * n_rollouts:(t + 1) * B * n_rollouts].reshape(B, n_rollouts).mean(1)
    Q[:, T - 1] = s[(T - 1) * B * n_rollouts:]
    return Q


def rollout_rewards_looped(y, score, complete, n_rollouts):
    """Another right form: one sequence at a time."""
    B, T = y.shape
    Q = np.empty((B, T))
    for b in range(B):
        for t in range(1, T):
            Q[b, t - 1] = np.mean(score(complete(y[b:b + 1, :t], n_rollouts)))
        Q[b, T - 1] = score(y[b:b + 1])[0]
    return Q


# --- 10.2: the policy-gradient step --------------------------------------------------------------

def _log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def policy_gradient(G, y, Q, baseline, *, mistake=None):
    """Learner-style SeqGAN generator update; ``mistake`` switches on one known error."""
    z, cache = G.forward(G.inputs(y) if mistake == "shifted" else y)
    B, T, V = z.shape
    if mistake == "no_baseline":
        w = Q
    elif mistake == "baseline_not_asked":
        w = Q - Q.mean(axis=0)
    elif mistake == "baseline_time":
        w = Q - Q.mean(axis=1, keepdims=True) if baseline == "mean" else Q
    elif mistake == "baseline_time_T":
        w = Q - Q.mean(axis=1) if baseline == "mean" else Q      # ValueError unless B = T
    elif mistake == "baseline_all":
        w = Q - Q.mean() if baseline == "mean" else Q
    elif mistake == "baseline_added":
        w = Q + Q.mean(axis=0) if baseline == "mean" else Q
    elif mistake == "final_everywhere":
        w = np.repeat(Q[:, -1:], T, axis=1)
        w = w - w.mean(axis=0) if baseline == "mean" else w
    else:
        w = Q - Q.mean(axis=0) if baseline == "mean" else Q
    n = {"sum_batch": T, "sum_time": B, "sum_all": 1}.get(mistake, B * T)
    if mistake in ("mask_pad", "mask_pad_count"):
        keep = y != 0                                    # the grammar's PAD, VOCAB.pad
        w = w * keep
        if mistake == "mask_pad_count":
            n = keep.sum()
    logp = _log_softmax(z)
    p = np.exp(logp)
    chosen = z.argmax(axis=-1) if mistake == "argmax" else y
    onehot = np.eye(V)[chosen]
    loss = -np.sum(w * np.take_along_axis(logp, y[..., None], axis=-1)[..., 0]) / n
    dz = {"no_onehot": p, "no_softmax": -onehot}.get(mistake, p - onehot) * w[..., None] / n
    if mistake == "sign":
        loss, dz = -loss, -dz
    if mistake == "zero_grad":
        G.zero_grad()
    if mistake == "unscaled":
        G.backward(dz * n, cache)
    elif mistake != "no_backward":
        G.backward(dz, cache)
    if mistake == "twice":
        G.backward(dz, cache)
    if mistake == "loss_array":
        loss = -(w * np.take_along_axis(logp, y[..., None], axis=-1)[..., 0]) / n
    if mistake == "flat_dlogits":
        dz = dz.reshape(B * T, V)
    if mistake == "adam_step":
        for _, param, grad in G.named_parameters():
            param -= 1e-3 * grad
    return float(np.sum(loss)) if mistake != "loss_array" else loss, dz


def policy_gradient_per_position(G, y, Q, baseline):
    """Another right form: one position at a time, the baseline by hand, in float32 first."""
    z, cache = G.forward(y)
    B, T, V = z.shape
    dz = np.zeros(z.shape)
    loss = 0.0
    for t in range(T):
        b = Q[:, t].sum() / B if baseline == "mean" else 0.0
        zt = z[:, t]
        p = np.exp(zt - zt.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        for n in range(B):
            a = Q[n, t] - b
            loss -= a * np.log(p[n, y[n, t]]) / (B * T)
            g = p[n].copy()
            g[y[n, t]] -= 1.0
            dz[n, t] = a * g / (B * T)
    G.backward(dz, cache)
    return loss, dz


def policy_gradient_float32(G, y, Q, baseline):
    """A right answer computed in float32 (a learner's accident): not a wrong answer."""
    loss, dz = policy_gradient(G, y, Q, baseline, mistake="no_backward")
    G2 = G                          # backpropagate the float32 gradient
    z, cache = G2.forward(y)
    dz32 = dz.astype(np.float32)
    G2.backward(dz32.astype(np.float64), cache)
    return np.float32(loss), dz32


def policy_gradient_by_library(G, y, Q, baseline):
    w = Q - Q.mean(axis=0) if baseline == "mean" else Q
    loss = G.loss_and_backward(y, weights=w)
    return loss, np.zeros(G.forward(y)[0].shape)


def test_policy_gradient_reference_is_the_written_out_formula():
    """The check's own mistake machinery, with no mistake, is SeqGAN.pg_loss_and_backward."""
    rng = np.random.default_rng(5)
    for baseline, grammar in (("none", False), ("mean", True)):
        gan, G, y, Q = ex._pg_case(rng, 3, 6, 18, 1, baseline, grammar)
        loss, dz = ex._pg_parts(gan.G, y, Q, baseline)
        loss_ref, dz_ref, after, before = ex._pg_reference(gan, y, Q)
        assert abs(loss - loss_ref) < 1e-12 and np.allclose(dz, dz_ref, rtol=1e-12, atol=1e-15)
        assert any(not np.allclose(after[k], before[k]) for k in after)
        # the learner's G is a separate copy in the same state
        assert all(p is not q for (_, p, _), (_, q, _) in zip(G.named_parameters(),
                                                               gan.G.named_parameters()))
        z1, z2 = G.forward(y)[0], gan.G.forward(y)[0]
        assert np.array_equal(z1, z2)
    if grammar:
        assert np.any(y == 0) and np.any(y == 2)                 # padding and EOS present


def test_every_known_policy_gradient_mistake_differs_from_the_answer():
    rng = np.random.default_rng(6)
    for B, T, baseline in ((4, 4, "mean"), (3, 6, "none")):
        gan, _, y, Q = ex._pg_case(rng, B, T, 18, 1, baseline, True)
        right = ex._pg_parts(gan.G, y, Q, baseline)
        for m in ex._PG_HINTS:
            wrong = ex._pg_parts(gan.G, y, Q, baseline, m, pad=0)
            if wrong is None:
                continue
            assert not (np.isclose(wrong[0], right[0]) and np.allclose(wrong[1], right[1])), m


# --- 10.3 --------------------------------------------------------------------------------------

def wasserstein_1d(u, v, *, mistake=None):
    """Learner-style W1 through the empirical CDFs (works for any sizes)."""
    if mistake in ("unsorted", "squared", "w2", "abs_outside", "sum", "pair_sorted"):
        su, sv = (u, v) if mistake == "unsorted" else (np.sort(u), np.sort(v))
        d = su - sv                      # raises for different sizes
        return {"unsorted": np.mean(np.abs(d)), "squared": np.mean(d ** 2),
                "w2": np.sqrt(np.mean(d ** 2)), "abs_outside": abs(np.mean(d)),
                "sum": np.sum(np.abs(d)), "pair_sorted": np.mean(np.abs(d))}[mistake]
    if mistake == "truncate":
        k = min(len(u), len(v))
        return np.mean(np.abs(np.sort(u)[:k] - np.sort(v)[:k]))
    if mistake == "means":
        return abs(np.mean(u) - np.mean(v))
    if mistake == "in_place":
        u.sort()
        v.sort()
    z = np.sort(np.concatenate([u, v]))
    Fu = np.searchsorted(np.sort(u), z[:-1], side="right") / len(u)
    Fv = np.searchsorted(np.sort(v), z[:-1], side="right") / len(v)
    return float(np.sum(np.abs(Fu - Fv) * np.diff(z)))


def wasserstein_1d_quantiles(u, v):
    """Another right form: the integral of |F_u⁻¹(q) − F_v⁻¹(q)| over q, on the merged steps."""
    su, sv = np.sort(u), np.sort(v)
    n, m = len(su), len(sv)
    qs = np.union1d(np.arange(1, n + 1) / n, np.arange(1, m + 1) / m)
    lo = np.concatenate([[0.0], qs[:-1]])
    mid = 0.5 * (lo + qs)
    iu = np.minimum((mid * n).astype(int), n - 1)
    iv = np.minimum((mid * m).astype(int), m - 1)
    return float(np.sum(np.abs(su[iu] - sv[iv]) * (qs - lo)))


def test_library_w1_against_a_brute_force_for_equal_sizes():
    rng = np.random.default_rng(3)
    u, v = rng.normal(size=20), rng.normal(1, 2, size=20)
    assert abs(library_w1(u, v) - np.mean(np.abs(np.sort(u) - np.sort(v)))) < 1e-12
    u2 = rng.normal(size=7)
    assert abs(library_w1(u2, v) - wasserstein_1d_quantiles(u2, v)) < 1e-12


CORRECT = [
    (ex.check_rollout_rewards, rollout_rewards),
    (ex.check_rollout_rewards, rollout_rewards_all_at_once),
    (ex.check_rollout_rewards, rollout_rewards_looped),
    (ex.check_policy_gradient, policy_gradient),
    (ex.check_policy_gradient, policy_gradient_per_position),
    (ex.check_policy_gradient, policy_gradient_float32),
    (ex.check_wasserstein_1d, wasserstein_1d),
    (ex.check_wasserstein_1d, wasserstein_1d_quantiles),
]


(test_check_accepts_correct_answer, test_every_check_is_covered,
 test_not_implemented_propagates_unchanged) = check_tests(ex, CORRECT)


def test_the_completer_keeps_the_prefix_and_is_deterministic():
    c = ex._Completer(V=5, T=6, salt=0)
    prefix = np.array([[1, 2], [3, 4]])
    a, b = c(prefix, 3), c(prefix, 3)
    assert a.shape == (6, 6) and np.array_equal(a, b)
    assert np.array_equal(a[:3, :2], np.repeat(prefix[:1], 3, axis=0))
    assert np.array_equal(a[3:, :2], np.repeat(prefix[1:], 3, axis=0))
    assert len({tuple(r) for r in a[:3]}) > 1, "the rollouts of one prefix must differ"


def test_every_known_rollout_mistake_differs_from_the_answer():
    rng = np.random.default_rng(0)
    B, T, V, n = 4, 6, 5, 4
    y = rng.integers(0, V, (B, T))
    score, complete = ex._Scorer(rng, V, T), ex._Completer(V, T, 0)
    right = ex._rollout_reference(y, score, complete, n)
    for m in ex._ROLLOUT_HINTS:
        wrong = ex._rollout_reference(y, score, complete, n, m)
        assert wrong is not None and not np.allclose(wrong, right), m


# --- wrong answers, with the hint each must produce ----------------------------------------

def _rr(m):
    def f(y, score, complete, n_rollouts):
        return rollout_rewards(y, score, complete, n_rollouts, mistake=m)
    return f


def _w1(m):
    def f(u, v):
        return wasserstein_1d(u, v, mistake=m)
    return f


def _pg(m):
    def f(G, y, Q, baseline):
        return policy_gradient(G, y, Q, baseline, mistake=m)
    return f


def _pg_in_place(G, y, Q, baseline):
    if baseline == "mean":
        Q -= Q.mean(axis=0)
    return policy_gradient(G, y, Q, "none")


def _writes_into_y(y, score, complete, n_rollouts):
    Q = rollout_rewards(y, score, complete, n_rollouts)
    y[:, -1] = 0
    return Q


WRONG = {
    # 10.1
    "rollouts: prefix without y_t": (ex.check_rollout_rewards, _rr("prefix_short"), r"INCLUDING"),
    "rollouts: prefix with y_(t+1)": (ex.check_rollout_rewards, _rr("prefix_long"), r"y\[:, :t \+ 1\]"),
    "rollouts: column shifted": (ex.check_rollout_rewards, _rr("column_shift"), r"column t − 1"),
    "rollouts: last column left empty": (ex.check_rollout_rewards, _rr("no_last"), r"last column"),
    "rollouts: rollouts at t = T": (ex.check_rollout_rewards, _rr("last_rollout"),
                                    r"already complete"),
    "rollouts: np.tile order assumed": (ex.check_rollout_rewards, _rr("axis_tile"),
                                        r"np\.repeat's order"),
    "rollouts: mean over the sequences": (ex.check_rollout_rewards, _rr("axis_rollouts"),
                                          r"wrong axis"),
    "rollouts: one rollout only": (ex.check_rollout_rewards, _rr("one_rollout"), r"MEAN"),
    "rollouts: D(y) everywhere": (ex.check_rollout_rewards, _rr("final_everywhere"),
                                  r"rewards-to-go"),
    "rollouts: one mean for the whole batch": (ex.check_rollout_rewards, _rr("unshaped"),
                                               r"every sequence of\s+the batch the same value"),
    "rollouts: T − 1 columns": (ex.check_rollout_rewards, _rr("drop_last_column"),
                                r"all T columns"),
    "rollouts: writes into y": (ex.check_rollout_rewards, _writes_into_y,
                                r"changed its argument `y`"),
    "rollouts: returns None": (ex.check_rollout_rewards, lambda *a: None, r"forget a `return`"),
    # 10.2
    "pg: wrong sign": (ex.check_policy_gradient, _pg("sign"), r"MINUS the weighted"),
    "pg: D(y) at every step": (ex.check_policy_gradient, _pg("final_everywhere"),
                               r"without rewards-to-go"),
    "pg: summed over the batch": (ex.check_policy_gradient, _pg("sum_batch"),
                                  r"a mean over the batch too"),
    "pg: summed over time": (ex.check_policy_gradient, _pg("sum_time"),
                             r"sums over the\s+T positions"),
    "pg: summed over everything": (ex.check_policy_gradient, _pg("sum_all"), r"not a sum"),
    "pg: no baseline where asked": (ex.check_policy_gradient, _pg("no_baseline"),
                                    r"baseline='mean' asks"),
    "pg: a baseline where none is asked": (ex.check_policy_gradient, _pg("baseline_not_asked"),
                                           r"baseline='none'"),
    "pg: baseline over time": (ex.check_policy_gradient, _pg("baseline_time"),
                               r"mean over the BATCH at each position"),
    "pg: baseline over time, no keepdims": (ex.check_policy_gradient, _pg("baseline_time_T"),
                                            r"here B = T, so the shapes fit"),
    "pg: one baseline for all of Q": (ex.check_policy_gradient, _pg("baseline_all"),
                                      r"per position"),
    "pg: baseline added": (ex.check_policy_gradient, _pg("baseline_added"), r"is subtracted"),
    "pg: one-hot forgotten": (ex.check_policy_gradient, _pg("no_onehot"),
                              r"forgot the one-hot"),
    "pg: softmax forgotten": (ex.check_policy_gradient, _pg("no_softmax"),
                              r"−softmax\(z\) that comes from the normaliser"),
    "pg: the argmax token": (ex.check_policy_gradient, _pg("argmax"), r"SAMPLED token"),
    "pg: teacher forcing twice": (ex.check_policy_gradient, _pg("shifted"),
                                  r"shifts the tokens twice"),
    "pg: padding masked out": (ex.check_policy_gradient, _pg("mask_pad"),
                               r"padding included"),
    "pg: padding masked out, mean over the sentence tokens": (
        ex.check_policy_gradient, _pg("mask_pad_count"), r"padding included"),
    "pg: zero_grad inside": (ex.check_policy_gradient, _pg("zero_grad"), r"ADDED"),
    "pg: backward never called": (ex.check_policy_gradient, _pg("no_backward"),
                                  r"did not change"),
    "pg: backward twice": (ex.check_policy_gradient, _pg("twice"), r"call it once"),
    "pg: backward before the 1/BT": (ex.check_policy_gradient, _pg("unscaled"),
                                     r"before the division by B·T"),
    "pg: takes the optimiser step": (ex.check_policy_gradient, _pg("adam_step"),
                                     r"changed G's parameter"),
    "pg: a loss per position": (ex.check_policy_gradient, _pg("loss_array"), r"one number"),
    "pg: dlogits flattened": (ex.check_policy_gradient, _pg("flat_dlogits"),
                              r"the logits' shape \(B, T, V\)"),
    "pg: baseline subtracted in place": (ex.check_policy_gradient, _pg_in_place,
                                         r"changed its argument `Q`"),
    "pg: calls the language model's weighted loss": (
        ex.check_policy_gradient, policy_gradient_by_library,
        r"calls minigan's LanguageModel\.loss_and_backward"),
    # 10.3
    "w1: unsorted": (ex.check_wasserstein_1d, _w1("unsorted"), r"sort both samples first"),
    "w1: squared": (ex.check_wasserstein_1d, _w1("squared"), r"W2²"),
    "w1: W2": (ex.check_wasserstein_1d, _w1("w2"), r"that is W2"),
    "w1: abs outside the mean": (ex.check_wasserstein_1d, _w1("abs_outside"),
                                 r"absolute value of each difference|lower bound"),
    "w1: sum": (ex.check_wasserstein_1d, _w1("sum"), r"a mean, not a sum"),
    "w1: different sizes not handled": (ex.check_wasserstein_1d, _w1("pair_sorted"),
                                        r"raised ValueError(.|\n)*different sizes"),
    "w1: truncated to the shorter sample": (ex.check_wasserstein_1d, _w1("truncate"),
                                            r"cutting the longer sample"),
    "w1: difference of the means": (ex.check_wasserstein_1d, _w1("means"), r"lower bound"),
    "w1: sorts in place": (ex.check_wasserstein_1d, _w1("in_place"), r"changed its argument `u`"),
    "w1: returns an array": (ex.check_wasserstein_1d,
                             lambda u, v: np.abs(np.sort(u) - np.sort(v)), r"one number"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_check_rejects_wrong_answer_with_hint(name):
    check, fn, hint = WRONG[name]
    with np.errstate(all="ignore"):
        with pytest.raises(ExerciseError, match=hint):
            check(fn)


@pytest.mark.parametrize("mistake", list(ex._ROLLOUT_HINTS))
def test_rollout_check_names_every_known_mistake(mistake):
    def fn(y, score, complete, n_rollouts):
        Q = ex._rollout_reference(y, score, complete, n_rollouts, mistake)
        if Q is None:            # this mistake needs B = n: elsewhere, answer right
            Q = ex._rollout_reference(y, score, complete, n_rollouts)
        return Q
    with pytest.raises(ExerciseError) as info:
        ex.check_rollout_rewards(fn)
    assert ex._ROLLOUT_HINTS[mistake] in str(info.value)


@pytest.mark.parametrize("mistake", list(ex._PG_HINTS))
def test_policy_gradient_check_names_every_known_mistake(mistake):
    def fn(G, y, Q, baseline):
        out = ex._pg_parts(G, y, Q, baseline, mistake, pad=0)
        if out is None:           # this mistake cannot happen in this case: answer right
            out = ex._pg_parts(G, y, Q, baseline)
        z, cache = G.forward(y)
        G.backward(out[1], cache)
        return out
    with pytest.raises(ExerciseError) as info:
        ex.check_policy_gradient(fn)
    assert ex._PG_HINTS[mistake] in str(info.value)


def test_the_policy_gradient_check_leaves_the_library_whole():
    from minigan.gans.seqgan import SeqGAN
    from minigan.lm import LanguageModel
    before = (SeqGAN.pg_loss_and_backward, LanguageModel.loss_and_backward,
              LanguageModel.backward)
    with pytest.raises(ExerciseError):
        ex.check_policy_gradient(policy_gradient_by_library)
    ex.check_policy_gradient(policy_gradient)
    assert (SeqGAN.pg_loss_and_backward, LanguageModel.loss_and_backward,
            LanguageModel.backward) == before
    assert "backward" not in vars(LanguageModel(5, 2, 2, 3))
