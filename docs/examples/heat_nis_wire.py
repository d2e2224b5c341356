# %% [markdown]
# # heat: steady heating of an NIS wire, from Python in SI
#
# The quasi-equilibrium heat model on the 11 µm Al wire of `cases/heat_nis_wire.toml`,
# built here from a dict (the TOML's content) with the wire's material given as a
# `Material` whose Tc is overridden (Δ0 = 265 µeV). 1 fW is dissipated at x = -0.3 µm;
# both wire ends are held at the bath. Check: whatever κ(T), Φ = ∫κ dT is linear on each
# side of the heater, so the power reaching each reservoir is inversely proportional to
# its distance: 5.8/11 of it leaves on the left.

# %%
import os
import tempfile
from pathlib import Path

import fvqp
import fvqp.api as fa

ROOT = Path(os.environ.get("FVQP_ROOT") or Path(fvqp.__file__).resolve().parents[1])
OUT = Path(os.environ.get("FVQP_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="fvqp_example_"))

case = {
    "model": "heat",
    "mesh": {"file": str(ROOT / "meshes/nis_wire/nis_wire.msh")},
    "bath": {"temperature": "150 mK"},
    "regions": {"wire": {"cross_section": "1200 nm^2", "resistivity": "1.58e-7 Ohm m"}},
    "boundaries": {"reservoir_left": {"type": "bath"}, "reservoir_right": {"type": "bath"}},
    "sources": [{"type": "power", "power": "1 fW", "position": [-0.3, 0.0, 0.0],
                 "radius": "20 nm"}],
    "time": {"steady": True},
}
al_film = fa.get_material("Al", Tc=1.74, gap_ratio=1.764)  # Δ0 = 265 µeV
run = fa.run(case, materials={"wire": al_film}, output_dir=OUT / "heat", name="heat_wire")
print(run.result.report())

# %% SI arrays: the temperature profile along the wire
T = run.fields["temperature"]
x = T.centres[:, 0]  # m
print(f"T in {T.unit}: max {T.values[-1].max():.4f} at x = {x[T.values[-1].argmax()]:.3e} m")

# %% the physics check: the Kirchhoff split of the heater's power
p = run.quantities
left = -p["power_W.boundary:reservoir_left"].value
right = -p["power_W.boundary:reservoir_right"].value
print(f"left {left:.4e} W, right {right:.4e} W, left share {left / (left + right):.5f}")
assert abs((left + right) / 1e-15 - 1) < 1e-9  # all of the 1 fW leaves
assert abs(left / (left + right) / (5.8 / 11.0) - 1) < 1e-3
assert abs(T.values[-1].max() - p["max_temperature_K"].value) < 1e-12

# %% pictures (PNG, as `fvqp plot`)
print([png.name for png in run.plot()])
