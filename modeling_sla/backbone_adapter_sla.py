"""The narrow interface through which SLAForSessionScoring uses an audio LLM backbone.

Each family of audio LLMs (Phi-4-multimodal, Voxtral, Qwen2-Audio) has one small adapter file beside the model,
with a subclass of `BackboneAdapter`. The model calls only what is declared here: build or load the backbone,
encode a session's clips, find the language layers (the only place LoRA goes), and run the language model on the
session's embeddings. Adapters hold no state: every method takes the backbone module or its config (what a model
keeps across calls, such as its audio tower's CUDA graphs, the adapter creates and the model holds).
"""

import os
from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn
from transformers import AutoConfig, AutoTokenizer, PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPast


PRIOR_TOKEN = "<|app_prior|>"
# Attention implementations an audio tower may run. The Phi-4 conformer adds a relative-position bias to its scores
# and declares `is_causal = True`: kernels that take no bias (flash attention) would drop the bias and make it
# causal. Towers that pad 30 s windows pass a padding mask. So towers run sdpa, or eager when asked for.
AUDIO_TOWER_ATTENTION = ("sdpa", "eager")


class BackboneAdapter(ABC):
    """How SLAForSessionScoring uses one family of transformers audio LLMs.

    Class attributes:
        model_type: the backbone config's `model_type` (`phi4_multimodal`, `voxtral`, `qwen2_audio`).
        model_class: the transformers class kept as `SLAForSessionScoring.backbone`.
        language_layers_pattern: anchored regex full-matched against module names inside the backbone; it names
            the language layers' linear layers, which get LoRA. It must never match the audio tower.
        language_layers_prefix: every LoRA target's name starts with it (checked after injection).
        audio_tower_config_name: name of the audio tower's sub-config in the backbone config.
    """

    model_type: ClassVar[str]
    model_class: ClassVar[type[PreTrainedModel]]
    language_layers_pattern: ClassVar[str]
    language_layers_prefix: ClassVar[str]
    audio_tower_config_name: ClassVar[str] = "audio_config"

    # ------------------------------------------------------------------------------------------------ config
    def text_config(self, config: PreTrainedConfig) -> PreTrainedConfig:
        """The language model's config (hidden size, vocabulary, initializer range)."""
        return config.text_config

    def audio_token_id(self, config: PreTrainedConfig) -> int:
        return config.audio_token_id

    def prepare_config(self, config: PreTrainedConfig) -> PreTrainedConfig:
        """Makes the config fit session scoring before any weight is built; returns it (changed in place)."""
        use_long_rope_factors(self.text_config(config))
        return config

    def prior_token_id(self, repo: str | os.PathLike, revision: str | None = None) -> int:
        """Id of the prior token in the backbone's tokenizer, placed exactly as the processor places it: a new
        special token `<|app_prior|>`."""
        return add_prior_token(AutoTokenizer.from_pretrained(repo, revision=revision))

    def pin_audio_attention(self, config: PreTrainedConfig) -> None:
        """Keeps the audio tower on sdpa (or eager) whatever the language model uses."""
        audio_config = getattr(config, self.audio_tower_config_name)
        if audio_config._attn_implementation not in AUDIO_TOWER_ATTENTION:
            audio_config._attn_implementation_internal = "sdpa"

    def attention_implementations(self, config: PreTrainedConfig, requested: str) -> dict:
        """`attn_implementation` for `from_pretrained`: the request everywhere but in the audio tower, which keeps
        sdpa unless eager is asked for."""
        implementations = {"": requested, **{name: requested for name in config.sub_configs}}
        implementations[self.audio_tower_config_name] = requested if requested in AUDIO_TOWER_ATTENTION else "sdpa"
        return implementations

    # ---------------------------------------------------------------------------------------------- building
    def build(self, config: PreTrainedConfig) -> nn.Module:
        """A randomly initialised backbone from its config (weights are loaded over it by `from_pretrained`)."""
        return self.strip(self.model_class(config))

    def load(
        self,
        repo: str | os.PathLike,
        *,
        revision: str | None,
        dtype: torch.dtype,
        attn_implementation: str,
        device_map=None,
    ) -> nn.Module:
        """The pretrained backbone of a Hub repo or folder, ready for session scoring."""
        config = self.prepare_config(AutoConfig.from_pretrained(repo, revision=revision))
        backbone = self.model_class.from_pretrained(
            repo, config=config, revision=revision, dtype=dtype, device_map=device_map,
            attn_implementation=self.attention_implementations(config, attn_implementation),
        )
        self.pin_audio_attention(backbone.config)
        return self.strip(backbone)

    def strip(self, backbone: nn.Module) -> nn.Module:
        """Removes what session scoring never uses (a vision tower, say); returns the backbone."""
        return backbone

    # ----------------------------------------------------------------------------------------------- running
    @abstractmethod
    def audio_modules(self, backbone: nn.Module) -> list[nn.Module]:
        """The frozen audio tower and projector: always in eval mode, never wrapped by LoRA."""

    @abstractmethod
    def input_embeddings(self, backbone: nn.Module) -> nn.Embedding:
        """The token embedding of the language model."""

    @abstractmethod
    def encode_speech(
        self, backbone: nn.Module, features: torch.Tensor, lengths: torch.Tensor, sizes: torch.Tensor,
        graphs: object | None = None,
    ) -> torch.Tensor:
        """Audio token embeddings of every unit (a clip, or a clip's 30 s window) in order, each exactly as it would
        be encoded alone, keeping only its `sizes[i]` valid tokens: `(sizes.sum(), hidden_size)`. `graphs`, from
        `audio_tower_graphs`, replays the tower's passes as CUDA graphs when the features are on a CUDA device."""

    def audio_tower_graphs(self) -> object | None:
        """A new, empty store of CUDA graphs of the audio tower for `encode_speech` (the model keeps it), or None
        where the family has none: Whisper-shaped towers already run fixed 30 s windows in chunks, near 30 % MFU."""
        return None

    @abstractmethod
    def language_model(self, backbone: nn.Module) -> nn.Module:
        """The decoder that maps `inputs_embeds` (and `attention_mask`) to `last_hidden_state`."""

    def run_language_model(
        self,
        backbone: nn.Module,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor | None,
        output_hidden_states: bool | None = None,
    ) -> BaseModelOutputWithPast:
        return self.language_model(backbone)(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, output_hidden_states=output_hidden_states,
            use_cache=False,
        )


def encode_windows(
    encode_chunk, features: torch.Tensor, lengths: torch.Tensor, sizes: torch.Tensor, chunk_size: int = 8
) -> torch.Tensor:
    """Audio token embeddings of 30 s windows, keeping each window's `sizes[i]` valid tokens, concatenated.

    Whisper-shaped towers take every window padded to 3,000 frames and encode each one independently of its
    batch mates, so windows can share a pass exactly. `encode_chunk(features, lengths)` maps a chunk of windows
    to `(windows, tokens_per_window, hidden)`.
    """
    kept = []
    for chunk, chunk_lengths, chunk_sizes in zip(
        features.split(chunk_size), lengths.split(chunk_size), sizes.split(chunk_size)
    ):
        tokens = encode_chunk(chunk, chunk_lengths)
        for row, size in enumerate(chunk_sizes.tolist()):
            if size > tokens.shape[1]:
                raise ValueError(f"A 30 s window encodes to {tokens.shape[1]} audio tokens, not {size}.")
            kept.append(tokens[row, :size])
    return torch.cat(kept)


def add_prior_token(tokenizer) -> int:
    """Adds the prior token to `tokenizer` as a special token when missing; returns its id."""
    if PRIOR_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [PRIOR_TOKEN]})
    return tokenizer.convert_tokens_to_ids(PRIOR_TOKEN)


def use_long_rope_factors(text_config: PreTrainedConfig) -> bool:
    """Makes LongRoPE use its long factors at every length; returns whether the config uses LongRoPE.

    transformers picks LongRoPE's short or long factors from the largest position id *in the batch*: a session's
    scores would change with what it is batched with, and jump where its length passes
    `original_max_position_embeddings` (4,096 for Phi-4, inside the 3,500-5,000 tokens of real S&I sessions).
    With the long factors everywhere, a session's scores depend on that session only and change smoothly with its
    length, in training and scoring alike. The long factors are the ones the model was trained with past 4,096
    tokens; the short ones would be extrapolated there.

    It also writes LongRoPE's `factor` (the context growth, `max_position_embeddings / original_max_position_
    embeddings`, the value transformers otherwise infers with a warning) explicitly, as transformers 5 asks: the
    saved checkpoint's config then loads without that warning, and the attention scaling is unchanged.
    """
    rope = getattr(text_config, "rope_parameters", None) or {}
    if rope.get("rope_type") != "longrope":
        return False
    rope["short_factor"] = list(rope["long_factor"])
    if rope.get("factor") is None and rope.get("original_max_position_embeddings"):
        rope["factor"] = text_config.max_position_embeddings / rope["original_max_position_embeddings"]
    return True


__all__ = [
    "AUDIO_TOWER_ATTENTION", "PRIOR_TOKEN", "BackboneAdapter", "add_prior_token", "encode_windows", "use_long_rope_factors",
]
