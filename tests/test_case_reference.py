"""docs/case_reference.md's table of material constants per region agrees with the models'
case schemas (which model takes which key) and with the materials database (where a run
needs the number from the case), and the shared schema texts name those materials."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT
from fvqp.case.schema import ListOf, Section, TableOf, Variant
from fvqp.materials import get_material, list_materials
from fvqp.models import get_model_spec
from fvqp.models.base.schema import MATERIAL_OVERRIDES, material_overrides

DOC = ROOT / "docs" / "case_reference.md"


def _table() -> tuple[list[str], dict[str, list[str]]]:
    """Header and rows (key -> cells) of the material-constants table."""
    lines = DOC.read_text().splitlines()
    i = next(k for k, s in enumerate(lines) if s.startswith("| key | unit (e.g.) | constant"))
    head = [c.strip() for c in lines[i].strip("|").split("|")]
    rows = {}
    for s in lines[i + 2:]:
        if not s.startswith("|"):
            break
        cells = [c.strip() for c in s.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells
    return head, rows


def _material_tables(node, out: list) -> list:
    """The tables of a schema that hold a ``material`` key (region, film, sphere, study)."""
    if isinstance(node, Section):
        if "material" in node.fields:
            out.append(node.fields)
        for v in node.fields.values():
            _material_tables(v, out)
    elif isinstance(node, (TableOf, ListOf)):
        _material_tables(node.schema, out)
    elif isinstance(node, Variant):
        for v in node.options.values():
            _material_tables(v, out)
    return out


def _takes(model: str) -> set[str]:
    spec = get_model_spec(model)
    out: list = []
    if spec.region_schema is not None:
        _material_tables(spec.region_schema, out)
    for v in (spec.sections or {}).values():
        _material_tables(v, out)
    return {k for f in out for k in f if k in MATERIAL_OVERRIDES}


def _without(field: str) -> list[str]:
    return [n for n in list_materials() if getattr(get_material(n), field, None) is None]


def test_table_ticks_are_the_keys_each_model_takes():
    """Every ✓ of the table is a key of that model's material table and every key the
    model takes has its ✓ (the table once listed 4 of the 7 models that take them)."""
    head, rows = _table()
    models = head[3:-1]
    assert set(models) >= {"heat", "transport", "kinetics0d", "bte", "bte_sphere",
                           "stochastic", "usadel"}
    assert set(rows) == set(MATERIAL_OVERRIDES) - {"sound_velocity_T"}
    for j, model in enumerate(models):
        ticked = {k for k, cells in rows.items() if cells[3 + j] == "✓"}
        assert ticked == _takes(model) - {"sound_velocity_T"}, model


@pytest.mark.parametrize("key", sorted(set(MATERIAL_OVERRIDES) - {"sound_velocity_T"}))
def test_needed_hints_are_the_database_materials_without_a_value(key):
    """The last column names the database materials without the constant, for the
    constants a run needs (dynes_gamma and coupling have defaults: no hint), and the
    shared schema text names the same materials (so `fvqp check` help shows them)."""
    _, rows = _table()
    needed = key not in ("dynes_gamma", "coupling")
    field = "gap_ratio" if key == "delta0" else key
    missing = _without(field) if needed else []
    doc = [n.strip() for n in rows[key][-1].split(",") if n.strip()]
    assert doc == missing
    text = MATERIAL_OVERRIDES[key].doc
    if missing:
        assert f"needed where the database has none: {', '.join(missing)}" in text
    else:
        assert "needed where" not in text


def test_model_hints_are_appended_to_the_shared_text():
    """material_overrides(hints=) keeps a model's own hint after the shared text (usadel's
    coupling: the cut-off of Eq. 8 instead of selfconsistency.omega_d)."""
    f = material_overrides("coupling", hints={"coupling": "instead of omega_d"})["coupling"]
    assert f.doc == MATERIAL_OVERRIDES["coupling"].doc + "; here: instead of omega_d"
    usadel = get_model_spec("usadel").region_schema.fields
    assert re.search(r"here: .*selfconsistency\.omega_d", usadel["coupling"].doc)
    with pytest.raises(KeyError):
        material_overrides("Tc", hints={"tau_0": "x"})
