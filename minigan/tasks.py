"""What the CLI trains on: for each embedded dataset, its batches, its measurement, its picture.

A task ties a dataset to the three things the training loop needs from it:
``batch(step)`` (a pure function of the step, for exact resume), ``evaluate(model) -> dict``
(the numbers written to metrics.json) and ``save_samples(model, path)`` (samples.png).
"""
from __future__ import annotations

import functools

import numpy as np

from .backend import to_numpy
from .data import DataLoader, load_dataset, make_loader
from .data.toy import GaussianMixture
from .evaluation.metrics import conditional_accuracy, digits_metrics, image_quality, mode_metrics

N_EVAL_TOY = 2500        # samples scored on the toy mixtures, as in the VEEGAN/PacGAN tables
N_EVAL_SEQ = 2000        # token sequences scored on the oracle and the grammar
N_EVAL_SINES = 1000      # sine waves scored, as benchmarks/quality_rcgan.py


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
        from .evaluation.features import digits_feature_net
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


# --- MNIST and Fashion-MNIST: downloaded once into the cache folder ----------------------------
N_EVAL_MNIST = 5000      # samples scored on MNIST, against as many real training images


class DataUnavailable(ValueError):
    """A downloaded dataset (MNIST, Fashion-MNIST) is neither in the cache nor obtainable: one
    paragraph naming the cache folder, the download that failed and how to get the files (the
    CLI prints it as its error, without a traceback)."""


def _mnist_unavailable(name, exc):
    """The one-paragraph error for ``exc`` (DownloadError, CacheDirError, ChecksumError,
    FileNotFoundError of :func:`minigan.data.mnist.ensure_files`) while getting ``name``."""
    from .data.mnist import SOURCES, CacheDirError, cache_dir
    source = SOURCES[name]
    folder = cache_dir() / source.name
    if isinstance(exc, CacheDirError):
        return DataUnavailable(f"cannot use the {name} cache: {exc}")
    missing = sorted(fn for files in source.files.values() for fn in files
                     if not (folder / fn).is_file())
    lines = [line.strip() for line in str(exc).splitlines()]
    failed = next((line for line in lines if line.startswith(("http://", "https://", "file:"))),
                  None)
    why = (f"downloading {failed.replace(': ', ' failed: ', 1)}" if failed
           else " ".join(line for line in lines if line))
    return DataUnavailable(
        f"dataset {name} is not in the cache folder {folder} (missing: "
        f"{', '.join(missing) or 'none; a file is corrupt'}) and could not be downloaded "
        f"(offline?): {why}. When online, run the same command again: the files are "
        f"downloaded once (about 12 MB) and checked against their MD5s. Or download "
        f"{', '.join(missing) or 'the files'} by hand from {source.mirrors[0]} into {folder}, "
        f"or point $MINIGAN_DATA at a folder holding {source.name}/ with them. Datasets that "
        f"need no download: {', '.join(d for d in TASKS if d not in DOWNLOADED_SAMPLE_VALUES)}.")


def load_downloaded(name, split):
    """Split ``split`` of MNIST or Fashion-MNIST from the cache (:func:`minigan.data.mnist.cache_dir`:
    $MINIGAN_DATA, else ~/.cache/minigan), downloaded there first if missing; a
    :class:`DataUnavailable` when it cannot be."""
    from .data.mnist import CacheDirError, ChecksumError, DownloadError, load_mnist
    try:
        return load_mnist(split, fashion=name == "fashion-mnist")
    except (DownloadError, CacheDirError, ChecksumError, FileNotFoundError) as exc:
        raise _mnist_unavailable(name, exc) from None


class MnistTask:
    """MNIST or Fashion-MNIST (28×28): batches of the 60,000 training images (with their
    labels for a conditional model); both splits are fetched when the task is made, so a
    missing download is an error before training, not after. Measured: FID, precision and
    recall of :data:`N_EVAL_MNIST` samples against the test split in the features of
    :func:`minigan.evaluation.features.mnist_feature_net` (trained once on the training
    images and cached beside them), beside the floor of as many real training images."""

    def __init__(self, name, batch_size, seed, conditional=False):
        self.name, self.seed, self.conditional = name, seed, conditional
        self.train = load_downloaded(name, "train")
        self.test = load_downloaded(name, "test")
        self.loader = make_loader(self.train, batch_size, seed, with_labels=conditional)

    def batch(self, step):
        return self.loader.batch_at(step)

    def evaluate(self, model):
        from .evaluation.features import mnist_feature_net
        net = mnist_feature_net(fashion=self.name == "fashion-mnist")
        n = min(N_EVAL_MNIST, len(self.train))
        samples = draw_samples(model, n, self.seed + 12345)
        q = image_quality(samples, self.train.images[:n], self.test.images, net)
        out = {k: q[k] for k in ("fid", "fid_floor", "precision", "recall", "floor_precision",
                                 "floor_recall")}
        out["fid_ratio"] = q["fid"] / q["fid_floor"]
        out["n_samples"] = n
        out["feature_net_accuracy"] = net.info.get("test_accuracy")
        return out

    def save_samples(self, model, path, n=None, seed=None):
        n = n or (100 if self.conditional else 64)
        save_samples_for(model, self.name, path, n=n, seed=self.seed + 12345 if seed is None else seed)


# --- sequences ------------------------------------------------------------------------------
# The data of the sequence tasks are fixed sets (as the benchmarks'): built once per process
# (the oracle's 10,000 training sequences take a second or two to sample) and shared.

@functools.lru_cache(maxsize=None)
def _oracle_data():
    """SeqGAN's synthetic benchmark, as benchmarks/quality_seq.py builds it: the oracle
    (V = 500, T = 20), its FIXED training set of 10,000 sequences and 2,000 held-out ones."""
    from .data.sequences import OracleLSTM
    oracle = OracleLSTM(vocab_size=500, seq_len=20, seed=0)
    return oracle, oracle.sample(10000, seed=1), oracle.sample(2000, seed=2)


@functools.lru_cache(maxsize=None)
def _oracle_entropy():
    """The oracle's entropy rate, as the benchmark measures it: NLL_oracle of the test set."""
    oracle, _, test = _oracle_data()
    return float(oracle.nll(test))


@functools.lru_cache(maxsize=None)
def _grammar_data():
    from .data.sequences import ExpressionDataset
    return ExpressionDataset(5000, seq_len=16, max_depth=3, seed=0)


@functools.lru_cache(maxsize=None)
def _sine_data():
    """The training sines (5,000, seed 0), held-out ones (seed 1) and the fit of the first
    1,000 training sequences, as benchmarks/quality_rcgan.py."""
    from .data.sines import SineDataset, fit_sines
    train = SineDataset(5000, seed=0)
    return train, SineDataset(N_EVAL_SINES, seed=1), fit_sines(train.sequences[:N_EVAL_SINES])


class OracleTask:
    """SeqGAN's oracle: batches of the fixed training set, ``DataLoader(train, batch_size,
    seed)`` as benchmarks/quality_seq.py. Measured: NLL_oracle of G's samples (lower: the
    oracle finds them likelier; the oracle's entropy rate, the NLL_oracle of its own samples,
    is the floor a generator as diverse as the oracle reaches), NLL_test (G's NLL of 2,000
    held-out oracle sequences: lower covers the data better) and G's sample entropy (the NLL of
    its own samples under G: NLL_oracle rewards concentration, so compare at equal entropy)."""

    def __init__(self, name, batch_size, seed):
        self.name, self.seed = name, seed
        self.oracle, self.train, self.test = _oracle_data()
        self.loader = DataLoader(self.train, batch_size=batch_size, seed=seed)

    def batch(self, step):
        return self.loader.batch_at(step)

    @property
    def entropy_rate(self):
        return _oracle_entropy()

    def evaluate(self, model):
        samples = model.sample(N_EVAL_SEQ, seed=self.seed + 12345)
        return {"nll_oracle": float(self.oracle.nll(samples)),
                "oracle_entropy": self.entropy_rate,
                "nll_test": float(model.nll(self.test)),
                "sample_entropy": float(model.nll(samples)),
                "n_samples": N_EVAL_SEQ}

    def save_samples(self, model, path, n=None, seed=None):
        save_samples_for(model, self.name, path, n=n or 24,
                         seed=self.seed + 12345 if seed is None else seed)


class GrammarTask:
    """5,000 arithmetic expressions (T = 16) as benchmarks/quality_seq.py's grammar part;
    measured by :func:`minigan.evaluation.sequences.sequence_report` of 2,000 samples: validity,
    distinct-2/3, unique sentences, novelty with respect to the training set."""

    def __init__(self, name, batch_size, seed):
        self.name, self.seed = name, seed
        self.data = _grammar_data()
        self.loader = DataLoader(self.data.tokens, batch_size=batch_size, seed=seed)

    def batch(self, step):
        return self.loader.batch_at(step)

    def evaluate(self, model):
        from .evaluation.sequences import sequence_report
        out = sequence_report(model.sample(N_EVAL_SEQ, seed=self.seed + 12345),
                              reference=self.data.tokens)
        out["n_samples"] = N_EVAL_SEQ
        return out

    def save_samples(self, model, path, n=None, seed=None):
        save_samples_for(model, self.name, path, n=n or 24,
                         seed=self.seed + 12345 if seed is None else seed)


class SinesTask:
    """Sine waves of random frequency, amplitude and phase (:mod:`minigan.data.sines`), as
    benchmarks/quality_rcgan.py: 5,000 training sequences; ``conditional``: batches are
    (sequences, frequencies) pairs for RCGAN. Measured by :func:`~minigan.data.sines.sine_report`
    of 1,000 samples against the fits of 1,000 training sequences (a conditional G is asked
    for the frequencies of 1,000 held-out sequences), beside ``floor_*``: the same numbers for
    those held-out real sequences (what sampling noise alone gives)."""

    def __init__(self, name, batch_size, seed, conditional=False):
        self.name, self.seed, self.conditional = name, seed, conditional
        self.train, self.held_out, self.real_fit = _sine_data()
        self.loader = self.train.loader(batch_size, seed=seed, with_freq=conditional)
        self._floor = None

    def batch(self, step):
        return self.loader.batch_at(step)

    def evaluate(self, model):
        from .data.sines import sine_report
        if self._floor is None:
            self._floor = sine_report(self.held_out.sequences, None, freq_asked=self.held_out.freq,
                                      real_fit=self.real_fit)
        if getattr(model, "conditional", False):
            asked = self.held_out.freq
            x = model.sample(N_EVAL_SINES, seed=self.seed + 12345, cond=asked)
            out = sine_report(x, None, freq_asked=asked, real_fit=self.real_fit)
        else:
            out = sine_report(model.sample(N_EVAL_SINES, seed=self.seed + 12345), None,
                              real_fit=self.real_fit)
        out.update({f"floor_{k}": self._floor[k] for k in out})
        out["n_samples"] = N_EVAL_SINES
        return out

    def save_samples(self, model, path, n=None, seed=None):
        save_samples_for(model, self.name, path, n=n or 25,
                         seed=self.seed + 12345 if seed is None else seed)


class ScenesTask:
    """The street scenes (:mod:`minigan.data.scenes`), labels -> photo at 32×32: batches of
    (label maps as one-hot channels, photos) from the 2,000 training pairs; measured on the 200
    test pairs by the per-pixel L1 and PSNR of the translations to the true photos, beside
    the same for the conditional median (what a perfect L1 regressor outputs: flat, textureless
    colours) and, when the segmenter is available, the FCN-score and the rest of
    :func:`minigan.evaluation.translation.translation_report`. Image-to-image translation
    always reads its input: ``conditional`` is required and ignored."""

    def __init__(self, name, batch_size, seed, conditional=True):
        from .data.scenes import load_scenes
        self.name, self.seed = name, seed
        self.train = load_scenes("train")
        self.test = translation_test_set(name)
        self.loader = self.train.loader(batch_size, seed=seed)

    def batch(self, step):
        return self.loader.batch_at(step)

    def evaluate(self, model):
        from .data.scenes import conditional_median
        from .evaluation.translation import translation_report
        out = model.translate(self.test.inputs, seed=self.seed + 12345)
        targets = to_numpy(self.test.targets)       # the test set is on the backend in use
        labels = to_numpy(self.test.labels)
        report = translation_report(out, targets, labels)
        control = translation_report(conditional_median(labels), targets, labels)
        report.update({f"median_{k}": v for k, v in control.items()})
        return report

    def save_samples(self, model, path, n=8, seed=None):
        save_translations(model, path, self.test.inputs[:n], self.test.targets[:n],
                          seed=self.seed + 12345 if seed is None else seed)


class CaptionsTask:
    """The captioned shapes (:mod:`minigan.data.captions`) for text-to-image: batches (images,
    tokens, lengths, attrs) of the 4,096 training pictures (seen colour–shape pairs only), one
    random caption each; measured at the end by :func:`minigan.evaluation.text2image.
    evaluate_text2image` (the judge: trained once per machine on real renders and cached,
    :func:`~minigan.evaluation.text2image.shapes_judge`), and
    the encoders' retrieval accuracy. Text-to-image always reads its captions: ``conditional``
    is required and ignored."""

    def __init__(self, name, batch_size, seed, conditional=True):
        from .data.captions import load_captioned_shapes
        self.name, self.seed = name, seed
        self.train = load_captioned_shapes("train")
        self.stream = self.train.batches(batch_size, seed=seed)

    def batch(self, step):
        return self.stream.batch_at(step)

    def evaluate(self, model):
        from .data.captions import load_captioned_shapes
        from .gans.text2image import retrieval_accuracy
        test = load_captioned_shapes("test")
        images, tokens, _, attrs = test.batches(len(test), seed=self.seed + 1).batch_at(0)
        t2i, i2t = retrieval_accuracy(model.text_encoder, model.image_encoder, images, tokens,
                                      attrs)
        out = {"retrieval_caption_to_image": t2i, "retrieval_image_to_caption": i2t}
        if model.phase == "gan" and model.step > model.encoder_steps:
            from .evaluation.text2image import evaluate_text2image, shapes_judge
            out.update(evaluate_text2image(model, shapes_judge(), seed=self.seed))
        return out

    def save_samples(self, model, path, n=64, seed=None):
        if model.step <= model.encoder_steps:      # no GAN step yet: nothing to draw
            return
        texts = default_captions()
        save_caption_grid(model, path, texts, max(1, n // len(texts)),
                          self.seed + 1 if seed is None else seed)


CAPTION_GRID_COLUMNS = 16     # pictures of one caption on a line of `minigan sample --text`'s .png
MAX_CAPTION_ROWS = 64         # captions in one such picture (more: write .npy)


def default_captions():
    """Eight captions of the test split's first pictures (seen pairs), and nothing held out:
    what `minigan sample` draws without --text."""
    from .data.captions import load_captioned_shapes
    return [c[0] for c in load_captioned_shapes("test", n=8).captions]


def read_caption_file(path):
    """The captions of a text file, one a line (blank lines skipped), or a clear error."""
    try:
        with open(path, encoding="utf-8") as f:
            texts = [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--text-file {path}: cannot read it as UTF-8 text "
                         f"({getattr(exc, 'strerror', None) or exc})") from None
    if not texts:
        raise ValueError(f"--text-file {path}: no captions in it (one caption a line)")
    return texts


def caption_images(model, texts, per_caption, seed):
    """per_caption pictures of each caption, caption after caption: NumPy (len(texts) ·
    per_caption, C, H, W), in chunks of :data:`SAMPLE_CHUNK` (an unknown word or a caption
    too long: a ValueError naming it, before anything is drawn)."""
    tokens = np.repeat(model.encode_text(texts), per_caption, axis=0)
    n = len(tokens)
    out = [model.sample(b - a, tokens=tokens[a:b], seed=chunk_seed(seed, i))
           for i, (a, b) in enumerate((a, min(a + SAMPLE_CHUNK, n))
                                      for a in range(0, n, SAMPLE_CHUNK))]
    return np.concatenate(out)


def save_caption_grid(model, path, texts, per_caption, seed):
    """A picture: for each caption, its text and its per_caption pictures below it, at most
    :data:`CAPTION_GRID_COLUMNS` to a line."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from .viz import image_grid
    x = caption_images(model, texts, per_caption, seed)
    rows, cols = len(texts), min(per_caption, CAPTION_GRID_COLUMNS)
    lines = -(-per_caption // cols)
    fig, axes = plt.subplots(rows, 1, figsize=(max(4.0, 0.6 * cols), (0.6 * lines + 0.2) * rows
                                               + 0.4), squeeze=False)
    for r, text in enumerate(texts):
        ax = axes[r, 0]
        ax.imshow(image_grid(x[r * per_caption:(r + 1) * per_caption], nrow=cols),
                  interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(text, fontsize=8, loc="left", pad=2)
    fig.suptitle(f"{model.name} after {model.step} steps: {per_caption} samples per caption",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)


def translation_test_set(name):
    """The test pairs of a translation dataset (what `minigan sample` translates without
    --input), without generating its training split."""
    from .data.scenes import load_scenes
    if name != "scenes":
        raise ValueError(f"dataset {name!r} has no translation test set (scenes has)")
    return load_scenes("test")


def save_translations(model, path, inputs, targets=None, seed=0):
    """The paper's figures: a PNG with a row per example, input | output | target (the
    target when known). Label maps given as one-hot channels are drawn in the scenes'
    palette."""
    from .viz import save_image_grid
    outputs = model.translate(inputs, seed=seed)
    columns = [picture_of(to_numpy(inputs)), outputs]     # (inputs: on the backend in use)
    if targets is not None:
        columns.append(picture_of(to_numpy(targets)))
    rows = np.stack(columns, axis=1).reshape((-1,) + outputs.shape[1:])
    save_image_grid(rows, path, nrow=len(columns))
    return len(outputs)


def read_translation_inputs(path, model):
    """The inputs of ``minigan sample RUN --input FILE`` for a translation model, as float32
    (N, in_channels, size, size) in [-1, 1]:

    - ``.npy``: images (C, H, W) or (N, C, H, W) already coded as the model takes them
      (floating point in [-1, 1]), or integer class-id maps (H, W) or (N, H, W), which are
      one-hot coded (the scenes' classes);
    - ``.png``: a label map drawn in the scenes' palette (:data:`minigan.data.scenes.PALETTE`),
      every pixel one of its colours.

    Anything else is a ValueError that says what was expected."""
    import os
    from .data.scenes import CLASSES, PALETTE, encode_labels
    c, size = model.in_channels, model.size
    want = f"(N, {c}, {size}, {size}) or ({c}, {size}, {size})"
    ext = os.path.splitext(path)[1].lower()
    if not os.path.isfile(path):
        raise ValueError(f"--input {path}: no such file (a .npy of inputs or a .png label map)")
    if ext == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except Exception as e:
            raise ValueError(f"--input {path}: not a readable .npy array ({type(e).__name__}: "
                             f"{e})") from None
        if a.dtype.kind in "iu":                                  # class ids
            if a.ndim == 2:
                a = a[None]
            if a.ndim != 3 or a.shape[1:] != (size, size):
                raise ValueError(f"--input {path}: class-id maps must have shape (N, {size}, "
                                 f"{size}) or ({size}, {size}), got {a.shape}")
            if a.size and (a.min() < 0 or a.max() >= len(CLASSES)):
                raise ValueError(f"--input {path}: class ids must be in [0, {len(CLASSES)}) "
                                 f"({', '.join(CLASSES)}), got values from {a.min()} to {a.max()}")
            a = encode_labels(a)
        elif a.dtype.kind == "f":
            if a.ndim == 3:
                a = a[None]
            if a.ndim != 4 or a.shape[1:] != (c, size, size):
                raise ValueError(f"--input {path}: expected inputs of shape {want}, got {a.shape}")
            if not np.isfinite(a).all() or a.size and (a.min() < -1 or a.max() > 1):
                raise ValueError(f"--input {path}: inputs must be finite values in [-1, 1]")
        else:
            raise ValueError(f"--input {path}: expected floating-point inputs {want} or integer "
                             f"class-id maps, got dtype {a.dtype}")
    elif ext == ".png":
        from matplotlib.image import imread
        try:
            img = imread(path)
        except Exception as e:
            raise ValueError(f"--input {path}: not a readable PNG ({type(e).__name__}: {e})") from None
        if img.ndim != 3 or img.shape[2] not in (3, 4) or img.shape[:2] != (size, size):
            raise ValueError(f"--input {path}: expected a {size}×{size} RGB label map, got an "
                             f"image of shape {img.shape}")
        rgb = np.rint(img[..., :3].astype(np.float64) * (255 if img.dtype.kind == "f" else 1))
        dist = np.abs(rgb[:, :, None, :] - PALETTE[None, None].astype(np.float64)).max(axis=-1)
        ids = dist.argmin(axis=-1)
        if (dist.min(axis=-1) > 2).any():
            raise ValueError(f"--input {path}: every pixel of a label map must be one of the "
                             f"scenes' palette colours ({', '.join(CLASSES)}: "
                             f"minigan.data.scenes.PALETTE); {int((dist.min(axis=-1) > 2).sum())} "
                             f"pixels are not")
        a = encode_labels(ids[None])
        if a.shape[1] != c:
            raise ValueError(f"--input {path}: a label map gives {a.shape[1]} channels but "
                             f"this model takes {c}")
    else:
        raise ValueError(f"--input {path}: expected a .npy array or a .png label map, not {ext!r}")
    if len(a) == 0:
        raise ValueError(f"--input {path}: holds no inputs")
    return np.ascontiguousarray(a, dtype=np.float32)


def picture_of(x):
    """Images (N, C, H, W) in [-1, 1] as RGB pictures (N, 3, H, W) in [-1, 1]: one-hot label
    maps (6 channels: the scenes' classes) in the scenes' palette, RGB as it is."""
    from .data.scenes import PALETTE, colorize, decode_labels
    if x.shape[1] == len(PALETTE):
        return colorize(decode_labels(x, "onehot"))                # (N, 3, H, W) in [-1, 1]
    return x


TASKS = {"ring8": ToyTask, "grid25": ToyTask, "digits": DigitsTask,
         "oracle": OracleTask, "grammar": GrammarTask, "sines": SinesTask, "scenes": ScenesTask,
         "mnist": MnistTask, "fashion-mnist": MnistTask, "shapes": CaptionsTask}
CONDITIONAL = {"digits": "labels", "sines": "frequencies", "scenes": "label maps",
               "mnist": "labels", "fashion-mnist": "labels", "shapes": "captions"}     # what a conditional model reads


def make_task(name, batch_size, seed, conditional=False):
    """The task of dataset ``name``; ``conditional``: batches carry the condition (labels for a
    cGAN on digits, frequencies for RCGAN on sines)."""
    if name not in TASKS:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(TASKS)}")
    if conditional:
        if name not in CONDITIONAL:
            raise ValueError(f"dataset {name!r} has nothing to condition on; conditional models "
                             f"train on: {', '.join(CONDITIONAL)}")
        return TASKS[name](name, batch_size, seed, conditional=True)
    return TASKS[name](name, batch_size, seed)


# --- sampling: in chunks, so that memory stays bounded whatever the number of samples ---------
SAMPLE_CHUNK = 1024           # samples drawn at a time (a DCGAN's 10**6 at once took 24 GB)
MAX_PICTURE_SAMPLES = 4096    # a picture of more is unreadable and slow: write .npy instead
MAX_TEXT_LINES = 1000         # token sequences are drawn one text line each (20 pixels a line)
MAX_SAMPLES_BYTES = 4 * 2**30  # the largest .npy of samples written at once (10**6 digits: 256 MB)
# The values in one sample of each dataset (a point, an 8x8 image, T tokens, T values): what a
# batch of B samples holds is B times this (minigan.cli.check_train_memory).
SAMPLE_VALUES = {"ring8": 2, "grid25": 2, "digits": 64, "oracle": 20, "grammar": 16, "sines": 30,
                 "scenes": 9 * 32 * 32,
                 "shapes": 3 * 16 * 16 + 12 + 1 + 4}    # a picture, its tokens, length, attributes
# The same for the datasets that are downloaded (kept apart: SAMPLE_VALUES's tasks are all
# built offline).
DOWNLOADED_SAMPLE_VALUES = {"mnist": 28 * 28, "fashion-mnist": 28 * 28}


def sample_values(data):
    """The values in one sample of dataset ``data`` (:data:`SAMPLE_VALUES`, or
    :data:`DOWNLOADED_SAMPLE_VALUES`)."""
    return {**SAMPLE_VALUES, **DOWNLOADED_SAMPLE_VALUES}[data]


def chunk_seed(seed, i):
    """The seed of chunk ``i`` of a sampling. Chunk 0 uses ``seed`` itself, so that up to
    :data:`SAMPLE_CHUNK` samples are exactly ``model.sample(n, seed=seed)``, as before
    sampling was chunked, and a larger n begins with the SAMPLE_CHUNK samples of that call;
    later chunks use seeds derived from (seed, i) by a SeedSequence, independent of those of
    other seeds."""
    if i == 0:
        return seed
    return int(np.random.SeedSequence([int(seed), int(i)]).generate_state(1)[0])


def iter_samples(model, n, seed, condition=None):
    """Yield (start, samples start..start+len-1) for ``n`` samples of ``model``, drawn
    :data:`SAMPLE_CHUNK` at a time with :func:`chunk_seed` seeds: the memory of one chunk,
    whatever ``n``. ``condition(start, stop)``: the keyword arguments of ``model.sample`` for
    samples start..stop-1 (a cGAN's ``labels``, RCGAN's ``cond``); None: the model's defaults."""
    chunk = SAMPLE_CHUNK
    for i, start in enumerate(range(0, n, chunk)):
        stop = min(n, start + chunk)
        extra = condition(start, stop) if condition is not None else {}
        yield start, model.sample(stop - start, seed=chunk_seed(seed, i), **extra)


def draw_samples(model, n, seed, condition=None):
    """:func:`iter_samples` in one array, for the few samples of a picture."""
    return np.concatenate([x for _, x in iter_samples(model, n, seed, condition)])


def class_conditional(model):
    """Whether ``model`` generates samples of a class asked for (cgan, cdcgan)."""
    return hasattr(model, "n_classes")


def label_plan(model, label, n):
    """What ``minigan sample --label`` asks of ``model`` for ``n`` samples: (n, condition,
    per_row). ``label``: None (a class-conditional model's default: classes 0, 1, ..., K−1,
    0, ... in turn), a class number k (every sample of class k), or "all" (a row per class:
    n rounded up to a multiple of K, ceil(n / K) samples of each class, class 0's first).
    ``condition`` is for :func:`iter_samples` (None for an unconditional model); ``per_row``
    the picture's samples per row (None: a square grid). A clear error for a class outside
    the model's, or for a label asked of a model that takes none."""
    if not class_conditional(model):
        if label is not None:
            from .gans import MODELS
            takes = sorted(m for m, c in MODELS.items() if hasattr(c, "check_labels"))
            raise ValueError(f"--label: model {model.name!r} is not class-conditional, it takes "
                             f"no label; --label applies to: {', '.join(takes)}")
        return n, None, None
    k = model.n_classes
    if label is None:
        return n, (lambda a, b: {"labels": np.arange(a, b) % k}), None
    if label == "all":
        per_class = -(-n // k)
        return k * per_class, (lambda a, b: {"labels": np.arange(a, b) // per_class}), per_class
    if not 0 <= label < k:
        raise ValueError(f"--label {label}: model {model.name!r} has classes 0 to {k - 1} "
                         f"(or give --label all)")
    return n, (lambda a, b: {"labels": np.full(b - a, label)}), None


def picture_limit(model, data_name):
    """The most samples one picture of ``model``'s samples holds: :data:`MAX_TEXT_LINES` for
    token sequences (a text line each), else :data:`MAX_PICTURE_SAMPLES`."""
    return MAX_TEXT_LINES if _draws_tokens(model, data_name) else MAX_PICTURE_SAMPLES


def check_picture_size(model, data_name, n):
    """Refuse a picture of more samples than :func:`picture_limit`, suggesting .npy."""
    most = picture_limit(model, data_name)
    if n > most:
        raise ValueError(f"{n} samples are too many for a picture (at most {most} for "
                         f"{model.name}); write them as an array instead: --out FILE.npy")


def _draws_tokens(model, data_name):
    return data_name in ("oracle", "grammar") or (data_name is None and model.name == "seqgan")


def save_samples_for(model, data_name, path, n=64, seed=0, label=None):
    """Save a picture of ``n`` samples: a scatter against the data for 2-D models, a grid for
    images, text lines for token sequences (oracle, grammar), curves for sine waves. Dispatches
    on the dataset's name (None, for a checkpoint written without it: on the model's name and
    the samples' shape). ``label``: a class-conditional model's class, or "all" (a row per
    class; see :func:`label_plan`). Samples are drawn :data:`SAMPLE_CHUNK` at a time
    (:func:`iter_samples`); a picture of too many is refused (:func:`check_picture_size`).
    Returns the number of samples drawn."""
    from .viz import plot_samples_2d, plot_sequences, plot_token_samples, save_image_grid
    n, condition, per_row = label_plan(model, label, n)
    check_picture_size(model, data_name, n)
    title = f"{n} samples of {model.name} after {model.step} steps"
    if _draws_tokens(model, data_name):
        tokens = draw_samples(model, n, seed)
        if data_name == "grammar":
            from .data.sequences import VOCAB, is_valid
            lines = [f"{'ok ' if is_valid(row) else 'bad'}  {VOCAB.decode(row)}" for row in tokens]
            title += " (ok: a valid expression)"
        else:
            lines = [" ".join(f"{t:3d}" for t in row.tolist()) for row in tokens]
            title += " (token ids)"
        plot_token_samples(lines, title=title, path=path)
        return n
    if data_name == "sines" or (data_name is None and model.name == "rcgan"):
        if getattr(model, "conditional", False):
            # a few requested frequencies, one panel each, n / k curves per panel (± 1)
            k = min(5, n)
            freqs = np.linspace(*model.cond_range, k)
            asked = freqs[np.arange(n) * k // n]
            x = draw_samples(model, n, seed, lambda a, b: {"cond": asked[a:b]})
            groups = [(f"f = {f:.1f} asked", x[asked == f]) for f in freqs]
        else:
            groups = [(None, x) for x in draw_samples(model, n, seed)[:, None]]
        plot_sequences(groups, title=title, path=path)
        return n
    x = draw_samples(model, n, seed, condition)
    if x.ndim == 2 and x.shape[1] == 2:
        data = load_dataset(data_name) if data_name in ("ring8", "grid25") else None
        fig = plot_samples_2d(x, data if isinstance(data, GaussianMixture) else None,
                              title=title)
        fig.savefig(path, dpi=100, format="png")
    elif x.ndim == 4:
        save_image_grid(x, path, nrow=per_row)
    else:
        raise ValueError(f"cannot draw samples of shape {x.shape[1:]}: expected (2,) points or (C, H, W) images")
    return n


def sample_layout(model, seed, condition=None):
    """(shape, dtype) of one of ``model``'s samples, from drawing one: what an array of n
    samples needs (n times its size) is known before drawing them."""
    x = model.sample(1, seed=seed, **(condition(0, 1) if condition is not None else {}))
    return tuple(x.shape[1:]), x.dtype


def write_samples_npy(model, path, n, seed, condition=None, layout=None):
    """Write ``n`` samples of ``model`` to ``path`` as one .npy array (n, *sample shape), as
    the model gives them: images (n, C, H, W) and points (n, D) in the data's range, token
    ids (n, T), sequences (n, T, F). Streamed: the .npy header, then each chunk of
    :func:`iter_samples` appended as it is drawn, so that memory stays one chunk's whatever
    ``n`` (a memory map, numpy.lib.format.open_memmap, would keep the written pages mapped).
    ``layout``: :func:`sample_layout`'s answer, when the caller has it. Returns the array's
    (shape, dtype)."""
    shape, dtype = layout or sample_layout(model, seed, condition)
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
              "shape": (n,) + shape}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_2_0(f, header)
        for _, x in iter_samples(model, n, seed, condition):
            if x.shape[1:] != shape:
                raise ValueError(f"{model.name} gave samples of shape {x.shape[1:]}, then {shape}")
            f.write(np.ascontiguousarray(x, dtype=dtype).tobytes())
    return (n,) + shape, dtype
