"""`sla`: one command for the whole life of a model, one subcommand a step (as `accelerate` and `lm_eval` do).

Each subcommand is a module of this package with a `build_parser()` (an `SLAArgumentParser`, see `parser.py`) and
a `main(argv)`: its parser and a call into the library, which it imports inside `main` so that help is instant.
The scripts in `scripts/` are the same functions under their former names.

Errors are reported as a tool reports them: an input or usage error (`errors.USAGE_ERRORS`) in one or two lines on
stderr and exit status 2, an unexpected failure with its traceback; `--debug` or `SLA_DEBUG=1` shows the traceback
of every error.
"""

import argparse
import contextlib
import importlib
import sys

from sla_phi4 import __version__
from sla_phi4.cli.errors import DEBUG_FLAG, debug_requested, report_failure, without_debug_flag


# subcommand: (module of sla_phi4.cli, one line of help)
COMMANDS = {
    "demo": ("demo", "the main job: corpus, tiny checkpoint, both training stages, scoring, card, reload"),
    "build-tiny": ("build_tiny", "a tiny SLA checkpoint assembled from local stand-ins of the Hub repos"),
    "convert-whisper": ("convert_whisper", "CTranslate2 Whisper weights (pinned packages) to a transformers folder"),
    "convert-lm": ("convert_lm", "a pretrained language model's GGUF file (pinned package) to a transformers folder"),
    "align": ("align", "align a Voxtral-layout backbone's projector on speech-to-text (WER before and after)"),
    "make-corpus": ("make_corpus", "a synthetic corpus of a test format in the kit layout (espeak-ng speech)"),
    "train": ("train", "train with the HF Trainer: stage app, then stage sla"),
    "calibrate": ("calibrate", "fit a checkpoint's intervals and referral on a held-out split (saved in its config)"),
    "score": ("score", "score a cohort (kit split, manifest or learner folders): predictions, scores.csv, report"),
    "card": ("card", "write a model card from a checkpoint and its score reports"),
    "push": ("push", "publish a checkpoint (and the metric and demo Spaces) to the Hub, or --dry-run"),
    "demo-space": ("demo_space", "the demo Space's app on 127.0.0.1: score a session in the browser or by API"),
    "benchmark": ("benchmark", "CPU benchmark of the tiny model and real sizes on paper"),
    "benchmark-scoring": ("benchmark_scoring", "sharded scoring: 1 vs 2 processes, kill and resume, memory at 10x"),
    "benchmark-cohort": ("benchmark_cohort", "a cohort with planted bad files: counts by reason, rerun after changes"),
    "gpu-check": ("gpu_check", "the check at real size on a GPU (or --quick on CPU)"),
    "ablation": ("ablation", "the ablation studies (app, lora-rank, truncation, overall-mode) on the main job corpus"),
    "uncertainty-study": ("uncertainty_study", "intervals, referral and fairness measured on large dev and eval splits"),
    "transfer": ("transfer", "the transfer study: a new test format's model from S&I's or from scratch, by sessions"),
    "measure-assessability": ("measure_assessability", "voice-activity figures behind the assessability thresholds"),
    "measure-loading-memory": ("measure_loading_memory", "host memory of from_backbone on a scaled-up stand-in"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sla", description=__doc__.split("\n\n")[0],
                                     epilog="`sla COMMAND --help` gives each command's flags.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(DEBUG_FLAG, action="store_true",
                        help="show the traceback of every error (also SLA_DEBUG=1; also accepted after COMMAND)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, summary) in COMMANDS.items():
        commands.add_parser(name, help=summary, add_help=False)  # the command's own parser reads its flags
    return parser


@contextlib.contextmanager
def _program_name(name: str):
    """Makes the command's own parser call itself `sla NAME` in usage and errors."""
    saved = sys.argv[0]
    sys.argv[0] = f"sla {name}"
    try:
        yield
    finally:
        sys.argv[0] = saved


def main(argv: list[str] | None = None) -> int:
    """Runs `sla COMMAND [FLAGS]`; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args, rest = build_parser().parse_known_args(argv)
    debug = args.debug or debug_requested(rest)
    rest = without_debug_flag(rest)
    command = importlib.import_module(f"{__name__}.{COMMANDS[args.command][0]}")
    with _program_name(args.command):
        try:
            result = command.main(rest)
        except Exception as error:  # noqa: BLE001 (the one place that turns errors into an exit status)
            return report_failure(error, f"sla {args.command}", debug)
    return result if isinstance(result, int) else 0
