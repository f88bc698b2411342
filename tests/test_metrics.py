"""Tests of minigan.evaluation.metrics: mode coverage, high-quality share and reverse KL on known answers."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigan.data import grid25, ring8, ring_centers
from minigan.evaluation.metrics import assign_to_modes, format_mode_metrics, mode_metrics

CENTERS = ring_centers(8, 1.0)
STD = 0.01


def test_samples_at_five_of_eight_centres():
    x = np.repeat(CENTERS[[0, 2, 3, 5, 7]], 40, axis=0)
    m = mode_metrics(x, CENTERS, STD)
    assert m["modes_covered"] == 5 and m["n_modes"] == 8 and m["n_samples"] == 200
    assert m["high_quality"] == 1.0
    assert math.isclose(m["reverse_kl"], math.log(8 / 5), rel_tol=1e-12)
    np.testing.assert_array_equal(m["counts"], [40, 0, 40, 40, 0, 40, 0, 40])
    np.testing.assert_array_equal(m["covered"], m["counts"] > 0)


def test_uneven_histogram_gives_the_kl_by_hand():
    centers = np.array([[0.0, 0.0], [1.0, 0.0]])
    x = np.array([[0, 0], [0, 0.001], [0.001, 0], [1, 0]], dtype=np.float32)
    m = mode_metrics(x, centers, 0.01)
    q = np.array([0.75, 0.25])
    assert math.isclose(m["reverse_kl"], float(np.sum(q * np.log(q / 0.5))), rel_tol=1e-9)
    assert m["reverse_kl"] > 0


def test_balanced_coverage_has_zero_kl():
    x = np.tile(CENTERS, (10, 1)) + 0.5 * STD
    m = mode_metrics(x, CENTERS, STD)
    assert m["modes_covered"] == 8 and m["reverse_kl"] == 0.0


def test_threshold_is_in_standard_deviations():
    # one sample 2.9 std from centre 0 (high quality), one 3.1 std from centre 1 (not)
    d = np.array([1.0, 0.0])
    x = np.stack([CENTERS[0] + 2.9 * STD * d, CENTERS[1] + 3.1 * STD * d / 1.0])
    m = mode_metrics(x, CENTERS, STD)
    assert m["high_quality"] == 0.5 and m["modes_covered"] == 1
    np.testing.assert_array_equal(np.nonzero(m["counts"])[0], [0])
    assert mode_metrics(x, CENTERS, STD, threshold=3.2)["modes_covered"] == 2
    # the same geometry with twice the std: both are now within 3 std
    assert mode_metrics(x, CENTERS, 2 * STD)["high_quality"] == 1.0


def test_low_quality_samples_do_not_cover_modes_or_enter_kl():
    x = np.concatenate([np.repeat(CENTERS[:2], 10, axis=0),
                        np.repeat(CENTERS[2:3] * 0.5, 30, axis=0)])  # halfway to the origin
    m = mode_metrics(x, CENTERS, STD)
    assert m["modes_covered"] == 2 and math.isclose(m["high_quality"], 20 / 50)
    assert math.isclose(m["reverse_kl"], math.log(8 / 2), rel_tol=1e-12)


def test_min_count():
    x = np.concatenate([np.repeat(CENTERS[:3], 5, axis=0), CENTERS[3:4]])
    assert mode_metrics(x, CENTERS, STD)["modes_covered"] == 4
    assert mode_metrics(x, CENTERS, STD, min_count=2)["modes_covered"] == 3
    assert mode_metrics(x, CENTERS, STD, min_count=6)["modes_covered"] == 0


def test_no_high_quality_sample():
    m = mode_metrics(np.full((10, 2), 50.0), CENTERS, STD)
    assert m["modes_covered"] == 0 and m["high_quality"] == 0.0
    assert m["reverse_kl"] == math.inf


def test_non_finite_samples_count_as_low_quality():
    x = np.concatenate([CENTERS[:1], [[np.nan, 0.0], [np.inf, 1.0]]])
    m = mode_metrics(x, CENTERS, STD)
    assert m["modes_covered"] == 1 and math.isclose(m["high_quality"], 1 / 3)
    nearest, dist = assign_to_modes(x, CENTERS, STD)
    assert np.isnan(dist[1:]).all() and dist[0] == 0.0 and nearest[0] == 0


def test_true_samples_score_as_the_gaussian_says():
    """Samples of the data itself: all modes, and P(||eps|| < 3) = 1 - exp(-9/2) in 2-D."""
    for mix in (ring8(), grid25()):
        x = mix.sample(2500, rng=0)
        m = mode_metrics(x, mix)                                  # a mixture in place of centers
        assert m["modes_covered"] == mix.n_modes
        assert abs(m["high_quality"] - (1 - math.exp(-4.5))) < 0.01
        assert m["reverse_kl"] < 0.02


def test_assign_to_modes_per_mode_std():
    centers = np.array([[0.0, 0.0], [1.0, 0.0]])
    x = np.array([[0.4, 0.0]])
    assert assign_to_modes(x, centers, 1.0)[0][0] == 0
    nearest, dist = assign_to_modes(x, centers, np.array([0.1, 1.0]))   # 4 std vs 0.6 std
    assert nearest[0] == 1 and math.isclose(dist[0], 0.6)


@pytest.mark.parametrize("samples,centers,std", [
    (np.zeros((4, 3)), CENTERS, STD),              # dimension mismatch
    (np.zeros(4), CENTERS, STD),                   # not (n, D)
    (np.zeros((0, 2)), CENTERS, STD),              # no samples
    (np.zeros((4, 2)), CENTERS, None),             # std missing
    (np.zeros((4, 2)), CENTERS, np.ones(3)),       # std per mode of the wrong length
    (np.zeros((4, 2)), CENTERS, 0.0),
    (np.zeros((4, 2)), np.zeros(2), STD),          # centers not (K, D)
])
def test_mode_metrics_validates_inputs(samples, centers, std):
    with pytest.raises(ValueError):
        mode_metrics(samples, centers, std)


def test_mode_metrics_validates_options():
    with pytest.raises(ValueError, match="threshold"):
        mode_metrics(CENTERS, CENTERS, STD, threshold=0)
    with pytest.raises(ValueError, match="min_count"):
        mode_metrics(CENTERS, CENTERS, STD, min_count=0)


def test_format_mode_metrics():
    s = format_mode_metrics(mode_metrics(np.repeat(CENTERS[:5], 2, axis=0), CENTERS, STD))
    assert s.startswith("modes 5/8, high quality 100.0%, reverse KL ")
    assert s.endswith(f"{math.log(8 / 5):.3f}")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 7), min_size=1, max_size=60), st.integers(0, 2**31 - 1))
def test_kl_matches_the_histogram_and_its_bounds(modes, seed):
    """Samples placed near given centres: counts are the histogram; 0 <= KL <= log K; order-free."""
    modes = np.array(modes)
    rng = np.random.default_rng(seed)
    x = CENTERS[modes] + rng.uniform(-1, 1, size=(len(modes), 2)) * STD   # within sqrt(2) std
    m = mode_metrics(x, CENTERS, STD)
    counts = np.bincount(modes, minlength=8)
    np.testing.assert_array_equal(m["counts"], counts)
    q = counts[counts > 0] / counts.sum()
    assert math.isclose(m["reverse_kl"], float(np.sum(q * np.log(8 * q))), abs_tol=1e-12)
    assert -1e-12 <= m["reverse_kl"] <= math.log(8) + 1e-12
    perm = rng.permutation(len(x))
    assert mode_metrics(x[perm], CENTERS, STD)["reverse_kl"] == m["reverse_kl"]
