"""Stochastic models of excess quasiparticles at very low density.

Localized quasiparticles annihilating pairwise (Bespalov, Houzet, Meyer, Nazarov 2016) and
spin-polarised quasiparticle clusters (Meyer, Houzet, Nazarov 2020).

Submodules
----------
tail_states
    Localized tail states below the gap edge, Eqs. (3)-(6) of Bespalov et al.: DOS,
    L(eps), eps_T, L_T, N(eps), eps_c, r_c.
annihilation
    Pair rate Gamma(R) (Eq. 7), Gamma_bar from material data, Eqs. (8)-(9) and their fit.
fenwick, cells
    Fenwick tree of rates and periodic cell lists (the event-loop data structures).
kmc
    Gillespie Monte Carlo of generation + pairwise annihilation in a periodic box.
kmc_runs
    Stationary c(A) with error bars, sweeps, free relaxation at A = 0.
bubbles
    Bursting-bubbles model with and without classical spin and spin flips, Eqs. (S8)-(S10).
estimates
    Meyer et al.'s Al estimates and the SQUID flux-noise estimate.
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

from fvqp.stochastic import annihilation, bubbles, crossover, estimates, kmc, master, tail_states
from fvqp.stochastic.spin_clusters import *  # noqa: F403
from fvqp.stochastic.spin_clusters import __all__ as _sc_all

__all__ = ["annihilation", "bubbles", "crossover", "estimates", "kmc", "master",
           "tail_states", *_sc_all]
