"""Runs you can trust, continued: --resume refuses the options that conflict with the run's own
settings (and a checkpoint that records no dataset is not assumed to be on any), a resumed
SeqGAN says exactly what resuming does to its phases, `minigan sample` reports the file it
wrote and samples class-conditional models by class, writes the raw samples as .npy, draws them
in chunks with bounded memory, and sizes are checked up front."""
import collections
import json
import os
import sys
import tracemalloc

import numpy as np
import pytest
from matplotlib.image import imread

from minigan import cli, tasks
from minigan.cli import main, resume_phase_note
from minigan.presets import PRESETS
from minigan.gans import get_model_class
from minigan.gans.gan import GAN
from minigan.tasks import SAMPLE_VALUES, chunk_seed, make_task
from minigan.train import fit, load_model, read_checkpoint, save_checkpoint

GAN_RUN = ["train", "gan", "--data", "ring8", "--quiet", "--sample-every", "0"]


def error_line(err):
    """The CLI's error: exactly one line, no traceback."""
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("minigan: error:")]
    assert len(lines) == 1, err
    return lines[0]


def refused(argv, capsys):
    """Run ``argv``; it must exit 2 with one error line, which is returned."""
    assert main(argv) == 2
    return error_line(capsys.readouterr().err)


def _same_state(sa, sb):
    assert set(sa) == set(sb)
    for k in sa:
        assert np.array_equal(sa[k], sb[k]), k


def checkpoint_run(path, model_name, data):
    """A run directory holding an untrained ``model_name`` with its preset for ``data`` (and
    the "run" metadata `minigan train` writes): something to sample from, in no time."""
    model = get_model_class(model_name)(**PRESETS[model_name][data]["model"], seed=0)
    save_checkpoint(str(path / "checkpoint.npz"), model,
                    {"run": {"data": data, "seed": 0, "batch_size": 8, "steps": 1}})
    return str(path), model


# --- 1. --resume with options that conflict with the run's own ---------------------------------
@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("resume") / "run"
    assert main([*GAN_RUN, "--steps", "2", "--seed", "3", "--batch-size", "16",
                 "--out", str(run)]) == 0
    return run


@pytest.mark.parametrize("given, message", [
    (["dcgan"], "model dcgan with --resume: the run in RUN is a gan run"),
    (["--data", "grid25"], "--data grid25 with --resume: the run in RUN was trained with --data ring8"),
    (["--seed", "4"], "--seed 4 with --resume: the run in RUN was trained with --seed 3"),
    (["--seed", "0"], "--seed 0 with --resume: the run in RUN was trained with --seed 3"),
    (["--batch-size", "32"],
     "--batch-size 32 with --resume: the run in RUN was trained with --batch-size 16"),
    (["--out", "OTHER"], "--out OTHER with --resume: a resumed run continues in its own directory, RUN"),
    (["--steps", "1"], "--steps 1 with --resume: the run in RUN is already at step 2"),
])
def test_resume_refuses_options_that_differ_from_the_runs_own(gan_run, tmp_path, capsys,
                                                               given, message):
    before = {p: os.path.getmtime(gan_run / p) for p in os.listdir(gan_run)}
    other = str(tmp_path / "other")
    given = [other if a == "OTHER" else a for a in given]
    model = given[:1] if not given[0].startswith("--") else []
    line = refused(["train", *model, "--resume", str(gan_run), *given[len(model):], "--quiet"], capsys)
    assert message.replace("RUN", str(gan_run)).replace("OTHER", other) in line
    assert {p: os.path.getmtime(gan_run / p) for p in os.listdir(gan_run)} == before
    assert not os.path.exists(other)


def test_resume_accepts_options_equal_to_the_runs_own(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    same = ["--seed", "3", "--batch-size", "16"]
    assert main([*GAN_RUN, "--steps", "4", *same, "--out", str(a)]) == 0
    assert main([*GAN_RUN, "--steps", "2", *same, "--out", str(b)]) == 0
    # every option equal to the run's (the model, --data, --seed, --batch-size, --out spelled
    # another way), and --resume given the checkpoint file itself
    assert main(["train", "gan", "--resume", str(b / "checkpoint.npz"), "--data", "ring8", *same,
                 "--out", str(b) + os.sep, "--steps", "4", "--quiet", "--sample-every", "0"]) == 0
    _same_state(read_checkpoint(a)[1], read_checkpoint(b)[1])


def _api_run(out, steps):
    """A run of the Python API: fit() on make_task's batches; its checkpoint records no run."""
    model = GAN(data_shape=(2,), latent_dim=2, hidden=16, depth=2, seed=7)
    fit(model, make_task("ring8", batch_size=32, seed=7).batch, steps, str(out), progress=False)
    return model


def test_an_api_checkpoint_is_not_assumed_to_be_on_ring8(tmp_path, capsys):
    out = tmp_path / "api"
    _api_run(out, 3)
    assert "run" not in read_checkpoint(out)[0]
    line = refused(["train", "--resume", str(out), "--steps", "6", "--quiet"], capsys)
    assert "does not record the dataset it was trained on" in line
    assert "give it with --data, one of: ring8, grid25, digits" in line
    # --data that does not fit the model's shape: named, with the datasets that do
    line = refused(["train", "--resume", str(out), "--data", "digits", "--quiet"], capsys)
    assert "--data digits: the checkpoint's gan has data_shape [2], dataset digits has [1, 8, 8]" in line
    assert "it fits: ring8, grid25" in line
    assert read_checkpoint(out)[0]["step"] == 3                     # untouched

    # with --data (and the seed and batch size of its batches): the uninterrupted run exactly,
    # said on stderr, and recorded from then on
    assert main(["train", "--resume", str(out), "--data", "ring8", "--seed", "7",
                 "--batch-size", "32", "--steps", "6", "--quiet", "--sample-every", "0"]) == 0
    err = capsys.readouterr().err
    assert "records no run settings" in err and "continuing it on ring8 with seed 7 and batch size 32" in err
    reference = _api_run(tmp_path / "whole", 6)
    meta, state = read_checkpoint(out)
    _same_state(state, reference.state_dict())
    assert meta["run"] == {"data": "ring8", "seed": 7, "batch_size": 32, "steps": 6}


# --- 2. SeqGAN resumed with more steps: exactly what it does, said ---------------------------
def test_seqgan_resumed_to_more_steps_says_the_first_plan_is_kept(tmp_path, capsys):
    out = tmp_path / "seq"
    assert main(["train", "seqgan", "--data", "grammar", "--steps", "4", "--batch-size", "8",
                 "--out", str(out), "--quiet", "--sample-every", "0"]) == 0
    config = read_checkpoint(out)[0]["config"]
    assert (config["pretrain_g_steps"], config["pretrain_d_steps"]) == (1, 2)    # planned for 4
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--steps", "8", "--quiet", "--sample-every", "0"]) == 0
    err = capsys.readouterr().err
    assert ("resuming keeps the phase plan the run started with (1 MLE steps, then 2 "
            "D-pretraining steps): every later step is adversarial, so this run to 8 steps is not "
            "an uninterrupted run of 8 steps, which would plan 3 MLE and 4 D-pretraining steps "
            "(for that, train anew with --steps 8)") in err
    assert "seqgan phases: 1 MLE steps, 2 D-pretraining steps, 5 adversarial steps" in err
    history = json.loads((out / "history.json").read_text())
    assert history["phase"] == [0.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    # a plan that is the uninterrupted run's (an interrupted run resumed to its own steps): silent
    model, _ = load_model(out)
    assert resume_phase_note(model, "grammar", 4) is None
    assert resume_phase_note(GAN(), "ring8", 10) is None


# --- 3. sample --out: the file written, reported; missing and unwritable places ----------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Untrained checkpoints of each kind of sample: images (dcgan, cgan, cdcgan), points (gan
    on ring8), token ids (seqgan on grammar), sequences (rcgan on sines)."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, data in (("dcgan", "digits"), ("cgan", "digits"), ("cdcgan", "digits"),
                       ("gan", "ring8"), ("seqgan", "grammar"), ("rcgan", "sines")):
        (root / name).mkdir()
        out[name] = checkpoint_run(root / name, name, data)
    return out


def sample(capsys, run, *args):
    """`minigan sample RUN ARGS`; it must succeed. Returns what it printed."""
    assert main(["sample", run, *args]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_sample_reports_the_file_it_wrote(runs, tmp_path, capsys, monkeypatch):
    run, _ = runs["dcgan"]
    x = tmp_path / "x"
    assert f"to {x}.png" in sample(capsys, run, "--n", "4", "--out", str(x))
    assert (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG" and not x.exists()
    folder = tmp_path / "folder"
    folder.mkdir()
    assert f"to {folder / 'samples.png'}" in sample(capsys, run, "--n", "4", "--out", str(folder))
    assert (folder / "samples.png").exists()
    # a missing directory is created (as train creates its --out)
    deep = tmp_path / "new" / "deeper" / "g.png"
    assert f"to {deep}" in sample(capsys, run, "--n", "4", "--out", str(deep))
    assert deep.exists()
    assert sorted(os.listdir(deep.parent)) == ["g.png"]      # no temporary file left
    monkeypatch.chdir(tmp_path)                               # a bare name, in the cwd
    assert "to bare.png" in sample(capsys, run, "--n", "4", "--out", "bare")
    assert (tmp_path / "bare.png").exists()


def test_sample_out_that_cannot_be_written_is_a_clear_error(runs, tmp_path, capsys):
    run, _ = runs["dcgan"]
    (tmp_path / "file").write_text("not a directory")
    line = refused(["sample", run, "--out", str(tmp_path / "file" / "g.png")], capsys)
    assert f"{tmp_path / 'file'} is a file, not a directory" in line
    line = refused(["sample", run, "--out", str(tmp_path / "g.jpg")], capsys)
    assert "writes a picture (.png) or the samples as an array (.npy), not .jpg" in line
    # the run's own files are not replaced (its directory as --out: DIR/samples.png)
    for out in (run, os.path.join(run, "losses.png")):
        line = refused(["sample", run, "--out", out], capsys)
        assert f"is a file of the run in {run}; sampling does not replace it" in line
    assert sorted(os.listdir(run)) == ["checkpoint.npz"]
    if sys.platform.startswith("linux"):           # /proc takes no new files, even from root
        line = refused(["sample", run, "--out", "/proc/minigan-samples.png"], capsys)
        assert "--out /proc/minigan-samples.png: cannot write in /proc" in line
    assert sorted(os.listdir(tmp_path)) == ["file"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root writes into read-only directories")
def test_sample_into_a_read_only_directory_is_a_clear_error(runs, tmp_path, capsys):
    run, _ = runs["dcgan"]
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        line = refused(["sample", run, "--out", str(locked / "g.png")], capsys)
        assert f"cannot write in {locked}" in line
    finally:
        locked.chmod(0o755)


# --- 4. conditional models from the command line; .npy -----------------------------------------
@pytest.mark.parametrize("name", ["cgan", "cdcgan"])
def test_label_k_gives_every_sample_of_class_k(runs, tmp_path, capsys, name):
    run, model = runs[name]
    out = tmp_path / "three.npy"
    assert "of class 3" in sample(capsys, run, "--label", "3", "--n", "6", "--out", str(out))
    x = np.load(out)
    assert np.array_equal(x, model.sample(6, labels=np.full(6, 3), seed=0))
    assert not np.allclose(x, model.sample(6, labels=np.full(6, 4), seed=0))
    png = tmp_path / "three.png"
    sample(capsys, run, "--label", "3", "--n", "6", "--out", str(png))
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_label_all_gives_a_row_per_class(runs, tmp_path, capsys):
    run, model = runs["cgan"]
    out = tmp_path / "all.npy"
    said = sample(capsys, run, "--label", "all", "--n", "25", "--out", str(out))
    assert "wrote 30 samples" in said and "3 of each of its 10 classes (a row per class)" in said
    x = np.load(out)                                   # 25 rounded up: 3 of each, class 0's first
    assert np.array_equal(x, model.sample(30, labels=np.repeat(np.arange(10), 3), seed=0))
    png = tmp_path / "all.png"
    sample(capsys, run, "--label", "all", "--n", "25", "--out", str(png))
    # save_image_grid: 8x8 cells, 1 pixel of padding, each pixel 4x4: 10 rows of 3
    assert imread(png).shape[:2] == (4 * (10 * 9 + 1), 4 * (3 * 9 + 1))


@pytest.mark.parametrize("name, label, message", [
    ("cgan", "10", "--label 10: model 'cgan' has classes 0 to 9 (or give --label all)"),
    ("cdcgan", "-1", "--label -1: model 'cdcgan' has classes 0 to 9"),
    ("cgan", "seven", "--label must be a class number or 'all', got 'seven'"),
    ("dcgan", "3", ("--label: model 'dcgan' is not class-conditional, it takes no label; "
                    "--label applies to: cdcgan, cgan")),
    ("rcgan", "all", "--label: model 'rcgan' is not class-conditional"),
    ("gan", "0", "--label: model 'gan' is not class-conditional"),
])
def test_a_label_the_model_cannot_take_is_a_clear_error(runs, tmp_path, capsys, name, label, message):
    run, _ = runs[name]
    for out in ("s.png", "s.npy"):
        assert message in refused(["sample", run, "--label", label, "--out", str(tmp_path / out)], capsys)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name, shape, dtype", [
    ("dcgan", (5, 1, 8, 8), np.float32), ("gan", (5, 2), np.float32),
    ("seqgan", (5, 16), np.int64), ("rcgan", (5, 30, 1), None),
])
def test_npy_writes_the_raw_samples_in_the_datas_shape_and_range(runs, tmp_path, capsys,
                                                                 name, shape, dtype):
    run, model = runs[name]
    out = tmp_path / "s.npy"
    said = sample(capsys, run, "--n", "5", "--seed", "2", "--out", str(out))
    x = np.load(out)
    assert x.shape == shape and f"to {out}: an array {shape} of {x.dtype}" in said
    assert dtype is None or x.dtype == dtype
    assert np.array_equal(x, model.sample(5, seed=2))           # the model's samples, as given
    if name == "dcgan":
        assert -1 <= x.min() and x.max() <= 1                    # the digits' range (tanh)
    if name == "seqgan":
        assert 0 <= x.min() and x.max() < model.config["vocab_size"]


# --- 5. bounded memory, sizes checked up front --------------------------------------------------
def test_samples_are_drawn_in_chunks(runs, tmp_path, capsys, monkeypatch):
    run, model = runs["cgan"]
    monkeypatch.setattr(tasks, "SAMPLE_CHUNK", 7)
    asked = []
    original = type(model).sample

    def spy(self, n, *args, **kwargs):
        asked.append(n)
        return original(self, n, *args, **kwargs)

    monkeypatch.setattr(type(model), "sample", spy)
    out = tmp_path / "s.npy"
    sample(capsys, run, "--n", "20", "--label", "5", "--out", str(out))
    assert max(asked) <= 7 and sum(asked) == 1 + 20            # one to learn the sample's shape
    x = np.load(out)
    monkeypatch.undo()
    labels = np.full(7, 5)
    expected = [model.sample(7, labels=labels, seed=chunk_seed(0, 0)),
                model.sample(7, labels=labels, seed=chunk_seed(0, 1)),
                model.sample(6, labels=labels[:6], seed=chunk_seed(0, 2))]
    assert np.array_equal(x, np.concatenate(expected))
    assert chunk_seed(0, 0) == 0 and len({chunk_seed(s, i) for s in range(3) for i in range(3)}) == 9
    # up to a chunk: exactly model.sample(n, seed), as before sampling was chunked
    sample(capsys, run, "--n", "7", "--label", "5", "--out", str(out))
    assert np.array_equal(np.load(out), expected[0])


def test_sampling_memory_stays_one_chunks(runs, tmp_path):
    _, model = runs["dcgan"]
    model.sample(tasks.SAMPLE_CHUNK, seed=0)                    # warm up (caches, kernels)
    tracemalloc.start()
    model.sample(tasks.SAMPLE_CHUNK, seed=0)
    one_chunk = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    n = 64 * tasks.SAMPLE_CHUNK                  # 16 MB of samples; at once, 64 chunks' memory
    tracemalloc.start()
    tasks.write_samples_npy(model, str(tmp_path / "s.npy"), n, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1.5 * one_chunk + 2**20 < n * 256         # less than the samples themselves
    assert np.load(tmp_path / "s.npy", mmap_mode="r").shape == (n, 1, 8, 8)


def test_too_many_samples_are_refused_up_front(runs, tmp_path, capsys, monkeypatch):
    run, _ = runs["dcgan"]
    line = refused(["sample", run, "--n", "1000000", "--out", str(tmp_path / "big.png")], capsys)
    assert ("1000000 samples are too many for a picture (at most 4096 for dcgan); write them as "
            "an array instead: --out FILE.npy") in line
    line = refused(["sample", run, "--n", str(10**12), "--out", str(tmp_path / "big.npy")], capsys)
    assert (f"--n {10**12}: {10**12} samples of shape (1, 8, 8) (float32, 256 bytes each) take "
            "233 TiB, more than the 4 GiB that minigan sample writes at once; ask for at most "
            "16777216") in line
    line = refused(["sample", runs["seqgan"][0], "--n", "2000", "--out", str(tmp_path / "t.png")], capsys)
    assert "at most 1000 for seqgan" in line
    # more than the disk holds
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(cli.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 10_000, 10_000))
    line = refused(["sample", run, "--n", "1000", "--out", str(tmp_path / "d" / "s.npy")], capsys)
    assert "take 250 KiB, more than the 9.77 KiB free on the disk of" in line
    assert os.listdir(tmp_path) == []                           # nothing made, not even d/


def test_a_huge_batch_size_is_refused_up_front(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    line = refused(["train", "gan", "--data", "ring8", "--batch-size", str(10**9),
                    "--out", str(out), "--quiet"], capsys)
    assert f"--batch-size {10**9} on ring8 would take about" in line
    assert "(the default is 512)" in line and not out.exists()
    monkeypatch.setattr(cli, "memory_limit", lambda: 64 * 2**20)          # a 64 MiB machine
    line = refused(["train", "dcgan", "--batch-size", "256", "--out", str(out), "--quiet"], capsys)
    assert ("--batch-size 256 on digits would take about 125 MiB of memory to train (a rough "
            "estimate), more than the 64 MiB allowed (half of this machine's); give at most 131 "
            "(the default is 64)") in line


def test_the_sample_sizes_are_those_of_the_batches():
    for data, values in SAMPLE_VALUES.items():
        batch = make_task(data, batch_size=2, seed=0).batch(0)
        parts = batch if isinstance(batch, tuple) else (batch,)   # scenes: (inputs, targets)
        assert sum(part[0].size for part in parts) == values, data
    assert cli.memory_limit() > 2**20


# --- 6. --seed -1 ------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [["train", "gan", "--seed", "-1", "--out", "OUT"],
                                  ["sample", "RUN", "--seed", "-1", "--out", "OUT"]])
def test_a_negative_seed_names_seed(runs, tmp_path, capsys, argv):
    out = tmp_path / "out"
    argv = [runs["gan"][0] if a == "RUN" else str(out) if a == "OUT" else a for a in argv]
    assert "--seed must be a non-negative integer, got -1" in refused(argv, capsys)
    assert not out.exists()
