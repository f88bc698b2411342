"""Tests of minigan.data.captions (the captioned shapes of the text-to-image chapter) and of
minigan.evaluation.attributes (the judge that reads their attributes back).

What must hold: the dataset is a pure function of its seed (an example regenerates alone), the
splits are disjoint and the held-out colour-shape pairs occur only in the heldout split; every
caption encodes, decodes to itself and states exactly the attributes of its picture (read back
through the synonyms by parse_caption); unknown words are named; the pictures show what the
attributes say (checked without the judge, then by a judge trained on real renders only, which
must read fresh renders of all 128 combinations); the judge's file round-trips and its inputs
are checked. No timing thresholds.
"""
import itertools

import numpy as np
import pytest

from minigan import backend
from minigan.data import captions as C
from minigan.data.captions import (ATTRIBUTES, CAPTIONS_PER_IMAGE, COLOURS, HELD_OUT, MAX_WORDS,
                                   PAD, POSITIONS, SHAPES, SIZES, SPLIT_SIZES, SYNONYMS,
                                   TEMPLATES, VOCAB, CaptionedShapes, Vocabulary,
                                   all_combinations, attribute_names, caption, captions_for,
                                   describe, heldout_combinations, is_held_out,
                                   load_captioned_shapes, make_example, parse_caption, render,
                                   seen_combinations, tokenize)
from minigan.evaluation.attributes import Judge, load_judge, train_judge

to_np = backend.to_numpy


@pytest.fixture(scope="module")
def splits():
    return {s: load_captioned_shapes(s) for s in SPLIT_SIZES}


@pytest.fixture(scope="module")
def judge():
    """A smaller judge than the default (600 steps, not 800): a few seconds."""
    return train_judge(seed=0, steps=600, check=0)


# ------------------------------------------------------------------------------------ constants
def test_attributes_and_held_out_pairs():
    assert ATTRIBUTES == ("shape", "colour", "size", "position")
    assert SHAPES == ("circle", "square", "triangle", "cross")
    assert COLOURS == ("red", "green", "blue", "yellow")
    assert SIZES == ("small", "large")
    assert POSITIONS == ("top left", "top right", "bottom left", "bottom right")
    assert len(all_combinations()) == 128 and len(np.unique(all_combinations(), axis=0)) == 128
    # a Latin square: each colour once, each shape once
    assert sorted(c for c, _ in HELD_OUT) == sorted(COLOURS)
    assert sorted(s for _, s in HELD_OUT) == sorted(SHAPES)
    seen, held = seen_combinations(), heldout_combinations()
    assert len(seen) == 96 and len(held) == 32
    assert not is_held_out(seen).any() and is_held_out(held).all()
    seen_pairs = {(int(r[1]), int(r[0])) for r in seen}
    assert len(seen_pairs) == 12
    for k in range(4):                     # every colour and every shape has 3 seen partners
        assert sum(c == k for c, _ in seen_pairs) == 3
        assert sum(s == k for _, s in seen_pairs) == 3
    assert is_held_out([2, 0, 1, 3]) is True        # a triangle, red
    assert is_held_out([0, 0, 1, 3]) is False       # a circle, red


# -------------------------------------------------------------------- shapes, dtypes and ranges
def test_shapes_dtypes_and_ranges(splits):
    for split, ds in splits.items():
        n = SPLIT_SIZES[split]
        assert isinstance(ds, CaptionedShapes) and len(ds) == n
        assert ds.name == f"captioned-shapes-{split}" and split in repr(ds)
        images, attrs = to_np(ds.images), to_np(ds.attrs)
        tokens, lengths = to_np(ds.tokens), to_np(ds.lengths)
        assert images.shape == (n, 3, 16, 16) and images.dtype == np.float32
        assert attrs.shape == (n, 4) and attrs.dtype == np.int64
        assert tokens.shape == (n, CAPTIONS_PER_IMAGE, MAX_WORDS) and tokens.dtype == np.int64
        assert lengths.shape == (n, CAPTIONS_PER_IMAGE) and lengths.dtype == np.int64
        assert len(ds.captions) == n and all(len(c) == CAPTIONS_PER_IMAGE for c in ds.captions)
        assert ds.image_shape == (3, 16, 16) and ds.vocab == VOCAB
        assert -1.0 <= images.min() and images.max() <= 1.0
        assert attrs.min() == 0 and (attrs.max(0) == [3, 3, 1, 3]).all()
        assert 1 <= lengths.min() and lengths.max() <= MAX_WORDS
        assert tokens.min() == PAD and tokens.max() < len(VOCAB)
    small = load_captioned_shapes("test", n=5, size=32)
    assert to_np(small.images).shape == (5, 3, 32, 32)


def test_style_varies_and_captions_do_not_say_it():
    rows = np.tile([[2, 1, 1, 3]], (64, 1))                 # large green triangles, bottom right
    a = render(rows, np.random.default_rng(0))
    corner = a[:, :, :3, :3].mean(axis=(1, 2, 3))          # background, far from the shape
    assert corner.min() < -0.75 and corner.max() > -0.45     # dark to mid grey
    assert corner.std() > 0.1
    inside = a[:, :, 12, 12]                                 # the triangle's middle
    assert inside[:, 1].std() > 0.01                         # shades of green
    assert (inside[:, 1] > inside[:, 0]).all() and (inside[:, 1] > inside[:, 2]).all()


def test_pictures_show_their_attributes_without_a_judge():
    """Position: the quadrant that differs most from the background; size: how many pixels do;
    colour: the dominant channels there. (The judge checks shapes.)"""
    rows = np.tile(all_combinations(), (4, 1))
    img = render(rows, np.random.default_rng(3)).astype(np.float64)
    background = np.median(img.reshape(len(img), -1), axis=1)
    diff = np.abs(img - background[:, None, None, None]).sum(1)             # (N, 16, 16)
    quads = diff.reshape(len(img), 2, 8, 2, 8).sum(axis=(2, 4)).reshape(len(img), 4)
    np.testing.assert_array_equal(quads.argmax(1), rows[:, 3])
    area = (diff > 0.5).sum(axis=(1, 2))
    for shape in range(4):
        small = area[(rows[:, 0] == shape) & (rows[:, 2] == 0)]
        large = area[(rows[:, 0] == shape) & (rows[:, 2] == 1)]
        assert small.max() < large.min()
    core = diff >= 0.8 * diff.max(axis=(1, 2), keepdims=True)           # fully covered pixels
    rgb = (img * core[:, None]).sum(axis=(2, 3)) / core.sum(axis=(1, 2))[:, None]
    expected = {0: (0, 1), 1: (1, 0), 2: (2, 0), 3: (0, 2)}     # red > green, green > red ...
    for colour, (hi, lo) in expected.items():
        sel = rgb[rows[:, 1] == colour]
        assert (sel[:, hi] > sel[:, lo] + 0.5).all()
    yellow = rgb[rows[:, 1] == 3]
    assert (yellow[:, 1] > yellow[:, 2] + 0.5).all()


# ----------------------------------------------------------------------------------- determinism
def test_example_i_regenerates_alone():
    ds = load_captioned_shapes("heldout", n=40, seed=5)
    for i in (0, 17, 39):
        image, attrs, texts = make_example(i, "heldout", seed=5)
        np.testing.assert_array_equal(image, to_np(ds.images)[i])
        np.testing.assert_array_equal(attrs, to_np(ds.attrs)[i])
        assert texts == ds.captions[i]
    longer = load_captioned_shapes("heldout", n=60, seed=5)            # n extends the set
    np.testing.assert_array_equal(to_np(longer.images)[:40], to_np(ds.images))
    assert longer.captions[:40] == ds.captions
    again = load_captioned_shapes("heldout", n=40, seed=5)
    np.testing.assert_array_equal(to_np(again.tokens), to_np(ds.tokens))
    other = load_captioned_shapes("heldout", n=40, seed=6)
    assert not np.array_equal(to_np(other.images), to_np(ds.images))


def test_render_is_deterministic_given_rng():
    rows = all_combinations()[::7]
    a = render(rows, np.random.default_rng(1))
    np.testing.assert_array_equal(a, render(rows, np.random.default_rng(1)))
    assert not np.array_equal(a, render(rows, np.random.default_rng(2)))
    assert a.shape == (len(rows), 3, 16, 16) and a.dtype == np.float32


def test_splits_are_disjoint_and_held_out_pairs_only_in_heldout(splits):
    flat = {s: to_np(ds.images).reshape(len(ds), -1) for s, ds in splits.items()}
    for a, b in itertools.combinations(flat, 2):
        joined = np.concatenate([flat[a], flat[b]])
        assert len(np.unique(joined, axis=0)) == len(joined), (a, b)
    for split, ds in splits.items():
        held = is_held_out(to_np(ds.attrs))
        assert held.all() if split == "heldout" else not held.any()
    # every seen combination occurs in training, every held-out one in heldout
    assert len(np.unique(to_np(splits["train"].attrs), axis=0)) == 96
    assert len(np.unique(to_np(splits["heldout"].attrs), axis=0)) == 32


# -------------------------------------------------------------------------------------- captions
def test_every_caption_encodes_decodes_and_states_its_attributes(splits):
    for ds in splits.values():
        tokens, lengths, attrs = to_np(ds.tokens), to_np(ds.lengths), to_np(ds.attrs)
        for i in range(0, len(ds), 7):
            assert len(set(ds.captions[i])) == CAPTIONS_PER_IMAGE       # 5 templates
            for j, text in enumerate(ds.captions[i]):
                ids = VOCAB.encode(text)
                assert len(ids) == lengths[i, j]
                np.testing.assert_array_equal(tokens[i, j, :len(ids)], ids)
                assert (tokens[i, j, len(ids):] == PAD).all()
                assert VOCAB.decode(tokens[i, j]) == text
                np.testing.assert_array_equal(parse_caption(text), attrs[i])


def test_every_template_and_synonym_parses_back():
    """Exhaustive: all 128 rows x 8 templates x every choice of synonyms."""
    count, longest = 0, 0
    for row in all_combinations():
        options = [SYNONYMS[name][row[k]] for k, name in enumerate(ATTRIBUTES)]
        for template in TEMPLATES:
            for choice in itertools.product(*options):
                text = template.format(**dict(zip(ATTRIBUTES, choice)))
                assert parse_caption(text).tolist() == row.tolist(), text
                ids = VOCAB.encode(text)
                assert VOCAB.decode(ids) == text
                longest = max(longest, len(ids))
                count += 1
    assert longest == MAX_WORDS
    assert count > 10000


def test_caption_functions():
    rng = np.random.default_rng(0)
    row = np.array([1, 2, 0, 3])                              # a small blue square, bottom right
    assert describe(row) == "a small blue square in the bottom right"
    assert describe([0, 0, 0, 0]) == "a small red circle in the top left"
    assert attribute_names(row) == {"shape": "square", "colour": "blue", "size": "small",
                                    "position": "bottom right"}
    texts = {caption(row, rng) for _ in range(200)}
    assert len(texts) > 40                                    # templates x synonyms
    assert any(t.startswith("there is") for t in texts) and any(":" in t for t in texts)
    assert any("box" in t for t in texts) and any("lower right" in t for t in texts)
    five = captions_for(row, rng)
    assert len(five) == CAPTIONS_PER_IMAGE
    assert all(caption(row, rng, template=3).startswith("the blue ") for _ in range(10))
    for text in texts:
        assert text == text.lower() and "  " not in text
        assert tokenize(text) == text.split()                 # punctuation is its own token
    with pytest.raises(ValueError, match="template"):
        caption(row, rng, template=len(TEMPLATES))
    with pytest.raises(ValueError, match="position"):
        describe([0, 0, 0, 4])


def test_parse_caption_errors():
    assert parse_caption("Top left: a LITTLE red disc").tolist() == [0, 0, 0, 0]
    assert parse_caption("the lower right corner has a huge plus sign that is yellow"
                         ).tolist() == [3, 3, 1, 3]
    with pytest.raises(ValueError, match="missing.*position"):
        parse_caption("a small red circle")
    with pytest.raises(ValueError, match="more than once.*colour"):
        parse_caption("a small red blue circle in the top left")


# ------------------------------------------------------------------------------------ vocabulary
def test_vocabulary():
    assert VOCAB.words[PAD] == "<pad>" and PAD == 0
    assert list(VOCAB.words[1:]) == sorted(VOCAB.words[1:])
    assert C.build_vocabulary() == VOCAB
    for words in ("red", "disc", "corner", ",", ":", "there", "plus", "sign"):
        assert words in VOCAB
    assert MAX_WORDS == 12
    ids = VOCAB.encode("Top left: a little red disc")
    assert ids.dtype == np.int64
    assert VOCAB.decode(ids) == "top left : a little red disc"
    padded = VOCAB.encode("a tiny green box in the lower right", max_len=MAX_WORDS)
    assert padded.shape == (MAX_WORDS,) and (padded[8:] == PAD).all()
    with pytest.raises(ValueError, match="max_len"):
        VOCAB.encode("a tiny green box in the lower right", max_len=3)
    tokens, lengths = VOCAB.encode_batch(["a red disc", "top left : a tiny blue box"], 10)
    assert tokens.shape == (2, 10) and tokens.dtype == np.int64
    assert lengths.tolist() == [3, 7] and lengths.dtype == np.int64
    assert (tokens[0, 3:] == PAD).all()
    assert VOCAB.decode(tokens) == ["a red disc", "top left : a tiny blue box"]
    tokens, lengths = VOCAB.encode_batch(["a red disc", "a box"])
    assert tokens.shape == (2, 3)
    with pytest.raises(ValueError, match="no words"):
        VOCAB.encode("   ")
    with pytest.raises(ValueError):
        Vocabulary(["red", "<pad>"])


def test_unknown_word_is_named_with_the_known_words():
    with pytest.raises(ValueError) as err:
        VOCAB.encode("a small purple circle in the top left")
    msg = str(err.value)
    assert "purple" in msg
    assert all(w in msg for w in ("red", "green", "blue", "yellow", "circle", "corner"))
    with pytest.raises(ValueError, match="'hexagon'.*'purple'"):
        VOCAB.encode_batch(["a red disc", "a purple hexagon"], MAX_WORDS)


# ------------------------------------------------------------------------------------- batches
def test_caption_batch_and_stream(splits):
    ds = splits["test"]
    tokens_all = to_np(ds.tokens)
    images, tokens, lengths, attrs = ds.caption_batch([3, 0, 3], np.random.default_rng(0))
    assert to_np(images).shape == (3, 3, 16, 16) and to_np(tokens).shape == (3, MAX_WORDS)
    assert to_np(lengths).shape == (3,) and to_np(attrs).shape == (3, 4)
    for k, i in enumerate([3, 0, 3]):
        assert any(np.array_equal(to_np(tokens)[k], t) for t in tokens_all[i])
    stream = ds.batches(32, seed=4)
    assert len(stream) == 16
    first = [stream.next() for _ in range(3)]
    again = ds.batches(32, seed=4)
    state = {"step": np.int64(2), "seed": np.int64(4), "batch_size": np.int64(32),
             "num_examples": np.int64(len(ds))}
    again.load_state_dict(state)
    for a, b in zip(again.next(), first[2]):
        np.testing.assert_array_equal(to_np(a), to_np(b))
    x, t, n, a = first[0]
    np.testing.assert_array_equal(to_np(n), (to_np(t) != PAD).sum(1))
    for row_t, row_a in zip(to_np(t), to_np(a)):
        np.testing.assert_array_equal(parse_caption(VOCAB.decode(row_t)), row_a)
    # the caption is picked afresh: row 0 asked 100 times gets each of its five
    _, t, _, _ = ds.caption_batch(np.zeros(100, np.int64), np.random.default_rng(1))
    picks = [next(j for j in range(5) if np.array_equal(tokens_all[0, j], row)) for row in to_np(t)]
    assert sorted(set(picks)) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="indices"):
        ds.caption_batch([len(ds)], np.random.default_rng(0))


# ------------------------------------------------------------------------------------ bad inputs
def test_bad_inputs_to_the_dataset():
    with pytest.raises(ValueError, match="split"):
        load_captioned_shapes("validation")
    with pytest.raises(ValueError, match="seed"):
        load_captioned_shapes("train", n=2, seed=-1)
    with pytest.raises(ValueError, match="n must"):
        load_captioned_shapes("train", n=0)
    with pytest.raises(ValueError, match="size"):
        load_captioned_shapes("train", n=2, size=15)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        render([0, 0, 0, 0], np.random.default_rng(0))
    with pytest.raises(ValueError, match="size must be in 0..1"):
        render([[0, 0, 2, 0]], np.random.default_rng(0))
    with pytest.raises(ValueError, match="Generator"):
        render([[0, 0, 0, 0]], 0)


# ---------------------------------------------------------------------------------------- judge
@pytest.mark.quality
def test_judge_reads_fresh_renders_of_every_combination(judge):
    rows = np.tile(all_combinations(), (4, 1))                     # all 128, four styles each
    images = render(rows, np.random.default_rng(2024))
    acc = judge.accuracy(images, rows)
    assert set(acc) == {"shape", "colour", "size", "position", "all"}
    assert acc["all"] >= 0.97, acc
    held = load_captioned_shapes("heldout", n=256, seed=9)        # pairs the generator never sees
    assert judge.accuracy(held.images, held.attrs)["all"] >= 0.97
    pred = judge.predict(images)
    assert pred.shape == (len(rows), 4) and pred.dtype == np.int64
    feats = judge.features(images[:10])
    assert feats.shape == (10, judge.feature_dim) and feats.dtype == np.float64
    np.testing.assert_array_equal(judge(images[:10]), feats)
    assert judge.info["steps"] == 600 and "seconds" in judge.info


def test_judge_training_is_deterministic():
    a = train_judge(seed=3, n=256, steps=10, check=64)
    b = train_judge(seed=3, n=256, steps=10, check=64)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k])
    assert set(a.info["accuracy"]) == {"shape", "colour", "size", "position", "all"}


def test_judge_save_load_round_trip(judge, tmp_path):
    path = tmp_path / "judge.npz"
    judge.save(path)
    back = load_judge(path)
    images = load_captioned_shapes("test", n=64, seed=1).images
    np.testing.assert_array_equal(back.predict(images), judge.predict(images))
    np.testing.assert_array_equal(back.features(images), judge.features(images))
    assert back.info == judge.info and back.size == 16
    assert [p.name for p in tmp_path.iterdir()] == ["judge.npz"]         # no temp file left


def test_load_judge_is_strict(judge, tmp_path):
    good = tmp_path / "judge.npz"
    judge.save(good)
    with np.load(good) as f:
        arrays = {k: f[k] for k in f.files}
    missing = dict(arrays)
    del missing[next(k for k in missing if k.startswith("shape.head"))]
    np.savez(tmp_path / "missing.npz", **missing)
    with pytest.raises(ValueError, match="missing.npz"):
        load_judge(tmp_path / "missing.npz")
    np.savez(tmp_path / "extra.npz", **arrays, **{"colour.extra": np.zeros(3)})
    with pytest.raises(ValueError, match="extra"):
        load_judge(tmp_path / "extra.npz")
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a minigan judge"):
        load_judge(tmp_path / "plain.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="junk.npz"):
        load_judge(tmp_path / "junk.npz")


def test_bad_inputs_to_the_judge(judge):
    good = render([[0, 0, 0, 0]], np.random.default_rng(0))
    for bad in (good[0], good[:, :1], np.zeros((2, 3, 32, 32), np.float32),
                np.zeros((0, 3, 16, 16), np.float32)):
        with pytest.raises(ValueError, match=r"\(N, 3, 16, 16\)"):
            judge.predict(bad)
    with pytest.raises(ValueError, match=r"floating-point.*\(N, 3, 16, 16\)"):
        judge.predict(good.astype(np.int64))
    nan = good.copy()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        judge.features(nan)
    with pytest.raises(ValueError, match="attribute rows"):
        judge.accuracy(np.concatenate([good, good]), [[0, 0, 0, 0]])
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        judge.accuracy(good, [0, 0, 0, 0])
    with pytest.raises(ValueError, match="one entry per attribute"):
        Judge(widths=(4, 4))
