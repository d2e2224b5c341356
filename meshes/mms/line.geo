// line.geo -- unit segment [0,1] (along x) for finite-volume convergence studies.
// UNITS: micrometres (um) for all coordinates and lengths.
//
// N uniform line elements.
//   gmsh line.geo -1 -setnumber N 32 -o line_32.msh -format msh41
Mesh.MshFileVersion = 4.1;

DefineConstant[ N = 16 ];

Point(1) = {0, 0, 0};
Point(2) = {1, 0, 0};
Line(1) = {1, 2};
Transfinite Curve{1} = N + 1;

Physical Line("domain") = {1};
Physical Point("left") = {1};
Physical Point("right") = {2};
