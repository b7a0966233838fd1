"""Scoring a corpus split into kit-format prediction files, reports and plots (`scoring`), the official metrics
through the `evaluate` module (`metrics`) and the baselines beside every report (`baselines`)."""
