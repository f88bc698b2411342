"""The checks of chapter 13's exercises accept correct answers, written as a learner would and in
several forms, and reject plausible wrong ones, each with the hint that names the mistake; the grid
simulator runs threads in a shuffled order, and the fake device's timer check rejects each wrong
timer."""
import math
import time

import numpy as np
import pytest

from minigan import backend
from minigan.exercises import ch13_gpu as ex
from minigan.exercises import ExerciseError

from exercise_helpers import check_tests


# --- 13.1 --------------------------------------------------------------------------------------

def bias_leaky_relu_thread(t, x, bias, y, n, C, HW, alpha, *, mistake=None):
    i = t.threadIdx if mistake == "thread_only" else t.blockIdx * t.blockDim + t.threadIdx
    if mistake != "no_bounds" and not i < (n - 1 if mistake == "n_minus_1" else n):
        return
    ch = {"mod_C": i % C, "no_mod": i // HW, "batch": (i // (C * HW)) % C}.get(mistake,
                                                                               (i // HW) % C)
    z = x[i] + bias[ch]
    if mistake == "bias_after":
        y[i] = (x[i] if x[i] > 0 else alpha * x[i]) + bias[ch]
    elif mistake == "slope_of_x":
        y[i] = z if x[i] > 0 else alpha * z
    elif mistake == "max_alpha":
        y[i] = max(z, alpha)
    elif mistake == "writes_input":
        x[i] = z
        y[i] = z if z > 0 else alpha * z
    else:
        y[i] = z if z > 0 else alpha * z


def bias_leaky_relu_thread_max(t, x, bias, y, n, C, HW, alpha):
    """Another right form: an early return, the channel by divmod, max(z, α·z) (0 ≤ α ≤ 1)."""
    i = t.blockIdx * t.blockDim + t.threadIdx
    if i >= n:
        return
    plane, _ = divmod(i, HW)
    z = x[i] + bias[plane % C]
    y[i] = max(z, alpha * z)


def bias_leaky_relu_thread_coords(t, x, bias, y, n, C, HW, alpha):
    """Another right form: the full (n, c, hw) coordinates, and NumPy's scalar functions."""
    i = int(np.int64(t.blockIdx) * t.blockDim + t.threadIdx)
    if i < n:
        hw = i % HW
        c = (i - hw) // HW % C
        z = x[i] + bias[c]
        y[i] = np.where(z > 0, z, alpha * z).item()


# --- 13.2 --------------------------------------------------------------------------------------

def _sigmoid(v):
    return 1 / (1 + math.exp(-v))


def lstm_gates_thread(t, a, c_prev, h, c, N, H, *, mistake=None):
    i = t.blockIdx * t.blockDim + t.threadIdx
    if mistake != "no_bounds" and i >= N * H:
        return
    n, j = i // H, i % H
    at = {"interleaved": lambda k: (n * H + j) * 4 + k,
          "row_stride_H": lambda k: n * H + j + k * H}.get(mistake,
                                                            lambda k: n * 4 * H + k * H + j)
    ai, af, ag, ao = a[at(0)], a[at(1)], a[at(2)], a[at(3)]
    if mistake == "order":
        ag, ao = ao, ag
    gi, gf = _sigmoid(ai), _sigmoid(af)
    gg, go = (_sigmoid(ag), math.tanh(ao)) if mistake == "acts" else (math.tanh(ag), _sigmoid(ao))
    cp = c_prev[i]
    cc = {"if_swapped": gi * cp + gf * gg, "no_forget": cp + gi * gg}.get(mistake,
                                                                          gf * cp + gi * gg)
    c[i] = cc
    h[i] = {"no_tanh": go * cc, "tanh_prev": go * math.tanh(cp)}.get(mistake, go * math.tanh(cc))
    if mistake == "writes_input":
        c_prev[i] = cc


def lstm_gates_thread_tanh_form(t, a, c_prev, h, c, N, H):
    """Another right form: σ(v) = ½ + ½ tanh(v/2) (as minigan's CuPy kernel), a 2-D index."""
    i = t.blockIdx * t.blockDim + t.threadIdx
    if i < N * H:
        n, j = divmod(i, H)
        row = n * 4 * H
        s = lambda v: 0.5 + 0.5 * np.tanh(0.5 * v)
        gi, gf, gg, go = s(a[row + j]), s(a[row + H + j]), np.tanh(a[row + 2 * H + j]), \
            s(a[row + 3 * H + j])
        c[n * H + j] = gf * c_prev[n * H + j] + gi * gg
        h[n * H + j] = go * np.tanh(c[n * H + j])          # reads back its own output: fine


# --- 13.3 --------------------------------------------------------------------------------------

def time_device(run, sync, clock, repeats, warmup, *, mistake=None):
    for _ in range(0 if mistake == "no_warmup" else warmup):
        run()
    times = []
    for _ in range(repeats):
        if mistake not in ("no_sync_before", "no_sync"):
            sync()
        t0 = clock() if mistake != "perf_counter" else time.perf_counter()
        run()
        if mistake != "no_sync":
            sync()
        times.append((clock() if mistake != "perf_counter" else time.perf_counter()) - t0)
    if mistake == "extra_call":
        run()
    return {"mean": np.mean, "total": np.sum, "min": np.min, "list": list}.get(
        mistake, np.median)(times)


def time_device_sorted(run, sync, clock, repeats, warmup):
    """Another right form: one sync after the warm-up, the end of one call the start of the
    next (the device is idle there), the median by sorting."""
    for _ in range(warmup):
        run()
    sync()
    start = clock()
    times = []
    for _ in range(repeats):
        run()
        sync()
        end = clock()
        times.append(end - start)
        start = end
    times.sort()
    m = len(times) // 2
    return times[m] if len(times) % 2 else (times[m - 1] + times[m]) / 2


def time_device_batch(run, sync, clock, repeats, warmup):
    """Wrong: the mean per call of a batch timed together (throughput)."""
    for _ in range(warmup):
        run()
    sync()
    t0 = clock()
    for _ in range(repeats):
        run()
    sync()
    return (clock() - t0) / repeats


# --- 13.4 --------------------------------------------------------------------------------------

def device_accuracy(logits, labels, *, mistake=None):
    xp = backend.get_array_module(logits)
    if mistake == "np_argmax":
        pred = np.argmax(logits, axis=1)
    elif mistake == "asarray":
        pred = np.asarray(logits).argmax(axis=1)
    elif mistake == "to_numpy":
        pred = backend.to_numpy(logits).argmax(axis=1)
        return float((pred == backend.to_numpy(labels)).mean())
    else:
        pred = logits.argmax(axis=1)
    lab = labels if mistake == "host_labels" else xp.asarray(labels)
    right = pred == lab if mistake != "error_rate" else pred != lab
    if mistake == "device_result":
        return right.mean()
    if mistake == "count":
        return float(right.sum())
    return float(right.mean())


def device_accuracy_sum(logits, labels):
    """Another right form: xp.argmax, a count over N, int() of the device count."""
    xp = backend.get_array_module(logits)
    hits = xp.sum(xp.argmax(logits, axis=1) == xp.asarray(labels))
    return int(hits) / logits.shape[0]


CORRECT = [
    (ex.check_bias_leaky_relu_thread, bias_leaky_relu_thread),
    (ex.check_bias_leaky_relu_thread, bias_leaky_relu_thread_max),
    (ex.check_bias_leaky_relu_thread, bias_leaky_relu_thread_coords),
    (ex.check_lstm_gates_thread, lstm_gates_thread),
    (ex.check_lstm_gates_thread, lstm_gates_thread_tanh_form),
    (ex.check_time_device, time_device),
    (ex.check_time_device, time_device_sorted),
    (ex.check_device_accuracy, device_accuracy),
    (ex.check_device_accuracy, device_accuracy_sum),
]

(test_check_accepts_correct_answer, test_every_check_is_covered,
 test_not_implemented_propagates_unchanged) = check_tests(ex, CORRECT)


# --- wrong answers, with the hint each must produce ----------------------------------------

def _with(fn, m):
    def f(*args):
        return fn(*args, mistake=m)
    f.__name__ = fn.__name__
    return f


c1, c2 = ex.check_bias_leaky_relu_thread, ex.check_lstm_gates_thread
c3, c4 = ex.check_time_device, ex.check_device_accuracy
WRONG = {
    # 13.1
    "leaky: no bounds check": (c1, _with(bias_leaky_relu_thread, "no_bounds"),
                               r"Guard the body with `if i < n:`"),
    "leaky: i = threadIdx": (c1, _with(bias_leaky_relu_thread, "thread_only"),
                             r"written by \d+ threads .*a race"),
    "leaky: i < n - 1": (c1, _with(bias_leaky_relu_thread, "n_minus_1"), r"never written"),
    "leaky: channel i % C": (c1, _with(bias_leaky_relu_thread, "mod_C"), r"is not i % C"),
    "leaky: channel i // HW": (c1, _with(bias_leaky_relu_thread, "no_mod"),
                               r"read bias\[\d+\].*\nHint: .*c = \(i // HW\) % C"),
    "leaky: the example's index": (c1, _with(bias_leaky_relu_thread, "batch"),
                                   r"EXAMPLE's index"),
    "leaky: bias after": (c1, _with(bias_leaky_relu_thread, "bias_after"), r"BEFORE the activation"),
    "leaky: slope of x": (c1, _with(bias_leaky_relu_thread, "slope_of_x"), r"sign of z = x \+ b"),
    "leaky: max(z, alpha)": (c1, _with(bias_leaky_relu_thread, "max_alpha"), r"not max\(z, α\)"),
    "leaky: writes its input": (c1, _with(bias_leaky_relu_thread, "writes_input"),
                                r"wrote into x\[\d+\], an input"),
    # 13.2
    "lstm: no bounds check": (c2, _with(lstm_gates_thread, "no_bounds"), r"if i < n:"),
    "lstm: gate order": (c2, _with(lstm_gates_thread, "order"), r"torch's order \(i, f, g, o\)"),
    "lstm: sigmoid/tanh swapped": (c2, _with(lstm_gates_thread, "acts"), r"tanh for the candidate"),
    "lstm: interleaved gates": (c2, _with(lstm_gates_thread, "interleaved"), r"H apart"),
    "lstm: row stride H": (c2, _with(lstm_gates_thread, "row_stride_H"), r"holds 4H numbers"),
    "lstm: i and f swapped": (c2, _with(lstm_gates_thread, "if_swapped"), r"swapped i and f"),
    "lstm: no forget gate": (c2, _with(lstm_gates_thread, "no_forget"), r"scaled by the forget"),
    "lstm: h without tanh": (c2, _with(lstm_gates_thread, "no_tanh"), r"through tanh before"),
    "lstm: tanh of c_prev": (c2, _with(lstm_gates_thread, "tanh_prev"), r"NEW cell"),
    "lstm: writes its input": (c2, _with(lstm_gates_thread, "writes_input"),
                               r"wrote into c_prev\[\d+\], an input"),
    # 13.3
    "timer: no sync": (c3, _with(time_device, "no_sync"), r"only the LAUNCH"),
    "timer: no sync before": (c3, _with(time_device, "no_sync_before"), r"sync\(\) BEFORE"),
    "timer: no warm-up": (c3, _with(time_device, "no_warmup"), r"compiling the kernel"),
    "timer: mean": (c3, _with(time_device, "mean"), r"MEDIAN"),
    "timer: total": (c3, _with(time_device, "total"), r"not the sum"),
    "timer: min": (c3, _with(time_device, "min"), r"not the minimum"),
    "timer: a list": (c3, _with(time_device, "list"), r"returned \(\d+,\) numbers"),
    "timer: perf_counter": (c3, _with(time_device, "perf_counter"), r"the `clock` you are given"),
    "timer: an extra call": (c3, _with(time_device, "extra_call"), r"called run\(\) \d+ times"),
    "timer: a batch": (c3, time_device_batch, r"timed together"),
    # 13.4
    "accuracy: np.argmax": (c4, _with(device_accuracy, "np_argmax"), r"xp\.argmax"),
    "accuracy: np.asarray": (c4, _with(device_accuracy, "asarray"), r"copy all of it to the host"),
    "accuracy: to the host": (c4, _with(device_accuracy, "to_numpy"), r"copied \d+ numbers"),
    "accuracy: host labels": (c4, _with(device_accuracy, "host_labels"), r"xp\.asarray\(labels\)"),
    "accuracy: a device scalar": (c4, _with(device_accuracy, "device_result"), r"float\(\.\.\.\)"),
    "accuracy: error rate": (c4, _with(device_accuracy, "error_rate"), r"error rate"),
    "accuracy: a count": (c4, _with(device_accuracy, "count"), r"divide by N"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_check_rejects_wrong_answer_with_hint(name):
    check, fn, hint = WRONG[name]
    with np.errstate(all="ignore"):
        with pytest.raises(ExerciseError, match=hint) as info:
            check(fn)
    assert str(info.value).count("Hint:") <= 1, "the mistake is named unambiguously"


def test_the_forms_agree_with_the_library():
    """The right forms compute what minigan's kernels compute."""
    from minigan.kernels.activation import leaky_relu_reference
    from minigan.kernels.lstm import lstm_gates_forward_reference
    rng = np.random.default_rng(0)
    x, b = rng.standard_normal((2, 3, 2, 3)), rng.standard_normal(3)
    y = np.full(x.size, np.nan)
    ex.launch(bias_leaky_relu_thread, 2, 32, x.reshape(-1).copy(), b, y, x.size, 3, 6, 0.2)
    np.testing.assert_allclose(y.reshape(x.shape), leaky_relu_reference(x + b[:, None, None], 0.2))
    a, cp = rng.standard_normal((3, 8)), rng.standard_normal((3, 2))
    h, c = np.full(6, np.nan), np.full(6, np.nan)
    ex.launch(lstm_gates_thread, 1, 8, a.reshape(-1).copy(), cp.reshape(-1).copy(), h, c, 3, 2)
    h_ref, c_ref, _, _ = lstm_gates_forward_reference(a, cp)
    np.testing.assert_allclose(h.reshape(3, 2), h_ref)
    np.testing.assert_allclose(c.reshape(3, 2), c_ref)


def test_the_simulator_runs_threads_in_a_shuffled_order():
    seen = []

    def record(t, out):
        i = t.blockIdx * t.blockDim + t.threadIdx
        seen.append(i)
        out[i] = len(seen)

    out = np.zeros(40)
    ex.launch(record, 5, 8, out)
    assert sorted(seen) == list(range(40)) and seen != sorted(seen)
    assert {t for t in np.diff(np.asarray(seen))} != {1}
    # another seed, another order; the same seed, the same order (the checks are deterministic)
    order = lambda seed: (seen.clear(), ex.launch(record, 5, 8, np.zeros(40), seed=seed),
                          list(seen))[2]
    assert order(1) != order(2) and order(3) == order(3)


def test_a_buffer_is_a_pointer_with_bounds():
    buf = ex.Buffer(np.zeros(4), "y")
    buf[3] = 1.0
    with pytest.raises(ex.OutOfBounds):
        buf[4] = 1.0
    with pytest.raises(ex.OutOfBounds):
        buf[-1]                                 # no wrap-around, as a C pointer
    with pytest.raises(TypeError, match="one element"):
        buf[1:3]
    assert buf.writes.tolist() == [0, 0, 0, 1]


def test_the_fake_device_is_asynchronous():
    """run() returns at once; the clock moves only when sync() waits; the first call compiles;
    work queued before a measurement is still running when it starts."""
    dev = ex.FakeDevice(work=1e-3, launch=1e-5, compile=0.1, pending=0.05)
    t0 = dev.clock()
    dev.run()
    assert dev.clock() - t0 == pytest.approx(1e-5)       # the launch only
    dev.sync()
    assert dev.clock() == pytest.approx(0.05 + 0.1 + dev.duration(0) - 0.1)   # pending + compile
    t0 = dev.clock()
    dev.run()
    dev.sync()
    assert dev.clock() - t0 == pytest.approx(1e-5 + dev.duration(1))


def test_the_checks_are_fast():
    for check, fn in [(c1, bias_leaky_relu_thread), (c2, lstm_gates_thread), (c3, time_device),
                      (c4, device_accuracy)]:
        t0 = time.perf_counter()
        check(fn)
        assert time.perf_counter() - t0 < 1.0, check.__name__


def test_calling_the_library_kernels_is_refused():
    """As a notebook would: the library's function imported by name, then called in the body."""
    from minigan.kernels import activation, lstm
    ns = {"np": np}
    exec("from minigan.kernels.activation import leaky_relu_reference\n"
         "def by_library(t, x, bias, y, n, C, HW, alpha):\n"
         "    i = t.blockIdx * t.blockDim + t.threadIdx\n"
         "    if i < n:\n"
         "        y[i] = leaky_relu_reference(np.float64(x[i] + bias[(i // HW) % C]), alpha)\n"
         "import minigan.kernels.lstm as L\n"
         "def gates_by_library(t, a, c_prev, h, c, N, H):\n"
         "    i = t.blockIdx * t.blockDim + t.threadIdx\n"
         "    if i < N * H:\n"
         "        n, j = divmod(i, H)\n"
         "        row = np.array([[a[n * 4 * H + k * H + j] for k in range(4)]])\n"
         "        hh, cc, _, _ = L.lstm_gates_forward(row, np.array([[c_prev[i]]]))\n"
         "        h[i], c[i] = hh[0, 0], cc[0, 0]\n", ns)
    with pytest.raises(ExerciseError, match="calls minigan's leaky_relu_reference"):
        c1(ns["by_library"])
    assert ns["leaky_relu_reference"] is activation.leaky_relu_reference     # put back
    with pytest.raises(ExerciseError, match="calls minigan's lstm_gates_forward"):
        c2(ns["gates_by_library"])
    assert lstm.lstm_gates_forward.__name__ == "lstm_gates_forward"
