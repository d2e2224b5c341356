r"""How high the QP grid of a kinetics0d run must reach for its drives: one rule for the
default ``[grid] e_max`` (:func:`.build.build_model`, internal units) and for the check
of an explicit one (:func:`fvqp.models.kinetics0d._check`, SI).

A drive whose spectrum reaches above the grid is cut there without a word from the run:
photons absorbed by QPs near the gap edge land above it (the drive, normalised to its
power, puts the energy into the wrong states), a tunnel junction biased above it injects
less current (its rate per state is not normalised), injected phonons above the top
phonon node :math:`e_{max} + \Delta` are dropped. Per drive, the lowest grid top that holds
it (energies in one unit, :math:`k_B = 1`):

* photon :math:`\hbar\omega`: :math:`\Delta + \hbar\omega + 10k_BT` -- QPs within
  :math:`10k_BT` of the gap edge (all but :math:`e^{-10} = 4.5\cdot10^{-5}` of a thermal
  population at the bath) absorb onto the grid; pair breaking reaches :math:`\hbar\omega -
  \Delta`, below that;
* phonon :math:`\Omega_0 \pm \sigma`: :math:`\Omega_0 + 3\sigma - \Delta` (3:
  :data:`fvqp.models.spec.SOURCE_WIDTHS`; the phonon nodes reach :math:`e_{max} + \Delta`);
* tunnel (bias :math:`eV`, electrode temperature :math:`T_N`): all but
  :data:`fvqp.models.spec.TUNNEL_TAIL` of the injected QPs and their energy
  (:func:`fvqp.spectra.injection.nis_injection_top`).

The default grid top is the largest of these and of :math:`\Delta + 30k_BT`, and at
least the former default :math:`\Delta + \max(30k_BT, E_d + 10k_BT)` with :math:`E_d`
the largest photon, phonon or bias energy (grids of existing cases unchanged unless a
drive needs more).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..spec import SOURCE_WIDTHS, TUNNEL_TAIL

__all__ = ["PHOTON_KT", "Drive", "default_e_max", "drive_spectra", "needed_tops"]

#: kT_bath above the gap edge from which QPs must absorb a photon onto the grid
PHOTON_KT = 10.0

#: ``(type, energy, width, t_normal)``: photon energy, phonon centre and Gaussian width, or
#: the bias energy eV and the electrode temperature of a tunnel drive (unused entries 0)
Drive = tuple[str, float, float, float]


def drive_spectra(drives, t_bath: float, *, hbar: float, volt: float = 1.0,
                  kelvin: float = 1.0) -> list[Drive]:
    """The :data:`Drive` tuples of a case's ``[[drives]]`` tables, in one energy unit: the
    internal case's (``volt = kelvin = 1``: biases and temperatures are energies there,
    ``hbar`` internal) or the SI case's (``volt = e``, ``kelvin = k_B``, ``hbar`` in J s);
    ``t_bath`` in the tables' temperature unit (a tunnel electrode's default)."""
    import math

    out = []
    for d in drives or []:
        if d["type"] == "photon":
            e = d["energy"] if d.get("energy") else 2 * math.pi * hbar * d["frequency"]
            out.append(("photon", e, 0.0, 0.0))
        elif d["type"] == "phonon":
            out.append(("phonon", d["energy"], d["width"], 0.0))
        else:
            out.append(("tunnel", volt * d["bias"], 0.0,
                        kelvin * (d.get("temperature") or t_bath)))
    return out


def needed_tops(drives: Iterable[Drive], delta: float, t_bath: float) -> list[float]:
    """The lowest grid top that holds each drive (module docstring), in order."""
    from ...spectra.injection import nis_injection_top

    out = []
    for kind, energy, width, t_n in drives:
        if kind == "photon":
            out.append(delta + energy + PHOTON_KT * t_bath)
        elif kind == "phonon":
            out.append(energy + SOURCE_WIDTHS * width - delta)
        else:
            out.append(nis_injection_top(delta, energy, t_n or t_bath, TUNNEL_TAIL))
    return out


def default_e_max(drives: Iterable[Drive], delta: float, t_bath: float) -> float:
    """The default grid top (module docstring)."""
    drives = list(drives)
    e_d = max([abs(d[1]) for d in drives], default=0.0)
    return max([delta + max(30.0 * t_bath, e_d + 10.0 * t_bath)]
               + needed_tops(drives, delta, t_bath))
