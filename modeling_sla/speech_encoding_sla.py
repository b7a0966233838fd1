"""Exact encoding of speech clips with the frozen Phi-4 audio conformer.

The native conformer does not mask padding (it adds a boolean mask to a float attention bias) and its convolutions
see padded frames, so a clip's encoding would change with the longest clip in its batch. Here every clip is
encoded without padding: clips of equal length share a forward pass, all others run alone.
"""

import torch
from torch import nn


# The conformer unfolds clips longer than 500 subsampled frames (8 feature frames each) into chunks, and that path
# fails for a batch of several such clips (a `view` on a non-contiguous tensor): they are encoded one at a time.
MAX_GROUPED_FRAMES = 500 * 8


def group_by_length(lengths: list[int]) -> list[tuple[int, list[int]]]:
    """(length, clip indices) groups: clips of equal length together, clips over `MAX_GROUPED_FRAMES` alone."""
    groups: dict[int, list[int]] = {}
    alone: list[tuple[int, list[int]]] = []
    for index, length in enumerate(lengths):
        if length > MAX_GROUPED_FRAMES:
            alone.append((int(length), [index]))
        else:
            groups.setdefault(int(length), []).append(index)
    return list(groups.items()) + alone


@torch.no_grad()
def encode_speech_clips(
    audio_embedding: nn.Module,
    input_features: torch.Tensor,
    feature_lengths: torch.Tensor,
    embed_sizes: torch.Tensor,
) -> torch.Tensor:
    """Encodes clips into the backbone's embedding space, each without any padding.

    Args:
        audio_embedding: the backbone's `Phi4MultimodalAudioEmbedding` (conformer and speech projections).
        input_features: `(num_clips, max_frames, num_mel_bins)` log-mel features, zero beyond each clip's length.
        feature_lengths: `(num_clips,)` number of valid feature frames of each clip.
        embed_sizes: `(num_clips,)` number of audio tokens of each clip in the text sequence.

    Returns:
        `(sum(embed_sizes), hidden_size)`: the clips' audio token embeddings, concatenated in clip order.
    """
    projection = audio_embedding.up_proj_for_speech
    # transformers may keep the conformer in float32 while the projections follow the model's dtype
    encoder_weight = next(audio_embedding.encoder.parameters())
    features = input_features.to(device=encoder_weight.device, dtype=encoder_weight.dtype)
    sizes = embed_sizes.tolist()
    per_clip: list[torch.Tensor | None] = [None] * len(sizes)
    for length, indices in group_by_length(feature_lengths.tolist()):
        hidden = audio_embedding.encoder(features[indices, :length], None).to(projection.weight.dtype)
        hidden = audio_embedding.down_proj_for_speech(nn.functional.gelu(projection(hidden)))
        for row, index in enumerate(indices):
            if hidden.shape[1] < sizes[index]:
                raise ValueError(
                    f"Clip {index} has {length} feature frames, which encode to {hidden.shape[1]} audio tokens, "
                    f"but the text holds {sizes[index]} placeholders for it."
                )
            per_clip[index] = hidden[row, : sizes[index]]
    return torch.cat(per_clip, dim=0)


__all__ = ["MAX_GROUPED_FRAMES", "encode_speech_clips", "group_by_length"]
