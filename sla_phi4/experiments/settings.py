"""The settings of the experiment commands (`sla demo`, `sla transfer`, `sla uncertainty-study`): plain dataclasses
that import nothing heavy, so that each command's `--help` answers at once."""

import os
from dataclasses import dataclass, field


@dataclass
class DemoSettings:
    """What the main job builds, trains and scores."""

    workdir: str = field(default="runs/demo", metadata={"help": "Where everything is written."})
    format: str = field(default="sandi2025", metadata={
        "help": "The test format: sandi2025 (Speak & Improve), ielts-like or toefl-like (shaped after the tests' "
                "public descriptions, not their official scoring)."})
    backbone: str = field(default="voxtral", metadata={
        "help": "voxtral (its small language model hears through a real Whisper), phi4 (the package's default "
                "backbone; its stand-in's conformer is random) or qwen2-audio."})
    app_encoder: str = field(default="whisper-base", metadata={
        "help": "The APP's Whisper: whisper-base or whisper-tiny.en (real weights), random, or a Whisper folder."})
    audio_tower: str = field(default="whisper-tiny.en", metadata={
        "help": "The real Whisper in the audio tower of voxtral and qwen2-audio."})
    language_model: str = field(default="random", metadata={
        "help": "Voxtral's text model: random (a small random decoder), smollm2-135m (SmolLM2-135M-Instruct, real "
                "pretrained weights from a pinned package) or a Llama folder."})
    align: bool = field(default=False, metadata={
        "help": "With a pretrained --language_model: first align Voxtral's projector on speech-to-text (sla align's "
                "defaults; cached), so that the language model hears words."})
    pack_audio: bool = field(default=True, metadata={
        "help": "Where the backbone's tower supports it (voxtral, qwen2-audio), a session's answers share 30 s "
                "windows: 5.6x fewer on this corpus's short answers, but not exact per answer (README)."})
    use_app: bool = field(default=True, metadata={"help": "Ablation: false builds the model without the APP."})
    app_targets: str = field(default="all", metadata={"help": "Stage app learns from 'all' marks or 'overall'."})
    lora_rank: int | None = field(default=None, metadata={
        "help": "LoRA rank (alpha is twice it); default: the size's (sla_phi4/testing/stand_ins/tiny_sizes.json)."})
    overall_mode: str = field(default="head", metadata={
        "help": "'head' (overall is its own output) or 'part_mean' (the mean of the part outputs)."})
    drop_responses: float = field(default=0.0, metadata={
        "help": "Stage sla: each epoch, each training session loses each response with this probability."})
    sessions: int = field(default=400, metadata={"help": "Synthetic learners (70/15/15 train/dev/eval)."})
    split_shares: list[float] | None = field(default=None, metadata={
        "help": "The train, dev and eval shares of the sessions (default 0.70 0.15 0.15)."})
    duration_scale: float = field(default=0.1, metadata={"help": "Answer durations as a fraction of the real ones."})
    cue_strength: float = field(default=2.0, metadata={
        "help": "Synthetic cues' signal-to-noise scale; 2 makes marks about as predictable as real ones (README)."})
    cue_profile: str = field(default="default", metadata={
        "help": "Which cues carry proficiency: default (all six) or content-only (only the words)."})
    gaps: bool = field(default=True, metadata={"help": "Train sessions miss parts and marks as in the real kit."})
    corpus_seed: int = field(default=0, metadata={"help": "Seed of the synthetic corpus."})
    seed: int = field(default=0, metadata={"help": "Seed of the random weights and of training."})
    size: str = field(default="small", metadata={
        "help": "Stand-in widths: tiny or small (sla_phi4/testing/stand_ins/tiny_sizes.json)."})
    epochs_app: float = field(default=20, metadata={"help": "Epochs of stage app."})
    epochs_sla: float = field(default=6, metadata={"help": "Epochs of stage sla."})
    lr_sla: float = field(default=5e-4, metadata={"help": "Learning rate of stage sla."})
    batch_size: int = field(default=8, metadata={
        "help": "Training sessions per step and process, of both stages (times --gradient_accumulation)."})
    gradient_accumulation: int = field(default=1, metadata={
        "help": "Micro-batches per optimizer step: --batch_size 2 --gradient_accumulation 4 steps as a batch of 8 "
                "does, in a quarter of the activation memory."})
    corpus_dir: str | None = field(default=None, metadata={"help": "Default: <workdir>/corpus."})
    cache_dir: str | None = field(default=None, metadata={"help": "Default: <workdir>/cache."})
    model_card: bool = field(default=True, metadata={"help": "Write the model card and reload through the pipeline."})
    quick: bool = field(default=False, metadata={"help": "A minute-long smoke run (tests): tiny corpus and model."})

    def __post_init__(self):
        if self.language_model != "random" and self.backbone != "voxtral":
            raise ValueError(f"--language_model fits the voxtral backbone only, not {self.backbone}.")
        if self.batch_size < 1 or self.gradient_accumulation < 1:
            raise ValueError("--batch_size and --gradient_accumulation must be at least 1.")
        if self.align and self.language_model == "random":
            raise ValueError("--align needs a pretrained --language_model (e.g. smollm2-135m), not a random decoder.")
        if self.quick:
            self.sessions, self.duration_scale, self.size, self.epochs_app, self.epochs_sla = 12, 0.05, "tiny", 2, 2
            self.app_encoder = "random" if self.app_encoder == "whisper-base" else self.app_encoder
        if self.lora_rank is None:
            from sla_phi4.testing.stand_ins.sizes import tiny_size

            self.lora_rank = tiny_size(self.size)["lora_rank"]
        self.corpus_dir = self.corpus_dir or os.path.join(self.workdir, "corpus")
        self.cache_dir = self.cache_dir or os.path.join(self.workdir, "cache")


@dataclass
class TransferSettings:
    """What the transfer study trains and scores."""

    source: str = field(default="runs/demo/model", metadata={
        "help": "The trained S&I model to start from (the main job's); its folder's `../base` is the stand-in it was "
                "built from, where the from-scratch models start."})
    format: str = field(default="ielts-like", metadata={"help": "The new test format."})
    workdir: str = field(default="runs/transfer", metadata={"help": "Where everything is written."})
    sizes: list[int] = field(default_factory=lambda: [25, 50, 100, 200], metadata={
        "help": "Numbers of training sessions of the new format."})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "Seeds of training."})
    sessions: int = field(default=1000, metadata={
        "help": "Sessions of the new format's synthetic corpus (70/15/15 train/dev/eval)."})
    corpus_seed: int = field(default=0, metadata={"help": "Seed of the synthetic corpus."})
    quick: bool = field(default=False, metadata={
        "help": "A smoke run (tests): a small corpus, 4 sessions, one seed, 2 epochs; --source a quick main job's."})

    def __post_init__(self):
        if self.quick:
            self.sizes, self.seeds, self.sessions = [4], [0], 16
        # The main job's settings (corpus, epochs, learning rates), on this study's corpus and cache.
        self.demo = DemoSettings(format=self.format, quick=self.quick, workdir=self.workdir, model_card=False,
                                 corpus_dir=os.path.join(self.workdir, "corpus"),
                                 cache_dir=os.path.join(self.workdir, "cache"))
        self.demo.sessions, self.demo.corpus_seed = self.sessions, self.corpus_seed


@dataclass
class UncertaintySettings:
    """The corpus and the judgement of the uncertainty study (the model is the main job's, on this corpus)."""

    workdir: str = field(default="runs/uncertainty", metadata={"help": "Where everything is written."})
    sessions: int = field(default=1500, metadata={"help": "Sessions of the corpus (the main job's has 400)."})
    split_shares: list[float] = field(default_factory=lambda: [0.2, 0.4, 0.4], metadata={
        "help": "Train, dev and eval shares: 300 train sessions as in the main job, large held-out splits."})
    coverage: float = field(default=0.9, metadata={"help": "The intervals' coverage."})
    refer: float = field(default=0.1, metadata={"help": "The share of sessions referred for the headline figure."})
    backbone: str = field(default="voxtral", metadata={"help": "The backbone of the model trained."})
    seed: int = field(default=0, metadata={"help": "Seed of the random weights and of training."})
    corpus_seed: int = field(default=0, metadata={"help": "Seed of the synthetic corpus."})
    model: str | None = field(default=None, metadata={
        "help": "A trained model to judge (e.g. the main job's runs/demo/model) instead of training one on this "
                "corpus; give the corpus another --corpus_seed than the model's, so that its sessions are new."})
    resplits: int = field(default=200, metadata={
        "help": "Random calibration splits of the pooled dev and eval sessions (the study's sizes), for the spread "
                "of each figure over calibration splits (0: none)."})
    quick: bool = field(default=False, metadata={"help": "A smoke run (tests): the quick main job's sizes."})

    def demo_settings(self) -> DemoSettings:
        settings = DemoSettings(workdir=self.workdir, backbone=self.backbone, seed=self.seed, quick=self.quick,
                                split_shares=list(self.split_shares), model_card=False,
                                corpus_seed=self.corpus_seed)
        settings.sessions = self.sessions
        return settings


__all__ = ["DemoSettings", "TransferSettings", "UncertaintySettings"]
