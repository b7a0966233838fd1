"""`sla measure-assessability`: the command line of :mod:`sla_phi4.benchmarks.assessability`."""

from sla_phi4.cli.parser import SLAArgumentParser


DESCRIPTION = """\
Measures the assessability checks on a kit-layout corpus: how many real responses they flag (should be near none)
and how many unassessable variants of them they catch (silent, noise only, truncated, clipped, buried in noise).
Every variant is made from a real response of the corpus, so that its length and level are those of real answers.
The thresholds are processing_sla/assessability_thresholds.json."""

EXAMPLES = """\
  sla make-corpus --output corpus --sessions 400 --duration-scale 0.1 --cue-strength 2
  sla measure-assessability --corpus-root corpus --variants-per-kind 600 --output figures.json"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("--corpus_root", required=True, help="a kit-layout corpus")
    parser.add_argument("--splits", default="train,dev,eval", help="comma-separated splits whose responses are used")
    parser.add_argument("--variants_per_kind", type=int, default=600, help="unassessable variants made of each kind")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and the variants")
    parser.add_argument("--output", default=None, help="also write the figures as JSON")
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    from sla_phi4 import strict_json

    from sla_phi4.benchmarks.assessability import format_report, measure

    report = measure(args.corpus_root, args.splits.split(","), args.variants_per_kind, args.seed)
    print(format_report(report))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            strict_json.dump(report, handle, indent=2)
        print(f"sla measure-assessability: figures written to {args.output}")
