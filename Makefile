# The README's commands. Each creates .venv (Python 3.10+) and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STEPS  ?= 3000

.PHONY: demo test student clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Install, then train the first GAN on the embedded toy data and the embedded digits;
# pictures and numbers land in runs/.
demo: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/minigan train gan --data ring8 --steps $(STEPS) --seed 0 --out runs/gan-ring8
	$(BIN)/minigan train gan --data digits --steps $(STEPS) --seed 0 --out runs/gan-digits
	@echo "results: runs/gan-ring8/{samples.png,metrics.json}, runs/gan-digits/{samples.png,metrics.json}"

# Install with the test extras, then run the whole suite, notebooks included (nbval).
test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pytest -q

# The exercise versions of the notebooks, for handing out: build/student/*.ipynb
student: $(BIN)/python
	$(BIN)/python scripts/make_student_notebooks.py notebooks build/student

clean:
	rm -rf runs build .pytest_cache
