"""`sla push`: the command line of :mod:`sla_phi4.hub.publish`."""

import argparse
import sys

from sla_phi4.hub import publish
from sla_phi4.hub.publish import METRIC_NAME, PublishError, dry_run, push


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=publish.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="the checkpoint folder to upload")
    parser.add_argument("--repo-id", required=True, help="the model repo, ORG/NAME")
    parser.add_argument("--private", action="store_true", help="create the repo(s) as private")
    parser.add_argument("--dry-run", action="store_true", help="check and list the files; no network")
    parser.add_argument("--metric-space", default=None, help=f"also publish the metric as the Space ORG/{METRIC_NAME}")
    parser.add_argument("--demo-space", default=None,
                        help="also publish the demo app as the Gradio Space ORG/NAME, serving --repo-id")
    parser.add_argument("--check-load", action="store_true",
                        help="before a real upload, also load the folder (the dry run always does)")
    parser.add_argument("--commit-message", default="Upload SLA checkpoint")
    args = parser.parse_args(argv)
    try:
        if args.dry_run:
            dry_run(args.checkpoint, args.repo_id, args.metric_space, args.demo_space)
        else:
            push(args.checkpoint, args.repo_id, private=args.private, metric_space=args.metric_space,
                 demo_space=args.demo_space, commit_message=args.commit_message, check_load=args.check_load)
    except PublishError as error:
        sys.exit(f"error: {error}")
