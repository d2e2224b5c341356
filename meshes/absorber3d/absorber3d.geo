// absorber3d.geo -- 3D Ta absorber pad + Al lead on a Si substrate, all hexahedra.
// UNITS: micrometres (um) for all coordinates and lengths.
//
// Geometry (origin at the pad centre on the substrate top surface, z up):
//   substrate : -150 <= x,y <= 150,        -10  <= z <= 0     (Si)
//   absorber  :  -50 <= x,y <=  50,          0  <= z <= 0.3   (Ta pad)
//   lead      :   50 <= x <= 150, -5 <= y <= 5, 0 <= z <= 0.1 (Al; touches the
//               pad side face x = 50 and ends flush with the substrate edge x = 150)
// Construction: the footprint is split into 3 x 5 rectangles (x breaks -150,-50,50,150;
// y breaks -150,-50,-5,5,50,150) meshed with transfinite curves + Recombine
// (tensor-product quads, graded towards the pad in the outer margins); the
// substrate is extruded upwards from z = -10 with geometrically graded layers
// (thin at the top), the pad/lead are extruded from the substrate top
// (0 -> 0.1 for pad and lead, then 0.1 -> 0.3 for the pad only, so that the
// pad/lead contact face is conforming).
// Resolution parameters (override with -setnumber):
//   h        in-plane cell size over pad and lead (um)
//   hm       in-plane cell size at the outer substrate edge (um)
//   nz_sub   substrate layers, q_sub = thickness growth ratio from top to bottom
//   nz_thin  layers in 0 <= z <= 0.1 (lead and lower part of the pad)
//   nz_pad   layers in 0.1 <= z <= 0.3 (upper part of the pad)
// Regenerate, e.g.:
//   gmsh absorber3d.geo -3 -setnumber h 10 -setnumber hm 30 -setnumber nz_sub 6 \
//        -setnumber nz_thin 2 -setnumber nz_pad 2 -o absorber3d_coarse.msh -format msh41
Mesh.MshFileVersion = 4.1;

DefineConstant[ h = 10, hm = 30, nz_sub = 6, q_sub = 1.6, nz_thin = 2, nz_pad = 2 ];

X[] = {-150, -50, 50, 150};
Y[] = {-150, -50, -5, 5, 50, 150};
ZB = -10; ZT = 0; ZL = 0.1; ZP = 0.3;
e = 1e-3;  // bounding-box tolerance (um)

// ---- footprint at z = ZB --------------------------------------------------
For j In {0:5}
  For i In {0:3}
    Point(1 + i + 4*j) = {X[i], Y[j], ZB};
  EndFor
EndFor
For j In {0:5}
  For i In {0:2}
    Line(100 + i + 3*j) = {1 + i + 4*j, 2 + i + 4*j};        // along +x
  EndFor
EndFor
For j In {0:4}
  For i In {0:3}
    Line(200 + i + 4*j) = {1 + i + 4*j, 1 + i + 4*(j+1)};    // along +y
  EndFor
EndFor
For j In {0:4}
  For i In {0:2}
    Curve Loop(300 + i + 3*j) = {100 + i + 3*j, 200 + (i+1) + 4*j,
                                 -(100 + i + 3*(j+1)), -(200 + i + 4*j)};
    Plane Surface(300 + i + 3*j) = {300 + i + 3*j};
  EndFor
EndFor

// ---- in-plane divisions ---------------------------------------------------
// outer margins (length 100): geometric grading from h (pad side) to ~hm (edge)
Lm = 100;
rm = (Lm - h) / (Lm - hm);
nm = Round(1 + Log(hm/h) / Log(rm));
If (hm <= h)
  rm = 1; nm = Round(Lm/h);
EndIf
npad = Round(100/h);              // pad in x
nlx  = Round(100/h);              // lead column in x (uniform h)
nyp  = Round(45/h);               // pad rows -50..-5 and 5..50
nyl  = Round(10/h);               // lead row -5..5
If (nyl < 2)
  nyl = 2;
EndIf
For j In {0:5}
  Transfinite Curve{-(100 + 0 + 3*j)} = nm + 1 Using Progression rm;  // fine at x=-50
  Transfinite Curve{100 + 1 + 3*j} = npad + 1;
  Transfinite Curve{100 + 2 + 3*j} = nlx + 1;
EndFor
For i In {0:3}
  Transfinite Curve{-(200 + i + 4*0)} = nm + 1 Using Progression rm;  // fine at y=-50
  Transfinite Curve{200 + i + 4*1} = nyp + 1;
  Transfinite Curve{200 + i + 4*2} = nyl + 1;
  Transfinite Curve{200 + i + 4*3} = nyp + 1;
  Transfinite Curve{200 + i + 4*4} = nm + 1 Using Progression rm;     // fine at y=+50
EndFor
foot[] = {};
For j In {0:4}
  For i In {0:2}
    s = 300 + i + 3*j;
    Transfinite Surface{s} = {1 + i + 4*j, 2 + i + 4*j, 2 + i + 4*(j+1), 1 + i + 4*(j+1)};
    foot[] += s;
  EndFor
EndFor
Recombine Surface{foot[]};

// ---- substrate: extrude upwards, layers thinnest at the top ---------------
nl[] = {}; fz[] = {};
tot = 0;
For k In {0:nz_sub-1}
  tot += q_sub^k;
EndFor
acc = 0;
For k In {0:nz_sub-1}
  acc += q_sub^(nz_sub-1-k);   // bottom layer is the thickest
  nl[] += 1; fz[] += acc/tot;
EndFor
fz[nz_sub-1] = 1;
ext[] = Extrude{0, 0, ZT - ZB}{ Surface{foot[]}; Layers{nl[], fz[]}; Recombine; };
// output per input surface: top, volume, 4 laterals
subvol[] = {}; top[] = {};
For k In {0:14}
  top[k] = ext[6*k];
  subvol[] += ext[6*k + 1];
EndFor
// footprint index k = i + 3*j ; pad: i=1, j=1..3 ; lead: i=2, j=2
padbot[] = {top[1 + 3*1], top[1 + 3*2], top[1 + 3*3]};
leadbot  = top[2 + 3*2];
subtop[] = top[];
subtop[] -= {padbot[], leadbot};

// ---- pad lower slab + lead (0 -> 0.1), then pad upper slab (0.1 -> 0.3) ---
e1[] = Extrude{0, 0, ZL - ZT}{ Surface{padbot[], leadbot}; Layers{nz_thin}; Recombine; };
padvol[] = {e1[1], e1[7], e1[13]};
leadvol  = e1[19];
padmid[] = {e1[0], e1[6], e1[12]};
e2[] = Extrude{0, 0, ZP - ZL}{ Surface{padmid[]}; Layers{nz_pad}; Recombine; };
padvol[] += {e2[1], e2[7], e2[13]};
padtop[] = {e2[0], e2[6], e2[12]};

// ---- physical groups ------------------------------------------------------
Physical Volume("substrate") = {subvol[]};
Physical Volume("absorber") = {padvol[]};
Physical Volume("lead") = {leadvol};

sb[] = Surface In BoundingBox{-150-e, -150-e, ZB-e, 150+e, 150+e, ZB+e};
ss[] = Surface In BoundingBox{-150-e, -150-e, ZB-e, -150+e, 150+e, ZT+e};
ss[] += Surface In BoundingBox{ 150-e, -150-e, ZB-e,  150+e, 150+e, ZT+e};
ss[] += Surface In BoundingBox{-150-e, -150-e, ZB-e,  150+e, -150+e, ZT+e};
ss[] += Surface In BoundingBox{-150-e,  150-e, ZB-e,  150+e,  150+e, ZT+e};
le[] = Surface In BoundingBox{150-e, -5-e, ZT-e, 150+e, 5+e, ZL+e};
al[] = Surface In BoundingBox{ 50-e, -5-e, ZT-e,  50+e, 5+e, ZL+e};
ls[] = Surface In BoundingBox{ 50-e, -5-e, ZT-e, 150+e, 5+e, ZL+e};
ls[] -= {le[], al[], leadbot};
at[] = {padtop[]};
at[] += Surface In BoundingBox{-50-e, -50-e, ZT-e, -50+e,  50+e, ZP+e};
at[] += Surface In BoundingBox{ 50-e, -50-e, ZT-e,  50+e,  50+e, ZP+e};
at[] += Surface In BoundingBox{-50-e, -50-e, ZT-e,  50+e, -50+e, ZP+e};
at[] += Surface In BoundingBox{-50-e,  50-e, ZT-e,  50+e,  50+e, ZP+e};
at[] -= {al[]};

Physical Surface("lead_end") = {le[]};
Physical Surface("substrate_bottom") = {sb[]};
Physical Surface("substrate_sides") = {ss[]};
Physical Surface("absorber_top") = {at[]};
Physical Surface("lead_surface") = {ls[]};
Physical Surface("substrate_top") = {subtop[]};
Physical Surface("absorber_substrate") = {padbot[]};
Physical Surface("lead_substrate") = {leadbot};
Physical Surface("absorber_lead") = {al[]};

Printf("absorber3d: h=%g hm=%g nm=%g rm=%g npad=%g nyp=%g nyl=%g", h, hm, nm, rm, npad, nyp, nyl);
Printf("groups: #lead_end=%g #sub_bottom=%g #sub_sides=%g #abs_top=%g #lead_surf=%g #sub_top=%g #abs_lead=%g",
       #le[], #sb[], #ss[], #at[], #ls[], #subtop[], #al[]);
