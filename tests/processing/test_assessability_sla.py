"""What cannot be assessed: silence, noise, too little speech, clipping; flagged per response by the processor."""

import json
import sys

import numpy as np
import pytest
import torch

from processing_sla import SLAProcessor
from processing_sla.assessability_sla import (
    THRESHOLDS_FILE,
    AssessabilityThresholds,
    assess_responses,
    measure_responses,
    speech_detector,
)
from sla_phi4.data.espeak_tts import synthesize
from sla_phi4.testing import noise_clip


RATE = 16_000


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """About 3 s of espeak speech at a learner-like level with a quiet noise floor."""
    clip = synthesize("I live in a small town near the sea, and I walk to work every morning.")
    clip = 0.6 * clip / np.abs(clip).max()
    return (clip + 10 ** (-55 / 20) * np.random.default_rng(0).standard_normal(len(clip))).astype(np.float32)


@pytest.fixture(scope="module")
def thresholds() -> AssessabilityThresholds:
    return AssessabilityThresholds.default()


def reasons_of(clip: np.ndarray, part: str, thresholds) -> list[str]:
    return [flag["reason"] for flag in assess_responses([clip], [part], ["r"], thresholds)]


def test_thresholds_are_the_data_file(thresholds):
    with open(THRESHOLDS_FILE, encoding="utf-8") as handle:
        assert thresholds.to_dict() == json.load(handle)
    assert set(thresholds.min_speech_seconds) == {"P1", "P3", "P4", "P5"}


def test_speech_passes_and_its_speech_is_measured(speech, thresholds):
    measured = measure_responses([speech], thresholds)[0]
    assert measured.seconds == pytest.approx(len(speech) / RATE)
    assert 0.7 * measured.seconds < measured.speech_seconds <= measured.seconds
    for part in ("P1", "P3", "P4", "P5"):
        assert reasons_of(speech, part, thresholds) == [], part


def test_what_cannot_be_assessed_is_flagged(speech, thresholds):
    rng = np.random.default_rng(1)
    cases = {
        "silent": np.zeros(5 * RATE, dtype=np.float32),
        "no_speech": [(0.1 * rng.standard_normal(4 * RATE)).astype(np.float32), noise_clip(4.0, 3)],
        "too_little_speech": speech[: int((thresholds.no_speech_seconds + thresholds.min_speech_seconds["P1"]) / 2
                                          * RATE)],
        "mostly_noise": np.concatenate([speech, (10 ** (-50 / 20) * rng.standard_normal(12 * len(speech)))]),
        "clipped": np.clip(speech * 10, -1, 1),
    }
    for reason, clips in cases.items():
        for clip in clips if isinstance(clips, list) else [clips]:
            assert reasons_of(clip.astype(np.float32), "P1", thresholds) == [reason], reason


def test_minimum_speech_depends_on_the_part(speech, thresholds):
    seconds = (thresholds.min_speech_seconds["P1"] + thresholds.min_speech_seconds["P3"]) / 2 + 0.1
    start = int(np.argmax(np.abs(speech) > 0.05))
    clip = speech[start : start + int(seconds * RATE)]
    assert reasons_of(clip, "P1", thresholds) == []
    assert reasons_of(clip, "P3", thresholds) == ["too_little_speech"]


def test_flags_name_the_response_and_part(speech, thresholds):
    flags = assess_responses([speech, np.zeros(RATE, np.float32)], ["P1", "P5"], ["S1-P10001", "#1"], thresholds)
    assert flags == [{"response_id": "#1", "part": "P5", "reason": "silent",
                      "detail": "level -inf dBFS, under -60 dBFS"}]


def test_long_responses_are_cut_into_windows(speech, thresholds):
    """A response longer than a VAD window counts the speech of every window once."""
    long = np.concatenate([speech] * 5)
    window = thresholds.vad_window_seconds
    assert len(long) / RATE > 1.5 * window
    single, repeated = (measure_responses([clip], thresholds)[0].speech_seconds for clip in (speech, long))
    assert repeated == pytest.approx(5 * single, rel=0.1)


def test_the_processor_flags_each_session(tiny_processor, tiny_model, speech):
    sessions = [
        {"session_id": "A", "responses": [{"response_id": "A-P10001", "part": "P1", "audio": speech}]},
        {"session_id": "B", "responses": [{"part": "P3", "audio": speech[::-1].copy()},
                                          {"response_id": "B-P10001", "part": "P1", "audio": np.zeros(5 * RATE)}]},
    ]
    batch = tiny_processor(sessions)
    assert batch["audio_flags"][0] == []
    assert [(flag["response_id"], flag["part"], flag["reason"]) for flag in batch["audio_flags"][1]] == [
        ("B-P10001", "P1", "silent")]
    with torch.no_grad():
        assert model_scores_shape(tiny_model, batch) == (2, 5)  # model(**processor(sessions)) still works
    assert "audio_flags" not in tiny_processor(sessions, assess_audio=False)


def model_scores_shape(model, batch) -> tuple:
    return tuple(model(**batch).scores.shape)


def test_thresholds_travel_with_the_processor(tiny_processor, tmp_path, speech):
    strict = dict(tiny_processor.assessability_thresholds, min_speech_seconds={"P1": 60.0, "P3": 60.0, "P4": 60.0,
                                                                                 "P5": 60.0})
    tiny_processor.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "processor_config.json").read_text())
    assert config["assessability_thresholds"] == AssessabilityThresholds.default().to_dict()
    config["assessability_thresholds"] = strict
    (tmp_path / "processor_config.json").write_text(json.dumps(config))
    reloaded = SLAProcessor.from_pretrained(tmp_path)
    assert reloaded.assessability_thresholds == strict
    session = {"session_id": "A", "responses": [{"part": "P1", "audio": speech}]}
    assert [flag["reason"] for flag in reloaded(session)["audio_flags"][0]] == ["too_little_speech"]
    with pytest.raises(TypeError):
        AssessabilityThresholds.from_dict(dict(strict, unknown_threshold=1))


def test_loading_the_detector_keeps_torch_threads(monkeypatch):
    """Importing silero_vad calls torch.set_num_threads(1) for the whole process; the detector restores it."""
    before = torch.get_num_threads()
    for name in [name for name in sys.modules if name.startswith("silero_vad")]:
        monkeypatch.delitem(sys.modules, name)
    speech_detector.cache_clear()
    try:
        torch.set_num_threads(2)
        speech_detector()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
