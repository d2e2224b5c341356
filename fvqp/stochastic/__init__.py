"""Stochastic models: spin-polarised quasiparticle clusters (Meyer, Houzet, Nazarov 2020).

Submodules
----------
spin_clusters
    Parameters, mean field (Eqs. 1-6), analytic distributions and moments (Eqs. 7-9,
    S12-S14).
crossover
    Cross-over to the unpolarised state (Eqs. S7-S10, Fig. S1).
master
    Sparse master equations (S4), (S5), stationary states, evolution, noise.
fokker_planck
    FiPy finite-volume solution of the Fokker-Planck equations (S6), (S11); imported lazily
    (``from fvqp.stochastic import fokker_planck``) because FiPy is slow to import.
"""

from fvqp.stochastic import crossover, master
from fvqp.stochastic.spin_clusters import *  # noqa: F403
from fvqp.stochastic.spin_clusters import __all__ as _sc_all

__all__ = ["crossover", "master", *_sc_all]
