"""The judge of the text-to-image chapter: four small CNNs that read a picture's attributes.

A text-to-image generator (GAN-CLS, GAN-INT; Reed et al. 2016) is asked for "a small red circle
in the top left". Did it draw one? On the captioned shapes (:mod:`minigan.data.captions`) that
question has an exact answer, because every caption states four attributes (shape, colour, size,
position) and nothing else; the :class:`Judge` reads those four attributes from a picture, and
``judge.accuracy(fakes, attrs)`` says how often the generator drew what it was asked for, per
attribute and all four at once (``"all"``).

**An instrument, not a participant.** The judge is trained **only on real renders**
(:func:`~minigan.data.captions.render`), never on generated pictures, from its own random stream
(children ``(JUDGE_KEY, 0)`` and ``(JUDGE_KEY, 1)`` of ``SeedSequence(seed)``, apart from every
split of the dataset), with the attribute rows spread evenly over **all 128 combinations,
the held-out colour-shape pairs included** (:data:`~minigan.data.captions.HELD_OUT`). The
generator never sees a blue circle; the judge has seen many, so that it can tell whether the
generator's "blue circle" is one. (A judge trained on the training split only would itself be
untested on held-out pairs, and its errors there would be charged to the generator.) Its
accuracy on fresh real renders is 0.995 to 1.0 on "all" (colour, size and position about 1.0;
the few errors are shapes; ``info["accuracy"]`` records it for each judge): whatever a generator
scores clearly below that is the generator's.

**The networks**: one :class:`~minigan.evaluation.features.Classifier` per attribute (``nets``,
in the order of :data:`~minigan.data.captions.ATTRIBUTES`), the two-convolution CNN of the FID
chapter with 4, 4, 2 and 4 classes, trained together on the same minibatches with Adam and
softmax cross-entropy (:func:`train_judge`: 10 to 15 seconds on two busy CPU cores).

- ``judge.predict(images)``: int64 (N, 4), the attribute rows it reads;
- ``judge.accuracy(images, attrs)``: ``{"shape", "colour", "size", "position", "all"}``,
  fractions of pictures read as ``attrs`` (``"all"``: all four attributes right);
- ``judge.features(images)``: float64 (N, F), the four networks' feature layers side by side,
  a feature space for FID (:func:`minigan.evaluation.metrics.fid` takes the judge itself);
- ``judge.save(path)`` / :func:`load_judge`: one ``.npz``, written atomically, read strictly.

Quick look::

    from minigan.data.captions import load_captioned_shapes
    from minigan.evaluation.attributes import train_judge
    judge = train_judge(seed=0)
    test = load_captioned_shapes("heldout")
    judge.accuracy(test.images, test.attrs)     # about 1.0 everywhere: real pictures
"""
from __future__ import annotations

import json
import os
import time
import zipfile

import numpy as np

from .. import backend
from ..data.captions import (ATTRIBUTES, VALUES, _check_attrs, _check_size,
                             all_combinations, render)
from ..data.loader import DataLoader
from ..fileio import atomic_file
from ..nn import softmax_cross_entropy
from ..optim import Adam
from .features import Classifier

__all__ = ["Judge", "train_judge", "load_judge", "JUDGE_KEY", "JUDGE_WIDTHS",
           "JUDGE_FEATURES", "JUDGE_IMAGES", "JUDGE_STEPS"]

#: The spawn key of the judge's training stream in ``SeedSequence(seed)`` (the dataset's splits
#: use 0, 1, 2).
JUDGE_KEY = 100
#: Width (channels of the first convolution) of each attribute's network: shape, colour, size,
#: position. Shape is the hardest to read, position the easiest.
JUDGE_WIDTHS = (12, 4, 6, 4)
#: Feature dimension of each network: ``judge.features`` has ``sum(JUDGE_FEATURES)`` columns.
JUDGE_FEATURES = (48, 16, 16, 16)
#: Default number of training renders (spread evenly over the 128 combinations) and Adam steps.
JUDGE_IMAGES = 8192
JUDGE_STEPS = 800
_FORMAT = "minigan-judge"
_FORMAT_VERSION = 1


def _net_seed(seed: int, k: int) -> int:
    """The initialisation seed of attribute ``k``'s network."""
    return int(np.random.SeedSequence(seed, spawn_key=(JUDGE_KEY, 2, k)).generate_state(1)[0])


class Judge:
    """Four classifiers, one per attribute, reading (shape, colour, size, position) off pictures.

    Attributes:
        nets: tuple of four :class:`~minigan.evaluation.features.Classifier`, in the order of
            :data:`~minigan.data.captions.ATTRIBUTES`.
        size: the side of the pictures it reads (3 x size x size).
        info: dict of how it was trained (JSON-able): seed, images, steps, seconds, the
            accuracy on fresh renders of every combination.
    """

    def __init__(self, size: int = 16, widths=JUDGE_WIDTHS, feature_dims=JUDGE_FEATURES,
                 seed: int = 0):
        self.size = _check_size("Judge", size)
        widths, feature_dims = tuple(int(w) for w in widths), tuple(int(f) for f in feature_dims)
        if len(widths) != len(ATTRIBUTES) or len(feature_dims) != len(ATTRIBUTES):
            raise ValueError(f"Judge: widths and feature_dims need one entry per attribute "
                             f"{ATTRIBUTES}, got {widths} and {feature_dims}")
        self.nets = tuple(Classifier((3, self.size, self.size), VALUES[k], widths[k],
                                     feature_dims[k], _net_seed(seed, k))
                          for k in range(len(ATTRIBUTES)))
        self.info: dict = {}

    @property
    def image_shape(self) -> tuple:
        return (3, self.size, self.size)

    @property
    def feature_dim(self) -> int:
        """F, the columns of :meth:`features`."""
        return sum(net.feature_dim for net in self.nets)

    def _check_images(self, owner, images):
        """images as an array of shape (N, 3, size, size), floating, finite (NumPy or CuPy)."""
        want = f"(N, {', '.join(map(str, self.image_shape))})"
        if not hasattr(images, "shape") or not hasattr(images, "dtype"):
            try:
                images = np.asarray(images)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"Judge.{owner}: expected images of shape {want}, got "
                                 f"{type(images).__name__}") from exc
        if images.ndim != 4 or tuple(images.shape[1:]) != self.image_shape or images.shape[0] == 0:
            raise ValueError(f"Judge.{owner}: expected images of shape {want} (float, in "
                             f"[-1, 1]), got shape {tuple(images.shape)}")
        if images.dtype.kind != "f":
            raise ValueError(f"Judge.{owner}: expected floating-point images of shape {want} "
                             f"in [-1, 1], got dtype {images.dtype}")
        if not bool(backend.get_array_module(images).isfinite(images).all()):
            raise ValueError(f"Judge.{owner}: the images hold NaN or infinite values")
        return images

    def logits(self, images, batch_size: int = 500) -> list:
        """Four float64 NumPy arrays (N, K_a), one per attribute."""
        x = self._check_images("logits", images)
        with backend.blas_threads(1):
            return [net.logits(x, batch_size) for net in self.nets]

    def predict(self, images, batch_size: int = 500) -> np.ndarray:
        """The attributes read off ``images`` (N, 3, size, size): int64 NumPy (N, 4)."""
        x = self._check_images("predict", images)
        with backend.blas_threads(1):          # small products: one thread is fastest
            return np.stack([net.predict(x, batch_size) for net in self.nets], axis=1)

    def accuracy(self, images, attrs, batch_size: int = 500) -> dict:
        """``{"shape", "colour", "size", "position", "all"}``: the fraction of ``images`` whose
        attribute is read as in ``attrs`` (int (N, 4)); ``"all"``: all four right."""
        x = self._check_images("accuracy", images)
        a = _check_attrs("Judge.accuracy", attrs)
        if len(a) != x.shape[0]:
            raise ValueError(f"Judge.accuracy: {x.shape[0]} images but {len(a)} attribute rows")
        right = self.predict(x, batch_size) == a
        out = {name: float(right[:, k].mean()) for k, name in enumerate(ATTRIBUTES)}
        out["all"] = float(right.all(axis=1).mean())
        return out

    def features(self, images, batch_size: int = 500) -> np.ndarray:
        """The four feature layers side by side: float64 NumPy (N, :attr:`feature_dim`)."""
        x = self._check_images("features", images)
        with backend.blas_threads(1):
            return np.concatenate([net.features(x, batch_size) for net in self.nets], axis=1)

    __call__ = features           # a Judge is itself a feature_fn for FID

    # --- files -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        out = {}
        for name, net in zip(ATTRIBUTES, self.nets):
            out.update({f"{name}.{k}": v for k, v in net.state_dict().items()})
        return out

    def save(self, path) -> None:
        """Write the four networks and the configuration to one ``.npz``, atomically."""
        meta = {"format": _FORMAT, "version": _FORMAT_VERSION, "size": self.size,
                "attributes": list(ATTRIBUTES), "values": [list(v) for v in VALUES],
                "widths": [net.width for net in self.nets],
                "feature_dims": [net.feature_dim for net in self.nets], "info": self.info}
        with atomic_file(os.fspath(path), prefix=".judge-", suffix=".npz") as f:
            np.savez(f, __meta__=np.asarray(json.dumps(meta)), **self.state_dict())

    def __repr__(self):
        acc = self.info.get("accuracy", {}).get("all")
        return (f"Judge(size={self.size}, widths={tuple(n.width for n in self.nets)}, "
                f"feature_dim={self.feature_dim}"
                + (f", accuracy_all={acc:.4f}" if acc is not None else "") + ")")


def load_judge(path) -> Judge:
    """A :class:`Judge` saved with :meth:`Judge.save`. Strict: a file that is not a judge, was
    made for other attributes, or whose arrays do not fit (missing, extra, wrong shapes, not
    finite) is a ValueError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if "__meta__" not in f.files:
                raise ValueError("not a minigan judge (no __meta__ entry)")
            meta = json.loads(str(f["__meta__"]))
            state = {k: f[k] for k in f.files if k != "__meta__"}
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: cannot be read as a judge file: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{path}: not a minigan judge (format {found!r}, expected {_FORMAT!r})")
    if meta.get("version") != _FORMAT_VERSION:
        raise ValueError(f"{path}: judge format version {meta.get('version')!r}, this minigan "
                         f"reads version {_FORMAT_VERSION}")
    if (meta.get("attributes") != list(ATTRIBUTES)
            or meta.get("values") != [list(v) for v in VALUES]):
        raise ValueError(f"{path}: the judge reads attributes {meta.get('attributes')} with "
                         f"values {meta.get('values')}, not those of minigan.data.captions")
    try:
        judge = Judge(meta["size"], meta["widths"], meta["feature_dims"])
        extra = sorted(set(state) - set(judge.state_dict()))
        if extra:
            raise ValueError(f"unexpected entries {extra}")
        commits = []
        for name, net in zip(ATTRIBUTES, judge.nets):
            commits.append(net.body.prepare_load_state_dict(state, prefix=f"{name}.body."))
            commits.append(net.head.prepare_load_state_dict(state, prefix=f"{name}.head."))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: the arrays do not fit the judge it describes: {exc}") from exc
    for commit in commits:
        commit()
    judge.info = meta.get("info", {})
    return judge


def _training_set(seed: int, n: int, size: int):
    """n renders whose attribute rows cycle through all 128 combinations (shuffled)."""
    combos = all_combinations()
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(JUDGE_KEY, 0)))
    attrs = combos[rng.permutation(np.arange(n) % len(combos))]
    images = render(attrs, np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(JUDGE_KEY, 1))), size)
    return images, attrs


def train_judge(seed: int = 0, n: int = JUDGE_IMAGES, steps: int = JUDGE_STEPS,
                size: int = 16, *, batch_size: int = 64, lr: float = 2e-3,
                widths=JUDGE_WIDTHS, feature_dims=JUDGE_FEATURES, check: int = 1024,
                verbose: bool = False) -> Judge:
    """Train a :class:`Judge` on ``n`` real renders, never on generated pictures.

    The training rows cycle through all 128 attribute combinations, held-out pairs included (a
    judge must read what a generator is tested on); renders and rows come from the judge's own
    stream of ``SeedSequence(seed)`` (:data:`JUDGE_KEY`). The four networks step together on
    the same shuffled minibatches (a :class:`~minigan.data.loader.DataLoader` of ``seed``),
    Adam with learning rate ``lr`` halved for the last quarter of the steps.

    Args:
        seed: non-negative int; the same seed gives the same judge (on the same backend).
        n: training renders (default :data:`JUDGE_IMAGES`); steps: Adam steps (default
            :data:`JUDGE_STEPS`); size: picture side (default 16).
        widths, feature_dims: per attribute, as :class:`~minigan.evaluation.features.Classifier`.
        check: after training, read ``check`` fresh renders (rows cycling through all 128
            combinations, a stream apart from the training one) and store the accuracy in
            ``info["accuracy"]``; 0 skips it.
        verbose: print the losses every 100 steps.

    Returns: the judge, with ``info`` = {"seed", "images", "steps", "batch_size", "lr",
    "seconds", "loss" (the mean loss of each network over the last 100 steps), "accuracy"}.
    """
    from ..data.loader import _check_seed
    seed = _check_seed("train_judge", seed)
    for what, v, low in (("n", n, 1), ("steps", steps, 1), ("check", check, 0)):
        if isinstance(v, bool) or int(v) != v or v < low:
            raise ValueError(f"train_judge: {what} must be an integer >= {low}, got {v!r}")
    t0 = time.perf_counter()
    images, attrs = _training_set(seed, int(n), size)
    judge = Judge(size, widths, feature_dims, seed)
    opts = [Adam([net.body, net.head], lr=lr) for net in judge.nets]
    loader = DataLoader(images, attrs, batch_size=min(batch_size, int(n)), seed=seed)
    recent = [[] for _ in judge.nets]
    # small matrices: one BLAS thread is fastest, and on a busy machine spinning BLAS threads
    # made these steps up to 10x slower (see minigan.backend.blas_threads)
    with backend.blas_threads(1):
        for step in range(int(steps)):
            if step == (3 * int(steps)) // 4:
                for opt in opts:
                    opt.lr = lr / 2
            x, y = loader.next()
            for k, (net, opt) in enumerate(zip(judge.nets, opts)):
                opt.zero_grad()
                logits, cache = net.forward(x)
                loss, dlogits = softmax_cross_entropy(logits, y[:, k])
                net.backward(dlogits, cache)
                opt.step()
                recent[k] = (recent[k] + [float(loss)])[-100:]
            if verbose and (step + 1) % 100 == 0:
                print(f"step {step + 1}/{steps}: "
                      + ", ".join(f"{a} {np.mean(r):.4f}" for a, r in zip(ATTRIBUTES, recent)),
                      flush=True)
    judge.info = {"seed": seed, "images": int(n), "steps": int(steps),
                  "batch_size": loader.batch_size, "lr": lr,
                  "seconds": round(time.perf_counter() - t0, 2),
                  "loss": {a: float(np.mean(r)) for a, r in zip(ATTRIBUTES, recent)}}
    if check:
        combos = all_combinations()
        rows = combos[np.arange(int(check)) % len(combos)]
        fresh = render(rows, np.random.default_rng(
            np.random.SeedSequence(seed, spawn_key=(JUDGE_KEY, 3))), size)
        judge.info["accuracy"] = judge.accuracy(fresh, rows)
    return judge
