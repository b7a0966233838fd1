"""Sessions loaded, checked and featurized ahead of the model, in worker processes.

The processor's work (decoding and resampling each file, the voice-activity and level checks, the backbone's and the
APP's log-mel features) takes about half a second of one CPU core for a real-length S&I session of 301 s, longer than
the model takes on a GPU. Run in the main process between forward passes, it would bound `sla score` on a GPU at
about two sessions a second whatever the GPU; in `num_workers` processes it runs beside the model and on several
cores. Batches come back in order, and each worker builds a batch exactly as the main process would, so the scores
are the same bit for bit whatever the number of workers.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, Dataset

from processing_sla.audio_io_sla import AudioInputError
from processing_sla.processing_sla import SessionInputError


MAX_WORKERS = 8  # enough to keep one GPU fed at about 0.7 core-seconds a real-length session
PREFETCH_BATCHES = 1  # per worker: a real-length session's features are about 27 MB, in shared memory until used
SHARED_MEMORY_SIGNS = ("shared memory", "shm", "Bus error", "No space left on device")


@dataclass
class LoadedBatch:
    """What the processor made of one batch of sessions.

    Args:
        indices: the rows that loaded, in the batch's order.
        inputs: their model inputs with `audio_flags` (with `flags_only`, only `audio_flags`); None when none loaded.
        refused: a refusal warning per row whose audio cannot be loaded.
        error: the loader's error, when refusing is not allowed (`on_unreadable="error"`): raised by the consumer,
            so that it keeps its type and message across the process boundary.
    """

    indices: list[int]
    inputs: dict | None
    refused: dict[int, dict] = field(default_factory=dict)
    error: Exception | None = None


def refusal_warning(row: dict, error: Exception) -> dict:
    """The warning of a session whose audio cannot be loaded: the response the error names, and why."""
    reason = getattr(error, "reason", "invalid_session")
    named = [response for response in row["responses"] if f"response {response.get('response_id')}:" in str(error)]
    response = named[0] if named else {"response_id": None, "part": None, "audio": None}
    return {"response_id": response.get("response_id"), "part": response.get("part"), "reason": reason,
            "detail": str(error), "file": response["audio"] if isinstance(response.get("audio"), str) else None}


def processed(processor, sessions: list[dict], flags_only: bool) -> dict:
    """The processor's model inputs of `sessions` with their `audio_flags`, or (`flags_only`, when a session cache
    holds the encoders' outputs) only the flags, from the audio loaded and checked."""
    if not flags_only:
        return dict(processor(sessions))
    return {"audio_flags": [processor.assess_session(session, processor.load_session_audio(session, index))
                            for index, session in enumerate(sessions)]}


def load_batch(processor, rows: list[dict], indices: list[int], flags_only: bool, on_unreadable: str) -> LoadedBatch:
    """The batch of `indices`: every session that loads, and a refusal for each one that cannot
    (`on_unreadable="refuse"`); with `"error"`, the first loader error instead."""
    try:
        return LoadedBatch(indices, processed(processor, [rows[index] for index in indices], flags_only))
    except (AudioInputError, SessionInputError) as error:
        if on_unreadable == "error":
            return LoadedBatch([], None, error=error)
    refused = {}
    for index in indices:  # find the sessions that cannot be loaded, one at a time
        try:
            processed(processor, [rows[index]], flags_only)
        except (AudioInputError, SessionInputError) as error:
            refused[index] = refusal_warning(rows[index], error)
    kept = [index for index in indices if index not in refused]
    inputs = processed(processor, [rows[index] for index in kept], flags_only) if kept else None
    return LoadedBatch(kept, inputs, refused)


class SessionBatches(Dataset):
    """Batches of rows (lists of row indices), each loaded by `load_batch` when asked for."""

    def __init__(self, processor, rows: list[dict], batches: list[list[int]], flags_only: bool, on_unreadable: str):
        self.processor, self.rows, self.batches = processor, rows, batches
        self.flags_only, self.on_unreadable = flags_only, on_unreadable

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, number: int) -> LoadedBatch:
        return load_batch(self.processor, self.rows, self.batches[number], self.flags_only, self.on_unreadable)


def available_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_num_workers(device: torch.device, processes_per_machine: int = 1) -> int:
    """On an accelerator, this process's share of the machine's cores less one for itself (at most `MAX_WORKERS`);
    on the CPU none, since the model needs the cores."""
    if device.type == "cpu":
        return 0
    return max(0, min(MAX_WORKERS, available_cores() // max(1, processes_per_machine) - 1))


def one_thread_per_worker(_worker_id: int) -> None:
    """Workers split the cores between them: torch in each uses one thread."""
    torch.set_num_threads(1)


def as_loaded(batch: LoadedBatch) -> LoadedBatch:
    """The loader's collate: a batch comes back as its worker built it."""
    return batch


def loaded_batches(processor, rows: list[dict], batches: list[list[int]], *, flags_only: bool = False,
                   on_unreadable: str = "error", num_workers: int = 0) -> Iterator[LoadedBatch]:
    """Each batch of `batches` loaded (see `load_batch`), in order; with `num_workers`, by that many processes
    working ahead of the consumer. A loader error is raised here when `on_unreadable="error"`."""
    if num_workers < 0:
        raise ValueError(f"num_workers must be 0 or more, got {num_workers}.")
    if num_workers:
        # The main process has used the fast tokenizer: forked workers would each warn, and could deadlock.
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    ahead = {"prefetch_factor": PREFETCH_BATCHES, "worker_init_fn": one_thread_per_worker} if num_workers else {}
    loader = DataLoader(SessionBatches(processor, rows, batches, flags_only, on_unreadable), batch_size=None,
                        collate_fn=as_loaded, num_workers=num_workers, **ahead)
    for batch in loader_batches(loader, num_workers):
        if batch.error is not None:
            raise batch.error
        yield batch


def loader_batches(loader: DataLoader, num_workers: int) -> Iterator[LoadedBatch]:
    """The loader's batches; a worker that ran out of shared memory (a container's small /dev/shm) is said so."""
    try:
        yield from loader
    except RuntimeError as error:
        if not num_workers or not any(sign in str(error) for sign in SHARED_MEMORY_SIGNS):
            raise
        raise RuntimeError(
            f"The {num_workers} featurizing workers ran out of shared memory (/dev/shm), where they hand the "
            f"sessions' features over: pass --num_workers 0 (or fewer), or give the container more shared memory "
            f"(docker run --shm-size 8g).") from error


__all__ = ["LoadedBatch", "MAX_WORKERS", "available_cores", "default_num_workers", "load_batch", "loaded_batches",
           "processed", "refusal_warning"]
