"""A failed BDF step names its time in SI (issue 20 §2): the time loop hands the
integrator :func:`fvqp.models.base.timeloop.si_time` of the run's units, so the log line
"step at t=… failed" and the message of a run that cannot go on read "20 ns", not an
internal number."""

from __future__ import annotations

import logging

import pytest

from fvqp.models.base.timeloop import si_time
from fvqp.solvers.bdf import internal_time
from fvqp.units import UnitSystem

U = UnitSystem(Tc=1.2, tau0=438e-9, N0=1.72e47)


def test_si_time_picks_the_unit_of_the_value():
    f = si_time(U)
    assert f(20e-9 / 438e-9) == "20 ns"
    assert f(1.25e-6 / 438e-9) == "1.25 µs"
    assert f(2.0) == "876 ns"  # two tau0 of this unit system
    assert f(3.5e-12 / 438e-9) == "3.5 ps"
    assert f(1.0 / 438e-9) == "1 s"
    assert f(0.0) == "0 s"
    assert f(3e-23 / 438e-9) == "3.0000e-23 s"  # below 1 fs: exponent
    assert internal_time(2.0) == "2.0000e+00 (internal units)"  # the solver's default


def test_a_failed_step_names_its_time_in_si(tmp_path, caplog):
    """heat's film run to 20 ns, resumed to 40 ns with Newton allowed no iteration
    (``-heat_snes_max_it 0``, as from the command line): every step from t = 20 ns fails,
    is retried with dt/4 down to dt_min and the run ends with status -1; the log lines
    and the message give t = 20 ns and the steps in SI."""
    from petsc4py import PETSc
    from test_api_resume import _case  # heat's film case with a given [time] end

    from fvqp.api import run

    first = run(_case("20 ns"), output_dir=tmp_path, name="heat_film")
    assert first.status == 0
    opts = PETSc.Options()
    opts.setValue("heat_snes_max_it", 0)
    try:
        with caplog.at_level(logging.INFO, logger="fvqp.solvers.bdf"):
            res = run(_case("40 ns"), output_dir=tmp_path, name="heat_film", resume=True)
    finally:
        opts.delValue("heat_snes_max_it")
    assert res.status == -1
    msg = res.result["message"]
    assert msg.startswith("not converged: time step ") and "internal units" not in msg
    assert " s fell below dt_min = 4.0000e-22 s at t = 20 ns: " in msg, msg  # 40 ns 1e-14
    failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failed) >= 10 and all(m.startswith("step at t=20 ns with dt=") for m in failed)
    # every retry a quarter of the previous step, each with its unit: 143.4 ps, 35.86 ps,
    # ..., 560.3 fs, ..., 5.4719e-16 s (measured)
    scale = {"ps": 1e-12, "fs": 1e-15, "ns": 1e-9, "s": 1.0}
    dts = [m.split("dt=")[1].split(" failed")[0].split() for m in failed]
    dts = [float(v) * scale[u] for v, u in dts]
    for a, b in zip(dts, dts[1:], strict=False):
        assert b == pytest.approx(a / 4, rel=1e-3, abs=0)
