"""The checks of chapter 6's exercises accept correct answers and reject plausible wrong ones,
each with the hint that names the mistake."""
import numpy as np
import pytest

from minigan.exercises import ch06_conditional as ex
from minigan.exercises import ExerciseError

from exercise_helpers import check_tests


# --- correct answers ---------------------------------------------------------------------

def one_hot(labels, n_classes):
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must be in [0, {n_classes})")
    return np.eye(n_classes)[labels]


def one_hot_loop(labels, n_classes):                # another right form: one entry per row
    if np.any((labels < 0) | (labels >= n_classes)):
        raise ValueError("label out of range")
    out = np.zeros((len(labels), n_classes), dtype=np.float32)
    out[np.arange(len(labels)), labels] = 1
    return out


def label_maps(images, labels, n_classes):
    N, C, H, W = images.shape
    code = np.eye(n_classes)[labels]
    maps = np.broadcast_to(code[:, :, None, None], (N, n_classes, H, W))
    return np.concatenate([images, maps], axis=1)


def label_maps_ones(images, labels, n_classes):     # multiply by ones instead of broadcasting
    N, C, H, W = images.shape
    maps = one_hot_loop(labels, n_classes)[:, :, None, None] * np.ones((1, 1, H, W))
    return np.concatenate([images, maps], axis=1)


def label_maps_transpose(images, labels, n_classes):  # channels-last maps, transposed properly
    N, C, H, W = images.shape
    maps = np.broadcast_to(np.eye(n_classes)[labels][:, None, None, :], (N, H, W, n_classes))
    return np.concatenate([images, maps.transpose(0, 3, 1, 2)], axis=1)


def label_maps_forward_backward(x, labels, E, dh, *, bad=None):
    """The right answer, or (bad=...) one plausible mistake."""
    N, C, H, W = x.shape
    K, d = E.shape
    code = np.eye(K)[labels] if bad == "one-hot code" else E[labels]
    maps = np.broadcast_to(code[:, :, None, None], (N, code.shape[1], H, W))
    h = np.concatenate([maps, x] if bad == "maps first" else [x, maps], axis=1)
    dx = {"whole dh": dh, "last channels": dh[:, -C:]}.get(bad, dh[:, :C])
    dc = {"mean over positions": lambda: dh[:, C:].mean(axis=(2, 3)),
          "one pixel": lambda: dh[:, C:, 0, 0],
          "first channels": lambda: dh[:, :d].sum(axis=(2, 3))}.get(
        bad, lambda: dh[:, C:].sum(axis=(2, 3)))()
    if bad == "no scatter":
        return h, dx, dc
    if bad == "maps not summed":
        return h, dx, dh[:, C:]
    dE = np.zeros_like(E)
    if bad in ("buffered", "assigned"):
        if bad == "buffered":
            dE[labels] += dc
        else:
            dE[labels] = dc
    else:
        np.add.at(dE, labels, dc)
    if bad == "mean per class":
        dE /= np.maximum(np.bincount(labels, minlength=K), 1)[:, None]
    if bad == "transposed":
        dE = dE.T
    return h, dx, dE


def label_maps_forward_backward_matmul(x, labels, E, dh):   # scatter-add as a matrix product
    N, C, H, W = x.shape
    onehot = np.eye(E.shape[0])[labels]                      # (N, K)
    h = np.concatenate([x, (onehot @ E)[:, :, None, None] * np.ones((1, 1, H, W))], axis=1)
    return h, dh[:, :C], onehot.T @ dh[:, C:].sum(axis=(2, 3))


def label_maps_forward_backward_float32(x, labels, E, dh):  # float32 by accident: still right
    h, dx, dE = label_maps_forward_backward(x.astype(np.float32), labels, E.astype(np.float32),
                                            dh.astype(np.float32))
    return h, dx, dE


def _fb(bad):
    return lambda x, labels, E, dh: label_maps_forward_backward(x, labels, E, dh, bad=bad)


def conditional_accuracy_from_predictions(requested, predicted, n_classes):
    per_class = np.array([np.mean(predicted[requested == k] == k) for k in range(n_classes)])
    return float(per_class.mean()), per_class


def conditional_accuracy_bincount(requested, predicted, n_classes):
    hits = np.bincount(requested[requested == predicted], minlength=n_classes)
    per_class = hits / np.bincount(requested, minlength=n_classes)
    return per_class.mean(), per_class


def conditional_accuracy_float32(requested, predicted, n_classes):   # float32: still right
    acc, per_class = conditional_accuracy_from_predictions(requested, predicted, n_classes)
    return np.float32(acc), per_class.astype(np.float32)


CORRECT = [
    (ex.check_one_hot, one_hot),
    (ex.check_one_hot, one_hot_loop),
    (ex.check_label_maps, label_maps),
    (ex.check_label_maps, label_maps_ones),
    (ex.check_label_maps, label_maps_transpose),
    (ex.check_label_maps_forward_backward, label_maps_forward_backward),
    (ex.check_label_maps_forward_backward, label_maps_forward_backward_matmul),
    (ex.check_label_maps_forward_backward, label_maps_forward_backward_float32),
    (ex.check_conditional_accuracy_from_predictions, conditional_accuracy_from_predictions),
    (ex.check_conditional_accuracy_from_predictions, conditional_accuracy_bincount),
    (ex.check_conditional_accuracy_from_predictions, conditional_accuracy_float32),
]


(test_check_accepts_correct_answer, test_every_check_is_covered,
 test_not_implemented_propagates_unchanged) = check_tests(ex, CORRECT)


def test_references_agree_with_the_library():
    # the label maps are what CDCGAN's discriminator sees; the accuracy is what
    # minigan.evaluation.metrics.conditional_accuracy computes from the judge's predictions
    from minigan.gans.cgan import CDCGAN
    m = CDCGAN(data_shape=(1, 4, 4), n_classes=3, latent_dim=2, width=2, seed=0, dtype="float64")
    seen = {}
    m.D.forward = lambda h: (seen.setdefault("h", h), None)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 1, 4, 4)), np.array([2, 0, 1, 2, 0])
    m.discriminate(x, y)
    np.testing.assert_array_equal(seen["h"], ex._label_maps_reference(x, y, 3))

    # 6.3's reference is CDCGAN's input with an embedding table, and its backward pass
    m = CDCGAN(data_shape=(2, 4, 6), n_classes=4, conditioning="embedding", embed_dim=3,
               latent_dim=2, width=2, n_layers=1, seed=0, dtype="float64")
    x, y = rng.standard_normal((6, 2, 4, 6)), np.array([3, 1, 3, 3, 0, 1])
    E = m.D_embed.params["weight"]
    dh = rng.standard_normal((6, 5, 4, 6))
    h_ref, dx_ref, dE_ref = ex._embedded_maps_reference(x, y, E, dh)
    h, cache = m.d_input(x, y)
    np.testing.assert_array_equal(h, h_ref)
    m.D_embed.zero_grad()
    np.testing.assert_array_equal(m.d_input_backward(dh, cache), dx_ref)
    np.testing.assert_allclose(m.D_embed.grads["weight"], dE_ref, rtol=1e-12)

    from minigan.evaluation.metrics import conditional_accuracy

    class Judge:
        def predict(self, rows):
            return (rows[:, 0] > 0).astype(int) * 2      # class 0 or 2, from one pixel

    class Model:
        n_classes = 3

        def sample(self, n, labels, seed):
            return np.random.default_rng(seed).standard_normal((n, 1, 2, 2))

    got = conditional_accuracy(Model(), classifier=Judge(), n_per_class=40, seed=3,
                               real=(np.zeros((2, 4)), np.zeros(2, int)))
    requested = np.repeat(np.arange(3), 40)
    predicted = np.concatenate([Judge().predict(Model().sample(40, None, 3 + k).reshape(40, -1))
                                for k in range(3)])
    acc, per_class = conditional_accuracy_from_predictions(requested, predicted, 3)
    np.testing.assert_allclose(per_class, got["per_class"])
    assert acc == pytest.approx(got["accuracy"])


# --- wrong answers, with the hint each must produce ----------------------------------------

def _by_library(x, labels, E, dh):
    from minigan.gans.cgan import CDCGAN
    m = CDCGAN(data_shape=x.shape[1:], n_classes=E.shape[0], conditioning="embedding",
               embed_dim=E.shape[1], latent_dim=2, width=2, n_layers=1, seed=0, dtype="float64")
    m.D_embed.params["weight"][...] = E
    h, cache = m.d_input(x, labels)
    m.D_embed.zero_grad()
    return h, m.d_input_backward(dh, cache), m.D_embed.grads["weight"]


def _oh_no_check(labels, n_classes):
    return np.eye(n_classes)[labels]


def _oh_rows(labels, n_classes):
    one_hot(labels, n_classes)
    out = np.zeros((len(labels), n_classes))
    out[labels] = 1
    return out


def _oh_columns(labels, n_classes):
    one_hot(labels, n_classes)
    out = np.zeros((len(labels), n_classes))
    out[:, labels] = 1
    return out


def _oh_max_width(labels, n_classes):
    one_hot(labels, n_classes)
    return np.eye(labels.max() + 1)[labels]


def _oh_only_upper_check(labels, n_classes):
    if np.any(labels >= n_classes):
        raise ValueError("too large")
    return np.eye(n_classes)[labels]


def _oh_index_error(labels, n_classes):
    out = np.zeros((len(labels), n_classes))
    for i, y in enumerate(labels):
        if y < 0:
            raise IndexError(f"index {y} is negative")
        out[i, y] = 1                        # IndexError for y >= n_classes
    return out


def _oh_assert(labels, n_classes):
    assert np.all((labels >= 0) & (labels < n_classes)), "bad label"
    return np.eye(n_classes)[labels]


def _lm_spread(images, labels, n_classes):
    N, C, H, W = images.shape
    maps = np.tile(np.eye(n_classes)[labels], (1, H * W)).reshape(N, n_classes, H, W)
    return np.concatenate([images, maps], axis=1)


def _lm_channels_last_reshape(images, labels, n_classes):
    N, C, H, W = images.shape
    maps = np.broadcast_to(np.eye(n_classes)[labels][:, None, None, :], (N, H, W, n_classes))
    return np.concatenate([images, maps.reshape(N, n_classes, H, W)], axis=1)


def _lm_swapped(images, labels, n_classes):
    out = label_maps(images, labels, n_classes)
    C = images.shape[1]
    return np.concatenate([out[:, C:], images], axis=1)


def _lm_one_pixel(images, labels, n_classes):
    N, C, H, W = images.shape
    maps = np.zeros((N, n_classes, H, W))
    maps[:, :, 0, 0] = np.eye(n_classes)[labels]
    return np.concatenate([images, maps], axis=1)


def _lm_pm1(images, labels, n_classes):
    out = label_maps(images, labels, n_classes)
    C = images.shape[1]
    out[:, C:] = 2 * out[:, C:] - 1
    return out


def _lm_value_map(images, labels, n_classes):
    N, C, H, W = images.shape
    return np.concatenate([images, np.broadcast_to(labels[:, None, None, None].astype(float),
                                                   (N, 1, H, W))], axis=1)


def _lm_wrong_axis(images, labels, n_classes):
    N, C, H, W = images.shape
    maps = np.broadcast_to(np.eye(n_classes)[labels][:, :, None, None], (N, n_classes, H, W))
    return np.concatenate([images, maps], axis=0)


def _lm_writes_into_images(images, labels, n_classes):
    out = label_maps(images, labels, n_classes)
    images *= 0.0
    return out


def _ca(per_class_fn, acc_fn=lambda pc, r, p: float(np.mean(pc))):
    def f(requested, predicted, n_classes):
        pc = per_class_fn(requested, predicted, n_classes)
        return acc_fn(pc, requested, predicted), pc
    return f


def _pc(requested, predicted, K):
    return np.array([np.mean(predicted[requested == k] == k) for k in range(K)])


def _pc_by_predicted(requested, predicted, K):
    return np.array([np.mean(requested[predicted == k] == k) if np.any(predicted == k) else 0.0
                     for k in range(K)])


def _ca_bincount_short(requested, predicted, n_classes):
    hits = np.bincount(requested[requested == predicted])
    per_class = hits / np.bincount(requested)[:len(hits)]
    return per_class.mean(), per_class


def _ca_bincount_broadcast(requested, predicted, n_classes):
    per_class = np.bincount(requested[requested == predicted]) / np.bincount(requested, minlength=n_classes)
    return per_class.mean(), per_class


WRONG = {
    # 6.1
    "one_hot: no range check": (ex.check_one_hot, _oh_no_check, r"negative labels index from the end"),
    "one_hot: checks only the upper end": (ex.check_one_hot, _oh_only_upper_check,
                                           r"negative labels index from the end"),
    "one_hot: NumPy's IndexError": (ex.check_one_hot, _oh_index_error, r"(?s)raised IndexError.*NumPy does not catch"),
    "one_hot: assert instead of ValueError": (ex.check_one_hot, _oh_assert, r"raise ValueError"),
    "one_hot: transposed": (ex.check_one_hot, lambda l, K: one_hot(l, K).T, r"transposed"),
    "one_hot: out[labels] = 1": (ex.check_one_hot, _oh_rows, r"sets whole ROWS"),
    "one_hot: out[:, labels] = 1": (ex.check_one_hot, _oh_columns, r"sets whole ROWS"),
    "one_hot: width labels.max() + 1": (ex.check_one_hot, _oh_max_width, r"not labels.max\(\) \+ 1"),
    "one_hot: inverted": (ex.check_one_hot, lambda l, K: 1 - one_hot(l, K), r"other way round"),
    "one_hot: -1 and 1": (ex.check_one_hot, lambda l, K: 2 * one_hot(l, K) - 1, r"not −1 and 1"),
    "one_hot: integer dtype": (ex.check_one_hot, lambda l, K: one_hot(l, K).astype(int), r"return floats"),
    "one_hot: boolean dtype": (ex.check_one_hot, lambda l, K: one_hot(l, K) > 0, r"return floats"),
    "one_hot: returns the labels": (ex.check_one_hot, lambda l, K: (one_hot(l, K), l)[1].astype(float),
                                    r"not the labels"),
    "one_hot: returns nothing": (ex.check_one_hot, lambda l, K: None, r"return"),
    "one_hot: writes into labels": (ex.check_one_hot,
                                    lambda l, K: (one_hot(l, K), l.fill(0))[0], r"changed its argument `labels`"),
    # 6.2
    "maps: one-hot spread across the pixels (tile)": (ex.check_label_maps, _lm_spread, r"CONSTANT"),
    "maps: channels-last reshaped, not transposed": (ex.check_label_maps, _lm_channels_last_reshape,
                                                     r"CONSTANT.*\.transpose"),
    "maps: maps before the image": (ex.check_label_maps, _lm_swapped, r"channels come first"),
    "maps: code at one pixel only": (ex.check_label_maps, _lm_one_pixel, r"not only at one"),
    "maps: 2 e_y - 1": (ex.check_label_maps, _lm_pm1, r"not 2·e_y − 1"),
    "maps: one map holding the label": (ex.check_label_maps, _lm_value_map, r"one map per CLASS"),
    "maps: only the maps": (ex.check_label_maps,
                            lambda x, l, K: label_maps(x, l, K)[:, x.shape[1]:], r"images AND the maps"),
    "maps: H and W swapped": (ex.check_label_maps,
                              lambda x, l, K: label_maps(x, l, K).transpose(0, 1, 3, 2), r"H and W are swapped"),
    "maps: channels-last result": (ex.check_label_maps,
                                   lambda x, l, K: label_maps(x, l, K).transpose(0, 2, 3, 1), r"channels-last"),
    "maps: concatenated on axis 0": (ex.check_label_maps, _lm_wrong_axis, r"along axis 1"),
    "maps: the code without the maps": (ex.check_label_maps,
                                        lambda x, l, K: np.concatenate([x.reshape(len(x), -1), np.eye(K)[l]], 1),
                                        r"along axis 1|images of size H×W"),
    "maps: writes into images": (ex.check_label_maps, _lm_writes_into_images,
                                 r"changed its argument `images`"),
    # 6.3
    "maps fb: dE[labels] += dc": (ex.check_label_maps_forward_backward, _fb("buffered"),
                                  r"is buffered in NumPy.*np.add.at"),
    "maps fb: dE[labels] = dc": (ex.check_label_maps_forward_backward, _fb("assigned"),
                                 r"is buffered in NumPy"),
    "maps fb: mean over the positions": (ex.check_label_maps_forward_backward,
                                         _fb("mean over positions"), r"SUM over them, not the mean"),
    "maps fb: one pixel's gradient": (ex.check_label_maps_forward_backward, _fb("one pixel"),
                                      r"not one pixel"),
    "maps fb: the image's channels as the code's gradient": (
        ex.check_label_maps_forward_backward, _fb("first channels"), r"LAST d channels"),
    "maps fb: mean over the examples of a class": (ex.check_label_maps_forward_backward,
                                                   _fb("mean per class"), r"SUM of its examples"),
    "maps fb: dE transposed": (ex.check_label_maps_forward_backward, _fb("transposed"),
                               r"transposed"),
    "maps fb: one row per example": (ex.check_label_maps_forward_backward, _fb("no scatter"),
                                     r"one row per CLASS"),
    "maps fb: the maps' gradient not summed": (ex.check_label_maps_forward_backward,
                                               _fb("maps not summed"), r"sum the code maps"),
    "maps fb: dx is all of dh": (ex.check_label_maps_forward_backward, _fb("whole dh"),
                                 r"dx has x's shape"),
    "maps fb: dx from the last channels": (ex.check_label_maps_forward_backward,
                                           _fb("last channels"), r"first C channels of dh"),
    "maps fb: maps before the image": (ex.check_label_maps_forward_backward, _fb("maps first"),
                                       r"image's channels come first"),
    "maps fb: the one-hot code instead of E[y]": (ex.check_label_maps_forward_backward,
                                                  _fb("one-hot code"), r"row y of the table E"),
    "maps fb: writes into dh": (
        ex.check_label_maps_forward_backward,
        lambda x, l, E, dh: (label_maps_forward_backward(x, l, E, dh), dh.fill(0))[0],
        r"changed its argument `dh`"),
    "maps fb: calls CDCGAN's own backward": (
        ex.check_label_maps_forward_backward, lambda x, l, E, dh: _by_library(x, l, E, dh),
        r"calls minigan's CDCGAN.d_input"),
    # 6.4
    "accuracy: mean over all samples": (
        ex.check_conditional_accuracy_from_predictions,
        _ca(_pc, lambda pc, r, p: float(np.mean(r == p))), r"weights each class"),
    "accuracy: requested and predicted swapped": (
        ex.check_conditional_accuracy_from_predictions,
        lambda r, p, K: conditional_accuracy_from_predictions(p, r, K), r"swap requested and predicted"),
    "accuracy: grouped by the prediction": (
        ex.check_conditional_accuracy_from_predictions, _ca(_pc_by_predicted), r"CALLED k"),
    "accuracy: per class divided by N": (
        ex.check_conditional_accuracy_from_predictions,
        _ca(lambda r, p, K: np.array([np.sum((r == k) & (p == k)) for k in range(K)]) / len(r)),
        r"not by all N"),
    "accuracy: counts": (
        ex.check_conditional_accuracy_from_predictions,
        _ca(lambda r, p, K: np.array([np.sum((r == k) & (p == k)) for k in range(K)], float)),
        r"not a count"),
    "accuracy: percentages": (
        ex.check_conditional_accuracy_from_predictions,
        _ca(lambda r, p, K: 100 * _pc(r, p, K)), r"not a percentage"),
    "accuracy: error rates": (
        ex.check_conditional_accuracy_from_predictions,
        _ca(lambda r, p, K: 1 - _pc(r, p, K)), r"judged WRONG"),
    "accuracy: sum of the per-class shares": (
        ex.check_conditional_accuracy_from_predictions,
        _ca(_pc, lambda pc, r, p: float(pc.sum())), r"not their sum"),
    "accuracy: percentage overall only": (
        ex.check_conditional_accuracy_from_predictions,
        _ca(_pc, lambda pc, r, p: 100 * float(pc.mean())), r"not a percentage"),
    "accuracy: bincount without minlength": (
        ex.check_conditional_accuracy_from_predictions, _ca_bincount_short, r"minlength=n_classes"),
    "accuracy: bincount without minlength, broadcast error": (
        ex.check_conditional_accuracy_from_predictions, _ca_bincount_broadcast, r"minlength=n_classes"),
    "accuracy: outputs in the wrong order": (
        ex.check_conditional_accuracy_from_predictions,
        lambda r, p, K: conditional_accuracy_from_predictions(r, p, K)[::-1], r"in this order"),
    "accuracy: only the overall number": (
        ex.check_conditional_accuracy_from_predictions,
        lambda r, p, K: conditional_accuracy_from_predictions(r, p, K)[0], r"should return a tuple"),
    "accuracy: writes into predicted": (
        ex.check_conditional_accuracy_from_predictions,
        lambda r, p, K: (conditional_accuracy_from_predictions(r, p, K), p.fill(0))[0],
        r"changed its argument `predicted`"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_check_rejects_wrong_answer_with_hint(name):
    check, fn, hint = WRONG[name]
    with np.errstate(all="ignore"):
        with pytest.raises(ExerciseError, match=hint):
            check(fn)
