# %% [markdown]
# # bte_sphere: a hot QP packet relaxing in a Sn sphere
#
# The Boltzmann equation of QPs and phonons in a sphere (radial discrete ordinates),
# `cases/bte_sphere_sn_packet.toml` on coarse grids for 0.1 ns. Check: energy
# conservation — the 1 keV deposited equals what escaped through the surface plus the
# QP and phonon excess left, to 1e-8.

# %%
import os
import tempfile
import tomllib
from pathlib import Path

import fvqp
import fvqp.api as fa

ROOT = Path(os.environ.get("FVQP_ROOT") or Path(fvqp.__file__).resolve().parents[1])
OUT = Path(os.environ.get("FVQP_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="fvqp_example_"))

case = tomllib.loads((ROOT / "cases/bte_sphere_sn_packet.toml").read_text())
case["sphere"]["cells"] = 6
case["angles"]["ordinates"] = 4
case["spectrum"].update(spacing="100 ueV", e_max="6.7 meV")  # the packet to 3 widths
case["time"]["end"] = "0.1 ns"
case["output"] = {"times": ["10 ps"]}
run = fa.run(case, output_dir=OUT / "bte_sphere", name="bte_sphere_packet")
print(run.result.report(tuple(run.result["keys"])))  # with the run's key numbers

# %% time series in SI (t in s, energies in J)
esc = run.series["E_escaped_J"]
print(f"escaped energy [{esc.unit}] at t = {esc.times[-1]:.3e} s: {esc.values[-1]:.4e}")

# %% physics: energy balance
e = run.result["energy_J"]
dep = e["deposited_excess"]
left = e["left_excess_qp"] + e["left_excess_ph"]
print(f"deposited {dep:.6e} J = escaped {e['escaped']:.4e} J + left {left:.4e} J")
assert abs(dep - 1e3 * 1.602176634e-19) < 1e-9 * dep
assert abs(dep - e["escaped"] - left) < 1e-8 * dep
assert abs(esc.values[-1] - e["escaped"]) < 1e-9 * dep
# the key numbers tell the same balance; the run's picture is <case>_relaxation.png
assert abs(run.result["E_escaped_J"] + run.result["E_excess_qp_final_J"]
           + run.result["E_excess_ph_final_J"] - dep) < 1e-8 * dep
assert (run.path / "bte_sphere_packet_relaxation.png").is_file()
