r"""Discrete-ordinates BTE with inelastic electron–phonon collisions: the coupled system.

With collisions the energy bins of :mod:`.problem` couple. Per direction :math:`k` the
collision term is the angle-resolved operator of :mod:`fvqp.collisions.angular`
(notes Eq. 179 with partner states angle-averaged; Eqs. 35–40 for the rates),

.. math::
    \partial_t(N_jf_{jk}) + \nabla\cdot(v_F\bar D_j\Omega_kf_{jk})
    = N_j\frac{v_j}{\ell}(\phi_j - f_{jk}) - N_j\Gamma(f_{jk} - f_{B,j}) + N_jq_j
      + \rho_j\big[(1 - f_{jk})A_j(\phi, n) - f_{jk}B_j(\phi, n)\big],

:math:`A = ` scattering in + pair breaking, :math:`B = ` scattering out + recombination,
evaluated at the angle averages :math:`\phi_j = \sum_kw_kf_{jk}` (the auxiliary unknown of
:mod:`.problem`, so that a row depends on its partners only through the :math:`N` values
:math:`\phi` of its cell) and the phonon occupation :math:`n`: the bath
(:math:`n = n_B(T_{bath})`) or isotropic local phonons per cell (``local``),

.. math::
    \partial_t(\beta\Omega_q^2n_q) = \beta\Omega_q^2\big[(1 + n_q)G_q(\phi)
        - n_qL_q(\phi)\big] - \beta\Omega_q^2\frac{n_q - n_B}{\tau_{esc}},

:math:`\beta = \text{qp\_scale}/2c_{ph}` (notes Eqs. 39–40, 9–10). Because every term is
linear in the self occupation, :math:`\sum_kw_kI_k = I_{iso}(\phi, n)` when
:math:`\phi = \bar f`: the angle-summed collisions are the isotropic operator, energy
:math:`\sum hN E\bar f + \beta\sum h\Omega^3 n` is conserved and the QP number changes only
by pair processes (:mod:`fvqp.collisions.angular`), here to the Newton tolerance.

Positivity. The partner occupations inside the sums are the physical parts :math:`\phi^+ =
\min(\max(\phi, 0), 1)`, :math:`n^+ = \max(n, 0)` (:func:`physical`): the identity on every
physical state, so the equations, their exact conservation and detailed balance are
unchanged there; the own occupations of the rows move with them (:math:`f + \phi^+ -
\phi`, :math:`n^+`: :meth:`InelasticProblem.own`), so that QP number and energy are kept
on every state, also where a BDF2 step undershoots below 0. The clipping makes every
rate :math:`A, B, G, L \ge 0` for *any* iterate, so a backward-Euler step is, at its
solution, the linear system :math:`[\partial C/\Delta t + L +
\mathrm{diag}(\rho(A + B))]f = \partial C f^{old}/\Delta t + \text{const} + \rho A` with an
M-matrix (upwind streaming, elastic scattering to :math:`\phi`, traps) and a non-negative
right-hand side: every root of a step from a non-negative state has non-negative QP
occupations. The phonon rows' self-coefficient is :math:`G - L`, positive for an inverted
QP distribution (stimulated emission outgrows absorption): their backward-Euler root
:math:`n = (n^{old} + \Delta t(G + n_B/\tau_{esc}))/(1 + \Delta t(L - G + 1/\tau_{esc}))`
is negative once the denominator is, and Newton finds it when the QPs are held inverted
(pumped by streaming: :math:`n = -7\times10^3` measured, ``tests/test_bte_positivity.py``).
:meth:`InelasticProblem.rhs` therefore refuses (:class:`~fvqp.solvers.DomainError`) every
state of a time step :math:`[t_0, t_1]` with :math:`1 + (t_1 - t_0)(L - G + 1/\tau_{esc})
\le 0` in a cell and phonon bin (for BDF2, whose :math:`\alpha_0 \ge 1`, the same test
keeps the denominator positive, but it is necessary, not sufficient: BDF2's history
:math:`2n^n - n^{n-1}/2` can itself be negative): the integrator retries the step
with a quarter of it (log line, ``failed_solves``) until the step resolves the phonon
growth rate :math:`G - L`; the refusals are counted in
``phonon_refusals``. Without it the equations are quadratic in the occupations (pair
processes, partner sums) and have non-physical roots with :math:`f < 0`; BDF's polynomial
predictor, extrapolating a decay that is fast on the step (the normal metal's relaxation at
the Fermi level, :math:`\Gamma\Delta t \gg 1`), started Newton at :math:`f < 0` and it
converged to such a root (occupations down to :math:`-36` while number and energy still
balanced; issue 16). The operator itself was right: at :math:`m = 0`, :math:`\Delta = 0` it
equals the direct double sum (``tests/test_bte_positivity.py``).

Unknowns per cell (:class:`~fvqp.parallel.blocked.BlockDistribution` with
:math:`S = N(K+1) + M_p` per cell): bin-major ``[f_{j0} .. f_{j,K-1}, phi_j]`` for every
bin ``j``, then the ``M_p`` local phonons (0 for the bath). The time scheme
(:class:`fvqp.solvers.bdf.BDFIntegrator`) and the steady state solve
:math:`\partial_tC(x) = R(x)` with Newton (PETSc SNES, exact Jacobian action: the linear
part plus a complex-step derivative of the collisions).

Preconditioner (:class:`InelasticPC`), per rank, from the structure of the Jacobian
:math:`J = \sigma\,\partial C + L + D + P`: :math:`L` transport + elastic scattering
(block diagonal in energy), :math:`D` the diagonal self-occupation part of the
collisions (:math:`\rho(A + B)` on every :math:`f_{jk}`), :math:`P` the partner part
(dense :math:`N\times N` per cell acting on :math:`\phi` only). Two-level, multiplicative:

1. :math:`z = M^{-1}r` with :math:`M = \sigma\partial C + L_{oo} + D` (owned rows and
   columns: block Jacobi across ranks) by one sparse LU — energies decoupled;
2. isotropic correction per cell: :math:`z \mathrel{+}= P_{iso}C_c^{-1}R(r - Jz)`,
   :math:`P_{iso}` setting every :math:`f_{jk}` and :math:`\phi_j` to :math:`\delta_j`,
   :math:`R` the angle sum :math:`\sum_kw_k` of the QP rows (phonon rows as they are),
   :math:`C_c = \sigma\,\mathrm{diag}(NV) + \mathrm{diag}(RL_{cc}P_{iso}) - \rho V
   \partial I_{iso}/\partial(\bar f, n)`: the dense 0D kinetic Jacobian of the cell
   (:func:`fvqp.collisions.batched.batched_jacobian`) plus the cell's own isotropic
   transport loss (outflow through its faces, absorbing walls, traps: the diagonal of
   the Galerkin coarse transport operator of :mod:`.coarse`), i.e. the cell block of
   :math:`RJP_{iso}` (the coupling to the neighbours' isotropic values left out);
3. :math:`z \mathrel{+}= M^{-1}(r - Jz)`.

The action :math:`Jz` in 2–3 is the owned-block one (streaming to ghost cells dropped).
The preconditioner lives in :mod:`.inelastic_pc` (with the transport-sweep variant of
step 1).
"""

from __future__ import annotations

import functools
import logging
import math

import numpy as np
import scipy.sparse as sp

from ...collisions.angular import angular_rates
from ...collisions.grid import bose
from ...parallel.blocked import BlockDistribution
from ...solvers.linear import COMPACT_FGMRES_RESTART
from .collision_action import Linearisation
from .inelastic_pc import InelasticPC

__all__ = ["COUPLED_PETSC", "SWEEP_KRYLOV", "InelasticPC", "InelasticProblem", "physical"]

log = logging.getLogger("fvqp.bte")

#: Newton with the exact Jacobian action and the model preconditioner (PETSc ``python``
#: PC); options under the case prefix, the command line wins
COUPLED_PETSC = {"snes_type": "newtonls", "snes_linesearch_type": "bt", "snes_rtol": 1e-10,
                 "snes_stol": 1e-14, "snes_max_it": 40, "ksp_type": "gmres",
                 "ksp_rtol": 1e-10, "ksp_atol": 1e-300, "ksp_max_it": 400,
                 "ksp_gmres_restart": 100}
#: ... with the transport sweeps (``fine_pc = "sweep"``): the global coarse level is solved
#: inexactly (:data:`.inelastic_pc.INEXACT_COARSE`), a variable preconditioner, so the
#: Krylov method is FGMRES, restarted after
#: :data:`~fvqp.solvers.linear.COMPACT_FGMRES_RESTART` iterations: 16 state-sized vectors
#: instead of 36 past the 6th iteration (5-7 Krylov per Newton; the same counts)
SWEEP_KRYLOV = {"ksp_type": "fgmres", "ksp_gmres_restart": COMPACT_FGMRES_RESTART}

_EPS = 1e-30  # complex step


def physical(x: np.ndarray, upper: float | None = None) -> np.ndarray:
    """``x`` clipped to ``[0, upper]`` by its real part, the identity (complex step
    included) inside: the partner occupations of the collision sums."""
    out = np.where(x.real < 0.0, 0.0, x)
    return out if upper is None else np.where(out.real > upper, upper, out)


class InelasticProblem:
    """The coupled (cell, energy, ordinate[, phonon]) system of one rank.

    Parameters
    ----------
    base : BTEProblem
        Transport, elastic scattering, traps, walls and sources (its per-bin operators
        are reused; its own KSPs are not).
    rho, ados : ndarray, shape (N,) or (n_owned, N)
        Collision DOS and coherence weight per bin (BCS bin averages, or Eliashberg), the
        same in every cell or per owned cell (regions of different media: each cell's
        own gap, 0 in a normal metal).
    qp_scale, c_ph : float or ndarray, shape (n_owned,)
        Collision prefactors (:mod:`fvqp.collisions.batched`), per cell for several
        materials (each region's :math:`\\tau_0`, :math:`T_c`, :math:`\\tau_0^\\phi`).
    rel_weight : ndarray, shape (n_owned,), optional
        :math:`w_s/w_0` of the cell's medium (rows are written in particles of the
        reference weight, :class:`~fvqp.models.bte.media.Media`); default 1.
    t_bath : float
    phonons : {"bath", "local"}
    tau_esc : float
        Escape time of local phonons to the bath (``inf``: none).
    """

    matrix_free = True
    block_size = 1

    def __init__(self, base, rho, ados, *, qp_scale, c_ph, t_bath: float,
                 phonons: str = "bath", tau_esc: float = math.inf, rel_weight=None):
        if phonons not in ("bath", "local"):
            raise ValueError(f"phonons must be 'bath' or 'local', not {phonons!r}")
        if getattr(base, "cell_gap", None) is not None:
            raise ValueError("collisions with a gap per cell (cell_gap) are not implemented: "
                             "the collision DOS is per region (docs/theory_bte_mesh.md)")
        b = self.base = base
        self.N, self.K, self.B, self.n = b.N, b.K, b.B, b.n
        self.nl = b.loc.n_local
        g = self.grid = b.grid
        self.M = g.n_ph
        self.Mp = self.M if phonons == "local" else 0
        self.S = self.N * self.B + self.Mp
        self.nq = self.N * self.B
        self.phonons, self.tau_esc = phonons, tau_esc
        self.dist = BlockDistribution(b.dist, self.S)
        shape = (self.n, self.N)
        self.cdos, self.cados = np.asarray(rho, float), np.asarray(ados, float)
        #: per owned cell (n, N): the collision DOS and coherence weight of every cell
        self.rho2 = np.ascontiguousarray(np.broadcast_to(self.cdos, shape))
        self.ados2 = np.ascontiguousarray(np.broadcast_to(self.cados, shape))
        self.qp_scale, self.c_ph = qp_scale, c_ph
        #: phonon row weight per cell, :math:`\beta = \text{qp\_scale}/2c_{ph}`
        self.beta = np.asarray(qp_scale, float) / (2.0 * np.asarray(c_ph, float))
        rel = np.ones(self.n) if rel_weight is None else np.asarray(rel_weight, float)
        #: collision row weight :math:`(w_s/w_0)\rho_{s,j}` (n, N) and phonon storage
        #: factor :math:`(w_s/w_0)\beta_s` (n,)
        self.crow = rel[:, None] * self.rho2
        self.pweight = rel * np.broadcast_to(self.beta, (self.n,))
        self.rho_cells = np.ascontiguousarray(base.cell_storage())
        self.f_bath, self.n_bath = b.f_bath, bose(g.omega, t_bath)
        self.w = b.quad.weights
        self.V = b.vol
        self._build()
        self.preconditioner = InelasticPC(self)

    @property
    def pattern(self) -> tuple[np.ndarray, np.ndarray]:
        """The diagonal pattern of an assembled Jacobian (the matrix-free runs never ask:
        made on demand, not two index arrays of the state's length kept per problem)."""
        n = self.n * self.S
        return np.arange(n), np.arange(n)

    def release(self) -> None:
        """Free the preconditioner's PETSc objects and factorisations and break the
        problem <-> preconditioner reference cycle, so that a problem replaced (the
        per-cell gap runs rebuild one per gap update) is freed at once, not at Python's
        next full garbage collection (which large arrays do not trigger: the small
        absorber run grew by ~115 MB per step)."""
        pc, self.preconditioner = self.preconditioner, None
        if pc is not None:
            pc.destroy()

    # ---- assembly -----------------------------------------------------------------------
    def _build(self) -> None:
        b, n, S, B, N = self.base, self.n, self.S, self.B, self.N
        rows, cols, vals = [], [], []
        const = np.zeros((n, S))
        store = np.zeros((n, S))
        for j in range(N):
            m = b.local_matrix(j, 0.0).tocoo()
            rows.append((m.row // B) * S + j * B + m.row % B)
            cols.append((m.col // B) * S + j * B + m.col % B)
            vals.append(m.data)
            const[:, j * B:(j + 1) * B] = b.rhs(j).reshape(n, B)
            store[:, j * B:j * B + self.K] = (self.rho_cells[:, j] * self.V)[:, None]
        if self.Mp:
            pw = self.pweight[:, None] * self.grid.omega[None, :] ** 2
            store[:, self.nq:] = self.V[:, None] * pw
            if math.isfinite(self.tau_esc):
                idx = (np.arange(n)[:, None] * S + self.nq + np.arange(self.M)).ravel()
                rows.append(idx)
                cols.append(idx)
                vals.append(store[:, self.nq:].ravel() / self.tau_esc)
                const[:, self.nq:] += store[:, self.nq:] * self.n_bath / self.tau_esc
        # every owned row's diagonal in the pattern (an explicit zero where L has none:
        # the phonon rows without escape): the preconditioner's sweep adds its diagonal
        # in the factor's own copy instead of forming L + diag as another matrix
        own = np.arange(n * S)
        rows.append(own)
        cols.append(own)
        vals.append(np.zeros(n * S))
        self.L = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                       np.concatenate(cols))),
                               shape=(n * S, self.nl * S))
        if self.L.data.base is not None:
            # the COO -> CSR conversion leaves the values and indices as views of buffers
            # sized for the entries before their duplicates were summed (+12 % on the
            # absorber): kept compact, the largest array of the problem
            self.L.data, self.L.indices = self.L.data.copy(), self.L.indices.copy()
        self.const, self.storage = const.ravel(), store.ravel()
        # isotropic self-coupling of every cell and bin: R L_own P (own-cell columns of L:
        # outflow through interior faces and absorbing walls, trap loss; reflections and
        # elastic scattering cancel), the diagonal of the Galerkin transport coarse operator
        coo = self.L.tocoo()
        own = (coo.row // S) == (coo.col // S)
        lown = sp.csr_matrix((coo.data[own], (coo.row[own], coo.col[own])),
                             shape=(n * S, n * S))
        del coo, own
        ones = np.zeros((n, S))
        ones[:, : self.nq] = 1.0
        t = (lown @ ones.ravel()).reshape(n, S)[:, : self.nq].reshape(n, N, B)
        self.iso_self = t[:, :, : self.K] @ b.quad.weights

    @functools.cached_property
    def L_oo(self) -> sp.csr_matrix:
        """The owned columns of :attr:`L` (CSR): ``L`` itself on one rank (no ghost
        cells), else a copy made at first use -- only the sparse LU and the per-cell
        coarse level ask; the sweeps and the global coarse level use ``L`` (the largest
        array of the problem, not kept twice)."""
        ns = self.n * self.S
        return self.L if self.nl == self.n else self.L[:, :ns]

    # ---- pieces -------------------------------------------------------------------------
    def split(self, y: np.ndarray):
        """``(f (n, N, K), phi (n, N), nbar (n, M))`` of owned rows ``y`` (n, S)."""
        q = y[:, : self.nq].reshape(-1, self.N, self.B)
        nb = y[:, self.nq:] if self.Mp else np.broadcast_to(self.n_bath, (len(y), self.M))
        return q[:, :, : self.K], q[:, :, self.K], nb

    def partners(self, y: np.ndarray):
        r"""Partner occupations of the collision sums of owned rows ``y``: the angle
        averages :math:`\phi` clipped to :math:`[0, 1]` and the phonons to
        :math:`n \ge 0` (:func:`physical`; the identity on every physical state)."""
        _, phi, nb = self.split(y)
        return physical(phi, 1.0), physical(nb)

    def collision_rates(self, y: np.ndarray):
        r""":class:`~fvqp.collisions.angular.AngularRates` at the (physical) angle
        averages: every rate is :math:`\ge 0` (module docstring, "Positivity")."""
        phi, nb = self.partners(y)
        return angular_rates(phi, nb, self.rho2, self.ados2, h=self.grid.h,
                             m=self.grid.m, qp_scale=self.qp_scale, c_ph=self.c_ph)

    def collision_rows(self, y: np.ndarray, r=None) -> np.ndarray:
        """Collision part of the owned rows, (n, S): :math:`\\rho_jV I_{jk}` and
        :math:`\\beta\\Omega^2V I^{ph}`, with the own occupations of :meth:`own`."""
        r = self.collision_rates(y) if r is None else r
        f, nb = self.own(y)
        out = np.zeros(y.shape, dtype=np.result_type(y, float))
        iq = (1.0 - f) * r.qp_in[:, :, None] - f * r.qp_out[:, :, None]
        q = out[:, : self.nq].reshape(-1, self.N, self.B)
        q[:, :, : self.K] = (self.V[:, None] * self.crow)[:, :, None] * iq
        if self.Mp:
            iph = (1.0 + nb) * r.ph_gain - nb * r.ph_loss
            out[:, self.nq:] = self.storage.reshape(-1, self.S)[:, self.nq:] * iph
        return out

    def own(self, y: np.ndarray) -> tuple:
        r"""The own occupations of the collision rows of ``y`` (n, S), consistent with the
        clipped partners (:meth:`partners`): :math:`f'_{jk} = f_{jk} + \phi^+_j -
        \phi_j` and :math:`n^+`. The identity on every physical state. Where a partner is
        clipped (a BDF2 step undershoots a nearly empty bin below 0: its history
        :math:`2f^n - f^{n-1}/2` is not positivity-preserving), the own occupation is
        shifted with it, so that the angle average of the QP rows' own occupation is the
        partners' :math:`\phi^+` (to the constraint :math:`\phi = \bar f`) and the
        collision sums keep QP number and energy: with the own :math:`f` unclipped they
        did not (the bte absorber, 20 BDF2 steps of 5 ns: 3.8e4 of 6.1e6 QPs created,
        none with backward Euler; 100 ns adaptive: 250 QPs)."""
        f, phi, nb = self.split(y)
        pphi, pnb = self.partners(y)
        if np.all((phi.real >= 0.0) & (phi.real <= 1.0)):   # nothing clipped: f itself
            return f, pnb
        return f + (pphi - phi)[:, :, None], pnb

    def source_rows(self, t0: float, t1: float) -> np.ndarray:
        b = self.base
        out = np.zeros((self.n, self.S))
        if b.sources:
            s = b.source_rates(t0, t1) / (b.weight * self.grid.h)
            q = out[:, : self.nq].reshape(-1, self.N, self.B)
            q[:, :, : self.K] = s[:, :, None]
        return out

    def explicit_source(self, t0: float, t1: float) -> tuple[np.ndarray, dict]:
        """The state-independent part of :meth:`rhs` (the QP sources' step-averaged rows)
        and its share of :meth:`rates` (``N:sources``, ``E:sources``), for
        :class:`fvqp.solvers.bdf.BDFIntegrator`'s exact source integration."""
        b = self.base
        if not b.sources:
            return np.zeros(self.n * self.S), {}
        s = b.source_rates(t0, t1).sum(axis=0)
        return self.source_rows(t0, t1).ravel(), {"N:sources": float(s.sum()),
                                                   "E:sources": float(s @ self.grid.e)}

    # ---- the interface of fvqp.solvers.bdf ------------------------------------------------
    def conserved(self, x_owned: np.ndarray) -> np.ndarray:
        return self.storage * x_owned

    def dconserved(self, x_owned: np.ndarray) -> np.ndarray:
        return self.storage

    def rhs(self, xl: np.ndarray, t0: float = 0.0, t1: float = 0.0) -> np.ndarray:
        """Net particles per unit time into every owned row (ordinate rows per unit
        ordinate weight; the phi rows are the constraint :math:`-s(\\phi - \\bar f)`)."""
        if not np.all(np.isfinite(xl)):
            from ...solvers.nonlinear import DomainError
            raise DomainError("non-finite occupation")
        y = xl[: self.n * self.S].reshape(self.n, self.S)
        rates = self.rates_at(y)
        if self.Mp and 0.0 < t1 - t0 < math.inf:
            self._check_phonon_step(rates, t1 - t0)
        r = self.const - self.L @ xl + self.source_rows(t0, t1).ravel()
        return r + self.collision_rows(y, rates).ravel()

    #: states refused because a phonon row's step coefficient was <= 0 (module docstring)
    phonon_refusals, _refused_dt = 0, 0.0

    def _check_phonon_step(self, r, dt: float) -> None:
        r"""Refuse a state where :math:`1 + \Delta t(L - G + 1/\tau_{esc}) \le 0` (the
        backward-Euler phonon root would be negative: module docstring, "Positivity")."""
        coef = 1.0 + dt * (r.ph_loss - r.ph_gain + 1.0 / self.tau_esc)
        worst = float(np.min(coef)) if coef.size else 1.0
        if worst > 0.0:
            return
        from ...solvers.nonlinear import DomainError
        if dt != self._refused_dt:
            log.info("phonon rows: 1 + dt (L - G) = %.3g <= 0 at dt = %.4g (internal): step "
                     "refused, retried shorter ([time] dt_initial smaller avoids it)", worst, dt)
        self.phonon_refusals += 1
        self._refused_dt = dt
        raise DomainError(f"phonon step coefficient 1 + dt (L - G) = {worst:.3g} <= 0: "
                          "a smaller time step")

    def rhs_jvp(self, xl: np.ndarray, vl: np.ndarray, t0: float = 0.0, t1: float = 0.0
                ) -> np.ndarray:
        """Exact :math:`(\\partial R/\\partial x)v`: linear part plus the collisions'
        action (:meth:`collision_jvp`)."""
        ns = self.n * self.S
        return -(self.L @ vl) + self.collision_jvp(xl[:ns], vl[:ns])

    #: how :meth:`collision_jvp` differentiates: ``"linear"`` (the product rule in real
    #: arithmetic at a cached linearisation, :class:`Linearisation`) or
    #: ``"complex_step"`` (through :meth:`collision_rows`, the reference)
    jvp_mode = "linear"

    def collision_jvp(self, x_owned: np.ndarray, v_owned: np.ndarray) -> np.ndarray:
        """Exact derivative of :meth:`collision_rows` at ``x_owned`` along ``v_owned``."""
        if self.jvp_mode == "complex_step":
            y = (x_owned + 1j * _EPS * v_owned).reshape(self.n, self.S)
            return (self.collision_rows(y).imag / _EPS).ravel()
        return self.linearisation(x_owned).action(v_owned)

    # ---- one linearisation point, reused (Newton: a residual, then its Krylov actions) ----
    _lin = None

    def _cached(self, y: np.ndarray) -> Linearisation:
        """The :class:`Linearisation` record of the real state ``y`` (n, S): reused while
        the state is the same (compared by value), replaced otherwise."""
        lin = self._lin
        if lin is None or not np.array_equal(lin.y, y):
            lin = self._lin = Linearisation(self, y)
        return lin

    def rates_at(self, y: np.ndarray):
        """:meth:`collision_rates` of a real state, computed once per state (the residual,
        the preconditioner's update and the actions at one Newton iterate share them)."""
        if np.iscomplexobj(y):
            return self.collision_rates(y)
        return self._cached(y).rates

    def linearisation(self, x_owned: np.ndarray) -> Linearisation:
        """The collision rows linearised at the owned state ``x_owned`` (cached)."""
        lin = self._cached(np.asarray(x_owned).reshape(self.n, self.S))
        lin.prepare()
        return lin

    def rhs_jacobian(self, xl, t0=0.0, t1=0.0):  # pragma: no cover - model PC path only
        return np.zeros(self.n * self.S)

    #: adaptive steps: land on the source switch/pulse windows and resolve the pulses
    #: (set by :mod:`.coupled`; fixed steps keep their uniform grid)
    follow_sources = False

    def _profiles(self) -> list:
        if not self.follow_sources:
            return []
        return [s.profile for s in self.base.sources if s.profile is not None]

    def max_dt(self, t: float, checked: bool = True) -> float:
        return min([p.max_dt(t, checked) for p in self._profiles()], default=math.inf)

    def breakpoints(self) -> list:
        return sorted({b for p in self._profiles() for b in p.breakpoints()})

    def equilibrium(self, t_f: np.ndarray | None = None, n: np.ndarray | None = None
                    ) -> np.ndarray:
        """Owned unknowns of an isotropic state with QP occupation ``t_f`` (N,) and phonon
        occupation ``n`` (M,) (defaults: the bath)."""
        f = self.f_bath if t_f is None else np.asarray(t_f, float)
        nn = self.n_bath if n is None else np.asarray(n, float)
        row = np.concatenate([np.repeat(f, self.B), nn[: self.Mp]])
        return np.tile(row, self.n)

    def pinned(self, x_owned: np.ndarray) -> np.ndarray:
        """``x_owned`` with the unknowns of the bins without states in a cell (below its
        gap, :attr:`.problem.BTEProblem.dead`) at the bath occupation the system pins
        them to — a remapped state has 0 there — so that comparing states (the adaptive
        steps' error estimate) sees states only. A copy; storage and balances are
        unchanged (those bins store nothing)."""
        dead = getattr(self.base, "dead", None)
        y = np.array(x_owned, dtype=float).reshape(self.n, self.S)
        if dead is None or not dead.any():
            return y.ravel()
        q = y[:, : self.nq].reshape(self.n, self.N, self.B)
        q[dead.T] = np.broadcast_to(self.f_bath, (self.n, self.N))[dead.T][:, None]
        return y.ravel()

    def per_bin(self, x_owned: np.ndarray) -> np.ndarray:
        """QP unknowns in the per-bin layout of :mod:`.problem`, (N, n_owned (K+1))."""
        q = x_owned.reshape(self.n, self.S)[:, : self.nq].reshape(self.n, self.N, self.B)
        return np.ascontiguousarray(q.transpose(1, 0, 2)).reshape(self.N, -1)

    def phonons_of(self, x_owned: np.ndarray) -> np.ndarray:
        """Phonon occupation (n_owned, M) (the bath for ``phonons = "bath"``)."""
        y = x_owned.reshape(self.n, self.S)
        return self.split(y)[2]

    # ---- balances (this rank's partial sums, internal units) -------------------------------
    def totals(self, x_owned: np.ndarray) -> dict:
        """QP number/energy and phonon number/energy (local phonons) of the owned cells."""
        b, g = self.base, self.grid
        c = b.weight * g.h
        f, _, nb = self.split(x_owned.reshape(self.n, self.S))
        fbar = f @ self.w
        q = c * (self.V[:, None] * self.rho_cells * fbar).sum(axis=0)
        out = {"N_qp": float(q.sum()), "E_qp": float(q @ g.e), "N_ph": 0.0, "E_ph": 0.0}
        if self.Mp:
            p = c * ((self.V * self.pweight)[:, None] * nb).sum(axis=0) * g.omega**2
            out.update(N_ph=float(p.sum()), E_ph=float(p @ g.omega))
        return out

    _balance_weights: dict | None = None

    def balance_weights(self) -> dict:
        r"""Row weights of the QP number (``"N:"``) and energy (``"E:"``) balances
        (:mod:`fvqp.models.base.problem`): with the storage :math:`\rho_jV` of an
        ordinate row, :math:`c\,w_k` and :math:`c\,w_ke_j` (:math:`c` the particle
        unit :math:`w h`), 0 on the angle-average rows; a local phonon row (storage
        :math:`Vp\Omega_q^2`) :math:`c\,\Omega_q` in the energy — so
        :math:`l^TC(x)` is :meth:`totals`' ``N_qp`` and ``E_qp + E_ph``. Made once per
        problem (two state-length arrays; asked after every Newton solve)."""
        if self._balance_weights is not None:
            return self._balance_weights
        g, c = self.grid, self.base.weight * self.grid.h
        row = np.zeros((self.N, self.B))
        row[:, : self.K] = c * self.w
        num = np.concatenate([row.ravel(), np.zeros(self.Mp)])
        en = np.concatenate([(row * g.e[:, None]).ravel(), c * g.omega[: self.Mp]])
        self._balance_weights = {"N:": np.tile(num, self.n), "E:": np.tile(en, self.n)}
        return self._balance_weights

    def balance_directions(self, x_owned: np.ndarray) -> dict:
        r"""Directions that move the balances (:meth:`balance_weights`): the QP rows
        (ordinates and angle averages, so the constraint :math:`\phi = \bar f` is
        only scaled) for the number; the local phonon rows for the energy, or without
        them the QP rows weighted by :math:`e_j/e_{N-1}`."""
        y = np.asarray(x_owned, float).reshape(self.n, self.S)
        vn = np.zeros_like(y)
        vn[:, : self.nq] = y[:, : self.nq]
        ve = np.zeros_like(y)
        if self.Mp:
            ve[:, self.nq:] = y[:, self.nq:]
        else:
            e = np.repeat(self.grid.e / self.grid.e[-1], self.B)
            ve[:, : self.nq] = y[:, : self.nq] * e
        return {"N:": vn.ravel(), "E:": ve.ravel()}

    def rates(self, xl: np.ndarray, t0: float = 0.0, t1: float = 0.0) -> dict:
        """This rank's flows *into* the system per time unit: QP number (``N:``) and energy
        (``E:``) through every non-reflecting boundary group, from traps, sources, the
        phonon bath (bath mode) or escape (local mode), ``N:pair`` (pair breaking
        minus recombination) and ``P:pair``, the phonon number change by pair processes
        (:math:`-\tfrac12` ``N:pair``; phonon numbers are not QP flows)."""
        b, g, n = self.base, self.grid, self.n
        c = b.weight * g.h
        y = xl[: n * self.S].reshape(n, self.S)
        xb = self.per_bin(xl[: n * self.S])
        out = {}
        vx = np.repeat(b.cell_speed().T, self.B, axis=1)   # (N, n B)
        for name in sorted(b.stream.outflow):
            if name not in b.stream.influx:
                continue  # reflecting: zero net flux by construction
            o = (xb * vx) @ b.stream.outflow[name]
            o -= b.f_in[name] * (vx @ b.stream.influx[name])
            out[f"N:boundary:{name}"] = -c * float(o.sum())
            out[f"E:boundary:{name}"] = -c * float(o @ g.e)
        f, _, nb = self.split(y)
        fbar = f @ self.w
        trap = c * ((self.V * b.gam)[:, None] * self.rho_cells * (fbar - b.f_bath)).sum(0)
        out["N:traps"], out["E:traps"] = -float(trap.sum()), -float(trap @ g.e)
        s = b.source_rates(t0, t1).sum(axis=0) if b.sources else np.zeros(self.N)
        out["N:sources"], out["E:sources"] = float(s.sum()), float(s @ g.e)
        r = self.collision_rates(y)
        f, nplus = self.own(y)           # the collision rows' own occupations
        fbar = f @ self.w
        vr = c * self.V[:, None] * self.crow
        pair = (1.0 - fbar) * r.qp_pair_in - fbar * r.qp_pair_out
        out["N:pair"] = float(np.sum(vr * pair))
        pw = c * (self.pweight * self.V)[:, None] * g.omega[None, :] ** 2
        out["P:pair"] = float(np.sum(pw * ((1.0 + nplus) * r.ph_pair_gain
                                           - nplus * r.ph_pair_loss)))
        if self.Mp == 0:
            iq = (1.0 - fbar) * r.qp_in - fbar * r.qp_out
            out["E:phonon_bath"] = float(np.sum(vr * iq * g.e))
        elif math.isfinite(self.tau_esc):
            esc = c * ((self.pweight * self.V)[:, None] * (nb - self.n_bath)).sum(0) \
                * g.omega**2 / self.tau_esc
            out["E:escape"] = -float(esc @ g.omega)
        return out

