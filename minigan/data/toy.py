"""Toy 2-D Gaussian mixtures: the ring and the grid of the mode-collapse benchmarks.

A GAN that collapses onto a few modes is easy to see (and to count) in two dimensions, so the
GAN literature measures mode collapse on two mixtures of isotropic Gaussians with equal weights:

- **ring8**: 8 Gaussians with centres evenly spaced on a circle. Published settings: radius 1
  and sigma 0.01 (PacGAN), radius 2 and sigma 0.02 (Unrolled GAN, VEEGAN). Default here:
  radius 1, sigma 0.01.
- **grid25**: 25 Gaussians with centres on the grid {-4, -2, 0, 2, 4}^2, sigma 0.05
  (VEEGAN, PacGAN). Default here: spacing 2, sigma 0.05.

A trap several published benchmarks fell into: ``np.linspace(0, 2*pi, 8)`` includes both 0
and 2*pi, which are the same point on the circle, so their "8-mode" ring had only 7 distinct
modes. :func:`ring_centers` uses ``endpoint=False``.

Samples are float32 arrays of shape (n, 2) on the backend in use (``minigan.backend.xp``), ready
for a model. :mod:`minigan.evaluation.metrics` counts how many modes a generator covers.
"""
from __future__ import annotations

import numpy as np

from .. import backend

__all__ = ["ring_centers", "grid_centers", "GaussianMixture", "ring8", "grid25",
           "TOY_DATASETS", "make_toy"]


def ring_centers(n_modes: int = 8, radius: float = 1.0) -> np.ndarray:
    """Centres of ``n_modes`` Gaussians evenly spaced on a circle of radius ``radius``.

    Centre k is at angle 2*pi*k/n_modes: ``(radius*cos, radius*sin)``, k = 0..n_modes-1, all
    distinct (``endpoint=False``: the angle 2*pi would repeat the centre at angle 0).

    Returns: float64 NumPy array of shape (n_modes, 2).
    """
    if int(n_modes) != n_modes or n_modes < 1:
        raise ValueError(f"ring_centers: n_modes must be a positive integer, got {n_modes!r}")
    if not radius > 0:
        raise ValueError(f"ring_centers: radius must be > 0, got {radius!r}")
    angles = np.linspace(0.0, 2.0 * np.pi, int(n_modes), endpoint=False)
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid_centers(side: int = 5, spacing: float = 2.0) -> np.ndarray:
    """Centres of a ``side`` x ``side`` grid of Gaussians, centred on the origin.

    Coordinates along each axis are ``spacing * (k - (side-1)/2)``, k = 0..side-1: the defaults
    give {-4, -2, 0, 2, 4}^2. Row-major order: the first coordinate varies slowest.

    Returns: float64 NumPy array of shape (side**2, 2).
    """
    if int(side) != side or side < 1:
        raise ValueError(f"grid_centers: side must be a positive integer, got {side!r}")
    if not spacing > 0:
        raise ValueError(f"grid_centers: spacing must be > 0, got {spacing!r}")
    axis = spacing * (np.arange(int(side)) - (side - 1) / 2.0)
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def _as_generator(rng):
    """``rng`` as a random Generator: None -> minigan's global one, int -> a new one seeded."""
    if rng is None:
        return backend.rng()
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(int(rng))
    if not (hasattr(rng, "integers") and hasattr(rng, "standard_normal")):
        raise ValueError(f"rng must be None, an int seed or a random Generator "
                         f"(numpy.random.default_rng(...)), got {type(rng).__name__}")
    return rng


class GaussianMixture:
    """An equal-weight mixture of isotropic 2-D Gaussians N(mu_k, std^2 I), k = 0..K-1.

    Attributes:
        centers: float64 NumPy array (K, 2), the means mu_k (host memory: for metrics, plots).
        std: float, the standard deviation of every component, in each coordinate.
        name: str, e.g. ``"ring8"``; used in plot titles and logs.

    Sampling draws a component index k uniformly, then ``x = mu_k + std * eps``, eps ~ N(0, I).
    """

    def __init__(self, centers, std: float, name: str = "mixture"):
        centers = np.array(backend.to_numpy(centers), dtype=np.float64)
        if centers.ndim != 2 or centers.shape[1] != 2 or centers.shape[0] < 1:
            raise ValueError(f"GaussianMixture: centers must have shape (K, 2) with K >= 1, "
                             f"got {centers.shape}")
        if not np.all(np.isfinite(centers)):
            raise ValueError("GaussianMixture: centers must be finite")
        try:
            std = float(std)
        except (TypeError, ValueError):
            raise ValueError(f"GaussianMixture: std must be a positive number, got {std!r}") from None
        if not (np.isfinite(std) and std > 0):
            raise ValueError(f"GaussianMixture: std must be a positive number, got {std!r}")
        self.centers = centers
        self.std = std
        self.name = str(name)

    @property
    def n_modes(self) -> int:
        """K, the number of components."""
        return self.centers.shape[0]

    def sample(self, n: int, rng=None, return_modes: bool = False):
        """Draw ``n`` points.

        Args:
            n: number of samples (>= 0).
            rng: a random Generator (``numpy.random.default_rng(seed)``), an int seed, or None
                for minigan's global generator (:func:`minigan.backend.rng`).
            return_modes: also return the component index of each sample.

        Returns:
            x: float32 array (n, 2) on the backend in use; with ``return_modes``, also
            ``modes``: int64 array (n,) of component indices in [0, K).
        """
        if int(n) != n or n < 0:
            raise ValueError(f"GaussianMixture.sample: n must be a non-negative integer, got {n!r}")
        n = int(n)
        rng = _as_generator(rng)
        modes = rng.integers(0, self.n_modes, size=n)
        eps = rng.standard_normal((n, 2))
        xp = backend.get_array_module(eps)            # numpy, or cupy for a cupy Generator
        x = xp.asarray(self.centers)[modes] + self.std * eps
        x = backend.asarray(x.astype(np.float32))
        if return_modes:
            return x, backend.asarray(modes.astype(np.int64))
        return x

    def __repr__(self):
        return f"GaussianMixture(name={self.name!r}, n_modes={self.n_modes}, std={self.std})"


def ring8(radius: float = 1.0, std: float = 0.01, n_modes: int = 8) -> GaussianMixture:
    """The ring benchmark: ``n_modes`` Gaussians on a circle (see :func:`ring_centers`).

    Defaults follow PacGAN (radius 1, std 0.01); Unrolled GAN and VEEGAN used radius 2, std 0.02.
    The ratio radius/std sets the difficulty: the modes are 2*radius*sin(pi/K) apart, ~77 std
    for the defaults.
    """
    return GaussianMixture(ring_centers(n_modes, radius), std,
                           name="ring8" if n_modes == 8 else f"ring{n_modes}")


def grid25(spacing: float = 2.0, std: float = 0.05, side: int = 5) -> GaussianMixture:
    """The grid benchmark: ``side**2`` Gaussians on a square grid (see :func:`grid_centers`).

    Defaults follow VEEGAN and PacGAN: centres {-4, -2, 0, 2, 4}^2, std 0.05.
    """
    return GaussianMixture(grid_centers(side, spacing), std,
                           name="grid25" if side == 5 else f"grid{side * side}")


TOY_DATASETS = {"ring8": ring8, "grid25": grid25}


def make_toy(name: str, **kwargs) -> GaussianMixture:
    """The toy mixture called ``name`` (a key of ``TOY_DATASETS``), built with ``kwargs``.

    Example: ``make_toy("ring8", radius=2.0, std=0.02)``.
    """
    if name not in TOY_DATASETS:
        raise ValueError(f"unknown toy dataset {name!r}: expected one of {sorted(TOY_DATASETS)}")
    return TOY_DATASETS[name](**kwargs)
