"""Shared pytest set-up: headless plots, the ``gpu`` marker, a clean backend per test."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")   # before anything imports matplotlib.pyplot

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from minigan import backend  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "gpu: needs CuPy and a CUDA GPU; skipped cleanly when there is none")


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if gpu_items and not backend.gpu_available():
        skip = pytest.mark.skip(reason="no CuPy / CUDA GPU on this machine")
        for item in gpu_items:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """The tests' matrices are small: one BLAS thread is faster and never oversubscribes
    the 2-core CI machine (see minigan.backend.blas_threads)."""
    with backend.blas_threads(1):
        yield


@pytest.fixture(autouse=True)
def _fresh_backend():
    """Each test starts on NumPy with minigan's global generator seeded to 0, and a test
    that switches to CuPy cannot leak that into the next one."""
    if backend.name != "numpy":
        backend.use("numpy")
    backend.seed(0)
    yield
    if backend.name != "numpy":
        backend.use("numpy")


@pytest.fixture
def rng():
    """A seeded NumPy generator for test data (independent of minigan's global one)."""
    return np.random.default_rng(20240601)
