r"""Dense per-cell Jacobian blocks of the batched collision operator, generated from the
process table (:mod:`fvqp.collisions.processes`) by gathers on the kinematics.

Every inner sum is a correlation or convolution of two factors (:math:`c_s = \sum_i
a_ib_{s-i}`, :math:`\sum_i a_ib_{i+s}` or :math:`\sum_i a_{i+s}b_i`), so its derivative
with respect to the unknown behind factor index ``t`` of one factor is the *other* factor
at one partner index, :math:`\pm s \pm t`:

============  ====================  ====================
product       :math:`\partial c_s/\partial a_t`   :math:`\partial c_s/\partial b_t`
============  ====================  ====================
``A * B``     :math:`b_{s-t}`        :math:`a_{s-t}`
``~A * B``    :math:`b_{t+s}`        :math:`a_{t-s}`
``A * ~B``    :math:`b_{t-s}`        :math:`a_{t+s}`
============  ====================  ====================

times the factor's derivative (:math:`\pm\rho_j`, :math:`\pm\tilde\rho_j`, :math:`W_k`,
:math:`r_kW_k`). A block entry is therefore a fixed number of products gathered on an
index pattern that depends only on ``(N, M, m)`` (no scatter-add); the rows' prefactors,
coherence post-factors and outer factors multiply afterwards, and the outer factors'
own derivatives (:math:`g^f, g^n`) go on the diagonal. The result equals the complex step
of :func:`fvqp.collisions.batched.batched_terms` to round-off (tested).

Cost. Every pattern's partner index is linear, :math:`\pm o \pm x` + const in the row
``o`` and the variable ``x``, so the gathered matrix of a cell is a Hankel or Toeplitz
matrix of the factor: a strided window of the factor padded with zeros, taken without a
copy wherever every invalid (row, variable) pair falls into the padding (checked once
per pattern, :func:`_window`; else the entries are gathered). A window whose variable
runs backwards along the factor is taken from the reversed factor instead (a unit
stride along the rows: numpy's loops over a window's rows then run 2x faster). Per
block and derivative, each row group's signed windows are summed (a window that appears
twice, once with the doubled coefficient), multiplied once by the row factor (which
carries the members' common coefficient, the sign and the caller's ``row_scale``), the
groups summed, and the sum multiplied once by the derivative, written straight into the
block the first time. Measured (256 cells, N = 66, M = 130, one thread, against the
hand-written gathers this replaced): float32 blocks 0.048 s against 0.113 s, the QP
block alone 3x faster, the dense float64 Jacobian 0.10 s against 0.13 s for the old
scatter-add; the row-group sums, the reversed factors and the folded coefficients took
the float32 blocks from 136 to 93-97 us per cell (batches of 32 cells, the ``fvqp``
command's heap setting, one thread, 2026-11-26), and the transport Schur
preconditioner's build on the 13 280-cell absorber burst from 3.47 to 2.77 CPU s (the
block passes of ``-m J`` folded into the rows too; the same Newton and Krylov counts and
``summary.json`` numbers).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .correlations import _RATES, FIELDS, State, _phonon_factors, evaluate
from .processes import FACTORS

__all__ = ["OUTER", "collision_blocks", "collision_diagonal"]

#: The outer factors' derivatives as groups of :func:`fvqp.collisions.correlations.evaluate`:
#: :math:`g^f = -\sum` QP rates (``"qp"``, with the sign), :math:`g^n` = phonon gains
#: minus losses (``"ph"``).
OUTER = {"qp": tuple((k, -1.0) for k in FIELDS[("qp", True)] + FIELDS[("qp", False)]),
         "ph": tuple([(k, 1.0) for k in FIELDS[("ph", True)]]
                     + [(k, -1.0) for k in FIELDS[("ph", False)]])}
_OUTER = OUTER

# partner index = sign_s * s + sign_t * t, by (relation, differentiated slot)
_PARTNER = {("conv", "a"): (1, -1), ("conv", "b"): (1, -1),
            ("corr_a", "a"): (1, 1), ("corr_a", "b"): (-1, 1),
            ("corr_b", "a"): (-1, 1), ("corr_b", "b"): (1, 1)}


def _relation(a: str, b: str) -> str:
    ra, rb = a.startswith("~"), b.startswith("~")
    if ra and rb:
        raise ValueError(f"product {a} * {b}: at most one factor may be reversed")
    return "corr_a" if ra else ("corr_b" if rb else "conv")


def _length(grid: str, nq: int) -> int:
    return {"qp": nq, "ph": nq, "pair": 2 * nq - 1}[grid]


def _rows_vars(nq: int, nph: int, m: int, domain: str, var_grid: str, row: str):
    """Output index ``s`` of every row and factor index ``t`` of every variable (each of
    slope 1) with their validity."""
    o = np.arange(nq if row == "qp" else nph)[:, None]
    if domain == "qp":
        s, s_ok = o, np.ones(o.shape, bool)
    elif domain == "sc":
        s = o + 1
        s_ok = s <= min(nph, nq - 1)
    else:
        s = o - m
        s_ok = (s >= 0) & (s < min(2 * nq - 1, nph - m))
    if var_grid == "qp":
        x = np.arange(nq)[None, :]
        t, t_ok = x, np.ones(x.shape, bool)
    elif var_grid == "ph":           # phonon index x is node x + 1, P index = node
        x = np.arange(nph)[None, :]
        t = x + 1
        t_ok = t < nq
    else:                            # pair index = node - m - 1 = x - m
        x = np.arange(nph)[None, :]
        t = x - m
        t_ok = (t >= 0) & (t <= 2 * nq - 2)
    return s, s_ok, t, t_ok


@lru_cache(maxsize=256)
def _indices(nq: int, nph: int, m: int, domain: str, var_grid: str, row: str,
             partner_grid: str, sign_s: int, sign_t: int, pad: int) -> np.ndarray:
    """(rows, variables) indices into the partner factor padded with ``pad`` zeros on
    each side (:func:`_values`); invalid pairs point into the padding."""
    s, s_ok, t, t_ok = _rows_vars(nq, nph, m, domain, var_grid, row)
    p = sign_s * s + sign_t * t
    ok = s_ok & t_ok & (p >= 0) & (p < _length(partner_grid, nq))
    return np.where(ok, p + pad, 0)


@lru_cache(maxsize=256)
def _window(nq: int, nph: int, m: int, domain: str, var_grid: str, row: str,
            partner_grid: str, sign_s: int, sign_t: int) -> int | None:
    """The partner index of row 0 and variable 0 when the gather is a strided window of
    the factor padded with zeros (a Hankel or Toeplitz matrix: index ``sign_s * row +
    sign_t * variable + offset``, every invalid pair's index outside the factor), else
    None (then :func:`_indices` is gathered)."""
    s, s_ok, t, t_ok = _rows_vars(nq, nph, m, domain, var_grid, row)
    p = sign_s * s + sign_t * t
    inside = (p >= 0) & (p < _length(partner_grid, nq))
    if np.any(inside & ~(s_ok & t_ok)):
        return None
    return int(p[0, 0])


def _values(f, n, rho, ados, h, m, pair_weight, dt, pad: int, ph_states=None
            ) -> dict[str, np.ndarray]:
    """Real-space factors, each padded with ``pad`` zeros on both sides (the values of
    every partner index out of the factor's range)."""
    nq = f.shape[1]
    p1, p0, q1, q0 = _phonon_factors(n, h, m, nq, pair_weight, ph_states)
    vals = {"RF": rho * f, "AF": ados * f, "RFF": rho * (1.0 - f), "AFF": ados * (1.0 - f),
            "P1": p1, "P0": p0, "Q1": q1, "Q0": q0}
    out = {}
    for k, v in vals.items():
        a = np.zeros((v.shape[0], v.shape[1] + 2 * pad), dt)
        a[:, pad:pad + v.shape[1]] = v
        out[k] = a
    return out


def _derivatives(nq, nph, m, h, rho, ados, pair_weight, dt, ph_states=None
                 ) -> dict[str, np.ndarray]:
    """Derivative of each base factor's entry with respect to its unknown (the sign of
    :attr:`fvqp.collisions.processes.Factor.sign` apart), on the unknown's grid: (C or
    1, 1, N) for QP factors, (C or 1, 1, M) for phonon factors."""
    k = np.arange(1, nph + 1)
    w = (h * k) ** 2 if ph_states is None else np.asarray(ph_states, dtype=float)
    rw = w if pair_weight is None else np.asarray(pair_weight, dtype=float) * w
    d = {"rho": rho, "ados": ados, "ph": np.broadcast_to(w, (1, nph)),
         "pair": np.atleast_2d(rw)}
    return {base: np.asarray(x).astype(dt)[:, None, :] for base, x in d.items()}


def _products(rates):
    """Every product's derivative with respect to one of its two factors, from the table:
    ``(rate, term, factor, partner name, sign_s, sign_t, coefficient)`` — the partner
    factor is gathered at ``sign_s * s + sign_t * t`` (module docstring), the coefficient
    is the term's, the rate's weight, the factor's sign and the rate's side (gain +)."""
    for rate in (r for group in rates.values() for r in group):
        for term in rate.terms:
            for b in term.b:
                rel = _relation(term.a, b)
                for slot, var, partner in (("a", term.a, b), ("b", b, term.a)):
                    fac = FACTORS[var.lstrip("~")]
                    if rate.row == "ph" and fac.grid != "qp":
                        raise NotImplementedError(
                            f"rate {rate.name}: a phonon factor in a phonon row makes "
                            "the phonon block dense; collision_blocks assumes it diagonal")
                    ss, st = _PARTNER[(rel, slot)]
                    c = term.coef * rate.weight * fac.sign * (1.0 if rate.gain else -1.0)
                    yield rate, term, fac, partner.lstrip("~"), ss, st, c


def collision_blocks(f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray, *,
                     h: float, m: int, qp_scale=1.0, c_ph=1.0, pair_weight=None,
                     blocks: str = "ff fn nf nn", rates=None, row_scale=None,
                     ph_states=None):
    r"""The exact Jacobian blocks of the batched operator for every cell.

    Parameters
    ----------
    f, rho, ados : ndarray, shape (C, N)
    n : ndarray, shape (C, M)
    h, m, qp_scale, c_ph, pair_weight
        As for :func:`fvqp.collisions.batched.batched_terms` (real ``f``, ``n``; a
        ``float32`` state gives ``float32`` blocks).
    blocks : str
        Which of ``ff`` (C, N, N), ``fn`` (C, N, M), ``nf`` (C, M, N), ``nn`` (C, M: the
        phonon block is diagonal) to form.
    rates : mapping, optional
        The rate table (default :data:`fvqp.collisions.processes.PROCESSES`).
    row_scale : tuple of (ndarray or None), optional
        ``(s_f (C, N), s_n (C, M))``: every QP row (``ff``, ``fn``) multiplied by
        ``s_f``, every phonon row (``nf``, ``nn``) by ``s_n`` (e.g. a model's storage
        factors and sign), folded into the row factors: no pass over the blocks.
    ph_states : ndarray, shape (M,), optional
        Phonon states :math:`W_k` of the nodes (default :math:`\\Omega_k^2`;
        :func:`fvqp.collisions.kernels.phonon_states`).

    Returns
    -------
    dict of str to ndarray
    """
    rates = _RATES if rates is None else rates
    dt = np.result_type(f, n, rho, ados)
    f, n, rho, ados = (np.asarray(x, dtype=dt) for x in (f, n, rho, ados))
    C, nq = f.shape
    nph = n.shape[1]
    want = set(blocks.split())
    pad = 2 * (nq + nph + m) + 4       # beyond any partner index: zeros
    vals = _values(f, n, rho, ados, h, m, pair_weight, dt, pad, ph_states)
    dfac = _derivatives(nq, nph, m, h, rho, ados, pair_weight, dt, ph_states)
    # the plan: per gather (factor, pattern), its contributions (block, row group,
    # derivative, coefficient)
    plan: dict[tuple, list] = {}
    for rate, term, fac, pname, ss, st, c in _products(rates):
        block = ("f" if rate.row == "qp" else "n") + ("f" if fac.grid == "qp" else "n")
        if block not in want:
            continue
        gkey = (pname, rate.domain, rate.row, fac.grid, ss, st)
        plan.setdefault(gkey, []).append(
            (block, (rate.outer, term.post, rate.domain), fac.base, c))
    st = State.build(f, n, rho, ados, h=h, m=m, qp_scale=qp_scale, pair_weight=pair_weight,
                     ph_states=ph_states, dtype=dt if dt == np.float32 else None, rates=rates)
    outer = {"1-f": 1.0 - f, "f": f, "1+n": 1.0 + n, "n": n}
    cph_h = np.asarray(c_ph, dtype=float).reshape(-1, 1) * h
    rk = None
    if pair_weight is not None:
        rk = np.ones((1, nph)) * np.atleast_2d(np.asarray(pair_weight, dtype=float))
    rows: dict[tuple, np.ndarray] = {}
    scale_f, scale_n = (None, None) if row_scale is None else row_scale

    def row_factor(block: str, group: tuple, coef: float = 1.0) -> np.ndarray:
        """Prefactor x coherence post-factor x outer factor (x ``row_scale``) of a row
        group, times ``coef``, (C, O, 1)."""
        key = (block[0],) + group + (coef,)
        if key not in rows:
            outer_name, post, domain = group
            if block[0] == "f":
                r = st.qs * h * (st.r if post == "r" else 1.0)
            else:
                r = cph_h * (rk if domain == "pair" and rk is not None else 1.0)
            r = r * outer[outer_name] * coef
            extra = scale_f if block[0] == "f" else scale_n
            if extra is not None:
                r = r * extra
            rows[key] = r.astype(dt)[:, :, None]
        return rows[key]

    shapes = {"ff": (C, nq, nq), "fn": (C, nq, nph), "nf": (C, nph, nq)}
    out = {b: np.empty(shapes[b], dt) for b in shapes if b in want}

    rev: dict[str, np.ndarray] = {}

    def partner(gkey: tuple, shape: tuple, buf: np.ndarray) -> np.ndarray:
        """The partner factor on the (row, variable) pattern: a strided window of the
        zero-padded factor (no copy) where the pattern allows, else gathered into buf."""
        pname, domain, row, vgrid, ss, st_ = gkey
        pgrid, a = FACTORS[pname].grid, vals[pname]
        p0 = _window(nq, nph, m, domain, vgrid, row, pgrid, ss, st_)
        if p0 is None:
            np.take(a, _indices(nq, nph, m, domain, vgrid, row, pgrid, ss, st_, pad),
                    axis=1, out=buf)
            return buf
        if st_ < 0:  # the reversed factor: a unit stride along the rows (2x faster)
            if pname not in rev:
                rev[pname] = np.ascontiguousarray(a[:, ::-1])
            a, p0, ss, st_ = rev[pname], a.shape[1] - 1 - pad - p0, -ss, 1
            return np.lib.stride_tricks.as_strided(
                a[:, p0:], shape=shape, strides=(a.strides[0], ss * a.itemsize,
                                                 a.itemsize), writeable=False)
        return np.lib.stride_tricks.as_strided(
            a[:, pad + p0:], shape=shape, strides=(a.strides[0], ss * a.itemsize,
                                                   st_ * a.itemsize), writeable=False)

    # per (block, derivative): each row group's signed sum of its partner windows times
    # its row factor (with the members' common coefficient and sign folded in), summed,
    # then one product with the derivative, written straight into the block the first
    # time (module docstring, *Cost*)
    by_base: dict[tuple, dict] = {}
    for gkey, contribs in plan.items():
        for block, group, base, c in contribs:
            members = by_base.setdefault((block, base), {}).setdefault(group, {})
            members[gkey] = members.get(gkey, 0.0) + c   # the same window twice: once
    written: set = set()
    bufs: dict[tuple, tuple] = {}
    for (block, base), groups in by_base.items():
        shape = shapes[block]
        if shape not in bufs:
            bufs[shape] = tuple(np.empty(shape, dt) for _ in range(4))
        acc, wsum, g0, g1 = bufs[shape]
        first = True
        for group, members in groups.items():
            items = sorted(((k, c) for k, c in members.items() if c != 0.0),
                           key=lambda kc: -kc[1])        # a positive coefficient first
            if not items:
                continue
            scale = abs(items[0][1])
            if any(abs(c) != scale for _, c in items):
                scale = 1.0
            sign = 1.0 if items[0][1] > 0 else -1.0      # all negative: folded in
            (k0, c0), rest = items[0], items[1:]
            w = partner(k0, shape, g0)
            if rest:
                target = acc if first else wsum
                for k, c in rest:
                    wk = partner(k, shape, g1)
                    if scale == 1.0 and abs(c) != abs(c0):
                        wk = np.multiply(wk, abs(c) / abs(c0), out=g1)
                    (np.add if c * sign > 0 else np.subtract)(w, wk, out=target)
                    w = target
            r = row_factor(block, group, scale * sign * (abs(c0) if scale == 1.0 else 1.0))
            if first:
                np.multiply(w, r, out=acc)
                first = False
            else:
                np.multiply(w, r, out=wsum)
                acc += wsum
        if first:
            continue
        if block in written:
            acc *= dfac[base]
            out[block] += acc
        else:
            np.multiply(acc, dfac[base], out=out[block])
            written.add(block)
    for block in out:
        if block not in written:
            out[block][...] = 0.0
    if "ff" in want or "nn" in want:
        g = evaluate(st, _OUTER, c_ph=c_ph, rates=rates)
        if "ff" in want:
            diag = np.arange(nq)
            gq = g["qp"] if scale_f is None else g["qp"] * scale_f
            out["ff"][:, diag, diag] += gq.astype(dt)
        if "nn" in want:
            gn = g["ph"] if scale_n is None else g["ph"] * scale_n
            out["nn"] = gn.astype(dt)
    return out


def collision_diagonal(f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray, *,
                       h: float, m: int, qp_scale=1.0, c_ph=1.0, pair_weight=None,
                       rates=None, ph_states=None) -> np.ndarray:
    r"""The diagonal :math:`\partial\dot f_i/\partial f_i` of the QP block of
    :func:`collision_blocks` in :math:`O(N\log N)`, without forming the block.

    The outer factors' derivatives :math:`g^f` (one evaluation of the rates by FFTs)
    plus, for every product of the table, its derivative at the one partner index where
    the differentiated QP factor's index equals the row (the module's table with
    ``t = s``): :math:`O(N)` gathers. Products whose partner sits at the phonon node 0
    (:math:`W_0 = 0`) give nothing, as in the blocks.

    Parameters
    ----------
    f, rho, ados : ndarray, shape (C, N)
    n : ndarray, shape (C, M)
    h, m, qp_scale, c_ph, pair_weight, rates, ph_states
        As for :func:`collision_blocks`.

    Returns
    -------
    ndarray, shape (C, N)
    """
    rates = _RATES if rates is None else rates
    f, n, rho, ados = (np.atleast_2d(np.asarray(x, dtype=float)) for x in (f, n, rho, ados))
    nq, nph = f.shape[1], n.shape[1]
    pad = 2 * (nq + nph + m) + 4
    vals = _values(f, n, rho, ados, h, m, pair_weight, np.float64, pad, ph_states)
    dfac = _derivatives(nq, nph, m, h, rho, ados, pair_weight, np.float64, ph_states)
    st = State.build(f, n, rho, ados, h=h, m=m, qp_scale=qp_scale, pair_weight=pair_weight,
                     ph_states=ph_states, rates=rates)
    outer = {"1-f": 1.0 - f, "f": f}
    o = np.arange(nq)
    diag = evaluate(st, _OUTER, c_ph=c_ph, rates=rates)["qp"].astype(float)
    for rate, term, fac, pname, ss, st_, c in _products(rates):
        if rate.row != "qp" or fac.grid != "qp":
            continue
        p = (ss + st_) * o                     # s = t = o on the QP rows and variables
        ok = (p >= 0) & (p < _length(FACTORS[pname].grid, nq))
        gathered = vals[pname][:, np.where(ok, p + pad, 0)]
        row = st.qs * h * (st.r if term.post == "r" else 1.0)
        diag += c * gathered * dfac[fac.base][:, 0, :] * row * outer[rate.outer]
    return diag
