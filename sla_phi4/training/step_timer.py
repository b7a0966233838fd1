"""Seconds per training step, measured around the step itself (forward, backward, optimizer update): not the
batches' loading, evaluation, checkpoints or logging, which `train_runtime` includes."""

import statistics
import time

from transformers import TrainerCallback


class StepTimer(TrainerCallback):
    """Times every optimizer step; at the end of training adds `train_seconds_per_step` (the median: the first
    steps' warm-up and a busy machine's spikes do not move it) and `train_steps_timed` to the Trainer's log
    history."""

    def __init__(self):
        self.seconds: list[float] = []
        self._started: float | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        if self._started is None:  # with gradient accumulation, from a step's first micro-batch
            self._started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._started is not None:
            self.seconds.append(time.perf_counter() - self._started)
        self._started = None

    def on_train_end(self, args, state, control, **kwargs):
        if self.seconds:
            state.log_history.append({"train_seconds_per_step": statistics.median(self.seconds),
                                      "train_steps_timed": len(self.seconds)})


__all__ = ["StepTimer"]
