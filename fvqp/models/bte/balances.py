r"""Balances and observables of the discrete-ordinates QP problem (:mod:`.problem`).

The state layout is that of :class:`~.problem.BTEProblem`: per bin ``j`` the owned cells'
:math:`K` ordinates and the angle average :math:`\phi` (:math:`B = K + 1` unknowns a
cell). This module holds what is read off a state — the angle average, the QP density,
energy density and current, the QP number — and the particle balance: the injected
sources (:class:`Source`, :meth:`BinBalances.source_rates`, the BDF2-consistent step
source :meth:`BinBalances.step_source`) and the flows across the system's boundary and
into the traps (:meth:`BinBalances.rates`), which the time loops accumulate with the
integrator's own coefficients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BinBalances", "Source"]


@dataclass
class Source:
    """Isotropic QP injection: particle rate ``rate(t0, t1)`` (internal number per
    :math:`\\tau_0`) split over owned cells by ``weights`` and over bins by ``spectrum``;
    ``profile`` (optional, :mod:`fvqp.mesh.sources`) gives the breakpoints and
    step limits of adaptive time stepping (collisions)."""

    weights: np.ndarray
    spectrum: np.ndarray
    rate: object
    profile: object = None


class BinBalances:
    """Observables and particle balance of a :class:`~.problem.BTEProblem` (a mixin:
    it reads the problem's layout ``n``, ``B``, ``K``, ``N``, ``quad``, spectra ``rho``,
    ``v`` (``rho_c``, ``v_c`` per cell with media), ``vol``, ``gam``, ``stream``,
    ``sources`` and ``dist``)."""

    # ---- sources ------------------------------------------------------------------------
    def source_rates(self, t0: float, t1: float) -> np.ndarray:
        """Injected particles per time unit, (n_owned, N)."""
        out = np.zeros((self.n, self.N))
        for s in self.sources:
            spec = s.spectrum if np.ndim(s.spectrum) == 2 else s.spectrum[None, :]
            out += s.rate(t0, t1) * s.weights[:, None] * spec
        return out

    def step_source(self, t: float, dt: float, bdf2: bool) -> np.ndarray:
        r"""Source rate (n_owned, N) of the step :math:`[t, t+\Delta t]`: the step average
        :math:`S_{n+1}/\Delta t` for backward Euler; for BDF2
        :math:`(\tfrac32S_{n+1}-\tfrac12S_n)/\Delta t`, i.e. BDF2 applied to
        :math:`C - A(t)` with :math:`A` the exact source integral (as
        :mod:`fvqp.solvers.bdf` does for explicit sources). Weighting :math:`S_{n+1}` like
        the new state instead is first order for a time-varying source
        (``tests/test_bte_bdf2_source.py``); with it a deposit is stored exactly."""
        src = self.source_rates(t, t + dt)
        if bdf2:
            src = 1.5 * src - 0.5 * self.source_rates(t - dt, t)
        return src

    # ---- observables (owned cells, internal units) ----------------------------------------
    def directional(self, x: np.ndarray) -> np.ndarray:
        """f as (N, n_owned, K)."""
        return x.reshape(self.N, self.n, self.B)[:, :, : self.K]

    def mean(self, x: np.ndarray) -> np.ndarray:
        """Angle average :math:`\\bar f`, (N, n_owned)."""
        return self.directional(x) @ self.quad.weights

    def fields(self, x: np.ndarray) -> dict:
        """QP density, energy density (per volume) and current vector (per area and
        time) of the owned cells: :math:`4N_0\\int\\rho\\bar f`,
        :math:`4N_0\\int E\\rho\\bar f`, :math:`4N_0\\int\\rho v\\sum_kw_k\\Omega_kf_k`."""
        fb = self.mean(x)
        c = self.weight * self.grid.h
        jk = np.einsum("jck,k,kd->jcd", self.directional(x), self.quad.weights,
                       self.quad.omega)
        if not self.uniform:
            rc, vc = self.rho_c[:, : self.n], self.v_c[:, : self.n]
            return {"qp_density": c * np.sum(rc * fb, axis=0),
                    "qp_energy_density": c * np.sum(rc * self.grid.e[:, None] * fb, axis=0),
                    "qp_current": c * np.einsum("jc,jcd->cd", vc, jk)}
        return {"qp_density": c * (self.rho @ fb),
                "qp_energy_density": c * ((self.rho * self.grid.e) @ fb),
                "qp_current": c * np.einsum("j,jcd->cd", self.v, jk)}

    def density(self, f: np.ndarray) -> np.ndarray:
        r"""Internal QP density :math:`w_0h\sum_j\rho_j f_j` of the owned cells for
        occupations ``f``, shape (N,) (the same everywhere) or (N, n_owned)."""
        c = self.weight * self.grid.h
        f = np.asarray(f, dtype=float)
        if self.uniform:
            return c * (self.rho @ f)
        rc = self.rho_c[:, : self.n]
        return c * np.sum(rc * (f[:, None] if f.ndim == 1 else f), axis=0)

    def number(self, x: np.ndarray, bins=None, energy: bool = False) -> float:
        r"""QP number (all ranks) :math:`w_0h\sum_{j,c}\rho_{jc}\bar f_{jc}V_c` of the bins
        ``bins`` (default all); ``x`` holds them, shape (len(bins), n_owned B).
        ``energy``: the QP energy instead, every bin's states at its node energy
        :math:`E_j` (the absolute grid; with cell gaps :math:`\rho_{jc}` counts the states
        of bin :math:`j` above the cell's edge)."""
        bins = np.arange(self.N) if bins is None else np.atleast_1d(bins)
        fb = np.asarray(x).reshape(len(bins), self.n, self.B)[:, :, : self.K] @ \
            self.quad.weights
        rho = self.rho[bins][:, None] if self.uniform else self.rho_c[bins, : self.n]
        if energy:
            rho = self.grid.e[bins][:, None] * rho
        return self.dist.sum(float(self.weight * self.grid.h * np.sum((rho * fb) @ self.vol)))

    def isotropic_number(self, f: np.ndarray) -> float:
        """QP number (all ranks) of the same isotropic occupation ``f`` (one value per
        bin) in every owned cell: :meth:`number` of that state without forming it."""
        states = (self.rho * float(np.sum(self.vol)) if self.uniform
                  else self.rho_c[:, : self.n] @ self.vol)  # states x volume per bin
        return self.dist.sum(float(self.weight * self.grid.h * float(
            np.sum(self.quad.weights)) * np.dot(states, f)))

    def energy(self, x: np.ndarray) -> float:
        """QP energy of the state ``x`` (N, n_owned B), all ranks (:meth:`number`)."""
        return self.number(x, energy=True)

    def rates(self, x: np.ndarray, t0: float = 0.0, t1: float = np.inf, bins=None,
              energy: bool = False) -> dict:
        """Global particle rates (per time unit): leaving through every boundary group
        (net, outward positive), lost to traps, injected by sources (negative). ``x`` holds
        the bins ``bins`` (default all), shape (len(bins), n_owned B). ``energy``: the
        energy rates instead (every bin's particles times its node energy, as
        :meth:`energy` counts them)."""
        bins = np.arange(self.N) if bins is None else np.atleast_1d(bins)
        x = np.asarray(x).reshape(len(bins), -1)
        c = self.weight * self.grid.h
        w = self.grid.e[bins] if energy else np.ones(len(bins))
        v, rho, fbath = self.v[bins], self.rho[bins], self.f_bath[bins]
        if not self.uniform:  # per cell and bin, expanded over the cell's unknowns
            rho = self.rho_c[bins, : self.n]
            vx = np.repeat(self.v_c[bins, : self.n], self.B, axis=1)
        out = {}
        for name in sorted(self.stream.outflow):  # same order on every rank
            if self.uniform:
                o = (w * v) @ (x @ self.stream.outflow[name])
            else:
                o = float(w @ ((x * vx) @ self.stream.outflow[name]))
            if name in self.stream.influx:
                if self.uniform:
                    o -= float(np.sum(w * v * self.f_in[name][bins])) * \
                        self.stream.influx[name].sum()
                else:
                    o -= float((w * self.f_in[name][bins]) @
                               (vx @ self.stream.influx[name]))
            elif self.kinds[name] in ("specular", "diffuse"):
                continue  # reflecting: zero net flux by construction
            out[f"boundary:{name}"] = self.dist.sum(c * o)
        fb = x.reshape(len(bins), self.n, self.B)[:, :, : self.K] @ self.quad.weights
        rr = rho[:, None] if self.uniform else rho
        loss = np.sum(w[:, None] * rr * (fb - fbath[:, None]) * (self.vol * self.gam))
        out["traps"] = self.dist.sum(c * loss)
        out["sources"] = -self.dist.sum(float(np.sum(self.source_rates(t0, t1)[:, bins]
                                                     @ w)))
        return out
