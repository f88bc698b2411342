"""Tests of minigan.data.scenes: the procedural (label map, photo) pairs of the Pix2Pix chapter.

What must hold: the dataset is a pure function of its seed (an example regenerates alone), the
splits are disjoint, every class and every colour mode occurs, the photos of one label map are
genuinely multimodal, and the conditional mean and median are the exact statistics they claim
to be (checked against many renders). No timing thresholds.
"""
import numpy as np
import pytest

from minigan import backend
from minigan.data import DataLoader, PairedDataset, load_scenes
from minigan.data import scenes
from minigan.data.scenes import (CLASSES, COLOUR_MODES, PALETTE, SPLIT_SIZES, Style, colorize,
                                 conditional_mean, conditional_median, decode_labels,
                                 encode_labels, make_example, multimodality_report, one_hot,
                                 render, sample_layout, sample_style)

to_np = backend.to_numpy
K = len(CLASSES)


@pytest.fixture(scope="module")
def train():
    return load_scenes("train")


@pytest.fixture(scope="module")
def test_split():
    return load_scenes("test")


@pytest.fixture(scope="module")
def busy_map(train):
    """A training label map in which every class occurs."""
    labels = to_np(train.labels)
    for lab in labels:
        if len(np.unique(lab)) == K:
            return lab
    raise AssertionError("no training map has every class")


@pytest.fixture(scope="module")
def many_renders(busy_map):
    """2000 renders of one label map, each with its own style."""
    return render(np.broadcast_to(busy_map, (2000, *busy_map.shape)), np.random.default_rng(11))


# ----------------------------------------------------------------------------- shapes and ranges
def test_shapes_dtypes_and_ranges(train, test_split):
    assert isinstance(train, PairedDataset)
    assert len(train) == SPLIT_SIZES["train"] == 2000
    assert len(test_split) == SPLIT_SIZES["test"] == 200
    x, y, lab = to_np(train.inputs), to_np(train.targets), to_np(train.labels)
    assert x.shape == (2000, K, 32, 32) and x.dtype == np.float32
    assert y.shape == (2000, 3, 32, 32) and y.dtype == np.float32
    assert lab.shape == (2000, 32, 32) and lab.dtype == np.int64
    assert set(np.unique(x)) == {-1.0, 1.0}
    np.testing.assert_array_equal((x == 1).sum(axis=1), 1)            # one class per pixel
    np.testing.assert_array_equal(decode_labels(x), lab)
    assert -1.0 <= y.min() and y.max() <= 1.0 and y.std() > 0.2
    assert train.input_shape == (K, 32, 32) and train.target_shape == (3, 32, 32)
    assert train.classes == CLASSES == ("sky", "ground", "building", "window", "door", "tree")
    assert train.palette.shape == (K, 3) and train.palette.dtype == np.uint8
    assert len({tuple(c) for c in PALETTE}) == K                       # distinct colours
    assert train.direction == "labels->photo" and train.encoding == "onehot"
    assert train.name == "scenes-train" and test_split.name == "scenes-test"
    assert train.num_classes == K and "scenes-train" in repr(train)


def test_rgb_encoding_and_the_other_direction():
    onehot = load_scenes("test", n=12)
    rgb = load_scenes("test", n=12, encoding="rgb")
    back = load_scenes("test", n=12, direction="photo->labels")
    lab = to_np(onehot.labels)
    assert rgb.input_shape == (3, 32, 32)
    np.testing.assert_array_equal(to_np(rgb.inputs), colorize(lab))
    np.testing.assert_array_equal(decode_labels(to_np(rgb.inputs), "rgb"), lab)
    np.testing.assert_array_equal(to_np(rgb.targets), to_np(onehot.targets))
    assert back.direction == "photo->labels"
    np.testing.assert_array_equal(to_np(back.inputs), to_np(onehot.targets))
    np.testing.assert_array_equal(to_np(back.targets), to_np(onehot.inputs))
    np.testing.assert_array_equal(to_np(back.labels), lab)


def test_label_codings():
    lab = np.array([[0, 1], [5, 3]])
    hot = one_hot(lab)
    assert hot.shape == (K, 2, 2) and hot.dtype == np.float32
    assert hot[5, 1, 0] == 1 and hot[0, 1, 0] == -1 and (hot == 1).sum() == 4
    pic = colorize(lab)
    assert pic.shape == (3, 2, 2) and pic.dtype == np.float32
    np.testing.assert_allclose(pic[:, 1, 1], PALETTE[3] / 127.5 - 1)
    assert colorize(np.zeros((4, 5, 5), int)).shape == (4, 3, 5, 5)
    np.testing.assert_array_equal(encode_labels(lab, "rgb"), pic)
    # decoding is robust to noise, as a generator's output needs
    noisy = pic + np.random.default_rng(0).normal(0, 0.05, pic.shape).astype(np.float32)
    np.testing.assert_array_equal(decode_labels(noisy, "rgb"), lab)
    np.testing.assert_array_equal(decode_labels(hot * 0.3), lab)


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_bytes_other_seed_differs():
    a, b = load_scenes("test", n=20), load_scenes("test", n=20)
    for field in ("inputs", "targets", "labels"):
        assert to_np(getattr(a, field)).tobytes() == to_np(getattr(b, field)).tobytes()
    c = load_scenes("test", n=20, seed=1)
    assert not np.array_equal(to_np(a.labels), to_np(c.labels))
    assert not np.array_equal(to_np(a.targets), to_np(c.targets))


def test_an_example_regenerates_alone_and_n_extends_the_set():
    ds = load_scenes("train", n=30)
    lab, photo, style = make_example(17, "train")
    np.testing.assert_array_equal(lab, to_np(ds.labels)[17])
    assert photo.tobytes() == to_np(ds.targets)[17].tobytes()
    np.testing.assert_array_equal(render(lab, style), photo)
    small = load_scenes("train", n=5)
    np.testing.assert_array_equal(to_np(small.targets), to_np(ds.targets)[:5])
    # the layout and the style come from separate streams: the same scene at 64 pixels has the
    # same style (colour modes and phases)
    lab64, photo64, style64 = make_example(17, "train", size=64)
    assert lab64.shape == (64, 64) and photo64.shape == (3, 64, 64)
    assert style64.modes == style.modes and np.array_equal(style64.phases, style.phases)
    assert set(np.unique(lab64)) == set(np.unique(lab))


def test_render_is_a_function_of_its_style_or_generator(busy_map):
    style = sample_style(np.random.default_rng(5))
    np.testing.assert_array_equal(render(busy_map, style), render(busy_map, style))
    batch = np.stack([busy_map, busy_map[::-1]])
    one_by_one = [render(m, r) for r in [np.random.default_rng(8)] for m in batch]
    np.testing.assert_array_equal(render(batch, np.random.default_rng(8)), np.stack(one_by_one))
    assert set(style.describe()) == set(CLASSES)
    assert style.describe()["building"] in {m[0] for m in COLOUR_MODES[2]}


def test_layouts_are_a_function_of_the_generator():
    a = sample_layout(np.random.default_rng(3))
    np.testing.assert_array_equal(a, sample_layout(np.random.default_rng(3)))
    assert a.shape == (32, 32) and a.dtype == np.int64
    assert a[0, 0] in (0, 2, 5) and a[-1, 0] in (1, 5)     # sky or a building above; ground below


# ----------------------------------------------------------------------------- splits and coverage
def test_the_splits_share_no_label_map(train, test_split):
    seen = {m.tobytes() for m in to_np(train.labels)}
    assert len(seen) == len(train)                                    # no duplicate either
    assert not any(m.tobytes() in seen for m in to_np(test_split.labels))
    # and the two splits come from different random streams: example i differs
    assert not np.array_equal(to_np(train.labels)[:200], to_np(test_split.labels))


def test_every_class_and_every_colour_mode_occurs(train, test_split):
    for ds in (train, test_split):
        lab = to_np(ds.labels)
        present = np.array([(lab == c).any(axis=(1, 2)).mean() for c in range(K)])
        assert (present > 0.5).all(), dict(zip(CLASSES, present))
        assert present[:3].min() == 1.0                               # sky, ground, a building
    counts = np.zeros((K, 3), int)
    for i in range(300):
        for c, m in enumerate(make_example(i, "test")[2].modes):
            counts[c, m] += 1
    for c in range(K):
        k = len(COLOUR_MODES[c])
        assert 2 <= k <= 3
        assert (counts[c, :k] > 300 / k / 2).all(), (CLASSES[c], counts[c])


# ----------------------------------------------------------------------------- multimodality
def test_one_label_map_has_photos_of_different_colours(busy_map, many_renders):
    # the mean colour of a class's pixels varies widely across renders of one map ...
    for c in range(K):
        colours = many_renders[:200][:, :, busy_map == c].mean(axis=2)        # (200, 3)
        spread = np.abs(colours[:, None] - colours[None]).sum(-1).max()
        assert spread > 0.3, (CLASSES[c], spread)
    # ... and tells which colour mode was drawn: it is nearest to that mode's mean colour
    rng = np.random.default_rng(4)
    expected_t = {"waves": 0.5, "glare": 0.5, "speckle": 0.5, "bricks": 4 / 9, "planks": 0.5}
    seen = [set() for _ in range(K)]
    for _ in range(60):
        style = sample_style(rng)
        photo = render(busy_map, style)
        for c in range(K):
            colour = (photo[:, busy_map == c].mean(axis=1) + 1) / 2
            centres = [np.add(a, np.subtract(b, a) * expected_t[scenes.TEXTURES[c]])
                       for _, a, b in COLOUR_MODES[c]]
            nearest = int(np.argmin([np.abs(colour - m).sum() for m in centres]))
            assert nearest == style.modes[c], (CLASSES[c], style.describe())
            seen[c].add(nearest)
    assert all(len(seen[c]) == len(COLOUR_MODES[c]) for c in range(K))


def test_the_average_photo_beats_every_sharp_photo_in_l1(busy_map):
    """The regime of the paper's argument: a blurry average is closer (in L1) to the photos of
    a label map than any single sharp photo of it is; so L1 alone rewards the blur."""
    r = multimodality_report(busy_map, n=48, seed=3)
    assert r["render_to_median"] <= r["render_to_mean"] < r["best_single_render"]
    assert r["best_single_render"] < r["render_to_render"]
    assert r["render_to_mean"] < 0.9 * r["best_single_render"]
    assert r["texture_std"] > 0.05
    # the averages are flat: no texture at all inside a class
    for stat in (conditional_mean(busy_map), conditional_median(busy_map)):
        for c in range(K):
            assert np.ptp(stat[:, busy_map == c], axis=1).max() == 0.0


def test_the_conditional_mean_is_the_average_of_many_renders(busy_map, many_renders):
    exact = conditional_mean(busy_map)
    assert exact.shape == (3, 32, 32) and exact.dtype == np.float32
    average = many_renders.astype(np.float64).mean(axis=0)
    err = np.abs(average - exact)
    assert err.mean() < 0.015 and err.max() < 0.08, (err.mean(), err.max())
    # a constant per class: compare the pooled class averages too
    for c in range(K):
        pooled = many_renders[:, :, busy_map == c].astype(np.float64).mean(axis=(0, 2))
        np.testing.assert_allclose(pooled, exact[:, busy_map == c][:, 0], atol=0.03)
    # a batch of maps gives a batch of means
    assert conditional_mean(np.stack([busy_map] * 2)).shape == (2, 3, 32, 32)


def test_the_conditional_mean_is_exact_mode_by_mode(busy_map):
    """The same check without the noise of drawing the colour modes: average renders with each
    mode held fixed (phases and noise still random), then average over the modes. What is left
    is the texture's noise, small enough to catch a wrong E[t] (4/9 for bricks, not 1/2)."""
    rng = np.random.default_rng(21)
    per_mode = [[] for _ in range(K)]
    for m in range(3):
        modes = tuple(m % len(COLOUR_MODES[c]) for c in range(K))
        total = np.zeros((K, 3))
        for _ in range(200):
            drawn = sample_style(rng)
            photo = render(busy_map, Style(modes, drawn.phases, drawn.noise_seed))
            total += [photo[:, busy_map == c].mean(axis=1) for c in range(K)]
        for c in range(K):
            if m < len(COLOUR_MODES[c]):
                per_mode[c].append(total[c] / 200)
    exact = conditional_mean(busy_map)
    for c in range(K):
        pixels = int((busy_map == c).sum())
        np.testing.assert_allclose(np.mean(per_mode[c], axis=0), exact[:, busy_map == c][:, 0],
                                   atol=max(0.003, 0.06 / np.sqrt(pixels)), err_msg=CLASSES[c])


def test_the_conditional_median_is_a_median(busy_map, many_renders):
    med = conditional_median(busy_map)
    mean = conditional_mean(busy_map)
    for c in range(K):
        mask = busy_map == c
        values = many_renders[:, :, mask].astype(np.float64)                # (n, 3, pixels)
        m = med[:, mask][:, 0].astype(np.float64)
        for ch in range(3):
            v = values[:, ch].ravel()
            below, at_most = (v < m[ch] - 1e-6).mean(), (v <= m[ch] + 1e-6).mean()
            assert below <= 0.5 + 0.03 and at_most >= 0.5 - 0.03, (CLASSES[c], ch, below, at_most)
            # the median is at least as good as the mean in L1, up to sampling noise: where the
            # minimisers form an interval (two-colour textures: door, building) the samples
            # tip the balance either way by about sqrt(1 / 2000) x its width
            l1_med = np.abs(v - m[ch]).mean()
            l1_mean = np.abs(v - mean[ch, mask][0]).mean()
            assert l1_med <= l1_mean + 4e-3, (CLASSES[c], ch, l1_med, l1_mean)


def test_the_statistics_are_greyish_compared_with_the_modes():
    """The mean of a class has less saturation than its most saturated colour mode."""
    mean, _ = scenes._class_statistics()
    for c in range(K):
        mode_colours = [np.add(a, b) / 2 for _, a, b in COLOUR_MODES[c]]
        saturation = [np.ptp(col) for col in mode_colours]
        assert np.ptp(mean[c]) < max(saturation), CLASSES[c]


# ----------------------------------------------------------------------------- batches
def test_batches_are_input_target_pairs():
    ds = load_scenes("test", n=40)
    loader = ds.loader(batch_size=8, seed=3)
    assert isinstance(loader, DataLoader) and len(loader) == 5
    x, y = loader.batch_at(7)
    idx = loader.indices_at(7)
    np.testing.assert_array_equal(to_np(x), to_np(ds.inputs)[idx])
    np.testing.assert_array_equal(to_np(y), to_np(ds.targets)[idx])
    x, y, lab = ds.loader(batch_size=8, seed=3, with_labels=True).batch_at(7)
    np.testing.assert_array_equal(to_np(lab), to_np(ds.labels)[idx])
    # exactly resumable, as every minigan stream
    first = [loader.next() for _ in range(3)]
    state = loader.state_dict()
    after = loader.next()
    again = ds.loader(batch_size=8)
    again.load_state_dict(state)
    np.testing.assert_array_equal(to_np(again.next()[1]), to_np(after[1]))
    assert len(first) == 3


# ----------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("kwargs,match", [
    ({"split": "val"}, "split"), ({"size": 8}, "size"), ({"seed": -1}, "seed"),
    ({"n": 0}, "n must"), ({"encoding": "ids"}, "encoding"), ({"direction": "AtoB"}, "direction")])
def test_load_scenes_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_scenes(**kwargs)


def test_render_rejects_bad_labels_and_generators(busy_map):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="class ids must be in 0..5"):
        render(np.full((32, 32), 6), rng)
    with pytest.raises(ValueError, match="integer class ids"):
        render(np.zeros((32, 32)), rng)
    with pytest.raises(ValueError, match="square"):
        render(np.zeros((32, 16), int), rng)
    with pytest.raises(ValueError, match="Generator or a Style"):
        render(busy_map, 0)
    with pytest.raises(ValueError, match="shape"):
        conditional_mean(np.zeros(5, int))
    assert isinstance(sample_style(rng), Style)
    with pytest.raises(ValueError, match="one mode per class"):
        Style((0, 0, 0, 2, 0, 0), np.zeros((K, 2)))                  # windows have 2 modes
    with pytest.raises(ValueError, match="phases"):
        Style((0,) * K, np.zeros(K))
