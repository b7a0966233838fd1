"""`sla measure-assessability`: the command line of :mod:`sla_phi4.benchmarks.assessability`."""

import argparse

from sla_phi4 import strict_json
from sla_phi4.benchmarks import assessability
from sla_phi4.benchmarks.assessability import format_report, measure


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=assessability.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus_root", required=True)
    parser.add_argument("--splits", default="train,dev,eval")
    parser.add_argument("--variants_per_kind", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    report = measure(args.corpus_root, args.splits.split(","), args.variants_per_kind, args.seed)
    print(format_report(report))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            strict_json.dump(report, handle, indent=2)
