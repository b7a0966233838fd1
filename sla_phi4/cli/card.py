"""`sla card`: the command line of :mod:`sla_phi4.hub.model_card`."""

import argparse
import json
from pathlib import Path

from sla_phi4.hub import model_card
from sla_phi4.hub.model_card import write_model_card


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=model_card.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="the checkpoint folder (the card goes in README.md)")
    parser.add_argument("--report", action="append", required=True, help="an evaluation report JSON (repeatable)")
    parser.add_argument("--repo-id", default=None, help="the Hub repo (ORG/NAME) the card's code loads")
    parser.add_argument("--dataset-id", default=None, help="Hub id of the dataset, for the metadata")
    parser.add_argument("--training", default=None, help="a JSON file of training settings to show")
    parser.add_argument("--base-model", default="microsoft/Phi-4-multimodal-instruct")
    parser.add_argument("--app-encoder", default="openai/whisper-large-v3")
    args = parser.parse_args(argv)
    reports = [json.loads(Path(path).read_text(encoding="utf-8")) for path in args.report]
    training = json.loads(Path(args.training).read_text(encoding="utf-8")) if args.training else None
    path = write_model_card(
        args.checkpoint, reports, base_model=args.base_model, app_encoder=args.app_encoder,
        dataset_id=args.dataset_id, training=training, repo_id=args.repo_id,
    )
    print(f"Wrote {path}")
