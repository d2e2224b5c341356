"""Case-schema pieces shared by several mesh models: where a source acts, when it acts,
and the spectral sources of the kinetic models (one copy of each key's meaning)."""

from __future__ import annotations

from ...case.schema import Field

__all__ = ["PLACEMENT", "POWER_TIMING", "PULSE_TIMING", "SPECTRAL_SOURCE",
           "check_pulse_or_power"]

#: where a ``[[sources]]`` table acts (:func:`fvqp.mesh.sources.placement`)
PLACEMENT = {
    "region": Field("str", "region receiving the source (default: all simulated)"),
    "position": Field("list", "centre of a Gaussian spot [x, y, z] in mesh units",
                      item=Field("float")),
    "radius": Field("quantity", "Gaussian width of the spot", dimension="length",
                    positive=True),
}

#: when a pulse acts (its amount is model specific: ``energy`` or ``deposit``)
PULSE_TIMING = {
    "time": Field("quantity", "centre of the Gaussian pulse", dimension="time", default=0.0,
                  nonnegative=True),
    "duration": Field("quantity", "Gaussian width (sigma) of the pulse", dimension="time",
                      positive=True),
}

#: when a steady power acts
POWER_TIMING = {
    "start": Field("quantity", "switch-on time of the power", dimension="time", default=0.0,
                   nonnegative=True),
    "stop": Field("quantity", "switch-off time of the power (default never)",
                  dimension="time", positive=True),
}

#: keys of a ``[[sources]]`` table injecting quasiparticles or phonons with a Gaussian
#: spectrum (``transport``, ``bte``): a pulse (``deposit``) or a steady ``power``
SPECTRAL_SOURCE = {
    "energy": Field("quantity", "centre of the injected spectrum", dimension="energy",
                    required=True, positive=True),
    "width": Field("quantity", "Gaussian width of the spectrum (0: one bin)",
                   dimension="energy", default=0.0, nonnegative=True),
    "deposit": Field("quantity", "energy of a Gaussian pulse (or give power)",
                     dimension="energy", positive=True),
    **PULSE_TIMING,
    "power": Field("quantity", "steady injected power (instead of a pulse)",
                   dimension="power", positive=True),
    **POWER_TIMING,
    **PLACEMENT,
}


def check_pulse_or_power(data: dict, err, duration: str = "0.1 ns",
                         radius: str = "5 um") -> None:
    """Each spectral ``[[sources]]`` table is exactly one of a pulse (``deposit`` with a
    ``duration``) or a ``power``; a spot (``position``) needs a ``radius``. ``duration``
    and ``radius`` are the examples the fix suggests."""
    for i, s in enumerate(data.get("sources") or []):
        if not s:
            continue
        if (s.get("deposit") is None) == (s.get("power") is None):
            err.add(f"sources[{i}]", "give exactly one of deposit (a pulse) or power.",
                    f'e.g. deposit = "10 keV", duration = "{duration}".')
        if s.get("deposit") is not None and s.get("duration") is None:
            err.add(f"sources[{i}].duration", "a pulse needs a duration.",
                    f'add duration = "{duration}".')
        if s.get("position") is not None and s.get("radius") is None:
            err.add(f"sources[{i}].radius", "a source with a position needs a radius.",
                    f'add radius = "{radius}".')
