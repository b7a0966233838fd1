"""What every study reports the same way: mean and spread over seeds, the figures of the runs' summaries, Markdown
tables, and the JSON, Markdown and plot it writes."""

import json
import os

import numpy as np

from modeling_sla.test_format_sla import load_test_format
from sla_phi4 import strict_json


# The studies run on the main job's corpus, in S&I's format: its targets are the tables' rows.
STUDY_FORMAT = load_test_format("sandi2025")
TARGETS = tuple(STUDY_FORMAT.score_names)
BASELINE_LABELS = {"train_mean": "training mean", "whisper_ridge": "pooled-Whisper ridge"}


def spread(values) -> dict:
    """`{"mean", "sd", "values"}`: the sample standard deviation over seeds (0 for one value)."""
    values = [float(value) for value in values]
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {"mean": float(np.mean(values)), "sd": sd, "values": values}


def mean_sd(stat: dict, digits: int = 3) -> str:
    """`0.419 ± 0.002`."""
    return f"{stat['mean']:.{digits}f} ± {stat['sd']:.{digits}f}"


def per_target(summaries: list[dict], split: str, metric: str) -> dict[str, dict]:
    """`{target: spread}` of one metric (`rmse`, `pcc`) over the runs of a variant."""
    targets = summaries[0][split]["per_target"]
    return {target: spread([summary[split]["per_target"][target][metric] for summary in summaries])
            for target in targets}


def training_figure(summaries: list[dict], name: str) -> dict:
    """`spread` of one figure of the runs' `training` summaries (`train_loss`, `seconds_per_step`, ...)."""
    return spread([summary["training"][name] for summary in summaries])


def baselines(summary: dict, split: str) -> dict[str, dict[str, float]]:
    """`{baseline: {target: RMSE}}` of a split: the same for every run on the corpus (fitted on its train split)."""
    return {name: dict(values) for name, values in summary[split]["baselines_per_target"].items()
            if name in BASELINE_LABELS}


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def runs_line(summaries: list[dict], seeds: list[int], split_sizes: dict[str, int]) -> str:
    """What stands behind a study's figures: sessions per split and the seeds."""
    sizes = ", ".join(f"{split} {count} sessions" for split, count in split_sizes.items())
    return f"Mean ± standard deviation over seeds {', '.join(map(str, seeds))} ({sizes}; {len(summaries)} runs)."


def split_sizes(summary: dict) -> dict[str, int]:
    """Sessions of dev and eval that the run scored (from its reports)."""
    sizes = {}
    for split in ("dev", "eval"):
        path = os.path.join(summary["folder"], "reports", split, f"{split}_report.json")
        with open(path, encoding="utf-8") as handle:
            sizes[split] = json.load(handle)["num_sessions"]
    return sizes


def write_study(study, report: dict, markdown: str, figure) -> dict:
    """Prints the Markdown, writes `<study>.json`, `.md` and `.png` into the workdir; returns the report."""
    import matplotlib.pyplot as plt

    print("\n" + markdown, flush=True)
    os.makedirs(study.workdir, exist_ok=True)
    figure.tight_layout()
    figure.savefig(study.output("png"), dpi=110)
    plt.close(figure)
    with open(study.output("json"), "w", encoding="utf-8") as handle:
        strict_json.dump(report, handle, indent=2, default=str)
    with open(study.output("md"), "w", encoding="utf-8") as handle:
        handle.write(markdown + "\n")
    print(f"\nWrote {study.output('md')}, {study.output('json')} and {study.output('png')}.", flush=True)
    return report


def figure(columns: int, rows: int = 1, width: float = 3.0, height: float = 3.2):
    """A matplotlib figure (Agg) and its axes as a 2-D array."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)


def baseline_lines(axis, values: dict[str, dict[str, float]], targets, width: float = 0.45) -> None:
    """Grey marks of each baseline's RMSE over grouped bars (one group a target)."""
    for name, style in (("train_mean", "--"), ("whisper_ridge", ":")):
        for index, target in enumerate(targets):
            if target in values.get(name, {}):
                axis.hlines(values[name][target], index - width, index + width, colors="grey", linestyles=style,
                            label=BASELINE_LABELS[name] if index == 0 else None)


def grouped_bars(axis, groups: dict[str, dict[str, dict]], targets, ylabel: str, title: str) -> None:
    """Bars of mean ± sd per target, one bar a group (variant)."""
    positions = np.arange(len(targets))
    width = 0.8 / len(groups)
    for index, (label, stats) in enumerate(groups.items()):
        axis.bar(positions + (index - (len(groups) - 1) / 2) * width, [stats[t]["mean"] for t in targets], width,
                 yerr=[stats[t]["sd"] for t in targets], capsize=3, label=label)
    axis.set(xticks=positions, xticklabels=list(targets), ylabel=ylabel, title=title)


__all__ = ["BASELINE_LABELS", "STUDY_FORMAT", "TARGETS", "baseline_lines", "baselines", "figure", "grouped_bars",
           "mean_sd", "per_target", "runs_line", "split_sizes", "spread", "table", "training_figure", "write_study"]
