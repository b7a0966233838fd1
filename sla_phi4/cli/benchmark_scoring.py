"""`sla benchmark-scoring`: the command line of :mod:`sla_phi4.benchmarks.sharded_scoring`."""

import argparse

from sla_phi4.benchmarks import sharded_scoring


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=sharded_scoring.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="runs/scoring-bench")
    parser.add_argument("--sessions", type=int, default=1000, help="corpus for 1 vs 2 processes and kill/resume")
    parser.add_argument("--large", type=int, default=10000, help="corpus whose peak memory is compared")
    args = parser.parse_args(argv)
    return sharded_scoring.run(args.workdir, args.sessions, args.large)
