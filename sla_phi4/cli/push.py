"""`sla push`: the command line of :mod:`sla_phi4.hub.publish`."""

from sla_phi4.cli.parser import SLAArgumentParser


METRIC_NAME = "sla_scoring"  # sla_phi4.hub.publish.METRIC_NAME

DESCRIPTION = """\
Publishes a checkpoint folder to the Hugging Face Hub, and optionally the metric module and the demo app as Spaces.
The model repo gets only what it needs, from the top of the folder (hub_card/repo_files.json): weights, configs, the
code files the configs name and what they import, processor, tokenizer and the README.md card; everything else is
left out and the listing says what and why. The card must load the model by a Hub id, not a local path. --dry-run
checks the folder (it loads without this package) and lists what would be uploaded, with no network."""

EXAMPLES = f"""\
  sla push --checkpoint runs/sla --repo-id ORG/NAME --dry-run
  sla push --checkpoint runs/sla --repo-id ORG/NAME --private      # needs `hf auth login` or HF_TOKEN
  sla push --checkpoint runs/sla --repo-id ORG/NAME --metric-space ORG/{METRIC_NAME} --demo-space ORG/NAME-demo"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("--checkpoint", required=True, help="the checkpoint folder to upload")
    parser.add_argument("--repo_id", required=True, help="the model repo, ORG/NAME")
    parser.add_argument("--private", action="store_true", help="create the repo(s) as private")
    parser.add_argument("--dry_run", action="store_true", help="check and list the files; no network")
    parser.add_argument("--metric_space", default=None,
                        help=f"also publish the metric as the Space ORG/{METRIC_NAME}")
    parser.add_argument("--demo_space", default=None,
                        help="also publish the demo app as the Gradio Space ORG/NAME, serving --repo-id")
    parser.add_argument("--check_load", action="store_true",
                        help="before a real upload, also load the folder (the dry run always does)")
    parser.add_argument("--commit_message", default="Upload SLA checkpoint", help="the model repo's commit message")
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    from sla_phi4.hub.publish import dry_run, push

    if args.dry_run:
        files = dry_run(args.checkpoint, args.repo_id, args.metric_space, args.demo_space)
        total = sum(size for _, size in files)
        print(f"sla push --dry-run: {len(files)} files ({total / 1e6:.1f} MB) would go to "
              f"https://huggingface.co/{args.repo_id}; nothing was uploaded.")
    else:
        urls = push(args.checkpoint, args.repo_id, private=args.private, metric_space=args.metric_space,
                    demo_space=args.demo_space, commit_message=args.commit_message, check_load=args.check_load)
        print(f"sla push: {len(urls)} commit(s) uploaded to https://huggingface.co/{args.repo_id}.")
