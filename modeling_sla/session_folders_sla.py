"""Sessions from folders of recordings, in the two layouts people have (the pipeline's folder input, and
`sla score --audio_dir`):

    DIR/SPEAKER-00011-P10003.flac     a file named by response ID: <submissionID>-<questionID>, the kit's names
    DIR/learner-7/P1_01.mp3           one sub-folder per learner (the session ID), files named by part:
    DIR/learner-7/P3.ogg              <part> or <part>_<anything> (P1_01, P1_02, P3, P5-a...)

Audio files are .flac, .wav, .mp3 and .ogg, at any rate and with any number of channels. What is not read is counted
by kind (other files, deeper folders, answers to parts the test does not score, such as S&I's P2); a learner's
file named as an answer in another format (P3.m4a) is kept as that answer, and reading it fails with its name. Two sessions
with the same ID (a sub-folder and a file's submission ID, or names that differ only in case) or two files for the
same answer (P3.ogg and P3.wav) are an error naming both.

This file is copied flat into saved checkpoints beside the pipeline: it imports installed libraries and its own
package's files only.
"""

import os
import re
from dataclasses import dataclass, field

from .test_format_sla import TestFormat


AUDIO_EXTENSIONS = (".flac", ".wav", ".mp3", ".ogg")
_PART_SEPARATORS = ("_", "-")


@dataclass
class FolderSessions:
    """The sessions read from a folder, and what was not read, by kind (`{kind: [names]}`)."""

    sessions: list[dict]
    skipped: dict[str, list[str]] = field(default_factory=dict)

    def skipped_summary(self) -> str:
        """One line naming what was skipped (up to five names a kind)."""
        return "; ".join(f"{len(names)} {kind} ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})"
                         for kind, names in self.skipped.items())


def is_audio_file(name: str) -> bool:
    return name.lower().endswith(AUDIO_EXTENSIONS)


def parse_response_file(filename: str, test_format: TestFormat) -> tuple[str, str, str | None]:
    """`SI114J-00011-P10003.flac` -> `("SI114J-00011", "P10003", "P1")`: submission ID, question ID and part (the
    format's part whose question prefix starts the question ID; None for a part the test does not score, such as
    S&I's P2)."""
    stem = os.path.splitext(os.path.basename(filename))[0]
    submission, separator, question = stem.rpartition("-")
    part = test_format.part_of_question(question)
    if not separator or not submission or (part is None and not test_format.is_unscored_question(question)):
        prefixes = ", ".join(part.question_prefix for part in test_format.parts)
        raise ValueError(
            f"Cannot read the response ID of {filename!r}: expected <submissionID>-<questionID> and one of "
            f"{', '.join(AUDIO_EXTENSIONS)}, with a question ID starting with a part of the {test_format.name} "
            f"format ({prefixes}), e.g. SPEAKER-00011-{test_format.parts[0].question_prefix}0003.flac; or one "
            f"sub-folder per learner holding files named by part (P1_01.mp3, P3.ogg)."
        )
    return submission, question, part


def part_of_file_name(path: str, test_format: TestFormat) -> str | None:
    """The part a learner folder's file answers: its name is the part's ID, alone or followed by `_` or `-` and
    anything (`P1_01.mp3`, `P3.ogg`); the longest matching ID wins. None for a part the test does not score;
    any other name is an error naming the file."""
    stem = os.path.splitext(os.path.basename(path))[0]
    matches = [part.id for part in test_format.parts
               if stem == part.id or stem.startswith(tuple(part.id + sep for sep in _PART_SEPARATORS))]
    if matches:
        return max(matches, key=len)
    if test_format.is_unscored_question(stem):
        return None
    raise ValueError(
        f"Cannot tell the part of {path}: in a learner's folder, name each file by its part "
        f"({', '.join(test_format.part_ids)}), alone or followed by _ and a number, e.g. "
        f"{test_format.parts[0].id}_01.mp3 or {test_format.parts[-1].id}.ogg."
    )


def _names_a_part(name: str, test_format: TestFormat) -> bool:
    """Whether a learner folder's file is named as an answer (`P3.m4a`): kept as a response even in a format this
    package cannot read, so that its session is refused as unreadable rather than scored as if it were unanswered."""
    try:
        return part_of_file_name(name, test_format) is not None
    except ValueError:
        return False


def _natural_key(text: str) -> list:
    """`P1_2` before `P1_10`."""
    return [int(piece) if piece.isdigit() else piece for piece in re.split(r"(\d+)", text)]


def _ordered(responses: list[dict], test_format: TestFormat) -> list[dict]:
    order = test_format.part_ids
    return sorted(responses, key=lambda response: (order.index(response["part"]), _natural_key(response["name"])))


def _refuse_same_id(seen: dict[str, str], session_id: str, source: str) -> None:
    """Raises when `session_id` (compared without case) was read already from another source."""
    key = session_id.casefold()
    if key in seen:
        raise ValueError(f"Two sessions with the ID {session_id!r} (IDs are compared without case): {seen[key]} and "
                         f"{source}. Rename one of them.")
    seen[key] = source


def _learner_responses(folder: str, session_id: str, test_format: TestFormat, skipped: dict) -> list[dict]:
    responses, answers = [], {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            skipped.setdefault("folder(s) inside a learner's folder", []).append(f"{session_id}/{name}/")
            continue
        if not is_audio_file(name) and not _names_a_part(name, test_format):
            skipped.setdefault(f"file(s) that are not {', '.join(AUDIO_EXTENSIONS)}", []).append(f"{session_id}/{name}")
            continue
        part = part_of_file_name(path, test_format)  # a part's answer in another format (P3.m4a) stays a response
        if part is None:
            skipped.setdefault("response(s) of parts that are not scored", []).append(f"{session_id}/{name}")
            continue
        stem = os.path.splitext(name)[0]
        if stem.casefold() in answers:
            raise ValueError(f"Two files for the same answer of session {session_id}: {answers[stem.casefold()]} and "
                             f"{path}. Keep one.")
        answers[stem.casefold()] = path
        responses.append({"response_id": f"{session_id}-{stem}", "part": part, "audio": path, "question": None,
                          "name": stem})
    return responses


def read_session_folder(folder: str | os.PathLike, test_format: TestFormat) -> FolderSessions:
    """Sessions from `folder` (see the module's layouts), sorted by session ID; responses ordered by the format's
    parts, then by name (numbers in order); questions unknown (None)."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"Not a folder: {folder}. Give a folder of response audio named <submissionID>-<questionID>"
                         f".flac, or of one sub-folder per learner; pass single responses inside a session dict.")
    sessions: dict[str, list[dict]] = {}
    skipped: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            _refuse_same_id(seen, name, f"the folder {path}")
            sessions[name] = _learner_responses(path, name, test_format, skipped)
            if not sessions[name]:
                skipped.setdefault("learner folder(s) without audio", []).append(name + "/")
                del sessions[name]
            continue
        if not is_audio_file(name):
            skipped.setdefault(f"file(s) that are not {', '.join(AUDIO_EXTENSIONS)}", []).append(name)
            continue
        submission, question, part = parse_response_file(name, test_format)
        if part is None:
            skipped.setdefault("response(s) of parts that are not scored", []).append(name)
            continue
        if submission not in sessions:
            _refuse_same_id(seen, submission, f"the file {path}")
        sessions.setdefault(submission, []).append({"response_id": f"{submission}-{question}", "part": part,
                                                    "audio": path, "question": None, "name": question})
    if not sessions:
        raise ValueError(
            f"No response audio in {folder}: expected files named <submissionID>-<questionID>.flac (or .wav, .mp3, "
            f".ogg), e.g. SPEAKER-00011-{test_format.parts[0].question_prefix}0003.flac, or one sub-folder per "
            f"learner holding files named by part ({test_format.parts[0].id}_01.mp3)."
        )
    rows = [{"session_id": session_id,
             "responses": [{key: value for key, value in response.items() if key != "name"}
                           for response in _ordered(responses, test_format)]}
            for session_id, responses in sorted(sessions.items())]
    return FolderSessions(rows, skipped)


__all__ = ["AUDIO_EXTENSIONS", "FolderSessions", "is_audio_file", "parse_response_file", "part_of_file_name",
           "read_session_folder"]
