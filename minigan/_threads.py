"""How minigan's two CPU thread pools share the cores: set before anything else is imported.

A training step alternates NumPy's matrix products (OpenBLAS, with its own pthreads) and
minigan's numba kernels (im2col, activations, batch norm: numba's OpenMP threads). By default
an idle OpenMP thread (libgomp) spins for a while, waiting for more work, and takes the core an
OpenBLAS thread needs: on the project's 2-core machine a DCGAN step on two threads was no faster
than on one (155 ms against 158 ms); with idle OpenMP threads asleep it took 105 ms. So when
``import minigan`` runs, this module sets ``OMP_WAIT_POLICY=PASSIVE`` where the variable is not
set already; libgomp reads it when numba first starts its threads (the first parallel kernel,
or a ``numba.set_num_threads`` call).

OpenBLAS's idle threads spin too (for up to 2^28 cycles; ``OPENBLAS_THREAD_TIMEOUT`` shortens
it, read when NumPy loads OpenBLAS). Shortening it to 2^4 made a convolution after a product
about 10 % faster on two threads but the LSTM, whose 32 small products per pass come one after
another, 30 % slower (each product then wakes a sleeping thread): minigan leaves it alone
(benchmarks/README.md).

It changes no number, only how idle threads wait. The cost: an OpenMP runtime loaded later in
the same process (PyTorch's, say) reads the variable too, and a woken thread starts some
microseconds later than a spinning one. To choose otherwise, set ``OMP_WAIT_POLICY`` yourself
(``ACTIVE`` restores spinning): minigan never overrides a value that is set.
"""
from __future__ import annotations

import os

#: variable -> the value minigan sets when the variable is unset
DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE"}


def sleep_when_idle() -> dict:
    """Set the variables of :data:`DEFAULTS` that are unset; returns those it set. Called once,
    by ``import minigan``, before NumPy or numba is imported."""
    done = {}
    for var, value in DEFAULTS.items():
        if var not in os.environ:
            os.environ[var] = value
            done[var] = value
    return done
