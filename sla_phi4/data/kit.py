"""Loader of a kit-layout corpus of any test format; the Speak & Improve Corpus 2025 kit (release 20241217) is the
layout's model and the `sandi2025` format its instance (`sla_phi4.data.speak_improve`).

The kit keeps one list of audio files and one file of marks per target; the format names them (S&I's)::

    <root>/reference-materials/flists.flac/{split}-sla-{P1,P3,P4,P5,overall}.tsv   fileID<TAB>path
    <root>/reference-materials/sla-marks/{split}-sla-{P1,P3,P4,P5,overall}.tsv     submissionID<TAB>score
    <root>/reference-materials/annotations/*.json                                 optional, question texts
    <root>/data/flac/...                                                          16 kHz mono FLAC
    <root>/test_format.json                                                       optional: the corpus's format

Paths in the lists are relative to ``root`` (absolute paths are kept as they are). A file ID is
``<submissionID>-<questionID>`` (``SI114J-00011-P10003``) and the question ID starts with its part's question
prefix (S&I: the part, ``P1``).

:func:`load_kit` turns one split into a :class:`datasets.Dataset` with one row per submission (session). Audio
stays a path string: datasets' ``Audio`` feature decodes through torchcodec, which needs system FFmpeg libraries;
read the files with soundfile instead.

Rules (checked against the real S&I kit lists: dev 438 submissions, train 6,642 of which 1,247 have all four
part marks and 1,742 an overall mark):

- The responses of a session are the files of the part lists. The ``overall`` list is optional: in the
  real kit every file it names is also in a part list (dev: the same 5,616 files; train: 18,021 of 39,490
  files, those of the 1,742 submissions with an overall mark). Its entries are checked against the part
  lists (same path); a file found only there is still added, its part taken from its file ID.
- The sessions are every submission named in any list or mark file of the split. A submission with marks
  but no listed file is kept with an empty ``responses`` list, and a warning says how many there are.
- A missing mark file (e.g. an evaluation split without marks) gives ``None`` marks; a missing list
  directory or part list is an error. A mark outside the format's mark range, or a session with more answers
  to a part than the format allows, is an error naming the file or the session.
- Responses are ordered by the format's parts, then question ID; sessions by submission ID.
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

from modeling_sla.test_format_sla import FORMAT_FILE, TestFormat, load_test_format


__all__ = [
    "corpus_test_format",
    "kit_features",
    "parse_file_id",
    "read_file_list",
    "read_marks",
    "read_questions",
    "read_kit_text",
    "load_kit",
]

_MAX_LISTED_MISSING = 5
_ID_RE = re.compile(r"^[^\s]+$")


def kit_features(test_format: TestFormat) -> datasets.Features:
    """The columns of a loaded split: the session, its responses and one float mark per target of the format."""
    mark = datasets.Value("float64")
    return datasets.Features(
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
            **{target: mark for target in test_format.score_names},
        }
    )


def parse_file_id(file_id: str, test_format: TestFormat) -> tuple[str, str, str]:
    """Split ``SI114J-00011-P10003`` into ``("SI114J-00011", "P10003", "P1")``.

    Raises ValueError when there is no submission part, or the question ID does not start with the question
    prefix of a part of the format (S&I: P1, P3, P4, P5).
    """
    submission, sep, question = file_id.rpartition("-")
    if not sep or not submission or not _ID_RE.match(submission):
        raise ValueError(f"cannot parse the submission ID of file ID {file_id!r}")
    part = test_format.part_of_question(question)
    if part is None:
        raise ValueError(
            f"cannot parse the part of file ID {file_id!r}: the question ID {question!r} "
            f"must start with one of {', '.join(part.question_prefix for part in test_format.parts)}"
        )
    return submission, question, part


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


def read_file_list(path: str | os.PathLike, test_format: TestFormat, part: str | None = None) -> list[tuple[str, str]]:
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
            _, _, file_part = parse_file_id(file_id, test_format)
        except ValueError as error:
            raise _line_error(path, number, str(error)) from None
        if part is not None and file_part != part:
            raise _line_error(path, number, f"file ID {file_id!r} is of part {file_part}, but this is the {part} list")
        if file_id in seen:
            raise _line_error(path, number, f"duplicate file ID {file_id!r} (first on line {seen[file_id]})")
        seen[file_id] = number
        entries.append((file_id, audio))
    return entries


def read_marks(path: str | os.PathLike, mark_range: tuple[float, float], what: str = "the mark range"
               ) -> dict[str, float]:
    """Read a kit mark file (``submissionID<TAB>score``) into ``{submission_id: score}``.

    Scores must be finite numbers in ``mark_range`` (``what`` names it in errors). Malformed lines raise
    ValueError naming the file and the 1-based line number.
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
        if not mark_range[0] <= score <= mark_range[1]:
            raise _line_error(path, number, f"score {text} is outside {mark_range[0]:g}-{mark_range[1]:g} ({what})")
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


def _test_identity(test_format: TestFormat) -> dict:
    """A format without the parts' `expected_seconds` (they say how long answers should be, not which test it is: a
    corpus written before they existed is still of its test)."""
    value = test_format.to_dict()
    value["parts"] = [{key: item for key, item in part.items() if key != "expected_seconds"} for part in value["parts"]]
    return value


def corpus_test_format(root: str | os.PathLike, test_format=None) -> TestFormat:
    """The format of the corpus at ``root``: ``test_format`` (a name, file, dict or TestFormat) when given, else the
    corpus's own ``test_format.json``, else ``sandi2025`` (the real S&I kit carries none). A corpus whose own file
    names another format than the one given is refused: its files would be read as another test's."""
    own_path = os.path.join(os.fspath(root), FORMAT_FILE)
    own = TestFormat.from_file(own_path) if os.path.isfile(own_path) else None
    if test_format is None:
        return own or load_test_format("sandi2025")
    wanted = load_test_format(test_format)
    if own is not None and _test_identity(own) != _test_identity(wanted):
        raise ValueError(f"{own_path} is the {own.name} format, not {wanted.name}: this corpus is of another test.")
    return wanted


def _refuse_case_mismatches(unlisted: set[str], listed: set[str], mark_files: dict[str, str],
                            marks: dict[str, dict[str, float]]) -> None:
    """Raises for a marked submission without audio whose ID matches a listed one when case is ignored."""
    by_folded = {session.casefold(): session for session in listed}
    for session in sorted(unlisted):
        audio_id = by_folded.get(session.casefold())
        if audio_id is None:
            continue
        target = next(target for target in mark_files if session in marks[target])
        raise ValueError(f"{mark_files[target]}: submission ID {session!r} has no audio, but the lists have "
                         f"{audio_id!r}: IDs are case-sensitive; write the same ID in both.")


def load_kit(root: str | os.PathLike, split: str, test_format=None, *, on_missing: str = "error") -> datasets.Dataset:
    """Load one split (``"dev"``, ``"train"``, ``"eval"``...) of a kit-layout corpus, one row per submission.

    Columns: ``session_id``; ``responses``, a list of ``{"response_id", "part", "audio", "question"}``
    (``audio`` the absolute FLAC path, ``question`` the text from the annotation JSON files or None),
    ordered by the format's parts then question ID; and one float mark per target of the format (S&I: ``P1``,
    ``P3``, ``P4``, ``P5``, ``overall``; None where the kit has none).

    test_format: see :func:`corpus_test_format` (default: the corpus's own, else ``sandi2025``).
    on_missing: what to do with listed audio files that do not exist. ``"error"`` raises one
    FileNotFoundError with their count and the first few paths; ``"skip"`` drops those responses (and
    sessions left with none) and warns with the counts; ``"keep"`` keeps them (the caller checks each file and
    says which are missing, as ``sla score`` does).

    A submission ID of a mark file that has no listed audio but matches a listed session when case is ignored is an
    error naming the file: IDs are case-sensitive, and its mark would silently match nothing.
    """
    if on_missing not in ("error", "skip", "keep"):
        raise ValueError(f"on_missing must be 'error', 'skip' or 'keep', got {on_missing!r}")
    if not isinstance(split, str) or not split or os.sep in split or "/" in split:
        raise ValueError(f"invalid split name {split!r}")
    root = os.path.abspath(os.fspath(root))
    test_format = corpus_test_format(root, test_format)
    targets = test_format.score_names

    def kit_file(kind: str, target: str) -> str:
        return os.path.join(root, test_format.kit_file(kind, split, target))

    list_dir = os.path.dirname(kit_file("file_lists", test_format.part_ids[0]))
    if not os.path.isdir(list_dir):
        raise FileNotFoundError(f"file-list directory not found: {list_dir}")

    # file_id -> (submission, question ID, part, absolute audio path)
    files: dict[str, tuple[str, str, str, str]] = {}
    for part in test_format.part_ids:
        path = kit_file("file_lists", part)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"file list for split {split!r}, part {part} not found: {path}")
        for file_id, audio in read_file_list(path, test_format, part):
            if file_id in files:  # cannot happen with the part check, kept for safety
                raise ValueError(f"{path}: file ID {file_id!r} is listed in more than one part list")
            submission, question, _ = parse_file_id(file_id, test_format)
            files[file_id] = (submission, question, part, os.path.normpath(os.path.join(root, audio)))

    overall_path = kit_file("file_lists", "overall")
    if test_format.overall is not None and os.path.isfile(overall_path):
        for number, (file_id, audio) in enumerate(read_file_list(overall_path, test_format), start=1):
            audio = os.path.normpath(os.path.join(root, audio))
            known = files.get(file_id)
            if known is None:
                submission, question, part = parse_file_id(file_id, test_format)
                files[file_id] = (submission, question, part, audio)
            elif known[3] != audio:
                # enumerate counts entries; blank lines are only allowed at the end, so it equals the line.
                raise _line_error(
                    overall_path, number, f"path of {file_id!r} differs from the {known[2]} list ({known[3]})"
                )

    marks: dict[str, dict[str, float]] = {}
    for target in targets:
        path = kit_file("marks", target)
        what = f"the {test_format.name} format's mark range for {target}"
        marks[target] = read_marks(path, test_format.mark_range(target), what) if os.path.isfile(path) else {}

    annotations = os.path.join(root, test_format.kit.annotations, "*.json")
    questions = read_questions(sorted(glob.glob(annotations)), set(files))

    # Audio existence.
    missing = [file_id for file_id, entry in files.items() if not os.path.exists(entry[3])]
    if missing and on_missing != "keep":
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
        for target in targets:
            for submission in dropped:
                marks[target].pop(submission, None)
        warnings.warn(
            f"load_kit({split!r}): skipped {len(missing)} missing audio file(s); "
            f"dropped {len(dropped)} session(s) left without responses",
            stacklevel=2,
        )

    by_session: dict[str, list[tuple[str, str, str, str]]] = {}
    for file_id, (submission, question, part, audio) in files.items():
        by_session.setdefault(submission, []).append((part, question, file_id, audio))
    sessions = set(by_session)
    for target in targets:
        sessions.update(marks[target])
    unlisted = sessions - set(by_session)
    _refuse_case_mismatches(unlisted, set(by_session), {target: kit_file("marks", target) for target in targets}, marks)
    if unlisted:
        warnings.warn(
            f"load_kit({split!r}): {len(unlisted)} submission(s) have marks but no listed audio "
            f"(kept with empty responses), e.g. {sorted(unlisted)[0]}",
            stacklevel=2,
        )

    order = test_format.part_ids
    rows = []
    for session in sorted(sessions):
        listed = sorted(by_session.get(session, ()), key=lambda entry: (order.index(entry[0]), *entry[1:]))
        try:
            test_format.check_responses(session, [part for part, *_ in listed])
        except ValueError as error:
            raise ValueError(f"{root}, split {split!r}: {error}") from None
        responses = [
            {"response_id": file_id, "part": part, "audio": audio, "question": questions.get(file_id)}
            for part, _, file_id, audio in listed
        ]
        row = {"session_id": session, "responses": responses}
        for target in targets:
            row[target] = marks[target].get(session)
        rows.append(row)
    features = kit_features(test_format)
    if not rows:  # from_list cannot infer the columns of an empty list
        return datasets.Dataset.from_dict({name: [] for name in features}, features=features)
    return datasets.Dataset.from_list(rows, features=features)
