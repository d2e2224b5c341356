"""The usadel case files run end to end (CLI) and agree with the paper's numbers."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from conftest import CASES, case_with_values, run_fvqp
from fvqp.models.usadel.fitting import fit_i0, supercurrent_per_i0
from fvqp.models.usadel.observables import detector_current_eq21
from fvqp.models.usadel.spectral import uniform_solution
from fvqp.units import WireScales

E = 1.602176634e-19
#: Table 1 of Ryan et al. (2026)
TABLE1 = WireScales.from_resistance(265e-6 * E, 16.9e-4, 1450.0, 11e-6, 150e-9 * 8e-9)


def test_table1_derived_scales():
    """ξ = 65 nm, L_T(24 mK) = 733 nm (Table 1, Sec. IV), I0 = 30.9 µA (Sec. V)."""
    assert TABLE1.xi == pytest.approx(65e-9, rel=0.01, abs=0)
    assert TABLE1.thermal_length(0.024) == pytest.approx(733e-9, rel=0.002, abs=0)
    assert TABLE1.i0 == pytest.approx(30.9e-6, rel=0.01, abs=0)


def test_fit_i0_recovers_fig10b_value():
    """Eq. 6 with Eq. 7 depairing; fitting I0 to synthetic (∂xφ, I_s) returns 29.8 µA."""
    dphi = np.linspace(0.05, 0.6, 8)
    i_s = 29.8 * supercurrent_per_i0(dphi, t=0.008)
    assert fit_i0(dphi, i_s, t=0.008) == pytest.approx(29.8, rel=1e-10)
    # and the nonlinearity of I_s(∂xφ) from depairing is real: at ∂xφ = 0.6 the current is
    # below the linear (π/2) tanh law by more than 5 %
    lin = np.pi / 2 * dphi[-1]
    assert i_s[-1] / 29.8 < 0.95 * lin


@pytest.mark.slow
def test_nis_wire_case_charge_imbalance(tmp_path):
    """cases/usadel_nis_wire.toml by the CLI: outputs, Table 1 scales, and the detector
    current against the analytic Eqs. 20-21 (finite branches) to 0.5 %."""
    run_fvqp(["run", CASES / "usadel_nis_wire.toml", "--output", tmp_path])
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["status"] == 0
    assert s["xi_m"] == pytest.approx(TABLE1.xi, rel=1e-6, abs=0)
    assert s["I0_A"] == pytest.approx(TABLE1.i0, rel=1e-4, abs=0)  # rho rounded in the case
    assert (tmp_path / "usadel_nis_wire.png").stat().st_size > 10000
    with h5py.File(tmp_path / "usadel_nis_wire.h5") as f:
        V = f["bias_mV"][:] * 1e-3
        i_det = f["i_det_A"][:, 0]
        g_sa, g_ss = f["g_sa"][:, 0], f["g_ss"][:, 0]
        gap, mu_uv = f["gap_ueV"][:], f["mu_uV"][:]
    assert np.allclose(gap, 265.0)
    # the VTK file, opened by pyvista: 326 line cells over the 11 µm wire, points in m
    # and the gap in µeV as in every model's VTK (issue 20)
    import pyvista as pv

    m = pv.read(tmp_path / "usadel_nis_wire.vtu")
    assert m.n_cells == 326
    assert np.ptp(m.points[:, 0]) == pytest.approx(11e-6, rel=1e-9, abs=0)  # m
    assert np.allclose(m.cell_data["gap"], 265.0, atol=0)  # µeV
    mu = m.cell_data["charge_imbalance_potential"]  # V, cell mean of the nodal μ_Q*
    assert mu.max() == pytest.approx(mu_uv.max() * 1e-6, rel=0.05, abs=0) and mu.max() > 0
    # charge imbalance alone (Δ fixed) is even in V_inj: no antisymmetric part
    assert np.abs(g_sa).max() < 1e-6 * np.abs(g_ss).max()
    v = np.array([TABLE1.bias(x) for x in V])
    eps = np.arange(-400, 401) * 0.01
    ana = detector_current_eq21(uniform_solution(eps, 1.0, 1.53e-3), TABLE1.length(300e-9),
                                TABLE1.kappa(24.6e-6) / 2, v, TABLE1.t(0.061),
                                length=(TABLE1.length(5.2e-6), TABLE1.length(5.8e-6)))
    num = i_det / 31.4e-6 / (TABLE1.delta0 / E)
    m = np.abs(v) >= 1.2
    assert np.allclose(num[m], ana[m], rtol=5e-3)
    # key numbers (issue 20 §2): the injector's dI/dV at the last bias 3 Δ0/e is G_T times
    # the BCS DOS 3/√8 there (measured 1.2e-4, partly the one-sided difference of the
    # sweep's last step), the largest |g_nl| is that of the written g_nl
    assert s["keys"] == ["delta_centre_ueV", "x_centre_um", "bias_last_mV", "i_inj_last_A",
                         "g_inj_last_S", "g_nl_peak_S", "g_nl_peak_bias_mV"]
    assert s["g_inj_last_S"] == pytest.approx(24.6e-6 * 3 / np.sqrt(8), rel=1e-3, abs=0)
    with h5py.File(tmp_path / "usadel_nis_wire.h5") as f:
        g_nl, i_inj = f["g_nl"][:, 0], f["i_inj_A"][:]
    k = np.argmax(np.abs(g_nl))
    assert s["g_nl_peak_S"] == g_nl[k] and s["g_nl_peak_bias_mV"] == pytest.approx(
        V[k] * 1e3, rel=1e-12, abs=0)
    assert s["i_inj_last_A"] == i_inj[-1] and s["bias_last_mV"] == pytest.approx(
        0.795, rel=1e-12, abs=0)
    assert s["delta_centre_ueV"] == 265.0


@pytest.mark.slow
def test_paper_figure_cases_small_variants(tmp_path):
    """cases/usadel_fig1{0,1,2,3}.toml on reduced grids, by the CLI, with one physics check
    each (the full cases take minutes)."""
    out = {}
    variants = {
        "usadel_fig10.toml": {"points": 21},
        "usadel_fig11.toml": {"points": 2, "spacing": 0.05, "cells": 30},
        "usadel_fig12.toml": {"points": 3, "spacing": 0.05, "cells": 30, "det_points": 4},
        "usadel_fig13.toml": {"points": 11, "spacing": 0.05, "supercurrents_uA": "[3.0, 10.0]"},
    }
    for name, params in variants.items():
        d = tmp_path / name.removesuffix(".toml")
        run_fvqp(["run", case_with_values(name, tmp_path, **params), "--output", d])
        assert json.loads((d / "summary.json").read_text())["status"] == 0
        assert (d / f"{name.removesuffix('.toml')}.png").stat().st_size > 10000
        out[name] = h5py.File(d / f"{name.removesuffix('.toml')}.h5")
    f10 = out["usadel_fig10.toml"]
    g = f10["g_ss_ohm"][:]  # supercurrent depairing lowers g_ss
    assert g[0, -1] > g[1, -1] > g[2, -1] > 0
    # numerical Eqs. 9-10 vs Eq. 21 with the mesh's finite branches at I_s = 0 (0.18 % in
    # the full case), and the infinite-wire Eq. 21 is high at 3Δ0 (λ_Q* ~ branch length)
    v, num = f10["v_inj"][:], f10["g_ss_numerical_ohm"][:]
    fin = f10["g_ss_eq21_finite_branches_ohm"][:]
    m = np.abs(v) >= 1.2
    assert np.allclose(num[0, m], fin[0, m], rtol=5e-3)
    assert g[0, -1] > 1.05 * num[0, -1]
    f11 = out["usadel_fig11.toml"]
    assert f11["delta_inelastic"][-1] < f11["delta_elastic"][-1] - 0.02
    # the paper's units (Δ0, Δ0/e) named in the units attribute, µeV/mV beside them
    # (Δ0 = 265 µeV of Table 1), the key numbers in µeV in summary.json (issue 20)
    units = json.loads(f11.attrs["units"])
    assert units["delta_inelastic"] == "Delta0" and units["delta_inelastic_ueV"] == "ueV"
    assert units["v_inj_mV"] == "mV" and units["eps_ueV"] == "ueV"
    assert np.allclose(f11["delta_inelastic_ueV"][:], 265.0 * f11["delta_inelastic"][:],
                       rtol=1e-12, atol=0)
    assert np.allclose(f11["v_inj_mV"][:], 0.265 * f11["v_inj"][:], rtol=1e-12, atol=0)
    s11 = json.loads((tmp_path / "usadel_fig11" / "summary.json").read_text())
    assert s11["keys"] == ["delta_elastic_last_ueV", "delta_inelastic_last_ueV"]
    assert s11["delta_inelastic_last_ueV"] == pytest.approx(
        265.0 * f11["delta_inelastic"][-1], rel=1e-12, abs=0)
    gsa = out["usadel_fig12.toml"]["g_sa"][:]
    assert np.allclose(gsa, -gsa[:, ::-1], atol=1e-9 * np.abs(gsa).max())  # odd in V_det
    ga = out["usadel_fig13.toml"]["g_a_ohm"][:]
    assert np.allclose(ga, -ga[:, ::-1], atol=1e-9 * np.abs(ga).max())  # odd in V_inj
    assert np.abs(ga).max() > 1.0
    for f in out.values():
        f.close()


def test_case_errors_name_key_and_fix(tmp_path):
    from fvqp.case import CaseError, load_case

    text = (CASES / "usadel_nis_wire.toml").read_text().replace(
        "../meshes", str(CASES.parent / "meshes"))
    p = tmp_path / "usadel_bad.toml"
    p.write_text(text.replace('mode = "none"', 'mode = "uniform"'))
    with pytest.raises(CaseError) as exc:
        load_case(p)
    assert "selfconsistency.probe" in str(exc.value) and "Fix:" in str(exc.value)
    for old, new, key in (('detector = "junction_b"', 'detector = "junction_y"',
                           "sweep.detector"),
                          ('junction = "junction_a"', 'junction = "junction_b"',
                           "sweep.junction")):
        p.write_text(text.replace(old, new))
        with pytest.raises(CaseError) as exc:
            load_case(p)
        assert key in str(exc.value) and "Fix:" in str(exc.value)
    p.write_text(text.replace("[junctions.junction_b]", "[junctions.junction_x]"))
    proc = run_fvqp(["run", p, "--output", tmp_path / "o"], check=False)
    assert proc.returncode == 2
    assert "junction_x" in proc.stderr and "junction_b" in proc.stderr


_COUNT_CASES = [  # (case, {key: value}, the key the error must name)
    ("usadel_nis_wire.toml", {"points": 0}, "sweep.points"),
    ("usadel_nis_wire.toml", {"points": -3}, "sweep.points"),
    ("usadel_nis_wire.toml", {"detector_biases": "[]"}, "sweep.detector_biases"),
    ("usadel_nis_wire.toml", {"spacing": 5.0}, "energy.spacing"),
    ("usadel_fig11.toml", {"points": 0}, "paper.points"),
    ("usadel_fig12.toml", {"points": 1}, "paper.points"),
    ("usadel_fig11.toml", {"cells": 0}, "paper.cells"),
    ("usadel_fig12.toml", {"det_points": 0}, "paper.det_points"),
    ("usadel_fig13.toml", {"supercurrents_uA": "[]"}, "paper.supercurrents_uA"),
    ("usadel_fig13.toml", {"supercurrents_uA": "[10.0, 45.0]"}, "paper.supercurrents_uA"),
    ("usadel_fig10.toml", {"supercurrents_uA": "[-40.0]"}, "paper.supercurrents_uA"),
    ("usadel_fig13.toml", {"spacing": 20.0}, "paper.spacing"),
]


@pytest.mark.parametrize("name, values, key", _COUNT_CASES)
def test_zero_or_negative_counts_are_refused_at_validation(tmp_path, name, values, key):
    """Counts of the usadel schema that are zero or negative (``points = 0`` ended in a
    traceback after the run had started), an empty list of detector biases or
    supercurrents, fig12 with one injector bias, an energy spacing above energy.max
    (a grid of the single energy 0) and supercurrents of figs. 10/13 above the wire's
    depairing current (39.08 µA) are refused by load_case (what `fvqp check` runs)
    with the key, the file and a fix. (Before: IndexError, a singular LU, NaN Δ, an
    empty result with status 0, or the curve of 25.9 µA drawn under the label asked
    for.)"""
    from fvqp.case import CaseError, load_case

    p = case_with_values(name, tmp_path, **values)
    with pytest.raises(CaseError) as exc:
        load_case(p)
    msg = str(exc.value)
    assert f"{name}: {key}:" in msg and "Fix:" in msg


def test_smallest_counts_that_run_are_accepted(tmp_path):
    """The minimums are not stricter than the code: one sweep bias, one injector bias of
    fig11, one cell of the half wire pass validation (they run)."""
    from fvqp.case import load_case

    load_case(case_with_values("usadel_nis_wire.toml", tmp_path, points=1))
    load_case(case_with_values("usadel_fig11.toml", tmp_path, points=1, cells=1))


def test_max_iterations_zero_is_refused(tmp_path):
    """selfconsistency.max_iterations = 0 (declared positive; the schema checks the sign
    of floats only) is refused at validation."""
    from fvqp.case import CaseError, load_case

    p = tmp_path / "usadel_iter.toml"
    p.write_text((CASES / "usadel_nis_wire.toml").read_text()
                 .replace("../meshes", str(CASES.parent / "meshes"))
                 .replace('mode = "none"', 'mode = "uniform"\nprobe = "junction_a"\n'
                          "max_iterations = 0"))
    with pytest.raises(CaseError, match=r"usadel_iter.toml: selfconsistency.max_iterations:"
                                        r".*Fix:"):
        load_case(p)


def test_sweep_points_zero_by_the_cli(tmp_path):
    """`fvqp check` and `fvqp run` of a case with [sweep] points = 0: exit status 2 with
    the named error, no traceback, and the run writes nothing (refused before any solve)."""
    p = case_with_values("usadel_nis_wire.toml", tmp_path, points=0)
    for args in (["check", p], ["run", p, "--output", tmp_path / "out"]):
        proc = run_fvqp(args, check=False)
        assert proc.returncode == 2, proc.stderr
        assert "sweep.points" in proc.stderr and "Fix:" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_y_network_case_runs(tmp_path):
    """A case on meshes/wire_network (three wires with their own cross-sections, a normal
    reservoir at bias on one end): runs by the CLI; μ_Q* is largest at the N end and the
    VTK has the 180 cells."""
    p = _y_case(tmp_path, ends=("superconductor", "superconductor"), name="usadel_y")
    run_fvqp(["run", p, "--output", tmp_path / "o"])
    with h5py.File(tmp_path / "o" / "usadel_y.h5") as f:
        mu, pts = f["mu_uV"][:], f["points_um"][:]
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["status"] == 0 and s["nodes"] == 181
    end1 = np.argmin(np.linalg.norm(pts - [2.0, 0.0, 0.0], axis=1))
    assert np.argmax(mu) == end1 and mu[end1] > 0
    # the normal reservoir at 0.3 mV: μ_Q* = eV (Eqs. 4-5; was 600 µV before issue 19)
    assert mu[end1] == pytest.approx(300.0, rel=1e-6)
    import pyvista as pv

    m = pv.read(tmp_path / "o" / "usadel_y.vtu")
    assert m.n_cells == 180 and m.n_points == 181
    # region ids with their names in the field data (as the mesh models): the wires of
    # 2, 3 and 4 µm have 40, 60 and 80 cells of 50 nm
    names = list(m.field_data["region_names"])
    assert names == ["wire_1", "wire_2", "wire_3"]
    ids = m.cell_data["region"].astype(int)
    assert [int(np.sum(ids == names.index(f"wire_{k}"))) for k in (1, 2, 3)] == [40, 60, 80]
    # μ_Q* per cell (V) is the mean of its two nodes' μ_Q* of the HDF5 output (µV)
    cells = m.cells.reshape(-1, 3)[:, 1:]
    assert np.allclose(m.cell_data["charge_imbalance_potential"],
                       mu[cells].mean(axis=1) * 1e-6, rtol=1e-12, atol=1e-18)
    # Q* = 2eN0 μ_Q* = μ_Q*/(ρD) (Eqs. 4-5) per node and per cell
    with h5py.File(tmp_path / "o" / "usadel_y.h5") as f:
        q = f["q_star_C_per_m3"][:]
    assert np.allclose(q, mu * 1e-6 / (2e-8 * 20e-4), rtol=1e-12, atol=0)
    assert np.allclose(m.cell_data["charge_imbalance"],
                       m.cell_data["charge_imbalance_potential"] / (2e-8 * 20e-4), rtol=1e-12,
                       atol=0)
    # the charge current per cell (A) is the HDF5 edge current in the cell order, and at
    # the N end it is the summary's current into that reservoir
    with h5py.File(tmp_path / "o" / "usadel_y.h5") as f:
        edge = f["edge_current_A"][:]
    cur = m.cell_data["charge_current"]
    assert np.allclose(cur, edge, rtol=1e-12, atol=0)
    k = np.flatnonzero((cells == end1).any(axis=1))[0]
    i_end = s["reservoir_currents_A"]["end_1"]
    assert abs(cur[k]) == pytest.approx(abs(i_end), rel=1e-12, abs=0) and abs(i_end) > 1e-6


@pytest.mark.slow
def test_fit_case_recovers_the_parameters_of_the_numerical_data(tmp_path):
    """cases/usadel_nis_wire_fit.toml by the CLI: its data are the *numerical* Eqs. 9–10
    g_ss of the Table 1 wire (Γ = 1.53e-3, I_s = 0, 5, 10 µA with I0 = 29.8 µA, 0.5 %
    noise; cases/data/make_usadel_nis_wire_gss.py). The Eq. 21 fit through the case's
    SI parameters (κ_I = G_inj R_ξ/2, x and branch lengths from the mesh, injector
    temperature) recovers Γ to 2 %, the phase gradients to 1.5 % and I0 to 2 %."""
    run_fvqp(["run", CASES / "usadel_nis_wire_fit.toml", "--output", tmp_path])
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["status"] == 0 and s["biases_fitted"] == 39
    assert s["x_um"] == pytest.approx(0.3) and s["branches_um"] == pytest.approx([5.2, 5.8])
    assert s["gamma_over_delta0"] == pytest.approx(1.53e-3, rel=0.02)
    assert s["gamma_ueV"] == pytest.approx(1.53e-3 * 265, rel=0.02)
    assert s["dphi_per_xi"] == pytest.approx([0.0, 0.107183, 0.215984], rel=0.015)
    assert s["I0_fit_A"] == pytest.approx(29.8e-6, rel=0.02, abs=0)
    assert s["rms_residual_ohm"] < 0.01 * 180  # the data's 0.5 % noise, not a misfit
    assert s["keys"] == ["gamma_ueV", "I0_fit_A", "rms_residual_ohm"]
    with h5py.File(tmp_path / "usadel_nis_wire_fit.h5") as f:
        assert f["fit_ohm"].shape == f["g_ss_ohm"].shape == (81, 3)
    assert (tmp_path / "usadel_nis_wire_fit.png").stat().st_size > 10000


def test_fit_case_input_errors_name_key_file_and_fix(tmp_path):
    """Bad [fit] input is refused up front (also by `fvqp check`), naming the key, the
    file and the fix; a fit has nothing to resume."""
    text = (CASES / "usadel_nis_wire_fit.toml").read_text().replace(
        "../meshes", str(CASES.parent / "meshes")).replace(
        '"data/usadel_nis_wire_gss.csv"', '"gss.csv"')
    data = (CASES / "data" / "usadel_nis_wire_gss.csv").read_text()
    (tmp_path / "gss.csv").write_text(data)
    p = tmp_path / "usadel_fit.toml"
    bad = {
        "two columns for three supercurrents": (text.replace(
            '"5 uA", "10 uA"]', '"5 uA"]'), "fit.data",
            "has 3 g_ss column(s) but [fit] supercurrents lists 2"),
        "first column not at I_s = 0": (text.replace('["0 uA",', '["1 uA",'),
                                        "fit.supercurrents", "I_s = 0"),
        "unknown detector": (text.replace('detector = "junction_b"',
                                          'detector = "junction_x"'), "fit.detector",
                             "junction_x"),
        "missing file": (text.replace('"gss.csv"', '"nothere.csv"'), "fit.data",
                         "nothere.csv"),
    }
    for what, (t, key, words) in bad.items():
        p.write_text(t)
        proc = run_fvqp(["check", p], check=False)
        assert proc.returncode == 2, what
        assert key in proc.stderr and words in proc.stderr and "Fix:" in proc.stderr, what
    rows = data.splitlines()  # a row that is not comma-separated numbers
    rows[10] = rows[10].replace(",", ";", 1)
    (tmp_path / "gss.csv").write_text("\n".join(rows))
    p.write_text(text)
    proc = run_fvqp(["check", p], check=False)
    assert proc.returncode == 2 and "line 11" in proc.stderr and "fit.data" in proc.stderr
    (tmp_path / "gss.csv").write_text(data)
    proc = run_fvqp(["run", p, "--output", tmp_path / "o", "--resume"], check=False)
    assert proc.returncode == 2 and "not checkpointed" in proc.stderr


def _single_state(tmp_path, name, spacing, mode="uniform", extra=""):
    text = (CASES / "usadel_nis_wire.toml").read_text().replace(
        "../meshes", str(CASES.parent / "meshes"))
    text = text.replace('junction = "junction_a"\n', "").replace(
        'mode = "none"', f'mode = "{mode}"\nprobe = "junction_a"{extra}').replace(
        "spacing = 0.01\nmax = 4.0", f"spacing = {spacing}\nmax = 10.0")
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    return p


def test_case_gap_is_independent_of_the_energy_grid(tmp_path):
    """A self-consistent case (Δ from Eq. 8 at the probe, equilibrium, Γ = 1.53e-3 ≪ δε):
    the gap does not depend on how the energy grid meets the gap edge (δε = 1/40, 1/41,
    1/43 agree to 1e-4; the plain quadrature gave 1.001, 1.026, 0.956). A grid shorter than
    ω_D is refused (it would truncate Eq. 8)."""
    gaps = []
    for k, de in enumerate((1 / 40, 1 / 41, 1 / 43)):
        out = tmp_path / f"o{k}"
        run_fvqp(["run", _single_state(tmp_path, f"usadel_sc{k}", de), "--output", out])
        gaps.append(json.loads((out / "summary.json").read_text())["gap_min_ueV"])
    gaps = np.array(gaps) / 265.0
    assert np.ptp(gaps) < 1e-4 and 0.98 < gaps[0] < 1.0
    p = _single_state(tmp_path, "usadel_short", 0.05)
    p.write_text(p.read_text().replace("max = 10.0", "max = 4.0"))
    proc = run_fvqp(["run", p, "--output", tmp_path / "s"], check=False)
    assert proc.returncode == 2 and "energy.max" in proc.stderr and "Fix:" in proc.stderr


def _y_case(tmp_path, rho=(2e-8, 2e-8, 2e-8), diff=(20, 20, 20), area=(2000, 1000, 1000),
            ends=("normal", "normal"), name="usadel_y3"):
    """meshes/wire_network as a case: three wires (gap 180 µeV, ρ, D, A per wire), end_1 a
    normal reservoir at 0.3 mV, end_2 and end_3 of the types ``ends``."""
    meshes = CASES.parent / "meshes"
    regions = "".join(f'''[regions.wire_{k + 1}]
cross_section = "{area[k]} nm^2"
gap = "180 ueV"
resistivity = "{rho[k]} Ohm m"
diffusivity = "{diff[k]} cm^2/s"
dynes = "1 ueV"
''' for k in range(3))
    text = f'''model = "usadel"
[mesh]
file = "{meshes}/wire_network/wire_network.msh"
[bath]
temperature = "50 mK"
{regions}[boundaries.end_1]
type = "normal"
bias = "0.3 mV"
[boundaries.end_2]
type = "{ends[0]}"
[boundaries.end_3]
type = "{ends[1]}"
[energy]
spacing = 0.02
max = 4.0
[selfconsistency]
mode = "none"
[time]
steady = true
'''
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    return p


def test_wires_with_their_own_resistivity_and_diffusion_constant(tmp_path):
    """Per-wire ρ, D and A of the case (meshes/wire_network): the network's edge
    conductance is A/(ρL) in SI and its node weights A N0 with N0 = 1/(e²ρD); with the
    wires made normal, the currents from the biased end split as in the resistor network
    R_k = ρ_k L_k/A_k (Kirchhoff, linear response, exact for normal wires) — wire 2 has
    10× the resistivity, wire 3 twice the diffusion constant at the same resistivity."""
    from fvqp.case import load_case
    from fvqp.models.usadel.driver import build
    from fvqp.models.usadel.kinetic import solve_linear
    from fvqp.models.usadel.observables import charge_current
    from fvqp.models.usadel.spectral import SpectralProblem, solve_spectral

    rho, diff, area = (2e-8, 2e-7, 2e-8), (20, 20, 40), (2000, 1000, 1000)
    setup, meta = build(load_case(_y_case(tmp_path, rho, diff, area)))
    sc, net = meta["scales"], meta["net"]
    length_m = net.length * sc.xi
    k = net.edge_region
    a_m2 = np.array(area)[k] * 1e-18
    assert np.allclose(net.conductance / sc.r_xi, a_m2 / (np.array(rho)[k] * length_m),
                       rtol=1e-12)
    n0 = 1.0 / (np.array(rho) * np.array(diff))  # ∝ N0 per wire
    assert np.allclose(net.area, (a_m2 / sc.area) * n0[k] / n0[0], rtol=1e-12)
    # normal wires, normal reservoirs: resistor network
    prob = SpectralProblem(net, 0.0, gamma=1e-3, reservoirs=setup.reservoirs)
    kin = solve_linear(solve_spectral(prob, setup.eps), setup.reservoirs, [])
    i_e = charge_current(kin) * sc.i0
    wire_len = np.array([length_m[k == j].sum() for j in range(3)])
    R = np.array(rho) * wire_len / (np.array(area) * 1e-18)
    V = 0.3e-3
    i1 = V / (R[0] + 1.0 / (1.0 / R[1] + 1.0 / R[2]))
    i2, i3 = i1 * R[2] / (R[1] + R[2]), i1 * R[1] / (R[1] + R[2])
    for j, ref in enumerate((i1, i2, i3)):
        assert np.allclose(np.abs(i_e[k == j]), ref, rtol=1e-6, atol=0), j
    assert i3 > 5 * i2  # the 10× resistivity of wire 2 matters


def test_per_region_dynes_must_agree(tmp_path):
    from fvqp.case import CaseError, load_case

    p = _y_case(tmp_path)
    text = p.read_text().split("[regions.wire_2]")
    p.write_text(text[0] + "[regions.wire_2]" + text[1].replace('dynes = "1 ueV"',
                                                               'dynes = "2 ueV"', 1))
    with pytest.raises(CaseError, match=r"regions.wire_2.dynes.*Fix: give every region"):
        load_case(p)


@pytest.mark.slow
def test_supercurrent_map_case_gives_eqs_16_to_19(tmp_path):
    """[sweep] supercurrents on the NIS wire case (Δ fixed): for I_s = 0 and 5 µA the
    phase gradients that carry them (Eqs. 6–7 with the sample's I0) are imposed with both
    signs; g_a (Eq. 16) vanishes at I_s = 0 and is odd in V_inj, g_ss (Eq. 19) at I_s = 0
    is the plain sweep's, and g_a, g_s equal the independent Table 1 computation of
    Fig. 13 (paper.fig13_ga, same |∂xφ|; g_a with the sign of the current's direction) to
    1 % (Γ rounded to 0.405 µeV in the case). A current above the depairing critical
    current is refused before any sweep, in µA."""
    from fvqp.models.usadel.paper import fig13_ga

    text = (CASES / "usadel_nis_wire.toml").read_text().replace(
        "../meshes", str(CASES.parent / "meshes"))
    text = text.replace("points = 31", 'points = 11\nsupercurrents = ["0 uA", "5 uA"]')
    text = text.replace("spacing = 0.01", "spacing = 0.02")
    p = tmp_path / "usadel_nis_map.toml"
    p.write_text(text)
    run_fvqp(["run", p, "--output", tmp_path / "o"])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["g_nl"].startswith("exact")
    with h5py.File(tmp_path / "o" / "usadel_nis_map.h5") as f:
        v = f["bias_mV"][:] * 1e-3
        ga, gs, gss = f["g_a_map"][:], f["g_s_map"][:], f["g_ss_map"][:]
        dphi, g_plain = f["phase_gradient_max_per_xi"][:], f["g_ss"][:]
    ohm = 24.6e-6 * 31.4e-6
    assert dphi[0] == 0 and 0.09 < dphi[1] < 0.12
    assert np.abs(ga[0]).max() == 0.0
    assert np.allclose(ga[1], -ga[1][::-1], atol=1e-12 * np.abs(ga[1]).max())
    assert np.allclose(gss[0], g_plain, rtol=1e-12, atol=0)
    ref = fig13_ga([dphi[1]], np.array([TABLE1.bias(x) for x in v]), gamma=1.53e-3,
                   de=0.02, emax=4.0)
    # +I_s flows along x, i.e. ∂xφ = −|∂xφ| in Eq. 6's orientation: g_a changes sign
    assert np.allclose(ga[1, :, 0] / ohm, -ref["g_a"][0], rtol=0,
                       atol=0.01 * np.abs(ref["g_a"]).max())
    assert np.allclose(gs[1, :, 0] / ohm, ref["g_s"][0], rtol=0,
                       atol=0.01 * np.abs(ref["g_s"]).max())
    assert np.abs(ga[1]).max() > 1e-3 * np.abs(gs[1]).max()  # not trivially zero
    p.write_text(text.replace('"5 uA"]', '"500 uA"]'))
    proc = run_fvqp(["run", p, "--output", tmp_path / "o2"], check=False)
    assert proc.returncode == 2 and "critical current" in proc.stderr and "µA" in proc.stderr
    assert not (tmp_path / "o2" / "checkpoint.h5").exists()


def test_injector_conductance_key_of_sweeps_with_repeated_biases():
    """``g_inj_last_S`` is the difference of the sweep's distinct biases: a sweep whose
    biases repeat gives the difference of its distinct ones (it gave nan, with status 0,
    when the last two biases were equal), and one of equal biases leaves the key out."""
    from fvqp.models.usadel.keys import sweep_keys

    gap, x = np.full(5, 265.0), np.linspace(0.0, 11.0, 5)
    i = np.array([1e-9, 3e-9, 7e-9, 7e-9])
    keys = sweep_keys({"bias_mV": [0.1, 0.2, 0.3, 0.3], "i_inj_A": i}, gap, x)
    assert keys["g_inj_last_S"] == pytest.approx((7e-9 - 3e-9) / 1e-4, rel=1e-12)
    keys = sweep_keys({"bias_mV": [0.795] * 7, "i_inj_A": np.full(7, 2e-8)}, gap, x)
    assert "g_inj_last_S" not in keys and keys["bias_last_mV"] == 0.795
