"""Loader for the Speak & Improve Corpus 2025 (S&I Challenge kit, release 20241217).

The kit keeps one list of audio files and one file of marks per test part::

    <root>/reference-materials/flists.flac/{split}-sla-{P1,P3,P4,P5,overall}.tsv   fileID<TAB>path
    <root>/reference-materials/sla-marks/{split}-sla-{P1,P3,P4,P5,overall}.tsv     submissionID<TAB>score
    <root>/reference-materials/annotations/*.json                                 optional, question texts
    <root>/data/flac/...                                                          16 kHz mono FLAC

Paths in the lists are relative to ``root`` (absolute paths are kept as they are). A file ID is
``<submissionID>-<questionID>`` (``SI114J-00011-P10003``) and the first two characters of the question ID
give the part.

:func:`load_speak_improve` turns one split into a :class:`datasets.Dataset` with one row per submission
(session). Audio stays a path string: datasets' ``Audio`` feature decodes through torchcodec, which needs
system FFmpeg libraries; read the files with soundfile instead.

Rules (checked against the real kit lists: dev 438 submissions, train 6,642 of which 1,247 have all four
part marks and 1,742 an overall mark):

- The responses of a session are the files of the four part lists. The ``overall`` list is optional: in the
  real kit every file it names is also in a part list (dev: the same 5,616 files; train: 18,021 of 39,490
  files, those of the 1,742 submissions with an overall mark). Its entries are checked against the part
  lists (same path); a file found only there is still added, its part taken from its file ID.
- The sessions are every submission named in any list or mark file of the split. A submission with marks
  but no listed file is kept with an empty ``responses`` list, and a warning says how many there are.
- A missing mark file (e.g. an evaluation split without marks) gives ``None`` marks; a missing list
  directory or part list is an error.
- Responses are ordered by part, then question ID; sessions by submission ID.
- Files are read as UTF-8, with or without a byte-order mark (Windows editors write one). A byte that is
  not UTF-8, or an invisible character in an ID, is an error naming the file and the line.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import warnings
from typing import Iterable

import datasets


__all__ = [
    "PARTS",
    "TARGETS",
    "FEATURES",
    "parse_file_id",
    "read_file_list",
    "read_marks",
    "read_questions",
    "read_kit_text",
    "load_speak_improve",
]

PARTS = ("P1", "P3", "P4", "P5")
TARGETS = PARTS + ("overall",)
LIST_DIR = os.path.join("reference-materials", "flists.flac")
MARK_DIR = os.path.join("reference-materials", "sla-marks")
ANNOTATION_DIR = os.path.join("reference-materials", "annotations")
MIN_SCORE, MAX_SCORE = 0.0, 6.0
_MAX_LISTED_MISSING = 5

_MARK = datasets.Value("float64")
FEATURES = datasets.Features(
    {
        "session_id": datasets.Value("string"),
        "responses": datasets.List(
            {
                "response_id": datasets.Value("string"),
                "part": datasets.Value("string"),
                "audio": datasets.Value("string"),
                "question": datasets.Value("string"),
            }
        ),
        **{target: _MARK for target in TARGETS},
    }
)

_ID_RE = re.compile(r"^[^\s]+$")
_QUESTION_RE = re.compile(r"^(P[1345])[0-9A-Za-z_]*$")


def parse_file_id(file_id: str) -> tuple[str, str, str]:
    """Split ``SI114J-00011-P10003`` into ``("SI114J-00011", "P10003", "P1")``.

    Raises ValueError when there is no submission part, or the question ID does not start with a known
    part (P1, P3, P4, P5).
    """
    submission, sep, question = file_id.rpartition("-")
    if not sep or not submission or not _ID_RE.match(submission):
        raise ValueError(f"cannot parse the submission ID of file ID {file_id!r}")
    match = _QUESTION_RE.match(question)
    if match is None:
        raise ValueError(
            f"cannot parse the part of file ID {file_id!r}: the question ID {question!r} "
            f"must start with one of {', '.join(PARTS)}"
        )
    return submission, question, match.group(1)


def read_kit_text(path: str) -> str:
    """The text of a kit file: UTF-8, with or without the byte-order mark that Windows editors write.

    Raises ValueError naming the file and the line of the first byte that is not UTF-8 (e.g. Latin-1).
    """
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ValueError(
            f"{path}, line {line}: byte 0x{data[error.start]:02x} is not UTF-8 text; save the file as UTF-8"
        ) from None


def _tsv_rows(path: str) -> Iterable[tuple[int, list[str]]]:
    """Yield ``(1-based line number, stripped fields)`` of a headerless TSV; trailing blank lines are fine.

    A field holding an invisible character (a byte-order mark inside the file, a zero-width space...) is an
    error: it would silently make an ID that matches nothing.
    """
    lines = read_kit_text(path).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        if not line.strip():
            raise ValueError(f"{path}, line {number}: blank line before the end of the file")
        fields = [field.strip() for field in line.split("\t")]
        for column, field in enumerate(fields, start=1):
            hidden = [character for character in field if not character.isprintable()]
            if hidden:
                raise ValueError(
                    f"{path}, line {number}: column {column} ({field!r}) holds an invisible character "
                    f"U+{ord(hidden[0]):04X}"
                )
        yield number, fields


def _line_error(path: str, number: int, message: str) -> ValueError:
    return ValueError(f"{path}, line {number}: {message}")


def read_file_list(path: str | os.PathLike, part: str | None = None) -> list[tuple[str, str]]:
    """Read a kit file list (``fileID<TAB>path``) into ``[(file_id, path), ...]`` in file order.

    With ``part`` given (``"P1"``...), every file ID must belong to that part. Malformed lines raise
    ValueError naming the file and the 1-based line number.
    """
    path = os.fspath(path)
    entries: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for number, fields in _tsv_rows(path):
        if len(fields) != 2:
            raise _line_error(path, number, f"expected 2 tab-separated columns (fileID, path), got {len(fields)}")
        file_id, audio = fields
        if not file_id or not audio:
            raise _line_error(path, number, "empty file ID or path")
        try:
            _, _, file_part = parse_file_id(file_id)
        except ValueError as error:
            raise _line_error(path, number, str(error)) from None
        if part is not None and file_part != part:
            raise _line_error(path, number, f"file ID {file_id!r} is of part {file_part}, but this is the {part} list")
        if file_id in seen:
            raise _line_error(path, number, f"duplicate file ID {file_id!r} (first on line {seen[file_id]})")
        seen[file_id] = number
        entries.append((file_id, audio))
    return entries


def read_marks(path: str | os.PathLike) -> dict[str, float]:
    """Read a kit mark file (``submissionID<TAB>score``) into ``{submission_id: score}``.

    Scores must be finite numbers in [0, 6]. Malformed lines raise ValueError naming the file and the
    1-based line number.
    """
    path = os.fspath(path)
    marks: dict[str, float] = {}
    lines: dict[str, int] = {}
    for number, fields in _tsv_rows(path):
        if len(fields) != 2:
            raise _line_error(path, number, f"expected 2 tab-separated columns (submissionID, score), got {len(fields)}")
        submission, text = fields
        if not submission or not _ID_RE.match(submission):
            raise _line_error(path, number, f"invalid submission ID {submission!r}")
        try:
            score = float(text)
        except ValueError:
            raise _line_error(path, number, f"score {text!r} is not a number") from None
        if math.isnan(score):
            raise _line_error(path, number, "score is NaN")
        if not MIN_SCORE <= score <= MAX_SCORE:
            raise _line_error(path, number, f"score {text} is outside {MIN_SCORE:g}-{MAX_SCORE:g}")
        if submission in marks:
            raise _line_error(path, number, f"duplicate submission ID {submission!r} (first on line {lines[submission]})")
        marks[submission] = score
        lines[submission] = number
    return marks


def _question_text(raw) -> str | None:
    """The kit stores ``Question`` as a JSON string ``{"text": ..., "speaking-time": ..., ...}``."""
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return raw or None
    if isinstance(raw, dict):
        text = raw.get("text")
        return text if isinstance(text, str) else None
    return raw if isinstance(raw, str) else None


def read_questions(paths: Iterable[str | os.PathLike], wanted: set[str] | None = None) -> dict[str, str]:
    """Map File-id to question text from kit annotation JSON files (the first file giving one wins).

    The text is kept verbatim (the kit's texts contain literal ``\\n`` sequences, not newlines).
    """
    questions: dict[str, str] = {}
    for path in paths:
        path = os.fspath(path)
        try:
            content = json.loads(read_kit_text(path))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from None
        files = content.get("files") if isinstance(content, dict) else None
        if not isinstance(files, list):
            raise ValueError(f"{path}: expected an object with a 'files' list")
        for entry in files:
            if not isinstance(entry, dict):
                continue
            file_id = entry.get("File-id")
            if not isinstance(file_id, str) or file_id in questions:
                continue
            if wanted is not None and file_id not in wanted:
                continue
            text = _question_text(entry.get("Question"))
            if text is not None:
                questions[file_id] = text
    return questions


def _kit_file(root: str, folder: str, split: str, target: str) -> str:
    return os.path.join(root, folder, f"{split}-sla-{target}.tsv")


def load_speak_improve(root: str | os.PathLike, split: str, *, on_missing: str = "error") -> datasets.Dataset:
    """Load one split (``"dev"``, ``"train"``, ``"eval"``...) of the S&I 2025 kit, one row per submission.

    Columns: ``session_id``; ``responses``, a list of ``{"response_id", "part", "audio", "question"}``
    (``audio`` the absolute FLAC path, ``question`` the text from the annotation JSON files or None),
    ordered by part then question ID; and float marks ``P1``, ``P3``, ``P4``, ``P5``, ``overall`` (None
    where the kit has none).

    on_missing: what to do with listed audio files that do not exist. ``"error"`` raises one
    FileNotFoundError with their count and the first few paths; ``"skip"`` drops those responses (and
    sessions left with none) and warns with the counts.
    """
    if on_missing not in ("error", "skip"):
        raise ValueError(f"on_missing must be 'error' or 'skip', got {on_missing!r}")
    if not isinstance(split, str) or not split or os.sep in split or "/" in split:
        raise ValueError(f"invalid split name {split!r}")
    root = os.path.abspath(os.fspath(root))

    list_dir = os.path.join(root, LIST_DIR)
    if not os.path.isdir(list_dir):
        raise FileNotFoundError(f"file-list directory not found: {list_dir}")

    # file_id -> (submission, question ID, part, absolute audio path)
    files: dict[str, tuple[str, str, str, str]] = {}
    for part in PARTS:
        path = _kit_file(root, LIST_DIR, split, part)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"file list for split {split!r}, part {part} not found: {path}")
        for file_id, audio in read_file_list(path, part):
            if file_id in files:  # cannot happen with the part check, kept for safety
                raise ValueError(f"{path}: file ID {file_id!r} is listed in more than one part list")
            submission, question, _ = parse_file_id(file_id)
            files[file_id] = (submission, question, part, os.path.normpath(os.path.join(root, audio)))

    overall_path = _kit_file(root, LIST_DIR, split, "overall")
    if os.path.isfile(overall_path):
        for number, (file_id, audio) in enumerate(read_file_list(overall_path), start=1):
            audio = os.path.normpath(os.path.join(root, audio))
            known = files.get(file_id)
            if known is None:
                submission, question, part = parse_file_id(file_id)
                files[file_id] = (submission, question, part, audio)
            elif known[3] != audio:
                # enumerate counts entries; blank lines are only allowed at the end, so it equals the line.
                raise _line_error(
                    overall_path, number, f"path of {file_id!r} differs from the {known[2]} list ({known[3]})"
                )

    marks: dict[str, dict[str, float]] = {}
    for target in TARGETS:
        path = _kit_file(root, MARK_DIR, split, target)
        marks[target] = read_marks(path) if os.path.isfile(path) else {}

    questions = read_questions(sorted(glob.glob(os.path.join(root, ANNOTATION_DIR, "*.json"))), set(files))

    # Audio existence.
    missing = [file_id for file_id, entry in files.items() if not os.path.exists(entry[3])]
    if missing:
        if on_missing == "error":
            shown = [files[file_id][3] for file_id in missing[:_MAX_LISTED_MISSING]]
            raise FileNotFoundError(
                f"{len(missing)} audio file(s) named in the {split!r} lists under {root} do not exist "
                f"(pass on_missing='skip' to drop them); first {len(shown)}: " + ", ".join(shown)
            )
        listed_sessions = {entry[0] for entry in files.values()}
        for file_id in missing:
            del files[file_id]
        kept_sessions = {entry[0] for entry in files.values()}
        dropped = listed_sessions - kept_sessions
        for target in TARGETS:
            for submission in dropped:
                marks[target].pop(submission, None)
        warnings.warn(
            f"load_speak_improve({split!r}): skipped {len(missing)} missing audio file(s); "
            f"dropped {len(dropped)} session(s) left without responses",
            stacklevel=2,
        )

    by_session: dict[str, list[tuple[str, str, str, str]]] = {}
    for file_id, (submission, question, part, audio) in files.items():
        by_session.setdefault(submission, []).append((part, question, file_id, audio))
    sessions = set(by_session)
    for target in TARGETS:
        sessions.update(marks[target])
    unlisted = sessions - set(by_session)
    if unlisted:
        warnings.warn(
            f"load_speak_improve({split!r}): {len(unlisted)} submission(s) have marks but no listed audio "
            f"(kept with empty responses), e.g. {sorted(unlisted)[0]}",
            stacklevel=2,
        )

    rows = []
    for session in sorted(sessions):
        responses = [
            {"response_id": file_id, "part": part, "audio": audio, "question": questions.get(file_id)}
            for part, _, file_id, audio in sorted(by_session.get(session, ()))
        ]
        row = {"session_id": session, "responses": responses}
        for target in TARGETS:
            row[target] = marks[target].get(session)
        rows.append(row)
    if not rows:  # from_list cannot infer the columns of an empty list
        return datasets.Dataset.from_dict({name: [] for name in FEATURES}, features=FEATURES)
    return datasets.Dataset.from_list(rows, features=FEATURES)
