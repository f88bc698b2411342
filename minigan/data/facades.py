"""CMP Facades, the paired dataset of Pix2Pix (Isola et al. 2017), for learners who are online.

The pix2pix authors distribute the CMP Facade Database (Tyleček & Šára 2013) as one archive,
``facades.tar.gz`` (:data:`FACADES_URL`, the address the pix2pix and CycleGAN repositories
download from). Inside, three folders of JPEGs::

    facades/train/1.jpg ... 400.jpg   facades/val/1.jpg ... 100.jpg   facades/test/1.jpg ... 106.jpg

Each JPEG is one *pair*, 512 x 256 pixels: the photo of a facade on the left half, its
colour-coded label map on the right (the CMP classes, such as facade, window, door, balcony,
each painted in one colour). Pix2Pix's facades model translates right to left: labels -> photo.

What :func:`load_facades` does (nothing of it happens at import; nothing is downloaded unless
``download=True`` is passed):

1. **Where**: the archive lives in ``<cache>/facades/facades.tar.gz``, ``<cache>`` chosen as for
   MNIST (``root=``, else ``$MINIGAN_DATA``, else ``$XDG_CACHE_HOME/minigan``, else
   ``~/.cache/minigan``; see :func:`minigan.data.mnist.cache_dir`).
2. **Verify**: the archive's MD5 must be ``md5``. **The canonical digest is not recorded yet**:
   :data:`FACADES_MD5` is ``None`` because minigan was written on a machine that could not reach
   the archive, and a digest nobody computed would be worse than none. Until someone online
   records it, :func:`load_facades` refuses an archive it cannot verify
   (:class:`UnknownChecksumError`) unless you either pass the digest you trust (``md5="..."``) or
   opt in with ``allow_unverified=True``, in which case the archive is used as it is and its MD5
   is printed, so that you can record it and pass it next time.
3. **Download** (``download=True``, only when missing or corrupt): to a temporary file in the
   cache folder, its MD5 computed on the way and checked, then renamed onto its final name
   (atomic), as MNIST's files are; a download that is cut short or corrupt is tried again once.
4. **Read** the pairs of one split straight from the archive (no extraction to disk), in
   numerical order of their file names, decoding each JPEG with Pillow (a dependency of
   matplotlib, so normally installed; if not: ``pip install pillow``).
5. **Resize** each half to ``size x size`` with a box filter (:func:`box_resize`: each output
   pixel is the area-weighted mean of the input pixels it covers; 256 -> 64 averages 4 x 4
   blocks), and scale to [-1, 1].
6. **Label maps**: by default kept as the colour-coded RGB picture, which is exactly what the
   paper feeds its generator (``encoding="rgb"``, ``labels=None``). Given a ``palette`` (the
   RGB colour of each class, uint8 (K, 3)), each full-resolution label pixel is assigned the
   nearest palette colour (undoing JPEG's colour noise) and the class-id map is reduced by an
   area-weighted majority vote (:func:`palette_ids`, :func:`box_resize_ids`); the dataset then
   has ``labels`` and may use ``encoding="onehot"``. minigan ships no palette for Facades: one
   must be read off the real label images (it is not verified here).

The result is a :class:`~minigan.data.scenes.PairedDataset`, like the procedural scenes of
:mod:`minigan.data.scenes` (its offline stand-in), so the same training code runs on both.
"""
from __future__ import annotations

import io
import re
import tarfile
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from .. import backend
from .mnist import (CacheDirError, ChecksumError, DownloadError, _cache_error, _check_folder, _say,
                    cache_dir, download_verified, md5sum)
from .scenes import DIRECTIONS, ENCODINGS, PairedDataset, colorize, one_hot

__all__ = ["FACADES_URL", "FACADES_MD5", "FACADES_SPLITS", "ARCHIVE_NAME", "UnknownChecksumError",
           "FacadesFormatError", "CacheDirError", "ChecksumError", "DownloadError",
           "ensure_archive", "read_pairs", "box_resize", "box_resize_ids", "palette_ids",
           "load_facades"]

FACADES_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz"

#: The MD5 of the real ``facades.tar.gz``: NOT KNOWN YET (see the module's docstring, step 2).
#: Whoever first downloads the archive should record here the digest that
#: ``load_facades(..., allow_unverified=True)`` prints, after checking that the archive is the
#: published one (400 / 100 / 106 pairs of 512 x 256 pixels).
FACADES_MD5: str | None = None

#: The number of pairs of each split in the published archive.
FACADES_SPLITS = {"train": 400, "val": 100, "test": 106}
ARCHIVE_NAME = "facades.tar.gz"
_FOLDER = "facades"


class UnknownChecksumError(ChecksumError):
    """The archive's expected MD5 is not known (``md5=None``) and the caller has not accepted an
    unverified archive (``allow_unverified=True``)."""


class FacadesFormatError(ValueError):
    """The archive is not a readable tar.gz of Facades pairs (corrupt, truncated, or another
    layout); the message names the archive or the member at fault."""


# --- download and verify -------------------------------------------------------------------------
def _open_url(url: str, timeout: float = 60.0):
    """A readable file-like object for ``url`` (http, https or file). Tests replace this."""
    return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - a fixed, documented URL


def _check_md5(md5):
    if md5 is None:
        return None
    if not isinstance(md5, str) or not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
        raise ValueError(f"load_facades: md5 must be 32 hexadecimal digits or None, got {md5!r}")
    return md5.lower()


def _fetch(url: str, dest: Path, md5: str | None, quiet: bool, retries: int = 2) -> Path:
    """Download ``url`` to ``dest``, checked against ``md5`` (when not None) before the atomic
    rename (:func:`minigan.data.mnist.download_verified`); an unverified download reports its
    MD5 so that it can be recorded."""
    path, digest = download_verified(
        [url], dest, md5, retries, quiet, opener=_open_url,
        failure_hint=f"\n(offline?) When online, load again; or download {url} by hand into "
                     f"{dest.parent} (set the folder with root=, $MINIGAN_DATA or $XDG_CACHE_HOME)")
    if md5 is None and not quiet:
        _say(f"minigan: {dest} downloaded UNVERIFIED (no expected MD5); its MD5 is "
             f"{digest}: pass md5={digest!r} to check it from now on")
    return path


def ensure_archive(root=None, download: bool = False, md5: str | None = FACADES_MD5, *,
                   allow_unverified: bool = False, url: str = FACADES_URL,
                   quiet: bool = False) -> Path:
    """The path of a verified ``facades.tar.gz`` in the cache, downloaded if asked to.

    Args:
        root: the cache folder (see :func:`minigan.data.mnist.cache_dir`); the archive is
            ``<root>/facades/facades.tar.gz``.
        download: fetch the archive from ``url`` when it is missing or its MD5 is wrong.
            False (the default): only the cache is used.
        md5: the expected MD5 hex digest; None means unknown (the default today,
            :data:`FACADES_MD5`), which is refused unless ``allow_unverified``.
        allow_unverified: with ``md5=None``, accept whatever archive is cached or downloaded,
            printing its MD5 (unless ``quiet``) so that it can be recorded.
        url: where to download from (e.g. a local mirror, ``file://...``).
        quiet: print nothing (messages go to stderr).

    Raises: :class:`UnknownChecksumError` (md5 None, not allowed; before anything is read or
    downloaded), ``FileNotFoundError`` (missing, ``download=False``), :class:`ChecksumError`
    (cached with a wrong MD5, ``download=False``), :class:`DownloadError`,
    :class:`~minigan.data.mnist.CacheDirError`.
    """
    md5 = _check_md5(md5)
    if md5 is None and not allow_unverified:
        raise UnknownChecksumError(
            "facades: the expected MD5 of facades.tar.gz is not known to minigan yet "
            "(FACADES_MD5 is None: it must be recorded by someone who has downloaded the real "
            "archive), so an archive cannot be verified and is refused. Pass md5='<32 hex "
            "digits>' if you know the digest, or allow_unverified=True to accept the archive "
            "as it is (its MD5 is then printed so that you can record it)")
    folder = cache_dir(root) / _FOLDER
    _check_folder(folder)
    path = folder / ARCHIVE_NAME
    try:
        present = path.is_file()
        digest = md5sum(path) if present else None
    except OSError as exc:
        raise _cache_error(folder, "reading it", exc) from exc
    if present:
        if md5 is None:
            if not quiet:
                _say(f"minigan: using {path} UNVERIFIED (no expected MD5); its MD5 is {digest}: "
                     f"pass md5={digest!r} to check it from now on")
            return path
        if digest == md5:
            return path
        if not download:
            raise ChecksumError(f"{path}: MD5 {digest} is not the expected {md5}: the archive "
                                "is corrupt, incomplete or another file. Delete it, or load "
                                "with download=True to fetch it again")
        if not quiet:
            _say(f"minigan: {path} has a wrong MD5 ({digest}, expected {md5}): fetching it again")
    elif not download:
        raise FileNotFoundError(
            f"facades: {ARCHIVE_NAME} not found in the cache folder {folder} and download=False. "
            f"Load with download=True to fetch it from {url}, or put it there by hand; the "
            "cache folder is set by root=, $MINIGAN_DATA or $XDG_CACHE_HOME")
    return _fetch(url, path, md5, quiet)


# --- reading the pairs ---------------------------------------------------------------------------
def _require_pillow():
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError("minigan.data.facades needs Pillow to decode the Facades JPEGs, and "
                          "it cannot be imported (it normally comes with matplotlib): "
                          "pip install pillow") from exc
    return Image


def _split_members(tar: tarfile.TarFile, archive, split: str) -> list:
    """The JPEG members of ``split`` (any ``.../<split>/<name>.jpg``), sorted by number."""
    found, splits = [], set()
    for m in tar.getmembers():
        p = PurePosixPath(m.name)
        if not m.isfile() or p.name.startswith(".") or p.suffix.lower() not in (".jpg", ".jpeg"):
            continue
        if len(p.parts) >= 2:
            splits.add(p.parts[-2])
            if p.parts[-2] == split:
                found.append(m)
    if not found:
        raise FacadesFormatError(
            f"{archive}: no JPEG in a '{split}/' folder; the archive has JPEGs in "
            f"{sorted(splits) or 'no folder at all'}. Expected the pix2pix layout "
            "facades/{train,val,test}/<n>.jpg")

    def number_first(m):
        stem = PurePosixPath(m.name).stem
        return (0, int(stem), "") if stem.isdigit() else (1, 0, m.name)

    return sorted(found, key=number_first)


def read_pairs(archive, split: str = "train"):
    """Decode every pair of ``split`` in the archive, at full resolution.

    Args:
        archive: the path of ``facades.tar.gz`` (or of any tar.gz in the same layout).
        split: ``"train"``, ``"val"`` or ``"test"``.

    Yields: ``(name, photo, label)`` per pair in numerical order: the member's name and two
    uint8 arrays (H, W, 3), the left half (the photo) and the right half (the colour-coded label
    map) of the pair. Raises :class:`FacadesFormatError` for a corrupt archive, an image that
    cannot be decoded or is not twice as wide as it is high.
    """
    if split not in FACADES_SPLITS:
        raise ValueError(f"read_pairs: split must be one of {tuple(FACADES_SPLITS)}, got {split!r}")
    Image = _require_pillow()
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for m in _split_members(tar, archive, split):
                data = tar.extractfile(m).read()
                try:
                    with Image.open(io.BytesIO(data)) as im:
                        pair = np.asarray(im.convert("RGB"), dtype=np.uint8)
                except (OSError, ValueError, Image.DecompressionBombError) as exc:
                    raise FacadesFormatError(f"{archive}: {m.name} is not a readable image "
                                             f"({exc})") from exc
                h, w = pair.shape[:2]
                if w != 2 * h:
                    raise FacadesFormatError(
                        f"{archive}: {m.name} is {w}x{h} pixels; a Facades pair is twice as wide "
                        "as high (photo | label map, 512x256 in the published archive)")
                yield m.name, pair[:, :h].copy(), pair[:, h:].copy()
    except FacadesFormatError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise FacadesFormatError(f"{archive}: not a readable tar.gz archive ({exc}); it is corrupt "
                                 "or truncated: delete it and download it again") from exc


# --- resizing ------------------------------------------------------------------------------------
def _box_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in): row i averages the input cells that output cell i covers, each weighted by
    the length of their overlap with [i * n_in / n_out, (i + 1) * n_in / n_out)."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    j = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def box_resize(image, size: int) -> np.ndarray:
    """Shrink an image (H, W, C) to (size, size, C) with a box filter: each output pixel is the
    area-weighted mean of the input pixels under it (for 256 -> 64, the mean of a 4 x 4 block).
    Returns float64. ``size`` may not exceed H or W (this filter only shrinks)."""
    a = np.asarray(image, dtype=np.float64)
    if a.ndim != 3:
        raise ValueError(f"box_resize: expected an image (H, W, C), got shape {a.shape}")
    h, w = a.shape[:2]
    if isinstance(size, bool) or int(size) != size or not 1 <= size <= min(h, w):
        raise ValueError(f"box_resize: size must be an integer in 1..{min(h, w)} (a box filter "
                         f"only shrinks a {h}x{w} image), got {size!r}")
    size = int(size)
    if h % size == 0 and w % size == 0:                  # whole blocks: a plain block mean
        return a.reshape(size, h // size, size, w // size, -1).mean(axis=(1, 3))
    rows = _box_weights(h, int(size)) @ a.reshape(h, -1)                 # (size, W * C)
    rows = rows.reshape(int(size), w, -1).transpose(0, 2, 1)              # (size, C, W)
    return (rows @ _box_weights(w, int(size)).T).transpose(0, 2, 1)       # (size, size, C)


def palette_ids(label_image, palette) -> np.ndarray:
    """Class ids of a colour-coded label image: each pixel's nearest ``palette`` colour.

    Args: label_image: uint8 (H, W, 3); palette: (K, 3) RGB colours 0..255.
    Returns: int64 (H, W) in 0..K-1.
    """
    pal = np.asarray(palette, dtype=np.float64)
    img = np.asarray(label_image, dtype=np.float64)
    # |x - p|^2 = |x|^2 - 2 x.p + |p|^2, and |x|^2 is the same for every p: one matrix product
    d = (pal ** 2).sum(-1) - 2.0 * img @ pal.T                        # (H, W, K)
    return np.argmin(d, axis=-1).astype(np.int64)


def box_resize_ids(ids, size: int, num_classes: int) -> np.ndarray:
    """Shrink a class-id map (H, W) to (size, size) by an area-weighted majority vote: the box
    filter of the one-hot channels, then the largest (ties: the smaller id). int64."""
    hot = (np.asarray(ids)[..., None] == np.arange(num_classes)).astype(np.float64)
    return np.argmax(box_resize(hot, size), axis=-1).astype(np.int64)


# --- the dataset ---------------------------------------------------------------------------------
def load_facades(split: str = "train", size: int = 64, root=None, download: bool = False, *,
                 md5: str | None = FACADES_MD5, allow_unverified: bool = False,
                 url: str = FACADES_URL, direction: str = "labels->photo",
                 encoding: str = "rgb", palette=None, classes=None,
                 quiet: bool = False) -> PairedDataset:
    """The CMP Facades pairs of one split, as a :class:`~minigan.data.scenes.PairedDataset`.

    Args:
        split: ``"train"`` (400 pairs), ``"val"`` (100) or ``"test"`` (106).
        size: pixels per side after the box filter (e.g. 32 or 64; at most the archive's 256).
        root, download, md5, allow_unverified, url, quiet: where the archive is cached and how
            it is fetched and verified: see :func:`ensure_archive`. ``download`` is False by
            default; ``md5`` defaults to :data:`FACADES_MD5`, which is unknown today (None), so
            one of ``md5="..."`` or ``allow_unverified=True`` is needed.
        direction: ``"labels->photo"`` (the paper's facades direction: inputs are label maps)
            or ``"photo->labels"``.
        encoding: the label maps as the colour-coded ``"rgb"`` picture (the default; the box-
            filtered original without a palette, the palette's clean colours with one) or as
            ``"onehot"`` channels (needs ``palette``).
        palette: None (keep the label maps as pictures; ``labels`` is None), or the uint8
            (K, 3) colour of each class: label pixels are then mapped to the nearest colour.
        classes: the K class names for ``palette`` (default ``"class 0"``, ...).

    Returns: PairedDataset with float32 inputs and targets in [-1, 1] (photos (N, 3, size,
    size); label maps (N, 3 or K, size, size)), ``labels`` int64 (N, size, size) or None, name
    ``"facades-<split>"``. Arrays are on the backend in use.
    """
    if split not in FACADES_SPLITS:
        raise ValueError(f"load_facades: split must be one of {tuple(FACADES_SPLITS)}, "
                         f"got {split!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"load_facades: direction must be one of {DIRECTIONS}, got {direction!r}")
    if encoding not in ENCODINGS:
        raise ValueError(f"load_facades: encoding must be one of {ENCODINGS}, got {encoding!r}")
    if isinstance(size, bool) or int(size) != size or size < 1:
        raise ValueError(f"load_facades: size must be a positive integer, got {size!r}")
    pal = None
    if palette is not None:
        pal = np.asarray(palette)
        if pal.ndim != 2 or pal.shape[1] != 3 or len(pal) < 2 or pal.min() < 0 or pal.max() > 255:
            raise ValueError(f"load_facades: palette must be (K, 3) RGB colours in 0..255 with "
                             f"K >= 2, got shape {pal.shape}")
        pal = pal.astype(np.uint8)
        if classes is None:
            classes = tuple(f"class {k}" for k in range(len(pal)))
        classes = tuple(classes)
        if len(classes) != len(pal):
            raise ValueError(f"load_facades: {len(classes)} class names for {len(pal)} palette "
                             "colours")
    elif encoding == "onehot":
        raise ValueError("load_facades: encoding='onehot' needs the class of each label colour: "
                         "pass palette= (the (K, 3) RGB colour of each class)")
    elif classes is not None:
        raise ValueError("load_facades: classes= names the colours of palette=, which is missing")

    archive = ensure_archive(root, download, md5, allow_unverified=allow_unverified, url=url,
                             quiet=quiet)
    photos, label_pictures, ids = [], [], []
    for name, photo, label in read_pairs(archive, split):
        if size > min(photo.shape[:2]):
            raise ValueError(f"load_facades: size {size} is larger than the archive's images "
                             f"({photo.shape[0]} pixels; {name}): the box filter only shrinks")
        photos.append(box_resize(photo, size))
        if pal is None:
            label_pictures.append(box_resize(label, size))
        else:
            ids.append(box_resize_ids(palette_ids(label, pal), size, len(pal)))
    photos = np.stack(photos).transpose(0, 3, 1, 2) / 127.5 - 1.0
    labels = None
    if pal is None:
        coded = np.stack(label_pictures).transpose(0, 3, 1, 2) / 127.5 - 1.0
    else:
        labels = np.stack(ids)
        coded = one_hot(labels, len(pal)) if encoding == "onehot" else colorize(labels, pal)
    coded, photos = coded.astype(np.float32), photos.astype(np.float32)
    inputs, targets = (coded, photos) if direction == "labels->photo" else (photos, coded)
    return PairedDataset(backend.asarray(np.ascontiguousarray(inputs)),
                         backend.asarray(np.ascontiguousarray(targets)),
                         None if labels is None else backend.asarray(labels),
                         f"facades-{split}", classes, pal, direction, encoding)
