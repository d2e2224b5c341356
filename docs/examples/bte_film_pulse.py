# %% [markdown]
# # bte: angle-resolved QP transport after a pulse in an Al film with a trap
#
# The mesh Boltzmann model (discrete ordinates in the film plane) on the film/trap mesh,
# `cases/bte_film_pulse.toml` for 20 ps with 8 directions. Checks: the QP number is
# conserved (deposited = stored + trapped + absorbed, to 1e-10) and the QP excess
# integrated over the film from the SI field equals the summary's count.

# %%
import os
import tempfile
import tomllib
from pathlib import Path

import fvqp
import fvqp.api as fa

ROOT = Path(os.environ.get("FVQP_ROOT") or Path(fvqp.__file__).resolve().parents[1])
OUT = Path(os.environ.get("FVQP_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="fvqp_example_"))

case = tomllib.loads((ROOT / "cases/bte_film_pulse.toml").read_text())
case["time"]["end"] = "20 ps"
case["angles"]["directions"] = 8
case["output"] = {"every": 2}
run = fa.run(case, base_dir=ROOT / "cases", output_dir=OUT / "bte", name="bte_film_pulse")
print(run.result.report())

# %% the QP excess density (1/m^3) and its integral over the 100 nm film
n = run.fields["qp_excess"]
total = n.integral()[-1] * 100e-9  # 2D mesh: measure in m^2, × thickness
q = run.result["qp_number"]
print(f"QPs from the field: {total:.6e}; summary: {q['final']:.6e} ({n.unit})")

# %% physics: QP number conservation
dep = q["sources"]  # flows into the system are positive
assert abs(q["imbalance"]) < 1e-10 * dep
assert abs(total / q["final"] - 1) < 1e-8
