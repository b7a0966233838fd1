"""The kit's fixed layout (splits, text levels, sample rate) and the real S&I kit's statistics, which the synthetic
corpus copies; the statistics, every text pool and each format's plan (parts, question IDs, times: `plan.py`) are
data files under ``resources/``."""

from __future__ import annotations

import json
from pathlib import Path

from sla_phi4.resources import package_file


DEFAULT_SPLITS = ("train", "dev", "eval")
SPLIT_SHARES = {"train": 0.70, "dev": 0.15, "eval": 0.15}
LEVELS = ("A2", "B1", "B2", "C1")
SAMPLE_RATE = 16000
ID_PREFIX = "SYN000"


def resource(name: str) -> Path:
    """The path of a data file of the synthetic corpus (``resources/<name>``), as installed package data."""
    return package_file("sla_phi4.data.synthetic", "resources", name)


def read_json(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


# --- the real kit's lists and marks (release 20241217), from resources/real_kit.json ---------------------------
_REAL = read_json(resource("real_kit.json"))
# Train: parts released (files and marks go together) per submission -> submissions.
REAL_TRAIN_PART_PATTERNS = {tuple(parts.split()): n for parts, n in _REAL["train_part_patterns"].items()}
# Train submissions with an overall mark although not all four parts are released, of those without all four.
REAL_TRAIN_OVERALL_WITHOUT_ALL_PARTS = tuple(_REAL["train_overall_without_all_parts"][k]
                                             for k in ("with_overall_mark", "submissions"))
# Answers present within P1 (of 6) and P5 (of 5), per submission that has the part.
REAL_ANSWER_COUNTS = {split: {part: {int(c): n for c, n in table.items()} for part, table in parts.items()}
                      for split, parts in _REAL["answer_counts"].items()}
# Two-digit folder under data/flac/{split}/ -> submissions in it.
REAL_FOLDERS = _REAL["folders"]
REAL_KIT_RATES = {split: {"submissions": r["submissions"], **{k: a / b for k, (a, b) in r["fractions"].items()}}
                  for split, r in _REAL["rates"].items()}
PART_OFFSET = _REAL["train_part_offset"]  # real train part means minus the overall mean


def split_profile(split: str) -> str:
    """Which real split's incompleteness a split copies: train is train, anything else is like dev."""
    return "train" if split == "train" else "dev"
