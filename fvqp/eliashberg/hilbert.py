r"""Hilbert and Kramers-Kronig transforms on a uniform grid (FFT, O(N log N)).

Convention: :math:`\mathcal{H}[u](x) = \frac{1}{\pi}\,\mathcal{P}\!\int
\frac{u(y)}{x-y}\,dy`.  For a function :math:`g` analytic in the upper half plane and
vanishing at infinity (a retarded self-energy), :math:`\operatorname{Re} g =
-\mathcal{H}[\operatorname{Im} g]` and :math:`\operatorname{Im} g =
\mathcal{H}[\operatorname{Re} g]`.

Discretisation: :math:`u` is replaced by its piecewise-linear interpolant on the nodes
:math:`x_j = jh` (zero beyond the ends); integrating the hat functions exactly against
the Cauchy kernel gives the Toeplitz weights

.. math:: \mathcal{H}[u](x_i) \approx \frac{1}{\pi}\sum_j u_j K_{i-j},\qquad
   K_k = (k+1)\ln|k+1| - 2k\ln|k| + (k-1)\ln|k-1|,

(odd in :math:`k`, :math:`K_k\to 1/k`), which is second order in :math:`h` for smooth
:math:`u` and exact for piecewise-linear :math:`u`.  The Toeplitz product is a linear
(zero-padded) convolution evaluated with ``scipy.signal.fftconvolve``.

Half-line data: the real-axis self-energies are stored for :math:`\epsilon \ge 0` only.
With :math:`g(-\epsilon) = g(\epsilon)^*` (notes, Section 3.1),
:math:`\operatorname{Im} Z` and :math:`\operatorname{Im}\phi` are odd and
:math:`\operatorname{Im}(\epsilon Z)` is even; :func:`hilbert_halfline` builds the
odd/even extension and :func:`kramers_kronig` evaluates Eqs. 184/186 of the notes,

.. math:: \operatorname{Re} g(\epsilon) = \frac{2}{\pi}\mathcal{P}\!\int_0^\infty
   \frac{\epsilon'\operatorname{Im} g(\epsilon')}{\epsilon'^2-\epsilon^2}d\epsilon'
   \quad(\text{odd Im}),\qquad
   \frac{2\epsilon}{\pi}\mathcal{P}\!\int_0^\infty
   \frac{\operatorname{Im} g(\epsilon')}{\epsilon'^2-\epsilon^2}d\epsilon'
   \quad(\text{even Im}),

plus an analytic tail beyond the grid end :math:`L` (``tail=True``): for even
:math:`\operatorname{Im} g\to\Gamma` (a constant normal-state scattering rate),
:math:`(\Gamma/\pi)\ln\frac{L+\epsilon}{L-\epsilon}`; for odd
:math:`\epsilon\operatorname{Im} g\to C`, :math:`\frac{C}{\pi\epsilon}\ln\frac{L+\epsilon}
{L-\epsilon}`.  Without it the truncation error of :math:`\operatorname{Re} Z` is
:math:`\approx 2\Gamma/(\pi L)`.

:func:`hilbert_pv_dense` is an independent O(N^2) reference (trapezoid rule with
singularity subtraction) used by the tests and by ``benchmarks/eliashberg.py``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.signal import fftconvolve

__all__ = [
    "hilbert_kernel",
    "hilbert_uniform",
    "hilbert_halfline",
    "kramers_kronig",
    "hilbert_pv_dense",
]

Parity = Literal["even", "odd"]


def hilbert_kernel(kmax: int) -> np.ndarray:
    r"""Weights :math:`K_k` for :math:`k=-k_{max}..k_{max}` (see module docstring).

    Written with ``log1p`` so that the large-:math:`k` values (:math:`\approx 1/k`) carry
    no cancellation error.
    """
    k = np.arange(1, kmax + 1, dtype=float)
    pos = np.empty(kmax)
    if kmax >= 1:
        pos[0] = 2.0 * np.log(2.0)
        kk = k[1:]
        pos[1:] = kk * np.log1p(-1.0 / kk**2) + np.log1p(1.0 / kk) - np.log1p(-1.0 / kk)
    return np.concatenate([-pos[::-1], [0.0], pos])


def hilbert_uniform(u: np.ndarray) -> np.ndarray:
    r""":math:`\mathcal{H}[u]` at the nodes of a uniform grid (u zero beyond the ends).

    The grid spacing drops out of the Cauchy kernel, so only the samples are needed.
    """
    u = np.asarray(u)
    n = u.shape[-1]
    full = fftconvolve(u, hilbert_kernel(n - 1))
    return full[n - 1 : 2 * n - 1] / np.pi


def _extend(u: np.ndarray, parity: Parity) -> np.ndarray:
    if parity == "even":
        return np.concatenate([u[:0:-1], u])
    if parity == "odd":
        return np.concatenate([-u[:0:-1], [0.0], u[1:]])
    raise ValueError(f"parity must be 'even' or 'odd', got {parity!r}")


def hilbert_halfline(u: np.ndarray, parity: Parity) -> np.ndarray:
    """Hilbert transform of the even/odd extension of half-line samples ``u[j] = u(j h)``.

    Returns the transform at the same nodes (its parity is the opposite one).
    """
    u = np.asarray(u, dtype=float)
    n = u.size
    return hilbert_uniform(_extend(u, parity))[n - 1 :]


def _tail(x: np.ndarray, end: float, coeff: float, parity: Parity) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        log = np.log((end + x) / (end - x))
        if parity == "even":
            return coeff / np.pi * log
        safe = np.where(x > 0, x, 1.0)
        return np.where(x > 0, coeff / (np.pi * safe) * log, 2 * coeff / (np.pi * end))


def kramers_kronig(im: np.ndarray, h: float, parity: Parity, tail: bool = True) -> np.ndarray:
    r"""Real part of a causal function from its imaginary part on :math:`\epsilon_j = jh\ge 0`.

    Parameters
    ----------
    im : numpy.ndarray
        :math:`\operatorname{Im} g(\epsilon_j)`, ``j = 0..n-1``.
    h : float
        Grid spacing (only used for the tail).
    parity : {"even", "odd"}
        Parity of :math:`\operatorname{Im} g` (odd: :math:`Z-1` and :math:`\phi`, Eqs.
        184/186; even: :math:`\epsilon(Z-1)`).
    tail : bool
        Add the analytic contribution of :math:`|\epsilon'| > L` assuming
        :math:`\operatorname{Im} g \to` const (even) or :math:`\epsilon\operatorname{Im} g
        \to` const (odd) beyond the last node (see module docstring).

    Returns
    -------
    numpy.ndarray
        :math:`\operatorname{Re} g(\epsilon_j)` (the constant at infinity is zero).
    """
    im = np.asarray(im, dtype=float)
    re = -hilbert_halfline(im, parity)
    if tail:
        n = im.size
        end = (n - 0.5) * h  # the hat of the last node reaches half a cell further on average
        x = np.arange(n) * h
        coeff = im[-1] if parity == "even" else im[-1] * (n - 1) * h
        re = re + _tail(x, end, coeff, parity)
    return re


def hilbert_pv_dense(x: np.ndarray, u: np.ndarray, chunk: int = 2048) -> np.ndarray:
    r"""Dense O(N^2) principal-value reference for :math:`\mathcal{H}[u]` on nodes ``x``.

    Trapezoid rule with the singularity subtracted,
    :math:`\pi\mathcal{H}[u](x_i) = \int\frac{u(y)-u(x_i)}{x_i-y}dy + u(x_i)
    \ln\frac{x_i-a}{b-x_i}`, with the removable point :math:`y=x_i` replaced by the
    centred derivative :math:`-u'(x_i)`. Works on any increasing grid; second order.
    """
    x = np.asarray(x, dtype=float)
    u = np.asarray(u, dtype=float)
    w = np.empty_like(x)
    w[1:-1] = 0.5 * (x[2:] - x[:-2])
    w[0] = 0.5 * (x[1] - x[0])
    w[-1] = 0.5 * (x[-1] - x[-2])
    du = np.gradient(u, x)
    a, b = x[0], x[-1]
    out = np.empty_like(x)
    for s in range(0, x.size, chunk):
        xi = x[s : s + chunk, None]
        ui = u[s : s + chunk, None]
        d = xi - x[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            integrand = np.where(d != 0, (u[None, :] - ui) / np.where(d != 0, d, 1.0), 0.0)
        idx = np.arange(s, min(s + chunk, x.size))
        integrand[idx - s, idx] = -du[idx]
        with np.errstate(divide="ignore"):
            log = np.log((x[idx] - a) / (b - x[idx]))
        log = np.where(np.isfinite(log), log, 0.0)
        out[idx] = integrand @ w + u[idx] * log
    return out / np.pi
