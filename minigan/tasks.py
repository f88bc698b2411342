"""What the CLI trains on: for each embedded dataset, its batches, its measurement, its picture.

A task ties a dataset to the three things the training loop needs from it:
``batch(step)`` (a pure function of the step, for exact resume), ``evaluate(model) -> dict``
(the numbers written to metrics.json) and ``save_samples(model, path)`` (samples.png).
"""
from __future__ import annotations

from .data import load_dataset, make_loader
from .data.toy import GaussianMixture
from .metrics import conditional_accuracy, digits_metrics, image_quality, mode_metrics

N_EVAL_TOY = 2500        # samples scored on the toy mixtures, as in the VEEGAN/PacGAN tables


class ToyTask:
    def __init__(self, name, batch_size, seed):
        self.name = name
        self.mixture = load_dataset(name)
        self.loader = make_loader(self.mixture, batch_size, seed)
        self.seed = seed

    def batch(self, step):
        return self.loader.batch_at(step)

    def evaluate(self, model):
        m = mode_metrics(model.sample(N_EVAL_TOY, seed=self.seed + 12345), self.mixture)
        return {k: m[k] for k in ("modes_covered", "n_modes", "high_quality", "reverse_kl", "n_samples")}

    def save_samples(self, model, path, n=N_EVAL_TOY, seed=None):
        save_samples_for(model, self.name, path, n=n, seed=self.seed + 12345 if seed is None else seed)


class DigitsTask:
    """The GAN trains on the training split; the test split gives the real-data floor."""

    def __init__(self, name, batch_size, seed, conditional=False):
        self.name = name
        self.train = load_dataset(name, split="train")
        self.conditional = conditional          # batches are (images, labels) for a cGAN
        self.loader = make_loader(self.train, batch_size, seed, with_labels=conditional)
        self.seed = seed

    def batch(self, step):
        return self.loader.batch_at(step)

    def evaluate(self, model):
        """Two independent judges: scikit-learn's classifier (confidence, class balance) and
        a Fréchet distance on the features of a CNN that minigan trains on the digits, each
        beside the value real held-out digits reach. As many samples as training images,
        so that the FID floor (real train vs real test) is comparable."""
        from .features import digits_feature_net
        samples = model.sample(len(self.train), seed=self.seed + 12345)
        out = digits_metrics(samples)
        test = load_dataset(self.name, split="test")
        q = image_quality(samples, self.train.images, test.images, digits_feature_net())
        out.update({k: q[k] for k in ("fid", "fid_floor", "precision", "recall",
                                      "floor_precision", "floor_recall")})
        if self.conditional:       # does a requested 7 come out as a 7? (the same judge)
            acc = conditional_accuracy(model, n_per_class=100, seed=self.seed + 12345)
            out.update(conditional_accuracy=acc["accuracy"], real_accuracy=acc["real_accuracy"])
        return out

    def save_samples(self, model, path, n=None, seed=None):
        n = n or (100 if self.conditional else 64)      # a cGAN's grid: one row per class
        save_samples_for(model, self.name, path, n=n, seed=self.seed + 12345 if seed is None else seed)


TASKS = {"ring8": ToyTask, "grid25": ToyTask, "digits": DigitsTask}


def make_task(name, batch_size, seed, conditional=False):
    """The task of dataset ``name``; ``conditional``: batches carry labels (for a cGAN)."""
    if name not in TASKS:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(TASKS)}")
    if conditional:
        if TASKS[name] is not DigitsTask:
            raise ValueError(f"dataset {name!r} has no labels to condition on; use digits")
        return DigitsTask(name, batch_size, seed, conditional=True)
    return TASKS[name](name, batch_size, seed)


def save_samples_for(model, data_name, path, n=64, seed=0):
    """Save a picture of ``n`` samples: a scatter against the data for 2-D models, a grid for images."""
    from .viz import plot_samples_2d, save_image_grid
    x = model.sample(n, seed=seed)
    if x.ndim == 2 and x.shape[1] == 2:
        data = load_dataset(data_name) if data_name in ("ring8", "grid25") else None
        fig = plot_samples_2d(x, data if isinstance(data, GaussianMixture) else None,
                              title=f"{n} samples of {model.name} after {model.step} steps")
        fig.savefig(path, dpi=100)
    elif x.ndim == 4:
        save_image_grid(x, path)
    else:
        raise ValueError(f"cannot draw samples of shape {x.shape[1:]}: expected (2,) points or (C, H, W) images")
