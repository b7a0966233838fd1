"""What a cohort's files hold before anything is scored: each response's file checked (it exists, a decoder opens
it, it declares some audio) and fingerprinted (path, size, mtime and a SHA-256 of its bytes), so that a session
that cannot be read is refused by name instead of stopping the run, and a rerun knows which sessions changed.

A session is refused when one of its responses is `missing` (no file), `unreadable` (no decoder opens it) or
`empty` (no audio); with `on_missing="skip"`, a missing response is left out instead and its session scored from
the rest (the warning says `missing`, and so does the part it leaves without an answer). Decoding finds more
(`non_finite`, a too short `empty`, `invalid`): those sessions are refused while they are scored
(`predictions.score_sessions`).
"""

import hashlib
import json
import os
from dataclasses import dataclass, field

import soundfile

from processing_sla.audio_io_sla import LOAD_FAILURES


HASH_BLOCK = 1 << 20
# Why a session is refused: its audio cannot be loaded, or the session itself is malformed (the processor's checks).
REFUSAL_REASONS = (*LOAD_FAILURES, "invalid_session")


@dataclass
class Intake:
    """A cohort's rows as they will be scored, with what the files hold.

    Args:
        rows: the sessions to score (with `on_missing="skip"`, without their missing responses).
        refused: per refused session, the warnings naming each response that cannot be read.
        dropped: per session, the warnings of the missing responses left out (`on_missing="skip"`).
        inputs: per session, `{"digest", "responses": [{"response_id", "path", "size", "mtime", "sha256"}]}`;
            the digest covers each response's ID, part, question and bytes (not its path or mtime).
        seconds: per session to score, its audio seconds from the files' headers.
    """

    rows: list[dict]
    refused: dict[str, list[dict]] = field(default_factory=dict)
    dropped: dict[str, list[dict]] = field(default_factory=dict)
    inputs: dict[str, dict] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def file_sha256(path: str) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(HASH_BLOCK), b""):
            hasher.update(block)
    return hasher.hexdigest()


def response_problem(path: str) -> tuple[str, str, float] | tuple[None, None, float]:
    """`(reason, detail, seconds)` of a response file: reason None when it opens and declares audio."""
    if not os.path.isfile(path):
        return "missing", f"no file at {path}", 0.0
    try:
        info = soundfile.info(path)
    except Exception as error:  # soundfile raises LibsndfileError, RuntimeError or TypeError by format
        return "unreadable", f"no audio decoder opens {path}: {error}", 0.0
    if info.frames <= 0 or info.samplerate <= 0:
        return "empty", f"{path} holds no audio", 0.0
    return None, None, info.frames / info.samplerate


def response_warning(session_id: str, response: dict, reason: str, detail: str) -> dict:
    """A warning naming the session's response, its file and why it cannot be used."""
    return {"response_id": response.get("response_id"), "part": response["part"], "reason": reason,
            "detail": f"session {session_id}, response {response.get('response_id')}: {detail}",
            "file": response["audio"] if isinstance(response["audio"], str) else None}


def session_inputs(row: dict) -> dict:
    """The fingerprint of a session's responses (see `Intake.inputs`)."""
    responses, identity = [], []
    for response in row["responses"]:
        path = response["audio"]
        entry = {"response_id": response.get("response_id"), "path": path, "size": None, "mtime": None,
                 "sha256": None}
        if os.path.isfile(path):
            stat = os.stat(path)
            entry.update(size=stat.st_size, mtime=stat.st_mtime, sha256=file_sha256(path))
        responses.append(entry)
        identity.append([response.get("response_id"), response["part"], response.get("question"), entry["sha256"]])
    digest = hashlib.sha256(json.dumps(identity, allow_nan=False).encode()).hexdigest()[:32]
    return {"digest": digest, "responses": responses}


class RefusedSessionError(ValueError):
    """Raised under `strict` for the first session that would be refused; the message names the session, the
    response, its file and the reason."""


def take_in(rows: list[dict], on_missing: str = "refuse", strict: bool = False) -> Intake:
    """Checks and fingerprints every response of `rows` (file paths). `on_missing`: `refuse` the session of a
    missing file, or `skip` the response (`error` is the kit loader's, before this). `strict`: raise
    RefusedSessionError at the first session that would be refused or lose a response."""
    intake = Intake([])
    for row in rows:
        session_id = row["session_id"]
        intake.inputs[session_id] = session_inputs(row)
        kept, problems, seconds = [], [], 0.0
        for response in row["responses"]:
            reason, detail, length = response_problem(response["audio"])
            if reason is None:
                kept.append(response)
                seconds += length
                continue
            problems.append(response_warning(session_id, response, reason, detail))
            if strict:
                raise RefusedSessionError(f"{problems[-1]['detail']} ({reason}; --strict stops at the first).")
        skippable = on_missing == "skip" and all(problem["reason"] == "missing" for problem in problems) and kept
        if problems and not skippable:
            intake.refused[session_id] = problems
            continue
        if problems:
            intake.dropped[session_id] = problems
        intake.rows.append({**row, "responses": kept})
        intake.seconds[session_id] = seconds
    return intake


__all__ = ["Intake", "REFUSAL_REASONS", "RefusedSessionError", "file_sha256", "response_problem", "session_inputs",
           "take_in"]
