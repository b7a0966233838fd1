"""Configuration of the session-level spoken language assessment model."""

from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig, WhisperConfig
from transformers.configuration_utils import SubConfigSpec


DEFAULT_SCORE_NAMES = ("P1", "P3", "P4", "P5", "overall")
PART_NAMES = ("P1", "P3", "P4", "P5")
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
        num_app_classes (`int`, *optional*, defaults to 8):
            Number of APP proficiency classes: the 8 half bands 2.0-5.5 of the S&I scale.
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
            Target names, in output order. Defaults to `["P1", "P3", "P4", "P5", "overall"]`.
        overall_mode (`str`, *optional*, defaults to `"head"`):
            `"head"`: overall is its own output, trained on the overall mark. `"part_mean"`: overall is the mean of
            the part outputs (as the paper reports it); the overall mark then trains the parts through the mean.
        prior_token_id (`int`, *optional*):
            Token id of the prior token placed before the session, whose embedding the APP replaces.
        score_min (`float`, *optional*, defaults to 2.0):
            Lowest mark of the scale (used for clipping in pipelines and for the APP band edges).
        score_max (`float`, *optional*, defaults to 5.5):
            Highest mark of the scale.
        score_step (`float`, *optional*, defaults to 0.5):
            Distance between bands.
        head_normalization (`bool`, *optional*, defaults to `True`):
            Standardise the pooled hidden state with fixed statistics (buffers fitted on training data by
            `SLAForSessionScoring.fit_head_normalization`) before the head. With a frozen backbone, session
            representations differ little from each other; standardising them lets the head learn from the start.
    """

    model_type = "sla_session_scoring"
    sub_configs_defaults = {
        "audio_llm_config": SubConfigSpec(AutoConfig, model_type=DEFAULT_BACKBONE_TYPE),
        "app_encoder_config": SubConfigSpec(WhisperConfig, optional=True),
    }

    audio_llm_config: dict | PreTrainedConfig | None = None
    app_encoder_config: dict | PreTrainedConfig | None = None
    use_app: bool = True
    num_app_classes: int = 8
    app_hidden_size: int = 256
    app_window_batch_size: int = 8
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float | int = 0.05
    lora_target_modules: str | None = None
    score_names: list[str] | None = None
    overall_mode: Literal["head", "part_mean"] = "head"
    prior_token_id: int | None = None
    score_min: float | int = 2.0
    score_max: float | int = 5.5
    score_step: float | int = 0.5
    head_normalization: bool = True

    def __post_init__(self, **kwargs):
        if self.score_names is None:
            self.score_names = list(DEFAULT_SCORE_NAMES)
        if self.use_app and self.app_encoder_config is None:
            self.app_encoder_config = WhisperConfig()
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Checks that the targets and the APP settings fit together."""
        super().validate_architecture()
        if len(set(self.score_names)) != len(self.score_names):
            raise ValueError(f"`score_names` has duplicates: {self.score_names}")
        if self.overall_mode == "part_mean":
            if "overall" not in self.score_names:
                raise ValueError("`overall_mode='part_mean'` needs 'overall' among `score_names`.")
            if not [name for name in self.score_names if name != "overall"]:
                raise ValueError("`overall_mode='part_mean'` needs at least one part among `score_names`.")
        expected_classes = round((self.score_max - self.score_min) / self.score_step) + 1
        if self.use_app and self.num_app_classes != expected_classes:
            raise ValueError(
                f"`num_app_classes` ({self.num_app_classes}) must equal the number of bands from `score_min` to "
                f"`score_max` in steps of `score_step` ({expected_classes})."
            )

    @property
    def num_scores(self) -> int:
        return len(self.score_names)

    @property
    def band_values(self) -> list[float]:
        """The marks of the APP classes, lowest first (2.0, 2.5, ..., 5.5 on the S&I scale)."""
        return [self.score_min + i * self.score_step for i in range(self.num_app_classes)]


__all__ = ["SLAConfig"]
