# %% [markdown]
# # kinetics0d: pair-breaking efficiency of a photon-driven Al film
#
# The spatially uniform kinetic equations (Chang–Scalapino) of a 50 nm Al film at 120 mK
# absorbing 1 fW of 90 GHz photons (ħω = 372 µeV, just above 2Δ), steady state. A photon
# breaks one pair; the two QPs relax by emitting sub-gap phonons only, so the
# pair-breaking efficiency is η_pb = 2Δ/ħω (Guruswamy et al. 2014) — checked to 1 %.

# %%
import math
import os
import tempfile
from pathlib import Path

import fvqp.api as fa

OUT = Path(os.environ.get("FVQP_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="fvqp_example_"))
K_B, HBAR, E = 1.380649e-23, 1.054571817e-34, 1.602176634e-19

case = {
    "model": "kinetics0d",
    "bath": {"temperature": "120 mK"},
    "film": {"thickness": "50 nm", "area": "1000 um^2"},
    "grid": {"spacing": "8 ueV", "e_max": "900 ueV"},
    "drives": [{"type": "photon", "frequency": "90 GHz", "power": "1 fW"}],
    "time": {"steady": True},
}
run = fa.run(case, materials={"film": fa.get_material("Al", Tc=1.2)},
             output_dir=OUT / "kinetics0d", name="kinetics0d_resonator")
print(run.result.report())

# %% the observables in SI (n_qp in 1/m^3, powers in W ...; mu_ueV: µ* in µeV)
obs = {k.removesuffix("_SI"): v for k, v in run.result["observables_SI"].items()}
print({k: f"{v:.4g}" for k, v in obs.items()})
assert abs(obs["power_absorbed"] / 1e-15 - 1) < 1e-9  # the drive's 1 fW
assert abs(obs["power_escaped"] / 1e-15 - 1) < 1e-6  # all of it leaves as phonons

# %% physics: η_pb = 2Δ/ħω
mat = fa.get_material("Al", Tc=1.2)
two_delta = 2 * mat.delta0
hw = 2 * math.pi * HBAR * 90e9
eta = run.result["observables"]["eta_pb"]
print(f"eta_pb = {eta:.4f}, 2Delta/hw = {two_delta / hw:.4f}")
assert 0.98 < eta / (two_delta / hw) < 1.01

# %% the run's key numbers (summary "keys", also in its last log line) and its picture:
# N_qp in µm⁻³, T* and T_N in K, Δ in µeV — the units of every model's output
keys = run.result["keys"]
print({k: f"{v:.4g}" for k, v in keys.items()})
assert keys["eta_pb"] == eta
assert abs(keys["delta_ueV"] / (mat.delta0 / E * 1e6) - 1) < 1e-3  # Δ(120 mK) ≈ Δ0
assert 0 < obs["mu_ueV"] < keys["delta_ueV"]  # µ* in µeV below the gap (N_qp ≫ N_T)
assert keys["T_N_K"] > keys["T_star_K"] > 0.12  # hotter than the bath; µ* > 0: T_N > T*
png = OUT / "kinetics0d" / "kinetics0d_resonator_steady.png"  # f(E), n(Ω) with E in µeV
assert png.stat().st_size > 10_000
