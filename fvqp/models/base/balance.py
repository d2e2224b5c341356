r"""The one convention of the balances every model reports (``summary.json``,
``<case>_series.csv``, :attr:`fvqp.models.base.ModelResult.balances`).

* Every flow is an **inflow**: positive when the system gains what is counted (a source
  is positive, a drain, a bath boundary that takes QPs or energy, escape, a trap are
  negative). Steady states report their rates the same way (``qp_rates_per_s``,
  ``power_W``): the rates of a steady state sum to zero.
* ``imbalance`` = final − initial − Σ inflows (zero for an exact scheme; what is left is
  the solver's or the bookkeeping's error, in the balance's unit).
* Flows keep the name of what they cross or what makes them (``boundary:<group>``,
  ``region:<name>``, ``sources``, ``traps``, ``escape``, ``phonon_bath`` …); the flow of the
  pair processes (pair breaking minus recombination) is ``pair_processes`` in every model
  (:data:`FLOW_NAMES`).

Models may keep another sign inside (the discrete-ordinates steppers count flows out of
the system); they convert once, here, when they write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["FLOW_NAMES", "flow_name", "imbalance", "inflows"]

#: internal rate names that have another name in outputs
FLOW_NAMES = {"pair": "pair_processes"}


def flow_name(key: str) -> str:
    """The output name of an internal flow ``key`` (:data:`FLOW_NAMES`).

    Examples
    --------
    >>> flow_name("pair"), flow_name("boundary:drain")
    ('pair_processes', 'boundary:drain')
    """
    return FLOW_NAMES.get(key, key)


def inflows(rates: Mapping[str, float], scale: float = 1.0, *, kind: str | None = None,
            outward: bool = False) -> dict:
    """Flows in the convention of the module docstring, scaled to SI.

    Parameters
    ----------
    rates : mapping
        Internal flows; with ``kind`` their keys are ``"<kind>:<name>"`` (``"N"`` QP
        number, ``"E"`` energy, …) and only those of ``kind`` are taken, without the
        prefix.
    scale : float
        The SI value of one internal unit of the flows.
    outward : bool
        The flows are counted out of the system (they change sign).

    Returns
    -------
    dict
        ``{output name: inflow in SI}``.

    Examples
    --------
    >>> inflows({"N:pair": 2.0, "N:sources": 3.0, "E:sources": 9.0}, 10.0, kind="N")
    {'pair_processes': 20.0, 'sources': 30.0}
    >>> inflows({"boundary:drain": 4.0, "sources": -5.0}, outward=True)
    {'boundary:drain': -4.0, 'sources': 5.0}
    """
    sign = -scale if outward else scale
    if kind is None:
        return {flow_name(k): sign * v for k, v in rates.items()}
    p = kind + ":"
    return {flow_name(k[len(p):]): sign * v for k, v in rates.items() if k.startswith(p)}


def imbalance(initial: float, final: float, flows: Mapping[str, float] | Iterable[float]
              ) -> float:
    """final − initial − Σ inflows (module docstring).

    Examples
    --------
    >>> imbalance(1.0, 4.0, {"sources": 3.5, "boundary:drain": -0.5})
    0.0
    """
    vals = flows.values() if isinstance(flows, Mapping) else flows
    return final - initial - sum(vals)
