"""What the kernel modules share: the lazy, warn-once import of a numba module and the
choice of implementation for an array (``"cupy"``, ``"numba"`` or ``"numpy"``).

``minigan.kernels.im2col`` predates this helper and keeps its own copy of the same logic."""
from __future__ import annotations

import importlib
import os
import warnings

import numpy as np

from ..backend import get_array_module


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
