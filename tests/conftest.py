"""Shared helpers: paths, a temporary case writer, and real `mpiexec` runs."""

# Tolerances: SI quantities (J, s, W, A, m, ...) are compared with abs=0 / atol=0.
# `pytest.approx` also accepts anything within its default absolute tolerance of 1e-12,
# `np.isclose`/`np.allclose` within atol=1e-8: for energies ~1e-19 J, times ~1e-9 s or
# powers ~1e-15 W such a comparison cannot fail. Write `pytest.approx(x, rel=..., abs=0)`
# and `np.allclose(a, b, rtol=..., atol=0)`; where the expected value can legitimately
# be 0, give an explicit absolute tolerance on the quantity's own scale and say why.

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

#: BLAS/OpenMP threads pinned to one, here in the pytest process (set before numpy and
#: PETSc are imported: OpenBLAS reads them when it loads) and in every subprocess
#: (:func:`mpi_env`). A threaded OpenBLAS splits PETSc's dot products differently
#: (bte_film_relaxation: 9.6e-13 of a field's scale after 2 steps), and the in-process
#: bit-for-bit tests (test_bte_resume_inprocess) need one reduction order.
PINNED_THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
if "numpy" in sys.modules:  # a plugin imported it first: the pin may come too late
    warnings.warn("numpy was imported before tests/conftest.py pinned the BLAS threads; "
                  "run with OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1", stacklevel=1)
os.environ.update(PINNED_THREADS)

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MESHES = ROOT / "meshes"
CASES = ROOT / "cases"
# Guard against hung subprocesses only, never a speed requirement: generous for a loaded
# 2-core machine and below pytest-timeout's 1800 s (pyproject.toml), so that a hung child
# is killed by subprocess.run rather than left behind.
HANG_TIMEOUT = 1500.0


def mpi_env() -> dict:
    """Environment for `mpiexec` on CI machines (root, containers, 2 cores)."""
    env = dict(os.environ)
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                "OMPI_MCA_rmaps_base_oversubscribe": "1",
                "OMPI_MCA_btl_vader_single_copy_mechanism": "none", "PYTHONUNBUFFERED": "1",
                **PINNED_THREADS})
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


def single_refusal(name: str, tmp_path, **repl) -> str:
    """The one error of loading ``cases/<name>`` with the text replacements ``repl``
    (:func:`case_variant`): asserted to be refused with exactly one problem."""
    from fvqp.case.loader import CaseError, load_case

    with pytest.raises(CaseError) as exc:
        load_case(case_variant(name, tmp_path, **repl))
    errors = exc.value.errors
    assert len(errors) == 1, errors
    return errors[0]


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


def run_fvqp(args, nproc: int = 1, timeout: float = HANG_TIMEOUT, check: bool = True,
             env: dict | None = None):
    """Run `python -m fvqp ARGS` (under `mpiexec -n nproc` if nproc > 1); ``env`` adds
    to the environment of :func:`mpi_env`."""
    cmd = [sys.executable, "-m", "fvqp", *map(str, args)]
    if nproc > 1:
        cmd = ["mpiexec", "-n", str(nproc), *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**mpi_env(), **(env or {})},
                          timeout=timeout, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n"
                             f"{proc.stderr}")
    return proc


def script_result(script: str, nproc: int = 1, timeout: float = HANG_TIMEOUT):
    """Run the Python ``script`` (``python -c``; under ``mpiexec -n nproc`` if nproc > 1)
    and return the value its rank 0 printed on a line ``RESULT <repr>``."""
    cmd = [sys.executable, "-c", script]
    if nproc > 1:
        cmd = ["mpiexec", "-n", str(nproc), *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=mpi_env(),
                          timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(s for s in proc.stdout.splitlines() if s.startswith("RESULT"))
    return eval(line[len("RESULT"):])


_KILL_AFTER_CHECKPOINT = """
import os, signal, sys

import fvqp.io.checkpoint as ck

_write, _count, _n, _sig = ck.write_checkpoint, [0], int(sys.argv[1]), int(sys.argv[2])


def _write_then_die(*args, **kwargs):
    _write(*args, **kwargs)
    _count[0] += 1
    if _count[0] == _n:
        os.kill(os.getpid(), _sig)


ck.write_checkpoint = _write_then_die
for mod in list(sys.modules.values()):  # modules that imported the name already
    if getattr(mod, "write_checkpoint", None) is _write:
        mod.write_checkpoint = _write_then_die
from fvqp.cli import main

sys.exit(main(sys.argv[3:]))
"""


def run_fvqp_killed(args, after_checkpoints: int = 2, timeout: float = HANG_TIMEOUT,
                    sig: int = signal.SIGKILL):
    """Run `python -m fvqp ARGS` and send it ``sig`` (SIGKILL by default) right after its
    ``after_checkpoints``-th checkpoint is on disk (deterministic, unlike a kill after
    some wall-clock time, which on a loaded machine may come after the run has finished).
    Returns the process."""
    cmd = [sys.executable, "-c", _KILL_AFTER_CHECKPOINT, str(int(after_checkpoints)),
           str(int(sig)), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=mpi_env(),
                          timeout=timeout, cwd=ROOT)


def coarse_components(pc, t):
    """The coarse-space components :math:`P^T(t - S_Tz)` of the Schur preconditioner
    ``pc``'s residual after its smoothing and after the coarse correction on top (a
    Galerkin coarse operator leaves none in the second)."""
    N = pc.p.N
    z = pc._smooth(t)
    r0 = pc.coarse.R @ pc._residual(t, z).reshape(-1, N)
    z += pc.coarse.correct(pc._residual(t, z).reshape(-1, N)).ravel()
    return r0, pc.coarse.R @ pc._residual(t, z).reshape(-1, N)


def last_snapshot(out, name: str):
    """The time values of ``<out>/<name>.pvd`` and the first block of its last snapshot,
    read with pyvista (as ParaView reads the series)."""
    import pyvista as pv

    reader = pv.get_reader(os.path.join(str(out), f"{name}.pvd"))
    reader.set_active_time_value(reader.time_values[-1])
    return reader.time_values, reader.read()[0]


def phonon_deposit(time: str, duration: str, *place: str) -> str:
    """TOML text of a ``[[sources]]`` table: 1 keV of phonons with a Gaussian spectrum of
    2 +- 0.4 meV released at ``time`` within ``duration``, placed by the TOML lines
    ``place`` (``'region = "film"'``, or a position and a radius). (Its 3 widths stay
    below the top bin's edge of the tests' 4 bins to 3 meV, 3.375 meV; with 0.5 meV the
    grid cut it and ``fvqp check`` refuses the case.)"""
    return "\n".join(["[[sources]]", 'type = "phonons"', 'energy = "2 meV"',
                      'width = "0.4 meV"', 'deposit = "1 keV"', f'time = "{time}"',
                      f'duration = "{duration}"', *place, ""])


def heat_film_trap(bath: str, trap_thickness: str, injector: str) -> str:
    """TOML text of a heat case on the coarse film-trap mesh: a 100 nm Al film and an Al
    trap of ``trap_thickness`` with Tc = 0.9 K at bath temperature ``bath``, the injector
    edge given by the TOML lines ``injector``, film and trap edges insulated, the trap end
    at the bath (no sources, no ``[time]``)."""
    return f"""
model = "heat"
[mesh]
file = "@MESHES@/film_trap/film_trap_coarse.msh"
[bath]
temperature = "{bath}"
[regions.film]
material = "Al"
thickness = "100 nm"
[regions.trap]
material = "Al"
thickness = "{trap_thickness}"
Tc = "0.9 K"
[boundaries.injector]
{injector}
[boundaries.film_edges]
type = "insulated"
[boundaries.trap_edges]
type = "insulated"
[boundaries.trap_end]
type = "bath"
"""


@pytest.fixture
def write_case(tmp_path):
    """Write a case TOML (mesh paths relative to the repo's meshes/) into tmp_path."""

    def _write(text: str, name: str = "heat_test.toml") -> Path:
        text = textwrap.dedent(text).replace("@MESHES@", str(MESHES))
        p = tmp_path / name
        p.write_text(text)
        return p

    return _write


@pytest.fixture(autouse=True)
def _fvqp_logging_restored():
    """`fvqp.cli.main` configures the process-wide `fvqp` logger (own handler, level,
    no propagation): tests that call it in-process must not change what later tests'
    `caplog` sees."""
    import logging

    log = logging.getLogger("fvqp")
    saved = (list(log.handlers), log.level, log.propagate)
    yield
    log.handlers[:], log.level, log.propagate = saved[0], saved[1], saved[2]


@pytest.fixture(autouse=True)
def _petsc_options_removed():
    """Every test is one options session: the PETSc options fvqp inserts while a test
    builds solvers by hand are removed when it ends (as `fvqp run` removes them after a
    run), so no test inherits another's options and pytest ends without PETSc's list of
    unused options."""
    from fvqp.solvers.options import options_session

    with options_session():
        yield


def centre_order(mesh):
    """Cell order of a pyvista mesh sorted by cell centres (x, then y, then z): the same
    cells in the same order for a serial and a multi-rank output of one mesh."""
    import numpy as np

    c = np.asarray(mesh.cell_centers().points)
    return np.lexsort(c.T[::-1])


def serial_and_two_ranks(case, tmp_path):
    """Run ``case`` serially into ``tmp_path/s`` and with ``mpiexec -n 2`` into
    ``tmp_path/p``; both summaries (the 2-rank run finished on 2 ranks, status 0)."""
    import json

    run_fvqp(["run", case, "--output", tmp_path / "s"])
    run_fvqp(["run", case, "--output", tmp_path / "p"], nproc=2)
    sa = json.loads((tmp_path / "s" / "summary.json").read_text())
    sb = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert sb["ranks"] == 2 and sb["status"] == 0
    return sa, sb


def assert_phonon_ranks_agree(tmp_path, name, sa, sb, keys=("final", "boundary:bottom")):
    """The serial and 2-rank phonon runs of :func:`serial_and_two_ranks` (summaries
    ``sa``, ``sb``; case ``name``) agree to 1e-8: the summary energies ``keys`` and the
    energy density of every cell, matched by centre. Returns both last snapshots and
    their centre orders for further fields."""
    import numpy as np
    import pytest

    for k in keys:
        assert sb["energy_J"][k] == pytest.approx(sa["energy_J"][k], rel=1e-8, abs=0), k
    _, a = last_snapshot(tmp_path / "s", name)
    _, b = last_snapshot(tmp_path / "p", name)
    oa, ob = centre_order(a), centre_order(b)
    x = np.asarray(a.cell_data["phonon_energy_density"])[oa]
    y = np.asarray(b.cell_data["phonon_energy_density"])[ob]
    assert np.max(np.abs(x - y)) <= 1e-8 * np.max(np.abs(x))
    return a, b, oa, ob
