"""The benchmarks' variants of the shipped cases still edit those cases, into valid cases.

A benchmark that edits a shipped case by text replacement measures the shipped
configuration, silently, once the case no longer holds the replaced text, or stops when
the edited case is refused (found: since the case took 13.87 ueV bins,
``benchmarks/bte_sphere.py --quick`` and ``--fine`` stopped on their first assertion, and
``--quick``'s e_max had been below its packet's top since the case checks it). Every
variant here is applied to today's case file, must change what it claims to change and
must load (the case loader's checks, mesh included).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tomllib
from pathlib import Path

import pytest

from fvqp.api import build_case
from fvqp.case.loader import load_case

ROOT = Path(__file__).resolve().parents[1]


def _benchmark(name: str):
    """The module ``benchmarks/<name>.py`` (its ``main`` not run)."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", ROOT / "benchmarks"
                                                  / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return mod


@pytest.mark.parametrize("variant", ["QUICK", "FINE"])
def test_bte_sphere_variants_edit_the_case(variant):
    mod = _benchmark("bte_sphere")
    text = mod.CASE.read_text()
    subs = getattr(mod, variant)
    for old, new in subs.items():
        assert old in text, f"{variant}: {old!r} not in {mod.CASE.name}"
        text = text.replace(old, new)
    data = tomllib.loads(text)
    shipped = tomllib.loads(mod.CASE.read_text())
    assert data != shipped
    cells = {"QUICK": 16, "FINE": 120}[variant]
    assert f"cells = {cells}" in text
    build_case(text, base_dir=mod.CASE.parent, name="bench")  # as the benchmark's worker


@pytest.mark.parametrize("films", ["bte", "transport"])
@pytest.mark.parametrize("mesh", ["small", "layout"])
def test_chip_deposit_case_takes_the_arguments(films, mesh, tmp_path):
    mod = _benchmark("chip_deposit")
    args = argparse.Namespace(films=films, mesh=mesh, polar=3, azimuth=6, spacing=0.03,
                              steps=4, end=None, rtol=None)
    text = mod._case_text(args)
    (tmp_path / "chip.toml").write_text(text)
    load_case(tmp_path / "chip.toml")
    data = tomllib.loads(text)
    flat = repr(data)
    assert ("chip_small/chip_small.msh" if mesh == "small" else "chip_layout/chip.msh") in flat
    assert "'polar': 3" in flat and "'azimuth': 6" in flat
    assert "0.03 meV" in flat and "0.6 meV" not in flat
    assert "20 ns" in flat and "300 ns" not in flat and "'adaptive'" not in flat
    args.end, args.rtol = 1000, 0.1     # --microsecond: to 1 us with adaptive steps
    text = mod._case_text(args)
    (tmp_path / "chip.toml").write_text(text)
    t = load_case(tmp_path / "chip.toml").data["time"]
    assert t["adaptive"] is True and t["rtol"] == 0.1 and t["end"] == pytest.approx(1e-6)
    if films == "bte":          # --coarse: the films' coarse level of each run
        args.qp_coarse = "inexact"
        (tmp_path / "chip.toml").write_text(mod._case_text(args))
        assert load_case(tmp_path / "chip.toml").data["qp"]["coarse"] == "inexact"


def test_a_case_edit_that_finds_nothing_is_refused():
    common = _benchmark("_common")
    with pytest.raises(AssertionError, match="polar = 5"):
        common.case_variant_text("bte_chip_deposit.toml", None, [("polar = 5", "polar = 3")])
    text = common.case_variant_text("bte_chip_deposit.toml", None, [])
    assert f'file = "{ROOT}/meshes/chip_layout/chip.msh"' in text  # the case's own, absolute


def test_heap_and_collision_variants_edit_the_cases(tmp_path):
    heap = _benchmark("heap")
    for name, subs in heap.CASES.items():
        text = (ROOT / "cases" / f"{name}.toml").read_text()
        for old in subs:
            assert old in text, f"benchmarks/heap.py: {old!r} not in {name}.toml"
        load_case(heap._case(tmp_path, name, subs))
    coll = _benchmark("bte_collisions")
    for name, (fname, subs) in coll.VARIANTS.items():
        text = (ROOT / "cases" / fname).read_text()
        for old in subs:
            assert old in text, f"benchmarks/bte_collisions.py {name}: {old!r} not in {fname}"
        load_case(coll._case(name, tmp_path))


def test_usadel_map_case_edits_the_nis_wire():
    """``benchmarks/usadel_mpi.py``'s supercurrent map (c) edits ``usadel_nis_wire.toml``:
    every edit of ``MAP_CASE`` occurs (the benchmark applied them unchecked before), the
    variant has 11 biases and two supercurrents, and loads."""
    mod = _benchmark("usadel_mpi")
    text = mod.map_case_text()
    data = tomllib.loads(text)
    assert data["sweep"]["points"] == 11 and len(data["sweep"]["supercurrents"]) == 2
    assert data["energy"]["spacing"] == 0.02
    build_case(text, base_dir=ROOT / "cases", name="usadel_map")
    # a case that no longer holds an edited text is refused, not run as shipped
    mod.MAP_CASE = (*mod.MAP_CASE, ("no such line", "x"))
    with pytest.raises(AssertionError, match="no such line"):
        mod.map_case_text()
