"""Directions of the anharmonic decay products (`[phonons] decay_angles = "kinematic"`,
issue 17 §1): each product on the cone that momentum conservation fixes around its
parent L phonon (Tamura's isotropic model), on discrete ordinates by balanced kernels
(:mod:`fvqp.models.phonon.decay_angles`; docs/theory_phonon.md, "Directions of the decay
products").

The cone angle is checked against the momentum triangle itself, the kernels for their
exact sums (every decay complete, isotropic parents give isotropic products), their
symmetry and the convergence of their mean direction with the quadrature, the products of
each parent for the channel products of :func:`~fvqp.models.phonon.branches.
decay_products` and the parent's momentum, the sweep's gains against an independent
contraction, and a real column run for the forward memory of the cascade.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla
from test_phonon_decay_spectra import _spectra
from test_phonon_transport import BLOCK

from fvqp.case import CaseError, load_case
from fvqp.materials import get_medium
from fvqp.models.phonon.branches import decay_products, lt_support, pair_weights, tt_support
from fvqp.models.phonon.decay_angles import ConeTable, cone_cosine, cone_kernel, product_kernels
from fvqp.ordinates import circle, sphere


def _si():
    """(delta, L + T spectrum, T + T spectrum, f_TT) of Si."""
    return (*_spectra("Si")[:3], get_medium("Si").anharmonic_TT_fraction)


@pytest.mark.parametrize("product", ["lt_l", "lt_t", "tt"])
def test_cone_angle_closes_the_momentum_triangle(product):
    """For energy fractions x across the channel's kinematic support (Si, delta = 1.56):
    the product's wave vector at the cone angle, subtracted from the parent's, leaves a
    vector of exactly the partner's length (1e-13); at the support's ends the products are
    collinear (|cos| = 1, 1e-12), the support of the energy spectra in
    :mod:`~fvqp.models.phonon.branches` being the set where the triangle closes (except
    where the T product of L + T vanishes: there the L product carries the parent's k
    and the T one leaves at cos = 1/delta)."""
    d = _si()[0]
    # (k1, k2) in units of k, the support in the product's own energy fraction
    lengths = {"lt_l": (lambda x: x, lambda x: d * (1 - x), lt_support(d)),
               "lt_t": (lambda x: d * x, lambda x: 1 - x,
                        (1 - lt_support(d)[1], 1 - lt_support(d)[0])),
               "tt": (lambda x: d * x, lambda x: d * (1 - x), tt_support(d))}
    k1, k2, (lo, hi) = lengths[product]
    x = np.linspace(lo, hi, 41)[1:-1]
    c = cone_cosine(product, x, d)
    s = np.sqrt(1 - c * c)
    partner = np.hypot(1 - k1(x) * c, k1(x) * s)       # |k - k1|, k along the axis
    np.testing.assert_allclose(partner, k2(x), rtol=1e-13)
    if product == "lt_t":   # a T product of vanishing energy: the L one takes all of k
        ends = np.abs(cone_cosine(product, np.array([hi]), d))
        assert cone_cosine(product, 0.0, d) == pytest.approx(1 / d, rel=1e-14)
    else:
        ends = np.abs(cone_cosine(product, np.array([lo, hi]), d))
    np.testing.assert_allclose(ends, 1.0, atol=1e-12)


@pytest.mark.parametrize("quad", [sphere(2, 4), sphere(4, 8), sphere(8, 16), circle(16)],
                         ids=["sphere2x4", "sphere4x8", "sphere8x16", "circle16"])
def test_cone_kernels_are_balanced_and_symmetric(quad):
    """At 9 cosines: M >= 0, sum_k w_k M[k, k'] = 1 (every decay's phonons in full) and
    sum_k' w_k' M[k, k'] = 1 (an isotropic excess gives isotropic products), both to
    1e-13, M = M^T; the forward cone (cos = 1) is the identity, M = diag(1 / w)."""
    w = quad.weights
    for c in np.linspace(-1, 1, 9):
        M = cone_kernel(quad, c)
        assert np.all(M >= 0)
        np.testing.assert_allclose(w @ M, 1.0, rtol=1e-13)
        np.testing.assert_allclose(M @ w, 1.0, rtol=1e-13)
        np.testing.assert_allclose(M, M.T, rtol=1e-13, atol=0)
    np.testing.assert_allclose(cone_kernel(quad, 1.0), np.diag(1.0 / w), rtol=1e-13)


def test_cone_mean_direction_converges_with_the_quadrature():
    """The products' mean direction sum_k w_k M[k, k'] Omega_k approaches cos(theta)
    Omega_k' as the ordinates are refined: the median error over the tabulated cones and
    the parents halves or better per refinement (measured 0.086, 0.052, 0.030 for
    2 x 4, 4 x 8, 8 x 16 ordinates) and is below 0.035 at 8 x 16."""
    med = []
    for quad in (sphere(2, 4), sphere(4, 8), sphere(8, 16)):
        table = ConeTable(quad, nodes=33)
        mean = np.einsum("ckl,k,kd->cld", table.kernels, quad.weights, quad.omega)
        err = np.linalg.norm(mean - table.cos[:, None, None] * quad.omega[None], axis=2)
        med.append(np.median(err))
    assert med[1] < 0.65 * med[0] and med[2] < 0.65 * med[1], med
    assert med[2] < 0.035, med


def test_products_carry_the_channel_products_and_the_parent_momentum():
    """Si, 8 energies: per decaying bin j the phonons into each product bin equal the
    column of decay_products with the kinematic pair weights (1e-15); the products'
    momentum sum_q p_q k_q <Omega>_q along the parent's direction, averaged over the
    parent ordinates, is the parent's k_j to 2 % for j >= 2 on 8 x 16 ordinates
    (measured 0.988 - 1.001; j = 1 splits 2h into h + h and cannot, 0.92) and closer than
    on 4 x 8 ordinates (0.95); isotropic products carry none."""
    d, lt, tt, f_tt = _si()
    ne = 8
    ref = decay_products(ne, f_tt, pair_weights(ne, lt, lt_support(d)),
                         pair_weights(ne, tt, tt_support(d)))
    k_per_omega = np.r_[np.ones(ne), np.full(ne, d)]        # k = Omega / v in 1 / v_L
    om = np.tile(np.arange(1.0, ne + 1), 2)
    fracs = []
    for quad in (sphere(4, 8), sphere(8, 16)):
        kern = product_kernels(ConeTable(quad), ne, d, f_tt, lt, tt)
        frac = []
        for j, (bins, phonons, M) in kern.items():
            np.testing.assert_allclose(phonons, ref[bins, j], rtol=1e-15, atol=1e-16)
            assert not np.any(np.delete(ref[:, j], bins))
            mean = np.einsum("q,qkl,k,kd->ld", phonons * om[bins] * k_per_omega[bins], M,
                             quad.weights, quad.omega)
            frac.append(np.mean(np.sum(mean * quad.omega, axis=1)) / om[j])
        fracs.append(np.array(frac))
    assert np.all(np.abs(fracs[1][1:] - 1) < 0.02), fracs[1]
    assert np.mean(np.abs(fracs[1] - 1)) < 0.5 * np.mean(np.abs(fracs[0] - 1)), fracs


def _column(write_case, angles, top="absorbing", bottom="absorbing"):
    """The Si column (40 x 40 x 100 um, 4 x 8 ordinates), L and T branches, decay on,
    isotope scattering off, 8 energies to 40 meV, specular sides."""
    from fvqp.models.phonon.driver import PhononSimulation

    text = BLOCK.format(mesh="substrate_block_tof", T="10 mK", T0="10 mK", iso="false",
                        dec="true", bottom=bottom, top=top, sides="specular", bins=8,
                        e_max="40 meV")
    text += f'[phonons]\nbranches = "lt"\ndecay_angles = "{angles}"\n'
    return PhononSimulation.from_case(load_case(write_case(text, "phonon_angles.toml")))


def _beam(p, amp=1e-2):
    """The top L bin filled in the ordinates nearest +z (uniform in space)."""
    ne, mu = p.N // 2, p.quad.omega[:, 2]
    beam = mu == mu.max()
    x = np.zeros((p.N, p.n, p.B))
    x[ne - 1, :, : p.K] = beam * amp
    x[ne - 1, :, p.K] = p.quad.weights[beam].sum() * amp
    return x.reshape(p.N, -1)


def test_sweep_gains_equal_an_independent_contraction(write_case):
    """One backward-Euler step from an anisotropic, non-uniform L state: the sweep's T
    bins equal the solution of each bin's own system (:meth:`local_matrix`, scipy's
    sparse LU) with the gains computed here independently (per cell, parent, product bin
    and ordinate pair from the kernels and ``products``), to 1e-9 of each bin's largest
    value (the two top T bins, beyond the kinematic limit, exactly 0); the step conserves
    the energy (1e-12, specular walls)."""
    sim = _column(write_case, "kinematic", top="specular", bottom="specular")
    p = sim.problem
    assert p.decay_kernels is not None and sim.decay_angles == "kinematic"
    ne, K, n = p.N // 2, p.K, p.n
    rng = np.random.default_rng(3)
    x = np.zeros((p.N, n, p.B))
    x[:ne, :, :K] = rng.uniform(0, 1e-2, (ne, n, K))
    x[:ne, :, K] = x[:ne, :, :K] @ p.quad.weights
    x = x.reshape(p.N, -1)
    dt = 0.2e-9 / sim.units.to_si(1.0, "time")
    xn, res = p.sweep(1.0 / dt, hist=p.directional(x) / dt)
    assert all(r.success for r in res)
    assert p.energy(xn) == pytest.approx(p.energy(x), rel=1e-12, abs=0)
    nl = p.directional(xn)[:ne]                                   # (ne, n, K) new L
    rate = p.states[0, :ne] * p.decay[0, :ne]                      # one region
    gains = np.zeros((p.N, n, K))
    for j, (bins, M) in p.decay_kernels[0].items():
        for q, Mq in zip(bins, M, strict=True):
            for c in range(n):
                gains[q, c] += (p.products[0, q, j] * rate[j] * p.vol[c]
                                * Mq @ (p.quad.weights * (nl[j, c] - p.n_bath[j])))
    refs = np.array([spla.spsolve(p.local_matrix(q, 1.0 / dt).tocsc(),
                                  p.rhs(q, hist=p.directional(x)[q] / dt, gain=gains[q]))
                     for q in range(ne, p.N)])                    # T bins: no decay
    scale = np.max(np.abs(refs), axis=1)
    assert np.all(scale[:-2] > 0) and np.all(scale[-2:] == 0)   # kinematics: 7h, 8h empty
    for q in range(ne, p.N):
        assert np.max(np.abs(xn[q] - refs[q - ne])) <= 1e-9 * max(scale[q - ne], 1e-300)
    p.release()


def test_products_remember_the_parent_direction(write_case):
    """A uniform beam of 40 meV L phonons along +z in the column with absorbing ends:
    over 10 ns (40 steps of 0.25 ns) the bottom end receives only products emitted
    backwards. Isotropic emission sends half of them down (bottom / top 0.88); on their
    kinematic cones nearly all go forward (0.058): bottom below 0.25 of the isotropic
    run's, top above it. Both runs conserve energy: the energy left plus the energy
    absorbed at the ends equals the initial energy (1e-12)."""
    got = {}
    for angles in ("isotropic", "kinematic"):
        sim = _column(write_case, angles)
        p = sim.problem
        assert (p.decay_kernels is not None) == (angles == "kinematic")
        x = _beam(p)
        e0 = p.energy(x)
        dt = 0.25e-9 / sim.units.to_si(1.0, "time")
        ends = {"boundary:bottom": 0.0, "boundary:top": 0.0}
        for _ in range(40):
            x, res = p.sweep(1.0 / dt, hist=p.directional(x) / dt, x0=x)
            assert all(r.success for r in res)
            rates = p.energy_rates(x)
            for k in ends:
                ends[k] += rates[k] * dt
        p.release()
        assert p.energy(x) + sum(ends.values()) == pytest.approx(e0, rel=1e-12, abs=0)
        got[angles] = ends
    iso, kin = got["isotropic"], got["kinematic"]
    assert iso["boundary:bottom"] > 0.5 * iso["boundary:top"], iso
    assert kin["boundary:bottom"] < 0.25 * iso["boundary:bottom"], (iso, kin)
    assert kin["boundary:top"] > iso["boundary:top"], (iso, kin)


def test_kinematic_angles_need_the_decay_channels(write_case):
    """decay_angles = "kinematic" with one effective branch (where momentum conservation
    would make every decay collinear) or with the uniform split names the key and what
    to set; the default is kinematic only with channels and kinematic spectra."""
    base = BLOCK.format(mesh="substrate_block_tof", T="10 mK", T0="10 mK", iso="true",
                        dec="true", bottom="bath", top="bath", sides="specular", bins=4,
                        e_max="20 meV")
    for extra, need in (('branches = "effective"', 'branches = "lt"'),
                        ('branches = "lt"\ndecay_spectrum = "uniform"',
                         'decay_spectrum = "kinematic"')):
        text = base + f'[phonons]\n{extra}\ndecay_angles = "kinematic"\n'
        with pytest.raises(CaseError) as err:
            load_case(write_case(text, "bad_angles.toml"))
        msg = "\n".join(err.value.errors)
        assert "phonons.decay_angles" in msg and need in msg and '"isotropic"' in msg
    from fvqp.models.phonon.driver import PhononSimulation

    for extra, want in (('branches = "effective"', "isotropic"),
                        ('branches = "lt"\ndecay_spectrum = "uniform"', "isotropic"),
                        ('branches = "lt"', "kinematic")):
        sim = PhononSimulation.from_case(load_case(write_case(
            base + f"[phonons]\n{extra}\n", "default_angles.toml")))
        assert sim.decay_angles == want
        assert (sim.problem.decay_kernels is not None) == (want == "kinematic")
