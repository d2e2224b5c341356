// cube.geo -- unit cube [0,1]^3 for finite-volume convergence studies.
// UNITS: micrometres (um) for all coordinates and lengths.
//
// Structured hexahedra, N cells per side: transfinite + recombined quads on
// z = 0, extruded in z with N layers (Recombine).
//   gmsh cube.geo -3 -setnumber N 8 -o cube_8.msh -format msh41
Mesh.MshFileVersion = 4.1;

DefineConstant[ N = 8 ];
e = 1e-6;

Point(1) = {0, 0, 0};
Point(2) = {1, 0, 0};
Point(3) = {1, 1, 0};
Point(4) = {0, 1, 0};
Line(1) = {1, 2};
Line(2) = {2, 3};
Line(3) = {4, 3};
Line(4) = {1, 4};
Curve Loop(1) = {1, 2, -3, -4};
Plane Surface(1) = {1};
Transfinite Curve{1, 2, 3, 4} = N + 1;
Transfinite Surface{1} = {1, 2, 3, 4};
Recombine Surface{1};
ex[] = Extrude{0, 0, 1}{ Surface{1}; Layers{N}; Recombine; };

Physical Volume("domain") = {ex[1]};
Physical Surface("xmin") = Surface In BoundingBox{-e, -e, -e,  e, 1+e, 1+e};
Physical Surface("xmax") = Surface In BoundingBox{1-e, -e, -e, 1+e, 1+e, 1+e};
Physical Surface("ymin") = Surface In BoundingBox{-e, -e, -e, 1+e,  e, 1+e};
Physical Surface("ymax") = Surface In BoundingBox{-e, 1-e, -e, 1+e, 1+e, 1+e};
Physical Surface("zmin") = Surface In BoundingBox{-e, -e, -e, 1+e, 1+e,  e};
Physical Surface("zmax") = Surface In BoundingBox{-e, -e, 1-e, 1+e, 1+e, 1+e};
