"""Issue 18 §1b: the QP Schur complement stored as float32 cell blocks with their own
block ILU(0) (``-<prefix>schur_storage cells``,
:class:`fvqp.solvers.cellblock_ilu.CellBlockILU`), against PETSc's point ILU(0) of the
AIJ storage."""

import json

import numpy as np
import pytest

from conftest import CASES, case_variant, coarse_components, run_fvqp


@pytest.fixture(scope="module")
def absorber(tmp_path_factory):
    """The shipped 3D absorber (520 hexahedra) in the ``schur`` mode at a non-equilibrium
    state (the bath perturbed by up to 30 %)."""
    from fvqp.case.loader import load_case
    from fvqp.models.transport.driver import TransportSimulation

    text = (CASES / "transport_absorber3d.toml").read_text().replace(
        "../meshes", str(CASES.parent / "meshes"))
    case = tmp_path_factory.mktemp("cells") / "absorber.toml"
    case.write_text(text + '\n[numerics]\njacobian = "schur"\n')
    sim = TransportSimulation(load_case(str(case)))
    rng = np.random.default_rng(18)
    x = sim.x0 * (1.0 + 0.3 * rng.uniform(-1.0, 1.0, sim.x0.shape))
    return sim.problem, sim.local(x)


def _schur_pc(problem, prefix: str, storage: str):
    from petsc4py import PETSc

    from fvqp.models.transport.schur import SchurPreconditioner

    PETSc.Options()[prefix + "schur_storage"] = storage
    try:
        return SchurPreconditioner(problem, prefix)
    finally:
        del PETSc.Options()[prefix + "schur_storage"]


def _block_ilu_reference(S, lo, hi, c_low, c_up, t):
    r""":math:`M^{-1}t` of the block ILU(0) :math:`M = (D + E_L)D^{-1}(D + E_U)`,
    :math:`D_k = S_k - \sum_{j<k} C_{kj}D_j^{-1}C_{jk}`, cell by cell in float64."""
    n, N = S.shape[:2]
    Dinv = np.empty_like(S)
    for k in range(n):
        D = S[k].copy()
        for q in np.nonzero(hi == k)[0]:
            D -= c_low[q][:, None] * Dinv[lo[q]] * c_up[q][None, :]
        Dinv[k] = np.linalg.inv(D)
    w = np.empty_like(t)
    for k in range(n):
        y = t[k].copy()
        for q in np.nonzero(hi == k)[0]:
            y -= c_low[q] * w[lo[q]]
        w[k] = Dinv[k] @ y
    z = w.copy()
    for k in range(n - 1, -1, -1):
        g = np.zeros(N)
        for q in np.nonzero(lo == k)[0]:
            g += c_up[q] * z[hi[q]]
        z[k] = w[k] - Dinv[k] @ g
    return z


def test_cell_storage_is_block_ilu0_in_single_precision(absorber):
    """The inner solve of the cell storage is the block ILU(0) of
    :mod:`fvqp.solvers.cellblock_ilu`: at a BDF shift of 10 (steps of ~1 ns, where the
    transport couples the cells) it equals a float64 cell-by-cell block ILU(0) of the
    same float32 blocks and couplings to 1e-5 of its largest entry (measured 3.0e-6: the
    float32 rounding of the inverses and sweeps), while PETSc's point ILU(0) of the AIJ
    storage differs from it by more than 1e-3 (measured 4.6e-3: the test tells the two
    apart) and leaves a larger preconditioned residual (measured 7.9e-3 against 5.1e-3
    of the right-hand side). At a shift of 1e3 the two ILUs agree, and so do the whole
    phonon-eliminating applications of the two storages (1e-6; measured 2.8e-8)."""
    p, xl = absorber
    aij = _schur_pc(p, "h3aij_", "aij")
    cells = _schur_pc(p, "h3cells_", "cells")
    assert aij.storage == "aij" and aij.ilu is None and aij.ksp is not None
    assert cells.ilu is not None and cells.ksp is None
    assert cells.ilu.blocks.dtype == np.float32
    assert len(cells.ilu.levels) > 1  # a real triangular sweep, not block Jacobi
    ilu = cells.ilu
    kept = {}
    factor = ilu.factor

    def keep_then_factor():
        kept["S"] = ilu.blocks[ilu.slot].astype(np.float64)  # natural cell order
        kept["cl"], kept["cu"] = ilu.c_low.astype(np.float64), ilu.c_up.astype(np.float64)
        factor()

    ilu.factor = keep_then_factor
    rng = np.random.default_rng(7)
    for pc in (aij, cells):
        pc.update(xl, 10.0)
    t = rng.standard_normal((p.n, p.N))
    want = _block_ilu_reference(kept["S"], ilu.lo, ilu.hi, kept["cl"], kept["cu"], t)
    zc = cells._smooth(t.ravel()).reshape(p.n, p.N)
    za = aij._smooth(t.ravel()).reshape(p.n, p.N)
    scale = np.max(np.abs(want))
    assert np.max(np.abs(zc - want)) <= 1e-5 * scale
    assert np.max(np.abs(za - want)) > 1e-3 * scale

    def s_t(v):  # S_T v from the kept blocks and couplings
        out = np.einsum("cij,cj->ci", kept["S"], v)
        np.add.at(out, ilu.hi, kept["cl"] * v[ilu.lo])
        np.add.at(out, ilu.lo, kept["cu"] * v[ilu.hi])
        return out

    assert np.linalg.norm(t - s_t(zc)) < np.linalg.norm(t - s_t(za))
    for pc in (aij, cells):
        pc.update(xl, 1e3)
    r = rng.standard_normal(p.n * p.B)
    ra, rc = aij.apply(r), cells.apply(r)
    assert np.max(np.abs(rc - ra)) <= 1e-6 * np.max(np.abs(ra))


def test_default_storage_is_the_cells_where_they_apply(absorber):
    """The default storage (``auto``) is the float32 cell blocks on one rank with the
    default inner solve (the hexahedral absorber), and AIJ under a PETSc inner solve the
    case chooses (the cell storage has no PETSc KSP to configure); ``aij`` is kept when
    asked for."""
    from petsc4py import PETSc

    from fvqp.models.transport.schur import SchurPreconditioner

    p, _ = absorber
    auto = SchurPreconditioner(p, "h3auto_")
    assert auto.storage == "cells" and auto.ilu is not None and auto.ksp is None
    PETSc.Options()["h3asm_schur_pc_type"] = "asm"
    try:
        asm = SchurPreconditioner(p, "h3asm_")
    finally:
        del PETSc.Options()["h3asm_schur_pc_type"]
    assert asm.storage == "aij" and asm.ilu is None and asm.ksp is not None
    aij = SchurPreconditioner(p, "h3forced_", {"storage": "aij"})
    assert aij.storage == "aij" and aij.ksp is not None


def test_cell_ilu_refuses_triangles_and_is_exact_on_a_chain():
    """Three pairwise-neighbour cells (a triangle in the face graph) break the closed form
    of the module: refused. On a chain of cells nothing is dropped, so the block ILU(0)
    is the exact inverse of the coupled matrix (to float32 round-off; a point ILU(0),
    which keeps only the pivots of the neighbours' factors, is not), and without
    couplings the exact inverse of each block."""
    from fvqp.solvers.cellblock_ilu import CellBlockILU

    with pytest.raises(ValueError, match="pairwise neighbours"):
        CellBlockILU(3, 2, np.array([0, 1, 2]), np.array([1, 2, 0]))
    rng = np.random.default_rng(1)
    n, N = 4, 5
    a, b = np.array([0, 2, 1]), np.array([1, 3, 2])  # a chain, pairs in any order
    S = rng.standard_normal((n, N, N)) + 8 * np.eye(N)
    r = rng.standard_normal(n * N)
    for scale in (0.0, 1.5):
        ab, ba = scale * rng.standard_normal((2, 3, N))
        ilu = CellBlockILU(n, N, a, b)
        ilu.set_blocks(np.arange(n), S)
        ilu.set_couplings(a, b, ab, ba)
        ilu.factor()
        full = np.zeros((n * N, n * N))
        for c in range(n):
            full[c * N:(c + 1) * N, c * N:(c + 1) * N] = S[c]
        e = np.arange(N)
        for q in range(3):
            full[a[q] * N + e, b[q] * N + e] = ab[q]
            full[b[q] * N + e, a[q] * N + e] = ba[q]
        want = np.linalg.solve(full, r)
        assert np.max(np.abs(ilu.solve(r) - want)) <= 1e-5 * np.max(np.abs(want))


@pytest.mark.slow
def test_burst_counts_and_answers_equal_the_aij_storage(tmp_path):
    """Six BDF steps of the absorber burst: the cell storage takes the same Newton
    iterations and Krylov iterations within one per Newton iteration as the AIJ storage
    (measured over 12 steps: 27 Newton both, 169 vs 172 Krylov), and the stored energy
    and QP number agree to the Newton tolerance (1e-6)."""
    out = {}
    for storage in ("aij", "cells"):
        (tmp_path / storage).mkdir()
        # the grid the flow resolutions below were measured on (the case's former e_max)
        case = case_variant("transport_absorber3d.toml", tmp_path / storage,
                            **{'e_max = "1.34 meV"': 'e_max = "1.2 meV"'})
        case.write_text(case.read_text() + '\n[numerics]\njacobian = "schur"\n\n'
                        f'[solver.petsc]\nschur_storage = "{storage}"\n')
        run_fvqp(["run", case, "--output", tmp_path / storage / "out", "--max-steps", "6"])
        out[storage] = json.loads((tmp_path / storage / "out" / "summary.json").read_text())
    a, c = out["aij"], out["cells"]
    assert (a["schur_storage"], c["schur_storage"]) == ("aij", "cells")  # as asked
    assert c["newton_iterations"] == a["newton_iterations"]
    assert abs(c["linear_iterations"] - a["linear_iterations"]) <= a["newton_iterations"]
    assert c["energy_J"]["final"] == pytest.approx(a["energy_J"]["final"], rel=1e-6, abs=0)
    assert c["qp_number"]["final"] == pytest.approx(a["qp_number"]["final"], rel=1e-6, abs=0)
    # flow resolutions (summary.json flow_resolution): after 6 steps (0.32 ns; 0.26 ns
    # before the pulse's steps of 2026-11-28) the QPs have not reached the lead's bath
    # contact: its flow is ~1e-30 QPs against a resolution of 0.27 QPs at atol = 1e-8
    # (0.8554 QPs per ns: the lead's occupations sit at the bath's, so every one is
    # resolved to atol and the resolution grows with the time; 0.2224 at 0.26 ns), named
    # unresolved by both runs (it moved by 8.5e-6 relative between the
    # storages, 4e-3 after 12 steps, as much as between Newton tolerances 100x apart: the
    # digits of the linear solves), and so is the phonon escape (-1.4e-20 J against
    # 4.0e-18 J); every flow of the two runs agrees to within newton_tol (1e-3) of its
    # resolution (measured at most 7e-15 of it)
    for s in (a, c):
        res = s["flow_resolution"]
        assert res["unresolved"] == ["energy_J.boundary:lead_end", "energy_J.escape",
                                     "qp_number.boundary:lead_end"]
        lead = res["qp_number"]["boundary:lead_end"]
        assert lead == pytest.approx(0.8554e9 * s["t_end_s"], rel=1e-3, abs=0)
        assert abs(s["qp_number"]["boundary:lead_end"]) < 1e-20 * lead
    checked = 0
    for b in ("energy_J", "qp_number"):
        for k, res in a["flow_resolution"][b].items():
            assert c["flow_resolution"][b][k] == pytest.approx(res, rel=1e-6, abs=0)
            assert abs(a[b][k] - c[b][k]) <= 1e-3 * res
            checked += res > 0
    assert checked == 3  # lead_end (energy, number) and escape carry a resolution


def test_cell_storage_two_level_is_galerkin(absorber):
    """The aggregate coarse level on the cell storage (``schur_coarse_aggregates``): the
    product with the kept float32 matrix is the double-precision product with the blocks
    and couplings the factorisation saw (1e-12; a float32 product lost ~1e-3 of the
    smoothed residual to cancellation), and after the coarse correction the residual has
    no component left in the coarse space, P^T (t - S z) = 0 (1e-10 of the component
    before; measured 2e-12), which holds only if the coarse operator is exactly P^T S P
    of the stored matrix (an operator from the double transport entries left 7e-6)."""
    from petsc4py import PETSc

    from fvqp.models.transport.schur import SchurPreconditioner

    p, xl = absorber
    PETSc.Options()["h3tl_schur_coarse_aggregates"] = 8
    try:
        pc = SchurPreconditioner(p, "h3tl_")
    finally:
        del PETSc.Options()["h3tl_schur_coarse_aggregates"]
    assert pc.storage == "cells" and pc.coarse is not None and pc.coarse.n_agg == 8
    ilu, kept = pc.ilu, {}
    factor = ilu.factor

    def keep_then_factor():
        kept["S"] = ilu.blocks[ilu.slot].astype(np.float64)
        kept["cl"], kept["cu"] = ilu.c_low.astype(np.float64), ilu.c_up.astype(np.float64)
        factor()

    ilu.factor = keep_then_factor
    pc.update(xl, 10.0)
    rng = np.random.default_rng(3)
    v = rng.standard_normal((p.n, p.N))
    want = np.einsum("cij,cj->ci", kept["S"], v)
    np.add.at(want, ilu.hi, kept["cl"] * v[ilu.lo])
    np.add.at(want, ilu.lo, kept["cu"] * v[ilu.hi])
    got = ilu.matvec(v.ravel()).reshape(p.n, p.N)
    assert np.max(np.abs(got - want)) <= 1e-12 * np.max(np.abs(want))
    t = rng.standard_normal(p.n * p.N)
    r0, r1 = coarse_components(pc, t)
    assert np.max(np.abs(r0)) > 1e-3 * np.max(np.abs(t))  # the smoother leaves some
    assert np.max(np.abs(r1)) <= 1e-10 * np.max(np.abs(r0))


def test_cell_storage_two_level_cuts_the_transient_krylov_count(tmp_path):
    """The shipped absorber case to 2 us (76 adaptive steps, most of them long: one-level
    Krylov per Newton 14.4 against ~5 through the burst) with the cell storage, one level
    and with 8 coarse aggregates (case keys ``schur_coarse_aggregates``,
    ``schur_storage``, which reach the preconditioner): the same steps and Newton
    iterations, at most 0.75x the Krylov iterations (measured 2 841 -> 1 909) and the
    same final energy to 1e-9 (the Newton tolerance)."""
    out = {}
    for name, extra in (("one", ""), ("two", "schur_coarse_aggregates = 8\n")):
        (tmp_path / name).mkdir()
        case = case_variant("transport_absorber3d.toml", tmp_path / name,
                            **{"every = 20": "every = 100000\nfigures = false"})
        case.write_text(case.read_text() + '\n[numerics]\njacobian = "schur"\n\n'
                        f'[solver.petsc]\nschur_storage = "cells"\n{extra}')
        run_fvqp(["-q", "run", case, "--output", tmp_path / name / "out"])
        out[name] = json.loads((tmp_path / name / "out" / "summary.json").read_text())
    one, two = out["one"], out["two"]
    assert (one["schur_storage"], two["schur_storage"]) == ("cells", "cells")
    assert (two["steps"], two["newton_iterations"]) == (one["steps"], one["newton_iterations"])
    assert two["linear_iterations"] <= 0.75 * one["linear_iterations"]
    assert two["energy_J"]["final"] == pytest.approx(one["energy_J"]["final"], rel=1e-9,
                                                     abs=0)


def test_inner_ksp_options_are_never_dropped_by_the_cell_storage(absorber):
    """The case's inner-KSP keys (``schur_<option>`` of ``[solver.petsc]``) configure a
    PETSc KSP the cell storage does not have: with ``schur_storage = "cells"`` they are
    refused by name, and ``auto`` takes the AIJ storage that uses them (until
    2026-11-24 fvqp's own keys such as ``schur_coarse_aggregates`` in a case were passed
    to PETSc as KSP options and had no effect)."""
    from fvqp.models.transport.schur import SchurPreconditioner

    p, _ = absorber
    with pytest.raises(ValueError, match="schur_sub_pc_factor_levels"):
        SchurPreconditioner(p, "h3bad_", {"storage": "cells", "sub_pc_factor_levels": 1})
    auto = SchurPreconditioner(p, "h3lvl_", {"sub_pc_factor_levels": 1})
    assert auto.storage == "aij"
    two = SchurPreconditioner(p, "h3agg_", {"coarse_aggregates": 4})
    assert two.storage == "cells" and two.coarse.n_agg == 4
