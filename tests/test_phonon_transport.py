"""Phonon model: ballistic time of flight, closed-block conservation, bulk relaxation and
the bath wall (issue 17 §2).

Every run is a real discrete-ordinates solve on `meshes/substrate_block` (hexahedra, µm).
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import phonon_deposit
from fvqp.case import load_case

BLOCK = """
model = "phonon"
[mesh]
file = "@MESHES@/substrate_block/{mesh}.msh"
[bath]
temperature = "{T}"
[initial]
temperature = "{T0}"
[regions.substrate]
medium = "Si"
isotope_scattering = {iso}
anharmonic_decay = {dec}
[boundaries.bottom]
type = "{bottom}"
[boundaries.top]
type = "{top}"
[boundaries.sides]
type = "{sides}"
[energy]
bins = {bins}
e_max = "{e_max}"
[angles]
polar = 4
azimuth = 8
[time]
end = "3 ns"
dt_initial = "1 ns"
scheme = "bdf1"
"""

SOURCE = """
[[sources]]
type = "phonons"
energy = "{energy}"
width = "{width}"
deposit = "1 keV"
time = "{t0}"
duration = "{dur}"
position = {pos}
radius = "{radius}"
"""

#: 1 ns in internal time units (tau0 of Al = 438 ns)
NS = 1.0 / 438.0


def _sim(write_case, mesh="substrate_block_tof", T="10 mK", T0="10 mK", iso="false",
         dec="false", bottom="absorbing", top="absorbing", sides="specular", bins=1,
         e_max="2 meV", source=None):
    from fvqp.models.phonon.driver import PhononSimulation

    text = BLOCK.format(mesh=mesh, T=T, T0=T0, iso=iso, dec=dec, bottom=bottom, top=top,
                        sides=sides, bins=bins, e_max=e_max)
    if source is not None:
        text += SOURCE.format(**source)
    return PhononSimulation.from_case(load_case(write_case(text, "phonon_block.toml")))


def _be(p, x, dt, t, src=True):
    s = p.source_rates(t, t + dt) if src else None
    xn, res = p.sweep(1.0 / dt, hist=p.directional(x) / dt, src=s, x0=x)
    assert all(r.success for r in res)
    return xn, s


def test_ballistic_time_of_flight(write_case):
    """A 1 keV pulse from a 3 um spot at z = 30 um in a 100 um tall Si block (absorbing top
    and bottom, specular sides: mu_z is kept) reaches the top face.

    * fluence: each polar group of the quadrature delivers exactly its weight of the
      deposit to the face it flies towards (0.5 of the deposit to the top; 1e-9 after
      400 steps — free streaming keeps mu_z, so there is no ray effect in this geometry;
      with absorbing side walls the fraction of a face is the quadrature's share of
      directions hitting it, a ray-effect error of O(1/K) against the solid angle);
    * arrival: the mean arrival time of each group, sum t F dt minus the source's own
      mean time, equals (d + dz/2)/(v_D mu_i) to 1e-8: d the weighted distance of the
      source cells from the face and dz/2 the half-cell lag of the upwind scheme — exact
      for backward Euler, whose first time moment is that of the semi-discrete system.
    """
    src = dict(energy="1 meV", width="0 meV", t0="3 ns", dur="0.5 ns", pos="[20, 20, 30]",
               radius="3 um")
    sim = _sim(write_case, source=src)
    p = sim.problem
    n, B, K = p.n, p.B, p.K
    mu = p.quad.omega[:, 2]
    groups = np.unique(np.round(mu[mu > 0], 12))
    coef = p.stream.outflow["top"].reshape(n, B)[:, :K]
    G = p.flux[0, 0] * p.h  # phonons per time per unit occupation (rows are per h)
    x = p.equilibrium(np.zeros(1))
    dt = NS
    F0, F1, S0, S1 = (np.zeros(len(groups)) for _ in range(4))
    wg = np.array([p.quad.weights[np.isclose(mu, m)].sum() for m in groups])
    for step in range(1, 401):
        x, s = _be(p, x, dt, (step - 1) * dt)
        q = float(s.sum()) * wg               # phonons injected into each group this step
        flux = G * np.array([np.sum((coef * x[0].reshape(n, B)[:, :K])[:, np.isclose(mu, m)])
                             for m in groups])
        t = step * dt
        F0 += flux * dt
        F1 += t * flux * dt
        S0 += q * dt
        S1 += t * q * dt
    p.release()
    np.testing.assert_allclose(F0, S0, rtol=1e-9)               # fluence = weight share
    assert F0.sum() / (2 * S0.sum()) == pytest.approx(0.5, rel=1e-9)
    loc = sim.dist.local
    w = p.sources[0].weights
    z = loc.centroid[:n, 2]
    d = float(np.sum(w * (100.0 - z)))
    dz = 5.0
    v = p.speed[0]
    t_arr = (F1 - S1) / F0
    np.testing.assert_allclose(t_arr, (d + dz / 2) / (v * groups), rtol=1e-8)
    # in physical units: the fast group arrives after ~(70 um)/(5974 m/s * 0.86) ~ 14 ns
    assert t_arr[-1] / NS == pytest.approx((d + 2.5) * 1e-6 / (5973.7 * groups[-1]) * 1e9,
                                           rel=2e-3)


def test_closed_block_conserves_energy(write_case):
    """No bath: diffuse top and bottom, specular sides, isotope scattering and anharmonic
    decay on; a 30 meV deposit (decay time ~0.7 ns) — the phonon energy equals the
    injected energy to 1e-12 after every step while the phonon number grows by decay."""
    src = dict(energy="30 meV", width="3 meV", t0="1 ns", dur="0.3 ns", pos="[20, 20, 50]",
               radius="10 um")
    sim = _sim(write_case, bottom="diffuse", top="diffuse", iso="true", dec="true", bins=12,
               e_max="40 meV", source=src)
    p = sim.problem
    x = p.equilibrium(p.n_bath)
    E0, N0 = p.energy(x), float(p.number_density(x) @ p.vol)
    injected, dt = 0.0, 0.5 * NS
    for step in range(12):
        x, s = _be(p, x, dt, step * dt)
        injected += dt * float(np.sum(s @ p.omega))
        assert p.energy(x) - E0 == pytest.approx(injected, rel=1e-12, abs=0)
    p.release()
    n_injected = injected / float(p.omega[-3])  # ~ deposit / 30 meV
    grown = float(p.number_density(x) @ p.vol) - N0
    assert grown > 1.5 * n_injected   # decays split phonons (energy kept)
    e_bins = p.h * p.omega * np.einsum("jc,j,c->j", p.mean(x), p.states[0], p.vol)
    assert e_bins[:6].sum() > 0.2 * injected  # energy moved to the lower half of the grid


def test_isotope_scattering_conserves_bins_and_isotropises(write_case):
    """All walls specular, no decay: phonons started in the 8 mirror images of one
    ordinate (uniform in space, so the walls keep it uniform) keep the energy of every bin
    (1e-12) and become isotropic at the isotope rate A nu^4 (30 meV bin: 1/(A nu^4) =
    0.15 ns): anisotropy max|n_k - n_bar|/n_bar < 1e-10 after 20 ns — backward Euler's
    (1 + gamma dt)^-20 = 1.7e-18 —, while the 3 meV bin (1e4 times slower) keeps > 0.9 of
    its initial anisotropy."""
    sim = _sim(write_case, bottom="specular", top="specular", iso="true", bins=10,
               e_max="30 meV")
    p = sim.problem
    om = p.quad.omega
    star = np.all(np.isclose(np.abs(om), np.abs(om[5])), axis=1)
    assert star.sum() == 8
    x = np.zeros((p.N, p.n * p.B))
    xs = x.reshape(p.N, p.n, p.B)
    xs[:, :, : p.K] = star
    xs[:, :, p.K] = p.quad.weights[star].sum()

    def aniso(x):
        f, m = p.directional(x), p.mean(x)
        return np.max(np.abs(f - m[:, :, None]), axis=(1, 2)) / m.max(axis=1)

    a0 = aniso(x)
    e_bin0 = np.einsum("jc,j,c->j", p.mean(x), p.states[0], p.vol)
    dt = NS
    for step in range(20):
        x, _ = _be(p, x, dt, step * dt, src=False)
        np.testing.assert_allclose(np.einsum("jc,j,c->j", p.mean(x), p.states[0], p.vol),
                                   e_bin0, rtol=1e-12)
    p.release()
    a = aniso(x)
    assert a[-1] < 1e-10 * a0[-1]
    assert a[0] > 0.9 * a0[0]
    assert np.all(np.diff(a / a0) < 0)  # faster at higher energy (nu^4)


def test_bath_wall_fills_a_cold_block(write_case):
    """A block at 10 mK on a 5 K holder (bottom bath; top and sides diffuse): its energy
    density rises to that of n_B(Omega, 5 K) on the bins (1e-6 after 2 us), and the steady
    solve gives it to 1e-10 (84.9 J/m^3)."""
    sim = _sim(write_case, T="5 K", T0="10 mK", bottom="bath", top="diffuse",
               sides="diffuse", bins=6, e_max="3 meV")
    p = sim.problem
    u_bath = p.energy_density(p.equilibrium(p.n_bath))[0]
    x = p.equilibrium(np.zeros(p.N))
    dt = 20 * NS
    for step in range(100):
        x, _ = _be(p, x, dt, step * dt, src=False)
    u = p.energy_density(x)
    assert np.max(np.abs(u / u_bath - 1)) < 1e-6
    xs, res = p.sweep(0.0)
    p.release()
    assert all(r.success for r in res)
    np.testing.assert_allclose(p.energy_density(xs), u_bath, rtol=1e-10)
    # the bins' energy density is the Debye T^4 law of the three branches,
    # pi^2 (kT)^4 / (10 hbar^3 v_D^3), to 5.3 % (6 bins of 0.5 meV = 1.16 kT, cut at 7 kT):
    # checks the density of states g = 3 Omega^2 / (2 pi^2 hbar^3 v_D^3) in SI
    kT = 1.380649e-23 * 5.0
    hbar = 1.054571817e-34
    vd = 5973.7
    u_si = sim.units.to_si(u_bath, "energy_density")
    debye = np.pi**2 * kT**4 / (10 * hbar**3 * vd**3)
    assert u_si == pytest.approx(debye, rel=0.06, abs=0)


def test_diffusive_limit(write_case):
    """A 100 um Si column (1 um cells) with an elastic mean free path l = 5 um, a 5 K bath
    below and an absorbing face above, steady state. In the interior (30-70 um, > 6 l from
    the faces) the angle-averaged occupation is linear and

    * the cell-centred current obeys Fick's law with D = v l sum w mu_z^2 = v l / 3
      (measured to 1e-4; the boundary layers' transients decay as exp(-z/l));
    * the conserved face flux (= bath inflow = top outflow) carries in addition the
      upwind scheme's numerical diffusion v dz sum w |mu_z| / 2: D_face = v (l/3 +
      dz sum w|mu| / 2) (1e-4) — 15.6 % more at dz = l/5; D = v l/3 is reached as dz << l.
    """
    from fvqp.models.phonon.driver import PhononSimulation

    text = BLOCK.format(mesh="substrate_column", T="5 K", T0="5 K", iso="false",
                        dec="false", bottom="bath", top="absorbing", sides="specular",
                        bins=1, e_max="0.5 meV")
    text = text.replace('anharmonic_decay = false', 'anharmonic_decay = false\n'
                        'mean_free_path = "5 um"')
    sim = PhononSimulation.from_case(load_case(write_case(text, "phonon_column.toml")))
    p = sim.problem
    xs, res = p.sweep(0.0)
    p.release()
    assert all(r.success for r in res)
    z = sim.dist.local.centroid[: p.n, 2]
    order = np.argsort(z)
    z = z[order]
    nbar = p.mean(xs)[0][order]
    mu, w = p.quad.omega[:, 2], p.quad.weights
    jc = (p.directional(xs)[0] @ (w * mu))[order] * p.speed[0]    # cell-centred current
    mid = (z > 30) & (z < 70)
    slope = np.polyfit(z[mid], nbar[mid], 1)[0]
    ell, dz = 5.0, 1.0
    D = p.speed[0] * ell * float(np.sum(w * mu**2))
    assert float(np.sum(w * mu**2)) == pytest.approx(1 / 3, rel=1e-14)
    np.testing.assert_allclose(jc[mid], -D * slope, rtol=1e-4)
    # the conserved flux: what leaves through the top per unit area and speed
    top = float(xs[0] @ p.stream.outflow["top"]) * p.speed[0] / 1.0   # area 1 um^2
    d_face = p.speed[0] * (ell / 3 + dz * float(np.sum(w * np.abs(mu))) / 2)
    assert top == pytest.approx(-d_face * slope, rel=1e-4)
    assert d_face / D - 1 > 0.15


def test_two_dimensional_film_mesh(write_case):
    """On a 2D mesh (in-plane circle quadrature, `thickness`): a Nb film region next to an
    Al film region (an AMM interface in the plane), a deposit in the Nb and an absorbing
    edge — energy balance per step to 1e-12 (storage + absorbed = injected), energy
    crossed into the Al, and the in-plane diffusion factor sum w Omega_x^2 = 1/2."""
    from fvqp.models.phonon.driver import PhononSimulation

    text = """
model = "phonon"
[mesh]
file = "@MESHES@/bte_film/bte_film_coarse.msh"
[bath]
temperature = "10 mK"
[regions.film]
medium = "Nb"
thickness = "100 nm"
[regions.trap]
medium = "Al"
thickness = "100 nm"
[boundaries.film_edges]
type = "diffuse"
[boundaries.trap_edges]
type = "specular"
[boundaries.trap_end]
type = "absorbing"
""" + phonon_deposit("0.3 ns", "0.05 ns", 'region = "film"') + """[energy]
bins = 4
e_max = "3 meV"
[angles]
directions = 16
[time]
end = "1 ns"
dt_initial = "0.1 ns"
"""
    sim = PhononSimulation.from_case(load_case(write_case(text, "phonon_2d.toml")))
    p = sim.problem
    assert p.quad.dim == 2 and p.quad.diffusion_factor == pytest.approx(0.5, rel=1e-14)
    assert p.stream.interfaces is not None and len(p.stream.interfaces.a) > 0
    x = p.equilibrium(p.n_bath)
    E0, dt, injected, out = p.energy(x), 0.1 * NS, 0.0, 0.0
    for step in range(10):
        x, s = _be(p, x, dt, step * dt)
        injected += dt * float(np.sum(s @ p.omega))
        out += dt * p.energy_rates(x)["boundary:trap_end"]
        assert p.energy(x) - E0 + out == pytest.approx(injected, rel=1e-12, abs=0)
    p.release()
    trap = p.reg[: p.n] == sim.geometry.region_names.index("trap")
    assert float((p.energy_density(x) * p.vol)[trap].sum()) + out > 1e-3 * injected


def _sim_lt(write_case, **kw):
    """_sim with [phonons] branches = "lt" (longitudinal + transverse)."""
    from fvqp.models.phonon.driver import PhononSimulation

    src = kw.pop("source", None)
    mixing = kw.pop("mixing", None)
    text = BLOCK.format(**{**dict(mesh="substrate_block_tof", T="10 mK", T0="10 mK",
                                  iso="false", dec="false", bottom="absorbing",
                                  top="absorbing", sides="specular", bins=1,
                                  e_max="2 meV"), **kw})
    text += '\n[phonons]\nbranches = "lt"\n'
    if mixing is not None:
        text += f'branch_mixing = "{mixing}"\n'
    if src is not None:
        text += SOURCE.format(**src)
    return PhononSimulation.from_case(load_case(write_case(text, "phonon_lt.toml")))


def test_lt_branches_time_of_flight(write_case):
    """Longitudinal and transverse branches (Si: 9000 and 5400 m/s): the pulse of the
    time-of-flight column arrives in two fronts — each (branch, polar group) delivers its
    share of the deposit (the branch's share of the density of states, 1/v_L^3 :
    2/v_T^3, times the group's weight; 1e-9) with the mean arrival time
    (d + dz/2)/(v_branch mu) (1e-8)."""
    src = dict(energy="1 meV", width="0 meV", t0="3 ns", dur="0.5 ns", pos="[20, 20, 30]",
               radius="3 um")
    sim = _sim_lt(write_case, source=src)
    p = sim.problem
    assert p.N == 2
    n, B, K = p.n, p.B, p.K
    mu = p.quad.omega[:, 2]
    groups = np.unique(np.round(mu[mu > 0], 12))
    coef = p.stream.outflow["top"].reshape(n, B)[:, :K]
    wg = np.array([p.quad.weights[np.isclose(mu, m)].sum() for m in groups])
    x = p.equilibrium(np.zeros(2))
    dt = NS
    F0, F1, S0, S1 = (np.zeros((2, len(groups))) for _ in range(4))
    for step in range(1, 601):
        x, s = _be(p, x, dt, (step - 1) * dt)
        t = step * dt
        for q in range(2):
            G = p.flux[0, q] * p.h
            flux = G * np.array([np.sum((coef * x[q].reshape(n, B)[:, :K])
                                        [:, np.isclose(mu, m)]) for m in groups])
            qg = float(s[:, q].sum()) * wg
            F0[q] += flux * dt
            F1[q] += t * flux * dt
            S0[q] += qg * dt
            S1[q] += t * qg * dt
    p.release()
    np.testing.assert_allclose(F0, S0, rtol=1e-9)
    si = sim.media[0]
    share_t = 2 / si.sound_velocity_T**3 / (1 / si.sound_velocity_L**3
                                            + 2 / si.sound_velocity_T**3)
    assert S0[1].sum() / S0.sum() == pytest.approx(share_t, rel=1e-12)
    w = p.sources[0].weights
    d = float(np.sum(w * (100.0 - sim.dist.local.centroid[:n, 2])))
    for q in range(2):
        np.testing.assert_allclose((F1[q] - S1[q]) / F0[q],
                                   (d + 2.5) / (p.vel[0, q] * groups), rtol=1e-8)
    assert p.vel[0, 0] / p.vel[0, 1] == pytest.approx(9000 / 5400, rel=1e-12)


def test_lt_branches_bath_and_conservation(write_case):
    """L + T: the bath energy density equals the effective branch's (v_D is defined by
    the same density of states; 1e-12); a closed block with isotope scattering and L decay
    conserves energy to 1e-12 per step while energy moves from the L to the T branch
    (branch_mixing = "none": isotope scattering within each branch, decay products split
    by the density of states; the mixing model: tests/test_phonon_branch_mixing.py)."""
    eff = _sim(write_case, T="5 K", bins=6, e_max="3 meV").problem
    lt = _sim_lt(write_case, T="5 K", bins=6, e_max="3 meV").problem
    u_eff = eff.energy_density(eff.equilibrium(eff.n_bath))
    u_lt = lt.energy_density(lt.equilibrium(lt.n_bath))
    np.testing.assert_allclose(u_lt, u_eff, rtol=1e-12)
    src = dict(energy="30 meV", width="3 meV", t0="1 ns", dur="0.3 ns", pos="[20, 20, 50]",
               radius="10 um")
    sim = _sim_lt(write_case, bottom="diffuse", top="diffuse", iso="true", dec="true",
                  bins=12, e_max="40 meV", source=src, mixing="none")
    p = sim.problem
    x = p.equilibrium(p.n_bath)
    E0, injected, dt = p.energy(x), 0.0, 0.5 * NS
    for step in range(10):
        x, s = _be(p, x, dt, step * dt)
        injected += dt * float(np.sum(s @ p.omega))
        assert p.energy(x) - E0 == pytest.approx(injected, rel=1e-12, abs=0)
    p.release()
    e_bins = p.h * p.omega * np.einsum("jc,jc,c->j", p.mean(x), p.states[p.reg[: p.n]].T,
                                       p.vol)
    spec = p.sources[0].spectrum
    share_t0 = float(spec[12:] @ p.omega[12:] / (spec @ p.omega))   # T share deposited
    assert share_t0 == pytest.approx(0.9025, abs=1e-4)    # 2/v_T^3 : 1/v_L^3 of Si
    assert e_bins[12:].sum() / e_bins.sum() > share_t0 + 0.05   # T gained from L decays
