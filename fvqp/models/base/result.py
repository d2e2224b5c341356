"""The one result type of every model's ``run()`` (scipy ``_ivp``-style: status, message,
counters), also written as ``summary.json``.

Failure rule, for every model: a run that cannot reach its goal returns a non-zero
``status`` (``-1`` failed, ``1`` stopped on request, e.g. ``--max-steps``) with a
``message`` naming the cause and the fix; the CLI maps ``status < 0`` to exit code 3.
Bad input raises :class:`fvqp.case.CaseError` before anything is solved (exit code 2).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

__all__ = ["COUNTER_KEYS", "COUNTER_PARTS", "SUFFIX_UNITS", "ModelResult", "is_counter",
           "unit_of_key"]

#: summary keys that count work (steps, iterations, solves ...)
COUNTER_KEYS = ("steps", "rejected_steps", "failed_solves", "newton_iterations",
                "linear_iterations", "max_linear_iterations", "gap_iterations",
                "bins_solved", "checkpoints_written", "preconditioner_updates",
                "time_steps", "units_done", "iterations")
#: the parts of a coupled model (the chip chain: QP films, transported phonons, their
#: coupled iteration) whose work is counted as ``<part>_<counter>``, e.g.
#: ``qp_newton_iterations``, ``phonon_linear_iterations``, ``coupled_iterations``
COUNTER_PARTS = ("qp", "phonon", "coupled")


def is_counter(key: str) -> bool:
    """Whether a summary key counts work: one of :data:`COUNTER_KEYS`, or one of them
    prefixed by a part of a coupled model, ``<part>_<counter>`` (:data:`COUNTER_PARTS`).

    Examples
    --------
    >>> is_counter("steps"), is_counter("qp_newton_iterations"), is_counter("coupled_iterations")
    (True, True, True)
    >>> is_counter("coupled_unconverged_steps"), is_counter("qp_preconditioner_builds")
    (False, False)
    """
    if key in COUNTER_KEYS:
        return True
    part, _, rest = key.partition("_")
    return part in COUNTER_PARTS and rest in COUNTER_KEYS

#: summary key suffix -> unit label (``peak_temperature_K`` is a temperature in K ...);
#: keys without one are pure numbers or counts (``N_qp``: a number of quasiparticles)
SUFFIX_UNITS = {
    "_K": "K", "_s": "s", "_J": "J", "_W": "W", "_m": "m", "_m2": "m^2", "_m3": "m^3", "_V": "V",
    "_A": "A", "_ohm": "Ohm", "_S": "S", "_per_m3": "1/m^3", "_m3_per_s": "m^3/s",
    "_ueV": "ueV", "_uV": "uV", "_um": "um", "_mV": "mV", "_eV": "eV", "_Hz": "Hz",
    "_per_s": "1/s", "_per_um3": "1/um^3",
}
#: counts among the key numbers, with what they count (the report names it)
COUNTS = {"N_qp": "quasiparticles"}


def unit_of_key(key: str) -> str:
    """The unit label a summary key's suffix declares (``""`` for none).

    Examples
    --------
    >>> unit_of_key("max_temperature_K"), unit_of_key("qp_rates_per_s"), unit_of_key("N_qp")
    ('K', '1/s', '')
    """
    for suffix in sorted(SUFFIX_UNITS, key=len, reverse=True):
        if key.endswith(suffix):
            return SUFFIX_UNITS[suffix]
    return ""


@dataclass(frozen=True)
class ModelResult(Mapping):
    """Outcome of a model run.

    Attributes
    ----------
    model : str
        The model's registry name.
    status : int
        0 finished, 1 stopped early on request (continue with ``--resume``), -1 failed.
    message : str
        What happened; for failures the cause and the fix.
    counters : dict
        Work done: the summary's counters (:func:`is_counter`): :data:`COUNTER_KEYS` in
        their order, then their ``<part>_`` forms in the summary's.
    balances : dict
        Conservation checks: every summary entry with an ``imbalance`` (energy, QP
        number ...) and every ``*imbalance*`` number, in SI; every model's in one
        convention (:mod:`fvqp.models.base.balance`: flows into the system, imbalance =
        final − initial − Σ inflows).
    output_dir : str or None
        Where the run wrote its files.
    outputs : tuple of str
        The files of the output directory after the run (names relative to it).
    summary : dict
        Everything (JSON-serialisable, as written to ``summary.json``); the result is a
        read-only mapping over it, so ``result["energy_J"]`` works.

    Examples
    --------
    >>> r = ModelResult.from_summary("heat", {"status": 0, "message": "ok", "steps": 3,
    ...                              "energy_J": {"imbalance": 1e-20}})
    >>> r.success, r.counters, r["energy_J"]["imbalance"]
    (True, {'steps': 3}, 1e-20)

    The report names each balance once (a flat ``energy_imbalance_J`` beside the table
    ``energy_J`` is the same number: shown only if the model names it a key number) and
    does not repeat a balance among the key numbers:

    >>> r = ModelResult.from_summary("x", {"status": 0, "message": "ok",
    ...     "energy_J": {"imbalance": 0.0}, "energy_imbalance_J": 0.0,
    ...     "qp_number": {"imbalance": 0.0}, "power_imbalance_W": 2e-9,
    ...     "N_qp": 3.5, "keys": ["power_imbalance_W", "N_qp"]})
    >>> print(r.report())
    x: status 0 — ok
      balance energy_J: imbalance 0
      balance qp_number: imbalance 0
      balance power_imbalance_W: imbalance 2e-09
      N_qp: 3.5 quasiparticles
    """

    model: str
    status: int
    message: str
    counters: dict = field(default_factory=dict)
    balances: dict = field(default_factory=dict)
    output_dir: str | None = None
    outputs: tuple = ()
    summary: dict = field(default_factory=dict)

    @classmethod
    def from_summary(cls, model: str, summary: Mapping, output_dir: str | None = None
                     ) -> ModelResult:
        """Wrap a model's summary dict (it must carry ``status`` and ``message``)."""
        if isinstance(summary, ModelResult):
            return summary
        s = dict(summary)
        counters = {k: s[k] for k in COUNTER_KEYS if k in s}
        counters.update((k, v) for k, v in s.items() if is_counter(k) and k not in counters)
        balances = {k: v for k, v in s.items()
                    if (isinstance(v, Mapping) and "imbalance" in v)
                    or ("imbalance" in k and isinstance(v, (int, float)))}
        outputs: tuple = ()
        if output_dir and os.path.isdir(output_dir):
            outputs = tuple(sorted(os.listdir(output_dir)))
        return cls(model=model, status=int(s["status"]), message=str(s["message"]),
                   counters=counters, balances=balances, output_dir=output_dir,
                   outputs=outputs, summary=s)

    def report(self, keys: tuple = ()) -> str:
        """The end-of-run lines: status and message, output path, wall time, work done,
        every balance's imbalance and the model's key numbers (``keys`` named by the model,
        then those ``summary["keys"]`` names — a list of summary entries or a name → value
        table; each with
        the unit of its suffix, :func:`unit_of_key`, or what it counts, :data:`COUNTS`)."""
        lines = [f"{self.model}: status {self.status} — {self.message}"]
        if self.output_dir:
            lines.append(f"  output: {self.output_dir}")
        wall = self.summary.get("wall_time_s")
        if wall is not None:
            lines.append(f"  wall time: {wall:.3g} s")
        if self.counters:
            lines.append("  work: " + ", ".join(f"{k} {v}" for k, v in self.counters.items()))
        printed = set()
        for name, bal in self.balances.items():
            value = bal.get("imbalance") if isinstance(bal, Mapping) else bal
            if not isinstance(bal, Mapping) and isinstance(
                    self.balances.get(name.replace("_imbalance", "")), Mapping):
                continue   # ``energy_imbalance_J``: a flat copy of ``energy_J.imbalance``
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                lines.append(f"  balance {name}: imbalance {value:.3g}")
                printed.add(name)
        table = self.summary.get("keys")
        if isinstance(table, (list, tuple)):  # names of summary entries (Usadel, stochastic)
            keys = (*keys, *(k for k in table if k not in keys))
        named = {k: self.summary[k] for k in keys if k in self.summary}
        if isinstance(table, Mapping):        # name -> value (kinetics0d)
            named.update((k, v) for k, v in table.items() if k not in named)
        for key, v in named.items():
            if key in printed:   # shown above as a balance
                continue
            unit = unit_of_key(key) or COUNTS.get(key, "")
            text = f"{v:.6g}" if isinstance(v, float) else f"{v}"
            lines.append(f"  {key}: {text} {unit}".rstrip())
        return "\n".join(lines)

    @property
    def success(self) -> bool:
        """True unless the run failed (``status < 0``)."""
        return self.status >= 0

    # read-only mapping over the summary (the dicts runs returned before)
    def __getitem__(self, key: str):
        return self.summary[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.summary)

    def __len__(self) -> int:
        return len(self.summary)
