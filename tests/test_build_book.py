"""scripts/build_book.py's pieces that need no Sphinx and no browser: the landing page made from
the README, and which cells become slides. (The built site itself: tests/test_book.py.)"""
import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_book", ROOT / "scripts" / "build_book.py")
bb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bb)


def test_landing_page_from_the_readme_links_every_chapter_page_and_picture():
    readme = (ROOT / "README.md").read_text()
    page = bb.landing_page(readme, [(p.stem, "t") for p in bb.chapters()])
    for nb in bb.chapters():
        assert f"]({nb.stem}.ipynb)" in page                 # the course map's links
        assert f'href="slides/{nb.stem}.slides.html"' in page
        assert f"\n{nb.stem}\n" in page.split("{toctree}")[1]  # the navigation
    assert "](notebooks/" not in page and "](docs/images/" not in page
    for png in (ROOT / "docs" / "images").glob("*.png"):
        if f"docs/images/{png.name}" in bb._section(readme, "## The course", "Each chapter opens"):
            assert f"](images/{png.name})" in page


def test_a_link_the_book_cannot_follow_is_refused():
    with pytest.raises(SystemExit, match="benchmarks/README.md"):
        bb._repoint("see [the numbers](benchmarks/README.md) and [ch1](notebooks/01_x.ipynb)")
    assert bb._repoint("[ch1](notebooks/01_x.ipynb) ![p](docs/images/01.png)") == \
        "[ch1](01_x.ipynb) ![p](images/01.png)"


def test_slides_keep_title_sections_derivations_and_figures_only():
    nb = nbformat.v4.new_notebook()
    png = nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"})
    nb.cells = [nbformat.v4.new_markdown_cell("# Chapter\n**Goals.**"),
                nbformat.v4.new_markdown_cell("prose only"),
                nbformat.v4.new_markdown_cell("## 1. A section"),
                nbformat.v4.new_markdown_cell("### A subsection"),
                nbformat.v4.new_markdown_cell("so\n$$ dx = dy\\,W $$"),
                nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("plt.plot()", outputs=[png])]
    bb.slide_types(nb)
    kinds = [c.metadata["slideshow"]["slide_type"] for c in nb.cells]
    assert kinds == ["slide", "skip", "slide", "subslide", "subslide", "skip", "subslide"]
    assert nb.cells[-1].metadata["tags"] == ["slides-hide-input"]
    assert "tags" not in nb.cells[-2].metadata
