"""The wiring of pix2pix's networks (Isola et al. 2017) that is not a layer: the U-Net's skip
connections (a concatenation along the channels, and its backward pass) and the receptive
field of a convolutional stack (what makes a PatchGAN a "70×70" one).

Skip connections
----------------
``concat_channels(a, b) -> (y, cache)``, ``concat_channels_backward(dy, cache) -> (da, db)``:
two functions rather than a Module, because a concatenation has two inputs (the layer contract
has one). The backward pass only splits dy; the point to remember is on the caller's side (see
:func:`concat_channels_backward`): an encoder output that feeds both a skip and the deeper path
receives the SUM of the two gradients.

Receptive fields
----------------
``receptive_field(layers, input_size=None) -> ReceptiveField``. With one axis at a time (rows
and columns are independent), let layer l have kernel k, stride s, padding p, dilation d, and
let a unit of its INPUT grid see r_in input pixels, neighbouring units being j_in input pixels
apart ("jump") and unit 0 starting at input pixel f_in. A unit u of its output reads the input
grid units u·s − p + i·d, i = 0 … k − 1; the first starts at f_in + (u·s − p)·j_in, the last
ends r_in − 1 pixels after the start of unit u·s − p + (k − 1)·d. Hence

    r_out = r_in + (k − 1)·d·j_in,     j_out = j_in·s,     f_out = f_in − p·j_in,

from r = j = 1, f = 0 at the image. Output unit (oh, ow) sees rows f + oh·j … f + oh·j + r − 1
(columns likewise), reaching outside the image, into the padding, when f < 0 (pix2pix's
PatchGANs: 4×4 kernels with padding 1 give r = 1, 16, 70, 286 for 0, 1, 3, 5 strided layers).

Three honest caveats, all in the tests:
- r is the EXTENT of the field (its bounding box). With a stride larger than the kernel
  (k < s) or a dilation d > 1 some pixels inside the box are never read: the field has holes.
  With d = 1 and k ≥ s in every layer it has none (r_in ≥ j_in at every layer, by induction).
- At the border the box reaches into the padding; without holes, an output there reads its box
  clipped to the image, provided every layer pads by less than its kernel (p < k). A layer
  with p ≥ k has border outputs that read padding only, and whatever depends on them alone
  sees less of the image than its box says (nothing at all, in the extreme).
- Layers that act pixel by pixel (activations, dropout) leave the field unchanged, and so, by
  the convention every paper follows, do the norms. Strictly, instance norm (and batch norm
  in training mode) divides by statistics of the whole map, so every output depends a little
  on every input pixel; the receptive field counts the local path, the one the kernels open.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass

from ..backend import get_array_module
from .conv import Conv2d, ConvTranspose2d
from .layers import Dropout, LeakyReLU, Linear, ReLU, Sequential, Sigmoid, Softplus, Tanh
from .module import Module
from .norm import BatchNorm2d, InstanceNorm2d, LayerNorm
from .pool import AvgPool2d, MaxPool2d, Upsample
from .reshape import Flatten, Reshape
from .spectral import SpectralNorm

__all__ = ["concat_channels", "concat_channels_backward", "receptive_field", "ReceptiveField"]


# --- skip connections ---------------------------------------------------------------------------
def _check_array(name, a):
    if not hasattr(a, "shape") or not hasattr(a, "dtype"):
        raise ValueError(f"concat_channels: expected an array as {name}, got {type(a).__name__}")
    if a.ndim < 2:
        raise ValueError(f"concat_channels: expected {name} of shape (N, C, ...), got shape "
                         f"{tuple(a.shape)}")
    if a.dtype.kind != "f":
        raise ValueError(f"concat_channels: expected a floating-point {name}, got dtype "
                         f"{a.dtype}")


def concat_channels(a, b):
    """y = [a, b] along the channel axis 1, as torch.cat([a, b], dim=1): a U-Net's skip.

    a: (N, Ca, ...), b: (N, Cb, ...), the same N and spatial sizes and the same dtype (a mixed
    pair is refused rather than promoted: dtype follows the parameters); y: (N, Ca + Cb, ...),
    a new array. Returns (y, cache); the cache holds shapes only (Ca, y's shape).
    """
    _check_array("a", a)
    _check_array("b", b)
    if a.ndim != b.ndim or a.shape[0] != b.shape[0] or a.shape[2:] != b.shape[2:]:
        raise ValueError(f"concat_channels: a has shape {tuple(a.shape)} and b has shape "
                         f"{tuple(b.shape)}; they must agree on every axis but the channels "
                         "(axis 1)")
    if a.dtype != b.dtype:
        raise ValueError(f"concat_channels: a is {a.dtype} and b is {b.dtype}; convert one "
                         "of them")
    y = get_array_module(a).concatenate([a, b], axis=1)
    return y, (a.shape[1], tuple(y.shape))


def concat_channels_backward(dy, cache):
    """(dy, cache) -> (da, db): y = [a, b] copies each input, so da = dy[:, :Ca], db = dy[:, Ca:]
    (new arrays: adding into one of them never writes into dy).

    The skip's point. In a U-Net an encoder output e feeds two paths: the skip, y = [u, e]
    with u = g(e) the deeper path's (decoded) output, and the deeper path itself. With
    L = L(y(g(e), e)) the chain rule sums over the two ways e reaches L:

        dL/de = (∂g/∂e)ᵀ·dL/du  +  dL/de|skip  =  g.backward(da)  +  db,

    so the caller ADDS the gradient that comes back through the deeper path to the one that the
    skip hands over (db here), before going on into the encoder layer that produced e.
    """
    Ca, shape = cache
    got = getattr(dy, "shape", None)
    if got is None or tuple(got) != shape:
        what = f"shape {tuple(got)}" if got is not None else type(dy).__name__
        raise ValueError(f"concat_channels_backward: expected dy of shape {shape} (the shape "
                         f"of the concatenation), got {what}")
    return dy[:, :Ca].copy(), dy[:, Ca:].copy()


# --- receptive fields ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of a stack, per axis (rows, columns); module docstring.

    size: (r_h, r_w), the extent of one output unit's field, in input pixels.
    jump: (j_h, j_w), the distance between neighbouring output units' fields (the total stride).
    first: (f_h, f_w), the first input row and column of output (0, 0)'s field (negative when
        the field reaches into the padding).
    output_size: (OH, OW) for the ``input_size`` given, else None.
    """

    size: tuple
    jump: tuple
    first: tuple
    output_size: tuple | None = None

    def input_box(self, oh: int, ow: int):
        """((row0, row1), (col0, col1)): the input rows and columns (inclusive) that output unit
        (oh, ow) sees, not clipped to the image (it may reach into the padding)."""
        (rh, rw), (jh, jw), (fh, fw) = self.size, self.jump, self.first
        return ((fh + oh * jh, fh + oh * jh + rh - 1), (fw + ow * jw, fw + ow * jw + rw - 1))


# Layers that act on each pixel (or, for the norms, count as such: module docstring).
_POINTWISE = (ReLU, LeakyReLU, Tanh, Sigmoid, Softplus, Dropout, BatchNorm2d, InstanceNorm2d,
              LayerNorm)


def _leaves(layers, path):
    """(path, layer) of every layer of ``layers`` in order, Sequentials and lists opened and
    spectral normalisation seen through (it changes the weight, not the geometry)."""
    if isinstance(layers, Sequential):
        for i, layer in enumerate(layers.layers):
            yield from _leaves(layer, f"{path}[{i}]")
    elif isinstance(layers, SpectralNorm):
        yield from _leaves(layers.layer, f"{path}.layer")
    elif isinstance(layers, (list, tuple)):
        for i, layer in enumerate(layers):
            yield from _leaves(layer, f"{path}[{i}]")
    else:
        yield path, layers


def _geometry(path, layer):
    """((kh, kw), (sh, sw), (ph, pw), (dh, dw)) of one layer, or a TypeError saying why not."""
    if isinstance(layer, Conv2d):
        return layer.kernel_size, layer.stride, layer.padding, layer.dilation
    if isinstance(layer, (MaxPool2d, AvgPool2d)):
        return layer.kernel_size, layer.stride, layer.padding, (1, 1)
    if isinstance(layer, _POINTWISE):
        return (1, 1), (1, 1), (0, 0), (1, 1)
    where = f"receptive_field: layer {path}, {layer!r}"
    if isinstance(layer, (ConvTranspose2d, Upsample)):
        raise TypeError(f"{where}, upsamples: its output units are a fraction of an input "
                        "pixel apart, which this arithmetic (for the downsampling stacks of a "
                        "discriminator or an encoder) does not cover")
    if isinstance(layer, (Linear, Flatten, Reshape)):
        raise TypeError(f"{where}, mixes every position: its receptive field is the whole "
                        "input, not a local window")
    if not isinstance(layer, Module):
        raise TypeError(f"{where}: expected minigan.nn layers, got {type(layer).__name__}")
    raise TypeError(f"{where}: no receptive-field rule for {type(layer).__name__}; supported: "
                    "Conv2d (also inside SpectralNorm), MaxPool2d, AvgPool2d, Sequential, and "
                    "the layers that act per pixel: " +
                    ", ".join(c.__name__ for c in _POINTWISE))


def _size_pair(input_size):
    items = tuple(input_size) if isinstance(input_size, (tuple, list)) else (input_size,) * 2
    try:
        if len(items) != 2 or any(isinstance(n, bool) for n in items):
            raise TypeError
        pair = tuple(operator.index(n) for n in items)
        if min(pair) < 1:
            raise TypeError
    except TypeError:
        raise ValueError(f"receptive_field: input_size must be a positive int or a pair (H, W) "
                         f"of them, got {input_size!r}") from None
    return pair


def receptive_field(layers, input_size=None) -> ReceptiveField:
    """The receptive field of a stack of layers: r_out = r_in + (k − 1)·d·j_in, j_out = j_in·s,
    f_out = f_in − p·j_in per layer and axis (module docstring for the derivation and caveats).

    layers: a Module (a Sequential, a Conv2d, ...) or a list of them, in order. Supported:
    Conv2d (also wrapped in SpectralNorm), MaxPool2d, AvgPool2d, Sequential (nested), and the
    per-pixel layers (activations, Dropout, BatchNorm2d, InstanceNorm2d, LayerNorm); anything
    else is a TypeError naming the layer and why (an upsampling layer, a Linear, ...).
    input_size: an int or (H, W): the output's spatial size is then computed too (and a layer
    that would not fit is a ValueError naming it).
    """
    size = _size_pair(input_size) if input_size is not None else None
    r, j, f = [1, 1], [1, 1], [0, 0]
    for path, layer in _leaves(layers, "layers"):
        kernel, stride, padding, dilation = _geometry(path, layer)
        for a in (0, 1):
            k, s, p, d = kernel[a], stride[a], padding[a], dilation[a]
            r[a] += (k - 1) * d * j[a]
            f[a] -= p * j[a]
            j[a] *= s
        if size is not None:
            new = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                        for n, k, s, p, d in zip(size, kernel, stride, padding, dilation))
            if min(new) < 1:
                raise ValueError(f"receptive_field: layer {path}, {layer!r}, does not fit its "
                                 f"input of spatial size {size} (input_size {input_size!r}): "
                                 f"its output would be {new}")
            size = new
    return ReceptiveField(tuple(r), tuple(j), tuple(f), size)
