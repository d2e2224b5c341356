"""The case tables `fvqp mesh` prints for a meshed layout (issue 20 §5): one block per
model, each loading as that model's case on the mesh — the Si substrate a phonon
``medium`` (phonon, bte_chip) or left out (heat, transport, bte), the Ta and Al films
superconducting ``material`` (a ``medium`` in phonon) — with a condition for every
boundary group the model requires (the holder bath under the substrate for phonons)."""

from __future__ import annotations

import re

import pytest
from test_layout import LAYOUT  # Si substrate, Ta pad and cap, Al wire leaving the chip

from conftest import run_fvqp

#: what each model needs besides the printed tables (a bath at which Ta is thermal for
#: the heat model; the discrete-ordinates transients run with a fixed step)
REST = {"steady": '[bath]\ntemperature = "300 mK"\n[time]\nsteady = true\n',
        "fixed": '[bath]\ntemperature = "300 mK"\n[time]\nend = "1 ns"\ndt_initial = "0.1 ns"\n'}
HEADER = re.compile(r"(?m)^# ---- case tables for this mesh, model (\w+) ----\n")


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    """`fvqp mesh` of the layout: its directory and the printed block per model."""
    d = tmp_path_factory.mktemp("layout_case")
    (d / "chip.toml").write_text(LAYOUT)
    out = run_fvqp(["mesh", d / "chip.toml", "-o", d / "mesh" / "chip.msh"]).stdout
    parts = HEADER.split(out)
    return d, dict(zip(parts[1::2], parts[2::2], strict=True))


def _load(d, model: str, text: str):
    from fvqp.case import load_case

    p = d / f"{model}.toml"
    p.write_text(text + "\n" + REST["fixed" if model == "bte_chip" else "steady"])
    return load_case(p)


def test_every_model_block_loads_as_a_case_of_that_model(printed):
    d, blocks = printed
    assert list(blocks) == ["heat", "transport", "bte", "phonon", "bte_chip"]
    for model, text in blocks.items():
        case = _load(d, model, text)
        assert case.model == model
        regions = case.data["regions"]
        if model == "phonon":  # phonons in every region, each a medium
            assert {n: r["medium"] for n, r in regions.items()} == {
                "substrate": "Si", "pad": "Ta", "wire": "Al", "cap": "Ta"}
            assert case.data["boundaries"]["substrate_bottom"]["type"] == "bath"
        elif model == "bte_chip":  # QPs in the films, phonons only in the substrate
            assert regions["substrate"]["medium"] == "Si"
            assert regions["substrate"]["material"] is None
            assert {n: r["material"] for n, r in regions.items() if n != "substrate"} == {
                "pad": "Ta", "wire": "Al", "cap": "Ta"}
        else:  # the QP models leave the substrate out
            assert regions["substrate"]["active"] is False
            assert {n: r["material"] for n, r in regions.items() if r["active"]} == {
                "pad": "Ta", "wire": "Al", "cap": "Ta"}


def test_model_option_prints_one_block_and_a_material_substrate_is_refused(printed):
    """``--model phonon`` prints that block alone; the substrate as ``material = "Si"``
    (what the command printed before) is not a phonon case: the key is named."""
    from fvqp.case import CaseError

    d, blocks = printed
    out = run_fvqp(["mesh", d / "chip.toml", "-o", d / "mesh" / "chip.msh", "--model",
                    "phonon"]).stdout
    parts = HEADER.split(out)
    assert parts[1::2] == ["phonon"] and parts[2] == blocks["phonon"]
    old = blocks["phonon"].replace('medium = "Si"', 'material = "Si"')
    with pytest.raises(CaseError, match=r"regions\.substrate"):
        _load(d, "phonon", old)
