r"""Kinetic equations for the energy (fL) and charge (fT) modes on a wire network.

Conservative form of paper Eqs. 9–10 (units Δ0, ξ; D_N = 1):

.. math::
   \partial_x\big(\mathcal D_L\partial_x f_L + j_\epsilon\,\partial_x\phi\, f_T\big)
       &= \mathcal I_L ,\\
   \partial_x\big(\mathcal D_T\partial_x f_T + j_\epsilon\,\partial_x\phi\, f_L\big)
       &= \mathcal R_T f_T ,

which reduce to Eqs. 9–10 where the spectral supercurrent :math:`j_\epsilon\partial_x\phi`
is uniform. For a phase-biased solution (:class:`~fvqp.models.usadel.phase.PhaseSolution`)
the coupling uses the solution's own edge spectral supercurrent
:math:`g_e\mathrm{Im}(\sin^2\bar\theta_e\Delta\chi_e)` instead of
:math:`j_\epsilon\partial_x\phi`, and the general terms of complex χ enter:

.. math::
   \partial_x\big(\mathcal D_L\partial_x f_L - \mathcal T\partial_x f_T
       + j_\epsilon f_T\big) &= \mathcal I_L ,\\
   \partial_x\big(\mathcal D_T\partial_x f_T + \mathcal T\partial_x f_L
       + j_\epsilon f_L\big) &= \mathcal R_T f_T + \mathcal R_L f_L ,

with :math:`\mathcal T=\tfrac12|\sin\theta|^2\sinh 2\mathrm{Im}\chi` and
:math:`\mathcal R_L=\partial_x j_\epsilon=2|\Delta|\mathrm{Im}(\sin\theta\sin(\chi-\phi))`
(taken as the discrete divergence of the edge spectral current, so that equilibrium
fL = tanh, fT = 0 is an exact discrete solution).
Tunnel junctions inject :math:`\kappa N(f^{(N)}_{L,T}-f_{L,T})` at their node
(Eq. 11, electrode distribution Eq. 12); in the charge mode with energy-cell integrals
:math:`\kappa(S_k-\hat N_k f_{T,k})` (:mod:`~fvqp.models.usadel.tunnel`: tunnel currents
accurate for any Γ/δε); a superconducting electrode adds its DOS and an fL–fT mixing
(:mod:`~fvqp.models.usadel.electrode`); reservoirs fix fL, fT. Discretised on the nodes
of the network with edge coefficients the means of the node coefficients.

Without inelastic collisions the energies decouple: the block-diagonal system (one
2n × 2n block per energy) is solved with one sparse LU. With the electron–electron
collision integral (:mod:`fvqp.models.usadel.collisions`) the whole (x, ε) system is
solved by Newton–Krylov with PETSc SNES (see :func:`solve_kinetic`).

E → 0: in a gapped superconductor :math:`\mathcal D_L\to 0` below the gap (exactly 0 for
Γ = ζ = 0). Edge values of D_L are floored at ``dl_floor`` (default 1e-10) so that the
energy block stays regular; with Γ > 0 the floor is far below D_L and has no effect.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .electrode import junction_terms, superconducting, terms_dv
from .spectral import SpectralSolution
from .terminals import dn0_dv
from .triplets import Triplets

log = logging.getLogger(__name__)


@dataclass
class KineticSolution:
    """fL, fT of shape (n_eps, n_nodes) and how they were obtained."""

    eps: np.ndarray
    fL: np.ndarray
    fT: np.ndarray
    spectral: SpectralSolution
    junctions: list
    reservoirs: list
    newton_iterations: int = 0
    linear_iterations: int = 0
    #: tunnel terms as energy-cell integrals (tunnel.py) or point values (assemble)
    cell_average: bool = True


@dataclass
class KineticOperator:
    """The linear part of the discrete kinetic equations, A u = b (all energies)."""

    A: sp.csr_matrix
    b: np.ndarray
    n: int
    ne: int
    dirichlet_rows: np.ndarray
    vol: np.ndarray
    free_L: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def idx(self, comp: int) -> np.ndarray:
        """Global indices (n_eps, n) of component 0 = L, 1 = T."""
        k = np.arange(self.ne)[:, None] * 2 * self.n
        return k + comp * self.n + np.arange(self.n)[None, :]


def assemble(spec: SpectralSolution, reservoirs, junctions, dl_floor: float = 1e-10,
             cell_average: bool = True, energies: slice | None = None):
    """Assemble the linear kinetic operator for all energies (no collision term).

    ``cell_average`` (default) uses the energy-cell integrals of N and N f_T^(N) in the
    charge-mode tunnel terms (:mod:`~fvqp.models.usadel.tunnel`, consistent with the currents of
    :mod:`~fvqp.models.usadel.observables`); ``False`` the point values at ε_k, for
    energies that are not a quadrature grid (the spectral, per-energy problem).
    ``energies``: only the blocks of these energies (the cell integrals still come from
    the whole grid), the matrix of that block of the grid (:class:`BlockLU`)."""
    prob = spec.problem
    net = prob.net
    sl = slice(0, spec.eps.size) if energies is None else energies
    n, ne = net.n_nodes, sl.stop - sl.start
    a, b = net.edge_a, net.edge_b
    g = net.conductance[None, :]
    # the per-energy coefficients of this block only (the whole grid's unless already
    # computed: a rank's share of the work, not the whole grid's on every rank)
    own = spec if (sl.start, sl.stop) == (0, spec.eps.size) or "DL" in spec.__dict__ \
        else spec.energy_block(sl)
    osl = slice(None) if own is not spec else sl
    DL = np.maximum(net.edge_mean(own.DL[osl]), dl_floor) * g
    DT = net.edge_mean(own.DT[osl]) * g
    phase = hasattr(spec, "edge_js")  # phase-biased solution: actual ∂xχ (phase.py)
    if phase:
        js = 0.5 * own.edge_js[osl]
    else:
        js = net.edge_mean(own.jeps[osl]) * (prob.dphi * net.sigma_area)[None, :] * 0.5
    RT, vol = own.RT[osl], net.volume
    base = (np.arange(ne) * 2 * n)[:, None]
    put = Triplets()

    for comp, D in ((0, DL), (1, DT)):
        off = base + comp * n
        put(off + a, off + a, -D)
        put(off + a, off + b, D)
        put(off + b, off + b, -D)
        put(off + b, off + a, D)
    for comp, other in ((0, 1), (1, 0)):  # j_eps dphi coupling, mean of the other mode
        ro, co = base + comp * n, base + other * n
        put(ro + a, co + a, js)
        put(ro + a, co + b, js)
        put(ro + b, co + a, -js)
        put(ro + b, co + b, -js)
    if phase:  # anomalous cross terms -𝒯∂fT (L mode), +𝒯∂fL (T mode), and R_L fL
        X = net.edge_mean(own.cross[osl]) * g
        for ro, co, sg in ((base, base + n, -1.0), (base + n, base, 1.0)):
            put(ro + a, co + a, -sg * X)
            put(ro + a, co + b, sg * X)
            put(ro + b, co + b, -sg * X)
            put(ro + b, co + a, sg * X)
        put(base + n + np.arange(n)[None, :], base + np.arange(n)[None, :],
            -own.node_RL[osl])
    kap = np.zeros((ne, n))  # energy mode: N(eps_k) (x P of an S electrode)
    kapT = np.zeros((ne, n))  # charge mode: cell integral of N (tunnel.py, electrode.py)
    for J in junctions:
        t = junction_terms(spec, J, cell_average)
        kap[:, J.node] += J.kappa * t.cLL[sl]
        kapT[:, J.node] += J.kappa * t.cTT[sl]
        if superconducting(J):  # fL <-> fT mixing of an S electrode (N_+ != N_-)
            put(base + J.node, base + n + J.node, -J.kappa * t.cLT[sl][:, None])
            put(base + n + J.node, base + J.node, -J.kappa * t.cTL[sl][:, None])
    node = np.arange(n)[None, :]
    put(base + node, base + node, -kap)
    put(base + n + node, base + n + node, -kapT - vol[None, :] * RT)
    A = put.csr((2 * n * ne, 2 * n * ne))
    drows = [np.arange(ne) * 2 * n + comp * n + r.node for r in reservoirs for comp in (0, 1)]
    drows = np.concatenate(drows) if drows else np.zeros(0, int)
    keep = np.ones(A.shape[0])
    keep[drows] = 0.0
    A = (sp.diags(keep) @ A + sp.diags(1.0 - keep)).tocsr()
    free_L = np.ones((ne, n), bool)
    for r in reservoirs:
        free_L[:, r.node] = False
    b = rhs(spec, reservoirs, junctions, cell_average)[sl.start * 2 * n:sl.stop * 2 * n]
    return KineticOperator(A=A, b=b, n=n, ne=ne,
                           dirichlet_rows=drows, vol=vol, free_L=free_L)


def rhs(spec: SpectralSolution, reservoirs, junctions,
        cell_average: bool = True) -> np.ndarray:
    """Right-hand side of the kinetic system: tunnel sources and reservoir values."""
    eps = spec.eps
    ne, n = spec.N.shape
    b = np.zeros((ne, 2, n))
    for J in junctions:  # charge mode: cell integral of N f_T^(N) (tunnel.py)
        t = junction_terms(spec, J, cell_average)
        b[:, 0, J.node] -= J.kappa * t.sL
        b[:, 1, J.node] -= J.kappa * t.sT
    for r in reservoirs:
        fLr, fTr = r.distribution(eps)
        b[:, 0, r.node] = fLr
        b[:, 1, r.node] = fTr
    return b.ravel()


def _key(spec, reservoirs, junctions):
    """What the kinetic matrix depends on: the spectral solution, the Dirichlet nodes and
    the junctions (an S electrode's coefficients also on its bias, gap and broadening)."""
    return (id(spec), tuple(r.node for r in reservoirs),
            tuple((j.node, j.kappa) + ((j.bias, j.gap, j.gamma) if superconducting(j) else ())
                  for j in junctions))


class BlockLU:
    """LU factors of the block-diagonal kinetic matrix (one 2n × 2n block per energy)
    with its energies shared by ``split`` (:class:`fvqp.parallel.energies.EnergySplit`):
    each block of energies is factorised and solved where ``split`` puts it, the
    solution gathered in grid order. Without ``split`` (or on one rank) one sparse LU of
    the whole matrix."""

    def __init__(self, A: sp.spmatrix, ne: int, n: int, split=None):
        """``A``: the whole matrix, or with a ``split`` of several ranks the matrix of
        this rank's block of energies (``assemble(..., energies=split.block(ne))``)."""
        self.ne, self.m = ne, 2 * n
        self.split = split if split is not None and split.size > 1 else None
        self.lu = spla.splu(A.tocsc()) if A.shape[0] else None

    def solve(self, b: np.ndarray) -> np.ndarray:
        """A⁻¹ b (b of all energies, flat)."""
        if self.split is None:
            return self.lu.solve(b)
        m = self.m

        def block(sl):
            return self.lu.solve(b[sl.start * m:sl.stop * m]) if self.lu is not None \
                else np.zeros(0)
        return np.concatenate(self.split.map(block, self.ne))


def _factors(spec, reservoirs, junctions, dl_floor, cache, split):
    """The (cached) :class:`BlockLU` of the kinetic matrix, ne, n and the operator's b
    (None when the factors came from the cache)."""
    key = _key(spec, reservoirs, junctions)
    if cache is not None and cache.get("key") == key:
        return cache["lu"], cache["ne"], cache["n"], None
    ne, n = spec.eps.size, spec.problem.net.n_nodes
    if split is not None and split.size > 1:  # this rank's energies only
        op = assemble(spec, reservoirs, junctions, dl_floor, energies=split.block(ne))
        b = None
    else:
        op = assemble(spec, reservoirs, junctions, dl_floor)
        b = op.b
    lu = BlockLU(op.A, ne, n, split)
    if cache is not None:
        cache.update(key=key, lu=lu, ne=ne, n=n, spec_ref=spec)
    return lu, ne, n, b


def solve_linear(spec: SpectralSolution, reservoirs, junctions,
                 dl_floor: float = 1e-10, cache: dict | None = None,
                 split=None) -> KineticSolution:
    """Kinetic equations without inelastic collisions (energies decoupled).

    ``cache`` (a dict) keeps the LU factors while the spectral solution and the junction
    conductances are unchanged: a bias sweep at fixed Δ then costs one back-substitution
    per bias. ``split`` shares the energies over ranks (:class:`BlockLU`).
    """
    lu, ne, n, b = _factors(spec, reservoirs, junctions, dl_floor, cache, split)
    if b is None:
        b = rhs(spec, reservoirs, junctions)
    u = lu.solve(b).reshape(ne, 2, n)
    return KineticSolution(eps=spec.eps, fL=u[:, 0], fT=u[:, 1], spectral=spec,
                           junctions=list(junctions), reservoirs=list(reservoirs))


def bias_derivative(spec: SpectralSolution, reservoirs, junctions, name: str,
                    dl_floor: float = 1e-10, cache: dict | None = None,
                    split=None) -> KineticSolution:
    """∂(fL, fT)/∂V of junction or normal reservoir ``name`` at fixed spectral functions
    (exact: the collisionless kinetic problem is linear in the electrode and reservoir
    distributions of Eq. 12; a reservoir enters through its Dirichlet rows, whose
    derivative is ∂(fL, fT)/∂V of Eq. 12 at its node). For a superconducting electrode
    the matrix depends on V too: A ∂u/∂V = ∂b/∂V − (∂A/∂V) u, i.e. the junction rows take
    −κ ∂/∂V of the tunnel term at the solution u (:func:`.electrode.terms_dv`)."""
    parts = [j for j in junctions if j.name == name]  # a segment junction has many
    ends = [r for r in reservoirs if r.name == name and r.kind == "normal"]
    if not parts and not ends:
        raise ValueError(f"bias_derivative: no junction or normal reservoir {name!r}")
    lu, ne, n, _ = _factors(spec, reservoirs, junctions, dl_floor, cache, split)
    sol = solve_linear(spec, reservoirs, junctions, dl_floor, cache, split) \
        if any(superconducting(j) for j in parts) else None
    b = np.zeros((ne, 2, n))
    for J in parts:
        fL, fT = (0.0, 0.0) if sol is None else (sol.fL[:, J.node], sol.fT[:, J.node])
        rL, rT = terms_dv(spec, J).rows(fL, fT)
        b[:, 0, J.node] -= J.kappa * rL
        b[:, 1, J.node] -= J.kappa * rT
    for r in ends:
        b[:, 0, r.node], b[:, 1, r.node] = dn0_dv(spec.eps, r.bias, r.temperature)
    u = lu.solve(b.ravel()).reshape(ne, 2, n)
    return KineticSolution(eps=spec.eps, fL=u[:, 0], fT=u[:, 1], spectral=spec,
                           junctions=list(junctions), reservoirs=list(reservoirs))
