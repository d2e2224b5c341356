"""The bath temperature of the usadel model: refused where it would make a superconductor
above its Tc, reported where no result reads it.

- ``usadel_nis_wire.toml`` (Fig. 10 model: fixed gap, no collisions, normal injector and
  detector at their own 61 and 37 mK) gave bit-identical results at a bath of 24 mK and
  5 K: the bath sets only the superconducting reservoirs' f_L, which decouples from f_T
  without a supercurrent and which a normal electrode's current does not read. The key is
  required by every model, so ``fvqp check`` now notes it at INFO level (naming it, the
  case and the fix); with an electrode left at the bath temperature it acts and nothing is said.
- A bath at or above the wire's Tc (Al 1.175 K; 1.743 K = Δ0/1.764 k_B for a 265 ueV wire
  without a material) ran with the gap Δ0, and an electrode with a given gap at or above
  its material's Tc ran superconducting: now refused.
"""

from __future__ import annotations

import logging

import h5py
import numpy as np
import pytest

from conftest import case_variant
from fvqp.case.loader import CaseError, load_case

SHORT = {"points = 31": "points = 3"}


def _errors(path) -> str:
    with pytest.raises(CaseError) as exc:
        load_case(path)
    return str(exc.value)


def _bath_warnings(caplog, path) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fvqp"):
        load_case(path)
    return [r.getMessage() for r in caplog.records if "bath.temperature" in r.getMessage()]


def _sweep(path, out) -> np.ndarray:
    from fvqp.models.usadel.driver import run

    run(load_case(path), str(out))
    with h5py.File(out / f"{path.stem}.h5") as f:
        return np.concatenate([f["i_inj_A"][:], np.ravel(f["i_det_A"][:]),
                               np.ravel(f["g_nl"][:])])


def test_a_bath_no_result_reads_is_noted_and_one_that_acts_is_not(caplog, tmp_path):
    """The shipped NIS sweep: 24 mK and 0.3 K give identical currents and g_nl, and the
    check says so; with the injector's temperature left to the bath, the bath changes the
    injector current and the check is silent."""
    runs = {}
    for tag, bath, own in (("cold", "24 mK", True), ("warm", "0.3 K", True),
                           ("cold_inj", "24 mK", False), ("warm_inj", "0.3 K", False)):
        (tmp_path / tag).mkdir()
        edits = {**SHORT, 'temperature = "24 mK"': f'temperature = "{bath}"'}
        if not own:
            edits['temperature = "61 mK"\n'] = ""
        path = case_variant("usadel_nis_wire.toml", tmp_path / tag, **edits)
        warned = _bath_warnings(caplog, path)
        if own:
            (msg,) = warned
            assert "usadel_nis_wire.toml: bath.temperature:" in msg
            assert "enters no result of this run" in msg and "Fix:" in msg
        else:
            assert warned == []
        runs[tag] = _sweep(path, tmp_path / tag / "out")
    assert np.array_equal(runs["cold"], runs["warm"])
    # the injector at the bath: its Fermi window broadens I_inj(V) (0.3 K = 0.1 Δ0/k_B)
    assert not np.allclose(runs["cold_inj"], runs["warm_inj"], rtol=1e-3, atol=0)


@pytest.mark.parametrize("name,edits,message,fix", [
    ("usadel_nis_wire.toml", {'temperature = "24 mK"': 'temperature = "1.2 K"'},
     "bath.temperature: 1.2 K is at or above Tc = 1.175 K (region 'wire', of Al)",
     {"max = 4.0": "max = 8.0", 'material = "Al"': 'material = "Al"\nTc = "1.8 K"'}),
    ("usadel_open_wire.toml", {'temperature = "50 mK"\n\n[regions': 'temperature = "5 K"'
                               '\n\n[regions'},
     "bath.temperature: 5 K is at or above Tc = 1.175 K (region 'wire', of Al)",
     {'gap = "265 ueV"': 'gap = "0 ueV"', 'type = "superconductor"': 'type = "normal"',
      "max = 4.0": "max = 30.0"}),
    ("usadel_sis_wire.toml", {'temperature = "0.5 K"\n\n[regions': 'temperature = "1.8 K"'
                              '\n\n[regions'},
     "bath.temperature: 1.8 K is at or above Tc = 1.743 K (region 'wire', = Δ0/1.764 k_B "
     "of its gap (no material))",
     {'temperature = "1.8 K"\n\n[regions': 'temperature = "1.7 K"\n\n[regions',
      "max = 4.0": "max = 8.0"}),
    ("usadel_sis_wire.toml", {'conductance = "1 uS"\ntemperature = "0.5 K"':
                              'conductance = "1 uS"\ntemperature = "1.5 K"\ngap = "150 ueV"',
                              "max = 4.0": "max = 8.0"},
     "junctions.junction.gap: the electrode's temperature 1.5 K is at or above Tc = 1.175 K "
     "of its material Al", {'gap = "150 ueV"\n': ""}),
])
def test_a_superconductor_above_its_tc_is_refused(name, edits, message, fix, tmp_path):
    """Refused naming the key, the Tc and its origin; the fix the message gives is
    accepted (the film's own Tc; a normal wire; a bath below Tc; an Al electrode without
    a given gap, which is normal at 1.5 K: the BCS gap of its material is 0 above Tc)."""
    from fvqp.models.usadel.driver import build

    text = _errors(case_variant(name, tmp_path, **edits))
    assert message in text and "Fix:" in text
    (tmp_path / "fixed").mkdir()
    path = case_variant(name, tmp_path / "fixed", **edits)
    text = path.read_text()
    for old, new in fix.items():
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    setup, _ = build(load_case(path))
    if "junctions.junction.gap" in message:
        assert [j.gap for j in setup.junctions] == [0.0]


def test_a_fixed_default_gap_in_a_warm_bath_is_warned(caplog, tmp_path):
    """The open Al wire without its own gap (Δ0 = 1.764 k_B Tc = 178.6 ueV) and a fixed gap
    (mode none) in a 0.8 K bath (0.681 Tc): the run keeps Δ = Δ0, where the BCS gap is
    0.846 Δ0 (151.2 ueV). The check warns (it was silent), naming the key, the case, the
    ratio and the fix; the fix (that gap given), a self-consistent gap, and the 50 mK bath
    (Δ(T) = Δ0) are not warned about."""
    from fvqp.models.usadel.driver import build

    def case(tag, bath, **edits):
        (tmp_path / tag).mkdir()
        return case_variant("usadel_open_wire.toml", tmp_path / tag, **{
            'temperature = "50 mK"\n\n[regions': f'temperature = "{bath}"\n\n[regions',
            'gap = "265 ueV"\n': "", **edits})

    def warned(path):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="fvqp"):
            load_case(path)
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

    warm = case("warm", "0.8 K")
    (msg,) = warned(warm)
    assert msg.startswith("usadel_open_wire.toml: bath.temperature: 0.8 K = 0.681 Tc of "
                          "region 'wire' (Al, Tc = 1.175 K)"), msg
    assert "keeps Δ0 = 178.6 ueV, but the BCS gap at the bath is Δ(T)/Δ0 = 0.846 " \
           "(151.2 ueV)" in msg
    assert 'Fix: give the gap the run should take, gap = "151.2 ueV" under [regions.wire], ' \
           'or a self-consistent gap (selfconsistency.mode = "local").' in msg
    setup, _ = build(load_case(warm))  # what is warned about: the run's gap is Δ0
    assert np.all(np.asarray(setup.problem.delta) == 1.0)
    assert warned(case("fixed", "0.8 K", **{'material = "Al"\n':
                                             'material = "Al"\ngap = "151.2 ueV"\n',
                                             "max = 4.0": "max = 5.0"})) == []
    assert warned(case("local", "0.8 K", **{'mode = "none"': 'mode = "local"'})) == []
    assert warned(case("cold", "50 mK")) == []
