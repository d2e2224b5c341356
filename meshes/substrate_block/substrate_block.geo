// substrate_block.geo -- a substrate block [0,Lx] x [0,Ly] x [0,Lz] for the phonon model.
// UNITS: micrometres (um) for all coordinates and lengths.
//
// Structured hexahedra (nx x ny x nz): transfinite + recombined quads on z = 0,
// extruded in z with nz layers (Recombine).
// Region: substrate.  Boundaries: bottom (z = 0, the chip holder), top (z = Lz), sides.
//   gmsh substrate_block.geo -3 -o substrate_block.msh -format msh41
//   gmsh substrate_block.geo -3 -setnumber Lx 40 -setnumber Ly 40 -setnumber Lz 100 \
//        -setnumber nx 4 -setnumber ny 4 -setnumber nz 20 -o substrate_block_tof.msh -format msh41
//   gmsh substrate_block.geo -3 -setnumber Lx 1 -setnumber Ly 1 -setnumber Lz 100 \
//        -setnumber nx 1 -setnumber ny 1 -setnumber nz 100 -o substrate_column.msh -format msh41
Mesh.MshFileVersion = 4.1;

DefineConstant[ Lx = 200, Ly = 200, Lz = 100, nx = 8, ny = 8, nz = 8 ];
e = 1e-6;

Point(1) = {0, 0, 0};
Point(2) = {Lx, 0, 0};
Point(3) = {Lx, Ly, 0};
Point(4) = {0, Ly, 0};
Line(1) = {1, 2};
Line(2) = {2, 3};
Line(3) = {4, 3};
Line(4) = {1, 4};
Curve Loop(1) = {1, 2, -3, -4};
Plane Surface(1) = {1};
Transfinite Curve{1, 3} = nx + 1;
Transfinite Curve{2, 4} = ny + 1;
Transfinite Surface{1} = {1, 2, 3, 4};
Recombine Surface{1};
ex[] = Extrude{0, 0, Lz}{ Surface{1}; Layers{nz}; Recombine; };

Physical Volume("substrate") = {ex[1]};
Physical Surface("bottom") = Surface In BoundingBox{-e, -e, -e, Lx+e, Ly+e, e};
Physical Surface("top") = Surface In BoundingBox{-e, -e, Lz-e, Lx+e, Ly+e, Lz+e};
Physical Surface("sides") = {ex[2], ex[3], ex[4], ex[5]};
