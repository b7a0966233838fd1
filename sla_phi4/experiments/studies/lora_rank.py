"""LoRA rank: the paper gives none and suggests a sweep over 4, 8, 16 and 32, watching each part's RMSE for under-
and over-fitting.

    sla ablation --study lora-rank [--backbone voxtral] [--seeds 0 1 2] [--workdir runs/ablation]

Each rank with alpha = 2 x rank, on the main job's corpus and settings: per-target RMSE and PCC on dev and eval, the
last epoch's training loss, trainable parameters and seconds per training step.
"""

import os

from sla_phi4.experiments.studies.report import (
    BASELINE_LABELS, TARGETS, baselines, figure, mean_sd, per_target, runs_line, split_sizes, table, training_figure,
    write_study,
)
from sla_phi4.experiments.studies.runs import StudySettings, Variant, run_variants
from sla_phi4.experiments.studies.step_benchmark import step_seconds


RANKS = (4, 8, 16, 32)
ROUNDS = 10  # rounds of training steps taken in turns by the ranks' models
SPLITS = ("eval", "dev")


def ranks(study: StudySettings) -> tuple[int, ...]:
    """The ranks swept: all four; a smoke run (`--quick`) only the first two."""
    return RANKS[:2] if study.quick else RANKS


def variants(study: StudySettings) -> list[Variant]:
    return [Variant(f"rank {rank}", {"lora_rank": rank}) for rank in ranks(study)]


def aggregate(results: dict[str, list[dict]]) -> dict:
    """Per rank: per split and target the spread of RMSE and PCC, and the spread of each training figure."""
    stats = {}
    for label, runs in results.items():
        stats[label] = {split: {target: {metric: per_target(runs, split, metric)[target] for metric in ("rmse", "pcc")}
                                for target in TARGETS} for split in SPLITS}
        stats[label]["training"] = {name: training_figure(runs, name)
                                    for name in ("train_loss", "seconds_per_step", "trainable_parameters")}
    return stats


def split_table(stats: dict, split: str, reference: dict) -> str:
    header = ["target", *(f"{label}: RMSE / PCC" for label in stats),
              *(f"{BASELINE_LABELS[name]} RMSE" for name in reference)]
    rows = [[target, *(f"{mean_sd(stats[label][split][target]['rmse'])} / "
                       f"{mean_sd(stats[label][split][target]['pcc'], 2)}" for label in stats),
             *(f"{reference[name][target]:.3f}" for name in reference)] for target in TARGETS]
    return table(header, rows)


def training_table(stats: dict, swept: tuple[int, ...]) -> str:
    header = ["LoRA rank (alpha)", "trainable parameters", "seconds per step, in turns", "seconds per step, own run",
              "train loss (last epoch)", "dev overall RMSE", "eval overall RMSE"]
    rows = []
    for rank, label in zip(swept, stats):
        figures = stats[label]["training"]
        rows.append([f"{rank} ({2 * rank})", f"{figures['trainable_parameters']['mean']:,.0f}",
                     f"{figures['seconds_per_step_in_turns']['median']:.2f}", mean_sd(figures["seconds_per_step"], 2),
                     mean_sd(figures["train_loss"]),
                     mean_sd(stats[label]["dev"]["overall"]["rmse"]), mean_sd(stats[label]["eval"]["overall"]["rmse"])])
    return table(header, rows)


def markdown(stats: dict, references: dict, swept: tuple[int, ...], rounds: int, footer: str) -> str:
    return "\n\n".join([
        "Eval split, RMSE / PCC per target:", split_table(stats, "eval", references["eval"]),
        "Dev split, RMSE / PCC per target:", split_table(stats, "dev", references["dev"]),
        "Training:", training_table(stats, swept), footer + (
            " Seconds per step, in turns: the seed-0 model of each rank, one training step each in turn on the same "
            f"8 train sessions, median of {rounds} rounds (every rank under the same load); own run: the median step "
            "of each training run, mean ± sd over seeds (runs hours apart, under whatever load the machine had)."),
    ])


def plot(stats: dict, swept: tuple[int, ...]):
    canvas, axes = figure(3, width=3.6)
    labels = list(stats)
    for axis, split in zip(axes[0], SPLITS):
        for target in TARGETS:
            axis.errorbar(swept, [stats[label][split][target]["rmse"]["mean"] for label in labels],
                          yerr=[stats[label][split][target]["rmse"]["sd"] for label in labels], marker="o",
                          capsize=3, label=target)
        axis.set(xscale="log", xticks=swept, xticklabels=[str(rank) for rank in swept], xlabel="LoRA rank",
                 ylabel=f"{split} RMSE", title=f"{split} RMSE per target")
        axis.minorticks_off()  # a log axis labels its minor ticks over the ranks' labels
    axes[0, 0].legend(fontsize=7)
    loss = axes[0, 2]
    loss.errorbar(swept, [stats[label]["training"]["train_loss"]["mean"] for label in labels],
                  yerr=[stats[label]["training"]["train_loss"]["sd"] for label in labels], marker="o", capsize=3)
    loss.set(xscale="log", xticks=swept, xticklabels=[str(rank) for rank in swept], xlabel="LoRA rank",
             ylabel="train loss (masked MSE)", title="last epoch's training loss")
    loss.minorticks_off()
    return canvas


def run(study: StudySettings) -> dict:
    swept, rounds = ranks(study), 2 if study.quick else ROUNDS
    results = run_variants(study, variants(study))
    stats = aggregate(results)
    in_turns = step_seconds({label: os.path.join(runs[0]["folder"], "model") for label, runs in results.items()},
                            study.corpus_dir, study.cache_dir, rounds=rounds)
    for label, timing in in_turns.items():
        stats[label]["training"]["seconds_per_step_in_turns"] = timing
    first = next(iter(results.values()))[0]
    references = {split: baselines(first, split) for split in SPLITS}
    footer = runs_line(sum(results.values(), []), study.seeds, split_sizes(first))
    report = {"study": "lora-rank", "backbone": study.backbone, "seeds": study.seeds, "ranks": list(swept),
              "table": stats, "baselines": references,
              "runs": {label: [{key: run[key] for key in ("eval", "dev", "training", "folder")} for run in runs]
                       for label, runs in results.items()}}
    return write_study(study, report, markdown(stats, references, swept, rounds, footer), plot(stats, swept))


__all__ = ["RANKS", "aggregate", "ranks", "run", "variants"]
