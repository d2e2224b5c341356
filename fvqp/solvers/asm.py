"""User subdomains of PETSc's additive Schwarz preconditioner (PCASM).

PETSc's own ASM subdomains (``-pc_asm_overlap k``) list their rows sorted by global
number, and the subdomain factorisation (ILU(0) by default) eliminates in that order. A
caller that knows a better elimination order -- reverse Cuthill-McKee on the mesh's face
graph, :func:`fvqp.parallel.overlap.subdomain_cells` -- hands the rows over here, unsorted
and already overlapped (restricted additive Schwarz, Cai & Sarkis 1999: the owned rows
restrict the update). The subdomain rows are a PETSc index set built in this layer;
the caller passes numpy arrays.
"""

from __future__ import annotations

import numpy as np

__all__ = ["set_asm_subdomains"]


def set_asm_subdomains(solver, rows: np.ndarray, owned: np.ndarray) -> bool:
    """Give the additive-Schwarz PC of ``solver`` this rank's subdomain, if its PC is ASM.

    Parameters
    ----------
    solver : fvqp.solvers.NonlinearSolver, petsc4py.PETSc.KSP or petsc4py.PETSc.PC
        A Newton solver (its SNES's KSP), a KSP or a PC whose options are already read
        (its PC type set), not yet set up.
    rows : ndarray of int
        Global rows of the subdomain in the order its factorisation eliminates them.
    owned : ndarray of int
        The rows of ``rows`` this rank owns (the restriction of RAS).

    Returns
    -------
    bool
        True if the PC is ASM and got the subdomain (overlap 0 on top, indices unsorted);
        False if the PC is of another type (nothing changed).
    """
    from petsc4py import PETSc

    if isinstance(solver, PETSc.PC):
        pc = solver
    else:
        ksp = solver.snes.getKSP() if hasattr(solver, "snes") else solver
        pc = ksp.getPC()
    if pc.getType() != PETSc.PC.Type.ASM:
        return False
    sub, own = (PETSc.IS().createGeneral(np.asarray(r).astype(PETSc.IntType),
                                         comm=PETSc.COMM_SELF) for r in (rows, owned))
    pc.setASMLocalSubdomains(1, [sub], [own])
    pc.setASMOverlap(0)
    pc.setASMSortIndices(False)
    return True
