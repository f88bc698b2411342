"""Checks for the exercises of chapter 6 (the conditional GAN), in the manner of
:mod:`minigan.exercises`.

Each ``check_*`` runs the learner's function on several cases, compares it with the answer
written out here, and either prints one pass line or raises
:class:`~minigan.exercises.ExerciseError` saying which case is wrong and, where the wrong
answer looks like a known mistake, a hint. ``NotImplementedError`` raised by an unfinished
exercise propagates unchanged.

==============================================  ========  ==============================================
check                                           exercise  the learner writes
==============================================  ========  ==============================================
check_one_hot                                   6.1       one_hot(labels, n_classes) -> (N, K) floats
check_label_maps                                6.2       label_maps(images, labels, n_classes)
                                                          -> (N, C + K, H, W)
check_conditional_accuracy_from_predictions     6.3       (requested, predicted, n_classes)
                                                          -> (accuracy, per_class (K,))
==============================================  ========  ==============================================
"""
from __future__ import annotations

import numpy as np

from .checker import by_hand, ExerciseError, _call, _compare, _name, _passed, _quiet, _unpack

__all__ = ["check_one_hot", "check_label_maps", "check_conditional_accuracy_from_predictions"]


def _eye(labels, K):
    return np.eye(K)[np.asarray(labels)]


# --------------------------------------------------------------------------------------
# Exercise 6.1: one-hot codes
# --------------------------------------------------------------------------------------

def _one_hot_cases(seed):
    rng = np.random.default_rng(seed)
    return [
        # the first case has N > K and every label < N: "out[labels] = 1" then runs without
        # an error and gives its own, recognisable, wrong answer
        ("N = 12, K = 10", rng.integers(0, 10, 12), 10),
        ("batch 1", np.array([4]), 10),
        ("N = K = 5", np.array([4, 4, 0, 2, 1]), 5),
        ("K = 6, the last classes absent from the batch", np.array([3, 0, 1, 3, 2, 0, 1]), 6),
        ("K = 2, int32 labels", np.array([1, 0, 1], dtype=np.int32), 2),
    ]


def _rows_set(labels, K):
    """What `out[labels] = 1` gives (None where it would raise IndexError: a label >= N)."""
    out = np.zeros((len(labels), K))
    if np.max(labels) >= len(labels):
        return None
    out[np.asarray(labels)] = 1.0
    return out


def _columns_set(labels, K):
    out = np.zeros((len(labels), K))
    out[:, np.asarray(labels)] = 1.0
    return out


_ROWS_HINT = ("`out[labels] = 1` sets whole ROWS of the result (the rows numbered by the labels), "
              "`out[:, labels] = 1` whole columns. Set one entry per row: "
              "`out[np.arange(N), labels] = 1`, or take rows of the identity: `np.eye(K)[labels]`.")


def _expect_value_error(fn, labels, K, case):
    """The learner's one_hot must refuse labels outside [0, K) with a ValueError."""
    try:
        with np.errstate(all="ignore"):
            fn(labels.copy(), K)
    except NotImplementedError:
        raise
    except ValueError:
        return
    except IndexError as exc:
        raise ExerciseError(
            f"{_name(fn)} raised IndexError on the case '{case}' (labels {labels.tolist()}, "
            f"n_classes = {K}): {exc}\nHint: IndexError is what NumPy raises for an index past "
            "the end, and NumPy does not catch every bad label (-1 is a valid index: the last "
            "row). Check `0 <= labels < n_classes` yourself and raise a ValueError that names "
            "the offending values.") from exc
    except Exception as exc:
        raise ExerciseError(
            f"{_name(fn)} raised {type(exc).__name__} on the case '{case}': {exc}\nHint: a "
            "label outside [0, n_classes) is a bad value: raise ValueError.") from exc
    if np.any(labels < 0):
        hint = ("negative labels index from the end in NumPy: `np.eye(K)[-1]` is, silently, the "
                "code of class K − 1, and your G would draw a 9 when the data said −1. Check "
                "`0 <= labels < n_classes` and raise ValueError.")
    else:
        hint = (f"a label equal to n_classes = {K} has no class: the classes are 0 ... "
                f"{K - 1}. Check `0 <= labels < n_classes` and raise ValueError.")
    raise ExerciseError(f"{_name(fn)} returned a result for the labels {labels.tolist()} with "
                        f"n_classes = {K} (case '{case}'); it should raise ValueError.\nHint: {hint}")


@by_hand("6.1")
@_quiet
def check_one_hot(one_hot, seed=60):
    """Exercise 6.1: ``one_hot(labels, n_classes) -> (N, K)`` floats: row n is the unit vector
    e_{labels[n]} (a 1 in column labels[n], 0 elsewhere); labels outside [0, n_classes) raise
    ValueError.
    """
    fn = one_hot
    cases = _one_hot_cases(seed)
    for case, labels, K in cases:
        N = len(labels)
        expected = _eye(labels, K)
        out = _call(fn, {"labels": labels, "n_classes": K}, case, readonly=("labels",))
        (got,) = _unpack(fn, out, ("the one-hot codes",), case)
        mistakes = [(expected.T, "one ROW per label and one column per class: shape (N, K); "
                                 "it looks transposed."),
                    (_rows_set(labels, K), _ROWS_HINT),
                    (_columns_set(labels, K), _ROWS_HINT),
                    (1.0 - expected, "1 at the label's column, 0 elsewhere: it is the other way "
                                     "round."),
                    (2.0 * expected - 1.0, "a one-hot code holds 0 and 1, not −1 and 1 (the "
                                           "range of the images is not the range of the code).")]
        mistakes = [(m, h) for m, h in mistakes if m is not None]
        shape_hints = {(N,): "return the codes, one row of length K per label, not the labels.",
                       (K, N): "one ROW per label: shape (N, K); it looks transposed."}
        width = int(labels.max()) + 1
        if width != K:
            shape_hints[(N, width)] = (f"the width is n_classes = {K}, not labels.max() + 1 = "
                                       f"{width}: a batch need not contain every class, and G and "
                                       "D need codes of the same length in every batch.")
        _compare(fn, "the one-hot code", got, expected, case, mistakes=mistakes,
                 shape_hints=shape_hints)
        arr = np.asarray(out)
        if arr.dtype.kind != "f":
            raise ExerciseError(f"{_name(fn)}: the values are right but the dtype is {arr.dtype} "
                                f"(case '{case}').\nHint: return floats (e.g. `np.eye(K)[labels]`, "
                                "or `.astype(np.float32)`): the code is concatenated to z and to "
                                "the pixels, which are floats, and fed to a Linear layer.")
    _expect_value_error(fn, np.array([0, 3, -1, 2]), 4, "a label −1")
    _expect_value_error(fn, np.array([1, 4, 0]), 4, "a label equal to n_classes")
    _passed(fn, f"{len(cases)} cases (batch 1, N = K, classes absent from the batch) and "
            "ValueError for labels −1 and n_classes.")


# --------------------------------------------------------------------------------------
# Exercise 6.2: label maps, concatenated to the image as channels
# --------------------------------------------------------------------------------------

def _label_maps_reference(images, labels, K):
    N, C, H, W = images.shape
    code = _eye(labels, K)
    maps = np.broadcast_to(code[:, :, None, None], (N, K, H, W))
    return np.concatenate([images, maps], axis=1)


_SPREAD_HINT = ("each label map must be CONSTANT over its H×W pixels (map k all ones if the label "
                "is k, all zeros otherwise); yours spreads the one-hot vector across the pixels. "
                "Broadcast `onehot[:, :, None, None]` to (N, K, H, W) (np.broadcast_to, or "
                "multiply by np.ones); channels-last maps go channels-first with "
                "`.transpose(0, 3, 1, 2)`, not with `.reshape`.")


@by_hand("6.2")
@_quiet
def check_label_maps(label_maps, seed=61):
    """Exercise 6.2: ``label_maps(images, labels, n_classes) -> (N, C + K, H, W)``: the images
    (N, C, H, W) with K constant maps appended as channels; map k of example n is 1 everywhere
    if labels[n] == k and 0 everywhere otherwise (the one-hot code of labels[n], broadcast).
    """
    fn = label_maps
    rng = np.random.default_rng(seed)
    cases = [("N = 4, 1 channel, 8x8, K = 10", rng.uniform(-1, 1, (4, 1, 8, 8)),
              np.array([7, 0, 3, 7]), 10),
             ("batch 1, 3 channels, 5x7, K = 4", rng.uniform(-1, 1, (1, 3, 5, 7)), np.array([2]), 4),
             ("N = 6, 2 channels, 4x6, K = 3", rng.uniform(-1, 1, (6, 2, 4, 6)),
              np.array([0, 1, 2, 2, 1, 0]), 3)]
    for case, images, labels, K in cases:
        N, C, H, W = images.shape
        expected = _label_maps_reference(images, labels, K)
        code = _eye(labels, K)
        out = _call(fn, {"images": images, "labels": labels, "n_classes": K}, case,
                    readonly=("images", "labels"),
                    error_hint="concatenate along axis 1, the channels: the images (N, C, H, W) "
                    "and the maps (N, K, H, W) agree on every other axis.")
        (got,) = _unpack(fn, out, ("the image with its label maps",), case)
        spread = np.concatenate([images, np.broadcast_to(code[:, None, None, :], (N, H, W, K))
                                 .reshape(N, K, H, W)], axis=1)
        one_pixel = np.zeros((N, K, H, W))
        one_pixel[:, :, 0, 0] = code
        mistakes = [
            (np.concatenate([expected[:, C:], images], axis=1),
             "the image's channels come first, then the K label maps: "
             "`np.concatenate([images, maps], axis=1)` (the order CDCGAN.discriminate uses)."),
            (spread, _SPREAD_HINT),
            (np.concatenate([images, one_pixel], axis=1),
             "the code must fill each map: constant over all H×W positions, not only at one "
             "pixel (a convolution near the other corner would never see the label)."),
            (np.concatenate([images, 2 * expected[:, C:] - 1], axis=1),
             "the maps hold the one-hot code itself, 0 and 1, not 2·e_y − 1."),
            (expected.transpose(0, 1, 3, 2),
             "height then width: (N, C + K, H, W); H and W are swapped (the images are "
             "transposed)."),
        ]
        shape_hints = {
            (N, C + 1, H, W): "one map per CLASS, K maps holding the one-hot code; not one map "
                              "holding the label's value (a 7 is not 'more' than a 3).",
            (N, K, H, W): "return the images AND the maps: (N, C + K, H, W).",
            (N, C + K, W, H): "height then width: (N, C + K, H, W); H and W are swapped.",
            (N, H, W, C + K): "channels first, (N, C + K, H, W), as every minigan (and torch) "
                              "layer expects; yours is channels-last.",
            (N, C + K): "the maps are images of size H×W, one per class: (N, C + K, H, W).",
            (N, C * H * W + K): "that is the MLP's input, [flattened image, one-hot code]; a "
                                "convolutional D needs the code as K images of size H×W, "
                                "appended as channels: (N, C + K, H, W).",
        }
        _compare(fn, "the image with its label maps", got, expected, case, mistakes=mistakes,
                 shape_hints=shape_hints)
    _passed(fn, f"{len(cases)} cases (batch 1, several channels, H ≠ W): images first, then K "
            "constant one-hot maps.")


# --------------------------------------------------------------------------------------
# Exercise 6.3: conditional accuracy from the judge's predictions
# --------------------------------------------------------------------------------------

def _per_class_reference(requested, predicted, K):
    return np.array([np.mean(predicted[requested == k] == k) for k in range(K)])


def _per_class_by_predicted(requested, predicted, K):
    """The swapped mistake: over the samples the judge CALLED k (nan where none were)."""
    out = np.full(K, np.nan)
    for k in range(K):
        if np.any(predicted == k):
            out[k] = np.mean(requested[predicted == k] == k)
    return out


def _accuracy_cases(seed):
    rng = np.random.default_rng(seed)

    def noisy(requested, K, p_right):
        right = rng.random(len(requested)) < p_right
        return np.where(right, requested, rng.integers(0, K, len(requested)))

    cases = []
    req = np.repeat(np.arange(10), 20)
    rng.shuffle(req)
    cases.append(("K = 10, 20 requests per class", req, noisy(req, 10, 0.8), 10))
    req = np.repeat(np.arange(4), [3, 9, 5, 7])
    rng.shuffle(req)
    cases.append(("K = 4, unbalanced: 3, 9, 5 and 7 requests", req, noisy(req, 4, 0.6), 4))
    req = np.array([0, 1, 2, 0, 1, 2, 2, 1])
    pred = np.array([0, 1, 1, 0, 0, 1, 1, 1])     # class 2: never right, never even predicted
    cases.append(("K = 3, the last class never predicted", req, pred, 3))
    req = np.array([3, 0, 4, 1, 2, 4, 0])
    cases.append(("K = 5, every sample right", req, req.copy(), 5))
    return cases


@by_hand("6.3")
@_quiet
def check_conditional_accuracy_from_predictions(conditional_accuracy_from_predictions, seed=62):
    """Exercise 6.3: ``conditional_accuracy_from_predictions(requested, predicted, n_classes)
    -> (accuracy, per_class)``: per_class[k] is the share of the samples that asked for class
    k (requested == k) that the judge assigned to k; accuracy is the mean of the K per-class
    shares (each class counts once, however many samples asked for it), as
    :func:`minigan.evaluation.metrics.conditional_accuracy` reports them.
    """
    fn = conditional_accuracy_from_predictions
    cases = _accuracy_cases(seed)
    for case, requested, predicted, K in cases:
        N = len(requested)
        per_class = _per_class_reference(requested, predicted, K)
        accuracy = float(per_class.mean())
        out = _call(fn, {"requested": requested, "predicted": predicted, "n_classes": K}, case,
                    readonly=("requested", "predicted"),
                    error_hint="if np.bincount is involved: it returns max(values) + 1 entries, "
                    "fewer than K when the last classes do not occur; pass minlength=n_classes.")
        got_acc, got_pc = _unpack(fn, out, ("accuracy", "per_class"), case)
        if got_acc.shape == (K,) and got_pc.shape == ():
            raise ExerciseError(f"{_name(fn)}: return (accuracy, per_class) in this order; yours "
                                f"looks like (per_class, accuracy) (case '{case}').")
        hits = np.array([np.sum((requested == k) & (predicted == k)) for k in range(K)], float)
        swapped = _per_class_by_predicted(requested, predicted, K)
        short = np.bincount(predicted[predicted == requested])
        pc_mistakes = [
            (swapped, "per_class[k] is over the samples that ASKED for k (requested == k), not "
                      "over those the judge CALLED k (predicted == k): did you swap requested "
                      "and predicted?"),
            (hits / N, "divide the hits of class k by the number of samples that asked for k, "
                       "not by all N samples."),
            (hits, "a share in [0, 1], not a count: divide by the number of samples that asked "
                   "for k."),
            (100 * per_class, "a share in [0, 1], not a percentage."),
            (1 - per_class, "that is the share judged WRONG in each class, 1 − accuracy."),
        ]
        pc_shapes = {(): "per_class has one share per class, shape (K,)."}
        if short.shape != (K,):
            pc_shapes[short.shape] = ("one entry for every class, K of them, even for a class "
                                      "that the judge never assigned: np.bincount(..., "
                                      "minlength=n_classes).")
        _compare(fn, "per_class", got_pc, per_class, case, mistakes=pc_mistakes,
                 shape_hints=pc_shapes,
                 nonfinite="every class is requested at least once here: divide by "
                           "the number of samples that ASKED for k.")
        overall = float(np.mean(requested == predicted))
        acc_mistakes = [
            (overall, "that is the share of ALL samples judged right, which weights each class "
                      "by how often it was requested; the conditional accuracy is the mean of "
                      "the K per-class shares (each class counts once): per_class.mean()."),
            (float(np.nanmean(swapped)), "that is the mean of per-class shares over the samples "
                                         "the judge CALLED k: did you swap requested and "
                                         "predicted?"),
            (100 * accuracy, "a share in [0, 1], not a percentage."),
            (float(per_class.sum()), "the mean of the per-class shares, not their sum."),
            (1 - accuracy, "that is the error rate, 1 − accuracy."),
        ]
        _compare(fn, "the accuracy", got_acc, accuracy, case, mistakes=acc_mistakes,
                 shape_hints={(K,): "accuracy is one number, the mean of per_class."})
    _passed(fn, f"{len(cases)} cases (balanced, unbalanced, a class never predicted, all right): "
            "per-class shares over the requests, and their mean.")
