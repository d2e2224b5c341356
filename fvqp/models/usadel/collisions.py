r"""Electron–electron collision integral for the energy mode fL.

Form used by Ryan et al. (2026, Sec. V and App. B), after Bobkova & Bobkov, PRB 93,
024513 (2016), Eq. 16 (spin-degenerate case). The text of that equation is not among
fvqp's references; it is reconstructed here as the standard dirty-limit
electron–electron integral with an energy-independent kernel and the density-vertex
coherence factors, written for the electron distribution :math:`f=(1-f_L)/2` on the
whole energy axis (so that scattering, pair breaking with its 3Δ threshold and
recombination are all contained):

.. math::
   \mathcal I_L(\epsilon) = 2K\!\int\! d\omega\, \rho(\epsilon,\epsilon-\omega)
   \big[(1-f_\epsilon) f_{\epsilon-\omega} B(\omega) - f_\epsilon(1-f_{\epsilon-\omega})
   A(\omega)\big],\quad
   A(\omega)=\!\int\! d\epsilon'\rho(\epsilon',\epsilon'+\omega) f_{\epsilon'}
   (1-f_{\epsilon'+\omega}),

:math:`B(\omega)=A(-\omega)`, :math:`\rho(\epsilon,\epsilon')=N N'-\mathrm{Im}\mathcal F\,
\mathrm{Im}\mathcal F'` (BCS: :math:`NN'(1\mp\Delta^2/\epsilon\epsilon')` for
scattering/pair breaking). Its sign matches Eq. 9, :math:`\mathcal D_L\partial_x^2 f_L=
\mathcal I_L`, and it vanishes for every equilibrium :math:`f_L=\tanh(\epsilon/2t)`.
The constant K is fixed by the paper's definition of
:math:`\gamma_{ee}=\hbar/\Delta_0\tau_{ee}`: the normal-state relaxation rate at the
Fermi level at :math:`T_c` (in + out scattering, :math:`K\pi^2 t_c^2/2`) equals
:math:`\gamma_{ee}`, with :math:`t_c=k_BT_c/\Delta_0=1/1.764`.

All sums are correlations/convolutions on the uniform energy grid, evaluated by FFT for
all nodes at once.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve

#: k_B T_c / Δ0 in weak-coupling BCS
T_C_BCS = 1.0 / 1.764


def kernel_constant(gamma_ee: float, tc: float = T_C_BCS) -> float:
    """K such that the normal-state rate at ε = 0 and T = Tc is γ_ee."""
    return gamma_ee / (0.5 * np.pi**2 * tc**2)


def _conv(a, b):
    return fftconvolve(a, b, axes=-1)


def ee_rates(fL, N, R, de: float):
    """In- and out-scattering functions ``(I, O)`` with (In - Out) = (1-f) I - f O.

    ``fL, N, R`` have shape (..., n_eps); R = Im F.
    """
    n = fL.shape[-1]
    f = 0.5 * (1.0 - fL)
    h = 1.0 - f
    a1, a2, b1, b2 = N * f, R * f, N * h, R * h
    # A_m = sum_k a[k] b[k+m], m = -(n-1)..(n-1)
    A = (_conv(a1[..., ::-1], b1) - _conv(a2[..., ::-1], b2)) * de
    B = A[..., ::-1]
    s = slice(n - 1, 2 * n - 1)
    O = (N * _conv(b1, A)[..., s] - R * _conv(b2, A)[..., s]) * de
    I = (N * _conv(a1, B)[..., s] - R * _conv(a2, B)[..., s]) * de
    return I, O


def collision_integral(fL, N, R, de: float, K: float):
    r""":math:`\mathcal I_L` on the grid (shape of fL)."""
    I, O = ee_rates(fL, N, R, de)
    f = 0.5 * (1.0 - fL)
    return 2.0 * K * ((1.0 - f) * I - f * O)


def collision_diagonal(fL, N, R, de: float, K: float):
    """Approximate ∂I_L/∂fL (the local in + out rate), for preconditioning."""
    I, O = ee_rates(fL, N, R, de)
    return K * (I + O)
