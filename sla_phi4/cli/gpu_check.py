"""`sla gpu-check`: the command line of :mod:`sla_phi4.benchmarks.gpu_check`."""

import argparse

from sla_phi4.cli.parser import SLAArgumentParser


BACKBONE_NAMES = ("phi4", "voxtral", "qwen2-audio")  # sla_phi4.benchmarks.gpu_check.BACKBONES
ATTENTION_NAMES = ("sdpa", "flash_attention_2", "eager")  # sla_phi4.benchmarks.gpu_check.ATTENTION_CHOICES

DESCRIPTION = """\
A GPU check of sla-phi4 at real size: random weights of the real configurations, built straight on the GPU in
bf16, real-length sessions, nothing downloaded. For each backbone (several in one process and one JSON) it measures
scoring of 16 sessions of 0.6-1.2x the real length at batch 1, 4, 8 and 16 (sessions/s, MFU, and whether every
session's scores equal its batch-1 scores to the last bit), the time of each part of a session (APP Whisper, audio
tower, decoder), the LoRA levers (float32, backbone dtype, merged), the float32 agreement of a padded batch with
sessions alone, training at batch 1, 4 and 8 and at 8 with one pass per session, opt-in (sessions/s, MFU), and
the projected time of 3 epochs of S&I train.
A Markdown table goes to stdout, everything to the JSON file (rewritten after every phase); it exits non-zero when
an exactness check fails or a score or loss is not finite. Tolerances and device peaks are in
sla_phi4/benchmarks/gpu_check.json; docs/performance.md describes the prepared run for a lent GPU machine."""

EXAMPLES = """\
  sla gpu-check --backbone all --attn sdpa --output gpu_check.json
  sla gpu-check --backbone phi4,voxtral --steps 10
  sla gpu-check --quick --backbone voxtral   # CPU smoke run on a tiny checkpoint, seconds"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("--backbone", default="phi4",
                        help=f"the audio LLM family: {', '.join(BACKBONE_NAMES)}, a comma list, or all (one process, "
                             "one JSON)")
    parser.add_argument("--attn", default="all",
                        help="all (sdpa, and flash_attention_2 when installed), or a comma list of "
                             f"{', '.join(ATTENTION_NAMES)}")
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps per batch size, the first a warm-up (default: gpu_check.json's; "
                             "quick 2)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed scoring repeats (default: gpu_check.json's; quick 1)")
    parser.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16", help="dtype of the weights")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument("--output", default="gpu_check.json", help="where to write the JSON report")
    parser.add_argument("--quick", action="store_true",
                        help="a CPU smoke run: a tiny checkpoint built on the fly, short sessions, few steps")
    parser.add_argument("--score_tolerance", type=float, default=None,
                        help="largest score difference allowed in float32 between a session alone and in a padded "
                             "batch (default: gpu_check.json's)")
    parser.add_argument("--state_tolerance", type=float, default=None,
                        help="the same for the relative difference of the state the head reads (default: "
                             "gpu_check.json's)")
    parser.add_argument("--config_from", default=None,
                        help="take the SLA configuration and token ids from this checkpoint folder instead of the "
                             "real configurations")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        parser.error("--steps must be at least 1")
    import torch

    from sla_phi4.benchmarks.gpu_check import backbones_of

    try:
        backbones_of(args.backbone)
    except ValueError as error:
        parser.error(str(error))
    if args.config_from and len(backbones_of(args.backbone)) > 1:
        parser.error("--config-from names one checkpoint: give one --backbone with it")
    if not args.quick and not torch.cuda.is_available():
        parser.exit(2, "sla gpu-check needs a CUDA device and none was found. Run it on a GPU machine, or use --quick "
                       "for a CPU smoke run on a tiny configuration.\n")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    import tempfile
    import time

    from sla_phi4.benchmarks.gpu_check import (
        CHECK,
        announce_call_estimate,
        backbones_of,
        format_combined,
        format_report,
        quick_checkpoint,
        run_backbones,
        save_report,
    )

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
