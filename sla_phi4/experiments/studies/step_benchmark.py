"""Seconds per training step of several trained models, measured in turns on one batch: on a machine shared with
other work, runs trained hours apart see different loads, so their own step times compare badly; taking turns, step
by step, every model sees the same load."""

import statistics
import time

import torch
from tqdm.auto import tqdm

from modeling_sla import SLAForSessionScoring
from processing_sla import SLAProcessor
from sla_phi4.data.sessions import scorable_rows
from sla_phi4.training.collator import SessionCollator
from sla_phi4.training.session_cache import SessionCache


class SteppingModel:
    """A trained model, its batch from the session cache and an AdamW over what stage sla trains."""

    def __init__(self, folder: str, rows: list[dict], cache_dir: str):
        self.model = SLAForSessionScoring.from_pretrained(folder)
        processor = SLAProcessor.from_pretrained(folder)
        cache = SessionCache(self.model, processor, folder=cache_dir)
        cache.add(rows, "Encoding the benchmark batch")
        self.batch = SessionCollator(processor, cache, "sla")(rows)
        parameters = [parameter for parameter in self.model.parameters() if parameter.requires_grad]
        self.optimizer = torch.optim.AdamW(parameters, lr=1e-5)
        self.model.train()

    def step(self) -> float:
        """One forward, backward and update; its seconds."""
        started = time.perf_counter()
        self.model(**self.batch).loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        return time.perf_counter() - started


def step_seconds(folders: dict[str, str], corpus_dir: str, cache_dir: str, rounds: int = 10,
                 batch_size: int = 8) -> dict[str, dict]:
    """`{label: {"median", "values"}}`: seconds per step of each model on the same first `batch_size` train
    sessions, one step of each in turn for `rounds` rounds, after one warm-up step each."""
    torch.set_flush_denormal(True)
    rows = scorable_rows(corpus_dir, "train", "error")[:batch_size]
    models = {label: SteppingModel(folder, rows, cache_dir) for label, folder in folders.items()}
    for model in models.values():
        model.step()
    seconds = {label: [] for label in models}
    for _ in tqdm(range(rounds), desc="Timing training steps in turns", unit="round"):
        for label, model in models.items():
            seconds[label].append(model.step())
    return {label: {"median": statistics.median(values), "values": values} for label, values in seconds.items()}


__all__ = ["SteppingModel", "step_seconds"]
