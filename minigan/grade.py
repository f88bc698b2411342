"""``minigan grade NOTEBOOK.ipynb``: run a learner's notebook in a fresh kernel and say, per
exercise, whether its check passed.

An exercise is a code cell tagged ``exercise-N.M`` (nbgrader's convention, kept by
``scripts/make_student_notebooks.py``); its check is the first code cell after it that calls a
``check_*`` of :mod:`minigan.exercises`. After the run, each exercise is

- ``pass``: its check printed its pass line (``✓ … passed``) and raised nothing;
- ``fail``: its check raised :class:`~minigan.exercises.ExerciseError` (the message says what
  is wrong, with the check's hint);
- ``not done``: the exercise still raises ``NotImplementedError("Exercise N.M")``;
- ``error``: the exercise's cell or its check raised anything else (the error is given), or the
  check printed no pass line.

The notebook runs top to bottom as a learner's "Run all" would, errors allowed, in its own
folder (so that it finds what it reads, as in the course), and is not written back. It runs
the learner's code: grade only notebooks you would run yourself, or grade in a sandbox.
"""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

TAG = re.compile(r"^exercise-(\d+(?:\.\d+)*[a-z]?)$")
PASS = re.compile(r"\u2713 .* passed")
CHECK_CALL = re.compile(r"\bcheck_\w+\s*\(")


class GradeError(ValueError):
    """A notebook that cannot be graded: missing, not a notebook, without exercises."""


@dataclass
class Result:
    exercise: str
    status: str        # pass, fail, not done, error
    message: str


def _error_text(output) -> str:
    return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()


def _errors(cell):
    return [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream")


def exercises(nb):
    """[(exercise id, index of its cell, index of its check cell or None)] in notebook order."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        ids = [m.group(1) for m in map(TAG.match, cell.get("metadata", {}).get("tags", [])) if m]
        for eid in ids:
            if any(eid == e for e, _, _ in found):
                continue
            check = next((j for j in range(i + 1, len(nb.cells))
                          if nb.cells[j].cell_type == "code"
                          and CHECK_CALL.search(nb.cells[j].source)), None)
            found.append((eid, i, check))
    return found


def judge(nb, eid, cell_index, check_index) -> Result:
    """The result of exercise ``eid`` in an executed notebook (module docstring)."""
    own = _errors(nb.cells[cell_index])
    if own:
        return Result(eid, "error", "the exercise's cell failed: " + _error_text(own[0]))
    if check_index is None:
        return Result(eid, "error", "no check cell (a call of a check_* function) after the exercise")
    check = nb.cells[check_index]
    errs = _errors(check)
    if errs:
        e = errs[0]
        if e.get("ename") == "NotImplementedError" and f"Exercise {eid}" in e.get("evalue", ""):
            return Result(eid, "not done", "still raises NotImplementedError")
        if e.get("ename") == "NotImplementedError":
            return Result(eid, "not done", e.get("evalue", "") + " (an earlier exercise it uses)")
        if e.get("ename") == "ExerciseError":
            return Result(eid, "fail", e.get("evalue", ""))
        return Result(eid, "error", _error_text(e))
    lines = [line for line in _stdout(check).splitlines() if PASS.search(line)]
    if not lines:
        return Result(eid, "error", "the check printed no pass line (was the check cell changed?)")
    return Result(eid, "pass", lines[0].strip())


def grade(path, timeout: int = 600, kernel: str = "python3"):
    """Run the notebook at ``path`` in a fresh kernel and return its :class:`Result` list."""
    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError as exc:
        raise GradeError(f"minigan grade needs nbformat, nbclient and ipykernel ({exc.name} is "
                         "missing): pip install 'minigan[course]'") from None
    path = Path(path)
    if not path.is_file():
        raise GradeError(f"{path}: no such notebook file (expected a .ipynb)")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:                         # nbformat raises several kinds
        raise GradeError(f"{path}: not a Jupyter notebook (.ipynb JSON) that nbformat can "
                         f"read: {type(exc).__name__}: {str(exc)[:200]}") from None
    found = exercises(nb)
    if not found:
        raise GradeError(f"{path}: no exercises (code cells tagged 'exercise-N.M') to grade")
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, allow_errors=True,
                            resources={"metadata": {"path": str(path.resolve().parent)}})
    client.execute()
    return [judge(nb, eid, i, j) for eid, i, j in found]


def table(results) -> str:
    width = max(len("exercise"), *(len(r.exercise) for r in results))
    out = [f"{'exercise':<{width}}  {'result':<8}  message", f"{'-' * width}  {'-' * 8}  -------"]
    for r in results:
        msg = " ".join(r.message.split())
        out.append(f"{r.exercise:<{width}}  {r.status:<8}  {msg[:300]}")
    passed = sum(r.status == "pass" for r in results)
    out.append(f"\n{passed} of {len(results)} exercises passed")
    return "\n".join(out)


def main(args) -> int:
    """The ``minigan grade`` command: 0 when every exercise passes, 1 otherwise."""
    t0 = time.perf_counter()
    results = grade(args.notebook, timeout=args.timeout)
    print(table(results))
    print(f"(ran {args.notebook} in {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    if args.json:
        from .fileio import atomic_file
        try:
            with atomic_file(args.json, mode="w") as f:
                f.write(json.dumps([asdict(r) for r in results], indent=1) + "\n")
        except OSError as exc:
            raise GradeError(f"--json {args.json}: cannot write it ({exc.strerror or exc})") from None
    return 0 if all(r.status == "pass" for r in results) else 1
