"""Shared pytest set-up: headless plots, one thread per process, the ``gpu`` marker, a clean
backend per test, the notebooks kept whole when the suite runs on several workers, and
``--backend=emulated``: the suite on the emulated GPU (tests/emulation.py)."""
import os
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")   # before anything imports matplotlib.pyplot
# `make test` runs two pytest workers (pytest-xdist) on the 2-core machine, and each notebook
# runs in a kernel of its own; a second BLAS or numba thread per process would oversubscribe the
# cores, and OpenBLAS's spinning threads then slow every process down. The kernels inherit these.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# minigan sets OMP_WAIT_POLICY=PASSIVE at import (minigan/_threads.py: for two threads per
# pool). With one thread per process the suite measured 5-10 % faster with libgomp's default
# spinning (ACTIVE; two alternated runs of a notebook-heavy subset and of chapter 5 alone); why,
# with no worker threads to spin, is not understood. It changes no number.
os.environ.setdefault("OMP_WAIT_POLICY", "ACTIVE")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from minigan import backend  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))
import emulation  # noqa: E402  (tests/emulation.py)

# Property tests draw the same examples on every run: a check must not pass or fail by chance.
# `pytest --hypothesis-profile=explore` draws new ones (while developing, to look for bugs).
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile("ci")


def pytest_addoption(parser):
    parser.addoption(emulation.BACKEND_OPTION, choices=("numpy", "emulated"), default="numpy",
                     help="the backend every test starts on: numpy (default), or emulated, a "
                          "CuPy-like device on the CPU that fails wherever CuPy would "
                          "(minigan.emulated; host-only test files are not collected: "
                          "tests/emulation.py)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "gpu: needs CuPy and a CUDA GPU; skipped cleanly when there is none")
    if emulation.enabled(config):
        emulation.install_boundary()     # before the test modules import minigan's names
        backend.use("emulated")          # for what modules and their fixtures build, too


def pytest_report_header(config):
    if emulation.enabled(config):
        return (f"backend: emulated GPU (minigan.emulated); not collected: "
                f"{len(emulation.HOST_ONLY)} host-only test files and the notebooks "
                "(tests/emulation.py says why); quality tests skipped")
    return None


def pytest_ignore_collect(collection_path, config):
    # On the emulated GPU: no host-only test file, no notebook (tests/emulation.py).
    if emulation.enabled(config):
        name = Path(str(collection_path)).name
        if name in emulation.HOST_ONLY or name.endswith(".ipynb"):
            return True
    return None


def _weight(item):
    """0 for the student-notebook runs, 1 for nbval's notebook cells, 2 for the rest."""
    path = Path(str(getattr(item, "path", None) or item.fspath))
    return 0 if path.name == "test_student_notebooks.py" else 1 if path.suffix == ".ipynb" else 2


def pytest_collection_modifyitems(config, items):
    # `make test` runs `-n 2 --dist loadscope --no-loadscope-reorder`: each test module and each
    # notebook (whose cells share one kernel) is one unit of work for one worker, handed out in
    # this order. The long units first (one worker starts the student notebooks, the other the
    # notebooks themselves), the many short tests last, to even the two workers out.
    items.sort(key=_weight)
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if gpu_items and not backend.gpu_available():
        skip = pytest.mark.skip(reason="no CuPy / CUDA GPU on this machine")
        for item in gpu_items:
            item.add_marker(skip)
    if emulation.enabled(config):
        # The quality runs train for minutes and measure what NumPy measures (the emulated
        # device computes NumPy's numbers): the every-step tests cover their code on the device.
        skip = pytest.mark.skip(reason="quality runs: NumPy's numbers, minutes on the emulated "
                                       "device; every code path runs in the other tests")
        for item in items:
            if "quality" in item.keywords:
                item.add_marker(skip)
            # a host-only file named on the command line is collected (pytest_ignore_collect
            # is not asked about it): its tests are skipped here instead
            path = Path(str(getattr(item, "path", None) or item.fspath))
            if path.name in emulation.HOST_ONLY:
                item.add_marker(pytest.mark.skip(
                    reason=f"host only: {emulation.HOST_ONLY[path.name]}"))
            reason = emulation.host_only_reason(item.name)
            if reason:
                item.add_marker(pytest.mark.skip(reason=f"host only: {reason}"))


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """The tests' matrices are small: one BLAS thread is faster and never oversubscribes
    the 2-core CI machine (see minigan.backend.blas_threads)."""
    with backend.blas_threads(1):
        yield


@pytest.fixture(autouse=True)
def _fresh_backend(request):
    """Each test starts on NumPy (on the emulated GPU with ``--backend=emulated``) with
    minigan's global generator seeded to 0, and a test that switches to CuPy cannot leak
    that into the next one."""
    start = request.config.getoption(emulation.BACKEND_OPTION)
    if backend.name != start:
        backend.use(start)
    backend.seed(0)
    yield
    if backend.name != start:
        backend.use(start)


@pytest.fixture
def rng():
    """A seeded NumPy generator for test data (independent of minigan's global one)."""
    return np.random.default_rng(20240601)
