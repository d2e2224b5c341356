r"""The electron-phonon collision processes, described once as a table.

Every term of the discrete collision integrals (notes Eqs. 35-40; FFT form Eqs. 41-45) is
an *outer* occupation factor of the row's own state times an *inner* sum over partner
states, and every inner sum is a sum of products of two *factors*, each linear in one
occupation, related by a discrete correlation or convolution on the energy nodes. This
module states those products; :mod:`fvqp.collisions.correlations` turns the table into
every evaluation path of the batched operator (residual terms, rates without the outer
factors, the exact Jacobian action, the QP-phonon coupling actions, the action with the
phonons condensed out, and the dense per-cell Jacobian blocks), so a new process of this
form is one more :class:`Process` here, plus its docs and tests.

Factors
-------
On the QP bins :math:`E_i = (m/2 + i + 1/2)h` (``i = 0..N-1``) and the phonon nodes
:math:`\Omega_k = kh`:

======  =====================================  ======  ==========================
name    value                                   grid    perturbation along (v, u)
======  =====================================  ======  ==========================
RF      :math:`\rho_if_i`                       qp      :math:`\rho_iv_i`
AF      :math:`\tilde\rho_if_i`                 qp      :math:`\tilde\rho_iv_i`
RFF     :math:`\rho_i(1-f_i)`                   qp      :math:`-\rho_iv_i`
AFF     :math:`\tilde\rho_i(1-f_i)`             qp      :math:`-\tilde\rho_iv_i`
P1, P0  :math:`W_k(1+n_k)`, :math:`W_kn_k`      ph      :math:`W_ku_k`
Q1, Q0  :math:`r_kW_k(1+n_k)`, :math:`r_kW_kn_k` pair    :math:`r_kW_ku_k`
======  =====================================  ======  ==========================

with :math:`W_k = \Omega_k^2` (zero at ``k = 0`` and beyond the phonon grid), the pair
kernel factors :math:`r_k` (``pair_weight``, default 1), the ``ph`` grid indexed by the
node ``k = 0..N-1`` and the ``pair`` grid by ``s = 0..2N-2`` at the node
:math:`\Omega_{s+m+1} = E_i + E_j` for ``i + j = s``.

Products
--------
A product ``(A, B)`` is the discrete correlation or convolution of two factors; a ``~``
marks a factor whose index runs *with* the output index (its transform conjugated):

* ``A * B`` (neither marked): :math:`c_s = \sum_i a_ib_{s-i}` (convolution);
* ``~A * B``: :math:`c_s = \sum_i a_ib_{i+s}`;
* ``A * ~B``: :math:`c_s = \sum_i a_{i+s}b_i`.

A :class:`Term` is ``coef * post_s * A * (B1 + B2 + ...)`` with ``post`` either 1 or
:math:`r_s = \tilde\rho_s/\rho_s` (the coherence factor of the QP row,
:math:`\rho_s\rho_j \mp \tilde\rho_s\tilde\rho_j = \rho_s(\rho_j \mp r_s\tilde\rho_j)`).

Rates and rows
--------------
A :class:`Rate` is a sum of terms on one output *domain* with one outer factor:

* ``qp`` rows: output ``s`` is QP bin ``s``; the term of :math:`\dot f_s` is
  :math:`q_sh\cdot\text{outer}_s\cdot\text{rate}_s` (:math:`q_s` = ``qp_scale`` where
  :math:`\rho_s > 0`, else 0), outer :math:`1 - f` (a gain) or :math:`f` (a loss);
* ``sc`` phonon rows: output ``s = 1..min(M, N-1)`` is the phonon node ``s``;
* ``pair`` phonon rows: output ``s`` is the node :math:`s + m + 1`, times :math:`r_k`;

the term of :math:`\dot n_k` is :math:`w\,c_{ph}h\cdot\text{outer}_k\cdot\text{rate}_k`
with the rate's weight ``w`` (2 for scattering, notes Eq. 39) and outer :math:`1 + n`
(a gain) or :math:`n` (a loss). The net rate of a row is gains minus losses.
A rate adds to one field of :class:`fvqp.collisions.kernels.CollisionTerms` (its
``field``, by default its name), which is how every consumer sees it: a new process of
the same kind adds its rates to the existing fields.

Conservation (:mod:`fvqp.collisions.kernels`): each process's QP and phonon rates are the
two halves of one transition rate density (:math:`G`, :math:`R` there), which is what the
conservation and detailed-balance tests of every path check.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FACTORS", "PAIRS", "PROCESSES", "SCATTERING", "Factor", "Process", "Rate",
           "Term"]


@dataclass(frozen=True)
class Factor:
    """A factor of the inner sums (module docstring).

    Attributes
    ----------
    grid : str
        ``"qp"``, ``"ph"`` or ``"pair"``.
    dos : str or None
        ``"rho"`` or ``"ados"`` for QP factors.
    occupation : str
        ``"f"``, ``"1-f"``, ``"1+n"`` or ``"n"``.
    """

    grid: str
    dos: str | None
    occupation: str

    @property
    def sign(self) -> float:
        """Sign of the factor's perturbation (:math:`1 - f` decreases with ``f``)."""
        return -1.0 if self.occupation == "1-f" else 1.0

    @property
    def base(self) -> str:
        """Name of the perturbation it shares with the factors of the same grid and DOS
        (``"rho"``, ``"ados"``, ``"ph"``, ``"pair"``)."""
        return self.dos if self.grid == "qp" else self.grid


FACTORS: dict[str, Factor] = {
    "RF": Factor("qp", "rho", "f"),
    "AF": Factor("qp", "ados", "f"),
    "RFF": Factor("qp", "rho", "1-f"),
    "AFF": Factor("qp", "ados", "1-f"),
    "P1": Factor("ph", None, "1+n"),
    "P0": Factor("ph", None, "n"),
    "Q1": Factor("pair", None, "1+n"),
    "Q0": Factor("pair", None, "n"),
}


@dataclass(frozen=True)
class Term:
    """``coef * post * a * (b[0] + b[1] + ...)``; a name with a leading ``~`` runs with the
    output index (module docstring)."""

    coef: float
    post: str          # "1" or "r"
    a: str
    b: tuple[str, ...]


@dataclass(frozen=True)
class Rate:
    """The inner sum of one term of the collision integrals (module docstring)."""

    name: str
    outer: str         # "1-f", "f" (QP rows); "1+n", "n" (phonon rows)
    domain: str        # "qp", "sc", "pair"
    terms: tuple[Term, ...]
    weight: float = 1.0
    field: str = ""    # the CollisionTerms field it adds to (default: its name)

    @property
    def target(self) -> str:
        """The :class:`fvqp.collisions.kernels.CollisionTerms` field of the rate: rates
        of several processes may add to one field (a second phonon branch adds to
        ``qp_sc_in`` ...)."""
        return self.field or self.name

    @property
    def row(self) -> str:
        """``"qp"`` or ``"ph"``."""
        return "qp" if self.outer in ("f", "1-f") else "ph"

    @property
    def gain(self) -> bool:
        """True for a gain (outer :math:`1 - f` or :math:`1 + n`), False for a loss."""
        return self.outer in ("1-f", "1+n")


@dataclass(frozen=True)
class Process:
    """A collision process: its QP and phonon rates; ``pair`` if it changes the QP
    number (by twice the phonon number it changes)."""

    name: str
    rates: tuple[Rate, ...]
    pair: bool = False


#: QP scattering by phonon emission and absorption, E + Omega <-> E (notes Eqs. 35, 39):
#: coherence factor rho rho' - ados ados'.
SCATTERING = Process("scattering", (
    Rate("qp_sc_in", "1-f", "qp", (Term(1.0, "1", "RF", ("~P1", "P0")),
                                   Term(-1.0, "r", "AF", ("~P1", "P0")))),
    Rate("qp_sc_out", "f", "qp", (Term(1.0, "1", "RFF", ("~P0", "P1")),
                                  Term(-1.0, "r", "AFF", ("~P0", "P1")))),
    Rate("ph_sc_in", "1+n", "sc", (Term(1.0, "1", "~RFF", ("RF",)),
                                   Term(-1.0, "1", "~AFF", ("AF",))), weight=2.0),
    Rate("ph_sc_out", "n", "sc", (Term(1.0, "1", "~RF", ("RFF",)),
                                  Term(-1.0, "1", "~AF", ("AFF",))), weight=2.0),
))

#: Recombination and pair breaking, E + E' <-> Omega (notes Eqs. 36, 37, 40): coherence
#: factor rho rho' + ados ados'.
PAIRS = Process("pair", (
    Rate("qp_rec", "f", "qp", (Term(1.0, "1", "~RF", ("Q1",)),
                               Term(1.0, "r", "~AF", ("Q1",)))),
    Rate("qp_pb", "1-f", "qp", (Term(1.0, "1", "~RFF", ("Q0",)),
                                Term(1.0, "r", "~AFF", ("Q0",)))),
    Rate("ph_rec", "1+n", "pair", (Term(1.0, "1", "RF", ("RF",)),
                                   Term(1.0, "1", "AF", ("AF",)))),
    Rate("ph_pb", "n", "pair", (Term(1.0, "1", "RFF", ("RFF",)),
                                Term(1.0, "1", "AFF", ("AFF",)))),
), pair=True)

#: The processes of the batched operator, in the order of
#: :class:`fvqp.collisions.kernels.CollisionTerms`' fields.
PROCESSES: tuple[Process, ...] = (SCATTERING, PAIRS)
