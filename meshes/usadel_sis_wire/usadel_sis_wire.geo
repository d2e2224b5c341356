// usadel_sis_wire.geo -- 1D wire between two reservoirs with a tunnel junction in the
// middle, for the usadel SIS' junction case (cases/usadel_sis_wire.toml, issue 20).
// UNITS: micrometres (um) for all coordinates and lengths.
//
// Wire along x from 0 to 1 um: reservoirs at x = 0 ("left") and x = 1 um ("right"), a
// tunnel junction at x = 0.5 um ("junction"). Uniform cells of h = 0.02 um.
// Regenerate: gmsh usadel_sis_wire.geo -1 -o usadel_sis_wire.msh -format msh41
Mesh.MshFileVersion = 4.1;

DefineConstant[ h = 0.02 ];  // um

Point(1) = {0, 0, 0};    // left reservoir
Point(2) = {0.5, 0, 0};  // junction
Point(3) = {1.0, 0, 0};  // right reservoir

Line(1) = {1, 2};
Line(2) = {2, 3};
Transfinite Curve{1} = Round(0.5 / h) + 1;
Transfinite Curve{2} = Round(0.5 / h) + 1;

Physical Line("wire") = {1, 2};
Physical Point("left") = {1};
Physical Point("junction") = {2};
Physical Point("right") = {3};
