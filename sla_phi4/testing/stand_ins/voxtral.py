"""A tiny stand-in for `mistralai/Voxtral-Mini-3B-2507`: a real (converted) Whisper encoder as its audio tower, a
small random Llama decoder of the real shape (32:8 grouped attention as 8:2, head_dim x heads = 4/3 x hidden),
a `tekken.json` tokenizer, in the repo's layout (config, generation config, safetensors, flat preprocessor config,
tekken.json)."""

import json
import os

from transformers import VoxtralConfig, VoxtralForConditionalGeneration, WhisperFeatureExtractor, WhisperModel

from .sizes import real_values, scaled_heads
from .tokenizers_bpe import TEKKEN_NUM_CONTROL, tekken_file


PAD_ID, BOS_ID, EOS_ID = 11, 1, 2


def voxtral_config(size: dict, whisper_config, vocab_size: int) -> VoxtralConfig:
    values = real_values("voxtral")
    text, heads = values["text_config"], size["num_attention_heads"]
    values["text_config"] = {
        **text, "vocab_size": vocab_size + size["spare_vocab_rows"], "hidden_size": size["hidden_size"],
        "intermediate_size": size["intermediate_size"], "num_hidden_layers": size["num_hidden_layers"],
        "num_attention_heads": heads, "head_dim": size["head_dim"],
        "num_key_value_heads": scaled_heads(heads, text["num_attention_heads"], text["num_key_value_heads"]),
        "bos_token_id": BOS_ID, "eos_token_id": EOS_ID, "pad_token_id": PAD_ID,
    }
    values["audio_config"] = audio_config_values(values["audio_config"], whisper_config)
    values["hidden_size"] = size["hidden_size"]
    values["vocab_size"] = values["text_config"]["vocab_size"]
    return VoxtralConfig(**values)


def audio_config_values(real_audio_config: dict, whisper_config) -> dict:
    """Voxtral's real audio-tower config with the widths of the Whisper encoder that fills it."""
    return {
        **real_audio_config, "hidden_size": whisper_config.d_model,
        "intermediate_size": whisper_config.encoder_ffn_dim, "num_hidden_layers": whisper_config.encoder_layers,
        "num_attention_heads": whisper_config.encoder_attention_heads,
        "num_key_value_heads": whisper_config.encoder_attention_heads,
        "head_dim": whisper_config.d_model // whisper_config.encoder_attention_heads,
        "num_mel_bins": whisper_config.num_mel_bins,
    }


def build_voxtral(folder: str, size: dict, audio_whisper: str) -> None:
    """`folder` in the real repo's layout; the audio tower holds the encoder of the Whisper folder `audio_whisper`."""
    whisper = WhisperModel.from_pretrained(audio_whisper).get_encoder()
    if whisper.config.encoder_ffn_dim != 4 * whisper.config.d_model:
        raise ValueError("Voxtral's audio tokens join 4 tower frames: the encoder's feed-forward must be 4x its width.")
    tekken = tekken_file(size["bpe_vocab_size"], whisper.config.num_mel_bins)
    model = VoxtralForConditionalGeneration(
        voxtral_config(size, whisper.config, len(tekken["vocab"]) + TEKKEN_NUM_CONTROL)
    )
    model.model.audio_tower.load_state_dict(whisper.state_dict(), strict=True)
    model.generation_config.pad_token_id = PAD_ID
    model.save_pretrained(folder)
    with open(os.path.join(folder, "tekken.json"), "w", encoding="utf-8") as handle:
        json.dump(tekken, handle, allow_nan=False)
    save_flat_preprocessor_config(WhisperFeatureExtractor.from_pretrained(audio_whisper), folder, "VoxtralProcessor")


def save_flat_preprocessor_config(feature_extractor, folder: str, processor_class: str) -> None:
    """`preprocessor_config.json` as the real repos ship it: the feature extractor's fields and the processor class."""
    feature_extractor.save_pretrained(folder)
    path = os.path.join(folder, "preprocessor_config.json")
    with open(path, encoding="utf-8") as handle:
        values = json.load(handle)
    values["processor_class"] = processor_class
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(values, handle, indent=2, allow_nan=False)


__all__ = ["audio_config_values", "build_voxtral", "save_flat_preprocessor_config", "voxtral_config"]
