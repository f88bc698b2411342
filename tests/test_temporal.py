"""Conv1d, MaxPool1d, WordAttention: forward against direct loops, backward against finite
differences (float64, random upstream gradients, non-zero parameters), ties as torch, padded
words really ignored, init, errors, the layer contract."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minigan.gradcheck import check_layer, check_scalar_function
from minigan.nn import Conv1d, MaxPool1d, WordAttention
from minigan.nn.module import LAYER_BYTES, BudgetExceeded, allocation_budget

TOL = 1e-6


def randomize(layer, seed=0):
    """Non-trivial float64 parameters: weights AND biases random normal."""
    layer.to("float64")
    rng = np.random.default_rng(seed)
    for p in layer.params.values():
        p[...] = rng.standard_normal(p.shape)
    return layer


# --- direct definitions, written independently of the unfold ---------------------------------

def conv1d_naive(x, w, b, stride, padding, dilation):
    """y[n, f, o] = b[f] + Σ_{c,k} w[f, c, k] · x_pad[n, c, o·s + k·d], one scalar at a time."""
    N, C, L = x.shape
    F, _, K = w.shape
    xp = np.zeros((N, C, L + 2 * padding))
    xp[:, :, padding: padding + L] = x
    OL = (L + 2 * padding - dilation * (K - 1) - 1) // stride + 1
    y = np.zeros((N, F, OL))
    for n in range(N):
        for f in range(F):
            for o in range(OL):
                acc = 0.0 if b is None else b[f]
                for c in range(C):
                    for k in range(K):
                        acc += w[f, c, k] * xp[n, c, o * stride + k * dilation]
                y[n, f, o] = acc
    return y


def maxpool1d_naive(x, kernel, stride, padding):
    """Loops over windows; padding is −∞ and the route of each window's gradient is its first
    maximum (torch's rule), returned as (N, C, OL) positions in x."""
    N, C, L = x.shape
    xp = np.full((N, C, L + 2 * padding), -np.inf)
    xp[:, :, padding: padding + L] = x
    OL = (L + 2 * padding - kernel) // stride + 1
    y = np.zeros((N, C, OL))
    where = np.zeros((N, C, OL), dtype=int)
    for n in range(N):
        for c in range(C):
            for o in range(OL):
                best = None
                for k in range(kernel):
                    if best is None or xp[n, c, o * stride + k] > xp[n, c, o * stride + best]:
                        best = k                                    # strictly: the first wins
                y[n, c, o] = xp[n, c, o * stride + best]
                where[n, c, o] = o * stride + best - padding
    return y, where


def word_attention_naive(h, words, mask, U):
    """AttnGAN's F^attn, one region at a time: e = U·words; for region j, a softmax over the
    real words of r_j · e_t, and the context Σ_t a_t e_t (padded words take no part)."""
    N, C, H, W = h.shape
    T = words.shape[2]
    context = np.zeros((N, C, H * W))
    attention = np.zeros((N, H * W, T))
    for n in range(N):
        real = [t for t in range(T) if mask[n, t]]
        e = U @ words[n][:, real]                                   # (C, real words)
        r = h[n].reshape(C, H * W)
        for j in range(H * W):
            s = np.array([r[:, j] @ e[:, i] for i in range(len(real))])
            a = np.exp(s - s.max())
            a /= a.sum()
            context[n, :, j] = e @ a
            attention[n, j, real] = a
    return context.reshape(N, C, H, W), attention


# --- Conv1d ------------------------------------------------------------------------------------

# (C, F, N, L, kernel, stride, padding, dilation, bias)
CONV1D_CONFIGS = [
    (2, 3, 2, 7, 3, 1, 0, 1, True),
    (2, 3, 1, 9, 3, 2, 1, 1, True),               # batch 1, odd length, stride 2, padding 1
    (3, 2, 2, 11, 4, 3, 2, 1, True),              # stride 3, padding 2
    (2, 2, 2, 9, 3, 1, 1, 2, True),               # dilation 2
    (2, 3, 2, 13, 3, 2, 2, 2, True),              # stride 2, padding 2, dilation 2
    (3, 4, 2, 5, 1, 1, 0, 1, True),               # kernel 1 (a per-position Linear)
    (2, 2, 1, 7, 2, 3, 0, 1, False),              # no bias; windows skip positions (s > k)
    (1, 1, 1, 1, 1, 1, 0, 1, True),               # C·K = 1: products are outer products
    (3, 1, 2, 6, 5, 1, 2, 1, True),               # one filter
    (1, 2, 2, 5, 5, 1, 0, 1, False),              # kernel = length: one output position
    (2, 2, 3, 4, 3, 2, 2, 3, True),               # dilated kernel longer than the input
]


def make_conv1d(cfg, seed=0):
    C, F, N, L, k, s, p, d, bias = cfg
    return randomize(Conv1d(C, F, k, stride=s, padding=p, dilation=d, bias=bias), seed)


@pytest.mark.parametrize("cfg", CONV1D_CONFIGS)
def test_conv1d_forward_matches_definition(cfg):
    C, F, N, L, k, s, p, d, bias = cfg
    layer = make_conv1d(cfg)
    x = np.random.default_rng(1).standard_normal((N, C, L))
    y, _ = layer.forward(x)
    expected = conv1d_naive(x, layer.params["weight"], layer.params.get("bias"), s, p, d)
    assert y.shape == expected.shape == (N, F, layer.output_size(L))
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    assert y.flags.c_contiguous


@pytest.mark.parametrize("cfg", CONV1D_CONFIGS)
def test_conv1d_gradcheck(cfg):
    C, F, N, L, k, s, p, d, bias = cfg
    layer = make_conv1d(cfg, seed=2)
    x = np.random.default_rng(3).standard_normal((N, C, L))
    errors = check_layer(layer, x, seed=4)
    assert set(errors) == ({"x", "weight", "bias"} if bias else {"x", "weight"})
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("cfg", CONV1D_CONFIGS)
def test_conv1d_backward_params_adds_what_backward_adds(cfg):
    C, F, N, L, k, s, p, d, bias = cfg
    a, b = make_conv1d(cfg, seed=5), make_conv1d(cfg, seed=5)
    x = np.random.default_rng(6).standard_normal((N, C, L))
    y, cache = a.forward(x)
    dy = np.random.default_rng(7).standard_normal(y.shape)
    a.zero_grad(), b.zero_grad()
    for _ in range(2):                                       # they accumulate alike
        assert a.backward(dy, cache).shape == x.shape
        assert b.backward_params(dy, b.forward(x)[1]) is None
    for name in a.grads:
        np.testing.assert_array_equal(a.grads[name], b.grads[name], err_msg=name)


@settings(max_examples=15, deadline=None)
@given(C=st.integers(1, 3), F=st.integers(1, 3), N=st.integers(1, 2), L=st.integers(1, 12),
       K=st.integers(1, 5), s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 3),
       seed=st.integers(0, 99))
def test_property_conv1d_matches_definition_and_its_adjoint(C, F, N, L, K, s, p, d, seed):
    """For any geometry: the direct definition, and ⟨conv(x) − b, g⟩ = ⟨x, backward(g)⟩ (the
    input gradient is the adjoint of the linear map); a geometry that does not fit: an error."""
    layer = randomize(Conv1d(C, F, K, stride=s, padding=p, dilation=d), seed)
    OL = (L + 2 * p - d * (K - 1) - 1) // s + 1
    if OL <= 0:
        with pytest.raises(ValueError, match="too short"):
            layer.forward(np.zeros((N, C, L)))
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, L))
    y, cache = layer.forward(x)
    np.testing.assert_allclose(y, conv1d_naive(x, layer.params["weight"], layer.params["bias"],
                                               s, p, d), rtol=1e-11, atol=1e-11)
    g = rng.standard_normal(y.shape)
    lhs = float(((y - layer.params["bias"][None, :, None]) * g).sum())
    assert math.isclose(lhs, float((x * layer.backward(g, cache)).sum()), rel_tol=1e-9,
                        abs_tol=1e-9)


def test_conv1d_torch_initialisation_and_output_sizes():
    layer = Conv1d(32, 64, 5, rng=np.random.default_rng(0))
    w, b = layer.params["weight"], layer.params["bias"]
    assert w.shape == (64, 32, 5) and b.shape == (64,) and w.dtype == np.float32
    bound = 1 / math.sqrt(32 * 5)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound      # uniform(−bound, bound)
    assert np.abs(b).max() > 0.5 * bound                           # not zeros
    assert "bias" not in Conv1d(3, 4, 3, bias=False).params
    # torch's sizes: ⌊(L + 2p − d(K − 1) − 1) / s⌋ + 1
    assert Conv1d(3, 3, 3, stride=2, padding=1).output_size(16) == 8
    assert Conv1d(3, 3, 3, stride=2, padding=1, dilation=2).output_size(9) == 4
    assert Conv1d(3, 3, (3,), stride=(2,)).kernel_size == 3        # 1-tuples, as torch


def test_conv1d_errors_are_clear():
    conv = Conv1d(3, 4, 3)
    with pytest.raises(ValueError, match=r"3 channels, shape \(N, 3, L\)"):
        conv.forward(np.zeros((2, 4, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"too short.*\(N, 3, L\) with L >= 3"):
        conv.forward(np.zeros((2, 3, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"3 dimensions \(N, 3, L\)"):
        conv.forward(np.zeros((2, 3, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"Conv1d.*floating-point"):
        conv.forward(np.zeros((2, 3, 8), dtype=np.int64))
    with pytest.raises(ValueError, match="dtype"):
        conv.forward(np.zeros((2, 3, 8)))                          # float64 vs float32 params
    y, cache = conv.forward(np.zeros((2, 3, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"dy of shape \(2, 4, 6\)"):
        conv.backward(np.zeros((2, 4, 5), dtype=np.float32), cache)
    for kwargs, name in (({"stride": 0}, "stride"), ({"padding": -1}, "padding"),
                         ({"dilation": 0}, "dilation"), ({"kernel_size": 2.5}, "kernel_size"),
                         ({"kernel_size": (3, 3)}, "kernel_size"),
                         ({"kernel_size": True}, "kernel_size"),
                         ({"in_channels": 0}, "in_channels"),
                         ({"out_channels": 1.0}, "out_channels")):
        args = {"in_channels": 3, "out_channels": 4, "kernel_size": 3, **kwargs}
        with pytest.raises(ValueError, match=f"Conv1d: {name}"):
            Conv1d(**args)


def test_conv1d_contract_caches_accumulation_and_dy_untouched():
    """Two forwards then two backwards: each uses its own cache, the gradients add up, dy is
    not written, and the layer keeps nothing of a call."""
    layer = randomize(Conv1d(2, 3, 3, stride=2, padding=1))
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((2, 2, 9)), rng.standard_normal((3, 2, 6))
    attrs = set(vars(layer))
    ya, ca = layer.forward(xa)
    yb, cb = layer.forward(xb)
    assert set(vars(layer)) == attrs
    dya, dyb = rng.standard_normal(ya.shape), rng.standard_normal(yb.shape)
    dya_copy = dya.copy()
    layer.zero_grad()
    dxb = layer.backward(dyb, cb)
    dxa = layer.backward(dya, ca)
    np.testing.assert_array_equal(dya, dya_copy)
    both = {k: g.copy() for k, g in layer.grads.items()}
    for x, dy, dx_seen in ((xa, dya, dxa), (xb, dyb, dxb)):
        layer.zero_grad()
        np.testing.assert_allclose(layer.backward(dy, layer.forward(x)[1]), dx_seen)
        for k in both:
            both[k] -= layer.grads[k]
    for rest in both.values():
        np.testing.assert_allclose(rest, 0, atol=1e-12)


def test_conv1d_float32_runs_in_float32_and_agrees_with_float64():
    layer = Conv1d(3, 4, 3, padding=1, dilation=2)
    x = np.random.default_rng(0).standard_normal((2, 3, 10)).astype(np.float32)
    y, cache = layer.forward(x)
    dx = layer.backward(np.ones_like(y), cache)
    assert y.dtype == dx.dtype == layer.grads["weight"].dtype == np.float32
    y64, _ = layer.to("float64").forward(x.astype(np.float64))
    np.testing.assert_allclose(y, y64, rtol=1e-4, atol=1e-5)


# --- MaxPool1d ---------------------------------------------------------------------------------

# (shape, kernel, stride, padding)
POOL1D_CONFIGS = [
    ((2, 2, 8), 2, None, 0),                 # the classic: 2, stride 2
    ((2, 2, 7), 3, 1, 0),                    # overlapping, stride 1
    ((1, 2, 9), 3, 2, 1),                    # overlapping with padding, batch 1
    ((2, 1, 7), 4, 2, 2),                    # padding 2
    ((1, 3, 10), 3, 3, 0),                   # positions left over at the end
    ((2, 2, 5), 1, 1, 0),                    # kernel 1: the identity
    ((2, 1, 6), 2, 3, 1),                    # windows skip positions (s > k)
    ((1, 1, 1), 1, None, 0),
]


@pytest.mark.parametrize("cfg", POOL1D_CONFIGS)
def test_maxpool1d_forward_and_gradcheck(cfg):
    shape, k, s, p = cfg
    pool = MaxPool1d(k, s, p)
    x = np.random.default_rng(0).standard_normal(shape)
    y, _ = pool.forward(x)
    expected, _ = maxpool1d_naive(x, k, s if s is not None else k, p)
    np.testing.assert_array_equal(y, expected)
    errors = check_layer(pool, x, seed=1)
    assert set(errors) == {"x"} and errors["x"] < TOL, errors


@pytest.mark.parametrize("cfg", POOL1D_CONFIGS)
def test_maxpool1d_ties_go_to_the_first_maximum(cfg):
    """Integer-valued inputs make ties everywhere (a constant input is all ties); each
    window's gradient goes to its first maximum, as torch."""
    shape, k, s, p = cfg
    s = s if s is not None else k
    rng = np.random.default_rng(2)
    for x in (np.zeros(shape), rng.integers(0, 2, shape).astype(np.float64),
              rng.integers(-2, 3, shape).astype(np.float64)):
        pool = MaxPool1d(k, s, p)
        y, cache = pool.forward(x)
        dy = rng.standard_normal(y.shape)
        dx = pool.backward(dy, cache)
        _, where = maxpool1d_naive(x, k, s, p)
        expected = np.zeros_like(x)
        for n, c, o in np.ndindex(y.shape):
            expected[n, c, where[n, c, o]] += dy[n, c, o]
        np.testing.assert_allclose(dx, expected, rtol=1e-13, atol=1e-13)


@settings(max_examples=15, deadline=None)
@given(N=st.integers(1, 2), C=st.integers(1, 2), L=st.integers(1, 12), k=st.integers(1, 5),
       s=st.integers(1, 3), p=st.integers(0, 2), seed=st.integers(0, 99))
def test_property_maxpool1d_routes_all_of_dy(N, C, L, k, s, p, seed):
    """Each window sends its whole gradient to one real position (never to the padding), so
    Σ dx = Σ dy, and the output is the max of the naive windows."""
    if p > k // 2 or L + 2 * p < k:
        return
    x = np.random.default_rng(seed).standard_normal((N, C, L))
    pool = MaxPool1d(k, s, p)
    y, cache = pool.forward(x)
    np.testing.assert_array_equal(y, maxpool1d_naive(x, k, s, p)[0])
    dy = np.random.default_rng(seed + 1).standard_normal(y.shape)
    np.testing.assert_allclose(pool.backward(dy, cache).sum(), dy.sum(), rtol=1e-10, atol=1e-10)


def test_maxpool1d_defaults_and_errors():
    assert MaxPool1d(2).stride == 2 and MaxPool1d(3, 1).stride == 1
    pool = MaxPool1d(3)
    x = np.zeros((1, 2, 7), dtype=np.float32)
    y, cache = pool.forward(x)
    assert y.dtype == np.float32 and y.shape == (1, 2, 2)
    assert pool.backward_params(np.zeros_like(y), cache) is None   # no parameters: nothing
    with pytest.raises(ValueError, match="at most half"):
        MaxPool1d(3, 1, 2)
    with pytest.raises(ValueError, match=r"smaller than the window.*\(N, C, L\) with L >= 3"):
        pool.forward(np.zeros((1, 1, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"3 dimensions \(N, C, L\)"):
        pool.forward(np.zeros((2, 4, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="floating-point"):
        pool.forward(np.zeros((2, 4, 4), dtype=np.int32))
    with pytest.raises(ValueError, match=r"dy of shape \(1, 2, 2\)"):
        pool.backward(np.zeros((1, 2, 3), dtype=np.float32), cache)
    for args, name in (((0,), "kernel_size"), ((2, 0), "stride"), ((2, 1, -1), "padding"),
                       ((2.0,), "kernel_size")):
        with pytest.raises(ValueError, match=f"MaxPool1d: {name}"):
            MaxPool1d(*args)


# --- WordAttention -----------------------------------------------------------------------------

# (N, C, D, H, W, T, mask rows: "1" a real word, "0" padding)
ATTN_CONFIGS = [
    (3, 4, 5, 2, 3, 5, ["11111", "11000", "10000"]),   # full, padded, a single word; H ≠ W
    (1, 3, 2, 3, 3, 1, ["1"]),                          # batch 1, T = 1 (attention all 1)
    (2, 2, 3, 1, 4, 4, ["0101", "1110"]),               # padding not at the end
    (2, 5, 4, 3, 2, 3, None),                           # no mask: every word real
    (1, 1, 2, 1, 1, 3, ["101"]),                        # one region, one channel
]


def make_attention_case(cfg, seed=0):
    N, C, D, H, W, T, rows = cfg
    layer = randomize(WordAttention(C, D), seed)
    layer.params["weight"] /= math.sqrt(D)             # e ~ N(0, 1) and, with h / √C, scores
    rng = np.random.default_rng(seed + 1)              # ~ N(0, 1): a softmax not saturated
    h = rng.standard_normal((N, C, H, W)) / math.sqrt(C)
    words = rng.standard_normal((N, D, T))
    mask = None if rows is None else np.array([[ch == "1" for ch in r] for r in rows])
    return layer, h, words, mask


@pytest.mark.parametrize("cfg", ATTN_CONFIGS)
def test_word_attention_forward_matches_definition(cfg):
    layer, h, words, mask = make_attention_case(cfg)
    N, C, D, H, W, T, _ = cfg
    context, cache = layer.forward(h, words, mask)
    full = np.ones((N, T), dtype=bool) if mask is None else mask
    expected, attention = word_attention_naive(h, words, full, layer.params["weight"])
    assert context.shape == (N, C, H, W)
    np.testing.assert_allclose(context, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cache.attention, attention, rtol=1e-12, atol=1e-14)
    # rows sum to 1 over the words, and padded words get exactly 0
    np.testing.assert_allclose(cache.attention.sum(axis=2), 1, rtol=1e-13)
    assert (cache.attention[np.broadcast_to(~full[:, None, :], cache.attention.shape)] == 0).all()
    # the maps, (N, T, H, W): maps[n, t, i, j] is region (i, j)'s weight on word t
    maps = WordAttention.attention_maps(cache)
    assert maps.shape == (N, T, H, W)
    np.testing.assert_array_equal(maps, cache.maps)
    for n, t, i, j in np.ndindex(maps.shape):
        assert maps[n, t, i, j] == cache.attention[n, i * W + j, t]


@pytest.mark.parametrize("cfg", ATTN_CONFIGS)
def test_word_attention_gradcheck(cfg):
    layer, h, words, mask = make_attention_case(cfg, seed=3)
    context, cache = layer.forward(h, words, mask)
    dcontext = np.random.default_rng(4).standard_normal(context.shape)
    layer.zero_grad()
    dh, dwords = layer.backward(dcontext, cache)
    assert dh.shape == h.shape and dwords.shape == words.shape

    def f():
        return float((layer.forward(h, words, mask)[0] * dcontext).sum())

    errors = check_scalar_function(
        f, {"h": h, "words": words, "weight": layer.params["weight"]},
        {"h": dh, "words": dwords, "weight": layer.grads["weight"]})
    assert max(errors.values()) < TOL, errors
    if mask is not None:                               # padded words: no gradient at all
        assert (dwords[np.broadcast_to(~mask[:, None, :], words.shape)] == 0).all()


def test_word_attention_ignores_padded_words():
    """Changing a padded word's features (to other numbers, huge ones, even NaN) changes
    nothing: not the context, not the attention, not any gradient."""
    layer, h, words, mask = make_attention_case(ATTN_CONFIGS[0], seed=5)
    dcontext = np.random.default_rng(6).standard_normal(h.shape)
    results = []
    for fill in (None, 7.0, 1e30, np.nan):
        w = words.copy()
        if fill is not None:
            w[np.broadcast_to(~mask[:, None, :], w.shape)] = fill
        layer.zero_grad()
        context, cache = layer.forward(h, w, mask)
        dh, dwords = layer.backward(dcontext, cache)
        results.append((context, cache.attention, dh, dwords, layer.grads["weight"].copy()))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_word_attention_without_a_mask_is_every_word_real():
    layer, h, words, _ = make_attention_case(ATTN_CONFIGS[0])
    a, _ = layer.forward(h, words)
    b, _ = layer.forward(h, words, np.ones((3, 5), dtype=bool))
    np.testing.assert_array_equal(a, b)


def test_word_attention_contract_and_float32():
    layer, h, words, mask = make_attention_case(ATTN_CONFIGS[0], seed=7)
    rng = np.random.default_rng(8)
    attrs = set(vars(layer))
    ca, cache_a = layer.forward(h, words, mask)
    cb, cache_b = layer.forward(h[:1], words[:1], mask[:1])
    assert set(vars(layer)) == attrs
    da, db = rng.standard_normal(ca.shape), rng.standard_normal(cb.shape)
    da_copy = da.copy()
    layer.zero_grad()
    layer.backward(db, cache_b)
    layer.backward(da, cache_a)
    np.testing.assert_array_equal(da, da_copy)
    both = layer.grads["weight"].copy()
    for args, dc in (((h, words, mask), da), ((h[:1], words[:1], mask[:1]), db)):
        layer.zero_grad()
        layer.backward(dc, layer.forward(*args)[1])
        both -= layer.grads["weight"]
    np.testing.assert_allclose(both, 0, atol=1e-12)
    # float32 in, float32 out, close to float64
    layer32 = WordAttention(4, 5)
    layer32.params["weight"][...] = layer.params["weight"]
    c32, cache32 = layer32.forward(h.astype(np.float32), words.astype(np.float32), mask)
    dh32, dw32 = layer32.backward(np.ones_like(c32), cache32)
    assert c32.dtype == dh32.dtype == dw32.dtype == cache32.attention.dtype == np.float32
    assert layer32.grads["weight"].dtype == np.float32
    np.testing.assert_allclose(c32, ca, rtol=1e-4, atol=1e-5)


def test_word_attention_initialisation():
    layer = WordAttention(64, 300, rng=np.random.default_rng(0))
    U = layer.params["weight"]
    assert U.shape == (64, 300) and U.dtype == np.float32 and set(layer.params) == {"weight"}
    bound = 1 / math.sqrt(300)                             # torch.nn.Linear(D, C, bias=False)
    assert np.abs(U).max() <= bound
    assert abs(U.std() - bound / math.sqrt(3)) < 0.02 * bound


def test_word_attention_errors_are_clear():
    layer = WordAttention(4, 5).to("float64")
    h, words = np.zeros((2, 4, 3, 3)), np.zeros((2, 5, 6))
    ok = np.ones((2, 6), dtype=bool)
    with pytest.raises(ValueError, match=r"mask row\(s\) 1 have no real word"):
        layer.forward(h, words, np.array([[True] * 6, [False] * 6]))
    with pytest.raises(ValueError, match=r"mask of shape \(N, T\) = \(2, 6\)"):
        layer.forward(h, words, np.ones((2, 5), dtype=bool))
    with pytest.raises(ValueError, match="boolean mask.*astype"):
        layer.forward(h, words, np.ones((2, 6), dtype=np.int64))
    with pytest.raises(ValueError, match="boolean array"):
        layer.forward(h, words, [[True] * 6] * 2)
    with pytest.raises(ValueError, match=r"h with 4 channels, shape \(N, 4, H, W\)"):
        layer.forward(np.zeros((2, 3, 3, 3)), words, ok)
    with pytest.raises(ValueError, match=r"words with 5 channels, shape \(N, 5, T\)"):
        layer.forward(h, np.zeros((2, 4, 6)), ok)
    with pytest.raises(ValueError, match="2 images but words holds 3 captions"):
        layer.forward(h, np.zeros((3, 5, 6)), np.ones((3, 6), dtype=bool))
    with pytest.raises(ValueError, match="h with 4 dimensions"):
        layer.forward(np.zeros((2, 4, 9)), words, ok)
    with pytest.raises(ValueError, match="words with 3 dimensions"):
        layer.forward(h, np.zeros((2, 5)), ok)
    with pytest.raises(ValueError, match="floating-point words"):
        layer.forward(h, np.zeros((2, 5, 6), dtype=np.int64), ok)
    _, cache = layer.forward(h, words, ok)
    with pytest.raises(ValueError, match=r"dcontext of shape \(2, 4, 3, 3\)"):
        layer.backward(np.zeros((2, 4, 9)), cache)
    for args, name in (((0, 5), "region_channels"), ((4, 2.0), "word_channels")):
        with pytest.raises(ValueError, match=f"WordAttention: {name}"):
            WordAttention(*args)


# --- the allocation budget ---------------------------------------------------------------------

@pytest.mark.parametrize("build", [lambda: Conv1d(3, 4, 5), lambda: Conv1d(2, 3, 1, bias=False,
                                                                         dtype="float64"),
                                   lambda: WordAttention(6, 7), lambda: MaxPool1d(3)])
def test_budget_charges_what_the_layer_keeps(build):
    with allocation_budget(2**30) as budget:
        layer = build()
    kept = sum(p.nbytes + g.nbytes for _, p, g in layer.named_parameters())
    assert budget.spent == kept + (LAYER_BYTES if kept else 0)
    if budget.spent:
        with pytest.raises(BudgetExceeded):
            with allocation_budget(budget.spent - 1):
                build()


# --- prior weights of the words (GAN-INT's interpolated captions, with attention) --------------

def test_word_attention_prior_weights():
    """a ∝ w·exp(s): the gradient is still exact (the weights are constants), a weight of 0 is
    a mask, equal weights change nothing, and bad weights are refused by name."""
    from minigan.gradcheck import check_scalar_function
    rng = np.random.default_rng(4)
    attn = WordAttention(3, 2, rng=rng, dtype="float64")
    h, words = rng.standard_normal((2, 3, 2, 3)), rng.standard_normal((2, 2, 5))
    mask = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=bool)
    w = rng.uniform(0.2, 2.0, (2, 5))
    dctx = rng.standard_normal((2, 3, 2, 3))
    attn.zero_grad()
    dh, dwords = attn.backward(dctx, attn.forward(h, words, mask, w)[1])
    f = lambda: float((attn.forward(h, words, mask, w)[0] * dctx).sum())
    errs = check_scalar_function(f, {"h": h, "words": words, "U": attn.params["weight"]},
                                 {"h": dh, "words": dwords, "U": attn.grads["weight"].copy()})
    assert max(errs.values()) < 1e-6, errs
    a = attn.forward(h, words, mask, w)[1].attention
    plain = attn.forward(h, words, mask)[1].attention
    expected = plain * w[:, None, :] / (plain * w[:, None, :]).sum(axis=2, keepdims=True)
    np.testing.assert_allclose(a, expected, rtol=1e-12, atol=1e-15)
    zero = w.copy()
    zero[1, 3:] = 0
    masked = mask.copy()
    masked[1, 3:] = False
    np.testing.assert_allclose(attn.forward(h, words, mask, zero)[0],
                               attn.forward(h, words, masked, w)[0], rtol=1e-12)
    np.testing.assert_allclose(attn.forward(h, words, mask, np.full((2, 5), 0.5))[0],
                               attn.forward(h, words, mask)[0], rtol=1e-12)
    with pytest.raises(ValueError, match=r"weights of shape \(N, T\) = \(2, 5\)"):
        attn.forward(h, words, mask, w[:, :4])
    with pytest.raises(ValueError, match="finite and >= 0"):
        attn.forward(h, words, mask, -w)
    with pytest.raises(ValueError, match="no real word"):
        attn.forward(h, words, mask, np.zeros((2, 5)))
