"""Captioned shapes: pictures with sentences, for text-to-image synthesis (GAN-CLS, GAN-INT).

Reed et al. (2016, "Generative Adversarial Text to Image Synthesis") condition a DCGAN on a
sentence: a text encoder turns "a small red bird with black wings" into a vector, the generator
draws a picture from that vector and noise, and the discriminator judges (picture, sentence)
pairs. Their datasets (birds, flowers) are large and need a download; this module draws one in
miniature, by code, in a fraction of a second, whose captions say exactly what is in the picture
so that a generator can be graded by reading its pictures back
(:mod:`minigan.evaluation.attributes`).

**A picture** (:func:`render`) is ``size x size`` pixels (16 by default), three channels in
[-1, 1]. It holds one shape, described by four **attributes** (:data:`ATTRIBUTES`), each an
integer index into its list of values:

========== ===================================================== =============================
attribute  values                                                 how it is drawn
========== ===================================================== =============================
shape      circle, square, triangle, cross  (:data:`SHAPES`)      anti-aliased (4 x 4 samples
                                                                  per pixel, averaged)
colour     red, green, blue, yellow         (:data:`COLOURS`)     a base RGB colour, shaded
size       small, large                     (:data:`SIZES`)       5/16 or 7.5/16 of the side
position   top left, top right, bottom left, bottom right         centred in that quadrant,
           (:data:`POSITIONS`)                                    jittered by up to a pixel
========== ===================================================== =============================

so there are 4 x 4 x 2 x 4 = 128 attribute combinations. A picture also has a **style** that no
caption mentions: the grey level of its background (uniform in [-0.9, -0.3]), a shade of its
colour (a brightness factor in [0.8, 1] and a small tint per channel), the sub-pixel jitter of the
shape, and a little Gaussian pixel noise (standard deviation 0.03). Reed's generator takes a noise
vector z beside the sentence precisely for what the sentence leaves open; here that is the style,
and a generator whose z does nothing will draw every "small red circle in the top left" on the
same grey (their "style transfer" experiment, in miniature).

**Captions** (:func:`caption`) are drawn from :data:`TEMPLATES`, with synonyms
(:data:`SYNONYMS`) for shapes ("circle", "disc", "round dot"), sizes ("small", "little", "tiny"),
and positions ("top left", "upper left", "top left corner"), and varied word order::

    a small red circle in the top left
    top left corner : a little red disc
    there is a big blue box at the bottom right
    the yellow plus sign is huge , upper right

Colours keep their one word. Words are lowercase and punctuation is its own token (",", ":").
Each picture has :data:`CAPTIONS_PER_IMAGE` (5) captions from 5 different templates: a text
encoder must learn that "box" and "square" mean the same thing, and that "the top left corner
has a ..." and "... in the upper left" say the same position. :func:`describe` gives the one
canonical caption ("a small red circle in the top left"); :func:`parse_caption` reads the
attributes back from any caption the templates make (or a learner types).

**Words to numbers** (:class:`Vocabulary`, :data:`VOCAB`): every word that any template with any
synonym can make, in alphabetical order after ``"<pad>"``, which is id :data:`PAD` = 0. ``encode``
splits and looks up a sentence (an unknown word, say "purple", is a ValueError that names it and
lists the known words), ``encode_batch`` pads sentences to a common length with PAD and returns
their lengths (what a recurrent encoder needs), ``decode`` goes back. :data:`MAX_WORDS` is the
length of the longest caption the templates can make.

**Held-out combinations** (:data:`HELD_OUT`). Reed et al. train and test on disjoint *classes* of
birds and flowers: the test sentences describe birds the generator never saw, so it can succeed
only by composing what it learned (this beak, that colour). Here four colour-shape pairs, a Latin
square (each colour once, each shape once), never occur in the training split:

    red triangle, green cross, blue circle, yellow square

Every colour and every shape is still seen in training, with three partners each. The
``"heldout"`` split holds only these pairs (at every size and position): a generator that draws
"a blue circle" correctly has composed "blue" (seen on squares, triangles, crosses) with
"circle" (seen in red, green, yellow). The ``"test"`` split has the seen pairs only, drawn from
another stream than ``"train"``: new pictures and captions of familiar combinations.

**The dataset** (:func:`load_captioned_shapes`): a :class:`CaptionedShapes` of ``images``,
``attrs``, ``captions`` (5 strings per picture), ``tokens`` and ``lengths``. Example ``i`` of a
split is a pure function of ``(seed, split, i)``: its attributes, its style and its captions are
drawn from children ``(split, i, 0)``, ``(split, i, 1)`` and ``(split, i, 2)`` of
``numpy.random.SeedSequence(seed)`` (:func:`make_example` regenerates one alone). Default sizes
(:data:`SPLIT_SIZES`): 4096 train, 512 test, 512 heldout; about a second for all three.

Batches for training pick **one random caption of each picture** (each of the 5 is equally
likely, afresh every time the picture is drawn), as Reed et al. do: ``ds.batches(batch_size,
seed)`` is an infinite, exactly resumable stream of ``(images, tokens, lengths, attrs)``;
``ds.caption_batch(idx, rng)`` is one batch of chosen rows.

Quick look::

    from minigan.data.captions import load_captioned_shapes, render, VOCAB
    ds = load_captioned_shapes("train", n=8)
    ds.captions[0]                         # five sentences about ds.images[0]
    images, tokens, lengths, attrs = ds.batches(8, seed=0).next()
    VOCAB.encode("a tiny green box in the lower right")      # int64 ids
    render([[0, 0, 0, 0]] * 8, np.random.default_rng(0))     # 8 styles of a small red circle
"""
from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass

import numpy as np

from .. import backend
from .loader import DataLoader, _check_seed, _check_step, _Stream, _to_backend

__all__ = ["ATTRIBUTES", "SHAPES", "COLOURS", "SIZES", "POSITIONS", "VALUES", "NUM_VALUES",
           "COLOUR_RGB", "SIZE_FRACTIONS", "SYNONYMS", "TEMPLATES", "CAPTIONS_PER_IMAGE",
           "HELD_OUT", "SPLIT_SIZES", "PAD", "PAD_WORD", "MAX_WORDS", "VOCAB", "Vocabulary",
           "CaptionedShapes", "CaptionStream", "all_combinations", "seen_combinations",
           "heldout_combinations", "is_held_out", "render", "tokenize", "caption", "captions_for",
           "describe", "attribute_names", "parse_caption", "build_vocabulary", "make_example",
           "load_captioned_shapes"]

# --- the attributes -----------------------------------------------------------------------------
ATTRIBUTES = ("shape", "colour", "size", "position")
SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = ("red", "green", "blue", "yellow")
SIZES = ("small", "large")
POSITIONS = ("top left", "top right", "bottom left", "bottom right")
#: ``VALUES[a]``: the value names of attribute ``a`` (an index into :data:`ATTRIBUTES`).
VALUES = (SHAPES, COLOURS, SIZES, POSITIONS)
NUM_VALUES = tuple(len(v) for v in VALUES)                  # (4, 4, 2, 4)
SHAPE, COLOUR, SIZE, POSITION = range(4)

#: Base colour of each of :data:`COLOURS`, RGB in [0, 1] (before the picture's shade).
COLOUR_RGB = np.array([[0.92, 0.16, 0.12],       # red
                       [0.16, 0.78, 0.22],       # green
                       [0.18, 0.36, 0.98],       # blue
                       [0.96, 0.86, 0.10]])      # yellow
#: The extent of a shape, as a fraction of the image side: small, large. A circle's diameter, a
#: triangle's height and base (apex up) and a cross's span are the extent; a square's side is
#: 0.85 of it (about the circle's area); a cross's arms are a third of it wide.
SIZE_FRACTIONS = (5 / 16, 7.5 / 16)
_JITTER = 1.0 / 16                # the centre moves by up to this fraction of the side, each axis
_BACKGROUND = (-0.9, -0.3)        # grey level of the background, uniform, in [-1, 1]
_BRIGHTNESS = (0.8, 1.0)          # the colour is multiplied by a factor uniform in this range ...
_TINT = 0.05                      # ... and each channel moved by up to this much (in [0, 1])
_NOISE = 0.03                     # standard deviation of the pixel noise (in [-1, 1])
_SUPERSAMPLE = 4                  # samples per pixel along each axis

# --- the captions ------------------------------------------------------------------------------
#: Words and phrases for each value: ``SYNONYMS[attribute][value index]``, the first one canonical.
SYNONYMS = {
    "shape": (("circle", "disc", "round dot", "ball"),
              ("square", "box", "block"),
              ("triangle", "wedge", "pyramid"),
              ("cross", "plus", "plus sign")),
    "colour": (("red",), ("green",), ("blue",), ("yellow",)),
    "size": (("small", "little", "tiny"),
             ("large", "big", "huge")),
    "position": (("top left", "upper left", "top left corner", "upper left corner"),
                 ("top right", "upper right", "top right corner", "upper right corner"),
                 ("bottom left", "lower left", "bottom left corner", "lower left corner"),
                 ("bottom right", "lower right", "bottom right corner", "lower right corner")),
}
#: The sentence patterns; ``{shape}``, ``{colour}``, ``{size}``, ``{position}`` are filled with a
#: synonym each. The first is the canonical one (:func:`describe`).
TEMPLATES = (
    "a {size} {colour} {shape} in the {position}",
    "{position} : a {size} {colour} {shape}",
    "there is a {size} {colour} {shape} at the {position}",
    "the {colour} {shape} is {size} , {position}",
    "a {colour} {shape} , {size} , in the {position}",
    "in the {position} there is a {size} {colour} {shape}",
    "{size} {colour} {shape} , {position}",
    "the {position} has a {size} {shape} that is {colour}",
)
CAPTIONS_PER_IMAGE = 5

#: The colour-shape pairs never seen in training: a Latin square (each colour and each shape once).
HELD_OUT = (("red", "triangle"), ("green", "cross"), ("blue", "circle"), ("yellow", "square"))
_HELD_OUT_IDS = frozenset((COLOURS.index(c), SHAPES.index(s)) for c, s in HELD_OUT)

SPLIT_SIZES = {"train": 4096, "test": 512, "heldout": 512}
_SPLIT_KEYS = {"train": 0, "test": 1, "heldout": 2}

PAD = 0
PAD_WORD = "<pad>"
_TOKEN = re.compile(r"[a-z]+|[^\sa-z]")


# --- checks ------------------------------------------------------------------------------------
def _check_int(owner, what, value, low=0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{owner}: {what} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_size(owner, size) -> int:
    size = _check_int(owner, "size", size, 8)
    if size % 2:
        raise ValueError(f"{owner}: size must be even (four quadrants), got {size}")
    return size


def _check_attrs(owner, attrs, ndim=2) -> np.ndarray:
    """``attrs`` as int64 (N, 4) (``ndim=2``) or (4,) (``ndim=1``), each value in range."""
    a = np.asarray(backend.to_numpy(attrs))
    want = "(N, 4)" if ndim == 2 else "(4,)"
    if a.ndim != ndim or a.shape[-1] != len(ATTRIBUTES) or (ndim == 2 and a.shape[0] == 0):
        raise ValueError(f"{owner}: attrs must be integers of shape {want}, one column per "
                         f"attribute {ATTRIBUTES}; got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{owner}: attrs must be integers, got dtype {a.dtype}")
    bad = (a < 0) | (a >= np.asarray(NUM_VALUES))
    if bad.any():
        col = int(np.nonzero(bad.reshape(-1, 4).any(0))[0][0])
        raise ValueError(f"{owner}: {ATTRIBUTES[col]} must be in 0..{NUM_VALUES[col] - 1} "
                         f"{VALUES[col]}, got {sorted(set(a.reshape(-1, 4)[:, col].tolist()))}")
    return a.astype(np.int64, copy=False)


def _check_choice(owner, what, value, allowed):
    if value not in allowed:
        raise ValueError(f"{owner}: {what} must be one of {allowed}, got {value!r}")
    return value


# --- attribute combinations ----------------------------------------------------------------------
def all_combinations() -> np.ndarray:
    """All 128 attribute rows, int64 (128, 4), in lexicographic order (shape slowest)."""
    return np.array(list(itertools.product(*(range(k) for k in NUM_VALUES))), dtype=np.int64)


def is_held_out(attrs) -> np.ndarray:
    """bool (N,) (or a bool for one row): is the row's colour-shape pair one of :data:`HELD_OUT`?"""
    a = np.asarray(backend.to_numpy(attrs))
    pairs = a[..., COLOUR] * len(SHAPES) + a[..., SHAPE]
    held = [c * len(SHAPES) + s for c, s in _HELD_OUT_IDS]
    out = np.isin(pairs, held)
    return bool(out) if out.ndim == 0 else out


def seen_combinations() -> np.ndarray:
    """The 96 rows whose colour-shape pair is not held out (the train and test splits')."""
    a = all_combinations()
    return a[~is_held_out(a)]


def heldout_combinations() -> np.ndarray:
    """The 32 rows whose colour-shape pair is held out (the heldout split's)."""
    a = all_combinations()
    return a[is_held_out(a)]


# --- rendering -----------------------------------------------------------------------------------
def _inside(shape: int, dx, dy, r):
    """Boolean mask: is the point (dx, dy) (offsets from the centre, y down) inside a shape whose
    extent is 2 r? (dx, dy broadcast; r broadcasts against them.)"""
    if shape == 0:                                   # circle: diameter 2r
        return dx * dx + dy * dy <= r * r
    if shape == 1:                                   # square: side 1.7 r (about the circle's area)
        h = 0.85 * r
        return (np.abs(dx) <= h) & (np.abs(dy) <= h)
    if shape == 2:                                   # triangle, apex up: height 2r, base 2r
        t = (dy + r) / (2 * r)                       # 0 at the apex, 1 at the base
        return (t >= 0) & (t <= 1) & (np.abs(dx) <= r * t)
    arm = r / 3                                      # cross (plus): arms 2r long, 2r/3 wide
    return (((np.abs(dx) <= arm) & (np.abs(dy) <= r))
            | ((np.abs(dy) <= arm) & (np.abs(dx) <= r)))


@functools.lru_cache(maxsize=8)
def _subpixels(size: int) -> np.ndarray:
    """Sub-pixel sample centres along one axis, in pixels: (size * _SUPERSAMPLE,)."""
    s = _SUPERSAMPLE
    c = (np.arange(size * s) + 0.5) / s
    c.flags.writeable = False
    return c


def _coverage(attrs: np.ndarray, centres: np.ndarray, size: int) -> np.ndarray:
    """The share of each pixel covered by its shape: float64 (N, size, size) in [0, 1]."""
    s = _SUPERSAMPLE
    grid = _subpixels(size)
    n = len(attrs)
    r = (np.asarray(SIZE_FRACTIONS)[attrs[:, SIZE]] * size / 2)[:, None, None]
    dx = grid[None, None, :] - centres[:, 0, None, None]
    dy = grid[None, :, None] - centres[:, 1, None, None]
    cover = np.zeros((n, size * s, size * s), dtype=bool)
    for shape in range(len(SHAPES)):
        rows = np.nonzero(attrs[:, SHAPE] == shape)[0]
        if rows.size:
            cover[rows] = _inside(shape, dx[rows], dy[rows], r[rows])
    return cover.reshape(n, size, s, size, s).mean(axis=(2, 4))


def _draw_style(rng: np.random.Generator, attrs_row, size: int):
    """One picture's style, drawn in a fixed order: (centre (2,) in pixels, background grey,
    colour RGB (3,) in [0, 1], noise (3, size, size))."""
    quadrant = attrs_row[POSITION]
    base = np.array([(quadrant % 2) * 0.5 + 0.25, (quadrant // 2) * 0.5 + 0.25]) * size
    centre = base + rng.uniform(-1.0, 1.0, 2) * _JITTER * size
    grey = rng.uniform(*_BACKGROUND)
    colour = np.clip(COLOUR_RGB[attrs_row[COLOUR]] * rng.uniform(*_BRIGHTNESS)
                     + rng.uniform(-_TINT, _TINT, 3), 0.0, 1.0)
    noise = rng.standard_normal((3, size, size)) * _NOISE
    return centre, grey, colour, noise


def _paint(attrs, styles, size) -> np.ndarray:
    """The pictures of ``attrs`` (N, 4) with ``styles`` (a list of :func:`_draw_style` tuples)."""
    centres = np.stack([st[0] for st in styles])
    alpha = _coverage(attrs, centres, size)[:, None]                        # (N, 1, S, S)
    grey = np.array([st[1] for st in styles])[:, None, None, None]
    colour = 2.0 * np.stack([st[2] for st in styles])[:, :, None, None] - 1.0
    noise = np.stack([st[3] for st in styles])
    img = grey * (1.0 - alpha) + colour * alpha + noise
    return np.clip(img, -1.0, 1.0).astype(np.float32)


def render(attrs, rng: np.random.Generator, size: int = 16) -> np.ndarray:
    """Draw pictures of attribute rows, each with a fresh style.

    Args:
        attrs: int (N, 4): shape, colour, size, position indices (:data:`ATTRIBUTES`).
        rng: a NumPy Generator; each row's style (jitter, background, shade, noise) is drawn
            from it in turn, so the pictures are a pure function of ``attrs`` and its state.
        size: pixels per side (even, >= 8; the shapes are designed at 16).

    Returns: float32 NumPy (N, 3, size, size) in [-1, 1].

    One caption, many styles: ``render(np.tile([[2, 1, 1, 3]], (8, 1)), rng)`` is eight large
    green triangles in the bottom right, on eight greys.
    """
    a = _check_attrs("render", attrs)
    size = _check_size("render", size)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"render: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return _paint(a, [_draw_style(rng, row, size) for row in a], size)


# --- captions ------------------------------------------------------------------------------------
def tokenize(text: str) -> list:
    """Lowercase ``text`` and split it into words (runs of letters) and punctuation marks (one
    token each): ``"Top left: a disc"`` -> ``["top", "left", ":", "a", "disc"]``."""
    if not isinstance(text, str):
        raise ValueError(f"tokenize: expected a str, got {type(text).__name__}")
    return _TOKEN.findall(text.lower())


def attribute_names(attrs_row) -> dict:
    """``{"shape": "circle", "colour": "red", "size": "small", "position": "top left"}``."""
    a = _check_attrs("attribute_names", attrs_row, ndim=1)
    return {name: VALUES[k][a[k]] for k, name in enumerate(ATTRIBUTES)}


def _fill(template: str, attrs_row, u) -> str:
    """Template ``template`` filled for ``attrs_row``, synonym k chosen by the uniform ``u[k]``
    in [0, 1) (or the canonical synonym when ``u`` is None)."""
    out = {}
    for k, name in enumerate(ATTRIBUTES):
        options = SYNONYMS[name][attrs_row[k]]
        out[name] = options[0 if u is None else int(u[k] * len(options))]
    return template.format(**out)


def describe(attrs_row) -> str:
    """The canonical caption, first template and first synonyms: "a small red circle in the
    top left"."""
    return _fill(TEMPLATES[0], _check_attrs("describe", attrs_row, ndim=1), None)


def caption(attrs_row, rng: np.random.Generator, template: int | None = None) -> str:
    """One random caption of ``attrs_row`` (4,): a template (uniform over :data:`TEMPLATES`, or
    the given index) and, independently, a synonym for each attribute (uniform)."""
    a = _check_attrs("caption", attrs_row, ndim=1)
    if template is None:
        template = int(rng.integers(len(TEMPLATES)))
    template = _check_int("caption", "template", template)
    if template >= len(TEMPLATES):
        raise ValueError(f"caption: template must be in 0..{len(TEMPLATES) - 1}, got {template}")
    return _fill(TEMPLATES[template], a, rng.random(len(ATTRIBUTES)))


def captions_for(attrs_row, rng: np.random.Generator, k: int = CAPTIONS_PER_IMAGE) -> list:
    """``k`` captions of one row, from ``k`` different templates (drawn without replacement),
    each with its own uniform choice of synonyms."""
    a = _check_attrs("captions_for", attrs_row, ndim=1)
    k = _check_int("captions_for", "k", k, 1)
    if k > len(TEMPLATES):
        raise ValueError(f"captions_for: at most {len(TEMPLATES)} captions (one per template), "
                         f"got k={k}")
    order = rng.permutation(len(TEMPLATES))[:k]
    u = rng.random((k, len(ATTRIBUTES)))
    return [_fill(TEMPLATES[t], a, u[j]) for j, t in enumerate(order.tolist())]


@functools.cache
def _all_captions_of_words():
    """Every caption the templates can make, as word lists, one per (template, synonyms) choice."""
    out = []
    for template in TEMPLATES:
        for choice in itertools.product(*(
                [s for group in SYNONYMS[name] for s in group] for name in ATTRIBUTES)):
            out.append(template.format(**dict(zip(ATTRIBUTES, choice))).split())
    return out


def _phrases():
    """(phrase as a tuple of words, attribute index, value index), longest phrases first."""
    out = [(tuple(p.split()), k, v) for k, name in enumerate(ATTRIBUTES)
           for v, group in enumerate(SYNONYMS[name]) for p in group]
    return sorted(out, key=lambda t: -len(t[0]))


def parse_caption(text: str) -> np.ndarray:
    """The attributes a caption states: int64 (4,). Reads the synonym phrases (longest first, so
    "top left corner" is one position), whatever the word order; ValueError when an attribute is
    missing or stated twice (the other words are not checked)."""
    words = tokenize(text)
    found: dict = {}
    used = [False] * len(words)
    for phrase, k, v in _phrases():
        n = len(phrase)
        for i in range(len(words) - n + 1):
            if tuple(words[i:i + n]) == phrase and not any(used[i:i + n]):
                used[i:i + n] = [True] * n
                found.setdefault(k, []).append(v)
    missing = [ATTRIBUTES[k] for k in range(len(ATTRIBUTES)) if k not in found]
    twice = [ATTRIBUTES[k] for k, vs in found.items() if len(vs) > 1]
    if missing or twice:
        raise ValueError(f"parse_caption: {text!r} must name each of {ATTRIBUTES} once; "
                         + (f"missing {missing}" if missing else "")
                         + ("; " if missing and twice else "")
                         + (f"more than once: {twice}" if twice else ""))
    return np.array([found[k][0] for k in range(len(ATTRIBUTES))], dtype=np.int64)


# --- words to numbers ----------------------------------------------------------------------------
class Vocabulary:
    """Words <-> integer ids. Id :data:`PAD` (0) is the padding word ``"<pad>"``.

    Attributes: ``words`` (tuple, ``words[id]``), ``index`` (dict word -> id); ``len(vocab)`` is
    the number of ids, padding included (the ``num_embeddings`` of an embedding layer).
    """

    def __init__(self, words):
        words = tuple(words)
        if not words or words[0] != PAD_WORD:
            raise ValueError(f"Vocabulary: the first word must be {PAD_WORD!r} (id {PAD})")
        if len(set(words)) != len(words):
            raise ValueError("Vocabulary: words must be distinct")
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word) -> bool:
        return word in self.index

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.words == other.words

    __hash__ = None

    def encode(self, text: str, max_len: int | None = None) -> np.ndarray:
        """int64 (L,) ids of ``text``'s tokens (:func:`tokenize`), or (max_len,) padded with PAD.

        ValueError: a word outside the vocabulary (the message names it and lists the known
        words), an empty text, or more than ``max_len`` tokens."""
        tokens = tokenize(text)
        unknown = [w for w in tokens if w not in self.index]
        if unknown:
            known = ", ".join(self.words[1:])
            raise ValueError(f"Vocabulary.encode: unknown word(s) {sorted(set(unknown))} in "
                             f"{text!r}; the known words are: {known}")
        if not tokens:
            raise ValueError(f"Vocabulary.encode: {text!r} has no words")
        ids = np.array([self.index[w] for w in tokens], dtype=np.int64)
        if max_len is None:
            return ids
        max_len = _check_int("Vocabulary.encode", "max_len", max_len, 1)
        if len(ids) > max_len:
            raise ValueError(f"Vocabulary.encode: {text!r} has {len(ids)} tokens, more than "
                             f"max_len={max_len}")
        return np.concatenate([ids, np.full(max_len - len(ids), PAD, dtype=np.int64)])

    def encode_batch(self, texts, max_len: int | None = None):
        """``(tokens, lengths)``: int64 (N, T) padded with PAD on the right, and int64 (N,) the
        number of tokens of each text. ``T = max_len``, or the longest text when None."""
        if isinstance(texts, str):
            raise ValueError("Vocabulary.encode_batch: expected a list of strings, got one str "
                             "(use encode for a single text)")
        rows = [self.encode(t) for t in texts]
        if not rows:
            raise ValueError("Vocabulary.encode_batch: got no texts")
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        t = int(lengths.max()) if max_len is None else _check_int(
            "Vocabulary.encode_batch", "max_len", max_len, 1)
        if lengths.max() > t:
            i = int(lengths.argmax())
            raise ValueError(f"Vocabulary.encode_batch: text {i} ({texts[i]!r}) has "
                             f"{lengths[i]} tokens, more than max_len={t}")
        out = np.full((len(rows), t), PAD, dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, :len(r)] = r
        return out, lengths

    def decode(self, ids):
        """Text of ids: (T,) -> str, (N, T) -> list of str. PAD ids are dropped."""
        a = np.asarray(backend.to_numpy(ids))
        if a.ndim == 2:
            return [self.decode(row) for row in a]
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"Vocabulary.decode: expected integer ids (T,) or (N, T), got "
                             f"{a.dtype} {a.shape}")
        if a.size and (a.min() < 0 or a.max() >= len(self)):
            raise ValueError(f"Vocabulary.decode: ids must be in 0..{len(self) - 1}, got "
                             f"{int(a.min())}..{int(a.max())}")
        return " ".join(self.words[i] for i in a.tolist() if i != PAD)

    def __repr__(self):
        return f"Vocabulary({len(self)} words, PAD={PAD})"


def build_vocabulary() -> Vocabulary:
    """The vocabulary of every caption the templates can make: ``"<pad>"``, then the words in
    alphabetical order (deterministic; the same in every process)."""
    words = {w for sentence in _all_captions_of_words() for w in sentence}
    return Vocabulary((PAD_WORD, *sorted(words)))


VOCAB = build_vocabulary()
#: The number of tokens of the longest caption any template can make (the T of ``tokens``).
MAX_WORDS = max(len(s) for s in _all_captions_of_words())
assert MAX_WORDS == 12, MAX_WORDS


# --- the dataset ---------------------------------------------------------------------------------
@dataclass(eq=False)
class CaptionedShapes:
    """Pictures with captions.

    Attributes:
        images: float32 (N, 3, size, size) in [-1, 1], on the backend in use.
        attrs: int64 (N, 4) attribute indices (:data:`ATTRIBUTES`), on the backend in use.
        captions: list of N lists of :data:`CAPTIONS_PER_IMAGE` strings.
        tokens: int64 (N, CAPTIONS_PER_IMAGE, MAX_WORDS), the captions encoded with ``vocab``,
            padded with PAD (0); on the backend in use.
        lengths: int64 (N, CAPTIONS_PER_IMAGE), the number of tokens of each caption.
        vocab: the :class:`Vocabulary` (:data:`VOCAB`).
        name: e.g. ``"captioned-shapes-train"``.
    """

    images: object
    attrs: object
    captions: list
    tokens: object
    lengths: object
    vocab: Vocabulary
    name: str = "captioned-shapes"

    def __post_init__(self):
        n = self.images.shape[0]
        if self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(f"CaptionedShapes: images must have shape (N, 3, H, W), got "
                             f"{tuple(self.images.shape)}")
        k = CAPTIONS_PER_IMAGE
        want = {"attrs": (n, len(ATTRIBUTES)), "tokens": (n, k, self.tokens.shape[-1]),
                "lengths": (n, k)}
        for what, shape in want.items():
            if tuple(getattr(self, what).shape) != shape:
                raise ValueError(f"CaptionedShapes: {what} must have shape {shape}, got "
                                 f"{tuple(getattr(self, what).shape)}")
        if len(self.captions) != n or any(len(c) != k for c in self.captions):
            raise ValueError(f"CaptionedShapes: captions must be N = {n} lists of {k} strings")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple:
        """(3, H, W) of one picture."""
        return tuple(self.images.shape[1:])

    def caption_batch(self, idx, rng: np.random.Generator):
        """The rows ``idx`` with ONE caption each, chosen uniformly among the picture's
        :data:`CAPTIONS_PER_IMAGE` by ``rng``: ``(images (B, 3, H, W), tokens (B, T),
        lengths (B,), attrs (B, 4))``, on the backend in use (tokens int64, T = MAX_WORDS)."""
        idx = np.asarray(backend.to_numpy(idx)).reshape(-1)
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"CaptionedShapes.caption_batch: indices must be integers, got "
                             f"dtype {idx.dtype}")
        if idx.size == 0 or idx.min() < 0 or idx.max() >= len(self):
            raise ValueError(f"CaptionedShapes.caption_batch: indices must be in 0..{len(self) - 1}"
                             f" and not empty, got {idx.tolist()[:8]}")
        pick = rng.integers(CAPTIONS_PER_IMAGE, size=idx.size)
        xp = backend.get_array_module(self.tokens)
        i, j = xp.asarray(idx), xp.asarray(pick)
        return (_to_backend(self.images[i]), _to_backend(self.tokens[i, j]),
                _to_backend(self.lengths[i, j]), _to_backend(self.attrs[i]))

    def batches(self, batch_size: int, seed: int = 0, *, shuffle: bool = True,
                drop_last: bool = True) -> CaptionStream:
        """An infinite, exactly resumable stream of ``(images, tokens, lengths, attrs)`` batches
        (see :class:`CaptionStream`): shuffled epochs of the pictures, one random caption each."""
        return CaptionStream(self, batch_size, seed, shuffle=shuffle, drop_last=drop_last)

    def __repr__(self):
        return (f"CaptionedShapes(name={self.name!r}, n={len(self)}, images={self.image_shape}, "
                f"max_words={self.tokens.shape[-1]}, vocab={len(self.vocab)} words)")


class CaptionStream(_Stream):
    """Batches ``(images (B, 3, H, W), tokens (B, T), lengths (B,), attrs (B, 4))`` of a
    :class:`CaptionedShapes`, with ONE caption per picture chosen afresh each time.

    The pictures of batch ``k`` are those of a :class:`~minigan.data.loader.DataLoader` with the
    same ``batch_size``, ``seed``, ``shuffle`` and ``drop_last`` (shuffled epochs); the caption of
    each is uniform among the picture's :data:`CAPTIONS_PER_IMAGE`, drawn from child ``(k, 1)``
    of ``SeedSequence(seed)``. So batch ``k`` is a pure function of ``(seed, k)``:
    ``batch_at(k)``, ``next()``, ``state_dict()`` and ``load_state_dict`` as every minigan stream.
    """

    def __init__(self, dataset: CaptionedShapes, batch_size: int, seed: int = 0, *,
                 shuffle: bool = True, drop_last: bool = True):
        self.dataset = dataset
        self._rows = DataLoader(np.arange(len(dataset)), batch_size=batch_size, shuffle=shuffle,
                                seed=seed, drop_last=drop_last)
        self.batch_size = self._rows.batch_size
        self.seed = self._rows.seed
        self.step = 0

    def __len__(self) -> int:
        return len(self._rows)

    def batch_at(self, step: int):
        step = _check_step("CaptionStream", step)
        self._rows.seed = self.seed
        idx = self._rows.indices_at(step)
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(step, 1)))
        return self.dataset.caption_batch(idx, rng)

    def __iter__(self):
        end = (self.step // len(self) + 1) * len(self)
        while self.step < end:
            yield self.next()

    def _state_extra(self) -> dict:
        return {"batch_size": self.batch_size, "num_examples": len(self.dataset)}

    def __repr__(self):
        return (f"CaptionStream({self.dataset.name!r}, batch_size={self.batch_size}, "
                f"seed={self.seed}, step={self.step})")


def _example_rng(seed: int, split: str, index: int, stream: int) -> np.random.Generator:
    key = (_SPLIT_KEYS[split], int(index), stream)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


@functools.cache
def _split_combinations(split: str) -> np.ndarray:
    return heldout_combinations() if split == "heldout" else seen_combinations()


def _example_parts(index: int, split: str, seed: int, size: int):
    """(attrs (4,), style, captions) of one example, each from its own child stream."""
    combos = _split_combinations(split)
    attrs = combos[int(_example_rng(seed, split, index, 0).integers(len(combos)))]
    style = _draw_style(_example_rng(seed, split, index, 1), attrs, size)
    texts = captions_for(attrs, _example_rng(seed, split, index, 2))
    return attrs, style, texts


def make_example(index: int, split: str = "train", size: int = 16, seed: int = 0):
    """Example ``index`` of a split, regenerated alone: ``(image, attrs, captions)``, image
    float32 (3, size, size), attrs int64 (4,), captions a list of :data:`CAPTIONS_PER_IMAGE`
    strings. Identical to row ``index`` of :func:`load_captioned_shapes` with the same split,
    size and seed (whatever its ``n``)."""
    _check_choice("make_example", "split", split, tuple(SPLIT_SIZES))
    seed, size = _check_seed("make_example", seed), _check_size("make_example", size)
    index = _check_int("make_example", "index", index)
    attrs, style, texts = _example_parts(index, split, seed, size)
    return _paint(attrs[None], [style], size)[0], attrs.copy(), texts


def load_captioned_shapes(split: str = "train", n: int | None = None, seed: int = 0,
                          size: int = 16) -> CaptionedShapes:
    """The captioned shapes, generated (no download; under a second for 4096).

    Args:
        split: ``"train"`` (the 12 seen colour-shape pairs), ``"test"`` (the same pairs, a
            disjoint random stream) or ``"heldout"`` (only the 4 pairs of :data:`HELD_OUT`).
            Within a split, the attribute row of each example is uniform over the split's
            combinations (96, 96 and 32 of them).
        n: how many examples (default :data:`SPLIT_SIZES`: 4096, 512, 512); example ``i`` is the
            same whatever ``n``, so a larger ``n`` extends the set.
        seed: non-negative int; the dataset is a pure function of ``(seed, split, size)``.
        size: pixels per side (even, >= 8; designed at 16).

    Returns: a :class:`CaptionedShapes` (``name`` ``"captioned-shapes-<split>"``).
    """
    _check_choice("load_captioned_shapes", "split", split, tuple(SPLIT_SIZES))
    seed = _check_seed("load_captioned_shapes", seed)
    size = _check_size("load_captioned_shapes", size)
    n = SPLIT_SIZES[split] if n is None else _check_int("load_captioned_shapes", "n", n, 1)
    parts = [_example_parts(i, split, seed, size) for i in range(n)]
    attrs = np.stack([p[0] for p in parts])
    images = _paint(attrs, [p[1] for p in parts], size)
    captions = [p[2] for p in parts]
    tokens, lengths = VOCAB.encode_batch([t for texts in captions for t in texts], MAX_WORDS)
    k = CAPTIONS_PER_IMAGE
    return CaptionedShapes(backend.asarray(images), backend.asarray(attrs), captions,
                           backend.asarray(tokens.reshape(n, k, MAX_WORDS)),
                           backend.asarray(lengths.reshape(n, k)), VOCAB,
                           f"captioned-shapes-{split}")
