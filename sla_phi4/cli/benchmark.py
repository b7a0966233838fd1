"""`sla benchmark`: the command line of :mod:`sla_phi4.benchmarks.cpu_benchmark`."""

import argparse

from sla_phi4.cli.parser import SLAArgumentParser


BACKBONE_CHOICES = ("phi4", "voxtral", "qwen2-audio", "all")  # sla_phi4.benchmarks.cpu_benchmark.BACKBONES
PAPER_TEXT_TOKENS = 300  # sla_phi4.analysis.real_size.SETTINGS.text_tokens

DESCRIPTION = """\
Measures sla-phi4 on this machine with a tiny model whose three parts keep the real model's shares of the work:
FLOP and time shares, processor speed, a training step with and without cached encoder outputs, scoring one at a
time against batched, long sessions (time and peak memory), and real sizes on paper per backbone family. Every
comparison is a ratio of two medians measured side by side in the same run."""

EXAMPLES = """\
  sla benchmark --quick
  sla benchmark --output benchmark.json --repeats 3
  sla benchmark --paper-only --backbone voxtral"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("--quick", action="store_true", help="a short session and fewer sizes (under a minute)")
    parser.add_argument("--output", default="benchmark.json", help="where to write the JSON report")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per figure (median); 3, quick 1")
    parser.add_argument("--scale", type=float, default=None,
                        help="session durations as a fraction of a real S&I session (default 0.25, quick 0.05)")
    parser.add_argument("--decoder_hidden", type=int, default=96,
                        help="tiny decoder width (a multiple of its 6 heads); the rest is solved")
    parser.add_argument("--backbone", choices=BACKBONE_CHOICES, default="all",
                        help="backbone families in the real-sizes-on-paper table")
    parser.add_argument("--text_tokens", type=int, default=PAPER_TEXT_TOKENS,
                        help="decoder tokens of a session besides the audio tokens, on paper")
    parser.add_argument("--paper_only", action="store_true", help="only the real sizes on paper (a few seconds)")
    parser.add_argument("--_long-worker", nargs=2, metavar=("CHECKPOINT", "MINUTES"), help=argparse.SUPPRESS)
    return parser


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    from sla_phi4 import strict_json
    import time

    from sla_phi4.benchmarks.cpu_benchmark import format_paper, format_table, long_worker, run, run_paper

    if args._long_worker:
        print(strict_json.dumps(long_worker(args._long_worker[0], float(args._long_worker[1]))))
        return {}
    start = time.perf_counter()
    report = run_paper(args) if args.paper_only else run(args)
    report["meta"]["wall_s"] = time.perf_counter() - start
    print(format_paper(report["paper"]) if args.paper_only else format_table(report))
    print(f"\n(wall time {report['meta']['wall_s']:.0f} s; JSON in {args.output})")
    with open(args.output, "w", encoding="utf-8") as handle:
        strict_json.dump(report, handle, indent=2, default=str)
    return report
