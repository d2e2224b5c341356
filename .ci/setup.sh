#!/usr/bin/env bash
# fvqp setup: system packages (Open MPI + headers, OpenBLAS/LAPACK), PETSc, petsc4py and
# mpi4py built from source against them, and fvqp itself (editable, with the test extras,
# which bring gmsh from PyPI).
# Idempotent: a second run finds everything installed / pip's cached wheels and takes ~1 min.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

# 1. System packages. openmpi-bin alone ships mpicc without mpi.h: PETSc needs libopenmpi-dev.
pkgs="openmpi-bin libopenmpi-dev libopenblas-dev liblapack-dev pkg-config"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
# make sure the mpicc PETSc and mpi4py see is Open MPI's
if command -v update-alternatives >/dev/null 2>&1; then
  $SUDO update-alternatives --set mpi /usr/bin/mpicc.openmpi >/dev/null 2>&1 || true
  $SUDO update-alternatives --set mpirun /usr/bin/mpirun.openmpi >/dev/null 2>&1 || true
fi

export MPICC=/usr/bin/mpicc
export CC=/usr/bin/mpicc
# 2. PETSc + petsc4py from source (no binary wheels for this platform). No CUDA (nvcc is on
#    the machine but there is no GPU), no Fortran, no X; system BLAS/LAPACK (no downloads).
export PETSC_CONFIGURE_OPTIONS="--with-cuda=0 --with-fc=0 --with-x=0 --with-debugging=0 \
 --with-mpi=1 \
 COPTFLAGS=-O2 CXXOPTFLAGS=-O2"
export MAKEFLAGS="-j$(nproc)"
python -m pip install --upgrade --quiet pip wheel setuptools
python -c "import mpi4py, petsc4py; petsc4py.init(); from petsc4py import PETSc" 2>/dev/null \
  || python -m pip install --no-binary mpi4py "petsc==3.26.*" "petsc4py==3.26.*" "mpi4py>=4"

# 3. fvqp and its Python dependencies (test and dev extras).
python -m pip install --quiet -e ".[test]"
python -c "import fvqp, petsc4py, mpi4py; print('fvqp', fvqp.__version__, 'ready')"
