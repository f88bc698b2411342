"""Tests of minigan.evaluation.translation: the Pix2Pix paper's measurements of a translation
(pixel metrics, the FCN-score and its segmenter, colour-histogram intersection, FID), each on
known answers, and the segmenter's contract: it reads texture, not colour."""
import math

import numpy as np
import pytest

from minigan.data.scenes import (CLASSES, conditional_mean, conditional_median, load_scenes,
                                 render)
from minigan.evaluation import translation as T

K = len(CLASSES)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small matrices: one BLAS / numba thread (several only oversubscribe a busy machine)."""
    import numba
    from threadpoolctl import threadpool_limits
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    with threadpool_limits(1):
        yield
    numba.set_num_threads(old)


def images(n=4, size=32, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 3, size, size))


# --- pixel metrics -----------------------------------------------------------------------------
def test_identical_images_are_perfect():
    x = images()
    assert np.all(T.l1_per_image(x, x) == 0)
    assert np.all(np.isinf(T.psnr(x, x)))
    np.testing.assert_allclose(T.ssim(x, x), 1.0, rtol=0, atol=1e-12)
    m = T.pixel_metrics(x, x)
    assert m["l1"] == 0 and math.isinf(m["psnr"]) and m["ssim"] == pytest.approx(1.0, abs=1e-12)


def test_l1_and_psnr_known_values():
    x = images(3)
    y = x + 0.1                                   # every pixel off by 0.1: MSE 0.01
    np.testing.assert_allclose(T.l1_per_image(x, y), 0.1, rtol=1e-12)
    np.testing.assert_allclose(T.psnr(x, y), 10 * np.log10(4 / 0.01), rtol=1e-12)   # 26.02 dB
    np.testing.assert_allclose(T.psnr(x, y, data_range=1.0), 10 * np.log10(1 / 0.01), rtol=1e-12)
    # per image: the second pair identical, the first off by 0.5 (MSE 0.25: 10 log10 16)
    y2 = x.copy()
    y2[0] += 0.5
    np.testing.assert_allclose(T.l1_per_image(x, y2), [0.5, 0, 0], atol=1e-12)
    p = T.psnr(x, y2)
    assert p[0] == pytest.approx(10 * np.log10(16)) and np.all(np.isinf(p[1:]))


def test_ssim_properties():
    rng = np.random.default_rng(1)
    x = render(load_scenes("test", n=4).labels, rng)
    noisy = lambda sd: x + rng.normal(0, sd, x.shape)        # noqa: E731
    y = noisy(0.1)
    assert T.ssim(x, y).shape == (4,) and np.all(T.ssim(x, y) < 1)
    np.testing.assert_allclose(T.ssim(x, y), T.ssim(y, x), rtol=1e-12)      # symmetric
    assert np.all(T.ssim(x, noisy(0.02)) > T.ssim(x, noisy(0.2)))          # more noise, lower
    shifted = np.roll(x, 2, axis=-1)
    assert np.all(T.ssim(x, shifted) < 0.9)                                  # shifted, lower
    flat = np.broadcast_to(x.mean(axis=(2, 3), keepdims=True), x.shape)
    assert np.all(T.ssim(x, flat) < T.ssim(x, noisy(0.02)))                  # texture lost
    assert np.all(T.ssim(x, np.zeros_like(x)) < T.ssim(x, x))


def brute_force_ssim(x, y, sigma=1.5, data_range=2.0):
    """SSIM of two (C, H, W) images, window by window with explicit weighted sums."""
    r = int(3.5 * sigma + 0.5)
    t = np.arange(-r, r + 1)
    g = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * sigma ** 2))
    g /= g.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    vals = []
    for c in range(x.shape[0]):
        for i in range(x.shape[1] - 2 * r):
            for j in range(x.shape[2] - 2 * r):
                win = (c, slice(i, i + 2 * r + 1), slice(j, j + 2 * r + 1))
                p, q = x[win], y[win]
                mp, mq = (g * p).sum(), (g * q).sum()
                vp, vq = (g * (p - mp) ** 2).sum(), (g * (q - mq) ** 2).sum()
                cov = (g * (p - mp) * (q - mq)).sum()
                vals.append((2 * mp * mq + c1) * (2 * cov + c2)
                            / ((mp ** 2 + mq ** 2 + c1) * (vp + vq + c2)))
    return float(np.mean(vals))


@pytest.mark.parametrize("sigma,shape", [(1.5, (3, 14, 13)), (1.0, (2, 9, 10)), (1.5, (3, 11, 11))])
def test_ssim_against_window_by_window_reference(sigma, shape):
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, shape)
    y = np.clip(x + rng.normal(0, 0.3, shape), -1, 1)
    got = T.ssim(x[None], y[None], sigma=sigma)[0]
    assert got == pytest.approx(brute_force_ssim(x, y, sigma), rel=1e-10)


def test_ssim_matches_scikit_image_algorithm_with_scipy():
    """scikit-image's structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False) filters with scipy.ndimage.gaussian_filter (reflect mode,
    truncate 3.5) and crops the 5 border pixels: the same number as the valid windows."""
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(3)
    x = render(load_scenes("test", n=2).labels, rng).astype(np.float64)
    y = render(load_scenes("test", n=2).labels, rng).astype(np.float64)
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2
    f = lambda a: gaussian_filter(a, 1.5, mode="reflect", truncate=3.5)   # noqa: E731
    for n in range(2):
        per_channel = []
        for c in range(3):
            a, b = x[n, c], y[n, c]
            ua, ub = f(a), f(b)
            vaa, vbb, vab = f(a * a) - ua * ua, f(b * b) - ub * ub, f(a * b) - ua * ub
            s = ((2 * ua * ub + c1) * (2 * vab + c2)
                 / ((ua ** 2 + ub ** 2 + c1) * (vaa + vbb + c2)))
            per_channel.append(s[5:-5, 5:-5].mean())
        assert T.ssim(x[n], y[n])[0] == pytest.approx(np.mean(per_channel), rel=1e-9)


def test_ssim_matches_scikit_image_if_installed():
    skm = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(4)
    x = render(load_scenes("test", n=3).labels, rng).astype(np.float64)
    y = np.clip(x + rng.normal(0, 0.2, x.shape), -1, 1)
    want = [skm.structural_similarity(x[i], y[i], data_range=2.0, channel_axis=0,
                                      gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False) for i in range(3)]
    np.testing.assert_allclose(T.ssim(x, y), want, rtol=1e-7)


def test_pixel_metrics_refuse_bad_inputs():
    x = images(2)
    with pytest.raises(ValueError, match="same shape"):
        T.l1_per_image(x, x[:1])
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        T.psnr(bad, x)
    with pytest.raises(ValueError, match="smaller than"):
        T.ssim(x[..., :8, :8], x[..., :8, :8])


# --- FCN-score definitions ---------------------------------------------------------------------
def test_confusion_and_scores_on_a_hand_made_example():
    true = np.array([[[0, 0, 1, 1]]])
    pred = np.array([[[0, 1, 1, 1]]])
    h = T.confusion_matrix(true, pred, 2)
    np.testing.assert_array_equal(h, [[1, 1], [0, 2]])
    s = T.segmentation_scores(h)
    assert s["pixel_accuracy"] == pytest.approx(3 / 4)
    assert s["class_accuracy"] == pytest.approx((1 / 2 + 2 / 2) / 2)
    # IoU: class 0: 1 / (2 + 1 - 1) = 1/2; class 1: 2 / (2 + 3 - 2) = 2/3
    assert s["class_iou"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    np.testing.assert_allclose(s["per_class_iou"], [1 / 2, 2 / 3])


def test_scores_perfect_and_all_wrong():
    true = np.random.default_rng(0).integers(0, K, (3, 8, 8))
    s = T.segmentation_scores(T.confusion_matrix(true, true, K))
    assert s["pixel_accuracy"] == s["class_accuracy"] == s["class_iou"] == 1.0
    s = T.segmentation_scores(T.confusion_matrix(true, (true + 1) % K, K))
    assert s["pixel_accuracy"] == s["class_accuracy"] == s["class_iou"] == 0.0


def test_absent_classes_are_left_out_of_the_means():
    # 3 classes; class 2 never appears (neither true nor predicted): no accuracy, no IoU
    true = np.array([[0, 0, 0, 1]])
    pred = np.array([[0, 0, 1, 1]])
    s = T.segmentation_scores(T.confusion_matrix(true, pred, 3))
    assert np.isnan(s["per_class_accuracy"][2]) and np.isnan(s["per_class_iou"][2])
    assert s["class_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert s["class_iou"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    # class 2 predicted but absent from the truth: no accuracy, IoU 0 (counted)
    s = T.segmentation_scores(T.confusion_matrix(true, np.array([[0, 0, 2, 1]]), 3))
    assert np.isnan(s["per_class_accuracy"][2]) and s["per_class_iou"][2] == 0
    assert s["class_iou"] == pytest.approx((2 / 3 + 1 + 0) / 3)


def test_an_output_that_is_no_class_is_wrong_for_every_class():
    """The segmenter's "no texture" output (id K): a K x (K + 1) confusion matrix."""
    true = np.array([[0, 0, 1, 1]])
    pred = np.array([[0, 2, 2, 1]])                    # 2 = "no texture" for K = 2
    h = T.confusion_matrix(true, pred, 2, num_predicted=3)
    np.testing.assert_array_equal(h, [[1, 0, 1], [0, 1, 1]])
    s = T.segmentation_scores(h)
    assert s["pixel_accuracy"] == pytest.approx(2 / 4)
    assert s["class_accuracy"] == pytest.approx(1 / 2)
    assert s["class_iou"] == pytest.approx(1 / 2)      # each: 1 / (2 + 1 - 1)
    with pytest.raises(ValueError, match="class ids"):
        T.confusion_matrix(true, pred, 2)


def test_scores_match_scikit_learn():
    from sklearn.metrics import confusion_matrix, jaccard_score
    rng = np.random.default_rng(5)
    true = rng.integers(0, K, (5, 16, 16))
    pred = np.where(rng.random(true.shape) < 0.6, true, rng.integers(0, K, true.shape))
    h = T.confusion_matrix(true, pred, K)
    np.testing.assert_array_equal(h, confusion_matrix(true.ravel(), pred.ravel(), labels=range(K)))
    s = T.segmentation_scores(h)
    assert s["class_iou"] == pytest.approx(jaccard_score(true.ravel(), pred.ravel(),
                                                         average="macro"))
    assert s["pixel_accuracy"] == pytest.approx(np.mean(true == pred))


# --- colour histograms -------------------------------------------------------------------------
def test_lab_conversion_known_colours():
    # black, white, red, green
    px = np.array([[-1, -1, -1], [1, 1, 1], [1, -1, -1], [-1, 1, -1]], float)
    lab = T.rgb_to_lab(px.reshape(4, 3, 1, 1))[:, :, 0, 0]
    np.testing.assert_allclose(lab[0], [0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(lab[1], [100, 0, 0], atol=0.02)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.05)
    np.testing.assert_allclose(lab[3], [87.73, -86.18, 83.18], atol=0.05)


@pytest.mark.parametrize("space", ["lab", "rgb"])
def test_histogram_intersection_known_answers(space):
    x = render(load_scenes("test", n=6).labels, np.random.default_rng(0))
    same = T.histogram_intersection(x, x, space)
    assert all(v == pytest.approx(1.0) for v in same.values())
    assert T.histogram_intersection(x, x[::-1], space)["mean"] == pytest.approx(1.0)  # a set
    h = T.colour_histograms(x, space)
    np.testing.assert_allclose(h.sum(axis=1), 1.0)
    # half the pixels in common: 0.5 per channel
    black, white = -np.ones((2, 3, 8, 8)), np.ones((2, 3, 8, 8))
    half = np.concatenate([black[:1], white[:1]])
    first = "L" if space == "lab" else "R"          # black and white: a = b = 0 both
    assert T.histogram_intersection(half, black, space)[first] == pytest.approx(0.5)


def test_histogram_intersection_disjoint_colours():
    black, white = -np.ones((2, 3, 8, 8)), np.ones((2, 3, 8, 8))
    rgb = T.histogram_intersection(black, white, "rgb")
    assert rgb["R"] == rgb["G"] == rgb["B"] == rgb["mean"] == 0.0
    red, green = np.zeros((1, 3, 4, 4)), np.zeros((1, 3, 4, 4))
    red[:, 0], red[:, 1:] = 1, -1
    green[:, 1], green[:, [0, 2]] = 1, -1
    lab = T.histogram_intersection(red, green, "lab")        # differ in L, a and b
    assert lab["mean"] == 0.0
    # black and white differ in L only (a = b = 0 both)
    bw = T.histogram_intersection(black, white, "lab")
    assert bw["L"] == 0.0 and bw["a"] == bw["b"] == 1.0


def test_flat_renders_have_a_poor_colour_distribution():
    ds = load_scenes("test", n=20)
    other = render(ds.labels, np.random.default_rng(1))
    assert (T.histogram_intersection(conditional_mean(ds.labels), ds.targets)["mean"]
            < T.histogram_intersection(other, ds.targets)["mean"] - 0.3)


# --- the segmenter: training data --------------------------------------------------------------
def test_texture_fields_repaint_the_real_renders_exactly():
    from minigan.data.scenes import COLOUR_MODES, make_example
    labels, t = T.texture_fields(5, "train")
    assert labels.shape == t.shape == (5, 32, 32) and t.min() >= 0 and t.max() <= 1
    a, b = np.zeros((5, K, 3)), np.zeros((5, K, 3))
    photos = np.empty((5, 3, 32, 32), np.float32)
    for i in range(5):
        lab, photos[i], style = make_example(i, "train")
        np.testing.assert_array_equal(lab, labels[i])
        for c in range(K):
            _, a[i, c], b[i, c] = COLOUR_MODES[c][style.modes[c]]
    np.testing.assert_allclose(T.paint(labels, t, a, b), photos, atol=2e-6)


def test_random_colours_say_nothing_of_the_class():
    """Random and grey colour pairs: the same distribution for every class. (The fifth painted
    in the dataset's own modes, channels permuted, keeps only their brightness.)"""
    rng = np.random.default_rng(0)
    a, b = T.random_colours(rng, 4000, dict(T.SEGMENTER_TRAINING, p_dataset_colours=0.0))
    assert a.shape == b.shape == (4000, K, 3)
    assert a.min() >= 0 and a.max() <= 1 and b.min() >= 0 and b.max() <= 1
    for stat in ((a + b) / 2, np.abs(b - a)):             # mean colour and contrast per class
        per_class = stat.mean(axis=0)                     # (K, 3)
        assert np.ptp(per_class, axis=0).max() < 0.03
    grey = np.all(a == a[..., :1], axis=-1).all(axis=-1)  # pictures painted in greys
    assert 0.15 < grey.mean() < 0.25
    contrast = np.abs(b - a).max(axis=-1)
    assert np.median(contrast) > 0.15
    a, b = T.random_colours(rng, 10)                      # the default mix
    assert a.min() >= 0 and b.max() <= 1


def test_flat_regions_get_the_no_texture_target():
    labels, t = T.texture_fields(8, "train")
    a, b = T.random_colours(np.random.default_rng(0), 8)
    photos, targets = T.flatten_regions(np.random.default_rng(1), labels, t, a, b,
                                        dict(T.SEGMENTER_TRAINING, p_flat=0.5, flat_noise=0.0))
    flat = targets == K
    assert 0 < flat.mean() < 1
    np.testing.assert_array_equal(targets[~flat], labels[~flat])
    for i in range(8):
        for c in np.unique(labels[i][flat[i]]):
            region = photos[i][:, (labels[i] == c)]
            assert np.ptp(region, axis=1).max() < 1e-6       # one colour
    np.testing.assert_array_equal(photos[~flat[:, None].repeat(3, 1)],
                                  T.paint(labels, t, a, b)[~flat[:, None].repeat(3, 1)])


def test_training_is_deterministic_per_seed():
    tiny = {"n_train": 48, "epochs": 1, "batch_size": 16, "channels": (4, 4, 4, 4, 4, 4)}
    s1 = T.train_segmenter(3, tiny).state_dict()
    s2 = T.train_segmenter(3, tiny).state_dict()
    s3 = T.train_segmenter(4, tiny).state_dict()
    assert s1.keys() == s2.keys()
    assert all(np.array_equal(s1[k], s2[k]) for k in s1)
    assert not all(np.array_equal(s1[k], s3[k]) for k in s1)


# --- the segmenter's contract ------------------------------------------------------------------
#: a smaller training than the default (about half the data, three epochs: ~25 s on one core);
#: the default's numbers are in the docstring of scenes_segmenter.
SMALL = {"n_train": 1200, "epochs": 3, "lr": 4e-3}


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    return tmp_path_factory.mktemp("minigan-cache")


@pytest.fixture(scope="module")
def seg(cache_root):
    return T.scenes_segmenter(0, root=cache_root, config=SMALL)


@pytest.fixture(scope="module")
def test_set():
    return load_scenes("test", n=100)


@pytest.fixture(scope="module")
def scores(seg, test_set):
    lab, tgt = test_set.labels, test_set.targets
    rows = {"real": tgt, "another render": render(lab, np.random.default_rng(9)),
            "mean": conditional_mean(lab), "median": conditional_median(lab),
            "wrong labels": np.roll(tgt, 1, axis=0)}
    return {name: T.fcn_scores(x, lab, seg) for name, x in rows.items()}


def test_segmenter_ceiling_is_high(scores):
    for name in ("real", "another render"):
        assert scores[name]["pixel_accuracy"] > 0.8, scores[name]
        assert scores[name]["class_iou"] > 0.4, scores[name]


def test_flat_controls_score_low(scores):
    """The conditional mean and median: the best L2 / L1 outputs, flat: no texture, no credit."""
    ceiling = scores["real"]
    for name in ("mean", "median"):
        s = scores[name]
        assert s["pixel_accuracy"] < ceiling["pixel_accuracy"] - 0.5, (name, s)
        assert s["class_accuracy"] < ceiling["class_accuracy"] - 0.3, (name, s)
        assert s["class_iou"] < ceiling["class_iou"] - 0.3, (name, s)


def test_wrong_labels_score_lower(scores):
    ceiling, wrong = scores["real"], scores["wrong labels"]
    assert wrong["pixel_accuracy"] < ceiling["pixel_accuracy"] - 0.12
    assert wrong["class_iou"] < ceiling["class_iou"] - 0.12


def test_segmenter_is_cached_in_a_file(seg, cache_root, test_set):
    files = list((cache_root / "evaluation").glob("scenes-segmenter-*.npz"))
    assert len(files) == 1 and not list((cache_root / "evaluation").glob(".*"))
    loaded = T.load_segmenter(files[0])
    np.testing.assert_array_equal(loaded.predict(test_set.targets[:10]),
                                  seg.predict(test_set.targets[:10]))
    assert loaded.info["test_pixel_accuracy"] == seg.info["test_pixel_accuracy"]
    assert T.scenes_segmenter(0, root=cache_root, config=SMALL) is seg      # kept in-process


def test_a_damaged_cache_file_is_refused(tmp_path):
    p = tmp_path / "bad.npz"
    p.write_bytes(b"not a zip")
    with pytest.raises(ValueError):
        T.load_segmenter(p)
    np.savez(p, weights=np.zeros(3))
    with pytest.raises(ValueError, match="not a minigan Segmenter"):
        T.load_segmenter(p)


def test_segmenter_outputs(seg, test_set):
    x = test_set.targets[:6]
    p = seg.predict_proba(x)
    assert p.shape == (6, K + 1, 32, 32)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(p.argmax(axis=1), seg.predict(x))
    assert seg.features(x).shape == (6, seg.feature_dim)


# --- the report --------------------------------------------------------------------------------
def test_translation_report_rows(seg, test_set):
    ref = load_scenes("train", n=len(test_set)).targets
    lab, tgt = test_set.labels, test_set.targets
    gt = T.translation_report(tgt, tgt, lab, ref, seg)
    assert gt["l1"] == 0 and math.isinf(gt["psnr"]) and gt["ssim"] == pytest.approx(1.0)
    assert gt["hist_mean"] == pytest.approx(1.0) and gt["n"] == len(test_set)
    mean = T.translation_report(conditional_mean(lab), tgt, lab, ref, seg)
    other = T.translation_report(render(lab, np.random.default_rng(9)), tgt, lab, ref, seg)
    # L1 prefers the blurry mean to a sharp, plausible photo; texture-reading metrics do not
    assert mean["l1"] < other["l1"] and mean["psnr"] > other["psnr"]
    assert mean["fcn_pixel_accuracy"] < other["fcn_pixel_accuracy"] - 0.5
    assert mean["hist_mean"] < other["hist_mean"] - 0.3
    assert gt["fid"] < 1e-6 * mean["fid"] + 1e-9
    assert other["fid"] < 0.1 * mean["fid"] and gt["fid_floor"] < 0.1 * mean["fid"]
    table = T.format_translation_table({"ground truth": gt, "conditional mean": mean})
    assert "conditional mean" in table and "inf" in table and "FCN IoU" in table
    with pytest.raises(ValueError, match="same shape"):
        T.translation_report(tgt[:5], tgt, lab, ref, seg)
