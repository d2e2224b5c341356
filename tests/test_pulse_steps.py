"""How steps cross a Gaussian pulse (``fvqp.mesh.sources.PulseProfile.max_dt``).

A step whose local error is estimated (an adaptive step with a known past) holds at most
the share of the energy that a half-width step centred on the peak holds: the peak is
resolved by half-width steps and the tails, which hold little, by long ones, as far as
the error test allows. A step nothing checks (fixed steps, an adaptive run's first step
and its first after a breakpoint) is at most half a width within +-6 widths of the
centre, as every step was before: 22 of the 40-61 steps of the layout chip's adaptive
microsecond."""

import math

import numpy as np
import pytest
from scipy.special import ndtr
from test_bdf_sources import PETSC, line  # noqa: F401  (the insulated line's fixture)
from test_solvers import Linear

from fvqp.mesh.sources import WINDOW_FRACTION, WINDOW_SIGMAS, PulseProfile, Source
from fvqp.models.heat.problem import BoundaryCondition, HeatProblem
from fvqp.solvers import BDFIntegrator, BDFOptions, JacobianConfig, options_session
from fvqp.solvers.bdf import planned_step


def _steps(prof: PulseProfile, dt: float, t0: float, t_end: float) -> list[tuple]:
    """The steps ``(t, t + h, checked)`` of an adaptive run whose error test never
    shortens them, from ``t0`` with proposals ``dt``, as the integrators plan them
    (:func:`fvqp.solvers.bdf.planned_step`: the cap, the pulse's breakpoints and the end,
    no sliver steps; the first step and the first after a breakpoint unchecked)."""
    breaks = [b for b in prof.breakpoints() if b > t0]
    out, t, checked = [], t0, False
    while t < t_end * (1 - 1e-14):
        stop = min([b for b in breaks if b > t * (1 + 1e-14)] + [t_end])
        h = planned_step(min(dt, prof.max_dt(t, checked)), stop - t)
        out.append((t, t + h, checked))
        # a step that lands on a breakpoint (or the end) leaves the next one unchecked
        t, checked = t + h, h < (stop - t) * (1 - 1e-12)
    return out


def test_the_share_is_that_of_a_half_width_step_at_the_peak():
    """F = Phi(1/4) - Phi(-1/4) = 0.1974; a checked step starting a quarter width before
    the centre is half a width (1e-12) and holds exactly F; unchecked steps are half a
    width within 6 widths of the centre, unlimited outside."""
    assert WINDOW_FRACTION == pytest.approx(ndtr(0.25) - ndtr(-0.25), rel=1e-15)
    assert WINDOW_FRACTION == pytest.approx(0.19741265, rel=1e-7)
    p = PulseProfile(3.0, 10.0, 2.0)
    assert p.max_dt(10.0 - 0.5) == pytest.approx(1.0, rel=1e-12)
    assert p.amount(9.5, 10.5) == pytest.approx(3.0 * WINDOW_FRACTION, rel=1e-12)
    for z in (-5.9, -3.0, 0.0, 2.0, 5.9):
        assert p.max_dt(10.0 + 2.0 * z, checked=False) == 1.0
    assert math.isinf(p.max_dt(10.0 - 12.5, checked=False))
    assert math.isinf(p.max_dt(10.0 + 12.5, checked=False))
    assert p.breakpoints() == [22.0]     # the window's start before t = 0: not one
    r = PulseProfile(3.0, 30.0, 2.0)
    assert r.breakpoints() == [30.0 - 2.0 * WINDOW_SIGMAS, 30.0 + 2.0 * WINDOW_SIGMAS]
    # on the window's start, as a run lands there (before 2026-11-28 a step from there
    # was unlimited whenever the start's z came out as -6 exactly: the whole pulse in
    # one unchecked step)
    assert r.max_dt(r.breakpoints()[0], checked=False) == 1.0


@pytest.mark.parametrize("z", np.linspace(-9.0, 3.0, 49))
def test_every_checked_step_at_its_cap_holds_exactly_the_share(z):
    """From any time, the longest checked step deposits F of the energy (1e-10), and a
    shorter one less; once less than F is left there is no cap."""
    e, c, s = 2.5, 7.0, 0.3
    p = PulseProfile(e, c, s)
    t = c + z * s
    h = p.max_dt(t)
    if e * (1 - ndtr(z)) <= WINDOW_FRACTION * e:
        assert math.isinf(h)
        return
    assert h > 0
    assert p.amount(t, t + h) == pytest.approx(WINDOW_FRACTION * e, rel=1e-10)
    assert p.amount(t, t + 0.999 * h) < WINDOW_FRACTION * e


def test_adaptive_steps_cross_a_pulse_in_seven_steps_and_resolve_its_peak():
    """Proposals of 5 widths through a pulse centred 5 widths after the start (the chip
    case's 1 ns pulse at 5 ns in 5 ns steps): the unchecked first step half a width, 5
    checked steps at the cap (F each) to 2.2 widths past the centre, one to the window's
    end: 7 steps in the window, against 22 of half a width before. The step over the
    centre is at most 0.6 of a width. A pulse long after the start: the step to the
    window, an unchecked half width, the same 5 capped steps, one to the window's end."""
    p = PulseProfile(1.0, 5.0, 1.0)
    st = _steps(p, 5.0, 0.0, 40.0)
    window = [s for s in st if s[0] < 11.0]
    assert len(window) == 7
    assert window[0] == (0.0, 0.5, False) and window[-1][1] == 11.0
    shares = [p.amount(a, b) for a, b, _ in st]
    assert shares[1:6] == pytest.approx([WINDOW_FRACTION] * 5, rel=1e-10)
    assert max(shares) <= WINDOW_FRACTION * (1 + 1e-12)
    assert max(b - a for a, b, _ in st if a <= 5.0 <= b) <= 0.6
    assert window[5][1] == pytest.approx(5.0 + 2.228, abs=1e-3)
    assert sum(shares) == pytest.approx(1.0 - ndtr(-5.0), rel=1e-12)
    q = PulseProfile(1.0, 30.0, 1.0)
    st = _steps(q, 50.0, 0.0, 60.0)
    assert st[0] == (0.0, 24.0, False) and st[1] == (24.0, 24.5, False)
    assert [s[1] for s in st].index(36.0) == 7
    assert sum(q.amount(a, b) for a, b, _ in st) == pytest.approx(1.0, rel=1e-12)


def _line_run(line, prof, opts, t_end):  # noqa: F811
    """The insulated line heated by ``prof`` in its first quarter: (accepted step
    ends, deposited energy, stored energy)."""
    n = line.local.n_owned
    bcs = {"left": BoundaryCondition("insulated"), "right": BoundaryCondition("insulated")}
    w = np.zeros(n)
    w[: n // 4] = 1.0 / (n // 4)
    prob = HeatProblem(line, [Linear()], np.ones(1), bcs, sources=[Source(w, prof)])
    x0, times = np.ones(n), [0.0]
    with options_session():
        it = BDFIntegrator(prob, x0, 0.0, "pulsesteps_", PETSC, opts,
                           jacobian=JacobianConfig())
        res = it.run(t_end, on_step=lambda i: times.append(i.t))
    assert res.success
    stored = float(np.sum(prob.conserved(it.x) - prob.conserved(x0)))
    return np.array(times), it.accumulated["deposited"], stored


def test_adaptive_bdf_steps_through_a_pulse_hold_the_share_and_store_it_exactly(line):  # noqa: F811
    """Adaptive backward Euler and BDF2 on the insulated line through a pulse of width
    0.05 centred at 0.5 (window 0.2 to 0.8), tolerances that never reject: the first
    step in the window half a width, every later one at most F of the energy, at most 11
    steps in the window (24 before), the deposit stored exactly (1e-12)."""
    prof = PulseProfile(1.0, 0.5, 0.05)
    for order in (1, 2):
        opts = BDFOptions(order=order, dt_initial=0.01, adaptive=True, rtol=1e3, atol=1e3)
        t, dep, stored = _line_run(line, prof, opts, 1.0)
        a = int(np.argmin(np.abs(t - 0.2)))
        assert t[a] == pytest.approx(0.2, rel=1e-14)
        steps = np.diff(t)
        inside = steps[a:int(np.argmin(np.abs(t - 0.8)))]
        assert inside[0] == pytest.approx(0.025, rel=1e-12)
        assert max(prof.amount(t[i], t[i + 1]) for i in range(a + 1, len(t) - 1)) \
            <= WINDOW_FRACTION * (1 + 1e-12)
        assert len(inside) <= 11
        assert dep == pytest.approx(1.0, rel=1e-12)
        assert stored == pytest.approx(dep, rel=1e-12)


def test_fixed_steps_keep_half_widths_in_the_window(line):  # noqa: F811
    """Fixed steps are not checked: half a width throughout the window (22 steps from 0
    to 6 widths past a centre 5 widths in), as before, and the deposit stored exactly."""
    prof = PulseProfile(1.0, 0.5, 0.1)
    t, dep, stored = _line_run(line, prof, BDFOptions(order=1, dt_initial=0.5,
                                                      adaptive=False), 1.1)
    assert len(t) - 1 == 22
    assert np.diff(t) == pytest.approx(0.05, rel=1e-9)
    assert dep == pytest.approx(prof.amount(0.0, 1.1), rel=1e-12)
    assert stored == pytest.approx(dep, rel=1e-12)
