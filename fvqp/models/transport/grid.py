"""The QP bins and phonon nodes of a transport run: one rule, used by the run
(:meth:`.driver.TransportSimulation._grid`, internal units) and by ``fvqp check``
(:func:`fvqp.models.transport._check_slices`, :func:`fvqp.models.transport.
_check_injection`, SI)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ...spectra.bins import BinGrid


def bin_grid(energy: Mapping, gaps: Iterable[float], kT: float, sources: Iterable[Mapping],
             self_consistent: bool, tunnels: Iterable[tuple[float, float]] = (),
             source_gaps: Iterable[float] | None = None) -> BinGrid:
    r"""The bins of ``[energy]`` (``e_min``, ``spacing``, ``e_max``; each may be absent) for
    the superconducting regions' ``gaps`` at the bath's ``kT``, all in one unit of energy.

    Defaults: ``e_min`` the smallest gap (0.8 of it with a self-consistent gap, which may
    fall), ``spacing`` kT/4, ``e_max`` the largest gap plus 12 kT or up to
    :data:`fvqp.models.spec.SOURCE_WIDTHS` widths above the highest QP source, and high
    enough for every tunnel junction of ``tunnels`` (``(eV, kT_N)`` pairs: bias energy,
    electrode temperature) to inject all but :data:`fvqp.models.spec.TUNNEL_TAIL` of its
    QPs and their energy into a superconductor with the largest gap (the tail grows with
    the gap), and for every phonon of a Gaussian phonon source (to the same widths) to
    break a pair in the regions it is deposited in (``source_gaps``: the smallest gap
    there, per source; default the smallest gap): a QP pair :math:`E + E' = \Omega`
    needs :math:`E' = \Omega - \Delta` on the grid, :func:`pair_top`. Phonons reach the
    pair energy of a QP at the top with one at the lowest gap edge (with omega_max = e_max
    a default grid e_max = gap + 12 kT < 2 gap had no pair phonon at all: no
    recombination) and the injected phonon spectra. Two hot QPs whose energies sum above
    that top do not recombine: with a 1.3 meV QP source in the absorber, the default grid
    (to 1.64 meV) gives 0.14 % more QPs at 2 ns than a 3.2 meV grid, at 1/5 of its cost
    (docs/performance.md)."""
    from ...spectra.injection import nis_injection_top
    from ..spec import SOURCE_WIDTHS, TUNNEL_TAIL

    gaps, sources = list(gaps), list(sources)
    e_min = energy.get("e_min") or min(gaps) * (0.8 if self_consistent else 1.0)
    h = energy.get("spacing") or kT / 4
    # a QP source's energy is a QP energy (its spectrum is laid on the bins' E, as in
    # bte), not one above the gap: its top is not shifted by the largest gap (it was,
    # which made a default grid one largest gap too tall: 1.8x the bins of a 1.3 meV
    # source in Ta)
    qp_top, w_top = 0.0, 0.0
    for s in sources:
        hi = s["energy"] + SOURCE_WIDTHS * s["width"]
        qp_top = max(qp_top, hi) if s["type"] == "quasiparticle" else qp_top
        w_top = max(w_top, hi) if s["type"] == "phonon" else w_top
    sg = list(source_gaps) if source_gaps is not None else [min(gaps)] * len(sources)
    e_max = energy.get("e_max") or max(
        [max(gaps) + 12 * kT, qp_top]
        + [nis_injection_top(max(gaps), bias, t_n, TUNNEL_TAIL) for bias, t_n in tunnels]
        + [pair_top(s, g) for s, g in zip(sources, sg, strict=True)
           if s["type"] == "phonon"])
    return BinGrid.build(e_min, h, e_max, omega_max=max(e_max + min(gaps), w_top))


def pair_top(source: Mapping, gap: float) -> float:
    r"""The QP energy up to which a Gaussian phonon source's phonons (to
    :data:`fvqp.models.spec.SOURCE_WIDTHS` widths) break pairs in a region of gap ``gap``:
    :math:`\Omega_0 + 3\sigma - \Delta` (the partner of a gap-edge QP). On a grid that
    stops below, the phonons above its top + the gap lose the pairs with a gap-edge QP
    (:func:`pair_tail`) and more of them escape instead of making QPs."""
    from ..spec import SOURCE_WIDTHS

    return source["energy"] + SOURCE_WIDTHS * source["width"] - gap


def pair_tail(source: Mapping, gap: float, top: float) -> float:
    """Fraction of a Gaussian phonon source's phonons above ``top + gap``: those that lose
    the pairs with a gap-edge QP on a grid ending at ``top`` (their pair-breaking rate
    falls, to zero above ``2 top``), so that more of them escape instead of making QPs
    (the shipped absorber's e_max of 1.2 meV under 1.73 +- 0.1 meV phonons in Ta: 4.6 %
    of them, 0.35 % fewer QPs and 0.7 % more escaped energy after 20 ns than with the
    1.34 meV that holds them)."""
    from ...spectra.injection import gaussian_tail

    return gaussian_tail(top + gap, source["energy"], source["width"])


def source_gaps(sources: Iterable[Mapping], gaps: Mapping[str, float]) -> list[float]:
    """Per source, the smallest gap of the superconducting regions it is deposited in
    (its ``region``, or every one of ``gaps``: region name -> gap)."""
    lo = min(gaps.values())
    return [gaps.get(s.get("region"), lo) if s.get("region") else lo for s in sources]
