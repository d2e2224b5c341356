"""One copy of the occupation functions (issue 15 item 2): the Usadel electron-phonon
kernels use :func:`fvqp.spectra.bose`, the cutoff gap equation :func:`fvqp.spectra.fermi`,
the Matsubara Eliashberg solve starts at :data:`fvqp.spectra.gap.BCS_GAP_RATIO`; each
gives the numbers of the closed forms it replaced (to round-off)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("t_ph", [0.0, 0.02, 0.3])
def test_usadel_phonon_kernels_are_the_bose_closed_form(t_ph):
    """ω|ω|(1 + n_B) and ω|ω| n_B on the kernel's ω grid equal the closed form with
    n_B = 1/expm1(ω/T) (the inline copy it replaces) to 1e-15 of the kernel or of ω|ω|,
    whichever is larger (round-off of n_B; measured 1.5e-16 of the kernel at small ω,
    4e-15 of ω|ω| there where n_B ~ 30), and at T = 0 the step (0 for emission ω > 0,
    -1 for absorption) exactly; ω = 0 is the limit 0."""
    from fvqp.models.usadel.collisions import _phonon_weights

    n, de = 400, 0.01
    emit, absorb = _phonon_weights(n, de, t_ph)
    w = np.arange(-(n - 1), n) * de
    k = w * np.abs(w)
    with np.errstate(divide="ignore", invalid="ignore"):
        nb = 1.0 / np.expm1(w / t_ph) if t_ph > 0 else np.where(w > 0, 0.0, -1.0)
        ref_e, ref_a = k * (1.0 + nb), k * nb
        scale = np.abs(k) * np.maximum(1.0, np.abs(nb))
    ref_e[n - 1] = ref_a[n - 1] = scale[n - 1] = 0.0
    if t_ph == 0:
        assert np.array_equal(emit, ref_e) and np.array_equal(absorb, ref_a)
    assert np.all(np.abs(emit - ref_e) <= 1e-15 * scale)
    assert np.all(np.abs(absorb - ref_a) <= 1e-15 * scale)
    assert emit[n - 1] == absorb[n - 1] == 0.0 and np.all(np.isfinite(emit))


def test_cutoff_fermi_integral_is_fermi_bitwise():
    """The integrand of the cutoff gap equation is fermi(Δ cosh u, T): the integral equals
    the quadrature of expit(-Δ cosh u / T) (the inline copy it replaces) bit for bit."""
    from scipy import integrate, special

    from fvqp.spectra.gap import _fermi_u_integral

    for delta, t in ((1.0, 0.3), (0.5, 0.7), (1.7, 0.05)):
        u_max = float(np.arcsinh(100.0 / delta))
        u_cut = float(np.arccosh(max(1.0, 60.0 * t / delta)))
        upper = min(u_max, u_cut)
        ref = integrate.quad(lambda u, d=delta, tt=t: special.expit(-d * np.cosh(u) / tt),
                             0.0, upper, epsabs=1e-14, epsrel=1e-13, limit=400)[0]
        assert _fermi_u_integral(delta, t, u_max) == ref


def test_matsubara_eliashberg_guess_is_the_bcs_ratio():
    """The Matsubara solve's default start is the BCS ratio: its answer (Pb, T = 0.3 Tc,
    310 frequencies) equals the one from the old start 1.764 to the iteration's tolerance
    (the fixed point does not depend on the start; measured 1.5e-14 of Δ)."""
    import inspect

    from fvqp.eliashberg import EliashbergParams
    from fvqp.eliashberg.matsubara import solve_matsubara
    from fvqp.spectra.gap import BCS_GAP_RATIO

    assert inspect.signature(solve_matsubara).parameters["delta_guess"].default \
        == BCS_GAP_RATIO
    p = EliashbergParams.from_material("Pb")
    _, z1, d1 = solve_matsubara(p.a2f, p.mu_star, p.omega_c, 0.3)
    _, z2, d2 = solve_matsubara(p.a2f, p.mu_star, p.omega_c, 0.3, delta_guess=1.764)
    assert np.max(np.abs(d1 - d2)) < 1e-9 * np.max(np.abs(d1))
    assert np.max(np.abs(z1 - z2)) < 1e-9 * np.max(np.abs(z1))
