"""The emulated GPU (minigan.emulated), itself: each of CuPy's rules raises on a small example,
the explicit transfers work, results stay on the device, a host-dragging function fails under
it; and the GPU path of every model runs on it, with NumPy's numbers.

These run in the ordinary suite (on NumPy, switching to the emulated backend where they need
it), so a CI run without ``--backend=emulated`` still checks that the emulation is strict.
"""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from minigan import backend, emulated
from minigan.kernels import activation
from minigan.kernels.im2col import implementation as im2col_implementation
from minigan.nn import Linear

xp = emulated


@pytest.fixture
def dev():
    """A small device array: [[0, 1, 2], [3, 4, 5]] as float64."""
    return xp.asarray(np.arange(6.0).reshape(2, 3))


# --- 1. each rule raises (with strict(): the rules for every caller, this test included) ------
def test_implicit_conversion_to_numpy_raises(dev):
    with emulated.strict():
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
            np.asarray(dev)
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
            np.array(dev)
        with pytest.raises(TypeError, match="Implicit conversion"):
            np.float32(xp.asarray(1.0))
        host = np.zeros((2, 3))
        with pytest.raises(TypeError, match="Implicit conversion"):
            host[...] = dev                          # NumPy reads it: a conversion too


def test_numpy_functions_on_device_arrays_raise(dev):
    with emulated.strict():
        for call in (lambda: np.mean(dev), lambda: np.concatenate([dev, dev]),
                     lambda: np.where(dev > 1, dev, 0), lambda: np.exp(dev),
                     lambda: np.maximum(dev, 0), lambda: np.add.at(dev, [0], 1.0)):
            with pytest.raises(TypeError, match="on an emulated device array"):
                call()
        # an operator with a NumPy scalar on the left is not a NumPy function (CuPy agrees)
        y = np.float32(2) * dev
        assert isinstance(y, emulated.ndarray) and y.tolist() == (2 * np.arange(6.0)).reshape(
            2, 3).tolist()


def test_host_and_device_arrays_do_not_mix(dev):
    host = np.ones((2, 3))
    with emulated.strict():
        for call in (lambda: dev + host, lambda: host + dev, lambda: dev * np.asarray(2.0),
                     lambda: xp.concatenate([dev, host]), lambda: dev.dot(host.T),
                     lambda: xp.where(dev > 1, host, dev), lambda: dev @ host.T):
            with pytest.raises(TypeError, match="NumPy \\(host\\) array was mixed"):
                call()
        with pytest.raises(TypeError, match="mixed"):
            dev += host


def test_only_what_cupy_has():
    with pytest.raises(AttributeError, match="CuPy has none either"):
        xp.errstate
    with pytest.raises(ValueError, match="Unsupported dtype"):
        xp.asarray(np.array(["a", "b"]))
    with pytest.raises(TypeError):
        range(xp.asarray(3))                         # no __index__: int() first, as in CuPy
    g = xp.random.default_rng(0)
    for method in ("normal", "permutation", "choice", "shuffle"):
        assert not hasattr(g, method)                # CuPy's Generator has none of these
    with pytest.raises(NotImplementedError):
        xp.subtract.at(xp.zeros(3), [0], 1.0)        # ufunc.at: add, maximum, minimum only


# --- 2. what is allowed: explicit transfers, host syncs, host data INTO the device -----------
def test_explicit_transfers_and_host_syncs(dev):
    with emulated.strict():
        for host in (xp.asnumpy(dev), dev.get(), backend.to_numpy(dev)):
            assert type(host) is np.ndarray and host.tolist() == [[0, 1, 2], [3, 4, 5]]
            host[0, 0] = 99                          # a copy: the device array is untouched
        assert float(dev[1, 2]) == 5.0 and int(dev.sum()) == 15 and bool(dev[0, 1])
        assert dev.max().item() == 5.0 and dev.tolist()[1] == [3.0, 4.0, 5.0]
        assert len(dev) == 2 and "5." in repr(dev) and f"{dev[0, 0]:.1f}" == "0.0"
        assert pickle.loads(pickle.dumps(dev)).tolist() == dev.tolist()


def test_host_data_may_go_into_the_device(dev):
    with emulated.strict():
        host = np.array([7.0, 8.0, 9.0])
        d = xp.asarray(host)                         # a copy on the device
        host[0] = -1
        assert d.tolist() == [7.0, 8.0, 9.0]
        dev[0] = host                                # written into a device array
        assert dev[0].tolist() == [-1.0, 8.0, 9.0]
        assert dev[np.array([1, 0])].shape == (2, 3)  # host indices
        assert dev[dev > 4].tolist() == [8.0, 9.0, 5.0]


def test_results_stay_on_the_device(dev):
    with emulated.strict():
        for result in (dev.sum(), dev[0, 0], dev + 1, 1.5 * dev, -dev, dev.T @ dev,
                       xp.exp(dev), xp.concatenate([dev, dev]), dev.astype(np.float32),
                       xp.random.default_rng(0).random(), dev.reshape(-1)[::2], abs(dev)):
            assert isinstance(result, emulated.ndarray), type(result)
        assert dev.sum().shape == () and dev[0, 0].shape == ()     # 0-d arrays, as CuPy
        assert backend.get_array_module(dev) is emulated
        assert backend.get_array_module(np.zeros(1), 1.0) is np
        assert not isinstance(dev, np.ndarray)


def test_the_generator_draws_numpys_numbers():
    g, ref = xp.random.default_rng(7), np.random.default_rng(7)
    for draw, expect in ((g.standard_normal((2, 3), dtype=np.float32),
                          ref.standard_normal((2, 3), dtype=np.float32)),
                         (g.uniform(-1, 1, 4), ref.uniform(-1, 1, 4)),
                         (g.integers(0, 10, 5), ref.integers(0, 10, 5)),
                         (g.random(3), ref.random(3))):
        assert isinstance(draw, emulated.ndarray)
        np.testing.assert_array_equal(xp.asnumpy(draw), expect)
    assert xp.random.default_rng([3, 4]).random().shape == ()      # size=None: a 0-d array


def test_backend_helpers_for_what_cupys_generator_lacks():
    """backend.normal / backend.permutation: NumPy's own numbers on NumPy, a draw on the
    device from the device's generator (which has no normal or permutation)."""
    np.testing.assert_array_equal(backend.normal(np.random.default_rng(1), 1.0, 0.02, (3, 4)),
                                  np.random.default_rng(1).normal(1.0, 0.02, (3, 4)))
    np.testing.assert_array_equal(backend.permutation(np.random.default_rng(1), 9),
                                  np.random.default_rng(1).permutation(9))
    g = xp.random.default_rng(1)
    with emulated.strict():
        w = backend.normal(g, 1.0, 0.02, (400, 50))
        p = backend.permutation(g, 9)
        assert isinstance(w, emulated.ndarray) and isinstance(p, emulated.ndarray)
        assert abs(float(w.mean()) - 1.0) < 0.001 and abs(float(w.std()) - 0.02) < 0.001
        assert sorted(p.tolist()) == list(range(9))


# --- 3. who the rules apply to: minigan's code, not the tests --------------------------------
def _as_if_in_minigan(source, name):
    """A function compiled as if its file were in the minigan package (the rules apply)."""
    path = os.path.join(os.path.dirname(emulated.__file__), "nn", "_not_a_real_file.py")
    scope = {"np": np, "backend": backend}
    exec(compile(source, path, "exec"), scope)
    return scope[name]


DRAGS_TO_HOST = '''
def column_means(x):
    """A deliberate GPU bug: NumPy's mean on the layer's array (on a GPU: to the host)."""
    return np.mean(x, axis=0)
'''

KEEPS_ON_DEVICE = '''
def column_means(x):
    return backend.get_array_module(x).mean(x, axis=0)
'''


def test_a_host_dragging_function_fails_under_it(dev):
    drags = _as_if_in_minigan(DRAGS_TO_HOST, "column_means")
    keeps = _as_if_in_minigan(KEEPS_ON_DEVICE, "column_means")
    np.testing.assert_array_equal(drags(np.arange(6.0).reshape(2, 3)), [1.5, 2.5, 3.5])  # NumPy
    with pytest.raises(TypeError, match="numpy.mean was called on an emulated device array"):
        drags(dev)                                   # the emulated device catches it
    assert isinstance(keeps(dev), emulated.ndarray)
    assert keeps(dev).tolist() == [1.5, 2.5, 3.5]


def test_outside_minigan_implicit_transfers_are_allowed(dev):
    """A test is the user: it may compare device results with NumPy directly."""
    np.testing.assert_array_equal(dev, np.arange(6.0).reshape(2, 3))
    assert type(np.mean(dev)) is np.float64              # NumPy's function: NumPy's result
    assert isinstance(dev + np.ones((2, 3)), emulated.ndarray)   # the device's operator
    assert dev[0, 1] == pytest.approx(1.0)


# --- 4. the backend and the kernels on the emulated device ---------------------------------
def test_use_emulated_makes_layers_on_the_device():
    backend.use("emulated")
    layer = Linear(3, 2)
    assert all(isinstance(p, emulated.ndarray) for p in layer.params.values())
    y, _ = layer.forward(xp.ones((4, 3), dtype=np.float32))
    assert isinstance(y, emulated.ndarray) and y.dtype == np.float32
    assert backend.name == "emulated" and backend.xp is emulated
    # the kernel dispatch: the NumPy references, run on the device arrays themselves
    assert activation.implementation(y) == "numpy" and im2col_implementation(y) == "numpy"
    with emulated.strict():
        assert isinstance(activation.leaky_relu(y, 0.2), emulated.ndarray)


def test_a_layer_moves_to_the_device_and_back():
    layer = Linear(3, 2, rng=np.random.default_rng(0))
    w = layer.params["weight"].copy()
    backend.use("emulated")
    layer.to(backend_name="emulated")
    assert isinstance(layer.params["weight"], emulated.ndarray)
    assert isinstance(layer.grads["weight"], emulated.ndarray)
    with emulated.strict():
        y, cache = layer.forward(xp.ones((1, 3), dtype=np.float32))
        layer.backward(xp.ones((1, 2), dtype=np.float32), cache)
    layer.to(backend_name="numpy")
    assert type(layer.params["weight"]) is np.ndarray
    np.testing.assert_array_equal(layer.params["weight"], w)


def test_the_suites_list_of_host_only_files_names_real_files():
    """tests/emulation.py: a misspelt name would silently run (or skip) a file."""
    import emulation
    here = os.path.dirname(os.path.abspath(__file__))
    assert all(os.path.isfile(os.path.join(here, name)) for name in emulation.HOST_ONLY)
    assert "test_emulated.py" not in emulation.HOST_ONLY


def test_the_boundary_moves_a_tests_inputs_to_the_device():
    """tests/emulation.py: NumPy arrays become device arrays of the same memory, NumPy
    Generators emulated ones on the same stream; strings stay on the host."""
    import emulation
    a, g = np.zeros(3), np.random.default_rng(5)
    moved = emulation._to_device((a, [g, "x"], {"k": a}, np.array(["s"])))
    assert isinstance(moved[0], emulated.ndarray) and moved[2]["k"]._a is a
    assert isinstance(moved[1][0], emulated.Generator) and moved[1][1] == "x"
    assert moved[3].dtype.kind == "U"
    assert float(moved[1][0].random()) == np.random.default_rng(5).random()
    assert g.random() == np.random.default_rng(5).random(2)[1]     # one stream, shared


def test_environment_variable_selects_the_emulated_backend():
    code = "import minigan.backend as b; print(b.name, b.xp.__name__)"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                         env=dict(os.environ, MINIGAN_BACKEND="Emulated"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["emulated", "minigan.emulated"]


# --- 5. every model's GPU path, from NumPy batches, with NumPy's numbers ---------------------
def _first_case_of_each_model():
    from test_every_step import CASES
    seen, out = set(), []
    for case, (name, kw, batch) in CASES.items():
        if name not in seen:
            seen.add(name)
            out.append(case)
    return out


@pytest.mark.parametrize("case", _first_case_of_each_model())
def test_every_model_steps_on_the_device_from_numpy_batches(case, monkeypatch):
    """Built on the emulated device, a model takes NumPy batches (as a notebook gives them:
    train_step moves them), keeps every parameter on the device, and after two steps holds
    what the same model holds on NumPy (the kernels' references on both), to the bit. Except
    text-to-image: its steps shuffle the batch (GAN-CLS's mismatched captions, GAN-INT's
    partners), and a device generator has no ``permutation`` (backend.permutation sorts
    uniform draws there), so it draws other permutations than NumPy's."""
    from test_every_step import CASES, _batches, _pretraining_steps
    from minigan.gans import get_model_class
    monkeypatch.setenv("MINIGAN_KERNELS", "numpy")
    name, kw, device_or_host_batch = CASES[case]

    def batch(step):        # NumPy batches (under --backend=emulated the data sets are on the
        b = device_or_host_batch(step)                                  # emulated device)
        return tuple(map(backend.to_numpy, b)) if isinstance(b, tuple) else backend.to_numpy(b)

    states = {}
    for which in ("numpy", "emulated"):
        backend.use(which)
        model = get_model_class(name)(seed=0, **kw)
        k = model.batches_per_step
        for step in range(_pretraining_steps(model) + 2):
            logs = model.train_step(_batches(batch, step, k))
            assert all(isinstance(v, (int, float)) for v in logs.values()), logs
        if which == "emulated":
            for part in ("G", "D"):
                for n, p, g in getattr(model, part).named_parameters():
                    assert isinstance(p, emulated.ndarray) and isinstance(g, emulated.ndarray), n
        states[which] = model.state_dict()
    assert set(states["numpy"]) == set(states["emulated"])
    for key, value in states["numpy"].items():
        assert np.isfinite(states["emulated"][key]).all(), key
        if name != "text2image":
            np.testing.assert_array_equal(states["emulated"][key], value, err_msg=key)
