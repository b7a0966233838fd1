"""Eval sessions with responses taken out, and how a model and the baselines score them.

Conditions: the whole sessions; 1 and 2 responses dropped at random from each session (answers of every part
eligible; a number of draws, the same for every model); each part removed in turn. A truncated session is encoded
exactly (`sla_phi4.data.session_truncation`), through the session cache shared with training and scoring.

What a session gets reported follows the pipeline's rules (`reported_targets`): no score for a part without a
response, and no overall unless all four parts are there, each with a warning.
"""

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from modeling_sla.pipeline_sla import reported_targets
from sla_phi4.data.session_truncation import (
    part_positions, random_positions, response_name, whole_session_id, without_responses,
)
from sla_phi4.evaluation.baselines import RidgeBaseline
from sla_phi4.evaluation.scoring import marks
from sla_phi4.experiments.studies.report import STUDY_FORMAT


@dataclass
class Condition:
    """Eval sessions with responses taken out: one list of sessions per draw (one draw when nothing is random)."""

    name: str
    dropped: int  # responses dropped at random (0 for the whole sessions and for a part removed)
    part: str | None  # the part removed, if any
    draws: list[list[dict]]


def conditions(rows: list[dict], draws: int = 10, counts=(1, 2), seed: int = 0) -> list[Condition]:
    """The whole sessions; `counts` responses dropped at random (`draws` draws each, from `seed`); each part removed.
    A session that cannot lose that much and keep a response is left out of that condition."""
    found = [Condition("whole sessions", 0, None, [rows])]
    for count in counts:
        rng = np.random.default_rng([seed, count])
        found.append(Condition(f"{count} dropped", count, None, [
            [without_responses(row, random_positions(row, count, rng)) for row in rows
             if len(row["responses"]) > count] for _ in range(draws)]))
    for part in STUDY_FORMAT.part_ids:
        found.append(Condition(f"without {part}", 0, part, [
            [without_responses(row, part_positions(row, part)) for row in rows
             if len(part_positions(row, part)) < len(row["responses"])]]))
    return found


def distinct_sessions(found: list[Condition]) -> list[dict]:
    """Every distinct session of the conditions (what the cache must hold)."""
    unique = {}
    for condition in found:
        for sessions in condition.draws:
            for row in sessions:
                unique.setdefault(row["session_id"], row)
    return list(unique.values())


def audio_flags(processor, rows: list[dict]) -> dict[str, list[dict]]:
    """Per whole session, its responses that cannot be assessed (each response is assessed alone, so a truncated
    session's flags are those of the responses it keeps)."""
    return {row["session_id"]: processor.assess_session(row, processor.load_session_audio(row))
            for row in tqdm(rows, desc="Assessing eval responses", unit="session")}


def reporting(names: list[str], rows: list[dict], flags: dict[str, list[dict]]) -> tuple[np.ndarray, list[list]]:
    """`(len(rows), len(names))` whether each target is reported, and each session's warnings (pipeline rules)."""
    mask = np.zeros((len(rows), len(names)), dtype=bool)
    warnings = []
    for index, row in enumerate(rows):
        kept = {response_name(response, position) for position, response in enumerate(row["responses"])}
        session_flags = [flag for flag in flags[whole_session_id(row["session_id"])] if flag["response_id"] in kept]
        parts = [response["part"] for response in row["responses"]]
        reported, session_warnings = reported_targets(STUDY_FORMAT, parts, session_flags, "warn", row["session_id"])
        mask[index] = [name in reported for name in names]
        warnings.append(session_warnings)
    return mask, warnings


@torch.no_grad()
def raw_scores(model, cache, rows: list[dict], description: str) -> np.ndarray:
    """The model's output for every target of each session (what it computes, reported or not), one session a
    batch (the fastest on CPU), from the cache."""
    model.eval()
    scores = [model(**cache.batch([row])).scores[0].float().cpu().numpy()
              for row in tqdm(rows, desc=description, unit="session")]
    return np.stack(scores)


def rmse(predictions: np.ndarray, references: np.ndarray, where: np.ndarray) -> float | None:
    where = where & np.isfinite(references) & np.isfinite(predictions)
    return float(np.sqrt(np.mean((predictions[where] - references[where]) ** 2))) if where.sum() >= 2 else None


def draw_metrics(predictions: np.ndarray, references: np.ndarray, mask: np.ndarray, warnings: list[list],
                 names: list[str]) -> dict:
    """Per target: RMSE over the sessions where it is reported (`reported`), over all sessions from the raw output
    (`raw`), and for the sessions where it is lost: how many, how many of them got a warning for it, and the raw
    output's RMSE there (`lost`)."""
    result = {"reported": {}, "raw": {}, "lost": {}}
    for column, name in enumerate(names):
        lost = ~mask[:, column]
        warned = sum(any(w["part"] == name and w["response_id"] is None for w in warnings[i])
                     for i in np.flatnonzero(lost))
        result["reported"][name] = rmse(predictions[:, column], references[:, column], mask[:, column])
        result["raw"][name] = rmse(predictions[:, column], references[:, column], np.ones_like(lost))
        result["lost"][name] = {"sessions": int(lost.sum()), "warned": int(warned),
                                "raw_rmse": rmse(predictions[:, column], references[:, column], lost)}
    return result


def mean_over_draws(per_draw: list[dict]) -> dict:
    """Each RMSE averaged over the draws (None where a draw has none); counts summed; and `draw_sd`, the standard
    deviation over the draws of each RMSE, reported and raw (None with fewer than two), how much one draw moves it."""
    def average(values):
        values = [value for value in values if value is not None]
        return float(np.mean(values)) if values else None

    def spread(values):
        values = [value for value in values if value is not None]
        return float(np.std(values, ddof=1)) if len(values) > 1 else None

    first = per_draw[0]
    return {
        "reported": {name: average([d["reported"][name] for d in per_draw]) for name in first["reported"]},
        "raw": {name: average([d["raw"][name] for d in per_draw]) for name in first["raw"]},
        "lost": {name: {"sessions": sum(d["lost"][name]["sessions"] for d in per_draw),
                        "warned": sum(d["lost"][name]["warned"] for d in per_draw),
                        "raw_rmse": average([d["lost"][name]["raw_rmse"] for d in per_draw])}
                 for name in first["lost"]},
        "draw_sd": {kind: {name: spread([d[kind][name] for d in per_draw]) for name in first[kind]}
                    for kind in ("reported", "raw")},
    }


def score_conditions(found: list[Condition], names: list[str], flags: dict, predict) -> dict:
    """`{condition name: metrics averaged over its draws}` for `predict(rows, description) -> (n, targets)`."""
    result = {}
    for condition in found:
        per_draw = []
        for number, rows in enumerate(condition.draws):
            mask, warnings = reporting(names, rows, flags)
            description = f"{condition.name}" + (f", draw {number + 1}/{len(condition.draws)}"
                                                 if len(condition.draws) > 1 else "")
            per_draw.append(draw_metrics(predict(rows, description), marks(rows, names), mask, warnings, names))
        result[condition.name] = mean_over_draws(per_draw)
    return result


def baseline_predictors(train_rows: list[dict], names: list[str], app_cache) -> dict:
    """The training mean, and the ridge on the APP's pooled Whisper states fitted on the whole train sessions, as
    `predict(rows, description)` functions over any (truncated) sessions."""
    train_marks = marks(train_rows, names)
    mean = np.nanmean(train_marks, axis=0)
    features = torch.stack([app_cache[row]["app_pooled"] for row in train_rows]).numpy()
    ridge = RidgeBaseline().fit(features, {name: train_marks[:, column] for column, name in enumerate(names)})

    def ridge_predict(rows, description):
        predicted = ridge.predict(torch.stack([app_cache[row]["app_pooled"] for row in rows]).numpy())
        return np.column_stack([predicted.get(name, np.full(len(rows), mean[c])) for c, name in enumerate(names)])

    return {"train_mean": lambda rows, description: np.tile(mean, (len(rows), 1)), "whisper_ridge": ridge_predict}


def lost_targets(row: dict) -> list[str]:
    """The targets a session gets no score for because it lacks a part (overall with any of them)."""
    parts = {response["part"] for response in row["responses"]}
    lost = [part for part in STUDY_FORMAT.part_ids if part not in parts]
    return lost + (["overall"] if lost and STUDY_FORMAT.overall is not None else [])


def pipeline_check(model_dir: str, found: list[Condition]) -> list[dict]:
    """For each condition, its first session that lost a part (in the first draw), through the saved model's pipeline
    (`trust_remote_code`): the scores and warnings it reports for the targets lost, and whether every one of them
    is none with a warning."""
    from transformers import pipeline

    scorer = pipeline("spoken-language-assessment", model=model_dir, trust_remote_code=True)
    checks = []
    for condition in found:
        row = next((row for row in condition.draws[0] if lost_targets(row)), None)
        if row is None:
            continue
        lost = lost_targets(row)
        result = scorer({"session_id": row["session_id"], "responses": row["responses"]})
        warned = {warning["part"] for warning in result["warnings"] if warning["response_id"] is None}
        checks.append({"condition": condition.name, "session_id": row["session_id"], "lost": lost,
                       "scores": {name: result["scores"][name] for name in lost},
                       "warnings": [warning for warning in result["warnings"] if warning["part"] in lost],
                       "ok": all(result["scores"][name] is None and name in warned for name in lost)})
    return checks


__all__ = ["Condition", "audio_flags", "baseline_predictors", "conditions", "distinct_sessions", "draw_metrics",
           "lost_targets", "mean_over_draws", "pipeline_check", "raw_scores", "reporting", "score_conditions"]
