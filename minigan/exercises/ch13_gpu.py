"""Checks for the exercises of chapter 13 (from the CPU to the GPU), in the manner of
:mod:`minigan.exercises`, and the two stand-ins that make them checkable without a GPU.

- :func:`launch` is a **grid simulator**: it calls a learner's per-thread function once for
  every thread of a 1-D grid, ``grid`` blocks of ``block`` threads, in a shuffled order (on a GPU
  the threads of a launch run in no order a program controls). Each thread gets a
  :class:`Thread` (``t.blockIdx``, ``t.blockDim``, ``t.threadIdx``, ``t.gridDim``, as CUDA's
  ``blockIdx.x`` ...) and the arrays as flat :class:`Buffer` s, as a CUDA kernel gets pointers:
  one element per index, and an index outside the buffer raises :class:`OutOfBounds` (on a GPU
  it reads garbage or corrupts another array, silently or not).
- :class:`FakeDevice` is an **asynchronous device with a fake clock**: ``device.run()`` only
  queues work and returns at once, the work is done (the clock advances) when ``sync()`` waits
  for it, its first call compiles (much slower), and work queued before a measurement is still
  running when it starts. No real time passes: the checks are deterministic.

Each ``check_*`` runs the learner's function on several cases and either prints one pass line or
raises :class:`~minigan.exercises.ExerciseError` saying what is wrong and, where the wrong answer
looks like a known mistake, a hint. ``NotImplementedError`` raised by an unfinished exercise
propagates unchanged.

=====================================  ==========  ==============================================
check                                  exercise    the learner writes
=====================================  ==========  ==============================================
check_bias_leaky_relu_thread           13.1        bias_leaky_relu_thread(t, x, bias, y, n, C,
                                                   HW, alpha): one thread of the fused kernel
check_lstm_gates_thread                13.2        lstm_gates_thread(t, a, c_prev, h, c, N, H):
                                                   one thread of the LSTM gate kernel
check_time_device                      13.3        time_device(run, sync, clock, repeats,
                                                   warmup) -> seconds per call (the median)
check_device_accuracy                  13.4        device_accuracy(logits, labels) -> float,
                                                   with no needless transfer
=====================================  ==========  ==============================================

Conventions. 13.1: x and y hold an (N, C, H, W) array flattened in C order (n = N·C·H·W
elements, HW = H·W), bias (C,); y[i] = leaky_relu(x[i] + bias[channel of i]), slope α where
x[i] + bias ≤ 0 (as minigan.kernels.activation). 13.2: a is the (N, 4H) pre-activations
flattened (row n holds [a_i | a_f | a_g | a_o], torch's order, as minigan.kernels.lstm), c_prev,
h and c are (N, H) flattened; one thread per entry (n, j) of the state. Both are launched with
``grid = ceil(n / block)`` blocks: more threads than elements whenever n is not a multiple of
the block. 13.3: the median over ``repeats`` calls, each timed from the moment the device is
idle to the end of the call's work, after ``warmup`` untimed calls. 13.4: the share of rows
whose largest logit is at the label, as a Python float, on NumPy and on device arrays
(:mod:`minigan.emulated` with CuPy's rules for every caller), copying nothing to the host but
the answer.
"""
from __future__ import annotations

import contextlib
import math
import zlib
from typing import NamedTuple

import numpy as np

from .checker import by_hand
from .checker import ExerciseError, _compare, _name, _passed, _quiet

__all__ = ["launch", "Thread", "Buffer", "OutOfBounds", "FakeDevice",
           "check_bias_leaky_relu_thread", "check_lstm_gates_thread", "check_time_device",
           "check_device_accuracy"]


# --------------------------------------------------------------------------------------
# The grid simulator
# --------------------------------------------------------------------------------------

class Thread(NamedTuple):
    """What a CUDA thread knows about itself (1-D: CUDA's ``.x`` components)."""
    blockIdx: int
    blockDim: int
    threadIdx: int
    gridDim: int


class OutOfBounds(IndexError):
    """A thread read or wrote outside a buffer."""

    def __init__(self, msg, buffer, index, thread, write):
        super().__init__(msg)
        self.buffer, self.index, self.thread, self.write = buffer, index, thread, write


class Buffer:
    """A flat view of an array as a kernel sees it: ``buf[k]`` reads or writes ONE element,
    ``k`` an integer in 0 … size − 1. Anything else raises (:class:`OutOfBounds` outside the
    array). Records which threads wrote each element, and refuses writes into inputs."""

    def __init__(self, array, name="array", readonly=False):
        if not isinstance(array, np.ndarray) or not array.flags.c_contiguous:
            raise TypeError(f"{name}: a Buffer wraps a C-contiguous NumPy array")
        self.data = array.reshape(-1)              # a view: writes reach the array
        self.name, self.readonly = name, readonly
        self.writes = np.zeros(self.data.size, dtype=np.int64)
        self.thread = None                          # the thread running now (set by launch)

    @property
    def size(self):
        return self.data.size

    def __len__(self):
        return self.data.size

    def _index(self, k, write):
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"{self.name}[{k!r}]: a thread reads and writes one element at a time, "
                            "at an integer index into the flat array (as a pointer in C)")
        k = int(k)
        if not 0 <= k < self.data.size:
            what = "wrote" if write else "read"
            raise OutOfBounds(f"thread {self.thread} {what} {self.name}[{k}], outside its "
                              f"{self.data.size} elements", self.name, k, self.thread, write)
        return k

    def __getitem__(self, k):
        return self.data[self._index(k, False)]

    def __setitem__(self, k, value):
        k = self._index(k, True)
        if self.readonly:
            raise ExerciseError(f"thread {self.thread} wrote into {self.name}[{k}], an input of "
                                "the kernel: write only into the output arrays.")
        self.data[k] = value
        self.writes[k] += 1

    def __repr__(self):
        return f"Buffer({self.name}, {self.data.size} elements)"


def launch(kernel, grid, block, *args, seed=0, readonly=()):
    """Run ``kernel(t, *args)`` once per thread of ``grid`` blocks of ``block`` threads, in a
    shuffled order (``seed``), as ``kernel[grid, block](*args)`` runs a CUDA kernel. NumPy
    arrays among ``args`` are passed as flat :class:`Buffer` s (writes reach the arrays);
    the positions in ``readonly`` are inputs that may not be written. Returns the buffers."""
    grid, block = int(grid), int(block)
    if grid < 1 or block < 1:
        raise ValueError(f"launch: grid and block must be at least 1, got {grid} and {block}")
    names = [f"argument {k}" for k in range(len(args))]
    wrapped = [Buffer(a, names[k], readonly=k in readonly) if isinstance(a, np.ndarray) else a
               for k, a in enumerate(args)]
    buffers = [b for b in wrapped if isinstance(b, Buffer)]
    order = np.random.default_rng(seed).permutation(grid * block)
    for flat in order:
        t = Thread(int(flat // block), block, int(flat % block), grid)
        for b in buffers:
            b.thread = t
        kernel(t, *wrapped)
    return wrapped


def _blocks(n, block):
    return (n + block - 1) // block


def _run_threads(fn, case, grid, block, n, args, names, readonly, bounds_hint, index_hints):
    """Launch the learner's thread function (``n`` threads needed) on buffers named ``names``;
    turn what goes wrong into an ExerciseError with a hint. Returns the buffers."""
    wrapped = [Buffer(a, names[k], readonly=names[k] in readonly) if isinstance(a, np.ndarray)
               else a for k, a in enumerate(args)]
    buffers = [b for b in wrapped if isinstance(b, Buffer)]
    order = np.random.default_rng(zlib.crc32(case.encode())).permutation(grid * block)
    head = f"{_name(fn)} on the case '{case}' (grid {grid} blocks of {block} threads)"
    for flat in order:
        t = Thread(int(flat // block), block, int(flat % block), grid)
        for b in buffers:
            b.thread = t
        try:
            with np.errstate(all="ignore"):
                fn(t, *wrapped)
        except (NotImplementedError, ExerciseError):
            raise
        except OutOfBounds as exc:
            i = t.blockIdx * t.blockDim + t.threadIdx
            hint = bounds_hint(i, n) if i >= n else index_hints.get(exc.buffer)
            raise ExerciseError(f"{head}: {exc}." + (f"\nHint: {hint}" if hint else "")) from exc
        except Exception as exc:
            raise ExerciseError(f"{head}: thread {t} raised {type(exc).__name__}: {exc}") from exc
    return wrapped


def _check_writes(fn, case, buf, what_hint):
    """Every element of the output written exactly once."""
    twice = np.flatnonzero(buf.writes > 1)
    if twice.size:
        raise ExerciseError(
            f"{_name(fn)}: on the case '{case}', {buf.name}[{twice[0]}] was written by "
            f"{buf.writes[twice[0]]} threads ({twice.size} elements written more than once): a "
            "race, whose result depends on the order the threads happen to run in.\nHint: each "
            "thread owns ONE element, at its global index i = t.blockIdx * t.blockDim + "
            "t.threadIdx (threadIdx alone repeats in every block).")
    never = np.flatnonzero(buf.writes == 0)
    if never.size:
        raise ExerciseError(
            f"{_name(fn)}: on the case '{case}', {never.size} of the {buf.size} elements of "
            f"{buf.name} were never written (the first: {buf.name}[{never[0]}]).\nHint: "
            f"{what_hint}")


def _bounds_hint(kind):
    def hint(i, n):
        return (f"the grid is rounded UP to whole blocks, so it has more threads than {kind} "
                f"(here thread i = {i} of a grid for n = {n}): the last block's extra threads must "
                "do nothing. Guard the body with `if i < n:` (a missing bounds check; on a GPU it "
                "writes into whatever memory follows the array).")
    return hint


def _leaky(z, alpha):
    return np.where(z > 0, z, alpha * z)


# --------------------------------------------------------------------------------------
# Exercise 13.1: one thread of the fused bias + leaky ReLU kernel
# --------------------------------------------------------------------------------------

@by_hand("13.1")
@_quiet
def check_bias_leaky_relu_thread(bias_leaky_relu_thread, seed=130):
    """Exercise 13.1: ``bias_leaky_relu_thread(t, x, bias, y, n, C, HW, alpha)``, the body of
    one thread of y = leaky_relu(x + bias[channel]) over an (N, C, H, W) array flattened in C
    order (n = N·C·H·W, HW = H·W; x, y: n elements, bias: C), slope α where x + bias ≤ 0.

    Launched by :func:`launch`-style simulation with ceil(n / block) blocks, the threads in a
    shuffled order. Cases: n not a multiple of the block (the last block part empty), a batch of
    one, 1×1 images (HW = 1), one channel, a grid of one block, N = C (where the batch and the
    channel index are easily swapped), α = 0 (ReLU) and α = 0.2.
    """
    fn = bias_leaky_relu_thread
    rng = np.random.default_rng(seed)
    #        case                                  N  C  H  W  alpha  block
    cases = [("n not a multiple of the block",     2, 3, 4, 5, 0.2,  32),
             ("a batch of one, one block",         1, 4, 3, 3, 0.01, 64),
             ("1x1 images (HW = 1)",               5, 7, 1, 1, 0.2,  16),
             ("one channel",                       3, 1, 2, 5, 0.1,  8),
             ("N = C, alpha = 0 (ReLU)",           3, 3, 3, 2, 0.0,  16)]
    for case, N, C, H, W, alpha, block in cases:
        n, HW = N * C * H * W, H * W
        x = rng.standard_normal((N, C, H, W))
        bias = rng.standard_normal(C)
        y = np.full(n, np.nan)
        grid = _blocks(n, block)
        channel_hint = ("the channel of flat index i in NCHW: each channel's plane holds H·W "
                        "elements and the C planes repeat for every example, so "
                        "c = (i // HW) % C.")
        bufs = _run_threads(fn, case, grid, block, n, [x.reshape(-1).copy(), bias.copy(), y, n, C,
                                                 HW, alpha],
                     ["x", "bias", "y", "n", "C", "HW", "alpha"], readonly=("x", "bias"),
                     bounds_hint=_bounds_hint("elements"), index_hints={"bias": channel_hint})
        expected = _leaky(x + bias[None, :, None, None], alpha).reshape(-1)
        flat = np.arange(n)
        z_of = lambda ch: x.reshape(-1) + bias[ch]
        mistakes = [
            (_leaky(z_of(flat % C), alpha), "the channel of flat index i is not i % C: in NCHW "
             "the last axes vary fastest, so " + channel_hint),
            (_leaky(z_of((flat // (C * HW)) % C), alpha), "(i // (C·HW)) is the EXAMPLE's "
             "index n, not the channel: " + channel_hint),
            ((_leaky(x, alpha) + bias[None, :, None, None]).reshape(-1), "the bias goes in "
             "BEFORE the activation: y = leaky_relu(x + b), not leaky_relu(x) + b."),
            (np.where(x > 0, x + bias[None, :, None, None],
                      alpha * (x + bias[None, :, None, None])).reshape(-1),
             "the slope is chosen by the sign of z = x + b, the activation's input, not by x."),
            (np.maximum(x + bias[None, :, None, None], alpha).reshape(-1),
             "leaky ReLU is z if z > 0 else α·z (max(z, α·z) for 0 ≤ α ≤ 1), not max(z, α)."),
        ]
        wrote = np.flatnonzero(bufs[2].writes)
        _check_writes(fn, case, bufs[2], "each thread owns the element at its global index "
                      "i = t.blockIdx * t.blockDim + t.threadIdx: " + (
                          "only the first block's elements were written, as if i = t.threadIdx."
                          if wrote.size and wrote.max() < block else "some elements were "
                          "skipped. Is a thread returning early, or the condition `if i < n` "
                          "written `if i < n - 1`?"))
        _compare(fn, "y", y, expected, case, mistakes=mistakes)
    _passed(fn, "every element once, the bounds checked, the channel and the slope right, "
            f"on {len(cases)} grids (threads in shuffled order)")


# --------------------------------------------------------------------------------------
# Exercise 13.2: one thread of the LSTM gate kernel
# --------------------------------------------------------------------------------------

def _sig(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


def _gates(a, c_prev, order=(0, 1, 2, 3), acts=("s", "s", "t", "s"), layout="rows",
           cell="right", out="right"):
    """h, c of the LSTM step for (N, 4H) pre-activations, with optional known mistakes:
    ``order``: which column block is read as i, f, g, o; ``acts``: σ or tanh per gate;
    ``layout``: how the learner indexes a; ``cell``/``out``: the formulas."""
    N, H = c_prev.shape
    flat = a.reshape(-1)
    n, j = np.divmod(np.arange(N * H), H)
    if layout == "rows":
        idx = lambda k: n * 4 * H + k * H + j
    elif layout == "interleaved":
        idx = lambda k: (n * H + j) * 4 + k
    elif layout == "row_stride_H":
        idx = lambda k: n * H + j + k * H
    blocks = [flat[idx(k)] for k in order]
    f_act = {"s": _sig, "t": np.tanh}
    i, f, g, o = (f_act[s](v) for s, v in zip(acts, blocks))
    cp = c_prev.reshape(-1)
    c = {"right": f * cp + i * g, "if_swapped": i * cp + f * g, "no_forget": cp + i * g}[cell]
    h = {"right": o * np.tanh(c), "no_tanh": o * c, "tanh_prev": o * np.tanh(cp)}[out]
    return h.reshape(N, H), c.reshape(N, H)


@by_hand("13.2")
@_quiet
def check_lstm_gates_thread(lstm_gates_thread, seed=131):
    """Exercise 13.2: ``lstm_gates_thread(t, a, c_prev, h, c, N, H)``, the body of one thread
    of the LSTM's fused gate kernel, one thread per entry (n, j) of the (N, H) state:

        i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o);  c = f·c_prev + i·g;  h = o·tanh(c)

    with a the (N, 4H) pre-activations flattened (row n: [a_i | a_f | a_g | a_o], torch's order,
    as minigan.kernels.lstm), c_prev, h, c: (N, H) flattened. Launched with ceil(N·H / block)
    blocks, the threads shuffled. Cases: N·H not a multiple of the block, H = 1, N = 1, N = 4
    (where a (N, 4H) and an (4N, H) reading have the same size), pre-activations up to ±6.
    """
    from ..kernels.lstm import lstm_gates_forward_reference
    fn = lstm_gates_thread
    rng = np.random.default_rng(seed)
    #        case                                 N  H  block
    cases = [("N·H not a multiple of the block",  3, 5, 8),
             ("H = 1",                            5, 1, 4),
             ("a batch of one",                   1, 7, 32),
             ("N = 4, two blocks",                4, 6, 16)]
    hints = {
        "order": "the four gates of a row are in torch's order (i, f, g, o), as in "
                 "minigan.kernels.lstm: g (the tanh candidate) is the THIRD block, o the fourth.",
        "acts": "σ for the gates i, f and o (they are between 0 and 1: how much to let through), "
                "tanh for the candidate g (between −1 and 1: the value written).",
        "interleaved": "a is (N, 4H) in row-major order: gate k of entry (n, j) is at "
                       "a[n·4H + k·H + j], the four gates H apart, not next to each other.",
        "row_stride_H": "a row of a holds 4H numbers, not H: entry (n, j)'s gate k is at "
                        "a[n·4H + k·H + j] (c_prev, h and c, whose rows hold H, are at n·H + j).",
        "if_swapped": "c = f·c_prev + i·g: the FORGET gate scales the old cell, the input gate "
                      "the candidate. You swapped i and f.",
        "no_forget": "c = f·c_prev + i·g: the old cell is scaled by the forget gate f.",
        "no_tanh": "h = o·tanh(c): the new cell goes through tanh before the output gate.",
        "tanh_prev": "h = o·tanh(c) with the NEW cell c, not c_prev.",
    }
    for case, N, H, block in cases:
        a = rng.uniform(-6, 6, (N, 4 * H))
        c_prev = rng.standard_normal((N, H))
        h = np.full(N * H, np.nan)
        c = np.full(N * H, np.nan)
        grid = _blocks(N * H, block)
        bufs = _run_threads(fn, case, grid, block, N * H, [a.reshape(-1).copy(),
                                                     c_prev.reshape(-1).copy(), h, c, N, H],
                     ["a", "c_prev", "h", "c", "N", "H"], readonly=("a", "c_prev"),
                     bounds_hint=_bounds_hint("entries of the state (N·H)"),
                     index_hints={"a": hints["interleaved"] + " The entry of thread i: "
                                  "n = i // H, j = i % H.",
                                  "c_prev": "c_prev has N·H elements: entry (n, j) is at n·H + j.",
                                  "h": "h has N·H elements: entry (n, j) is at n·H + j = i.",
                                  "c": "c has N·H elements: entry (n, j) is at n·H + j = i."})
        for b in (bufs[3], bufs[2]):
            _check_writes(fn, case, b, "one thread per entry (n, j): thread i = "
                          "t.blockIdx * t.blockDim + t.threadIdx writes h[i] and c[i] "
                          "(n = i // H, j = i % H) whenever i < N·H.")
        h_ref, c_ref, _, _ = lstm_gates_forward_reference(a, c_prev)
        known = {"order": _gates(a, c_prev, order=(0, 1, 3, 2)),
                 "order_go": _gates(a, c_prev, order=(0, 1, 3, 2), acts=("s", "s", "s", "t")),
                 "acts": _gates(a, c_prev, acts=("s", "s", "s", "t")),
                 "interleaved": _gates(a, c_prev, layout="interleaved"),
                 "row_stride_H": (_gates(a, c_prev, layout="row_stride_H")
                                  if N * H + 3 * H <= 4 * N * H else None),
                 "if_swapped": _gates(a, c_prev, cell="if_swapped"),
                 "no_forget": _gates(a, c_prev, cell="no_forget"),
                 "no_tanh": _gates(a, c_prev, out="no_tanh"),
                 "tanh_prev": _gates(a, c_prev, out="tanh_prev")}
        hint_of = {k: hints.get(k, hints["order"]) for k in known}
        hint_of["order_go"] = hints["order"] + " (You read a_o as the candidate and a_g as the " \
                                               "output gate.)"
        for what, got, ref, pos in (("c", c, c_ref, 1), ("h", h, h_ref, 0)):
            _compare(fn, what, got.reshape(N, H), ref, case,
                     mistakes=[(v[pos], hint_of[k]) for k, v in known.items() if v is not None])
    _passed(fn, "h and c match minigan's gate kernel, every entry written once, the bounds "
            f"checked, on {len(cases)} grids (threads in shuffled order)")


# --------------------------------------------------------------------------------------
# Exercise 13.3: timing an asynchronous device honestly
# --------------------------------------------------------------------------------------

class FakeDevice:
    """An asynchronous device with a fake clock, for timing code on a CPU, deterministically.

    - ``run()`` launches one call of a kernel: it costs the host ``launch`` seconds and QUEUES
      the call's work, then returns at once. The device does queued work in order, starting
      each piece when the previous one ends (or when it is queued, if the device is idle).
    - ``sync()`` waits (advances the clock) until the queue is empty.
    - ``clock()`` reads the host's clock (seconds; reading it costs nothing).

    Call k (0, 1, …) does ``work`` seconds of work, a little more or less from call to call;
    the FIRST call also compiles the kernel (``compile`` seconds more, as CuPy compiles a kernel
    on its first launch); calls listed in ``slow`` take that many times longer (another program
    on the GPU). ``pending`` seconds of earlier work are already queued when the device is made
    (the end of a training step nobody waited for)."""

    def __init__(self, work=2e-3, launch=1e-5, compile=0.2, pending=0.05, slow=None):
        self.work, self.launch, self.compile = work, launch, compile
        self.slow = dict(slow or {})
        self.now = 0.0                      # the host's clock
        self.free_at = pending              # when the device has done all queued work
        self.calls = 0
        self.syncs = 0

    def duration(self, k):
        """The work of call k alone, in seconds (the compile included for call 0)."""
        d = self.work * (1 + 0.02 * ((7 * k) % 5 - 2)) * self.slow.get(k, 1)
        return d + (self.compile if k == 0 else 0.0)

    def run(self):
        self.now += self.launch
        self.free_at = max(self.free_at, self.now) + self.duration(self.calls)
        self.calls += 1

    def sync(self):
        self.now = max(self.now, self.free_at)
        self.syncs += 1

    def clock(self):
        return self.now


def _per_call_times(run, sync, clock, repeats, warmup):
    """The honest per-call times: ``warmup`` untimed calls, then each call timed from an idle
    device (sync) to the end of its work (sync)."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        sync()
        t0 = clock()
        run()
        sync()
        times.append(clock() - t0)
    return times


def _honest(run, sync, clock, repeats, warmup):
    return float(np.median(_per_call_times(run, sync, clock, repeats, warmup)))


def _timer_mistakes(make, repeats, warmup):
    """What each known wrong timer measures on a fresh device from ``make()``."""
    def go(body):
        dev = make()
        return body(dev.run, dev.sync, dev.clock)

    def no_sync(run, sync, clock):
        for _ in range(warmup):
            run()
        ts = []
        for _ in range(repeats):
            t0 = clock()
            run()
            ts.append(clock() - t0)
        return np.median(ts)

    def sync_after_only(run, sync, clock):
        for _ in range(warmup):
            run()
        ts = []
        for _ in range(repeats):
            t0 = clock()
            run()
            sync()
            ts.append(clock() - t0)
        return np.median(ts)

    def no_warmup(run, sync, clock):
        return _honest(run, sync, clock, repeats, 0)

    def mean(run, sync, clock):
        return np.mean(_per_call_times(run, sync, clock, repeats, warmup))

    def batch(run, sync, clock):
        for _ in range(warmup):
            run()
        sync()
        t0 = clock()
        for _ in range(repeats):
            run()
        sync()
        return (clock() - t0) / repeats

    def total(run, sync, clock):
        return np.sum(_per_call_times(run, sync, clock, repeats, warmup))

    def min_(run, sync, clock):
        return np.min(_per_call_times(run, sync, clock, repeats, warmup))

    hints = {
        no_sync: "your timer measured only the LAUNCH: run() queues the work and returns at "
                 "once, so the clock must be read after sync() has waited for the work to end.",
        sync_after_only: "the device was still busy with earlier work when you started the "
                         "clock (the warm-up calls, or a step nobody waited for), and your "
                         "first measurement includes it: sync() BEFORE reading the start time "
                         "too.",
        no_warmup: "your first timed call includes compiling the kernel (CuPy compiles on the "
                   "first launch): make `warmup` untimed calls first.",
        mean: "return the MEDIAN of the per-call times, not the mean: one slow call (another "
              "program on the GPU) pulls a mean far more than a median.",
        batch: "that is the mean time per call over a batch of calls timed together; the "
               "exercise asks for the median of `repeats` separately timed calls (a slow call "
               "moves a mean, not a median).",
        total: "return the time of ONE call (the median), not the sum over the repeats.",
        min_: "return the median of the per-call times, not the minimum (the minimum reports "
              "the luckiest call).",
    }
    return [(go(body), hint) for body, hint in hints.items()]


@by_hand("13.3")
@_quiet
def check_time_device(time_device, seed=None):
    """Exercise 13.3: ``time_device(run, sync, clock, repeats, warmup)`` -> the median, over
    ``repeats`` calls of ``run()``, of the seconds from an idle device to the end of the
    call's work; ``warmup`` untimed calls first; ``run`` called warmup + repeats times in all.

    Checked on :class:`FakeDevice` s (nothing real is timed): with work queued before the
    timer starts, a first call that compiles, and a call slowed by another program. Cases: a
    single timed call after one warm-up, five calls with one slow, four calls (an even number:
    the median is the mean of the middle two), three warm-ups.
    """
    fn = time_device
    #        case                                   repeats warmup slow (call index: factor)
    cases = [("one timed call after one warm-up",   1,      1,     {}),
             ("five calls, one of them slow",       5,      2,     {4: 8.0}),
             ("four calls (an even number)",        4,      1,     {}),
             ("three warm-ups, a slow call",        3,      3,     {3: 10.0, 5: 1.5})]
    for case, repeats, warmup, slow in cases:
        make = lambda: FakeDevice(slow=slow)
        ref_dev = make()
        expected = _honest(ref_dev.run, ref_dev.sync, ref_dev.clock, repeats, warmup)
        dev = make()
        try:
            got = fn(dev.run, dev.sync, dev.clock, repeats, warmup)
        except (NotImplementedError, ExerciseError):
            raise
        except Exception as exc:
            raise ExerciseError(f"{_name(fn)} raised {type(exc).__name__} on the case '{case}': "
                                f"{exc}") from exc
        if got is None:
            raise ExerciseError(f"{_name(fn)} returned None (case '{case}'): did you forget a "
                                "`return`?")
        if np.ndim(got) != 0:
            raise ExerciseError(f"{_name(fn)}: on the case '{case}' it returned "
                                f"{np.shape(got)} numbers; return one, the median per-call time "
                                "in seconds (np.median of the list).")
        got = float(got)
        if got < 1e-3 * expected and not any(math.isclose(got, v, rel_tol=1e-9)
                                              for v, _ in _timer_mistakes(make, repeats, warmup)):
            raise ExerciseError(
                f"{_name(fn)}: the time is wrong on the case '{case}': {got:.3g} s, the call "
                f"takes {expected:.3g} s.\nHint: read the time with the `clock` you are given "
                "(the fake device's; time.perf_counter() sees no fake work) and sync() before "
                "reading it.")
        _compare(fn, "the time", got, expected, case,
                 mistakes=_timer_mistakes(make, repeats, warmup))
        if dev.calls != warmup + repeats:
            raise ExerciseError(
                f"{_name(fn)}: on the case '{case}' (repeats={repeats}, warmup={warmup}) it "
                f"called run() {dev.calls} times, expected warmup + repeats = "
                f"{warmup + repeats}.\nHint: `warmup` untimed calls, then `repeats` timed ones.")
    _passed(fn, f"the median of synchronised calls after the warm-up, on {len(cases)} fake "
            "devices (queued work, compilation, slow calls)")


# --------------------------------------------------------------------------------------
# Exercise 13.4: compute on the device, bring back only the answer
# --------------------------------------------------------------------------------------

@contextlib.contextmanager
def _counting_transfers():
    """Count the numbers copied from the emulated device to the host while the block runs."""
    from .. import emulated
    cls = emulated.ndarray
    moved = [0]
    saved = {k: cls.__dict__[k] for k in ("get", "item", "tolist", "__float__", "__int__",
                                           "__bool__", "__array__")}

    def counted(name):
        orig = saved[name]

        def f(self, *a, **k):
            moved[0] += self.size
            return orig(self, *a, **k)
        return f

    try:
        for k in saved:
            setattr(cls, k, counted(k))
        with emulated.strict():
            yield moved
    finally:
        for k, v in saved.items():
            setattr(cls, k, v)


def _type_error_hint(msg):
    if "Implicit conversion" in msg:
        return ("np.asarray / np.array of a device array would copy all of it to the host: keep "
                "the work on the device with xp = backend.get_array_module(logits), and bring "
                "back only the answer (float(...)).")
    if msg.startswith("numpy.") and "was called on an emulated device array" in msg:
        return ("a NumPy function was called on a device array: ask for the array's own module, "
                "xp = backend.get_array_module(logits), and call xp." + msg.split()[0][6:]
                + " (the same code then runs on NumPy and on CuPy).")
    if "host" in msg and "mixed" in msg:
        return ("the labels are a NumPy (host) array and the logits are on the device: move the "
                "labels over first, labels = xp.asarray(labels) (N integers: a small copy).")
    return None


@by_hand("13.4")
def check_device_accuracy(device_accuracy, seed=133):
    """Exercise 13.4: ``device_accuracy(logits, labels)`` -> a Python float, the share of rows of
    ``logits`` (N, K) whose largest entry is at ``labels[n]`` (labels: N integers).

    Run on NumPy arrays, and on device arrays of :mod:`minigan.emulated` with CuPy's rules
    applied to the learner's code (no np.asarray of a device array, no NumPy function on one, no
    host array mixed into a device operation), with labels on the host (as a data set gives
    them) and on the device; at most one number may cross back to the host (the answer).
    """
    from .. import emulated
    fn = device_accuracy
    rng = np.random.default_rng(seed)
    cases = []
    for N, K in ((50, 10), (7, 3), (1, 4)):
        logits = rng.standard_normal((N, K))
        labels = np.where(rng.random(N) < 0.6, logits.argmax(1), rng.integers(0, K, N))
        cases.append((f"N = {N}, K = {K}", logits, labels))
    for case, logits, labels in cases:
        expected = float(np.mean(logits.argmax(axis=1) == labels))
        for where in ("NumPy arrays", "device logits, host labels", "device logits and labels"):
            name = f"{case}, {where}"
            if where == "NumPy arrays":
                args, ctx = (logits.copy(), labels.copy()), contextlib.nullcontext([0])
            else:
                lab = labels.copy() if where.endswith("host labels") else emulated.asarray(labels)
                args, ctx = (emulated.asarray(logits), lab), _counting_transfers()
            try:
                with ctx as moved:
                    got = fn(*args)
            except (NotImplementedError, ExerciseError):
                raise
            except TypeError as exc:
                hint = _type_error_hint(str(exc))
                raise ExerciseError(f"{_name(fn)} raised TypeError on the case '{name}': {exc}"
                                    + (f"\nHint: {hint}" if hint else "")) from exc
            except Exception as exc:
                hint = ("on NumPy arrays there is no .get(): backend.to_numpy(x) and "
                        "get_array_module work for both." if "get" in str(exc) else None)
                raise ExerciseError(f"{_name(fn)} raised {type(exc).__name__} on the case "
                                    f"'{name}': {exc}" + (f"\nHint: {hint}" if hint else "")
                                    ) from exc
            if isinstance(got, emulated.ndarray) or isinstance(got, np.ndarray):
                raise ExerciseError(
                    f"{_name(fn)}: on the case '{name}' it returned an array "
                    f"({type(got).__module__}.{type(got).__name__}), not a Python float.\nHint: "
                    "reductions on a device give 0-d device arrays: float(...) brings the one "
                    "number back (that is the one transfer to make).")
            if not isinstance(got, (float, int)) or isinstance(got, bool):
                raise ExerciseError(f"{_name(fn)}: on the case '{name}' it returned a "
                                    f"{type(got).__name__}; return a Python float.")
            if moved[0] > 1:
                raise ExerciseError(
                    f"{_name(fn)}: on the case '{name}' it copied {moved[0]} numbers from the "
                    "device to the host to compute one.\nHint: compare and average on the "
                    "device (xp.argmax, ==, .mean()) and bring back only the answer with "
                    "float(...): a transfer costs far more than the arithmetic.")
            _compare(fn, "the accuracy", got, expected, name, mistakes=[
                (float(np.mean(logits.argmax(axis=1) != labels)), "that is the error rate: "
                 "the share of rows whose argmax EQUALS the label."),
                (float(np.sum(logits.argmax(axis=1) == labels)), "that is the number of right "
                 "rows: divide by N (or take the mean)."),
            ])
    _passed(fn, "on NumPy and on device arrays, one number back to the host, "
            f"{3 * len(cases)} cases")
