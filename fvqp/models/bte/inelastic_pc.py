r"""The preconditioner of the coupled collisional Newton systems of :mod:`.inelastic`.

Two-level, multiplicative (the steps of the :mod:`.inelastic` module docstring):

1. :math:`z = M^{-1}r`, :math:`M = \sigma\partial C + L_{oo} + D` (energies decoupled);
2. the isotropic correction :math:`z \mathrel{+}= P_{iso}C^{-1}R(r - Jz)`: per cell (the 0D
   kinetic block plus the cell's own transport loss) or global
   (:mod:`.coupled_coarse`, the Galerkin operator over all cells);
3. :math:`z \mathrel{+}= M^{-1}(r - Jz)`.

Step 1 is either one sparse LU of :math:`M` (``fine = "lu"``, the default: cost and
memory superlinear in the unknowns) or a transport sweep (``fine = "sweep"``): ILU(0) of
:math:`M` in the sweep order of every ordinate (:mod:`.sweep`,
:class:`fvqp.solvers.sweep.OrderedILU`; exact for the streaming and removal of one
ordinate, the elastic coupling to :math:`\phi`, the walls' couplings between ordinates and
lagged cycle edges in its upper factor), linear in the unknowns; on several ranks split
by energy bins, the serial sweep (:class:`.sweep.BinSplitSweep`, the default), or stage by
stage across the cells (:class:`.sweep.StageSweep`). A sweep leaves the
isotropic error coupled between cells (diffusion in the thick limit), so with it step 2 is
always the global Galerkin correction — the diffusion-synthetic acceleration consistent
with the discretisation (Adams & Larsen 2002, Sec. 4) that keeps the Krylov count bounded
as :math:`\ell \to 0`. The choice is the PETSc option ``-<prefix>fine_pc lu|sweep``
(command line, or ``fine_pc = "sweep"`` in the case's ``[solver] petsc``); in a run
(:mod:`.coupled`) the sweep's global coarse level is solved inexactly
(:data:`INEXACT_COARSE`) under FGMRES.

References
----------
M. L. Adams and E. W. Larsen, Prog. Nucl. Energy 40, 3 (2002).
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ...collisions.batched import batched_blocks, batched_jacobian, qp_block
from ...solvers.twolevel import CELL_BLOCK_GAMG

__all__ = ["COARSE_ESCALATION", "FINE_CHOICES", "INEXACT_COARSE", "InelasticPC",
           "coarse_warning"]

#: step 1 of :class:`InelasticPC`: one sparse LU, or a transport sweep
FINE_CHOICES = ("lu", "sweep")
#: the global coarse solve of the sweep path in runs (:mod:`.coupled`): GMRES to 1e-3 with
#: block Jacobi / ILU(0) instead of an exact LU (whose fill made 63 % of a step's time at
#: 3 360 cells x 18 bins); a variable preconditioner, so the outer Krylov is FGMRES
INEXACT_COARSE = {"ksp_type": "gmres", "ksp_rtol": 1e-3, "ksp_atol": 0.0,
                  "ksp_max_it": 200, "pc_type": "bjacobi", "sub_pc_type": "ilu"}
#: ... and, once one of its solves takes more than 50 iterations (or does not converge),
#: algebraic multigrid on the cells (:data:`fvqp.solvers.twolevel.CELL_BLOCK_GAMG`) for
#: the rest of the run (``(limit, options)`` of a :class:`fvqp.solvers.twolevel.
#: Escalation`; the limit is the case's ``coarse_switch``, :func:`.coupled.coarse_switch`).
#: The absorber on the issue's 53 120-cell mesh (6 bins x 8 ordinates, 2026-11-25): at
#: 0.1 ns steps ILU(0) took 8-27 iterations per coarse solve and GAMG 6-7 at ~6x the cost
#: per iteration (coarse solves 9.9 against 31.7 s in 3 steps); at 4 ns steps (the late
#: part of a 100 ns run) ILU(0) took 100-200 (the limit, unconverged) and GAMG 7-10:
#: coarse solves 205 against 69 s, steps 84 against 46 s, Krylov 85 against 90. The
#: break-even is near 50 ILU(0) iterations.
COARSE_ESCALATION = (50, CELL_BLOCK_GAMG)


def coarse_warning(counts: dict[str, int], prefix: str = "bte_icoarse_") -> str | None:
    """The end-of-run warning for global coarse solves that stopped unconverged
    (:meth:`InelasticPC.coarse_counts`), or None if every one converged. Such solves do
    not make the answer wrong (the outer FGMRES still reaches its tolerance) but each
    costs outer iterations: ILU(0) at long steps on a large mesh (issue 16: 100-200
    iterations, the limit) is the case the coarse switch is for."""
    bad = counts.get("unconverged", 0)
    if not bad:
        return None
    return (f"{bad} of {counts['solves']} global coarse solves ({prefix}) stopped "
            f"unconverged at their iteration limit (the outer Krylov solves still reached "
            f"their tolerance, at more iterations). Fix: keep the coarse switch on "
            f"([solver] petsc = {{ coarse_switch = {COARSE_ESCALATION[0]} }}), or choose "
            f"a stronger coarse preconditioner (-{prefix}pc_type gamg) or a larger "
            f"-{prefix}ksp_max_it")


class InelasticPC:
    """Two-level preconditioner of the coupled Newton systems (module docstring).

    ``coarse = False`` leaves only step 1 (the energy-diagonal LU or sweep), ``smooth =
    False`` drops step 3 (for the comparisons of ``benchmarks/bte_mesh.py``).
    ``global_coarse`` replaces the per-cell blocks of step 2 by the global Galerkin coarse
    operator of :mod:`.coupled_coarse` (isotropic coupling between cells and across
    ranks; the residuals of steps 2–3 then use the full Jacobian action with ghost
    exchange). ``fine``: step 1, one of :data:`FINE_CHOICES`, or None to read the option
    ``-<options_prefix>fine_pc`` (default ``lu``) at the first update; a sweep implies
    the global coarse operator. ``prefix``: options prefix of the global coarse solve,
    ``coarse_options`` its default options (None: an exact LU), ``coarse_user`` the
    case's (over the defaults; the command line wins), ``coarse_escalate`` the
    switch of its preconditioner after a solve of too many iterations
    (:class:`fvqp.solvers.twolevel.Escalation`; :data:`COARSE_ESCALATION`)."""

    def __init__(self, prob, smooth: bool = True, coarse: bool = True,
                 global_coarse: bool = False, prefix: str = "bte_icoarse_",
                 fine: str | None = None, options_prefix: str | None = None,
                 coarse_options: dict | None = None, coarse_user: dict | None = None,
                 coarse_escalate=None):
        self.p, self.smooth, self.coarse = prob, smooth, coarse
        self.updates = 0
        self.lin = None   # the collision linearisation at the last update's state
        self.gc = None
        self.prefix, self.options_prefix = prefix, options_prefix
        self.coarse_options, self.coarse_escalate = coarse_options, coarse_escalate
        self.coarse_user = coarse_user
        self.fine, self.sweep, self.lu = fine, None, None
        self.schur = None
        self.crossing, self.n_stages = False, 1
        #: the ghosted vector of :meth:`_jz`'s ghost exchange, created once (not one per
        #: action), freed by :meth:`destroy`
        self._vec = None
        #: seconds spent per part (``update``: factorisations and the coarse operator;
        #: ``fine``: sweeps or LU solves; ``coarse``: coarse solves; ``action``: the
        #: Jacobian actions of steps 2-3)
        self.seconds = {"update": 0.0, "fine": 0.0, "coarse": 0.0, "action": 0.0}
        #: the global coarse solves' counters once its level is freed (:meth:`destroy`)
        self._coarse_done: dict[str, int] | None = None
        if global_coarse and coarse:
            self._global()

    def _global(self) -> None:
        from .coupled_coarse import GlobalCoarse

        self.gc = GlobalCoarse(self.p, self.prefix, self.coarse_options,
                               self.coarse_escalate, self.coarse_user)

    def _choose_fine(self) -> None:
        """Step 1 from ``fine`` or the option (first update): the sweep's order and its
        factorisation object, and the global coarse level it needs."""
        if self.fine is None:
            from ...solvers.linear import option_value

            self.fine = option_value(f"{self.options_prefix}fine_pc", "lu") \
                if self.options_prefix else "lu"
        if self.fine not in FINE_CHOICES:
            raise ValueError(f"-{self.options_prefix or ''}fine_pc must be one of "
                             f"{FINE_CHOICES}, not {self.fine!r}")
        if self.fine != "sweep" or self.sweep is not None:
            return
        from ...solvers.sweep import OrderedILU
        from .sweep import cell_orders, coupled_order, rank_sweep

        p = self.p
        # on several ranks: split by energy bins (the serial sweep) or stage by stage
        # across the cells (fvqp.models.bte.sweep.rank_split); None: a sweep per rank
        self.sweep = rank_sweep(p, self.options_prefix or "", self.prefix + "sweep_",
                                self._bin_pattern)
        if self.sweep is not None:
            self.crossing, self.n_stages = True, self.sweep.n_stages
            self.cycle_breaks = self.sweep.cycle_breaks
            return self._need_global()
        orders, self.cycle_breaks = cell_orders(p.base.sweep_graph(), p.n, p.K)
        self.sweep = OrderedILU(coupled_order(orders, p.n, p.N, p.S, p.Mp),
                                self.prefix + "sweep_")
        self._need_global()

    def _bin_pattern(self) -> sp.csr_matrix:
        """The couplings of every bin of the coupled operator folded into one bin's layout
        (rows ``c (K+1) + b``; phonons left out)."""
        p = self.p
        m = p.L.tocoo()
        q = ((m.row % p.S) < p.nq) & ((m.col % p.S) < p.nq)
        B = p.B
        rows = (m.row[q] // p.S) * B + (m.row[q] % p.S) % B
        cols = (m.col[q] // p.S) * B + (m.col[q] % p.S) % B
        return sp.csr_matrix((np.ones(len(rows)), (rows, cols)),
                             shape=(p.n * B, p.nl * B))

    def _need_global(self) -> None:
        """The global coarse level the sweep needs (module docstring)."""
        if self.coarse and self.gc is None:
            self._global()

    def update(self, xl: np.ndarray, shift: float) -> None:
        t0 = time.perf_counter()
        self._update(xl, shift)
        self.seconds["update"] += time.perf_counter() - t0

    def _update(self, xl: np.ndarray, shift: float) -> None:
        p = self.p
        n, S, N, K, Mp = p.n, p.S, p.N, p.K, p.Mp
        y = np.asarray(xl[: n * S]).reshape(n, S)
        # the collision action at the PC's own state, kept: a lagged PC (bte_chip films)
        # acts at its build state while Newton moves on, and the problem caches one state
        # (the linearisation holds its own copy of the state: the PC's is that one)
        self.lin = p.linearisation(y.ravel()) if p.jvp_mode == "linear" else None
        self.y, self.shift = (self.lin.y if self.lin is not None else y.copy()), shift
        r = p.rates_at(y)
        d = np.zeros((n, S))
        q = d[:, : p.nq].reshape(n, N, p.B)
        q[:, :, :K] = (p.V[:, None] * p.crow * (r.qp_in + r.qp_out))[:, :, None]
        if Mp:
            d[:, p.nq:] = p.storage.reshape(n, S)[:, p.nq:] * (r.ph_loss - r.ph_gain)
        diag = shift * p.storage + d.ravel()
        if self.updates == 0:
            self._choose_fine()
        if self.crossing:          # the sweep spans the ranks (collective)
            self.sweep.factor(diag)
        elif self.sweep is not None:
            from ...solvers.sweep import collective_factor

            # a zero pivot on one rank raises on all (ZeroPivotError); L_oo + diag(diag)
            # formed in the sweep's ordered copy (L holds every diagonal entry)
            collective_factor(p.dist.comm, lambda: self.sweep.factor(p.L_oo, diag)
                              if n else None)
        else:
            m = p.L_oo + sp.diags(diag)
            self.lu = spla.splu(m.tocsc(), permc_spec="COLAMD") if n else None
        self._coarse(y, shift)
        self.updates += 1

    def _coarse(self, y: np.ndarray, shift: float) -> None:
        """Inverse of the 0D kinetic Jacobian (+ own transport loss) of every owned cell,
        or the global coarse operator with the 0D kinetic blocks."""
        p = self.p
        n, N, Mp, M = p.n, p.N, p.Mp, p.M
        phi, nb = p.partners(y)
        nb = np.ascontiguousarray(nb)
        size = N + Mp
        rowq = p.V[:, None] * p.crow                             # rho_j V
        stq = p.V[:, None] * p.rho_cells                         # N_j V
        idx = np.arange(N)
        self.schur = None
        if Mp and self.gc is None and n:
            if self._cell_schur(phi, nb, rowq, stq, shift):
                return
        if Mp:
            c = -batched_jacobian(phi, nb, p.rho2, p.ados2, h=p.grid.h, m=p.grid.m,
                                  qp_scale=p.qp_scale, c_ph=p.c_ph)
        else:     # bath phonons: the QP block alone
            c = -qp_block(phi, nb, p.rho2, p.ados2, h=p.grid.h, m=p.grid.m,
                          qp_scale=p.qp_scale)
        c[:, :N, :] *= rowq[:, :, None]
        c[:, idx, idx] += stq * shift
        ip = N + np.arange(M)
        if Mp:
            pw = p.storage.reshape(n, p.S)[:, p.nq:]            # beta Omega^2 V
            c[:, N:, :] *= pw[:, :, None]
            c[:, ip, ip] += pw * shift
        if self.gc is not None:  # transport, traps, escape: in the Galerkin R L P
            self.gc.update(c)
            return
        c[:, idx, idx] += p.iso_self
        if Mp and math.isfinite(p.tau_esc):
            c[:, ip, ip] += pw / p.tau_esc
        self.cinv = np.linalg.inv(c) if n else np.zeros((0, size, size))

    def _cell_schur(self, phi, nb, rowq, stq, shift: float) -> bool:
        r"""The per-cell blocks with local phonons by their Schur complement: the phonon
        block :math:`D` of :math:`C_c = [[A, B], [C, D]]` is diagonal (a phonon node
        meets the other nodes only through the QPs), so :math:`C_c^{-1}` needs only
        :math:`S = A - BD^{-1}C` (:math:`N\times N`) inverted instead of the
        :math:`(N + M)^2` matrix (blocks by :func:`fvqp.collisions.batched.
        batched_blocks`, without the dense matrix). False (the dense inverse is taken)
        where :math:`D` is not safely invertible (:math:`|D| < 10^{-8}\max|D|`)."""
        p = self.p
        n, N = p.n, p.N
        ff, fn, nf, nn = batched_blocks(phi, nb, p.rho2, p.ados2, h=p.grid.h, m=p.grid.m,
                                        qp_scale=p.qp_scale, c_ph=p.c_ph)
        pw = p.storage.reshape(n, p.S)[:, p.nq:]                # beta Omega^2 V
        d = pw * (shift - nn)
        if math.isfinite(p.tau_esc):
            d += pw / p.tau_esc
        if not np.all(np.abs(d) > 1e-8 * np.abs(d).max()):
            return False
        a = -ff * rowq[:, :, None]
        idx = np.arange(N)
        a[:, idx, idx] += stq * shift + p.iso_self
        b = -fn * rowq[:, :, None]                               # (n, N, M)
        cm = -nf * pw[:, :, None]                                # (n, M, N)
        dinv = 1.0 / d
        sinv = np.linalg.inv(a - b @ (dinv[:, :, None] * cm))
        self.schur = (sinv, b, cm, dinv)
        return True

    def _cell_solve(self, rc: np.ndarray) -> np.ndarray:
        """:math:`C_c^{-1}r_c` of every owned cell (dense inverse or Schur complement)."""
        if self.schur is None:
            return np.einsum("cij,cj->ci", self.cinv, rc)
        sinv, b, cm, dinv = self.schur
        N = sinv.shape[1]
        rp = dinv * rc[:, N:]
        dq = np.einsum("cij,cj->ci", sinv, rc[:, :N] - np.einsum("cij,cj->ci", b, rp))
        return np.concatenate([dq, rp - dinv * np.einsum("cij,cj->ci", cm, dq)], axis=1)

    def _jz(self, z: np.ndarray) -> np.ndarray:
        """Jacobian action on owned values: the rank's own block, or (global coarse) the
        full action with the ghost values exchanged."""
        t0 = time.perf_counter()
        p = self.p
        if self.gc is None:
            lz = p.L_oo @ z
        else:
            if self._vec is None:
                self._vec = p.dist.create_vec()
            self._vec.setArray(z)       # the ghosts are refreshed by local_array
            lz = p.L @ p.dist.local_array(self._vec)
        coll = self.lin.action(z) if self.lin is not None else \
            p.collision_jvp(self.y.ravel(), z)
        out = self.shift * p.storage * z + lz - coll
        self.seconds["action"] += time.perf_counter() - t0
        return out

    def _solve(self, r: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        if self.crossing:          # collective: every rank, also without cells
            out = self.sweep.solve(r)
        elif self.sweep is not None:
            out = self.sweep.solve(r) if self.p.n else r.copy()
        else:
            out = self.lu.solve(r) if self.lu is not None else r.copy()
        self.seconds["fine"] += time.perf_counter() - t0
        return out

    def _global_correction(self, res: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        out = self.gc.correction(res)
        self.seconds["coarse"] += time.perf_counter() - t0
        return out

    @property
    def coarse_solve(self) -> str | None:
        """How the global coarse level is solved: ``"exact"`` (LU), ``"inexact"``
        (Krylov with ``coarse_options``), None without the global level
        (:func:`.coupled.coarse_solve`)."""
        if self.gc is None:
            return None
        return "exact" if self.coarse_options is None else "inexact"

    def coarse_counts(self) -> dict[str, int]:
        """The global coarse level's solves, their Krylov iterations and the solves that
        stopped unconverged (at ``-<prefix>ksp_max_it``; the outer FGMRES still converges,
        at more iterations); zeros without the global level."""
        if self._coarse_done is not None:
            return dict(self._coarse_done)
        if self.gc is None:
            return {"solves": 0, "iterations": 0, "unconverged": 0}
        return self.gc.counts()

    def destroy(self) -> None:
        """Free the PETSc objects the preconditioner holds: :meth:`_jz`'s ghosted vector,
        the sweep's factorisations and the global coarse level, and drop the LU, the Schur
        blocks, the linearisation and the problem (the preconditioner is not used after;
        the problem <-> preconditioner cycle is broken)."""
        self.p = self.lu = self.schur = self.lin = None
        if self._vec is not None:
            self._vec.destroy()
            self._vec = None
        if self.sweep is not None:
            self.sweep.destroy()
            self.sweep = None
        if self.gc is not None:
            self._coarse_done = self.coarse_counts()
            self.gc.destroy()
            self.gc = None

    def apply(self, r: np.ndarray) -> np.ndarray:
        p = self.p
        n, S, N, K = p.n, p.S, p.N, p.K
        z = self._solve(r)
        if not self.coarse:
            return z
        if self.gc is not None:
            z = z + self._global_correction(r - self._jz(z))
            return z + self._solve(r - self._jz(z)) if self.smooth else z
        if n == 0:
            return z
        res = (r - self._jz(z)).reshape(n, S)
        rq = res[:, : p.nq].reshape(n, N, p.B)[:, :, :K] @ p.w
        rc = np.concatenate([rq, res[:, p.nq:]], axis=1)
        delta = self._cell_solve(rc)
        zz = z.reshape(n, S).copy()
        q = zz[:, : p.nq].reshape(n, N, p.B)
        q += delta[:, :N, None]
        zz[:, p.nq:] += delta[:, N:]
        z = zz.ravel()
        if self.smooth:
            z = z + self._solve(r - self._jz(z))
        return z
