"""Analytic FLOPs of one scoring session at real size, per backbone family, and the H100 floor times they imply.

    from sla_phi4.analysis.real_size import family_rows, format_family_table
    print(format_family_table(family_rows(["phi4", "voxtral", "qwen2-audio"])))

The sizes come from the real configurations in `sla_phi4/analysis/backbones/` (`real_configs.py`); the session layout, the
H100 peak and the training assumptions from `real_size.json`. Counted: 2 FLOPs per multiply-add of the matrix
products and convolutions (norms, activations and softmax left out), forward only. Per family:
  decoder        the language layers over audio + text tokens: projections with GQA and the real head_dim, MLP, and
                 causal attention at half of the T x T products. No LM head: the scorer reads hidden states.
  audio tower    Phi-4: the conformer per clip (500-frame chunks past 40 s) and its speech projector. Voxtral and
                 Qwen2-Audio: their Whisper-large-v3-shaped encoder on 30 s windows padded to 3000 frames, one window
                 per started 30 s of each response (unpacked), and their projector.
  APP Whisper    this package's Whisper-large-v3 prior on the session's responses packed into 30 s windows.
"""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sla_phi4.analysis.real_configs import load_real_config, load_real_feature_extractor
from sla_phi4.resources import package_file


SETTINGS_PATH = package_file("sla_phi4.analysis", "real_size.json")


# ------------------------------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class RealSizeSettings:
    """The fixed assumptions of the paper figures (`real_size.json`; its `_sources` and `_notes` say why)."""

    session: tuple[tuple[str, float], ...]  # (part, seconds) per response of a real-length S&I session
    text_tokens: int  # decoder tokens of a session besides the audio tokens
    h100_bf16_dense_flops: float
    train_hours: float
    train_epochs: int
    train_step_forward_multiples: int  # forward + backward of the decoder, in forward passes
    whisper_window_seconds: float
    conformer_max_frames: int
    app_encoder: str  # real config name of the APP's Whisper
    families: dict[str, str]  # family name -> real config name of its backbone

    @property
    def session_lengths(self) -> list[float]:
        return [seconds for _, seconds in self.session]


def load_settings(path: Path = SETTINGS_PATH) -> RealSizeSettings:
    values = {key: value for key, value in json.loads(path.read_text(encoding="utf-8")).items()
              if not key.startswith("_")}
    values["session"] = tuple((item["part"], float(item["seconds"])) for item in values["session"]
                              for _ in range(item["count"]))
    return RealSizeSettings(**values)


SETTINGS = load_settings()


# ------------------------------------------------------------------------------------------------- audio framing
@dataclass(frozen=True)
class SpeechFraming:
    """How Phi-4's feature extractor turns seconds into log-mel frames and audio tokens."""

    sampling_rate: int
    win_length: int
    hop_length: int
    compression: int

    def frames(self, seconds: float) -> int:
        return max((int(seconds * self.sampling_rate) - self.win_length) // self.hop_length + 1, 1)

    def tokens(self, seconds: float) -> int:
        return math.ceil(self.frames(seconds) / self.compression)


@cache
def phi4_framing() -> SpeechFraming:
    extractor = load_real_feature_extractor("phi4_multimodal")
    return SpeechFraming(extractor.sampling_rate, extractor.win_length, extractor.hop_length,
                         extractor.audio_compression_rate * extractor.audio_downsample_rate)


def mel_frames(seconds: float) -> int:
    """Phi-4 feature frames of a clip."""
    return phi4_framing().frames(seconds)


def whisper_windows(seconds: float, window_seconds: float = SETTINGS.whisper_window_seconds) -> int:
    """30 s windows that `seconds` of audio start."""
    return max(math.ceil(seconds / window_seconds - 1e-9), 1)


def session_windows(session_lengths: list[float], packed: bool = True) -> int:
    """Windows of a session: responses packed end to end before windowing (`packed`, the APP) or each response
    padded to its own windows."""
    if packed:
        return whisper_windows(sum(session_lengths))
    return sum(whisper_windows(seconds) for seconds in session_lengths)


def window_pieces(seconds: float, window_seconds: float = SETTINGS.whisper_window_seconds) -> list[float]:
    """A response cut into pieces of at most one window, in order."""
    count = whisper_windows(seconds, window_seconds)
    return [min(window_seconds, seconds - index * window_seconds) for index in range(count)]


# ------------------------------------------------------------------------------------------------------- decoder
def text_config_of(config):
    """The language-model config of a backbone config (Phi-4 keeps its text fields at the top level)."""
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def decoder_flops(config, tokens: int) -> float:
    """Forward FLOPs of the language layers over `tokens` (causal attention counted at half of T^2)."""
    hidden, layers = config.hidden_size, config.num_hidden_layers
    head_dim = getattr(config, "head_dim", None) or hidden // config.num_attention_heads
    q_dim = config.num_attention_heads * head_dim
    kv_dim = config.num_key_value_heads * head_dim
    params = hidden * (q_dim + 2 * kv_dim) + q_dim * hidden + 3 * hidden * config.intermediate_size
    attention = 2 * tokens * tokens * q_dim  # QK^T and AV, causal half of 4*T^2*d
    return layers * (2 * params * tokens + attention)


# --------------------------------------------------------------------------------------------- Phi-4 conformer
def phi4_audio_tokens(config, seconds_list: list[float]) -> int:
    return sum(phi4_framing().tokens(seconds) for seconds in seconds_list)


def conformer_flops(config, seconds_list: list[float]) -> float:
    """Forward FLOPs of the Phi-4 audio conformer (and speech projections), each clip alone."""
    audio = config.audio_config
    hidden, inter, channels = audio.hidden_size, audio.intermediate_size, audio.nemo_conv_channels
    steps = int(math.log2(audio.time_reduction))
    max_frames = SETTINGS.conformer_max_frames
    total = 0.0
    for seconds in seconds_list:
        frames = mel_frames(seconds)
        # NeMo subsampling: a 3x3 conv, then (depthwise 3x3 + pointwise) per further halving.
        t, f = math.ceil(frames / 2), math.ceil(audio.input_size / 2)
        total += 2 * 9 * channels * t * f
        for _ in range(steps - 1):
            t, f = math.ceil(t / 2), math.ceil(f / 2)
            total += 2 * 9 * channels * t * f + 2 * channels * channels * t * f
        total += 2 * channels * audio.nemo_final_size * hidden * t
        chunk = min(t, max_frames)
        padded = math.ceil(t / max_frames) * max_frames if t > max_frames else t
        per_frame = (
            2 * 2 * 3 * hidden * inter  # two macaron feed-forwards (gate_up to 2I, down)
            + 2 * 4 * hidden * hidden  # attention projections
            + 2 * hidden * 2 * audio.ext_pw_out_channel + 2 * audio.kernel_size * hidden  # GLU pointwise, depthwise
            + 2 * hidden * audio.depthwise_separable_out_channel + 2 * hidden * audio.ext_pw_out_channel
            + 4 * chunk * hidden  # attention within a chunk
        )
        total += audio.num_blocks * per_frame * padded
        total += phi4_framing().tokens(seconds) * 2 * (hidden * config.hidden_size + config.hidden_size ** 2)
    return total


# ------------------------------------------------------------------------------------ Whisper-shaped encoders
def whisper_window_flops(encoder) -> float:
    """Forward FLOPs of a Whisper-shaped encoder on one full window (2 x max_source_positions mel frames)."""
    d, positions = encoder.d_model, encoder.max_source_positions
    convolutions = 2 * 3 * encoder.num_mel_bins * d * 2 * positions + 2 * 3 * d * d * positions
    layer = positions * (2 * 4 * d * d + 2 * 2 * d * encoder.encoder_ffn_dim + 4 * positions * d)
    return convolutions + encoder.encoder_layers * layer


def whisper_flops(config, seconds_list: list[float], packed: bool = True) -> float:
    """Forward FLOPs of the APP's Whisper encoder: every window is a full 1500-position (30 s) window."""
    return whisper_window_flops(config) * session_windows(seconds_list, packed)


@cache
def whisper_feature_extractor():
    """The Whisper feature extractor of the Whisper-shaped towers (16 kHz, 10 ms hop, 30 s windows)."""
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor()


def whisper_piece_tokens(family: str, seconds: float) -> int:
    """Valid audio tokens of one <= 30 s piece for a Whisper-window family, from its speech prompt (the processor's
    own valid-frame and token rules)."""
    from processing_sla.speech_prompts_sla import speech_prompt

    prompt, extractor = speech_prompt(family), whisper_feature_extractor()
    frames = prompt.valid_frames(round(seconds * extractor.sampling_rate), extractor.hop_length)
    return prompt.window_tokens(min(frames, extractor.nb_max_frames))


def voxtral_window_tokens(config) -> int:
    """Voxtral regroups a window's encoder positions by intermediate_size / hidden_size (4) into projector inputs."""
    audio = config.audio_config
    return audio.max_source_positions * audio.hidden_size // audio.intermediate_size


def voxtral_piece_tokens(config, seconds: float) -> int:
    """Valid tokens of one <= 30 s piece, by the Voxtral speech prompt's own rule (8 mel frames, 80 ms, per token).
    This package keeps only those; Voxtral's own processor pads every audio to whole windows and gives each started
    window 375 (`voxtral_window_tokens`)."""
    return whisper_piece_tokens("voxtral", seconds)


def voxtral_audio_tokens(config, seconds_list: list[float]) -> int:
    return sum(voxtral_piece_tokens(config, piece) for seconds in seconds_list for piece in window_pieces(seconds))


def voxtral_tower_flops(config, seconds_list: list[float]) -> float:
    """Encoder windows plus the two-layer projector (intermediate_size -> hidden -> hidden) on all 375 token
    positions of every window (the valid ones are kept afterwards)."""
    audio, hidden = config.audio_config, config.text_config.hidden_size
    projector = 2 * (audio.intermediate_size * hidden + hidden * hidden)
    windows = session_windows(seconds_list, packed=False)
    return windows * (whisper_window_flops(audio) + voxtral_window_tokens(config) * projector)


def qwen2_audio_piece_tokens(config, seconds: float) -> int:
    """Tokens of one <= 30 s piece, by the Qwen2-Audio speech prompt's own rule (stride-2 convolution, then average
    pooling by 2, over the unpadded mel frames)."""
    return whisper_piece_tokens("qwen2_audio", seconds)


def qwen2_audio_tokens(config, seconds_list: list[float]) -> int:
    return sum(qwen2_audio_piece_tokens(config, piece) for seconds in seconds_list for piece in window_pieces(seconds))


def qwen2_audio_tower_flops(config, seconds_list: list[float]) -> float:
    """Encoder windows plus the linear projector on all pooled positions of each window (padding included)."""
    audio, hidden = config.audio_config, config.text_config.hidden_size
    windows = session_windows(seconds_list, packed=False)
    pooled_positions = audio.max_source_positions // 2
    return windows * (whisper_window_flops(audio) + pooled_positions * 2 * audio.d_model * hidden)


@dataclass(frozen=True)
class AudioTower:
    """How a backbone family turns a session's responses into decoder tokens, and what that costs."""

    tokens: Callable[[object, list[float]], int]
    flops: Callable[[object, list[float]], float]


AUDIO_TOWERS = {
    "phi4_multimodal": AudioTower(phi4_audio_tokens, conformer_flops),
    "voxtral": AudioTower(voxtral_audio_tokens, voxtral_tower_flops),
    "qwen2_audio": AudioTower(qwen2_audio_tokens, qwen2_audio_tower_flops),
}


# ------------------------------------------------------------------------------------------------ per session
@dataclass(frozen=True)
class SessionFlops:
    """Forward FLOPs of one session, per part."""

    audio_tokens: int
    text_tokens: int
    decoder: float
    audio_tower: float
    app_whisper: float
    app_windows: int

    @property
    def tokens(self) -> int:
        return self.audio_tokens + self.text_tokens

    @property
    def encoders(self) -> float:
        return self.audio_tower + self.app_whisper

    @property
    def total(self) -> float:
        return self.decoder + self.encoders


def session_flops(backbone, app_encoder, session_lengths: list[float],
                  text_tokens: int = SETTINGS.text_tokens) -> SessionFlops:
    """FLOPs of one session of responses `session_lengths` (seconds) on `backbone` (a config whose `model_type` is in
    `AUDIO_TOWERS`) with the APP's Whisper `app_encoder` (a Whisper-shaped config, or None without the APP)."""
    if backbone.model_type not in AUDIO_TOWERS:
        raise KeyError(f"no audio tower for model_type {backbone.model_type!r}; known: {', '.join(AUDIO_TOWERS)}")
    tower = AUDIO_TOWERS[backbone.model_type]
    audio_tokens = tower.tokens(backbone, session_lengths)
    return SessionFlops(
        audio_tokens=audio_tokens,
        text_tokens=text_tokens,
        decoder=decoder_flops(text_config_of(backbone), audio_tokens + text_tokens),
        audio_tower=tower.flops(backbone, session_lengths),
        app_whisper=whisper_flops(app_encoder, session_lengths) if app_encoder is not None else 0.0,
        app_windows=session_windows(session_lengths),
    )


@dataclass(frozen=True)
class FloorTimes:
    """Times at the H100's dense bf16 peak, before any efficiency loss."""

    scoring_s_per_session: float
    train_sessions: float
    train_h_encoders_every_step: float
    train_h_cached: float  # encoders run once, to fill the cache


def floor_times(flops: SessionFlops, session_seconds: float, settings: RealSizeSettings = SETTINGS) -> FloorTimes:
    sessions = settings.train_hours * 3600 / session_seconds
    step = settings.train_step_forward_multiples * flops.decoder
    every_step = settings.train_epochs * sessions * (step + flops.encoders)
    cached = settings.train_epochs * sessions * step + sessions * flops.encoders
    peak = settings.h100_bf16_dense_flops
    return FloorTimes(flops.total / peak, sessions, every_step / peak / 3600, cached / peak / 3600)


# -------------------------------------------------------------------------------------------------- families
def family_row(family: str, text_tokens: int = SETTINGS.text_tokens, settings: RealSizeSettings = SETTINGS) -> dict:
    """Paper figures of one backbone family on the real-length session."""
    if family not in settings.families:
        raise KeyError(f"unknown backbone family {family!r}; known: {', '.join(settings.families)}")
    lengths = settings.session_lengths
    flops = session_flops(load_real_config(settings.families[family]), load_real_config(settings.app_encoder),
                          lengths, text_tokens)
    floors = floor_times(flops, sum(lengths), settings)
    return {
        "family": family,
        "backbone": settings.families[family],
        "audio_tokens": flops.audio_tokens,
        "text_tokens": flops.text_tokens,
        "tokens": flops.tokens,
        "tflop_decoder": flops.decoder / 1e12,
        "tflop_audio_tower": flops.audio_tower / 1e12,
        "tflop_app_whisper": flops.app_whisper / 1e12,
        "tflop_total": flops.total / 1e12,
        "app_windows": flops.app_windows,
        "h100_floor_scoring_s_per_session": floors.scoring_s_per_session,
        "train_sessions": floors.train_sessions,
        "h100_floor_3_epochs_cached_h": floors.train_h_cached,
        "h100_floor_3_epochs_uncached_h": floors.train_h_encoders_every_step,
    }


def family_rows(families: list[str], text_tokens: int = SETTINGS.text_tokens,
                settings: RealSizeSettings = SETTINGS) -> list[dict]:
    return [family_row(family, text_tokens, settings) for family in families]


def format_family_table(rows: list[dict], settings: RealSizeSettings = SETTINGS) -> str:
    """A Markdown table of `family_rows`, one backbone per row."""
    epochs = settings.train_epochs
    lines = [
        "| backbone | decoder tokens (audio + text) | decoder TFLOP | audio tower TFLOP | APP Whisper TFLOP | "
        f"total TFLOP | H100 scoring floor (s/session) | H100 training floor, {epochs} epochs (h): cached / "
        "encoders every step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['family']} | {row['tokens']:,} ({row['audio_tokens']:,} + {row['text_tokens']:,}) "
            f"| {row['tflop_decoder']:.1f} | {row['tflop_audio_tower']:.1f} | {row['tflop_app_whisper']:.1f} "
            f"| {row['tflop_total']:.1f} | {row['h100_floor_scoring_s_per_session']:.3f} "
            f"| {row['h100_floor_3_epochs_cached_h']:.2f} / {row['h100_floor_3_epochs_uncached_h']:.2f} |"
        )
    return "\n".join(lines)
