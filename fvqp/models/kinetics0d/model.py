r"""The 0D (spatially uniform) QP/phonon kinetic equations of a superconducting film.

State ``y = [f_0 .. f_{N-1}, n_1 .. n_M]`` on the grid of :mod:`fvqp.collisions.grid`.
The kinetic equations (notes Eqs. 31-40 without the transport terms) plus drives and
phonon escape into the substrate read

.. math::
    \dot f_i &= S_{qp,i}[f, n] + D^{qp}_i(f, t), \\
    \dot n_k &= S_{ph,k}[f, n] - \frac{n_k - n_B(\Omega_k)}{\tau_{esc}} + D^{ph}_k(t),

with :math:`n_B` the Bose function at the bath temperature (Kaplan et al. 1979 escape
time :math:`\tau_{esc}`). Units: energies in :math:`kT_c`, times in :math:`\tau_0`.

The collision part conserves the discrete energy
:math:`e = \sum_i h\bar\rho_iE_if_i + \beta\sum_k hg_k\Omega_k n_k`
(:mod:`fvqp.collisions.kernels`; :math:`g_k` = ``grid.phonon_states``,
:math:`\Omega_k^2` but at :math:`2\Delta`, whose node holds the phonons above the
threshold only, :mod:`fvqp.collisions.grid`), so

.. math::
    \dot e = P_{in} - P_{esc}, \quad
    P_{in} = \sum_i h\bar\rho_i E_i D^{qp}_i + \beta\sum_k hg_k\Omega_k D^{ph}_k, \quad
    P_{esc} = \beta\sum_k hg_k\Omega_k\,\frac{n_k - n_B}{\tau_{esc}},

and in a steady state the absorbed power equals the escaping power (to the solver
tolerance).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ...collisions import (
    CollisionParams,
    EnergyGrid,
    bose,
    collision_terms,
    equilibrium,
    jacobian,
    jvp,
    ph_energy,
    qp_energy,
)
from .drives import Drive

__all__ = ["Kinetics0D"]


@dataclass
class Kinetics0D:
    r"""Right-hand side, exact Jacobian and gain/loss split of the 0D kinetics.

    Parameters
    ----------
    grid : EnergyGrid
    params : CollisionParams
    t_bath : float
        Bath (substrate) temperature in kTc.
    tau_esc : float or ndarray
        Phonon escape time(s) in :math:`\tau_0` (scalar or one per phonon node);
        ``inf`` for no escape.
    drives : sequence of Drive
    method : {"fft", "direct"}
        Collision-operator implementation (:func:`fvqp.collisions.collision_terms`).
    tilt : float
        FFT round-off control (``~1/T``), see :mod:`fvqp.collisions.fft`.
    """

    grid: EnergyGrid
    params: CollisionParams
    t_bath: float
    tau_esc: float | np.ndarray = np.inf
    drives: Sequence[Drive] = field(default_factory=tuple)
    method: str = "fft"
    tilt: float = 0.0

    def __post_init__(self) -> None:
        self.drives = tuple(self.drives)
        for d in self.drives:
            d.bind(self.grid, self.params)
        self.n_bath = bose(self.grid.omega, self.t_bath)
        tau = np.broadcast_to(np.asarray(self.tau_esc, dtype=float), (self.grid.n_ph,))
        if np.any(tau <= 0):
            raise ValueError("tau_esc must be positive")
        self.escape_rate = 1.0 / tau
        self._e_weights = np.concatenate(
            (self.grid.qp_weights * self.grid.e,
             self.params.phonon_weight * self.grid.h * self.grid.phonon_states
             * self.grid.omega))

    # ----------------------------------------------------------------- layout
    @property
    def size(self) -> int:
        """Number of unknowns ``N + M``."""
        return self.grid.n + self.grid.n_ph

    def split(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``y -> (f, n)`` (views)."""
        return y[: self.grid.n], y[self.grid.n:]

    @staticmethod
    def join(f: np.ndarray, n: np.ndarray) -> np.ndarray:
        """``(f, n) -> y``."""
        return np.concatenate((f, n))

    def equilibrium(self, t: float | None = None) -> np.ndarray:
        """Thermal state at ``t`` (default: the bath temperature)."""
        return self.join(*equilibrium(self.grid, self.t_bath if t is None else t))

    @property
    def energy_weights(self) -> np.ndarray:
        r"""``w`` with :math:`e = w\cdot y` (units :math:`4N_0(kT_c)^2`)."""
        return self._e_weights

    def with_gap(self, delta: float) -> Kinetics0D:
        r"""The same model with gap ``delta``: same ``m``, QP cells and phonon nodes,
        spacing :math:`h = 2\Delta/m` (cut-offs scale with :math:`\Delta`); fresh copies of
        the drives are bound to the new grid (:mod:`fvqp.models.kinetics0d.selfgap`)."""
        g = self.grid
        return self._variant(EnergyGrid(delta=delta, h=2.0 * delta / g.m, n=g.n,
                                        n_ph=g.n_ph, gamma=g.gamma, layout=g.layout),
                             self.t_bath)

    def with_bath(self, t_bath: float) -> Kinetics0D:
        """The same model at bath temperature ``t_bath`` (kTc): same grid, collisions,
        escape and drives (fresh copies bound to the grid), only the bath's phonon
        occupation :math:`n_B` and equilibrium change
        (:mod:`fvqp.models.kinetics0d.continuation`)."""
        return self._variant(self.grid, t_bath)

    def _variant(self, grid: EnergyGrid, t_bath: float) -> Kinetics0D:
        """This model on ``grid`` at bath ``t_bath``, with fresh copies of the drives."""
        return Kinetics0D(grid, self.params, t_bath, tau_esc=self.tau_esc,
                          drives=[dataclasses.replace(d) for d in self.drives],
                          method=self.method, tilt=self.tilt)

    # ----------------------------------------------------------- equations
    def terms(self, y: np.ndarray, t: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Gain and loss parts ``(G, L)`` of :math:`\\dot y = G - L` (Eq. 46 form).

        Both are non-negative for ``0 <= f <= 1``, ``n >= 0`` (FFT round-off is clipped),
        and every loss is proportional to the occupation it depletes. Pauli-blocked QP
        gains :math:`(1 - f_i)a_i` are split as :math:`a_i - a_if_i`, i.e. ``G = a`` and
        ``a f`` is added to ``L``: then ``G / (L / y)`` (the fixed point of one relaxation
        step with :math:`\\mu\\Delta t \\to \\infty`) is at most 1 and the time-relaxation
        scheme keeps :math:`0 \\le f \\le 1`, not only :math:`f \\ge 0`.
        """
        f, n = self.split(y)
        c = collision_terms(f, n, self.grid, self.params, method=self.method, tilt=self.tilt)
        gf = np.maximum(c.qp_sc_in + c.qp_pb, 0.0)  # Pauli-blocked: (1 - f_i) * a_i
        lf = c.qp_sc_out + c.qp_rec
        gf_free = np.zeros_like(f)
        gn = c.ph_sc_in + c.ph_rec + self.escape_rate * self.n_bath
        ln = c.ph_sc_out + c.ph_pb + self.escape_rate * n
        for d in self.drives:
            if d.active(t):
                a, b, cc, dd = d.terms(f, n)
                if d.pauli_blocked_gain:
                    gf = gf + a
                else:
                    gf_free = gf_free + a
                lf, gn, ln = lf + b, gn + cc, ln + dd
        blocked = gf / np.maximum(1.0 - f, 1e-300)
        gf_out = blocked + gf_free
        lf_out = lf + blocked * f
        return (np.maximum(self.join(gf_out, gn), 0.0),
                np.maximum(self.join(lf_out, ln), 0.0))

    def rhs(self, y: np.ndarray, t: float = 0.0) -> np.ndarray:
        """:math:`\\dot y` in :math:`1/\\tau_0`."""
        f, n = self.split(y)
        c = collision_terms(f, n, self.grid, self.params, method=self.method, tilt=self.tilt)
        out = self.join(c.qp, c.ph - self.escape_rate * (n - self.n_bath))
        for d in self.drives:
            if d.active(t):
                a, b, cc, dd = d.terms(f, n)
                out += self.join(a - b, cc - dd)
        return out

    def jacobian(self, y: np.ndarray, t: float = 0.0) -> np.ndarray:
        """Exact dense Jacobian :math:`\\partial\\dot y/\\partial y`."""
        f, n = self.split(y)
        jac = jacobian(f, n, self.grid, self.params).dense()
        nq = self.grid.n
        idx = np.arange(nq, self.size)
        jac[idx, idx] -= self.escape_rate
        for d in self.drives:
            if d.active(t):
                jac += d.jacobian(f, n)
        return jac

    def jacobian_blocks(self, y: np.ndarray, t: float = 0.0
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        r"""The exact Jacobian by blocks ``(A, B, C, d)``: :math:`A = \partial\dot f/
        \partial f` (N x N), :math:`B = \partial\dot f/\partial n`, :math:`C =
        \partial\dot n/\partial f` and the diagonal ``d`` of :math:`\partial\dot n/
        \partial n` (the collision operator's phonon block is diagonal, the escape adds
        :math:`-1/\tau_{esc}`; drives act on ``f`` only). :meth:`jacobian` is
        ``[[A, B], [C, diag(d)]]``."""
        f, n = self.split(y)
        jb = jacobian(f, n, self.grid, self.params)
        a = jb.ff
        for dr in self.drives:
            if dr.active(t):
                dff = dr.jacobian_qp(f, n)
                if dff is not None:
                    a = a + dff
        return a, jb.fn, jb.nf, np.diagonal(jb.nn) - self.escape_rate

    def jvp(self, y: np.ndarray, v: np.ndarray, t: float = 0.0,
            drive_qp: Sequence[np.ndarray] = ()) -> np.ndarray:
        r"""Exact Jacobian action :math:`J(y)v` in :math:`O(N\log N)` (FFT,
        :func:`fvqp.collisions.jvp`); ``drive_qp``: the drives' ``N x N`` blocks at ``y``
        (:meth:`Drive.jacobian_qp`, formed once per state by the caller)."""
        f, n = self.split(y)
        df, dn = self.split(v)
        jf, jn = jvp(f, n, df, dn, self.grid, self.params, tilt=self.tilt)
        jn = jn - self.escape_rate * dn
        for a in drive_qp:
            jf = jf + a @ df
        return self.join(jf, jn)

    # ------------------------------------------------------------ energetics
    def energy(self, y: np.ndarray) -> float:
        """Discrete total energy :math:`e_{qp} + e_{ph}`."""
        f, n = self.split(y)
        return float(qp_energy(f, self.grid) + ph_energy(n, self.grid, self.params))

    def input_power(self, y: np.ndarray, t: float = 0.0) -> float:
        """:math:`P_{in}`: power delivered by the drives (units :math:`4N_0(kT_c)^2/\\tau_0`)."""
        f, n = self.split(y)
        tot = 0.0
        for d in self.drives:
            if d.active(t):
                a, b, cc, dd = d.terms(f, n)
                tot += float(self._e_weights @ self.join(a - b, cc - dd))
        return tot

    def escape_power(self, y: np.ndarray) -> float:
        """:math:`P_{esc}`: power escaping into the bath."""
        _, n = self.split(y)
        w = self._e_weights[self.grid.n:]
        return float(w @ (self.escape_rate * (n - self.n_bath)))
