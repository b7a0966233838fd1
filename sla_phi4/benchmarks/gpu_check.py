#!/usr/bin/env python
"""A GPU check of sla-phi4 at real size: random weights of the real configurations, real-length sessions.

    sla gpu-check [--backbone phi4|voxtral|qwen2-audio|LIST|all] [--attn all|sdpa|flash_attention_2|eager[,...]]
                  [--steps 3] [--repeats 3] [--output gpu_check.json]
    sla gpu-check --quick [--backbone ...]          # CPU smoke run on tiny checkpoints, seconds to minutes

For each backbone (one after another, in one process and one JSON) it builds `SLAForSessionScoring` straight on the
GPU in bf16 from the real configuration (`sla_phi4/analysis/backbones/`) and Whisper-large-v3's for the APP: no
weights, no tokenizer, nothing downloaded. Sessions are synthesised with the processor's token counts and tensor shapes
(prior token, about 300 text tokens, each clip's audio tokens, log-mel-like features, the APP's packed 30 s windows).
Then, once per attention implementation (sdpa, and flash_attention_2 when flash-attn is installed; the audio tower
stays on sdpa):
  scoring            one real-length S&I session (P1 6 x 15 s, P3 and P4 58 s, P5 5 x 19 s), median of 3: sessions/s
  parts              its APP Whisper, audio tower, and decoder from their cached outputs, each timed
  first_sight        the same parts of a session of new lengths, at their first call and again (what new shapes cost)
  audio_tower        its units in one call against each alone: speed-up, and the float32 difference (a check)
  lora_levers        the decoder with LoRA in float32, in the backbone's dtype, merged: time and how far scores move
  batched_scoring    16 sessions of 0.6-1.2 x the real length: a first pass one at a time (new shapes), then at batch
                     1, 4, 8, 16 (bitwise against the first pass), and padded together at batch 8 (opt-in)
  audio_tower_graphs Phi-4: its conformer passes as CUDA graphs (opt-in) against the eager tower, on the real session
                     (first call, warm, difference) and on the 16 sessions from an empty store, side by side
  batch_invariance   4 shorter sessions alone and batched: bitwise under the default settings; the padded batch's
                     differences
  float32_agreement  the model in float32: 2 sessions alone against one padded batch (a masking fault fails it)
  training           3 AdamW steps (LoRA rank 16, head and APP projector; activation checkpointing; frozen encoders'
                     outputs cached first) at batch 1, 4 and 8, at 4 one pass per session (opt-in
                     `training_batching`), at 1 without checkpointing (`sla train`'s default), and at 4 under
                     autocast: sessions/s
  projection         3 epochs of S&I train at the best rate, the encoder cache included
and once a call, with Phi-4:
  commands           `sla score` and `sla train`'s own code on the device with a tiny checkpoint and real-length
                     recordings: where the model went, sessions/s with and without featurizing workers
with peak GPU memory per phase and MFU (analytic FLOPs from `real_size.py` over time and the device's dense bf16 peak,
`gpu_check.json`). It also reports the host memory of the process while building (does building hold a second copy
of the weights in host memory?). A Markdown table goes to stdout, everything to the JSON file, rewritten after every
phase. It exits non-zero when a phase raises, a score or loss is not finite, a batched session is not bitwise equal
to itself alone under the default settings, float32 agreement or the audio tower's check fails, or the audio tower
left sdpa.

Estimated device time (`estimated_seconds`: the real_size FLOPs of every phase at 30 % of a 989 TFLOP/s H100/H200,
float32 at 15x the bf16 time, 60 s of start-up once, 20 s a backbone, 30 s of commands), sdpa alone, 3 steps, 3 repeats:
    phi4 107 s, voxtral 95 s, qwen2-audio 208 s; --backbone all 470 s
The run prints its own estimate first, and says so when it is over 8 minutes.
"""

import gc
import itertools
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

from processing_sla.processing_sla import pad_right
from sla_phi4 import strict_json
from sla_phi4.analysis.real_configs import load_real_config
from sla_phi4.analysis.real_size import (
    AUDIO_TOWERS,
    SETTINGS,
    decoder_flops,
    phi4_framing,
    text_config_of,
    whisper_flops,
)
from sla_phi4.benchmarks.cpu_benchmark import median_time, peak_rss_mb, reset_peak_rss
from sla_phi4.resources import package_file
from sla_phi4.training.session_cache import batch_of_cached, encode_speech_inputs, pool_app_inputs


CHECK_SETTINGS_PATH = package_file("sla_phi4.benchmarks", "gpu_check.json")
BACKBONES = list(SETTINGS.families)
ATTENTION_CHOICES = ("sdpa", "flash_attention_2", "eager")
SAMPLING_RATE = 16_000
MB = 2**20


# ------------------------------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class CheckSettings:
    """The fixed choices of the check (`gpu_check.json`; its `_sources` and `_notes` say why)."""

    families: dict
    features: dict
    lora_rank: int
    lora_alpha: int
    learning_rate: float
    scoring_repeats: int
    invariance_scales: tuple[float, ...]
    float32_scales: tuple[float, ...]
    first_sight_scale: float
    scoring_batch_sizes: tuple[int, ...]
    scoring_session_scales: tuple[float, ...]
    padded_batch_sizes: tuple[int, ...]
    train_batch_scales: tuple[float, ...]
    train_batch_sizes: tuple[int, ...]
    train_per_session_batch_sizes: tuple[int, ...]
    train_without_checkpointing_batch_sizes: tuple[int, ...]
    autocast_batch_size: int
    lever_lora_b_std: float
    steps: int
    tolerances: dict
    quick: dict
    estimate: dict
    commands: dict
    device_peaks: tuple[dict, ...]


def load_check_settings(path: Path = CHECK_SETTINGS_PATH) -> CheckSettings:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: line {error.lineno}: not valid JSON ({error.msg})") from error
    values = {key: value for key, value in values.items() if not key.startswith("_")}
    for key in ("invariance_scales", "float32_scales", "scoring_batch_sizes", "scoring_session_scales",
                "padded_batch_sizes", "train_batch_scales", "train_batch_sizes", "train_per_session_batch_sizes",
                "train_without_checkpointing_batch_sizes", "device_peaks"):
        values[key] = tuple(values[key])
    return CheckSettings(**values)


CHECK = load_check_settings()


def device_peak_flops(device_name: str | None, settings: CheckSettings = CHECK) -> tuple[float | None, str]:
    """The dense bf16 peak of a CUDA device by its exact `torch.cuda.get_device_name()`, and where it came from (or
    why there is none)."""
    if device_name is None:
        return None, "not a CUDA device: no dense bf16 peak to compare with"
    for entry in settings.device_peaks:
        if entry["name"] == device_name:
            return float(entry["bf16_dense_flops"]), f"{entry['model']} ({CHECK_SETTINGS_PATH.name})"
    known = ", ".join(entry["name"] for entry in settings.device_peaks)
    return None, f"device {device_name!r} is not in {CHECK_SETTINGS_PATH.name} (known: {known})"


# ------------------------------------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class TokenIds:
    """What synthesis needs of a backbone's tokenizer: the prior, audio and pad ids and the plain-text ids."""

    prior: int
    audio: int
    pad: int
    plain_text: np.ndarray

    def __post_init__(self):
        clashes = {self.prior, self.audio, self.pad} & set(self.plain_text.tolist())
        if clashes:
            raise ValueError(f"Plain-text ids include the prior, audio or pad id: {sorted(clashes)}")
        if not len(self.plain_text):
            raise ValueError("No plain-text ids to draw text tokens from.")


def real_sla_config(backbone: str, settings: CheckSettings = CHECK):
    """The SLA configuration on the real backbone configuration of `backbone` and Whisper-large-v3."""
    from modeling_sla import SLAConfig

    return SLAConfig(
        audio_llm_config=load_real_config(SETTINGS.families[backbone]),
        app_encoder_config=load_real_config(SETTINGS.app_encoder),
        prior_token_id=settings.families[backbone]["prior_token_id"],
        lora_rank=settings.lora_rank,
        lora_alpha=settings.lora_alpha,
    )


def family_token_ids(backbone: str, config, settings: CheckSettings = CHECK) -> TokenIds:
    """Token ids of the real tokenizer of `backbone` (`gpu_check.json`), checked against `config`."""
    from modeling_sla.backbones_sla import backbone_adapter

    entry = settings.families[backbone]
    family = backbone_adapter(config.audio_llm_config.model_type)
    vocab = family.text_config(config.audio_llm_config).vocab_size
    low, high = entry["plain_text_ids"]
    if not 0 <= low < high <= vocab or max(entry["prior_token_id"], entry["pad_token_id"]) >= vocab:
        raise ValueError(f"{CHECK_SETTINGS_PATH}: families.{backbone} names ids outside the vocabulary of {vocab}")
    return TokenIds(entry["prior_token_id"], family.audio_token_id(config.audio_llm_config), entry["pad_token_id"],
                    np.arange(low, high))


def processor_token_ids(processor) -> TokenIds:
    """Token ids of a checkpoint's own tokenizer: plain text is every id that is not an added (special) token."""
    tokenizer = processor.tokenizer
    special = set(getattr(tokenizer, "added_tokens_decoder", {})) | set(tokenizer.all_special_ids)
    plain = np.array([index for index in range(len(tokenizer)) if index not in special])
    return TokenIds(processor.prior_token_id, processor.audio_token_id, processor.prompt.pad_token_id(tokenizer),
                    plain)


# --------------------------------------------------------------------------------------------------------- build
def attention_in_use(model) -> dict:
    """The attention implementation each part will run, read from its attention modules' configs."""
    family = model.family
    prefix = family.language_layers_prefix

    def implementations(modules) -> list[str]:
        return sorted({module.config._attn_implementation for module in modules
                       if "Attention" in type(module).__name__ and hasattr(module, "config")})

    decoder = [module for name, module in model.backbone.named_modules() if name.startswith(prefix)]
    tower = [module for part in family.audio_modules(model.backbone) for module in part.modules()]
    app = list(model.app.encoder.modules()) if model.app is not None else []
    return {"decoder": implementations(decoder), "audio_tower": implementations(tower),
            "app_encoder": implementations(app)}


def build_model(config, device: torch.device | str, dtype: torch.dtype, seed: int = 0):
    """`SLAForSessionScoring` with random weights, built on `device`: the backbone and Whisper in `dtype` exactly as
    `from_backbone` loads them (transformers' `_from_config`), then the head, APP classifier and projector, and LoRA
    in float32 (`_keep_in_fp32_modules_strict`, as `from_pretrained` keeps them). Attention starts on sdpa."""
    from peft.tuners.tuners_utils import cast_adapter_dtype
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    from modeling_sla import SLAForSessionScoring
    from modeling_sla.backbones_sla import backbone_adapter
    from modeling_sla.lora_sla import ADAPTER_NAME

    torch.manual_seed(seed)
    family = backbone_adapter(config.audio_llm_config.model_type)
    family.prepare_config(config.audio_llm_config)
    device = torch.device(device)
    with torch.device(device):
        backbone = family.model_class._from_config(config.audio_llm_config, dtype=dtype, attn_implementation="sdpa")
        backbone = family.strip(backbone)
        whisper = None
        if config.use_app:
            whisper = WhisperEncoder._from_config(config.app_encoder_config, dtype=dtype, attn_implementation="sdpa")
        model = SLAForSessionScoring(config, backbone=backbone, app_encoder=whisper)
    model._place_own_modules(device)
    cast_adapter_dtype(model.backbone, ADAPTER_NAME, autocast_adapter_dtype=True)
    model.set_trainable("sla")
    return model.eval()


def parameter_summary(model) -> dict:
    """Parameter counts by part, the bytes of all weights, and the dtypes of the parts that decide a score."""
    def count(parameters) -> int:
        return sum(parameter.numel() for parameter in parameters)

    named = dict(model.named_parameters())
    lora = [p for name, p in named.items() if ".lora_" in name]
    backbone = [p for name, p in named.items() if name.startswith("backbone.") and ".lora_" not in name]
    app_encoder = [p for name, p in named.items() if name.startswith("app.encoder.")]

    def dtypes(parameters) -> list[str]:
        return sorted({str(parameter.dtype).removeprefix("torch.") for parameter in parameters})

    head = [p for name, p in named.items() if name.startswith("head.")]
    projector = [p for name, p in named.items() if name.startswith("app.projector.")]
    return {
        "total": count(named.values()),
        "trainable": model.num_trainable_parameters(),
        "backbone": count(backbone),
        "lora": count(lora),
        "lora_modules": model.num_lora_modules,
        "app_encoder": count(app_encoder),
        "own_modules": count(named.values()) - count(backbone) - count(lora) - count(app_encoder),
        "weights_mb": sum(p.numel() * p.element_size() for p in named.values()) / MB,
        "dtypes": {"backbone": dtypes(backbone), "lora": dtypes(lora), "app_encoder": dtypes(app_encoder),
                   "head": dtypes(head), "app_projector": dtypes(projector)},
    }


# -------------------------------------------------------------------------------------------------- host memory
def status_mb(field_name: str) -> float | None:
    """A field of /proc/self/status in MB (VmHWM: peak resident; RssAnon: anonymous resident), None without /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(f"{field_name}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# ---------------------------------------------------------------------------------------------------- sessions
@dataclass
class Unit:
    """One pass of the backbone's audio tower: a clip (Phi-4) or one 30 s window of a clip (Whisper-shaped towers)."""

    frames: int
    tokens: int


@dataclass
class SyntheticSession:
    """One session's model inputs before batching, as `SLAProcessor.prepare_session` would give them."""

    responses: list[tuple[str, float]]
    samples: list[int]  # of each response, at 16 kHz
    input_ids: list[int]
    units: list[Unit]
    unit_features: list[torch.Tensor]
    app_frames: list[int]  # valid Whisper encoder frames of each APP window
    app_features: list[torch.Tensor]

    @property
    def seconds(self) -> list[float]:
        return [count / SAMPLING_RATE for count in self.samples]

    @property
    def audio_tokens(self) -> int:
        return sum(unit.tokens for unit in self.units)


def scaled_session(scale: float) -> list[tuple[str, float]]:
    """The real S&I session layout (`real_size.json`) with every duration times `scale`."""
    return [(part, seconds * scale) for part, seconds in SETTINGS.session]


class SessionSynthesizer:
    """Model inputs for sessions of given durations without audio, processor or tokenizer, with the processor's token
    counts and tensor shapes: Phi-4 one unit per clip, Whisper-shaped towers one per 30 s window of a clip (the
    speech prompt's own valid-frame and token rules), and the session's audio packed into 30 s APP windows."""

    def __init__(self, config, token_ids: TokenIds, settings: CheckSettings = CHECK):
        from transformers import WhisperFeatureExtractor

        from processing_sla.speech_prompts_sla import speech_prompt

        self.model_type = config.audio_llm_config.model_type
        self.prompt = speech_prompt(self.model_type)
        self.token_ids = token_ids
        self.features = settings.features
        if self.model_type == "phi4_multimodal":
            self.framing = phi4_framing()
            self.unit_mels = load_phi4_mel_bins()
        else:
            self.unit_mels = config.audio_llm_config.audio_config.num_mel_bins
            self.window = WhisperFeatureExtractor(feature_size=self.unit_mels)
        self.app_window = WhisperFeatureExtractor(feature_size=config.app_encoder_config.num_mel_bins)

    # --------------------------------------------------------------------------------------------- counting
    def clip_units(self, samples: int) -> list[Unit]:
        """A clip's units, as `SpeechPrompt.audio_units` cuts and counts them."""
        if self.model_type == "phi4_multimodal":
            frames = max((samples - self.framing.win_length) // self.framing.hop_length + 1, 1)
            return [Unit(frames, math.ceil(frames / self.framing.compression))]
        window, hop = self.window.n_samples, self.window.hop_length
        units = []
        for start in range(0, samples, window):
            frames = min(self.prompt.valid_frames(min(window, samples - start), hop), self.window.nb_max_frames)
            tokens = self.prompt.window_tokens(frames)
            if tokens:
                units.append(Unit(frames, tokens))
        return units

    def app_window_frames(self, total_samples: int) -> list[int]:
        """Valid Whisper encoder frames of each 30 s APP window of the packed session, as `SLAProcessor.app_windows`
        counts them."""
        window, hop, max_frames = self.app_window.n_samples, self.app_window.hop_length, self.app_window.nb_max_frames
        return [math.ceil(min(min(window, total_samples - start) // hop + 1, max_frames) / 2)
                for start in range(0, total_samples, window)]

    # ------------------------------------------------------------------------------------------- synthesis
    def session(self, responses: list[tuple[str, float]], text_tokens: int = SETTINGS.text_tokens,
                seed: int = 0) -> SyntheticSession:
        """A session of `responses` ((part, seconds) each) with `text_tokens` decoder tokens besides the audio ones
        (the prior token included)."""
        if text_tokens < 1:
            raise ValueError("A session needs at least its prior token (text_tokens >= 1).")
        rng = np.random.default_rng(seed)
        generator = torch.Generator().manual_seed(seed)
        samples = [int(round(seconds * SAMPLING_RATE)) for _, seconds in responses]
        clips = [self.clip_units(count) for count in samples]
        gaps = self.text_gaps(text_tokens - 1, len(clips))
        input_ids = [self.token_ids.prior]
        for gap, units in zip(gaps, [*clips, []]):
            input_ids += rng.choice(self.token_ids.plain_text, size=gap).tolist()
            input_ids += [self.token_ids.audio] * sum(unit.tokens for unit in units)
        units = [unit for clip in clips for unit in clip]
        app_frames = self.app_window_frames(sum(samples))
        return SyntheticSession(
            responses=list(responses), samples=samples, input_ids=input_ids, units=units,
            unit_features=[self.unit_features(unit, generator) for unit in units], app_frames=app_frames,
            app_features=[self.whisper_features(2 * frames, generator) for frames in app_frames],
        )

    @staticmethod
    def text_gaps(count: int, clips: int) -> list[int]:
        """`count` text tokens spread over the gaps before each clip and after the last; the first gap (the
        instruction) takes the remainder."""
        base, remainder = divmod(count, clips + 1)
        return [base + remainder] + [base] * clips

    def unit_features(self, unit: Unit, generator: torch.Generator) -> torch.Tensor:
        """A unit's log-mel-like features: `(frames, mels)` for Phi-4, a padded `(mels, 3000)` window otherwise."""
        if self.model_type == "phi4_multimodal":
            log_mel = self.features["phi4_log_mel"]
            noise = torch.randn(unit.frames, self.unit_mels, generator=generator)
            return noise * log_mel["std"] + log_mel["mean"]
        return self.whisper_features(unit.frames, generator, mels=self.unit_mels)

    def whisper_features(self, valid_frames: int, generator: torch.Generator, mels: int | None = None) -> torch.Tensor:
        """A 30 s window of normalised log-mels: random over the valid frames, the floor value past them."""
        mels = mels or self.app_window.feature_size
        log_mel = self.features["whisper_log_mel"]
        features = torch.full((mels, self.app_window.nb_max_frames), float(log_mel["padding"]))
        valid = min(valid_frames, self.app_window.nb_max_frames)
        features[:, :valid] = torch.randn(mels, valid, generator=generator) * log_mel["std"] + log_mel["mean"]
        return features

    # ------------------------------------------------------------------------------------------------ batch
    def collate(self, sessions: list[SyntheticSession]) -> dict:
        """Model inputs of a batch, padded on the right, as `SLAProcessor._collate` builds them."""
        units = [unit for session in sessions for unit in session.units]
        features = [tensor for session in sessions for tensor in session.unit_features]
        if self.model_type == "phi4_multimodal":
            audio_features = torch.zeros(len(units), max(unit.frames for unit in units), self.unit_mels)
            for row, tensor in enumerate(features):
                audio_features[row, : tensor.shape[0]] = tensor
        else:
            audio_features = torch.stack(features)
        return {
            **pad_right([session.input_ids for session in sessions], self.token_ids.pad),
            "audio_input_features": audio_features,
            "audio_feature_lengths": torch.tensor([unit.frames for unit in units], dtype=torch.long),
            "audio_embed_sizes": torch.tensor([unit.tokens for unit in units], dtype=torch.long),
            "app_input_features": torch.stack([tensor for session in sessions for tensor in session.app_features]),
            "app_frame_counts": torch.tensor([frames for session in sessions for frames in session.app_frames],
                                             dtype=torch.long),
            "app_window_session": torch.tensor([row for row, session in enumerate(sessions)
                                                for _ in session.app_frames], dtype=torch.long),
        }


def load_phi4_mel_bins() -> int:
    from sla_phi4.analysis.real_configs import load_real_feature_extractor

    return load_real_feature_extractor("phi4_multimodal").feature_size


# ------------------------------------------------------------------------------------------------------- FLOPs
def session_forward_flops(config, session: SyntheticSession) -> dict:
    """Analytic forward FLOPs of one session (`real_size`): the decoder over the session's own tokens, the audio tower
    on its clips, the APP Whisper on its packed windows."""
    backbone = config.audio_llm_config
    seconds = session.seconds
    decoder = decoder_flops(text_config_of(backbone), len(session.input_ids))
    tower = AUDIO_TOWERS[backbone.model_type].flops(backbone, seconds)
    app = whisper_flops(config.app_encoder_config, seconds) if config.use_app else 0.0
    return {"decoder": decoder, "audio_tower": tower, "app_whisper": app, "total": decoder + tower + app}


def train_step_flops(config, sessions: list[SyntheticSession]) -> float:
    """FLOPs of one training step on cached encoder outputs, counted as `real_size` counts them (a step costs
    `train_step_forward_multiples` decoder forward passes; the recompute of activation checkpointing is not
    model FLOPs)."""
    return sum(SETTINGS.train_step_forward_multiples * session_forward_flops(config, session)["decoder"]
               for session in sessions)


def estimated_seconds(config, synthesizer: SessionSynthesizer, attentions: int, steps: int, repeats: int,
                      settings: CheckSettings = CHECK) -> float:
    """Device time of one backbone's run, from the analytic FLOPs of every phase at `estimate.assumed_mfu` of a 989
    TFLOP/s device (float32 at `float32_slowdown` times the bf16 time), plus `per_backbone_s` (building, the first
    calls); `fixed_overhead_s` (imports, CUDA start-up) is added once per call by `announce_estimate`."""
    estimate = settings.estimate

    def flops(scales) -> list[dict]:
        return [session_forward_flops(config, synthesizer.session(scaled_session(scale))) for scale in scales]

    real = flops([1.0])[0]
    first_sight = flops([settings.first_sight_scale])[0]
    scoring = sum(item["total"] for item in flops(settings.scoring_session_scales))
    invariance = sum(item["total"] for item in flops(settings.invariance_scales))
    float32 = sum(item["total"] for item in flops(settings.float32_scales))
    train = flops(settings.train_batch_scales)
    checkpointed = (*settings.train_batch_sizes, *settings.train_per_session_batch_sizes,
                    settings.autocast_batch_size)

    def decoder(sizes) -> float:
        return sum(item["decoder"] for size in sizes for item in ([real] if size == 1 else train[:size]))

    multiples = SETTINGS.train_step_forward_multiples + estimate["recompute_forward_multiples"]
    graphs = int(config.audio_llm_config.model_type == "phi4_multimodal")  # its conformer as CUDA graphs
    per_attention = (
        2 * (repeats + 1) * real["total"]  # scoring, and its parts one by one (one warm-up pass each)
        + (4 + 2 * estimate["float32_slowdown"]) * real["audio_tower"]  # one pass and unit by unit, bf16 and float32
        + 3 * (repeats + 1) * real["decoder"]  # the LoRA levers
        + 3 * (first_sight["audio_tower"] + first_sight["app_whisper"]) + 2 * first_sight["decoder"]  # first sight
        + (1 + len(settings.scoring_batch_sizes) + len(settings.padded_batch_sizes)) * scoring  # first pass, then each
        + graphs * (2 * scoring + (2 * repeats + 5) * real["audio_tower"])  # the tower as graphs, and eager
        + 3 * invariance + 2 * estimate["float32_slowdown"] * float32
        + sum(item["audio_tower"] + item["app_whisper"] for item in (real, *train))  # the encoder caches
        + steps * multiples * decoder(checkpointed)
        + steps * SETTINGS.train_step_forward_multiples * decoder(settings.train_without_checkpointing_batch_sizes)
    )
    rate = SETTINGS.h100_bf16_dense_flops * estimate["assumed_mfu"]
    family = next(name for name, model_type in SETTINGS.families.items()
                  if model_type == config.audio_llm_config.model_type)
    commands = settings.commands["estimate_s"] if commands_apply(family) else 0.0
    return estimate["per_backbone_s"] + attentions * per_attention / rate + commands


# ------------------------------------------------------------------------------------------------------ timing
def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> dict:
    """Peak GPU memory since the last reset: allocated by tensors, and reserved by the caching allocator (what a card
    must have). None off CUDA."""
    if device.type != "cuda":
        return {"peak_gpu_mb": None, "peak_gpu_reserved_mb": None}
    return {"peak_gpu_mb": torch.cuda.max_memory_allocated(device) / MB,
            "peak_gpu_reserved_mb": torch.cuda.max_memory_reserved(device) / MB}


def to_device(batch: dict, device: torch.device) -> dict:
    return {key: value.to(device) for key, value in batch.items()}


def timed(function, repeats: int, device: torch.device) -> float:
    """Median seconds of `function()` without gradients, synchronised, over `repeats` after one warm-up call."""
    def call():
        with torch.no_grad():
            function()
        synchronize(device)
    return median_time(call, repeats)


def mfu(flops: float, seconds: float, peak: float | None) -> float | None:
    return None if peak is None else flops / seconds / peak


# ------------------------------------------------------------------------------------------------------ phases
def measure_scoring(model, synthesizer, session, device, repeats: int, peak: float | None) -> dict:
    """One real-length session scored from its features (both encoders and the decoder), median of `repeats`."""
    inputs = to_device(synthesizer.collate([session]), device)
    outputs = []

    def score():
        with torch.no_grad():
            outputs.append(model(**inputs).scores)
        synchronize(device)

    reset_peak_memory(device)
    seconds = median_time(score, repeats)
    flops = session_forward_flops(model.config, session)["total"]
    return {"repeats": repeats, "seconds_median": seconds, "sessions_per_s": 1 / seconds,
            "mfu": mfu(flops, seconds, peak), **peak_memory(device),
            "scores_finite": all(bool(torch.isfinite(scores).all()) for scores in outputs)}


def scores_of(model, synthesizer, sessions, device, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Scores and head states of `sessions` scored in batches of `batch_size` (in order), and the seconds it took."""
    batches = [synthesizer.collate(sessions[start : start + batch_size])
               for start in range(0, len(sessions), batch_size)]
    scores, states = [], []
    synchronize(device)
    begin = time.perf_counter()
    with torch.no_grad():
        for batch in batches:
            output = model(**to_device(batch, device))
            scores.append(output.scores)
            states.append(output.pooled_state)
    synchronize(device)
    return torch.cat(scores).float(), torch.cat(states).float(), time.perf_counter() - begin


def differences(reference: tuple[torch.Tensor, torch.Tensor], other: tuple[torch.Tensor, torch.Tensor]) -> dict:
    """How far scores and head states are from a reference: bitwise equality, the largest score difference of each
    session, and each session's relative state difference."""
    (scores, states), (other_scores, other_states) = reference, other
    return {
        "bitwise": bool(torch.equal(scores, other_scores) and torch.equal(states, other_states)),
        "score_diffs": (scores - other_scores).abs().amax(dim=1).tolist(),
        "relative_state_diffs": ((states - other_states).norm(dim=1) / states.norm(dim=1)).tolist(),
    }


@contextmanager
def session_batching(model, mode: str):
    """The model's `session_batching` set to `mode` for the block."""
    saved, model.config.session_batching = model.config.session_batching, mode
    try:
        yield
    finally:
        model.config.session_batching = saved


def graphs_apply(model) -> bool:
    """Whether the model's audio tower has CUDA graphs (`audio_tower_cuda_graphs`: Phi-4's conformer)."""
    return model.audio_tower_graphs is not None


@contextmanager
def audio_tower_graphs(model, device: torch.device):
    """The model's audio tower replayed as graphs for the block, from an empty store (so its captures are timed
    too): CUDA graphs on a GPU, `EagerReplay` elsewhere (the same padded shapes and buffers, without the speed).
    Yields the store."""
    from modeling_sla.conformer_graphs_sla import ConformerGraphs, EagerReplay

    saved = model.config.audio_tower_cuda_graphs, model.audio_tower_graphs
    store = model.family.audio_tower_graphs() if device.type == "cuda" else ConformerGraphs(EagerReplay(device.type))
    model.config.audio_tower_cuda_graphs, model.audio_tower_graphs = True, store
    try:
        yield store
    finally:
        model.config.audio_tower_cuda_graphs, model.audio_tower_graphs = saved


def measure_invariance(model, synthesizer, sessions, device, tolerances: dict) -> dict:
    """Each session scored alone, then all in one batch under the default settings (must be bitwise equal) and in one
    padded batch (`session_batching="padded"`, opt-in: its differences are reported against `tolerances`)."""
    alone = [scores_of(model, synthesizer, [session], device, 1)[:2] for session in sessions]
    reference = torch.cat([scores for scores, _ in alone]), torch.cat([states for _, states in alone])
    reset_peak_memory(device)
    default = differences(reference, scores_of(model, synthesizer, sessions, device, len(sessions))[:2])
    with session_batching(model, "padded"):
        padded = differences(reference, scores_of(model, synthesizer, sessions, device, len(sessions))[:2])
    score_diff, state_diff = max(padded["score_diffs"]), max(padded["relative_state_diffs"])
    finite = bool(torch.isfinite(reference[0]).all())
    return {
        "sessions": len(sessions),
        "tokens": [len(session.input_ids) for session in sessions],
        "bitwise": default["bitwise"], "default_max_abs_score_diff": max(default["score_diffs"]),
        "score_diffs": padded["score_diffs"], "relative_state_diffs": padded["relative_state_diffs"],
        "max_abs_score_diff": score_diff, "max_relative_state_diff": state_diff,
        "score_tolerance": tolerances["score"], "state_tolerance": tolerances["state_relative"],
        "padded_within_tolerance": score_diff <= tolerances["score"] and state_diff <= tolerances["state_relative"],
        "scores_finite": finite, **peak_memory(device),
        "passed": finite and default["bitwise"],
    }


def cast_floating(module: torch.nn.Module, source: torch.dtype, target: torch.dtype) -> list[torch.Tensor]:
    """Casts every parameter and buffer of `module` held in `source` to `target`, in place; returns them (to cast
    back: bf16 -> float32 -> bf16 restores the same bits)."""
    cast = [tensor for tensor in itertools.chain(module.parameters(), module.buffers()) if tensor.dtype == source]
    for tensor in cast:
        tensor.data = tensor.data.to(target)
    return cast


def measure_float32_agreement(model, synthesizer, sessions, device, tolerances: dict) -> dict:
    """The whole model in float32: each session alone against one padded batch of them. Rounding is small there, so
    a masking fault (a clip, window or session seeing another's padding) shows; bf16 rounding does not."""
    low = next(model.backbone.parameters()).dtype
    cast = cast_floating(model, low, torch.float32) if low != torch.float32 else []
    try:
        alone = [scores_of(model, synthesizer, [session], device, 1)[:2] for session in sessions]
        reference = torch.cat([scores for scores, _ in alone]), torch.cat([states for _, states in alone])
        default = differences(reference, scores_of(model, synthesizer, sessions, device, len(sessions))[:2])
        with session_batching(model, "padded"):
            padded = differences(reference, scores_of(model, synthesizer, sessions, device, len(sessions))[:2])
    finally:
        for tensor in cast:
            tensor.data = tensor.data.to(low)
    score_diff, state_diff = max(padded["score_diffs"]), max(padded["relative_state_diffs"])
    return {
        "sessions": len(sessions), "tokens": [len(session.input_ids) for session in sessions],
        "bitwise": default["bitwise"], "padded_score_diffs": padded["score_diffs"],
        "padded_relative_state_diffs": padded["relative_state_diffs"],
        "max_abs_score_diff": score_diff, "max_relative_state_diff": state_diff,
        "score_tolerance": tolerances["float32_score"], "state_tolerance": tolerances["float32_state_relative"],
        "passed": default["bitwise"] and score_diff <= tolerances["float32_score"]
        and state_diff <= tolerances["float32_state_relative"],
    }


def measure_batched_scoring(model, synthesizer, sessions, device, peak: float | None,
                            settings: CheckSettings = CHECK) -> dict:
    """The sessions (longest first, as length-grouped batches take them) scored one at a time as the first pass over
    their shapes (`first_sight`: what a cohort of new sessions costs), then at each batch size under the default
    settings, and at the padded sizes with `session_batching="padded"`: sessions/s, MFU, and each against the first
    pass (batch 1)."""
    ordered = sorted(sessions, key=lambda session: -len(session.input_ids))
    flops = sum(session_forward_flops(model.config, session)["total"] for session in ordered)
    reference = None
    rows = []
    reset_peak_memory(device)
    plans = [("per_session", 1, True)] + [("per_session", size, False) for size in settings.scoring_batch_sizes]
    plans += [("padded", size, False) for size in settings.padded_batch_sizes]
    for mode, size, first_sight in plans:
        with session_batching(model, mode):
            scores, states, seconds = scores_of(model, synthesizer, ordered, device, size)
        reference = reference or (scores, states)
        compared = differences(reference, (scores, states))
        rows.append({"session_batching": mode, "batch": size, "first_sight": first_sight, "seconds": seconds,
                     "sessions_per_s": len(ordered) / seconds, "mfu": mfu(flops, seconds, peak),
                     "bitwise_equal_to_batch_1": compared["bitwise"],
                     "max_abs_score_diff": max(compared["score_diffs"]),
                     "max_relative_state_diff": max(compared["relative_state_diffs"])})
    default = [row for row in rows if row["session_batching"] == "per_session"]
    return {"sessions": len(ordered), "tokens": [len(session.input_ids) for session in ordered],
            "seconds_of_audio": [sum(session.seconds) for session in ordered], "rows": rows,
            "default_bitwise": all(row["bitwise_equal_to_batch_1"] for row in default), **peak_memory(device)}


def measure_parts(model, synthesizer, session, device, repeats: int, peak: float | None) -> dict:
    """Where one session's scoring time goes: the APP's Whisper, the audio tower, and the decoder from their cached
    outputs (the LoRA, head and APP classifier included), each a median of `repeats`."""
    inputs = to_device(synthesizer.collate([session]), device)
    flops = session_forward_flops(model.config, session)
    with torch.no_grad():
        audio = model.encode_speech(inputs["audio_input_features"], inputs["audio_feature_lengths"],
                                    inputs["audio_embed_sizes"])
        pooled = None if model.app is None else pool_app_inputs(model, inputs)[None]

    seconds = {
        "audio_tower": timed(lambda: model.encode_speech(
            inputs["audio_input_features"], inputs["audio_feature_lengths"], inputs["audio_embed_sizes"]),
            repeats, device),
        "app_whisper": None if model.app is None else timed(lambda: pool_app_inputs(model, inputs), repeats, device),
        "decoder": timed(lambda: model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                       audio_embeds=audio, app_pooled=pooled), repeats, device),
    }
    return {part: {"seconds_median": value, "mfu": None if value is None else mfu(flops[part], value, peak)}
            for part, value in seconds.items()}


def first_and_second_call(function, device: torch.device) -> dict:
    """Seconds of the first call of `function()` (without gradients, synchronised) and of the call after it."""
    seconds = []
    for _ in range(2):
        synchronize(device)
        begin = time.perf_counter()
        with torch.no_grad():
            function()
        synchronize(device)
        seconds.append(time.perf_counter() - begin)
    return {"first_call_s": seconds[0], "second_call_s": seconds[1], "first_sight_cost_s": seconds[0] - seconds[1]}


def measure_first_sight(model, synthesizer, session, device) -> dict:
    """What new shapes cost: a session of clip and sequence lengths no earlier call had, its audio tower, APP Whisper
    and decoder from their outputs each timed at the first call and again. Every real session brings new lengths;
    kernels chosen or planned per shape (cuDNN's convolution plans, say) are paid at its first call."""
    inputs = to_device(synthesizer.collate([session]), device)
    speech = (inputs["audio_input_features"], inputs["audio_feature_lengths"], inputs["audio_embed_sizes"])
    parts = {"audio_tower": first_and_second_call(lambda: model.encode_speech(*speech), device)}
    if model.app is not None:
        parts["app_whisper"] = first_and_second_call(lambda: pool_app_inputs(model, inputs), device)
    with torch.no_grad():
        audio = model.encode_speech(*speech)
        pooled = None if model.app is None else pool_app_inputs(model, inputs)[None]
    parts["decoder"] = first_and_second_call(
        lambda: model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], audio_embeds=audio,
                      app_pooled=pooled), device)
    return {"tokens": len(session.input_ids), "seconds_of_audio": sum(session.seconds), "parts": parts}


def unit_alone(model, features, lengths, sizes, index: int) -> torch.Tensor:
    """One unit encoded alone, as the native model would: a Phi-4 clip by the native conformer without padding, a 30 s
    window by itself."""
    if model.family.model_type == "phi4_multimodal":
        from modeling_sla.speech_encoding_sla import encode_clip_natively

        return encode_clip_natively(model.backbone.embed_tokens_extend.audio_embed, features[index],
                                    int(lengths[index]), int(sizes[index]))
    picked = slice(index, index + 1)
    return model.encode_speech(features[picked], lengths[picked], sizes[picked])


def measure_audio_tower(model, synthesizer, session, device, repeats: int, tolerance: float) -> dict:
    """The audio tower on one session: all its units in one call (the model's way) against each unit alone: the time
    of both in the model's dtype, and their largest difference with the tower in float32 (and in the model's dtype);
    it passes when the float32 difference is within `tolerance` of the largest value (a padding fault moves outputs by
    tens of per cent)."""
    inputs = to_device(synthesizer.collate([session]), device)
    features, lengths, sizes = (inputs[key] for key in ("audio_input_features", "audio_feature_lengths",
                                                        "audio_embed_sizes"))

    def together() -> torch.Tensor:
        return model.encode_speech(features, lengths, sizes)

    def one_by_one() -> torch.Tensor:
        return torch.cat([unit_alone(model, features, lengths, sizes, index) for index in range(len(sizes))])

    def largest_difference() -> tuple[float, float]:
        with torch.no_grad():
            ours, alone = together().float(), one_by_one().float()
        return float((ours - alone).abs().max()), float(alone.abs().max())

    together_s, alone_s = timed(together, repeats, device), timed(one_by_one, repeats, device)
    model_dtype_diff, _ = largest_difference()
    low = next(model.backbone.parameters()).dtype
    towers = model.family.audio_modules(model.backbone)
    cast = [tensor for tower in towers for tensor in cast_floating(tower, low, torch.float32)] \
        if low != torch.float32 else []
    try:
        float32_diff, scale = largest_difference()
    finally:
        for tensor in cast:
            tensor.data = tensor.data.to(low)
    relative = float32_diff / max(scale, 1e-12)
    return {"units": len(sizes), "together_s": together_s, "one_by_one_s": alone_s,
            "speedup": alone_s / together_s, "max_abs_diff_model_dtype": model_dtype_diff,
            "max_abs_diff_float32": float32_diff, "max_abs_value_float32": scale, "relative_diff_float32": relative,
            "tolerance": tolerance, "passed": relative <= tolerance}


def measure_tower_graphs(model, synthesizer, session, sessions, device, repeats: int, peak: float | None,
                         settings: CheckSettings = CHECK) -> dict:
    """Phi-4's conformer passes replayed as CUDA graphs (`audio_tower_cuda_graphs`, opt-in) against the eager tower.
    `tower`: the real-length session's clips in one call, eagerly and with graphs from an empty store (the first call
    captures each padded shape), each timed, and the largest output difference (the padded shapes change the GEMMs'
    shapes, so the rounding). `scoring`: `sessions` scored one at a time with graphs from an empty store (a cohort of
    new sessions, its captures included) and then eagerly (their shapes already seen by batched scoring), side by
    side: sessions/s, MFU, and how far scores and states move."""
    inputs = to_device(synthesizer.collate([session]), device)
    speech = (inputs["audio_input_features"], inputs["audio_feature_lengths"], inputs["audio_embed_sizes"])

    def together() -> torch.Tensor:
        return model.encode_speech(*speech)

    eager_s = timed(together, repeats, device)
    with torch.no_grad():
        eager = together().float()
    with audio_tower_graphs(model, device) as store:
        first = first_and_second_call(together, device)
        graphed_s = timed(together, repeats, device)
        with torch.no_grad():
            difference = float((together().float() - eager).abs().max())
        tower = {"eager_s": eager_s, "graphs_first_call_s": first["first_call_s"], "graphs_s": graphed_s,
                 "speedup": eager_s / graphed_s, "graphs_captured": store.captures, "max_abs_diff": difference,
                 "max_abs_value": float(eager.abs().max())}

    ordered = sorted(sessions, key=lambda item: -len(item.input_ids))
    flops = sum(session_forward_flops(model.config, item)["total"] for item in ordered)
    reset_peak_memory(device)
    with audio_tower_graphs(model, device) as store:
        *graphed, graphed_seconds = scores_of(model, synthesizer, ordered, device, 1)
        captured = store.captures
    *reference, eager_seconds = scores_of(model, synthesizer, ordered, device, 1)
    compared = differences(tuple(reference), tuple(graphed))
    scoring = {"sessions": len(ordered), "graphs_captured": captured,
               "graphs_sessions_per_s": len(ordered) / graphed_seconds, "graphs_mfu": mfu(flops, graphed_seconds, peak),
               "eager_sessions_per_s": len(ordered) / eager_seconds, "eager_mfu": mfu(flops, eager_seconds, peak),
               "speedup": eager_seconds / graphed_seconds, "max_abs_score_diff": max(compared["score_diffs"]),
               "max_relative_state_diff": max(compared["relative_state_diffs"]),
               "scores_finite": bool(torch.isfinite(graphed[0]).all()), **peak_memory(device)}
    return {"tower": tower, "scoring": scoring}


@contextmanager
def random_lora_b(model, std: float, seed: int):
    """LoRA B drawn with `std` for the block (a fresh model's is zero), the zeros put back after."""
    from modeling_sla.lora_sla import ADAPTER_NAME, lora_layers

    weights = [layer.lora_B[ADAPTER_NAME].weight for layer in lora_layers(model.backbone)]
    generator = torch.Generator().manual_seed(seed)
    saved = [weight.detach().clone() for weight in weights]
    try:
        with torch.no_grad():
            for weight in weights:
                weight.copy_(torch.randn(weight.shape, generator=generator) * std)
        yield
    finally:
        with torch.no_grad():
            for weight, value in zip(weights, saved):
                weight.copy_(value)


def measure_lora_levers(model, synthesizer, session, device, repeats: int, peak: float | None, seed: int = 0,
                        settings: CheckSettings = CHECK) -> dict:
    """The decoder of one session from its cached encoder outputs with the LoRA adapters as trained (float32), held
    in the backbone's dtype, and merged into the frozen weights: time, MFU, and how far scores and head state move
    from the float32 adapters (LoRA B drawn with `lever_lora_b_std`, so the adapters do something)."""
    from modeling_sla.lora_sla import lora_in_dtype, lora_merged

    item = encoder_cache(model, synthesizer, session, device)
    inputs = {"input_ids": item["input_ids"][None].to(device), "audio_embeds": item["audio_embeds"].to(device),
              "app_pooled": None if item["app_pooled"] is None else item["app_pooled"][None].to(device)}
    flops = session_forward_flops(model.config, session)["decoder"]
    low = next(model.backbone.parameters()).dtype
    levers = {"float32": nullcontext, "backbone_dtype": lambda: lora_in_dtype(model.backbone, low),
              "merged": lambda: lora_merged(model.backbone)}
    results, reference = {}, None
    with random_lora_b(model, settings.lever_lora_b_std, seed):
        for name, lever in levers.items():
            with lever(), torch.no_grad():
                outputs = []

                def decode():
                    outputs.append(model(**inputs))
                    synchronize(device)

                seconds = median_time(decode, repeats)
            scores, state = outputs[-1].scores.float(), outputs[-1].pooled_state.float()
            reference = reference or (scores, state)
            results[name] = {"seconds_median": seconds, "mfu": mfu(flops, seconds, peak),
                             "max_abs_score_diff": float((scores - reference[0]).abs().max()),
                             "relative_state_diff": float((state - reference[1]).norm() / reference[1].norm())}
    return {"lora_b_std": settings.lever_lora_b_std, "levers": results}


def encoder_cache(model, synthesizer, session, device) -> dict:
    """A session's token ids and its frozen encoders' outputs, computed once, as the session cache keeps them."""
    inputs = to_device(synthesizer.collate([session]), device)
    with torch.no_grad():
        item = encode_speech_inputs(model, inputs)
        item["app_pooled"] = None if model.app is None else pool_app_inputs(model, inputs)
    return item


def random_marks(count: int, num_scores: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Half-band marks in 2.0-5.5, with one mark missing in the second session (as real sessions lack some)."""
    generator = torch.Generator().manual_seed(seed)
    labels = 2.0 + 0.5 * torch.randint(0, 8, (count, num_scores), generator=generator).float()
    mask = torch.ones(count, num_scores, dtype=torch.bool)
    if count > 1:
        mask[1, 1] = False
    return labels, mask


def measure_training(model, synthesizer, sessions, device, steps: int, learning_rate: float, peak: float | None,
                     seed: int = 0, autocast: bool = False, batching: str = "padded",
                     checkpointing: bool = True) -> dict:
    """`steps` AdamW steps (fused on CUDA, as the Trainer's default) on the trainable parameters with cached encoder
    outputs, with activation checkpointing unless `checkpointing` is False (`sla train`'s default: no recompute, every
    activation kept), the batch run as `batching` (`config.training_batching`: one padded pass, or one pass per
    session), optionally under `torch.autocast` in the backbone's dtype (LoRA then computed in it, on float32 master
    weights); the trainable weights are restored afterwards, so every phase starts from the same model."""
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    initial = {name: p.detach().clone() for name, p in trainable.items()}
    start = time.perf_counter()
    items = [encoder_cache(model, synthesizer, session, device) for session in sessions]
    synchronize(device)
    cache_s = time.perf_counter() - start
    labels, labels_mask = random_marks(len(sessions), model.config.num_scores, seed)
    batch = to_device({**batch_of_cached(items, synthesizer.token_ids.pad), "labels": labels,
                       "labels_mask": labels_mask}, device)
    optimizer = torch.optim.AdamW(trainable.values(), lr=learning_rate, fused=device.type == "cuda")
    low = next(model.backbone.parameters()).dtype
    if checkpointing:
        model.activation_checkpointing_enable()
    model.train()
    reset_peak_memory(device)
    losses, times = [], []
    saved_batching, model.config.training_batching = model.config.training_batching, batching
    torch.manual_seed(seed)  # LoRA dropout draws the same masks in every phase
    try:
        for _ in tqdm(range(steps), desc=f"training, batch {len(sessions)}", unit="step", leave=False):
            begin = time.perf_counter()
            with torch.autocast(device.type, dtype=low, enabled=autocast):
                loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            synchronize(device)
            times.append(time.perf_counter() - begin)
            losses.append(float(loss.detach()))
    finally:
        model.config.training_batching = saved_batching
        if checkpointing:
            model.activation_checkpointing_disable()
        model.eval()
        with torch.no_grad():
            for name, parameter in trainable.items():
                parameter.copy_(initial[name])
    step_s = statistics.median(times[1:] or times)  # the first step warms up
    return {
        "batch": len(sessions), "steps": steps, "autocast": autocast, "batching": batching,
        "checkpointing": checkpointing,
        "tokens": [len(session.input_ids) for session in sessions],
        "cache_s": cache_s, "step_s_median": step_s, "step_s_first": times[0], "sessions_per_s": len(sessions) / step_s,
        "mfu": mfu(train_step_flops(model.config, sessions), step_s, peak), **peak_memory(device),
        "losses": losses, "losses_finite": all(math.isfinite(loss) for loss in losses),
    }


# --------------------------------------------------------------------------------------------------------- runs
def requested_attentions(choice: str, device: torch.device, dtype: torch.dtype) -> tuple[list[str], dict]:
    """The attention implementations to run, and those skipped with the reason."""
    from transformers.utils import is_flash_attn_2_available

    names = ["sdpa", "flash_attention_2"] if choice == "all" else choice.split(",")
    unknown = [name for name in names if name not in ATTENTION_CHOICES]
    if unknown:
        raise ValueError(f"Unknown attention implementation(s) {unknown}; choose from {ATTENTION_CHOICES} or 'all'.")
    skipped = {}
    if "flash_attention_2" in names:
        if device.type != "cuda":
            skipped["flash_attention_2"] = "flash attention needs a CUDA device"
        elif not is_flash_attn_2_available():
            skipped["flash_attention_2"] = "flash-attn is not installed"
        elif dtype not in (torch.bfloat16, torch.float16):
            skipped["flash_attention_2"] = f"flash attention does not run {str(dtype).removeprefix('torch.')}"
    return [name for name in names if name not in skipped], skipped


def attention_failures(requested: str, in_use: dict) -> list[str]:
    """The audio tower must run sdpa (or eager when asked for); the decoder and the APP encoder what was asked."""
    from modeling_sla.backbone_adapter_sla import AUDIO_TOWER_ATTENTION

    tower = requested if requested in AUDIO_TOWER_ATTENTION else "sdpa"
    failures = []
    if in_use["audio_tower"] != [tower]:
        failures.append(f"{requested}: the audio tower runs {in_use['audio_tower']}, not {tower}")
    for part in ("decoder", "app_encoder"):
        if in_use[part] and in_use[part] != [requested]:
            failures.append(f"{requested}: the {part} runs {in_use[part]}, not {requested}")
    return failures


@dataclass(frozen=True)
class RunPlan:
    """What one run measures, and how."""

    device: torch.device
    dtype: torch.dtype
    attentions: list[str]
    steps: int
    repeats: int
    session_scale: float
    tolerances: dict
    learning_rate: float
    device_name: str | None
    peak_flops: float | None
    peak_source: str
    seed: int


def make_plan(args, settings: CheckSettings = CHECK) -> tuple[RunPlan, dict]:
    """The plan of a run from the command line and `gpu_check.json`, and the attention implementations skipped."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = getattr(torch, args.dtype)
    quick = settings.quick if args.quick else {}
    attentions, skipped = requested_attentions(args.attn, device, dtype)
    tolerances = dict(settings.tolerances)
    if args.score_tolerance is not None:
        tolerances["float32_score"] = args.score_tolerance
    if args.state_tolerance is not None:
        tolerances["float32_state_relative"] = args.state_tolerance
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    peak_flops, peak_source = device_peak_flops(device_name, settings)
    plan = RunPlan(
        device=device, dtype=dtype, attentions=attentions,
        steps=args.steps if args.steps is not None else quick.get("steps", settings.steps),
        repeats=args.repeats or quick.get("repeats", settings.scoring_repeats),
        session_scale=quick.get("session_scale", 1.0), tolerances=tolerances, learning_rate=settings.learning_rate,
        device_name=device_name, peak_flops=peak_flops, peak_source=peak_source, seed=args.seed,
    )
    return plan, skipped


def plan_sessions(synthesizer: SessionSynthesizer, plan: RunPlan, settings: CheckSettings = CHECK) -> dict:
    """The sessions of every phase: one of the real layout; one of shapes no other phase has (first sight); 16 for
    batched scoring, of 0.6-1.2 x the real durations; 4 for batch invariance and 2 in float32, shorter; a training
    batch of 8 around the real length."""
    scale, seed = plan.session_scale, plan.seed

    def sessions(scales, first_seed: int) -> list[SyntheticSession]:
        return [synthesizer.session(scaled_session(scale * factor), seed=first_seed + index)
                for index, factor in enumerate(scales)]

    return {
        "real": synthesizer.session(scaled_session(scale), seed=seed),
        "first_sight": synthesizer.session(scaled_session(scale * settings.first_sight_scale), seed=seed + 51),
        "invariance": sessions(settings.invariance_scales, seed + 1),
        "float32": sessions(settings.float32_scales, seed + 1),
        "scoring": sessions(settings.scoring_session_scales, seed + 31),
        "train": sessions(settings.train_batch_scales, seed + 11),
    }


@dataclass(frozen=True)
class TrainingPhase:
    """One training measurement: its name in the report, its sessions, and how the batch is run."""

    name: str
    sessions: list
    autocast: bool = False
    batching: str = "padded"
    checkpointing: bool = True


def training_batches(sessions: dict, settings: CheckSettings = CHECK) -> list[TrainingPhase]:
    """Each training measurement: the real session alone, then the first 4 and 8 of the training batch, padded, with
    activation checkpointing; the per-session sizes run one pass per session (opt-in); the sizes without
    checkpointing keep every activation (`sla train`'s default); one more under autocast."""

    def batch(size: int) -> list:
        return [sessions["real"]] if size == 1 else sessions["train"][:size]

    return ([TrainingPhase(str(size), batch(size)) for size in settings.train_batch_sizes]
            + [TrainingPhase(f"{size}_per_session", batch(size), batching="per_session")
               for size in settings.train_per_session_batch_sizes]
            + [TrainingPhase(f"{size}_no_checkpointing", batch(size), checkpointing=False)
               for size in settings.train_without_checkpointing_batch_sizes]
            + [TrainingPhase(f"{settings.autocast_batch_size}_autocast", batch(settings.autocast_batch_size),
                             autocast=True)])


def projected_training(result: dict, settings: CheckSettings = CHECK) -> dict:
    """3 epochs of S&I train (`real_size.json`: its hours over the real session's length) at the best measured
    training rate (`fastest` names its phase), plus one pass of the frozen encoders per session to fill the cache (the
    parts' audio tower and APP Whisper times)."""
    parts = result["parts"]
    cache_s = sum(parts[part]["seconds_median"] or 0.0 for part in ("audio_tower", "app_whisper"))
    sessions = SETTINGS.train_hours * 3600 / sum(SETTINGS.session_lengths)
    measured = {name: row for name, row in result["training"].items() if "sessions_per_s" in row}

    def fastest(names: list[str]) -> str | None:
        return max(names, key=lambda name: measured[name]["sessions_per_s"], default=None)

    def minutes(name: str | None) -> float | None:
        if name is None:
            return None
        return (SETTINGS.train_epochs * sessions / measured[name]["sessions_per_s"] + sessions * cache_s) / 60

    plain = fastest([name for name, row in measured.items() if not row.get("autocast")])
    any_way = fastest(list(measured))
    return {"train_sessions": sessions, "epochs": SETTINGS.train_epochs, "encoder_cache_s_per_session": cache_s,
            "encoder_cache_minutes": sessions * cache_s / 60, "minutes": minutes(plain), "fastest": plain,
            "minutes_with_autocast": minutes(any_way), "fastest_with_autocast": any_way}


def guarded(target: dict, name: str, measure, device: torch.device, errors: list, label: str) -> None:
    """Runs one phase into `target[name]`; an error is recorded there and in `errors` (as `label` raised ...), and the
    next phase runs."""
    try:
        target[name] = measure()
    except Exception as error:  # recorded, so the other phases' figures are not lost
        target[name] = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        errors.append(f"{label} raised {type(error).__name__}: {error}")
        print(target[name]["traceback"], file=sys.stderr, flush=True)
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()


def run_attention(model, synthesizer, sessions: dict, plan: RunPlan, attention: str, saved=lambda result: None,
                  settings: CheckSettings = CHECK) -> dict:
    """Every phase under one attention implementation; `saved(result)` is called after each phase."""
    model.set_attn_implementation(attention)
    in_use = attention_in_use(model)
    device, peak, repeats, real = plan.device, plan.peak_flops, plan.repeats, sessions["real"]
    result = {"attn_implementation": attention, "in_use": in_use, "errors": []}
    phases = {
        "scoring": lambda: measure_scoring(model, synthesizer, real, device, repeats, peak),
        "parts": lambda: measure_parts(model, synthesizer, real, device, repeats, peak),
        "first_sight": lambda: measure_first_sight(model, synthesizer, sessions["first_sight"], device),
        "audio_tower": lambda: measure_audio_tower(model, synthesizer, real, device, repeats,
                                                   plan.tolerances["tower_float32_relative"]),
        "lora_levers": lambda: measure_lora_levers(model, synthesizer, real, device, repeats, peak, plan.seed),
        "batched_scoring": lambda: measure_batched_scoring(model, synthesizer, sessions["scoring"], device, peak),
        **({"audio_tower_graphs": lambda: measure_tower_graphs(model, synthesizer, real, sessions["scoring"], device,
                                                               repeats, peak)} if graphs_apply(model) else {}),
        "batch_invariance": lambda: measure_invariance(model, synthesizer, sessions["invariance"], device,
                                                       plan.tolerances),
        "float32_agreement": lambda: measure_float32_agreement(model, synthesizer, sessions["float32"], device,
                                                               plan.tolerances),
    }
    for name, measure in phases.items():
        guarded(result, name, measure, device, result["errors"], f"{attention}: {name}")
        saved(result)
    result["training"] = {}
    for phase in training_batches(sessions, settings):
        guarded(result["training"], phase.name,
                lambda: measure_training(model, synthesizer, phase.sessions, device, plan.steps, plan.learning_rate,
                                         peak, plan.seed, autocast=phase.autocast, batching=phase.batching,
                                         checkpointing=phase.checkpointing),
                device, result["errors"], f"{attention}: training {phase.name}")
        saved(result)
    guarded(result, "projection", lambda: projected_training(result), device, result["errors"],
            f"{attention}: projection")
    result["failures"] = attention_failures(attention, in_use) + phase_failures(attention, result)
    saved(result)
    return result


def phase_failures(attention: str, result: dict) -> list[str]:
    """What failed: a phase that raised, non-finite scores or losses, a session whose scores moved with its batch
    under the default settings, float32 disagreement beyond its tolerance (a masking fault), the audio tower's units
    together disagreeing with each alone."""
    failures = list(result.get("errors", []))
    scoring = result.get("scoring", {})
    if "scores_finite" in scoring and not scoring["scores_finite"]:
        failures.append(f"{attention}: scoring gave non-finite scores")
    invariance = result.get("batch_invariance", {})
    if "passed" in invariance and not invariance["passed"]:
        failures.append(
            f"{attention}: batch invariance failed: under the default settings a session batched is not bitwise "
            f"equal to it alone (scores differ by up to {invariance['default_max_abs_score_diff']:.4g}), or scores "
            f"are not finite ({invariance['scores_finite']})")
    batched = result.get("batched_scoring", {})
    if "default_bitwise" in batched and not batched["default_bitwise"]:
        failures.append(f"{attention}: batched scoring: a batch size gave scores not bitwise equal to batch 1")
    agreement = result.get("float32_agreement", {})
    if "passed" in agreement and not agreement["passed"]:
        failures.append(
            f"{attention}: float32 agreement failed: padded batch against alone, scores differ by up to "
            f"{agreement['max_abs_score_diff']:.4g} (tolerance {agreement['score_tolerance']:g}), the head's state "
            f"by {agreement['max_relative_state_diff']:.3g} relative (tolerance {agreement['state_tolerance']:g}), "
            f"default bitwise: {agreement['bitwise']}")
    graphs = result.get("audio_tower_graphs", {}).get("scoring", {})
    if "scores_finite" in graphs and not graphs["scores_finite"]:
        failures.append(f"{attention}: scoring with the audio tower as CUDA graphs gave non-finite scores")
    tower = result.get("audio_tower", {})
    if "passed" in tower and not tower["passed"]:
        failures.append(f"{attention}: the audio tower's units encoded together differ from each alone by "
                        f"{tower['relative_diff_float32']:.3g} of the largest value in float32 (tolerance "
                        f"{tower['tolerance']:g})")
    for batch, training in result.get("training", {}).items():
        if "losses_finite" in training and not training["losses_finite"]:
            failures.append(f"{attention}: training at batch {batch} gave a non-finite loss: {training['losses']}")
    return failures


# ---------------------------------------------------------------------------------------------------- the check
def quick_checkpoint(backbone: str, folder: str, size: str) -> str:
    """A tiny checkpoint of `backbone` (random towers, for speed), built as the tests build theirs."""
    from sla_phi4.testing.tiny_checkpoint import build_tiny_checkpoint

    return build_tiny_checkpoint(folder, backbone=backbone, size=size, audio_tower="random")


def configuration(backbone: str, folder: str | None):
    """The SLA configuration and token ids: the real ones, or those of a checkpoint folder (--quick, --config-from)."""
    if folder is None:
        config = real_sla_config(backbone)
        return config, family_token_ids(backbone, config)
    from modeling_sla import SLAConfig
    from processing_sla import SLAProcessor

    config = SLAConfig.from_pretrained(folder)
    model_type = config.audio_llm_config.model_type
    if model_type != SETTINGS.families[backbone]:
        raise ValueError(f"{folder} holds a {model_type} backbone, not --backbone {backbone} "
                         f"({SETTINGS.families[backbone]}).")
    return config, processor_token_ids(SLAProcessor.from_pretrained(folder))


def run(args, folder: str | None, backbone: str | None = None, saved=lambda report: None) -> dict:
    """Builds the model of `backbone` (default `args.backbone`) and runs every phase under each attention
    implementation; `saved(report)` is called after every phase, so a run stopped part way keeps what it measured. A
    phase that raises is recorded as a failure and the next one still runs."""
    import transformers

    backbone = backbone or args.backbone
    plan, skipped = make_plan(args)
    config, token_ids = configuration(backbone, folder)
    synthesizer = SessionSynthesizer(config, token_ids)
    estimate = estimated_seconds(config, synthesizer, len(plan.attentions), plan.steps, plan.repeats)
    model, build = build_measured(config, plan)
    sessions = plan_sessions(synthesizer, plan)
    real = sessions["real"]
    flops = session_forward_flops(config, real)
    report = {
        "meta": {
            "backbone": backbone, "backbone_model_type": config.audio_llm_config.model_type,
            "configuration": configuration_label(args, folder), "mode": "quick" if args.quick else "full",
            "device": str(plan.device), "device_name": plan.device_name, "dtype": args.dtype, "steps": plan.steps,
            "scoring_repeats": plan.repeats, "session_scale": plan.session_scale, "seed": plan.seed,
            "session_batching": config.session_batching,
            "torch": torch.__version__, "transformers": transformers.__version__, "platform": platform.platform(),
            "estimated_s": estimate,
        },
        "peak_bf16_dense_flops": plan.peak_flops, "peak_source": plan.peak_source,
        "model": build,
        "session": {
            "responses": len(real.responses), "seconds": sum(real.seconds), "tokens": len(real.input_ids),
            "audio_tokens": real.audio_tokens, "text_tokens": len(real.input_ids) - real.audio_tokens,
            "audio_units": len(real.units), "app_windows": len(real.app_frames),
            "tflop_forward": {part: value / 1e12 for part, value in flops.items()},
            "tflop_train_step": train_step_flops(config, [real]) / 1e12,
            "invariance_scales": list(CHECK.invariance_scales), "first_sight_scale": CHECK.first_sight_scale, "train_batch_scales": list(CHECK.train_batch_scales),
            "scoring_session_scales": list(CHECK.scoring_session_scales),
        },
        "runs": {},
        "skipped": skipped,
        "failures": [],
    }
    try:
        for attention in tqdm(plan.attentions, desc="attention implementations", unit="run"):
            def save_partial(result, attention=attention):
                report["runs"][attention] = result
                saved(report)

            try:
                result = run_attention(model, synthesizer, sessions, plan, attention, save_partial)
            except Exception as error:  # recorded, so the other implementation's figures are not lost
                result = {"attn_implementation": attention, "error": f"{type(error).__name__}: {error}",
                          "traceback": traceback.format_exc(),
                          "failures": [f"{attention}: raised {type(error).__name__}: {error}"]}
                print(result["traceback"], file=sys.stderr, flush=True)
            report["runs"][attention] = result
            report["failures"] += result["failures"]
            saved(report)
        if commands_apply(backbone):
            run_commands(report, plan, saved)
    finally:
        del model
        gc.collect()  # the next backbone needs the memory back
        if plan.device.type == "cuda":
            torch.cuda.empty_cache()
    return report


def commands_apply(backbone: str) -> bool:
    """The commands phase runs once a call, with the Phi-4 backbone (its tiny checkpoint has Phi-4's structure)."""
    return backbone == "phi4"


def run_commands(report: dict, plan: RunPlan, saved, settings: CheckSettings = CHECK) -> None:
    """The `commands` phase (`command_paths.py`) into `report`, its failures added to the report's."""
    from sla_phi4.benchmarks.command_paths import command_failures, measure_commands

    errors = []
    quick = plan.session_scale < 1.0
    guarded(report, "commands", lambda: measure_commands(plan.device, quick, settings.commands["sessions"],
                                                         settings.commands["repeats"]), plan.device, errors, "commands")
    report["failures"] += errors or command_failures(report["commands"], plan.device)
    saved(report)


def backbones_of(choice: str) -> list[str]:
    """`all`, or a comma list of backbone families."""
    names = list(BACKBONES) if choice == "all" else choice.split(",")
    unknown = [name for name in names if name not in BACKBONES]
    if unknown or not names:
        raise ValueError(f"Unknown backbone(s) {unknown}; choose from {', '.join(BACKBONES)}, a comma list or 'all'.")
    return names


def run_backbones(args, folders: dict, output: str) -> dict:
    """`run` for each backbone of `args.backbone` (one, a comma list or `all`) in one process, written to `output`
    after every phase: the report of the one backbone, or `{"backbones": {name: report}, "failures": [...]}`. A
    backbone that fails to build is recorded and the next one runs."""
    names = backbones_of(args.backbone)
    single = len(names) == 1
    combined = {"meta": {"backbones": names, "mode": "quick" if args.quick else "full"}, "backbones": {},
                "failures": []}

    def saved(report, name):
        combined["backbones"][name] = report
        save_report(report if single else combined, output)

    for name in names:
        try:
            report = run(args, folders.get(name), name, lambda report, name=name: saved(report, name))
        except Exception as error:
            report = {"meta": {"backbone": name}, "error": f"{type(error).__name__}: {error}",
                      "traceback": traceback.format_exc(), "failures": [f"{name}: raised {type(error).__name__}: "
                                                                        f"{error}"]}
            print(report["traceback"], file=sys.stderr, flush=True)
        saved(report, name)
        combined["failures"] += [failure if single else f"{name}: {failure}" for failure in report["failures"]]
    return combined["backbones"][names[0]] if single else combined


def save_report(report: dict, path: str) -> None:
    """Writes the report whole or not at all (a run stopped by `timeout` mid-write keeps the last complete one)."""
    partial = f"{path}.partial"
    with open(partial, "w", encoding="utf-8") as handle:
        strict_json.dump(report, handle, indent=2)
    os.replace(partial, path)


def call_estimate(args, folders: dict, settings: CheckSettings = CHECK) -> float:
    """Device time of a whole call: every backbone's estimate, plus the fixed overhead once."""
    plan, _ = make_plan(args)
    total = settings.estimate["fixed_overhead_s"]
    for name in backbones_of(args.backbone):
        config, token_ids = configuration(name, folders.get(name))
        total += estimated_seconds(config, SessionSynthesizer(config, token_ids), len(plan.attentions), plan.steps,
                                   plan.repeats)
    return total


def announce_call_estimate(args, folders: dict, settings: CheckSettings = CHECK) -> None:
    """Prints the estimated device time of a full run first, and says so when it is over the budget."""
    if args.quick:
        return
    budget, estimate = settings.estimate["budget_s"], call_estimate(args, folders)
    print(f"Estimated device time at {settings.estimate['assumed_mfu']:.0%} of a 989 TFLOP/s device: {estimate:.0f} s",
          flush=True)
    if estimate > budget:
        print(f"The estimate is over the {budget} s budget: fewer --steps, or --attn sdpa, keep a run inside it.",
              flush=True)


def build_measured(config, plan: RunPlan) -> tuple:
    """The model built on the plan's device, with the time it took and the memory it holds: the host's peak resident
    memory while building, against the weights (a second full copy on the host would show as 1x or more). CUDA starts
    first, so its libraries are not counted as growth."""
    if plan.device.type == "cuda":
        torch.empty(1, device=plan.device)
    reset_peak_rss()
    before = status_mb("VmRSS")
    start = time.perf_counter()
    model = build_model(config, plan.device, plan.dtype, seed=plan.seed)
    synchronize(plan.device)
    build_s = time.perf_counter() - start
    parameters = parameter_summary(model)
    peak = peak_rss_mb()
    host = {"rss_before_build_mb": before, "peak_rss_during_build_mb": peak, "rss_anon_after_build_mb":
            status_mb("RssAnon"), "peak_growth_mb": None if before is None else peak - before}
    host["peak_growth_per_weights"] = (None if host["peak_growth_mb"] is None
                                       else host["peak_growth_mb"] / parameters["weights_mb"])
    gpu = torch.cuda.memory_allocated(plan.device) / MB if plan.device.type == "cuda" else None
    return model, {"build_s": build_s, "parameters": parameters, "host_memory": host,
                   "gpu_memory_after_build_mb": gpu}


def configuration_label(args, folder: str | None) -> str:
    if folder is None:
        return "real configuration"
    if args.config_from:
        return f"configuration of {folder}"
    return f"{CHECK.quick['size']} configuration (built on the fly)"


# --------------------------------------------------------------------------------------------------------- table
def format_report(report: dict) -> str:
    """The report as Markdown: a header of the model, session and memory, then one table row per phase."""
    meta, model, session = report["meta"], report["model"], report["session"]
    parameters, host = model["parameters"], model["host_memory"]
    tflop = session["tflop_forward"]
    lines = [
        f"## sla-phi4 GPU check: {meta['backbone']}, {meta['configuration']}, {meta['dtype']}, "
        f"{meta['device_name'] or meta['device']} ({meta['mode']} run)",
        "",
        f"- Model: {parameters['total']:,} parameters ({parameters['trainable']:,} trainable; LoRA on "
        f"{parameters['lora_modules']} modules in {'/'.join(parameters['dtypes']['lora'])}), built in "
        f"{model['build_s']:.1f} s; weights {size(parameters['weights_mb'])}.",
        f"- Host memory while building: peak RSS {size(host['peak_rss_during_build_mb'])}, "
        f"{size(host['peak_growth_mb'])} above the RSS before building ({ratio(host['peak_growth_per_weights'])} "
        f"the weights); GPU memory after building {size(model['gpu_memory_after_build_mb'])}.",
        f"- Session: {session['responses']} responses, {session['seconds']:.0f} s, {session['tokens']:,} decoder "
        f"tokens ({session['audio_tokens']:,} audio + {session['text_tokens']:,} text), {session['app_windows']} APP "
        f"windows; {tflop['total']:.3g} TFLOP forward (decoder {tflop['decoder']:.3g}, audio tower "
        f"{tflop['audio_tower']:.3g}, APP Whisper {tflop['app_whisper']:.3g}); "
        f"{session['tflop_train_step']:.3g} TFLOP per training step and session.",
        f"- MFU against {format_peak(report)}.",
        "",
        "| attention (decoder / audio tower / APP) | phase | batch | sessions/s | MFU | peak GPU memory, allocated / "
        "reserved (GB) | check |",
        "|---|---|---|---|---|---|---|",
    ]
    for attention, result in report["runs"].items():
        if "error" in result:
            lines.append(f"| {attention} | - | - | - | - | - | FAILED: {result['error']} |")
            continue
        in_use = result["in_use"]
        label = f"{attention} ({'/'.join(in_use['decoder'])} / {'/'.join(in_use['audio_tower'])} / " \
                f"{'/'.join(in_use['app_encoder']) or '-'})"
        lines += [f"| {label} | {row} |" for row in attention_rows(result)]
    for attention, reason in report["skipped"].items():
        lines.append(f"| {attention} | skipped | - | - | - | - | {reason} |")
    projection = [result.get("projection") for result in report["runs"].values()]
    for attention, projected in zip(report["runs"], projection):
        if projected and "minutes" in projected and projected["minutes"] is not None:
            autocast = projected["minutes_with_autocast"]
            lines.append(f"\n{attention}: {projected['epochs']} epochs of S&I train "
                         f"({projected['train_sessions']:,.0f} "
                         f"sessions) projected at {projected['minutes']:.0f} min (training {projected['fastest']}; "
                         f"{autocast:.0f} min with autocast), encoder cache included "
                         f"({projected['encoder_cache_minutes']:.1f} min).")
    if "commands" in report:
        lines.append("\n" + format_commands(report["commands"]))
    lines.append("")
    lines.append("All checks passed." if not report["failures"] else "FAILED:\n" + "\n".join(
        f"- {failure}" for failure in report["failures"]))
    return "\n".join(lines)


def format_commands(commands: dict) -> str:
    """The commands phase in a few sentences."""
    if "error" in commands:
        return f"Commands: FAILED: {commands['error']}"
    loop, command, training = commands["scoring_loop"], commands["score_command"], commands["training_setup"]
    return (f"Commands ({commands['checkpoint']}; {loop['sessions']} sessions of {commands['session_scale']:g} x the "
            f"real length from FLAC files): `sla score` scored {command['sessions']} sessions on "
            f"{command['device']} in {command['dtype']}, batch {command['batch_size']}, {command['num_workers']} "
            f"featurizing workers, in {command['seconds']:.1f} s. The scoring loop (model on {loop['model_device']}): "
            f"{loop['workers_sessions_per_s']:.3g} sessions/s with {loop['workers']} workers, "
            f"{loop['inline_sessions_per_s']:.3g} with none ({loop['speedup_workers_vs_inline']:.2f}x; scores "
            f"bitwise equal: {loop['scores_bitwise_equal']}): with a tiny model, the most `sla score` reaches on this "
            f"host. `sla train`'s set-up on {training['model_device']}: cache of {training['sessions']} sessions in "
            f"{training['cache_s']:.2f} s, head statistics on {training['head_statistics_device']}.")


def attention_rows(result: dict) -> list[str]:
    """The table's cells after the attention label, one row per measurement (a phase that raised: one FAILED row)."""
    rows = []

    def failed(name: str, phase: dict) -> bool:
        if "error" in phase:
            rows.append(f"{name} | - | - | - | - | FAILED: {phase['error']}")
        return "error" in phase

    scoring = result.get("scoring", {})
    if scoring and not failed("scoring", scoring):
        rows.append(f"scoring | 1 | {scoring['sessions_per_s']:.3g} | {percent(scoring['mfu'])} | {memory(scoring)} | "
                    f"scores finite: {scoring['scores_finite']}")
    parts = result.get("parts", {})
    if parts and not failed("parts", parts):
        for part, figures in parts.items():
            if figures["seconds_median"] is not None:
                rows.append(f"part: {part.replace('_', ' ')} | 1 | {1 / figures['seconds_median']:.3g} | "
                            f"{percent(figures['mfu'])} | - | {figures['seconds_median']:.4g} s per session")
    first_sight = result.get("first_sight", {})
    if first_sight and not failed("first sight", first_sight):
        for part, figures in first_sight["parts"].items():
            rows.append(f"first sight: {part.replace('_', ' ')} | 1 | {1 / figures['first_call_s']:.3g} | - | - | "
                        f"first call {figures['first_call_s']:.4g} s, then {figures['second_call_s']:.4g} s "
                        f"(a session of new lengths)")
    tower = result.get("audio_tower", {})
    if tower and not failed("audio tower", tower):
        verdict = "passed" if tower["passed"] else "FAILED"
        rows.append(f"audio tower, {tower['units']} units in one call | 1 | {1 / tower['together_s']:.3g} | - | - | "
                    f"{tower['speedup']:.2f}x unit by unit; {verdict}: float32 difference "
                    f"{tower['relative_diff_float32']:.2g} of the largest value (tolerance {tower['tolerance']:g})")

    levers = result.get("lora_levers", {})
    if levers and not failed("LoRA levers", levers):
        for name, lever in levers["levers"].items():
            rows.append(f"decoder from cache, LoRA {name.replace('_', ' ')} | 1 | {1 / lever['seconds_median']:.3g} | "
                        f"{percent(lever['mfu'])} | - | scores move {lever['max_abs_score_diff']:.2g}, state "
                        f"{lever['relative_state_diff']:.2g} (LoRA B std {levers['lora_b_std']:g})")
    batched = result.get("batched_scoring", {})
    if batched and not failed("batched scoring", batched):
        for row in batched["rows"]:
            check = (f"bitwise equal to batch 1: {row['bitwise_equal_to_batch_1']}" if row["session_batching"] ==
                     "per_session" else f"opt-in; against batch 1: scores {row['max_abs_score_diff']:.2g}, state "
                     f"{row['max_relative_state_diff']:.2g}")
            if row.get("first_sight"):
                check = "first pass over these sessions' shapes (new sessions); the reference of the rows below"
            rows.append(f"scoring {batched['sessions']} sessions, {row['session_batching'].replace('_', ' ')} | "
                        f"{row['batch']} | {row['sessions_per_s']:.3g} | {percent(row['mfu'])} | {memory(batched)} | "
                        f"{check}")
    graphs = result.get("audio_tower_graphs", {})
    if graphs and not failed("audio tower as CUDA graphs", graphs):
        tower, scoring = graphs["tower"], graphs["scoring"]
        rows.append(f"audio tower as CUDA graphs (opt-in) | 1 | {1 / tower['graphs_s']:.3g} | - | - | "
                    f"{tower['speedup']:.2f}x the eager tower ({tower['eager_s']:.4g} s); first call "
                    f"{tower['graphs_first_call_s']:.4g} s ({tower['graphs_captured']} graphs captured); outputs move "
                    f"{tower['max_abs_diff']:.2g} (values up to {tower['max_abs_value']:.3g})")
        rows.append(f"scoring {scoring['sessions']} sessions, audio tower as CUDA graphs (opt-in) | 1 | "
                    f"{scoring['graphs_sessions_per_s']:.3g} | {percent(scoring['graphs_mfu'])} | {memory(scoring)} | "
                    f"{scoring['speedup']:.2f}x eager ({scoring['eager_sessions_per_s']:.3g} sessions/s, warm) from an "
                    f"empty store ({scoring['graphs_captured']} graphs captured); scores move "
                    f"{scoring['max_abs_score_diff']:.2g}, state {scoring['max_relative_state_diff']:.2g}")
    invariance = result.get("batch_invariance", {})
    if invariance and not failed("batch invariance", invariance):
        verdict = "passed" if invariance["passed"] else "FAILED"
        rows.append(f"batch invariance | {invariance['sessions']} | - | - | {memory(invariance)} | {verdict}: bitwise "
                    f"{invariance['bitwise']}; padded (opt-in): max score diff {invariance['max_abs_score_diff']:.2g}, "
                    f"relative state diff {invariance['max_relative_state_diff']:.2g}")
    agreement = result.get("float32_agreement", {})
    if agreement and not failed("float32 agreement", agreement):
        verdict = "passed" if agreement["passed"] else "FAILED"
        rows.append(f"float32 agreement | {agreement['sessions']} | - | - | - | {verdict}: padded against alone, max "
                    f"score diff {agreement['max_abs_score_diff']:.2g} (tolerance {agreement['score_tolerance']:g}), "
                    f"relative state diff {agreement['max_relative_state_diff']:.2g} (tolerance "
                    f"{agreement['state_tolerance']:g}); bitwise {agreement['bitwise']}")
    for batch, training in result.get("training", {}).items():
        if failed(f"training {batch}", training):
            continue
        losses = training["losses"]
        how = (", per session" if training.get("batching") == "per_session" else "") + (
            ", no checkpointing" if not training.get("checkpointing", True) else "") + (
            ", autocast" if training["autocast"] else "")
        rows.append(f"training ({training['steps']} steps{how}) | "
                    f"{training['batch']} | {training['sessions_per_s']:.3g} | {percent(training['mfu'])} | "
                    f"{memory(training)} | loss {losses[0]:.3g} -> {losses[-1]:.3g}, finite: "
                    f"{training['losses_finite']}")
    return rows


def format_combined(report: dict) -> str:
    """The table of every backbone of a multi-backbone report, then the failures of all."""
    parts = []
    for name, single in report["backbones"].items():
        parts.append(format_report(single) if "runs" in single else f"## {name}: FAILED: {single['error']}")
    parts.append("All backbones passed." if not report["failures"] else "FAILED (all backbones):\n" + "\n".join(
        f"- {failure}" for failure in report["failures"]))
    return "\n\n".join(parts)


def memory(phase: dict) -> str:
    if phase["peak_gpu_mb"] is None:
        return "n/a"
    return f"{phase['peak_gpu_mb'] / 1024:.1f} / {phase['peak_gpu_reserved_mb'] / 1024:.1f}"


def size(megabytes: float | None) -> str:
    if megabytes is None:
        return "n/a"
    return f"{megabytes / 1024:.2f} GB" if abs(megabytes) >= 1024 else f"{megabytes:.1f} MB"


def ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} x"


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def format_peak(report: dict) -> str:
    peak = report["peak_bf16_dense_flops"]
    if peak is None:
        return f"no peak: {report['peak_source']} (MFU null)"
    return f"{peak / 1e12:.0f} TFLOP/s dense bf16, {report['peak_source']}"


# ---------------------------------------------------------------------------------------------------------- main
