"""The 0D kinetics film of the ``bte`` self-consistent-gap cross-checks
(tests/test_bte_selfgap_collisions.py, tests/test_bte_selfgap_transient.py): kinetics0d
(fvqp/models/kinetics0d, an independent code: its own vertex energy grid rescaled with the
gap, its own collision operator, its own gap rule in xi and state remap) for the film of
``cases/bte_selfgap_uniform.toml`` — Al, tau0 = 1 ns, 100 nm x 100 um^2, local phonons
escaping in 0.2 ns, 100 mK — driven by the bte source's QP injection spectrum."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.special import ndtr

from fvqp.units import E_CHARGE

UEV = E_CHARGE * 1e-6


@dataclass
class QPInjection:
    """A uniform QP source for the 0D kinetics (a :class:`fvqp.models.kinetics0d.drives.
    Drive`): the bte source's spectrum, Gaussian times the DOS, normalised to the
    injected power (particles per bin :math:`P g_i/\\sum_j g_jE_j`)."""

    energy: float
    width: float
    power: float
    start: float = 0.0
    stop: float = np.inf
    pauli_blocked_gain: bool = field(default=False, init=False, repr=False)

    def active(self, t: float) -> bool:
        return self.start <= t < self.stop

    def bind(self, grid, params) -> None:
        g = np.exp(-0.5 * ((grid.e - self.energy) / self.width) ** 2) * grid.dos
        self._fdot = (g / float(g @ grid.e)) / (grid.h * grid.dos)
        self._nph = grid.n_ph

    def terms(self, f, n):
        z = np.zeros(self._nph)
        return self.power * self._fdot, np.zeros_like(f), z, z

    def jacobian(self, f, n):
        return np.zeros((f.size + self._nph,) * 2)

    def jacobian_qp(self, f, n):
        return None

    def jacobian_qp_operator(self, f, n):
        return None

    def jacobian_qp_diagonal(self, f, n):
        return np.zeros(f.size)


@dataclass
class Film0D:
    """The 0D film: model (with a :class:`QPInjection` of zero power at 600 +- 40 ueV),
    metadata, units, volume (internal) and QP number unit (quasiparticles per internal
    number)."""

    model: object
    meta: dict
    units: object
    volume: float

    @property
    def number_unit(self) -> float:
        return self.meta["number_unit_per_m3"] * self.meta["volume_m3"]

    def power(self, watt: float) -> float:
        """A power [W] as the drive's power per volume (operator units)."""
        return self.units.to_internal(watt, "power") / self.volume / 4.0

    def ueV(self, e: float) -> float:
        return self.units.to_si(e, "energy") / UEV


def film_0d(tmp_path, spacing: str) -> Film0D:
    """The 0D film of the bte cases on a vertex grid of ``spacing`` (e.g. "5 ueV")."""
    from fvqp.case import load_case
    from fvqp.models.kinetics0d.build import build_model, film_units

    p = Path(tmp_path) / f"k0d_{spacing.split()[0]}.toml"
    p.write_text("\n".join([
        'model = "kinetics0d"', "[bath]", 'temperature = "100 mK"', "[film]",
        'material = "Al"', 'tau0 = "1 ns"', 'thickness = "100 nm"', 'area = "100 um^2"',
        'escape_time = "0.2 ns"', "self_consistent_gap = true", "[grid]",
        f'spacing = "{spacing}"', 'e_max = "800 ueV"', "[time]", "steady = true",
        "[output]", f'directory = "{Path(tmp_path) / "k0d"}"', ""]))
    case = load_case(p)
    model, meta = build_model(case)
    u = film_units(case)
    e = lambda ueV: u.to_internal(ueV * UEV, "energy")  # noqa: E731
    model = dataclasses.replace(model, drives=[QPInjection(e(600.0), e(40.0), 0.0)])
    return Film0D(model, meta, u, meta["volume_m3"] / u.scales["volume"])


def kinetics0d_steady_gap(tmp_path, spacing: str) -> tuple[float, float]:
    """Steady self-consistent gap [ueV] and bath gap of the 0D film under 20 nW."""
    from fvqp.models.kinetics0d import steady_state_self_consistent

    film = film_0d(tmp_path, spacing)
    model = film.model
    model.drives[0].power = film.power(20e-9)
    _, _, info = steady_state_self_consistent(model, film.meta["gap_ratio"])
    return film.ueV(info["delta"]), film.ueV(model.grid.delta)


def _be_step(model, y: np.ndarray, t1: float, dt: float) -> np.ndarray:
    """Backward Euler :math:`y - y_n = \\Delta t\\,\\dot y(y, t_1)` by Newton with the
    model's exact dense Jacobian (to 1e-12 per entry)."""
    x = y.copy()
    for _ in range(30):
        dx = np.linalg.solve(np.eye(x.size) - dt * model.jacobian(x, t1),
                             x - y - dt * model.rhs(x, t1))
        x = x - dx
        if np.all(np.abs(dx) <= 1e-12 * np.abs(x)):
            return x
    raise ArithmeticError("0D backward-Euler Newton did not converge")


def kinetics0d_pulse(tmp_path, spacing: str, dt_ns: float, *, end_ns: float,
                     deposit_eV: float, centre_ns: float, sigma_ns: float) -> np.ndarray:
    """Transient of the 0D film with its self-consistent gap under a Gaussian QP pulse
    (``deposit_eV`` at 600 +- 40 ueV, centre and width in ns), in the bte's splitting:
    a backward-Euler step at the frozen gap with the step-averaged power (the exact
    average of the Gaussian, as the bte source), then the gap from the new f
    (:func:`fvqp.models.kinetics0d.selfgap.self_consistent_gap`) and the state carried
    to the grid of the new gap (:meth:`Kinetics0D.with_gap`,
    :func:`~fvqp.models.kinetics0d.selfgap.remap`). Rows (t [ns], gap [ueV], QPs)."""
    from fvqp.models.kinetics0d.observables import qp_number
    from fvqp.models.kinetics0d.selfgap import remap, self_consistent_gap

    film = film_0d(tmp_path, spacing)
    model, d0, u = film.model, film.meta["gap_ratio"], film.units

    def follow(model, y):
        new = model.with_gap(self_consistent_gap(model.split(y)[0], model.grid, d0))
        return new, remap(y, model, new)

    def row(t, model, y):
        return (t, film.ueV(model.grid.delta),
                qp_number(model.split(y)[0], model.grid) * film.number_unit)

    model, y = follow(model, model.equilibrium())
    n = int(round(end_ns / dt_ns))
    dt = u.to_internal(dt_ns * 1e-9, "time")
    rows = [row(0.0, model, y)]
    for k in range(n):
        t0, t1 = k * dt_ns, (k + 1) * dt_ns
        z = (np.array([t0, t1]) - centre_ns) / sigma_ns
        watt = deposit_eV * E_CHARGE * float(ndtr(z[1]) - ndtr(z[0])) / (dt_ns * 1e-9)
        model.drives[0].power = film.power(watt)
        y = _be_step(model, y, u.to_internal(t1 * 1e-9, "time"), dt)
        model, y = follow(model, y)
        rows.append(row(t1, model, y))
    return np.array(rows)
