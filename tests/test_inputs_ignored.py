"""Inputs a run accepted and then did not read are refused at ``fvqp check``.

Each was validated and dropped without a word (the user believed it set something):

- transport: a region's ``gap`` with ``delta0`` ran on the fixed gap, delta0 only setting
  gap_ratio = 1.989 (300 ueV at Tc = 1.75 K) of the phonon prefactor;
- transport: ``[gap] tolerance``, ``max_iterations``, ``relaxation`` without the
  self-consistent gap, or in a transient (only the steady gap iteration reads them);
- bte: ``[gap] hold`` and ``floor`` without the self-consistent gap;
- ``[time] end`` in a steady case of a mesh model or of kinetics0d;
- heat: ``[output] times`` and ``every`` in a steady case (one steady state is written);
- phonon, bte_chip: ``[interfaces] reflection`` with the diffuse mismatch model (DMM
  reflects diffusely by construction);
- bte: ``[time] rtol`` and ``newton_tol`` with fixed steps (``adaptive = false``, or a
  collisionless transient);
- bte: ``[collisions] escape_time`` and ``no_escape`` with ``phonons = "bath"`` (only
  local phonons escape), ``escape_time`` with ``no_escape = true``;
- bte, phonon: ``[angles] polar``/``azimuth`` on a 2D mesh (the run takes
  ``directions``), ``directions`` on a 3D mesh;
- bte_sphere: ``[phonons] surface`` unless mode = "bte", ``escape_time`` unless mode =
  "local";
- bte_sphere: ``[angles] write_mu`` outside [-1, 1] (not a direction cosine: the
  nearest end ordinate was written);
- kinetics0d: ``[output] times`` in a steady case (the heat model's refusal, shared);
  ``[output] every`` in any case (it records every accepted step and the states at
  ``times``); ``[output] fields`` of kinetics0d and bte_sphere (they write all fields);
- bte: ``[collisions]`` keys other than ``enabled`` with the collisions off;
- a steady case: the ``[time]`` keys of time steps (dt_initial ... atol) and ``[output]``
  every, times, checkpoint_every (the loader's rule, every model with a steady mode);
- kinetics0d: ``[time]`` dt_min, dt_max, adaptive, newton_tol, atol of a transient (PETSc
  TS adapts to rtol alone); ``[units]`` (the film's material sets the units; also
  bte_sphere, usadel, stochastic);
- stochastic's ``[output]`` keys but ``directory`` and ``figures``, and ``[solver]``;
- usadel: ``[time] steady = false`` (steady states only);
- phonon: the ``[time]`` keys of adaptive steps; phonon, bte_chip: ``[output] times``
  (fixed steps of dt_initial, snapshots every N steps); bte: ``[output] times`` without the
  collisions or with the self-consistent gap (the same fixed-step loop).

``[time] end`` in a steady case is one rule of the loader for every model with a steady
mode; the models without one (bte_chip, bte_sphere) refuse ``steady = true`` alone.
"""

from __future__ import annotations

import pytest

from conftest import case_variant, single_refusal
from fvqp.case.loader import CaseError, load_case

#: (shipped case, text edits adding the input, the refusal's "key: message" start, fix)
IGNORED = [
    ("transport_nis_wire.toml", {'gap = "266 ueV"': 'gap = "266 ueV"\ndelta0 = "300 ueV"'},
     "regions.wire.delta0: the gap is given twice (gap and delta0)", "keep one: gap"),
    ("transport_nis_wire.toml",
     {"self_consistent = false": "self_consistent = false\ntolerance = 1e-6"},
     "gap.tolerance: the gap is fixed (self_consistent = false)",
     "remove tolerance, or set self_consistent = true."),
    ("transport_nis_wire.toml",
     {"self_consistent = false": "self_consistent = true\nrelaxation = 0.3",
      "steady = true": 'end = "1 ns"'},
     "gap.relaxation: a transient run updates the self-consistent gap after every step",
     "remove relaxation, or set [time] steady = true."),
    ("bte_film_pulse.toml", {"[angles]": "[gap]\nfloor = 0.5\n\n[angles]"},
     "gap.floor: the gap is the bath's (self_consistent = false)",
     "remove floor, or set self_consistent = true."),
    ("transport_nis_wire.toml", {"steady = true": 'steady = true\nend = "1 us"'},
     "time.end: a steady case (steady = true) solves for the steady state directly",
     "remove end, or remove steady = true"),
    ("bte_gapstep.toml", {"steady = true": 'steady = true\nend = "1 ns"'},
     "time.end: a steady case (steady = true)", "remove end"),
    ("heat_nis_wire.toml", {'directory = "../output/heat_nis_wire"':
                            'directory = "../output/heat_nis_wire"\ntimes = ["1 ns"]'},
     "output.times: a steady case (steady = true) writes its steady state "
     "(one per point of a sweep)",
     "remove times, or remove steady = true"),
    ("heat_nis_wire.toml", {'directory = "../output/heat_nis_wire"':
                            'directory = "../output/heat_nis_wire"\nevery = 10'},
     "output.every: a steady case (steady = true) writes its steady state "
     "(one per point of a sweep)",
     "remove every, or remove steady = true"),
    ("bte_chip_deposit.toml", {'model = "dmm"': 'model = "dmm"\nreflection = "diffuse"'},
     "interfaces.reflection: the diffuse mismatch model ('dmm') reflects diffusely",
     'remove reflection, or choose model = "amm".'),
    ("bte_film_relaxation.toml", {"adaptive = false": "adaptive = false\nrtol = 1e-4"},
     "time.rtol: adaptive = false takes fixed steps of dt_initial",
     "remove rtol, or set adaptive = true."),
    ("bte_film_pulse.toml", {'end = "100 ps"': 'end = "100 ps"\nnewton_tol = 1e-4'},
     "time.newton_tol: a run without [collisions] enabled takes fixed steps",
     "remove newton_tol (adaptive steps need [collisions] enabled)."),
    ("bte_film_pulse.toml", {"directions = 16": "directions = 16\npolar = 8"},
     "angles.polar: read on 3D meshes only; the mesh film_trap_coarse.msh is 2D",
     "remove polar and give directions under [angles]."),
    ("phonon_si_block.toml", {"polar = 4": "polar = 4\ndirections = 32"},
     "angles.directions: read on 2D meshes only;",
     "remove directions and give polar and azimuth under [angles]."),
    ("bte_sphere_sn_packet.toml", {'mode = "bte"': 'mode = "bath"'},
     'phonons.surface: mode = "bath" does not read it',
     'remove surface, or set mode = "bte".'),
    ("bte_sphere_sn_packet.toml", {'mode = "bte"': 'mode = "bte"\nescape_time = "1 ns"'},
     'phonons.escape_time: mode = "bte" does not read it',
     'remove escape_time, or set mode = "local".'),
    ("bte_sphere_sn_packet.toml",
     {"write_mu = [-1.0, 0.0, 1.0]": "write_mu = [-1.0, 0.0, 1.5]"},
     "angles.write_mu[2]: 1.5 is not a direction cosine", "give values between -1 and 1."),
    ("kinetics0d_al_gap_suppression.toml", {"steady = true": 'steady = true\nend = "1 us"'},
     "time.end: a steady case (steady = true) solves for the steady state directly",
     "remove end, or remove steady = true"),
    ("bte_absorber3d.toml", {'phonons = "bath"': 'phonons = "bath"\nescape_time = "1 ns"'},
     'collisions.escape_time: phonons = "bath" holds the phonons at the bath temperature',
     'remove escape_time, or set phonons = "local".'),
    ("bte_absorber3d.toml", {'phonons = "bath"': "no_escape = true"},
     'collisions.no_escape: phonons = "bath" holds the phonons at the bath temperature',
     'remove no_escape, or set phonons = "local".'),
    ("bte_film_relaxation.toml",
     {'phonons = "local"': 'phonons = "local"\nno_escape = true\nescape_time = "1 ns"'},
     "collisions.escape_time: no_escape = true: the local phonons never leave",
     "remove escape_time, or no_escape."),
    ("kinetics0d_al_relaxation.toml",
     {'directory = "../output/kinetics0d_al_relaxation"':
      'directory = "../output/kinetics0d_al_relaxation"\nevery = 5'},
     "output.every: kinetics0d has no output every N steps",
     "remove every (give times = [...] for states at chosen times)."),
    ("kinetics0d_al_relaxation.toml",
     {'directory = "../output/kinetics0d_al_relaxation"':
      'directory = "../output/kinetics0d_al_relaxation"\nfields = ["f"]'},
     "output.fields: kinetics0d writes all of its fields (f, n) in every snapshot",
     "remove fields."),
    ("bte_sphere_sn_packet.toml", {"[output]": '[output]\nfields = ["f"]'},
     "output.fields: bte_sphere writes all of its fields (f, f_mu, n) in every snapshot",
     "remove fields."),
    ("kinetics0d_al_gap_suppression.toml",
     {'directory = "../output/kinetics0d_al_gap_suppression"':
      'directory = "../output/kinetics0d_al_gap_suppression"\ntimes = ["1 ns"]'},
     "output.times: a steady case (steady = true) writes its steady state "
     "(one per point of a sweep)",
     "remove times, or remove steady = true"),
    ("bte_film_pulse.toml", {"[angles]": '[collisions]\nphonons = "local"\n\n[angles]'},
     "collisions.phonons: the collisions are off (enabled = false, the default): phonons "
     "sets the electron-phonon collisions only", "remove phonons, or set enabled = true."),
    ("bte_film_pulse.toml", {"[angles]": '[collisions]\nenabled = false\ntau0 = "1 ns"\n\n'
                                         "[angles]"},
     "collisions.tau0: the collisions are off (enabled = false): tau0 sets",
     "remove tau0, or set enabled = true."),
    ("bte_film_relaxation.toml", {"enabled = true": "enabled = false"},
     "collisions.phonons: the collisions are off (enabled = false)",
     "remove phonons, or set enabled = true."),
    # the D2 audit (every model's keys against what its run reads)
    ("heat_nis_wire.toml", {"steady = true": 'steady = true\ndt_max = "1 ns"'},
     "time.dt_max: a steady case (steady = true) solves for the steady state directly: it "
     "takes no time steps", "remove dt_max, or remove steady = true"),
    ("transport_nis_wire.toml", {'directory = "../output/transport_nis_wire"':
                                 'directory = "../output/transport_nis_wire"\n'
                                 "checkpoint_every = 5"},
     "output.checkpoint_every: a steady case (steady = true) writes its steady state "
     "(one per point of a sweep)",
     "remove checkpoint_every, or remove steady = true"),
    ("bte_gapstep.toml", {'directory = "../output/bte_gapstep"':
                          'directory = "../output/bte_gapstep"\nevery = 5'},
     "output.every: a steady case (steady = true) writes its steady state "
     "(one per point of a sweep)",
     "remove every, or remove steady = true"),
    ("kinetics0d_al_relaxation.toml", {"rtol = 1e-4": 'rtol = 1e-4\ndt_max = "1 us"'},
     "time.dt_max: the transient's time stepper (PETSc TS) adapts its steps to rtol alone",
     "remove dt_max (the time stepper's own options go under [solver.ts]"),
    ("kinetics0d_al_relaxation.toml", {"rtol = 1e-4": 'rtol = 1e-4\natol = "1 uK"'},
     "time.atol: the transient's time stepper (PETSc TS) adapts its steps to rtol alone",
     "remove atol"),
    ("stochastic_relaxation.toml", {'directory = "../output/stochastic_relaxation"':
                                    'directory = "../output/stochastic_relaxation"\n'
                                    "checkpoint_every = 5"},
     "output.checkpoint_every: a stochastic study writes its whole result and a checkpoint "
     "after every finished unit", "remove checkpoint_every."),
    ("stochastic_relaxation.toml", {"[output]": '[solver]\nprefix = "s_"\n\n[output]'},
     "solver: the stochastic model does not use a [solver] table.",
     "remove [solver] from the case file."),
    ("kinetics0d_al_relaxation.toml", {"[output]": '[units]\nreference_material = "Nb"\n\n'
                                                   "[output]"},
     "units: the kinetics0d model does not use a [units] table.",
     "remove [units] from the case file."),
    ("usadel_nis_wire.toml", {"steady = true": 'steady = false\nend = "1 ns"'},
     "time.steady: usadel solves for steady states only",
     "set steady = true under [time] and remove the other [time] keys."),
    ("phonon_si_block.toml", {'scheme = "bdf2"': 'scheme = "bdf2"\nrtol = 1e-4'},
     "time.rtol: the transient phonon model marches fixed steps of dt_initial",
     "remove rtol (dt_initial sets the step)."),
    ("phonon_si_block.toml", {"every = 5": 'every = 5\ntimes = ["10 ns"]'},
     "output.times: the transient phonon model writes its snapshots every [output] every "
     "steps and at the end", "remove times"),
    ("bte_chip_deposit.toml", {"every = 5": 'every = 5\ntimes = ["10 ns"]'},
     "output.times: the chip chain writes its snapshots every [output] every steps",
     "remove times"),
    ("bte_film_pulse.toml", {"every = 5": 'every = 5\ntimes = ["50 ps"]'},
     "output.times: a run without [collisions] enabled writes its snapshots every [output] "
     "every steps", "remove times"),
]


@pytest.mark.parametrize("name,edits,message,fix", IGNORED,
                         ids=[m.split(":")[0] + f"-{i}" for i, (_, _, m, _) in
                              enumerate(IGNORED)])
def test_an_input_the_run_would_not_read_is_refused(name, edits, message, fix, tmp_path):
    """The one added input is the one problem: its key, why it is not read, and the fix."""
    error = single_refusal(name, tmp_path, **edits)
    assert f"{name}: {message}" in error, error
    assert f"Fix: {fix}" in error, error


@pytest.mark.parametrize("name", sorted({n for n, *_ in IGNORED}))
def test_the_shipped_case_without_the_input_passes(name, tmp_path):
    assert load_case(case_variant(name, tmp_path)).model


def test_keys_the_run_reads_stay_accepted(tmp_path):
    """What is read stays valid: the steady gap iteration's tolerance with the
    self-consistent gap, rtol with adaptive steps and collisions, the escape time of the
    bte's local phonons, the phonon surface of the phonon BTE and an escape time of local
    phonons, the bte's ``[collisions] tau0`` with the collisions on, and the output times
    of a kinetics0d transient."""
    for name, edits in [
            ("transport_nis_wire.toml",
             {"self_consistent = false": "self_consistent = true\ntolerance = 1e-6"}),
            ("bte_film_relaxation.toml", {"adaptive = false": "adaptive = true\nrtol = 1e-4"}),
            ("bte_film_relaxation.toml",
             {'phonons = "local"': 'phonons = "local"\nescape_time = "1 ns"'}),
            ("bte_sphere_sn_packet.toml",
             {'mode = "bte"\nsurface = "bath"': 'mode = "local"\nescape_time = "1 ns"'}),
            ("bte_film_relaxation.toml",
             {'phonons = "local"': 'phonons = "local"\ntau0 = "1 ns"'}),
            ("kinetics0d_al_relaxation.toml", {})]:  # its times are read
        load_case(case_variant(name, tmp_path, **edits))


@pytest.mark.parametrize("name,edits", [
    ("bte_chip_deposit.toml", {'end = "300 ns"': 'end = "300 ns"\nsteady = true'}),
    ("bte_sphere_sn_packet.toml", {'end = "5 ns"': 'end = "5 ns"\nsteady = true'})])
def test_a_model_without_a_steady_mode_refuses_steady_alone(name, edits, tmp_path):
    """bte_chip and bte_sphere run in time only: ``steady = true`` is the one problem, and
    the end they read is not refused with it (bte_chip was told both to remove steady and
    to remove end)."""
    with pytest.raises(CaseError) as exc:
        load_case(case_variant(name, tmp_path, **edits))
    errors = exc.value.errors
    assert len(errors) == 1 and f"{name}: time.steady: " in errors[0], errors
