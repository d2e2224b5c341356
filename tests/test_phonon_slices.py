"""Energy slices of the phonon occupation (issue 20 §1): ``[slices] energies`` and the
output field ``n_slices`` write cell fields ``n_slice_<k>``, the angle-averaged
occupation :math:`\\bar n_j` of the node :math:`\\Omega_j = (j+1)h` nearest to each
energy, and summary.json ``slice_energies_ueV``, the nodes used. Small variants of
``cases/phonon_si_block.toml`` (8 bins of h = 0.75 meV up to 6 meV), a few steps."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import case_variant, centre_order, last_snapshot, run_fvqp, serial_and_two_ranks
from fvqp.units import E_CHARGE, HBAR, K_B

MEV = 1e-3 * E_CHARGE
FIELDS = 'fields = ["phonon_energy_density", "phonon_number_density", "phonon_energy_flux"]'
SMALL = {'polar = 4': 'polar = 2', 'azimuth = 8': 'azimuth = 4', 'every = 5': 'every = 1'}


def _variant(tmp_path, energies: list[str], **repl):
    out = 'fields = ["phonon_energy_density", "phonon_number_density", "n_slices"]'
    case = case_variant("phonon_si_block.toml", tmp_path, **{FIELDS: out, **SMALL, **repl})
    slices = ", ".join(f'"{e}"' for e in energies)
    case.write_text(case.read_text() + f"\n[slices]\nenergies = [{slices}]\n")
    return case


def _run(tmp_path, case):
    run_fvqp(["run", case, "--output", tmp_path / "o"])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["status"] == 0
    return s, last_snapshot(tmp_path / "o", "phonon_si_block")[1]


def test_bath_state_slices_are_the_bose_function_at_the_nodes(tmp_path):
    """A 5 K bath and initial state, the deposit long after the end (50 ns, end 2 ns):
    the state stays the bath's through 2 BDF2 steps (the holder emits n_B, decay and
    down-conversion vanish at n_B), so every cell's n_slice_<k> is
    1 / (exp(Omega / k_B T) - 1) at the node nearest to the asked energy (0.8, 2.9 and
    6.2 meV -> 0.75, 3 and 6 meV: n_B = 0.213, 9.5e-4, 9.0e-7) to 1e-12 (measured
    2e-16: the KSP solves of an equilibrium state are exact to round-off)."""
    case = _variant(tmp_path, ["0.8 meV", "2.9 meV", "6.2 meV"],
                    **{'temperature = "10 mK"': 'temperature = "5 K"',
                       'time = "3 ns"': 'time = "50 ns"', 'end = "100 ns"': 'end = "2 ns"'})
    s, mesh = _run(tmp_path, case)
    nodes = np.array([0.75, 3.0, 6.0]) * MEV
    assert np.array(s["slice_energies_ueV"]) * 1e-6 * E_CHARGE == pytest.approx(
        nodes, rel=1e-12, abs=0)
    for k, om in enumerate(nodes):
        n_b = 1.0 / math.expm1(om / (K_B * 5.0))
        n = np.asarray(mesh.cell_data[f"n_slice_{k}"])
        assert n.size == mesh.n_cells
        assert n == pytest.approx(np.full(n.size, n_b), rel=1e-12, abs=0)
    # `fvqp plot` titles a phonon slice with its node energy (fvqp.post.plot)
    from fvqp.post.plot import _field_title
    from fvqp.post.result import open_result

    title = _field_title(open_result(tmp_path / "o"), "n_slice_1")
    assert title == f"n_slice_1 (n at Omega = {s['slice_energies_ueV'][1]:.4g} ueV)"
    assert title == "n_slice_1 (n at Omega = 3000 ueV)"


@pytest.mark.parametrize("branches", ["effective", "lt"])
def test_slices_at_every_node_give_the_number_and_energy_densities(tmp_path, branches):
    """Slices at all 8 nodes 5 ns into the deposit (10 mK bath): the model's weights,
    h sum_j g_j n_j with the Debye states g_j = 3 Omega_j^2 / (2 pi^2 hbar^3 v_D^3)
    (one branch at v_D, or L + 2 T with 3/v_D^3 = 1/v_L^3 + 2/v_T^3 for 'lt': the slice
    then weights the branches by their states), reproduce the written
    phonon_number_density (1/um^3) and, with Omega_j, phonon_energy_density (J/m^3) in
    every cell to 1e-10 of the largest value (measured 3e-16, 'lt' 2e-15); the spot is
    resolved (max / median = 4.8e3)."""
    energies = [f"{0.75 * (j + 1):g} meV" for j in range(8)]
    case = _variant(tmp_path, energies, **{'end = "100 ns"': 'end = "5 ns"',
                                           'scheme = "bdf2"': 'scheme = "bdf2"\n\n'
                                           f'[phonons]\nbranches = "{branches}"'})
    s, mesh = _run(tmp_path, case)
    h = s["bin_width_ueV"] * 1e-6 * E_CHARGE
    assert h == pytest.approx(0.75 * MEV, rel=1e-12, abs=0)
    om = h * np.arange(1, 9)
    assert np.array(s["slice_energies_ueV"]) * 1e-6 * E_CHARGE == pytest.approx(
        om, rel=1e-12, abs=0)
    v_d = s["debye_velocity_m_per_s"]["substrate"]
    g = 3 * om**2 / (2 * math.pi**2 * HBAR**3 * v_d**3)           # states / (J m^3)
    n = np.array([np.asarray(mesh.cell_data[f"n_slice_{j}"]) for j in range(8)])
    number = h * g @ n * 1e-18                                     # 1/um^3
    energy = h * (om * g) @ n                                      # J/m^3
    for name, mine in (("phonon_number_density", number), ("phonon_energy_density", energy)):
        written = np.asarray(mesh.cell_data[name])
        assert np.max(written) > 100 * np.median(written)
        assert mine == pytest.approx(written, rel=0, abs=1e-10 * np.max(written))


def test_energy_outside_the_grid_is_refused(tmp_path):
    """7 meV lies above the top bin (nodes 0.75 to 6 meV, the grid ends at 6.375 meV),
    0.2 meV below the first (from 0.375 meV): a CaseError at ``fvqp check`` (loading the
    case: the bounds follow from the case alone) naming both keys, the file and the fixes
    (raise e_max, add bins) — the same range the run's grid has; 6.3 meV (nearest node
    6 meV) is accepted."""
    from fvqp.case import load_case
    from fvqp.case.loader import CaseError
    from fvqp.models.phonon.driver import PhononSimulation

    case = _variant(tmp_path, ["1 meV", "7 meV", "0.2 meV"])
    with pytest.raises(CaseError) as err:
        load_case(str(case))
    e = err.value.errors
    assert len(e) == 2
    assert e[0].startswith(f"{case.name}: slices.energies[1]: 7000 ueV lies outside")
    assert "[energy] e_max" in e[0] and "between 375 ueV and 6375 ueV" in e[0]
    assert e[1].startswith(f"{case.name}: slices.energies[2]: 200 ueV") and "bins" in e[1]
    assert run_fvqp(["check", case], check=False).returncode != 0
    ok = _variant(tmp_path, ["6.3 meV"])
    sim = PhononSimulation.from_case(load_case(str(ok)))
    assert sim.slice_nodes == [7]
    sim.problem.release()


@pytest.mark.mpi
def test_slices_on_two_ranks_equal_serial(tmp_path):
    """`mpiexec -n 2` writes the same n_slice_<k> (pieces of the `.pvtu`, cells matched by
    centroid) as the serial run to 1e-8 of each field's largest value, 5 ns into the
    deposit, and the same slice_energies_ueV."""
    case = _variant(tmp_path, ["1.5 meV", "3 meV", "4.5 meV"],
                    **{'end = "100 ns"': 'end = "5 ns"'})
    sa, sb = serial_and_two_ranks(case, tmp_path)
    assert sb["slice_energies_ueV"] == sa["slice_energies_ueV"]
    _, a = last_snapshot(tmp_path / "s", "phonon_si_block")
    _, b = last_snapshot(tmp_path / "p", "phonon_si_block")
    oa, ob = centre_order(a), centre_order(b)
    for k in range(3):
        x = np.asarray(a.cell_data[f"n_slice_{k}"])[oa]
        y = np.asarray(b.cell_data[f"n_slice_{k}"])[ob]
        assert np.max(np.abs(x - y)) <= 1e-8 * np.max(np.abs(x))
        assert np.max(x) > 100 * np.median(x)        # the spot, not a uniform state
