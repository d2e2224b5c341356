r"""Mode conversion at a welded interface between two isotropic solids.

A plane wave of horizontal slowness :math:`p = \sin\theta/v` (conserved: Snell's law)
meets the plane :math:`z = 0` between medium :math:`a` (:math:`z < 0`) and medium
:math:`b`; each medium has density :math:`\varrho`, longitudinal and transverse
velocities :math:`\alpha = v_L`, :math:`\beta = v_T`. The vertical slowness of a wave of
velocity :math:`v` is :math:`q = \sqrt{1/v^2 - p^2}` (:math:`+i\sqrt{p^2 - 1/v^2}`
beyond its critical angle: an evanescent wave decaying away from the plane). The
displacement of a wave travelling in :math:`\pm z` (:math:`s = \pm1`) with amplitude
:math:`A` is :math:`u = A\,d\,e^{i\omega(px + sqz - t)}`, polarisation

.. math::
    d_P = \alpha\,(p, 0, sq_\alpha),\quad d_{SV} = \beta\,(sq_\beta, 0, -p),\quad
    d_{SH} = (0, 1, 0)

(unit vectors for propagating waves), and its tractions on the plane, from
:math:`\tau_{iz} = \lambda\,\delta_{iz}\nabla\cdot u + \mu(\partial_zu_i +
\partial_iu_z)`, :math:`\lambda = \varrho(\alpha^2 - 2\beta^2)`, :math:`\mu =
\varrho\beta^2`, divided by :math:`i\omega A`:

.. math::
    P:&\quad \tau_{xz} = 2\varrho\beta^2\alpha\,s\,pq_\alpha,\quad
        \tau_{zz} = \varrho\alpha(1 - 2\beta^2p^2),\\
    SV:&\quad \tau_{xz} = \varrho\beta(1 - 2\beta^2p^2),\quad
        \tau_{zz} = -2\varrho\beta^3\,s\,pq_\beta,\\
    SH:&\quad \tau_{yz} = \varrho\beta^2\,s\,q_\beta.

A welded interface keeps the displacement and the traction continuous (Aki & Richards,
*Quantitative Seismology*, 2nd ed. 2002, §5.2.3–5.2.4, Eqs. 5.31–5.33; Auld, *Acoustic
Fields and Waves in Solids* Vol. II, Ch. 9). For an incident P or SV wave from
:math:`a` (:math:`s = +1`) the amplitudes of the reflected P, SV (:math:`s = -1` in
:math:`a`) and transmitted P, SV (:math:`s = +1` in :math:`b`) solve the 4×4 system
(rows :math:`u_x, u_z, \tau_{xz}, \tau_{zz}`)

.. math:: \sum_{j\in\{P,SV\}}A^R_j\,c_j^{a,-} - \sum_{j}A^T_j\,c_j^{b,+} = -c_{inc}^{a,+},

with :math:`c` the columns :math:`(d_x, d_z, \tau_{xz}, \tau_{zz})` above; SH decouples
(rows :math:`u_y, \tau_{yz}`): with :math:`m = \varrho\beta^2q_\beta = Z_T\cos\theta`,

.. math:: A^R = \frac{m_a - m_b}{m_a + m_b},\qquad A^T = \frac{2m_a}{m_a + m_b}.

The time-averaged energy flux of a wave through the plane is
:math:`\tfrac12\varrho\omega^2|A|^2v\cos\theta = \tfrac12\omega^2\varrho v^2\,
\mathrm{Re}\,q\,|A|^2` (zero for an evanescent wave), so the *energy* fractions are

.. math::
    E_j = \frac{\varrho_jv_j^2\,\mathrm{Re}\,q_j\,|A_j|^2}{\varrho_av_{inc}^2q_{inc}},
    \qquad \sum_jE_j = 1

(energy conservation; the cross terms of waves with different :math:`q` carry no mean
flux). For an incident SH: :math:`E^T = 4m_a\mathrm{Re}\,m_b/|m_a + m_b|^2`, at normal
incidence :math:`4Z_aZ_b/(Z_a + Z_b)^2` with :math:`Z = \varrho v_T`; an incident P at
normal incidence gives the same with :math:`Z = \varrho v_L` and no conversion.
*Reciprocity* (Aki & Richards §5.2.5): at one :math:`p` the energy fractions of a
channel and of its reverse are equal, :math:`E_{i\to j}(p) = E_{j\to i}(p)`.

Phonons (:func:`branch_coefficients`): the longitudinal branch is P; the transverse branch
(two polarisations) is taken as SV and SH with equal weight (unpolarised), so a T phonon
converts to L only through its SV half, and L converts into the T branch through SV.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CHANNELS", "band_average", "branch_average", "branch_coefficients",
           "elastic_coefficients"]

#: outgoing channels of :func:`elastic_coefficients`, in this order
CHANNELS = ("R_L", "R_SV", "R_SH", "T_L", "T_SV", "T_SH")


def _q(v, sl) -> np.ndarray:
    r"""Vertical slowness :math:`\sqrt{1/v^2 - p^2}`, :math:`+i|.|` when evanescent, of
    a wave of velocity ``v`` at the :math:`p` of an incident wave ``sl = (v_inc, mu)``:
    :math:`1/v^2 - p^2 = (1/v^2 - 1/v_{inc}^2) + \mu^2/v_{inc}^2` (no cancellation
    near grazing incidence)."""
    vi, mu = sl
    return np.sqrt(((1.0 / v**2 - 1.0 / vi**2) + (mu / vi) ** 2).astype(complex))


def _column(kind: str, rho, a, b, p, s, sl) -> np.ndarray:
    r"""(d_x, d_z, tau_xz, tau_zz) of a unit P or SV wave (module docstring), (..., 4)."""
    if kind == "P":
        q = _q(a, sl)
        return np.stack([a * p + 0j, s * a * q, 2.0 * rho * b**2 * a * s * p * q,
                         rho * a * (1.0 - 2.0 * b**2 * p**2) + 0j], axis=-1)
    q = _q(b, sl)
    return np.stack([s * b * q, -b * p + 0j, rho * b * (1.0 - 2.0 * b**2 * p**2) + 0j,
                     -2.0 * rho * b**3 * s * p * q], axis=-1)


def elastic_coefficients(mu, incident: str, rho_a: float, vl_a: float, vt_a: float,
                         rho_b: float, vl_b: float, vt_b: float) -> np.ndarray:
    r"""Energy fractions of an incident wave into the six outgoing waves.

    Parameters
    ----------
    mu : array_like
        :math:`|\cos\theta|` of the incident wave in medium ``a``.
    incident : str
        ``"L"`` (P), ``"SV"`` or ``"SH"``.
    rho_a, vl_a, vt_a, rho_b, vl_b, vt_b : float
        Densities and longitudinal/transverse velocities (any consistent units;
        ``rho_b = 0`` is a free surface).

    Returns
    -------
    ndarray, shape mu.shape + (6,)
        Fractions into :data:`CHANNELS` (reflected L, SV, SH; transmitted L, SV, SH),
        summing to one (module docstring).
    """
    mu = np.clip(np.abs(np.asarray(mu, dtype=float)), 0.0, 1.0)
    out = np.zeros(mu.shape + (6,))
    # dimensionless: velocities in vl_a, densities in rho_a (tractions O(1))
    ra, rb = 1.0, rho_b / rho_a
    aa, ba, ab, bb = 1.0, vt_a / vl_a, vl_b / vl_a, vt_b / vl_a
    v_inc = aa if incident == "L" else ba
    ok = mu > 0.0                      # grazing: reflected into the same mode
    p = np.sqrt(1.0 - mu[ok] ** 2) / v_inc
    sl = (v_inc, mu[ok])
    flux_in = ra * v_inc * mu[ok]      # rho v^2 q of the incident wave (q = mu / v)
    if incident == "SH":
        ma, mb = ra * ba**2 * _q(ba, sl), rb * bb**2 * _q(bb, sl)
        den = ma + mb
        ar, at = (ma - mb) / den, 2.0 * ma / den
        e = np.zeros(p.shape + (6,))
        e[:, 2] = np.abs(ar) ** 2
        e[:, 5] = rb * bb**2 * _q(bb, sl).real * np.abs(at) ** 2 / flux_in
    elif incident in ("L", "SV"):
        kind = "P" if incident == "L" else "SV"
        m = np.stack([_column("P", ra, aa, ba, p, -1.0, sl),
                      _column("SV", ra, aa, ba, p, -1.0, sl),
                      -_column("P", rb, ab, bb, p, 1.0, sl),
                      -_column("SV", rb, ab, bb, p, 1.0, sl)], axis=-1)
        rhs = -_column(kind, ra, aa, ba, p, 1.0, sl)
        amp = np.linalg.solve(m, rhs[..., None])[..., 0]
        flux = np.stack([ra * aa**2 * _q(aa, sl).real, ra * ba**2 * _q(ba, sl).real,
                         rb * ab**2 * _q(ab, sl).real, rb * bb**2 * _q(bb, sl).real],
                        axis=-1)
        e = np.zeros(p.shape + (6,))
        e[:, [0, 1, 3, 4]] = flux * np.abs(amp) ** 2 / flux_in[:, None]
    else:
        raise ValueError(f"unknown incident mode {incident!r} (expected L, SV or SH)")
    out[ok] = e
    out[~ok, {"L": 0, "SV": 1, "SH": 2}[incident]] = 1.0
    return out


def branch_coefficients(mu, branch: str, rho_a: float, vl_a: float, vt_a: float,
                        rho_b: float, vl_b: float, vt_b: float) -> np.ndarray:
    r"""Energy fractions of a phonon of branch ``L`` or ``T`` leaving medium ``a`` at
    :math:`|\cos\theta| = \mu` into (reflected L, reflected T, transmitted L, transmitted
    T); the T branch is SV and SH with equal weight (module docstring).

    Returns
    -------
    ndarray, shape mu.shape + (4,)
    """
    args = (rho_a, vl_a, vt_a, rho_b, vl_b, vt_b)
    if branch == "L":
        e = elastic_coefficients(mu, "L", *args)
    elif branch == "T":
        e = 0.5 * (elastic_coefficients(mu, "SV", *args)
                   + elastic_coefficients(mu, "SH", *args))
    else:
        raise ValueError(f"unknown branch {branch!r} (expected L or T)")
    return np.stack([e[..., 0], e[..., 1] + e[..., 2], e[..., 3], e[..., 4] + e[..., 5]],
                    axis=-1)


def branch_average(branch: str, rho_a: float, vl_a: float, vt_a: float, rho_b: float,
                   vl_b: float, vt_b: float, nodes: int = 200) -> np.ndarray:
    r"""Isotropic-incidence (3D) averages :math:`2\int_0^1E(\mu)\,\mu\,d\mu` of the four
    fractions of :func:`branch_coefficients` (reflected L, T; transmitted L, T).

    Gauss–Legendre with ``nodes`` points on each interval between the critical angles
    :math:`\mu_c = \sqrt{1 - (v_{in}/v)^2}` (:math:`v > v_{in}`), in the variable
    :math:`s` of :math:`\mu = \mu_0 + (\mu_1 - \mu_0)(1 - \cos\pi s)/2`, which makes the
    square-root behaviour at the critical angles smooth. Reciprocity of the averages:
    :math:`(w_\beta/v_\beta^2)\,\tau_{a\beta\to b\beta'} =
    (w_{\beta'}/v_{\beta'}^2)\,\tau_{b\beta'\to a\beta}` (:math:`w_L = 1`, :math:`w_T =
    2`).

    Returns
    -------
    ndarray, shape (4,)
    """
    v_in = vl_a if branch == "L" else vt_a
    cuts = [float(np.sqrt(1.0 - (v_in / v) ** 2)) for v in (vl_a, vt_a, vl_b, vt_b)
            if v > v_in]
    edges = np.unique([0.0, 1.0, *cuts])
    x, wx = np.polynomial.legendre.leggauss(nodes)
    s, ws = 0.5 * (x + 1.0), 0.5 * wx
    total = np.zeros(4)
    for m0, m1 in zip(edges[:-1], edges[1:], strict=True):
        mu = m0 + (m1 - m0) * 0.5 * (1.0 - np.cos(np.pi * s))
        jac = (m1 - m0) * 0.5 * np.pi * np.sin(np.pi * s)
        e = branch_coefficients(mu, branch, rho_a, vl_a, vt_a, rho_b, vl_b, vt_b)
        total += np.sum((ws * jac * 2.0 * mu)[:, None] * e, axis=0)
    return total


def band_average(lo, hi, branch: str, rho_a: float, vl_a: float, vt_a: float,
                 rho_b: float, vl_b: float, vt_b: float, nodes: int = 24) -> np.ndarray:
    r"""Flux-weighted averages :math:`\int_{lo}^{hi}E\,\mu\,d\mu/\int_{lo}^{hi}\mu\,d\mu`
    of the fractions of :func:`branch_coefficients` over bands of :math:`\mu`.

    Each band is cut at the critical angles (:func:`branch_average`) and integrated by
    ``nodes`` Gauss–Legendre points per piece in the variable of :func:`branch_average`;
    equal bands are evaluated once. An empty band (``lo == hi``) gives the value at
    ``lo``.

    Parameters
    ----------
    lo, hi : array_like
        Band edges in :math:`\mu\in[0, 1]`, same shape.

    Returns
    -------
    ndarray, shape lo.shape + (4,)
    """
    lo, hi = np.broadcast_arrays(np.asarray(lo, float), np.asarray(hi, float))
    shape = lo.shape
    bands, inv = np.unique(np.round(np.stack([lo.ravel(), hi.ravel()], axis=1), 14),
                           axis=0, return_inverse=True)
    b0, b1 = bands[:, 0], bands[:, 1]
    v_in = vl_a if branch == "L" else vt_a
    cuts = [float(np.sqrt(1.0 - (v_in / v) ** 2)) for v in (vl_a, vt_a, vl_b, vt_b)
            if v > v_in]
    pts = np.sort(np.stack([b0, *[np.clip(c, b0, b1) for c in cuts], b1], axis=1), axis=1)
    x, wx = np.polynomial.legendre.leggauss(nodes)
    s, ws = 0.5 * (x + 1.0), 0.5 * wx
    m0, m1 = pts[:, :-1, None], pts[:, 1:, None]                 # (nb, pieces, 1)
    mu = m0 + (m1 - m0) * 0.5 * (1.0 - np.cos(np.pi * s))       # (nb, pieces, nodes)
    wt = ws * (m1 - m0) * 0.5 * np.pi * np.sin(np.pi * s) * mu
    e = branch_coefficients(mu, branch, rho_a, vl_a, vt_a, rho_b, vl_b, vt_b)
    num = np.einsum("bpn,bpnc->bc", wt, e)
    den = wt.sum(axis=(1, 2))
    empty = den <= 0.0
    avg = np.divide(num, den[:, None], out=np.zeros_like(num), where=~empty[:, None])
    if empty.any():
        avg[empty] = branch_coefficients(b0[empty], branch, rho_a, vl_a, vt_a, rho_b, vl_b,
                                         vt_b)
    return avg[inv.ravel()].reshape(shape + (4,))
