"""JSON that every parser reads: undefined figures (NaN, infinities) written as `null`, never as bare `NaN`."""

import json
import math
from collections.abc import Mapping

import numpy as np


def finite_or_none(value):
    """`value` with every NaN or infinite float (Python or NumPy, at any depth) replaced by None, NumPy scalars and
    arrays turned into Python numbers and lists, and tuples into lists."""
    if isinstance(value, Mapping):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    if isinstance(value, np.ndarray):
        return finite_or_none(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(value, **kwargs) -> str:
    """`json.dumps` of `finite_or_none(value)`, refusing anything else that is not strict JSON."""
    return json.dumps(finite_or_none(value), allow_nan=False, **kwargs)


def dump(value, handle, **kwargs) -> None:
    """`json.dump` of `finite_or_none(value)` into an open text file."""
    json.dump(finite_or_none(value), handle, allow_nan=False, **kwargs)


def write(path: str, value, indent: int = 2) -> None:
    """Writes `value` as strict JSON (UTF-8) to `path`."""
    with open(path, "w", encoding="utf-8") as handle:
        dump(value, handle, indent=indent)
        handle.write("\n")


def loads_strict(text: str):
    """`json.loads` that refuses `NaN`, `Infinity` and `-Infinity` (as JavaScript's and Go's parsers do)."""
    def refuse(constant: str):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


__all__ = ["dump", "dumps", "finite_or_none", "loads_strict", "write"]
