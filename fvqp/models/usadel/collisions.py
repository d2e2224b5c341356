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
:math:`\gamma_{ee}`, with the weak-coupling :math:`t_c=k_BT_c/\Delta_0=e^{\gamma_E}/\pi`
(1/1.764, :data:`fvqp.spectra.gap.BCS_GAP_RATIO`): :math:`\tau_{ee}` is the
relaxation time of a distortion δf there. The out-scattering lifetime is
:math:`2\tau_{ee}` (out rate :math:`K\pi^2t_c^2/4`); a lifetime-defined
:math:`\tau_{ee}` corresponds to ``gamma_ee`` = 2ħ/(Δ0 τ_ee).

All sums are correlations/convolutions on the uniform energy grid, evaluated by FFT for
all nodes at once.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import next_fast_len

from ...spectra import bose
from ...spectra.gap import BCS_GAP_RATIO


def kernel_constant(gamma_ee: float, tc: float = 1.0 / BCS_GAP_RATIO) -> float:
    """K such that the normal-state rate at ε = 0 and T = Tc is γ_ee."""
    return gamma_ee / (0.5 * np.pi**2 * tc**2)


def ee_rates(fL, N, R, de: float):
    """In- and out-scattering functions ``(I, O)`` with (In - Out) = (1-f) I - f O.

    ``fL, N, R`` have shape (..., n_eps); R = Im F. Every sum is a linear convolution;
    the spectra of the arrays involved are computed once (real FFTs).
    """
    n = fL.shape[-1]
    f = 0.5 * (1.0 - fL)
    h = 1.0 - f
    a1, a2, b1, b2 = N * f, R * f, N * h, R * h
    L = next_fast_len(2 * n - 1, real=True)  # wrap-around misses the kept indices

    def F(x):
        return np.fft.rfft(x, L, axis=-1)

    def iF(X, sl):
        return np.fft.irfft(X, L, axis=-1)[..., sl]

    Fa1, Fa2, Fb1, Fb2 = F(a1), F(a2), F(b1), F(b2)
    # A_m = sum_k a[k] b[k+m], m = -(n-1)..(n-1): full convolution of reversed a with b
    A = iF(F(a1[..., ::-1]) * Fb1 - F(a2[..., ::-1]) * Fb2, slice(0, 2 * n - 1)) * de
    FA, FB = F(A), F(A[..., ::-1])
    s = slice(n - 1, 2 * n - 1)
    O = (N * iF(Fb1 * FA, s) - R * iF(Fb2 * FA, s)) * de
    I = (N * iF(Fa1 * FB, s) - R * iF(Fa2 * FB, s)) * de
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


# --- electron-phonon -------------------------------------------------------------------

def _phonon_weights(n: int, de: float, t_ph: float):
    """Kernels ω|ω|(1 + n_B(ω)) and ω|ω| n_B(ω) on ω_m = m δε, m = -(n-1)..(n-1)."""
    w = np.arange(-(n - 1), n) * de
    nb = bose(w, t_ph)  # t_ph = 0: 0 (emission) and -1 (absorption); inf at ω = 0
    with np.errstate(invalid="ignore"):
        k = w * np.abs(w)
        emit, absorb = k * (1.0 + nb), k * nb
    emit[n - 1] = absorb[n - 1] = 0.0  # ω -> 0 limit (ω|ω| n_B(ω) -> 0)
    return emit, absorb


def ep_rates(fL, N, R, de: float, t_ph: float):
    r"""In/out functions of the electron–phonon integral with equilibrium phonons at
    ``t_ph``: an electron at ε goes to ε − ω emitting (ω > 0) or absorbing (ω < 0) a
    phonon, kernel ω|ω| (Kaplan et al. 1976, Eliashberg function α²F ∝ Ω²), coherence
    factor ρ(ε, ε−ω) = NN' − Im F Im F' (which on the whole axis includes recombination
    and pair breaking). ``(In − Out) = (1−f) I − f O``; multiply by K_ph = γ_ph/t_c³,
    γ_ph = ħ/(Δ0 τ0)."""
    n = fL.shape[-1]
    f = 0.5 * (1.0 - fL)
    h = 1.0 - f
    emit, absorb = _phonon_weights(n, de, t_ph)
    L = next_fast_len(3 * n - 2, real=True)

    def conv(x, k):
        return np.fft.irfft(np.fft.rfft(x, L, axis=-1) * np.fft.rfft(k, L), L,
                            axis=-1)[..., n - 1:2 * n - 1]

    O = (N * conv(N * h, emit) - R * conv(R * h, emit)) * de
    I = (N * conv(N * f, absorb) - R * conv(R * f, absorb)) * de
    return I, O


def ep_collision_integral(fL, N, R, de: float, K: float, t_ph: float):
    r""":math:`\mathcal I_L^{e\text{-}ph}` (same sign convention as the e–e integral)."""
    I, O = ep_rates(fL, N, R, de, t_ph)
    f = 0.5 * (1.0 - fL)
    return 2.0 * K * ((1.0 - f) * I - f * O)


def ep_kernel_constant(gamma_ph: float, tc: float = 1.0 / BCS_GAP_RATIO) -> float:
    """K_ph = γ_ph / t_c³ with γ_ph = ħ/(Δ0 τ0) (Kaplan's τ0 normalisation)."""
    return gamma_ph / tc**3
