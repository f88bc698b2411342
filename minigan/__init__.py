"""minigan: a from-scratch course on GANs, and the small deep-learning library it is built on.

NumPy on the CPU, CuPy on a GPU, no autograd: every backward pass is derived by hand.
"""
from . import _threads

_threads.sleep_when_idle()      # before NumPy is loaded: see minigan/_threads.py

from . import backend  # noqa: E402
from .backend import use, to_numpy, seed  # noqa: E402

__version__ = "0.1.0"
__all__ = ["backend", "use", "to_numpy", "seed", "__version__"]
