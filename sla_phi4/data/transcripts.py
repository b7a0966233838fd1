"""Reader of a kit's reference transcripts: what each response says, word by word.

The S&I kit keeps them as annotation files (the synthetic corpus writes the same format)::

    <root>/reference-materials/annotations/{split}-*-trans-ref.json
    {"ref-type": "transcription", "files": [{"File-id": "SI114J-00045-P10005",
                                             "Transcript": [{"word": "AS"}, {"tag": "speech-unit-statement"}, ...]}]}

Only the words are kept (tags dropped), lower-cased and joined by spaces. The real kit has them for a dev subset.
"""

from __future__ import annotations

import glob
import json
import os


class TranscriptError(ValueError):
    """Transcripts that are missing or malformed; the message names the file or the response."""


def transcript_files(root: str | os.PathLike, split: str) -> list[str]:
    return sorted(glob.glob(os.path.join(str(root), "reference-materials", "annotations", f"{split}-*-trans-ref.json")))


def read_transcripts(root: str | os.PathLike, split: str) -> dict[str, str]:
    """`{file ID: its words}` of every transcript file of `split`; an error names the file without any."""
    paths = transcript_files(root, split)
    if not paths:
        raise TranscriptError(f"{root}: no reference transcripts for split {split!r} "
                              f"(reference-materials/annotations/{split}-*-trans-ref.json).")
    words = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8-sig") as handle:
                document = json.load(handle)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise TranscriptError(f"{path}: not readable as UTF-8 JSON ({error}).") from error
        if not isinstance(document, dict) or not isinstance(document.get("files"), list):
            raise TranscriptError(f"{path}: not a kit transcript file (a JSON object with a 'files' list).")
        for number, entry in enumerate(document["files"], start=1):
            if not isinstance(entry, dict) or "File-id" not in entry or not isinstance(entry.get("Transcript"), list):
                raise TranscriptError(f"{path}: entry {number} has no 'File-id' and 'Transcript' list.")
            words[entry["File-id"]] = " ".join(
                str(item["word"]).lower() for item in entry["Transcript"] if isinstance(item, dict) and "word" in item)
    return words


def session_transcript(row: dict, transcripts: dict[str, str]) -> str:
    """The words of a session's responses in order; an error names the session and the response without one."""
    missing = [response["response_id"] for response in row["responses"] if response["response_id"] not in transcripts]
    if missing:
        raise TranscriptError(f"Session {row['session_id']}: no reference transcript for response(s) "
                              f"{', '.join(missing)}.")
    return " ".join(transcripts[response["response_id"]] for response in row["responses"]).strip()


__all__ = ["TranscriptError", "read_transcripts", "session_transcript", "transcript_files"]
