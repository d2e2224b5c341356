"""Usadel wires (placeholder, filled in below)."""
