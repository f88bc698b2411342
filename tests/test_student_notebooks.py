"""The exercise (student) notebooks: generated correctly, and runnable.

- The generator replaces every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region with a
  ``raise NotImplementedError("Exercise N.M")`` at the right indentation, and clears outputs.
- Each generated notebook runs top to bottom in a fresh kernel where the only errors are
  NotImplementedError, at least one per exercise: the chapter goes on working on minigan's own
  implementations while the exercises are unsolved.
"""
import ast
import importlib.util
import os
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

_spec = importlib.util.spec_from_file_location("make_student_notebooks",
                                               ROOT / "scripts" / "make_student_notebooks.py")
msn = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(msn)

BEGIN, END = msn.BEGIN, msn.END


def solution_notebooks():
    return sorted(p for p in NOTEBOOKS.glob("*.ipynb") if BEGIN in p.read_text(encoding="utf-8"))


def _python(source: str) -> str:
    """Cell source without IPython magics, so that ast can parse it."""
    return "\n".join("pass" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.split("\n"))


def _exercise_ids(nb):
    """Exercise ids of the solution notebook, from the tags of cells with solution regions."""
    ids = []
    for cell in nb.cells:
        if cell.cell_type == "code" and BEGIN in cell.source:
            for tag in cell.metadata.get("tags", []):
                m = msn.TAG.match(tag)
                if m and m.group(1) not in ids:
                    ids.append(m.group(1))
    return ids


# --- the generator -------------------------------------------------------------------------

def test_strip_solutions_keeps_indentation_and_the_rest():
    src = ("def f(x):\n"
           "    \"\"\"doc\"\"\"\n"
           "    ### BEGIN SOLUTION\n"
           "    y = x + 1\n"
           "    return y\n"
           "    ### END SOLUTION\n"
           "\n"
           "def g():\n"
           "    if True:\n"
           "        ### BEGIN SOLUTION\n"
           "        return 2\n"
           "        ### END SOLUTION\n"
           "print('after')")
    out, n = msn.strip_solutions(src, "4.2")
    assert n == 2
    assert out == ("def f(x):\n"
                   "    \"\"\"doc\"\"\"\n"
                   "    raise NotImplementedError(\"Exercise 4.2\")\n"
                   "\n"
                   "def g():\n"
                   "    if True:\n"
                   "        raise NotImplementedError(\"Exercise 4.2\")\n"
                   "print('after')")
    ast.parse(out)
    ns = {}
    exec(compile(out.replace("print('after')", ""), "<cell>", "exec"), ns)
    with pytest.raises(NotImplementedError, match=r"^Exercise 4\.2$"):
        ns["f"](1)


@pytest.mark.parametrize("src, problem", [
    ("### BEGIN SOLUTION\nx = 1\n", "without"),
    ("x = 1\n### END SOLUTION\n", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside"),
])
def test_strip_solutions_rejects_unpaired_markers(src, problem):
    with pytest.raises(msn.MarkerError, match=problem):
        msn.strip_solutions(src, "1.1")


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def test_exercise_id_from_tag_or_heading_and_outputs_cleared():
    tagged = nbformat.v4.new_code_cell("def a():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION")
    tagged.metadata["tags"] = ["exercise-7.1"]
    tagged.outputs = [nbformat.v4.new_output("stream", text="old output")]
    tagged.execution_count = 3
    untagged = nbformat.v4.new_code_cell("def b():\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION")
    nb = _nb(nbformat.v4.new_markdown_cell("# Title"),
             tagged,
             nbformat.v4.new_markdown_cell("### Exercise 7.2 — something"),
             untagged,
             nbformat.v4.new_code_cell("b()"))
    student, ids = msn.make_student_notebook(nb, "x.ipynb")
    assert ids == ["7.1", "7.2"]
    assert 'raise NotImplementedError("Exercise 7.1")' in student.cells[2].source
    assert 'raise NotImplementedError("Exercise 7.2")' in student.cells[4].source
    assert "Exercise version" in student.cells[1].source          # the note, after the title
    assert all(c.outputs == [] and c.execution_count is None
               for c in student.cells if c.cell_type == "code")
    assert nb.cells[1].outputs, "the solution notebook itself must not be modified"
    nbformat.validate(student)


def test_solution_region_without_id_is_an_error():
    nb = _nb(nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"))
    with pytest.raises(msn.MarkerError, match="without an exercise id"):
        msn.make_student_notebook(nb)


def test_there_are_solution_notebooks():
    names = [p.name for p in solution_notebooks()]
    for chapter in ("01_", "02_", "03_"):
        assert any(n.startswith(chapter) for n in names), f"no chapter {chapter} notebook with exercises"


def test_generator_replaces_every_solution_block(tmp_path):
    out = tmp_path / "student"
    assert msn.main([str(NOTEBOOKS), str(out)]) == 0
    for src in solution_notebooks():
        nb = nbformat.read(src, as_version=4)
        student = nbformat.read(out / src.name, as_version=4)
        nbformat.validate(student)
        ids = _exercise_ids(nb)
        assert ids, f"{src.name}: exercises must be tagged exercise-N.M"
        n_regions = sum(c.source.count(BEGIN) for c in nb.cells if c.cell_type == "code")
        text = "\n".join(c.source for c in student.cells)
        assert BEGIN not in text and END not in text
        raises = re.findall(r'raise NotImplementedError\("Exercise ([\d.]+[a-z]?)"\)', text)
        assert len(raises) == n_regions
        assert sorted(set(raises)) == sorted(ids)
        # the solution code itself is gone: no line strictly inside a region survives
        for cell, scell in zip([c for c in nb.cells if c.cell_type == "code"],
                               [c for c in student.cells if c.cell_type == "code"]):
            inside = re.findall(re.escape(BEGIN) + r"\n(.*?)\n[ \t]*" + re.escape(END),
                                cell.source, flags=re.S)
            for block in inside:
                for line in block.split("\n"):
                    if line.strip() and not line.strip().startswith("#"):
                        assert line not in scell.source.split("\n"), (src.name, line)
            ast.parse(_python(scell.source))          # indentation is right: it compiles
            assert scell.outputs == [] and scell.execution_count is None


# --- running the student notebooks -----------------------------------------------------------

@pytest.mark.parametrize("src", solution_notebooks(), ids=lambda p: p.stem)
def test_student_notebook_runs_with_only_not_implemented_errors(src, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    nb = nbformat.read(src, as_version=4)
    student, ids = msn.make_student_notebook(nb, src.name)
    assert ids
    # The kernel runs in tmp_path: put the repository on its path (a learner's clone has the
    # notebooks next to the package, or minigan installed).
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    client = NotebookClient(student, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()

    errors = []
    for i, cell in enumerate(student.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                errors.append((i, out.ename, out.evalue))
    others = [e for e in errors if e[1] != "NotImplementedError"]
    assert not others, f"{src.name}: errors other than NotImplementedError: {others}"
    raised = {evalue for _, _, evalue in errors}
    for eid in ids:
        assert f"Exercise {eid}" in raised, f"{src.name}: no cell raised NotImplementedError for {eid}"
    # and the chapter itself ran: the last non-exercise code cells produced output
    assert sum(1 for c in student.cells if c.cell_type == "code" and c.outputs) > len(errors)
