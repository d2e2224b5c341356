r"""Faces of the transport model's cells: the face pairs and boundary faces of the
owned cells, the sparse scatter operators (flux divergence, face-set sums), the QP
conductances of every face and energy and the phonon conductances.

The face conductance of bin ``i`` joining cells ``a, b, ...`` is the star-mesh
combination :math:`G_{ab} = hc_ac_b/\sum_kc_k` of the half-cell conductances
:math:`c_a = w_aD_a\bar D_{L,a,i}\tau_a` (harmonic mean for two cells; ryan2026
Eqs. 9-10 in the BCS limit); phonons the same with :math:`c_a = w_a\beta_aD_{ph,a}\tau_a`
times :math:`h\Omega_k^2`. :class:`FaceOperators` is a part of
:class:`fvqp.models.transport.problem.TransportProblem` (it uses the problem's cells,
regions and masks).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

from ...parallel.blocked import BlockDistribution
from ...spectra.thermal_occupations import fermi

__all__ = ["FaceOperators", "TRANSPORT_ROWS"]

#: cells (rows of the flux divergence) per batch of the QP transport action
#: (:meth:`FaceOperators._qp_transport`): its temporaries are the batch's face pairs x N
#: values, not all face pairs' twice (3.2 KB per cell at 66 bins on the 3D absorber)
TRANSPORT_ROWS = 2048


class FaceOperators:
    """Face geometry, conductances and fluxes of :class:`TransportProblem`."""

    def _faces(self, loc, widths, bcs) -> None:
        pa, pb, ta, tb, tsum_id = [], [], [], [], []
        b_cell, b_tau, b_kind, b_group, b_area = [], [], [], [], []
        sums, inc_f, inc_c, inc_t = [], [], [], []
        for f in range(len(loc.faces)):
            lo, hi = loc.face_ptr[f], loc.face_ptr[f + 1]
            cells, tau = loc.inc_cell[lo:hi], loc.inc_tau[lo:hi]
            if hi - lo == 1:
                if cells[0] >= self.n:
                    continue
                g = loc.face_group[f]
                name = loc.group_names[g] if g >= 0 else "unlabelled"
                if bcs[name].kind == "insulating" or self.trap[cells[0]]:
                    continue
                b_cell.append(cells[0])
                b_tau.append(tau[0])
                b_kind.append(bcs[name])
                b_group.append(self.boundary_names.index(name))
                b_area.append(loc.face_area[f] * widths[loc.cell_region[cells[0]]])
                continue
            g = loc.face_group[f]
            name = loc.group_names[g] if g >= 0 else None
            if name in bcs and bcs[name].kind == "tunnel":  # junction on an interior face
                for c_ in cells[cells < self.n]:
                    if self.trap[c_]:
                        continue
                    b_cell.append(c_)
                    b_tau.append(0.0)
                    b_kind.append(bcs[name])
                    b_group.append(self.boundary_names.index(name))
                    b_area.append(loc.face_area[f] * widths[loc.cell_region[c_]]
                                  / len(cells))
            sums.append((cells, tau))
            inc_f.extend([len(sums) - 1] * len(cells))
            inc_c.extend(cells)
            inc_t.extend(tau)
            for a in range(len(cells)):
                for b in range(a + 1, len(cells)):
                    if cells[a] >= self.n and cells[b] >= self.n:
                        continue
                    pa.append(cells[a])
                    pb.append(cells[b])
                    ta.append(tau[a])
                    tb.append(tau[b])
                    tsum_id.append(len(sums) - 1)
        self.f_a, self.f_b = np.array(pa, dtype=np.int64), np.array(pb, dtype=np.int64)
        self.f_ta, self.f_tb = np.array(ta, dtype=float), np.array(tb, dtype=float)
        self._n_sets = len(sums)
        self._inc = (np.array(inc_f, dtype=np.int64), np.array(inc_c, dtype=np.int64),
                     np.array(inc_t, dtype=float))
        self._pair_face = np.array(tsum_id, dtype=np.int64)
        self.b_cell = np.array(b_cell, dtype=np.int64)
        self.b_tau, self.b_area = np.array(b_tau, dtype=float), np.array(b_area, dtype=float)
        self.b_group = np.array(b_group, dtype=np.int64)
        self.b_bc = b_kind
        # scatter matrices (sparse): flux divergence per cell, face-set sums
        nl, npair = loc.n_local, len(pa)
        self._div = csr_matrix((np.concatenate([np.ones(npair), -np.ones(npair)]),
                                (np.concatenate([self.f_a, self.f_b]),
                                 np.concatenate([np.arange(npair)] * 2))), shape=(nl, npair))
        self._bsum = csr_matrix((np.ones(len(b_cell)), (self.b_cell, np.arange(len(b_cell)))),
                                shape=(nl, len(b_cell)))
        fi, ci, ti = self._inc
        self._setsum = csr_matrix((ti, (fi, ci)), shape=(len(sums), nl))
        total = {}
        for g, a in zip(b_group, b_area, strict=True):
            total[g] = total.get(g, 0.0) + a
        self._b_area_total = {g: self.cells.sum(total.get(g, 0.0))
                              for g in range(len(self.boundary_names))}

    def _qp_transport(self, vf: np.ndarray) -> np.ndarray:
        """The transport part of ``(d rhs / d f) v`` (local QP values ``vf`` with ghosts,
        shape (n_local, N)): face fluxes and their divergence batch by batch of
        :data:`TRANSPORT_ROWS` cells (:meth:`_transport_batches`; each cell's sum over its
        faces in the order of the whole divergence matrix: the same bits), then the
        boundary exchange."""
        div = self._face_divergence(vf)
        div -= self._bsum @ (self.b_G * vf[self.b_cell])
        return div

    def _face_divergence(self, vf: np.ndarray) -> np.ndarray:
        r""":math:`\sum_b G_{ab}(v_b - v_a)` into every local cell ``a`` (shape (n_local,
        N)) batch by batch of :data:`TRANSPORT_ROWS` cells: the same bits as
        ``self._div @ flux`` of all face pairs (each row summed in the stored order), with
        temporaries of the batch's face pairs only; complex ``vf`` (the complex-step
        residual) gives a complex divergence."""
        div = np.empty((self._div.shape[0], vf.shape[1]), np.result_type(vf, self.G))
        for rows, pairs, sub in self._transport_batches():
            flux = vf[self.f_b[pairs]]
            np.subtract(flux, vf[self.f_a[pairs]], out=flux)
            flux *= self.G[pairs]
            div[rows] = sub @ flux
        return div

    def _transport_batches(self) -> list:
        """Per batch of :data:`TRANSPORT_ROWS` rows of the divergence :attr:`_div`: the
        rows, the face pairs they touch and those rows with the pairs renumbered
        (entries in the stored order), built once."""
        if getattr(self, "_tbatches", None) is None:
            out = []
            for r0 in range(0, self._div.shape[0], TRANSPORT_ROWS):
                sub = self._div[r0:r0 + TRANSPORT_ROWS]
                pairs, inv = np.unique(sub.indices, return_inverse=True)
                out.append((slice(r0, r0 + sub.shape[0]), pairs, csr_matrix(
                    (sub.data, inv.astype(sub.indices.dtype), sub.indptr),
                    shape=(sub.shape[0], len(pairs)))))
            self._tbatches = out
        return self._tbatches

    def _phonon_faces(self) -> None:
        r"""Phonon conductances (independent of the gap): star-mesh combination of the
        half-cell conductances :math:`c_a = w_a\beta_a D_{ph,a}\tau_a` per unit
        :math:`h\Omega_k^2`, kept only for face pairs that carry phonons."""
        c = self.p["weight"] * self.beta * self.p["phonon_diffusion"]
        den = self._setsum @ c
        ca, cb = c[self.f_a] * self.f_ta, c[self.f_b] * self.f_tb
        g = _star(ca, cb, den[self._pair_face])
        sel = np.flatnonzero(g > 0)
        #: face pairs with phonon transport and their conductances (pairs, M)
        self.ph_pairs = sel
        self.G_ph = self.grid.h * g[sel, None] * self.grid.omega[None, :] ** 2
        self._div_ph = self._div[:, sel]
        # cell-diagonal part of d rhs_ph / d n (the Schur preconditioner's D block), on
        # the ghost cells too (from their owners: the local faces hold only part of a
        # ghost's faces; the subdomain blocks of a parallel Schur preconditioner need
        # them); a read-only zero view without phonon transport (8 M bytes per cell less)
        shape = (self._div.shape[0], self.grid.n_ph)
        if self.cells.max(float(len(sel))) > 0:  # collective: every rank or none
            diag = -(abs(self._div_ph) @ self.G_ph) if len(sel) else np.zeros(shape)
            self.ph_diag = BlockDistribution(self.cells, self.grid.n_ph).ghosted(
                diag[:self.n]).reshape(shape) if self.cells.size > 1 else diag
        else:
            self.ph_diag = np.broadcast_to(np.zeros(self.grid.n_ph), shape)

    def _conductances(self, c: np.ndarray) -> None:
        """QP face conductances :attr:`G` (pairs, N) and boundary conductances
        :attr:`b_G` with the boundary occupations :attr:`b_fn` from the half-cell
        conductances per unit tau ``c`` (cells, N)."""
        g = self.grid
        den = self._setsum @ c  # sum over the cells of every face of c * tau
        ca = c[self.f_a] * self.f_ta[:, None]
        cb = c[self.f_b] * self.f_tb[:, None]
        self.G = g.h * _star(ca, cb, den[self._pair_face])
        bc = self.b_cell
        gb = np.zeros((len(bc), self.N))
        self.b_fn = np.zeros((len(bc), self.N))
        for j, b in enumerate(self.b_bc):
            if b.kind == "bath":
                gb[j] = g.h * c[bc[j]] * self.b_tau[j]
                self.b_fn[j] = self.f_bath
            else:  # tunnel: rate per state times the face's share of the junction area
                share = self.b_area[j] / self._b_area_total[self.b_group[j]]
                gb[j] = b.rate * share * g.h * self.rho[bc[j]]
                self.b_fn[j] = 0.5 * (fermi(g.e - b.bias, b.temperature)
                                      + fermi(g.e + b.bias, b.temperature))
        self.b_G = gb

    def pair_conductances(self, a: np.ndarray, b: np.ndarray, tau_a: np.ndarray,
                          tau_b: np.ndarray) -> np.ndarray:
        """QP conductances (pairs, N) of two-cell faces joining the local cells ``a`` and
        ``b`` (incidences ``tau_a``, ``tau_b``), by :attr:`G`'s formula, for faces the
        local geometry does not hold: those between two ghost cells
        (:func:`fvqp.parallel.overlap.ghost_faces`), which a subdomain preconditioner
        couples as the global matrix does."""
        c = (self.p["weight"] * self.p["diffusion"])[:, None]
        ca = c[a] * self.dl[a] * np.asarray(tau_a)[:, None]
        cb = c[b] * self.dl[b] * np.asarray(tau_b)[:, None]
        return self.grid.h * _star(ca, cb, ca + cb)

    def _fluxes(self, f: np.ndarray):
        Ff = f[self.f_b]  # into a, per bin: G (f_b - f_a) in place (one pairs x N array)
        np.subtract(Ff, f[self.f_a], out=Ff)
        Ff *= self.G
        Fb = self.b_G * (self.b_fn - f[self.b_cell])  # into the domain
        return Ff, Fb

    def _phonon_flux(self, ph: np.ndarray) -> np.ndarray:
        """Phonons per unit time into ``f_a`` of every phonon face pair, per mode."""
        a, b = self.f_a[self.ph_pairs], self.f_b[self.ph_pairs]
        return self.G_ph * (ph[b] - ph[a])


def _star(ca: np.ndarray, cb: np.ndarray, den: np.ndarray) -> np.ndarray:
    """The star-mesh conductance :math:`c_ac_b/\\sum_kc_k` of a face pair (0 where the
    face's sum vanishes)."""
    return np.divide(ca * cb, den, out=np.zeros_like(ca), where=den > 0)
