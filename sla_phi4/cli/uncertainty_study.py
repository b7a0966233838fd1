"""`sla uncertainty-study`: the command line of :mod:`sla_phi4.experiments.uncertainty_study`."""

from transformers import HfArgumentParser

from sla_phi4.experiments.uncertainty_study import UncertaintySettings, run_uncertainty_study


def main(argv=None) -> dict:
    (settings,) = HfArgumentParser((UncertaintySettings,)).parse_args_into_dataclasses(args=argv)
    return run_uncertainty_study(settings)
