"""Energy slices of the bte model (issues 16 §3, 20 §1): ``[slices] energies`` and the
output field ``f_slices`` write ``f_slice_<k>``, the angle-averaged occupation of the bin
whose node is nearest to each energy, in collisionless and collisional runs, with the node
energies in summary.json (``slice_energies_ueV``); an energy outside the bins is refused.

The bins are checked independently of the model: the BCS bin grid starts at the gap
:math:`\\Delta` (summary ``gap_ueV``) with spacing :math:`h = \\Delta/\\mathrm{round}(\\Delta/h_0)`
and nodes :math:`\\Delta + (i + 1/2)h`; the bin average of the BCS density of states over
:math:`[a, b]` is :math:`\\bar\\rho = (\\sqrt{b^2-\\Delta^2} - \\sqrt{a^2-\\Delta^2})/h`, and the
QP number is :math:`N = 4N_0h\\sum_{b,c}\\bar\\rho_b\\bar f_{bc}V_c`.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from conftest import CASES, case_variant, centre_order, run_fvqp, serial_and_two_ranks

K_B, E = 1.380649e-23, 1.602176634e-19
UEV = 1e-6 * E


def _series(out, name: str):
    """Times and blocks of every snapshot of ``<out>/<name>.pvd`` (pyvista)."""
    import pyvista as pv

    reader = pv.get_reader(str(out / f"{name}.pvd"))
    times = list(reader.time_values)
    blocks = []
    for t in times:
        reader.set_active_time_value(t)
        blocks.append(reader.read()[0])
    return np.array(times), blocks


def _edges(s: dict, spacing_ueV: float, e_max_ueV: float, floor: float = 1.0
           ) -> np.ndarray:
    """Bin edges in ueV from ``floor`` x the gap of the summary (BinGrid.build, written
    out; floor < 1: the self-consistent gap's grid)."""
    gap = floor * s["gap_ueV"]
    j0 = max(1, round(gap / spacing_ueV))
    h = gap / j0
    n = max(2, math.ceil((e_max_ueV - gap) / h - 1e-9))
    return gap + h * np.arange(n + 1)


def _bcs_bin_average(edges: np.ndarray, gap) -> np.ndarray:
    """Bin averages of the BCS density of states E/sqrt(E^2 - gap^2) (0 below ``gap``):
    (sqrt(b^2 - gap^2) - sqrt(a^2 - gap^2)) / h; ``gap`` a number or one per cell."""
    g2 = np.asarray(gap, dtype=float)[None, ...] ** 2
    lo = np.sqrt(np.clip(edges[:-1, None] ** 2 - g2, 0.0, None))
    hi = np.sqrt(np.clip(edges[1:, None] ** 2 - g2, 0.0, None))
    return (hi - lo) / (edges[1] - edges[0])


def _no_sources(text: str) -> str:
    """The case without its [[sources]] table."""
    out, n = re.subn(r"(?ms)^\[\[sources\]\].*?(?=^\[energy\])", "", text)
    assert n == 1
    return out


def _with_slices(path, energies_ueV, fields: str) -> None:
    text = path.read_text()
    text += "\n[slices]\nenergies = [" + ", ".join(f'"{e} ueV"' for e in energies_ueV) \
        + "]\n"
    text, n = re.subn(r"(?m)^fields = .*$", f"fields = {fields}", text)
    if not n:
        text = text.replace("[output]\n", f"[output]\nfields = {fields}\n")
    path.write_text(text)


#: (case, replacements, spacing ueV, e_max ueV, bath K): one collisionless, one collisional
EQUILIBRIA = {
    "collisionless": ("bte_film_pulse.toml",
                      {'end = "100 ps"': 'end = "8 ps"', "directions = 16": "directions = 8",
                       'type = "absorbing"': 'type = "bath"', 'temperature = "20 mK"':
                       'temperature = "300 mK"', "every = 5": "every = 1"}, 40.0, 330.0, 0.3),
    "collisions": ("bte_film_relaxation.toml",
                   {'end = "1 ns"': 'end = "40 ps"', 'type = "absorbing"': 'type = "bath"',
                    'phonons = "local"': 'phonons = "bath"', 'temperature = "100 mK"':
                    'temperature = "300 mK"', "every = 2": "every = 1"}, 45.0, 1250.0, 0.3),
}


@pytest.mark.parametrize("kind", sorted(EQUILIBRIA))
def test_equilibrium_slices_are_the_fermi_function_at_the_bin_nodes(tmp_path, kind):
    """Bath walls, no source, 300 mK: f_slice_k is the Fermi function at the node of the
    bin nearest to the requested energy in every cell (the bath state stores exactly
    f_FD(E_node)) at t = 0 and after the steps (with collisions: detailed balance of the
    bath state) to round-off (measured 2e-15 relative); the summary's energies are those
    nodes (200 and 262 ueV between nodes go to the nearest, 193.4 and 279.4 ueV)."""
    name, repl, h0, e_max, T = EQUILIBRIA[kind]
    case = case_variant(name, tmp_path, **repl)
    case.write_text(_no_sources(case.read_text()))
    want = [200.0, 262.0]
    _with_slices(case, want, '["qp_density", "f_slices"]')
    run_fvqp(["run", case, "--output", tmp_path / "o"])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["status"] == 0, s.get("message")
    nodes = 0.5 * (_edges(s, h0, e_max)[1:] + _edges(s, h0, e_max)[:-1])
    used = [float(nodes[np.argmin(np.abs(nodes - e))]) for e in want]
    assert s["slice_energies_ueV"] == pytest.approx(used, rel=1e-12, abs=0)
    assert used[0] != used[1] and all(u_ != w for u_, w in zip(used, want, strict=True))
    # `fvqp plot` titles the slices with these energies (fvqp.post.plot)
    from fvqp.post.plot import _field_title
    from fvqp.post.result import open_result

    res = open_result(tmp_path / "o")
    assert _field_title(res, "f_slice_1") == f"f_slice_1 (f at E = {used[1]:.4g} ueV)"
    times, blocks = _series(tmp_path / "o", case.stem)
    assert len(times) >= 2
    for k, e in enumerate(used):
        f_fd = 1.0 / (math.exp(e * UEV / (K_B * T)) + 1.0)
        f0 = np.asarray(blocks[0].cell_data[f"f_slice_{k}"])
        f1 = np.asarray(blocks[-1].cell_data[f"f_slice_{k}"])
        assert f0.shape == (blocks[0].n_cells,)
        assert np.max(np.abs(f0 / f_fd - 1.0)) < 1e-12
        assert np.max(np.abs(f1 / f_fd - 1.0)) < 1e-12


PULSES = {
    "collisionless": ("bte_film_pulse.toml",
                      {'end = "100 ps"': 'end = "20 ps"', "directions = 16": "directions = 8",
                       "every = 5": "every = 2"}, 40.0, 330.0, 0.1e-6),
    "collisions": ("bte_film_relaxation.toml",
                   {'end = "1 ns"': 'end = "160 ps"', "every = 2": "every = 4"},
                   45.0, 1250.0, 0.1e-6),
}


@pytest.mark.parametrize("kind", sorted(PULSES))
def test_pulse_slices_of_every_bin_sum_to_the_qp_number(tmp_path, kind):
    """A slice at every bin node: 4 N0 h sum_b rho_b f_slice_b V (rho_b the analytic BCS
    bin average, the slices read from VTK) equals the summary's QP number at the end to
    1e-8, and per cell the written qp_density -- which fails if a slice is another bin's f
    or not the angle average."""
    from fvqp.materials import get_material

    name, repl, h0, e_max, width = PULSES[kind]
    case = case_variant(name, tmp_path, **repl)
    al = get_material("Al")
    # the nodes of the T = 0 BCS gap (T/Tc < 0.1: the bath gap to 1e-10) as requested
    # energies; the nodes of the summary's gap are then checked against the slices used
    approx = {"gap_ueV": al.gap_ratio * K_B * al.Tc / UEV}
    e0 = _edges(approx, h0, e_max)
    _with_slices(case, [f"{e:.4f}" for e in 0.5 * (e0[1:] + e0[:-1])],
                 '["qp_density", "f_slices"]')
    run_fvqp(["run", case, "--output", tmp_path / "o"])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["status"] == 0, s.get("message")
    edges = _edges(s, h0, e_max)
    nodes = 0.5 * (edges[1:] + edges[:-1])
    assert s["slice_energies_ueV"] == pytest.approx(list(nodes), rel=1e-12, abs=0)
    gap, h = s["gap_ueV"], edges[1] - edges[0]
    rho = _bcs_bin_average(edges, gap)[:, 0]
    _, blocks = _series(tmp_path / "o", case.stem)
    m = blocks[-1]
    vol = np.asarray(m.compute_cell_sizes()["Area"]) * width       # m^3 (100 nm film)
    f = np.array([np.asarray(m.cell_data[f"f_slice_{b}"]) for b in range(len(nodes))])
    n0 = al.N0                                                     # 1/(J m^3)
    total = 4 * n0 * h * UEV * float(np.sum(rho[:, None] * f * vol[None, :]))
    assert total == pytest.approx(s["qp_number"]["final"], rel=1e-8, abs=0)
    dens = np.asarray(m.cell_data["qp_density"])                  # 1/um^3
    cell = 4 * n0 * h * UEV * (rho @ f) * 1e-18
    assert cell == pytest.approx(dens, rel=1e-8, abs=1e-12 * dens.max())
    q = s["qp_number"]
    assert q["final"] > 10 * q["initial"]          # the pulse's QPs are in the sum


def test_slice_energy_outside_the_bins_is_refused(tmp_path):
    """An energy above the last bin edge (or below the gap) is a case error naming
    slices.energies[k], the file and the grid's range, at `fvqp check` (the file by its
    name, as every check-time error) and so before `fvqp run` solves anything."""
    case = case_variant("bte_film_pulse.toml", tmp_path)
    _with_slices(case, [250.0, 900.0, 100.0], '["qp_density", "f_slices"]')
    for cmd in (["check", case], ["run", case, "--output", tmp_path / "o"]):
        proc = run_fvqp(cmd, check=False)
        assert proc.returncode == 2
        msg = proc.stdout + proc.stderr
        assert "slices.energies[1]" in msg and "slices.energies[2]" in msg
        assert "slices.energies[0]" not in msg
        assert f"{case.name}: slices.energies[1]" in msg and msg.count("e_max") == 1 \
            and "below" in msg
    assert not (tmp_path / "o").exists()


def test_self_consistent_gap_slices_give_the_density_with_each_cells_gap(tmp_path):
    """Self-consistent gap with collisions (the uniform film after a pulse, 5 ns): the bins
    start at 0.8 x the bath gap; slices at every node, weighted by the bin averages of the
    BCS density of states at each cell's written gap (0 below it), give the written
    qp_density to 1e-12 (measured 1e-16) and the summary's QP number to 1e-8."""
    from fvqp.materials import get_material

    case = case_variant("bte_selfgap_pulse.toml", tmp_path, **{
        'end = "15 ns"': 'end = "5 ns"', 'spacing = "10 ueV"': 'spacing = "20 ueV"'})
    al = get_material("Al")
    e0 = _edges({"gap_ueV": al.gap_ratio * K_B * al.Tc / UEV}, 20.0, 800.0, floor=0.8)
    _with_slices(case, [f"{e:.4f}" for e in 0.5 * (e0[1:] + e0[:-1])],
                 '["qp_density", "gap", "f_slices"]')
    run_fvqp(["run", case, "--output", tmp_path / "o"])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["status"] == 0, s.get("message")
    edges = _edges(s, 20.0, 800.0, floor=0.8)
    nodes = 0.5 * (edges[1:] + edges[:-1])
    assert s["slice_energies_ueV"] == pytest.approx(list(nodes), rel=1e-12, abs=0)
    _, blocks = _series(tmp_path / "o", case.stem)
    m = blocks[-1]
    gap = np.asarray(m.cell_data["gap"])                          # ueV
    assert np.all(gap < s["gap_ueV"] - 1.0)                       # the pulse lowered it
    h = edges[1] - edges[0]
    rho = _bcs_bin_average(edges, gap)
    f = np.array([np.asarray(m.cell_data[f"f_slice_{b}"]) for b in range(len(nodes))])
    dens = np.asarray(m.cell_data["qp_density"])                  # 1/um^3
    cell = 4 * al.N0 * h * UEV * np.sum(rho * f, axis=0) * 1e-18
    assert np.max(np.abs(cell / dens - 1.0)) < 1e-12
    vol = np.asarray(m.compute_cell_sizes()["Area"]) * 1e12 * 0.1  # um^3 (100 nm film)
    assert float(cell @ vol) == pytest.approx(s["qp_number"]["final"], rel=1e-8, abs=0)


@pytest.mark.mpi
def test_slices_on_two_ranks_equal_serial(tmp_path):
    """`mpiexec -n 2`: every rank writes the slices of its owned cells; cell by cell they
    equal the serial run's to 1e-8 (the pulse of the collisionless film, 20 ps)."""
    name, repl, *_ = PULSES["collisionless"]
    case = case_variant(name, tmp_path, **repl)
    _with_slices(case, [200.0, 300.0], '["qp_density", "f_slices"]')
    sa, sb = serial_and_two_ranks(case, tmp_path)
    assert sb["slice_energies_ueV"] == sa["slice_energies_ueV"]
    a, b = _series(tmp_path / "s", case.stem)[1][-1], _series(tmp_path / "p", case.stem)[1][-1]
    oa, ob = centre_order(a), centre_order(b)
    for k in range(2):
        x = np.asarray(a.cell_data[f"f_slice_{k}"])[oa]
        y = np.asarray(b.cell_data[f"f_slice_{k}"])[ob]
        assert np.max(np.abs(x - y)) <= 1e-8 * np.max(np.abs(x))
        assert np.max(x) > 10 * np.min(x)            # the spot, not a uniform state


def test_absorber_case_slices_are_the_first_bins_above_the_al_and_the_ta_gap():
    """cases/bte_absorber3d.toml (a gap in every cell: the grid starts at [gap] floor x
    Delta_Al) asks for 220 and 750 ueV: the bins used are the first wholly above the Al
    lead's gap (node 206.6 ueV) and above the Ta gap (757.4 ueV), as its comment says."""
    from fvqp.case import load_case
    from fvqp.models.bte.simulation import BTESimulation

    sim = BTESimulation(load_case(str(CASES / "bte_absorber3d.toml")))
    u = sim.units

    def ueV(e):
        return u.to_si(float(e), "energy") / UEV

    gap_al, gap_ta = sorted({ueV(g) for g in sim.media.gap if g > 0})
    assert ueV(sim.grid.edges[0]) == pytest.approx(0.8 * gap_al, rel=1e-12)   # [gap] floor
    for j, gap in zip(sim.slice_bins, (gap_al, gap_ta), strict=True):
        assert ueV(sim.grid.edges[j]) >= gap > ueV(sim.grid.edges[j - 1])
    assert [ueV(e) for e in sim.slice_energies()] == pytest.approx([206.6, 757.4], abs=0.05)
    sim.problem.release()
