"""Loader rows as the commands use them: the sessions of a split that have audio, and their lengths."""

import numpy as np
import soundfile

from sla_phi4.data.kit import load_kit


SAMPLE_RATE = 16_000


def scorable_rows(corpus_root: str, split: str, on_missing: str, test_format=None) -> list[dict]:
    """Loader rows with audio; sessions without any response are counted and reported, never dropped silently.
    `test_format`: the corpus's format (default: its own `test_format.json`, else `sandi2025`)."""
    rows = load_kit(corpus_root, split, test_format, on_missing=on_missing)
    kept = [row for row in rows if row["responses"]]
    if len(kept) < len(rows):
        print(f"{split}: left out {len(rows) - len(kept)} sessions with no audio responses.", flush=True)
    return kept


def session_seconds(row: dict) -> float:
    """Total audio seconds of a session from file headers (no decoding), for length-grouped batching."""
    total = 0.0
    for response in row["responses"]:
        audio = response["audio"]
        if isinstance(audio, str):
            info = soundfile.info(audio)
            total += info.frames / info.samplerate
        else:
            total += len(np.asarray(audio.get("array") if isinstance(audio, dict) else audio)) / SAMPLE_RATE
    return total
