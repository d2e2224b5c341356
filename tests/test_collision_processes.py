"""The process table (fvqp/collisions/processes.py) drives every path of the batched
collision operator: a process written only as table rows is conserved, balanced and
differentiated exactly by the generated residual, action and blocks."""

import numpy as np
import pytest

from fvqp.collisions import fermi
from fvqp.collisions.correlation_blocks import OUTER, collision_blocks
from fvqp.collisions.correlations import FIELDS, Perturbation, State, evaluate, rate_table
from fvqp.collisions.processes import PROCESSES, SCATTERING, Process, Rate, Term
from fvqp.spectra.bins import BinGrid, cell_spectra

EACH = {k: ((k, 1.0),) for v in FIELDS.values() for k in v}


def _coherence_ii(weight: float) -> Process:
    """Scattering with the coherence factor rho rho' + ados ados' (the sign of every
    anomalous term flipped, in the QP and the phonon rows alike), added to the fields of
    the scattering terms: a process that exists only as these table rows."""
    rates = []
    for r in SCATTERING.rates:
        terms = tuple(Term(-t.coef if ("A" in t.a) else t.coef, t.post, t.a, t.b)
                      for t in r.terms)
        rates.append(Rate(r.name + "_ii", r.outer, r.domain, terms,
                          weight=weight * r.weight, field=r.name))
    return Process("scattering_ii", tuple(rates))


@pytest.fixture
def setup():
    g = BinGrid.build(1.5, 0.06, 4.0)
    gaps = np.array([1.5, 1.5 + 0.3 * g.h, 1.62])   # on an edge, inside bins
    rho, ados, _ = cell_spectra(g, gaps)
    rng = np.random.default_rng(7)
    f = rng.uniform(0.0, 0.4, (3, g.n))
    n = rng.uniform(0.0, 0.6, (3, g.n_ph))
    kw = dict(h=g.h, m=g.m, qp_scale=np.array([1.0, 0.4, 1.7]))
    cph = np.array([0.6, 1.1, 0.9])
    table = rate_table(PROCESSES + (_coherence_ii(0.7),))
    return g, rho, ados, f, n, kw, cph, table


def _net(f, n, rho, ados, kw, cph, table):
    st = State.build(f, n, rho, ados, rates=table, **kw)
    r = evaluate(st, EACH, c_ph=cph, rates=table)
    gain = {side: sum(r[k] for k in ks) for side, ks in FIELDS.items()}
    qp = (1.0 - f) * gain[("qp", True)] - f * gain[("qp", False)]
    ph = (1.0 + n) * gain[("ph", True)] - n * gain[("ph", False)]
    return qp, ph, r


def test_added_process_changes_the_rates_and_conserves_energy(setup):
    """The extra rows move every scattering field (so they are evaluated) and the net
    rates conserve the energy sum_i h rho E S_qp + beta sum_k h W^3 S_ph = 0 (beta =
    qp_scale / 2 c_ph) and the QP number (scattering only) to round-off."""
    g, rho, ados, f, n, kw, cph, table = setup
    qp, ph, r = _net(f, n, rho, ados, kw, cph, table)
    qp0, ph0, r0 = _net(f, n, rho, ados, kw, cph, rate_table())
    for k in ("qp_sc_in", "qp_sc_out", "ph_sc_in", "ph_sc_out"):
        assert np.max(np.abs(r[k] - r0[k])) > 0.1 * np.max(np.abs(r0[k])), k
    for k in ("qp_rec", "qp_pb", "ph_rec", "ph_pb"):
        assert np.array_equal(r[k], r0[k]), k
    beta = kw["qp_scale"] / (2 * cph)
    e_qp = g.h * np.sum(rho * g.e * qp, axis=1)
    e_ph = beta * g.h * np.sum(g.omega**3 * ph, axis=1)
    scale = g.h * np.sum(rho * g.e * np.abs(qp), axis=1)
    assert np.all(np.abs(e_qp + e_ph) <= 1e-13 * scale)
    # QP number: the added scattering moves none (the pair part is the default's)
    dn = g.h * np.sum(rho * (qp - qp0), axis=1)
    assert np.all(np.abs(dn) <= 1e-13 * scale)


@pytest.mark.parametrize("t", [0.25, 0.5])
def test_added_process_detailed_balance(setup, t):
    """Fermi f and Bose n at one temperature are stationary with the added process."""
    g, rho, ados, _, _, kw, cph, table = setup
    f = np.tile(fermi(g.e, t), (3, 1))
    n = np.tile(1.0 / np.expm1(g.omega / t), (3, 1))
    qp, ph, r = _net(f, n, rho, ados, kw, cph, table)
    assert np.max(np.abs(qp)) <= 1e-12 * np.max(r["qp_sc_in"] * (1 - f))
    assert np.max(np.abs(ph)) <= 1e-12 * np.max(r["ph_sc_in"] * (1 + n))


def test_added_process_action_and_blocks_equal_the_complex_step(setup):
    """The exact action (product rule on the table) and the dense blocks (gathers from
    the table) of the extended operator equal the complex step through its residual."""
    g, rho, ados, f, n, kw, cph, table = setup
    rng = np.random.default_rng(11)
    v, u = rng.normal(size=f.shape), rng.normal(size=n.shape)
    eps = 1e-30
    cq, cp, _ = _net(f + 1j * eps * v, n + 1j * eps * u, rho, ados, kw, cph, table)
    ref_q, ref_p = cq.imag / eps, cp.imag / eps
    st = State.build(f, n, rho, ados, rates=table, **kw)
    sides = {f"{row}{int(gain)}": tuple((k, 1.0) for k in ks)
             for (row, gain), ks in FIELDS.items()}
    d = evaluate(st, sides, c_ph=cph, perturbation=Perturbation(st, rho, ados, v, u),
                 rates=table)
    g0 = evaluate(st, OUTER, c_ph=cph, rates=table)
    dq = g0["qp"] * v + (1 - f) * d["qp1"] - f * d["qp0"]
    dp = g0["ph"] * u + (1 + n) * d["ph1"] - n * d["ph0"]
    assert np.max(np.abs(dq - ref_q)) <= 1e-12 * np.max(np.abs(ref_q))
    assert np.max(np.abs(dp - ref_p)) <= 1e-12 * np.max(np.abs(ref_p))
    b = collision_blocks(f, n, rho, ados, c_ph=cph, rates=table, **kw)
    bq = np.einsum("cij,cj->ci", b["ff"], v) + np.einsum("cij,cj->ci", b["fn"], u)
    bp = np.einsum("cij,cj->ci", b["nf"], v) + b["nn"] * u
    assert np.max(np.abs(bq - ref_q)) <= 1e-12 * np.max(np.abs(ref_q))
    assert np.max(np.abs(bp - ref_p)) <= 1e-12 * np.max(np.abs(ref_p))


def test_rate_on_a_field_of_the_other_sign_is_refused():
    """A loss rate added to a gain field would silently flip its sign: refused, naming the
    process, the rate and the fields it may add to."""
    bad = Process("bad", (Rate("x", "f", "qp", SCATTERING.rates[0].terms,
                               field="qp_sc_in"),))
    with pytest.raises(ValueError, match=r"process 'bad', rate 'x'.*qp_sc_out"):
        rate_table(PROCESSES + (bad,))


def test_linearisation_state_keeps_eight_transforms_per_cell():
    """Transport keeps the state transforms of every cell between Krylov actions: 8 complex
    arrays of L/2 + 1 values per cell (docs/theory_transport.md: 8.7 KB at N = 66), the
    factors that enter only through the scattering sums not kept behind the sums."""
    from fvqp.collisions.batched import linearisation_spectra
    from fvqp.collisions.correlations import transform_length
    rng = np.random.default_rng(2)
    c, nq, nph = 16, 66, 130
    f, n = rng.uniform(0, 0.3, (c, nq)), rng.uniform(0, 0.5, (c, nph))
    rho, ados = rng.uniform(1, 2, (c, nq)), rng.uniform(0, 1, (c, nq))
    st = linearisation_spectra(f, n, rho, ados, h=0.05, m=30)
    held = {}
    for a in st.spectra.values():
        owner = a.base if a.base is not None else a
        held[id(owner)] = owner.nbytes
    per_cell = sum(held.values()) / c
    assert per_cell == 8 * (transform_length(nq) // 2 + 1) * 16
    assert round(per_cell / 1e3, 1) == 8.7


def test_block_gathers_equal_the_strided_windows(setup, monkeypatch):
    """The blocks read each partner factor as a strided window of the zero-padded factor
    where the pattern allows (every pattern of the current table); the gather kept for
    the other patterns gives the same blocks to the last bit."""
    import fvqp.collisions.correlation_blocks as cb
    g, rho, ados, f, n, kw, cph, table = setup
    windows = cb.collision_blocks(f, n, rho, ados, c_ph=cph, pair_weight=None, **kw)
    monkeypatch.setattr(cb, "_window", lambda *a: None)
    gathers = cb.collision_blocks(f, n, rho, ados, c_ph=cph, pair_weight=None, **kw)
    for k in ("ff", "fn", "nf", "nn"):
        assert np.array_equal(windows[k], gathers[k]), k


def test_row_scale_scales_every_row_of_every_block(setup):
    """``row_scale`` (a model's storage factors and sign, folded into the row factors as
    the blocks are formed) gives the blocks with every QP row times ``s_f`` and every
    phonon row times ``s_n``, the diagonal phonon block included, to round-off; in
    float32 (the transport preconditioner's blocks) to float32 round-off."""
    g, rho, ados, f, n, kw, cph, table = setup
    rng = np.random.default_rng(5)
    sf, sn = -rng.uniform(0.5, 2.0, f.shape), -rng.uniform(0.5, 2.0, n.shape)
    plain = collision_blocks(f, n, rho, ados, c_ph=cph, rates=table, **kw)
    scaled = collision_blocks(f, n, rho, ados, c_ph=cph, rates=table, row_scale=(sf, sn),
                              **kw)
    for k, s in (("ff", sf), ("fn", sf), ("nf", sn)):
        ref = s[:, :, None] * plain[k]
        assert np.max(np.abs(scaled[k] - ref)) <= 1e-14 * np.max(np.abs(ref)), k
    assert np.max(np.abs(scaled["nn"] - sn * plain["nn"])) <= 1e-14 * np.max(
        np.abs(plain["nn"]))
    f32 = [np.asarray(x, np.float32) for x in (f, n, rho, ados)]
    s32 = collision_blocks(*f32, c_ph=cph, rates=table, row_scale=(
        sf.astype(np.float32), sn.astype(np.float32)), **kw)
    for k, s in (("ff", sf), ("fn", sf), ("nf", sn)):
        ref = s[:, :, None] * plain[k]
        assert s32[k].dtype == np.float32
        assert np.max(np.abs(s32[k] - ref)) <= 1e-5 * np.max(np.abs(ref)), k


@pytest.mark.parametrize("layout", ["centred", "vertex"])
def test_added_process_reaches_the_0d_operators(layout):
    """The 0D model's operators (kinetics0d: the FFT residual and action of
    fvqp/collisions/fft.py, with and without the exponential tilt and the exact head
    sums; the dense Jacobian and its diagonal) are generated from the same table: with
    the added process their terms equal the batched operator's for one cell on the 0D
    grid (pair offset m = s - 1, the layout's pair weights), the added rows move the
    scattering fields, and the action equals the dense blocks' product."""
    from fvqp.collisions import CollisionParams, EnergyGrid
    from fvqp.collisions import fft as fft0d
    from fvqp.collisions.correlation_blocks import collision_diagonal
    from fvqp.collisions.kernels import pair_layout, phonon_states

    g = EnergyGrid(delta=1.5, h=3.0 / 40, n=90, n_ph=150, layout=layout,
                   gamma=0.0 if layout == "vertex" else 1e-3)
    s, pw, _ = pair_layout(g)
    rng = np.random.default_rng(3)
    # thermal-like tails (T = 0.5) with noise: the data the tilt 1/T is made for
    f = np.exp(-g.e / 0.5) * rng.uniform(0.7, 1.3, g.n)
    n = np.exp(-g.omega / 0.5) * rng.uniform(0.7, 1.3, g.n_ph)
    cph = 0.8
    ext = PROCESSES + (_coherence_ii(0.7),)
    table = rate_table(ext)
    kw = dict(h=g.h, m=s - 1, pair_weight=pw, ph_states=phonon_states(g))
    one = (f[None], n[None], g.dos[None], g.ados[None])
    st = State.build(*one, rates=table, **kw)
    r = evaluate(st, EACH, c_ph=cph, rates=table)
    params = CollisionParams(phonon_prefactor=cph)
    v, u = rng.normal(size=g.n), rng.normal(size=g.n_ph)
    b = collision_blocks(*one, c_ph=cph, rates=table, **kw)
    ref_dq = b["ff"][0] @ v + b["fn"][0] @ u
    ref_dp = b["nf"][0] @ v + b["nn"][0] * u
    for tilt in (0.0, 2.0):
        ctx = fft0d._Context(g, params, tilt)
        ours = fft0d._evaluate(ctx, fft0d._terms(ext), f, n)
        base = fft0d._evaluate(ctx, fft0d._TERMS, f, n)
        occ = {"qp_sc_in": 1 - f, "qp_pb": 1 - f, "qp_sc_out": f, "qp_rec": f,
               "ph_sc_in": 1 + n, "ph_rec": 1 + n, "ph_sc_out": n, "ph_pb": n}
        for k, val in ours.items():
            want = occ[k] * r[k][0]
            assert np.max(np.abs(val - want)) <= 1e-12 * np.max(np.abs(want)), (k, tilt)
            moved = np.max(np.abs(val - base[k])) > 0.1 * np.max(np.abs(base[k]))
            assert moved == ("_sc_" in k), (k, tilt)
        if tilt:  # a random direction has no thermal tail: the action untilted only
            continue
        tang = fft0d._evaluate(ctx, fft0d._terms(ext), f, n, tangent=(v, u))
        signs = {t.name: t.sign for t in fft0d._terms(ext)}
        dq = sum(signs[k] * x for k, x in tang.items() if k.startswith("qp"))
        dp = sum(signs[k] * x for k, x in tang.items() if k.startswith("ph"))
        assert np.max(np.abs(dq - ref_dq)) <= 1e-12 * np.max(np.abs(ref_dq))
        assert np.max(np.abs(dp - ref_dp)) <= 1e-12 * np.max(np.abs(ref_dp))
    d = collision_diagonal(*one, c_ph=cph, rates=table, **kw)[0]
    assert np.max(np.abs(d - np.diag(b["ff"][0]))) <= 1e-13 * np.max(np.abs(d))
