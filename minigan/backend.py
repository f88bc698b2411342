"""The array module: NumPy on the CPU, CuPy on a GPU, the same code.

Library code never writes ``np.`` for arrays that may live on a device. It asks
for the module of the arrays it is given::

    xp = get_array_module(x)      # numpy or cupy, whichever holds x

and, to create new arrays (parameters, noise), the module in use::

    from minigan import backend
    backend.xp.zeros(...)         # numpy by default, cupy after minigan.use("cupy")

Selecting the backend: ``minigan.use("cupy")`` or the environment variable
``MINIGAN_BACKEND=cupy`` (read once, at import). CuPy is imported lazily, only
when asked for, and a clear error says what is missing if it cannot be used.

Random numbers: every random draw in the library goes through a ``Generator``
returned by :func:`rng`, so that a seed makes a run reproducible. This module
imports nothing else from minigan.
"""
from __future__ import annotations

import contextlib
import os

import numpy as np

__all__ = ["xp", "use", "name", "get_array_module", "to_numpy", "asarray",
           "seed", "rng", "default_rng", "blas_threads"]

xp = np          # the module used to create new arrays; changed by use()
name = "numpy"   # "numpy" or "cupy"
_seed_state = {"rng": np.random.default_rng(0)}


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
    """Select the array module for new arrays: ``"numpy"`` (default) or ``"cupy"``.

    The global generator is re-created on the new backend, seeded 0: call :func:`seed`
    afterwards for another seed."""
    global xp, name
    if backend == "numpy":
        xp, name = np, "numpy"
    elif backend == "cupy":
        xp, name = _import_cupy(), "cupy"
    else:
        raise ValueError(f"unknown backend {backend!r}: expected 'numpy' or 'cupy'")
    seed(0)


def get_array_module(*arrays):
    """numpy or cupy: the module that holds ``arrays`` (numpy for plain Python values)."""
    for a in arrays:
        mod = type(a).__module__
        if mod.startswith("cupy"):
            import cupy
            return cupy
    return np


def to_numpy(a):
    """A NumPy copy (or view) of ``a``, wherever it lives; for plots, metrics and files."""
    if type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


def asarray(a, dtype=None):
    """``a`` as an array of the backend in use (moved to the GPU under cupy)."""
    return xp.asarray(a, dtype=dtype)


def default_rng(seed_value=None):
    """A random Generator of the backend in use (numpy.random or cupy.random)."""
    return xp.random.default_rng(seed_value)


def seed(seed_value: int) -> None:
    """Seed minigan's global generator (used where no generator is passed explicitly)."""
    _seed_state["rng"] = default_rng(seed_value)


def rng():
    """minigan's global random Generator (see :func:`seed`)."""
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


_env = os.environ.get("MINIGAN_BACKEND", "numpy").strip().lower()
if _env not in ("", "numpy"):
    use(_env)
