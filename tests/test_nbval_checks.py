"""nbval compares what it is asked to: CI runs the notebooks with ``--nbval-lax``, in which only
cells tagged ``nbval-check-output`` have their outputs compared with the stored ones (every
exercise's check cell, whose pass line is exact text). These tests show that such a cell
fails when its code and its stored output disagree, and that every chapter has such cells."""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def _run_nbval(path):
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:xdist", "--nbval-lax", str(path), "--rootdir", str(path.parent),
                           "-c", "/dev/null"],
                          capture_output=True, text=True, cwd=path.parent, timeout=300)


@pytest.mark.parametrize("tagged, stored, passes", [
    (True, "96.9 %\n", True),        # a checked cell that prints what is stored
    (True, "12.0 %\n", False),       # ... and one that does not: nbval fails
    (False, "12.0 %\n", True),       # an unchecked cell in lax mode: only errors fail it
])
def test_a_checked_cell_fails_when_its_output_drifts(tmp_path, tagged, stored, passes):
    cell = nbformat.v4.new_code_cell('print("96.9 %")')
    cell.outputs = [_stream(stored)]
    cell.execution_count = 1
    if tagged:
        cell.metadata["tags"] = ["nbval-check-output"]
    path = tmp_path / "n.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    result = _run_nbval(path)
    assert (result.returncode == 0) == passes, result.stdout[-2000:]


@pytest.mark.parametrize("nb", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem[:2])
def test_every_chapter_has_checked_cells_with_stored_output(nb):
    """Every exercise's check (a compared cell holding its pass line, between the exercise's
    ``exercise-N.M`` cell and the next exercise) is compared; every other compared cell (shapes,
    counts, a stored table) has a stored output to compare with."""
    cells = nbformat.read(nb, 4).cells
    tags = [c.get("metadata", {}).get("tags", []) for c in cells]
    text = ["".join(o.get("text", "") for o in c.get("outputs", []) if o.output_type == "stream")
            for c in cells]
    checked = [i for i, t in enumerate(tags) if "nbval-check-output" in t]
    assert len(checked) >= 2
    starts = [i for i, t in enumerate(tags) if any(x.startswith("exercise-") for x in t)]
    for i, j in zip(starts, starts[1:] + [len(cells)]):
        assert any(k in checked and "passed" in text[k] for k in range(i + 1, j)), \
            f"{nb.name}: the exercise of cell {i} has no compared check with its pass line"
    for k in checked:
        assert text[k].strip(), f"{nb.name}: cell {k} is compared with nothing stored"
