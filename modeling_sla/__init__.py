"""Session-level spoken language assessment on an audio LLM (Phi-4-multimodal by default): config, model and
building blocks."""

from .backbone_adapter_sla import BackboneAdapter
from .backbones_sla import BACKBONE_ADAPTERS, backbone_adapter
from .configuration_sla import SLAConfig
from .modeling_sla import PRIOR_TOKEN, SLAForSessionScoring, SLAOutput, SLAPreTrainedModel, add_prior_token
from .pipeline_sla import SLAScoringPipeline, register_sla_pipeline, save_pretrained_with_pipeline
from .test_format_sla import TestFormat, TestFormatError, built_in_formats, load_test_format


SLAConfig.register_for_auto_class()
SLAForSessionScoring.register_for_auto_class("AutoModel")

__all__ = [
    "BACKBONE_ADAPTERS",
    "BackboneAdapter",
    "PRIOR_TOKEN",
    "SLAConfig",
    "SLAForSessionScoring",
    "SLAOutput",
    "SLAPreTrainedModel",
    "SLAScoringPipeline",
    "TestFormat",
    "TestFormatError",
    "add_prior_token",
    "backbone_adapter",
    "built_in_formats",
    "load_test_format",
    "register_sla_pipeline",
    "save_pretrained_with_pipeline",
]
