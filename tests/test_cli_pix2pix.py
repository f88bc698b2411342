"""`minigan train pix2pix` and `minigan sample RUN --input FILE`: a short run on the street
scenes writes its checkpoint, metrics (the translation report, beside the conditional
median's) and pictures; sample translates the test set, a .npy of class ids, a .npy of one-hot
inputs and a .png label map, writes .npy arrays and input | output | target pictures; and bad
inputs are clear one-line errors. The segmenter of the FCN-score is a tiny one (trained once
for this module) in place of the default, which takes a minute or two to train."""
import json

import numpy as np
import pytest

import minigan.evaluation.translation as T
from minigan.cli import main
from minigan.data.scenes import PALETTE, colorize, load_scenes

TINY = {"n_train": 200, "epochs": 1}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pix2pix")
    seg = T.scenes_segmenter(0, root=root / "cache", config=TINY)
    mp = pytest.MonkeyPatch()
    mp.setattr(T, "scenes_segmenter", lambda *a, **k: seg)
    out = root / "run"
    assert main(["train", "pix2pix", "--steps", "4", "--batch-size", "4", "--out", str(out),
                 "--quiet", "--sample-every", "0"]) == 0
    yield out
    mp.undo()


def error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minigan: error:"), err
    return err[0]


def test_train_writes_the_run_and_its_report(run):
    for name in ("checkpoint.npz", "metrics.json", "history.json", "samples.png", "losses.png"):
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("l1", "psnr", "ssim", "fcn_pixel_accuracy", "median_l1", "median_fcn_pixel_accuracy"):
        assert key in metrics, (key, sorted(metrics))
    assert metrics["step"] == 4
    run_json = json.loads((run / "run.json").read_text())
    assert run_json["data"] == "scenes" and run_json["config"]["objective"] == "l1+cgan"


def test_sample_translates_the_test_set(run, tmp_path, capsys):
    out = tmp_path / "t.npy"
    assert main(["sample", str(run), "--n", "5", "--out", str(out)]) == 0
    a = np.load(out)
    assert a.shape == (5, 3, 32, 32) and a.dtype == np.float32 and np.abs(a).max() <= 1
    assert "translated 5 inputs of the scenes test set" in capsys.readouterr().out
    png = tmp_path / "t.png"
    assert main(["sample", str(run), "--n", "3", "--out", str(png)]) == 0
    assert "input | output | target rows" in capsys.readouterr().out
    assert png.stat().st_size > 0


def test_sample_input_files(run, tmp_path, capsys):
    test = load_scenes("test", n=3)
    ids = tmp_path / "ids.npy"
    np.save(ids, np.asarray(test.labels))                     # class ids (N, H, W)
    onehot = tmp_path / "onehot.npy"
    np.save(onehot, np.asarray(test.inputs)[0])                # one input (C, H, W)
    from matplotlib.image import imsave
    picture = tmp_path / "map.png"                             # a label map in the palette
    rgb = (colorize(np.asarray(test.labels)[:1])[0].transpose(1, 2, 0) + 1) / 2
    imsave(picture, np.clip(rgb, 0, 1))
    results = {}
    for name, path in (("ids", ids), ("onehot", onehot), ("png", picture)):
        out = tmp_path / f"{name}-out.npy"
        assert main(["sample", str(run), "--input", str(path), "--out", str(out)]) == 0
        results[name] = np.load(out)
    capsys.readouterr()
    assert results["ids"].shape == (3, 3, 32, 32)
    assert results["onehot"].shape == results["png"].shape == (1, 3, 32, 32)
    # the same label map, three ways: the same translation (same seed, same dropout masks;
    # in a batch of 3 rather than 1 the products round differently, in the last bits)
    assert np.allclose(results["ids"][:1], results["onehot"], atol=1e-5)
    assert np.array_equal(results["onehot"], results["png"])
    assert main(["sample", str(run), "--input", str(picture), "--out", str(tmp_path / "p.png")]) == 0
    assert "input | output rows" in capsys.readouterr().out


@pytest.mark.parametrize("make, message", [
    (lambda d: np.save(d / "x.npy", np.zeros((2, 5, 32, 32), np.float32)),
     r"expected inputs of shape \(N, 6, 32, 32\) or \(6, 32, 32\), got \(2, 5, 32, 32\)"),
    (lambda d: np.save(d / "x.npy", np.full((32, 32), 9)), r"class ids must be in \[0, 6\)"),
    (lambda d: np.save(d / "x.npy", np.zeros((16, 16), np.int64)),
     r"class-id maps must have shape \(N, 32, 32\)"),
    (lambda d: np.save(d / "x.npy", np.full((6, 32, 32), 3.0, np.float32)), r"in \[-1, 1\]"),
    (lambda d: (d / "x.npy").write_bytes(b"not numpy"), "not a readable .npy"),
    (lambda d: (d / "x.txt").write_text("1"), r"expected a .npy array or a .png label map"),
    (None, "no such file"),
])
def test_bad_inputs_are_clear_errors(run, tmp_path, capsys, make, message):
    if make is not None:
        make(tmp_path)
    path = next(iter(tmp_path.glob("x.*")), tmp_path / "missing.npy")
    assert main(["sample", str(run), "--input", str(path), "--out", str(tmp_path / "o.npy")]) == 2
    import re
    assert re.search(message, error_line(capsys))
    assert not (tmp_path / "o.npy").exists()


def test_a_png_that_is_not_a_label_map_is_refused(run, tmp_path, capsys):
    from matplotlib.image import imsave
    imsave(tmp_path / "photo.png", np.random.default_rng(0).uniform(0, 1, (32, 32, 3)))
    assert main(["sample", str(run), "--input", str(tmp_path / "photo.png"),
                 "--out", str(tmp_path / "o.npy")]) == 2
    assert "must be one of the scenes' palette colours" in error_line(capsys)
    imsave(tmp_path / "big.png", np.zeros((64, 64, 3)) + PALETTE[0] / 255)
    assert main(["sample", str(run), "--input", str(tmp_path / "big.png"),
                 "--out", str(tmp_path / "o.npy")]) == 2
    assert "expected a 32×32 RGB label map" in error_line(capsys)


def test_input_and_label_are_refused_where_they_do_not_apply(run, tmp_path, capsys):
    assert main(["sample", str(run), "--label", "3", "--out", str(tmp_path / "o.png")]) == 2
    assert "translates inputs, it takes no label" in error_line(capsys)
    gan = tmp_path / "gan"
    assert main(["train", "gan", "--steps", "2", "--out", str(gan), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["sample", str(gan), "--input", "x.npy", "--out", str(tmp_path / "o.png")]) == 2
    assert "--input applies to: pix2pix" in error_line(capsys)
