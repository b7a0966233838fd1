"""`sla build-tiny`: the command line of :mod:`sla_phi4.testing.tiny_checkpoint`."""

from sla_phi4.cli.parser import SLAArgumentParser


BACKBONE_CHOICES = ("phi4", "qwen2-audio", "voxtral")  # sla_phi4.testing.stand_ins.BACKBONES
RANDOM_WHISPER = "random"  # sla_phi4.testing.stand_ins.RANDOM
DEFAULT_AUDIO_TOWER = "whisper-tiny.en"  # sla_phi4.testing.tiny_checkpoint.DEFAULT_AUDIO_TOWER

DESCRIPTION = """\
Builds a complete tiny SLA checkpoint (model, processor, tokenizer) from local stand-ins of the Hub repos, written
under OUTPUT/parts/ in the layout of the real repos at small width, then assembled through `from_backbone`: the very
code a user runs on the real repos. Its weights are random (scores mean nothing) until it is trained. The Phi-4
stand-in needs the `tts` extra (its feature normalisation is measured on synthetic speech); real Whisper weights
(--app-encoder whisper-base, and the audio tower of voxtral and qwen2-audio) need the `whisper` extra. Both are
checked before anything is written."""

EXAMPLES = """\
  sla build-tiny --output tiny-sla
  sla build-tiny --output tiny-vox --backbone voxtral --app-encoder whisper-base
  sla build-tiny --output tiny-ielts --format ielts-like --size small --no-app
  sla build-tiny --output tiny-words --backbone voxtral --language-model smollm2-135m
  sla build-tiny --output tiny-aligned --backbone voxtral --language-model smollm2-135m --align"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("--output", required=True, help="folder to write the checkpoint to")
    parser.add_argument("--backbone", choices=BACKBONE_CHOICES, default="phi4", help="the audio LLM family")
    parser.add_argument("--app_encoder", default=RANDOM_WHISPER,
                        help="the APP's Whisper: random, whisper-tiny.en, whisper-base, or a Whisper folder")
    parser.add_argument("--audio_tower", default=DEFAULT_AUDIO_TOWER,
                        help="real Whisper in the audio tower of voxtral and qwen2-audio (package name or folder)")
    parser.add_argument("--language_model", default="random",
                        help="voxtral's text model: random (a small random decoder), smollm2-135m (SmolLM2-135M-Instruct "
                             "from its pinned package, the `lm` extra) or a Llama folder")
    parser.add_argument("--align", action="store_true",
                        help="with --language-model: align Voxtral's projector on speech-to-text first (`sla align`'s "
                             "defaults, cached; about 13 min on one CPU thread the first time)")
    parser.add_argument("--format", default="sandi2025",
                        help="the test format: sandi2025, ielts-like, toefl-like, or a test_format.json file")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument("--size", choices=("tiny", "small"), default="tiny", help="tiny (tests) or small (demo)")
    parser.add_argument("--no_app", action="store_true", help="build without the Acoustic Proficiency Prior")
    parser.add_argument("--pack_audio", action="store_true",
                        help="voxtral, qwen2-audio: a session's clips share 30 s windows (faster, not exact per clip)")
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.align and args.language_model == "random":
        parser.error("--align needs a pretrained --language-model (smollm2-135m or a Llama folder), "
                     "not the random decoder")
    import time

    from modeling_sla import SLAForSessionScoring
    from sla_phi4.testing.tiny_checkpoint import build_tiny_checkpoint
    from sla_phi4.training.alignment import AlignmentSettings

    start = time.perf_counter()
    build_tiny_checkpoint(args.output, seed=args.seed, size=args.size, backbone=args.backbone,
                          app_encoder=args.app_encoder, audio_tower=args.audio_tower, pack_audio=args.pack_audio,
                          use_app=not args.no_app, test_format=args.format, language_model=args.language_model,
                          align=AlignmentSettings() if args.align else None)
    model = SLAForSessionScoring.from_pretrained(args.output)
    total = sum(parameter.numel() for parameter in model.parameters())
    print(
        f"Wrote {args.output} ({model.config.get_test_format().name}) in {time.perf_counter() - start:.1f} s: "
        f"{total:,} parameters, "
        f"{model.num_trainable_parameters():,} trainable (LoRA, head, APP projector)."
    )
