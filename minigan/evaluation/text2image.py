"""Measuring a text-to-image generator on the captioned shapes (chapter 12).

Four questions, each with its own instrument, none of them the generator's own discriminator:

- **Did it draw what the caption says?** The attribute accuracy read by the independent judge
  (:mod:`minigan.evaluation.attributes`: CNNs trained on real renders only), per attribute
  and all four right, on captions of seen colour–shape pairs and of held-out ones (pairs the
  generator never saw together). Real renders of the same captions are the ceiling.
- **Does the picture match its caption better than other captions?** AttnGAN's R-precision
  (:func:`r_precision`): for each generated picture, its caption and 99 captions of *other*
  descriptions are ranked by the cosine similarity of a frozen text encoder and image encoder;
  R-precision is the fraction of pictures whose own caption ranks first (R = 1: one true
  caption). Real pictures give its ceiling. The encoders that rank should not be those the
  generator was trained against (a generator trained to please an encoder is graded kindly by
  it): the benchmark ranks with a pair trained apart, from another seed.
- **Does z matter?** The diversity within a caption (:func:`within_caption_diversity`): the
  mean pixel distance between pictures drawn for one caption with different z, against that
  between real renders of the same description (which differ in what no caption says: the
  background, the jitter, the shade). A generator that ignores z scores 0.
- **Does the set look like the real set?** FID in the judge's feature space.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..backend import to_numpy

__all__ = ["r_precision", "within_caption_diversity", "evaluate_text2image", "shapes_judge"]

_JUDGES = {}


def shapes_judge(seed=0):
    """The judge of :mod:`minigan.evaluation.attributes` (``train_judge(seed)``, 10–15 s on 2
    cores), kept per process and cached as ``captioned-shapes/judge-seed{seed}-n{n}-s{steps}.npz``
    (its training set and steps: a change of the defaults trains a new one) in
    minigan's cache folder (:func:`minigan.data.mnist.cache_dir`: $MINIGAN_DATA, else
    ~/.cache/minigan), so that it is trained once per machine. A cached file that cannot be
    read is trained anew; a cache that cannot be written is skipped."""
    from ..data.mnist import CacheDirError, cache_dir
    from .attributes import JUDGE_IMAGES, JUDGE_STEPS, load_judge, train_judge
    if seed in _JUDGES:
        return _JUDGES[seed]
    try:
        path = (cache_dir() / "captioned-shapes" /
                f"judge-seed{seed}-n{JUDGE_IMAGES}-s{JUDGE_STEPS}.npz")
    except CacheDirError:
        path = None
    judge = None
    if path is not None and path.is_file():
        try:
            judge = load_judge(path)
        except (OSError, ValueError, KeyError):
            judge = None
    if judge is None:
        judge = train_judge(seed=seed)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                judge.save(path)
            except OSError:
                pass
    _JUDGES[seed] = judge
    return judge


def _embed_images(image_encoder, images, batch=512):
    """Image embeddings as float64 NumPy (N, E), in batches."""
    out = [to_numpy(image_encoder.forward(backend.asarray(
        np.asarray(images[i:i + batch], dtype=image_encoder.dtype)))[0])
        for i in range(0, len(images), batch)]
    return np.concatenate(out).astype(np.float64)


def _embed_texts(text_encoder, tokens, batch=512):
    """Sentence embeddings as float64 NumPy (N, E), in batches."""
    out = [to_numpy(text_encoder.encode(backend.asarray(np.asarray(tokens[i:i + batch])))[0])
           for i in range(0, len(tokens), batch)]
    return np.concatenate(out).astype(np.float64)


def r_precision(text_encoder, image_encoder, images, tokens, attrs, pool_tokens, pool_attrs,
                seed=0, n_candidates=100):
    """AttnGAN's R-precision (R = 1) of ``images`` (N, C, H, W) for their captions ``tokens``
    (N, T) (descriptions ``attrs`` (N, K)): for each picture, its caption and ``n_candidates``
    − 1 captions drawn from the pool (``pool_tokens``, ``pool_attrs``) among those of another
    description are scored by cos(image encoder(x), text encoder(caption)); a hit when its own
    caption scores strictly highest. Returns the fraction of hits."""
    images, tokens = np.asarray(to_numpy(images)), np.asarray(to_numpy(tokens))
    attrs, pool_attrs = np.asarray(to_numpy(attrs)), np.asarray(to_numpy(pool_attrs))
    pool_tokens = np.asarray(to_numpy(pool_tokens))
    if not (len(images) == len(tokens) == len(attrs)) or len(pool_tokens) != len(pool_attrs):
        raise ValueError("r_precision: images, tokens and attrs need one row per picture, and "
                         "the pool one attribute row per caption")
    v, t = _embed_images(image_encoder, images), _embed_texts(text_encoder, tokens)
    pool = _embed_texts(text_encoder, pool_tokens)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    pool = pool / np.linalg.norm(pool, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    hits = 0
    for i in range(len(images)):
        other = np.flatnonzero((pool_attrs != attrs[i]).any(axis=1))
        if len(other) < n_candidates - 1:
            raise ValueError(f"r_precision: the pool has {len(other)} captions of other "
                             f"descriptions than picture {i}'s, {n_candidates - 1} needed")
        wrong = rng.choice(other, n_candidates - 1, replace=False)
        hits += bool(v[i] @ t[i] > (pool[wrong] @ v[i]).max())
    return hits / len(images)


def within_caption_diversity(images_per_caption):
    """Mean Euclidean distance between two pictures of the same caption: ``images_per_caption``
    (K, M, C, H, W), M pictures for each of K captions; averaged over every pair of each
    caption, then over captions."""
    x = np.asarray(to_numpy(images_per_caption), dtype=np.float64)
    K, M = x.shape[:2]
    if M < 2:
        raise ValueError("within_caption_diversity: need at least 2 pictures per caption")
    flat = x.reshape(K, M, -1)
    total = 0.0
    for k in range(K):
        d = np.sqrt(((flat[k][:, None] - flat[k][None]) ** 2).sum(axis=2))
        total += d[np.triu_indices(M, 1)].mean()
    return total / K


def evaluate_text2image(model, judge, encoders=None, seed=0, n=512, diversity_captions=32,
                        per_caption=8):
    """Every measure of the module docstring for a trained :class:`~minigan.gans.text2image.
    Text2Image` on ``n`` captions of the test split (seen pairs) and ``n`` of the held-out
    split, with the real renders' values beside them (``real_...``).

    encoders: (text_encoder, image_encoder) that rank for R-precision (default: the model's
    own, which a generator trained with the matching loss has been trained to please).
    Returns a flat dict of floats."""
    from ..data.captions import load_captioned_shapes, render
    from .metrics import fid
    text_enc, image_enc = encoders if encoders is not None else (model.text_encoder,
                                                                 model.image_encoder)
    out = {}
    rng = np.random.default_rng(seed)
    for split in ("test", "heldout"):
        ds = load_captioned_shapes(split, n=n)
        pick = rng.integers(ds.tokens.shape[1], size=n)
        tokens = np.asarray(to_numpy(ds.tokens))[np.arange(n), pick]
        attrs = np.asarray(to_numpy(ds.attrs))
        real = np.asarray(to_numpy(ds.images))
        fake = model.sample(n, tokens=tokens, seed=seed)
        tag = "seen" if split == "test" else "heldout"
        for k, v in judge.accuracy(fake, attrs).items():
            out[f"{tag}_{k}"] = v
        out[f"real_{tag}_all"] = judge.accuracy(real, attrs)["all"]
        pool = load_captioned_shapes("test" if split == "heldout" else "heldout", n=n)
        pool_tokens = np.concatenate([tokens, np.asarray(to_numpy(pool.tokens))[:, 0]])
        pool_attrs = np.concatenate([attrs, np.asarray(to_numpy(pool.attrs))])
        out[f"{tag}_r_precision"] = r_precision(text_enc, image_enc, fake, tokens, attrs,
                                                pool_tokens, pool_attrs, seed=seed)
        out[f"real_{tag}_r_precision"] = r_precision(text_enc, image_enc, real, tokens, attrs,
                                                     pool_tokens, pool_attrs, seed=seed)
        if split == "test":
            out["fid"] = fid(real, fake, judge)
    # diversity: per_caption pictures of each of the first captions, against real renders
    ds = load_captioned_shapes("test", n=diversity_captions)
    tokens = np.asarray(to_numpy(ds.tokens))[:, 0]
    attrs = np.asarray(to_numpy(ds.attrs))
    fake = model.sample(diversity_captions * per_caption,
                        tokens=np.repeat(tokens, per_caption, axis=0), seed=seed + 1)
    real = render(np.repeat(attrs, per_caption, axis=0), np.random.default_rng(seed + 2))
    shape = (diversity_captions, per_caption) + fake.shape[1:]
    out["diversity"] = within_caption_diversity(fake.reshape(shape))
    out["real_diversity"] = within_caption_diversity(np.asarray(real).reshape(shape))
    return out
