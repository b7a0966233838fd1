"""`sla transfer`: the command line of :mod:`sla_phi4.experiments.transfer`."""

from transformers import HfArgumentParser

from sla_phi4.experiments.transfer import TransferSettings, run_transfer


def main(argv=None) -> dict:
    (settings,) = HfArgumentParser((TransferSettings,)).parse_args_into_dataclasses(args=argv)
    return run_transfer(settings)
