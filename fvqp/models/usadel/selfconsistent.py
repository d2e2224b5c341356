r"""Self-consistent pair potential (paper Eq. 8) with the spectral and kinetic solves.

One *state* is the solution of the spectral equation, the kinetic equations (with or
without e–e collisions) and Eq. 8 for given terminals. Two modes:

``"local"`` (default)
    Δ(x) on every superconducting node from its own fL (reservoir nodes keep their gap).
``"uniform"``
    the paper's simplification (App. B): Δ constant along the wire, from fL at one node
    (the injector, x = 0).

The fixed-point map Δ ↦ (λ/2)∫Im F fL contracts only by ≈ 1 − λ per iteration, so it is
accelerated by a node-wise secant step (Steffensen-like); typically 5–8 solves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ...io.workunits import direct
from ...solvers.result import ConvergenceError
from .inelastic import solve_inelastic
from .kinetic import KineticSolution, solve_linear
from .observables import coupling_constant, gap_from_fL, require_full_axis
from .phase import PhaseProblem, solve_phase
from .progress import SweepProgress
from .spectral import SpectralProblem, solve_spectral

log = logging.getLogger(__name__)


@dataclass
class Setup:
    """Everything that defines a state besides the terminal biases.

    ``gamma_ee = 0`` switches the collision integral off (energies decouple).
    ``selfconsistency`` is ``"local"``, ``"uniform"`` or ``"none"`` (Δ fixed to ``delta``).
    """

    problem: SpectralProblem
    eps: np.ndarray
    reservoirs: list
    junctions: list
    gamma_ee: float = 0.0
    #: electron-phonon: γ_ph = ħ/(Δ0 τ0) and the phonon temperature (0: off)
    gamma_ph: float = 0.0
    #: step of the uniform grid of a graded grid's collision integrals (None: its
    #: smallest step; :class:`~.regrid.FineGrid`)
    collision_spacing: float | None = None
    t_ph: float = 0.0
    omega_d: float = 10.0
    coupling: float | None = None
    selfconsistency: str = "local"
    probe_node: int | None = None
    tol: float = 1e-8
    max_iter: int = 60
    max_step: float = 0.02
    max_step_local: float = 0.2
    #: temperature of the equilibrium reference in Eq. 8's split quadrature. None: the
    #: plain quadrature on the kinetic grid, which makes Δ depend on how the grid meets the
    #: gap edge when δε > Γ (percent level); case runs use the bath temperature
    t_ref: float | None = None
    #: Eq. 8 on the real axis ("real_axis") or its equilibrium part as a Matsubara sum on
    #: the network ("matsubara", :func:`gap_equation`; needs t_ref, no phase problem)
    gap_method: str = "real_axis"
    petsc_prefix: str = "usadel_"
    petsc_options: dict = field(default_factory=dict)
    #: how the energies of the spectral (also phase-biased) and kinetic solves are shared
    #: (:class:`fvqp.parallel.energies.EnergySplit`: ``map(solve, n)`` over blocks of
    #: the grid; the collisional solve as one system on those blocks); None: all here
    split: Any = None
    #: µeV per Δ0 of a case (progress lines in mV and µeV); None: in the model's units
    delta0_ueV: float | None = None

    @property
    def lam(self) -> float:
        return self.coupling if self.coupling is not None else coupling_constant(self.omega_d)


@dataclass
class State:
    delta: np.ndarray
    kinetic: KineticSolution
    iterations: int
    newton_iterations: int = 0


def _kinetic(setup: Setup, spec, guess, cache=None):
    if setup.gamma_ee > 0 or setup.gamma_ph > 0:
        return solve_inelastic(spec, setup.reservoirs, setup.junctions, setup.gamma_ee,
                               u0=guess, prefix=setup.petsc_prefix,
                               options=setup.petsc_options, gamma_ph=setup.gamma_ph,
                               collision_spacing=setup.collision_spacing,
                               t_ph=setup.t_ph, share=setup.split)
    lu_cache = cache.setdefault("lu", {}) if cache is not None else None
    return solve_linear(spec, setup.reservoirs, setup.junctions, cache=lu_cache,
                        split=setup.split)


def spectral_of(setup: Setup, delta, theta0=None):
    """The spectral solution of ``setup`` for the pair potential ``delta`` on the nodes
    (S reservoirs follow the local gap; a reservoir on a normal wire keeps its own)."""
    res = [replace(r, delta=float(delta[r.node]))
           if r.kind == "superconductor" and delta[r.node] > 0 else r
           for r in setup.problem.reservoirs]
    prob = replace(setup.problem, delta=np.asarray(delta, float), reservoirs=res)
    if isinstance(prob, PhaseProblem):  # S reservoirs at different phases
        return solve_phase(prob, setup.eps, guess=theta0, split=setup.split)
    return solve_spectral(prob, setup.eps, theta0=theta0, split=setup.split)


def _evaluate(setup, delta, guess, cache=None):
    """One spectral + kinetic solve; ``cache`` (a dict) reuses the spectral solution
    while Δ is unchanged (the junction biases do not enter the spectral equation)."""
    if cache is not None and "delta" in cache and np.array_equal(cache["delta"], delta):
        spec = cache["spec"]
    else:
        theta0 = cache.get("theta") if cache is not None else None
        spec = spectral_of(setup, delta, theta0)
        start = (spec.theta, spec.chi) if hasattr(spec, "chi") else spec.theta
        if cache is not None:
            cache.update(delta=np.array(delta, copy=True), spec=spec, theta=start)
    kin = _kinetic(setup, spec, guess, cache)
    if setup.selfconsistency == "none":  # Δ fixed: Eq. 8 is not needed
        return kin, None
    return kin, gap_equation(setup, spec, kin.fL)


def gap_equation(setup: Setup, spec, fL) -> np.ndarray:
    r"""The right side of Eq. 8 on every node for the spectral solution ``spec`` and the
    distribution ``fL``.

    ``gap_method = "real_axis"``: :func:`~.observables.gap_from_fL` on the kinetic grid
    (with the split quadrature of ``t_ref``). ``"matsubara"``: the equilibrium part by the
    Matsubara sum on the network (:func:`~.matsubara.matsubara_gap`, proximity effect
    included, the cut-off ω_D on the Matsubara axis: no real-axis grid up to ω_D needed)
    plus the nonequilibrium part on the real axis,

    .. math:: \Delta = \lambda\,2\pi t\sum_n w_n\mathrm{Re}\sin\theta(i\omega_n+i\Gamma)
              + \tfrac\lambda2\int\mathrm{Im}\mathcal F\,(f_L-\tanh\tfrac{\epsilon}
              {2t})\,d\epsilon ,

    t = ``t_ref`` (the bath), the second term by the same split quadrature as the real-axis
    method (the difference of :func:`~.observables.gap_from_fL` for f_L and for the
    equilibrium tanh, whose equilibrium parts cancel exactly): zero in equilibrium.
    """
    if setup.gap_method != "matsubara":
        return gap_from_fL(spec, fL, setup.lam, setup.omega_d, setup.t_ref)
    from .matsubara import matsubara_gap
    from .terminals import n0

    if not setup.t_ref or isinstance(spec.problem, PhaseProblem):
        raise ValueError("the Matsubara gap equation needs t_ref > 0 and an imposed-"
                         "gradient (not phase-biased) spectral problem")
    prob = spec.problem
    eq = matsubara_gap(prob, setup.t_ref, setup.omega_d, setup.lam, prob.gamma)
    tanh = np.broadcast_to(n0(spec.eps, setup.t_ref)[:, None], fL.shape)
    neq = gap_from_fL(spec, fL, setup.lam, setup.omega_d, setup.t_ref) - \
        gap_from_fL(spec, tanh, setup.lam, setup.omega_d, setup.t_ref)
    return eq + neq


def solve_state(setup: Setup, delta0=None, guess=None, cache: dict | None = None) -> State:
    """Spectral + kinetic (+ Eq. 8) solution for the current terminal biases.

    ``setup.eps`` must be symmetric about ε = 0 (Eqs. 6, 8, 13, 14 integrate over the
    whole axis): a grid of positive energies only is refused with a ValueError before
    any solve (:func:`~fvqp.models.usadel.observables.require_full_axis`).
    """
    require_full_axis(setup.eps, "solve_state (Setup.eps)")
    prob = setup.problem
    net = prob.net
    fixed = np.zeros(net.n_nodes, bool)
    if setup.selfconsistency != "uniform":  # uniform: Δ is the same everywhere (App. B)
        for r in setup.reservoirs:
            fixed[r.node] = True
    fixed |= prob.delta <= 0  # normal-metal parts stay normal
    delta = np.array(prob.delta if delta0 is None else delta0, float)
    if setup.selfconsistency == "none":
        kin, _ = _evaluate(setup, delta, guess, cache)
        return State(delta=delta, kinetic=kin, iterations=0,
                     newton_iterations=kin.newton_iterations)
    eps = np.asarray(setup.eps)
    if setup.gap_method != "matsubara" and (eps.max() < setup.omega_d - 1e-9
                                            or eps.min() > -setup.omega_d + 1e-9):
        raise ValueError(f"the energy grid [{eps.min():g}, {eps.max():g}] is shorter than "
                         f"±ω_D = ±{setup.omega_d:g}: Eq. 8 would be truncated")
    probe = setup.probe_node
    if setup.selfconsistency == "uniform" and probe is None:
        raise ValueError("uniform self-consistency needs probe_node (e.g. the injector)")
    prev = None
    hist: list = []
    newton = 0
    for it in range(1, setup.max_iter + 1):
        kin, new = _evaluate(setup, delta, guess, cache)
        newton += kin.newton_iterations
        guess = (kin.fL, kin.fT)
        if setup.selfconsistency == "uniform":
            new = np.where(fixed, delta, new[probe])
        else:
            new = np.where(fixed, delta, new)
        res = new - delta
        err = float(np.abs(res).max())
        log.debug("usadel self-consistency %d: max |dDelta| = %.3e", it, err)
        if err < setup.tol:
            return State(delta=new, kinetic=kin, iterations=it, newton_iterations=newton)
        if setup.selfconsistency == "local":
            delta = _anderson(hist, delta, res, fixed, setup.max_step_local)
            continue
        step = res / (1.0 - setup.lam)  # linearised BCS map: G'(Δ) ≈ 1 - λ
        if prev is not None:
            d_delta, d_res = delta - prev[0], res - prev[1]
            ok = np.abs(d_delta) > 1e-14
            slope = np.where(ok, d_res / np.where(ok, d_delta, 1.0), -1.0)
            slope = np.clip(slope, -50.0, -0.05)  # G'(Δ) - 1 < 0 on the physical branch
            step = -res / slope
        prev = (delta.copy(), res.copy())
        # limited steps keep the iteration on the branch connected to the previous state
        step = np.clip(step, -setup.max_step, setup.max_step)
        delta = np.maximum(delta + step, 1e-6)
    raise ConvergenceError(
        f"usadel Δ self-consistency (Eq. 8, mode {setup.selfconsistency}) did not converge "
        f"in {setup.max_iter} iterations (max |ΔΔ| = {err:.2e} > tolerance "
        f"{setup.tol:.1e}). Fix: raise [selfconsistency] max_iterations and rerun with "
        "--resume (finished biases are reused); loosening the tolerance or smaller bias "
        "steps change the case, which then starts afresh.")


def _anderson(hist: list, x, f, fixed, max_step: float, m: int = 5):
    """One Anderson-mixing step for the fixed point Δ = G(Δ) on the free nodes (local
    mode, where Δ at one node changes θ, hence G, at its neighbours)."""
    free = ~fixed
    hist.append((x[free].copy(), f[free].copy()))
    del hist[:-(m + 1)]
    xf, ff = hist[-1]
    step = ff.copy()
    if len(hist) > 1:
        dX = np.stack([hist[k + 1][0] - hist[k][0] for k in range(len(hist) - 1)], axis=1)
        dF = np.stack([hist[k + 1][1] - hist[k][1] for k in range(len(hist) - 1)], axis=1)
        gam, *_ = np.linalg.lstsq(dF, ff, rcond=None)
        step = ff - (dX + dF) @ gam
    out = x.copy()
    out[free] = np.maximum(xf + np.clip(step, -max_step, max_step), 1e-6)
    return out


def with_biases(setup: Setup, biases: dict) -> Setup:
    """A copy of ``setup`` with the biases of junctions and normal reservoirs named in
    ``biases`` (name -> V) replaced (the spectral problem keeps its terminals: biases do
    not enter the spectral equation)."""
    js = [replace(j, bias=biases.get(j.name, j.bias)) for j in setup.junctions]
    rs = [replace(r, bias=biases.get(r.name, r.bias)) if r.kind == "normal" else r
          for r in setup.reservoirs]
    return replace(setup, junctions=js, reservoirs=rs)


def injected_current(kin, name: str) -> float:
    """Current into the wire (units I0) through the terminal ``name``: the sum over the
    parts of a junction (Eq. 13), or minus the current drained into a reservoir
    (:func:`~.observables.charge_balance`)."""
    from .observables import charge_balance, tunnel_current

    parts = [j for j in kin.junctions if j.name == name]
    if parts:
        return float(sum(tunnel_current(kin, j) for j in parts))
    return -float(charge_balance(kin)["drained"][name])


#: keys of a sweep unit that carry the continuation state to the next bias
CARRY = ("carry_fL", "carry_fT", "carry_theta", "carry_chi")


def bias_sweep(setup: Setup, junction: str, biases, detector=None, units=direct,
               label: str = "") -> dict:
    """States for every bias of ``junction`` — a tunnel junction or a normal reservoir
    (continuation from the previous one).

    ``detector`` = ``(node, kappa, v_det_list, t_det)`` (node, kappa may be sequences: a
    segment detector) evaluates the detector current
    (Eq. 14) on every state. Returns arrays ``delta`` (n_bias, n_nodes), ``i_inj``,
    ``i_det`` (n_bias, n_vdet), ``mu`` (n_bias, n_nodes), ``fL_probe``, ``iterations``
    and ``newton`` (Newton iterations of the inelastic solves); for a linear problem (Δ
    fixed, no collisions) also ``g_det`` = dI_det/dV_inj (n_bias, n_vdet) exactly.

    ``units`` is a work-unit hook (:class:`fvqp.io.workunits.WorkUnits`, keys
    ``<label>bias<k>``): every bias is one unit, checkpointed with the continuation state
    (Δ, fL, fT and the spectral guess; :data:`CARRY`), so a resumed sweep starts the next
    bias from exactly the state an uninterrupted one would have. A unit stores μ_Q* as
    ``mu_q`` (Eqs. 4–5); a unit of a checkpoint written before μ_Q* had its ½ (issue 19)
    has the whole-axis integral as ``mu`` and is read with that halved (exact).
    """
    sweep = BiasSweep(setup, junction, biases, detector, label)
    progress = SweepProgress(sweep.size, label, log, ranks=setup.split)
    for k in range(sweep.size):
        computed: list = []
        r = units(sweep.key(k), lambda k=k, c=computed: c.append(1) or sweep.compute(k))
        sweep.take(k, r)
        progress.update(k, sweep.describe(k), resumed=not computed)
    progress.close()
    return sweep.result()


class BiasSweep:
    """One bias sweep of :func:`bias_sweep` as a sequence of work units: unit ``k``
    (:meth:`key`, :meth:`compute`) starts from the state of unit ``k − 1``, handed over
    with :meth:`take` (a computed unit, or one read from a checkpoint).

    Several sweeps may run side by side, one unit of each at a time (the supercurrent map,
    :mod:`~.sweeps`), and a sweep's units may be computed in different processes: the
    spectral solution and the factorisations cached between units (``cache``) are used only
    by the unit that directly follows the one that made them here; any other unit starts
    from the checkpointed continuation state of its predecessor (:data:`CARRY`), exactly as
    a resumed sweep.
    """

    def __init__(self, setup: Setup, junction: str, biases, detector=None, label: str = ""):
        self.setup, self.junction, self.detector = setup, junction, detector
        self.label = label
        self.bias = np.asarray(biases, float)
        self.size = int(self.bias.size)
        self.rows: dict = {k: [] for k in _ROWS}
        self.prev: dict = {}
        self.cache: dict = {}
        self.done = 0  # units taken

    def key(self, k: int) -> str:
        """The work-unit key of bias ``k``: ``<label>bias<k>``."""
        return f"{self.label}bias{k:04d}"

    def compute(self, k: int) -> dict:
        """Unit ``k``, started from the state taken last (unit ``k − 1``)."""
        if self.cache.get("unit") != k - 1:  # made for another unit: start afresh
            self.cache.clear()
        r = _sweep_point(self.setup, self.junction, float(self.bias[k]), self.detector,
                         self.prev, self.cache)
        self.cache["unit"] = k
        return r

    def take(self, k: int, r: dict) -> None:
        """The result of unit ``k`` (computed or from a checkpoint): the continuation
        state of unit ``k + 1`` and the rows of :meth:`result`."""
        if "mu" in r and "mu_q" not in r:  # a unit stored before μ_Q* had its ½
            r = dict(r, mu_q=0.5 * np.asarray(r["mu"]))  # exact: same grid, same fT
            log.warning("usadel sweep %sbias%d: checkpointed μ_Q* of the whole-axis "
                        "integral (2×, before issue 19) halved to Eqs. 4-5", self.label, k)
        if "carry_fL" in r:  # a computed unit, or the last one of a resumed sweep
            self.prev = r
        for key in _ROWS:
            if key in r:
                self.rows[key].append(r[key])
        self.done = k + 1

    def describe(self, k: int) -> str:
        """Progress text of unit ``k`` (taken): in mV and µeV for a case (SI units of the
        log lines, issue 20 §2), else in Δ0/e and Δ0."""
        v, d, u = self.bias[k], float(np.min(self.rows["delta"][k])), self.setup.delta0_ueV
        text = f"bias {v * u * 1e-3:.4g} mV, min Δ {d * u:.4g} µeV" if u else \
            f"bias {v:.4g} Δ0/e, min Δ {d:.5f} Δ0"
        return f"{text}, {int(self.rows['iterations'][k])} Eq. 8 iterations"

    def result(self) -> dict:
        """The arrays of :func:`bias_sweep` (every unit taken)."""
        out: dict = {"bias": self.bias}
        for key in _ROWS:
            out[key] = np.array(self.rows[key])
        out["mu"] = out.pop("mu_q")
        # the spectral solution of the last state, if it was solved here (None: resumed)
        last = self.cache.get("unit") == self.size - 1
        out["spectral"] = self.cache.get("spec") if last else None
        return out


#: the per-bias results of a sweep unit that :meth:`BiasSweep.result` stacks
_ROWS = ("delta", "i_inj", "i_det", "g_det", "mu_q", "fL_probe", "iterations", "newton")


def _sweep_point(setup: Setup, junction: str, v: float, detector, prev: dict,
                 cache: dict) -> dict:
    """One bias of :func:`bias_sweep`, started from ``prev`` (the previous unit)."""
    from .observables import charge_imbalance_potential, detector_current

    s = with_biases(setup, {junction: v})
    guess = (prev["carry_fL"], prev["carry_fT"]) if prev else None
    if prev and "theta" not in cache:  # resumed: the spectral guess of the killed run
        th = prev["carry_theta"]
        cache["theta"] = (th, prev["carry_chi"]) if "carry_chi" in prev else th
    st = solve_state(s, delta0=prev.get("delta"), guess=guess, cache=cache)
    kin = st.kinetic
    r = {"delta": st.delta, "iterations": st.iterations, "newton": st.newton_iterations,
         "i_inj": injected_current(kin, junction),  # all parts of a segment
         "mu_q": charge_imbalance_potential(kin), "carry_fL": kin.fL, "carry_fT": kin.fT}
    th = cache["theta"]
    if isinstance(th, tuple):
        r["carry_theta"], r["carry_chi"] = th
    else:
        r["carry_theta"] = th
    if setup.probe_node is not None:
        r["fL_probe"] = kin.fL[:, setup.probe_node]
    if detector is not None:
        node, kap, vd, td = detector
        pairs = list(zip(np.atleast_1d(node), np.atleast_1d(kap), strict=True))
        r["i_det"] = sum(detector_current(kin, nd, kp, vd, td) for nd, kp in pairs)
        if _linear(setup):  # g_nl = dI_det/dV_inj exactly (Eq. 15), independent of V_det
            r["g_det"] = np.full(np.size(vd), _detector_slope(s, kin, junction, pairs, cache))
    return r


def _linear(setup: Setup) -> bool:
    """Δ fixed, no collisions, imposed phase gradient: the kinetic problem is linear in
    the electrode distributions (Eq. 12), so ∂/∂V_inj is one more linear solve."""
    return (setup.selfconsistency == "none" and setup.gamma_ee == 0 and setup.gamma_ph == 0
            and not isinstance(setup.problem, PhaseProblem))


def _detector_slope(s: Setup, kin, junction: str, pairs, cache: dict) -> float:
    r""":math:`dI_\mathrm{det}/dV_\mathrm{inj}=\tfrac\kappa2\sum_kw_k\hat N_k\,
    \partial_Vf_{T,k}` (units 1/R_ξ) with the exact ∂fT/∂V of the injector."""
    from .kinetic import bias_derivative
    from .tunnel import cell_widths, node_dos

    spec = kin.spectral
    der = bias_derivative(spec, s.reservoirs, s.junctions, junction,
                          cache=cache.setdefault("lu", {}), split=s.split)
    w = cell_widths(spec.eps)
    return sum(0.5 * kp * float(np.dot(w, node_dos(spec, nd) * der.fT[:, nd]))
               for nd, kp in pairs)
