"""`minigan train text2image --data shapes` and `minigan sample RUN --text ... | --text-file F`:
a short run writes its checkpoint, metrics (retrieval, the judge's attribute accuracy, R-precision,
diversity, FID) and pictures; sampling draws captions to a .png grid and a raw .npy array; bad
captions, files and options are one-line errors. The judge is a small one (trained once for this
module) in place of the default, which takes half a minute to train."""
import json

import numpy as np
import pytest

import minigan.evaluation.text2image as E
from minigan.cli import main
from minigan.evaluation.attributes import train_judge


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("text2image")
    judge = train_judge(seed=0, n=256, steps=20, check=0)
    mp = pytest.MonkeyPatch()
    mp.setattr(E, "shapes_judge", lambda *a, **k: judge)
    out = root / "run"
    assert main(["train", "text2image", "--data", "shapes", "--steps", "6", "--batch-size", "8",
                 "--out", str(out), "--quiet", "--sample-every", "0"]) == 0
    yield out
    mp.undo()


def error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minigan: error:"), err
    return err[0]


def test_train_writes_the_run_and_its_measures(run):
    for name in ("checkpoint.npz", "metrics.json", "history.json", "samples.png", "losses.png"):
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("retrieval_caption_to_image", "seen_all", "heldout_all", "seen_shape",
                "seen_r_precision", "real_seen_r_precision", "diversity", "real_diversity",
                "fid"):
        assert key in metrics, (key, sorted(metrics))
    assert metrics["step"] == 6
    config = json.loads((run / "run.json").read_text())["config"]
    # --steps 6 instead of the preset's: the encoders keep their share, the GAN gets the rest
    assert 1 <= config["encoder_steps"] < 6 and config["vocab"][0] == "<pad>"


def test_sample_a_caption_to_png_and_npy(run, tmp_path, capsys):
    png = tmp_path / "a.png"
    assert main(["sample", str(run), "--text", "a small red circle in the top left",
                 "--out", str(png)]) == 0
    assert "drew 8 pictures of each of 1 caption" in capsys.readouterr().out
    assert png.stat().st_size > 0
    caps = tmp_path / "caps.txt"
    caps.write_text("a big blue box at the bottom right\n\ntop left : a little red disc\n")
    npy = tmp_path / "a.npy"
    assert main(["sample", str(run), "--text-file", str(caps), "--n", "3", "--out",
                 str(npy)]) == 0
    a = np.load(npy)
    assert a.shape == (6, 3, 16, 16) and a.dtype == np.float32 and np.abs(a).max() <= 1
    # caption after caption, each the same as drawing that caption alone (the same noise;
    # a batch of another size may round the products differently in the last bits)
    one = tmp_path / "one.npy"
    assert main(["sample", str(run), "--text", "a big blue box at the bottom right", "--n", "3",
                 "--out", str(one)]) == 0
    np.testing.assert_allclose(np.load(one), a[:3], rtol=1e-5, atol=1e-6)


def test_sample_defaults_to_test_captions(run, tmp_path, capsys):
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "d.npy")]) == 0
    assert np.load(tmp_path / "d.npy").shape == (16, 3, 16, 16)        # 8 captions x 2


@pytest.mark.parametrize("argv, expected", [
    (["--text", "a small purple circle"], r"unknown word\(s\) \['purple'\].*known words are"),
    (["--text", "a " * 20], "more than max_len=12"),
    (["--text", "a red circle", "--text-file", "x.txt"], "give one of them"),
    (["--text-file", "no-such-file.txt"], "cannot read it"),
    (["--label", "3"], "draws pictures of captions"),
    (["--n", "0"], "positive integer"),
    (["--text", "a red circle", "--n", "5000"], "too many for a picture.*--out FILE.npy"),
    (["--text", ""], "has no words"),
])
def test_bad_sampling_requests_are_one_line_errors(run, tmp_path, capsys, argv, expected):
    out = tmp_path / "x.png"
    assert main(["sample", str(run), *argv, "--out", str(out)]) == 2
    import re
    assert re.search(expected, error_line(capsys)), argv
    assert not out.exists()


def test_many_pictures_of_a_caption_wrap_and_too_many_captions_are_refused(run, tmp_path,
                                                                            capsys):
    import matplotlib.image
    png = tmp_path / "wide.png"
    assert main(["sample", str(run), "--text", "a red circle", "--n", "40", "--out",
                 str(png)]) == 0
    h, w = matplotlib.image.imread(png).shape[:2]
    assert w < 1200 and h > 200                      # 16 to a line: three lines, not one
    capsys.readouterr()
    many = tmp_path / "many.txt"
    many.write_text("a red circle\n" * 65)
    assert main(["sample", str(run), "--text-file", str(many), "--n", "1", "--out",
                 str(tmp_path / "m.png")]) == 2
    assert "65 caption(s) are too many for a picture" in error_line(capsys)
    assert main(["sample", str(run), "--text-file", str(many), "--n", "1", "--out",
                 str(tmp_path / "m.npy")]) == 0


def test_empty_caption_file_and_text_for_other_models(run, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    assert main(["sample", str(run), "--text-file", str(empty), "--out",
                 str(tmp_path / "x.png")]) == 2
    assert "no captions in it" in error_line(capsys)
    other = tmp_path / "gan"
    assert main(["train", "gan", "--steps", "2", "--out", str(other), "--quiet",
                 "--sample-every", "0"]) == 0
    capsys.readouterr()
    assert main(["sample", str(other), "--text", "a red circle", "--out",
                 str(tmp_path / "y.png")]) == 2
    assert "takes no caption" in error_line(capsys)


def test_a_run_still_in_its_encoder_phase_cannot_sample(tmp_path, capsys):
    out = tmp_path / "enc"
    assert main(["train", "text2image", "--steps", "1", "--batch-size", "8", "--out", str(out),
                 "--quiet", "--sample-every", "0"]) == 0
    capsys.readouterr()
    assert main(["sample", str(out), "--out", str(tmp_path / "x.png")]) == 2
    assert "still training its encoders" in error_line(capsys)
