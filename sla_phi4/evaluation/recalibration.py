"""The linear recalibration of `sla score --calibrate_on`: per target, `reference ~ slope * prediction + intercept`
by least squares on another split (as the S&I baseline calibrates), fitted only where it can be trusted.

A target is refused, with the reason kept, when it has fewer than `min_sessions` sessions with a score and a mark,
when its predictions do not vary, or when the slope falls outside `slope_range` (`recalibration.json`). Refused
targets keep their raw predictions.
"""

import json
from dataclasses import dataclass

import numpy as np

from sla_phi4.resources import package_file


@dataclass(frozen=True)
class RecalibrationRules:
    """When a target's linear recalibration is fitted at all.

    Args:
        min_sessions: sessions with a score and a mark a target needs.
        slope_range: `(lowest, highest)` slope accepted.
    """

    min_sessions: int
    slope_range: tuple[float, float]


def load_rules() -> RecalibrationRules:
    values = json.loads(package_file("sla_phi4.evaluation", "recalibration.json").read_text(encoding="utf-8"))
    return RecalibrationRules(int(values["min_sessions"]), tuple(values["slope_range"]))


RULES = load_rules()


def fit_target(predictions: np.ndarray, references: np.ndarray, rules: RecalibrationRules) -> dict:
    """One target: `{"slope", "intercept", "sessions"}`, or `{"refused": reason, "sessions"}`."""
    sessions = int(len(predictions))
    if sessions < rules.min_sessions:
        return {"refused": f"{sessions} sessions with a score and a mark, fewer than {rules.min_sessions}",
                "sessions": sessions}
    if np.ptp(predictions) == 0:
        return {"refused": "its predictions do not vary", "sessions": sessions}
    slope, intercept = np.polyfit(predictions, references, 1)
    low, high = rules.slope_range
    if not low <= slope <= high:
        return {"refused": f"slope {slope:.3g} outside [{low}, {high}]", "sessions": sessions}
    return {"slope": float(slope), "intercept": float(intercept), "sessions": sessions}


def fit_recalibration(predictions: np.ndarray, references: np.ndarray, names: list[str],
                      rules: RecalibrationRules = RULES) -> dict:
    """Per target (a column of `predictions` and `references`, NaN where absent), its fit or its refusal."""
    calibration = {}
    for column, name in enumerate(names):
        present = np.isfinite(references[:, column]) & np.isfinite(predictions[:, column])
        calibration[name] = fit_target(predictions[present, column], references[present, column], rules)
    return calibration


def apply_recalibration(predictions: np.ndarray, calibration: dict, names: list[str]) -> np.ndarray:
    """The predictions with each fitted target recalibrated; refused targets unchanged."""
    calibrated = predictions.copy()
    for column, name in enumerate(names):
        fitted = calibration.get(name, {})
        if "slope" in fitted:
            calibrated[:, column] = fitted["slope"] * predictions[:, column] + fitted["intercept"]
    return calibrated


def describe_recalibration(calibration: dict, split: str) -> str:
    """One line: what was fitted on `split`, and what was refused and why."""
    fitted = [f"{name} (slope {entry['slope']:.2f}, {entry['sessions']} sessions)"
              for name, entry in calibration.items() if "slope" in entry]
    refused = [f"{name} ({entry['refused']})" for name, entry in calibration.items() if "refused" in entry]
    return (f"linear recalibration on {split}: fitted {', '.join(fitted) or 'none'}"
            + (f"; left raw: {', '.join(refused)}" if refused else ""))


__all__ = ["RULES", "RecalibrationRules", "apply_recalibration", "describe_recalibration", "fit_recalibration",
           "load_rules"]
