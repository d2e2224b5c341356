"""PETSc options given as a dict under a prefix, the Firedrake/DOLFINx way.

Options from the case file (or the Python API) are inserted into PETSc's global options
database under the solver's prefix *unless the command line already set them*, and
``setFromOptions`` is called last on every object, so ``-heat_snes_monitor`` or
``-heat_ksp_type preonly`` on the command line always win. A second problem configured
under the same prefix replaces the first one's options (no leaks between problems).
"""

from __future__ import annotations

from collections.abc import Mapping


def _value(v) -> str | None:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return None
    return str(v)


#: option names (with prefix) each prefix's last :func:`apply_options` call inserted
_INSERTED: dict[str, set[str]] = {}


def apply_options(prefix: str, options: Mapping[str, object] | None) -> dict[str, str | None]:
    """Insert ``options`` under ``prefix`` into PETSc's options database.

    The command line wins: a name already in the database that this function did not
    insert is left untouched. A later call under the same prefix (a second problem in
    the same process, e.g. two cases run from Python) *replaces* the earlier call's
    values and removes the names it does not set again, so options never leak from one
    problem to the next.

    Parameters
    ----------
    prefix
        Options prefix such as ``"heat_"`` (a trailing underscore is added if missing).
    options
        Keys without the leading dash and without the prefix, e.g.
        ``{"snes_rtol": 1e-10, "ksp_type": "gmres", "snes_monitor": None}``.

    Returns
    -------
    dict
        The options actually inserted (command-line values are left untouched).
    """
    from petsc4py import PETSc

    db = PETSc.Options()
    ours = _INSERTED.setdefault(prefix, set())
    new = {prefix + str(k).lstrip("-"): _value(v) for k, v in (options or {}).items()}
    for name in ours - set(new):  # left over from an earlier call under this prefix
        db.delValue(name)
    ours &= set(new)
    inserted = {}
    for name, val in new.items():
        if db.hasName(name) and name not in ours:  # the command line wins
            continue
        db.setValue(name, val)
        ours.add(name)
        inserted[name[len(prefix):]] = val
    return inserted


def normalise_prefix(prefix: str) -> str:
    """``"heat"`` -> ``"heat_"``; empty stays empty."""
    return prefix if (not prefix or prefix.endswith("_")) else prefix + "_"
