"""A manifest of one's own recordings: one row per response, in the order spoken, as CSV or JSON Lines.

    session_id,part,audio,question
    learner-7,P1,learner-7/q1.mp3,Where do you live?
    learner-7,P3,/data/uploads/7-long.ogg,

`audio` is a path relative to the manifest's folder, or absolute; `question` is optional (empty for none). A `.jsonl`
file holds one object a line with the same keys; any other extension is read as CSV (UTF-8, with or without a
byte-order mark). Answers to parts the test does not score (S&I's P2) are counted and left out. Every error names the
file and the line: a missing column or value, an unknown part, the same file twice in a session, two session IDs
that differ only in case, more answers to a part than the format allows.
"""

import csv
import json
import os
from dataclasses import dataclass, field

from sla_phi4.data.kit import read_kit_text


REQUIRED_COLUMNS = ("session_id", "part", "audio")
OPTIONAL_COLUMNS = ("question",)


@dataclass
class ManifestRows:
    """The sessions of a manifest, and what was left out of it by kind (`{kind: [descriptions]}`)."""

    sessions: list[dict]
    skipped: dict[str, list[str]] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)


def manifest_entries(path: str) -> tuple[list[tuple[int, dict]], list[str]]:
    """`(line, entry)` of every row and the file's columns."""
    text = read_kit_text(path)
    if path.lower().endswith(".jsonl"):
        entries, columns = [], {}
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}, line {number}: not a JSON object ({error.msg}).") from None
            if not isinstance(entry, dict):
                raise ValueError(f"{path}, line {number}: expected a JSON object, got {type(entry).__name__}.")
            columns.update(dict.fromkeys(entry))
            entries.append((number, entry))
        return entries, list(columns)
    reader = csv.DictReader(text.splitlines())
    columns = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = columns
    return [(reader.line_num, entry) for entry in reader], columns


def _value(path: str, number: int, entry: dict, column: str, required: bool = True) -> str | None:
    value = entry.get(column)
    value = "" if value is None else str(value).strip()
    if required and not value:
        raise ValueError(f"{path}, line {number}: no {column}.")
    return value or None


def read_recordings_manifest(path: str | os.PathLike, test_format) -> ManifestRows:
    """The sessions of the manifest at `path` (in order of first appearance), each response
    `{"response_id": "<session>-<part>-<n>", "part", "audio" (absolute), "question"}` with no marks."""
    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Manifest not found: {path}")
    entries, columns = manifest_entries(path)
    absent = [column for column in REQUIRED_COLUMNS if column not in columns]
    if absent:
        raise ValueError(f"{path}: no column {', '.join(absent)}; a manifest needs the columns "
                         f"{', '.join(REQUIRED_COLUMNS)} (and optionally question).")
    folder = os.path.dirname(path)
    sessions: dict[str, list[dict]] = {}
    first_line: dict[str, tuple[str, int]] = {}  # folded session ID -> (ID, line)
    files: dict[tuple[str, str], int] = {}
    lines: dict[str, list[int]] = {}
    skipped: dict[str, list[str]] = {}
    for number, entry in entries:
        session_id = _value(path, number, entry, "session_id")
        part = _value(path, number, entry, "part")
        audio = os.path.normpath(os.path.join(folder, _value(path, number, entry, "audio")))
        known = first_line.setdefault(session_id.casefold(), (session_id, number))
        if known[0] != session_id:
            raise ValueError(f"{path}, line {number}: session ID {session_id!r} differs only in case from "
                             f"{known[0]!r} (line {known[1]}); write one ID for one learner.")
        if part not in test_format.part_ids:
            if test_format.is_unscored_question(part):
                skipped.setdefault("response(s) of parts that are not scored", []).append(f"line {number}")
                continue
            raise ValueError(f"{path}, line {number}: unknown part {part!r}; the {test_format.name} format's parts "
                             f"are {', '.join(test_format.part_ids)}.")
        if (session_id, audio) in files:
            raise ValueError(f"{path}, line {number}: the same audio file as line {files[session_id, audio]} "
                             f"({audio}) in session {session_id}; a response may appear only once.")
        files[session_id, audio] = number
        responses = sessions.setdefault(session_id, [])
        lines.setdefault(session_id, []).append(number)
        position = sum(response["part"] == part for response in responses) + 1
        responses.append({"response_id": f"{session_id}-{part}-{position}", "part": part, "audio": audio,
                          "question": _value(path, number, entry, "question", required=False)})
    for session_id, responses in sessions.items():
        try:
            test_format.check_responses(session_id, [response["part"] for response in responses])
        except ValueError as error:
            raise ValueError(f"{path}, lines {', '.join(map(str, lines[session_id]))}: {error}") from None
    if not sessions:
        raise ValueError(f"{path}: no responses to score.")
    ignored = [column for column in columns if column not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    return ManifestRows([{"session_id": session_id, "responses": responses}
                         for session_id, responses in sessions.items()], skipped, ignored)


__all__ = ["ManifestRows", "REQUIRED_COLUMNS", "read_recordings_manifest"]
