r"""Wire networks from 1D meshes: a vertex-centred finite-volume discretisation.

Unknowns live on the *mesh nodes* (the points of the line cells). Every line cell is an
edge :math:`e=(a,b)` of length :math:`L_e` carrying the flux

.. math::  J_{e} = \frac{D_e A_e}{L_e}\,(u_b-u_a) + \dots

(in units where lengths are in the coherence length :math:`\xi=\sqrt{\hbar D_N/\Delta_0}`
and conductances in :math:`1/R_\xi`, :math:`R_\xi=\rho_N\xi/A_\mathrm{ref}`, paper Eq. 2 and
text after Eq. 6). A node's control volume is half of each adjacent edge,
:math:`V_a=\sum_e A_e L_e/2`. Nodes where more than two edges meet are network nodes;
summing the edge fluxes there is Kirchhoff's law for every spectral and kinetic current.
Tunnel junctions sit on named nodes (point terms), reservoirs on named end nodes
(Dirichlet values). The scheme is second order in the node spacing for smooth meshes
(verified in ``tests/test_usadel_spectral.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass
class WireNetwork:
    """Nodes and edges of a wire network (dimensionless: lengths in ξ).

    Attributes
    ----------
    points : ndarray (n_nodes, 3)
        Node coordinates in ξ.
    edge_a, edge_b : ndarray of int
        End nodes of every edge (mesh cell orientation, a -> b).
    length, area, diffusion : ndarray
        Edge length (ξ); ``area`` the cross-section times the normal-state density of
        states relative to the reference wire, A N0 / (A N0)_ref (the weight of the
        energy, pair-potential and collision terms per length), and ``diffusion``
        D / D_ref. Their product is the normal conductance per length σA / (σA)_ref,
        σ = e²N0 D = 1/ρ, which weighs the spectral currents (diffusion, supercurrent).
    edge_region : ndarray of int
    region_names : list of str
    groups : dict of str -> ndarray of int
        Named nodes (junctions, reservoirs, network nodes) from the mesh's point groups.
    """

    points: np.ndarray
    edge_a: np.ndarray
    edge_b: np.ndarray
    length: np.ndarray
    area: np.ndarray
    diffusion: np.ndarray
    edge_region: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    region_names: list = field(default_factory=list)
    groups: dict = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return int(self.points.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.edge_a.size)

    @property
    def sigma_area(self) -> np.ndarray:
        """σA of every edge relative to the reference wire (= diffusion × area)."""
        return self.diffusion * self.area

    @property
    def conductance(self) -> np.ndarray:
        """Edge conductance σ_e A_e / L_e in units of 1/R_ξ."""
        return self.sigma_area / self.length

    @property
    def volume(self) -> np.ndarray:
        """Node control volumes :math:`\\sum_e A_e L_e/2` (units ξ A_ref)."""
        v = np.zeros(self.n_nodes)
        half = 0.5 * self.area * self.length
        np.add.at(v, self.edge_a, half)
        np.add.at(v, self.edge_b, half)
        return v

    @property
    def degree(self) -> np.ndarray:
        d = np.zeros(self.n_nodes, dtype=int)
        np.add.at(d, self.edge_a, 1)
        np.add.at(d, self.edge_b, 1)
        return d

    def network_nodes(self) -> np.ndarray:
        """Nodes where more than two wires meet."""
        return np.flatnonzero(self.degree > 2)

    def node(self, name: str) -> int:
        """The single node of a named point group."""
        if name not in self.groups:
            raise KeyError(f"no named node {name!r}; the mesh has {sorted(self.groups)}")
        nodes = self.groups[name]
        if nodes.size != 1:
            raise ValueError(f"group {name!r} has {nodes.size} nodes, expected one")
        return int(nodes[0])

    def incidence(self) -> sp.csr_matrix:
        """Signed edge-node incidence B (n_edges, n_nodes): (B u)_e = u_b - u_a."""
        ne = self.n_edges
        rows = np.repeat(np.arange(ne), 2)
        cols = np.stack([self.edge_a, self.edge_b], axis=1).ravel()
        vals = np.tile([-1.0, 1.0], ne)
        return sp.csr_matrix((vals, (rows, cols)), shape=(ne, self.n_nodes))

    def laplacian(self, weight: np.ndarray | None = None) -> sp.csr_matrix:
        r"""Weighted graph Laplacian :math:`-B^T \mathrm{diag}(g_e w_e) B` (negative
        semi-definite): ``(L u)_a`` is the net flux into node a."""
        B = self.incidence()
        g = self.conductance if weight is None else self.conductance * weight
        return -(B.T @ sp.diags(g) @ B).tocsr()

    def distances(self, source: int) -> np.ndarray:
        """Distances (ξ) along the wires from node ``source`` to every node."""
        from scipy.sparse.csgraph import dijkstra

        n = self.n_nodes
        w = sp.coo_matrix((self.length, (self.edge_a, self.edge_b)), shape=(n, n)).tocsr()
        return dijkstra(w, directed=False, indices=source)

    def edge_mean(self, u: np.ndarray) -> np.ndarray:
        """Edge averages of node values along the last axis."""
        return 0.5 * (u[..., self.edge_a] + u[..., self.edge_b])

    def arclength(self) -> np.ndarray:
        """Signed coordinate along a single chain (x of the nodes for a straight wire)."""
        p = self.points
        d = p - p.mean(axis=0)
        u, s, vt = np.linalg.svd(d, full_matrices=False)
        return d @ vt[0] * np.sign(vt[0][np.argmax(np.abs(vt[0]))])


def network_from_mesh(raw, xi: float, mesh_scale: float = 1.0,
                      areas: dict | None = None, diffusions: dict | None = None,
                      regions=None) -> WireNetwork:
    """Build a :class:`WireNetwork` from a 1D :class:`fvqp.mesh.RawMesh`.

    Parameters
    ----------
    raw
        Mesh read by :func:`fvqp.mesh.read_mesh` (line cells).
    xi
        Coherence length in mesh units (after ``mesh_scale``).
    mesh_scale
        Length of one mesh unit in the units of ``xi``.
    areas, diffusions
        Per-region ``area`` weight A N0 / (A N0)_ref and diffusion constant D / D_ref
        (see :class:`WireNetwork`); default 1.
    regions
        Regions to keep (default all).
    """
    if raw.dim != 1:
        raise ValueError(f"{raw.path}: the usadel model needs a 1D (line) mesh, "
                         f"got a {raw.dim}D mesh")
    if regions is not None:
        raw = raw.subset(regions)
    conn = np.concatenate([c for t, c in raw.blocks if t == "line"])
    used = np.unique(conn)
    remap = -np.ones(raw.points.shape[0], dtype=int)
    remap[used] = np.arange(used.size)
    pts = raw.points[used] * mesh_scale / xi
    a, b = remap[conn[:, 0]], remap[conn[:, 1]]
    length = np.linalg.norm(pts[b] - pts[a], axis=1)
    names = list(raw.region_names)
    areas = areas or {}
    diffusions = diffusions or {}
    area = np.array([areas.get(n, 1.0) for n in names])[raw.cell_region]
    diff = np.array([diffusions.get(n, 1.0) for n in names])[raw.cell_region]
    groups = {}
    for name, arrs in raw.facet_groups.items():
        nodes = np.unique(np.concatenate([np.asarray(x).ravel() for x in arrs]))
        nodes = remap[nodes]
        if (nodes >= 0).all():
            groups[name] = nodes
    return WireNetwork(points=pts, edge_a=a, edge_b=b, length=length, area=area,
                       diffusion=diff, edge_region=np.asarray(raw.cell_region),
                       region_names=names, groups=groups)


def uniform_wire(length: float, n_edges: int, name_ends=("left", "right"),
                 points: dict | None = None, x0: float | None = None) -> WireNetwork:
    """A straight wire on ``[x0, x0+length]`` (default centred on 0) with ``n_edges``
    equal edges; ``points`` maps extra names to coordinates that must be nodes."""
    x0 = -0.5 * length if x0 is None else x0
    x = x0 + np.linspace(0.0, length, n_edges + 1)
    pts = np.zeros((x.size, 3))
    pts[:, 0] = x
    a = np.arange(n_edges)
    groups = {name_ends[0]: np.array([0]), name_ends[1]: np.array([n_edges])}
    for name, xp in (points or {}).items():
        i = int(np.argmin(np.abs(x - xp)))
        if abs(x[i] - xp) > 1e-9 * max(1.0, length):
            raise ValueError(f"point {name!r} at {xp} is not a node of the uniform wire")
        groups[name] = np.array([i])
    ones = np.ones(n_edges)
    return WireNetwork(points=pts, edge_a=a, edge_b=a + 1, length=np.diff(x), area=ones,
                       diffusion=ones.copy(), edge_region=np.zeros(n_edges, int),
                       region_names=["wire"], groups=groups)
