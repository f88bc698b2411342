"""Bad inputs are named clearly: the MINIGAN_BACKEND variable, a dy of the wrong shape in every
layer's backward pass, layer sizes that are not positive ints, an empty batch for the recurrent
layers, and MNIST's files and cache folder (corrupt IDX headers, a wrong image size, a folder
that cannot be used)."""
import errno
import gzip
import hashlib
import os
import pathlib
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

from minigan.data import load_mnist, mnist, read_idx
from minigan.data.mnist import SOURCES, CacheDirError, IDXError, Source
from minigan.nn import Conv1d, MaxPool1d, WordAttention  # noqa: E402
from minigan.nn import (
    GRU,
    LSTM,
    AvgPool2d,
    BatchNorm1d,
    InstanceNorm2d,
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Dropout,
    Embedding,
    Flatten,
    Highway,
    LayerNorm,
    LeakyReLU,
    Linear,
    LSTMCell,
    MaxPool2d,
    MinibatchDiscrimination,
    ReLU,
    Reshape,
    Sequential,
    Sigmoid,
    Softplus,
    SpectralNorm,
    Tanh,
    Upsample,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]


# --- MINIGAN_BACKEND ---------------------------------------------------------------------------
def run_python(args, value):
    env = dict(os.environ, MINIGAN_BACKEND=value)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def test_a_bad_backend_variable_does_not_break_help_and_is_named_when_arrays_are_needed(
        tmp_path):
    help_ = run_python(["-m", "minigan", "--help"], "bogus")
    assert help_.returncode == 0, help_.stderr
    assert "usage: minigan" in help_.stdout and "MINIGAN_BACKEND" not in help_.stderr
    code = "import minigan.nn as nn; nn.Linear(2, 3)"
    bad = run_python(["-c", code], "bogus")
    assert bad.returncode != 0
    last = bad.stderr.strip().splitlines()[-1]
    assert last.startswith("minigan.backend.BackendError: the environment variable "
                           "MINIGAN_BACKEND='bogus' cannot be used: unknown backend 'bogus'")
    assert "'numpy', 'cupy'" in last
    # the CLI reports it as an error (exit 2), not as a traceback
    cli = run_python(["-m", "minigan", "train", "gan", "--data", "ring8", "--steps", "1",
                      "--out", str(tmp_path / "run"), "--quiet"], "bogus")
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    assert "minigan: error: the environment variable MINIGAN_BACKEND='bogus'" in cli.stderr


def test_the_backend_error_is_raised_at_first_use_and_cleared_by_use(monkeypatch):
    from minigan import backend
    monkeypatch.setenv("MINIGAN_BACKEND", "Tensorflow")
    backend._from_environment()
    try:
        for use in (lambda: backend.xp, lambda: backend.name, lambda: backend.rng(),
                    lambda: backend.asarray([1.0]), lambda: backend.default_rng(0),
                    lambda: backend.seed(1), lambda: Linear(2, 2)):
            with pytest.raises(backend.BackendError, match="MINIGAN_BACKEND='Tensorflow'"):
                use()
        assert isinstance(backend.to_numpy([1]), np.ndarray)     # needs no backend choice
    finally:
        backend.use("numpy")
    assert backend.xp is np and backend.name == "numpy"


def test_cupy_requested_by_the_variable_without_cupy_names_the_variable():
    from minigan import backend
    if backend.gpu_available():
        pytest.skip("CuPy and a GPU are present")
    help_ = run_python(["-m", "minigan", "--help"], "cupy")
    assert help_.returncode == 0, help_.stderr
    bad = run_python(["-c", "import minigan.backend as b; b.xp"], "cupy")
    assert bad.returncode != 0
    assert "MINIGAN_BACKEND='cupy' cannot be used" in bad.stderr and "'numpy'" in bad.stderr


# --- backward with a dy of the wrong shape -----------------------------------------------------
def _layers(rng):
    r = np.random.default_rng(0)
    img = rng.standard_normal((2, 3, 6, 6))
    return {
        "Linear": (Linear(4, 3, rng=r, dtype="float64"), rng.standard_normal((5, 4))),
        "Linear 3-D": (Linear(4, 3, rng=r, dtype="float64"), rng.standard_normal((2, 5, 4))),
        "ReLU": (ReLU(), rng.standard_normal((5, 4))),
        "LeakyReLU": (LeakyReLU(0.2), rng.standard_normal((5, 4))),
        "Tanh": (Tanh(), rng.standard_normal((5, 4))),
        "Sigmoid": (Sigmoid(), rng.standard_normal((5, 4))),
        "Softplus": (Softplus(), rng.standard_normal((5, 4))),
        "Dropout": (Dropout(0.5, rng=np.random.default_rng(1)), rng.standard_normal((5, 4))),
        "Sequential": (Sequential(Linear(4, 6, rng=r, dtype="float64"), ReLU(),
                                  Linear(6, 2, rng=r, dtype="float64")),
                       rng.standard_normal((5, 4))),
        "Conv2d": (Conv2d(3, 4, 3, stride=2, padding=1, rng=r, dtype="float64"), img),
        "ConvTranspose2d": (ConvTranspose2d(3, 2, 4, stride=2, padding=1, rng=r,
                                            dtype="float64"), img),
        "BatchNorm1d": (BatchNorm1d(4, dtype="float64"), rng.standard_normal((5, 4))),
        "BatchNorm2d": (BatchNorm2d(3, dtype="float64"), img),
        "LayerNorm": (LayerNorm(4, dtype="float64"), rng.standard_normal((5, 4))),
        "MaxPool2d": (MaxPool2d(3, stride=2), img),
        "AvgPool2d": (AvgPool2d(2), img),
        "AvgPool2d overlapping": (AvgPool2d(3, stride=2), img),
        "Upsample": (Upsample(2), img),
        "Flatten": (Flatten(), img),
        "Reshape": (Reshape(-1, 9), img),
        "Embedding": (Embedding(10, 3, rng=r, dtype="float64"), np.array([[1, 2], [3, 9]])),
        "MinibatchDiscrimination": (MinibatchDiscrimination(4, 3, 2, rng=r, dtype="float64"),
                                    rng.standard_normal((5, 4))),
        "Highway": (Highway(4, rng=r, dtype="float64"), rng.standard_normal((5, 4))),
        "SpectralNorm Linear": (SpectralNorm(Linear(4, 3, rng=r, dtype="float64"), rng=r),
                                rng.standard_normal((5, 4))),
        "SpectralNorm Conv2d": (SpectralNorm(Conv2d(3, 2, 3, rng=r, dtype="float64"), rng=r),
                                img),
    }


def _wrong_shapes(shape):
    """Shapes a dy must not have: the same size arranged differently (Linear took that), one
    that broadcasts (the usual silent bug), one unit more, and one dimension fewer."""
    out = []
    size = int(np.prod(shape))
    if len(shape) >= 2 and shape[::-1] != shape:
        out.append(shape[::-1])
    out.append((size,))
    out.append(shape[:-1] + (1,) if shape[-1] != 1 else shape[:-1] + (2,))
    out.append(shape[:-1] + (shape[-1] + 1,))
    out.append(shape[1:])
    return [s for s in dict.fromkeys(out) if s != shape]


@pytest.mark.parametrize("name", list(_layers(np.random.default_rng(0))))
def test_backward_refuses_a_dy_of_the_wrong_shape_naming_the_expected_one(name, rng):
    layer, x = _layers(rng)[name]
    y, cache = layer.forward(x)
    for shape in _wrong_shapes(tuple(y.shape)):
        dy = np.ones(shape)
        with pytest.raises(ValueError, match=re.escape(f"expected dy of shape {tuple(y.shape)}")):
            layer.backward(dy, cache)
    with pytest.raises(ValueError, match=re.escape(f"expected dy of shape {tuple(y.shape)}")):
        layer.backward(1.0, cache)
    layer.backward(np.ones(y.shape), cache)                      # the right shape works


@pytest.mark.parametrize("make", [lambda r: LSTM(3, 4, rng=r), lambda r: GRU(3, 4, rng=r)])
def test_recurrent_backward_refuses_a_dy_of_the_wrong_shape(make, rng):
    layer = make(np.random.default_rng(0))
    (y, _), cache = layer.forward(rng.standard_normal((2, 5, 3)).astype(np.float32))
    for shape in _wrong_shapes(tuple(y.shape)):
        with pytest.raises(ValueError, match=re.escape(f"expected dy of shape {tuple(y.shape)}")):
            layer.backward(np.ones(shape, np.float32), cache)
    cell = LSTMCell(3, 4, rng=np.random.default_rng(0))
    _, cache = cell.forward(rng.standard_normal((2, 3)).astype(np.float32))
    with pytest.raises(ValueError, match=re.escape("expected dh of shape (2, 4)")):
        cell.backward(np.ones((4, 2), np.float32), None, cache)


def test_linear_no_longer_takes_a_wrong_shape_of_the_right_size(rng):
    layer = Linear(4, 3, rng=np.random.default_rng(0), dtype="float64")
    _, cache = layer.forward(rng.standard_normal((6, 4)))
    with pytest.raises(ValueError, match=r"Linear\(4, 3, bias=True\): expected dy of shape "
                                         r"\(6, 3\) \(the shape of this layer's output\), got "
                                         r"shape \(3, 6\)"):
        layer.backward(np.ones((3, 6)), cache)


# --- sizes that are not positive ints ----------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda: Linear(3.5, 2), "Linear: in_features must be a positive int, got 3.5"),
    (lambda: Linear(3, 0), "Linear: out_features must be a positive int, got 0"),
    (lambda: Linear(True, 2), "Linear: in_features must be a positive int, got True"),
    (lambda: Linear("3", 2), "Linear: in_features must be a positive int, got '3'"),
    (lambda: Conv2d(0, 4, 3), "Conv2d: in_channels must be a positive int, got 0"),
    (lambda: Conv2d(1, 4.0, 3), "Conv2d: out_channels must be a positive int, got 4.0"),
    (lambda: Conv2d(1, 4, 2.5), "Conv2d: kernel_size must be an int or a pair of ints, got 2.5"),
    (lambda: Conv2d(1, 4, 3, stride=(1, 1.5)), "Conv2d: stride must be an int or a pair"),
    (lambda: Conv2d(1, 4, 3, padding=-1), "Conv2d: padding must be >= 0, got -1"),
    (lambda: ConvTranspose2d(2, -1, 3), "ConvTranspose2d: out_channels must be a positive int"),
    (lambda: ConvTranspose2d(2.5, 1, 3), "ConvTranspose2d: in_channels must be a positive int"),
    (lambda: BatchNorm2d(2.0), "BatchNorm2d: num_features must be a positive int, got 2.0"),
    (lambda: BatchNorm1d(0), "BatchNorm1d: num_features must be a positive int, got 0"),
    (lambda: LayerNorm(3.5), "LayerNorm: normalized_shape must be a positive int or a tuple"),
    (lambda: LayerNorm((4, 0)), "LayerNorm: normalized_shape must be a positive int or a tuple"),
    (lambda: LSTM(3, 4.0), "LSTM: hidden_size must be a positive int, got 4.0"),
    (lambda: GRU(3, 4, num_layers=1.5), "GRU: num_layers must be a positive int, got 1.5"),
    (lambda: LSTMCell(0, 3), "LSTMCell: input_size must be a positive int, got 0"),
    (lambda: Embedding(10.5, 3), "Embedding: num_embeddings must be a positive int"),
    (lambda: Embedding(10, 3, padding_idx=1.0), "Embedding: padding_idx must be an int"),
    (lambda: MinibatchDiscrimination(4, n_kernels=0), "n_kernels must be a positive int"),
    (lambda: Highway(2.5), "Highway: features must be a positive int, got 2.5"),
    (lambda: Reshape(2.5, 2), "Reshape: shape must be positive ints"),
    (lambda: Flatten(start_dim=1.5), "Flatten: start_dim must be an int, got 1.5"),
    (lambda: MaxPool2d(2.5), "MaxPool2d: kernel_size must be an int or a pair of ints"),
    (lambda: AvgPool2d(2, stride=0), "AvgPool2d: stride must be >= 1"),
    (lambda: Upsample(1.5), "Upsample: scale_factor must be a positive integer"),
    (lambda: Upsample(float("nan")), "Upsample: scale_factor must be a positive integer"),
])
def test_layer_sizes_must_be_positive_ints_and_the_argument_is_named(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


def test_numpy_integers_are_sizes_too():
    n = np.int64(3)
    assert Linear(n, np.int32(2)).params["weight"].shape == (2, 3)
    assert Conv2d(n, 2, np.int64(3)).kernel_size == (3, 3)
    assert LSTM(n, 4).input_size == 3 and LayerNorm(n).normalized_shape == (3,)
    assert Reshape(np.int64(3), -1).shape == (3, -1)


# --- an empty batch for the recurrent layers ---------------------------------------------------
@pytest.mark.parametrize("make, x", [
    (lambda: LSTM(3, 4), np.zeros((0, 5, 3), np.float32)),
    (lambda: LSTM(3, 4, batch_first=False), np.zeros((5, 0, 3), np.float32)),
    (lambda: GRU(3, 4), np.zeros((0, 5, 3), np.float32)),
    (lambda: LSTMCell(3, 4), np.zeros((0, 3), np.float32)),
])
def test_a_batch_of_zero_sequences_is_a_clear_error(make, x):
    with pytest.raises(ValueError, match=r"the input is a batch of 0 sequences, shape"):
        make().forward(x)


# --- IDX files: what the header announces bounds what is read ----------------------------------
def idx(shape, data=b"", type_code=0x08):
    return bytes([0, 0, type_code, len(shape)]) + struct.pack(">" + "I" * len(shape),
                                                              *shape) + data


@pytest.mark.parametrize("gz", [False, True])
def test_an_idx_header_whose_sizes_overflow_is_a_clear_error(tmp_path, gz):
    path = tmp_path / "overflow"
    raw = idx((0xFFFFFFFF,) * 3, bytes(16), type_code=0x0E)     # 2^96 float64s
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(IDXError, match="overflow") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_an_idx_header_announcing_more_than_the_file_can_hold_is_refused_before_reading(
        tmp_path, monkeypatch):
    calls = []
    real = mnist._read_upto
    monkeypatch.setattr(mnist, "_read_upto", lambda s, n: calls.append(n) or real(s, n))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx((60000, 28, 28), bytes(100))))
    with pytest.raises(IDXError, match=r"announces shape \(60000, 28, 28\) of uint8 \(47040000 "
                                       r"data bytes\), more than this gzip file can hold"):
        read_idx(path)
    assert max(calls) < 100                      # only the header was read
    raw = tmp_path / "raw"
    raw.write_bytes(idx((2 ** 31, 2), bytes(8)))
    with pytest.raises(IDXError, match=r"raw: truncated: header announces shape \(2147483648, 2\)"):
        read_idx(raw)


def test_a_gzip_stream_longer_than_announced_is_not_decompressed_to_its_end(tmp_path,
                                                                           monkeypatch):
    """A 'gzip bomb': a few KB that decompress to 100 MB, behind a header announcing 10 bytes."""
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(idx((10,), bytes(100 * 2 ** 20)), compresslevel=9))
    assert path.stat().st_size < 200_000
    sizes = []
    real = mnist._read_upto
    monkeypatch.setattr(mnist, "_read_upto", lambda s, n: sizes.append(n) or real(s, n))
    with pytest.raises(IDXError, match=r"bomb\.gz: has trailing bytes: header announces shape \(10,\)"):
        read_idx(path)
    assert sum(sizes) <= 4 + 4 + 10


# --- the MNIST loader: image size, cache folder ------------------------------------------------
@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """Registers a source whose files live in a local mirror; returns a function that writes
    the train files with images of the given size."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()

    def make(h=28, w=28, n=4):
        images = np.zeros((n, h, w), np.uint8)
        labels = np.arange(n, dtype=np.uint8)
        files = {"train-images-idx3-ubyte.gz": gzip.compress(idx(images.shape, images.tobytes())),
                 "train-labels-idx1-ubyte.gz": gzip.compress(idx(labels.shape, labels.tobytes()))}
        for fn, data in files.items():
            (mirror / fn).write_bytes(data)
        source = Source("mnist", (mirror.as_uri() + "/",), SOURCES["mnist"].files,
                        {fn: hashlib.md5(d).hexdigest() for fn, d in files.items()},
                        SOURCES["mnist"].classes)
        monkeypatch.setitem(SOURCES, "mnist", source)
    return make


def test_images_of_the_wrong_size_are_refused_naming_the_size(fake_mnist, tmp_path):
    fake_mnist(h=27, w=28)
    with pytest.raises(IDXError, match=r"train-images-idx3-ubyte\.gz: images of 27x28 pixels "
                                       r"\(shape \(4, 27, 28\)\), expected 28x28"):
        load_mnist("train", root=tmp_path / "cache", quiet=True)
    fake_mnist()
    assert load_mnist("train", root=tmp_path / "cache2", quiet=True).images.shape == (4, 1, 28, 28)


@pytest.mark.parametrize("download", [True, False])
def test_a_cache_folder_under_a_regular_file_is_named(fake_mnist, tmp_path, download):
    fake_mnist()
    blocker = tmp_path / "data.txt"
    blocker.write_text("a file, not a folder")
    with pytest.raises(CacheDirError, match=re.escape(f"{blocker} is a file, not a folder")) as info:
        load_mnist("train", root=blocker / "cache", download=download, quiet=True)
    assert str(blocker / "cache" / "mnist") in str(info.value)


def _denied(path):
    return PermissionError(errno.EACCES, "Permission denied", str(path))


def test_a_cache_folder_that_cannot_be_created_is_named(fake_mnist, tmp_path, monkeypatch):
    fake_mnist()
    root = tmp_path / "readonly" / "cache"

    def mkdir(self, *args, **kwargs):
        raise _denied(self)
    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    with pytest.raises(CacheDirError, match=re.escape(
            f"the dataset cache folder {root / 'mnist'} cannot be used: creating it failed "
            f"(Permission denied")) as info:
        load_mnist("train", root=root, quiet=True)
    assert "$MINIGAN_DATA" in str(info.value) and info.value.errno == errno.EACCES


def test_a_cache_folder_that_cannot_be_written_is_named(fake_mnist, tmp_path, monkeypatch):
    fake_mnist()
    (tmp_path / "cache" / "mnist").mkdir(parents=True)

    def mkstemp(*args, dir=None, **kwargs):
        raise _denied(os.path.join(dir, "tmp"))
    monkeypatch.setattr(mnist.tempfile, "mkstemp", mkstemp)
    with pytest.raises(CacheDirError, match=re.escape(
            f"{tmp_path / 'cache' / 'mnist'} cannot be used: creating a file in it failed")):
        load_mnist("train", root=tmp_path / "cache", quiet=True)


def test_a_cache_folder_that_cannot_be_read_is_named(fake_mnist, tmp_path, monkeypatch):
    fake_mnist()
    load_mnist("train", root=tmp_path / "cache", quiet=True)       # cached

    def is_file(self):
        raise _denied(self)
    monkeypatch.setattr(pathlib.Path, "is_file", is_file)
    with pytest.raises(CacheDirError, match=re.escape(
            f"{tmp_path / 'cache' / 'mnist'} cannot be used: reading it failed")):
        load_mnist("train", root=tmp_path / "cache", download=False, quiet=True)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="as root, chmod does not take permissions away")
def test_a_cache_folder_without_permission_is_named(fake_mnist, tmp_path):
    fake_mnist()
    folder = tmp_path / "cache" / "mnist"
    folder.mkdir(parents=True)
    folder.chmod(0o500)
    try:
        with pytest.raises(CacheDirError, match=re.escape(f"{folder} cannot be used")):
            load_mnist("train", root=tmp_path / "cache", quiet=True)
    finally:
        folder.chmod(0o700)


# --- the allocation budget: every layer charges what it keeps, before allocating it -----------
def _layer_classes():
    """Every public Module class of minigan.nn, each submodule walked: a new layer is found
    here by itself (and must then get a case in _BUILDS)."""
    import importlib
    import inspect
    import pkgutil

    import minigan.nn
    from minigan.nn import Module
    found = {}
    for info in pkgutil.iter_modules(minigan.nn.__path__):
        module = importlib.import_module(f"minigan.nn.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (issubclass(cls, Module) and cls is not Module and not name.startswith("_")
                    and cls.__module__.startswith("minigan.nn")):
                found[name] = cls
    return found


def _r():
    return np.random.default_rng(0)


# name -> ways to build it (with the options that change what it allocates)
_BUILDS = {
    "Conv1d": [lambda: Conv1d(3, 4, 5, rng=_r()),
               lambda: Conv1d(2, 3, 1, bias=False, rng=_r(), dtype="float64")],
    "MaxPool1d": [lambda: MaxPool1d(2)],
    "WordAttention": [lambda: WordAttention(4, 6, rng=_r())],
    "Linear": [lambda: Linear(4, 3, rng=_r()), lambda: Linear(5, 2, bias=False, rng=_r(),
                                                               dtype="float64")],
    "Conv2d": [lambda: Conv2d(3, 4, (3, 2), rng=_r()), lambda: Conv2d(2, 3, 3, bias=False, rng=_r())],
    "ConvTranspose2d": [lambda: ConvTranspose2d(3, 2, 4, rng=_r(), dtype="float64")],
    "BatchNorm1d": [lambda: BatchNorm1d(4), lambda: BatchNorm1d(3, affine=False, dtype="float64")],
    "BatchNorm2d": [lambda: BatchNorm2d(3)],
    "InstanceNorm2d": [lambda: _layer_classes()["InstanceNorm2d"](3),
                       lambda: _layer_classes()["InstanceNorm2d"](3, affine=True, dtype="float64")],
    "LayerNorm": [lambda: LayerNorm((2, 3)), lambda: LayerNorm(4, elementwise_affine=False)],
    "InstanceNorm2d": [lambda: InstanceNorm2d(3, affine=True), lambda: InstanceNorm2d(4, dtype="float64")],
    "Embedding": [lambda: Embedding(10, 3, rng=_r())],
    "LSTMCell": [lambda: LSTMCell(3, 4, rng=_r()), lambda: LSTMCell(3, 4, bias=False, rng=_r())],
    "LSTM": [lambda: LSTM(3, 4, num_layers=3, rng=_r())],
    "GRU": [lambda: GRU(3, 4, num_layers=2, bias=False, rng=_r(), dtype="float64")],
    "MinibatchDiscrimination": [lambda: MinibatchDiscrimination(4, 3, 2, rng=_r())],
    "Highway": [lambda: Highway(4, rng=_r())],
    "SpectralNorm": [lambda: SpectralNorm(Linear(4, 3, rng=_r()), rng=_r()),
                     lambda: SpectralNorm(Conv2d(3, 2, 3, rng=_r()), rng=_r())],
    "Sequential": [lambda: Sequential(Linear(4, 6, rng=_r()), ReLU(), Linear(6, 2, rng=_r()))],
    **{name: [lambda name=name: _layer_classes()[name]()]
       for name in ("ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Softplus", "Dropout", "Flatten")},
    "Reshape": [lambda: Reshape(3, 4)],
    "MaxPool2d": [lambda: MaxPool2d(2)],
    "AvgPool2d": [lambda: AvgPool2d(2)],
    "Upsample": [lambda: Upsample(2)],
}


def _kept_bytes(layer):
    """The bytes of the arrays a layer keeps: parameters, their gradients and its buffers."""
    return (sum(v.nbytes for v in layer.state_dict().values())
            + sum(g.nbytes for _, _, g in layer.named_parameters()))


def test_every_layer_has_a_build_case():
    missing = set(_layer_classes()) - set(_BUILDS)
    assert not missing, f"add a case to _BUILDS for {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(_layer_classes()))
def test_every_layer_charges_what_it_keeps_before_allocating_it(name):
    from minigan.nn.module import LAYER_BYTES, BudgetExceeded, allocation_budget
    assert name in _BUILDS, f"add a case to _BUILDS for {name}"
    for build in _BUILDS[name]:
        with allocation_budget(2**30) as budget:
            layer = build()
        assert type(layer).__name__ == name
        kept = _kept_bytes(layer)
        extra = budget.spent - kept              # LAYER_BYTES for each (sub)layer with arrays
        assert extra % LAYER_BYTES == 0 and (extra > 0) == (kept > 0), (name, budget.spent, kept)
        assert extra <= 3 * LAYER_BYTES, (name, extra)
        if budget.spent:
            with pytest.raises(BudgetExceeded):             # one byte short: refused
                with allocation_budget(budget.spent - 1):
                    build()
        with allocation_budget(budget.spent):               # exactly enough: built
            build()


@pytest.mark.parametrize("build, message", [
    (lambda: Linear(10**6, 10**6), "Linear(1000000, 1000000) would take 7.28 TiB "
                                   "(2e+12 values: its parameters, their gradients and its "
                                   "buffers), more than the 1 MiB left of the 1 MiB allowed"),
    (lambda: Conv2d(10**4, 10**4, 9), "Conv2d(10000, 10000, kernel_size=(9, 9)) would take"),
    (lambda: Embedding(10**9, 300), "Embedding(1000000000, 300) would take 2.18 TiB"),
    (lambda: LSTM(10**5, 10**5, num_layers=10**6), "LSTM(100000, 100000, num_layers=1000000)"),
    (lambda: BatchNorm2d(10**12), "BatchNorm2d(1000000000000) would take"),
    (lambda: LayerNorm((10**6, 10**6)), "LayerNorm((1000000, 1000000)) would take"),
    (lambda: _layer_classes()["InstanceNorm2d"](10**12, affine=True),
     "InstanceNorm2d(1000000000000) would take"),
    (lambda: MinibatchDiscrimination(10**5, 10**5, 10**3), "MinibatchDiscrimination(100000, "),
    (lambda: Sequential(Linear(4, 4), Linear(4, 10**8)), "Linear(4, 100000000) would take "
                                                         "3.73 GiB (1e+09 values: its parameters, "
                                                         "their gradients and its buffers), more "
                                                         "than the 1022 KiB left of the 1 MiB "
                                                         "allowed"),
])
def test_a_huge_layer_is_refused_before_it_allocates_anything(build, message):
    import tracemalloc

    from minigan.nn.module import BudgetExceeded, allocation_budget
    tracemalloc.start()
    try:
        with pytest.raises(BudgetExceeded) as info:
            with allocation_budget(2**20):
                build()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message in str(info.value)
    assert isinstance(info.value, MemoryError) and peak < 2**20, peak


def test_outside_a_budget_nothing_is_charged():
    from minigan.nn.module import allocation_budget
    with allocation_budget(0):
        pass
    assert Linear(300, 300).params["weight"].shape == (300, 300)       # no budget: no check
    with allocation_budget(10**9) as outer:
        with allocation_budget(10**9) as inner:
            Linear(4, 3)
        Linear(4, 3)
    assert inner.spent == outer.spent > 0                               # each block its own
