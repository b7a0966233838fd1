"""Does the session model use what learners say? The same recipe (LoRA on a frozen language model, the session as one
sequence, the APP) on three Voxtral-layout backbones, all with a real Whisper tiny.en as audio tower:

(a) the main job's stand-in: a small random decoder, which understands no word;
(b) real parts: SmolLM2-135M-Instruct (a real pretrained language model) as the text model, the projector random;
(c) the same with the projector aligned first on speech-to-text (`sla_phi4.training.alignment`; WER before/after).

Each on two corpora of the same learners and marks: `content-only` (only the words carry proficiency: rate, pauses,
fillers, disfluencies and length are noise, so the timing ridge and the pooled-Whisper ridge should sit near the
training mean) and `default` (every cue carries it). Eval RMSE and PCC per target, mean ± sd over seeds, beside the
training mean and both ridges.

    sla ablation --study language [--seeds 0 1 2] [--workdir runs/ablation]    # CPU sizes (CPU_SIZES)
    sla ablation --study language --full_size                                  # the main job's sizes (a GPU)
"""

import dataclasses
import os

from sla_phi4.experiments.studies.report import (
    TARGETS, figure, grouped_bars, mean_sd, per_target, runs_line, split_sizes, table, write_study,
)
from sla_phi4.experiments.studies.runs import StudySettings, Variant, run_variants


CORPORA = ("content-only", "default")
# The sizes that fit 2 shared CPU cores: a third of the main job's sessions, answers half as long, fewer epochs.
CPU_SIZES = {"sessions": 140, "duration_scale": 0.05, "epochs_sla": 4}
# SmolLM2's session model at the main job's batch of 8 was killed at 23.5 GB resident on a 24 GB machine: at the CPU
# sizes its backbones step in micro-batches of 2 (8.3 GB at peak), 4 to an optimizer step, the same effective batch.
CPU_MICRO_BATCHES = {"batch_size": 2, "gradient_accumulation": 4}
BASELINES = {"train_mean": "training mean", "acoustic_ridge": "timing ridge", "whisper_ridge": "pooled-Whisper ridge"}


def variants(study: StudySettings, corpus: str) -> list[Variant]:
    """(a), (b) and (c) on one corpus, at the study's sizes."""
    cpu = not (study.full_size or study.quick)
    shared = {"cue_profile": corpus, **(CPU_SIZES if cpu else {})}
    # A smoke run on SmolLM2 at the batch of 8 was killed at 19 GB resident too: micro-batches unless at full size.
    micro_batches = {} if study.full_size else CPU_MICRO_BATCHES
    pretrained = {**shared, "language_model": study.language_model, **micro_batches}
    return [
        Variant("(a) random decoder", shared),
        Variant("(b) SmolLM2, projector random", pretrained),
        Variant("(c) SmolLM2, projector aligned", {**pretrained, "align": True}),
    ]


def corpus_study(study: StudySettings, corpus: str) -> StudySettings:
    """The study's settings for one corpus: its own corpus, cache and runs under `<workdir>/language-<corpus>`."""
    return dataclasses.replace(study, workdir=os.path.join(study.workdir, f"language-{corpus}"))


def aggregate(results: dict[str, list[dict]]) -> dict:
    """Per variant and target: mean and standard deviation over seeds of eval RMSE and PCC."""
    return {label: {target: {metric: per_target(runs, "eval", metric)[target] for metric in ("rmse", "pcc")}
                    for target in TARGETS}
            for label, runs in results.items()}


def reference(summary: dict) -> dict[str, dict[str, float]]:
    """`{baseline: {target: eval RMSE}}` of the three baselines (fitted on the corpus's train split)."""
    values = summary["eval"]["baselines_per_target"]
    return {name: dict(values[name]) for name in BASELINES if name in values}


def alignment_figures(results: dict[str, list[dict]]) -> dict | None:
    """WER before and after alignment, its cost, from the first aligned run (one alignment serves every seed)."""
    aligned = [run["alignment"] for runs in results.values() for run in runs if run.get("alignment")]
    if not aligned:
        return None
    first = aligned[0]
    return {key: first[key] for key in ("wer_before", "wer_after", "train_clips", "eval_clips", "train_audio_seconds",
                                        "seconds", "train_losses", "examples_after")}


def corpus_table(stats: dict, baselines: dict) -> str:
    header = ["target", *(f"{label}: RMSE / PCC" for label in stats),
              *(f"{BASELINES[name]} RMSE" for name in baselines)]
    rows = [[target, *(f"{mean_sd(stats[label][target]['rmse'])} / {mean_sd(stats[label][target]['pcc'], 2)}"
                       for label in stats),
             *(f"{baselines[name][target]:.3f}" for name in baselines)] for target in TARGETS]
    return table(header, rows)


def alignment_line(figures: dict | None) -> str:
    if figures is None:
        return "No run was aligned."
    seconds = sum(figures["seconds"].values())
    return (f"Alignment (projector only, {figures['train_clips']} training clips = {figures['train_audio_seconds']} s "
            f"of speech): held-out WER {figures['wer_before']:.3f} before, {figures['wer_after']:.3f} after "
            f"({figures['eval_clips']} held-out sentences and voices; {seconds / 60:.1f} min on this machine).")


def markdown(per_corpus: dict, footer: str) -> str:
    sections = []
    for corpus, values in per_corpus.items():
        sections += [f"Corpus `{corpus}`, eval RMSE / PCC per target:",
                     corpus_table(values["table"], values["baselines"]), values["runs_line"]]
    alignment = next((values["alignment"] for values in per_corpus.values() if values["alignment"]), None)
    return "\n\n".join([*sections, alignment_line(alignment), footer])


def plot(per_corpus: dict):
    canvas, axes = figure(len(per_corpus), width=5.0, height=3.6)
    for axis, (corpus, values) in zip(axes[0], per_corpus.items()):
        grouped_bars(axis, {label: {t: stats[t]["rmse"] for t in TARGETS} for label, stats in values["table"].items()},
                     TARGETS, "eval RMSE", f"{corpus} corpus")
        for name, style in zip(BASELINES, ("--", "-.", ":")):
            for index, target in enumerate(TARGETS):
                axis.hlines(values["baselines"][name][target], index - 0.45, index + 0.45, colors="grey",
                            linestyles=style, label=BASELINES[name] if index == 0 else None)
    axes[0, 0].legend(fontsize=7)
    return canvas


def check_language_model(study: StudySettings) -> None:
    """Fails at once, before any run, on a language model that is neither a pinned package nor a model folder (a
    package's is converted here, once per machine)."""
    from sla_phi4.testing.stand_ins.voxtral_language_model import language_model_folder

    language_model_folder(study.language_model)


def run(study: StudySettings) -> dict:
    check_language_model(study)
    per_corpus = {}
    for corpus in CORPORA:
        results = run_variants(corpus_study(study, corpus), variants(study, corpus))
        first = next(iter(results.values()))[0]
        per_corpus[corpus] = {
            "table": aggregate(results), "baselines": reference(first), "alignment": alignment_figures(results),
            "runs_line": runs_line(sum(results.values(), []), study.seeds, split_sizes(first)),
            "runs": {label: [{key: run[key] for key in ("eval", "dev", "training", "folder")} for run in runs]
                     for label, runs in results.items()},
        }
    sizes = "the main job's sizes" if study.full_size else ("smoke sizes" if study.quick else f"CPU sizes {CPU_SIZES}")
    footer = f"Voxtral-layout backbones, real Whisper tiny.en tower, APP on a real Whisper-base; {sizes}."
    report = {"study": "language", "backbone": study.backbone, "seeds": study.seeds, "language_model":
              study.language_model, "sizes": None if study.full_size or study.quick else CPU_SIZES,
              "corpora": per_corpus}
    return write_study(study, report, markdown(per_corpus, footer), plot(per_corpus))


__all__ = ["CORPORA", "CPU_SIZES", "aggregate", "check_language_model", "corpus_study", "run", "variants"]
