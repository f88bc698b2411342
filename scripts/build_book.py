#!/usr/bin/env python
"""Build the course book and the lecture slides: ``make book``.

    python scripts/build_book.py               # build/book/index.html and build/book/slides/
    python scripts/build_book.py --no-slides   # the book only (no npm needed)

The book is a static site (Sphinx with myst-nb, the sphinx-book-theme) made from the committed,
executed notebooks: nothing is re-run, every output is the one CI checked. A landing page is
written from the README (its introduction and its course map, links pointed at the book's pages),
then one page per chapter, navigation by chapter, the mathematics rendered by a copy of MathJax
beside the pages (sphinx-mathjax-offline), so that build/book/ reads offline.

The slides are one reveal.js deck per chapter (nbconvert's slides exporter with the template in
book/slides/): the chapter's title and goals, each section's opening cell, every cell with a
displayed derivation ($$ ... $$), and every figure (its code hidden); everything else is
skipped, and a slide taller than the screen scrolls. reveal.js and require.js come from the npm
registry (``npm pack``, cached in build/npm), MathJax is the book's copy: the decks too work
offline. tests/test_book.py opens both in a real headless Chromium.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
STAGE = ROOT / "build" / "book-src"
OUT = ROOT / "build" / "book"
NPM_CACHE = ROOT / "build" / "npm"
NPM = {"reveal.js": "4.0.2", "requirejs": "2.3.7"}     # the reveal.js nbconvert's template targets


def chapters() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _title(nb_path: Path) -> str:
    import nbformat
    nb = nbformat.read(nb_path, as_version=4)
    for line in nb.cells[0].source.split("\n"):
        if line.startswith("# "):
            return line[2:].strip()
    return nb_path.stem


# --- the landing page -----------------------------------------------------------------------
def _section(text: str, heading: str, stop: str) -> str:
    """The README from ``heading`` up to the first line starting with ``stop``."""
    lines = text.split("\n")
    start = lines.index(heading)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith(stop))
    return "\n".join(lines[start:end]).strip()


def _repoint(md: str) -> str:
    """The README's links as the book's: notebooks -> their pages, pictures -> images/."""
    md = re.sub(r"\]\(notebooks/(\d\d_\w+)\.ipynb\)", r"](\1.ipynb)", md)
    md = md.replace("](docs/images/", "](images/")
    left = re.findall(r"\]\((?!https?:|images/|\d\d_\w+\.ipynb)([^)]*)\)", md)
    if left:
        raise SystemExit(f"build_book: the README's course map links to {left}, which the book "
                         "does not have: point them at a chapter or a picture")
    return md


def landing_page(readme: str, decks: list[tuple[str, str]]) -> str:
    lines = readme.split("\n")
    intro_end = next(i for i, line in enumerate(lines) if line.startswith("## "))
    intro = "\n".join(lines[:intro_end]).strip()
    course = _section(readme, "## The course", "Each chapter opens")
    parts = [_repoint(intro), _repoint(course)]
    parts.append(
        "Each chapter opens with its goals, derives the maths, builds the code, trains something "
        "small, plots it, measures it, and ends with exercises, each followed by a check that "
        "says what is wrong. These pages show the executed notebooks with their solutions (the "
        "lecturer's version); `make student` in the repository writes the exercise versions.")
    if decks:
        items = "\n".join(f'<li><a href="slides/{stem}.slides.html">{i}. {title}</a></li>'
                          for i, (stem, title) in enumerate(decks, 1))
        parts.append("## Slides\n\nOne reveal.js deck per chapter for lecturing (the goals, each "
                     "section's opening, the derivations and the figures; arrow keys move, "
                     "`s` opens the speaker view):\n\n<ul>\n" + items + "\n</ul>")
    toc = "\n".join(p.stem for p in chapters())
    parts.append("```{toctree}\n:hidden:\n:maxdepth: 1\n:caption: Chapters\n\n" + toc + "\n```")
    return "\n\n".join(parts) + "\n"


# --- the slides -----------------------------------------------------------------------------
def slide_types(nb) -> None:
    """Choose each cell's reveal.js role (module docstring); figures' code is hidden."""
    for i, cell in enumerate(nb.cells):
        src = cell.source.lstrip()
        kind = "skip"
        if i == 0:
            kind = "slide"
        elif cell.cell_type == "markdown":
            if src.startswith("## "):
                kind = "slide"
            elif src.startswith("#"):
                kind = "subslide"
            elif "$$" in src or "\\begin{" in src:
                kind = "subslide"
        elif cell.cell_type == "code" and any(
                "image/png" in o.get("data", {}) for o in cell.get("outputs", [])):
            kind = "subslide"
            cell.metadata.setdefault("tags", []).append("slides-hide-input")
        cell.metadata["slideshow"] = {"slide_type": kind}


def _npm_assets(dest: Path) -> None:
    """reveal.js (dist/, plugin/) and require.js into dest, from npm pack's tarballs."""
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    tarballs = {}
    for name, version in NPM.items():
        found = sorted(NPM_CACHE.glob(f"{name}-{version}.tgz"))
        if not found:
            if shutil.which("npm") is None:
                raise SystemExit("build_book: the slides need reveal.js from the npm registry, and "
                                 "npm (Node.js) is not installed: install it, or build the book "
                                 "alone with --no-slides")
            run = subprocess.run(["npm", "pack", f"{name}@{version}", "--pack-destination",
                                  str(NPM_CACHE)], capture_output=True, text=True)
            found = sorted(NPM_CACHE.glob(f"{name}-{version}.tgz"))
            if run.returncode or not found:
                raise SystemExit(f"build_book: `npm pack {name}@{version}` failed (offline?): "
                                 f"{run.stderr.strip()[-300:]}\nbuild the book alone with --no-slides")
        tarballs[name] = found[0]
    with tarfile.open(tarballs["reveal.js"]) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.startswith(("package/dist/", "package/plugin/")) and m.isfile()]
        for m in members:
            m.name = m.name[len("package/"):]
        tar.extractall(dest / "reveal.js", members=members, filter="data")
    with tarfile.open(tarballs["requirejs"]) as tar:
        src = tar.extractfile("package/require.js")
        (dest / "require.js").write_bytes(src.read())


def build_slides(out: Path) -> list[tuple[str, str]]:
    import nbformat
    from nbconvert import SlidesExporter
    from traitlets.config import Config
    out.mkdir(parents=True, exist_ok=True)
    _npm_assets(out)
    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_input_tags = {"slides-hide-input"}
    config.SlidesExporter.reveal_url_prefix = "reveal.js"
    config.SlidesExporter.reveal_scroll = True
    config.SlidesExporter.reveal_theme = "white"     # its fonts ship with reveal.js (no Google Fonts)
    config.SlidesExporter.exclude_input_prompt = True
    config.SlidesExporter.exclude_output_prompt = True
    exporter = SlidesExporter(config=config, template_name="slides",
                              extra_template_basedirs=[str(BOOK)])
    decks = []
    for path in chapters():
        nb = nbformat.read(path, as_version=4)
        slide_types(nb)
        html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": _title(path)}})
        (out / f"{path.stem}.slides.html").write_text(html)
        decks.append((path.stem, _title(path)))
    return decks


# --- the whole ------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-slides", action="store_true", help="the book only (no npm needed)")
    args = ap.parse_args(argv)
    if not chapters():
        raise SystemExit("build_book: no notebooks in notebooks/")
    shutil.rmtree(STAGE, ignore_errors=True)
    shutil.rmtree(OUT, ignore_errors=True)
    (STAGE / "images").mkdir(parents=True)
    shutil.copy(BOOK / "conf.py", STAGE / "conf.py")
    for path in chapters():
        shutil.copy(path, STAGE / path.name)
    for png in (ROOT / "docs" / "images").glob("*.png"):
        shutil.copy(png, STAGE / "images" / png.name)
    decks = [] if args.no_slides else [(p.stem, _title(p)) for p in chapters()]
    (STAGE / "index.md").write_text(landing_page((ROOT / "README.md").read_text(), decks))
    # -W: a warning (a broken link, a missing picture, bad markup) fails the build
    run = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going",
                          "-q", str(STAGE), str(OUT)])
    if run.returncode:
        return run.returncode
    if not args.no_slides:
        build_slides(OUT / "slides")
    print(f"the book: {OUT / 'index.html'}" + ("" if args.no_slides else
          f"; slides: {OUT / 'slides'}/NN_name.slides.html"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
