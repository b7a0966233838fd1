"""The flags of `sla train`: the package's own (`flags`) joined to TrainingArguments, with this task's defaults."""

from dataclasses import dataclass

import torch
from transformers import TrainingArguments

from sla_phi4.training.flags import APP_TARGETS, DataArguments, ModelArguments, StageArguments, TrainerDefaults


@dataclass
class SLATrainingArguments(TrainerDefaults, StageArguments, TrainingArguments):
    """TrainingArguments with this task's defaults (`TrainerDefaults`: evaluate and save each epoch, keep the best
    overall RMSE) and its stage flags (`StageArguments`)."""

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
        if self.dataloader_pin_memory and (self.use_cpu or not torch.accelerator.is_available()):
            self.dataloader_pin_memory = False  # pinned memory only speeds copies to an accelerator
        super().__post_init__()


__all__ = ["APP_TARGETS", "DataArguments", "ModelArguments", "SLATrainingArguments"]
