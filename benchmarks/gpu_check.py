"""One prepared script for a machine with an NVIDIA GPU: is minigan right on CuPy, and how fast?

    python benchmarks/gpu_check.py                      # on the GPU machine, <= 8 minutes
    python benchmarks/gpu_check.py --budget-s 300 --json /tmp/gpu_check.json
    python benchmarks/gpu_check.py --device emulated --quick    # without a GPU (what CI tests)

Run it from the repository root with the project's Python. The exit status is 0 only when
every part that ran passed; the report ends with a table (part, status, seconds), and the
results are written as JSON (``--json PATH``; by default ``benchmarks/results/gpu_check.json``,
and only when the device is a real GPU).

**On a bare, offline GPU machine.** CuPy (and PyTorch, for the comparison) are not
dependencies of minigan; carry their wheels. On a machine with internet access and the same
Python version and platform (e.g. manylinux x86_64, CPython 3.11; otherwise add
``--python-version 3.11 --platform manylinux2014_x86_64`` to ``pip download``)::

    pip download --only-binary=:all: --dest wheels/ "cupy-cuda12x[ctk]" \\
        "torch==2.*" --index-url https://download.pytorch.org/whl/cu124 \\
        --extra-index-url https://pypi.org/simple
    # cupy-cuda12x for a CUDA 12 driver (cupy-cuda11x for CUDA 11). CuPy compiles minigan's
    # kernels with NVRTC and needs cuBLAS/cuRAND: the [ctk] extra (recent CuPy) brings them
    # as nvidia-* wheels; without it the GPU machine needs a CUDA Toolkit installed. The torch
    # CUDA wheel brings its own CUDA libraries (~2.5 GB with its nvidia-* wheels).

then on the GPU machine, in the project's virtual environment::

    pip uninstall -y torch          # a CPU build of torch, if the environment has one
    pip install --no-index --find-links wheels/ "cupy-cuda12x[ctk]" torch
    python benchmarks/gpu_check.py

Without CuPy (or without a visible GPU) ``--device cupy`` prints one line saying so and exits
with status 2, having checked nothing. Without a PyTorch that sees CUDA, the comparison with
PyTorch is skipped with a line saying so, and minigan's own GPU timings are still reported.

**The parts** (each with its own time budget, all under ``--budget-s``, default 480 s; a part
that runs out of its budget stops and fails):

- ``info``: the GPU's name and memory, the CUDA runtime and driver versions, CuPy's, NumPy's
  (and numba's) versions, the Python and the git revision.
- ``gpu_tests``: ``pytest -m gpu tests/`` in a subprocess (passed / failed / skipped counts,
  from its JUnit XML). With ``--device emulated`` it is skipped: the gpu tests need CuPy.
- ``layers``: every public layer class of ``minigan.nn`` (found by walking the package: a layer
  without a case FAILS the part, so a new layer cannot be forgotten), every array function it
  exports (losses, softmax, the U-Net skip, clipping, the power iteration; the receptive-field
  arithmetic, which handles no arrays, is listed as exempt) and every dispatch function of
  ``minigan.kernels`` (held to its ``*_reference`` on NumPy), in float64: the same parameters
  and inputs on the device and on NumPy; forward outputs, the backward pass (dx and every
  parameter gradient), the buffers after the call (batch-norm running statistics, spectral
  norm's u), ``backward_params`` where a layer has its own, and the tangent passes
  (``forward_jvp``/``backward_jvp``) where a layer has them. Dropout draws its mask on both
  sides from the same NumPy stream (on the device through a generator that draws NumPy's
  numbers and hands them over as device arrays), so the masks are the same.
  The error of an array is max|device − NumPy| / max|NumPy| (the largest error relative to
  the array's scale; absolute when the NumPy array is all zeros), and a case passes when
  every array's error is <= 1e-10. Why 1e-10: float64 rounds at 1.1e-16; the device sums in
  another order (cuBLAS, CuPy's reductions, the kernels' trees), which for the sums of these
  sizes (<= 10⁴ terms) moves results by ~1e-15 of their scale; 1e-10 leaves 10⁵ of headroom
  while anything wrong (an index off by one, a term missed, a float32 round trip: ~1e-7) is far
  above it. Integer outputs (pooling's argmax) must be equal.
- ``dcgan``: a small float64 DCGAN (``--dcgan-width`` 16, batch 16, 28×28) trained a few steps
  on the device and on NumPy from the same seed and the same batches. CuPy's random generator
  draws other numbers than NumPy's, so for this check ``backend.default_rng`` is replaced (in
  this process only, for the device run) by a generator that draws NumPy's numbers and returns
  them as device arrays: both runs then see the same initial weights and the same noise. The
  losses of every step must agree to 1e-9 (relative) and the final parameters and running
  statistics to 1e-9 of each array's scale. Why 1e-9: the per-operation differences are
  ~1e-15 (above); a few Adam steps amplify a gradient's absolute error by at most lr/ε = 2e4
  (Adam's step is continuous in g thanks to ε = 1e-8), which stays far below 1e-9 for these
  weights (~0.02); a real difference (a wrong gradient, a draw consumed differently) moves the
  losses by 1e-4 or more.
- ``timing``: one DCGAN training step (width 64, batch 64, 1×28×28, float32, as
  ``bench_speed.py``'s ``mg_dcgan``/``torch_dcgan``) and one Pix2Pix step (the workloads of
  ``bench_pix2pix_speed.py``, its ``minigan_model``, ``batch_numpy``, ``torch_networks``,
  ``torch_init_`` and ``torch_step_fn`` imported, not copied), minigan on CuPy against PyTorch
  on CUDA: warm-up steps excluded, the device synchronised before each reading of the clock,
  the median of ``--steps`` steps; the ratio minigan / PyTorch. PyTorch runs in a subprocess
  of its own, so the two libraries never share a process (nor a CUDA context). The batches
  are on the device before timing on both sides. Timings are reported, never asserted.

**Without a GPU**: ``--device emulated`` runs ``layers`` and ``dcgan`` with
:mod:`minigan.emulated` as the device (a CuPy-like device on the CPU that raises wherever CuPy
would; its numbers are NumPy's, so this proves the device path keeps its data on the device and
that the checks run, not CuPy's kernels), ``timing`` on tiny workloads (the code path; the
numbers mean nothing), and skips the gpu tests and PyTorch CUDA with a line each.
``tests/test_gpu_check.py`` runs it that way.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import json
import math
import os
import pkgutil
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from minigan import backend

DEFAULT_JSON = os.path.join(ROOT, "benchmarks", "results", "gpu_check.json")
LAYER_TOL = 1e-10      # float64, relative to each array's scale (module docstring)
DCGAN_TOL = 1e-9       # float64 losses and final parameters after a few steps
PARTS = ("info", "gpu_tests", "layers", "dcgan", "timing")
# Each part's share of the budget (seconds of the default 480; scaled with --budget-s).
BUDGETS = {"info": 10, "gpu_tests": 150, "layers": 90, "dcgan": 60, "timing": 150}
DEFAULT_BUDGET = 480.0
# The receptive-field arithmetic handles no arrays: nothing to hold to NumPy.
EXEMPT = {"Module": "the abstract base class", "ReceptiveField": "a result record: no arrays",
          "receptive_field": "arithmetic on layer geometry: no arrays"}


class PartTimeout(Exception):
    """A part ran past its time budget."""


def say(*args, **kwargs):
    print(*args, **kwargs, flush=True)


# =============================================================================================
# The device: selection, synchronisation, NumPy's random numbers on the device
# =============================================================================================

def cupy_problem():
    """None if CuPy imports and sees a GPU, else one line saying what is missing."""
    try:
        import cupy
    except ImportError as exc:
        return (f"CuPy is not installed ({exc}); install cupy-cuda12x (offline: carry its "
                "wheel, see this script's docstring) or run with --device emulated")
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - CuPy raises several kinds here
        return f"CuPy {cupy.__version__} is installed but sees no usable CUDA GPU ({exc})"
    if n == 0:
        return f"CuPy {cupy.__version__} is installed but no CUDA GPU is visible"
    return None


def synchronize():
    """Wait for the device to finish what was queued (a no-op on NumPy and the emulator)."""
    if backend.name == "cupy":
        import cupy
        cupy.cuda.Device().synchronize()


@contextlib.contextmanager
def on_backend(name):
    """The block on backend ``name`` (minigan.use), then back to what was in use."""
    before = backend.name
    if before != name:
        backend.use(name)
    try:
        yield
    finally:
        if backend.name != before:
            backend.use(before)


class NumpyDraws:
    """A CuPy-like Generator (CuPy's methods only: no ``normal``, ``permutation``, ...) that
    draws NumPy's numbers and returns them as arrays of the backend in use. The device run
    of a comparison uses it where the NumPy run uses ``numpy.random.default_rng(seed)``, so
    both see the same numbers (CuPy's own generator draws others)."""

    def __init__(self, seed=None):
        self._g = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    def _out(self, a):
        return backend.xp.asarray(np.asarray(a))

    def random(self, size=None, dtype=np.float64):
        return self._out(self._g.random(size, dtype))

    def standard_normal(self, size=None, dtype=np.float64):
        return self._out(self._g.standard_normal(size, dtype))

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        return self._out(self._g.uniform(low, high, size).astype(dtype, copy=False))

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return self._out(self._g.integers(low, high, size, dtype, endpoint))


@contextlib.contextmanager
def numpy_draws_on_device():
    """Within the block, ``backend.default_rng`` (and so minigan's step generators, model
    initialisations and the global generator) draws NumPy's numbers onto the device."""
    original = backend.default_rng
    backend.default_rng = lambda seed_value=None: NumpyDraws(seed_value)
    try:
        backend.seed(0)
        yield
    finally:
        backend.default_rng = original
        backend.seed(0)


# =============================================================================================
# Comparing
# =============================================================================================

def rel_error(dev, ref):
    """max|dev − ref| / max|ref| (absolute when ref is all zeros); inf for a shape mismatch or
    a non-finite value where NumPy has none; 0 or inf for integer arrays (equal or not)."""
    dev, ref = np.asarray(dev), np.asarray(ref)
    if dev.shape != ref.shape:
        return math.inf
    if ref.dtype.kind in "biu" or dev.dtype.kind in "biu":
        return 0.0 if np.array_equal(dev, ref) else math.inf
    if ref.size == 0:
        return 0.0
    d, r = dev.astype(np.float64), ref.astype(np.float64)
    if not np.array_equal(np.isfinite(d), np.isfinite(r)) or \
            not np.array_equal(d[~np.isfinite(r)], r[~np.isfinite(r)]):
        return math.inf
    fin = np.isfinite(r)
    if not fin.any():
        return 0.0
    diff = float(np.abs(d[fin] - r[fin]).max())
    scale = float(np.abs(r[fin]).max())
    return diff / scale if scale > 0 else diff


def compare(dev: dict, ref: dict):
    """(max error, name of the worst array, {name: error}) over the arrays of two results."""
    errs = {}
    for key in sorted(set(dev) | set(ref)):
        errs[key] = rel_error(dev[key], ref[key]) if key in dev and key in ref else math.inf
    if not errs:
        return 0.0, "-", errs
    worst = max(errs, key=lambda k: errs[k])
    return errs[worst], worst, errs


def host(a):
    """A NumPy copy of an array of any backend (a Python number as a 0-d array)."""
    if isinstance(a, (int, float, np.generic)):
        return np.asarray(a)
    return np.array(backend.to_numpy(a), copy=True)


def flat(prefix, obj, out):
    """Put every array in ``obj`` (nested tuples/lists/dicts) into ``out`` under dotted names."""
    if obj is None:
        return out
    if isinstance(obj, dict):
        for k, v in obj.items():
            flat(f"{prefix}.{k}", v, out)
    elif isinstance(obj, (tuple, list)):
        for i, v in enumerate(obj):
            flat(f"{prefix}.{i}", v, out)
    else:
        out[prefix] = host(obj)
    return out


# =============================================================================================
# Part (b): the layers, the array functions, the kernels
# =============================================================================================

def host_leaves(prefix, obj):
    """The dotted names of the NumPy arrays in ``obj`` (nested tuples/lists/dicts)."""
    if isinstance(obj, dict):
        return [n for k, v in obj.items() for n in host_leaves(f"{prefix}.{k}", v)]
    if isinstance(obj, (tuple, list)):
        return [n for i, v in enumerate(obj) for n in host_leaves(f"{prefix}.{i}", v)]
    return [prefix] if isinstance(obj, np.ndarray) else []


class Case:
    """One comparison. ``build(rng, draws)`` makes the layer (or None for a function) on NumPy
    from ``rng``; ``draws``: the generator of what the layer draws while it runs (Dropout's
    masks): a NumPy Generator on the NumPy side, a :class:`NumpyDraws` of the same seed on the
    device. ``inputs(rng)``: a dict of NumPy arrays. ``forward(layer, **inputs)`` -> (outputs,
    cache); ``backward(layer, cache, douts)`` -> input gradients (or None). ``mode``: "train"
    or "eval". ``covers``: the names of minigan.nn (or minigan.kernels) it checks."""

    def __init__(self, name, covers, build, inputs, forward=None, backward=None, mode="train",
                 jvp=None, kind="layer"):
        self.name, self.covers, self.build, self.inputs = name, tuple(covers), build, inputs
        self.forward = forward or (lambda layer, x: layer.forward(x))
        self.backward = backward or ((lambda layer, cache, dy: layer.backward(dy, cache))
                                     if forward is None else None)
        self.default_calls = forward is None
        self.mode, self.jvp, self.kind = mode, jvp, kind


def _normal(rng, *shape):
    return rng.standard_normal(shape)


def _upstream(outs, rng):
    """A random upstream gradient for every floating output array (None for the others)."""
    if isinstance(outs, (tuple, list)):
        return type(outs)(_upstream(o, rng) for o in outs)
    a = np.asarray(backend.to_numpy(outs)) if not isinstance(outs, float) else None
    if a is None or a.dtype.kind != "f" or a.ndim == 0:
        return None
    return rng.standard_normal(a.shape)


def _to_side(obj):
    """NumPy arrays (and nested containers) moved to the backend in use."""
    if isinstance(obj, np.ndarray):
        return backend.asarray(obj)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_side(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_side(v) for k, v in obj.items()}
    return obj


def run_side(case, side, seed=0):
    """Every array of one run of ``case`` on ``side`` ("numpy" or the device), as NumPy."""
    from minigan.nn import Module
    with on_backend("numpy"):
        layer = case.build(np.random.default_rng(seed),
                           np.random.default_rng(seed + 7) if side == "numpy"
                           else NumpyDraws(seed + 7))
        inputs = case.inputs(np.random.default_rng(seed + 1))
    out = {}
    with on_backend(side):
        if side != "numpy":
            if layer is not None:
                layer.to(backend_name=side)
            inputs = _to_side(inputs)
        if layer is not None:
            layer.train(case.mode == "train")
        outs, cache = case.forward(layer, **inputs)
        flat("y", outs, out)
        douts = _to_side(_upstream(outs, np.random.default_rng(seed + 2)))
        dx = case.backward(layer, cache, douts) if case.backward is not None else None
        flat("dx", dx, out)
        if isinstance(layer, Module):
            flat("grad", {n: g for n, _, g in layer.named_parameters()}, out)
            flat("state", layer.state_dict(), out)        # parameters and buffers (u, running)
            own_bp = type(layer).backward_params is not Module.backward_params
            if case.default_calls and own_bp:
                layer.zero_grad()
                _, cache = case.forward(layer, **inputs)
                assert layer.backward_params(douts, cache) is None
                flat("backward_params.grad", {n: g for n, _, g in layer.named_parameters()},
                     out)
            jvp = case.jvp if case.jvp is not None else (case.default_calls
                                                        and hasattr(layer, "forward_jvp"))
            if jvp:
                layer.zero_grad()
                t = np.random.default_rng(seed + 3)
                x = inputs["x"]
                x_dot = _to_side(t.standard_normal(tuple(x.shape)))
                try:
                    y, y_dot, cache = layer.forward_jvp(x, x_dot)
                except NotImplementedError:     # a layer that refuses tangent passes (batch
                    out["jvp.refused"] = np.asarray(1)     # norm, minibatch discrimination)
                    jvp = False
            if jvp:
                flat("jvp.y", y, out)
                flat("jvp.y_dot", y_dot, out)
                dy, dy_dot = (_to_side(t.standard_normal(tuple(y.shape))) for _ in range(2))
                flat("jvp.dx", layer.backward_jvp(dy, dy_dot, cache), out)
                flat("jvp.grad", {n: g for n, _, g in layer.named_parameters()}, out)
        if side != "numpy":       # the device's results must be on the device
            on_host = [n for n, p, _ in (layer.named_parameters() if isinstance(layer, Module)
                                         else ()) if backend.get_array_module(p) is np]
            on_host += host_leaves("y", outs) + host_leaves("dx", dx)
            if on_host:
                raise AssertionError(f"arrays on the host after a device run: {on_host[:4]}")
        synchronize()
    return out


def layer_cases(quick=False):
    """The cases for every public name of minigan.nn that handles arrays."""
    from minigan import nn
    f8 = "float64"
    img = (2, 3, 7, 9)            # odd sizes

    def x_of(*shape, scale=1.0):
        return lambda r: {"x": scale * r.standard_normal(shape)}

    def bn_eval(cls, c):
        def build(r, d):
            layer = cls(c, dtype=f8)
            layer.params["weight"][...] = 1 + 0.1 * r.standard_normal(c)
            layer.params["bias"][...] = 0.1 * r.standard_normal(c)
            layer.running_mean = r.standard_normal(c)
            layer.running_var = 0.5 + r.random(c)
            return layer
        return build

    def lstm_fwd(layer, x, h0, c0):
        return layer.forward(x, (h0, c0))

    def lstm_bwd(layer, cache, douts):
        (dy, (dh, dc)) = douts
        return layer.backward(dy, cache, dh, dc)

    def cell_fwd(layer, x, h0, c0):
        return layer.forward(x, (h0, c0))

    def cell_bwd(layer, cache, douts):
        dh, dc = douts
        return layer.backward(dh, dc, cache)

    def gru_fwd(layer, x, h0):
        return layer.forward(x, h0)

    def gru_bwd(layer, cache, douts):
        dy, dh = douts
        return layer.backward(dy, cache, dh)

    def attn_fwd(layer, h, words, mask, weights=None):
        return layer.forward(h, words, mask, weights)

    def attn_inputs(with_weights):
        def inputs(r):
            mask = np.ones((3, 6), bool)
            mask[0, 4:] = False
            mask[2, 1:] = False
            out = {"h": r.standard_normal((3, 4, 3, 5)), "words": r.standard_normal((3, 5, 6)),
                   "mask": mask}
            if with_weights:
                w = r.random((3, 6))
                w[1, 2] = 0
                out["weights"] = w
            return out
        return inputs

    def two(fn):        # a function returning (value, grad)
        return lambda layer, **kw: (fn(**kw), None)

    def clip(layer, a, b, max_norm):
        a, b = a.copy(), b.copy()
        norm = nn.clip_grad_norm([a, b], float(max_norm))
        return (norm, a, b), None

    def sn(kind, mode):
        def build(r, d):
            inner = (nn.Linear(6, 5, rng=r, dtype=f8) if kind == "linear"
                     else nn.Conv2d(3, 4, 3, padding=1, rng=r, dtype=f8))
            return nn.SpectralNorm(inner, n_power_iterations=2, rng=r)
        return build

    def seq_sn(r, d):
        net = nn.Sequential(nn.Linear(6, 8, rng=r, dtype=f8), nn.LeakyReLU(0.2),
                            nn.Linear(8, 1, rng=r, dtype=f8))
        return nn.spectral_norm(net, rng=r)

    cases = [
        Case("Linear(5, 7)", ["Linear"], lambda r, d: nn.Linear(5, 7, rng=r, dtype=f8),
             x_of(4, 5)),
        Case("Linear(5, 3, bias=False) on (2, 3, 5)", ["Linear"],
             lambda r, d: nn.Linear(5, 3, bias=False, rng=r, dtype=f8), x_of(2, 3, 5)),
        Case("ReLU", ["ReLU"], lambda r, d: nn.ReLU(), x_of(3, 4, 5)),
        Case("LeakyReLU(0.2)", ["LeakyReLU"], lambda r, d: nn.LeakyReLU(0.2), x_of(3, 4, 5)),
        Case("Tanh", ["Tanh"], lambda r, d: nn.Tanh(), x_of(3, 4, 5, scale=2.0)),
        Case("Sigmoid", ["Sigmoid"], lambda r, d: nn.Sigmoid(), x_of(3, 4, 5, scale=3.0)),
        Case("Softplus(beta=2, threshold=5) across its threshold", ["Softplus"],
             lambda r, d: nn.Softplus(beta=2.0, threshold=5.0), x_of(3, 4, 5, scale=4.0)),
        Case("Dropout(0.3), train, the same mask", ["Dropout"],
             lambda r, d: nn.Dropout(0.3, rng=d), x_of(4, 3, 5)),
        Case("Dropout(0.5, always=True), eval, one generator per row", ["Dropout"],
             lambda r, d: nn.Dropout(0.5, always=True,
                                     rng=[(np.random.default_rng(50 + i)
                                           if isinstance(d, np.random.Generator)
                                           else NumpyDraws(50 + i)) for i in range(3)]),
             x_of(3, 2, 4), mode="eval"),
        Case("Dropout(0.5), eval: identity", ["Dropout"], lambda r, d: nn.Dropout(0.5, rng=d),
             x_of(3, 4), mode="eval"),
        Case("Sequential(Linear, BatchNorm1d, LeakyReLU, Linear)", ["Sequential"],
             lambda r, d: nn.Sequential(nn.Linear(5, 6, rng=r, dtype=f8),
                                        nn.BatchNorm1d(6, dtype=f8), nn.LeakyReLU(0.2),
                                        nn.Linear(6, 2, rng=r, dtype=f8)), x_of(7, 5)),
        Case("Conv2d(3, 4, 3, padding=1) on 7x9", ["Conv2d"],
             lambda r, d: nn.Conv2d(3, 4, 3, padding=1, rng=r, dtype=f8), x_of(*img)),
        Case("Conv2d(3, 5, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2)) on 7x9",
             ["Conv2d"], lambda r, d: nn.Conv2d(3, 5, (3, 2), stride=(2, 1), padding=(1, 0),
                                                dilation=(1, 2), rng=r, dtype=f8), x_of(*img)),
        Case("Conv2d(3, 2, 4, stride=2, padding=1, bias=False) on 9x7", ["Conv2d"],
             lambda r, d: nn.Conv2d(3, 2, 4, stride=2, padding=1, bias=False, rng=r, dtype=f8),
             x_of(3, 3, 9, 7)),
        Case("ConvTranspose2d(4, 3, 4, stride=2, padding=1) on 5x3", ["ConvTranspose2d"],
             lambda r, d: nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1, rng=r, dtype=f8),
             x_of(2, 4, 5, 3)),
        Case("ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1, bias=False)",
             ["ConvTranspose2d"],
             lambda r, d: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1,
                                             bias=False, rng=r, dtype=f8), x_of(2, 3, 4, 5)),
        Case("BatchNorm1d(6), train", ["BatchNorm1d"], lambda r, d: nn.BatchNorm1d(6, dtype=f8),
             x_of(8, 6, scale=2.0)),
        Case("BatchNorm1d(6), eval", ["BatchNorm1d"], bn_eval(nn.BatchNorm1d, 6),
             x_of(8, 6), mode="eval"),
        Case("BatchNorm2d(3), train", ["BatchNorm2d"], lambda r, d: nn.BatchNorm2d(3, dtype=f8),
             x_of(*img)),
        Case("BatchNorm2d(3), eval", ["BatchNorm2d"], bn_eval(nn.BatchNorm2d, 3), x_of(*img),
             mode="eval"),
        Case("LayerNorm((4, 5))", ["LayerNorm"], lambda r, d: nn.LayerNorm((4, 5), dtype=f8),
             x_of(3, 2, 4, 5)),
        Case("InstanceNorm2d(3, affine=True)", ["InstanceNorm2d"],
             lambda r, d: nn.InstanceNorm2d(3, affine=True, dtype=f8), x_of(*img)),
        Case("InstanceNorm2d(3)", ["InstanceNorm2d"],
             lambda r, d: nn.InstanceNorm2d(3, dtype=f8), x_of(*img)),
        Case("MaxPool2d(3, stride=2, padding=1) on 7x9", ["MaxPool2d"],
             lambda r, d: nn.MaxPool2d(3, stride=2, padding=1), x_of(*img)),
        Case("MaxPool2d(2) on 7x9", ["MaxPool2d"], lambda r, d: nn.MaxPool2d(2), x_of(*img)),
        Case("AvgPool2d(3, stride=2, padding=1) on 7x9", ["AvgPool2d"],
             lambda r, d: nn.AvgPool2d(3, stride=2, padding=1), x_of(*img)),
        Case("Upsample(2)", ["Upsample"], lambda r, d: nn.Upsample(2), x_of(2, 3, 4, 5)),
        Case("Flatten()", ["Flatten"], lambda r, d: nn.Flatten(), x_of(2, 3, 4, 5)),
        Case("Reshape(12, 5)", ["Reshape"], lambda r, d: nn.Reshape(12, 5), x_of(2, 3, 4, 5)),
        Case("Conv1d(3, 4, 3, stride=2, padding=1) on length 11", ["Conv1d"],
             lambda r, d: nn.Conv1d(3, 4, 3, stride=2, padding=1, rng=r, dtype=f8),
             x_of(2, 3, 11)),
        Case("MaxPool1d(3, stride=2, padding=1) on length 11", ["MaxPool1d"],
             lambda r, d: nn.MaxPool1d(3, stride=2, padding=1), x_of(2, 3, 11)),
        Case("WordAttention(4, 5), masked", ["WordAttention"],
             lambda r, d: nn.WordAttention(4, 5, rng=r, dtype=f8), attn_inputs(False),
             forward=attn_fwd, backward=lambda layer, cache, douts: layer.backward(douts, cache)),
        Case("WordAttention(4, 5), masked, word weights", ["WordAttention"],
             lambda r, d: nn.WordAttention(4, 5, rng=r, dtype=f8), attn_inputs(True),
             forward=attn_fwd, backward=lambda layer, cache, douts: layer.backward(douts, cache)),
        Case("LSTMCell(4, 5)", ["LSTMCell"], lambda r, d: nn.LSTMCell(4, 5, rng=r, dtype=f8),
             lambda r: {"x": _normal(r, 3, 4), "h0": _normal(r, 3, 5), "c0": _normal(r, 3, 5)},
             forward=cell_fwd, backward=cell_bwd),
        Case("LSTM(4, 5, num_layers=2) over 6 steps", ["LSTM"],
             lambda r, d: nn.LSTM(4, 5, num_layers=2, rng=r, dtype=f8),
             lambda r: {"x": _normal(r, 3, 6, 4), "h0": _normal(r, 2, 3, 5),
                        "c0": _normal(r, 2, 3, 5)}, forward=lstm_fwd, backward=lstm_bwd),
        Case("GRU(4, 5, num_layers=2) over 6 steps", ["GRU"],
             lambda r, d: nn.GRU(4, 5, num_layers=2, rng=r, dtype=f8),
             lambda r: {"x": _normal(r, 3, 6, 4), "h0": _normal(r, 2, 3, 5)},
             forward=gru_fwd, backward=gru_bwd),
        Case("Embedding(10, 4, padding_idx=2)", ["Embedding"],
             lambda r, d: nn.Embedding(10, 4, padding_idx=2, rng=r, dtype=f8),
             lambda r: {"x": r.integers(0, 10, (3, 7))},
             backward=lambda layer, cache, dy: layer.backward(dy, cache), jvp=False),
        Case("SpectralNorm(Linear(6, 5)), train", ["SpectralNorm"], sn("linear", "train"),
             x_of(4, 6)),
        Case("SpectralNorm(Conv2d(3, 4, 3, padding=1)), eval", ["SpectralNorm"],
             sn("conv", "eval"), x_of(2, 3, 5, 4), mode="eval"),
        Case("spectral_norm(Sequential(Linear, LeakyReLU, Linear))", ["spectral_norm"], seq_sn,
             x_of(4, 6)),
        Case("MinibatchDiscrimination(6, 5, 3)", ["MinibatchDiscrimination"],
             lambda r, d: nn.MinibatchDiscrimination(6, 5, 3, rng=r, dtype=f8), x_of(7, 6)),
        Case("MinibatchDiscrimination(6, 5, 3, average=True)", ["MinibatchDiscrimination"],
             lambda r, d: nn.MinibatchDiscrimination(6, 5, 3, rng=r, dtype=f8, average=True),
             x_of(7, 6)),
        Case("Highway(6)", ["Highway"], lambda r, d: nn.Highway(6, rng=r, dtype=f8), x_of(5, 6)),
        # --- the array functions minigan.nn exports
        Case("sigmoid", ["sigmoid"], lambda r, d: None, x_of(3, 7, scale=5.0),
             forward=lambda layer, x: (nn.sigmoid(x), None)),
        Case("bce_with_logits", ["bce_with_logits"], lambda r, d: None,
             lambda r: {"logits": 4 * r.standard_normal((6, 1)), "targets": r.random((6, 1))},
             forward=two(nn.bce_with_logits)),
        Case("mse", ["mse"], lambda r, d: None,
             lambda r: {"pred": _normal(r, 4, 5), "target": _normal(r, 4, 5)}, forward=two(nn.mse)),
        Case("l1_loss", ["l1_loss"], lambda r, d: None,
             lambda r: {"pred": _normal(r, 4, 5), "target": _normal(r, 4, 5)},
             forward=two(nn.l1_loss)),
        Case("softmax_cross_entropy, labels and probabilities", ["softmax_cross_entropy"],
             lambda r, d: None,
             lambda r: {"logits": 3 * r.standard_normal((5, 4)), "labels": r.integers(0, 4, 5),
                        "probs": r.dirichlet(np.ones(4), 5)},
             forward=lambda layer, logits, labels, probs: (
                 (nn.softmax_cross_entropy(logits, labels),
                  nn.softmax_cross_entropy(logits, probs)), None)),
        Case("softmax, log_softmax", ["softmax", "log_softmax"], lambda r, d: None,
             x_of(5, 4, scale=10.0),
             forward=lambda layer, x: ((nn.softmax(x), nn.log_softmax(x, axis=0)), None)),
        Case("concat_channels, concat_channels_backward",
             ["concat_channels", "concat_channels_backward"], lambda r, d: None,
             lambda r: {"a": _normal(r, 2, 3, 4, 5), "b": _normal(r, 2, 2, 4, 5)},
             forward=lambda layer, a, b: nn.concat_channels(a, b),
             backward=lambda layer, cache, dy: nn.concat_channels_backward(dy, cache)),
        Case("clip_grad_norm (clipping and not)", ["clip_grad_norm"], lambda r, d: None,
             lambda r: {"a": _normal(r, 4, 5), "b": _normal(r, 3), "max_norm": np.array(1.5)},
             forward=clip),
        Case("power_iteration(W, u, 3)", ["power_iteration"], lambda r, d: None,
             lambda r: {"W": _normal(r, 5, 3, 2), "u": _normal(r, 5)},
             forward=lambda layer, W, u: (nn.power_iteration(W, u, 3), None)),
    ]
    if not quick:     # sizes where the device's kernels and reductions take other paths
        cases += [
            Case("Conv2d(16, 32, 3, padding=1) on (8, 16, 28, 28)", ["Conv2d"],
                 lambda r, d: nn.Conv2d(16, 32, 3, padding=1, rng=r, dtype=f8),
                 x_of(8, 16, 28, 28)),
            Case("ConvTranspose2d(32, 16, 4, stride=2, padding=1) on (8, 32, 14, 14)",
                 ["ConvTranspose2d"],
                 lambda r, d: nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1, rng=r,
                                                 dtype=f8), x_of(8, 32, 14, 14)),
            Case("BatchNorm2d(32), train, on (16, 32, 14, 14)", ["BatchNorm2d"],
                 lambda r, d: nn.BatchNorm2d(32, dtype=f8), x_of(16, 32, 14, 14, scale=3.0)),
            Case("MaxPool2d(3, stride=2, padding=1) on (8, 16, 28, 28)", ["MaxPool2d"],
                 lambda r, d: nn.MaxPool2d(3, stride=2, padding=1), x_of(8, 16, 28, 28)),
            Case("LSTM(32, 64) over 20 steps, batch 16", ["LSTM"],
                 lambda r, d: nn.LSTM(32, 64, rng=r, dtype=f8),
                 lambda r: {"x": _normal(r, 16, 20, 32), "h0": _normal(r, 1, 16, 64),
                            "c0": _normal(r, 1, 16, 64)}, forward=lstm_fwd, backward=lstm_bwd),
        ]
    return cases


def nn_names():
    """The public names of minigan.nn that must be covered: every public Module subclass in
    its modules (exported or not) and every function/class it exports."""
    from minigan import nn
    from minigan.nn import Module
    names = set()
    for info in pkgutil.walk_packages(nn.__path__, "minigan.nn."):
        mod = importlib.import_module(info.name)
        for k, v in vars(mod).items():
            if inspect.isclass(v) and issubclass(v, Module) and v.__module__ == mod.__name__ \
                    and not k.startswith("_"):
                names.add(k)
    for k in nn.__all__:
        if callable(getattr(nn, k)):
            names.add(k)
    return sorted(names - set(EXEMPT))


# --- the kernels -----------------------------------------------------------------------------

KERNEL_MODULES_SKIP_NAMES = ("implementation", "pool_geometry", "conv_output_size")


def kernel_names():
    """Every dispatch function of minigan.kernels' op modules (what CuPy arrays are sent
    through): the names of each module's __all__ that are not a reference, a numba kernel or
    a helper; as "module.name"."""
    import minigan.kernels as K
    out = []
    for info in pkgutil.iter_modules(K.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"minigan.kernels.{info.name}")
        for name in getattr(mod, "__all__", ()):
            if name.endswith(("_reference", "_numba")) or name in KERNEL_MODULES_SKIP_NAMES:
                continue
            out.append(f"{info.name}.{name}")
    return sorted(out)


def kernel_cases():
    im = importlib.import_module("minigan.kernels.im2col")
    P = importlib.import_module("minigan.kernels.pool")
    B = importlib.import_module("minigan.kernels.batchnorm")
    A = importlib.import_module("minigan.kernels.activation")
    L = importlib.import_module("minigan.kernels.lstm")

    def kc(name, covers, inputs, fn):
        """fn(impl, **inputs): impl is the module function on the device side and the
        reference (NumPy) on the NumPy side."""
        return Case(name, covers, lambda r, d: None, inputs,
                    forward=lambda layer, **kw: (fn(**kw), None), kind="kernel")

    shape = (2, 3, 7, 9)
    cases = []
    for (KH, KW, s, p, d) in ((3, 3, 1, 1, 1), (4, 4, 2, 1, 1), (3, 2, (2, 1), (1, 0), (1, 2))):
        def f_im(x, KH=KH, KW=KW, s=s, p=p, d=d):
            ref = backend.name == "numpy"
            cols = (im.im2col_reference if ref else im.im2col)(x, KH, KW, s, p, d)
            back = (im.col2im_reference if ref else im.col2im)(cols, x.shape, KH, KW, s, p, d)
            return cols, back
        cases.append(kc(f"im2col/col2im {KH}x{KW} s{s} p{p} d{d} on 7x9",
                        ["im2col.im2col", "im2col.col2im"],
                        lambda r: {"x": r.standard_normal(shape)}, f_im))
    for (k, s, p) in ((3, 2, 1), (2, None, 0), ((3, 2), (1, 2), (1, 0))):
        def f_pool(x, dy_max, dy_avg, k=k, s=s, p=p):
            ref = backend.name == "numpy"
            y, arg = (P.max_pool2d_reference if ref else P.max_pool2d)(x, k, s, p)
            dx = (P.max_pool2d_backward_reference if ref else P.max_pool2d_backward)(
                dy_max[..., :y.shape[2], :y.shape[3]], arg, x.shape, k, s, p)
            ya = (P.avg_pool2d_reference if ref else P.avg_pool2d)(x, k, s, p)
            dxa = (P.avg_pool2d_backward_reference if ref else P.avg_pool2d_backward)(
                dy_avg[..., :ya.shape[2], :ya.shape[3]], x.shape, k, s, p)
            return y, arg, dx, ya, dxa
        cases.append(kc(f"max/avg pool k{k} s{s} p{p} on 7x9 (ties included)",
                        ["pool.max_pool2d", "pool.max_pool2d_backward", "pool.avg_pool2d",
                         "pool.avg_pool2d_backward"],
                        lambda r: {"x": np.round(2 * r.standard_normal(shape)) / 2,  # ties
                                   "dy_max": r.standard_normal((2, 3, 9, 9)),
                                   "dy_avg": r.standard_normal((2, 3, 9, 9))}, f_pool))

    def f_bn(x, dy):
        ref = backend.name == "numpy"
        mean, var = (B.channel_mean_var_reference if ref else B.channel_mean_var)(x)
        s1, s2 = (B.channel_sums_reference if ref else B.channel_sums)(dy, x)
        return mean, var, s1, s2
    for shp in ((4, 5), (3, 4, 5, 6), (2, 300, 2, 2)):
        cases.append(kc(f"channel_mean_var/channel_sums on {shp}",
                        ["batchnorm.channel_mean_var", "batchnorm.channel_sums"],
                        lambda r, shp=shp: {"x": 3 + 2 * r.standard_normal(shp),
                                            "dy": r.standard_normal(shp)}, f_bn))

    def f_act(x, dy):
        ref = backend.name == "numpy"
        xp = backend.get_array_module(x)
        out = []
        for a in (0.2, -0.3):
            out.append((A.leaky_relu_reference if ref else A.leaky_relu)(x, a))
            out.append((A.leaky_relu_backward_reference if ref else A.leaky_relu_backward)(
                dy, x, a))
        y = np.tanh(x) if ref else A.tanh(x)
        out += [y, (A.tanh_backward_reference if ref else A.tanh_backward)(dy, xp.tanh(x))]
        return tuple(out)
    cases.append(kc("leaky_relu(+backward), tanh(+backward)",
                    ["activation.leaky_relu", "activation.leaky_relu_backward",
                     "activation.tanh", "activation.tanh_backward"],
                    lambda r: {"x": np.concatenate([np.zeros(3), 2 * r.standard_normal(400)]),
                               "dy": r.standard_normal(403)}, f_act))

    def f_lstm(a, c_prev, dh, dc):
        ref = backend.name == "numpy"
        h, c, acts, tanh_c = (L.lstm_gates_forward_reference if ref
                              else L.lstm_gates_forward)(a, c_prev)
        da, dc_prev = (L.lstm_gates_backward_reference if ref else L.lstm_gates_backward)(
            dh, dc, acts, c_prev, tanh_c)
        da2, dc_prev2 = (L.lstm_gates_backward_reference if ref else L.lstm_gates_backward)(
            dh, None, acts, c_prev, tanh_c)
        return h, c, acts, tanh_c, da, dc_prev, da2, dc_prev2
    cases.append(kc("lstm_gates_forward/backward (N 5, H 7)",
                    ["lstm.lstm_gates_forward", "lstm.lstm_gates_backward"],
                    lambda r: {"a": 3 * r.standard_normal((5, 28)),
                               "c_prev": r.standard_normal((5, 7)),
                               "dh": r.standard_normal((5, 7)), "dc": r.standard_normal((5, 7))},
                    f_lstm))
    return cases


def kernel_implementation(device):
    """Which implementation the dispatch picks for a device array ("cupy" on a GPU)."""
    from minigan.kernels._dispatch import on_device
    with on_backend(device):
        return on_device(backend.xp.zeros(1))


def part_layers(args, deadline, report):
    device = args.device
    cases = layer_cases(args.quick) + kernel_cases()
    names, knames = nn_names(), kernel_names()
    covered = {c for case in cases for c in case.covers}
    missing = [n for n in names if n not in covered] + [n for n in knames if n not in covered]
    impl = kernel_implementation(device)
    say(f"  {len(cases)} cases for {len(names)} names of minigan.nn and {len(knames)} kernel "
        f"dispatch functions; tolerance {LAYER_TOL:g} (float64, relative to each array's "
        f"scale); kernels on the device run: {impl}")
    if device == "cupy" and impl != "cupy":
        missing.append(f"(kernels dispatch to {impl!r} on the device, expected 'cupy')")
    rows, failed = [], 0
    for case in cases:
        if time.monotonic() > deadline:
            raise PartTimeout(f"{len(rows)} of {len(cases)} cases done")
        t0 = time.perf_counter()
        try:
            ref = run_side(case, "numpy")
            dev = run_side(case, device)
            err, worst, errs = compare(dev, ref)
            ok = err <= LAYER_TOL
            problem = None if ok else f"{worst}: error {err:.2e}"
        except Exception as exc:  # noqa: BLE001 - a case's crash is a failure of that case
            err, worst, errs, ok = math.inf, "-", {}, False
            problem = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            if args.verbose:
                traceback.print_exc()
        failed += not ok
        rows.append({"case": case.name, "kind": case.kind, "covers": list(case.covers),
                     "max_rel_err": err, "worst": worst, "arrays": len(errs),
                     "ok": ok, "problem": problem, "seconds": time.perf_counter() - t0})
        say(f"  {'ok  ' if ok else 'FAIL'} {err:9.2e}  {case.name}  ({len(errs)} arrays"
            + (f"; {problem}" if problem else "") + ")")
    per_name = {}
    for row in rows:
        for n in row["covers"]:
            prev = per_name.get(n, 0.0)
            per_name[n] = max(prev, row["max_rel_err"])
    for n in missing:
        say(f"  FAIL not covered by any case: {n} (add a case to benchmarks/gpu_check.py)")
    say("  max relative error per name: " + ", ".join(
        f"{n} {e:.1e}" for n, e in sorted(per_name.items())))
    report.update({"tolerance": LAYER_TOL, "kernel_implementation": impl, "cases": rows,
                   "max_rel_err_per_name": per_name, "not_covered": missing,
                   "exempt": EXEMPT, "names": names, "kernel_names": knames})
    return failed == 0 and not missing


# =============================================================================================
# Part (c): a DCGAN trained on the device and on NumPy
# =============================================================================================

def dcgan_run(side, cfg, steps):
    """(losses per step, final state as NumPy, model) of a float64 DCGAN trained on ``side``."""
    from minigan.gans.dcgan import DCGAN
    rng = np.random.default_rng(1234)
    batches = [rng.uniform(-1, 1, (cfg["batch"],) + cfg["shape"]) for _ in range(steps)]
    with on_backend(side), (numpy_draws_on_device() if side != "numpy"
                            else contextlib.nullcontext()):
        backend.seed(0)
        model = DCGAN(data_shape=cfg["shape"], latent_dim=cfg["latent"], width=cfg["width"],
                      seed=7, dtype="float64")
        if side != "numpy":
            on_host = [n for n, p, _ in model.G.named_parameters() + model.D.named_parameters()
                       if backend.get_array_module(p) is np]
            if on_host:
                raise AssertionError(f"the device model has parameters on the host: {on_host}")
        losses = []
        for real in batches:
            out = model.train_step(real)
            losses.append({k: float(v) for k, v in out.items()})
        synchronize()
        state = {f"G.{k}": host(v) for k, v in model.G.state_dict().items()}
        state.update({f"D.{k}": host(v) for k, v in model.D.state_dict().items()})
    return losses, state


def part_dcgan(args, deadline, report):
    cfg = ({"shape": (1, 8, 8), "width": 4, "batch": 4, "latent": 8} if args.quick else
           {"shape": (1, 28, 28), "width": args.dcgan_width, "batch": args.dcgan_batch,
            "latent": 32})
    steps = 2 if args.quick else args.dcgan_steps
    say(f"  DCGAN {cfg}, float64, {steps} steps on NumPy and on {args.device} (the device "
        "drawing NumPy's numbers); tolerance "
        f"{DCGAN_TOL:g} (relative) on every loss and every final parameter and buffer")
    t0 = time.perf_counter()
    ref_losses, ref_state = dcgan_run("numpy", cfg, steps)
    if time.monotonic() > deadline:
        raise PartTimeout("after the NumPy run")
    t_cpu = time.perf_counter() - t0
    t0 = time.perf_counter()
    dev_losses, dev_state = dcgan_run(args.device, cfg, steps)
    t_dev = time.perf_counter() - t0
    ok = True
    rows = []
    for k, (a, b) in enumerate(zip(dev_losses, ref_losses)):
        errs = {key: abs(a[key] - b[key]) / max(abs(b[key]), 1e-300) for key in b}
        worst = max(errs.values())
        ok &= worst <= DCGAN_TOL
        rows.append({"step": k, "device": a, "numpy": b, "max_rel_diff": worst})
        say(f"  step {k}: loss_d {b['loss_d']:.10f} (NumPy) {a['loss_d']:.10f} (device), "
            f"loss_g {b['loss_g']:.10f} / {a['loss_g']:.10f}; max relative difference "
            f"{worst:.1e} {'ok' if worst <= DCGAN_TOL else 'FAIL'}")
    err, worst, _ = compare(dev_state, ref_state)
    ok &= err <= DCGAN_TOL
    say(f"  final parameters and buffers ({len(ref_state)} arrays): max relative error "
        f"{err:.1e} ({worst}) {'ok' if err <= DCGAN_TOL else 'FAIL'}; "
        f"{t_cpu:.1f} s on NumPy, {t_dev:.1f} s on the device")
    report.update({"config": {**cfg, "shape": list(cfg["shape"])}, "steps": rows,
                   "tolerance": DCGAN_TOL, "final_state_max_rel_err": err,
                   "final_state_worst": worst, "numpy_s": t_cpu, "device_s": t_dev})
    return ok


# =============================================================================================
# Part (a): pytest -m gpu
# =============================================================================================

def part_gpu_tests(args, deadline, report):
    if args.device != "cupy":
        say("  SKIPPED: the gpu-marked tests need CuPy and a GPU (--device emulated runs none)")
        report["skipped"] = "device is not cupy"
        return None
    with tempfile.TemporaryDirectory() as tmp:
        xml = os.path.join(tmp, "junit.xml")
        cmd = [sys.executable, "-m", "pytest", "tests", "-m", "gpu", "-q", "-p", "no:xdist",
               "-o", "addopts=-p no:cacheprovider", f"--junitxml={xml}", "-rfEs"]
        say("  " + " ".join(cmd[2:]))
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False,
                                  timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise PartTimeout("pytest did not finish") from None
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if os.path.exists(xml):
            root = ET.parse(xml).getroot()
            suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
            for s in suites:
                for k in counts:
                    counts[k] += int(s.get(k, 0))
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    report.update({"returncode": proc.returncode, "passed": passed, **counts,
                   "tail": proc.stdout[-3000:] + proc.stderr[-2000:]})
    say(f"  {passed} passed, {counts['failures']} failed, {counts['errors']} errors, "
        f"{counts['skipped']} skipped (pytest exit status {proc.returncode})")
    if proc.returncode not in (0, 5) or counts["failures"] or counts["errors"]:
        say("  " + "\n  ".join((proc.stdout[-3000:] + proc.stderr[-1500:]).splitlines()))
        return False
    if counts["tests"] and counts["skipped"] == counts["tests"]:
        say("  FAIL: every gpu test skipped on a machine with a GPU")
        return False
    return passed > 0


# =============================================================================================
# Part (d): timing against PyTorch CUDA
# =============================================================================================

def time_steps(step, steps, warmup, deadline=None):
    """Median seconds of ``step()`` over ``steps`` calls after ``warmup`` calls, the device
    synchronised before each reading of the clock (and the list of all times)."""
    for _ in range(warmup):
        step()
    synchronize()
    times = []
    for _ in range(steps):
        synchronize()
        t0 = time.perf_counter()
        step()
        synchronize()
        times.append(time.perf_counter() - t0)
        if deadline is not None and time.monotonic() > deadline:
            break
    return statistics.median(times), times


def timing_workloads(quick_or_emulated):
    import bench_pix2pix_speed as P
    if quick_or_emulated:
        return {"dcgan": {"width": 4, "batch": 4, "latent": 8},
                "pix2pix": dict(P.WORKLOADS["default"], size=16, depth=3, width=4, d_width=4,
                                batch=2)}
    return {"dcgan": {"width": 64, "batch": 64, "latent": 100},
            "pix2pix": dict(P.WORKLOADS["default"]),
            "pix2pix-large": dict(P.WORKLOADS["large"])}


def minigan_step(name, cfg):
    """A zero-argument callable running one minigan training step on the backend in use."""
    import bench_pix2pix_speed as P

    from minigan.gans.dcgan import DCGAN
    if name == "dcgan":   # as bench_speed.mg_dcgan, on the device, the batch moved once
        model = DCGAN(data_shape=(1, 28, 28), latent_dim=cfg["latent"], width=cfg["width"],
                      seed=0)
        real = backend.asarray(np.random.default_rng(0).uniform(
            -1, 1, (cfg["batch"], 1, 28, 28)).astype(np.float32))
        return lambda: model.train_step(real)
    model = P.minigan_model(cfg)
    batch = tuple(backend.asarray(a) for a in P.batch_numpy(cfg))
    return lambda: model.train_step(batch)


def torch_worker(kind, cfg, steps, warmup, device="cuda"):
    """In its own process: PyTorch CUDA's step, timed as minigan's; prints JSON. (``device``
    "cpu" only to try this code without a GPU: ``--torch-worker dcgan --torch-device cpu``.)"""
    import torch
    info = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
            "torch_cuda": torch.version.cuda}
    if kind == "probe" or (device == "cuda" and not torch.cuda.is_available()):
        if torch.cuda.is_available():
            info["device"] = torch.cuda.get_device_name(0)
            info["cudnn"] = torch.backends.cudnn.version()
        print(json.dumps(info))
        return
    import bench_pix2pix_speed as P
    import bench_speed as S
    torch.backends.cudnn.benchmark = True

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()
    if kind == "dcgan":
        torch.set_default_device(device)       # bench_speed's torch_dcgan, built on the GPU
        step = S.torch_dcgan(torch, batch=cfg["batch"], latent=cfg["latent"],
                             width=cfg["width"])
    else:
        G, D = P.torch_networks(torch, cfg)
        gen = torch.Generator().manual_seed(0)
        P.torch_init_(torch, G, gen)
        P.torch_init_(torch, D, gen)
        G, D = G.to(device).train(), D.to(device).train()
        x, y = (torch.from_numpy(a).to(device) for a in P.batch_numpy(cfg))
        step = P.torch_step_fn(torch, G, D, x, y)
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(steps):
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    print(json.dumps({**info, "times_s": times, "median_s": statistics.median(times)}))


def run_torch(kind, cfg, steps, warmup, timeout, device="cuda"):
    """:func:`torch_worker` in a subprocess: its JSON, or {"error": its last line}."""
    cmd = [sys.executable, os.path.abspath(__file__), "--torch-worker", kind, "--config",
           json.dumps(cfg), "--steps", str(steps), "--warmup", str(warmup),
           "--torch-device", device]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        return {"error": tail[-1] if tail else f"exit status {proc.returncode}"}
    return json.loads(lines[-1])


def torch_cuda_problem(deadline):
    """None if PyTorch imports (in a subprocess) and sees CUDA, else why not."""
    try:
        probe = run_torch("probe", {}, 0, 0, timeout=max(5.0, min(90.0,
                                                                  deadline - time.monotonic())))
    except subprocess.TimeoutExpired:
        return "importing PyTorch took too long", {}
    if "error" in probe:
        return f"PyTorch is not usable ({probe['error']})", probe
    if not probe.get("cuda_available"):
        return f"PyTorch {probe.get('torch')} is installed but sees no CUDA GPU", probe
    return None, probe


def part_timing(args, deadline, report):
    tiny = args.quick or args.device != "cupy"
    steps = args.steps or (2 if tiny else 20)
    warmup = 1 if tiny else 3
    loads = timing_workloads(tiny)
    if args.device != "cupy":
        say(f"  minigan on {args.device}: tiny workloads, to run the code path; the times mean "
            "nothing")
    torch_skip = None
    if args.device != "cupy":
        torch_skip = "SKIPPED: PyTorch CUDA (no GPU: --device emulated)"
    elif args.no_torch:
        torch_skip = "SKIPPED: PyTorch CUDA (--no-torch)"
    else:
        problem, probe = torch_cuda_problem(deadline)
        report["torch"] = probe
        if problem:
            torch_skip = (f"SKIPPED: the comparison with PyTorch CUDA: {problem}; minigan's own "
                          "GPU timings follow")
        else:
            say(f"  PyTorch {probe['torch']} (CUDA {probe.get('torch_cuda')}, cuDNN "
                f"{probe.get('cudnn')}) on {probe.get('device')}, in a subprocess of its own")
    if torch_skip:
        say("  " + torch_skip)
        report["torch_skipped"] = torch_skip
    say(f"  median of {steps} steps after {warmup} warm-up, device synchronised around each")
    rows = []
    with on_backend(args.device):
        for name, cfg in loads.items():
            if time.monotonic() > deadline:
                raise PartTimeout(f"before {name}")
            if backend.name == "cupy":
                import cupy
                cupy.get_default_memory_pool().free_all_blocks()
            step = minigan_step(name.split("-")[0], cfg)
            med, times = time_steps(step, steps, warmup, deadline)
            row = {"workload": name, "config": cfg, "minigan_ms": 1e3 * med,
                   "minigan_times_ms": [1e3 * t for t in times]}
            del step
            if not torch_skip:
                left = deadline - time.monotonic()
                if left > 10:
                    try:
                        out = run_torch(name.split("-")[0], cfg, steps, warmup, timeout=left)
                    except subprocess.TimeoutExpired:
                        out = {"error": "timed out"}
                    if "median_s" in out:
                        row["torch_ms"] = 1e3 * out["median_s"]
                        row["torch_times_ms"] = [1e3 * t for t in out["times_s"]]
                        row["ratio"] = row["minigan_ms"] / row["torch_ms"]
                    else:
                        row["torch_error"] = out.get("error")
            rows.append(row)
            torch_txt = (f"PyTorch {row['torch_ms']:8.2f} ms, ratio minigan/PyTorch "
                         f"{row['ratio']:.2f}" if "ratio" in row else
                         f"PyTorch: {row['torch_error']}" if "torch_error" in row else "")
            say(f"  {name:14s} {json.dumps(cfg)}\n      minigan {row['minigan_ms']:8.2f} ms"
                + (f", {torch_txt}" if torch_txt else ""))
    report.update({"steps": steps, "warmup": warmup, "rows": rows})
    return not any("torch_error" in r for r in rows)


# =============================================================================================
# Part info, and the driver
# =============================================================================================

def part_info(args, deadline, report):
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "numpy": np.__version__, "device": args.device}
    try:
        import numba
        info["numba"] = numba.__version__
    except ImportError:
        info["numba"] = None
    try:
        info["git"] = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                                     capture_output=True, text=True, timeout=10,
                                     check=False).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        info["git"] = None
    if args.device == "cupy":
        import cupy
        rt = cupy.cuda.runtime
        props = rt.getDeviceProperties(0)
        name = props["name"]
        info.update({"gpu": name.decode() if isinstance(name, bytes) else name,
                     "gpu_memory_gib": round(props["totalGlobalMem"] / 2 ** 30, 1),
                     "compute_capability": f"{props['major']}.{props['minor']}",
                     "gpus": rt.getDeviceCount(), "cupy": cupy.__version__,
                     "cuda_runtime": _cuda_version(rt.runtimeGetVersion()),
                     "cuda_driver": _cuda_version(rt.driverGetVersion())})
        try:
            smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                                  "--format=csv,noheader"], capture_output=True, text=True,
                                 timeout=10, check=False)
            info["nvidia_driver"] = smi.stdout.strip() or None
        except (OSError, subprocess.TimeoutExpired):
            info["nvidia_driver"] = None
    else:
        info["gpu"] = "none: minigan.emulated (a CuPy-like device on the CPU; NumPy's numbers)"
    for k, v in info.items():
        say(f"  {k}: {v}")
    report.update(info)
    return True


def _cuda_version(v):
    return f"{v // 1000}.{(v % 1000) // 10}"


PART_FUNCS = {"info": part_info, "gpu_tests": part_gpu_tests, "layers": part_layers,
              "dcgan": part_dcgan, "timing": part_timing}
TITLES = {"info": "machine", "gpu_tests": "(a) pytest -m gpu",
          "layers": "(b) every layer and kernel, device vs NumPy, float64",
          "dcgan": "(c) DCGAN steps, device vs NumPy, float64",
          "timing": "(d) training steps timed, minigan on CuPy vs PyTorch CUDA"}


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=("cupy", "emulated"), default="cupy",
                    help="cupy (a GPU; default) or emulated (minigan.emulated, no GPU)")
    ap.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET,
                    help="the global deadline in seconds (default 480); the parts' budgets "
                         "are scaled to it")
    ap.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                    help="which parts to run (default: all)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    ap.add_argument("--json", metavar="PATH", help="write the results here (default "
                    "benchmarks/results/gpu_check.json, only with --device cupy)")
    ap.add_argument("--steps", type=int, help="timed steps per workload (default 20)")
    ap.add_argument("--dcgan-width", type=int, default=16)
    ap.add_argument("--dcgan-batch", type=int, default=16)
    ap.add_argument("--dcgan-steps", type=int, default=5)
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    ap.add_argument("--verbose", action="store_true", help="tracebacks of failing cases")
    ap.add_argument("--torch-worker", choices=("probe", "dcgan", "pix2pix"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--torch-device", default="cuda", help=argparse.SUPPRESS)
    ap.add_argument("--warmup", type=int, default=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not args.budget_s > 0:
        ap.error(f"--budget-s: expected a positive number of seconds, got {args.budget_s:g}")
    for name in ("steps", "dcgan_width", "dcgan_batch", "dcgan_steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            ap.error(f"--{name.replace('_', '-')}: expected a positive integer, got {value}")
    return args


def main(argv=None) -> int:
    args = parse(argv)
    if args.torch_worker:
        torch_worker(args.torch_worker, json.loads(args.config or "{}"), args.steps or 0,
                     args.warmup, args.torch_device)
        return 0
    if args.device == "cupy":
        problem = cupy_problem()
        if problem:
            say(f"gpu_check: cannot run on the GPU: {problem}.")
            return 2
    start = time.monotonic()
    end = start + args.budget_s
    scale = args.budget_s / DEFAULT_BUDGET
    say(f"minigan GPU check on {args.device}{' (quick)' if args.quick else ''}: parts "
        f"{', '.join(args.parts)}; budget {args.budget_s:.0f} s")
    results = {"device": args.device, "quick": args.quick, "budget_s": args.budget_s,
               "parts": {}}
    before = backend.name
    try:
        for part in PARTS:
            if part not in args.parts:
                continue
            say(f"\n== {TITLES[part]}")
            deadline = min(end, time.monotonic() + BUDGETS[part] * scale)
            report = {}
            t0 = time.perf_counter()
            try:
                if time.monotonic() >= end:
                    raise PartTimeout("the global deadline had passed")
                ok = PART_FUNCS[part](args, deadline, report)
                status = "SKIP" if ok is None else "PASS" if ok else "FAIL"
            except PartTimeout as exc:
                status = "FAIL"
                report["error"] = f"out of time ({BUDGETS[part] * scale:.0f} s budget): {exc}"
                say(f"  FAIL: {report['error']}")
            except Exception as exc:  # noqa: BLE001 - a crashed part fails, the others run
                status = "FAIL"
                report["error"] = f"{type(exc).__name__}: {exc}"
                say(f"  FAIL: {report['error']}")
                if args.verbose:
                    traceback.print_exc()
            seconds = time.perf_counter() - t0
            results["parts"][part] = {"status": status, "seconds": seconds, **report}
    finally:
        if backend.name != before:
            backend.use(before)
    total = time.monotonic() - start
    ok = all(p["status"] != "FAIL" for p in results["parts"].values())
    results.update({"ok": ok, "seconds": total})
    say("\n| part | status | seconds |\n|---|---|---|")
    for part, p in results["parts"].items():
        say(f"| {TITLES[part]} | {p['status']} | {p['seconds']:.1f} |")
    say(f"| total | {'PASS' if ok else 'FAIL'} | {total:.1f} |")
    path = args.json or (DEFAULT_JSON if args.device == "cupy" else None)
    if path:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "w") as f:
                json.dump(_finite(results), f, indent=1, default=_jsonable)
        except OSError as exc:
            say(f"gpu_check: could not write the results to {path} ({exc.strerror or exc}); "
                "the report above is complete: pass --json with a writable path")
            return 2
        say(f"wrote {path}")
    return 0 if ok else 1


def _finite(o):
    """``o`` with every non-finite float written as a string ("inf"): strict JSON."""
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


def _jsonable(o):
    if isinstance(o, (np.generic,)):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
