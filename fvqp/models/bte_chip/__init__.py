r"""The chip chain: an energy deposit → travelling phonons → pair breaking in the films.

Quasiparticles in the superconducting films (the ``bte`` model with inelastic collisions,
:mod:`fvqp.models.bte.inelastic`) coupled to the transported phonon field of the
``phonon`` model (:mod:`fvqp.models.phonon`) in every region: substrates, films and their
interfaces (BoltzPhlow notes Eqs. 38–40). In a film cell the collision layer's local
phonons *are* the cell's angle-averaged phonon occupation; QPs emit isotropically into
every direction and absorb from the angle average. One step: the QP + local-phonon
collision step (Newton, no escape term) from the film's :math:`\bar n`, its phonon change
added to every ordinate, then phonon streaming (:mod:`.coupling`). Energy QPs + phonons
is conserved to the solver tolerances. See ``docs/theory_phonon.md`` (the chip chain).

A region with a ``material`` is a QP film (its ``medium`` defaults to the material:
Al, Nb or Ta); regions without one carry phonons only. ``[qp] model = "transport"``
puts diffusive ``transport`` QPs in the films instead (:mod:`.films`): their local
phonons are the transported angle average too, in place of the escape time.
"""

from __future__ import annotations

from ...case.schema import Field, Section
from ..base.schema import MATERIAL_OVERRIDES, check_material_overrides, ordinates_spec
from ..bte import _REGION as _BTE_REGION
from ..phonon import (
    _BOUNDARIES,
    _INITIAL,
    _REGION,
    _SOURCES,
    MARCH_UNREAD,
    check_interfaces_given,
    check_march_given,
)
from ..phonon import _SECTIONS as _PHONON_SECTIONS
from ..spec import ORDINATE_MESH_KEYS, ModelSpec

#: the film material's constants a film region may override (SI, source "case override"):
#: those the ``bte`` sub-case of the films takes (:mod:`.driver`), so the chip offers
#: exactly what reaches the QPs; the media's sound velocities come with the phonon
#: region's fields
FILM_OVERRIDES = tuple(k for k in MATERIAL_OVERRIDES if k in _BTE_REGION.fields)

_CHIP_REGION = Section({
    **{k: _BTE_REGION.fields[k] for k in FILM_OVERRIDES},
    **{k: v for k, v in _REGION.fields.items() if k not in ("absorption_time",
                                                            "absorption_threshold")},
    "medium": Field("str", "phonon medium from fvqp/materials/substrates.toml (Si, Ge, "
                    "Al2O3, Al, Nb, Ta); default: the film's material"),
    "material": Field("str", "superconducting film material (QPs are simulated in this "
                      "region, coupled to its phonons by the collision layer)"),
    "qp_mean_free_path": Field("quantity", "elastic QP mean free path in the film "
                               "(default: the material's, l = d D / v_F)",
                               dimension="length", positive=True),
})

_SECTIONS = {
    # the chip's own [time] (replaces the generic one): fixed steps, scheme default bdf1
    "time": Section({
        "steady": Field("bool", "refused: the chip chain runs in time only", default=False),
        "end": Field("quantity", "end time", dimension="time", positive=True),
        "dt_initial": Field("quantity", "the fixed time step", dimension="time",
                            positive=True),
        "scheme": Field("str", "time step of the coupled chain: backward Euler "
                        "(\"bdf1\", first order, keeps occupations positive) or BDF2 "
                        "(\"bdf2\", second order from the second step, [chain] coupling "
                        "= \"coupled\" only; not positivity preserving)", default="bdf1",
                        choices=("bdf1", "bdf2")),
        "adaptive": Field("bool", "steps chosen by the local error of the scheme "
                          "(dt_initial the first; the coupled step only; "
                          "fvqp.models.bte_chip.adaptive)", default=False),
        "rtol": Field("float", "adaptive steps: relative local error per step "
                      "(default 1e-2)", positive=True),
        "error_floor": Field("float", "adaptive steps: the error floor of an occupation, "
                             "as a fraction of the largest of its kind (default 1e-2)",
                             positive=True),
        "dt_min": Field("quantity", "adaptive steps: the shortest step (default 1e-9 "
                        "dt_initial)", dimension="time", positive=True),
        "dt_max": Field("quantity", "adaptive steps: the longest step", dimension="time",
                        positive=True),
    }),
    "interfaces": _PHONON_SECTIONS["interfaces"],
    "angles": _PHONON_SECTIONS["angles"],
    "energy": Section({
        "spacing": Field("quantity", "QP bin width h; the phonon nodes are Omega_q = "
                         "(q+1) h of the collision layer (default kT_bath / 4)",
                         dimension="energy", positive=True, internal="energy"),
        "e_max": Field("quantity", "top of the QP grid (phonons reach e_max + gap; "
                       "default: above the deposited phonon spectrum)",
                       dimension="energy", positive=True, internal="energy"),
    }),
    "chain": Section({
        "coupling": Field("str", "time step of the chain: backward Euler of the whole "
                          "system by a converged coupled iteration (\"coupled\"), or the "
                          "first-order Lie splitting of collisions and transport "
                          "(\"split\"; docs/theory_phonon.md)", default="coupled",
                          choices=("coupled", "split")),
        "rtol": Field("float", "stopping test of the coupled iteration: the QPs' film "
                      "phonons and the transported angle average agree to rtol at every "
                      "energy node, relative to that node's largest film occupation",
                      default=1e-4, positive=True),
        "max_iterations": Field("int", "limit of the coupled iteration per step (energy "
                                "and QP number stay exact when it is reached)",
                                default=60, positive=True),
        "start": Field("str", "the transport rate that the coupled iteration starts "
                       "from: that of a phonon sweep at the QP rates of the step's start "
                       "(\"sweep\"; one QP Newton step less per step) or 0 (\"zero\", the "
                       "default before 2026-11-25); the same converged step",
                       default="sweep", choices=("sweep", "zero")),
        "confirm": Field("str", "how an iterate of the coupled iteration is accepted: "
                         "without another phonon sweep when a bound on what that sweep "
                         "would change (the phonon systems' diagonal dominance) keeps "
                         "the mismatch within rtol (\"bound\"; its start sweep to "
                         "1e-9), or always by the sweep (\"sweep\", the default before "
                         "2026-11-27; start sweep to 1e-6); the same tolerance",
                         default="bound",
                         choices=("bound", "sweep")),
    }),
    "qp": Section({
        "model": Field("str", "QPs of the films: \"bte\" (discrete ordinates, elastic "
                       "mean free path) or \"transport\" (diffusive, dirty limit; its "
                       "escape time replaced by the transported phonons: "
                       "docs/theory_phonon.md)", default="bte",
                       choices=("bte", "transport")),
        "jacobian": Field("str", "model = \"transport\": its Newton systems "
                          "([numerics] jacobian of the transport model)", default="auto",
                          choices=("auto", "assembled", "matrix_free", "schur")),
        "wall": Field("str", "model = \"bte\": QP condition on every film face (QPs "
                      "stay in their film; transport films: insulating)",
                      default="specular", choices=("specular", "diffuse")),
        "preconditioner": Field("str", "model = \"bte\": step 1 of the QP Newton "
                                "preconditioner: \"sweep\" (transport sweeps + the "
                                "global isotropic coarse level, cost linear in the film "
                                "cells) or \"lu\" (one sparse LU of the film QP system; "
                                "the default before 2026-11-23)", default="sweep",
                                choices=("sweep", "lu")),
        "coarse": Field("str", "model = \"bte\": the QP Newton preconditioner's global "
                        "isotropic coarse level (the films' cells x (QP bins + phonon "
                        "nodes)): \"exact\" (a sparse LU, redundant on every rank: the "
                        "films are one cell thick, their coarse graph planar) or "
                        "\"inexact\" (GMRES with ILU(0) to 1e-3, the bte model's default "
                        "with sweeps and the chip's before 2026-11-27; for films of very "
                        "many cells)", default="exact", choices=("exact", "inexact")),
        "petsc": Field("options", "PETSc options of the QP Newton solve (prefix "
                       "chip_qp_)", default={}),
    }),
}

FIELDS = ("phonon_energy_density", "phonon_number_density", "qp_density", "qp_excess",
          "region")


def _check(data, err) -> None:
    from ...materials import UnknownMaterialError, UnknownMediumError, get_medium
    from ..base.schema import case_material
    from ..spec import bath_above_gap

    films, seen = 0, {}
    for name, reg in data["regions"].items():
        if not reg.get("active", True):
            continue
        med = reg.get("medium") or reg.get("material")
        if not med:
            err.add(f"regions.{name}.medium", "a region needs a phonon medium.",
                    'add medium = "Si" (see fvqp/materials/substrates.toml).')
            continue
        try:
            m = get_medium(med)
        except UnknownMediumError as exc:
            err.add(f"regions.{name}.medium", str(exc), "choose one of the listed media.")
        else:  # medium name -> (its regions, the medium), as the phonon model's check
            seen.setdefault(m.name, ([], m))[0].append(name)
        films += bool(reg.get("material"))
        check_material_overrides(reg, f"regions.{name}", err)
        if reg.get("material") and not err.items:  # a film: below its gap's closing
            try:
                mat = case_material(reg)
            except (UnknownMaterialError, TypeError):
                continue  # reported by the films' own checks
            tc = reg.get("Tc") or mat.Tc
            bath_above_gap(err, f"regions.{name}.Tc" if reg.get("Tc") else
                           "bath.temperature", mat, tc, data["bath"]["temperature"],
                           where=f" (region {name})")
    if not films:
        err.add("regions", "no QP film: no region has a material.",
                'give the films material = "Al" (or use model = "phonon").')
    if (data.get("interfaces") or {}).get("model") == "amm_modes":
        err.add("interfaces.model", "mode conversion ('amm_modes') needs the longitudinal "
                "and transverse phonon branches; the chip chain has one effective branch.",
                'choose model = "amm" or "dmm".')
    if (data.get("qp") or {}).get("model") == "transport":
        _check_transport_films(data, err)
    t = data.get("time") or {}
    if t.get("scheme") == "bdf2" and (data.get("chain") or {}).get("coupling") == "split":
        err.add("time.scheme", "BDF2 needs the coupled step (the Lie splitting is first "
                "order whatever the scheme).",
                'set [chain] coupling = "coupled", or scheme = "bdf1".')
    if t.get("steady"):
        err.add("time.steady", "the chip chain runs in time only.", "remove steady = true.")
    elif not t.get("dt_initial"):
        err.add("time.dt_initial", "the chip chain runs with a fixed step.",
                'add dt_initial = "1 ns".')
    for i, s in enumerate(data.get("sources") or []):
        if s and s.get("deposit") is None and s.get("power") is None:
            err.add(f"sources[{i}].deposit", "a deposit or a power is needed.",
                    'add deposit = "1 keV".')
    built = None if err.items else _phonon_grid(data)  # (grid, gap) as the run builds it
    if built is not None:
        _check_deposits_on_grid(data, err, built)
    if built is not None and not err.items:
        _check_phonon_grid(data, err, seen, built)


def grid_top(data) -> float | None:
    """The ``[energy] e_max`` of the films' QP grid of the case ``data``: the given one,
    by default the highest deposit's energy + :data:`fvqp.models.spec.SOURCE_WIDTHS`
    widths (above the deposited phonons), None without either (the QP model's own
    default); in the units of ``data`` (the one rule of the checks and of
    :class:`.driver.ChipSimulation`, both on the SI values)."""
    from ..spec import SOURCE_WIDTHS

    top = (data.get("energy") or {}).get("e_max")
    if top is None:
        top = max([s["energy"] + SOURCE_WIDTHS * s["width"]
                   for s in data.get("sources") or [] if s], default=0.0)
    return top if top > 0 else None


def _phonon_grid(data):
    """``(grid, gap)``: the bins of the films' QPs and of the collision layer's phonon
    nodes Omega_q = (q+1) h (SI) of the validated case ``data`` as the run builds them
    (:class:`.driver.ChipSimulation`, e_max of :func:`grid_top`; the grids of
    :func:`fvqp.models.bte.simulation.bin_limits` and
    :func:`fvqp.models.transport.grid.bin_grid`), and the film gap between ``[energy]
    e_max`` and the phonon top (the highest with bte films, the lowest with transport
    films); None without an active film."""
    from types import SimpleNamespace

    from ...units import K_B
    from ..base.schema import case_material
    from ..spec import bath_gap

    energy = dict(data.get("energy") or {})
    top = grid_top(data)
    if top is not None:
        energy["e_max"] = top
    T = data["bath"]["temperature"]
    gaps = [bath_gap(case_material(reg), T) for reg in data["regions"].values()
            if reg.get("active", True) and reg.get("material")]
    if not gaps:
        return None
    if (data.get("qp") or {}).get("model") == "transport":
        from ..transport.grid import bin_grid

        return bin_grid(energy, gaps, K_B * T, [], False), min(gaps)
    from ..bte.simulation import _bin_grid, bin_limits

    h, e_max, w_max = bin_limits(energy, min(gaps), max(gaps), K_B * T, [], True)
    return _bin_grid(min(gaps), SimpleNamespace(gap=gaps), h, e_max, w_max), max(gaps)


def _check_phonon_grid(data, err, seen: dict, built: tuple) -> None:
    """The phonon model's checks of the deposits and the grid on the collision layer's
    nodes (``built``: :func:`_phonon_grid`; ``seen``: medium name -> (its regions, the
    medium)): a
    deposit centred below the first node's bin is refused, as is one above the Debye
    energy of its medium, and a phonon top above a medium's Debye energy is warned about
    (:func:`fvqp.models.phonon._check_sources_above_first_bin`,
    :func:`fvqp.models.phonon._check_debye`)."""
    from ..phonon import _check_debye, _check_sources_above_first_bin
    from ..spec import ueV

    g, gap = built
    _check_sources_above_first_bin(data, err, (
        "energy.spacing", g.h, f"the QP bin width {ueV(g.h)} ([energy] spacing, fitted to "
        "the gap)", lambda e: f"lower [energy] spacing to at most {ueV(e)}."))
    _check_debye(data, err, seen, g.n_ph * g.h, e_max_for=lambda top: top - gap)


def _check_deposits_on_grid(data, err, built: tuple) -> None:
    """An explicit ``[energy] e_max`` puts the top phonon bin (its node reaches e_max +
    the films' highest gap with bte films, + the lowest with transport films, rounded up to
    a node: the grids of :func:`fvqp.models.bte.simulation.bin_limits` and
    :func:`fvqp.models.transport.grid.bin_grid`, built here as the run builds them) above
    every deposit's spectrum to :data:`fvqp.models.spec.SOURCE_WIDTHS` widths
    (:func:`fvqp.models.spec.check_sources_on_grid`; the default e_max:
    :func:`grid_top`)."""
    from ..spec import check_sources_on_grid

    if (data.get("energy") or {}).get("e_max") is None:
        return
    g, gap = built  # :func:`_phonon_grid`
    check_sources_on_grid(err, data.get("sources"), (g.n_ph + 0.5) * g.h, kind="phonons",
                          e_max_for=lambda top: top - gap)


def _check_transport_films(data, err) -> None:
    """``[qp] model = "transport"``: the films' QPs are diffusive — no mean free path or
    Fermi velocity (bte keys) — and need a diffusion constant."""
    from ...materials import UnknownMaterialError, get_material

    for name, reg in data["regions"].items():
        if not reg.get("active", True) or not reg.get("material"):
            continue
        for key in ("qp_mean_free_path", "fermi_velocity"):
            if reg.get(key) is not None:
                err.add(f"regions.{name}.{key}", "transport films are diffusive: this "
                        "key of bte films has no effect.",
                        'remove it, or set [qp] model = "bte".')
        try:
            mat = get_material(reg["material"])
        except UnknownMaterialError:
            continue
        if not (reg.get("diffusion_constant") or reg.get("resistivity")
                or mat.diffusion_constant or mat.resistivity):
            err.add(f"regions.{name}.diffusion_constant",
                    f"{mat.name} has no diffusion constant or resistivity in the "
                    "database (transport films need one).",
                    'give diffusion_constant = "6e-3 m^2/s".')


#: ``[qp]`` keys read with one film model only
_QP_KEYS_OF = {"bte": ("jacobian",), "transport": ("wall", "preconditioner", "coarse")}


def _check_qp_given(raw, err) -> None:
    """``[qp]`` keys of the other film model, written out in the case file, have no
    effect: refused with the key (e.g. ``coarse`` with transport films)."""
    qp = raw.get("qp") if isinstance(raw.get("qp"), dict) else {}
    model = qp.get("model", "bte")
    for key in _QP_KEYS_OF.get(model, ()):
        if key in qp:
            other = "transport" if model == "bte" else "bte"
            err.add(f"qp.{key}", f"a key of {other} films: the {model} films of this "
                    "case do not read it.", f'remove it, or set [qp] model = "{other}".')


def _check_given(raw, err) -> None:
    """The phonon model's checks of what the case file writes out
    (:func:`fvqp.models.phonon.check_interfaces_given`,
    :func:`fvqp.models.phonon.check_march_given`)."""
    check_interfaces_given(raw, err)
    _check_qp_given(raw, err)
    t = raw.get("time") if isinstance(raw.get("time"), dict) else {}
    if t.get("adaptive") is True:
        check_march_given(raw, err, "the chip chain", read=MARCH_UNREAD)
        c = raw.get("chain") if isinstance(raw.get("chain"), dict) else {}
        if c.get("coupling") == "split":
            err.add("time.adaptive", "adaptive steps are taken with the coupled chain "
                    "(the Lie splitting's error is not the one estimated).",
                    '[chain] coupling = "coupled", or adaptive = false.')
        return
    check_march_given(raw, err, "the chip chain", read=("adaptive",))
    if "error_floor" in t:
        err.add("time.error_floor", "the chip chain marches fixed steps of dt_initial: "
                "no step is tested by the local error, and the run does not read it.",
                "remove error_floor, or set adaptive = true.")


SPEC = ModelSpec(
    name="bte_chip", region_schema=_CHIP_REGION, boundary_types=_BOUNDARIES,
    initial_schema=_INITIAL, source_types=_SOURCES, fields=FIELDS, check=_check,
    check_given=_check_given, mesh_keys=ORDINATE_MESH_KEYS, sections=_SECTIONS,
    digest_exempt=("time.end",), steady=False, **ordinates_spec(film=False),
)


def run(case, **kwargs):
    """Run a validated chip case; see :func:`fvqp.models.bte_chip.driver.run`."""
    from .driver import run as _run

    return _run(case, **kwargs)
