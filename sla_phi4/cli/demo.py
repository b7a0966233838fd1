"""`sla demo`: the command line of :mod:`sla_phi4.experiments.demo`."""

from transformers import HfArgumentParser

from sla_phi4.experiments.demo import DemoSettings, run


def main(argv=None) -> dict:
    (settings,) = HfArgumentParser((DemoSettings,)).parse_args_into_dataclasses(args=argv)
    return run(settings)
