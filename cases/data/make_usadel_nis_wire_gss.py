"""Make ``usadel_nis_wire_gss.csv``: stand-in "measured" g_ss for ``usadel_nis_wire_fit.toml``.

The paper's measured data are not available to fvqp. This script makes data of the same
kind from fvqp's *numerical* solution of Eqs. 9–10 on the Table 1 wire (the case
``usadel_nis_wire.toml``: mesh, junctions A → B, Γ = 1.53e-3 Δ0, Δ fixed) at three
supercurrents: I_s = 0, 5, 10 µA, i.e. the phase gradients that give these currents by
Eq. 6 with I0 = 29.8 µA (the paper's Fig. 10b value). g_ss is the bias-even part of
dI_det/dV_inj per G_inj G_det (Ω); 0.5 % Gaussian noise (seed 7) is added, like a
measurement. The fit case must then recover Γ = 1.53e-3, the three phase gradients and
I0 = 29.8 µA from an analytic formula (Eq. 21) that is independent of that numerical
solution. Run from the repository root: ``python cases/data/make_usadel_nis_wire_gss.py``.
"""

from __future__ import annotations

import os
import re
import tempfile

import h5py
import numpy as np

from fvqp.case import load_case
from fvqp.models.usadel.driver import run
from fvqp.models.usadel.fitting import supercurrent_per_i0
from fvqp.models.usadel.observables import split_bias
from fvqp.models.usadel.paper import BATH, TABLE1

HERE = os.path.dirname(os.path.abspath(__file__))
CURRENTS_UA = (0.0, 5.0, 10.0)
I0 = 29.8e-6
G_INJ, G_DET = 24.6e-6, 31.4e-6


def phase_gradients() -> np.ndarray:
    grid = np.linspace(0.0, 0.6, 61)
    i_s = I0 * supercurrent_per_i0(grid, TABLE1.t(BATH), 1.53e-3)
    return np.interp(np.array(CURRENTS_UA) * 1e-6, i_s, grid)


def g_ss(dphi: float, tmp: str) -> tuple[np.ndarray, np.ndarray]:
    text = open(os.path.join(HERE, "..", "usadel_nis_wire.toml")).read()
    text = text.replace("../meshes", os.path.join(HERE, "..", "..", "meshes"))
    text = re.sub(r"(?m)^dynes = .*$", f'dynes = "0.405 ueV"\nphase_gradient = {dphi!r}',
                  text)
    text = text.replace("points = 31", "points = 81")  # -3 .. 3 Δ0 in steps of 0.075 Δ0
    path = os.path.join(tmp, f"usadel_gss_{dphi:.6f}.toml")
    with open(path, "w") as fh:
        fh.write(text)
    out = os.path.join(tmp, f"out_{dphi:.6f}")
    run(load_case(path), output_dir=out)
    with h5py.File(os.path.join(out, os.path.basename(path)[:-5] + ".h5")) as f:
        v = f["bias_mV"][:] * 1e-3
        g = f["g_nl"][:, 0]
    _, even = split_bias(g[:, None], axis=0)
    return v, even[:, 0] / (G_INJ * G_DET)


def main() -> None:
    rng = np.random.default_rng(7)
    cols = []
    with tempfile.TemporaryDirectory() as tmp:
        for d in phase_gradients():
            v, g = g_ss(float(d), tmp)
            cols.append(g * (1.0 + 0.005 * rng.standard_normal(g.size)))
    d = phase_gradients()
    lines = ["# stand-in 'measured' g_ss/(G_inj G_det) of the Table 1 NIS wire, junctions A -> B,",
             "# from fvqp's numerical Eqs. 9-10 (Gamma = 1.53e-3 Delta0, Delta fixed) with 0.5 %",
             "# noise (seed 7); made by make_usadel_nis_wire_gss.py. Phase gradients (1/xi): "
             + ", ".join(f"{x:.6f}" for x in d),
             "V_inj_V, " + ", ".join(f"gss_ohm_Is_{c:g}uA" for c in CURRENTS_UA)]
    for k in range(v.size):
        lines.append(f"{v[k]:.6e}, " + ", ".join(f"{c[k]:.6e}" for c in cols))
    with open(os.path.join(HERE, "usadel_nis_wire_gss.csv"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
