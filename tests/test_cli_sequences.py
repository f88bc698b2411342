"""The command line on the sequence models: SeqGAN on the oracle and the grammar, RCGAN on the
sines. Train, resume exactly, sample, the metrics, the phase plan and clear errors."""
import json

import numpy as np
import pytest

from minigan.cli import describe_phases, main
from minigan.presets import DEFAULT_DATA, PRESETS, plan_phases
from minigan.gans import MODELS
from minigan.gans.seqgan import SeqGAN
from minigan.train import fit, load_model, read_checkpoint

PNG = b"\x89PNG\r\n\x1a\n"


class Interrupted(Exception):
    """Stands for a run killed mid-way (Ctrl-C, a lost machine)."""


def _same_state(sa, sb):
    assert set(sa) == set(sb)
    for k in sa:
        assert np.array_equal(sa[k], sb[k]), k


def _train(*argv):
    assert main(["train", *argv, "--quiet"]) == 0


def test_seqgan_oracle_trains_all_phases_resumes_exactly_and_samples(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["seqgan", "--data", "oracle", "--steps", "10", "--batch-size", "8"]
    _train(*args, "--out", str(a))
    for name in ("samples.png", "metrics.json", "checkpoint.npz", "losses.png", "history.json"):
        assert (a / name).exists(), name
    assert (a / "samples.png").read_bytes()[:8] == PNG
    metrics = json.loads((a / "metrics.json").read_text())
    assert {"nll_oracle", "oracle_entropy", "nll_test", "sample_entropy", "n_samples",
            "step"} <= set(metrics)
    assert metrics["step"] == 10 and 0 < metrics["oracle_entropy"] < np.log(500)
    meta, _ = read_checkpoint(a)
    assert meta["model"] == "seqgan" and meta["run"]["data"] == "oracle"
    # 10 steps: the phases scale (4 MLE, 4 D pretraining, 2 adversarial); all three ran
    assert (meta["config"]["pretrain_g_steps"], meta["config"]["pretrain_d_steps"]) == (4, 4)
    history = json.loads((a / "history.json").read_text())
    assert set(history["phase"]) == {0.0, 1.0, 2.0}

    # killed after 5 steps (mid D pretraining), then resumed: the uninterrupted run exactly
    original = SeqGAN.train_step

    def killed_at_5(self, batch):
        if self.step == 5:
            raise Interrupted
        return original(self, batch)

    monkeypatch.setattr(SeqGAN, "train_step", killed_at_5)
    with pytest.raises(Interrupted):
        main(["train", *args, "--out", str(b), "--sample-every", "0", "--quiet"])
    monkeypatch.undo()
    assert read_checkpoint(b)[0]["step"] == 5
    _train("--resume", str(b), "--sample-every", "0")      # to the run's own 10 steps
    _same_state(read_checkpoint(a)[1], read_checkpoint(b)[1])

    # resumed to more steps (more adversarial steps, the same plan): the same parameters as
    # one uninterrupted run of the same model and batches
    _train("--resume", str(a), "--steps", "12", "--sample-every", "0")
    model, _ = load_model(a)
    reference = SeqGAN(**meta["config"])
    from minigan.tasks import make_task
    fit(reference, make_task("oracle", batch_size=8, seed=0).batch, 12, progress=False)
    assert model.step == reference.step == 12
    _same_state(model.state_dict(), reference.state_dict())

    out = tmp_path / "lines.png"
    assert main(["sample", str(a), "--n", "7", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG


def test_seqgan_grammar_reports_validity_and_samples_text(tmp_path):
    out = tmp_path / "grammar"
    _train("seqgan", "--data", "grammar", "--steps", "6", "--batch-size", "8", "--out", str(out))
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"validity", "distinct_2", "distinct_3", "unique", "novelty", "step"} <= set(metrics)
    assert 0 <= metrics["validity"] <= 1 and metrics["step"] == 6
    png = tmp_path / "g.png"
    assert main(["sample", str(out), "--n", "5", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == PNG


def test_rcgan_on_sines_is_the_default_resumes_exactly_and_samples(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _train("rcgan", "--steps", "6", "--batch-size", "16", "--out", str(a))   # --data: sines
    _train("rcgan", "--steps", "4", "--batch-size", "16", "--out", str(b), "--sample-every", "0")
    _train("--resume", str(b), "--steps", "6", "--sample-every", "0")
    meta, sa = read_checkpoint(a)
    assert meta["run"]["data"] == "sines" and meta["config"]["conditional"] is True
    _same_state(sa, read_checkpoint(b)[1])
    metrics = json.loads((a / "metrics.json").read_text())
    keys = {"w1_freq", "w1_amp", "resid", "rel_resid", "freq_err"}
    assert keys | {f"floor_{k}" for k in keys} | {"n_samples", "step"} <= set(metrics)
    assert metrics["floor_freq_err"] < 1e-3 and metrics["step"] == 6
    png = tmp_path / "curves.png"
    assert main(["sample", str(a), "--n", "12", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == PNG


@pytest.mark.parametrize("argv, message", [
    (["train", "seqgan", "--data", "ring8"],
     "model 'seqgan' has no settings for dataset 'ring8'; it trains on: oracle, grammar"),
    (["train", "rcgan", "--data", "digits"],
     "model 'rcgan' has no settings for dataset 'digits'; it trains on: sines"),
    (["train", "gan", "--data", "sines"],
     "model 'gan' has no settings for dataset 'sines'; it trains on: ring8, grid25, digits"),
])
def test_wrong_dataset_for_a_model_lists_the_valid_ones(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_every_model_has_a_default_dataset_with_settings():
    assert set(DEFAULT_DATA) == set(MODELS) == set(PRESETS)
    for model, data in DEFAULT_DATA.items():
        assert data in PRESETS[model]


def test_presets_fit_their_data():
    from minigan.data.sequences import VOCAB
    from minigan.data.sines import FREQ_RANGE, SEQ_LEN
    grammar = PRESETS["seqgan"]["grammar"]["model"]
    assert (grammar["vocab_size"], grammar["start_token"]) == (len(VOCAB), VOCAB.bos)
    sines = PRESETS["rcgan"]["sines"]["model"]
    assert tuple(sines["cond_range"]) == FREQ_RANGE and sines["seq_len"] == SEQ_LEN
    for data, p in PRESETS["seqgan"].items():     # the default run has all three phases
        m = p["model"]
        assert p["steps"] > m["pretrain_g_steps"] + m["pretrain_d_steps"], data


@pytest.mark.parametrize("steps, phases", [(4150, (2000, 2000)), (8300, (4000, 4000)),
                                           (10, (4, 4)), (3, (1, 1)), (2, (1, 1)), (1, (1, 1))])
def test_seqgan_phases_scale_with_the_steps(steps, phases):
    model = plan_phases(PRESETS["seqgan"]["oracle"], steps)
    assert (model["pretrain_g_steps"], model["pretrain_d_steps"]) == phases
    assert PRESETS["seqgan"]["oracle"]["model"]["pretrain_g_steps"] == 2000   # not modified


def test_too_few_steps_for_the_adversarial_phase_say_so(tmp_path, capsys):
    _train("seqgan", "--data", "grammar", "--steps", "2", "--batch-size", "8",
           "--out", str(tmp_path / "r"), "--sample-every", "0")
    err = capsys.readouterr().err
    assert "1 MLE steps, 1 D-pretraining steps, 0 adversarial steps" in err
    assert "train more than 2 steps" in err
    assert describe_phases(MODELS["gan"](), 10) is None


def test_seqgan_loss_plot_draws_each_curve_in_its_phases():
    from minigan.cli import plot_history
    history = {"step": [1, 2, 3, 4], "phase": [0.0, 1.0, 2.0, 2.0],
               "nll": [6.0, 0.0, 0.0, 0.0], "loss_g": [0.0, 0.0, 0.5, 0.4],
               "reward": [0.0, 0.0, 0.3, 0.3], "loss_d": [0.0, 1.3, 1.2, 1.2],
               "d_real": [0.0, 0.5, 0.6, 0.6], "d_fake": [0.0, 0.5, 0.4, 0.4]}
    fig = plot_history(history, SeqGAN(vocab_size=5, seq_len=3, embed_dim=2, hidden=2,
                                       d_embed_dim=2, d_hidden=2), "oracle")
    lines = {ln.get_label(): ln.get_ydata() for ln in fig.axes[0].lines
             if not ln.get_label().startswith("_")}
    nll = lines["G's NLL of the real batch (MLE)"]
    assert nll[0] == 6.0 and np.isnan(nll[1:]).all()
    assert np.isnan(lines["D loss"][0]) and not np.isnan(lines["D loss"][1:]).any()
    assert np.isnan(lines["G's policy-gradient surrogate loss"][:2]).all()
