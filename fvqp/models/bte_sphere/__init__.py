r"""Spherically symmetric Boltzmann transport of QPs (and phonons) in (r, ε, μ = cos θ).

The angle-resolved kinetic equation of the BoltzPhlow notes (Eqs. 52-61 for the
conservative phase-space form, Eq. 178 for the left-hand side with the Eliashberg factor,
Eq. 179 / :mod:`fvqp.collisions.angular` for the collisions, Eqs. 170-177 for their
origin, boundary and initial conditions of Section 2.4) in a sphere of radius ``R``:

.. math::
    \partial_t\big(N f\big) + v_F\Big[\frac{\mu}{r^2}\partial_r(r^2f)
        + \frac1r\partial_\mu\big((1-\mu^2)f\big)\Big]
    = \rho\,I\{f, n\} + \frac{v_F}{\ell}(\bar f - f),

:math:`N = \rho m/Z_1(0)` the states per energy (:mod:`.spectral`: what Eq. 178 implies), phonons
as a bath, as isotropic local populations, or as their own BTE at the sound velocity
(the "phonon bubble" leaving through ``r = R``). Discretisation: radial finite volumes,
Gauss-Legendre ordinates with Lewis-Miller angular differencing (:mod:`.discretisation`;
radial faces step, diamond, or diamond with a positivity limiter, :mod:`.limiter`),
implicit conservative BDF1/BDF2 (:mod:`fvqp.solvers.bdf`) with Newton-Krylov (exact
Jacobian action) preconditioned by the exact inverse of streaming + elastic scattering
per energy over all radial cells (:mod:`.precond`); the radial cells are distributed over
MPI ranks, and ``mpiexec -n N`` gives the serial answer to round-off.
See ``docs/theory_bte_sphere.md``.
"""

from __future__ import annotations

from ...case.schema import Field, Section
from ..base.schema import check_material_overrides, material_overrides
from ..spec import ModelSpec

__all__ = ["SPEC", "run"]

_SURFACE = ("bath", "vacuum", "specular")

_SECTIONS = {
    "sphere": Section({
        "material": Field("str", "material name from `fvqp materials`", required=True),
        # the material constants of the sphere (SI; "case override" in the summary)
        **material_overrides("Tc", "gap_ratio", "N0", "tau0", "tau0_phi", "fermi_velocity",
                             "sound_velocity_L"),
        "radius": Field("quantity", "radius R of the absorber", dimension="length",
                        required=True, positive=True),
        "cells": Field("int", "number of radial cells", default=50),
        "mean_free_path": Field("quantity", "elastic (impurity) mean free path of the QPs "
                                "(default: ballistic)", dimension="length", positive=True),
        "surface": Field("str", "QP condition at r = R: bath (thermal occupation enters, "
                         "the excess leaves freely), vacuum (nothing enters) or specular",
                         default="bath", choices=_SURFACE),
        "scheme": Field("str", "radial differencing: step (upwind, keeps f >= 0; needs "
                        "dr < mean free path in the diffusive regime), diamond (second "
                        "order, correct thick-diffusion limit, may undershoot) or limited "
                        "(diamond with a positivity limiter at local extrema: second "
                        "order, thick-diffusion limit, f >= 0 with bdf order 1)",
                        default="step", choices=("step", "diamond", "limited")),
    }, required=True),
    "angles": Section({
        "ordinates": Field("int", "number K of Gauss-Legendre ordinates in mu (even)",
                           default=8),
        "write_mu": Field("list", "mu values whose nearest ordinates are written",
                          item=Field("float"), default=[-1.0, 0.0, 1.0]),
    }),
    "spectrum": Section({
        "kind": Field("str", "bcs, or eliashberg (needs fvqp.eliashberg)", default="bcs",
                      choices=("bcs", "eliashberg")),
        "spacing": Field("quantity", "energy bin width (default kT_bath / 4)",
                         dimension="energy", positive=True, internal="energy"),
        "e_max": Field("quantity", "QP energy cut-off (default packet energy + 5 widths "
                       "+ 10 kT_bath)", dimension="energy", positive=True,
                       internal="energy"),
    }),
    "phonons": Section({
        "mode": Field("str", "bath (held at the bath temperature), local (isotropic per "
                      "cell, optional escape time) or bte (angle-resolved transport at the "
                      "sound velocity)", default="bath", choices=("bath", "local", "bte")),
        "surface": Field("str", "phonon condition at r = R (bte)", default="bath",
                         choices=_SURFACE),
        "escape_time": Field("quantity", "phonon escape time (local mode)",
                             dimension="time", positive=True),
    }),
}

_INITIAL = Section({
    "energy": Field("quantity", "centre eps0 of the Gaussian QP packet",
                    dimension="energy", required=True, positive=True, internal="energy"),
    "width": Field("quantity", "energy width sigma of the packet", dimension="energy",
                   required=True, positive=True, internal="energy"),
    "radius": Field("quantity", "radius a of the Gaussian exp(-r^2/2a^2) in space",
                    dimension="length", required=True, positive=True),
    "deposit": Field("quantity", "excess energy of the packet", dimension="energy",
                     required=True, positive=True, internal="total_energy"),
})

FIELDS = ("f", "f_mu", "n")


def _check(data, err) -> None:
    from ...materials import UnknownMaterialError, get_material
    from ..base.schema import case_material
    from ..spec import bath_gap, check_bath_and_grid, check_sources_on_grid, ueV, ueV_at_least

    try:
        get_material(data["sphere"]["material"])
    except UnknownMaterialError as exc:
        err.add("sphere.material", str(exc).strip("'\""), "")
        return
    sp, ph = data["sphere"], data.get("phonons") or {}
    check_material_overrides(sp, "sphere", err)
    if err.items:
        return
    mat = case_material(sp)
    if not mat.fermi_velocity:
        err.add("sphere.fermi_velocity", f"{mat.name} has no Fermi velocity in the "
                "database.", 'give fermi_velocity = "2e6 m/s" under [sphere].')
    if ph.get("mode") == "bte" and not mat.sound_velocity_L:
        err.add("sphere.sound_velocity_L", f"{mat.name} has no sound velocity in the "
                "database.", 'give sound_velocity_L = "5000 m/s" under [sphere].')
    k = (data.get("angles") or {}).get("ordinates", 8)
    if k < 2 or k % 2:
        err.add("angles.ordinates", f"{k} ordinates: need an even number >= 2.",
                "use 8 or 16.")
    if sp.get("cells", 50) < 2:
        err.add("sphere.cells", "need at least 2 radial cells.", "use cells = 50.")
    check_bath_and_grid(err, mat, mat.Tc, data["bath"]["temperature"],
                        (data.get("spectrum") or {}).get("e_max"), "spectrum.e_max",
                        " and the packet, or leave it out.")
    e_max, packet = (data.get("spectrum") or {}).get("e_max"), data.get("initial") or {}
    if packet.get("energy") and not err.items:
        # a packet centred below the gap has no states: its QPs would all be put at the
        # gap edge (a 300 ueV packet in Sn, gap 555 ueV: 2.2e6 QPs at the edge instead of
        # a refusal), as the mesh models refuse such a source
        gap = bath_gap(mat, data["bath"]["temperature"], mat.Tc)
        if packet["energy"] < gap:
            err.add("initial.energy", f"{ueV(packet['energy'])} lies below the gap "
                    f"{ueV(gap)} of {mat.name} at the bath: there are no states there, "
                    "and the packet's QPs would all be put at the gap edge.",
                    f"give an energy a few widths above the gap, "
                    f"{ueV_at_least(gap)}.")
    if e_max is not None and packet.get("energy") and not err.items:
        check_sources_on_grid(err, [{"type": "quasiparticle", "energy": packet["energy"],
                                     "width": packet.get("width") or 0.0}], e_max,
                              key="spectrum.e_max", label="the [initial] packet")
    if data.get("time", {}).get("steady"):
        err.add("time.steady", "the packet relaxation is a transient problem.",
                "remove steady = true and give [time] end.")
    for i, mu in enumerate((data.get("angles") or {}).get("write_mu") or []):
        if mu is not None and not -1.0 <= mu <= 1.0:
            # mu = cos(theta): a value outside wrote the nearest end ordinate silently
            err.add(f"angles.write_mu[{i}]", f"{mu:g} is not a direction cosine mu = "
                    "cos(theta): the ordinates lie in [-1, 1] (-1 inward, 0 tangential, "
                    "1 outward).", "give values between -1 and 1.")


#: ``[phonons]`` keys read by one ``mode`` only
_PHONON_MODE_KEYS = {"surface": "bte", "escape_time": "local"}


def _check_given(raw, err) -> None:
    """``[phonons]`` keys written out for a ``mode`` that does not read them (the phonon
    ``surface`` of the phonon BTE, the ``escape_time`` of local phonons), and ``[output]
    fields`` (every snapshot holds all of :data:`FIELDS`): the run dropped them without a
    word."""
    from ..spec import check_fields_unread

    out = raw.get("output") if isinstance(raw.get("output"), dict) else {}
    check_fields_unread(out, err, "bte_sphere", FIELDS)
    ph = raw.get("phonons") if isinstance(raw.get("phonons"), dict) else {}
    mode = ph.get("mode", _SECTIONS["phonons"].fields["mode"].default)
    for key, needs in _PHONON_MODE_KEYS.items():
        if key in ph and mode != needs:
            err.add(f"phonons.{key}", f'mode = "{mode}" does not read it: only the '
                    f'{needs} phonons (mode = "{needs}") do.',
                    f'remove {key}, or set mode = "{needs}".')


SPEC = ModelSpec(name="bte_sphere", uses_mesh=False, sections=_SECTIONS, fields=FIELDS,
                 initial_schema=_INITIAL, check=_check, check_given=_check_given,
                 atol_dimension="dimensionless",
                 atol_default=1e-6, steady=False,
                 unused_sections=("units",))  # the sphere's material sets the units


def run(case, output_dir: str | None = None, resume: bool = False,
        max_steps: int | None = None, comm=None):
    """Run a validated case; see :func:`fvqp.models.bte_sphere.driver.run`."""
    from ..base import run_model
    from .driver import run as _run
    from .driver import sphere_units

    return run_model("bte_sphere", _run, case, output_dir, stoppable=True, resume=resume,
                     max_steps=max_steps, comm=comm, units=sphere_units)
