"""minigan.data: datasets that work offline, and the batching that feeds them to models.

- :mod:`~minigan.data.toy`: 2-D Gaussian mixtures (ring8, grid25) for mode-collapse studies.
- :mod:`~minigan.data.digits`: scikit-learn's 8x8 handwritten digits as (N, 1, 8, 8) in [-1, 1].
- :mod:`~minigan.data.loader`: DataLoader (shuffled epochs) and ToySampler (fresh samples), both
  infinite, exactly resumable streams; ``load_dataset(name)`` / ``make_loader(dataset, ...)``.
- :mod:`~minigan.data.mnist`: MNIST / Fashion-MNIST as (N, 1, 28, 28): download from the standard
  mirrors, MD5 check, cache, IDX parsing (the only datasets that need a network, once).
"""
from .toy import (TOY_DATASETS, GaussianMixture, grid25, grid_centers, make_toy, ring8,
                  ring_centers)
from .digits import ImageDataset, load_digits
from .mnist import load_fashion_mnist, load_mnist, read_idx
from .loader import DATASETS, DataLoader, ToySampler, load_dataset, make_loader

__all__ = ["ring_centers", "grid_centers", "GaussianMixture", "ring8", "grid25", "TOY_DATASETS",
           "make_toy", "ImageDataset", "load_digits", "DataLoader", "ToySampler", "make_loader",
           "DATASETS", "load_dataset", "load_mnist", "load_fashion_mnist", "read_idx"]
