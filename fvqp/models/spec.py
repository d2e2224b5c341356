"""What a model declares about its case files (used by :mod:`fvqp.case`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class ModelSpec:
    """Case-file schema pieces and mesh requirements of a model.

    Attributes
    ----------
    name : str
    region_schema : Section
        Keys of a ``[regions.<name>]`` table.
    boundary_types, source_types : dict
        ``type`` value -> Section of a ``[boundaries.<name>]`` / ``[[sources]]`` table.
    initial_schema : Section
    fields : tuple of str
        Output fields the model can write.
    dimension_keys : dict
        Mesh dimension -> region keys then required (e.g. ``thickness`` in 2D).
    required_boundaries : callable
        ``(geometry, active_region_names) -> list`` of boundary names needing a condition.
    check : callable, optional
        ``check(data, errors)`` adds model-specific problems (e.g. a regime where the
        model does not apply) to ``errors`` (:class:`fvqp.case.schema.Errors`).
    check_given : callable, optional
        ``check_given(raw, errors)`` checks the case file's own tables before defaults
        (e.g. a key that must be written out in some setting).
    check_files : callable, optional
        ``check_files(data, case_dir, errors)`` reads and checks data files named by the
        case (e.g. measured curves to fit), relative to the case file's directory.
    check_mesh : callable, optional
        ``check_mesh(data, geometry, errors)`` checks what depends on the mesh (e.g. the
        number of ordinates on a 2D or 3D mesh); ``geometry`` is the
        :class:`fvqp.mesh.Geometry` of the simulated regions in mesh units.
    mesh_keys : dict
        Top-level table -> {mesh dimension -> its keys read on such a mesh only} (e.g.
        ``{"angles": {2: ("directions",), 3: ("polar", "azimuth")}}``); a case file giving
        one of these keys on a mesh of another dimension is told that it is not read.
    uses_mesh : bool
        Mesh-less models (0D) have no ``[mesh]``, ``[regions]``, ``[boundaries]``,
        ``[[sources]]`` tables; they declare their own top-level ``sections``.
    sections : dict
        Model-specific top-level tables, name -> :class:`~fvqp.case.schema.Section`.
    steady : bool
        The model has a steady mode (``[time] steady = true``); models that run in time
        only refuse it in their check.
    unused_sections : tuple of str
        Generic tables the model has no use for (e.g. ``("bath", "time")`` for the
        zero-temperature stochastic studies); a case file giving one is told so.
    """

    name: str
    region_schema: object = None
    boundary_types: dict = field(default_factory=dict)
    initial_schema: object = None
    source_types: dict = field(default_factory=dict)
    fields: tuple = ()
    required_boundaries: Callable | None = None
    atol_dimension: str = "temperature"
    atol_default: float = 1e-6
    dimension_keys: dict = field(default_factory=dict)
    dimension_doc: dict = field(default_factory=dict)
    #: ``check(data, errors)``: model-specific physics checks of a validated case
    check: Callable | None = None
    #: ``check_given(raw, errors)``: checks of what the case file writes out, before the
    #: schema's defaults are filled in (a key the user must choose in some setting)
    check_given: Callable | None = None
    #: dotted case keys that steer a run without changing its converged result (left out
    #: of the case digest, so a checkpoint survives changing them)
    digest_exempt: tuple = ()
    #: ``check_files(data, case_dir, errors)``: checks of data files the case names
    #: (paths relative to the case file), run by ``fvqp check`` too
    check_files: Callable | None = None
    #: ``check_mesh(data, geometry, errors)``: checks of a validated case against its
    #: mesh (geometry of the simulated regions in mesh units), run by ``fvqp check`` too
    check_mesh: Callable | None = None
    #: table -> {mesh dimension -> keys of the table read on such a mesh only}; the
    #: keys of the other dimensions, written in the case file, are refused by the mesh check
    mesh_keys: dict = field(default_factory=dict)
    #: ``(geometry, active) -> list``: interior face groups that *may* carry a condition
    #: (e.g. a tunnel junction on a marked point of a wire)
    optional_boundaries: Callable | None = None
    #: False for models without a mesh (0D kinetics, master equations ...)
    uses_mesh: bool = True
    #: False for models that run in time only (their check refuses ``[time] steady``;
    #: the loader then does not also refuse ``end`` for a steady case)
    steady: bool = True
    #: extra top-level tables of the case file: name -> Section
    sections: dict = field(default_factory=dict)
    #: generic tables (``bath``, ``time`` ...) the model does not read
    unused_sections: tuple = ()


#: ``ModelSpec.mesh_keys`` of the discrete-ordinates models (``bte``, ``phonon``,
#: ``bte_chip``): a 2D mesh takes ``[angles] directions`` in the plane, a 3D mesh
#: ``polar`` x ``azimuth`` ordinates (:func:`fvqp.ordinates.circle`,
#: :func:`fvqp.ordinates.sphere`)
ORDINATE_MESH_KEYS = {"angles": {2: ("directions",), 3: ("polar", "azimuth")}}


def bath_gap(material, temperature: float, Tc: float | None = None) -> float:
    """The gap Δ(T) [J] of the kinetic models (:func:`fvqp.spectra.gap.thermal_gap`,
    ``model="delta0"``) of ``material`` (critical temperature ``Tc`` [K] if given) at
    ``temperature`` [K] below Tc. Used by the models' case checks."""
    from ..spectra.gap import thermal_gap
    from ..units import K_B

    tc = Tc or material.Tc
    return float(thermal_gap(temperature, tc, material.gap_ratio, "delta0")) * K_B


def gap_closes_at(material, Tc: float | None = None, model: str = "delta0") -> float:
    r"""The temperature [K] at and above which a kinetic model's equilibrium gap of
    ``material`` (critical temperature ``Tc`` [K] if given) is zero
    (:func:`fvqp.spectra.gap.thermal_gap`): the material's :math:`T_c` for the α model;
    for the δ0 model (the weak-coupling gap equation with :math:`\Delta_0 = \alpha
    k_BT_c`: the gap of ``bte``, ``bte_sphere``, ``bte_chip``, ``transport`` and the
    self-consistent ``kinetics0d``) :math:`T_c' = (\alpha/\alpha_{BCS})\,T_c` when that
    is lower (Al, α = 1.70: 0.964 :math:`T_c` = 1.132 K)."""
    from ..spectra.gap import BCS_GAP_RATIO

    tc = Tc or material.Tc
    if model == "alpha":
        return tc
    return min(tc, tc * material.gap_ratio / BCS_GAP_RATIO)


def bath_above_gap(err, key: str, material, Tc: float, T: float, where: str = "",
                   model: str = "delta0", fix: str = "") -> bool:
    """Refuse (into ``err``, under ``key``) a temperature ``T`` [K] at which the model's
    gap of ``material`` is zero (:func:`gap_closes_at`): True if refused. ``where`` names
    the region, ``fix`` extends the advice."""
    limit = gap_closes_at(material, Tc, model)
    if T < limit:
        return False
    if limit >= Tc or T >= Tc:
        err.add(key, f"{T:g} K is at or above Tc = {Tc:g} K of {material.name}{where}: no "
                "gap, no quasiparticles.", f"give a bath temperature below {Tc:g} K{fix}.")
        return True
    err.add(key, f"{T:g} K is at or above {limit:.4g} K, where the gap of {material.name}"
            f"{where} closes in this model (the weak-coupling gap equation with Delta0 = "
            f"{material.gap_ratio:g} k_B Tc: Tc' = {material.gap_ratio:g}/1.764 x Tc = "
            f"{limit:.4g} K, below the measured Tc = {Tc:g} K): the film would be normal, "
            "no quasiparticles.",
            f"give a bath temperature below {limit:.4g} K{fix} (or gap_ratio = 1.764 "
            "beside the material, which closes the gap at Tc).")
    return True


#: A temperature that supplies thermal QPs (the bath, a held ``bath`` boundary) whose
#: thermal QP density is below this fraction of the hottest supply's is not judged by
#: :func:`warn_thermal_bins` (:func:`thermal_supply`): the bins miss at most all of its QPs
#: (:func:`~fvqp.spectra.qp_density.bin_thermal_error` lies in [-1, 0]), at most 1e-6 of
#: the QP number the hottest supply brings, 5e4 times below the 5 %
#: (:data:`~fvqp.spectra.qp_density.BIN_THERMAL_TOL`) the warning guards, unless the hot
#: QPs thin out more than 5e4-fold before they reach the cold supply's. A 20 mK bath
#: beside a 300 mK contact on Al (``cases/bte_constriction.toml``) holds 1e-43 of the
#: contact's density.
NEGLIGIBLE_THERMAL = 1e-6

#: A thermal background below this QP density per Cooper-pair density
#: (:math:`x_{qp} = n_{qp}/2N_0\Delta`) is not judged by :func:`warn_thermal_bins`:
#: :data:`NEGLIGIBLE_THERMAL` of the lowest densities measured, ~0.01 µm⁻³ in Al
#: (Bespalov et al. 2016, Phys. Rev. Lett. 117, 117002, and the experiments it cites;
#: with its :math:`\nu_0 \approx 2\cdot10^{10}` eV⁻¹µm⁻³ and :math:`\Delta \approx`
#: 200 µeV, :math:`2\nu_0\Delta \approx 8\cdot10^6` µm⁻³: :math:`x_{qp} \sim
#: 10^{-9}`). Missing all of such a background changes no QP number a device can show
#: by more than 1e-6 of it: Al at 20 mK holds :math:`x_{qp} \approx 10^{-44}`
#: (``cases/bte_film_pulse.toml``), Al at 100 mK :math:`\sim 10^{-9}`, Sn at 0.4 K
#: :math:`6\cdot10^{-8}` (both judged).
NEGLIGIBLE_XQP = 1e-15


def thermal_supply(delta: float, temperatures: dict[str, float]) -> tuple[float, str]:
    """The temperature at which :func:`warn_thermal_bins` judges bins above the gap
    ``delta`` when several temperatures supply QPs (``temperatures``: label -> T, one
    energy unit with :math:`k_B = 1`, e.g. ``{"[bath]": T, "[boundaries.source]": T_s}``):
    the coldest whose thermal QP density
    (:func:`~fvqp.spectra.qp_density.thermal_qp_density` at ``delta``) is at least
    :data:`NEGLIGIBLE_THERMAL` of the hottest one's — the bins' thermal error grows as
    the temperature falls (:func:`~fvqp.spectra.qp_density.bin_thermal_error`), so it
    bounds the others' — and the labels of the temperatures equal to it, joined by
    ``" and "``."""
    from ..spectra.qp_density import thermal_qp_density

    dens = {k: float(thermal_qp_density(t, delta, 1.0)) for k, t in temperatures.items()}
    top = max(dens.values())
    T = min(t for k, t in temperatures.items() if dens[k] >= NEGLIGIBLE_THERMAL * top)
    return T, " and ".join(k for k, t in temperatures.items() if t == T)


def warn_thermal_bins(case, key: str, delta: float, h: float, T: float,
                      quantum: float, source: str | None = None,
                      count: float | None = None) -> None:
    """Warn (log ``fvqp``) when bins of spacing ``h`` above the gap ``delta`` (internal
    units of ``case``) miss the thermal QP number at ``T`` by more than
    :data:`fvqp.spectra.qp_density.BIN_THERMAL_TOL`
    (:func:`~fvqp.spectra.qp_density.bin_thermal_error`: the thermal f is held at the
    nodes for the collisions' detailed balance; spacings above ~0.4 kT when Δ >> kT),
    naming ``key``, the temperature's ``source`` if given (e.g. ``"[boundaries.source]"``,
    of :func:`thermal_supply`) and the spacing that holds it. Only at INFO: a background
    below :data:`NEGLIGIBLE_XQP` QPs per Cooper pair (no device shows it), or one of less
    than one QP in the whole device (``count``, the thermal QP number the bins hold in
    the device, if the caller knows it: a background no count resolves; e.g. the 0.5 eV
    pulse of ``cases/bte_film_relaxation.toml`` brings 500 QPs of 1 meV, more after pair
    breaking, into a film that holds 0.86 thermal QPs at 100 mK).

    The grids round a requested spacing to ``quantum / round(quantum / h)`` (``2Δ`` of
    :class:`fvqp.collisions.EnergyGrid`, the smallest gap of :class:`fvqp.spectra.bins
    .BinGrid`), so the spacing named is the largest of those within the tolerance: given
    as printed, it is the spacing the run takes and holds the tolerance (a bound from
    the bisection alone can round back to the spacing warned about)."""
    import logging
    import math
    import os

    from ..spectra.qp_density import (
        BIN_THERMAL_TOL,
        bin_thermal_error,
        bin_thermal_spacing,
        thermal_qp_density,
    )

    err = bin_thermal_error(delta, h, T)
    if abs(err) <= BIN_THERMAL_TOL:
        return
    x_qp = float(thermal_qp_density(T, delta, 1.0)) / (2.0 * delta)
    # the continuum's number from the bins' (err > -1: the bins hold some of it)
    whole = count / max(1.0 + err, 1e-300) if count is not None else math.inf
    if x_qp < NEGLIGIBLE_XQP or whole < 1.0:  # a background no device or count shows
        logging.getLogger("fvqp").info(
            "%s: %s: the bins hold %.2f %% too few thermal QPs at %.4g K, a background of "
            "x_qp = %.2g QPs per Cooper pair%s: negligible, not warned.",
            os.path.basename(case.path), key, -100 * err,
            case.units.to_si(T, "temperature"), x_qp,
            f", {whole:.2g} QPs in the whole device" if count is not None else "")
        return
    fix = quantum / math.ceil(quantum / bin_thermal_spacing(delta, T, BIN_THERMAL_TOL))
    si = case.units.to_si
    logging.getLogger("fvqp").warning(
        "%s: %s: the bins of %s (%.2f kT at %.4g K%s) hold %.2f %% too few thermal QPs "
        "(the background at the gap edge). Fix: spacing at most %s holds it to %g %%.",
        os.path.basename(case.path), key, ueV(si(h, "energy")), h / T,
        si(T, "temperature"), f", the temperature of {source}" if source else "",
        -100 * err, ueV(si(fix, "energy")), 100 * BIN_THERMAL_TOL)


def ueV(joules: float) -> str:
    """An energy [J] as text in µeV, for the messages of case checks."""
    from ..units import E_CHARGE

    return f"{joules / E_CHARGE * 1e6:.4g} ueV"


def ueV_at_least(joules: float) -> str:
    """An energy [J] as text in µeV rounded *up* in its 4th digit: a value to give in a
    fix ("raise e_max to at least ...") that is not below the one needed."""
    import math

    from ..units import E_CHARGE

    x = joules / E_CHARGE * 1e6
    step = 10.0 ** (math.floor(math.log10(abs(x))) - 3) if x else 1.0
    return f"{math.ceil(x / step - 1e-9) * step:.4g} ueV"


#: Widths of a Gaussian QP source above its centre that a model's energy grid holds (the
#: default grids of transport and bte reach them; an explicit ``e_max`` below is refused,
#: :func:`check_sources_on_grid`)
SOURCE_WIDTHS = 3.0

#: Fraction of a tunnel junction's injected QPs (and of their energy) that a model's energy
#: grid may leave above its top (:func:`fvqp.spectra.injection.nis_injection_tail`): the
#: default grids of transport and kinetics0d hold the rest; an explicit ``e_max`` that
#: cuts more is refused
TUNNEL_TAIL = 1e-4


#: ``[output]`` keys of the time loop's snapshots and checkpoints, refused in a steady case
STEP_OUTPUTS = ("every", "times", "checkpoint_every")

#: ``[time]`` keys of the time steps (:func:`fvqp.models.base.bdf_options`, the fixed-step
#: marches), refused in a steady case, which takes no time steps
STEP_KEYS = ("dt_initial", "dt_min", "dt_max", "scheme", "adaptive", "rtol", "newton_tol",
             "atol")


def check_steady_outputs(err, given, steady: bool) -> None:
    """``[output]`` keys of the time loop's snapshots (:data:`STEP_OUTPUTS`) among
    ``given`` (the keys the case file writes out) in a steady case (``steady``): the
    steady solve writes its steady state, and the run dropped them without a word."""
    if not steady:
        return
    for key in STEP_OUTPUTS:
        if key in given:
            err.add(f"output.{key}", "a steady case (steady = true) writes its steady "
                    "state (one per point of a sweep): there are no time steps or times "
                    "to write, and the run does not read it.", f"remove {key}, or remove "
                    "steady = true and give [time] end for a time-dependent run.")


def check_steady_steps(err, given) -> None:
    """``[time]`` keys of the time steps (:data:`STEP_KEYS`) among ``given`` (the keys the
    case file writes out) in a steady case: the steady solve takes no time steps, and the
    run dropped them without a word."""
    for key in STEP_KEYS:
        if key in given:
            err.add(f"time.{key}", "a steady case (steady = true) solves for the steady "
                    "state directly: it takes no time steps, and the run does not read it.",
                    f"remove {key}, or remove steady = true and give end for a "
                    "time-dependent run.")


def check_times_unread(output: dict, err, run: str) -> None:
    """``[output] times`` written out (``output``: the case file's table) for a transient
    on the fixed-step loop (:func:`fvqp.models.base.fixedstep.march_fixed`; ``run`` names
    it), which writes every ``[output] every`` steps and at the end: it has no stop
    times, and the run dropped them without a word."""
    if "times" in output:
        err.add("output.times", f"{run} writes its snapshots every [output] every steps "
                "and at the end: it has no output times, and the run does not read them.",
                "remove times (choose every, and dt_initial so that the steps meet the "
                "times wanted).")


def check_fields_unread(output: dict, err, model: str, fields: tuple) -> None:
    """``[output] fields`` written out (``output``: the case file's table) for a model
    that writes every one of its ``fields`` whatever the list says: refused, naming the
    key (the run dropped it without a word)."""
    if "fields" in output:
        err.add("output.fields", f"{model} writes all of its fields ({', '.join(fields)}) "
                "in every snapshot: the run does not read the list.", "remove fields.")


def check_sources_on_grid(err, sources, top: float, key: str = "energy.e_max",
                          kind: str = "quasiparticle", e_max_for=None,
                          label: str | None = None) -> None:
    """Each Gaussian source of type ``kind`` lies below the grid's ``top`` [J] up to
    :data:`SOURCE_WIDTHS` widths above its centre: the models normalise a source's
    spectrum on the grid, so a cut one would deposit its particles piled up below the top
    without a word. ``e_max_for(top)``: the ``e_max`` that gives a grid top (default: the
    same), for the fix; ``label``: what the source is called (default ``sources[i]``)."""
    what = "QPs" if kind == "quasiparticle" else "phonons"
    for i, s in enumerate(sources or []):
        if (s or {}).get("type") != kind:
            continue
        hi = s["energy"] + SOURCE_WIDTHS * s["width"]
        if hi > top * (1 + 1e-12):
            name = label or f"{kind} source sources[{i}]"
            err.add(key, f"the grid ends at {ueV(top)}, below the spectrum of {name} "
                    f"({ueV(s['energy'])} + {SOURCE_WIDTHS:g} widths = "
                    f"{ueV(hi)}): it would be cut and its {what} piled up below the top.",
                    f"raise e_max to at least "
                    f"{ueV_at_least(e_max_for(hi) if e_max_for else hi)}, or leave it out "
                    "(the default grid holds it).")


def check_sources_above_gap(err, sources, gaps: dict) -> None:
    """Each Gaussian QP source is centred above the gap of the regions it is deposited in
    (its ``region``, else the smallest of ``gaps``: region name -> gap [J]): below, there
    are no states, and the models' normalisation on the states would put all its QPs at
    the gap edge, their number set by the deposited energy, without a word."""
    if not gaps:
        return
    for i, s in enumerate(sources or []):
        if (s or {}).get("type") != "quasiparticle":
            continue
        region = s.get("region") if s.get("region") in gaps else min(gaps, key=gaps.get)
        gap = gaps[region]
        if s["energy"] < gap:
            err.add(f"sources[{i}].energy", f"{ueV(s['energy'])} lies below the gap "
                    f"{ueV(gap)} of region {region!r}, where the source deposits QPs: there "
                    "are no states there, and its QPs would all be put at the gap edge.",
                    f"give an energy a few widths above the gap, {ueV_at_least(gap)}, "
                    "or deposit it in a region with a lower gap.")

def check_bath_and_grid(err, material, Tc: float, temperature: float, e_max: float | None,
                        e_max_key: str, fix: str, model: str = "delta0") -> None:
    """The checks of a single-material kinetic case: the bath below the temperature
    where the model's gap closes (:func:`gap_closes_at`; ``model`` that of the case's
    gap), and a grid top ``e_max`` (key ``e_max_key``, ``None``: the default) above the
    gap at the bath; ``fix`` completes the advice for ``e_max``."""
    if bath_above_gap(err, "bath.temperature", material, Tc, temperature, model=model):
        return
    gap = bath_gap(material, temperature, Tc)
    if e_max is not None and e_max <= gap:
        err.add(e_max_key, f"{ueV(e_max)} is not above the gap {ueV(gap)} of "
                f"{material.name} at the bath: the grid would hold no states.",
                f"give e_max above {ueV(gap)}{fix}")
