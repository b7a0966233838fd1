"""The flags of `sla train`: where the model comes from, the corpus, and TrainingArguments with this task's
defaults."""

from dataclasses import dataclass, field

from transformers import TrainingArguments


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


@dataclass
class DataArguments:
    """The corpus (kit layout: the S&I 2025 kit or a synthetic one, of the model's test format) and the encoder
    cache."""

    corpus_root: str = field(metadata={"help": "Root of a kit-layout corpus."})
    train_split: str = field(default="train")
    eval_split: str = field(default="dev")
    on_missing: str = field(default="error", metadata={"help": "'error' or 'skip' for listed but absent audio."})
    max_train_sessions: int | None = field(default=None)
    train_ids: str | None = field(default=None, metadata={
        "help": "A text file of submission IDs, one per line: train on these sessions of the train split only "
                "(learning curves, starting a new test's model from few sessions)."})
    max_eval_sessions: int | None = field(default=None)
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
class SLATrainingArguments(TrainingArguments):
    """TrainingArguments with this task's defaults: evaluate and save each epoch, keep the best overall RMSE."""

    stage: str = field(default="sla", metadata={"help": "'app' (APP classifier) or 'sla' (LoRA, head, projector)."})
    app_targets: str = field(
        default="all", metadata={"help": "Stage app: 'all' (every mark a session has, parts and overall) or "
                                         "'overall' (the overall mark only)."}
    )
    drop_responses: float = field(
        default=0.0, metadata={"help": "Stage sla: each epoch, each training session loses each response with this "
                                       "probability (never all of a marked part's); 0 trains on whole sessions."}
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
        if self.drop_responses and self.stage != "sla":
            raise ValueError("--drop_responses applies to stage sla (stage app learns from whole sessions).")
        if not 0.0 <= self.drop_responses < 1.0:
            raise ValueError(f"--drop_responses must be in [0, 1), got {self.drop_responses}.")
        if self.metric_for_best_model is None:
            self.metric_for_best_model = "overall_rmse" if self.stage == "sla" else "app_rmse"
        if self.label_names is None:
            self.label_names = ["labels", "labels_mask"] if self.stage == "sla" else ["app_labels"]
        self.remove_unused_columns = False  # the collator needs the raw session columns
        super().__post_init__()
