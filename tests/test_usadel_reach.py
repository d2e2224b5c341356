"""The usadel ``[energy] max`` check (:func:`fvqp.models.usadel.gridreach.tunnel_reach`)
counts the temperatures that enter: an electrode's own, the bath's for an electrode
without one (at its bias), and the bath's at zero bias where the superconducting
reservoirs, the e-ph collisions or Eq. 8 read it.

It counted the bath as an electrode's Fermi window at every bias: the NIS wire in a
0.5 K bath, electrodes at their own 61/37 mK, was refused asking for energy.max = 4.626
(3 Δ0 + 10 k_B 0.5 K), although its currents at max = 3.199 (3 Δ0 + 10 k_B 61 mK)
equal those of max = 5 to 1e-4 and do not depend on the bath.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from conftest import case_variant, run_fvqp
from fvqp.case.loader import CaseError, load_case

_HOT = {'temperature = "24 mK"': 'temperature = "0.5 K"'}


def _refused(path) -> str:
    with pytest.raises(CaseError) as exc:
        load_case(path)
    return str(exc.value)


def test_hot_bath_does_not_widen_the_grid_of_electrodes_at_their_own_temperatures(
        tmp_path):
    """The NIS wire in a 0.5 K bath with max = 3.199 passes the check (was refused: 4.626)
    and its injector current and g_nl at 0, +-3 Δ0 equal those with max = 5 to 1e-4, and
    those of the shipped 24 mK bath (the bath enters no result of this sweep)."""
    out = []
    for tag, bath, top in (("cut", _HOT, "3.199"), ("wide", _HOT, "5.0"),
                           ("cold", {}, "5.0")):
        (tmp_path / tag).mkdir()
        path = case_variant("usadel_nis_wire.toml", tmp_path / tag, **bath,
                            **{"points = 31": "points = 3", "max = 4.0": f"max = {top}"})
        load_case(path)  # the check passes
        run_fvqp(["run", path, "--output", tmp_path / tag / "out"])
        with h5py.File(tmp_path / tag / "out" / "usadel_nis_wire.h5") as f:
            out.append(np.concatenate([f["i_inj_A"][:], np.ravel(f["g_nl"][:])]))
    assert np.allclose(out[0], out[1], rtol=1e-4, atol=0)
    assert np.allclose(out[1], out[2], rtol=1e-6, atol=0)


def test_the_bath_still_sets_the_reach_where_it_enters(tmp_path):
    """An electrode without its own temperature takes the 0.5 K bath at its bias: refused
    at max = 4 (3 Δ0 + 10 k_B 0.5 K = 4.626 Δ0, as before). With e-ph collisions toward
    the bath, the bath's window counts at zero bias: a +-0.1 mV sweep needs 10 k_B 0.5 K
    = 1.626 Δ0 (was 0.377 + 1.626 = 2.003 Δ0), and max = 1.7 passes."""
    text = _refused(case_variant("usadel_nis_wire.toml", tmp_path, **_HOT,
                                 **{'temperature = "61 mK"\n': ""}))
    assert "energy.max: the grid ends at 4 Δ0 but the sweep's stop bias plus 10 kT of " \
           "its electrode (where its current and conductance sample -df/dE: a shorter " \
           "grid cuts them) reaches 4.626 Δ0." in text
    small = {**_HOT, '"-0.795 mV"': '"-0.1 mV"', 'stop = "0.795 mV"': 'stop = "0.1 mV"',
             "[sweep]": '[collisions]\ntau0 = "438 ns"\n\n[sweep]'}
    text = _refused(case_variant("usadel_nis_wire.toml", tmp_path, **small,
                                 **{"max = 4.0": "max = 1.0"}))
    assert "energy.max: the grid ends at 1 Δ0 but the bath's thermal window, 10 kT_bath " \
           "around zero energy (the superconducting reservoirs, the e-ph collisions and " \
           "the gap equation, Eq. 8, take f at the bath temperature: a shorter grid cuts " \
           "its quasiparticles) reaches 1.626 Δ0." in text
    load_case(case_variant("usadel_nis_wire.toml", tmp_path, **small,
                           **{"max = 4.0": "max = 1.7"}))
