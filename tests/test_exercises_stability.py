"""The checks of chapter 8's exercises accept correct answers and reject plausible wrong ones,
each with the hint that names the mistake."""
import numpy as np
import pytest

from minigan.exercises import ch08_stability as ex
from minigan.exercises import ExerciseError
from minigan.evaluation.metrics import mode_metrics
from minigan.nn.spectral import power_iteration as minigan_power_iteration

from exercise_helpers import check_tests


def _unit(a):
    return a / np.linalg.norm(a)


# --- correct answers ---------------------------------------------------------------------

def power_iteration(W, u, n_iter):
    for _ in range(n_iter):
        v = _unit(W.T @ u)
        u = _unit(W @ v)
    return float(u @ W @ v), u, v


def power_iteration_norm_of_wv(W, u, n_iter):
    # σ = ‖Wv‖ before normalising u: the same number as uᵀWv with the new u
    for _ in range(n_iter):
        v = _unit(u @ W)                          # u @ W = Wᵀu
        wv = W @ v
        sigma = np.linalg.norm(wv)
        u = wv / sigma
    return sigma, u, v


def pack(x, m):
    N, D = x.shape
    if N % m:
        raise ValueError("N must be a multiple of m")
    return x.reshape(N // m, m * D)


def pack_loop(x, m):
    if len(x) % m:
        raise ValueError("N must be a multiple of m")
    return np.stack([np.concatenate(list(x[k:k + m])) for k in range(0, len(x), m)])


def reverse_kl_modes(counts):
    c = np.asarray(counts, dtype=np.float64)
    if c.sum() == 0:
        return float("inf")
    q = c[c > 0] / c.sum()
    return float(np.sum(q * np.log(q * len(c))))


def reverse_kl_modes_entropy(counts):
    # log K − H(q): the same quantity, another way
    c = np.asarray(counts, dtype=np.float64)
    if not c.any():
        return np.inf
    q = c / c.sum()
    return np.log(len(c)) + np.sum(np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0))


def spectral_norm_linear(x, W, b, u, dy, *, bad=None):
    """The right answer, or (bad=...) one plausible mistake."""
    if bad == "power step":                               # training mode: u updated first
        u = _unit(W @ _unit(W.T @ u))
    v = W.T @ u if bad == "v not unit" else _unit(W.T @ u)
    sigma = {"svd": lambda: np.linalg.svd(W, compute_uv=False)[0],
             "frobenius": lambda: np.linalg.norm(W)}.get(bad, lambda: float(u @ W @ v))()
    W_sn = W / sigma
    y = x @ (W if bad == "y with W" else W_sn).T + b
    dx = dy @ (W if bad == "dx with W" else W_sn)
    G = dy.T @ x
    inner = np.sum(G * (W if bad == "<G, W>" else W_sn))
    uv = np.outer(v, u).T if bad == "v u" else np.outer(u, v)
    dW = {"no second term": lambda: G / sigma, "G": lambda: G,
          "plus": lambda: (G + inner * uv) / sigma, "no division": lambda: G - inner * uv,
          "transposed": lambda: ((G - inner * uv) / sigma).T,
          "v u": lambda: (G - inner * np.outer(v, u)) / sigma}.get(
        bad, lambda: (G - inner * uv) / sigma)()
    db = dy.mean(0) if bad == "db mean" else dy.sum(0)
    return y, dx, dW, db


def spectral_norm_linear_power_iteration(x, W, b, u, dy):
    """With chapter 8's power_iteration (exercise 8.1, minigan's answer allowed) at n_iter = 0."""
    sigma, u, v = minigan_power_iteration(W, u, 0)
    W_sn = W / sigma
    G = dy.T @ x
    return x @ W_sn.T + b, dy @ W_sn, (G - np.vdot(G, W_sn) * u[:, None] * v[None, :]) / sigma, \
        dy.sum(axis=0)


def spectral_norm_linear_float32(x, W, b, u, dy):          # float32 by accident: still right
    return spectral_norm_linear(*(a.astype(np.float32) for a in (x, W, b, u, dy)))


def _sn(bad):
    return lambda x, W, b, u, dy: spectral_norm_linear(x, W, b, u, dy, bad=bad)


CORRECT = [
    (ex.check_power_iteration, power_iteration),
    (ex.check_power_iteration, power_iteration_norm_of_wv),
    (ex.check_pack, pack),
    (ex.check_pack, pack_loop),
    (ex.check_reverse_kl_modes, reverse_kl_modes),
    (ex.check_reverse_kl_modes, reverse_kl_modes_entropy),
    (ex.check_spectral_norm_linear, spectral_norm_linear),
    (ex.check_spectral_norm_linear, spectral_norm_linear_power_iteration),
    (ex.check_spectral_norm_linear, spectral_norm_linear_float32),
]


(test_check_accepts_correct_answer, test_every_check_is_covered,
 test_not_implemented_propagates_unchanged) = check_tests(ex, CORRECT)


# --- the checks' references are the library's --------------------------------------------

def test_reference_power_iteration_converges_to_the_svd():
    r = np.random.default_rng(0)
    W, u = r.standard_normal((9, 4)), r.standard_normal(9)
    sigma, u1, v1 = ex._reference_power_iteration(W, u, 300)
    assert abs(sigma - np.linalg.svd(W, compute_uv=False)[0]) < 1e-9
    assert np.allclose(W @ v1, sigma * u1)
    assert sigma == pytest.approx(float(minigan_power_iteration(W, u, 300)[0]), abs=0)


def test_reference_pack_is_a_row_major_reshape():
    x = np.arange(24.0).reshape(8, 3)
    assert np.array_equal(ex._reference_pack(x, 2), x.reshape(4, 6))
    assert np.array_equal(ex._reference_pack(x, 2)[1], np.r_[x[2], x[3]])


@pytest.mark.parametrize("counts", [[5, 0, 3, 0, 0, 1, 1, 0], [1, 1, 1, 1], [0, 7, 0], [3, 1, 4, 1, 5]])
def test_reference_reverse_kl_is_mode_metrics(counts):
    # samples placed exactly at the centres, counts[k] of them at centre k
    centers = np.stack([np.arange(len(counts)), np.zeros(len(counts))], axis=1).astype(float)
    samples = np.repeat(centers, counts, axis=0)
    assert ex._reference_reverse_kl(np.array(counts)) == pytest.approx(
        mode_metrics(samples, centers, 0.01)["reverse_kl"], abs=1e-12)


def test_reference_spectral_norm_is_exact():
    # in evaluation mode the formula is the exact gradient: finite differences agree
    from minigan.gradcheck import numerical_gradient, rel_error
    for _, x, W, b, u, dy in ex._spectral_cases(np.random.default_rng(1)):
        W = W.copy()
        y, dx, dW, db = ex._spectral_reference(x, W, b, u, dy)
        np.testing.assert_allclose(y, spectral_norm_linear(x, W, b, u, dy)[0], rtol=1e-12)
        loss = lambda: float(np.sum(dy * ex._spectral_reference(x, W, b, u, dy)[0]))
        assert rel_error(numerical_gradient(loss, W), dW) < 1e-7


def test_reference_reverse_kl_of_nothing_is_inf():
    assert ex._reference_reverse_kl(np.zeros(8)) == np.inf


# --- wrong answers, with the hint each must produce ----------------------------------------

def _power(step_v, step_u, n_of=lambda n: n, sigma_fn=None, out=None):
    def f(W, u, n_iter):
        u_before, v = u, None
        for _ in range(n_of(n_iter)):
            u_before = u
            v = step_v(W, u)
            u = step_u(W, v)
        sigma = float(u @ W @ v) if sigma_fn is None else float(sigma_fn(W, u, v, u_before))
        return (sigma, u, v) if out is None else out(W, sigma, u, v)
    return f


def _norm_v(W, u):
    return _unit(W.T @ u)


def _norm_u(W, v):
    return _unit(W @ v)


def _power_writes_into_u(W, u, n_iter):
    for _ in range(n_iter):
        v = _unit(W.T @ u)
        u[...] = _unit(W @ v)                      # the caller's u, overwritten
    return float(u @ W @ v), u, v


def _power_svd(W, u, n_iter):
    U, s, Vt = np.linalg.svd(W)
    return s[0], U[:, 0], Vt[0]


def _power_unit_sigma_unnormalised_u(W, u, n_iter):
    for _ in range(n_iter):
        v = _unit(W.T @ u)
        wv = W @ v
        u = wv / np.linalg.norm(wv)
    return float(u @ W @ v), W @ v, v              # returns Wv, not u


def _power_flipped(W, u, n_iter):
    sigma, u, v = power_iteration(W, u, n_iter)
    return sigma, -u, -v


def _power_extra_v(W, u, n_iter):
    sigma, u, v = power_iteration(W, u, n_iter)
    v = _unit(W.T @ u)                             # one more v
    return float(u @ W @ v), u, v


def _pack_interleaved(x, m):
    N, D = x.shape
    return x.reshape(m, N // m, D).transpose(1, 0, 2).reshape(N // m, m * D)


def _pack_halves(x, m):
    N = len(x)
    return np.concatenate([x[i * N // m:(i + 1) * N // m] for i in range(m)], axis=1)


def _pack_features_interleaved(x, m):
    N, D = x.shape
    return x.reshape(N // m, m, D).transpose(0, 2, 1).reshape(N // m, m * D)


def _pack_drops_remainder(x, m):
    N, D = x.shape
    return x[:N - N % m].reshape(-1, m * D)


def _pack_assert(x, m):
    assert len(x) % m == 0
    return pack(x, m)


def _pack_writes_into_x(x, m):
    out = pack(x.copy(), m)
    x[:] = 0
    return out


def _sn_by_library(x, W, b, u, dy):
    from minigan.nn import Linear, SpectralNorm
    layer = SpectralNorm(Linear(W.shape[1], W.shape[0], dtype="float64")).eval()
    layer.params["weight"][...] = W
    layer.u[...] = u
    y, cache = layer.forward(x)
    return y, layer.backward(dy, cache), layer.grads["weight"], dy.sum(0)


def _rkl(fn):
    """A reverse-KL variant from q (normalised counts), K; inf for an empty histogram."""
    def f(counts):
        c = np.asarray(counts, dtype=np.float64)
        if c.sum() == 0:
            return float("inf")
        return float(fn(c / c.sum(), len(c), c))
    return f


def _rkl_nan(counts):
    q = np.asarray(counts, dtype=np.float64) / np.sum(counts)
    return float(np.sum(q * np.log(q * len(q))))   # 0 · log 0 = nan


def _rkl_zero_for_nothing(counts):
    with np.errstate(all="ignore"):
        q = np.asarray(counts, dtype=np.float64) / np.sum(counts)
    q = q[q > 0]
    return float(np.sum(q * np.log(q * len(counts))))   # all zeros: an empty sum, 0.0


def _rkl_zero_division(counts):
    total = int(np.sum(counts))
    q = [int(c) / total for c in counts]            # plain Python: ZeroDivisionError
    return float(sum(qk * np.log(qk * len(q)) for qk in q if qk > 0))


WRONG = {
    # 8.1
    "power: no normalisation": (
        ex.check_power_iteration, _power(lambda W, u: W.T @ u, lambda W, v: W @ v), r"must be unit vectors"),
    "power: v not normalised": (
        ex.check_power_iteration, _power(lambda W, u: W.T @ u, _norm_u), r"v must be a unit vector too"),
    "power: u not normalised": (
        ex.check_power_iteration, _power(_norm_v, lambda W, v: W @ v), r"u must be a unit vector too"),
    "power: σ with the u before the last update": (
        ex.check_power_iteration, _power(_norm_v, _norm_u, sigma_fn=lambda W, u, v, ub: ub @ W @ v),
        r"u of the LAST step"),
    "power: σ = ‖Wᵀu‖ (v updated once more)": (
        ex.check_power_iteration, _power_extra_v, r"updated v once more"),
    "power: one step too many": (
        ex.check_power_iteration, _power(_norm_v, _norm_u, n_of=lambda n: n + 1), r"you took one more"),
    "power: one step too few": (
        ex.check_power_iteration, _power(_norm_v, _norm_u, n_of=lambda n: max(n - 1, 1)), r"one fewer"),
    "power: W instead of Wᵀ for v": (
        ex.check_power_iteration, _power(lambda W, u: _unit(W @ u), _norm_u), r"TRANSPOSE of W"),
    "power: W and Wᵀ swapped": (
        ex.check_power_iteration, _power(lambda W, u: _unit(W @ u), lambda W, v: _unit(W.T @ v)),
        r"swapped W and Wᵀ"),
    "power: exact SVD": (ex.check_power_iteration, _power_svd, r"exact largest singular value"),
    "power: minigan.nn's own": (
        ex.check_power_iteration, lambda W, u, n: __import__("minigan").nn.power_iteration(W, u, n),
        r"calls minigan's power_iteration"),
    "power: minigan.nn.spectral's own": (
        ex.check_power_iteration,
        lambda W, u, n: __import__("minigan.nn.spectral").nn.spectral.power_iteration(W, u, n),
        r"calls minigan's power_iteration"),
    "power: Frobenius norm": (
        ex.check_power_iteration,
        _power(_norm_v, _norm_u, sigma_fn=lambda W, u, v, ub: np.linalg.norm(W)), r"Frobenius"),
    "power: returns (sigma, v, u)": (
        ex.check_power_iteration, _power(_norm_v, _norm_u, out=lambda W, s, u, v: (s, v, u)),
        r"in that order"),
    "power: returns Wv instead of u": (
        ex.check_power_iteration, _power_unit_sigma_unnormalised_u, r"not 1"),
    "power: flipped signs": (ex.check_power_iteration, _power_flipped, r"wrong sign"),
    "power: writes into u": (ex.check_power_iteration, _power_writes_into_u, r"changed its argument `u`"),
    "power: returns sigma only": (
        ex.check_power_iteration, _power(_norm_v, _norm_u, out=lambda W, s, u, v: s), r"should return a tuple"),
    # 8.2
    "pack: interleaved (samples N/m apart)": (ex.check_pack, _pack_interleaved, r"CONSECUTIVE"),
    "pack: the halves side by side": (ex.check_pack, _pack_halves, r"CONSECUTIVE"),
    "pack: features interleaved": (ex.check_pack, _pack_features_interleaved, r"interleaves their features"),
    "pack: reshape of the transpose, transposed back": (
        ex.check_pack, lambda x, m: x.T.reshape(m * x.shape[1], len(x) // m).T, r"reshape x itself"),
    "pack: reshape of the transpose": (
        ex.check_pack, lambda x, m: x.T.reshape(len(x) // m, m * x.shape[1]), r"reshape x itself"),
    "pack: one row per pack position": (ex.check_pack, lambda x, m: x.reshape(m, -1), r"one ROW per pack"),
    "pack: not flattened": (
        ex.check_pack, lambda x, m: x.reshape(len(x) // m, m, x.shape[1]), r"flatten each pack"),
    "pack: drops the remainder": (ex.check_pack, _pack_drops_remainder, r"instead of raising a ValueError"),
    "pack: an assert": (ex.check_pack, _pack_assert, r"(?s)raised AssertionError.*raise a ValueError"),
    "pack: writes into x": (ex.check_pack, _pack_writes_into_x, r"changed its argument `x`"),
    "pack: returns nothing": (ex.check_pack, lambda x, m: None, r"forget a `return`"),
    # 8.4
    "sn: the second term of dW missing": (ex.check_spectral_norm_linear, _sn("no second term"),
                                          r"second term is missing"),
    "sn: dW = G": (ex.check_spectral_norm_linear, _sn("G"), r"gradient with respect to W_sn"),
    "sn: <G, W> instead of <G, W_sn>": (ex.check_spectral_norm_linear, _sn("<G, W>"),
                                        r"⟨G, W_sn⟩ = ⟨G, W⟩/σ"),
    "sn: the second term added": (ex.check_spectral_norm_linear, _sn("plus"), r"SUBTRACTED"),
    "sn: dW not divided by sigma": (ex.check_spectral_norm_linear, _sn("no division"),
                                    r"divide the whole by σ"),
    "sn: v u^T (square W)": (ex.check_spectral_norm_linear, _sn("v u"), r"np.outer\(u, v\)|shapes"),
    "sn: dW transposed": (ex.check_spectral_norm_linear, _sn("transposed"), r"transposed"),
    "sn: y with W": (ex.check_spectral_norm_linear, _sn("y with W"), r"normalised weight"),
    "sn: dx with W": (ex.check_spectral_norm_linear, _sn("dx with W"), r"not dy W"),
    "sn: sigma from the SVD": (ex.check_spectral_norm_linear, _sn("svd"), r"not the exact largest"),
    "sn: sigma = Frobenius norm": (ex.check_spectral_norm_linear, _sn("frobenius"), r"Frobenius"),
    "sn: a power step first": (ex.check_spectral_norm_linear, _sn("power step"), r"NO power step"),
    "sn: v not normalised": (ex.check_spectral_norm_linear, _sn("v not unit"),
                             r"v must be a unit vector"),
    "sn: db mean": (ex.check_spectral_norm_linear, _sn("db mean"), r"not the mean"),
    "sn: writes into u": (ex.check_spectral_norm_linear,
                          lambda x, W, b, u, dy: (spectral_norm_linear(x, W, b, u, dy), u.fill(1))[0],
                          r"changed its argument `u`"),
    "sn: SpectralNorm itself": (ex.check_spectral_norm_linear, _sn_by_library,
                                r"calls minigan's SpectralNorm.forward"),
    # 8.3
    "rkl: forward KL": (
        ex.check_reverse_kl_modes, _rkl(lambda q, K, c: np.sum((1 / K) * np.log((1 / K) / q))),
        r"forward KL"),
    "rkl: forward KL over the non-empty modes": (
        ex.check_reverse_kl_modes,
        _rkl(lambda q, K, c: np.sum((1 / K) * np.log((1 / K) / q[q > 0]))), r"forward direction"),
    "rkl: 0 log 0 = nan": (ex.check_reverse_kl_modes, _rkl_nan, r"0·log 0 counts as 0"),
    "rkl: counts not normalised": (
        ex.check_reverse_kl_modes, _rkl(lambda q, K, c: np.sum(c[c > 0] * np.log(c[c > 0] * K))),
        r"normalise the counts"),
    "rkl: uniform over the non-empty modes": (
        ex.check_reverse_kl_modes,
        _rkl(lambda q, K, c: np.sum(q[q > 0] * np.log(q[q > 0] * np.count_nonzero(q)))), r"ALL K modes"),
    "rkl: log base 2": (
        ex.check_reverse_kl_modes, _rkl(lambda q, K, c: np.sum(q[q > 0] * np.log2(q[q > 0] * K))),
        r"natural logarithm"),
    "rkl: log base 10": (
        ex.check_reverse_kl_modes, _rkl(lambda q, K, c: np.sum(q[q > 0] * np.log10(q[q > 0] * K))),
        r"natural logarithm"),
    "rkl: the entropy": (
        ex.check_reverse_kl_modes, _rkl(lambda q, K, c: -np.sum(q[q > 0] * np.log(q[q > 0]))), r"entropy"),
    "rkl: wrong sign": (
        ex.check_reverse_kl_modes, _rkl(lambda q, K, c: np.sum(q[q > 0] * np.log(1 / (q[q > 0] * K)))),
        r"wrong sign"),
    "rkl: always log K": (ex.check_reverse_kl_modes, _rkl(lambda q, K, c: np.log(K)), r"log K is the value"),
    "rkl: 0 instead of inf for no samples": (ex.check_reverse_kl_modes, _rkl_zero_for_nothing, r"expected inf"),
    "rkl: ZeroDivisionError for no samples": (
        ex.check_reverse_kl_modes, _rkl_zero_division, r"(?s)raised ZeroDivisionError.*float\('inf'\)"),
    "rkl: an array per mode": (
        ex.check_reverse_kl_modes, lambda c: np.asarray(c, float) / max(np.sum(c), 1), r"return one number"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_check_rejects_wrong_answer_with_hint(name):
    check, fn, hint = WRONG[name]
    with np.errstate(all="ignore"):
        with pytest.raises(ExerciseError, match=hint):
            check(fn)
