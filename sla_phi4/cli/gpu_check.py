"""`sla gpu-check`: the command line of :mod:`sla_phi4.benchmarks.gpu_check`."""

import argparse
import tempfile
import time

import torch

from sla_phi4.benchmarks import gpu_check
from sla_phi4.benchmarks.gpu_check import (
    ATTENTION_CHOICES,
    BACKBONES,
    CHECK,
    announce_call_estimate,
    backbones_of,
    format_combined,
    format_report,
    quick_checkpoint,
    run_backbones,
    save_report,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=gpu_check.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="phi4",
                        help=f"the audio LLM family: {', '.join(BACKBONES)}, a comma list, or all (one process, one "
                             "JSON; default phi4)")
    parser.add_argument("--attn", default="all",
                        help="all (sdpa, and flash_attention_2 when installed), or a comma list of "
                             f"{', '.join(ATTENTION_CHOICES)}")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"training steps per batch size, the first a warm-up (default {CHECK.steps}; quick 2)")
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"timed scoring repeats (default {CHECK.scoring_repeats}; quick 1)")
    parser.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="gpu_check.json", help="where to write the JSON report")
    parser.add_argument("--quick", action="store_true",
                        help="a CPU smoke run: a tiny checkpoint built on the fly, short sessions, few steps")
    parser.add_argument("--score-tolerance", type=float, default=None,
                        help="largest score difference allowed in float32 between a session alone and in a padded "
                             f"batch (default {CHECK.tolerances['float32_score']})")
    parser.add_argument("--state-tolerance", type=float, default=None,
                        help="the same for the relative difference of the state the head reads (default "
                             f"{CHECK.tolerances['float32_state_relative']})")
    parser.add_argument("--config-from", default=None,
                        help="take the SLA configuration and token ids from this checkpoint folder instead of the "
                             "real configurations")
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        parser.error("--steps must be at least 1")
    try:
        backbones_of(args.backbone)
    except ValueError as error:
        parser.error(str(error))
    if args.config_from and len(backbones_of(args.backbone)) > 1:
        parser.error("--config-from names one checkpoint: give one --backbone with it")
    if not args.quick and not torch.cuda.is_available():
        parser.exit(2, "gpu_check.py needs a CUDA device and none was found. Run it on a GPU machine, or use --quick "
                       "for a CPU smoke run on a tiny configuration.\n")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    start = time.perf_counter()
    names = backbones_of(args.backbone)
    with tempfile.TemporaryDirectory(prefix="sla-gpu-check-") as scratch:
        folders = {name: args.config_from for name in names} if args.config_from else {}
        if args.quick and not args.config_from:
            folders = {name: quick_checkpoint(name, f"{scratch}/{name}", CHECK.quick["size"]) for name in names}
        announce_call_estimate(args, folders)
        report = run_backbones(args, folders, args.output)
    report["meta"]["wall_s"] = time.perf_counter() - start
    save_report(report, args.output)
    print(format_report(report) if "backbones" not in report else format_combined(report))
    print(f"\n(wall time {report['meta']['wall_s']:.0f} s; JSON in {args.output})")
    if report["failures"]:
        raise SystemExit(1)
    return report
