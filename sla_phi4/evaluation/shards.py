"""Sharded, resumable corpus scoring: each process appends its sessions' predictions to its own shard file as it
goes, and the main process merges every shard into the report and the kit-format files.

    <output_dir>/shards/manifest.json            what the shards score (checkpoint, split, policy): a rerun must match
    <output_dir>/shards/{split}.rank{R}.jsonl    one JSON line per session scored, appended a batch at a time

A batch's lines are written in one call, flushed and synced, so a killed process leaves at most one incomplete last
line; reading repairs that (truncates it) and counts it. A rerun with the same command skips every session that
already has a line in any shard (written by any number of processes), and scores the rest. Sessions are shared
between processes in length-balanced shards (longest first, each to the process with the least audio so far).
"""

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from sla_phi4.data.sessions import session_seconds
from sla_phi4.evaluation.predictions import score_sessions
from sla_phi4.training.session_cache import SessionCache


MANIFEST = "manifest.json"


@dataclass
class ShardRecords:
    """Every session's record found in the shards, and what reading them found."""

    records: dict[str, dict] = field(default_factory=dict)
    duplicates: int = 0  # sessions with more than one line (scored twice)
    repaired: int = 0  # incomplete last lines removed (a process killed mid-write)


def checkpoint_fingerprint(checkpoint: str) -> str:
    """A digest of a checkpoint folder: its config and each weights file's size, head and tail (cheap at any size)."""
    hasher = hashlib.sha256()
    with open(os.path.join(checkpoint, "config.json"), "rb") as handle:
        hasher.update(handle.read())
    for name in sorted(os.listdir(checkpoint)):
        if not name.endswith(".safetensors"):
            continue
        path = os.path.join(checkpoint, name)
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(1 << 20)
            handle.seek(max(0, size - (1 << 20)))
            tail = handle.read()
        hasher.update(f"{name}:{size}".encode() + head + tail)
    return hasher.hexdigest()[:16]


def check_manifest(folder: str, manifest: dict) -> None:
    """Writes the manifest of a new shard folder, or refuses one whose shards score something else."""
    path = os.path.join(folder, MANIFEST)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            found = json.load(handle)
        if found != manifest:
            changed = sorted(key for key in set(found) | set(manifest) if found.get(key) != manifest.get(key))
            raise ValueError(f"{folder} holds predictions of another run ({', '.join(changed)} differ): score into "
                             f"another --output_dir, or delete that folder to start again.")
        return
    os.makedirs(folder, exist_ok=True)
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2)
    os.replace(temporary, path)


def shard_path(folder: str, split: str, rank: int) -> str:
    return os.path.join(folder, f"{split}.rank{rank}.jsonl")


def record(session) -> dict:
    """A scored session (`scoring.ScoredSession`) as a JSON-ready line: NaN scores as null."""
    return {"session_id": session.session_id,
            "scores": [None if not np.isfinite(value) else float(value) for value in session.scores],
            "warnings": session.warnings,
            "app_probs": None if session.app_probs is None else [float(value) for value in session.app_probs]}


class ShardWriter:
    """Appends batches of records to one shard file: whole lines, flushed and synced per batch."""

    def __init__(self, path: str):
        self.handle = open(path, "a", encoding="utf-8")

    def append(self, records: list[dict]) -> None:
        self.handle.write("".join(json.dumps(entry) + "\n" for entry in records))
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def repair(path: str) -> int:
    """Truncates an incomplete last line (no newline) of a shard; returns 1 if it did."""
    with open(path, "rb") as handle:
        data = handle.read()
    if not data or data.endswith(b"\n"):
        return 0
    with open(path, "r+b") as handle:
        handle.truncate(data.rfind(b"\n") + 1)
    return 1


def read_shards(folder: str, split: str) -> ShardRecords:
    """Every record of the split's shards (the first of a session's lines kept, the others counted)."""
    found = ShardRecords()
    if not os.path.isdir(folder):
        return found
    prefix = f"{split}.rank"
    for name in sorted(os.listdir(folder)):
        if not (name.startswith(prefix) and name.endswith(".jsonl")):
            continue
        path = os.path.join(folder, name)
        found.repaired += repair(path)
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}, line {number}: not a JSON record ({error.msg}).") from None
                if entry["session_id"] in found.records:
                    found.duplicates += 1
                    continue
                found.records[entry["session_id"]] = entry
    return found


def balanced_shards(indices: list[int], seconds: Mapping[int, float], processes: int) -> list[list[int]]:
    """`indices` shared between `processes`: longest session first, each to the shard with the least audio so far
    (ties to the lowest rank); deterministic."""
    shards: list[list[int]] = [[] for _ in range(processes)]
    loads = [0.0] * processes
    for index in sorted(indices, key=lambda index: (-seconds[index], index)):
        rank = min(range(processes), key=lambda rank: (loads[rank], rank))
        shards[rank].append(index)
        loads[rank] += seconds[index]
    return [sorted(shard) for shard in shards]


def score_into_shards(model, processor, rows: list[dict], checkpoint: str, corpus_root: str, split: str,
                      output_dir: str, state, batch_size: int | None, on_unscorable: str, cache_dir: str | None
                      ) -> ShardRecords:
    """Scores the sessions of `rows` that no shard holds yet, this process's length-balanced share of them into its
    own shard file; waits for every process, and returns (on the main process) every shard's records."""
    folder = os.path.join(output_dir, "shards")
    manifest = {"checkpoint": checkpoint_fingerprint(checkpoint), "corpus_root": os.path.abspath(corpus_root),
                "split": split, "sessions": len(rows), "on_unscorable": on_unscorable}
    if state.is_main_process:
        check_manifest(folder, manifest)
        done = read_shards(folder, split)  # repairs an incomplete last line before anyone reads it
    state.wait_for_everyone()
    if not state.is_main_process:
        done = read_shards(folder, split)
    todo = [index for index, row in enumerate(rows) if row["session_id"] not in done.records]
    seconds = {index: session_seconds(rows[index]) for index in todo}
    mine = [rows[index] for index in balanced_shards(todo, seconds, state.num_processes)[state.process_index]]
    if state.is_main_process and done.records:
        print(f"{split}: {len(done.records)} sessions already scored in {folder}; scoring the other {len(todo)}.",
              flush=True)
    cache = None
    if cache_dir is not None and mine:
        cache = SessionCache(model, processor, folder=cache_dir)
        cache.add(mine, "Encoding sessions (frozen encoders)")
    with ShardWriter(shard_path(folder, split, state.process_index)) as writer:
        description = f"Scoring sessions (process {state.process_index + 1} of {state.num_processes})"
        for batch in score_sessions(model, processor, mine, batch_size, on_unscorable, cache, description):
            writer.append([record(session) for session in batch])
    state.wait_for_everyone()
    return read_shards(folder, split) if state.is_main_process else ShardRecords()


__all__ = ["ShardRecords", "ShardWriter", "balanced_shards", "check_manifest", "checkpoint_fingerprint",
           "read_shards", "record", "score_into_shards", "shard_path"]
