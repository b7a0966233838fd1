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
    format_report,
    quick_checkpoint,
    run,
    save_report,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=gpu_check.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", choices=BACKBONES, default="phi4", help="the audio LLM family (default phi4)")
    parser.add_argument("--attn", default="all",
                        help="all (sdpa, and flash_attention_2 when installed), or a comma list of "
                             f"{', '.join(ATTENTION_CHOICES)}")
    parser.add_argument("--steps", type=int, default=None, help="training steps per batch size (default 20; quick 2)")
    parser.add_argument("--repeats", type=int, default=None, help="timed scoring repeats (default 5; quick 1)")
    parser.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="gpu_check.json", help="where to write the JSON report")
    parser.add_argument("--quick", action="store_true",
                        help="a CPU smoke run: a tiny checkpoint built on the fly, short sessions, few steps")
    parser.add_argument("--score-tolerance", type=float, default=None,
                        help=f"largest score difference allowed between a session alone and batched "
                             f"(default {CHECK.tolerances['score']})")
    parser.add_argument("--state-tolerance", type=float, default=None,
                        help="largest relative difference allowed in the state the head reads (default "
                             f"{CHECK.tolerances['state_relative']})")
    parser.add_argument("--config-from", default=None,
                        help="take the SLA configuration and token ids from this checkpoint folder instead of the "
                             "real configurations")
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        parser.error("--steps must be at least 1")
    if not args.quick and not torch.cuda.is_available():
        parser.exit(2, "gpu_check.py needs a CUDA device and none was found. Run it on a GPU machine, or use --quick "
                       "for a CPU smoke run on a tiny configuration.\n")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sla-gpu-check-") as scratch:
        folder = args.config_from
        if args.quick and folder is None:
            folder = quick_checkpoint(args.backbone, scratch, CHECK.quick["size"])
        report = run(args, folder)
    report["meta"]["wall_s"] = time.perf_counter() - start
    save_report(report, args.output)
    print(format_report(report))
    print(f"\n(wall time {report['meta']['wall_s']:.0f} s; JSON in {args.output})")
    if report["failures"]:
        raise SystemExit(1)
    return report
