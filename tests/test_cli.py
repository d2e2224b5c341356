"""The `fvqp` command: materials, mesh-info, and `python -m fvqp` = `fvqp`."""

import shutil

import pytest

import fvqp
from conftest import MESHES, run_fvqp


def test_materials_table_lists_kaplan_times():
    out = run_fvqp(["materials"]).stdout
    row = next(line for line in out.splitlines() if line.split()[:1] == ["Al"])
    assert "438" in row  # tau0 = 438 ns (Kaplan et al. 1976)
    for name in ("Ta", "Nb", "Sn", "In", "Pb"):
        assert any(line.split()[:1] == [name] for line in out.splitlines())


def test_mesh_info_and_bad_mesh_exit_codes(tmp_path):
    out = run_fvqp(["mesh-info", MESHES / "wire_network/wire_network.msh"]).stdout
    assert "network nodes (faces shared by >2 cells): 1" in out and "end_3" in out
    bad = tmp_path / "bad.msh"
    bad.write_text("nonsense")
    p = run_fvqp(["mesh-info", bad], check=False)
    assert p.returncode == 2 and "cannot read mesh file" in p.stderr


def test_console_script_is_installed():
    exe = shutil.which("fvqp")
    assert exe is not None
    import subprocess

    p = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "mesh-info" in p.stdout and "PETSc" in p.stdout
    p = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == f"fvqp {fvqp.__version__}"


def test_version_flag_prints_the_package_version(capsys):
    from fvqp.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"fvqp {fvqp.__version__}" == "fvqp 0.1.0"
