// usadel_sns.geo -- 1D SNS wire with a tunnel-contact segment (fvqp usadel model)
// UNITS: micrometres (um).
//
// Normal wire from x = 0 (superconducting reservoir s_left) to x = 1 um (s_right).
// The segment 0.4 um <= x <= 0.6 um is its own physical line group "probe_segment" (a
// tunnel contact spread along it); its midpoint x = 0.5 um is the point "probe_center".
// Uniform h = 0.01 um (100 cells). Cross-section and materials are case-file properties.
// Regenerate: gmsh usadel_sns.geo -1 -o usadel_sns.msh -format msh41
Mesh.MshFileVersion = 4.1;

DefineConstant[ h = 0.01 ];  // um

Point(1) = {0.0, 0, 0};   // s_left
Point(2) = {0.4, 0, 0};   // segment start
Point(3) = {0.5, 0, 0};   // probe_center
Point(4) = {0.6, 0, 0};   // segment end
Point(5) = {1.0, 0, 0};   // s_right

Line(1) = {1, 2};
Line(2) = {2, 3};
Line(3) = {3, 4};
Line(4) = {4, 5};

Transfinite Curve{1, 4} = Round(0.4 / h) + 1;
Transfinite Curve{2, 3} = Round(0.1 / h) + 1;

Physical Line("n_wire") = {1, 4};
Physical Line("probe_segment") = {2, 3};
Physical Point("s_left") = {1};
Physical Point("s_right") = {5};
Physical Point("probe_center") = {3};
