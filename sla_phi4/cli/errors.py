"""How `sla` reports a failed command: an input or usage error in one or two lines and exit status 2, anything
unexpected with its traceback (exit status 1); `--debug` or `SLA_DEBUG=1` shows every traceback."""

from __future__ import annotations

import json
import os
import sys
import traceback
from importlib.resources import files


DEBUG_FLAG = "--debug"
DEBUG_VARIABLE = "SLA_DEBUG"
USAGE_STATUS = 2
FAILURE_STATUS = 1

# Errors that describe the user's input or environment, not a defect of the package: bad values and files
# (ValueError and the package's own errors derived from it: SessionInputError, TestFormatError, ...), files that
# are missing or in the way, and an optional library that is not installed.
USAGE_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
                PermissionError, ModuleNotFoundError)


def without_debug_flag(argv: list[str]) -> list[str]:
    """The command's own arguments: `--debug` removed where it stands alone (not `--debug VALUE`, a flag of
    `TrainingArguments` in `sla train`)."""
    return [argument for index, argument in enumerate(argv)
            if argument != DEBUG_FLAG or (index + 1 < len(argv) and not argv[index + 1].startswith("-"))]


def extra_for(module: str | None) -> str | None:
    """The extra of sla-phi4 that installs an optional module (`extras.json`), if any."""
    extras = json.loads(files("sla_phi4.cli").joinpath("extras.json").read_text(encoding="utf-8"))
    return extras.get((module or "").split(".")[0])


def debug_requested(argv: list[str] | None = None) -> bool:
    """A lone `--debug` among the arguments, or SLA_DEBUG set to anything but empty or 0."""
    argv = argv or []
    return len(without_debug_flag(argv)) < len(argv) or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def is_usage_error(error: BaseException) -> bool:
    """Whether an error is the user's to fix (`USAGE_ERRORS`, or any error that says so with `usage_error`)."""
    return isinstance(error, USAGE_ERRORS) or bool(getattr(error, "usage_error", False))


def one_line(error: BaseException) -> str:
    """The error's message for a person: a missing module says which extra to install."""
    if isinstance(error, ModuleNotFoundError) and str(error).startswith("No module named"):
        extra = extra_for(error.name)
        fix = f"pip install 'sla-phi4[{extra}]'" if extra else f"pip install {error.name}"
        return f"this needs the Python module '{error.name}', which is not installed: {fix}"
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.strerror}: {error.filename}"
    return str(error).strip() or type(error).__name__


def report_failure(error: BaseException, program: str, debug: bool, stream=None) -> int:
    """Prints what failed and returns the exit status: 2 for a usage error, 1 for anything else."""
    stream = stream or sys.stderr
    if debug or not is_usage_error(error):
        traceback.print_exception(error, file=stream)
        return USAGE_STATUS if is_usage_error(error) else FAILURE_STATUS
    print(f"{program}: error: {one_line(error)}", file=stream)
    print(f"(run again with {DEBUG_FLAG} or {DEBUG_VARIABLE}=1 for the traceback)", file=stream)
    return USAGE_STATUS


__all__ = ["DEBUG_FLAG", "DEBUG_VARIABLE", "USAGE_ERRORS", "debug_requested", "is_usage_error", "one_line",
           "extra_for", "report_failure", "without_debug_flag"]
