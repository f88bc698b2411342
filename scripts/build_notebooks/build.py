#!/usr/bin/env python
"""Build the course notebooks from their sources, execute them, and write them with outputs.

    python scripts/build_notebooks/build.py                 # every chapter source here
    python scripts/build_notebooks/build.py 01 03           # the chapters whose names start so
    python scripts/build_notebooks/build.py --tags-only     # copy only the cells' tags

Each ``NN_name.nb.txt`` beside this script is one notebook, written as plain text:

    %% markdown
    # A heading, $\\LaTeX$ and all
    %% code
    x = 1
    %% code tags=exercise-1.1
    def f(): ...

A line ``%% markdown`` or ``%% code`` (optionally ``tags=a,b``) starts a cell; everything
up to the next such line is its source (surrounding blank lines dropped). The notebook is
executed top to bottom in a fresh kernel from ``notebooks/`` (as nbval and a learner run it)
and written to ``notebooks/NN_name.ipynb``; the run time of each is printed. The .ipynb
with its outputs is the committed artifact; this source is how it is made.

``--tags-only`` changes no output: when the committed notebook has exactly the source's cells
(kinds and sources), it copies the source's tags into it (tags steer nbval and the exercise
generator, not what a cell prints); otherwise it refuses, and the chapter must be rebuilt.
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NOTEBOOKS = ROOT / "notebooks"
CELL = re.compile(r"^%% (markdown|code)(?:\s+tags=(\S+))?\s*$")


def parse(text: str):
    """The cells of a source file as a list of nbformat cells."""
    cells, kind, tags, lines = [], None, [], []

    def flush():
        if kind is None:
            return
        src = "\n".join(lines).strip("\n")
        cell = (nbformat.v4.new_markdown_cell(src) if kind == "markdown"
                else nbformat.v4.new_code_cell(src))
        if tags:
            cell.metadata["tags"] = tags
        cells.append(cell)

    for line in text.split("\n"):
        m = CELL.match(line)
        if m:
            flush()
            kind, tags, lines = m.group(1), (m.group(2).split(",") if m.group(2) else []), []
        elif kind is None:
            if line.strip():
                raise ValueError(f"text before the first cell marker: {line!r}")
        else:
            lines.append(line)
    flush()
    return cells


def build(src: Path, execute: bool = True, timeout: int = 600) -> float:
    nb = nbformat.v4.new_notebook()
    nb.cells = parse(src.read_text())
    stem = src.name[:-len(".nb.txt")]
    for i, cell in enumerate(nb.cells):   # stable ids: a rebuild changes only what changed
        cell["id"] = f"c{stem[:2]}-{i:03d}"
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    out = NOTEBOOKS / (stem + ".ipynb")
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
    out = NOTEBOOKS / (src.name[:-len(".nb.txt")] + ".ipynb")
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
    sources = sorted(HERE.glob("*.nb.txt"))
    if argv:
        sources = [s for s in sources if any(s.name.startswith(a) for a in argv)]
    if not sources:
        sys.exit(f"no chapter sources match {argv}")
    if tags_only:
        for src in sources:
            print(f"{src.name}: {'tags copied' if copy_tags(src) else 'tags already equal'}")
        return
    for src in sources:
        t = build(src)
        print(f"{src.name[:-len('.nb.txt')]}.ipynb: executed in {t:.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
