"""Training with the HF Trainer in two stages (app, then sla) on a kit-layout corpus, with the frozen encoders'
outputs computed once per session (`SessionCache`)."""

from .arguments import APP_TARGETS, DataArguments, ModelArguments, SLATrainingArguments
from .collator import SessionCollator, band_targets
from .session_cache import SessionCache
from .trainer import load_model, train


__all__ = ["APP_TARGETS", "DataArguments", "ModelArguments", "SLATrainingArguments", "SessionCache",
           "SessionCollator", "band_targets", "load_model", "train"]
