"""Evidence with planted heteroscedastic noise, for the interval and referral tests."""

import numpy as np

from modeling_sla import load_test_format
from sla_phi4.evaluation.uncertainty import Evidence


SANDI = load_test_format("sandi2025")


def planted_evidence(sessions: int, seed: int, noise_scale: float = 1.0) -> Evidence:
    """Marks whose noise grows with the APP's spread: a confident prior (one band) or an unsure one (three bands)."""
    rng = np.random.default_rng(seed)
    unsure = rng.random(sessions) < 0.5
    app_probs = np.zeros((sessions, len(SANDI.scale.bands)))
    app_probs[~unsure, 4] = 1.0
    app_probs[unsure, 2:7] = 0.2
    truth = rng.uniform(2.5, 5.0, sessions)
    noise_sd = np.where(unsure, 0.5, 0.1) * noise_scale
    predictions = np.column_stack([truth + rng.normal(0, noise_sd) for _ in SANDI.score_names])
    references = np.column_stack([truth for _ in SANDI.score_names])
    return Evidence([f"S{index}" for index in range(sessions)], predictions, references, app_probs,
                    np.zeros(sessions), np.zeros(sessions, dtype=bool))


__all__ = ["planted_evidence"]
