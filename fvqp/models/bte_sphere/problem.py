r"""State layout, residual and Jacobian action of the spherical BTE (owned radial cells).

Unknowns of radial cell ``i`` (internal units of :mod:`fvqp.units`): the QP occupation
:math:`f_{ijk}` (energy bin ``j`` of the :class:`~fvqp.collisions.EnergyGrid`, ordinate
``k``; local index ``j K + k``), then the phonons: none (``bath``: :math:`n` held at the
bath), :math:`n_{iq}` (``local``: isotropic, no transport, optional escape time) or
:math:`n_{iqk}` (``bte``: same ordinates, streaming at the sound velocity :math:`c_s`).

Every row is a balance of particles in cell ``i``, bin ``j``, direction cell ``k``
(the conservative form of :mod:`fvqp.models.bte_sphere.spectral`, streaming
of :mod:`fvqp.models.bte_sphere.discretisation`, collisions of
:mod:`fvqp.collisions.angular`):

.. math::
    \frac{d}{dt}\Big(wV_i\tfrac{w_k}{2}hN_jf_{ijk}\Big) &= w h\tfrac{w_k}{2}\Big[
        -v_F(Lf_{\cdot j\cdot})_{ik} + V_i\rho_jI^{qp}_{ijk}
        + V_i\frac{v_F}{\ell}(\bar f_{ij} - f_{ijk})\Big], \\
    \frac{d}{dt}\Big(wV_i\tfrac{w_k}{2}\beta h\Omega_q^2n_{iqk}\Big) &=
        w\beta h\Omega_q^2\tfrac{w_k}{2}\Big[-c_s(Ln_{\cdot q\cdot})_{ik}
        + V_iI^{ph}_{iqk}\Big],

with :math:`w = 4N_0/N_{0}` (= 4: numbers in units of :math:`N_0k_BT_c\,\mu m^3`) and
:math:`\beta = \text{qp\_scale}/2c_{ph}` (notes Eqs. 9-10). Everything but the collisions
is linear: one sparse matrix :attr:`SphereProblem.linear` (plus a constant inflow from
``bath`` boundaries). The Krylov operator is the exact Jacobian *action* (linear part +
complex-step derivative of the collisions); the preconditioning matrix is the linear
part (streaming + elastic scattering, block diagonal in energy) plus the diagonal of the
collision Jacobian's self-occupation terms, solved exactly energy block by energy block
over all radial cells (:class:`.precond.EnergyBlockPC`; the same on any number of ranks).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse import coo_matrix

from ...collisions.angular import (
    AngularTerms,
    RatesLinearisation,
    angle_average,
    angular_rates,
    angular_terms,
)
from ...collisions.grid import bose, fermi
from ...parallel.blocked import BlockDistribution
from .discretisation import Ordinates, RadialMesh, radial_distribution, streaming_stencil
from .limiter import FaceLimiter
from .spectral import Spectrum

__all__ = ["PHONON_MODES", "SphereProblem"]

PHONON_MODES = ("bath", "local", "bte")


class SphereProblem:
    """The spherical BTE on the radial cells owned by this rank.

    Parameters
    ----------
    mesh : RadialMesh
    ords : Ordinates
    spectrum : Spectrum
    v_f : float
        Band Fermi velocity (µm / tau0); the QP number flux per unit energy is ``v_f f``.
    mfp : float
        Elastic mean free path (µm; ``inf``: ballistic).
    t_bath : float
    c_ph, qp_scale, weight : float
        Collision prefactors (:mod:`fvqp.collisions.batched`) and states weight ``4``.
    phonons : {"bath", "local", "bte"}
    c_s : float
        Sound velocity (``bte``).
    tau_esc : float
        Phonon escape time (``local``; ``inf``: none).
    outer_qp, outer_ph : {"vacuum", "bath", "specular"}
    scheme : {"step", "diamond", "limited"}
        Radial differencing (:mod:`.discretisation`, :mod:`.limiter`); ``limited`` makes
        the streaming piecewise linear (branch of :meth:`limiter_branch`).
    collisions : bool
        False: no electron-phonon collisions (streaming + elastic scattering only).
    comm
        petsc4py communicator (default COMM_WORLD).
    """

    def __init__(self, mesh: RadialMesh, ords: Ordinates, spectrum: Spectrum, *, v_f: float,
                 mfp: float = math.inf, t_bath: float = 0.1, c_ph: float = 1.0,
                 qp_scale: float = 1.0, weight: float = 4.0, phonons: str = "bath",
                 c_s: float = 0.0, tau_esc: float = math.inf, outer_qp: str = "vacuum",
                 outer_ph: str = "vacuum", scheme: str = "step", collisions: bool = True,
                 comm=None):
        if phonons not in PHONON_MODES:
            raise ValueError(f"phonons must be one of {PHONON_MODES}, not {phonons!r}")
        self.mesh, self.ords, self.spec = mesh, ords, spectrum
        g = self.grid = spectrum.grid
        self.N, self.K, self.M = g.n, ords.k, g.n_ph
        self.Kp = {"bath": 0, "local": 1, "bte": ords.k}[phonons]
        self.phonons, self.collisions = phonons, collisions
        self.nq = self.N * self.K
        self.B = self.nq + self.M * self.Kp
        self.v_f, self.mfp, self.c_s, self.tau_esc = v_f, mfp, c_s, tau_esc
        self.t_bath, self.c_ph, self.qp_scale, self.weight = t_bath, c_ph, qp_scale, weight
        self.beta = qp_scale / (2.0 * c_ph)
        self.scheme = scheme
        self.cells = radial_distribution(mesh, comm, halo=2 if scheme == "limited" else 1)
        self.dist = BlockDistribution(self.cells, self.B)
        loc = self.cells.local
        self.n, self.nl = loc.n_owned, loc.n_local
        self.rcell = loc.cells  # radial index of every local cell
        self.V = mesh.volumes[self.rcell]
        self.f_bath, self.n_bath = fermi(g.e, t_bath), bose(g.omega, t_bath)
        self.matrix_free, self.block_size = True, 1
        wk = ords.w / 2.0
        self._wk = wk
        # storage weights per owned unknown
        mq = weight * self.V[:self.n, None, None] * g.h * spectrum.states[None, :, None] \
            * wk[None, None, :]
        mp = weight * self.beta * self.V[:self.n, None, None] * g.h \
            * (g.omega**2)[None, :, None] * (wk if self.Kp > 1 else np.ones(1))[None, None, :]
        self.m_q, self.m_p = mq, mp[:, :, :self.Kp] if self.Kp else mp[:, :, :0]
        self._storage = np.concatenate([mq.reshape(self.n, -1),
                                        self.m_p.reshape(self.n, -1)], axis=1).ravel()
        self.stencil_qp = streaming_stencil(mesh, ords, self.rcell, self.n, outer_qp, scheme)
        self.stencil_ph = (streaming_stencil(mesh, ords, self.rcell, self.n, outer_ph, scheme)
                           if phonons == "bte" else None)
        self._build_linear()
        self._limiters = self._make_limiters() if scheme == "limited" else []
        self.pattern = self._pattern()

    # ---- the linear part ------------------------------------------------------------
    def _species_stream(self, st, off: int, nbins: int, coef: np.ndarray, psi_b: np.ndarray):
        """COO of a streaming stencil expanded over ``nbins`` energies (coef per bin) and
        the constant inflow term (bath occupation ``psi_b`` per bin)."""
        K, B = self.K, self.B
        j = np.arange(nbins)
        rc, rk = st.rows // K, st.rows % K
        cc, ck = st.cols // K, st.cols % K
        rows = rc[:, None] * B + off + j[None, :] * K + rk[:, None]
        cols = cc[:, None] * B + off + j[None, :] * K + ck[:, None]
        vals = st.vals[:, None] * self._wk[rk][:, None] * coef[None, :]
        const = np.zeros((self.n, nbins, K))
        const += (st.inflow * self._wk)[:, None, :] * (coef * psi_b)[None, :, None]
        return rows.ravel(), cols.ravel(), vals.ravel(), const

    def _build_linear(self) -> None:
        g, K, B, n = self.grid, self.K, self.B, self.n
        w = self.weight
        parts = []
        r, c, v, cq = self._species_stream(self.stencil_qp, 0, self.N,
                                           np.full(self.N, w * g.h * self.v_f), self.f_bath)
        parts.append((r, c, v))
        const = np.zeros((n, B))
        const[:, :self.nq] = cq.reshape(n, -1)
        if math.isfinite(self.mfp):  # elastic: (v_F/l)(fbar - f), dense K x K per bin
            kk, kp = np.meshgrid(np.arange(K), np.arange(K), indexing="ij")
            blk = (self._wk[:, None] * (self._wk[None, :] - np.eye(K)))
            coef = w * g.h * self.v_f / self.mfp * self.V[:n]
            base = (np.arange(n)[:, None] * B + np.arange(self.N)[None, :] * K)
            rows = (base[:, :, None, None] + kk[None, None]).ravel()
            cols = (base[:, :, None, None] + kp[None, None]).ravel()
            vals = (coef[:, None, None, None] * blk[None, None]
                    * np.ones((1, self.N, 1, 1))).ravel()
            parts.append((rows, cols, vals))
        if self.phonons == "bte":
            coef = w * self.beta * g.h * g.omega**2 * self.c_s
            r, c, v, cp = self._species_stream(self.stencil_ph, self.nq, self.M, coef,
                                               self.n_bath)
            parts.append((r, c, v))
            const[:, self.nq:] = cp.reshape(n, -1)
        if self.phonons == "local" and math.isfinite(self.tau_esc):
            idx = (np.arange(n)[:, None] * B + self.nq + np.arange(self.M)[None, :]).ravel()
            mp = self.m_p.reshape(n, -1)
            parts.append((idx, idx, (-mp / self.tau_esc).ravel()))
            const[:, self.nq:] += mp * self.n_bath / self.tau_esc
        rows = np.concatenate([p[0] for p in parts])
        cols = np.concatenate([p[1] for p in parts])
        vals = np.concatenate([p[2] for p in parts])
        self._lin_coo = (rows, cols, vals)
        self.linear = coo_matrix((vals, (rows, cols)), shape=(n * B, self.nl * B)).tocsr()
        self.const = const.ravel()

    def _pattern(self):
        rows, cols, _ = self._lin_coo
        d = np.arange(self.n * self.B)
        lr = [lim.coo(nb, self.B, off) for lim, off, nb, _ in self._limiters]
        return (np.concatenate([rows, d] + [x[0] for x in lr]),
                np.concatenate([cols, d] + [x[1] for x in lr]))

    # ---- limited scheme (piecewise linear streaming) -----------------------------------
    def _make_limiters(self) -> list:
        """``(limiter, offset, bins, coef (bins, K))`` per transported species."""
        g, w = self.grid, self.weight
        lim = FaceLimiter(self.mesh, self.ords, self.rcell, self.n)
        out = [(lim, 0, self.N, np.full(self.N, w * g.h * self.v_f)[:, None] * self._wk)]
        if self.phonons == "bte":
            coef = w * self.beta * g.h * g.omega**2 * self.c_s
            out.append((lim, self.nq, self.M, coef[:, None] * self._wk))
        return out

    def _species(self, xl: np.ndarray, off: int, nb: int) -> np.ndarray:
        y = xl.reshape(-1, self.B)
        return y[:, off:off + nb * self.K].reshape(-1, nb, self.K)

    def limiter_branch(self, xl: np.ndarray) -> list:
        """Active branch of the limited faces per species (local values ``xl``); the last
        one is cached (every Krylov iteration's Jacobian action asks for the same state)."""
        c = getattr(self, "_branch_cache", None)
        if c is not None and c[0].shape == xl.shape and np.array_equal(c[0], xl.real):
            return c[1]
        out = [lim.branch(self._species(xl.real, off, nb))
               for lim, off, nb, _ in self._limiters]
        self._branch_cache = (np.array(xl.real, copy=True), out)
        return out

    def _limited_rows(self, xl: np.ndarray, vl: np.ndarray | None = None) -> np.ndarray:
        """Face corrections at ``xl`` (owned rows), or their Jacobian action on ``vl``."""
        out = np.zeros((self.n, self.B), dtype=float if vl is None else vl.dtype)
        for (lim, off, nb, coef), br in zip(self._limiters, self.limiter_branch(xl),
                                            strict=True):
            v = None if vl is None else self._species(vl, off, nb)
            r = lim.rows(br, v) * coef[None]
            out[:, off:off + nb * self.K] = r.reshape(self.n, -1)
        return out.ravel()

    def streaming_matrix(self, xl: np.ndarray):
        """Jacobian of streaming + elastic scattering at ``xl`` (CSR, owned rows x local
        columns; the linear part for step/diamond), for direct Newton solves in tests."""
        rows, cols, vals = self._lin_coo
        r, c, v = [rows], [cols], [vals]
        for (lim, off, nb, coef), br in zip(self._limiters, self.limiter_branch(xl),
                                            strict=True):
            lr, lc = lim.coo(nb, self.B, off)
            r.append(lr)
            c.append(lc)
            v.append(lim.values(br, coef))
        shape = (self.n * self.B, self.nl * self.B)
        return coo_matrix((np.concatenate(v), (np.concatenate(r), np.concatenate(c))),
                          shape=shape).tocsr()

    # ---- collisions ---------------------------------------------------------------
    def _split(self, y: np.ndarray):
        """``f`` as (cells, K, N) and ``n`` as (cells, Kp, M) (bath: the bath, Kp = 1)."""
        c = y.shape[0]
        f = y[:, :self.nq].reshape(c, self.N, self.K).transpose(0, 2, 1)
        if self.Kp == 0:
            ph = np.broadcast_to(self.n_bath, (c, 1, self.M))
        else:
            ph = y[:, self.nq:].reshape(c, self.M, self.Kp).transpose(0, 2, 1)
        return f, ph

    def collision_terms(self, y: np.ndarray):
        """:class:`~fvqp.collisions.angular.AngularTerms` of the owned cells."""
        f, ph = self._split(y[:self.n])
        c = f.shape[0]
        rho = np.broadcast_to(self.spec.rho, (c, self.N))
        ados = np.broadcast_to(self.spec.ados, (c, self.N))
        return angular_terms(f, ph, rho, ados, self.ords.w, h=self.grid.h, m=self.grid.m,
                             qp_scale=self.qp_scale, c_ph=self.c_ph,
                             ph_weights=self.ords.w if self.Kp > 1 else None)

    def _linearisation(self, xl: np.ndarray):
        """``(f, n, rates, RatesLinearisation)`` of the owned cells at ``xl``; the last
        state's is cached (Newton asks for many actions at one iterate)."""
        y = np.asarray(xl[: self.n * self.B], dtype=float)
        c = getattr(self, "_lin_cache", None)
        if c is not None and np.array_equal(c[0], y):
            return c[1]
        f, ph = self._split(y.reshape(self.n, self.B))
        fbar = angle_average(f, self.ords.w)
        nbar = angle_average(ph, self.ords.w) if self.Kp > 1 else ph[:, 0]
        rho = np.broadcast_to(self.spec.rho, fbar.shape)
        ados = np.broadcast_to(self.spec.ados, fbar.shape)
        kw = {"h": self.grid.h, "m": self.grid.m, "qp_scale": self.qp_scale,
              "c_ph": self.c_ph}
        lin = (f, ph, angular_rates(fbar, nbar, rho, ados, **kw),
               RatesLinearisation(fbar, nbar, rho, ados, **kw))
        self._lin_cache = (y.copy(), lin)
        return lin

    def collision_jvp(self, xl: np.ndarray, vl: np.ndarray) -> np.ndarray:
        r"""``(d collision rows/d y) v`` of the owned rows at ``xl``, in real arithmetic:
        with :math:`I^{qp}_k = (1 - f_k)A - f_kB` and :math:`I^{ph}_k = (1 + n_k)G -
        n_kL` (:func:`fvqp.collisions.angular.angular_terms`; :math:`A, B, G, L` of the
        angle averages),

        .. math::
            \delta I^{qp}_k = -(A + B)\,\delta f_k + (1 - f_k)\,\delta A
                - f_k\,\delta B, \qquad
            \delta I^{ph}_k = (G - L)\,\delta n_k + (1 + n_k)\,\delta G
                - n_k\,\delta L,

        :math:`\delta A, \delta B, \delta G, \delta L` along the angle averages of
        :math:`\delta f, \delta n` from the cached
        :class:`fvqp.collisions.angular.RatesLinearisation` (real FFTs of the
        perturbation only; the bath's phonons are held). The complex step's numbers to
        round-off (``tests/test_bte_sphere_jvp.py``)."""
        f, ph, r, lin = self._linearisation(xl)
        v = np.asarray(vl[: self.n * self.B], dtype=float).reshape(self.n, self.B)
        df = v[:, : self.nq].reshape(self.n, self.N, self.K).transpose(0, 2, 1)
        dn = None
        if self.Kp:
            dn = v[:, self.nq:].reshape(self.n, self.M, self.Kp).transpose(0, 2, 1)
        dnbar = None if dn is None else (
            angle_average(dn, self.ords.w) if self.Kp > 1 else dn[:, 0])
        d_in, d_out, d_gain, d_loss = lin.derivative(angle_average(df, self.ords.w), dnbar)
        dqp = (-(r.qp_in + r.qp_out)[:, None, :] * df + (1.0 - f) * d_in[:, None, :]
               - f * d_out[:, None, :])
        dph = np.zeros((self.n, 1, self.M))
        if dn is not None:
            dph = ((r.ph_gain - r.ph_loss)[:, None, :] * dn + (1.0 + ph) * d_gain[:, None, :]
                   - ph * d_loss[:, None, :])
        return self._collision_rows(AngularTerms(dqp, dph, None, None)).ravel()

    def _collision_rows(self, t) -> np.ndarray:
        """Collision part of the balance rows of the owned cells, (n, B)."""
        n, g = self.n, self.grid
        out = np.zeros((n, self.B), dtype=t.qp.dtype)
        wv = self.weight * self.V[:n, None, None] * g.h
        q = wv * self.spec.rho[None, :, None] * self._wk[None, None, :] \
            * t.qp.transpose(0, 2, 1)
        out[:, :self.nq] = q.reshape(n, -1)
        if self.Kp:
            wp = self._wk if self.Kp > 1 else np.ones(1)
            p = wv * self.beta * (g.omega**2)[None, :, None] * wp[None, None, :] \
                * t.ph.transpose(0, 2, 1)
            out[:, self.nq:] = p.reshape(n, -1)
        return out

    # ---- the interface of fvqp.solvers.bdf -------------------------------------------
    def conserved(self, x_owned: np.ndarray) -> np.ndarray:
        return self._storage * x_owned

    def dconserved(self, x_owned: np.ndarray) -> np.ndarray:
        return self._storage

    def rhs(self, xl: np.ndarray, t0: float = 0.0, t1: float = 0.0) -> np.ndarray:
        """Net particles per unit time into every owned row."""
        if not np.all(np.isfinite(xl)):
            from ...solvers.nonlinear import DomainError
            raise DomainError("non-finite occupation")
        r = self.linear @ xl + self.const
        if self._limiters:
            r += self._limited_rows(xl)
        if self.collisions and self.n:
            y = xl.reshape(-1, self.B)
            r += self._collision_rows(self.collision_terms(y)).ravel()
        return r

    #: the collisions' Jacobian action: ``"exact"`` (product rule on the cached
    #: linearisation, :meth:`collision_jvp`) or ``"complex_step"`` (the reference)
    jvp_mode: str = "exact"

    def rhs_jvp(self, xl: np.ndarray, vl: np.ndarray, t0: float = 0.0, t1: float = 0.0
                ) -> np.ndarray:
        """Exact ``(d rhs/d y) v``: linear part directly, collisions by
        :meth:`collision_jvp` (or, ``jvp_mode = "complex_step"``, by a complex step
        through :meth:`collision_terms`)."""
        out = self.linear @ vl
        if self._limiters:
            out += self._limited_rows(xl, vl)
        if self.collisions and self.n:
            if self.jvp_mode == "complex_step":
                eps = 1e-30
                y = (xl + 1j * eps * vl).reshape(-1, self.B)
                out += (self._collision_rows(self.collision_terms(y)).imag / eps).ravel()
            else:
                out += self.collision_jvp(xl, vl)
        return out

    def rhs_jacobian(self, xl: np.ndarray, t0: float = 0.0, t1: float = 0.0) -> np.ndarray:
        """Preconditioning values on :attr:`pattern`: the linear part and the diagonal of
        the collision Jacobian (derivatives through the self occupations)."""
        return np.concatenate([self.jacobian_constant, self.rhs_jacobian_varying(xl)])

    @property
    def jacobian_constant(self) -> np.ndarray:
        """The leading values of :meth:`rhs_jacobian` that never change: the linear part
        (streaming of ``step``/``diamond``, elastic scattering, phonon escape)."""
        return self._lin_coo[2]

    def rhs_jacobian_varying(self, xl: np.ndarray) -> np.ndarray:
        """The values of :meth:`rhs_jacobian` after :attr:`jacobian_constant`: the
        collision diagonal (one per unknown) and the ``limited`` scheme's entries, which
        depend on the state."""
        diag = np.zeros((self.n, self.B))
        if self.collisions and self.n:
            g, n = self.grid, self.n
            r = self.collision_terms(xl.reshape(-1, self.B)).rates
            wv = self.weight * self.V[:n, None, None] * g.h
            dq = -(r.qp_in + r.qp_out)[:, :, None] * self.spec.rho[None, :, None]
            diag[:, :self.nq] = (wv * self._wk[None, None, :] * dq).reshape(n, -1)
            if self.Kp:
                wp = self._wk if self.Kp > 1 else np.ones(1)
                dp = (r.ph_gain - r.ph_loss)[:, :, None] * (g.omega**2)[None, :, None]
                diag[:, self.nq:] = (wv * self.beta * wp[None, None, :] * dp).reshape(n, -1)
        lim = [lim.values(br, coef) for (lim, _, _, coef), br
               in zip(self._limiters, self.limiter_branch(xl), strict=True)]
        return np.concatenate([diag.ravel()] + lim)

    def rates(self, xl: np.ndarray, t0: float = 0.0, t1: float = 0.0) -> dict[str, float]:
        """This rank's energy (``E:``) and QP number (``N:``) flows into the sphere:
        through ``r = R`` (QPs and phonons), from the phonon bath / escape, and
        (``N:pair``) net pair breaking minus recombination."""
        g, n = self.grid, self.n
        y = xl.reshape(-1, self.B)
        out = {}
        fq = self._boundary_flux(self.stencil_qp, y[:, :self.nq], self.N, self.f_bath)
        fq *= self.weight * g.h * self.v_f
        out["E:surface_qp"] = -float(fq @ g.e)
        out["N:surface_qp"] = -float(fq.sum())
        if self.phonons == "bte":
            fp = self._boundary_flux(self.stencil_ph, y[:, self.nq:], self.M, self.n_bath)
            fp *= self.weight * self.beta * g.h * g.omega**2 * self.c_s
            out["E:surface_ph"] = -float(fp @ g.omega)
        if self.phonons == "local" and math.isfinite(self.tau_esc):
            ph = y[:n, self.nq:]
            esc = -self.m_p.reshape(n, -1) * (ph - self.n_bath) / self.tau_esc
            out["E:escape"] = float(np.sum(esc @ g.omega))
        if self.collisions and n:
            t = self.collision_terms(y)
            wv = self.weight * self.V[:n, None, None] * g.h * self.spec.rho[None, :, None] \
                * self._wk[None, None, :]
            out["N:pair"] = float(np.sum(wv * t.qp_pair.transpose(0, 2, 1)))
            if self.phonons == "bath":
                q = wv * t.qp.transpose(0, 2, 1)
                out["E:phonon_bath"] = float(np.sum(q * g.e[None, :, None]))
        else:
            out["N:pair"] = 0.0
        return out

    def _boundary_flux(self, st, ylocal: np.ndarray, nbins: int, psi_b: np.ndarray
                       ) -> np.ndarray:
        """Net outward number flux through r = R per bin, per unit coefficient."""
        K = self.K
        psi = ylocal.reshape(-1, nbins, K)
        out = np.zeros(nbins)
        if len(st.out_rows):
            c, k = st.out_rows // K, st.out_rows % K
            out += np.sum((st.out_vals * self._wk[k])[:, None] * psi[c, :, k], axis=0)
        if len(st.in_rows):
            k = st.in_rows % K
            out += np.sum(st.in_vals * self._wk[k]) * psi_b
        return out

    def totals(self, x_owned: np.ndarray) -> dict[str, float]:
        """This rank's QP number, QP energy and phonon energy (internal units)."""
        g, n = self.grid, self.n
        y = x_owned.reshape(n, self.B)
        q = (self.m_q * y[:, :self.nq].reshape(n, self.N, self.K)).sum(axis=2)
        out = {"N_qp": float(q.sum()), "E_qp": float(np.sum(q @ g.e))}
        if self.Kp:
            p = (self.m_p * y[:, self.nq:].reshape(n, self.M, self.Kp)).sum(axis=2)
            out["E_ph"] = float(np.sum(p @ g.omega))
        else:
            out["E_ph"] = 0.0
        return out

    def equilibrium(self, t: float | None = None) -> np.ndarray:
        """Owned unknowns of isotropic thermal equilibrium (default: the bath)."""
        t = self.t_bath if t is None else t
        row = [np.repeat(fermi(self.grid.e, t), self.K)]
        if self.Kp:
            row.append(np.repeat(bose(self.grid.omega, t), self.Kp))
        return np.tile(np.concatenate(row), self.n)

    def angle_averaged(self, x_owned: np.ndarray):
        """``(fbar (n, N), nbar (n, M) or None)`` of owned values."""
        n = self.n
        y = x_owned.reshape(n, self.B)
        fb = self.ords.average(y[:, :self.nq].reshape(n, self.N, self.K))
        if self.Kp == 0:
            return fb, None
        p = y[:, self.nq:].reshape(n, self.M, self.Kp)
        return fb, (self.ords.average(p) if self.Kp > 1 else p[:, :, 0])

    def breakpoints(self) -> list[float]:
        return []

    def max_dt(self, t: float, checked: bool = True) -> float:
        return math.inf
