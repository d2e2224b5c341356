"""fvqp — nonequilibrium quasiparticles and phonons in superconducting devices."""

__version__ = "0.1.0"
