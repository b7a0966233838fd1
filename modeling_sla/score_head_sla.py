"""Multi-target regression head on the session's pooled hidden state."""

import torch
from torch import nn

from .configuration_sla import SLAConfig
from .test_format_sla import OVERALL


class SLAScoreHead(nn.Module):
    """Standardises the pooled state with fixed statistics, then one linear layer gives every score.

    The linear layer's outputs are on the parts' scale; a target with a scale of its own (an overall of 0-30 over
    parts of 0-4) is mapped linearly onto it, so `forward` gives every score on its target's scale. With
    `overall_mode="part_mean"` the layer outputs the parts only and overall is their mean (weighted where the test
    format's overall rule is).
    """

    def __init__(self, config: SLAConfig, hidden_size: int):
        super().__init__()
        test_format = config.get_test_format()
        self.score_names = list(config.score_names)
        self.overall_index = self.score_names.index(OVERALL) if OVERALL in self.score_names else None
        self.part_mean = config.overall_mode == "part_mean"
        self.part_weights = test_format.part_weights()
        affines = [test_format.output_affine(name) for name in self.score_names]
        # (gain, offset) of each target from the parts' scale onto its own; None when every target is on it.
        self.output_affine = None if all(affine is None for affine in affines) else [
            affine or (1.0, 0.0) for affine in affines]
        num_outputs = config.num_scores - 1 if self.part_mean else config.num_scores
        self.normalize = config.head_normalization
        self.register_buffer("feature_mean", torch.zeros(hidden_size))
        self.register_buffer("feature_std", torch.ones(hidden_size))
        self.linear = nn.Linear(hidden_size, num_outputs)

    def standardize(self, pooled: torch.Tensor) -> torch.Tensor:
        if not self.normalize:
            return pooled
        return (pooled - self.feature_mean) / self.feature_std

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        outputs = self.linear(self.standardize(pooled.to(self.linear.weight.dtype)))
        if self.part_mean:
            if self.part_weights is None:
                overall = outputs.mean(dim=-1, keepdim=True)
            else:
                overall = outputs @ outputs.new_tensor(self.part_weights)[:, None]
            index = self.overall_index
            outputs = torch.cat([outputs[:, :index], overall, outputs[:, index:]], dim=-1)
        if self.output_affine is None:
            return outputs
        gain, offset = (outputs.new_tensor(values) for values in zip(*self.output_affine))
        return outputs * gain + offset

    @property
    def loss_weights(self) -> list[float] | None:
        """Per target, the weight that puts its squared error on the parts' scale (1 / gain²); None when every target
        is on it."""
        if self.output_affine is None:
            return None
        return [1.0 / gain**2 for gain, _ in self.output_affine]

    def outputs_from_scores(self, scores: torch.Tensor) -> torch.Tensor:
        """What the linear layer must output for `scores` (`(..., num_scores)` on the targets' scales): the inverse of
        the mapping onto the targets' scales, without the overall column under `part_mean`."""
        if self.output_affine is not None:
            gain, offset = (scores.new_tensor(values) for values in zip(*self.output_affine))
            scores = (scores - offset) / gain
        if self.part_mean:
            scores = torch.cat([scores[..., : self.overall_index], scores[..., self.overall_index + 1 :]], dim=-1)
        return scores


def masked_mse_loss(scores: torch.Tensor, labels: torch.Tensor, labels_mask: torch.Tensor | None,
                    weights: list[float] | None = None) -> torch.Tensor:
    """Mean squared error over the targets present (mask 1), each target's squared error times its weight (all 1
    when `weights` is None); 0 with a gradient path when none is present."""
    labels = labels.to(scores.dtype)
    mask = torch.isfinite(labels) if labels_mask is None else labels_mask.to(torch.bool) & torch.isfinite(labels)
    squared = torch.where(mask, (scores - torch.nan_to_num(labels)) ** 2, torch.zeros_like(scores))
    if weights is not None:
        squared = squared * squared.new_tensor(weights)
    return squared.sum() / mask.sum().clamp(min=1)


__all__ = ["SLAScoreHead", "masked_mse_loss"]
