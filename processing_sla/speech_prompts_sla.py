"""The backbone families SLAProcessor knows, by the `model_type` of the backbone's config."""

from .speech_prompt_phi4_multimodal_sla import Phi4MultimodalSpeechPrompt
from .speech_prompt_qwen2_audio_sla import Qwen2AudioSpeechPrompt
from .speech_prompt_sla import SpeechPrompt
from .speech_prompt_voxtral_sla import VoxtralSpeechPrompt


SPEECH_PROMPTS: dict[str, type[SpeechPrompt]] = {
    prompt.model_type: prompt for prompt in (Phi4MultimodalSpeechPrompt, VoxtralSpeechPrompt, Qwen2AudioSpeechPrompt)
}


def speech_prompt(model_type: str) -> SpeechPrompt:
    """The speech prompt of a backbone family, by its config's `model_type`."""
    if model_type not in SPEECH_PROMPTS:
        raise ValueError(f"No speech prompt for backbone model_type {model_type!r}; supported: {sorted(SPEECH_PROMPTS)}.")
    return SPEECH_PROMPTS[model_type]()


__all__ = ["SPEECH_PROMPTS", "speech_prompt"]
