"""`sla uncertainty-study`: the command line of :mod:`sla_phi4.experiments.uncertainty_study`."""

from sla_phi4.cli.parser import SLAArgumentParser, add_dataclass_flags
from sla_phi4.experiments.settings import UncertaintySettings


DESCRIPTION = """\
The intervals' study: a model's conformal intervals and referral judged on large held-out splits of a synthetic
corpus (coverage per target and method, the rejection curve, referral's gain, fairness of the intervals), and their
spread over --resplits random calibration splits. Writes uncertainty.json, .md and plots under --workdir."""

EXAMPLES = """\
  sla uncertainty-study --model runs/demo/model --corpus_seed 1
  sla uncertainty-study --quick --workdir /tmp/unc"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    add_dataclass_flags(parser, UncertaintySettings)
    return parser


def main(argv=None) -> dict:
    settings = UncertaintySettings(**vars(build_parser().parse_args(argv)))
    from sla_phi4.experiments.uncertainty_study import run_uncertainty_study

    return run_uncertainty_study(settings)
