r"""O(N log N) evaluation of the discrete collision operator with FFT correlations.

The double sums of :mod:`fvqp.collisions.direct` are, because the kernel
:math:`K^\mp_{ij} = \bar\rho_i\bar\rho_j \mp \bar a_i\bar a_j` is a sum of two separable
products and the grid is aligned (``E_i + Omega_k = E_{i+k}``,
``E_i + E_j = Omega_{i+j+m+1}``), sums of discrete correlations and convolutions of
the arrays (notes Eqs. 41-45, with :math:`g_1 = \rho f`, :math:`g_2 = (\rho/E) f`,
:math:`h_1 = \Omega^2(1+n)`, here written with the cell-averaged
:math:`\bar\rho` and :math:`\bar a = \Delta\overline{\rho/E}`):

.. math::
    (a \star b)_i = \sum_k a_k b_{i+k}, \qquad (a * b)_i = \sum_k a_k b_{i-k}.

With ``rf = rho f``, ``rF = rho (1 - f)``, ``af = a f``, ``aF = a (1 - f)`` (QP arrays),
``p1 = Omega^2 (1 + n)``, ``p0 = Omega^2 n`` (phonon arrays with a zero ``k = 0``
entry) and ``q1, q0`` the pair arrays :math:`r_k\Omega_k^2(1+n_k)`, :math:`r_k\Omega_k^2n_k`
shifted by the grid's pair offset ``s`` (``m + 1``; ``m`` in the vertex layout; ``r_k`` =
``grid.pair_weight``, :mod:`fvqp.collisions.grid`), whose phonon outputs at ``k - s``
carry the factor ``r_k`` too (:math:`\Omega_k^2`: the node's phonon states :math:`g_k`,
:func:`~fvqp.collisions.kernels.phonon_states`),
``r = a / rho``:

.. math::
    \text{sc\_in} &= h(1-f)\,[p_1\star rf + p_0 * rf - r\,(p_1\star af + p_0 * af)], \\
    \text{sc\_out} &= h f\,[p_0\star rF + p_1 * rF - r\,(p_0\star aF + p_1 * aF)], \\
    \text{rec} &= h f\,[rf\star q_1 + r\, af\star q_1], \qquad
    \text{pb} = h(1-f)\,[rF\star q_0 + r\, aF\star q_0], \\
    \text{ph\_sc\_in}_k &= 2c_{ph}h(1+n_k)\,[rF\star rf - aF\star af]_k, \qquad
    \text{ph\_sc\_out}_k = 2c_{ph}h\,n_k\,[rf\star rF - af\star aF]_k, \\
    \text{ph\_rec}_k &= c_{ph}h\,r_k(1+n_k)\,[rf * rf + af * af]_{k-s}, \qquad
    \text{ph\_pb}_k = c_{ph}h\,r_kn_k\,[rF * rF + aF * aF]_{k-s}.

All transforms use one zero-padded length ``L >= max(N + M + 1, 2N)`` so that no
circular wrap-around reaches a non-zero entry; each input is transformed once and
bilinears sharing an output factor share one inverse transform (8 forward + 16
inverse real FFTs per evaluation; 14 forward with a tilt).  The first ``_HEAD = 256``
outputs of the QP convolutions (:math:`\sum_{k \le i}`, only ``i + 1`` terms, i.e.
values far below the global FFT round-off of the growing :math:`\Omega^2` phonon
weights) are recomputed by exact direct sums in O(_HEAD^2), which keeps the emission
terms near the gap edge accurate to ~1e-15 relative.  Every term is a product
``outer(f or n) * bilinear(u, v)`` with factors affine in ``f`` or ``n``, so the
Jacobian-vector product follows exactly from the product rule with the
same correlations (:func:`jvp_fft`).

Exponential tilt (optional)
---------------------------
FFT round-off is ``~eps * |x|_2 |y|_2``, i.e. relative to the *largest* output.  At low
temperature the Boltzmann tails of ``f`` (and ``n``) make outputs span many decades, so
e.g. the gap-edge scattering gain is only accurate to ~1e-12 of its maximum.  Because
every correlation follows the kinematics (``E_{i+k} - Omega_k = E_i``,
``E_{i-k} + Omega_k = E_i``), multiplying the inputs by ``exp(+-gamma * energy)`` and
the output by the inverse factor changes nothing mathematically; with
``tilt = gamma ~ 1/T`` the decaying arrays (``rho f``, ``a f``, ``Omega^2 n``) become
flat and the FFT result is accurate *pointwise* for thermal-like tails.  Choose
``tilt <~ 1 / T_eff`` of the distributions (``tilt = 0``, the default, is optimal for
non-decaying data).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from .grid import EnergyGrid
from .kernels import (
    PROCESSES,
    CollisionParams,
    CollisionTerms,
    check_inputs,
    pair_layout,
    phonon_states,
)
from .processes import PROCESSES as TABLE
from .processes import Process

__all__ = ["collision_terms_fft", "jvp_fft", "transform_length"]


# --------------------------------------------------------------- term definitions
@dataclass(frozen=True)
class _Bilinear:
    """``sign * op(x, y)`` with ``op`` = ``"corr"`` (x star y) or ``"conv"`` (x * y)."""

    op: str
    x: str
    y: str
    sign: float = 1.0


@dataclass(frozen=True)
class _Term:
    """``scale * (c0 + c1 * var) * sum_g weight_g * place(sum of bilinears_g)``; ``sign``
    is +1 for a gain and -1 for a loss of its row (the net rate's sign)."""

    name: str
    process: str
    out: str  # "qp", "ph_sc" or "ph_pair" (how the correlation output is placed)
    var: str  # "f" or "n": variable of the affine outer factor
    c0: float
    c1: float
    weight: float  # the rate's weight (2 for phonon scattering rows, notes Eq. 39)
    sign: float
    groups: tuple[tuple[str, tuple[_Bilinear, ...]], ...]  # (weight name, bilinears)


#: The table's factor names (:data:`fvqp.collisions.processes.FACTORS`) as this module's
#: input arrays, its output domains as placements and its outer factors as affine forms.
_ARRAYS = {"RF": "rf", "AF": "af", "RFF": "rF", "AFF": "aF",
           "P1": "p1", "P0": "p0", "Q1": "q1", "Q0": "q0"}
_PLACES = {"qp": "qp", "sc": "ph_sc", "pair": "ph_pair"}
_AFFINE = {"1-f": ("f", 1.0, -1.0), "f": ("f", 0.0, 1.0),
           "1+n": ("n", 1.0, 1.0), "n": ("n", 0.0, 1.0)}


def _bilinear(a: str, b: str, coef: float) -> _Bilinear:
    """The table's product ``a * b`` (:mod:`fvqp.collisions.processes`, Products) as a
    correlation or convolution of this module: ``~A * B`` is ``A star B``, ``A * ~B`` is
    ``B star A``, ``A * B`` is ``B * A``."""
    if a.startswith("~"):
        return _Bilinear("corr", _ARRAYS[a[1:]], _ARRAYS[b], coef)
    if b.startswith("~"):
        return _Bilinear("corr", _ARRAYS[b[1:]], _ARRAYS[a], coef)
    return _Bilinear("conv", _ARRAYS[b], _ARRAYS[a], coef)


def _terms(table: Sequence[Process] = TABLE) -> tuple[_Term, ...]:
    """The process table as this module's terms: one per rate, its table terms grouped
    by coherence post-factor (``"one"``; ``"ratio"``, or ``"-ratio"`` for a coefficient of
    -1), each table term's products a bilinear of the group carrying the coefficient."""
    out = []
    for process in table:
        for rate in process.rates:
            groups: dict[str, list[_Bilinear]] = {}
            for term in rate.terms:
                if term.post == "r":
                    key, coef = ("-ratio", 1.0) if term.coef == -1.0 else ("ratio", term.coef)
                else:
                    key, coef = "one", term.coef
                groups.setdefault(key, []).extend(_bilinear(term.a, b, coef)
                                                  for b in term.b)
            var, c0, c1 = _AFFINE[rate.outer]
            out.append(_Term(rate.target, process.name, _PLACES[rate.domain], var, c0, c1,
                             rate.weight, 1.0 if rate.gain else -1.0,
                             tuple((k, tuple(v)) for k, v in groups.items())))
    return tuple(out)


#: Every rate of :data:`fvqp.collisions.processes.PROCESSES` (notes Eqs. 35-40).
_TERMS: tuple[_Term, ...] = _terms()


_HEAD = 256  # QP convolution outputs recomputed exactly (see _Context.group_value)
_DECAYING = frozenset({"rf", "af", "p0", "q0"})  # ~exp(-energy/T) for thermal-like data


def _tilt_sign(b: _Bilinear) -> int:
    """Tilt sign ``s``: inputs are scaled by ``exp(s_x g e_x)``, ``exp(s_y g e_y)`` with
    ``(s_x, s_y) = (-s, s)`` for ``corr`` and ``(s, s)`` for ``conv``.

    ``y`` carries the output index, so the output decays with ``y``: amplify it (s = 1)
    when ``y`` is a decaying array, otherwise the output is flat and s = 0 is best.
    """
    return 1 if b.y in _DECAYING else 0


def _input_signs(b: _Bilinear, s: int) -> tuple[int, int]:
    return (-s, s) if b.op == "corr" else (s, s)


def transform_length(grid: EnergyGrid) -> int:
    """Zero-padded FFT length free of wrap-around for all correlations of the grid."""
    return sfft.next_fast_len(max(grid.n + grid.n_ph + 1, 2 * grid.n), real=True)


# ------------------------------------------------------------------ engine
class _Spectra:
    """Lazily computed rFFTs of the named, optionally tilted, input arrays."""

    def __init__(
        self,
        arrays: Callable[[str], np.ndarray | None],
        length: int,
        tilt: Callable[[str, int, int], np.ndarray],
    ) -> None:
        self._arrays = arrays
        self._length = length
        self._tilt = tilt
        self._cache: dict[tuple[str, int], np.ndarray | None] = {}
        self._raw: dict[str, np.ndarray | None] = {}

    def raw(self, key: str) -> np.ndarray | None:
        """Untilted input array ``key`` (real space)."""
        if key not in self._raw:
            self._raw[key] = self._arrays(key)
        return self._raw[key]

    def __getitem__(self, item: tuple[str, int]) -> np.ndarray | None:
        if item not in self._cache:
            key, sign = item
            arr = self.raw(key)
            if arr is not None and sign != 0:
                arr = arr * self._tilt(key, sign, arr.shape[0])
            self._cache[item] = None if arr is None else sfft.rfft(arr, self._length)
        return self._cache[item]


def _apply(op: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.conj(x) * y if op == "corr" else x * y


def _bilinear_spectrum(
    bils: tuple[_Bilinear, ...], s: int, px: _Spectra, tx: _Spectra | None = None
) -> np.ndarray | None:
    """Spectrum of ``sum sign * op(x, y)`` with tilt sign ``s`` (tangent if ``tx``)."""
    acc = None
    for b in bils:
        sx, sy = _input_signs(b, s)
        kx, ky = (b.x, sx), (b.y, sy)
        if tx is None:
            contrib = _apply(b.op, px[kx], px[ky])
        else:
            contrib = None
            dx, dy = tx[kx], tx[ky]
            if dx is not None:
                contrib = _apply(b.op, dx, px[ky])
            if dy is not None:
                part = _apply(b.op, px[kx], dy)
                contrib = part if contrib is None else contrib + part
            if contrib is None:
                continue
        contrib = contrib if b.sign == 1.0 else b.sign * contrib
        acc = contrib if acc is None else acc + contrib
    return acc


class _Context:
    """Grid constants shared by the primal and tangent evaluations."""

    def __init__(self, grid: EnergyGrid, params: CollisionParams, tilt: float) -> None:
        if not (np.isfinite(tilt) and tilt >= 0):
            raise ValueError("tilt must be finite and >= 0")
        if tilt * (grid.e_max + grid.omega_max) > 600.0:
            raise ValueError("tilt * (e_max + omega_max) must stay below 600 (overflow)")
        self.grid = grid
        self.tilt = float(tilt)
        self.length = transform_length(grid)
        self.nq, self.nph, self.m, self.h = grid.n, grid.n_ph, grid.m, grid.h
        self.s, self.pair_weight, e0 = pair_layout(grid)
        states = phonon_states(grid)  # g_k: Omega_k^2, but at 2 Delta in the vertex layout
        self.w2r = np.concatenate(([0.0], self.pair_weight * states))
        self.rho, self.ados = grid.dos, grid.ados
        ratio = self.ados / self.rho
        self.weights = {"one": 1.0, "ratio": ratio, "-ratio": -ratio}
        c, h = params.phonon_prefactor, grid.h
        self.c_ph = c
        self.w2 = np.concatenate(([0.0], states))
        # energy coordinate of index 0 of each input array (all have slope h)
        qp0, ph0, sh0 = e0, 0.0, self.s * h
        self.origin = {"rf": qp0, "rF": qp0, "af": qp0, "aF": qp0,
                       "p1": ph0, "p0": ph0, "q1": sh0, "q0": sh0}
        # output index range actually used by each placement
        self.out_range = {"qp": (0, self.nq), "ph_sc": (1, self.nph + 1),
                          "ph_pair": (0, max(self.nph - self.s + 1, 0))}

    def tilt_factor(self, key: str, sign: int, size: int) -> np.ndarray:
        """``exp(sign * tilt * energy)`` for the entries of input array ``key``."""
        return np.exp(sign * self.tilt * (self.origin[key] + self.h * np.arange(size)))

    def untilt(self, b: _Bilinear, s: int, out: str) -> np.ndarray | float:
        """Inverse output factor of a tilted bilinear (depends on the output index only)."""
        if s == 0 or self.tilt == 0.0:
            return 1.0
        ox, oy = self.origin[b.x], self.origin[b.y]
        base = oy - ox if b.op == "corr" else ox + oy
        lo, hi = self.out_range[out]
        return np.exp(-s * self.tilt * (base + self.h * np.arange(lo, hi)))

    def primal_arrays(self, f: np.ndarray, n: np.ndarray) -> Callable[[str], np.ndarray]:
        p1 = self.w2 * np.concatenate(([0.0], 1.0 + n))
        p0 = self.w2 * np.concatenate(([0.0], n))
        s = self.s
        q1 = (self.w2r * np.concatenate(([0.0], 1.0 + n)))[s:]
        q0 = (self.w2r * np.concatenate(([0.0], n)))[s:]
        table = {
            "rf": lambda: self.rho * f,
            "rF": lambda: self.rho * (1.0 - f),
            "af": lambda: self.ados * f,
            "aF": lambda: self.ados * (1.0 - f),
            "p1": lambda: p1,
            "p0": lambda: p0,
            "q1": lambda: q1,
            "q0": lambda: q0,
        }
        return lambda key: table[key]()

    def tangent_arrays(
        self, df: np.ndarray | None, dn: np.ndarray | None
    ) -> Callable[[str], np.ndarray | None]:
        dp = None if dn is None else self.w2 * np.concatenate(([0.0], dn))
        dq = None if dn is None else (self.w2r * np.concatenate(([0.0], dn)))[self.s:]
        table = {
            "rf": lambda: None if df is None else self.rho * df,
            "rF": lambda: None if df is None else -self.rho * df,
            "af": lambda: None if df is None else self.ados * df,
            "aF": lambda: None if df is None else -self.ados * df,
            "p1": lambda: dp,
            "p0": lambda: dp,
            "q1": lambda: dq,
            "q0": lambda: dq,
        }
        return lambda key: table[key]()

    def place(self, out: str, spectrum: np.ndarray | None, factor) -> np.ndarray:
        """Inverse transform, undo the tilt and map correlation indices to output nodes."""
        size = self.nq if out == "qp" else self.nph
        res = np.zeros(size)
        lo, hi = self.out_range[out]
        if spectrum is None or hi <= lo:
            return res
        vals = sfft.irfft(spectrum, self.length)[lo:hi] * factor
        if out == "ph_pair":  # correlation index p = k - s -> public index k - 1
            res[self.s - 1 :] = vals * self.pair_weight[self.s - 1 :]
        else:  # qp: index i; ph_sc: index k = 1..M -> public index k - 1
            res[:] = vals
        return res

    def group_value(
        self, out: str, bils: tuple[_Bilinear, ...], px: _Spectra, tx: _Spectra | None
    ) -> np.ndarray:
        """Sum of the bilinears of one group (one inverse FFT per partition).

        Bilinears are partitioned by tilt sign and, for QP outputs, by operation: the
        first ``_HEAD`` outputs of a QP convolution (``sum_{k <= i}``, only ``i + 1``
        terms, hence tiny compared with the global FFT round-off) are recomputed by
        exact direct sums in O(_HEAD^2).
        """
        parts: dict[tuple[int, bool], list[_Bilinear]] = {}
        for b in bils:
            s = _tilt_sign(b) if self.tilt else 0
            head = out == "qp" and b.op == "conv"
            parts.setdefault((s, head), []).append(b)
        total = 0.0
        for (s, head), sub in parts.items():
            spec = _bilinear_spectrum(tuple(sub), s, px, tx)
            vals = self.place(out, spec, self.untilt(sub[0], s, out))
            if head:
                k = min(_HEAD, self.nq)
                vals[:k] = _conv_head(tuple(sub), px, tx, k)
            total = total + vals
        return total


def _conv_head(
    bils: tuple[_Bilinear, ...], px: _Spectra, tx: _Spectra | None, k: int
) -> np.ndarray:
    """Exact first ``k`` outputs of ``sum sign * (x * y)`` (or of its tangent)."""
    acc = np.zeros(k)
    for b in bils:
        x, y = px.raw(b.x), px.raw(b.y)
        if tx is None:
            acc += b.sign * np.convolve(x[:k], y[:k])[:k]
            continue
        dx, dy = tx.raw(b.x), tx.raw(b.y)
        if dx is not None:
            acc += b.sign * np.convolve(dx[:k], y[:k])[:k]
        if dy is not None:
            acc += b.sign * np.convolve(x[:k], dy[:k])[:k]
    return acc


def _evaluate(
    ctx: _Context,
    terms: tuple[_Term, ...],
    f: np.ndarray,
    n: np.ndarray,
    tangent: tuple[np.ndarray | None, np.ndarray | None] | None = None,
) -> dict[str, np.ndarray]:
    """Evaluate the selected terms (or their directional derivatives)."""
    px = _Spectra(ctx.primal_arrays(f, n), ctx.length, ctx.tilt_factor)
    tx = None
    if tangent is not None:
        tx = _Spectra(ctx.tangent_arrays(*tangent), ctx.length, ctx.tilt_factor)
    var = {"f": f, "n": n}
    dvar = {} if tangent is None else {"f": tangent[0], "n": tangent[1]}
    results: dict[str, np.ndarray] = {}
    for term in terms:
        outer = term.c0 + term.c1 * var[term.var]
        scale = term.weight * (ctx.h if term.out == "qp" else ctx.c_ph * ctx.h)
        d_outer = dvar.get(term.var)
        value = 0.0
        if tangent is None or d_outer is not None:
            for wname, bils in term.groups:
                value = value + ctx.weights[wname] * ctx.group_value(term.out, bils, px, None)
        if tangent is None:
            _add(results, term.name, scale * outer * value)
            continue
        dval = 0.0
        for wname, bils in term.groups:
            dval = dval + ctx.weights[wname] * ctx.group_value(term.out, bils, px, tx)
        res = scale * outer * dval
        if d_outer is not None:
            res = res + scale * term.c1 * d_outer * value
        _add(results, term.name, res)
    return results


def _add(results: dict, key: str, value: np.ndarray) -> None:
    """Sum the rates of several processes that add to one field."""
    results[key] = value if key not in results else results[key] + value


# ----------------------------------------------------------------------- public API
def collision_terms_fft(
    f: np.ndarray,
    n: np.ndarray,
    grid: EnergyGrid,
    params: CollisionParams,
    processes: Sequence[str] = PROCESSES,
    tilt: float = 0.0,
) -> CollisionTerms:
    """Gain/loss terms of the discrete operator via FFT correlations, O(N log N).

    Same discrete operator and signature as
    :func:`~fvqp.collisions.direct.collision_terms_direct` (real inputs only).

    Parameters
    ----------
    tilt : float, optional
        Exponential tilt ``gamma >= 0`` (units 1/kTc) that makes round-off pointwise
        relative for thermal-like tails; use ``~1/T`` (see module docstring).  Does not
        change the operator, only its floating-point error.
    """
    procs, f, n = check_inputs(f, n, grid, processes)
    ctx = _Context(grid, params, tilt)
    terms = tuple(t for t in _TERMS if t.process in procs)
    res = _evaluate(ctx, terms, f, n)
    get = {t.name: np.zeros(grid.n if t.out == "qp" else grid.n_ph) for t in _TERMS}
    get.update(res)
    return CollisionTerms(**get)


def jvp_fft(
    f: np.ndarray,
    n: np.ndarray,
    df: np.ndarray | None,
    dn: np.ndarray | None,
    grid: EnergyGrid,
    params: CollisionParams,
    processes: Sequence[str] = PROCESSES,
    tilt: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact Jacobian-vector product ``(dS_qp, dS_ph) = J(f, n) @ (df, dn)`` via FFTs.

    Parameters
    ----------
    f, n : ndarray
        Linearisation point.
    df, dn : ndarray or None
        Direction (``None`` means zero).
    grid, params, processes, tilt
        As for :func:`collision_terms_fft`.

    Returns
    -------
    (ndarray, ndarray)
        Directional derivatives of :math:`S_{qp}` (length ``grid.n``) and of
        :math:`S_{ph}` (length ``grid.n_ph``).
    """
    procs, f, n = check_inputs(f, n, grid, processes)
    if df is not None:
        df = np.asarray(df, dtype=float)
        if df.shape != f.shape:
            raise ValueError("df must have the shape of f")
    if dn is not None:
        dn = np.asarray(dn, dtype=float)
        if dn.shape != n.shape:
            raise ValueError("dn must have the shape of n")
    ctx = _Context(grid, params, tilt)
    terms = tuple(t for t in _TERMS if t.process in procs)
    res = _evaluate(ctx, terms, f, n, tangent=(df, dn))
    dq, dp = np.zeros(grid.n), np.zeros(grid.n_ph)
    signs = {t.name: t.sign for t in terms}
    for name, val in res.items():
        if name.startswith("qp"):
            dq += signs[name] * val
        else:
            dp += signs[name] * val
    return dq, dp
