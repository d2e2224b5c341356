r"""The model set-ups of Ryan et al. (2026), App. B, in the model's units.

Fig. 11/12: half of the wire (injector at x = 0, reservoir at the end, 5.5 µm = 84.6 ξ)
with κ_I = G_inj R_ξ/2, Γ = 0.005, ω_D = 10, λ = 1/arcsinh ω_D, δε = 1/40, Δ uniform
from fL(x = 0), e–e collisions with γ_ee = 2·10⁻⁴ (or none), 0 ≤ eV_inj ≤ 5.
Temperatures: wire/reservoir at the 24 mK bath, injector electrode at T_e of junction A
(61 mK, Table 1).
"""

from __future__ import annotations

import numpy as np

from ...units import E_CHARGE, WireScales
from .network import uniform_wire
from .selfconsistent import Setup
from .spectral import SpectralProblem
from .terminals import Reservoir, TunnelJunction

#: Table 1 wire (Δ0 = 265 µeV, D_N = 16.9 cm²/s, R = 1.45 kΩ over 11 µm, 150 nm × 8 nm)
TABLE1 = WireScales.from_resistance(265e-6 * E_CHARGE, 16.9e-4, 1450.0, 11e-6, 1.2e-15)
#: junction conductances (S) and electrode temperatures (K), Table 1
JUNCTIONS = {"A": (24.6e-6, 0.061), "B": (31.4e-6, 0.037), "C": (24.8e-6, 0.086)}
BATH = 0.024
#: the current scale I0 of Eq. 6 the paper fitted to its Fig. 10(b) (Sec. V), A (not the
#: wire unit I0 of :class:`fvqp.units.WireScales`)
I0_FIT = 29.8e-6


def fig11_setup(gamma_ee: float = 2e-4, de: float = 1 / 40, omega_d: float = 10.0,
                gamma: float = 0.005, n_edges: int = 85, injector: str = "A") -> Setup:
    """Half wire of App. B ("Figures 11 and 12") with uniform self-consistent Δ."""
    sc = TABLE1
    half = sc.length(5.5e-6)
    net = uniform_wire(half, n_edges, x0=0.0, name_ends=("injector", "reservoir"))
    g, T = JUNCTIONS[injector]
    t = sc.t(BATH)
    res = [Reservoir("reservoir", n_edges, "superconductor", temperature=t)]
    jun = [TunnelJunction("injector", 0, sc.kappa(g) / 2, bias=0.0, temperature=sc.t(T))]
    eps = np.arange(-round(omega_d / de), round(omega_d / de) + 1) * de
    prob = SpectralProblem(net, 1.0, gamma=gamma, reservoirs=res, junctions=jun)
    return Setup(problem=prob, eps=eps, reservoirs=res, junctions=jun, gamma_ee=gamma_ee,
                 omega_d=omega_d, selfconsistency="uniform", probe_node=0, tol=1e-7,
                 t_ref=t)


def nis_wire_network(xi_um: float | None = None):
    """The NIS wire mesh (meshes/nis_wire) as a network in units of ξ (Table 1)."""
    from pathlib import Path

    from ...mesh import read_mesh
    from .network import network_from_mesh

    root = Path(__file__).resolve().parents[3]
    raw = read_mesh(root / "meshes" / "nis_wire" / "nis_wire.msh")
    return network_from_mesh(raw, xi=(xi_um or TABLE1.xi * 1e6))


def fig13_ga(dphis, v_inj, gamma: float = 1.53e-3, de: float = 1 / 50, emax: float = 3.0,
             injector: str = "A", detector: str = "B") -> dict:
    """g_a(V_inj) = [g_nl(∂xφ) − g_nl(−∂xφ)]/2 (Eq. 16) on the whole wire, coupled Eqs.
    9–10 without collisions, Δ = Δ0 fixed (App. B, "Fig. 13"). Returns g_nl/(G_inj G_det)
    in Ω for ±∂xφ and g_a, g_s, with the supercurrent I_s (A) of every ∂xφ (Eq. 6)."""
    from dataclasses import replace

    from .kinetic import bias_derivative
    from .observables import supercurrent
    from .spectral import solve_spectral
    from .tunnel import cell_widths, node_dos

    sc = TABLE1
    net = nis_wire_network()
    names = {"A": "junction_a", "B": "junction_b", "C": "junction_c"}
    gi, Ti = JUNCTIONS[injector]
    gd, _ = JUNCTIONS[detector]
    t = sc.t(BATH)
    res = [Reservoir("reservoir_left", net.node("reservoir_left"), temperature=t),
           Reservoir("reservoir_right", net.node("reservoir_right"), temperature=t)]
    eps = np.arange(-round(emax / de), round(emax / de) + 1) * de
    inj = TunnelJunction("inj", net.node(names[injector]), sc.kappa(gi), temperature=sc.t(Ti))
    det_node = net.node(names[detector])
    out = {"v_inj": np.asarray(v_inj, float), "dphi": np.asarray(dphis, float), "g": {},
           "i_s": []}
    for d in out["dphi"]:
        for sgn in (1.0, -1.0):
            prob = SpectralProblem(net, 1.0, gamma=gamma, dphi=sgn * d, reservoirs=res,
                                   junctions=[inj])
            spec = solve_spectral(prob, eps)
            # cell-averaged DOS of the detector (tunnel.py), as in detector_current
            ndet, w = node_dos(spec, det_node), cell_widths(eps)
            cache: dict = {}
            g = []
            for v in out["v_inj"]:
                jun = [replace(inj, bias=v)]
                der = bias_derivative(spec, res, jun, "inj", cache=cache)
                # dI_det/dV_inj (wire -> detector), per G_det and per G_inj: Ω
                g.append(0.5 * float(np.dot(w, ndet * der.fT[:, det_node])) / gi)
            out["g"][sgn * d] = np.array(g)
            if sgn > 0:
                fl = np.tanh(eps / (2 * t))[:, None] * np.ones((1, net.n_nodes))
                out["i_s"].append(float(np.median(supercurrent(spec, fl))) * sc.i0)
    # dI_det/dV_inj = G_det (1/2)∫N ∂fT/∂(eV/Δ0) dε; divided by G_inj G_det: Ω
    out["g_a"] = np.array([0.5 * (out["g"][d] - out["g"][-d]) for d in out["dphi"]])
    out["g_s"] = np.array([0.5 * (out["g"][d] + out["g"][-d]) for d in out["dphi"]])
    out["i_s"] = np.array(out["i_s"])
    return out


def fig12_gsa(v_inj, delta_of_v, v_det, gamma: float = 0.005, detector: str = "B") -> dict:
    """g_sa(V_inj, V_det) of Fig. 12 from the self-consistent Δ(V_inj) of Fig. 11: only
    the change dN/dV_inj of the detector's density of states (Sec. V), per G_inj G_det (Ω).

    ``v_inj`` must be symmetric about 0 and ``delta_of_v`` the gap at each bias (even).
    """
    from .observables import integrate, split_bias
    from .spectral import uniform_solution
    from .terminals import electrode_distribution

    sc = TABLE1
    gi, _ = JUNCTIONS["A"]
    _, Td = JUNCTIONS[detector]
    td = sc.t(Td)
    eps = np.arange(-8000, 8001) * 1e-3
    v_inj, v_det = np.asarray(v_inj, float), np.asarray(v_det, float)
    # detector current per G_det (units Δ0/e): -(1/2)∫ N(Δ(V_inj)) fT_N(V_det)
    i_det = np.empty((v_inj.size, v_det.size))
    for i, d in enumerate(delta_of_v):
        N = uniform_solution(eps, d, gamma).N[:, 0]
        for k, vd in enumerate(v_det):
            i_det[i, k] = -0.5 * integrate(N * electrode_distribution(eps, vd, td)[1], eps)
    g = np.gradient(i_det, v_inj, axis=0) / gi  # per G_inj G_det, Ω
    g_sa, g_ss = split_bias(g, axis=0)
    return {"v_inj": v_inj, "v_det": v_det, "g": g, "g_sa": g_sa, "g_ss": g_ss}
