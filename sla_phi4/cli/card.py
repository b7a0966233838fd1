"""`sla card`: the command line of :mod:`sla_phi4.hub.model_card`."""

from sla_phi4.cli.parser import SLAArgumentParser


DESCRIPTION = """\
Writes the Hub model card (README.md) of a checkpoint from its config and the reports `sla score` wrote: YAML
metadata and a model-index (figures from at least 30 sessions, each with its session count), what the model scores,
how it was trained and evaluated (metric tables with the baselines beside the model), its limits, the install line
the checkpoint's remote code needs, and code that loads it with trust_remote_code. Without --repo-id the card's code
loads a placeholder id and says so; `sla push` refuses such a card."""

EXAMPLES = """\
  sla card --checkpoint runs/sla --report reports/eval/eval_report.json --repo-id ORG/NAME
  sla card --checkpoint runs/sla --report reports/eval/eval_report.json \\
      --report reports/dev/dev_report.json --repo-id ORG/NAME --dataset-id ORG/DATA --training training.json"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("--checkpoint", required=True, help="the checkpoint folder (the card goes in README.md)")
    parser.add_argument("--report", action="append", required=True, help="an evaluation report JSON (repeatable)")
    parser.add_argument("--repo_id", default=None,
                        help="the Hub repo (ORG/NAME) the card's code loads (default: a placeholder, with a note)")
    parser.add_argument("--dataset_id", default=None, help="Hub id of the dataset, for the metadata")
    parser.add_argument("--training", default=None, help="a JSON file of training settings to show")
    parser.add_argument("--base_model", default=None,
                        help="the backbone's Hub id (default: the release of the checkpoint's backbone family); the "
                             "card names it as base_model only when the checkpoint holds its weights, not a stand-in")
    parser.add_argument("--app_encoder", default="openai/whisper-large-v3", help="the APP's Whisper, by Hub id")
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    import json
    from pathlib import Path

    from sla_phi4.hub.model_card import write_model_card

    reports = [json.loads(Path(path).read_text(encoding="utf-8")) for path in args.report]
    training = json.loads(Path(args.training).read_text(encoding="utf-8")) if args.training else None
    path = write_model_card(
        args.checkpoint, reports, base_model=args.base_model, app_encoder=args.app_encoder,
        dataset_id=args.dataset_id, training=training, repo_id=args.repo_id,
    )
    print(f"sla card: wrote {path}")
