"""Recurrent layers (LSTMCell, LSTM, GRU), the fused LSTM gate kernels, gradient clipping.

Gradient checks run in float64 by central differences of the scalar
Σ y·dy + Σ h_n·dh_n (+ Σ c_n·dc_n), with random upstream gradients on EVERY output (the whole
sequence and the final states), non-zero random biases and initial states, sequence lengths
1..5, batch 1 and 2, one and two layers; every input, initial state and parameter is checked.
"""
import numpy as np
import pytest

from minigan import backend
from minigan.gradcheck import check_scalar_function
from minigan.kernels import lstm as K
from minigan.nn.clip import clip_grad_norm
from minigan.nn.recurrent import GRU, LSTM, LSTMCell

TOL = 1e-6

try:
    import numba  # noqa: F401
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False
needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")


# --- helpers -------------------------------------------------------------------------------
def make(cls, rng, I, H, L=1, bias=True, batch_first=True):
    layer = cls(I, H, num_layers=L, bias=bias, batch_first=batch_first, rng=rng,
                dtype="float64")
    for name, p in layer.params.items():     # larger than the init: gates off their centre
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    return layer


def as_tuple(final):
    return final if isinstance(final, tuple) else (final,)


def rnn_report(layer, x, state, rng, upstream=(True, True, True)):
    """Finite differences of every input, initial state and parameter of an LSTM or GRU.

    ``upstream``: which of (dy, dh_n, dc_n) are random (the others are passed as None)."""
    (y, final), cache = layer.forward(x, state)
    final = as_tuple(final)
    dy = rng.standard_normal(y.shape) if upstream[0] else None
    dfinal = [rng.standard_normal(f.shape) if u else None
              for f, u in zip(final, upstream[1:])]
    layer.zero_grad()
    dx, *dstate = layer.backward(dy, cache, *dfinal)

    def f():
        (y2, fin2), _ = layer.forward(x, state)
        total = 0.0 if dy is None else float((y2 * dy).sum())
        for a, d in zip(as_tuple(fin2), dfinal):
            if d is not None:
                total += float((a * d).sum())
        return total

    arrays, analytic = {"x": x}, {"x": dx}
    if state is not None:
        for i, s in enumerate(as_tuple(state)):
            arrays[f"state{i}"], analytic[f"state{i}"] = s, dstate[i]
    for name, p, g in layer.named_parameters():
        arrays[name], analytic[name] = p, g
    return check_scalar_function(f, arrays, analytic)


def random_state(cls, rng, L, N, H):
    if cls is LSTM:
        return (rng.standard_normal((L, N, H)), rng.standard_normal((L, N, H)))
    return rng.standard_normal((L, N, H))


@pytest.fixture(params=["reference", "numba"])
def gate_kernel(request, monkeypatch):
    """Run a test once with the NumPy gate reference and once with the numba kernels
    (which the dispatch otherwise keeps for N·H ≥ 256, beyond these tiny checks)."""
    if request.param == "numba":
        if not HAVE_NUMBA:
            pytest.skip("numba not installed")
        monkeypatch.delenv("MINIGAN_KERNELS", raising=False)
        monkeypatch.setattr(K, "NUMBA_MIN_SIZE", 0)
    else:
        monkeypatch.setenv("MINIGAN_KERNELS", "numpy")
    return request.param


# --- 1. gradient checks --------------------------------------------------------------------
CASES = [
    # (T, N, I, H, num_layers, initial state, bias, batch_first)
    (1, 1, 3, 2, 1, False, True, True),
    (2, 1, 2, 3, 1, True, True, True),
    (3, 2, 3, 2, 2, True, True, True),
    (4, 1, 2, 2, 2, False, True, True),
    (5, 1, 1, 2, 1, True, False, True),
    (3, 2, 2, 3, 2, True, True, False),       # time-major layout
]


@pytest.mark.parametrize("T,N,I,H,L,with_state,bias,batch_first", CASES)
def test_lstm_gradcheck(T, N, I, H, L, with_state, bias, batch_first, gate_kernel, rng):
    layer = make(LSTM, rng, I, H, L, bias, batch_first)
    x = rng.standard_normal((N, T, I) if batch_first else (T, N, I))
    state = random_state(LSTM, rng, L, N, H) if with_state else None
    report = rnn_report(layer, x, state, rng)
    assert max(report.values()) < TOL, report
    assert len(report) == 1 + 2 * with_state + (4 if bias else 2) * L   # nothing skipped


@pytest.mark.parametrize("T,N,I,H,L,with_state,bias,batch_first", CASES)
def test_gru_gradcheck(T, N, I, H, L, with_state, bias, batch_first, rng):
    layer = make(GRU, rng, I, H, L, bias, batch_first)
    x = rng.standard_normal((N, T, I) if batch_first else (T, N, I))
    state = random_state(GRU, rng, L, N, H) if with_state else None
    report = rnn_report(layer, x, state, rng)
    assert max(report.values()) < TOL, report
    assert len(report) == 1 + with_state + (4 if bias else 2) * L


@pytest.mark.parametrize("upstream", [(True, False, False), (False, True, False),
                                      (False, False, True), (False, True, True)])
def test_lstm_gradcheck_partial_upstream(upstream, rng):
    """Only the output, only h_n, only c_n: the others None (zero)."""
    layer = make(LSTM, rng, 2, 3, 2)
    report = rnn_report(layer, rng.standard_normal((2, 3, 2)),
                        random_state(LSTM, rng, 2, 2, 3), rng, upstream)
    assert max(report.values()) < TOL, report


def test_gru_gradcheck_final_state_only(rng):
    layer = make(GRU, rng, 2, 3, 2)
    report = rnn_report(layer, rng.standard_normal((2, 4, 2)), None, rng, (False, True))
    assert max(report.values()) < TOL, report


@pytest.mark.parametrize("bias", [True, False])
def test_lstm_cell_gradcheck(bias, gate_kernel, rng):
    cell = LSTMCell(3, 4, bias=bias, rng=rng, dtype="float64")
    for p in cell.params.values():
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    (h1, c1), cache = cell.forward(x, (h, c))
    dh1, dc1 = rng.standard_normal(h1.shape), rng.standard_normal(c1.shape)
    dx, dh, dc = cell.backward(dh1, dc1, cache)

    def f():
        (a, b), _ = cell.forward(x, (h, c))
        return float((a * dh1).sum() + (b * dc1).sum())

    arrays = {"x": x, "h": h, "c": c, **cell.params}
    analytic = {"x": dx, "h": dh, "c": dc, **cell.grads}
    report = check_scalar_function(f, arrays, analytic)
    assert max(report.values()) < TOL, report


def test_lstm_is_its_cell_unrolled(rng):
    """One-layer LSTM == LSTMCell applied step by step with the same weights (forward and
    backward), and LSTM backward through the dispatch == through the numba kernel."""
    lstm = make(LSTM, rng, 3, 4)
    cell = LSTMCell(3, 4, rng=rng, dtype="float64")
    for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        cell.params[k][...] = lstm.params[k + "_l0"]
    x = rng.standard_normal((2, 5, 3))
    (y, (h_n, c_n)), cache = lstm.forward(x)
    h, c = np.zeros((2, 4)), np.zeros((2, 4))
    caches = []
    for t in range(5):
        (h, c), ct = cell.forward(x[:, t], (h, c))
        np.testing.assert_allclose(y[:, t], h, rtol=1e-12, atol=1e-14)
        caches.append(ct)
    np.testing.assert_allclose(h_n[0], h, atol=1e-14)
    np.testing.assert_allclose(c_n[0], c, atol=1e-14)
    dy = rng.standard_normal(y.shape)
    dx, _, _ = lstm.backward(dy, cache)
    dh, dc = np.zeros((2, 4)), np.zeros((2, 4))
    for t in reversed(range(5)):
        dx_t, dh, dc = cell.backward(dy[:, t] + dh, dc, caches[t])
        np.testing.assert_allclose(dx[:, t], dx_t, atol=1e-12)
    for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        np.testing.assert_allclose(lstm.grads[k + "_l0"], cell.grads[k], atol=1e-12)


# --- 2. the layer contract -------------------------------------------------------------------
@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_contract_accumulates_and_leaves_upstream_alone(cls, rng):
    layer = make(cls, rng, 3, 4, 2)
    x = rng.standard_normal((2, 5, 3))
    state = random_state(cls, rng, 2, 2, 4)
    x0, state0 = x.copy(), [s.copy() for s in as_tuple(state)]
    (y, final), cache = layer.forward(x, state)
    dy = rng.standard_normal(y.shape)
    dfinal = [rng.standard_normal(f.shape) for f in as_tuple(final)]
    saved = [dy.copy()] + [d.copy() for d in dfinal]
    layer.zero_grad()
    first = layer.backward(dy, cache, *dfinal)
    g1 = {k: v.copy() for k, v in layer.grads.items()}
    second = layer.backward(dy, cache, *dfinal)
    for k, v in layer.grads.items():                      # += : twice the gradient
        np.testing.assert_allclose(v, 2 * g1[k], rtol=1e-12, atol=1e-14)
    for a, b in zip(first, second):                       # same input gradients both times
        np.testing.assert_array_equal(a, b)
    for a, b in zip([dy] + dfinal, saved):                # upstream gradients untouched
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(x, x0)
    for a, b in zip(as_tuple(state), state0):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_two_calls_keep_their_own_caches(cls, rng):
    """Two forward passes (real, fake) before any backward: each backward uses its own cache."""
    layer = make(cls, rng, 3, 4)
    xa, xb = rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 3, 3))
    dy = rng.standard_normal((2, 3, 4))
    (_, _), cache_a = layer.forward(xa)
    layer.zero_grad()
    dxa_alone = layer.backward(dy, cache_a)[0]
    ga = {k: v.copy() for k, v in layer.grads.items()}
    (_, _), cache_b = layer.forward(xb)
    layer.zero_grad()
    np.testing.assert_array_equal(layer.backward(dy, cache_a)[0], dxa_alone)
    for k, v in layer.grads.items():
        np.testing.assert_array_equal(v, ga[k])


def test_no_upstream_gives_zero_gradients(rng):
    layer = make(LSTM, rng, 2, 3)
    (_, _), cache = layer.forward(rng.standard_normal((1, 2, 2)))
    layer.zero_grad()
    dx, dh0, dc0 = layer.backward(None, cache)
    assert not dx.any() and not dh0.any() and not dc0.any()
    assert all(not g.any() for g in layer.grads.values())


# --- 3. shapes, names, init, errors ------------------------------------------------------------
def test_shapes_names_and_init(rng):
    lstm = LSTM(5, 8, num_layers=2, rng=rng)
    assert list(lstm.params) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                 "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"]
    assert lstm.params["weight_ih_l0"].shape == (32, 5)
    assert lstm.params["weight_ih_l1"].shape == (32, 8)
    assert lstm.params["weight_hh_l1"].shape == (32, 8)
    assert lstm.params["bias_hh_l1"].shape == (32,)
    bound = 1 / np.sqrt(8)
    for p in lstm.params.values():
        assert p.dtype == np.float32 and np.abs(p).max() <= bound and p.std() > bound / 3
    gru = GRU(5, 8, bias=False, rng=rng)
    assert {k: v.shape for k, v in gru.params.items()} == {"weight_ih_l0": (24, 5),
                                                           "weight_hh_l0": (24, 8)}
    cell = LSTMCell(5, 8, rng=rng)
    assert set(cell.params) == {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}
    x = rng.standard_normal((3, 7, 5)).astype(np.float32)
    (y, (h, c)), _ = lstm.forward(x)
    assert y.shape == (3, 7, 8) and h.shape == c.shape == (2, 3, 8) and y.dtype == np.float32
    np.testing.assert_array_equal(y[:, -1], h[-1])        # the top layer's last output is h_n
    (y, h), _ = gru.forward(x)
    assert y.shape == (3, 7, 8) and h.shape == (1, 3, 8)
    tm = LSTM(5, 8, batch_first=False, rng=rng)
    (y, (h, c)), cache = tm.forward(x)                    # (T=3, N=7, I=5)
    assert y.shape == (3, 7, 8) and h.shape == (1, 7, 8)
    assert tm.backward(y, cache)[0].shape == x.shape


def test_state_dict_round_trip(rng):
    a, b = LSTM(3, 4, num_layers=2, rng=rng), LSTM(3, 4, num_layers=2, rng=rng)
    b.load_state_dict(a.state_dict())
    x = rng.standard_normal((2, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(a.forward(x)[0][0], b.forward(x)[0][0])


def test_errors(rng):
    lstm = LSTM(3, 4, num_layers=2, rng=rng)
    x = np.zeros((2, 5, 3), np.float32)
    with pytest.raises(ValueError, match=r"expected input with 3 dimensions"):
        lstm.forward(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(N, T, 3\)"):
        lstm.forward(np.zeros((2, 5, 4), np.float32))
    with pytest.raises(ValueError, match="dtype"):
        lstm.forward(x.astype(np.float64))
    with pytest.raises(ValueError, match="floating-point"):
        lstm.forward(x.astype(np.int64))
    with pytest.raises(ValueError, match="no time steps"):
        lstm.forward(np.zeros((2, 0, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected h0 of shape \(2, 2, 4\)"):
        lstm.forward(x, (np.zeros((1, 2, 4), np.float32), np.zeros((2, 2, 4), np.float32)))
    with pytest.raises(ValueError, match="pair"):
        lstm.forward(x, np.zeros((2, 2, 4), np.float32))
    (y, _), cache = lstm.forward(x)
    with pytest.raises(ValueError, match=r"expected dy of shape \(2, 5, 4\)"):
        lstm.backward(y[:, :3], cache)
    with pytest.raises(ValueError, match=r"expected dc_n of shape"):
        lstm.backward(y, cache, None, np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"expected h0 of shape \(1, 2, 4\)"):
        GRU(3, 4, rng=rng).forward(x, np.zeros((2, 4), np.float32))
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="positive int"):
            LSTM(3, bad)
    with pytest.raises(ValueError, match="num_layers"):
        GRU(3, 4, num_layers=0)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3\)"):
        LSTMCell(3, 4).forward(np.zeros((2, 4), np.float32))
    assert repr(lstm) == "LSTM(3, 4, num_layers=2, bias=True, batch_first=True)"


# --- 4. against torch (skipped without it) -------------------------------------------------------
@pytest.mark.parametrize("name,L,batch_first", [("LSTM", 1, True), ("LSTM", 2, False),
                                                ("GRU", 2, True), ("LSTMCell", 1, True)])
def test_matches_torch(name, L, batch_first, rng):
    torch = pytest.importorskip("torch")
    ours_cls = {"LSTM": LSTM, "GRU": GRU, "LSTMCell": LSTMCell}[name]
    if name == "LSTMCell":
        ours = LSTMCell(3, 5, rng=rng, dtype="float64")
        theirs = torch.nn.LSTMCell(3, 5).double()
    else:
        ours = ours_cls(3, 5, num_layers=L, batch_first=batch_first, rng=rng, dtype="float64")
        theirs = getattr(torch.nn, name)(3, 5, num_layers=L, batch_first=batch_first).double()
    with torch.no_grad():
        for k, v in ours.params.items():
            getattr(theirs, k).copy_(torch.from_numpy(backend.to_numpy(v)))
    N, T = 2, 4
    if name == "LSTMCell":
        x, h, c = (rng.standard_normal((N, d)) for d in (3, 5, 5))
        (h1, c1), cache = ours.forward(x, (h, c))
        tx, th, tc = (torch.tensor(a, requires_grad=True) for a in (x, h, c))
        th1, tc1 = theirs(tx, (th, tc))
        outs, touts = [h1, c1], [th1, tc1]
        grads_in = [tx, th, tc]
    else:
        x = rng.standard_normal((N, T, 3) if batch_first else (T, N, 3))
        state = random_state(ours_cls, rng, L, N, 5)
        (y, final), cache = ours.forward(x, state)
        tx = torch.tensor(x, requires_grad=True)
        tstate = tuple(torch.tensor(s, requires_grad=True) for s in as_tuple(state))
        ty, tfinal = theirs(tx, tstate if name == "LSTM" else tstate[0])
        outs, touts = [y, *as_tuple(final)], [ty, *as_tuple(tfinal)]
        grads_in = [tx, *tstate]
    for a, b in zip(outs, touts):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-10, atol=1e-12)
    ups = [rng.standard_normal(a.shape) for a in outs]      # and the backward pass, too
    sum((b * torch.from_numpy(u)).sum() for b, u in zip(touts, ups)).backward()
    ours.zero_grad()
    mine = ours.backward(*ups, cache) if name == "LSTMCell" else ours.backward(ups[0], cache,
                                                                              *ups[1:])
    for a, b in zip(mine, grads_in):
        np.testing.assert_allclose(a, b.grad.numpy(), rtol=1e-9, atol=1e-12)
    for k, g in ours.grads.items():
        np.testing.assert_allclose(g, getattr(theirs, k).grad.numpy(), rtol=1e-9, atol=1e-12)


# --- 5. the fused gate kernels --------------------------------------------------------------------
def gates_definition(a, c_prev):
    """The LSTM step written out entry by entry (the equations, nothing shared with the code)."""
    N, H = c_prev.shape
    h, c = np.empty((N, H)), np.empty((N, H))
    for n in range(N):
        for j in range(H):
            i, f, g, o = (a[n, k * H + j] for k in range(4))
            i, f, o = (1 / (1 + np.exp(-v)) for v in (i, f, o))
            c[n, j] = f * c_prev[n, j] + i * np.tanh(g)
            h[n, j] = o * np.tanh(c[n, j])
    return h, c


def test_gates_reference_matches_definition(rng):
    a, c_prev = 2 * rng.standard_normal((3, 20)), rng.standard_normal((3, 5))
    h, c, acts, tanh_c = K.lstm_gates_forward_reference(a, c_prev)
    h_def, c_def = gates_definition(a, c_prev)
    np.testing.assert_allclose(h, h_def, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(c, c_def, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(tanh_c, np.tanh(c_def), rtol=1e-12, atol=1e-15)
    # the backward against finite differences of Σ h·dh + Σ c·dc
    dh, dc = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    da, dc_prev = K.lstm_gates_backward_reference(dh, dc, acts, c_prev, tanh_c)

    def f():
        h2, c2 = gates_definition(a, c_prev)
        return float((h2 * dh).sum() + (c2 * dc).sum())

    report = check_scalar_function(f, {"a": a, "c_prev": c_prev}, {"a": da, "c_prev": dc_prev})
    assert max(report.values()) < TOL, report


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (16, 64)])
@pytest.mark.parametrize("parallel", [False, True])
def test_gates_numba_matches_reference(shape, dtype, parallel):
    rng = np.random.default_rng(sum(shape))
    N, H = shape
    a = (4 * rng.standard_normal((N, 4 * H))).astype(dtype)
    a[0, 0], a[-1, -1] = -200, 200                       # σ and tanh saturate, no overflow
    c_prev = rng.standard_normal((N, H)).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    ref = K.lstm_gates_forward_reference(a, c_prev)
    fast = K.lstm_gates_forward_numba(a, c_prev, parallel=parallel)
    for r, q in zip(ref, fast):
        assert q.dtype == dtype and q.shape == r.shape
        np.testing.assert_allclose(q, r, **tol)
    dh, dc = rng.standard_normal((2, N, H)).astype(dtype)
    _, _, acts, tanh_c = ref
    for dc_in in (dc, None):
        ref_b = K.lstm_gates_backward_reference(dh, dc_in, acts, c_prev, tanh_c)
        fast_b = K.lstm_gates_backward_numba(dh, dc_in, acts, c_prev, tanh_c, parallel=parallel)
        for r, q in zip(ref_b, fast_b):
            assert q.dtype == dtype
            np.testing.assert_allclose(q, r, **tol)


@needs_numba
def test_gates_out_arrays_and_aliasing(monkeypatch):
    """out= writes into the given arrays; acts may be gates, dc_prev may be dc (in place)."""
    monkeypatch.delenv("MINIGAN_KERNELS", raising=False)
    rng = np.random.default_rng(3)
    N, H = 8, 40                                            # N·H ≥ NUMBA_MIN_SIZE: numba
    assert K.implementation(np.zeros(1)) == "numba" and N * H >= K.NUMBA_MIN_SIZE
    a, c_prev = rng.standard_normal((N, 4 * H)), rng.standard_normal((N, H))
    ref = K.lstm_gates_forward_reference(a, c_prev)
    gates = a.copy()
    out = (np.empty((N, H)), np.empty((N, H)), gates, np.empty((N, H)))
    res = K.lstm_gates_forward(gates, c_prev, out=out)
    assert all(r is o for r, o in zip(res, out))
    for r, q in zip(ref, out):
        np.testing.assert_allclose(q, r, rtol=1e-12, atol=1e-14)
    dh, dc = rng.standard_normal((2, N, H))
    ref_b = K.lstm_gates_backward_reference(dh, dc, ref[2], c_prev, ref[3])
    dc_io, da = dc.copy(), np.empty((N, 4 * H))
    K.lstm_gates_backward(dh, dc_io, ref[2], c_prev, ref[3], out=(da, dc_io))
    np.testing.assert_allclose(da, ref_b[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dc_io, ref_b[1], rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="out arrays"):
        K.lstm_gates_forward(a, c_prev, out=(np.empty((N, H), np.float32),) * 4)


def test_gates_dispatch_honours_minigan_kernels(monkeypatch):
    calls = []
    for name in ("lstm_gates_forward_numba", "lstm_gates_backward_numba"):
        monkeypatch.setattr(K, name, lambda *a, _n=name, **k: calls.append(_n) or _n)
    monkeypatch.delenv("MINIGAN_KERNELS", raising=False)
    big_a, big_c = np.zeros((16, 128)), np.zeros((16, 32))
    tiny_a, tiny_c = np.zeros((1, 8)), np.zeros((1, 2))
    K.lstm_gates_forward(tiny_a, tiny_c)
    assert calls == []                                      # tiny: the reference
    if HAVE_NUMBA:
        K.lstm_gates_forward(big_a, big_c)
        K.lstm_gates_backward(big_c, None, big_a, big_c, big_c)
        assert calls == ["lstm_gates_forward_numba", "lstm_gates_backward_numba"]
    monkeypatch.setenv("MINIGAN_KERNELS", "numpy")
    n = len(calls)
    h = K.lstm_gates_forward(big_a, big_c)[0]
    assert len(calls) == n and K.implementation(big_a) == "numpy"
    np.testing.assert_array_equal(h, np.zeros((16, 32)))    # σ(0)·tanh(½·0 + ½·0) = 0


def test_gates_errors():
    with pytest.raises(ValueError, match=r"\(N, 4H\)"):
        K.lstm_gates_forward(np.zeros((2, 7)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"\(N, 4H\)"):
        K.lstm_gates_backward(np.zeros((2, 2)), None, np.zeros((3, 8)), np.zeros((2, 2)),
                              np.zeros((2, 2)))


# --- 6. gradient clipping ----------------------------------------------------------------------
def test_clip_grad_norm(rng):
    grads = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(5)}
    before = {k: v.copy() for k, v in grads.items()}
    norm = np.sqrt(sum((v ** 2).sum() for v in before.values()))
    assert clip_grad_norm(grads, 1e3) == pytest.approx(norm)
    for k in grads:
        np.testing.assert_array_equal(grads[k], before[k])   # under the limit: unchanged
    assert clip_grad_norm(grads, 0.5) == pytest.approx(norm)
    after = np.sqrt(sum((v ** 2).sum() for v in grads.values()))
    assert after == pytest.approx(0.5, rel=1e-5)
    np.testing.assert_allclose(grads["a"] / before["a"], (0.5 / (norm + 1e-6)))
    with pytest.raises(ValueError, match="positive"):
        clip_grad_norm(grads, 0)


def test_gates_fallback_without_numba_warns_once(monkeypatch):
    """numba unimportable: one RuntimeWarning, then the reference (and the LSTM still runs)."""
    import sys
    import warnings
    monkeypatch.delenv("MINIGAN_KERNELS", raising=False)
    monkeypatch.setitem(sys.modules, "numba", None)
    monkeypatch.setitem(sys.modules, "minigan.kernels._lstm_numba", None)
    monkeypatch.setattr(K, "_numba", {"module": None, "tried": False})
    a, c_prev = np.random.default_rng(4).standard_normal((16, 128)), np.zeros((16, 32))
    with pytest.warns(RuntimeWarning, match="pip install numba"):
        h = K.lstm_gates_forward(a, c_prev)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert K.implementation(a) == "numpy"
        np.testing.assert_array_equal(h, K.lstm_gates_forward_reference(a, c_prev)[0])
    with pytest.raises(RuntimeError, match="pip install numba"):
        K.lstm_gates_forward_numba(a, c_prev)


# --- 7. CuPy (needs a GPU) ------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_gates_match_reference(dtype):  # pragma: no cover - needs a GPU
    import cupy
    rng = np.random.default_rng(5)
    N, H = 6, 9
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    a = (3 * rng.standard_normal((N, 4 * H))).astype(dtype)
    c_prev, dh, dc = rng.standard_normal((3, N, H)).astype(dtype)
    ref = K.lstm_gates_forward_reference(a, c_prev)
    ga = cupy.asarray(a)
    out = (cupy.empty((N, H), dtype), cupy.empty((N, H), dtype), ga, cupy.empty((N, H), dtype))
    for res in (K.lstm_gates_forward(cupy.asarray(a), cupy.asarray(c_prev)),
                K.lstm_gates_forward(ga, cupy.asarray(c_prev), out=out)):   # acts is gates
        assert K.implementation(res[0]) == "cupy"
        for r, q in zip(ref, res):
            assert q.dtype == dtype
            np.testing.assert_allclose(cupy.asnumpy(q), r, **tol)
    acts, tanh_c = cupy.asarray(ref[2]), cupy.asarray(ref[3])
    for dc_in in (dc, None):
        ref_b = K.lstm_gates_backward_reference(dh, dc_in, ref[2], c_prev, ref[3])
        res = K.lstm_gates_backward(cupy.asarray(dh), None if dc_in is None else
                                    cupy.asarray(dc_in), acts, cupy.asarray(c_prev), tanh_c)
        for r, q in zip(ref_b, res):
            np.testing.assert_allclose(cupy.asnumpy(q), r, **tol)
    gdc, gda = cupy.asarray(dc), cupy.empty((N, 4 * H), dtype)
    K.lstm_gates_backward(cupy.asarray(dh), gdc, acts, cupy.asarray(c_prev), tanh_c,
                          out=(gda, gdc))                                   # dc_prev is dc
    ref_b = K.lstm_gates_backward_reference(dh, dc, ref[2], c_prev, ref[3])
    np.testing.assert_allclose(cupy.asnumpy(gda), ref_b[0], **tol)
    np.testing.assert_allclose(cupy.asnumpy(gdc), ref_b[1], **tol)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_cupy_layers_match_numpy(cls, rng):  # pragma: no cover - needs a GPU
    import cupy
    layer = make(cls, rng, 3, 5, 2)
    x, dy = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 5))
    state = random_state(cls, rng, 2, 2, 5)
    (y, final), cache = layer.forward(x, state)
    dfinal = [rng.standard_normal(f.shape) for f in as_tuple(final)]
    layer.zero_grad()
    grads_in = layer.backward(dy, cache, *dfinal)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    backend.use("cupy")                                    # (conftest switches back after)
    layer.to(backend_name="cupy")
    gstate = tuple(cupy.asarray(s) for s in as_tuple(state))
    (gy, gfinal), gcache = layer.forward(cupy.asarray(x), gstate if cls is LSTM else gstate[0])
    np.testing.assert_allclose(cupy.asnumpy(gy), y, rtol=1e-10, atol=1e-12)
    ggrads_in = layer.backward(cupy.asarray(dy), gcache, *(cupy.asarray(d) for d in dfinal))
    for a, b in zip(ggrads_in, grads_in):
        np.testing.assert_allclose(cupy.asnumpy(a), b, rtol=1e-10, atol=1e-12)
    for k, v in layer.grads.items():
        np.testing.assert_allclose(cupy.asnumpy(v), grads[k], rtol=1e-10, atol=1e-12)
