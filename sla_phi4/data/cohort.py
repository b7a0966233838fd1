"""A cohort to score: the sessions of a kit split, of a manifest of recordings, or of a folder of learner folders,
with what is known about them beyond their audio (which targets have marks; sessions known but without audio;
what the reader left out)."""

import os
from dataclasses import dataclass, field

from modeling_sla.session_folders_sla import read_session_folder
from sla_phi4.data.kit import load_kit
from sla_phi4.data.recordings_manifest import read_recordings_manifest


@dataclass
class Cohort:
    """Sessions to score (loader rows: `session_id`, `responses`, one mark per target or None) and their source.

    Args:
        rows: the sessions with at least one listed response.
        name: the label of its output files (a kit split's name; `cohort` for recordings).
        kind: `kit`, `manifest` or `folder`.
        source: the corpus root, manifest file or folder (absolute).
        mark_files: kit only, each target's mark file and whether it exists (`{target: (path, exists)}`).
        missing: sessions known (from marks) but without any listed audio, by reason.
        skipped: what the reader left out, by kind (answers to unscored parts, other files...).
    """

    rows: list[dict]
    name: str
    kind: str
    source: str
    mark_files: dict[str, tuple[str, bool]] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, list[str]] = field(default_factory=dict)


def kit_cohort(corpus_root: str, split: str, test_format, on_missing: str = "refuse") -> Cohort:
    """A kit split. `on_missing="error"` stops at listed audio that does not exist; otherwise such responses are
    kept for the intake to refuse (or drop) and count."""
    root = os.path.abspath(corpus_root)
    rows = list(load_kit(root, split, test_format, on_missing="error" if on_missing == "error" else "keep"))
    mark_files = {}
    for target in test_format.score_names:
        path = os.path.join(root, test_format.kit_file("marks", split, target))
        mark_files[target] = (path, os.path.isfile(path))
    without_audio = [row["session_id"] for row in rows if not row["responses"]]
    return Cohort([row for row in rows if row["responses"]], split, "kit", root, mark_files,
                  {"no_audio_listed": without_audio} if without_audio else {})


def manifest_cohort(path: str, test_format, name: str = "cohort") -> Cohort:
    """The sessions of a manifest of recordings (see `recordings_manifest`), without marks."""
    found = read_recordings_manifest(path, test_format)
    skipped = dict(found.skipped)
    if found.ignored_columns:
        skipped["column(s) not read"] = found.ignored_columns
    return Cohort(with_no_marks(found.sessions, test_format), name, "manifest", os.path.abspath(path),
                  skipped=skipped)


def folder_cohort(folder: str, test_format, name: str = "cohort") -> Cohort:
    """The sessions of a folder of recordings (one sub-folder per learner, or files named by response ID), without
    marks."""
    found = read_session_folder(folder, test_format)
    return Cohort(with_no_marks(found.sessions, test_format), name, "folder", os.path.abspath(folder),
                  skipped=found.skipped)


def with_no_marks(sessions: list[dict], test_format) -> list[dict]:
    return [{**session, **{target: None for target in test_format.score_names}} for session in sessions]


__all__ = ["Cohort", "folder_cohort", "kit_cohort", "manifest_cohort"]
