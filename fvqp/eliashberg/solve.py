r"""Self-consistent real-axis Eliashberg equations (notes Section 3.1, Eqs. 180-186).

Iteration (the procedure of the notes): start from the BCS guess
:math:`\Delta(\epsilon)=\Delta_{BCS}(T)` (:func:`initial_gap`), :math:`Z=1`; then repeat

1. cell-averaged :math:`\rho`, :math:`\varphi` from :math:`\Delta`
   (:mod:`fvqp.eliashberg.spectral`, Eqs. 166-167);
2. :math:`\operatorname{Im}[\epsilon Z]`, :math:`\operatorname{Im}\phi` (Eqs. 180-183,
   finite-T form in :mod:`fvqp.eliashberg.selfenergy`);
3. real parts by FFT Kramers-Kronig (Eqs. 184, 186) plus the Coulomb term
   :math:`\phi_C=-\mu^*\int_0^{\omega_c}\tanh(\epsilon/2T)\varphi`;
4. :math:`\Delta_{new}=\phi/Z`,

with Anderson acceleration of :math:`\Delta\mapsto\Delta_{new}` (real and imaginary
parts stacked; :class:`fvqp.eliashberg.anderson.AndersonMixer`, under-relaxation
``beta``). Converged when :math:`\max_\epsilon|\Delta_{new}-\Delta| <` ``tol``.

Grid: :math:`\epsilon_j=jh`, :math:`j<n`, up to ``emax`` (default
:math:`2.4\max(\omega_c, 2.5\Omega_{max})`; must exceed twice the largest phonon
energy; for Al, :math:`\Delta_0` changes by 0.4 % from 1.2 to 2.4 and by 0.04 % from
2.4 to 4.8 times :math:`\omega_c`). Cost per sweep:
four FFT convolutions and two FFT Hilbert transforms of length :math:`\sim 2n`.
"""

from __future__ import annotations

import logging

import numpy as np

from ..materials import Material
from ..spectra.gap import BCS_GAP_RATIO, bcs_gap
from .anderson import AndersonMixer
from .occupations import Occupations
from .params import EliashbergParams
from .selfenergy import RealAxisGrid, SelfEnergyKernel, gap_from
from .solution import EliashbergConvergenceError, EliashbergSolution

__all__ = ["initial_gap", "solve_eliashberg", "solve_real_axis"]

log = logging.getLogger(__name__)


def initial_gap(temperature: float) -> float:
    r"""The default start of the iteration, in the solver's unit :math:`k_BT_c`: the
    weak-coupling BCS gap at :math:`t = T/T_c` (:func:`fvqp.spectra.gap.bcs_gap` with
    :math:`T_c = 1`; :data:`~fvqp.spectra.gap.BCS_GAP_RATIO` = 1.764 at :math:`t = 0`),
    the guess of the notes (Section 3.1). At and above :math:`T_c` it stays
    :math:`1.764`: a zero start is a fixed point of the iteration (the normal state) and
    would hide a superconducting solution of a model whose own :math:`T_c` lies above
    the material's. (The ratio 1.764 alone — the default before — was in the right unit
    but the zero-temperature gap at every temperature: 88 % above the converged gap of
    Al at :math:`0.9\,T_c`, ``tests/test_eliashberg_guess.py``.)"""
    t = float(temperature)
    if t <= 0.0 or t >= 1.0:
        return float(BCS_GAP_RATIO)
    return float(bcs_gap(t, 1.0))


def _z_from_ez(ez: np.ndarray, e: np.ndarray) -> np.ndarray:
    z = np.empty_like(ez)
    z[1:] = ez[1:] / e[1:]
    z[0] = (4.0 * z[1].real - z[2].real) / 3.0  # even extrapolation (Z is singular at 0 if T > 0)
    return z


def solve_real_axis(
    params: EliashbergParams,
    temperature: float = 0.0,
    n: int = 2**15,
    emax: float | None = None,
    tol: float = 1e-8,
    maxiter: int = 200,
    mixing: float = 0.6,
    history: int = 6,
    delta_guess: float | np.ndarray | None = None,
    check: bool = True,
    occupations: Occupations | None = None,
) -> EliashbergSolution:
    r"""Solve the real-axis Eliashberg equations at temperature ``temperature``.

    Parameters
    ----------
    params : EliashbergParams
        :math:`\alpha^2F`, :math:`\mu^*`, :math:`\omega_c` (energies in :math:`k_BT_c`).
    temperature : float
        :math:`T/T_c` (0 for the ground state).
    n : int
        Number of real-axis nodes (an FFT-friendly size such as :math:`2^{15}`).
    emax : float, optional
        Grid end (default :math:`2.4\max(\omega_c, 2.5\,\Omega_{max})`; the tail
        of :math:`\operatorname{Re}\phi` beyond it is modelled, see
        :mod:`fvqp.eliashberg.selfenergy`).
    tol : float
        Convergence threshold on :math:`\max|\Delta_{new}-\Delta|` (units :math:`k_BT_c`).
    maxiter : int
        Maximum number of Eliashberg sweeps.
    mixing : float
        Under-relaxation :math:`\beta` of the Anderson mixer.
    history : int
        Anderson depth (0: plain under-relaxation).
    delta_guess : float or array, optional
        Initial gap (unit :math:`k_BT_c`); default :func:`initial_gap`, the BCS gap at
        ``temperature`` (1.764 at :math:`T = 0`).
    check : bool
        Raise :class:`EliashbergConvergenceError` on failure (else return with
        ``success=False``).
    occupations : Occupations, optional
        Non-equilibrium QP and phonon occupations in Eqs. 180-181
        (:mod:`fvqp.eliashberg.occupations`): the gap is then self-consistent for that
        distribution; ``temperature`` is the reference of the Coulomb term. Default:
        thermal at ``temperature``.

    Returns
    -------
    EliashbergSolution
    """
    if emax is None:
        emax = 2.4 * max(params.omega_c, 2.5 * params.a2f.omega_max)
    grid = RealAxisGrid.build(emax, n)
    kern = SelfEnergyKernel(grid, params.a2f, temperature, occupations)
    e = grid.e
    if delta_guess is None:
        delta = np.full(n, initial_gap(temperature), dtype=complex)
    else:
        delta = np.broadcast_to(np.asarray(delta_guess, dtype=complex), (n,)).copy()
    mixer = AndersonMixer(depth=history, beta=mixing)
    status, message, resid, hist = 1, "iteration limit reached", np.inf, []
    it = 0
    for it in range(1, maxiter + 1):
        ez, phi, rho, ados = kern.evaluate(delta, params.mu_star, params.omega_c, params.coulomb)
        new = gap_from(ez, phi, e)
        if not np.all(np.isfinite(new)):
            status, message = 2, f"non-finite gap at sweep {it}"
            break
        resid = float(np.max(np.abs(new - delta)))
        hist.append(resid)
        log.debug("eliashberg sweep %d: max|dDelta| = %.3e", it, resid)
        if resid < tol:
            delta = new
            status, message = 0, f"converged: max|dDelta| = {resid:.2e} < tol = {tol:g}"
            break
        x = np.concatenate([delta.real, delta.imag])
        gx = np.concatenate([new.real, new.imag])
        x = mixer.step(x, gx)
        delta = x[:n] + 1j * x[n:]
    # final consistent sweep so that Z, phi, rho, varphi all belong to the returned gap
    ez, phi, rho, ados = kern.evaluate(delta, params.mu_star, params.omega_c, params.coulomb)
    sol = EliashbergSolution(
        e=e,
        z=_z_from_ez(ez, e),
        phi=phi,
        ez=ez,
        rho_cell=rho,
        ados_cell=ados,
        params=params,
        temperature=float(temperature),
        success=status == 0,
        status=status,
        message=message,
        nit=it,
        residual=resid,
        phi_coulomb=kern.last_phi_coulomb,
        history=hist,
    )
    if check and status != 0:
        raise EliashbergConvergenceError(
            f"real-axis Eliashberg solve failed after {it} sweeps ({message}; "
            f"last max|dDelta| = {resid:.3g}, tol = {tol:g}); try more iterations "
            "(maxiter), a smaller mixing, or a finer grid",
            sol,
        )
    return sol


def solve_eliashberg(
    material_or_params: str | Material | EliashbergParams,
    temperature: float = 0.0,
    **kwargs,
) -> EliashbergSolution:
    r"""Convenience front end: material name/:class:`Material` or :class:`EliashbergParams`.

    Materials use the Debye model of :meth:`EliashbergParams.from_material` (λ from
    :data:`fvqp.eliashberg.params.COUPLING`, :math:`\mu^*` calibrated on :math:`T_c`).
    ``temperature`` is :math:`T/T_c`; other keywords go to :func:`solve_real_axis`.
    """
    if isinstance(material_or_params, EliashbergParams):
        params = material_or_params
    else:
        params = EliashbergParams.from_material(material_or_params)
    return solve_real_axis(params, temperature=temperature, **kwargs)
