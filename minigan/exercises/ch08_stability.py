"""Checks for the exercises of chapter 8 (stable training and evaluation), in the manner of
:mod:`minigan.exercises`.

Each ``check_*`` runs the learner's function on several cases, compares it with minigan's own
answer, and either prints one pass line or raises :class:`~minigan.exercises.ExerciseError`
saying which case is wrong and, where the wrong answer looks like a known mistake, a hint.
``NotImplementedError`` raised by an unfinished exercise propagates unchanged.

=====================================  ==========  ==============================================
check                                  exercise    the learner writes
=====================================  ==========  ==============================================
check_power_iteration                  8.1         power_iteration(W, u, n_iter) -> (sigma, u, v)
check_pack                             8.2         pack(x, m) -> (N/m, m·D)
check_reverse_kl_modes                 8.3         reverse_kl_modes(counts) -> float
check_spectral_norm_linear             8.4         spectral_norm_linear(x, W, b, u, dy)
                                                   -> (y, dx, dW, db)
=====================================  ==========  ==============================================
"""
from __future__ import annotations

import numpy as np

from .checker import by_hand, ExerciseError, _call, _compare, _name, _passed, _quiet, _unpack

__all__ = ["check_power_iteration", "check_pack", "check_reverse_kl_modes",
           "check_spectral_norm_linear"]


# --------------------------------------------------------------------------------------
# Exercise 8.1: power iteration
# --------------------------------------------------------------------------------------

def _unit(a):
    return a / np.linalg.norm(a)


def _reference_power_iteration(W, u, n_iter):
    """minigan's own (the one SpectralNorm uses), in float64."""
    from ..nn.spectral import power_iteration
    sigma, u, v = power_iteration(np.asarray(W, np.float64), np.asarray(u, np.float64), n_iter)
    return float(sigma), np.asarray(u), np.asarray(v)


def _power_iteration_mistakes(W, u0, n):
    """(sigma, hint) pairs: the σ that known mistakes give on this case."""
    out = []

    def run(step_v, step_u, steps, sigma_fn=None):
        u, v = u0.copy(), None
        u_before = u
        for _ in range(steps):
            u_before = u
            v = step_v(u)
            u = step_u(v)
        if sigma_fn is None:
            return float(u @ W @ v)
        return float(sigma_fn(u, v, u_before))

    out.append((run(lambda u: W.T @ u, lambda v: W @ v, n),
                "v and u must be unit vectors: divide each by its norm right after the matrix-"
                "vector product (v = Wᵀu/‖Wᵀu‖, u = Wv/‖Wv‖); without that σ = uᵀWv grows with "
                "every step."))
    out.append((run(lambda u: W.T @ u, lambda v: _unit(W @ v), n),
                "v must be a unit vector too: v = Wᵀu / ‖Wᵀu‖."))
    out.append((run(lambda u: _unit(W.T @ u), lambda v: W @ v, n),
                "u must be a unit vector too: u = Wv / ‖Wv‖ (with an unnormalised u, uᵀWv = ‖Wv‖²)."))
    out.append((run(lambda u: _unit(W.T @ u), lambda v: _unit(W @ v), n,
                    lambda u, v, u_before: u_before @ W @ v),
                "σ = uᵀWv with the u of the LAST step: compute σ after updating u (you used the u "
                "from before the last update)."))
    out.append((run(lambda u: _unit(W.T @ u), lambda v: _unit(W @ v), n,
                    lambda u, v, u_before: np.linalg.norm(W.T @ u)),
                "one step is v then u, and σ = uᵀWv with the v of that step; you updated v once "
                "more after the last u (σ = ‖Wᵀu‖)."))
    out.append((run(lambda u: _unit(W.T @ u), lambda v: _unit(W @ v), n + 1),
                f"exactly n_iter = {n} steps (each: v, then u); you took one more."))
    if n > 1:
        out.append((run(lambda u: _unit(W.T @ u), lambda v: _unit(W @ v), n - 1),
                    f"exactly n_iter = {n} steps (each: v, then u); you took one fewer."))
    out.append((float(np.linalg.svd(W, compute_uv=False)[0]),
                "that is the exact largest singular value (np.linalg.svd); the exercise is the "
                "ESTIMATE after n_iter steps of power iteration from the given u, which is what "
                "SpectralNorm uses (one step per training step)."))
    out.append((float(np.linalg.norm(W)),
                "that is the Frobenius norm ‖W‖_F = √(Σ W²), an upper bound of σ; σ = uᵀWv."))
    if W.shape[0] == W.shape[1]:
        out.append((run(lambda u: _unit(W @ u), lambda v: _unit(W @ v), n),
                    "v = Wᵀu / ‖Wᵀu‖ uses the TRANSPOSE of W (for a square W, W u has the right "
                    "shape but is the wrong vector)."))
        out.append((run(lambda u: _unit(W @ u), lambda v: _unit(W.T @ v), n),
                    "v = Wᵀu / ‖Wᵀu‖ and u = Wv / ‖Wv‖: you swapped W and Wᵀ (that is power "
                    "iteration on Wᵀ)."))
    return out


_SHAPE_ERROR_HINT = ("v = Wᵀu has one entry per COLUMN of W (K of them), u = Wv one per ROW (M): "
                     "multiply u by W.T and v by W.")


@by_hand("8.1")
@_quiet
def check_power_iteration(power_iteration, seed=80):
    """Exercise 8.1: ``power_iteration(W, u, n_iter) -> (sigma, u, v)``: ``n_iter`` >= 1 steps
    of ``v = Wᵀu/‖Wᵀu‖, u = Wv/‖Wv‖`` from the given u (not modified), then σ = uᵀWv; u: (M,),
    v: (K,) for W: (M, K). As :func:`minigan.nn.spectral.power_iteration`.
    """
    fn = power_iteration
    rng = np.random.default_rng(seed)
    cases = [("W (6, 6) square, three steps", rng.standard_normal((6, 6)),
              0.1 * rng.standard_normal(6), 3),
             ("W (5, 3), one step", rng.standard_normal((5, 3)), 3 * rng.standard_normal(5), 1),
             ("W (3, 7), two steps", rng.standard_normal((3, 7)), rng.standard_normal(3), 2),
             ("W (4, 1), a single column, one step", rng.standard_normal((4, 1)),
              rng.standard_normal(4), 1),
             ("W (1, 5), a single row, two steps", rng.standard_normal((1, 5)),
              rng.standard_normal(1), 2),
             ("W (8, 5), 200 steps: converged", rng.standard_normal((8, 5)),
              rng.standard_normal(8), 200)]
    for case, W, u0, n in cases:
        M, K = W.shape
        out = _call(fn, {"W": W, "u": u0, "n_iter": n}, case, readonly=("W", "u"),
                    error_hint=_SHAPE_ERROR_HINT)
        if out is None:
            raise ExerciseError(f"{_name(fn)} returned None (case '{case}'): did you forget "
                                "a `return`?")
        sigma, u, v = _unpack(fn, out, ("sigma", "u", "v"), case)
        exp_sigma, exp_u, exp_v = _reference_power_iteration(W, u0, n)
        if sigma.size != 1:
            raise ExerciseError(f"{_name(fn)}: sigma should be one number, got an array of "
                                f"shape {sigma.shape} (case '{case}').")
        if M != K and u.shape == (K,) and v.shape == (M,):
            raise ExerciseError(f"{_name(fn)}: u has shape {u.shape} and v {v.shape} on the case "
                                f"'{case}' (W: {W.shape}); expected u ({M},), v ({K},).\nHint: "
                                "return (sigma, u, v) in that order: u is the left singular "
                                "vector (one entry per row of W), v the right one.")
        _compare(fn, "sigma", sigma.reshape(()), exp_sigma, case,
                 mistakes=_power_iteration_mistakes(W, u0, n))
        for what, got, expected, size in (("u", u, exp_u, M), ("v", v, exp_v, K)):
            got = got.reshape(-1) if got.size == size else got
            if got.shape == (size,) and abs(np.linalg.norm(got) - 1) > 1e-6:
                raise ExerciseError(f"{_name(fn)}: the {what} you return has norm "
                                    f"{np.linalg.norm(got):.4g}, not 1 (case '{case}').\nHint: "
                                    f"return the normalised {what}, the one σ = uᵀWv was "
                                    "computed with.")
            other = exp_v if what == "u" else exp_u
            mistakes = [(-expected, f"{what} has the wrong sign: take the {what} that power "
                                    "iteration gives, without flipping it."),
                        (other, f"that is {'v' if what == 'u' else 'u'}: return (sigma, u, v) in "
                                "that order.")]
            if what == "v":
                mistakes.append((_unit(W.T @ exp_u), "v must be the v of the last step, the one "
                                 "σ = uᵀWv uses; you updated it once more after the last u."))
            _compare(fn, what, got, expected, case, mistakes=mistakes)
    _passed(fn, f"{len(cases)} cases (tall, wide, square, one row, one column; 1 to 200 steps): "
            "σ, u and v as minigan's power_iteration, and σ → the largest singular value.")


# --------------------------------------------------------------------------------------
# Exercise 8.2: packing samples (PacGAN)
# --------------------------------------------------------------------------------------

def _reference_pack(x, m):
    """What D of GAN(pack=m) sees for a batch x (N, D)."""
    from ..gans import GAN
    model = GAN(data_shape=(x.shape[1],), latent_dim=1, hidden=2, depth=1, pack=m,
                dtype="float64", seed=0)
    return np.asarray(model._packed(x))


def _pack_mistakes(x, m):
    N, D = x.shape
    return [
        (x.reshape(m, N // m, D).transpose(1, 0, 2).reshape(N // m, m * D),
         "a pack holds m CONSECUTIVE samples, rows k·m, ..., k·m + m − 1 of x; yours puts "
         f"samples N/m = {N // m} rows apart together (a reshape to (m, N/m, D) and a "
         "transpose, or stacking the halves of the batch side by side)."),
        (x.reshape(N // m, m, D).transpose(0, 2, 1).reshape(N // m, m * D),
         "the samples of a pack sit side by side, one whole sample after the other "
         "[x_km, x_km+1, ...]; yours interleaves their features (a transpose too many)."),
        (x.T.reshape(m * D, N // m).T,
         "reshape x itself, not its transpose: NumPy's (row-major) reshape of x (N, D) to "
         "(N/m, m·D) already puts consecutive samples side by side."),
        (x.T.reshape(N // m, m * D),
         "reshape x itself, not its transpose: NumPy's (row-major) reshape of x (N, D) to "
         "(N/m, m·D) already puts consecutive samples side by side."),
    ]


@by_hand("8.2")
@_quiet
def check_pack(pack, seed=81):
    """Exercise 8.2: ``pack(x, m) -> (N/m, m·D)``: row k is the m consecutive samples
    x[k·m], ..., x[k·m + m − 1] side by side (what D of ``GAN(pack=m)`` sees); a ValueError
    when N is not a multiple of m.
    """
    fn = pack
    rng = np.random.default_rng(seed)
    cases = [("N = 6, D = 2, m = 2", rng.standard_normal((6, 2)), 2),
             ("N = 12, D = 3, m = 3", rng.standard_normal((12, 3)), 3),
             ("N = 8, D = 1, m = 4", rng.standard_normal((8, 1)), 4),
             ("N = 5, D = 2, m = 1: no packing", rng.standard_normal((5, 2)), 1),
             ("N = 4, D = 5, m = 4: a single pack", rng.standard_normal((4, 5)), 4),
             ("N = 10, D = 2, m = 5", rng.standard_normal((10, 2)), 5)]
    for case, x, m in cases:
        N, D = x.shape
        expected = _reference_pack(x, m)
        out = _call(fn, {"x": x, "m": m}, case, readonly=("x",))
        if out is None:
            raise ExerciseError(f"{_name(fn)} returned None (case '{case}'): did you forget "
                                "a `return`?")
        (got,) = _unpack(fn, out, ("the packed batch",), case)
        shape_hints = {(m, N // m * D): "one ROW per pack: shape (N/m, m·D), not (m, ...).",
                       (N // m, m, D): "flatten each pack into one row of m·D numbers: D's first "
                                       "layer takes (N/m, m·D).",
                       (m * D, N // m): "one row per pack: shape (N/m, m·D); it looks transposed."}
        _compare(fn, "the packed batch", got, expected, case,
                 mistakes=_pack_mistakes(x, m), shape_hints=shape_hints)
    x = rng.standard_normal((7, 2))
    case = "N = 7, m = 2: not a multiple"
    try:
        with np.errstate(all="ignore"):
            out = fn(x.copy(), 2)
    except NotImplementedError:
        raise
    except ValueError:
        pass
    except Exception as exc:
        raise ExerciseError(f"{_name(fn)} raised {type(exc).__name__} on the case '{case}': "
                            f"{exc}\nHint: raise a ValueError that says why (an `assert` can be "
                            "switched off with python -O, and the library raises ValueError).") from exc
    else:
        got = np.asarray(out) if out is not None else None
        what = f"an array of shape {got.shape}" if got is not None else "None"
        raise ExerciseError(f"{_name(fn)} returned {what} on the case '{case}' instead of "
                            "raising a ValueError.\nHint: when N is not a multiple of m, the "
                            "batch cannot be cut into packs; dropping or repeating samples "
                            "would silently change what D sees: raise ValueError.")
    _passed(fn, f"{len(cases)} cases (m = 1 to 5, a single pack, D = 1) as GAN(pack=m) packs, "
            "and a ValueError when N is not a multiple of m.")


# --------------------------------------------------------------------------------------
# Exercise 8.3: reverse KL of a histogram over the modes
# --------------------------------------------------------------------------------------

def _reference_reverse_kl(counts):
    """Σ_k q_k log(q_k · K), q = counts / Σ counts, 0·log 0 = 0; inf when Σ counts = 0."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    if total == 0:
        return np.inf
    q = c[c > 0] / total
    return max(float(np.sum(q * np.log(q * c.size))), 0.0)


def _reverse_kl_mistakes(counts):
    c = np.asarray(counts, dtype=np.float64)
    K, q = c.size, c / c.sum()
    pos = q > 0
    right = _reference_reverse_kl(c)
    with np.errstate(all="ignore"):
        forward = float(np.sum((1 / K) * np.log((1 / K) / q)))
        forward_nonempty = float(np.sum((1 / K) * np.log((1 / K) / q[pos])))
        return [
            (forward_nonempty, "that is the forward direction, KL(uniform ‖ q), summed over the "
             "non-empty modes; the reverse KL weighs each mode by the generator's share: "
             "Σ q_k log(q_k / (1/K))."),
            (forward, "that is KL(uniform ‖ q), the forward direction; the reverse KL weighs "
             "each mode by the generator's share: Σ q_k log(q_k / (1/K))."),
            (float(np.sum(c[c > 0] * np.log(c[c > 0] * K))),
             "normalise the counts first: q = counts / counts.sum() (a distribution sums to 1)."),
            (float(np.sum(q[pos] * np.log(q[pos] * pos.sum()))),
             "the reference distribution is uniform over ALL K modes, the empty ones included: "
             "p_k = 1/K with K = len(counts), not 1/(number of non-empty modes)."),
            (right / np.log(2), "use the natural logarithm (nats), as mode_metrics does, not log₂."),
            (right / np.log(10), "use the natural logarithm (nats), not log₁₀."),
            (float(-np.sum(q[pos] * np.log(q[pos]))),
             "that is the entropy H(q) = −Σ q log q; KL(q ‖ uniform) = log K − H(q)."),
            (float(np.log(K)), "log K is the value for a generator on ONE mode; compute "
                               "Σ q_k log(q_k · K) from the counts."),
        ]


@by_hand("8.3")
@_quiet
def check_reverse_kl_modes(reverse_kl_modes):
    """Exercise 8.3: ``reverse_kl_modes(counts) -> float``: KL(q ‖ uniform) = Σ_k q_k log(q_k·K)
    in nats, q = counts / Σ counts, K = len(counts), with 0·log 0 = 0; ``inf`` when every count
    is 0 (q undefined), as :func:`minigan.evaluation.metrics.mode_metrics`.
    """
    fn = reverse_kl_modes
    cases = [("ring8, two empty modes", np.array([310, 280, 0, 305, 290, 0, 320, 295])),
             ("ring8, every mode present, unevenly", np.array([40, 10, 25, 5, 60, 15, 30, 15])),
             ("ring8, all on one mode", np.array([0, 0, 2500, 0, 0, 0, 0, 0])),
             ("ring8, perfectly balanced", np.full(8, 300)),
             ("grid25, nine modes empty", np.array([0, 120, 95, 0, 80, 101, 0, 0, 77, 140, 60, 0,
                                                    99, 130, 0, 88, 102, 0, 75, 0, 93, 81, 0, 110,
                                                    66])),
             ("three modes, counts 1, 2, 3", np.array([1, 2, 3]))]
    for case, counts in cases:
        expected = _reference_reverse_kl(counts)
        out = _call(fn, {"counts": counts}, case, readonly=("counts",))
        if out is None:
            raise ExerciseError(f"{_name(fn)} returned None (case '{case}'): did you forget "
                                "a `return`?")
        (got,) = _unpack(fn, out, ("the reverse KL",), case)
        if got.size != 1:
            raise ExerciseError(f"{_name(fn)}: return one number, got an array of shape "
                                f"{got.shape} (case '{case}').\nHint: sum over the modes.")
        got = got.reshape(())
        if np.isnan(got):
            raise ExerciseError(f"{_name(fn)} returned nan on the case '{case}', expected "
                                f"{expected:.6g}.\nHint: 0·log 0 counts as 0: sum only over the "
                                "modes with counts > 0 (np.log(0) = −inf, and 0·(−inf) = nan).")
        if np.isinf(got):
            raise ExerciseError(f"{_name(fn)} returned {float(got)} on the case '{case}', "
                                f"expected {expected:.6g}.\nHint: an empty mode adds 0 to the "
                                "REVERSE KL (q_k = 0); it is the forward KL(uniform ‖ q) that "
                                "an empty mode makes infinite.")
        mistakes = _reverse_kl_mistakes(counts)
        if expected == 0 and abs(float(got)) > 1e-9:
            hints = [h for v, h in mistakes if abs(v - float(got)) <= 1e-9 * max(1, abs(v))]
            raise ExerciseError(f"{_name(fn)}: got {float(got):.6g} on the case '{case}', "
                                "expected 0 (a balanced generator)."
                                + (f"\nHint: {hints[0]}" if hints else ""))
        _compare(fn, "the reverse KL", got, expected, case, mistakes=mistakes)
    counts = np.zeros(8, dtype=np.int64)
    case = "no sample at all: every count 0"
    try:
        with np.errstate(all="ignore"):
            out = fn(counts.copy())
    except NotImplementedError:
        raise
    except Exception as exc:
        raise ExerciseError(f"{_name(fn)} raised {type(exc).__name__} on the case '{case}': "
                            f"{exc}\nHint: with no samples q is undefined; return float('inf') "
                            "(as mode_metrics does): test counts.sum() == 0 first.") from exc
    got = None if out is None else np.asarray(out, dtype=np.float64)
    if got is None or got.size != 1 or not np.isposinf(got.reshape(())):
        raise ExerciseError(f"{_name(fn)} returned {out!r} on the case '{case}', expected inf."
                            "\nHint: with no samples q is undefined; return float('inf') (as "
                            "mode_metrics does): test counts.sum() == 0 first.")
    _passed(fn, f"{len(cases) + 1} cases: empty modes (0·log 0 = 0), one mode (log K), balanced "
            "(0), grid25, and inf when there is no sample at all.")


# --------------------------------------------------------------------------------------
# Exercise 8.4: a spectrally normalised linear layer, forward and backward
# --------------------------------------------------------------------------------------

def _spectral_reference(x, W, b, u, dy):
    """minigan's SpectralNorm(Linear) in evaluation mode (u held, no power step): (y, dx, dW, db)."""
    from ..nn import Linear, SpectralNorm
    M, K = W.shape
    layer = SpectralNorm(Linear(K, M, rng=np.random.default_rng(0), dtype="float64"),
                         rng=np.random.default_rng(0)).eval()
    layer.params["weight"][...] = W
    layer.params["bias"][...] = b
    layer.u[...] = u
    layer.zero_grad()
    y, cache = layer.forward(x)
    dx = layer.backward(dy, cache)
    return y, dx, layer.grads["weight"].copy(), layer.grads["bias"].copy()


def _spectral_cases(rng):
    def unit(a):
        return a / np.linalg.norm(a)

    def case(name, N, K, M, u=None):
        W = rng.standard_normal((M, K))
        return (name, rng.standard_normal((N, K)), W, rng.standard_normal(M),
                unit(rng.standard_normal(M)) if u is None else u(W), rng.standard_normal((N, M)))

    def converged(W):
        u = unit(np.ones(W.shape[0]))
        for _ in range(100):
            u = unit(W @ unit(W.T @ u))
        return u

    return [case("N = 7, Linear(6, 5), a random unit u", 7, 6, 5),
            case("batch 1, Linear(4, 3)", 1, 4, 3),
            case("a square W (4, 4), N = 3", 3, 4, 4),
            case("Linear(5, 1), a logit layer (u = [1])", 6, 5, 1, u=lambda W: np.ones(1)),
            case("Linear(3, 6), u the converged top singular vector", 4, 3, 6, u=converged)]


def _spectral_pieces(x, W, b, u, dy):
    v = W.T @ u
    v = v / np.linalg.norm(v)
    sigma = float(u @ W @ v)
    W_sn = W / sigma
    G = dy.T @ x
    return v, sigma, W_sn, G


@by_hand("8.4")
@_quiet
def check_spectral_norm_linear(spectral_norm_linear, seed=84):
    """Exercise 8.4: ``spectral_norm_linear(x, W, b, u, dy) -> (y, dx, dW, db)``: the linear
    layer y = x W_snᵀ + b with W_sn = W/σ, in evaluation mode (u, a unit vector (M,), is
    held: v = Wᵀu/‖Wᵀu‖, σ = uᵀWv, no power step), and its backward pass for the upstream
    gradient dy (N, M): dx = dy W_sn, dW = (G − ⟨G, W_sn⟩·u vᵀ)/σ with G = dyᵀx, db = Σ_n dy_n.
    x: (N, K), W: (M, K), b: (M,). As :class:`minigan.nn.SpectralNorm` around a Linear.
    """
    fn = spectral_norm_linear
    rng = np.random.default_rng(seed)
    cases = _spectral_cases(rng)
    for case, x, W, b, u, dy in cases:
        N, K = x.shape
        M = W.shape[0]
        y_ref, dx_ref, dW_ref, db_ref = _spectral_reference(x, W, b, u, dy)
        out = _call(fn, {"x": x, "W": W, "b": b, "u": u, "dy": dy}, case,
                    readonly=("x", "W", "b", "u", "dy"),
                    error_hint="the shapes: v = Wᵀu is (K,), σ = uᵀWv a number, y = x W_snᵀ + b is "
                    "(N, K)·(K, M), dW = G − ⟨G, W_sn⟩·u vᵀ with G = dyᵀx (M, N)·(N, K) and "
                    "u vᵀ = np.outer(u, v) (M, K).")
        y, dx, dW, db = _unpack(fn, out, ("y", "dx", "dW", "db"), case)
        v, sigma, W_sn, G = _spectral_pieces(x, W, b, u, dy)
        s_exact = float(np.linalg.svd(W, compute_uv=False)[0])
        u1 = W @ v
        u1 = u1 / np.linalg.norm(u1)                       # after one power step (training mode)
        v1 = W.T @ u1
        v1 = v1 / np.linalg.norm(v1)
        s_step = float(u1 @ W @ v1)
        v_raw = W.T @ u
        s_raw = float(u @ W @ v_raw)                       # v not normalised: ‖Wᵀu‖²
        eval_hint = ("in evaluation mode the layer takes NO power step: v = Wᵀu/‖Wᵀu‖ from the "
                     "given u, σ = uᵀWv (you updated u first, as training mode does).")
        sigma_hints = [
            (s_exact, "σ is the ESTIMATE from the given u, σ = uᵀWv with v = Wᵀu/‖Wᵀu‖, not the "
                      "exact largest singular value (np.linalg.svd): the layer must be cheap, and "
                      "its backward pass is exact for the σ it uses."),
            (s_step, eval_hint),
            (s_raw, "v must be a unit vector, v = Wᵀu / ‖Wᵀu‖ (without that σ = ‖Wᵀu‖²)."),
            (float(np.linalg.norm(W)), "that is the Frobenius norm ‖W‖_F; σ = uᵀWv."),
        ]
        _compare(fn, "y", y, y_ref, case, mistakes=[
            (x @ W.T + b, "the layer uses the normalised weight W_sn = W/σ: y = x W_snᵀ + b."),
            (x @ W_sn.T, "add the bias: y = x W_snᵀ + b (the bias is not normalised)."),
            ((x @ W.T + b) / sigma, "only the weight is divided by σ: y = x (W/σ)ᵀ + b, the bias "
                                    "stays as it is."),
        ] + [(x @ W.T / s + b, h) for s, h in sigma_hints],
            shape_hints={(N, K): "y = x W_snᵀ + b has one column per ROW of W: (N, M)."})
        _compare(fn, "dx", dx, dx_ref, case, mistakes=[
            (dy @ W, "the layer multiplies by W_sn = W/σ, so dx = dy W_sn, not dy W."),
        ] + [(dy @ W / s, h) for s, h in sigma_hints],
            shape_hints={(N, M): "dx has x's shape (N, K): dx = dy W_sn."})
        uv = np.outer(u, v)
        inner = float((G * W_sn).sum())
        sq = M == K
        dW_mistakes = [
            (G / sigma, "the second term is missing: σ depends on W too (∂σ/∂W = u vᵀ), so "
                        "dW = (G − ⟨G, W_sn⟩·u vᵀ)/σ, not G/σ."),
            (G, "G = dyᵀx is the gradient with respect to W_sn; the parameter is W, and W_sn = "
                "W/σ(W): dW = (G − ⟨G, W_sn⟩·u vᵀ)/σ."),
            ((G - float((G * W).sum()) * uv) / sigma,
             "the inner product is ⟨G, W_sn⟩ = ⟨G, W⟩/σ: dW = G/σ − (⟨G, W⟩/σ²)·u vᵀ."),
            ((G + inner * uv) / sigma, "the second term is SUBTRACTED: scaling W up scales σ up, "
                                       "which cancels part of G: dW = (G − ⟨G, W_sn⟩·u vᵀ)/σ."),
            (G - inner * uv, "divide the whole by σ: dW = (G − ⟨G, W_sn⟩·u vᵀ)/σ."),
            ((G - inner * uv) / sigma ** 2, "divide by σ once: dW = (G − ⟨G, W_sn⟩·u vᵀ)/σ."),
            ((G - inner * np.outer(v, u).T) / sigma if sq else np.zeros(0),
             "∂σ/∂W = u vᵀ, np.outer(u, v), shape (M, K): u for the rows, v for the columns "
             "(yours has them the other way round)."),
            (dW_ref.T if sq else np.zeros(0), "dW has W's shape (M, K): G = dyᵀx, not xᵀdy; it "
                                              "looks transposed."),
            ((G - inner * uv) / sigma / N, "the layer sums over the batch: do not divide by N."),
            ((G - float((G * (W / s_exact)).sum()) * uv) / s_exact, sigma_hints[0][1]),
            ((G - float((G * (W / s_step)).sum()) * np.outer(u1, v1)) / s_step, eval_hint),
        ]
        _compare(fn, "dW", dW, dW_ref, case, mistakes=dW_mistakes,
                 shape_hints={(K, M): "dW has W's shape (M, K): G = dyᵀx; it looks transposed."})
        _compare(fn, "db", db, db_ref, case, mistakes=[
            (dy.mean(axis=0), "the layer sums over the batch: db = dy.sum(axis=0), not the mean."),
            (dy.sum(axis=0) / sigma, "the bias is not normalised: db = Σ_n dy_n, without 1/σ."),
        ], shape_hints={(N,): "db = dy.sum(axis=0): one entry per output, (M,)."})
    _passed(fn, f"y, dx, dW and db match minigan's SpectralNorm(Linear) in evaluation mode on "
            f"{len(cases)} cases (batch 1, a square W, a logit layer, a converged u).")
