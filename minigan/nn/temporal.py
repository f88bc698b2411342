"""Layers over sequences and captions: Conv1d, MaxPool1d, and AttnGAN's word attention.

Shape letters: N batch, C input channels, L input length, F output channels (filters), K
kernel, OL output length; s stride, p padding, d dilation (ints). For the attention: C
region channels, H×W regions (HW = H·W of them), D word channels, T words.

Conv1d is cross-correlation, as torch.nn.Conv1d (the kernel is not flipped):

    y[n, f, o] = b[f] + Σ_{c,k} W[f, c, k] · x_pad[n, c, o·s + k·d]

A 1-D unfold lays each receptive field out as a column, cols: (C·K, N·OL), built from K
strided slices of the padded input (slice k holds x_pad[:, :, o·s + k·d] for every o), and
W_mat = W.reshape(F, C·K), so that the whole layer is ONE matrix product Y = W_mat · cols.
Its adjoint (fold) adds each slice back where it came from. No numba kernel: K slices of
a (N, C, L) array are already vectorised, and sequences here are short.

:class:`WordAttention` is the word-level attention of AttnGAN (Xu et al. 2018, "AttnGAN:
Fine-Grained Text to Image Generation with Attentional Generative Adversarial Networks",
the F^attn of section 3.1): every image region builds a context vector from the words of
its caption, weighted by a softmax over the words; padded words get weight exactly 0.
"""
from __future__ import annotations

import math
import operator
from typing import NamedTuple

import numpy as np

from .. import backend
from ..backend import get_array_module
from ..kernels import conv_output_size
from .conv import _matmul
from .module import Module, charge_allocation, positive_int


def _single(v, name, layer, minimum=1):
    """An int >= ``minimum`` from an int or a 1-tuple/list (as torch accepts ``(3,)``); a
    ValueError naming the argument and the layer otherwise (a bool or a float, even a whole
    one, is refused: 3.5 is not silently 3)."""
    items = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    try:
        if len(items) != 1 or isinstance(items[0], bool):
            raise TypeError
        value = operator.index(items[0])
    except TypeError:
        raise ValueError(f"{layer}: {name} must be an int, got {v!r}") from None
    if value < minimum:
        raise ValueError(f"{layer}: {name} must be >= {minimum}, got {v!r}")
    return value


def _taps(K, s, d, OL):
    """The K slices of the padded length axis that a window's taps read: slice k picks
    positions o·s + k·d for o = 0 … OL − 1 (one strided slice, a view, no copy)."""
    return [slice(k * d, k * d + s * (OL - 1) + 1, s) for k in range(K)]


def _pad_length(x, p, fill):
    """x: (N, C, L) padded by ``p`` entries of ``fill`` at both ends of its last axis; x itself
    when p = 0."""
    if p == 0:
        return x
    xp = get_array_module(x)
    N, C, L = x.shape
    out = xp.full((N, C, L + 2 * p), fill, dtype=x.dtype)
    out[:, :, p:p + L] = x
    return out


def _crop_length(a, p, L):
    """The adjoint of :func:`_pad_length`: the middle L entries of the last axis, contiguous."""
    if p == 0:
        return a
    return get_array_module(a).ascontiguousarray(a[:, :, p:p + L])


class Conv1d(Module):
    """1-D convolution (cross-correlation) over sequences, as torch.nn.Conv1d.

    x: (N, C, L); W: (F, C, K); b: (F,); y: (N, F, OL), OL = ⌊(L + 2p − d(K − 1) − 1) / s⌋ + 1.
        y[n, f, o] = b[f] + Σ_{c,k} W[f, c, k] · x_pad[n, c, o·s + k·d]
    Forward:  cols[c·K + k, n·OL + o] = x_pad[n, c, o·s + k·d]: (C·K, N·OL), filled by K
              strided slices of x_pad;  Y = W_mat · cols + b: (F, N·OL).
    Backward: y is linear in W, b and x, each entry of cols feeds F outputs, so
              dW_mat += dY · colsᵀ,  db += Σ_{n,o} dy,  dcols = W_matᵀ · dY,
              dx_pad[n, c, o·s + k·d] += dcols[c·K + k, n·OL + o]  (K strided slice
              additions: taps of overlapping windows add up), dx = dx_pad cropped by p.
    Initialisation as torch: W, b ~ U(−1/√(C·K), 1/√(C·K)).
    ``kernel_size``, ``stride``, ``padding``, ``dilation``: ints (or 1-tuples, as torch);
    stored as ints. ``backward_params`` skips dx (the input is data: token embeddings).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = True, rng=None, dtype="float32"):
        super().__init__()
        in_channels = positive_int(in_channels, "in_channels", "Conv1d")
        out_channels = positive_int(out_channels, "out_channels", "Conv1d")
        self.in_channels, self.out_channels, self.has_bias = in_channels, out_channels, bias
        self.kernel_size = _single(kernel_size, "kernel_size", "Conv1d")
        self.stride = _single(stride, "stride", "Conv1d")
        self.padding = _single(padding, "padding", "Conv1d", minimum=0)
        self.dilation = _single(dilation, "dilation", "Conv1d")
        K = self.kernel_size
        weight_shape = (out_channels, in_channels, K)
        charge_allocation(f"Conv1d({in_channels}, {out_channels}, kernel_size={K})",
                          (in_channels, out_channels, K), dtype,
                          [weight_shape] + [(out_channels,)] * bool(bias))
        # torch's default: kaiming_uniform_(a=√5), i.e. U(−1/√fan_in, 1/√fan_in), bias likewise.
        rng = rng if rng is not None else backend.rng()
        bound = 1.0 / math.sqrt(in_channels * K)
        self.params["weight"] = rng.uniform(-bound, bound, weight_shape).astype(dtype)
        if bias:
            self.params["bias"] = rng.uniform(-bound, bound, (out_channels,)).astype(dtype)
        xp = get_array_module(self.params["weight"])
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}

    def output_size(self, L: int) -> int:
        """OL for an input of length L; a clear error if the (dilated) kernel won't fit."""
        K, s, p, d = self.kernel_size, self.stride, self.padding, self.dilation
        OL = conv_output_size(L, K, s, p, d)
        if OL <= 0:
            span = d * (K - 1) + 1
            raise ValueError(
                f"{self!r}: input of length {L} is too short: with padding {p} it is "
                f"{L + 2 * p}, shorter than the dilated kernel ({span}), so the output would "
                f"have length {OL}; expected shape {self._shape_hint()} with "
                f"L >= {max(span - 2 * p, 1)}")
        return OL

    def _check_sequence(self, x):
        self._check_input(x, ndim=3)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{self!r}: expected input with {self.in_channels} channels, "
                             f"shape {self._shape_hint()}, got shape {tuple(x.shape)}")

    def forward(self, x):
        self._check_sequence(x)
        N, C, L = x.shape
        OL = self.output_size(L)
        F, K = self.out_channels, self.kernel_size
        xp = get_array_module(x)
        x_pad = _pad_length(x, self.padding, 0)                         # (N, C, L + 2p)
        cols = xp.empty((C, K, N, OL), dtype=x.dtype)
        for k, taps in enumerate(_taps(K, self.stride, self.dilation, OL)):
            cols[:, k] = x_pad[:, :, taps].transpose(1, 0, 2)            # (C, N, OL)
        cols = cols.reshape(C * K, N * OL)                               # (C·K, N·OL), a view
        W_mat = self.params["weight"].reshape(F, C * K)                  # (F, C·K)
        Y = _matmul(W_mat, cols)                                         # (F, N·OL)
        if self.has_bias:
            Y += self.params["bias"][:, None]
        y = xp.ascontiguousarray(Y.reshape(F, N, OL).transpose(1, 0, 2))
        # The cache: x's shape (for the fold) and cols (for dW_mat = dY · colsᵀ); x itself is
        # not needed (cols holds every value of it that y depends on).
        return y, (x.shape, cols)

    def _output_shape(self, x_shape):
        """The shape of y for an input of shape ``x_shape``: (N, F, OL)."""
        return (x_shape[0], self.out_channels, self.output_size(x_shape[2]))

    def backward(self, dy, cache):
        N, C, L = cache[0]
        dY = self._backward_params(dy, cache)                            # (F, N·OL)
        F, K, OL = self.out_channels, self.kernel_size, dy.shape[2]
        W_mat = self.params["weight"].reshape(F, C * K)
        dcols = _matmul(W_mat.T, dY).reshape(C, K, N, OL)                # dcols = W_matᵀ · dY
        xp = get_array_module(dcols)
        dx_pad = xp.zeros((N, C, L + 2 * self.padding), dtype=dcols.dtype)
        for k, taps in enumerate(_taps(K, self.stride, self.dilation, OL)):
            dx_pad[:, :, taps] += dcols[:, k].transpose(1, 0, 2)         # the fold (adjoint)
        return _crop_length(dx_pad, self.padding, L)

    def backward_params(self, dy, cache):
        """``backward`` without dx (the input is data): dW_mat += dY · colsᵀ, db += Σ dy."""
        self._backward_params(dy, cache)

    def _backward_params(self, dy, cache):
        """dW_mat += dY · colsᵀ, db += Σ dy; returns dY: (F, N·OL)."""
        x_shape, cols = cache
        self._check_dy(dy, self._output_shape(x_shape))
        N, F, OL = dy.shape
        weight = self.params["weight"]
        dY = dy.transpose(1, 0, 2).reshape(F, N * OL)                    # (F, N·OL), a copy
        # dW_mat = dY · colsᵀ, computed as (cols · dYᵀ)ᵀ as in Conv2d (faster in OpenBLAS).
        self.grads["weight"] += (cols @ dY.T).T.reshape(weight.shape)
        if self.has_bias:
            self.grads["bias"] += dY.sum(axis=1)                         # db = Σ dy
        return dY

    def _shape_hint(self):
        return f"(N, {self.in_channels}, L)"

    def __repr__(self):
        parts = [f"{self.in_channels}, {self.out_channels}", f"kernel_size={self.kernel_size}",
                 f"stride={self.stride}"]
        if self.padding:
            parts.append(f"padding={self.padding}")
        if self.dilation != 1:
            parts.append(f"dilation={self.dilation}")
        if not self.has_bias:
            parts.append("bias=False")
        return f"Conv1d({', '.join(parts)})"


class MaxPool1d(Module):
    """Max over each window of K positions, as torch.nn.MaxPool1d (padding counts as −∞).

    x: (N, C, L) -> y: (N, C, OL), OL = ⌊(L + 2p − K) / s⌋ + 1; stride defaults to the kernel
    size; padding at most K // 2 (as torch: every window then holds a real position).
        y[n, c, o] = max_k x_pad[n, c, o·s + k]
    Backward: the whole gradient of a window goes to its maximum, dx_pad[n, c, o·s + k*] +=
    dy[n, c, o], with k* the FIRST maximal tap of the window (ties as torch); overlapping
    windows add up. The cache holds k* for every window: (N, C, OL) integers.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _single(kernel_size, "kernel_size", "MaxPool1d")
        self.stride = (self.kernel_size if stride is None      # torch: stride = kernel_size
                       else _single(stride, "stride", "MaxPool1d"))
        self.padding = _single(padding, "padding", "MaxPool1d", minimum=0)
        if self.padding > self.kernel_size // 2:
            raise ValueError(f"MaxPool1d: padding {self.padding} should be at most half of "
                             f"the kernel size {self.kernel_size}")

    def output_size(self, L: int) -> int:
        """OL for an input of length L; a clear error if the window won't fit."""
        OL = conv_output_size(L, self.kernel_size, self.stride, self.padding)
        if OL <= 0:
            raise ValueError(f"{self!r}: input of length {L} is smaller than the window "
                             f"{self.kernel_size} (padding {self.padding}); expected shape "
                             f"{self._shape_hint()} with L >= "
                             f"{self.kernel_size - 2 * self.padding}")
        return OL

    def forward(self, x):
        self._check_input(x, ndim=3)
        N, C, L = x.shape
        OL = self.output_size(L)
        K = self.kernel_size
        xp = get_array_module(x)
        x_pad = _pad_length(x, self.padding, -np.inf)                   # (N, C, L + 2p)
        windows = xp.empty((K, N, C, OL), dtype=x.dtype)                 # tap k of window o
        for k, taps in enumerate(_taps(K, self.stride, 1, OL)):
            windows[k] = x_pad[:, :, taps]
        arg = windows.argmax(axis=0)          # (N, C, OL): argmax returns the FIRST maximum
        y = windows.max(axis=0)
        return y, (x.shape, arg)

    def backward(self, dy, cache):
        (N, C, L), arg = cache
        self._check_dy(dy, arg.shape)                                   # arg: (N, C, OL)
        xp = get_array_module(dy)
        dx_pad = xp.zeros((N, C, L + 2 * self.padding), dtype=dy.dtype)
        zero = dy.dtype.type(0)
        for k, taps in enumerate(_taps(self.kernel_size, self.stride, 1, dy.shape[2])):
            dx_pad[:, :, taps] += xp.where(arg == k, dy, zero)          # windows whose max is k
        return _crop_length(dx_pad, self.padding, L)

    def _shape_hint(self):
        return "(N, C, L)"

    def __repr__(self):
        return (f"MaxPool1d(kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding})")


class WordAttentionCache(NamedTuple):
    """What :meth:`WordAttention.forward` returns as its cache (backward reads all of it).

    ``regions`` r: (N, C, HW), h reshaped; ``words``: (N, D, T), the word features with the
    padded ones set to 0; ``projected`` e = U·words: (N, C, T); ``attention`` a: (N, HW, T),
    each row sums to 1 over the words and is exactly 0 on padded ones; ``mask``: (N, T) bool;
    ``size``: (H, W). :attr:`maps` gives the attention as (N, T, H, W), AttnGAN's layout.
    """
    regions: object
    words: object
    projected: object
    attention: object
    mask: object
    size: tuple

    @property
    def maps(self):
        """The attention maps, (N, T, H, W): maps[n, t] is how much each region of image n
        attends to word t (a view of ``attention``, whose rows over t sum to 1)."""
        N, HW, T = self.attention.shape
        return self.attention.transpose(0, 2, 1).reshape(N, T, *self.size)


class WordAttention(Module):
    """AttnGAN's word-level attention (Xu et al. 2018, F^attn): a context for each region.

    h: (N, C, H, W) region features; words: (N, D, T) word features; mask: (N, T) bool, True
    for a real word, False for padding (each row needs one True; ``mask=None``: all real).
    Parameter U = ``weight``: (C, D), a 1×1 projection of the words into the regions' space.
        e = U · words: (N, C, T)          r = h reshaped: (N, C, HW)
        s[n, j, t] = Σ_c r[n, c, j] e[n, c, t]  (N, HW, T);  s = −∞ on padded words
        a = softmax_t(s)                 c[n, :, j] = Σ_t a[n, j, t] e[n, :, t]
    and the output is the context c reshaped to (N, C, H, W). Padded words get a = 0 exactly
    (exp(−∞) = 0; the max is taken over real words, so no NaN), and their features are set to
    0 before the projection: garbage (even NaN) there changes nothing.
    ``weights`` (N, T), optional, >= 0: prior weights of the words, a = w·exp(s) / Σ w·exp(s),
    i.e. s + log w (a word of weight 0 is masked; equal weights change nothing). For a caption
    made of two captions' words, weighted β and 1 − β (GAN-INT's interpolation, with words).
    They are constants: the backward pass is the same.

    Backward, with dc: (N, C, HW) = dcontext reshaped:
        de  = dc · aᵀ (through the context) + r · ds (through the scores)
        da[n, j, t] = Σ_c dc[n, c, j] e[n, c, t]
        ds = a ⊙ (da − Σ_t a·da)   (softmax: ∂a_t/∂s_u = a_t(δ_tu − a_u), so
                                    ds_u = Σ_t da_t a_t(δ_tu − a_u) = a_u(da_u − Σ_t a_t da_t))
        dr[n, c, j] = Σ_t e[n, c, t] ds[n, j, t]      ->  dh = dr reshaped
        dU += Σ_n de[n] · words[n]ᵀ,   dwords = Uᵀ · de  (0 on padded words)
    ``backward(dcontext, cache)`` returns (dh, dwords) and ADDS dU into ``grads["weight"]``.
    The attention maps, (N, T, H, W): ``cache.maps`` or ``WordAttention.attention_maps(cache)``
    (the raw (N, HW, T) array is ``cache.attention``; see :class:`WordAttentionCache`).
    Initialisation as torch.nn.Linear(D, C, bias=False): U ~ U(−1/√D, 1/√D).
    """

    def __init__(self, region_channels: int, word_channels: int, rng=None, dtype="float32"):
        super().__init__()
        C = positive_int(region_channels, "region_channels", "WordAttention")
        D = positive_int(word_channels, "word_channels", "WordAttention")
        self.region_channels, self.word_channels = C, D
        charge_allocation(f"WordAttention({C}, {D})", (C, D), dtype, [(C, D)])
        rng = rng if rng is not None else backend.rng()
        bound = 1.0 / math.sqrt(D)
        self.params["weight"] = rng.uniform(-bound, bound, (C, D)).astype(dtype)
        self.grads["weight"] = get_array_module(self.params["weight"]).zeros_like(
            self.params["weight"])

    @staticmethod
    def attention_maps(cache):
        """The attention of a forward pass as (N, T, H, W), from its cache (= ``cache.maps``)."""
        return cache.maps

    def _check_mask(self, mask, N, T, xp):
        if mask is None:
            return xp.ones((N, T), dtype=bool)
        if not hasattr(mask, "shape") or not hasattr(mask, "dtype"):
            raise ValueError(f"{self!r}: expected mask as a boolean array of shape ({N}, {T}) "
                             f"(N, T), got {type(mask).__name__}")
        if mask.dtype != np.bool_:
            raise ValueError(f"{self!r}: expected a boolean mask (True = a real word, False = "
                             f"padding), got dtype {mask.dtype}; convert it with "
                             f"mask.astype(bool) if it holds 0/1")
        if tuple(mask.shape) != (N, T):
            raise ValueError(f"{self!r}: expected mask of shape (N, T) = ({N}, {T}) (one entry "
                             f"per word of words: (N, D, T)), got shape {tuple(mask.shape)}")
        mask = xp.asarray(mask)
        empty = ~mask.any(axis=1)
        if bool(empty.any()):
            rows = [int(i) for i in backend.to_numpy(xp.nonzero(empty)[0])]
            shown = ", ".join(map(str, rows[:8])) + (" …" if len(rows) > 8 else "")
            raise ValueError(f"{self!r}: mask row(s) {shown} have no real word (all False): "
                             "each caption needs at least one True in the mask")
        return mask

    def forward(self, h, words, mask=None, weights=None):
        C, D = self.region_channels, self.word_channels
        self._check_input(h, ndim=4, name="h")
        self._check_input(words, ndim=3, name="words")
        if h.shape[1] != C:
            raise ValueError(f"{self!r}: expected h with {C} channels, shape (N, {C}, H, W), "
                             f"got shape {tuple(h.shape)}")
        if words.shape[1] != D:
            raise ValueError(f"{self!r}: expected words with {D} channels, shape (N, {D}, T), "
                             f"got shape {tuple(words.shape)}")
        N, _, H, W = h.shape
        T = words.shape[2]
        if words.shape[0] != N:
            raise ValueError(f"{self!r}: h holds {N} images but words holds {words.shape[0]} "
                             f"captions (shapes {tuple(h.shape)} and {tuple(words.shape)})")
        if T == 0:
            raise ValueError(f"{self!r}: expected words of shape (N, {D}, T) with T >= 1, got "
                             f"shape {tuple(words.shape)}")
        xp = get_array_module(h)
        mask = self._check_mask(mask, N, T, xp)
        if weights is not None:                    # prior weights: a = w·exp(s) / Σ w·exp(s)
            if getattr(weights, "shape", None) != (N, T):
                raise ValueError(f"{self!r}: expected weights of shape (N, T) = ({N}, {T}), got "
                                 f"{getattr(weights, 'shape', type(weights).__name__)}")
            weights = xp.asarray(weights, dtype=h.dtype)
            if bool((weights < 0).any()) or not bool(xp.isfinite(weights).all()):
                raise ValueError(f"{self!r}: weights must be finite and >= 0")
            mask = self._check_mask(mask & (weights > 0), N, T, xp)
        keep = mask[:, None, :]                                          # (N, 1, T)
        words = xp.where(keep, words, words.dtype.type(0))               # padding: 0, even NaN
        e = xp.matmul(self.params["weight"], words)                      # (N, C, T)
        r = h.reshape(N, C, H * W)                                       # (N, C, HW)
        s = xp.matmul(r.transpose(0, 2, 1), e)                           # (N, HW, T)
        if weights is not None:
            with np.errstate(divide="ignore"):
                s = s + xp.log(weights)[:, None, :]                       # (−∞ where w = 0)
        s = xp.where(keep, s, s.dtype.type(-np.inf))                     # padded words: −∞
        ex = xp.exp(s - s.max(axis=2, keepdims=True))   # the max is over real words: finite
        a = ex / ex.sum(axis=2, keepdims=True)                           # (N, HW, T)
        context = xp.matmul(e, a.transpose(0, 2, 1))                     # (N, C, HW)
        cache = WordAttentionCache(r, words, e, a, mask, (H, W))
        return context.reshape(N, C, H, W), cache

    def backward(self, dcontext, cache):
        r, words, e, a, mask, (H, W) = cache
        N, C, HW = r.shape
        self._check_dy(dcontext, (N, C, H, W), "dcontext")
        xp = get_array_module(dcontext)
        dc = dcontext.reshape(N, C, HW)
        de = xp.matmul(dc, a)                                            # via the context
        da = xp.matmul(dc.transpose(0, 2, 1), e)                         # (N, HW, T)
        ds = a * (da - (a * da).sum(axis=2, keepdims=True))              # the softmax
        dr = xp.matmul(e, ds.transpose(0, 2, 1))                         # (N, C, HW)
        de += xp.matmul(r, ds)                                           # via the scores
        # (de is exactly 0 on padded words: a and ds are 0 there.)
        self.grads["weight"] += xp.tensordot(de, words, axes=([0, 2], [0, 2]))   # Σ_n de·wordsᵀ
        dwords = xp.matmul(self.params["weight"].T, de)                  # (N, D, T)
        dwords = xp.where(mask[:, None, :], dwords, dwords.dtype.type(0))
        return dr.reshape(N, C, H, W), dwords

    def _shape_hint(self):
        return (f"(h: (N, {self.region_channels}, H, W), words: (N, {self.word_channels}, T), "
                "mask: (N, T))")

    def __repr__(self):
        return f"WordAttention({self.region_channels}, {self.word_channels})"
