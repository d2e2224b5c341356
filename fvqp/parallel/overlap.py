r"""Overlapping subdomains of a cell distribution for additive Schwarz.

A one-level Schwarz method loses the coupling that its subdomains cut (Smith, Bjørstad &
Gropp 1996, ch. 1-2): restricted additive Schwarz (Cai & Sarkis 1999) recovers it within
the overlap. Where the couplings are strong only over a short range -- an implicit
diffusion step whose diffusion length per step is a few cells, e.g. across the few cell
layers of a thin film, which a coordinate bisection of the ranks may cut -- an overlap of
that range makes the iteration count independent of the number of ranks without a coarse
level. The layers here follow the *global* face graph (the geometry every rank holds), so
they are not limited to the one layer of ghost cells.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import reverse_cuthill_mckee

from ..setops import distinct

__all__ = ["face_graph", "ghost_faces", "subdomain_cells", "subdomain_rows"]


def face_graph(geometry) -> sp.csr_matrix:
    """Symmetric adjacency of the cells of ``geometry`` (file order): every pair of cells
    sharing a face (all pairs at a junction face of three or more cells, as in wire
    networks)."""
    ptr, inc = geometry.face_ptr, geometry.inc_cell
    deg = np.diff(ptr)
    a, b = [], []
    for k in distinct(deg[deg >= 2]):
        faces = np.flatnonzero(deg == k)
        for i in range(k):
            for j in range(i + 1, k):
                a.append(inc[ptr[faces] + i])
                b.append(inc[ptr[faces] + j])
    a = np.concatenate(a) if a else np.zeros(0, dtype=np.int64)
    b = np.concatenate(b) if b else np.zeros(0, dtype=np.int64)
    n = geometry.n_cells
    return sp.csr_matrix((np.ones(2 * len(a)), (np.concatenate([a, b]),
                                                np.concatenate([b, a]))), shape=(n, n))


def subdomain_cells(cells, layers: int) -> tuple[np.ndarray, np.ndarray]:
    """This rank's owned cells plus ``layers`` layers of face neighbours, in reverse
    Cuthill-McKee order of the subdomain's face graph.

    Parameters
    ----------
    cells : fvqp.parallel.Distribution
        The cell distribution (its global geometry gives the layers).
    layers : int
        Layers of neighbours added (>= 0; 1 = the ghost cells).

    Returns
    -------
    cells : ndarray of int
        Global (distribution) numbers of the subdomain's cells, in elimination order.
    owned : ndarray of bool
        Which of them this rank owns.
    """
    if layers < 0:
        raise ValueError(f"overlap layers must be >= 0, not {layers}")
    graph = face_graph(cells.geometry)
    n = graph.shape[0]
    inside = np.zeros(n, dtype=bool)
    owned_file = cells.local.cells[:cells.local.n_owned]
    inside[owned_file] = True
    for _ in range(layers):
        inside |= (graph @ inside.astype(float)) > 0
    sub = np.flatnonzero(inside)
    order = reverse_cuthill_mckee(graph[sub][:, sub].tocsr(), symmetric_mode=True)
    sub = sub[order]
    is_owned = np.zeros(n, dtype=bool)
    is_owned[owned_file] = True
    return cells.new_of_old[sub], is_owned[sub]


def subdomain_rows(cells, layers: int, bs: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows of :func:`subdomain_cells` for ``bs`` unknowns per cell (cell-major global
    numbering, row ``bs * cell + k``): the subdomain's rows cell by cell in elimination
    order and its owned rows among them."""
    sub, owned = subdomain_cells(cells, layers)
    rows = (sub[:, None] * bs + np.arange(bs)).ravel()
    return rows, rows[np.repeat(owned, bs)]


def ghost_faces(cells) -> tuple[np.ndarray, ...]:
    """The two-cell faces between two ghost cells of this rank: the faces of the one-layer
    subdomain (owned + ghost cells) that its :class:`~fvqp.parallel.LocalGeometry` leaves
    out (it keeps the faces touching an owned cell), for a subdomain solve that couples
    its ghosts as the global matrix does.

    Parameters
    ----------
    cells : fvqp.parallel.Distribution

    Returns
    -------
    a, b : ndarray of int
        Local numbers of the two cells of every such face.
    tau_a, tau_b : ndarray of float
        Their incidences' ``inc_tau`` (as :attr:`LocalGeometry.inc_tau`).

    Faces of three or more cells (junctions) are not returned: their star coupling needs
    cells outside the subdomain (the cell-block solves that use this refuse such meshes,
    :meth:`fvqp.solvers.cellblock_ilu.CellBlockILU.check`).
    """
    g, loc = cells.geometry, cells.local
    local = np.full(g.n_cells, -1, dtype=np.int64)
    local[loc.cells] = np.arange(loc.n_local)
    ghost = np.zeros(g.n_cells, dtype=bool)
    ghost[loc.cells[loc.n_owned:]] = True
    first = g.face_ptr[:-1][np.diff(g.face_ptr) == 2]
    c0, c1 = g.inc_cell[first], g.inc_cell[first + 1]
    keep = ghost[c0] & ghost[c1]
    return (local[c0[keep]], local[c1[keep]], g.inc_tau[first[keep]],
            g.inc_tau[first[keep] + 1])
