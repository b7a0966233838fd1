"""The paper's first ablation: the model with the Acoustic Proficiency Prior against the same model without it.

    sla ablation --study app [--backbone phi4] [--seeds 0 1 2] [--workdir runs/ablation]

The Phi-4 stand-in by default (the paper's backbone; its conformer is random, so words reach its language model only
through the APP). Eval RMSE and PCC per target, beside the training mean and the pooled-Whisper ridge.
"""

from sla_phi4.experiments.studies.report import (
    TARGETS, baseline_lines, baselines, figure, grouped_bars, mean_sd, per_target, runs_line, split_sizes, table,
    write_study,
)
from sla_phi4.experiments.studies.runs import StudySettings, Variant, run_variants


VARIANTS = [Variant("APP on"), Variant("APP off", {"use_app": False})]


def aggregate(results: dict[str, list[dict]]) -> dict:
    """Per variant and target: mean and standard deviation over seeds of eval RMSE and PCC."""
    return {label: {target: {metric: per_target(runs, "eval", metric)[target] for metric in ("rmse", "pcc")}
                    for target in TARGETS}
            for label, runs in results.items()}


def markdown(stats: dict, reference: dict, footer: str) -> str:
    header = ["target", *(f"{label}: RMSE / PCC" for label in stats), "training mean RMSE", "pooled-Whisper ridge RMSE"]
    rows = [[target, *(f"{mean_sd(stats[label][target]['rmse'])} / {mean_sd(stats[label][target]['pcc'], 2)}"
                       for label in stats),
             f"{reference['train_mean'][target]:.3f}", f"{reference['whisper_ridge'][target]:.3f}"]
            for target in TARGETS]
    return table(header, rows) + f"\n\n{footer} Eval split."


def plot(stats: dict, reference: dict):
    canvas, axes = figure(1, width=7.5, height=3.6)
    axis = axes[0, 0]
    grouped_bars(axis, {label: {t: values[t]["rmse"] for t in TARGETS} for label, values in stats.items()}, TARGETS,
                 "eval RMSE", "APP ablation (mean ± sd over seeds)")
    baseline_lines(axis, reference, TARGETS)
    axis.legend(fontsize=8)
    return canvas


def run(study: StudySettings) -> dict:
    results = run_variants(study, VARIANTS)
    stats = aggregate(results)
    first = results["APP on"][0]
    reference = baselines(first, "eval")
    footer = runs_line(sum(results.values(), []), study.seeds, split_sizes(first))
    report = {"study": "app", "backbone": study.backbone, "seeds": study.seeds, "table": stats,
              "baselines": reference, "runs": {label: [run["eval"] for run in runs] for label, runs in results.items()}}
    return write_study(study, report, markdown(stats, reference, footer), plot(stats, reference))


__all__ = ["VARIANTS", "aggregate", "run"]
