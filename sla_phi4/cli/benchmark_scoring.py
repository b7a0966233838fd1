"""`sla benchmark-scoring`: the command line of :mod:`sla_phi4.benchmarks.sharded_scoring`."""

from sla_phi4.cli.parser import SLAArgumentParser


DESCRIPTION = """\
Sharded and resumable scoring, measured in one run on a synthetic corpus scored by a tiny checkpoint: one process
against two (torchrun, CPU, gloo), with the merged files compared byte for byte; a run killed half way and started
again, compared with the uninterrupted one; and the peak memory of scoring --large sessions against --sessions.
Prints each figure and writes sharded_scoring.json into --workdir."""

EXAMPLES = """\
  sla benchmark-scoring
  sla benchmark-scoring --workdir /tmp/bench --sessions 200 --large 2000"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("--workdir", default="runs/scoring-bench", help="where the corpora and runs go")
    parser.add_argument("--sessions", type=int, default=1000, help="corpus for 1 vs 2 processes and kill/resume")
    parser.add_argument("--large", type=int, default=10000, help="corpus whose peak memory is compared")
    return parser


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    from sla_phi4.benchmarks import sharded_scoring

    return sharded_scoring.run(args.workdir, args.sessions, args.large)
