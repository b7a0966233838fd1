"""Voxtral: its instruct format ([INST] ... [/INST], one [BEGIN_AUDIO] per clip) and its tekken tokenizer."""

import math

from transformers import AutoTokenizer

from .speech_prompt_whisper_windows_sla import WhisperWindowSpeechPrompt


VOXTRAL_PRIOR_TOKEN = "<SPECIAL_999>"
SPECIAL_TOKEN_ROLES = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
# Version 3. No system turn: Voxtral's tokenizer (tekken v7) refuses a system prompt beside audio.
VOXTRAL_TEMPLATE = (
    "{#- sla-phi4 session template (Voxtral), version 3 -#}\n"
    "<s>{{ prior_token }}[INST]You are an examiner of spoken English. Listen to the learner's answers in a "
    "{{ test_title }} speaking test and assess their proficiency in each part."
    "{%- for part in parts %}\n"
    "Part {{ part.name }}, {{ part.description }}:"
    "{%- for response in part.responses %}"
    "{%- if response.question %}\nQuestion: {{ response.question }}{%- endif %}\n"
    "Answer: [BEGIN_AUDIO]{{ response.audio }}"
    "{%- endfor %}"
    "{%- endfor %}[/INST]"
)


class VoxtralSpeechPrompt(WhisperWindowSpeechPrompt):
    """Voxtral's tokenizer is `tekken.json`, which transformers reads through mistral-common when it is installed
    (`MistralCommonBackend`: special-token text stays text, and no token can be added) and converts into a
    `tokenizers` BPE otherwise, with the same ids. Sessions are tokenized piece by piece with explicit special ids,
    so either works; the prior token takes one of tekken's reserved control slots."""

    model_type = "voxtral"
    template = VOXTRAL_TEMPLATE
    frames_per_token = 8
    special_tokens = ("<s>", "[INST]", "[/INST]", "[BEGIN_AUDIO]")

    def load_tokenizer(self, repo, revision):
        tokenizer = AutoTokenizer.from_pretrained(repo, revision=revision)
        # mistral-common's backend reads its special tokens from tekken.json; the converted BPE names none.
        for role, token in SPECIAL_TOKEN_ROLES.items():
            if getattr(tokenizer, role) is None:
                setattr(tokenizer, role, token)
        return tokenizer

    def audio_token(self, tokenizer, backbone_config) -> str:
        return tokenizer.convert_ids_to_tokens(backbone_config.audio_token_id)

    def add_prior_token(self, tokenizer, prior_token: str) -> str:
        self.token_id(tokenizer, VOXTRAL_PRIOR_TOKEN)
        return VOXTRAL_PRIOR_TOKEN

    def window_tokens(self, frames: int) -> int:
        # the tower halves the frames, then every 4 of its frames make one token: 375 per full window
        return math.ceil(frames / 8)

    def pad_token_id(self, tokenizer) -> int:
        return self.token_id(tokenizer, "<pad>")

    def encode_text(self, tokenizer, text: str) -> list[int]:
        if type(tokenizer).__name__ == "MistralCommonBackend":  # special-token text is always text there
            return tokenizer.encode(text, add_special_tokens=False) if text else []
        return super().encode_text(tokenizer, text)


__all__ = ["VOXTRAL_PRIOR_TOKEN", "VOXTRAL_TEMPLATE", "VoxtralSpeechPrompt"]
