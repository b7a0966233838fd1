"""Trains SLAForSessionScoring with the HF Trainer, in two stages, on a kit-layout corpus.

    # stage app: the APP classifier (MLP over pooled frozen Whisper states) on the 8 half bands of overall
    sla train --stage app --checkpoint tiny-sla --corpus_root corpus --output_dir runs/app
    # stage sla: LoRA, head and APP projector with the masked MSE, starting from the stage-app result
    sla train --stage sla --checkpoint runs/app --corpus_root corpus --output_dir runs/sla
    # another test: a model for the IELTS-like format started from the S&I one (backbone, LoRA and APP kept)
    sla train --stage sla --init_from runs/sla --format ielts-like --corpus_root ielts --output_dir runs/ielts

Every `TrainingArguments` flag works (`--help` lists them). The frozen encoders' outputs never change during a
stage, so they are computed once per session and reused across epochs (`--cache_encoders`, on by default).
Runs unchanged under `accelerate launch` or `torchrun`.
"""

import os
import tempfile

import torch
from safetensors.torch import load_file
from transformers import EvalPrediction, IntervalStrategy, Trainer, set_seed

from modeling_sla import SLAForSessionScoring, TestFormat, load_test_format
from modeling_sla.pipeline_sla import save_pretrained_with_pipeline
from processing_sla import SLAProcessor
from sla_phi4.data.sessions import scorable_rows
from sla_phi4.evaluation.metrics import official_metrics
from sla_phi4.training.acoustic_prior_stage import (
    AcousticPriorTrainingModel,
    app_metrics_function,
    app_rows,
    judged_targets,
)
from sla_phi4.training.arguments import DataArguments, ModelArguments, SLATrainingArguments
from sla_phi4.training.collator import SessionCollator
from sla_phi4.training.distributed import is_main_process
from sla_phi4.training.length_sampling import (
    LENGTH_STRATEGIES,
    SessionTrainer,
    cached_session_tokens,
    check_length_strategy,
)
from sla_phi4.training.quiet_warnings import quiet_token_alignment
from sla_phi4.training.response_dropout import response_dropout_data
from sla_phi4.training.session_cache import SessionCache, on_device
from sla_phi4.training.step_timer import StepTimer
from sla_phi4.training.transfer import transferred_model, transferred_processor


# ----------------------------------------------------------------------------------------------------- the model
def model_source(model_args: ModelArguments) -> str:
    """Where the model comes from: `checkpoint`, `init_from` or `backbone` (exactly one must be given)."""
    given = [name for name in ("checkpoint", "init_from", "backbone") if getattr(model_args, name)]
    if len(given) != 1:
        raise ValueError("Give exactly one of --checkpoint, --init_from (with --format) or --backbone (and "
                         f"--app_encoder); got {', '.join('--' + name for name in given) or 'none'}.")
    if given[0] == "init_from" and not model_args.format:
        raise ValueError("--init_from starts a model for another test: give its --format.")
    return given[0]


def load_model(model_args: ModelArguments, dtype: torch.dtype | None = None) -> SLAForSessionScoring:
    """The model to train, its training batches run as `--training_batching` says. Built from parts, its frozen
    backbone and Whisper are in `dtype` (default: bfloat16 on CUDA, as `sla gpu-check` trains; float32 otherwise);
    the head, APP classifier and LoRA are float32 either way."""
    model = source_model(model_args, dtype)
    model.config.training_batching = model_args.training_batching
    return model


def source_model(model_args: ModelArguments, dtype: torch.dtype | None = None) -> SLAForSessionScoring:
    """From a checkpoint, from a model of another test (`init_from`, with a new head for `format`), or built from
    parts (optionally taking the APP classifier of a stage-app result)."""
    source = model_source(model_args)
    if source == "init_from":
        return transferred_model(model_args.init_from, model_args.format)
    if source == "checkpoint":
        model = SLAForSessionScoring.from_pretrained(model_args.checkpoint)
        if not model_args.use_app and model.config.use_app:
            raise ValueError("--use_app false needs a model built from parts (--backbone), not --checkpoint.")
        if model_args.overall_mode != model.config.overall_mode:
            raise ValueError("--overall_mode differs from the checkpoint's: build from parts (--backbone).")
        return model
    model = SLAForSessionScoring.from_backbone(
        model_args.backbone,
        model_args.app_encoder if model_args.use_app else None,
        revision=model_args.backbone_revision,
        use_app=model_args.use_app,
        overall_mode=model_args.overall_mode,
        lora_rank=model_args.lora_rank,
        lora_alpha=model_args.lora_alpha or 2 * model_args.lora_rank,
        test_format=model_args.format,
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
def sla_metrics_function(test_format: TestFormat):
    def compute(prediction: EvalPrediction) -> dict:
        scores = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        labels, mask = prediction.label_ids
        results = {}
        for column, name in enumerate(test_format.score_names):
            present = mask[:, column].astype(bool)
            if present.sum() < 2:
                continue
            for metric, value in official_metrics(scores[present, column], labels[present, column],
                                                  test_format.target_scale(name).within).items():
                results[f"{name}_{metric}"] = value
        return results

    return compute


# --------------------------------------------------------------------------------------------------------- main
def load_rows(data_args: DataArguments, split: str, limit: int | None, test_format: TestFormat,
              ids_file: str | None = None):
    """Loader rows with audio (sessions without any response are counted and reported), those named in `ids_file`
    if given, at most `limit`."""
    rows = scorable_rows(data_args.corpus_root, split, data_args.on_missing, test_format)
    if ids_file:
        rows = select_sessions(rows, ids_file, split)
    return rows[:limit] if limit else rows


def select_sessions(rows: list[dict], ids_file: str, split: str) -> list[dict]:
    """The rows whose session ID `ids_file` names (one per line), in the split's order; an ID the split has no
    session with audio of is an error naming the file and the line."""
    with open(ids_file, encoding="utf-8") as handle:
        wanted = [(number, line.strip()) for number, line in enumerate(handle, start=1) if line.strip()]
    known = {row["session_id"] for row in rows}
    for number, session_id in wanted:
        if session_id not in known:
            raise ValueError(f"{ids_file}, line {number}: {session_id!r} is no session with audio of the {split!r} "
                             f"split.")
    chosen = {session_id for _, session_id in wanted}
    return [row for row in rows if row["session_id"] in chosen]


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


def evaluation_target(stage: str, metric_for_best_model: str, score_names: list[str]) -> str:
    """The mark that the best-model metric is computed on (`overall_rmse` needs overall marks)."""
    if stage == "app":
        return judged_targets(score_names)[0]
    return metric_for_best_model.removeprefix("eval_").split("_")[0]


def best_model_metric(training_args: SLATrainingArguments, test_format: TestFormat) -> None:
    """A test without an overall mark keeps the best model by its first part's RMSE (the default is overall's)."""
    if training_args.stage == "sla" and test_format.overall is None and \
            training_args.metric_for_best_model.removeprefix("eval_") == "overall_rmse":
        training_args.metric_for_best_model = f"{test_format.part_ids[0]}_rmse"
        if is_main_process():
            print(f"The {test_format.name} format has no overall mark: the best model is the one with the lowest "
                  f"{training_args.metric_for_best_model}.", flush=True)


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
    return sessions_marked(eval_rows, evaluation_target(stage, metric_for_best_model, score_names)) >= 2


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
            pooled.append(model(**on_device(batch, model.device)).pooled_state)
    labels, mask = collator.processor.labels_from_scores(rows)
    means = (labels * mask).sum(0) / mask.sum(0).clamp(min=1)
    means = torch.where(mask.sum(0) > 0, means, torch.full_like(means, float("nan")))
    model.fit_head_normalization(torch.cat(pooled), label_means=means)


def train(model_args: ModelArguments, data_args: DataArguments, training_args: SLATrainingArguments) -> Trainer:
    torch.set_flush_denormal(True)  # denormals slowed CPU epochs up to 8x once the model learns
    set_seed(training_args.seed)
    check_output_dir(training_args.output_dir)
    processor = load_processor(model_args)
    test_format = load_test_format(processor.test_format)
    stage = training_args.stage
    if stage == "app" and model_args.init_from:
        raise ValueError("--init_from keeps the APP of the model it starts from (and its bands): train stage sla.")
    check_length_strategy(training_args.train_sampling_strategy, stage, data_args.cache_encoders)
    best_model_metric(training_args, test_format)
    train_rows = load_rows(data_args, data_args.train_split, data_args.max_train_sessions, test_format,
                           data_args.train_ids)
    eval_rows = load_rows(data_args, data_args.eval_split, data_args.max_eval_sessions, test_format)
    if stage == "app":
        train_rows, eval_rows = app_rows(train_rows, eval_rows, processor.score_names, training_args.app_targets)
    evaluate = check_training_data(stage, train_rows, eval_rows, processor.score_names, data_args,
                                   training_args.metric_for_best_model)
    if not evaluate:
        without_evaluation(training_args, eval_rows, data_args.eval_split,
                           evaluation_target(stage, training_args.metric_for_best_model, processor.score_names))
        eval_rows = []
    # On the accelerator before the frozen encoders fill the cache (the Trainer would move it only afterwards).
    model = load_model(model_args).to(training_args.device)
    cache = None
    if data_args.cache_encoders or stage == "app":
        cache = SessionCache(model, processor, ("speech", "app") if stage == "sla" else ("app",), data_args.cache_dir)
        cache.add(train_rows + eval_rows, "Encoding sessions once (frozen encoders)")
    collator = SessionCollator(processor, cache, stage, training_args.app_targets, model.config.band_values)
    train_dataset, callbacks = response_dropout_data(train_rows, training_args, cache)
    if stage == "sla":
        fit_head(model, collator, train_rows, training_args.per_device_eval_batch_size)
        trainable = model.set_trainable("sla")
        trainer_model, metrics = model, sla_metrics_function(test_format)
    else:
        model.fit_app_normalization(torch.stack([cache[row]["app_pooled"] for row in train_rows]))
        trainer_model = AcousticPriorTrainingModel(model)
        trainable = model.num_trainable_parameters()
        if model.config.band_values != test_format.scale.bands:
            raise ValueError(f"The model's APP has bands {model.config.band_values}, not those of the "
                             f"{test_format.name} scale: it was started from another test's model; train stage sla.")
        judged = [processor.score_names.index(name) for name in judged_targets(processor.score_names)]
        metrics = app_metrics_function(model.config.band_values, judged)
    if is_main_process():
        print(f"Stage {stage} ({test_format.name}): {len(train_rows)} train / {len(eval_rows)} eval sessions, "
              f"{trainable:,} trainable parameters, world size {training_args.world_size}.", flush=True)
    # check_length_strategy has made sure a length-aware strategy comes with the cache's token counts
    lengths = cached_session_tokens(train_rows, cache) if training_args.train_sampling_strategy in LENGTH_STRATEGIES \
        else None
    trainer = SessionTrainer(
        session_lengths=lengths,
        model=trainer_model,
        args=training_args,
        data_collator=collator,
        train_dataset=train_dataset,
        eval_dataset=eval_rows or None,
        processing_class=processor,
        compute_metrics=metrics,
        callbacks=[StepTimer(), *callbacks],
    )
    with quiet_token_alignment():
        trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    if trainer.is_world_process_zero():
        save_pretrained_with_pipeline(model, processor, training_args.output_dir)
    if evaluate:
        trainer.evaluate()
    return trainer


def load_processor(model_args: ModelArguments) -> SLAProcessor:
    """The processor of the model `load_model` gives: the checkpoint's (whose format `--format`, if given, must be),
    the one of `init_from` for `--format`, or one built from the backbone for `--format`."""
    source = model_source(model_args)
    if source == "init_from":
        return transferred_processor(model_args.init_from, model_args.format)
    if source == "checkpoint":
        processor = SLAProcessor.from_pretrained(model_args.checkpoint)
        wanted = model_args.format
        if wanted and load_test_format(wanted).to_dict() != load_test_format(processor.test_format).to_dict():
            raise ValueError(f"--checkpoint {model_args.checkpoint} scores the {processor.test_format['name']} format, "
                             f"not --format {wanted}: start a model for {wanted} with --init_from.")
        return processor
    return SLAProcessor.from_backbone(
        model_args.backbone, model_args.app_encoder if model_args.use_app else None,
        revision=model_args.backbone_revision, use_app=model_args.use_app,
        test_format=load_test_format(model_args.format).to_dict(),
    )
