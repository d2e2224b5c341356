"""Case files that cannot run are refused by `fvqp check` (and `load_case`) before any
solve, with the key, the file and the fix (issue 19 items 10-12): unreadable encodings,
values without units, ordinates, gaps, sources, geometry keys and times out of order."""

from __future__ import annotations

import pytest

from conftest import CASES
from fvqp.case import CaseError, load_case
from fvqp.cli import main as fvqp_main
from fvqp.units import parse_quantity


def variant(tmp_path, name: str, *repl: tuple[str, str], append: str = "") -> str:
    """``cases/<name>`` in ``tmp_path`` with absolute mesh paths, each ``(old, new)``
    replacement applied (``old`` must occur) and ``append`` added at the end."""
    text = (CASES / name).read_text().replace('file = "../meshes/',
                                              f'file = "{CASES.parent}/meshes/')
    for old, new in repl:
        assert old in text, old
        text = text.replace(old, new)
    p = tmp_path / name
    p.write_text(text + append)
    return str(p)


def refused(path: str, *needles: str, capsys) -> list[str]:
    """The case is refused by load_case and by `fvqp check` (exit 2); one problem names
    the file and contains every needle (key, fix ...), through both routes."""
    import os

    with pytest.raises(CaseError) as info:
        load_case(path)
    name = os.path.basename(path)
    hits = [e for e in info.value.errors if name in e and all(n in e for n in needles)]
    assert hits, info.value.errors
    capsys.readouterr()
    assert fvqp_main(["check", path]) == 2
    err = capsys.readouterr().err
    assert name in err and all(n in err for n in needles), err
    return hits


def accepted(path: str, capsys) -> None:
    load_case(path)
    assert fvqp_main(["check", path]) == 0
    capsys.readouterr()


# ---- item 10: encodings and ordinates ------------------------------------------------


def test_latin1_case_file_is_refused_with_line_and_fix(tmp_path, capsys):
    text = (CASES / "heat_film_trap.toml").read_text()
    p = tmp_path / "heat_latin1.toml"
    p.write_bytes(text.replace("title = ", 'title = "Résumé" #', 1).encode("latin-1"))
    refused(str(p), "not UTF-8", "line ", "Fix: save it as UTF-8", capsys=capsys)


def test_binary_case_file_is_refused(tmp_path, capsys):
    p = tmp_path / "heat_binary.toml"
    p.write_bytes(bytes(range(256)) * 4)
    refused(str(p), "binary file", "Fix:", capsys=capsys)


def test_utf8_with_byte_order_mark_loads(tmp_path, capsys):
    src = variant(tmp_path, "heat_film_trap.toml")
    p = tmp_path / "heat_bom.toml"
    p.write_bytes(b"\xef\xbb\xbf" + open(src, "rb").read())
    accepted(str(p), capsys)


def test_bte_output_ordinate_out_of_range_2d(tmp_path, capsys):
    """16 in-plane directions are numbered 0..15: ordinate 40 does not exist (it used to
    raise an IndexError after the whole solve)."""
    p = variant(tmp_path, "bte_film_pulse.toml",
                ("directions = 16", "directions = 16\noutput = [0, 40]"))
    refused(p, "angles.output[1]", "0 to 15", "Fix:", capsys=capsys)
    ok = variant(tmp_path, "bte_film_pulse.toml",
                 ("directions = 16", "directions = 16\noutput = [0, 15]"))
    accepted(ok, capsys)


def test_bte_output_ordinate_out_of_range_3d(tmp_path, capsys):
    """On a 3D mesh the quadrature has polar x azimuth ordinates (default 4 x 8 = 32)."""
    # a 3D bte case on a cube: one material in every region, specular walls
    case = tmp_path / "bte_cube.toml"
    case.write_text(f"""
model = "bte"
[mesh]
file = "{CASES.parent}/meshes/mms/cube_4.msh"
[bath]
temperature = "100 mK"
[angles]
output = [31, 32]
[time]
steady = true
""")
    from fvqp.mesh import read_mesh

    raw = read_mesh(f"{CASES.parent}/meshes/mms/cube_4.msh")
    text = case.read_text()
    for r in raw.region_names:
        text += f'[regions.{r}]\nmaterial = "Al"\n'
    for b in sorted(raw.facet_groups):
        text += f'[boundaries.{b}]\ntype = "specular"\n'
    case.write_text(text)
    hits = refused(str(case), "angles.output[1]", "0 to 31", capsys=capsys)
    assert not any("angles.output[0]" in e for e in hits)


# ---- item 11: units ------------------------------------------------------------------


def test_bare_numbers_stay_valid_where_the_schema_is_dimensionless(tmp_path, capsys):
    """transport's [time] atol is an occupation, rtol a ratio: plain numbers."""
    p = variant(tmp_path, "transport_film_trap.toml",
                ("[time]\nsteady = true", '[time]\nend = "1 ns"\ndt_initial = "1 ps"\n'
                 "rtol = 1e-3\natol = 1e-8"))
    accepted(p, capsys)


def test_parse_quantity_default_still_reads_plain_numbers_as_si():
    assert parse_quantity("250", "temperature") == 250.0
    assert parse_quantity(0.25, "time") == 0.25
    assert parse_quantity(1e-8, "dimensionless", require_unit=True) == 1e-8


# ---- item 12: physics and orderings ----------------------------------------------------


def test_heat_bath_above_tc_is_refused(tmp_path, capsys):
    """The trap's film Tc is 0.9 K: a 1 K bath is above it (Al's own 1.175 K is not)."""
    p = variant(tmp_path, "heat_film_trap.toml",
                ('temperature = "250 mK"', 'temperature = "1 K"'))
    hits = refused(p, "bath.temperature", "above Tc = 0.9 K", "region 'trap'",
                   "Fix: give a temperature below 0.9 K", capsys=capsys)
    assert not any("region 'film'" in e for e in hits)


def test_time_steps_out_of_order_are_refused(tmp_path, capsys):
    p = variant(tmp_path, "heat_film_trap.toml",
                ('dt_initial = "0.1 ns"', 'dt_initial = "0.1 ns"\ndt_min = "1 ns"\n'
                 'dt_max = "0.5 ns"'))
    errs = refused(p, "time.dt_min", "above dt_max", capsys=capsys)
    assert errs
    with pytest.raises(CaseError) as info:
        load_case(p)
    assert any("time.dt_initial" in e and "below dt_min" in e for e in info.value.errors)


def test_a_shortened_run_is_not_refused(tmp_path, capsys):
    """Pulses, output times and a first step beyond a shortened end are allowed."""
    p = variant(tmp_path, "heat_absorber3d.toml", ('end = "2 us"', 'end = "1 ns"'),
                ('dt_initial = "10 ps"', 'dt_initial = "2 ns"'))
    accepted(p, capsys)


@pytest.mark.parametrize("key", ["every", "checkpoint_every"])
def test_output_intervals_must_be_positive(tmp_path, capsys, key):
    p = variant(tmp_path, "heat_absorber3d.toml", (f"\n{key} = ", f"\n{key} = 0 #"))
    refused(p, f"output.{key}", "must be positive", capsys=capsys)


@pytest.mark.parametrize("case", ["heat_film_trap.toml", "heat_absorber3d.toml",
                                  "heat_nis_wire.toml", "bte_film_pulse.toml",
                                  "transport_film_trap.toml"])
def test_shipped_cases_pass_the_new_checks(tmp_path, capsys, case):
    accepted(variant(tmp_path, case), capsys)


# one change of a shipped case that `fvqp check` refuses: case, (old, new), what the problem
# names (key, cause, fix)
REFUSED = [
    pytest.param("heat_film_trap.toml", ('temperature = "250 mK"', 'temperature = "250"'),
                 ("bath.temperature", "needs a unit", 'Fix: add its unit: "250 K"'),
                 id="temperature_without_unit"),
    pytest.param("heat_film_trap.toml", ('thickness = "100 nm"', "thickness = 1e-7"),
                 ("regions.film.thickness", "needs a unit", '"1e-07 m"'),
                 id="bare_toml_number_for_a_length"),
    pytest.param("transport_film_trap.toml", ('e_max = "450 ueV"', 'e_max = "150 ueV"'),
                 ("energy.e_max", "not above the gap", "region 'film'",
                  "Fix: give e_max above"), id="transport_e_max_below_the_gap"),
    pytest.param("transport_film_trap.toml", ('temperature = "100 mK"', 'temperature = "1 K"'),
                 ("bath.temperature", "above Tc = 0.9 K", "region 'trap'"),
                 id="transport_bath_above_tc"),
    pytest.param("heat_film_trap.toml", ('region = "film"\nposition = [0.0, 25.0, 0.0]',
                                         "position = [0.0, 2500.0, 0.0]"),
                 ("sources[0].position", "outside the simulated part of the mesh "
                  "film_trap_coarse.msh", "Fix: give a position inside the mesh"),
                 id="source_outside_the_mesh"),
    # (20, 10, 0.15) is in the absorber pad; (20, 10, -0.5) is in the substrate below
    pytest.param("heat_absorber3d.toml", ("position = [20.0, 10.0, 0.15]",
                                          "position = [20.0, 10.0, -0.5]"),
                 ("sources[0].position", "region 'absorber'"), id="source_outside_its_region"),
    pytest.param("heat_absorber3d.toml", ('region = "absorber"', 'region = "substrate"'),
                 ("sources[0].region", "left out (active = false)", "Fix:"),
                 id="source_region_must_be_simulated"),
    pytest.param("heat_absorber3d.toml", ("position = [20.0, 10.0, 0.15]",
                                          "position = [20.0, 10.0]"),
                 ("sources[0].position", "2 coordinates on a 3D mesh", "[x, y, z]"),
                 id="source_position_needs_the_mesh_dimension"),
    pytest.param("heat_absorber3d.toml", ('[regions.absorber]\nmaterial = "Ta"',
                                          '[regions.absorber]\nmaterial = "Ta"\n'
                                          'thickness = "300 nm"'),
                 ("regions.absorber.thickness", "only for 2D meshes", "is 3D",
                  "Fix: remove thickness"), id="thickness_on_a_3d_mesh"),
    pytest.param("heat_film_trap.toml", ('thickness = "100 nm"',
                                         'thickness = "100 nm"\ncross_section = "1 um^2"'),
                 ("regions.film.cross_section", "only for 1D meshes"),
                 id="cross_section_on_a_2d_mesh"),
    pytest.param("heat_film_trap.toml", ('start = "0 s"\nstop = "200 ns"',
                                         'start = "300 ns"\nstop = "200 ns"'),
                 ("sources[0].stop", "not after the switch-on time", "Fix: give stop > start"),
                 id="power_source_stop_before_start"),
    pytest.param("kinetics0d_al_resonator.toml",
                 ('power = "1 fW"', 'power = "1 fW"\nstart = "1 us"\nstop = "1 us"'),
                 ("drives[0].stop", "not after the switch-on time"),
                 id="drive_stop_before_start"),
]


@pytest.mark.parametrize(("name", "repl", "needles"), REFUSED)
def test_case_change_is_refused(tmp_path, capsys, name, repl, needles):
    """The changed case is refused naming the key, the file and (where given) the fix."""
    p = variant(tmp_path, name, repl)
    refused(p, *needles, capsys=capsys)
