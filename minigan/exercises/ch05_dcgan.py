"""Checks for the exercises of chapter 5 (DCGAN), in the manner of :mod:`minigan.exercises`.

Each ``check_*`` runs the learner's function on several cases, compares it with minigan's own
answer, and either prints one pass line or raises :class:`~minigan.exercises.ExerciseError`
saying which case is wrong and, where the wrong answer looks like a known mistake, a hint.
``NotImplementedError`` raised by an unfinished exercise propagates unchanged.

=====================================  ==========  ==============================================
check                                  exercise    the learner writes
=====================================  ==========  ==============================================
check_transposed_conv_output_size      5.1         transposed_conv_output_size(H, k, s, p, op)
check_interpolate_latents              5.2         interpolate_latents(z0, z1, n) -> (n, d)
=====================================  ==========  ==============================================
"""
from __future__ import annotations

import numpy as np

from .checker import by_hand, ExerciseError, _call, _name, _passed, _quiet, _unpack
from ..gradcheck import rel_error

__all__ = ["check_transposed_conv_output_size", "check_interpolate_latents"]


# --------------------------------------------------------------------------------------
# Exercise 5.1: the output size of a transposed convolution
# --------------------------------------------------------------------------------------

# (H, k, s, p, output_padding, what the case is)
_SIZE_CASES = [
    (2, 4, 2, 1, 0, "8x8 DCGAN: 2 -> 4"),
    (4, 4, 2, 1, 0, "8x8 DCGAN: 4 -> 8"),
    (7, 4, 2, 1, 0, "28x28 DCGAN: 7 -> 14"),
    (14, 4, 2, 1, 0, "28x28 DCGAN: 14 -> 28"),
    (5, 3, 1, 1, 0, "stride 1, 'same' padding"),
    (5, 3, 2, 0, 0, "3x3 kernel, stride 2, no padding"),
    (7, 3, 2, 1, 1, "3x3 kernel, stride 2, padding 1, output_padding 1"),
    (4, 5, 2, 2, 1, "5x5 kernel, stride 2, padding 2, output_padding 1"),
    (1, 4, 1, 0, 0, "a 1x1 input (DCGAN's first layer as a transposed conv)"),
    (3, 5, 3, 2, 2, "stride 3, output_padding 2"),
    (6, 2, 2, 0, 0, "2x2 kernel, stride 2: an exact doubling"),
]


def _reference_size(H, k, s, p, op):
    from ..nn import ConvTranspose2d
    layer = ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=op, bias=False,
                            dtype="float64")
    return int(layer.output_size(H, H)[0])


def _size_mistakes(H, k, s, p, op):
    """(value, hint) pairs: what known wrong formulas give on this case."""
    return [
        ((H + 2 * p - k) // s + 1, "that is the output size of a (forward) convolution, "
         "(H + 2p − k)//s + 1; the transposed convolution inverts it: solve for the input."),
        (H * s, "H·s is only the size for k = s and p = 0; the kernel overhangs the last input "
         "pixel by k − s, and padding crops p from each side."),
        ((H - 1) * s - p + k + op, "padding crops p rows at the top AND p at the bottom: −2p."),
        ((H - 1) * s + 2 * p + k + op, "in a transposed convolution padding is cropped from the "
         "output, so it subtracts: −2p, not +2p."),
        ((H - 1) * s - 2 * p + k, "output_padding adds that many rows at the bottom: + output_padding."),
        ((H - 1) * s - 2 * p + k - op, "output_padding is added, not subtracted."),
        (H * s - 2 * p + k + op, "the first input pixel starts the output and each further one "
         "moves it by s: (H − 1)·s, not H·s."),
        ((H - 1) * s - 2 * p + k + op + 1, "one too many: the first input pixel's copy of the "
         "kernel covers k rows (not k + 1), so there is no extra + 1."),
        ((H - 1) * s - 2 * p + k + op - 1, "one too few: the first input pixel's copy of the kernel "
         "covers k rows, so there is no − 1 (the − 1 of d·(k − 1) + 1 cancels its + 1)."),
        ((H - 1) * s + k, "padding and output_padding are both missing: padding crops p rows from "
         "each side, output_padding adds rows at the bottom."),
    ]


@by_hand("5.1")
@_quiet
def check_transposed_conv_output_size(transposed_conv_output_size):
    """Exercise 5.1: ``transposed_conv_output_size(H, k, s, p, output_padding) -> int``,
    the height of the output of ``ConvTranspose2d(kernel_size=k, stride=s, padding=p,
    output_padding=output_padding)`` (dilation 1) on an input of height H, as
    :meth:`minigan.nn.ConvTranspose2d.output_size` (and PyTorch) compute it.
    """
    fn = transposed_conv_output_size
    results = []                                  # (case tuple, expected, got) for every case
    for H, k, s, p, op, case in _SIZE_CASES:
        expected = _reference_size(H, k, s, p, op)
        out = _call(fn, {"H": H, "k": k, "s": s, "p": p, "output_padding": op}, case)
        if out is None:
            raise ExerciseError(f"{_name(fn)} returned None (case '{case}'): did you forget "
                                "a `return`?")
        (got,) = _unpack(fn, out, ("the output size",), case)
        if got.shape != ():
            raise ExerciseError(f"{_name(fn)}: return one number, the output height; got an "
                                f"array of shape {got.shape} (case '{case}').")
        if float(got) == expected and (isinstance(out, (float, np.floating)) or (
                isinstance(out, np.ndarray) and out.dtype.kind == "f")):
            raise ExerciseError(f"{_name(fn)} returned {out!r} on the case '{case}': a size "
                                "is an integer; use // rather than / (and int(...)).")
        results.append(((H, k, s, p, op, case), expected, float(got)))
    wrong = [r for r in results if r[1] != r[2]]
    if wrong:
        # name the known mistake that gives the learner's numbers on EVERY case (on a single
        # case two mistakes can coincide: with p = 1, "− p" and "+ 1" give the same size)
        n_mistakes = len(_size_mistakes(1, 1, 1, 0, 0))
        hint = None
        for j in range(n_mistakes):
            if all(_size_mistakes(*c[:5])[j][0] == got for c, _, got in results):
                hint = _size_mistakes(1, 1, 1, 0, 0)[j][1]
                break
        (H, k, s, p, op, case), expected, got = wrong[0]
        raise ExerciseError(
            f"{_name(fn)}: got {got:g} for H={H}, k={k}, s={s}, p={p}, output_padding={op} "
            f"(case '{case}'), expected {expected}"
            + (f"; wrong on {len(wrong)} of {len(results)} cases." if len(wrong) > 1 else ".")
            + (f"\nHint: {hint}" if hint else ""))
    _passed(fn, f"agrees with ConvTranspose2d.output_size on {len(_SIZE_CASES)} cases "
            "(both DCGAN generators, strides 1-3, kernels 2-5, output_padding 0-2).")


# --------------------------------------------------------------------------------------
# Exercise 5.2: a row of latent interpolations
# --------------------------------------------------------------------------------------

def _lerp(z0, z1, n):
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) * z0[None, :] + t * z1[None, :]


@by_hand("5.2")
@_quiet
def check_interpolate_latents(interpolate_latents, seed=50):
    """Exercise 5.2: ``interpolate_latents(z0, z1, n) -> (n, d)``: n points evenly spaced on
    the segment from z0 to z1 (vectors of shape (d,)), row 0 equal to z0 and row n − 1 equal
    to z1: row i is z0 + i/(n − 1)·(z1 − z0).
    """
    fn = interpolate_latents
    rng = np.random.default_rng(seed)
    cases = [("d = 32, n = 8", rng.standard_normal(32), rng.standard_normal(32), 8),
             ("d = 5, n = 2: only the endpoints", rng.standard_normal(5), rng.standard_normal(5), 2),
             ("d = 1, n = 11", rng.standard_normal(1), rng.standard_normal(1), 11),
             ("d = 16, n = 7, far-apart endpoints", 3 * rng.standard_normal(16),
              -3 * rng.standard_normal(16), 7)]
    for case, z0, z1, n in cases:
        expected = _lerp(z0, z1, n)
        out = _call(fn, {"z0": z0, "z1": z1, "n": n}, case, readonly=("z0", "z1"))
        (got,) = _unpack(fn, out, ("the interpolations",), case)
        d = z0.shape[0]
        if got.shape != (n, d):
            hint = None
            if got.shape == (d, n):
                hint = "one row per point: shape (n, d); it looks transposed."
            elif got.shape in ((n + 1, d), (n - 1, d)):
                hint = f"exactly n = {n} points, the two endpoints included."
            elif got.shape == (n,):
                hint = "interpolate whole vectors: each row is a latent vector of length d."
            raise ExerciseError(f"{_name(fn)}: the result has shape {got.shape} on the case "
                                f"'{case}', expected (n, d) = {(n, d)}."
                                + (f"\nHint: {hint}" if hint else ""))
        if not np.all(np.isfinite(got)):
            raise ExerciseError(f"{_name(fn)}: the result contains inf or nan on the case "
                                f"'{case}'" + (" (n = 2: did you divide by n − 2?)" if n == 2 else "."))
        err = rel_error(got, expected)
        if err < 1e-9:
            continue
        hint = None
        if rel_error(got, expected[::-1]) < 1e-9:
            hint = "the order is reversed: row 0 must be z0 and the last row z1."
        elif rel_error(got[0], z0) > 1e-9:
            hint = "row 0 must be z0 itself (t = 0)."
        elif rel_error(got[-1], z1) > 1e-9:
            t_wrong = np.arange(n)[:, None] / n
            if rel_error(got, (1 - t_wrong) * z0 + t_wrong * z1) < 1e-9:
                hint = ("t = i/n stops one step short of z1 (np.linspace's endpoint=False); "
                        "use t = i/(n − 1) so that the last row is z1.")
            else:
                hint = "the last row must be z1 itself (t = 1)."
        else:
            steps = np.diff(got, axis=0)
            if not np.allclose(steps, steps[0], rtol=1e-9, atol=1e-12):
                hint = ("the endpoints are right but the points are not evenly spaced: "
                        "t must grow linearly, t_i = i/(n − 1) (a spherical interpolation "
                        "is a later question, not this exercise).")
        raise ExerciseError(f"{_name(fn)}: the interpolations are wrong on the case '{case}' "
                            f"(relative error {err:.1e})." + (f"\nHint: {hint}" if hint else ""))
    _passed(fn, f"{len(cases)} cases: shape (n, d), row 0 = z0, last row = z1, evenly spaced "
            "(n = 2 included).")
