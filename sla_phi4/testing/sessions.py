"""Deterministic sessions of noise clips, for tests and benchmarks (no speech synthesis needed)."""

import json
from pathlib import Path

import numpy as np
import soundfile


def noise_clip(seconds: float, seed: int, sampling_rate: int = 16_000) -> np.ndarray:
    """A deterministic clip of amplitude-modulated noise (speech-like energy envelope)."""
    rng = np.random.default_rng(seed)
    samples = int(seconds * sampling_rate)
    envelope = 0.5 + 0.5 * np.sin(np.linspace(0, 6 * np.pi * seconds, samples))
    return (0.1 * envelope * rng.standard_normal(samples)).astype(np.float32)


def make_session(session_id: str, parts: list[tuple[str, float]], seed: int = 0) -> dict:
    """A session whose responses are noise clips of the given (part, seconds)."""
    return {
        "session_id": session_id,
        "responses": [
            {"response_id": f"{session_id}-{part}{index}", "part": part, "audio": noise_clip(seconds, seed + index),
             "question": f"Question {index} of {part}?" if part in ("P1", "P5") else None}
            for index, (part, seconds) in enumerate(parts)
        ],
    }


def write_file_session(folder: Path) -> Path:
    """A two-response session whose audio is FLAC files in `folder`, written as `folder/session.json`."""
    paths = []
    for index, seconds in enumerate((1.2, 2.0)):
        paths.append(str(folder / f"r{index}.flac"))
        soundfile.write(paths[-1], noise_clip(seconds, index), 16_000)
    session = {"session_id": "s", "responses": [
        {"response_id": "s-P10003", "part": "P1", "audio": paths[0], "question": "Where are you from?"},
        {"response_id": "s-P30017", "part": "P3", "audio": paths[1], "question": None},
    ]}
    (folder / "session.json").write_text(json.dumps(session, allow_nan=False))
    return folder / "session.json"
