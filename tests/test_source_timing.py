"""Sources whose timing the run cannot honour are refused or reported, never dropped.

A steady state has no time: a pulse in a steady bte case was never deposited (sources
0, the thermal state reported), and a power or photon drive switched on at a time in a
steady heat or kinetics0d case was taken as off (the bath reported), each with status
0. Now ``fvqp check`` refuses them (:func:`fvqp.models.base.schema.check_steady_timing`).
A pulse after the run's end (or a power switched on after it) never entered the run
without a word, while a pulse before its start was reported: now both are
(:func:`fvqp.mesh.sources.case_sources`).
"""

from __future__ import annotations

import pytest

from conftest import case_variant, run_fvqp
from fvqp.case.loader import CaseError, load_case


def _refused(name: str, tmp_path, **edits) -> str:
    with pytest.raises(CaseError) as exc:
        load_case(case_variant(name, tmp_path, **edits))
    return str(exc.value)


@pytest.mark.parametrize("name,edits,message", [
    ("bte_film_relaxation.toml",
     {'end = "1 ns"\ndt_initial = "20 ps"': 'steady = true'},
     "sources[0].deposit: a pulse has no steady state"),
    ("heat_nis_wire.toml", {'radius = "20 nm"': 'radius = "20 nm"\nstart = "10 ns"'},
     "sources[0].start: a power switched on or off at a time has no steady state"),
    ("kinetics0d_al_weak_drive.toml",
     {'power = "1e-19 W"': 'power = "1e-19 W"\nstart = "10 ns"\nstop = "20 ns"'},
     "drives[0].start: a power switched on or off at a time has no steady state"),
])
def test_timed_sources_in_a_steady_case_are_refused(name, edits, message, tmp_path):
    text = _refused(name, tmp_path, **edits)
    assert message in text and "Fix:" in text


def test_a_pulse_after_the_end_is_reported(tmp_path):
    """The bte pulse at 100 +- 20 ps with the run ending at 60 ps: 0.977 of it
    (Phi(2)) never enters; the run says so (the fraction and the fix), as it does for a
    pulse before t = 0."""
    case = case_variant("bte_film_relaxation.toml", tmp_path,
                        **{'end = "1 ns"': 'end = "60 ps"'})
    proc = run_fvqp(["run", case, "--output", tmp_path / "out"])
    assert "sources[0]: 0.977 of the pulse's deposit comes after the run's end" in proc.stderr
    assert "Fix: give time.end at least time + 5 x duration" in proc.stderr
