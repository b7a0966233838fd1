"""Configuration of the session-level spoken language assessment model."""

from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig, WhisperConfig
from transformers.configuration_utils import SubConfigSpec

from .test_format_sla import OVERALL, TestFormat, load_test_format


DEFAULT_BACKBONE_TYPE = "phi4_multimodal"


@strict
class SLAConfig(PreTrainedConfig):
    r"""
    Configuration of [`SLAForSessionScoring`]: a frozen audio LLM backbone (Phi-4-multimodal by default, or Voxtral,
    Qwen2-Audio) with LoRA on its language layers, an Acoustic Proficiency Prior (APP) from a frozen Whisper encoder,
    and a multi-target regression head.

    Args:
        audio_llm_config (`dict` or `PreTrainedConfig`, *optional*):
            The backbone's own configuration, of any type with a backbone adapter (`model_type` `phi4_multimodal`,
            `voxtral` or `qwen2_audio`). Defaults to a `Phi4MultimodalConfig`.
        app_encoder_config (`dict` or `WhisperConfig`, *optional*):
            The configuration of the Whisper model whose encoder feeds the APP. Ignored when `use_app=False`.
        use_app (`bool`, *optional*, defaults to `True`):
            Whether the prior token's embedding comes from the APP branch. When `False` the Whisper encoder is not
            built and the prior token keeps its ordinary (frozen) embedding.
        test_format (`dict` or `str`, *optional*):
            The speaking test's format (`test_format_sla.TestFormat.to_dict()`, as in `test_format.json`; or a
            built-in format's name or a JSON file, kept as its dict): its parts, scale, levels and overall rule.
            Defaults to the built-in `sandi2025` (Speak & Improve 2025). The targets, the head's size and the APP's
            bands follow from it.
        num_app_classes (`int`, *optional*):
            Number of APP proficiency classes; defaults to the bands of the format's scale (8 half bands 2.0-5.5 on
            S&I).
        app_band_min (`float`, *optional*):
            Mark of the lowest APP class; defaults to the format's scale minimum. A model started from one trained on
            another format keeps its APP and so its bands.
        app_band_step (`float`, *optional*):
            Distance between APP classes; defaults to the format's scale step.
        app_hidden_size (`int`, *optional*, defaults to 256):
            Hidden width of the APP's 2-layer MLP.
        app_window_batch_size (`int`, *optional*, defaults to 8):
            How many 30 s Whisper windows are encoded at once (bounds memory on long sessions).
        lora_rank (`int`, *optional*, defaults to 16):
            LoRA rank on the language layers.
        lora_alpha (`int`, *optional*, defaults to 32):
            LoRA scaling numerator (the update is scaled by `lora_alpha / lora_rank`).
        lora_dropout (`float`, *optional*, defaults to 0.05):
            Dropout on the LoRA input.
        lora_target_modules (`str`, *optional*):
            Regular expression full-matched against module names inside the backbone. Defaults to the backbone
            family's language layers (never its audio tower).
        score_names (`list[str]`, *optional*):
            Target names, in output order: the format's parts, then `overall` unless the format has none (S&I:
            `["P1", "P3", "P4", "P5", "overall"]`). Set from the format; a different list is refused.
        overall_mode (`str`, *optional*, defaults to `"head"`):
            `"head"`: overall is its own output, trained on the overall mark. `"part_mean"`: overall is the mean of
            the part outputs (weighted where the format's rule is) as the paper reports it; the overall mark then
            trains the parts through the mean.
        prior_token_id (`int`, *optional*):
            Token id of the prior token placed before the session, whose embedding the APP replaces.
        uncertainty (`dict`, *optional*):
            The interval and referral calibration written by `sla calibrate` (`uncertainty_sla.py` reads it): method,
            coverage, per target its conformal quantile, difficulty model, centre and typical width, and the referral
            threshold. Without it, scores come without intervals.
        head_normalization (`bool`, *optional*, defaults to `True`):
            Standardise the pooled hidden state with fixed statistics (buffers fitted on training data by
            `SLAForSessionScoring.fit_head_normalization`) before the head. With a frozen backbone, session
            representations differ little from each other; standardising them lets the head learn from the start.
        session_batching (`str`, *optional*, defaults to `"per_session"`):
            How a batch is run in eval mode (scoring). `"per_session"`: each session runs its own passes (its clips
            share them, sessions never do), so its scores are the same to the last bit alone, in any batch and in
            any order. `"padded"`: sessions share padded passes (opt-in; the rounding then moves with the batch,
            in bf16 by up to a few hundredths of a band). Training batches follow `training_batching`.
        training_batching (`str`, *optional*, defaults to `"padded"`):
            How a batch is run in training mode. `"padded"`: one padded pass over the batch. `"per_session"`
            (opt-in): each session runs its own forward pass, without padding or a padding mask, and the masked MSE
            is taken over the whole batch's targets at once, as the padded pass takes it; the activations of every
            session of the batch are kept for the backward pass, as in the padded pass.
        audio_tower_cuda_graphs (`bool`, *optional*, defaults to `False`):
            Phi-4 only, on a CUDA device (elsewhere the tower runs as usual): the conformer's passes are padded to a
            few fixed shapes and replayed as CUDA graphs captured at each shape's first use, instead of launching
            their hundreds of small kernels one by one (`conformer_graphs_sla.py`). Opt-in until `sla gpu-check`
            shows it pays; a clip's encoding then depends on its pass's padded shape, still not on other sessions.
    """

    model_type = "sla_session_scoring"
    sub_configs_defaults = {
        "audio_llm_config": SubConfigSpec(AutoConfig, model_type=DEFAULT_BACKBONE_TYPE),
        "app_encoder_config": SubConfigSpec(WhisperConfig, optional=True),
    }

    audio_llm_config: dict | PreTrainedConfig | None = None
    app_encoder_config: dict | PreTrainedConfig | None = None
    use_app: bool = True
    test_format: dict | str | None = None
    num_app_classes: int | None = None
    app_band_min: float | int | None = None
    app_band_step: float | int | None = None
    app_hidden_size: int = 256
    app_window_batch_size: int = 8
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float | int = 0.05
    lora_target_modules: str | None = None
    score_names: list[str] | None = None
    overall_mode: Literal["head", "part_mean"] = "head"
    prior_token_id: int | None = None
    head_normalization: bool = True
    uncertainty: dict | None = None
    session_batching: Literal["per_session", "padded"] = "per_session"
    training_batching: Literal["padded", "per_session"] = "padded"
    audio_tower_cuda_graphs: bool = False

    def __post_init__(self, **kwargs):
        test_format = load_test_format(self.test_format)
        self.test_format = test_format.to_dict()
        if self.score_names is None:
            self.score_names = test_format.score_names
        if self.num_app_classes is None:
            self.num_app_classes = test_format.scale.num_bands
        if self.app_band_min is None:
            self.app_band_min = test_format.scale.min
        if self.app_band_step is None:
            self.app_band_step = test_format.scale.step
        if self.use_app and self.app_encoder_config is None:
            self.app_encoder_config = WhisperConfig()
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Checks that the targets and the APP settings fit together."""
        super().validate_architecture()
        test_format = self.get_test_format()
        if list(self.score_names) != test_format.score_names:
            raise ValueError(f"`score_names` {list(self.score_names)} are not the targets of the {test_format.name} "
                             f"format ({test_format.score_names}); they follow from `test_format`.")
        if self.overall_mode == "part_mean" and OVERALL not in self.score_names:
            raise ValueError(f"`overall_mode='part_mean'` needs an overall target; the {test_format.name} format has "
                             f"none.")
        if self.num_app_classes < 2 or self.app_band_step <= 0:
            raise ValueError(f"The APP needs at least 2 bands of positive width, got {self.num_app_classes} bands "
                             f"{self.app_band_step} apart.")

    def get_test_format(self) -> TestFormat:
        """The format of the test this model scores."""
        return TestFormat.from_dict(self.test_format, source="config.test_format")

    @property
    def num_scores(self) -> int:
        return len(self.score_names)

    @property
    def band_values(self) -> list[float]:
        """The marks of the APP classes, lowest first (2.0, 2.5, ..., 5.5 on the S&I scale)."""
        return [self.app_band_min + i * self.app_band_step for i in range(self.num_app_classes)]


__all__ = ["SLAConfig"]
