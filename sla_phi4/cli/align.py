"""`sla align`: the command line of :mod:`sla_phi4.training.alignment`."""

from sla_phi4.cli.parser import SLAArgumentParser


DESCRIPTION = """\
The alignment stage on a Voxtral-layout backbone folder: trains the projector between the frozen Whisper tower and
the frozen language model on speech-to-text (espeak-ng speech of the synthetic corpus's sentences, 7 voices at 3
rates), prints the held-out word error rate (3 unseen voices) before and after, and keeps the projector in the cache
under a fingerprint of the weights and settings; --install writes it into a standalone backbone folder (not the
`parts/` of a built checkpoint, whose own weights hold the projector: `sla build-tiny ... --align` builds one
aligned). `sla demo --language-model smollm2-135m --align` does all of this inside the main job. The voices and
rates are AlignmentSettings' defaults (sla_phi4/training/alignment.py)."""

EXAMPLES = """\
  sla build-tiny --output tiny-lm --backbone voxtral --language-model smollm2-135m
  sla align --backbone tiny-lm/parts/voxtral --train-sentences 640 --epochs 6
  sla build-tiny --output tiny-aligned --backbone voxtral --language-model smollm2-135m --align"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("--backbone", required=True, help="a Voxtral-layout backbone folder")
    parser.add_argument("--install", action="store_true", help="write the aligned projector into the backbone folder")
    parser.add_argument("--train_sentences", type=int, default=320, help="distinct sentences spoken for training")
    parser.add_argument("--eval_sentences", type=int, default=30, help="held-out sentences transcribed before/after")
    parser.add_argument("--epochs", type=float, default=3.0, help="epochs of the projector's AdamW training")
    parser.add_argument("--learning_rate", type=float, default=2e-3, help="peak learning rate (linear warm-up)")
    parser.add_argument("--batch_size", type=int, default=8, help="clips per step")
    parser.add_argument("--max_new_tokens", type=int, default=40, help="greedy transcription stops here")
    parser.add_argument("--seed", type=int, default=0, help="which sentences, voices and rates; the training order")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    import json

    from sla_phi4.training.alignment import AlignmentSettings, align_backbone, check_installable, install_projector

    settings = AlignmentSettings(train_sentences=args.train_sentences, eval_sentences=args.eval_sentences,
                                 epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size,
                                 max_new_tokens=args.max_new_tokens, seed=args.seed)
    if args.install:
        check_installable(args.backbone)
    result = align_backbone(args.backbone, settings)
    if args.install:
        install_projector(args.backbone, result)
    figures = {key: result.summary[key] for key in ("wer_before", "wer_after", "train_clips", "eval_clips", "seconds")}
    print(f"Aligned projector in {result.folder}"
          + (f", installed in {args.backbone}" if args.install else "") + ":\n" + json.dumps(figures, indent=2, allow_nan=False))
    return 0
