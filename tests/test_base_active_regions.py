"""``fvqp.models.base.schema.active_regions``: the check loop over active regions that
``bte`` and ``phonon`` write out each — the same errors (key, message, fix) for a region
without its material/medium and with an unknown one, and the known regions yielded."""

from __future__ import annotations

from fvqp.materials import UnknownMaterialError, UnknownMediumError, get_material, get_medium
from fvqp.models.base.schema import active_regions


class _Errors:
    def __init__(self):
        self.items: list[tuple] = []

    def add(self, key, message, fix=""):
        self.items.append((key, message, fix))


def _model_errors(model, data, key):
    from fvqp.models import get_model_spec

    err = _Errors()
    get_model_spec(model).check(data, err)
    return [e for e in err.items if e[0].startswith("regions.") and e[0].endswith(key)]


def test_bte_material_errors_are_the_generators():
    data = {"regions": {"film": {"material": "Al"}, "bare": {}, "typo": {"material": "Alu"},
                        "off": {"active": False}},
            "bath": {"temperature": 0.1}, "time": {"steady": True}}
    err = _Errors()
    got = [(n, m.name) for n, _, m in active_regions(
        data, err, "material", get_material, UnknownMaterialError, needed="a material",
        example='material = "Al" (see `fvqp materials`)')]
    assert got == [("film", "Al")]
    assert err.items == _model_errors("bte", data, ".material")
    assert [e[0] for e in err.items] == ["regions.bare.material", "regions.typo.material"]
    assert "Alu" in err.items[1][1] and "Al, Sn" in err.items[1][1]


def test_phonon_medium_errors_are_the_generators():
    data = {"regions": {"sub": {"medium": "Si"}, "bare": {}, "typo": {"medium": "Silicon"},
                        "off": {"active": False}},
            "time": {"steady": True}}
    err = _Errors()
    got = [n for n, _, _ in active_regions(
        data, err, "medium", get_medium, UnknownMediumError, needed="a phonon medium",
        example='medium = "Si" (see fvqp/materials/substrates.toml)',
        unknown_fix="choose one of the listed media.")]
    assert got == ["sub"]
    assert err.items == _model_errors("phonon", data, ".medium")
    assert err.items[1][2] == "choose one of the listed media."


def test_transport_trap_without_material_is_optional():
    """transport: a trap may go without material (it takes the reference's N0 and D): no
    error and not yielded; a bare region that is no trap is the shared error."""
    data = {"regions": {"film": {"material": "Al"}, "trap": {"trap": True}, "bare": {},
                        "typo": {"material": "Alu", "trap": True}},
            "bath": {"temperature": 0.1}, "time": {"steady": True}}
    err = _Errors()
    got = [n for n, _, _ in active_regions(
        data, err, "material", get_material, UnknownMaterialError, needed="a material",
        example='material = "Al" (or trap = true with a normal metal)',
        optional=lambda reg: reg.get("trap"))]
    assert got == ["film"]
    assert [e[0] for e in err.items] == ["regions.bare.material", "regions.typo.material"]
    assert err.items == _model_errors("transport", data, ".material")
