"""The array backend: choosing it, moving arrays, seeding; a CuPy check where a GPU exists."""
import os
import pathlib
import platform
import subprocess
import sys

import numpy as np
import pytest

from minigan import backend
from minigan.nn import Linear


def test_use_numpy():
    backend.use("numpy")
    assert backend.xp is np and backend.name == "numpy"
    assert isinstance(backend.asarray([1, 2], dtype="float32"), np.ndarray)
    assert backend.asarray([1, 2], dtype="float32").dtype == np.float32


def test_use_unknown_backend_raises_and_changes_nothing():
    with pytest.raises(ValueError, match="unknown backend 'bogus'.*'numpy' or 'cupy'"):
        backend.use("bogus")
    assert backend.xp is np and backend.name == "numpy"


def test_use_cupy_without_cupy_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)   # `import cupy` now raises ImportError
    with pytest.raises(RuntimeError, match=r"CuPy is not installed.*pip install"):
        backend.use("cupy")
    assert backend.xp is np and backend.name == "numpy"
    assert backend.gpu_available() is False


def test_use_cupy_on_this_machine():
    if backend.gpu_available():
        pytest.skip("CuPy and a GPU are present: covered by the gpu tests")
    with pytest.raises(RuntimeError, match="cupy") as err:
        backend.use("cupy")
    msg = str(err.value)
    assert "pip install" in msg or "minigan.use('numpy')" in msg
    assert backend.name == "numpy"


def test_env_variable_selects_backend_at_import():
    code = "import minigan.backend as b; print(b.name)"
    root = str(pathlib.Path(__file__).resolve().parents[1])

    def run(value):
        env = dict(os.environ, MINIGAN_BACKEND=value)
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env, cwd=root)

    ok = run("NumPy ")                    # case and spaces forgiven
    assert ok.returncode == 0 and ok.stdout.strip() == "numpy", ok.stderr
    bad = run("bogus")
    assert bad.returncode != 0 and "unknown backend 'bogus'" in bad.stderr


def test_to_numpy_and_get_array_module(rng):
    a = rng.standard_normal(3)
    assert backend.to_numpy(a) is a or np.shares_memory(backend.to_numpy(a), a)
    out = backend.to_numpy([1.0, 2.0])
    assert isinstance(out, np.ndarray) and out.tolist() == [1.0, 2.0]
    assert backend.get_array_module(a) is np
    assert backend.get_array_module(a, 1.0, [1]) is np
    assert backend.get_array_module() is np


def test_seeding_is_reproducible():
    backend.seed(123)
    a = backend.rng().standard_normal(5)
    b = backend.rng().standard_normal(5)
    backend.seed(123)
    np.testing.assert_array_equal(backend.rng().standard_normal(5), a)
    np.testing.assert_array_equal(backend.rng().standard_normal(5), b)
    backend.seed(124)
    assert not np.array_equal(backend.rng().standard_normal(5), a)
    np.testing.assert_array_equal(backend.default_rng(7).random(4),
                                  np.random.default_rng(7).random(4))
    backend.seed(5)
    w1 = Linear(4, 3).params["weight"]
    backend.seed(5)
    np.testing.assert_array_equal(Linear(4, 3).params["weight"], w1)


# --- GPU --------------------------------------------------------------------------------------------
@pytest.mark.gpu
def test_cupy_linear_matches_numpy(rng):
    import cupy

    ref = Linear(5, 3, rng=rng, dtype="float32")
    x = rng.standard_normal((4, 2, 5)).astype(np.float32)
    dy = rng.standard_normal((4, 2, 3)).astype(np.float32)
    y_ref, cache = ref.forward(x)
    dx_ref = ref.backward(dy, cache)

    backend.use("cupy")
    gpu = Linear(5, 3, rng=np.random.default_rng(0), dtype="float32")
    gpu.to(backend_name="cupy")
    gpu.load_state_dict(ref.state_dict())
    assert isinstance(gpu.params["weight"], cupy.ndarray)
    y, cache = gpu.forward(cupy.asarray(x))
    dx = gpu.backward(cupy.asarray(dy), cache)
    assert backend.get_array_module(y) is cupy
    np.testing.assert_allclose(backend.to_numpy(y), y_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(backend.to_numpy(dx), dx_ref, rtol=1e-5, atol=1e-5)
    for k in ref.grads:
        np.testing.assert_allclose(backend.to_numpy(gpu.grads[k]), ref.grads[k],
                                   rtol=1e-5, atol=1e-5)
    gpu.to(backend_name="numpy")
    assert isinstance(gpu.params["weight"], np.ndarray)


def test_blas_threads_limits_and_restores():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads_now():
        info = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
        return [p["num_threads"] for p in info]

    with backend.blas_threads(2):              # the test session runs with 1 (conftest)
        before = blas_threads_now()
        if not before or max(before) < 2:
            pytest.skip("BLAS runs on one thread here: nothing to limit")
        with backend.blas_threads(1):
            assert all(n == 1 for n in blas_threads_now())
        assert blas_threads_now() == before
        with backend.blas_threads(None):         # None: leave it alone
            assert blas_threads_now() == before


def test_keep_freed_memory(monkeypatch):
    """Set once per process (glibc only); MINIGAN_MALLOC_TOP_PAD=0 or nbytes <= 0 turns it off.
    Changes no result: a speed setting of the C allocator."""
    monkeypatch.setattr(backend, "_malloc", {"done": False})
    monkeypatch.setenv(backend.TOP_PAD_ENV, "0")
    assert backend.keep_freed_memory() is False and not backend._malloc["done"]
    monkeypatch.delenv(backend.TOP_PAD_ENV)
    assert backend.keep_freed_memory(0) is False
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert backend.keep_freed_memory() is glibc
    if glibc:
        assert backend.keep_freed_memory() is True           # once: now a no-op
