"""Reading response audio: file paths, arrays at 16 kHz, or `{"array", "sampling_rate"}` dicts."""

import math
import numbers
import os

import numpy as np
import soundfile
import soxr


TARGET_SAMPLING_RATE = 16_000
MIN_SAMPLES = 400  # one 25 ms analysis window of the Phi-4 feature extractor
# Float audio lives in [-1, 1]. Resampling and some codecs overshoot a little; a peak past this is not audio at full
# scale but a unit mistake (integer PCM stored as float, or a gain applied twice), and would be scored as nonsense.
MAX_FLOAT_PEAK = 2.0


# Why audio cannot be used (`AudioInputError.reason`): no file at the path, a file no decoder reads, audio of no or
# too few samples, NaN or infinite samples, or anything else malformed (dtype, shape, rate, a float peak far past 1).
LOAD_FAILURES = ("missing", "unreadable", "empty", "non_finite", "invalid")


class AudioInputError(ValueError):
    """Raised for audio that cannot be used; the message names the session and response, `reason` says why (one
    of `LOAD_FAILURES`)."""

    def __init__(self, message: str, reason: str = "invalid"):
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):  # keeps `reason` through pickling (worker processes)
        return type(self), (str(self), self.reason)


def load_audio(audio, where: str, sampling_rate: int = TARGET_SAMPLING_RATE) -> np.ndarray:
    """Returns `audio` as a 1-D float32 array at `sampling_rate`, mixed down to mono and resampled with soxr.

    Integer PCM is scaled to [-1, 1) as soundfile scales it (divided by 2 ** (bits - 1); unsigned types are offset
    binary). Float audio whose peak is above `MAX_FLOAT_PEAK` is refused.

    Args:
        audio: a file path, a 1-D array already at `sampling_rate`, or a dict with `array` and `sampling_rate`
            (a `path` entry alone is read as a file).
        where: names the response in error messages, e.g. `session S1, response S1-P10003`.
    """
    source_rate = sampling_rate
    if isinstance(audio, (str, os.PathLike)):
        array, source_rate = _read_file(os.fspath(audio), where)
    elif isinstance(audio, dict):
        if audio.get("array") is None and audio.get("path"):
            array, source_rate = _read_file(audio["path"], where)
        elif "array" in audio and "sampling_rate" in audio:
            array, source_rate = _as_array(audio["array"], where), _sampling_rate(audio["sampling_rate"], where)
        else:
            raise AudioInputError(f"{where}: an audio dict needs 'array' and 'sampling_rate' (or 'path').")
    elif audio is None:
        raise AudioInputError(f"{where}: no audio.", "empty")
    else:
        array = _as_array(audio, where)
    return _to_mono_float(array, source_rate, sampling_rate, where)


def _read_file(path: str, where: str) -> tuple[np.ndarray, int]:
    if not os.path.isfile(path):
        raise AudioInputError(f"{where}: audio file not found: {path}", "missing")
    try:
        return soundfile.read(path, dtype="float32", always_2d=False)
    except Exception as error:  # soundfile raises LibsndfileError, RuntimeError or TypeError by format
        raise AudioInputError(f"{where}: cannot read audio file {path}: {error}", "unreadable") from error


def _as_array(audio, where: str) -> np.ndarray:
    try:
        return np.asarray(audio)
    except (ValueError, TypeError) as error:  # ragged nested lists, objects numpy cannot convert
        raise AudioInputError(f"{where}: audio is not a numeric array ({error}).") from None


def _sampling_rate(rate, where: str) -> int:
    """A positive whole number of samples per second (an integral float such as 16000.0 is taken)."""
    if isinstance(rate, numbers.Real) and not isinstance(rate, (bool, np.bool_)):
        value = float(rate)
        if math.isfinite(value) and value == int(value) and value > 0:
            return int(value)
    raise AudioInputError(f"{where}: invalid sampling rate {rate!r}; expected a positive whole number such as 16000.")


def _to_float(array: np.ndarray, where: str) -> np.ndarray:
    """Integer PCM scaled to [-1, 1); float audio checked against `MAX_FLOAT_PEAK`; anything else refused."""
    if np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        full_scale = 2.0 ** (info.bits - 1)
        offset = 0.0 if info.min < 0 else full_scale
        return ((array.astype(np.float64) - offset) / full_scale).astype(np.float32)
    if not np.issubdtype(array.dtype, np.floating):
        raise AudioInputError(
            f"{where}: audio array has dtype {array.dtype}; expected float samples in [-1, 1] or integer PCM."
        )
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise AudioInputError(f"{where}: audio contains NaN or infinite samples.", "non_finite")
    peak = float(np.abs(array).max()) if array.size else 0.0
    if peak > MAX_FLOAT_PEAK:
        raise AudioInputError(
            f"{where}: float audio reaches {peak:.4g}, far outside [-1, 1] (more than {MAX_FLOAT_PEAK:g}): integer "
            f"PCM stored as float? Divide by 32768 for 16-bit samples, or pass the integer array itself."
        )
    return array


def _to_mono_float(array: np.ndarray, source_rate: int, target_rate: int, where: str) -> np.ndarray:
    if array.ndim not in (1, 2):
        raise AudioInputError(f"{where}: audio must be 1-D (or 2-D with channels), got shape {array.shape}.")
    array = _to_float(array, where)
    if array.ndim == 2:
        # soundfile gives (frames, channels); arrays in the (channels, frames) convention are transposed
        array = array.T if array.shape[0] < array.shape[1] and array.shape[0] <= 8 else array
        if array.shape[1] == 0:
            raise AudioInputError(f"{where}: audio has no channels (shape {array.shape}).")
        array = array.mean(axis=1, dtype=np.float32)
    if source_rate <= 0:
        raise AudioInputError(f"{where}: invalid sampling rate {source_rate}.")
    if source_rate != target_rate and array.size:
        array = soxr.resample(array, source_rate, target_rate).astype(np.float32, copy=False)
    if array.shape[0] < MIN_SAMPLES:
        raise AudioInputError(
            f"{where}: audio is empty or too short ({array.shape[0]} samples at {target_rate} Hz; "
            f"at least {MIN_SAMPLES} needed).", "empty"
        )
    if not np.isfinite(array).all():
        raise AudioInputError(f"{where}: audio contains NaN or infinite samples.", "non_finite")
    return array


__all__ = ["AudioInputError", "LOAD_FAILURES", "MAX_FLOAT_PEAK", "load_audio", "TARGET_SAMPLING_RATE"]
