"""The command line: train, resume, sample, and clear errors."""
import json
import subprocess
import sys

import numpy as np
import pytest

from minigan.cli import main
from minigan.train import read_checkpoint


def test_train_writes_samples_metrics_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "gan", "--data", "ring8", "--steps", "40", "--seed", "3",
                 "--out", str(out), "--quiet"]) == 0
    for name in ("samples.png", "metrics.json", "checkpoint.npz", "losses.png", "history.json"):
        assert (out / name).exists(), name
    assert (out / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    snapshots = sorted(p.name for p in (out / "samples").iterdir())
    assert snapshots == [f"step-{k:06d}.png" for k in (8, 16, 24, 32, 40)]   # 5 a run
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"modes_covered", "n_modes", "high_quality", "reverse_kl", "step"}
    assert metrics["n_modes"] == 8 and metrics["step"] == 40


def test_resume_continues_exactly(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "gan", "--data", "grid25", "--steps", "30", "--out", str(a), "--quiet"]) == 0
    assert main(["train", "gan", "--data", "grid25", "--steps", "20", "--out", str(b), "--quiet"]) == 0
    assert main(["train", "--resume", str(b), "--steps", "30", "--quiet"]) == 0
    _, sa = read_checkpoint(a)
    _, sb = read_checkpoint(b)
    assert sb["step"] == 30
    for k in sa:
        assert np.array_equal(sa[k], sb[k]), k


def test_dcgan_on_digits_and_resume(tmp_path):
    out = tmp_path / "dcgan"
    assert main(["train", "dcgan", "--steps", "6", "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"fid", "fid_floor", "precision", "recall"} <= set(metrics) and metrics["step"] == 6
    meta, _ = read_checkpoint(out)
    assert meta["model"] == "dcgan" and meta["run"]["data"] == "digits"
    assert main(["train", "--resume", str(out), "--steps", "8", "--quiet"]) == 0
    assert read_checkpoint(out)[0]["step"] == 8
    assert main(["sample", str(out), "--n", "9", "--out", str(tmp_path / "g.png")]) == 0


def test_conditional_gan_reports_conditional_accuracy(tmp_path):
    out = tmp_path / "cgan"
    assert main(["train", "cgan", "--steps", "5", "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["conditional_accuracy"] <= 1 and metrics["real_accuracy"] > 0.9
    assert main(["sample", str(out), "--n", "20", "--out", str(tmp_path / "c.png")]) == 0


def test_wgan_gp_takes_a_batch_per_critic_step_and_resumes_exactly(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "wgan-gp", "--data", "ring8", "--steps", "4", "--out", str(a), "--quiet"]) == 0
    assert main(["train", "wgan-gp", "--data", "ring8", "--steps", "2", "--out", str(b), "--quiet"]) == 0
    assert main(["train", "--resume", str(b), "--steps", "4", "--quiet"]) == 0
    _, sa = read_checkpoint(a)
    _, sb = read_checkpoint(b)
    assert sa["opt_d.t"] == 4 * 5                       # n_critic = 5 critic steps per step
    for k in sa:
        assert np.array_equal(sa[k], sb[k]), k


def test_digits_and_sample(tmp_path):
    out = tmp_path / "digits"
    assert main(["train", "gan", "--data", "digits", "--steps", "20", "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"confidence", "classes_covered", "real_confidence"} <= set(metrics)
    grid = tmp_path / "grid.png"
    assert main(["sample", str(out), "--n", "16", "--out", str(grid)]) == 0
    assert grid.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, message", [
    (["train", "wgan-xyz", "--data", "ring8"], "unknown model 'wgan-xyz'; valid models: cdcgan, cgan, dcgan, gan, pix2pix, rcgan, seqgan, text2image, wgan, wgan-gp"),
    (["train", "dcgan", "--data", "ring8"], "model 'dcgan' has no settings for dataset 'ring8'; it trains on: digits"),
    (["train", "gan", "--data", "cifar"], "unknown dataset 'cifar'; valid datasets: ring8, grid25, digits, oracle, grammar, sines, scenes"),
    (["train"], "name a model"),
    (["sample", "/nonexistent/run"], "no checkpoint at"),
])
def test_errors_are_clear(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_corrupt_checkpoint_is_reported(tmp_path, capsys):
    (tmp_path / "checkpoint.npz").write_bytes(b"garbage")
    assert main(["sample", str(tmp_path)]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_python_dash_m_help():
    r = subprocess.run([sys.executable, "-m", "minigan", "train", "--help"],
                       capture_output=True, text=True, check=True)
    assert "--resume" in r.stdout and "ring8" in r.stdout and "--steps" in r.stdout
