#!/usr/bin/env python
"""Builds a complete, randomly initialised tiny SLA checkpoint (model, processor, tokenizer) from local parts.

The tiny Phi-4-multimodal and Whisper folders are written in the layout of the real Hub repos (a
`Phi4MultimodalForCausalLM` with a separate `speech-lora/` adapter, a full `WhisperModel`), then assembled through
`SLAForSessionScoring.from_backbone` and `SLAProcessor.from_backbone`: the very code a user runs on the real repos.

    python scripts/build_tiny_checkpoint.py --output tiny-sla [--seed 0] [--size tiny|small]
"""

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
import soxr
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    Phi4MultimodalConfig,
    Phi4MultimodalFeatureExtractor,
    Phi4MultimodalForCausalLM,
    PreTrainedTokenizerFast,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperModel,
)


sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from modeling_sla import SLAForSessionScoring  # noqa: E402
from processing_sla import SLAProcessor  # noqa: E402
from processing_sla import espeak_tts  # noqa: E402
from processing_sla.synthetic_corpus import L1_VOICES, SAMPLE_RATE, VOICE_VARIANTS, corpus_texts  # noqa: E402


SPECIAL_TOKENS = [
    "<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|endoftext10|>", "<|endoftext11|>",
]
IMAGE_TOKEN, AUDIO_TOKEN = "<|endoftext10|>", "<|endoftext11|>"
SPEECH_LORA_PATTERN = r"model.layers.\d+.((self_attn.(qkv|o)_proj)|(mlp.(gate_up|down)_proj))"
TRAINING_TEXT = [
    "You are an examiner of spoken English. Listen to the learner's answers in a Speak & Improve speaking test "
    "and assess their proficiency in each part.",
    "Part P1, interview: short answers to questions about the learner. Question: Answer:",
    "Part P3, long turn: talking for about a minute on a topic.",
    "Part P4, long turn: describing and explaining a diagram.",
    "Part P5, communication activity: giving opinions on questions.",
    "What do you do in your free time? Tell me about your home town. How do you usually travel to work or school?",
    "Talk about a time when you helped someone. Describe the steps in the process shown in the diagram.",
    "Some people think that technology makes our lives easier. What is your opinion? Why do you think so?",
    "I like reading books and playing football with my friends at the weekend because it is relaxing.",
    "In my opinion, the most important thing is to keep learning, although it is not always easy.",
]


@dataclass
class TinySize:
    """Widths of the tiny parts; `small` is big enough to learn the synthetic corpus in the demo."""

    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    audio_hidden: int = 32
    audio_blocks: int = 2
    whisper_dim: int = 32
    whisper_layers: int = 2
    vocab_size: int = 512
    # 64 subsampling channels ran the conformer 10x slower on CPU than 32 (a slow depthwise-conv path)
    nemo_channels: int = 32
    lora_rank: int = 4
    app_hidden: int = 32


SIZES = {
    "tiny": TinySize(),
    "small": TinySize(hidden_size=128, layers=4, audio_hidden=64, audio_blocks=2, whisper_dim=64, vocab_size=4096,
                      lora_rank=8, app_hidden=64),
}


def build_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (every string encodes) with Phi-4's chat and placeholder special tokens, trained
    on the session template and the synthetic corpus's questions and sentences."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(TRAINING_TEXT + corpus_texts(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )


def phi4_config(size: TinySize, tokenizer) -> Phi4MultimodalConfig:
    pad_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    return Phi4MultimodalConfig(
        vocab_size=len(tokenizer),
        hidden_size=size.hidden_size,
        intermediate_size=size.hidden_size * 2,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        num_key_value_heads=size.heads // 2,
        max_position_embeddings=16384,
        original_max_position_embeddings=16384,
        pad_token_id=pad_id,
        bos_token_id=pad_id,
        eos_token_id=[pad_id, tokenizer.convert_tokens_to_ids("<|end|>")],
        audio_config={
            "hidden_size": size.audio_hidden,
            "intermediate_size": size.audio_hidden * 2,
            "num_blocks": size.audio_blocks,
            "num_attention_heads": 4,
            "ext_pw_out_channel": size.audio_hidden,
            "depthwise_separable_out_channel": size.audio_hidden,
            "nemo_conv_channels": size.nemo_channels,
            "audio_token_id": tokenizer.convert_tokens_to_ids(AUDIO_TOKEN),
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 4,
            "image_size": 56,
            "crop_size": 56,
            "patch_size": 14,
            "image_token_id": tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        },
    )


def save_speech_lora(model: Phi4MultimodalForCausalLM, folder: str, rank: int = 4, alpha: int = 8) -> int:
    """Writes a random speech LoRA in the layout of transformers' Phi-4 conversion script; returns its modules."""
    tensors = {}
    for name, module in model.named_modules():
        if not (name.startswith("model.layers.") and name.rsplit(".", 1)[-1] in
                ("qkv_proj", "o_proj", "gate_up_proj", "down_proj")):
            continue
        tensors[f"{name}.lora_A.weight"] = torch.randn(rank, module.in_features) * 0.02
        tensors[f"{name}.lora_B.weight"] = torch.randn(module.out_features, rank) * 0.02
    os.makedirs(folder, exist_ok=True)
    save_file(tensors, os.path.join(folder, "adapter_model.safetensors"))
    adapter_config = {
        "peft_type": "LORA", "r": rank, "lora_alpha": alpha, "lora_dropout": 0.01, "task_type": "CAUSAL_LM",
        "target_modules": SPEECH_LORA_PATTERN, "bias": "none",
    }
    with open(os.path.join(folder, "adapter_config.json"), "w", encoding="utf-8") as handle:
        json.dump(adapter_config, handle, indent=2)
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


@torch.no_grad()
def keep_local_acoustics(*modules: torch.nn.Module) -> None:
    """He-initialises the convolutions and linear layers that turn log-mels into an encoder's first states.

    Both encoders initialise every weight with std 0.02, a scale meant for wide models about to be trained. In a
    random stand-in of this width, the conformer's subsampling then outputs about 1e-5 of what its blocks add, and
    Whisper's convolutions little beside its positional embeddings: every token's encoding becomes a global
    average, the same whatever was said where (zeroing a clip's second half moved its first tokens' encodings
    as much as its last). A trained encoder's tokens describe their own stretch of speech; He initialisation
    keeps that locality in the stand-in (the same zeroing then leaves the first half's tokens within 0.004).
    """
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d)):
                torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                if layer.bias is not None:
                    torch.nn.init.zeros_(layer.bias)


def build_backbone_folder(folder: str, size: TinySize) -> None:
    """A tiny stand-in for `microsoft/Phi-4-multimodal-instruct` (refs/pr/70): weights, tokenizer, speech LoRA."""
    tokenizer = build_tokenizer(size.vocab_size)
    model = Phi4MultimodalForCausalLM(phi4_config(size, tokenizer))
    feature_extractor = Phi4MultimodalFeatureExtractor()
    conformer = model.model.embed_tokens_extend.audio_embed.encoder
    mean, invstd = speech_feature_statistics(feature_extractor)
    conformer.encoder_embedding.global_mean.copy_(mean)
    conformer.encoder_embedding.global_invstd.copy_(invstd)
    keep_local_acoustics(conformer.embed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    feature_extractor.save_pretrained(folder)
    save_speech_lora(model, os.path.join(folder, "speech-lora"))


def build_whisper_folder(folder: str, size: TinySize) -> None:
    """A tiny stand-in for `openai/whisper-large-v3`: a full WhisperModel and its feature extractor."""
    config = WhisperConfig(
        vocab_size=64,
        num_mel_bins=80,
        d_model=size.whisper_dim,
        encoder_layers=size.whisper_layers,
        encoder_attention_heads=4,
        encoder_ffn_dim=size.whisper_dim * 2,
        decoder_layers=1,
        decoder_attention_heads=4,
        decoder_ffn_dim=size.whisper_dim * 2,
        max_source_positions=1500,
        max_target_positions=64,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    whisper = WhisperModel(config)
    keep_local_acoustics(whisper.encoder.conv1, whisper.encoder.conv2)
    whisper.save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)


def build_tiny_checkpoint(output: str, seed: int = 0, size: str = "tiny", **options) -> str:
    """Writes parts under `output/parts/` and the assembled checkpoint in `output`; returns `output`."""
    widths = SIZES[size]
    torch.manual_seed(seed)
    backbone_dir = os.path.join(output, "parts", "phi4-multimodal")
    whisper_dir = os.path.join(output, "parts", "whisper")
    build_backbone_folder(backbone_dir, widths)
    build_whisper_folder(whisper_dir, widths)
    processor = SLAProcessor.from_backbone(backbone_dir, whisper_dir, use_app=options.get("use_app", True))
    options.setdefault("lora_rank", widths.lora_rank)
    options.setdefault("lora_alpha", 2 * options["lora_rank"])
    options.setdefault("app_hidden_size", widths.app_hidden)
    model = SLAForSessionScoring.from_backbone(
        backbone_dir, whisper_dir, prior_token_id=processor.prior_token_id, dtype=torch.float32, **options
    )
    model.save_pretrained(output)
    processor.save_pretrained(output)
    return output


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True, help="folder to write the checkpoint to")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny", help="tiny (tests) or small (demo)")
    parser.add_argument("--no-app", action="store_true", help="build without the Acoustic Proficiency Prior")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    build_tiny_checkpoint(args.output, seed=args.seed, size=args.size, use_app=not args.no_app)
    model = SLAForSessionScoring.from_pretrained(args.output)
    total = sum(parameter.numel() for parameter in model.parameters())
    print(
        f"Wrote {args.output} in {time.perf_counter() - start:.1f} s: {total:,} parameters, "
        f"{model.num_trainable_parameters():,} trainable (LoRA, head, APP projector)."
    )


if __name__ == "__main__":
    main()
