"""Sharded, resumable corpus scoring: each process appends its sessions' predictions to its own shard file as it
goes, and the main process merges every shard into the report and the kit-format files.

    <output_dir>/shards/manifest.json            what the shards score: the checkpoint's SHA-256 (weights, config,
                                                 processor), the test format, split and policies (a rerun must
                                                 match, or pass --overwrite), and per session each response's path,
                                                 size, mtime and SHA-256 with the session's digest
    <output_dir>/shards/{split}.rank{R}.jsonl    one JSON line per session scored (with the digest of the inputs it
                                                 was scored from), appended a batch at a time

A batch's lines are written in one call, flushed and synced, so a killed process leaves at most one incomplete last
line; reading repairs that (truncates it) and counts it. A rerun skips every session that already has a line made
from its current inputs (its digest) in any shard, written by any number of processes, and scores the rest: the
sessions never scored and those whose audio, question or response IDs changed (their old lines are left in place,
counted as stale and never read again). Sessions are shared between processes in length-balanced shards (longest
first, each to the process with the least audio so far).
"""

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from sla_phi4.evaluation.intake import Intake, file_sha256
from sla_phi4.evaluation.predictions import score_sessions
from sla_phi4.training.session_cache import SessionCache


MANIFEST = "manifest.json"
# Manifest keys a rerun does not have to match: where things were (paths), and each session's inputs (compared per
# session, through the digests of the shard lines).
UNCHECKED_KEYS = ("about", "inputs")
CHECKPOINT_FILES = ("config.json", "processor_config.json", "test_format.json")


@dataclass
class ShardRecords:
    """Every session's record found in the shards, and what reading them found."""

    records: dict[str, dict] = field(default_factory=dict)
    duplicates: int = 0  # sessions with more than one line from the same inputs (scored twice)
    repaired: int = 0  # incomplete last lines removed (a process killed mid-write)
    stale: int = 0  # lines made from other inputs than the sessions' current ones (the audio changed since)


def checkpoint_fingerprint(checkpoint: str) -> str:
    """The SHA-256 of a checkpoint folder: its config, processor config, test format and every weights file (each
    `*.safetensors` and its index), read in full."""
    hasher = hashlib.sha256()
    names = [name for name in sorted(os.listdir(checkpoint))
             if name in CHECKPOINT_FILES or name.endswith((".safetensors", ".safetensors.index.json"))]
    for name in names:
        hasher.update(f"{name}:{file_sha256(os.path.join(checkpoint, name))}\n".encode())
    return hasher.hexdigest()


class StaleShardsError(ValueError):
    """Raised for an output folder whose shards were scored by another checkpoint, format or policy."""


def check_manifest(folder: str, manifest: dict, overwrite: bool = False) -> None:
    """Writes the manifest of the shard folder, after refusing one whose shards score something else (another
    checkpoint, test format, split or policy; `overwrite` deletes its shards instead)."""
    path = os.path.join(folder, MANIFEST)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            found = json.load(handle)
        changed = sorted(key for key in set(found) | set(manifest)
                         if key not in UNCHECKED_KEYS and found.get(key) != manifest.get(key))
        if changed and not overwrite:
            raise StaleShardsError(f"{folder} holds predictions of another run ({', '.join(changed)} differ): score "
                                   f"into another --output_dir, or pass --overwrite to delete them and start again.")
        if changed:
            for name in os.listdir(folder):
                if name == MANIFEST or (".rank" in name and name.endswith(".jsonl")):
                    os.remove(os.path.join(folder, name))
    os.makedirs(folder, exist_ok=True)
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2, allow_nan=False)
    os.replace(temporary, path)


def shard_path(folder: str, split: str, rank: int) -> str:
    return os.path.join(folder, f"{split}.rank{rank}.jsonl")


def record(session, inputs: str | None = None) -> dict:
    """A scored session (`predictions.ScoredSession`) as a JSON-ready line: NaN scores as null; `inputs` is the
    digest of what it was scored from."""
    return {"session_id": session.session_id, "inputs": inputs, "refused": session.refused,
            "scores": [None if not np.isfinite(value) else float(value) for value in session.scores],
            "warnings": session.warnings,
            "app_probs": None if session.app_probs is None else [float(value) for value in session.app_probs]}


class ShardWriter:
    """Appends batches of records to one shard file: whole lines, flushed and synced per batch."""

    def __init__(self, path: str):
        self.handle = open(path, "a", encoding="utf-8")

    def append(self, records: list[dict]) -> None:
        self.handle.write("".join(json.dumps(entry, allow_nan=False) + "\n" for entry in records))
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


def read_shards(folder: str, split: str, digests: Mapping[str, str] | None = None) -> ShardRecords:
    """Every record of the split's shards (the first of a session's lines kept, the others counted). With
    `digests` (each session's current inputs), a line made from other inputs is stale: counted, not kept."""
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
                if digests is not None and entry.get("inputs") != digests.get(entry["session_id"]):
                    found.stale += 1
                    continue
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


def score_into_shards(model, processor, intake: Intake, manifest: dict, split: str, output_dir: str, state,
                      batch_size: int | None, on_unscorable: str, cache_dir: str | None, overwrite: bool = False,
                      on_unreadable: str = "refuse", num_workers: int | None = None) -> tuple[ShardRecords, int]:
    """Scores the sessions of `intake.rows` that no shard holds from their current inputs, this process's
    length-balanced share of them into its own shard file; waits for every process, and returns (on the main
    process) every shard's current records, and how many sessions this run scored."""
    folder = os.path.join(output_dir, "shards")
    digests = {session_id: inputs["digest"] for session_id, inputs in intake.inputs.items()}
    if state.is_main_process:
        check_manifest(folder, manifest, overwrite)
        done = read_shards(folder, split, digests)  # repairs an incomplete last line before anyone reads it
    state.wait_for_everyone()
    if not state.is_main_process:
        done = read_shards(folder, split, digests)
    rows = intake.rows
    todo = [index for index, row in enumerate(rows) if row["session_id"] not in done.records]
    seconds = {index: intake.seconds[rows[index]["session_id"]] for index in todo}
    mine = [rows[index] for index in balanced_shards(todo, seconds, state.num_processes)[state.process_index]]
    if state.is_main_process and (done.records or done.stale):
        stale = f" ({done.stale} earlier lines were made from other inputs: stale)" if done.stale else ""
        print(f"{split}: {len(done.records)} sessions already scored in {folder}; scoring the other {len(todo)}."
              f"{stale}", flush=True)
    cache = None
    if cache_dir is not None and mine:
        cache = SessionCache(model, processor, folder=cache_dir, num_workers=num_workers)
        cache.add(mine, "Encoding sessions (frozen encoders)", skip_unreadable=True)  # refused when scored
    with ShardWriter(shard_path(folder, split, state.process_index)) as writer:
        description = f"Scoring sessions (process {state.process_index + 1} of {state.num_processes})"
        for batch in score_sessions(model, processor, mine, batch_size, on_unscorable, cache, description,
                                    on_unreadable, [intake.seconds[row["session_id"]] for row in mine],
                                    num_workers):
            writer.append([record(session, digests[session.session_id]) for session in batch])
    state.wait_for_everyone()
    if not state.is_main_process:
        return ShardRecords(), len(todo)
    found = read_shards(folder, split, digests)
    found.stale = done.stale
    return found, len(todo)


__all__ = ["ShardRecords", "ShardWriter", "StaleShardsError", "balanced_shards", "check_manifest",
           "checkpoint_fingerprint", "read_shards", "record", "score_into_shards", "shard_path"]
