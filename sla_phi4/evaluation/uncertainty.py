"""Intervals and referral: fitting the calibration a checkpoint carries (`config.uncertainty`), and judging it.

Fitting (`sla calibrate`) uses crepes' conformal regressors on a held-out split (dev by default): per target, the
residuals of the sessions scored give the conformal quantile at the chosen coverage, plain (`split`), normalised by a
difficulty model fitted on half of the split's absolute errors (`normalized`), or per band of the predicted score
(`mondrian`). `auto` measures the three by 2-fold cross-fitting within the split and keeps the narrowest that covers.
The intervals themselves are computed by the remote code (`modeling_sla/uncertainty_sla.py`), the same code the
pipeline runs, so a loaded model gives the same intervals anywhere.

Judging (`sla score` on a calibrated checkpoint): coverage and mean width per target with bootstrap intervals, the
rejection curve (RMSE of the kept sessions as the referred share grows, beside random and oracle referral), and the
prediction rejection ratio.
"""

import warnings
from dataclasses import dataclass

import crepes
import numpy as np
from crepes import ConformalRegressor
from sklearn.linear_model import LinearRegression, Ridge

from modeling_sla.uncertainty_sla import FEATURES, difficulty_features, session_difficulty, session_intervals


METHODS = ("split", "normalized", "mondrian")
MONDRIAN_BINS = 3  # bands of the predicted score: low, middle, high (terciles of the calibration predictions)
SIGMA_FLOOR = 0.25  # the difficulty model's floor, as a share of the mean absolute error it was fitted on
COVERAGE_SLACK = 0.02  # `auto` keeps methods whose cross-fitted coverage is within this of the target
MIN_SESSIONS = 10  # per target, to fit at all (hundreds to measure a coverage: see docs/uncertainty.md)
# A difficulty model is degenerate when its intercept or a feature's share of sigma (weight x the feature's range on
# the sessions it was fitted on) exceeds this many times the largest absolute error it was fitted on: near-cancelling
# terms (e.g. intercept -26081, weight 12542 on app_entropy, seen on 12 sessions) that no session's error supports.
DEGENERATE_SCALE = 10.0
RIDGE_ALPHA = 1.0  # the fallback difficulty model's L2 penalty (features are of order 1)


@dataclass
class Evidence:
    """What a model said about a set of sessions, and their marks: what intervals are fitted and judged on."""

    session_ids: list[str]
    predictions: np.ndarray  # (sessions, targets), NaN where a target is not reported
    references: np.ndarray  # (sessions, targets), NaN where there is no mark
    app_probs: np.ndarray | None  # (sessions, APP bands), None without the APP
    missing_answers: np.ndarray  # (sessions,): the share of the format's answers a session lacks
    flagged: np.ndarray  # (sessions,) bool: a response of the session cannot be assessed

    def subset(self, index: np.ndarray) -> "Evidence":
        return Evidence([self.session_ids[i] for i in index], self.predictions[index], self.references[index],
                        None if self.app_probs is None else self.app_probs[index], self.missing_answers[index],
                        self.flagged[index])


def missing_answers(rows: list[dict], test_format) -> np.ndarray:
    """Per session, the share of the format's answers (its parts' `max_responses`) the session lacks."""
    most = sum(part.max_responses for part in test_format.parts)
    return np.array([max(0.0, 1.0 - len(row["responses"]) / most) for row in rows])


# ------------------------------------------------------------------------------------------------------ fitting
def app_on_scale(test_format, name: str, band_values: list[float]) -> bool:
    """Whether the APP's bands are the scale of target `name` (its expected mark can be compared with the score)."""
    bands = test_format.target_scale(name).bands
    return len(bands) == len(band_values) and bool(np.allclose(bands, band_values))


def target_features(evidence: Evidence, column: int, center: float, band_values: list[float],
                    on_scale: bool = True) -> np.ndarray:
    """`(sessions, len(FEATURES))` difficulty features of one target (the remote code's own function)."""
    rows = []
    for index in range(len(evidence.session_ids)):
        probs = None if evidence.app_probs is None else evidence.app_probs[index].tolist()
        values = difficulty_features(float(evidence.predictions[index, column]), center, probs, band_values,
                                     float(evidence.missing_answers[index]), on_scale)
        rows.append([values[name] for name in FEATURES])
    return np.array(rows, dtype=float).reshape(len(rows), len(FEATURES))


def is_degenerate(model: dict, features: np.ndarray, residuals: np.ndarray) -> bool:
    """Whether a difficulty model's terms are far larger than any error it was fitted on (`DEGENERATE_SCALE`)."""
    limit = DEGENERATE_SCALE * max(float(residuals.max()), 1e-12)
    spans = np.ptp(features, axis=0) if len(features) else np.zeros(len(FEATURES))
    terms = [abs(model["weights"][name]) * span for name, span in zip(FEATURES, spans)]
    return not np.isfinite(model["intercept"]) or abs(model["intercept"]) > limit or max(terms, default=0.0) > limit


def fit_sigma(features: np.ndarray, residuals: np.ndarray) -> dict | None:
    """A linear model of the absolute error on the difficulty features (non-negative weights: more difficulty, more
    error), floored at a quarter of the mean absolute error. Least squares first; when that fit is degenerate
    (`is_degenerate`) a ridge fit; when that is too, None: the plain interval (sigma 1). `fit` says which."""
    for kind, regression in (("least squares", LinearRegression(positive=True)),
                             ("ridge", Ridge(alpha=RIDGE_ALPHA, positive=True))):
        regression.fit(features, residuals)
        model = {"intercept": float(regression.intercept_),
                 "weights": {name: float(weight) for name, weight in zip(FEATURES, regression.coef_)},
                 "floor": float(SIGMA_FLOOR * residuals.mean()), "fit": kind}
        if not is_degenerate(model, features, residuals):
            return model
    return None


def difficulty_fit(model: dict | None) -> str:
    """How a target's difficulty model was fitted, for reports: least squares, ridge, or plain (none)."""
    return "plain (degenerate fits)" if model is None else model["fit"]


def sigmas(features: np.ndarray, model: dict | None) -> np.ndarray:
    if model is None:
        return np.ones(len(features))
    weights = np.array([model["weights"][name] for name in FEATURES])
    return np.maximum(model["intercept"] + features @ weights, model["floor"])


def unit_quantiles(regressor: ConformalRegressor, coverage: float, bins: list[int] | None = None
                   ) -> tuple[list[float], bool]:
    """The conformal quantile crepes applies at unit sigma (per bin with Mondrian bins), and whether crepes had too
    few calibration errors for `coverage` and used the largest instead (its warning, caught here: the caller
    reports it once)."""
    count = 1 if bins is None else len(bins)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        intervals = regressor.predict_int(y_hat=np.zeros(count), sigmas=np.ones(count), bins=bins,
                                          confidence=coverage)
    capped = any("calibration examples is too" in str(warning.message) for warning in caught)
    return [float(high) for _, high in intervals], capped


def fit_target(predictions: np.ndarray, residuals: np.ndarray, features: np.ndarray, method: str, coverage: float,
               rng: np.random.Generator) -> dict:
    """One target's calibration by `method` (what `uncertainty_sla.interval` reads)."""
    if method == "split":
        quantiles, capped = unit_quantiles(ConformalRegressor().fit(residuals=residuals), coverage)
        return {"quantile": quantiles[0], "sigma": None, "quantile_capped": capped}
    if method == "normalized":
        half = rng.permutation(len(residuals))
        fit_on, calibrate_on = half[: len(half) // 2], half[len(half) // 2:]
        model = fit_sigma(features[fit_on], residuals[fit_on])
        regressor = ConformalRegressor().fit(residuals=residuals[calibrate_on],
                                             sigmas=sigmas(features[calibrate_on], model))
        quantiles, capped = unit_quantiles(regressor, coverage)
        return {"quantile": quantiles[0], "sigma": model, "sigma_fit": difficulty_fit(model),
                "quantile_capped": capped}
    if method == "mondrian":
        edges = np.quantile(predictions, np.linspace(0, 1, MONDRIAN_BINS + 1)[1:-1]).tolist()
        regressor = ConformalRegressor().fit(residuals=residuals, bins=np.searchsorted(edges, predictions))
        quantiles, capped = unit_quantiles(regressor, coverage, list(range(MONDRIAN_BINS)))
        bounds = [float(edge) for edge in edges] + [None]
        return {"quantile": max(quantiles), "sigma": None, "quantile_capped": capped,
                "bins": [{"up_to": bound, "quantile": value} for bound, value in zip(bounds, quantiles)]}
    raise ValueError(f"Unknown interval method {method!r}; choose one of {METHODS} or 'auto'.")


def fit_intervals(evidence: Evidence, test_format, band_values: list[float], method: str = "normalized",
                    coverage: float = 0.9, refer_share: float = 0.1, seed: int = 0) -> dict:
    """The calibration of every target and the referral threshold, fitted on `evidence` (a held-out split)."""
    if not 0 < coverage < 1 or not 0 <= refer_share < 1:
        raise ValueError(f"coverage must be in (0, 1) and the referred share in [0, 1); got {coverage}, {refer_share}.")
    rng = np.random.default_rng(seed)
    targets = {}
    for column, name in enumerate(test_format.score_names):
        present = np.isfinite(evidence.predictions[:, column]) & np.isfinite(evidence.references[:, column])
        if present.sum() < MIN_SESSIONS:
            raise ValueError(f"Calibrating {name} needs at least {MIN_SESSIONS} sessions with a score and a mark; "
                             f"{int(present.sum())} were given.")
        predictions = evidence.predictions[present, column]
        center = float(predictions.mean())
        on_scale = app_on_scale(test_format, name, band_values)
        features = target_features(evidence.subset(np.flatnonzero(present)), column, center, band_values, on_scale)
        residuals = np.abs(evidence.references[present, column] - predictions)
        target = fit_target(predictions, residuals, features, method, coverage, rng)
        # The referral's difficulty model: the normalised intervals' own, else one fitted on the whole split.
        difficulty = target["sigma"] if method == "normalized" else fit_sigma(features, residuals)
        targets[name] = {**target, "center": center, "app_on_scale": on_scale, "sessions": int(present.sum()),
                         "difficulty": difficulty, "difficulty_fit": difficulty_fit(difficulty),
                         "typical_difficulty": float(np.median(sigmas(features, difficulty)))}
    calibration = {"method": method, "coverage": coverage, "sessions": len(evidence.session_ids),
                   "library": f"crepes {crepes.__version__}", "targets": targets}
    hardness = difficulties(calibration, evidence, test_format, band_values)
    finite = hardness[np.isfinite(hardness)]
    threshold = float(np.quantile(finite, 1 - refer_share)) if refer_share > 0 else float("inf")
    calibration["referral"] = {"share": refer_share, "threshold": threshold}
    return calibration


def select_method(evidence: Evidence, test_format, band_values: list[float], coverage: float, seed: int = 0
                  ) -> tuple[str, dict]:
    """Each method's cross-fitted coverage and mean width (2 folds of the calibration split, every target pooled);
    the narrowest of those within `COVERAGE_SLACK` of the coverage (split conformal if none)."""
    order = np.random.default_rng(seed).permutation(len(evidence.session_ids))
    folds = [order[: len(order) // 2], order[len(order) // 2:]]
    measured = {}
    for method in METHODS:
        covered, widths = [], []
        for fit_on, judge_on in ((folds[0], folds[1]), (folds[1], folds[0])):
            try:
                fitted = fit_intervals(evidence.subset(fit_on), test_format, band_values, method, coverage, 0.0, seed)
            except ValueError as error:
                raise ValueError(f"auto measures each method on halves of the {len(order)} sessions given, and a half "
                                 f"is too small: {error} Give a --method, or more sessions.") from error
            judged = evidence.subset(judge_on)
            lows, highs = apply_intervals(fitted, judged, test_format, band_values)
            present = np.isfinite(judged.references) & np.isfinite(lows)
            covered.append(((judged.references >= lows) & (judged.references <= highs))[present])
            widths.append((highs - lows)[present])
        measured[method] = {"coverage": float(np.concatenate(covered).mean()),
                            "mean_width": float(np.concatenate(widths).mean())}
    eligible = [method for method in METHODS if measured[method]["coverage"] >= coverage - COVERAGE_SLACK]
    chosen = min(eligible, key=lambda method: measured[method]["mean_width"]) if eligible else "split"
    return chosen, measured


# ----------------------------------------------------------------------------------------------------- applying
def apply_intervals(calibration: dict, evidence: Evidence, test_format, band_values: list[float]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """`(low, high)` arrays of every reported score, NaN elsewhere, through the remote code's `session_intervals`."""
    names = test_format.score_names
    scales = {name: (test_format.target_scale(name).min, test_format.target_scale(name).max) for name in names}
    lows = np.full(evidence.predictions.shape, np.nan)
    highs = np.full(evidence.predictions.shape, np.nan)
    for row in range(len(evidence.session_ids)):
        scores = {name: float(evidence.predictions[row, column]) for column, name in enumerate(names)
                  if np.isfinite(evidence.predictions[row, column])}
        probs = None if evidence.app_probs is None else evidence.app_probs[row].tolist()
        bounds = session_intervals(scores, probs, band_values, float(evidence.missing_answers[row]), calibration,
                                   scales)
        for name, (low, high) in bounds.items():
            lows[row, names.index(name)], highs[row, names.index(name)] = low, high
    return lows, highs


def difficulties(calibration: dict, evidence: Evidence, test_format, band_values: list[float]) -> np.ndarray:
    """Per session, how hard it is to score (the referral's measure, `uncertainty_sla.session_difficulty`); NaN for a
    session without a reported score."""
    names = test_format.score_names
    out = np.full(len(evidence.session_ids), np.nan)
    for row in range(len(evidence.session_ids)):
        scores = {name: float(evidence.predictions[row, column]) for column, name in enumerate(names)
                  if np.isfinite(evidence.predictions[row, column])}
        probs = None if evidence.app_probs is None else evidence.app_probs[row].tolist()
        value = session_difficulty(scores, probs, band_values, float(evidence.missing_answers[row]), calibration)
        out[row] = np.nan if value is None else value
    return out


# ------------------------------------------------------------------------------------------------------ judging
def bootstrap(values: np.ndarray, statistic, rng: np.random.Generator, draws: int = 1000) -> list[float]:
    """A 95 % percentile bootstrap interval of `statistic(values)` over sessions."""
    samples = [statistic(values[rng.integers(0, len(values), len(values))]) for _ in range(draws)]
    return [float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))]


def coverage_table(lows: np.ndarray, highs: np.ndarray, references: np.ndarray, names: list[str],
                   target_coverage: float, seed: int = 0) -> dict:
    """Per target: sessions, coverage and mean width, each with a 95 % bootstrap interval, and whether the target
    coverage lies in the coverage's interval (`calibrated`; False flags intervals that do not cover as stated)."""
    rng = np.random.default_rng(seed)
    table = {}
    for column, name in enumerate(names):
        present = np.isfinite(references[:, column]) & np.isfinite(lows[:, column])
        if not present.any():
            continue
        covered = ((references[present, column] >= lows[present, column])
                   & (references[present, column] <= highs[present, column])).astype(float)
        widths = highs[present, column] - lows[present, column]
        interval = bootstrap(covered, np.mean, rng)
        table[name] = {"sessions": int(present.sum()), "coverage": float(covered.mean()), "coverage_95ci": interval,
                       "calibrated": bool(interval[0] <= target_coverage <= interval[1]),
                       "mean_width": float(widths.mean()), "mean_width_95ci": bootstrap(widths, np.mean, rng)}
    return table


def kept_rmse(order: np.ndarray, errors: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """RMSE of the sessions kept when the first `share` of `order` is referred, for each share."""
    squared = errors[order] ** 2
    kept = [squared[int(round(share * len(order))):] for share in shares]
    return np.array([float(np.sqrt(values.mean())) for values in kept])


def rejection_curve(uncertainty: np.ndarray, errors: np.ndarray, max_share: float = 0.5, steps: int = 51,
                    random_draws: int = 200, seed: int = 0) -> dict:
    """RMSE of the kept sessions as the referred share grows from 0 to `max_share`: referring the least certain
    first (`model`), at random (mean of `random_draws` orders), and the largest errors first (`oracle`); and the
    prediction rejection ratio, `(A_random - A_model) / (A_random - A_oracle)` with A the area under each curve
    (random 0, oracle 1)."""
    shares = np.linspace(0, max_share, steps)
    rng = np.random.default_rng(seed)
    model = kept_rmse(np.argsort(-uncertainty, kind="stable"), errors, shares)
    oracle = kept_rmse(np.argsort(-np.abs(errors), kind="stable"), errors, shares)
    random = np.mean([kept_rmse(rng.permutation(len(errors)), errors, shares) for _ in range(random_draws)], axis=0)
    area = {name: float(np.trapezoid(curve, shares)) for name, curve in
            (("model", model), ("random", random), ("oracle", oracle))}
    gap = area["random"] - area["oracle"]
    return {"shares": shares.tolist(), "model": model.tolist(), "random": random.tolist(), "oracle": oracle.tolist(),
            "prr": float((area["random"] - area["model"]) / gap) if gap > 0 else float("nan"),
            "sessions": int(len(errors))}


def referral_gain(curve: dict, share: float) -> float:
    """How much lower the kept sessions' RMSE is when `share` is referred (by the model) than with none referred."""
    index = int(np.argmin(np.abs(np.array(curve["shares"]) - share)))
    return 1.0 - curve["model"][index] / curve["model"][0]


__all__ = ["Evidence", "METHODS", "apply_intervals", "coverage_table", "fit_intervals", "missing_answers",
           "difficulties", "referral_gain", "rejection_curve", "select_method"]
