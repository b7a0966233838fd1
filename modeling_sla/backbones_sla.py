"""The backbone families SLAForSessionScoring knows, by the `model_type` of the backbone's config."""

from .backbone_adapter_sla import BackboneAdapter
from .backbone_phi4_multimodal_sla import Phi4MultimodalAdapter
from .backbone_qwen2_audio_sla import Qwen2AudioAdapter
from .backbone_voxtral_sla import VoxtralAdapter


BACKBONE_ADAPTERS: dict[str, type[BackboneAdapter]] = {
    adapter.model_type: adapter for adapter in (Phi4MultimodalAdapter, VoxtralAdapter, Qwen2AudioAdapter)
}


def backbone_adapter(model_type: str) -> BackboneAdapter:
    """The adapter of a backbone family, by its config's `model_type`."""
    if model_type not in BACKBONE_ADAPTERS:
        raise ValueError(
            f"No backbone adapter for model_type {model_type!r}; supported: {sorted(BACKBONE_ADAPTERS)}. Adding a "
            f"family is one file with a `BackboneAdapter` subclass, registered here."
        )
    return BACKBONE_ADAPTERS[model_type]()


__all__ = ["BACKBONE_ADAPTERS", "backbone_adapter"]
