// film_trap.geo -- 2D thin Al film with a lower-gap quasiparticle trap strip.
// UNITS: micrometres (um) for all coordinates and lengths.
//
// Rectangle 0 <= x <= 200, 0 <= y <= 50. Region "film": 0 <= x <= 150,
// region "trap": 150 <= x <= 200. Structured (transfinite + recombined) quads,
// conforming at the interface x = 150 (named "trap_interface").
// Resolution parameter h = target cell size (um):
//   gmsh film_trap.geo -2 -setnumber h 2   -o film_trap_coarse.msh -format msh41
//   gmsh film_trap.geo -2 -setnumber h 0.5 -o film_trap_fine.msh   -format msh41
Mesh.MshFileVersion = 4.1;

DefineConstant[ h = 2.0 ];  // um

X0 = 0; X1 = 150; X2 = 200; Y0 = 0; Y1 = 50;

Point(1) = {X0, Y0, 0};
Point(2) = {X1, Y0, 0};
Point(3) = {X2, Y0, 0};
Point(4) = {X2, Y1, 0};
Point(5) = {X1, Y1, 0};
Point(6) = {X0, Y1, 0};

Line(1) = {1, 2};  // film bottom
Line(2) = {2, 3};  // trap bottom
Line(3) = {3, 4};  // trap end (x = 200)
Line(4) = {5, 4};  // trap top    (oriented +x)
Line(5) = {6, 5};  // film top    (oriented +x)
Line(6) = {1, 6};  // injector (x = 0, oriented +y)
Line(7) = {2, 5};  // interface (x = 150, oriented +y)

Curve Loop(1) = {1, 7, -5, -6};
Plane Surface(1) = {1};   // film
Curve Loop(2) = {2, 3, -4, -7};
Plane Surface(2) = {2};   // trap

nf = Round((X1 - X0)/h);
nt = Round((X2 - X1)/h);
ny = Round((Y1 - Y0)/h);
Transfinite Curve{1, 5} = nf + 1;
Transfinite Curve{2, 4} = nt + 1;
Transfinite Curve{3, 6, 7} = ny + 1;
Transfinite Surface{1} = {1, 2, 5, 6};
Transfinite Surface{2} = {2, 3, 4, 5};
Recombine Surface{1, 2};

Physical Surface("film") = {1};
Physical Surface("trap") = {2};
Physical Line("injector") = {6};
Physical Line("film_edges") = {1, 5};
Physical Line("trap_edges") = {2, 4};
Physical Line("trap_end") = {3};
Physical Line("trap_interface") = {7};
