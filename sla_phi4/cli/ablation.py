"""`sla ablation`: the command line of :mod:`sla_phi4.experiments.ablation`."""

import argparse

from sla_phi4.experiments import ablation
from sla_phi4.experiments.ablation import run_ablation


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=ablation.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="runs/ablation")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--backbone", default="phi4", help="phi4 (the paper's backbone), voxtral or qwen2-audio")
    parser.add_argument("--quick", action="store_true", help="tiny corpus and model (tests)")
    args = parser.parse_args(argv)
    return run_ablation(args.workdir, args.seeds, backbone=args.backbone, quick=args.quick)
