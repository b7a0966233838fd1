#!/usr/bin/env python
"""Trains SLAForSessionScoring with the HF Trainer, in two stages, on a kit-layout corpus.

    # stage app: the APP classifier (MLP over pooled frozen Whisper states) on the 8 half bands of overall
    python scripts/train.py --stage app --checkpoint tiny-sla --corpus_root corpus --output_dir runs/app
    # stage sla: LoRA, head and APP projector with the masked MSE, starting from the stage-app result
    python scripts/train.py --stage sla --checkpoint runs/app --corpus_root corpus --output_dir runs/sla

Every `TrainingArguments` flag works (`--help` lists them). The frozen encoders' outputs never change during a
stage, so they are computed once per session and reused across epochs (`--cache_encoders`, on by default).
Runs unchanged under `accelerate launch` or `torchrun`.
"""

import os
import sys
import tempfile
from dataclasses import dataclass, field

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn
from transformers import EvalPrediction, HfArgumentParser, IntervalStrategy, Trainer, TrainingArguments, set_seed


sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from modeling_sla import SLAForSessionScoring  # noqa: E402
from modeling_sla.pipeline_sla import save_pretrained_with_pipeline  # noqa: E402
from processing_sla import SLAProcessor  # noqa: E402
from score_corpus import scorable_rows  # noqa: E402
from session_cache import SessionCache  # noqa: E402
from sla_metrics import official_metrics  # noqa: E402


@dataclass
class ModelArguments:
    """Where the model comes from, and the switches of the paper's ablations."""

    checkpoint: str | None = field(default=None, metadata={"help": "An SLA checkpoint folder or repo to start from."})
    backbone: str | None = field(
        default=None, metadata={"help": "Build anew from a Phi-4-multimodal repo/folder (with --app_encoder)."}
    )
    app_encoder: str | None = field(default=None, metadata={"help": "Whisper repo/folder for the APP."})
    backbone_revision: str | None = field(default=None, metadata={"help": "e.g. refs/pr/70 for Phi-4."})
    app_checkpoint: str | None = field(
        default=None, metadata={"help": "A stage-app result whose APP classifier is copied into the new model."}
    )
    use_app: bool = field(default=True, metadata={"help": "Ablation: --use_app false drops the APP prior token."})
    overall_mode: str = field(default="head", metadata={"help": "'head' or 'part_mean' (ablation)."})
    lora_rank: int = field(default=16, metadata={"help": "LoRA rank (ablation), when building from parts."})
    lora_alpha: int | None = field(default=None, metadata={"help": "Defaults to twice the rank."})


@dataclass
class DataArguments:
    """The corpus (kit layout: the S&I 2025 kit or a synthetic one) and the encoder cache."""

    corpus_root: str = field(metadata={"help": "Root of a kit-layout corpus."})
    train_split: str = field(default="train")
    eval_split: str = field(default="dev")
    on_missing: str = field(default="error", metadata={"help": "'error' or 'skip' for listed but absent audio."})
    max_train_sessions: int | None = field(default=None)
    max_eval_sessions: int | None = field(default=None)
    cache_encoders: bool = field(
        default=True, metadata={"help": "Compute frozen audio-encoder outputs and APP inputs once per session."}
    )
    cache_dir: str | None = field(
        default=None, metadata={"help": "Keep those on disk here, for the next stage, scoring and baselines."}
    )


@dataclass
class SLATrainingArguments(TrainingArguments):
    """TrainingArguments with this task's defaults: evaluate and save each epoch, keep the best overall RMSE."""

    stage: str = field(default="sla", metadata={"help": "'app' (APP classifier) or 'sla' (LoRA, head, projector)."})
    app_targets: str = field(
        default="all", metadata={"help": "Stage app: 'all' (every mark a session has, parts and overall) or "
                                         "'overall' (the overall mark only)."}
    )
    output_dir: str = field(default="runs/sla")
    eval_strategy: str = field(default="epoch")
    save_strategy: str = field(default="epoch")
    logging_strategy: str = field(default="epoch")
    load_best_model_at_end: bool = field(default=True)
    metric_for_best_model: str | None = field(default=None)
    greater_is_better: bool | None = field(default=False)
    save_total_limit: int | None = field(default=2)
    learning_rate: float = field(default=2e-4)
    num_train_epochs: float = field(default=10.0)
    per_device_train_batch_size: int = field(default=8)
    per_device_eval_batch_size: int = field(default=8)
    warmup_steps: float = field(default=0.05)
    remove_unused_columns: bool = field(default=False)

    def __post_init__(self):
        if self.stage not in ("app", "sla"):
            raise ValueError(f"--stage must be 'app' or 'sla', got {self.stage!r}")
        if self.app_targets not in APP_TARGETS:
            raise ValueError(f"--app_targets must be one of {sorted(APP_TARGETS)}, got {self.app_targets!r}")
        if self.metric_for_best_model is None:
            self.metric_for_best_model = "overall_rmse" if self.stage == "sla" else "app_rmse"
        if self.label_names is None:
            self.label_names = ["labels", "labels_mask"] if self.stage == "sla" else ["app_labels"]
        self.remove_unused_columns = False  # the collator needs the raw session columns
        super().__post_init__()


# ----------------------------------------------------------------------------------------------------- the model
def load_model(model_args: ModelArguments, dtype=torch.float32) -> SLAForSessionScoring:
    """From a checkpoint, or built from parts (optionally taking the APP classifier of a stage-app result)."""
    if model_args.checkpoint and model_args.backbone:
        raise ValueError("Give either --checkpoint or --backbone, not both.")
    if model_args.checkpoint:
        model = SLAForSessionScoring.from_pretrained(model_args.checkpoint)
        if not model_args.use_app and model.config.use_app:
            raise ValueError("--use_app false needs a model built from parts (--backbone), not --checkpoint.")
        if model_args.overall_mode != model.config.overall_mode:
            raise ValueError("--overall_mode differs from the checkpoint's: build from parts (--backbone).")
        return model
    if not model_args.backbone:
        raise ValueError("Give --checkpoint, or --backbone (and --app_encoder) to build from parts.")
    model = SLAForSessionScoring.from_backbone(
        model_args.backbone,
        model_args.app_encoder if model_args.use_app else None,
        revision=model_args.backbone_revision,
        use_app=model_args.use_app,
        overall_mode=model_args.overall_mode,
        lora_rank=model_args.lora_rank,
        lora_alpha=model_args.lora_alpha or 2 * model_args.lora_rank,
        dtype=dtype,
    )
    if model_args.app_checkpoint and model.app is not None:
        copy_app_classifier(model, model_args.app_checkpoint)
    return model


def copy_app_classifier(model: SLAForSessionScoring, folder: str) -> None:
    state = load_file(os.path.join(folder, "model.safetensors"))
    prefix = "app.classifier."
    weights = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
    if not weights:
        raise ValueError(f"{folder}/model.safetensors has no APP classifier weights ({prefix}*).")
    model.app.classifier.load_state_dict(weights)


# --------------------------------------------------------------------------------------------------- batches
class SessionCollator:
    """Builds model inputs for a list of loader rows, from the cache or through the processor."""

    def __init__(self, processor: SLAProcessor, cache: SessionCache | None, stage: str, app_targets: str = "all"):
        self.processor, self.cache, self.stage, self.app_targets = processor, cache, stage, app_targets

    def __call__(self, rows: list[dict]) -> dict:
        labels, labels_mask = self.processor.labels_from_scores(rows)
        if self.stage == "app":
            return {"app_pooled": torch.stack([self.cache[row]["app_pooled"] for row in rows]),
                    "app_labels": band_targets(labels, labels_mask, self.processor.score_names, self.app_targets)}
        if self.cache is None:  # the frozen encoders run every step
            batch = dict(self.processor(rows, assess_audio=False))
        else:
            batch = self.cache.batch(rows)
        batch["labels"], batch["labels_mask"] = labels, labels_mask
        return batch



# Stage app's targets. Measured on the main job's corpus (5-fold cross-validation on train, 3 seeds, Whisper-base
# pooled states): the overall mark alone (66 of 280 train sessions) gives RMSE 0.538, every mark 0.498 (README).
APP_TARGETS = {"all": None, "overall": "overall"}


def band_targets(labels: torch.Tensor, mask: torch.Tensor, score_names: list[str], targets: str = "all",
                 low=2.0, step=0.5, bands=8) -> torch.Tensor:
    """`(batch, num_scores)` classes of each mark's nearest half band, -100 (ignored by the loss) where a mark is
    absent or not a target (`targets="overall"`: every column but overall)."""
    index = torch.round((labels - low) / step).long().clamp(0, bands - 1)
    present = mask.clone()
    if APP_TARGETS[targets] is not None:
        present[:, [column for column, name in enumerate(score_names) if name != APP_TARGETS[targets]]] = False
    return torch.where(present, index, torch.full_like(index, -100))


class AcousticPriorTrainingModel(nn.Module):
    """Stage app: the APP classifier alone, on cached pooled Whisper states, with cross-entropy over bands."""

    def __init__(self, model: SLAForSessionScoring):
        super().__init__()
        if model.app is None:
            raise ValueError("Stage app needs a model with the APP (use_app=True).")
        self.sla = model
        model.set_trainable("app")

    def forward(self, app_pooled: torch.Tensor, app_labels: torch.Tensor | None = None):
        """`app_labels`: `(batch, num_targets)` band classes (-100 where absent); the loss is the mean cross-entropy
        over the marks present."""
        logits = self.sla.app.classify(app_pooled)
        loss = None
        if app_labels is not None:
            repeated = logits.unsqueeze(1).expand(-1, app_labels.shape[1], -1)
            loss = nn.functional.cross_entropy(repeated.reshape(-1, logits.shape[-1]), app_labels.reshape(-1),
                                               ignore_index=-100)
        return {"loss": loss, "logits": logits}


# ------------------------------------------------------------------------------------------------------ metrics
def sla_metrics_function(score_names: list[str]):
    def compute(prediction: EvalPrediction) -> dict:
        scores = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        labels, mask = prediction.label_ids
        results = {}
        for column, name in enumerate(score_names):
            present = mask[:, column].astype(bool)
            if present.sum() < 2:
                continue
            for metric, value in official_metrics(scores[present, column], labels[present, column]).items():
                results[f"{name}_{metric}"] = value
        return results

    return compute


def app_metrics_function(band_values: list[float], overall_column: int):
    """Accuracy and RMSE of the APP's expected band against the overall mark's band, whatever it trained on."""

    def compute(prediction: EvalPrediction) -> dict:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        labels = prediction.label_ids[:, overall_column]
        present = labels != -100
        probs = torch.tensor(logits[present]).softmax(-1).numpy()
        expected = probs @ np.asarray(band_values)
        reference = np.asarray(band_values)[labels[present]]
        return {"app_accuracy": float((probs.argmax(-1) == labels[present]).mean()),
                "app_rmse": float(np.sqrt(((expected - reference) ** 2).mean()))}

    return compute


# --------------------------------------------------------------------------------------------------------- main
def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def load_rows(data_args: DataArguments, split: str, limit: int | None):
    """Loader rows with audio (sessions without any response are counted and reported), at most `limit`."""
    rows = scorable_rows(data_args.corpus_root, split, data_args.on_missing)
    return rows[:limit] if limit else rows


def check_output_dir(path: str) -> None:
    """Fails at once when `path` cannot be written (otherwise found at the first save, after the encoder cache)."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ValueError(f"--output_dir {path} cannot be written: {error}") from None


def sessions_marked(rows: list[dict], target: str) -> int:
    return sum(row.get(target) is not None for row in rows)


def app_rows(train_rows: list[dict], eval_rows: list[dict], score_names: list[str], targets: str):
    """Stage app's sessions: in train those with a target mark (any mark, or overall), in eval those with an overall
    mark (the APP is judged on the overall band). Says how many were left out."""
    wanted = list(score_names) if targets == "all" else ["overall"]
    kept_train = [row for row in train_rows if any(row.get(name) is not None for name in wanted)]
    kept_eval = [row for row in eval_rows if row.get("overall") is not None]
    if _is_main_process():
        print(f"Stage app trains on {'every mark' if targets == 'all' else 'the overall mark'}: left out "
              f"{len(train_rows) - len(kept_train)} train sessions without one, and {len(eval_rows) - len(kept_eval)} "
              f"eval sessions without an overall mark.", flush=True)
    return kept_train, kept_eval


def evaluation_target(stage: str, metric_for_best_model: str) -> str:
    """The mark that the best-model metric is computed on (`overall_rmse` needs overall marks)."""
    return "overall" if stage == "app" else metric_for_best_model.removeprefix("eval_").split("_")[0]


def check_training_data(stage: str, train_rows: list[dict], eval_rows: list[dict], score_names: list[str],
                        data_args: DataArguments, metric_for_best_model: str) -> bool:
    """Raises ValueError, before any expensive work, when training has nothing to learn from; returns whether the
    eval split can be evaluated (at least two sessions with the mark that `metric_for_best_model` needs)."""
    where = f"The {data_args.train_split!r} split of {data_args.corpus_root}"
    if not train_rows:
        raise ValueError(f"{where} has no sessions with audio: nothing to train on." if stage == "sla" else
                         f"{where} has no marks that stage app learns from: nothing to learn.")
    if stage == "sla" and not any(sessions_marked(train_rows, name) for name in score_names):
        raise ValueError(f"{where} has no marks for any of {', '.join(score_names)}: nothing to learn (the loss "
                         f"would be 0). Train on a split with marks.")
    return sessions_marked(eval_rows, evaluation_target(stage, metric_for_best_model)) >= 2


def without_evaluation(training_args: SLATrainingArguments, eval_rows: list[dict], split: str, target: str) -> None:
    """Switches evaluation off (no best checkpoint) and says so."""
    training_args.eval_strategy = IntervalStrategy.NO
    training_args.load_best_model_at_end = False
    if _is_main_process():
        print(f"Eval split {split!r} has {sessions_marked(eval_rows, target)} sessions with {target} marks (2 "
              f"needed): training without evaluation; the model of the last epoch is saved.", flush=True)


def fit_head(model: SLAForSessionScoring, collator: SessionCollator, rows: list[dict], batch_size: int) -> None:
    """Sets the head's fixed standardisation from the training sessions, and its bias to the training means."""
    model.eval()
    pooled = []
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            batch = collator(rows[start : start + batch_size])
            batch = {key: value for key, value in batch.items() if key not in ("labels", "labels_mask")}
            pooled.append(model(**batch).pooled_state)
    labels, mask = collator.processor.labels_from_scores(rows)
    means = (labels * mask).sum(0) / mask.sum(0).clamp(min=1)
    means = torch.where(mask.sum(0) > 0, means, torch.full_like(means, float("nan")))
    model.fit_head_normalization(torch.cat(pooled), label_means=means)


def train(model_args: ModelArguments, data_args: DataArguments, training_args: SLATrainingArguments) -> Trainer:
    torch.set_flush_denormal(True)  # denormals slowed CPU epochs up to 8x once the model learns
    set_seed(training_args.seed)
    check_output_dir(training_args.output_dir)
    if model_args.checkpoint:
        processor = SLAProcessor.from_pretrained(model_args.checkpoint)
    else:
        processor = build_processor(model_args)
    train_rows = load_rows(data_args, data_args.train_split, data_args.max_train_sessions)
    eval_rows = load_rows(data_args, data_args.eval_split, data_args.max_eval_sessions)
    stage = training_args.stage
    if stage == "app":
        train_rows, eval_rows = app_rows(train_rows, eval_rows, processor.score_names, training_args.app_targets)
    evaluate = check_training_data(stage, train_rows, eval_rows, processor.score_names, data_args,
                                   training_args.metric_for_best_model)
    if not evaluate:
        without_evaluation(training_args, eval_rows, data_args.eval_split,
                           evaluation_target(stage, training_args.metric_for_best_model))
        eval_rows = []
    model = load_model(model_args)
    cache = None
    if data_args.cache_encoders or stage == "app":
        cache = SessionCache(model, processor, ("speech", "app") if stage == "sla" else ("app",), data_args.cache_dir)
        cache.add(train_rows + eval_rows, "Encoding sessions once (frozen encoders)")
    collator = SessionCollator(processor, cache, stage, training_args.app_targets)
    if stage == "sla":
        fit_head(model, collator, train_rows, training_args.per_device_eval_batch_size)
        trainable = model.set_trainable("sla")
        trainer_model, metrics = model, sla_metrics_function(processor.score_names)
    else:
        model.fit_app_normalization(torch.stack([cache[row]["app_pooled"] for row in train_rows]))
        trainer_model = AcousticPriorTrainingModel(model)
        trainable = model.num_trainable_parameters()
        metrics = app_metrics_function(model.config.band_values, processor.score_names.index("overall"))
    if _is_main_process():
        print(f"Stage {stage}: {len(train_rows)} train / {len(eval_rows)} eval sessions, "
              f"{trainable:,} trainable parameters, world size {training_args.world_size}.", flush=True)
    trainer = Trainer(
        model=trainer_model,
        args=training_args,
        data_collator=collator,
        train_dataset=train_rows,
        eval_dataset=eval_rows or None,
        processing_class=processor,
        compute_metrics=metrics,
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    if trainer.is_world_process_zero():
        save_pretrained_with_pipeline(model, processor, training_args.output_dir)
    if evaluate:
        trainer.evaluate()
    return trainer


def build_processor(model_args: ModelArguments) -> SLAProcessor:
    return SLAProcessor.from_backbone(
        model_args.backbone, model_args.app_encoder if model_args.use_app else None,
        revision=model_args.backbone_revision, use_app=model_args.use_app,
    )


def main(argv=None) -> None:
    parser = HfArgumentParser((ModelArguments, DataArguments, SLATrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    train(model_args, data_args, training_args)


if __name__ == "__main__":
    main()
