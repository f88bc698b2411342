"""minigan: a from-scratch course on GANs, and the small deep-learning library it is built on.

NumPy on the CPU, CuPy on a GPU, no autograd: every backward pass is derived by hand.
"""
from . import backend
from .backend import use, to_numpy, seed

__version__ = "0.1.0"
__all__ = ["backend", "use", "to_numpy", "seed", "__version__"]
