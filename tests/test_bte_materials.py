"""Material data the bte model needs (issue 16 §1): Fermi velocities with sources, and the
mean free path from the resistivity."""

import math

import pytest

from fvqp.materials import get_material, list_materials
from fvqp.models.bte.driver import _inverse_mean_free_path
from fvqp.units import E_CHARGE

HBAR, M_E = 1.054571817e-34, 9.1093837015e-31


def test_every_fermi_velocity_has_a_source_of_a_documented_kind():
    """A stored v_F is either Ashcroft & Mermin's free-electron value or, for the d-band
    metals without a trustworthy table (Ta, V, Ti), the Fermi gas with the band mass of the
    Sommerfeld gamma (derived in the materials header; the derivation itself is checked in
    tests/test_bte_absorber3d.py), or, for Nb, the Pippard velocity of its measured
    coherence length (below)."""
    have = {n for n in list_materials() if get_material(n).fermi_velocity}
    derived, pippard = set(), set()
    for n in have:
        src = get_material(n).sources["fermi_velocity"]
        if src.startswith("[derived] Fermi gas with the gamma band mass"):
            derived.add(n)
        elif src.startswith("[derived] Pippard"):
            pippard.add(n)
        else:
            assert "Ashcroft & Mermin Table 2.1" in src, (n, src)
    assert derived == {"Ta", "V", "Ti"}
    assert pippard == {"Nb"}


def test_niobium_fermi_velocity_is_pippards_and_not_the_free_electron_value():
    """Nb's stored v_F is pi Delta0 xi0 / hbar with xi0 = 39.9 nm; the free-electron value
    hbar (3 pi^2 n)^(1/3) / m_e (A&M Table 2.1, Z = 1) that was stored before is 4.75x it."""
    from fvqp.units import K_B

    nb = get_material("Nb")
    assert nb.fermi_velocity == pytest.approx(
        math.pi * nb.gap_ratio * K_B * nb.Tc * 39.9e-9 / HBAR, rel=3e-3, abs=0)
    free = HBAR * (3 * math.pi**2 * nb.N_ion) ** (1 / 3) / M_E
    assert free == pytest.approx(1.37e6, rel=3e-3, abs=0)
    assert free / nb.fermi_velocity == pytest.approx(4.75, abs=0.02)


@pytest.mark.parametrize("dim", [2, 3])
def test_mean_free_path_from_resistivity(dim):
    """l = d D / v_F with the Einstein relation D = 1/(2 N0 e^2 rho): in 3D
    l = 3 / (2 N0 e^2 rho v_F); a region resistivity overrides the material's D."""
    al = get_material("Al")
    rho = 5e-8
    inv = _inverse_mean_free_path({"resistivity": rho}, al, dim)
    assert 1 / inv == pytest.approx(dim / (2 * al.N0 * E_CHARGE**2 * rho * al.fermi_velocity),
                                    rel=1e-14, abs=0)
    # without it: the material's diffusion constant (Al: 6e-3 m^2/s)
    assert 1 / _inverse_mean_free_path({}, al, dim) == pytest.approx(
        dim * al.diffusion_constant / al.fermi_velocity, rel=1e-14, abs=0)
    # Nb: no D override in the region -> its database diffusion constant
    nb = get_material("Nb")
    assert 1 / _inverse_mean_free_path({}, nb, 3) == pytest.approx(3 * 1.4e-3 / 2.88e5, rel=1e-6,
                                                                   abs=0)
    assert _inverse_mean_free_path({"ballistic": True}, nb, 3) == 0.0


def test_zinc_free_electron_fermi_velocity():
    """Zn's stored v_F (Ashcroft & Mermin Table 2.1) is the free-electron value with the
    valence Z = 2 of their Table 1.1 and the stored ion density (to 0.1 %)."""
    zn = get_material("Zn")
    v = HBAR * (3 * math.pi**2 * 2 * zn.N_ion) ** (1 / 3) / M_E
    assert zn.fermi_velocity == pytest.approx(v, rel=1e-3, abs=0)
    assert zn.fermi_velocity == 1.82e6


def test_theory_names_the_materials_a_bte_case_must_complete():
    """docs/theory_bte_mesh.md's material table names, per constant, the database materials
    without a value (a bte case with such a region must give it): the lists equal the
    database's (tau0, tau0_phi of [collisions]; a mean free path where neither a
    resistivity nor a diffusion constant is stored; Ta has only a resistivity), and every
    material has Tc and a Fermi velocity."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "theory_bte_mesh.md").read_text()

    def missing(*fields):
        return [n for n in list_materials()
                if all(getattr(get_material(n), f, None) is None for f in fields)]

    assert missing("Tc") == [] and missing("fermi_velocity") == []
    row = next(line for line in text.splitlines() if line.startswith("| `tau0`, `tau0_phi`"))
    assert f"`tau0`: {', '.join(missing('tau0'))}; " in row
    assert f"`tau0_phi`: {', '.join(missing('tau0_phi'))} |" in row
    row = next(line for line in text.splitlines()
               if line.startswith("| `resistivity`, `diffusion_constant`"))
    assert f"neither: {', '.join(missing('resistivity', 'diffusion_constant'))} (" in row
    only_rho = [n for n in missing("diffusion_constant") if n not in missing("resistivity")]
    assert only_rho == ["Ta"] and "(Ta: resistivity only)" in row


def test_niobium_published_lengths_agree_with_its_fermi_velocity():
    """Nb's stored v_F against the published lengths its source names: Pippard
    pi Delta0 xi0 / hbar with xi0 = 39.9 nm (stored) and London
    sqrt(3 / (2 mu0 e^2 N0)) / lambda_L with lambda_L = 29.1 nm (McFadden et al. 2026,
    LE-muSR) and 39 nm (Maxfield & McLean 1965), N0 the stored (gamma) DOS: 2.88e5,
    3.10e5, 2.31e5 m/s, mutually within 35 %; the free-electron 1.37e6 was 4.4-5.9x each."""
    from fvqp.units import K_B

    nb = get_material("Nb")
    mu0 = 4e-7 * math.pi
    pippard = math.pi * nb.gap_ratio * K_B * nb.Tc * 39.9e-9 / HBAR
    london = [math.sqrt(3 / (2 * mu0 * E_CHARGE**2 * nb.N0)) / lam for lam in (29.1e-9, 39e-9)]
    assert pippard == pytest.approx(2.88e5, rel=3e-3, abs=0)
    assert london == pytest.approx([3.10e5, 2.31e5], rel=3e-3, abs=0)
    est = [pippard, *london]
    assert max(est) / min(est) < 1.35
    assert all(4.4 < 1.37e6 / v < 5.95 for v in est)
    assert all(0.92 < nb.fermi_velocity / v < 1.25 for v in est)
    src = nb.sources["fermi_velocity"]
    assert "xi0 = 39.9(25) nm" in src and "lambda_L = 29.1(10) nm" in src
    assert "lambda_L = 39(5) nm" in src and "4.4-5.9x these" in src
