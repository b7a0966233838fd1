"""The real configurations of the backbones and encoders, from `sla_phi4/analysis/backbones/` (no weights, nothing downloaded).

    from sla_phi4.analysis.real_configs import load_real_config
    phi4 = load_real_config("phi4_multimodal")  # a Phi4MultimodalConfig with 24 heads, 8 KV heads, ...

Each JSON file is the model's public `config.json` (or the closest public derivation of it) plus `_sources` (where
each value came from) and `_notes` (what was derived or left at a transformers default). Keys starting with `_` are
metadata and are dropped before the config class sees the rest.
"""

import json
from pathlib import Path

from huggingface_hub.errors import StrictDataclassError
from transformers import (
    Phi4MultimodalConfig,
    Phi4MultimodalFeatureExtractor,
    PreTrainedConfig,
    Qwen2AudioConfig,
    VoxtralConfig,
    WhisperConfig,
)

from sla_phi4.resources import package_file


BACKBONES_DIR = package_file("sla_phi4.analysis", "backbones")
CONFIG_CLASSES = {
    "phi4_multimodal": Phi4MultimodalConfig,
    "voxtral": VoxtralConfig,
    "qwen2_audio": Qwen2AudioConfig,
    "whisper_large_v3": WhisperConfig,
}
FEATURE_EXTRACTOR_CLASSES = {"phi4_multimodal": Phi4MultimodalFeatureExtractor}


def real_config_path(name: str, kind: str = "config") -> Path:
    """The JSON file of `name` (`kind` "config" or "preprocessor_config")."""
    known = CONFIG_CLASSES if kind == "config" else FEATURE_EXTRACTOR_CLASSES
    if name not in known:
        raise KeyError(f"no real {kind} named {name!r}; known: {', '.join(sorted(known))}")
    suffix = ".json" if kind == "config" else ".preprocessor_config.json"
    return BACKBONES_DIR / f"{name}{suffix}"


def read_real_values(path: Path) -> dict:
    """The JSON object at `path` without its `_` metadata keys (`_sources`, `_notes`, `_name_or_path`)."""
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: line {error.lineno}: not valid JSON ({error.msg})") from error
    if not isinstance(values, dict) or not values.get("_sources"):
        raise ValueError(f"{path}: expected a JSON object with a non-empty `_sources` list")
    return {key: value for key, value in values.items() if not key.startswith("_")}


def load_real_config(name: str) -> PreTrainedConfig:
    """The real configuration `name` (one of `CONFIG_CLASSES`) as its transformers config class."""
    path = real_config_path(name)
    try:
        return CONFIG_CLASSES[name](**read_real_values(path))
    except (StrictDataclassError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: does not load into {CONFIG_CLASSES[name].__name__}: {error}") from error


def load_real_feature_extractor(name: str):
    """The real feature extractor of `name` (one of `FEATURE_EXTRACTOR_CLASSES`), from its preprocessor config."""
    path = real_config_path(name, "preprocessor_config")
    return FEATURE_EXTRACTOR_CLASSES[name](**read_real_values(path))

