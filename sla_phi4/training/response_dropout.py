"""`--drop_responses P`: truncation as augmentation in stage sla.

Every epoch, each training session loses each of its responses with probability P, drawn from (seed, epoch,
session): the same draws on a rerun, a resumed run or another process. Never all of a part's responses when the
session has a mark for that part (one of them, at random, stays), and never all of a session's.

With the session cache the truncated sessions are encoded exactly, as the processor renders them: their clips packed
into windows of their own and the APP pooled over the responses kept. Slicing them out of the whole session's
encoding would not be exact: packed clips share Whisper windows (a kept clip's tokens heard the dropped clip beside
it) and the APP's pooled state averages over every response. So every epoch's draws are made before training and
each distinct truncated session is encoded once, up front, into the cache (kept on disk with `--cache_dir`); the
training steps then read from the cache as for whole sessions.
"""

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from torch.utils.data import Dataset
from transformers import TrainerCallback

from sla_phi4.data.session_truncation import part_positions, without_responses
from sla_phi4.training.distributed import is_main_process



def session_number(session_id: str) -> int:
    """A stable number for a session ID (Python's `hash` of a string changes between processes)."""
    return int.from_bytes(hashlib.sha256(session_id.encode()).digest()[:8], "little")


@dataclass(frozen=True)
class ResponseDropout:
    """Which responses a training session loses in an epoch.

    Args:
        probability: each response is lost with this probability (0 keeps every session whole).
        seed: with the epoch and the session ID, fixes every draw.
    """

    probability: float
    seed: int = 0

    def __post_init__(self):
        if not 0.0 <= self.probability < 1.0:
            raise ValueError(f"--drop_responses must be in [0, 1), got {self.probability}.")

    def dropped(self, row: dict, epoch: int) -> list[int]:
        """Positions of the responses `row` loses in `epoch`."""
        responses = row["responses"]
        if self.probability == 0.0 or not responses:
            return []
        draws = np.random.default_rng([self.seed, epoch, session_number(row["session_id"])]).random(len(responses))
        lost = draws < self.probability
        for part in dict.fromkeys(response["part"] for response in responses):  # a marked part keeps a response
            positions = part_positions(row, part)
            if row.get(part) is not None and positions and lost[positions].all():
                lost[positions[int(np.argmax(draws[positions]))]] = False  # uniform among them: draws are iid
        if lost.all():
            lost[int(np.argmax(draws))] = False
        return np.flatnonzero(lost).tolist()

    def __call__(self, row: dict, epoch: int) -> dict:
        """`row` as it is heard in `epoch` (itself when it loses nothing)."""
        return without_responses(row, self.dropped(row, epoch))


class DroppedResponses(Dataset):
    """Training rows, each truncated by `dropout` for the current epoch (`set_epoch`)."""

    def __init__(self, rows: list[dict], dropout: ResponseDropout):
        self.rows, self.dropout, self.epoch = list(rows), dropout, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.dropout(self.rows[index], self.epoch)

    def truncated_sessions(self, epochs: int) -> list[dict]:
        """Every distinct truncated session of epochs `0 .. epochs - 1` (whole sessions left out)."""
        found = {}
        for epoch in range(epochs):
            for row in self.rows:
                truncated = self.dropout(row, epoch)
                if truncated is not row:
                    found.setdefault(truncated["session_id"], truncated)
        return list(found.values())


class EpochOfDroppedResponses(TrainerCallback):
    """Tells the dataset which epoch begins (after a resume too: the epoch comes from the Trainer's state)."""

    def __init__(self, dataset: DroppedResponses):
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.dataset.set_epoch(int(math.floor(state.epoch + 1e-6)))


def epochs_to_run(training_args, num_rows: int) -> int:
    """The epochs the Trainer will start (with `max_steps`, from the optimizer steps an epoch takes)."""
    if training_args.max_steps is not None and training_args.max_steps > 0:
        per_step = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
        per_epoch = max(math.ceil(num_rows / (per_step * max(training_args.world_size, 1))), 1)
        return math.ceil(training_args.max_steps / per_epoch)
    return math.ceil(training_args.num_train_epochs)


def response_dropout_data(train_rows: list[dict], training_args, cache=None) -> tuple:
    """The training dataset and its callbacks: the rows themselves and none without `--drop_responses`; else a
    `DroppedResponses` whose every truncated session is first encoded into `cache` (when there is one)."""
    if not training_args.drop_responses:
        return train_rows, []
    seed = training_args.data_seed if training_args.data_seed is not None else training_args.seed
    dataset = DroppedResponses(train_rows, ResponseDropout(training_args.drop_responses, seed))
    epochs = epochs_to_run(training_args, len(train_rows))
    truncated = dataset.truncated_sessions(epochs)
    if is_main_process():
        print(f"--drop_responses {training_args.drop_responses}: {len(truncated)} truncated sessions over {epochs} "
              f"epochs of {len(train_rows)} train sessions.", flush=True)
    if cache is not None:
        cache.add(truncated, "Encoding truncated sessions (--drop_responses)")
    return dataset, [EpochOfDroppedResponses(dataset)]


__all__ = ["DroppedResponses", "EpochOfDroppedResponses", "ResponseDropout", "epochs_to_run", "response_dropout_data"]
