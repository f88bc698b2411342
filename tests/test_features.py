"""Tests of minigan.evaluation.features: the CNN classifier whose penultimate layer is FID's feature space."""
from pathlib import Path

import numpy as np
import pytest

from minigan import backend
from minigan.data import ImageDataset, load_digits
from minigan.evaluation.features import Classifier, digits_feature_net, load_classifier, train_classifier
from minigan.evaluation.metrics import classifier_metrics

REAL = Path("/work/shared/data/mnist")
to_np = backend.to_numpy


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These networks multiply small matrices, where threads only add overhead; on a shared,
    busy machine spinning BLAS / numba threads made training 10x slower. One thread each."""
    import numba
    from threadpoolctl import threadpool_limits
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    with threadpool_limits(1):
        yield
    numba.set_num_threads(old)


@pytest.fixture(scope="module")
def net():
    return digits_feature_net(seed=0)


@pytest.fixture(scope="module")
def digits_test():
    return load_digits("test", seed=0)


def small_digits(n=200):
    ds = load_digits("train", seed=0)
    return ImageDataset(ds.images[:n], ds.labels[:n], "digits-small", ds.classes)


@pytest.mark.quality
def test_digits_classifier_is_accurate(net, digits_test):
    acc = net.accuracy(digits_test)
    assert acc > 0.95, f"test accuracy {acc:.4f}"
    assert net.info["test_accuracy"] == acc
    assert net.info["train_accuracy"] > 0.97
    assert net.info["loss"][-1] < net.info["loss"][0] / 5             # it learned
    assert digits_feature_net(seed=0) is net                           # trained once per process


def test_features_predict_and_proba(net, digits_test):
    x = digits_test.images[:37]
    f = net.features(x)
    assert f.shape == (37, net.feature_dim) and f.dtype == np.float64
    assert np.isfinite(f).all() and f.std() > 0
    np.testing.assert_allclose(f, to_np(net.body.forward(x)[0]), rtol=1e-6)
    np.testing.assert_allclose(net(x), f)                              # a feature_fn itself
    np.testing.assert_allclose(net.features(x, batch_size=5), f, rtol=1e-5, atol=1e-5)  # float32
    p = net.predict_proba(x)
    assert p.shape == (37, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(net.predict(x), p.argmax(axis=1))
    np.testing.assert_array_equal(net.predict(to_np(x).reshape(37, 64)), net.predict(x))   # flat
    np.testing.assert_allclose(net.features(to_np(x).astype(np.float64)), f, rtol=1e-5, atol=1e-6)


def test_bad_inputs_are_rejected(net):
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 1, 8, 8\)"):
        net.features(np.zeros((3, 1, 9, 9), np.float32))
    with pytest.raises(ValueError, match="floating-point"):
        net.features(np.zeros((3, 1, 8, 8), np.int64))
    with pytest.raises(ValueError, match="N = 0"):
        net.features(np.zeros((0, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="epochs"):
        train_classifier(small_digits(), epochs=0)
    with pytest.raises(ValueError, match="at least 4x4"):
        Classifier((1, 3, 3), "01")


@pytest.mark.quality
def test_usable_as_the_classifier_of_classifier_metrics(net, digits_test):
    m = classifier_metrics(digits_test.images, net, 10)
    assert m["classes_covered"] == 10 and m["confidence"] > 0.9 and m["class_kl"] < 0.05


def test_training_is_deterministic_and_moves_every_parameter():
    ds = small_digits()
    fresh = Classifier(ds.image_shape, ds.classes, seed=3)
    a = train_classifier(ds, epochs=1, seed=3)
    b = train_classifier(ds, epochs=1, seed=3)
    c = train_classifier(ds, epochs=1, seed=4)
    sa, sb, sc, s0 = a.state_dict(), b.state_dict(), c.state_dict(), fresh.state_dict()
    assert sa.keys() == s0.keys() and len(sa) == 8                    # 3 conv/linear + head, w & b
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k])
        assert not np.array_equal(sa[k], s0[k]), f"{k} never moved"
        assert not np.array_equal(sa[k], sc[k])


def test_save_and_load_round_trip(net, digits_test, tmp_path):
    path = tmp_path / "digits.npz"
    net.save(path)
    back = load_classifier(path)
    assert (back.image_shape, back.classes, back.feature_dim, back.width) == \
        (net.image_shape, net.classes, net.feature_dim, net.width)
    assert back.info == net.info
    np.testing.assert_array_equal(back.features(digits_test.images), net.features(digits_test.images))
    assert [p.name for p in tmp_path.iterdir()] == ["digits.npz"]      # no temp file left
    from minigan.fileio import file_mode
    assert path.stat().st_mode & 0o777 == file_mode()                  # not mkstemp's 0600
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a minigan Classifier"):
        load_classifier(tmp_path / "other.npz")


@pytest.mark.quality
def test_trains_on_28x28_images():
    """Two classes told apart by where a bright bar is: learnable in two epochs."""
    rng = np.random.default_rng(0)
    n = 64
    x = np.full((n, 1, 28, 28), -1.0, np.float32) + 0.2 * rng.random((n, 1, 28, 28), np.float32)
    y = np.arange(n) % 2
    for i in range(n):
        col = rng.integers(2, 10) if y[i] == 0 else rng.integers(18, 26)
        x[i, 0, 4:24, col:col + 2] = 1.0
    ds = ImageDataset(x, y.astype(np.int64), "bars", ("left", "right"))
    clf = train_classifier(ds, epochs=3, seed=0, batch_size=16, feature_dim=32)
    assert clf.features(x).shape == (n, 32)
    assert clf.accuracy(ds) == 1.0


@pytest.mark.quality
@pytest.mark.skipif(not (REAL / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="real MNIST test files not in /work/shared/data/mnist")
def test_learns_real_mnist_quickly(tmp_path):
    """On 2,000 real MNIST digits, two epochs already give a useful classifier."""
    import shutil
    from minigan.data import load_mnist
    (tmp_path / "mnist").mkdir()
    for fn in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(REAL / fn, tmp_path / "mnist" / fn)
    ds = load_mnist("test", root=tmp_path, download=False)
    train = ImageDataset(ds.images[:2000], ds.labels[:2000], "mnist-a", ds.classes)
    held = ImageDataset(ds.images[-1000:], ds.labels[-1000:], "mnist-b", ds.classes)
    clf = train_classifier(train, epochs=2, seed=0, batch_size=32)
    assert clf.accuracy(held) > 0.85, clf.accuracy(held)
