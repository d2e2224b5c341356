"""Transport cases end to end: physics of the shipped cases, VTK read back, MPI = serial,
checkpoint/resume, clear errors."""

import json
import math
import re

import numpy as np
import pytest

from conftest import CASES, case_variant, last_snapshot, run_fvqp

E = 1.602176634e-19


def test_nis_wire_injection_rate_and_split(tmp_path):
    """ryan2026 wire, junction A at eV = 2 Delta0: the injected QP rate is the NIS current
    sqrt((eV)^2 - Delta^2) / (e^2 R_T) of a wire at equilibrium, reduced by the back-flow
    of the QPs accumulating at the junction (2 int rho f_exc dE / e^2 R_T: a few percent,
    mostly from the gap-edge bins), the QPs
    leave by the two reservoirs inversely to their distance (x_A = -0.3 um of 11 um),
    and the power balances to round-off."""
    from fvqp import run_case

    s = run_case(CASES / "transport_nis_wire.toml", output_dir=str(tmp_path))
    rates = s["qp_rates_per_s"]
    expected = math.sqrt(532.0**2 - 266.0**2) * 1e-6 / (E * 40.7e3)
    assert 0.97 * expected < rates["boundary:junction_a"] < expected
    left, right = -rates["boundary:reservoir_left"], -rates["boundary:reservoir_right"]
    assert left / (left + right) == pytest.approx(5.8 / 11.0, rel=1e-2)
    p = s["power_W"]
    assert abs(s["power_imbalance_W"]) < 1e-12 * p["boundary:junction_a"]
    assert s["newton_iterations"] <= 8



def test_collisions_switch_leaves_pure_energy_resolved_diffusion(tmp_path):
    """``[numerics] collisions = false`` on the NIS wire: no pair breaking or recombination
    (net pair rate exactly 0, against ~2 % of the injection with collisions), no phonon
    escape, so the injected QPs and their energy leave through the reservoirs to
    round-off."""
    from fvqp import run_case

    case = case_variant("transport_nis_wire.toml", tmp_path)
    case.write_text(case.read_text() + "\n[numerics]\ncollisions = false\n")
    s = run_case(case, output_dir=str(tmp_path / "out"))
    r, p = s["qp_rates_per_s"], s["power_W"]
    assert r["pair_processes"] == 0.0 and p["escape"] == 0.0
    out = r["boundary:reservoir_left"] + r["boundary:reservoir_right"]
    assert abs(r["boundary:junction_a"] + out) <= 1e-9 * r["boundary:junction_a"]
    assert abs(s["power_imbalance_W"]) <= 1e-10 * p["boundary:junction_a"]

ABS_SHORT = {'end = "2 us"': 'end = "20 ns"',
             'times = ["2 ns", "10 ns", "100 ns", "1 us"]': 'times = ["2 ns", "10 ns"]'}


def test_absorber_burst_conserves_energy_and_writes_fields(tmp_path):
    """3D Ta pad + Al lead hit by a 6 keV burst: energy in = stored + escaped + out of the
    lead to the Newton tolerance; QPs are made by pair breaking only; the .pvd opens in
    pyvista with named fields, units and the local gaps of Ta and Al."""
    case = case_variant("transport_absorber3d.toml", tmp_path, **ABS_SHORT)
    out = tmp_path / "out"
    run_fvqp(["run", case, "--output", out])
    s = json.loads((out / "summary.json").read_text())
    e, n = s["energy_J"], s["qp_number"]
    assert e["deposited"] == pytest.approx(6e3 * E, rel=1e-3, abs=0)
    assert abs(e["imbalance"]) < 1e-6 * e["deposited"]
    assert e["escape"] < 0 and e["final"] > 0.1 * e["deposited"]
    assert n["pair_processes"] > 1e5 and abs(n["imbalance"]) < 1e-6 * n["pair_processes"]
    times, mesh = last_snapshot(out, "transport_absorber3d")
    assert times[-1] == pytest.approx(20e-9, rel=1e-6, abs=0)
    for f in ("qp_density", "qp_excess", "qp_energy_density", "phonon_energy_density",
              "gap", "T_eff", "f_slice_0", "f_slice_1", "f_slice_2", "region"):
        assert f in mesh.cell_data, f
    gap = np.asarray(mesh.cell_data["gap"])
    assert set(np.round(np.unique(gap))) == {172.0, 693.0}  # Al and Ta, ueV
    assert np.asarray(mesh.cell_data["qp_excess"]).max() > 0
    import pyvista as pv

    # a single .vtu of the series read on its own (meshio refuses the string field data
    # region_names since issue 20; VTK/ParaView/pyvista read it)
    vtu = sorted((out / "vtu").glob("*.vtu"))[-1]
    m = pv.read(vtu)
    assert "qp_excess" in m.cell_data
    assert list(m.field_data["region_names"]) == ["substrate", "absorber", "lead"]
    assert 'units="1/um^3"' in vtu.read_text()


@pytest.mark.mpi
@pytest.mark.parametrize("jacobian", ["auto", "schur"])
def test_two_ranks_equal_serial(tmp_path, jacobian):
    """2 ranks = serial to 1e-8, with the assembled Jacobian (auto at this size) and with
    the phonon-eliminating 'schur' preconditioner (its inner block ILU is per rank)."""
    case = case_variant("transport_absorber3d.toml", tmp_path, **ABS_SHORT)
    case.write_text(case.read_text() + f'\n[numerics]\njacobian = "{jacobian}"\n')
    run_fvqp(["run", case, "--output", tmp_path / "s"])
    run_fvqp(["run", case, "--output", tmp_path / "p"], nproc=2)
    _, a = last_snapshot(tmp_path / "s", "transport_absorber3d")
    _, b = last_snapshot(tmp_path / "p", "transport_absorber3d")
    ca = np.asarray(a.cell_centers().points)
    cb = np.asarray(b.cell_centers().points)
    order_a, order_b = np.lexsort(ca.T[::-1]), np.lexsort(cb.T[::-1])
    for f in ("qp_excess", "phonon_energy_density", "f_slice_1"):
        x, y = np.asarray(a.cell_data[f])[order_a], np.asarray(b.cell_data[f])[order_b]
        assert np.max(np.abs(x - y)) <= 1e-8 * np.max(np.abs(x)), f
    sa = json.loads((tmp_path / "s" / "summary.json").read_text())
    sb = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert sb["ranks"] == 2
    assert sb["energy_J"]["final"] == pytest.approx(sa["energy_J"]["final"], rel=1e-8, abs=0)


def test_max_steps_then_resume_equals_uninterrupted(tmp_path):
    """`--max-steps 12` then `--resume` ends at the uninterrupted run's energies and fields
    to 1e-10. A flow the run does not resolve (summary ``flow_resolution.unresolved``:
    at 20 ns the QPs have not reached the lead's bath contact, its energy flow is 2.5e-30 J
    of linear-solve digits against a resolution of 1.9e-21 J; the phonon escape, -2.7e-16 J
    against 3.1e-16 J, is listed too) is compared to 1e-10 of its resolution, the scale
    below which its value means nothing; the resolved ones to 1e-10 of themselves.
    Measured: every difference below 1e-15 relative (lead_end: 1e-23 of its resolution)."""
    case = case_variant("transport_absorber3d.toml", tmp_path, **ABS_SHORT,
                    **{"every = 20": "every = 20\ncheckpoint_every = 5"})
    run_fvqp(["run", case, "--output", tmp_path / "full"])
    run_fvqp(["run", case, "--output", tmp_path / "part", "--max-steps", "12"])
    s_part = json.loads((tmp_path / "part" / "summary.json").read_text())
    assert s_part["status"] == 1 and s_part["t_end_s"] < 20e-9
    run_fvqp(["run", case, "--output", tmp_path / "part", "--resume"])
    a = json.loads((tmp_path / "full" / "summary.json").read_text())
    b = json.loads((tmp_path / "part" / "summary.json").read_text())
    assert b["t_end_s"] == pytest.approx(20e-9, rel=1e-6, abs=0)
    # the counters too, in the summary and in the series (the condensed solve's:
    # tests/test_transport_condensed.py)
    for k in ("steps", "newton_iterations", "linear_iterations"):
        assert b[k] == a[k], k
    for run, s in (("full", a), ("part", b)):
        rows = (tmp_path / run / "transport_absorber3d_series.csv").read_text().split()
        last = dict(zip(rows[0].split(","), rows[-1].split(","), strict=True))
        assert int(float(last["linear_iterations"])) == s["linear_iterations"], run
    res = a["flow_resolution"]
    assert b["flow_resolution"]["unresolved"] == res["unresolved"]
    assert "energy_J.boundary:lead_end" in res["unresolved"]
    for k in ("final", "escape", "deposited", "boundary:lead_end"):
        if f"energy_J.{k}" in res["unresolved"]:
            r = res["energy_J"][k]
            assert b["flow_resolution"]["energy_J"][k] == pytest.approx(r, rel=1e-10, abs=0)
            assert abs(b["energy_J"][k] - a["energy_J"][k]) <= 1e-10 * r, k
        else:
            assert b["energy_J"][k] == pytest.approx(a["energy_J"][k], rel=1e-10, abs=0), k
    _, x = last_snapshot(tmp_path / "full", "transport_absorber3d")
    _, y = last_snapshot(tmp_path / "part", "transport_absorber3d")
    # atol = 0: qp_excess spans 1.8e-14 to 6.3e4 here (the default atol 1e-8 saw nothing
    # in the cells the QPs have not reached); measured 6.9e-15 relative at most
    assert np.allclose(x.cell_data["qp_excess"], y.cell_data["qp_excess"], rtol=1e-10, atol=0)


@pytest.mark.slow
def test_film_trap_case_traps_quasiparticles(tmp_path):
    """Tunnel-fed Al film with a lower-gap trap: power balances, QPs with energies
    between the two gaps exist only in the trap, and they leave through its contact."""
    case = case_variant("transport_film_trap.toml", tmp_path,
                    **{'spacing = "10 ueV"': 'spacing = "20 ueV"'})
    out = tmp_path / "out"
    run_fvqp(["run", case, "--output", out])
    s = json.loads((out / "summary.json").read_text())
    p = s["power_W"]
    assert abs(s["power_imbalance_W"]) < 1e-10 * p["boundary:injector"]
    assert -p["boundary:trap_end"] > 0.1 * p["boundary:injector"]
    assert -p["escape"] > 0.1 * p["boundary:injector"]
    _, mesh = last_snapshot(out, "transport_film_trap")
    region = np.asarray(mesh.cell_data["region"])
    f_mid = np.asarray(mesh.cell_data["f_slice_0"])  # 150 ueV: between the two gaps
    gap = np.asarray(mesh.cell_data["gap"])
    trap = region == np.unique(region)[1] if gap[region == np.unique(region)[1]].mean() \
        < gap.max() else region == np.unique(region)[0]
    assert np.all(f_mid[~trap] == f_mid[~trap][0])  # held at the bath: no states there
    # the trap holds a non-thermal population of QPs that cannot return to the film
    assert f_mid[trap].max() > 30 * f_mid[~trap][0]


def test_bad_transport_cases_name_the_key_and_the_fix(write_case):
    text = (CASES / "transport_absorber3d.toml").read_text().replace(
        "../meshes", str(CASES.parent / "meshes"))
    bad = text.replace('type = "bath"', 'type = "tunnel"\nbias = "1 mV"')
    proc = run_fvqp(["check", write_case(bad, "transport_bad.toml")], check=False)
    assert proc.returncode == 2
    assert re.search(r"boundaries\.lead_end\.resistance.*Fix: add it", proc.stderr)
    bad = text.replace('deposit = "6 keV"', 'deposit = "6 keV"\npower = "1 nW"')
    proc = run_fvqp(["check", write_case(bad, "transport_bad2.toml")], check=False)
    assert proc.returncode == 2
    assert "sources[0]" in proc.stderr and "exactly one of deposit" in proc.stderr


def test_equilibrium_fields_are_the_thermal_qp_density(tmp_path):
    """At equilibrium (300 mK) the written QP density is 4 N0 int rho f dE of the wire's
    material in 1/um^3 and T_eff is the bath: checks the state weight 4 N0 / N0_ref and
    the SI conversion of the output (a factor 2 in either would fail)."""
    from fvqp.case.loader import load_case
    from fvqp.materials import get_material
    from fvqp.models.transport.driver import TransportSimulation
    from fvqp.spectra.gap import thermal_qp_density
    from fvqp.units import K_B

    case = case_variant("transport_nis_wire.toml", tmp_path,
                    **{'temperature = "100 mK"': 'temperature = "300 mK"',
                       'spacing = "8 ueV"': 'spacing = "1.5 ueV"',
                       'e_max = "620 ueV"': 'e_max = "720 ueV"'})  # holds the
    # 300 mK junction's injection (600 ueV cuts 0.7 % of it: refused)
    sim = TransportSimulation(load_case(str(case)))
    fields = sim.fields(sim.x0, ("qp_density", "T_eff", "gap"))
    mat = get_material("Al", Tc=1.75)
    n_th = thermal_qp_density(K_B * 0.3, 266e-6 * E, mat.N0) * 1e-18
    assert np.allclose(fields["gap"], 266.0, rtol=1e-12)
    assert np.allclose(fields["qp_density"], n_th, rtol=5e-3)
    assert np.allclose(fields["T_eff"], 0.3, rtol=1e-9)  # same discrete DOS: exact


def test_default_energy_grid_keeps_recombination(tmp_path):
    """Without [energy] e_max the QP grid ends at gap + 12 kT_bath, below 2 gap: the phonon
    grid must still reach the pair energies (a QP at the top with one at the gap edge), or
    recombination and pair breaking silently vanish from the model."""
    from fvqp.case import load_case
    from fvqp.collisions.batched import batched_terms
    from fvqp.models.transport.driver import TransportSimulation

    # the case's slices (400, 520 ueV) lie above this grid's top (371 ueV): none here; a
    # sub-gap bias, else the default grid holds the junction's injection (up to 715 ueV)
    case = case_variant("transport_nis_wire.toml", tmp_path, **{
        'e_max = "620 ueV"': "", 'bias = "532 uV"': 'bias = "100 uV"',
        'energies = ["280 ueV", "400 ueV", "520 ueV"]': "energies = []"})
    sim = TransportSimulation(load_case(case))
    g, p = sim.grid, sim.problem
    sc = np.flatnonzero(~p.trap)
    gap = float(p.delta[sc].min())
    assert g.e_max < 2 * gap  # the QP grid alone misses every pair energy
    assert g.omega[-1] >= g.e_max + gap - g.h
    c = sc[:1]
    f = np.where(p.rho[c] > 0, 1e-2, 0.0)  # an excess in every bin, no phonons
    t = batched_terms(f, np.zeros((1, p.M)), p.rho[c], p.ados[c], h=g.h, m=g.m)
    rec = float(np.sum(p.m_f[c] * t.qp_rec))
    scat = float(np.sum(p.m_f[c] * t.qp_sc_out))
    assert rec > 0.05 * scat  # recombination is there, comparable to emission


def test_slices_report_the_grid_nodes_they_show():
    """``[slices] energies`` of the NIS wire (280, 400, 520 ueV, none on a node of the
    10 ueV grid): ``slice_energies_ueV`` in the summary are node energies of the QP grid
    (as ``bte`` and ``phonon`` report them), each the node nearest its request, and
    ``f_slice_<k>`` is f at that node in every cell (a random state, not the bath)."""
    from fvqp.case.loader import load_case
    from fvqp.models.transport.driver import TransportModel, TransportSimulation
    from fvqp.units import E_CHARGE

    sim = TransportSimulation(load_case(str(CASES / "transport_nis_wire.toml")))
    ueV = E_CHARGE * 1e-6
    nodes = np.array([sim.units.to_si(e, "energy") / ueV for e in sim.grid.e])
    got = TransportModel().describe(sim)["slice_energies_ueV"]
    assert len(got) == 3
    for want, e in zip((280.0, 400.0, 520.0), got, strict=True):
        k = int(np.argmin(np.abs(nodes - e)))
        assert e == pytest.approx(nodes[k], rel=1e-12, abs=0)  # a node ...
        assert k == int(np.argmin(np.abs(nodes - want)))  # ... the nearest to the request
        assert e != pytest.approx(want, rel=1e-6, abs=0)  # not the request itself
    p = sim.problem
    y = np.random.default_rng(3).uniform(0.0, 0.5, (p.n, p.B))
    out = sim.internal_fields(y.ravel(), ["f_slices"])
    for k, e in enumerate(got):
        i = int(np.argmin(np.abs(nodes - e)))
        assert np.array_equal(out[f"f_slice_{k}"], y[:, i])


def test_slice_outside_the_bins_is_refused(tmp_path):
    """An ``[slices] energies`` entry outside the QP bins of the NIS wire (below the gap,
    above the last edge) stops the run at its start with a CaseError naming the key, the
    range of the bins and the fix (before, the nearest bin — the last one, far from the
    energy asked for — was written silently); energies on the grid are accepted."""
    from fvqp.case.loader import CaseError, load_case
    from fvqp.models.transport.driver import TransportSimulation
    from fvqp.units import E_CHARGE

    text = (CASES / "transport_nis_wire.toml").read_text()
    assert text.count("energies = [") == 1
    bad = tmp_path / "transport_nis_wire.toml"
    bad.write_text(re.sub(r"energies = \[[^\]]*\]", 'energies = ["100 ueV", "400 ueV", '
                          '"50 meV"]', text).replace('"../meshes/', f'"{CASES.parent}/meshes/'))
    with pytest.raises(CaseError) as err:
        TransportSimulation(load_case(str(bad)))
    e = err.value.errors
    assert len(e) == 2
    assert "slices.energies[0]: 100 ueV lies outside the energy bins" in e[0]
    assert "no QP states below" in e[0]
    assert "slices.energies[2]: 50000 ueV" in e[1] and "[energy] e_max" in e[1]
    sim = TransportSimulation(load_case(str(CASES / "transport_nis_wire.toml")))
    edges = [sim.units.to_si(float(x), "energy") / (E_CHARGE * 1e-6)
             for x in (sim.grid.edges[0], sim.grid.edges[-1])]
    assert f"{edges[0]:.6g} ueV to {edges[1]:.6g} ueV" in e[0]
