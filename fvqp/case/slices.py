"""The check of ``[slices] energies`` against a model's energy grid, at ``fvqp check``.

The energy-resolved mesh models (``transport``, ``bte``, ``phonon``) write the occupation at
the grid node nearest each energy of ``[slices] energies``. Their grids are built at run
time, but their bounds follow from the case alone (gap, ``[energy]`` spacing, ``e_max``,
bins, source spectra); a model's ``check`` (:attr:`fvqp.models.spec.ModelSpec.check`)
computes them and hands them to :func:`check_slice_energies`, so an energy outside the grid
is named by ``fvqp check`` (a :class:`~fvqp.case.CaseError` listing every such entry with
the grid's range and the fix) instead of at ``fvqp run``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..units import E_CHARGE

__all__ = ["check_slice_energies"]


def _ueV(joules: float) -> str:
    return f"{joules / (E_CHARGE * 1e-6):.6g} ueV"


def check_slice_energies(data: Mapping, err, lo: float, hi: float, grid: str,
                         below: str, above: str, rtol: float = 1e-9) -> None:
    """Add an error for each ``[slices] energies`` entry outside ``[lo, hi]``.

    Parameters
    ----------
    data : Mapping
        The validated case (SI: energies in J).
    err : fvqp.case.schema.Errors
        Where the problems go (key ``slices.energies[<k>]``).
    lo, hi : float
        The range of energies the model accepts [J] (e.g. the first and last bin edge, or
        :math:`h/2` to :math:`(N + 1/2)h` for nodes :math:`\\Omega_j = (j+1)h`).
    grid : str
        What the range is, for the message (``"energy bins"``, ``"phonon energy grid
        (nodes 750 ueV to 6000 ueV)"``).
    below, above : str
        The fix of an energy below ``lo`` / above ``hi`` (``"or raise [energy] e_max"``),
        appended to "give an energy between lo and hi".
    rtol : float
        Relative slack of the bounds: the run's grid is built in internal units, so an
        energy on a bound must not be refused by round-off.

    Examples
    --------
    >>> from fvqp.case.schema import Errors
    >>> err = Errors("c.toml")
    >>> ev = E_CHARGE * 1e-6
    >>> check_slice_energies({"slices": {"energies": [300 * ev, 900 * ev]}}, err,
    ...                      200 * ev, 800 * ev, "energy bins", "", "or raise [energy] e_max")
    >>> err.items  # doctest: +NORMALIZE_WHITESPACE
    ['c.toml: slices.energies[1]: 900 ueV lies outside the energy bins: 200 ueV to 800 ueV.
    Fix: give an energy between 200 ueV and 800 ueV (or raise [energy] e_max).']
    """
    energies = (data.get("slices") or {}).get("energies") or []
    for k, e in enumerate(energies):
        if lo * (1 - rtol) <= e <= hi * (1 + rtol):
            continue
        fix = above if e > hi else below
        err.add(f"slices.energies[{k}]", f"{_ueV(e)} lies outside the {grid}: "
                f"{_ueV(lo)} to {_ueV(hi)}.",
                f"give an energy between {_ueV(lo)} and {_ueV(hi)}"
                + (f" ({fix})." if fix else "."))
