"""`sla calibrate`: the command line of :mod:`sla_phi4.evaluation.interval_calibration`."""

from sla_phi4.cli.parser import SLAArgumentParser


METHOD_NAMES = ("auto", "split", "normalized", "mondrian")  # "auto" and sla_phi4.evaluation.uncertainty.METHODS

DESCRIPTION = """\
Fits a checkpoint's intervals and referral on a held-out split and saves them in its config.json (`uncertainty`),
so the model gives the same intervals wherever it is loaded, through the pipeline too; calibration_report.json
beside it keeps what `auto` measured. Every target needs at least 10 sessions with a mark (20 for --method auto,
which measures the methods on halves of the split); the split's counts are checked before anything is scored."""

EXAMPLES = """\
  sla calibrate --checkpoint runs/sla --corpus-root corpus --split dev
  sla calibrate --checkpoint runs/sla --corpus-root corpus --split dev --coverage 0.9 --refer 0.1 \\
      --method normalized --cache-dir runs/cache"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("--checkpoint", required=True, help="the model folder; its config.json gets the calibration")
    parser.add_argument("--corpus_root", required=True, help="a kit-layout corpus of the model's test format")
    parser.add_argument("--split", default="dev", help="the held-out split to calibrate on")
    parser.add_argument("--coverage", type=float, default=0.9, help="the intervals' coverage")
    parser.add_argument("--refer", type=float, default=0.1,
                        help="the share of the calibration sessions whose intervals are wide enough to refer them to "
                             "an examiner")
    parser.add_argument("--method", choices=METHOD_NAMES, default="auto",
                        help="auto (the narrowest that covers, measured), split, normalized or mondrian")
    parser.add_argument("--cache_dir", default=None, help="a session cache of the frozen encoders' outputs")
    parser.add_argument("--on_missing", choices=("error", "skip"), default="error",
                        help="listed but absent audio: stop, or skip the session (counted)")
    return parser


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    from sla_phi4.evaluation.interval_calibration import calibrate_intervals

    return calibrate_intervals(args.checkpoint, args.corpus_root, args.split, coverage=args.coverage,
                               refer_share=args.refer, method=args.method, cache_dir=args.cache_dir,
                               on_missing=args.on_missing)
