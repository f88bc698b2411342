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


# --- the answer is not on the page before its exercise ------------------------------------------

def _shown_sources(source: str):
    """The expressions whose source a cell shows: ``inspect.getsource(E)``,
    ``getsourcelines(E)`` (found by parsing, in any form) and IPython's ``E??``."""
    found = [line.strip()[:-2] for line in source.split("\n") if line.strip().endswith("??")]
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            if name in ("getsource", "getsourcelines"):
                found.append(ast.unparse(node.args[0]))
    return found


def _answers_shown_early(nb):
    """[(cell index, expression, exercise)] for each answer whose source the notebook shows
    before its exercise (the exercise: the first cell of its solution region, or of its
    NotImplementedError in a student notebook)."""
    from minigan.exercises.answers import ANSWERS, shows
    where = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for eid in re.findall(r'NotImplementedError\("Exercise ([^"]+)"\)', cell.source):
            where.setdefault(eid, i)
        if BEGIN in cell.source:
            for tag in cell.metadata.get("tags", []):
                m = msn.TAG.match(tag)
                if m:
                    where.setdefault(m.group(1), i)
    bad = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            for expr in _shown_sources(cell.source):
                for eid, j in where.items():
                    if i < j and any(shows(expr, a) for a in ANSWERS.get(eid, ())):
                        bad.append((i, expr, eid))
    return bad


def test_every_exercise_lists_the_functions_that_answer_it_and_they_exist():
    import importlib
    from minigan.exercises.answers import ANSWERS
    ids = {eid for p in solution_notebooks() for eid in _exercise_ids(nbformat.read(p, 4))}
    assert ids and ids <= set(ANSWERS), f"exercises missing from answers.py: {sorted(ids - set(ANSWERS))}"
    assert set(ANSWERS) <= ids, f"answers.py lists exercises no notebook has: {sorted(set(ANSWERS) - ids)}"
    for eid, entries in ANSWERS.items():
        for entry in entries:
            module, qual = entry.split(":")
            obj = importlib.import_module(module)
            for part in qual.split("."):
                obj = getattr(obj, part)          # AttributeError: a renamed function
            assert callable(obj), entry


@pytest.mark.parametrize("src", solution_notebooks(), ids=lambda p: p.stem[:2])
def test_no_student_notebook_shows_an_answer_before_its_exercise(src):
    student, ids = msn.make_student_notebook(nbformat.read(src, as_version=4), src.name)
    assert not _answers_shown_early(student)
    # ... and what was hidden comes back after the exercise: every source the solution
    # notebook shows, the student one shows too
    shown = lambda nb: sorted(e for c in nb.cells if c.cell_type == "code" for e in _shown_sources(c.source))
    assert shown(student) == shown(nbformat.read(src, as_version=4))


def test_the_check_finds_answers_shown_early():
    """It can fail: chapters 1 and 4 print an answer before its exercise in the solution
    notebook, and a hand-made notebook hiding it behind another spelling is caught too."""
    early = {p.stem[:2]: _answers_shown_early(nbformat.read(p, 4)) for p in solution_notebooks()}
    assert [e for _, e, x in early["01"]] == ["Linear.backward"]
    assert {x for _, _, x in early["04"]} == {"4.1", "4.3"}
    assert not early["10"]              # chapter 10 shows its answers after its exercises now
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import inspect, minigan\nsrc = inspect.getsource(minigan.nn.Linear.backward)"),
        nbformat.v4.new_code_cell("minigan.nn.layers.Tanh.backward??"),
        nbformat.v4.new_code_cell('def f():\n    raise NotImplementedError("Exercise 1.1")'),
        nbformat.v4.new_code_cell('def g():\n    raise NotImplementedError("Exercise 1.2")')])
    assert [(i, x) for i, _, x in _answers_shown_early(nb)] == [(0, "1.1"), (1, "1.2")]
    # the generator refuses a form it cannot hide, rather than leave the answer on the page
    nb.cells[2].source = ('def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION')
    nb.cells[2].metadata["tags"] = ["exercise-1.1"]
    with pytest.raises(msn.MarkerError, match="Linear.backward"):
        msn.make_student_notebook(nb, "hand-made")
