"""`sla benchmark`: the command line of :mod:`sla_phi4.benchmarks.cpu_benchmark`."""

import argparse
import time

from sla_phi4 import strict_json
from sla_phi4.analysis.real_size import SETTINGS
from sla_phi4.benchmarks import cpu_benchmark
from sla_phi4.benchmarks.cpu_benchmark import BACKBONES, format_paper, format_table, long_worker, run, run_paper


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=cpu_benchmark.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short session and fewer sizes (under a minute)")
    parser.add_argument("--output", default="benchmark.json", help="where to write the JSON report")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per figure (median); 3, quick 1")
    parser.add_argument("--scale", type=float, default=None,
                        help="session durations as a fraction of a real S&I session (default 0.25, quick 0.05)")
    parser.add_argument("--decoder-hidden", type=int, default=96,
                        help="tiny decoder width (a multiple of its 6 heads); the rest is solved")
    parser.add_argument("--backbone", choices=BACKBONES, default="all",
                        help="backbone families in the real-sizes-on-paper table (default all)")
    parser.add_argument("--text-tokens", type=int, default=SETTINGS.text_tokens,
                        help="decoder tokens of a session besides the audio tokens, on paper")
    parser.add_argument("--paper-only", action="store_true", help="only the real sizes on paper (a few seconds)")
    parser.add_argument("--_long-worker", nargs=2, metavar=("CHECKPOINT", "MINUTES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
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
