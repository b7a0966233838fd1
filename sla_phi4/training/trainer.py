"""Trains SLAForSessionScoring with the HF Trainer, in two stages, on a kit-layout corpus.

    # stage app: the APP classifier (MLP over pooled frozen Whisper states) on the 8 half bands of overall
    sla train --stage app --checkpoint tiny-sla --corpus_root corpus --output_dir runs/app
    # stage sla: LoRA, head and APP projector with the masked MSE, starting from the stage-app result
    sla train --stage sla --checkpoint runs/app --corpus_root corpus --output_dir runs/sla

Every `TrainingArguments` flag works (`--help` lists them). The frozen encoders' outputs never change during a
stage, so they are computed once per session and reused across epochs (`--cache_encoders`, on by default).
Runs unchanged under `accelerate launch` or `torchrun`.
"""

import os
import tempfile

import torch
from safetensors.torch import load_file
from transformers import EvalPrediction, IntervalStrategy, Trainer, set_seed

from modeling_sla import SLAForSessionScoring
from modeling_sla.pipeline_sla import save_pretrained_with_pipeline
from processing_sla import SLAProcessor
from sla_phi4.data.sessions import scorable_rows
from sla_phi4.evaluation.metrics import official_metrics
from sla_phi4.training.acoustic_prior_stage import AcousticPriorTrainingModel, app_metrics_function, app_rows
from sla_phi4.training.arguments import DataArguments, ModelArguments, SLATrainingArguments
from sla_phi4.training.collator import SessionCollator
from sla_phi4.training.distributed import is_main_process
from sla_phi4.training.response_dropout import response_dropout_data
from sla_phi4.training.session_cache import SessionCache
from sla_phi4.training.step_timer import StepTimer


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


# --------------------------------------------------------------------------------------------------------- main
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
    if is_main_process():
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
    train_dataset, callbacks = response_dropout_data(train_rows, training_args, cache)
    if stage == "sla":
        fit_head(model, collator, train_rows, training_args.per_device_eval_batch_size)
        trainable = model.set_trainable("sla")
        trainer_model, metrics = model, sla_metrics_function(processor.score_names)
    else:
        model.fit_app_normalization(torch.stack([cache[row]["app_pooled"] for row in train_rows]))
        trainer_model = AcousticPriorTrainingModel(model)
        trainable = model.num_trainable_parameters()
        metrics = app_metrics_function(model.config.band_values, processor.score_names.index("overall"))
    if is_main_process():
        print(f"Stage {stage}: {len(train_rows)} train / {len(eval_rows)} eval sessions, "
              f"{trainable:,} trainable parameters, world size {training_args.world_size}.", flush=True)
    trainer = Trainer(
        model=trainer_model,
        args=training_args,
        data_collator=collator,
        train_dataset=train_dataset,
        eval_dataset=eval_rows or None,
        processing_class=processor,
        compute_metrics=metrics,
        callbacks=[StepTimer(), *callbacks],
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
