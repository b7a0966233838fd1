"""Batches of loader rows: model inputs from the session cache or the processor, with labels and their mask."""

import torch

from processing_sla import SLAProcessor
from sla_phi4.training.arguments import APP_TARGETS
from sla_phi4.training.session_cache import SessionCache


class SessionCollator:
    """Builds model inputs for a list of loader rows, from the cache or through the processor."""

    def __init__(self, processor: SLAProcessor, cache: SessionCache | None, stage: str, app_targets: str = "all"):
        self.processor, self.cache, self.stage, self.app_targets = processor, cache, stage, app_targets

    def __call__(self, rows: list[dict]) -> dict:
        labels, labels_mask = self.processor.labels_from_scores(rows)
        if self.stage == "app":
            return {"app_pooled": torch.stack([self.cache[row]["app_pooled"] for row in rows]),
                    "app_labels": band_targets(labels, labels_mask, self.processor.score_names, self.app_targets)}
        if self.cache is None:  # the frozen encoders run every step
            batch = dict(self.processor(rows, assess_audio=False))
        else:
            batch = self.cache.batch(rows)
        batch["labels"], batch["labels_mask"] = labels, labels_mask
        return batch


def band_targets(labels: torch.Tensor, mask: torch.Tensor, score_names: list[str], targets: str = "all",
                 low=2.0, step=0.5, bands=8) -> torch.Tensor:
    """`(batch, num_scores)` classes of each mark's nearest half band, -100 (ignored by the loss) where a mark is
    absent or not a target (`targets="overall"`: every column but overall)."""
    index = torch.round((labels - low) / step).long().clamp(0, bands - 1)
    present = mask.clone()
    if APP_TARGETS[targets] is not None:
        present[:, [column for column, name in enumerate(score_names) if name != APP_TARGETS[targets]]] = False
    return torch.where(present, index, torch.full_like(index, -100))
