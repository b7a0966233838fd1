"""Tiny stand-ins for the Hub repos this package builds on, saved in the real repos' layout and built from their
real configurations at small width: the tests, the main job and the benchmarks load them through the same
`from_pretrained` / `from_backbone` code a user runs against the Hub."""

from .phi4_multimodal import build_phi4_multimodal
from .qwen2_audio import build_qwen2_audio
from .sizes import FAMILIES, tiny_size
from .voxtral import build_voxtral
from .voxtral_language_model import (
    RANDOM_LANGUAGE_MODEL, build_voxtral_with_language_model, language_model_choices, language_model_folder,
)
from .whisper import RANDOM, app_encoder_choices, whisper_folder


# `--backbone` name: (family, the Hub repo its stand-in replaces, the builder writing it).
BACKBONES = {
    "phi4": ("phi4_multimodal", "microsoft/Phi-4-multimodal-instruct", build_phi4_multimodal),
    "voxtral": ("voxtral", "mistralai/Voxtral-Mini-3B-2507", build_voxtral),
    "qwen2-audio": ("qwen2_audio", "Qwen/Qwen2-Audio-7B-Instruct", build_qwen2_audio),
}


def build_backbone(backbone: str, folder: str, size: dict, audio_whisper: str,
                   language_model: str | None = None) -> None:
    """Writes the stand-in of `backbone` (a `BACKBONES` key) at `size` into `folder`. Voxtral and Qwen2-Audio put
    the encoder of the Whisper folder `audio_whisper` in their audio tower; Phi-4's conformer is random. With a
    `language_model` folder (Voxtral only), that pretrained Llama is the text model instead of a random one."""
    family, _, builder = BACKBONES[backbone]
    if language_model is None:
        builder(folder, size[family], audio_whisper)
    elif backbone == "voxtral":
        build_voxtral_with_language_model(folder, audio_whisper, language_model)
    else:
        raise ValueError(f"A pretrained language model fits the voxtral stand-in only, not {backbone}.")


__all__ = [
    "BACKBONES", "FAMILIES", "RANDOM", "RANDOM_LANGUAGE_MODEL", "app_encoder_choices", "build_backbone",
    "language_model_choices", "language_model_folder", "tiny_size", "whisper_folder",
]
