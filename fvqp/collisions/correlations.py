r"""Every evaluation path of the batched collision operator, generated from the process
table (:mod:`fvqp.collisions.processes`).

A :class:`State` holds the transforms of the factors of a batch of ``C`` cells (arrays
``f, rho, ados`` of shape (C, N), ``n`` of shape (C, M); module
:mod:`fvqp.collisions.batched` states the grid). From it,

* :func:`evaluate` gives any set of *groups* of rates, each a signed sum of the table's
  rates with their prefactors (:math:`q_sh` on QP rows, :math:`w\,c_{ph}h` on phonon
  rows), without the outer factors: the residual's terms, the angle-resolved models'
  gain/loss rates, the outer derivatives;
* :func:`evaluate` with a :class:`Perturbation` gives the directional derivative of the
  same groups by the product rule, :math:`\delta(A\star\sum B) = \delta A\star\sum B +
  A\star\sum\delta B`, with every perturbation of a factor one of four linear base
  perturbations (:math:`\rho v, \tilde\rho v, Wu, rWu`); a zero ``v`` or ``u`` drops
  its products, which gives the QP-phonon coupling actions;
* :mod:`fvqp.collisions.correlation_blocks` gives the dense per-cell Jacobian blocks
  from the same table by gathers on the kinematics.

Cost. Products that land in the same group, output domain and coherence post-factor are
summed as spectra before one inverse transform (the transforms are linear), and the
transforms of a call are batched: the residual takes 8 forward and 12 inverse transforms,
an exact action 4 forward transforms of the perturbation and 8 inverse ones, at any
number of processes of the same factors. Complex input (complex-step differentiation)
keeps the transforms of the real and imaginary parts apart (:class:`_Dual`), so the
derivative stays exact to round-off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft

from .processes import FACTORS, PROCESSES, Process, Rate

__all__ = ["EACH", "FIELDS", "PH_SIDES", "QP_SIDES", "SIDES", "Group", "Perturbation",
           "State", "evaluate", "rate_table", "transform_length"]


class _Dual:
    """Spectrum of a complex-step input: transforms of the real and imaginary parts kept
    apart, so FFT round-off of the (large) real part never leaks into the (tiny)
    imaginary part -- complex-step derivatives stay exact to round-off."""

    __slots__ = ("im", "re")

    def __init__(self, re: np.ndarray, im: np.ndarray):
        self.re, self.im = re, im

    def __add__(self, o):
        return _Dual(self.re + o.re, self.im + o.im)

    def __sub__(self, o):
        return _Dual(self.re - o.re, self.im - o.im)

    def __mul__(self, o):
        if not isinstance(o, _Dual):
            return _Dual(self.re * o, self.im * o)
        return _Dual(self.re * o.re - self.im * o.im, self.re * o.im + self.im * o.re)

    __rmul__ = __mul__

    def __neg__(self):
        return _Dual(-self.re, -self.im)

    def __getitem__(self, k):
        return _Dual(self.re[k], self.im[k])

    def conj(self) -> _Dual:
        return _Dual(np.conj(self.re), np.conj(self.im))


class _Transforms:
    """Zero-padded real transforms of one length; :class:`_Dual` for complex input."""

    def __init__(self, length: int, complex_: bool):
        self.L, self.cplx = length, complex_

    def fwd(self, x: np.ndarray):
        if self.cplx:
            return _Dual(sfft.rfft(x.real, n=self.L, axis=-1),
                         sfft.rfft(x.imag, n=self.L, axis=-1))
        return sfft.rfft(x, n=self.L, axis=-1)

    @staticmethod
    def rev(spec):
        """Transform of the index-reversed array :math:`\\tilde x_{(L-k) \\bmod L} = x_k`
        (for real data, reversal is conjugation of the spectrum)."""
        return spec.conj() if isinstance(spec, _Dual) else np.conj(spec)

    def inv(self, spec, size: int) -> np.ndarray:
        if isinstance(spec, _Dual):
            return (sfft.irfft(spec.re, n=self.L, axis=-1)[..., :size]
                    + 1j * sfft.irfft(spec.im, n=self.L, axis=-1)[..., :size])
        return sfft.irfft(spec, n=self.L, axis=-1)[..., :size]


def transform_length(nq: int) -> int:
    """Transform length for ``nq`` QP bins: no circular wrap-around reaches an output."""
    return sfft.next_fast_len(2 * nq + 1, real=True)


def _pair_weight_padded(pair_weight, c: int, M: int, size: int) -> np.ndarray:
    """Pair-kernel factors :math:`r_k` (``None``: ones) on ``k = 0..size``, shape (C or 1,
    size + 1)."""
    out = np.ones((c if pair_weight is not None and np.ndim(pair_weight) == 2 else 1,
                   size + 1))
    if pair_weight is not None:
        r = np.atleast_2d(np.asarray(pair_weight, dtype=float))
        if r.shape[-1] != M:
            raise ValueError(f"pair_weight must have {M} entries per cell, got {r.shape}")
        top = min(M, size)
        out[:, 1:top + 1] = r[:, :top]
    return out


def _phonon_factors(n: np.ndarray, h: float, m: int, nq: int, pair_weight=None,
                    ph_states=None) -> tuple[np.ndarray, ...]:
    """``p1 = W(1+n), p0 = W n`` (index k = 0..N-1) and the pair arrays ``q1, q0``
    (``q_s = r_{s+m+1} p_{s+m+1}``, s = 0..2N-2), with the phonon states
    :math:`W_k` (``ph_states``, length M; default :math:`\\Omega_k^2`,
    :func:`fvqp.collisions.kernels.phonon_states`) and the pair-kernel factors ``r``
    (``pair_weight``, default ones). For a perturbation ``u``, ``p0, q0`` are its factors
    :math:`Wu, rWu`."""
    c, M = n.shape
    size = max(nq, 2 * nq - 1 + m + 1)
    npad = np.zeros((c, size + 1), dtype=n.dtype)
    top = min(M, size)
    npad[:, 1:top + 1] = n[:, :top]
    w2 = (h * np.arange(size + 1)) ** 2
    if ph_states is not None:
        w2[1:top + 1] = np.asarray(ph_states, dtype=float)[:top]
    valid = np.zeros(size + 1)
    valid[1:M + 1] = 1.0
    p1 = w2 * valid * (1.0 + npad)
    p0 = w2 * valid * npad
    r = _pair_weight_padded(pair_weight, c, M, size)
    s = slice(m + 1, m + 2 * nq)
    return p1[:, :nq], p0[:, :nq], (r * p1)[:, s], (r * p0)[:, s]


def _forward(tr: _Transforms, arrays: Sequence[np.ndarray], dtype=None) -> list:
    """Forward transforms of equally many-celled arrays of any lengths, in one call (the
    stack zero-padded to the transform length here, so the FFT does not copy it again)."""
    width = max(max(a.shape[-1] for a in arrays), tr.L)
    dt = dtype or np.result_type(*arrays)
    stack = np.zeros((len(arrays), arrays[0].shape[0], width), dtype=dt)
    for k, a in enumerate(arrays):
        stack[k, :, :a.shape[-1]] = a
    spec = tr.fwd(stack)
    return [spec[k] for k in range(len(arrays))]


def _inverse(tr: _Transforms, specs: list, size: int) -> list:
    """Inverse transforms of equally shaped spectra, in one call, cut to ``size``."""
    if not specs:
        return []
    if isinstance(specs[0], _Dual):
        stack = _Dual(np.stack([s.re for s in specs]), np.stack([s.im for s in specs]))
    else:
        stack = np.stack(specs)
    x = tr.inv(stack, size)
    return [x[k] for k in range(len(specs))]


#: The fields of :class:`fvqp.collisions.kernels.CollisionTerms` by (row, gain): the QP
#: gains and losses, the phonon gains and losses.
FIELDS = {("qp", True): ("qp_sc_in", "qp_pb"), ("qp", False): ("qp_sc_out", "qp_rec"),
          ("ph", True): ("ph_sc_in", "ph_rec"), ("ph", False): ("ph_sc_out", "ph_pb")}


#: Groups of :func:`evaluate`: every field on its own (the residual's terms) ...
EACH = {k: ((k, 1.0),) for ks in FIELDS.values() for k in ks}
#: ... and the fields summed by row and sign (what the exact action differentiates).
SIDES = {"qp_gain": tuple((k, 1.0) for k in FIELDS[("qp", True)]),
         "qp_loss": tuple((k, 1.0) for k in FIELDS[("qp", False)]),
         "ph_gain": tuple((k, 1.0) for k in FIELDS[("ph", True)]),
         "ph_loss": tuple((k, 1.0) for k in FIELDS[("ph", False)])}
QP_SIDES = {k: v for k, v in SIDES.items() if k.startswith("qp")}
PH_SIDES = {k: v for k, v in SIDES.items() if k.startswith("ph")}


def rate_table(processes: Sequence[Process] = PROCESSES) -> dict[str, tuple[Rate, ...]]:
    """The rates of ``processes`` by the field they add to (checked: a rate adds to a
    field of its own row and sign)."""
    out: dict[str, tuple[Rate, ...]] = {}
    for p in processes:
        for rate in p.rates:
            if rate.target not in FIELDS.get((rate.row, rate.gain), ()):
                raise ValueError(
                    f"process {p.name!r}, rate {rate.name!r} (outer {rate.outer}) adds to "
                    f"{rate.target!r}; a {('gain' if rate.gain else 'loss')} of the "
                    f"{rate.row} rows adds to one of {FIELDS[(rate.row, rate.gain)]}")
            out[rate.target] = out.get(rate.target, ()) + (rate,)
    return out


_RATES = rate_table()


def selected_rates(names: Sequence[str]) -> Mapping[str, tuple[Rate, ...]]:
    """The rate table of the processes named (:attr:`Process.name`), every field present
    (empty where no selected process adds to it); the whole table is the default object."""
    if set(names) >= {p.name for p in PROCESSES}:
        return _RATES
    picked = rate_table(tuple(p for p in PROCESSES if p.name in names))
    return {k: picked.get(k, ()) for ks in FIELDS.values() for k in ks}


def _sums(rates: Mapping[str, tuple[Rate, ...]]) -> tuple[set, set]:
    """The factors a table uses on their own, and the sums of several it uses."""
    alone, sums = set(), set()
    for group in rates.values():
        for rate in group:
            for term in rate.terms:
                alone.add(term.a.lstrip("~"))
                if len(term.b) == 1:
                    alone.add(term.b[0].lstrip("~"))
                else:
                    sums.add(term.b)
    return alone, sums


_DEFAULT_SUMS = _sums(_RATES)


@dataclass
class State:
    r"""Transforms of the factors of a batch of cells at one state (module docstring).

    Built by :meth:`build`. :attr:`spectra` maps a factor name of
    :data:`fvqp.collisions.processes.FACTORS`, or a tuple of names (a sum the table
    uses, e.g. ``("~P1", "P0")``), to its transform; reversed transforms are formed per
    evaluation, not kept (a state may be kept for every cell of a mesh).
    """

    tr: _Transforms
    nq: int
    nph: int
    h: float
    m: int
    r: np.ndarray                 # ados / rho (0 without states), (C, N)
    qs: np.ndarray                # qp_scale * (rho > 0), (C, N)
    spectra: dict = field(default_factory=dict)
    pair_weight: object = None
    dtype: object = np.float64
    ph_states: object = None

    @classmethod
    def build(cls, f, n, rho, ados, *, h: float, m: int, qp_scale=1.0, pair_weight=None,
              ph_states=None, factors: Sequence[str] | None = None, dtype=None,
              nph: int | None = None,
              compact: bool = True, rates: Mapping[str, tuple[Rate, ...]] | None = None
              ) -> State:
        """Transforms of ``factors`` (default all) at ``(f, n)``; ``f`` or ``n`` complex:
        complex step (:class:`_Dual`). ``n`` may be None when no phonon factor is asked
        (then give ``nph``). ``dtype``: ``float32`` for single-precision spectra.
        ``compact``: keep the sums of several factors that the rate table ``rates``
        (default :data:`fvqp.collisions.processes.PROCESSES`) uses instead of the
        factors that enter only through them (8 spectra per cell for the default
        table); evaluate the state with the same table."""
        f = np.atleast_2d(f)
        rho, ados = np.broadcast_to(rho, f.shape), np.broadcast_to(ados, f.shape)
        nq = f.shape[1]
        cplx = np.iscomplexobj(f) or (n is not None and np.iscomplexobj(n))
        tr = _Transforms(transform_length(nq), cplx)
        r, qs = cls.dos_factors(rho, ados, qp_scale)
        names = list(FACTORS) if factors is None else list(factors)
        arrays = []
        ph = None
        for name in names:
            fac = FACTORS[name]
            if fac.grid == "qp":
                d = rho if fac.dos == "rho" else ados
                arrays.append(d * f if fac.occupation == "f" else d * (1.0 - f))
                continue
            if ph is None:
                ph = _phonon_factors(np.atleast_2d(n), h, m, nq, pair_weight, ph_states)
            arrays.append(ph[{"P1": 0, "P0": 1, "Q1": 2, "Q0": 3}[name]])
        nph = np.atleast_2d(n).shape[1] if n is not None else nph
        dt = np.dtype(dtype) if dtype is not None else None
        if not compact:
            alone, sums = set(names), set()
        else:
            alone, sums = _DEFAULT_SUMS if rates is None else _sums(rates)
        # the factors that enter only through sums are transformed apart, so that their
        # transforms are freed once the sums are formed
        spec, parts = {}, {}
        for keep, out in ((True, spec), (False, parts)):
            sel = [k for k, name in enumerate(names) if (name in alone) == keep]
            if sel:
                out.update(zip([names[k] for k in sel],
                               _forward(tr, [arrays[k] for k in sel], dt), strict=True))
        del arrays
        both = {**spec, **parts}
        for key in sums:
            if all(b.lstrip("~") in both for b in key):
                spec[key] = _sum([tr.rev(both[b[1:]]) if b.startswith("~") else both[b]
                                  for b in key])
        del both, parts
        return cls(tr, nq, nph, h, m, r if dt is None else r.astype(dt),
                   qs, spec, pair_weight, dt or np.float64, ph_states)


    @staticmethod
    def dos_factors(rho, ados, qp_scale=1.0) -> tuple[np.ndarray, np.ndarray]:
        """:attr:`r` and :attr:`qs` of the cells with DOS ``rho, ados`` (C, N)."""
        has = rho > 0
        r = np.divide(ados, rho, out=np.zeros(rho.shape), where=has)
        return r, np.asarray(qp_scale, dtype=float).reshape(-1, 1) * has

    def without_dos(self) -> State:
        """The same transforms without :attr:`r`, :attr:`qs` (2 N values per cell; a
        state kept for every cell of a mesh, issue 18 §1): :meth:`with_dos` before an
        evaluation."""
        return dataclasses.replace(self, r=None, qs=None)

    def with_dos(self, rho, ados, qp_scale=1.0) -> State:
        """The state with :attr:`r`, :attr:`qs` made from the DOS it was built with
        (:meth:`dos_factors`: the same values as :meth:`build`'s)."""
        r, qs = self.dos_factors(*np.broadcast_arrays(rho, ados), qp_scale)
        return dataclasses.replace(self, r=r.astype(self.dtype, copy=False), qs=qs)

    def rows(self, sel: np.ndarray) -> State:
        """The state of the cells ``sel`` (positions in the batch) alone: every kept
        transform and DOS factor row-selected (each cell's transforms are its own, so the
        same values)."""
        r, qs = (None if a is None else a[sel] for a in (self.r, self.qs))
        return dataclasses.replace(self, r=r, qs=qs,
                                   spectra={k: v[sel] for k, v in self.spectra.items()})

    def rounded(self, dtype) -> State:
        """The same state with its kept transforms rounded to ``dtype`` (``complex64``:
        half the memory; the perturbations stay in the state's real precision)."""
        spectra = {k: v.astype(dtype) for k, v in self.spectra.items()}
        return State(self.tr, self.nq, self.nph, self.h, self.m, self.r, self.qs, spectra,
                     self.pair_weight, self.dtype, self.ph_states)

    def perturbed_in(self, dtype) -> State:
        """The same kept transforms with the perturbations taken in the real ``dtype``
        (``float32``: their transforms, the spectral products and the inverse transforms
        in single precision, ~1e-7 relative; the kept transforms are not changed)."""
        dtype = np.dtype(dtype)
        if dtype == np.dtype(self.dtype):
            return self
        return dataclasses.replace(self, r=self.r.astype(dtype),
                                   qs=np.asarray(self.qs).astype(dtype), dtype=dtype)

    def __getattr__(self, name: str):
        """A kept factor transform by its name (``state.RF``)."""
        spectra = self.__dict__.get("spectra", {})
        if name in FACTORS and name in spectra:
            return spectra[name]
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")


class Perturbation:
    r"""The transforms of the four base perturbations along ``(v, u)``: :math:`\rho v,
    \tilde\rho v` (``v`` None: zero) and :math:`Wu, rWu` (``u`` None: zero), taken on
    first use and kept (several groups, or the two evaluations of a condensed action,
    share them)."""

    def __init__(self, state: State, rho, ados, v=None, u=None):
        self.state, self.rho, self.ados = state, rho, ados
        self.v, self.u = v, u
        self._base: dict = {}
        self._spec: dict = {}

    def set_phonons(self, u) -> None:
        """A new phonon direction (the QP transforms are kept)."""
        self.u = u
        for k in ("ph", "pair"):
            self._base.pop(k, None)
        self._spec = {k: v for k, v in self._spec.items() if k[0] not in ("ph", "pair")}

    def base(self, base: str):
        """The transform of one base perturbation (None: zero)."""
        if base not in self._base:
            s, dt = self.state, self.state.dtype
            if base in ("rho", "ados"):
                if self.v is None:
                    return None
                a, b = _forward(s.tr, [(self.rho * self.v).astype(dt, copy=False),
                                       (self.ados * self.v).astype(dt, copy=False)], dt)
                self._base.update(rho=a, ados=b)
            else:
                if self.u is None:
                    return None
                _, dp, _, dq = _phonon_factors(self.u, s.h, s.m, s.nq, s.pair_weight,
                                                s.ph_states)
                a, b = _forward(s.tr, [dp.astype(dt, copy=False),
                                       dq.astype(dt, copy=False)], dt)
                self._base.update(ph=a, pair=b)
        return self._base[base]

    @staticmethod
    def key(name: str) -> tuple:
        """Factors with one key have one perturbation: (base, sign, reversed)."""
        fac = FACTORS[name.lstrip("~")]
        return (fac.base, fac.sign, name.startswith("~"))

    def spectrum(self, name: str):
        """The perturbation of a factor's transform (``~``: reversed) and its sign:
        ``(spectrum, +-1)``, or ``(None, 0)`` if it is zero."""
        key = self.key(name)
        if key not in self._spec:
            d = self.base(key[0])
            self._spec[key] = ((None, 0.0) if d is None else
                               (self.state.tr.rev(d) if key[2] else d, key[1]))
        return self._spec[key]


#: A group of rates: (field, coefficient) pairs summed into one output; a field stands
#: for every rate that adds to it.
Group = Sequence[tuple[str, float]]


def _sum(specs: list):
    out = specs[0]
    for s in specs[1:]:
        out = out + s
    return out


_PLANS: dict = {}


def _plan(groups: Mapping[str, Group], rates: Mapping[str, tuple[Rate, ...]]):
    """The buckets of one evaluation, kept per set of groups: (output, domain, post,
    scale) -> [(sign, term)], ``scale`` the group coefficient times the rate's weight
    (applied after the inverse transform), ``sign`` the term's coefficient when it is
    +-1 (else 1, the coefficient in the scale); and the row of each output."""
    table = "default" if rates is _RATES else tuple(sorted(rates.items()))
    key = (tuple((out, tuple(members)) for out, members in groups.items()), table)
    if key in _PLANS:
        return _PLANS[key]
    buckets: dict[tuple, list] = {}
    rows: dict[str, str] = {}
    for out, members in groups.items():
        for name, coef in members:
            for rate in rates[name]:
                if rows.setdefault(out, rate.row) != rate.row:
                    raise ValueError(f"group {out!r} mixes QP and phonon rates")
                for term in rate.terms:
                    scale, sign = coef * rate.weight, term.coef
                    if abs(sign) != 1.0:
                        scale, sign = scale * sign, 1.0
                    buckets.setdefault((out, rate.domain, term.post, scale), []).append(
                        (sign, term))
    if len(_PLANS) > 64:
        _PLANS.clear()
    _PLANS[key] = buckets, rows
    return _PLANS[key]


def _accumulate(state: State, plan: dict, products, sizes: dict) -> dict:
    """Each bucket's products summed as spectra (into one preallocated stack for real
    input), inverse-transformed in one call, cut to the domain's size and scaled."""
    keys = list(plan)
    doubled: dict[tuple, bool] = {}
    if state.tr.cplx:
        specs, kept = [], []
        for key in keys:
            acc = None
            for sign, term in plan[key]:
                for a, b, sg in products(term):
                    p = (sign * sg) * (a * b)
                    acc = p if acc is None else acc + p
            if acc is not None:
                specs.append(acc)
                kept.append(key)
        xs = _inverse(state.tr, specs, state.tr.L)
    else:
        kept, stack, tmp = [], None, None
        for key in keys:
            prods = [(a, b, sign0 * sg) for sign0, term in plan[key]
                     for a, b, sg in products(term)]
            if not prods:
                continue
            if all(abs(sg) == 2.0 for _, _, sg in prods):
                # symmetric squares only: the factor 2 after the inverse transform
                doubled[key] = True
                prods = [(a, b, 0.5 * sg) for a, b, sg in prods]
            prods.sort(key=lambda p: -p[2])    # a positive product first: no negation
            if stack is None:
                a, b, _ = prods[0]
                dt = np.result_type(a, b)
                stack = np.empty((len(keys),) + np.broadcast_shapes(a.shape, b.shape), dt)
                tmp = np.empty(stack.shape[1:], dt)
            acc = stack[len(kept)]
            for j, (a, b, sign) in enumerate(prods):
                dst = acc if j == 0 else tmp
                np.multiply(a, b, out=dst)
                if abs(sign) != 1.0:
                    dst *= abs(sign)
                if j == 0:
                    if sign < 0:
                        np.negative(acc, out=acc)
                elif sign > 0:
                    acc += tmp
                else:
                    acc -= tmp
            kept.append(key)
        xs = []
        if kept:
            x = sfft.irfft(stack[:len(kept)], n=state.tr.L, axis=-1)
            xs = [x[g] for g in range(len(kept))]
    inv = {}
    for key, x in zip(kept, xs, strict=True):
        x = x[:, :sizes[key[1]]]
        scale = key[3] * (2.0 if doubled.get(key) else 1.0)
        inv[key] = x if scale == 1.0 else scale * x
    return inv


def evaluate(state: State, groups: Mapping[str, Group], *, c_ph=1.0,
             perturbation: Perturbation | None = None,
             rates: Mapping[str, tuple[Rate, ...]] | None = None) -> dict[str, np.ndarray]:
    r"""Groups of rates (module docstring), or their derivatives along ``perturbation``.

    Parameters
    ----------
    state : State
        Transforms of the factors the groups need.
    groups : mapping of str to sequence of (field, coefficient)
        Each output is :math:`\sum_j c_j\,p_j\,\text{rate}_j` over the rates of the
        fields (all QP or all phonon rows), on the row grid, with each rate's prefactor
        :math:`p_j` (:math:`q_sh`, or :math:`w\,c_{ph}h`) and without its outer factor.
    c_ph : float or ndarray (C,)
        Phonon prefactor per cell.
    perturbation : Perturbation, optional
        Evaluate the directional derivative instead (the outer factors are not
        differentiated: they are not part of a rate).
    rates : mapping, optional
        The rate table by field (default :data:`fvqp.collisions.processes.PROCESSES`).

    Returns
    -------
    dict of str to ndarray, shapes (C, N) or (C, M)
    """
    rates = _RATES if rates is None else rates
    nq, nph, m = state.nq, state.nph, state.m
    plan, rows = _plan(groups, rates)
    pert, tr = perturbation, state.tr
    local: dict = {}

    def spectrum(name: str):
        if name not in local:
            sp = state.spectra
            local[name] = (tr.rev(sp[name[1:]]) if name.startswith("~") and name not in sp
                           else sp[name])
        return local[name]

    def state_sum(names: tuple[str, ...]):
        if len(names) == 1:
            return spectrum(names[0])
        if names not in state.spectra and names not in local:
            local[names] = _sum([spectrum(b) for b in names])
        return state.spectra.get(names, local.get(names))

    def pert_sum(names: tuple[str, ...]):
        """(spectrum, sign) of the perturbation of a sum of factors; (None, 0) if zero.
        Perturbations of factors of one base, sign and reversal are equal: keyed so."""
        key = ("p",) + tuple(sorted(pert.key(b) for b in names))
        if key not in local:
            parts = [pert.spectrum(b) for b in names]
            parts = [p for p in parts if p[0] is not None]
            if len(parts) == 1:
                local[key] = parts[0]
            elif parts:
                local[key] = (_sum([p if sg > 0 else -p for p, sg in parts]), 1.0)
            else:
                local[key] = (None, 0.0)
        return local[key]

    def products(term):
        """The spectral products of a term as (a, b, sign) factor pairs."""
        if pert is None:
            return [(spectrum(term.a), state_sum(term.b), 1.0)]
        da, sa = pert.spectrum(term.a)
        if term.b == (term.a,) and not term.a.startswith("~"):
            # delta(A * A) = 2 A * delta A (a convolution is symmetric)
            return [] if da is None else [(spectrum(term.a), da, 2.0 * sa)]
        out = []
        if da is not None:
            out.append((da, state_sum(term.b), sa))
        db, sb = pert_sum(term.b)
        if db is not None:
            out.append((spectrum(term.a), db, sb))
        return out

    sizes = {"qp": nq, "sc": nq, "pair": max(1, min(2 * nq - 1, nph - m))}
    inv = _accumulate(state, plan, products, sizes)
    local.clear()
    cph_h = np.asarray(c_ph, dtype=float).reshape(-1, 1) * state.h
    c = state.qs.shape[0]
    result: dict[str, np.ndarray] = {}
    kmax = min(nph, nq - 1)
    ns = min(2 * nq - 1, nph - m)
    for out in groups:
        parts = [(k, x) for k, x in inv.items() if k[0] == out]
        dtype = parts[0][1].dtype if parts else state.dtype
        if rows.get(out, "qp") == "qp":
            x = np.zeros((c, nq), dtype)
            for k, xi in parts:
                x += xi if k[2] == "1" else state.r * xi
            result[out] = (state.qs * state.h).astype(state.dtype, copy=False) * x
            continue
        y = np.zeros((c, nph), dtype)
        for k, xi in parts:
            if k[1] == "sc":
                y[:, :kmax] += xi[:, 1:kmax + 1]
            elif ns > 0:
                xp = xi[:, :ns]
                if state.pair_weight is not None:
                    rk = np.atleast_2d(np.asarray(state.pair_weight, dtype=float))
                    xp = xp * rk[:, m:m + ns]
                y[:, m:m + ns] += xp
        result[out] = cph_h.astype(state.dtype, copy=False) * y
    return result
