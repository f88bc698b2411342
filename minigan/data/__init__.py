"""minigan.data: datasets that work offline, and the batching that feeds them to models.

- :mod:`~minigan.data.toy`: 2-D Gaussian mixtures (ring8, grid25) for mode-collapse studies.
- :mod:`~minigan.data.digits`: scikit-learn's 8x8 handwritten digits as (N, 1, 8, 8) in [-1, 1].
- :mod:`~minigan.data.loader`: DataLoader (shuffled epochs) and ToySampler (fresh samples), both
  infinite, exactly resumable streams; ``load_dataset(name)`` / ``make_loader(dataset, ...)``.
- :mod:`~minigan.data.mnist`: MNIST / Fashion-MNIST as (N, 1, 28, 28): download from the standard
  mirrors, MD5 check, cache, IDX parsing (with Facades, the only datasets that need a network).
- :mod:`~minigan.data.scenes`: procedural street scenes, pairs (label map, photo) for
  image-to-image translation (Pix2Pix), with multimodal photos and their exact conditional
  mean and median; a :class:`PairedDataset`, generated in a second, no download.
- :mod:`~minigan.data.facades`: the CMP Facades pairs of pix2pix (download only when asked,
  MD5 check, cache, JPEG decoding with Pillow, box-filter resizing) as a PairedDataset.
"""
from .toy import (TOY_DATASETS, GaussianMixture, grid25, grid_centers, make_toy, ring8,
                  ring_centers)
from .digits import ImageDataset, load_digits
from .mnist import load_fashion_mnist, load_mnist, read_idx
from .loader import DATASETS, DataLoader, ToySampler, load_dataset, make_loader
from .scenes import PairedDataset, load_scenes
from .facades import load_facades

__all__ = ["ring_centers", "grid_centers", "GaussianMixture", "ring8", "grid25", "TOY_DATASETS",
           "make_toy", "ImageDataset", "load_digits", "DataLoader", "ToySampler", "make_loader",
           "DATASETS", "load_dataset", "load_mnist", "load_fashion_mnist", "read_idx",
           "PairedDataset", "load_scenes", "load_facades"]
