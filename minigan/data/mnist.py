"""MNIST and Fashion-MNIST, loaded the real way: download, verify, cache, parse IDX.

What happens on ``load_mnist("train")``:

1. **Where**: the cache directory is ``root`` if given, else ``$MINIGAN_DATA``, else
   ``$XDG_CACHE_HOME/minigan``, else ``~/.cache/minigan``; each dataset has its own folder
   inside it (``mnist/``, ``fashion-mnist/``). See :func:`cache_dir`.
2. **Verify what is there**: every file is checked against the canonical MD5 digest that the
   standard loaders (torchvision, tensorflow-datasets) check. A file whose digest differs is
   corrupt or was cut short by an interrupted download: it is fetched again.
3. **Download what is missing** (``download=True``): the mirrors are tried in order; a download
   goes to a temporary file in the cache folder, its MD5 is checked, and only then is it
   renamed onto its final name (``os.replace`` is atomic), so an interrupted download never
   leaves a half-written file under the real name. A mirror that serves a bad file is retried
   once, then the next mirror is tried; one that cannot be reached is skipped at once. Offline and not cached: a clear error that names the
   files, the cache folder and the URLs, so that the files can be put there by hand.
4. **Parse IDX** (:func:`read_idx`), gzipped or not, checking the magic number, the element
   type, the number of dimensions and that the file holds exactly the bytes its header
   announces. Errors name the file.

The images come out as an :class:`~minigan.data.digits.ImageDataset`: float32 (N, 1, 28, 28) in
[-1, 1] (grey level ``v`` in 0..255 becomes ``v / 127.5 - 1``), labels int64 (N,).

The IDX format (http://yann.lecun.com/exdb/mnist/), all integers big-endian::

    bytes 0-1   0x00 0x00
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
                0x0E float64
    byte  3     number of dimensions d
    4 * d       the size of each dimension (uint32)
    then        the data, row-major (C order)

So ``00 00 08 03`` is the magic number of an image file (uint8, 3-D: N x 28 x 28), 2051 as an
int32, and ``00 00 08 01`` that of a label file (2049).
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import struct
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import backend
from .digits import ImageDataset

__all__ = ["SOURCES", "Source", "IDXError", "ChecksumError", "DownloadError", "CacheDirError",
           "cache_dir",
           "md5sum", "read_idx", "fetch_file", "ensure_files", "load_mnist", "load_fashion_mnist",
           "MNIST_CLASSES", "FASHION_MNIST_CLASSES"]


# --- the canonical files ---------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """Where a dataset lives and what its files must be.

    name: the folder inside the cache directory and the dataset's name.
    mirrors: base URLs, tried in order (each ends with "/"; ``base + filename`` is the file).
    files: ``{split: (images file, labels file)}``.
    md5: ``{filename: canonical MD5 hex digest}``.
    classes: the class names, ``classes[label]``.
    """

    name: str
    mirrors: tuple
    files: dict
    md5: dict
    classes: tuple


_IDX_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
              "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}

MNIST_CLASSES = tuple(str(c) for c in range(10))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")

# The digests that torchvision, tensorflow-datasets and the datasets' own pages publish.
SOURCES = {
    "mnist": Source(
        name="mnist",
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        files=_IDX_FILES,
        md5={"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
             "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
             "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
             "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
        classes=MNIST_CLASSES),
    "fashion-mnist": Source(
        name="fashion-mnist",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        files=_IDX_FILES,
        md5={"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
             "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
             "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
             "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"},
        classes=FASHION_MNIST_CLASSES),
}


# --- errors ------------------------------------------------------------------------------------
class IDXError(ValueError):
    """A file is not a valid IDX file (bad magic number, type, dimensions or length)."""


class ChecksumError(ValueError):
    """A file's MD5 digest is not the canonical one."""


class DownloadError(OSError):
    """No mirror delivered a file with the right checksum (offline, blocked, or corrupt)."""


class CacheDirError(OSError):
    """The cache folder cannot be used: it cannot be created, read or written (permissions,
    a file where a folder should be, a read-only disk). The message names the folder."""


def _cache_error(folder, doing, exc):
    why = getattr(exc, "strerror", None) or str(exc)
    err = CacheDirError(f"the dataset cache folder {folder} cannot be used: {doing} failed "
                        f"({why}{': ' + str(exc.filename) if getattr(exc, 'filename', None) else ''})"
                        f". Fix its permissions, or choose another folder with root=, "
                        f"$MINIGAN_DATA or $XDG_CACHE_HOME")
    err.errno = getattr(exc, "errno", None)
    return err


def _check_folder(folder: Path):
    """A clear error if ``folder``, or the nearest of its parents that exists, is a file."""
    try:
        for p in (folder, *folder.parents):
            if p.exists():
                if not p.is_dir():
                    raise CacheDirError(
                        f"the dataset cache folder {folder} cannot be used: {p} is a file, not "
                        f"a folder. Choose another folder with root=, $MINIGAN_DATA or "
                        f"$XDG_CACHE_HOME")
                return
    except CacheDirError:
        raise
    except OSError as exc:
        raise _cache_error(folder, "looking at it", exc) from exc


# --- the cache ---------------------------------------------------------------------------------
def cache_dir(root=None) -> Path:
    """The folder that holds minigan's downloaded datasets (not created here).

    ``root`` if given, else ``$MINIGAN_DATA``, else ``$XDG_CACHE_HOME/minigan``, else
    ``~/.cache/minigan``.
    """
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("MINIGAN_DATA"):
        return Path(os.environ["MINIGAN_DATA"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "minigan"
    return Path.home() / ".cache" / "minigan"


def md5sum(path, chunk_size: int = 1 << 20) -> str:
    """The MD5 hex digest of a file, read in chunks."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            h.update(chunk)
    return h.hexdigest()


# --- IDX ---------------------------------------------------------------------------------------
_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


# Deflate (gzip's compression) cannot turn one byte into more than about 1032: a gzip file of
# n bytes decompresses to at most 1032·n bytes, whatever its header says.
_MAX_GZIP_RATIO = 1032
_CHUNK = 1 << 24


def read_idx(path, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw; told apart by content, not by name).

    Args:
        path: the file.
        ndim: if given, the number of dimensions the file must have (3 for images, 1 for labels).

    Returns: a NumPy array of the shape the header announces, in native byte order (uint8 for
    MNIST's files).

    Raises :class:`IDXError`, naming the file, when the first two bytes are not zero, the type
    code is unknown, the number of dimensions is not ``ndim``, or the data is shorter or longer
    than the header says (a truncated file); also for a gzip stream that is cut short.

    What is read is bounded by what the header announces: the header is read first, a
    header whose sizes cannot be an array (their product overflows) or announce more bytes
    than the file can hold (its size; for a gzip file, the most that deflate can expand it
    to) is an error before any data is read, and a gzip stream is decompressed in chunks,
    never beyond the announced size (plus one byte, to detect trailing data): a corrupt or
    malicious file cannot make this allocate more than the file can really contain.
    """
    path = Path(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        packed = f.read(2) == b"\x1f\x8b"                     # the gzip magic number
        f.seek(0)
        if not packed:
            return _parse_idx(path, f, ndim, size, packed=False)
        try:
            with gzip.GzipFile(fileobj=f, mode="rb") as stream:
                return _parse_idx(path, stream, ndim, size * _MAX_GZIP_RATIO, packed=True)
        except (EOFError, OSError, zlib.error) as exc:
            raise IDXError(f"{path}: not a valid gzip stream ({exc}); the file is corrupt or "
                           "truncated: delete it and download it again") from exc


def _read_upto(stream, n):
    """Up to ``n`` bytes from ``stream`` (fewer at its end), read in chunks: memory grows
    with what is really there, not with ``n``."""
    parts, left = [], n
    while left > 0:
        chunk = stream.read(min(left, _CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _parse_idx(path, stream, ndim, limit, packed):
    """The array of an IDX stream; ``limit``: the most bytes the stream can hold."""
    head = _read_upto(stream, 4)
    if len(head) < 4:
        raise IDXError(f"{path}: {len(head)} bytes, too short for an IDX header (4 bytes)")
    zero, type_code, nd = head[0:2], head[2], head[3]
    if zero != b"\x00\x00" or type_code not in _IDX_TYPES:
        raise IDXError(f"{path}: bad IDX magic number 0x{head.hex()}: expected 0x0000TTDD "
                       f"with type TT in {{{', '.join(f'{t:02x}' for t in _IDX_TYPES)}}} "
                       "(08 = uint8) and DD dimensions; is this an IDX file?")
    if ndim is not None and nd != ndim:
        raise IDXError(f"{path}: IDX file has {nd} dimensions, expected {ndim} "
                       f"({'images: N x rows x cols' if ndim == 3 else 'labels: N'})")
    header = 4 + 4 * nd
    sizes = _read_upto(stream, 4 * nd)
    if len(sizes) < 4 * nd:
        raise IDXError(f"{path}: truncated header: {nd} dimensions need {header} bytes, "
                       f"the file has {4 + len(sizes)}")
    shape = struct.unpack(f">{nd}I", sizes)
    dtype = _IDX_TYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize                 # Python ints: no overflow
    if expected > sys.maxsize:
        raise IDXError(f"{path}: corrupt header: the sizes {shape} of {dtype.name} make "
                       f"{expected} bytes, more than any array can hold (they overflow)")
    if packed and header + expected > limit:
        raise IDXError(f"{path}: corrupt header: it announces shape {shape} of {dtype.name} "
                       f"({expected} data bytes), more than this gzip file can hold "
                       f"(at most {limit} bytes decompressed)")
    if not packed:
        actual = limit - header                                   # limit: the file's size
        if actual != expected:
            what = "truncated" if actual < expected else "has trailing bytes"
            raise IDXError(f"{path}: {what}: header announces shape {shape} of {dtype.name} "
                           f"({expected} data bytes), the file has {actual} data bytes")
    data = _read_upto(stream, expected)
    if len(data) < expected:
        raise IDXError(f"{path}: truncated: header announces shape {shape} of {dtype.name} "
                       f"({expected} data bytes), the file has {len(data)} data bytes")
    if stream.read(1):
        raise IDXError(f"{path}: has trailing bytes: header announces shape {shape} of "
                       f"{dtype.name} ({expected} data bytes), the file has more")
    array = np.frombuffer(data, dtype=dtype, count=math.prod(shape)).reshape(shape)
    return array.astype(dtype.newbyteorder("="))                  # a native, writable copy


# --- downloads ---------------------------------------------------------------------------------
def _open_url(url: str, timeout: float = 60.0):
    """A readable file-like object for ``url`` (http, https or file). Tests replace this."""
    return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - fixed mirror URLs


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fetch_file(filename: str, md5: str, directory, mirrors, retries: int = 2,
               quiet: bool = False) -> Path:
    """Download ``filename`` into ``directory`` from the first mirror that serves it intact
    (:func:`download_verified` over ``mirror + filename`` for each mirror).

    Returns the path of the verified file. Raises :class:`DownloadError` listing every
    attempt and why it failed.
    """
    urls = [base + filename for base in mirrors]
    if not urls:
        raise DownloadError(f"could not download {filename} into {directory}:\n  no mirrors given")
    return download_verified(urls, Path(directory) / filename, md5, retries, quiet)[0]


def download_verified(urls, dest, md5, retries: int = 2, quiet: bool = False, opener=None,
                      failure_hint: str = ""):
    """Download ``dest`` from the first of ``urls`` that serves it intact: (path, MD5 digest).

    Each URL is tried up to ``retries`` times when what it serves is corrupt or cut short; one
    that cannot be reached (or answers 404) is left at once for the next. A download is written
    to a temporary file beside ``dest`` while its MD5 is computed; if the digest is ``md5`` (or
    ``md5`` is None: unverified, the caller reports the digest) the temporary file is renamed to
    ``dest`` (atomically, replacing any old copy), otherwise it is deleted and the next attempt
    starts. ``opener(url)``: a readable file-like object (default :func:`_open_url`).
    Raises :class:`DownloadError` listing every attempt and why it failed, then
    ``failure_hint``.
    """
    from ..fileio import chmod_as_open
    dest = Path(dest)
    directory = dest.parent
    opener = _open_url if opener is None else opener
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:            # no permission, a file in the way, a read-only disk
        raise _cache_error(directory, "creating it", exc) from exc
    failures = []
    for url in urls:
        for attempt in range(1, retries + 1):
            if not quiet:
                _say(f"minigan: downloading {url} -> {dest}")
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=directory)
            except OSError as exc:
                raise _cache_error(directory, "creating a file in it", exc) from exc
            try:
                chmod_as_open(fd)     # the cached file: 0666 less the umask, not mkstemp's 0600
                h = hashlib.md5()
                with os.fdopen(fd, "wb") as out, opener(url) as src:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        h.update(chunk)
                        out.write(chunk)
                digest = h.hexdigest()
                if md5 is not None and digest != md5:
                    failures.append(f"{url} (attempt {attempt}): MD5 {digest}, expected {md5} "
                                    "(corrupt or incomplete download)")
                    continue
                os.replace(tmp, dest)
                return dest, digest
            except urllib.error.URLError as exc:    # cannot connect, 404, ...: next URL
                failures.append(f"{url}: {exc}")
                break
            except (OSError, http.client.HTTPException) as exc:   # cut off mid-way: retry
                failures.append(f"{url} (attempt {attempt}): {exc!r}")
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
    raise DownloadError(f"could not download {dest.name} into {directory}:\n  "
                        + "\n  ".join(failures) + failure_hint)


def ensure_files(source: Source, filenames, root=None, download: bool = True,
                 mirrors=None, quiet: bool = False) -> list:
    """Make sure that every file of ``filenames`` is in the cache with its canonical MD5.

    A file that is present and intact is used as it is. A file that is missing, or present
    with a wrong digest (corrupt, or cut short by an interrupted download), is fetched from
    the mirrors when ``download`` is True; otherwise an error says what is wrong and what to do.

    Returns the paths, in the order of ``filenames``.
    """
    folder = cache_dir(root) / source.name
    mirrors = tuple(source.mirrors if mirrors is None else mirrors)
    _check_folder(folder)
    paths, missing, corrupt = [], [], []
    try:
        for fn in filenames:
            path = folder / fn
            paths.append(path)
            if not path.is_file():
                missing.append(fn)
            elif md5sum(path) != source.md5[fn]:
                corrupt.append(fn)
    except OSError as exc:            # e.g. a folder without read permission
        raise _cache_error(folder, "reading it", exc) from exc
    if not download:
        if corrupt:
            fn = corrupt[0]
            raise ChecksumError(
                f"{folder / fn}: MD5 {md5sum(folder / fn)} is not the canonical "
                f"{source.md5[fn]}: the file is corrupt or incomplete. Delete it, or load with "
                f"download=True to fetch it again")
        if missing:
            raise FileNotFoundError(
                f"{source.name}: {', '.join(missing)} not found in the cache folder {folder} and "
                f"download=False. Load with download=True, or put the files there by hand "
                f"(from {mirrors[0] if mirrors else '?'}); the cache folder is set by root=, "
                "$MINIGAN_DATA or $XDG_CACHE_HOME")
    todo = corrupt + missing
    errors = []
    for fn in todo:
        if fn in corrupt and not quiet:
            _say(f"minigan: {folder / fn} has a wrong MD5 (corrupt or incomplete): fetching it again")
        try:
            fetch_file(fn, source.md5[fn], folder, mirrors, quiet=quiet)
        except DownloadError as exc:
            errors.append(str(exc))
    if errors:
        raise DownloadError(
            f"{source.name}: could not get {', '.join(todo)} into the cache folder {folder} "
            f"(offline?). Every mirror was tried:\n" + "\n".join(errors) + "\nWhen online, "
            "load again; or download the files by hand into that folder (set it with root=, "
            "$MINIGAN_DATA or $XDG_CACHE_HOME)")
    return paths


# --- the datasets ------------------------------------------------------------------------------
def load_mnist(split: str = "train", root=None, download: bool = True, fashion: bool = False,
               *, mirrors=None, quiet: bool = False) -> ImageDataset:
    """MNIST (or Fashion-MNIST with ``fashion=True``) as an :class:`ImageDataset`.

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
        root: the cache folder (default: see :func:`cache_dir`); the dataset lives in
            ``root/mnist/`` or ``root/fashion-mnist/``.
        download: fetch missing or corrupt files from the mirrors. With False, only the
            cache is used and a missing or corrupt file is an error.
        fashion: Zalando's Fashion-MNIST (same format, ten kinds of clothing) instead of MNIST.
        mirrors: base URLs to try instead of the standard ones (e.g. a local mirror).
        quiet: do not print download messages (to stderr).

    Returns: ImageDataset with images float32 (N, 1, 28, 28) in [-1, 1] (``v / 127.5 - 1``),
    labels int64 (N,) in 0..9, name ``"mnist-train"`` / ``"fashion-mnist-test"`` etc., and
    the class names. Arrays are on the backend in use.
    """
    if split not in ("train", "test"):
        raise ValueError(f"load_mnist: split must be 'train' or 'test', got {split!r}")
    source = SOURCES["fashion-mnist" if fashion else "mnist"]
    images_fn, labels_fn = source.files[split]
    images_path, labels_path = ensure_files(source, (images_fn, labels_fn), root, download,
                                            mirrors, quiet)
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if images.shape[1:] != (28, 28):
        raise IDXError(f"{images_path}: images of {images.shape[1]}x{images.shape[2]} pixels "
                       f"(shape {images.shape}), expected 28x28: not an "
                       f"{'Fashion-MNIST' if fashion else 'MNIST'} image file")
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise IDXError(f"{images_path}, {labels_path}: expected uint8 data, got "
                       f"{images.dtype} and {labels.dtype}")
    if images.shape[0] != labels.shape[0]:
        raise IDXError(f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
                       f"{labels.shape[0]} labels")
    if labels.size and labels.max() >= len(source.classes):
        raise IDXError(f"{labels_path}: label {int(labels.max())} out of range 0..{len(source.classes) - 1}")
    x = images.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    return ImageDataset(backend.asarray(np.ascontiguousarray(x[:, None, :, :])),
                        backend.asarray(labels.astype(np.int64)), f"{source.name}-{split}",
                        source.classes)


def load_fashion_mnist(split: str = "train", root=None, download: bool = True, **kwargs) -> ImageDataset:
    """Fashion-MNIST: :func:`load_mnist` with ``fashion=True``."""
    return load_mnist(split, root, download, fashion=True, **kwargs)
