"""How steps cross a Gaussian pulse (``fvqp.mesh.sources.PulseProfile.max_dt``): each step
holds at most the share of the energy that a half-width step centred on the peak holds, so
the peak is resolved by half-width steps and the tails, which hold little, by long ones.

Before, every step within +-6 widths of the centre was at most half a width: 24 steps
through the pulse whatever the run's own step, 22 of the 40-57 steps of the layout chip's
adaptive microsecond."""

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
    """The steps ``(t, t + h)`` a run of step ``dt`` takes from ``t0`` as the integrators
    plan them (:func:`fvqp.solvers.bdf.planned_step`: the cap, then the pulse's
    breakpoints and the end, without sliver steps)."""
    breaks = [b for b in prof.breakpoints() if b > t0]
    out, t = [], t0
    while t < t_end * (1 - 1e-14):
        stop = min([b for b in breaks if b > t * (1 + 1e-14)] + [t_end])
        h = planned_step(min(dt, prof.max_dt(t)), stop - t)
        out.append((t, t + h))
        t = t + h
    return out


def test_the_share_is_that_of_a_half_width_step_at_the_peak():
    """F = Phi(1/4) - Phi(-1/4) = 0.1974; a capped step starting a quarter width before
    the centre is half a width (1e-12) and holds exactly F."""
    assert WINDOW_FRACTION == pytest.approx(ndtr(0.25) - ndtr(-0.25), rel=1e-15)
    assert WINDOW_FRACTION == pytest.approx(0.19741265, rel=1e-7)
    p = PulseProfile(3.0, 10.0, 2.0)
    assert p.max_dt(10.0 - 0.5) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("z", np.linspace(-9.0, 3.0, 49))
def test_every_capped_step_holds_exactly_the_share(z):
    """From any time, the longest step allowed deposits F of the energy (1e-10), and a
    shorter one less; once less than F is left there is no cap."""
    e, c, s = 2.5, 7.0, 0.3
    p = PulseProfile(e, c, s)
    t = c + z * s
    h = p.max_dt(t)
    left = e * (1 - ndtr(z))
    if left <= WINDOW_FRACTION * e:
        assert math.isinf(h)
        return
    assert h > 0
    assert p.amount(t, t + h) == pytest.approx(WINDOW_FRACTION * e, rel=1e-10)
    assert p.amount(t, t + 0.999 * h) < WINDOW_FRACTION * e


def test_long_steps_cross_a_pulse_in_five_capped_steps_and_resolve_its_peak():
    """A run of 5-width steps through a pulse centred 5 widths after the start: 5 capped
    steps (22 of half a width with the old rule, to 6 widths past the centre), none
    holding more than F, the step over the centre at most 0.6 of a width, then the run's
    own steps from 2.2 widths past the centre. From a start long before the pulse: the
    breakpoint 6 widths before the centre, the 5 capped steps, one step to the end."""
    p = PulseProfile(1.0, 5.0, 1.0)
    st = _steps(p, 5.0, 0.0, 40.0)
    capped = st[:5]
    assert all(b - a < 5.0 * (1 - 1e-12) for a, b in capped)
    assert all(b - a == pytest.approx(5.0, rel=1e-12) for a, b in st[5:10])
    shares = [p.amount(a, b) for a, b in st]
    assert max(shares) <= WINDOW_FRACTION * (1 + 1e-12)
    assert shares[:5] == pytest.approx([WINDOW_FRACTION] * 5, rel=1e-10)
    assert max(b - a for a, b in st if a <= 5.0 <= b) <= 0.6
    assert capped[-1][1] == pytest.approx(5.0 + 2.228, abs=1e-3)
    assert sum(shares) == pytest.approx(1.0 - ndtr(-5.0), rel=1e-12)
    q = PulseProfile(1.0, 30.0, 1.0)
    st = _steps(q, 50.0, 0.0, 60.0)
    assert st[0] == (0.0, 30.0 - WINDOW_SIGMAS)
    assert len(st) == 1 + 5 + 1
    assert sum(q.amount(a, b) for a, b in st) == pytest.approx(1.0, rel=1e-12)


def test_a_pulse_crossed_by_capped_fixed_steps_is_stored_exactly(line):  # noqa: F811
    """Backward Euler in 5-width steps on the insulated line: the integrator takes the
    5 capped steps (to 2.2 widths past the centre; 22 steps of half a width to 6 widths
    with the old rule), then its own, and stores the deposit exactly (1e-12)."""
    prof = PulseProfile(1.0, 0.5, 0.1)
    n = line.local.n_owned
    bcs = {"left": BoundaryCondition("insulated"), "right": BoundaryCondition("insulated")}
    w = np.zeros(n)
    w[: n // 4] = 1.0 / (n // 4)
    prob = HeatProblem(line, [Linear()], np.ones(1), bcs, sources=[Source(w, prof)])
    x0, times = np.ones(n), [0.0]
    with options_session():
        it = BDFIntegrator(prob, x0, 0.0, "pulsesteps_", PETSC,
                           BDFOptions(order=1, dt_initial=0.5, adaptive=False),
                           jacobian=JacobianConfig())
        res = it.run(1.1, on_step=lambda i: times.append(i.t))
    assert res.success
    plan = _steps(prof, 0.5, 0.0, 1.1)
    assert times[1:6] == pytest.approx([b for _, b in plan[:5]], rel=1e-13)
    assert times[5] == pytest.approx(0.5 + 2.228 * 0.1, abs=1e-4)
    dep = it.accumulated["deposited"]
    assert dep == pytest.approx(prof.amount(0.0, 1.1), rel=1e-12)
    stored = float(np.sum(prob.conserved(it.x) - prob.conserved(x0)))
    assert stored == pytest.approx(dep, rel=1e-12)
