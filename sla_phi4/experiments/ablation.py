#!/usr/bin/env python
"""The paper's first ablation on the main job's corpus: the model with the Acoustic Proficiency Prior against the
same model without it, over several seeds (mean and spread per target).

    sla ablation [--workdir runs/ablation] [--seeds 0 1 2] [--backbone phi4]

Each run is `run_demo.py` with one seed (random weights and training), the APP on or off; all share one corpus and
one session cache, so the frozen encoders run once. Writes `ablation.json`, a Markdown table and a plot of eval RMSE
per target (`ablation.png`).
"""

import json
import os

import numpy as np

from sla_phi4.experiments.demo import DemoSettings, run


VARIANTS = {"APP on": True, "APP off": False}


def run_variants(workdir: str, seeds: list[int], **settings) -> dict:
    """Eval summaries of every variant and seed: `{variant: [summary of seed, ...]}`."""
    shared = {"corpus_dir": os.path.join(workdir, "corpus"), "cache_dir": os.path.join(workdir, "cache"),
              "model_card": False, **settings}
    results = {}
    for variant, use_app in VARIANTS.items():
        results[variant] = []
        for seed in seeds:
            folder = os.path.join(workdir, f"{variant.replace(' ', '-').lower()}-seed{seed}")
            print(f"\n=== {variant}, seed {seed} ===", flush=True)
            summary = run(DemoSettings(workdir=folder, seed=seed, use_app=use_app, **shared))
            results[variant].append(summary["eval"])
    return results


def aggregate(results: dict) -> dict:
    """Per variant and target: mean and standard deviation over seeds of RMSE and PCC."""
    table = {}
    for variant, runs in results.items():
        table[variant] = {}
        for target in runs[0]["per_target"]:
            for metric in ("rmse", "pcc"):
                values = np.array([run["per_target"][target][metric] for run in runs])
                table[variant].setdefault(target, {})[metric] = {"mean": float(values.mean()),
                                                                 "std": float(values.std(ddof=1)) if len(values) > 1
                                                                 else 0.0}
    return table


def format_markdown(table: dict, baselines: dict, seeds: list[int]) -> str:
    targets = list(next(iter(table.values())))
    lines = [f"| target | {' | '.join(f'{variant}: RMSE / PCC' for variant in table)} | training mean RMSE | "
             f"pooled-Whisper ridge RMSE |", "|---" * (len(table) + 3) + "|"]
    for target in targets:
        cells = [f"{table[v][target]['rmse']['mean']:.3f} ± {table[v][target]['rmse']['std']:.3f} / "
                 f"{table[v][target]['pcc']['mean']:.2f} ± {table[v][target]['pcc']['std']:.2f}" for v in table]
        mean = baselines.get("train_mean", {}).get(target, float("nan"))
        ridge = baselines.get("whisper_ridge", {}).get(target, float("nan"))
        lines.append(f"| {target} | {' | '.join(cells)} | {mean:.3f} | {ridge:.3f} |")
    lines.append(f"\nMean ± standard deviation over seeds {', '.join(map(str, seeds))} (eval split).")
    return "\n".join(lines)


def plot(table: dict, baselines: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = list(next(iter(table.values())))
    positions = np.arange(len(targets))
    width = 0.8 / len(table)
    figure, axis = plt.subplots(figsize=(7.5, 3.6))
    for index, (variant, rows) in enumerate(table.items()):
        axis.bar(positions + (index - (len(table) - 1) / 2) * width, [rows[t]["rmse"]["mean"] for t in targets],
                 width, yerr=[rows[t]["rmse"]["std"] for t in targets], capsize=3, label=variant)
    for name, style in (("train_mean", "--"), ("whisper_ridge", ":")):
        for index, target in enumerate(targets):
            if target in baselines.get(name, {}):
                axis.hlines(baselines[name][target], index - 0.45, index + 0.45, colors="grey", linestyles=style,
                            label=name.replace("_", " ") if index == 0 else None)
    axis.set(xticks=positions, xticklabels=targets, ylabel="eval RMSE", title="APP ablation (mean ± sd over seeds)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run_ablation(workdir: str, seeds: list[int], backbone: str = "phi4", quick: bool = False) -> dict:
    """Every seed with the APP on and off; prints the Markdown table and writes it, the plot and the JSON report
    (`ablation.md`, `ablation.png`, `ablation.json`) into `workdir`."""
    results = run_variants(workdir, seeds, backbone=backbone, quick=quick)
    table = aggregate(results)
    first = results["APP on"][0]
    baselines = {name: {target: first_target for target, first_target in per_target.items()}
                 for name, per_target in first["baselines_per_target"].items()}
    markdown = format_markdown(table, baselines, seeds)
    print("\n" + markdown)
    plot(table, baselines, os.path.join(workdir, "ablation.png"))
    report = {"seeds": seeds, "backbone": backbone, "table": table, "baselines": baselines, "runs": results}
    with open(os.path.join(workdir, "ablation.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    with open(os.path.join(workdir, "ablation.md"), "w", encoding="utf-8") as handle:
        handle.write(markdown + "\n")
    return report
