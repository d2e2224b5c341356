"""``[output] figures = false`` in the models outside the mesh run template.

kinetics0d, bte_sphere, usadel and stochastic drew their PNGs in every run and refused
the key at ``fvqp check`` (a cluster user could not turn the figures off). They read it
now: with ``figures = false`` a run writes no PNG (and records none: summary ``figure``,
the output manifest), and every other output is the same as that of the run with its
figures (the default): HDF5 datasets and attributes bit for bit (the case digest too, so
``--resume`` may change the key), CSV/VTK files byte for byte, the summary's key numbers.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import fvqp
from conftest import CASES
from fvqp.io.manifest import MANIFEST_NAME

#: (shipped case, text edits making it small; the PNGs of the run with its figures)
VARIANTS = {
    "kinetics0d_transient": ("kinetics0d_al_relaxation.toml", {
        'spacing = "6 ueV"': 'spacing = "12 ueV"', 'e_max = "700 ueV"': 'e_max = "500 ueV"',
        'end = "200 us"': 'end = "1 us"',
        'times = ["1 ns", "10 ns", "100 ns", "1 us", "10 us", "100 us"]':
            'times = ["10 ns", "100 ns"]'},
        ["kinetics0d_al_relaxation_transient.png"]),
    "kinetics0d_sweep": ("kinetics0d_al_power_sweep.toml", {
        'power = ["1e-19 W", "3e-19 W", "1e-18 W", "3e-18 W", "1e-17 W"]':
            'power = ["1e-19 W", "1e-18 W"]'},
        ["kinetics0d_al_power_sweep_vs_power.png"]),
    "bte_sphere": ("bte_sphere_sn_packet.toml", {
        "cells = 40": "cells = 8", "ordinates = 8": "ordinates = 4",
        'spacing = "13.87 ueV"': 'spacing = "80 ueV"', 'e_max = "7.5 meV"': 'e_max = "6.7 meV"',
        'end = "5 ns"': 'end = "0.3 ns"',
        'times = ["1 ps", "10 ps", "100 ps", "1 ns"]': 'times = ["10 ps", "100 ps"]'},
        ["bte_sphere_sn_packet_relaxation.png"]),
    "usadel_state": ("usadel_open_wire.toml", {}, ["usadel_open_wire.png"]),
    "usadel_paper": ("usadel_fig13.toml", {
        "points = 51": "points = 5", "spacing = 0.02": "spacing = 0.05",
        "supercurrents_uA = [3.0, 6.0, 10.0]": "supercurrents_uA = [3.0]"},
        ["usadel_fig13.png"]),
    "usadel_fit": ("usadel_nis_wire_fit.toml", {}, ["usadel_nis_wire_fit.png"]),
    "stochastic": ("stochastic_relaxation.toml", {
        "a0 = 6e-6": "a0 = 1e-6", "box = 80.0": "box = 50.0", "n_start = 1000":
        "n_start = 140", "repeats = 8": "repeats = 3", "bins = 20": "bins = 6"},
        ["stochastic_relaxation_decay_rate.png", "stochastic_relaxation_series.png"]),
}

#: summary entries that time the run (wall and CPU seconds, memory), not results
_TIMINGS = {"wall_time_s", "peak_rss_MB_per_rank", "time_stepping_s", "time_units_s",
            "time_outputs_s", "guess_time_s", "time_s", "time_split_s"}


def _case(tmp_path, name: str, edits: dict, figures: bool | None):
    """The small variant in its own folder (``on``/``off``, same case name): the shipped
    case as it is (figures by default) or with ``[output] figures = false``."""
    text = (CASES / name).read_text().replace('file = "../meshes/',
                                              f'file = "{CASES.parent}/meshes/')
    if figures is not None:
        edits = {**edits, "[output]\n": f"[output]\nfigures = {str(figures).lower()}\n"}
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new)
    folder = tmp_path / ("on" if figures is None else "off")
    folder.mkdir()
    p = folder / name
    p.write_text(text)
    if "[fit]" in text:  # the fit's measured data, next to the case
        (folder / "data").symlink_to(CASES / "data")
    return p


def _h5(path, folder) -> dict:
    """Every dataset and attribute of an HDF5 file (path -> value), ``folder`` in the
    strings as DIR."""
    out = {}
    with h5py.File(path) as fh:
        def visit(name, obj):
            for k, v in obj.attrs.items():
                out[f"{name}@{k}"] = v.replace(str(folder), "DIR") if isinstance(v, str) \
                    else v
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        visit("/", fh)
        fh.visititems(visit)
    return out


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and bool(np.all(
        (a == b) | ((a != a) & (b != b)) if a.dtype.kind in "fc" else a == b))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_figures_false_writes_no_png_and_the_same_results(variant, tmp_path):
    name, edits, pngs = VARIANTS[variant]
    runs = {}
    for figures in (None, False):
        case = _case(tmp_path, name, edits, figures)
        out = case.parent / "out"
        res = fvqp.run_case(str(case), output_dir=str(out))
        assert res.status == 0, res.message
        files = {str(p.relative_to(out)) for p in out.rglob("*")
                 if p.is_file() and p.name not in (MANIFEST_NAME, ".fvqp.lock")}
        summary = json.loads((out / "summary.json").read_text())
        manifest = json.loads((out / MANIFEST_NAME).read_text())["files"]
        runs[figures] = out, files, summary, manifest
    (on, f_on, s_on, m_on), (off, f_off, s_off, m_off) = runs[None], runs[False]
    # the default draws its figures (and names them); figures = false none at all
    assert set(pngs) <= f_on and set(pngs) <= set(m_on)
    assert not [f for f in f_off | set(m_off) if f.endswith(".png")], f_off
    assert f_off == f_on - set(pngs)
    if "figure" in s_on and str(s_on["figure"]).endswith(".png"):
        assert s_on["figure"] == str(on / pngs[0]) and "figure" not in s_off
    # every other output the same: HDF5 bit for bit, text and VTK byte for byte
    for rel in sorted(f_off - {"summary.json"}):
        if rel.endswith(".h5"):
            a, b = _h5(on / rel, on.parent), _h5(off / rel, off.parent)
            assert a.keys() == b.keys(), rel
            diff = [k for k in a if not _same(a[k], b[k])]
            assert not diff, (rel, diff)
        else:
            text_on = (on / rel).read_bytes().replace(str(on).encode(), b"OUT")
            text_off = (off / rel).read_bytes().replace(str(off).encode(), b"OUT")
            assert text_on == text_off, rel
    # the summary: the same but for the figure (and the timings, the run's folder)
    assert _results(s_off, off.parent) == {k: v for k, v in _results(s_on, on.parent).items()
                                           if not (k == "figure" and v.endswith(".png"))}


def _results(entry, folder):
    """A summary without its timings (:data:`_TIMINGS`), ``folder`` in paths as DIR."""
    if isinstance(entry, dict):
        return {k: _results(v, folder) for k, v in entry.items() if k not in _TIMINGS}
    if isinstance(entry, list):
        return [_results(v, folder) for v in entry]
    return entry.replace(str(folder), "DIR") if isinstance(entry, str) else entry


def test_a_resumed_run_may_turn_the_figures_off(tmp_path):
    """``[output] figures`` is left out of the case digest (``digest_exempt``, as the mesh
    models' ``EXTENDABLE``): a kinetics0d transient stopped after 20 steps with its
    figures resumes with ``figures = false`` from its checkpoint to the end."""
    name, edits, _ = VARIANTS["kinetics0d_transient"]
    out = tmp_path / "out"
    first = fvqp.run_case(str(_case(tmp_path, name, edits, None)), output_dir=str(out),
                          max_steps=20)
    assert first.status == 1 and first.summary["steps"] == 20
    res = fvqp.run_case(str(_case(tmp_path, name, edits, False)), output_dir=str(out),
                        resume=True)
    assert res.status == 0 and res.summary["steps"] > 20, res.message
    assert res.summary["keys"]["t_end_s"] == pytest.approx(1e-6, rel=1e-12)
    assert "figure" not in res.summary


#: the figures fvqp plot now redraws from the run's HDF5 (and series CSV): kinetics0d's,
#: bte_sphere's relaxation figure, a Usadel state's (one state; a bias sweep with its
#: nonlocal conductance), a Usadel fit's and the paper figures (Figs. 13 and 11)
REDRAWN = {
    "bte_sphere": (*VARIANTS["bte_sphere"][:2], "bte_sphere_sn_packet_relaxation.png"),
    "usadel_state": ("usadel_open_wire.toml", {}, "usadel_open_wire.png"),
    "usadel_fit": ("usadel_nis_wire_fit.toml", {}, "usadel_nis_wire_fit.png"),
    "usadel_paper": (*VARIANTS["usadel_paper"][:2], "usadel_fig13.png"),
    "usadel_paper_fig11": ("usadel_fig11.toml", {"points = 51": "points = 2",
                                                 "cells = 85": "cells = 30",
                                                 "spacing = 0.025": "spacing = 0.05"},
                           "usadel_fig11.png"),
    "usadel_sweep": ("usadel_nis_wire.toml", {"points = 31": "points = 3",
                                              "spacing = 0.01": "spacing = 0.02"},
                     "usadel_nis_wire.png"),
    "kinetics0d_steady": ("kinetics0d_al_weak_drive.toml", {},
                          "kinetics0d_al_weak_drive_steady.png"),
    "kinetics0d_transient": (*VARIANTS["kinetics0d_transient"][:2],
                             "kinetics0d_al_relaxation_transient.png"),
    "kinetics0d_sweep": (*VARIANTS["kinetics0d_sweep"][:2],
                         "kinetics0d_al_power_sweep_vs_power.png"),
}


@pytest.mark.parametrize("variant", sorted(REDRAWN))
def test_fvqp_plot_redraws_the_runs_figure(variant, tmp_path):
    """A kinetics0d, bte_sphere or Usadel run with ``figures = false`` and ``fvqp plot``
    afterwards: the PNG is the one the run with its figures wrote, byte for byte
    (kinetics0d: the f(E)/n(Omega) panels with the snapshots' SI times, a transient's
    N_qp(t) from its series CSV, a sweep's four panels; bte_sphere: energy balance,
    relaxation at the centre, spreading; Usadel: gap, mu_Q* and current or g_nl along
    the wire, a fit's g_ss and phase gradients, the paper's Figs. 13 and 11; both drawn
    from the run's files by the same functions). Before, ``fvqp plot`` found nothing to
    draw for such a run ("nothing to plot"; bte_sphere's and Usadel's VTK only)."""
    from fvqp.cli import main

    name, edits, png = REDRAWN[variant]
    outs = {}
    for figures in (None, False):
        case = _case(tmp_path, name, edits, figures)
        outs[figures] = case.parent / "out"
        res = fvqp.run_case(str(case), output_dir=str(outs[figures]))
        assert res.status == 0, res.message
    assert (outs[None] / png).is_file() and not (outs[False] / png).exists()
    redrawn = tmp_path / "redrawn"
    assert main(["-q", "plot", str(outs[False]), "--output", str(redrawn)]) == 0
    assert (redrawn / png).read_bytes() == (outs[None] / png).read_bytes()
    # and into the result directory itself, as a run with its figures would have
    assert main(["-q", "plot", str(outs[False])]) == 0
    assert (outs[False] / png).read_bytes() == (outs[None] / png).read_bytes()
