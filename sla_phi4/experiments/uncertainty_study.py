"""The uncertainty study: intervals, referral and fairness measured on enough sessions.

    sla uncertainty-study [--workdir runs/uncertainty] [--sessions 1500] [--split_shares 0.2 0.4 0.4]
    sla uncertainty-study --model runs/demo/model --corpus_seed 1 --sessions 1000 --split_shares 0.01 0.495 0.495

Coverage on 60 eval sessions is noise (about ±4 points at 90 %), so this trains the main job's model (its settings,
backbone and corpus generator) on a corpus whose dev and eval splits are large (by default 1,500 sessions: 300 train,
600 dev, 600 eval), calibrates every interval method on dev and judges each on eval: coverage and mean width per
target (95 % bootstrap intervals over sessions), the rejection curve and PRR, the kept sessions' RMSE when 10 % are
referred; and the fairness of overall by L1 (the corpus's `speakers.tsv`). Writes `uncertainty.json`,
`uncertainty.md` and `uncertainty.png` into the workdir. Then `--resplits` random calibration splits of the pooled dev
and eval sessions, of the same sizes, give each figure's spread over calibration splits (`uncertainty-resplits.png`). With `--model`, a model already trained (the main job's) is
judged instead, on a corpus of another seed: new learners from the same generator, nearly all of them held out.
"""

import os
from dataclasses import asdict

import numpy as np

from modeling_sla import SLAForSessionScoring
from modeling_sla.test_format_sla import load_test_format
from processing_sla import SLAProcessor
from sla_phi4 import strict_json
from sla_phi4.evaluation.fairness import fairness_section
from sla_phi4.evaluation.predictions import gather_evidence, load_split
from sla_phi4.evaluation.uncertainty import (
    METHODS,
    apply_intervals,
    coverage_table,
    difficulties,
    fit_intervals,
    referral_gain,
    rejection_curve,
    select_method,
)
from sla_phi4.experiments.demo import ensure_corpus, run
from sla_phi4.experiments.settings import UncertaintySettings
from sla_phi4.experiments.uncertainty_resplits import format_markdown as resplits_markdown
from sla_phi4.experiments.uncertainty_resplits import plot as plot_resplits
from sla_phi4.experiments.uncertainty_resplits import resplit_study


def judge(calibration: dict, evidence, test_format, band_values: list[float], coverage: float, refer: float) -> dict:
    """Coverage and width per target, the rejection curve on overall and the gain at `refer`."""
    names = test_format.score_names
    lows, highs = apply_intervals(calibration, evidence, test_format, band_values)
    result = {"targets": coverage_table(lows, highs, evidence.references, names, coverage)}
    column = names.index("overall") if "overall" in names else 0
    present = np.isfinite(evidence.references[:, column]) & np.isfinite(evidence.predictions[:, column])
    hardness = difficulties(calibration, evidence, test_format, band_values)[present]
    curve = rejection_curve(hardness, (evidence.predictions - evidence.references)[present, column])
    result["rejection"] = {**curve, "rmse_reduction_at_refer": referral_gain(curve, refer)}
    result["mean_width"] = float(np.nanmean(highs - lows))
    return result


def run_uncertainty_study(settings: UncertaintySettings) -> dict:
    demo = settings.demo_settings()
    model_dir = settings.model or os.path.join(settings.workdir, "model")
    if settings.model:
        ensure_corpus(demo, load_test_format(demo.format))
    elif not os.path.isfile(os.path.join(model_dir, "config.json")):
        run(demo)
    model = SLAForSessionScoring.from_pretrained(model_dir)
    processor = SLAProcessor.from_pretrained(model_dir)
    test_format = model.config.get_test_format()
    evidence = {}
    for split in ("dev", "eval"):
        rows, cache = load_split(model, processor, demo.corpus_dir, split, cache_dir=demo.cache_dir)
        evidence[split] = gather_evidence(model, processor, rows, cache=cache)[0]
    bands = model.config.band_values
    chosen, cross_fitted = select_method(evidence["dev"], test_format, bands, settings.coverage, settings.seed)
    methods = {}
    for method in METHODS:
        calibration = fit_intervals(evidence["dev"], test_format, bands, method, settings.coverage, settings.refer,
                                    settings.seed)
        methods[method] = {"calibration": calibration,
                           **judge(calibration, evidence["eval"], test_format, bands, settings.coverage,
                                   settings.refer)}
    column = test_format.score_names.index("overall")
    fairness = fairness_section(evidence["eval"].session_ids, evidence["eval"].predictions[:, column],
                                evidence["eval"].references[:, column], test_format, "overall",
                                os.path.join(demo.corpus_dir, "reference-materials", "speakers.tsv"), ["l1_voice"])
    summary = {"settings": asdict(settings), "model": model_dir, "dev_sessions": len(evidence["dev"].session_ids),
               "eval_sessions": len(evidence["eval"].session_ids), "chosen_by_cross_fitting": chosen,
               "cross_fitted_on_dev": cross_fitted, "methods": methods, "fairness": fairness}
    markdown = format_markdown(summary)
    if settings.resplits:
        summary["resplits"] = resplit_study(evidence["dev"], evidence["eval"], test_format, bands, settings.coverage,
                                            settings.refer, settings.resplits, settings.seed)
        markdown += "\n\n" + resplits_markdown(summary["resplits"])
        plot_resplits(summary["resplits"], settings.coverage, os.path.join(settings.workdir,
                                                                           "uncertainty-resplits.png"))
    print("\n" + markdown)
    plot(summary, os.path.join(settings.workdir, "uncertainty.png"))
    with open(os.path.join(settings.workdir, "uncertainty.json"), "w", encoding="utf-8") as handle:
        strict_json.dump(summary, handle, indent=2)
    with open(os.path.join(settings.workdir, "uncertainty.md"), "w", encoding="utf-8") as handle:
        handle.write(markdown + "\n")
    return summary


def ci(values: list[float], digits: int = 3) -> str:
    return f"{values[0]:.{digits}f}-{values[1]:.{digits}f}"


def format_markdown(summary: dict) -> str:
    methods = summary["methods"]
    names = list(next(iter(methods.values()))["targets"])
    lines = ["| method | " + " | ".join(f"{name} coverage (95% CI)" for name in names) + " | mean width | PRR | "
             "overall RMSE reduction, 10 % referred |", "|---" * (len(names) + 4) + "|"]
    for method, values in methods.items():
        cells = [f"{values['targets'][name]['coverage']:.3f} ({ci(values['targets'][name]['coverage_95ci'])})"
                 for name in names]
        rejection = values["rejection"]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {values['mean_width']:.3f} | {rejection['prr']:.2f} "
                     f"| {rejection['rmse_reduction_at_refer']:.1%} |")
    lines.append(f"\nCalibrated on {summary['dev_sessions']} dev sessions, judged on {summary['eval_sessions']} eval "
                 f"sessions; chosen by 2-fold cross-fitting on dev: {summary['chosen_by_cross_fitting']}.")
    fairness = summary["fairness"]["columns"]["l1_voice"]
    lines.append("\n| L1 voice | sessions | RMSE | mean signed error (95% CI) |\n|---|---|---|---|")
    for group, values in fairness["groups"].items():
        interval = values["mean_signed_error_95ci"]
        lines.append(f"| {group} | {values['n']} | {values['rmse']:.3f} | {values['mean_signed_error']:+.3f} "
                     f"({interval[0]:+.3f} to {interval[1]:+.3f}) |")
    lines.append(f"\nOSA {fairness['osa']['r2']:.3f} (p {fairness['osa']['p_value']:.2f}), OSD "
                 f"{fairness['osd']['r2']:.3f} (p {fairness['osd']['p_value']:.2f}), CSD {fairness['csd']['r2']:.3f} "
                 f"(p {fairness['csd']['p_value']:.2f}) (R² of group membership; Loukina et al. 2019).")
    return "\n".join(lines)


def plot(summary: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = summary["methods"]
    names = list(next(iter(methods.values()))["targets"])
    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 3.8))
    width = 0.8 / len(methods)
    for index, (method, values) in enumerate(methods.items()):
        positions = np.arange(len(names)) + (index - (len(methods) - 1) / 2) * width
        coverage = [values["targets"][name]["coverage"] for name in names]
        low = [c - values["targets"][name]["coverage_95ci"][0] for c, name in zip(coverage, names)]
        high = [values["targets"][name]["coverage_95ci"][1] - c for c, name in zip(coverage, names)]
        left.bar(positions, coverage, width, yerr=[low, high], capsize=2, label=method)
        middle.bar(positions, [values["targets"][name]["mean_width"] for name in names], width, label=method)
        rejection = values["rejection"]
        right.plot(100 * np.array(rejection["shares"]), rejection["model"], label=f"{method} (PRR "
                                                                                  f"{rejection['prr']:.2f})")
    first = next(iter(methods.values()))["rejection"]
    right.plot(100 * np.array(first["shares"]), first["random"], "k--", label="random")
    right.plot(100 * np.array(first["shares"]), first["oracle"], "k:", label="oracle")
    left.axhline(summary["settings"]["coverage"], color="grey", linestyle="--")
    left.set(xticks=range(len(names)), xticklabels=names, ylim=(0.7, 1.0), ylabel="eval coverage",
             title="Coverage (95% CI)")
    middle.set(xticks=range(len(names)), xticklabels=names, ylabel="mean interval width", title="Width")
    right.set(xlabel="sessions referred (%)", ylabel="RMSE of the kept (overall)", title="Rejection curves")
    for axis in (left, middle, right):
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


__all__ = ["UncertaintySettings", "run_uncertainty_study"]
