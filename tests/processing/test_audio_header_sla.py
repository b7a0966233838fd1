"""Broken audio is not scored as if whole (issue 24, failure 4): a file holding less than its header declares is
flagged `truncated`, an answer far longer than its part's expected length `too_long`, by the processor (so by the
pipeline, `sla score` and the Space alike); and what `AudioInputError` says why audio cannot be used."""

import numpy as np
import pytest
import soundfile

from processing_sla.assessability_sla import AssessabilityThresholds, length_reasons
from processing_sla.audio_header_sla import declared_seconds
from processing_sla.audio_io_sla import AudioInputError, load_audio
from sla_phi4.data.espeak_tts import synthesize


RATE = 16_000


def cut(path, share):
    data = open(path, "rb").read()
    with open(path, "wb") as handle:
        handle.write(data[: int(len(data) * share)])


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return synthesize("I would like to talk about the town where I grew up, near the sea, and its old harbour.")


def test_declared_length_of_whole_and_truncated_files(tmp_path):
    audio = np.sin(np.arange(5 * RATE) / 10).astype(np.float32) * 0.3
    wav, mp3 = tmp_path / "a.wav", tmp_path / "a.mp3"
    soundfile.write(wav, audio, RATE)
    soundfile.write(mp3, audio, RATE, format="MP3", subtype="MPEG_LAYER_III")
    assert declared_seconds(wav) == pytest.approx(5.0) and declared_seconds(mp3) == pytest.approx(5.0)
    cut(wav, 1 / 3)
    cut(mp3, 1 / 3)
    # libsndfile reads the frames present; the header still declares 5 s
    assert soundfile.info(wav).frames < 2 * RATE and declared_seconds(wav) == pytest.approx(5.0)
    assert len(soundfile.read(mp3)[0]) < 2 * RATE and declared_seconds(mp3) == pytest.approx(5.0)
    (tmp_path / "text.wav").write_text("not audio")
    assert declared_seconds(tmp_path / "text.wav") is None and declared_seconds(tmp_path / "none.wav") is None


def test_length_reasons_rules():
    thresholds = AssessabilityThresholds.default()
    assert length_reasons(5.0, 5.02, 60.0, thresholds) == []
    assert [reason for reason, _ in length_reasons(1.81, 5.43, 60.0, thresholds)] == ["truncated"]
    assert [reason for reason, _ in length_reasons(1200.0, None, 60.0, thresholds)] == ["too_long"]
    assert length_reasons(1200.0, None, None, thresholds) == []  # a part without an expected length


def test_the_processor_flags_truncated_and_overlong_answers(tiny_processor, speech, tmp_path):
    whole, truncated = tmp_path / "whole.wav", tmp_path / "truncated.wav"
    padded = np.concatenate([speech, speech, speech])
    soundfile.write(whole, padded, RATE)
    soundfile.write(truncated, padded, RATE)
    cut(truncated, 0.5)
    overlong = np.tile(speech, int(np.ceil(200 * RATE / len(speech))))  # P3 answers last about 60 s
    session = {"session_id": "S", "responses": [
        {"response_id": "S-P1", "part": "P1", "audio": str(whole), "question": None},
        {"response_id": "S-P3", "part": "P3", "audio": str(truncated), "question": None},
        {"response_id": "S-P4", "part": "P4", "audio": overlong, "question": None}]}
    flags = tiny_processor(session)["audio_flags"][0]
    assert [(flag["response_id"], flag["reason"]) for flag in flags] == [("S-P3", "truncated"), ("S-P4", "too_long")]
    assert "header declares" in flags[0]["detail"] and "about 60 s" in flags[1]["detail"]


def test_audio_input_errors_say_why(tmp_path):
    (tmp_path / "text.wav").write_text("not audio")
    soundfile.write(tmp_path / "empty.wav", np.zeros(0, np.float32), RATE)
    cases = {str(tmp_path / "missing.wav"): "missing", str(tmp_path / "text.wav"): "unreadable",
             str(tmp_path / "empty.wav"): "empty", "nan": "non_finite"}
    for audio, reason in cases.items():
        with pytest.raises(AudioInputError) as raised:
            load_audio(np.full(RATE, np.nan, np.float32) if audio == "nan" else audio, "S, r")
        assert raised.value.reason == reason
