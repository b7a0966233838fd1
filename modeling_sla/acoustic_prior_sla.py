"""Acoustic Proficiency Prior (APP): frozen Whisper encoder, pooled, an MLP over proficiency bands, a projector."""

import torch
from torch import nn
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from .configuration_sla import SLAConfig


class SLAAcousticPriorClassifier(nn.Module):
    """2-layer MLP from a pooled Whisper state to logits over the proficiency bands.

    The pooled state is first standardised with fixed statistics (`input_mean`, `input_scale`), fitted on training
    sessions by `SLAForSessionScoring.fit_app_normalization`: pooled states of a frozen encoder differ little
    between sessions, and an MLP on the raw states stays at the majority band.
    """

    def __init__(self, input_size: int, hidden_size: int, num_classes: int):
        super().__init__()
        self.register_buffer("input_mean", torch.zeros(input_size))
        self.register_buffer("input_scale", torch.ones(input_size))
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_size, num_classes)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        standardized = (pooled - self.input_mean) / self.input_scale
        return self.fc2(self.act(self.fc1(standardized)))


def sum_by_session(values: torch.Tensor, session: torch.Tensor, num_sessions: int) -> torch.Tensor:
    """Rows of `values` `(rows, ...)` summed per session: `(num_sessions, ...)`, the same bits on every run. On CUDA
    `index_add_` adds with atomics in no fixed order (a session's pooled state could change in its last bits from one
    run to the next), so there the sum is a one-hot product; on CPU `index_add_` adds in row order and is kept."""
    if not values.is_cuda:
        return values.new_zeros(num_sessions, *values.shape[1:]).index_add_(0, session, values)
    one_hot = (session[None, :] == torch.arange(num_sessions, device=values.device)[:, None]).to(values.dtype)
    return (one_hot @ values.flatten(1)).view(num_sessions, *values.shape[1:])


def pool_windows(
    encoder_states: torch.Tensor, frame_counts: torch.Tensor, window_session: torch.Tensor, num_sessions: int
) -> torch.Tensor:
    """Masked mean over the valid frames of all windows of each session.

    Args:
        encoder_states: `(num_windows, frames, dim)` Whisper encoder outputs.
        frame_counts: `(num_windows,)` valid encoder frames of each window (the rest is padding).
        window_session: `(num_windows,)` index of the session each window belongs to.
        num_sessions: number of sessions in the batch.
    """
    frames = torch.arange(encoder_states.shape[1], device=encoder_states.device)
    valid = (frames[None, :] < frame_counts.to(encoder_states.device)[:, None]).to(encoder_states.dtype)
    window_sums = (encoder_states * valid[..., None]).sum(dim=1)
    session = window_session.to(encoder_states.device)
    sums = sum_by_session(window_sums, session, num_sessions)
    # counted in float32: bf16 holds whole numbers exactly only up to 256, and a window has up to 1,500 frames
    counts = sum_by_session(valid.sum(dim=1, dtype=torch.float32)[:, None], session, num_sessions)[:, 0]
    if bool((counts == 0).any()):
        missing = (counts == 0).nonzero().flatten().tolist()
        raise ValueError(f"Sessions {missing} of the batch have no APP audio frames.")
    return sums / counts[:, None]


class SLAAcousticPrior(nn.Module):
    """Whisper encoder (frozen) -> pooled state -> band logits -> probabilities -> one prior-token embedding."""

    def __init__(self, config: SLAConfig, hidden_size: int, encoder: WhisperEncoder | None = None):
        super().__init__()
        encoder_config = config.app_encoder_config
        self.window_batch_size = config.app_window_batch_size
        self.encoder = encoder if encoder is not None else WhisperEncoder(encoder_config)
        self.classifier = SLAAcousticPriorClassifier(
            encoder_config.d_model, config.app_hidden_size, config.num_app_classes
        )
        self.projector = nn.Linear(config.num_app_classes, hidden_size)

    @torch.no_grad()
    def pool(
        self, input_features: torch.Tensor, frame_counts: torch.Tensor, window_session: torch.Tensor, num_sessions: int
    ) -> torch.Tensor:
        """Encodes 30 s windows in chunks and pools them per session: `(num_sessions, d_model)`."""
        dtype = self.encoder.conv1.weight.dtype
        states = [
            self.encoder(chunk.to(device=self.encoder.conv1.weight.device, dtype=dtype)).last_hidden_state
            for chunk in input_features.split(self.window_batch_size)
        ]
        return pool_windows(torch.cat(states), frame_counts, window_session, num_sessions)

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.classifier(pooled.to(self.classifier.fc1.weight.dtype))

    def embed(self, probs: torch.Tensor) -> torch.Tensor:
        """The prior token's embedding from band probabilities: `(batch, hidden_size)`."""
        return self.projector(probs.to(self.projector.weight.dtype))


__all__ = ["SLAAcousticPrior", "SLAAcousticPriorClassifier", "pool_windows", "sum_by_session"]
