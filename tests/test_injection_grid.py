"""The energy grid holds what a case injects (transport, kinetics0d, usadel, bte,
bte_sphere, phonon, bte_chip).

A source whose spectrum reaches above the QP grid was cut there without a word: the
shipped NIS wire biased at 1.2 mV, above its e_max of 620 ueV, lost 0.709 of its
junction's QPs or their energy above the grid, and with the default grid (which ignored
the bias: top 371 ueV) the junction injected 0.22 of its QP rate; a photon drive above
an explicit e_max put its energy into the wrong states. Now an explicit ``e_max`` that
cuts a source is refused at ``fvqp check`` (key, file, the energy that holds it), and
the default grids hold every source.
"""

from __future__ import annotations

import json
import math

import pytest

from conftest import case_variant, run_fvqp
from fvqp.case.loader import CaseError, load_case
from fvqp.spectra.injection import (
    gaussian_tail,
    nis_injection_fractions,
    nis_injection_tail,
    nis_injection_top,
)


def _refused(name: str, tmp_path, **edits) -> str:
    """The text of the CaseError that loading ``cases/<name>`` with ``edits`` raises."""
    with pytest.raises(CaseError) as exc:
        load_case(case_variant(name, tmp_path, **edits))
    return str(exc.value)


def _analytic(e1, delta, ev):
    """T_N -> 0 fractions above e1 of an NIS injection (module docstring of
    fvqp.spectra.injection): number 1 - sqrt((e1^2 - D^2)/(eV^2 - D^2)); energy from
    int_u1^U D^2 cosh^2 u du = D^2 [u + sinh u cosh u]/2."""
    u1, u = math.acosh(e1 / delta), math.acosh(ev / delta)

    def w(a, b):
        return (b - a) + math.sinh(b) * math.cosh(b) - math.sinh(a) * math.cosh(a)
    return 1 - math.sqrt((e1**2 - delta**2) / (ev**2 - delta**2)), w(u1, u) / w(0, u)


@pytest.mark.parametrize("e1", [1.2, 1.5, 1.9])
def test_nis_injection_fractions_at_zero_temperature(e1):
    """Against the closed forms at T_N = 1e-6 Delta (the Fermi step's smearing is below
    1e-5 of either fraction)."""
    n, w = nis_injection_fractions(e1, 1.0, 2.0, 1e-6)
    n0, w0 = _analytic(e1, 1.0, 2.0)
    assert n == pytest.approx(n0, rel=1e-5)
    assert w == pytest.approx(w0, rel=1e-5)
    assert w > n  # the energy tail is the larger: the criterion's
    assert max(nis_injection_fractions(2.0 + 60e-6, 1.0, 2.0, 1e-6)) < 1e-25  # e^-60


def test_nis_injection_top_inverts_the_tail():
    """The top for a fraction leaves that fraction above it; sub-gap bias: thermally
    activated injection, the tail above E decays as rho(E) T_N exp(-(E - eV)/T_N) (to
    first order in T_N over the DOS's scale)."""
    for bias, t_n in ((2.0, 0.05), (0.5, 0.1), (3.0, 0.3)):
        top = nis_injection_top(1.0, bias, t_n, 1e-4)
        assert nis_injection_tail(top, 1.0, bias, t_n) == pytest.approx(1e-4, rel=1e-6)
        assert nis_injection_tail(top * 0.99, 1.0, bias, t_n) > 1e-4
    r = nis_injection_fractions(1.5, 1.0, 0.2, 0.05)[0] / \
        nis_injection_fractions(1.3, 1.0, 0.2, 0.05)[0]
    rho = [e / math.sqrt(e * e - 1.0) for e in (1.5, 1.3)]
    assert r == pytest.approx(math.exp(-0.2 / 0.05) * rho[0] / rho[1], rel=0.03)
    assert gaussian_tail(3.0, 0.0, 1.0) == pytest.approx(1.3499e-3, rel=1e-4)


def test_transport_junction_biased_above_the_grid_is_refused(tmp_path):
    """The NIS wire at 1.2 mV with its e_max of 620 ueV: refused, naming key, file,
    junction, the lost fraction and the e_max that holds the injection; that value
    passes. The shipped case passes as it is."""
    load_case(case_variant("transport_nis_wire.toml", tmp_path))
    text = _refused("transport_nis_wire.toml", tmp_path,
                    **{'bias = "532 uV"': 'bias = "1.2 mV"'})
    assert "transport_nis_wire.toml: energy.e_max: the grid ends at 620.7 ueV, but tunnel " \
           "junction 'junction_a' (bias 1200 uV) injects 0.709 of its quasiparticles" in text
    need = float(text.split("raise e_max to at least ")[1].split(" ueV")[0])
    assert 1200 < need < 1260
    load_case(case_variant("transport_nis_wire.toml", tmp_path,
                           **{'bias = "532 uV"': 'bias = "1.2 mV"',
                              'e_max = "620 ueV"': f'e_max = "{need} ueV"'}))


def test_transport_default_grid_holds_the_junction_injection(tmp_path):
    """Without e_max the grid of the 1.2 mV wire reaches above the bias (it stopped at
    the gap + 12 kT = 371 ueV and the junction injected 3.88e10 QPs/s instead of
    1.77e11): the junction's QP rate equals that of a grid raised to 1.6 meV to 1e-4
    (TUNNEL_TAIL), and is within 2 % of the zero-temperature NIS current
    sqrt((eV)^2 - Delta^2)/(e^2 R_T) (the wire's own QPs flow back a little). The
    check's grid is the run's."""
    rates, tops, paths = [], [], []
    for name, e_max in (("default", ""), ("high", 'e_max = "1.6 meV"')):
        (tmp_path / name).mkdir()
        path = case_variant("transport_nis_wire.toml", tmp_path / name,
                            **{'bias = "532 uV"': 'bias = "1.2 mV"',
                               'e_max = "620 ueV"': e_max,
                               'energies = ["280 ueV", "400 ueV", "520 ueV"]':
                               'energies = ["300 ueV"]'})
        out = tmp_path / name / "out"
        run_fvqp(["run", path, "--output", out])
        s = json.loads((out / "summary.json").read_text())
        rates.append(s["qp_rates_per_s"]["boundary:junction_a"])
        tops.append(s["energy_grid"]["e_max_ueV"])
        paths.append(path)
    assert tops[0] > 1200
    assert rates[0] == pytest.approx(rates[1], rel=1e-4)
    from fvqp.units import E_CHARGE

    ev, delta = 1.2e-3, 266e-6
    nis = math.sqrt(ev**2 - delta**2) / (E_CHARGE * 40.7e3)
    assert rates[0] == pytest.approx(nis, rel=0.02)
    from fvqp.models.transport import _grid_si, _region_gaps

    data = load_case(paths[0]).data
    top = _grid_si(data, _region_gaps(data)).edges[-1] / E_CHARGE * 1e6
    assert top == pytest.approx(tops[0], rel=1e-12)


def test_kinetics0d_photons_above_e_max_are_refused(tmp_path):
    """850 ueV photons under e_max = 600 ueV (eta_pb 0.49 instead of 0.58, no word);
    a photon-energy sweep is checked at each of its energies."""
    text = _refused("kinetics0d_al_weak_drive.toml", tmp_path,
                    **{'spacing = "4 ueV"': 'spacing = "4 ueV"\ne_max = "600 ueV"'})
    assert "kinetics0d_al_weak_drive.toml: grid.e_max: 600 ueV cuts drives[0]: photons of " \
           "850 ueV absorbed by QPs" in text
    assert "raise e_max to at least 1095 ueV" in text
    ok = case_variant("kinetics0d_al_weak_drive.toml", tmp_path,
                      **{'spacing = "4 ueV"': 'spacing = "4 ueV"\ne_max = "1.1 meV"'})
    load_case(ok)
    sweep = ok.read_text().replace("[time]", '[sweep]\nphoton_energy = ["500 ueV", '
                                   '"900 ueV"]\n\n[time]')
    ok.write_text(sweep)
    with pytest.raises(CaseError) as exc:
        load_case(ok)
    assert "cuts drives[0] at the sweep's energy 900 ueV" in str(exc.value)


def test_kinetics0d_default_grid_holds_a_hot_tunnel_electrode(tmp_path):
    """A tunnel drive at eV = 2 Delta from a 1 K electrode into Al at 80 mK: the former
    default top (Delta + eV + 10 kT_bath) left 1e-3 or more of the injection above the
    grid; the default now holds all but 1e-4 of it."""
    from fvqp.models.kinetics0d.build import build_model

    path = case_variant("kinetics0d_al_weak_drive.toml", tmp_path, **{
        '[[drives]]\ntype = "photon"\nenergy = "850 ueV"\npower = "1e-19 W"':
        '[[drives]]\ntype = "tunnel"\nresistance = "100 kOhm"\nbias = "352 uV"\n'
        'temperature = "1 K"'})
    model, _ = build_model(load_case(path))
    g = model.grid
    t_n = 1.0 / 1.2  # 1 K in kTc of the film (Tc = 1.2 K)
    t_bath = 0.08 / 1.2
    bias = model.drives[0].bias
    old = g.delta + max(30 * t_bath, abs(bias) + 10 * t_bath)
    assert nis_injection_tail(old, g.delta, bias, t_n) > 1e-3
    assert nis_injection_tail(g.e_max, g.delta, bias, t_n) <= 1e-4 * (1 + 1e-9)


def test_usadel_bias_sweep_above_the_energy_grid_is_refused(tmp_path):
    """The NIS wire's sweep to 3 Delta0 with energy.max = 2: the injector current at
    3 Delta0 came out 39 % low and g_nl 1e-29 instead of 1.4e-7, without a word (with
    max = 3.031, just above the bias, g_nl 18 % low). Now refused naming the key and the
    max that holds the sweep and its electrode's Fermi window; with that max the injector
    current and g_nl at +-3 Delta0 equal those of max = 5 to 1e-4."""
    import h5py
    import numpy as np

    edits = {"points = 31": "points = 3", "max = 4.0": "max = 2.0"}
    path = case_variant("usadel_nis_wire.toml", tmp_path, **edits)
    proc = run_fvqp(["run", path, "--output", tmp_path / "cut"], check=False)
    assert proc.returncode != 0
    assert "energy.max: the grid ends at 2 Δ0 but the sweep's stop bias plus 10 kT of " \
           "its electrode (where its current and conductance sample -df/dE: a shorter " \
           "grid cuts them) reaches 3.199 Δ0." in proc.stderr + proc.stdout
    currents = []
    for tag, top in (("fix", "3.199"), ("wide", "5.0")):
        (tmp_path / tag).mkdir()
        path = case_variant("usadel_nis_wire.toml", tmp_path / tag,
                            **{**edits, "max = 4.0": f"max = {top}"})
        run_fvqp(["run", path, "--output", tmp_path / tag / "out"])
        with h5py.File(tmp_path / tag / "out" / "usadel_nis_wire.h5") as f:
            currents.append(np.concatenate([f["i_inj_A"][:], np.ravel(f["g_nl"][:])]))
    assert np.allclose(currents[0], currents[1], rtol=1e-4, atol=0)


def test_transport_phonon_source_pairs_on_the_grid(tmp_path):
    """The absorber's 1.73 +- 0.1 meV phonons in Ta (gap 693 ueV) break pairs into QPs up
    to 1.34 meV: a grid that cuts its centre's pairs is refused; under the former e_max of
    1.2 meV, 4.6 % of the phonons lose their pairs with a gap-edge QP (the run warns) and
    3 ns after the burst there are 0.33 % fewer QPs than with the shipped 1.34 meV, which
    equals a grid to 1.5 meV to 1e-6 (measured 5e-8)."""
    text = _refused("transport_absorber3d.toml", tmp_path,
                    **{'e_max = "1.34 meV"': 'e_max = "0.9 meV"'})
    assert "energy.e_max: the grid ends at 903.7 ueV, but phonon source sources[0] (1730 ueV) " \
           "breaks pairs into QPs up to 1037 ueV" in text
    assert "raise e_max to at least 1337 ueV" in text
    n_qp, logs = {}, {}
    for e_max in ("1.2", "1.34", "1.5"):
        (tmp_path / e_max).mkdir()
        path = case_variant("transport_absorber3d.toml", tmp_path / e_max,
                            **{'e_max = "1.34 meV"': f'e_max = "{e_max} meV"',
                               'end = "2 us"': 'end = "3 ns"'})
        proc = run_fvqp(["run", path, "--output", tmp_path / e_max / "out"])
        logs[e_max] = proc.stdout + proc.stderr
        n_qp[e_max] = json.loads((tmp_path / e_max / "out" / "summary.json").read_text())[
            "N_qp"]
    assert "energy.e_max: 0.0462 of the phonons of sources[0] lie above the grid's top " \
           "plus the gap (1898 ueV)" in logs["1.2"]
    assert "lie above the grid's top" not in logs["1.34"] + logs["1.5"]
    assert n_qp["1.34"] == pytest.approx(n_qp["1.5"], rel=1e-6)
    assert n_qp["1.2"] < (1 - 2e-3) * n_qp["1.34"]


@pytest.mark.parametrize("name,edits,message,fix", [
    # a QP source of the absorber at 1.3 +- 0.1 meV under its e_max of 1.34 meV
    ("transport_absorber3d.toml",
     {'type = "phonon"': 'type = "quasiparticle"', 'energy = "1.73 meV"': 'energy = "1.3 meV"'},
     "energy.e_max: the grid ends at 1377 ueV, below the spectrum of quasiparticle source "
     "sources[0] (1300 ueV + 3 widths = 1600 ueV)", "1600 ueV"),
    # the bte film pulse (250 +- 20 ueV) under e_max = 260 ueV (the grid's top bin ends at
    # 301.2 ueV); the shipped 330 ueV holds it
    ("bte_film_pulse.toml", {'e_max = "330 ueV"': 'e_max = "260 ueV"'},
     "energy.e_max: the grid ends at 301.2 ueV, below the spectrum of quasiparticle source "
     "sources[0] (250 ueV + 3 widths = 310 ueV)", "310 ueV"),
    # the Si block's deposit (3 +- 1 meV) under e_max = 3 meV: half of it above the top
    # bin's edge (e_max + h/2); the fix puts that edge at 6 meV: 6000 / (1 + 1/16), up
    ("phonon_si_block.toml", {'e_max = "6 meV"': 'e_max = "3 meV"'},
     "energy.e_max: the grid ends at 3188 ueV, below the spectrum of phonons source "
     "sources[0] (3000 ueV + 3 widths = 6000 ueV)", "5648 ueV"),
    # the Sn sphere's packet (5.5 +- 0.4 meV, normalised to its deposit on the grid) under
    # e_max = 5.5 meV
    ("bte_sphere_sn_packet.toml", {'e_max = "7.5 meV"': 'e_max = "5.5 meV"'},
     "spectrum.e_max: the grid ends at 5500 ueV, below the spectrum of the [initial] "
     "packet (5500 ueV + 3 widths = 6700 ueV)", "6700 ueV"),
])
def test_a_grid_that_cuts_a_source_is_refused(name, edits, message, fix, tmp_path):
    """Gaussian sources are normalised on the grid: one cut by an explicit e_max was
    piled up below the top without a word. Refused at ``fvqp check`` naming the file, the
    key, the source and the e_max that holds it; the shipped case passes."""
    load_case(case_variant(name, tmp_path))
    text = _refused(name, tmp_path, **edits)
    assert f"{name}: {message}" in text
    assert f"raise e_max to at least {fix}" in text


@pytest.mark.parametrize("name", ["bte_chip_deposit.toml",
                                  "bte_chip_deposit_transport.toml"])
def test_chip_deposit_above_the_phonon_grid_is_refused(name, tmp_path):
    """The chip's deposit (0.5 +- 0.1 meV) under e_max = 0.4 meV: the top phonon bin ends
    at 602.5 ueV (node (n_ph) h = e_max + the Al gap rounded up to a node, + h/2: the
    run's grid, measured equal), below 0.8 meV; the shipped 0.6 meV (top node 803 ueV)
    holds it, and so does the fix's e_max."""
    load_case(case_variant(name, tmp_path))
    text = _refused(name, tmp_path, **{'e_max = "0.6 meV"': 'e_max = "0.4 meV"'})
    assert f"{name}: energy.e_max: the grid ends at 602.5 ueV, below the spectrum of " \
           "phonons source sources[0] (500 ueV + 3 widths = 800 ueV)" in text
    need = text.split("raise e_max to at least ")[1].split(" ueV")[0]
    load_case(case_variant(name, tmp_path, **{'e_max = "0.6 meV"': f'e_max = "{need} ueV"'}))


@pytest.mark.parametrize("name,edits,message", [
    ("transport_absorber3d.toml",
     {'type = "phonon"': 'type = "quasiparticle"', 'energy = "1.73 meV"': 'energy = "0.4 meV"'},
     "sources[0].energy: 400 ueV lies below the gap 693.4 ueV of region 'absorber'"),
    ("bte_film_pulse.toml", {'energy = "250 ueV"': 'energy = "150 ueV"'},
     "sources[0].energy: 150 ueV lies below the gap 172.1 ueV of region 'film'"),
    # the packet of bte_sphere (it used to run: 2.2e6 QPs at the gap edge for 1 keV)
    ("bte_sphere_sn_packet.toml", {'energy = "5.5 meV"': 'energy = "0.3 meV"'},
     "initial.energy: 300 ueV lies below the gap 554.9 ueV of Sn at the bath"),
])
def test_a_qp_source_below_the_gap_is_refused(name, edits, message, tmp_path):
    """A QP source centred below the gap of its region has no states to fill: the
    normalisation on the states put all its QPs at the gap edge (their number set by the
    deposited energy: 0.58 of the intended number at 400 ueV in Ta), without a word."""
    assert f"{name}: {message}" in _refused(name, tmp_path, **edits)
