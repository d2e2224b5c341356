"""Usadel under `mpiexec -n 2`: the energies of the spectral and collisionless kinetic
solves shared over the ranks (:class:`fvqp.parallel.energies.EnergySplit`), the results
gathered on every rank, the files written by rank 0.

The energies are independent equations and the active-set Newton
(:func:`fvqp.models.usadel.newton.newton_active`) treats each energy as a solve of its own,
so two ranks give the serial numbers up to the round-off of the sparse LU ordering
(here 1e-12). Two real runs each: a single state (spectral + kinetic solve, 801
energies) and a bias sweep with its exact detector slope g_nl (Eq. 15).

The phase-biased solver (:func:`fvqp.models.usadel.phase.solve_phase`) shares its
energies too: each rank its block's initial guess and Newton, the few energies that need
the continuation in the broadening continued together on every rank, as serially; the SNS
case and an S wire whose gap-edge energies need that continuation equal serial to 1e-10.

The inelastic solve (e–e collisions: one coupled system over energies and nodes) is
distributed by blocks of energies (:class:`fvqp.parallel.energies.EnergyLayout`): the
self-consistent Fig. 11 state on two ranks equals serial to the solver tolerances.

A supercurrent map runs its sweeps (one per ±I_s) side by side, one per rank
(:func:`fvqp.models.usadel.sweeps.supercurrent_map`): each sweep is the serial one, so
the map equals the serial map (to 1e-15 here), also stopped and resumed on two ranks.
"""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from conftest import CASES, ROOT, mpi_env, run_fvqp
from fvqp.parallel.energies import EnergySplit

MESH = ROOT / "meshes" / "nis_wire" / "nis_wire.msh"

CASE = f"""
model = "usadel"
[mesh]
file = "{MESH}"
[bath]
temperature = "100 mK"
[regions.wire]
material = "Al"
gap = "265 ueV"
cross_section = "1200 nm^2"
resistivity = "1.5818e-7 Ohm m"
diffusivity = "16.9 cm^2/s"
dynes_gamma = 2e-3
[boundaries.reservoir_left]
type = "superconductor"
[boundaries.reservoir_right]
type = "superconductor"
[junctions.junction_a]
conductance = "24.6 uS"
bias = "0.2 mV"
[junctions.junction_b]
conductance = "31.4 uS"
in_solve = false
[time]
steady = true
"""

STATE = CASE + """
[energy]
spacing = 0.01
max = 4.0
[selfconsistency]
mode = "none"
"""

SWEEP = CASE + """
[energy]
spacing = 0.02
max = 4.0
[selfconsistency]
mode = "none"
[sweep]
junction = "junction_a"
start = "-0.6 mV"
stop = "0.6 mV"
points = 5
detector = "junction_b"
detector_biases = ["0 V", "0.1 mV"]
"""


MAP = SWEEP.replace("points = 5", "points = 3").replace("spacing = 0.02", "spacing = 0.05") \
    + 'supercurrents = ["0 uA", "4 uA"]\n'


SNS = (CASES / "usadel_sns_phase.toml").read_text().replace(
    "../meshes", str(ROOT / "meshes")).replace("spacing = 0.004", "spacing = 0.01")


def _arrays(path) -> dict:
    out = {}
    with h5py.File(path) as fh:
        fh.visititems(lambda k, v: out.__setitem__(k, v[()])
                      if isinstance(v, h5py.Dataset) else None)
    return out


@pytest.mark.parametrize("text, name, tol", [(STATE, "usadel_state", 1e-12),
                                             (SWEEP, "usadel_sweep", 1e-12),
                                             (MAP, "usadel_map", 1e-12),
                                             (SNS, "usadel_sns_phase", 1e-10)])
def test_two_ranks_equal_serial(tmp_path, text, name, tol):
    case = tmp_path / f"{name}.toml"
    case.write_text(text)
    serial, par = tmp_path / "serial", tmp_path / "mpi"
    run_fvqp(["run", case, "--output", serial])
    run_fvqp(["run", case, "--output", par], nproc=2)
    a, b = _arrays(serial / f"{name}.h5"), _arrays(par / f"{name}.h5")
    assert a.keys() == b.keys() and "spectral/N" in a
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        assert x.shape == y.shape, k
        if x.dtype.kind in "fc":
            scale = max(float(np.max(np.abs(x))), 1e-300)
            assert float(np.max(np.abs(x - y))) <= tol * scale, k
        else:
            np.testing.assert_array_equal(x, y, err_msg=k)
    s = json.loads((par / "summary.json").read_text())
    assert s["ranks"] == 2 and s["status"] == 0
    assert json.loads((serial / "summary.json").read_text())["ranks"] == 1
    if name == "usadel_sns_phase":  # a supercurrent flows (χ solved for): not trivial
        assert np.max(np.abs(b["spectral/j_eps"])) > 0.1
    elif name != "usadel_state":  # the exact slope is the current's derivative (Eq. 15)
        assert s["g_nl"].startswith("exact")
        assert np.all(np.isfinite(b["g_nl"])) and np.max(np.abs(b["g_nl"])) > 0


PHASE_SCRIPT = """
import json, logging
import numpy as np
from fvqp.models.usadel.network import uniform_wire
from fvqp.models.usadel.phase import PhaseProblem, solve_phase
from fvqp.models.usadel.terminals import Reservoir
from fvqp.parallel.energies import EnergySplit

continued = []
class Count(logging.Handler):
    def emit(self, rec):
        if "continued in the broadening" in rec.getMessage():
            continued.append(rec.args[0])
log = logging.getLogger("fvqp.models.usadel.phase")
log.setLevel(logging.INFO)
log.addHandler(Count())
n, q, length = 100, 0.2, 20.0
res = [Reservoir("l", 0, "superconductor", delta=1.0, phase=-q * length / 2),
       Reservoir("r", n, "superconductor", delta=1.0, phase=q * length / 2)]
prob = PhaseProblem(uniform_wire(length, n, x0=0.0), 1.0, gamma=0.005, reservoirs=res)
eps = np.arange(-120, 121) / 40
split = EnergySplit()
sol = solve_phase(prob, eps, split=split)
if split.is_root:
    shared = list(continued)
    ref = solve_phase(prob, eps)
    print(json.dumps({"ranks": split.size, "continued": shared,
                      "dtheta": float(np.abs(sol.theta - ref.theta).max()),
                      "dchi": float(np.abs(sol.chi - ref.chi).max()),
                      "N_mid": float(sol.N[eps == 0.5, n // 2][0])}))
"""


def test_phase_solve_with_shared_energies_equals_serial(tmp_path):
    """An S wire (20 ξ, 100 cells, reservoirs at ∓2 rad: q = 0.2/ξ, Γ = 0.005) on 241
    energies with the gap edges ±Δ on the grid, where Newton stalls: solved with the
    energies over two ranks, the two gap-edge energies go through the continuation in
    the broadening (on every rank), and θ, χ equal the serial solve on rank 0 to 1e-10;
    the gap is depaired but not closed by q = 0.2 (N(0.5 Δ) in the middle < 0.05)."""
    out = _run_script(tmp_path, PHASE_SCRIPT)
    assert out["ranks"] == 2 and out["continued"] == [2]
    assert out["dtheta"] <= 1e-10 and out["dchi"] <= 1e-10
    assert 0.0 <= out["N_mid"] < 0.05


INELASTIC_SCRIPT = """
import json
from dataclasses import replace
import numpy as np
from fvqp.models.usadel import inelastic, paper
from fvqp.models.usadel.selfconsistent import solve_state, with_biases
from fvqp.parallel.energies import EnergySplit

calls, real = [], inelastic._newton_krylov
inelastic._newton_krylov = lambda *a: calls.append(1) or real(*a)
st = with_biases(paper.fig11_setup(gamma_ee=2e-4, de=0.05, n_edges=30), {"injector": 2.0})
split = EnergySplit()
par = solve_state(replace(st, split=split))
counts = split.comm.allgather(len(calls))
if split.is_root:
    ser = solve_state(st)
    el = solve_state(replace(st, gamma_ee=0.0))
    print(json.dumps({"calls": counts, "iterations": [par.iterations, ser.iterations],
                      "ddelta": float(np.abs(par.delta - ser.delta).max()),
                      "dfL": float(np.abs(par.kinetic.fL - ser.kinetic.fL).max()),
                      "delta": float(ser.delta[0]), "delta_elastic": float(el.delta[0])}))
"""


def _run_script(tmp_path, text: str) -> dict:
    """``text`` as a script under ``mpiexec -n 2``: the JSON line rank 0 prints."""
    script = tmp_path / "script.py"
    script.write_text(text)
    proc = subprocess.run(["mpiexec", "-n", "2", sys.executable, str(script)],
                          capture_output=True, text=True, env=mpi_env(), timeout=1500,
                          cwd=tmp_path, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_inelastic_solve_distributed_equals_serial(tmp_path):
    """Fig. 11's half wire (30 cells, δε = 0.05) at eV_inj = 2Δ0 with e–e collisions and
    uniform Δ self-consistency (Eq. 8) on two ranks: both ranks take part in every
    inelastic solve of the self-consistency loop (the energies' blocks of one SNES), the
    loop takes the serial number of iterations, and Δ equals the serial state to 1e-9
    (measured 1.7e-10; Eq. 8's tolerance is 1e-7), fL to 1e-7 (1.6e-8: the Newton–Krylov
    tolerance 1e-10 through eight Eq. 8 iterations). The collisions matter: Δ differs
    from the elastic state's by 1.7e-3."""
    out = _run_script(tmp_path, INELASTIC_SCRIPT)
    assert out["calls"][0] == out["calls"][1] == out["iterations"][0] > 1
    assert out["iterations"][0] == out["iterations"][1]
    assert out["ddelta"] <= 1e-9 and out["dfL"] <= 1e-7
    assert abs(out["delta"] - out["delta_elastic"]) > 1e-3


def test_map_stopped_and_resumed_on_two_ranks_equals_serial(tmp_path):
    """The map of three sweeps (I_s = 0, ±4 µA) on two ranks, stopped after 3 and after 3
    more biases and resumed: every started sweep keeps the continuation state of its own
    last bias in the checkpoint (one sweep per rank per round), and the result equals the
    uninterrupted serial map to 1e-10 (the odd parts g_a, g_sa relative to g_nl)."""
    case = tmp_path / "usadel_map.toml"
    case.write_text(MAP)
    serial, part = tmp_path / "serial", tmp_path / "part"
    run_fvqp(["run", case, "--output", serial])
    run_fvqp(["run", case, "--output", part, "--max-steps", 3], nproc=2)
    with h5py.File(part / "checkpoint.h5") as ck:
        names = sorted(ck.keys())
    done = [n.split("::")[0] for n in names if n.endswith("::delta")]
    assert done == ["is0p_bias0000", "is0p_bias0001", "is1p_bias0000"]
    assert [n for n in names if n.endswith("::carry_fL")] == ["is0p_bias0001::carry_fL",
                                                              "is1p_bias0000::carry_fL"]
    run_fvqp(["run", case, "--output", part, "--max-steps", 3, "--resume"], nproc=2)
    assert not (part / "usadel_map.h5").exists()
    run_fvqp(["run", case, "--output", part, "--resume"], nproc=2)
    a, b = _arrays(serial / "usadel_map.h5"), _arrays(part / "usadel_map.h5")
    assert a.keys() == b.keys()
    odd = {"g_a_map": "g_nl_map", "g_sa_map": "g_nl_map", "g_sa": "g_nl"}
    for k in a:
        if np.asarray(a[k]).dtype.kind in "fc":
            scale = float(np.max(np.abs(a[odd.get(k, k)])))
            assert np.max(np.abs(a[k] - b[k])) <= 1e-10 * scale, k
    assert np.max(np.abs(a["g_a_map"][1])) > 1e-4 * np.max(np.abs(a["g_s_map"][1]))  # 5e-4


def test_map_current_above_critical_on_the_second_rank_is_refused(tmp_path):
    """The phase gradients of the map's currents are found one current per rank: a
    current above the depairing critical current, found on rank 1, is refused on every
    rank as the serial run refuses it (exit 2, the critical current in µA), before any
    sweep (no checkpoint)."""
    case = tmp_path / "usadel_map.toml"
    case.write_text(MAP.replace('["0 uA", "4 uA"]', '["4 uA", "500 uA"]'))
    proc = run_fvqp(["run", case, "--output", tmp_path / "o"], nproc=2, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "critical current" in proc.stderr and "µA" in proc.stderr
    assert not (tmp_path / "o" / "checkpoint.h5").exists()


@pytest.mark.parametrize("n", [1, 5, 801])
def test_blocks_cover_the_grid_once(n):
    """Blocks of P ranks: contiguous, in order, sizes differing by at most one."""
    s = EnergySplit()
    for size in (1, 2, 3, 8):
        s.size = size
        blocks = [s.block(n, p) for p in range(size)]
        assert blocks[0].start == 0 and blocks[-1].stop == n
        assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:], strict=False))
        sizes = [b.stop - b.start for b in blocks]
        assert max(sizes) - min(sizes) <= 1
