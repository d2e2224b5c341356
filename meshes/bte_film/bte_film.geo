// bte_film.geo -- small 2D Al film with a trap strip for the bte model with collisions
// (cases/bte_film_relaxation.toml). UNITS: micrometres.
//
// Rectangle 0 <= x <= 60, 0 <= y <= 20. Region "film": x <= 45, region "trap": x >= 45.
// Structured quads (transfinite + recombined), conforming at x = 45.
//   gmsh bte_film.geo -2 -setnumber h 4 -o bte_film_coarse.msh -format msh41
//   gmsh bte_film.geo -2 -setnumber h 2 -o bte_film_fine.msh   -format msh41
Mesh.MshFileVersion = 4.1;

DefineConstant[ h = 4.0 ];  // um

X0 = 0; X1 = 45; X2 = 60; Y0 = 0; Y1 = 20;

Point(1) = {X0, Y0, 0};
Point(2) = {X1, Y0, 0};
Point(3) = {X2, Y0, 0};
Point(4) = {X2, Y1, 0};
Point(5) = {X1, Y1, 0};
Point(6) = {X0, Y1, 0};

Line(1) = {1, 2};  // film bottom
Line(2) = {2, 3};  // trap bottom
Line(3) = {3, 4};  // trap end (x = 60)
Line(4) = {5, 4};  // trap top
Line(5) = {6, 5};  // film top
Line(6) = {1, 6};  // film end (x = 0)
Line(7) = {2, 5};  // interface (x = 45)

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
Physical Line("film_edges") = {1, 5, 6};
Physical Line("trap_edges") = {2, 4};
Physical Line("trap_end") = {3};
