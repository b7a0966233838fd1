"""sla-phi4: session-level spoken language assessment on audio LLMs, around the remote code that a checkpoint loads
(`modeling_sla`, `processing_sla`).

One sub-package a concern: `data` (the S&I kit loader, the synthetic corpus, speech synthesis), `training` (the
two-stage Trainer, its arguments, collator and session cache), `evaluation` (scoring a corpus, metrics,
baselines), `hub` (model card, publishing), `conversion` (CTranslate2 Whisper to transformers), `analysis` (the
real configurations, FLOPs at real size), `benchmarks` (CPU benchmark, GPU check, measurements), `testing`
(stand-ins and tiny checkpoints), `experiments` (the main job, ablations) and `cli` (the `sla` command).
"""

from importlib.metadata import PackageNotFoundError, version


try:
    __version__ = version("sla-phi4")
except PackageNotFoundError:  # a checkout that is not installed
    __version__ = "0.0.0"
