# %% [markdown]
# # bte_chip: a particle deposit in a chip, phonons to the films, QP bursts
#
# The chip chain (issue 17): QPs in the Al films (the `bte` collision layer) coupled to
# the phonons travelling through the Si chip (the `phonon` model). 1 keV of 0.5 meV
# phonons is deposited below the left island of `cases/bte_chip_deposit.toml` (here on
# the coarse `meshes/chip_small` mesh, for 40 ns). Checks: the energy balance — QPs +
# phonons + what the holder absorbed = the deposit, at every step — and the QP number of
# the near island rising after the deposit while the far island (552 um away, 92 ns of
# ballistic flight) has not yet seen the burst.

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

case = tomllib.loads((ROOT / "cases/bte_chip_deposit.toml").read_text())
case["mesh"]["file"] = "../meshes/chip_small/chip_small.msh"
case["time"]["end"] = "40 ns"
case.pop("output")
run = fa.run(case, base_dir=ROOT / "cases", output_dir=OUT / "chip", name="chip")
print(run.result.report())

# %% the energy balance in SI at every step
eq, eph = run.series["E_qp_J"].values, run.series["E_phonon_J"].values
held = -run.series["boundary:substrate_bottom_J"].values  # flows into the chip: out < 0
dep = run.series["sources_J"].values
print(f"deposited {dep[-1]:.4e} J: phonons {eph[-1]:.4e} J, QPs {eq[-1]:.4e} J, "
      f"holder {held[-1]:.4e} J")
e0 = eq[0] + eph[0]
assert np.all(np.abs(eq + eph - e0 + held - dep) <= 1e-10 * dep.max())

# %% the correlated burst: the near island first
near = run.series["dN_qp:island_left"].values
far = run.series["dN_qp:island_right"].values
print(f"excess QPs after 40 ns: near island {near[-1]:.1f}, far island {far[-1]:.3f}")
assert near[-1] > 100 * max(far[-1], 1e-300) and near[-1] > 100
