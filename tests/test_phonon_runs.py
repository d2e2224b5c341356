"""Phonon model runs from case files: `cases/phonon_si_block.toml` (a shorter variant),
its energy balance in summary.json, `<case>_series.csv` and the VTK snapshots; serial ==
`mpiexec -n 2` (issue 17 §2)."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest

from conftest import CASES as CASES_DIR
from conftest import (
    assert_phonon_ranks_agree,
    case_variant,
    last_snapshot,
    phonon_deposit,
    run_fvqp,
    serial_and_two_ranks,
)

SHORT = {'end = "100 ns"': 'end = "20 ns"'}
TRACK = """
[[sources]]
type = "phonons"
deposit = "5 keV"
time = "3 ns"
duration = "0.5 ns"
position = [20, 180, 10]
direction = [1, -1, 0.5]
length = "150 um"
radius = "8 um"
"""


def test_si_block_case_runs(tmp_path):
    """20 ns of the Si block: status 0; energy balance (phonons + holder = deposit) to
    1e-10 of the deposit in summary.json and in every row of the series; the VTK energy
    density integrates to the phonon energy (1e-10); the holder has absorbed energy by
    20 ns (the top of the block is 30 um above the spot; bottom 70 um below)."""
    case = case_variant("phonon_si_block.toml", tmp_path, **SHORT)
    proc = run_fvqp(["run", case, "--output", tmp_path / "o"])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["status"] == 0 and s["steps"] == 20
    # progress of the fixed-step loop (not a terminal: log lines, the last step always):
    # its last line counts every step and gives the SI end time and the phonon energy
    lines = re.findall(r"step (\d+)/(\d+) t=(\S+) s dt=(\S+) s E_phonon=(\S+) J",
                       proc.stderr)
    step, nsteps, t, dt, e_ph = lines[-1]
    assert int(step) == int(nsteps) == s["steps"]
    assert float(t) == pytest.approx(s["t_end_s"], rel=1e-4, abs=0)  # 5 digits shown
    assert float(dt) == pytest.approx(s["dt_s"], rel=1e-3, abs=0)
    assert float(e_ph) == pytest.approx(s["E_phonon_J"], rel=1e-6, abs=0)
    deposit = 10e3 * 1.602176634e-19
    e = s["energy_J"]
    # every flow into the system (models/base/balance.py): the deposit > 0, the holder < 0
    assert e["sources"] == pytest.approx(deposit, rel=1e-8, abs=0)  # 6 sigma after t = 0
    assert abs(s["energy_imbalance_J"]) < 1e-10 * deposit
    assert e["imbalance"] == s["energy_imbalance_J"]
    assert -e["boundary:bottom"] > 1e-3 * deposit
    assert e["final"] - e["boundary:bottom"] == pytest.approx(e["sources"], rel=1e-10, abs=0)
    with open(tmp_path / "o" / "phonon_si_block_series.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 21
    for r in rows:
        assert abs(float(r["imbalance_J"])) < 1e-10 * deposit
    assert float(rows[-1]["E_phonon_J"]) == pytest.approx(s["E_phonon_J"], rel=1e-14, abs=0)
    times, mesh = last_snapshot(tmp_path / "o", "phonon_si_block")
    assert times[-1] == pytest.approx(20e-9, rel=1e-12, abs=0)
    vol = mesh.compute_cell_sizes()["Volume"]   # m^3 (points written in m)
    u = np.asarray(mesh.cell_data["phonon_energy_density"])
    assert float(u @ vol) == pytest.approx(s["E_phonon_J"], rel=1e-10, abs=0)
    # the energy flux (W/m^2): the spot is on the block's mid-plane y = 100 um, so q_y is
    # odd about it and its volume integral vanishes (mirror-symmetric mesh and ordinates)
    # (measured 6e-12); the net flow is down to the holder (integral of q_z < 0, 99.9 % of
    # |q_z|) and towards +x: from the spot at x = 60 um into the larger part of the
    # 200 um block (measured int q_x dV = 0.84 int |q_x| dV)
    q = dict(zip("xyz", np.asarray(mesh.cell_data["phonon_energy_flux"]).T, strict=True))
    assert abs(float(q["y"] @ vol)) < 1e-8 * float(np.abs(q["y"]) @ vol)
    assert float(q["z"] @ vol) < -0.99 * float(np.abs(q["z"]) @ vol)
    assert float(q["x"] @ vol) > 0.5 * float(np.abs(q["x"]) @ vol)


@pytest.mark.mpi
def test_two_ranks_equal_serial(tmp_path):
    """Serial and `mpiexec -n 2` (GMRES + block-Jacobi ILU per rank) agree to 1e-8: the
    phonon energy density field, the energy-flux vectors (3-component arrays in the
    pieces of the `.pvtu`; measured 4e-13 with the spot alone) and the energies of the
    summary, with a point spot and a track deposit."""
    case = case_variant("phonon_si_block.toml", tmp_path, **SHORT,
                        **{"[energy]": TRACK + "\n[energy]"})
    sa, sb = serial_and_two_ranks(case, tmp_path)
    assert sa["energy_J"]["sources"] == pytest.approx(15e3 * 1.602176634e-19, rel=1e-8,
                                                      abs=0)
    a, b, oa, ob = assert_phonon_ranks_agree(tmp_path, "phonon_si_block", sa, sb,
                                             keys=("final", "boundary:bottom", "sources"))
    qa = np.asarray(a.cell_data["phonon_energy_flux"])[oa]
    qb = np.asarray(b.cell_data["phonon_energy_flux"])[ob]
    assert qa.shape == qb.shape == (a.n_cells, 3)
    assert np.max(np.abs(qa - qb)) <= 1e-8 * np.max(np.abs(qa))


def _resumed_equals_uninterrupted(a, b, steps: int) -> tuple:
    """Run ``b`` (resumed) against ``a`` (uninterrupted): status 0 after ``steps`` steps;
    the same energies, series rows (``steps + 2`` with the header) and final energy
    density to 1e-12. Returns (summary of b, snapshot times of a, of b)."""
    sa = json.loads((a / "summary.json").read_text())
    sb = json.loads((b / "summary.json").read_text())
    assert sb["status"] == 0 and sb["steps"] == steps
    for k, v in sa["energy_J"].items():
        assert sb["energy_J"][k] == pytest.approx(v, rel=1e-12, abs=0), k
    with open(a / "phonon_si_block_series.csv") as fh:
        ra = list(csv.reader(fh))
    with open(b / "phonon_si_block_series.csv") as fh:
        rb = list(csv.reader(fh))
    assert ra[0] == rb[0] and len(ra) == len(rb) == steps + 2
    for x, y in zip(ra[1:], rb[1:], strict=True):
        np.testing.assert_allclose(np.array(y, float), np.array(x, float), rtol=1e-12,
                                   atol=0)
    ta, fa = last_snapshot(a, "phonon_si_block")
    tb, fb = last_snapshot(b, "phonon_si_block")
    np.testing.assert_allclose(np.asarray(fb.cell_data["phonon_energy_density"]),
                               np.asarray(fa.cell_data["phonon_energy_density"]), rtol=1e-12,
                               atol=0)
    return sb, ta, tb


def test_resume_equals_uninterrupted(tmp_path):
    """12 ns of the Si block stopped after 7 steps (checkpoint every 5: resumes from the
    final checkpoint of the stopped run at step 7) and resumed: the same final state
    (energy field 1e-12), energies and series rows as the uninterrupted run."""
    case = case_variant("phonon_si_block.toml", tmp_path, **{'end = "100 ns"': 'end = "12 ns"',
                                                             "every = 5": "every = 5\n"
                                                             "checkpoint_every = 5"})
    run_fvqp(["run", case, "--output", tmp_path / "a"])
    first = run_fvqp(["run", case, "--output", tmp_path / "b", "--max-steps", "7"],
                     check=False)
    s1 = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert s1["status"] == 1 and s1["steps"] == 7, first.stderr
    run_fvqp(["run", case, "--output", tmp_path / "b", "--resume"])
    _, ta, tb = _resumed_equals_uninterrupted(tmp_path / "a", tmp_path / "b", 12)
    assert list(ta) == list(tb)


def test_a_signal_stops_the_run_after_a_step_and_it_resumes(tmp_path):
    """SIGTERM (a batch system's time limit) right after the 2nd checkpoint (step 10 of
    12, checkpoint every 5) stops the phonon run after that step on the shared
    fixed-step loop: checkpoint written, status 1, ``stopped_by``, a message naming
    ``--resume``, exit 128 + 15; ``--resume`` then gives the uninterrupted run (energies,
    series rows, final field to 1e-12). Before the loop was shared, the phonon model kept
    Python's default handling: the process died (exit -15) and the steps after the last
    periodic checkpoint were lost."""
    import signal

    from conftest import run_fvqp_killed

    case = case_variant("phonon_si_block.toml", tmp_path, **{'end = "100 ns"': 'end = "12 ns"',
                                                             "every = 5": "every = 5\n"
                                                             "checkpoint_every = 5"})
    run_fvqp(["run", case, "--output", tmp_path / "a"])
    p = run_fvqp_killed(["run", case, "--output", tmp_path / "b"], after_checkpoints=2,
                        sig=signal.SIGTERM)
    assert p.returncode == 128 + signal.SIGTERM, p.stderr
    assert "stopped by SIGTERM" in p.stderr and "--resume" in p.stderr
    s1 = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert s1["status"] == 1 and s1["stopped_by"] == "SIGTERM" and s1["steps"] == 10
    run_fvqp(["run", case, "--output", tmp_path / "b", "--resume"])
    _, ta, tb = _resumed_equals_uninterrupted(tmp_path / "a", tmp_path / "b", 12)
    assert list(ta) == list(tb)


def test_resume_extends_the_end_of_a_finished_run(tmp_path):
    """The Si block run to 12 ns (finished, status 0), then resumed with ``end = 20 ns``
    (`[time] end` is out of the digest: phonon's `digest_exempt`): the same energies,
    series rows and final energy density as the run that went to 20 ns at once (1e-12;
    the same fixed step), the 12 ns snapshot of the first leg kept; an end before the
    checkpoint is refused with the fix (exit 2)."""
    from fvqp.models import get_model_spec

    assert "time.end" in get_model_spec("phonon").digest_exempt

    def variant(end):
        return case_variant("phonon_si_block.toml", tmp_path,
                            **{'end = "100 ns"': f'end = "{end}"'})

    run_fvqp(["run", variant("20 ns"), "--output", tmp_path / "a"])
    run_fvqp(["run", variant("12 ns"), "--output", tmp_path / "b"])
    s1 = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert s1["status"] == 0 and s1["steps"] == 12
    run_fvqp(["run", variant("20 ns"), "--output", tmp_path / "b", "--resume"])
    sb, ta, tb = _resumed_equals_uninterrupted(tmp_path / "a", tmp_path / "b", 20)
    assert sb["t_end_s"] == pytest.approx(20e-9, rel=1e-12, abs=0)
    assert ta[-1] == tb[-1] == pytest.approx(20e-9, rel=1e-12, abs=0)
    assert any(t == pytest.approx(12e-9, rel=1e-12, abs=0) for t in tb)  # first leg's end
    back = run_fvqp(["run", variant("10 ns"), "--output", tmp_path / "b", "--resume"],
                    check=False)
    assert back.returncode == 2
    assert "after [time] end = 1.000000e-08 s. Fix: give an end at or after" in back.stderr


def test_case_errors_name_key_and_fix(tmp_path):
    """An unknown medium and a track without a direction are refused by `fvqp check`
    (exit 2) naming the key, the file and the fix."""
    case = case_variant("phonon_si_block.toml", tmp_path, **{
        'medium = "Si"': 'medium = "Silicon"',
        'radius = "10 um"': 'radius = "10 um"\nlength = "50 um"'})
    proc = run_fvqp(["check", case], check=False)
    assert proc.returncode == 2
    err = proc.stdout + proc.stderr
    assert "regions.substrate.medium" in err and "Si, Ge, Al2O3" in err
    assert "sources[0].direction" in err and "phonon_si_block.toml" in err


def test_steady_heat_flow_balances(write_case, tmp_path):
    """Steady state (`[time] steady`) between a 5 K holder (bottom) and an absorbing top
    face of the 40 x 40 x 100 um column with diffuse sides: the net flow out of the holder
    leaves through the top (1e-10; measured 73.1 uW, balance 4e-15)."""
    from test_phonon_flux import COLUMN  # the same column, with bulk scattering, diffuse sides

    case = write_case(COLUMN.replace("isotope_scattering = false\nanharmonic_decay = false\n", "")
                      .replace('sides]\ntype = "specular"', 'sides]\ntype = "diffuse"')
                      .split("[output]")[0], "phonon_steady.toml")
    run_fvqp(["run", case, "--output", tmp_path / "o"])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    r = s["energy_rates_W"]
    assert s["status"] == 0
    assert r["boundary:top"] < 0  # into the system (models/base/balance.py): it leaves
    assert r["boundary:bottom"] + r["boundary:top"] == pytest.approx(0.0, abs=-1e-10 *
                                                                     r["boundary:top"])
    assert s["energy_rate_imbalance_W"] == pytest.approx(0.0, abs=-1e-10 * r["boundary:top"])
    assert r["boundary:top"] == pytest.approx(-7.31e-5, rel=1e-3, abs=0)


BILAYER_RUN = """
model = "phonon"
[mesh]
file = "@MESHES@/substrate_bilayer/substrate_bilayer.msh"
[bath]
temperature = "10 mK"
[regions.lower]
medium = "Si"
[regions.upper]
medium = "Al2O3"
[boundaries.bottom]
type = "bath"
[boundaries.top]
type = "diffuse"
[boundaries.sides]
type = "specular"
[interfaces]
model = "amm"
""" + phonon_deposit("3 ns", "0.5 ns", "position = [10, 10, 80]", 'radius = "5 um"') + """[energy]
bins = 4
e_max = "3 meV"
[time]
end = "20 ns"
dt_initial = "1 ns"
"""


@pytest.mark.mpi
def test_interface_two_ranks_equal_serial(write_case, tmp_path):
    """Si | sapphire stack with the deposit in the sapphire and the holder under the Si:
    the AMM interface operator across a rank boundary gives the serial energies (1e-8);
    energy reached the holder through the interface."""
    case = write_case(BILAYER_RUN, "phonon_bilayer_run.toml")
    run_fvqp(["run", case, "--output", tmp_path / "s"])
    run_fvqp(["run", case, "--output", tmp_path / "p"], nproc=2)
    sa = json.loads((tmp_path / "s" / "summary.json").read_text())
    sb = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert sa["status"] == sb["status"] == 0 and sb["ranks"] == 2
    dep = sa["energy_J"]["sources"]  # flows into the system: out < 0
    assert -sa["energy_J"]["boundary:bottom"] > 1e-3 * dep
    assert abs(sa["energy_imbalance_J"]) < 1e-10 * dep
    for k in ("final", "boundary:bottom"):
        assert sb["energy_J"][k] == pytest.approx(sa["energy_J"][k], rel=1e-8, abs=0), k


def test_track_deposit_is_uniform_along_the_track(write_case):
    """A track along x through cell centres of the 8 x 8 x 8 block: equal weight in every
    x layer it crosses (uniform dE/dx; 1e-8: mesh-coordinate round-off), beyond its end
    (x = 100 um) only the Gaussian of the distance to the end point, weights summing to
    1."""
    from fvqp.case import load_case
    from fvqp.models.phonon.driver import PhononSimulation

    text = (CASES_DIR / "phonon_si_block.toml").read_text().replace(
        'file = "../meshes/', 'file = "@MESHES@/').replace(
        "position = [60, 100, 70]", "position = [0, 112.5, 62.5]\ndirection = [1, 0, 0]\n"
        'length = "100 um"').replace('radius = "10 um"', 'radius = "5 um"')
    sim = PhononSimulation.from_case(load_case(write_case(text, "phonon_track.toml")))
    w = sim.problem.sources[0].weights
    x = sim.dist.local.centroid[: sim.problem.n, 0]
    layers = np.array([w[np.isclose(x, 12.5 + 25 * i)].sum() for i in range(8)])
    assert w.sum() == pytest.approx(1.0, rel=1e-14)
    np.testing.assert_allclose(layers[:4], layers[0], rtol=1e-8)   # x = 12.5 .. 87.5 um
    # x = 112.5 um lies 12.5 um past the end: the Gaussian of its distance to the end point
    assert layers[4] == pytest.approx(layers[0] * np.exp(-0.5 * 12.5**2 / 25.0), rel=1e-8)
    assert layers[5] == pytest.approx(layers[0] * np.exp(-0.5 * 37.5**2 / 25.0), rel=1e-6)


def test_al_film_on_si_case_runs(tmp_path):
    """`cases/phonon_al_film_on_si.toml` for 20 ns: the deposit is shared between the
    holder and the Al film (absorbed above 2 Delta by pair breaking) — the energy balance
    closes to 1e-10 of the deposit (a diffuse AMM reflection with T > 1 after a
    geometric-mean reciprocal scaling lost 1 % here), and both sinks received energy."""
    case = case_variant("phonon_al_film_on_si.toml", tmp_path,
                        **{'end = "100 ns"': 'end = "20 ns"'})
    run_fvqp(["run", case, "--output", tmp_path / "o"])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["status"] == 0
    e = s["energy_J"]
    dep = e["sources"]  # flows into the system: out < 0
    assert dep == pytest.approx(10e3 * 1.602176634e-19, rel=1e-8, abs=0)
    assert abs(s["energy_imbalance_J"]) < 1e-10 * dep
    assert -e["region:upper"] > 0.05 * dep and -e["boundary:bottom"] > 0.05 * dep
    assert s["amm_reciprocity_scaling"][0] < 0.25


def test_a_signal_during_the_last_step_cuts_nothing_short(tmp_path):
    """SIGTERM right after the checkpoint of the last step (12 of 12, checkpoint every 6)
    stops nothing: the run is complete — status 0, exit 0, ``stopped_by`` recorded, the
    message saying so — and equals the run without a signal (1e-12). Before, the fixed
    step loop and the adaptive one disagreed here (status 0 against status 1 "stopped",
    both with exit 143)."""
    import signal

    from conftest import run_fvqp_killed

    case = case_variant("phonon_si_block.toml", tmp_path, **{'end = "100 ns"': 'end = "12 ns"',
                                                             "every = 5": "every = 5\n"
                                                             "checkpoint_every = 6"})
    run_fvqp(["run", case, "--output", tmp_path / "a"])
    p = run_fvqp_killed(["run", case, "--output", tmp_path / "b"], after_checkpoints=2,
                        sig=signal.SIGTERM)
    assert p.returncode == 0, p.stderr
    s1 = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert s1["status"] == 0 and s1["stopped_by"] == "SIGTERM" and s1["steps"] == 12
    assert "nothing was cut short" in s1["message"]
    _, ta, tb = _resumed_equals_uninterrupted(tmp_path / "a", tmp_path / "b", 12)
    assert list(ta) == list(tb)
