"""Sizes of the tiny stand-ins (sla_phi4/testing/stand_ins/tiny_sizes.json) and the real configurations they shrink."""

import json
import math

from sla_phi4.analysis.real_configs import read_real_values, real_config_path
from sla_phi4.resources import package_file


SIZES_FILE = package_file("sla_phi4.testing.stand_ins", "tiny_sizes.json")
FAMILIES = ("phi4_multimodal", "voxtral", "qwen2_audio")


def load_sizes() -> dict:
    """Every size of sla_phi4/testing/stand_ins/tiny_sizes.json, without its `_doc`."""
    return {name: values for name, values in json.loads(SIZES_FILE.read_text()).items() if not name.startswith("_")}


def tiny_size(size: str) -> dict:
    sizes = load_sizes()
    if size not in sizes:
        raise ValueError(f"Unknown size {size!r}; {SIZES_FILE} has {sorted(sizes)}.")
    return sizes[size]


def real_values(name: str) -> dict:
    """The real `config.json` values of `name` (sla_phi4/analysis/backbones/), without metadata."""
    return read_real_values(real_config_path(name))


def scaled_heads(heads: int, real_heads: int, real_kv_heads: int) -> int:
    """Key-value heads for `heads` query heads in the real model's grouping ratio."""
    kv_heads = heads * real_kv_heads / real_heads
    if kv_heads != int(kv_heads):
        raise ValueError(f"{heads} heads cannot keep the real {real_heads}:{real_kv_heads} grouping.")
    return int(kv_heads)


def subsample(values: list[float], count: int) -> list[float]:
    """`count` values spread evenly over `values` (first and last kept): a schedule of the same shape."""
    if count == 1:
        return [values[0]]
    return [values[round(index * (len(values) - 1) / (count - 1))] for index in range(count)]


def rotary_factor_count(head_dim: int, partial_rotary_factor: float) -> int:
    return math.floor(head_dim * partial_rotary_factor) // 2


__all__ = ["FAMILIES", "load_sizes", "real_values", "rotary_factor_count", "scaled_heads", "subsample", "tiny_size"]
