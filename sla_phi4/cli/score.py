"""`sla score`: the command line of :mod:`sla_phi4.evaluation.scoring`."""

import argparse
import os

from modeling_sla.pipeline_sla import UNSCORABLE_POLICIES
from sla_phi4.evaluation import scoring
from sla_phi4.evaluation.fairness import format_fairness
from sla_phi4.evaluation.scoring import format_table, score_corpus
from sla_phi4.evaluation.uncertainty_report import format_uncertainty


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=scoring.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--corpus_root", required=True)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--calibrate_on", default=None, help="fit a linear calibration on this split, apply it")
    parser.add_argument("--calibration_predictions", default=None,
                        help="folder of the calibration split's prediction files (skips rescoring it)")
    parser.add_argument("--train_split", default="train", help="split for the baselines ('' to skip them)")
    parser.add_argument("--batch_size", type=int, default=None,
                        help="sessions per forward pass (default 8 on CUDA, 1 on CPU: see default_batch_size)")
    parser.add_argument("--dataset_name", default=None)
    parser.add_argument("--on_missing", default="error", choices=("error", "skip"))
    parser.add_argument("--cache_dir", default=None,
                        help="a session cache (train.py --cache_dir): frozen-encoder outputs reused, and extended")
    parser.add_argument("--on_unscorable", default="warn", choices=UNSCORABLE_POLICIES,
                        help="responses that cannot be assessed: score and flag (warn), leave their part and overall "
                             "unscored (skip), or stop (error)")
    parser.add_argument("--groups", default=None,
                        help="a TSV of groups (submission ID, then group columns, e.g. L1, gender; a synthetic "
                             "corpus's reference-materials/speakers.tsv): adds their fairness section")
    parser.add_argument("--group_columns", nargs="+", default=None,
                        help="the group columns to report (default: every column with 2 to 20 distinct values)")
    parser.add_argument("--fairness_target", default=None, help="the target judged for fairness (default overall)")
    args = parser.parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)
    report = score_corpus(args.checkpoint, args.corpus_root, args.split, args.output_dir,
                          calibrate_on=args.calibrate_on, calibration_predictions=args.calibration_predictions,
                          train_split=args.train_split or None,
                          batch_size=args.batch_size, dataset_name=args.dataset_name, on_missing=args.on_missing,
                          on_unscorable=args.on_unscorable, cache_dir=args.cache_dir, groups=args.groups,
                          group_columns=args.group_columns, fairness_target=args.fairness_target)
    if report is None:  # another process than the main one: the main one merges and reports
        return
    print(format_table(report))
    for section in (format_uncertainty(report), format_fairness(report)):
        if section:
            print(section)
