"""``--resume`` extends ``[time] end``: a finished run continued to a later end gives the run
that went there at once (the time loop, :mod:`fvqp.models.base.timeloop`), and an end
before the checkpoint is refused with the fix.

The checkpoint must belong to the same case: a model lets ``[time] end`` change on resume
when its ``ModelSpec.digest_exempt`` lists ``time.end``, as ``heat``'s does."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import MESHES

FILM = {
    "model": "heat",
    "mesh": {"file": str(MESHES / "film_trap/film_trap_coarse.msh")},
    "bath": {"temperature": "200 mK"},
    "regions": {"film": {"material": "Al", "thickness": "100 nm"},
                "trap": {"material": "Al", "thickness": "300 nm", "Tc": "0.9 K"}},
    "boundaries": {"injector": {"type": "insulated"}, "film_edges": {"type": "insulated"},
                   "trap_edges": {"type": "insulated"}, "trap_end": {"type": "bath"}},
    "sources": [{"type": "pulse", "energy": "20 keV", "time": "5 ns", "duration": "1 ns",
                 "position": [40.0, 25.0, 0.0], "radius": "4 um"}],
    "time": {"dt_initial": "0.1 ns", "rtol": 1e-3},
    "output": {"every": 1000, "checkpoint_every": 5},
}


def _case(end: str) -> dict:
    c = json.loads(json.dumps(FILM))
    c["time"]["end"] = end
    return c


@pytest.fixture
def end_exempt():
    """heat's own spec lets `--resume` change the end (nothing patched)."""
    from fvqp.models import get_model_spec

    assert "time.end" in get_model_spec("heat").digest_exempt


def test_resume_extends_the_end_of_a_finished_run(end_exempt, tmp_path):
    from fvqp.api import run

    ref = run(_case("60 ns"), output_dir=tmp_path / "ref", name="heat_film")
    first = run(_case("20 ns"), output_dir=tmp_path / "ext", name="heat_film")
    assert first.status == 0
    ext = run(_case("60 ns"), output_dir=tmp_path / "ext", name="heat_film", resume=True)
    assert ext.status == 0
    T, Tref = ext.fields["temperature"], ref.fields["temperature"]
    assert T.times[-1] == pytest.approx(60e-9, rel=1e-12, abs=0)
    assert 20e-9 in T.times  # the first run's last snapshot is kept
    # energy: the whole 20 keV deposited once, balanced over both legs of the run
    e, eref = ext.result["energy_J"], ref.result["energy_J"]
    assert e["deposited"] == pytest.approx(eref["deposited"], rel=1e-9, abs=0)  # 2.7e-12
    assert abs(e["imbalance"]) < 1e-9 * e["deposited"]
    # the same state as the run that went to 60 ns at once, to the step control's
    # tolerance (rtol 1e-3 on T; the steps differ where the first leg stopped at 20 ns)
    dT, dTref = T.values[-1] - 0.2, Tref.values[-1] - 0.2
    assert np.abs(dT - dTref).max() < 2e-3 * np.abs(dTref).max()  # measured 2.8e-4
    # one row per accepted step, times increasing across the resume
    t = ext.series["step"].times
    assert np.all(np.diff(t) > 0) and t[0] == 0.0
    assert t[-1] == pytest.approx(60e-9, rel=1e-12, abs=0)


def test_resume_to_an_end_before_the_checkpoint_is_refused(end_exempt, tmp_path):
    from fvqp.api import run
    from fvqp.io import CheckpointError

    run(_case("20 ns"), output_dir=tmp_path, name="heat_film")
    with pytest.raises(CheckpointError, match=r"after \[time\] end = 1\.000000e-08 s\. Fix"):
        run(_case("10 ns"), output_dir=tmp_path, name="heat_film", resume=True)
