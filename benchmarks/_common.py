"""Helpers shared by the benchmark scripts: the environment of `mpiexec` runs and variants
of the shipped cases (one source for each benchmark's configuration: ``cases/``)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mpi_env() -> dict:
    """Environment for `mpiexec` runs as root in containers, one thread per rank, more ranks
    than cores allowed (counts and memory at 4 and 8 ranks on this 2-core machine)."""
    e = dict(os.environ)
    e.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
             OMPI_MCA_rmaps_base_oversubscribe="1",   # 4 and 8 ranks on 2 cores
             OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return e


def case_variant_text(name: str, mesh: str | Path | None,
                      subs: Sequence[tuple[str, str]]) -> str:
    """The text of ``cases/<name>`` with its mesh file replaced by ``mesh`` (absolute;
    None: the case's own mesh, made absolute) and every regular-expression substitution
    ``(pattern, replacement)`` of ``subs`` applied in order (each must match: a benchmark
    must not silently run the shipped configuration)."""
    text = (ROOT / "cases" / name).read_text()
    text, n = re.subn(r'(?m)^file = "\.\./meshes/(.*)"$',
                      lambda m: f'file = "{mesh or ROOT / "meshes" / m.group(1)}"', text)
    assert n == 1, f"{name}: no mesh file"
    for pattern, replacement in subs:
        text, n = re.subn(pattern, replacement, text)
        assert n > 0, f"{name}: {pattern!r} does not occur"
    return text


def case_variant(name: str, mesh: str | Path, subs: Sequence[tuple[str, str]],
                 path: Path) -> Path:
    """Write :func:`case_variant_text` to ``path``."""
    path.write_text(case_variant_text(name, mesh, subs))
    return path
