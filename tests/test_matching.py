"""The image–text matching losses of chapter 12: values against direct loops, gradients
against float64 finite differences (normalisation included), masks, errors."""
import numpy as np
import pytest

from minigan.gradcheck import check_scalar_function
from minigan.nn.matching import (cosine_matrix, joint_embedding_loss, mismatch_mask,
                                 sentence_matching_loss)

TOL = 1e-6


def batch(N, E, seed, K=4, n_values=2):
    rng = np.random.default_rng(seed)
    attrs = rng.integers(0, n_values, (N, K))
    return rng.standard_normal((N, E)), rng.standard_normal((N, E)), attrs


def joint_loops(v, t, attrs, margin):
    """Reed's hinge written as the paper's sums, one pair at a time."""
    N = v.shape[0]
    cos = lambda a, b: a @ b / np.sqrt(a @ a + 1e-8) / np.sqrt(b @ b + 1e-8)
    total = 0.0
    for i in range(N):
        for j in range(N):
            if (attrs[i] != attrs[j]).any():
                total += max(0.0, margin + cos(v[i], t[j]) - cos(v[i], t[i]))
                total += max(0.0, margin + cos(v[j], t[i]) - cos(v[i], t[i]))
    return total / N


def matching_loops(v, t, gamma):
    N = v.shape[0]
    S = np.array([[a @ b / np.sqrt(a @ a + 1e-8) / np.sqrt(b @ b + 1e-8) for b in t] for a in v])
    total = 0.0
    for i in range(N):
        total -= gamma * S[i, i] - np.log(np.exp(gamma * S[i]).sum())
        total -= gamma * S[i, i] - np.log(np.exp(gamma * S[:, i]).sum())
    return total / N


@pytest.mark.parametrize("N, E, seed, margin", [(2, 3, 0, 0.2), (5, 4, 1, 0.2), (8, 6, 2, 0.5),
                                                (7, 2, 3, 0.1), (6, 5, 4, 1.0)])
def test_joint_embedding_value_and_gradient(N, E, seed, margin):
    v, t, attrs = batch(N, E, seed)
    M = mismatch_mask(attrs)
    loss, dv, dt = joint_embedding_loss(v, t, M, margin)
    assert loss == pytest.approx(joint_loops(v, t, attrs, margin), rel=1e-12, abs=1e-12)
    errs = check_scalar_function(lambda: joint_embedding_loss(v, t, M, margin)[0],
                                 {"v": v, "t": t}, {"v": dv, "t": dt})
    assert max(errs.values()) < TOL, errs


def test_joint_embedding_ignores_pairs_of_the_same_description():
    v, t, _ = batch(4, 3, 5)
    same = np.zeros((4, 4), dtype=int)          # every example the same description
    loss, dv, dt = joint_embedding_loss(v, t, mismatch_mask(same))
    assert loss == 0 and not dv.any() and not dt.any()
    # a perfectly separated batch (each embedding along its own axis) has no active hinge
    eye = np.eye(4)
    assert joint_embedding_loss(eye, eye, mismatch_mask(np.arange(4)), 0.5)[0] == 0


@pytest.mark.parametrize("N, E, seed, gamma", [(2, 3, 0, 10.0), (5, 4, 1, 10.0), (6, 2, 2, 3.0),
                                               (9, 5, 3, 1.0)])
def test_sentence_matching_value_and_gradient(N, E, seed, gamma):
    v, t, _ = batch(N, E, seed)
    loss, dv, dt = sentence_matching_loss(v, t, gamma)
    assert loss == pytest.approx(matching_loops(v, t, gamma), rel=1e-12)
    errs = check_scalar_function(lambda: sentence_matching_loss(v, t, gamma)[0],
                                 {"v": v, "t": t}, {"v": dv, "t": dt})
    assert max(errs.values()) < TOL, errs


def test_sentence_matching_masks_shared_descriptions():
    v, t, attrs = batch(6, 4, 7, n_values=1)
    attrs[:3] = 0
    attrs[3:] = 1                                # two descriptions, three examples each
    same = ~mismatch_mask(attrs)
    loss, dv, dt = sentence_matching_loss(v, t, 5.0, same=same)
    errs = check_scalar_function(lambda: sentence_matching_loss(v, t, 5.0, same=same)[0],
                                 {"v": v, "t": t}, {"v": dv, "t": dt})
    assert max(errs.values()) < TOL, errs
    # with the others of its description removed, each row is a 4-way choice: loss <= 2 log(4)+
    # at equal similarities
    flat = np.ones((6, 3))
    assert sentence_matching_loss(flat, flat, 5.0, same=same)[0] == pytest.approx(2 * np.log(4))


def test_cosine_matrix_is_cosine():
    v, t, _ = batch(3, 4, 8)
    S, _ = cosine_matrix(v, t)
    for i in range(3):
        for j in range(3):
            c = v[i] @ t[j] / np.linalg.norm(v[i]) / np.linalg.norm(t[j])
            assert S[i, j] == pytest.approx(c, rel=1e-7)


def test_errors_name_what_was_expected():
    v, t, attrs = batch(4, 3, 0)
    with pytest.raises(ValueError, match=r"same shape \(N, E\)"):
        joint_embedding_loss(v, t[:, :2], mismatch_mask(attrs))
    with pytest.raises(ValueError, match=r"mismatch mask of shape \(4, 4\)"):
        joint_embedding_loss(v, t, mismatch_mask(attrs)[:3])
    with pytest.raises(ValueError, match="at least 2"):
        sentence_matching_loss(v[:1], t[:1])
    with pytest.raises(ValueError, match="floating-point"):
        sentence_matching_loss(v.astype(int), t.astype(int))


# --- DAMSM's word loss -----------------------------------------------------------------------------
from minigan.nn.matching import word_matching_loss  # noqa: E402


def word_loss_loops(regions, words, mask, g1, g2, g3):
    """AttnGAN's word loss written pair by pair and word by word, as the paper's equations."""
    N = regions.shape[0]
    Rik = np.zeros((N, N))
    for i in range(N):
        v = regions[i]                                            # (D, R)
        for k in range(N):
            terms = []
            for t in np.flatnonzero(mask[k]):
                e = words[k, :, t]
                s = e @ v
                alpha = np.exp(g1 * (s - s.max()))
                alpha /= alpha.sum()
                c = v @ alpha
                cos = c @ e / np.sqrt(c @ c + 1e-8) / np.sqrt(e @ e + 1e-8)
                terms.append(np.exp(g2 * cos))
            Rik[i, k] = np.log(np.sum(terms)) / g2
    L = g3 * Rik
    rows = -np.mean([L[i, i] - np.log(np.exp(L[i]).sum()) for i in range(N)])
    cols = -np.mean([L[k, k] - np.log(np.exp(L[:, k]).sum()) for k in range(N)])
    return rows + cols


@pytest.mark.parametrize("N, D, R, T, seed, gammas", [(2, 3, 4, 3, 0, (5, 5, 10)),
                                                      (3, 4, 5, 6, 1, (5, 5, 10)),
                                                      (4, 2, 1, 5, 2, (1, 2, 3)),
                                                      (3, 5, 16, 4, 3, (4, 5, 10))])
def test_word_matching_value_and_gradient(N, D, R, T, seed, gammas):
    rng = np.random.default_rng(seed)
    regions, words = rng.standard_normal((N, D, R)), rng.standard_normal((N, D, T))
    mask = np.ones((N, T), dtype=bool)
    mask[1, T // 2:] = False                                      # captions of other lengths
    mask[-1, 1:] = False                                          # a caption of one word
    loss, dr, dw = word_matching_loss(regions, words, mask, *gammas)
    assert loss == pytest.approx(word_loss_loops(regions, words, mask, *gammas), rel=1e-10)
    errs = check_scalar_function(lambda: word_matching_loss(regions, words, mask, *gammas)[0],
                                 {"regions": regions, "words": words},
                                 {"regions": dr, "words": dw})
    assert max(errs.values()) < TOL, errs
    assert not dw[~np.broadcast_to(mask[:, None, :], dw.shape)].any()   # pads: no gradient
    garbage = words.copy()
    garbage[1, :, T // 2:] = 1e3                                  # padded words change nothing
    assert word_matching_loss(regions, garbage, mask, *gammas)[0] == pytest.approx(loss, rel=1e-12)


def test_word_matching_masks_shared_descriptions_and_refuses_bad_input():
    rng = np.random.default_rng(5)
    regions, words = rng.standard_normal((4, 3, 4)), rng.standard_normal((4, 3, 5))
    mask = np.ones((4, 5), dtype=bool)
    same = np.zeros((4, 4), dtype=bool)
    same[0, 1] = same[1, 0] = True
    loss, dr, dw = word_matching_loss(regions, words, mask, same=same)
    errs = check_scalar_function(lambda: word_matching_loss(regions, words, mask, same=same)[0],
                                 {"regions": regions, "words": words},
                                 {"regions": dr, "words": dw})
    assert max(errs.values()) < TOL, errs
    with pytest.raises(ValueError, match=r"regions \(N, D, R\) and words \(N, D, T\)"):
        word_matching_loss(regions, words[:, :2], mask)
    with pytest.raises(ValueError, match="a real word in every row"):
        word_matching_loss(regions, words, np.zeros((4, 5), dtype=bool))
    with pytest.raises(ValueError, match="at least 2"):
        word_matching_loss(regions[:1], words[:1], mask[:1])
