"""The QP bins and phonon nodes of a transport run: one rule, used by the run
(:meth:`.driver.TransportSimulation._grid`, internal units) and by ``fvqp check``
(:func:`fvqp.models.transport._check_slices`, SI)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ...spectra.bins import BinGrid

#: The grid holds all but this fraction of every tunnel junction's injected QPs and of their
#: energy (:func:`fvqp.spectra.injection.nis_injection_tail`); a case whose ``e_max`` cuts
#: more is refused (:func:`fvqp.models.transport._check_injection`).
TUNNEL_TAIL = 1e-4


def bin_grid(energy: Mapping, gaps: Iterable[float], kT: float, sources: Iterable[Mapping],
             self_consistent: bool, tunnels: Iterable[tuple[float, float]] = ()) -> BinGrid:
    """The bins of ``[energy]`` (``e_min``, ``spacing``, ``e_max``; each may be absent) for
    the superconducting regions' ``gaps`` at the bath's ``kT``, all in one unit of energy.

    Defaults: ``e_min`` the smallest gap (0.8 of it with a self-consistent gap, which may
    fall), ``spacing`` kT/4, ``e_max`` the largest gap plus 12 kT or up to
    :data:`fvqp.models.spec.SOURCE_WIDTHS` widths above the highest QP source, and high
    enough for every tunnel junction of ``tunnels`` (``(eV, kT_N)`` pairs: bias energy,
    electrode temperature) to inject all but :data:`TUNNEL_TAIL` of its QPs and their energy into a
    superconductor with the largest gap (the tail grows with the gap). Phonons reach the
    pair energy of a QP at the top with one at the lowest gap edge (with omega_max = e_max
    a default grid e_max = gap + 12 kT < 2 gap had no pair phonon at all: no
    recombination) and the injected phonon spectra."""
    from ...spectra.injection import nis_injection_top
    from ..spec import SOURCE_WIDTHS

    gaps = list(gaps)
    e_min = energy.get("e_min") or min(gaps) * (0.8 if self_consistent else 1.0)
    h = energy.get("spacing") or kT / 4
    top, w_top = 12 * kT, 0.0
    for s in sources:
        hi = s["energy"] + SOURCE_WIDTHS * s["width"]
        top = max(top, hi) if s["type"] == "quasiparticle" else top
        w_top = max(w_top, hi) if s["type"] == "phonon" else w_top
    e_max = energy.get("e_max") or max(
        [max(gaps) + top] + [nis_injection_top(max(gaps), bias, t_n, TUNNEL_TAIL)
                             for bias, t_n in tunnels])
    return BinGrid.build(e_min, h, e_max, omega_max=max(e_max + min(gaps), w_top))
