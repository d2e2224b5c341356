"""PETSc options given as a dict under a prefix, the Firedrake/DOLFINx way.

Options from the case file (or the Python API) are inserted into PETSc's global options
database under the solver's prefix *unless the command line already set them*, and
``setFromOptions`` is called last on every object, so ``-heat_snes_monitor`` or
``-heat_ksp_type preonly`` on the command line always win. A second problem configured
under the same prefix replaces the first one's options (no leaks between problems).

Inserted options are removed after use: a run is wrapped in :func:`options_session`,
which deletes every option fvqp inserted during it (whatever the prefix), so nothing a
run configured is left in the database for the next run in the same process, and PETSc
never reports fvqp's own defaults as unused. Options given on the command line are never
touched, except by :func:`forget_command_line` when a run is refused before it started.

A case's option tables (``[solver.petsc]`` ...) are declared for the session
(:func:`declare_case_options`), and :func:`unread_case_options` names those no solver of
the run read: a misspelt key (``ksp_rtoll``), an option of a solver the case does not
build, or one inserted after its solver had read its options. PETSc reports such
command-line options itself, but a case's options are fvqp's insertions, which PETSc
never lists, so without this a case key that did nothing went unnoticed. An option
counts as read when a PETSc object marked it used (checked before fvqp deletes it, and
at the end) or when fvqp read it itself (:func:`note_read`, through
:func:`fvqp.solvers.linear.option_value`: the keys of fvqp's own, such as
``schur_lag``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


def _value(v) -> str | None:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return None
    return str(v)


#: the words that make an option a PETSc viewer (``ksp_monitor``, ``snes_view``,
#: ``ksp_converged_reason``, ``ksp_monitor_true_residual``, ``ksp_view_eigenvalues``),
#: whose value is a viewer (``ascii``, ``:file.txt``), not a boolean
_VIEWER_WORDS = ("monitor", "view", "reason")


def _is_viewer(name: str) -> bool:
    """Whether the option ``name`` (without prefix) is a PETSc viewer option: a word of
    :data:`_VIEWER_WORDS` in it, not followed by ``cancel`` (``ksp_monitor_cancel`` is a
    boolean)."""
    words = name.lower().split("_")
    return words[-1] != "cancel" and any(w in _VIEWER_WORDS for w in words)


def _entries(options: Mapping[str, object] | None) -> dict[str, str | None]:
    """``options`` as database values: a viewer option (:func:`_is_viewer`) given as a
    boolean, as a TOML case writes it (``ksp_converged_reason = true``), becomes the flag
    alone (PETSc refuses the viewer type "true") or, for ``false``, is left out."""
    out = {}
    for k, v in (options or {}).items():
        k = str(k).lstrip("-")
        if isinstance(v, bool) and _is_viewer(k):
            if v:
                out[k] = None
            continue
        out[k] = _value(v)
    return out


#: option names (with prefix) each prefix's last :func:`apply_options` call inserted
_INSERTED: dict[str, set[str]] = {}
#: unused options already reported in this options session (:func:`unreported_unused`)
_REPORTED: set[str] = set()
#: live objects holding each prefix's inserted options (:func:`hold_options`): tokens
_HOLDERS: dict[str, set[int]] = {}
_TOKENS = itertools.count(1)

#: global options every run sets (unless the command line does), for runs that are
#: reproducible bit for bit from one process to the next. PETSc (3.20+) computes
#: ``VecMDot``/``VecMAXPY`` over several vectors by one BLAS gemv when their arrays happen
#: to lie close together in memory, and by its own unrolled loop otherwise; the two round
#: differently. fvqp's ghosted vectors are duplicated one by one, so which path GMRES's
#: Gram-Schmidt takes depended on the heap layout, which the environment's size moves:
#: two processes of the same case differed in the last bits (1e-12 of a field after a
#: few steps; CI saw it twice). With the gemv paths off every process takes the loop.
RUN_OPTIONS: dict[str, str] = {"vec_mdot_use_gemv": "0", "vec_maxpy_use_gemv": "0"}
#: Algebraic multigrid for the diffusion operators of the mesh models (heat; transport's
#: matrix-free preconditioning matrix): GAMG with graph edges below 2 % of the
#: (diagonally scaled) coupling dropped. Thin films meshed by flat cells couple each cell
#: to one neighbour at ~0.9999 of its diagonal and to the others at ~1e-5; aggregates
#: grown through those weak edges cost heat Krylov counts that grow with the ranks (23-28
#: against ~10 flat to 8 ranks) and left transport's GMRES without progress
#: (DIVERGED_BREAKDOWN on the collisionless steady absorber). Measurements with the
#: models' defaults (heat/driver.py, transport/solver_config.py).
FILM_GAMG: dict[str, object] = {"pc_type": "gamg", "pc_gamg_threshold": 0.02}
#: the :data:`_INSERTED` key of :data:`RUN_OPTIONS` (no solver prefix is empty)
_RUN = "\0run"
#: the case's options of this session (:func:`declare_case_options`): full name (lower
#: case) -> (the table they were given in, their key there)
_CASE: dict[str, tuple[str, str]] = {}
#: their values as inserted (:func:`_entries`): a case option whose name holds another
#: value at the end was not in effect (:func:`case_option_reads`)
_CASE_VALUES: dict[str, str | None] = {}
#: option names (lower case) read in this session: marked used by PETSc before fvqp
#: deleted them, or read by fvqp itself (:func:`note_read`)
_READ: set[str] = set()


def apply_options(prefix: str, options: Mapping[str, object] | None) -> dict[str, str | None]:
    """Insert ``options`` under ``prefix`` into PETSc's options database.

    The command line wins: a name already in the database that this function did not
    insert is left untouched (and not marked used: membership is checked in
    ``getAll()``, not with ``hasName``, which marks an option used, so a command-line
    option no solver reads is still reported by :func:`unused_options` and by PETSc's
    ``-options_left``). A later call under the same prefix (a second problem in
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
    new = {prefix + k: v for k, v in _entries(options).items()}
    for name in ours - set(new):  # left over from an earlier call under this prefix
        _note_used(db, name)
        db.delValue(name)
    ours &= set(new)
    inserted = {}
    # getAll, not hasName (which would mark a command-line option used); PETSc's option
    # names are case-insensitive, so is the comparison
    present = {k.lower() for k in db.getAll()}
    for name, val in new.items():
        if name.lower() in present and name not in ours:  # the command line wins
            continue
        if name in ours:  # set again: whether it was read so far is not lost
            _note_used(db, name)
        db.setValue(name, val)
        ours.add(name)
        inserted[name[len(prefix):]] = val
    return inserted


def hold_options(prefix: str, options: Mapping[str, object] | None
                 ) -> tuple[int, dict[str, str | None]]:
    """:func:`apply_options` for an object that reads its options while it lives (a
    solver that sets up sub-solvers at its first solve): returns a token for
    :func:`release_options` (call it when the object is destroyed) and the options
    inserted. The options stay while any holder of the prefix lives; so an object used
    directly from the API, outside an :func:`options_session`, leaves nothing in PETSc's
    database after its destroy (the DOLFINx/petsctools rule, "removed after use")."""
    inserted = apply_options(prefix, options)
    token = next(_TOKENS)
    _HOLDERS.setdefault(prefix, set()).add(token)
    return token, inserted


def release_options(prefix: str, token: int) -> int:
    """The holder ``token`` of ``prefix`` (:func:`hold_options`) is gone: if it was the
    last one, remove the options :func:`apply_options` inserted under the prefix (the
    command line's stay). Returns how many were removed. A token from before the end of
    an :func:`options_session` (which removed everything already) does nothing."""
    holders = _HOLDERS.get(prefix)
    if not holders or token not in holders:
        return 0
    holders.discard(token)
    if holders:
        return 0
    del _HOLDERS[prefix]
    removed = len(_INSERTED.get(prefix, ()))
    apply_options(prefix, {})
    return removed


def given_by_user(name: str) -> bool:
    """Whether PETSc's database has ``name`` (with prefix) and fvqp did not insert it: the
    command line's (or a user's own ``PETSc.Options()``) value. Checked in ``getAll()``
    without marking the option used (``hasName`` would, and a misspelt command-line
    option would then never be reported unused); case-insensitive, as PETSc's names."""
    from petsc4py import PETSc

    ours = {k.lower() for k in inserted_names()}
    key = name.lower()
    return key not in ours and key in {k.lower() for k in PETSc.Options().getAll()}


def inserted_names() -> set[str]:
    """Every option name (with prefix) fvqp's :func:`apply_options` has in the database."""
    return set().union(*_INSERTED.values()) if _INSERTED else set()


def remove_inserted() -> int:
    """Delete from PETSc's database every option :func:`apply_options` inserted (command
    line options are left alone); returns how many were removed."""
    from petsc4py import PETSc

    db = PETSc.Options()
    present = {k.lower() for k in db.getAll()}
    removed = 0
    for names in _INSERTED.values():
        for name in names:
            if name.lower() in present:
                db.delValue(name)
                removed += 1
    _INSERTED.clear()
    _REPORTED.clear()
    _HOLDERS.clear()
    _CASE.clear()
    _CASE_VALUES.clear()
    _READ.clear()
    return removed


def _note_used(db, name: str) -> None:
    """Remember that PETSc marked ``name`` used (before fvqp deletes or resets it)."""
    if db.used(name):
        _READ.add(name.lower())


def note_read(name: str) -> None:
    """fvqp itself read the option ``name`` (with prefix): a key of its own, such as
    ``<prefix>schur_lag``, which no PETSc object reads (:func:`unread_case_options`)."""
    _READ.add(name.lower())


def declare_case_options(prefix: str, options: Mapping[str, object] | None,
                         where: str) -> None:
    """Declare a case's option table for this options session: the options ``options``
    (keys without prefix) given under ``prefix`` in ``where`` (e.g. ``"[solver.petsc]"``),
    checked by :func:`unread_case_options` at the end of the run. A viewer option set to
    ``false`` is left out (it inserts nothing, :func:`_entries`)."""
    prefix = normalise_prefix(prefix)
    for key, value in _entries(options).items():
        _CASE[(prefix + key).lower()] = (where, key)
        _CASE_VALUES[(prefix + key).lower()] = value


def case_option_reads() -> list[tuple[tuple[str, str], bool]]:
    """Every declared case option (:func:`declare_case_options`) as ``((table, key),
    read)`` in the order declared (the same on every rank): ``read`` if a PETSc object
    marked it used or fvqp read it (:func:`note_read`) in this session on this rank.
    An option the command line also sets counts as read (its value replaced the
    case's; PETSc reports it if unused). One that fvqp inserted with another value
    counts as unread whatever PETSc marked: a solver's own default under a nested
    prefix (``<prefix>eblock_pc_type``) was in the database before the case's key of
    the same name, which :func:`apply_options` then took for the command line's and
    left out (bte_sphere's ``eblock_*`` keys did nothing so, without a warning, until
    2026-11-26)."""
    from petsc4py import PETSc

    db = PETSc.Options()
    values = {k.lower(): v for k, v in db.getAll().items()}
    ours = {k.lower() for k in inserted_names()}

    def replaced(name: str) -> bool:
        return name in ours and name in values and \
            (values[name] or None) != (_CASE_VALUES.get(name) or None)

    return [(entry, not replaced(name) and (
                name in _READ or (name in values and (db.used(name) or name not in ours))))
            for name, entry in _CASE.items()]


def unread_case_options() -> list[tuple[str, str]]:
    """The declared case options that nothing read in this session on this rank
    (:func:`case_option_reads`), as ``(table, key)`` pairs in the order declared."""
    return [entry for entry, read in case_option_reads() if not read]


def forget_command_line(args: list[str]) -> None:
    """Remove the PETSc options ``args`` (the command line's ``-name [value]`` list) from
    the database: for a run refused for bad input, which stopped before (or while) its
    solvers read them, so that PETSc's list of them as unused at exit neither says
    anything about their spelling nor buries the error that stopped the run. Names are
    told from values as the command line's parser does: a value may start with ``-`` and
    a digit."""
    from petsc4py import PETSc

    db = PETSc.Options()
    for arg in args:
        if len(arg) > 1 and arg.startswith("-") and not arg[1:2].isdigit():
            db.delValue(arg[1:])


@contextmanager
def options_session() -> Iterator[None]:
    """Scope of one run: the options inserted inside are removed on exit (also on
    errors), the DOLFINx/petsctools rule "options removed after use" at the granularity
    of a run (objects built by a model may read their options lazily, at their first
    solve, so they stay until the run ends). It also sets :data:`RUN_OPTIONS` (runs
    reproducible bit for bit across processes) unless the command line sets them.

    Examples
    --------
    >>> from petsc4py import PETSc
    >>> with options_session():
    ...     _ = apply_options("doc_", {"ksp_type": "cg"})
    ...     PETSc.Options().hasName("doc_ksp_type")
    True
    >>> PETSc.Options().hasName("doc_ksp_type")
    False
    """
    _insert_run_options()
    try:
        yield
    finally:
        remove_inserted()


def _insert_run_options() -> None:
    """Insert :data:`RUN_OPTIONS` (the command line wins), removed with the session's."""
    from petsc4py import PETSc

    db = PETSc.Options()
    present = {k.lower() for k in db.getAll()}
    ours = _INSERTED.setdefault(_RUN, set())
    for name, value in RUN_OPTIONS.items():
        if name.lower() not in present or name in ours:
            db.setValue(name, value)
            ours.add(name)


class OptionsError(ValueError):
    """PETSc refused the options of a solver (an unknown type or a malformed value)."""


def set_from_options(obj, prefix: str) -> None:
    """``obj.setFromOptions()`` (last, so the command line wins), turning PETSc's refusal
    of a value (``-heat_ksp_type gmress``) into an :class:`OptionsError` that names the
    options given under ``prefix`` and the fix, before anything is solved."""
    from petsc4py import PETSc

    try:
        obj.setFromOptions()
    except PETSc.Error as exc:
        given = {k: v for k, v in PETSc.Options().getAll().items()
                 if k.startswith(prefix)}
        listing = " ".join(f"-{k} {v}".rstrip() for k, v in sorted(given.items()))
        raise OptionsError(
            f"PETSc refused the options of the solver with prefix {prefix!r} (PETSc error "
            f"{exc.ierr}: an unknown type or a malformed value). Options under the prefix: "
            f"{listing or '(none)'}. Fix: correct the misspelt value (run with "
            f"-{prefix}ksp_view or -help to see the valid types).") from None


def unused_options(prefix: str) -> list[str]:
    """Options under ``prefix`` in the database that no PETSc object has read and that
    fvqp did not insert: the command line's typos (``-heat_ksp_rtoll``)."""
    from petsc4py import PETSc

    db = PETSc.Options()
    ours = inserted_names()
    return sorted(k for k in db.getAll() if k.startswith(prefix) and k not in ours
                  and not db.used(k))


def unreported_unused(prefix: str) -> list[str]:
    """:func:`unused_options` not yet reported in this options session (a model that
    builds a solver per sweep point names a typo once, not at every point)."""
    names = [k for k in unused_options(prefix) if k not in _REPORTED]
    _REPORTED.update(names)
    return names


def normalise_prefix(prefix: str) -> str:
    """``"heat"`` -> ``"heat_"``; empty stays empty."""
    return prefix if (not prefix or prefix.endswith("_")) else prefix + "_"
