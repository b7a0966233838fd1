"""Multi-target regression head on the session's pooled hidden state."""

import torch
from torch import nn

from .configuration_sla import SLAConfig


class SLAScoreHead(nn.Module):
    """Standardises the pooled state with fixed statistics, then one linear layer gives every score.

    With `overall_mode="part_mean"` the layer outputs the parts only and overall is their mean.
    """

    def __init__(self, config: SLAConfig, hidden_size: int):
        super().__init__()
        self.score_names = list(config.score_names)
        self.overall_index = self.score_names.index("overall") if "overall" in self.score_names else None
        self.part_mean = config.overall_mode == "part_mean"
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
        if not self.part_mean:
            return outputs
        overall = outputs.mean(dim=-1, keepdim=True)
        index = self.overall_index
        return torch.cat([outputs[:, :index], overall, outputs[:, index:]], dim=-1)


def masked_mse_loss(scores: torch.Tensor, labels: torch.Tensor, labels_mask: torch.Tensor | None) -> torch.Tensor:
    """Mean squared error over the targets present (mask 1); 0 with a gradient path when none is present."""
    labels = labels.to(scores.dtype)
    mask = torch.isfinite(labels) if labels_mask is None else labels_mask.to(torch.bool) & torch.isfinite(labels)
    squared = torch.where(mask, (scores - torch.nan_to_num(labels)) ** 2, torch.zeros_like(scores))
    return squared.sum() / mask.sum().clamp(min=1)


__all__ = ["SLAScoreHead", "masked_mse_loss"]
