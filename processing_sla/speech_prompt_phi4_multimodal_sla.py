"""Phi-4-multimodal: its chat format, and one unit per clip (its conformer encodes whole clips)."""

import numpy as np
import torch
from transformers import Phi4MultimodalFeatureExtractor

from .speech_prompt_sla import AudioUnit, SpeechPrompt


# Version 3. `test_title` names the test; `parts` lists the parts present, in the test format's order; each response's
# `audio` is one audio token (expanded to the clip's token count) and its `question` fenced user text; `prior_token`
# is empty without the APP.
PHI4_MULTIMODAL_TEMPLATE = (
    "{#- sla-phi4 session template (Phi-4-multimodal), version 3 -#}\n"
    "{{ prior_token }}<|system|>You are an examiner of spoken English. Listen to the learner's answers in a "
    "{{ test_title }} speaking test and assess their proficiency in each part.<|end|><|user|>"
    "{%- for part in parts %}\n"
    "Part {{ part.name }}, {{ part.description }}:"
    "{%- for response in part.responses %}"
    "{%- if response.question %}\nQuestion: {{ response.question }}{%- endif %}\n"
    "Answer: {{ response.audio }}"
    "{%- endfor %}"
    "{%- endfor %}<|end|><|assistant|>"
)


class Phi4MultimodalSpeechPrompt(SpeechPrompt):
    """Log-mel features of each clip extracted alone (the batched extractor leaves non-zero frames past a shorter
    clip's end); 12.5 audio tokens per second."""

    model_type = "phi4_multimodal"
    template = PHI4_MULTIMODAL_TEMPLATE
    special_tokens = ("<|system|>", "<|end|>", "<|user|>", "<|assistant|>")

    def feature_extractor(self, repo, revision):
        return Phi4MultimodalFeatureExtractor.from_pretrained(repo, revision=revision)

    def audio_token(self, tokenizer, backbone_config) -> str:
        return tokenizer.convert_ids_to_tokens(backbone_config.audio_config.audio_token_id)

    def audio_units(self, feature_extractor, array, sampling_rate) -> list[AudioUnit]:
        extracted = feature_extractor(array, sampling_rate=sampling_rate, return_tensors="np")
        features = extracted["audio_input_features"][0]
        return [AudioUnit(features, features.shape[0], int(extracted["audio_embed_sizes"][0]))]

    def pad_units(self, units: list[AudioUnit]) -> dict[str, torch.Tensor]:
        padded = np.zeros((len(units), max(unit.frames for unit in units), units[0].features.shape[1]), np.float32)
        for row, unit in enumerate(units):
            padded[row, : unit.frames] = unit.features
        return {
            "audio_input_features": torch.from_numpy(padded),
            "audio_feature_lengths": torch.tensor([unit.frames for unit in units], dtype=torch.long),
            "audio_embed_sizes": torch.tensor([unit.tokens for unit in units], dtype=torch.long),
        }


__all__ = ["PHI4_MULTIMODAL_TEMPLATE", "Phi4MultimodalSpeechPrompt"]
