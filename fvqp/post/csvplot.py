"""The ``<case>_series.csv`` of a run drawn versus time (``<case>_series.png``).

The time loop of every mesh model writes one row per accepted step with SI units in the
column names (:mod:`fvqp.io.series`: ``time_s``, ``energy_J.final``, ``qp_number.final``,
``E_phonon_J`` ...). Its integral quantities are drawn in SI, read through
:func:`fvqp.post.arrays.csv_series` (units from the names' suffixes,
:func:`fvqp.models.base.result.unit_of_key`):

* a dotted family (``energy_J.deposited``, ``energy_J.boundary:bath`` ...: the flows) is
  one panel, one line per column, labelled by the column's full name; its stock
  ``.final`` (the stored amount, often far above the flows) gets a panel of its own, and
  a constant ``.initial`` is left out;
* undotted columns share a panel per unit (``E_phonon_J`` and ``boundary:bottom_J`` in J);
* every ``imbalance`` column goes to a panel of its own per unit: a conservation check is
  round-off, invisible beside the quantities it balances;
* the loop's work columns (step, size of the step, iteration counters) are left out;
* a panel whose values are never negative and span more than three decades is drawn on a
  log scale (:func:`log_axis`); a front-loaded series (a decay recorded event by event) on
  a logarithmic time axis (:func:`log_time`).

A series without an SI time (the stochastic ``relaxation`` study of a case without ``r_c``)
is drawn over its first ``time_*`` column, the x label naming the unit its comment line
declares (``t [r_c^3/Gamma_bar]``); with ``time_s`` the other time columns are not drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..models.base.result import COUNTER_KEYS
from .arrays import Series, csv_series

__all__ = ["log_axis", "log_time", "panels", "plot_series_csv", "series_figure"]

#: columns of the time loop that count work, not integral quantities
WORK_COLUMNS = frozenset({"step", "dt_s", *COUNTER_KEYS})

_SCALES = ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns"), (1e-12, "ps"))


def time_axis(t_max: float) -> tuple[float, str]:
    """(scale, unit) of a time axis whose largest value is ``t_max`` seconds."""
    return next(((s, u) for s, u in _SCALES if t_max >= s), _SCALES[-1])


def log_axis(values: np.ndarray) -> bool:
    """A logarithmic y axis for values that are never negative and whose positive ones span
    more than three decades (zeros, such as a count at t = 0, are left out of the drawn
    line): a detector's few quasiparticles stay visible beside the ground plane's 1e5."""
    pos = values[values > 0]
    return bool(len(pos) and values.min() >= 0 and pos.max() > 1e3 * pos.min())


def log_time(times: np.ndarray) -> bool:
    """A logarithmic time axis for a front-loaded series: positive times spanning more
    than three decades with half of the rows in the first percent of the run (a decay
    recorded event by event, such as the stochastic relaxation's 490 annihilations of
    which most happen in its first seconds of 666 s); t = 0 is left out of the line."""
    t = np.asarray(times, dtype=float)
    pos = t[t > 0]
    return bool(len(pos) > 1 and pos.max() > 1e3 * pos.min()
                and np.median(t) < 1e-2 * t.max())


def panels(series: dict[str, Series]) -> dict[str, list[Series]]:
    """The panels of a series file: title -> the columns drawn in it (module docstring)."""
    out: dict[str, list[Series]] = {}
    for name, s in series.items():
        head = name.split(".")[0]
        if head in WORK_COLUMNS or (name.endswith(".initial")
                                    and np.all(s.values == s.values[:1])):
            continue
        unit = f" [{s.unit}]" if s.unit else ""
        if "imbalance" in name:
            title = f"imbalance{unit}"
        elif name.endswith(".final"):
            title = f"{head} (stored){unit}"
        elif "." in name:
            title = f"{head}{unit}"
        else:
            title = f"quantities{unit}" if s.unit else "numbers"
        out.setdefault(title, []).append(s)
    return out


def series_figure(series: dict[str, Series], title: str):
    """A matplotlib figure of ``series`` (:func:`panels`), times in the largest fitting
    unit of seconds (or in the series' own time unit, :attr:`Series.time_unit`); each
    line's label is its column and its y-data the column's values (SI where the file's
    unit is). Returns the figure (the caller saves and closes it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = panels(series)
    ncol = 2 if len(groups) > 1 else 1
    nrow = max(1, -(-len(groups) // ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.5 * ncol, 3.2 * nrow), squeeze=False)
    t_max = max((float(np.max(np.abs(s.times))) for s in series.values() if len(s.times)),
                default=0.0)
    own = {s.time_unit for s in series.values()} - {"s"}
    scale, unit = (1.0, own.pop() or "reduced") if own else time_axis(t_max)
    for ax, (panel, cols) in zip(axes.ravel(), groups.items(), strict=False):
        for s in cols:
            ax.plot(s.times / scale, s.values, ".-", ms=2, lw=1, label=s.name)
        vals = np.concatenate([s.values[np.isfinite(s.values)] for s in cols])
        if log_axis(vals):
            ax.set_yscale("log", nonpositive="mask")
        if log_time(cols[0].times):
            ax.set_xscale("log", nonpositive="mask")
        ax.set_xlabel(f"t [{unit}]")
        ax.set_title(panel, fontsize=9)
        ax.legend(fontsize=6)
    for ax in axes.ravel()[len(groups):]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_series_csv(csv: str | Path, png: str | Path, title: str) -> Path | None:
    """Draw the series file ``csv`` to ``png`` (atomically); None when it holds fewer than
    two rows or no integral quantity."""
    from ..io.atomic import atomic_savefig

    series = csv_series(Path(csv))
    if not series or len(next(iter(series.values())).times) < 2 or not panels(series):
        return None
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    atomic_savefig(series_figure(series, title), str(png))
    return png
