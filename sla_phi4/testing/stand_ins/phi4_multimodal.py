"""A tiny stand-in for `microsoft/Phi-4-multimodal-instruct` (revision refs/pr/70): the real configuration at small
width (24:8 grouped attention as 6:2, partial rotary 0.75, LongRoPE, tied embeddings, the conformer's settings),
its tokenizer's special tokens, the real feature extractor, and a separate `speech-lora/` adapter."""

import json
import os

import numpy as np
import soxr
import torch
from safetensors.torch import save_file
from transformers import Phi4MultimodalConfig, Phi4MultimodalFeatureExtractor, Phi4MultimodalForCausalLM

from sla_phi4.analysis.real_configs import read_real_values, real_config_path
from sla_phi4.data import espeak_tts
from sla_phi4.data.synthetic import L1_VOICES, SAMPLE_RATE, VOICE_VARIANTS, corpus_texts

from .init import keep_local_acoustics
from .sizes import real_values, rotary_factor_count, scaled_heads, subsample
from .tokenizers_bpe import phi4_tokenizer


IMAGE_TOKEN, AUDIO_TOKEN = "<|endoftext10|>", "<|endoftext11|>"
SPEECH_LORA_PATTERN = r"model.layers.\d+.((self_attn.(qkv|o)_proj)|(mlp.(gate_up|down)_proj))"
SPEECH_LORA_TARGETS = ("qkv_proj", "o_proj", "gate_up_proj", "down_proj")
# The vision tower is dropped by the SLA model; the stand-in keeps one so the folder has the real layout.
TINY_VISION = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
               "image_size": 56, "crop_size": 56, "patch_size": 14}


def phi4_config(size: dict, tokenizer) -> Phi4MultimodalConfig:
    """The real Phi-4-multimodal configuration with the widths of `size` (sla_phi4/testing/stand_ins/tiny_sizes.json)."""
    values = real_values("phi4_multimodal")
    pad_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    heads, hidden = size["num_attention_heads"], size["hidden_size"]
    original = size["original_max_position_embeddings"]
    growth = values["max_position_embeddings"] // values["original_max_position_embeddings"]
    values.update(
        vocab_size=len(tokenizer) + size["spare_vocab_rows"], hidden_size=hidden,
        intermediate_size=size["intermediate_size"], num_hidden_layers=size["num_hidden_layers"],
        num_attention_heads=heads,
        num_key_value_heads=scaled_heads(heads, values["num_attention_heads"], values["num_key_value_heads"]),
        original_max_position_embeddings=original, max_position_embeddings=original * growth,
        pad_token_id=pad_id, bos_token_id=pad_id, eos_token_id=[pad_id, tokenizer.convert_tokens_to_ids("<|end|>")],
    )
    factors = rotary_factor_count(hidden // heads, values["partial_rotary_factor"])
    rope = values["rope_scaling"]
    values["rope_scaling"] = {**rope, "long_factor": subsample(rope["long_factor"], factors),
                              "short_factor": subsample(rope["short_factor"], factors),
                              "factor": float(growth)}  # explicit, as transformers 5 asks (not inferred, warned)
    audio_width = size["conformer_hidden_size"]
    values["audio_config"] = {
        **values["audio_config"], "hidden_size": audio_width, "num_blocks": size["conformer_blocks"],
        "num_attention_heads": size["conformer_heads"], "nemo_conv_channels": size["conformer_channels"],
        "intermediate_size": audio_width * values["audio_config"]["intermediate_size"]
        // values["audio_config"]["hidden_size"],
        "ext_pw_out_channel": audio_width, "depthwise_separable_out_channel": audio_width,
        "audio_token_id": tokenizer.convert_tokens_to_ids(AUDIO_TOKEN),
    }
    values["vision_config"] = {**values["vision_config"], **TINY_VISION,
                               "image_token_id": tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)}
    return Phi4MultimodalConfig(**values)


def real_feature_extractor() -> Phi4MultimodalFeatureExtractor:
    """The real checkpoint's feature extractor settings (sla_phi4/analysis/backbones/)."""
    return Phi4MultimodalFeatureExtractor(**read_real_values(real_config_path("phi4_multimodal",
                                                                                "preprocessor_config")))


def save_speech_lora(model: Phi4MultimodalForCausalLM, folder: str, rank: int = 4, alpha: int = 8) -> int:
    """Writes a random speech LoRA in the layout of transformers' Phi-4 conversion script; returns its modules."""
    tensors = {}
    for name, module in model.named_modules():
        if name.startswith("model.layers.") and name.rsplit(".", 1)[-1] in SPEECH_LORA_TARGETS:
            tensors[f"{name}.lora_A.weight"] = torch.randn(rank, module.in_features) * 0.02
            tensors[f"{name}.lora_B.weight"] = torch.randn(module.out_features, rank) * 0.02
    os.makedirs(folder, exist_ok=True)
    save_file(tensors, os.path.join(folder, "adapter_model.safetensors"))
    adapter_config = {
        "peft_type": "LORA", "r": rank, "lora_alpha": alpha, "lora_dropout": 0.01, "task_type": "CAUSAL_LM",
        "target_modules": SPEECH_LORA_PATTERN, "bias": "none",
    }
    with open(os.path.join(folder, "adapter_config.json"), "w", encoding="utf-8") as handle:
        json.dump(adapter_config, handle, indent=2, allow_nan=False)
    return len(tensors) // 2


def speech_feature_statistics(
    feature_extractor: Phi4MultimodalFeatureExtractor, clips: int = 24, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-bin mean and inverse standard deviation of the conformer's log-mel input over espeak speech.

    The real checkpoint's conformer standardises its input with statistics of its training speech (the
    `global_mean` and `global_invstd` buffers). A random stand-in left at 0 and 1 sees log-mels of mean 15 and
    std 4: its encodings barely vary with what is said, and the frozen features explain a quarter as much of a
    session's marks (a ridge probe of the last token's state on 400 synthetic sessions: R² 0.06 against 0.24).
    """
    rng = np.random.default_rng(seed)
    sentences = corpus_texts()[-200:]
    native = espeak_tts.native_sample_rate()
    frames = []
    for _ in range(clips):
        voice = f"{L1_VOICES[rng.integers(len(L1_VOICES))]}+{VOICE_VARIANTS[rng.integers(len(VOICE_VARIANTS))]}"
        text = sentences[rng.integers(len(sentences))]
        audio, _ = espeak_tts.synthesize_native(text, voice, int(rng.integers(95, 211)), int(rng.integers(35, 66)))
        audio = soxr.resample(audio, native, SAMPLE_RATE).astype(np.float32)
        pause = np.zeros(SAMPLE_RATE // 2, np.float32)  # silence belongs to learner speech too
        audio = np.concatenate([pause, audio, pause])
        audio += (rng.standard_normal(audio.size) * 10 ** (rng.uniform(-62.0, -48.0) / 20)).astype(np.float32)
        features = feature_extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="np")
        frames.append(features["audio_input_features"][0])
    frames = np.concatenate(frames)
    return torch.tensor(frames.mean(0)), torch.tensor(1.0 / (frames.std(0) + 1e-5))


def build_phi4_multimodal(folder: str, size: dict, audio_whisper: str | None = None) -> None:
    """Weights (a `Phi4MultimodalForCausalLM`), tokenizer, feature extractor and `speech-lora/` in `folder`. Its
    audio tower is a conformer, not Whisper: `audio_whisper` is not used."""
    tokenizer = phi4_tokenizer(size["bpe_vocab_size"])
    model = Phi4MultimodalForCausalLM(phi4_config(size, tokenizer))
    feature_extractor = real_feature_extractor()
    conformer = model.model.embed_tokens_extend.audio_embed.encoder
    mean, invstd = speech_feature_statistics(feature_extractor)
    with torch.no_grad():
        conformer.encoder_embedding.global_mean.copy_(mean)
        conformer.encoder_embedding.global_invstd.copy_(invstd)
    keep_local_acoustics(conformer.embed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    feature_extractor.save_pretrained(folder)
    save_speech_lora(model, os.path.join(folder, "speech-lora"))


__all__ = ["build_phi4_multimodal", "phi4_config", "real_feature_extractor", "save_speech_lora",
           "speech_feature_statistics"]
