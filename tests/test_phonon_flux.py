"""The phonon model's energy-flux output (`phonon_energy_flux_x/y/z`, W/m^2) read with
pyvista from the `.pvd` of a real run: a ballistic column between a 5 K holder and an
absorbing top face carries the analytic hemispherical flux in every cell, and the flux
through the cross-section equals the energy the holder loses (measured 212.7 uW through
40 x 40 um; issue 15 item 3)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_fvqp

COLUMN = """
model = "phonon"
[mesh]
file = "@MESHES@/substrate_block/substrate_block_tof.msh"
[bath]
temperature = "5 K"
[regions.substrate]
medium = "Si"
isotope_scattering = false
anharmonic_decay = false
[boundaries.bottom]
type = "bath"
[boundaries.top]
type = "absorbing"
[boundaries.sides]
type = "specular"
[energy]
bins = 4
e_max = "3 meV"
[time]
steady = true
[output]
fields = ["phonon_energy_density", "phonon_energy_flux"]
"""


def test_ballistic_column_flux_is_v_times_energy_density(write_case, tmp_path):
    r"""Without bulk scattering and with mirror sides, every ordinate going up carries the
    holder's Bose occupation and every ordinate going down carries none, in every cell.
    So (i) the flux is along the column axis, (ii) :math:`q_z/u = v_D\sum_{\mu_k>0}w_k\mu_k
    /\sum_{\mu_k>0}w_k` in every cell (the quadrature's hemispherical mean cosine; 1/2 for
    the exact sphere), (iii) :math:`q_z` times the cross-section equals the holder's net
    outflow of the summary (an independent sum over boundary faces), and (iv) the cell
    energy density equals the half-filled Bose energy :math:`\frac12 h\sum_j\Omega_jg_j
    n_B(\Omega_j)` computed here from the medium's Debye velocity."""
    import pyvista as pv

    from fvqp.materials import get_medium
    from fvqp.ordinates import sphere
    from fvqp.spectra import bose
    from fvqp.units import HBAR, K_B

    case = write_case(COLUMN, "phonon_flux.toml")
    run_fvqp(["run", case, "--output", tmp_path / "o"])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["status"] == 0
    reader = pv.get_reader(str(tmp_path / "o" / "phonon_flux.pvd"))
    mesh = reader.read()[0]
    q = np.column_stack([np.asarray(mesh.cell_data[f"phonon_energy_flux_{a}"])
                         for a in "xyz"])
    u = np.asarray(mesh.cell_data["phonon_energy_density"])
    # column axis: the longest extent of the mesh
    lo, hi = np.min(mesh.points, axis=0), np.max(mesh.points, axis=0)
    axis = int(np.argmax(hi - lo))
    qa = q[:, axis]
    assert np.all(qa > 0)
    # (i) no transverse flux (round-off of the symmetric azimuths)
    assert np.max(np.abs(np.delete(q, axis, axis=1))) < 1e-10 * np.max(qa)
    # (ii) q = v x hemispherical mean cosine x u, in every cell
    v = get_medium("Si").debye_velocity
    quad = sphere(4, 8)
    up = quad.omega[:, axis] > 0
    mean_cos = float(quad.weights[up] @ quad.omega[up, axis] / quad.weights[up].sum())
    assert qa / u == pytest.approx(np.full_like(u, v * mean_cos), rel=1e-8, abs=0)
    # the ordinates' polar cosines are the 4 Gauss-Legendre nodes on [-1, 1] (measured
    # 0.52127; the exact sphere's 1/2 to the quadrature's 4 %)
    mu, w = np.polynomial.legendre.leggauss(4)
    assert mean_cos == pytest.approx(float(w[mu > 0] @ mu[mu > 0] / w[mu > 0].sum()),
                                     rel=1e-12, abs=0)
    assert mean_cos == pytest.approx(0.5, rel=5e-2, abs=0)
    # (iii) the flux through the cross-section = the energy leaving the holder
    area = float(np.prod(np.delete(hi - lo, axis)))
    rates = s["energy_rates_W"]
    assert qa * area == pytest.approx(np.full_like(qa, -rates["boundary:bottom"]),
                                      rel=1e-8, abs=0)
    assert qa * area == pytest.approx(np.full_like(qa, rates["boundary:top"]), rel=1e-8,
                                      abs=0)
    # (iv) half the Bose energy density of the bins (bin centres (j+1) h, h = 3 meV / 4)
    h = 3e-3 * 1.602176634e-19 / 4
    om = (np.arange(4) + 1.0) * h
    g = 3 * om**2 / (2 * np.pi**2 * HBAR**3 * v**3)
    u_exact = 0.5 * h * float(np.sum(om * g * bose(om / (K_B * 5.0), 1.0)))
    assert u == pytest.approx(np.full_like(u, u_exact), rel=1e-8, abs=0)
