"""`sla transfer`: the command line of :mod:`sla_phi4.experiments.transfer`."""

from sla_phi4.cli.parser import SLAArgumentParser, add_dataclass_flags
from sla_phi4.experiments.settings import TransferSettings


DESCRIPTION = """\
The transfer study: a model for a new test format (--format) trained on 25 to 200 of its sessions, started from a
trained S&I model (backbone, LoRA and APP kept, a new head) or from scratch, with every seed, scored on the new
format's eval split. Writes transfer.json, transfer.md and transfer.png under --workdir."""

EXAMPLES = """\
  sla transfer --source runs/demo/model --format ielts-like
  sla transfer --quick --source /tmp/q/model --workdir /tmp/transfer"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    add_dataclass_flags(parser, TransferSettings)
    return parser


def main(argv=None) -> dict:
    settings = TransferSettings(**vars(build_parser().parse_args(argv)))
    from sla_phi4.experiments.transfer import run_transfer

    return run_transfer(settings)
