r"""Phonon Boltzmann transport on device meshes by discrete ordinates.

The unknown is the phonon occupation :math:`n(\mathbf r, \Omega, \hat\Omega)` per cell,
energy bin and ordinate (:mod:`fvqp.ordinates`: Gauss–Legendre x azimuth sphere in 3D,
in-plane circle on 2D meshes), with one effective acoustic branch per medium (Debye-averaged
velocity; substrates and film metals of :mod:`fvqp.materials.substrates`) or a longitudinal
and a transverse branch (``[phonons] branches = "lt"``; bulk mixing between them:
:mod:`.branches`). Free surfaces reflect specularly or diffusely, a bath boundary (chip
holder) absorbs and emits at its temperature, interfaces between media transmit by acoustic
mismatch (angle-resolved, reciprocal) or diffuse mismatch; bulk isotope scattering
(:math:`A\nu^4`, elastic) and anharmonic down-conversion (:math:`B\nu^5`, energy conserving)
are optional per region; deposits at a point, in a region or along a track, with a Gaussian
energy spectrum. ``[slices] energies`` with the output field ``n_slices``: cell fields
``n_slice_<k>``, the angle-averaged occupation :math:`\bar n` of the energy node nearest to
each energy (the nodes used: ``slice_energies_ueV`` in summary.json). See
``docs/theory_phonon.md``.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from ...case.schema import Field, Section
from ...units import E_CHARGE
from ..base.schema import (
    PLACEMENT,
    POWER_TIMING,
    PULSE_TIMING,
    material_overrides,
    named_boundaries,
    slices_section,
    unlabelled_boundary,
)
from ..spec import ORDINATE_MESH_KEYS, ModelSpec
from .branches import MIXING, SPECTRA
from .decay_angles import ANGLES

log = logging.getLogger("fvqp.phonon")

#: the medium's constants a region may override (SI; :meth:`PhononMedium.replace
#: <fvqp.materials.substrates.PhononMedium.replace>`, source "case override")
MEDIUM_OVERRIDES = ("sound_velocity_L", "sound_velocity_T")

_REGION = Section({
    "medium": Field("str", "phonon medium from fvqp/materials/substrates.toml (Si, Ge, "
                    "Al2O3, Al, Nb, Ta); required for active regions"),
    # the medium's sound velocities (SI in the internal case; the Debye velocity, the
    # impedance and the density of states follow them)
    **{k: replace(f, doc=f"{f.doc.split(' (default')[0]} of the medium (default: the "
                     f"medium's {k} in substrates.toml; recorded as \"case override\"); "
                     "sets the branch velocity, the Debye average and the acoustic "
                     "impedance") for k, f in material_overrides(*MEDIUM_OVERRIDES).items()},
    "active": Field("bool", "false leaves the region out; its faces with simulated "
                    "regions are walls of the [interfaces] wall kind", default=True),
    "thickness": Field("quantity", "thickness of the region (2D meshes)",
                       dimension="length", positive=True),
    "isotope_scattering": Field("bool", "elastic isotope scattering A nu^4 (if the medium "
                                "has A)", default=True),
    "anharmonic_decay": Field("bool", "anharmonic down-conversion B nu^5 (if the medium has "
                              "B)", default=True),
    "mean_free_path": Field("quantity", "extra elastic isotropic scattering with an "
                            "energy-independent mean free path (defects, grain boundaries "
                            "of polycrystalline films; diffusive limit D = v l / 3)",
                            dimension="length", positive=True),
    "absorption_time": Field("quantity", "phonons above absorption_threshold are absorbed "
                             "at this rate (e.g. pair breaking in a film; energy reported)",
                             dimension="time", positive=True),
    "absorption_threshold": Field("quantity", "lowest absorbed phonon energy (e.g. 2 Delta)",
                                  dimension="energy", default=0.0, nonnegative=True,
                                  internal="energy"),
})

_BOUNDARIES = {
    "specular": Section({}, doc="free surface, mirror reflection"),
    "diffuse": Section({}, doc="free surface, isotropic (Lambertian) re-emission"),
    "absorbing": Section({}, doc="every phonon reaching it leaves, none enter"),
    "bath": Section({
        "temperature": Field("quantity", "temperature of the holder (default: the bath)",
                             dimension="temperature", positive=True),
    }, doc="chip holder: absorbs, and emits thermal phonons n_B(Omega, T)"),
}

_SOURCES = {"phonons": Section({
    "energy": Field("quantity", "centre of the deposited energy spectrum (default 3 meV: "
                    "the down-converted spectrum of a particle deposit)",
                    dimension="energy", default=3e-3 * E_CHARGE, positive=True,
                    internal="energy"),
    "width": Field("quantity", "Gaussian width of the energy spectrum (0: one bin)",
                   dimension="energy", default=1e-3 * E_CHARGE, nonnegative=True,
                   internal="energy"),
    "deposit": Field("quantity", "deposited energy of a Gaussian pulse (or give power)",
                     dimension="energy", positive=True, internal="total_energy"),
    **PULSE_TIMING,
    "power": Field("quantity", "steady deposited power (instead of a pulse)",
                   dimension="power", positive=True),
    **POWER_TIMING,
    **PLACEMENT,
    "direction": Field("list", "track direction [x, y, z] (with length)",
                       item=Field("float")),
    "length": Field("quantity", "track length from position along direction (dE/dx = "
                    "deposit / length)", dimension="length", positive=True),
}, doc="isotropic phonons with a Gaussian energy spectrum: point (position, radius), "
       "region, or track (position, direction, length, radius)")}

_INITIAL = Section({
    "temperature": Field("quantity", "uniform thermal initial occupation (default: bath)",
                         dimension="temperature", positive=True),
})

_SECTIONS = {
    "interfaces": Section({
        "model": Field("str", "transmission between different media: 'amm' (acoustic "
                       "mismatch per ordinate angle, Snell refraction, reciprocal "
                       "re-emission), 'dmm' (diffuse mismatch) or 'amm_modes' (elastic "
                       "mismatch of a welded interface with L/T mode conversion: an L "
                       "phonon at oblique incidence is reflected and transmitted as L and "
                       "T; the T branch is SV and SH with equal weight; needs [phonons] "
                       "branches = 'lt')", default="amm",
                       choices=("amm", "dmm", "amm_modes")),
        "reflection": Field("str", "reflected part (same branch) at amm and amm_modes "
                            "interfaces: 'specular' (mirror ordinate) or 'diffuse' "
                            "(exactly reciprocal on any face)",
                            default="specular", choices=("specular", "diffuse")),
        "wall": Field("str", "condition of exterior faces without a boundary group",
                      default="diffuse", choices=("diffuse", "specular")),
    }),
    "phonons": Section({
        "branches": Field("str", "'effective': one branch at the Debye-averaged velocity "
                          "(3/v_D^3 = 1/v_L^3 + 2/v_T^3); 'lt': a longitudinal and a "
                          "(doubly degenerate) transverse branch, each with its velocity "
                          "and impedance (mode conversion at interfaces with [interfaces] "
                          "model = 'amm_modes'; bulk mixing: branch_mixing)",
                          default="effective", choices=("effective", "lt")),
        "branch_mixing": Field("str", "with branches = 'lt': 'isotropic' (isotope "
                               "scattering A nu^4 across the branches, the new branch "
                               "drawn by its share of the density of states; L decays "
                               "into T + T and L + T by the medium's "
                               "anharmonic_TT_fraction; T does not decay) or 'none' "
                               "(isotope scattering within each branch; L decay products "
                               "split over L and T by their share of the density of "
                               "states); no effect with one effective branch",
                               default="isotropic", choices=MIXING),
        "decay_spectrum": Field("str", "with branch_mixing = 'isotropic': how an L decay "
                                "shares its energy between the two products: "
                                "'kinematic' (the energy spectra of L -> L + T and "
                                "L -> T + T in Tamura's isotropic model, PRB 31, 2574 "
                                "(1985); T + T needs the medium's anharmonic_beta and "
                                "anharmonic_gamma) or 'uniform' (every split (ih, "
                                "Omega - ih) alike)", default="kinematic",
                                choices=SPECTRA),
        "decay_angles": Field("str", "directions of the L decay products: 'kinematic' "
                              "(on the cone that momentum conservation k = k1 + k2 "
                              "fixes around the parent's direction, per product energy "
                              "and channel; needs branch_mixing = 'isotropic' and "
                              "decay_spectrum = 'kinematic') or 'isotropic' (emitted "
                              "alike in every direction); default 'kinematic' where "
                              "L decays by channel with the kinematic spectra, else "
                              "'isotropic'", choices=ANGLES),
    }),
    "energy": Section({
        "bins": Field("int", "number of energy bins (Omega_j = (j+1) h)", default=12,
                      positive=True),
        "e_max": Field("quantity", "top of the grid (default: source energy + 3 widths)",
                       dimension="energy", positive=True, internal="energy"),
    }),
    "slices": slices_section("energies of the phonon occupation slices written as fields "
                             "n_slice_<k> (output field name n_slices): the angle-averaged "
                             "occupation n of the energy node Omega_j = (j+1) h nearest to "
                             "each energy (both branches by their density of states with "
                             "branches = 'lt'); each within the grid, h/2 to e_max + h/2 "
                             "(summary.json slice_energies_ueV: the nodes used)"),
    "angles": Section({
        "directions": Field("int", "2D: in-plane ordinates", default=16),
        "polar": Field("int", "3D: Gauss-Legendre nodes in cos(theta)", default=4),
        "azimuth": Field("int", "3D: uniform azimuths", default=8),
    }),
}

#: ``phonon_energy_flux`` is written as one 3-component cell array (a vector per cell)
#: [W/m^2], :math:`\mathbf q = h\sum_j\Omega_jg_jv_j\sum_kw_k\hat\Omega_kn_{jk}`;
#: ``n_slices`` writes the cell fields ``n_slice_<k>`` of the ``[slices] energies``
FIELDS = ("phonon_energy_density", "phonon_number_density", "phonon_energy_flux", "region",
          "n_slices")


def _check_sources_on_grid(data, err) -> None:
    """An explicit ``[energy] e_max`` holds every deposit's spectrum to
    :data:`fvqp.models.spec.SOURCE_WIDTHS` widths above its centre (up to the top bin's
    edge, e_max + h/2; :func:`fvqp.models.spec.check_sources_on_grid`; the default
    e_max is the highest source's energy + 3 widths)."""
    from ..spec import check_sources_on_grid

    e = data.get("energy") or {}
    if e.get("e_max") is not None:
        widen = 1 + 0.5 / e["bins"]
        check_sources_on_grid(err, data.get("sources"), e["e_max"] * widen, kind="phonons",
                              e_max_for=lambda top: top / widen)


def grid_top(data, k_B: float | None = None) -> float:
    """The top node e_max of the phonon grid of the case ``data``: ``[energy] e_max``,
    by default 12 k_B T_bath or the highest source's energy + :data:`~fvqp.models.spec
    .SOURCE_WIDTHS` widths (the one rule of
    the checks, in J, and of :class:`.driver.PhononSimulation`, ``k_B = 1`` in internal
    units)."""
    from ..spec import SOURCE_WIDTHS

    if k_B is None:
        from ...units import K_B as k_B

    top = (data.get("energy") or {}).get("e_max")
    if top is None:
        top = 12 * k_B * ((data.get("bath") or {}).get("temperature") or 0.0)
        for s in data.get("sources") or []:
            if s:
                top = max(top, s["energy"] + SOURCE_WIDTHS * s["width"])
    return top


def _check_sources_above_first_bin(data, err, grid=None) -> None:
    r"""Each deposit is centred on the grid, at or above the first bin's lower edge
    :math:`h/2` (nodes :math:`\Omega_j = (j+1)h`, :math:`h` = e_max / bins): the driver
    normalises the spectrum sampled on the nodes to the deposited energy, so a source
    centred below puts all its energy into the first node(s) — the energy is conserved,
    but in phonons of the wrong energy, too few of them, with the isotope and decay rates
    (:math:`\nu^4`, :math:`\nu^5`) of that node. ``grid``: ``(key, h, how h is set,
    fix(source energy))`` of another model's nodes :math:`(j+1)h` (``bte_chip``: the
    collision layer's); default the phonon model's (key ``energy.bins``)."""
    import math

    from ..spec import ueV

    if grid is None:
        energy = data.get("energy") or {}
        bins = energy.get("bins")
        top = grid_top(data)
        if not bins or not top > 0:  # (reported by the schema)
            return
        h = top / bins

        def fix(e: float) -> str:
            need = math.ceil(top / (2 * e) * (1 - 1e-12))
            lower = (f", or lower [energy] e_max to at most {ueV(2 * bins * e)} "
                     "(still above the spectrum's top)"
                     if energy.get("e_max") is not None else "")
            return f"raise [energy] bins to at least {need}{lower}."

        grid = ("energy.bins", h, f"e_max / bins = {ueV(top)} / {bins} = {ueV(h)}", fix)
    key, h, how, fix = grid
    for i, s in enumerate(data.get("sources") or []):
        if (s or {}).get("type") != "phonons" or s["energy"] >= 0.5 * h:
            continue
        err.add(key, f"phonon source sources[{i}] ({ueV(s['energy'])}) lies below "
                f"the grid's first bin: its nodes are (j+1) h with h = {how}, the first "
                f"bin starting at h/2 = {ueV(0.5 * h)}; its energy would all be put at "
                f"{ueV(h)} and above ({h / s['energy']:.3g} times fewer phonons, each at "
                "the node's isotope scattering and decay rates).", fix(s["energy"]))


def _check_debye(data, err, seen: dict, top: float | None = None,
                 e_max_for=None) -> None:
    r"""The Debye energy :math:`k_B\Theta_D` of the media (``seen``: medium name -> (its
    regions, the medium)): their Debye model (:math:`g \propto \Omega^2` up to
    :math:`k_B\Theta_D`) has no phonons above it. A source centred above it (in its
    region's medium; without a region, above every medium's) is refused. A grid top
    ``top`` (default :func:`grid_top`) above it is a warning, not an error: the bins above
    stay empty unless a source fills them (decay goes down; the bath and initial
    occupations at cryogenic temperatures are :math:`e^{-\Theta_D/T}`), so they cost bins
    and resolution, not correctness; its fix is the ``[energy] e_max`` of a top at
    :math:`k_B\Theta_D` (``e_max_for``, default the same: ``bte_chip``'s phonons reach
    e_max + a gap)."""
    from ...units import K_B
    from ..spec import ueV

    debye = {name: K_B * m.debye_temperature for name, (_, m) in seen.items()
             if m.debye_temperature}
    medium_of = {r: name for name, (regions, _) in seen.items() for r in regions}
    for i, s in enumerate(data.get("sources") or []):
        if (s or {}).get("type") != "phonons" or not debye:
            continue
        reg = medium_of.get(s.get("region"))
        limit, where = ((debye[reg], f"medium {reg} of region {s['region']!r}")
                        if reg in debye else
                        (max(debye.values()), f"every medium of the case ({', '.join(debye)})"))
        if s["energy"] > limit * (1 + 1e-12):
            err.add(f"sources[{i}].energy", f"{ueV(s['energy'])} lies above the Debye "
                    f"energy k_B Theta_D = {ueV(limit)} of {where}: the Debye model of "
                    "the medium has no phonons there.",
                    f"give an energy below {ueV(limit)} (the phonons of a particle deposit "
                    "down-convert to a few meV within ns).")
    top = grid_top(data) if top is None else top
    for name, (regions, m) in seen.items():
        if name in debye and top > debye[name] * (1 + 1e-12):
            where = ", ".join(f"regions.{r}" for r in regions)
            log.warning("%s: energy.e_max: the grid reaches %s, above the Debye energy "
                        "k_B Theta_D = %s (Theta_D = %g K) of medium %s (%s): the medium "
                        "has no phonons above it, and a source that fills those bins "
                        "deposits phonons that do not exist. Fix: lower e_max to at most "
                        "%s (the phonons of a particle deposit down-convert to a few meV "
                        "within ns), with bins for the resolution below it.", err.file,
                        ueV(top), ueV(K_B * m.debye_temperature), m.debye_temperature,
                        name, where, ueV((e_max_for or float)(K_B * m.debye_temperature)))


def _check_slices(data, err) -> None:
    """[slices] energies on the nodes (j+1) h, h = e_max / bins (as driver.PhononSimulation)."""
    from ...case.slices import check_slice_energies
    from ..spec import ueV

    if not (data.get("slices") or {}).get("energies"):
        return
    e = data.get("energy") or {}
    top = grid_top(data)
    h = top / e["bins"]
    check_slice_energies(data, err, 0.5 * h, (e["bins"] + 0.5) * h,
                         f"phonon energy grid (nodes {ueV(h)} to {ueV(top)})",
                         below="or add [energy] bins", above="or raise [energy] e_max")


def _check_channels(data, err, name: str, reg, m) -> None:
    """Decay by channel (branches 'lt', branch_mixing 'isotropic') needs the L -> T + T
    fraction of every decaying medium (region ``name``, table ``reg``, medium ``m``)."""
    ph = data.get("phonons") or {}
    if (ph.get("branches") != "lt" or ph.get("branch_mixing", "isotropic") != "isotropic"
            or not reg.get("anharmonic_decay", True)):
        return
    if m.anharmonic_B and m.anharmonic_TT_fraction is None:
        err.add(f"regions.{name}.medium", f"medium {m.name!r} decays (anharmonic_B) but "
                "has no anharmonic_TT_fraction (the L -> T + T share of its decays) for "
                "[phonons] branch_mixing = 'isotropic'.",
                "add anharmonic_TT_fraction with its source to the medium's table in "
                "fvqp/materials/substrates.toml, set anharmonic_decay = false in this "
                'region, or [phonons] branch_mixing = "none".')
        return
    missing = [k for k in ("anharmonic_beta", "anharmonic_gamma") if getattr(m, k) is None]
    if (m.anharmonic_B and m.anharmonic_TT_fraction and missing
            and ph.get("decay_spectrum", "kinematic") == "kinematic"):
        err.add(f"regions.{name}.medium", f"medium {m.name!r} decays into T + T but has no "
                f"{' and no '.join(missing)} (the third-order elastic constants of "
                "Tamura's isotropic model that shape the T + T energy spectrum) for "
                "[phonons] decay_spectrum = 'kinematic'.",
                f"add {' and '.join(missing)} with a source to the medium's table in "
                "fvqp/materials/substrates.toml, set anharmonic_decay = false in this "
                'region, or [phonons] decay_spectrum = "uniform".')


def _check_angles(data, err) -> None:
    """``decay_angles = "kinematic"`` needs the decay channels and their spectra."""
    ph = data.get("phonons") or {}
    if ph.get("decay_angles") != "kinematic":
        return
    need = [(ph.get("branches") == "lt", 'branches = "lt"'),
            (ph.get("branch_mixing", "isotropic") == "isotropic",
             'branch_mixing = "isotropic"'),
            (ph.get("decay_spectrum", "kinematic") == "kinematic",
             'decay_spectrum = "kinematic"')]
    missing = [text for ok, text in need if not ok]
    if missing:
        err.add("phonons.decay_angles", "the kinematic directions of the decay products "
                "come from the L -> L + T and L -> T + T channels and their energy "
                "spectra (with one effective branch momentum conservation would make "
                "every decay collinear).",
                f"set [phonons] {' and '.join(missing)}, or decay_angles = \"isotropic\".")


def _check(data, err) -> None:
    from ...materials import UnknownMediumError, get_medium
    from ..base.schema import active_regions, check_pulse_or_power

    seen = {}
    for name, reg, m in active_regions(data, err, "medium", get_medium, UnknownMediumError,
                                       needed="a phonon medium",
                                       example='medium = "Si" (see '
                                               'fvqp/materials/substrates.toml)',
                                       unknown_fix="choose one of the listed media."):
        seen.setdefault(m.name, ([], m))[0].append(name)
        _check_channels(data, err, name, reg, m)
        if reg.get("absorption_threshold") and reg.get("absorption_time") is None:
            # the threshold alone absorbed nothing, without a word
            err.add(f"regions.{name}.absorption_threshold", "a threshold without an "
                    "absorption_time absorbs nothing.", 'add absorption_time (e.g. '
                    '"0.2 ns", the pair-breaking time above 2 Delta), or remove the '
                    "threshold.")
    check_pulse_or_power(data, err, duration="1 ns", radius="5 um")
    for i, s in enumerate(data.get("sources") or []):
        if s and s.get("length") is not None and (s.get("direction") is None
                                                  or s.get("position") is None):
            err.add(f"sources[{i}].direction", "a track needs a position and a direction.",
                    "add position = [x, y, z] and direction = [dx, dy, dz].")
    if ((data.get("interfaces") or {}).get("model") == "amm_modes"
            and (data.get("phonons") or {}).get("branches") != "lt"):
        err.add("interfaces.model", "mode conversion ('amm_modes') couples a longitudinal "
                "and a transverse branch.", 'add [phonons] branches = "lt" (or choose '
                'model = "amm").')
    t = data.get("time") or {}
    if not t.get("steady") and not t.get("dt_initial"):
        err.add("time.dt_initial", "the transient phonon model runs with a fixed step.",
                'add dt_initial = "1 ns" (or steady = true).')
    _check_slices(data, err)
    _check_sources_on_grid(data, err)
    _check_sources_above_first_bin(data, err)
    _check_debye(data, err, seen)
    _check_angles(data, err)


def check_interfaces_given(raw, err) -> None:
    """``[interfaces] reflection`` written out with the diffuse mismatch model: DMM
    re-emits every phonon that is not transmitted diffusely (its reflection is part of the
    model), so the key was dropped without a word."""
    given = raw.get("interfaces") if isinstance(raw.get("interfaces"), dict) else {}
    if given.get("model") == "dmm" and "reflection" in given:
        err.add("interfaces.reflection", "the diffuse mismatch model ('dmm') reflects "
                "diffusely by construction: reflection is read at 'amm' and 'amm_modes' "
                "interfaces only, and the run does not read it.",
                "remove reflection, or choose model = \"amm\".")


#: ``[time]`` keys of the adaptive BDF steps (:func:`fvqp.models.base.bdf_options`) that a
#: march of fixed steps of dt_initial (:mod:`.march`, the chip chain) does not read
MARCH_UNREAD = ("dt_min", "dt_max", "adaptive", "rtol", "newton_tol", "atol")


def check_march_given(raw, err, run: str, read=()) -> None:
    """The ``[time]`` keys of adaptive steps (:data:`MARCH_UNREAD`, but those in ``read``,
    which the run reads) and ``[output] times`` written out for a transient that marches
    fixed steps of dt_initial (``run`` names it;
    :func:`fvqp.models.base.fixedstep.march_fixed`): the run dropped them without a
    word. A steady case's are the loader's."""
    from ..spec import check_times_unread

    t = raw.get("time") if isinstance(raw.get("time"), dict) else {}
    if t.get("steady"):
        return
    for key in MARCH_UNREAD:
        if key in t and key not in read:
            err.add(f"time.{key}", f"{run} marches fixed steps of dt_initial: no step is "
                    "chosen or tested by the local error, and the run does not read it.",
                    f"remove {key} (dt_initial sets the step).")
    check_times_unread(raw.get("output") if isinstance(raw.get("output"), dict) else {},
                       err, run)


def _check_given(raw, err) -> None:
    """:func:`check_interfaces_given` and :func:`check_march_given`."""
    check_interfaces_given(raw, err)
    check_march_given(raw, err, "the transient phonon model")


SPEC = ModelSpec(
    name="phonon", region_schema=_REGION, boundary_types=_BOUNDARIES, initial_schema=_INITIAL,
    source_types=_SOURCES, fields=FIELDS, required_boundaries=named_boundaries,
    atol_dimension="dimensionless", atol_default=1e-11,
    dimension_keys={2: ("thickness",)}, dimension_doc={"thickness": 'e.g. "100 nm"'},
    check=_check, check_given=_check_given, sections=_SECTIONS,
    optional_boundaries=unlabelled_boundary, mesh_keys=ORDINATE_MESH_KEYS,
    digest_exempt=("time.end",),  # `fvqp run --resume` may extend a run (march.march)
)


def run(case, **kwargs):
    """Run a validated phonon case; see :func:`fvqp.models.phonon.driver.run`."""
    from .driver import run as _run

    return _run(case, **kwargs)
