"""Session truncation: the test of the paper's central claim, that one pass over the whole session aggregates evidence
across parts. Eval sessions are scored whole, with 1 and with 2 responses dropped at random (answers of every part
eligible), and with each part removed in turn; if the scores collapse, the model relies on the whole session; if they
hold, it is robust to the missing answers real sessions have.

    sla ablation --study truncation [--backbone voxtral] [--seeds 0 1 2] [--drop_responses 0.15] [--draws 10]

Two models per seed: the main job's (trained on whole sessions) and one trained with `--drop_responses P`. Beside
them, on the very same truncated sessions, the training mean and the ridge on the APP's pooled Whisper states (pooled
over the responses kept). The parts a session lost must get no score, with a warning: the study counts them, and
checks one session of each condition through the saved model's pipeline.
"""

import os

import numpy as np

from modeling_sla import SLAForSessionScoring
from processing_sla import SLAProcessor
from sla_phi4.data.sessions import scorable_rows
from sla_phi4.experiments.studies.report import (
    BASELINE_LABELS, TARGETS, figure, mean_sd, runs_line, split_sizes, spread, table, write_study,
)
from sla_phi4.experiments.studies.runs import StudySettings, Variant, run_variants
from sla_phi4.experiments.studies.truncated_eval import (
    audio_flags, baseline_predictors, conditions, distinct_sessions, pipeline_check, raw_scores, score_conditions,
)
from sla_phi4.training.session_cache import SessionCache


WHOLE = "trained on whole sessions"
RANDOM_OVERALL = ("overall (sessions with all parts)", "overall, raw (all sessions)")
SAVE_EVERY = 240  # truncated sessions encoded between two writes of the cache
PARTS = TARGETS[:-1]


def variants(study: StudySettings) -> list[Variant]:
    return [Variant(WHOLE), Variant(f"trained with --drop_responses {study.drop_responses}",
                                    {"drop_responses": study.drop_responses})]


def score_run(run: dict, found, flags: dict, sessions: list[dict], cache_dir: str) -> dict:
    """One trained model on every condition (its truncated sessions encoded into the shared cache first)."""
    folder = os.path.join(run["folder"], "model")
    model = SLAForSessionScoring.from_pretrained(folder)
    processor = SLAProcessor.from_pretrained(folder)
    cache = SessionCache(model, processor, folder=cache_dir)
    for start in range(0, len(sessions), SAVE_EVERY):  # kept on disk as it goes: a crash loses one chunk at most
        end = min(start + SAVE_EVERY, len(sessions))
        cache.add(sessions[start:end], f"Encoding truncated eval sessions {start + 1}-{end} of {len(sessions)}")
    return score_conditions(found, list(TARGETS), flags,
                            lambda rows, description: raw_scores(model, cache, rows, f"Scoring {description}"))


def score_baselines(run: dict, found, flags: dict, study: StudySettings) -> dict:
    """The training mean and the pooled-Whisper ridge on every condition (the APP's cache of the first model)."""
    folder = os.path.join(run["folder"], "model")
    model = SLAForSessionScoring.from_pretrained(folder)
    app_cache = SessionCache(model, SLAProcessor.from_pretrained(folder), ("app",), study.cache_dir)
    train_rows = scorable_rows(study.corpus_dir, "train", "error")
    predictors = baseline_predictors(train_rows, list(TARGETS), app_cache)
    return {name: score_conditions(found, list(TARGETS), flags, predict) for name, predict in predictors.items()}


def spread_of(values: list) -> dict | None:
    return None if any(value is None for value in values) else spread(values)


def difference(value, whole):
    return None if value is None or whole is None else value - whole


def aggregate(scored: dict[str, list[dict]], whole: str) -> dict:
    """Per model, condition, kind and target: the spread over seeds of the RMSE (`reported`, `raw`), of the raw
    output's RMSE on the targets lost (`lost_raw`), and of the change from the whole sessions (`change_reported`,
    `change_raw`: each seed's own difference)."""
    stats = {}
    for label, runs in scored.items():
        stats[label] = {}
        for condition in runs[0]:
            stats[label][condition] = {kind: {t: spread_of([r[condition][kind][t] for r in runs]) for t in TARGETS}
                                       for kind in ("reported", "raw")}
            stats[label][condition]["lost_raw"] = {t: spread_of([r[condition]["lost"][t]["raw_rmse"] for r in runs])
                                                   for t in TARGETS}
            for kind in ("reported", "raw"):
                stats[label][condition][f"change_{kind}"] = {t: spread_of(
                    [difference(r[condition][kind][t], r[whole][kind][t]) for r in runs]) for t in TARGETS}
    return stats


def value(stat, digits: int = 3) -> str:
    if stat is None:
        return "-"
    return mean_sd(stat, digits) if isinstance(stat, dict) else f"{stat:.{digits}f}"


def systems(stats: dict, reference: dict, whole: str) -> dict:
    """Models (spread over seeds) and baselines (one value) by label, in the same shape."""
    shaped = dict(stats)
    for name, scored in reference.items():
        shaped[BASELINE_LABELS[name]] = {condition: {
            "reported": metrics["reported"], "raw": metrics["raw"],
            "lost_raw": {t: metrics["lost"][t]["raw_rmse"] for t in TARGETS},
            **{f"change_{kind}": {t: difference(metrics[kind][t], scored[whole][kind][t]) for t in TARGETS}
               for kind in ("reported", "raw")}} for condition, metrics in scored.items()}
    return shaped


def random_table(shaped: dict, names: list[str]) -> str:
    header = ["system", "responses dropped", *PARTS, *RANDOM_OVERALL]
    rows = [[label, str(count), *(value(shaped[label][name]["reported"][t]) for t in TARGETS),
             value(shaped[label][name]["raw"]["overall"])]
            for label in shaped for count, name in enumerate(names)]
    return table(header, rows)


def change_table(shaped: dict, names: list[str]) -> str:
    header = ["system", "responses dropped", *PARTS, *RANDOM_OVERALL]
    rows = [[label, str(count), *(signed(shaped[label][name]["change_reported"][t]) for t in TARGETS),
             signed(shaped[label][name]["change_raw"]["overall"])]
            for label in shaped for count, name in enumerate(names) if count]
    return table(header, rows)


def signed(stat, digits: int = 3) -> str:
    if stat is None:
        return "-"
    if isinstance(stat, dict):
        return f"{stat['mean']:+.{digits}f} ± {stat['sd']:.{digits}f}"
    return f"{stat:+.{digits}f}"


def part_table(shaped: dict) -> str:
    header = ["system", "part removed", *PARTS, "overall, raw"]
    rows = []
    for label in shaped:
        for part in PARTS:
            metrics = shaped[label][f"without {part}"]
            cells = [f"none (raw {value(metrics['lost_raw'][t])})" if t == part else value(metrics["reported"][t])
                     for t in PARTS]
            rows.append([label, part, *cells, value(metrics["raw"]["overall"])])
    return table(header, rows)


def lost_table(scored: dict[str, list[dict]]) -> str:
    """For each model and condition: the targets lost (session x draw x seed) and how many were reported as none
    with a warning."""
    header = ["model", "condition", "targets lost", "reported as none with a warning"]
    rows = []
    for label, runs in scored.items():
        for condition in runs[0]:
            lost = sum(run[condition]["lost"][t]["sessions"] for run in runs for t in TARGETS)
            warned = sum(run[condition]["lost"][t]["warned"] for run in runs for t in TARGETS)
            if lost:
                rows.append([label, condition, str(lost), str(warned)])
    return table(header, rows)


def draw_spread(scored: dict[str, list[dict]], names: list[str], draws: int) -> str:
    """How much one random draw moves each model's raw overall RMSE (sd over draws, mean over seeds)."""
    cells = []
    for label, runs in scored.items():
        for name in names[1:]:
            values = [run[name]["draw_sd"]["raw"]["overall"] for run in runs
                      if run[name]["draw_sd"]["raw"]["overall"] is not None]
            if values:
                cells.append(f"{label}, {name}: {np.mean(values):.3f}")
    if not cells:
        return f"{draws} draw per number dropped: no spread over draws to report."
    return (f"Spread over the {draws} draws (the standard deviation of one draw's raw overall RMSE, mean over seeds): "
            + "; ".join(cells) + f". The mean over {draws} draws moves by that divided by √{draws}.")


def markdown(shaped: dict, scored: dict, checks: list[dict], names: list[str], seeds: list[int], footer: str,
             draws: int) -> str:
    ok = sum(check["ok"] for check in checks)
    return "\n\n".join([
        "Eval RMSE with responses dropped at random (each target over the sessions where it is still reported; "
        "the last column is the model's overall output on every session, which the pipeline withholds when a part "
        "is lost):", random_table(shaped, names), draw_spread(scored, names, draws),
        "Change in eval RMSE from the whole sessions (for the models, each seed's own change, then mean ± sd):",
        change_table(shaped, names),
        "Eval RMSE with each part removed in turn (the removed part is reported as none; in brackets the raw "
        "output's RMSE for it):", part_table(shaped),
        "What the parts a session lost get:", lost_table(scored),
        f"Through the saved model's pipeline (seed {seeds[0]}), {ok} of {len(checks)} truncated sessions (the first "
        f"that lost a part, in each condition) reported every target lost as none, with a warning.",
        footer,
    ])


def point(stat) -> tuple[float, float]:
    """Mean and spread of a model's figure, a baseline's value (no spread) or a missing one (NaN)."""
    if stat is None:
        return float("nan"), 0.0
    return (stat["mean"], stat["sd"]) if isinstance(stat, dict) else (stat, 0.0)


def plot(shaped: dict, names: list[str]):
    canvas, axes = figure(len(TARGETS) + 1, rows=2, width=2.9)
    counts = list(range(len(names)))
    panels = [(target, "reported", target) for target in TARGETS] + [("overall", "raw", "overall, raw (all sessions)")]
    for axis, (target, kind, title) in zip(axes[0], panels):
        for label, metrics in shaped.items():
            means, errors = zip(*(point(metrics[name][kind][target]) for name in names))
            axis.errorbar(counts, means, yerr=errors, marker="o", capsize=3, label=label)
        axis.set(xticks=counts, xlabel="responses dropped", title=title)
    axes[0, 0].set(ylabel="eval RMSE")
    axes[0, 0].legend(fontsize=6)
    width = 0.8 / len(shaped)
    for axis, part in zip(axes[1], PARTS):
        for index, metrics in enumerate(shaped.values()):
            cells = metrics[f"without {part}"]
            shown = {**cells["reported"], part: cells["lost_raw"][part], "overall": cells["raw"]["overall"]}
            means, errors = zip(*(point(shown[t]) for t in TARGETS))
            axis.bar([i + (index - (len(shaped) - 1) / 2) * width for i in range(len(TARGETS))], means, width,
                     yerr=errors, capsize=2)
        axis.set(xticks=range(len(TARGETS)), xticklabels=list(TARGETS), title=f"without {part} ({part}, overall: raw)")
    axes[1, 0].set(ylabel="eval RMSE")
    for axis in axes[1, len(PARTS):]:
        axis.axis("off")
    return canvas


def run(study: StudySettings) -> dict:
    results = run_variants(study, variants(study))
    rows = scorable_rows(study.corpus_dir, "eval", "error")
    found = conditions(rows, draws=study.draws)
    sessions = distinct_sessions(found)
    first = results[WHOLE][0]
    processor = SLAProcessor.from_pretrained(os.path.join(first["folder"], "model"))
    flags = audio_flags(processor, rows)
    scored = {label: [score_run(run, found, flags, sessions, study.cache_dir) for run in runs]
              for label, runs in results.items()}
    reference = score_baselines(first, found, flags, study)
    checks = pipeline_check(os.path.join(first["folder"], "model"), found)
    stats = aggregate(scored, found[0].name)
    shaped = systems(stats, reference, found[0].name)
    names = [condition.name for condition in found if condition.part is None]
    footer = runs_line(sum(results.values(), []), study.seeds, split_sizes(first)) + (
        f" Random drops: {study.draws} draws per number dropped, the same sessions for every model and baseline; the "
        f"baselines have no seeds (one value, the mean over the draws).")
    report = {"study": "truncation", "backbone": study.backbone, "seeds": study.seeds, "draws": study.draws,
              "drop_responses": study.drop_responses, "table": stats, "baselines": reference,
              "pipeline_check": checks, "runs": scored,
              "folders": {label: [run["folder"] for run in runs] for label, runs in results.items()},
              "training": {label: [run["eval"] for run in runs] for label, runs in results.items()}}
    text = markdown(shaped, scored, checks, names, study.seeds, footer, study.draws)
    return write_study(study, report, text, plot(shaped, names))


__all__ = ["aggregate", "run", "variants"]
