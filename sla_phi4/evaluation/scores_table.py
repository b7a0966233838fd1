"""`scores.csv`: one row per session, for a spreadsheet. Each target's score as the pipeline reports it
(clipped to the target's scale, overall rounded to its bands where the format says so, 2 decimals), its nearest band
and level, its interval where the checkpoint is calibrated; whether the session is referred to an examiner and why;
its status (`scored`, `partial`: some targets without a score, `refused`: none, its audio cannot be used) and every
warning."""

import csv

import numpy as np


SCORES_FILE = "scores.csv"
DECIMALS = 2


def target_columns(names: list[str], with_intervals: bool) -> list[str]:
    columns = []
    for name in names:
        columns += [name, f"{name}_band", f"{name}_level"] + ([f"{name}_low", f"{name}_high"] if with_intervals else [])
    return columns


def warning_text(warning: dict) -> str:
    where = warning["response_id"] if warning["response_id"] is not None else warning["part"]
    return f"{warning['reason']} ({where}): {warning['detail']}"


def target_cells(test_format, name: str, raw: float, low: float, high: float, with_intervals: bool) -> list:
    if not np.isfinite(raw):
        return [""] * (5 if with_intervals else 3)
    score = test_format.report(name, raw, DECIMALS)
    cells = [score, test_format.target_scale(name).nearest_band(score), test_format.level(name, score)]
    if with_intervals:
        cells += [round(float(value), DECIMALS) if np.isfinite(value) else "" for value in (low, high)]
    return cells


def session_status(refused: bool, raw: np.ndarray) -> str:
    if refused:
        return "refused"
    return "scored" if np.isfinite(raw).all() else "partial"


def write_scores_table(path: str, session_ids: list[str], predictions: np.ndarray, refused: list[bool],
                       warnings: list[list[dict]], referrals: list[tuple[bool, list[str]]], test_format,
                       intervals: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Writes the table (see the module); `intervals` are the calibrated `(lows, highs)`, None without them."""
    names = test_format.score_names
    with_intervals = intervals is not None
    lows, highs = intervals if with_intervals else (np.full_like(predictions, np.nan),) * 2
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["session_id", "status", *target_columns(names, with_intervals), "refer_to_examiner",
                         "referral_reasons", "warnings"])
        for row, session_id in enumerate(session_ids):
            cells = [session_id, session_status(refused[row], predictions[row])]
            for column, name in enumerate(names):
                cells += target_cells(test_format, name, predictions[row, column], lows[row, column],
                                      highs[row, column], with_intervals)
            refer, reasons = referrals[row]
            cells += ["yes" if refer else "no", " | ".join(reasons),
                      " | ".join(warning_text(warning) for warning in warnings[row])]
            writer.writerow(cells)


__all__ = ["SCORES_FILE", "write_scores_table"]
