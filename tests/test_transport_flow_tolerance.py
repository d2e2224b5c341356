"""The resolution of transport's boundary, trap and escape flows at the run's tolerances
(``flow_resolution`` in summary.json, :meth:`fvqp.models.transport.balances.Balances.
flow_resolution`): what one local error tolerance atol + rtol|y| in the occupations next
to a flow carries. Two preconditioners at one Newton tolerance agree on every flow to
within Newton's share of it; a flow below its resolution is named unresolved (its digits
are those of the linear solves, not of any tolerance). The absorber burst with two Schur
storages: tests/test_transport_schur_cells.py (the same two runs)."""


import numpy as np
import pytest
from test_transport_model import local
from test_transport_phonon_diffusion import network


def test_resolution_is_the_flow_change_of_one_tolerance():
    """Every flow that is linear in the state (tunnel and bath contacts, QPs and phonons
    into the trap, phonon escape) changes by exactly its resolution when every
    non-algebraic occupation drops by its tolerance a + r|y| (to 1e-12): the resolution
    is the flow's own sensitivity, face by face, with no row left out or counted twice.
    The rates carry it under ``res:`` keys only when a tolerance is set."""
    p = network()
    rng = np.random.default_rng(18)
    xl = local(p, p.equilibrium() * (1 + 0.3 * rng.random(p.n * p.B)))
    assert not any(k.startswith("res:") for k in p.rates(xl, 0.0, 1.0))
    a, r = 1e-4, 1e-2
    p.flow_tolerance = (a, r)
    res = p.flow_resolution(xl)
    y = xl.reshape(-1, p.B).copy()
    w = a + r * np.abs(y)
    w[:, :p.N][p.alg_f] = 0.0
    w[:, p.N:][p.ph_fixed] = 0.0
    before = p.rates(xl, 0.0, 1.0)
    after = p.rates((y - w).ravel(), 0.0, 1.0)
    assert sorted(res) == sorted(k for k in before if k.startswith(("E:boundary", "N:boundary"))
                                 or k in ("E:trap", "N:trap", "E:escape"))
    for k, v in res.items():
        assert before["res:" + k] == v
        assert after[k] - before[k] == pytest.approx(v, rel=1e-12, abs=1e-14 * abs(before[k]))
    assert res["N:boundary:end_3"] == 0.0  # insulating: exactly no flow
    for k in ("N:boundary:end_1", "N:boundary:end_2", "N:trap", "E:escape"):
        assert res[k] > 0.0


def test_two_krylov_tolerances_agree_within_newtons_share_of_each_resolution():
    """Adaptive BDF2 on the tunnel-driven Y network (0.03 tau0, 10 steps), GMRES + ILU at
    ksp_rtol 1e-12 and 1e-5 (Newton's correction test at newton_tol = 1e-3 either way):
    every flow agrees to newton_tol of its resolution (measured at most 9e-10 of it). The
    injection (1.2e-2 against 1.0e-8), the trap's QP number and the escape are resolved
    and agree to 1e-12 relative; the bath contact, which the injected QPs have not
    reached (1.6e-18 against 3.5e-7), is unresolved: its value moved by 19 % between the
    two Krylov tolerances -- the absorber's lead-end flow in small."""
    from fvqp.solvers import BDFIntegrator, BDFOptions, JacobianConfig

    acc = {}
    for k, rtol in enumerate((1e-12, 1e-5)):
        p = network()
        opts = BDFOptions(dt_initial=0.02, rtol=1e-4, atol=1e-9)
        p.flow_tolerance = (opts.atol, opts.rtol)
        integ = BDFIntegrator(p, p.equilibrium(), 0.0, f"tft{k}_",
                              {"ksp_type": "gmres", "pc_type": "ilu", "ksp_rtol": rtol},
                              opts, jacobian=JacobianConfig(block_size=p.B))
        integ.run(0.03)
        acc[rtol] = integ.accumulated
    a, b = acc[1e-12], acc[1e-5]
    res = {k[4:]: v for k, v in a.items() if k.startswith("res:")}
    assert len(res) == 9
    for k, v in res.items():
        assert b["res:" + k] == pytest.approx(v, rel=1e-9, abs=0)
        assert abs(a[k] - b[k]) <= 1e-3 * v, k
    resolved = {k for k, v in res.items() if abs(a[k]) > v}
    assert resolved == {"E:boundary:end_1", "N:boundary:end_1", "N:trap", "E:escape"}
    for k in resolved:
        assert b[k] == pytest.approx(a[k], rel=1e-9, abs=0)
    assert abs(a["N:boundary:end_2"]) < 1e-9 * res["N:boundary:end_2"]
