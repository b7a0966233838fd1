"""Reading response audio: integer PCM is scaled as audio libraries scale it; impossible audio is refused by name."""

import numpy as np
import pytest
import soundfile

from processing_sla import AudioInputError, load_audio
from sla_phi4.testing import noise_clip


WHERE = "Session S1, response S1-P10001"


def pcm(clip: np.ndarray, dtype) -> np.ndarray:
    """`clip` as integer PCM of `dtype` (offset binary for unsigned types, as 8-bit WAV stores it)."""
    info = np.iinfo(dtype)
    full_scale = 2.0 ** (info.bits - 1)
    offset = 0 if info.min < 0 else full_scale
    return np.clip(np.round(clip * full_scale + offset), info.min, info.max).astype(dtype)


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int8, np.uint8, np.int64])
def test_integer_pcm_is_scaled_like_soundfile(dtype, tmp_path):
    clip = noise_clip(1.0, 0)
    tolerance = 2.0 ** -(np.iinfo(dtype).bits - 2)
    np.testing.assert_allclose(load_audio(pcm(clip, dtype), WHERE), clip, atol=tolerance)
    as_dict = load_audio({"array": pcm(clip, dtype), "sampling_rate": 16_000}, WHERE)
    np.testing.assert_allclose(as_dict, clip, atol=tolerance)
    if dtype == np.int16:  # the same numbers soundfile gives for a 16-bit file
        soundfile.write(tmp_path / "clip.wav", pcm(clip, dtype), 16_000, subtype="PCM_16")
        from_file = load_audio(str(tmp_path / "clip.wav"), WHERE)
        np.testing.assert_array_equal(load_audio(pcm(clip, dtype), WHERE), from_file)


def log_mel_mean(processor, audio) -> float:
    return float(np.mean([unit.features.mean() for unit in processor.audio_units(load_audio(audio, WHERE))]))


def test_integer_pcm_gives_the_features_of_float_audio(tiny_processor):
    clip = noise_clip(1.5, 3)
    as_float = log_mel_mean(tiny_processor, clip)
    for audio in (pcm(clip, np.int16), {"array": pcm(clip, np.int16), "sampling_rate": 16_000}):
        assert abs(log_mel_mean(tiny_processor, audio) - as_float) < 0.01  # unscaled int16 gave 35.2 against 14.4


@pytest.mark.parametrize("scale", [1000.0, 32768.0, -3.0])
def test_float_audio_far_outside_full_scale_is_refused(tiny_processor, scale):
    clip = noise_clip(1.0, 1) / np.abs(noise_clip(1.0, 1)).max() * scale
    session = {"session_id": "S1", "responses": [{"response_id": "S1-P10001", "part": "P1", "audio": clip}]}
    with pytest.raises(AudioInputError, match=r"Session S1, response S1-P10001: .*outside \[-1, 1\]"):
        tiny_processor(session)
    with pytest.raises(AudioInputError, match="outside"):
        load_audio({"array": clip.astype(np.float64), "sampling_rate": 8_000}, WHERE)


def test_float_audio_slightly_over_full_scale_is_kept():
    clip = noise_clip(1.0, 2) / np.abs(noise_clip(1.0, 2)).max() * 1.3  # e.g. a resampled full-scale clip
    np.testing.assert_allclose(load_audio(clip, WHERE), clip)


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.ones(16_000, dtype=bool), "dtype bool"),
        (noise_clip(1.0, 0).astype(np.complex64), "dtype complex64"),
        (np.array(["a", "b"] * 8000), "dtype <U1"),
        ([[0.0] * 100, [0.0] * 3], "not a numeric array"),
        (np.zeros((2, 3, 16_000), dtype=np.float32), "shape"),
        (np.float32(0.5), "shape"),
        ({"array": noise_clip(1.0, 0), "sampling_rate": "16k"}, "sampling rate '16k'"),
        ({"array": noise_clip(1.0, 0), "sampling_rate": 16_000.5}, "sampling rate 16000.5"),
        ({"array": noise_clip(1.0, 0), "sampling_rate": float("nan")}, "sampling rate nan"),
        ({"array": noise_clip(1.0, 0), "sampling_rate": None}, "sampling rate None"),
        ({"array": noise_clip(1.0, 0), "sampling_rate": True}, "sampling rate True"),
        ({"array": noise_clip(1.0, 0), "sampling_rate": 0}, "sampling rate 0"),
        ({"array": noise_clip(1.0, 0), "sampling_rate": -16_000}, "sampling rate -16000"),
    ],
)
def test_impossible_audio_is_refused_by_name(audio, message):
    with pytest.raises(AudioInputError, match=rf"^{WHERE}: .*{message}"):
        load_audio(audio, WHERE)


def test_integral_float_rates_are_taken():
    clip = noise_clip(1.0, 0)
    np.testing.assert_array_equal(load_audio({"array": clip, "sampling_rate": 16_000.0}, WHERE), clip)
    np.testing.assert_array_equal(load_audio({"array": clip, "sampling_rate": np.int64(16_000)}, WHERE), clip)
