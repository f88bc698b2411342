"""minigan.kernels: the hot loops, each as a readable NumPy reference, a numba CPU kernel
(imported lazily, only when numba is installed) and a path for CuPy arrays, behind one
dispatch function per op. ``tests/test_kernels.py`` and ``tests/test_kernels_ops.py`` hold
every fast kernel to its reference.

- ``im2col`` / ``col2im`` (module ``im2col``): the convolutions' indexing;
- module ``pool``: max pooling (values + argmax, scatter-add backward), average pooling;
- module ``batchnorm``: per-channel mean/var and the backward's Σdy, Σdy·x̂ in one pass;
- module ``activation``: leaky ReLU and tanh fused with their derivatives;
- ``_cupy``: the CuPy kernels, compiled on first use.

Note: ``minigan.kernels.im2col`` is the dispatch FUNCTION (re-exported here); the module of
the same name is reached with ``importlib.import_module("minigan.kernels.im2col")``. Each
module has its own ``implementation(a)``; the package's is im2col's.
"""
from .activation import leaky_relu, leaky_relu_backward, tanh, tanh_backward
from .batchnorm import channel_mean_var, channel_sums
from .im2col import (col2im, col2im_numba, col2im_reference, conv_output_size, im2col,
                     im2col_numba, im2col_reference, implementation)
from .pool import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward

__all__ = ["im2col", "col2im", "im2col_reference", "col2im_reference", "im2col_numba",
           "col2im_numba", "conv_output_size", "implementation",
           "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
           "channel_mean_var", "channel_sums",
           "leaky_relu", "leaky_relu_backward", "tanh", "tanh_backward"]
