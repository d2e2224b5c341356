"""The regroupings of :class:`fvqp.parallel.blocktranspose.BlockTranspose` by strided
copies of regular runs of blocks (``_Runs``) against the index permutations and against
an independent formula of the stacked layout, serially and under ``mpiexec -n 2 / 3``.

The stacked layout of a rank (module docstring of :mod:`fvqp.parallel.blocktranspose`):
its blocks one after the other, in a block file-order cell ``c`` and slot ``s`` at
``c * width + s``; the ranks' stacks in rank order are the blocks of all ranks in
order, whatever the number of ranks. Values ``1000 c + k + 0.25`` (cell ``c``, per-cell
unknown ``k``) make every misplaced value visible.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import script_result

SCRIPT = """
import numpy as np
from fvqp.parallel.blocktranspose import BlockTranspose
from fvqp.parallel.energies import EnergySplit

layout, ownership = {layout!r}, {ownership!r}
n_cells = 11
if layout == "runs":  # blocks 0-3 of width 3, then blocks 4-6 of width 2
    block = np.r_[np.repeat(np.arange(4), 3), 4 + np.repeat(np.arange(3), 2)]
    slot = np.r_[np.tile(np.arange(3), 4), np.tile(np.arange(2), 3)]
else:  # block 4's slots out of order: no regular run there
    block = np.r_[np.repeat(np.arange(4), 3), 4 + np.repeat(np.arange(3), 2)]
    slot = np.r_[np.tile(np.arange(3), 4), [1, 0], np.tile(np.arange(2), 2)]
split = EnergySplit()
rank, size = split.rank, split.size
if ownership == "contiguous":
    owned = np.arange(n_cells)[split.block(n_cells)]
else:  # round robin: no rank owns a contiguous range of cells
    owned = np.arange(rank, n_cells, size)
ghost = np.array([(owned[-1] + 1) % n_cells])  # a ghost cell after the owned ones
cells = np.r_[owned, ghost]
bs = len(block)
x = (1000.0 * np.repeat(owned, bs) + np.tile(np.arange(bs), len(owned)) + 0.25)
weights = np.linspace(1.0, 2.0, 7) * len(owned)
out = []
for strided in (True, False):
    tr = BlockTranspose(cells, len(owned), n_cells, block, slot, weights=weights,
                        strided=strided)
    s = tr.forward(x)
    back = tr.backward(s)
    out.append((tr._runs is not None, s.tolist(), bool(np.array_equal(back, x))))
gathered = split.comm.gather(out, root=0)
if rank == 0:
    print("RESULT", [[g[i] for g in gathered] for i in range(2)])
"""


def _expected(layout: str) -> np.ndarray:
    """The blocks of all ranks in order, each cell-major with its slots (independent
    of the code: written from the layout's definition)."""
    width = [3, 3, 3, 3, 2, 2, 2]
    out = []
    for b, w in enumerate(width):
        for c in range(11):
            for s in range(w):
                if b < 4:
                    k = 3 * b + s
                else:
                    order = [1, 0] if (layout == "irregular" and b == 4) else [0, 1]
                    k = 12 + 2 * (b - 4) + order.index(s)
                out.append(1000.0 * c + k + 0.25)
    return np.array(out)


@pytest.mark.mpi
@pytest.mark.parametrize("nproc", [1, 2, 3])
@pytest.mark.parametrize(("layout", "ownership", "runs"),
                         [("runs", "contiguous", True), ("irregular", "contiguous", False),
                          ("runs", "round-robin", False)])
def test_strided_regrouping_is_the_index_permutation_bit_for_bit(nproc, layout,
                                                                 ownership, runs):
    """Strided copies are used exactly where the layout has regular runs and every rank
    owns a contiguous range of cells (on 1, 2 and 3 ranks); on every layout both paths
    give the stacked vector of the formula bit for bit, and backward undoes forward."""
    if nproc == 1 and ownership == "round-robin":
        runs = True  # one rank owns the contiguous range of all cells
    strided, index = script_result(SCRIPT.format(layout=layout, ownership=ownership),
                                   nproc=nproc)
    expected = _expected(layout)
    for path, uses_runs in ((strided, runs), (index, False)):
        assert all(r[0] == uses_runs for r in path)
        stacked = np.concatenate([np.array(r[1]) for r in path])
        assert np.array_equal(stacked, expected)
        assert all(r[2] for r in path)
