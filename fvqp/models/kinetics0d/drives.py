r"""Drive terms of the 0D QP/phonon kinetic equations (photons, phonons, NIS tunnelling).

All drives act on the grid of :mod:`fvqp.collisions.grid` (energies in :math:`kT_c`,
times in :math:`\tau_0`, QP numbers/energies in :math:`4N_0kT_c` /
:math:`4N_0(kT_c)^2`). Each drive returns *gain* and *loss* parts (both non-negative for
physical ``0 <= f <= 1``, ``n >= 0``) of :math:`\dot f` and :math:`\dot n`, used by the
positivity-preserving time-relaxation scheme (notes Eqs. 46-51), and its exact
Jacobian blocks.

Photon absorption (Goldie & Withington, SuST 26, 015004 (2013), their Eq. 6)
--------------------------------------------------------------------------
With :math:`\hbar\omega = p h` (a grid multiple, so that
:math:`E_i + \hbar\omega = E_{i+p}` and pair energies :math:`E_i + E_j = \hbar\omega`
for :math:`i + j = p - s`, ``s`` the grid's pair offset: ``m`` in the vertex layout the
0D kinetics use, ``m + 1`` in the cell-centred one), the number rates per QP cell are

.. math::
    h\bar\rho_i\dot f_i = B\,\Big[\sum_{\pm} \pm\, c_{i,i\pm p}(f_{i\pm p} - f_i)\Big]
      + B\sum_{j:\,E_i + E_j = \hbar\omega} d_{ij}\,(1 - f_i - f_j),

with :math:`c_{ij} = h^2(\bar\rho_i\bar\rho_j + \bar a_i\bar a_j)` (case-II coherence
factor :math:`1 + \Delta^2/EE'` of QP absorption, Mattis-Bardeen) and
:math:`d_{ij} = h^2(\bar\rho_i\bar\rho_j - \bar a_i\bar a_j)` (factor
:math:`1 - \Delta^2/EE'` of photon pair breaking, zero at :math:`\hbar\omega = 2\Delta`).
Sub-gap photons (:math:`\hbar\omega < 2\Delta`) only act through the first (QP
absorption) term. Because :math:`E_{i+p} - E_i = E_i + E_j = \hbar\omega`, the absorbed
power of the bracket is exactly :math:`\hbar\omega` times the number of absorbed
photons; :math:`B(f)` is set so that the absorbed power equals the prescribed :math:`P`
at every instant (as G&W do), which makes the term non-linear in ``f`` (the Jacobian
includes the derivative of :math:`B`). A photon energy between two grid multiples is
split between them (weights :math:`1-\theta`, :math:`\theta`, weighted mean exactly
:math:`\hbar\omega`; :class:`PhotonDrive`); both lines carry the processes of
:math:`\hbar\omega` itself, so a sub-gap photon breaks no pairs even where its upper
line reaches :math:`2\Delta`.

Phonon injection
----------------
:math:`\dot n_k = P_{ph}\,g_k / (\beta\sum_k h\Omega_k^3 g_k)` with a Gaussian spectrum
:math:`g_k = \exp(-(\Omega_k - \Omega_0)^2/2\sigma^2)` (a single node if
:math:`\sigma = 0`), i.e. injected power :math:`P_{ph}` exactly.

NIS tunnel injection
--------------------
A normal electrode at temperature :math:`T_N` and bias :math:`V` exchanges electrons and
holes with the superconductor; for the branch-averaged QP occupation

.. math::
    \dot f_i = \Gamma_T\Big[\tfrac12\big(f_N(E_i - eV) + f_N(E_i + eV)\big) - f_i\Big],

i.e. the QP number source :math:`h\bar\rho_i\dot f_i = \Gamma_T h\bar\rho_i[f_N(E - eV)
+ f_N(E + eV) - 2f]/2`, with the tunnelling rate per state
:math:`\Gamma_T = 1/(2e^2 R_T N_0 \mathcal V)` (single-spin :math:`N_0`, film volume
:math:`\mathcal V`, junction resistance :math:`R_T`). Charge imbalance is not modelled
(electron- and hole-like branches are averaged).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import LinearOperator

from ...collisions import CollisionParams, EnergyGrid, fermi
from ...spectra.dos import dos_cell_integrals
from ...spectra.injection import gaussian_line

__all__ = ["Drive", "PhononInjection", "PhotonDrive", "TunnelInjection"]


@dataclass
class Drive:
    """Base class: a time window ``[start, stop)`` (internal time units)."""

    start: float = 0.0
    stop: float = math.inf
    #: QP gains carry the Pauli factor (1 - f_i) (used by the relaxation split)
    pauli_blocked_gain: bool = field(default=True, init=False, repr=False)

    def active(self, t: float) -> bool:
        """Whether the drive is on at time ``t``."""
        return self.start <= t < self.stop

    def bind(self, grid: EnergyGrid, params: CollisionParams) -> None:
        """Precompute grid-dependent arrays."""

    def terms(self, f: np.ndarray, n: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(gain_f, loss_f, gain_n, loss_n)`` of :math:`\\dot f` and :math:`\\dot n`."""
        raise NotImplementedError

    def jacobian(self, f: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Dense Jacobian ``(N + M) x (N + M)`` of the net term."""
        raise NotImplementedError

    def jacobian_qp(self, f: np.ndarray, n: np.ndarray) -> np.ndarray | None:
        r"""The only non-zero block :math:`\partial D^{qp}/\partial f` (``N x N``) of
        :meth:`jacobian`, or None if the drive does not depend on the state (the
        structured Newton of :mod:`fvqp.models.kinetics0d.newton` needs no other block).

        The default slices :meth:`jacobian` and checks that the other blocks vanish.
        """
        jac = self.jacobian(f, n)
        nq = f.size
        if np.any(jac[:, nq:]) or np.any(jac[nq:, :]):
            raise NotImplementedError(f"{type(self).__name__}: a Jacobian with phonon "
                                      "entries needs its own structured blocks")
        return jac[:nq, :nq]

    def jacobian_qp_operator(self, f: np.ndarray, n: np.ndarray):
        """:meth:`jacobian_qp` as anything with ``@`` (a sparse matrix or a
        ``LinearOperator``: the exact Jacobian action without forming the dense block), or
        None where :meth:`jacobian_qp` is None."""
        raise NotImplementedError

    def jacobian_qp_diagonal(self, f: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Diagonal of :meth:`jacobian_qp` (zeros if None)."""
        jac = self.jacobian_qp(f, n)
        return np.zeros(f.size) if jac is None else np.diagonal(jac).copy()


@dataclass
class _Line:
    """One photon line ``E_i + p h = E_{i+p}`` with weight ``weight`` (see PhotonDrive)."""

    p: int
    weight: float
    lin: np.ndarray
    const: np.ndarray
    absorb: np.ndarray  # c_{i,i+p}, i = 0 .. N-p-1
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray]  # (i, j, d_ij), E_i + E_j = p h
    cut: np.ndarray  # c_{i,i+p} of the states i = N-p .. N-1, whose E_i + p h is off the grid


def _photon_line(grid: EnergyGrid, p: int, weight: float, pb: bool = True) -> _Line:
    """Unit-B matrices of absorption at ``p h`` (module docstring), times ``weight``;
    ``pb=False`` keeps QP absorption only (a line of a sub-gap photon, PhotonDrive)."""
    nq, h = grid.n, grid.h
    rho, a = grid.dos, grid.ados
    lin = np.zeros((nq, nq))
    const = np.zeros(nq)
    # QP absorption i -> i + p, net flux c_i (f_i - f_{i+p})
    i = np.arange(max(nq - p, 0))
    c = weight * h * h * (rho[i] * rho[i + p] + a[i] * a[i + p])
    lin[i, i] -= c
    lin[i, i + p] += c
    lin[i + p, i] += c
    lin[i + p, i + p] -= c
    # the transitions the grid's top cuts: i = N-p .. N-1 to cells above E_max, whose DOS
    # continues the grid's cells (width h) beyond its top edge
    i_cut = np.arange(max(nq - p, 0), nq)
    x_top = grid.x_edges[-1] + (i_cut + p - nq) * h
    rho_up, a_up = dos_cell_integrals(x_top, np.full(i_cut.size, h), grid.delta,
                                      grid.gamma, per=h)
    cut = weight * h * h * (rho[i_cut] * rho_up + a[i_cut] * a_up)
    # pair breaking: i + j = q, net d_ij (1 - f_i - f_j) into cell i (ordered pairs)
    q = p - grid.pair_offset
    pairs = (np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    if q >= 0 and pb:
        i = np.arange(min(q + 1, nq))
        j = q - i
        ok = j < nq
        i, j = i[ok], j[ok]
        d = weight * np.maximum(h * h * (rho[i] * rho[j] - a[i] * a[j]), 0.0)
        const[i] += d
        np.add.at(lin, (i, i), -d)
        np.add.at(lin, (i, j), -d)
        pairs = (i, j, d)
    return _Line(p, weight, lin, const, c, pairs, cut)


@dataclass
class PhotonDrive(Drive):
    r"""Photon absorption at :math:`\hbar\omega` with absorbed power ``power``.

    The line is split between the two neighbouring grid multiples
    :math:`p h \le \hbar\omega < (p+1)h` with weights :math:`1-\theta` and
    :math:`\theta`, :math:`\theta = \hbar\omega/h - p`, so the weighted mean of the line
    energies is :math:`\hbar\omega` exactly (``photon_energy_grid``; that of the absorbed
    photons up to the lines' :math:`O(h)` difference in rate) and every result is
    continuous in :math:`\hbar\omega` and in the grid spacing (which the self-consistent
    gap changes), except across :math:`2\Delta` itself.

    Both lines carry the processes of :math:`\hbar\omega` itself: below
    :math:`2\Delta = mh` only QP absorption, also on an upper line at
    :math:`(p+1)h = 2\Delta`. Otherwise that line would break pairs, and since
    :math:`B(f)` normalises the *total* absorbed power, the pair channel (rate
    :math:`\propto 1`) would take nearly all of it from the QP channel (rate
    :math:`\propto N_{qp}`, tiny at low temperature): the absorbed photons would be
    :math:`2\Delta` ones, not a mean of :math:`\hbar\omega`, whatever :math:`\theta`
    (Al at 80 mK, :math:`\hbar\omega = 348` ueV :math:`= 2\Delta - 3.6` ueV:
    :math:`\eta_{pb} = 0.99` on a 4 ueV grid against 0.053 on a 1 ueV one). Kept in
    one channel, the two lines' rates per weight differ by :math:`O(h)` only, and the
    absorbed power stays exactly ``power`` (:meth:`scale`).

    Parameters
    ----------
    photon_energy : float
        :math:`\hbar\omega` in kTc.
    power : float
        Absorbed power per volume in units of :math:`4N_0(kT_c)^2/\tau_0`.
    """

    photon_energy: float = 4.0
    power: float = 1e-4
    photon_energy_grid: float = field(default=0.0, init=False)

    def bind(self, grid: EnergyGrid, params: CollisionParams) -> None:
        x = self.photon_energy / grid.h
        p = int(math.floor(x + 1e-9))
        theta = max(x - p, 0.0)
        if p < 1:
            raise ValueError("photon energy below one grid spacing")
        # pair breaking only for photons at or above 2 Delta = m h (the rounding of p):
        # the upper line of a sub-gap photon may reach 2 Delta (class docstring)
        pb = x + 1e-9 >= grid.m
        self.lines = [_photon_line(grid, p, 1.0 - theta, pb)]
        if theta > 1e-12:
            self.lines.append(_photon_line(grid, p + 1, theta, pb))
        self.photon_energy_grid = grid.h * sum(ln.p * ln.weight for ln in self.lines)
        # banded (offsets +-p, +-(p+1)) and pair anti-diagonals: stored sparse, so the
        # net rate costs O(N) instead of a dense N x N product (the quasi-thermal start
        # evaluates it ~100 times)
        self._lin = sparse.csr_matrix(sum(ln.lin for ln in self.lines))
        self._const = sum(ln.const for ln in self.lines)
        self._w, self._e, self._delta = grid.qp_weights, grid.e, grid.delta
        self._h = grid.h
        self._nq, self._nph = grid.n, grid.n_ph

    @property
    def breaks_pairs(self) -> bool:
        r"""Whether any photon line lies above :math:`2\Delta` (pair breaking)."""
        return any(ln.pairs[0].size for ln in self.lines)

    def _net(self, f: np.ndarray) -> np.ndarray:
        r"""Unit-B number rate per cell (``B = 1``)."""
        return self._lin @ f + self._const

    def unit_power(self, f: np.ndarray) -> float:
        r"""Absorbed power of the unit-B term, :math:`\sum_i E_i\,\text{net}_i`."""
        return float(self._e @ self._net(f))

    def top_cut_fraction(self, f: np.ndarray) -> float:
        r"""Share of the absorption the grid's top cuts at ``f``: photons that QPs within
        :math:`\hbar\omega` of :math:`E_{max}` would absorb into states above it.

        The grid has no such transitions, so a state that needs them is shaped by
        :math:`E_{max}`, not by the film: e.g. sub-gap photons normalised to their power
        and absorbed by few QPs pump them up the ladder
        :math:`\Delta + k\hbar\omega` to the top. Estimated with the absorption
        coefficients of the cells above the top (the DOS continued past
        :math:`E_{max}`) and nothing in them (:math:`f = 0` there, an upper bound):
        :math:`p_{cut} = \sum_{i \ge N - p} \hbar\omega\, c_{i,i+p} f_i`, returned as
        :math:`p_{cut}/(p_{cut} + p_{abs})` with :math:`p_{abs}` the absorption on the grid
        (:meth:`unit_power`); 1 where nothing is absorbed on the grid.
        """
        h = self._h
        cut = sum(ln.p * h * float(ln.cut @ f[f.size - ln.cut.size:]) for ln in self.lines)
        total = cut + max(self.unit_power(f), 0.0)
        return cut / total if total > 0 else 1.0

    def scale(self, f: np.ndarray) -> float:
        r""":math:`B(f) = P / p_{abs}(f)`."""
        pa = self.unit_power(f)
        if not pa > 0:
            msg = "photon drive: no absorption possible at this state"
            if not self.breaks_pairs:
                msg += (f": the photons ({self.photon_energy / (2.0 * self._delta):.4g} x "
                        "2 Delta) lie below 2 Delta, only quasiparticles already present "
                        "absorb them, and there are too few. Fix: a photon energy above 2 "
                        "Delta, or a bath warm enough to hold quasiparticles")
            raise ArithmeticError(msg)
        return self.power / pa

    def terms(self, f, n):
        b = self.scale(f)
        nq = self._nq
        gain = np.zeros(nq)
        loss = np.zeros(nq)
        for ln in self.lines:
            p, c = ln.p, ln.absorb
            if c.size:
                lo, hi = np.arange(nq - p), np.arange(p, nq)
                up = c * f[lo] * (1.0 - f[hi])
                down = c * f[hi] * (1.0 - f[lo])
                gain[hi] += up
                loss[lo] += up
                gain[lo] += down
                loss[hi] += down
            i, j, d = ln.pairs
            np.add.at(gain, i, d * (1.0 - f[i]) * (1.0 - f[j]))
            np.add.at(loss, i, d * f[i] * f[j])
        scale = b / self._w
        zero = np.zeros(self._nph)
        return scale * gain, scale * loss, zero, zero

    def jacobian(self, f, n):
        out = np.zeros((self._nq + self._nph,) * 2)
        out[: self._nq, : self._nq] = self.jacobian_qp(f, n)
        return out

    def jacobian_qp(self, f, n):
        c, u, v = self._jacobian_parts(f)
        return (c * self._lin.toarray() - np.outer(u, v)) / self._w[:, None]

    def _jacobian_parts(self, f):
        r""":math:`\partial D/\partial f = W^{-1}[(P/p_a)L - (P/p_a^2)\,
        \text{net}\,(L^Te)^T]`: the sparse absorption matrix and a rank-one term."""
        net = self._net(f)
        pa = float(self._e @ net)
        return self.power / pa, net * self.power / pa**2, self._lin.T @ self._e

    def jacobian_qp_operator(self, f, n):
        c, u, v = self._jacobian_parts(f)
        lin, w = self._lin, self._w

        def mv(x):
            x = np.ravel(x)
            return (c * (lin @ x) - u * (v @ x)) / w

        return LinearOperator((self._nq, self._nq), matvec=mv, dtype=float)

    def jacobian_qp_diagonal(self, f, n):
        c, u, v = self._jacobian_parts(f)
        return (c * self._lin.diagonal() - u * v) / self._w


@dataclass
class PhononInjection(Drive):
    r"""Phonons injected with a Gaussian spectrum and power ``power``.

    Parameters
    ----------
    energy : float
        Centre :math:`\Omega_0` (kTc).
    width : float
        Gaussian :math:`\sigma` (kTc); 0 puts all phonons on the nearest node.
    power : float
        Injected power per volume in units of :math:`4N_0(kT_c)^2/\tau_0`.
    """

    energy: float = 4.0
    width: float = 0.0
    power: float = 1e-4

    def bind(self, grid: EnergyGrid, params: CollisionParams) -> None:
        w = grid.omega
        g = gaussian_line(w, self.energy, self.width)  # a narrow line: its nearest node
        norm = params.phonon_weight * np.dot(grid.h * grid.phonon_states * w, g)
        self._rate = g / norm
        self._nq = grid.n

    def terms(self, f, n):
        return np.zeros(self._nq), np.zeros(self._nq), self.power * self._rate, \
            np.zeros_like(self._rate)

    def jacobian(self, f, n):
        size = self._nq + self._rate.size
        return np.zeros((size, size))

    def jacobian_qp(self, f, n):
        return None

    def jacobian_qp_operator(self, f, n):
        return None


@dataclass
class TunnelInjection(Drive):
    r"""NIS tunnel injection (see module docstring).

    Parameters
    ----------
    rate : float
        :math:`\Gamma_T` in :math:`1/\tau_0`.
    bias : float
        :math:`eV` in kTc.
    t_normal : float
        Temperature of the normal electrode (kTc).
    """

    rate: float = 1e-3
    bias: float = 2.0
    t_normal: float = 0.1
    pauli_blocked_gain: bool = field(default=False, init=False, repr=False)

    def bind(self, grid: EnergyGrid, params: CollisionParams) -> None:
        e = grid.e
        self._fn = 0.5 * (fermi(e - self.bias, self.t_normal) + fermi(e + self.bias,
                                                                      self.t_normal))
        self._nq, self._nph = grid.n, grid.n_ph

    def terms(self, f, n):
        zero = np.zeros(self._nph)
        return self.rate * self._fn, self.rate * f, zero, zero

    def jacobian(self, f, n):
        out = np.zeros((self._nq + self._nph,) * 2)
        idx = np.arange(self._nq)
        out[idx, idx] = -self.rate
        return out

    def jacobian_qp(self, f, n):
        return np.diag(np.full(self._nq, -self.rate))

    def jacobian_qp_operator(self, f, n):
        return sparse.diags(np.full(self._nq, -self.rate))

    def jacobian_qp_diagonal(self, f, n):
        return np.full(self._nq, -self.rate)
