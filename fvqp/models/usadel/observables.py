r"""Observables of a spectral + kinetic solution (paper Eqs. 4–8, 13–21).

Units: energies and μ in Δ0 (e = 1), currents in :math:`I_0=\Delta_0/eR_\xi` (Eq. 6),
conductances in :math:`1/R_\xi`. Sign convention: tunnel currents are counted *into the
wire* from the electrode (Eq. 13: :math:`I=\tfrac{\kappa}{2}\int N(f_T^{(N)}-f_T)\,d\epsilon`);
the detector current :math:`I_\mathrm{det}` is counted from the wire into the detector,
so that the charge-imbalance nonlocal conductance is positive, the convention of the
paper's Sec. III and of Eq. 21.
"""

from __future__ import annotations

import numpy as np

from .electrode import junction_terms, superconducting
from .terminals import dn0_dv, electrode_distribution
from .tunnel import cell_widths, charge_source_at, node_dos


def integrate(y, eps, axis: int = 0):
    """Trapezoidal ∫ dε along ``axis``."""
    y = np.moveaxis(np.asarray(y), axis, -1)
    return np.sum(0.5 * (y[..., 1:] + y[..., :-1]) * np.diff(eps), axis=-1)


def _riemann(y, eps):
    """Σ y δε on a uniform grid (the collision integral's quadrature); Σ w_k y_k with the
    trapezoid cell widths on a non-uniform (graded) grid, the rule under which the
    restricted collision integrals conserve energy (:mod:`~.regrid`)."""
    h = np.diff(eps)
    if np.ptp(h) > 1e-9 * h.max():
        return np.tensordot(cell_widths(eps), y, axes=(0, 0))
    return np.sum(y, axis=0) * (eps[1] - eps[0])


def mirror_grid(eps) -> np.ndarray:
    """The grid ``eps`` of energies ε ≥ 0 mirrored about 0 (ε = 0 kept once): the grid
    the whole-axis integrals of this module need (:func:`require_full_axis`)."""
    e = np.asarray(eps, float)
    neg = -e[::-1]
    return np.concatenate([neg[:-1] if e[0] == 0 else neg, e])


def require_full_axis(eps, what: str) -> np.ndarray:
    r"""Refuse an energy grid that is not an increasing grid on an interval symmetric
    about ε = 0.

    The observables of the model are integrals over the whole energy axis with the
    factor ½ of the paper's equations, :math:`\tfrac12\int_{-\infty}^{\infty}`
    (Eqs. 4–6, 8, 13, 14), and the collision integrals couple ε to ε ± ω on both sides.
    A grid of positive energies only would silently halve every current, the
    supercurrent, μ_Q* and the right side of Eq. 8. Returns ``eps`` as an array.

    Raises
    ------
    ValueError
        Naming ``what`` (the caller), the grid's extent and the fix (:func:`mirror_grid`).
    """
    e = np.asarray(eps, float)
    if e.ndim != 1 or e.size < 3 or not np.all(np.diff(e) > 0):
        raise ValueError(f"{what}: the energy grid must be a strictly increasing 1D array "
                         f"of at least 3 energies (got shape {e.shape}). Fix: pass e.g. "
                         "np.arange(-400, 401) * 0.01 (ε in units of Δ0).")
    lo, hi = float(e[0]), float(e[-1])
    if lo >= 0 or abs(lo + hi) > 1e-9 * max(abs(lo), abs(hi)):
        what_is = "positive energies only" if lo >= 0 else "an interval not symmetric about 0"
        raise ValueError(
            f"{what}: the energy grid covers [{lo:g}, {hi:g}] Δ0, {what_is}. The Usadel "
            "observables are ½∫ over the whole axis −E…E (Eqs. 4–6, 8, 13, 14); on this "
            "grid every current, the supercurrent, μ_Q* and Eq. 8 would be wrong (halved "
            "for positive energies only) without an error. Fix: pass a grid symmetric "
            "about 0, e.g. fvqp.models.usadel.observables.mirror_grid(eps).")
    return e


def charge_imbalance_potential(kin) -> np.ndarray:
    r"""Charge-imbalance potential per node, units Δ0/e (Eqs. 4–5):

    .. math:: \mu_{Q^*}(x)=\frac{Q^*}{2eN_0}=\int_0^\infty N f_T\,d\epsilon
              =\tfrac12\int_{-\infty}^{\infty}N f_T\,d\epsilon

    (:math:`Nf_T` is even in ε). Eq. 4 does not print its limits; the integral runs
    over ε > 0: a normal metal at bias V (N = 1, :math:`f_T` of Eq. 12) has
    :math:`\tfrac12\int_{-\infty}^{\infty}f_T\,d\epsilon=eV`, the shift of its
    electrons' chemical potential, with the charge :math:`Q^*=2eN_0\,eV` of that shift
    (:math:`N_0` per spin), and the ½ is the one of the currents of Eqs. 6, 13 and 14. So
    a non-invasive detector at :math:`V_\mathrm{det}=0` on a normal wire carries
    :math:`I_\mathrm{det}=G_\mathrm{det}\mu_{Q^*}/e` (Eq. 14). The grid must be
    symmetric about 0 (:func:`require_full_axis`).

    References
    ----------
    Ryan, Beckmann & Chandrasekhar (2026), Eqs. 4, 5, 12–14
    (``/work/shared/references/ryan2026_nonlocal_tunneling_usadel.txt``).
    """
    eps = require_full_axis(kin.eps, "charge_imbalance_potential")
    return 0.5 * integrate(kin.spectral.N * kin.fT, eps)


def tunnel_current(kin, junction) -> float:
    r"""Current into the wire through ``junction`` (Eq. 13), units I0:
    :math:`\tfrac{\kappa}{2}\sum_k w_k(S_{T,k}-\hat N_k f_{T,k})` with the energy-cell
    integrals :math:`S_k=\int_{C_k}Nf^{(N)}/w_k`, :math:`\hat N_k=\int_{C_k}N/w_k` of
    :mod:`~fvqp.models.usadel.tunnel` (the tunnel source of the kinetic equations, so the
    charge balance is exact); for a superconducting electrode the T row of
    :mod:`~fvqp.models.usadel.electrode` (with its :math:`-M f_L` term)."""
    require_full_axis(kin.eps, "tunnel_current")
    a = junction.node
    _, y = junction_terms(kin.spectral, junction, kin.cell_average).rows(kin.fL[:, a],
                                                                         kin.fT[:, a])
    return 0.5 * junction.kappa * float(np.dot(cell_widths(kin.eps), y))


def detector_current(kin, node: int, kappa: float, v_det, t_det: float) -> np.ndarray:
    """Current from the wire into a detector electrode at ``node`` for each bias in
    ``v_det`` (Eq. 14, detector not included in the solve), units I0; energy-cell
    integrals as :func:`tunnel_current`."""
    spec = kin.spectral
    w = cell_widths(require_full_axis(kin.eps, "detector_current"))
    back = node_dos(spec, node) * kin.fT[:, node]
    out = []
    for v in np.atleast_1d(v_det):
        sT = charge_source_at(spec, node, float(v), t_det)
        out.append(0.5 * kappa * float(np.dot(w, back - sT)))
    return np.array(out)


def supercurrent(spec, fL) -> np.ndarray:
    r"""Supercurrent of every edge, :math:`I_s/I_0=\frac{A\,\partial_x\phi}{2}\int
    j_\epsilon f_L\,d\epsilon` (Eq. 6); for a phase-biased solution
    :math:`\tfrac12\int g_e\mathrm{Im}(\sin^2\bar\theta_e\Delta\chi_e)\bar f_L\,d\epsilon`
    (the same with the solution's own ∂xχ)."""
    require_full_axis(spec.eps, "supercurrent")
    net, prob = spec.problem.net, spec.problem
    if hasattr(spec, "edge_js"):  # phase-biased solution: Σ g Im(sin²θ̄ Δχ) (phase.py)
        return 0.5 * integrate(spec.edge_js * net.edge_mean(fL), spec.eps)
    je = integrate(net.edge_mean(spec.jeps * fL), spec.eps)
    return 0.5 * prob.dphi * net.sigma_area * je


def charge_current(kin) -> np.ndarray:
    r"""Total charge current through every edge (a -> b), units I0:
    :math:`-\tfrac12\int(\mathcal D_T\partial_x f_T+\mathcal T\partial_x f_L
    +j_\epsilon f_L)\,d\epsilon`, minus the T-mode flux of the kinetic equations
    (quasiparticle + supercurrent; 𝒯 only for phase-biased solutions). The sign makes the
    quasiparticle current flow down the charge-imbalance potential and agrees with the
    tunnel currents of Eq. 13 (counted into the wire): the current into the reservoirs
    equals the injected one. The supercurrent part is then −:func:`supercurrent`: Eq. 6
    is written with the opposite orientation of ∂xφ. Conserved along a normal wire
    between sources."""
    require_full_axis(kin.eps, "charge_current")
    spec = kin.spectral
    net, prob = spec.problem.net, spec.problem
    a, b = net.edge_a, net.edge_b
    g = net.conductance
    j = net.edge_mean(spec.DT) * g * (kin.fT[:, b] - kin.fT[:, a])
    if hasattr(spec, "edge_js"):
        j += net.edge_mean(spec.cross) * g * (kin.fL[:, b] - kin.fL[:, a])
        j += spec.edge_js * net.edge_mean(kin.fL)
    else:
        j += net.edge_mean(spec.jeps) * prob.dphi * net.sigma_area * net.edge_mean(kin.fL)
    return -0.5 * integrate(j, kin.eps)


def gap_from_fL(spec, fL, coupling: float, omega_d: float,
                t_ref: float | None = None) -> np.ndarray:
    r"""Self-consistent :math:`|\Delta|=\frac{\lambda}{2}\int_{-\omega_D}^{\omega_D}
    \mathrm{Im}\mathcal F f_L\,d\epsilon` (Eq. 8) on every node.

    With ``t_ref`` the integral is split as

    .. math:: \int\mathrm{Im}\mathcal F_0\,n_0 + \int\mathrm{Im}\mathcal F_0\,
              (f_L-n_0) + \int(\mathrm{Im}\mathcal F-\mathrm{Im}\mathcal F_0)f_L ,

    :math:`\mathcal F_0` the bulk solution for the node's Δ, Γ, ζ and
    :math:`n_0=\tanh(\epsilon/2t_\mathrm{ref})`. The first two terms, which carry the
    gap-edge peak of Im F, are integrated on a fine grid graded towards the gap edge
    (f_L − n_0 interpolated linearly from the kinetic grid), the last (the proximity
    correction) on the kinetic grid. The result is then continuous in Δ: with the plain
    quadrature on the kinetic grid (δε = 1/40 vs Γ = 0.005 in App. B) the map
    Δ -> Eq. 8 jumps whenever the gap edge crosses a grid point.
    """
    from .bulk import bulk_theta
    from .terminals import n0

    eps = require_full_axis(spec.eps, "gap_from_fL (Eq. 8)")
    m = np.abs(eps) <= omega_d + 1e-12
    em = eps[m]
    val = integrate(spec.imF[m] * fL[m], em)
    if t_ref is None:
        return 0.5 * coupling * val
    prob = spec.problem
    zeta = np.broadcast_to(prob.zeta, prob.delta.shape)
    out = np.empty_like(val)
    keys = np.stack([prob.delta, zeta], axis=1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    dfl = fL[m] - n0(em, t_ref)[:, None]
    for k, (d, z) in enumerate(uniq):
        idx = np.flatnonzero(inv.ravel() == k)
        if d <= 0:
            out[idx] = val[idx]
            continue
        ef = gap_edge_grid(d, prob.gamma, z, omega_d)
        ef = np.concatenate([-ef[:0:-1], ef])
        imf_f = np.sin(bulk_theta(ef, d, prob.gamma, z)).imag
        eq = float(integrate(imf_f * n0(ef, t_ref), ef))
        imf_c = np.sin(bulk_theta(em, d, prob.gamma, z)).imag
        for i in idx:
            neq = integrate(imf_f * np.interp(ef, em, dfl[:, i]), ef)
            prox = integrate((spec.imF[m, i] - imf_c) * fL[m, i], em)
            out[i] = eq + neq + prox
    return 0.5 * coupling * out


def gap_edge_grid(delta, gamma, zeta, omega_d) -> np.ndarray:
    """Grid on [0, ω_D] graded geometrically towards the spectral gap edge."""
    from .bulk import bulk_gap_edge

    eg = bulk_gap_edge(delta, zeta)
    w = max(gamma, 1e-9)
    pts = [np.linspace(0.0, omega_d, 4001)]
    if eg > 0:
        off = np.geomspace(w * 1e-3, max(eg, w), 600)
        pts += [eg + off, eg - off[off < eg]]
    return np.unique(np.clip(np.concatenate(pts + [[eg]]), 0.0, omega_d))


def equilibrium_gap_integral(delta, gamma, zeta, t, omega_d) -> float:
    r""":math:`\int_{-\omega_D}^{\omega_D}\mathrm{Im}\mathcal F_0\tanh(\epsilon/2t)`
    of the bulk solution on a grid graded geometrically towards the gap edge."""
    from .bulk import bulk_theta
    from .terminals import n0

    e = gap_edge_grid(delta, gamma, zeta, omega_d)
    y = np.sin(bulk_theta(e, delta, gamma, zeta)).imag * n0(e, t)
    return float(2.0 * integrate(y, e))


def coupling_constant(omega_d: float) -> float:
    """λ = 1/arcsinh(ω_D) (App. B)."""
    return 1.0 / np.arcsinh(omega_d)


def charge_balance(kin) -> dict:
    r"""Charge bookkeeping of the discrete solution (all in I0).

    ``injected`` (tunnel currents into the wire) equals ``drained`` (quasiparticle and
    supercurrent flowing into the reservoirs) plus ``converted`` (
    :math:`\tfrac12\int\!\!\int\mathcal R_T f_T`, charge imbalance converted to
    supercurrent).
    """
    spec = kin.spectral
    net, prob = spec.problem.net, spec.problem
    eps = require_full_axis(kin.eps, "charge_balance")
    injected = sum(tunnel_current(kin, j) for j in kin.junctions)
    free = np.ones(net.n_nodes, bool)
    for r in kin.reservoirs:
        free[r.node] = False
    conv = 0.5 * integrate((net.volume * spec.RT * kin.fT)[:, free].sum(axis=1), eps)
    g = net.conductance
    DT = net.edge_mean(spec.DT) * g
    phase = hasattr(spec, "edge_js")
    if phase:  # phase-biased: actual ∂xχ, cross term 𝒯 and R_L fL (kinetic.py)
        js = spec.edge_js
        X = net.edge_mean(spec.cross) * g
        conv += 0.5 * integrate((spec.node_RL * kin.fL)[:, free].sum(axis=1), eps)
    else:
        js = net.edge_mean(spec.jeps) * prob.dphi * net.sigma_area
    drained = {}
    for r in kin.reservoirs:
        tot = np.zeros(eps.size)
        for sgn, here, there in ((1.0, net.edge_a, net.edge_b), (-1.0, net.edge_b, net.edge_a)):
            e = np.flatnonzero(here == r.node)
            fl_mean = 0.5 * (kin.fL[:, here[e]] + kin.fL[:, there[e]])
            tot += (DT[:, e] * (kin.fT[:, there[e]] - kin.fT[:, here[e]])
                    + sgn * js[:, e] * fl_mean).sum(axis=1)
            if phase:
                tot += (X[:, e] * (kin.fL[:, there[e]] - kin.fL[:, here[e]])).sum(axis=1)
        drained[r.name] = drained.get(r.name, 0.0) + 0.5 * float(integrate(tot, eps))
    return {"injected": float(injected), "converted": float(conv), "drained": drained}


def energy_balance(kin) -> dict:
    r"""Energy-current bookkeeping of the L mode (units Δ0 I0/e):
    ``injected`` :math:`=\sum_J\tfrac{\kappa}{2}\int\epsilon N(f_L^{(J)}-f_L)` and
    ``drained`` into the reservoirs. Elastic transport and the e–e collision integral
    conserve energy, so they agree (without an imposed phase gradient; with a phase-biased
    solution the L flux includes −𝒯∂fT + j_ε fT). The energy sums use the
    uniform-grid rule of the collision integral (each node weight δε), under which its
    energy conservation is exact."""
    spec = kin.spectral
    net = spec.problem.net
    eps = require_full_axis(kin.eps, "energy_balance")
    inj = 0.0
    for j in kin.junctions:
        if superconducting(j):  # the L row of electrode.py
            y, _ = junction_terms(spec, j, kin.cell_average).rows(kin.fL[:, j.node],
                                                                  kin.fT[:, j.node])
        else:
            y = spec.N[:, j.node] * (j.distribution(eps)[0] - kin.fL[:, j.node])
        inj += 0.5 * j.kappa * float(_riemann(eps * y, eps))
    DL = net.edge_mean(spec.DL) * net.conductance
    phase = hasattr(spec, "edge_js")  # phase-biased: -𝒯∂fT + j_ε fT in the L flux
    if phase:
        X = net.edge_mean(spec.cross) * net.conductance
    drained = 0.0
    for r in kin.reservoirs:
        tot = np.zeros(eps.size)
        for sgn, here, there in ((1.0, net.edge_a, net.edge_b),
                                 (-1.0, net.edge_b, net.edge_a)):
            e = np.flatnonzero(here == r.node)
            tot += (DL[:, e] * (kin.fL[:, there[e]] - kin.fL[:, here[e]])).sum(axis=1)
            if phase:
                ft_mean = 0.5 * (kin.fT[:, here[e]] + kin.fT[:, there[e]])
                tot += (-X[:, e] * (kin.fT[:, there[e]] - kin.fT[:, here[e]])
                        + sgn * spec.edge_js[:, e] * ft_mean).sum(axis=1)
        drained += 0.5 * float(_riemann(eps * tot, eps))
    return {"injected": inj, "drained": drained}


# --- symmetry decomposition (Eqs. 16-19) --------------------------------------------------

def split_supercurrent(g_plus, g_minus):
    """g_a, g_s of Eqs. 16–17 from g_nl at +I_s and −I_s."""
    g_plus, g_minus = np.asarray(g_plus), np.asarray(g_minus)
    return 0.5 * (g_plus - g_minus), 0.5 * (g_plus + g_minus)


def split_bias(g, axis: int = 0):
    """g_sa, g_ss of Eqs. 18–19 from g_s on a bias grid symmetric about 0 (``axis``)."""
    g = np.asarray(g)
    r = np.flip(g, axis=axis)
    return 0.5 * (g - r), 0.5 * (g + r)


# --- analytic charge imbalance (Eqs. 20-21) ----------------------------------------------

def gnl_spectral_eq21(spec_uniform, x: float, kappa: float,
                      length: float | tuple | None = None) -> np.ndarray:
    r"""Spectral nonlocal conductance of Eq. 21 from a *uniform* spectral solution
    (first node used): :math:`\frac{\kappa N}{\kappa N+\mathcal D_T/\lambda_T}N
    e^{-|x|/\lambda_T}`, :math:`\lambda_T=\sqrt{\mathcal D_T/\mathcal R_T}` (Eq. 20);
    ``kappa`` is the per-branch κ_I = G_inj R_ξ/2.

    ``length`` = L or (L1, L2): the two branches end at reservoirs (fT = 0) at distances
    L1, L2 from the injector, the detector at |x| on branch 2. The same solution of
    Eq. 20 then has :math:`e^{-|x|/\lambda}\to\sinh((L_2-|x|)/\lambda)/\sinh(L_2/\lambda)`
    and :math:`\mathcal D_T/\lambda\to\mathcal D_T(\coth(L_1/\lambda)+\coth(L_2/\lambda))
    /2\lambda` (Eq. 21 is the limit L → ∞).
    """
    N, DT, RT = spec_uniform.N[:, 0], spec_uniform.DT[:, 0], spec_uniform.RT[:, 0]
    lam = np.sqrt(DT / RT)
    if length is None:
        return kappa * N / (kappa * N + DT / lam) * N * np.exp(-abs(x) / lam)
    L1, L2 = (length, length) if np.isscalar(length) else length
    q1, q2, d = L1 / lam, L2 / lam, abs(x) / lam
    shape = np.exp(-d) * -np.expm1(-2 * (q2 - d)) / -np.expm1(-2 * q2)
    coth = 0.5 * (1.0 / np.tanh(q1) + 1.0 / np.tanh(q2))
    return kappa * N / (kappa * N + DT * coth / lam) * N * shape


def detector_current_eq21(spec_uniform, x, kappa, v_inj, t_inj, length=None):
    r"""Detector current per detector conductance, :math:`\tfrac12\int g(\epsilon)
    f_T^{(N)}(\epsilon; V_\mathrm{inj})\,d\epsilon` (units Δ0/e), with g of
    :func:`gnl_spectral_eq21`; its V-derivative is :func:`thermal_average`."""
    eps = require_full_axis(spec_uniform.eps, "detector_current_eq21")
    g = np.nan_to_num(gnl_spectral_eq21(spec_uniform, x, kappa, length))
    return np.array([0.5 * integrate(g * electrode_distribution(eps, v, t_inj)[1], eps)
                     for v in np.atleast_1d(v_inj)])


def thermal_average(g_eps, eps, v_inj, t: float) -> np.ndarray:
    r""":math:`\tfrac12\int g(\epsilon)\,\partial_V f_T^{(N)}(\epsilon)\,d\epsilon`: the
    convolution of a spectral conductance with the derivative of the Fermi function of the
    injector electrode (App. B), for every bias."""
    eps = require_full_axis(eps, "thermal_average")
    out = []
    for v in np.atleast_1d(v_inj):
        _, dfT = dn0_dv(eps, v, t)
        out.append(0.5 * integrate(g_eps * dfT, eps))
    return np.array(out)
