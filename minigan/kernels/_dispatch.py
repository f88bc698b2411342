"""What the kernel modules share: the lazy, warn-once import of a numba module and the
choice of implementation for an array (``"cupy"``, ``"numba"`` or ``"numpy"``).

``minigan.kernels.im2col`` predates this helper and keeps its own copy of the same logic."""
from __future__ import annotations

import importlib
import os
import warnings

import numpy as np

from ..backend import get_array_module


WAIT_POLICY = "OMP_WAIT_POLICY"


def passive_openmp() -> bool:
    """Ask the OpenMP runtime that numba's parallel kernels start (libgomp) to let its idle
    threads sleep instead of spinning: sets ``OMP_WAIT_POLICY=PASSIVE`` in this process's
    environment unless it is set already. Called when ``minigan.kernels`` is imported (libgomp
    reads the variable once, when numba first starts its threads: at the first parallel
    kernel, or at a ``numba.set_num_threads`` call); returns True if it set the variable.

    Why: a training step alternates numba's parallel kernels (im2col, activations, batch norm;
    OpenMP threads) with NumPy's matrix products (OpenBLAS's own threads). By default an idle
    OpenMP thread spins for a while, waiting for more work, and so does an idle OpenBLAS
    thread: with two threads each on two cores, the two pools take each other's cores and a
    DCGAN step on two threads was no faster than on one (155 ms against 158; 105 ms with the
    idle threads asleep: benchmarks/README.md). It changes no number, only who waits how.

    The cost: libgomp reads the variable when it is loaded, so an OpenMP runtime loaded later
    in the same process (PyTorch's, if imported after minigan's first kernel) sleeps between
    its parallel regions too. To choose otherwise set ``OMP_WAIT_POLICY`` yourself (``ACTIVE``
    restores spinning); a runtime already loaded keeps what it read."""
    if WAIT_POLICY in os.environ:
        return False
    os.environ[WAIT_POLICY] = "PASSIVE"
    return True


passive_openmp()


def load_numba(state: dict, module: str, what: str):
    """The numba module ``minigan.kernels.<module>`` or None, warning once if numba is missing.

    ``state`` is the calling module's ``{"module": None, "tried": False}`` (tests reset it)."""
    if not state["tried"]:
        state["tried"] = True
        try:
            state["module"] = importlib.import_module(f"minigan.kernels.{module}")
        except ImportError as exc:
            warnings.warn(f"numba could not be imported ({exc}): minigan's {what} fall back to "
                          "the NumPy reference, which is slower. Install it with "
                          "`pip install numba`.", RuntimeWarning, stacklevel=4)
    return state["module"]


def on_device(a) -> str | None:
    """``"cupy"`` for a CuPy array, ``"numpy"`` for an array of the emulated device (a test
    backend, :mod:`minigan.emulated`: it has no CUDA kernels, so it runs the NumPy references,
    which are written with ``xp`` and so run on its device arrays unchanged), None for a
    NumPy array."""
    xp = get_array_module(a)
    if xp is np:
        return None
    return "numpy" if getattr(xp, "EMULATED", False) else "cupy"


def choose(a, load) -> str:
    """``"cupy"`` for a CuPy array; ``"numpy"`` when ``MINIGAN_KERNELS=numpy`` asks for the
    reference, numba is missing (``load()`` returns None) or ``a`` is on the emulated device;
    ``"numba"`` otherwise."""
    device = on_device(a)
    if device is not None:
        return device
    if os.environ.get("MINIGAN_KERNELS", "").strip().lower() == "numpy":
        return "numpy"
    return "numba" if load() is not None else "numpy"


def need(load, name: str):
    """The numba module, or a RuntimeError that says what to install."""
    kernels = load()
    if kernels is None:
        raise RuntimeError(f"{name} needs numba: `pip install numba`")
    return kernels
