"""Tests of minigan.data: toy mixtures, digits, and the resumable batch streams."""
import itertools

import numpy as np
import pytest

from minigan import backend
from minigan.data import (DATASETS, TOY_DATASETS, DataLoader, GaussianMixture, ImageDataset,
                          ToySampler, grid25, grid_centers, load_dataset, load_digits,
                          make_loader, make_toy, ring8, ring_centers)

to_np = backend.to_numpy


# ----------------------------------------------------------------------------- toy mixtures

def test_ring_centers_are_distinct_and_evenly_spaced():
    c = ring_centers(8, radius=2.0)
    assert c.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 2.0)
    # the linspace(0, 2*pi, 8) trap would put two centres on the same point
    d = np.linalg.norm(c[:, None] - c[None], axis=2) + np.eye(8) * 1e9
    np.testing.assert_allclose(d.min(), 2 * 2.0 * np.sin(np.pi / 8))
    angles = np.mod(np.arctan2(c[:, 1], c[:, 0]), 2 * np.pi)
    np.testing.assert_allclose(np.sort(angles), 2 * np.pi * np.arange(8) / 8, atol=1e-12)


def test_grid_centers_are_the_published_grid():
    c = grid_centers()
    assert c.shape == (25, 2)
    expected = {(float(a), float(b)) for a, b in itertools.product([-4, -2, 0, 2, 4], repeat=2)}
    assert {tuple(map(float, p)) for p in c} == expected
    c3 = grid_centers(side=3, spacing=1.5)
    assert {tuple(map(float, p)) for p in c3} == set(itertools.product([-1.5, 0.0, 1.5], repeat=2))


@pytest.mark.parametrize("bad", [dict(n_modes=0), dict(n_modes=2.5), dict(radius=0.0)])
def test_ring_centers_rejects_bad_arguments(bad):
    with pytest.raises(ValueError):
        ring_centers(**bad)


def test_benchmark_defaults():
    r, g = ring8(), grid25()
    assert (r.name, r.n_modes, r.std) == ("ring8", 8, 0.01)
    np.testing.assert_allclose(np.linalg.norm(r.centers, axis=1), 1.0)
    assert (g.name, g.n_modes, g.std) == ("grid25", 25, 0.05)
    assert np.abs(g.centers).max() == 4.0


def test_mixture_samples_have_the_right_distribution():
    m = GaussianMixture(ring_centers(8, 1.0), std=0.1, name="r")
    n = 16000
    x, modes = m.sample(n, rng=np.random.default_rng(3), return_modes=True)
    x, modes = to_np(x), to_np(modes)
    assert x.dtype == np.float32 and x.shape == (n, 2)
    assert modes.dtype == np.int64 and modes.min() >= 0 and modes.max() < 8
    resid = x - m.centers[modes]
    np.testing.assert_allclose(resid.mean(axis=0), 0.0, atol=0.01)          # ~5 standard errors
    np.testing.assert_allclose(resid.std(axis=0), 0.1, rtol=0.03)
    freq = np.bincount(modes, minlength=8) / n
    np.testing.assert_allclose(freq, 1 / 8, atol=0.015)                       # ~6 standard errors
    # every sample is near its own centre, and nearer to it than to any other
    nearest = np.argmin(np.linalg.norm(x[:, None] - m.centers[None], axis=2), axis=1)
    assert np.mean(nearest == modes) > 0.999


def test_mixture_sampling_is_deterministic_given_seed():
    m = grid25()
    a, b, c = m.sample(50, rng=7), m.sample(50, rng=np.random.default_rng(7)), m.sample(50, rng=8)
    np.testing.assert_array_equal(to_np(a), to_np(b))
    assert not np.array_equal(to_np(a), to_np(c))
    backend.seed(5)
    d = m.sample(10)
    backend.seed(5)
    np.testing.assert_array_equal(to_np(d), to_np(m.sample(10)))
    assert m.sample(0, rng=0).shape == (0, 2)


@pytest.mark.parametrize("centers,std", [(np.zeros((3, 3)), 0.1), (np.zeros((0, 2)), 0.1),
                                         (np.zeros((3, 2)), 0.0), (np.zeros((3, 2)), -1.0),
                                         (np.zeros((3, 2)), "a")])
def test_mixture_rejects_bad_arguments(centers, std):
    with pytest.raises(ValueError):
        GaussianMixture(centers, std)


def test_mixture_sample_rejects_bad_arguments():
    with pytest.raises(ValueError, match="non-negative integer"):
        ring8().sample(-1)
    with pytest.raises(ValueError, match="rng"):
        ring8().sample(3, rng="seed")


def test_make_toy_and_its_error():
    assert set(TOY_DATASETS) == {"ring8", "grid25"}
    m = make_toy("ring8", radius=2.0, std=0.02)
    assert m.std == 0.02 and np.allclose(np.linalg.norm(m.centers, axis=1), 2.0)
    with pytest.raises(ValueError, match=r"'grid25', 'ring8'"):
        make_toy("ring7")


# ----------------------------------------------------------------------------- digits

@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_digits_full_set(digits):
    from sklearn.datasets import load_digits as sk_load

    raw = sk_load()
    imgs, labels = to_np(digits.images), to_np(digits.labels)
    assert isinstance(digits, ImageDataset) and len(digits) == 1797
    assert imgs.shape == (1797, 1, 8, 8) and imgs.dtype == np.float32
    assert labels.shape == (1797,) and labels.dtype == np.int64
    np.testing.assert_array_equal(imgs[:, 0], raw.images / 8.0 - 1.0)   # 0 -> -1, 16 -> 1
    np.testing.assert_array_equal(labels, raw.target)
    assert imgs.min() == -1.0 and imgs.max() == 1.0
    assert digits.classes == tuple("0123456789") and digits.num_classes == 10
    assert digits.image_shape == (1, 8, 8) and digits.name == "digits"
    flat = to_np(digits.flat)
    assert flat.shape == (1797, 64)
    np.testing.assert_array_equal(flat[5], imgs[5].ravel())


def _sorted_rows(a):
    a = np.asarray(a)
    return a[np.lexsort(a.T[::-1])]


def test_digits_split_is_a_stratified_partition(digits):
    tr, te = load_digits("train", test_fraction=0.25, seed=1), load_digits("test", 0.25, seed=1)
    assert (tr.name, te.name) == ("digits-train", "digits-test")
    assert len(tr) + len(te) == 1797 and abs(len(te) - 0.25 * 1797) <= 1
    both = np.concatenate([to_np(tr.flat), to_np(te.flat)])
    np.testing.assert_array_equal(_sorted_rows(both), _sorted_rows(to_np(digits.flat)))
    full_counts = np.bincount(to_np(digits.labels), minlength=10)
    test_counts = np.bincount(to_np(te.labels), minlength=10)
    assert np.all(np.abs(test_counts - 0.25 * full_counts) <= 1)          # stratified


def test_digits_split_is_deterministic():
    a, b, c = load_digits("test", seed=0), load_digits("test", seed=0), load_digits("test", seed=1)
    np.testing.assert_array_equal(to_np(a.images), to_np(b.images))
    assert not np.array_equal(to_np(a.images), to_np(c.images))


@pytest.mark.parametrize("kw", [dict(split="val"), dict(split="train", test_fraction=0.0),
                                dict(split="test", test_fraction=1.0)])
def test_digits_rejects_bad_arguments(kw):
    with pytest.raises(ValueError):
        load_digits(**kw)


def test_image_dataset_validates_shapes():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ImageDataset(np.zeros((4, 8, 8)), np.zeros(4), "x", ("a",))
    with pytest.raises(ValueError, match=r"labels"):
        ImageDataset(np.zeros((4, 1, 8, 8)), np.zeros(3), "x", ("a",))


# ----------------------------------------------------------------------------- DataLoader

def _np_batches(batches):
    return [tuple(to_np(a) for a in b) if isinstance(b, tuple) else to_np(b) for b in batches]


def test_epoch_visits_every_row_once_and_keeps_arrays_aligned():
    x = np.arange(23)
    y = 10 * np.arange(23)
    dl = DataLoader(x, y, batch_size=5, seed=3, drop_last=False)
    assert len(dl) == 5
    batches = _np_batches(list(dl))
    assert len(batches) == 5 and [len(b[0]) for b in batches] == [5, 5, 5, 5, 3]
    for bx, by in batches:
        np.testing.assert_array_equal(by, 10 * bx)
    seen = np.concatenate([b[0] for b in batches])
    np.testing.assert_array_equal(np.sort(seen), x)
    assert not np.array_equal(seen, x)                                     # shuffled


def test_drop_last_and_reshuffling_between_epochs():
    x = np.arange(23)
    dl = DataLoader(x, batch_size=5, seed=0)
    assert len(dl) == 4
    e0 = np.concatenate(_np_batches(dl))
    e1 = np.concatenate(_np_batches(dl))
    assert len(e0) == len(e1) == 20 and len(set(e0)) == 20
    assert not np.array_equal(e0, e1)
    assert dl.epoch == 2 and dl.position == 0
    fixed = DataLoader(x, batch_size=5, shuffle=False)
    np.testing.assert_array_equal(np.concatenate(_np_batches(fixed)), np.arange(20))
    np.testing.assert_array_equal(np.concatenate(_np_batches(fixed)), np.arange(20))


def test_single_array_gives_arrays_and_two_give_tuples():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    b = DataLoader(x, batch_size=2).next()
    assert not isinstance(b, tuple) and b.shape == (2, 2) and b.dtype == np.float32
    b2 = DataLoader(x, np.arange(6), batch_size=2).next()
    assert isinstance(b2, tuple) and len(b2) == 2


def test_loader_is_deterministic_given_seed():
    x = np.arange(50)
    a = _np_batches(DataLoader(x, batch_size=7, seed=4).next() for _ in range(20))
    b = _np_batches(DataLoader(x, batch_size=7, seed=4).next() for _ in range(20))
    c = _np_batches(DataLoader(x, batch_size=7, seed=5).next() for _ in range(20))
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not all(np.array_equal(p, q) for p, q in zip(a, c))


def test_batch_at_is_the_stream():
    dl = DataLoader(np.arange(30), batch_size=4, seed=9, drop_last=False)
    stream = _np_batches(dl.next() for _ in range(25))                    # > 3 epochs
    assert dl.step == 25
    for k in [0, 7, 8, 13, 24]:
        np.testing.assert_array_equal(to_np(dl.batch_at(k)), stream[k])
    assert dl.step == 25                                                   # batch_at is pure


@pytest.mark.parametrize("k", [0, 3, 5, 6, 11])                             # 6 batches per epoch
def test_loader_resumes_exactly(tmp_path, k):
    x, y = np.arange(27, dtype=np.float32), np.arange(27)
    total = 16
    ref = DataLoader(x, y, batch_size=4, seed=2)
    expected = _np_batches(ref.next() for _ in range(total))

    first = DataLoader(x, y, batch_size=4, seed=2)
    for _ in range(k):
        first.next()
    np.savez(tmp_path / "ckpt.npz", **first.state_dict())               # through a file
    state = dict(np.load(tmp_path / "ckpt.npz"))

    resumed = DataLoader(x, y, batch_size=4, seed=123)                     # seed comes from state
    resumed.load_state_dict(state)
    got = _np_batches(resumed.next() for _ in range(total - k))
    for (ex, ey), (gx, gy) in zip(expected[k:], got):
        np.testing.assert_array_equal(ex, gx)
        np.testing.assert_array_equal(ey, gy)


def test_iteration_after_resume_finishes_the_epoch():
    x = np.arange(20)
    dl = DataLoader(x, batch_size=4, seed=0)
    full_epoch = _np_batches(list(DataLoader(x, batch_size=4, seed=0)))
    dl.next(), dl.next()
    rest = _np_batches(list(dl))
    assert len(rest) == 3
    for a, b in zip(rest, full_epoch[2:]):
        np.testing.assert_array_equal(a, b)


def test_load_state_dict_rejects_a_different_stream():
    dl = DataLoader(np.arange(20), batch_size=4)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(np.arange(20), batch_size=5).load_state_dict(dl.state_dict())
    with pytest.raises(ValueError, match="num_examples"):
        DataLoader(np.arange(21), batch_size=4).load_state_dict(dl.state_dict())
    with pytest.raises(ValueError, match="lacks"):
        DataLoader(np.arange(20), batch_size=4).load_state_dict({"step": 3})


@pytest.mark.parametrize("arrays,kw", [
    ((), dict(batch_size=2)),
    ((np.zeros(5), np.zeros(6)), dict(batch_size=2)),
    ((np.zeros(5),), dict(batch_size=0)),
    ((np.zeros(5),), dict(batch_size=6)),                                  # drop_last: no batch
    ((np.zeros(0),), dict(batch_size=1, drop_last=False)),
    ((np.zeros(5),), dict(batch_size=2, seed=-1)),
])
def test_loader_rejects_bad_arguments(arrays, kw):
    with pytest.raises(ValueError):
        DataLoader(*arrays, **kw)


def test_loader_keeps_partial_batch_when_asked():
    dl = DataLoader(np.arange(5), batch_size=6, drop_last=False)
    assert len(dl) == 1 and len(dl.next()) == 5


# ----------------------------------------------------------------------------- ToySampler

def test_toy_sampler_stream_and_resume():
    m = ring8()
    s = ToySampler(m, batch_size=16, seed=1)
    stream = [to_np(s.next()) for _ in range(10)]
    assert stream[0].shape == (16, 2) and stream[0].dtype == np.float32
    assert not np.array_equal(stream[0], stream[1])                        # fresh samples
    np.testing.assert_array_equal(to_np(s.batch_at(4)), stream[4])
    state = ToySampler(m, 16, seed=1)
    for _ in range(6):
        state.next()
    resumed = ToySampler(m, 16, seed=0)
    resumed.load_state_dict(state.state_dict())
    for k in range(6, 10):
        np.testing.assert_array_equal(to_np(resumed.next()), stream[k])
    other = ToySampler(m, 16, seed=2)
    assert not np.array_equal(to_np(other.next()), stream[0])
    with pytest.raises(ValueError, match="batch_size"):
        ToySampler(m, 8).load_state_dict(s.state_dict())


def test_toy_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError):
        ToySampler(np.zeros((3, 2)), 4)
    with pytest.raises(ValueError):
        ToySampler(ring8(), 0)


# ----------------------------------------------------------------------------- registry

def test_load_dataset_and_make_loader():
    assert set(DATASETS) == {"ring8", "grid25", "digits", "mnist", "fashion-mnist"}
    ring = load_dataset("ring8")
    assert isinstance(ring, GaussianMixture) and ring.n_modes == 8
    assert load_dataset("grid25", std=0.1).std == 0.1
    s = make_loader(ring, 32, seed=0)
    assert isinstance(s, ToySampler) and s.next().shape == (32, 2)

    ds = load_dataset("digits", split="test")
    dl = make_loader(ds, 50, with_labels=True, flat=True)
    xb, yb = dl.next()
    assert xb.shape == (50, 64) and yb.shape == (50,) and len(dl) == len(ds) // 50
    ix = dl.indices_at(0)                                                  # labels follow images
    np.testing.assert_array_equal(to_np(yb), to_np(ds.labels)[ix])
    np.testing.assert_array_equal(to_np(xb), to_np(ds.flat)[ix])
    assert make_loader(ds, 8).next().shape == (8, 1, 8, 8)


def test_registry_errors_list_valid_names():
    with pytest.raises(ValueError, match=r"'digits', 'fashion-mnist', 'grid25', 'mnist', 'ring8'"):
        load_dataset("mnist2")
    with pytest.raises(ValueError, match="image datasets"):
        make_loader(ring8(), 8, with_labels=True)
    with pytest.raises(ValueError, match="GaussianMixture or an ImageDataset"):
        make_loader(np.zeros((4, 2)), 2)
