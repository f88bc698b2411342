"""How good is a GAN? Numbers, not only pictures.

Mode coverage on the toy mixtures (:func:`mode_metrics`), following the protocol of the
VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018) tables, as PacGAN's released code
computes it:

1. Draw n samples from the generator (the papers use n = 2500).
2. Assign each sample to its nearest centre, distance measured in standard deviations:
   ``d_i = min_k ||x_i - mu_k|| / sigma_k``.
3. A sample is **high quality** if ``d_i < threshold`` (3: within three standard deviations).
   ``high_quality`` is the share of such samples.
4. A mode is **covered** ("recovered") if at least ``min_count`` high-quality samples are
   assigned to it (1 in the papers; raise it to ignore stray samples).
5. ``reverse_kl`` is ``KL(q || p) = sum_k q_k log(q_k / p_k)``, where q is the histogram of the
   high-quality samples over the modes, normalised to sum to 1, and p is the true, uniform
   distribution over the K modes (p_k = 1/K). Empty modes contribute 0 (``0 log 0 = 0``), so no
   smoothing is needed in this direction: it is 0 for a perfectly balanced generator,
   ``log(K/m)`` for one that spreads evenly over m of the K modes, at most ``log K``. It is
   ``inf`` when there are no high-quality samples at all (q undefined).

Inputs may be NumPy or CuPy arrays; everything is computed in float64 NumPy.
"""
from __future__ import annotations

import math

import numpy as np

from .backend import to_numpy

__all__ = ["assign_to_modes", "mode_metrics", "format_mode_metrics", "digits_classifier",
           "classifier_metrics", "digits_metrics"]


def _centers_and_std(centers, std, owner):
    """Accept (centers, std) or a GaussianMixture in place of centers (std=None)."""
    if hasattr(centers, "centers") and hasattr(centers, "std"):
        if std is None:
            std = centers.std
        centers = centers.centers
    if std is None:
        raise ValueError(f"{owner}: std is required (a positive number, or one per mode) "
                         "unless centers is a GaussianMixture")
    centers = np.asarray(to_numpy(centers), dtype=np.float64)
    if centers.ndim != 2 or centers.shape[0] < 1:
        raise ValueError(f"{owner}: centers must have shape (K, D) with K >= 1, got {centers.shape}")
    std = np.asarray(to_numpy(std), dtype=np.float64)
    if std.ndim == 0:
        std = np.full(centers.shape[0], float(std))
    if std.shape != (centers.shape[0],):
        raise ValueError(f"{owner}: std must be a number or have shape (K,) = ({centers.shape[0]},),"
                         f" got shape {std.shape}")
    if not np.all(std > 0):
        raise ValueError(f"{owner}: std must be positive, got {std}")
    return centers, std


def assign_to_modes(samples, centers, std=None):
    """Nearest centre of each sample, and the distance to it in standard deviations.

    Args:
        samples: (n, D) array.
        centers: (K, D) array, or a GaussianMixture (then ``std`` defaults to its std).
        std: a positive number, or an array (K,) with one standard deviation per mode.

    Returns:
        nearest: int64 (n,), index of the nearest centre in ``||x - mu_k|| / std_k``.
        distance: float64 (n,), that distance (NaN for a non-finite sample).
    """
    centers, std = _centers_and_std(centers, std, "assign_to_modes")
    x = np.asarray(to_numpy(samples), dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != centers.shape[1]:
        raise ValueError(f"assign_to_modes: samples must have shape (n, D) with D = "
                         f"{centers.shape[1]} like the centers, got {x.shape}")
    diff = x[:, None, :] - centers[None, :, :]                     # (n, K, D)
    dist = np.sqrt(np.sum(diff * diff, axis=2)) / std[None, :]     # (n, K), in units of std
    finite = np.all(np.isfinite(x), axis=1)
    nearest = np.zeros(x.shape[0], dtype=np.int64)
    distance = np.full(x.shape[0], np.nan)
    if finite.any():
        nearest[finite] = np.argmin(dist[finite], axis=1)
        distance[finite] = dist[finite, nearest[finite]]
    return nearest, distance


def mode_metrics(samples, centers, std=None, threshold: float = 3.0, min_count: int = 1) -> dict:
    """Mode coverage, share of high-quality samples and reverse KL (see the module docstring).

    Args:
        samples: (n, D) generated samples, n >= 1 (the papers use n = 2500). Non-finite rows
            (a diverged generator) count as low quality.
        centers: (K, D) mode centres, or a GaussianMixture (then ``std`` may be omitted).
        std: standard deviation of the modes: a number, or one per mode (K,).
        threshold: a sample is high quality if strictly within ``threshold * std`` of its
            nearest centre.
        min_count: a mode is covered if at least this many high-quality samples are assigned
            to it.

    Returns: a dict with
        ``modes_covered`` (int), ``n_modes`` (int K), ``high_quality`` (float in [0, 1]),
        ``reverse_kl`` (float >= 0, or inf), ``counts`` (int64 (K,): high-quality samples per
        mode), ``covered`` (bool (K,)), ``n_samples`` (int).
    """
    if not threshold > 0:
        raise ValueError(f"mode_metrics: threshold must be > 0, got {threshold!r}")
    if isinstance(min_count, bool) or int(min_count) != min_count or min_count < 1:
        raise ValueError(f"mode_metrics: min_count must be a positive integer, got {min_count!r}")
    centers, std = _centers_and_std(centers, std, "mode_metrics")
    n_samples = np.shape(to_numpy(samples))[0] if np.ndim(to_numpy(samples)) >= 1 else 0
    if n_samples == 0:
        raise ValueError("mode_metrics: samples must have shape (n, D) with n >= 1, got "
                         f"{np.shape(to_numpy(samples))}")
    nearest, distance = assign_to_modes(samples, centers, std)
    good = distance < threshold                                    # NaN < t is False
    k = centers.shape[0]
    counts = np.bincount(nearest[good], minlength=k).astype(np.int64)
    covered = counts >= int(min_count)
    total = int(counts.sum())
    if total == 0:
        reverse_kl = math.inf
    else:
        q = counts[counts > 0] / total
        reverse_kl = float(np.sum(q * np.log(q * k)))              # sum q log(q / (1/K))
        reverse_kl = max(reverse_kl, 0.0)                          # round-off below 0
    return {
        "modes_covered": int(covered.sum()),
        "n_modes": int(k),
        "high_quality": total / n_samples,
        "reverse_kl": reverse_kl,
        "counts": counts,
        "covered": covered,
        "n_samples": int(n_samples),
    }


def format_mode_metrics(m: dict) -> str:
    """One line for logs and notebooks, e.g. ``modes 7/8, high quality 93.1%, reverse KL 0.134``."""
    return (f"modes {m['modes_covered']}/{m['n_modes']}, high quality {100 * m['high_quality']:.1f}%, "
            f"reverse KL {m['reverse_kl']:.3f}")


# --- images: judged by an independent classifier ------------------------------------------------
_CLASSIFIERS: dict = {}


def digits_classifier(seed: int = 0):
    """scikit-learn's logistic regression fitted on the training split of the 8x8 digits.

    Independent of minigan's own code (so a bug in minigan cannot flatter minigan's numbers),
    fitted once per process and cached. Inputs: (N, 64) in [-1, 1].
    """
    if seed not in _CLASSIFIERS:
        from sklearn.linear_model import LogisticRegression
        from .data.digits import load_digits
        train = load_digits(split="train", seed=seed)
        clf = LogisticRegression(max_iter=5000)
        clf.fit(to_numpy(train.flat).astype(np.float64), to_numpy(train.labels))
        _CLASSIFIERS[seed] = clf
    return _CLASSIFIERS[seed]


def classifier_metrics(images, classifier, n_classes: int, min_share: float = 0.01) -> dict:
    """How a classifier sees a set of images: confidence and class balance.

    Args:
        images: (N, ...) images (flattened to (N, D) for the classifier), N >= 1.
        classifier: fitted, with ``predict_proba``.
        n_classes: K.
        min_share: a class is covered if at least this share of the images is predicted as it.

    Returns: ``confidence`` (mean of the top class probability: high when the images look
    like clear members of some class), ``classes_covered``, ``class_kl`` (KL(q || uniform)
    of the predicted-class histogram q: 0 when balanced, log K when all one class),
    ``class_histogram`` (K,).
    """
    x = np.asarray(to_numpy(images), dtype=np.float64)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"classifier_metrics: expected images of shape (N, ...), N >= 1, got {x.shape}")
    x = x.reshape(x.shape[0], -1)
    if not np.all(np.isfinite(x)):
        raise ValueError("classifier_metrics: images contain NaN or inf")
    p = classifier.predict_proba(x)
    hist = np.bincount(p.argmax(axis=1), minlength=n_classes) / x.shape[0]
    q = hist[hist > 0]
    return {
        "confidence": float(p.max(axis=1).mean()),
        "classes_covered": int(np.sum(hist >= min_share)),
        "class_kl": max(float(np.sum(q * np.log(q * n_classes))), 0.0),
        "class_histogram": hist,
    }


def digits_metrics(samples, seed: int = 0) -> dict:
    """:func:`classifier_metrics` of generated 8x8 digits, beside the same numbers on the real
    test split (the floor a perfect generator would reach): ``confidence``, ``classes_covered``,
    ``class_kl`` and ``real_confidence``, ``real_classes_covered``, ``real_class_kl``."""
    from .data.digits import load_digits
    x = np.asarray(to_numpy(samples))
    if x.ndim < 2 or int(np.prod(x.shape[1:])) != 64:
        raise ValueError(f"digits_metrics: expected samples of shape (N, 1, 8, 8) or (N, 64), got {x.shape}")
    clf = digits_classifier(seed)
    fake = classifier_metrics(x, clf, 10)
    real = classifier_metrics(load_digits(split="test", seed=seed).images, clf, 10)
    out = {k: v for k, v in fake.items() if k != "class_histogram"}
    out.update({"real_" + k: v for k, v in real.items() if k != "class_histogram"})
    return out
