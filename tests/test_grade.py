"""`minigan grade`: a learner's notebook run in a fresh kernel, each exercise graded pass,
fail (with the check's message), not done or error; exit code 0 only when all pass."""
import json

import nbformat
import pytest

from minigan.cli import main
from minigan.grade import exercises

SETUP = "import numpy as np\nfrom minigan.exercises import check_tanh_backward, check_sigmoid_backward, check_bce_with_logits_grad"
TANH_RIGHT = "def tanh_backward(dy, x):\n    return dy * (1 - np.tanh(x) ** 2)"
SIGMOID_WRONG = "def sigmoid_backward(dy, x):\n    s = 1 / (1 + np.exp(-x))\n    return dy * s"   # forgot (1 - s)
SIGMOID_RIGHT = "def sigmoid_backward(dy, x):\n    s = 1 / (1 + np.exp(-x))\n    return dy * s * (1 - s)"
BCE_TODO = 'def bce_with_logits_grad(z, t):\n    raise NotImplementedError("Exercise 1.4")'


def notebook(path, tanh=TANH_RIGHT, sigmoid=SIGMOID_WRONG, bce=BCE_TODO, extra=()):
    def ex(src, eid):
        cell = nbformat.v4.new_code_cell(src)
        cell.metadata["tags"] = [f"exercise-{eid}"]
        return cell
    cells = [nbformat.v4.new_markdown_cell("# a learner's chapter 1"),
             nbformat.v4.new_code_cell(SETUP),
             ex(tanh, "1.2"), nbformat.v4.new_code_cell("check_tanh_backward(tanh_backward)"),
             nbformat.v4.new_markdown_cell("### Exercise 1.3"),
             ex(sigmoid, "1.3"), nbformat.v4.new_code_cell("check_sigmoid_backward(sigmoid_backward)"),
             ex(bce, "1.4"), nbformat.v4.new_code_cell("check_bce_with_logits_grad(bce_with_logits_grad)"),
             *extra]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def test_grades_each_exercise_and_exits_1_unless_all_pass(tmp_path, capsys):
    nb = notebook(tmp_path / "learner.ipynb")
    out = tmp_path / "grades.json"
    assert main(["grade", str(nb), "--json", str(out)]) == 1
    text = capsys.readouterr().out
    rows = {r["exercise"]: r for r in json.loads(out.read_text())}
    assert [rows[e]["status"] for e in ("1.2", "1.3", "1.4")] == ["pass", "fail", "not done"]
    assert "tanh_backward passed" in rows["1.2"]["message"]
    assert "dx" in rows["1.3"]["message"]                  # the check's own message
    assert "1 of 3 exercises passed" in text and "fail" in text
    assert json.loads(nb.read_text())["cells"][3]["outputs"] == []   # not written back


def test_all_passing_exits_0_and_a_broken_cell_is_an_error(tmp_path, capsys):
    bce = ("def bce_with_logits_grad(z, t):\n"
           "    loss = np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))\n"
           "    return loss, (0.5 * (1 + np.tanh(0.5 * z)) - t) / z.size")
    assert main(["grade", str(notebook(tmp_path / "a.ipynb", sigmoid=SIGMOID_RIGHT, bce=bce))]) == 0
    assert "3 of 3 exercises passed" in capsys.readouterr().out
    broken = notebook(tmp_path / "b.ipynb", tanh="def tanh_backward(dy, x)\n    return dy")
    assert main(["grade", str(broken), "--json", str(tmp_path / "b.json")]) == 1
    rows = {r["exercise"]: r for r in json.loads((tmp_path / "b.json").read_text())}
    assert rows["1.2"]["status"] == "error" and "SyntaxError" in rows["1.2"]["message"]


def test_exercises_and_their_check_cells_are_found_by_tag(tmp_path):
    nb = nbformat.read(notebook(tmp_path / "n.ipynb"), 4)
    assert exercises(nb) == [("1.2", 2, 3), ("1.3", 5, 6), ("1.4", 7, 8)]


@pytest.mark.parametrize("content, expected", [
    (None, "no such notebook file"),
    ("not json at all", "not a Jupyter notebook"),
    ('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "no exercises"),
])
def test_bad_notebooks_are_clear_errors(tmp_path, capsys, content, expected):
    path = tmp_path / "x.ipynb"
    if content is not None:
        path.write_text(content)
    assert main(["grade", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_a_zero_timeout_is_refused(tmp_path, capsys):
    assert main(["grade", str(notebook(tmp_path / "n.ipynb")), "--timeout", "0"]) == 2
    assert "--timeout 0" in capsys.readouterr().err
