"""What cannot be assessed: responses that are silent, hold no or far too little speech, are mostly noise, clipped,
truncated (a file holding less audio than its header declares) or far longer than their part's expected answer.

Speech is found with Silero VAD (the `silero-vad` package, whose model ships inside its wheel). The thresholds are
data (`assessability_thresholds.json` beside this file); a processor saves the ones it uses in its
`processor_config.json`, so a checkpoint flags the same way wherever it is loaded.
"""

import functools
import json
import math
import os
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch


THRESHOLDS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assessability_thresholds.json")
SAMPLING_RATE = 16_000
VAD_FRAME = 512  # samples per Silero VAD frame at 16 kHz (32 ms)
# Reasons, most decisive first: a silent response is not also reported as holding no speech.
REASONS = ("silent", "no_speech", "too_little_speech", "mostly_noise", "clipped", "truncated", "too_long")


@dataclass(frozen=True)
class AssessabilityThresholds:
    """
    When a response cannot be assessed. Seconds of speech are Silero VAD frames (32 ms) whose speech probability
    reaches `speech_probability`.

    Args:
        version: version of this set of thresholds.
        speech_probability: VAD probability from which a frame counts as speech.
        vad_window_seconds: responses are cut into windows of this length, run through the VAD as one batch (the
            VAD's state restarts at each window).
        silence_dbfs: RMS level (dB full scale) under which a response is `silent`.
        no_speech_seconds: less speech than this is `no_speech`.
        min_speech_seconds: per part, less speech than this (and at least `no_speech_seconds`) is
            `too_little_speech`.
        min_speech_fraction: speech covering less than this fraction of the response is `mostly_noise`.
        clip_level: a sample whose magnitude reaches this is at full scale.
        max_clipped_fraction: more samples at full scale than this fraction is `clipped`.
        truncation_tolerance_seconds: a file holding this much less audio than its header declares is `truncated`.
        too_long_factor: an answer longer than this many times its part's `expected_seconds` (test format) is
            `too_long`.
    """

    version: int
    speech_probability: float
    vad_window_seconds: float
    silence_dbfs: float
    no_speech_seconds: float
    min_speech_seconds: dict
    min_speech_fraction: float
    clip_level: float
    max_clipped_fraction: float
    truncation_tolerance_seconds: float = 0.05  # defaults for thresholds saved before these checks existed
    too_long_factor: float = 3.0

    @classmethod
    def from_dict(cls, values: dict) -> "AssessabilityThresholds":
        return cls(**values)

    @classmethod
    def default(cls) -> "AssessabilityThresholds":
        """The thresholds of `assessability_thresholds.json`."""
        with open(THRESHOLDS_FILE, encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ResponseMeasures:
    """What the checks measured on one response."""

    seconds: float
    speech_seconds: float
    rms_dbfs: float
    clipped_fraction: float


@functools.lru_cache(maxsize=1)
def speech_detector():
    """The Silero VAD model of the installed `silero-vad` package (loaded once per process)."""
    threads = torch.get_num_threads()
    with warnings.catch_warnings():  # the package's loader uses deprecated importlib and TorchScript calls
        warnings.simplefilter("ignore", DeprecationWarning)
        from silero_vad import load_silero_vad

        model = load_silero_vad()
    torch.set_num_threads(threads)  # importing silero_vad sets torch to one thread for the whole process
    return model.eval()


@torch.inference_mode()
def speech_seconds(clips: list[np.ndarray], thresholds: AssessabilityThresholds) -> list[float]:
    """Seconds of speech in each 16 kHz clip. The clips are cut into windows, run through the VAD as one batch
    (padded to the longest window)."""
    window = max(VAD_FRAME, int(thresholds.vad_window_seconds * SAMPLING_RATE) // VAD_FRAME * VAD_FRAME)
    pieces, owners = [], []
    for index, clip in enumerate(clips):
        for start in range(0, len(clip), window):
            pieces.append(clip[start : start + window])
            owners.append(index)
    if not pieces:
        return [0.0] * len(clips)
    frames = [math.ceil(len(piece) / VAD_FRAME) for piece in pieces]
    batch = np.zeros((len(pieces), max(frames) * VAD_FRAME), dtype=np.float32)
    for row, piece in enumerate(pieces):
        batch[row, : len(piece)] = piece
    probabilities = speech_detector().audio_forward(torch.from_numpy(batch), SAMPLING_RATE).numpy()
    seconds = [0.0] * len(clips)
    for row, (owner, count) in enumerate(zip(owners, frames)):
        speech_frames = int((probabilities[row, :count] >= thresholds.speech_probability).sum())
        seconds[owner] += speech_frames * VAD_FRAME / SAMPLING_RATE
    return seconds


def measure_responses(clips: list[np.ndarray], thresholds: AssessabilityThresholds) -> list[ResponseMeasures]:
    """Duration, speech, level and clipping of each 16 kHz clip."""
    speech = speech_seconds(clips, thresholds)
    measures = []
    for clip, seconds_of_speech in zip(clips, speech):
        magnitude = np.abs(clip.astype(np.float64))
        rms = math.sqrt(float(np.mean(magnitude**2))) if clip.size else 0.0
        measures.append(ResponseMeasures(
            seconds=len(clip) / SAMPLING_RATE,
            speech_seconds=seconds_of_speech,
            rms_dbfs=20 * math.log10(rms) if rms > 0 else -math.inf,
            clipped_fraction=float(np.mean(magnitude >= thresholds.clip_level)) if clip.size else 0.0,
        ))
    return measures


def unassessable_reasons(measures: ResponseMeasures, part: str, thresholds: AssessabilityThresholds) -> list[tuple]:
    """`(reason, detail)` for each reason the response cannot be assessed (an empty list when it can)."""
    if measures.rms_dbfs < thresholds.silence_dbfs:
        return [("silent", f"level {measures.rms_dbfs:.1f} dBFS, under {thresholds.silence_dbfs:g} dBFS")]
    reasons = []
    speech, minimum = measures.speech_seconds, thresholds.min_speech_seconds.get(part, thresholds.no_speech_seconds)
    if speech < thresholds.no_speech_seconds:
        reasons.append(("no_speech", f"{speech:.2f} s of speech detected in {measures.seconds:.2f} s"))
    elif speech < minimum:
        reasons.append(("too_little_speech", f"{speech:.2f} s of speech; {part} needs at least {minimum:g} s"))
    elif speech < thresholds.min_speech_fraction * measures.seconds:
        reasons.append(("mostly_noise", f"speech is {speech:.2f} s of {measures.seconds:.2f} s "
                                        f"({100 * speech / measures.seconds:.0f} %)"))
    if measures.clipped_fraction > thresholds.max_clipped_fraction:
        reasons.append(("clipped", f"{100 * measures.clipped_fraction:.1f} % of samples at full scale"))
    return reasons


def length_reasons(seconds: float, declared: float | None, expected: float | None,
                   thresholds: AssessabilityThresholds) -> list[tuple]:
    """`(reason, detail)` for a response shorter than its file's header declares (`truncated`) or far longer than
    its part's expected answer (`too_long`); `declared` and `expected` are None where unknown."""
    reasons = []
    if declared is not None and declared - seconds > thresholds.truncation_tolerance_seconds:
        reasons.append(("truncated", f"the file's header declares {declared:.2f} s, it holds {seconds:.2f} s"))
    if expected is not None and seconds > thresholds.too_long_factor * expected:
        reasons.append(("too_long", f"{seconds:.1f} s; this part's answers are about {expected:g} s (more than "
                                    f"{thresholds.too_long_factor:g} times that is flagged)"))
    return reasons


def assess_responses(clips: list[np.ndarray], parts: list[str], names: list[str],
                     thresholds: AssessabilityThresholds, declared_seconds: list[float | None] | None = None,
                     expected_seconds: list[float | None] | None = None) -> list[dict]:
    """Flags `{"response_id", "part", "reason", "detail"}` for the responses that cannot be assessed (16 kHz clips
    with their parts and names, and where known their files' declared and their parts' expected durations), in
    response order; empty when all can be."""
    declared_seconds = declared_seconds or [None] * len(clips)
    expected_seconds = expected_seconds or [None] * len(clips)
    flags = []
    for clip_measures, part, name, declared, expected in zip(measure_responses(clips, thresholds), parts, names,
                                                             declared_seconds, expected_seconds, strict=True):
        reasons = unassessable_reasons(clip_measures, part, thresholds)
        reasons += length_reasons(clip_measures.seconds, declared, expected, thresholds)
        for reason, detail in reasons:
            flags.append({"response_id": name, "part": part, "reason": reason, "detail": detail})
    return flags


__all__ = [
    "AssessabilityThresholds",
    "REASONS",
    "ResponseMeasures",
    "assess_responses",
    "length_reasons",
    "measure_responses",
    "speech_detector",
    "speech_seconds",
    "unassessable_reasons",
]
