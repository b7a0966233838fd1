"""Qwen2-Audio: its ChatML format with <|audio_bos|><|AUDIO|><|audio_eos|> per clip, 25 audio tokens per second."""

import math

from .speech_prompt_whisper_windows_sla import WhisperWindowSpeechPrompt


# Version 3. `prior_token` is empty without the APP.
QWEN2_AUDIO_TEMPLATE = (
    "{#- sla-phi4 session template (Qwen2-Audio), version 3 -#}\n"
    "{{ prior_token }}<|im_start|>system\nYou are an examiner of spoken English. Listen to the learner's answers in a "
    "{{ test_title }} speaking test and assess their proficiency in each part.<|im_end|>\n<|im_start|>user"
    "{%- for part in parts %}\n"
    "Part {{ part.name }}, {{ part.description }}:"
    "{%- for response in part.responses %}"
    "{%- if response.question %}\nQuestion: {{ response.question }}{%- endif %}\n"
    "Answer: <|audio_bos|>{{ response.audio }}<|audio_eos|>"
    "{%- endfor %}"
    "{%- endfor %}<|im_end|>\n<|im_start|>assistant\n"
)


class Qwen2AudioSpeechPrompt(WhisperWindowSpeechPrompt):
    """Valid frames of a window are those its feature attention mask marks (as `Qwen2AudioProcessor` computes
    them); the tower halves them and pools pairs."""

    model_type = "qwen2_audio"
    template = QWEN2_AUDIO_TEMPLATE
    frames_per_token = 4
    special_tokens = ("<|im_start|>", "<|im_end|>", "<|audio_bos|>", "<|audio_eos|>")

    def audio_token(self, tokenizer, backbone_config) -> str:
        return tokenizer.convert_ids_to_tokens(backbone_config.audio_token_id)

    def valid_frames(self, num_samples: int, hop_length: int) -> int:
        return math.ceil(num_samples / hop_length)  # the feature attention mask's count

    def window_tokens(self, frames: int) -> int:
        return ((frames - 1) // 2 + 1 - 2) // 2 + 1 if frames > 0 else 0


__all__ = ["QWEN2_AUDIO_TEMPLATE", "Qwen2AudioSpeechPrompt"]
