r"""The QPs of the chip's films, as the chain sees them: ``bte`` or diffusive ``transport``.

The chain (:mod:`.coupling`) needs of the film QPs only what Eq. 40 couples: a
backward-Euler problem whose unknowns per cell end with the :math:`M` local phonon
occupations on the collision layer's nodes :math:`\Omega_q = (q+1)h`, the rates
:math:`G, L` with which the QPs emit and absorb them,
:math:`S^{ph}_q = (1 + n_q)G_q - n_qL_q`, the phonon states per volume and energy
:math:`g_f = w\beta\Omega^2` (:math:`w = 4N_0/N_{0,ref}`,
:math:`\beta = \text{qp\_scale}/2c_{ph}`: a film cell's phonon energy is one number in
both models), and the balances (QP energy and number). Two films:

* :class:`BteFilms`: the ``bte`` collision layer (:class:`fvqp.models.bte.inelastic.
  InelasticProblem`, ``phonons = "local"``, no escape): ballistic/elastic QPs in
  discrete ordinates, their rates at the angle averages.
* :class:`TransportFilms`: the diffusive ``transport`` model
  (:class:`fvqp.models.transport.problem.TransportProblem`, no escape time, every film
  face insulating): per cell :math:`f_i` and :math:`n_q` (notes Eqs. 35–40, the batched
  FFT operator), spectral diffusion between the film's cells. Its phonon rows
  :math:`m^n_q\,[S^{ph}_q - (n_q - n_B)/\tau_l]` lose the escape term: the chain replaces
  it by the transported phonons of the cell (``docs/theory_phonon.md``, the chip chain).

Both models' film phonon rows are :math:`V\,h\,g_f\,\partial_tn = V\,h\,g_f\,S^{ph}`, and
their rates come from the same discrete operator (:func:`fvqp.collisions.angular.
angular_rates`), so the chain's step (:class:`.coupling.ChipChain`) is written once.
"""

from __future__ import annotations

import numpy as np

from ...collisions.angular import angular_rates
from ...solvers import JacobianConfig
from ...solvers.lagged import LAG_DEFAULTS, LaggedPreconditioner
from ...solvers.linear import option_value

__all__ = ["BteFilms", "TransportFilms"]


class _Films:
    """What both films share: layout, balances by region, the particle unit."""

    #: the problem (``fvqp.models.base.Problem``) of the films' BE steps
    problem = None
    #: its :class:`~fvqp.solvers.JacobianConfig`
    jacobian: JacobianConfig

    def __init__(self, sim, problem, nq: int, S: int):
        self.sim, self.problem = sim, problem
        #: owned cells, unknowns per cell, offset of the local phonons in a cell's block
        self.n, self.S, self.nq = problem.n, S, nq
        self.N, self.M, self.grid = problem.N, problem.M, problem.grid
        self.dist = problem.dist
        u = sim.units
        #: one internal particle number in particles
        self.n_unit = u.scales["number_density"] * u.length**3

    def phonons(self, xq: np.ndarray) -> np.ndarray:
        """The local phonons (n, M) of owned unknowns ``xq`` (a view)."""
        return xq.reshape(self.n, self.S)[:, self.nq:]

    def number_by_region(self, xq: np.ndarray, regions: list[str]) -> np.ndarray:
        """QP number (global, internal units) of every region named in ``regions`` (the
        chip's region order; 0 outside the films)."""
        per_cell, reg = self.cell_numbers(xq)
        names = self.sim.geometry.region_names
        own = np.bincount(reg, weights=per_cell, minlength=len(names))
        out = [own[names.index(r)] if r in names else 0.0 for r in regions]
        return np.array([self.dist.sum(v) for v in out])

    def cell_numbers(self, xq):  # pragma: no cover - defined by the subclasses
        raise NotImplementedError

    def new_step(self) -> None:
        """A chain step begins (the films' solvers may reset what they keep)."""


class BteFilms(_Films):
    """Films of ``bte`` QPs (:class:`~fvqp.models.bte.inelastic.InelasticProblem` with
    local phonons and no escape) and their simulation ``qsim``.

    The Newton preconditioner (:class:`~fvqp.models.bte.inelastic_pc.InelasticPC`: a
    sparse LU of the energy-diagonal QP system and the cells' 0D kinetic blocks) is
    lagged (:class:`fvqp.solvers.lagged.LaggedPreconditioner`): kept across
    Newton iterations, coupled iterations and steps, rebuilt when the last linear solve
    took more than ``growth`` x (the first solve after the build) + 2 Krylov iterations
    (default 2), when the step's shift :math:`\\alpha_0/\\Delta t` left a factor
    ``shift_factor`` (default 2) of the build's — a step cut to a quarter after a
    failed Newton solve, not the 1.5 between the first backward-Euler step and BDF2 —
    or after ``max_age`` (40) linear solves. The Krylov operator stays the exact
    Jacobian action, so the lag changes Krylov counts, not the Newton iterates (to the
    Krylov tolerance). It is rebuilt at the first Newton iteration of every step
    (:meth:`new_step`): a run resumed from a checkpoint then takes the uninterrupted
    run's linear solves (a build kept across steps left 4e-12 between them).
    Command-line options ``-<prefix>pc_lag 0`` (rebuild at every
    Newton iteration, as before), ``-<prefix>pc_lag_growth``,
    ``-<prefix>pc_lag_shift_factor``, ``-<prefix>pc_lag_max_age``; ``prefix`` is the QP
    Newton's (``chip_qp_``)."""

    def __init__(self, qsim, qp, prefix: str = "chip_qp_"):
        super().__init__(qsim, qp, qp.nq, qp.S)
        rule = {k: option_value(f"{prefix}pc_lag_{k}", v) for k, v in LAG_DEFAULTS.items()}
        pc = LaggedPreconditioner(qp.preconditioner,
                                  lag=option_value(f"{prefix}pc_lag", True), **rule)
        self.jacobian = JacobianConfig("matrix_free", 1, pc)
        self._labs = None     # |L| of the streaming operator, built on first use

    def new_step(self) -> None:
        """A chain step begins: the lagged preconditioner is rebuilt at its first Newton
        iteration (class docstring), recorded as ``"step"``."""
        self.jacobian.preconditioner.invalidate("step")

    def rates(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""``(L, G)`` (n, M) of Eq. 40 at the (physical) angle averages of ``xq``."""
        r = self.problem.collision_rates(xq.reshape(self.n, self.S))
        return r.ph_loss, r.ph_gain

    def roundoff_terms(self, y: np.ndarray) -> list[float]:
        r"""This rank's :math:`\|\,|L||x|\,\|^2` and :math:`\|\rho V(A + B)\|^2`: the sizes
        of the terms that cancel in a QP row (streaming across 100 nm film cells, in- and
        out-scattering), for the Newton tolerance (:meth:`.coupling.ChipChain.
        _atol_factor`)."""
        qp = self.problem
        if self._labs is None:
            self._labs = abs(qp.L)
        r = qp.collision_rates(y.reshape(qp.n, qp.S))
        return [float(np.sum((self._labs @ np.abs(qp.dist.ghosted(y))) ** 2)),
                float(np.sum((qp.V[:, None] * qp.crow * (r.qp_in + r.qp_out)) ** 2))]

    def cell_numbers(self, xq: np.ndarray):
        qp = self.problem
        f, _, _ = qp.split(xq.reshape(qp.n, qp.S))
        c = qp.base.weight * qp.grid.h
        per_cell = c * (qp.V[:, None] * qp.rho_cells * (f @ qp.w)).sum(axis=1)
        return per_cell, qp.base.loc.cell_region[: qp.n]

    def states(self, film: str) -> np.ndarray:
        r""":math:`g_f(\Omega_q) = w\,p_f\,\Omega_q^2` of a film region, :math:`p_f`
        the collision layer's phonon weight :math:`(w_s/w_0)\beta` of its cells."""
        qp, qs = self.problem, self.sim
        reg = qs.dist.local.cell_region[: qp.n]
        own = qp.pweight[reg == qs.geometry.region_names.index(film)]
        p = qs.dist.max(float(own.max()) if own.size else -np.inf)
        return qs.weight * p * qp.grid.omega**2

    def equilibrium(self, f: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Owned unknowns of isotropic QPs ``f`` (N,) and phonons ``n`` (M,)."""
        return self.problem.equilibrium(f, n)

    def fields(self, xq: np.ndarray, names) -> dict:
        """SI QP fields of the owned film cells."""
        return self.sim.fields(self.problem.per_bin(xq), names)

    def materials(self) -> dict:
        """Film region -> its material with the case's overrides."""
        names = self.sim.geometry.region_names
        return {n: m for n, m in zip(names, self.sim.materials, strict=True)
                if m is not None}


class TransportFilms(_Films):
    """Films of diffusive ``transport`` QPs (:class:`~fvqp.models.transport.problem.
    TransportProblem` without escape) and their simulation ``tsim``
    (:class:`~fvqp.models.transport.driver.TransportSimulation`)."""

    def __init__(self, tsim):
        p = tsim.problem
        if np.any(np.isfinite(p.p["tau_esc"])) or np.any(p.trap):
            raise ValueError("transport films of the chip chain have no escape time and "
                             "no traps")
        super().__init__(tsim, p, p.N, p.B)
        self.jacobian = tsim.jacobian
        #: |face pairs -> cells| scatter of the QP face fluxes (round-off terms)
        self._div_abs = abs(p._div)

    def _rates(self, y: np.ndarray):
        p = self.problem
        n = p.n
        return angular_rates(y[:, : p.N], y[:, p.N:], p.rho[:n], p.ados[:n], h=p.grid.h,
                             m=p.grid.m, qp_scale=p.p["qp_scale"][:n],
                             c_ph=p.p["c_ph"][:n])

    def rates(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""``(L, G)`` (n, M) of the cells' phonon rows, :math:`S^{ph} = (1 + n)G - nL`
        (the terms of :func:`fvqp.collisions.batched.batched_terms` without their outer
        occupation factors)."""
        r = self._rates(xq.reshape(self.n, self.S))
        return r.ph_loss, r.ph_gain

    def roundoff_terms(self, y: np.ndarray) -> list[float]:
        r"""This rank's :math:`\|m^f(A + B)\|^2` and :math:`\|\,|G|(|f_a| + |f_b|)\,\|^2`:
        the in/out-scattering and diffusion terms that cancel in a QP row (the Newton
        tolerance, :meth:`.coupling.ChipChain._atol_factor`)."""
        p = self.problem
        yy = y.reshape(p.n, p.B)
        r = self._rates(yy)
        f = np.abs(p.dist.ghosted(y).reshape(-1, p.B)[:, : p.N])
        flux = p.G * (f[p.f_a] + f[p.f_b])
        return [float(np.sum((p.m_f[: p.n] * (r.qp_in + r.qp_out)) ** 2)),
                float(np.sum((self._div_abs @ flux)[: p.n] ** 2))]

    def cell_numbers(self, xq: np.ndarray):
        p = self.problem
        y = xq.reshape(p.n, p.B)
        return (p.m_f[: p.n] * y[:, : p.N]).sum(axis=1), p.loc.cell_region[: p.n]

    def states(self, film: str) -> np.ndarray:
        r""":math:`g_f(\Omega_q) = w\beta\,\Omega_q^2` of a film region (the transport
        phonon rows' :math:`m^n_q/(Vh)`)."""
        par = self.sim.params[self.sim.geometry.region_names.index(film)]
        return par.weight * par.beta * self.grid.omega**2

    def equilibrium(self, f: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Owned unknowns of QPs ``f`` (N,) and phonons ``n`` (M,) in every cell."""
        return np.tile(np.concatenate([f, n]), self.n)

    def fields(self, xq: np.ndarray, names) -> dict:
        """SI QP fields of the owned film cells."""
        return self.sim.fields(xq, names)

    def materials(self) -> dict:
        """Film region -> its material with the case's overrides."""
        return dict(self.sim.region_materials)
