"""What a kinetics0d run shows (issue 20) and its PETSc options per solver (issue 15).

* a transient writes ``<case>_transient.png`` and ``<case>_series.csv`` whose rows are the
  HDF5 time series converted to SI (time in s, QP density in µm⁻³, energies in J), its
  summary ``keys`` are the end state's numbers and the run's one report
  (:meth:`fvqp.models.base.ModelResult.report`) names status, output, wall time and those
  numbers (issue 15: the driver's own one-line summary is gone);
* ``[solver] ts`` reaches only the time stepper (prefix ``kinetics0d_ts_``) and
  ``[solver] snes`` only the steady-state Newton (``kinetics0d_snes_``); every option
  fvqp inserted is read by a PETSc object (none would be in an unused-options list), and
  an option under the other solver's table is a CaseError naming the key.
"""

from __future__ import annotations

import json
import re

import h5py
import numpy as np
import pytest

import fvqp
from conftest import CASES, run_fvqp
from fvqp.case import CaseError, load_case
from fvqp.io.series import read_series

#: the relaxation case on a coarse grid (hot QPs at 300 mK relaxing in a 150 mK film)
_COARSE = {'spacing = "6 ueV"': 'spacing = "12 ueV"', 'e_max = "700 ueV"': 'e_max = "500 ueV"'}


def report_numbers(log: str, out) -> dict[str, str]:
    """The key numbers ``name: value unit`` of the run's end-of-run report
    (:meth:`fvqp.models.base.ModelResult.report`, logged once by the run template): the
    block after ``kinetics0d: status 0``, which also names the output and the wall time;
    the driver logs no other summary line."""
    assert log.count("kinetics0d: status ") == 1
    lines = log[log.index("kinetics0d: status 0"):].splitlines()
    block = lines[1:1 + next((i for i, x in enumerate(lines[1:]) if not x.startswith("  ")),
                             len(lines) - 1)]
    assert f"  output: {out}" in block and any(x.startswith("  wall time: ") for x in block)
    return dict(m.groups() for x in block if (m := re.match(r"  (\w+): ([-+.\deE]+)", x)))


def _variant(tmp_path, name: str, replace: dict, extra: str = ""):
    text = (CASES / name).read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    p = tmp_path / name
    p.write_text(text + extra)
    return p


def test_transient_writes_its_series_csv_figure_and_key_numbers(tmp_path):
    """The CSV equals the HDF5 series in SI row by row; QP + phonon energy = total in every
    row; the keys are the end state's (last CSV row, observables_SI, gap_ueV); the run's
    report names them; PETSc lists no unused option at exit."""
    case = _variant(tmp_path, "kinetics0d_al_relaxation.toml", {
        **_COARSE, 'end = "200 us"': 'end = "1 us"',
        'times = ["1 ns", "10 ns", "100 ns", "1 us", "10 us", "100 us"]':
            'times = ["10 ns", "100 ns"]'})
    out = tmp_path / "out"
    proc = run_fvqp(["run", case, "--output", out, "-options_left"])
    log = proc.stdout + proc.stderr
    names = sorted(p.name for p in out.iterdir())
    assert "kinetics0d_al_relaxation_transient.png" in names
    assert "kinetics0d.png" not in names
    header, rows = read_series(str(out / "kinetics0d_al_relaxation_series.csv"))
    assert header == ["time_s", "dt_s", "step", "n_qp_per_um3", "E_qp_J", "E_ph_J",
                      "E_total_J"]
    a = np.array(rows)
    with h5py.File(out / "kinetics0d.h5") as fh:
        at = dict(fh.attrs)
        ts = {k: fh["timeseries"][k][:] for k in ("t", "n_qp", "e_qp", "e_ph", "energy")}
    n = ts["t"].size
    assert a.shape == (n, 7) and n > 20
    assert np.array_equal(a[:, 2], np.arange(n))
    assert a[0, 1] == 0 and a[1:, 1] == pytest.approx(np.diff(a[:, 0]), rel=1e-12, abs=0)
    vol = at["volume_m3"]
    for j, (key, scale) in enumerate((("t", at["tau0_s"]),
                                      ("n_qp", at["number_unit_per_m3"] * 1e-18),
                                      ("e_qp", at["energy_unit_J_per_m3"] * vol),
                                      ("e_ph", at["energy_unit_J_per_m3"] * vol),
                                      ("energy", at["energy_unit_J_per_m3"] * vol))):
        col = a[:, 0 if j == 0 else j + 2]
        assert col == pytest.approx(ts[key] * scale, rel=1e-13, abs=0), key
    assert a[-1, 0] == pytest.approx(1e-6, rel=1e-12, abs=0)  # [time] end
    assert a[:, 4] + a[:, 5] == pytest.approx(a[:, 6], rel=1e-12, abs=0)
    assert a[-1, 3] < a[0, 3]  # no drive: the QPs recombine

    s = json.loads((out / "summary.json").read_text())
    keys, si = s["keys"], s["observables_SI"]
    assert keys["N_qp_per_um3"] == pytest.approx(a[-1, 3], rel=1e-12, abs=0)
    assert keys["N_qp_per_um3"] == pytest.approx(si["n_qp_SI"] * 1e-18, rel=1e-12, abs=0)
    assert keys["T_star_K"] == pytest.approx(si["t_eff_SI"], rel=1e-12, abs=0)
    assert keys["T_N_K"] == pytest.approx(si["t_n_SI"], rel=1e-12, abs=0)
    assert keys["delta_ueV"] == pytest.approx(s["gap_ueV"], rel=1e-12, abs=0)
    assert keys["t_end_s"] == pytest.approx(1e-6, rel=1e-12, abs=0)
    assert "eta_pb" not in keys  # no drive: no pair-breaking efficiency
    # still hotter than the 150 mK bath after 1 us (started at 300 mK); mu* in ueV between
    # 0 and the gap (the same family as the gap)
    assert 0.15 < keys["T_star_K"] < 0.30 and 0.15 < keys["T_N_K"] < 0.30
    # mu* in ueV is named mu_ueV (a reader of the former mu_SI in eV gets a KeyError, not
    # a number 1e6 off)
    assert "mu_SI" not in si and s["observables_SI_units"]["mu_ueV"] == "ueV"
    assert 0 < si["mu_ueV"] < keys["delta_ueV"]
    assert s["figure"].endswith("kinetics0d_al_relaxation_transient.png")

    got = report_numbers(log, out)
    assert set(got) == set(keys)
    for k, v in keys.items():
        assert float(got[k]) == pytest.approx(v, rel=1e-3, abs=0), k
    assert "There are no unused options" in log


@pytest.fixture
def spy(monkeypatch):
    """Every ``apply_options(prefix, options)`` of the dense solvers, and the options fvqp
    inserted that no PETSc object read before they were removed."""
    from petsc4py import PETSc

    import fvqp.solvers.dense as dense
    import fvqp.solvers.denselinear as denselinear
    import fvqp.solvers.options as opt
    import fvqp.solvers.ts as ts

    rec = {"calls": [], "unused": []}
    real_apply, real_remove = opt.apply_options, opt.remove_inserted

    def unused(prefix: str = "") -> list[str]:
        db = PETSc.Options()
        present = db.getAll()  # (hasName would mark the option used)
        return [k for k in opt.inserted_names() if k.startswith(prefix) and k in present
                and not db.used(k)]

    def apply(prefix, options):
        if options is None:  # removal after a solve: was every option read?
            rec["unused"] += unused(prefix)
        else:
            rec["calls"].append((prefix, dict(options)))
        return real_apply(prefix, options)

    def remove():  # the end of the run's options session
        rec["unused"] += unused()
        return real_remove()

    for mod in (dense, denselinear, ts):
        monkeypatch.setattr(mod, "apply_options", apply)
    monkeypatch.setattr(opt, "remove_inserted", remove)
    return rec


def test_snes_options_reach_only_newton(tmp_path, spy):
    """A steady run with both tables: Newton gets [solver] snes under kinetics0d_snes_
    (its GMRES the scaled_ option), the TS table reaches no solver (Newton needs no TS
    start here), and every inserted option was read."""
    case = _variant(tmp_path, "kinetics0d_al_resonator.toml", {
        'spacing = "6 ueV"': 'spacing = "12 ueV"'},
        '\n[solver.snes]\nsnes_max_it = 37\nscaled_ksp_rtol = 1e-9\n'
        '[solver.ts]\nts_type = "beuler"\n')
    res = fvqp.run_case(str(case), output_dir=str(tmp_path / "out"))
    assert res["status"] == 0 and res["start"]["path"] == "newton"
    newton = [o for p, o in spy["calls"] if p == "kinetics0d_snes_"]
    assert newton and all(o["snes_max_it"] == 37 and o["scaled_ksp_rtol"] == 1e-9
                          for o in newton)
    assert all(not p.startswith("kinetics0d_ts_") for p, _ in spy["calls"])
    assert all("ts_type" not in o for _, o in spy["calls"])
    assert spy["unused"] == []
    # ... and the run says so (the key would have changed nothing): fvqp.solvers.options
    assert res["unread_options"] == ["[solver.ts] ts_type"]


def test_ts_options_reach_only_the_time_stepper(tmp_path, spy):
    """A transient with [solver] ts (fixed 1 ns steps, the TS's own Newton limit): only
    kinetics0d_ts_ is configured, with those options, no Newton prefix, and every inserted
    option was read (also the TS defaults)."""
    case = _variant(tmp_path, "kinetics0d_al_relaxation.toml", {
        **_COARSE, 'end = "200 us"': 'end = "10 ns"', 'dt_initial = "0.1 ns"':
        'dt_initial = "1 ns"', 'times = ["1 ns", "10 ns", "100 ns", "1 us", "10 us", '
        '"100 us"]': 'times = ["5 ns"]'},
        '\n[solver.ts]\nts_adapt_type = "none"\nsnes_max_it = 17\n')
    res = fvqp.run_case(str(case), output_dir=str(tmp_path / "out"))
    assert res["status"] == 0 and res["steps"] == 10  # fixed steps: the option acted
    assert "unread_options" not in res.summary  # both keys read by the TS
    assert {p for p, _ in spy["calls"]} == {"kinetics0d_ts_"}
    assert all(o["ts_adapt_type"] == "none" and o["snes_max_it"] == 17
               for _, o in spy["calls"])
    assert spy["unused"] == []


@pytest.mark.parametrize("extra, key", [
    ('[solver.petsc]\nsnes_max_it = 5\n', "solver.petsc"),
    ('[solver.snes]\nts_type = "beuler"\n', "solver.snes.ts_type"),
    ('[solver.ts]\nscaled_ksp_rtol = 1e-8\n', "solver.ts.scaled_ksp_rtol"),
])
def test_an_option_of_the_other_solver_is_a_case_error(tmp_path, extra, key):
    case = _variant(tmp_path, "kinetics0d_al_resonator.toml", {}, "\n" + extra)
    with pytest.raises(CaseError) as exc:
        load_case(str(case))
    assert len(exc.value.errors) == 1 and f"{case.name}: {key}: " in exc.value.errors[0]


def test_newton_options_in_a_transient_are_a_case_error(tmp_path):
    case = _variant(tmp_path, "kinetics0d_al_relaxation.toml", {},
                    "\n[solver.snes]\nsnes_max_it = 5\n")
    with pytest.raises(CaseError, match=r"solver\.snes.*\[solver\.ts\]"):
        load_case(str(case))
