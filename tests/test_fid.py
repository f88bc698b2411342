"""Tests of the image-quality metrics: Fréchet distance, FID, k-NN precision/recall."""
import numpy as np
import pytest

from minigan.data import load_digits
from minigan.evaluation.metrics import (feature_statistics, fid, format_image_quality, frechet_distance,
                             image_quality, precision_recall)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small matrices: one BLAS / numba thread is faster, and robust on a busy shared machine."""
    import numba
    from threadpoolctl import threadpool_limits
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    with threadpool_limits(1):
        yield
    numba.set_num_threads(old)


def random_cov(rng, F, rank=None):
    A = rng.standard_normal((F, rank or F))
    return A @ A.T + (0.1 * np.eye(F) if rank is None else 0)


# ----------------------------------------------------------------------------- Fréchet distance
def test_identical_gaussians_are_at_distance_zero(rng):
    mu, S = rng.standard_normal(6), random_cov(rng, 6)
    assert abs(frechet_distance(mu, S, mu, S)) < 1e-8


def test_one_dimensional_closed_form():
    # d² = (m1 − m2)² + (s1 − s2)² for N(m1, s1²) and N(m2, s2²)
    for m1, s1, m2, s2 in [(0.0, 1.0, 0.0, 2.0), (1.5, 0.3, -2.0, 1.7), (3.0, 2.0, 3.0, 2.0)]:
        expected = (m1 - m2) ** 2 + (s1 - s2) ** 2
        assert frechet_distance(m1, s1 ** 2, m2, s2 ** 2) == pytest.approx(expected, abs=1e-10)
        assert frechet_distance([m1], [[s1 ** 2]], [m2], [[s2 ** 2]]) == pytest.approx(expected, abs=1e-10)


def test_diagonal_closed_form(rng):
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    s1, s2 = rng.uniform(0.2, 3, 5), rng.uniform(0.2, 3, 5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
    got = frechet_distance(mu1, np.diag(s1 ** 2), mu2, np.diag(s2 ** 2))
    assert got == pytest.approx(expected, rel=1e-10)


def test_general_case_against_the_symmetric_form(rng):
    # tr (S1 S2)^{1/2} = tr (S1^{1/2} S2 S1^{1/2})^{1/2}: a route with symmetric matrices only
    mu1, mu2 = rng.standard_normal(7), rng.standard_normal(7)
    S1, S2 = random_cov(rng, 7), random_cov(rng, 7)
    w, V = np.linalg.eigh(S1)
    r1 = V @ np.diag(np.sqrt(w)) @ V.T
    tr_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ S2 @ r1), 0, None)))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(S1) + np.trace(S2) - 2 * tr_sqrt
    assert frechet_distance(mu1, S1, mu2, S2) == pytest.approx(expected, rel=1e-9)


def test_symmetric_and_translation_adds_squared_shift(rng):
    mu1, mu2 = rng.standard_normal(4), rng.standard_normal(4)
    S1, S2 = random_cov(rng, 4), random_cov(rng, 4)
    d = frechet_distance(mu1, S1, mu2, S2)
    assert frechet_distance(mu2, S2, mu1, S1) == pytest.approx(d, rel=1e-9)
    delta = np.array([0.5, -2.0, 1.0, 3.0])
    base = frechet_distance(mu1, S1, mu1, S2)                 # same means
    assert frechet_distance(mu1 + delta, S1, mu1, S2) == pytest.approx(base + delta @ delta, rel=1e-9)
    assert d > 0


def test_singular_covariances_are_handled(rng):
    """F > N makes the covariances singular, as with few samples: the reference code's eps
    retry and imaginary-part handling keep the answer finite and right."""
    S = random_cov(rng, 8, rank=2)
    mu = rng.standard_normal(8)
    assert abs(frechet_distance(mu, S, mu, S)) < 1e-4
    shifted = frechet_distance(mu + 1.0, S, mu, S)
    assert shifted == pytest.approx(8.0, abs=1e-3)


def test_bad_shapes_are_rejected(rng):
    with pytest.raises(ValueError, match="frechet_distance"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# ----------------------------------------------------------------------------- FID on features
def test_feature_statistics_and_fid_on_identity_features(rng):
    a = rng.standard_normal((400, 3)) * [1.0, 2.0, 0.5] + [1.0, 0.0, 0.0]
    b = rng.standard_normal((300, 3))
    mu, S = feature_statistics(a)
    np.testing.assert_allclose(mu, a.mean(0))
    np.testing.assert_allclose(S, np.cov(a.T))
    expected = frechet_distance(*feature_statistics(a), *feature_statistics(b))
    assert fid(a, b, lambda x: x) == pytest.approx(expected)
    assert fid(a, a, lambda x: x) == pytest.approx(0.0, abs=1e-9)
    # population value: ||(1,0,0)||² + (1-1)² + (2-1)² + (0.5-1)² = 2.25; samples land near it
    assert fid(a, b, lambda x: x) == pytest.approx(2.25, abs=0.5)


def test_fid_rejects_non_finite_features(rng):
    a = rng.standard_normal((10, 2))
    bad = a.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fid(a, bad, lambda x: x)
    with pytest.raises(ValueError, match="N >= 2"):
        fid(a, a[:1], lambda x: x)
    with pytest.raises(ValueError, match="callable"):
        fid(a, a, feature_fn=3)


# ----------------------------------------------------------------------------- precision / recall
def naive_precision_recall(real, fake, k):
    def radii(x):
        d = np.linalg.norm(x[:, None] - x[None], axis=2)
        return np.sort(d, axis=1)[:, k]
    def share(q, ref, r):
        d = np.linalg.norm(q[:, None] - ref[None], axis=2)
        return float(np.mean([(d[i] <= r).any() for i in range(len(q))]))
    return share(fake, real, radii(real)), share(real, fake, radii(fake))


def test_precision_recall_of_identical_sets(rng):
    x = rng.standard_normal((50, 4))
    assert precision_recall(x, x.copy(), k=3) == {"precision": 1.0, "recall": 1.0}


def test_precision_recall_of_far_apart_sets(rng):
    real = rng.standard_normal((60, 4))
    fake = rng.standard_normal((40, 4)) + 100.0
    assert precision_recall(real, fake) == {"precision": 0.0, "recall": 0.0}


def test_mode_dropping_keeps_precision_and_loses_recall(rng):
    centers = 20.0 * rng.standard_normal((10, 2))
    real = centers[np.arange(500) % 10] + rng.standard_normal((500, 2))
    fake = centers[np.arange(500) % 3] + rng.standard_normal((500, 2))     # 3 modes of 10
    pr = precision_recall(real, fake, k=3)
    assert pr["precision"] > 0.9
    assert 0.2 < pr["recall"] < 0.4
    # and the other failure: samples everywhere (low precision), data covered (high recall)
    junk = rng.uniform(-60, 60, size=(500, 2))
    pr = precision_recall(real, junk, k=3)
    assert pr["precision"] < 0.3 and pr["recall"] > 0.5


@pytest.mark.parametrize("k", [1, 3, 5])
def test_precision_recall_matches_a_naive_implementation(rng, k):
    real = rng.standard_normal((37, 3))
    fake = 0.7 * rng.standard_normal((23, 3)) + 0.8
    p, r = naive_precision_recall(real, fake, k)
    got = precision_recall(real, fake, k=k, batch=7)             # batching must not matter
    assert got == {"precision": pytest.approx(p), "recall": pytest.approx(r)}
    assert 0 < p < 1 and 0 < r < 1


def test_precision_recall_checks_its_arguments(rng):
    x = rng.standard_normal((5, 2))
    with pytest.raises(ValueError, match="more than k"):
        precision_recall(x, x[:3], k=3)
    with pytest.raises(ValueError, match="differ in dimension"):
        precision_recall(x, rng.standard_normal((5, 3)), k=1)
    with pytest.raises(ValueError, match="k must be"):
        precision_recall(x, x, k=0)


# ----------------------------------------------------------------------------- on real digits
@pytest.fixture(scope="module")
def digits():
    from minigan.evaluation.features import digits_feature_net
    return digits_feature_net(seed=0), load_digits("train", seed=0), load_digits("test", seed=0)


@pytest.mark.quality
def test_image_quality_on_digits(digits):
    net, train, test = digits
    real = image_quality(train.images, train.images, test.images, net)
    assert real["fid"] == real["fid_floor"]                   # the training set is its own floor
    assert 0 < real["fid_floor"] < 3.0
    assert real["precision"] > 0.8 and real["recall"] > 0.8
    assert (real["n_fake"], real["n_train"], real["n_test"]) == (len(train), len(train), len(test))
    assert "FID" in format_image_quality(real)

    labels = np.asarray(train.labels)
    dropped = image_quality(train.images[labels < 5], train.images, test.images, net)
    assert dropped["fid"] > 10 * real["fid_floor"]
    assert dropped["precision"] > 0.8                         # what it makes looks real ...
    assert dropped["recall"] < real["recall"] - 0.25           # ... but half the digits are gone

    rng = np.random.default_rng(0)
    noise = rng.uniform(-1, 1, size=train.images.shape).astype(np.float32)
    junk = image_quality(noise, train.images, test.images, net)
    assert junk["fid"] > 30 * real["fid_floor"] and junk["precision"] < 0.5
