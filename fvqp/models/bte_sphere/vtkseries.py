r"""The ``bte_sphere`` snapshots as a ParaView/pyvista time series on the (r, ε) plane.

Every snapshot of the sphere (:class:`.driver.SnapshotStore`) is also one ``.vtu`` of
:func:`fvqp.io.vtk.write_vtu` under ``vtu/`` and an entry of ``<case>.pvd``
(:func:`fvqp.io.vtk.write_pvd`), as the mesh models write theirs: a grid of quadrilateral
cells, one per radial cell :math:`i` and QP energy bin :math:`j`, with the points at
:math:`x = r` [m] (cell edges) and :math:`y = E` [µeV] (bin edges :math:`E_j \pm h/2`;
µeV as every energy of fvqp's outputs).
Cell fields, SI, with their units (the ``units`` attribute):

* ``f`` [1]: the angle-averaged occupation :math:`\bar f(r, E)`;
* ``qp_density_per_energy`` [1/(m^3 J)]: :math:`n(r, E) = 4N_0\rho(E)\bar f` — the QPs
  per volume and energy, so that :math:`\sum_{ij} V_i\,h\,n_{ij}` is the run's QP
  number (``summary.json`` ``qp_number``; notes Eq. 9);
* ``qp_excess_per_energy`` [1/(m^3 J)]: the same above the bath,
  :math:`4N_0\rho(E)(\bar f - f_{bath})`.

Field data: ``TIME`` [s] and ``axes`` (what x and y are).
"""

from __future__ import annotations

import os

import numpy as np

from ...io.vtk import read_pvd, write_pvd, write_vtu
from ...units import E_CHARGE

__all__ = ["FIELDS", "SphereSeries"]

#: field -> SI unit label
FIELDS = {"f": "1", "qp_density_per_energy": "1/(m^3 J)",
          "qp_excess_per_energy": "1/(m^3 J)"}


class SphereSeries:
    """The ``.pvd`` series of one run (rank 0 writes; the arrays come gathered).

    Parameters
    ----------
    directory, name
        Output directory and the case name (``<name>.pvd``, ``vtu/<name>_00000.vtu``).
    r_edges_m : ndarray
        Radial cell edges [m].
    e_nodes, h : ndarray, float
        QP bin centres and width (internal energies).
    states : ndarray
        States per energy of each bin (internal; :math:`\\rho` of the spectrum).
    weight : float
        The state weight :math:`4N_0/N_{0,ref}` (internal).
    f_bath : ndarray
        The bath occupation per bin.
    units : fvqp.units.UnitSystem
    resume : bool
        Keep the entries of an existing ``.pvd``.
    """

    def __init__(self, directory: str, name: str, r_edges_m, e_nodes, h: float, states,
                 weight: float, f_bath, units, resume: bool = False):
        self.dir, self.name = directory, name
        self.pvd = os.path.join(directory, f"{name}.pvd")
        self.entries = read_pvd(self.pvd) if resume else []
        u = units
        #: internal QPs per internal volume and energy -> 1/(m^3 J)
        self.per_m3_J = u.scales["number_density"] / u.energy
        self.rho = weight * np.asarray(states, float)
        self.f_bath = np.asarray(f_bath, float)
        r = np.asarray(r_edges_m, float)
        e_nodes = np.asarray(e_nodes, float)
        e_edges = (np.concatenate([e_nodes - h / 2, e_nodes[-1:] + h / 2]) * u.energy
                   / (E_CHARGE * 1e-6))
        nr, ne = len(r) - 1, len(e_nodes)
        xx, yy = np.meshgrid(r, e_edges, indexing="ij")  # point (i, j) -> i * (ne + 1) + j
        self.points = np.column_stack([xx.ravel(), yy.ravel(), np.zeros(xx.size)])
        i, j = np.meshgrid(np.arange(nr), np.arange(ne), indexing="ij")
        p0 = (i * (ne + 1) + j).ravel()
        self.blocks = [("quad", np.column_stack([p0, p0 + ne + 1, p0 + ne + 2, p0 + 1]))]
        os.makedirs(os.path.join(directory, "vtu"), exist_ok=True)

    def truncate(self, time_si: float) -> None:
        """Forget snapshots after ``time_si`` (a resumed run writes them again)."""
        self.entries = [e for e in self.entries if e[0] <= time_si * (1 + 1e-12)]

    def fields(self, fbar: np.ndarray) -> dict[str, np.ndarray]:
        """SI cell fields of an angle average ``fbar`` (radial cells x bins), cells in
        the order of :attr:`blocks` (radial cell major)."""
        fbar = np.asarray(fbar, float)
        n = self.rho[None, :] * fbar * self.per_m3_J
        ex = self.rho[None, :] * (fbar - self.f_bath[None, :]) * self.per_m3_J
        return {"f": fbar.ravel(), "qp_density_per_energy": n.ravel(),
                "qp_excess_per_energy": ex.ravel()}

    def write(self, time_si: float, fbar: np.ndarray) -> str:
        """One snapshot; returns the file the ``.pvd`` points to."""
        rel = os.path.join("vtu", f"{self.name}_{len(self.entries):05d}.vtu")
        write_vtu(os.path.join(self.dir, rel), self.points, self.blocks, self.fields(fbar),
                  FIELDS, time_si, {"axes": ["x: radius r [m]", "y: QP energy E [ueV]"]})
        self.entries.append((time_si, rel))
        write_pvd(self.pvd, self.entries)
        return rel
