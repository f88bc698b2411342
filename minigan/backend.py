"""The array module: NumPy on the CPU, CuPy on a GPU, the same code.

Library code never writes ``np.`` for arrays that may live on a device. It asks
for the module of the arrays it is given::

    xp = get_array_module(x)      # numpy or cupy, whichever holds x

and, to create new arrays (parameters, noise), the module in use::

    from minigan import backend
    backend.xp.zeros(...)         # numpy by default, cupy after minigan.use("cupy")

Selecting the backend: ``minigan.use("cupy")`` or the environment variable
``MINIGAN_BACKEND=cupy`` (read once, at import; "numpy", "cupy", case and spaces
forgiven; unset or empty means numpy). CuPy is imported lazily, only when asked for, and a
clear error says what is missing if it cannot be used.

A third backend, ``"emulated"``, is for tests: :mod:`minigan.emulated`, a CuPy-like device
on the CPU that raises wherever CuPy would (an implicit conversion to NumPy, a NumPy function
on a device array, a host array mixed into a device operation), so that CI proves the GPU
path without a GPU (``pytest --backend=emulated``, ``make emulated``). Its numbers are
NumPy's; it is slower than NumPy and never meant for training.

A bad ``MINIGAN_BACKEND`` (an unknown name, or "cupy" where CuPy or a GPU is missing) does
not break ``import minigan``: the package imports, ``minigan --help`` works, and the error
(a :class:`BackendError` naming the variable, its value and the allowed values) is raised
when an array is first needed: at the first use of ``xp``, ``name``, :func:`asarray`,
:func:`default_rng`, :func:`seed` or :func:`rng` (creating a layer, drawing noise). It is
not silently replaced by NumPy: a run asked for on the GPU never trains on the CPU by
mistake. ``minigan.use(...)`` chooses explicitly and clears the error.

Random numbers: every random draw in the library goes through a ``Generator``
returned by :func:`rng`, so that a seed makes a run reproducible. This module
imports nothing else from minigan but the emulated test backend (lazily, when it is used).
"""
from __future__ import annotations

import contextlib
import os

import numpy as np

__all__ = ["xp", "use", "name", "get_array_module", "to_numpy", "asarray",
           "seed", "rng", "default_rng", "normal", "permutation", "blas_threads",
           "keep_freed_memory", "BackendError"]

xp = np          # the module used to create new arrays; changed by use()
name = "numpy"   # "numpy", "cupy" or "emulated" (a test backend: minigan.emulated)
_seed_state = {"rng": np.random.default_rng(0)}
ENV = "MINIGAN_BACKEND"
BACKENDS = ("numpy", "cupy", "emulated")
_pending = None  # the message of the error a bad MINIGAN_BACKEND raises at first use


class BackendError(ValueError, RuntimeError):
    """The backend named by ``MINIGAN_BACKEND`` cannot be used (an unknown name, or CuPy or
    a GPU missing). A ValueError (a bad value) and a RuntimeError (as CuPy's own errors)."""


def _check_pending():
    if _pending is not None:
        raise BackendError(_pending)


def __getattr__(attr):
    # ``xp`` and ``name`` are removed from the module while a bad MINIGAN_BACKEND is pending
    # (see _from_environment), so that reading them raises the error instead
    if attr in ("xp", "name") and _pending is not None:
        _check_pending()
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def _import_cupy():
    try:
        import cupy  # noqa: F401  (lazy on purpose: minigan runs without it)
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError(
            "minigan backend 'cupy' was requested but CuPy is not installed. "
            "Install it with `pip install minigan[gpu]` (or `pip install cupy-cuda12x` "
            "matching your CUDA), or use the default backend: minigan.use('numpy')."
        ) from exc
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError(
            f"minigan backend 'cupy' was requested but no usable CUDA GPU was found ({exc}). "
            "Use minigan.use('numpy') to run on the CPU."
        ) from exc
    if n == 0:  # pragma: no cover
        raise RuntimeError("minigan backend 'cupy' was requested but no CUDA GPU is visible.")
    return cupy


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one GPU (used by tests to skip cleanly)."""
    try:
        _import_cupy()
        return True
    except RuntimeError:
        return False


def use(backend: str) -> None:
    """Select the array module for new arrays: ``"numpy"`` (default) or ``"cupy"`` (or
    ``"emulated"``, the test backend of :mod:`minigan.emulated`).

    The global generator is re-created on the new backend, seeded 0: call :func:`seed`
    afterwards for another seed."""
    global xp, name, _pending
    if backend == "numpy":
        new = np
    elif backend == "cupy":
        new = _import_cupy()
    elif backend == "emulated":
        from . import emulated as new
    else:
        raise ValueError(f"unknown backend {backend!r}: expected 'numpy' or 'cupy' "
                         "(or 'emulated', a test backend)")
    xp, name, _pending = new, backend, None
    seed(0)


_EMULATED_MODULE = __name__.rpartition(".")[0] + ".emulated"   # "minigan.emulated"


def get_array_module(*arrays):
    """numpy or cupy (or minigan.emulated): the module that holds ``arrays`` (numpy for
    plain Python values)."""
    for a in arrays:
        mod = type(a).__module__
        if mod.startswith("cupy"):
            import cupy
            return cupy
        if mod == _EMULATED_MODULE:
            from . import emulated
            if isinstance(a, emulated.ndarray):
                return emulated
    return np


def to_numpy(a):
    """A NumPy copy (or view) of ``a``, wherever it lives; for plots, metrics and files."""
    mod = type(a).__module__
    if mod.startswith("cupy") or mod == _EMULATED_MODULE:
        return a.get()
    return np.asarray(a)


def asarray(a, dtype=None):
    """``a`` as an array of the backend in use (moved to the GPU under cupy)."""
    _check_pending()
    return xp.asarray(a, dtype=dtype)


def default_rng(seed_value=None):
    """A random Generator of the backend in use (numpy.random or cupy.random)."""
    _check_pending()
    return xp.random.default_rng(seed_value)


def normal(rng, loc, scale, size):
    """Draws from N(loc, scale²) of shape ``size`` by the generator ``rng``, on its device.

    Why not ``rng.normal``: CuPy's Generator (``cupy.random.default_rng``) has no ``normal``
    (it has ``standard_normal``, ``random``, ``uniform``, ``integers``, ...), so on a GPU that
    call fails. A NumPy Generator keeps its own ``normal`` (the same numbers as before); any
    other gets loc + scale·z with z standard normal."""
    if isinstance(rng, np.random.Generator):
        return rng.normal(loc, scale, size)
    return loc + scale * rng.standard_normal(size)


def permutation(rng, n):
    """A random permutation of 0 … n−1 by the generator ``rng``, on its device.

    CuPy's Generator has no ``permutation`` (nor ``choice`` or ``shuffle``): there it is the
    order that sorts n uniform draws (``argsort``), a uniformly random permutation too. A NumPy
    Generator keeps its own ``permutation`` (the same numbers as before)."""
    if isinstance(rng, np.random.Generator):
        return rng.permutation(n)
    return rng.random(n).argsort()


def seed(seed_value: int) -> None:
    """Seed minigan's global generator (used where no generator is passed explicitly)."""
    _seed_state["rng"] = default_rng(seed_value)


def rng():
    """minigan's global random Generator (see :func:`seed`)."""
    _check_pending()
    return _seed_state["rng"]


_blas = {}


@contextlib.contextmanager
def blas_threads(n):
    """Limit the CPU BLAS (NumPy's matrix products) to ``n`` threads inside the block.

    Why: for the small matrices of an MLP GAN (batch 256 x width 128), waking a second
    BLAS thread costs more than the product itself; on a busy 2-core machine the threads
    spin while waiting and one training step can take 10x longer. Convolutions, whose
    products are large, gain from every core. ``n=None`` changes nothing. Needs
    threadpoolctl (installed with scikit-learn); without it this is a no-op.
    """
    if n is None:
        yield
        return
    if "controller" not in _blas:
        try:
            from threadpoolctl import ThreadpoolController
            _blas["controller"] = ThreadpoolController()
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            _blas["controller"] = None
    controller = _blas["controller"]
    if controller is None:  # pragma: no cover
        yield
        return
    with controller.limit(limits=int(n), user_api="blas"):
        yield


# M_TOP_PAD, from glibc's <malloc.h>: the slack sbrk adds when the heap grows, and the free
# memory at the top of the heap that trimming leaves in place.
_M_TOP_PAD = -2
_malloc = {"done": False}
TOP_PAD_ENV = "MINIGAN_MALLOC_TOP_PAD"


def keep_freed_memory(nbytes=64 << 20) -> bool:
    """Ask the C allocator (glibc's malloc, on Linux) to keep up to ``nbytes`` of freed memory
    for reuse instead of handing it back to the operating system at once. Process-wide, once
    per process; the environment variable ``MINIGAN_MALLOC_TOP_PAD`` (bytes; 0 turns it off)
    overrides ``nbytes``. Returns True if the setting was made (now or before).

    Why: a training step allocates and frees the same few tens of MB of temporaries every step
    (im2col matrices, activations, gradients). glibc trims the top of its heap as soon as that
    much is free, so the next step's arrays land on fresh pages, and the kernel maps and zeroes
    every 4 KiB page again on first touch: measured ~7300 page faults, ~13 ms of a 50 ms
    Pix2Pix step (benchmarks/bench_pix2pix_speed.py) on one core, none with this setting.
    The cost: up to ``nbytes`` of a process's peak heap stays reserved after it is freed (what
    PyTorch's and CuPy's caching allocators do on a GPU). It changes no result. A no-op where
    malloc is not glibc's (macOS, Windows, musl); it concerns host memory only (CuPy keeps
    its device arrays in its own pool)."""
    if _malloc["done"]:
        return True
    raw = os.environ.get(TOP_PAD_ENV, "").strip()
    try:
        nbytes = int(raw) if raw else int(nbytes)
    except ValueError:
        nbytes = int(nbytes)
    if nbytes <= 0:
        return False
    try:
        import ctypes
        import ctypes.util
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt          # glibc only: AttributeError elsewhere
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        _malloc["done"] = bool(mallopt(_M_TOP_PAD, min(nbytes, 2 ** 31 - 1)))
    except (OSError, AttributeError, TypeError):  # pragma: no cover - not glibc
        _malloc["done"] = False
    return _malloc["done"]


def _from_environment():
    """Apply ``MINIGAN_BACKEND``; if it cannot be used, keep the error for later (see the
    module docstring) instead of failing the import of every part of minigan."""
    global _pending
    raw = os.environ.get(ENV)
    value = (raw or "").strip().lower()
    if value in ("", "numpy"):
        return
    try:
        use(value)
    except (ValueError, RuntimeError) as exc:
        reason = (f"unknown backend {value!r}" if value not in BACKENDS else str(exc).rstrip("."))
        _pending = (f"the environment variable {ENV}={raw!r} cannot be used: {reason}. "
                    f"Allowed values: {', '.join(repr(b) for b in BACKENDS)} (unset or empty "
                    f"means 'numpy'); or choose in code with minigan.use('numpy')")
        globals().pop("xp", None)
        globals().pop("name", None)


_from_environment()
