"""Issue 18 §1: the condensed solve's memory cuts keep the numbers. The state transforms
of a linearisation point made again in every action (``-<prefix>collision_spectra
recompute``: none kept between actions) give the kept ones' actions bit for bit, and a
phonon source's spectrum (one row for every cell) deposits what its per-cell rows did."""

import numpy as np
import test_transport_schur_cells as _cells

#: the 520-cell absorber at a perturbed state (the fixture of the cell-storage tests)
absorber = _cells.absorber
#: relative change of an action with complex64 spectra (measured 2.4e-9 for the Jacobian
#: action, 2.5e-11 for the condensed action at shift 1e3)
SINGLE_BOUND = 1e-8


def test_recomputed_spectra_give_the_kept_actions_bit_for_bit(absorber):
    """The Jacobian action and the condensed Schur action (with its phonon direction) at
    one state: identical bits with the spectra kept and recomputed per batch; nothing is
    kept in the recompute mode."""
    p, xl = absorber
    rng = np.random.default_rng(7)
    n_local = p.loc.n_local
    v = rng.standard_normal(n_local * p.B)
    vf = rng.standard_normal((n_local, p.N))
    d = 1.0 + rng.uniform(size=(p.n, p.M))
    w0 = rng.standard_normal((p.n, p.M))
    keep = p.keep_spectra
    out = {}
    try:
        for mode in (True, False):
            p.keep_spectra, p._spectra, p._linearised = mode, None, None
            jv = p.rhs_jvp(xl, v, 0.0, 1.0)
            sv, w = p.schur_action(xl, vf, 1e3, d, w0=w0)
            sv2, _ = p.schur_action(xl, vf, 1e3, d)  # a second action at the same point
            out[mode] = (jv, sv, w, sv2)
            assert (p._spectra is not None) == mode
    finally:
        p.keep_spectra, p._spectra = keep, None
    for a, b in zip(out[True], out[False], strict=True):
        assert np.array_equal(a, b)
    assert not np.array_equal(out[True][1], out[True][3])  # w0 enters sv


def test_phonon_source_spectrum_is_one_row(absorber):
    """The burst's phonon spectrum: one row shared by every cell (no (n, M) array), each
    row carrying unit energy (sum omega s = 1) as the per-cell rows did."""
    p, _ = absorber
    (s,) = [s for s in p.sources if s.kind == "phonon"]
    assert s.spectrum.shape == (p.n, p.M)
    assert s.spectrum.strides[0] == 0
    assert np.allclose(s.spectrum @ p.grid.omega, 1.0, rtol=1e-14, atol=0)


def test_batched_transport_action_is_the_whole_one_bit_for_bit(absorber, monkeypatch):
    """The QP transport part of the Jacobian action by batches of cells (temporaries of
    a batch's faces, not of all faces twice) equals the divergence of all face fluxes at
    once bit for bit, for batches of 7 cells (faces shared between batches) and of all
    cells."""
    import fvqp.models.transport.faces as faces

    p, _ = absorber
    vf = np.random.default_rng(11).standard_normal((p.loc.n_local, p.N))
    flux = (vf[p.f_b] - vf[p.f_a]) * p.G
    whole = p._div @ flux - p._bsum @ (p.b_G * vf[p.b_cell])
    for rows in (7, 100_000):
        monkeypatch.setattr(faces, "TRANSPORT_ROWS", rows)
        p._tbatches = None
        try:
            assert np.array_equal(p._qp_transport(vf), whole)
        finally:
            p._tbatches = None


def test_single_precision_spectra_round_the_action_only(absorber):
    """``-<prefix>collision_spectra single`` keeps the state transforms in complex64
    (half the 8.7 KB per cell at 66 bins): the Jacobian action and the condensed Schur
    action then differ from the double ones by the float32 rounding of the transforms
    only, far below what a Krylov solve to 1e-10 of Newton's direction could notice
    relative to the residual Newton judges in double (:data:`SINGLE_BOUND`)."""
    p, xl = absorber
    rng = np.random.default_rng(9)
    v = rng.standard_normal(p.loc.n_local * p.B)
    vf = rng.standard_normal((p.loc.n_local, p.N))
    d = 1.0 + rng.uniform(size=(p.n, p.M))
    out = {}
    before = p.single_spectra
    try:
        for single in (False, True):
            p.single_spectra, p._spectra, p._linearised = single, None, None
            out[single] = (p.rhs_jvp(xl, v, 0.0, 1.0),
                           p.schur_action(xl, vf, 1e3, d)[0])
            if single:
                assert all(a.dtype == np.complex64 for a in (
                    p._spectra[1][0].RF, p._spectra[1][0].Q0))
    finally:
        p.single_spectra, p._spectra = before, None
    for a, b in zip(out[False], out[True], strict=True):
        err = np.linalg.norm(a - b) / np.linalg.norm(a)
        assert 0.0 < err <= SINGLE_BOUND, err


def test_linearisation_keeps_a_frozen_state_by_reference(absorber):
    """Issue 18 §1: a linearisation point the caller froze (read-only all the way down:
    the Newton solver's states) is kept by reference, not copied, and a copy kept from an
    earlier (writable) evaluation at the same values is dropped for it with its spectra;
    a writable state is still copied (the caller may change it). The kept spectra carry
    no DOS factors (2 N values per cell); a batch's are made again with the bits of
    :meth:`State.build`'s."""
    from fvqp.collisions.correlations import State
    from fvqp.models.transport.linearisation import CHUNK, is_frozen

    p, xl = absorber
    v = np.random.default_rng(13).standard_normal(p.loc.n_local * p.B)
    writable = xl.copy()
    frozen = xl.copy()
    frozen.flags.writeable = False
    assert is_frozen(frozen.reshape(-1, p.B)[:p.n]) and not is_frozen(writable)
    view = frozen.view()
    view.flags.writeable = False
    base = xl.copy()
    ro = base[:]
    ro.flags.writeable = False
    assert is_frozen(view) and not is_frozen(ro)  # a read-only view of a writable base
    try:
        p._linearised = p._spectra = p._pair = None
        a = p.rhs_jvp(writable, v, 0.0, 1.0)
        kept, spectra = p._linearised, p._spectra[1]
        assert not np.shares_memory(kept[0], writable)
        b = p.rhs_jvp(frozen, v, 0.0, 1.0)
        assert np.shares_memory(p._linearised[0], frozen)
        assert p._linearised[1] is kept[1] and p._spectra[1] is spectra  # not remade
        assert np.array_equal(a, b)
        assert all(st.r is None and st.qs is None for st in spectra.states)
        sl = slice(CHUNK, min(p.n, 2 * CHUNK)) if p.n > CHUNK else slice(0, p.n)
        b_index = sl.start // CHUNK
        r, qs = State.dos_factors(p.rho[sl], p.ados[sl], p.p["qp_scale"][sl])
        assert np.array_equal(spectra[b_index].r, r)
        assert np.array_equal(spectra[b_index].qs, qs)
        p._linearised = p._spectra = p._pair = None
        p.rhs_jvp(frozen, v, 0.0, 1.0)  # first evaluated at a frozen state: no copy
        assert np.shares_memory(p._linearised[0], frozen)
    finally:
        p._linearised = p._spectra = p._pair = None
