# The README's commands. Each creates .venv (Python 3.10+) and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STEPS  ?= 3000

.PHONY: demo test emulated rounding student book book-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Install, then the main job: DCGAN on the embedded 8x8 digits, and the first GAN on the
# embedded ring of Gaussians; pictures and numbers land in runs/ (--overwrite: a second
# `make demo` replaces the demo's own runs, where `minigan train` would refuse).
demo: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/minigan train dcgan --data digits --steps $(STEPS) --seed 0 --out runs/dcgan-digits --overwrite
	$(BIN)/minigan train gan --data ring8 --steps $(STEPS) --seed 0 --out runs/gan-ring8 --overwrite
	@echo "results: runs/dcgan-digits/ and runs/gan-ring8/: samples.png, metrics.json, losses.png"

# Install with the test extras, then run the whole suite, notebooks included (nbval), on two
# workers (one per core; each test module and each notebook is one unit for one worker: conftest.py).
test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pytest -q -n 2 --dist loadscope --no-loadscope-reorder

# The suite on an emulated GPU (minigan.emulated: a CuPy-like device on the CPU that raises
# wherever CuPy would: an implicit conversion to NumPy, a NumPy function on a device array, a
# host array mixed into a device operation), so that code dragging data to the host fails a
# test without a GPU. The host-only test files are left out (tests/emulation.py says which, why).
emulated: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pytest -q -n 2 --dist loadscope --no-loadscope-reorder --backend=emulated tests

# The training-quality tests and the notebooks' asserted cells under several roundings (BLAS
# kernels, numba or NumPy kernels): scripts/rounding_variants.py. `--notebooks` there runs every notebook.
rounding: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python scripts/rounding_variants.py $(ROUNDING_ARGS)

# The exercise versions of the notebooks, for handing out: build/student/*.ipynb
student: $(BIN)/python
	$(BIN)/python -m pip install --quiet "nbformat>=5.9"
	$(BIN)/python scripts/make_student_notebooks.py notebooks build/student

# The course as a static site with lecture slides, from the committed notebooks (nothing re-run):
# build/book/index.html, readable offline; the slides' reveal.js comes from the npm registry.
book: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[book]"
	$(BIN)/python scripts/build_book.py

# The built book and slides opened in headless Chromium (Debian: apt-get install chromium
# chromium-driver); screenshots in build/book-screenshots/. A missing piece fails, not skips.
book-test: book
	MINIGAN_BOOK_TEST=1 $(BIN)/python -m pytest -q -p no:xdist tests/test_book.py

clean:
	rm -rf runs build .pytest_cache
