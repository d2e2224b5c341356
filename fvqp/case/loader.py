"""Load and validate a case file (``<model>_<device>.toml``) before any solve.

Validation happens in two passes, and *all* problems are reported at once:

1. the TOML against the generic schema plus the model's own (types, units, signs,
   unknown keys with a "did you mean");
2. the case against its mesh: every region of the case exists in the mesh (and the
   mesh's names are listed if not), every mesh region has a material, every exterior
   boundary of the mesh has a condition.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass

from ..models import get_model_spec, model_names
from ..models.spec import check_steady_outputs, check_steady_steps
from .schema import Errors, Field, ListOf, Section, TableOf, Variant, validate


class CaseError(ValueError):
    """The case file cannot be run; ``errors`` lists every problem with its fix."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        n = len(self.errors)
        super().__init__(f"{n} problem{'s' if n > 1 else ''} in the case:\n  - "
                         + "\n  - ".join(self.errors))


def generic_schema(spec) -> Section:
    """The schema of a case file for the model described by ``spec``."""
    fields = _common_fields(spec)
    if not spec.uses_mesh:
        for key in ("mesh", "regions", "boundaries", "sources"):
            fields.pop(key)
    for key in spec.unused_sections:
        fields.pop(key)
    fields.update(spec.sections)
    return Section(fields)


def _common_fields(spec) -> dict:
    return {
        "model": Field("str", "name of the model", required=True, choices=tuple(model_names())),
        "title": Field("str", "free text", default=""),
        "mesh": Section({
            "file": Field("path", "mesh file, relative to the case file", required=True),
            "scale": Field("quantity", "length of one mesh unit", dimension="length",
                           default=1e-6, positive=True),
        }, required=True),
        "units": Section({
            "reference_material": Field("str", "material fixing the internal units"),
        }),
        "bath": Section({
            "temperature": Field("quantity", "bath temperature", dimension="temperature",
                                 required=True, positive=True),
        }, required=True),
        "regions": TableOf(spec.region_schema, "material and geometry per mesh region",
                           required=True),
        "boundaries": TableOf(Variant(spec.boundary_types), "condition per mesh boundary"),
        "initial": spec.initial_schema or Section({}),
        "sources": ListOf(Variant(spec.source_types)),
        "time": Section({
            "steady": Field("bool", "solve for the steady state directly", default=False),
            "end": Field("quantity", "end time", dimension="time", positive=True),
            "dt_initial": Field("quantity", "first time step", dimension="time", positive=True),
            "dt_min": Field("quantity", "smallest time step", dimension="time", positive=True),
            "dt_max": Field("quantity", "largest time step", dimension="time", positive=True),
            "scheme": Field("str", "time integrator", default="bdf2", choices=("bdf1", "bdf2")),
            "adaptive": Field("bool", "adapt the time step to rtol/atol", default=True),
            "rtol": Field("float", "relative local error tolerance", default=1e-3, positive=True),
            "newton_tol": Field("float", "Newton stops when its correction is at most this "
                                "fraction of the local error tolerance in every unknown "
                                "(adaptive steps)", default=1e-3, positive=True),
            "atol": Field("quantity", "absolute local error tolerance",
                          dimension=spec.atol_dimension, default=spec.atol_default,
                          positive=True),
        }),
        "solver": Section({
            "prefix": Field("str", "PETSc options prefix", default=f"{spec.name}_"),
            "petsc": Field("options", "PETSc options under the prefix", default={}),
        }),
        "output": Section({
            "directory": Field("path", "output directory, relative to the case file"),
            "fields": Field("list", "fields to write", item=Field("str", choices=spec.fields),
                            default=list(spec.fields)),
            "every": Field("int", "write every N steps", default=10, positive=True),
            "times": Field("list", "also write at these times", item=Field(
                "quantity", dimension="time", nonnegative=True), default=[]),
            "checkpoint_every": Field("int", "checkpoint every N steps", default=20,
                                      positive=True),
            "figures": Field("bool", "draw the run's PNG pictures when it finishes (mesh "
                             "models: the main field at the last snapshot, a cut for 3D "
                             "devices, <case>_timeseries.png and <case>_series.png, `fvqp "
                             "plot` draws the rest; kinetics0d, bte_sphere, usadel and "
                             "stochastic: their own figures); false: no PNG, the other "
                             "outputs the same", default=True),
        }),
    }


@dataclass
class Case:
    """A validated case: SI values, absolute paths, and its digest.

    Attributes
    ----------
    path : str
        The case file.
    data : dict
        Normalised content (numbers in SI, defaults filled in).
    mesh_path, output_dir : str
        Absolute paths.
    digest : str
        SHA-256 of the validated case content (minus the model's run-control keys,
        ``ModelSpec.digest_exempt``) and of the mesh file (checkpoints refuse other cases).
    """

    path: str
    data: dict
    mesh_path: str
    output_dir: str
    digest: str

    @property
    def model(self) -> str:
        return self.data["model"]

    @property
    def name(self) -> str:
        return os.path.splitext(os.path.basename(self.path))[0]

    def internal(self, units):
        """This case with its values in the internal units ``units``
        (:class:`fvqp.case.internal.InternalCase`, converted once from the schema's
        declared dimensions)."""
        from .internal import InternalCase, internal_values

        schema = generic_schema(get_model_spec(self.model))
        return InternalCase(self, units, internal_values(self.data, schema, units))


def _read_toml(path: str) -> dict:
    """The TOML content of ``path``; a missing, unreadable, non-UTF-8 or binary file or
    invalid TOML is a :class:`CaseError` naming the file (and line) and the fix."""
    if not os.path.isfile(path):
        raise CaseError([f"{path}: no such case file. Fix: check the path."])
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise CaseError([f"{path}: cannot read the case file ({exc.strerror}). Fix: check "
                         "its permissions."]) from exc
    if b"\0" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\0")) + 1
        raise CaseError([f"{path}: line {line}: a NUL byte: this is a binary file, not a "
                         "TOML case file. Fix: give the .toml case file (UTF-8 text)."])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CaseError([f"{path}: line {line}: byte 0x{raw[exc.start]:02x} is not UTF-8 "
                         "(a case file is UTF-8 text; this one looks Latin-1/Windows-1252 "
                         "encoded, or binary). Fix: save it as UTF-8, e.g. `iconv -f latin1 "
                         "-t utf-8 old.toml > new.toml`."]) from exc
    try:
        return tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise CaseError([f"{path}: not valid TOML: {exc}. Fix: correct the syntax there."]) \
            from exc


def _canonical(data: dict, exempt: tuple) -> bytes:
    """The validated case as canonical JSON without the ``exempt`` dotted keys (keys that
    steer a run without changing its converged result, e.g. an iteration limit)."""
    import copy
    import json

    d = copy.deepcopy(data)
    for key in exempt:
        *parents, last = key.split(".")
        node = d
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return json.dumps(d, sort_keys=True, default=repr).encode()


def case_digest(data: dict, exempt: tuple, mesh_path: str = "") -> str:
    """SHA-256 of the validated case without the ``exempt`` dotted keys, and of the mesh
    file's bytes when ``mesh_path`` names a file: what a checkpoint records so that
    ``--resume`` refuses a changed case or mesh."""
    h = hashlib.sha256(_canonical(data, exempt))
    if mesh_path and os.path.isfile(mesh_path):
        with open(mesh_path, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()


def load_case(path: str | os.PathLike, check_mesh: bool = True,
              output_dir: str | None = None) -> Case:
    """Read, validate and cross-check a case file.

    Raises
    ------
    CaseError
        Listing every problem found, each with key, file and fix.
    """
    path = os.path.abspath(os.fspath(path))
    raw = _read_toml(path)
    err = Errors(os.path.basename(path))
    model = raw.get("model")
    if model not in model_names():
        err.add("model", f"{model!r} is not a model of fvqp." if model else "missing.",
                f"set model to one of {', '.join(repr(m) for m in model_names())}.")
        raise CaseError(err.items)
    spec = get_model_spec(model)
    for key in spec.unused_sections:
        if key in raw:
            raw.pop(key)
            err.add(key, f"the {model} model does not use a [{key}] table.",
                    f"remove [{key}] from the case file.")
    data = validate(raw, generic_schema(spec), "", err)
    base = os.path.dirname(path)
    mesh_file = (data.get("mesh") or {}).get("file")
    mesh_path = os.path.normpath(os.path.join(base, mesh_file)) if mesh_file else ""
    _check_materials(data, err)
    if spec.check is not None and not err.items:
        spec.check(data, err)
    if spec.check_given is not None and not err.items:
        spec.check_given(raw, err)
    if spec.check_files is not None and not err.items:
        spec.check_files(data, base, err)
    timed = "time" not in spec.unused_sections
    given_end = isinstance(raw.get("time"), dict) and "end" in raw["time"]
    if timed and not data["time"].get("steady") and data["time"].get("end") is None \
            and not given_end:  # an end that could not be read is reported as such
        err.add("time.end", "required for a time-dependent run.",
                "add end = \"1 us\" under [time], or set steady = true.")
    if timed and spec.steady and data["time"].get("steady") and given_end:
        # every model with a steady mode (its steady runs never read end); a model
        # without one (ModelSpec.steady: bte_sphere, bte_chip) refuses steady = true
        err.add("time.end", "a steady case (steady = true) solves for the steady state "
                "directly: it has no end time, and the run does not read it.",
                "remove end, or remove steady = true for a time-dependent run that ends there.")
    if timed and spec.steady and data["time"].get("steady"):
        # nor the time steps' keys, nor the time loop's outputs and checkpoints
        check_steady_steps(err, raw["time"])
        out = raw.get("output") if isinstance(raw.get("output"), dict) else {}
        check_steady_outputs(err, out, True)
    if timed:
        _check_times(data, err)
    if spec.uses_mesh:
        _check_source_regions(data, err)
    if check_mesh and spec.uses_mesh and mesh_file:
        _check_against_mesh(data, mesh_path, err, spec, given=raw)
    if err.items:
        raise CaseError(err.items)
    out = output_dir or data["output"]["directory"] or os.path.join("output", _stem(path))
    out = os.path.normpath(os.path.join(base if output_dir is None else os.getcwd(), out))
    return Case(path=path, data=data, mesh_path=mesh_path, output_dir=out,
                digest=case_digest(data, spec.digest_exempt, mesh_path))


def _si(seconds: float) -> str:
    return f"{seconds:g} s"


def _check_times(data: dict, err: Errors) -> None:
    """Orderings of the times of a case that cannot run: a first step below ``dt_min``,
    ``dt_min`` above ``dt_max`` (the step control would stop at the first step), and a
    source or drive window whose ``stop`` is not after its ``start``. (Pulses, windows or
    output times after ``end`` are allowed: a shortened run of a case.)"""
    t = data.get("time") or {}
    lo, dt0, hi = t.get("dt_min"), t.get("dt_initial"), t.get("dt_max")
    if lo is not None and hi is not None and lo > hi:
        err.add("time.dt_min", f"{_si(lo)} is above dt_max = {_si(hi)}.",
                "give dt_min <= dt_max.")
    if dt0 is not None and lo is not None and dt0 < lo:
        err.add("time.dt_initial", f"{_si(dt0)} is below dt_min = {_si(lo)}.",
                "give dt_initial >= dt_min.")
    for table in ("sources", "drives"):
        for i, s in enumerate(data.get(table) or []):
            if not isinstance(s, dict):
                continue
            start, stop = s.get("start") or 0.0, s.get("stop")
            if stop is not None and stop <= start:
                err.add(f"{table}[{i}].stop", f"switch-off time {_si(stop)} is not after "
                        f"the switch-on time start = {_si(start)}.",
                        "give stop > start, or leave stop out (never switched off).")


def _check_source_regions(data: dict, err: Errors) -> None:
    """A source's ``region`` is a simulated region of the case."""
    regions = data.get("regions") or {}
    active = [n for n, r in regions.items() if (r or {}).get("active", True)]
    for i, s in enumerate(data.get("sources") or []):
        name = (s or {}).get("region")
        if name is not None and name not in active:
            what = "is left out (active = false)" if name in regions else "is not a region"
            err.add(f"sources[{i}].region", f"{name!r} {what} of the case; the simulated "
                    f"regions are {', '.join(active)}.",
                    "name one of them, or leave region out (all simulated cells).")


def _cell_boxes(geo) -> tuple:
    """Bounding boxes (lower, upper corners) of the cells of ``geo``, in cell order."""
    import numpy as np

    lo, hi = [], []
    for _, conn in geo.cell_nodes:
        p = geo.points[conn]
        lo.append(p.min(axis=1))
        hi.append(p.max(axis=1))
    return np.concatenate(lo), np.concatenate(hi)


def _check_source_positions(data: dict, geo, err: Errors, mesh_name: str) -> None:
    """A source's ``position`` (mesh units) lies in a cell of the simulated mesh (of its
    ``region`` if it names one); cells are taken as their bounding boxes."""
    import numpy as np

    sources = [(i, s) for i, s in enumerate(data.get("sources") or [])
               if s and s.get("position") is not None and None not in s["position"]]
    if not sources:
        return
    lo, hi = _cell_boxes(geo)
    extent = float(np.max(hi.max(axis=0) - lo.min(axis=0))) or 1.0
    tol = 1e-9 * extent
    for i, s in sources:
        pos = list(s["position"])
        key = f"sources[{i}].position"
        if not geo.dim <= len(pos) <= 3:
            want = "[x, y, z]" if geo.dim == 3 else "[x, y] or [x, y, z]" if geo.dim == 2 \
                else "[x], [x, y] or [x, y, z]"
            err.add(key, f"{len(pos)} coordinates on a {geo.dim}D mesh.", f"write {want} "
                    "in mesh units.")
            continue
        x = np.array(pos + [0.0] * (3 - len(pos)))
        cells = np.ones(len(lo), dtype=bool)
        where = f"the simulated part of the mesh {mesh_name}"
        if s.get("region") in geo.region_names:
            cells = geo.cell_region == geo.region_names.index(s["region"])
            where = f"region {s['region']!r} of the mesh {mesh_name}"
        if not cells.any():
            continue  # a region that is not simulated: reported as sources[i].region
        inside = np.all((lo[cells] - tol <= x) & (x <= hi[cells] + tol), axis=1)
        if not inside.any():
            a, b = lo[cells].min(axis=0), hi[cells].max(axis=0)
            box = ", ".join(f"{a[k]:g}..{b[k]:g}" for k in range(max(geo.dim, len(pos))))
            err.add(key, f"{pos} (mesh units) is outside {where} (it spans {box}); the "
                    "source would deposit nothing, or only its far tail.",
                    "give a position inside the mesh (see `fvqp mesh-info`), in mesh units "
                    "([mesh] scale).")


def _check_mesh_keys(raw: dict, mesh_keys: dict, dim: int, err: Errors, mesh_name: str
                     ) -> None:
    """Keys of a top-level table that the model reads on meshes of other dimensions only
    (``ModelSpec.mesh_keys``), written in the case file ``raw``: refused, naming the keys
    this mesh reads instead (e.g. ``[angles] polar`` on a 2D mesh, whose ordinates are
    ``directions``: the run took the default ``directions`` without a word)."""
    for table, by_dim in mesh_keys.items():
        given = raw.get(table)
        if not isinstance(given, dict):
            continue
        read = by_dim.get(dim)
        if not read:
            continue  # a mesh the model does not take: refused as such
        for other, keys in sorted(by_dim.items()):
            for key in keys:
                if other == dim or key in read or key not in given:
                    continue
                err.add(f"{table}.{key}", f"read on {other}D meshes only; the mesh "
                        f"{mesh_name} is {dim}D, where it is ignored and "
                        f"{' and '.join(read)} are read instead.",
                        f"remove {key} and give {' and '.join(read)} under [{table}].")


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def _check_materials(data: dict, err: Errors) -> None:
    from ..materials import UnknownMaterialError, get_material

    for name, reg in (data.get("regions") or {}).items():
        mat = (reg or {}).get("material")
        if mat is None or reg.get("active") is False:
            continue
        try:
            get_material(mat)
        except UnknownMaterialError as exc:
            err.add(f"regions.{name}.material", str(exc).strip("'\""), "")
    ref = (data.get("units") or {}).get("reference_material")
    if ref:
        try:
            get_material(ref)
        except UnknownMaterialError as exc:
            err.add("units.reference_material", str(exc).strip("'\""), "")


def _check_against_mesh(data: dict, mesh_path: str, err: Errors, spec,
                        given: dict | None = None) -> None:
    """The case ``data`` against its mesh; ``given``: the case file's own tables (keys
    read on meshes of another dimension only, ``ModelSpec.mesh_keys``)."""
    from ..mesh import MeshError, build_geometry, read_mesh

    try:
        raw = read_mesh(mesh_path)
    except MeshError as exc:
        err.add("mesh.file", str(exc), "")
        return
    mesh_regions = list(raw.region_names)
    regions = {k: (v or {}) for k, v in (data.get("regions") or {}).items()}
    active = [n for n, r in regions.items() if r.get("active", True) and n in mesh_regions]
    if not active:
        err.add("regions", "no active region of the mesh is simulated.",
                f"add [regions.<name>] tables for some of {', '.join(mesh_regions)}.")
        return
    try:
        geo = build_geometry(raw.subset(active), strict=False)
    except MeshError as exc:
        err.add("mesh.file", str(exc), "")
        return
    for name in regions:
        if name not in mesh_regions:
            err.add(f"regions.{name}", f"the mesh {os.path.basename(mesh_path)} has no region "
                    f"{name!r}; its regions are {', '.join(mesh_regions)}.",
                    "rename the table to one of these (physical groups of the mesh).")
    for name in mesh_regions:
        if name not in regions:
            err.add("regions", f"mesh region {name!r} has no [regions.{name}] table.",
                    f"add [regions.{name}] with a material, or active = false to leave it out.")
    wanted = spec.dimension_keys.get(geo.dim, ())
    for key in wanted:
        for name, reg in regions.items():
            if reg and reg.get("active", True) and reg.get(key) is None:
                err.add(f"regions.{name}.{key}", f"required for a {geo.dim}D mesh.",
                        f"add {key} = ... ({spec.dimension_doc[key]}).")
    for dim, keys in sorted(spec.dimension_keys.items()):
        for key in keys:
            if key in wanted:
                continue
            for name, reg in regions.items():
                if reg and reg.get("active", True) and reg.get(key) is not None:
                    err.add(f"regions.{name}.{key}", f"only for {dim}D meshes; the mesh "
                            f"{os.path.basename(mesh_path)} is {geo.dim}D, where it would be "
                            "ignored.", f"remove {key} (a {geo.dim}D mesh draws the "
                            "geometry itself)." if geo.dim == 3 else f"remove {key}.")
    _check_mesh_keys(given or {}, spec.mesh_keys, geo.dim, err, os.path.basename(mesh_path))
    _check_source_positions(data, geo, err, os.path.basename(mesh_path))
    if spec.check_mesh is not None:
        spec.check_mesh(data, geo, err)
    needed = spec.required_boundaries(geo, set(active))
    bcs = data.get("boundaries") or {}
    for name in needed:
        if name not in bcs:
            err.add("boundaries", f"boundary {name!r} of the mesh has no condition.",
                    f"add [boundaries.{name}] with type = "
                    f"{' | '.join(repr(t) for t in spec.boundary_types)}.")
    optional = spec.optional_boundaries(geo, set(active)) if spec.optional_boundaries else []
    for name in bcs:
        if name not in needed and name not in optional:
            extra = f" (interior groups that may carry one: {', '.join(optional)})" \
                if optional else ""
            err.add(f"boundaries.{name}", f"{name!r} is not an exterior boundary of the "
                    f"simulated part of the mesh; its boundaries are {', '.join(needed)}"
                    f"{extra}.", "remove the table or rename it.")
