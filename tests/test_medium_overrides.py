"""Sound velocities set per region in ``phonon`` and ``bte_chip`` cases (issue 20 §3):
the run's medium has them, the ballistic pulse follows them, the summary records them as
"case override"; the chip's films take their material's constants into the QP sub-case."""

from __future__ import annotations

import numpy as np
import pytest
from test_phonon_transport import BLOCK as _BLOCK
from test_phonon_transport import NS, SOURCE

from fvqp.case import load_case
from fvqp.materials import get_medium
from fvqp.models.base.template import materials_entry

#: the ballistic time-of-flight column of tests/test_phonon_transport.py (1 keV of 1 meV
#: phonons from a 3 um spot 70 um under the absorbing top of a 100 um Si block)
BLOCK = (_BLOCK.format(mesh="substrate_block_tof", T="10 mK", T0="10 mK", iso="false",
                       dec="false", bottom="absorbing", top="absorbing", sides="specular",
                       bins=1, e_max="2 meV").replace('medium = "Si"', 'medium = "Si"\n{over}')
         + SOURCE.format(energy="1 meV", width="0 meV", t0="3 ns", dur="0.5 ns",
                         pos="[20, 20, 30]", radius="3 um"))


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


# ---- bte_chip: the films' constants and the media's velocities ---------------------------
def _chip(write_case, upper: str = "", lower: str = "", name: str = "closed_chip.toml"):
    from test_bte_chip import CLOSED

    text = CLOSED.replace('medium = "Si"', f'medium = "Si"\n{lower}')
    text = text.replace('material = "Al"', f'material = "Al"\n{upper}')
    return load_case(write_case(text, name))


def test_chip_film_constants_reach_the_qp_sub_case(write_case):
    """A film's Tc, tau0, tau0_phi and the substrate's v_L given in the chip case: the
    bte sub-case's film material has them (source "case override"), the collision
    layer's prefactors follow exactly (tau0 / 2 doubles the QP rates, tau0_phi / 4
    quadruples the phonon pair-breaking prefactor c_ph = tau0_ref / (pi Delta0/kTc
    rT tau0_phi), at the same Tc), the phonon sub-case's Si has v_L, and the summary's
    materials entry records each as overridden."""
    from fvqp.materials import get_material
    from fvqp.models.bte.coupled import region_prefactors
    from fvqp.models.bte_chip.driver import ChipSimulation

    al = get_material("Al")
    base = ChipSimulation(_chip(write_case))
    over = ChipSimulation(_chip(
        write_case, upper=f'tau0 = "{al.tau0 / 2 * 1e9!r} ns"\n'
                          f'tau0_phi = "{al.tau0_phi / 4 * 1e12!r} ps"\nTc = "1.2 K"',
        lower='sound_velocity_L = "6000 m/s"', name="chip_over.toml"))
    ri = over.qsim.geometry.region_names.index("upper")
    mat = over.qsim.materials[ri]
    assert mat.tau0 == pytest.approx(al.tau0 / 2, rel=1e-15, abs=0)
    assert mat.tau0_phi == pytest.approx(al.tau0_phi / 4, rel=1e-15, abs=0)
    assert mat.Tc == 1.2 and al.Tc != 1.2
    qs0, c0, _ = region_prefactors(base.qsim)
    qs1, c1, _ = region_prefactors(over.qsim)
    rT = 1.2 / al.Tc   # qp_scale ~ 1/(tau0 rT^3), c_ph ~ 1/(rT tau0_phi) (coupled.py)
    assert qs1[ri] / qs0[ri] == pytest.approx(2.0 / rT**3, rel=1e-12, abs=0)
    assert c1[ri] / c0[ri] == pytest.approx(4.0 / rT, rel=1e-12, abs=0)
    pn = over.psim.geometry.region_names
    assert over.psim.media[pn.index("lower")].sound_velocity_L == 6000.0
    assert base.psim.media[pn.index("lower")].sound_velocity_L == 9000.0
    entry = materials_entry(over.region_materials)
    assert entry["upper"]["overridden"] == ["Tc", "tau0", "tau0_phi"]
    assert entry["upper"]["constants"]["tau0"]["source"] == "case override"
    assert entry["lower"]["overridden"] == ["sound_velocity_L"]
    assert entry["upper.medium"]["material"] == "Al"
    assert entry["upper.medium"]["overridden"] == []
    assert all(e["overridden"] == [] for e in materials_entry(base.region_materials)
               .values())
    for s in (base, over):
        s.psim.problem.release()


def test_chip_pair_breaking_time_changes_the_run(write_case, tmp_path):
    """The closed chip (1 eV of 0.5 meV phonons under a 100 nm Al film, no exit) with the
    film's tau0_phi a quarter of Al's: the run's film phonon states are those of
    detailed balance with the QPs, beta = qp_scale / (2 c_ph) ~ tau0_phi / tau0
    (bte/inelastic.py), so the summary's film_phonon_states_over_debye is exactly 1/4
    of the run with Al's value (1e-12), and the QPs' share of the deposit after 10 ns
    changes (measured 0.66 of the reference: fewer film states take fewer of the
    substrate's phonons); both runs conserve energy (1e-10) and the QP number by the
    pair-process count; the summary records the override."""
    from fvqp.materials import get_material
    from fvqp.models.bte_chip import run

    tau = get_material("Al").tau0_phi / 4
    res = {}
    for key, extra in (("ref", ""), ("fast", f'tau0_phi = "{tau * 1e12!r} ps"')):
        r = run(_chip(write_case, upper=extra, name=f"chip_{key}.toml"),
                output_dir=str(tmp_path / key))
        s = res[key] = r.summary
        assert s["status"] == 0
        assert abs(s["energy_imbalance_J"]) < 1e-10 * s["E_deposited_J"]
    ref, fast = res["ref"], res["fast"]
    assert fast["materials"]["upper"]["overridden"] == ["tau0_phi"]
    assert ref["materials"]["upper"]["overridden"] == []
    ratio = (fast["film_phonon_states_over_debye"]["upper"]
             / ref["film_phonon_states_over_debye"]["upper"])
    assert ratio == pytest.approx(0.25, rel=1e-12, abs=0)
    assert abs(fast["energy_J"]["final_qp"] / ref["energy_J"]["final_qp"] - 1) > 0.1
    for s in (ref, fast):
        q = s["qp_number"]
        assert q["final"] - q["initial"] == pytest.approx(q["pair_processes"], rel=1e-9,
                                                          abs=0)


def test_phonon_summary_records_the_override(write_case, tmp_path):
    """A 3 ns phonon run with v_T = 5000 m/s: summary.json's materials entry names Si,
    v_T = 5000 m/s with source "case override" (only it), v_L from substrates.toml with
    its source; the run's Debye velocity in the summary is that of the override (1e-14)
    and the energy balance holds (1e-10 of the deposit)."""
    import json

    from fvqp.models.phonon import run

    case = load_case(write_case(BLOCK.format(over='sound_velocity_T = "5000 m/s"'),
                                "phonon_vt.toml"))
    run(case, output_dir=str(tmp_path / "o"))
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["status"] == 0
    si = s["materials"]["substrate"]
    assert si["material"] == "Si" and si["overridden"] == ["sound_velocity_T"]
    assert si["constants"]["sound_velocity_T"] == {"value": 5000.0, "unit": "m/s",
                                                   "source": "case override"}
    db = get_medium("Si")
    assert si["constants"]["sound_velocity_L"]["source"] == db.sources["sound_velocity_L"]
    v_d = (3.0 / (db.sound_velocity_L**-3 + 2 * 5000.0**-3)) ** (1 / 3)
    assert s["debye_velocity_m_per_s"]["substrate"] == pytest.approx(v_d, rel=1e-14, abs=0)
    assert abs(s["energy_imbalance_J"]) < 1e-10 * 1e3 * 1.602176634e-19
