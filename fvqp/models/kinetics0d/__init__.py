"""0D QP/phonon kinetics (placeholder, completed below)."""
