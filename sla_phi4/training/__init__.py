"""Training with the HF Trainer in two stages (app, then sla) on a kit-layout corpus, with the frozen encoders'
outputs computed once per session (`SessionCache`).

The names below are imported on first use (PEP 562), so that `sla_phi4.training.flags` (the flags of `sla train`)
loads without torch or transformers and `sla train --help` answers at once.
"""

import importlib


_HOMES = {
    "APP_TARGETS": "flags", "DataArguments": "flags", "ModelArguments": "flags",
    "SLATrainingArguments": "arguments", "SessionCollator": "collator", "band_targets": "collator",
    "SessionCache": "session_cache", "SessionTrainer": "length_sampling", "load_model": "trainer", "train": "trainer",
}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)


__all__ = sorted(_HOMES)
