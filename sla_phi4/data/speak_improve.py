"""The Speak & Improve Corpus 2025 kit (release 20241217): the kit loader (:mod:`sla_phi4.data.kit`) with the
built-in ``sandi2025`` test format.

    <root>/reference-materials/flists.flac/{split}-sla-{P1,P3,P4,P5,overall}.tsv   fileID<TAB>path
    <root>/reference-materials/sla-marks/{split}-sla-{P1,P3,P4,P5,overall}.tsv     submissionID<TAB>score (0-6)
    <root>/reference-materials/annotations/*.json                                 optional, question texts
"""

from __future__ import annotations

import os

import datasets

from modeling_sla.test_format_sla import load_test_format
from sla_phi4.data import kit


__all__ = ["FEATURES", "PARTS", "SANDI2025", "TARGETS", "load_speak_improve", "parse_file_id", "read_file_list",
           "read_marks"]

SANDI2025 = load_test_format("sandi2025")
PARTS = tuple(SANDI2025.part_ids)
TARGETS = tuple(SANDI2025.score_names)
FEATURES = kit.kit_features(SANDI2025)


def parse_file_id(file_id: str) -> tuple[str, str, str]:
    """Split ``SI114J-00011-P10003`` into ``("SI114J-00011", "P10003", "P1")`` (see :func:`kit.parse_file_id`)."""
    return kit.parse_file_id(file_id, SANDI2025)


def read_file_list(path: str | os.PathLike, part: str | None = None) -> list[tuple[str, str]]:
    """An S&I kit file list (see :func:`kit.read_file_list`)."""
    return kit.read_file_list(path, SANDI2025, part)


def read_marks(path: str | os.PathLike) -> dict[str, float]:
    """An S&I kit mark file; scores must be finite numbers in [0, 6] (see :func:`kit.read_marks`)."""
    return kit.read_marks(path, SANDI2025.kit.mark_range, "the S&I kit's mark range")


def load_speak_improve(root: str | os.PathLike, split: str, *, on_missing: str = "error") -> datasets.Dataset:
    """One split of the S&I 2025 kit, one row per submission, with marks ``P1``, ``P3``, ``P4``, ``P5`` and
    ``overall`` (see :func:`kit.load_kit`)."""
    return kit.load_kit(root, split, SANDI2025, on_missing=on_missing)
