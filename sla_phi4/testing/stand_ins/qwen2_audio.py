"""A tiny stand-in for `Qwen/Qwen2-Audio-7B-Instruct`: a real (converted) Whisper encoder as its audio tower, a
small random Qwen2 decoder of the real shape (as many key-value heads as heads, untied embeddings), a
`Qwen2Tokenizer` with its audio tokens, in the repo's layout (config, generation config, safetensors, vocab.json,
merges.txt, tokenizer files, flat preprocessor config)."""

from transformers import (
    Qwen2AudioConfig,
    Qwen2AudioForConditionalGeneration,
    Qwen2Config,
    WhisperFeatureExtractor,
    WhisperModel,
)

from .sizes import real_values, scaled_heads
from .tokenizers_bpe import qwen2_tokenizer, save_qwen2_vocab_files
from .voxtral import save_flat_preprocessor_config


def qwen2_audio_config(size: dict, whisper_config, tokenizer) -> Qwen2AudioConfig:
    values = real_values("qwen2_audio")
    text, heads = values["text_config"], size["num_attention_heads"]
    real_text = Qwen2Config(**text)  # the real file leaves head counts at Qwen2's defaults
    values["text_config"] = {
        **text, "vocab_size": len(tokenizer) + size["spare_vocab_rows"], "hidden_size": size["hidden_size"],
        "intermediate_size": size["intermediate_size"], "num_hidden_layers": size["num_hidden_layers"],
        "num_attention_heads": heads,
        "num_key_value_heads": scaled_heads(heads, real_text.num_attention_heads, real_text.num_key_value_heads),
        "bos_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        "eos_token_id": tokenizer.convert_tokens_to_ids("<|im_end|>"),
    }
    values["audio_config"] = {
        **values["audio_config"], "d_model": whisper_config.d_model, "encoder_layers": whisper_config.encoder_layers,
        "encoder_attention_heads": whisper_config.encoder_attention_heads,
        "encoder_ffn_dim": whisper_config.encoder_ffn_dim, "num_mel_bins": whisper_config.num_mel_bins,
    }
    values["audio_token_index"] = tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    values["vocab_size"] = values["text_config"]["vocab_size"]
    return Qwen2AudioConfig(**values)


def build_qwen2_audio(folder: str, size: dict, audio_whisper: str) -> None:
    """`folder` in the real repo's layout; the audio tower holds the encoder of the Whisper folder `audio_whisper`."""
    whisper = WhisperModel.from_pretrained(audio_whisper).get_encoder()
    tokenizer = qwen2_tokenizer(size["bpe_vocab_size"])
    model = Qwen2AudioForConditionalGeneration(qwen2_audio_config(size, whisper.config, tokenizer))
    model.model.audio_tower.load_state_dict(whisper.state_dict(), strict=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    save_qwen2_vocab_files(tokenizer, folder)
    feature_extractor = WhisperFeatureExtractor.from_pretrained(audio_whisper, return_attention_mask=True)
    save_flat_preprocessor_config(feature_extractor, folder, "Qwen2AudioProcessor")


__all__ = ["build_qwen2_audio", "qwen2_audio_config"]
