#!/usr/bin/env python
"""Build the course notebooks from their sources, execute them, and write them with outputs.

    python scripts/build_notebooks/build.py                 # every chapter source
    python scripts/build_notebooks/build.py 01 03           # the chapters whose names start so
    python scripts/build_notebooks/build.py --tags-only     # copy only the cells' tags

Each chapter's source is ``notebooks/src/NN_name.md``, in jupytext's MyST Markdown format:
plain Markdown for the prose, and each code cell a fenced block,

    ```{code-cell}
    :tags: [exercise-1.1]

    def f(): ...
    ```

Jupyter opens it as a notebook where jupytext is installed (``pip install jupytext``; then
"Open With > Notebook"), any editor as text, and a diff shows what changed. The notebook is
executed top to bottom in a fresh kernel from ``notebooks/`` (as nbval and a learner run it)
and written to ``notebooks/NN_name.ipynb``; the run time of each is printed. The .ipynb with
its outputs is the committed artifact; the source is how it is made
(tests/test_notebook_sources.py holds the two to each other).

``--tags-only`` changes no output: when the committed notebook has exactly the source's cells
(kinds and sources), it copies the source's tags into it (tags steer nbval and the exercise
generator, not what a cell prints); otherwise it refuses, and the chapter must be rebuilt.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = NOTEBOOKS / "src"
FORMAT = "md:myst"


def sources() -> list[Path]:
    """Every chapter's source, in chapter order."""
    return sorted(SOURCES.glob("[0-9][0-9]_*.md"))


def notebook_of(src: Path) -> Path:
    """The committed notebook a source builds."""
    return NOTEBOOKS / (src.stem + ".ipynb")


def parse(text: str):
    """The cells of a source text as a list of nbformat cells (kind, source and tags only)."""
    cells = []
    for c in jupytext.reads(text, fmt=FORMAT).cells:
        cell = (nbformat.v4.new_markdown_cell(c.source) if c.cell_type == "markdown"
                else nbformat.v4.new_code_cell(c.source))
        if c.metadata.get("tags"):
            cell.metadata["tags"] = list(c.metadata["tags"])
        cells.append(cell)
    return cells


def build(src: Path, execute: bool = True, timeout: int = 600) -> float:
    nb = nbformat.v4.new_notebook()
    nb.cells = parse(src.read_text())
    for i, cell in enumerate(nb.cells):   # stable ids: a rebuild changes only what changed
        cell["id"] = f"c{src.stem[:2]}-{i:03d}"
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    out = notebook_of(src)
    elapsed = 0.0
    if execute:
        # Headless plots, and the repository on the kernel's path whether or not minigan is
        # installed (the notebooks' first cell does the same for a learner's fresh clone).
        env_before = {k: os.environ.get(k) for k in ("MPLBACKEND", "PYTHONHASHSEED")}
        os.environ.pop("MPLBACKEND", None)   # the notebooks choose inline plotting themselves
        os.environ["PYTHONHASHSEED"] = "0"
        try:
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                    resources={"metadata": {"path": str(NOTEBOOKS)}})
            t0 = time.perf_counter()
            client.execute()
            elapsed = time.perf_counter() - t0
        finally:
            for k, v in env_before.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        for cell in nb.cells:           # timings of a build machine are noise in a diff
            cell.metadata.pop("execution", None)
    nbformat.validate(nb)
    nbformat.write(nb, out)
    return elapsed
def copy_tags(src: Path) -> bool:
    """The source's tags into its committed notebook, outputs untouched (module docstring).
    Returns whether anything changed; a ValueError when the cells differ otherwise."""
    out = notebook_of(src)
    nb = nbformat.read(out, as_version=4)
    want = parse(src.read_text())
    if [(c.cell_type, c.source) for c in want] != [(c.cell_type, c.source) for c in nb.cells]:
        raise ValueError(f"{out.name}: its cells differ from {src.name} beyond their tags; rebuild "
                         f"it: python scripts/build_notebooks/build.py {src.name[:2]}")
    changed = False
    for w, c in zip(want, nb.cells):
        tags = list(w.metadata.get("tags", []))
        if list(c.metadata.get("tags", [])) != tags:
            changed = True
            if tags:
                c.metadata["tags"] = tags
            else:
                c.metadata.pop("tags", None)
    if changed:
        nbformat.validate(nb)
        nbformat.write(nb, out)
    return changed


def main(argv):
    tags_only = "--tags-only" in argv
    argv = [a for a in argv if a != "--tags-only"]
    chosen = sources()
    if argv:
        chosen = [s for s in chosen if any(s.name.startswith(a) for a in argv)]
    if not chosen:
        sys.exit(f"no chapter sources in {SOURCES} match {argv}")
    if tags_only:
        for src in chosen:
            print(f"{src.name}: {'tags copied' if copy_tags(src) else 'tags already equal'}")
        return
    for src in chosen:
        t = build(src)
        print(f"{notebook_of(src).name}: executed in {t:.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
