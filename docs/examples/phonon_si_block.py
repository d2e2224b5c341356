# %% [markdown]
# # phonon: ballistic phonons from a particle deposit in a Si block
#
# The discrete-ordinates phonon Boltzmann model (issue 17): 10 keV of 3 meV phonons
# deposited in a Si block whose bottom sits on the holder (a bath boundary), the other
# faces scatter diffusely (`cases/phonon_si_block.toml` for 10 ns with few directions and
# energies). Checks: energy conservation — the phonon energy in the block plus what the
# holder absorbed equals the deposit, at every step of the series — and the energy density
# field integrated over the block equals the series' phonon energy.

# %%
import os
import tempfile
import tomllib
from pathlib import Path

import numpy as np

import fvqp
import fvqp.api as fa

ROOT = Path(os.environ.get("FVQP_ROOT") or Path(fvqp.__file__).resolve().parents[1])
OUT = Path(os.environ.get("FVQP_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="fvqp_example_"))

case = tomllib.loads((ROOT / "cases/phonon_si_block.toml").read_text())
case["time"]["end"] = "10 ns"
case["angles"] = {"polar": 2, "azimuth": 4}
case["energy"]["bins"] = 3
case.pop("output")
run = fa.run(case, base_dir=ROOT / "cases", output_dir=OUT / "phonon", name="phonon_block")
print(run.result.report())

# %% the time series in SI: phonon energy in the block and the holder's cumulative share
E = run.series["E_phonon_J"]
held = -run.series["boundary:bottom_J"].values  # flows into the block: what leaves < 0
dep = run.series["sources_J"].values
print(f"t = {E.times[-1]:.2e} s: in the block {E.values[-1]:.4e} {E.unit}, "
      f"absorbed by the holder {held[-1]:.4e} J, deposited {dep[-1]:.4e} J")

# %% physics: energy conservation at every step, to round-off of the deposit
assert np.all(np.abs(E.values + held - dep) <= 1e-12 * dep.max())
assert held[-1] > 0 and np.all(np.diff(held) >= -1e-12 * dep.max())

# %% the energy density field (J/m^3) integrated over the block (m^3) is that energy
u = run.fields["phonon_energy_density"]
print(f"∫ u dV = {u.integral()[-1]:.6e} J ({u.unit} x m^3)")
assert abs(u.integral()[-1] / E.values[-1] - 1) < 1e-9
