"""The documentation runs: every ``>>>`` example in fvqp's docstrings and every
``docs/make_*_figure.py`` script (in a small variant, writing into a temporary directory).

A broken example or script fails here instead of in a reader's terminal.
"""

from __future__ import annotations

import doctest
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, mpi_env

PACKAGE = ROOT / "fvqp"
DOCS = ROOT / "docs"


def _modules_with_examples() -> list[str]:
    """Dotted names of the fvqp modules whose source holds a ``>>>`` prompt."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if ">>>" not in path.read_text(encoding="utf-8"):
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


MODULES = _modules_with_examples()
SCRIPTS = sorted(p.name for p in DOCS.glob("make_*_figure.py"))


def test_examples_and_scripts_are_found():
    # the collection above is not silently empty (a moved package or docs directory)
    assert "fvqp.collisions" in MODULES
    assert {"make_heat_figure.py", "make_transport_figure.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    """Each module's examples run, in the module's namespace, and print what they show."""
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    examples = [ex for t in tests for ex in t.examples
                if not ex.options.get(doctest.SKIP, False)]
    assert examples, f"{name} has '>>>' in its source but no runnable docstring example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for t in tests:
        runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def _script_constant(script: Path, name: str):
    """A module-level constant of a docs script, read without running the script."""
    import ast

    for node in ast.parse(script.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name
                                                for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{script.name} defines no {name}")


@pytest.mark.parametrize("script", SCRIPTS)
def test_docs_figure_script(script, tmp_path):
    """The script's small variant runs its case, writes a PNG of the size it asks for with a
    rendered (non-uniform) picture, and the numbers it prints are those of the result."""
    import pyvista as pv
    from PIL import Image

    path = DOCS / script
    png, run = tmp_path / "figure.png", tmp_path / "run"
    proc = subprocess.run([sys.executable, str(path), "--small", "--output", str(png),
                           "--workdir", str(run)], capture_output=True, text=True,
                          env=mpi_env(), cwd=tmp_path, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert f"wrote {png}" in lines

    with Image.open(png) as im:
        im.verify()
    with Image.open(png) as im:
        assert im.format == "PNG"
        assert im.size == _script_constant(path, "WINDOW")
        pixels = np.asarray(im.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # a picture, not a blank

    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == 0
    pvd = sorted(run.glob("*.pvd"))
    assert len(pvd) == 1
    reader = pv.get_reader(str(pvd[0]))
    times = list(reader.time_values)
    assert times[-1] == pytest.approx(summary["t_end_s"], rel=1e-12, abs=0)

    (t_printed,) = [float(m.group(1)) for m in map(re.compile(r"time (\S+) s$").match, lines)
                    if m]
    assert any(abs(t - t_printed) <= 1e-12 * t_printed for t in times), (t_printed, times)
    reader.set_active_time_value(t_printed)
    grid = reader.read()[0]
    ranges = [re.match(r"(\w+): min (\S+), max (\S+)$", ln) for ln in lines]
    ranges = [m for m in ranges if m]
    assert ranges, proc.stdout
    for m in ranges:
        values = grid.cell_data[m.group(1)]
        assert float(m.group(2)) == values.min()
        assert float(m.group(3)) == values.max()
        assert values.max() > values.min()  # the rendered field varies over the device


def test_no_control_characters_in_docs_and_docstrings():
    r"""No backspace, tab, vertical tab or form feed in ``docs/*.md`` and fvqp's
    sources: they are what ``\bar``, ``\tfrac``, ``\text`` and ``\frac`` become when a
    docstring or a generated text is not raw (found 2026-11-27 in two pages, where a
    reader saw "frac12" and "ar f")."""
    bad = re.compile("[\x08\x09\x0b\x0c]")
    found = [f"{p.relative_to(ROOT)}:{i}" for p in [*sorted(DOCS.glob("*.md")),
                                                   *sorted(PACKAGE.rglob("*.py"))]
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if bad.search(line)]
    assert not found, found
