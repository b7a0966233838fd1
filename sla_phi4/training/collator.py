"""Batches of loader rows: model inputs from the session cache or the processor, with labels and their mask."""

import torch

from modeling_sla import load_test_format
from processing_sla import SLAProcessor
from sla_phi4.training.arguments import APP_TARGETS
from sla_phi4.training.session_cache import SessionCache


class SessionCollator:
    """Builds model inputs for a list of loader rows, from the cache or through the processor. Stage app's targets
    are the bands (`band_values`, the model's APP classes) of the marks."""

    def __init__(self, processor: SLAProcessor, cache: SessionCache | None, stage: str, app_targets: str = "all",
                 band_values: list[float] | None = None):
        self.processor, self.cache, self.stage, self.app_targets = processor, cache, stage, app_targets
        self.test_format = load_test_format(processor.test_format)
        self.band_values = band_values or self.test_format.scale.bands

    def __call__(self, rows: list[dict]) -> dict:
        labels, labels_mask = self.processor.labels_from_scores(rows)
        if self.stage == "app":
            return {"app_pooled": torch.stack([self.cache[row]["app_pooled"] for row in rows]),
                    "app_labels": band_targets(labels, labels_mask, self.test_format, self.app_targets,
                                               self.band_values)}
        if self.cache is None:  # the frozen encoders run every step
            batch = dict(self.processor(rows, assess_audio=False))
        else:
            batch = self.cache.batch(rows)
        batch["labels"], batch["labels_mask"] = labels, labels_mask
        return batch


def band_targets(labels: torch.Tensor, mask: torch.Tensor, test_format, targets: str = "all",
                 band_values: list[float] | None = None) -> torch.Tensor:
    """`(batch, num_scores)` classes of each mark's nearest band (`band_values`, evenly spaced; default the format's
    scale), -100 (ignored by the loss) where a mark is absent or not a target (`targets="overall"`: every column
    but overall). A mark on a scale of its own (TOEFL-like overall, 0-30) is put on the parts' scale first."""
    band_values = band_values or test_format.scale.bands
    low, step, bands = band_values[0], band_values[1] - band_values[0], len(band_values)
    on_parts_scale = labels.clone()
    for column, name in enumerate(test_format.score_names):
        affine = test_format.output_affine(name)
        if affine is not None:
            on_parts_scale[:, column] = (labels[:, column] - affine[1]) / affine[0]
    index = torch.round((on_parts_scale - low) / step).long().clamp(0, bands - 1)
    present = mask.clone()
    if APP_TARGETS[targets] is not None:
        names = test_format.score_names
        present[:, [column for column, name in enumerate(names) if name != APP_TARGETS[targets]]] = False
    return torch.where(present, index, torch.full_like(index, -100))
