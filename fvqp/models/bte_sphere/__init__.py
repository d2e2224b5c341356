"""Spherically symmetric Boltzmann transport of QPs (and phonons) in (r, eps, mu)."""
