"""Tests of minigan.data.mnist: IDX parsing, checksums, the cache, downloads from a fake mirror.

No test touches the network: the mirrors are local folders (``file://`` URLs) or a replaced
``_open_url``. The real MNIST test-set files in /work/shared/data/mnist/ are used when present.
"""
import gzip
import hashlib
import io
import os
import shutil
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from minigan import backend
from minigan.data import DATASETS, load_dataset, load_fashion_mnist, load_mnist, mnist, read_idx
from minigan.data.mnist import (SOURCES, ChecksumError, DownloadError, IDXError, Source,
                                cache_dir, md5sum)

REAL = Path("/work/shared/data/mnist")
TRAIN_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


# ----------------------------------------------------------------------------- helpers
def idx_bytes(array, type_code=0x08, dtype=">u1"):
    """The IDX encoding of ``array``: 00 00 type ndim, big-endian uint32 sizes, the data."""
    a = np.asarray(array)
    header = bytes([0, 0, type_code, a.ndim]) + struct.pack(">" + "I" * a.ndim, *a.shape)
    return header + a.astype(dtype).tobytes()


def write(path, data: bytes, gz: bool):
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """A small MNIST-like dataset (12 train, 5 test images of 28x28) served from a local mirror
    folder, registered in place of the real MNIST source (its own MD5s)."""
    rng = np.random.default_rng(7)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    content = {}
    for split, n in (("train", 12), ("test", 5)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        img_fn, lab_fn = SOURCES["mnist"].files[split]
        content[img_fn] = gzip.compress(idx_bytes(images), mtime=0)
        content[lab_fn] = gzip.compress(idx_bytes(labels), mtime=0)
        content[split] = (images, labels)
    for fn, data in content.items():
        if fn.endswith(".gz"):
            (mirror / fn).write_bytes(data)
    source = Source("mnist", (mirror.as_uri() + "/",), SOURCES["mnist"].files,
                    {fn: md5(d) for fn, d in content.items() if fn.endswith(".gz")},
                    SOURCES["mnist"].classes)
    monkeypatch.setitem(SOURCES, "mnist", source)
    return {"mirror": mirror, "content": content, "source": source, "cache": tmp_path / "cache"}


class FakeOpener:
    """Stands in for ``mnist._open_url``: serves ``responses[url]`` in turn (bytes or an
    exception), repeating the last one, and records every URL asked for."""

    def __init__(self, responses):
        self.responses = {u: list(r) for u, r in responses.items()}
        self.calls = []

    def __call__(self, url, timeout=60.0):
        self.calls.append(url)
        queue = self.responses.get(url)
        if not queue:
            raise urllib.error.URLError(f"fake mirror: no such file {url}")
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return io.BytesIO(item)


# ----------------------------------------------------------------------------- canonical MD5s
def test_canonical_md5s():
    assert SOURCES["mnist"].md5 == {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}
    assert SOURCES["fashion-mnist"].md5 == {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}
    for source in SOURCES.values():
        assert set(source.md5) == set(TRAIN_FILES + TEST_FILES)
        assert all(m.startswith(("http://", "https://")) and m.endswith("/") for m in source.mirrors)
    assert SOURCES["mnist"].mirrors == ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                                        "https://storage.googleapis.com/cvdf-datasets/mnist/")


@pytest.mark.skipif(not (REAL / "MD5SUMS").is_file(), reason="no /work/shared/data/mnist/MD5SUMS")
def test_canonical_md5s_agree_with_the_shared_md5sums():
    for line in (REAL / "MD5SUMS").read_text().splitlines():
        digest, name = line.split()
        assert SOURCES["mnist"].md5[name] == digest


# ----------------------------------------------------------------------------- IDX parsing
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip_uint8(tmp_path, rng, gz):
    images = rng.integers(0, 256, size=(3, 5, 4), dtype=np.uint8)   # non-square: order matters
    labels = rng.integers(0, 10, size=3, dtype=np.uint8)
    got = read_idx(write(tmp_path / "im", idx_bytes(images), gz), ndim=3)
    np.testing.assert_array_equal(got, images)
    assert got.dtype == np.uint8 and got.flags.writeable
    np.testing.assert_array_equal(read_idx(write(tmp_path / "lab", idx_bytes(labels), gz), ndim=1),
                                  labels)


@pytest.mark.parametrize("type_code,dtype", [(0x09, ">i1"), (0x0B, ">i2"), (0x0C, ">i4"),
                                             (0x0D, ">f4"), (0x0E, ">f8")])
def test_read_idx_other_types_are_big_endian(tmp_path, type_code, dtype):
    a = np.array([[-3, 1, 100], [7, -128, 0]], dtype=np.float64)
    if type_code in (0x0B, 0x0C):
        a[0, 2] = 1000
    got = read_idx(write(tmp_path / "x", idx_bytes(a, type_code, dtype), gz=False))
    np.testing.assert_array_equal(got, a.astype(dtype))
    assert got.dtype == np.dtype(dtype).newbyteorder("=")


def test_read_idx_is_told_gzip_by_content_not_name(tmp_path):
    a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.testing.assert_array_equal(read_idx(write(tmp_path / "raw.gz", idx_bytes(a), gz=False)), a)
    np.testing.assert_array_equal(read_idx(write(tmp_path / "packed", idx_bytes(a), gz=True)), a)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_rejects_wrong_magic(tmp_path, gz):
    data = idx_bytes(np.zeros((2, 2, 2), np.uint8))
    for bad, name in ((b"\x01" + data[1:], "first"), (data[:2] + b"\x07" + data[3:], "type")):
        path = write(tmp_path / f"bad-{name}", bad, gz)
        with pytest.raises(IDXError, match="magic number") as info:
            read_idx(path)
        assert str(path) in str(info.value)
    png = write(tmp_path / "picture.png", b"\x89PNG\r\n\x1a\n" + bytes(30), gz=False)
    with pytest.raises(IDXError, match="picture.png.*magic"):
        read_idx(png)


def test_read_idx_rejects_wrong_number_of_dimensions(tmp_path):
    labels = write(tmp_path / "labels", idx_bytes(np.zeros(4, np.uint8)), gz=True)
    with pytest.raises(IDXError, match=r"labels: IDX file has 1 dimensions, expected 3"):
        read_idx(labels, ndim=3)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_detects_truncated_and_overlong_data(tmp_path, gz):
    data = idx_bytes(np.ones((4, 3, 3), np.uint8))
    short = write(tmp_path / "short", data[:-5], gz)
    with pytest.raises(IDXError, match=r"short: truncated: header announces shape \(4, 3, 3\)"):
        read_idx(short)
    with pytest.raises(IDXError, match="trailing bytes"):
        read_idx(write(tmp_path / "long", data + b"\x00", gz))
    with pytest.raises(IDXError, match="truncated header"):
        read_idx(write(tmp_path / "header", data[:9], gz))
    with pytest.raises(IDXError, match="too short"):
        read_idx(write(tmp_path / "tiny", data[:3], gz))


def test_read_idx_detects_a_cut_gzip_stream(tmp_path):
    packed = gzip.compress(idx_bytes(np.ones((50, 28, 28), np.uint8)), mtime=0)
    path = tmp_path / "cut.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(IDXError, match="cut.gz: not a valid gzip stream"):
        read_idx(path)


# ----------------------------------------------------------------------------- the cache folder
def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGAN_DATA", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir(tmp_path / "root") == tmp_path / "root"
    assert cache_dir() == tmp_path / "a"
    monkeypatch.delenv("MINIGAN_DATA")
    assert cache_dir() == tmp_path / "b" / "minigan"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == tmp_path / "home" / ".cache" / "minigan"


# ----------------------------------------------------------------------------- loading via a mirror
def test_load_from_a_file_mirror_then_from_the_cache(fake_mnist, monkeypatch):
    cache = fake_mnist["cache"]
    ds = load_mnist("train", root=cache, quiet=True)
    images, labels = fake_mnist["content"]["train"]
    x = backend.to_numpy(ds.images)
    assert x.shape == (12, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0], images / 127.5 - 1, atol=1e-6)
    assert x[0, 0, 0, 0] == -1.0 and x[0, 0, 0, 1] == 1.0
    np.testing.assert_array_equal(backend.to_numpy(ds.labels), labels)
    assert backend.to_numpy(ds.labels).dtype == np.int64
    assert ds.name == "mnist-train" and ds.classes == tuple("0123456789")
    for fn in TRAIN_FILES:
        assert md5sum(cache / "mnist" / fn) == fake_mnist["source"].md5[fn]
    assert sorted(os.listdir(cache / "mnist")) == sorted(TRAIN_FILES)   # no leftover temp files

    test = load_dataset("mnist", split="test", root=cache, quiet=True)
    assert len(test) == 5 and test.name == "mnist-test"

    # Cached now: loading again must not go to the network at all.
    opener = FakeOpener({})
    monkeypatch.setattr(mnist, "_open_url", opener)
    again = load_mnist("train", root=cache, download=True, quiet=True)
    np.testing.assert_array_equal(backend.to_numpy(again.images), x)
    assert len(load_mnist("test", root=cache, download=False)) == 5
    assert opener.calls == []


def test_env_var_picks_the_cache(fake_mnist, monkeypatch):
    monkeypatch.setenv("MINIGAN_DATA", str(fake_mnist["cache"]))
    load_mnist("test", quiet=True)
    assert sorted(os.listdir(fake_mnist["cache"] / "mnist")) == sorted(TEST_FILES)


def test_a_corrupt_download_is_fetched_again(fake_mnist, monkeypatch):
    base = fake_mnist["source"].mirrors[0]
    content = fake_mnist["content"]
    img, lab = TEST_FILES
    opener = FakeOpener({base + img: [content[img][:-100], content[img]],     # cut short, then good
                         base + lab: [b"garbage" + content[lab], content[lab]]})
    monkeypatch.setattr(mnist, "_open_url", opener)
    ds = load_mnist("test", root=fake_mnist["cache"], quiet=True)
    assert len(ds) == 5
    assert opener.calls == [base + img, base + img, base + lab, base + lab]
    folder = fake_mnist["cache"] / "mnist"
    assert sorted(os.listdir(folder)) == sorted(TEST_FILES)
    assert md5sum(folder / img) == fake_mnist["source"].md5[img]


def test_a_corrupt_cached_file_is_detected_and_replaced(fake_mnist):
    cache = fake_mnist["cache"]
    load_mnist("test", root=cache, quiet=True)
    path = cache / "mnist" / TEST_FILES[0]
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])                 # a download cut off half-way
    with pytest.raises(ChecksumError) as info:
        load_mnist("test", root=cache, download=False)
    msg = str(info.value)
    assert str(path) in msg and fake_mnist["source"].md5[TEST_FILES[0]] in msg and "download=True" in msg
    ds = load_mnist("test", root=cache, quiet=True)          # download=True: fetched again
    assert len(ds) == 5 and path.read_bytes() == good


def test_mirrors_are_tried_in_order(fake_mnist, monkeypatch, tmp_path):
    broken = tmp_path / "broken-mirror"
    broken.mkdir()
    img, lab = TEST_FILES
    (broken / img).write_bytes(fake_mnist["content"][img][:-1])   # corrupt on the first mirror
    # lab is missing on the first mirror (like a 404): it is skipped at once
    good = fake_mnist["source"]
    monkeypatch.setitem(SOURCES, "mnist", Source("mnist", (broken.as_uri() + "/", good.mirrors[0]),
                                                 good.files, good.md5, good.classes))
    calls = []
    real_open = mnist._open_url
    monkeypatch.setattr(mnist, "_open_url", lambda url, timeout=60.0: (calls.append(url), real_open(url))[1])
    ds = load_mnist("test", root=fake_mnist["cache"], quiet=True)
    assert len(ds) == 5
    b, g = broken.as_uri() + "/", good.mirrors[0]
    assert calls == [b + img, b + img, g + img, b + lab, g + lab]


def test_an_interrupted_download_leaves_nothing_behind(fake_mnist, monkeypatch):
    class Dropped(io.BytesIO):
        def read(self, n=-1):
            if self.tell() > 0:
                raise ConnectionResetError("connection reset by peer")
            return super().read(100)

    base = fake_mnist["source"].mirrors[0]
    img = TEST_FILES[0]
    monkeypatch.setattr(mnist, "_open_url", lambda url, timeout=60.0: Dropped(fake_mnist["content"][img]))
    folder = fake_mnist["cache"] / "mnist"
    with pytest.raises(DownloadError, match="connection reset"):
        mnist.fetch_file(img, fake_mnist["source"].md5[img], folder, [base], quiet=True)
    assert os.listdir(folder) == []                           # no partial file, under any name


def test_offline_and_not_cached_names_files_and_folder(fake_mnist, monkeypatch):
    opener = FakeOpener({})                                   # every URL fails: offline
    monkeypatch.setattr(mnist, "_open_url", opener)
    folder = fake_mnist["cache"] / "mnist"
    with pytest.raises(DownloadError) as info:
        load_mnist("train", root=fake_mnist["cache"], quiet=True)
    msg = str(info.value)
    assert all(fn in msg for fn in TRAIN_FILES) and str(folder) in msg and "offline" in msg
    assert len(opener.calls) == 2                              # one try per file: unreachable
    with pytest.raises(FileNotFoundError) as info:
        load_mnist("train", root=fake_mnist["cache"], download=False)
    msg = str(info.value)
    assert all(fn in msg for fn in TRAIN_FILES) and str(folder) in msg
    assert not any(name.endswith(".part") for name in os.listdir(folder))


def test_every_attempt_with_a_bad_checksum_is_reported(fake_mnist, monkeypatch):
    base = fake_mnist["source"].mirrors[0]
    img = TEST_FILES[0]
    monkeypatch.setattr(mnist, "_open_url", FakeOpener({base + img: [b"not it"]}))
    with pytest.raises(DownloadError) as info:
        mnist.fetch_file(img, fake_mnist["source"].md5[img], fake_mnist["cache"], [base], quiet=True)
    msg = str(info.value)
    assert "attempt 1" in msg and "attempt 2" in msg and md5(b"not it") in msg
    assert not (fake_mnist["cache"] / img).exists()


def test_images_and_labels_must_agree(fake_mnist, monkeypatch, tmp_path):
    good = fake_mnist["source"]
    img, lab = TEST_FILES
    mirror = tmp_path / "m2"
    mirror.mkdir()
    (mirror / img).write_bytes(fake_mnist["content"][img])
    (mirror / lab).write_bytes(gzip.compress(idx_bytes(np.zeros(4, np.uint8)), mtime=0))
    md5s = dict(good.md5, **{lab: md5sum(mirror / lab)})
    monkeypatch.setitem(SOURCES, "mnist", Source("mnist", (mirror.as_uri() + "/",), good.files,
                                                 md5s, good.classes))
    with pytest.raises(IDXError, match="5 images but .* 4 labels"):
        load_mnist("test", root=tmp_path / "c", quiet=True)


def test_fashion_mnist_uses_its_own_folder_and_class_names(fake_mnist, monkeypatch):
    good = fake_mnist["source"]
    monkeypatch.setitem(SOURCES, "fashion-mnist", Source("fashion-mnist", good.mirrors, good.files,
                                                         good.md5, SOURCES["fashion-mnist"].classes))
    ds = load_fashion_mnist("test", root=fake_mnist["cache"], quiet=True)
    assert ds.name == "fashion-mnist-test" and ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert (fake_mnist["cache"] / "fashion-mnist" / TEST_FILES[0]).is_file()
    assert not (fake_mnist["cache"] / "mnist").exists()
    assert DATASETS["fashion-mnist"] is load_fashion_mnist and DATASETS["mnist"] is load_mnist


def test_bad_split():
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation")


# ----------------------------------------------------------------------------- the real files
@pytest.mark.skipif(not all((REAL / f).is_file() for f in TEST_FILES),
                    reason="real MNIST test files not in /work/shared/data/mnist")
def test_real_mnist_test_set(tmp_path, monkeypatch):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for fn in TEST_FILES:
        shutil.copy(REAL / fn, folder / fn)
        assert md5sum(folder / fn) == SOURCES["mnist"].md5[fn]
    monkeypatch.setattr(mnist, "_open_url", FakeOpener({}))    # must not download anything
    ds = load_mnist("test", root=tmp_path, download=False)
    assert len(ds) == 10000 and ds.image_shape == (1, 28, 28)
    x = backend.to_numpy(ds.images)
    assert x.dtype == np.float32 and x.min() == -1.0 and x.max() == 1.0
    counts = np.bincount(backend.to_numpy(ds.labels), minlength=10)
    np.testing.assert_array_equal(counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    assert backend.to_numpy(ds.labels)[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    # the mean grey level of the MNIST test set is 0.1325 of white (the well-known 0.1325 / 0.3105)
    assert abs(float(((x + 1) / 2).mean()) - 0.1325) < 5e-4


@pytest.mark.skipif(not (REAL / TRAIN_FILES[1]).is_file(), reason="no real MNIST train labels")
def test_real_mnist_train_labels():
    assert md5sum(REAL / TRAIN_FILES[1]) == SOURCES["mnist"].md5[TRAIN_FILES[1]]
    labels = read_idx(REAL / TRAIN_FILES[1], ndim=1)
    assert labels.shape == (60000,)
    np.testing.assert_array_equal(np.bincount(labels),
                                  [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
