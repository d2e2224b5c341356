r"""Where a phonon deposit goes: the cell weights of a deposit along a straight track."""

from __future__ import annotations

import numpy as np

from ...mesh.sources import spatial_weights

__all__ = ["track_weights"]


def track_weights(dist, geometry, s, scale: float) -> np.ndarray:
    r"""Owned-cell weights of a straight track from ``position`` along ``direction`` of
    ``length`` (source table ``s``, mesh units times ``scale``):
    :math:`\propto V e^{-d^2/2r^2}` with :math:`d` the distance to the segment (uniform
    dE/dx = deposit / length), summing to 1 over all ranks."""
    loc = dist.local
    n = loc.n_owned
    p0 = np.array(list(s["position"]) + [0.0] * (3 - len(s["position"]))) * scale
    dv = np.array(list(s["direction"]) + [0.0] * (3 - len(s["direction"])), float)
    dv /= np.linalg.norm(dv)
    L, r = s["length"], s["radius"]
    x = loc.centroid[:n] - p0
    t = np.clip(x @ dv, 0.0, L)
    dist2 = np.sum((x - t[:, None] * dv) ** 2, axis=1)
    names = geometry.region_names
    sel = (loc.cell_region[:n] == names.index(s["region"])) if s.get("region") else \
        np.ones(n, bool)
    w = spatial_weights(dist, loc.volume[:n], sel, loc.centroid[:n])
    w = w * np.exp(-0.5 * dist2 / r**2)
    return w / dist.sum(float(w.sum()))
