# %% [markdown]
# # usadel: nonlocal charge-imbalance signal of an NIS wire
#
# `cases/usadel_nis_wire.toml` (Ryan et al. 2026, Table 1) read into a dict and shrunk to
# a 5-point injector sweep on a coarser energy grid. The junctions carry the temperatures
# the case states (61 mK, 37 mK; without them a junction is at the bath temperature).
# Check: with the gap held fixed, charge imbalance alone makes the nonlocal conductance
# even in the injector bias — g_sa (its odd part) vanishes against g_ss.

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

case = tomllib.loads((ROOT / "cases/usadel_nis_wire.toml").read_text())
case["sweep"]["points"] = 5
case["energy"]["spacing"] = 0.04
case.pop("output")
run = fa.run(case, base_dir=ROOT / "cases", output_dir=OUT / "usadel", name="usadel_wire")
# the end-of-run report with the run's key numbers (Δ at the wire centre, the injector's
# current and dI/dV at the last bias, the largest g_nl)
print(run.result.report(tuple(run.result.summary["keys"])))
assert run.result["delta_centre_ueV"] == 265.0  # µeV: the gap is held at Δ0

# %% SI arrays from the HDF5 result (units declared in the file, converted to SI)
gap, bias, g_ss, g_sa = (run.data[k] for k in ("gap_ueV", "bias_mV", "g_ss", "g_sa"))
print(f"gap [{gap.unit}] = {gap.values.max():.4e}, biases [{bias.unit}] = {bias.values}")
print(f"g_ss [{g_ss.unit}] = {g_ss.values[:, 0]}")
assert np.allclose(gap.values, 265e-6 * 1.602176634e-19, rtol=1e-12, atol=0)  # J
assert np.allclose(bias.values, np.linspace(-0.795e-3, 0.795e-3, 5), rtol=1e-12, atol=0)

# %% physics: g_sa = 0 (no antisymmetric part without gap suppression)
assert np.abs(g_sa.values).max() < 1e-6 * np.abs(g_ss.values).max()
assert np.abs(g_ss.values).max() > 0
