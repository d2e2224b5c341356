"""Issue 18 §1: cells at the bath take the bath's linear response in the transport model's
residual, Jacobian actions and Schur preconditioner blocks (:mod:`fvqp.models.transport
.quiet`): one dense matrix per region and gap instead of the FFT operator per cell, the
same residual and Newton matrix to round-off, the same answers."""

import numpy as np
import pytest
import test_transport_condensed as _cond
import test_transport_single_actions as _single

from conftest import CASES, case_variant


@pytest.fixture(scope="module")
def burst_state(tmp_path_factory):
    """The shipped 520-cell absorber in the schur mode with the state transforms kept in
    double precision (``collision_spectra = "keep"``: the reference is then exact to
    round-off), at a state with both kinds of cells: a third perturbed by up to 1e-3
    (active), the rest at the bath, some of those moved by 0.5 ``QUIET_TOL`` (quiet) or
    by 2 ``QUIET_TOL`` (active)."""
    from fvqp.case.loader import load_case
    from fvqp.models.transport.driver import TransportSimulation
    from fvqp.models.transport.quiet import QUIET_TOL

    text = (CASES / "transport_absorber3d.toml").read_text().replace(
        "../meshes", str(CASES.parent / "meshes"))
    case = tmp_path_factory.mktemp("quiet") / "absorber.toml"
    case.write_text(text + '\n[numerics]\njacobian = "schur"\n'
                    '[solver.petsc]\ncollision_spectra = "keep"\n')
    sim = TransportSimulation(load_case(str(case)))
    p = sim.problem
    # the mechanism at one tolerance whatever the time term: a step's larger one
    # (quiet.tolerance) pinned to QUIET_TOL here, tested on its own below
    p.quiet_step_tol = QUIET_TOL
    rng = np.random.default_rng(5)
    y = np.tile(np.concatenate([p.f_bath, p.n_bath]), (p.loc.n_local, 1))
    kind = rng.integers(0, 4, p.loc.n_local)   # 0: active, 1: bath, 2: 0.5 tol, 3: 2 tol
    y[kind == 0] += 1e-3 * rng.random(((kind == 0).sum(), p.B))
    y[kind == 2] += 0.5 * QUIET_TOL * rng.random(((kind == 2).sum(), p.B))
    y[kind == 3] += QUIET_TOL * (2.0 + rng.random(((kind == 3).sum(), p.B)))
    xl = y.ravel().copy()
    xl.flags.writeable = False   # a frozen linearisation point, as Newton hands it
    return p, xl, kind


def _actions(p, xl, quiet_tol, v, w0, shift=3.0):
    """rhs_jvp and the condensed Schur actions (QP direction; with w0; w0 alone) at
    ``xl`` with the quiet tolerance ``quiet_tol``, and the quiet cells' count."""
    from fvqp.models.transport.condensed import PhononDiagonal

    p.quiet_tol = quiet_tol
    p._forget_point()
    jv = p.rhs_jvp(xl, v, 0.0, 1.0)
    y = xl.reshape(-1, p.B)
    d = PhononDiagonal(p, p._outer_derivative(y)[:, p.N:], shift)
    vf = v.reshape(-1, p.B)[:, :p.N]
    s1 = p.schur_action(xl, vf, shift, d)[0]
    s2, w2 = p.schur_action(xl, vf, shift, d, w0=w0)
    s3 = p.schur_action(xl, None, shift, d, w0=w0, keep_w=False)[0]
    return (jv, s1, s2, w2, s3), p._quiet_split(y)


def _counted(monkeypatch, module, name: str) -> list:
    """Replace ``module.name`` (a batched collision function of cells) by a wrapper
    that lists the number of cells of every call."""
    seen, real = [], getattr(module, name)

    def counting(f, *args, **kw):
        seen.append(len(f))
        return real(f, *args, **kw)

    monkeypatch.setattr(module, name, counting)
    return seen


def test_quiet_cells_act_as_the_fft_operator(burst_state, monkeypatch):
    """At the state of :func:`burst_state` the actions with quiet cells equal those of
    the FFT operator in every cell (``quiet_tol`` 0) to 1e-14 of each output's largest
    value (measured <= 5.4e-15: the cells moved by up to half QUIET_TOL take the bath's
    Jacobian, which differs from theirs by ~6.5 times that; exactly at the bath the two
    agree to round-off, <= 4e-16 in a separate check), exactly the cells within QUIET_TOL of
    the bath are quiet (the bath's and those moved by half of it, not those moved by
    twice it), and the FFT operator is not evaluated on them: the cells handed to
    :func:`batched_jvp` are the active ones only."""
    from fvqp.models.transport import problem as mod
    from fvqp.models.transport.quiet import QUIET_TOL

    p, xl, kind = burst_state
    rng = np.random.default_rng(9)
    v = rng.standard_normal(xl.shape)
    w0 = rng.standard_normal((p.n, p.M))
    seen = _counted(monkeypatch, mod, "batched_jvp")
    quiet, split = _actions(p, xl, QUIET_TOL, v, w0)
    fft_cells = sum(seen)
    full, none = _actions(p, xl, 0.0, v, w0)
    assert none.n_quiet == 0
    own = kind[:p.n]
    assert split.n_quiet == int(np.sum((own == 1) | (own == 2)))
    assert fft_cells == int(np.sum((own == 0) | (own == 3)))
    for a, b in zip(quiet, full, strict=True):
        assert np.max(np.abs(a - b)) <= 1e-14 * np.max(np.abs(b))


def test_quiet_residual_is_the_fft_residual(burst_state, monkeypatch):
    """The residual with quiet cells (their collision terms to first order about the
    bath, :class:`fvqp.models.transport.quiet.QuietTerms`) equals the FFT operator's in
    every cell to 1e-20 of its largest value (measured 5.7e-26: the second-order
    remainder at 1e-14 is ~1e-28 of a rate), its net pair breaking to 1e-14 (measured
    3e-16) and the same bits whether taken from the residual or evaluated again; the FFT
    operator's terms are evaluated on the active cells only."""
    from fvqp.models.transport import problem as mod
    from fvqp.models.transport.quiet import QUIET_TOL

    p, xl, kind = burst_state
    y = xl.reshape(-1, p.B)
    seen = _counted(monkeypatch, mod, "batched_terms")
    out = {}
    for tol in (QUIET_TOL, 0.0):
        p.quiet_tol = tol
        p._forget_point()
        seen.clear()
        r = p.rhs(xl, 0.0, 1.0)
        evaluated = sum(seen)
        cached = p.pair_breaking(y)
        p._pair = None
        assert p.pair_breaking(y) == cached
        out[tol] = (r, cached, evaluated)
    own = kind[:p.n]
    (rq, pq, nq), (rf, pf, nf) = out[QUIET_TOL], out[0.0]
    assert nf == p.n
    assert nq == int(np.sum((own == 0) | (own == 3)))
    assert np.max(np.abs(rq - rf)) <= 1e-20 * np.max(np.abs(rf))
    assert pq == pytest.approx(pf, rel=1e-14, abs=0)


def test_shared_preconditioner_blocks_are_the_cells_own(burst_state, monkeypatch):
    """The Schur preconditioner's float32 blocks S_T of quiet cells (their class's at the
    bath, scaled by the cell's storage) equal the ones made cell by cell to float32
    rounding (1e-6 of the block's largest entry; measured 1.3e-7), and the active cells'
    are their own (1e-9: made in a batch of other cells, measured 6.5e-11); the blocks
    made from the collision operator are the active cells' and one per class of the
    quiet cells."""
    from fvqp.models.transport.schur import SchurPreconditioner

    p, xl, kind = burst_state
    made = []
    real = SchurPreconditioner._schur_blocks

    def counting(self, y, sl, shift):
        out = real(self, y, sl, shift)
        made.append(len(out[0]))
        return out

    monkeypatch.setattr(SchurPreconditioner, "_schur_blocks", counting)
    blocks, counts = {}, {}
    for tol in (1e-14, 0.0):
        p.quiet_tol = tol
        p._forget_point()
        made.clear()
        pc = _cond._condensed_pc(p, xl, f"q{int(tol > 0)}_", "cells")
        blocks[tol] = pc.csr.cell_blocks(np.arange(p.n)).astype(float)
        counts[tol] = sum(made)
    own = kind[:p.n]
    classes = p.bath_response().classes
    quiet = (own == 1) | (own == 2)
    assert counts[0.0] == p.n
    assert counts[1e-14] == int(np.sum(~quiet)) + len(np.unique(classes[quiet]))
    a, b = blocks[1e-14], blocks[0.0]
    scale = np.max(np.abs(b), axis=(1, 2))
    err = np.max(np.abs(a - b), axis=(1, 2)) / scale
    assert np.max(err[(own == 1) | (own == 2)]) <= 1e-6
    assert np.max(err[(own == 0) | (own == 3)]) <= 1e-9


def test_burst_with_quiet_cells_is_the_burst_without(tmp_path):
    """Three fixed 0.2 ns BDF1 steps into the absorber burst with the condensed solve:
    quiet cells (the default, ``collision_quiet = "bath"``) against none (``"off"``):
    the same Newton and Krylov counts (measured 6 / 15), final energy, its escape and
    the QP number equal to 1e-12 (measured <= 3e-16); the default's actions took the
    bath's response in some cells (``cpu_calls`` ``quiet_cells``), ``"off"`` in none."""
    quiet = _single._fixed_burst(tmp_path, "bath", "0.2 ns")
    off = _single._fixed_burst(tmp_path, "off", "0.2 ns", 'collision_quiet = "off"\n')
    assert quiet["cpu_calls"]["quiet_cells"] > 0
    assert off["cpu_calls"]["quiet_cells"] == 0
    _same_burst(quiet, off)


def _same_burst(a: dict, b: dict) -> None:
    """Two burst summaries: the same Newton and Krylov counts, final energy, escape and QP
    number equal to 1e-12."""
    for k in ("newton_iterations", "linear_iterations"):
        assert a[k] == b[k], k
    for k in ("final", "escape"):
        assert a["energy_J"][k] == pytest.approx(b["energy_J"][k], rel=1e-12, abs=0), k
    assert a["N_qp"] == pytest.approx(b["N_qp"], rel=1e-12, abs=0)


def test_quiet_key_is_checked(tmp_path):
    """A ``collision_quiet`` value other than ``bath`` or ``off`` is refused at load,
    naming the key and its values."""
    from fvqp.case.loader import CaseError, load_case

    text = (CASES / "transport_absorber3d.toml").read_text().replace(
        "../meshes", str(CASES.parent / "meshes"))
    case = tmp_path / "bad.toml"
    case.write_text(text + '\n[solver.petsc]\ncollision_quiet = "sometimes"\n')
    with pytest.raises(CaseError, match="collision_quiet"):
        load_case(str(case))


def test_cells_with_gaps_of_their_own_are_never_quiet(burst_state):
    """A class takes part only with MIN_CELLS of the rank's cells: with every cell's gap
    moved by its own last bits (as a self-consistent gap does) no cell at the bath is
    quiet (no dense Jacobian per cell), with the regions' gaps every one is; at most
    MAX_CLASSES classes."""
    from fvqp.models.transport.quiet import MAX_CLASSES, QuietSplit

    p, _, _ = burst_state
    delta = p.delta.copy()
    bath = np.tile(np.concatenate([p.f_bath, p.n_bath]), (p.n, 1))
    try:
        p.set_gap(delta * (1.0 + 1e-15 * np.arange(len(delta))))
        r = p.bath_response()
        assert np.all(r.classes == -1)
        assert QuietSplit(bath, r.ref, r.classes, 64).n_quiet == 0
    finally:
        p.set_gap(delta)
    r = p.bath_response()
    assert 0 < len(r.rep) <= MAX_CLASSES
    assert QuietSplit(bath, r.ref, r.classes, 64).n_quiet == p.n


def test_shared_blocks_reach_the_coarse_level(burst_state):
    """With the AIJ storage and the optional coarse level on cell aggregates
    (``schur_coarse_aggregates``), the quiet cells' shared blocks are summed into the
    coarse operator as the cells' own are: its aggregate blocks equal those of a build
    without quiet cells to float32 rounding (1e-6 of the largest; measured 8e-9)."""
    p, xl, kind = burst_state
    blocks = {}
    for tol in (1e-14, 0.0):
        p.quiet_tol = tol
        p._forget_point()
        pc = _cond._condensed_pc(p, xl, f"qc{int(tol > 0)}_", "aij",
                                 options={"schur_coarse_aggregates": "8"})
        assert pc.coarse is not None
        blocks[tol] = pc.coarse.blocks.copy()
    a, b = blocks[1e-14], blocks[0.0]
    assert np.max(np.abs(a - b)) <= 1e-6 * np.max(np.abs(b))


def test_a_time_step_takes_the_tolerance_its_time_term_bounds(burst_state):
    """In a time step the quiet tolerance of each class is
    ``QUIET_STEP_REL sigma / (QUIET_SLOPE Jmax_c)`` between ``QUIET_TOL`` (a steady
    solve's) and ``QUIET_TOL_STEP`` (:func:`fvqp.models.transport.quiet.tolerance`), and
    what it claims holds on the 520-cell absorber at the time term sigma = 1 (both
    classes strictly between floor and cap), cells a third active, a third at the bath, a
    third moved by up to their class's tolerance:

    * the rows of the Jacobian action differ from the FFT operator's by at most
      ``QUIET_STEP_REL`` of the time term (sigma m |v|_inf; measured 3.8e-9 of it);
    * the first-order remainder of the quiet residual is at most half that times the
      cell's deviation (measured 2.8e-9 against 5e-9); it is extrapolated from 10^3 and
      2 10^3 times the deviation (quadratic and cubic in it), where the FFT operator's
      own rounding is negligible (at the deviation itself it sets the difference: up to
      1.5e-8 of sigma m delta at a 0.2 ns step);
    * the same state in a steady solve takes the steady tolerance: only the bath's third
      is quiet; a 0.2 ns step (sigma 8.9) takes the cap."""
    from fvqp.models.transport.quiet import (
        QUIET_SLOPE,
        QUIET_STEP_REL,
        QUIET_TOL,
        QUIET_TOL_STEP,
        step_sigma,
    )

    p, _, _ = burst_state
    saved = p.quiet_tol, p.quiet_step_tol
    try:
        p.quiet_tol, p.quiet_step_tol = QUIET_TOL, QUIET_TOL_STEP
        jmax = p.bath_response().jmax()
        tol = p.quiet_tolerance(1.0)
        np.testing.assert_allclose(tol, QUIET_STEP_REL / (QUIET_SLOPE * jmax), rtol=1e-15)
        assert np.all((QUIET_TOL < tol) & (tol < QUIET_TOL_STEP))
        assert np.all(p.quiet_tolerance(step_sigma(0.0, np.inf)) == QUIET_TOL)
        assert np.all(p.quiet_tolerance(step_sigma(0.0, 0.2e-9 / 1.78e-9)) == QUIET_TOL_STEP)

        rng = np.random.default_rng(11)
        ref = np.concatenate([p.f_bath, p.n_bath])
        base = np.tile(ref, (p.loc.n_local, 1))
        kind = rng.integers(0, 3, p.loc.n_local)   # 0: active, 1: moved, 2: bath
        cls = np.r_[p.bath_response().classes, np.full(p.loc.n_local - p.n, -1)]
        moved = (kind == 1) & (cls >= 0)
        base[kind == 0] += 1e-3 * rng.random(((kind == 0).sum(), p.B))
        dev = np.zeros_like(base)
        dev[moved] = tol[cls[moved], None] * (2 * rng.random((moved.sum(), p.B)) - 1)

        def frozen(s):
            x = (base + s * dev).ravel()
            x.flags.writeable = False
            return x

        def evaluate(x, tolerances, span):
            p.quiet_tol, p.quiet_step_tol = tolerances
            p._forget_point()
            jv = p.rhs_jvp(x, v, *span).reshape(-1, p.B)
            n_quiet = p._quiet_split(x.reshape(-1, p.B), step_sigma(*span)).n_quiet
            p._forget_point()
            return jv, p.rhs(x, *span).reshape(-1, p.B), n_quiet

        v = rng.standard_normal(base.size)
        step = (0.0, 1.0)
        x = frozen(1.0)
        jq, _, n_quiet = evaluate(x, (QUIET_TOL, QUIET_TOL_STEP), step)
        jf, _, n_none = evaluate(x, (0.0, 0.0), step)
        own = kind[:p.n]
        assert n_none == 0 and n_quiet == int(np.sum(moved[:p.n] | (own == 2)))
        mass = np.concatenate([p.m_f[:p.n], p.m_n[:p.n]], axis=1)
        scale = mass * np.max(np.abs(v.reshape(-1, p.B)[:p.n]), axis=1)[:, None]
        assert np.all(np.abs(jq - jf)[:p.n] <= QUIET_STEP_REL * 1.0 * scale)

        # the remainder R(s) = F(s) - Q(s) = a s^2 + b s^3 of the deviation s dev:
        # a + b at s = 1 from s = 10^3 and 2 10^3 (the linear model everywhere there)
        rem = {}
        for s in (1e3, 2e3):
            xs = frozen(s)
            rem[s] = (evaluate(xs, (0.0, 0.0), step)[1]
                      - evaluate(xs, (1.0, 1.0), step)[1])[:p.n]
        a = (8 * rem[1e3] - rem[2e3]) / (4 * 1e6)
        b = (rem[2e3] - 4 * rem[1e3]) / (4 * 1e9)
        delta = np.max(np.abs(dev[:p.n]), axis=1)[:, None]
        sel = moved[:p.n]
        assert np.all(np.abs(a + b)[sel] <= 0.5 * QUIET_STEP_REL * 1.0 * (mass * delta)[sel])

        steady = evaluate(x, (QUIET_TOL, QUIET_TOL_STEP), (0.0, np.inf))[2]
        assert steady == int(np.sum(own == 2))
    finally:
        p.quiet_tol, p.quiet_step_tol = saved
        p._forget_point()


def test_burst_with_the_step_tolerance_is_the_burst_with_the_steady_one(tmp_path,
                                                                         monkeypatch):
    """Three fixed 0.2 ns BDF1 steps into the absorber burst (condensed solve, in this
    process): the default step tolerance (``QUIET_TOL_STEP``, the cap at this time term)
    against the steady one in every solve (``QUIET_TOL_STEP`` set to ``QUIET_TOL``):
    more cell actions took the bath's response (measured 11 872 against 9 722), the same
    Newton and Krylov counts (6 / 15), final energy, escape and QP number equal to 1e-12
    (measured 4e-16)."""
    from fvqp.api import run_loaded_case
    from fvqp.case import load_case
    from fvqp.models.transport import problem as mod
    from fvqp.models.transport.quiet import QUIET_TOL

    def run(name):
        (tmp_path / name).mkdir()
        case = case_variant("transport_absorber3d.toml", tmp_path / name, **{
            'e_max = "1.34 meV"': 'e_max = "1.2 meV"', 'time = "1 ns"': 'time = "0.6 ns"',
            'dt_initial = "10 ps"': 'dt_initial = "0.2 ns"',
            "rtol = 1e-3": 'rtol = 1e-3\nadaptive = false\nscheme = "bdf1"'})
        case.write_text(case.read_text() + '\n[numerics]\njacobian = "schur"\n'
                        f'[solver.petsc]\n{_cond.CONDENSED}')
        return run_loaded_case(load_case(case), output_dir=str(tmp_path / name / "out"),
                               max_steps=3)

    step = run("step")
    monkeypatch.setattr(mod, "QUIET_TOL_STEP", QUIET_TOL)
    steady = run("steady")
    assert step["cpu_calls"]["quiet_cells"] > steady["cpu_calls"]["quiet_cells"] > 0
    _same_burst(step, steady)


def test_condensed_action_takes_the_tolerance_of_its_shift(burst_state):
    """The condensed solve's whole-system action (:meth:`fvqp.models.transport.condensed
    .CondensedSolve.action`) hands the Newton matrix's shift to ``rhs_jvp`` as its span
    (``quiet.shift_span``): at a point whose split it makes first, cells moved from the
    bath by up to 1e-11 are quiet at the shift of a 0.2 ns step (sigma 8.9: the cap) but
    active at sigma 0.01 (tolerances ~1e-13), where a fixed span of 1 would have made them
    quiet (tolerances 1.6e-11 and 6.9e-11)."""
    from fvqp.models.transport.condensed import CondensedSolve
    from fvqp.models.transport.quiet import QUIET_TOL, QUIET_TOL_STEP

    p, _, _ = burst_state
    saved = p.quiet_tol, p.quiet_step_tol
    try:
        p.quiet_tol, p.quiet_step_tol = QUIET_TOL, QUIET_TOL_STEP
        rng = np.random.default_rng(3)
        y = np.tile(np.concatenate([p.f_bath, p.n_bath]), (p.loc.n_local, 1))
        kind = rng.integers(0, 3, p.loc.n_local)   # 0: active, 1: moved, 2: bath
        y[kind == 0] += 1e-3 * rng.random(((kind == 0).sum(), p.B))
        y[kind == 1] += 1e-11 * rng.random(((kind == 1).sum(), p.B))
        x = y.ravel().copy()
        x.flags.writeable = False
        cond = CondensedSolve(p, None)
        v = rng.standard_normal((p.n, p.N))
        classes = p.bath_response().classes
        own = kind[:p.n]
        counted = {}
        for shift in (0.01, 8.9):
            p._forget_point()
            cond.set_point(x, shift)
            cond.action(v, None)
            counted[shift] = p._quiet[1].n_quiet
        assert counted[0.01] == int(np.sum((own == 2) & (classes >= 0)))
        assert counted[8.9] == int(np.sum((own >= 1) & (classes >= 0)))
    finally:
        p.quiet_tol, p.quiet_step_tol = saved
        p._forget_point()
