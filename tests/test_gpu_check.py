"""benchmarks/gpu_check.py, the prepared script for a GPU machine, tested without a GPU: on the
emulated device (``--device emulated``) it must cover every layer and kernel, match the DCGAN
losses, write its JSON where asked, fail when the device computes something wrong, and say in
one line that CuPy is missing when asked for the GPU here.

Host only (tests/emulation.py): the script sets up its own device and its own NumPy side."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from minigan import backend, nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_check.py")


@pytest.fixture(autouse=True)
def _host_only(request):
    """Listed in tests/emulation.py's HOST_ONLY, so ``pytest --backend=emulated tests`` does
    not collect this file; named explicitly, it skips: the emulation boundary would move the
    script's NumPy side onto the device (the script runs ``--device emulated`` itself)."""
    import emulation
    if emulation.enabled(request.config):
        pytest.skip(f"host only: {emulation.HOST_ONLY['test_gpu_check.py']}")


@pytest.fixture(scope="module")
def gc():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(gc, tmp_path, *argv):
    path = tmp_path / "out" / "gpu_check.json"
    rc = gc.main(["--device", "emulated", "--quick", "--json", str(path), *argv])
    return rc, json.loads(path.read_text())


def test_quick_run_on_the_emulated_device(gc, tmp_path, capsys):
    default_json_before = os.path.exists(gc.DEFAULT_JSON) and os.path.getmtime(gc.DEFAULT_JSON)
    rc, res = run(gc, tmp_path)
    out = capsys.readouterr().out
    assert rc == 0, out
    parts = res["parts"]
    assert {k: p["status"] for k, p in parts.items()} == {
        "info": "PASS", "gpu_tests": "SKIP", "layers": "PASS", "dcgan": "PASS",
        "timing": "PASS"}
    # (b) every public layer and array function of minigan.nn, every kernel dispatch function
    layers = parts["layers"]
    names = gc.nn_names()
    assert {"Conv2d", "ConvTranspose2d", "Linear", "BatchNorm1d", "BatchNorm2d", "Dropout",
            "LSTM", "MaxPool2d", "AvgPool2d", "Conv1d", "MaxPool1d", "WordAttention",
            "Embedding", "SpectralNorm", "MinibatchDiscrimination", "Tanh"} <= set(names)
    assert layers["not_covered"] == []
    per_name = layers["max_rel_err_per_name"]
    for name in names + gc.kernel_names():
        assert per_name[name] <= gc.LAYER_TOL, name
    assert all(case["ok"] and case["arrays"] > 0 for case in layers["cases"])
    # batch norm in both modes, and Dropout with its mask drawn alike on both sides
    case_names = [c["case"] for c in layers["cases"]]
    assert any("BatchNorm2d" in n and "train" in n for n in case_names)
    assert any("BatchNorm2d" in n and "eval" in n for n in case_names)
    assert any("Dropout" in n and "train" in n for n in case_names)
    # (c) the DCGAN's losses matched step by step, and its final parameters
    dcgan = parts["dcgan"]
    assert len(dcgan["steps"]) == 2
    assert all(s["max_rel_diff"] <= gc.DCGAN_TOL for s in dcgan["steps"])
    assert dcgan["final_state_max_rel_err"] <= gc.DCGAN_TOL
    # (a) and PyTorch CUDA skipped, saying so; the summary table at the end
    assert "SKIPPED: the gpu-marked tests need CuPy" in out
    assert "SKIPPED: PyTorch CUDA" in out
    assert len(parts["timing"]["rows"]) == 2
    assert "| part | status | seconds |" in out and "| total | PASS |" in out
    assert res["ok"] is True
    # nothing written into benchmarks/results by a run that is not on a GPU
    assert (os.path.exists(gc.DEFAULT_JSON) and os.path.getmtime(gc.DEFAULT_JSON)) \
        == default_json_before
    assert backend.name == "numpy"                 # the script put the backend back


def test_a_wrong_device_result_is_caught(gc, tmp_path, monkeypatch, capsys):
    """Tanh off by 1e-6 on the device only: its layer case and the DCGAN (G ends in a tanh)
    must fail, and the exit status must say so."""
    forward = nn.Tanh.forward

    def wrong_on_the_device(self, x):
        y, cache = forward(self, x)
        if backend.get_array_module(y) is not np:
            y = y + 1e-6
        return y, cache

    monkeypatch.setattr(nn.Tanh, "forward", wrong_on_the_device)
    rc, res = run(gc, tmp_path, "--parts", "layers", "dcgan")
    out = capsys.readouterr().out
    assert rc == 1
    assert res["parts"]["layers"]["status"] == "FAIL"
    failed = [c["case"] for c in res["parts"]["layers"]["cases"] if not c["ok"]]
    assert failed == ["Tanh"], failed
    assert 1e-7 < res["parts"]["layers"]["max_rel_err_per_name"]["Tanh"] < 1e-5
    assert res["parts"]["dcgan"]["status"] == "FAIL"
    assert "FAIL" in out and "| total | FAIL |" in out


def test_a_layer_without_a_case_fails(gc, tmp_path, monkeypatch, capsys):
    cases = gc.layer_cases
    monkeypatch.setattr(gc, "layer_cases", lambda quick=False: [
        c for c in cases(quick) if "Highway" not in c.covers])
    rc, res = run(gc, tmp_path, "--parts", "layers")
    assert rc == 1
    assert res["parts"]["layers"]["not_covered"] == ["Highway"]
    assert "not covered by any case: Highway" in capsys.readouterr().out


def test_a_part_out_of_time_fails(gc, tmp_path):
    rc, res = run(gc, tmp_path, "--parts", "layers", "--budget-s", "0.000001")
    assert rc == 1
    assert "out of time" in res["parts"]["layers"]["error"]


def test_numpy_draws_are_numpys_numbers_on_the_device(gc):
    with gc.on_backend("emulated"):
        draws = gc.NumpyDraws(5)
        a = draws.standard_normal((3, 4))
        b = draws.uniform(-1, 1, 5)
        assert backend.get_array_module(a) is not np
    ref = np.random.default_rng(5)
    np.testing.assert_array_equal(backend.to_numpy(a), ref.standard_normal((3, 4)))
    np.testing.assert_array_equal(backend.to_numpy(b), ref.uniform(-1, 1, 5))
    assert not hasattr(draws, "normal") and not hasattr(draws, "permutation")   # CuPy's API
    assert backend.name == "numpy"


@pytest.mark.slow
def test_the_pytorch_workers_run_on_the_cpu(gc):
    """The PyTorch side of the timing (its own process; bench_speed's torch_dcgan and
    bench_pix2pix_speed's networks and step), on the CPU here: the code a GPU machine runs."""
    pytest.importorskip("torch")
    loads = gc.timing_workloads(True)
    for kind in ("dcgan", "pix2pix"):
        out = gc.run_torch(kind, loads[kind], 2, 1, timeout=300, device="cpu")
        assert "error" not in out, out
        assert len(out["times_s"]) == 2 and out["median_s"] > 0


def test_without_cupy_one_clear_line_and_a_failure():
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here")
    proc = subprocess.run([sys.executable, SCRIPT], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 2
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and proc.stderr == "", (proc.stdout, proc.stderr)
    assert lines[0].startswith("gpu_check: cannot run on the GPU: CuPy is not installed")


@pytest.mark.parametrize("argv, says", [
    (["--budget-s", "0"], "--budget-s: expected a positive number of seconds, got 0"),
    (["--steps", "0"], "--steps: expected a positive integer, got 0"),
    (["--dcgan-batch", "-1"], "--dcgan-batch: expected a positive integer, got -1"),
])
def test_a_bad_option_is_refused_by_name(gc, argv, says, capsys):
    with pytest.raises(SystemExit) as exit_:
        gc.main(["--device", "emulated", "--quick"] + argv)
    assert exit_.value.code == 2
    assert says in capsys.readouterr().err


def test_an_unwritable_json_path_is_one_clear_line(gc, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code = gc.main(["--device", "emulated", "--quick", "--parts", "info",
                    "--json", str(blocker / "x.json")])
    assert code == 2
    out = capsys.readouterr().out
    assert "could not write the results to" in out and "Traceback" not in out
