// constriction.geo -- 2D film with a narrow constriction (quantum-point-contact-like
// geometry for quasiparticles) between two reservoirs.
// UNITS: micrometres (um).
//
//   left reservoir  0 <= x <= 6,   -3 <= y <= 3   (region "film")
//   neck            6 <= x <= 8,   -W/2 <= y <= W/2, W = 1
//   right reservoir 8 <= x <= 14,  -3 <= y <= 3
// One region "film"; boundaries: "source" (x = 0), "drain" (x = 14), "walls" (all other
// edges). Unstructured triangles of size h (finer, h/2, in the neck):
//   gmsh constriction.geo -2 -setnumber h 0.4 -o constriction_coarse.msh -format msh41
//   gmsh constriction.geo -2 -setnumber h 0.2 -o constriction_fine.msh   -format msh41
Mesh.MshFileVersion = 4.1;
DefineConstant[ h = 0.4 ];
W = 1.0; H = 3.0; L1 = 6.0; L2 = 8.0; L = 14.0;
hn = h / 2;

Point(1) = {0, -H, 0, h};
Point(2) = {L1, -H, 0, h};
Point(3) = {L1, -W/2, 0, hn};
Point(4) = {L2, -W/2, 0, hn};
Point(5) = {L2, -H, 0, h};
Point(6) = {L, -H, 0, h};
Point(7) = {L, H, 0, h};
Point(8) = {L2, H, 0, h};
Point(9) = {L2, W/2, 0, hn};
Point(10) = {L1, W/2, 0, hn};
Point(11) = {L1, H, 0, h};
Point(12) = {0, H, 0, h};

For i In {1:11}
  Line(i) = {i, i + 1};
EndFor
Line(12) = {12, 1};

Curve Loop(1) = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
Plane Surface(1) = {1};

Physical Surface("film") = {1};
Physical Line("source") = {12};
Physical Line("drain") = {6};
Physical Line("walls") = {1, 2, 3, 4, 5, 7, 8, 9, 10, 11};
