"""The Python API: run cases from files, TOML text or dicts, and get results in SI.

* :func:`run_case` / :func:`run_loaded_case` — like ``fvqp run`` (a summary back);
* :func:`build_case` — a validated case from a file, TOML text or a dict, with
  :class:`~fvqp.materials.Material` objects (and their overrides) for its regions;
* :func:`run` — build and run a case, returning a :class:`~fvqp.post.run.Run`: the
  :class:`~fvqp.models.base.ModelResult` and every output as SI arrays with units
  (:class:`~fvqp.post.arrays.Field`, :class:`~fvqp.post.arrays.Series`,
  :class:`~fvqp.post.arrays.Quantity`), and ``Run.plot()`` for its pictures;
* :func:`open_run` — the same for a directory an earlier run wrote.

See ``docs/api.md`` and the notebooks-as-scripts in ``docs/examples/``.
"""

from __future__ import annotations

import os

from .materials import get_material

__all__ = ["build_case", "get_material", "open_run", "run", "run_case", "run_loaded_case"]


def run_case(path: str | os.PathLike, output_dir: str | None = None, resume: bool = False,
             max_steps: int | None = None, overwrite: bool = False) -> dict:
    """Validate and run a case file, like ``fvqp run``.

    Parameters
    ----------
    path
        Case file ``<model>_<device>.toml``.
    output_dir
        Overrides the case's ``[output] directory``.
    resume
        Continue a killed run from the checkpoint in the output directory.
    max_steps
        Stop after this many time steps (leaving a checkpoint); at least 1.
    overwrite
        Start anew: the files earlier fvqp runs wrote into the output directory (their
        checkpoint, snapshots, figures ...) are deleted first; without it a run over a
        checkpoint is refused.

    Returns
    -------
    dict
        Summary: ``status``, ``message``, counters, energy balance (also in
        ``summary.json`` in the output directory).

    Raises
    ------
    fvqp.case.CaseError
        The case or its mesh is invalid (nothing has been run).
    fvqp.io.OutputDirError
        The output path is a file or not writable, another run holds the directory
        (:class:`fvqp.io.OutputDirLocked`), a fresh run would overwrite a checkpoint, or
        ``overwrite`` would mix the run's outputs with files no fvqp run wrote there
        (nothing has been run).
    ValueError
        ``max_steps`` < 1, or both ``resume`` and ``overwrite``.
    fvqp.solvers.ConvergenceError
        A solve failed and could not be rescued by shorter time steps.
    """
    from .case import load_case

    return run_loaded_case(load_case(path), output_dir=output_dir, resume=resume,
                           max_steps=max_steps, overwrite=overwrite)


def run_loaded_case(case, *, output_dir: str | None = None, resume: bool = False,
                    max_steps: int | None = None, overwrite: bool = False) -> dict:
    """Run a validated :class:`~fvqp.case.Case` with its output directory locked.

    The one place where ``fvqp run`` and :func:`run_case` start a model: the output
    directory is checked, locked against a second run and guarded against overwriting a
    checkpoint (:func:`fvqp.io.lock.claim_output_dir`) before anything is solved.
    Arguments and exceptions as in :func:`run_case`.
    """
    if max_steps is not None and (isinstance(max_steps, bool) or int(max_steps) != max_steps
                                  or max_steps < 1):
        raise ValueError(f"max_steps = {max_steps!r}: must be a whole number of steps >= 1 "
                         "(or None for no limit). Fix: pass max_steps >= 1.")
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other: resume continues the "
                         "checkpoint that overwrite would delete. Fix: pass one of them.")
    from .io.lock import claim_output_dir
    from .models import get_model_module
    from .parallel.distribution import world

    out = os.path.abspath(output_dir or case.output_dir)
    with claim_output_dir(out, resume=resume, overwrite=overwrite,
                          comm=world()):
        return get_model_module(case.model).run(case, output_dir=out, resume=resume,
                                                max_steps=max_steps)


# ---- the SI Python API: cases from dicts/TOML text, results as SI arrays ---------------

def _schema_at(schema, path: list[str]):
    """The schema node of a dotted table path of a case (None if the schema has none)."""
    from .case.schema import Section, TableOf

    node = schema
    for key in path:
        if isinstance(node, TableOf):
            node = node.schema
        elif isinstance(node, Section) and key in node.fields:
            node = node.fields[key]
        else:
            return None
    return node.schema if isinstance(node, TableOf) else node


def _absolute_paths(raw: dict, schema, base_dir: str, where: list[str]) -> None:
    """Make the ``path`` fields of a case dict absolute (relative to ``base_dir``), in
    place: the case file the API writes lives in a temporary directory."""
    from .case.schema import Field, Section, TableOf

    for key, value in raw.items():
        node = _schema_at(schema, [*where, key])
        if isinstance(node, Field) and node.kind == "path" and isinstance(value, str):
            raw[key] = os.path.normpath(os.path.join(base_dir, os.path.expanduser(value)))
        elif isinstance(value, dict) and isinstance(node, (Section, TableOf)):
            _absolute_paths(value, schema, base_dir, [*where, key])


def _material_table(raw: dict, key: str) -> tuple[dict, str]:
    """The table of a case dict that ``materials={key: ...}`` refers to: a region's
    ``regions.<key>``, a top-level table (``film``, ``study``) or a dotted path."""
    from .case import CaseError

    regions = raw.get("regions") or {}
    if key in regions:
        return regions[key], f"regions.{key}"
    node = raw
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        tables = [f"regions.{r}" for r in regions] + [k for k, v in raw.items()
                                                      if isinstance(v, dict) and "material" in v]
        raise CaseError([f"<api>: materials[{key!r}]: the case has no such region or table. "
                         f"Fix: name one of {', '.join(tables) or '(none with a material)'}."])
    return node, key


def _apply_materials(raw: dict, materials: dict, spec) -> None:
    """Put :class:`~fvqp.materials.Material` objects into a case dict: the table's
    ``material`` becomes the material's name and every field that differs from the
    database entry becomes a key of the table (an SI quantity string), which the model's
    schema must accept (its material overrides, ``docs/case_reference.md``); override keys
    already in the table for constants the Material leaves at the database value are
    removed (the Material is the whole truth about the region's constants)."""
    from .case import CaseError
    from .case.loader import generic_schema
    from .materials import get_material
    from .materials.database import UNITS

    schema = generic_schema(spec)
    errors = []
    for key, mat in materials.items():
        if isinstance(mat, str):
            mat = get_material(mat)
        table, path = _material_table(raw, key)
        table["material"] = mat.name
        node = _schema_at(schema, path.split("."))
        accepted = set(getattr(node, "fields", {}) or {})
        base = get_material(mat.name)
        table.pop("delta0", None)  # the Material gives the gap as gap_ratio
        for name in UNITS:
            value = getattr(mat, name)
            if value is None or value == getattr(base, name):
                if name in accepted:  # the Material, not the dict, says what is overridden
                    table.pop(name, None)
                continue
            if name not in accepted:
                errors.append(f"<api>: materials[{key!r}].{name}: {value:g} {UNITS[name]} "
                              f"differs from the database's {mat.name}, but the {spec.name} "
                              f"case takes no {path}.{name}. Fix: leave {name} at the "
                              "database value, or set what the case takes (see "
                              "docs/case_reference.md).")
                continue
            table[name] = value if UNITS[name] == "1" else f"{value!r} {UNITS[name]}"
        if "gap_ratio" in table and table.get("gap") is not None:
            errors.append(_gap_twice(key, mat, path, table["gap"]))
    if errors:
        raise CaseError(errors)


def _gap_twice(key: str, mat, path: str, gap) -> str:
    """The error of a Material whose gap ratio differs from the database for a table that
    also sets ``gap``: neither is dropped silently (the rule of :func:`build_case`)."""
    return (f"<api>: materials[{key!r}].gap_ratio: {mat.gap_ratio:g} differs from the "
            f"database's {mat.name} (Delta0 = gap_ratio k_B Tc), and {path}.gap = {gap!r} "
            "sets the gap too: the gap would be given twice. Fix: remove gap from "
            f"{path} to take the Material's gap ratio, or pass the Material with the "
            f"database gap ratio (get_material({mat.name!r}).with_overrides(...) without "
            f"gap_ratio or delta0) to keep {path}.gap.")


def _is_toml_text(source: str) -> bool:
    return "\n" in source or "=" in source


def build_case(source, *, base_dir: str | os.PathLike | None = None,
               name: str | None = None, materials: dict | None = None,
               output_dir: str | os.PathLike | None = None):
    """A validated :class:`~fvqp.case.Case` from a file, TOML text or a dict, in SI.

    Parameters
    ----------
    source : str, os.PathLike, dict or Case
        A case file path; the text of a case (TOML: a string holding ``=`` or a newline);
        a dict with the same content as the TOML (quantities as strings with units,
        ``"150 mK"``, as in case files); or a :class:`~fvqp.case.Case` (returned as is).
    base_dir : path, optional
        Directory that relative paths of a text or dict case (``[mesh] file``,
        ``[output] directory``, data files) are relative to (default: the current
        directory). Ignored for a file, whose paths are relative to the file.
    name : str, optional
        Case name of a text or dict case (base name of its output files, default
        ``"<model>_api"``).
    materials : dict, optional
        Region (or table: ``"film"`` for kinetics0d, ``"study"`` for stochastic) ->
        :class:`~fvqp.materials.Material` or material name. The table's ``material``
        becomes its name; fields that differ from the database entry (e.g.
        ``get_material("Al").with_overrides(Tc=1.25)``) are written into the table as SI
        quantities, and the table's other material overrides are removed. A Material
        whose gap ratio differs from the database for a table that also sets ``gap``
        (usadel regions) is an error naming both (the gap is never taken from one of
        them silently); with the database gap ratio the table's ``gap`` is kept.
    output_dir : path, optional
        Output directory (default: the case's ``[output] directory``, else
        ``<base_dir>/output/<name>``).

    Returns
    -------
    fvqp.case.Case

    Raises
    ------
    fvqp.case.CaseError
        The case is invalid (every problem with its key and fix; the file named in the
        messages is the temporary copy ``<name>.toml``), or a material field differs from
        the database but the model's case has no key for it.

    Examples
    --------
    >>> case = build_case({"model": "kinetics0d", "bath": {"temperature": "100 mK"},
    ...                    "film": {"material": "Al", "thickness": "50 nm"},
    ...                    "time": {"steady": True}},
    ...                   materials={"film": get_material("Al", Tc=1.25)})
    >>> case.model, case.data["film"]["Tc"], case.data["bath"]["temperature"]
    ('kinetics0d', 1.25, 0.1)
    """
    import copy
    import tempfile

    import tomli_w

    from .case import Case, CaseError, load_case
    from .models import get_model_spec, model_names

    if isinstance(source, Case):
        return source
    if isinstance(source, os.PathLike) or (isinstance(source, str)
                                           and not _is_toml_text(source)):
        if materials:
            import tomllib

            with open(source, "rb") as fh:
                raw = tomllib.load(fh)
            base_dir = os.path.dirname(os.path.abspath(os.fspath(source)))
            name = name or os.path.splitext(os.path.basename(os.fspath(source)))[0]
        else:
            return load_case(source, output_dir=None if output_dir is None
                             else os.fspath(output_dir))
    elif isinstance(source, str):
        import tomllib

        try:
            raw = tomllib.loads(source)
        except tomllib.TOMLDecodeError as exc:
            raise CaseError([f"<text>: not valid TOML: {exc}. Fix: correct the syntax "
                             "there."]) from exc
    elif isinstance(source, dict):
        raw = copy.deepcopy(source)
    else:
        raise TypeError(f"a case is a path, TOML text, a dict or a Case, not {type(source)}")
    model = raw.get("model")
    if model not in model_names():
        raise CaseError([f"<api>: model: {model!r} is not a model of fvqp. Fix: set model "
                         f"to one of {', '.join(model_names())}."])
    spec = get_model_spec(model)
    base = os.path.abspath(os.fspath(base_dir) if base_dir is not None else os.getcwd())
    name = name or f"{model}_api"
    from .case.loader import generic_schema

    _absolute_paths(raw, generic_schema(spec), base, [])
    if materials:
        _apply_materials(raw, materials, spec)
    out = output_dir if output_dir is not None else \
        (raw.get("output") or {}).get("directory") or os.path.join(base, "output", name)
    raw.setdefault("output", {})["directory"] = os.path.abspath(os.fspath(out))
    with tempfile.TemporaryDirectory(prefix="fvqp_case_") as tmp:
        # the validated Case keeps the path only for messages (its paths are absolute)
        path = os.path.join(tmp, f"{name}.toml")
        with open(path, "wb") as fh:
            tomli_w.dump(raw, fh)
        return load_case(path)


def run(source, *, output_dir: str | os.PathLike | None = None, base_dir=None,
        name: str | None = None, materials: dict | None = None, resume: bool = False,
        max_steps: int | None = None, overwrite: bool = False):
    """Run a case given as a file, TOML text or a dict; results as SI arrays.

    Parameters
    ----------
    source, base_dir, name, materials, output_dir
        As in :func:`build_case`.
    resume, max_steps, overwrite
        As in :func:`run_case`.

    Returns
    -------
    Run
        The run's :class:`~fvqp.models.base.ModelResult` and its outputs in SI
        (:attr:`Run.fields`, :attr:`Run.series`, :attr:`Run.quantities`).

    Raises
    ------
    fvqp.case.CaseError, fvqp.io.OutputDirError, ValueError
        As in :func:`run_case` (nothing has been run).
    """
    case = build_case(source, base_dir=base_dir, name=name, materials=materials,
                      output_dir=output_dir)
    result = run_loaded_case(case, output_dir=None if output_dir is None
                             else os.fspath(output_dir), resume=resume,
                             max_steps=max_steps, overwrite=overwrite)
    from .models.base import ModelResult

    if not isinstance(result, ModelResult):
        result = ModelResult.from_summary(case.model, result, case.output_dir)
    return open_run(result.output_dir or case.output_dir, result=result)


def open_run(path: str | os.PathLike, result=None):
    """The outputs of a finished run (a directory written by ``fvqp run``) in SI.

    Parameters
    ----------
    path : path
        The output directory.
    result : ModelResult, optional
        The run's result (default: rebuilt from its ``summary.json``).

    Returns
    -------
    Run
    """
    from .post.run import Run

    return Run.open(path, result=result)
