"""`sla demo`: the command line of :mod:`sla_phi4.experiments.demo`."""

from sla_phi4.cli.parser import SLAArgumentParser, add_dataclass_flags
from sla_phi4.experiments.settings import DemoSettings


DESCRIPTION = """\
The main job, from nothing to a published-ready model on CPU: a synthetic corpus of espeak-ng speech, a small
checkpoint from local stand-ins of the Hub repos, both training stages, scoring on dev and eval with baselines,
intervals and referral, the model card, and a reload through the pipeline. Everything goes under --workdir; steps
already done there are reused."""

EXAMPLES = """\
  sla demo                            # the main job (docs/main-job.md)
  sla demo --quick --workdir /tmp/q   # a minute-long smoke run
  sla demo --backbone phi4 --format ielts-like --workdir runs/ielts"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    add_dataclass_flags(parser, DemoSettings)
    return parser


def main(argv=None) -> dict:
    settings = DemoSettings(**vars(build_parser().parse_args(argv)))
    from sla_phi4.experiments.demo import run

    return run(settings)
