"""Case-schema pieces shared by several mesh models."""

from __future__ import annotations

from ...case.schema import Field

__all__ = ["SPECTRAL_SOURCE"]

#: keys of a ``[[sources]]`` table injecting quasiparticles or phonons with a Gaussian
#: spectrum (``transport``, ``bte``): a pulse (``deposit``) or a steady ``power``
SPECTRAL_SOURCE = {
    "energy": Field("quantity", "centre of the injected spectrum", dimension="energy",
                    required=True, positive=True),
    "width": Field("quantity", "Gaussian width of the spectrum (0: one bin)",
                   dimension="energy", default=0.0, nonnegative=True),
    "deposit": Field("quantity", "energy of a Gaussian pulse (or give power)",
                     dimension="energy", positive=True),
    "time": Field("quantity", "centre of the pulse", dimension="time", default=0.0,
                  nonnegative=True),
    "duration": Field("quantity", "Gaussian width (sigma) of the pulse", dimension="time",
                      positive=True),
    "power": Field("quantity", "steady injected power (instead of a pulse)",
                   dimension="power", positive=True),
    "start": Field("quantity", "switch-on time of the power", dimension="time", default=0.0,
                   nonnegative=True),
    "stop": Field("quantity", "switch-off time of the power", dimension="time",
                  positive=True),
    "region": Field("str", "region receiving the particles (default: all simulated)"),
    "position": Field("list", "centre of a Gaussian spot [x, y, z] in mesh units",
                      item=Field("float")),
    "radius": Field("quantity", "Gaussian width of the spot", dimension="length",
                    positive=True),
}
