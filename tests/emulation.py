"""The test suite on the emulated GPU: ``pytest --backend=emulated`` (``make emulated``).

Under that option every test starts on :mod:`minigan.emulated` (a CuPy-like device on the CPU
that raises wherever CuPy would) instead of NumPy, so a layer, a model or the training loop
that drags data to the host, or calls a NumPy function on a device array, fails a test here
instead of crashing on somebody's GPU. conftest.py reads this module; nothing else does.

Two things make the existing tests run there unchanged:

- **The tests are the user.** minigan.emulated holds minigan's own code to CuPy's rules and
  lets code outside the package convert implicitly, so ``np.testing.assert_allclose(y, ...)``
  on a device output works in a test (see the module docstring of minigan.emulated).
- **The boundary.** A test builds its inputs with NumPy (``rng.standard_normal``) and passes
  them to minigan; on a GPU a user would first move them with ``cupy.asarray``.
  :func:`install_boundary` does that for the tests: every function and method of minigan's
  device code, called from outside minigan, gets its NumPy array arguments as device arrays
  (the same memory, so a test still sees what a call writes into its arrays) and its NumPy
  random Generators as emulated ones drawing from the same stream (so a layer built with a
  test's ``rng`` has device parameters holding the numbers it has on NumPy). Calls from
  inside minigan are untouched: a host array that minigan itself makes still fails.

  Entry points whose contract is to TAKE host data are left out of the boundary, so that the
  tests check that they move it themselves: ``train_step`` (a batch straight from NumPy, as a
  notebook passes it) and ``load_state_dict`` (a checkpoint's NumPy arrays).

The session switches to the emulated device before the test modules are imported, so what a
module or a module-scoped fixture builds (a data set, a trained run) is on the device too.

Which tests run: every file but those :data:`HOST_ONLY` names, with the reason; in them, all
but the tests :data:`HOST_ONLY_TESTS` names (the choice of the CPU kernels), those marked
``quality`` (long training runs that measure NumPy's own numbers: the emulated device computes
exactly those) and those marked ``gpu`` (they need CuPy itself).
"""
from __future__ import annotations

import functools
import importlib
import inspect
import os
import pkgutil
import re
import sys
import types

import numpy as np

import minigan
from minigan import emulated

BACKEND_OPTION = "--backend"

#: Test files that do not run on the emulated device, and why. Everything else runs: the layers,
#: losses, optimisers, kernels (their references), models, the training loop, the data sets
#: (built on the backend in use), the measures, and the command line (``minigan train`` and
#: ``sample`` run in the test's process, so on the emulated device, cli.py and tasks.py included).
HOST_ONLY = {
    "test_backend.py": "chooses backends itself (NumPy, CuPy, the environment variable)",
    "test_packaging.py": "the installed package and its metadata: no arrays",
    # the course: the exercises check a learner's NumPy code (the course teaches NumPy) against
    # the library; the notebooks and the book run in Jupyter kernels and browsers of their own
    "test_exercises.py": "exercise checks: a learner's NumPy code",
    "test_exercises_cgan.py": "exercise checks", "test_exercises_dcgan.py": "exercise checks",
    "test_exercises_lstm.py": "exercise checks", "test_exercises_pix2pix.py": "exercise checks",
    "test_exercises_seq.py": "exercise checks", "test_exercises_stability.py": "exercise checks",
    "test_exercises_text2image.py": "exercise checks", "test_exercises_wgan.py": "exercise checks",
    "test_by_hand.py": "the exercises' hand-written reference answers (NumPy)",
    "test_grade.py": "grading notebooks, in Jupyter kernels",
    "test_student_notebooks.py": "the notebooks, in Jupyter kernels",
    "test_nbval_checks.py": "the notebooks' checks", "test_notebook_sources.py": "notebook sources",
    "test_book.py": "the built book, in a browser", "test_build_book.py": "building the book",
    "test_gpu_check.py": "runs benchmarks/gpu_check.py, which holds the device to NumPy itself",
}

#: The parts of minigan whose functions take device arrays (wrapped by the boundary): all but
#: these, which take host data by design or are the machinery itself. ``minigan.data`` makes
#: the data on the host, with NumPy and NumPy Generators, and moves it to the device itself
#: where a dataset or a batch is made (``backend.asarray``): its functions get what tests give.
#: ``minigan.train`` takes a model and a batch function (it checks that a model moves the
#: NumPy batches it is given) and writes host files (JSON, checkpoints). ``minigan.evaluation``
#: measures NumPy arrays (a model's ``sample`` gives NumPy) and moves them to the device
#: itself where one of its networks (a classifier, a segmenter, the judge) reads them.
NOT_WRAPPED = ("minigan.backend", "minigan.emulated", "minigan.cli", "minigan.grade",
               "minigan.fileio", "minigan.viz", "minigan.exercises", "minigan.__main__",
               "minigan.kernels._", "minigan.data", "minigan.train", "minigan.evaluation")

#: Entry points that take host data by contract (module docstring): no boundary for them.
#: Also the dispatch's ``implementation(a)``, which says what a NumPy array would get.
TAKE_HOST_DATA = frozenset({"train_step", "load_state_dict", "prepare_load_state_dict",
                            "implementation"})

#: Test names (regular expressions) that do not run on the emulated device, and why.
HOST_ONLY_TESTS = {
    r"^test_(gates_)?(dispatch|fallback_without_numba|out_arrays_and_aliasing)|"
    r"^test_avg_pool_dispatch":
        "the choice of the CPU kernel (numba or NumPy) for NumPy arrays: a device array "
        "always gets the reference, which the other kernel tests check on the device",
}


def _boundary_kind(name: str):
    """How the boundary treats a call of the function ``name`` from a test: "device" (NumPy
    arrays moved to the device), "host" (the CPU kernels ``*_numba``: numba reads NumPy arrays
    only, so device arrays are brought back, as a user would with ``backend.to_numpy``), or
    None (no boundary: the function takes host data by contract)."""
    if name in TAKE_HOST_DATA:
        return None
    return "host" if name.endswith("_numba") else "device"


_PACKAGE = os.path.dirname(os.path.abspath(minigan.__file__)) + os.sep


def enabled(config) -> bool:
    return config.getoption(BACKEND_OPTION) == "emulated"


def _to_device(obj):
    """``obj`` as a user on a GPU would pass it: NumPy arrays of numbers as device arrays of
    the same memory, NumPy Generators as emulated ones on the same stream; inside tuples,
    lists and dicts (new containers only where something changed)."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biufc":
            return obj                      # strings, objects: host data by nature
        return emulated._wrap(obj)
    if isinstance(obj, np.random.Generator):
        return emulated.Generator(obj)
    if isinstance(obj, (tuple, list)):
        new = [_to_device(v) for v in obj]
        if all(a is b for a, b in zip(new, obj)):
            return obj
        return type(obj)(new) if type(obj) in (tuple, list) else obj
    if isinstance(obj, dict):
        new = {k: _to_device(v) for k, v in obj.items()}
        return new if any(new[k] is not obj[k] for k in obj) else obj
    return obj


def _called_from_outside(frame) -> bool:
    """Whether the innermost project frame (as minigan.emulated decides it) is not minigan's."""
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(_PACKAGE):
            return False
        if name.startswith(emulated._LOOKED_THROUGH) or name.startswith("<frozen") \
                or name == __file__:
            frame = frame.f_back
            continue
        return True
    return True


def _to_host(obj):
    """``obj`` with its device arrays brought back to NumPy (inside tuples and lists)."""
    if isinstance(obj, emulated.ndarray):
        return emulated.asnumpy(obj)
    if type(obj) in (tuple, list):
        return type(obj)(_to_host(v) for v in obj)
    return obj


def _boundary(func, kind):
    """``func`` with its arguments moved as ``kind`` says (see :func:`_boundary_kind`) when a
    test calls it."""
    if getattr(func, "_emulation_boundary", False):
        return func
    move = _to_device if kind == "device" else _to_host

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if _called_from_outside(sys._getframe(1)):
            args = tuple(move(a) for a in args)
            kwargs = {k: move(v) for k, v in kwargs.items()}
        return func(*args, **kwargs)

    wrapper._emulation_boundary = True
    return wrapper


def _wrapped_modules():
    """Every module of minigan that the boundary covers (imported here)."""
    names = [m.name for m in pkgutil.walk_packages(minigan.__path__, "minigan.")]
    out = [minigan]
    for name in names:
        if name.startswith(NOT_WRAPPED):
            continue
        out.append(importlib.import_module(name))
    return out


def install_boundary():
    """Wrap minigan's device functions and methods (see the module docstring). Once per
    process, before the test modules import minigan's names."""
    if getattr(minigan, "_emulation_boundary", False):
        return
    modules = _wrapped_modules()
    replaced = {}                            # original function -> its wrapper
    for module in modules:
        for name, obj in list(vars(module).items()):
            if inspect.isclass(obj) and obj.__module__ == module.__name__:
                _wrap_class(obj)
            elif isinstance(obj, types.FunctionType) and obj.__module__ == module.__name__ \
                    and _boundary_kind(name) is not None:
                replaced[obj] = _boundary(obj, _boundary_kind(name))
    for module in [m for m in sys.modules.values() if isinstance(m, types.ModuleType)
                   and m.__name__.startswith("minigan")]:
        for name, obj in list(vars(module).items()):   # and where they are re-exported
            if isinstance(obj, types.FunctionType) and obj in replaced:
                setattr(module, name, replaced[obj])
    minigan._emulation_boundary = True


def _wrap_class(cls):
    for name, attr in list(vars(cls).items()):
        kind = _boundary_kind(name)
        if kind is None or (name.startswith("__") and name not in ("__init__", "__call__")):
            continue
        if isinstance(attr, types.FunctionType):
            setattr(cls, name, _boundary(attr, kind))
        elif isinstance(attr, staticmethod):
            setattr(cls, name, staticmethod(_boundary(attr.__func__, kind)))
        elif isinstance(attr, classmethod):
            setattr(cls, name, classmethod(_boundary(attr.__func__, kind)))


def host_only_reason(test_name: str):
    """Why the test ``test_name`` does not run on the emulated device, or None."""
    for pattern, reason in HOST_ONLY_TESTS.items():
        if re.search(pattern, test_name):
            return reason
    return None
