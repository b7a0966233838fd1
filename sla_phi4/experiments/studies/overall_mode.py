"""Overall as its own output of the head, or the mean of the part outputs (`overall_mode`): the paper reports the
part mean for comparability and does not compare the two.

    sla ablation --study overall-mode [--backbone voxtral] [--seeds 0 1 2] [--workdir runs/ablation]

Two trained models per seed (`head`, `part_mean`) and, for free, the mean of the `head` model's own part outputs:
per-target RMSE and PCC on dev and eval.
"""

import os

import numpy as np

from sla_phi4.data.sessions import scorable_rows
from sla_phi4.evaluation.metrics import official_metrics
from sla_phi4.evaluation.scoring import marks, read_predictions
from sla_phi4.experiments.studies.report import (
    BASELINE_LABELS, STUDY_FORMAT, TARGETS, baseline_lines, baselines, figure, grouped_bars, mean_sd, per_target,
    runs_line, split_sizes, spread, table, write_study,
)
from sla_phi4.experiments.studies.runs import StudySettings, Variant, run_variants


HEAD, PART_MEAN = "head", "part_mean"  # overall its own output; overall the mean of the part outputs
POST_HOC = "mean of the head model's part outputs"
VARIANTS = [Variant(HEAD), Variant(PART_MEAN, {"overall_mode": "part_mean"})]
SPLITS = ("eval", "dev")
PARTS = TARGETS[:-1]


def part_mean_of(summary: dict, corpus_dir: str, split: str) -> dict:
    """RMSE and PCC of overall taken as the mean of a run's own part predictions (sessions with all four)."""
    rows = scorable_rows(corpus_dir, split, "error")
    folder = os.path.join(summary["folder"], "reports", split, "predictions")
    predictions = read_predictions(folder, split, rows, list(TARGETS), STUDY_FORMAT)
    references = marks(rows, list(TARGETS))[:, -1]
    overall = predictions[:, : len(PARTS)].mean(axis=1)  # NaN unless every part has a prediction
    present = np.isfinite(overall) & np.isfinite(references)
    metrics = official_metrics(overall[present], references[present])
    return {"rmse": metrics["rmse"], "pcc": metrics["pcc"]}


def aggregate(results: dict[str, list[dict]], corpus_dir: str) -> dict:
    """Per variant, split and target the spread of RMSE and PCC; and the head runs' post-hoc part mean."""
    stats = {label: {split: {target: {metric: per_target(runs, split, metric)[target] for metric in ("rmse", "pcc")}
                             for target in TARGETS} for split in SPLITS}
             for label, runs in results.items()}
    post_hoc = {split: [part_mean_of(run, corpus_dir, split) for run in results[HEAD]] for split in SPLITS}
    stats[POST_HOC] = {split: {"overall": {metric: spread([entry[metric] for entry in post_hoc[split]])
                                           for metric in ("rmse", "pcc")}} for split in SPLITS}
    return stats


def cell(stats: dict, label: str, split: str, target: str) -> str:
    values = stats[label][split].get(target)
    return "" if values is None else f"{mean_sd(values['rmse'])} / {mean_sd(values['pcc'], 2)}"


def markdown(stats: dict, references: dict, footer: str) -> str:
    header = ["target", *(f"{split}: {label}, RMSE / PCC" for split in SPLITS for label in (HEAD, PART_MEAN)),
              *(f"{split} {BASELINE_LABELS[name]} RMSE" for split in SPLITS for name in references[split])]
    rows = [[target, *(cell(stats, label, split, target) for split in SPLITS for label in (HEAD, PART_MEAN)),
             *(f"{references[split][name][target]:.3f}" for split in SPLITS for name in references[split])]
            for target in TARGETS]
    post_hoc = [cell(stats, POST_HOC, split, "overall") if label == HEAD else ""
                for split in SPLITS for label in (HEAD, PART_MEAN)]
    rows.append([f"overall, {POST_HOC}", *post_hoc, *([""] * (len(header) - 1 - len(post_hoc)))])
    return table(header, rows) + "\n\n" + footer + (
        " `head`: overall is its own output; `part_mean`: overall is the mean of the part outputs (trained so). The "
        f"last row is the {POST_HOC} (no training of its own), in the head columns.")


def plot(stats: dict, references: dict):
    canvas, axes = figure(2, width=4.6)
    for axis, split in zip(axes[0], SPLITS):
        groups = {label: {t: stats[label][split][t]["rmse"] for t in TARGETS} for label in (HEAD, PART_MEAN)}
        grouped_bars(axis, groups, TARGETS, f"{split} RMSE", f"{split}: overall mode (mean ± sd over seeds)")
        post_hoc = stats[POST_HOC][split]["overall"]["rmse"]
        axis.errorbar([len(TARGETS) - 1 + 0.45], [post_hoc["mean"]], yerr=[post_hoc["sd"]], fmt="D", color="black",
                      capsize=3, label=POST_HOC)
        baseline_lines(axis, references[split], TARGETS)
    axes[0, 0].legend(fontsize=6)
    return canvas


def run(study: StudySettings) -> dict:
    results = run_variants(study, VARIANTS)
    stats = aggregate(results, study.corpus_dir)
    first = results[HEAD][0]
    references = {split: baselines(first, split) for split in SPLITS}
    footer = runs_line(sum(results.values(), []), study.seeds, split_sizes(first))
    report = {"study": "overall-mode", "backbone": study.backbone, "seeds": study.seeds, "table": stats,
              "baselines": references,
              "runs": {label: [{key: run[key] for key in ("eval", "dev", "folder")} for run in runs]
                       for label, runs in results.items()}}
    return write_study(study, report, markdown(stats, references, footer), plot(stats, references))


__all__ = ["VARIANTS", "aggregate", "part_mean_of", "run"]
