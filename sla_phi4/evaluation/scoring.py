#!/usr/bin/env python
"""Scores a cohort with a checkpoint: a split of a kit-layout corpus (marked or not), a manifest of one's own
recordings, or a folder of learner folders; reports the official S&I metrics where there are marks.

    sla score --checkpoint runs/sla --corpus_root corpus --split eval \
        --output_dir reports/eval [--calibrate_on dev] [--train_split train]
    sla score --checkpoint runs/sla --manifest recordings.csv --output_dir reports/cohort
    sla score --checkpoint runs/sla --audio_dir uploads/ --output_dir reports/cohort

The cohort is read in the checkpoint's test format (a corpus whose own `test_format.json` names another format is
refused). Writes `predictions/{split}-sla-{target}.tsv` (`submissionID<TAB>score`, the kit's format and the
format's names; raw model outputs, neither clipped nor rounded), `scores.csv` (one row per session: scores
as the pipeline reports them, bands, levels, intervals, referral, warnings), a strict-JSON report (every session
counted: scored, refused and flagged by reason, missing; every target with its counts, and its metrics or why it has
none; with a train split, three baselines: the training mean, and ridge regressions on timing features and on the
APP's pooled Whisper states), and PNG plots (scores by band; with marks, predicted against reference and error by
band).

Nothing stops the run for one bad file: a session with a response that is missing, unreadable, empty or not finite
is refused (no scores, its response, file and reason in the report and `scores.csv`), a truncated or far too long
response is flagged; `--strict` stops at the first instead.

Scoring is sharded and resumable. It runs unchanged under `torchrun --nproc_per_node N -m sla_phi4 score ...` or
`accelerate launch -m sla_phi4 score ...` (CPU processes with gloo, GPUs, several machines): sessions are shared
between processes in length-balanced shards, each process appends its predictions to its own shard file
(`shards/`, flushed per batch), and the main process merges them into the files below. A run that is killed, or run
again after some recordings changed, scores only the sessions without a prediction made from their current files
(see `shards.py`); another checkpoint is refused unless `--overwrite`.

A session gets no score for a part it has no (or too few) responses of, nor overall unless every part is scored;
with `--on_unscorable skip`, none for a part with a response that cannot be assessed either (`--on_unscorable
error` stops at the first). Those are left out of the prediction files, and the report counts them (`not_scored`,
`missing_predictions`) with every warning by reason (`warnings`).
"""

import os
from dataclasses import dataclass

import numpy as np
import torch
from accelerate import PartialState
from tqdm.auto import tqdm

from modeling_sla.pipeline_sla import UNSCORABLE_POLICIES
from processing_sla import SLAProcessor
from sla_phi4 import strict_json
from sla_phi4.data.ahead import default_num_workers
from sla_phi4.data.cohort import Cohort, folder_cohort, kit_cohort, manifest_cohort
from sla_phi4.data.sessions import scorable_rows
from sla_phi4.evaluation.baselines import RidgeBaseline, session_features
from sla_phi4.evaluation.cohort_report import cohort_records, format_sessions, session_counts, target_table
from sla_phi4.evaluation.fairness import fairness_section
from sla_phi4.evaluation.intake import Intake, take_in
from sla_phi4.evaluation.loading import load_scoring_model, scoring_dtype
from sla_phi4.evaluation.metrics import official_metrics, within_keys
from sla_phi4.evaluation.predictions import default_batch_size, evidence_from_records, marks, predict
from sla_phi4.evaluation.recalibration import apply_recalibration, describe_recalibration, fit_recalibration
from sla_phi4.evaluation.scores_table import SCORES_FILE, write_scores_table
from sla_phi4.evaluation.shards import checkpoint_fingerprint, score_into_shards
from sla_phi4.evaluation.uncertainty import apply_intervals, difficulties
from sla_phi4.evaluation.uncertainty_report import judged_target, session_referrals, uncertainty_report
from sla_phi4.training.session_cache import SessionCache


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
    """The plots of a report: the distribution of each target's scores by band (always); predicted against
    reference, and the error of the judged target by reference band, where there are marks to compare with."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = [plot_distribution(plt, folder, predictions, names, split, test_format)]
    paired = np.isfinite(references) & np.isfinite(predictions)
    if not paired.any():
        return paths
    figure, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.4), squeeze=False)
    for column, (name, axis) in enumerate(zip(names, axes[0])):
        present = paired[:, column]
        scale = test_format.target_scale(name)
        margin = 0.2 * (scale.max - scale.min) / 3.5  # 0.2 on the S&I scale
        axis.scatter(references[present, column], predictions[present, column], s=12, alpha=0.7)
        axis.plot([scale.min, scale.max], [scale.min, scale.max], color="grey", linewidth=1)
        axis.set(title=name if present.any() else f"{name} (no marks)", xlabel="reference",
                 ylabel="predicted" if column == 0 else None,
                 xlim=(scale.min - margin, scale.max + margin), ylim=(scale.min - margin, scale.max + margin))
    figure.suptitle(f"Predicted against reference ({split})")
    figure.tight_layout()
    paths.append(os.path.join(folder, f"{split}-pred-vs-ref.png"))
    figure.savefig(paths[-1], dpi=110)
    plt.close(figure)

    column = names.index("overall") if "overall" in names else 0
    present = paired[:, column]
    if not present.any():
        return paths
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


def plot_distribution(plt, folder: str, predictions: np.ndarray, names: list[str], split: str, test_format) -> str:
    """Sessions by the nearest band of each target's score (clipped to its scale), one panel per target."""
    figure, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0), squeeze=False)
    for column, (name, axis) in enumerate(zip(names, axes[0])):
        scale = test_format.target_scale(name)
        scored = predictions[np.isfinite(predictions[:, column]), column]
        counts = np.bincount([scale.band_index(value) for value in scored], minlength=scale.num_bands)
        axis.bar(scale.bands, counts, width=0.8 * scale.step)
        axis.set(title=f"{name} ({len(scored)} scored)", xlabel="band", ylabel="sessions" if column == 0 else None)
    figure.suptitle(f"Scores by band ({split})")
    figure.tight_layout()
    path = os.path.join(folder, f"{split}-score-distribution.png")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


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


MISSING_POLICIES = ("refuse", "skip", "error")


@dataclass
class ScoringOptions:
    """How `sla score` scores a cohort.

    Args:
        batch_size: sessions per forward pass (default: `default_batch_size`).
        num_workers: processes that load and featurize sessions ahead of the model (default: `default_num_workers`:
            on an accelerator, this process's share of the cores less one, at most 8; none on the CPU).
        dtype: the model's dtype: `auto` (the checkpoint's), `bfloat16` or `float32` (see `scoring_dtype`).
        on_unscorable: responses that cannot be assessed: score and flag (`warn`), no score for their part and
            overall (`skip`), or stop (`error`).
        on_missing: a listed file that does not exist: refuse its session (`refuse`), score the session without it
            (`skip`), or stop before scoring (`error`).
        strict: stop (non-zero exit) at the first session that would be refused or flagged.
        overwrite: an output folder scored by another checkpoint, format or policy is emptied, not refused.
        cache_dir: a session cache (`train.py --cache_dir`) whose frozen-encoder outputs are reused and extended.
        groups, group_columns, fairness_target: the fairness section (see `fairness_section`).
        dataset_name: the dataset's name in the report (default: the source folder's or file's name).
    """

    batch_size: int | None = None
    num_workers: int | None = None
    dtype: str = "auto"
    on_unscorable: str = "warn"
    on_missing: str = "refuse"
    strict: bool = False
    overwrite: bool = False
    cache_dir: str | None = None
    groups: str | None = None
    group_columns: list[str] | None = None
    fairness_target: str | None = None
    dataset_name: str | None = None

    def check(self) -> None:
        scoring_dtype(self.dtype)
        if self.num_workers is not None and self.num_workers < 0:
            raise ValueError(f"num_workers must be 0 or more, got {self.num_workers}")
        if self.on_unscorable not in UNSCORABLE_POLICIES:
            raise ValueError(f"on_unscorable must be one of {UNSCORABLE_POLICIES}, got {self.on_unscorable!r}")
        if self.on_missing not in MISSING_POLICIES:
            raise ValueError(f"on_missing must be one of {MISSING_POLICIES}, got {self.on_missing!r}")

    @property
    def unscorable_policy(self) -> str:
        """`strict` stops at a response that cannot be assessed too."""
        return "error" if self.strict else self.on_unscorable


def score_corpus(checkpoint: str, corpus_root: str, split: str, output_dir: str, *, calibrate_on: str | None = None,
                 train_split: str | None = "train", calibration_predictions: str | None = None, **options) -> dict:
    """Scores a kit split (see `score_cohort`); with `calibrate_on`, also fits a linear calibration on that split,
    reading its predictions from `calibration_predictions` (a folder of kit-format files written by an earlier
    call) instead of rescoring it; with `train_split`, adds the baselines fitted on it. `options`: the fields of
    ScoringOptions."""
    settings = ScoringOptions(**options)
    settings.check()
    return score_cohort(checkpoint, lambda test_format: kit_cohort(corpus_root, split, test_format,
                                                                   settings.on_missing),
                        output_dir, settings, calibrate_on=calibrate_on, train_split=train_split,
                        calibration_predictions=calibration_predictions)


def score_recordings(checkpoint: str, output_dir: str, *, manifest: str | None = None, audio_dir: str | None = None,
                     name: str = "cohort", **options) -> dict:
    """Scores one's own recordings: a manifest (CSV or JSON Lines) or a folder of learner folders (see
    `sla_phi4.data.cohort`); the output files are named after `name`. `options`: the fields of ScoringOptions."""
    if (manifest is None) == (audio_dir is None):
        raise ValueError("Give one of a manifest or an audio folder.")
    settings = ScoringOptions(**options)
    settings.check()
    if manifest is not None:
        return score_cohort(checkpoint, lambda test_format: manifest_cohort(manifest, test_format, name),
                            output_dir, settings)
    return score_cohort(checkpoint, lambda test_format: folder_cohort(audio_dir, test_format, name), output_dir,
                        settings)


def scoring_workers(num_workers: int | None, device: torch.device) -> int:
    """`num_workers`, or by default this process's share of its machine's cores (`default_num_workers`)."""
    return default_num_workers(device) if num_workers is None else num_workers


def shard_manifest(checkpoint: str, test_format, cohort: Cohort, intake: Intake, settings: ScoringOptions) -> dict:
    """What the shards are scored from (see `shards.py`): the run's identity, where things are, each session's
    inputs."""
    return {"version": 2, "checkpoint_sha256": checkpoint_fingerprint(checkpoint),
            "test_format": test_format.to_dict(), "split": cohort.name,
            # What the records hold: a policy that stops (error, --strict) scores what it scores as the default does.
            "on_unscorable": "skip" if settings.unscorable_policy == "skip" else "warn",
            "on_missing": "skip" if settings.on_missing == "skip" else "refuse",
            # Cast to another dtype, a model scores otherwise (bf16 rounding): those shards are another run's.
            **({"dtype": settings.dtype} if settings.dtype != "auto" else {}),
            "about": {"checkpoint": os.path.abspath(checkpoint), "source": cohort.source, "kind": cohort.kind},
            "inputs": intake.inputs}


def score_cohort(checkpoint: str, read_cohort, output_dir: str, settings: ScoringOptions, *,
                 calibrate_on: str | None = None, train_split: str | None = None,
                 calibration_predictions: str | None = None) -> dict | None:
    """Scores the cohort `read_cohort(test_format)` gives into `output_dir`: prediction files, the report, the
    plots, `scores.csv`, and for a calibrated checkpoint the referrals file. Sessions that cannot be read are
    refused and counted, never stop the run (unless `settings.strict`). Returns the report (None on a process other
    than the main one)."""
    os.makedirs(output_dir, exist_ok=True)
    batch_size = settings.batch_size or default_batch_size()
    state = PartialState(cpu=not torch.cuda.is_available())  # CPU processes under torchrun: gloo
    model = load_scoring_model(checkpoint, state.device, settings.dtype)
    processor = SLAProcessor.from_pretrained(checkpoint)
    names = list(model.config.score_names)
    test_format = model.config.get_test_format()
    cohort = read_cohort(test_format)
    if cohort.kind != "kit" and (calibrate_on or train_split):
        raise ValueError("Calibration and baselines need a kit corpus (--corpus_root) with marks.")
    split = cohort.name
    intake = take_in(cohort.rows, "skip" if settings.on_missing == "skip" else "refuse", settings.strict)
    workers = scoring_workers(settings.num_workers, state.device)
    shards, scored_now = score_into_shards(
        model, processor, intake, shard_manifest(checkpoint, test_format, cohort, intake, settings), split,
        output_dir, state, batch_size, settings.unscorable_policy, settings.cache_dir, settings.overwrite,
        "error" if settings.strict else "refuse", workers)
    if not state.is_main_process:
        return None
    records = cohort_records(cohort, intake, shards.records, len(names))
    scored_rows = {row["session_id"]: row for row in intake.rows}
    rows = [scored_rows.get(row["session_id"], row) for row in cohort.rows]
    evidence, warnings = evidence_from_records(rows, records, test_format)
    predictions, references = evidence.predictions, evidence.references
    metrics = metric_table(predictions, references, names, test_format)
    report = {
        "split": split,
        "source": {"kind": cohort.kind, "path": cohort.source},
        "dataset": {"name": settings.dataset_name or os.path.basename(cohort.source.rstrip(os.sep)),
                    "id": cohort.source},
        "checkpoint": checkpoint,
        "test_format": test_format.name,
        "num_sessions": len(rows),
        "sessions": session_counts(cohort, records),
        "targets": target_table(predictions, references, names, cohort, metrics),
        "metrics": metrics,
        "on_unscorable": settings.unscorable_policy,
        "on_missing": settings.on_missing,
        **unscored_summary(predictions, references, warnings, names),
        "scoring": {"processes": state.num_processes, "device": model.device.type,
                    "dtype": str(model.backbone.dtype).removeprefix("torch."), "batch_size": batch_size,
                    "num_workers": workers, "scored_now": scored_now,
                    "kept": len(intake.rows) - scored_now, "stale_lines": shards.stale,
                    "refused_before_scoring": len(intake.refused), "scored_twice": shards.duplicates,
                    "incomplete_lines_repaired": shards.repaired, "shards": "shards/"},
    }
    if calibrate_on:
        add_calibration(report, model, processor, cohort.source, calibrate_on, split, rows, predictions, references,
                        calibration_predictions, settings, batch_size, test_format, output_dir)
    if train_split:
        train_rows = scorable_rows(cohort.source, train_split, "error" if settings.on_missing == "error" else "skip",
                                   test_format)
        app_cache = SessionCache(model, processor, ("app",), settings.cache_dir, workers) if model.app is not None \
            else None
        report["baselines"], report["baseline_ridge_alphas"] = baselines(train_rows, rows, names, references,
                                                                         test_format, app_cache)
    write_predictions(os.path.join(output_dir, "predictions"), split, rows, predictions, names, test_format)
    report["plots"] = [os.path.basename(path) for path in plot_report(output_dir, predictions, references, names,
                                                                      split, test_format)]
    calibration = model.config.uncertainty
    if calibration is not None:
        report["uncertainty"] = uncertainty_report(calibration, evidence, warnings, test_format,
                                                   model.config.band_values, output_dir, split)
    intervals = (apply_intervals(calibration, evidence, test_format, model.config.band_values)
                 if calibration is not None else None)
    hardness = (difficulties(calibration, evidence, test_format, model.config.band_values)
                if calibration is not None else np.full(len(rows), np.nan))
    report["scores_file"] = SCORES_FILE
    write_scores_table(os.path.join(output_dir, report["scores_file"]), evidence.session_ids, predictions,
                       [records[session_id].get("refused", False) for session_id in evidence.session_ids],
                       warnings, session_referrals(calibration, warnings, hardness), test_format, intervals)
    target = settings.fairness_target or judged_target(names)
    if np.isfinite(references[:, names.index(target)]).sum() >= 2:
        column = names.index(target)
        report["fairness"] = fairness_section(evidence.session_ids, predictions[:, column], references[:, column],
                                              test_format, target, settings.groups, settings.group_columns)
    strict_json.write(os.path.join(output_dir, f"{split}_report.json"), report)
    return report


def add_calibration(report: dict, model, processor, corpus_root: str, calibrate_on: str, split: str, rows: list[dict],
                    predictions: np.ndarray, references: np.ndarray, calibration_predictions: str | None,
                    settings: ScoringOptions, batch_size: int, test_format, output_dir: str) -> None:
    """Fits a linear calibration on `calibrate_on` where it can be trusted (`recalibration.py`) and adds its section;
    writes the calibrated predictions."""
    names = test_format.score_names
    if calibrate_on == split:
        raise ValueError("Calibration must be fitted on another split than the one scored.")
    calibration_rows = scorable_rows(corpus_root, calibrate_on, "error" if settings.on_missing == "error" else "skip",
                                     test_format)
    if calibration_predictions:
        fitted_on = read_predictions(calibration_predictions, calibrate_on, calibration_rows, names, test_format)
    else:
        fitted_on = predict(model, processor, calibration_rows, batch_size, settings.unscorable_policy,
                            num_workers=scoring_workers(settings.num_workers, model.device))[0]
    calibration = fit_recalibration(fitted_on, marks(calibration_rows, names), names)
    predictions_calibrated = apply_recalibration(predictions, calibration, names)
    report["calibration"] = {"fitted_on": calibrate_on, "coefficients": calibration,
                             "summary": describe_recalibration(calibration, calibrate_on),
                             "metrics": metric_table(predictions_calibrated, references, names, test_format)}
    write_predictions(os.path.join(output_dir, "predictions-calibrated"), split, rows, predictions_calibrated,
                      names, test_format)


BASELINE_COLUMNS = {"train_mean": "mean", "acoustic_ridge": "timing ridge", "whisper_ridge": "Whisper ridge"}


def format_table(report: dict) -> str:
    """The metric table of a report, with each baseline's RMSE beside the model's."""
    baselines = {key: label for key, label in BASELINE_COLUMNS.items() if key in report.get("baselines", {})}
    # The agreement columns of the first target (S&I: <0.5% and <1.0%); a target on a scale of its own (TOEFL's
    # overall) shows its own thresholds in the same columns.
    within = within_keys(dict(list(report["metrics"].items())[:1])) if report["metrics"] else []
    lines = [f"{'target':8} {'RMSE':>6} {'PCC':>6} {'SRC':>6} {'KRC':>6} "
             + " ".join(f"{'<' + key.removeprefix('within_') + '%':>6}" for key in within) + " "
             + " ".join(f"{label + ' RMSE':>18}" for label in baselines.values())]
    if not report["metrics"]:
        lines = ["No target has metrics (the reasons follow)."]
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
    sessions = format_sessions(report)
    if sessions:
        lines.append(sessions)
    scoring = report.get("scoring", {})
    if scoring.get("kept"):
        lines.append(f"Scored now: {scoring['scored_now']} sessions (new or changed); kept from the last run: "
                     f"{scoring['kept']} (their files unchanged).")
    if report.get("scores_file"):
        lines.append(f"Per session: {report['scores_file']}")
    return "\n".join(lines)
