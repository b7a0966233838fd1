"""`sla demo-space`: the demo Space's app (:mod:`sla_phi4.space`), served on this machine."""

import argparse

from sla_phi4.cli.parser import SLAArgumentParser


TINY = "tiny"  # sla_phi4.testing.demo_model.TINY
TINY_NOTICE = "This is the tiny demo model: its weights are random, so its scores mean nothing."

DESCRIPTION = """\
The demo Space's app (the `space` extra), served on 127.0.0.1 only: score a session in the browser or through its
API `/score_session` (docs/space.md). The model is any folder or Hub repo saved with its pipeline, loaded through
trust_remote_code, or `tiny`: the tiny demo model (random weights), built once into the cache, offline."""

EXAMPLES = """\
  sla demo-space --model runs/demo/model --port 7860
  sla demo-space --model ORG/NAME
  sla demo-space --model tiny --format ielts-like   # offline: the tiny demo model, cached"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("--model", required=True,
                        help=f"a model folder or Hub repo saved with its pipeline, or `{TINY}` for the tiny demo model")
    parser.add_argument("--format", default=None,
                        help=f"with --model {TINY}: its test format (sandi2025, ielts-like, toefl-like or a JSON file)")
    parser.add_argument("--port", type=int, default=7860, help="the port on 127.0.0.1")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.format is not None and args.model != TINY:
        parser.error(f"--format goes with --model {TINY}: a model's own test format travels with it")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    from sla_phi4.space.interface import HOST, AppSettings, build_app, launch_options
    from sla_phi4.space.scorer import load_scorer
    from sla_phi4.testing.demo_model import demo_model

    settings = AppSettings(model=args.model, notice=TINY_NOTICE if args.model == TINY else None)
    model = str(demo_model(args.format or "sandi2025")) if args.model == TINY else args.model
    app = build_app(load_scorer(model), settings)
    print(f"sla demo-space: serving {args.model} on http://{HOST}:{args.port} (Ctrl+C stops it)")
    app.launch(server_name=HOST, server_port=args.port, **launch_options())
