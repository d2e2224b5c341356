"""Anderson (type-II, Walker & Ni 2011) acceleration of a fixed-point map x -> g(x)."""

from __future__ import annotations

from collections import deque

import numpy as np

__all__ = ["AndersonMixer"]


class AndersonMixer:
    """Keeps the last ``depth`` iterates/residuals and returns the next iterate.

    Parameters
    ----------
    depth : int
        History length m (0 = plain under-relaxation).
    beta : float
        Relaxation (mixing) parameter, ``x_new = x + beta * r`` without history.
    """

    def __init__(self, depth: int = 6, beta: float = 0.5) -> None:
        self.depth = int(depth)
        self.beta = float(beta)
        self._dx: deque[np.ndarray] = deque(maxlen=max(self.depth, 1))
        self._dr: deque[np.ndarray] = deque(maxlen=max(self.depth, 1))
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def reset(self) -> None:
        self._dx.clear()
        self._dr.clear()
        self._last = None

    def step(self, x: np.ndarray, gx: np.ndarray) -> np.ndarray:
        """Next iterate from the current ``x`` and its image ``gx`` (residual ``gx - x``)."""
        r = gx - x
        if self._last is not None and self.depth > 0:
            self._dx.append(x - self._last[0])
            self._dr.append(r - self._last[1])
        self._last = (x.copy(), r.copy())
        if not self._dr:
            return x + self.beta * r
        df = np.stack(self._dr, axis=1)
        dxm = np.stack(self._dx, axis=1)
        gamma, *_ = np.linalg.lstsq(df, r, rcond=None)
        return x + self.beta * r - (dxm + self.beta * df) @ gamma
