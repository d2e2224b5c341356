# %% [markdown]
# # stochastic: relaxation of localized quasiparticles (Bespalov et al. 2016)
#
# Monte Carlo of QPs trapped at random sites that annihilate in pairs, after the
# generation is switched off (`cases/stochastic_relaxation.toml`, few particles and
# repeats). Check: just after switch-off the decay rate follows the quasi-stationary
# Eq. (8) of the paper — the ratio of the first bin lies between 0.6 and 1.15 (the shipped
# case's statistics give it to a few per cent).

# %%
import os
import tempfile
from pathlib import Path

import numpy as np

import fvqp.api as fa

OUT = Path(os.environ.get("FVQP_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="fvqp_example_"))

text = """
model = "stochastic"
title = "Localized quasiparticles: relaxation at A = 0 (small)"

[study]
type = "relaxation"
a0 = 1e-6
box = 50.0
n_start = 140
n_min = 20
bins = 6
repeats = 3
seed = 1
"""
run = fa.run(text, output_dir=OUT / "stochastic", name="stochastic_relaxation")
print(run.result.report())

# %% physics: the first bin against Eq. (8); the density only decreases
ratio = run.result["ratio_to_eq8_first_bin"]
print(f"dc/dt over Eq. (8) in the first bin: {ratio:.3f}")
assert 0.6 < ratio < 1.15

# %% the key numbers of the run: the fitted decay rate against Eq. (8)
print({k: run.result[k] for k in run.result["keys"]})

import h5py  # noqa: E402  (the study's arrays, dimensionless: <case>_decay_rate.h5)

with h5py.File(run.path / "stochastic_relaxation_decay_rate.h5") as fh:
    c_t = fh["data/c_t"][()]
assert np.all(np.diff(c_t) <= 0)
