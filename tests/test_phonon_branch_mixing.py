"""Bulk mixing of the L and T phonon branches (`[phonons] branches = "lt"`,
`branch_mixing = "isotropic"`, issue 17 §1): isotope scattering across the branches by
their share of the density of states (Tamura 1983, isotropic limit) and L decay into
T + T and L + T by the medium's channel fractions (Tamura 1985 via G4CMP).

Every run is a real discrete-ordinates solve on `meshes/substrate_block` (hexahedra, µm);
docs/theory_phonon.md, "Branch mixing in the bulk".
"""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
from test_phonon_transport import BLOCK

from conftest import assert_phonon_ranks_agree, case_variant, serial_and_two_ranks
from fvqp.case import CaseError, load_case

MIX = '\n[phonons]\nbranches = "lt"\nbranch_mixing = "{mixing}"\n'


def _sim(write_case, T="10 mK", iso="true", dec="false", bins=4, e_max="20 meV",
         walls="specular", bottom=None, mixing="isotropic", branches="lt",
         spectrum=None):
    """The Si column (40 x 40 x 100 um, 4 x 8 ordinates) with L and T branches
    (``spectrum``: ``[phonons] decay_spectrum``, default the model's)."""
    from fvqp.models.phonon.driver import PhononSimulation

    text = BLOCK.format(mesh="substrate_block_tof", T=T, T0=T, iso=iso, dec=dec,
                        bottom=bottom or walls, top=walls, sides=walls, bins=bins,
                        e_max=e_max)
    text += MIX.format(mixing=mixing).replace('"lt"', f'"{branches}"')
    if spectrum:
        text += f'decay_spectrum = "{spectrum}"\n'
    return PhononSimulation.from_case(load_case(write_case(text, "phonon_mix.toml")))


def _step(p, x, dt):
    xn, res = p.sweep(1.0 / dt, hist=p.directional(x) / dt, x0=x)
    assert all(r.success for r in res)
    return xn


def _per_branch(p, x, weight):
    """(2, ne) sums over cells of weight * g * n_bar per branch and energy."""
    g = p.states[p.reg[: p.n]].T                                    # (N, n)
    out = np.sum(weight[:, None] * g * p.mean(x) * p.vol, axis=1)   # (N,)
    return out.reshape(2, p.N // 2)


def _isotropic(p, occ_l, occ_t, amp=None):
    """Isotropic state: L bins at ``occ_l`` (ne,), T bins at ``occ_t``, times ``amp``
    (n_owned,) per cell (default uniform)."""
    x = p.equilibrium(np.concatenate([occ_l, occ_t]))
    if amp is not None:
        x = (x.reshape(p.N, p.n, p.B) * amp[None, :, None]).reshape(p.N, -1)
    return x


def _shares(medium):
    """DOS shares (L, T) of the isotropic continuum from the medium's velocities."""
    wl, wt = medium.sound_velocity_L**-3, 2 * medium.sound_velocity_T**-3
    return wl / (wl + wt), wt / (wl + wt)


def test_isotope_across_branches_conserves_energy_per_bin_and_number(write_case):
    """All walls specular, no decay, phonons in the L branch only, anisotropic (the 8
    mirror images of one ordinate) and non-uniform in space: over 6 steps of 0.2 ns the
    energy of every energy (L + T) and the phonon number stay to 1e-12, while the T
    branch of the top energy (20 meV, 1/(A nu^4) = 0.75 ns) takes > 0.5 of it."""
    sim = _sim(write_case)
    p = sim.problem
    assert p.groups == [(j, j + 4) for j in range(4)] and p.exchange is not None
    om = p.quad.omega
    star = np.all(np.isclose(np.abs(om), np.abs(om[5])), axis=1)
    amp = 1.0 + 0.5 * np.sin(p.dist.local.centroid[: p.n, 2] / 7.0)
    x = np.zeros((p.N, p.n, p.B))
    x[:4, :, : p.K] = star[None, None, :] * amp[None, :, None]
    x[:4, :, p.K] = p.quad.weights[star].sum() * amp[None, :]
    x = x.reshape(p.N, -1)
    ones = np.ones(p.N)
    e0 = _per_branch(p, x, p.omega).sum(axis=0)
    n0 = _per_branch(p, x, ones).sum()
    dt = 0.2e-9 / sim.units.to_si(1.0, "time")
    for _ in range(6):
        x = _step(p, x, dt)
        np.testing.assert_allclose(_per_branch(p, x, p.omega).sum(axis=0), e0, rtol=1e-12)
        assert _per_branch(p, x, ones).sum() == pytest.approx(n0, rel=1e-12, abs=0)
    p.release()
    e = _per_branch(p, x, p.omega)
    assert e[1, -1] > 0.5 * e0[-1]


def test_one_branch_relaxes_to_dos_shares_at_the_backward_euler_rate(write_case):
    """A uniform isotropic state with every phonon in L (specular walls, no decay): per
    energy the L share of the energy is s_L + s_T f^m after m steps with the backward
    Euler factor f = 1/(1 + A nu^4 dt) per step (A nu^4 of the medium, s_L, s_T of its
    velocities: Si 0.0975, 0.9025), to 1e-9; the states-weighted mean occupation is kept
    (1e-12). Without mixing ('none') the L share stays 1."""
    sim = _sim(write_case)
    p, u, si = sim.problem, sim.units, sim.media[0]
    ne = p.N // 2
    s_l, s_t = _shares(si)
    assert s_t == pytest.approx(0.9025, abs=1e-4)
    x = _isotropic(p, np.full(ne, 1e-3), np.zeros(ne))
    dt = 0.5e-9 / u.to_si(1.0, "time")
    rate = np.array([si.isotope_rate(u.to_si(w, "energy")) for w in p.omega[:ne]])
    f = 1.0 / (1.0 + rate * 0.5e-9)                    # per step, SI rate times SI step
    assert f[-1] < 0.7                                  # 20 meV: A nu^4 dt = 0.67
    for m in range(1, 5):
        x = _step(p, x, dt)
        e = _per_branch(p, x, p.omega)
        np.testing.assert_allclose(e[0] / e.sum(axis=0), s_l + s_t * f**m, rtol=1e-9)
        nb = p.mean(x)
        mean = s_l * nb[:ne] + s_t * nb[ne:]
        np.testing.assert_allclose(mean, s_l * 1e-3, rtol=1e-12)
    p.release()
    q = _sim(write_case, mixing="none").problem
    assert q.groups == [(j,) for j in range(q.N)]
    y = _step(q, _isotropic(q, np.full(ne, 1e-3), np.zeros(ne)), dt)
    q.release()
    assert np.all(_per_branch(q, y, q.omega)[1] == 0.0)


def test_one_temperature_is_stationary_with_mixing(write_case):
    """n_B(20 K) in both branches, a 20 K holder under the column, diffuse top and sides,
    isotope scattering across branches and decay by channel on (6 energies to 12 meV):
    stationary to 1e-12 per bin over 4 steps of 1 ns, and the steady solve from zero
    gives it to 1e-10 (GMRES from zero, as the one-branch bath test)."""
    sim = _sim(write_case, T="20 K", dec="true", bins=6, e_max="12 meV", walls="diffuse",
               bottom="bath")
    p = sim.problem
    assert np.any(p.decay > 0) and np.any(p.exchange > 0)
    ref = p.equilibrium(p.n_bath)
    x, dt = ref.copy(), 1e-9 / sim.units.to_si(1.0, "time")
    for _ in range(4):
        x = _step(p, x, dt)
    assert float(np.max(np.abs(x - ref) / ref)) < 1e-12
    xs, res = p.sweep(0.0)
    assert all(r.success for r in res)
    p.release()
    assert float(np.max(np.abs(xs - ref) / ref)) < 1e-10


@pytest.mark.parametrize("spectrum", ["uniform", "kinematic"])
def test_decay_channels_conserve_energy_and_give_the_medium_fractions(write_case,
                                                                     spectrum):
    """Closed column (specular walls), decay on, isotope scattering off, L phonons only
    (non-uniform in space), 10 mK: every step conserves the energy (1e-12); each decay
    adds one phonon and removes f_TT from L, so -dN_L / dN = f_TT (Si 0.74, the medium's
    anharmonic_TT_fraction; 1e-10) with either product spectrum; the decays of the step
    (the scheme's rates at the new state) are dN. The T branch receives, of the energy
    the L decays carried, (1 + f_TT) / 2 with the uniform split (L keeps (1 - f_TT) / 2
    in lower bins; 1e-10), and f_TT + (1 - f_TT)(1 - <x>_j) with the kinematic spectra,
    <x>_j the mean energy fraction of the L product of L -> L + T from bin j
    (:func:`fvqp.models.phonon.branches.pair_weights`, 1e-10): within 3e-3 of the
    continuum's 0.74 + 0.26 (1 - 0.66425) = 0.8273 (Tamura's spectrum integrated by
    scipy's quad) at 8 bins."""
    from fvqp.models.phonon.branches import lt_spectrum, lt_support, pair_weights

    sim = _sim(write_case, iso="false", dec="true", bins=8, e_max="40 meV",
               spectrum=spectrum)
    p, si = sim.problem, sim.media[0]
    f_tt = si.anharmonic_TT_fraction
    assert f_tt == 0.74 and si.decay_channels == (0.74, 1.0 - 0.74)
    assert p.exchange is None or not np.any(p.exchange)
    ne = p.N // 2
    amp = 1.0 + 0.5 * np.cos(p.dist.local.centroid[: p.n, 2] / 9.0)
    x = _isotropic(p, np.linspace(0.0, 1e-2, ne), np.zeros(ne), amp)
    ones = np.ones(p.N)
    dt = 0.2e-9 / sim.units.to_si(1.0, "time")
    for _ in range(3):
        e0, n0 = _per_branch(p, x, p.omega), _per_branch(p, x, ones)
        x = _step(p, x, dt)
        e1, n1 = _per_branch(p, x, p.omega), _per_branch(p, x, ones)
        assert e1.sum() == pytest.approx(e0.sum(), rel=1e-12, abs=0)
        dn_l, dn = (n1[0] - n0[0]).sum(), (n1 - n0).sum()
        assert -dn_l / dn == pytest.approx(f_tt, rel=1e-10)
        rates = np.array([p.decay_gain(j, x[j]).sum() for j in range(ne)])   # L bins
        assert dt * rates.sum() == pytest.approx(dn, rel=1e-10)
        e_decayed = dt * float(rates @ p.omega[:ne])
        if spectrum == "uniform":
            t_share = np.full(ne, (1 + f_tt) / 2)
        else:
            delta = si.sound_velocity_L / si.sound_velocity_T
            w = pair_weights(ne, partial(lt_spectrum, delta=delta), lt_support(delta))
            x_mean = np.array([w[:j, j] @ np.arange(1, j + 1) / (j + 1) if j else 0.0
                               for j in range(ne)])
            t_share = f_tt + (1 - f_tt) * (1 - x_mean)
        want = dt * float((rates * p.omega[:ne]) @ t_share) / e_decayed
        assert (e1[1] - e0[1]).sum() / e_decayed == pytest.approx(want, rel=1e-10)
        if spectrum == "kinematic":
            assert abs(want - (0.74 + 0.26 * (1 - 0.66425))) < 3e-3, want
    p.release()
    n_t = _per_branch(p, x, ones)[1]
    if spectrum == "uniform":   # products at every energy below the parent
        assert np.all(n_t[:-1] > 0) and n_t[-1] == 0.0
    else:   # only where momentum conservation allows: T energy <= 0.8 of the parent's
        # (L + T: 1 - (delta-1)/(delta+1) = 0.75; T + T: (1 + 1/delta)/2 = 0.8) plus half
        # a bin: from the top bin (8 h) nothing above 6.9 h, so the 7 h bin stays empty
        assert np.all(n_t[:-2] > 0) and np.all(n_t[-2:] == 0.0), n_t
    assert np.all(p.decay[0, ne:] == 0.0)                # T does not decay


def test_one_effective_branch_is_unchanged_by_the_key(write_case):
    """With one effective branch branch_mixing changes nothing: no exchange, one system
    per bin, and the decay products of before bit for bit (the 2/j' split times the
    branch's share of the states, 3/v_D^3 / (3/v_D^3), as the code before the mixing
    computed it)."""
    sims = [_sim(write_case, dec="true", branches="effective", mixing=m)
            for m in ("isotropic", "none")]
    share = 3.0 / sims[0].media[0].debye_velocity ** 3
    for p in (s.problem for s in sims):
        assert p.exchange is None and p.groups == [(j,) for j in range(p.N)]
        jj = np.arange(p.N)
        split = np.where(jj[:, None] < jj[None, :], 2.0 / np.maximum(jj[None, :], 1), 0.0)
        assert np.array_equal(p.products[0], split * share / share)
        np.testing.assert_allclose(p.products[0], split, rtol=1e-15, atol=0)
    a, b = (s.problem for s in sims)
    assert np.array_equal(a.isotope, b.isotope) and np.array_equal(a.decay, b.decay)


def test_bad_branch_mixing_input_is_refused(write_case, monkeypatch):
    """A misspelt branch_mixing names the key; a decaying medium without
    anharmonic_TT_fraction names regions.<name>.medium and the fixes (the same case with
    branch_mixing = "none" loads)."""
    with pytest.raises(CaseError, match=r"phonons\.branch_mixing"):
        _sim(write_case, mixing="tamura")
    import fvqp.materials as materials

    real = materials.get_medium
    monkeypatch.setattr(materials, "get_medium",
                        lambda name: real(name).replace(anharmonic_TT_fraction=None))
    with pytest.raises(CaseError) as err:
        _sim(write_case, dec="true")
    msg = "\n".join(err.value.errors)
    assert "regions.substrate.medium" in msg and "anharmonic_TT_fraction" in msg
    assert 'branch_mixing = "none"' in msg and "anharmonic_decay = false" in msg


@pytest.mark.mpi
def test_branch_mixing_two_ranks_equal_serial(tmp_path):
    """`cases/phonon_si_block.toml` with L and T branches and the mixing (10 meV deposit,
    16 meV grid, 20 ns): `mpiexec -n 2` gives the serial energies (final, holder) and the
    energy density of every cell (matched by centre) to 1e-8; the balance closes (1e-10)."""
    case = case_variant("phonon_si_block.toml", tmp_path,
                        **{'end = "100 ns"': 'end = "20 ns"',
                           'energy = "3 meV"': 'energy = "10 meV"',
                           'width = "1 meV"': 'width = "2 meV"',
                           'e_max = "6 meV"': 'e_max = "16 meV"',
                           "[energy]": '[phonons]\nbranches = "lt"\n\n[energy]'})
    sa, sb = serial_and_two_ranks(case, tmp_path)
    assert sa["branch_mixing"] == sb["branch_mixing"] == "isotropic"
    dep = sa["energy_J"]["sources"]  # flows into the system (models/base/balance.py)
    assert abs(sa["energy_imbalance_J"]) < 1e-10 * dep
    assert_phonon_ranks_agree(tmp_path, "phonon_si_block", sa, sb)
    assert json.loads((tmp_path / "s" / "summary.json").read_text())["status"] == 0
