"""minigan.kernels: the hot loops, each as a readable NumPy reference, a numba CPU kernel
(imported lazily, only when numba is installed) and a path for CuPy arrays, behind one
dispatch function per op. ``tests/test_kernels.py`` holds every fast kernel to its reference.

Note: ``minigan.kernels.im2col`` is the dispatch FUNCTION (re-exported here); the module of
the same name is reached with ``importlib.import_module("minigan.kernels.im2col")``.
"""
from .im2col import (col2im, col2im_numba, col2im_reference, conv_output_size, im2col,
                     im2col_numba, im2col_reference, implementation)

__all__ = ["im2col", "col2im", "im2col_reference", "col2im_reference", "im2col_numba",
           "col2im_numba", "conv_output_size", "implementation"]
