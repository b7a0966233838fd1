"""`sla benchmark-cohort`: the command line of :mod:`sla_phi4.benchmarks.cohort_scoring`."""

import argparse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default, and the description as written."""


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--workdir", default="runs/cohort-bench", help="where the corpus, checkpoint and runs go")
    parser.add_argument("--sessions", type=int, default=200, help="sessions in the cohort")
    parser.add_argument("--changed", type=int, default=5, help="sessions whose audio changes before the rerun")
    args = parser.parse_args(argv)
    from sla_phi4.benchmarks import cohort_scoring

    return cohort_scoring.run(args.workdir, args.sessions, args.changed)
