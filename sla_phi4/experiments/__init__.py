"""Runs of the whole method on synthetic data: the main job (`demo`) and its ablations (`ablation`)."""
