"""The checks of chapter 5's exercises accept correct answers and reject plausible wrong ones,
each with the hint that names the mistake."""
import numpy as np
import pytest

from minigan.exercises import ch05_dcgan as ex
from minigan.exercises import ExerciseError

from exercise_helpers import check_tests


# --- correct answers ---------------------------------------------------------------------

def transposed_conv_output_size(H, k, s, p, output_padding):
    return (H - 1) * s - 2 * p + k + output_padding


def interpolate_latents(z0, z1, n):
    t = np.linspace(0, 1, n)[:, None]
    return z0 + t * (z1 - z0)                 # a different, equally right, form from the check's


def interpolate_latents_loop(z0, z1, n):
    return np.stack([z0 + i / (n - 1) * (z1 - z0) for i in range(n)])


CORRECT = [
    (ex.check_transposed_conv_output_size, transposed_conv_output_size),
    (ex.check_interpolate_latents, interpolate_latents),
    (ex.check_interpolate_latents, interpolate_latents_loop),
]


(test_check_accepts_correct_answer, test_every_check_is_covered,
 test_not_implemented_propagates_unchanged) = check_tests(ex, CORRECT)


def test_reference_sizes_are_pytorchs_formula():
    # the check's reference (minigan's layer) against the formula written out, on every case
    for H, k, s, p, op, _ in ex._SIZE_CASES:
        assert ex._reference_size(H, k, s, p, op) == (H - 1) * s - 2 * p + k + op


# --- wrong answers, with the hint each must produce ----------------------------------------

def _lerp_t(t_fn):
    def f(z0, z1, n):
        t = t_fn(n)[:, None]
        return (1 - t) * z0 + t * z1
    return f


WRONG = {
    # 5.1
    "size: the forward conv's formula": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: (H + 2 * p - k) // s + 1,
        r"forward\) convolution"),
    "size: H * s": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: H * s, r"H·s is only"),
    "size: one p instead of 2p": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: (H - 1) * s - p + k + op,
        r"−2p"),
    "size: + 2p": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: (H - 1) * s + 2 * p + k + op,
        r"subtracts"),
    "size: output_padding forgotten": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: (H - 1) * s - 2 * p + k,
        r"\+ output_padding"),
    "size: output_padding subtracted": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: (H - 1) * s - 2 * p + k - op,
        r"added, not subtracted"),
    "size: H * s instead of (H - 1) * s": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: H * s - 2 * p + k + op,
        r"\(H − 1\)·s, not H·s"),
    "size: an extra + 1": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: (H - 1) * s - 2 * p + k + op + 1,
        r"no extra \+ 1"),
    "size: k - 1 without the + 1": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: (H - 1) * s - 2 * p + k - 1 + op,
        r"no − 1"),
    "size: padding and output_padding ignored": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: (H - 1) * s + k,
        r"both missing"),
    "size: a float from /": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: ((H - 1) * s - 2 * p + k + op) / 1,
        r"integer"),
    "size: returns nothing": (
        ex.check_transposed_conv_output_size, lambda H, k, s, p, op: None, r"return"),
    # 5.2
    "lerp: endpoint=False": (
        ex.check_interpolate_latents, _lerp_t(lambda n: np.linspace(0, 1, n, endpoint=False)),
        r"one step short of z1"),
    "lerp: t = i / n": (
        ex.check_interpolate_latents, _lerp_t(lambda n: np.arange(n) / n), r"one step short"),
    "lerp: reversed": (
        ex.check_interpolate_latents, lambda z0, z1, n: interpolate_latents(z1, z0, n),
        r"reversed"),
    "lerp: starts one step in": (
        ex.check_interpolate_latents, _lerp_t(lambda n: np.arange(1, n + 1) / n), r"row 0 must be z0"),
    "lerp: n + 1 points": (
        ex.check_interpolate_latents, _lerp_t(lambda n: np.linspace(0, 1, n + 1)),
        r"exactly n = \d+ points"),
    "lerp: n - 1 points": (
        ex.check_interpolate_latents, _lerp_t(lambda n: np.linspace(0, 1, n - 1)),
        r"exactly n = \d+ points"),
    "lerp: transposed": (
        ex.check_interpolate_latents, lambda z0, z1, n: interpolate_latents(z0, z1, n).T,
        r"transposed"),
    "lerp: not evenly spaced (t squared)": (
        ex.check_interpolate_latents, _lerp_t(lambda n: np.linspace(0, 1, n) ** 2),
        r"not evenly spaced"),
    "lerp: slerp instead": (
        ex.check_interpolate_latents,
        lambda z0, z1, n: (lambda om, t: (np.sin((1 - t) * om) * z0 + np.sin(t * om) * z1)
                           / np.sin(om))(
            np.arccos(np.clip(z0 @ z1 / np.linalg.norm(z0) / np.linalg.norm(z1), -1, 1)),
            np.linspace(0, 1, n)[:, None]),
        r"not evenly spaced|interpolations are wrong"),
    "lerp: divides by n - 2": (
        ex.check_interpolate_latents,
        lambda z0, z1, n: z0 + (np.arange(n)[:, None] / (n - 2) if n > 2 else
                                np.arange(n)[:, None] / 0.0) * (z1 - z0),
        r"inf or nan|last row must be z1"),
    "lerp: writes into z0": (
        ex.check_interpolate_latents, lambda z0, z1, n: _writes_into(z0, z1, n),
        r"changed its argument `z0`"),
    "lerp: a 1-D result": (
        ex.check_interpolate_latents, lambda z0, z1, n: np.linspace(0, 1, n), r"whole vectors"),
}


def _writes_into(z0, z1, n):
    out = interpolate_latents(z0, z1, n)
    z0 *= 0.0                                  # clobbers the caller's z0
    return out


@pytest.mark.parametrize("name", list(WRONG))
def test_check_rejects_wrong_answer_with_hint(name):
    check, fn, hint = WRONG[name]
    with np.errstate(all="ignore"):
        with pytest.raises(ExerciseError, match=hint):
            check(fn)
