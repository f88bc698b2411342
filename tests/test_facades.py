"""Tests of minigan.data.facades: download, checksum, cache and decoding of the pix2pix Facades
archive, offline.

No test touches the network: the archive is a small tar.gz that the tests write themselves, in
the published layout (``facades/{train,val,test}/<n>.jpg``, each JPEG a photo | label pair twice
as wide as high), served from a ``file://`` URL or through a replaced ``_open_url``.
"""
import hashlib
import io
import re
import sys
import tarfile
import urllib.error

import numpy as np
import pytest

from minigan import backend
from minigan.data import DataLoader, PairedDataset, load_facades
from minigan.data import facades
from minigan.data.facades import (FACADES_MD5, FACADES_SPLITS, FACADES_URL, ChecksumError,
                                  DownloadError, FacadesFormatError, UnknownChecksumError,
                                  box_resize, box_resize_ids, ensure_archive, palette_ids,
                                  read_pairs)

PIL = pytest.importorskip("PIL", reason="Pillow decodes the Facades JPEGs")
from PIL import Image  # noqa: E402

to_np = backend.to_numpy
PALETTE = np.array([[0, 0, 170], [0, 0, 255], [255, 85, 0]], dtype=np.uint8)
H = 16                                    # a pair is 2H x H; each half has 4 blocks of 8 x 8


# ----------------------------------------------------------------------------- helpers
def jpeg(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=95, subsampling=0)
    return out.getvalue()


def blocks(values):
    """(2, 2, 3) colours -> (H, H, 3) uint8 image of four 8x8 blocks (JPEG keeps them exact)."""
    return np.repeat(np.repeat(np.asarray(values, np.uint8), H // 2, 0), H // 2, 1)


def make_archive(path, members):
    """Write a tar.gz of ``{name: bytes}``."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def fake_facades(tmp_path):
    """A Facades-like archive: train 1, 2, 3, 10 (numeric order matters), val 1, 2, test 1,
    plus files that must be ignored. Returns the archive, its MD5, the expected content per
    split (photo block colours, label ids per block) and a cache folder."""
    rng = np.random.default_rng(3)
    members, content = {}, {}
    for split, numbers in (("train", (1, 2, 3, 10)), ("val", (1, 2)), ("test", (1,))):
        content[split] = []
        for k in numbers:
            photo = rng.integers(20, 236, size=(2, 2, 3))
            ids = rng.integers(0, len(PALETTE), size=(2, 2))
            pair = np.concatenate([blocks(photo), blocks(PALETTE[ids])], axis=1)
            members[f"facades/{split}/{k}.jpg"] = jpeg(pair)
            content[split].append((photo, ids))
    members["facades/README.txt"] = b"not an image"
    members["facades/train/._1.jpg"] = b"macOS resource fork"
    archive = make_archive(tmp_path / "mirror-facades.tar.gz", members)
    return {"archive": archive, "url": archive.as_uri(), "md5": md5(archive.read_bytes()),
            "content": content, "cache": tmp_path / "cache"}


class NoNetwork:
    """Stands in for ``facades._open_url``: records every URL and fails like an offline machine."""

    def __init__(self):
        self.calls = []

    def __call__(self, url, timeout=60.0):
        self.calls.append(url)
        raise urllib.error.URLError("offline (test)")


def load(fake, split="train", **kwargs):
    kwargs = {"size": 2, "root": fake["cache"], "download": True, "md5": fake["md5"],
              "url": fake["url"], "quiet": True, **kwargs}
    return load_facades(split, **kwargs)


# ----------------------------------------------------------------------------- constants
def test_the_published_archive():
    assert FACADES_URL == "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz"
    assert FACADES_SPLITS == {"train": 400, "val": 100, "test": 106}
    # not recorded yet (nobody has computed it from the real archive): None, or 32 hex digits
    assert FACADES_MD5 is None or re.fullmatch(r"[0-9a-f]{32}", FACADES_MD5)


# ----------------------------------------------------------------------------- loading
def test_load_from_a_file_url_then_from_the_cache(fake_facades, monkeypatch):
    ds = load(fake_facades)
    assert isinstance(ds, PairedDataset) and ds.name == "facades-train" and len(ds) == 4
    assert ds.direction == "labels->photo" and ds.encoding == "rgb" and ds.labels is None
    assert ds.classes is None and ds.palette is None
    x, y = to_np(ds.inputs), to_np(ds.targets)
    assert x.shape == y.shape == (4, 3, 2, 2) and x.dtype == y.dtype == np.float32
    for i, (photo, ids) in enumerate(fake_facades["content"]["train"]):     # order 1, 2, 3, 10
        np.testing.assert_allclose(y[i].transpose(1, 2, 0), photo / 127.5 - 1, atol=4 / 127.5)
        np.testing.assert_allclose(x[i].transpose(1, 2, 0), PALETTE[ids] / 127.5 - 1,
                                   atol=4 / 127.5)
    folder = fake_facades["cache"] / "facades"
    assert sorted(p.name for p in folder.iterdir()) == ["facades.tar.gz"]   # no .part left
    assert facades.md5sum(folder / "facades.tar.gz") == fake_facades["md5"]

    # cached: no download, whatever the URL
    opener = NoNetwork()
    monkeypatch.setattr(facades, "_open_url", opener)
    again = load(fake_facades, url="http://example.invalid/facades.tar.gz")
    np.testing.assert_array_equal(to_np(again.targets), y)
    assert len(load(fake_facades, "val", download=False)) == 2
    assert len(load(fake_facades, "test", download=False)) == 1
    assert opener.calls == []


def test_full_size_and_a_non_integer_factor(fake_facades):
    full = load(fake_facades, "val", size=H)
    photo, _ = fake_facades["content"]["val"][0]
    np.testing.assert_allclose(to_np(full.targets)[0, :, :8, :8].mean(axis=(1, 2)),
                               photo[0, 0] / 127.5 - 1, atol=4 / 127.5)
    odd = load(fake_facades, "val", size=3)
    assert odd.input_shape == (3, 3, 3)
    # a box filter keeps the mean of the picture
    np.testing.assert_allclose(to_np(odd.targets).mean(axis=(2, 3)),
                               to_np(full.targets).mean(axis=(2, 3)), atol=1e-5)
    with pytest.raises(ValueError, match="larger than the archive's images"):
        load(fake_facades, "val", size=H + 1)


def test_a_palette_gives_class_ids_and_one_hot_inputs(fake_facades):
    names = ("background", "facade", "door")
    ds = load(fake_facades, palette=PALETTE, classes=names, encoding="onehot")
    lab = to_np(ds.labels)
    assert lab.shape == (4, 2, 2) and lab.dtype == np.int64
    np.testing.assert_array_equal(lab, [ids for _, ids in fake_facades["content"]["train"]])
    assert ds.classes == names and ds.input_shape == (3, 2, 2)
    np.testing.assert_array_equal(np.argmax(to_np(ds.inputs), axis=1), lab)
    assert set(np.unique(to_np(ds.inputs))) == {-1.0, 1.0}
    rgb = load(fake_facades, palette=PALETTE)                    # clean palette colours
    np.testing.assert_allclose(to_np(rgb.inputs)[0].transpose(1, 2, 0),
                               PALETTE[lab[0]] / 127.5 - 1, atol=1e-6)
    assert rgb.classes == ("class 0", "class 1", "class 2")
    back = load(fake_facades, palette=PALETTE, direction="photo->labels")
    np.testing.assert_array_equal(to_np(back.targets), to_np(rgb.inputs))
    np.testing.assert_array_equal(to_np(back.inputs), to_np(rgb.targets))
    loader = ds.loader(batch_size=2, seed=1, with_labels=True)
    assert isinstance(loader, DataLoader)
    _, yb, lb = loader.batch_at(3)
    idx = loader.indices_at(3)
    np.testing.assert_array_equal(to_np(yb), to_np(ds.targets)[idx])
    np.testing.assert_array_equal(to_np(lb), lab[idx])


# ----------------------------------------------------------------------------- checksums
def test_an_unknown_checksum_is_refused_unless_the_user_opts_in(fake_facades, monkeypatch, capsys):
    opener = NoNetwork()
    monkeypatch.setattr(facades, "_open_url", opener)
    with pytest.raises(UnknownChecksumError) as info:
        load_facades("train", root=fake_facades["cache"], download=True, md5=None,
                     url=fake_facades["url"])
    msg = str(info.value)
    assert "allow_unverified=True" in msg and "md5=" in msg and "not known" in msg
    assert opener.calls == [] and not (fake_facades["cache"] / "facades").exists()
    assert isinstance(info.value, ChecksumError)
    monkeypatch.undo()

    if FACADES_MD5 is None:                       # the default today: refused the same way
        with pytest.raises(UnknownChecksumError):
            load_facades("train", root=fake_facades["cache"], download=True,
                         url=fake_facades["url"])

    ds = load(fake_facades, md5=None, allow_unverified=True, quiet=False)
    assert len(ds) == 4
    err = capsys.readouterr().err
    assert "UNVERIFIED" in err and fake_facades["md5"] in err
    load(fake_facades, md5=None, allow_unverified=True, quiet=False)     # cached, unverified
    assert fake_facades["md5"] in capsys.readouterr().err
    with pytest.raises(ValueError, match="32 hexadecimal"):
        load(fake_facades, md5="abc")


def test_a_download_with_the_wrong_checksum_is_refused(fake_facades):
    wrong = "0" * 32
    with pytest.raises(DownloadError) as info:
        load(fake_facades, md5=wrong)
    msg = str(info.value)
    assert "attempt 1" in msg and "attempt 2" in msg and fake_facades["md5"] in msg and wrong in msg
    folder = fake_facades["cache"] / "facades"
    assert list(folder.iterdir()) == []                        # nothing kept, under any name


def test_a_corrupt_cached_archive_is_detected_and_fetched_again(fake_facades):
    load(fake_facades)
    path = fake_facades["cache"] / "facades" / "facades.tar.gz"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])                   # a download cut off half-way
    with pytest.raises(ChecksumError) as info:
        load(fake_facades, download=False)
    msg = str(info.value)
    assert str(path) in msg and fake_facades["md5"] in msg and "download=True" in msg
    assert len(load(fake_facades)) == 4 and path.read_bytes() == good


def test_missing_and_not_downloading_names_the_folder_and_the_url(fake_facades):
    with pytest.raises(FileNotFoundError) as info:
        load(fake_facades, download=False)
    msg = str(info.value)
    assert str(fake_facades["cache"] / "facades") in msg and fake_facades["url"] in msg
    assert "download=True" in msg


def test_offline_is_a_clear_error(fake_facades, monkeypatch):
    opener = NoNetwork()
    monkeypatch.setattr(facades, "_open_url", opener)
    with pytest.raises(DownloadError, match="offline"):
        load(fake_facades)
    assert opener.calls == [fake_facades["url"]]               # unreachable: not retried


def test_download_is_off_by_default(fake_facades, monkeypatch):
    opener = NoNetwork()
    monkeypatch.setattr(facades, "_open_url", opener)
    with pytest.raises(FileNotFoundError):
        load_facades("train", root=fake_facades["cache"], md5=fake_facades["md5"])
    assert opener.calls == []


# ----------------------------------------------------------------------------- broken archives
def test_a_corrupt_archive_is_a_clear_error(fake_facades, tmp_path):
    folder = tmp_path / "c" / "facades"
    folder.mkdir(parents=True)
    for name, data in (("garbage", b"this is not a tar.gz archive" * 10),
                       ("truncated", fake_facades["archive"].read_bytes()[:-300])):
        (folder / "facades.tar.gz").write_bytes(data)
        with pytest.raises(FacadesFormatError, match="not a readable tar.gz") as info:
            load_facades("train", root=tmp_path / "c", md5=md5(data))
        assert str(folder / "facades.tar.gz") in str(info.value), name


@pytest.mark.parametrize("members,match", [
    ({"facades/train/1.jpg": jpeg(np.zeros((16, 16, 3), np.uint8))}, "twice as wide"),
    ({"facades/train/1.jpg": b"\xff\xd8 not really a jpeg"}, "1.jpg is not a readable image"),
    ({"facades/test/1.jpg": jpeg(np.zeros((8, 16, 3), np.uint8))}, r"in \['test'\]"),
])
def test_an_archive_in_another_layout_is_a_clear_error(tmp_path, members, match):
    archive = make_archive(tmp_path / "a.tar.gz", members)
    with pytest.raises(FacadesFormatError, match=match):
        list(read_pairs(archive, "train"))


def test_without_pillow_the_error_says_what_to_install(fake_facades, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)              # import PIL now fails
    with pytest.raises(ImportError, match="pip install pillow"):
        list(read_pairs(fake_facades["archive"], "train"))


# ----------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("kwargs,match", [
    ({"split": "validation"}, "split"), ({"direction": "BtoA"}, "direction"),
    ({"encoding": "onehot"}, "needs the class of each label colour"),
    ({"classes": ("a", "b")}, "palette=, which is missing"),
    ({"palette": [[0, 0, 0]]}, "K >= 2"),
    ({"palette": PALETTE, "classes": ("a",)}, "1 class names for 3"),
    ({"size": 0}, "size")])
def test_bad_arguments(fake_facades, kwargs, match):
    kwargs = {"split": "train", **kwargs}
    with pytest.raises(ValueError, match=match):
        load(fake_facades, **kwargs)


# ----------------------------------------------------------------------------- resizing
def test_box_resize_averages_blocks(rng):
    img = rng.random((12, 12, 3))
    np.testing.assert_allclose(box_resize(img, 4), img.reshape(4, 3, 4, 3, 3).mean(axis=(1, 3)))
    np.testing.assert_allclose(box_resize(img, 12), img)
    odd = box_resize(img, 5)                                   # 12 / 5: fractional footprints
    assert odd.shape == (5, 5, 3)
    np.testing.assert_allclose(odd.mean(axis=(0, 1)), img.mean(axis=(0, 1)))
    np.testing.assert_allclose(box_resize(np.full((7, 9, 1), 0.25), 4), 0.25)
    # the fractional weights: output cell i covers [i * 12/5, (i + 1) * 12/5) of the input
    w = facades._box_weights(12, 5)
    np.testing.assert_allclose(w[0], np.r_[1, 1, 0.4, np.zeros(9)] / 2.4)
    np.testing.assert_allclose(w.sum(axis=0), 5 / 12)              # every input pixel counts equally
    np.testing.assert_allclose(facades._box_weights(12, 4), np.kron(np.eye(4), np.full(3, 1 / 3)))
    with pytest.raises(ValueError, match="only shrinks"):
        box_resize(img, 13)


def test_ids_by_nearest_colour_and_majority(rng):
    ids = rng.integers(0, 3, size=(4, 4))
    noisy = PALETTE[ids].astype(int) + rng.integers(-20, 21, size=(4, 4, 3))
    np.testing.assert_array_equal(palette_ids(noisy, PALETTE), ids)
    big = np.repeat(np.repeat(ids, 4, 0), 4, 1)
    big[0, 0] = (ids[0, 0] + 1) % 3                            # one odd pixel loses the vote
    np.testing.assert_array_equal(box_resize_ids(big, 4, 3), ids)


def test_ensure_archive_alone(fake_facades):
    path = ensure_archive(fake_facades["cache"], download=True, md5=fake_facades["md5"],
                          url=fake_facades["url"], quiet=True)
    assert path == fake_facades["cache"] / "facades" / "facades.tar.gz" and path.is_file()
    names = [name for name, _, _ in read_pairs(path, "train")]
    assert names == [f"facades/train/{k}.jpg" for k in (1, 2, 3, 10)]
