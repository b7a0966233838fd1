"""`sla calibrate`: the command line of :mod:`sla_phi4.evaluation.interval_calibration`."""

import argparse

from sla_phi4.evaluation import interval_calibration
from sla_phi4.evaluation.interval_calibration import calibrate_intervals


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=interval_calibration.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="the model folder; its config.json gets the calibration")
    parser.add_argument("--corpus_root", required=True, help="a kit-layout corpus of the model's test format")
    parser.add_argument("--split", default="dev", help="the held-out split to calibrate on (default dev)")
    parser.add_argument("--coverage", type=float, default=0.9, help="the intervals' coverage (default 0.9)")
    parser.add_argument("--refer", type=float, default=0.1,
                        help="the share of the calibration sessions whose intervals are wide enough to refer them to "
                             "an examiner (default 0.1)")
    parser.add_argument("--method", default="auto", help="auto (measured), split, normalized or mondrian")
    parser.add_argument("--cache_dir", default=None, help="a session cache of the frozen encoders' outputs")
    parser.add_argument("--on_missing", default="error", help="error or skip for listed but absent audio")
    args = parser.parse_args(argv)
    return calibrate_intervals(args.checkpoint, args.corpus_root, args.split, coverage=args.coverage,
                               refer_share=args.refer, method=args.method, cache_dir=args.cache_dir,
                               on_missing=args.on_missing)
