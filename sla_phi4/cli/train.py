"""`sla train`: the command line of :mod:`sla_phi4.training.trainer`."""

from transformers import HfArgumentParser

from sla_phi4.training import DataArguments, ModelArguments, SLATrainingArguments, train


def main(argv=None) -> None:
    parser = HfArgumentParser((ModelArguments, DataArguments, SLATrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    train(model_args, data_args, training_args)
