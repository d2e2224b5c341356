#!/usr/bin/env bash
# Regenerate every fvqp device mesh (.msh) from its gmsh .geo script.
# Units: micrometres everywhere. Requires the `gmsh` CLI (pip gmsh 4.15) and
# python with meshio 5.3 (+ numpy, scipy for the checker).
# Usage:  bash meshes/build.sh            (build + run check_meshes.py)
#         SKIP_CHECK=1 bash meshes/build.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
GMSH="${GMSH:-gmsh}"
NICE="nice -n 10"            # the build machine is shared; be polite
T0=$(date +%s.%N)

# mesh <dir> <geo> <dim> <out.msh> <format> [-setnumber name value ...]
mesh() {
  local dir=$1 geo=$2 dim=$3 out=$4 fmt=$5; shift 5
  local t=$(date +%s.%N)
  ( cd "$dir" && $NICE "$GMSH" "$geo" "-$dim" "$@" -o "$out" -format "$fmt" -v 2 ) \
    || { echo "gmsh failed for $dir/$out" >&2; exit 1; }
  printf '  %-40s %6.2fs\n' "$dir/$out" "$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')"
}

echo "== 1D =="
mesh nis_wire     nis_wire.geo     1 nis_wire.msh     msh41
mesh wire_network wire_network.geo 1 wire_network.msh msh41
mesh usadel_sns   usadel_sns.geo   1 usadel_sns.msh   msh41
mesh usadel_open_wire usadel_open_wire.geo 1 usadel_open_wire.msh msh41
mesh usadel_sis_wire usadel_sis_wire.geo 1 usadel_sis_wire.msh msh41

echo "== 2D film + trap =="
mesh film_trap film_trap.geo 2 film_trap_coarse.msh msh41 -setnumber h 2
mesh film_trap film_trap.geo 2 film_trap_fine.msh   msh41 -setnumber h 0.5

echo "== 2D constriction (triangles, for the discrete-ordinates bte model) =="
mesh constriction constriction.geo 2 constriction_coarse.msh msh41 -setnumber h 0.4
mesh constriction constriction.geo 2 constriction_fine.msh   msh41 -setnumber h 0.2

echo "== 2D films for the bte model =="
mesh bte_film    bte_film.geo    2 bte_film_coarse.msh msh41 -setnumber h 4
mesh bte_film    bte_film.geo    2 bte_film_fine.msh   msh41 -setnumber h 2
mesh bte_gapstep bte_gapstep.geo 2 bte_gapstep.msh     msh41 -setnumber h 0.5

echo "== 3D substrates for the phonon model =="
mesh substrate_block substrate_block.geo 3 substrate_block.msh msh41
mesh substrate_block substrate_block.geo 3 substrate_block_tof.msh msh41 -setnumber Lx 40 \
  -setnumber Ly 40 -setnumber Lz 100 -setnumber nx 4 -setnumber ny 4 -setnumber nz 20
mesh substrate_block substrate_block.geo 3 substrate_column.msh msh41 -setnumber Lx 1 \
  -setnumber Ly 1 -setnumber Lz 100 -setnumber nx 1 -setnumber ny 1 -setnumber nz 100
mesh substrate_bilayer substrate_bilayer.geo 3 substrate_bilayer.msh msh41
mesh substrate_bilayer substrate_bilayer.geo 3 film_on_substrate.msh msh41 -setnumber L1 50 \
  -setnumber L2 0.1 -setnumber n2 1
mesh substrate_bilayer substrate_bilayer.geo 3 chip_film.msh msh41 -setnumber Lx 200 \
  -setnumber Ly 200 -setnumber L1 100 -setnumber L2 0.1 -setnumber nx 8 -setnumber ny 8 \
  -setnumber n1 8 -setnumber n2 1

echo "== 3D chip from a layout (fvqp mesh writes chip.geo next to chip.msh) =="
( cd chip_layout && $NICE python3 -m fvqp -q mesh chip.toml -o chip.msh ) \
  || { echo "fvqp mesh failed for chip_layout/chip.msh" >&2; exit 1; }
( cd chip_small && $NICE python3 -m fvqp -q mesh chip_small.toml -o chip_small.msh ) \
  || { echo "fvqp mesh failed for chip_small/chip_small.msh" >&2; exit 1; }

echo "== 3D absorber =="
mesh absorber3d absorber3d.geo 3 absorber3d_coarse.msh msh41 \
     -setnumber h 10  -setnumber hm 30 -setnumber nz_sub 6 -setnumber q_sub 1.6 \
     -setnumber nz_thin 2 -setnumber nz_pad 2
mesh absorber3d absorber3d.geo 3 absorber3d_fine.msh msh41 \
     -setnumber h 2.5 -setnumber hm 10 -setnumber nz_sub 8 -setnumber q_sub 1.5 \
     -setnumber nz_thin 3 -setnumber nz_pad 4
mesh absorber3d absorber3d.geo 3 absorber3d_medium.msh msh41 \
     -setnumber h 5 -setnumber hm 30 -setnumber nz_sub 6 -setnumber q_sub 1.6 \
     -setnumber nz_thin 2 -setnumber nz_pad 2

echo "== MMS / convergence =="
for N in 2 8 16 32 64; do
  mesh mms square.geo 2 "square_${N}.msh" msh41 -setnumber N "$N"
done
mesh mms square.geo 2 square_graded_16.msh msh41 -setnumber N 16 -setnumber P 1.1
for N in 4 8 16 32; do
  mesh mms cube.geo 3 "cube_${N}.msh" msh41 -setnumber N "$N"
done
for N in 16 32 64 128; do
  mesh mms line.geo 1 "line_${N}.msh" msh41 -setnumber N "$N"
done

echo "== format coverage =="
# MSH 2.2 (square.geo sets Mesh.MshFileVersion from msh_version, default 4.1;
# a hard-coded 4.1 in the .geo would override -format msh22)
mesh mms square.geo 2 square_16_v2.msh msh22 -setnumber N 16 -setnumber msh_version 2.2
# VTU via meshio (see mms/README.md for what survives the conversion)
python3 - <<'PY'
import contextlib, io, warnings
import numpy as np
import meshio
src, dst = "mms/square_16.msh", "mms/square_16.vtu"
with contextlib.redirect_stdout(io.StringIO()):
    m = meshio.read(src)
# meshio stores gmsh's bounding-entity lists as a pseudo cell set; converting it to
# cell data (VTU cannot hold cell sets) gives garbage, so drop it. The named sets
# (left/right/bottom/top/domain) are turned by meshio into ONE integer cell-data
# array called "left-right-bottom-top-domain" (value = index into that name list).
m.cell_sets.pop("gmsh:bounding_entities", None)
with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
        contextlib.redirect_stderr(io.StringIO()):
    warnings.simplefilter("ignore")
    meshio.write(dst, m)
with contextlib.redirect_stdout(io.StringIO()):
    r = meshio.read(dst)
phys_in = np.concatenate(m.cell_data["gmsh:physical"])
phys_out = np.concatenate(r.cell_data["gmsh:physical"])
assert np.array_equal(np.sort(phys_in), np.sort(phys_out)), "gmsh:physical changed"
print(f"  {dst}: cells {[(c.type, len(c)) for c in r.cells]}, cell_data {sorted(r.cell_data)}, "
      f"field_data {r.field_data or '{} (names lost)'}")
PY

T1=$(date +%s.%N)
printf 'meshing done in %.1fs; total .msh size: %s\n' "$(awk -v a="$T0" -v b="$T1" 'BEGIN{print b-a}')" \
  "$(du -ch $(find . -name '*.msh') | tail -1 | cut -f1)"

if [ "${SKIP_CHECK:-0}" != "1" ]; then
  echo "== check =="
  python3 check_meshes.py
fi
