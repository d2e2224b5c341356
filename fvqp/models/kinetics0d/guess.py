r"""Quasi-thermal start of the steady-state Newton iteration (Rothwarf-Taylor balances).

Why the bath is a poor start
----------------------------
At low temperature the bath holds :math:`N_T \propto e^{-\Delta/T}` quasiparticles and a
weak pair-breaking drive raises the QP number by orders of magnitude. Newton from the
bath linearises the recombination :math:`R N^2` about :math:`N_T`: the QP-number balance
:math:`I = R(N^2 - N_T^2)` (Rothwarf & Taylor, PRL 19, 27 (1967)) becomes
:math:`\delta N = I/(2RN_T)`, an overshoot by :math:`N/(2N_T)`, so the first step leaves
the domain (negative occupations) and the line search fails. Al at 80 mK (0.067 Tc),
:math:`\tau_{esc}` = 12 ns (50 :math:`\tau_{pb}`), 2e-3 W/m^3 of 850 ueV photons:
``DIVERGED_FUNCTION_NANORINF`` after one step (docs/theory_kinetics0d.md).

The estimate
------------
The start is the steady state restricted to a two-parameter family: quasi-thermal QPs
(Owen & Scalapino, PRL 28, 1559 (1972); Chang & Scalapino, PRB 15, 2651 (1977))

.. math:: f_i = \frac{1}{e^{(E_i - \mu^*)/T^*} + 1}

and, for that ``f``, the phonons of the exact phonon balance. The phonon equation of
node ``k`` is affine in :math:`n_k` alone for a fixed ``f`` (every collision term holds one
phonon occupation; escape is linear; phonon injection is a constant):
:math:`\dot n_k = a_k(f) - b_k(f)\,n_k`, so

.. math:: n_k(f) = \frac{a_k}{b_k}, \qquad a_k = \dot n_k(f, n = 0), \quad
    b_k = \dot n_k(f, 0) - \dot n_k(f, 1)

— emission and recombination into the node against pair breaking, absorption and escape
(:math:`\tau_{esc}`) out of it: the phonon side of the Rothwarf-Taylor equations with
phonon loss, node by node, including the bottleneck factor
:math:`B\tau_l/(1 + B\tau_l)` of the pair-breaking phonons. :math:`T^*` and
:math:`\mu^*` then solve the two moments of the QP equation,

.. math::
    \dot N = \sum_i h\bar\rho_i\,\dot f_i = 0 \quad\text{(QP generation = recombination)},
    \qquad
    \dot E = \sum_i h\bar\rho_i E_i\,\dot f_i = 0,

and since the phonons are balanced, :math:`\dot E = P_{in} - P_{esc}`: the absorbed power
escapes through :math:`\tau_{esc}`. Both are solved by bracketed root finding
(regula falsi), nested: for a trial :math:`T^*` the number balance in
:math:`u = \mu^*/T^*` (:math:`\dot N` is nearly affine in :math:`e^{2u} \propto N^2`),
then the power balance in :math:`\ln T^*`. Each trial costs three evaluations of
:math:`\dot y` (no Jacobian), by the FFT collision operator whatever the model's method:
the start needs no pointwise round-off accuracy, and the direct operator, which the
model uses below 600 cells for Newton, costs ~50x more per evaluation (Al at 80 mK,
2 ueV spacing, 461 cells: 32 ms against 0.65 ms; the start 3.2 s against 0.16 s with
the rebalanced phonons below, T* and mu* equal to 1e-8). The phonons of the returned
start are then balanced with the model's own rates (two more evaluations): in the far
tail, where the balanced n is ~1e-100, the FFT's round-off leaves ~1e-55. If the search
fails with the FFT rates it is repeated with the model's own.

The hot QPs the drive creates are not in the family, so the estimate is a start, not an
answer: Newton (:func:`fvqp.models.kinetics0d.steady_state`) takes it from there and the
converged state is the same.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import numpy as np

from ...spectra.thermal_occupations import fermi
from .model import Kinetics0D

log = logging.getLogger(__name__)

__all__ = ["QuasiThermalGuess", "phonon_balance", "quasi_thermal_guess"]

#: largest number of bracket expansions of one root search
_MAX_EXPAND = 60


@dataclass
class QuasiThermalGuess:
    r"""Outcome of :func:`quasi_thermal_guess`.

    Attributes
    ----------
    t_qp : float
        :math:`T^*` (kTc).
    mu : float
        :math:`\mu^*` (kTc).
    evaluations : int
        Evaluations of :math:`\dot y` spent.
    method : str
        Collision method of those evaluations (``"fft"``, or the model's own where the
        search with the FFT rates failed).
    """

    t_qp: float
    mu: float
    evaluations: int
    method: str

    def as_dict(self) -> dict:
        """Plain dict (summaries)."""
        return {"t_qp_over_Tc": self.t_qp, "mu_over_kTc": self.mu,
                "rhs_evaluations": self.evaluations, "guess_collision_method": self.method}


def phonon_balance(model: Kinetics0D, f: np.ndarray, t: float = 0.0) -> np.ndarray:
    r"""Phonon occupations in steady state with the QP occupation ``f`` (module docstring).

    :math:`n_k = a_k/b_k` from two evaluations of :math:`\dot n` (at ``n = 0`` and
    ``n = 1``). Nodes without any loss (:math:`b_k \le 0`: no coupling, no escape) keep
    the bath occupation.
    """
    nq = model.grid.n
    zero = np.zeros(model.grid.n_ph)
    a = model.rhs(model.join(f, zero), t)[nq:]
    b = a - model.rhs(model.join(f, zero + 1.0), t)[nq:]
    n = model.n_bath.copy()
    ok = b > 0
    n[ok] = np.maximum(a[ok] / b[ok], 0.0)
    return n


def _bracket_root(g, x0: float, step: float, xtol: float, what: str, *,
                  upper: float = math.inf, scale: float = 0.0) -> float:
    """Root of the decreasing ``g`` near ``x0`` below ``upper``.

    Steps from ``x0`` (up where ``g > 0``) and expands until the sign changes (secant
    jumps with a 10% overshoot, at most 20 times the last step; doubling where the
    secant points back), then refines the bracket by
    the Illinois variant of regula falsi to ``|dx| <= xtol``. Both work in
    ``z = exp(scale x)`` if ``scale`` is given (``g`` nearly affine in ``z``), else in
    ``x``; every value of ``g`` is computed once.
    """
    def z(x: float) -> float:
        return math.exp(scale * x) if scale else x

    def x_of(zz: float) -> float:
        return math.log(zz) / scale if scale else zz

    g0 = g(x0)
    if g0 == 0.0:
        return x0
    x1 = min(x0 + (step if g0 > 0 else -step), upper)
    g1 = g(x1)
    for _ in range(_MAX_EXPAND):
        if (g1 > 0) != (g0 > 0):
            return _illinois(g, x0, g0, x1, g1, xtol, z, x_of)
        if x1 >= upper:
            break
        d = x1 - x0
        jump = 2.0 * d
        if g1 != g0:
            zr = z(x1) - g1 * (z(x1) - z(x0)) / (g1 - g0)  # secant root in z
            sec = x_of(zr) - x1 if (zr > 0 or not scale) else math.nan
            if math.isfinite(sec) and sec * d > 0:
                jump = math.copysign(min(1.1 * abs(sec) + 0.1 * abs(d), 20 * abs(d)), d)
        x0, g0 = x1, g1
        x1 = min(x0 + jump, upper)
        g1 = g(x1)
    raise ArithmeticError(f"no root of the {what} balance found")


def _illinois(g, a: float, ga: float, b: float, gb: float, xtol: float, z, x_of,
              max_iter: int = 100) -> float:
    """Illinois regula falsi in ``z`` on the bracket ``[a, b]`` (``g(a) g(b) < 0``)."""
    za, zb = z(a), z(b)
    side, prev = 0, math.nan
    for _ in range(max_iter):
        zc = (za * gb - zb * ga) / (gb - ga)
        c = x_of(zc)
        if not (min(a, b) < c < max(a, b)):  # round-off at the ends: bisect in x
            c = 0.5 * (a + b)
            zc = z(c)
        gc = g(c)
        if gc == 0.0:
            return c
        if (gc > 0) == (gb > 0):
            b, zb, gb = c, zc, gc
            if side == -1:
                ga *= 0.5
            side = -1
        else:
            a, za, ga = c, zc, gc
            if side == 1:
                gb *= 0.5
            side = 1
        if abs(b - a) <= xtol or abs(c - prev) <= xtol:
            return c
        prev = c
    return c


def quasi_thermal_guess(model: Kinetics0D, t: float = 0.0, *, u_tol: float = 1e-3,
                        log_t_tol: float = 1e-3, method: str | None = "fft"
                        ) -> tuple[np.ndarray, QuasiThermalGuess]:
    r"""Quasi-thermal QPs and balanced phonons solving the number and power balances.

    Parameters
    ----------
    model : Kinetics0D
    t : float
        Time at which the drives are evaluated.
    u_tol, log_t_tol : float
        Absolute tolerances of :math:`\mu^*/T^*` and :math:`\ln T^*` (a start needs no
        more).
    method : {"fft", "direct"} or None
        Collision method of the trial evaluations (module docstring); ``None``: the
        model's. A search that fails with another method than the model's is repeated
        with the model's.

    Returns
    -------
    (ndarray, QuasiThermalGuess)
        The state ``y`` and :math:`T^*`, :math:`\mu^*`, the evaluations spent.

    Raises
    ------
    ArithmeticError
        A balance has no root in reach (e.g. a drive whose power cannot escape,
        :math:`\tau_{esc} = \infty`) or an evaluation failed.
    """
    own = model.method
    if method is not None and method != own:
        try:
            y, info = _search(replace(model, method=method), t, u_tol, log_t_tol)
        except (ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
            log.info("quasi-thermal start with the %s collision rates failed (%s); "
                     "searching with the model's (%s)", method, exc, own)
        else:
            # the phonons of the start balanced by the model's own rates: the FFT's
            # round-off (relative to the largest rates) fills the far tail of n, where
            # the balance is ~1e-100, with ~1e-55 (harmless to T*, mu*, not to a start)
            f = model.split(y)[0]
            info.evaluations += 2
            return model.join(f, phonon_balance(model, f, t)), info
    return _search(model, t, u_tol, log_t_tol)


def _search(model: Kinetics0D, t: float, u_tol: float, log_t_tol: float
            ) -> tuple[np.ndarray, QuasiThermalGuess]:
    """The nested root search of :func:`quasi_thermal_guess` with ``model``'s rates."""
    nq = model.grid.n
    e, w = model.grid.e, model.grid.qp_weights
    t_b = model.t_bath
    count = [0]

    def state(log_theta: float, u: float) -> np.ndarray:
        temp = t_b * math.exp(log_theta)
        f = fermi(e - u * temp, temp)   # quasi-thermal: T = temp, mu = u temp
        count[0] += 2
        return model.join(f, phonon_balance(model, f, t))

    def moments(log_theta: float, u: float) -> tuple[float, float]:
        r = model.rhs(state(log_theta, u), t)[:nq]
        count[0] += 1
        if not np.all(np.isfinite(r)):
            raise ArithmeticError("non-finite rates at the quasi-thermal state")
        return float(w @ r), float((w * e) @ r)

    last_u = [0.0]

    def u_of(log_theta: float) -> float:
        def g(u: float) -> float:
            return moments(log_theta, u)[0]

        # more QPs (u up) where generation exceeds recombination; N^2 ~ e^{2u}; the
        # chemical potential stays below the gap (no inverted populations)
        upper = model.grid.delta / (t_b * math.exp(log_theta))
        u = _bracket_root(g, min(last_u[0], upper), 0.5, u_tol, "QP number", upper=upper,
                          scale=2.0)
        last_u[0] = u
        return u

    u_at: dict[float, float] = {}

    def power(log_theta: float) -> float:
        u_at[log_theta] = u_of(log_theta)
        return moments(log_theta, u_at[log_theta])[1]

    # hotter QPs (and phonons) where more power is absorbed than escapes, up to kT* at the
    # grid's top: a hotter quasi-thermal state is flat on the grid, and a sign change
    # there is round-off (Al at 40 mK under sub-gap photons: a "root" at T* = 4.6e7 Tc
    # on one machine, none on another)
    lt = _bracket_root(power, 0.0, 0.05, log_t_tol, "power",
                       upper=math.log(model.grid.e[-1] / t_b))
    u = u_at[lt] if lt in u_at else u_of(lt)
    y = state(lt, u)
    temp = t_b * math.exp(lt)
    info = QuasiThermalGuess(t_qp=temp, mu=u * temp, evaluations=count[0],
                             method=model.method)
    log.info("quasi-thermal start: T* = %.6g Tc (bath %.6g), mu* = %.6g kTc (%d evaluations "
             "of the %s rates)", temp, t_b, u * temp, count[0], model.method)
    return y, info
