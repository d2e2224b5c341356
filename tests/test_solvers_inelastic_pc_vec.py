"""The Jacobian action of the bte collision preconditioner (InelasticPC._jz, global
coarse level) exchanges ghost values through one ghosted PETSc vector kept for the
preconditioner's life (freed by InelasticPC.destroy), not a new vector per action (a
duplicate, a copy and a destroy in every multiplicative cycle; issue 18). The states and
the Newton and Krylov counts are bit for bit those of a new vector per action.

The problem: the strongly coupled box of tests/test_bte_mesh_collisions.py
(``test_two_level_preconditioner_halves_krylov_iterations``: 6 x 6 cells, local phonons,
mean free path 0.3, a hot packet in half the box, three backward-Euler steps of 3)."""

from __future__ import annotations

import numpy as np
from test_bte_mesh_collisions import _grid, integrate, make, packet

from fvqp.models.bte.inelastic_pc import InelasticPC


class _NewVectorPerAction(InelasticPC):
    """The action as it was: a new ghosted vector per call (the reference)."""

    def _jz(self, z):
        p = self.p
        v = p.dist.create_vec()
        v.setArray(z)
        lz = p.L @ p.dist.local_array(v)
        v.destroy()
        coll = self.lin.action(z) if self.lin is not None else \
            p.collision_jvp(self.y.ravel(), z)
        return self.shift * p.storage * z + lz - coll


def _run(cls, prefix: str):
    """The box with ``cls`` as its global-coarse preconditioner: (state, result, PC,
    vectors created inside the actions, actions)."""
    kinds = {"left": "specular", "right": "diffuse", "bottom": "diffuse", "top": "specular"}
    p = make(_grid(), kinds, nx=6, phonons="local", mfp=0.3, prefix=prefix)
    pc = p.preconditioner = cls(p, global_coarse=True, prefix=prefix + "icoarse_")
    made = {"vecs": 0, "actions": 0, "inside": False}
    create = p.dist.create_vec

    def counted_create():
        made["vecs"] += made["inside"]
        return create()

    jz = pc._jz

    def counted_jz(z):
        made["actions"] += 1
        made["inside"] = True
        try:
            return jz(z)
        finally:
            made["inside"] = False

    p.dist.create_vec, pc._jz = counted_create, counted_jz
    x0 = packet(p, amp=0.05).reshape(p.n, p.S)
    x0[: p.n // 2, : p.nq] = p.equilibrium()[: p.nq]
    it, res = integrate(p, x0.ravel(), 3.0, 3, prefix=prefix)
    return it.x.copy(), res, pc, made["vecs"], made["actions"]


def test_one_vector_for_all_actions_same_states_and_counts():
    x_ref, r_ref, pc_ref, vecs_ref, acts_ref = _run(_NewVectorPerAction, "bte_jzr_")
    x, res, pc, vecs, acts = _run(InelasticPC, "bte_jzk_")
    assert acts == acts_ref > 10 and vecs_ref == acts_ref
    assert vecs == 1                           # one vector for all the actions
    assert np.array_equal(x, x_ref)            # bit for bit
    assert (res.newton_iterations, res.linear_iterations) == \
        (r_ref.newton_iterations, r_ref.linear_iterations)
    assert pc._vec is not None
    pc.destroy()
    assert pc._vec is None and pc.gc is None
    pc.destroy()                               # idempotent
