r"""Balances of the transport model: this rank's energy and QP-number flows into the
simulated cells (per boundary, into traps, phonon escape, sources, net pair breaking),
the cell totals and the sources' explicit rows for the integrator's exact source
integration. :class:`Balances` is a part of
:class:`fvqp.models.transport.problem.TransportProblem`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Balances"]


class Balances:
    """Flows, totals and explicit sources of :class:`TransportProblem`."""

    def rates(self, xl: np.ndarray, t0: float, t1: float) -> dict[str, float]:
        """This rank's energy (``E:``) and QP number (``N:``) flows into the simulated
        cells: per boundary, into traps, phonon escape, sources, and (``N:pair``) net
        pair breaking minus recombination."""
        N, n, g = self.N, self.n, self.grid
        y = xl.reshape(-1, self.B)
        f, ph = y[:, :N], y[:, N:]
        Ff, Fb = self._fluxes(f)
        out = {}
        for gi, name in enumerate(self.boundary_names):
            sel = self.b_group == gi
            out[f"E:boundary:{name}"] = float(np.sum(Fb[sel] @ g.e))
            out[f"N:boundary:{name}"] = float(np.sum(Fb[sel]))
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
        pair = np.empty((n, N))
        for sl, t in self._collision_chunks(y):
            pair[sl] = t.qp_pb - t.qp_rec
        out["N:pair"] = float(np.sum(self.m_f[:n] * pair))
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
