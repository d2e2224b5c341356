"""PETSc options given as a dict under a prefix, the Firedrake/DOLFINx way.

Options from the case file (or the Python API) are inserted into PETSc's global options
database under the solver's prefix *unless the command line already set them*, and
``setFromOptions`` is called last on every object, so ``-heat_snes_monitor`` or
``-heat_ksp_type preonly`` on the command line always win.
"""

from __future__ import annotations

from collections.abc import Mapping


def _value(v) -> str | None:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return None
    return str(v)


def apply_options(prefix: str, options: Mapping[str, object] | None) -> dict[str, str | None]:
    """Insert ``options`` under ``prefix`` into PETSc's options database.

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
    inserted = {}
    for key, val in (options or {}).items():
        key = str(key).lstrip("-")
        if db.hasName(prefix + key):  # command line (or an earlier, explicit call) wins
            continue
        db.setValue(prefix + key, _value(val))
        inserted[key] = _value(val)
    return inserted


def normalise_prefix(prefix: str) -> str:
    """``"heat"`` -> ``"heat_"``; empty stays empty."""
    return prefix if (not prefix or prefix.endswith("_")) else prefix + "_"
