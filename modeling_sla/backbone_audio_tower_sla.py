"""What the transformers audio LLMs laid out as `audio_tower` + `multi_modal_projector` + `language_model` share
(Voxtral, Qwen2-Audio): where their parts are, and LoRA on the language model's layers only."""

from torch import nn

from .backbone_adapter_sla import BackboneAdapter


class AudioTowerAdapter(BackboneAdapter):
    """A backbone whose `language_model` is a Llama-style decoder (`embed_tokens`, `layers`), fed by an
    `audio_tower` through a `multi_modal_projector`."""

    # The decoder's attention and MLP projections; the tower's own `q_proj`/`k_proj`/`v_proj` do not match.
    language_layers_pattern = (
        r"^language_model\.layers\.\d+\.(self_attn\.(q_proj|k_proj|v_proj|o_proj)|mlp\.(gate_proj|up_proj|down_proj))$"
    )
    language_layers_prefix = "language_model.layers."

    def audio_modules(self, backbone) -> list[nn.Module]:
        return [backbone.audio_tower, backbone.multi_modal_projector]

    def input_embeddings(self, backbone) -> nn.Embedding:
        return backbone.language_model.embed_tokens

    def language_model(self, backbone) -> nn.Module:
        return backbone.language_model


__all__ = ["AudioTowerAdapter"]
