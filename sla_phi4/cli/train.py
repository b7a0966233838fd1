"""`sla train`: the command line of :mod:`sla_phi4.training.trainer`."""

import argparse

from sla_phi4.cli.parser import SLAArgumentParser, add_dataclass_flags
from sla_phi4.training.flags import FLAG_GROUPS


TRAINER_HELP_FLAG = "--help-trainer"

DESCRIPTION = """\
Trains an SLA model with the HF Trainer, in two stages, on a kit-layout corpus (the S&I 2025 kit or a synthetic
one): stage app trains the APP classifier (an MLP over pooled frozen Whisper states) on the marks' half bands; stage
sla trains LoRA, the head and the APP projector with the masked MSE, starting from the stage-app result. The frozen
encoders' outputs are computed once per session and reused across epochs. Each epoch is evaluated on the dev split
and the best epoch is kept. Runs unchanged under `accelerate launch` or `torchrun`."""

EXAMPLES = f"""\
  # stage app, then stage sla from its result
  sla train --stage app --checkpoint tiny-sla --corpus-root corpus --output-dir runs/app
  sla train --stage sla --checkpoint runs/app --corpus-root corpus --output-dir runs/sla
  # a model for the IELTS-like format started from the S&I one (backbone, LoRA and APP kept)
  sla train --stage sla --init-from runs/sla --format ielts-like --corpus-root ielts --output-dir runs/ielts
  # every transformers.TrainingArguments flag works too; list them all:
  sla train {TRAINER_HELP_FLAG}"""

USAGE = ("sla train --corpus-root DIR (--checkpoint DIR | --init-from DIR --format NAME | --backbone REPO "
         "--app-encoder REPO) [--stage app|sla] [--output-dir DIR] [FLAGS]")
TRAINER_NOTE = (f"Every other transformers.TrainingArguments flag is accepted too (--seed, --bf16, "
                f"--gradient-accumulation-steps, --report-to, ...): `sla train {TRAINER_HELP_FLAG}` lists all of them "
                "with their defaults (it imports transformers: a few seconds).")


def build_parser() -> SLAArgumentParser:
    """The package's flags in their groups (stage, data, model, LoRA, APP), then the Trainer defaults it sets."""
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES, usage=USAGE)
    parser.add_argument(TRAINER_HELP_FLAG, action=TrainerHelp, help="list every TrainingArguments flag and exit")
    for title, (settings_class, names) in FLAG_GROUPS.items():
        description = TRAINER_NOTE if title.startswith("Trainer") else None
        add_dataclass_flags(parser.add_argument_group(title, description), settings_class, names)
    return parser


class TrainerHelp(argparse.Action):
    """`--help-trainer`: prints every TrainingArguments flag and exits, as `--help` does."""

    def __init__(self, option_strings, dest, **keywords):
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, **keywords)

    def __call__(self, parser, namespace, values, option_string=None):
        print(trainer_help())
        parser.exit()


def trainer_help() -> str:
    """Every `TrainingArguments` flag (both spellings), as `HfArgumentParser` reads them."""
    from transformers import HfArgumentParser

    from sla_phi4.training import SLATrainingArguments

    parser = HfArgumentParser(SLATrainingArguments, prog="sla train",
                              description="Every flag of SLATrainingArguments (transformers.TrainingArguments with "
                                          "this package's defaults); `sla train --help` shows the package's own.")
    return parser.format_help()


def main(argv=None) -> None:
    argv = list(argv or [])
    build_parser().parse_known_args(argv)  # --help, and the package's flags checked before anything heavy is imported
    from transformers import HfArgumentParser

    from sla_phi4.training import DataArguments, ModelArguments, SLATrainingArguments, train
    from sla_phi4.training.run_summary import final_line

    full = HfArgumentParser((ModelArguments, DataArguments, SLATrainingArguments), prog="sla train")
    model_args, data_args, training_args = full.parse_args_into_dataclasses(args=argv)
    trainer = train(model_args, data_args, training_args)
    if trainer.is_world_process_zero():
        print(final_line(trainer, training_args))
