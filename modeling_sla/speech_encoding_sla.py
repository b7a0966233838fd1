"""Encoding of a session's speech clips with the frozen Phi-4 audio conformer, in one masked pass (or a few).

The native conformer does not mask padding (it adds a boolean mask to a float attention bias) and its convolutional
subsampling sees padded frames, so a padded batch would change a clip's encoding. Here the clips share passes and
each is still encoded exactly as alone (within float rounding):

- subsampling: padded feature frames are zeroed after the input normalisation and before every strided
  convolution, as the zero padding of a clip alone has them;
- the conformer layers: the native model cuts a clip of more than 500 subsampled frames into rows of 500 (the last
  one zero-filled, and those zeros attended, as alone); every such row and every shorter clip is one row of a
  batch; padded keys get an additive -inf-like bias (the native `mask + bias` is kept for valid keys), and padded
  frames are zeroed before every layer. The conformer's depthwise convolutions are causal (padded by
  `kernel_size - 1` and cut at the end), so right padding never reaches a valid frame through them.
"""

import math
from collections.abc import Callable

import torch
from torch import nn


# `Phi4MultimodalAudioModel.forward` unfolds sequences longer than this many subsampled frames into rows of it.
UNFOLD_FRAMES = 500
# Bounds on one pass, in frames of the padded batch: feature frames into the subsampling (its first convolution's
# output is 1,024 channels x half the frames x 40 mel bins), and subsampled frames into the conformer layers.
SUBSAMPLING_FRAMES_PER_PASS = 60_000
CONFORMER_FRAMES_PER_PASS = 16_000
# What one more pass costs, in padded frames: clips are grouped by length to trade padding against passes (a pass of
# the 24 conformer layers launches a few hundred kernels, the time of about one 500-frame row on a GPU).
SUBSAMPLING_PASS_OVERHEAD = UNFOLD_FRAMES * 8
CONFORMER_PASS_OVERHEAD = UNFOLD_FRAMES

# `(encoder, rows, valid)` -> the rows after the conformer layers: how one pass runs (eagerly, or replayed as a graph).
ConformerPass = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def passes_within(lengths: list[int], budget: int, overhead: int) -> list[list[int]]:
    """Indices grouped into passes of similar lengths at the least cost: each pass costs its padded frames (items
    times the longest) plus `overhead` frames, and holds at most `budget` padded frames (a longer item goes alone).
    Exact dynamic programming over the items sorted by length."""
    order = sorted(range(len(lengths)), key=lambda item: (lengths[item], item))
    best, cut = [0] + [math.inf] * len(order), [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        longest = lengths[order[end - 1]]
        for start in range(end - 1, -1, -1):
            padded = (end - start) * longest
            if padded > budget and end - start > 1:
                break
            if best[start] + overhead + padded < best[end]:
                best[end], cut[end] = best[start] + overhead + padded, start
    passes, end = [], len(order)
    while end:
        passes.append(order[cut[end] : end])
        end = cut[end]
    return passes[::-1]


def zero_past(hidden: torch.Tensor, lengths: torch.Tensor, dim: int) -> torch.Tensor:
    """`hidden` with every position at or past each row's length along `dim` set to zero."""
    positions = torch.arange(hidden.shape[dim], device=hidden.device)
    keep = positions[None, :] < lengths.to(hidden.device)[:, None]
    shape = [1] * hidden.dim()
    shape[0], shape[dim] = keep.shape
    return hidden * keep.view(shape).to(hidden.dtype)


def strided_length(length: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """Output frames of `conv` along time for `length` input frames."""
    kernel, stride, padding = conv.kernel_size[0], conv.stride[0], conv.padding[0]
    return (length + 2 * padding - kernel) // stride + 1


def subsample(encoder: nn.Module, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The conformer's normalisation and convolutional subsampling of padded clips, each as if alone:
    `(clips, frames, hidden)` and the subsampled frames of each clip."""
    hidden = zero_past(encoder.encoder_embedding(features), lengths, dim=1).unsqueeze(1)
    for layer in encoder.embed.conv:
        if isinstance(layer, nn.Conv2d) and layer.kernel_size[0] > 1:
            hidden = layer(zero_past(hidden, lengths, dim=2))
            lengths = strided_length(lengths, layer)
        else:
            hidden = layer(hidden)
    clips, _, frames, _ = hidden.shape
    return encoder.embed.out(hidden.transpose(1, 2).reshape(clips, frames, -1)), lengths


def clip_rows(states: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[int], list[int]]:
    """The conformer rows of subsampled clips as the native model lays a clip out alone: a clip of more than
    `UNFOLD_FRAMES` frames is zero-filled to a multiple of it and cut into rows of it (all attended). Returns the rows,
    their valid frames, and the number of rows of each clip."""
    rows, valid, counts = [], [], []
    for state in states:
        frames = state.shape[0]
        if frames <= UNFOLD_FRAMES:
            rows.append(state)
            valid.append(frames)
            counts.append(1)
            continue
        count = math.ceil(frames / UNFOLD_FRAMES)
        filled = nn.functional.pad(state, (0, 0, 0, count * UNFOLD_FRAMES - frames))
        rows += list(filled.view(count, UNFOLD_FRAMES, -1))
        valid += [UNFOLD_FRAMES] * count
        counts.append(count)
    return rows, valid, counts


def streaming_mask(encoder: nn.Module, frames: int, device: torch.device) -> torch.Tensor:
    """The conformer's chunked streaming mask for rows of `frames` frames, `(1, frames, frames)` booleans (built on the
    CPU by the native model, then moved)."""
    config = encoder.config
    return encoder._streaming_mask(frames, 1, config.chunk_size, config.left_chunk).to(device)


def conformer_attention_bias(
    encoder: nn.Module, hidden: torch.Tensor, valid: torch.Tensor, streaming: torch.Tensor | None = None
) -> torch.Tensor:
    """The native additive attention input for valid keys (streaming mask as 0/1 plus the relative-position bias),
    and the dtype's lowest value for padded keys: `(rows, heads, frames, frames)`. `streaming` defaults to
    `streaming_mask` of the rows' frames."""
    rows, frames, _ = hidden.shape
    if streaming is None:
        streaming = streaming_mask(encoder, frames, hidden.device)
    bias = encoder.relative_attention_bias_layer(hidden)
    native = streaming.unsqueeze(1).to(bias.dtype) + bias  # what the native model adds: True counts as 1
    padded_keys = torch.arange(frames, device=hidden.device)[None, :] >= valid.to(hidden.device)[:, None]
    return native.expand(rows, -1, -1, -1).masked_fill(padded_keys[:, None, None, :], torch.finfo(bias.dtype).min)


def run_conformer_layers(
    encoder: nn.Module, hidden: torch.Tensor, valid: torch.Tensor, streaming: torch.Tensor | None = None
) -> torch.Tensor:
    """The conformer layers over right-padded rows with `valid` frames each; padded frames are zeroed before every
    layer, so nothing non-finite can grow there. With `streaming` given (and `valid` on the rows' device) it only
    launches device work, so a CUDA graph can capture it."""
    attention_bias = conformer_attention_bias(encoder, hidden, valid, streaming)
    for layer in encoder.encoders:
        hidden = layer(zero_past(hidden, valid, dim=1), attention_bias)
    return hidden


def pad_rows(rows: list[torch.Tensor]) -> torch.Tensor:
    """Rows `(frames_i, hidden)` stacked and right-padded with zeros to the longest."""
    return nn.utils.rnn.pad_sequence(rows, batch_first=True)


def encode_conformer(
    encoder: nn.Module, features: torch.Tensor, lengths: list[int], run_pass: ConformerPass = run_conformer_layers
) -> list[torch.Tensor]:
    """Conformer states `(subsampled_frames_i, hidden)` of each clip, as if each were encoded alone. `run_pass` runs
    the conformer layers over one pass of padded rows (`run_conformer_layers`, or a `ConformerGraphs`)."""
    subsampled: list[torch.Tensor | None] = [None] * len(lengths)
    for indices in passes_within(lengths, SUBSAMPLING_FRAMES_PER_PASS, SUBSAMPLING_PASS_OVERHEAD):
        longest = max(lengths[index] for index in indices)
        hidden, frames = subsample(encoder, features[indices, :longest], torch.tensor([lengths[i] for i in indices]))
        for row, (index, count) in enumerate(zip(indices, frames.tolist())):
            subsampled[index] = hidden[row, :count]
    rows, valid, counts = clip_rows(subsampled)
    encoded: list[torch.Tensor | None] = [None] * len(rows)
    for indices in passes_within(valid, CONFORMER_FRAMES_PER_PASS, CONFORMER_PASS_OVERHEAD):
        hidden = run_pass(encoder, pad_rows([rows[index] for index in indices]),
                          torch.tensor([valid[index] for index in indices]))
        for row, index in enumerate(indices):
            encoded[index] = hidden[row, : valid[index]]
    states, start = [], 0
    for clip, count in zip(subsampled, counts):
        states.append(torch.cat(encoded[start : start + count])[: clip.shape[0]])
        start += count
    return states


@torch.no_grad()
def encode_clip_natively(audio_embedding: nn.Module, features: torch.Tensor, length: int, size: int) -> torch.Tensor:
    """One clip `(frames, num_mel_bins)` encoded alone by the native conformer (no padding, no mask) and projected:
    the reference that `encode_speech_clips` equals. `(size, hidden_size)`."""
    encoder_weight = next(audio_embedding.encoder.parameters())
    clip = features[None, :length].to(device=encoder_weight.device, dtype=encoder_weight.dtype)
    projection = audio_embedding.up_proj_for_speech
    states = audio_embedding.encoder(clip, None)[0, :size].to(projection.weight.dtype)
    return audio_embedding.down_proj_for_speech(nn.functional.gelu(projection(states)))


@torch.no_grad()
def encode_speech_clips(
    audio_embedding: nn.Module,
    input_features: torch.Tensor,
    feature_lengths: torch.Tensor,
    embed_sizes: torch.Tensor,
    run_pass: ConformerPass = run_conformer_layers,
) -> torch.Tensor:
    """Encodes clips into the backbone's embedding space, each as if alone, in as few passes as memory allows.

    Args:
        audio_embedding: the backbone's `Phi4MultimodalAudioEmbedding` (conformer and speech projections).
        input_features: `(num_clips, max_frames, num_mel_bins)` log-mel features; frames past a clip's length are
            ignored whatever they hold.
        feature_lengths: `(num_clips,)` number of valid feature frames of each clip.
        embed_sizes: `(num_clips,)` number of audio tokens of each clip in the text sequence.
        run_pass: how a pass of the conformer layers runs: eagerly (the default), or a `ConformerGraphs` replaying
            CUDA graphs of a few padded shapes.

    Returns:
        `(sum(embed_sizes), hidden_size)`: the clips' audio token embeddings, concatenated in clip order.
    """
    projection = audio_embedding.up_proj_for_speech
    # transformers may keep the conformer in float32 while the projections follow the model's dtype
    encoder_weight = next(audio_embedding.encoder.parameters())
    features = input_features.to(device=encoder_weight.device, dtype=encoder_weight.dtype)
    lengths, sizes = feature_lengths.tolist(), embed_sizes.tolist()
    states = encode_conformer(audio_embedding.encoder, features, lengths, run_pass)
    for index, (state, size) in enumerate(zip(states, sizes)):
        if state.shape[0] < size:
            raise ValueError(
                f"Clip {index} has {lengths[index]} feature frames, which encode to {state.shape[0]} audio tokens, "
                f"but the text holds {size} placeholders for it."
            )
    tokens = torch.cat([state[:size] for state, size in zip(states, sizes)]).to(projection.weight.dtype)
    return audio_embedding.down_proj_for_speech(nn.functional.gelu(projection(tokens)))


__all__ = [
    "CONFORMER_FRAMES_PER_PASS", "SUBSAMPLING_FRAMES_PER_PASS", "UNFOLD_FRAMES", "ConformerPass",
    "encode_clip_natively", "encode_speech_clips", "run_conformer_layers", "streaming_mask",
]
