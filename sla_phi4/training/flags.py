"""The flags of `sla train` that are this package's own (where the model comes from, the corpus, the stage, and the
Trainer defaults it sets), as plain dataclasses that import neither torch nor transformers: `sla train --help`
builds its parser from them at once. `arguments.SLATrainingArguments` joins them to `transformers.TrainingArguments`.
"""

from dataclasses import dataclass, field


# Stage app's targets. Measured on the main job's corpus (5-fold cross-validation on train, 3 seeds, Whisper-base
# pooled states): the overall mark alone (66 of 280 train sessions) gives RMSE 0.538, every mark 0.498 (README).
APP_TARGETS = {"all": None, "overall": "overall"}


@dataclass
class ModelArguments:
    """Where the model comes from, and the switches of the paper's ablations."""

    checkpoint: str | None = field(default=None, metadata={"help": "An SLA checkpoint folder or repo to start from."})
    format: str | None = field(default=None, metadata={
        "help": "The test format: sandi2025 (default), ielts-like, toefl-like, or a test_format.json file. With "
                "--checkpoint it must be the checkpoint's; with --backbone or --init_from it is the new model's."})
    init_from: str | None = field(default=None, metadata={
        "help": "Start a model for --format from a trained one (another test's): its backbone, LoRA and APP are "
                "kept, the head is made anew. Train stage sla on it."})
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
    training_batching: str = field(default="padded", metadata={
        "choices": ["padded", "per_session"],
        "help": "How a training batch runs: one padded pass (default), or per_session, one pass per session without "
                "padding, the loss over the whole batch (opt-in; docs/performance.md)."})


@dataclass
class DataArguments:
    """The corpus (kit layout: the S&I 2025 kit or a synthetic one, of the model's test format) and the encoder
    cache."""

    corpus_root: str = field(metadata={"help": "Root of a kit-layout corpus."})
    train_split: str = field(default="train", metadata={"help": "The split to train on."})
    eval_split: str = field(default="dev", metadata={"help": "The split evaluated each epoch (the best epoch's)."})
    on_missing: str = field(default="error", metadata={"help": "'error' or 'skip' for listed but absent audio."})
    max_train_sessions: int | None = field(default=None, metadata={"help": "Train on at most this many sessions."})
    train_ids: str | None = field(default=None, metadata={
        "help": "A text file of submission IDs, one per line: train on these sessions of the train split only "
                "(learning curves, starting a new test's model from few sessions)."})
    max_eval_sessions: int | None = field(default=None, metadata={"help": "Evaluate on at most this many sessions."})
    cache_encoders: bool = field(
        default=True, metadata={"help": "Compute frozen audio-encoder outputs and APP inputs once per session."}
    )
    cache_dir: str | None = field(
        default=None, metadata={"help": "Keep those on disk here, for the next stage, scoring and baselines."}
    )


# Stage app's targets. Measured on the main job's corpus (5-fold cross-validation on train, 3 seeds, Whisper-base
# pooled states): the overall mark alone (66 of 280 train sessions) gives RMSE 0.538, every mark 0.498 (README).
APP_TARGETS = {"all": None, "overall": "overall"}



@dataclass
class StageArguments:
    """Which stage trains, and what it learns from."""

    stage: str = field(default="sla", metadata={"help": "'app' (APP classifier) or 'sla' (LoRA, head, projector)."})
    app_targets: str = field(
        default="all", metadata={"help": "Stage app: 'all' (every mark a session has, parts and overall) or "
                                         "'overall' (the overall mark only)."}
    )
    drop_responses: float = field(
        default=0.0, metadata={"help": "Stage sla: each epoch, each training session loses each response with this "
                                       "probability (never all of a marked part's); 0 trains on whole sessions."}
    )


@dataclass
class TrainerDefaults:
    """The `TrainingArguments` whose defaults this task changes: evaluate and save each epoch, keep the best."""

    output_dir: str = field(default="runs/sla", metadata={"help": "Where the trained model (and checkpoints) go."})
    eval_strategy: str = field(default="epoch", metadata={"help": "When to evaluate on --eval_split."})
    save_strategy: str = field(default="epoch", metadata={"help": "When to save a checkpoint."})
    logging_strategy: str = field(default="epoch", metadata={"help": "When to log the training loss."})
    load_best_model_at_end: bool = field(default=True, metadata={"help": "Keep the best epoch's weights."})
    metric_for_best_model: str | None = field(default=None, metadata={
        "help": "The dev figure that picks the best epoch (default: overall_rmse in stage sla, app_rmse in app)."})
    greater_is_better: bool | None = field(default=False, metadata={"help": "Whether a higher best-model figure wins."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Checkpoints kept (the best always is)."})
    learning_rate: float = field(default=2e-4, metadata={"help": "AdamW's peak learning rate."})
    num_train_epochs: float = field(default=10.0, metadata={"help": "Epochs."})
    per_device_train_batch_size: int = field(default=8, metadata={"help": "Sessions per training batch and device."})
    per_device_eval_batch_size: int = field(default=8, metadata={"help": "Sessions per evaluation batch and device."})
    warmup_steps: float = field(default=0.05, metadata={"help": "Warm-up: steps, or a share of them when below 1."})
    remove_unused_columns: bool = field(default=False, metadata={
        "help": "Always false here: the collator needs the raw session columns."})


# The groups of `sla train --help`, in order: the package's own flags, then the Trainer's.
FLAG_GROUPS = {
    "stage": (StageArguments, ("stage", "app_targets", "drop_responses")),
    "data": (DataArguments, None),
    "model": (ModelArguments, ("checkpoint", "format", "init_from", "backbone", "backbone_revision", "overall_mode",
                                    "training_batching")),
    "LoRA": (ModelArguments, ("lora_rank", "lora_alpha")),
    "APP (Acoustic Proficiency Prior)": (ModelArguments, ("app_encoder", "app_checkpoint", "use_app")),
    "Trainer flags this package sets (transformers.TrainingArguments)": (TrainerDefaults, None),
}


__all__ = ["APP_TARGETS", "FLAG_GROUPS", "DataArguments", "ModelArguments", "StageArguments", "TrainerDefaults"]
