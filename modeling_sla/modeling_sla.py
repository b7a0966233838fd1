"""SLAForSessionScoring: session-level spoken language assessment on a frozen audio LLM backbone."""

import os
from dataclasses import dataclass

import torch
from peft.tuners.tuners_utils import cast_adapter_dtype
from torch import nn
from transformers import AutoConfig, PreTrainedModel, WhisperModel
from transformers.initialization import constant_, normal_, ones_, zeros_
from transformers.modeling_outputs import ModelOutput
from transformers.models.whisper.modeling_whisper import WhisperEncoder
from transformers.utils import is_flash_attn_2_available, logging

from .acoustic_prior_sla import SLAAcousticPrior, SLAAcousticPriorClassifier
from .backbone_adapter_sla import PRIOR_TOKEN, BackboneAdapter, add_prior_token
from .backbones_sla import backbone_adapter
from .configuration_sla import SLAConfig
from .lora_sla import ADAPTER_NAME, inject_language_lora, reset_lora
from .score_head_sla import SLAScoreHead, masked_mse_loss
from .session_batch_sla import join_hidden_states, split_sessions, valid_positions
from .test_format_sla import load_test_format


logger = logging.get_logger(__name__)

TRAINABLE_PREFIXES = {
    "sla": ("head.linear.", "app.projector."),
    "app": ("app.classifier.",),
    "none": (),
}


@dataclass
class SLAOutput(ModelOutput):
    """
    Output of [`SLAForSessionScoring`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            Mean squared error over the targets present, when `labels` are given.
        scores (`torch.FloatTensor` of shape `(batch_size, num_scores)`):
            Predicted scores, in `config.score_names` order.
        app_logits (`torch.FloatTensor` of shape `(batch_size, num_app_classes)`, *optional*):
            APP logits over the proficiency bands (absent when the APP is off or probabilities were given).
        app_probs (`torch.FloatTensor` of shape `(batch_size, num_app_classes)`, *optional*):
            APP band probabilities that produced the prior token.
        pooled_state (`torch.FloatTensor` of shape `(batch_size, hidden_size)`):
            Final hidden state of each session's last real token, before the head's standardisation.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            The backbone's hidden states, when `output_hidden_states=True`.
    """

    loss: torch.FloatTensor | None = None
    scores: torch.FloatTensor | None = None
    app_logits: torch.FloatTensor | None = None
    app_probs: torch.FloatTensor | None = None
    pooled_state: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


def default_attn_implementation() -> str:
    """`flash_attention_2` on CUDA when flash-attn is installed, else `sdpa`."""
    return "flash_attention_2" if torch.cuda.is_available() and is_flash_attn_2_available() else "sdpa"


def default_dtype() -> torch.dtype:
    return torch.bfloat16 if torch.cuda.is_available() else torch.float32


class SLAPreTrainedModel(PreTrainedModel):
    config: SLAConfig
    config_class = SLAConfig
    base_model_prefix = "sla"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = [
        "Phi4MultimodalDecoderLayer", "LlamaDecoderLayer", "Qwen2DecoderLayer", "WhisperEncoderLayer",
        "VoxtralEncoderLayer", "Qwen2AudioEncoderLayer",
    ]
    # What decides a score stays in float32 under bf16 (fixed statistics, head, APP classifier and projector, LoRA):
    # a bf16 standardisation alone moved scores by up to 0.05.
    _keep_in_fp32_modules_strict = ["head", "app.classifier", "app.projector", "lora_"]
    _supports_sdpa = True
    _supports_flash_attn = True
    input_modalities = ("audio", "text")

    def save_pretrained(self, save_directory, *args, **kwargs):
        """As in transformers, with the test format written beside `config.json` (`test_format.json`), and weights
        keeping the names they have in memory by default. transformers would rename a backbone's weights back to its
        Hub repo's layout (Voxtral's `language_model.model.*`), and the Trainer resumes from a checkpoint by loading
        its raw state dict: the renamed LoRA weights would silently not load."""
        kwargs.setdefault("save_original_format", False)
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            self.config.get_test_format().save(save_directory)
        return result

    @torch.no_grad()
    def _init_weights(self, module):
        std = backbone_adapter(self.config.audio_llm_config.model_type).text_config(
            self.config.audio_llm_config).initializer_range
        if isinstance(module, SLAScoreHead):
            normal_(module.linear.weight, mean=0.0, std=std)
            scale = self.config.get_test_format().scale
            constant_(module.linear.bias, (scale.min + scale.max) / 2)
            zeros_(module.feature_mean)
            ones_(module.feature_std)
        elif isinstance(module, SLAAcousticPriorClassifier):
            for layer in (module.fc1, module.fc2):
                normal_(layer.weight, mean=0.0, std=std)
                zeros_(layer.bias)
            zeros_(module.input_mean)
            ones_(module.input_scale)
        elif isinstance(module, SLAAcousticPrior):
            normal_(module.projector.weight, mean=0.0, std=std)
            zeros_(module.projector.bias)
        elif module is self or not any(True for _ in module.children()):
            super()._init_weights(module)


class SLAForSessionScoring(SLAPreTrainedModel):
    """
    Scores a learner's whole speaking session in one forward pass: the session is rendered as a dialog whose audio
    placeholders carry the backbone's own audio encodings, a prior token carries the APP's band probabilities, and
    a linear head on the last token's final hidden state gives P1, P3, P4, P5 and overall.

    The backbone is any audio LLM with a backbone adapter (`backbones_sla.py`): Phi-4-multimodal (the default),
    Voxtral or Qwen2-Audio. Only LoRA on its language layers, the head and the APP projector are trainable
    (`set_trainable("sla")`); `set_trainable("app")` trains the APP classifier alone. The audio tower and the
    Whisper encoder always run in eval mode.
    """

    accepts_loss_kwargs = False

    def __init__(
        self,
        config: SLAConfig,
        backbone: nn.Module | None = None,
        app_encoder: WhisperEncoder | None = None,
    ):
        super().__init__(config)
        self.family: BackboneAdapter = backbone_adapter(config.audio_llm_config.model_type)
        self.family.prepare_config(config.audio_llm_config)
        self.backbone = backbone if backbone is not None else self.family.build(config.audio_llm_config)
        self.family.pin_audio_attention(self.backbone.config)
        self.audio_tower_graphs = self.family.audio_tower_graphs()
        if config.audio_tower_cuda_graphs and self.audio_tower_graphs is None:
            raise ValueError(f"`audio_tower_cuda_graphs` is for Phi-4-multimodal's conformer; the "
                             f"{config.audio_llm_config.model_type} backbone's tower has no CUDA graphs.")
        self.num_lora_modules = inject_language_lora(
            self.backbone, config, config.lora_target_modules or self.family.language_layers_pattern,
            self.family.language_layers_prefix,
        )
        hidden_size = self.family.text_config(config.audio_llm_config).hidden_size
        self.app = SLAAcousticPrior(config, hidden_size, encoder=app_encoder) if config.use_app else None
        self.head = SLAScoreHead(config, hidden_size)
        self.post_init()
        reset_lora(self.backbone)
        self.set_trainable("sla")

    @property
    def audio_token_id(self) -> int:
        return self.family.audio_token_id(self.config.audio_llm_config)

    # ----------------------------------------------------------------------------------------------- trainability
    def set_trainable(self, stage: str = "sla") -> int:
        """Freezes everything but the parameters trained in `stage` ("sla", "app" or "none"); returns their count."""
        if stage not in TRAINABLE_PREFIXES:
            raise ValueError(f"Unknown stage {stage!r}; expected one of {sorted(TRAINABLE_PREFIXES)}")
        prefixes = TRAINABLE_PREFIXES[stage]
        for name, parameter in self.named_parameters():
            lora = stage == "sla" and ".lora_" in name
            parameter.requires_grad_(lora or name.startswith(prefixes))
        return self.num_trainable_parameters()

    def num_trainable_parameters(self) -> int:
        return sum(parameter.numel() for parameter in self.parameters() if parameter.requires_grad)

    def train(self, mode: bool = True):
        super().train(mode)
        for module in self.family.audio_modules(self.backbone):
            module.eval()
        if self.app is not None:
            self.app.encoder.eval()
        return self

    def set_attn_implementation(self, attn_implementation, *args, **kwargs):
        """As in transformers, but the audio tower keeps sdpa (or eager) whatever the language model uses."""
        super().set_attn_implementation(attn_implementation, *args, **kwargs)
        self.family.pin_audio_attention(self.backbone.config)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """Loads a saved model; loading recreates every parameter as trainable, so the model freezes itself again."""
        model = super().from_pretrained(*args, **kwargs)
        loaded = model[0] if isinstance(model, tuple) else model
        loaded.family.pin_audio_attention(loaded.backbone.config)
        loaded.set_trainable("sla")
        return model

    # -------------------------------------------------------------------------------------------- frozen encoders
    def encode_speech(
        self, audio_input_features: torch.Tensor, audio_feature_lengths: torch.Tensor, audio_embed_sizes: torch.Tensor
    ) -> torch.Tensor:
        """Audio token embeddings of every clip, each encoded as if alone: `(total_audio_tokens, hidden)`."""
        graphs = self.audio_tower_graphs if self.config.audio_tower_cuda_graphs else None
        with torch.no_grad():
            return self.family.encode_speech(
                self.backbone, audio_input_features, audio_feature_lengths, audio_embed_sizes, graphs
            )

    def pool_app_features(
        self,
        app_input_features: torch.Tensor,
        app_frame_counts: torch.Tensor,
        app_window_session: torch.Tensor,
        num_sessions: int,
    ) -> torch.Tensor:
        """Pooled frozen Whisper states per session: `(num_sessions, d_model)`."""
        if self.app is None:
            raise ValueError("This model was built with `use_app=False`: it has no APP encoder.")
        return self.app.pool(app_input_features, app_frame_counts, app_window_session, num_sessions)

    # ---------------------------------------------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        audio_input_features: torch.Tensor | None = None,
        audio_feature_lengths: torch.Tensor | None = None,
        audio_embed_sizes: torch.Tensor | None = None,
        audio_embeds: torch.Tensor | None = None,
        app_input_features: torch.Tensor | None = None,
        app_frame_counts: torch.Tensor | None = None,
        app_window_session: torch.Tensor | None = None,
        app_pooled: torch.Tensor | None = None,
        app_probs: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        labels_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> SLAOutput:
        r"""
        input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`):
            The rendered sessions, with one prior token each (when the APP is on) and one audio token per audio
            embedding.
        audio_input_features (`torch.FloatTensor`, *optional*):
            The backbone's audio features of every unit, in the order their placeholders appear (row by row): one
            row per clip for Phi-4 (`(num_clips, max_frames, num_mel_bins)`), one per 30 s window of a clip for
            Whisper-shaped towers (`(num_windows, num_mel_bins, 3000)`).
        audio_feature_lengths (`torch.LongTensor` of shape `(num_units,)`, *optional*):
            Valid feature frames of each unit.
        audio_embed_sizes (`torch.LongTensor` of shape `(num_units,)`, *optional*):
            Audio tokens of each unit in the text.
        audio_embeds (`torch.FloatTensor` of shape `(total_audio_tokens, hidden_size)`, *optional*):
            Precomputed audio token embeddings (see `encode_speech`), instead of the features: the frozen
            tower's output never changes, so training can compute it once.
        app_input_features (`torch.FloatTensor` of shape `(num_windows, num_mel_bins, frames)`, *optional*):
            Whisper features of the 30 s windows of every session.
        app_frame_counts (`torch.LongTensor` of shape `(num_windows,)`, *optional*):
            Valid Whisper encoder frames of each window.
        app_window_session (`torch.LongTensor` of shape `(num_windows,)`, *optional*):
            Session (batch row) of each window.
        app_pooled (`torch.FloatTensor` of shape `(batch_size, d_model)`, *optional*):
            Precomputed pooled Whisper states (see `pool_app_features`), instead of the Whisper features.
        app_probs (`torch.FloatTensor` of shape `(batch_size, num_app_classes)`, *optional*):
            Precomputed APP band probabilities, instead of the Whisper features or pooled states.
        labels (`torch.FloatTensor` of shape `(batch_size, num_scores)`, *optional*):
            Reference marks in `config.score_names` order (any value where absent).
        labels_mask (`torch.BoolTensor` of shape `(batch_size, num_scores)`, *optional*):
            Which labels are present. Without it, finite labels count as present.

        In eval mode with `config.session_batching="per_session"` (the default) each session of a batch runs alone,
        exactly as the processor makes it for that session, so its scores do not depend on its batch-mates. In
        training mode `config.training_batching="per_session"` (opt-in) does the same, the loss taken over the batch.
        """
        inputs = {
            "input_ids": input_ids, "attention_mask": attention_mask, "audio_input_features": audio_input_features,
            "audio_feature_lengths": audio_feature_lengths, "audio_embed_sizes": audio_embed_sizes,
            "audio_embeds": audio_embeds, "app_input_features": app_input_features,
            "app_frame_counts": app_frame_counts, "app_window_session": app_window_session,
            "app_pooled": app_pooled, "app_probs": app_probs,
        }
        if self._runs_per_session(input_ids):
            return self._forward_per_session(inputs, labels, labels_mask, output_hidden_states)
        return self._forward_batch(**inputs, labels=labels, labels_mask=labels_mask,
                                   output_hidden_states=output_hidden_states)

    def _runs_per_session(self, input_ids: torch.Tensor) -> bool:
        mode = self.config.training_batching if self.training else self.config.session_batching
        return mode == "per_session" and input_ids.shape[0] > 1

    def _forward_per_session(self, inputs: dict, labels, labels_mask, output_hidden_states) -> SLAOutput:
        """Each session on its own (`session_batch_sla.py`), the outputs joined in batch order."""
        outputs = [self._forward_batch(**session, output_hidden_states=output_hidden_states)
                   for session in split_sessions(inputs, self.audio_token_id)]

        def joined(name: str) -> torch.Tensor | None:
            parts = [getattr(output, name) for output in outputs]
            return None if parts[0] is None else torch.cat(parts)

        scores = joined("scores")
        hidden_states = None
        if output_hidden_states:
            positions = valid_positions(inputs["input_ids"], inputs["attention_mask"])
            hidden_states = join_hidden_states([output.hidden_states for output in outputs], positions,
                                               inputs["input_ids"].shape[1])
        return SLAOutput(
            loss=masked_mse_loss(scores, labels, labels_mask, self.head.loss_weights) if labels is not None else None,
            scores=scores, app_logits=joined("app_logits"), app_probs=joined("app_probs"),
            pooled_state=joined("pooled_state"), hidden_states=hidden_states,
        )

    def _forward_batch(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        audio_input_features: torch.Tensor | None = None,
        audio_feature_lengths: torch.Tensor | None = None,
        audio_embed_sizes: torch.Tensor | None = None,
        audio_embeds: torch.Tensor | None = None,
        app_input_features: torch.Tensor | None = None,
        app_frame_counts: torch.Tensor | None = None,
        app_window_session: torch.Tensor | None = None,
        app_pooled: torch.Tensor | None = None,
        app_probs: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        labels_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
    ) -> SLAOutput:
        """The forward pass over a batch as it is, padded."""
        embeds = self.family.input_embeddings(self.backbone)(input_ids)
        embeds = self._insert_audio(input_ids, embeds, audio_embeds, audio_input_features, audio_feature_lengths,
                                    audio_embed_sizes)
        app_logits = None
        if self.app is not None:
            if app_probs is None:
                if app_pooled is None:
                    if app_input_features is None:
                        raise ValueError("The APP needs `app_input_features`, `app_pooled` or `app_probs`.")
                    app_pooled = self.pool_app_features(
                        app_input_features, app_frame_counts, app_window_session, input_ids.shape[0]
                    )
                app_logits = self.app.classify(app_pooled)
                app_probs = app_logits.softmax(dim=-1)
            embeds = self._insert_prior(input_ids, embeds, self.app.embed(app_probs))
        elif self.config.prior_token_id is not None and bool((input_ids == self.config.prior_token_id).any()):
            # Without the APP nothing replaces the prior token, and its embedding row was never trained.
            raise ValueError(
                "`input_ids` hold the prior token, but this model has no APP (use_app=False): build the processor "
                "with `use_prior_token=False`, as `SLAProcessor.from_backbone(..., use_app=False)` does."
            )

        outputs = self.family.run_language_model(self.backbone, embeds, attention_mask, output_hidden_states)
        pooled = self._last_token_state(outputs.last_hidden_state, attention_mask)
        scores = self.head(pooled)
        loss = masked_mse_loss(scores, labels, labels_mask, self.head.loss_weights) if labels is not None else None
        return SLAOutput(
            loss=loss,
            scores=scores,
            app_logits=app_logits,
            app_probs=app_probs,
            pooled_state=pooled,
            hidden_states=outputs.hidden_states if output_hidden_states else None,
        )

    def _insert_audio(self, input_ids, embeds, audio_embeds, features, feature_lengths, embed_sizes):
        audio_positions = input_ids == self.audio_token_id
        num_positions = int(audio_positions.sum())
        if audio_embeds is None:
            if features is None:
                if num_positions:
                    raise ValueError("`input_ids` hold audio placeholders but no audio features or embeddings.")
                return embeds
            audio_embeds = self.encode_speech(features, feature_lengths, embed_sizes)
        if audio_embeds.shape[0] != num_positions:
            raise ValueError(
                f"{audio_embeds.shape[0]} audio embeddings for {num_positions} audio placeholders in `input_ids`."
            )
        return embeds.masked_scatter(audio_positions[..., None], audio_embeds.to(embeds.device, embeds.dtype))

    def _insert_prior(self, input_ids, embeds, prior_embeds):
        prior_positions = input_ids == self.config.prior_token_id
        per_row = prior_positions.sum(dim=1)
        if bool((per_row != 1).any()):
            raise ValueError(f"Each session needs exactly one prior token; found {per_row.tolist()}.")
        return embeds.masked_scatter(prior_positions[..., None], prior_embeds.to(embeds.device, embeds.dtype))

    @staticmethod
    def _last_token_state(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Final hidden state of each row's last real token (works under right or left padding)."""
        batch, length = last_hidden_state.shape[:2]
        if attention_mask is None:
            last = torch.full((batch,), length - 1, device=last_hidden_state.device)
        else:
            positions = torch.arange(length, device=last_hidden_state.device)
            last = (positions * attention_mask.to(positions.device).bool()).argmax(dim=1)
        return last_hidden_state[torch.arange(batch, device=last_hidden_state.device), last]

    @torch.no_grad()
    def reset_head(self) -> None:
        """Makes the head anew, as a freshly built model has it (random weights, bias at the middle of the scale, no
        standardisation): what a model for another test format starts from. Loaded tensors are marked initialised,
        and transformers' init functions skip those; the marks are cleared first."""
        for tensor in list(self.head.parameters()) + list(self.head.buffers()):
            tensor._is_hf_initialized = False
        self._init_weights(self.head)

    # ------------------------------------------------------------------------------------------- head statistics
    @torch.no_grad()
    def fit_head_normalization(self, pooled_states: torch.Tensor, label_means: torch.Tensor | None = None) -> None:
        """Sets the head's fixed standardisation from pooled states of training sessions `(num, hidden)`, and
        optionally its bias so that it outputs the training mean of each target (`(num_scores,)` on the targets'
        scales, NaN where unknown)."""
        mean, scale = _isotropic_statistics(pooled_states)
        self.head.feature_mean.copy_(mean)
        self.head.feature_std.fill_(scale)
        if label_means is None:
            return
        bias = self.head.linear.bias
        means = self.head.outputs_from_scores(label_means.to(bias.device, bias.dtype))
        bias.copy_(torch.where(torch.isfinite(means), means, bias))

    @torch.no_grad()
    def fit_app_normalization(self, pooled_states: torch.Tensor) -> None:
        """Sets the APP classifier's fixed input standardisation from pooled Whisper states `(num, d_model)`."""
        if self.app is None:
            raise ValueError("This model has no APP (use_app=False).")
        mean, scale = _isotropic_statistics(pooled_states)
        self.app.classifier.input_mean.copy_(mean)
        self.app.classifier.input_scale.fill_(scale)

    # ------------------------------------------------------------------------------------------- building
    @classmethod
    def from_backbone(
        cls,
        backbone: str | os.PathLike,
        app_encoder: str | os.PathLike | None = None,
        *,
        revision: str | None = None,
        app_encoder_revision: str | None = None,
        prior_token_id: int | None = None,
        dtype: torch.dtype | None = None,
        attn_implementation: str | None = None,
        device_map: str | dict | torch.device | None = None,
        **options,
    ) -> "SLAForSessionScoring":
        """Builds a new model from pretrained parts.

        Args:
            backbone: an audio LLM repo id or folder whose config's `model_type` has a backbone adapter:
                `microsoft/Phi-4-multimodal-instruct` (with `revision="refs/pr/70"`; its `speech-lora/` adapter is
                merged into the frozen weights), `mistralai/Voxtral-Mini-3B-2507`, `Qwen/Qwen2-Audio-7B-Instruct`.
            app_encoder: a Whisper repo id or folder (e.g. `openai/whisper-large-v3`, or a folder written by
                `scripts/convert_ct2_whisper.py`); required unless `use_app=False` is among `options`.
            prior_token_id: id of the prior token; by default the backbone's tokenizer places it exactly as
                `SLAProcessor.from_backbone` does.
            dtype: defaults to bfloat16 on CUDA, float32 otherwise. The head, the APP classifier and projector, and
                LoRA stay in float32.
            attn_implementation: defaults to flash_attention_2 on CUDA when installed, else sdpa; the audio tower
                keeps sdpa whatever is asked for.
            device_map: passed to `from_pretrained` of the backbone and of Whisper, e.g. `"cuda"`: the weights go
                straight to the GPU, with no full copy in host memory.
            options: further `SLAConfig` fields (`test_format`: a built-in name, a JSON file, a dict or a
                `TestFormat`, default `sandi2025`; LoRA rank/alpha/dropout/targets, `overall_mode`, ...).
        """
        dtype = dtype or default_dtype()
        attn_implementation = attn_implementation or default_attn_implementation()
        use_app = options.setdefault("use_app", True)
        if use_app and app_encoder is None:
            raise ValueError("`app_encoder` (a Whisper repo or folder) is required unless `use_app=False`.")
        family = backbone_adapter(AutoConfig.from_pretrained(backbone, revision=revision).model_type)
        audio_llm = family.load(
            backbone, revision=revision, dtype=dtype, attn_implementation=attn_implementation, device_map=device_map
        )
        if prior_token_id is None:
            prior_token_id = family.prior_token_id(backbone, revision)
        if prior_token_id >= family.input_embeddings(audio_llm).num_embeddings:
            audio_llm.resize_token_embeddings(prior_token_id + 1)
        whisper = None
        if use_app:
            whisper = WhisperModel.from_pretrained(
                app_encoder, revision=app_encoder_revision, dtype=dtype, attn_implementation=attn_implementation,
                device_map=device_map,
            ).get_encoder()
        options["test_format"] = load_test_format(options.get("test_format")).to_dict()
        config = SLAConfig(
            audio_llm_config=audio_llm.config,
            app_encoder_config=whisper.config if whisper is not None else None,
            prior_token_id=prior_token_id,
            **options,
        )
        model = cls(config, backbone=audio_llm, app_encoder=whisper)
        model._place_own_modules(family.input_embeddings(audio_llm).weight.device)
        model.config._attn_implementation = attn_implementation
        family.pin_audio_attention(audio_llm.config)
        logger.info(f"Built SLAForSessionScoring with {model.num_trainable_parameters():,} trainable parameters.")
        return model

    def _place_own_modules(self, device: torch.device) -> None:
        """Puts the modules this model adds (head, APP classifier and projector) beside the backbone, in float32,
        and LoRA in float32 (peft places it beside its base layers, in their dtype)."""
        cast_adapter_dtype(self.backbone, ADAPTER_NAME)
        self.head.to(device=device, dtype=torch.float32)
        if self.app is not None:
            self.app.classifier.to(device=device, dtype=torch.float32)
            self.app.projector.to(device=device, dtype=torch.float32)


def _isotropic_statistics(states: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Per-feature mean and ONE scale for every feature (the root mean variance). Per-feature scales would blow up
    directions in which frozen representations barely vary, and LoRA's small changes along them with it."""
    states = states.float()
    if states.shape[0] < 2:
        raise ValueError("Fitting a standardisation needs the states of at least 2 sessions.")
    return states.mean(dim=0), float(states.var(dim=0).mean().sqrt().clamp(min=1e-6))


__all__ = ["SLAForSessionScoring", "SLAOutput", "SLAPreTrainedModel", "PRIOR_TOKEN", "add_prior_token"]
