r"""Observables of the 0D kinetics: densities, energies, effective temperatures (T*, T_N), rates,
power balance, pair-breaking efficiency and Rothwarf-Taylor fits.

Units as in :mod:`fvqp.collisions`: QP numbers in :math:`4N_0kT_c`, energies in
:math:`4N_0(kT_c)^2`, rates in :math:`1/\tau_0`, powers in :math:`4N_0(kT_c)^2/\tau_0`.

Pair-breaking efficiency
------------------------
The QP generation efficiency of Guruswamy, Goldie & Withington, SuST 27, 055012 (2014)
and SuST 28, 054002 (2015) as computed by their published code (T. Guruswamy,
``nestfsss``, ``eta_complete.m``, the Chang-Scalapino steady-state solver of those papers
and of Guruswamy's 2018 thesis): the steady state is mapped onto the Rothwarf-Taylor
equations with phonon loss,

.. math::
    \dot N = I_{qp} - R N^2 + 2BN_\omega, \qquad
    \dot N_\omega = \tfrac12 RN^2 - BN_\omega - (N_\omega - N_\omega^T)/\tau_l,

whose steady state gives the effective QP injection rate
:math:`I_{qp} = (RN^2 - 2BN_\omega^T)/(1 + B\tau_l)`, and

.. math:: \eta_{pb} = \frac{\Delta\,I_{qp}}{P}
    = \frac{\Delta\,(\Gamma_{rec} - 2BN^T_{2\Delta})}{P\,(1 + B\tau_l)},

with (all from the operator, :func:`pair_breaking_efficiency`)

* :math:`\Gamma_{rec} = RN^2` the gross QP recombination rate of the state
  (:func:`recombination_rate_total`);
* :math:`B` the pair-breaking rate per phonon averaged over the *state's* phonons of the
  pair nodes (``k >= grid.pair_offset``: :math:`\Omega > 2\Delta`, and the node at
  exactly :math:`2\Delta` of the vertex grid), :math:`B = \sum_k w_k\,\mathrm{ph\_pb}_k/
  \sum_k w_kn_k`, :math:`w_k = \beta hg_k` (phonon number per node, :math:`g_k` =
  ``grid.phonon_states``; :func:`rt_pair_breaking_rate`);
* :math:`N^T_{2\Delta} = \sum_k w_k n_B(\Omega_k)` the thermal number of
  phonons of the pair nodes at the bath temperature;
* :math:`\tau_l` the escape time (for per-node escape times, :math:`B\tau_l` is the
  same average of :math:`\mathrm{ph\_pb}_k\,\tau_{esc,k}`).

All the phonons of a pair node count in full, also at the node at exactly
:math:`2\Delta`, which holds the phonons of :math:`[2\Delta, 2\Delta + h/2]` only
(:math:`g_m = \Omega_m^2/2`, each breaking pairs at :math:`\Phi(2\Delta^+)`;
:mod:`fvqp.collisions.grid`): the discrete steady state obeys the Rothwarf-Taylor phonon
balance exactly (emission by recombination into the pair nodes = pair breaking +
escape of the pair nodes), so :math:`I_{qp} = 2(N_\omega - N_\omega^T)/\tau_l` holds on the
grid, with the weights of the continuum thermal average :math:`1/\tau_{pb}(T)`
(:func:`fvqp.collisions.thermal_pair_breaking_rate`).

No escape (:math:`\tau_{esc} = \infty`, escape rate 0): the phonon-loss term of the
Rothwarf-Taylor equations vanishes, :math:`B\tau_l = \infty` (every pair-breaking
phonon is re-absorbed before it can leave), and
:math:`I_{qp} = 2(N_\omega - N_\omega^T)/\tau_l \to 0`: the limit of
:math:`\eta_{pb}` at a fixed state is exactly 0 (no power leaves as pair-breaking
phonons, so none is counted as converted into QPs). :func:`rt_pair_breaking_rate`
returns :math:`B\tau_l = \infty` and :func:`pair_breaking_efficiency` returns 0 then
(without evaluating :math:`\infty/\infty`); with per-node escape times, a node that does
not escape (rate 0) but breaks pairs makes :math:`B\tau_l` infinite the same way, a
node with neither contributes nothing. Such a film has no driven steady state (the
absorbed power cannot leave); the numbers apply to transient states.
:func:`trapping_factor` is :math:`F = \infty` then and
:func:`rothwarf_taylor_bottleneck_constant` 0 (full bottleneck).

We could not retrieve the papers' equation text; the definition above is read from that
code and is the Rothwarf-Taylor form described in the papers' abstracts. Since
:math:`I_{qp} = 2(N_\omega - N_\omega^T)/\tau_l`, :math:`\eta_{pb}` is the power that
leaves as pair-breaking phonons (counted at :math:`2\Delta` each) over the absorbed
power. Limits (tested): :math:`\eta \to 2\Delta/\hbar\omega` just above the gap,
:math:`\eta \to 1/2` at :math:`\hbar\omega = 4\Delta` (two QPs below :math:`3\Delta`
cannot emit pair-breaking phonons; de Visser et al., APL 106, 252602 (2015): the
response halves at twice the pair-breaking energy) and a rise towards
:math:`\approx 0.6` for :math:`\hbar\omega \gg 2\Delta` when pair-breaking phonons are
trapped (Guruswamy et al. 2015), lowered when they escape fast (Guruswamy et al. 2014).
A sub-gap drive conserves the QP number; :math:`\eta_{pb}` then only measures the
thermal QP excess of the heated film.

Rothwarf-Taylor
---------------
When the phonons stay at the bath temperature (escape much faster than pair breaking)
and the QPs are quasi-thermal and non-degenerate, the collision operator gives exactly
:math:`\dot N = -R\,(N^2 - N_T^2)` with
:math:`R = \Gamma_{rec}^{th}/N_T^2` (:func:`recombination_constant`), whose solution is
:func:`rothwarf_taylor_solution`. With a phonon bottleneck (escape time comparable to
the pair-breaking time :math:`\tau_B` of :math:`2\Delta` phonons) the recombination
phonons re-break pairs and :math:`R \to R/F`, :math:`F = 1 + \tau_{esc}/\tau_B`
(Rothwarf & Taylor 1967; :func:`rothwarf_taylor_bottleneck_constant`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from ...collisions import (
    collision_terms,
    ph_energy,
    ph_loss_rates,
    qp_energy,
    qp_loss_rates,
    qp_number,
)
from ...spectra import fermi, fermi_temperature
from .drives import PhononInjection, PhotonDrive
from .model import Kinetics0D

__all__ = [
    "effective_temperature",
    "holds_drive",
    "number_temperature",
    "pair_breaking_efficiency",
    "power_balance",
    "qp_rates",
    "recombination_constant",
    "recombination_rate_total",
    "rothwarf_taylor_bottleneck_constant",
    "rothwarf_taylor_fit",
    "rothwarf_taylor_solution",
    "rt_pair_breaking_rate",
    "summary",
    "trapping_factor",
]


def recombination_rate_total(model: Kinetics0D, y: np.ndarray) -> float:
    r"""Gross QP recombination rate :math:`\Gamma_{rec} = \sum_i h\bar\rho_i\,\mathrm{rec}_i`
    (QPs per :math:`\tau_0`, Eq. 36)."""
    f, n = model.split(y)
    c = collision_terms(f, n, model.grid, model.params, method=model.method,
                        tilt=model.tilt)
    return float(model.grid.qp_weights @ c.qp_rec)


def recombination_constant(model: Kinetics0D, t: float | None = None) -> float:
    r"""Rothwarf-Taylor :math:`R = \Gamma_{rec}^{th}/N_T^2` of the operator at temperature
    ``t`` (default bath): :math:`\dot N = -R N^2` for non-degenerate quasi-thermal QPs."""
    y = model.equilibrium(t)
    n_t = qp_number(model.split(y)[0], model.grid)
    return recombination_rate_total(model, y) / n_t**2


def qp_rates(model: Kinetics0D, y: np.ndarray) -> dict[str, float | np.ndarray]:
    """Per-cell scattering and recombination rates and their QP-number averages."""
    f, n = model.split(y)
    rs, rr = qp_loss_rates(f, n, model.grid, model.params, method=model.method,
                           tilt=model.tilt)
    w = model.grid.qp_weights * f
    ok = np.isfinite(rs) & np.isfinite(rr)
    return {"scattering": rs, "recombination": rr,
            "mean_scattering": float(np.sum(w[ok] * rs[ok]) / np.sum(w[ok])),
            "mean_recombination": float(np.sum(w[ok] * rr[ok]) / np.sum(w[ok]))}


def effective_temperature(model: Kinetics0D, y: np.ndarray) -> tuple[float, float]:
    r"""Effective temperature and chemical potential :math:`(T^*, \mu^*)` from the moments.

    :math:`T^*` and :math:`\mu^*` are such that the non-degenerate quasi-thermal
    distribution :math:`f^* = e^{-(E-\mu^*)/T^*}` (Owen-Scalapino / Chang-Scalapino
    form, valid for :math:`f \ll 1`) has the same QP number and energy as ``f`` on the
    grid: :math:`T^*` solves :math:`\langle E\rangle_{T^*} = e_{qp}/N_{qp}` (monotonic
    in :math:`T^*`), then :math:`\mu^* = T^*\ln(N_{qp}/\sum_i h\bar\rho_i
    e^{-E_i/T^*})`.
    """
    f, _ = model.split(y)
    w, e = model.grid.qp_weights, model.grid.e
    n_qp = float(w @ f)
    target = float((w * e) @ f) / n_qp
    x = e - e[0]

    def mean_energy(t: float) -> float:
        b = w * np.exp(-x / t)
        return float((b @ e) / b.sum())

    lo, hi = 1e-4, 1e3
    if not mean_energy(lo) < target < mean_energy(hi):
        return math.nan, math.nan
    t_eff = optimize.brentq(lambda t: mean_energy(t) - target, lo, hi, xtol=1e-14,
                            rtol=1e-13)
    log_z = math.log(float(np.sum(w * np.exp(-x / t_eff)))) - e[0] / t_eff
    return float(t_eff), float(t_eff * (math.log(n_qp) - log_z))


def number_temperature(model: Kinetics0D, y: np.ndarray) -> float:
    r"""The temperature :math:`T_N` whose thermal QP number equals that of ``y``:
    :math:`\sum_i h\bar\rho_i f_{FD}(E_i, T_N) = N_{qp}` on the model's grid (its gap
    held), in :math:`k_BT_c`. Beside :math:`T^*` (:func:`effective_temperature`, from
    the mean energy) it is the temperature a density measurement reports (e.g. a
    resonator's frequency shift read with the thermal relation); for a thermal state
    both equal its temperature. NaN outside :math:`E_0/700 < T_N < 10` (the bracket;
    below, the thermal occupations of the grid underflow). Solved by
    :func:`fvqp.spectra.fermi_temperature` (the one root-finder of this equation;
    transport's cell temperatures use it too).
    """
    f, _ = model.split(y)
    w, e = model.grid.qp_weights, model.grid.e
    n = float(w @ f)
    lo, hi = float(e[0]) / 700.0, 10.0
    with np.errstate(under="ignore"):
        if not float(w @ fermi(e, lo)) < n < float(w @ fermi(e, hi)):
            return math.nan
        return float(fermi_temperature(w[None, :], e, [n], lo, hi)[0])


#: relative mismatch of absorbed and escaping power above which a steady state does not
#: hold its drive (a converged steady state balances them to ~1e-11)
POWER_BALANCE_TOL = 1e-6


def _balanced(model: Kinetics0D, p_in: float, p_esc: float, t: float = 0.0) -> bool:
    """Whether absorbed ``p_in`` and escaping ``p_esc`` power balance the drives active at
    ``t`` (:data:`POWER_BALANCE_TOL`; True without drives of a given power)."""
    # only drives of a given power (photons, phonon injection) are judged: a tunnel
    # drive's net power is a difference of its gross flows, which may vanish (no bias);
    # with given-power drives alone the absorbed power is their sum by construction
    active = [d for d in model.drives if d.active(t)]
    given = [d for d in active if isinstance(d, (PhotonDrive, PhononInjection))]
    if not given:
        return True
    nominal = sum(abs(d.power) for d in given)
    tol = POWER_BALANCE_TOL * max(abs(p_in), abs(p_esc), nominal)
    return abs(p_in - p_esc) <= tol and (len(given) < len(active)
                                         or abs(p_in - sum(d.power for d in given)) <= tol)


def holds_drive(model: Kinetics0D, y: np.ndarray, t: float = 0.0) -> bool:
    """Whether the steady state ``y`` balances the power of its drives
    (:func:`unbalanced_drive`'s test on :func:`power_balance`): a Newton solve whose
    per-entry test passed on a state that does not (the drive's power in QPs below the
    test's occupation floor) has not found the steady state
    (:func:`fvqp.models.kinetics0d.steady_state`)."""
    pb = power_balance(model, y, t)
    return _balanced(model, pb["absorbed"], pb["escaped"], t)


def unbalanced_drive(model: Kinetics0D, obs: dict, kTc_ueV: float,
                     watt: float) -> str | None:
    """None if the steady state's observables ``obs`` balance the absorbed and escaping
    power (:data:`POWER_BALANCE_TOL`), else the reason and the fix (a steady state that
    does not absorb its drive is not the answer, whatever Newton said: e.g. sub-gap
    photons where no quasiparticles are there to absorb them, whose normalisation to the
    absorbed power then finds nothing to normalise). ``kTc_ueV``: the energy unit in
    ueV; ``watt``: the film's power unit in W (the message quotes watts)."""
    mm = obs.get("power_relative_mismatch")
    if mm is None or _balanced(model, obs["power_absorbed"], obs["power_escaped"]):
        return None
    msg = (f"the steady state does not balance its drive: absorbed "
           f"{obs['power_absorbed'] * watt:.3g} W, escaping {obs['power_escaped'] * watt:.3g}"
           f" W (relative mismatch {mm:.3g})")
    two_gap = 2.0 * model.grid.delta
    sub = [d for d in model.drives if isinstance(d, PhotonDrive) and d.photon_energy < two_gap]
    if sub:
        return (msg + f". The photons ({sub[0].photon_energy * kTc_ueV:.4g} ueV) lie below "
                f"2 Delta = {two_gap * kTc_ueV:.4g} ueV: they can only be absorbed by "
                "quasiparticles already present, and there are too few. Fix: a photon "
                "energy above 2 Delta, or a bath warm enough to hold quasiparticles.")
    return msg + ". Fix: check the drive (its energy on the grid, its power) and the grid."


#: Largest share of a photon drive's absorption the grid's top may cut at a reported state
#: (:meth:`.drives.PhotonDrive.top_cut_fraction`). A default grid top leaves the thermal
#: QPs' share at ~e^-10 (:mod:`.gridtop`); the shipped cases' steady states lie at 3e-12
#: to 6e-5.
GRID_TOP_TOL = 1e-3


def cut_by_grid_top(model: Kinetics0D, states, kTc_ueV: float, time_format=None,
                    case_file: str = "the case") -> str | None:
    """None if no photon drive loses more than :data:`GRID_TOP_TOL` of its absorption to
    the grid's top at any of ``states`` (pairs ``(t, y)``, ``t`` in tau0), else the
    reason and the fix (``time_format``: tau0 to an SI string for the message;
    ``case_file``: the case's file, named in the fix).

    QPs within the photon energy of :math:`E_{max}` would absorb into states the grid does
    not hold; a state in which they carry a sizeable share of the absorption is shaped by
    :math:`E_{max}` (the photons' power, normalised to what the grid absorbs, goes into the
    QPs below the top), whatever Newton or TS said about its convergence.
    """
    worst, at, drive = 0.0, 0.0, None
    for t, y in states:
        f = model.split(y)[0]
        for d in model.drives:
            if isinstance(d, PhotonDrive) and d.active(t):
                cut = d.top_cut_fraction(f)
                if cut > worst:
                    worst, at, drive = cut, t, d
    if drive is None or worst <= GRID_TOP_TOL:
        return None
    e_max = model.grid.e[-1] * kTc_ueV  # the top node: what [grid] e_max sets
    hw = drive.photon_energy * kTc_ueV
    when = "" if at == 0.0 else " (at t = {})".format(
        time_format(at) if time_format else f"{at:.6g} tau0")
    msg = (f"the grid's top cuts the photon absorption: {100 * worst:.3g} % of it{when} would lift "
           f"quasiparticles above E_max = {e_max:.4g} ueV, which the grid does not hold, "
           f"so the state is set by E_max, not by the film (tolerance {100 * GRID_TOP_TOL:g} %). "
           f"Fix: raise [grid] e_max in {case_file} to at least E_max + {hw:.4g} ueV (the "
           "photon energy) and compare")
    if drive.photon_energy < 2.0 * model.grid.delta:
        msg += (f". The photons ({hw:.4g} ueV) lie below 2 Delta = "
                f"{2.0 * model.grid.delta * kTc_ueV:.4g} ueV: with their power normalised "
                "to few quasiparticles, these climb the ladder Delta + k hbar omega until "
                "phonon emission, which grows with energy, stops them, possibly far above "
                "this grid; a photon energy above 2 Delta or a warmer bath gives the drive "
                "quasiparticles to share its power")
    return msg + "."


def power_balance(model: Kinetics0D, y: np.ndarray, t: float = 0.0) -> dict[str, float]:
    """Absorbed power, escaping power and their relative mismatch (absorbed 0 where a
    drive can absorb nothing at ``y``: sub-gap photons without quasiparticles)."""
    try:
        p_in = model.input_power(y, t)
    except ArithmeticError:
        p_in = 0.0
    p_esc = model.escape_power(y)
    return {"absorbed": p_in, "escaped": p_esc,
            "relative_mismatch": abs(p_in - p_esc) / max(abs(p_in), abs(p_esc), 1e-300)}


def _pair_nodes(model: Kinetics0D) -> np.ndarray:
    """1 for the phonon nodes that carry pair processes (``k >= grid.pair_offset``), else 0:
    the phonons of the Rothwarf-Taylor bookkeeping (module docstring;
    ``grid.pair_cell_fraction``)."""
    return model.grid.pair_cell_fraction


def _per_escape(rate: np.ndarray, escape: np.ndarray) -> np.ndarray:
    """``rate / escape`` per phonon node with the no-escape limits: infinite where the
    escape rate is 0 and ``rate > 0``, 0 where both vanish (module docstring)."""
    rate = np.asarray(rate, dtype=float)
    out = np.where(rate > 0, np.inf, 0.0)
    np.divide(rate, escape, out=out, where=escape > 0)
    return out


def trapping_factor(model: Kinetics0D, average: bool = False) -> float:
    r"""Phonon-trapping factor :math:`F = 1 + \tau_{esc}/\tau_B` of :math:`2\Delta` phonons.

    Parameters
    ----------
    model : Kinetics0D
    average : bool
        ``False``: :math:`1/\tau_B = \mathrm{ph\_pb}_k/n_k`, the operator's pair-breaking
        rate at the first phonon node :math:`k` with :math:`\Omega_k > 2\Delta` (bath
        state), with the escape rate of that node. ``True``: :math:`\tau_{esc}/\tau_B`
        averaged over the thermal recombination-phonon spectrum (weights
        :math:`hg_k\,\mathrm{ph\_rec}_k`, phonons emitted per node), the better
        Rothwarf-Taylor estimate (Rothwarf & Taylor 1967: effective recombination time
        :math:`F\tau_r`). In the cell-centred layout the node just above
        :math:`2\Delta` collects the pair phase space below it and its rate is ~27% high;
        the vertex layout of the 0D kinetics has exact node rates
        (:mod:`fvqp.collisions.grid`). With no escape (rate 0) :math:`F = \infty`.
    """
    f, n = model.split(model.equilibrium())
    c = collision_terms(f, n, model.grid, model.params, method=model.method,
                        tilt=model.tilt)
    _, pb = ph_loss_rates(f, n, model.grid, model.params, method=model.method,
                          tilt=model.tilt)
    ok_pb = np.isfinite(pb)
    ratio = np.where(ok_pb, _per_escape(np.where(ok_pb, pb, 0.0), model.escape_rate), np.nan)
    if average:
        w = model.grid.phonon_states * c.ph_rec
        ok = ok_pb & (w > 0)
        return 1.0 + float(np.sum(w[ok] * ratio[ok]) / np.sum(w[ok]))
    # the first node with Omega > 2 Delta (the docstring): Omega_{m+1} = 2 Delta + h
    return 1.0 + float(ratio[model.grid.m])


def rothwarf_taylor_bottleneck_constant(model: Kinetics0D, average: bool = True) -> float:
    r""":math:`R_{eff} = R/F` of :math:`\dot N = -R_{eff}(N^2 - N_T^2)` with a phonon
    bottleneck (Rothwarf & Taylor 1967; :math:`F = 1 + \tau_{esc}/\tau_B`,
    :func:`trapping_factor`, :func:`recombination_constant`); :math:`R_{eff}\to R` as
    :math:`\tau_{esc}\to 0`."""
    return recombination_constant(model) / trapping_factor(model, average)


def rt_pair_breaking_rate(model: Kinetics0D, y: np.ndarray) -> tuple[float, float]:
    r"""Rothwarf-Taylor :math:`B` and :math:`B\tau_l` of the state ``y``.

    :math:`B = \sum_k w_k\,\mathrm{ph\_pb}_k / \sum_k w_k n_k` over the phonon nodes that
    carry pair processes (``k >= grid.pair_offset``; module docstring),
    :math:`w_k = \beta hg_k` (the pair-breaking rate per phonon averaged over the
    state's pair-breaking phonons, as ``RT_B`` of Guruswamy's code), and
    :math:`B\tau_l = \sum_k w_k\,\mathrm{ph\_pb}_k/\gamma_k / \sum_k w_k n_k`
    with the escape rates :math:`\gamma_k` (equal to :math:`B\tau_{esc}` for one escape
    time; infinite without escape, module docstring).
    """
    f, n = model.split(y)
    c = collision_terms(f, n, model.grid, model.params, processes=("pair",),
                        method=model.method, tilt=model.tilt)
    k = _pair_nodes(model) > 0
    w = model.params.phonon_weight * model.grid.h * model.grid.phonon_states[k]
    num = float(np.sum(w * n[k]))
    b = float(np.sum(w * c.ph_pb[k])) / num
    b_tau = float(np.sum(w * _per_escape(c.ph_pb[k], model.escape_rate[k]))) / num
    return b, b_tau


def pair_breaking_efficiency(model: Kinetics0D, y: np.ndarray, t: float = 0.0) -> float:
    r""":math:`\eta_{pb} = \Delta(\Gamma_{rec} - 2BN^T_{2\Delta})/(P(1 + B\tau_l))`
    (Guruswamy, Goldie & Withington 2014; module docstring); 0 without phonon escape
    (:math:`B\tau_l = \infty`, the limit at a fixed state)."""
    p = model.input_power(y, t)
    b, b_tau = rt_pair_breaking_rate(model, y)
    if math.isinf(b_tau):
        return 0.0
    theta = _pair_nodes(model)
    w = model.params.phonon_weight * model.grid.h * model.grid.phonon_states
    n2d_thermal = float(np.sum(theta * w * model.n_bath))
    i_qp = (recombination_rate_total(model, y) - 2.0 * b * n2d_thermal) / (1.0 + b_tau)
    return model.grid.delta * i_qp / p


def rothwarf_taylor_solution(t: np.ndarray, r: float, n0: float, n_t: float) -> np.ndarray:
    r"""Solution of :math:`\dot N = -R(N^2 - N_T^2)`, :math:`N(0) = N_0`:
    :math:`N = N_T(1 + A e^{-2RN_Tt})/(1 - A e^{-2RN_Tt})`,
    :math:`A = (N_0 - N_T)/(N_0 + N_T)`."""
    a = (n0 - n_t) / (n0 + n_t)
    x = a * np.exp(-2.0 * r * n_t * np.asarray(t, dtype=float))
    return n_t * (1.0 + x) / (1.0 - x)


def rothwarf_taylor_fit(t: np.ndarray, n: np.ndarray, n_t: float) -> tuple[float, float]:
    """Least-squares fit of :func:`rothwarf_taylor_solution` (relative residuals);
    returns ``(R, N_0)``."""
    t, n = np.asarray(t, float), np.asarray(n, float)
    # initial guess from 1/N ~ 1/N0 + R t (N >> N_T)
    slope = (1.0 / n[-1] - 1.0 / n[0]) / max(t[-1] - t[0], 1e-300)
    p0 = (max(slope, 1e-300), n[0])

    def resid(p: np.ndarray) -> np.ndarray:
        return rothwarf_taylor_solution(t, p[0], p[1], n_t) / n - 1.0

    sol = optimize.least_squares(resid, p0, x_scale=np.abs(p0), xtol=1e-14, ftol=1e-14,
                                 gtol=1e-14)
    return float(sol.x[0]), float(sol.x[1])


def summary(model: Kinetics0D, y: np.ndarray, t: float = 0.0) -> dict[str, float]:
    """Scalar observables (internal units) of a state."""
    f, n = model.split(y)
    out = {
        "n_qp": float(qp_number(f, model.grid)),
        "e_qp": float(qp_energy(f, model.grid)),
        "e_ph": float(ph_energy(n, model.grid, model.params)),
        "n_qp_thermal": float(qp_number(model.split(model.equilibrium())[0], model.grid)),
    }
    try:
        out["t_eff"], out["mu"] = effective_temperature(model, y)
    except (np.linalg.LinAlgError, ValueError):
        out["t_eff"], out["mu"] = math.nan, math.nan
    out["t_n"] = number_temperature(model, y)
    rates = qp_rates(model, y)
    out["rate_scattering"] = rates["mean_scattering"]
    out["rate_recombination"] = rates["mean_recombination"]
    if model.drives and any(d.active(t) for d in model.drives):
        out.update({f"power_{k}": v for k, v in power_balance(model, y, t).items()})
        try:
            out["eta_pb"] = pair_breaking_efficiency(model, y, t)
        except ArithmeticError:  # nothing absorbed (power_balance): no efficiency
            out["eta_pb"] = math.nan
    return out
