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

from ..backend import to_numpy

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
        from ..data.digits import load_digits
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
    from ..data.digits import load_digits
    x = np.asarray(to_numpy(samples))
    if x.ndim < 2 or int(np.prod(x.shape[1:])) != 64:
        raise ValueError(f"digits_metrics: expected samples of shape (N, 1, 8, 8) or (N, 64), got {x.shape}")
    clf = digits_classifier(seed)
    fake = classifier_metrics(x, clf, 10)
    real = classifier_metrics(load_digits(split="test", seed=seed).images, clf, 10)
    out = {k: v for k, v in fake.items() if k != "class_histogram"}
    out.update({"real_" + k: v for k, v in real.items() if k != "class_histogram"})
    return out


# --- images: Fréchet distance and precision/recall in a feature space ---------------------------
# FID (Heusel et al. 2017) and the k-NN precision/recall of Kynkäänniemi et al. (2019), computed on
# the features of a domain classifier trained by minigan (:mod:`minigan.evaluation.features`) rather than on
# Inception features, which would be meaningless for 8x8 digits. Numbers are therefore comparable
# between runs of this project that use the same feature net, not with published FIDs.
__all__ += ["feature_statistics", "frechet_distance", "fid", "precision_recall", "image_quality",
            "format_image_quality"]


def _features_2d(feats, owner, name="features"):
    f = np.asarray(to_numpy(feats), dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"{owner}: {name} must have shape (N, F) with N >= 2, got {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ValueError(f"{owner}: {name} contain NaN or inf (a diverged generator?)")
    return f


def feature_statistics(feats):
    """Mean (F,) and covariance (F, F) of features (N, F), float64; the covariance is the unbiased
    one (divided by N − 1), as in the reference FID code (``np.cov(rowvar=False)``)."""
    f = _features_2d(feats, "feature_statistics")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet (2-Wasserstein) distance², between N(mu1, sigma1) and N(mu2, sigma2):

        d² = ||mu1 − mu2||² + tr(sigma1) + tr(sigma2) − 2 tr((sigma1 sigma2)^{1/2})

    Computed as the reference implementation (``pytorch-fid`` / the TTUR code of Heusel et al.)
    does: ``scipy.linalg.sqrtm`` of the product; if that is not finite (a singular product),
    ``eps`` is added to both diagonals and it is computed again; round-off can leave the
    square root with a tiny imaginary part, which is dropped when the imaginary parts of its
    diagonal are all below 1e-3 (else ValueError, something is really wrong).

    Args: mu1, mu2: (F,) means; sigma1, sigma2: (F, F) covariances (symmetric PSD); a 1-D case
    may pass numbers (variances). Returns a float (>= 0 up to round-off).
    """
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(np.asarray(to_numpy(mu1), dtype=np.float64)), \
        np.atleast_1d(np.asarray(to_numpy(mu2), dtype=np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(to_numpy(sigma1), dtype=np.float64)), \
        np.atleast_2d(np.asarray(to_numpy(sigma2), dtype=np.float64))
    F = mu1.shape[0]
    if mu1.shape != (F,) or mu2.shape != (F,) or sigma1.shape != (F, F) or sigma2.shape != (F, F):
        raise ValueError(f"frechet_distance: expected means (F,) and covariances (F, F); got "
                         f"{mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape}")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.all(np.isfinite(covmean)):
        offset = np.eye(F) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"frechet_distance: the matrix square root has an imaginary part "
                             f"of {np.max(np.abs(covmean.imag)):.3g}: are the covariances PSD?")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _feature_fn(feature_fn, owner):
    if hasattr(feature_fn, "features"):            # a minigan.evaluation.features.Classifier
        return feature_fn.features
    if not callable(feature_fn):
        raise ValueError(f"{owner}: feature_fn must be callable, images (N, ...) -> features "
                         f"(N, F), or a Classifier; got {type(feature_fn).__name__}")
    return feature_fn


def fid(images_a, images_b, feature_fn) -> float:
    """Fréchet Inception-style distance between two sets of images, in ``feature_fn``'s space.

    Args:
        images_a, images_b: (N_a, C, H, W), (N_b, C, H, W) (anything ``feature_fn`` takes).
        feature_fn: images -> features (N, F), e.g. a trained
            :class:`minigan.evaluation.features.Classifier` (or its ``.features``).

    FID is biased upwards for small N (the covariance estimates are noisy): compare FIDs only
    at equal sample sizes, and next to the real-data floor (:func:`image_quality`).
    """
    fn = _feature_fn(feature_fn, "fid")
    mu_a, s_a = feature_statistics(fn(images_a))
    mu_b, s_b = feature_statistics(fn(images_b))
    return frechet_distance(mu_a, s_a, mu_b, s_b)


def _pairwise_dist(a, b):
    """Euclidean distances (len(a), len(b)), float64, never negative."""
    d2 = (a * a).sum(1)[:, None] - 2.0 * (a @ b.T) + (b * b).sum(1)[None, :]
    return np.sqrt(np.maximum(d2, 0.0))


def _knn_radii(feats, k, batch):
    """Distance of each row to its k-th nearest neighbour among the other rows: (N,)."""
    radii = np.empty(feats.shape[0])
    for i in range(0, feats.shape[0], batch):
        d = _pairwise_dist(feats[i:i + batch], feats)              # includes the 0 to itself
        radii[i:i + batch] = np.partition(d, k, axis=1)[:, k]      # index 0 is itself
    return radii


def _share_in_manifold(queries, ref, radii, batch):
    """Share of ``queries`` inside at least one ball B(ref_j, radii_j)."""
    inside = 0
    for i in range(0, queries.shape[0], batch):
        d = _pairwise_dist(queries[i:i + batch], ref)
        inside += int(np.any(d <= radii[None, :], axis=1).sum())
    return inside / queries.shape[0]


def precision_recall(real_feats, fake_feats, k: int = 3, batch: int = 1000) -> dict:
    """Improved precision and recall of Kynkäänniemi et al. (2019), with k-NN manifolds.

    The real manifold is the union of balls around each real feature vector, of radius the
    distance to its k-th nearest real neighbour; the fake manifold likewise.

    - precision: share of fake samples inside the real manifold (are the samples realistic?)
    - recall: share of real samples inside the fake manifold (is the data's variety covered?)

    A generator that drops modes keeps a high precision and loses recall; one that produces
    junk loses precision. The paper uses k = 3 and equal set sizes (its numbers depend on both).

    Args: real_feats (N_r, F), fake_feats (N_f, F) with N_r, N_f > k; k: the neighbour that
    sets each radius. Returns ``{"precision", "recall"}``, floats in [0, 1].
    """
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"precision_recall: k must be a positive integer, got {k!r}")
    real = _features_2d(real_feats, "precision_recall", "real_feats")
    fake = _features_2d(fake_feats, "precision_recall", "fake_feats")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"precision_recall: real and fake features differ in dimension: "
                         f"{real.shape} vs {fake.shape}")
    if min(real.shape[0], fake.shape[0]) <= k:
        raise ValueError(f"precision_recall: both sets need more than k = {k} samples, got "
                         f"{real.shape[0]} real and {fake.shape[0]} fake")
    real_radii, fake_radii = _knn_radii(real, int(k), batch), _knn_radii(fake, int(k), batch)
    return {"precision": _share_in_manifold(fake, real, real_radii, batch),
            "recall": _share_in_manifold(real, fake, fake_radii, batch)}


def image_quality(fake, real_train, real_test, feature_fn, k: int = 3) -> dict:
    """FID and precision/recall of generated images, next to the floor that real data reaches.

    Args:
        fake: generated images (N_f, C, H, W).
        real_train: the images the generator was trained on (N_tr, C, H, W).
        real_test: held-out real images (N_te, C, H, W): the reference.
        feature_fn: images -> (N, F) features (a :class:`minigan.evaluation.features.Classifier`).
        k: the k of :func:`precision_recall`.

    Returns a dict:
        ``fid``: FID(fake, real_test); ``fid_floor``: FID(real_train, real_test), what a
        generator that reproduced the training set would score (not 0: finite samples);
        ``precision``, ``recall``: of fake against real_test; ``floor_precision``,
        ``floor_recall``: of real_train against real_test; ``n_fake``, ``n_train``, ``n_test``.
        FID depends on the sample size: for a fair floor use as many fake images as
        real_train images.
    """
    fn = _feature_fn(feature_fn, "image_quality")
    f_fake, f_train, f_test = (_features_2d(fn(x), "image_quality", name) for x, name in
                               ((fake, "fake features"), (real_train, "real_train features"),
                                (real_test, "real_test features")))
    stats = {name: feature_statistics(f) for name, f in
             (("fake", f_fake), ("train", f_train), ("test", f_test))}
    pr = precision_recall(f_test, f_fake, k)
    floor_pr = precision_recall(f_test, f_train, k)
    return {"fid": frechet_distance(*stats["fake"], *stats["test"]),
            "fid_floor": frechet_distance(*stats["train"], *stats["test"]),
            "precision": pr["precision"], "recall": pr["recall"],
            "floor_precision": floor_pr["precision"], "floor_recall": floor_pr["recall"],
            "n_fake": int(f_fake.shape[0]), "n_train": int(f_train.shape[0]),
            "n_test": int(f_test.shape[0])}


def format_image_quality(m: dict) -> str:
    """One line, e.g. ``FID 12.3 (real floor 1.9), precision 0.81, recall 0.62 (floor 0.93/0.95)``."""
    return (f"FID {m['fid']:.2f} (real floor {m['fid_floor']:.2f}), precision {m['precision']:.2f}, "
            f"recall {m['recall']:.2f} (floor {m['floor_precision']:.2f}/{m['floor_recall']:.2f})")


# --- conditional generators: does a generated "7" classify as 7? ------------------------------
__all__ += ["conditional_accuracy"]


def conditional_accuracy(model, classifier=None, n_per_class: int = 100, seed: int = 0,
                         real=None) -> dict:
    """Conditional accuracy of a class-conditional generator, judged by an independent classifier.

    For each class k, ``n_per_class`` samples are drawn asking for k
    (``model.sample(n, labels=[k]*n, seed=...)``) and classified; the accuracy of class k is the
    share classified as k. The reference is the classifier's accuracy on real held-out data: a
    perfect conditional generator reaches about that, not 1.

    Args:
        model: has ``n_classes`` and ``sample(n, labels=..., seed=...)``.
        classifier: fitted, with ``predict`` on (N, D) float64 rows; default
            :func:`digits_classifier` (scikit-learn's, fitted on the real digits' train split).
        n_per_class: samples per class, >= 1.
        seed: of the samples' noise (class k uses seed + k).
        real: (images, labels) of real held-out data; default the digits' test split.

    Returns: ``per_class`` (K,) accuracies, ``accuracy`` (their mean), ``real_accuracy`` (the
    classifier's accuracy on ``real``), ``n_per_class``.
    """
    if not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
        raise ValueError(f"conditional_accuracy: n_per_class must be a positive int, got {n_per_class!r}")
    K = getattr(model, "n_classes", None)
    if K is None:
        raise ValueError(f"conditional_accuracy: {type(model).__name__} is not a conditional model "
                         "(it has no n_classes)")
    if classifier is None:
        classifier = digits_classifier()
    if real is None:
        from ..data.digits import load_digits
        test = load_digits(split="test")
        real = (test.images, test.labels)
    x_real = np.asarray(to_numpy(real[0]), dtype=np.float64)
    x_real = x_real.reshape(x_real.shape[0], -1)
    y_real = np.asarray(to_numpy(real[1]))
    real_accuracy = float(np.mean(classifier.predict(x_real) == y_real))
    per_class = np.zeros(K)
    for k in range(K):
        x = np.asarray(to_numpy(model.sample(n_per_class, labels=np.full(n_per_class, k, np.int64),
                                             seed=seed + k)), dtype=np.float64)
        x = x.reshape(n_per_class, -1)
        if not np.all(np.isfinite(x)):
            raise ValueError("conditional_accuracy: samples contain NaN or inf")
        per_class[k] = np.mean(classifier.predict(x) == k)
    return {"per_class": per_class, "accuracy": float(per_class.mean()),
            "real_accuracy": real_accuracy, "n_per_class": int(n_per_class)}
