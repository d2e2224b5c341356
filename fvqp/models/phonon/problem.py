r"""Discrete-ordinates phonon Boltzmann equation on a distributed mesh: operators, solves.

Unknowns: the phonon occupation :math:`n_{c,j,k}` of cell :math:`c`, energy bin :math:`j`
(:math:`\Omega_j = (j+1)h`) and ordinate :math:`k`, plus the angle average
:math:`\phi = \sum_k w_kn_k` as an auxiliary unknown per cell and bin (the layout of
:mod:`fvqp.ordinates.streaming`). Per region :math:`r` (one effective branch, velocity
:math:`v_r`, states per energy and volume :math:`g_r(\Omega) =
3\Omega^2/(2\pi^2\hbar^3v_r^3)`), in conservative form (BoltzPhlow notes Eq. 38 with the
phonon collision terms of bulk relaxation instead of Eqs. 39–40):

.. math::
    g_j\partial_t n_k + \nabla\cdot(g_jv\,\Omega_kn_k)
    = g_j\gamma^I_j(\phi - n_k) - g_j(\gamma^A_j + \Gamma_j)(n_k - n_B)
      + \sum_{j' > j}\frac{2}{j'}\,g_{j'}\gamma^A_{j'}(\phi_{j'} - n_{B,j'}) + q_j,

* isotope scattering :math:`\gamma^I = A\nu^4` (elastic, isotropic: conserves the phonons
  of every bin and direction-averages them);
* anharmonic down-conversion :math:`\gamma^A = B\nu^5` of the excess over the bath
  occupation :math:`n_B` (linearised about the bath): a phonon of :math:`\Omega_{j'} =
  (j'+1)h` splits into :math:`(ih, \Omega_{j'} - ih)` with :math:`i` uniform in
  :math:`1..j'`; the products are isotropic (or, with ``decay_kernels``, on their
  kinematic cones around the parent's direction: :mod:`.decay_angles`,
  :meth:`PhononProblem.add_decay_gains`). Per decay 2 phonons and exactly the energy
  :math:`\Omega_{j'}` arrive in the lower bins, so energy is conserved to round-off;
  the lowest bin does not decay;
* with L and T branches stacked as bins (``products`` per region, ``exchange``;
  :mod:`.branches`): L decays into T + T and L + T by the medium's channel fractions, T
  does not decay, and isotope scattering crosses the branches,
  :math:`+X_j(\phi_{b'} - \phi_b)` in the rows of branch :math:`b` (the L and T bins of
  an energy are then one system, as with ``amm_modes``);
* :math:`\Gamma_j`: absorption in a region (``absorption_time`` above
  ``absorption_threshold``; e.g. pair breaking in a film) towards :math:`n_B`;
* :math:`q_j`: isotropic sources.

Interfaces between different media (:mod:`.mismatch`): ``amm`` (angle-resolved acoustic
mismatch, :func:`fvqp.ordinates.angular_interface_matrix` with reciprocal re-emission),
``dmm`` (diffuse mismatch, :func:`fvqp.ordinates.interface_matrix`) or, with L and T
branches, ``amm_modes`` (elastic mismatch with L/T mode conversion, :mod:`.modes`,
:mod:`.mode_interface`: the two branches of one energy form one system). The bins couple
only downwards (decay), so every time step (backward Euler / BDF2, fixed step) and the
steady state solve one linear system per bin (per energy with ``amm_modes``) from the
highest down, each by PETSc GMRES with block-Jacobi ILU: the systems, their caches and
the sweep are :mod:`.bins` (:class:`~.bins.BinSweeps`, a base of :class:`PhononProblem`);
this module holds the problem's data, its interfaces, operators, right-hand sides and
observables.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ...ordinates import (
    Quadrature,
    angular_interface_matrix,
    build_streaming,
    interface_matrix,
    reciprocal_scaling,
)
from ...parallel.blocked import BlockDistribution
from ...solvers.diagonal import ShiftedSystems
from ...solvers.options import apply_options, normalise_prefix
from .bins import BinSweeps
from .mismatch import amm_transmission, dmm_transmission
from .mode_interface import channel_fractions, mode_fractions, mode_interface_matrix

log = logging.getLogger("fvqp.phonon")


def flow_name(key: str, regions: Sequence[str]) -> str:
    """The name of an :meth:`PhononProblem.energy_rates` key in outputs: ``region:<i>``
    (the index of the absorbing region) becomes ``region:<its name>``; the others stay."""
    return f"region:{regions[int(key.split(':')[1])]}" if key.startswith("region:") \
        else key


__all__ = ["DEFAULT_PETSC", "PhononProblem", "PhononSource"]

#: PETSc defaults under the case's prefix (case file and command line override)
DEFAULT_PETSC = {"ksp_type": "gmres", "ksp_rtol": 1e-13, "ksp_atol": 1e-300,
                 "ksp_max_it": 2000, "ksp_gmres_restart": 200, "pc_type": "bjacobi",
                 "sub_pc_type": "ilu", "ksp_pc_side": "right"}


@dataclass
class PhononSource:
    """Isotropic phonons: energy rate ``rate(t0, t1)`` (internal energy per time unit,
    step average) over owned cells by ``weights`` and over bins by ``spectrum`` (phonons
    per unit energy: :math:`\\sum_j\\Omega_j s_j = 1`); ``profile``: its time profile
    (:class:`fvqp.mesh.sources.PulseProfile` or ``PowerProfile``: the breakpoints and the
    step limit inside a pulse that adaptive steps follow), or None."""

    weights: np.ndarray
    spectrum: np.ndarray
    rate: object
    profile: object = None


class ScaledOperators(Sequence):
    r"""Per bin an interface operator, stored once per family of proportional ones.

    The ``dmm`` operator of a bin is linear in the flux speeds :math:`G = gv` of the two
    sides at fixed transmissions, and the transmissions depend only on their ratio
    (:func:`.mismatch.dmm_transmission`): where every face's :math:`G` of bin :math:`j`
    is one number :math:`c` times those of a stored bin (Debye-like states
    :math:`\propto\Omega^2` in every region: :math:`c = (\Omega_j/\Omega_0)^2`), bin
    :math:`j`'s operator is :math:`c` times that one's, formed when asked for
    (``ops[j]``) instead of kept (2026-11-23: 28 bytes per phonon unknown on the chip
    layout with 24 ordinates)."""

    def __init__(self):
        self.base: list = []        # (operator, the G it was built with)
        self._of: list = []         # per bin: (index into base, factor)

    def scaled(self, g: np.ndarray) -> bool:
        """Bin ``len(self)`` is a multiple of a stored operator (recorded) or not."""
        for i, (_, g0) in enumerate(self.base):
            nz = g0 != 0
            if not nz.any() or not np.array_equal(g != 0, nz):
                continue
            c = g[nz] / g0[nz]
            if np.allclose(c, c[0], rtol=1e-14, atol=0):
                self._of.append((i, float(c[0])))
                return True
        return False

    def add(self, op, g: np.ndarray) -> None:
        """Store the operator of bin ``len(self)``, built with the flux speeds ``g``."""
        self.base.append((op, g))
        self._of.append((len(self.base) - 1, 1.0))

    def __len__(self) -> int:
        return len(self._of)

    def __getitem__(self, j):
        i, c = self._of[j]
        op = self.base[i][0]
        return op if c == 1.0 else op * c


@dataclass
class PhononProblem(BinSweeps):
    """Discrete-ordinates phonon transport on one rank (module docstring).

    Parameters
    ----------
    dist : fvqp.parallel.Distribution
    quad : Quadrature
    h : float
        Bin width; bin ``j`` holds :math:`\\Omega_j = (j+1)h`.
    N : int
        Number of bins.
    medium : ndarray of int, shape (R,)
        Medium index of every region (equal media: no interface between them).
    states : ndarray, shape (R, N)
        :math:`g_r(\\Omega_j)` (internal states per energy and volume).
    speed : ndarray, shape (R,)
        Effective sound velocity per region.
    impedance : ndarray, shape (R,)
        Acoustic impedance per region (``amm``).
    isotope, decay, absorb : ndarray, shape (R, N)
        Rates :math:`\\gamma^I`, :math:`\\gamma^A` (0 in bin 0), :math:`\\Gamma`.
    widths : ndarray, shape (R,)
        Extrusion widths (2D meshes), 1 in 3D.
    kinds : dict
        Boundary group -> ``inflow``/``specular``/``diffuse``.
    n_in : dict
        Inflow group -> occupation per bin entering through it.
    n_bath : ndarray, shape (N,)
    interface : str
        ``amm``, ``dmm`` or ``amm_modes`` (L and T branches stacked as bins ``j`` and
        ``j + N/2`` of equal energy, ``speed`` and ``impedance`` per bin).
    reflection : str
        Reflected part (same branch) at ``amm``/``amm_modes`` interfaces: ``specular``
        or ``diffuse``.
    """

    dist: object
    quad: Quadrature
    h: float
    N: int
    medium: np.ndarray
    states: np.ndarray
    speed: np.ndarray
    impedance: np.ndarray
    isotope: np.ndarray
    decay: np.ndarray
    absorb: np.ndarray
    widths: np.ndarray
    kinds: dict
    n_in: dict
    n_bath: np.ndarray
    sources: list = field(default_factory=list)
    interface: str = "amm"
    reflection: str = "specular"
    prefix: str = "phonon_"
    petsc: dict = field(default_factory=dict)
    #: per-bin energies (default (j+1) h) and decay products: ``products[q, j]`` phonons
    #: into bin q per decay in bin j, (N, N) or per region (R, N, N)
    energies: np.ndarray | None = None
    products: np.ndarray | None = None
    #: L and T stacked (bins ``j``, ``j + N/2``): isotope exchange coefficient
    #: :math:`X = \gamma^Ig_Lg_T/(g_L + g_T)` per region and energy, (R, N/2)
    #: (:func:`.branches.isotope_exchange`); the two bins of an energy form one system
    exchange: np.ndarray | None = None
    #: ``amm_modes``: fractions of each ordinate averaged over its band of mu
    #: (:func:`.mode_interface.ordinate_bands`, ``"band"``) or at its mu (``"point"``)
    mode_average: str = "band"
    #: sweeps with ``extra`` (the chip chain's film rates, :meth:`sweep`): ``True`` puts
    #: them on the diagonal of matrices built once, in place (values only), solved by
    #: one KSP whose preconditioner is set up anew per bin (:meth:`_shifted`); ``False``
    #: builds and destroys a system per bin and sweep (the path before 2026-11-23, kept
    #: for comparisons: ``benchmarks/chip_deposit.py --compare``)
    reuse: bool = True
    #: directions of the decay products (``[phonons] decay_angles = "kinematic"``,
    #: :mod:`.decay_angles`): region -> {decaying bin j: (product bins (Q,), kernels
    #: (Q, K, K))}, the phonons per decay from ``products``; regions not listed (and
    #: ``None``) emit isotropically
    decay_kernels: dict | None = None

    def __post_init__(self):
        loc = self.dist.local
        self.loc, self.n = loc, loc.n_owned
        self.K, self.B = self.quad.n, self.quad.n + 1
        if self.energies is None:    # one branch: bin j holds (j+1) h
            self.omega = (np.arange(self.N) + 1.0) * self.h
        else:                        # branches stacked: the energy of every bin
            self.omega = np.asarray(self.energies, dtype=float)
        if self.products is None:    # 2/j' phonons into each lower bin per decay in j'
            jj = np.arange(self.N)
            self.products = np.where(jj[:, None] < jj[None, :],
                                     2.0 / np.maximum(jj[None, :], 1), 0.0)
        R = len(self.states)
        self.vel = np.broadcast_to(np.asarray(self.speed, float).reshape(R, -1),
                                   (R, self.N))
        self.imp = np.broadcast_to(np.asarray(self.impedance, float).reshape(R, -1),
                                   (R, self.N))
        self.bdist = BlockDistribution(self.dist, self.B)
        med = np.asarray(self.medium)
        cut = med[:, None] != med[None, :]
        normals = self.dist.geometry.face_normal[loc.faces]
        self.stream = build_streaming(loc, normals, self.widths, self.quad, self.kinds,
                                      "upwind", interface=cut if cut.any() else None)
        reg = loc.cell_region
        self.reg = reg
        self.vol = loc.volume[: self.n]
        self.flux = self.states * self.vel                       # G = g v, (R, N)
        self.scale_factors: list = []
        self.prefix = normalise_prefix(self.prefix)
        apply_options(self.prefix, {**DEFAULT_PETSC, **(self.petsc or {})})
        self._ksp: dict = {}
        #: whether fvqp chooses the transient systems' GMRES restart (None: not yet
        #: decided; :meth:`_restart_is_ours`), the systems switched to the options'
        #: restart (:data:`.bins.RESTART_LIMIT`), and the keys of the cached ones
        #: (:meth:`solver_state`: a resumed run keeps them)
        self._restart_ours: bool | None = None
        self.restart_switches = 0
        self._switched: set = set()
        #: :data:`.bins.FACTOR_SPREAD` or its option (None: not yet read)
        self._spread: float | None = None
        #: the sweep orders of the systems (:meth:`_order`, :meth:`_renumbered`), on
        #: first use
        self._orders: dict = {}
        #: the systems of sweeps with ``extra`` (:meth:`_shifted`)
        self._systems = ShiftedSystems(self.prefix, self.dist.comm)
        #: per system of :meth:`_shifted`, whether this rank's rows carry the margins
        #: of :mod:`.monotone` (set where the system is built)
        self._certified: dict = {}
        #: :meth:`decay_coupling`, made on first use (static data)
        self._decay_coupling: np.ndarray | None = None
        #: whether every system of the last sweep was solved on cached matrices with
        #: certified margins (this rank; :attr:`sweep_bound` then bounds the change
        #: that new per-cell rates make)
        self.certified = False
        #: the one time coefficient whose systems every step's are folded onto, or None
        #: (:meth:`_kept_coefficient`; the chip's adaptive steps set it)
        self.time_reference: float | None = None
        #: wall seconds of the sweeps' system builds and updates, and of their solves
        self.seconds = {"setup": 0.0, "solve": 0.0}
        #: ... and their CPU seconds in this process
        self.cpu_seconds = {"setup": 0.0, "solve": 0.0}
        #: bins solved together (one system): the L and T bins of one energy with
        #: ``amm_modes`` or isotope scattering across branches, else every bin alone
        self.groups = [(j,) for j in range(self.N)]
        self._group_itf: dict = {}
        self._group_dist: dict = {}
        self._mode_cache: dict = {}
        mixing = self.exchange is not None and bool(np.any(self.exchange))
        if self.interface == "amm_modes" or mixing:
            ne = self.N // 2
            if self.N % 2 or not np.array_equal(self.omega[:ne], self.omega[ne:]):
                raise ValueError("interface 'amm_modes' and branch mixing need L and T "
                                 "branches (bins j and j + N/2 of equal energy)")
            self.groups = [(j, j + ne) for j in range(ne)]
        self._itf = self._interfaces()

    # ---- interfaces -------------------------------------------------------------------
    def _interfaces(self) -> Sequence:
        """Per bin, the interface operator (or None; ``dmm``: :class:`ScaledOperators`)."""
        itf = self.stream.interfaces
        if itf is None or not len(itf.a):
            return [None] * self.N
        ra, rb = self.reg[itf.a], self.reg[itf.b]
        mu = np.abs(itf.g) / itf.aw[:, None]                     # |Omega . n| per ordinate
        w = self.quad.weights
        out = []
        if self.interface == "amm":
            for j in range(self.N):    # per bin: the branch's velocities and impedances
                za, zb = self.imp[ra, j][:, None], self.imp[rb, j][:, None]
                va, vb = self.vel[ra, j][:, None], self.vel[rb, j][:, None]
                ta = amm_transmission(mu, za, zb, va, vb)
                tb = amm_transmission(mu, zb, za, vb, va)
                ga, gb = self.flux[ra, j], self.flux[rb, j]
                sa, sb = reciprocal_scaling(itf, w, ga, gb, ta, tb)
                if j == 0 and len(ta):
                    self.scale_factors = [float(np.max(np.abs(sa[ta > 0] / ta[ta > 0] - 1),
                                                       initial=0.0))]
                out.append(angular_interface_matrix(itf, w, self.n, self.loc.n_local, ga, gb,
                                                    sa, sb, self.reflection))
        elif self.interface == "dmm":
            ops = ScaledOperators()
            for j in range(self.N):
                ga, gb = self.flux[ra, j], self.flux[rb, j]
                if ops.scaled(np.concatenate([ga, gb])):
                    continue
                ops.add(interface_matrix(itf, w, self.n, self.loc.n_local, ga, gb,
                                         dmm_transmission(ga, gb), dmm_transmission(gb, ga),
                                         "diffuse"), np.concatenate([ga, gb]))
            return ops
        elif self.interface == "amm_modes":
            base = None   # (G, operator) of an energy whose G this one's is a multiple of
            for gi, (jl, jt) in enumerate(self.groups):
                G, E = self.mode_coefficients(jl, jt)
                ratio = G / base[0] if base is not None else None
                if ratio is not None and np.allclose(ratio, ratio.flat[0], rtol=1e-14,
                                                     atol=0):
                    # the operator is linear in G at fixed ratios of the channels' G
                    self._group_itf[gi] = base[1] * float(ratio.flat[0])
                    continue
                E, worst = mode_fractions(itf, w, G, E)
                if gi == 0:
                    self.scale_factors = [worst]
                    if worst > 0.1:
                        log.warning("amm_modes: the reciprocal scaling changes a mode "
                                    "conversion channel by up to %.0f %% on this "
                                    "quadrature; refine [angles] polar", 100 * worst)
                self._group_itf[gi] = mode_interface_matrix(itf, w, self.n, self.loc.n_local,
                                                            G, E, self.reflection)
                base = (G, self._group_itf[gi])
            return [None] * self.N
        else:
            raise ValueError(f"unknown interface model {self.interface!r}")
        return out

    def mode_coefficients(self, jl: int, jt: int) -> tuple[np.ndarray, np.ndarray]:
        r"""Channels of the interface faces for the L bin ``jl`` and T bin ``jt`` of one
        energy: flux per occupation ``G`` (4, F) and the unscaled energy fractions ``E``
        (4, F, K, 4) of :func:`.modes.branch_coefficients`, per ordinate averaged over
        its band of :math:`|\mu|` (:attr:`mode_average` ``"band"``) or at
        :math:`|\mu_k|` (``"point"``), channel
        ``c = 2 s + beta`` (side ``s``: 0 = ``a``, branch ``beta``: 0 = L, 1 = T);
        density :math:`\varrho = Z_L/v_L`."""
        itf = self.stream.interfaces
        side = (self.reg[itf.a], self.reg[itf.b])
        G = np.stack([self.flux[side[c // 2], (jl, jt)[c % 2]] for c in range(4)])
        vl, vt = self.vel[:, jl], self.vel[:, jt]
        rho = self.imp[:, jl] / vl
        # elastic fractions do not depend on the energy: once per set of media
        key = (vl.tobytes(), vt.tobytes(), rho.tobytes(), self.mode_average)
        if key not in self._mode_cache:
            self._mode_cache[key] = channel_fractions(itf, self.quad.weights, side, vl, vt,
                                                      rho, self.mode_average)
        return G, self._mode_cache[key]

    # ---- operators ----------------------------------------------------------------------
    def local_matrix(self, j: int, a: float, extra=None) -> sp.csr_matrix:
        """Owned rows of the system of bin ``j`` with time coefficient ``a`` (0: steady);
        ``extra`` (n_owned,): a further relaxation rate of every ordinate per cell (the
        chip chain's film absorption minus emission, :mod:`fvqp.models.bte_chip`)."""
        n, K, B = self.n, self.K, self.B
        reg = self.reg
        G = self.flux[reg, j]                                     # per local cell
        S = self.states[reg[:n], j] * self.vol
        iso, rel = self.isotope[reg[:n], j], self.decay[reg[:n], j] + self.absorb[reg[:n], j]
        m = self.stream.matrix @ sp.diags(np.repeat(G, B))
        c = np.arange(n)
        fr = (c[:, None] * B + np.arange(K)).ravel()
        pr = np.repeat(c * B + K, K)
        s = self.phi_row_scale(j, a)
        w = np.tile(self.quad.weights, n)
        diag = np.repeat(S * (a + iso + rel + (0.0 if extra is None else extra)), K)
        rows = np.concatenate([fr, fr, c * B + K, pr])
        cols = np.concatenate([fr, pr, c * B + K, fr])
        vals = np.concatenate([diag, -np.repeat(S * iso, K), s, -np.repeat(s, K) * w])
        m = m + sp.csr_matrix((vals, (rows, cols)), shape=m.shape)
        if self._itf[j] is not None:
            m = m + self._itf[j]
        return m.tocsr()

    def phi_row_scale(self, j: int, a: float) -> np.ndarray:
        r"""The scale :math:`s_c` of the angle-average rows of bin ``j``'s system,
        :math:`s_c(\phi_c - \sum_kw_kn_{ck}) = 0` (owned cells): :math:`V_cg_j` times the
        larger of the cell's relaxation rate plus ``a`` and its crossing rate
        :math:`v/h_c` (the rows' size beside the ordinates'; any positive scale gives
        the same solution)."""
        n, reg = self.n, self.reg
        S = self.states[reg[:n], j] * self.vol
        iso, rel = self.isotope[reg[:n], j], self.decay[reg[:n], j] + self.absorb[reg[:n], j]
        hc = (self.vol / self.widths[reg[:n]]) ** (1.0 / self.loc.dim)
        return S * np.maximum(iso + rel + a, self.vel[reg[:n], j] / hc)

    def bin_balance_weights(self, bins, a: float) -> np.ndarray:
        r"""The row weights :math:`\ell` whose sum :math:`\ell^T(Ax - b)` is the
        system's phonon-number balance: owned rows of the system of ``bins``
        (``c (m B) + i B + k``, :meth:`group_matrix`; one bin: ``c B + k``) with time
        coefficient ``a``.

        Summed with the quadrature weights :math:`w_k`, bin :math:`j`'s ordinate rows give
        :math:`S_c(a + \gamma_{rel})\bar n_c` (storage and removal of the angle average
        :math:`\bar n_c = \sum_kw_kn_{ck}`, the quantity of :meth:`energy_density`; the
        chip's per-cell film rates on the diagonal alike) plus
        the streaming's net outflow (interior faces cancel, walls and interfaces
        conserve), and the isotope term :math:`S_c\gamma_{iso}(\bar n_c - \phi_c)`,
        which is :math:`-S_c\gamma_{iso}/s_c` times the angle-average row
        (:meth:`phi_row_scale`). Hence :math:`\ell = w_k` on ordinate rows and
        :math:`S_c\gamma_{iso}/s_c` on angle-average rows: a solution with
        :math:`\ell^Tr = 0` (:math:`r = b - Ax`) keeps the bins' phonon number, and
        with it their energy (:math:`\hbar\Omega_j` per phonon, the same for every bin
        of a group), exactly whatever the Krylov tolerance (:meth:`sweep`). The branches'
        isotope exchange of a group cancels between its two bins row sum by row sum."""
        n, K, B = self.n, self.K, self.B
        out = np.empty((n, len(bins), B))
        out[:, :, :K] = self.quad.weights
        for i, j in enumerate(bins):
            S = self.states[self.reg[:n], j] * self.vol
            s = self.phi_row_scale(j, a)      # > 0 wherever the system is regular
            np.divide(S * self.isotope[self.reg[:n], j], s, out=out[:, i, K], where=s > 0)
            out[:, i, K][s <= 0] = 0.0
        return out.ravel()

    def group_matrix(self, gi: int, a: float, extra=None) -> sp.csr_matrix:
        """Owned rows of the system of the bins ``groups[gi]`` solved together: unknown
        ``c * (m B) + i * B + k`` is ordinate ``k`` of the group's ``i``-th bin in cell
        ``c``; each bin's :meth:`local_matrix` plus the group's interface operator."""
        bins, B = self.groups[gi], self.B
        mB = len(bins) * B
        rows, cols, vals = [], [], []
        for i, j in enumerate(bins):
            mj = self.local_matrix(j, a, None if extra is None else extra[j]).tocoo()
            rows.append((mj.row // B) * mB + i * B + mj.row % B)
            cols.append((mj.col // B) * mB + i * B + mj.col % B)
            vals.append(mj.data)
        if self.exchange is not None and len(bins) == 2:   # isotope: L <-> T
            r, c, v = self._exchange_entries(bins[0], mB)
            rows.append(r)
            cols.append(c)
            vals.append(v)
        m = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(self.n * mB, self.loc.n_local * mB))
        itf = self._group_itf.get(gi)     # None: no interface face on this rank
        return (m if itf is None else m + itf).tocsr()

    def _exchange_entries(self, j: int, mB: int) -> tuple:
        r"""Entries (rows, columns, values) of isotope scattering across the L and T
        bins of energy ``j`` in a group system (:meth:`group_matrix` layout): on every
        ordinate row of branch :math:`b`, :math:`+VX` at its own angle average and
        :math:`-VX` at the other branch's (the left-hand side of
        :math:`X(\bar n_{b'} - \bar n_b)`, :mod:`.branches`)."""
        n, K, B = self.n, self.K, self.B
        xv = np.repeat(self.exchange[self.reg[:n], j] * self.vol, K)
        c = np.repeat(np.arange(n) * mB, K)
        k = np.tile(np.arange(K), n)
        rows = np.concatenate([c + k, c + k, c + B + k, c + B + k])
        cols = np.concatenate([c + K, c + B + K, c + B + K, c + K])
        return rows, cols, np.concatenate([xv, -xv, xv, -xv])

    # ---- right-hand sides ---------------------------------------------------------------
    def breakpoints(self) -> list[float]:
        """The times where a source's rate switches on or off (a pulse's window), sorted:
        adaptive steps end on them (a step does not average a pulse with what precedes
        it)."""
        return sorted({b for s in self.sources if s.profile is not None
                       for b in s.profile.breakpoints()})

    def max_dt(self, t: float, checked: bool = True) -> float:
        """The longest step from ``t`` that resolves the sources' time profiles
        (:meth:`fvqp.mesh.sources.PulseProfile.max_dt`; ``checked``: the step's local
        error is estimated)."""
        return min([s.profile.max_dt(t, checked) for s in self.sources
                    if s.profile is not None],
                   default=math.inf)

    def deposit_occupations(self) -> np.ndarray:
        r"""Per energy node, the largest occupation the deposits (sources with a total
        energy :math:`E`) would give a cell if their phonons stayed where they are made,
        :math:`\max_c E\,w_c s_j/(h g_j V_c)` summed over the deposits (all ranks; zeros
        without deposits): the occupation scale of a deposit's phonons (the error floor
        of the chip's adaptive steps, :mod:`fvqp.models.bte_chip.adaptive`)."""
        store = self.states[self.reg[:self.n]] * self.vol[:, None] * self.h      # (n, N)
        out = np.zeros((self.n, self.N))
        for s in self.sources:
            energy = getattr(s.profile, "energy", None)
            if energy:
                out += energy * s.weights[:, None] * s.spectrum[None, :]
        out = np.divide(out, store, out=np.zeros_like(out), where=store > 0)
        return self.dist.max_array(out.max(axis=0, initial=0.0))

    def source_rates(self, t0: float, t1: float) -> np.ndarray:
        """Injected phonons per time unit, (n_owned, N)."""
        out = np.zeros((self.n, self.N))
        for s in self.sources:
            out += s.rate(t0, t1) * s.weights[:, None] * s.spectrum[None, :]
        return out

    def rhs(self, j: int, hist=None, src=None, gain=None) -> np.ndarray:
        """Owned right-hand side of bin ``j``: inflow, relaxation to :math:`n_B`, history
        (``hist``: (n, K) :math:`h^n`), sources (n,), decay gains from higher bins (n,) or
        per ordinate (n, K)."""
        n, K, B = self.n, self.K, self.B
        b = np.zeros((n, B))
        G = self.flux[self.reg[:n], j]
        for name, coef in self.stream.inflow.items():
            b += G[:, None] * self.n_in[name][j] * coef.reshape(n, B)
        S = self.states[self.reg[:n], j] * self.vol
        rel = self.decay[self.reg[:n], j] + self.absorb[self.reg[:n], j]
        fr = b[:, :K]
        fr += (S * rel * self.n_bath[j])[:, None]
        if hist is not None:
            fr += S[:, None] * hist
        if src is not None:
            fr += (src / self.h)[:, None]
        if gain is not None:    # isotropic (n,) or per ordinate (n, K)
            fr += gain if gain.ndim == 2 else gain[:, None]
        return b.ravel()

    def add_decay_gains(self, j: int, x: np.ndarray, gain: np.ndarray) -> None:
        r"""Add the decays of bin ``j`` (state ``x``) to the gains of the bins they feed:
        ``gain`` (N, n_owned) of isotropic products, ``products[q, j]`` times
        :meth:`decay_gain`, or, with :attr:`decay_kernels`, (N, n_owned, K) per ordinate,
        :math:`Vg_j\gamma^A_jp_{qj}\sum_{k'}M^{(qj)}_{kk'}w_{k'}(n_{jk'} - n_{B,j})` in
        the regions that have kernels (:mod:`.decay_angles`)."""
        pj = self.products[..., j]                         # (N,) or per region (R, N)
        if not pj.any():
            return
        n, K, reg = self.n, self.K, self.reg[: self.n]
        iso = (pj[reg].T if pj.ndim == 2 else pj[:, None]) * self.decay_gain(j, x)[None, :]
        if gain.ndim == 2:
            gain += iso
            return
        kern = self.decay_kernels or {}
        directed = np.isin(reg, [r for r in kern if j in kern[r]])
        if not directed.all():   # regions without kernels: isotropic, only their cells
            gain[:, ~directed] += iso[:, ~directed, None]
        if not directed.any():
            return
        rate = self.states[reg, j] * self.vol * self.decay[reg, j]
        d = (x.reshape(n, self.B)[:, :K] - self.n_bath[j]) * self.quad.weights * rate[:, None]
        for r, per_bin in kern.items():
            cells = np.flatnonzero(reg == r)
            if j not in per_bin or not len(cells):
                continue
            bins, M = per_bin[j]
            Q = len(bins)
            # sum_k' M[q, k, k'] d[c, k'] for every product bin q, one product
            y = (d[cells] @ M.transpose(2, 0, 1).reshape(K, Q * K)).reshape(len(cells), Q, K)
            coef = self.products[r, bins, j] if self.products.ndim == 3 else \
                self.products[bins, j]
            for i, q in enumerate(bins):
                gain[q, cells] += coef[i] * y[:, i]

    def decay_gain(self, j: int, x: np.ndarray) -> np.ndarray:
        r"""Per owned cell, the decays of bin ``j`` (state ``x``),
        :math:`V g_j\gamma^A_j(\bar n_j - n_{B,j})` (row units); bin ``q`` receives
        ``products[q, j]`` times this."""
        S = self.states[self.reg[: self.n], j] * self.vol
        return S * self.decay[self.reg[: self.n], j] * (self.mean_bin(x) - self.n_bath[j])

    def mean_bin(self, x: np.ndarray) -> np.ndarray:
        """Angle average of one bin's unknowns (n_owned,)."""
        return x.reshape(self.n, self.B)[:, : self.K] @ self.quad.weights

    # ---- states --------------------------------------------------------------------------
    def equilibrium(self, occ: np.ndarray) -> np.ndarray:
        """Isotropic state with occupation ``occ`` (N,): (N, n_owned B)."""
        return np.repeat(np.asarray(occ, float)[:, None], self.n * self.B, axis=1)

    # ---- observables (internal units) ---------------------------------------------------
    def directional(self, x: np.ndarray) -> np.ndarray:
        """n as (N, n_owned, K)."""
        return x.reshape(self.N, self.n, self.B)[:, :, : self.K]

    def mean(self, x: np.ndarray) -> np.ndarray:
        """Angle average (N, n_owned)."""
        return self.directional(x) @ self.quad.weights

    def energy_density(self, x: np.ndarray) -> np.ndarray:
        r""":math:`h\sum_j\Omega_jg_j\bar n_j` per owned cell."""
        g = self.states[self.reg[: self.n]].T                      # (N, n)
        return self.h * np.sum(self.omega[:, None] * g * self.mean(x), axis=0)

    def number_density(self, x: np.ndarray) -> np.ndarray:
        r""":math:`h\sum_jg_j\bar n_j` per owned cell."""
        g = self.states[self.reg[: self.n]].T
        return self.h * np.sum(g * self.mean(x), axis=0)

    def energy_flux(self, x: np.ndarray) -> np.ndarray:
        r""":math:`h\sum_j\Omega_jg_jv\sum_kw_k\Omega_kn_k`, (n_owned, 3)."""
        G = self.flux[self.reg[: self.n]].T                        # (N, n)
        jk = np.einsum("jck,k,kd->jcd", self.directional(x), self.quad.weights,
                       self.quad.omega)
        return self.h * np.einsum("j,jc,jcd->cd", self.omega, G, jk)

    def energy(self, x: np.ndarray) -> float:
        """Total phonon energy (all ranks)."""
        return self.dist.sum(float(self.energy_density(x) @ self.vol))

    def energy_rates(self, x: np.ndarray, t0: float = 0.0, t1: float = np.inf) -> dict:
        """Global energy rates: net outflow through every inflow (bath/absorbing) group,
        absorbed in every absorbing region (``region:<index>``, named by
        :func:`flow_name`), injected by sources (negative)."""
        n, B = self.n, self.B
        G = np.repeat(self.flux[self.reg[:n]].T, B, axis=1)        # (N, n B)
        ew = self.h * self.omega
        out = {}
        for name in sorted(self.stream.outflow):
            if name not in self.stream.influx:
                continue                                           # reflecting wall
            o = np.sum(ew * np.sum(G * x * self.stream.outflow[name], axis=1))
            o -= np.sum(ew * self.n_in[name] * (G @ self.stream.influx[name]))
            out[f"boundary:{name}"] = self.dist.sum(float(o))
        fb = self.mean(x) - self.n_bath[:, None]
        absorbed = self.absorb[self.reg[:n]].T * self.states[self.reg[:n]].T * fb * self.vol
        per_region = np.zeros(len(self.states))
        np.add.at(per_region, self.reg[:n], np.sum(ew[:, None] * absorbed, axis=0))
        for r in range(len(self.states)):
            if np.any(self.absorb[r] > 0):
                out[f"region:{r}"] = self.dist.sum(float(per_region[r]))
        out["sources"] = -self.dist.sum(float(np.sum(self.source_rates(t0, t1) @ self.omega)))
        return out
