"""Bad case files fail up front with messages naming the key, the file and the fix."""

import pytest

from conftest import CASES, heat_film_trap, run_fvqp
from fvqp.case import CaseError, load_case

GOOD = heat_film_trap("300 mK", "100 nm", 'type = "heat_flux"\nflux = "1e-3 W/m^2"') + """[time]
end = "1 us"
"""


def errors_of(write_case, text):
    with pytest.raises(CaseError) as info:
        load_case(write_case(text))
    return info.value.errors


def test_good_case_loads_with_si_values(write_case):
    case = load_case(write_case(GOOD))
    assert case.data["bath"]["temperature"] == pytest.approx(0.3)
    assert case.data["regions"]["trap"]["Tc"] == pytest.approx(0.9)
    assert case.data["regions"]["film"]["thickness"] == pytest.approx(1e-7, rel=1e-6, abs=0)
    assert case.data["time"]["end"] == pytest.approx(1e-6, rel=1e-6, abs=0)
    assert case.data["output"]["every"] == 10  # defaults filled in


def test_unknown_key_suggests_the_right_one(write_case):
    errs = errors_of(write_case, GOOD.replace('[time]\nend', '[time]\nedn'))
    assert any("time.edn" in e and "did you mean 'end'" in e and "heat_test.toml" in e
               for e in errs)


def test_wrong_type_and_wrong_unit(write_case):
    errs = errors_of(write_case, GOOD.replace('temperature = "300 mK"', 'temperature = "300 mm"')
                     .replace('every', 'x'))
    assert any("bath.temperature" in e and "is a length" in e and "Fix:" in e for e in errs)
    errs = errors_of(write_case, GOOD + '[output]\nevery = "ten"\n')
    assert any("output.every" in e and "expected an integer" in e for e in errs)


def test_negative_temperature(write_case):
    errs = errors_of(write_case, GOOD.replace('"300 mK"', '"-300 mK"'))
    assert any("bath.temperature" in e and "must be positive" in e for e in errs)


def test_region_not_in_mesh_lists_the_mesh_regions(write_case):
    errs = errors_of(write_case, GOOD.replace("[regions.trap]", "[regions.trapp]"))
    assert any("regions.trapp" in e and "film, trap" in e for e in errs)
    assert any("mesh region 'trap' has no [regions.trap]" in e for e in errs)


def test_missing_boundary_condition(write_case):
    errs = errors_of(write_case, GOOD.replace('[boundaries.trap_end]\ntype = "bath"\n', ""))
    assert any("boundary 'trap_end'" in e and "no condition" in e and "Fix:" in e for e in errs)


def test_unreadable_mesh(write_case):
    errs = errors_of(write_case, GOOD.replace("film_trap/film_trap_coarse.msh", "nowhere.msh"))
    assert any("mesh.file" in e and "does not exist" in e for e in errs)


def test_unknown_material_and_model(write_case):
    errs = errors_of(write_case, GOOD.replace('material = "Al"\nthickness = "100 nm"\nTc',
                                              'material = "Unobtainium"\nthickness = "100 nm"\nTc'))
    assert any("regions.trap.material" in e and "Al" in e for e in errs)
    errs = errors_of(write_case, GOOD.replace('model = "heat"', 'model = "hea"'))
    assert any("'hea' is not a model" in e and "'heat'" in e for e in errs)


def test_thickness_required_for_2d_meshes(write_case):
    errs = errors_of(write_case, GOOD.replace('thickness = "100 nm"\nTc', 'Tc'))
    assert any("regions.trap.thickness" in e and "2D mesh" in e for e in errs)


def test_all_problems_reported_at_once(write_case):
    bad = GOOD.replace('"300 mK"', '"-1 K"').replace("[time]\nend", "[time]\nedn")
    assert len(errors_of(write_case, bad)) >= 2


def test_invalid_toml(write_case):
    errs = errors_of(write_case, GOOD + "\n[[[\n")
    assert "not valid TOML" in errs[0]


def test_cli_check_exit_codes(write_case):
    ok = run_fvqp(["check", write_case(GOOD)])
    assert "OK" in ok.stdout
    bad = run_fvqp(["check", write_case(GOOD.replace('"300 mK"', '"-1 K"'))], check=False)
    assert bad.returncode == 2 and "must be positive" in bad.stderr


@pytest.mark.parametrize("case", sorted(CASES.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_cases_validate(case):
    load_case(case)


def test_temperatures_outside_the_model_regime_are_refused(write_case):
    """The heat model needs T >= 0.05 Tc: Al (Tc 1.175 K) at 50 mK is 0.043 Tc."""
    errs = errors_of(write_case, GOOD.replace('"300 mK"', '"50 mK"'))
    assert any("bath.temperature" in e and "0.043 Tc of Al" in e and "Fix: raise" in e
               for e in errs)


def test_an_unreadable_end_is_one_error_not_two(write_case):
    """``end = "300 Ps"`` (an unknown unit) was reported twice: the unit, and then
    "time.end: required for a time-dependent run" as if the key were missing."""
    errs = errors_of(write_case, GOOD.replace('end = "', 'end = "3 Ps" # "'))
    assert any("time.end" in e and "unknown unit 'Ps'" in e for e in errs)
    assert not any("required for a time-dependent run" in e for e in errs)
    errs = errors_of(write_case, GOOD.replace('[time]\nend = ', '[time]\nen_d = '))
    assert any("time.end: required for a time-dependent run" in e for e in errs)
