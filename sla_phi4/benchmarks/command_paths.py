"""`sla score` and `sla train` as a user runs them, on the check's device (`sla gpu-check`'s `commands` phase).

The real-size phases of the check synthesise model inputs, so they cannot show what the commands do around the
model: where they load it, what feeds it. This phase runs their library code on a tiny checkpoint (built on the
fly, Phi-4's structure) with real-length recordings in FLAC files:
- `sla score` (`score_recordings`): where the model was put, in which dtype, with how many workers;
- the scoring loop (`score_sessions`) with the default featurizing workers (2 on a CPU, where the default is none)
  and with none, taking turns: sessions/s and whether the scores are bitwise equal. With a tiny model this is the
  rate the processor and the host's cores allow, the most `sla score` can reach on this machine whatever the GPU;
- `sla train`'s order before the Trainer: the model moved to the device, the frozen encoders' cache filled and the
  head's statistics fitted there.
"""

import json
import os
import tempfile
import time

import numpy as np
import soundfile
import torch

from sla_phi4.analysis.real_size import SETTINGS


SAMPLING_RATE = 16_000


def write_recordings(folder: str, sessions: int, scale: float, seed: int = 0) -> str:
    """A JSON Lines manifest of `sessions` real-length S&I sessions (P1 6 x 15 s, P3 and P4 58 s, P5 5 x 19 s, times
    `scale`) of amplitude-modulated noise; the sessions share one set of FLAC files. Returns the manifest's path."""
    rng = np.random.default_rng(seed)
    files = []
    for position, (part, seconds) in enumerate(SETTINGS.session):
        samples = int((seconds * scale + 0.05 * position) * SAMPLING_RATE)
        envelope = 0.5 + 0.5 * np.sin(np.linspace(0, 6 * np.pi * seconds * scale, samples))
        path = os.path.join(folder, f"{position:02d}-{part}.flac")
        soundfile.write(path, (0.1 * envelope * rng.standard_normal(samples)).astype(np.float32), SAMPLING_RATE)
        files.append((part, path))
    manifest = os.path.join(folder, "cohort.jsonl")
    with open(manifest, "w", encoding="utf-8") as handle:
        for number in range(sessions):
            for position, (part, path) in enumerate(files):
                handle.write(json.dumps({"session_id": f"learner{number:02d}", "part": part, "audio": path,
                                         "response_id": f"learner{number:02d}-{position:02d}"},
                                        allow_nan=False) + "\n")
    return manifest


def timed_scoring(model, processor, rows: list[dict], num_workers: int) -> tuple[float, list]:
    """Seconds to score `rows` through `score_sessions` with `num_workers`, and the sessions as scored."""
    from sla_phi4.evaluation.predictions import score_sessions

    start = time.perf_counter()
    scored = [session for batch in score_sessions(model, processor, rows, num_workers=num_workers)
              for session in batch]
    if model.device.type == "cuda":
        torch.cuda.synchronize(model.device)
    return time.perf_counter() - start, sorted(scored, key=lambda session: session.index)


def measure_scoring_loop(checkpoint: str, manifest: str, device: torch.device, repeats: int) -> dict:
    """The scoring loop with the default workers and with none, taking turns, `repeats` rounds after a warm-up."""
    from processing_sla import SLAProcessor
    from sla_phi4.data.ahead import default_num_workers
    from sla_phi4.data.cohort import manifest_cohort
    from sla_phi4.evaluation.loading import load_scoring_model

    model = load_scoring_model(checkpoint, device)
    processor = SLAProcessor.from_pretrained(checkpoint)
    rows = manifest_cohort(manifest, model.config.get_test_format(), "cohort").rows
    workers = default_num_workers(device) or 2  # on the CPU (--quick) too, so that worker processes run
    timed_scoring(model, processor, rows[:1], 0)  # warm-up: the VAD, the filter banks, the first kernels
    times = {workers: [], 0: []}
    scored = {}
    for _ in range(repeats):
        for count in times:
            seconds, scored[count] = timed_scoring(model, processor, rows, count)
            times[count].append(seconds)
    ahead, inline = (float(np.median(times[count])) for count in (workers, 0))
    equal = all(np.array_equal(first.scores, second.scores, equal_nan=True)
                for first, second in zip(scored[workers], scored[0]))
    return {"sessions": len(rows), "repeats": repeats, "model_device": model.device.type, "workers": workers,
            "workers_sessions_per_s": len(rows) / ahead, "inline_sessions_per_s": len(rows) / inline,
            "speedup_workers_vs_inline": inline / ahead, "scores_bitwise_equal": equal,
            "scores_finite": all(np.isfinite(session.scores).all() for session in scored[0])}


def measure_score_command(checkpoint: str, manifest: str, output: str) -> dict:
    """`sla score --manifest` as the command runs it: wall time, and where its report says it scored."""
    from sla_phi4.evaluation.scoring import score_recordings

    start = time.perf_counter()
    report = score_recordings(checkpoint, output, manifest=manifest)
    return {"seconds": time.perf_counter() - start, "sessions": report["num_sessions"],
            **{key: report["scoring"][key] for key in ("device", "dtype", "batch_size", "num_workers")}}


def measure_training_setup(checkpoint: str, manifest: str, device: torch.device) -> dict:
    """`sla train`'s steps before the Trainer, on the device: the encoders' cache filled, the head's statistics fit."""
    from processing_sla import SLAProcessor
    from sla_phi4.data.cohort import manifest_cohort
    from sla_phi4.training.arguments import ModelArguments
    from sla_phi4.training.collator import SessionCollator
    from sla_phi4.training.session_cache import SessionCache
    from sla_phi4.training.trainer import fit_head, load_model

    model = load_model(ModelArguments(checkpoint=checkpoint)).to(device)
    processor = SLAProcessor.from_pretrained(checkpoint)
    rows = manifest_cohort(manifest, model.config.get_test_format(), "cohort").rows[:2]
    start = time.perf_counter()
    cache = SessionCache(model, processor)
    cache.add(rows, "Encoding sessions once (frozen encoders)")
    cached = time.perf_counter() - start
    fit_head(model, SessionCollator(processor, cache, "sla"), rows, 2)
    statistics = model.head.feature_mean
    return {"sessions": len(rows), "model_device": model.device.type, "cache_s": cached,
            "head_statistics_device": statistics.device.type,
            "head_statistics_finite": bool(torch.isfinite(statistics).all())}


def measure_commands(device: torch.device, quick: bool, sessions: int, repeats: int) -> dict:
    """Every part of the phase, in a temporary folder (see the module's docstring)."""
    from sla_phi4.testing.tiny_checkpoint import build_tiny_checkpoint

    with tempfile.TemporaryDirectory(prefix="sla-commands-") as folder:
        checkpoint = build_tiny_checkpoint(os.path.join(folder, "tiny"), seed=0)
        audio = os.path.join(folder, "audio")
        os.makedirs(audio)
        manifest = write_recordings(audio, sessions, 0.1 if quick else 1.0)
        return {"checkpoint": "tiny (Phi-4 structure), built on the fly",
                "session_scale": 0.1 if quick else 1.0,
                "scoring_loop": measure_scoring_loop(checkpoint, manifest, device, repeats),
                "score_command": measure_score_command(checkpoint, manifest, os.path.join(folder, "scored")),
                "training_setup": measure_training_setup(checkpoint, manifest, device)}


def command_failures(result: dict, device: torch.device) -> list[str]:
    """What failed: the model or the head's statistics not on the check's device, scores that moved with the number
    of workers, or that are not finite."""
    failures = []
    where = {"scoring loop": result["scoring_loop"]["model_device"], "sla score": result["score_command"]["device"],
             "sla train": result["training_setup"]["model_device"],
             "sla train's head fit": result["training_setup"]["head_statistics_device"]}
    failures += [f"commands: {name} ran on {found}, not {device.type}" for name, found in where.items()
                 if found != device.type]
    if not result["scoring_loop"]["scores_bitwise_equal"]:
        failures.append("commands: scores with featurizing workers differ from those without")
    if not result["scoring_loop"]["scores_finite"] or not result["training_setup"]["head_statistics_finite"]:
        failures.append("commands: non-finite scores or head statistics")
    return failures


__all__ = ["command_failures", "measure_commands", "write_recordings"]
