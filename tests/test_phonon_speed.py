"""The phonon sweeps of the chip chain on cached systems (issue 17 §4): the films' absorption
minus emission rates put on the diagonal of per-bin matrices built once, in place, under
one KSP (:meth:`fvqp.models.phonon.problem.PhononProblem._shifted`) give the states of the
systems rebuilt per bin and sweep (the path before, ``reuse = False``) to round-off, with
the same Krylov counts, and a zero rate gives the system's own values back exactly."""

from __future__ import annotations

import numpy as np

from conftest import case_variant
from fvqp.case.loader import load_case


def test_film_rates_in_place_equal_rebuilt_systems(tmp_path):
    """The small chip case (358 cells: Si with dmm interfaces to three Al films, a bath,
    diffuse walls), one BE phonon sweep with the deposit's source and film rates of two
    different draws (the second on a diagonal that already carries the first): reused
    and rebuilt systems agree to 1e-12 of the largest occupation (measured 8e-16) with
    equal Krylov counts — each reused system factored for itself, as each rebuilt one is
    (``factor_spread = 0``; with the default, a factor kept across the bins, the iterates
    differ, and those sweeps agree with the rebuilt ones to 1e-12 too); zero rates
    afterwards give the states without rates bit for bit (the matrices' own diagonal
    restored)."""
    from fvqp.models.bte_chip.driver import ChipSimulation
    from fvqp.models.phonon.bins import FACTOR_SPREAD

    case = case_variant("bte_chip_deposit.toml", tmp_path,
                        **{"chip_layout/chip.msh": "chip_small/chip_small.msh"})
    case.write_text(case.read_text() + "\n[solver.petsc]\nfactor_spread = 0\n")
    sim = ChipSimulation(load_case(case))
    ph = sim.psim.problem
    assert ph.reuse
    dt = sim.dt
    x = ph.equilibrium(ph.n_bath)
    hist = ph.directional(x) / dt
    src = ph.source_rates(dt, 2 * dt)
    assert src.sum() > 0
    film = ph.reg[: ph.n] != sim.geometry.region_names.index("substrate")
    assert 0 < film.sum() < ph.n
    rng = np.random.default_rng(17)
    extras = []
    for _ in range(2):
        e = np.zeros((ph.N, ph.n))
        e[:, film] = rng.uniform(0.0, 50.0, (ph.N, int(film.sum())))
        extras.append(e)
    plain, _ = ph.sweep(1.0 / dt, hist=hist, src=src, x0=x)
    reused = [ph.sweep(1.0 / dt, hist=hist, src=src, x0=x, extra=e) for e in extras]
    again, _ = ph.sweep(1.0 / dt, hist=hist, src=src, x0=x, extra=0 * extras[0])
    assert ph.solver_counts()["systems_kept_factor"] == 0
    ph._spread = FACTOR_SPREAD              # the default rule: factors kept across bins
    kept = [ph.sweep(1.0 / dt, hist=hist, src=src, x0=x, extra=e) for e in extras]
    assert ph.solver_counts()["systems_kept_factor"] > 0
    ph.reuse = False
    rebuilt = [ph.sweep(1.0 / dt, hist=hist, src=src, x0=x, extra=e) for e in extras]
    ph.release()
    for (xa, ra), (xb, rb), (xk, rk) in zip(reused, rebuilt, kept, strict=True):
        assert all(r.success for r in ra) and all(r.success for r in rk)
        assert [r.iterations for r in ra] == [r.iterations for r in rb]
        assert np.max(np.abs(xa - xb)) <= 1e-12 * np.max(np.abs(xb))
        assert np.max(np.abs(xk - xb)) <= 1e-12 * np.max(np.abs(xb))
    # the film rates moved the states (the test sees them) and differ between the draws
    assert np.max(np.abs(reused[0][0] - plain)) > 1e-3 * np.max(np.abs(plain))
    assert np.max(np.abs(reused[0][0] - reused[1][0])) > 1e-6 * np.max(np.abs(plain))
    assert np.array_equal(again, plain)
