"""Every committed notebook is what its plain-text source builds: the same cells, in the same
order, with the same sources, kinds and tags. (The executed outputs are what nbval checks; this
catches a source edited without a rebuild, or a notebook edited by hand and never written back
to its source, either of which would leave the course and its source telling different stories.)
"""
import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_notebooks",
                                               ROOT / "scripts" / "build_notebooks" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)
SOURCES = build.sources()


def _cells(cells):
    return [(c.cell_type, c.source, list(c.get("metadata", {}).get("tags", []))) for c in cells]


def test_every_source_has_its_notebook_and_every_notebook_its_source():
    built = {s.stem for s in SOURCES}
    committed = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert built and built == committed, (sorted(built ^ committed))


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.name[:2])
def test_committed_notebook_is_what_its_source_builds(src):
    nb = nbformat.read(build.notebook_of(src), as_version=4)
    want, got = _cells(build.parse(src.read_text())), _cells(nb.cells)
    for i, (w, g) in enumerate(zip(want, got)):
        assert w == g, (f"{src.name}: cell {i} differs from the committed notebook; rebuild it "
                        f"with `python scripts/build_notebooks/build.py {src.name[:2]}`")
    assert len(want) == len(got), f"{src.name}: {len(want)} cells, the notebook has {len(got)}"


def test_the_check_catches_a_stale_notebook(tmp_path):
    """The comparison can fail: a source edited after its build differs from the notebook."""
    src = SOURCES[0]
    nb = nbformat.read(build.notebook_of(src), as_version=4)
    edited = src.read_text().replace("```{code-cell}", "```{code-cell}\n# an edit never rebuilt", 1)
    assert _cells(build.parse(edited)) != _cells(nb.cells)
