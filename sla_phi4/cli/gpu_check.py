"""`sla gpu-check`: the command line of :mod:`sla_phi4.benchmarks.gpu_check`."""

import argparse

from sla_phi4.cli.parser import SLAArgumentParser


BACKBONE_CHOICES = ("phi4", "voxtral", "qwen2-audio")  # sla_phi4.benchmarks.gpu_check.BACKBONES
ATTENTION_NAMES = ("sdpa", "flash_attention_2", "eager")  # sla_phi4.benchmarks.gpu_check.ATTENTION_CHOICES

DESCRIPTION = """\
A GPU check of sla-phi4 at real size: random weights of the real configurations, built straight on the GPU in
bf16, real-length sessions, nothing downloaded. Per attention implementation it measures scoring speed, batch
invariance (a session alone and batched), and AdamW training steps at batch 1 and 4, with peak GPU memory per phase
and MFU, and the host memory while building. A Markdown table goes to stdout, everything to the JSON file; it exits
non-zero when batch invariance exceeds its tolerance, a score or loss is not finite, or the audio tower left sdpa.
Tolerances and device peaks are in sla_phi4/benchmarks/gpu_check.json."""

EXAMPLES = """\
  sla gpu-check --backbone phi4 --attn sdpa --steps 20 --output gpu_check.json
  sla gpu-check --quick --backbone voxtral   # CPU smoke run on a tiny checkpoint, seconds"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("--backbone", choices=BACKBONE_CHOICES, default="phi4", help="the audio LLM family")
    parser.add_argument("--attn", default="all",
                        help="all (sdpa, and flash_attention_2 when installed), or a comma list of "
                             f"{', '.join(ATTENTION_NAMES)}")
    parser.add_argument("--steps", type=int, default=None, help="training steps per batch size (default 20; quick 2)")
    parser.add_argument("--repeats", type=int, default=None, help="timed scoring repeats (default 5; quick 1)")
    parser.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16", help="dtype of the weights")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument("--output", default="gpu_check.json", help="where to write the JSON report")
    parser.add_argument("--quick", action="store_true",
                        help="a CPU smoke run: a tiny checkpoint built on the fly, short sessions, few steps")
    parser.add_argument("--score_tolerance", type=float, default=None,
                        help="largest score difference allowed between a session alone and batched "
                             "(default: gpu_check.json's)")
    parser.add_argument("--state_tolerance", type=float, default=None,
                        help="largest relative difference allowed in the state the head reads "
                             "(default: gpu_check.json's)")
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

    if not args.quick and not torch.cuda.is_available():
        parser.exit(2, "sla gpu-check needs a CUDA device and none was found. Run it on a GPU machine, or use --quick "
                       "for a CPU smoke run on a tiny configuration.\n")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    import tempfile
    import time

    from sla_phi4.benchmarks.gpu_check import CHECK, format_report, quick_checkpoint, run, save_report

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
