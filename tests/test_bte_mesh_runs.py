"""bte cases end to end through `fvqp run`: Sharvin-to-Drude transmission of the film
constriction, particle balance of the transient pulse case, VTK read back, MPI = serial."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.special import ndtr

from conftest import MESHES, case_variant, centre_order, last_snapshot, run_fvqp

K_B, E = 1.380649e-23, 1.602176634e-19


def _drude_squares() -> float:
    """Conductance (in squares^-1) of the constriction between source and drain from a
    two-point diffusion solve on the same mesh (Dirichlet contacts, insulating walls)."""
    from fvqp.mesh import build_geometry, read_mesh

    geo = build_geometry(read_mesh(MESHES / "constriction" / "constriction_coarse.msh"))
    f0, n = geo.face_ptr[:-1], geo.n_cells
    inner = np.flatnonzero(geo.face_degree == 2)
    a, b = geo.inc_cell[f0[inner]], geo.inc_cell[f0[inner] + 1]
    ta, tb = geo.inc_tau[f0[inner]], geo.inc_tau[f0[inner] + 1]
    g = ta * tb / (ta + tb)
    lap = sp.coo_matrix((np.concatenate([g, g, -g, -g]), (np.concatenate([a, b, a, b]),
                                                         np.concatenate([a, b, b, a]))),
                        shape=(n, n)).tocsr()
    diag, rhs = np.zeros(n), np.zeros(n)
    src, drn = f0[geo.boundary_faces("source")], f0[geo.boundary_faces("drain")]
    np.add.at(diag, geo.inc_cell[src], geo.inc_tau[src])
    np.add.at(rhs, geo.inc_cell[src], geo.inc_tau[src])
    np.add.at(diag, geo.inc_cell[drn], geo.inc_tau[drn])
    u = spla.spsolve((lap + sp.diags(diag)).tocsc(), rhs)
    return float(np.sum(geo.inc_tau[drn] * u[geo.inc_cell[drn]]))


def test_constriction_sharvin_to_drude_crossover(tmp_path):
    """Film constriction (W = 1 um, d = 100 nm, hot contact at 300 mK, absorbing drain):

    * ballistic: the drain current is the Sharvin current of the neck,
      4 N0 v_F W d <mu_+> int_gap f(E) dE, <mu_+> = 1/(K sin(pi/K)) for K ordinates
      (1/pi + 0.6%), to the midpoint rule's accuracy in E (1%);
    * the transmission T(l) = I(l) / I_ball rises monotonically with l, stays below both
      limits 1 and T_Drude = (l / 2) G_sq / (<mu_+> W) (series resistances), and follows
      the Sharvin + Drude series law 1/T - 1 = 1/T_Drude within 30% across the crossover
      (measured: within 14%);
    * the current field written to VTK (the cell moment v sum_k w_k Omega_k f_k, which
      differs from the upwind face fluxes at first order in h: 7% on this mesh) carries
      the drain current through the neck within 10% — a check of the field's
      normalisation and SI units, not of the discretisation."""
    case = case_variant("bte_constriction.toml", tmp_path, **{
        'mean_free_paths = ["0.3 um", "1 um", "3 um", "10 um"]':
            'mean_free_paths = ["1 um", "3 um", "10 um"]'})
    run_fvqp(["run", case, "--output", tmp_path / "out"])
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["status"] == 0 and s["max_linear_iterations"] == 1  # serial: exact LU
    sw = s["sweep"]
    K = s["ordinates"]
    mu_plus = 1.0 / (K * math.sin(math.pi / K))
    gap = s["gap_ueV"] * 1e-6 * E
    kT = K_B * 0.3
    from fvqp.materials import get_material

    al = get_material("Al")
    e = np.linspace(gap, gap + 40 * kT, 20001)
    f_int = np.trapezoid(1 / (np.exp(e / kT) + 1), e)
    sharvin = 4 * al.N0 * al.fermi_velocity * 1e-6 * 100e-9 * mu_plus * f_int
    ball = -sw["ballistic"]["qp_rates_per_s"]["boundary:drain"]  # into the system: out < 0
    assert ball == pytest.approx(sharvin, rel=0.01)
    g_sq = _drude_squares()
    t = [r["transmission"]["boundary:drain"] for r in sw["runs"]]
    mfp = [r["mean_free_path_m"] * 1e6 for r in sw["runs"]]
    assert np.all(np.diff(t) > 0) and t[-1] < 1.0
    for m, tr in zip(mfp, t, strict=True):
        t_drude = 0.5 * m * g_sq / mu_plus
        assert tr < t_drude
        assert (1 / tr - 1) * t_drude == pytest.approx(1.0, abs=0.3), (m, tr, t_drude)
    # VTK: mean of J_x over the neck (6 < x < 8 um) times its area and the film thickness
    # / neck length = current through the neck = drain current of the l = 1 um main run
    _, mesh = last_snapshot(tmp_path / "out", "bte_constriction")
    c = np.asarray(mesh.cell_centers().points) * 1e6
    area = np.asarray(mesh.compute_cell_sizes()["Area"]) * 1e12  # um^2
    neck = (c[:, 0] > 6.0) & (c[:, 0] < 8.0)
    jx = np.asarray(mesh.cell_data["qp_current_x"])  # 1/(um^2 s)
    through = np.sum(jx[neck] * area[neck]) * 0.1 / 2.0
    assert through == pytest.approx(-s["qp_rates_per_s"]["boundary:drain"], rel=0.10)
    dens = np.asarray(mesh.cell_data["qp_density"])
    assert np.all(dens >= 0)
    # selected ordinates ([angles] output = [0, 4]): beyond the neck, in cells whose
    # backward ray along ordinate 0 (11.25 deg) passes through the neck opening, that
    # ordinate is fed by the beam and more occupied than the angle average, while
    # ordinate 4 (101.25 deg, slightly backwards) is less occupied
    back = c[:, 1] - (c[:, 0] - 8.0) * math.tan(math.pi / 16)
    right = (c[:, 0] > 9.0) & (np.abs(back) < 0.5)
    d0 = np.asarray(mesh.cell_data["qp_density_dir0"])[right]
    d4 = np.asarray(mesh.cell_data["qp_density_dir4"])[right]
    assert np.all(d0 > dens[right]) and np.all(d4 < dens[right])


PULSE_SHORT = {'end = "100 ps"': 'end = "20 ps"', "directions = 16": "directions = 8",
               "every = 5": "every = 2"}


@pytest.mark.parametrize("scheme", ["bdf1", "bdf2"])
def test_film_pulse_particle_balance_and_spreading(tmp_path, scheme):
    """QP pulse in the film: backward Euler and BDF2 conserve the QP number exactly
    (deposited = stored + trapped + absorbed to 1e-10; BDF2 flows accumulated with its own
    weights), every deposited QP is counted (1 eV over the spectrum's mean energy), and the
    density written to VTK is positive and centred on the spot."""
    case = case_variant("bte_film_pulse.toml", tmp_path, **PULSE_SHORT)
    case.write_text(case.read_text().replace('scheme = "bdf1"', f'scheme = "{scheme}"'))
    run_fvqp(["run", case, "--output", tmp_path / "s"])
    s = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert s["status"] == 0 and s["steps"] == 10
    q = s["qp_number"]
    dep = q["sources"]
    assert abs(q["imbalance"]) < 1e-10 * dep
    # deposit/<E>: 1 eV at ~250 ueV per QP (spectrum normalised to the energy)
    assert 1.0 / 280e-6 < dep < 1.0 / 220e-6
    # energy: every bin's QPs at its node energy; the part of the pulse (8 ps, sigma 2 ps)
    # in [0, 20 ps] of 1 eV deposited exactly, the balance closed as the number's
    e = s["energy_J"]
    e_in = 1.602176634e-19 * float(ndtr(6.0) - ndtr(-4.0))
    assert e["inflows"]["sources"] == pytest.approx(e_in, rel=1e-12, abs=0)
    assert abs(e["imbalance"]) < 1e-10 * e_in
    assert e["final_qp"] - e["initial_qp"] > 0.5 * e_in     # most of it still in the film
    _, mesh = last_snapshot(tmp_path / "s", "bte_film_pulse")
    n = np.asarray(mesh.cell_data["qp_excess"])
    c = np.asarray(mesh.cell_centers().points) * 1e6
    vol = np.asarray(mesh.compute_cell_sizes()["Area"]) * 1e12 * 0.1  # um^3
    assert n.min() > -1e-12 * n.max()
    assert np.sum(n * vol) == pytest.approx(q["final"], rel=1e-8)
    centre = np.sum(n[:, None] * vol[:, None] * c, axis=0) / np.sum(n * vol)
    assert centre[:2] == pytest.approx([50.0, 25.0], abs=1.0)
    # the current as one (n, 3) vector array (ParaView's arrows), the components the same
    # numbers as the scalar arrays; in-plane on the film (z = 0), and not all zero
    j = np.asarray(mesh.cell_data["qp_current"])
    assert j.shape == (mesh.n_cells, 3)
    for i, ax in enumerate("xyz"):
        assert np.array_equal(j[:, i], np.asarray(mesh.cell_data[f"qp_current_{ax}"])), ax
    assert np.all(j[:, 2] == 0.0) and np.max(np.abs(j[:, :2])) > 0


@pytest.mark.mpi
def test_bte_two_ranks_equal_serial(tmp_path):
    """Serial and `mpiexec -n 2` (block-Jacobi LU + GMRES) agree to 1e-8: the transient
    pulse (fields) and the constriction (currents of the sweep)."""
    case = case_variant("bte_film_pulse.toml", tmp_path, **PULSE_SHORT)
    run_fvqp(["run", case, "--output", tmp_path / "s"])
    run_fvqp(["run", case, "--output", tmp_path / "p"], nproc=2)
    _, a = last_snapshot(tmp_path / "s", "bte_film_pulse")
    _, b = last_snapshot(tmp_path / "p", "bte_film_pulse")
    oa, ob = centre_order(a), centre_order(b)
    for f in ("qp_density", "qp_current_x", "qp_current_y", "qp_energy_density"):
        x, y = np.asarray(a.cell_data[f])[oa], np.asarray(b.cell_data[f])[ob]
        assert np.max(np.abs(x - y)) <= 1e-8 * np.max(np.abs(x)), f
    sb = json.loads((tmp_path / "p" / "summary.json").read_text())
    sa = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert sb["ranks"] == 2 and sb["status"] == 0
    assert sb["qp_number"]["final"] == pytest.approx(sa["qp_number"]["final"], rel=1e-8)
    case = case_variant("bte_constriction.toml", tmp_path, **{
        'mean_free_paths = ["0.3 um", "1 um", "3 um", "10 um"]': 'mean_free_paths = []',
        "directions = 16": "directions = 8", 'spacing = "10 ueV"': 'spacing = "40 ueV"'})
    run_fvqp(["run", case, "--output", tmp_path / "cs"])
    run_fvqp(["run", case, "--output", tmp_path / "cp"], nproc=2)
    sa = json.loads((tmp_path / "cs" / "summary.json").read_text())
    sb = json.loads((tmp_path / "cp" / "summary.json").read_text())
    ra, rb = sa["qp_rates_per_s"], sb["qp_rates_per_s"]
    assert rb["boundary:drain"] == pytest.approx(ra["boundary:drain"], rel=1e-8)
    assert abs(sb["rate_imbalance_per_s"]) < -1e-9 * rb["boundary:drain"]  # out: < 0
