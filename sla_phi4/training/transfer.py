"""A model for a new test format started from one trained on another (`sla train --init_from DIR --format NAME`).

What is kept: the frozen backbone, its LoRA and the APP (Whisper encoder, classifier with its bands, projector). What
is made anew: the head and its fixed standardisation, for the new format's targets (stage sla fits the
standardisation and the head's bias on the new training sessions before it trains).
"""

from modeling_sla import SLAConfig, SLAForSessionScoring, load_test_format
from processing_sla import SLAProcessor


def transfer_config(source: SLAConfig, test_format) -> SLAConfig:
    """The source's config with another test format: new targets, the same backbone, LoRA and APP (bands kept); no
    interval calibration (the source's is for its own targets)."""
    values = source.to_dict()
    for key in ("score_names", "uncertainty", "auto_map", "architectures", "custom_pipelines", "transformers_version"):
        values.pop(key, None)
    values["test_format"] = load_test_format(test_format).to_dict()
    return SLAConfig.from_dict(values)


def transferred_model(init_from: str, test_format) -> SLAForSessionScoring:
    """The model at `init_from` with a new head for `test_format` (every other weight loaded from it)."""
    source = SLAConfig.from_pretrained(init_from)
    config = transfer_config(source, test_format)
    model = SLAForSessionScoring.from_pretrained(init_from, config=config, ignore_mismatched_sizes=True)
    # A head of the same shape (S&I and TOEFL-like both have five targets) would load the source's: make it anew.
    model.reset_head()
    return model


def transferred_processor(init_from: str, test_format) -> SLAProcessor:
    """The processor at `init_from` for `test_format`."""
    return SLAProcessor.from_pretrained(init_from).for_test_format(load_test_format(test_format).to_dict())


__all__ = ["transfer_config", "transferred_model", "transferred_processor"]
