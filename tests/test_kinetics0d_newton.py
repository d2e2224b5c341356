"""Structured Newton of kinetics0d steady states (issue 18 item 4).

nestfsss-like Al cases (the 50 nm film of cases/kinetics0d_al_weak_drive.toml at 80 mK;
photons at 2.5-10 Delta or phonon injection, tau_l = 1-50 tau_pb, P = 2e-3-2e-1 W/m^3) on
a small grid: the O(N log N) Jacobian diagonal is the dense Jacobian's, the
Schur-complement solve is the dense solve, Newton with GMRES on the exact action
(preconditioned by that diagonal; on the direct path the Schur LU at every iterate)
converges from the default start without fallback and without forming a block, and gives
the state of Newton with a dense LU of all unknowns to the per-entry tolerance, with
number and energy balance to round-off of the gross rates; the lagged Schur-LU path gives
the same state with one factorisation; at tau_l = 50 tau_pb (where nestfsss' iteration
stalls) the state is the end of a TS relaxation.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import CASES
from fvqp.case import load_case
from fvqp.models.kinetics0d.build import build_model
from fvqp.models.kinetics0d.diagonal import jacobian_diagonal
from fvqp.models.kinetics0d.newton import SchurLU
from fvqp.models.kinetics0d.solve import BLOCK_RTOL, OCCUPATION_FLOOR, evolve, steady_state

WEAK = (CASES / "kinetics0d_al_weak_drive.toml").read_text().split("[output]")[0]
VOLUME = 1000e-12 * 50e-9  # m^3 of the film
DRIVES = {"photon 2.5": ("photon", "425 ueV"), "photon 10": ("photon", "1700 ueV"),
          "phonon 5": ("phonon", "850 ueV")}


def _model(tmp_path, drive: str, tau_pb: float, p_density: float, method: str = "auto"):
    kind, energy = DRIVES[drive]
    text = WEAK.split("[[drives]]")[0].replace('escape_time = "12 ns"',
                                               f"escape_time_pb = {tau_pb:g}")
    text = text.replace('spacing = "4 ueV"', f'spacing = "6 ueV"\nmethod = "{method}"')
    text += (f'[[drives]]\ntype = "{kind}"\nenergy = "{energy}"\n'
             f'power = "{p_density * VOLUME:.6g} W"\n\n[time]\nsteady = true\n'
             f'[output]\ndirectory = "{tmp_path}"\n')
    path = tmp_path / "case.toml"
    path.write_text(text)
    return build_model(load_case(str(path)))[0]


def _rel(y, y_ref):
    return float(np.max(np.abs(y - y_ref) / np.maximum(np.abs(y_ref), OCCUPATION_FLOOR)))


def test_schur_solve_is_the_dense_solve(tmp_path):
    m = _model(tmp_path, "photon 10", 50, 2e-1)
    y = m.equilibrium(1.2 * m.t_bath)
    r = m.rhs(y) + 1e-3 * np.abs(m.rhs(y)).max() * np.cos(np.arange(m.size))
    x = SchurLU(*m.jacobian_blocks(y)).solve(r)
    x_ref = np.linalg.solve(m.jacobian(y), r)
    assert np.max(np.abs(x - x_ref)) < 1e-9 * np.max(np.abs(x_ref))


@pytest.mark.parametrize("drive", list(DRIVES))
def test_diagonal_is_the_dense_jacobians_diagonal(tmp_path, drive):
    """The O(N log N) diagonal (Toeplitz/Hankel FFT products, phonons from two residuals,
    the drives' own diagonals) equals the diagonal of the dense exact Jacobian (FFT
    round-off: measured <= 4e-10)."""
    m = _model(tmp_path, drive, 50, 2e-1)
    y = m.equilibrium(1.3 * m.t_bath)
    exact = np.diag(m.jacobian(y))
    assert np.max(np.abs(jacobian_diagonal(m, y) - exact) / np.abs(exact)) < 1e-8


def test_lagged_schur_lu_path_gives_the_same_state(tmp_path):
    """The Schur-LU path (the default before the diagonal level; the fallback when GMRES
    fails with the diagonal) still converges with one factorisation, to the same state."""
    m = _model(tmp_path, "photon 2.5", 1, 2e-1, "fft")
    y, res = steady_state(m, prefix="k0newton_lu_", linear="schur-lu")
    nfs = res.start["newton_from_start"]
    assert nfs["factorizations"] == 1 and nfs["diagonals"] == 0
    assert nfs["krylov_iterations"] >= 1
    y_d, _ = steady_state(m, prefix="k0newton_lu_d_")
    assert _rel(y, y_d) <= BLOCK_RTOL


@pytest.mark.parametrize("drive, tau_pb, power, method", [
    ("photon 10", 50, 2e-1, "auto"), ("phonon 5", 50, 2e-3, "auto"),
    ("photon 2.5", 1, 2e-1, "fft")])
def test_nestfsss_like_cases(tmp_path, drive, tau_pb, power, method):
    m = _model(tmp_path, drive, tau_pb, power, method)
    y, res = steady_state(m, prefix="k0newton_")
    nfs = res.start["newton_from_start"]
    assert res.start["guess"] == "quasi-thermal" and res.start["path"] == "newton"
    assert nfs["linear"] == "schur" and "schur_failed" not in res.start
    if m.method == "fft":  # GMRES preconditioned by the exact diagonal: no block, no LU
        assert nfs["factorizations"] == 0 and nfs["krylov_iterations"] >= 1
        assert nfs["diagonals"] == nfs["iterations"]
    else:  # full Newton with the Schur LU: one factorisation per correction
        assert nfs["factorizations"] == nfs["iterations"]
    y_d, res_d = steady_state(m, prefix="k0newton_dense_", linear="dense")
    assert _rel(y, y_d) <= BLOCK_RTOL
    # balances to round-off of the gross rates: QP number and total energy
    gain, loss = m.terms(y)
    rate = m.rhs(y)
    nq, wq, we = m.grid.n, m.grid.qp_weights, m.energy_weights
    assert abs(wq @ rate[:nq]) < 1e-9 * (wq @ (gain + loss)[:nq])
    assert abs(we @ rate) < 1e-9 * (we @ (gain + loss))
    assert m.input_power(y) == pytest.approx(m.escape_power(y), rel=1e-7, abs=0)


def test_slow_escape_agrees_with_ts_relaxation(tmp_path):
    """tau_l = 50 tau_pb: Newton's state is where a TS run from the bath ends up."""
    m = _model(tmp_path, "photon 10", 50, 2e-3)
    y, _ = steady_state(m, prefix="k0newton_slow_")
    y_ts, _ = evolve(m, m.equilibrium(), t_end=1e8, dt=1e-3, rtol=1e-7,
                     prefix="k0newton_slow_ts_")
    assert _rel(y_ts, y) <= 1e-4


def test_command_line_iteration_limit_reaches_the_petsc_newton(tmp_path):
    """-<prefix>snes_max_it 1 set as on the command line wins over the case's options
    (snes_max_it = 50): Newton on SNES stops after one correction with DIVERGED_MAX_IT
    (without the TS fallback), the error names the limit it used; afterwards only that
    option is in PETSc's database under the prefix."""
    from petsc4py import PETSc

    from fvqp.solvers import ConvergenceError

    m = _model(tmp_path, "photon 2.5", 1, 2e-1, "fft")
    db = PETSc.Options()
    db.setValue("k0newton_cli_snes_max_it", 1)
    try:
        with pytest.raises(ConvergenceError) as err:
            steady_state(m, prefix="k0newton_cli_", options={"snes_max_it": 50},
                         t_guess=None)
        left = {k for k in db.getAll() if k.startswith("k0newton_cli_")}
    finally:
        db.delValue("k0newton_cli_snes_max_it")
    msg = str(err.value)
    assert "DIVERGED_MAX_IT after 1 iterations" in msg and "now 1)" in msg
    assert left == {"k0newton_cli_snes_max_it"}
