"""Embedding: lookup, scatter-add backward (repeated indices add up), padding_idx, the
layer contract, errors, and a cross-check against torch.nn.Embedding where torch is present."""
import numpy as np
import pytest

from minigan import backend
from minigan.gradcheck import check_scalar_function, numerical_gradient, rel_error
from minigan.nn.embedding import Embedding

TOL = 1e-6


def embedding_report(emb, idx, rng):
    y, cache = emb.forward(idx)
    dy = rng.standard_normal(y.shape)
    emb.zero_grad()
    assert emb.backward(dy, cache) is None                 # indices have no gradient
    W = emb.params["weight"]
    return check_scalar_function(lambda: float((emb.forward(idx)[0] * dy).sum()),
                                 {"weight": W}, {"weight": emb.grads["weight"]})


@pytest.mark.parametrize("shape", [(), (1,), (6,), (2, 5), (3, 1, 4)])
def test_gradcheck_with_repeated_indices(shape, rng):
    emb = Embedding(5, 3, rng=rng, dtype="float64")
    idx = rng.integers(0, 5, shape)
    if idx.size > 1:
        idx.reshape(-1)[:2] = 2                            # a repeated index, always
    report = embedding_report(emb, idx, rng)
    assert report["weight"] < TOL, report


def test_repeated_indices_add_up(rng):
    emb = Embedding(4, 2, rng=rng, dtype="float64")
    idx = np.array([[1, 3, 1], [1, 0, 3]])
    dy = rng.standard_normal((2, 3, 2))
    _, cache = emb.forward(idx)
    emb.backward(dy, cache)
    expected = np.zeros((4, 2))
    for p in np.ndindex(idx.shape):
        expected[idx[p]] += dy[p]
    np.testing.assert_allclose(emb.grads["weight"], expected, rtol=1e-14)
    np.testing.assert_allclose(emb.grads["weight"][1], dy[0, 0] + dy[0, 2] + dy[1, 0])
    assert not emb.grads["weight"][2].any()                # never looked up: no gradient


@pytest.mark.parametrize("padding_idx,row", [(0, 0), (2, 2), (-1, 4)])
def test_padding_idx(padding_idx, row, rng):
    emb = Embedding(5, 3, padding_idx=padding_idx, rng=rng, dtype="float64")
    assert emb.padding_idx == row
    assert not emb.params["weight"][row].any()             # starts at zero
    assert emb.params["weight"][(row + 1) % 5].any()
    idx = np.array([[row, 1, row], [3, row, 1]])
    y, cache = emb.forward(idx)
    assert not y[0, 0].any()
    dy = rng.standard_normal(y.shape)
    emb.zero_grad()
    emb.backward(dy, cache)
    assert not emb.grads["weight"][row].any()               # the padding row: no gradient
    W = emb.params["weight"]
    numerical = numerical_gradient(lambda: float((emb.forward(idx)[0] * dy).sum()), W)
    others = [r for r in range(5) if r != row]              # every other row: the exact one
    assert rel_error(emb.grads["weight"][others], numerical[others]) < TOL


def test_forward_values_shapes_and_init(rng):
    emb = Embedding(10, 4, rng=rng)
    W = emb.params["weight"]
    assert W.shape == (10, 4) and W.dtype == np.float32
    big = Embedding(1000, 50, rng=rng).params["weight"]
    assert abs(big.mean()) < 0.05 and abs(big.std() - 1) < 0.05      # N(0, 1), as torch
    for idx in (np.array(3), np.array([0, 9, 9]), np.arange(6, dtype=np.uint8).reshape(2, 3),
                np.zeros((0, 2), np.int32)):
        y, _ = emb.forward(idx)
        assert y.shape == idx.shape + (4,) and y.dtype == np.float32
        np.testing.assert_array_equal(y, W[idx])
    assert repr(Embedding(3, 2, padding_idx=1)) == "Embedding(3, 2, padding_idx=1)"


def test_contract_accumulates_and_leaves_dy_alone(rng):
    emb = Embedding(6, 3, rng=rng, dtype="float64")
    idx = np.array([[0, 5, 5, 2]])
    y, cache = emb.forward(idx)
    dy = rng.standard_normal(y.shape)
    dy0, idx0 = dy.copy(), idx.copy()
    emb.backward(dy, cache)
    g1 = emb.grads["weight"].copy()
    emb.backward(dy, cache)
    np.testing.assert_allclose(emb.grads["weight"], 2 * g1)
    np.testing.assert_array_equal(dy, dy0)
    np.testing.assert_array_equal(idx, idx0)
    y[...] = 0                                             # the output is a copy, not a view
    assert emb.params["weight"][5].any()
    emb.zero_grad()
    assert not emb.grads["weight"].any()


def test_errors(rng):
    emb = Embedding(5, 3, rng=rng)
    with pytest.raises(ValueError, match="integer indices, got dtype float64"):
        emb.forward(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="integer indices, got dtype bool"):
        emb.forward(np.array([True, False]))
    with pytest.raises(ValueError, match=r"in \[0, 5\), got values from 0 to 5"):
        emb.forward(np.array([0, 5]))
    with pytest.raises(ValueError, match=r"got values from -1 to 2"):
        emb.forward(np.array([-1, 2]))
    with pytest.raises(ValueError, match="integer array"):
        emb.forward([1, 2])
    _, cache = emb.forward(np.array([1, 2]))
    with pytest.raises(ValueError, match=r"expected dy of shape \(2, 3\)"):
        emb.backward(np.zeros((2, 4), np.float32), cache)
    with pytest.raises(ValueError, match="padding_idx"):
        Embedding(5, 3, padding_idx=5)
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match="positive int"):
            Embedding(bad, 3)


def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    ours = Embedding(7, 4, padding_idx=3, rng=rng, dtype="float64")
    theirs = torch.nn.Embedding(7, 4, padding_idx=3).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(backend.to_numpy(ours.params["weight"])))
    idx = np.array([[3, 1, 1, 6], [0, 3, 6, 6]])
    y, cache = ours.forward(idx)
    ty = theirs(torch.from_numpy(idx))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    dy = rng.standard_normal(y.shape)
    (ty * torch.from_numpy(dy)).sum().backward()
    ours.backward(dy, cache)
    np.testing.assert_allclose(ours.grads["weight"], theirs.weight.grad.numpy(), rtol=1e-12)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and a CUDA GPU")
def test_cupy_scatter_add_matches_numpy(rng):   # pragma: no cover - needs a GPU
    import cupy
    emb = Embedding(6, 3, padding_idx=0, rng=rng, dtype="float64")
    idx = np.array([[0, 5, 5, 2], [2, 2, 1, 0]])
    dy = rng.standard_normal((2, 4, 3))
    _, cache = emb.forward(idx)
    emb.backward(dy, cache)
    expected = emb.grads["weight"].copy()
    backend.use("cupy")                                    # (conftest switches back after)
    emb.to(backend_name="cupy")
    y, cache = emb.forward(cupy.asarray(idx))
    emb.backward(cupy.asarray(dy), cache)
    np.testing.assert_allclose(cupy.asnumpy(emb.grads["weight"]), expected, rtol=1e-12)
