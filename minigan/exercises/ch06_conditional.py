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
check_label_maps_forward_backward               6.3       label_maps_forward_backward(x, labels,
                                                          E, dh) -> (h, dx, dE)
check_conditional_accuracy_from_predictions     6.4       (requested, predicted, n_classes)
                                                          -> (accuracy, per_class (K,))
==============================================  ========  ==============================================
"""
from __future__ import annotations

import numpy as np

from .checker import by_hand, ExerciseError, _call, _compare, _name, _passed, _quiet, _unpack

__all__ = ["check_one_hot", "check_label_maps", "check_label_maps_forward_backward",
           "check_conditional_accuracy_from_predictions"]


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
# Exercise 6.3: the convolutional D's conditional input, forward and backward
# --------------------------------------------------------------------------------------

def _embedded_maps_reference(x, labels, E, dh):
    """h = [x, the code E[y] broadcast over H×W] and, for the gradient dh of h, (dx, dE): what
    CDCGAN.d_input and d_input_backward compute with an embedding table E (K, d)."""
    N, C, H, W = x.shape
    code = E[labels]                                                    # (N, d)
    h = np.concatenate([x, np.broadcast_to(code[:, :, None, None], (N, E.shape[1], H, W))], 1)
    dx = dh[:, :C].copy()
    dE = np.zeros_like(E)
    np.add.at(dE, labels, dh[:, C:].sum(axis=(2, 3)))                   # scatter-ADD into rows
    return h, dx, dE


def _maps_fb_cases(rng):
    """(case, x, labels, E, dh): repeated labels everywhere, absent classes, batch 1, E square."""
    def case(name, N, C, H, W, labels, K, d, identity=False):
        x = rng.uniform(-1, 1, (N, C, H, W))
        E = np.eye(K) if identity else rng.standard_normal((K, d))
        dh = rng.standard_normal((N, C + E.shape[1], H, W))
        return (name, x, np.asarray(labels), E, dh)
    return [
        case("one-hot codes (E = I): N = 6, 1 channel, 8x8, K = 10", 6, 1, 8, 8,
             [7, 0, 3, 7, 7, 2], 10, 10, identity=True),
        case("N = 5, 2 channels, 4x6, K = 4, d = 3; class 2 absent, class 1 three times",
             5, 2, 4, 6, [1, 3, 1, 1, 0], 4, 3),
        case("batch 1, 3 channels, 5x5, K = 3, d = 2", 1, 3, 5, 5, [2], 3, 2),
        case("N = 7, 1 channel, 3x3, K = d = 5 (E square)", 7, 1, 3, 3,
             [4, 4, 0, 2, 4, 0, 1], 5, 5),
    ]


_SCATTER_HINT = ("`dE[labels] += dc` is buffered in NumPy: a label that occurs several times "
                 "in the batch gets ONE of its examples' gradients, not their sum. Scatter-add: "
                 "`np.add.at(dE, labels, dc)` (section 3), or a loop over the examples.")


def _whole_step(fn, rng):
    """One D step and one G step of a tiny float64 cDCGAN with an embedding, once with the
    learner's function in place of CDCGAN.d_input / d_input_backward and once with minigan's:
    every gradient of D (its embedding table included) and of G."""
    from ..gans.cgan import CDCGAN

    def model():
        m = CDCGAN(data_shape=(1, 4, 4), n_classes=3, conditioning="embedding", embed_dim=2,
                   latent_dim=3, width=2, n_layers=2, seed=0, dtype="float64")
        r = np.random.default_rng(5)
        for name, p, _ in m.g_parameters() + m.d_parameters():
            p[...] = ((1 + 0.3 * r.standard_normal(p.shape)) if (p.ndim == 1 and "bias" not in name)
                      else 0.3 * r.standard_normal(p.shape))
        return m

    real = np.tanh(rng.standard_normal((6, 1, 4, 4)))
    labels, fake_labels = np.array([0, 2, 2, 1, 0, 2]), np.array([1, 1, 0, 2, 2, 0])
    z = rng.standard_normal((6, 3))
    grads = []
    for patched in (False, True):
        m = model()
        if patched:
            case = "one whole D and G step of a tiny cDCGAN"

            def d_input(x, y, m=m):
                E = m.D_embed.params["weight"]
                zeros = np.zeros((x.shape[0], x.shape[1] + E.shape[1]) + x.shape[2:])
                out = _call(fn, {"x": x, "labels": y, "E": E, "dh": zeros}, case)
                return _unpack(fn, out, ("h", "dx", "dE"), case)[0], (x, y)

            def d_input_backward(dh, cache, m=m):
                x, y = cache
                out = _call(fn, {"x": x, "labels": y, "E": m.D_embed.params["weight"],
                                 "dh": dh}, case)
                _, dx, dE = _unpack(fn, out, ("h", "dx", "dE"), case)
                m.D_embed.grads["weight"] += dE
                return dx
            m.d_input, m.d_input_backward = d_input, d_input_backward
        m.opt_d.zero_grad()
        loss_d = m.d_loss_and_backward(real, labels, z, fake_labels)[0]
        m.opt_g.zero_grad()
        loss_g = m.g_loss_and_backward(z, fake_labels)
        grads.append((float(loss_d), float(np.asarray(loss_g).reshape(-1)[0]),
                      [(n, g.copy()) for n, _, g in m.d_parameters() + m.g_parameters()]))
    return grads


@by_hand("6.3")
@_quiet
def check_label_maps_forward_backward(label_maps_forward_backward, seed=63):
    """Exercise 6.3: ``label_maps_forward_backward(x, labels, E, dh) -> (h, dx, dE)``: the
    convolutional D's input h = [x, c] (N, C + d, H, W) with c the code E[labels[n]] (a row
    of the embedding table E, (K, d)) broadcast over H×W, and, for dh = ∂L/∂h, the gradients
    dx = ∂L/∂x (N, C, H, W) and dE = ∂L/∂E (K, d): each code value is used at every position
    (a sum over H×W), and a class that occurs several times collects every example's
    gradient (a scatter-add). As CDCGAN.d_input and d_input_backward; then one whole D and G
    step of a tiny cDCGAN with the learner's function in their place.
    """
    fn = label_maps_forward_backward
    rng = np.random.default_rng(seed)
    cases = _maps_fb_cases(rng)
    for case, x, labels, E, dh in cases:
        N, C, H, W = x.shape
        K, d = E.shape
        h_ref, dx_ref, dE_ref = _embedded_maps_reference(x, labels, E, dh)
        out = _call(fn, {"x": x, "labels": labels, "E": E, "dh": dh}, case,
                    readonly=("x", "labels", "E", "dh"),
                    error_hint="x (N, C, H, W) and the maps (N, d, H, W) are concatenated "
                    "along axis 1; dE has E's shape (K, d), one row per class.")
        h, dx, dE = _unpack(fn, out, ("h", "dx", "dE"), case)
        code = E[labels]
        onehot = _eye(labels, K)
        maps = lambda c: np.broadcast_to(c[:, :, None, None], (N, c.shape[1], H, W))
        h_mistakes = [
            (np.concatenate([maps(code), x], axis=1),
             "the image's channels come first, then the d code maps (the order "
             "CDCGAN.discriminate uses)."),
            (np.concatenate([x, np.broadcast_to(code[:, None, None, :], (N, H, W, d))
                             .reshape(N, d, H, W)], axis=1), _SPREAD_HINT),
        ]
        if d != K or not np.array_equal(E, np.eye(K)):
            h_mistakes.append((np.concatenate([x, maps(onehot)], axis=1),
                               "the code of label y is row y of the table E, E[y] (a learned "
                               "embedding), not the one-hot vector e_y."))
        _compare(fn, "h", h, h_ref, case, mistakes=h_mistakes, shape_hints={
            (N, C + K, H, W): "the maps hold the code E[y], of length d = E.shape[1], not "
                              "one map per class.",
            (N, C + d): "the code is broadcast to d maps of size H×W: (N, C + d, H, W).",
            (N, d, H, W): "h holds the image AND the code maps: (N, C + d, H, W)."})
        _compare(fn, "dx", dx, dx_ref, case, mistakes=[
            (dh[:, d:d + C] if d + C <= dh.shape[1] else np.zeros(0),
             "x's gradient is the first C channels of dh, dh[:, :C]: the image comes first in "
             "h."),
            (dh[:, -C:], "x's gradient is the first C channels of dh, dh[:, :C]: the image "
                         "comes first in h."),
        ], shape_hints={tuple(dh.shape): "dx has x's shape: the first C channels of dh "
                                         "(the rest is the code's gradient)."})
        dc = dh[:, C:].sum(axis=(2, 3))
        buffered = np.zeros_like(E)
        buffered[labels] += dc
        first = np.zeros_like(E)                        # the first example of a label wins
        for n in reversed(range(N)):
            first[labels[n]] = dc[n]
        count = np.maximum(np.bincount(labels, minlength=K), 1)[:, None]
        dE_mistakes = [
            (buffered, _SCATTER_HINT), (first, _SCATTER_HINT),
            (dE_ref / (H * W), "each code value is used at every one of the H×W positions: "
                               "its gradient is the SUM over them, not the mean."),
            (_scatter(labels, dh[:, C:, 0, 0], E), "each code value is used at every position "
                                                   "of its map: sum dh over H×W, not one pixel."),
            (dE_ref / count, "a class that occurs several times collects the SUM of its "
                             "examples' gradients, not their mean."),
            (_scatter(labels, dh[:, :d].sum(axis=(2, 3)), E),
             "the code's gradient is in the LAST d channels of dh, dh[:, C:], after the "
             "image's C."),
            (dE_ref.T if K == d else np.zeros(0), "dE has E's shape (K, d): row k is class "
                                                  "k's gradient; it looks transposed."),
            (-dE_ref, "it is the right answer with the wrong sign: dE is ∂L/∂E."),
        ]
        _compare(fn, "dE", dE, dE_ref, case, mistakes=dE_mistakes, shape_hints={
            (N, d): "dE has E's shape (K, d), one row per CLASS: add each example's code "
                    "gradient into the row of its label (np.add.at).",
            (N, d, H, W): "sum the code maps' gradient over H×W, then scatter-add it into "
                          "E's rows: dE has E's shape (K, d).",
            (d, K): "dE has E's shape (K, d); it looks transposed."})
    (loss_d, loss_g, ref), (loss_d2, loss_g2, mine) = _whole_step(fn, rng)
    case = "one whole D and G step of a tiny cDCGAN (embedding, 3 classes, 4x4)"
    _compare(fn, "D's loss with your input", loss_d2, loss_d, case)
    for (name, g_ref), (_, g) in zip(ref, mine):
        _compare(fn, f"the gradient of {name} in that step", g, g_ref, case)
    _passed(fn, f"{len(cases)} cases (one-hot and learned codes, repeated and absent classes, "
            "batch 1) and one whole D and G step of a cDCGAN with your function in "
            "CDCGAN.d_input's place: every gradient equal.")


def _scatter(labels, rows, E):
    out = np.zeros_like(E)
    if rows.shape[1] == E.shape[1]:
        np.add.at(out, labels, rows)
    else:
        return np.zeros(0)
    return out


# --------------------------------------------------------------------------------------
# Exercise 6.4: conditional accuracy from the judge's predictions
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


@by_hand("6.4")
@_quiet
def check_conditional_accuracy_from_predictions(conditional_accuracy_from_predictions, seed=62):
    """Exercise 6.4: ``conditional_accuracy_from_predictions(requested, predicted, n_classes)
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
