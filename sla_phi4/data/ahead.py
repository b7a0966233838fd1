"""Work done for each item by worker processes ahead of the process that consumes the results, in order.

The processor's work on a session (decoding and resampling its files, the voice-activity and level checks, the
backbone's and the APP's log-mel features) takes about 0.7 s of one CPU core for a real-length S&I session, longer
than the model takes on a GPU. `sla score` and the session cache of `sla train` hand it to `num_workers` processes (a
torch DataLoader) so that it runs on several cores while the GPU works.
"""

import os
import pickle
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info


MAX_WORKERS = 8  # enough to keep one GPU fed at about 0.7 core-seconds a real-length session
PREFETCH_ITEMS = 1  # per worker: a real-length session's features are about 27 MB, held until used
# How torch reports a worker that died: a bus error (torch tensors in a full /dev/shm), a tensor that cannot be
# written, or a worker killed (out of memory). The work here hands NumPy arrays over, so shared memory is rare.
WORKER_DEATH_SIGNS = ("shared memory", "shm", "Bus error", "No space left on device", "exited unexpectedly",
                      "killed by signal")


@dataclass
class Outcome:
    """What the work on one item gave: its value, or the error it raised (passed on whole, not wrapped)."""

    value: object = None
    error: Exception | None = None


class WorkItems(Dataset):
    """`work(item)` for each item, its error kept as the outcome."""

    def __init__(self, work: Callable, items: list):
        self.work, self.items = work, items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, position: int) -> Outcome:
        try:
            return Outcome(self.work(self.items[position]))
        except Exception as error:  # raised by the consumer, with its own type and message
            return Outcome(error=passable(error) if get_worker_info() is not None else error)


def passable(error: Exception) -> Exception:
    """`error` as a worker can hand it over: with the worker's traceback as a note, and, when it would not survive
    pickling (the consumer would wait for ever, or fail to rebuild it), a RuntimeError carrying its type and
    message instead."""
    where = "in a featurizing worker:\n" + traceback.format_exc()
    try:
        if pickle.loads(pickle.dumps(error)).args != error.args:
            raise TypeError("not rebuilt alike")
    except Exception:  # any failure to round-trip: hand over what it said
        error = RuntimeError(f"{type(error).__name__}: {error}")
    if hasattr(error, "add_note"):  # Python 3.11+
        error.add_note(where)
    return error


def available_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_num_workers(device: torch.device, processes_per_machine: int | None = None) -> int:
    """On an accelerator, this process's share of the machine's cores less one for itself (at most `MAX_WORKERS`;
    `processes_per_machine` defaults to `LOCAL_WORLD_SIZE`, which torchrun and accelerate set); on the CPU none,
    since the model needs the cores."""
    if torch.device(device).type == "cpu":
        return 0
    if processes_per_machine is None:
        processes_per_machine = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(0, min(MAX_WORKERS, available_cores() // max(1, processes_per_machine) - 1))


def one_thread_per_worker(_worker_id: int) -> None:
    """Workers split the cores between them: torch in each uses one thread."""
    torch.set_num_threads(1)


def as_outcome(outcome: Outcome) -> Outcome:
    """The loader's collate: an outcome comes back as its worker made it."""
    return outcome


def worked_ahead(work: Callable, items: Iterable, num_workers: int = 0) -> Iterator:
    """`work(item)` for each of `items`, in order, done by `num_workers` processes ahead of the consumer (0: here,
    when asked for). An error `work` raises is raised here as it was; a worker out of shared memory is said so."""
    if num_workers < 0:
        raise ValueError(f"num_workers must be 0 or more, got {num_workers}.")
    if num_workers:
        # The main process has used the fast tokenizer: forked workers would each warn, and could deadlock.
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    ahead = {"prefetch_factor": PREFETCH_ITEMS, "worker_init_fn": one_thread_per_worker} if num_workers else {}
    loader = DataLoader(WorkItems(work, list(items)), batch_size=None, collate_fn=as_outcome,
                        num_workers=num_workers, **ahead)
    for outcome in shared_memory_checked(loader, num_workers):
        if outcome.error is not None:
            raise outcome.error
        yield outcome.value


def shared_memory_checked(loader: DataLoader, num_workers: int) -> Iterator[Outcome]:
    """The loader's outcomes; a worker that died (most often out of a container's small /dev/shm) is said so."""
    try:
        yield from loader
    except RuntimeError as error:
        if not num_workers or not any(sign in str(error) for sign in WORKER_DEATH_SIGNS):
            raise
        raise RuntimeError(
            f"One of the {num_workers} featurizing workers died ({error}): out of memory, or of shared memory "
            f"(/dev/shm). Pass --num_workers 0 (or fewer), or give the machine or container more (docker run "
            f"--shm-size 8g).") from error


__all__ = ["MAX_WORKERS", "Outcome", "available_cores", "default_num_workers", "worked_ahead"]
