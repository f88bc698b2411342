"""Measuring image-to-image translation: the numbers of the Pix2Pix paper, for the street scenes.

Pix2Pix (Isola et al. 2017) judges a translation ``labels -> photo`` in several ways, because no
single number does it: a per-pixel distance to the ground truth rewards the blurry average of
the plausible photos (the paper's point, and the scenes dataset's: :mod:`minigan.data.scenes`),
while "does it look real" needs something that reads texture. This module computes them all for
sets of 32x32 RGB photos in [-1, 1] (``outputs``, the generator's; ``targets``, the ground
truth; ``labels``, the int class-id maps of the inputs):

1. **Pixel metrics** against the ground truth, per image then averaged over the set:
   :func:`l1_per_image` (mean absolute error), :func:`psnr` (peak signal-to-noise ratio, data
   range 2 for images in [-1, 1]; ``inf`` for identical images, kept as ``inf``: no cap) and
   :func:`ssim` (Wang et al. 2004, see below).
2. The **FCN-score** (the paper's evaluation metrics): a fully convolutional segmenter trained
   on the real photos' textures (:func:`scenes_segmenter`; in random colours, see below) labels
   the generated photos; :func:`segmentation_scores` compares
   its label maps with the input label maps in the three metrics of Long et al. (2015):
   per-pixel accuracy, per-class accuracy and mean class IoU. "If the generated images are
   realistic, classifiers trained on real images will be able to classify the synthesized image
   correctly as well."
3. **Colour-histogram intersection** (the paper's colourfulness analysis of the objectives):
   :func:`histogram_intersection` of the output colours with the ground-truth colours, per
   channel of CIE Lab (or RGB), over all the pixels of a set.
4. **FID** in the segmenter's feature space (:meth:`Segmenter.features`), next to the floor of
   real photos of other scenes (FID of real against real, not 0 with finite sets).

:func:`translation_report` returns all of them in one dict, :func:`reference_rows` the same dict
for the reference rows of a test set (the ground truth itself, another render of the same label
maps, the conditional mean and median, photos of the wrong label maps) and
:func:`format_translation_table` prints rows of them as a table::

    from minigan.data.scenes import load_scenes
    from minigan.evaluation.translation import (translation_report, reference_rows,
                                                format_translation_table)
    test = load_scenes("test")
    rows = reference_rows(test)
    rows["pix2pix"] = translation_report(model.translate(test.inputs), test.targets, test.labels)
    print(format_translation_table(rows))

**SSIM.** The standard Gaussian-window SSIM of Wang et al. (2004): local means, variances and the
covariance under an 11x11 Gaussian window of standard deviation 1.5 (normalised to sum 1),
``K1 = 0.01``, ``K2 = 0.03``, ``L`` the data range (2),

    SSIM(x, y) = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)),
    C1 = (K1 L)^2, C2 = (K2 L)^2,

averaged over the window positions that lie wholly inside the image ("valid": 22x22 of them in a
32x32 image; no padding, so no invented border pixels) and over the three channels. This is
Wang et al.'s reference code (``ssim_index.m``: ``fspecial('gaussian', 11, 1.5)``, ``filter2``
with ``'valid'``) per channel, and what scikit-image computes with
``structural_similarity(x, y, data_range=2, channel_axis=0, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False)`` (which filters with reflection at the border, then crops the
5 pixels that reflection touched); the tests check it window by window, against that
computation written with ``scipy.ndimage.gaussian_filter``, and against scikit-image itself
where it is installed. The standard window suits 32x32 pictures: it leaves 22x22 positions to
average over, and its effective width (about 5 pixels) spans a brick course or a glare period,
so it sees the textures. ``sigma`` can be changed (the window's radius is ``int(3.5 sigma +
0.5)``, as scipy and scikit-image truncate it: ``sigma=1.0`` gives a 7x7 window).

**The segmenter reads texture, not colour.** In the scenes every class has its own texture
(waves, speckle, bricks, glare, planks; ground and trees share speckle and are told apart by
where they are) and its own colour modes. A segmenter trained on the real photos as they are
would recognise a class by its colour, and would then label the conditional mean (one flat
colour per class, the perfect L2 regressor's output) correctly: a texture-blind FCN-score that
rewards blur. :func:`train_segmenter` therefore trains on the training split's textures painted
in **random colours** (:func:`random_colours`, new ones every epoch): for each picture and class
a colour pair (A, B), A uniform in the RGB cube and B = A + s u for a random direction u and a
contrast s uniform in [0.15, 0.65] (the dataset's modes have 0.14 to 0.66), clipped to the cube;
a fifth of the pictures in greys (A and B on the grey axis, any brightness and contrast), a
fifth in the dataset's own colour modes with the picture's channels randomly permuted. Each is
painted ``A + (B - A) t`` with the picture's texture field t, recovered exactly from its real
render (:func:`texture_fields`, :func:`paint`). Colour then says nothing about the class:
texture and layout are what is left.

Layout alone still goes a long way (sky on top, ground at the bottom: a segmenter trained this
way and nothing more labels a flat conditional mean about 0.74 right per pixel, against 0.94 on
real photos, because the smooth sky waves are the texture nearest to none). So the segmenter
has a seventh output, **"no texture"**, trained on regions painted flat
(:func:`flatten_regions`: 15 % of the (picture, class) regions get one colour, plus noise of
standard deviation at most 0.015, about a third of the faintest trained texture's, and the
target "no texture"). It is no class of the data: a pixel labelled so is wrong for every class,
in every FCN-score (the confusion matrix has a seventh column, :func:`confusion_matrix`). A
region whose colour barely varies is "no texture"; a texture at the dataset's contrasts, in any
colour, is read as one of the classes (on real test photos the segmenter says "no texture" for
0.04 % of the pixels), and which class it is, the FCN-score's ceiling measures.

**The segmenter** (:class:`Segmenter`, :data:`SEGMENTER_TRAINING`): fully convolutional, every
layer keeping the 32x32 size, each hidden conv followed by BatchNorm2d and LeakyReLU(0.2)::

    Conv2d(3, 24, 3, padding=1)                       receptive field  3
    Conv2d(24, 24, 3, padding=1)                                       5
    Conv2d(24, 24, 3, padding=1)                                       7
    Conv2d(24, 32, 3, padding=2, dilation=2)                          11
    Conv2d(32, 32, 3, padding=4, dilation=4)                          19
    Conv2d(32, 32, 3, padding=8, dilation=8)  -> the features         35
    Conv2d(32, K + 1, 1)                      -> the logits (N, K + 1, H, W)

Three plain convolutions read the texture (a brick is 6 pixels wide, a window 2 to 3); the
dilated ones (the "context module" of Yu & Koltun 2016) widen the receptive field to the whole
picture at full resolution, which the layout cues need (a speckled blob above the horizon is a
tree, the speckled band at the bottom is the ground; a small rectangle in a grid on a wall is a
window), without a down- and up-sampling path. The loss is the per-pixel softmax
cross-entropy, :func:`minigan.nn.softmax_cross_entropy` on the logits laid out as (N·H·W, K + 1),
each pixel weighted by ``1/sqrt(frequency)`` of its class (windows and doors are 4 % and 2 % of
the pixels); Adam, learning rate 3e-3 with a cosine decay to a tenth, batches of 32, 6 epochs
of the 2000 training layouts: about 80 seconds on one core. Its "penultimate features", for
FID, are the last hidden maps averaged over the picture (global average pooling, as
Inception's pool3 features are): (N, 32).

**FCN-score definitions** (Long et al. 2015, §5; the pix2pix authors' Cityscapes evaluation
script accumulates one confusion matrix over the whole test set and applies them to it). With
``n_ij`` the number of pixels of true class i predicted as j, ``t_i = sum_j n_ij``:

- per-pixel accuracy ``sum_i n_ii / sum_i t_i``;
- per-class accuracy ``(1/n_cl) sum_i n_ii / t_i``;
- mean class IoU ``(1/n_cl) sum_i n_ii / (t_i + sum_j n_ji - n_ii)``,

the class means taken over the classes present (a class absent from the ground truth has no
accuracy, one absent from both maps no IoU: NaN, left out of the mean as in Long et al.'s
``nanmean``; over a test set of scenes all six classes are present).

**Colour histograms** (:func:`histogram_intersection`). The paper's colourfulness analysis plots
the marginal distributions of the output colours in Lab space, channel by channel, against the
ground truth's, and tabulates their histogram intersection. Here: the sRGB pictures
(``(x + 1)/2``, clipped to [0, 1]) are converted to CIE Lab (D65 white; :func:`rgb_to_lab`);
each channel gets a histogram of 65 equal bins over its range (L in [0, 100], a and b in
[-110, 110], which hold the whole sRGB gamut) over all the pixels of the set, normalised to
sum 1; the intersection ``sum_b min(p_b, q_b)`` is 1 for equal
distributions and 0 for disjoint ones. ``space="rgb"`` does the same on R, G, B in [-1, 1].
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings

import numpy as np

from .. import backend
from ..backend import to_numpy
from ..fileio import atomic_file
from ..nn import BatchNorm2d, Conv2d, LeakyReLU, Sequential, softmax, softmax_cross_entropy
from ..optim import Adam
from .metrics import feature_statistics, frechet_distance

__all__ = ["l1_per_image", "psnr", "ssim", "pixel_metrics", "confusion_matrix",
           "segmentation_scores", "rgb_to_lab", "colour_histograms", "histogram_intersection",
           "Segmenter", "load_segmenter", "texture_fields", "paint", "random_colours",
           "flatten_regions",
           "train_segmenter", "scenes_segmenter",
           "SEGMENTER_TRAINING", "fcn_scores", "translation_report", "reference_rows",
           "format_translation_table"]


# --- checks ------------------------------------------------------------------------------------
def _images(owner, name, x, channels=None) -> np.ndarray:
    """float64 NumPy (N, C, H, W), finite."""
    a = np.asarray(to_numpy(x))
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[0] == 0:
        raise ValueError(f"{owner}: {name} must be images (N, C, H, W) with N >= 1, got shape "
                         f"{a.shape}")
    if channels is not None and a.shape[1] != channels:
        raise ValueError(f"{owner}: {name} must have {channels} channels, got {a.shape[1]} "
                         f"(shape {a.shape})")
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{owner}: {name} must be real numbers, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{owner}: {name} contain NaN or inf")
    return a


def _pair(owner, x, y):
    a, b = _images(owner, "x", x), _images(owner, "y", y)
    if a.shape != b.shape:
        raise ValueError(f"{owner}: the two sets must have the same shape, got {a.shape} and "
                         f"{b.shape}")
    return a, b


def _label_maps(owner, name, labels, num_classes=None) -> np.ndarray:
    lab = np.asarray(to_numpy(labels))
    if lab.ndim == 2:
        lab = lab[None]
    if lab.ndim != 3 or lab.size == 0:
        raise ValueError(f"{owner}: {name} must be class-id maps (N, H, W), got shape {lab.shape}")
    if not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"{owner}: {name} must be integer class ids, got dtype {lab.dtype}")
    if lab.min() < 0 or (num_classes is not None and lab.max() >= num_classes):
        raise ValueError(f"{owner}: {name} must be class ids in 0..{num_classes - 1}, got values "
                         f"in {int(lab.min())}..{int(lab.max())}")
    return lab.astype(np.int64, copy=False)


# --- 1. pixel metrics --------------------------------------------------------------------------
DATA_RANGE = 2.0      # images in [-1, 1]


def l1_per_image(x, y) -> np.ndarray:
    """Mean absolute difference of each pair of images: float64 (N,). x, y: (N, C, H, W)."""
    a, b = _pair("l1_per_image", x, y)
    return np.abs(a - b).reshape(a.shape[0], -1).mean(axis=1)


def psnr(x, y, data_range: float = DATA_RANGE) -> np.ndarray:
    """Peak signal-to-noise ratio of each pair, in dB: ``10 log10(L^2 / MSE)``, L = ``data_range``
    (2 for images in [-1, 1]). float64 (N,); ``inf`` where the two images are identical."""
    a, b = _pair("psnr", x, y)
    mse = ((a - b) ** 2).reshape(a.shape[0], -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        return np.where(mse > 0, 10.0 * np.log10(data_range ** 2 / np.maximum(mse, 1e-300)),
                        np.inf)


def _gaussian_window(sigma: float, truncate: float = 3.5) -> np.ndarray:
    """The normalised 1-D Gaussian of scipy.ndimage (radius ``int(truncate sigma + 0.5)``)."""
    r = int(truncate * sigma + 0.5)
    t = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (t / sigma) ** 2)
    return g / g.sum()


def _filter_valid(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable correlation of the last two axes with g x g, valid positions only."""
    k = len(g)
    view = np.lib.stride_tricks.sliding_window_view
    a = view(a, k, axis=-1) @ g                    # windows along W: (..., H, W - k + 1)
    return view(a, k, axis=-2) @ g                 # then along H: (..., H - k + 1, W - k + 1)


def ssim(x, y, data_range: float = DATA_RANGE, sigma: float = 1.5, k1: float = 0.01,
         k2: float = 0.03, full: bool = False):
    """The structural similarity (Wang et al. 2004) of each pair of images, Gaussian window.

    Args:
        x, y: images (N, C, H, W) (or one (C, H, W)), in [-1, 1] for the default data range.
        data_range: L, the range of the values (2 for [-1, 1]).
        sigma: the Gaussian window's standard deviation (1.5: 11x11, Wang et al.'s window).
        k1, k2: the constants of C1 = (k1 L)^2 and C2 = (k2 L)^2.
        full: also return the SSIM maps (N, C, H - 2r, W - 2r).

    Returns: float64 (N,): the mean of the SSIM map over the window positions that lie wholly
    inside the image and over the channels (see the module's docstring). 1 for identical
    images, symmetric in x and y, at most 1.
    """
    a, b = _pair("ssim", x, y)
    g = _gaussian_window(float(sigma))
    if a.shape[-1] < len(g) or a.shape[-2] < len(g):
        raise ValueError(f"ssim: images of {a.shape[-2]}x{a.shape[-1]} are smaller than the "
                         f"{len(g)}x{len(g)} window of sigma={sigma}")
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    s_aa = _filter_valid(a * a, g) - mu_a * mu_a
    s_bb = _filter_valid(b * b, g) - mu_b * mu_b
    s_ab = _filter_valid(a * b, g) - mu_a * mu_b
    smap = ((2 * mu_a * mu_b + c1) * (2 * s_ab + c2)
            / ((mu_a * mu_a + mu_b * mu_b + c1) * (s_aa + s_bb + c2)))
    per_image = smap.reshape(a.shape[0], -1).mean(axis=1)
    return (per_image, smap) if full else per_image


def pixel_metrics(outputs, targets) -> dict:
    """``l1``, ``psnr``, ``ssim``: the means over the set of the per-image numbers (``psnr`` is
    ``inf`` when some output equals its target exactly)."""
    return {"l1": float(l1_per_image(outputs, targets).mean()),
            "psnr": float(psnr(outputs, targets).mean()),
            "ssim": float(ssim(outputs, targets).mean())}


# --- 2. segmentation scores --------------------------------------------------------------------
def confusion_matrix(true, pred, num_classes: int, num_predicted: int | None = None) -> np.ndarray:
    """int64 (K, K'): entry (i, j) counts the pixels of true class i predicted as j, over all
    the maps. true: int class ids in 0..K-1; pred: the same shape, ids in 0..K'-1 (K' =
    ``num_predicted``, default K; a predictor may have outputs that are no class, such as the
    segmenter's "no texture", always wrong)."""
    k = int(num_classes)
    kp = k if num_predicted is None else int(num_predicted)
    if kp < k:
        raise ValueError(f"confusion_matrix: num_predicted ({kp}) must be >= num_classes ({k})")
    t = _label_maps("confusion_matrix", "true", true, k)
    p = _label_maps("confusion_matrix", "pred", pred, kp)
    if t.shape != p.shape:
        raise ValueError(f"confusion_matrix: true {t.shape} and pred {p.shape} must have the "
                         "same shape")
    return np.bincount((kp * t + p).ravel(), minlength=k * kp).reshape(k, kp).astype(np.int64)


def segmentation_scores(confusion) -> dict:
    """Long et al.'s three numbers from a confusion matrix (see the module's docstring).

    Returns: ``pixel_accuracy``, ``class_accuracy`` (mean over the classes present in the
    ground truth), ``class_iou`` (mean IoU over the classes present in either), and the
    per-class arrays ``per_class_accuracy``, ``per_class_iou`` (float64 (K,), NaN where a
    class is absent)."""
    h = np.asarray(confusion, dtype=np.float64)
    if h.ndim != 2 or h.shape[0] == 0 or h.shape[1] < h.shape[0] or h.sum() <= 0:
        raise ValueError(f"segmentation_scores: expected a non-empty confusion matrix (K, K') "
                         f"with K' >= K, got shape {h.shape}")
    k = h.shape[0]
    diag, true_count, pred_count = np.diag(h[:, :k]), h.sum(axis=1), h[:, :k].sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(true_count > 0, diag / true_count, np.nan)
        union = true_count + pred_count - diag
        iou = np.where(union > 0, diag / union, np.nan)
    return {"pixel_accuracy": float(diag.sum() / h.sum()),
            "class_accuracy": float(np.nanmean(acc)),
            "class_iou": float(np.nanmean(iou)),
            "per_class_accuracy": acc, "per_class_iou": iou}


# --- 3. colour histograms ----------------------------------------------------------------------
_D65 = np.array([0.95047, 1.0, 1.08883])
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
#: channel ranges of the histograms (65 bins each: an odd number, so that the neutral a = b = 0
#: and the mid-grey RGB 0 lie in the middle of a bin, not on an edge): Lab, and RGB in [-1, 1]
HIST_RANGES = {"lab": ((0.0, 100.0), (-110.0, 110.0), (-110.0, 110.0)),
               "rgb": ((-1.0, 1.0), (-1.0, 1.0), (-1.0, 1.0))}


def rgb_to_lab(images) -> np.ndarray:
    """CIE L*a*b* (D65 white) of RGB images in [-1, 1], read as sRGB ``(x + 1) / 2`` clipped to
    [0, 1]: the sRGB curve undone, XYZ by the sRGB matrix, then Lab. (N, 3, H, W) -> float64
    (N, 3, H, W): L in [0, 100], a and b within about [-110, 110]."""
    x = np.clip((_images("rgb_to_lab", "images", images, 3) + 1.0) / 2.0, 0.0, 1.0)
    lin = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    xyz = np.einsum("ij,njhw->nihw", _RGB_TO_XYZ, lin) / _D65[:, None, None]
    eps = (6 / 29) ** 3
    f = np.where(xyz > eps, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])],
                    axis=1)


def colour_histograms(images, space: str = "lab", bins: int = 65) -> np.ndarray:
    """The normalised histogram of each channel over all the pixels of a set: float64
    (3, bins), each row summing to 1. ``space``: ``"lab"`` (:func:`rgb_to_lab`) or ``"rgb"``."""
    if space not in HIST_RANGES:
        raise ValueError(f"colour_histograms: space must be one of {tuple(HIST_RANGES)}, got "
                         f"{space!r}")
    x = rgb_to_lab(images) if space == "lab" else _images("colour_histograms", "images",
                                                          images, 3)
    out = np.empty((3, int(bins)))
    for c, (lo, hi) in enumerate(HIST_RANGES[space]):
        v = np.clip(x[:, c].ravel(), lo, hi)           # values at the ends go to the end bins
        h, _ = np.histogram(v, bins=int(bins), range=(lo, hi))
        out[c] = h / h.sum()
    return out


def histogram_intersection(images_a, images_b, space: str = "lab", bins: int = 65) -> dict:
    """``sum_b min(p_b, q_b)`` of the per-channel colour histograms of two sets (over all their
    pixels): 1 for equal distributions, 0 for disjoint ones.

    Returns: ``{"L": ..., "a": ..., "b": ..., "mean": ...}`` (``"R"``, ``"G"``, ``"B"``,
    ``"mean"`` in RGB)."""
    p = colour_histograms(images_a, space, bins)
    q = colour_histograms(images_b, space, bins)
    per = np.minimum(p, q).sum(axis=1)
    names = ("L", "a", "b") if space == "lab" else ("R", "G", "B")
    out = {n: float(v) for n, v in zip(names, per)}
    out["mean"] = float(per.mean())
    return out


# --- the segmenter -----------------------------------------------------------------------------
class Segmenter:
    """A fully convolutional segmenter of RGB images into K classes, per pixel (module docstring).

    Attributes: body (images -> the last hidden maps (N, channels[-1], H, W)), head (Conv2d
    1x1 -> the logits (N, K, H, W), or (N, K + 1, H, W) with ``untextured``: output K is "no
    texture"), classes, channels, dilations (one per hidden conv), norm (None or "batch"),
    info (how it was trained, JSON-able). Built in eval mode.
    """

    NORMS = (None, "batch")

    def __init__(self, classes, channels=(24, 24, 24, 32, 32, 32), dilations=(1, 1, 1, 2, 4, 8),
                 in_channels: int = 3, norm=None, untextured: bool = False, seed: int = 0):
        if norm not in self.NORMS:
            raise ValueError(f"Segmenter: norm must be one of {self.NORMS}, got {norm!r}")
        self.channels = tuple(int(c) for c in channels)
        self.dilations = tuple(int(d) for d in dilations)
        if len(self.channels) != len(self.dilations) or not self.channels:
            raise ValueError(f"Segmenter: one dilation per conv layer, got channels "
                             f"{self.channels} and dilations {self.dilations}")
        self.classes = tuple(str(c) for c in classes)
        self.in_channels, self.norm = int(in_channels), norm
        self.untextured = bool(untextured)
        self.info: dict = {}
        rng = backend.default_rng(seed)
        layers, c_in = [], self.in_channels
        for c_out, d in zip(self.channels, self.dilations):
            layers.append(Conv2d(c_in, c_out, 3, padding=d, dilation=d, rng=rng))
            if norm == "batch":
                layers.append(BatchNorm2d(c_out))
            layers.append(LeakyReLU(0.2))
            c_in = c_out
        self.body = Sequential(*layers)
        self.head = Conv2d(c_in, self.num_outputs, 1, rng=rng)
        self.body.eval()           # train_segmenter switches it to training mode and back

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_outputs(self) -> int:
        """K, or K + 1 with the "no texture" output (id K)."""
        return len(self.classes) + self.untextured

    @property
    def feature_dim(self) -> int:
        return self.channels[-1]

    def _as_images(self, images):
        x = backend.asarray(images) if backend.name != "numpy" else images
        x = backend.get_array_module(x).asarray(x)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"Segmenter: expected images (N, {self.in_channels}, H, W), got "
                             f"shape {tuple(x.shape)}")
        if x.dtype.kind != "f":
            raise ValueError(f"Segmenter: expected floating-point images in [-1, 1], got dtype "
                             f"{x.dtype}")
        return x.astype(self.head.dtype, copy=False)

    def forward(self, x):
        """logits (N, K, H, W) and the caches."""
        h, body_cache = self.body.forward(x)
        logits, head_cache = self.head.forward(h)
        return logits, (body_cache, head_cache)

    def backward(self, dlogits, cache):
        body_cache, head_cache = cache
        return self.body.backward(self.head.backward(dlogits, head_cache), body_cache)

    def loss_and_backward(self, x, labels, class_weights=None):
        """Per-pixel softmax cross-entropy of a batch (the mean over its N·H·W pixels, or with
        ``class_weights`` (K,) the mean weighted by the weight of each pixel's true class); the
        gradients are added into the parameters' grads. Returns the (unweighted) loss."""
        logits, cache = self.forward(x)
        n, k, h, w = logits.shape
        flat = logits.transpose(0, 2, 3, 1).reshape(n * h * w, k)
        y = labels.reshape(-1)
        loss, dflat = softmax_cross_entropy(flat, y)
        if class_weights is not None:
            wy = class_weights[y]
            dflat = dflat * (wy * (wy.shape[0] / wy.sum()))[:, None].astype(dflat.dtype)
        self.backward(dflat.reshape(n, h, w, k).transpose(0, 3, 1, 2), cache)
        return float(loss)

    def _batched(self, fn, images, batch_size):
        x = self._as_images(images)
        outs = [to_numpy(fn(x[i:i + batch_size])) for i in range(0, x.shape[0], batch_size)]
        if not outs:
            raise ValueError("Segmenter: got no images (N = 0)")
        return np.concatenate(outs, axis=0)

    def logits(self, images, batch_size: int = 100) -> np.ndarray:
        """float32 NumPy (N, K, H, W)."""
        return self._batched(lambda x: self.forward(x)[0], images, batch_size)

    def predict_proba(self, images, batch_size: int = 100) -> np.ndarray:
        """Per-pixel class probabilities, float64 NumPy (N, K, H, W)."""
        z = self.logits(images, batch_size).astype(np.float64)
        return np.moveaxis(to_numpy(softmax(np.moveaxis(z, 1, -1).reshape(-1, z.shape[1])))
                           .reshape(z.shape[0], z.shape[2], z.shape[3], z.shape[1]), -1, 1)

    def predict(self, images, batch_size: int = 100) -> np.ndarray:
        """The class-id maps, int64 NumPy (N, H, W)."""
        return self.logits(images, batch_size).argmax(axis=1).astype(np.int64)

    def features(self, images, batch_size: int = 100) -> np.ndarray:
        """The penultimate features for FID: the last hidden maps averaged over each picture,
        float64 NumPy (N, channels[-1])."""
        return self._batched(lambda x: self.body.forward(x)[0].mean(axis=(2, 3)), images,
                             batch_size).astype(np.float64)

    __call__ = features           # a Segmenter is a feature_fn of minigan.evaluation.metrics

    def pixel_accuracy(self, images, labels) -> float:
        """Share of the pixels labelled correctly."""
        return float(np.mean(self.predict(images) == _label_maps(
            "Segmenter.pixel_accuracy", "labels", labels, self.num_classes)))

    def state_dict(self) -> dict:
        out = {"body." + k: v for k, v in self.body.state_dict().items()}
        out.update({"head." + k: v for k, v in self.head.state_dict().items()})
        return out

    def save(self, path) -> None:
        """Weights and configuration in one ``.npz``, written atomically (temp file + rename)."""
        meta = {"classes": list(self.classes), "channels": list(self.channels),
                "dilations": list(self.dilations), "in_channels": self.in_channels,
                "norm": self.norm,
                "untextured": self.untextured, "info": self.info}
        with atomic_file(os.fspath(path), prefix=".segmenter-", suffix=".npz") as f:
            np.savez(f, __meta__=np.asarray(json.dumps(meta)), **self.state_dict())

    def __repr__(self):
        acc = self.info.get("test_pixel_accuracy")
        return (f"Segmenter(classes={self.num_classes}, channels={self.channels}, "
                f"dilations={self.dilations}"
                + (f", test_pixel_accuracy={acc:.4f}" if acc is not None else "") + ")")


def load_segmenter(path) -> Segmenter:
    """A :class:`Segmenter` saved with :meth:`Segmenter.save` (ValueError if the file is not one,
    or its weights do not fit the network it describes)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if "__meta__" not in f:
                raise ValueError(f"{path}: not a minigan Segmenter file (no __meta__ entry)")
            meta = json.loads(str(f["__meta__"]))
            state = {k: f[k] for k in f.files if k != "__meta__"}
        seg = Segmenter(meta["classes"], meta["channels"], meta["dilations"],
                        meta["in_channels"], meta["norm"], meta["untextured"])
        seg.body.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("body.")})
        seg.head.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable minigan Segmenter file: {exc}") from exc
    seg.info = meta.get("info", {})
    return seg


# --- training on textures in random colours ----------------------------------------------------
#: How :func:`scenes_segmenter` trains (part of the cache file's name through its hash).
SEGMENTER_TRAINING = {
    "version": 1,
    "n_train": 2000,           # layouts of the training split (each with its own texture phases)
    "epochs": 6,
    "batch_size": 32,
    "lr": 3e-3,                # Adam, cosine decay to lr/10
    "channels": (24, 24, 24, 32, 32, 32),
    "dilations": (1, 1, 1, 2, 4, 8),
    "norm": "batch",
    "class_weights": "sqrt-inverse-frequency",   # of the training pixels (or None)
    "contrast": (0.15, 0.65),  # |B - A| of a random colour pair
    "p_grey": 0.2,             # share of pictures painted in greys
    "p_dataset_colours": 0.2,  # share painted in the dataset's colour modes (channels permuted)
    "p_flat": 0.15,            # share of (picture, class) regions painted flat: "no texture"
    "flat_noise": 0.015,       # at most this standard deviation of noise on a flat region
}


def texture_fields(n: int, split: str = "train", size: int = 32, seed: int = 0):
    """The label maps and texture fields of the first ``n`` examples of a scenes split.

    Every pixel of a real render is ``A + (B - A) t`` for its class's colour pair (A, B) and
    texture value t in [0, 1]; t is recovered from the render (in the channel where A and B
    differ most: at least 0.14 in every colour mode), so that the same textures can be painted
    in other colours (:func:`paint`). Returns ``(labels int64 (n, H, W), t float32 (n, H, W))``.
    """
    from ..data.scenes import COLOUR_MODES, make_example
    labels = np.empty((n, size, size), np.int64)
    t = np.empty((n, size, size), np.float32)
    for i in range(n):
        lab, photo, style = make_example(i, split, size, seed)
        labels[i] = lab
        for c in np.unique(lab):
            _, a, b = COLOUR_MODES[c][style.modes[c]]
            a, b = np.asarray(a), np.asarray(b)
            ch = int(np.argmax(np.abs(b - a)))
            mask = lab == c
            t[i][mask] = ((photo[ch][mask] + 1.0) / 2.0 - a[ch]) / (b[ch] - a[ch])
    return labels, np.clip(t, 0.0, 1.0)


def paint(labels, t, colour_a, colour_b) -> np.ndarray:
    """Photos of label maps (N, H, W) with texture fields t (N, H, W): the pixel of class c of
    picture n is ``A[n, c] + (B[n, c] - A[n, c]) t``. colour_a, colour_b: (N, K, 3) in [0, 1].
    Returns float32 (N, 3, H, W) in [-1, 1]."""
    n = np.arange(labels.shape[0])[:, None, None]
    a, b = colour_a[n, labels], colour_b[n, labels]                      # (N, H, W, 3)
    img = a + (b - a) * t[..., None]
    return np.ascontiguousarray(np.moveaxis(2.0 * img - 1.0, -1, 1)).astype(np.float32)


def random_colours(rng: np.random.Generator, n: int, config=None):
    """Colour pairs (A, B), each (n, K, 3) in [0, 1], that carry no information on the class.

    Per picture, one of three kinds: random colours (A uniform in the RGB cube, B = A + s u
    for a random direction u and contrast s uniform in ``config["contrast"]``, clipped to the
    cube); greys (A, B on the grey axis, |B - A| = s); or the dataset's own colour modes (a
    random mode per class) with the picture's channels randomly permuted."""
    from ..data.scenes import COLOUR_MODES
    cfg = SEGMENTER_TRAINING if config is None else config
    k = len(COLOUR_MODES)
    lo, hi = cfg["contrast"]
    a = rng.random((n, k, 3))
    u = rng.standard_normal((n, k, 3))
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    s = rng.uniform(lo, hi, (n, k, 1))
    b = np.clip(a + s * u, 0.0, 1.0)
    kind = rng.random(n)
    grey = kind < cfg["p_grey"]
    up = rng.random((n, k, 1)) < 0.5                   # B lighter than A, or darker
    g_a = rng.random((n, k, 1)) * (1.0 - s) + np.where(up, 0.0, s)
    g_b = np.where(up, g_a + s, g_a - s)               # both in [0, 1]
    a[grey], b[grey] = np.repeat(g_a[grey], 3, -1), np.repeat(g_b[grey], 3, -1)
    real = (kind >= cfg["p_grey"]) & (kind < cfg["p_grey"] + cfg["p_dataset_colours"])
    for i in np.flatnonzero(real):
        perm = rng.permutation(3)
        for c in range(k):
            _, ca, cb = COLOUR_MODES[c][int(rng.integers(len(COLOUR_MODES[c])))]
            a[i, c], b[i, c] = np.asarray(ca)[perm], np.asarray(cb)[perm]
    return a, b


def flatten_regions(rng, labels, t, colour_a, colour_b, config=None):
    """Photos with some class regions painted without texture, and their targets.

    Each (picture, class) region is, with probability ``config["p_flat"]``, painted in one
    colour (``A + (B - A) u``, u uniform in [0, 1]) plus Gaussian noise of a standard deviation
    uniform in [0, ``flat_noise``] (colour units of [0, 1]; 0.015 is about a third of the
    standard deviation of the faintest texture trained on, speckle at contrast 0.15: 0.043), and
    its pixels' target is K, "no texture". Returns ``(photos float32 (N, 3, H, W), targets int64 (N, H, W))``.
    """
    cfg = SEGMENTER_TRAINING if config is None else config
    n, k = labels.shape[0], colour_a.shape[1]
    region_flat = rng.random((n, k)) < float(cfg["p_flat"])
    level = rng.random((n, k)).astype(np.float32)
    pix = region_flat[np.arange(n)[:, None, None], labels]                 # (N, H, W)
    t = np.where(pix, level[np.arange(n)[:, None, None], labels], t)
    photos = paint(labels, t, colour_a, colour_b)
    sd = rng.uniform(0.0, float(cfg["flat_noise"]), (n, 1, 1, 1)) * 2.0   # [-1, 1] scale
    noise = (rng.standard_normal(photos.shape) * sd).astype(np.float32)
    photos = np.where(pix[:, None], np.clip(photos + noise, -1.0, 1.0), photos)
    return photos.astype(np.float32), np.where(pix, k, labels)


def train_segmenter(seed: int = 0, config=None, *, size: int = 32, data_seed: int = 0,
                    verbose: bool = False) -> Segmenter:
    """Train the scenes :class:`Segmenter` on the training split's textures in random colours
    (:func:`random_colours`, new colours every epoch) with Adam and the per-pixel softmax
    cross-entropy. Deterministic given ``seed`` (initialisation, order, colours).

    ``config``: the entries of :data:`SEGMENTER_TRAINING` to change. ``info`` records the
    settings, the seconds, the loss per epoch, and the per-pixel accuracy on the real renders
    of the first 200 test examples (``test_pixel_accuracy``; the FCN-score's ceiling).
    """
    from ..data.scenes import CLASSES, load_scenes
    cfg = dict(SEGMENTER_TRAINING)
    cfg.update(config or {})
    t0 = time.perf_counter()
    labels, t = texture_fields(int(cfg["n_train"]), "train", size, data_seed)
    flat = float(cfg["p_flat"]) > 0
    seg = Segmenter(CLASSES, cfg["channels"], cfg["dilations"], norm=cfg["norm"],
                    untextured=flat, seed=seed)
    seg.body.train()
    weights = None
    if cfg["class_weights"] == "sqrt-inverse-frequency":
        freq = np.bincount(labels.ravel(), minlength=seg.num_outputs) / labels.size
        if flat:
            freq[-1] = float(cfg["p_flat"])
        weights = backend.asarray((1.0 / np.sqrt(np.maximum(freq, 1e-6))).astype(np.float32))
    elif cfg["class_weights"] is not None:
        raise ValueError(f"train_segmenter: unknown class_weights {cfg['class_weights']!r}")
    opt = Adam([seg.body, seg.head], lr=cfg["lr"])
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
    n, bs = labels.shape[0], int(cfg["batch_size"])
    steps, step = int(cfg["epochs"]) * (n // bs), 0
    losses = []
    for epoch in range(int(cfg["epochs"])):
        a, b = random_colours(rng, n, cfg)
        if flat:
            photos, targets = flatten_regions(rng, labels, t, a, b, cfg)
        else:
            photos, targets = paint(labels, t, a, b), labels
        order = rng.permutation(n)
        total = 0.0
        for i in range(0, n - bs + 1, bs):
            idx = order[i:i + bs]
            # cosine decay of the learning rate, from lr to lr/10
            opt.lr = cfg["lr"] * (0.55 + 0.45 * math.cos(math.pi * step / steps))
            step += 1
            opt.zero_grad()
            total += seg.loss_and_backward(backend.asarray(photos[idx]),
                                           backend.asarray(targets[idx]), weights) * len(idx)
            opt.step()
        losses.append(total / (n - n % bs))
        if verbose:
            print(f"segmenter epoch {epoch + 1}/{cfg['epochs']}: loss {losses[-1]:.4f} "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
    seg.body.eval()
    test = load_scenes("test", size=size, seed=data_seed)
    cfg_json = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}
    seg.info = {"seed": int(seed), "data_seed": int(data_seed), "size": int(size),
                "config": cfg_json, "loss": losses,
                "seconds": round(time.perf_counter() - t0, 2),
                "test_pixel_accuracy": seg.pixel_accuracy(test.targets, test.labels)}
    return seg


_SEGMENTERS: dict = {}


def _cache_path(root, seed, size, data_seed, cfg) -> str:
    from ..data.mnist import cache_dir
    key = json.dumps({k: (list(v) if isinstance(v, tuple) else v) for k, v in
                      sorted(cfg.items())}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    name = f"scenes-segmenter-s{seed}-d{data_seed}-{size}px-{digest}.npz"
    return os.path.join(os.fspath(cache_dir(root)), "evaluation", name)


def scenes_segmenter(seed: int = 0, *, size: int = 32, data_seed: int = 0, root=None,
                     cache: bool = True, config=None, verbose: bool = False) -> Segmenter:
    """The FCN-score's segmenter for the scenes: :func:`train_segmenter`, trained once and kept.

    Kept in the process (per arguments) and, with ``cache=True``, in a file of the cache folder
    (``root``, else ``$MINIGAN_DATA``, else ``$XDG_CACHE_HOME/minigan``, else
    ``~/.cache/minigan``; see :func:`minigan.data.mnist.cache_dir`), under ``evaluation/``,
    named by the seeds, the size and a hash of the training settings, written atomically
    (temporary file + rename) so that a killed run or two processes at once never leave half a
    file. A file that cannot be read is trained again and replaced; a folder that cannot be
    written only costs the caching (a warning).

    Measured on the default test split (200 examples, data seed 0), seed 0 (per-pixel
    accuracy / per-class accuracy / class IoU): the real renders 0.936 / 0.850 / 0.743 (the
    ceiling), another render of the same label maps 0.935 / 0.846 / 0.740, the conditional
    mean 0.020 / 0.082 / 0.080 and median 0.024 / 0.102 / 0.099 (flat: "no texture"), real
    photos of the wrong label maps 0.623 / 0.378 / 0.287 (what the layout prior alone earns:
    every scene has sky on top and ground below). See :func:`reference_rows`.
    """
    cfg = dict(SEGMENTER_TRAINING)
    cfg.update(config or {})
    key = (int(seed), int(size), int(data_seed), json.dumps(
        {k: (list(v) if isinstance(v, tuple) else v) for k, v in sorted(cfg.items())}),
        None if root is None else os.fspath(root), bool(cache))
    if key in _SEGMENTERS:
        return _SEGMENTERS[key]
    seg = None
    path = _cache_path(root, seed, size, data_seed, cfg) if cache else None
    if path is not None and os.path.exists(path):
        try:
            seg = load_segmenter(path)
        except (OSError, ValueError) as exc:
            warnings.warn(f"scenes_segmenter: the cached segmenter {path} could not be read "
                          f"({exc}); training it again", stacklevel=2)
    if seg is None:
        seg = train_segmenter(seed, config, size=size, data_seed=data_seed, verbose=verbose)
        if path is not None:
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                seg.save(path)
            except OSError as exc:
                warnings.warn(f"scenes_segmenter: could not cache the segmenter in {path} "
                              f"({exc})", stacklevel=2)
    _SEGMENTERS[key] = seg
    return seg


# --- 2 and 4 with the segmenter ----------------------------------------------------------------
def fcn_scores(images, labels, segmenter=None) -> dict:
    """The FCN-score of a set of photos against the label maps they were made from:
    :func:`segmentation_scores` of the segmenter's labelling (one confusion matrix over the
    set). ``segmenter``: default :func:`scenes_segmenter`."""
    seg = scenes_segmenter() if segmenter is None else segmenter
    x = _images("fcn_scores", "images", images, seg.in_channels).astype(np.float32)
    lab = _label_maps("fcn_scores", "labels", labels, seg.num_classes)
    if lab.shape != (x.shape[0],) + x.shape[2:]:
        raise ValueError(f"fcn_scores: labels {lab.shape} do not match images {x.shape}")
    out = segmentation_scores(confusion_matrix(lab, seg.predict(x), seg.num_classes,
                                               seg.num_outputs))
    return out


def _default_reference(n, size):
    """Real photos of other scenes: the first n examples of the training split."""
    from ..data.scenes import load_scenes
    return to_numpy(load_scenes("train", n=n, size=size).targets)


def translation_report(outputs, targets, labels, real_reference=None, segmenter=None) -> dict:
    """Every measurement of a ``labels -> photo`` translation, in one dict.

    Args:
        outputs: the generated photos (N, 3, H, W) in [-1, 1].
        targets: the ground-truth photos (N, 3, H, W).
        labels: the input label maps as class ids (N, H, W).
        real_reference: real photos of OTHER scenes (M, 3, H, W), for the FID floor (FID of
            real against real); default: the first N examples of the training split.
        segmenter: default :func:`scenes_segmenter` ``()``.

    Returns a dict of floats: ``l1``, ``psnr``, ``ssim`` (:func:`pixel_metrics`);
    ``fcn_pixel_accuracy``, ``fcn_class_accuracy``, ``fcn_class_iou`` (:func:`fcn_scores`);
    ``hist_L``, ``hist_a``, ``hist_b``, ``hist_mean`` (:func:`histogram_intersection` of
    outputs and targets, Lab); ``fid`` (outputs against targets, in the segmenter's features)
    and ``fid_floor`` (real_reference against targets); ``n``.
    """
    out = _images("translation_report", "outputs", outputs, 3)
    tgt = _images("translation_report", "targets", targets, 3)
    if out.shape != tgt.shape:
        raise ValueError(f"translation_report: outputs {out.shape} and targets {tgt.shape} must "
                         "have the same shape")
    seg = scenes_segmenter() if segmenter is None else segmenter
    row = pixel_metrics(out, tgt)
    fcn = fcn_scores(out, labels, seg)
    row.update({"fcn_pixel_accuracy": fcn["pixel_accuracy"],
                "fcn_class_accuracy": fcn["class_accuracy"],
                "fcn_class_iou": fcn["class_iou"]})
    row.update({"hist_" + k: v for k, v in histogram_intersection(out, tgt).items()})
    ref = (_default_reference(out.shape[0], out.shape[-1]) if real_reference is None
           else _images("translation_report", "real_reference", real_reference, 3))
    stats_t = feature_statistics(seg.features(tgt.astype(np.float32)))
    stats_o = feature_statistics(seg.features(out.astype(np.float32)))
    stats_r = feature_statistics(seg.features(ref.astype(np.float32)))
    row["fid"] = max(frechet_distance(*stats_o, *stats_t), 0.0)
    row["fid_floor"] = max(frechet_distance(*stats_r, *stats_t), 0.0)
    row["n"] = int(out.shape[0])
    return row


def reference_rows(dataset, segmenter=None, seed: int = 0, real_reference=None) -> dict:
    """:func:`translation_report` of the reference outputs of a ``labels -> photo`` scenes test
    set (a :class:`~minigan.data.scenes.PairedDataset` with ``labels``), to read a model's row
    against:

    - ``"ground truth"``: the targets themselves (pixel metrics trivially perfect; the FCN-score
      ceiling);
    - ``"another render"``: the same label maps rendered in another style (drawn from
      ``seed``): a perfect, sharp, plausible photo that is not THE photo (L1 far from 0);
    - ``"conditional mean"`` and ``"conditional median"``: the perfect L2 and L1 regressors,
      flat colours (:func:`minigan.data.scenes.conditional_mean` / ``conditional_median``);
    - ``"wrong labels"``: real photos of the wrong label maps (each target replaced by the
      previous one's, cyclically). As a set these are the targets themselves, so the set-level
      numbers (histogram intersection, FID) are perfect: only the paired ones (pixel metrics,
      FCN-score) see that each photo belongs to another label map.

    ``real_reference``: as in :func:`translation_report` (default: the first N training photos).
    """
    from ..data.scenes import conditional_mean, conditional_median, render
    lab = to_numpy(dataset.labels)
    tgt = to_numpy(dataset.targets)
    if tgt.ndim != 4 or tgt.shape[1] != 3 or lab is None:
        raise ValueError("reference_rows: expected a labels->photo PairedDataset with labels")
    seg = scenes_segmenter() if segmenter is None else segmenter
    ref = _default_reference(len(tgt), tgt.shape[-1]) if real_reference is None else real_reference
    rows = {"ground truth": tgt,
            "another render": render(lab, np.random.default_rng(seed)),
            "conditional mean": conditional_mean(lab),
            "conditional median": conditional_median(lab),
            "wrong labels": np.roll(tgt, 1, axis=0)}
    return {name: translation_report(x, tgt, lab, ref, seg) for name, x in rows.items()}


_COLUMNS = (("l1", "L1", "{:.3f}"), ("psnr", "PSNR", "{:.1f}"), ("ssim", "SSIM", "{:.3f}"),
            ("fcn_pixel_accuracy", "FCN px acc", "{:.3f}"),
            ("fcn_class_accuracy", "FCN cls acc", "{:.3f}"),
            ("fcn_class_iou", "FCN IoU", "{:.3f}"), ("hist_mean", "hist Lab", "{:.3f}"),
            ("fid", "FID", "{:.3g}"), ("fid_floor", "(floor)", "{:.3g}"))


def format_translation_table(rows: dict) -> str:
    """A plain-text table, one row per entry of ``{name: translation_report(...)}``."""
    name_w = max([len("output")] + [len(str(k)) for k in rows])
    head = "output".ljust(name_w) + "".join(f"  {h:>11}" for _, h, _ in _COLUMNS)
    lines = [head, "-" * len(head)]
    for name, row in rows.items():
        cells = []
        for key, _, fmt in _COLUMNS:
            v = row.get(key, float("nan"))
            cells.append(f"  {('inf' if math.isinf(v) else fmt.format(v)):>11}")
        lines.append(str(name).ljust(name_w) + "".join(cells))
    return "\n".join(lines)
