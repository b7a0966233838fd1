"""`sla align`: the alignment stage (:mod:`sla_phi4.training.alignment`) on a Voxtral-layout backbone folder.

    sla build-tiny --output tiny-lm --backbone voxtral --language-model smollm2-135m
    sla align --backbone tiny-lm/parts/voxtral [--install] [--train_sentences 320 --epochs 3 ...]

Trains the projector between the frozen Whisper tower and the frozen language model on speech-to-text, prints the
held-out word error rate before and after, and keeps the projector in the cache; `--install` writes it into the
backbone folder. `sla demo --language_model smollm2-135m --align` does all of this inside the main job.
"""

import argparse
import json
import sys

from transformers import HfArgumentParser

from sla_phi4.training.alignment import AlignmentError, AlignmentSettings, align_backbone, install_projector


def main(argv=None) -> int:
    parser = HfArgumentParser((AlignmentSettings,), description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", required=True, help="a Voxtral-layout backbone folder")
    parser.add_argument("--install", action="store_true", help="write the aligned projector into the backbone folder")
    settings, args = parser.parse_args_into_dataclasses(args=argv)
    try:
        result = align_backbone(args.backbone, settings)
    except AlignmentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.install:
        install_projector(args.backbone, result)
    figures = {key: result.summary[key] for key in ("wer_before", "wer_after", "train_clips", "eval_clips", "seconds")}
    print(f"Aligned projector in {result.folder}"
          + (f", installed in {args.backbone}" if args.install else "") + ":\n" + json.dumps(figures, indent=2))
    return 0
