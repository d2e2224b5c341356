// nis_wire.geo -- 1D Al NIS wire of Ryan et al. 2026 (three-terminal NIS device)
// UNITS: micrometres (um) for all coordinates and lengths.
//
// Wire along x from -5.5 um to +5.5 um (l = 11 um). Tunnel junctions A, B, C at
// x = -0.3, 0, +0.3 um (300 nm centre-to-centre spacing) are mesh nodes.
// The 150 nm x 8 nm cross-section is NOT part of the mesh (case-file property).
// Resolution: uniform h_fine between and at the junctions, geometric grading
// from h_fine (at junctions A/C) to ~h_coarse at the reservoir ends.
// Regenerate: gmsh nis_wire.geo -1 -o nis_wire.msh -format msh41
Mesh.MshFileVersion = 4.1;

DefineConstant[ h_fine = 0.01, h_coarse = 0.1 ];  // um

xl = -5.5; xa = -0.3; xb = 0.0; xc = 0.3; xr = 5.5;

Point(1) = {xl, 0, 0};   // reservoir_left
Point(2) = {xa, 0, 0};   // junction A
Point(3) = {xb, 0, 0};   // junction B
Point(4) = {xc, 0, 0};   // junction C
Point(5) = {xr, 0, 0};   // reservoir_right

// all curves oriented along +x
Line(1) = {1, 2};
Line(2) = {2, 3};
Line(3) = {3, 4};
Line(4) = {4, 5};

// junction region: uniform h_fine
nj = Round((xb - xa) / h_fine);
Transfinite Curve{2, 3} = nj + 1;

// outer segments: geometric progression from h_fine (junction side) to h_coarse
Lo = xa - xl;
r = (Lo - h_fine) / (Lo - h_coarse);           // growth ratio
no = Round(1 + Log(h_coarse / h_fine) / Log(r)); // number of elements
// Curve 4 runs junction C -> right end: sizes grow along the curve.
Transfinite Curve{4} = no + 1 Using Progression r;
// Curve 1 runs left end -> junction A: sizes must shrink along the curve
// (negative tag reverses the progression direction).
Transfinite Curve{-1} = no + 1 Using Progression r;

Physical Line("wire") = {1, 2, 3, 4};
Physical Point("reservoir_left") = {1};
Physical Point("reservoir_right") = {5};
Physical Point("junction_a") = {2};
Physical Point("junction_b") = {3};
Physical Point("junction_c") = {4};
