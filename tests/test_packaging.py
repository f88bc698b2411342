"""pyproject.toml and environment.yml list the same dependencies with the same bounds."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")

CONDA_NAMES = {"cupy-cuda12x": "cupy"}      # PyPI name -> conda-forge name


def _split(req):
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    return m.group(1).lower(), m.group(2).replace(" ", "")


def pyproject_requirements():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra in meta["optional-dependencies"].values():
        reqs.extend(extra)
    return dict(_split(r) for r in reqs)


BOOK = ("sphinx", "myst-nb", "sphinx-book-theme", "sphinx-mathjax-offline", "nbconvert", "selenium")


def conda_requirements():
    text = (ROOT / "environment.yml").read_text().split("dependencies:", 1)[1]
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\s*(#\s*)?-\s*([A-Za-z0-9_.\-]+.*)$", line)
        if not m:
            continue
        commented, req = m.group(1), m.group(2)
        name, bound = _split(req)
        # only the optional lines are commented out: the GPU's, and the book's (pip-installed
        # by `make book`: not all of them are on conda-forge)
        if commented and name not in ("cupy",) + BOOK:
            continue
        if name != "python":
            out[name] = bound
    return out


def test_same_dependencies_in_pyproject_and_environment_yml():
    pip = {CONDA_NAMES.get(k, k): v for k, v in pyproject_requirements().items()}
    conda = conda_requirements()
    assert set(pip) == set(conda), (sorted(set(pip) ^ set(conda)))
    for name in pip:
        if name != "cupy":              # the CUDA-specific wheel and conda package differ
            assert pip[name] == conda[name], f"{name}: pyproject {pip[name]!r} vs environment.yml {conda[name]!r}"


def test_python_version_agrees():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["requires-python"] == ">=3.10"
    assert "python>=3.10" in (ROOT / "environment.yml").read_text()


def test_console_script_points_at_cli_main():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["scripts"]["minigan"] == "minigan.cli:main"
    from minigan.cli import main
    assert callable(main)
