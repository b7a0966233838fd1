"""Warnings that carry no information for a user of `sla train`, dropped where they arise and nowhere else."""

import contextlib
import logging


TOKEN_ALIGNMENT_LOGGER = "transformers.trainer_utils"
TOKEN_ALIGNMENT_MESSAGE = "The tokenizer has new PAD/BOS/EOS tokens"


class DropMessages(logging.Filter):
    """Drops log records whose message starts with one of `prefixes`."""

    def __init__(self, *prefixes: str):
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


@contextlib.contextmanager
def quiet_token_alignment():
    """Within `Trainer.train`: the Trainer copies the tokenizer's PAD/BOS/EOS ids onto `model.config.get_text_config()`
    and warns that they are "new". The SLA model generates no text and its config (the `SLAConfig` itself) declares
    no such ids, so every stage-sla run printed that warning with nothing for the user to do."""
    logger = logging.getLogger(TOKEN_ALIGNMENT_LOGGER)
    dropped = DropMessages(TOKEN_ALIGNMENT_MESSAGE)
    logger.addFilter(dropped)
    try:
        yield
    finally:
        logger.removeFilter(dropped)


__all__ = ["DropMessages", "quiet_token_alignment"]
