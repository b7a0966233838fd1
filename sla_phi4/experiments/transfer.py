"""The transfer study: does a model trained on Speak & Improve help a new test format when few of its sessions are
marked? The paper's first open question (cross-task generalisation), measured on synthetic corpora.

    sla transfer --source runs/demo/model [--format ielts-like] [--sizes 25 50 100 200] [--seeds 0 1 2]

For each number of training sessions N of the new format and each seed, two models are trained with the main job's
settings and scored on the new format's eval split:
- **from scratch**: the same stand-in backbone as the source model (its `base`), with a new LoRA, APP and head for the
  new format: stage app, then stage sla, on the N sessions;
- **from S&I** (`sla train --init_from SOURCE --format NAME`): the source model's backbone, LoRA and APP (with its
  bands), a new head: stage sla on the N sessions.
Beside them, fitted on the same N sessions: the training mean and the ridge on the APP's pooled Whisper states. The N
sessions of a seed are a random draw from a fixed pool of the train split (the pool's size is the largest N); dev
chooses each run's best epoch. Writes `transfer.json`, `transfer.md` and `transfer.png` into the workdir.
"""

import json
import os
import shutil
from dataclasses import asdict

import numpy as np

from modeling_sla import SLAForSessionScoring, load_test_format
from processing_sla import SLAProcessor
from sla_phi4 import strict_json
from sla_phi4.data.sessions import scorable_rows
from sla_phi4.data.synthetic import make_synthetic_corpus
from sla_phi4.evaluation.predictions import marks, predict
from sla_phi4.evaluation.scoring import baselines, metric_table
from sla_phi4.experiments.demo import DemoSettings, corpus_matches, training_arguments
from sla_phi4.experiments.settings import TransferSettings
from sla_phi4.testing.tiny_checkpoint import build_tiny_checkpoint
from sla_phi4.training import DataArguments, ModelArguments, train
from sla_phi4.training.session_cache import SessionCache


ARMS = {"from scratch": "scratch", "from S&I": "from-sandi"}  # the arms, and their run folders' prefixes


def session_pool(rows: list[dict], size: int, seed: int = 1234) -> list[dict]:
    """A fixed random pool of `size` training sessions (each seed draws its N from it)."""
    if len(rows) < size:
        raise ValueError(f"The train split has {len(rows)} sessions; the study needs {size}.")
    order = np.random.default_rng(seed).permutation(len(rows))[:size]
    return [rows[index] for index in order]


def draw_sessions(pool: list[dict], size: int, seed: int) -> list[dict]:
    """The `size` training sessions of a seed: a seeded draw from the pool."""
    return [pool[index] for index in np.random.default_rng(seed).permutation(len(pool))[:size]]


def write_ids(rows: list[dict], path: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("".join(f"{row['session_id']}\n" for row in rows))
    return path


def read_ids(path: str, rows: list[dict]) -> list[dict]:
    """The rows of the session IDs listed in `path`, in its order."""
    by_id = {row["session_id"]: row for row in rows}
    selected = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if line.strip() not in by_id:
                raise ValueError(f"{path}, line {line_number}: session {line.strip()!r} is not in the train split.")
            selected.append(by_id[line.strip()])
    return selected


def training_sessions(pool: list[dict], rows: list[dict], size: int, seed: int, ids_path: str,
                      finished: bool) -> list[dict]:
    """The training sessions of one size and seed: those recorded in `ids_path` once a run of them has finished
    (a study resumed with a larger size, hence a larger pool, keeps what its finished runs trained on), else a
    fresh draw from the pool, recorded there."""
    if finished and os.path.isfile(ids_path):
        return read_ids(ids_path, rows)
    drawn = draw_sessions(pool, size, seed)
    write_ids(drawn, ids_path)
    return drawn


def train_arm(arm: str, settings: TransferSettings, base: str, ids_file: str, folder: str, seed: int) -> str:
    """Trains one arm on the sessions of `ids_file`; returns the folder of its model."""
    demo = DemoSettings(**{**asdict(settings.demo), "seed": seed, "workdir": folder})
    data = DataArguments(corpus_root=demo.corpus_dir, cache_dir=demo.cache_dir, train_ids=ids_file)
    sla_from = ModelArguments(init_from=settings.source, format=settings.format)
    if arm == "from scratch":
        train(ModelArguments(checkpoint=base), data,
              training_arguments(demo, "app", os.path.join(folder, "stage-app"), demo.epochs_app, 3e-3))
        sla_from = ModelArguments(checkpoint=os.path.join(folder, "stage-app"))
    output = os.path.join(folder, "stage-sla")
    train(sla_from, data, training_arguments(demo, "sla", output, demo.epochs_sla, demo.lr_sla))
    for checkpoint in (name for name in os.listdir(output) if name.startswith("checkpoint-")):
        shutil.rmtree(os.path.join(output, checkpoint))  # the best model is saved in `output` itself
    return output


def evaluate_model(folder: str, rows: list[dict], cache_dir: str) -> dict:
    """Per-target metrics of a saved model on `rows`."""
    model = SLAForSessionScoring.from_pretrained(folder)
    processor = SLAProcessor.from_pretrained(folder)
    test_format = model.config.get_test_format()
    cache = SessionCache(model, processor, folder=cache_dir)
    cache.add(rows, "Encoding eval sessions")
    predictions, _ = predict(model, processor, rows, cache=cache)
    return metric_table(predictions, marks(rows, test_format.score_names), test_format.score_names, test_format)


def run_transfer(settings: TransferSettings) -> dict:
    """Every size, seed and arm (skipping runs whose results are on disk); writes the table, the plot and the JSON."""
    test_format = load_test_format(settings.format)
    base = os.path.join(os.path.dirname(os.path.abspath(settings.source)), "base")
    if not os.path.isfile(os.path.join(settings.source, "config.json")) or not os.path.isdir(base):
        raise FileNotFoundError(f"--source {settings.source} must be a trained model beside its `base` (the main "
                                f"job's runs/demo/model and runs/demo/base).")
    corpus = settings.demo.corpus_dir
    if not corpus_matches(corpus, settings.demo):
        shutil.rmtree(corpus, ignore_errors=True)
        make_synthetic_corpus(corpus, sessions=settings.sessions, seed=settings.corpus_seed,
                              duration_scale=settings.demo.duration_scale, cue_strength=settings.demo.cue_strength,
                              gaps=settings.demo.gaps, test_format=test_format)
    scratch_base = os.path.join(settings.workdir, "scratch-base")
    if not os.path.isfile(os.path.join(scratch_base, "config.json")):
        source_settings = json.load(open(os.path.join(os.path.dirname(os.path.abspath(settings.source)),
                                                      "summary.json")))["settings"]
        build_tiny_checkpoint(scratch_base, seed=source_settings["seed"], size=source_settings["size"],
                              backbone=source_settings["backbone"], app_encoder=source_settings["app_encoder"],
                              audio_tower=source_settings["audio_tower"], pack_audio=source_settings["pack_audio"],
                              test_format=test_format)
    train_rows = scorable_rows(corpus, "train", "error", test_format)
    pool = session_pool(train_rows, max(settings.sizes))
    eval_rows = scorable_rows(corpus, "eval", "error", test_format)
    references = marks(eval_rows, test_format.score_names)
    results_path = os.path.join(settings.workdir, "runs.json")
    results = json.load(open(results_path)) if os.path.isfile(results_path) else []
    done = {(entry["arm"], entry["sessions"], entry["seed"]) for entry in results}
    app_cache = None
    for size in settings.sizes:
        for seed in settings.seeds:
            ids_file = os.path.join(settings.workdir, "ids", f"n{size}-seed{seed}.txt")
            finished = any((arm, size, seed) in done for arm in (*ARMS, "baselines"))
            rows = training_sessions(pool, train_rows, size, seed, ids_file, finished)
            for arm in ARMS:
                if (arm, size, seed) in done:
                    continue
                print(f"\n=== {arm}, {size} sessions, seed {seed} ===", flush=True)
                folder = os.path.join(settings.workdir, "runs", f"{ARMS[arm]}-n{size}-seed{seed}")
                model_dir = train_arm(arm, settings, scratch_base, ids_file, folder, seed)
                metrics = evaluate_model(model_dir, eval_rows, settings.demo.cache_dir)
                results.append({"arm": arm, "sessions": size, "seed": seed, "metrics": metrics})
                with open(results_path, "w", encoding="utf-8") as handle:
                    strict_json.dump(results, handle, indent=2)
            if ("baselines", size, seed) not in done:
                if app_cache is None:
                    model = SLAForSessionScoring.from_pretrained(scratch_base)
                    app_cache = SessionCache(model, SLAProcessor.from_pretrained(scratch_base), ("app",),
                                             settings.demo.cache_dir)
                table, _ = baselines(rows, eval_rows, test_format.score_names, references, test_format, app_cache)
                results.append({"arm": "baselines", "sessions": size, "seed": seed, "metrics": table})
                with open(results_path, "w", encoding="utf-8") as handle:
                    strict_json.dump(results, handle, indent=2)
    return report(results, settings, test_format, len(eval_rows))


SYSTEMS = {"from scratch": ("from scratch", None), "from S&I": ("from S&I", None),
           "training mean": ("baselines", "train_mean"), "pooled-Whisper ridge": ("baselines", "whisper_ridge")}


def aggregate(results: list[dict], sizes: list[int], target: str = "overall") -> dict:
    """Per system and size: mean, sd and the values over seeds of the eval RMSE of `target`."""
    table = {}
    for system, (arm, baseline) in SYSTEMS.items():
        table[system] = {}
        for size in sizes:
            values = [(entry["metrics"][baseline] if baseline else entry["metrics"])[target]["rmse"]
                      for entry in results if entry["arm"] == arm and entry["sessions"] == size]
            if values:
                table[system][size] = {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1))
                                       if len(values) > 1 else 0.0, "values": values}
    return table


def format_markdown(table: dict, sizes: list[int], seeds: list[int], eval_sessions: int, test_format) -> str:
    lines = ["| training sessions | " + " | ".join(table) + " |", "|---" * (len(table) + 1) + "|"]
    for size in sizes:
        cells = [f"{table[system][size]['mean']:.3f} ± {table[system][size]['sd']:.3f}" if size in table[system]
                 else "n/a" for system in table]
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    lines.append(f"\nEval overall RMSE on the {test_format.name} scale ({test_format.scale.min:g}-"
                 f"{test_format.scale.max:g}), {eval_sessions} eval sessions; mean ± sd over seeds "
                 f"{', '.join(map(str, seeds))} (each seed its own draw of training sessions and its own training).")
    return "\n".join(lines)


def plot(table: dict, sizes: list[int], path: str, test_format) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.0))
    styles = {"from scratch": "o-", "from S&I": "s-", "training mean": "k--", "pooled-Whisper ridge": "k:"}
    for system, by_size in table.items():
        xs = [size for size in sizes if size in by_size]
        axis.errorbar(xs, [by_size[size]["mean"] for size in xs], yerr=[by_size[size]["sd"] for size in xs],
                      fmt=styles[system], capsize=3, label=system)
    axis.set(xscale="log", xticks=sizes, xticklabels=[str(size) for size in sizes], xlabel="training sessions",
             ylabel="eval overall RMSE", title=f"A new test format ({test_format.name}): from S&I or from scratch")
    axis.minorticks_off()  # a log axis labels its minor ticks over the sizes' labels
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def report(results: list[dict], settings: TransferSettings, test_format, eval_sessions: int) -> dict:
    table = aggregate(results, settings.sizes)
    markdown = format_markdown(table, settings.sizes, settings.seeds, eval_sessions, test_format)
    print("\n" + markdown)
    plot(table, settings.sizes, os.path.join(settings.workdir, "transfer.png"), test_format)
    summary = {"settings": asdict(settings), "eval_sessions": eval_sessions, "overall_rmse": table,
               "per_target": {target: aggregate(results, settings.sizes, target)
                              for target in test_format.score_names}, "runs": results}
    with open(os.path.join(settings.workdir, "transfer.json"), "w", encoding="utf-8") as handle:
        strict_json.dump(summary, handle, indent=2, default=str)
    with open(os.path.join(settings.workdir, "transfer.md"), "w", encoding="utf-8") as handle:
        handle.write(markdown + "\n")
    return summary
