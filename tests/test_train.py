"""The training loop: exact resume, atomic checkpoints, NaN stop keeping the last good one."""
import json
import os

import numpy as np
import pytest

from minigan.data import make_loader, ring8
from minigan.gans.gan import GAN
from minigan.train import (CheckpointError, TrainingDiverged, fit, load_model, read_checkpoint,
                           save_checkpoint)


def make():
    return GAN(data_shape=(2,), latent_dim=2, hidden=16, depth=2, seed=7)


def batches():
    return make_loader(ring8(std=0.05), 32, seed=7).batch_at


def params(model):
    return {n: p.copy() for n, p, _ in model.G.named_parameters("G.") + model.D.named_parameters("D.")}


class _Recorder:
    """A model that records what train_step is given (the batch contract, as fit reads it)."""
    name, blas_threads, config = "recorder", None, {}

    def __init__(self, k):
        self.batches_per_step, self.step, self.seen = k, 0, []

    def train_step(self, batch):
        self.seen.append(batch)
        self.step += 1
        return {"loss": 0.0}


@pytest.mark.parametrize("k", [1, 3])
def test_fit_gives_each_step_the_batches_the_model_declares(k):
    """Step t of a model that takes k batches a step gets batches t·k .. t·k + k − 1 of the
    stream, as a list; with k = 1 the batch itself."""
    model = _Recorder(k)
    fit(model, lambda i: i, 3, progress=False)
    assert model.seen == ([0, 1, 2] if k == 1 else [[0, 1, 2], [3, 4, 5], [6, 7, 8]])


def test_resume_gives_exactly_the_uninterrupted_run(tmp_path):
    full = make()
    fit(full, batches(), 30, tmp_path / "full", checkpoint_every=10, progress=False)
    part = make()
    fit(part, batches(), 20, tmp_path / "part", checkpoint_every=10, progress=False)
    resumed = make()                                   # a fresh process would start here
    fit(resumed, batches(), 30, tmp_path / "part", checkpoint_every=10, resume=True, progress=False)
    a, b = params(full), params(resumed)
    assert resumed.step == 30
    for n in a:
        assert np.array_equal(a[n], b[n]), n
    assert full.opt_d.t == resumed.opt_d.t
    h_full = json.loads((tmp_path / "full" / "history.json").read_text())
    h_res = json.loads((tmp_path / "part" / "history.json").read_text())
    assert h_full == h_res


def test_files_written(tmp_path):
    history = fit(make(), batches(), 12, tmp_path, progress=False,
                  evaluate=lambda m: {"answer": np.float64(1.5)})
    assert history["step"][-1] == 12 and len(history["loss_d"]) == len(history["step"])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == {"answer": 1.5, "step": 12}
    meta, state = read_checkpoint(tmp_path)
    assert meta["step"] == 12 and meta["model"] == "gan" and "G.0.weight" in state
    model, _ = load_model(tmp_path / "checkpoint.npz")
    assert model.step == 12


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    model = make()
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, model)
    good = path.read_bytes()
    model.train_step(batches()(0))

    def crash(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(CheckpointError, match="disk full.*previous checkpoint .* is kept"):
        save_checkpoint(path, model)
    assert path.read_bytes() == good                       # the old checkpoint is untouched
    assert os.listdir(tmp_path) == ["checkpoint.npz"]      # and no temporary file is left


class Diverging(GAN):
    """A GAN whose loss turns NaN at a given step (as a too-high learning rate would)."""

    def __init__(self, *a, nan_at=15, **k):
        super().__init__(*a, **k)
        self.nan_at = nan_at

    def train_step(self, batch):
        logs = super().train_step(batch)
        if self.step > self.nan_at:
            logs["loss_g"] = float("nan")
        return logs


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    model = Diverging(data_shape=(2,), hidden=8, seed=1, nan_at=15)
    with pytest.raises(TrainingDiverged, match=r"loss_g became nan at step 15.*step 10"):
        fit(model, batches(), 40, tmp_path, checkpoint_every=10, progress=False)
    meta, state = read_checkpoint(tmp_path)
    assert meta["step"] == 10
    assert all(np.all(np.isfinite(v)) for k, v in state.items())


def test_nan_before_any_checkpoint_says_so(tmp_path):
    model = Diverging(data_shape=(2,), hidden=8, seed=1, nan_at=0)
    with pytest.raises(TrainingDiverged, match="no checkpoint was written yet"):
        fit(model, batches(), 40, tmp_path, checkpoint_every=10, progress=False)


def test_missing_and_corrupt_checkpoints_are_reported(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        read_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        fit(make(), batches(), 5, tmp_path, resume=True, progress=False)
    fit(make(), batches(), 5, tmp_path, progress=False)
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(path.read_bytes()[: 200])            # a truncated file
    with pytest.raises(CheckpointError, match="corrupt"):
        read_checkpoint(path)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(path)


def test_checkpoint_of_another_shape_is_rejected(tmp_path):
    fit(make(), batches(), 3, tmp_path, progress=False)
    other = GAN(data_shape=(2,), latent_dim=2, hidden=32, depth=2, seed=7)
    with pytest.raises((CheckpointError, ValueError), match="shape"):
        fit(other, batches(), 5, tmp_path, resume=True, progress=False)


def test_progress_lines_without_a_terminal(tmp_path, capsys):
    """In a log (CI, a file): plain lines every tenth of the run, no carriage returns."""
    fit(make(), batches(), 20, None, progress=True)
    err = capsys.readouterr().err
    lines = err.strip().split("\n")
    assert len(lines) == 10 and "\r" not in err
    assert lines[-1].startswith("step 20/20 (100%)") and "loss_d=" in lines[-1]


def test_progress_on_a_terminal_is_tqdm(monkeypatch):
    """On a terminal: tqdm's bar, redrawn in place, with the losses beside it; closed at the end."""
    import io

    from minigan import train

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    term = Terminal()
    bar = train.Progress(20, 0, stream=term)
    assert type(bar.bar).__module__.startswith("tqdm")
    model, data = make(), batches()
    for step in range(1, 21):
        bar.update(step, model.train_step(data(step - 1)))
    out = term.getvalue()
    assert "\r" in out and "20/20" in out and "loss_d=" in out and "step" in out
    assert bar.bar.disable or bar.bar.n == 20
    assert not train._in_notebook()          # pytest is no Jupyter kernel


class Phased(GAN):
    """A model whose logged keys change between phases (as SeqGAN's pretraining does)."""

    def train_step(self, batch):
        logs = super().train_step(batch)
        return {"loss_d": logs["loss_d"]} if self.step <= 12 else {"loss_g": logs["loss_g"]}


def test_history_of_a_model_whose_logged_keys_change_resumes(tmp_path):
    model = Phased(data_shape=(2,), latent_dim=2, hidden=16, depth=2, seed=7)
    fit(model, batches(), 20, tmp_path, checkpoint_every=5, log_every=5, progress=False)
    again = Phased(data_shape=(2,), latent_dim=2, hidden=16, depth=2, seed=7)
    fit(again, batches(), 30, tmp_path, checkpoint_every=5, log_every=5, resume=True, progress=False)
    text = (tmp_path / "history.json").read_text()
    assert "NaN" not in text                      # strict JSON: a missing value is null
    h = json.loads(text)
    assert h["step"] == [5, 10, 15, 20, 25, 30]
    loss_d, loss_g = (np.array(h[k], dtype=float) for k in ("loss_d", "loss_g"))   # null -> nan
    assert np.isfinite(loss_d[:2]).all() and np.isnan(loss_d[2:]).all()
    assert np.isnan(loss_g[:2]).all() and np.isfinite(loss_g[2:]).all()


def test_the_history_rides_in_the_checkpoint_and_a_resume_logs_as_the_uninterrupted_run(tmp_path):
    """The log is as durable and as exact as the parameters. A run killed between writing its
    checkpoint and its history.json (here: history.json lost) loses no row, since the history
    is stored in the checkpoint; and a run stopped at step 20 and resumed to 30 keeps its
    cadence (log_every 7, from the checkpoint) and drops the row it logged at 20 only because
    it ended there: its history is the uninterrupted run's, row for row and value for value."""
    whole = fit(make(), batches(), 30, tmp_path / "whole", checkpoint_every=10, log_every=7,
                progress=False)
    part = tmp_path / "part"
    first = fit(make(), batches(), 20, part, checkpoint_every=10, log_every=7, progress=False)
    assert first["step"] == [7, 14, 20]
    (part / "history.json").unlink()
    resumed = fit(make(), batches(), 30, part, checkpoint_every=10, resume=True, progress=False)
    assert resumed["step"] == whole["step"] == [7, 14, 21, 28, 30]
    assert set(resumed) == set(whole)
    for k in whole:
        np.testing.assert_array_equal(np.array(resumed[k], float), np.array(whole[k], float))
    assert (json.loads((part / "history.json").read_text())
            == json.loads((tmp_path / "whole" / "history.json").read_text()))
    meta, _ = read_checkpoint(part)
    assert meta["history"]["log_every"] == 7 and meta["history"]["rows"]["step"] == [7, 14, 21, 28, 30]


@pytest.mark.parametrize("history", [
    {"log_every": 0, "rows": {"step": [5]}},
    {"log_every": 5, "rows": [5, 10]},
    {"log_every": 5, "rows": {"step": [5, 10], "loss_d": [0.1]}},
    {"rows": {"step": [5]}},
])
def test_a_malformed_history_in_a_checkpoint_is_a_checkpoint_error(tmp_path, history):
    model = make()
    save_checkpoint(tmp_path / "checkpoint.npz", model, {"history": history})
    with pytest.raises(CheckpointError, match="history"):
        read_checkpoint(tmp_path)


def test_progress_in_jupyter_is_tqdms_widget():
    """In a Jupyter kernel with ipywidgets: tqdm's notebook widget (no text lines in the cell)."""
    pytest.importorskip("ipywidgets")
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from minigan.train import Progress, _in_notebook\n"
        "assert _in_notebook()\n"
        "p = Progress(10)\n"
        "for i in range(1, 11):\n"
        "    p.update(i, {'loss': 0.5})\n"
        "print(type(p.bar).__module__)")]
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    kinds = [o.get("data", {}).keys() for o in outputs if o.output_type == "display_data"]
    assert any("application/vnd.jupyter.widget-view+json" in k for k in kinds), outputs
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "tqdm.notebook" in printed and "step 10/10" not in printed
