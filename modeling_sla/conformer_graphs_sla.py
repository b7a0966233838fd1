"""CUDA graphs of the Phi-4 conformer's layers (opt-in: `SLAConfig.audio_tower_cuda_graphs`).

`speech_encoding_sla.py` runs a session's clips through the conformer in one masked pass or a few, but a pass of its
24 layers is hundreds of small kernels: on a GPU it is bound by launching them (about 4 % MFU on an H200). A CUDA
graph launches a captured pass at once. A graph holds one shape, so each pass is padded to one of a few fixed shapes
(frames one of `FRAME_SIZES`, rows a power of two), its padding masked as every pass's padding is, and each shape is
captured at its first use: a cohort's sessions reuse a handful of graphs however their clips' lengths differ.

A clip's encoding then depends on the padded shape of its pass (the GEMMs see other shapes), not on other sessions:
a session's scores stay the same alone, in any batch and in any order.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from .speech_encoding_sla import CONFORMER_FRAMES_PER_PASS, UNFOLD_FRAMES, run_conformer_layers, streaming_mask


# The frames a graphed pass is padded to: conformer rows are never longer than `UNFOLD_FRAMES` (500), and multiples
# of 16 keep the attention bias aligned for the memory-efficient kernel (it pads a bias that is not). Positions past
# a row's frames are masked, and the streaming mask and the relative-position bias of the first 500 frames do not
# depend on how many frames follow.
FRAME_SIZES = (128, 256, 512)
# Eager runs of a new shape on a side stream before its capture, as torch.cuda.graphs asks (lazy initialisation of
# kernels and workspaces must not happen inside a capture).
WARMUP_RUNS = 2


class PassCapture(Protocol):
    """Captures the work of `run()` on `device`: returns its output tensor, which each replay overwrites, and the
    replay. `device_type` names the devices it captures on."""

    device_type: str

    def __call__(
        self, run: Callable[[], torch.Tensor], device: torch.device
    ) -> tuple[torch.Tensor, Callable[[], None]]: ...


def padded_frames(frames: int) -> int:
    """The smallest of `FRAME_SIZES` that holds `frames`."""
    if frames > UNFOLD_FRAMES:
        raise ValueError(f"A conformer row has at most {UNFOLD_FRAMES} frames, got {frames}.")
    return next(size for size in FRAME_SIZES if size >= frames)


def padded_rows(rows: int) -> int:
    """The smallest power of two that holds `rows`."""
    return 1 << (rows - 1).bit_length()


def rows_per_pass(frames: int) -> int:
    """The most rows of `frames` frames a graphed pass holds: the largest power of two within
    `CONFORMER_FRAMES_PER_PASS` padded frames."""
    return 1 << max(0, (CONFORMER_FRAMES_PER_PASS // frames).bit_length() - 1)


def parameters_fingerprint(module: nn.Module) -> tuple:
    """Where and how each parameter and buffer of `module` is stored: a graph reads them at the addresses it was
    captured with, so any change (a cast, a move, new weights) makes its graphs stale."""
    return tuple((tensor.data_ptr(), tensor.dtype, tensor.device) for tensor in (*module.parameters(),
                                                                                 *module.buffers()))


class CudaGraphCapture:
    """Captures a pass into a CUDA graph. The graphs share one memory pool per device: they never run concurrently
    and none reads another's output, so replaying them in any order is safe."""

    device_type = "cuda"

    def __init__(self):
        self.pools: dict[torch.device, tuple] = {}

    def __call__(
        self, run: Callable[[], torch.Tensor], device: torch.device
    ) -> tuple[torch.Tensor, Callable[[], None]]:
        with torch.cuda.device(device):
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(WARMUP_RUNS):
                    run()
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            pool = self.pools.setdefault(device, torch.cuda.graph_pool_handle())
            with torch.cuda.graph(graph, pool=pool):
                output = run()
        return output, graph.replay


class EagerReplay:
    """A capture that captures nothing: each replay runs the pass again into the same output buffer. It keeps a
    graph's contract (one buffer, overwritten by every replay) without its speed, so the padded shapes and static
    buffers can be checked where CUDA graphs do not exist (`sla gpu-check --quick`, the tests)."""

    def __init__(self, device_type: str = "cpu"):
        self.device_type = device_type

    def __call__(
        self, run: Callable[[], torch.Tensor], device: torch.device
    ) -> tuple[torch.Tensor, Callable[[], None]]:
        output = run()
        return output, lambda: output.copy_(run())


@dataclass
class CapturedPass:
    """A captured pass of one padded shape: its static input rows and valid frames, its output, and its replay."""

    hidden: torch.Tensor
    valid: torch.Tensor
    output: torch.Tensor
    replay: Callable[[], None]


class ConformerGraphs:
    """A `ConformerPass` (`speech_encoding_sla.encode_conformer`) that runs each pass as replays of captured graphs,
    one per padded shape, captured at its first use.

    Args:
        capture: how a pass is captured; `CudaGraphCapture` by default (`EagerReplay` where there is no GPU).

    `captures` counts the passes captured (again after the weights moved), `replays` the passes replayed.
    """

    def __init__(self, capture: PassCapture | None = None):
        self.capture = capture if capture is not None else CudaGraphCapture()
        self.passes: dict[tuple, CapturedPass] = {}
        self.fingerprint: tuple | None = None
        self.captures = self.replays = 0

    def runs_on(self, device: torch.device) -> bool:
        """Whether passes on `device` are captured (CUDA graphs: CUDA devices only)."""
        return device.type == self.capture.device_type

    @torch.no_grad()
    def __call__(self, encoder: nn.Module, hidden: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """The conformer layers over right-padded rows `(rows, frames, hidden)` with `valid` frames each, as
        `run_conformer_layers` gives them for a pass of the padded shape."""
        self.forget_if_stale(encoder)
        rows, frames, _ = hidden.shape
        width = padded_frames(frames)
        chunk = rows_per_pass(width)
        outputs = []
        for start in range(0, rows, chunk):
            # a view of the graph's output buffer, which the next replay overwrites: copied out at once
            output = self.run_padded(encoder, hidden[start : start + chunk], valid[start : start + chunk], width)
            outputs.append(output[:, :frames].clone())
        return torch.cat(outputs) if len(outputs) > 1 else outputs[0]

    def forget_if_stale(self, encoder: nn.Module) -> None:
        """Drops every graph when the encoder's weights moved since they were captured."""
        fingerprint = parameters_fingerprint(encoder)
        if fingerprint != self.fingerprint:
            self.passes.clear()
            self.fingerprint = fingerprint

    def run_padded(self, encoder: nn.Module, hidden: torch.Tensor, valid: torch.Tensor, width: int) -> torch.Tensor:
        rows, frames, _ = hidden.shape
        captured = self.captured_pass(encoder, padded_rows(rows), width, hidden)
        captured.hidden[:rows, :frames].copy_(hidden)
        captured.valid.zero_()
        captured.valid[:rows].copy_(valid)
        captured.replay()
        self.replays += 1
        return captured.output[:rows]

    def captured_pass(self, encoder: nn.Module, rows: int, frames: int, like: torch.Tensor) -> CapturedPass:
        """The captured pass of `rows` x `frames` rows shaped and placed like `like`, captured when new."""
        key = (rows, frames, like.shape[-1], like.dtype, like.device)
        if key not in self.passes:
            hidden = torch.zeros(rows, frames, like.shape[-1], dtype=like.dtype, device=like.device)
            valid = torch.zeros(rows, dtype=torch.long, device=like.device)
            streaming = streaming_mask(encoder, frames, like.device)
            output, replay = self.capture(lambda: run_conformer_layers(encoder, hidden, valid, streaming), like.device)
            self.passes[key] = CapturedPass(hidden=hidden, valid=valid, output=output, replay=replay)
            self.captures += 1
        return self.passes[key]


__all__ = [
    "FRAME_SIZES", "ConformerGraphs", "CudaGraphCapture", "EagerReplay", "PassCapture", "padded_frames", "padded_rows",
    "rows_per_pass",
]
