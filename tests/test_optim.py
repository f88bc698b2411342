"""Optimisers against reference loops written here from the published update equations."""
import numpy as np
import pytest

from minigan.nn import Linear, Sequential, Tanh, mse
from minigan.optim import SGD, Adam, RMSprop

# A quadratic f(θ) = ½ Σ a (θ − c)², gradient a (θ − c), with very different curvatures.
A = np.array([[0.5, 3.0, 10.0], [0.05, 1.0, 7.0]])
C = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
THETA0 = np.array([[0.2, 0.7, -1.3], [2.0, -0.4, 0.9]])


def _grad(theta):
    return A * (theta - C)


def _run_minigan(make_opt, steps):
    p, g = THETA0.copy(), np.zeros_like(THETA0)
    opt = make_opt([("theta", p, g)])
    out = []
    for _ in range(steps):
        opt.zero_grad()
        g += _grad(p)
        opt.step()
        out.append(p.copy())
    return out


# --- references, straight from the papers / torch docs -------------------------------------------
def _ref_sgd(lr, momentum=0.0, weight_decay=0.0, steps=6):
    """torch.optim.SGD: b₁ = g₁, b_t = μ b_{t−1} + g_t;  θ ← θ − lr b_t (dampening 0)."""
    theta, buf, out = THETA0.copy(), None, []
    for _ in range(steps):
        g = _grad(theta) + weight_decay * theta
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + g
            g = buf
        theta = theta - lr * g
        out.append(theta)
    return out


def _ref_adam(lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, steps=6):
    """Kingma & Ba (2015), Algorithm 1 (with L2 weight decay added to g, as torch.optim.Adam)."""
    theta, m, v, out = THETA0.copy(), 0.0, 0.0, []
    for t in range(1, steps + 1):
        g = _grad(theta) + weight_decay * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(theta)
    return out


def _ref_rmsprop(lr, alpha=0.99, eps=1e-8, steps=6):
    """Hinton's RMSprop as in torch.optim.RMSprop: v ← α v + (1−α) g²; θ ← θ − lr g/(√v + ε)."""
    theta, v, out = THETA0.copy(), 0.0, []
    for _ in range(steps):
        g = _grad(theta)
        v = alpha * v + (1 - alpha) * g ** 2
        theta = theta - lr * g / (np.sqrt(v) + eps)
        out.append(theta)
    return out


CASES = {
    "sgd": (lambda ps: SGD(ps, lr=0.05), lambda: _ref_sgd(0.05)),
    "sgd-momentum": (lambda ps: SGD(ps, lr=0.03, momentum=0.9), lambda: _ref_sgd(0.03, 0.9)),
    "sgd-momentum-wd": (lambda ps: SGD(ps, lr=0.03, momentum=0.5, weight_decay=0.1),
                        lambda: _ref_sgd(0.03, 0.5, 0.1)),
    "adam": (lambda ps: Adam(ps, lr=0.1), lambda: _ref_adam(0.1)),
    "adam-betas": (lambda ps: Adam(ps, lr=0.02, betas=(0.5, 0.9), eps=1e-3),
                   lambda: _ref_adam(0.02, 0.5, 0.9, 1e-3)),
    "adam-wd": (lambda ps: Adam(ps, lr=0.05, weight_decay=0.2),
                lambda: _ref_adam(0.05, weight_decay=0.2)),
    "rmsprop": (lambda ps: RMSprop(ps, lr=0.01), lambda: _ref_rmsprop(0.01)),
    "rmsprop-alpha": (lambda ps: RMSprop(ps, lr=0.003, alpha=0.8, eps=1e-6),
                      lambda: _ref_rmsprop(0.003, 0.8, 1e-6)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_update_matches_reference(case):
    make_opt, ref = CASES[case]
    got, want = _run_minigan(make_opt, 6), ref()
    for step, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"step {step + 1}")
    assert not np.allclose(got[-1], THETA0)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_float32_update_is_the_formula_to_the_bit(weight_decay):
    """Adam's in-place update does the formula's float32 operations in its order: the same
    bits as the plain expression (one temporary per operation)."""
    rng = np.random.default_rng(0)
    p = rng.standard_normal(1000).astype(np.float32)
    theta, g = p.copy(), np.zeros_like(p)
    opt = Adam([("p", theta, g)], lr=2e-4, betas=(0.5, 0.999), weight_decay=weight_decay)
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t in range(1, 5):
        g[...] = rng.standard_normal(p.shape).astype(np.float32) * 1e-2
        g[:3] = 0
        opt.step()
        grad = g + weight_decay * p if weight_decay else g
        m = 0.5 * m + (1 - 0.5) * grad
        v = 0.999 * v + (1 - 0.999) * (grad * grad)
        m_hat, v_hat = m / (1 - 0.5 ** t), v / (1 - 0.999 ** t)
        p = p - 2e-4 * m_hat / (np.sqrt(v_hat) + 1e-8)
        assert p.dtype == theta.dtype == np.float32
        np.testing.assert_array_equal(theta, p)


def test_adam_first_step_moves_each_parameter_by_lr(rng):
    p = rng.standard_normal(50)
    g = rng.choice([-1.0, 1.0], 50) * 10.0 ** rng.uniform(-3, 3, 50)   # 1e-3 .. 1e3
    p0 = p.copy()
    Adam([("p", p, g)], lr=0.01).step()
    step = p - p0
    np.testing.assert_allclose(np.abs(step), 0.01, rtol=1e-4)   # bias correction at work
    np.testing.assert_array_equal(np.sign(step), -np.sign(g))


def test_parameters_updated_in_place_and_dtype_kept(rng):
    net = Sequential(Linear(3, 4, rng=rng), Tanh(), Linear(4, 2, rng=rng))   # float32
    for make in (lambda n: SGD(n, lr=0.1, momentum=0.9), lambda n: Adam(n), RMSprop):
        opt = make(net)
        arrays = dict(net.params)
        before = {k: p.copy() for k, p in arrays.items()}
        for g in net.grads.values():
            g[...] = rng.standard_normal(g.shape)
        opt.step()
        for k, p in net.params.items():
            assert p is arrays[k] and p.dtype == np.float32
            assert not np.array_equal(p, before[k])
        for bufs in opt.state.values():
            assert all(b.dtype == np.float32 for b in bufs.values())


def test_optimizer_zero_grad_in_place(rng):
    net = Sequential(Linear(3, 4, rng=rng), Linear(4, 1, rng=rng))
    grads = dict(net.grads)
    for g in grads.values():
        g[...] = 1.0
    SGD(net, lr=0.1).zero_grad()
    for k, g in net.grads.items():
        assert g is grads[k] and not np.any(g)


def test_several_modules_in_one_optimizer(rng):
    G, D = Linear(2, 2, rng=rng), Linear(2, 1, rng=rng)
    opt = Adam([G, D], lr=0.1)
    assert [n for n, _, _ in opt.params] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    w_g, w_d = G.params["weight"].copy(), D.params["weight"].copy()
    for m in (G, D):
        for g in m.grads.values():
            g[...] = 1.0
    opt.step()
    assert np.all(G.params["weight"] < w_g) and np.all(D.params["weight"] < w_d)


def test_constructor_errors(rng):
    lin = Linear(2, 2, rng=rng)
    with pytest.raises(ValueError, match="Adam: lr must be positive"):
        Adam(lin, lr=0)
    with pytest.raises(ValueError, match="no parameters"):
        SGD([], lr=0.1)
    p = np.zeros(2)
    with pytest.raises(ValueError, match="not unique"):
        SGD([("w", p, p.copy()), ("w", p.copy(), p.copy())], lr=0.1)
    with pytest.raises(ValueError, match="got ndarray"):
        SGD([p], lr=0.1)


# --- checkpoints ----------------------------------------------------------------------------------
def _toy_problem(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (64, 3)).astype(np.float32)
    Y = (np.sin(2 * X[:, :1]) + X[:, 1:2] * X[:, 2:3]).astype(np.float32)
    return X, Y


def _mlp(seed):
    rng = np.random.default_rng(seed)
    return Sequential(Linear(3, 16, rng=rng), Tanh(), Linear(16, 1, rng=rng))


def _train(net, opt, X, Y, steps):
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        y, cache = net.forward(X)
        loss, dy = mse(y, Y)
        net.backward(dy, cache)
        opt.step()
        losses.append(loss)
    return losses


OPTIMISERS = {
    "sgd": lambda n: SGD(n, lr=0.2),
    "sgd-momentum": lambda n: SGD(n, lr=0.05, momentum=0.9),
    "adam": lambda n: Adam(n, lr=0.01),
    "rmsprop": lambda n: RMSprop(n, lr=0.003),
}


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_state_dict_round_trip_bit_identical(name):
    X, Y = _toy_problem()
    net = _mlp(1)
    opt = OPTIMISERS[name](net)
    _train(net, opt, X, Y, 3)
    net_state, opt_state = net.state_dict(), opt.state_dict()
    saved = {k: np.array(v, copy=True) for k, v in opt_state.items()}
    _train(net, opt, X, Y, 4)                      # the uninterrupted run

    resumed = []
    for _ in range(2):                             # resume twice from the same checkpoint
        net2 = _mlp(99)
        opt2 = OPTIMISERS[name](net2)
        opt2.lr = 123.0                            # must be overwritten by the checkpoint
        net2.load_state_dict(net_state)
        opt2.load_state_dict(opt_state)
        assert opt2.t == 3 and opt2.lr == opt.lr
        _train(net2, opt2, X, Y, 4)
        resumed.append(net2)
        # the checkpoint is not written into by the optimizer that loaded it
        for k, v in saved.items():
            np.testing.assert_array_equal(opt_state[k], v, err_msg=k)
    for net2 in resumed:
        for k, p in net.params.items():
            np.testing.assert_array_equal(net2.params[k], p, err_msg=k)


def test_optimizer_state_dict_is_a_snapshot():
    X, Y = _toy_problem()
    net = _mlp(1)
    opt = Adam(net, lr=0.01)
    _train(net, opt, X, Y, 2)
    state = opt.state_dict()
    assert int(state["t"]) == 2
    assert {k.rsplit("/", 1)[1] for k in state if "/" in k} == {"m", "v"}
    m = state["0.weight/m"].copy()
    _train(net, opt, X, Y, 1)
    np.testing.assert_array_equal(state["0.weight/m"], m)
    with pytest.raises(KeyError, match="unknown parameter 'nope'"):
        opt.load_state_dict(dict(state, **{"nope/m": np.zeros(1)}))


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_small_mlp_regression_loss_decreases(name):
    X, Y = _toy_problem()
    net = _mlp(3)
    losses = _train(net, OPTIMISERS[name](net), X, Y, 60)
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.5 * losses[0], (losses[0], losses[-1])
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
