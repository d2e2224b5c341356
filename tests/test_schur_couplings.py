"""The Schur preconditioner's QP-phonon couplings applied by FFTs from the build point's
state spectra (``-<prefix>schur_couplings fft``, fvqp/collisions/batched.py, CouplingSpectra)."""

from __future__ import annotations

import numpy as np
import pytest
from test_transport_model import local, schur_network

from fvqp.collisions.batched import CouplingSpectra, batched_blocks


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-14), (np.float32, 2e-6)])
def test_fft_couplings_equal_the_kinematic_blocks(dtype, tol):
    """B u and C v by FFTs = the blocks dS_qp/dn, dS_ph/df of batched_blocks (exact
    derivatives, = the dense Jacobian to 1e-15) times the vectors: to round-off in double,
    to single round-off in float32; empty bins, per-cell prefactors."""
    rng = np.random.default_rng(3)
    C, N, M, h, m = 9, 24, 53, 0.05, 4
    f, n = rng.uniform(0, 0.2, (C, N)), rng.uniform(0, 0.2, (C, M))
    rho, ados = rng.uniform(1, 2, (C, N)), rng.uniform(0, 0.5, (C, N))
    rho[:, :3] = ados[:, :3] = 0.0  # bins below the gap
    qs, cph = rng.uniform(0.5, 2, C), rng.uniform(0.5, 2, C)
    _, fn, nf, _ = batched_blocks(f, n, rho, ados, h=h, m=m, qp_scale=qs, c_ph=cph)
    u, v = rng.standard_normal((C, M)), rng.standard_normal((C, N))
    cs = CouplingSpectra(C, N, h=h, m=m, dtype=dtype)
    cs.set(slice(0, C), f, rho, ados)
    bu = cs.qp_from_phonons(slice(0, C), f, rho, ados, u, qs)
    cv = cs.phonons_from_qp(slice(0, C), n, rho, ados, v, cph)
    eb = np.max(np.abs(bu - np.einsum("cij,cj->ci", fn, u))) / np.max(np.abs(fn))
    ec = np.max(np.abs(cv - np.einsum("cij,cj->ci", nf, v))) / np.max(np.abs(nf))
    assert max(eb, ec) <= tol
    assert dtype == np.float64 or max(eb, ec) > 1e-12  # the float32 path is single


@pytest.mark.parametrize("precision, tol", [("double", 1e-10), ("single", 1e-5)])
def test_schur_with_fft_couplings_is_the_exact_inverse(precision, tol):
    """With an LU inner solve the preconditioner with FFT couplings inverts
    K = shift m - dRHS/dy as the stored couplings do (double build: to 1e-10; single: to
    the stored blocks' 1e-5), also after a rebuild at another state and shift (the
    spectra are rewritten in place), and stores no N x M block."""
    from petsc4py import PETSc

    from fvqp.models.transport.schur import SchurPreconditioner

    p, rng, xl = schur_network(2)
    prefix = f"tfc{precision[0]}_"
    PETSc.Options().setValue(prefix + "schur_couplings", "fft")
    PETSc.Options().setValue(prefix + "schur_precision", precision)
    try:
        pc = SchurPreconditioner(p, prefix, {"ksp_type": "preonly", "pc_type": "lu"})
        assert pc.bd is None and pc.dc is None
        for state, s in ((xl, 7.5), (local(p, p.equilibrium()), 0.0)):
            pc.update(state, s)
            v = rng.standard_normal(p.n * p.B)
            mass = p.dconserved(state[:p.n * p.B])
            Kv = s * mass * v - p.rhs_jvp(state, local(p, v), 0.0, 1.0)
            assert np.max(np.abs(pc.apply(Kv) - v)) <= tol * np.max(np.abs(v))
    finally:
        for key in ("schur_couplings", "schur_precision"):
            PETSc.Options().delValue(prefix + key)
