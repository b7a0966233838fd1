"""Session-level spoken language assessment on an audio LLM (Phi-4-multimodal by default): config, model and
building blocks."""

from .backbone_adapter_sla import BackboneAdapter
from .backbones_sla import BACKBONE_ADAPTERS, backbone_adapter
from .configuration_sla import DEFAULT_SCORE_NAMES, PART_NAMES, SLAConfig
from .modeling_sla import PRIOR_TOKEN, SLAForSessionScoring, SLAOutput, SLAPreTrainedModel, add_prior_token
from .pipeline_sla import SLAScoringPipeline, register_sla_pipeline, save_pretrained_with_pipeline


SLAConfig.register_for_auto_class()
SLAForSessionScoring.register_for_auto_class("AutoModel")

__all__ = [
    "BACKBONE_ADAPTERS",
    "BackboneAdapter",
    "DEFAULT_SCORE_NAMES",
    "PART_NAMES",
    "PRIOR_TOKEN",
    "SLAConfig",
    "SLAForSessionScoring",
    "SLAOutput",
    "SLAPreTrainedModel",
    "SLAScoringPipeline",
    "add_prior_token",
    "backbone_adapter",
    "register_sla_pipeline",
    "save_pretrained_with_pipeline",
]
