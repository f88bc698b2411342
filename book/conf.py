"""Sphinx configuration of the course book: the executed notebooks rendered as a static site.

Built by ``make book`` (scripts/build_book.py), which stages this file, a landing page made from
the README's course map and the committed notebooks (with their outputs: nothing is re-executed)
into build/book-src and writes the site to build/book/. Readable offline: MathJax comes from the
sphinx-mathjax-offline package and is copied beside the pages."""

project = "minigan: a GAN course from scratch"
author = "the minigan authors"
copyright = "the minigan authors, MIT licence"

extensions = ["myst_nb", "sphinx-mathjax-offline"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True      # $$...$$ inside a paragraph, as Jupyter renders it
myst_heading_anchors = 3
nb_execution_mode = "off"              # the committed notebooks' outputs, as executed by build.py
nb_merge_streams = True
nb_render_markdown_format = "myst"     # Markdown outputs (the tables chapters print) with tables and math
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "sphinx_book_theme"
html_title = "minigan"
html_static_path = []
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "navigation_with_keys": False,
    "home_page_in_toc": True,
}
html_show_sourcelink = False
html_last_updated_fmt = None
html_copy_source = False
