#!/usr/bin/env python
"""Scores a split of a kit-layout corpus with a checkpoint and reports the official S&I metrics.

    sla score --checkpoint runs/sla --corpus_root corpus --split eval \
        --output_dir reports/eval [--calibrate_on dev] [--train_split train]

The corpus is read in the checkpoint's test format (a corpus whose own `test_format.json` names another format is
refused). Writes `predictions/{split}-sla-{target}.tsv` (`submissionID<TAB>score`, the kit's format and the
format's names), a JSON report with every target's metrics (agreement within one and two bands of its scale) beside
three baselines (the training mean, and ridge regressions on timing features and on the APP's pooled Whisper states,
fitted on the training split), and PNG plots (predicted against reference; error by band).

Scoring is sharded and resumable. It runs unchanged under `torchrun --nproc_per_node N -m sla_phi4 score ...` or
`accelerate launch -m sla_phi4 score ...` (CPU processes with gloo, GPUs, several machines): sessions are shared
between processes in length-balanced shards, each process appends its predictions to its own shard file
(`shards/`, flushed per batch), and the main process merges them into the files below. A run that is killed and
started again with the same command scores only the sessions without a prediction (see `shards.py`).

A session gets no score for a part it has no (or too few) responses of, nor overall unless every part is scored;
with `--on_unscorable skip`, none for a part with a response that cannot be assessed either (`--on_unscorable
error` stops at the first). Those are left out of the prediction files, and the report counts them (`not_scored`,
`missing_predictions`) with every warning by reason (`warnings`).
"""

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from accelerate import PartialState
from tqdm.auto import tqdm

from modeling_sla import SLAForSessionScoring
from modeling_sla.pipeline_sla import UNSCORABLE_POLICIES, reported_targets
from processing_sla import SLAProcessor
from sla_phi4.data.sessions import scorable_rows, session_seconds
from sla_phi4.evaluation.baselines import RidgeBaseline, session_features
from sla_phi4.evaluation.metrics import official_metrics, within_keys
from sla_phi4.evaluation.fairness import fairness_section
from sla_phi4.evaluation.shards import (
    ShardRecords,
    ShardWriter,
    balanced_shards,
    check_manifest,
    checkpoint_fingerprint,
    read_shards,
    record,
    shard_path,
)
from sla_phi4.evaluation.uncertainty import Evidence, missing_answers
from sla_phi4.evaluation.uncertainty_report import judged_target, uncertainty_report
from sla_phi4.training.session_cache import SessionCache


def default_batch_size() -> int:
    """8 on CUDA; 1 on CPU, where padded batches ran at 0.77x the speed of single sessions (sdpa's masked math
    path; `sla benchmark` measures it)."""
    return 8 if torch.cuda.is_available() else 1


@dataclass
class ScoredSession:
    """One session as scored: its row's index, its scores (NaN for a target it gets no score for), warnings, and
    the APP's band probabilities (None without the APP)."""

    index: int
    session_id: str
    scores: np.ndarray
    warnings: list[dict]
    app_probs: np.ndarray | None


def score_sessions(model, processor, rows: list[dict], batch_size: int | None = None, on_unscorable: str = "warn",
                   cache: SessionCache | None = None, description: str = "Scoring sessions"
                   ) -> Iterator[list[ScoredSession]]:
    """Scores `rows` in batches of similar length (less padding), yielding each batch's sessions as they are scored.
    A target a session gets no score for (the pipeline's rules, `reported_targets`) is NaN. With `cache` (speech
    and APP parts), the frozen encoders' outputs come from it."""
    batch_size = batch_size or default_batch_size()
    order = np.argsort([session_seconds(row) for row in rows], kind="stable")
    names = list(model.config.score_names)
    test_format = model.config.get_test_format()
    model.eval()
    with torch.no_grad(), tqdm(total=len(rows), desc=description, unit="session") as progress:
        for start in range(0, len(rows), batch_size):
            indices = order[start : start + batch_size].tolist()
            batch = model_inputs(processor, [rows[index] for index in indices], cache)
            checked = []
            for index, flags in zip(indices, batch.pop("audio_flags")):
                parts = [response["part"] for response in rows[index]["responses"]]
                checked.append(reported_targets(test_format, parts, flags, on_unscorable, rows[index]["session_id"]))
            outputs = model(**batch)
            raw = outputs.scores.float().cpu().numpy()
            probs = None if outputs.app_probs is None else outputs.app_probs.float().cpu().numpy()
            yield [ScoredSession(index, rows[index]["session_id"],
                                 np.array([value if name in reported else np.nan for name, value in zip(names, values)]),
                                 warnings, None if probs is None else probs[position])
                   for position, (index, values, (reported, warnings)) in enumerate(zip(indices, raw, checked))]
            progress.update(len(indices))


def predict(model, processor, rows: list[dict], batch_size: int | None = None,
            on_unscorable: str = "warn", cache: SessionCache | None = None, app_probs: list | None = None
            ) -> tuple[np.ndarray, list[list[dict]]]:
    """`(len(rows), num_scores)` scores (NaN for the targets a session gets no score for) and each session's
    warnings, in the order of `rows` (see `score_sessions`). A list given as `app_probs` receives each session's APP
    band probabilities (the model needs its APP)."""
    scores = np.full((len(rows), model.config.num_scores), np.nan)
    warnings: list[list[dict]] = [[] for _ in rows]
    probs: dict[int, np.ndarray] = {}
    for batch in score_sessions(model, processor, rows, batch_size, on_unscorable, cache):
        for session in batch:
            scores[session.index], warnings[session.index] = session.scores, session.warnings
            probs[session.index] = session.app_probs
    if app_probs is not None:
        app_probs.extend(probs[index] for index in range(len(rows)))
    return scores, warnings


def load_split(model, processor, corpus_root: str, split: str, on_missing: str = "error",
               cache_dir: str | None = None) -> tuple[list[dict], SessionCache | None]:
    """A split's rows in the model's format, and (with `cache_dir`) a session cache that holds their encodings."""
    rows = scorable_rows(corpus_root, split, on_missing, model.config.get_test_format())
    if cache_dir is None:
        return rows, None
    cache = SessionCache(model, processor, folder=cache_dir)
    cache.add(rows, "Encoding sessions (frozen encoders)")
    return rows, cache


def score_into_shards(model, processor, rows: list[dict], checkpoint: str, corpus_root: str, split: str,
                      output_dir: str, state, batch_size: int | None, on_unscorable: str, cache_dir: str | None
                      ) -> ShardRecords:
    """Scores the sessions of `rows` that no shard holds yet, this process's length-balanced share of them into its
    own shard file; waits for every process, and returns (on the main process) every shard's records."""
    folder = os.path.join(output_dir, "shards")
    manifest = {"checkpoint": checkpoint_fingerprint(checkpoint), "corpus_root": os.path.abspath(corpus_root),
                "split": split, "sessions": len(rows), "on_unscorable": on_unscorable}
    if state.is_main_process:
        check_manifest(folder, manifest)
        done = read_shards(folder, split)  # repairs an incomplete last line before anyone reads it
    state.wait_for_everyone()
    if not state.is_main_process:
        done = read_shards(folder, split)
    todo = [index for index, row in enumerate(rows) if row["session_id"] not in done.records]
    seconds = {index: session_seconds(rows[index]) for index in todo}
    mine = [rows[index] for index in balanced_shards(todo, seconds, state.num_processes)[state.process_index]]
    if state.is_main_process and done.records:
        print(f"{split}: {len(done.records)} sessions already scored in {folder}; scoring the other {len(todo)}.",
              flush=True)
    cache = None
    if cache_dir is not None and mine:
        cache = SessionCache(model, processor, folder=cache_dir)
        cache.add(mine, "Encoding sessions (frozen encoders)")
    with ShardWriter(shard_path(folder, split, state.process_index)) as writer:
        description = f"Scoring sessions (process {state.process_index + 1} of {state.num_processes})"
        for batch in score_sessions(model, processor, mine, batch_size, on_unscorable, cache, description):
            writer.append([record(session) for session in batch])
    state.wait_for_everyone()
    return read_shards(folder, split) if state.is_main_process else ShardRecords()


def evidence_from_records(rows: list[dict], records: dict[str, dict], test_format
                          ) -> tuple[Evidence, list[list[dict]]]:
    """The evidence and warnings of `rows` from their shard records (every session must have one)."""
    missing = [row["session_id"] for row in rows if row["session_id"] not in records]
    if missing:
        raise ValueError(f"{len(missing)} sessions have no prediction in the shards, e.g. {missing[:3]}.")
    entries = [records[row["session_id"]] for row in rows]
    predictions = np.array([[np.nan if value is None else value for value in entry["scores"]] for entry in entries],
                           dtype=float).reshape(len(rows), len(test_format.score_names))
    warnings = [entry["warnings"] for entry in entries]
    probs = [entry["app_probs"] for entry in entries]
    flagged = np.array([any(warning["response_id"] is not None for warning in session) for session in warnings])
    evidence = Evidence([row["session_id"] for row in rows], predictions, marks(rows, test_format.score_names),
                        None if not probs or probs[0] is None else np.array(probs),
                        missing_answers(rows, test_format), flagged)
    return evidence, warnings


def gather_evidence(model, processor, rows: list[dict], batch_size: int | None = None, on_unscorable: str = "warn",
                    cache: SessionCache | None = None) -> tuple[Evidence, list[list[dict]]]:
    """What the model says about `rows` (scores as reported, APP probabilities, the share of answers missing,
    whether a response cannot be assessed) beside their marks; and each session's warnings."""
    test_format = model.config.get_test_format()
    probs = [] if model.app is not None else None
    predictions, warnings = predict(model, processor, rows, batch_size, on_unscorable, cache, app_probs=probs)
    flagged = np.array([any(warning["response_id"] is not None for warning in session) for session in warnings])
    evidence = Evidence([row["session_id"] for row in rows], predictions, marks(rows, test_format.score_names),
                        None if probs is None else np.stack(probs), missing_answers(rows, test_format), flagged)
    return evidence, warnings


def model_inputs(processor, rows: list[dict], cache: SessionCache | None) -> dict:
    """A batch of model inputs with each session's `audio_flags`: through the processor, or from `cache`."""
    if cache is None:
        return dict(processor(rows))
    flags = [processor.assess_session(row, processor.load_session_audio(row, index)) for index, row in enumerate(rows)]
    return {**cache.batch(rows), "audio_flags": flags}


def unscored_summary(predictions: np.ndarray, references: np.ndarray, warnings: list[list[dict]],
                     names: list[str]) -> dict:
    """Counts, per target, the sessions without a score (`not_scored`) and those of them with a reference mark
    (`missing_predictions`: the metrics leave them out), and every warning by reason."""
    by_reason: dict[str, int] = {}
    for warning in (warning for session in warnings for warning in session):
        by_reason[warning["reason"]] = by_reason.get(warning["reason"], 0) + 1
    missing = ~np.isfinite(predictions)
    return {
        "not_scored": {name: int(missing[:, column].sum()) for column, name in enumerate(names)},
        "missing_predictions": {name: int((missing[:, column] & np.isfinite(references[:, column])).sum())
                                for column, name in enumerate(names)},
        "warnings": {"sessions": sum(bool(session) for session in warnings), "by_reason": by_reason},
    }


def marks(rows: list[dict], names: list[str]) -> np.ndarray:
    return np.array([[np.nan if row.get(name) is None else row[name] for name in names] for row in rows], dtype=float)


def metric_table(predictions: np.ndarray, references: np.ndarray, names: list[str], test_format) -> dict:
    """Official metrics per target, over the sessions with both a reference and a prediction (at least two); the
    agreement thresholds are one and two bands of the target's scale (S&I: 0.5 and 1.0)."""
    table = {}
    for column, name in enumerate(names):
        present = np.isfinite(references[:, column]) & np.isfinite(predictions[:, column])
        if present.sum() >= 2:
            table[name] = official_metrics(predictions[present, column], references[present, column],
                                           test_format.target_scale(name).within)
    return table


def fit_calibration(predictions: np.ndarray, references: np.ndarray, names: list[str]) -> dict:
    """Per target, `reference ~ a * prediction + b` by least squares (as the S&I baseline calibrates)."""
    calibration = {}
    for column, name in enumerate(names):
        present = np.isfinite(references[:, column]) & np.isfinite(predictions[:, column])
        if present.sum() >= 2:
            slope, intercept = np.polyfit(predictions[present, column], references[present, column], 1)
            calibration[name] = {"slope": float(slope), "intercept": float(intercept)}
    return calibration


def apply_calibration(predictions: np.ndarray, calibration: dict, names: list[str]) -> np.ndarray:
    calibrated = predictions.copy()
    for column, name in enumerate(names):
        if name in calibration:
            calibrated[:, column] = calibration[name]["slope"] * predictions[:, column] + calibration[name]["intercept"]
    return calibrated


def prediction_file(folder: str, split: str, target: str, test_format) -> str:
    """A target's prediction file: the file name of the format's kit marks (S&I: `{split}-sla-{target}.tsv`)."""
    return os.path.join(folder, os.path.basename(test_format.kit_file("marks", split, target)))


def write_predictions(folder: str, split: str, rows: list[dict], predictions: np.ndarray, names: list[str],
                      test_format) -> None:
    """Kit-format files, one per target; a session without a score (NaN) has no line."""
    os.makedirs(folder, exist_ok=True)
    for column, name in enumerate(names):
        with open(prediction_file(folder, split, name, test_format), "w", encoding="utf-8") as handle:
            for row, value in zip(rows, predictions[:, column]):
                if np.isfinite(value):
                    handle.write(f"{row['session_id']}\t{value:.6f}\n")


def read_predictions(folder: str, split: str, rows: list[dict], names: list[str], test_format) -> np.ndarray:
    """Predictions written by `write_predictions`, in the order of `rows`; NaN for a session without a line. A line
    for a session that is not in `rows` is an error (files of another split)."""
    predictions = np.full((len(rows), len(names)), np.nan)
    known = {row["session_id"]: index for index, row in enumerate(rows)}
    for column, name in enumerate(names):
        path = prediction_file(folder, split, name, test_format)
        with open(path, encoding="utf-8") as handle:
            scores = dict(line.rstrip("\n").split("\t") for line in handle if line.strip())
        unknown = sorted(set(scores) - set(known))
        if unknown:
            raise ValueError(f"{path} has predictions for {len(unknown)} sessions not in {split}, e.g. {unknown[:3]}")
        for session_id, value in scores.items():
            predictions[known[session_id], column] = float(value)
    return predictions


def plot_report(folder: str, predictions: np.ndarray, references: np.ndarray, names: list[str], split: str,
                test_format) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    figure, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.4), squeeze=False)
    for column, (name, axis) in enumerate(zip(names, axes[0])):
        present = np.isfinite(references[:, column]) & np.isfinite(predictions[:, column])
        scale = test_format.target_scale(name)
        margin = 0.2 * (scale.max - scale.min) / 3.5  # 0.2 on the S&I scale
        axis.scatter(references[present, column], predictions[present, column], s=12, alpha=0.7)
        axis.plot([scale.min, scale.max], [scale.min, scale.max], color="grey", linewidth=1)
        axis.set(title=name, xlabel="reference", ylabel="predicted" if column == 0 else None,
                 xlim=(scale.min - margin, scale.max + margin), ylim=(scale.min - margin, scale.max + margin))
    figure.suptitle(f"Predicted against reference ({split})")
    figure.tight_layout()
    paths.append(os.path.join(folder, f"{split}-pred-vs-ref.png"))
    figure.savefig(paths[-1], dpi=110)
    plt.close(figure)

    column = names.index("overall") if "overall" in names else 0
    present = np.isfinite(references[:, column]) & np.isfinite(predictions[:, column])
    scale = test_format.target_scale(names[column])
    bands = np.round((references[present, column] - scale.min) / scale.step) * scale.step + scale.min
    errors = predictions[present, column] - references[present, column]
    levels = sorted(set(bands.tolist()))
    figure, axis = plt.subplots(figsize=(6, 3.4))
    axis.boxplot([errors[bands == level] for level in levels], tick_labels=[f"{level:.1f}" for level in levels])
    axis.axhline(0, color="grey", linewidth=1)
    axis.set(title=f"Error of {names[column]} by reference band ({split})", xlabel="reference band",
             ylabel="predicted - reference")
    figure.tight_layout()
    paths.append(os.path.join(folder, f"{split}-error-by-band.png"))
    figure.savefig(paths[-1], dpi=110)
    plt.close(figure)
    return paths


def baselines(train_rows: list[dict], rows: list[dict], names: list[str], references: np.ndarray, test_format,
              app_cache: SessionCache | None = None) -> dict:
    """The training mean; a ridge on timing features; with `app_cache` (the model's APP encoder), a ridge on the
    APP's own input, the session-pooled states of its frozen Whisper. Ridges are fitted on train, their strength
    chosen by cross-validation on train."""
    train_marks = marks(train_rows, names)
    mean = np.nanmean(train_marks, axis=0)
    constant = np.tile(mean, (len(rows), 1))
    features = {"acoustic_ridge": (
        np.stack([session_features(row) for row in tqdm(train_rows, desc="Timing features (train)")]),
        np.stack([session_features(row) for row in tqdm(rows, desc="Timing features")]),
    )}
    if app_cache is not None:
        app_cache.add(train_rows + rows, "Pooled Whisper states (APP input)")
        features["whisper_ridge"] = tuple(
            torch.stack([app_cache[row]["app_pooled"] for row in split]).numpy() for split in (train_rows, rows)
        )
    result, alphas = {"train_mean": metric_table(constant, references, names, test_format)}, {}
    for name, (train_features, split_features) in features.items():
        ridge = RidgeBaseline().fit(train_features, {target: train_marks[:, i] for i, target in enumerate(names)})
        predicted = ridge.predict(split_features)
        matrix = np.column_stack([predicted.get(target, constant[:, i]) for i, target in enumerate(names)])
        result[name], alphas[name] = metric_table(matrix, references, names, test_format), ridge.chosen_alphas()
    return result, alphas


def score_corpus(checkpoint: str, corpus_root: str, split: str, output_dir: str, *, calibrate_on: str | None = None,
                 train_split: str | None = "train", batch_size: int | None = None, dataset_name: str | None = None,
                 on_missing: str = "error", calibration_predictions: str | None = None,
                 on_unscorable: str = "warn", cache_dir: str | None = None, groups: str | None = None,
                 group_columns: list[str] | None = None, fairness_target: str | None = None) -> dict:
    """Scores `split`; with `calibrate_on`, also fits a calibration on that split, reading its predictions from
    `calibration_predictions` (a folder of kit-format files written by an earlier call) instead of rescoring it.
    `on_unscorable` ("warn", "skip" or "error") is the pipeline's policy for responses that cannot be assessed.
    `cache_dir`: a session cache (`train.py --cache_dir`) whose frozen-encoder outputs are reused and extended.
    A checkpoint calibrated by `sla calibrate` adds the `uncertainty` section and the referrals file. The `fairness`
    section is always there by reference band, and by group with `groups` (a TSV: submission ID, then group columns;
    `group_columns` picks some), on `fairness_target` (overall, else the first part)."""
    if on_unscorable not in UNSCORABLE_POLICIES:
        raise ValueError(f"on_unscorable must be one of {UNSCORABLE_POLICIES}, got {on_unscorable!r}")
    batch_size = batch_size or default_batch_size()
    model = SLAForSessionScoring.from_pretrained(checkpoint)
    processor = SLAProcessor.from_pretrained(checkpoint)
    names = list(model.config.score_names)
    test_format = model.config.get_test_format()
    state = PartialState(cpu=not torch.cuda.is_available())  # CPU processes under torchrun: gloo
    rows = scorable_rows(corpus_root, split, on_missing, test_format)
    shards = score_into_shards(model, processor, rows, checkpoint, corpus_root, split, output_dir, state,
                               batch_size, on_unscorable, cache_dir)
    if not state.is_main_process:
        return None
    evidence, warnings = evidence_from_records(rows, shards.records, test_format)
    predictions, references = evidence.predictions, evidence.references
    report = {
        "split": split,
        "dataset": {"name": dataset_name or os.path.basename(os.path.abspath(corpus_root)), "id": corpus_root},
        "checkpoint": checkpoint,
        "test_format": test_format.name,
        "num_sessions": len(rows),
        "metrics": metric_table(predictions, references, names, test_format),
        "on_unscorable": on_unscorable,
        **unscored_summary(predictions, references, warnings, names),
        "scoring": {"processes": state.num_processes, "scored_twice": shards.duplicates,
                    "incomplete_lines_repaired": shards.repaired, "shards": "shards/"},
    }
    if calibrate_on:
        if calibrate_on == split:
            raise ValueError("Calibration must be fitted on another split than the one scored.")
        calibration_rows = scorable_rows(corpus_root, calibrate_on, on_missing, test_format)
        if calibration_predictions:
            fitted_on = read_predictions(calibration_predictions, calibrate_on, calibration_rows, names, test_format)
        else:
            fitted_on = predict(model, processor, calibration_rows, batch_size, on_unscorable)[0]
        calibration = fit_calibration(fitted_on, marks(calibration_rows, names), names)
        predictions_calibrated = apply_calibration(predictions, calibration, names)
        report["calibration"] = {"fitted_on": calibrate_on, "coefficients": calibration,
                                 "metrics": metric_table(predictions_calibrated, references, names, test_format)}
        write_predictions(os.path.join(output_dir, "predictions-calibrated"), split, rows, predictions_calibrated,
                          names, test_format)
    if train_split:
        train_rows = scorable_rows(corpus_root, train_split, on_missing, test_format)
        app_cache = SessionCache(model, processor, ("app",), cache_dir) if model.app is not None else None
        report["baselines"], report["baseline_ridge_alphas"] = baselines(train_rows, rows, names, references,
                                                                         test_format, app_cache)
    write_predictions(os.path.join(output_dir, "predictions"), split, rows, predictions, names, test_format)
    report["plots"] = [os.path.basename(path) for path in plot_report(output_dir, predictions, references, names,
                                                                      split, test_format)]
    if model.config.uncertainty is not None:
        report["uncertainty"] = uncertainty_report(model.config.uncertainty, evidence, warnings, test_format,
                                                   model.config.band_values, output_dir, split)
    target = fairness_target or judged_target(names)
    if np.isfinite(references[:, names.index(target)]).sum() >= 2:
        column = names.index(target)
        report["fairness"] = fairness_section(evidence.session_ids, predictions[:, column], references[:, column],
                                              test_format, target, groups, group_columns)
    with open(os.path.join(output_dir, f"{split}_report.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    return report


BASELINE_COLUMNS = {"train_mean": "mean", "acoustic_ridge": "timing ridge", "whisper_ridge": "Whisper ridge"}


def format_table(report: dict) -> str:
    """The metric table of a report, with each baseline's RMSE beside the model's."""
    baselines = {key: label for key, label in BASELINE_COLUMNS.items() if key in report.get("baselines", {})}
    # The agreement columns of the first target (S&I: <0.5% and <1.0%); a target on a scale of its own (TOEFL's
    # overall) shows its own thresholds in the same columns.
    within = within_keys(dict(list(report["metrics"].items())[:1]))
    lines = [f"{'target':8} {'RMSE':>6} {'PCC':>6} {'SRC':>6} {'KRC':>6} "
             + " ".join(f"{'<' + key.removeprefix('within_') + '%':>6}" for key in within) + " "
             + " ".join(f"{label + ' RMSE':>18}" for label in baselines.values())]
    for name, values in report["metrics"].items():
        columns = [report["baselines"][key].get(name, {}).get("rmse", float("nan")) for key in baselines]
        lines.append(f"{name:8} {values['rmse']:6.3f} {values['pcc']:6.3f} {values['src']:6.3f} {values['krc']:6.3f} "
                     + " ".join(f"{values[key]:6.1f}" for key in within_keys({name: values})) + " "
                     + " ".join(f"{value:18.3f}" for value in columns))
    not_scored = {name: count for name, count in report.get("not_scored", {}).items() if count}
    if not_scored:
        lines.append("Not scored (sessions): " + ", ".join(f"{name} {count}" for name, count in not_scored.items())
                     + "; the metrics leave them out.")
    warnings = report.get("warnings", {})
    if warnings.get("sessions"):
        lines.append(f"Warnings in {warnings['sessions']} sessions: "
                     + ", ".join(f"{reason} {count}" for reason, count in sorted(warnings["by_reason"].items())))
    return "\n".join(lines)
