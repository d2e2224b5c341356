r"""Bulk mixing of the longitudinal and transverse branches (``[phonons] branches = "lt"``).

The branches are stacked as bins (:class:`.problem.PhononProblem`: bin :math:`j` is L at
:math:`\Omega_j = (j+1)h`, bin :math:`j + N_e` is T at the same energy). Two bulk processes
move phonons between them (``docs/theory_phonon.md``, "Branch mixing in the bulk"):

* **isotope scattering across branches** (``branch_mixing = "isotropic"``; Tamura, Phys.
  Rev. B 27, 858 (1983), isotropic elastic-continuum limit; G4CMP ``G4PhononScattering``
  draws the new mode by the partial densities of states). A phonon of either branch
  leaves at :math:`\gamma^I = A\nu^4` and lands in branch :math:`b'` with probability
  :math:`s_{b'} = g_{b'}/(g_L + g_T)`, isotropically. In the rows of branch :math:`b`
  this is :math:`g_b\gamma^I(\tilde n - n_{bk})` with the states-weighted mean
  :math:`\tilde n = \sum_{b'}s_{b'}\bar n_{b'}`, i.e. the within-branch term
  :math:`g_b\gamma^I(\bar n_b - n_{bk})` plus the symmetric exchange
  :math:`X(\bar n_{b'} - \bar n_b)`, :math:`X = \gamma^Ig_Lg_T/(g_L + g_T)`
  (:func:`isotope_exchange`): phonons and energy of every energy are conserved and one
  occupation in both branches is stationary (:math:`g_b\gamma_{b\to b'} =
  g_{b'}\gamma_{b'\to b} = X`).
* **anharmonic decay by channel** (Tamura, Phys. Rev. B 31, 2574 (1985)): an L phonon of
  :math:`\Omega_{j'}` decays at :math:`B\nu^5` into T + T (fraction :math:`f_{TT}`, the
  medium's ``anharmonic_TT_fraction``) or L + T (:math:`1 - f_{TT}`); each channel's
  pair is :math:`(ih, \Omega_{j'} - ih)`, :math:`i` uniform in :math:`1..j'`, so every
  decay puts exactly :math:`\Omega_{j'}` into the lower bins (:func:`decay_products`). T
  phonons do not decay (Tamura 1985: TA decay is much slower). ``branch_mixing =
  "none"`` keeps the simpler products of before (2 phonons split over L and T by their
  share of the density of states, :func:`dos_split_products`) and isotope scattering
  within each branch.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MIXING", "decay_products", "dos_split_products", "isotope_exchange",
           "pair_split"]

#: the values of ``[phonons] branch_mixing``
MIXING = ("isotropic", "none")


def pair_split(ne: int) -> np.ndarray:
    r"""Phonons per decay of bin :math:`j'` into each lower bin :math:`q < j'` for the
    uniform pair split :math:`(ih, \Omega_{j'} - ih)`, :math:`i = 1..j'`: :math:`2/j'`
    (both products), (ne, ne); column :math:`j'` carries 2 phonons and the energy
    :math:`\sum_{q<j'}(q+1)h\,2/j' = (j'+1)h = \Omega_{j'}`."""
    jj = np.arange(ne)
    return np.where(jj[:, None] < jj[None, :], 2.0 / np.maximum(jj[None, :], 1), 0.0)


def dos_split_products(ne: int, shares) -> np.ndarray:
    """``products`` (nb ne, nb ne) of a decaying first branch whose pair products are split
    over the ``shares`` of the branches (one effective branch: ``[1.0]``;
    ``branch_mixing = "none"``: the L and T shares of the density of states)."""
    nb = len(shares)
    split, total = pair_split(ne), sum(shares)
    out = np.zeros((nb * ne, nb * ne))
    for b, sb in enumerate(shares):
        out[b * ne:(b + 1) * ne, :ne] = split * sb / total
    return out


def decay_products(ne: int, tt_fraction: float) -> np.ndarray:
    r"""``products`` (2 ne, 2 ne) of L decays by channel: of every L decay in bin
    :math:`j'`, :math:`f_{TT}` give two T phonons (the pair on the T bins:
    :math:`2/j'` into each lower T bin) and :math:`1 - f_{TT}` an L and a T phonon (the
    pair's first member on the L bins, the second on the T bins: :math:`1/j'` into each
    lower bin of both). Per decay: :math:`1 - f_{TT}` L phonons carrying
    :math:`(1 - f_{TT})\Omega_{j'}/2` and :math:`1 + f_{TT}` T phonons carrying
    :math:`(1 + f_{TT})\Omega_{j'}/2` — in total 2 phonons and exactly
    :math:`\Omega_{j'}`."""
    if not 0.0 <= tt_fraction <= 1.0:
        raise ValueError(f"the L -> T + T fraction {tt_fraction} is not in [0, 1]")
    half = 0.5 * pair_split(ne)
    out = np.zeros((2 * ne, 2 * ne))
    out[:ne, :ne] = (1.0 - tt_fraction) * half
    out[ne:, :ne] = (1.0 + tt_fraction) * half
    return out


def isotope_exchange(g_l: np.ndarray, g_t: np.ndarray, rate: np.ndarray) -> np.ndarray:
    r"""The exchange coefficient :math:`X = \gamma^Ig_Lg_T/(g_L + g_T)` (per energy) of
    isotope scattering across branches: the rows of branch :math:`b` gain
    :math:`X(\bar n_{b'} - \bar n_b)` per unit volume. Summed over the two rows it
    vanishes (phonons of each energy conserved), and the difference
    :math:`\bar n_L - \bar n_T` of a uniform isotropic state relaxes at exactly
    :math:`X(1/g_L + 1/g_T) = \gamma^I`; 0 where both states vanish."""
    g_l, g_t = np.asarray(g_l, float), np.asarray(g_t, float)
    tot = g_l + g_t
    return np.divide(np.asarray(rate, float) * g_l * g_t, tot,
                     out=np.zeros(np.broadcast(g_l, g_t, rate).shape), where=tot > 0)
