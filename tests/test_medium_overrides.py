"""Sound velocities set per region in ``phonon`` and ``bte_chip`` cases (issue 20 §3):
the run's medium has them, the ballistic pulse follows them, the summary records them as
"case override"; the chip's films take their material's constants into the QP sub-case."""

from __future__ import annotations

import numpy as np
import pytest

from fvqp.case import load_case
from fvqp.materials import get_medium
from fvqp.models.base.template import materials_entry

BLOCK = """
model = "phonon"
[mesh]
file = "@MESHES@/substrate_block/substrate_block_tof.msh"
[bath]
temperature = "10 mK"
[regions.substrate]
medium = "Si"
isotope_scattering = false
anharmonic_decay = false
{over}
[boundaries.bottom]
type = "absorbing"
[boundaries.top]
type = "absorbing"
[boundaries.sides]
type = "specular"
[energy]
bins = 1
e_max = "2 meV"
[angles]
polar = 4
azimuth = 8
[time]
end = "3 ns"
dt_initial = "1 ns"
scheme = "bdf1"
[[sources]]
type = "phonons"
energy = "1 meV"
width = "0 meV"
deposit = "1 keV"
time = "3 ns"
duration = "0.5 ns"
position = [20, 20, 30]
radius = "3 um"
"""

#: 1 ns in internal time units (tau0 of Al = 438 ns)
NS = 1.0 / 438.0


def _sim(write_case, over: str = ""):
    from fvqp.models.phonon.driver import PhononSimulation

    case = load_case(write_case(BLOCK.format(over=over), "phonon_block.toml"))
    return PhononSimulation.from_case(case)


def _arrival_times(sim, dt: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Polar groups mu_i > 0 and the mean arrival time of each at the top face (internal
    time), sum t F dt minus the source's mean time (backward Euler; the first time moment
    of the semi-discrete system, see tests/test_phonon_transport.py)."""
    p = sim.problem
    n, B, K = p.n, p.B, p.K
    mu = p.quad.omega[:, 2]
    groups = np.unique(np.round(mu[mu > 0], 12))
    coef = p.stream.outflow["top"].reshape(n, B)[:, :K]
    G = p.flux[0, 0] * p.h
    wg = np.array([p.quad.weights[np.isclose(mu, m)].sum() for m in groups])
    x = p.equilibrium(np.zeros(1))
    F0, F1, S0, S1 = (np.zeros(len(groups)) for _ in range(4))
    for step in range(1, steps + 1):
        t0 = (step - 1) * dt
        s = p.source_rates(t0, t0 + dt)
        x, res = p.sweep(1.0 / dt, hist=p.directional(x) / dt, src=s, x0=x)
        assert all(r.success for r in res)
        flux = G * np.array([np.sum((coef * x[0].reshape(n, B)[:, :K])[:, np.isclose(mu, m)])
                             for m in groups])
        q = float(s.sum()) * wg
        t = step * dt
        F0, F1 = F0 + flux * dt, F1 + t * flux * dt
        S0, S1 = S0 + q * dt, S1 + t * q * dt
    p.release()
    np.testing.assert_allclose(F0, S0, rtol=1e-9)   # the whole pulse has arrived
    return groups, (F1 - S1) / F0


def test_sound_velocity_override_sets_the_time_of_flight(write_case):
    """Si with v_L = 6000 m/s instead of 9000 (v_T = 5400 kept): the medium of the run has
    it (source "case override", in the summary's materials entry), the effective branch
    runs at the Debye average 3/v_D^3 = 1/v_L^3 + 2/v_T^3 of the override (computed here
    from the two numbers), and the pulse reaches the top face after (d + dz/2)/(v_D mu)
    (1e-8) for every polar group: d / v with the overridden velocity."""
    sim = _sim(write_case, 'sound_velocity_L = "6000 m/s"')
    m = sim.media[0]
    assert m.sound_velocity_L == 6000.0
    assert m.sound_velocity_T == get_medium("Si").sound_velocity_T == 5400.0
    entry = materials_entry(sim.region_materials)["substrate"]
    assert entry["material"] == "Si" and entry["overridden"] == ["sound_velocity_L"]
    assert entry["constants"]["sound_velocity_L"] == {"value": 6000.0, "unit": "m/s",
                                                      "source": "case override"}
    v_d = (3.0 / (6000.0**-3 + 2 * 5400.0**-3)) ** (1 / 3)     # 5810.3 m/s
    u = sim.units
    p = sim.problem
    assert p.speed[0] == pytest.approx(v_d * u.tau0 / u.length, rel=1e-14, abs=0)
    groups, t_arr = _arrival_times(sim, NS, 400)
    n = p.n
    d = float(np.sum(p.sources[0].weights * (100.0 - sim.dist.local.centroid[:n, 2])))
    np.testing.assert_allclose(t_arr, (d + 2.5) / (p.speed[0] * groups), rtol=1e-8)
    # in SI: the fastest group, (d + 2.5 um) / (v_D mu) with the override's v_D
    t_si = (d + 2.5) * 1e-6 / (v_d * groups[-1])
    assert t_arr[-1] / NS * 1e-9 == pytest.approx(t_si, rel=1e-8, abs=0)
    # the database medium: v_D(Si) = 5973.7 m/s, the same pulse 2.8 % earlier
    ref = _sim(write_case)
    assert ref.problem.speed[0] / p.speed[0] == pytest.approx(
        get_medium("Si").debye_velocity / v_d, rel=1e-14)
    assert materials_entry(ref.region_materials)["substrate"]["overridden"] == []
    ref.problem.release()
