"""`sla score`: the command line of :mod:`sla_phi4.evaluation.scoring`."""

import argparse
import os

from sla_phi4.cli.parser import SLAArgumentParser
from sla_phi4.evaluation.loading import DTYPE_NAMES


COHORT_NAME = "cohort"  # the output files' label for recordings (a kit split's name for a kit)


DESCRIPTION = """\
Scores a cohort with a checkpoint: a kit split (marked or not), or one's own recordings (a manifest, or one folder
per learner, in WAV, FLAC, MP3 or OGG at any rate). Writes prediction files, scores.csv (one row per session: scores,
bands, intervals, referral, warnings), a strict-JSON report with plots, and referrals. A session that cannot be read
or assessed is refused or flagged with its reason and counted; the others are scored. A rerun into the same folder
scores again only the sessions whose inputs changed. docs/scoring-your-recordings.md describes the layouts, every
output file, each refusal and reruns."""

EXAMPLES = """\
  sla score --checkpoint runs/sla --corpus-root corpus --split eval --output-dir reports/eval
  sla score --checkpoint runs/sla --manifest recordings.csv --output-dir reports/cohort
  sla score --checkpoint runs/sla --audio-dir uploads/ --output-dir reports/cohort --strict"""


class CohortSourceError(ValueError):
    """The command line names no cohort, or more than one, or flags that need a kit corpus without one."""


class CohortInputNotFound(FileNotFoundError):
    """A path the command line names does not exist."""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("--checkpoint", required=True, help="the checkpoint folder to score with")
    source = parser.add_argument_group("the cohort (exactly one)")
    source.add_argument("--corpus-root", default=None, help="a kit-layout corpus (scores its --split)")
    source.add_argument("--manifest", default=None,
                        help="a CSV or JSON Lines file: session_id, part, audio (relative to its folder, or "
                             "absolute), optional question; one row per response, in the order spoken")
    source.add_argument("--audio-dir", default=None,
                        help="a folder of one sub-folder per learner, files named by part (P1_01.mp3, P3.ogg)")
    parser.add_argument("--split", default=None,
                        help="the kit split to score, and the label of the output files (None: dev for "
                             f"--corpus-root, {COHORT_NAME} for --manifest and --audio-dir)")
    parser.add_argument("--output-dir", required=True, help="where the files go (a rerun keeps what is unchanged)")
    parser.add_argument("--calibrate-on", default=None,
                        help="kit only: fit a linear calibration on this split, apply it")
    parser.add_argument("--calibration-predictions", default=None,
                        help="kit only: folder of the calibration split's prediction files (skips rescoring it)")
    parser.add_argument("--train_split", default="train", help="kit only: split for the baselines ('' to skip them)")
    parser.add_argument("--batch_size", type=int, default=None,
                        help="sessions per forward pass (None: 8 on CUDA, 1 on CPU; see default_batch_size)")
    parser.add_argument("--num_workers", type=int, default=None,
                        help="processes that load and featurize sessions ahead of the model (None: on a GPU, this "
                             "process's share of the cores less one, at most 8; 0 on the CPU)")
    parser.add_argument("--dtype", default="auto", choices=DTYPE_NAMES,
                        help="the model's dtype: the checkpoint's own (auto), or cast to bfloat16 or float32; the "
                             "head, APP classifier and LoRA stay float32")
    parser.add_argument("--dataset_name", default=None, help="the dataset's name in the report (None: the folder's)")
    parser.add_argument("--on_missing", default="refuse", choices=("refuse", "skip", "error"),
                        help="a listed audio file that does not exist: refuse its session (counted as missing), "
                             "score the session without it (skip), or stop before scoring (error)")
    parser.add_argument("--on_unscorable", default="warn", choices=("warn", "skip", "error"),
                        help="responses that cannot be assessed: score and flag (warn), leave their part and overall "
                             "unscored (skip), or stop (error)")
    parser.add_argument("--strict", action="store_true",
                        help="stop with an error at the first session that would be refused or flagged")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace predictions in --output-dir made by another checkpoint, format or policy "
                             "(refused without it)")
    parser.add_argument("--cache_dir", default=None,
                        help="a session cache (sla train --cache-dir): frozen-encoder outputs reused, and extended")
    parser.add_argument("--groups", default=None,
                        help="a TSV of groups (submission ID, then group columns, e.g. L1, gender; a synthetic "
                             "corpus's reference-materials/speakers.tsv): adds their fairness section")
    parser.add_argument("--group_columns", nargs="+", default=None,
                        help="the group columns to report (None: every column with 2 to 20 distinct values)")
    parser.add_argument("--fairness_target", default=None, help="the target judged for fairness (None: overall)")
    return parser


def check_source(args: argparse.Namespace) -> None:
    given = [flag for flag in ("corpus_root", "manifest", "audio_dir") if getattr(args, flag)]
    if len(given) != 1:
        raise CohortSourceError(f"give exactly one of --corpus-root, --manifest and --audio-dir (got "
                                f"{', '.join('--' + flag.replace('_', '-') for flag in given) or 'none'})")
    if not args.corpus_root and (args.calibrate_on or args.calibration_predictions):
        raise CohortSourceError("--calibrate-on and --calibration-predictions need a kit corpus (--corpus-root)")
    for flag, exists in (("corpus_root", os.path.isdir), ("manifest", os.path.isfile), ("audio_dir", os.path.isdir),
                         ("checkpoint", os.path.isdir)):
        path = getattr(args, flag)
        if path and not exists(path):
            raise CohortInputNotFound(f"--{flag.replace('_', '-')} {path}: no such {'file' if flag == 'manifest' else 'folder'}")


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    check_source(args)
    from sla_phi4.evaluation.fairness import format_fairness
    from sla_phi4.evaluation.scoring import format_table, score_corpus, score_recordings
    from sla_phi4.evaluation.uncertainty_report import format_uncertainty

    options = dict(batch_size=args.batch_size, num_workers=args.num_workers, dtype=args.dtype,
                   dataset_name=args.dataset_name, on_missing=args.on_missing, on_unscorable=args.on_unscorable,
                   strict=args.strict, overwrite=args.overwrite,
                   cache_dir=args.cache_dir, groups=args.groups, group_columns=args.group_columns,
                   fairness_target=args.fairness_target)
    if args.corpus_root:
        report = score_corpus(args.checkpoint, args.corpus_root, args.split or "dev", args.output_dir,
                              calibrate_on=args.calibrate_on, calibration_predictions=args.calibration_predictions,
                              train_split=args.train_split or None, **options)
    else:
        report = score_recordings(args.checkpoint, args.output_dir, manifest=args.manifest, audio_dir=args.audio_dir,
                                  name=args.split or COHORT_NAME, **options)
    if report is None:  # another process than the main one: the main one merges and reports
        return
    print(format_table(report))
    if "calibration" in report:
        print(report["calibration"]["summary"])
    for section in (format_uncertainty(report), format_fairness(report)):
        if section:
            print(section)
