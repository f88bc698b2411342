"""Runs you can trust: a new run never destroys or mixes with an earlier one (an occupied --out
is refused unless --overwrite), a lock keeps two runs out of one directory, the temporary files
of a killed run are cleaned up, divergence is caught before anything non-finite is written
(the parameters and optimiser states, not only the losses; bad data named as such), and the
options' values are checked instead of silently replaced."""
import json
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from minigan.cli import main, optimiser_settings
from minigan.presets import PRESETS
from minigan.data import make_loader, ring8
from minigan.gans.gan import GAN
from minigan.gans.seqgan import SeqGAN
from minigan.train import (LOCK, DataNotFinite, RunLocked, TrainingDiverged, fit,
                           read_checkpoint, run_lock)

GAN_RUN = ["train", "gan", "--data", "ring8", "--quiet"]


def make():
    return GAN(data_shape=(2,), latent_dim=2, hidden=16, depth=2, seed=7)


def batches():
    return make_loader(ring8(std=0.05), 32, seed=7).batch_at


def error_line(err):
    """The CLI's error: exactly one line, no traceback."""
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("minigan: error:")]
    assert len(lines) == 1, err
    return lines[0]


def python(code, *args):
    """Run ``code`` in a fresh Python (a process of its own, as a second run would be)."""
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# --- nothing lost: an occupied --out ----------------------------------------------------------
def test_an_occupied_out_is_refused_naming_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*GAN_RUN, "--steps", "4", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    for model in ("gan", "wgan"):                          # the same model, or another
        assert main(["train", model, "--steps", "2", "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        line = error_line(err)
        assert err.strip() == line                         # refused before anything else
        assert f"{out} already holds a run (gan on ring8 at step 4)" in line
        assert f"minigan train --resume {out}" in line and "--out" in line and "--overwrite" in line
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_a_run_without_a_checkpoint_is_refused_without_offering_resume(tmp_path, capsys):
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "step-000100.png").write_bytes(b"\x89PNG")
    (tmp_path / "run.json").write_text(json.dumps({"model": "dcgan"}))
    assert main([*GAN_RUN, "--steps", "2", "--out", str(tmp_path)]) == 2
    line = error_line(capsys.readouterr().err)
    assert "already holds a run (dcgan, no readable checkpoint)" in line
    assert "--resume" not in line and "--overwrite" in line


def test_overwrite_deletes_the_earlier_run_first(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*GAN_RUN, "--steps", "4", "--sample-every", "1", "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine")                 # not the run's: kept
    capsys.readouterr()
    assert main(["train", "wgan", "--steps", "2", "--sample-every", "2", "--overwrite",
                 "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"--overwrite: deleted the earlier run in {out} (gan on ring8 at step 4)" in err
    assert "4 snapshot(s)" in err
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step-000002.png"]   # unmixed
    meta, _ = read_checkpoint(out)
    assert (meta["model"], meta["step"]) == ("wgan", 2)
    assert json.loads((out / "history.json").read_text())["step"][-1] == 2
    assert (out / "notes.txt").read_text() == "mine"


def test_an_empty_directory_or_one_without_a_run_is_fine(tmp_path):
    (tmp_path / "empty").mkdir()
    assert main([*GAN_RUN, "--steps", "2", "--out", str(tmp_path / "empty")]) == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert main([*GAN_RUN, "--steps", "2", "--out", str(tmp_path / "other")]) == 0
    assert read_checkpoint(tmp_path / "other")[0]["step"] == 2


# --- one run per directory: the lock --------------------------------------------------------
def test_the_lock_is_held_during_a_run_and_removed_after_it_even_on_errors(tmp_path):
    lock = tmp_path / LOCK
    seen = []

    def batch_fn(step):
        seen.append(lock.read_text().split())
        return batches()(step)
    fit(make(), batch_fn, 3, tmp_path, progress=False)
    assert seen[0] == [str(os.getpid()), socket.gethostname()] and not lock.exists()

    def interrupted(step):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        fit(make(), interrupted, 5, tmp_path / "ctrl-c", progress=False)
    assert not (tmp_path / "ctrl-c" / LOCK).exists()

    def nan(step):
        return np.full((32, 2), np.nan, np.float32)
    with pytest.raises(TrainingDiverged):
        fit(make(), nan, 5, tmp_path / "nan", progress=False)
    assert not (tmp_path / "nan" / LOCK).exists()


def test_a_live_run_keeps_others_out_and_a_killed_ones_lock_is_taken_over(tmp_path, capsys):
    out = tmp_path / "run"
    holder = python("import sys, time\nfrom minigan.train import run_lock\n"
                    "with run_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)\n",
                    out)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main([*GAN_RUN, "--steps", "2", "--out", str(out)]) == 2
        line = error_line(capsys.readouterr().err)
        assert f"another run (pid {holder.pid} on {socket.gethostname()}) is writing {out}" in line
        assert f"its lock is {out / LOCK}" in line
        assert not (out / "checkpoint.npz").exists()
    finally:
        holder.kill()                           # killed: nothing removes its lock
        holder.wait()
    assert (out / LOCK).read_text().split()[0] == str(holder.pid)
    assert main([*GAN_RUN, "--steps", "2", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"taking over the stale lock {out / LOCK} (its process {holder.pid} is no longer running)" in err
    assert read_checkpoint(out)[0]["step"] == 2 and not (out / LOCK).exists()


def test_a_second_run_in_another_thread_is_refused(tmp_path):
    reached, go = threading.Event(), threading.Event()
    first = []

    def slow(step):
        if step == 2:
            reached.set()
            go.wait(30)
        return batches()(step)
    thread = threading.Thread(target=lambda: first.append(fit(make(), slow, 4, tmp_path, progress=False)))
    thread.start()
    try:
        assert reached.wait(30)
        with pytest.raises(RunLocked, match="another thread of this process"):
            fit(make(), batches(), 4, tmp_path, progress=False)
    finally:
        go.set()
        thread.join(30)
    assert first and read_checkpoint(tmp_path)[0]["step"] == 4 and not (tmp_path / LOCK).exists()


@pytest.mark.parametrize("age, taken", [(0, False), (60, True)])
def test_an_empty_lock_is_taken_over_only_once_it_is_old(tmp_path, age, taken, capsys):
    """An empty lock: a run killed between creating it and writing its pid (stale), or one
    doing that right now (live); its age tells them apart."""
    lock = tmp_path / LOCK
    lock.write_text("")
    os.utime(lock, (time.time() - age,) * 2)
    if taken:
        with run_lock(tmp_path):
            assert lock.read_text().split()[0] == str(os.getpid())
        assert "taking over the stale lock" in capsys.readouterr().err
    else:
        with pytest.raises(RunLocked, match="another run"):
            with run_lock(tmp_path):
                pass
        assert lock.exists()


# --- temporary files orphaned by a kill -----------------------------------------------------
KILLED_WHILE_WRITING = """
import os, sys
from minigan.gans.gan import GAN
from minigan.train import save_checkpoint, write_json
os.replace = lambda *a: os._exit(9)          # killed after the write, before the rename
if sys.argv[2] == "checkpoint":
    save_checkpoint(os.path.join(sys.argv[1], "checkpoint.npz"), GAN(hidden=8))
else:
    write_json(os.path.join(sys.argv[1], "history.json"), {"step": [1]})
"""


def test_temporary_files_of_a_killed_run_are_removed_by_the_next_one(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*GAN_RUN, "--steps", "4", "--sample-every", "0", "--out", str(out)]) == 0
    for what in ("checkpoint", "json"):
        assert python(KILLED_WHILE_WRITING, out, what).wait() == 9
    orphans = sorted(n for n in os.listdir(out) if n.startswith((".checkpoint-", ".tmp-")))
    assert len(orphans) == 2
    (out / ".keep").write_text("")                          # not one of minigan's: kept
    capsys.readouterr()
    assert main(["train", "--resume", str(out / "checkpoint.npz"), "--steps", "6", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"removed 2 temporary file(s) left in {out} by an interrupted run: {', '.join(orphans)}" in err
    assert sorted(n for n in os.listdir(out) if n.startswith(".")) == [".keep"]
    assert read_checkpoint(out)[0]["step"] == 6


# --- divergence: nothing non-finite is written ----------------------------------------------
class Corrupted(GAN):
    """A GAN whose parameter or Adam moment turns infinite at step 20, while the losses of
    that step are still finite (as after one step of a huge learning rate)."""

    def __init__(self, *a, what="G", **k):
        super().__init__(*a, **k)
        self.what = what

    def train_step(self, batch):
        logs = super().train_step(batch)
        if self.step == 20:
            if self.what == "G":
                self.G.named_parameters("")[0][1][...] = np.inf
            else:
                self.opt_d.state["0.weight"]["v"][0] = np.nan
        return logs


@pytest.mark.parametrize("what, tensor", [("G", "G.0.weight is"), ("opt_d", "opt_d.0.weight/v is")])
def test_a_nonfinite_state_is_never_written_and_the_last_good_checkpoint_stays(tmp_path, what, tensor):
    model = Corrupted(data_shape=(2,), latent_dim=2, hidden=16, depth=2, seed=7, what=what)
    with pytest.raises(TrainingDiverged, match=rf"after 20 steps {tensor} not finite.*"
                                               rf"last good checkpoint is .* \(step 10\)"):
        fit(model, batches(), 40, tmp_path, checkpoint_every=10, progress=False)
    meta, state = read_checkpoint(tmp_path)
    assert meta["step"] == 10
    assert all(np.isfinite(v).all() for v in state.values())
    assert json.loads((tmp_path / "history.json").read_text())["step"][-1] <= 10


def test_a_nan_loss_on_nonfinite_data_blames_the_data(tmp_path):
    good = batches()

    def bad_at_7(i):         # batch i of the stream; fit gives step t batches 2t and 2t + 1
        batch = good(i).copy()
        if i == 2 * 7 + 1:   # step 7's second batch
            batch[3, 0] = np.nan
        return batch
    model = GAN(data_shape=(2,), latent_dim=2, hidden=16, depth=2, d_steps=2, seed=7)
    with pytest.raises(DataNotFinite, match=r"at step 7, on a batch that holds NaN or infinite "
                                            r"values \(batch\[1\]\).*last good checkpoint.*step 5") as e:
        fit(model, bad_at_7, 20, tmp_path, checkpoint_every=5, progress=False)
    assert "Check the data" in str(e.value) and "Try a lower learning rate" not in str(e.value)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_a_huge_lr_diverges_cleanly(tmp_path, capsys):
    """lr 1e6: Adam's second moments overflow to inf after two steps while the losses stay
    finite for hundreds; the state check stops the run, and nothing non-finite is written."""
    out = tmp_path / "huge"
    assert main([*GAN_RUN, "--lr", "1e6", "--steps", "300", "--out", str(out)]) == 2
    line = error_line(capsys.readouterr().err)
    assert "training diverged: after 30 steps opt_" in line and "not finite" in line
    assert "no checkpoint was written yet" in line and "Try a lower learning rate" in line
    assert not (out / "checkpoint.npz").exists()

    # a checkpoint every step (10 steps): the one of step 1 is the last good one, and kept
    out = tmp_path / "kept"
    assert main([*GAN_RUN, "--lr", "1e6", "--steps", "10", "--out", str(out)]) == 2
    line = error_line(capsys.readouterr().err)
    assert "after 2 steps" in line and f"the last good checkpoint is {out / 'checkpoint.npz'} (step 1)" in line
    meta, state = read_checkpoint(out)
    assert meta["step"] == 1 and meta["config"]["lr_g"] == meta["config"]["lr_d"] == 1e6
    assert all(np.isfinite(v).all() for v in state.values())


# --- the optimiser's options ----------------------------------------------------------------
def test_lr_and_betas_reach_the_model(tmp_path):
    out = tmp_path / "gan"
    assert main([*GAN_RUN, "--steps", "1", "--lr", "3e-4", "--beta1", "0.7", "--out", str(out)]) == 0
    meta, state = read_checkpoint(out)
    assert meta["config"]["lr_g"] == meta["config"]["lr_d"] == 3e-4
    assert meta["config"]["betas"] == [0.7, 0.999]
    assert state["opt_g.lr"] == state["opt_d.lr"] == 3e-4
    assert json.loads((out / "run.json").read_text())["config"]["betas"] == [0.7, 0.999]
    from minigan.gans import MODELS
    gp = optimiser_settings(MODELS["wgan-gp"], PRESETS["wgan-gp"]["ring8"]["model"], beta2=0.95)
    assert gp["betas"] == (0.5, 0.95)                        # the preset's beta1 kept
    seq = optimiser_settings(SeqGAN, PRESETS["seqgan"]["oracle"]["model"], lr=1e-4)
    assert seq["lr_mle"] == seq["lr_adv"] == seq["lr_d"] == 1e-4
    wgan = optimiser_settings(MODELS["wgan"], PRESETS["wgan"]["ring8"]["model"], lr=1e-4)
    assert wgan["lr_g"] == wgan["lr_d"] == 1e-4 and "betas" not in wgan


# --- the options' values --------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("trained") / "run"
    assert main([*GAN_RUN, "--steps", "2", "--sample-every", "0", "--out", str(run)]) == 0
    return run


@pytest.mark.parametrize("args, message", [
    (["gan", "--steps", "0"], "--steps must be a positive integer, got 0"),
    (["gan", "--steps", "-5"], "--steps must be a positive integer, got -5"),
    (["gan", "--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
    (["gan", "--batch-size", "-1"], "--batch-size must be a positive integer, got -1"),
    (["--resume", "RUN", "--steps", "0"], "--steps must be a positive integer, got 0"),
    (["--resume", "RUN", "--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
    (["gan", "--sample-every", "-1"], "--sample-every must be >= 0"),
    (["gan", "--lr", "0"], "--lr must be a positive number, got 0.0"),
    (["gan", "--lr", "nan"], "--lr must be a positive number, got nan"),
    (["gan", "--beta1", "1"], "--beta1 must be in [0, 1), got 1.0"),
    (["gan", "--beta2", "-0.1"], "--beta2 must be in [0, 1), got -0.1"),
    (["wgan", "--beta1", "0.5"], "--beta1/--beta2: model 'wgan' has no Adam betas to set; they apply to: "
                                 "cdcgan, cgan, dcgan, gan, pix2pix, rcgan, text2image, wgan-gp"),
    (["--resume", "RUN", "--lr", "1e-4"], "--lr with --resume: a resumed run keeps the optimiser settings"),
    (["--resume", "RUN", "--overwrite"], "--overwrite starts a new run in place of an old one"),
])
def test_bad_option_values_name_the_option(tmp_path, capsys, trained_run, args, message):
    run = trained_run
    before = sorted(os.listdir(run))
    args = [str(run) if a == "RUN" else a for a in args]
    out = [] if "--resume" in args else ["--out", str(tmp_path / "new")]
    assert main(["train", *args, *out, "--quiet"]) == 2
    assert message in error_line(capsys.readouterr().err)
    assert not (tmp_path / "new").exists() and sorted(os.listdir(run)) == before


def test_a_full_disk_during_a_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch, capsys):
    """The disk fills up while a checkpoint is written (simulated: the write raises ENOSPC):
    the run stops with a clear message (exit 2, no traceback), the previous checkpoint is
    still there and loads, and no temporary file is left."""
    import errno

    import minigan.train as train_mod
    from minigan.cli import main
    from minigan.train import read_checkpoint

    out = tmp_path / "run"
    assert main(["train", "gan", "--data", "ring8", "--steps", "4", "--out", str(out),
                 "--quiet", "--sample-every", "0"]) == 0
    before = (out / "checkpoint.npz").read_bytes()

    real_savez = train_mod.np.savez

    def full_disk(f, **arrays):
        real_savez(f, **{k: v for k, v in list(arrays.items())[:1]})      # a part is written
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(train_mod.np, "savez", full_disk)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--steps", "8", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "previous checkpoint" in err and "kept" in err
    assert "Traceback" not in err
    assert (out / "checkpoint.npz").read_bytes() == before
    assert read_checkpoint(str(out))[0]["step"] == 4
    assert not [p.name for p in out.iterdir() if p.name.startswith(".checkpoint-")]


@pytest.mark.parametrize("given_out", [True, False])
def test_ctrl_c_says_where_the_run_is_and_how_to_go_on(tmp_path, monkeypatch, capsys, given_out):
    """Ctrl-C during training: no traceback, exit 130, the message says how to resume (also
    for the default --out, runs/MODEL-DATA); the checkpoint written before the interrupt
    loads."""
    import minigan.train as train_mod
    from minigan.cli import main
    from minigan.train import read_checkpoint

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run" if given_out else os.path.join("runs", "gan-ring8")
    real_save = train_mod.save_checkpoint
    calls = []

    def interrupted_after_the_first(*a, **kw):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real_save(*a, **kw)

    monkeypatch.setattr(train_mod, "save_checkpoint", interrupted_after_the_first)
    rc = main(["train", "gan", "--data", "ring8", "--steps", "20", "--quiet", "--sample-every",
               "0"] + (["--out", str(out)] if given_out else []))
    err = capsys.readouterr().err
    assert rc == 130 and "Traceback" not in err
    assert f"minigan train --resume {out}" in err
    assert read_checkpoint(str(out))[0]["step"] == 2
    assert not os.path.exists(os.path.join(out, ".minigan.lock"))


def test_the_printed_metrics_are_strict_json(tmp_path, capsys):
    """What `minigan train` prints is the metrics.json it wrote: strict JSON, a value that is
    not finite (an untrained GAN's reverse KL is infinite: no sample near a mode) is null."""
    import json

    from minigan.cli import main

    out = tmp_path / "run"
    assert main(["train", "gan", "--data", "ring8", "--steps", "1", "--out", str(out), "--quiet",
                 "--sample-every", "0"]) == 0
    printed = capsys.readouterr().out

    def refuse(name):
        raise AssertionError(f"not strict JSON: {name}")

    metrics = json.loads(printed, parse_constant=refuse)
    saved = json.loads((out / "metrics.json").read_text(), parse_constant=refuse)
    assert metrics == saved and metrics["step"] == 1
    assert metrics["reverse_kl"] is None or isinstance(metrics["reverse_kl"], float)


# --- temporary files orphaned by a killed `minigan sample` -------------------------------------
def _dead_pid():
    """The pid of a process that has ended (and been reaped): no process has it now."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def test_sample_removes_the_orphans_of_dead_writers_and_keeps_the_others(trained_run, tmp_path,
                                                                         capsys):
    from minigan import cli
    out = tmp_path / "pictures"
    out.mkdir()
    prefix = cli.sample_temporary_prefix()            # ".minigan-sample-<pid>-<host tag>-"
    tag = prefix.split("-")[-2]
    dead = _dead_pid()
    live = python("import time; time.sleep(60)")
    try:
        orphans = [f".minigan-sample-{dead}-{tag}-abc_12xy.png",
                   f".minigan-sample-{dead}-{tag}-q0w9e8r7.npy"]
        kept = [f".minigan-sample-{live.pid}-{tag}-abc_12xy.png",     # its writer is alive
                f"{prefix}zzzz1234.png",                               # this very process
                f".minigan-sample-{dead}-{cli._host_tag('elsewhere')}-abc_12xy.png",  # another
                f".minigan-sample-{dead}x-{tag}-abc_12xy.png",         # machine; not our name
                ".minigan-sample-k3j4h5g6.png",                        # no writer in the name
                f".checkpoint-{dead}-abc.npz", "notes.txt"]
        for name in orphans + kept:
            (out / name).write_bytes(b"half-written")
        assert main(["sample", str(trained_run), "--n", "4", "--out", str(out / "s.png")]) == 0
        err = capsys.readouterr().err
        assert sorted(os.listdir(out)) == sorted(kept + ["s.png"])
        lines = [ln for ln in err.splitlines() if "temporary file" in ln]
        assert lines == [f"minigan: removed 2 temporary file(s) left in {out} by an interrupted "
                         f"`minigan sample`: {', '.join(sorted(orphans))}"]
        # nothing left to remove: nothing said
        assert main(["sample", str(trained_run), "--n", "4", "--out", str(out / "s.png")]) == 0
        assert "temporary file" not in capsys.readouterr().err
    finally:
        live.kill()
        live.wait()


KILLED_WHILE_SAMPLING = """
import os, sys
os.replace = lambda *a: os._exit(9)          # killed after the write, before the rename
from minigan.cli import main
main(["sample", sys.argv[1], "--n", "8", "--out", sys.argv[2]])
"""


@pytest.mark.parametrize("ext", [".png", ".npy"])
def test_the_file_a_killed_sample_leaves_is_removed_by_the_next_one(trained_run, tmp_path, capsys,
                                                                    ext):
    out = tmp_path / f"samples{ext}"
    killed = python(KILLED_WHILE_SAMPLING, trained_run, out)
    assert killed.wait(120) == 9, killed.stderr.read()
    left = [n for n in os.listdir(tmp_path)]
    assert len(left) == 1 and left[0].startswith(f".minigan-sample-{killed.pid}-")
    assert left[0].endswith(ext) and not out.exists()
    assert main(["sample", str(trained_run), "--n", "8", "--out", str(out)]) == 0
    assert f"removed 1 temporary file(s) left in {tmp_path}" in capsys.readouterr().err
    assert os.listdir(tmp_path) == [out.name]


# --- a checkpoint's config cannot ask for any allocation ------------------------------------------
def craft(run, directory, **config):
    """A copy of the checkpoint of ``run`` in ``directory`` (created) with ``config`` changed:
    its arrays and its other metadata (the run's settings) as they were."""
    from minigan.train import CHECKPOINT
    meta, state = read_checkpoint(run)
    meta = dict(meta, config=dict(meta["config"], **config))
    os.makedirs(directory, exist_ok=True)
    np.savez(os.path.join(directory, CHECKPOINT), __meta__=np.asarray(json.dumps(meta)), **state)
    return str(directory)


SIZE = r"[\d.]+ (bytes|KiB|MiB|GiB|TiB|PiB|EiB)"


@pytest.mark.parametrize("config, entry, says", [
    # above the bound on any size: refused before anything is built
    (dict(hidden=10**9), "hidden = 1000000000", r"hidden = 1000000000 is above 16777216 \(2\*\*24\), "
     r"the largest size minigan builds from a checkpoint \(a size that large asks for at least "
     r"3\.73 GiB"),
    # sizes each below it, whose product is not: the layer that would be too large is refused
    (dict(data_shape=[1, 10**6, 10**6]), "data_shape = [1, 1000000, 1000000]",
     r"came to Linear\(128, 1000000000000\), which would take 939 TiB more"),
    (dict(hidden=10**5), "hidden = 100000", r"came to Linear\(100000, 100000\), which would take "
                                            r"74\.5 GiB more"),
    # sizes whose product has hundreds of digits: still one clear line
    (dict(data_shape=[1] + [2**24] * 30), "data_shape = [1, 16777216, 16777216",
     r"came to Linear\(128, \d{100}\d*\.\.\.\), which would take [\d.]+e\+\d+ EiB more"),
    (dict(data_shape=[1] + [2**24] * 60), "data_shape = [1, 16777216, 16777216",
     r"came to Linear\(128, \d{100}\d*\.\.\.\), which would take inf EiB more"),
    # very many small layers: stopped once they pass what the checkpoint holds
    (dict(depth=10**7), "depth = 10000000", r"came to Linear\(128, 128\), which would take " + SIZE),
    (dict(minibatch_kernels=10**6, minibatch_dim=10**3), "minibatch_kernels = 1000000",
     r"came to MinibatchDiscrimination\(128, n_kernels=1000000, kernel_dim=1000\)"),
])
@pytest.mark.parametrize("command", ["sample", "resume"])
def test_a_crafted_config_is_refused_naming_the_entry_and_the_memory(trained_run, tmp_path,
                                                                      capsys, config, entry,
                                                                      says, command):
    import re
    run = craft(trained_run, tmp_path / "crafted", **config)
    before = sorted(os.listdir(run))
    argv = (["sample", run, "--out", str(tmp_path / "s.png")] if command == "sample" else
            ["train", "--resume", run, "--steps", "4", "--quiet"])
    assert main(argv) == 2
    err = capsys.readouterr().err
    line = error_line(err)
    assert err.strip() == line                                   # one line, nothing else
    assert f"checkpoint {run}" in line and entry in line, line
    assert re.search(says, line), line
    if "2\\*\\*24" not in says:
        assert re.search(rf"past the {SIZE} that the \d+ values of its arrays allow", line), line
        assert "refused before allocating it" in line
    assert sorted(os.listdir(run)) == before and not (tmp_path / "s.png").exists()


def test_a_vocabulary_of_ten_billion_is_refused_before_anything_is_built(tmp_path, capsys):
    from minigan.gans.seqgan import SeqGAN
    from minigan.train import save_checkpoint
    small = SeqGAN(vocab_size=20, seq_len=5, embed_dim=4, hidden=4, d_embed_dim=4, d_hidden=4)
    save_checkpoint(tmp_path / "seq" / "checkpoint.npz", small)
    run = craft(tmp_path / "seq", tmp_path / "crafted", vocab_size=10**10)
    assert main(["sample", run, "--out", str(tmp_path / "s.npy")]) == 2
    line = error_line(capsys.readouterr().err)
    assert (f"checkpoint {run}: its config's vocab_size = 10000000000 is above 16777216") in line
    assert "at least 37.3 GiB" in line and "nothing was built from it" in line
    run = craft(tmp_path / "seq", tmp_path / "shape", d_windows=[[1, 4], [2, 10**8]])
    assert main(["sample", run, "--out", str(tmp_path / "s.npy")]) == 2
    line = error_line(capsys.readouterr().err)
    assert "its config's d_windows = [[1, 4], [2, 100000000]] holds 100000000, above " in line


def test_a_model_too_large_for_this_machine_is_refused_naming_its_memory(trained_run, tmp_path,
                                                                          capsys, monkeypatch):
    """A checkpoint whose arrays do hold its model: the bound is then the machine's memory."""
    import minigan.train as train_mod
    from minigan.train import CheckpointError, load_model
    load_model(trained_run)                                        # fits this machine
    monkeypatch.setattr(train_mod, "memory_limit", lambda: 600 * 2**10)   # a 1.2 MiB machine
    assert main(["sample", str(trained_run), "--out", str(tmp_path / "s.png")]) == 2
    line = error_line(capsys.readouterr().err)
    assert f"checkpoint {trained_run}: its config asks for networks larger than this machine can " \
           "hold: building them came to Linear(128, 128)" in line
    assert "past the 200 KiB they may take (a third of the 600 KiB allowed, half of this " \
           "machine's memory); refused before allocating it" in line
    from minigan.train import save_checkpoint
    save_checkpoint(tmp_path / "wide" / "checkpoint.npz", GAN(hidden=512, depth=2))
    load_model(tmp_path / "wide", max_bytes=2**24)                   # fits a 32 MiB machine
    with pytest.raises(CheckpointError, match=r"wide: its config \(hidden = 512\) asks for "
                                              r"networks larger than this machine can hold: "
                                              r"building them came to Linear\(512, 512\)"):
        load_model(tmp_path / "wide", max_bytes=2**22)               # not a 8 MiB one


def test_every_model_and_switch_fits_what_its_checkpoint_allows(tmp_path):
    """The allocation budget of load_model never refuses a checkpoint that minigan wrote: every
    model of the CLI, with each of its switches, each preset, in float32 and float64."""
    from test_every_step import CASES

    from minigan.gans import MODELS, get_model_class
    from minigan.nn.module import allocation_budget
    from minigan.train import checkpoint_allowance, load_model, save_checkpoint
    todo = [(name, get_model_class(cls), kw) for name, (cls, kw, _) in CASES.items()]
    todo += [(f"{m}/{data}", MODELS[m], p["model"]) for m in MODELS
             for data, p in PRESETS.get(m, {}).items()]
    todo += [(f"{name} float64", cls, dict(kw, dtype="float64")) for name, cls, kw in todo[:16]]
    for name, cls, kw in todo:
        path = tmp_path / "checkpoint.npz"
        save_checkpoint(path, cls(**kw))
        meta, state = read_checkpoint(path)
        with allocation_budget(2**40) as spent:
            cls(**meta["config"])
        assert 0 < spent.spent <= checkpoint_allowance(state), name
        model, _ = load_model(path)
        assert model.config == meta["config"], name


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_an_out_that_cannot_be_created_is_a_clear_error(tmp_path, capsys, where):
    if where == "proc":
        if not os.path.isdir("/proc/self"):
            pytest.skip("no /proc here")
        out = "/proc/minigan-run"          # /proc exists, but nothing can be created in it
    else:
        (tmp_path / "file").write_text("not a directory")
        out = str(tmp_path / "file" / "run")
    assert main(["train", "gan", "--steps", "2", "--out", out, "--quiet"]) == 2
    line = error_line(capsys.readouterr().err)
    assert f"cannot create the run directory {out}" in line and "another --out" in line
