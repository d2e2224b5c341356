"""The bte collision preconditioner's exact global coarse level with the cells' local
phonons condensed (``fvqp.models.bte.coupled_coarse``): a cell's phonons meet the other
cells only through its QPs and their block ``D`` is diagonal, so the exact solve of the
coarse system ``C [a; b] = [r_a; r_b]`` factors ``A - blockdiag(B D^-1 C)`` only
(``cells x N`` unknowns, not ``cells x (N + M)``), stored as BAIJ blocks of one cell
(PETSc's LU on dense blocks). Measured on the chip's 20 640-cell layout (3 840 film
cells, 22 -> 8 unknowns per cell): the LU's numeric factorisation 0.50 -> 0.10 s.

The problem: the strongly coupled box of tests/test_bte_mesh_collisions.py (6 x 6 cells,
local phonons, mean free path 0.3) with a hot packet in half of it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from test_bte_mesh_collisions import _grid, make, packet

from fvqp.models.bte.inelastic_pc import InelasticPC
from fvqp.solvers import twolevel

KINDS = {"left": "specular", "right": "diffuse", "bottom": "diffuse", "top": "specular"}


def _pc(prefix: str, monkeypatch, tau_esc: float = math.inf):
    """The box's global-coarse preconditioner updated at the packet state (shift 1/3),
    and every coarse matrix handed to a coarse level (scipy CSR, in order); ``tau_esc``:
    the local phonons' escape time (finite: escape entries in the streaming part's
    phonon rows, which the condensation folds into the cells' blocks)."""
    seen = []
    orig = twolevel.CoarseCorrection.set_matrix

    def record(self, C):
        seen.append(sp.csr_matrix(C, copy=True))
        orig(self, C)

    monkeypatch.setattr(twolevel.CoarseCorrection, "set_matrix", record)
    p = make(_grid(), KINDS, nx=6, phonons="local", mfp=0.3, prefix=prefix,
             tau_esc=tau_esc)
    pc = InelasticPC(p, global_coarse=True, prefix=prefix + "icoarse_")
    x = packet(p, amp=0.05).reshape(p.n, p.S)
    x[: p.n // 2, : p.nq] = p.equilibrium()[: p.nq]
    pc.update(x.ravel(), 1.0 / 3.0)
    return p, pc, seen


def _whole_solve(gc, C: sp.csr_matrix, r: np.ndarray) -> np.ndarray:
    """:math:`P_{iso}C^{-1}R\\,r` with the whole coarse matrix ``C`` by scipy's LU."""
    return gc.prolong(spla.spsolve(C.tocsc(), gc.restrict(r)))


@pytest.mark.parametrize("tau_esc", [math.inf, 5.0])
def test_condensed_coarse_solve_is_the_exact_solve_of_the_whole_system(monkeypatch,
                                                                        tau_esc):
    """The coarse level holds ``cells x N`` unknowns as BAIJ blocks of ``N``, and its
    correction equals scipy's LU of the whole ``cells x (N + M)`` Galerkin matrix to
    1e-12 (relative, on random residuals). The whole matrix is the one the same
    preconditioner assembles when the condensation is switched off. With a finite
    escape time the streaming part holds phonon entries (folded into the cells' ``D``)."""
    p, pc, seen = _pc("bte_cond_a_", monkeypatch, tau_esc)
    gc = pc.gc
    assert p.Mp > 0 and gc.condense and gc.schur is not None
    assert (len(gc._tloc[0]) > 0) == math.isfinite(tau_esc)
    lv = gc.level
    assert lv.block_size == p.N and lv.solver.mat.getType() == "seqbaij"
    assert seen[-1].shape == (p.n * p.N, p.n * p.N)
    # the whole system, from the same preconditioner without the condensation
    _, whole, seen_w = _pc("bte_cond_b_", monkeypatch, tau_esc)
    whole.gc.condense = False
    whole.update(whole.y.ravel(), whole.shift)
    C = seen_w[-1]
    assert C.shape == (p.n * gc.Sc, p.n * gc.Sc) and whole.gc.schur is None
    rng = np.random.default_rng(3)
    for _ in range(3):
        r = rng.standard_normal(p.n * p.S)
        ref = _whole_solve(gc, C, r)
        got = gc.correction(r)
        assert np.max(np.abs(got - ref)) <= 1e-12 * np.max(np.abs(ref))
        assert np.max(np.abs(whole.gc.correction(r) - ref)) <= 1e-12 * np.max(np.abs(ref))
    assert gc.counts()["solves"] == 3
    pc.destroy()
    whole.destroy()


def test_a_non_diagonal_phonon_block_falls_back_to_the_whole_system(monkeypatch):
    """Blocks whose phonon part ``D`` is not diagonal (or has a vanishing diagonal entry)
    are not condensed: that update factors the whole ``cells x (N + M)`` system on its
    own level, whose solve is again scipy's; the counts add over both levels."""
    p, pc, seen = _pc("bte_cond_c_", monkeypatch)
    gc = pc.gc
    r = np.random.default_rng(5).standard_normal(p.n * p.S)
    gc.correction(r)
    N, Sc = p.N, gc.Sc
    blocks = np.zeros((p.n, Sc, Sc))
    blocks[:] = 2.0 * np.eye(Sc)
    blocks[:, :N, :] += 0.01                        # QPs meet QPs and phonons,
    blocks[:, N:, :N] += 0.01                       # phonons meet QPs
    blocks[:, N, N + 1] = 0.3                       # and a phonon node meets another
    gc.update(blocks)
    assert gc.schur is None and gc.level.block_size == Sc
    ref = _whole_solve(gc, seen[-1], r)
    assert np.max(np.abs(gc.correction(r) - ref)) <= 1e-12 * np.max(np.abs(ref))
    blocks[:, N, N + 1] = 0.0
    blocks[:, N + 2, N + 2] = 0.0                   # a vanishing pivot of D
    gc.update(blocks)
    assert gc.schur is None
    blocks[:, N + 2, N + 2] = 2.0                   # condensable again
    gc.update(blocks)
    assert gc.schur is not None and gc.level.block_size == N
    ref = _whole_solve(gc, _whole(gc, blocks), r)
    assert np.max(np.abs(gc.correction(r) - ref)) <= 1e-12 * np.max(np.abs(ref))
    assert gc.counts()["solves"] == 3 and len(gc.levels) == 2
    pc.destroy()


def _whole(gc, blocks: np.ndarray) -> sp.csr_matrix:
    """The whole coarse matrix of ``blocks`` (serial: local = global numbering)."""
    n, Sc = gc.p.n, gc.Sc
    return (gc.T.tocsr() + sp.block_diag(list(blocks), format="csr")).tocsr()[:, : n * Sc]
