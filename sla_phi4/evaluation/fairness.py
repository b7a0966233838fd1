"""Fairness: how the model's errors differ by group and by reference band (the `fairness` section of a score report).

`sla score --groups FILE` takes a TSV whose first column is the submission ID and whose other columns are groups (L1,
gender, age band, test centre; the synthetic corpus's `speakers.tsv` works as it is). For each group column it gives,
per group, the sessions, RMSE and mean signed error (prediction minus mark) with a 95 % interval, disaggregated with
fairlearn's `MetricFrame`; and the column's three measures of Loukina, Madnani and Zechner (2019), as RSMTool reports
them: overall score accuracy (OSA: the R² of the squared error on group membership), overall score difference (OSD:
the R² of the signed error on group membership) and conditional score difference (CSD: the R² the groups add to the
signed error's regression on the mark), each with its F-test p-value. It always gives the same per reference band (the
format's levels). A column with too many distinct values to be a group is skipped and named.
"""

import csv

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from scipy import stats


MAX_GROUPS = 20  # a column with more distinct values is taken for a measurement, not a group
MIN_GROUP_SESSIONS = 2


def read_groups(path: str) -> pd.DataFrame:
    """The groups file as a frame indexed by submission ID (strings); errors name the file and the line."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    if not rows or len(rows[0]) < 2:
        raise ValueError(f"{path}: line 1 must be a header: the submission ID column, then at least one group column.")
    header, seen = rows[0], {}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}, line {number}: {len(row)} columns; the header has {len(header)}.")
        if not row[0].strip():
            raise ValueError(f"{path}, line {number}: empty submission ID.")
        if row[0] in seen:
            raise ValueError(f"{path}, line {number}: submission ID {row[0]!r} again (first on line {seen[row[0]]}).")
        seen[row[0]] = number
    return pd.DataFrame(rows[1:], columns=header).set_index(header[0])


def group_columns(frame: pd.DataFrame, wanted: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The columns taken as groups (`wanted`, else every column with 2 to MAX_GROUPS values), and why others were
    skipped."""
    if wanted:
        unknown = [column for column in wanted if column not in frame.columns]
        if unknown:
            raise ValueError(f"No group column {', '.join(unknown)}; the groups file has {', '.join(frame.columns)}.")
        return list(wanted), {}
    chosen, skipped = [], {}
    for column in frame.columns:
        values = frame[column].nunique()
        if 2 <= values <= MAX_GROUPS:
            chosen.append(column)
        else:
            skipped[column] = f"{values} distinct values (a group column has 2 to {MAX_GROUPS})"
    return chosen, skipped


def mean_signed_error(y_true, y_pred) -> float:
    return float(np.mean(np.asarray(y_pred) - np.asarray(y_true)))


def rmse(y_true, y_pred) -> float:
    return float(np.sqrt(np.mean((np.asarray(y_pred) - np.asarray(y_true)) ** 2)))


def count(y_true, y_pred) -> int:
    return int(len(y_true))


def signed_error_interval(errors: np.ndarray) -> list[float] | None:
    """95 % t-interval of the mean signed error (None under two sessions)."""
    if len(errors) < 2:
        return None
    half = stats.t.ppf(0.975, len(errors) - 1) * errors.std(ddof=1) / np.sqrt(len(errors))
    return [float(errors.mean() - half), float(errors.mean() + half)]


def explained(y: np.ndarray, design: np.ndarray) -> float:
    """R² of the least-squares regression of `y` on `design` (which holds the intercept)."""
    fitted = design @ np.linalg.lstsq(design, y, rcond=None)[0]
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - fitted) ** 2).sum()) / total if total > 0 else 0.0


def r2_test(y: np.ndarray, base: np.ndarray, full: np.ndarray) -> dict:
    """What `full`'s extra columns add to `base` in explaining `y`: the R² gain and its F-test p-value."""
    r2_base, r2_full = explained(y, base), explained(y, full)
    extra, residual = full.shape[1] - base.shape[1], len(y) - full.shape[1]
    if extra <= 0 or residual <= 0 or r2_full >= 1:
        return {"r2": r2_full - r2_base, "p_value": None}
    f_value = ((r2_full - r2_base) / extra) / ((1 - r2_full) / residual)
    return {"r2": float(r2_full - r2_base), "p_value": float(stats.f.sf(f_value, extra, residual))}


def loukina_measures(groups: np.ndarray, predictions: np.ndarray, references: np.ndarray) -> dict:
    """OSA, OSD and CSD of one group column (R² and p-value each)."""
    dummies = pd.get_dummies(pd.Series(groups), drop_first=True, dtype=float).to_numpy()
    ones = np.ones((len(groups), 1))
    errors = predictions - references
    with_groups = np.hstack([ones, dummies])
    with_mark = np.hstack([ones, references[:, None]])
    return {"osa": r2_test(errors ** 2, ones, with_groups), "osd": r2_test(errors, ones, with_groups),
            "csd": r2_test(errors, with_mark, np.hstack([with_mark, dummies]))}


def by_group(groups: np.ndarray, predictions: np.ndarray, references: np.ndarray) -> dict:
    """Per group (fairlearn's MetricFrame): sessions, RMSE, mean signed error and its 95 % interval."""
    frame = MetricFrame(metrics={"n": count, "rmse": rmse, "mean_signed_error": mean_signed_error},
                        y_true=references, y_pred=predictions, sensitive_features=pd.Series(groups, name="group"))
    table = {}
    for group, values in frame.by_group.iterrows():
        errors = (predictions - references)[groups == group]
        table[str(group)] = {"n": int(values["n"]), "rmse": float(values["rmse"]),
                             "mean_signed_error": float(values["mean_signed_error"]),
                             "mean_signed_error_95ci": signed_error_interval(errors)}
    return table


def fairness_section(session_ids: list[str], predictions: np.ndarray, references: np.ndarray, test_format,
                     target: str, groups_path: str | None = None, columns: list[str] | None = None) -> dict:
    """The fairness of one target's scores: by reference band always, and by each group column of `groups_path`."""
    present = np.isfinite(predictions) & np.isfinite(references)
    ids = [session_id for session_id, keep in zip(session_ids, present) if keep]
    predictions, references = predictions[present], references[present]
    bands = np.array([test_format.level(target, value) for value in references])
    section = {"target": target, "sessions": int(present.sum()),
               "by_band": by_group(bands, predictions, references), "library": "fairlearn MetricFrame"}
    if groups_path is None:
        return section
    frame = read_groups(groups_path)
    known = np.array([session_id in frame.index for session_id in ids], dtype=bool)
    chosen, skipped = group_columns(frame, columns)
    section.update(groups_file=groups_path, sessions_without_groups=int((~known).sum()), skipped_columns=skipped,
                   columns={})
    for column in chosen:
        groups = frame.loc[[i for i, keep in zip(ids, known) if keep], column].to_numpy()
        if len(set(groups)) < 2:
            section["skipped_columns"][column] = f"{len(set(groups))} group among the sessions scored"
            continue
        section["columns"][column] = {
            "groups": by_group(groups, predictions[known], references[known]),
            **loukina_measures(groups, predictions[known], references[known]),
        }
    return section


def format_fairness(report: dict) -> str:
    """A few lines on a report's fairness section ('' without one): each group column's OSA, OSD and CSD and its
    groups' mean signed errors."""
    section = report.get("fairness")
    if not section:
        return ""
    lines = [f"Fairness of {section['target']}, by reference band: " + ", ".join(
        f"{band} n={values['n']} mean signed error {values['mean_signed_error']:+.2f}"
        for band, values in section["by_band"].items())]
    for column, values in section.get("columns", {}).items():
        lines.append(f"  {column}: OSA {values['osa']['r2']:.3f}, OSD {values['osd']['r2']:.3f}, CSD "
                     f"{values['csd']['r2']:.3f} (R²); mean signed error " + ", ".join(
                         f"{group} {entry['mean_signed_error']:+.2f}" for group, entry in values["groups"].items()))
    if section.get("skipped_columns"):
        lines.append("  skipped columns: " + "; ".join(f"{column}: {why}"
                                                        for column, why in section["skipped_columns"].items()))
    return "\n".join(lines)


__all__ = ["fairness_section", "format_fairness", "group_columns", "loukina_measures", "read_groups"]
