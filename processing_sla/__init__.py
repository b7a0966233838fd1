"""Inputs of SLAForSessionScoring: the processor, audio reading and the session template."""

from .audio_io_sla import AudioInputError, load_audio
from .processing_sla import PRIOR_TOKEN, SessionInputError, SLAProcessor, checked_test_format
from .session_template_sla import TEMPLATE_VERSION
from .speech_prompt_sla import SpeechPrompt
from .speech_prompts_sla import SPEECH_PROMPTS, speech_prompt


SLAProcessor.register_for_auto_class("AutoProcessor")

__all__ = [
    "AudioInputError",
    "PRIOR_TOKEN",
    "SPEECH_PROMPTS",
    "SLAProcessor",
    "SessionInputError",
    "SpeechPrompt",
    "TEMPLATE_VERSION",
    "checked_test_format",
    "load_audio",
    "speech_prompt",
]
