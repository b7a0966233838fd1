"""Scoring a cohort with broken files, then rerunning it after some audio changed, measured in one run
(`sla benchmark-cohort`).

    sla benchmark-cohort [--workdir runs/cohort-bench] [--sessions 200] [--changed 5]

1. A synthetic S&I cohort of `--sessions` sessions (short answers, every part answered), scored by a tiny
   checkpoint, with 10 bad P3 files planted in 10 sessions, 2 of each of 5 kinds: a text file (unreadable), a WAV
   of no samples (empty), a WAV of NaN samples (non_finite), a WAV cut to a third of its bytes whose header still
   declares its whole length (truncated), and 200 s of noise where a P3 answer lasts about 60 s (too_long).
2. `sla score` of the cohort (a fresh process): the report's sessions refused and flagged by reason, against the
   planted truth, and its wall time.
3. The same command again with nothing changed: its wall time is what every run pays whatever it scores (starting
   a process, loading the checkpoint, hashing every file, reading the shards, writing the report and plots).
4. `--changed` other sessions' P1 answers rewritten (a little quieter), then the same command again into the same
   output folder: the sessions it scored and kept (from its report), and its wall time against the full run's, both
   as they are and less the unchanged run's.
Prints each figure and writes `cohort_scoring.json`.
"""

import os
import subprocess
import sys
import time

import numpy as np
import soundfile

from sla_phi4 import strict_json
from sla_phi4.data.kit import load_kit
from sla_phi4.data.synthetic import make_synthetic_corpus
from sla_phi4.testing.tiny_checkpoint import build_tiny_checkpoint


DURATION_SCALE = 0.05  # answers of 1.5-3 s
PLANTED_KINDS = ("unreadable", "empty", "non_finite", "truncated", "too_long")
REFUSED_KINDS = ("unreadable", "empty", "non_finite")
OVERLONG_SECONDS = 200.0
SAMPLE_RATE = 16_000


def noise(seconds: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=int(seconds * SAMPLE_RATE)) * 0.1).astype(np.float32)


def plant(kind: str, path: str, seed: int) -> None:
    """Replaces the file at `path` by a bad file of `kind`."""
    if kind == "unreadable":
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("an upload that is not audio")
    elif kind == "empty":
        soundfile.write(path, np.zeros(0, np.float32), SAMPLE_RATE, format="WAV")
    elif kind == "non_finite":
        soundfile.write(path, np.full(SAMPLE_RATE, np.nan, np.float32), SAMPLE_RATE, format="WAV", subtype="FLOAT")
    elif kind == "truncated":
        audio, rate = soundfile.read(path, dtype="float32")
        soundfile.write(path, audio, rate, format="WAV")
        with open(path, "rb") as handle:
            data = handle.read()
        with open(path, "wb") as handle:
            handle.write(data[: len(data) // 3])
    elif kind == "too_long":
        soundfile.write(path, noise(OVERLONG_SECONDS, seed), SAMPLE_RATE, format="FLAC")
    else:
        raise ValueError(f"unknown kind {kind!r}")


def part_file(row: dict, part: str) -> str:
    return next(response["audio"] for response in row["responses"] if response["part"] == part)


def plant_bad_files(rows: list[dict], per_kind: int = 2) -> dict[str, str]:
    """`per_kind` bad P3 files of each kind, in sessions spread over the cohort; `{session: kind}`."""
    step = max(1, len(rows) // (per_kind * len(PLANTED_KINDS)))
    planted = {}
    for position, kind in enumerate(kind for kind in PLANTED_KINDS for _ in range(per_kind)):
        row = rows[position * step]
        plant(kind, part_file(row, "P3"), seed=position)
        planted[row["session_id"]] = kind
    return planted


def change_audio(rows: list[dict], planted: dict[str, str], count: int) -> list[str]:
    """Rewrites the first P1 answer of `count` sessions without a planted file at 80 % of its level."""
    changed = []
    for row in reversed(rows):
        if len(changed) == count:
            break
        if row["session_id"] in planted:
            continue
        path = part_file(row, "P1")
        audio, rate = soundfile.read(path, dtype="float32")
        soundfile.write(path, 0.8 * audio, rate, format="FLAC")
        changed.append(row["session_id"])
    return changed


def timed_score(checkpoint: str, corpus: str, output: str, log: str) -> float:
    """Wall seconds of `sla score` of the eval split (a fresh process, no baselines)."""
    command = [sys.executable, "-m", "sla_phi4", "score", "--checkpoint", checkpoint, "--corpus_root", corpus,
               "--split", "eval", "--output_dir", output, "--train_split", ""]
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as handle:
        status = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=False).returncode
    if status != 0:
        raise RuntimeError(f"{' '.join(command)} failed; see {log}")
    return time.perf_counter() - start


def counts_against_truth(report: dict, planted: dict[str, str]) -> dict:
    """Per planted kind: sessions planted, and sessions the report counts under that reason (refused or flagged)."""
    sessions = report["sessions"]
    table = {}
    for kind in PLANTED_KINDS:
        section = sessions["refused"] if kind in REFUSED_KINDS else sessions["flagged"]
        table[kind] = {"planted": sum(value == kind for value in planted.values()),
                       "reported": section["by_reason"].get(kind, 0),
                       "as": "refused" if kind in REFUSED_KINDS else "flagged"}
    return table


def run(workdir: str, sessions: int = 200, changed: int = 5) -> dict:
    os.makedirs(workdir, exist_ok=True)
    corpus = os.path.join(workdir, "corpus")
    make_synthetic_corpus(corpus, sessions=sessions, seed=0, duration_scale=DURATION_SCALE, progress=False,
                          gaps=False, splits=("eval",), split_shares={"eval": 1.0}, overwrite=True)
    checkpoint = build_tiny_checkpoint(os.path.join(workdir, "tiny"), seed=0)
    rows = list(load_kit(corpus, "eval"))
    planted = plant_bad_files(rows)
    output = os.path.join(workdir, "scored")
    full_seconds = timed_score(checkpoint, corpus, output, os.path.join(workdir, "full.log"))
    full = strict_json.loads_strict(open(os.path.join(output, "eval_report.json"), encoding="utf-8").read())
    unchanged_seconds = timed_score(checkpoint, corpus, output, os.path.join(workdir, "unchanged.log"))
    changed_ids = change_audio(rows, planted, changed)
    rerun_seconds = timed_score(checkpoint, corpus, output, os.path.join(workdir, "rerun.log"))
    rerun = strict_json.loads_strict(open(os.path.join(output, "eval_report.json"), encoding="utf-8").read())
    result = {
        "sessions": len(rows), "planted": planted, "counts": counts_against_truth(full, planted),
        "refused": full["sessions"]["refused"]["by_reason"], "flagged": full["sessions"]["flagged"]["by_reason"],
        "scored": full["sessions"]["scored"], "full_seconds": full_seconds,
        "seconds_per_session": full_seconds / len(rows), "changed": changed_ids,
        "rerun_scored": rerun["scoring"]["scored_now"], "rerun_kept": rerun["scoring"]["kept"],
        "rerun_seconds": rerun_seconds, "rerun_over_full": rerun_seconds / full_seconds,
        "unchanged_seconds": unchanged_seconds,
        "rerun_over_full_less_unchanged": (rerun_seconds - unchanged_seconds) / (full_seconds - unchanged_seconds),
    }
    print(format_result(result))
    strict_json.write(os.path.join(workdir, "cohort_scoring.json"), result)
    return result


def format_result(result: dict) -> str:
    lines = [f"{result['sessions']} sessions, {len(result['planted'])} bad files planted; {result['scored']} scored",
             f"{'reason':12} {'planted':>8} {'reported':>9}  as"]
    for kind, values in result["counts"].items():
        lines.append(f"{kind:12} {values['planted']:8d} {values['reported']:9d}  {values['as']}")
    lines.append("all refused by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(result["refused"].items())))
    lines.append("all flagged by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(result["flagged"].items())))
    lines.append(f"full run: {result['full_seconds']:.1f} s ({result['seconds_per_session']:.2f} s a session); "
                 f"rerun after {len(result['changed'])} sessions changed: {result['rerun_seconds']:.1f} s, scored "
                 f"{result['rerun_scored']}, kept {result['rerun_kept']}; rerun/full = {result['rerun_over_full']:.3f}")
    lines.append(f"a rerun with nothing changed: {result['unchanged_seconds']:.1f} s; less that, rerun/full = "
                 f"{result['rerun_over_full_less_unchanged']:.3f} ({len(result['changed'])}/{result['sessions']} = "
                 f"{len(result['changed']) / result['sessions']:.3f})")
    return "\n".join(lines)


__all__ = ["counts_against_truth", "plant", "plant_bad_files", "run"]
