"""The tiny demo model: a tiny checkpoint of a test format saved with its pipeline, built once per machine into the
cache (`$SLA_CACHE_DIR`, else ~/.cache/sla-phi4) and reused, so that `sla demo-space --model tiny` serves a model
offline in seconds. Its weights are random: its scores mean nothing."""

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from modeling_sla import SLAForSessionScoring, load_test_format
from modeling_sla.pipeline_sla import save_pretrained_with_pipeline
from processing_sla import SLAProcessor
from sla_phi4.conversion.ct2_whisper import cache_dir
from sla_phi4.resources import package_file
from sla_phi4.testing.tiny_checkpoint import build_tiny_checkpoint


TINY = "tiny"


def code_digest() -> str:
    """A digest of the model and processor code: a cached model built by other code is never reused."""
    digest = hashlib.sha256()
    for package in ("modeling_sla", "processing_sla"):
        for path in sorted(package_file(package).glob("*.py")):
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def demo_model_folder(test_format="sandi2025", root: Path | None = None) -> Path:
    """Where the tiny demo model of `test_format` is (or will be) cached."""
    resolved = load_test_format(test_format)
    key = hashlib.sha256(json.dumps(resolved.to_dict(), sort_keys=True, allow_nan=False).encode()).hexdigest()[:8]
    return (root or cache_dir()) / "demo-model" / f"tiny-{resolved.name}-{key}-code-{code_digest()}"


def demo_model(test_format="sandi2025", root: Path | None = None) -> Path:
    """The folder of the tiny demo model of `test_format` (a built-in name or a JSON file), with its pipeline:
    built on first use (a few seconds), then reused."""
    folder = demo_model_folder(test_format, root)
    if (folder / "config.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as work:
        build = build_tiny_checkpoint(str(Path(work) / "build"), test_format=load_test_format(test_format).to_dict())
        staged = Path(work) / "model"
        save_pretrained_with_pipeline(SLAForSessionScoring.from_pretrained(build), SLAProcessor.from_pretrained(build),
                                      staged)
        if not (folder / "config.json").is_file():  # another process may have finished first
            shutil.rmtree(folder, ignore_errors=True)
            staged.rename(folder)
    return folder
