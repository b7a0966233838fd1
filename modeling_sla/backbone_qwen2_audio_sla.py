"""Qwen2-Audio as the backbone: a Whisper-shaped audio tower with masked padding and 2x pooling, a Qwen2 decoder."""

import torch
from transformers import Qwen2AudioModel
from transformers.masking_utils import create_bidirectional_mask

from .backbone_adapter_sla import encode_windows
from .backbone_audio_tower_sla import AudioTowerAdapter


class Qwen2AudioAdapter(AudioTowerAdapter):
    """`Qwen2AudioModel`: the tower masks each window's padding, as the model was trained, and pools pairs of frames
    (750 tokens per 30 s window, 25 per second)."""

    model_type = "qwen2_audio"
    model_class = Qwen2AudioModel

    def encode_speech(self, backbone, features, lengths, sizes, graphs=None) -> torch.Tensor:
        tower = backbone.audio_tower
        weight = tower.conv1.weight

        def encode_chunk(chunk, chunk_lengths):
            chunk = chunk.to(device=weight.device, dtype=weight.dtype)
            frames = tower.max_source_positions
            valid = (chunk_lengths.to(weight.device) - 1) // 2 + 1  # tower frames of real audio
            mask = torch.arange(frames, device=weight.device)[None, :] < valid[:, None]
            attention_mask = create_bidirectional_mask(
                config=tower.config, inputs_embeds=chunk.new_zeros(chunk.shape[0], frames, 1), attention_mask=mask
            )
            states = tower(chunk, attention_mask=attention_mask).last_hidden_state
            return backbone.multi_modal_projector(states)

        return encode_windows(encode_chunk, features, lengths, sizes)


__all__ = ["Qwen2AudioAdapter"]
