"""Which process this is, under `torchrun` or `accelerate launch` (RANK), so only the main one prints."""

import os


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0
