"""Voxtral as the backbone: a Whisper-shaped audio tower on 30 s windows, a projector, a Llama decoder."""

import torch
from transformers import AutoTokenizer, VoxtralModel

from .backbone_adapter_sla import encode_windows
from .backbone_audio_tower_sla import AudioTowerAdapter


# tekken's reserved control slots: Voxtral's tokenizer (mistral-common) cannot add tokens, so the prior token takes
# an unused one. Its embedding row is never trained: the APP replaces it, and without the APP it is not placed.
VOXTRAL_PRIOR_TOKEN = "<SPECIAL_999>"


class VoxtralAdapter(AudioTowerAdapter):
    """`VoxtralModel`: 4 consecutive tower frames make one audio token (375 per 30 s window, 12.5 per second)."""

    model_type = "voxtral"
    model_class = VoxtralModel

    def prior_token_id(self, repo, revision=None) -> int:
        tokenizer = AutoTokenizer.from_pretrained(repo, revision=revision)
        return tokenizer.convert_tokens_to_ids(VOXTRAL_PRIOR_TOKEN)

    def encode_speech(self, backbone, features, lengths, sizes, graphs=None) -> torch.Tensor:
        tower = backbone.audio_tower
        weight = tower.conv1.weight
        group = backbone.config.audio_config.intermediate_size

        def encode_chunk(chunk, _lengths):
            states = tower(chunk.to(device=weight.device, dtype=weight.dtype)).last_hidden_state
            grouped = states.reshape(states.shape[0], -1, group)  # 4 consecutive frames per token
            return backbone.multi_modal_projector(grouped)

        return encode_windows(encode_chunk, features, lengths, sizes)


__all__ = ["VOXTRAL_PRIOR_TOKEN", "VoxtralAdapter"]
