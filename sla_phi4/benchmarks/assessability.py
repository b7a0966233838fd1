#!/usr/bin/env python
"""Measures the assessability checks on a kit-layout corpus: how many real responses they flag (should be near none)
and how many unassessable variants of them they catch (silent, noise only, truncated, clipped, buried in noise).

    sla make-corpus --output corpus --sessions 400 --duration-scale 0.1 --cue-strength 2
    sla measure-assessability --corpus_root corpus [--variants_per_kind 600] [--output figures.json]

Every variant is made from a real response of the corpus (the same sample of responses for each kind), so that its
length and level are those of real answers. The thresholds are `processing_sla/assessability_thresholds.json`.
"""

import time
from collections import Counter

import numpy as np
from tqdm.auto import tqdm

from processing_sla import load_audio
from processing_sla.assessability_sla import (
    REASONS,
    AssessabilityThresholds,
    measure_responses,
    unassessable_reasons,
)
from sla_phi4.data.speak_improve import load_speak_improve


RATE = 16_000
BATCH = 16  # responses per VAD batch, about a session's worth


def dbfs_noise(rng: np.random.Generator, samples: int, dbfs: float) -> np.ndarray:
    return (10 ** (dbfs / 20) * rng.standard_normal(samples)).astype(np.float32)


def brown_noise(rng: np.random.Generator, samples: int, dbfs: float) -> np.ndarray:
    walk = np.cumsum(rng.standard_normal(samples))
    walk -= np.linspace(walk[0], walk[-1], samples)  # no drift
    return (walk / walk.std() * 10 ** (dbfs / 20)).astype(np.float32)


def hum(samples: int, dbfs: float) -> np.ndarray:
    time_s = np.arange(samples) / RATE
    wave = sum(np.sin(2 * np.pi * 50 * k * time_s) / k for k in (1, 2, 3, 5))
    return (wave / wave.std() * 10 ** (dbfs / 20)).astype(np.float32)


def modulated_noise(rng: np.random.Generator, samples: int) -> np.ndarray:
    """Noise with a syllable-rate energy envelope (3 Hz): speech-like level changes, no voice."""
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * np.arange(samples) / RATE)
    return (0.1 * envelope * rng.standard_normal(samples)).astype(np.float32)


def from_first_word(clip: np.ndarray, seconds: float) -> np.ndarray:
    """`seconds` of the clip from where it first reaches a tenth of its peak (the first word's onset)."""
    start = int(np.argmax(np.abs(clip) >= 0.1 * np.abs(clip).max()))
    return clip[start : start + int(seconds * RATE)]


def at_snr(clip: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    rms = float(np.sqrt(np.mean(clip.astype(np.float64) ** 2)))
    noise = rng.standard_normal(len(clip)) * rms / 10 ** (snr_db / 20)
    return np.clip(clip + noise, -1, 1).astype(np.float32)


VARIANTS = {
    "silent (digital zeros)": lambda clip, rng: np.zeros_like(clip),
    "near silence (noise at -70 dBFS)": lambda clip, rng: dbfs_noise(rng, len(clip), -70),
    "white noise at -40 dBFS": lambda clip, rng: dbfs_noise(rng, len(clip), -40),
    "white noise at -15 dBFS": lambda clip, rng: dbfs_noise(rng, len(clip), -15),
    "brown noise at -20 dBFS": lambda clip, rng: brown_noise(rng, len(clip), -20),
    "mains hum at -20 dBFS": lambda clip, rng: hum(len(clip), -20),
    "speech-like modulated noise": lambda clip, rng: modulated_noise(rng, len(clip)),
    "truncated: first 0.3 s": lambda clip, rng: clip[: int(0.3 * RATE)],
    "truncated: 0.3 s from the first word": lambda clip, rng: from_first_word(clip, 0.3),
    "answer then 10x its length of room noise": lambda clip, rng: np.concatenate(
        [clip, dbfs_noise(rng, 10 * len(clip), -50)]),
    "clipped: gain x4": lambda clip, rng: np.clip(clip * 4, -1, 1),
    "clipped: gain x10": lambda clip, rng: np.clip(clip * 10, -1, 1),
    "speech in white noise, SNR 0 dB": lambda clip, rng: at_snr(clip, rng, 0),
    "speech in white noise, SNR -10 dB": lambda clip, rng: at_snr(clip, rng, -10),
}


def corpus_responses(corpus_root: str, splits: list[str]) -> list[tuple[str, str, np.ndarray]]:
    """`(response_id, part, 16 kHz clip)` of every response of the splits."""
    responses = []
    for split in splits:
        for row in load_speak_improve(corpus_root, split):
            for response in row["responses"]:
                responses.append((response["response_id"], response["part"],
                                  load_audio(response["audio"], f"Session {row['session_id']}, response "
                                                                f"{response['response_id']}")))
    return responses


def flag_counts(clips: list[np.ndarray], parts: list[str], thresholds: AssessabilityThresholds,
                description: str) -> tuple[Counter, int, float]:
    """Per reason, how many clips it flags; how many clips have any flag; seconds spent measuring."""
    by_reason, flagged, spent = Counter(), 0, 0.0
    for start in tqdm(range(0, len(clips), BATCH), desc=description, unit="batch", leave=False):
        begin = time.perf_counter()
        measures = measure_responses(clips[start : start + BATCH], thresholds)
        spent += time.perf_counter() - begin
        for measured, part in zip(measures, parts[start : start + BATCH]):
            reasons = [reason for reason, _ in unassessable_reasons(measured, part, thresholds)]
            by_reason.update(reasons)
            flagged += bool(reasons)
    return by_reason, flagged, spent


def measure(corpus_root: str, splits: list[str], variants_per_kind: int, seed: int = 0) -> dict:
    thresholds = AssessabilityThresholds.default()
    responses = corpus_responses(corpus_root, splits)
    clips, parts = [clip for _, _, clip in responses], [part for _, part, _ in responses]
    seconds = sum(len(clip) for clip in clips) / RATE
    by_reason, flagged, spent = flag_counts(clips, parts, thresholds, "Real responses")
    report = {
        "corpus": corpus_root, "splits": splits, "thresholds": thresholds.to_dict(),
        "real": {"responses": len(clips), "audio_seconds": round(seconds, 1), "flagged": flagged,
                 "by_reason": dict(by_reason), "times_real_time": round(seconds / spent, 1)},
        "variants": {},
    }
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(clips), size=min(variants_per_kind, len(clips)), replace=False)
    for kind, make in VARIANTS.items():
        variant_rng = np.random.default_rng([seed, len(report["variants"])])
        made = [make(clips[index], variant_rng) for index in sample]
        by_reason, flagged, _ = flag_counts(made, [parts[index] for index in sample], thresholds, kind)
        report["variants"][kind] = {"responses": len(made), "caught": flagged, "by_reason": dict(by_reason)}
    return report


def format_report(report: dict) -> str:
    real = report["real"]
    reasons = f" {real['by_reason']}" if real["by_reason"] else ""
    lines = [f"Real responses: {real['flagged']} of {real['responses']} flagged "
             f"({100 * real['flagged'] / real['responses']:.2f} %){reasons}; "
             f"{real['audio_seconds']:.0f} s of audio measured at {real['times_real_time']:.0f}x real time.",
             f"{'variant':42} {'caught':>12}  reasons"]
    for kind, values in report["variants"].items():
        reasons = ", ".join(f"{reason} {values['by_reason'][reason]}" for reason in REASONS
                            if reason in values["by_reason"])
        lines.append(f"{kind:42} {values['caught']:5d}/{values['responses']:<5d} {reasons}")
    return "\n".join(lines)
