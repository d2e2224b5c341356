// wire_network.geo -- 1D "Y" network: three straight wires sharing one node.
// UNITS: micrometres (um) for all coordinates and lengths.
//
// The shared node sits at the origin. Wire k runs from the node outwards along
// direction angle_k in the xy-plane (0, 120, 240 degrees) with length L_k
// (2, 3, 4 um). Uniform elements of size ~h (50 nm).
// Regenerate: gmsh wire_network.geo -1 -o wire_network.msh -format msh41
Mesh.MshFileVersion = 4.1;

DefineConstant[ h = 0.05 ];  // um

L[] = {2.0, 3.0, 4.0};
ang[] = {0, 2*Pi/3, 4*Pi/3};

Point(1) = {0, 0, 0};  // shared node
For k In {0:2}
  Point(2 + k) = {L[k]*Cos(ang[k]), L[k]*Sin(ang[k]), 0};  // free end of wire k+1
  Line(1 + k) = {1, 2 + k};                                 // node -> end
  Transfinite Curve{1 + k} = Round(L[k]/h) + 1;
EndFor

Physical Line("wire_1") = {1};
Physical Line("wire_2") = {2};
Physical Line("wire_3") = {3};
Physical Point("end_1") = {2};
Physical Point("end_2") = {3};
Physical Point("end_3") = {4};
Physical Point("node") = {1};
