"""How minigan's two CPU thread pools share the cores: set before anything else is imported.

A training step alternates NumPy's matrix products (OpenBLAS, with its own pthreads) and
minigan's numba kernels (im2col, activations, batch norm: numba's OpenMP threads). By default
an idle thread of either pool spins for a while, waiting for more work: OpenBLAS's for up to
2^28 cycles (about a tenth of a second), libgomp's for a while too. With two threads per pool
on two cores, each pool's spinning worker then takes the core the other pool's worker needs,
and a parallel kernel runs as if on one thread: on the project's 2-core machine a DCGAN step on
two threads was no faster than on one (155 ms against 158 ms), and im2col ran at its
one-thread speed right after a product. So that the idle threads go to sleep instead, when
``import minigan`` runs, this module sets, each only where the variable is not set already:

- ``OMP_WAIT_POLICY=PASSIVE``: libgomp reads it when numba first starts its threads (the first
  parallel kernel, or a ``numba.set_num_threads`` call);
- ``OPENBLAS_THREAD_TIMEOUT=4`` (2^4 cycles of spinning, OpenBLAS's least): OpenBLAS reads it
  when it is loaded, at NumPy's import, so it takes effect only when minigan is imported before
  NumPy (as minigan's command line and notebooks do); a script that imports NumPy first can
  set it in its environment.

They change no number, only how idle threads wait (benchmarks/README.md has the measurements).
The cost: an OpenMP or OpenBLAS runtime loaded later in the same process (PyTorch's, say)
reads them too, and a woken thread starts some microseconds later than a spinning one. To
choose otherwise, set the variables yourself (``OMP_WAIT_POLICY=ACTIVE``,
``OPENBLAS_THREAD_TIMEOUT=28``): minigan never overrides a value that is set.
"""
from __future__ import annotations

import os

#: variable -> the value minigan sets when the variable is unset
DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}


def sleep_when_idle() -> dict:
    """Set the variables of :data:`DEFAULTS` that are unset; returns those it set. Called once,
    by ``import minigan``. (``OPENBLAS_THREAD_TIMEOUT`` is set even when NumPy is already
    loaded, for the child processes that inherit the environment, though this process's
    OpenBLAS has read its setting already.)"""
    done = {}
    for var, value in DEFAULTS.items():
        if var not in os.environ:
            os.environ[var] = value
            done[var] = value
    return done
