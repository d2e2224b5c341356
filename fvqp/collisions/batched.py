r"""The discrete collision operator for many cells at once (spatial models).

Same discrete operator as :mod:`fvqp.collisions.direct` / :mod:`fvqp.collisions.fft`
(notes Eqs. 35-40, FFT form Eqs. 41-45), evaluated for a batch of ``C`` cells that share
the energy *nodes* but each have their own density of states, occupations and material
prefactors:

* arrays ``f, rho, ados`` of shape ``(C, N)`` on the QP nodes
  :math:`E_i = (m/2 + i + 1/2)h` and ``n`` of shape ``(C, M)`` on the phonon nodes
  :math:`\Omega_k = kh`; the kinematics :math:`E_i + \Omega_k = E_{i+k}`,
  :math:`E_i + E_j = \Omega_{i+j+m+1}` hold for any ``m`` (here ``m = 2 j_0`` with
  :math:`E_{lo} = j_0 h` the lower edge of the first QP cell, which may lie *below* a
  cell's gap: bins without states have ``rho = ados = 0`` and give zero QP terms);
* per-cell prefactors: the QP terms are multiplied by ``qp_scale`` (``1`` in the
  material's own units :math:`k_BT_c, \tau_0`; :math:`(\tau_{ref}/\tau_0)
  (T_{c,ref}/T_c)^3` in reference units) and the phonon terms use ``c_ph`` per cell
  (:math:`c_{ph} = \tau_{ref}/(\pi\Delta_0\tau_0^\phi)` with :math:`\Delta_0` in
  reference energy units).  The conserved energy per cell is then
  :math:`\sum_i h\bar\rho_iE_if_i + \beta\sum_k h\Omega_k^3 n_k` with
  :math:`\beta = \text{qp\_scale}/(2c_{ph})` (the 0D identity of
  :mod:`fvqp.collisions.kernels` scaled by ``qp_scale``).

The processes are described once, as a table of outer factors and inner correlations
(:mod:`fvqp.collisions.processes`); this module is the public face of the paths
generated from it (:mod:`fvqp.collisions.correlations`,
:mod:`fvqp.collisions.correlation_blocks`):

* the residual's gain/loss terms, :func:`batched_terms` (analytic in ``(f, n)``:
  complex-step differentiation through it is exact, :func:`collision_jacobian_blocks`);
* the exact Jacobian action by the product rule in real arithmetic, :func:`batched_jvp`
  (with :func:`outer_derivative` and :func:`linearisation_spectra` kept per
  linearisation point): 4 forward transforms of the perturbation and 8 inverse ones
  against 16 and 24 for the complex step;
* the QP-phonon coupling actions from stored QP spectra, :class:`CouplingSpectra`, and
  the QP rows with the phonons condensed out, :func:`condensed_qp_jvp`;
* dense per-cell blocks by gathers on the kinematics, :func:`batched_blocks`,
  :func:`qp_block`, and the dense :math:`(N + M)^2` Jacobian, :func:`batched_jacobian`.

The transform length is ``L >= 2N + 1``; no circular wrap-around reaches an output.
"""

from __future__ import annotations

import numpy as np

from .correlation_blocks import OUTER, collision_blocks
from .correlations import (
    EACH,
    FIELDS,
    PH_SIDES,
    QP_SIDES,
    SIDES,
    Perturbation,
    State,
    evaluate,
    transform_length,
)
from .kernels import CollisionTerms

__all__ = ["BatchedTerms", "CouplingSpectra", "batched_blocks", "batched_jacobian",
           "batched_jvp", "batched_terms", "collision_jacobian_blocks",
           "condensed_qp_jvp", "linearisation_spectra", "outer_derivative", "qp_block"]


#: Gain/loss terms of a batch of cells: the 0D container with 2D arrays, QP arrays of shape
#: ``(C, N)`` and phonon arrays ``(C, M)`` (rates in the reference time unit).
BatchedTerms = CollisionTerms

def _arrays(f, n, rho, ados):
    f, n = np.atleast_2d(f), np.atleast_2d(n)
    return f, n, np.broadcast_to(rho, f.shape), np.broadcast_to(ados, f.shape)


def batched_terms(f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray, *,
                  h: float, m: int, qp_scale=1.0, c_ph=1.0, pair_weight=None,
                  outer: bool = False, ph_states=None):
    r"""Gain/loss terms of the collision integrals of ``C`` cells.

    Parameters
    ----------
    f, rho, ados : ndarray, shape (C, N)
        QP occupation and cell-averaged normal/anomalous DOS (zero in bins without
        states).  ``f`` and ``n`` may be complex (complex-step differentiation).
    n : ndarray, shape (C, M)
        Phonon occupation at :math:`\Omega_k = kh`, ``k = 1..M``.
    h : float
        Energy spacing.
    m : int
        Pair-kinematics offset: :math:`E_i + E_j = \Omega_{i+j+m+1}`.
    qp_scale, c_ph : float or ndarray, shape (C,)
        Per-cell prefactors of the QP and phonon terms (module docstring).
    pair_weight : ndarray, shape (M,) or (C, M), optional
        Factor :math:`r_k` of the pair kernel at phonon node ``k`` (default ones).  An
        :class:`~fvqp.collisions.EnergyGrid` in the vertex layout is reproduced with
        ``m = grid.pair_offset - 1``, ``pair_weight = grid.pair_weight`` and
        ``ph_states = grid.phonon_states``.
    outer : bool
        Also return the outer-factor derivatives ``(g_f, g_n)`` of the net rates
        (:func:`outer_derivative`, from the inner sums computed here anyway).
    ph_states : ndarray, shape (M,), optional
        Phonon states :math:`g_k` of the nodes (default :math:`\Omega_k^2`;
        :attr:`fvqp.collisions.EnergyGrid.phonon_states`).

    Returns
    -------
    BatchedTerms, or (BatchedTerms, (g_f, g_n)) with ``outer``
    """
    f, n, rho, ados = _arrays(f, n, rho, ados)
    st = State.build(f, n, rho, ados, h=h, m=m, qp_scale=qp_scale, pair_weight=pair_weight,
                     ph_states=ph_states)
    rates = evaluate(st, EACH, c_ph=c_ph)
    occ = {("qp", True): 1.0 - f, ("qp", False): f, ("ph", True): 1.0 + n,
           ("ph", False): n}
    # no clipping of round-off negatives: the QP terms are not clipped either, and the
    # phonon terms must mirror them exactly for energy conservation (also when an
    # occupation undershoots zero slightly, e.g. in BDF2 steps)
    terms = BatchedTerms(**{k: occ[side] * rates[k] for side, ks in FIELDS.items()
                            for k in ks})
    if not outer:
        return terms
    g_f = -sum(rates[k] for k, _ in SIDES["qp_gain"] + SIDES["qp_loss"])
    g_n = (sum(rates[k] for k, _ in SIDES["ph_gain"])
           - sum(rates[k] for k, _ in SIDES["ph_loss"]))
    return terms, (g_f, g_n)


def outer_derivative(f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray, *,
                     h: float, m: int, qp_scale=1.0, c_ph=1.0, pair_weight=None
                     ) -> tuple[np.ndarray, np.ndarray]:
    r"""The diagonal part :math:`g^f = -\sum` QP rates, :math:`g^n` = phonon gains minus
    losses of the collision Jacobian that comes from the outer occupation factors, shapes
    (C, N) and (C, M); arguments as for :func:`batched_terms` (real ``f``, ``n``)."""
    f, n, rho, ados = _arrays(f, n, rho, ados)
    st = State.build(f, n, rho, ados, h=h, m=m, qp_scale=qp_scale, pair_weight=pair_weight)
    g = evaluate(st, OUTER, c_ph=c_ph)
    return g["qp"], g["ph"]


def linearisation_spectra(f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray,
                          *, h: float, m: int, qp_scale=1.0, pair_weight=None) -> State:
    r"""The transforms of the state factors at ``(f, n)`` (8 forward transforms): pass
    them to :func:`batched_jvp` (``spectra``) for every direction at the same
    linearisation point, so an action transforms only the perturbation (4 forward,
    8 inverse transforms). Memory: 8 complex arrays of :math:`\lfloor L/2\rfloor + 1`
    values per cell, :math:`L \ge 2N + 1`."""
    f, n, rho, ados = _arrays(f, n, rho, ados)
    return State.build(f, n, rho, ados, h=h, m=m, qp_scale=qp_scale,
                       pair_weight=pair_weight)


def batched_jvp(f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray,
                v: np.ndarray, u: np.ndarray, *, h: float, m: int, qp_scale=1.0, c_ph=1.0,
                pair_weight=None, outer: tuple | None = None, spectra: State | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact directional derivative of the net collision rates (``qp``, ``ph`` of
    :func:`batched_terms`) at ``(f, n)`` along ``(v, u)``.

    Every term is an outer factor times an inner sum of correlations of factors linear in
    ``(f, n)`` (:mod:`fvqp.collisions.processes`), so by the product rule
    :math:`\delta S^{qp} = g^fv + (1-f)\,\delta\,\text{gain} - f\,\delta\,\text{loss}`
    and :math:`\delta S^{ph} = g^nu + (1+n)\,\delta\,\text{gain} - n\,\delta\,
    \text{loss}`, each :math:`\delta` the same correlations with one factor replaced by
    its perturbation (exact to round-off, as the complex step of the same operator).

    Parameters
    ----------
    f, rho, ados, v : ndarray, shape (C, N)
    n, u : ndarray, shape (C, M)
    h, m, qp_scale, c_ph, pair_weight
        As for :func:`batched_terms`.
    outer : tuple of ndarray, optional
        :func:`outer_derivative` at ``(f, n)`` (computed here if None): pass it when the
        same state is linearised for many directions (Krylov iterations).
    spectra : State, optional
        :func:`linearisation_spectra` at ``(f, n)`` (computed here if None).

    Returns
    -------
    dqp, dph : ndarray, shapes (C, N), (C, M)
    """
    f, n, rho, ados = _arrays(f, n, rho, ados)
    if outer is None:
        outer = outer_derivative(f, n, rho, ados, h=h, m=m, qp_scale=qp_scale, c_ph=c_ph,
                                 pair_weight=pair_weight)
    st = spectra if spectra is not None else linearisation_spectra(
        f, n, rho, ados, h=h, m=m, qp_scale=qp_scale, pair_weight=pair_weight)
    d = evaluate(st, SIDES, c_ph=c_ph, perturbation=Perturbation(st, rho, ados, v, u))
    dqp = outer[0] * v + (1.0 - f) * d["qp_gain"] - f * d["qp_loss"]
    dph = outer[1] * u + (1.0 + n) * d["ph_gain"] - n * d["ph_loss"]
    return dqp, dph


def condensed_qp_jvp(s: State, f: np.ndarray, n: np.ndarray, rho: np.ndarray,
                     ados: np.ndarray, v: np.ndarray, gain: np.ndarray,
                     outer_f: np.ndarray, *, h: float, m: int, c_ph=1.0, pair_weight=None,
                     w0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""The QP rows of the action with the phonons condensed out
    (:mod:`fvqp.models.transport.condensed`): :math:`\delta S^{qp}(v, w)` with
    :math:`w = \gamma\odot\delta S^{ph}(v, 0) + w_0`.

    With the phonon block of the Newton matrix diagonal (every phonon term is an outer
    factor :math:`n_k` or :math:`1 + n_k` times a sum over QP states), the condensed
    direction of a QP perturbation :math:`v` is :math:`w = \gamma\odot\delta
    S^{ph}(v, 0)` with a per-mode gain :math:`\gamma` (for the transport model
    :math:`\gamma = m^n/D`, zero for phonons held at the bath). The phonon rows of
    :math:`(v, 0)` need the transforms of :math:`\rho v, \tilde\rho v`, the QP rows of
    :math:`(v, w)` those and the transforms of the pair factors of :math:`w`: 4 forward
    and 8 inverse transforms in all, as one action of the whole state.

    Parameters
    ----------
    s : State
        :func:`linearisation_spectra` at ``(f, n)``.
    f, rho, ados, v : ndarray, shape (C, N)
        ``v`` None: zero (the QP rows of :math:`(0, w_0)`: 2 forward and 4 inverse
        transforms, no phonon-row evaluation).
    n, gain : ndarray, shape (C, M)
        The phonon state and the gain :math:`\gamma`.
    outer_f : ndarray, shape (C, N)
        The QP outer derivatives :math:`g^f` (:func:`outer_derivative`).
    h, m, c_ph, pair_weight
        As for :func:`batched_terms` (``h``, ``m``, ``pair_weight`` those of ``s``).
    w0 : ndarray, shape (C, M), optional
        A phonon direction added to :math:`w` (e.g. :math:`D^{-1}r_n` of the condensed
        right-hand side, with ``v = 0``).

    Returns
    -------
    dqp : ndarray, shape (C, N)
    w : ndarray, shape (C, M)
    """
    pert = Perturbation(s, rho, ados, v, None)
    if v is None:  # a phonon direction alone: w = w0, no QP transforms
        if w0 is None:
            raise ValueError("condensed_qp_jvp needs a QP direction v or a phonon w0")
        w = np.array(w0, dtype=float)
    else:
        d = evaluate(s, PH_SIDES, c_ph=c_ph, perturbation=pert)
        w = (1.0 + n) * d["ph_gain"] - n * d["ph_loss"]
        w *= gain
        if w0 is not None:
            w += w0
    pert.set_phonons(w)
    d = evaluate(s, QP_SIDES, perturbation=pert)
    dqp = (1.0 - f) * d["qp_gain"] - f * d["qp_loss"]
    if v is not None:
        dqp += outer_f * v
    return dqp, w


class CouplingSpectra:
    r"""Transforms of the QP factors of ``n`` cells, kept to apply the coupling blocks
    :math:`\partial S_{qp}/\partial n` (N x M) and :math:`\partial S_{ph}/\partial f`
    (M x N) by FFTs.

    Both blocks are parts of the exact action (:func:`batched_jvp`) along a phonon
    direction :math:`(0, u)` and a QP direction :math:`(v, 0)`; neither needs the outer
    derivatives (they sit on the diagonal of the QP-QP and phonon-phonon blocks), and both
    need only the transforms of the four QP factors :math:`\rho f, \tilde\rho f,
    \rho(1-f), \tilde\rho(1-f)`: :math:`4(\lfloor L/2\rfloor + 1)` complex values per
    cell, :math:`L \ge 2N+1` (in ``complex64`` for a single-precision preconditioner:
    2.2 KB per cell at N = 66 against 67 KB for the two blocks in ``float32``).

    Parameters
    ----------
    n_cells, nq : int
        Cells and QP bins.
    h : float
        Bin width (phonon node spacing).
    m : int
        Pair offset (:func:`batched_terms`).
    dtype : numpy dtype
        ``float32`` (transforms in single precision, spectra ``complex64``) or
        ``float64``.
    """

    _QP = ("RF", "AF", "RFF", "AFF")

    def __init__(self, n_cells: int, nq: int, *, h: float, m: int, dtype=np.float32):
        self.nq, self.h, self.m = nq, h, m
        self.dtype = np.dtype(dtype)
        self.L = transform_length(nq)
        cdt = np.result_type(self.dtype, np.complex64)
        #: rho f, ados f, rho (1-f), ados (1-f) transformed, per cell (n, 4, L/2 + 1)
        self.spec = np.empty((n_cells, 4, self.L // 2 + 1), dtype=cdt)

    def set(self, sl: slice, f: np.ndarray, rho: np.ndarray, ados: np.ndarray) -> None:
        """The spectra of the cells ``sl`` at the QP occupations ``f`` (C, N)."""
        st = State.build(f, None, rho, ados, h=self.h, m=self.m, factors=self._QP,
                         dtype=self.dtype, nph=0, compact=False)
        for k, name in enumerate(self._QP):
            self.spec[sl, k] = st.spectra[name]

    def _state(self, sl: slice, rho: np.ndarray, ados: np.ndarray, nph: int,
               qp_scale=1.0) -> State:
        st = State.build(np.zeros(rho.shape), None, rho, ados, h=self.h, m=self.m,
                         qp_scale=qp_scale, factors=(), dtype=self.dtype, nph=nph)
        st.spectra = {name: self.spec[sl, k] for k, name in enumerate(self._QP)}
        return st

    def qp_from_phonons(self, sl: slice, f: np.ndarray, rho: np.ndarray, ados: np.ndarray,
                        u: np.ndarray, qp_scale=1.0) -> np.ndarray:
        r""":math:`(\partial S^{qp}/\partial n)\,u` of the cells ``sl`` (state ``f`` as
        set); ``u`` (C, M). Returns (C, N) in :attr:`dtype`."""
        st = self._state(sl, rho, ados, u.shape[1], qp_scale)
        d = evaluate(st, QP_SIDES, perturbation=Perturbation(st, rho, ados, None, u))
        f = f.astype(self.dtype)
        return (1.0 - f) * d["qp_gain"] - f * d["qp_loss"]

    def phonons_from_qp(self, sl: slice, n: np.ndarray, rho: np.ndarray, ados: np.ndarray,
                        v: np.ndarray, c_ph=1.0) -> np.ndarray:
        r""":math:`(\partial S^{ph}/\partial f)\,v` of the cells ``sl`` (state spectra as
        set, phonon occupations ``n`` (C, M)); ``v`` (C, N). Returns (C, M)."""
        st = self._state(sl, rho, ados, n.shape[1])
        d = evaluate(st, PH_SIDES, c_ph=c_ph,
                     perturbation=Perturbation(st, rho, ados, v, None))
        n = n.astype(self.dtype)
        return (1.0 + n) * d["ph_gain"] - n * d["ph_loss"]


def batched_blocks(f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray, *,
                   h: float, m: int, qp_scale=1.0, c_ph=1.0, pair_weight=None,
                   row_scale=None, ph_states=None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""The exact Jacobian blocks ``ff (C, N, N), fn (C, N, M), nf (C, M, N), nn (C, M)``
    of :func:`batched_terms` (``qp``, ``ph``; the phonon block is diagonal); arguments as
    there (real ``f``, ``n``; ``float32`` in, ``float32`` blocks); ``row_scale``: rows
    scaled as they are formed
    (:func:`fvqp.collisions.correlation_blocks.collision_blocks`)."""
    b = collision_blocks(f, n, rho, ados, h=h, m=m, qp_scale=qp_scale, c_ph=c_ph,
                         pair_weight=pair_weight, row_scale=row_scale, ph_states=ph_states)
    return b["ff"], b["fn"], b["nf"], b["nn"]


def qp_block(f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray, *,
             h: float, m: int, qp_scale=1.0, pair_weight=None) -> np.ndarray:
    r"""The QP-QP block ``ff`` (C, N, N) of :func:`batched_blocks` alone (the models with
    bath phonons need no other block)."""
    return collision_blocks(f, n, rho, ados, h=h, m=m, qp_scale=qp_scale,
                            pair_weight=pair_weight, blocks="ff")["ff"]


def batched_jacobian(f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray, *,
                     h: float, m: int, qp_scale=1.0, c_ph=1.0, pair_weight=None,
                     ph_states=None) -> np.ndarray:
    r"""Exact dense Jacobians of :func:`batched_terms` (``qp``, ``ph``) for every cell:
    the blocks of :func:`batched_blocks` in one matrix.

    Returns
    -------
    ndarray, shape (C, N + M, N + M)
        Rows/columns ordered ``(f, n)``.
    """
    ff, fn, nf, nn = batched_blocks(f, n, rho, ados, h=h, m=m, qp_scale=qp_scale,
                                    c_ph=c_ph, pair_weight=pair_weight,
                                    ph_states=ph_states)
    C, nq = ff.shape[:2]
    nph = nn.shape[1]
    out = np.zeros((C, nq + nph, nq + nph), dtype=ff.dtype)
    out[:, :nq, :nq] = ff
    out[:, :nq, nq:] = fn
    out[:, nq:, :nq] = nf
    k = np.arange(nph)
    out[:, nq + k, nq + k] = nn
    return out


def collision_jacobian_blocks(f: np.ndarray, n: np.ndarray, rate, step: float = 1e-30
                              ) -> np.ndarray:
    r"""Dense per-cell Jacobians of ``rate(f, n) -> (dfdt, dndt)`` by complex step.

    Cells are independent, so perturbing unknown ``j`` of *every* cell at once gives
    column ``j`` of all the per-cell blocks in one batched evaluation:
    :math:`J_{:,j} = \operatorname{Im} R(y + i\epsilon e_j)/\epsilon`, exact to
    round-off (no subtractive cancellation).  ``rate`` must be analytic in ``(f, n)``.

    Returns
    -------
    ndarray, shape (C, N + M, N + M)
        Rows/columns ordered ``(f, n)``.
    """
    c, nq = f.shape
    nph = n.shape[1]
    k = nq + nph
    jac = np.empty((c, k, k))
    fc = f.astype(complex)
    nc = n.astype(complex)
    for j in range(k):
        if j < nq:
            fc[:, j] += 1j * step
        else:
            nc[:, j - nq] += 1j * step
        df, dn = rate(fc, nc)
        jac[:, :nq, j] = df.imag / step
        jac[:, nq:, j] = dn.imag / step
        if j < nq:
            fc[:, j] = f[:, j]
        else:
            nc[:, j - nq] = n[:, j - nq]
    return jac
