"""CUDA graphs of the Phi-4 conformer (`audio_tower_cuda_graphs`): the padded shapes, the static buffers and their
reuse, staleness, and the model's switch. On CPU `EagerReplay` stands in for the CUDA graph: it keeps the graph's
contract (one output buffer, overwritten by every replay), so everything but the capture itself is tested here;
`sla gpu-check` runs the real graphs on a GPU."""

import pytest
import torch

from modeling_sla import SLAForSessionScoring
from modeling_sla.conformer_graphs_sla import (
    FRAME_SIZES,
    ConformerGraphs,
    CudaGraphCapture,
    EagerReplay,
    padded_frames,
    padded_rows,
    rows_per_pass,
)
from modeling_sla.speech_encoding_sla import CONFORMER_FRAMES_PER_PASS, encode_clip_natively, encode_speech_clips
from sla_phi4.testing import make_session


def clips(lengths: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(len(lengths), max(lengths), 80, generator=generator) * 4 + 15
    for row, length in enumerate(lengths):
        features[row, length:] = 1e4  # whatever lies past a clip must not matter
    return features, torch.tensor(lengths), torch.tensor([-(-length // 8) for length in lengths])


def test_padded_shapes_are_few_and_hold_every_pass():
    assert [padded_frames(frames) for frames in (1, 128, 129, 256, 257, 500)] == [128, 128, 256, 256, 512, 512]
    with pytest.raises(ValueError, match="at most 500 frames"):
        padded_frames(501)
    assert [padded_rows(rows) for rows in (1, 2, 3, 15, 16, 17)] == [1, 2, 4, 16, 16, 32]
    for frames in FRAME_SIZES:
        rows = rows_per_pass(frames)
        assert rows & (rows - 1) == 0 and rows * frames <= CONFORMER_FRAMES_PER_PASS < 2 * rows * frames


def test_graphed_passes_equal_each_clip_alone_and_reuse_their_shapes(tiny_model):
    """Clips of many lengths, garbage past each: each equals its native clip-alone encoding; a second session of
    other lengths reuses the shapes the first captured, and both come out right after each other's replays."""
    audio_embed = tiny_model.backbone.embed_tokens_extend.audio_embed
    graphs = ConformerGraphs(EagerReplay())
    first = clips([4500, 301, 57, 1200, 8100, 4001, 4000, 9], seed=0)
    second = clips([4400, 280, 70, 1100, 7900, 3900, 3999, 12], seed=1)
    with torch.no_grad():
        expected = [torch.cat([encode_clip_natively(audio_embed, features[row], int(length), int(size))
                               for row, (length, size) in enumerate(zip(lengths, sizes))])
                    for features, lengths, sizes in (first, second)]
        graphed_first = encode_speech_clips(audio_embed, *first, run_pass=graphs)
        captured_by_first = graphs.captures
        graphed_second = encode_speech_clips(audio_embed, *second, run_pass=graphs)
        again_first = encode_speech_clips(audio_embed, *first, run_pass=graphs)
    for graphed, alone in zip((graphed_first, graphed_second), expected):
        scale = float(alone.abs().max())
        torch.testing.assert_close(graphed, alone, rtol=0, atol=1e-5 * max(scale, 1.0))
    assert torch.equal(again_first, graphed_first)  # each call reads its own rows out before the next replay
    assert captured_by_first == len(graphs.passes) and graphs.captures == captured_by_first  # no new shape
    for rows, frames, *_ in graphs.passes:
        assert frames in FRAME_SIZES and rows & (rows - 1) == 0


def test_a_pass_longer_than_a_graph_is_split_and_each_part_read_out_before_the_next_replay(tiny_model):
    """270 short clips (60 conformer frames each) take two passes of the eager encoding; graphed, the longer one is
    split into parts of 64 rows of 128 frames, the same graph replayed several times in one pass."""
    audio_embed = tiny_model.backbone.embed_tokens_extend.audio_embed
    features, lengths, sizes = clips([480 - row % 3 for row in range(270)], seed=4)
    graphs = ConformerGraphs(EagerReplay())
    with torch.no_grad():
        eager = encode_speech_clips(audio_embed, features, lengths, sizes)
        graphed = encode_speech_clips(audio_embed, features, lengths, sizes, run_pass=graphs)
    assert (64, 128) in [key[:2] for key in graphs.passes] and graphs.replays > graphs.captures
    torch.testing.assert_close(graphed, eager, rtol=0, atol=1e-5 * max(float(eager.abs().max()), 1.0))


def test_graphs_are_recaptured_when_the_weights_move(tiny_model):
    """A graph reads weights where they were at capture: new storage for them (a cast there and back, as gpu-check's
    float32 phase makes, a move, new tensors) drops every graph, and the passes are captured again."""
    audio_embed = tiny_model.backbone.embed_tokens_extend.audio_embed
    features, lengths, sizes = clips([900, 300], seed=2)
    graphs = ConformerGraphs(EagerReplay())
    with torch.no_grad():
        before = encode_speech_clips(audio_embed, features, lengths, sizes, run_pass=graphs)
        captured = graphs.captures
        assert encode_speech_clips(audio_embed, features, lengths, sizes, run_pass=graphs).equal(before)
        assert graphs.captures == captured  # same weights, same shapes: replays only
        audio_embed.double()
        audio_embed.float()  # the same values in new storage
        after = encode_speech_clips(audio_embed, features, lengths, sizes, run_pass=graphs)
    assert graphs.captures == 2 * captured and len(graphs.passes) == captured
    assert torch.equal(after, before)


def test_the_model_switch_uses_the_graphs_on_their_device_only(tiny_checkpoint, tiny_processor):
    """`audio_tower_cuda_graphs=True`: the model's passes go through its graphs where their capture runs (CUDA by
    default, so a CPU model runs eagerly and bitwise as without them), and the scores stay those of the session."""
    model = SLAForSessionScoring.from_pretrained(tiny_checkpoint, audio_tower_cuda_graphs=True).eval()
    assert isinstance(model.audio_tower_graphs.capture, CudaGraphCapture)
    batch = tiny_processor(make_session("graphed", [("P1", 1.3), ("P3", 6.5), ("P4", 5.8), ("P5", 2.4)], seed=3))
    with torch.no_grad():
        eager = model(**batch).scores
        assert not model.audio_tower_graphs.passes
        model.audio_tower_graphs = ConformerGraphs(EagerReplay())
        graphed = model(**batch).scores
        model.config.audio_tower_cuda_graphs = False
        switched_off = model(**batch).scores
    assert model.audio_tower_graphs.passes  # the passes went through the graphs
    assert torch.equal(switched_off, eager)
    torch.testing.assert_close(graphed, eager, rtol=0, atol=1e-4)


def test_only_phi4_has_conformer_graphs(family_checkpoints):
    with pytest.raises(ValueError, match="audio_tower_cuda_graphs.*voxtral"):
        SLAForSessionScoring.from_pretrained(family_checkpoints("voxtral"), audio_tower_cuda_graphs=True)


def test_each_shape_is_captured_on_its_rows_device(tiny_model):
    """A capture is told the rows' device (a CUDA graph must be captured there, whichever device is current)."""
    seen = []

    class RecordingReplay(EagerReplay):
        def __call__(self, run, device):
            seen.append(device)
            return super().__call__(run, device)

    audio_embed = tiny_model.backbone.embed_tokens_extend.audio_embed
    graphs = ConformerGraphs(RecordingReplay())
    with torch.no_grad():
        encode_speech_clips(audio_embed, *clips([900, 300, 4100], seed=5), run_pass=graphs)
    assert seen and len(seen) == graphs.captures and set(seen) == {torch.device("cpu")}
