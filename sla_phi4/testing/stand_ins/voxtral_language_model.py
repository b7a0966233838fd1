"""A Voxtral-layout stand-in from real parts: a real (converted) Whisper encoder as its audio tower, a real pretrained
`llama` language model (SmolLM2-135M-Instruct from `sla convert-lm`, or any Llama folder) as its text model, and
Voxtral's projector between them, randomly initialised (the alignment stage, `sla_phi4.training.alignment`, trains
it).

The language model keeps its own tokenizer; Voxtral's template tokens (`<s>`, `[INST]`, `[/INST]`, `[BEGIN_AUDIO]`,
the audio placeholder `[AUDIO]`, `<pad>` and the prior token's slot) are added to it as special tokens, and the
embedding rows they get start at the mean of the pretrained rows (the tied output rows too)."""

import os

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, VoxtralConfig, VoxtralForConditionalGeneration
from transformers import WhisperFeatureExtractor, WhisperModel

from processing_sla.speech_prompt_voxtral_sla import VOXTRAL_PRIOR_TOKEN, VoxtralSpeechPrompt
from sla_phi4.conversion.gguf_lm import convert_lm_package, lm_packages

from .sizes import real_values
from .voxtral import audio_config_values, save_flat_preprocessor_config


RANDOM_LANGUAGE_MODEL = "random"
# The projector's random start does not follow the build's seed: one backbone (and one alignment of it) serves every
# seed of a study, as one Hub checkpoint would.
PROJECTOR_SEED = 0
AUDIO_TOKEN, PAD_TOKEN = "[AUDIO]", "<pad>"
ADDED_TOKENS = (*VoxtralSpeechPrompt.special_tokens, AUDIO_TOKEN, PAD_TOKEN, VOXTRAL_PRIOR_TOKEN)


def language_model_choices() -> list[str]:
    return [RANDOM_LANGUAGE_MODEL, *sorted(lm_packages())]


def language_model_folder(choice: str) -> str | None:
    """None for `random` (the stand-in's own small random decoder); a pinned package's name converts it once per
    machine (cached) and returns that folder; anything else is a folder of the user's holding a Llama model."""
    if choice == RANDOM_LANGUAGE_MODEL:
        return None
    if choice in lm_packages():
        return str(convert_lm_package(choice))
    if not os.path.isfile(os.path.join(choice, "config.json")):
        raise ValueError(f"--language-model {choice!r} is neither {language_model_choices()} nor a model folder.")
    return choice


def add_voxtral_tokens(tokenizer) -> None:
    """Adds Voxtral's template tokens that `tokenizer` lacks, as special tokens."""
    vocabulary = tokenizer.get_vocab()
    missing = [token for token in ADDED_TOKENS if token not in vocabulary]
    tokenizer.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)


def grow_embeddings(language_model, vocab_size: int) -> None:
    """Resizes the (tied) embeddings to `vocab_size`; the new rows start at the mean of the pretrained rows."""
    embeddings = language_model.get_input_embeddings().weight
    old_size = embeddings.shape[0]
    mean = embeddings.detach().mean(dim=0)
    language_model.resize_token_embeddings(vocab_size, mean_resizing=False)
    with torch.no_grad():
        language_model.get_input_embeddings().weight[old_size:] = mean


def voxtral_config(language_config, whisper_config, audio_token_id: int) -> VoxtralConfig:
    """Voxtral's real configuration with the language model's as its text config and the Whisper's as its tower's."""
    values = real_values("voxtral")
    values["text_config"] = language_config.to_dict()
    values["audio_config"] = audio_config_values(values["audio_config"], whisper_config)
    values.update(hidden_size=language_config.hidden_size, vocab_size=language_config.vocab_size,
                  audio_token_id=audio_token_id)
    return VoxtralConfig(**values)


def build_voxtral_with_language_model(folder: str, audio_whisper: str, language_model: str) -> None:
    """`folder` in Voxtral's repo layout (config, safetensors, flat preprocessor config) with the language model's
    tokenizer files, from the Whisper folder `audio_whisper` and the Llama folder `language_model`."""
    whisper = WhisperModel.from_pretrained(audio_whisper).get_encoder()
    if whisper.config.encoder_ffn_dim != 4 * whisper.config.d_model:
        raise ValueError("Voxtral's audio tokens join 4 tower frames: the encoder's feed-forward must be 4x its width.")
    text = AutoModelForCausalLM.from_pretrained(language_model, dtype=torch.float32)
    if text.config.model_type != "llama":
        raise ValueError(f"{language_model}: a {text.config.model_type} model; Voxtral's text model is a llama.")
    tokenizer = AutoTokenizer.from_pretrained(language_model)
    add_voxtral_tokens(tokenizer)
    tokenizer.pad_token = PAD_TOKEN  # Voxtral's padding token, in the tokenizer and the config alike
    grow_embeddings(text, len(tokenizer))
    text.config.pad_token_id = tokenizer.pad_token_id
    config = voxtral_config(text.config, whisper.config, tokenizer.convert_tokens_to_ids(AUDIO_TOKEN))
    with torch.random.fork_rng():
        torch.manual_seed(PROJECTOR_SEED)
        model = VoxtralForConditionalGeneration(config)
    model.model.audio_tower.load_state_dict(whisper.state_dict(), strict=True)
    model.model.language_model.load_state_dict(text.model.state_dict(), strict=True)
    model.lm_head.load_state_dict(text.lm_head.state_dict(), strict=True)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    save_flat_preprocessor_config(WhisperFeatureExtractor.from_pretrained(audio_whisper), folder, "VoxtralProcessor")


__all__ = [
    "ADDED_TOKENS", "AUDIO_TOKEN", "RANDOM_LANGUAGE_MODEL", "add_voxtral_tokens", "build_voxtral_with_language_model",
    "grow_embeddings", "language_model_choices", "language_model_folder", "voxtral_config",
]
