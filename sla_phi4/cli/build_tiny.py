"""`sla build-tiny`: the command line of :mod:`sla_phi4.testing.tiny_checkpoint`."""

import argparse
import time

from modeling_sla import SLAForSessionScoring
from sla_phi4.testing import tiny_checkpoint
from sla_phi4.testing.stand_ins import BACKBONES, RANDOM, app_encoder_choices
from sla_phi4.testing.stand_ins import RANDOM_LANGUAGE_MODEL, language_model_choices
from sla_phi4.testing.tiny_checkpoint import DEFAULT_AUDIO_TOWER, build_tiny_checkpoint


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=tiny_checkpoint.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True, help="folder to write the checkpoint to")
    parser.add_argument("--backbone", choices=sorted(BACKBONES), default="phi4", help="the audio LLM family")
    parser.add_argument("--app-encoder", default=RANDOM,
                        help=f"the APP's Whisper: {', '.join(app_encoder_choices())}, or a Whisper folder")
    parser.add_argument("--audio-tower", default=DEFAULT_AUDIO_TOWER,
                        help="real Whisper in the audio tower of voxtral and qwen2-audio (package name or folder)")
    parser.add_argument("--language-model", default=RANDOM_LANGUAGE_MODEL,
                        help=f"voxtral's text model: {', '.join(language_model_choices())}, or a Llama folder")
    parser.add_argument("--format", default="sandi2025",
                        help="the test format: sandi2025 (default), ielts-like, toefl-like, or a test_format.json file")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument("--size", choices=("tiny", "small"), default="tiny", help="tiny (tests) or small (demo)")
    parser.add_argument("--no-app", action="store_true", help="build without the Acoustic Proficiency Prior")
    parser.add_argument("--pack-audio", action="store_true",
                        help="voxtral, qwen2-audio: a session's clips share 30 s windows (faster, not exact per clip)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    build_tiny_checkpoint(args.output, seed=args.seed, size=args.size, backbone=args.backbone,
                          app_encoder=args.app_encoder, audio_tower=args.audio_tower, pack_audio=args.pack_audio,
                          use_app=not args.no_app, test_format=args.format, language_model=args.language_model)
    model = SLAForSessionScoring.from_pretrained(args.output)
    total = sum(parameter.numel() for parameter in model.parameters())
    print(
        f"Wrote {args.output} ({model.config.get_test_format().name}) in {time.perf_counter() - start:.1f} s: "
        f"{total:,} parameters, "
        f"{model.num_trainable_parameters():,} trainable (LoRA, head, APP projector)."
    )
