r"""Balances of the transport model: this rank's energy and QP-number flows into the
simulated cells (per boundary, into traps, phonon escape, sources, net pair breaking),
the resolution of those flows at the time integrator's tolerance, the cell totals and
the sources' explicit rows for the integrator's exact source integration.
:class:`Balances` is a part of :class:`fvqp.models.transport.problem.TransportProblem`.

The resolution of a flow (:meth:`Balances.flow_resolution`). The boundary, trap and
escape flows are linear in the occupations next to them, e.g. through a bath contact
:math:`F = \sum_{faces}\sum_i G^b_i\,(f^{bath}_i - f_i)`. The time integrator controls
every occupation only to its local error tolerance :math:`w_i = a + r|f_i|` ([time]
atol, rtol; Newton stops at ``newton_tol`` of it), so a flow is resolved to

.. math::  \delta F = \sum_{faces}\sum_i G^b_i\,w_i

per unit time (exactly the change of :math:`F` when every occupation it reads moves by
one tolerance), and its time integral to :math:`\int\delta F\,dt`. A flow below that is
not resolved by the run: before the QPs of a burst reach a bath contact the occupations
there differ from the bath by ~1e-34 while :math:`w \approx 10^{-8}`; the value reported
is then set by the last digits of the linear solves, not by any tolerance (the
absorber burst's lead-end flow after 12 steps, 1e-27 QPs against a resolution of 0.63
QPs, moved by 4e-3 relative between two Schur storages, and by as much when Newton's
tolerance was tightened 100x or the Krylov tolerance 1000x;
tests/test_transport_flow_tolerance.py). The integrator accumulates the resolution like
the flows. It is the tolerance's worst case (every occupation off by one tolerance, all
in the same direction), not an error estimate: the burst's phonon escape, -2.7e-16 J
after 20 ns against 3.1e-16 J, is below it because atol = 1e-8 admits that much in every
phonon mode of every cell, although two preconditioners give it to 1e-14.
"""

from __future__ import annotations

import numpy as np

from .quiet import step_sigma

__all__ = ["Balances", "RESOLUTION"]

#: prefix of the resolution keys in :meth:`Balances.rates` (``res:E:boundary:<name>``):
#: accumulated by the integrator beside the flows, not part of the balances
RESOLUTION = "res:"


class Balances:
    """Flows, totals and explicit sources of :class:`TransportProblem`.

    Attributes
    ----------
    flow_tolerance : tuple of float or None
        ``(atol, rtol)`` of the occupations in the time integrator (set by the driver of
        a transient run): :meth:`rates` then also returns the resolution of every linear
        flow (:meth:`flow_resolution`) under :data:`RESOLUTION` keys. ``None`` (the
        default, e.g. the chip chain's films): flows only.
    """

    flow_tolerance: tuple[float, float] | None = None

    def rates(self, xl: np.ndarray, t0: float, t1: float) -> dict[str, float]:
        """This rank's energy (``E:``) and QP number (``N:``) flows into the simulated
        cells: per boundary, into traps, phonon escape, sources, and (``N:pair``) net
        pair breaking minus recombination."""
        N, n, g = self.N, self.n, self.grid
        y = xl.reshape(-1, self.B)
        # first, from the linearisation the last residual kept at this state; then that
        # is let go before the fluxes' arrays are made (no action follows at an accepted
        # state; issue 18 §1: two state-length arrays at the step's peak)
        pair = self.pair_breaking(y, step_sigma(t0, t1))
        self._forget_point()
        f, ph = y[:, :N], y[:, N:]
        Ff, Fb = self._fluxes(f)
        out = self._per_boundary(Fb)
        # flux from trap cells into owned active cells (Ff is the flux into f_a)
        act = ~self.trap
        from_trap = np.zeros(N)
        for a, b, sign in ((self.f_a, self.f_b, 1.0), (self.f_b, self.f_a, -1.0)):
            sel = (a < n) & act[a] & self.trap[b]
            from_trap += np.sum(sign * Ff[sel], axis=0)
        out["E:trap"] = float(from_trap @ g.e + self._phonons_from_traps(ph) @ g.omega)
        out["N:trap"] = float(from_trap.sum())
        esc = -self.m_n[:n] * (ph[:n] - self.n_bath) / self.p["tau_esc"][:n, None]
        esc[self.ph_fixed[:n]] = 0.0
        out["E:escape"] = float(np.sum(esc @ g.omega))
        out.update(self._deposits(t0, t1))
        out["N:pair"] = pair
        if self.flow_tolerance is not None:
            out.update({RESOLUTION + k: v for k, v in self.flow_resolution(xl).items()})
        return out

    def flow_resolution(self, xl: np.ndarray) -> dict[str, float]:
        r"""This rank's resolution of the flows that are linear in the state (per
        boundary, into traps, escape; module docstring): :math:`\sum|\partial F/\partial
        y|\,(a + r|y|)` with ``(a, r) =`` :attr:`flow_tolerance`, keyed as in
        :meth:`rates`. Algebraic rows (traps, bins without states, phonons held at the
        bath) are exact and add nothing; sources and pair breaking have no entry."""
        a, r = self.flow_tolerance
        N, n, g = self.N, self.n, self.grid
        y = xl.reshape(-1, self.B)
        wf = a + r * np.abs(y[:, :N])
        wf[self.alg_f] = 0.0
        wph = a + r * np.abs(y[:, N:])
        wph[self.ph_fixed] = 0.0
        out = self._per_boundary(self.b_G * wf[self.b_cell])
        act = ~self.trap
        into = np.zeros(N)
        for c, other in ((self.f_a, self.f_b), (self.f_b, self.f_a)):
            sel = (c < n) & act[c] & self.trap[other]
            into += np.sum(self.G[sel] * wf[c[sel]], axis=0)
        ph_into = np.zeros(self.M)
        if len(self.ph_pairs):
            pa, pb = self.f_a[self.ph_pairs], self.f_b[self.ph_pairs]
            for c, other in ((pa, pb), (pb, pa)):
                sel = (c < n) & ~self.ph_fixed[c] & self.ph_fixed[other]
                ph_into += np.sum(self.G_ph[sel] * wph[c[sel]], axis=0)
        out["E:trap"] = float(into @ g.e + ph_into @ g.omega)
        out["N:trap"] = float(into.sum())
        esc = self.m_n[:n] * wph[:n] / self.p["tau_esc"][:n, None]
        out["E:escape"] = float(np.sum(esc @ g.omega))
        return out

    def _per_boundary(self, face_bins: np.ndarray) -> dict[str, float]:
        """Energy (``E:boundary:<name>``) and number (``N:``) sums per boundary of a
        quantity per boundary face and QP bin (a flow, or its resolution)."""
        out = {}
        for gi, name in enumerate(self.boundary_names):
            sel = self.b_group == gi
            out[f"E:boundary:{name}"] = float(np.sum(face_bins[sel] @ self.grid.e))
            out[f"N:boundary:{name}"] = float(np.sum(face_bins[sel]))
        return out

    def _phonons_from_traps(self, ph: np.ndarray) -> np.ndarray:
        """Phonons per unit time and mode from cells held at the bath (traps) into owned
        cells with dynamic phonons (an active cell next to a trap loses phonons to it)."""
        out = np.zeros(self.M)
        if not len(self.ph_pairs):
            return out
        F = self._phonon_flux(ph)
        a_, b_ = self.f_a[self.ph_pairs], self.f_b[self.ph_pairs]
        fixed = self.ph_fixed
        for a, b, sign in ((a_, b_, 1.0), (b_, a_, -1.0)):
            sel = (a < self.n) & ~fixed[a] & fixed[b]
            out += np.sum(sign * F[sel], axis=0)
        return out

    def totals(self, x_owned: np.ndarray) -> dict[str, float]:
        """This rank's QP number, QP energy and phonon energy (internal units)."""
        y = x_owned.reshape(-1, self.B)
        n, N, g = self.n, self.N, self.grid
        return {"N_qp": float(np.sum(self.m_f[:n] * y[:, :N])),
                "E_qp": float(np.sum(self.m_f[:n] * y[:, :N] * g.e)),
                "E_ph": float(np.sum(self.m_n[:n] * y[:, N:] * g.omega))}
    def explicit_source(self, t0: float, t1: float) -> tuple[np.ndarray, dict]:
        """The state-independent part of :meth:`rhs` (the sources' step-averaged rows, not
        in algebraic rows) and its share of :meth:`rates` (``E:deposited``,
        ``N:deposited``), for :class:`fvqp.solvers.bdf.BDFIntegrator`'s exact source
        integration."""
        n, N = self.n, self.N
        out = np.zeros((n, self.B))
        for s in self.sources:
            p = s.power(t0, t1)
            if p:
                cols = slice(0, N) if s.kind == "quasiparticle" else slice(N, self.B)
                out[:, cols] += p * s.weights[:, None] * s.spectrum
        np.copyto(out[:, :N], 0.0, where=self.alg_f[:n])
        np.copyto(out[:, N:], 0.0, where=np.broadcast_to(self.ph_fixed[:n, None],
                                                         (n, self.M)))
        return out.ravel(), self._deposits(t0, t1)

    def _deposits(self, t0: float, t1: float) -> dict[str, float]:
        """This rank's step-averaged energy and QP number put in by the sources."""
        dep, ndep = 0.0, 0.0
        for s in self.sources:
            p = s.power(t0, t1)
            dep += p * float(np.sum(s.weights))
            if s.kind == "quasiparticle":
                ndep += p * float(np.sum(s.weights[:, None] * s.spectrum))
        return {"E:deposited": dep, "N:deposited": ndep}
