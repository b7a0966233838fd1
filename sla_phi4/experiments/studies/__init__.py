"""The ablation studies on the main job's corpus: one module a study, each a `run(StudySettings) -> report`, all on
the runs of `runs.py` (shared corpus, shared session cache, one folder a variant and seed, resumable)."""

from . import app, language, language_probe, lora_rank, overall_mode, truncation
from .runs import StudySettings, Variant


STUDIES = {"app": app, "lora-rank": lora_rank, "truncation": truncation, "overall-mode": overall_mode,
           "language": language, "language-probe": language_probe}

__all__ = ["STUDIES", "StudySettings", "Variant"]
