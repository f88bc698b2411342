"""`minigan train dcgan --data mnist`: training, sampling and the offline error, on small fake
MNIST files that the tests write into a temporary cache folder ($MINIGAN_DATA). No test touches
the network: the downloader is replaced by one that fails as an offline machine does."""
import gzip
import hashlib
import json
import struct
import urllib.error

import numpy as np
import pytest

from minigan.cli import main
from minigan.data import mnist
from minigan.data.mnist import SOURCES, Source
from minigan.evaluation import features
from minigan.presets import PRESETS, preset
from minigan.train import read_checkpoint


def idx_gz(array):
    a = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, a.ndim]) + struct.pack(">" + "I" * a.ndim, *a.shape)
    return gzip.compress(header + a.tobytes(), mtime=0)


def offline(url, timeout=60.0):
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder as $MINIGAN_DATA, an offline downloader, and a tiny feature net
    (a few steps: the real one trains for a minute)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("MINIGAN_DATA", str(folder))
    monkeypatch.setattr(mnist, "_open_url", offline)
    monkeypatch.setattr(features, "MNIST_NET_STEPS", 2)
    return folder


@pytest.fixture
def fake_mnist(cache, monkeypatch):
    """Small MNIST files (16 train, 8 test images) in the cache, registered with their MD5s."""
    rng = np.random.default_rng(3)
    md5 = {}
    (cache / "mnist").mkdir(parents=True)
    for split, n in (("train", 16), ("test", 8)):
        img_fn, lab_fn = SOURCES["mnist"].files[split]
        for fn, array in ((img_fn, rng.integers(0, 256, (n, 28, 28))),
                          (lab_fn, np.arange(n) % 10)):
            data = idx_gz(array)
            (cache / "mnist" / fn).write_bytes(data)
            md5[fn] = hashlib.md5(data).hexdigest()
    s = SOURCES["mnist"]
    monkeypatch.setitem(SOURCES, "mnist", Source(s.name, s.mirrors, s.files, md5, s.classes))
    return cache


def test_the_mnist_presets_fit_the_images():
    for data in ("mnist", "fashion-mnist"):
        assert tuple(preset("dcgan", data)["model"]["data_shape"]) == (1, 28, 28)
    assert PRESETS["dcgan"]["mnist"] == PRESETS["dcgan"]["fashion-mnist"]


def test_train_dcgan_on_mnist_then_sample_without_the_data(fake_mnist, tmp_path, capsys,
                                                           monkeypatch):
    out = tmp_path / "run"
    assert main(["train", "dcgan", "--data", "mnist", "--steps", "2", "--batch-size", "4",
                 "--out", str(out), "--quiet"]) == 0
    for name in ("checkpoint.npz", "samples.png", "metrics.json", "losses.png", "run.json"):
        assert (out / name).is_file(), name
    meta, _ = read_checkpoint(out)
    assert meta["run"]["data"] == "mnist" and meta["step"] == 2
    assert meta["config"]["data_shape"] == [1, 28, 28]
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"fid", "fid_floor", "fid_ratio", "precision", "recall"} <= set(metrics)
    assert metrics["n_samples"] == 16                      # as many as the training images
    assert (fake_mnist / "mnist" / "feature-net-seed0.npz").is_file()   # trained once, cached
    # sampling rebuilds the model from the checkpoint alone: no data needed
    monkeypatch.setenv("MINIGAN_DATA", str(tmp_path / "empty"))
    capsys.readouterr()
    png, npy = tmp_path / "grid.png", tmp_path / "x.npy"
    assert main(["sample", str(out), "--n", "9", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["sample", str(out), "--n", "5", "--out", str(npy)]) == 0
    x = np.load(npy)
    assert x.shape == (5, 1, 28, 28) and np.abs(x).max() <= 1
    assert not (tmp_path / "empty").exists()


def test_resume_on_mnist(fake_mnist, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--data", "mnist", "--batch-size", "4", "--quiet", "--sample-every", "0"]
    assert main(["train", "dcgan", *common, "--steps", "3", "--out", str(a)]) == 0
    assert main(["train", "dcgan", *common, "--steps", "2", "--out", str(b)]) == 0
    assert main(["train", "--resume", str(b), "--steps", "3", "--quiet"]) == 0
    _, sa = read_checkpoint(a)
    _, sb = read_checkpoint(b)
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("data", ["mnist", "fashion-mnist"])
def test_offline_without_the_files_is_one_clear_paragraph(cache, tmp_path, capsys, data):
    out = tmp_path / "run"
    assert main(["train", "dcgan", "--data", data, "--steps", "2", "--out", str(out),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("minigan: error:")]
    assert len(lines) == 1 and "Traceback" not in err
    msg = lines[0]
    folder = cache / data
    assert str(folder) in msg                                          # the cache folder
    assert "train-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert f"downloading {SOURCES[data].mirrors[0]}train-images-idx3-ubyte.gz failed" in msg
    assert "Temporary failure in name resolution" in msg               # why
    assert "When online" in msg and "$MINIGAN_DATA" in msg and "by hand" in msg
    assert not out.exists()                                            # nothing left behind


def test_a_cache_folder_that_is_a_file_is_a_clear_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("MINIGAN_DATA", str(tmp_path / "file"))
    monkeypatch.setattr(mnist, "_open_url", offline)
    assert main(["train", "dcgan", "--data", "mnist", "--steps", "1",
                 "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "is a file, not a folder" in err
