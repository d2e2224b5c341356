# %% [markdown]
# # transport: energy-resolved QP injection into an NIS wire
#
# `cases/transport_nis_wire.toml` (steady state) given to the API as TOML text, on a
# coarser energy grid. Checks: the injected QP rate is the NIS tunnel current
# √((eV)² − Δ²)/(e² R_T) of the equilibrium wire less a few per cent of back-flow, and
# the QPs leave by the two reservoirs inversely to their distance from the junction.

# %%
import math
import os
import tempfile
from pathlib import Path

import fvqp
import fvqp.api as fa

ROOT = Path(os.environ.get("FVQP_ROOT") or Path(fvqp.__file__).resolve().parents[1])
OUT = Path(os.environ.get("FVQP_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="fvqp_example_"))
E = 1.602176634e-19  # C

text = (ROOT / "cases/transport_nis_wire.toml").read_text()
run = fa.run(text, base_dir=ROOT / "cases", output_dir=OUT / "transport", name="transport_wire")
print(run.result.report())

# %% the QP density along the wire, in 1/m^3, at the energy-integrated level
n = run.fields["qp_density"]
print(f"qp_density [{n.unit}]: max {n.values[-1].max():.3e}; QPs in the wire "
      f"{n.integral()[-1] * 1200e-18:.3e}")  # × cross-section (1D mesh: measure in m)

# %% physics: injection rate and the split between the reservoirs
rates = run.result["qp_rates_per_s"]
nis = math.sqrt(532.0**2 - 266.0**2) * 1e-6 / (E * 40.7e3)
print(f"injected {rates['boundary:junction_a']:.4e} /s, NIS estimate {nis:.4e} /s")
assert 0.97 * nis < rates["boundary:junction_a"] < nis
left, right = -rates["boundary:reservoir_left"], -rates["boundary:reservoir_right"]
assert abs(left / (left + right) / (5.8 / 11.0) - 1) < 1e-2
