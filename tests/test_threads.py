"""import minigan lets idle OpenMP threads sleep (minigan/_threads.py): OMP_WAIT_POLICY is set
before NumPy or numba is loaded, and a value the user set is left alone."""
import json
import os
import subprocess
import sys

import pytest

# Records the two variables at the moment NumPy is first imported, then imports minigan.
PROBE = r"""
import importlib.abc, json, os, sys
seen = {}
class Spy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" and not seen:
            seen.update({v: os.environ.get(v) for v in ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")})
        return None
sys.meta_path.insert(0, Spy())
import minigan, minigan.kernels, numba
numba.set_num_threads(1)
print(json.dumps({"at_numpy_import": seen,
                  "after": {v: os.environ.get(v) for v in ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")}}))
"""


def run_probe(**preset):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")}
    env.update(preset)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_set_before_numpy_is_loaded():
    got = run_probe()
    expected = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": None}
    assert got["at_numpy_import"] == expected      # before numba (libgomp) can read it
    assert got["after"] == expected


@pytest.mark.parametrize("preset", [{"OMP_WAIT_POLICY": "ACTIVE"}, {"OMP_WAIT_POLICY": ""},
                                    {"OMP_WAIT_POLICY": "passive", "OPENBLAS_THREAD_TIMEOUT": "4"}])
def test_a_value_the_user_set_is_kept(preset):
    got = run_probe(**preset)
    for var, value in preset.items():
        assert got["after"][var] == value
    if "OPENBLAS_THREAD_TIMEOUT" not in preset:
        assert got["after"]["OPENBLAS_THREAD_TIMEOUT"] is None      # minigan leaves it alone
