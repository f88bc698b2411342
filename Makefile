# The README's commands. Each creates .venv (Python 3.10+) and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STEPS  ?= 3000

.PHONY: demo test student clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Install, then the main job: DCGAN on the embedded 8x8 digits, and the first GAN on the
# embedded ring of Gaussians; pictures and numbers land in runs/.
demo: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/minigan train dcgan --data digits --steps $(STEPS) --seed 0 --out runs/dcgan-digits
	$(BIN)/minigan train gan --data ring8 --steps $(STEPS) --seed 0 --out runs/gan-ring8
	@echo "results: runs/dcgan-digits/ and runs/gan-ring8/: samples.png, metrics.json, losses.png"

# Install with the test extras, then run the whole suite, notebooks included (nbval).
test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pytest -q

# The exercise versions of the notebooks, for handing out: build/student/*.ipynb
student: $(BIN)/python
	$(BIN)/python scripts/make_student_notebooks.py notebooks build/student

clean:
	rm -rf runs build .pytest_cache
