"""`sla ablation`: the command line of :mod:`sla_phi4.experiments.ablation`."""

import argparse

from sla_phi4.experiments import ablation
from sla_phi4.experiments.ablation import run_ablation
from sla_phi4.experiments.studies import STUDIES, StudySettings


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=ablation.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", choices=list(STUDIES), default="app")
    parser.add_argument("--workdir", default="runs/ablation",
                        help="the shared corpus and cache, the runs, and each study's .json, .md and .png")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--backbone", default=None,
                        help="phi4, voxtral or qwen2-audio (default: phi4 for app, the main job's voxtral otherwise)")
    parser.add_argument("--drop_responses", type=float, default=StudySettings.drop_responses,
                        help="truncation: the probability of the model trained with --drop_responses")
    parser.add_argument("--draws", type=int, default=StudySettings.draws,
                        help="truncation: random draws of each number of responses dropped")
    parser.add_argument("--language_model", default=StudySettings.language_model,
                        help="language: the pretrained language model of the real-parts backbones (or a Llama folder)")
    parser.add_argument("--full_size", action="store_true",
                        help="language: the main job's corpus and epochs (a GPU) rather than the CPU sizes")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: tiny corpus and model, two epochs (lora-rank: ranks 4 and 8 only)")
    args = parser.parse_args(argv)
    return run_ablation(StudySettings(**vars(args)))
