"""Minibatches: a shuffling loader for arrays, a sampler for toy mixtures, and the name registry.

Both :class:`DataLoader` and :class:`ToySampler` present one interface, an infinite stream of
batches numbered 0, 1, 2, ... that training steps consume::

    batch = stream.next()          # batch number stream.step, then step += 1
    batch = stream.batch_at(k)     # batch number k, without moving the stream
    state = stream.state_dict()    # a dict of NumPy scalars: save it with a checkpoint
    stream.load_state_dict(state)  # resume: the next batch is the one an unbroken run sees

Exact resumption without saving a random generator's state: every random draw is a pure
function of ``(seed, k)``. The loader shuffles epoch ``e`` with a permutation drawn from child
``e`` of ``numpy.random.SeedSequence(seed)``; the toy sampler draws batch ``k`` from child
``k``. So the whole state of a stream is one integer, ``step``, and ``batch_at(k)`` can be
computed in any order. (Children of a SeedSequence are independent streams, and differ from the
stream ``default_rng(seed)`` that a model's initialisation may use.)

Randomness is drawn on the host with NumPy, whatever the backend, so a seed gives the same
batches on CPU and GPU; batches are then put on the backend in use (``minigan.backend``).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .digits import ImageDataset, load_digits
from .mnist import load_fashion_mnist, load_mnist
from .toy import GaussianMixture, grid25, ring8

__all__ = ["DataLoader", "ToySampler", "make_loader", "DATASETS", "load_dataset"]


def _child_rng(seed: int, key: int) -> np.random.Generator:
    """The NumPy Generator of child ``key`` of ``SeedSequence(seed)`` (= ``SeedSequence(seed).spawn``'s
    ``key``-th child, built directly)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(key),)))


def _check_seed(owner: str, seed) -> int:
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"{owner}: seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_step(owner: str, step) -> int:
    if isinstance(step, bool) or int(step) != step or step < 0:
        raise ValueError(f"{owner}: step must be a non-negative integer, got {step!r}")
    return int(step)


def _to_backend(a):
    """``a`` on the backend in use: moved to the GPU under cupy; left where it is under numpy."""
    if backend.name == "numpy":
        return a
    return backend.asarray(a)


class _Stream:
    """Shared part of the stream interface: ``step``, ``next``, state dicts."""

    step: int
    seed: int

    def batch_at(self, step: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def next(self):
        """Batch number ``self.step``; then advance the stream by one."""
        batch = self.batch_at(self.step)
        self.step += 1
        return batch

    __next__ = next

    def _state_extra(self) -> dict:  # what must match for a state to make sense here
        return {}

    def state_dict(self) -> dict:
        """``{"step", "seed", ...}`` as NumPy int64 scalars (storable in an ``.npz``)."""
        out = {"step": self.step, "seed": self.seed, **self._state_extra()}
        return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}

    def load_state_dict(self, state: dict) -> None:
        """Resume from :meth:`state_dict`: the next batch is batch ``state["step"]``.

        The seed is restored from the state; ``batch_size`` (and, for a DataLoader, the dataset
        size) must match this stream, or the batches would differ: ValueError.
        """
        name = type(self).__name__
        missing = {"step", "seed", *self._state_extra()} - set(state)
        if missing:
            raise ValueError(f"{name}.load_state_dict: state lacks keys {sorted(missing)}")
        for key, mine in self._state_extra().items():
            if int(state[key]) != mine:
                raise ValueError(f"{name}.load_state_dict: state has {key}={int(state[key])} but "
                                 f"this {name} has {key}={mine}; a resumed run needs the same")
        self.seed = _check_seed(name, int(state["seed"]))
        self.step = _check_step(name, int(state["step"]))


class DataLoader(_Stream):
    """Shuffled minibatches of one or more arrays that share their first axis.

    Args:
        *arrays: arrays of shapes (N, ...), e.g. images (N, C, H, W) and labels (N,).
        batch_size: B, rows per batch.
        shuffle: reshuffle every epoch (epoch e uses a permutation drawn from ``(seed, e)``);
            False keeps the order 0..N-1.
        seed: non-negative int.
        drop_last: drop the last N mod B rows of each epoch so that every batch has B rows
            (the usual choice for GAN training, where batch statistics matter).

    Yields: batches of shape (B, ...): the array itself when one array was given, else a tuple
    in the order of ``arrays``. Batches are copies (fancy indexing), on the backend in use.

    ``len(loader)`` is the number of batches per epoch. ``for batch in loader`` runs through the
    rest of the current epoch (a whole epoch from a fresh or epoch-aligned loader), so that
    ``for epoch in range(E): for x in loader: ...`` sees E differently shuffled epochs.
    Step-based training uses ``loader.next()`` (an infinite stream) and the resumable
    interface described in :mod:`minigan.data.loader`.
    """

    def __init__(self, *arrays, batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = True):
        if not arrays:
            raise ValueError("DataLoader: expected at least one array, got none")
        n = arrays[0].shape[0] if getattr(arrays[0], "ndim", 0) >= 1 else None
        for i, a in enumerate(arrays):
            if getattr(a, "ndim", 0) < 1 or a.shape[0] != n:
                shapes = [tuple(getattr(x, "shape", ())) for x in arrays]
                raise ValueError(f"DataLoader: every array must have the same first dimension N "
                                 f"(at least 1-D); got shapes {shapes}")
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        batch_size = int(batch_size)
        if n == 0:
            raise ValueError("DataLoader: the arrays are empty (N = 0)")
        if drop_last and batch_size > n:
            raise ValueError(f"DataLoader: batch_size {batch_size} is larger than the dataset ({n} "
                             "rows) with drop_last=True: an epoch would have no batch")
        self.arrays = arrays
        self.num_examples = int(n)
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.seed = _check_seed("DataLoader", seed)
        self.drop_last = bool(drop_last)
        self.step = 0
        self._perm_cache = (None, None, None)   # (seed, epoch, permutation)

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_examples // self.batch_size
        return -(-self.num_examples // self.batch_size)

    @property
    def epoch(self) -> int:
        """The epoch of the next batch: ``step // len(self)``."""
        return self.step // len(self)

    @property
    def position(self) -> int:
        """Index of the next batch within its epoch: ``step % len(self)``."""
        return self.step % len(self)

    def permutation(self, epoch: int) -> np.ndarray:
        """The order of the rows in epoch ``epoch``: int64 NumPy array (N,)."""
        epoch = _check_step("DataLoader", epoch)
        if not self.shuffle:
            return np.arange(self.num_examples)
        seed, cached_epoch, perm = self._perm_cache
        if seed != self.seed or cached_epoch != epoch:
            perm = _child_rng(self.seed, epoch).permutation(self.num_examples)
            self._perm_cache = (self.seed, epoch, perm)
        return perm

    def indices_at(self, step: int) -> np.ndarray:
        """Row indices of batch number ``step``: int64 NumPy array (B,) (shorter for the last
        batch of an epoch when ``drop_last=False``)."""
        step = _check_step("DataLoader", step)
        epoch, pos = divmod(step, len(self))
        start = pos * self.batch_size
        return self.permutation(epoch)[start:start + self.batch_size]

    def batch_at(self, step: int):
        """Batch number ``step`` of the infinite stream (epoch ``step // len(self)``); pure."""
        idx = self.indices_at(step)
        out = tuple(_to_backend(a[backend.get_array_module(a).asarray(idx)]) for a in self.arrays)
        return out[0] if len(out) == 1 else out

    def __iter__(self):
        end = (self.epoch + 1) * len(self)
        while self.step < end:
            yield self.next()

    def _state_extra(self) -> dict:
        return {"batch_size": self.batch_size, "num_examples": self.num_examples}

    def __repr__(self):
        return (f"DataLoader(num_examples={self.num_examples}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last}, "
                f"step={self.step})")


class ToySampler(_Stream):
    """An infinite stream of fresh batches from a toy mixture (there are no epochs).

    Args:
        mixture: a :class:`~minigan.data.toy.GaussianMixture` (anything with
            ``sample(n, rng) -> (n, 2)``).
        batch_size: B.
        seed: non-negative int; batch k is drawn from child k of ``SeedSequence(seed)``.

    Batches: float32 (B, 2) on the backend in use. ``for x in sampler`` never ends: use
    ``next()`` in a step loop.
    """

    def __init__(self, mixture, batch_size: int, seed: int = 0):
        if not hasattr(mixture, "sample"):
            raise ValueError(f"ToySampler: expected a GaussianMixture (with .sample(n, rng)), "
                             f"got {type(mixture).__name__}")
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"ToySampler: batch_size must be a positive integer, got {batch_size!r}")
        self.mixture = mixture
        self.batch_size = int(batch_size)
        self.seed = _check_seed("ToySampler", seed)
        self.step = 0

    def batch_at(self, step: int):
        """Batch number ``step``: float32 (B, 2); a pure function of ``(seed, step)``."""
        step = _check_step("ToySampler", step)
        return self.mixture.sample(self.batch_size, rng=_child_rng(self.seed, step))

    def __iter__(self):
        return self

    def _state_extra(self) -> dict:
        return {"batch_size": self.batch_size}

    def __repr__(self):
        return (f"ToySampler({self.mixture!r}, batch_size={self.batch_size}, seed={self.seed}, "
                f"step={self.step})")


def make_loader(dataset, batch_size: int, seed: int = 0, *, with_labels: bool = False,
                flat: bool = False, shuffle: bool = True, drop_last: bool = True):
    """The batch stream of a dataset returned by :func:`load_dataset`.

    Args:
        dataset: a GaussianMixture (-> :class:`ToySampler`, batches (B, 2)) or an ImageDataset
            (-> :class:`DataLoader`, batches (B, C, H, W), or (B, C*H*W) with ``flat=True``;
            with ``with_labels=True`` each batch is ``(images, labels)``, labels int64 (B,)).
        batch_size, seed: as in the stream classes; ``shuffle`` and ``drop_last`` apply to
            image datasets only.
    """
    if isinstance(dataset, GaussianMixture):
        if with_labels or flat:
            raise ValueError("make_loader: with_labels and flat apply to image datasets, "
                             f"not to the toy mixture {dataset.name!r}")
        return ToySampler(dataset, batch_size, seed)
    if isinstance(dataset, ImageDataset):
        images = dataset.flat if flat else dataset.images
        arrays = (images, dataset.labels) if with_labels else (images,)
        return DataLoader(*arrays, batch_size=batch_size, shuffle=shuffle, seed=seed,
                          drop_last=drop_last)
    raise ValueError(f"make_loader: expected a GaussianMixture or an ImageDataset, "
                     f"got {type(dataset).__name__}")


DATASETS = {"ring8": ring8, "grid25": grid25, "digits": load_digits,
            "mnist": load_mnist, "fashion-mnist": load_fashion_mnist}


def load_dataset(name: str, **kwargs):
    """The dataset called ``name`` (a key of ``DATASETS``; the CLI's names), built with ``kwargs``.

    ``"ring8"``, ``"grid25"`` -> :class:`~minigan.data.toy.GaussianMixture`;
    ``"digits"`` -> :class:`~minigan.data.digits.ImageDataset` (kwargs: split, test_fraction, seed);
    ``"mnist"``, ``"fashion-mnist"`` -> ImageDataset (N, 1, 28, 28), downloaded and cached on first
    use (kwargs: split, root, download; see :mod:`minigan.data.mnist`).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: expected one of {sorted(DATASETS)}")
    return DATASETS[name](**kwargs)
