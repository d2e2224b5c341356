"""The real absorber in the ``bte`` model (issue 16 §3): the Fermi velocities of the d-band
superconductors, the case ``cases/bte_absorber3d.toml`` on ``meshes/absorber3d`` (a small
variant: QP number balance, trapping in the Al lead) and the cross-model check against the
diffusive ``transport`` model on the same mesh and source as the mean free path shrinks.
See ``docs/bte_absorber3d.md``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import fvqp.api as fa
from fvqp.materials import get_material
from fvqp.units import E_CHARGE, HBAR, K_B

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "cases" / "bte_absorber3d.toml"
MESH = ROOT / "meshes" / "absorber3d" / "absorber3d_coarse.msh"
#: the same device with 5 um cells in the films (meshes/absorber3d/README.md)
MEDIUM = ROOT / "meshes" / "absorber3d" / "absorber3d_medium.msh"
#: electron-phonon coupling lambda of the sources in materials.toml
LAMBDA = {"Ta": 0.73, "V": 0.82, "Ti": 0.38, "Nb": 0.9}


def _gamma_mass_velocity(name: str) -> float:
    """Fermi gas with one conduction electron per atom and the band mass of the Sommerfeld
    gamma: v_F = k_F^2 / (2 pi^2 hbar N0_bare), N0_bare = N0 / (1 + lambda)."""
    m = get_material(name)
    k_f = (3 * math.pi**2 * m.N_ion) ** (1 / 3)
    return k_f**2 / (2 * math.pi**2 * HBAR * m.N0 / (1 + LAMBDA[name]))


def _pippard_velocity(name: str, xi0: float) -> float:
    """v_F = pi Delta0 xi0 / hbar (BCS coherence length)."""
    m = get_material(name)
    return math.pi * m.gap_ratio * K_B * m.Tc * xi0 / HBAR


@pytest.mark.parametrize("name", ["Ta", "V", "Ti"])
def test_d_band_fermi_velocities_follow_their_stated_derivation(name):
    """The stored v_F of Ta, V, Ti is the gamma-band-mass Fermi gas of the source text (to
    its three digits) and far below the chemical-valence free-electron value."""
    m = get_material(name)
    assert m.fermi_velocity == pytest.approx(_gamma_mass_velocity(name), rel=3e-3, abs=0)
    src = m.sources["fermi_velocity"]
    assert "[derived]" in src and f"lambda = {LAMBDA[name]}" in src
    z = {"Ta": 5, "V": 5, "Ti": 4}[name]
    free = HBAR * (3 * math.pi**2 * z * m.N_ion) ** (1 / 3) / 9.1093837015e-31
    assert m.fermi_velocity < 0.2 * free


def test_gamma_mass_estimate_against_coherence_lengths():
    """Independent checks of the estimate: the Pippard velocity pi Delta0 xi0 / hbar of Nb
    with the measured xi0 = 39.9 nm (McFadden et al. 2025) and of Ta (xi0 ~ 92 nm) and V
    (~44 nm) agree with it within 25 % (measured ratios 0.77, 0.88, 0.99)."""
    for name, xi0, ratio in (("Nb", 39.9e-9, 0.77), ("Ta", 92e-9, 0.88), ("V", 44e-9, 0.99)):
        r = _gamma_mass_velocity(name) / _pippard_velocity(name, xi0)
        assert r == pytest.approx(ratio, abs=0.01)
        assert 0.75 < r < 1.25


def _small_case_text() -> str:
    """The absorber case with coarser energy bins, a source near the lead, 0.3 ns steps."""
    text = CASE.read_text()
    for old, new in (('spacing = "50 ueV"', 'spacing = "100 ueV"'),
                     ('end = "2.5 ns"', 'end = "2.7 ns"'),
                     ('dt_initial = "0.1 ns"', 'dt_initial = "0.3 ns"'),
                     ("position = [20.0, 10.0, 0.15]", "position = [40.0, 0.0, 0.15]"),
                     ("every = 2", "every = 1")):
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bte_absorber3d")
    return fa.run(_small_case_text(), base_dir=CASE.parent, name="bte_absorber3d",
                  output_dir=out)


def test_small_absorber_balances_the_qp_number(small_run):
    """Injected = in the device + drained at the lead end + lost by pair processes
    (recombination − pair breaking), to the Newton tolerance; energy likewise."""
    r = small_run.result
    assert r.status == 0, r.message
    q = r["qp_number"]
    injected = q["sources"]
    # the 6 keV pulse (centred at 0.6 ns, sigma 0.1 ns) is deposited whole, exactly once
    # (the 0.13 % of it in the backward-Euler first step too: BDF2 acts on C - A(t),
    # tests/test_bte_pulse_first_step.py); only the tail before t = 0 (1e-9) is missing
    e_in = r["energy_J"]["inflows"]["sources"]
    assert e_in == pytest.approx(6e3 * E_CHARGE, rel=1e-8, abs=0)
    assert injected == pytest.approx(e_in / (1.0e-3 * E_CHARGE), rel=0.05, abs=0)
    change = q["final"] - q["initial"]
    assert change - (q["sources"] + q["boundary:lead_end"] + q["pair_processes"]) \
        == pytest.approx(0.0, abs=1e-9 * injected)
    assert abs(q["imbalance"]) < 1e-9 * injected
    assert q["boundary:lead_end"] < 0          # drained
    e = r["energy_J"]
    assert abs(e["imbalance"]) < 1e-9 * e["inflows"]["sources"]
    # the VTK snapshots hold the same QP number as the summary
    n = small_run.fields["qp_density"]
    assert float(np.sum(n.values[-1] * n.measure)) == pytest.approx(q["final"], rel=1e-6, abs=0)


def test_small_absorber_traps_qps_in_the_lead(small_run):
    """QPs cross the Ta/Al step at their energy and relax in the lead below the Ta gap
    (they cannot return): the lead's mean QP energy falls below Delta_Ta after the pulse while
    the pad's stays above it, and the lead holds excess QPs."""
    d = small_run.fields["qp_density"]
    x = small_run.fields["qp_excess"]
    e = small_run.fields["qp_energy_density"]
    reg = np.array(d.region)
    vol = d.measure
    ta = get_material("Ta")
    gap_ta = ta.gap_ratio * K_B * ta.Tc            # 693 ueV (50 mK << Tc)

    def mean_energy(k, region):
        m = reg == region
        return np.sum((e.values[k] * vol)[m]) / np.sum((d.values[k] * vol)[m])

    lead = [np.sum((x.values[k] * vol)[reg == "lead"]) for k in range(len(d.times))]
    k_pulse = int(np.argmin(np.abs(d.times - 0.9e-9)))
    assert max(lead) > 1e4
    lead_e = [mean_energy(k, "lead") for k in range(k_pulse, len(d.times))]
    assert all(b < a for a, b in zip(lead_e, lead_e[1:], strict=False))          # relaxing
    assert lead_e[0] > gap_ta > lead_e[-1]
    assert mean_energy(len(d.times) - 1, "absorber") > gap_ta
    assert mean_energy(len(d.times) - 1, "absorber") - lead_e[-1] > 250e-6 * E_CHARGE
    # the gap field of the VTK output (a gap in every cell): each region's BCS gap at
    # 50 mK (Ta 693, Al 172 ueV) at the start, at most 1e-3 below it later
    gap = small_run.fields["gap"].values
    al = get_material("Al")
    for name, g0 in (("absorber", gap_ta), ("lead", al.gap_ratio * K_B * al.Tc)):
        g = gap[:, reg == name] / g0
        assert g[0] == pytest.approx(1.0, rel=1e-6, abs=0), name
        assert np.all(g <= 1 + 1e-6) and np.all(g > 1 - 1e-3), name


def test_small_absorber_per_cell_gap_follows_the_qps_and_transports_as_the_bath_gaps(
        small_run, tmp_path):
    """The case's gap in every cell (``[gap] self_consistent = true``) against the
    variant with the bath gaps held: every cell starts at its region's BCS gap; the burst
    lowers the pad's gap at the spot by ~1.6e-4 (0.9 ns) and the gap of the lead, which
    the QPs reach, by ~1e-4; the pad's recovers as the QPs spread (~2e-5 at the end). The
    gap moves so little that the fraction of the deposited energy drained at the lead end
    and of the injected QPs left in the device agree with the held run to 1 % (the grids
    differ: first edge 0.8 Delta_Al against Delta_Al; the drained QP-number fractions
    carry the bins' different QP energies). Faces between cells of one film with
    different gaps are no material interface: when they took the case's diffuse mismatch
    (T = 1/2 above both gaps) the per-cell run drained 0.79x the energy, the full case
    0.46x the QPs."""
    text = _small_case_text()
    assert text.count("self_consistent = true") == 1
    held = fa.run(text.replace("self_consistent = true", "self_consistent = false"),
                  base_dir=CASE.parent, name="bte_absorber3d", output_dir=tmp_path)
    own = small_run
    assert own.result.status == 0 and held.result.status == 0, held.result.message
    a, b = own.result["qp_number"], held.result["qp_number"]
    assert own.result["energy_bins"] != held.result["energy_bins"]
    assert abs(a["imbalance"]) < 1e-9 * a["sources"]
    assert a["final"] / a["sources"] == pytest.approx(b["final"] / b["sources"], rel=0.01,
                                                      abs=0)
    ea, eb = own.result["energy_J"]["inflows"], held.result["energy_J"]["inflows"]
    assert ea["boundary:lead_end"] / ea["sources"] == pytest.approx(
        eb["boundary:lead_end"] / eb["sources"], rel=0.01, abs=0)
    assert -eb["boundary:lead_end"] > 0.01 * eb["sources"]    # a drain worth comparing
    # the held run's gaps stay each region's BCS gap
    hg, hreg = held.fields["gap"].values, np.array(held.fields["gap"].region)
    # the gap field
    gap, reg = own.fields["gap"], np.array(own.fields["gap"].region)
    k_pulse = int(np.argmin(np.abs(gap.times - 0.9e-9)))
    ta, al = get_material("Ta"), get_material("Al")
    for name, m in (("absorber", ta), ("lead", al)):
        g0 = m.gap_ratio * K_B * m.Tc
        assert hg[:, hreg == name] == pytest.approx(g0, rel=1e-6, abs=0), name
        g = gap.values[:, reg == name] / g0
        assert g[0] == pytest.approx(1.0, rel=1e-6, abs=0), name
        assert np.all(g <= g[0].max() * (1 + 1e-12)) and np.all(g > 1 - 1e-3), name
        assert g[k_pulse].min() < 1 - 5e-5, name
    # the pad's deepest drop after the burst (measured 1.58e-4 at 0.9 ns, 2.5e-5 at
    # 2.7 ns): smaller at every later snapshot (recovering as the QPs spread and leave),
    # below 0.3x the peak's at the end, and still there (QPs left in the pad)
    pad = gap.values[:, reg == "absorber"] / (ta.gap_ratio * K_B * ta.Tc)
    drop = 1 - pad.min(axis=1)[k_pulse:]
    assert np.all(np.diff(drop) < 0), drop
    assert 0 < drop[-1] < 0.3 * drop[0], drop


def _cross_cases(ell_um: float, mesh: Path = MESH) -> tuple[dict, dict]:
    """The same device, mesh, steady source and energy grid for bte (mean free path ell in
    both films, specular walls) and transport (D = v_F ell / 3, insulating walls), no
    collisions, lead end a bath contact in both."""
    common = {
        "mesh": {"file": str(mesh), "scale": "1 um"},
        "units": {"reference_material": "Ta"},
        "bath": {"temperature": "50 mK"},
        "sources": [{"type": "quasiparticle", "region": "absorber", "energy": "1.0 meV",
                     "width": "10 ueV", "power": "1 pW", "position": [20.0, 10.0, 0.15],
                     "radius": "5 um"}],
        "energy": {"spacing": "50 ueV", "e_max": "1.2 meV"},
        "time": {"steady": True},
        "output": {"fields": ["qp_excess", "region"]},
    }
    walls = ("absorber_top", "lead_surface", "absorber_substrate", "lead_substrate")
    bte = dict(common, model="bte",
               regions={"absorber": {"material": "Ta", "mean_free_path": f"{ell_um} um"},
                        "lead": {"material": "Al", "mean_free_path": f"{ell_um} um"},
                        "substrate": {"active": False}},
               interfaces={"model": "diffuse", "wall": "specular"},
               boundaries={"lead_end": {"type": "bath"},
                           **{b: {"type": "specular"} for b in walls}},
               angles={"polar": 2, "azimuth": 4})

    def dif(name):
        return f"{get_material(name).fermi_velocity * ell_um * 1e-6 / 3:.9e} m^2/s"

    transport = dict(common, model="transport",
                     regions={"absorber": {"material": "Ta", "diffusion_constant": dif("Ta")},
                              "lead": {"material": "Al", "diffusion_constant": dif("Al")},
                              "substrate": {"active": False}},
                     boundaries={"lead_end": {"type": "bath"},
                                 **{b: {"type": "insulating"} for b in walls}},
                     numerics={"collisions": False})
    return bte, transport


def _cross_model(tmp_path: Path, ell: float, mesh: Path) -> tuple[float, float]:
    """Relative L2 difference (volume weighted, all bins) of the excess QP density of bte
    and transport, and the ratio of their excess QP numbers in the pad."""
    bte, transport = _cross_cases(ell, mesh)
    rb = fa.run(bte, output_dir=tmp_path / f"bte_{mesh.stem}_{ell}")
    rt = fa.run(transport, output_dir=tmp_path / f"transport_{mesh.stem}_{ell}")
    assert rb.result.status == 0 and rt.result.status == 0
    nb, nt = rb.fields["qp_excess"], rt.fields["qp_excess"]
    assert np.array_equal(nb.region, nt.region)
    vb, vt, vol = nb.values[-1], nt.values[-1], nb.measure
    pad = np.array(nb.region) == "absorber"
    # particle balance of each steady state: all injected QPs leave at the lead end
    q = rb.result["qp_rates_per_s"]
    assert q["boundary:lead_end"] == pytest.approx(-q["sources"], rel=1e-9, abs=0)
    return (math.sqrt(np.sum(vol * (vb - vt) ** 2) / np.sum(vol * vt**2)),
            float(np.sum((vol * vb)[pad]) / np.sum((vol * vt)[pad])))


def test_bte_approaches_diffusion_as_the_mean_free_path_shrinks(tmp_path):
    """bte against transport with D = v_F l / 3 where the BTE is resolved, h/l <= 0.2:
    relative L2 difference of the excess QP density (all bins) on the coarse absorber mesh
    (h = 10 um in the films) and its 5 um variant ``absorber3d_medium.msh``. Measured: at
    h/l = 0.1, 2.757 (l = 100 um, coarse) and 1.386 (l = 50 um, medium), at h/l = 0.2,
    1.235 (l = 50 um, coarse) and 0.564 (l = 25 um, medium): at a fixed h/l each halving
    of l halves it (ratios 1.99 and 2.19): first order in l/L, from the interface and
    contact resistances of the BTE, which do not grow as 1/l as the diffusive ones do —
    the BTE holds more QPs in the pad (the pad's excess number is (1 + error) times the
    diffusive one within 2 %). The step scheme's numerical diffusion (~v h) acts the other
    way: at l = 50 um the difference is 11 % smaller on 10 um cells than on 5 um ones.
    This test asserted until 2026-11-22 a coarse-mesh sequence down to l = 12.5 um
    (h/l = 0.8) ending at 0.096: that point (and, less, every h/l >= 0.4 point: 0.41 at
    l = 25 um on 10 um cells against 0.66 on 2.5 um cells) owed its smallness to that
    cancellation, so it is no longer a check of the model (docs/bte_absorber3d.md)."""
    points = {(100.0, MESH): (2.757, 3.76), (50.0, MEDIUM): (1.386, 2.39),
              (50.0, MESH): (1.235, 2.23), (25.0, MEDIUM): (0.564, 1.56)}
    got = {k: _cross_model(tmp_path, *k) for k in points}
    for k, (err, ratio) in points.items():
        e, r = got[k]
        assert e == pytest.approx(err, rel=0.02, abs=0), (k, got)
        assert r == pytest.approx(ratio, rel=0.02, abs=0), (k, got)
        assert r - 1.0 == pytest.approx(e, rel=0.02, abs=0)   # the pad holds the excess
    # first order in l/L at a fixed h/l: a halving of l halves the difference
    for coarse, medium in (((100.0, MESH), (50.0, MEDIUM)), ((50.0, MESH), (25.0, MEDIUM))):
        assert 1.9 < got[coarse][0] / got[medium][0] < 2.3, got
    # the numerical diffusion of coarser cells hides part of the model difference
    assert got[(50.0, MESH)][0] < 0.92 * got[(50.0, MEDIUM)][0]


def test_matrix_free_transport_solves_the_thin_film_tetrahedra(tmp_path):
    """The diffusion reference above with ``jacobian = "matrix_free"``: on thin films
    meshed by tetrahedra each cell couples to one neighbour at ~0.9999 of its diagonal
    and to the others at ~1e-5, where GAMG without a drop threshold left GMRES without
    progress (DIVERGED_BREAKDOWN after 200 iterations, until 2026-11-24). With the
    threshold of ``MATRIX_FREE_PETSC`` it converges to the assembled Jacobian's answer
    (Newton's tolerance 1e-10) in 53 Krylov iterations (3 Newton steps; assembled 153)."""
    runs = {}
    for mode in ("assembled", "matrix_free"):
        _, case = _cross_cases(100.0, MESH)
        case["numerics"]["jacobian"] = mode
        r = fa.run(case, output_dir=tmp_path / mode)
        assert r.result.status == 0, r.result.message
        assert r.result["jacobian"] == mode
        runs[mode] = r
    mf = runs["matrix_free"].result
    assert mf["linear_iterations"] <= 30 * mf["newton_iterations"]
    a, b = (runs[m].fields["qp_excess"].values[-1] for m in ("assembled", "matrix_free"))
    assert np.max(np.abs(a - b)) <= 1e-8 * np.max(np.abs(a))
