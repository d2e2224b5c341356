// square.geo -- unit square [0,1]^2 for finite-volume convergence studies.
// UNITS: micrometres (um) for all coordinates and lengths.
//
// Structured (transfinite + recombined) quads, N cells per side.
// P = geometric progression ratio of the cell sizes along x and along y
// (P = 1: uniform; P = 1.1: graded, still a tensor-product grid of rectangles,
// i.e. orthogonal). Opposite sides are oriented alike so the grid stays a
// tensor product.
//   gmsh square.geo -2 -setnumber N 16 -o square_16.msh -format msh41
//   gmsh square.geo -2 -setnumber N 16 -setnumber P 1.1 -o square_graded_16.msh -format msh41
// MSH 4.1 by default; msh_version lets the same script write MSH 2.2:
//   gmsh square.geo -2 -setnumber N 16 -setnumber msh_version 2.2 -o square_16_v2.msh -format msh22
DefineConstant[ N = 16, P = 1.0, msh_version = 4.1 ];
Mesh.MshFileVersion = msh_version;  // = 4.1 unless overridden

Point(1) = {0, 0, 0};
Point(2) = {1, 0, 0};
Point(3) = {1, 1, 0};
Point(4) = {0, 1, 0};
Line(1) = {1, 2};  // bottom (+x)
Line(2) = {2, 3};  // right  (+y)
Line(3) = {4, 3};  // top    (+x)
Line(4) = {1, 4};  // left   (+y)
Curve Loop(1) = {1, 2, -3, -4};
Plane Surface(1) = {1};
Transfinite Curve{1, 2, 3, 4} = N + 1 Using Progression P;
Transfinite Surface{1} = {1, 2, 3, 4};
Recombine Surface{1};

Physical Surface("domain") = {1};
Physical Line("left") = {4};
Physical Line("right") = {2};
Physical Line("bottom") = {1};
Physical Line("top") = {3};
