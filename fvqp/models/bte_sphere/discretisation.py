r"""Radial finite volumes and Gauss-Legendre ordinates of the spherical BTE.

Conservative streaming operator in spherical symmetry (Lewis & Miller, *Computational
Methods of Neutron Transport*, Wiley 1984, Ch. 4):

.. math::
    \hat p\cdot\nabla\psi = \mu\,\partial_r\psi + \frac{1-\mu^2}{r}\,\partial_\mu\psi
    = \frac{\mu}{r^2}\,\partial_r(r^2\psi) + \frac1r\,\partial_\mu\big((1-\mu^2)\psi\big),

:math:`\mu = \cos\theta` the cosine between the momentum direction and :math:`\hat r`.

Radial cells :math:`[r_{i-1/2}, r_{i+1/2}]` (``i = 0..I-1``, :math:`r_{-1/2} = 0`,
:math:`r_{I-1/2} = R`) with volumes :math:`V_i = \tfrac{4\pi}{3}(r_{i+1/2}^3 -
r_{i-1/2}^3)` and face areas :math:`A_{i+1/2} = 4\pi r_{i+1/2}^2`; Gauss-Legendre
ordinates :math:`\mu_k`, weights :math:`w_k` (:math:`\sum_k w_k = 2`, ``k = 0..K-1``,
ascending :math:`\mu`). Integrating over cell ``i`` and direction cell ``k``:

.. math::
    (L\psi)_{ik} = \mu_k\big(A_{i+1/2}\psi_{i+1/2,k} - A_{i-1/2}\psi_{i-1/2,k}\big)
        + \frac{A_{i+1/2} - A_{i-1/2}}{w_k}
          \big(\alpha_{k+1/2}\psi_{i,k+1/2} - \alpha_{k-1/2}\psi_{i,k-1/2}\big),

with the angular-differencing coefficients
:math:`\alpha_{k+1/2} = \alpha_{k-1/2} - w_k\mu_k`, :math:`\alpha_{1/2} = 0`
(:math:`\alpha_{K+1/2} = -\sum_k w_k\mu_k = 0` for the symmetric quadrature;
:math:`\alpha_{k+1/2} \approx (1 - \mu_{k+1/2}^2)/2 \ge 0`). Properties (tested):

* **conservation**: :math:`\sum_k w_k\,(L\psi)_{ik}` telescopes in ``k`` (the angular
  term redistributes between directions only) and :math:`\sum_i` telescopes in ``i``, so
  the only net change of :math:`\sum_{ik} w_k\psi_{ik}` comes through
  :math:`A_{I-1/2} = 4\pi R^2` (:math:`A_{-1/2} = 0`: symmetry at the centre needs no
  condition);
* **isotropic uniform state**: for :math:`\psi_{ik} = c`,
  :math:`(L\psi)_{ik} = c\,(A_{i+1/2}-A_{i-1/2})(\mu_k - \mu_k) = 0` exactly, whatever
  the face values of the schemes below (they are all ``c``);
* **positivity** with the default *step* (upwind) differencing: radial face values from
  the upwind cell (:math:`\mu_k > 0`: inner cell; :math:`\mu_k < 0`: outer cell), angular
  face values :math:`\psi_{k+1/2} = \psi_k` (the angular flow runs from :math:`\mu = -1`
  to :math:`+1`, :math:`\alpha \ge 0`). The implicit matrix (storage + L) then has a
  positive diagonal, non-positive off-diagonals and non-negative weighted column sums:
  an M-matrix, so a backward-Euler step maps :math:`\psi \ge 0` to :math:`\psi \ge 0`.
  The *diamond* option (radial face value the mean of the two cells, second order in
  :math:`\Delta r` for smooth solutions) loses this property; it is meant for the
  convergence study, not for production runs. The *limited* option
  (:mod:`.limiter`) is diamond with a positivity limiter: this stencil provides its step
  part, the limiter the (state-dependent) face corrections. Angular differencing is
  always step (first order in :math:`1/K`).

Boundary at :math:`r = R`: outgoing directions leave with the cell value; incoming ones
carry ``vacuum`` (0), ``bath`` (the thermal occupation: a reservoir at the bath
temperature, through which the *excess* energy flows out freely) or ``specular``
(:math:`\psi(-\mu_k) = \psi(\mu_k)`, the mirror ordinate of the symmetric quadrature;
nothing leaves).

Lengths in µm (internal units).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["OUTER_KINDS", "SCHEMES", "Ordinates", "RadialMesh", "StreamingStencil",
           "radial_distribution", "streaming_stencil"]

OUTER_KINDS = ("vacuum", "bath", "specular")
SCHEMES = ("step", "diamond", "limited")


@dataclass(frozen=True)
class RadialMesh:
    """Radial cells of a sphere of radius ``R`` (``edges[0] = 0``, ``edges[-1] = R``)."""

    edges: np.ndarray

    @classmethod
    def uniform(cls, radius: float, n: int) -> RadialMesh:
        return cls(np.linspace(0.0, radius, int(n) + 1))

    @property
    def n(self) -> int:
        return len(self.edges) - 1

    @property
    def radius(self) -> float:
        return float(self.edges[-1])

    @cached_property
    def centres(self) -> np.ndarray:
        """Volume-weighted centres :math:`(3/4)(r_+^4 - r_-^4)/(r_+^3 - r_-^3)`."""
        a, b = self.edges[:-1], self.edges[1:]
        return 0.75 * (b**4 - a**4) / (b**3 - a**3)

    @cached_property
    def volumes(self) -> np.ndarray:
        a, b = self.edges[:-1], self.edges[1:]
        return 4.0 * math.pi / 3.0 * (b**3 - a**3)

    @cached_property
    def areas(self) -> np.ndarray:
        """Face areas :math:`4\\pi r_{i+1/2}^2`, ``i = -1..I-1`` (length ``I + 1``)."""
        return 4.0 * math.pi * self.edges**2


@dataclass(frozen=True)
class Ordinates:
    r"""Gauss-Legendre ordinates in :math:`\mu` with angular-differencing coefficients."""

    mu: np.ndarray
    w: np.ndarray

    @classmethod
    def gauss_legendre(cls, k: int) -> Ordinates:
        if k < 2 or k % 2:
            raise ValueError(f"the number of ordinates must be even and >= 2, got {k}")
        mu, w = np.polynomial.legendre.leggauss(int(k))
        return cls(mu, w)

    @property
    def k(self) -> int:
        return len(self.mu)

    @cached_property
    def alpha(self) -> np.ndarray:
        r""":math:`\alpha_{k+1/2}`, ``k = -1..K-1`` (length ``K + 1``, both ends zero)."""
        a = np.concatenate([[0.0], -np.cumsum(self.w * self.mu)])
        a[-1] = 0.0  # exactly: sum w mu = 0 for the symmetric rule
        return np.maximum(a, 0.0)

    @cached_property
    def mirror(self) -> np.ndarray:
        """Index of :math:`-\\mu_k` (ascending symmetric rule: ``K - 1 - k``)."""
        return self.k - 1 - np.arange(self.k)

    def average(self, x: np.ndarray, axis: int = -1) -> np.ndarray:
        r""":math:`\bar x = \sum_k w_k x_k / 2` along ``axis``."""
        return np.moveaxis(x, axis, -1) @ (self.w / 2.0)


@dataclass
class StreamingStencil:
    r"""Sparse :math:`-L` (net inflow) on local ``(cell, k)`` indices ``cell * K + k``.

    ``rows, cols, vals`` give :math:`-(L\psi)_{ik}` for the owned cells (rows) in terms of
    local cells (columns, owned or ghost); ``inflow`` is the constant incoming boundary
    term per unit boundary occupation (``bath``: multiply by the bath occupation), shape
    (n_owned, K); ``out_rows/out_vals`` give the net outward flux through ``r = R``
    (per unit weight :math:`w_k`) as ``sum(out_vals * psi[out_rows])`` plus
    ``sum(in_vals * psi_boundary)`` over the incoming ``in_rows`` (``bath`` only).
    """

    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    inflow: np.ndarray
    out_rows: np.ndarray
    out_vals: np.ndarray
    in_rows: np.ndarray
    in_vals: np.ndarray


def streaming_stencil(mesh: RadialMesh, ords: Ordinates, cells: np.ndarray, n_owned: int,
                      outer: str = "vacuum", scheme: str = "step") -> StreamingStencil:
    r"""Coefficients of :math:`-L` (module docstring) for the local cells.

    Parameters
    ----------
    mesh, ords
        Radial mesh and ordinates.
    cells : ndarray of int
        Global radial index of every local cell (owned first, then ghosts); the radial
        neighbours of every owned cell must be local.
    n_owned : int
    outer : {"vacuum", "bath", "specular"}
    scheme : {"step", "diamond", "limited"}
        Radial face values: upwind (positive) or the two-cell mean (second order);
        ``limited`` gives the step stencil (:mod:`.limiter` adds the corrections).
    """
    if outer not in OUTER_KINDS:
        raise ValueError(f"outer boundary must be one of {OUTER_KINDS}, not {outer!r}")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, not {scheme!r}")
    if scheme == "limited":  # step stencil + the face corrections of .limiter
        scheme = "step"
    K, I_ = ords.k, mesh.n
    loc = {int(c): i for i, c in enumerate(cells)}
    A = mesh.areas
    rows, cols, vals = [], [], []
    inflow = np.zeros((n_owned, K))
    out_r, out_v, in_r, in_v = [], [], [], []
    kk = np.arange(K)
    mu, w, al = ords.mu, ords.w, ords.alpha
    pos = mu > 0

    def add(r, c, v):
        rows.append(np.asarray(r))
        cols.append(np.asarray(c))
        vals.append(np.asarray(v, dtype=float))

    for li in range(n_owned):
        gi = int(cells[li])
        me = li * K + kk
        ap, am = A[gi + 1], A[gi]
        # angular redistribution (step): out of k towards k+1 with alpha_{k+1/2}
        d_a = (ap - am) / w
        add(me, me, -d_a * al[1:])
        add(me[1:], me[:-1], d_a[1:] * al[1:-1])
        # radial faces
        th = 1.0 if scheme == "step" else 0.5
        # outer face i+1/2: flux mu A psi_face leaves (mu > 0) or enters (mu < 0)
        if gi + 1 < I_:
            nb = loc[gi + 1] * K + kk
            up = np.where(pos, th, 1.0 - th)  # weight of this cell in the face value
            add(me, me, -mu * ap * up)
            add(me, nb, -mu * ap * (1.0 - up))
        else:
            add(me[pos], me[pos], -mu[pos] * ap)
            out_r.append(me[pos])
            out_v.append(mu[pos] * ap)
            neg = ~pos
            if outer == "specular":
                add(me[neg], me[ords.mirror[neg]], -mu[neg] * ap)
                out_r.append(me[ords.mirror[neg]])
                out_v.append(mu[neg] * ap)
            elif outer == "bath":
                inflow[li, neg] = -mu[neg] * ap
                in_r.append(me[neg])
                in_v.append(mu[neg] * ap)
        # inner face i-1/2 (area 0 at the centre)
        if gi > 0:
            nb = loc[gi - 1] * K + kk
            up = np.where(pos, 1.0 - th, th)  # weight of this cell in the face value
            add(me, me, mu * am * up)
            add(me, nb, mu * am * (1.0 - up))

    def cat(x, dt=float):
        return np.concatenate(x).astype(dt) if x else np.zeros(0, dt)

    return StreamingStencil(cat(rows, np.int64), cat(cols, np.int64), cat(vals), inflow,
                            cat(out_r, np.int64), cat(out_v), cat(in_r, np.int64),
                            cat(in_v))


def radial_distribution(mesh: RadialMesh, comm=None, halo: int = 1):
    """The radial cells as a :class:`fvqp.parallel.Distribution` (a chain of cells along
    x; contiguous blocks per rank, ``halo`` ghost cells on each side of a rank's block:
    ``halo = 2`` adds zero-area links between cells ``i`` and ``i + 2``, which only make
    the second neighbours ghosts, for the five-cell rows of the limited scheme)."""
    from ...mesh.geometry import Geometry
    from ...parallel import Distribution

    n = mesh.n
    c = np.zeros((n, 3))
    c[:, 0] = mesh.centres
    nf = n + 1
    # faces 0..n: face f joins cells f-1 and f (boundary faces 0 and n have one cell)
    inc_face = np.concatenate([[0], np.repeat(np.arange(1, n), 2), [n]])
    inc_cell = np.concatenate([[0], np.column_stack([np.arange(n - 1),
                                                     np.arange(1, n)]).ravel(), [n - 1]])
    area, fc_x = mesh.areas.copy(), mesh.edges.copy()
    if halo >= 2 and n > 2:  # links i -- i+2 (faces n+1 .., area 0)
        m = n - 2
        inc_face = np.concatenate([inc_face, np.repeat(nf + np.arange(m), 2)])
        inc_cell = np.concatenate([inc_cell, np.column_stack([np.arange(m),
                                                              np.arange(2, n)]).ravel()])
        area = np.concatenate([area, np.zeros(m)])
        fc_x = np.concatenate([fc_x, mesh.centres[1:-1]])
        nf += m
    fc = np.zeros((nf, 3))
    fc[:, 0] = fc_x
    ptr = np.concatenate([[0], np.cumsum(np.bincount(inc_face, minlength=nf))])
    normal = np.zeros((nf, 3))
    normal[:, 0] = 1.0
    geo = Geometry(dim=1, volume=mesh.volumes.copy(), centroid=c,
                   cell_region=np.zeros(n, dtype=np.int64), region_names=["sphere"],
                   face_area=area, face_centroid=fc, face_normal=normal,
                   face_group=np.where(np.arange(nf) == n, 0, -1).astype(np.int64),
                   group_names=["surface"], face_ptr=ptr.astype(np.int64),
                   inc_face=inc_face.astype(np.int64), inc_cell=inc_cell.astype(np.int64),
                   inc_tau=np.ones(len(inc_cell)), max_nonorthogonality=0.0,
                   cell_nodes=[], points=fc)
    return Distribution(geo, comm)
