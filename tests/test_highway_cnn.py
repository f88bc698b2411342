"""The highway layer and SeqGAN's convolutional discriminator (minigan.nn.highway,
minigan.gans.seqgan.CNNDiscriminator): backward passes against finite differences in float64
(random upstream gradients, non-zero parameters, batch 1, odd sizes, windows wider than the
sequence, dropout with a fixed mask, the L2 term), the forward pass against a loop over the
definition, and the clear errors."""
import numpy as np
import pytest

from minigan import backend
from minigan.gans.seqgan import CNNDiscriminator, SeqGAN
from minigan.gradcheck import check_layer, check_scalar_function
from minigan.nn import Highway

TOL = 1e-6


@pytest.mark.parametrize("N,D", [(1, 1), (1, 4), (3, 5), (6, 2)])
def test_highway_gradcheck(N, D, rng):
    layer = Highway(D, rng=rng, dtype="float64")
    for _, p, _ in layer.named_parameters():
        p[...] = rng.uniform(-1, 1, p.shape)
    report = check_layer(layer, rng.standard_normal((N, D)), rng.standard_normal((N, D)))
    assert set(report) == {"x", "transform.weight", "transform.bias", "gate.weight",
                           "gate.bias"}
    assert max(report.values()) < TOL, report


def test_highway_forward_and_carry(rng):
    layer = Highway(3, rng=rng, dtype="float64")
    x = rng.standard_normal((4, 3))
    W_h, b_h = layer.transform.params["weight"], layer.transform.params["bias"]
    W_t, b_t = layer.gate.params["weight"], layer.gate.params["bias"]
    t = 1 / (1 + np.exp(-(x @ W_t.T + b_t)))
    expected = t * np.maximum(x @ W_h.T + b_h, 0) + (1 - t) * x
    assert np.allclose(layer.forward(x)[0], expected)
    assert np.allclose(b_t, -2.0)                       # starts mostly carrying its input
    b_t[...] = -50                                      # a closed gate: y = x
    assert np.allclose(layer.forward(x)[0], x)


def test_highway_rejects_a_wrong_width(rng):
    with pytest.raises(ValueError, match=r"Highway\(3\).*\(N, 3\)"):
        Highway(3, rng=rng).forward(np.zeros((2, 4), np.float32))


def make_cnn(rng, V, T, E, windows, dropout=0.0, l2=0.0):
    D = CNNDiscriminator(V, T, embed_dim=E, windows=windows, dropout=dropout, l2=l2, rng=rng,
                         dtype="float64")
    for _, p, _ in D.named_parameters():
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    return D


CNN_CASES = [  # (N, V, T, E, windows, dropout, l2)
    (1, 5, 4, 3, ((1, 2), (2, 3)), 0.0, 0.0),           # batch 1
    (3, 7, 6, 2, ((2, 2), (3, 3), (6, 2)), 0.0, 0.3),   # a window as long as the sequence
    (4, 6, 5, 3, ((1, 1), (3, 2), (9, 4)), 0.4, 0.2),   # 9 > T: dropped; dropout on
    (2, 9, 7, 1, ((4, 5),), 0.25, 0.0),                  # odd sizes, one width
]


@pytest.mark.parametrize("N,V,T,E,windows,dropout,l2", CNN_CASES)
def test_cnn_discriminator_gradcheck(N, V, T, E, windows, dropout, l2, rng):
    """d/dθ of Σ dy·logit + λ/2‖W_out‖², dropout's mask held fixed (re-seeded each call)."""
    D = make_cnn(rng, V, T, E, windows, dropout, l2)
    tokens = rng.integers(0, V, (N, T))
    dy = rng.standard_normal((N, 1))

    def forward():
        D.drop.rng = np.random.default_rng(7)
        return D.forward(tokens)

    s, cache = forward()
    D.zero_grad()
    assert D.backward(dy, cache) is None
    penalty = D.l2_loss_and_backward()
    assert penalty == pytest.approx(0.5 * l2 * sum(float((p ** 2).sum())
                                                   for p in D.out.params.values()))

    def f():
        return (float((forward()[0] * dy).sum())
                + 0.5 * l2 * sum(float((p ** 2).sum()) for p in D.out.params.values()))
    arrays = {n: p for n, p, _ in D.named_parameters()}
    analytic = {n: g.copy() for n, _, g in D.named_parameters()}
    report = check_scalar_function(f, arrays, analytic)
    assert max(report.values()) < TOL, report
    # every filter bank got a gradient (the check is not passing on zeros)
    for (k, _), conv in zip(D.windows, D.convs):
        assert np.abs(conv.grads["weight"]).sum() > 0, f"window {k} got no gradient"


def test_cnn_forward_matches_a_loop_over_the_definition(rng):
    N, V, T, E = 3, 6, 5, 2
    D = make_cnn(rng, V, T, E, ((2, 3), (3, 2)))
    D.eval()
    tokens = rng.integers(0, V, (N, T))
    emb = D.emb.params["weight"][tokens]                               # (N, T, E)
    feats = []
    for (k, F), conv in zip(D.windows, D.convs):
        W, b = conv.params["weight"], conv.params["bias"]
        f = np.full((N, F), -np.inf)
        for n in range(N):
            for t in range(T - k + 1):
                u = emb[n, t:t + k].reshape(-1)                        # [e_t, ..., e_t+k-1]
                f[n] = np.maximum(f[n], np.maximum(W @ u + b, 0))
        feats.append(f)
    h, _ = D.highway.forward(np.concatenate(feats, axis=1))
    expected = h @ D.out.params["weight"].T + D.out.params["bias"]
    assert np.allclose(D.forward(tokens)[0], expected)


def test_cnn_prob_is_deterministic_and_restores_the_mode(rng):
    D = make_cnn(rng, 6, 5, 2, ((2, 3),), dropout=0.5)
    tokens = rng.integers(0, 6, (4, 5))
    p1, p2 = D.prob(tokens), D.prob(tokens)
    assert np.array_equal(p1, p2) and D.training              # eval inside, train after
    assert np.all((p1 > 0) & (p1 < 1))


def test_cnn_errors(rng):
    with pytest.raises(ValueError, match="no window fits"):
        CNNDiscriminator(5, 3, windows=((4, 2), (5, 2)), rng=rng)
    D = CNNDiscriminator(5, 4, embed_dim=2, windows=((2, 2),), rng=rng)
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        D.forward(np.zeros((2, 5), np.int64))
    with pytest.raises(ValueError, match="discriminator must be 'lstm' or 'cnn'"):
        SeqGAN(vocab_size=5, seq_len=4, discriminator="gru")


def test_seqgan_d_loss_with_the_cnn_includes_the_l2_term(rng):
    gan = SeqGAN(vocab_size=7, seq_len=5, embed_dim=3, hidden=3, d_embed_dim=3,
                 discriminator="cnn", d_windows=((2, 3), (3, 2)), d_dropout=0.0, d_l2=0.5,
                 seed=1, dtype="float64")
    for _, p, _ in gan.D.named_parameters():
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    real, fake = rng.integers(0, 7, (3, 5)), rng.integers(0, 7, (2, 5))
    gan.D.zero_grad()
    loss, _, _ = gan.d_loss_and_backward(real, fake)

    def f():
        s_r, s_f = gan.D.forward(real)[0], gan.D.forward(fake)[0]
        return (float(np.mean(np.logaddexp(0, -s_r)) + np.mean(np.logaddexp(0, s_f)))
                + 0.25 * sum(float((p ** 2).sum()) for p in gan.D.out.params.values()))
    assert loss == pytest.approx(f(), rel=1e-12)
    arrays = {n: p for n, p, _ in gan.D.named_parameters()}
    analytic = {n: g.copy() for n, _, g in gan.D.named_parameters()}
    report = check_scalar_function(f, arrays, analytic)
    assert max(report.values()) < TOL, report


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and a CUDA GPU")
def test_cnn_discriminator_gpu_matches_cpu(rng):   # pragma: no cover - needs a GPU
    import cupy
    D = make_cnn(rng, 9, 6, 3, ((1, 2), (2, 3), (4, 2)), dropout=0.0, l2=0.3)
    tokens = rng.integers(0, 9, (5, 6))
    dy = rng.standard_normal((5, 1))
    s, cache = D.forward(tokens)
    D.zero_grad()
    D.backward(dy, cache)
    D.l2_loss_and_backward()
    cpu = {n: g.copy() for n, _, g in D.named_parameters()}
    backend.use("cupy")                                    # (conftest switches back after)
    D.to(backend_name="cupy")
    D.zero_grad()
    sg, cg = D.forward(cupy.asarray(tokens))
    D.backward(cupy.asarray(dy), cg)
    D.l2_loss_and_backward()
    np.testing.assert_allclose(cupy.asnumpy(sg), s, rtol=1e-10, atol=1e-12)
    for n, _, g in D.named_parameters():
        np.testing.assert_allclose(cupy.asnumpy(g), cpu[n], rtol=1e-10, atol=1e-12, err_msg=n)
