"""A small CNN classifier, trained by minigan, whose penultimate layer is the feature space of FID.

FID (Heusel et al. 2017) compares real and generated images in the feature space of an Inception
network trained on ImageNet. For 8x8 digits or 28x28 MNIST those features would measure the
wrong things (and need a download and a framework minigan does not use). The usual practice for
small domains is a classifier trained on the domain itself: its penultimate layer has learned
what tells the classes apart, so two sets of images whose features have the same mean and
covariance look alike to it. This module builds and trains that classifier with minigan's own
layers and Adam::

    Conv2d(C, w, 3, padding=1) → LeakyReLU(0.2) → MaxPool2d(2)          (N, w, H/2, W/2)
    Conv2d(w, 2w, 3, padding=1) → LeakyReLU(0.2) → MaxPool2d(2)         (N, 2w, H/4, W/4)
    Flatten → Linear(2w·H/4·W/4, F) → LeakyReLU(0.2)                      (N, F)  = the features
    Linear(F, K)                                                          (N, K)  = the logits

(``H/4`` rounds down: 8 → 2, 28 → 7.) It is trained with softmax cross-entropy.

``Classifier.features(images)`` gives the (N, F) features, ``predict`` / ``predict_proba`` the
class, ``save`` / :func:`load_classifier` store it as one ``.npz``. A ``Classifier`` can be
passed wherever :mod:`minigan.evaluation.metrics` wants a ``feature_fn`` or a scikit-learn-like classifier.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from .. import backend
from ..backend import to_numpy
from ..fileio import atomic_file
from ..nn import Conv2d, Flatten, LeakyReLU, Linear, MaxPool2d, Sequential, softmax, softmax_cross_entropy
from ..optim import Adam

__all__ = ["Classifier", "train_classifier", "load_classifier", "digits_feature_net"]


class Classifier:
    """A CNN classifier of images (C, H, W) into K classes, with an F-dimensional feature layer.

    Attributes:
        body: Sequential, images (N, C, H, W) -> features (N, F) (after the last LeakyReLU).
        head: Linear(F, K), features -> logits.
        image_shape: (C, H, W); classes: tuple of K names; width: w (channels of the first
            conv); feature_dim: F; info: dict of how it was trained (JSON-able).
    """

    def __init__(self, image_shape, classes, width: int = 16, feature_dim: int = 64, seed: int = 0):
        C, H, W = (int(v) for v in image_shape)
        if H < 4 or W < 4:
            raise ValueError(f"Classifier: images must be at least 4x4 (two 2x2 poolings), got {H}x{W}")
        self.image_shape = (C, H, W)
        self.classes = tuple(str(c) for c in classes)
        self.width, self.feature_dim = int(width), int(feature_dim)
        self.info: dict = {}
        rng = backend.default_rng(seed)
        w = self.width
        self.body = Sequential(
            Conv2d(C, w, 3, padding=1, rng=rng), LeakyReLU(0.2), MaxPool2d(2),
            Conv2d(w, 2 * w, 3, padding=1, rng=rng), LeakyReLU(0.2), MaxPool2d(2),
            Flatten(), Linear(2 * w * (H // 2 // 2) * (W // 2 // 2), self.feature_dim, rng=rng),
            LeakyReLU(0.2))
        self.head = Linear(self.feature_dim, len(self.classes), rng=rng)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    # --- forward / backward --------------------------------------------------------------
    def _as_images(self, images):
        """images (N, C, H, W) or flat (N, C·H·W), any float dtype -> float32 (N, C, H, W)
        on the backend in use."""
        x = backend.asarray(images) if backend.name != "numpy" else images
        xp = backend.get_array_module(x)
        x = xp.asarray(x)
        n_pix = int(np.prod(self.image_shape))
        if x.ndim == 2 and x.shape[1] == n_pix:
            x = x.reshape((x.shape[0],) + self.image_shape)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"Classifier: expected images of shape (N, {', '.join(map(str, self.image_shape))})"
                             f" or (N, {n_pix}), got {tuple(x.shape)}")
        if x.dtype.kind != "f":
            raise ValueError(f"Classifier: expected floating-point images in [-1, 1], got dtype {x.dtype}")
        return x.astype(self.head.dtype, copy=False)

    def forward(self, x):
        """logits (N, K) and the caches of body and head."""
        h, body_cache = self.body.forward(x)
        logits, head_cache = self.head.forward(h)
        return logits, (body_cache, head_cache)

    def backward(self, dlogits, cache):
        body_cache, head_cache = cache
        return self.body.backward(self.head.backward(dlogits, head_cache), body_cache)

    def _batched(self, fn, images, batch_size):
        x = self._as_images(images)
        outs = [to_numpy(fn(x[i:i + batch_size])) for i in range(0, x.shape[0], batch_size)]
        if not outs:
            raise ValueError("Classifier: got no images (N = 0)")
        return np.concatenate(outs, axis=0)

    # --- what the metrics use --------------------------------------------------------------
    def features(self, images, batch_size: int = 500) -> np.ndarray:
        """Penultimate-layer features: float64 NumPy (N, F). images: (N, C, H, W) or (N, C·H·W)."""
        return self._batched(lambda x: self.body.forward(x)[0], images, batch_size).astype(np.float64)

    __call__ = features          # a Classifier is itself a feature_fn

    def logits(self, images, batch_size: int = 500) -> np.ndarray:
        """float64 NumPy (N, K)."""
        return self._batched(lambda x: self.forward(x)[0], images, batch_size).astype(np.float64)

    def predict_proba(self, images, batch_size: int = 500) -> np.ndarray:
        """Class probabilities, float64 NumPy (N, K) (as scikit-learn's ``predict_proba``)."""
        return to_numpy(softmax(self.logits(images, batch_size)))

    def predict(self, images, batch_size: int = 500) -> np.ndarray:
        """Predicted class indices, int64 NumPy (N,)."""
        return self.logits(images, batch_size).argmax(axis=1).astype(np.int64)

    def accuracy(self, dataset) -> float:
        """Share of ``dataset`` (an ImageDataset) classified correctly."""
        return float(np.mean(self.predict(dataset.images) == to_numpy(dataset.labels)))

    # --- files -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        out = {"body." + k: v for k, v in self.body.state_dict().items()}
        out.update({"head." + k: v for k, v in self.head.state_dict().items()})
        return out

    def save(self, path) -> None:
        """Write weights and configuration to one ``.npz`` (atomically: temp file + rename)."""
        meta = {"image_shape": list(self.image_shape), "classes": list(self.classes),
                "width": self.width, "feature_dim": self.feature_dim, "info": self.info}
        with atomic_file(os.fspath(path), prefix=".classifier-", suffix=".npz") as f:
            np.savez(f, __meta__=np.asarray(json.dumps(meta)), **self.state_dict())

    def __repr__(self):
        acc = self.info.get("test_accuracy")
        return (f"Classifier(image_shape={self.image_shape}, classes={self.num_classes}, "
                f"width={self.width}, feature_dim={self.feature_dim}"
                + (f", test_accuracy={acc:.4f}" if acc is not None else "") + ")")


def load_classifier(path) -> Classifier:
    """A :class:`Classifier` saved with :meth:`Classifier.save`."""
    with np.load(path, allow_pickle=False) as f:
        if "__meta__" not in f:
            raise ValueError(f"{path}: not a minigan Classifier file (no __meta__ entry)")
        meta = json.loads(str(f["__meta__"]))
        state = {k: f[k] for k in f.files if k != "__meta__"}
    clf = Classifier(meta["image_shape"], meta["classes"], meta["width"], meta["feature_dim"])
    try:
        clf.body.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("body.")})
        clf.head.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: weights do not fit the classifier it describes: {exc}") from exc
    clf.info = meta.get("info", {})
    return clf


def train_classifier(dataset, epochs: int = 10, seed: int = 0, *, batch_size: int = 64,
                     lr: float = 1e-3, width: int = 16, feature_dim: int = 64, test=None,
                     verbose: bool = False) -> Classifier:
    """Train a :class:`Classifier` on an ImageDataset with Adam and softmax cross-entropy.

    Args:
        dataset: ImageDataset, images (N, C, H, W) in [-1, 1], labels int64 (N,).
        epochs: passes over the data (shuffled each epoch; the last partial batch is kept).
        seed: initialisation and shuffling; the same seed gives the same classifier.
        batch_size, lr, width, feature_dim: as in :class:`Classifier` and Adam.
        test: an optional held-out ImageDataset; its accuracy is stored in ``info``.
        verbose: print one line per epoch.

    Returns: the classifier, in float32, with ``info`` = {"dataset", "epochs", "seed",
    "train_accuracy", "test_accuracy" (if ``test``), "seconds", "loss" (per epoch)}.
    """
    from ..data.loader import DataLoader
    if isinstance(epochs, bool) or int(epochs) != epochs or epochs < 1:
        raise ValueError(f"train_classifier: epochs must be a positive integer, got {epochs!r}")
    clf = Classifier(dataset.image_shape, dataset.classes, width, feature_dim, seed)
    opt = Adam([clf.body, clf.head], lr=lr)
    loader = DataLoader(dataset.images, dataset.labels, batch_size=batch_size, seed=seed,
                        drop_last=False)
    t0 = time.perf_counter()
    losses = []
    for epoch in range(int(epochs)):
        total, count = 0.0, 0
        for x, y in loader:
            opt.zero_grad()
            logits, cache = clf.forward(x)
            loss, dlogits = softmax_cross_entropy(logits, y)
            clf.backward(dlogits, cache)
            opt.step()
            total, count = total + loss * x.shape[0], count + x.shape[0]
        losses.append(total / count)
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}"
                  + (f", test accuracy {clf.accuracy(test):.4f}" if test is not None else ""),
                  flush=True)
    clf.info = {"dataset": dataset.name, "epochs": int(epochs), "seed": int(seed),
                "seconds": round(time.perf_counter() - t0, 2), "loss": losses,
                "train_accuracy": clf.accuracy(dataset)}
    if test is not None:
        clf.info["test_accuracy"] = clf.accuracy(test)
    return clf


_DIGITS_NETS: dict = {}


def digits_feature_net(seed: int = 0, epochs: int = 15) -> Classifier:
    """The feature net of the 8x8 digits: :func:`train_classifier` on the training split of
    ``load_digits(split="train", seed=seed)``, trained once per process and kept (a few seconds
    on two cores). Its test-split accuracy is in ``info["test_accuracy"]``."""
    key = (seed, epochs)
    if key not in _DIGITS_NETS:
        from ..data.digits import load_digits
        _DIGITS_NETS[key] = train_classifier(load_digits("train", seed=seed), epochs=epochs,
                                             seed=seed, test=load_digits("test", seed=seed))
    return _DIGITS_NETS[key]


__all__ += ["train_mnist_feature_net", "mnist_feature_net"]

# The MNIST feature net: the digits' Classifier (width 16, 64 features) on 28x28 images, trained
# for MNIST_NET_STEPS Adam steps of batch 64 (epochs rounded up) on at most MNIST_NET_IMAGES
# images of a training split: about half a minute on two cores, test accuracy about 0.98.
MNIST_NET_IMAGES = 10000
MNIST_NET_STEPS = 1600


def train_mnist_feature_net(dataset, test=None, seed: int = 0, steps: int | None = None,
                            verbose: bool = False) -> Classifier:
    """The feature net of 28×28 images (MNIST, Fashion-MNIST): :func:`train_classifier` on
    ``dataset`` (an ImageDataset: pass the images the generator trains on, never the
    held-out ones FID compares with) for about ``steps`` (default :data:`MNIST_NET_STEPS`)
    steps of batch 64: whole epochs, rounded up."""
    steps = MNIST_NET_STEPS if steps is None else steps
    epochs = max(1, -(-steps * 64 // max(1, len(dataset))))
    return train_classifier(dataset, epochs=epochs, seed=seed, test=test, verbose=verbose)


_MNIST_NETS: dict = {}


def mnist_feature_net(root=None, fashion: bool = False, seed: int = 0, download: bool = True,
                      quiet: bool = False) -> Classifier:
    """The feature net of MNIST (Fashion-MNIST with ``fashion``) for FID:
    :func:`train_mnist_feature_net` on the first :data:`MNIST_NET_IMAGES` images of the
    training split, tested on the test split; kept per process and cached as
    ``feature-net-seed{seed}.npz`` in the dataset's cache folder
    (:func:`minigan.data.mnist.cache_dir`), so it is trained once per machine. A cached file
    that cannot be read is trained anew."""
    from ..data.digits import ImageDataset
    from ..data.mnist import cache_dir, load_mnist
    folder = cache_dir(root) / ("fashion-mnist" if fashion else "mnist")
    key = (str(folder), seed)
    if key in _MNIST_NETS:
        return _MNIST_NETS[key]
    path = folder / f"feature-net-seed{seed}.npz"
    clf = None
    if path.is_file():
        try:
            clf = load_classifier(path)
        except (OSError, ValueError, KeyError):
            clf = None
    if clf is None:
        train = load_mnist("train", root=root, download=download, fashion=fashion, quiet=quiet)
        test = load_mnist("test", root=root, download=download, fashion=fashion, quiet=quiet)
        n = min(MNIST_NET_IMAGES, len(train))
        sub = ImageDataset(train.images[:n], train.labels[:n], f"{train.name}[:{n}]", train.classes)
        clf = train_mnist_feature_net(sub, test=test, seed=seed)
        try:
            clf.save(path)
        except OSError:
            pass                                 # a read-only cache: trained again next time
    _MNIST_NETS[key] = clf
    return clf
