"""Transparent baselines: ridge regressions on surface timing features (durations, voiced fraction, pauses) and on
any fixed session features (the APP's pooled Whisper states).

They show what a model adds: one that only matches the timing ridge has learnt how long and how continuously a
learner speaks, not how well; one that only matches the pooled-Whisper ridge adds nothing to a linear probe of its
own prior encoder.
"""

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from processing_sla import load_audio


FEATURE_NAMES = ("total_seconds", "mean_response_seconds", "voiced_fraction", "pauses_per_minute",
                 "mean_pause_seconds", "responses")
FRAME = 400  # 25 ms at 16 kHz
HOP = 160  # 10 ms
DEFAULT_ALPHAS = np.logspace(-3, 5, 33)  # ridge strengths tried by cross-validation


def voiced_frames(audio: np.ndarray, threshold_db: float = -35.0) -> np.ndarray:
    """Frames whose energy is within `threshold_db` of the clip's loudest frame."""
    if len(audio) < FRAME:
        return np.zeros(0, dtype=bool)
    frames = np.lib.stride_tricks.sliding_window_view(audio, FRAME)[::HOP]
    energy_db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    return energy_db > energy_db.max() + threshold_db


def pauses(voiced: np.ndarray, min_frames: int = 25) -> list[int]:
    """Lengths (in frames) of unvoiced runs of at least `min_frames` between voiced frames."""
    runs, current, seen_voice = [], 0, False
    for is_voiced in voiced:
        if is_voiced:
            if seen_voice and current >= min_frames:
                runs.append(current)
            current, seen_voice = 0, True
        else:
            current += 1
    return runs


def session_features(row: dict) -> np.ndarray:
    durations, voiced_total, frames_total, pause_lengths = [], 0, 0, []
    for response in row["responses"]:
        audio = load_audio(response["audio"], f"Session {row['session_id']}, response {response['response_id']}")
        durations.append(len(audio) / 16_000)
        voiced = voiced_frames(audio)
        voiced_total += int(voiced.sum())
        frames_total += len(voiced)
        pause_lengths += pauses(voiced)
    total = float(sum(durations))
    return np.array([
        total,
        total / max(len(durations), 1),
        voiced_total / max(frames_total, 1),
        60.0 * len(pause_lengths) / max(total, 1e-6),
        float(np.mean(pause_lengths)) * HOP / 16_000 if pause_lengths else 0.0,
        float(len(durations)),
    ])


class RidgeBaseline:
    """Per target, standardised features and a ridge regression whose strength is chosen by cross-validation on the
    training sessions (scikit-learn's `RidgeCV`: efficient leave-one-out over `alphas`), fitted on the sessions that
    have the target."""

    def __init__(self, alphas=DEFAULT_ALPHAS):
        self.alphas = alphas
        self.models: dict[str, object] = {}

    def fit(self, features: np.ndarray, targets: dict[str, np.ndarray]) -> "RidgeBaseline":
        for name, values in targets.items():
            present = np.isfinite(values)
            if present.sum() < 3:
                continue
            self.models[name] = make_pipeline(StandardScaler(), RidgeCV(alphas=self.alphas)).fit(
                features[present], values[present]
            )
        return self

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        return {name: model.predict(features) for name, model in self.models.items()}

    def chosen_alphas(self) -> dict[str, float]:
        """The regularisation cross-validation chose, per target."""
        return {name: float(model[-1].alpha_) for name, model in self.models.items()}
