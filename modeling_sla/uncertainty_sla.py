"""Intervals on every score and referral to an examiner, from a calibration saved in the config
(`config.uncertainty`, fitted by `sla calibrate`).

A target's interval is `score ± quantile × sigma`, clipped to the target's scale: `quantile` is the conformal quantile
of the calibration split's normalised residuals at the stated coverage (crepes' `ConformalRegressor`, read off at
unit sigma and saved), and `sigma` the session's difficulty: 1 for split conformal, or a small linear model of
difficulty features (`normalized`), fitted on held-out absolute errors; or quantiles per band of the predicted
score (`mondrian`). A session is referred to an examiner when it is
harder than the calibration split's least certain share (10 % by default), or when a response cannot be assessed.
Its difficulty is the mean over its targets of the difficulty model's sigma against the typical (median) calibration
session's: what a normalised interval's width is relative to its typical width. It is the same model whatever the
intervals' method, since split conformal intervals have one width for every session and could rank none.

This file is remote code: it imports nothing of the package and no library beyond the standard one.
"""

import math


# Difficulty features of a session and target, from the model's own outputs and the session's shape.
FEATURES = ("app_spread", "app_entropy", "app_disagreement", "distance", "missing_answers")


def app_spread(app_probs: list[float], band_values: list[float]) -> float:
    """The standard deviation of the APP's band distribution, in marks: how unsure the prior is of the level."""
    mean = app_expected(app_probs, band_values)
    return math.sqrt(max(0.0, sum(p * (band - mean) ** 2 for p, band in zip(app_probs, band_values))))


def app_expected(app_probs: list[float], band_values: list[float]) -> float:
    """The APP's expected mark: its band distribution's mean."""
    return sum(p * band for p, band in zip(app_probs, band_values))


def app_entropy(app_probs: list[float]) -> float:
    """The entropy of the APP's band distribution, in nats."""
    return -sum(p * math.log(p) for p in app_probs if p > 0)


def difficulty_features(score: float, center: float, app_probs: list[float] | None, band_values: list[float],
                        missing_answers: float, app_on_scale: bool = True) -> dict[str, float]:
    """The features of one target of one session: the APP's spread and entropy, and how far the score is from the
    APP's expected mark (two estimates that disagree; all 0 without the APP), the score's distance from the
    calibration split's mean prediction (extremes are scored worse), and the share of the format's answers the
    session lacks. `app_on_scale`: whether the APP's bands are on the score's scale (not so for an overall on a scale
    of its own, nor for a model started from another test's, whose APP keeps that test's bands); else the
    disagreement is 0."""
    comparable = app_probs is not None and app_on_scale
    return {
        "app_spread": 0.0 if app_probs is None else app_spread(app_probs, band_values),
        "app_entropy": 0.0 if app_probs is None else app_entropy(app_probs),
        "app_disagreement": abs(score - app_expected(app_probs, band_values)) if comparable else 0.0,
        "distance": abs(score - center),
        "missing_answers": missing_answers,
    }


def sigma(features: dict[str, float], model: dict | None) -> float:
    """The difficulty of a target of a session: 1 (split conformal), or `intercept + Σ weight × feature`, at least
    `floor` (normalised conformal)."""
    if model is None:
        return 1.0
    value = model["intercept"] + sum(weight * features[name] for name, weight in model["weights"].items())
    return max(value, model["floor"])


def quantile(score: float, target: dict) -> float:
    """The target's conformal quantile; with Mondrian bins (by predicted score), that of the score's bin."""
    if "bins" not in target:
        return target["quantile"]
    return next(entry["quantile"] for entry in target["bins"] if entry["up_to"] is None or score <= entry["up_to"])


def interval(score: float, features: dict[str, float], target: dict, scale_min: float, scale_max: float
             ) -> tuple[float, float]:
    """`[low, high]` of a score: `score ± quantile × sigma`, clipped to the target's scale."""
    half = quantile(score, target) * sigma(features, target.get("sigma"))
    return max(scale_min, score - half), min(scale_max, score + half)


def session_difficulty(scores: dict[str, float], app_probs: list[float] | None, band_values: list[float],
                       missing_answers: float, calibration: dict) -> float | None:
    """How hard a session is to score: the mean over its reported targets (`{target: score}`) of the difficulty
    model's sigma against the typical calibration session's; None without a reported score."""
    ratios = []
    for name, score in scores.items():
        target = calibration["targets"][name]
        features = difficulty_features(score, target["center"], app_probs, band_values, missing_answers,
                                       target["app_on_scale"])
        ratios.append(sigma(features, target["difficulty"]) / target["typical_difficulty"])
    return sum(ratios) / len(ratios) if ratios else None


def referral(difficulty: float | None, audio_flags: list[dict], calibration: dict | None) -> tuple[bool, list[str]]:
    """Whether to refer a session to an examiner, and why: a response that cannot be assessed, or a difficulty above
    the calibration's threshold (set so that its chosen share of the calibration sessions is referred)."""
    reasons = [f"response {flag['response_id']} ({flag['part']}) cannot be assessed: {flag['reason']}"
               for flag in audio_flags]
    if calibration is not None and difficulty is not None and difficulty > calibration["referral"]["threshold"]:
        threshold = calibration["referral"]["threshold"]
        reasons.append(f"uncertain: {difficulty:.2f} x as hard to score as the typical session, above {threshold:.2f} "
                       f"(the least certain {calibration['referral']['share']:.0%} of the calibration sessions)")
    return bool(reasons), reasons


def session_intervals(scores: dict[str, float], app_probs: list[float] | None, band_values: list[float],
                      missing_answers: float, calibration: dict, scales: dict[str, tuple[float, float]]
                      ) -> dict[str, tuple[float, float]]:
    """The intervals of a session's reported scores (`{target: unrounded score}`), each on its `scales` range."""
    out = {}
    for name, score in scores.items():
        target = calibration["targets"][name]
        features = difficulty_features(score, target["center"], app_probs, band_values, missing_answers,
                                       target["app_on_scale"])
        out[name] = interval(score, features, target, *scales[name])
    return out


__all__ = ["FEATURES", "app_entropy", "app_spread", "difficulty_features", "interval", "quantile", "referral",
           "session_difficulty", "session_intervals", "sigma"]
