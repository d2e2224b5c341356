"""Shared helpers: paths, a temporary case writer, and real `mpiexec` runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MESHES = ROOT / "meshes"
CASES = ROOT / "cases"


def mpi_env() -> dict:
    """Environment for `mpiexec` on CI machines (root, containers, 2 cores)."""
    env = dict(os.environ)
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                "OMPI_MCA_rmaps_base_oversubscribe": "1",
                "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
                "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
    return env


def case_variant(name: str, tmp_path, **repl) -> Path:
    """A copy of ``cases/<name>`` in ``tmp_path`` with absolute mesh paths and the text
    replacements ``repl`` (each ``old`` must occur: a silently unchanged case would test
    nothing)."""
    text = (CASES / name).read_text()
    text = text.replace('file = "../meshes/', f'file = "{CASES.parent}/meshes/')
    for old, new in repl.items():
        assert old in text, old
        text = text.replace(old, new)
    p = tmp_path / name
    p.write_text(text)
    return p


def case_with_values(name: str, tmp_path, **values) -> Path:
    """A copy of ``cases/<name>`` in ``tmp_path`` with absolute mesh paths and the lines
    ``key = ...`` replaced by ``key = value`` (each key must occur exactly once)."""
    import re

    text = (CASES / name).read_text().replace('file = "../meshes/',
                                              f'file = "{CASES.parent}/meshes/')
    for key, value in values.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert n == 1, key
    p = tmp_path / name
    p.write_text(text)
    return p


def run_fvqp(args, nproc: int = 1, timeout: float = 900, check: bool = True):
    """Run `python -m fvqp ARGS` (under `mpiexec -n nproc` if nproc > 1)."""
    cmd = [sys.executable, "-m", "fvqp", *map(str, args)]
    if nproc > 1:
        cmd = ["mpiexec", "-n", str(nproc), *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=mpi_env(), timeout=timeout,
                          cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n"
                             f"{proc.stderr}")
    return proc


@pytest.fixture
def write_case(tmp_path):
    """Write a case TOML (mesh paths relative to the repo's meshes/) into tmp_path."""

    def _write(text: str, name: str = "heat_test.toml") -> Path:
        text = textwrap.dedent(text).replace("@MESHES@", str(MESHES))
        p = tmp_path / name
        p.write_text(text)
        return p

    return _write
