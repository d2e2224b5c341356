// usadel_open_wire.geo -- 1D wire with an open end, for the usadel boundary
// conditions zero_flux / tunnel at a wire end (issue 20).
// UNITS: micrometres (um) for all coordinates and lengths.
//
// Wire along x from 0 to 2 um: a superconducting/normal reservoir at x = 0 (point group
// "reservoir"), a tunnel junction at x = 0.5 um ("junction"), and the end x = 2 um
// ("open_end"; the tests also drop this group to check [boundaries.unlabelled]).
// Uniform cells of h = 0.02 um.
// Regenerate: gmsh usadel_open_wire.geo -1 -o usadel_open_wire.msh -format msh41
Mesh.MshFileVersion = 4.1;

DefineConstant[ h = 0.02 ];  // um

Point(1) = {0, 0, 0};    // reservoir
Point(2) = {0.5, 0, 0};  // junction
Point(3) = {2.0, 0, 0};  // open end

Line(1) = {1, 2};
Line(2) = {2, 3};
Transfinite Curve{1} = Round(0.5 / h) + 1;
Transfinite Curve{2} = Round(1.5 / h) + 1;

Physical Line("wire") = {1, 2};
Physical Point("reservoir") = {1};
Physical Point("junction") = {2};
Physical Point("open_end") = {3};
