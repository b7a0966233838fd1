#!/usr/bin/env python
"""Builds a complete tiny SLA checkpoint (model, processor, tokenizer) from local stand-ins of the Hub repos.

The stand-ins (`sla_phi4/testing/stand_ins/`) are written under `OUTPUT/parts/` in the layout of the real repos and from
their real configurations at small width; the checkpoint is then assembled through
`SLAForSessionScoring.from_backbone` and `SLAProcessor.from_backbone`: the very code a user runs on the real repos.

    sla build-tiny --output tiny-sla [--backbone phi4|voxtral|qwen2-audio] [--format sandi2025|ielts-like|...]
        [--app-encoder random|whisper-tiny.en|whisper-base|PATH] [--size tiny|small] [--seed 0] [--no-app]
        [--language-model random|smollm2-135m|PATH]

Voxtral and Qwen2-Audio carry a real Whisper encoder (converted from the PyPI packages, `--audio-tower`) in their
audio tower, so their language model hears real speech; Phi-4's conformer is random. `--language-model smollm2-135m`
makes Voxtral's text model a real pretrained one (SmolLM2-135M-Instruct, `sla convert-lm`), its projector random.
"""

import importlib.util
import json
import os

import torch

from modeling_sla import SLAForSessionScoring, load_test_format
from processing_sla import SLAProcessor
from sla_phi4.conversion.ct2_whisper import locate_package, package_specs
from sla_phi4.testing.stand_ins import (
    BACKBONES, RANDOM, RANDOM_LANGUAGE_MODEL, build_backbone, language_model_folder, tiny_size, whisper_folder,
)
from sla_phi4.training.alignment import AlignmentSettings, align_backbone, write_projector


DEFAULT_AUDIO_TOWER = "whisper-tiny.en"


def check_requirements(backbone: str, app_encoder: str, audio_tower: str) -> None:
    """Raises before anything is written when a part needs a package that is not installed: the Phi-4 stand-in
    measures its feature normalisation on synthetic speech (the `tts` extra), and real Whisper weights come from
    pinned packages (the `whisper` extra)."""
    if backbone not in BACKBONES:
        raise ValueError(f"Unknown backbone {backbone!r}; choose one of {sorted(BACKBONES)}.")
    if backbone == "phi4" and importlib.util.find_spec("espeakng_loader") is None:
        raise ModuleNotFoundError(
            "the Phi-4 stand-in measures its feature normalisation on synthetic speech, which needs "
            "espeakng-loader: pip install 'sla-phi4[tts]' (or build --backbone voxtral with the whisper extra)",
            name="espeakng_loader")
    towers = [app_encoder] + ([] if backbone == "phi4" else [audio_tower])
    specs = package_specs()
    for choice in towers:
        if choice in specs:
            locate_package(specs[choice])  # says which pinned package to install


def align_stand_in(backbone_dir: str, settings: AlignmentSettings, parts: str, language_model: str) -> dict:
    """Aligns the stand-in's projector in place (cached) and writes its figures to `parts/alignment.json`."""
    if language_model == RANDOM_LANGUAGE_MODEL:
        raise ValueError("Alignment needs a pretrained language model (--language-model), not a random decoder.")
    result = align_backbone(backbone_dir, settings)
    write_projector(backbone_dir, result)
    summary = {**result.summary, "cache_folder": str(result.folder)}
    with open(os.path.join(parts, "alignment.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2, allow_nan=False)
    return summary


def build_tiny_checkpoint(
    output: str,
    seed: int = 0,
    size: str | dict = "tiny",
    backbone: str = "phi4",
    app_encoder: str = RANDOM,
    audio_tower: str = DEFAULT_AUDIO_TOWER,
    pack_audio: bool = False,
    test_format="sandi2025",
    language_model: str = RANDOM_LANGUAGE_MODEL,
    align: AlignmentSettings | None = None,
    **options,
) -> str:
    """Writes the parts under `output/parts/` and the assembled checkpoint in `output`; returns `output`.

    Args:
        size: `tiny` or `small` (sla_phi4/testing/stand_ins/tiny_sizes.json), or such an entry itself.
        backbone: `phi4`, `voxtral` or `qwen2-audio`.
        app_encoder: the APP's Whisper: `random` (a stand-in of Whisper-large-v3's structure), `whisper-tiny.en` or
            `whisper-base` (real weights), or a Whisper folder.
        audio_tower: the real Whisper (package name or folder) in the audio tower of Voxtral and Qwen2-Audio.
        pack_audio: the processor packs a session's clips into shared windows (Voxtral and Qwen2-Audio).
        test_format: the test the model scores: a built-in name (`sandi2025`, `ielts-like`, `toefl-like`), a JSON
            file, a dict or a `TestFormat`.
        language_model: Voxtral's text model: `random` (a small random decoder), `smollm2-135m` (SmolLM2-135M-Instruct,
            converted from its pinned package) or a Llama folder.
        align: with a pretrained `language_model`, align Voxtral's projector on speech-to-text with these settings
            first (cached; its figures are copied to `output/parts/alignment.json`).
        options: `SLAConfig` fields (`use_app`, `lora_rank`, ...).
    """
    check_requirements(backbone, app_encoder, audio_tower)
    widths = tiny_size(size) if isinstance(size, str) else size
    torch.manual_seed(seed)
    parts = os.path.join(output, "parts")
    backbone_dir = os.path.join(parts, BACKBONES[backbone][0].replace("_", "-"))
    whisper_dir = whisper_folder(app_encoder, os.path.join(parts, "whisper"), widths)
    tower_dir = None if backbone == "phi4" else whisper_folder(audio_tower, os.path.join(parts, "audio-tower"), widths)
    build_backbone(backbone, backbone_dir, widths, tower_dir, language_model_folder(language_model))
    if align is not None:
        align_stand_in(backbone_dir, align, parts, language_model)
    use_app = options.setdefault("use_app", True)
    test_format = load_test_format(test_format).to_dict()
    processor = SLAProcessor.from_backbone(backbone_dir, whisper_dir, use_app=use_app, pack_audio=pack_audio,
                                           test_format=test_format)
    options.setdefault("lora_rank", widths["lora_rank"])
    options.setdefault("lora_alpha", 2 * options["lora_rank"])
    options.setdefault("app_hidden_size", widths["app_hidden_size"])
    model = SLAForSessionScoring.from_backbone(
        backbone_dir, whisper_dir if use_app else None, prior_token_id=processor.prior_token_id, dtype=torch.float32,
        test_format=test_format, **options,
    )
    model.save_pretrained(output)
    processor.save_pretrained(output)
    return output
