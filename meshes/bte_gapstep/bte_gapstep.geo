// bte_gapstep.geo -- 2D strip of two superconductors meeting at x = 4 (a gap step) with a
// left-out cap strip on top (issue 16 §1: interfaces, inactive regions). UNITS: micrometres.
//
// Region "low"  : 0 <= x <= 4, 0 <= y <= 2   (the lower-gap film)
// Region "high" : 4 <= x <= 8, 0 <= y <= 2   (the higher-gap film)
// Region "cap"  : 0 <= x <= 8, 2 <= y <= 3   (left out with active = false: its face with
//                 the films, y = 2, has no boundary group -> the [interfaces] wall)
// Boundaries: "low_end" (x = 0), "high_end" (x = 8), "bottom" (y = 0), "cap_edges"
// (the cap's outer edges). Structured quads: every face is axis-aligned.
//   gmsh bte_gapstep.geo -2 -setnumber h 0.5 -o bte_gapstep.msh -format msh41
Mesh.MshFileVersion = 4.1;

DefineConstant[ h = 0.5 ];  // um

Point(1) = {0, 0, 0};
Point(2) = {4, 0, 0};
Point(3) = {8, 0, 0};
Point(4) = {8, 2, 0};
Point(5) = {4, 2, 0};
Point(6) = {0, 2, 0};
Point(7) = {0, 3, 0};
Point(8) = {4, 3, 0};
Point(9) = {8, 3, 0};

Line(1) = {1, 2};   // low bottom
Line(2) = {2, 3};   // high bottom
Line(3) = {3, 4};   // high end (x = 8)
Line(4) = {5, 4};   // high top (y = 2, towards the cap)
Line(5) = {6, 5};   // low top (y = 2, towards the cap)
Line(6) = {1, 6};   // low end (x = 0)
Line(7) = {2, 5};   // the gap step (x = 4)
Line(8) = {6, 7};   // cap, x = 0
Line(9) = {7, 8};   // cap top
Line(10) = {8, 9};  // cap top
Line(11) = {4, 9};  // cap, x = 8
Line(12) = {5, 8};  // cap interior line

Curve Loop(1) = {1, 7, -5, -6};
Plane Surface(1) = {1};
Curve Loop(2) = {2, 3, -4, -7};
Plane Surface(2) = {2};
Curve Loop(3) = {5, 12, -9, -8};
Plane Surface(3) = {3};
Curve Loop(4) = {4, 11, -10, -12};
Plane Surface(4) = {4};

nx = Round(4/h);
ny = Round(2/h);
nc = Round(1/h);
Transfinite Curve{1, 2, 4, 5, 9, 10} = nx + 1;
Transfinite Curve{3, 6, 7} = ny + 1;
Transfinite Curve{8, 11, 12} = nc + 1;
Transfinite Surface{1} = {1, 2, 5, 6};
Transfinite Surface{2} = {2, 3, 4, 5};
Transfinite Surface{3} = {6, 5, 8, 7};
Transfinite Surface{4} = {5, 4, 9, 8};
Recombine Surface{1, 2, 3, 4};

Physical Surface("low") = {1};
Physical Surface("high") = {2};
Physical Surface("cap") = {3, 4};
Physical Line("low_end") = {6};
Physical Line("high_end") = {3};
Physical Line("bottom") = {1, 2};
Physical Line("cap_edges") = {8, 9, 10, 11};
