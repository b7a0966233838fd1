"""`sla make-corpus`: the command line of :mod:`sla_phi4.data.synthetic`."""

from __future__ import annotations

from sla_phi4.cli.parser import SLAArgumentParser


DEFAULT_SPLITS = ("train", "dev", "eval")  # sla_phi4.data.synthetic.DEFAULT_SPLITS
CUE_PROFILE_NAMES = ("content-only", "default")  # sla_phi4/data/synthetic/resources/cue_profiles.json

DESCRIPTION = """\
Writes a synthetic corpus of a test format in the S&I kit's layout, for tests and demos: learners of known
proficiency answer each part in espeak-ng speech (the `tts` extra), with marks, prompts and the gaps of the real kit.
The same seed gives the same bytes. See sla_phi4/data/synthetic/ for the learner model and the files written."""

EXAMPLES = """\
  sla make-corpus --output /tmp/syn --sessions 120 --duration-scale 0.25
  sla make-corpus --output /tmp/ielts --format ielts-like --sessions 120 --duration-scale 0.25
  sla make-corpus --output corpus --sessions 12 --duration-scale 0.1 --splits train dev --split-shares 0.5 0.5
  sla make-corpus --output /tmp/words --cue-profile content-only --sessions 120 --duration-scale 0.25"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("--output", required=True, help="folder to write the kit tree into")
    parser.add_argument("--sessions", type=int, default=120, help="learners in all splits")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same bytes")
    parser.add_argument("--format", default="sandi2025",
                        help="the test format: sandi2025, ielts-like or toefl-like (each has a plan in "
                             "sla_phi4/data/synthetic/resources/)")
    parser.add_argument("--duration_scale", type=float, default=1.0,
                        help="multiplies the allotted speaking times (1.0, S&I: P1/P5 20 s, P3/P4 60 s)")
    parser.add_argument("--splits", nargs="+", default=list(DEFAULT_SPLITS), help="split names")
    parser.add_argument("--split_shares", type=float, nargs="+", default=None,
                        help="each split's share of the sessions, in the order of --splits (default 0.70 0.15 0.15)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: up to 2)")
    parser.add_argument("--no_gaps", action="store_true",
                        help="every part and answer present (no gaps; S&I's gaps are the real kit's)")
    parser.add_argument("--cue_strength", type=float, default=1.0,
                        help="scale each cue's signal-to-noise ratio (1.0: real-like loose coupling)")
    parser.add_argument("--cue_profile", choices=CUE_PROFILE_NAMES, default="default",
                        help="which cues carry proficiency: default (all six) or content-only (only the words; "
                             "rate, pauses, fillers, disfluencies and length are noise)")
    parser.add_argument("--overwrite", action="store_true", help="replace a synthetic corpus already in --output")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or printed summary")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.split_shares is not None and len(args.split_shares) != len(args.splits):
        parser.error(f"--split-shares gives {len(args.split_shares)} shares for {len(args.splits)} splits")
    from sla_phi4.data.synthetic import make_synthetic_corpus

    shares = dict(zip(args.splits, args.split_shares)) if args.split_shares else None
    make_synthetic_corpus(
        args.output, sessions=args.sessions, seed=args.seed, duration_scale=args.duration_scale,
        splits=tuple(args.splits), progress=not args.quiet, workers=args.workers, gaps=not args.no_gaps,
        overwrite=args.overwrite, cue_strength=args.cue_strength, test_format=args.format, split_shares=shares,
        cue_profile=args.cue_profile,
    )
    return 0
