// substrate_bilayer.geo -- two stacked blocks (lower: z in [0, L1], upper: [L1, L1+L2])
// meeting at the interface z = L1, for the phonon model's acoustic-mismatch interfaces.
// UNITS: micrometres (um) for all coordinates and lengths.
//
// Structured hexahedra: transfinite + recombined quads on z = 0, extruded in z with
// n1 then n2 layers (Recombine); the two volumes share the interface nodes.
// Regions: lower, upper.  Boundaries: bottom (z = 0), top (z = L1 + L2), sides.
//   gmsh substrate_bilayer.geo -3 -o substrate_bilayer.msh -format msh41
//   gmsh substrate_bilayer.geo -3 -setnumber L1 50 -setnumber L2 0.1 -setnumber n2 1 \
//        -o film_on_substrate.msh -format msh41     (a 100 nm film, one cell thick)
//   gmsh substrate_bilayer.geo -3 -setnumber Lx 200 -setnumber Ly 200 -setnumber L1 100 \
//        -setnumber L2 0.1 -setnumber nx 8 -setnumber ny 8 -setnumber n1 8 -setnumber n2 1 \
//        -o chip_film.msh -format msh41     (a 100 nm film covering a 200 x 200 x 100 um chip)
Mesh.MshFileVersion = 4.1;

DefineConstant[ Lx = 20, Ly = 20, L1 = 50, L2 = 50, nx = 2, ny = 2, n1 = 10, n2 = 10 ];
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
lo[] = Extrude{0, 0, L1}{ Surface{1}; Layers{n1}; Recombine; };
up[] = Extrude{0, 0, L2}{ Surface{lo[0]}; Layers{n2}; Recombine; };

Physical Volume("lower") = {lo[1]};
Physical Volume("upper") = {up[1]};
Physical Surface("bottom") = {1};
Physical Surface("top") = {up[0]};
Physical Surface("sides") = {lo[2], lo[3], lo[4], lo[5], up[2], up[3], up[4], up[5]};
