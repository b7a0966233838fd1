"""`sla ablation`: the command line of :mod:`sla_phi4.experiments.ablation`."""

from sla_phi4.cli.parser import SLAArgumentParser


STUDY_NAMES = ("app", "lora-rank", "truncation", "overall-mode", "language", "language-probe")  # sla_phi4.experiments.studies.STUDIES

DESCRIPTION = """\
The ablation studies on the main job's corpus. Every study trains `sla demo` once per variant and seed on one
shared corpus and session cache under --workdir, reusing every run already finished there, and writes
<study>.json, <study>.md (mean +- standard deviation over the seeds, baselines beside) and <study>.png.
language-probe trains no session model: ridges on the untrained backbones' pooled states, cross-validated over
all sessions (--seeds: the fold assignments)."""

EXAMPLES = """\
  sla ablation --study app            # APP on against off (the Phi-4 stand-in by default)
  sla ablation --study lora-rank      # LoRA rank 4, 8, 16, 32 (alpha = 2 x rank)
  sla ablation --study truncation     # eval sessions with responses taken out
  sla ablation --study overall-mode   # overall as its own output, or the mean of the part outputs
  sla ablation --study language       # random decoder, SmolLM2 unaligned and aligned, on two corpora
  sla ablation --study language-probe # the same backbones untrained: ridges on their pooled states (minutes)
  sla ablation --study app --quick    # a smoke run in minutes"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("--study", choices=STUDY_NAMES, default="app", help="the study to run")
    parser.add_argument("--workdir", default="runs/ablation",
                        help="the shared corpus and cache, the runs, and each study's .json, .md and .png")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of weights and training")
    parser.add_argument("--backbone", default=None,
                        help="phi4, voxtral or qwen2-audio (default: phi4 for app, the main job's voxtral otherwise)")
    parser.add_argument("--drop_responses", type=float, default=0.15,
                        help="truncation: the probability of the model trained with --drop-responses")
    parser.add_argument("--draws", type=int, default=10,
                        help="truncation: random draws of each number of responses dropped")
    parser.add_argument("--language_model", default="smollm2-135m",
                        help="language, language-probe: the pretrained language model of the real-parts backbones (or a Llama "
                             "folder)")
    parser.add_argument("--full_size", action="store_true",
                        help="language: the main job's corpus and epochs (a GPU) rather than the CPU sizes")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: tiny corpus and model, two epochs (lora-rank: ranks 4 and 8 only)")
    return parser


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    from sla_phi4.experiments.ablation import run_ablation
    from sla_phi4.experiments.studies import StudySettings

    report = run_ablation(StudySettings(**vars(args)))
    print(f"sla ablation: study {args.study} done; {args.workdir}/{args.study}.json, .md and .png written.")
    return report
