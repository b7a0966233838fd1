"""Phi-4-multimodal as the backbone: its conformer hears the clips, its Phi-3-style decoder reads the session."""

import os

import torch
from torch import nn
from transformers import Phi4MultimodalConfig, Phi4MultimodalModel, PreTrainedConfig
from transformers.utils import cached_file, logging

from .backbone_adapter_sla import BackboneAdapter
from .conformer_graphs_sla import ConformerGraphs
from .lora_sla import merge_speech_lora
from .speech_encoding_sla import encode_speech_clips, run_conformer_layers


logger = logging.get_logger(__name__)

SPEECH_LORA_SUBFOLDER = "speech-lora"


class Phi4MultimodalAdapter(BackboneAdapter):
    """`Phi4MultimodalModel` without its vision tower. The Hub repo keeps its speech LoRA apart in `speech-lora/`:
    `load` merges it into the frozen weights, as the model runs for speech."""

    model_type = "phi4_multimodal"
    model_class = Phi4MultimodalModel
    # Names inside `Phi4MultimodalModel`: the decoder layers only. A bare list of module names would also wrap the
    # conformer's `o_proj`, `gate_up_proj` and `down_proj`.
    language_layers_pattern = r"^layers\.\d+\.(self_attn\.(qkv_proj|o_proj)|mlp\.(gate_up_proj|down_proj))$"
    language_layers_prefix = "layers."

    def text_config(self, config: Phi4MultimodalConfig) -> PreTrainedConfig:
        return config  # the decoder's fields sit at the top of the Phi-4 config

    def audio_token_id(self, config: Phi4MultimodalConfig) -> int:
        return config.audio_config.audio_token_id

    def load(self, repo, *, revision, dtype, attn_implementation, device_map=None) -> Phi4MultimodalModel:
        backbone = super().load(
            repo, revision=revision, dtype=dtype, attn_implementation=attn_implementation, device_map=device_map
        )
        adapter_dir = _resolve_subfolder(repo, SPEECH_LORA_SUBFOLDER, revision)
        if adapter_dir is not None:
            merged = merge_speech_lora(backbone, adapter_dir)
            logger.info(f"Merged the speech LoRA of {repo} into {merged} backbone modules.")
        return backbone

    def strip(self, backbone: Phi4MultimodalModel) -> Phi4MultimodalModel:
        """Removes the vision tower and the vision-speech projections: sessions have no images."""
        extension = backbone.embed_tokens_extend
        for name in ("image_embed", "up_proj_for_vision_speech", "down_proj_for_vision_speech"):
            owner = extension if hasattr(extension, name) else extension.audio_embed
            if hasattr(owner, name):
                delattr(owner, name)
        return backbone

    def audio_modules(self, backbone: Phi4MultimodalModel) -> list[nn.Module]:
        return [backbone.embed_tokens_extend.audio_embed]

    def input_embeddings(self, backbone: Phi4MultimodalModel) -> nn.Embedding:
        return backbone.embed_tokens

    def encode_speech(self, backbone, features, lengths, sizes, graphs=None) -> torch.Tensor:
        audio_embedding = backbone.embed_tokens_extend.audio_embed
        device = next(audio_embedding.encoder.parameters()).device
        run_pass = graphs if graphs is not None and graphs.runs_on(device) else run_conformer_layers
        return encode_speech_clips(audio_embedding, features, lengths, sizes, run_pass)

    def audio_tower_graphs(self) -> ConformerGraphs:
        return ConformerGraphs()

    def language_model(self, backbone: Phi4MultimodalModel) -> nn.Module:
        return backbone  # given `inputs_embeds` alone, the model runs its decoder only


def _resolve_subfolder(repo: str | os.PathLike, subfolder: str, revision: str | None) -> str | None:
    """Local folder of `subfolder` in a repo or folder, downloading its adapter files; None when it is absent."""
    if os.path.isdir(repo):
        path = os.path.join(repo, subfolder)
        return path if os.path.isfile(os.path.join(path, "adapter_config.json")) else None
    config_file = cached_file(
        repo, "adapter_config.json", subfolder=subfolder, revision=revision,
        _raise_exceptions_for_missing_entries=False,
    )
    if config_file is None:
        return None
    cached_file(repo, "adapter_model.safetensors", subfolder=subfolder, revision=revision)
    return os.path.dirname(config_file)


__all__ = ["Phi4MultimodalAdapter"]
