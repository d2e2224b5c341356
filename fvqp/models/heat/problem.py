r"""Residual and Jacobian of the quasi-equilibrium heat equation on a distributed mesh.

.. math::  \partial_t U(T) = \nabla\cdot(\kappa(T)\nabla T) + P(\mathbf x, t)

discretised by cell-centred finite volumes (see :mod:`fvqp.mesh.geometry`). Inside one
material the flux uses the Kirchhoff potential :math:`\Phi(T)=\int_0^T\kappa\,dT'`,

.. math::  F_{i\leftarrow j} = w_{ij}\,[\Phi(T_j) - \Phi(T_i)],\qquad
           w_{ij} = \tau_{if}\tau_{jf} / \textstyle\sum_k \tau_{kf},

which is exact for a 1D steady profile and second order on K-orthogonal meshes; at a face
between two materials the two half-cell conductances :math:`g=\kappa(T)\tau` are combined
harmonically. A bath boundary uses the half-cell Kirchhoff flux :math:`\tau_{if}[\Phi(T_b)
-\Phi(T_i)]`. All quantities are internal units (:mod:`fvqp.units`): per cell, ``rhs`` is a
power and ``conserved`` an energy, so their sums are the global energy balance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...solvers.nonlinear import DomainError


@dataclass
class BoundaryCondition:
    """``kind`` is ``"bath"`` (fixed temperature), ``"insulated"`` or ``"heat_flux"``."""

    kind: str
    temperature: float = 0.0  # internal units, for bath
    flux: float = 0.0  # internal power per area into the domain, for heat_flux


class HeatProblem:
    """The heat model on one rank's :class:`~fvqp.parallel.LocalGeometry`.

    Parameters
    ----------
    dist : fvqp.parallel.Distribution
    materials : list
        Per region of the mesh: an object with ``U, c, kappa, dkappa, phi, gap`` (internal
        units) or None for a region left out.
    widths : ndarray
        Extrusion width per region (1 in 3D).
    bcs : dict
        Boundary name -> :class:`BoundaryCondition`.
    sources : list
        :class:`~fvqp.mesh.sources.Source` objects: ``power(t0, t1)`` (power per
        owned cell averaged over the step), ``breakpoints()`` and ``max_dt(t)``.
    """

    def __init__(self, dist, materials, widths, bcs: dict, sources=()):
        self.dist = dist
        loc = dist.local
        self.loc, self.materials, self.sources = loc, materials, list(sources)
        self.n = loc.n_owned
        self.regions = [(r, np.flatnonzero(loc.cell_region == r)) for r in range(len(materials))
                        if np.any(loc.cell_region == r)]
        self._faces(loc, widths, bcs)
        self.pattern = self._pattern()

    # ---- setup ------------------------------------------------------------------------
    def _faces(self, loc, widths, bcs) -> None:
        deg = loc.face_degree
        region = loc.cell_region
        ki, kj, kw, mi, mj, mti, mtj = [], [], [], [], [], [], []
        b_cell, b_tau, b_val, b_kind, b_group, b_area = [], [], [], [], [], []
        # the same list on every rank (rates() reduces one value per boundary)
        self.boundary_names = sorted(bcs)
        for f in range(len(loc.faces)):
            lo, hi = loc.face_ptr[f], loc.face_ptr[f + 1]
            cells, tau = loc.inc_cell[lo:hi], loc.inc_tau[lo:hi]
            if deg[f] == 1:
                if cells[0] >= self.n:
                    continue
                g = loc.face_group[f]
                name = loc.group_names[g] if g >= 0 else "unlabelled"
                bc = bcs[name]
                if bc.kind == "insulated":
                    continue
                b_cell.append(cells[0])
                b_tau.append(tau[0])
                b_kind.append(0 if bc.kind == "bath" else 1)
                b_val.append(bc.temperature if bc.kind == "bath" else bc.flux)
                b_group.append(self.boundary_names.index(name))
                b_area.append(loc.face_area[f] * widths[region[cells[0]]])
                continue
            same = np.all(region[cells] == region[cells[0]])
            if not same and deg[f] > 2:
                raise ValueError("a network node joins wires of different materials; "
                                 "split it with a short wire of one material.")
            for a in range(len(cells)):
                for b in range(a + 1, len(cells)):
                    if cells[a] >= self.n and cells[b] >= self.n:
                        continue
                    if same:
                        ki.append(cells[a])
                        kj.append(cells[b])
                        kw.append(tau[a] * tau[b] / tau.sum())
                    else:
                        mi.append(cells[a])
                        mj.append(cells[b])
                        mti.append(tau[a])
                        mtj.append(tau[b])
        self.k_i, self.k_j = np.array(ki, dtype=np.int64), np.array(kj, dtype=np.int64)
        self.k_w = np.array(kw)
        self.m_i, self.m_j = np.array(mi, dtype=np.int64), np.array(mj, dtype=np.int64)
        self.m_ti, self.m_tj = np.array(mti, dtype=float), np.array(mtj, dtype=float)
        self.b_cell = np.array(b_cell, dtype=np.int64)
        self.b_tau, self.b_val = np.array(b_tau), np.array(b_val)
        self.b_kind, self.b_group = np.array(b_kind, dtype=int), np.array(b_group, dtype=int)
        self.b_area = np.array(b_area)

    def _pattern(self):
        i = np.concatenate([self.k_i, self.m_i])
        j = np.concatenate([self.k_j, self.m_j])
        rows = np.concatenate([i, i, j, j, self.b_cell])
        cols = np.concatenate([i, j, i, j, self.b_cell])
        keep = rows < self.n
        self._keep = keep
        return rows[keep], cols[keep]

    # ---- material functions on local cells -------------------------------------------
    def _eval(self, T: np.ndarray, what: str) -> np.ndarray:
        out = np.zeros_like(T)
        for r, idx in self.regions:
            out[idx] = getattr(self.materials[r], what)(T[idx])
        return out

    def conserved(self, T_owned: np.ndarray) -> np.ndarray:
        """Energy of every owned cell, V U(T)."""
        return self.loc.volume[: self.n] * self._eval_owned(T_owned, "U")

    def dconserved(self, T_owned: np.ndarray) -> np.ndarray:
        """Heat capacity of every owned cell, V c(T)."""
        return self.loc.volume[: self.n] * self._eval_owned(T_owned, "c")

    def _eval_owned(self, T_owned, what):
        out = np.zeros_like(T_owned)
        for r, idx in self.regions:
            o = idx[idx < self.n]
            out[o] = getattr(self.materials[r], what)(T_owned[o])
        return out

    # ---- fluxes -----------------------------------------------------------------------
    def _face_fluxes(self, T: np.ndarray):
        """Kirchhoff-pair, mixed-pair and boundary fluxes (into cell i / into the domain)."""
        if np.any(~np.isfinite(T)) or np.any(T < 0):
            raise DomainError("negative or non-finite temperature")
        phi = self._eval(T, "phi")
        Fk = self.k_w * (phi[self.k_j] - phi[self.k_i])
        kap = self._eval(T, "kappa")
        gi, gj = kap[self.m_i] * self.m_ti, kap[self.m_j] * self.m_tj
        G = gi * gj / (gi + gj)
        Fm = G * (T[self.m_j] - T[self.m_i])
        Fb = np.where(self.b_kind == 0, self.b_tau * (self._phi_bath() - phi[self.b_cell]),
                      self.b_val * self.b_area)
        return Fk, Fm, Fb, phi, kap

    def _phi_bath(self) -> np.ndarray:
        if not hasattr(self, "_phib"):
            reg = self.loc.cell_region[self.b_cell]
            self._phib = np.array([self.materials[r].phi(np.array([t]))[0] if k == 0 else 0.0
                                   for r, t, k in zip(reg, self.b_val, self.b_kind, strict=True)])
        return self._phib

    def rhs(self, T: np.ndarray, t0: float, t1: float) -> np.ndarray:
        """Net power into every owned cell: fluxes plus sources averaged over [t0, t1]."""
        Fk, Fm, Fb, _, _ = self._face_fluxes(T)
        r = np.zeros(self.loc.n_local)
        np.add.at(r, self.k_i, Fk)
        np.add.at(r, self.k_j, -Fk)
        np.add.at(r, self.m_i, Fm)
        np.add.at(r, self.m_j, -Fm)
        np.add.at(r, self.b_cell, Fb)
        out = r[: self.n]
        for s in self.sources:
            out = out + s.power(t0, t1)
        return out

    def rhs_jacobian(self, T: np.ndarray, t0: float, t1: float) -> np.ndarray:
        """d rhs / dT as values on :attr:`pattern` (COO, duplicates summed)."""
        kap = self._eval(T, "kappa")
        # Kirchhoff pairs: F = w (phi_j - phi_i) into i
        wi, wj = self.k_w * kap[self.k_i], self.k_w * kap[self.k_j]
        # mixed pairs: F = G (T_j - T_i), G = gi gj / (gi + gj)
        dk = self._eval(T, "dkappa")
        gi, gj = kap[self.m_i] * self.m_ti, kap[self.m_j] * self.m_tj
        s = gi + gj
        G = gi * gj / s
        dT = T[self.m_j] - T[self.m_i]
        dGi = (gj / s) ** 2 * dk[self.m_i] * self.m_ti
        dGj = (gi / s) ** 2 * dk[self.m_j] * self.m_tj
        fi_i = np.concatenate([-wi, dGi * dT - G])   # dF_into_i / dT_i
        fi_j = np.concatenate([wj, dGj * dT + G])    # dF_into_i / dT_j
        bdiag = np.where(self.b_kind == 0, -self.b_tau * kap[self.b_cell], 0.0)
        vals = np.concatenate([fi_i, fi_j, -fi_i, -fi_j, bdiag])
        return vals[self._keep]

    # ---- bookkeeping for the energy balance -----------------------------------------
    def rates(self, T: np.ndarray, t0: float, t1: float) -> dict[str, float]:
        """This rank's power into the domain through each boundary and from the sources."""
        _, _, Fb, _, _ = self._face_fluxes(T)
        out = {f"boundary:{n}": 0.0 for n in self.boundary_names}
        for g, name in enumerate(self.boundary_names):
            out[f"boundary:{name}"] = float(Fb[self.b_group == g].sum())
        out["deposited"] = float(sum(s.power(t0, t1).sum() for s in self.sources))
        return out

    def explicit_source(self, t0: float, t1: float) -> tuple[np.ndarray, dict[str, float]]:
        """The state-independent part of :meth:`rhs` (the sources' step-averaged power per
        owned cell) and its share of :meth:`rates` (``deposited``), for
        :class:`fvqp.solvers.bdf.BDFIntegrator`'s exact source integration."""
        p = sum((s.power(t0, t1) for s in self.sources), np.zeros(self.n))
        return p, {"deposited": float(p.sum())}

    def breakpoints(self) -> list[float]:
        return sorted({b for s in self.sources for b in s.breakpoints()})

    def max_dt(self, t: float, checked: bool = True) -> float:
        return min([s.max_dt(t, checked) for s in self.sources], default=np.inf)
