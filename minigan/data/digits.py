"""The handwritten digits that scikit-learn ships: 1797 images of 8x8 pixels, no download.

``sklearn.datasets.load_digits`` gives grey levels 0..16 (the count of "on" pixels in a 4x4
block of a 32x32 bitmap). minigan rescales them to [-1, 1] (``x / 8 - 1``), the range of a
``tanh`` generator output, and lays them out NCHW as ``torch`` does: (N, 1, 8, 8).

The result is an :class:`ImageDataset`; ``ds.flat`` gives the (N, 64) view an MLP wants.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import backend

__all__ = ["ImageDataset", "load_digits"]


@dataclass
class ImageDataset:
    """Images with integer labels.

    Attributes:
        images: float32 array (N, C, H, W), values in [-1, 1], on the backend in use.
        labels: int64 array (N,), class indices in [0, len(classes)).
        name: str, e.g. ``"digits"`` or ``"digits-train"``.
        classes: tuple of class names; ``classes[labels[i]]`` names image i.
    """

    images: object
    labels: object
    name: str
    classes: tuple

    def __post_init__(self):
        if self.images.ndim != 4:
            raise ValueError(f"ImageDataset: images must have shape (N, C, H, W), "
                             f"got {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"ImageDataset: labels must have shape (N,) = ({self.images.shape[0]},),"
                             f" got {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def flat(self):
        """The images as rows, shape (N, C*H*W): the input of an MLP (a view, not a copy)."""
        return self.images.reshape(len(self), -1)

    def __repr__(self):
        return (f"ImageDataset(name={self.name!r}, n={len(self)}, image_shape={self.image_shape}, "
                f"classes={self.num_classes})")


def load_digits(split: str | None = None, test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """scikit-learn's 8x8 handwritten digits, as an :class:`ImageDataset`.

    Args:
        split: None for all 1797 images; ``"train"`` or ``"test"`` for one side of a stratified
            split (each digit is shared between the two sides in the same proportion). The split
            is a deterministic function of ``(test_fraction, seed)``; the two sides are disjoint
            and together make up the whole set.
        test_fraction: share of the images in the test side, in (0, 1).
        seed: the seed of the split.

    Returns:
        ImageDataset with images float32 (N, 1, 8, 8) in [-1, 1] (0 -> -1, 16 -> 1), labels
        int64 (N,), classes ``("0", ..., "9")``, name ``"digits"`` / ``"digits-train"`` /
        ``"digits-test"``. Arrays are on the backend in use.
    """
    if split not in (None, "train", "test"):
        raise ValueError(f"load_digits: split must be None, 'train' or 'test', got {split!r}")
    if split is not None and not 0.0 < test_fraction < 1.0:
        raise ValueError(f"load_digits: test_fraction must be in (0, 1), got {test_fraction!r}")
    from sklearn.datasets import load_digits as _sk_load_digits

    raw = _sk_load_digits()
    images = (raw.images.astype(np.float32) / np.float32(8.0) - np.float32(1.0))[:, None, :, :]
    labels = raw.target.astype(np.int64)
    name = "digits"
    if split is not None:
        from sklearn.model_selection import train_test_split

        idx_train, idx_test = train_test_split(np.arange(len(labels)), test_size=test_fraction,
                                               random_state=seed, stratify=labels)
        idx = np.sort(idx_train if split == "train" else idx_test)
        images, labels = images[idx], labels[idx]
        name = f"digits-{split}"
    classes = tuple(str(c) for c in range(10))
    return ImageDataset(backend.asarray(np.ascontiguousarray(images)), backend.asarray(labels),
                        name, classes)
