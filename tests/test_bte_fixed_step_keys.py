"""bte: the ``[time]`` step keys a fixed-step transient never reads are refused.

``[time] rtol`` and ``newton_tol`` were refused with fixed steps; ``dt_min``, ``dt_max``
and ``atol`` were accepted and dropped where the fixed-step loop never reads them:

- without collisions, gaps held (:mod:`fvqp.models.bte.transient`): every step is one
  linear solve per bin of dt_initial, never shortened nor retried (no dt_min, dt_max),
  and no step or occupation is tested against atol;
- without collisions, self-consistent gap (:mod:`fvqp.models.bte.gaprun`,
  :mod:`.gapsteps`): the same linear steps (no dt_min, dt_max); atol *is* read (an
  occupation below zero within it is round-off, :func:`fvqp.models.bte.coupled.undershoot`);
- with collisions and ``adaptive = false`` (:mod:`.coupled`, :mod:`.gapcollide`): the
  steps are :class:`fvqp.solvers.bdf.BDFIntegrator`'s, which caps them at dt_max and
  retries a failed solve at a quarter down to dt_min, and the undershoot test reads
  atol: all three stay accepted.
"""

from __future__ import annotations

import pytest

from conftest import case_variant, single_refusal
from fvqp.case.loader import load_case

PULSE = 'end = "100 ps"'            # bte_film_pulse: collisionless, gaps held
SELFGAP = 'adaptive = false'        # bte_selfgap: collisionless, self-consistent gap
STEP_FIX = "(dt_initial sets the step; adaptive steps need [collisions] enabled)."
STEP_WHY = ("takes fixed steps of dt_initial: each is a linear solve per energy bin, "
            "never shortened nor retried, and the run does not read it.")

#: (shipped case, text edits adding the key, the refusal's "key: message" start, fix)
REFUSED = [
    ("bte_film_pulse.toml", {PULSE: PULSE + '\ndt_min = "1 ps"'},
     f"time.dt_min: a run without [collisions] enabled {STEP_WHY}", f"remove dt_min {STEP_FIX}"),
    ("bte_film_pulse.toml", {PULSE: PULSE + '\ndt_max = "1 ps"'},
     f"time.dt_max: a run without [collisions] enabled {STEP_WHY}", f"remove dt_max {STEP_FIX}"),
    ("bte_film_pulse.toml", {PULSE: PULSE + "\natol = 1e-9"},
     "time.atol: a run without [collisions] enabled takes fixed steps of dt_initial: no step "
     "is chosen or tested by the local error, and the run does not read it.",
     "remove atol (adaptive steps need [collisions] enabled)."),
    ("bte_selfgap.toml", {SELFGAP: SELFGAP + '\ndt_min = "1 ps"'},
     f"time.dt_min: adaptive = false {STEP_WHY}", f"remove dt_min {STEP_FIX}"),
    ("bte_selfgap.toml", {SELFGAP: SELFGAP + '\ndt_max = "1 ps"'},
     f"time.dt_max: adaptive = false {STEP_WHY}", f"remove dt_max {STEP_FIX}"),
]


@pytest.mark.parametrize("name,edits,message,fix", REFUSED,
                         ids=[f"{n.split('.')[0]}-{m.split(':')[0]}" for n, _, m, _ in REFUSED])
def test_a_step_key_the_fixed_steps_never_read_is_refused(name, edits, message, fix,
                                                          tmp_path):
    """The one added key is the one problem: its key, why it is not read, and the fix."""
    error = single_refusal(name, tmp_path, **edits)
    assert f"{name}: {message}" in error, error
    assert f"Fix: {fix}" in error, error


@pytest.mark.parametrize("name,edits", [
    # the self-consistent gap's undershoot test reads atol without collisions too
    ("bte_selfgap.toml", {SELFGAP: SELFGAP + "\natol = 1e-9"}),
    # collisions, fixed steps: BDFIntegrator caps at dt_max, retries down to dt_min; the
    # undershoot test reads atol (gaps held: bte_film_relaxation; self-consistent gap:
    # bte_selfgap_pulse)
    ("bte_film_relaxation.toml", {SELFGAP: SELFGAP + '\ndt_min = "1 ps"\ndt_max = "10 ps"'
                                  "\natol = 1e-9"}),
    ("bte_selfgap_pulse.toml", {SELFGAP: SELFGAP + '\ndt_min = "1 ps"\ndt_max = "0.1 ns"'
                                "\natol = 1e-9"}),
    # adaptive steps with collisions read them all
    ("bte_film_relaxation.toml", {SELFGAP: 'adaptive = true\ndt_min = "1 ps"\n'
                                  'dt_max = "10 ps"\natol = 1e-9\nrtol = 1e-4'})])
def test_step_keys_a_fixed_step_run_reads_stay_accepted(name, edits, tmp_path):
    assert load_case(case_variant(name, tmp_path, **edits)).model == "bte"


def test_dt_max_caps_the_fixed_steps_with_collisions(tmp_path):
    """Why dt_max stays accepted with collisions and adaptive = false: the integrator of
    the coupled step takes min(dt_initial, dt_max) (here 5 ps steps for dt_initial 20
    ps)."""
    from fvqp.models.base import bdf_options
    from fvqp.models.bte.coupled import _jacobian, _petsc, coupled_problem
    from fvqp.models.bte.simulation import BTESimulation
    from fvqp.solvers import BDFIntegrator, options_session

    case = load_case(case_variant("bte_film_relaxation.toml", tmp_path,
                                  **{SELFGAP: SELFGAP + '\ndt_max = "5 ps"'}))
    sim = BTESimulation(case)
    d = sim.case.values["time"]
    opts, _ = bdf_options(d, d["atol"])
    assert not opts.adaptive and opts.dt_max == pytest.approx(opts.dt_initial / 4)
    prob = coupled_problem(sim)
    prefix, petsc = _petsc(sim)
    with options_session():
        integ = BDFIntegrator(prob, prob.equilibrium(), 0.0, prefix, petsc, opts,
                              jacobian=_jacobian(prob))
        integ.step(opts.dt_initial)
    assert integ.last_h == pytest.approx(opts.dt_max, rel=1e-12)
