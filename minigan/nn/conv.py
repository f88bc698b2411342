"""Convolution and transposed convolution, NCHW, each through im2col and ONE matrix product.

Shape letters: N batch, C input channels, H×Wd input size (height × width: ``W`` is always
the weight), F output channels (filters), KH×KW kernel, OH×OW output size; s stride,
p padding, d dilation (each a pair (h, w)).
The derivations are in the convolutions chapter (``notebooks/04_convolutions.ipynb``);
each docstring repeats the lines that matter.

Conventions, said once: like torch.nn (and every deep-learning library), "convolution" is
cross-correlation, the kernel is not flipped:

    y[n, f, oh, ow] = b[f] + Σ_{c,i,j} W[f, c, i, j] · x_pad[n, c, oh·s + i·d, ow·s + j·d]

im2col (``minigan.kernels``) lays each receptive field out as a column, cols: (C·KH·KW,
N·OH·OW), and W_mat = W.reshape(F, C·KH·KW), so that the whole layer is Y = W_mat · cols;
the weight's gradient is computed as the matrix dW_mat and reshaped back to W's shape.
col2im is the adjoint of im2col: it adds every column entry back onto the pixel it came from.
"""
from __future__ import annotations

import math
import operator

from .. import backend
from ..backend import get_array_module
from ..kernels import col2im, conv_output_size, im2col
from .jvp import check_tangent
from .module import Module, charge_allocation, positive_int


def _positive_pair(v, name, layer, minimum=1):
    """(a, b) from an int or a pair of ints, each >= ``minimum``; a ValueError naming the
    argument and the layer otherwise (a float, even a whole one, is refused: 3.5 is not
    silently 3)."""
    items = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    try:
        if len(items) != 2 or any(isinstance(i, bool) for i in items):
            raise TypeError
        pair = tuple(operator.index(i) for i in items)
    except TypeError:
        raise ValueError(f"{layer}: {name} must be an int or a pair of ints, got {v!r}") from None
    if min(pair) < minimum:
        raise ValueError(f"{layer}: {name} must be >= {minimum}, got {v!r}")
    return pair


def _matmul(a, b):
    """a @ b, for 2-D a and b. When the contraction has length 1 (an outer product: the input
    gradient of a conv with ONE output channel, such as a PatchGAN's last layer) the broadcast
    product a * b, the same numbers (each entry is one product either way), which OpenBLAS's
    matrix product computed 20x slower (0.6 ms for (1024×1)·(1×576) on one core)."""
    if a.shape[1] == 1:
        return a * b
    return a @ b


class _ConvBase(Module):
    """What Conv2d and ConvTranspose2d share: hyper-parameters, initialisation, checks."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, bias,
                 weight_shape, fan_in, rng, dtype):
        super().__init__()
        name = type(self).__name__     # (the channel counts: checked by the subclass)
        self.in_channels, self.out_channels, self.has_bias = in_channels, out_channels, bias
        self.kernel_size = _positive_pair(kernel_size, "kernel_size", name)
        self.stride = _positive_pair(stride, "stride", name)
        self.padding = _positive_pair(padding, "padding", name, minimum=0)
        self.dilation = _positive_pair(dilation, "dilation", name)
        charge_allocation(f"{name}({in_channels}, {out_channels}, kernel_size="
                          f"{self.kernel_size})", (in_channels, out_channels) + self.kernel_size,
                          dtype, [weight_shape] + [(out_channels,)] * bool(bias))
        # torch's default: kaiming_uniform_(a=√5), i.e. U(−1/√fan_in, 1/√fan_in), bias likewise.
        rng = rng if rng is not None else backend.rng()
        bound = 1.0 / math.sqrt(fan_in)
        self.params["weight"] = rng.uniform(-bound, bound, weight_shape).astype(dtype)
        if bias:
            self.params["bias"] = rng.uniform(-bound, bound, (out_channels,)).astype(dtype)
        xp = get_array_module(self.params["weight"])
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}

    def _check_image(self, x):
        self._check_input(x, ndim=4)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{self!r}: expected input with {self.in_channels} channels, "
                             f"shape {self._shape_hint()}, got shape {tuple(x.shape)}")

    def _shape_hint(self):
        return f"(N, {self.in_channels}, H, W)"

    def _extra_repr(self):
        parts = [f"{self.in_channels}, {self.out_channels}", f"kernel_size={self.kernel_size}",
                 f"stride={self.stride}"]
        if self.padding != (0, 0):
            parts.append(f"padding={self.padding}")
        if getattr(self, "output_padding", (0, 0)) != (0, 0):
            parts.append(f"output_padding={self.output_padding}")
        if self.dilation != (1, 1):
            parts.append(f"dilation={self.dilation}")
        if not self.has_bias:
            parts.append("bias=False")
        return ", ".join(parts)

    def __repr__(self):
        return f"{type(self).__name__}({self._extra_repr()})"


class Conv2d(_ConvBase):
    """2-D convolution (cross-correlation), as torch.nn.Conv2d.

    x: (N, C, H, Wd); W: (F, C, KH, KW); b: (F,); y: (N, F, OH, OW) with
    OH = ⌊(H + 2p − d(KH − 1) − 1) / s⌋ + 1 (OW likewise).
    Forward:  cols = im2col(x): (C·KH·KW, N·OH·OW);  Y = W_mat · cols + b: (F, N·OH·OW).
    Backward (convolutions chapter): dW_mat += dY · colsᵀ,  db += Σ_{n,oh,ow} dy,
    dx = col2im(W_matᵀ · dY).
    Initialisation as torch: W, b ~ U(−1/√(C·KH·KW), 1/√(C·KH·KW)).
    ``kernel_size``, ``stride``, ``padding``, ``dilation``: an int or a pair (h, w).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = True, rng=None, dtype="float32"):
        in_channels = positive_int(in_channels, "in_channels", "Conv2d")
        out_channels = positive_int(out_channels, "out_channels", "Conv2d")
        KH, KW = _positive_pair(kernel_size, "kernel_size", "Conv2d")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias,
                         weight_shape=(out_channels, in_channels, KH, KW),
                         fan_in=in_channels * KH * KW, rng=rng, dtype=dtype)

    def output_size(self, H: int, Wd: int):
        """(OH, OW) for an input of spatial size (H, Wd); a clear error if the kernel won't fit."""
        (KH, KW), (sh, sw), (ph, pw), (dh, dw) = (self.kernel_size, self.stride, self.padding,
                                                 self.dilation)
        OH, OW = conv_output_size(H, KH, sh, ph, dh), conv_output_size(Wd, KW, sw, pw, dw)
        if OH <= 0 or OW <= 0:
            raise ValueError(
                f"{self!r}: input of spatial size ({H}, {Wd}) is too small: with padding "
                f"{self.padding} it is ({H + 2 * ph}, {Wd + 2 * pw}), smaller than the dilated "
                f"kernel ({dh * (KH - 1) + 1}, {dw * (KW - 1) + 1}), so the output would be "
                f"({OH}, {OW})")
        return OH, OW

    def forward(self, x):
        self._check_image(x)
        N, C, H, Wd = x.shape
        OH, OW = self.output_size(H, Wd)
        F = self.out_channels
        xp = get_array_module(x)
        W_mat = self.params["weight"].reshape(F, -1)                      # (F, C·KH·KW)
        cols = im2col(x, *self.kernel_size, self.stride, self.padding,
                      self.dilation)                                      # (C·KH·KW, N·OH·OW)
        Y = W_mat @ cols                                                  # (F, N·OH·OW)
        if self.has_bias:
            Y += self.params["bias"][:, None]
        y = xp.ascontiguousarray(Y.reshape(F, N, OH, OW).transpose(1, 0, 2, 3))
        # The cache: x's shape, for col2im, and cols, for dW_mat = dY · colsᵀ; x itself is not
        # needed (cols holds every value of it), and W_mat is re-read from params in backward.
        return y, (x.shape, cols)

    def _output_shape(self, x_shape):
        """The shape of y for an input of shape ``x_shape``: (N, F, OH, OW)."""
        return (x_shape[0], self.out_channels) + self.output_size(*x_shape[2:])

    def backward(self, dy, cache):
        x_shape = cache[0]
        dY = self._backward_params(dy, cache)                            # (F, N·OH·OW)
        W_mat = self.params["weight"].reshape(self.out_channels, -1)     # (F, C·KH·KW)
        dcols = _matmul(W_mat.T, dY)                                     # (C·KH·KW, N·OH·OW)
        return col2im(dcols, x_shape, *self.kernel_size, self.stride, self.padding,
                      self.dilation)                                     # dx = col2im(dcols)

    def backward_params(self, dy, cache):
        """``backward`` without dx (the input is data): dW_mat += dY · colsᵀ, db += Σ dy."""
        self._backward_params(dy, cache)

    def _backward_params(self, dy, cache):
        """dW_mat += dY · colsᵀ, db += Σ dy; returns dY: (F, N·OH·OW)."""
        x_shape, cols = cache
        self._check_dy(dy, self._output_shape(x_shape))
        N, F, OH, OW = dy.shape
        weight = self.params["weight"]
        dY = dy.transpose(1, 0, 2, 3).reshape(F, N * OH * OW)            # (F, N·OH·OW), a copy
        # dW_mat = dY · colsᵀ, computed as (cols · dYᵀ)ᵀ: the same numbers, but OpenBLAS ran
        # this orientation (long axis N·OH·OW contracted, F columns) up to 10x faster on 2 cores.
        dW_mat = (cols @ dY.T).T                                         # (F, C·KH·KW)
        self.grads["weight"] += dW_mat.reshape(weight.shape)
        if self.has_bias:
            self.grads["bias"] += dY.sum(axis=1)                         # db = Σ dy
        return dY

    # Tangent passes for gradient penalties (minigan.nn.jvp). The conv is linear in x, so the
    # tangent is the same conv of ẋ without the bias, and dW collects both streams.
    def forward_jvp(self, x, x_dot):
        """(x, ẋ) -> (y, ẏ, cache): ẏ = conv(ẋ; W), no bias.  x, ẋ: (N, C, H, Wd).
        cols_dot = im2col(ẋ);  Ẏ = W_mat · cols_dot."""
        check_tangent(self, x, x_dot)
        y, (x_shape, cols) = self.forward(x)
        N, F, OH, OW = y.shape
        xp = get_array_module(x)
        W_mat = self.params["weight"].reshape(F, -1)                      # (F, C·KH·KW)
        cols_dot = im2col(x_dot, *self.kernel_size, self.stride, self.padding, self.dilation)
        Y_dot = W_mat @ cols_dot                                          # (F, N·OH·OW)
        y_dot = xp.ascontiguousarray(Y_dot.reshape(F, N, OH, OW).transpose(1, 0, 2, 3))
        # The cache: forward's (x's shape, cols), and cols_dot for dW_mat's tangent stream.
        return y, y_dot, (x_shape, cols, cols_dot)

    def backward_jvp(self, dy, dy_dot, cache):
        """(dy, dẏ) -> (dx, dẋ): dW_mat += dY·colsᵀ + dẎ·cols_dotᵀ, db += Σ dy,
        dx = col2im(W_matᵀ·dY), dẋ = col2im(W_matᵀ·dẎ)."""
        x_shape, cols, cols_dot = cache
        self._check_dy_pair(dy, dy_dot, self._tangent_output_shape(cache))
        dx = self.backward(dy, (x_shape, cols))                          # the primal stream
        N, F, OH, OW = dy_dot.shape
        weight = self.params["weight"]
        W_mat = weight.reshape(F, -1)                                    # (F, C·KH·KW)
        dY_dot = dy_dot.transpose(1, 0, 2, 3).reshape(F, N * OH * OW)    # (F, N·OH·OW)
        dW_mat = (cols_dot @ dY_dot.T).T                   # dẎ·cols_dotᵀ, oriented as in backward
        self.grads["weight"] += dW_mat.reshape(weight.shape)
        dx_dot = col2im(_matmul(W_mat.T, dY_dot), x_shape, *self.kernel_size,
                        self.stride, self.padding, self.dilation)
        return dx, dx_dot

    def _tangent_output_shape(self, cache):
        """The shape of y (and ẏ) of the tangent pass whose cache is ``cache``."""
        return self._output_shape(cache[0])


class ConvTranspose2d(_ConvBase):
    """2-D transposed convolution, as torch.nn.ConvTranspose2d: the ADJOINT of Conv2d.

    x: (N, C_in, H, Wd); W: (C_in, C_out, KH, KW) (torch's layout); b: (C_out,);
    y: (N, C_out, OH, OW) with OH = (H − 1)·s − 2p + d(KH − 1) + output_padding + 1.

    A Conv2d(C_out, C_in) with the same weight maps (N, C_out, OH, OW) to (N, C_in, H, Wd) as
    Y = W_mat · im2col(·), W_mat = W.reshape(C_in, C_out·KH·KW). This layer is its transpose:
    Forward:  cols = W_matᵀ · X: (C_out·KH·KW, N·H·Wd);  y = col2im(cols) + b
              (each input pixel scatters a weighted copy of the kernel onto the output).
    Backward (convolutions chapter): dcols = im2col(dy),  dW_mat += X · dcolsᵀ,
    db += Σ_{n,oh,ow} dy,  dX = W_mat · dcols.
    No zeros are inserted between input pixels (the textbook picture of this operation, which
    spends most of its multiplications on those zeros). ``output_padding`` adds rows/columns at
    the bottom/right: it picks which of the input sizes that a strided conv maps to (H, Wd) we get.
    Initialisation as torch, whose fan-in for this weight is C_out·KH·KW:
    W, b ~ U(−1/√(C_out·KH·KW), 1/√(C_out·KH·KW)).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, bias: bool = True, dilation=1, rng=None, dtype="float32"):
        in_channels = positive_int(in_channels, "in_channels", "ConvTranspose2d")
        out_channels = positive_int(out_channels, "out_channels", "ConvTranspose2d")
        KH, KW = _positive_pair(kernel_size, "kernel_size", "ConvTranspose2d")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias,
                         weight_shape=(in_channels, out_channels, KH, KW),
                         fan_in=out_channels * KH * KW, rng=rng, dtype=dtype)
        self.output_padding = _positive_pair(output_padding, "output_padding",
                                             "ConvTranspose2d", minimum=0)
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= max(s, d):   # the same rule as torch
                raise ValueError(f"ConvTranspose2d: output_padding {self.output_padding} must be "
                                 f"smaller than either stride {self.stride} or dilation "
                                 f"{self.dilation}")

    def output_size(self, H: int, Wd: int):
        """(OH, OW) = ((H − 1)·s − 2p + d(K − 1) + output_padding + 1, same for Wd)."""
        OH, OW = ((n - 1) * s - 2 * p + d * (k - 1) + op + 1
                  for n, s, p, d, k, op in zip((H, Wd), self.stride, self.padding, self.dilation,
                                               self.kernel_size, self.output_padding))
        if OH <= 0 or OW <= 0:
            raise ValueError(f"{self!r}: input of spatial size ({H}, {Wd}) is too small for "
                             f"padding {self.padding}: the output would be ({OH}, {OW})")
        return OH, OW

    def forward(self, x):
        self._check_image(x)
        N, C, H, Wd = x.shape
        OH, OW = self.output_size(H, Wd)
        W_mat = self.params["weight"].reshape(C, -1)                      # (C_in, C_out·KH·KW)
        X = x.transpose(1, 0, 2, 3).reshape(C, N * H * Wd)                # (C_in, N·H·Wd)
        cols = _matmul(W_mat.T, X)                                        # (C_out·KH·KW, N·H·Wd)
        # The conv whose adjoint this is has its output, of size (H, Wd), as our input; with
        # output_padding ≥ stride (allowed when smaller than dilation) that conv would fit
        # more windows than H, so the window count is given explicitly.
        y = col2im(cols, (N, self.out_channels, OH, OW), *self.kernel_size, self.stride,
                   self.padding, self.dilation, out_size=(H, Wd))         # (N, C_out, OH, OW)
        if self.has_bias:
            y += self.params["bias"][:, None, None]
        # The cache: X, for dW_mat = X · dcolsᵀ (the input, already laid out as a matrix), and
        # the input's spatial size (H, Wd), which the output's size does not determine.
        return y, (X, (H, Wd))

    def backward(self, dy, cache):
        X, (H, Wd) = cache                                                # X: (C_in, N·H·Wd)
        C, N = self.in_channels, X.shape[1] // (H * Wd)
        self._check_dy(dy, (N, self.out_channels) + self.output_size(H, Wd))
        weight = self.params["weight"]
        W_mat = weight.reshape(C, -1)                                     # (C_in, C_out·KH·KW)
        dcols = im2col(dy, *self.kernel_size, self.stride, self.padding, self.dilation,
                       out_size=(H, Wd))                                  # (C_out·KH·KW, N·H·Wd)
        # dW_mat = X · dcolsᵀ, computed as (dcols · Xᵀ)ᵀ for speed (see Conv2d.backward).
        dW_mat = (dcols @ X.T).T                                          # (C_in, C_out·KH·KW)
        self.grads["weight"] += dW_mat.reshape(weight.shape)
        if self.has_bias:
            self.grads["bias"] += dy.sum(axis=(0, 2, 3))                 # db = Σ dy
        dX = W_mat @ dcols                                                # (C_in, N·H·Wd)
        xp = get_array_module(dX)
        return xp.ascontiguousarray(dX.reshape(C, N, H, Wd).transpose(1, 0, 2, 3))
