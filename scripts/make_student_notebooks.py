#!/usr/bin/env python
"""Write the exercise (student) version of the course notebooks.

    python scripts/make_student_notebooks.py notebooks/ exercises/

Every notebook of SRC_DIR is copied to OUT_DIR with

- each solution region, from a line containing ``### BEGIN SOLUTION`` to the line
  containing ``### END SOLUTION`` (nbgrader's markers), replaced by one line
  ``raise NotImplementedError("Exercise 1.1")`` at the indentation of the BEGIN line;
- every output and execution count cleared;
- a note at the top saying that this is the exercise version.

The exercise id comes from the cell's tag ``exercise-1.1``, or else from the nearest
markdown heading above the cell that names "Exercise 1.1". A notebook whose markers do
not pair up, or whose exercise has no id, is an error (nothing is written for it).

Since the exercises are functions, defining them still works in the student copy; the
check cell that calls one raises ``NotImplementedError("Exercise 1.1")`` until the
learner fills it in, and the rest of the chapter runs on minigan's own implementations.

The answer is not on the page before its exercise: a line ``print(inspect.getsource(F))``
before exercise E, where F is one of the functions that ``minigan/exercises/answers.py``
lists as answering E, becomes ``show_interface(F, after="E")`` (its signature and docstring
only), and the same ``print`` comes in a new cell right after E's check cell. Any other use
of ``getsource`` on such a function before its exercise is an error.
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path

import nbformat

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
TAG = re.compile(r"^exercise-(\d+(?:\.\d+)*[a-z]?)$")
HEADING = re.compile(r"^#+ .*?\bExercise (\d+(?:\.\d+)*[a-z]?)\b", re.M)

NOTE = ("> **Exercise version.** Fill in every function that raises `NotImplementedError`, then run "
        "the check cell below it: it says whether your answer is right, and if not, what looks "
        "wrong. The rest of the chapter runs on minigan's own implementations, so you can go on "
        "before finishing an exercise. Generated from `{src}` by `scripts/make_student_notebooks.py`.")


# The answers' list, read from its file: it imports nothing, so this script needs only nbformat.
_spec = importlib.util.spec_from_file_location(
    "minigan_answers", Path(__file__).resolve().parents[1] / "minigan" / "exercises" / "answers.py")
answers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(answers)

PRINT_SOURCE = re.compile(r"^(\s*)print\(\s*inspect\.getsource\((.+)\)\s*\)\s*(#.*)?$")
GETSOURCE = re.compile(r"getsource\(([^()]*(?:\([^()]*\)[^()]*)*)\)")
REVEAL_NOTE = ("**minigan's version**, shown here in the exercise version only now that you "
               "have written yours (the solution notebook shows it earlier, where the chapter "
               "first discusses it):")


class MarkerError(ValueError):
    """Solution markers that do not pair up, or an exercise without an id."""


def strip_solutions(source: str, exercise_id: str, where: str = "") -> tuple[str, int]:
    """``source`` with each solution region replaced by a NotImplementedError; and the count."""
    out, n, inside, indent = [], 0, False, ""
    for lineno, line in enumerate(source.split("\n"), 1):
        if BEGIN in line:
            if inside:
                raise MarkerError(f"{where} line {lineno}: '{BEGIN}' inside a solution region")
            inside, n = True, n + 1
            indent = line[:len(line) - len(line.lstrip())]
            out.append(f'{indent}raise NotImplementedError("Exercise {exercise_id}")')
        elif END in line:
            if not inside:
                raise MarkerError(f"{where} line {lineno}: '{END}' without '{BEGIN}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: '{BEGIN}' without '{END}'")
    return "\n".join(out), n


def exercise_id(cell, last_heading_id):
    for tag in cell.get("metadata", {}).get("tags", []):
        m = TAG.match(tag)
        if m:
            return m.group(1)
    return last_heading_id


def make_student_notebook(nb, src_name: str = "the solution notebook"):
    """The student version of a notebook (a new object) and the list of exercise ids."""
    nb = nbformat.from_dict(nb)   # a deep copy
    ids, last_heading = [], None
    where = {}                                   # exercise id -> index of its first cell
    for i, cell in enumerate(nb.cells):
        src = cell.source
        if cell.cell_type == "markdown":
            found = HEADING.findall(src)
            if found:
                last_heading = found[-1]
            if BEGIN in src or END in src:
                raise MarkerError(f"{src_name}, cell {i}: solution markers in a markdown cell "
                                  "(only code cells are supported)")
            continue
        if cell.cell_type != "code":
            continue
        if BEGIN in src or END in src:
            eid = exercise_id(cell, last_heading)
            if eid is None:
                raise MarkerError(f"{src_name}, cell {i}: a solution region without an exercise "
                                  "id; tag the cell 'exercise-N.M' or put it under a heading "
                                  "'Exercise N.M'")
            cell.source, n = strip_solutions(src, eid, f"{src_name}, cell {i}")
            if eid not in ids:
                ids.append(eid)
                where[eid] = i
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
    hide_answers(nb, where, src_name)
    if ids:
        nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0,
                        nbformat.v4.new_markdown_cell(NOTE.format(src=src_name)))
    # nbformat >= 5.1 wants cell ids; the inserted cell gets a fresh one
    return nb, ids


def answered_later(expr, i, where):
    """The last exercise after cell ``i`` that ``inspect.getsource(expr)`` answers, or None."""
    later = [(j, eid) for eid, j in where.items() if j > i and
             any(answers.shows(expr, entry) for entry in answers.ANSWERS.get(eid, ()))]
    return max(later)[1] if later else None


def hide_answers(nb, where, src_name):
    """In place: each print of an answer's source before its exercise becomes its interface,
    and the print moves to a new cell after the exercise's check cell (module docstring).
    ``where``: {exercise id: index of the first cell of its solution}."""
    moved = {}                                   # exercise id -> [expr]
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "getsource" not in cell.source:
            continue
        lines, changed = cell.source.split("\n"), False
        for k, line in enumerate(lines):
            m = PRINT_SOURCE.match(line)
            eid = answered_later(m.group(2), i, where) if m else None
            if eid:
                lines[k] = f'{m.group(1)}show_interface({m.group(2)}, after="{eid}")'
                moved.setdefault(eid, []).append(m.group(2))
                changed = True
                continue
            for expr in GETSOURCE.findall(line):
                eid = answered_later(expr, i, where)
                if eid:
                    raise MarkerError(f"{src_name}, cell {i}: shows the source of {expr}, the "
                                      f"answer to exercise {eid}, "
                                      "before the exercise in a form this script cannot hide; "
                                      "use print(inspect.getsource(...)) on a line of its own")
        if changed:
            cell.source = "from minigan.exercises import show_interface\n" + "\n".join(lines)
    # after each exercise's check cell (the first code cell after it), last exercise first
    for eid in sorted(moved, key=lambda e: -where[e]):
        j = where[eid] + 1
        while j < len(nb.cells) and nb.cells[j].cell_type != "code":
            j += 1
        code = "import inspect\n" + "\n".join(f"print(inspect.getsource({e}))" for e in moved[eid])
        nb.cells[j + 1:j + 1] = [nbformat.v4.new_markdown_cell(REVEAL_NOTE),
                                 nbformat.v4.new_code_cell(code)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src_dir", type=Path, help="folder of solution notebooks (e.g. notebooks/)")
    parser.add_argument("out_dir", type=Path, help="folder to write the exercise notebooks to")
    args = parser.parse_args(argv)
    paths = sorted(args.src_dir.glob("*.ipynb"))
    if not paths:
        parser.error(f"no notebooks in {args.src_dir}")
    if args.out_dir.resolve() == args.src_dir.resolve():
        parser.error("OUT_DIR must differ from SRC_DIR: the solutions would be overwritten")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        student, ids = make_student_notebook(nb, path.name)
        nbformat.validate(student)
        nbformat.write(student, args.out_dir / path.name)
        print(f"{path.name}: {len(ids)} exercise(s){': ' + ', '.join(ids) if ids else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
