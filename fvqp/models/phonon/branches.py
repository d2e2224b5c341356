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
  pair is :math:`(ih, \Omega_{j'} - ih)`, :math:`i = 1..j'`, drawn from the channel's
  kinematic energy spectrum in Tamura's isotropic model (``[phonons] decay_spectrum =
  "kinematic"``, the default: :func:`lt_spectrum`, :func:`tt_spectrum`,
  :func:`pair_weights`) or uniformly (``"uniform"``, :func:`uniform_weights`), both by
  :func:`decay_products`; either way every decay puts exactly :math:`\Omega_{j'}` into
  the lower bins. T phonons do not decay (Tamura 1985: TA decay is much slower).
  ``branch_mixing = "none"`` keeps the simpler products of before (2 phonons split over L
  and T by their share of the density of states, :func:`dos_split_products`) and
  isotope scattering within each branch.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MIXING", "SPECTRA", "decay_products", "dos_split_products", "isotope_exchange",
           "lt_spectrum", "lt_support", "pair_nodes", "pair_split", "pair_weights",
           "tt_spectrum", "tt_support", "uniform_weights"]

#: the values of ``[phonons] branch_mixing``
MIXING = ("isotropic", "none")
#: the values of ``[phonons] decay_spectrum`` (the energy split of the decay products)
SPECTRA = ("kinematic", "uniform")
#: Gauss-Legendre nodes per pair interval in :func:`pair_weights` (the spectra are smooth
#: rational functions on their support: 16 nodes integrate them to round-off, tested
#: against adaptive quadrature)
GAUSS_NODES = 16


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


def lt_spectrum(x, delta: float) -> np.ndarray:
    r"""Unnormalised energy spectrum of the L product of L -> L + T in Tamura's isotropic
    model (Phys. Rev. B 31, 2574 (1985); as transcribed in G4CMP's
    ``G4CMPAnharmonicDecay::GetLTDecayProb``), in the energy fraction
    :math:`x = \Omega_{L'}/\Omega_L` of that product, :math:`\delta = v_L/v_T`:

    .. math:: P_{LT}(x) \propto \frac{(1 - x^2)^2}{x^2}\,\big[(1 + x)^2 - \delta^2(1 -
        x)^2\big]\,\big[1 + x^2 - \delta^2(1 - x)^2\big]^2

    on the kinematic support :math:`(\delta - 1)/(\delta + 1) < x < 1` (momentum
    conservation :math:`|\mathbf k_L - \mathbf k_{L'}| \le k_T \le k_L + k_{L'}` with
    :math:`k = \Omega/v`), zero outside. It depends on the medium only through
    :math:`\delta`."""
    x = np.asarray(x, dtype=float)
    d2, y = delta * delta, (1.0 - x) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (1.0 - x * x) ** 2 * ((1.0 + x) ** 2 - d2 * y) * (1.0 + x * x - d2 * y) ** 2 / (x * x)
    inside = (x > (delta - 1.0) / (delta + 1.0)) & (x < 1.0)
    return np.where(inside, p, 0.0)


def tt_spectrum(x, delta: float, beta: float, gamma: float, lam: float, mu: float
                ) -> np.ndarray:
    r"""Unnormalised energy spectrum of either T product of L -> T + T in Tamura's
    isotropic model (Phys. Rev. B 31, 2574 (1985); as transcribed in G4CMP's
    ``G4CMPAnharmonicDecay::GetTTDecayProb``), in the energy fraction
    :math:`x = \Omega_{T_1}/\Omega_L`. With :math:`s = \delta x`,
    :math:`u = s(\delta - s)` and the second- (:math:`\lambda, \mu`) and third-order
    (:math:`\beta, \gamma`) elastic constants of the isotropic model,

    .. math:: P_{TT}(x) \propto (A + Bu)^2 + \Big(Cu + D\Big[1 + \frac{1 - \delta^2}{4u}
        \Big]\Big)^2,

    :math:`A = \tfrac12(1 - \delta^2)[\beta + \lambda + (1 + \delta^2)(\gamma + \mu)]`,
    :math:`B = \beta + \lambda + 2\delta^2(\gamma + \mu)`,
    :math:`C = \beta + \lambda + 2(\gamma + \mu)`,
    :math:`D = (1 - \delta^2)(2\beta + 4\gamma + \lambda + 3\mu)`, on the kinematic
    support :math:`|2x - 1| < 1/\delta` (:math:`|k_{T_1} - k_{T_2}| \le k_L`), zero
    outside. Symmetric under :math:`x \to 1 - x` (the two T products are alike); only the
    ratios of the constants matter."""
    x = np.asarray(x, dtype=float)
    d2 = delta * delta
    a = 0.5 * (1.0 - d2) * (beta + lam + (1.0 + d2) * (gamma + mu))
    b = beta + lam + 2.0 * d2 * (gamma + mu)
    c = beta + lam + 2.0 * (gamma + mu)
    d = (1.0 - d2) * (2.0 * beta + 4.0 * gamma + lam + 3.0 * mu)
    s = delta * x
    u = s * (delta - s)
    inside = np.abs(2.0 * x - 1.0) < 1.0 / delta
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (a + b * u) ** 2 + (c * u + d * (1.0 + (1.0 - d2) / (4.0 * u))) ** 2
    return np.where(inside, p, 0.0)


def pair_weights(ne: int, spectrum, support: tuple[float, float] = (0.0, 1.0)
                 ) -> np.ndarray:
    r"""Probabilities ``w[i - 1, j']`` of the pair :math:`(ih, \Omega_{j'} - ih)`,
    :math:`i = 1..j'`, for a decay in bin :math:`j'` (:math:`\Omega_{j'} = (j'+1)h`), from
    the continuous ``spectrum`` of the first product's energy fraction :math:`x`: the
    integral of the spectrum over the pair's interval :math:`x \in [(i - \tfrac12),
    (i + \tfrac12)]/(j' + 1)` within its kinematic ``support`` (the spectrum has a kink at
    the support's ends; :data:`GAUSS_NODES`-point Gauss-Legendre), normalised over
    the pairs of the grid (a product below half a bin has no bin: that part of the
    spectrum is shared out over the others). A column whose spectrum misses every
    interval (a support narrower than the grid resolves) puts the decay on the pair
    nearest the spectrum's mean. Every column sums to 1 (0 for :math:`j' = 0`, which has
    no lower bins), so each decay gives two phonons and exactly :math:`\Omega_{j'}`.
    The nodes and their weights: :func:`pair_nodes`."""
    w = np.zeros((max(ne - 1, 0), ne))
    for j in range(1, ne):
        w[:j, j] = pair_nodes(j, spectrum, support)[1].sum(axis=1)
    return w


def pair_nodes(j: int, spectrum, support: tuple[float, float] = (0.0, 1.0)
               ) -> tuple[np.ndarray, np.ndarray]:
    r"""The quadrature behind :func:`pair_weights` for a decay in bin :math:`j \ge 1`:
    energy fractions ``x`` (j, :data:`GAUSS_NODES`) of the first product at the Gauss
    nodes of each pair's interval, and their weights (same shape; spectrum times Gauss
    weight, normalised to a total of 1), so that pair :math:`i` has probability
    ``weights[i - 1].sum()``. Where the spectrum misses every interval, the pair nearest
    its mean gets weight 1 on one node at that mean (the other weights 0). Used by
    :mod:`.decay_angles` for the products' directions within each pair."""
    t, gw = np.polynomial.legendre.leggauss(GAUSS_NODES)
    i = np.arange(1, j + 1, dtype=float)
    lo = np.maximum((i - 0.5) / (j + 1), support[0])
    hi = np.maximum(np.minimum((i + 0.5) / (j + 1), support[1]), lo)
    x = 0.5 * (hi - lo)[:, None] * t[None, :] + 0.5 * (hi + lo)[:, None]
    wts = 0.5 * (hi - lo)[:, None] * spectrum(x) * gw[None, :]
    total = wts.sum()
    if total > 0:
        return x, wts / total
    mean = _mean(spectrum, support)
    wts = np.zeros_like(x)
    wts[int(np.clip(round(mean * (j + 1)), 1, j)) - 1, 0] = 1.0
    return np.full_like(x, mean), wts


def _mean(spectrum, support: tuple[float, float]) -> float:
    """Mean energy fraction of ``spectrum`` on ``support`` (sampled; 1/2 if it vanishes)."""
    xs = np.linspace(support[0], support[1], 4001)
    ps = spectrum(xs)
    return float(np.sum(xs * ps) / np.sum(ps)) if np.sum(ps) > 0 else 0.5


def lt_support(delta: float) -> tuple[float, float]:
    """Kinematic support of :func:`lt_spectrum`: :math:`((\\delta - 1)/(\\delta + 1), 1)`."""
    return (delta - 1.0) / (delta + 1.0), 1.0


def tt_support(delta: float) -> tuple[float, float]:
    """Kinematic support of :func:`tt_spectrum`: :math:`((1 \\mp 1/\\delta)/2)`."""
    return 0.5 * (1.0 - 1.0 / delta), 0.5 * (1.0 + 1.0 / delta)


def uniform_weights(ne: int) -> np.ndarray:
    r"""Pair probabilities (as :func:`pair_weights`) of the uniform split: :math:`1/j'`
    for every pair :math:`i = 1..j'` of a decay in bin :math:`j'`."""
    return 0.5 * pair_split(ne)[:-1]


def decay_products(ne: int, tt_fraction: float, lt_weights: np.ndarray | None = None,
                   tt_weights: np.ndarray | None = None) -> np.ndarray:
    r"""``products`` (2 ne, 2 ne) of L decays by channel, with pair probabilities
    ``lt_weights``, ``tt_weights`` (:func:`pair_weights`; default
    :func:`uniform_weights`): of every L decay in bin :math:`j'`, :math:`1 - f_{TT}` give
    the L product in L bin :math:`i - 1` and the T product in T bin :math:`j' - i` with
    probability ``lt_weights[i - 1, j']``, :math:`f_{TT}` two T products in T bins
    :math:`i - 1` and :math:`j' - i` with ``tt_weights[i - 1, j']``. Per decay
    :math:`1 - f_{TT}` L and :math:`1 + f_{TT}` T phonons, in total exactly
    :math:`\Omega_{j'}` (with the uniform split the L phonons carry
    :math:`(1 - f_{TT})\Omega_{j'}/2`, the T phonons :math:`(1 + f_{TT})\Omega_{j'}/2`)."""
    if not 0.0 <= tt_fraction <= 1.0:
        raise ValueError(f"the L -> T + T fraction {tt_fraction} is not in [0, 1]")
    uniform = uniform_weights(ne)
    lt_weights = uniform if lt_weights is None else lt_weights
    tt_weights = uniform if tt_weights is None else tt_weights
    out = np.zeros((2 * ne, 2 * ne))
    for j in range(1, ne):
        first = np.arange(j)            # bin of the first product, i - 1
        second = j - 1 - first          # bin of the second, j' - i
        lt, tt = lt_weights[:j, j], tt_weights[:j, j]
        np.add.at(out, (first, j), (1.0 - tt_fraction) * lt)
        np.add.at(out, (ne + second, j), (1.0 - tt_fraction) * lt)
        np.add.at(out, (ne + first, j), tt_fraction * tt)
        np.add.at(out, (ne + second, j), tt_fraction * tt)
    return out
