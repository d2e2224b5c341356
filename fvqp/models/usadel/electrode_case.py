"""The electrode of a case's junction or ``tunnel`` wire end: its keys
(:data:`ELECTRODE_FIELDS`), gap and Dynes broadening in wire units (:func:`electrode_gap`),
the junctions of a set-up with them (:func:`case_electrodes`) and what ``fvqp check``
refuses (:func:`check_electrodes`). The physics: :mod:`~.electrode`."""

from __future__ import annotations

from dataclasses import replace

from ...case.schema import Field
from ..base.schema import material_overrides

__all__ = ["ELECTRODE_FIELDS", "case_electrodes", "check_electrodes", "electrode_gap"]


#: keys of ``[junctions.<name>]`` and of a ``tunnel`` boundary that make its electrode
#: superconducting (without them: a normal electrode, NIS)
ELECTRODE_FIELDS = {
    "gap": Field("quantity", "gap Δ_e of a superconducting electrode at its temperature "
                 "(incoherent quasiparticle tunnelling, no Josephson term; default 0: a "
                 "normal electrode). Wins over the material's gap.", dimension="energy",
                 nonnegative=True, internal="energy"),
    "material": Field("str", "material of a superconducting electrode: Δ_e = its Δ0 times "
                      "the BCS Δ(T)/Δ(0) at the electrode temperature (or give gap)"),
    **material_overrides("dynes_gamma", hints={"dynes_gamma": "the electrode's γ_e/Δ_e"}),
}


def electrode_gap(table, t_e: float, delta0: float) -> tuple[float, float]:
    """(Δ_e, γ_e) in units of Δ0 of a junction/tunnel-end table of the internal case
    (``gap`` in Δ0, ``t_e`` = k_B T_e/Δ0, ``delta0`` = Δ0 in J for the material's gap)."""
    from ...spectra.gap import thermal_gap
    from ..base.schema import case_material

    mat = case_material(table) if table.get("material") else None
    if table.get("gap") is not None:
        gap = float(table["gap"])
    elif mat is not None:
        from ...units import K_B

        tc = mat.Tc * K_B / delta0  # in Δ0, as t_e; the α model: Δ_e(0) = the material's Δ0
        gap = float(thermal_gap(t_e, tc, mat.delta0 / delta0 / tc, "alpha"))
    else:
        gap = 0.0
    ratio = table.get("dynes_gamma")
    if ratio is None:
        ratio = (mat.dynes_gamma if mat is not None else None) or 0.0
    return gap, float(ratio) * gap


def case_electrodes(case, junctions) -> list:
    """``junctions`` (:class:`~.terminals.TunnelJunction`, also the parts of segment
    junctions and tunnel ends) with the electrode gap and broadening of their case tables
    (:data:`ELECTRODE_FIELDS`; ``case`` the internal case in wire units)."""
    d = case.values
    tables = {n: bc for n, bc in (d.get("boundaries") or {}).items()
              if bc.get("type") == "tunnel"}
    tables.update(d.get("junctions") or {})
    delta0 = case.units.wire.delta0
    out = []
    for j in junctions:
        tab = tables.get(j.name) or {}
        if any(tab.get(k) is not None for k in ELECTRODE_FIELDS):
            gap, gamma = electrode_gap(tab, j.temperature, delta0)
            j = replace(j, gap=gap, gamma=gamma)
        out.append(j)
    return out


def electrode_tables(data, ends=("tunnel",)):
    """(case key, table) of every junction and of every boundary whose type is in
    ``ends`` (``"tunnel"``: the tunnel ends; with ``"normal"`` the normal reservoirs too,
    the terminals that carry a bias and a temperature, the bath's where they give none)."""
    for name, j in (data.get("junctions") or {}).items():
        if isinstance(j, dict) or j is None:
            yield f"junctions.{name}", j or {}
    for name, bc in (data.get("boundaries") or {}).items():
        if isinstance(bc, dict) and bc.get("type") in ends:
            yield f"boundaries.{name}", bc


def check_electrodes(data, err) -> None:
    """What a superconducting electrode does not (yet) support: a non-invasive detector
    (``in_solve = false``: Eq. 14 is written for a normal detector)."""
    for name, j in (data.get("junctions") or {}).items():
        if j and any(j.get(k) for k in ("gap", "material")) and not j.get("in_solve", True):
            err.add(f"junctions.{name}.gap", "a superconducting detector electrode "
                    "(in_solve = false) is not implemented (Eq. 14 with a normal "
                    "detector).", "set in_solve = true or remove gap/material.")
