"""`sla benchmark-cohort`: the command line of :mod:`sla_phi4.benchmarks.cohort_scoring`."""

from sla_phi4.cli.parser import SLAArgumentParser


DESCRIPTION = """\
Measures scoring a cohort of new learners: builds a synthetic cohort, plants bad files of five kinds (unreadable,
empty, NaN, truncated, far too long), scores it and prints the report's counts by reason beside the planted truth; then changes
some sessions' audio and times the rerun (which rescores only those) against the full run, and a rerun with nothing
changed."""

EXAMPLES = """\
  sla benchmark-cohort --workdir runs/cohort-bench --sessions 200 --changed 5"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("--workdir", default="runs/cohort-bench", help="where the corpus, checkpoint and runs go")
    parser.add_argument("--sessions", type=int, default=200, help="sessions in the cohort")
    parser.add_argument("--changed", type=int, default=5, help="sessions whose audio changes before the rerun")
    return parser


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    from sla_phi4.benchmarks import cohort_scoring

    return cohort_scoring.run(args.workdir, args.sessions, args.changed)
