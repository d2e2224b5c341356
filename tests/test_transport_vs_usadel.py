r"""The two wire models of the Ryan et al. (2026) NIS wire agree in the BCS limit.

Issue 6, §4 case (a): injection at junction A (R_T = 40.7 kOhm, eV = 2 Delta) into the
11 um Al wire (D = 16.9 cm^2/s, A = 1200 nm^2, Delta = 266 ueV, T = 100 mK) with
equilibrium reservoirs at both ends, fixed uniform gap, no supercurrent and *no inelastic
collisions* in either model:

* ``model = "transport"`` (:class:`~fvqp.models.transport.problem.TransportProblem` with
  ``collisions=False``): occupation ``f`` of energy bins (bin averages of the BCS DOS),
  cell-centred finite volumes, tunnel flux ``G_T rho_bar (f_N - f)`` with
  ``f_N = [n_F(E - eV) + n_F(E + eV)] / 2`` (problem.py ``set_gap``);
* ``model = "usadel"`` (driver ``build`` + ``solve_state``): energy mode ``fL`` on energy
  points, vertex-centred network, Eq. 11 tunnel term ``kappa N (fL^N - fL)`` with the
  electrode's ``fL^N`` of Eq. 12.

Above the gap (``D_L = 1``) the energy mode decouples from ``fT`` and ``f = (1 - fL)/2``
must hold; the electrode's ``(1 - fL^N)/2`` is exactly the branch average that transport
uses. The wire's resistivity of the usadel case is set by the Einstein relation
``rho = 1 / (2 N0 e^2 D)`` with the N0 of Al that transport uses (the shipped
``usadel_nis_wire.toml`` has 1.58e-7 Ohm m from R_N = 1.45 kOhm, while 16.9 cm^2/s and
the database N0 give 1.07e-7 Ohm m: the two shipped cases describe wires whose
conductances differ by a factor 1.48).

Both are also checked against the exact collisionless solution: at every energy ``f`` is
piecewise linear in x, and at the junction node
``f_A - f_eq = G_T N (f_N - f_eq) / (G_w + G_T N)`` with ``G_w = A/rho (1/L_1 + 1/L_2)``.

Measured (usadel de = 0.0025 Delta, Dynes Gamma = 5e-3 Delta; transport bins h): max over
all cells and bins 1.2-2.8 Delta of ``|f_tr - (1 - fL)/2|`` relative to the largest excess
``f - f_eq`` (5.1e-3): 5.5e-4 (h = 8 ueV), 2.6e-4 (4 ueV), 1.5e-4 (2 ueV, 35 s): it falls
with h like the difference between the bin average of the DOS and its point value,
(h^2/24) N''/N = 4e-4 at 1.23 Delta for h = 8 ueV, down to the usadel floor (energy
interpolation across the electrode's Fermi step at E = eV, Dynes broadening).
QP number injected through A: transport equals its own bin sum with rho_bar to 1.4e-5 and
exceeds the exact collisionless value by 0.65 % (h = 8), 0.54 % (4), 0.44 % (2 ueV): the
back-flow G_T N (f_N - f_A) ~ N^2 is log-singular at the edge and rho_bar^2 < mean(N^2)
in the edge bin (slow convergence, a property of the binned DOS); usadel: +7.7e-4.
The exact rate is 2.2 % below sqrt((eV)^2 - Delta^2)/(e^2 R_T) (that back-flow), while the
usadel charge current I/e is within 7e-4 of it (charge mode: D_T = N^2 suppresses it).

Finding (not a physics disagreement): the usadel junction integrals used a trapezoid on
the energy points, and with Gamma << de the point at E = Delta samples the Dynes peak
N ~ sqrt(Delta / 2 Gamma): with Gamma = 1e-4 Delta, de = 0.01 the trapezoid of N over
0..2 Delta is 23 % too large (2.2 % for the case's Gamma = 1.53e-3 Delta at de = 0.01),
and the usadel QP injection rate comes out 13 % above the exact rate (12.5 % above
transport) and its tunnel current I/e was 22 % above the NIS formula. Fixed for the
charge mode (fvqp/models/usadel/tunnel.py: cell integrals of N and N f_T^N in the
tunnel terms and currents): I/e is now 0.73 % below the NIS formula at de = 0.01 (0.50 %
at de = 0.005; the point rule gave +22 %, +9.8 %), the remaining de-dependence being the
junction's inverse-proximity broadening kappa/2V = 4.6e-4 > Gamma, whose correction to
the bulk DOS is taken at the node value (without it: -0.2754 % at both spacings). The QP
injection rate below (energy mode, integrated in this test with point values) is not
changed: the energy mode keeps point values (see tunnel.py).
"""

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.interpolate import RegularGridInterpolator

from fvqp.case.loader import load_case
from fvqp.materials import get_material
from fvqp.models.transport.driver import TransportSimulation
from fvqp.models.transport.problem import TransportProblem
from fvqp.models.usadel.driver import build as usadel_build
from fvqp.models.usadel.observables import integrate, tunnel_current
from fvqp.models.usadel.selfconsistent import solve_state
from fvqp.solvers import NonlinearSolver
from fvqp.units import E_CHARGE, K_B

D_N, AREA, T_BATH, R_T, BIAS = 16.9e-4, 1200e-18, 0.1, 40.7e3, 532e-6
GAP = 266e-6 * E_CHARGE
X_A, X_LEFT, X_RIGHT = -0.3e-6, -5.5e-6, 5.5e-6
RHO = 1.0 / (2.0 * get_material("Al").N0 * E_CHARGE**2 * D_N)
MESHES = Path(__file__).resolve().parent.parent / "meshes"
LU = {"ksp_type": "preonly", "pc_type": "lu"}

# the NIS wire at 100 mK, Al: the part both models' cases share
WIRE = """
[mesh]
file = "@MESHES@/nis_wire/nis_wire.msh"
[bath]
temperature = "100 mK"
[regions.wire]
material = "Al"
"""
TRANSPORT = 'model = "transport"' + WIRE + """cross_section = "1200 nm^2"
Tc = "1.75 K"
diffusion_constant = "16.9 cm^2/s"
gap = "266 ueV"
[boundaries.reservoir_left]
type = "bath"
[boundaries.reservoir_right]
type = "bath"
[boundaries.junction_a]
type = "tunnel"
resistance = "40.7 kOhm"
bias = "532 uV"
[energy]
spacing = "8 ueV"
e_max = "800 ueV"
[time]
steady = true
"""

USADEL = 'model = "usadel"' + WIRE + f"""gap = "266 ueV"
cross_section = "1200 nm^2"
resistivity = "{RHO:.12e} Ohm m"
diffusivity = "16.9 cm^2/s"
dynes = "1.33 ueV"
[boundaries.reservoir_left]
type = "superconductor"
[boundaries.reservoir_right]
type = "superconductor"
[junctions.junction_a]
conductance = "{1.0 / R_T:.12e} S"
bias = "532 uV"
[energy]
spacing = 0.0025
max = 3.2
[selfconsistency]
mode = "none"
[time]
steady = true
"""


def _fermi(e):
    return 1.0 / (np.exp(e / (K_B * T_BATH)) + 1.0)


def _f_electrode(e):
    """Branch average of the biased electrode (transport's f_N, (1 - fL^N)/2 of Eq. 12)."""
    v = E_CHARGE * BIAS
    return 0.5 * (_fermi(e - v) + _fermi(e + v))


def _bcs_dos(e):
    return e / np.sqrt(e**2 - GAP**2)


def _excess_at_a(e):
    """Exact collisionless excess occupation at the junction node (module docstring)."""
    g_w = AREA / RHO * (1.0 / (X_A - X_LEFT) + 1.0 / (X_RIGHT - X_A))
    g_t = _bcs_dos(e) / R_T
    return g_t * (_f_electrode(e) - _fermi(e)) / (g_w + g_t)


@pytest.fixture(scope="module")
def transport(tmp_path_factory):
    """Steady collisionless transport solution: cell centres (m), bin centres (J), f,
    QP injection rate through junction A (1/s)."""
    path = tmp_path_factory.mktemp("tvu") / "transport.toml"
    path.write_text(TRANSPORT.replace("@MESHES@", str(MESHES)))
    sim = TransportSimulation(load_case(path))
    u = sim.units
    widths = np.array([u.to_internal(AREA, "area")])
    p = TransportProblem(sim.dist, sim.grid, sim.params, widths, sim._boundaries(), [],
                         sim.T_bath, False, collisions=False)
    solver = NonlinearSolver(p.dist, lambda xl: -p.rhs(xl, 0.0, math.inf),
                             lambda xl: -p.rhs_jacobian(xl, 0.0, math.inf), p.pattern,
                             "tvu_", LU)
    x = p.dist.create_vec()
    x.setArray(p.equilibrium())
    solver.solve(x, atol=1e-22)
    xl = p.dist.local_array(x)
    f = x.getArray().reshape(p.n, p.B)[:, :p.N].copy()
    rate = p.rates(xl, 0.0, math.inf)["N:boundary:junction_a"]
    rate *= u.scales["number_density"] * u.length**3 / u.tau0
    return {"x": p.loc.centroid[:p.n, 0] * u.length, "e": u.to_si(p.grid.e, "energy"),
            "edges": u.to_si(p.grid.edges, "energy"), "f": f, "rate": rate}


@pytest.fixture(scope="module")
def usadel(tmp_path_factory):
    """Collisionless usadel state: node positions (m), energies (J), fL, N, fL^N at A."""
    path = tmp_path_factory.mktemp("tvu") / "usadel.toml"
    path.write_text(USADEL.replace("@MESHES@", str(MESHES)))
    setup, meta = usadel_build(load_case(path))
    assert setup.gamma_ee == 0.0 and setup.gamma_ph == 0.0  # no inelastic collisions
    kin = solve_state(setup).kinetic
    junction = setup.junctions[0]
    return {"x": meta["net"].points[:, 0] * meta["scales"].xi, "e": kin.eps * GAP,
            "eps": kin.eps, "fL": kin.fL, "N": kin.spectral.N, "junction": junction,
            "current": tunnel_current(kin, junction) * meta["scales"].i0}


def test_energy_mode_matches_transport_occupation(transport, usadel):
    """f_transport(x, E) = (1 - fL(x, E))/2 on every cell, for the bins 1.2-2.8 Delta
    (usadel interpolated linearly in E and x to the bin and cell centres)."""
    order = np.argsort(usadel["x"])
    occ = RegularGridInterpolator((usadel["e"], usadel["x"][order]),
                                  0.5 * (1.0 - usadel["fL"][:, order]))
    e = transport["e"]
    sel = (e > 1.2 * GAP) & (e < 2.8 * GAP)
    E, X = np.meshgrid(e[sel], transport["x"], indexing="ij")
    f_tr = transport["f"][:, sel].T
    excess = f_tr - _fermi(e[sel])[:, None]
    assert excess.max() > 5e-3  # a real injection signal, not equilibrium
    diff = np.abs(f_tr - occ((E, X))).max() / excess.max()
    # measured 5.5e-4 (h = 8 ueV), 2.6e-4 (4 ueV), 1.5e-4 (2 ueV): bin-averaged DOS
    assert diff < 1e-3


def test_both_match_exact_junction_node(transport, usadel):
    """Both models give the exact excess at junction A, G_T N (f_N - f_eq)/(G_w + G_T N):
    the tunnel and wire conductances are normalised alike in SI."""
    ja = int(np.argmin(np.abs(usadel["x"] - X_A)))
    assert abs(usadel["x"][ja] - X_A) < 1e-12
    pos = (usadel["e"] > 1.2 * GAP) & (usadel["e"] < 2.8 * GAP)
    e_u = usadel["e"][pos]
    exact = _excess_at_a(e_u)
    got = 0.5 * (1.0 - usadel["fL"][pos, ja]) - _fermi(e_u)
    assert np.abs(got - exact).max() < 2e-4 * exact.max()
    # transport: the two cells sharing the junction node, average (linear profile)
    near = np.argsort(np.abs(transport["x"] - X_A))[:2]
    e = transport["e"]
    sel = (e > 1.2 * GAP) & (e < 2.8 * GAP)
    f_a = transport["f"][near][:, sel].mean(axis=0) - _fermi(e[sel])
    lo, hi = transport["edges"][:-1][sel], transport["edges"][1:][sel]
    rho_bar = (np.sqrt(hi**2 - GAP**2) - np.sqrt(lo**2 - GAP**2)) / (hi - lo)
    g_w = AREA / RHO * (1.0 / (X_A - X_LEFT) + 1.0 / (X_RIGHT - X_A))
    exact_bins = rho_bar / R_T * (_f_electrode(e[sel]) - _fermi(e[sel])) \
        / (g_w + rho_bar / R_T)
    # the cells sit 5 nm from the node: the linear profile differs by 5 nm / 5 um
    assert np.abs(f_a - exact_bins).max() < 3e-3 * exact_bins.max()


def test_qp_injection_rate(transport, usadel):
    """QP number injected through A per second: transport's boundary flux, the usadel
    energy mode 2/(e^2 R_T) int_0^inf N (fL - fL^N)/2 dE, and the exact collisionless
    value agree (at T -> 0 and a cold wire this is sqrt((eV)^2 - Delta^2)/(e^2 R_T))."""
    eps, fL, N = usadel["eps"], usadel["fL"], usadel["N"]
    junction = usadel["junction"]
    fl_n, _ = junction.distribution(eps)
    node = junction.node
    pos = eps > 0
    rate_u = 2.0 / (E_CHARGE**2 * R_T) * float(integrate(
        (N[:, node] * (fL[:, node] - fl_n) / 2)[pos], usadel["e"][pos]))

    def integrand(s):  # E = Delta cosh s removes the edge singularity: N dE = Delta cosh s ds
        e = GAP * math.cosh(s)
        return GAP * math.cosh(s) * float(_f_electrode(e) - _fermi(e) - _excess_at_a(e))

    exact = 2.0 / (E_CHARGE**2 * R_T) * quad(integrand, 1e-12, math.acosh(4.0),
                                             points=[math.acosh(2.0)], limit=200)[0]
    nis = math.sqrt((E_CHARGE * BIAS) ** 2 - GAP**2) / (E_CHARGE**2 * R_T)
    # back-flow G_T N (f_N - f_A) lowers the rate below the NIS formula: the excess at A
    # grows as N, so the loss ~ int N^2 / (R_T G_w) is log-enhanced at the edge (2.2 %)
    assert 0.96 * nis < exact < nis
    # transport: the same sum over its bins with the bin-averaged DOS (exact for the
    # injection, but the back-flow ~ rho_bar^2 < mean(N^2) in the edge bins) ...
    lo, hi = transport["edges"][:-1], transport["edges"][1:]
    lo = np.maximum(lo, GAP)
    rho_bar = (np.sqrt(hi**2 - GAP**2) - np.sqrt(lo**2 - GAP**2)) / (hi - lo)
    e = transport["e"]
    g_w = AREA / RHO * (1.0 / (X_A - X_LEFT) + 1.0 / (X_RIGHT - X_A))
    binned = 2.0 / (E_CHARGE**2 * R_T) * float(np.sum(
        (hi - lo) * rho_bar * (_f_electrode(e) - _fermi(e)) * g_w / (g_w + rho_bar / R_T)))
    assert transport["rate"] == pytest.approx(binned, rel=1e-4)
    # ... so it exceeds the exact rate by the missed edge back-flow: measured +0.65 %
    # (h = 8 ueV), +0.54 % (h = 4 ueV)
    assert transport["rate"] == pytest.approx(exact, rel=8e-3)
    assert rate_u == pytest.approx(exact, rel=2e-3)  # measured +7.7e-4


def test_charge_current_is_not_the_qp_number_current(transport, usadel):
    """The usadel charge current I (Eq. 13, from the charge mode fT) follows the NIS
    formula, while the QP number current (energy mode, the only one transport has) is
    2.2 % lower: the charge mode's back-flow is suppressed by D_T = N^2 above the gap,
    the energy mode's (D_L = 1) is not. Transport has no fT and cannot give I itself."""
    nis = math.sqrt((E_CHARGE * BIAS) ** 2 - GAP**2) / (E_CHARGE**2 * R_T)
    current = usadel["current"] / E_CHARGE
    assert current == pytest.approx(nis, rel=1e-3)  # measured -7.0e-4
    ratio = current / transport["rate"]
    assert 1.01 < ratio < 1.03  # measured 1.015 (h = 8 ueV)


def _usadel_current(dynes: str, spacing: float) -> float:
    """Usadel tunnel current I/e through A (1/s) for another Dynes Gamma and spacing."""
    import tempfile

    text = USADEL.replace("@MESHES@", str(MESHES)).replace(
        'dynes = "1.33 ueV"', f'dynes = "{dynes}"').replace(
        "spacing = 0.0025", f"spacing = {spacing}")
    path = Path(tempfile.mkdtemp()) / "usadel.toml"
    path.write_text(text)
    setup, meta = usadel_build(load_case(path))
    kin = solve_state(setup).kinetic
    return tunnel_current(kin, setup.junctions[0]) * meta["scales"].i0 / E_CHARGE


def test_usadel_current_with_unresolved_dynes_peak():
    """The finding of the module docstring, fixed: Gamma = 1e-4 Delta (0.0266 ueV) on
    de = 0.01 and 0.005 Delta. I/e within 1 % of the NIS formula (measured -0.73 %, the
    point rule gave +22 %) and within 3e-3 between the two spacings (measured 2.3e-3)."""
    nis = math.sqrt((E_CHARGE * BIAS) ** 2 - GAP**2) / (E_CHARGE**2 * R_T)
    coarse, fine = _usadel_current("0.0266 ueV", 0.01), _usadel_current("0.0266 ueV", 0.005)
    assert coarse == pytest.approx(nis, rel=1e-2)
    assert coarse == pytest.approx(fine, rel=3e-3)
