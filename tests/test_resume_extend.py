"""``fvqp run --resume`` extends ``[time] end`` of a finished run for every model whose
loop is the shared time loop (issue 20 §2): the run template identifies checkpoints by
the case without ``[time] end`` (:func:`fvqp.models.base.timeloop.resumable`), not a
per-model ``digest_exempt``. For transport, bte (with collisions) and bte_sphere: a run
to t1, resumed with end t2 > t1, gives the fields and balances of one run to t2 (fixed
steps: the same step sequence, so the same state to round-off)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from conftest import CASES, run_fvqp


def _variant(name: str, tmp_path, end: str, **repl):
    """``cases/<name>`` with absolute mesh paths, ``end = END`` and the replacements."""
    text = (CASES / name).read_text()
    text = text.replace('file = "../meshes/', f'file = "{CASES.parent}/meshes/')
    for old, new in repl.items():
        assert old in text, old
        text = text.replace(old, new)
    text, n = _set_end(text, end)
    assert n == 1
    p = tmp_path / end.replace(" ", "") / name  # the same case name: one output series
    p.parent.mkdir(exist_ok=True)
    p.write_text(text)
    return p


def _set_end(text: str, end: str) -> tuple[str, int]:
    import re

    return re.subn(r'(?m)^end = "[^"]*"', f'end = "{end}"', text)


def _last(out, name, fields):
    """The last snapshot's cell fields of ``<out>/<name>.pvd``, cells in centre order."""
    import pyvista as pv

    reader = pv.get_reader(str(out / f"{name}.pvd"))
    reader.set_active_time_value(reader.time_values[-1])
    m = reader.read()[0]
    o = np.lexsort(np.asarray(m.cell_centers().points).T[::-1])
    return reader.time_values, {f: np.asarray(m.cell_data[f])[o] for f in fields}


def _summary(out):
    return json.loads((out / "summary.json").read_text())


def _extend(case_t1, case_t2, tmp_path):
    """One run to t2 (``a``); a run to t1 resumed with end t2 (``b``)."""
    a, b = tmp_path / "a", tmp_path / "b"
    run_fvqp(["run", case_t2, "--output", a])
    run_fvqp(["run", case_t1, "--output", b])
    first = _summary(b)
    assert first["status"] == 0, first["message"]  # a finished run ...
    run_fvqp(["run", case_t2, "--output", b, "--resume"])  # ... extended
    return a, b, first


def _close(x, y, rel):
    """max |x - y| relative to max |x|."""
    return float(np.max(np.abs(x - y))) <= rel * float(np.max(np.abs(x)))


def test_transport_resume_extends_the_end(tmp_path):
    """The Ta absorber's 6 keV burst (centre 1 ns): 1.0 ns, resumed to 1.6 ns = one run
    to 1.6 ns (fixed 50 ps BDF2 steps): fields and energy balance to 1e-10 (measured
    1.2e-14)."""
    name = "transport_absorber3d"
    fixed = {'dt_initial = "10 ps"': 'dt_initial = "50 ps"\nadaptive = false',
             'times = ["2 ns", "10 ns", "100 ns", "1 us"]': "times = []"}
    a, b, first = _extend(_variant(f"{name}.toml", tmp_path, "1.0 ns", **fixed),
                          _variant(f"{name}.toml", tmp_path, "1.6 ns", **fixed), tmp_path)
    assert first["t_end_s"] == pytest.approx(1.0e-9, rel=1e-12, abs=0)
    sa, sb = _summary(a), _summary(b)
    assert sb["status"] == 0 and sb["t_end_s"] == pytest.approx(1.6e-9, rel=1e-12, abs=0)
    assert sb["steps"] == sa["steps"] == 32
    fields = ("qp_excess", "phonon_energy_density")
    ta, fa = _last(a, name, fields)
    tb, fb = _last(b, name, fields)
    assert ta[-1] == tb[-1] == pytest.approx(1.6e-9, rel=1e-12, abs=0)
    assert any(t == pytest.approx(1.0e-9, rel=1e-12, abs=0) for t in tb)  # first leg kept
    for f in fields:
        assert _close(fa[f], fb[f], 1e-10), f
    for k in ("final", "deposited", "escape"):
        assert sb["energy_J"][k] == pytest.approx(sa["energy_J"][k], rel=1e-10, abs=0), k
    assert abs(sb["energy_J"]["imbalance"]) < 1e-9 * sb["energy_J"]["deposited"]


def test_bte_collisions_resume_extends_the_end(tmp_path):
    """bte_film_relaxation (collisions, local phonons, pulse at 100 ps): 0.2 ns, resumed
    to 0.4 ns = one run to 0.4 ns (fixed 20 ps BDF2 steps): fields, QP number and energy
    balances to 1e-10 (measured: phonon energy 4.5e-13, QP fields and number 1.6e-14)."""
    name = "bte_film_relaxation"
    a, b, first = _extend(_variant(f"{name}.toml", tmp_path, "0.2 ns"),
                          _variant(f"{name}.toml", tmp_path, "0.4 ns"), tmp_path)
    assert first["steps"] == 10
    sa, sb = _summary(a), _summary(b)
    assert sb["status"] == 0 and sb["steps"] == sa["steps"] == 20
    fields = ("qp_density", "qp_energy_density", "qp_current_x", "phonon_energy_density")
    ta, fa = _last(a, name, fields)
    tb, fb = _last(b, name, fields)
    assert ta[-1] == tb[-1] == pytest.approx(0.4e-9, rel=1e-12, abs=0)
    for f in fields:
        assert _close(fa[f], fb[f], 1e-10), f
    assert sb["qp_number"]["final"] == pytest.approx(sa["qp_number"]["final"], rel=1e-10,
                                                     abs=0)
    ea, eb = sa["energy_J"], sb["energy_J"]
    assert eb["final_ph"] == pytest.approx(ea["final_ph"], rel=1e-10, abs=0)
    assert eb["inflows"]["sources"] == pytest.approx(ea["inflows"]["sources"], rel=1e-10,
                                                       abs=0)
    assert abs(eb["imbalance"]) < 1e-9 * eb["inflows"]["sources"]


def test_bte_sphere_resume_extends_the_end(tmp_path):
    """The small Sn sphere packet: 50 ps, resumed to 100 ps = one run to 100 ps (fixed
    5 ps steps): the last snapshot of f and the energies to 1e-10 (measured 5.4e-16,
    2.6e-15)."""
    small = {"cells = 40": "cells = 8", "ordinates = 8": "ordinates = 4",
             'spacing = "13.87 ueV"': 'spacing = "80 ueV"', 'e_max = "7.5 meV"':
             'e_max = "6.7 meV"', 'dt_initial = "0.01 ps"':
             'dt_initial = "5 ps"\nadaptive = false',
             'times = ["1 ps", "10 ps", "100 ps", "1 ns"]': "times = []"}
    a, b, first = _extend(_variant("bte_sphere_sn_packet.toml", tmp_path, "50 ps", **small),
                          _variant("bte_sphere_sn_packet.toml", tmp_path, "100 ps", **small),
                          tmp_path)
    assert first["steps"] == 10
    sa, sb = _summary(a), _summary(b)
    assert sb["status"] == 0 and sb["steps"] == sa["steps"] == 20
    for k in ("escaped", "left_excess_qp", "left_excess_ph"):
        assert sb["energy_J"][k] == pytest.approx(sa["energy_J"][k], rel=1e-10, abs=0), k
    with h5py.File(a / "bte_sphere.h5") as fa, h5py.File(b / "bte_sphere.h5") as fb:
        assert fa["snapshots/t"][-1] == fb["snapshots/t"][-1] == pytest.approx(
            1e-10, rel=1e-12, abs=0)
        x, y = fa["snapshots/f"][-1], fb["snapshots/f"][-1]
    f_bath = np.min(x)  # the thermal background; compare the packet above it
    assert _close(x - f_bath, y - f_bath, 1e-10)


def test_an_end_before_the_checkpoint_is_refused_for_transport_too(tmp_path):
    """The rule is the time loop's: a transport run to 1.0 ns resumed with end 0.5 ns is
    refused with the fix (exit 2), as heat's and phonon's."""
    name = "transport_absorber3d.toml"
    fixed = {'dt_initial = "10 ps"': 'dt_initial = "100 ps"\nadaptive = false',
             'times = ["2 ns", "10 ns", "100 ns", "1 us"]': "times = []"}
    run_fvqp(["run", _variant(name, tmp_path, "1.0 ns", **fixed), "--output", tmp_path / "b"])
    back = run_fvqp(["run", _variant(name, tmp_path, "0.5 ns", **fixed), "--output",
                     tmp_path / "b", "--resume"], check=False)
    assert back.returncode == 2
    assert "after [time] end = 5.000000e-10 s. Fix: give an end at or after" in back.stderr
