"""Alignment: teaching a Voxtral-layout backbone's projector to speak its language model's language, as audio LLMs
are pre-aligned before any task.

The audio tower (a real Whisper) and the language model (a real pretrained Llama) are frozen; only Voxtral's
projector between them trains, on speech-to-text: espeak-ng speech of the synthetic corpus's graded sentences, in
several of its L1 voices and at several rates, each clip followed by its transcript. The figure of merit is the word
error rate of greedy transcription on sentences and voices held out from training, before and after.

    result = align_backbone("parts/voxtral", AlignmentSettings())   # cached: reruns cost nothing
    result.summary["wer_before"], result.summary["wer_after"]

The frozen tower's output for every clip is computed once; the trained projector and its figures are kept under a
fingerprint of the backbone, the settings and this file ($SLA_CACHE_DIR/alignment, else ~/.cache/sla-phi4), like the
session cache.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, VoxtralForConditionalGeneration, WhisperFeatureExtractor
from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

from modeling_sla.configuration_sla import SLAConfig
from processing_sla.speech_prompt_voxtral_sla import VoxtralSpeechPrompt
from sla_phi4.conversion.ct2_whisper import cache_dir
from sla_phi4.conversion.staging import staged_folder
from sla_phi4.data import espeak_tts
from sla_phi4.data.synthetic.learners import L1_VOICES
from sla_phi4.data.synthetic.pools import pool_sentences
from sla_phi4.training.session_cache import module_fingerprint


PROJECTOR_FILE, SUMMARY_FILE = "projector.safetensors", "alignment.json"
SESSION_MODEL_TYPE = SLAConfig.model_type
# Part of the cache key: raise it whenever a change here changes what alignment trains or measures.
ALIGNMENT_VERSION = 2  # 2: the graded pools' sentences only (1 also drew some question texts)


class AlignmentError(ValueError):
    """A backbone that cannot be aligned; the message names its folder."""


@dataclass
class AlignmentSettings:
    """What the alignment stage trains on and how.

    Args:
        train_sentences: distinct sentences spoken for training (each once, by one voice at one rate).
        eval_sentences: held-out sentences transcribed before and after.
        train_voices: espeak voices of training; `eval_voices`: held-out voices (the corpus's L1 voices).
        rates: espeak speaking rates (words per minute) drawn from.
        epochs, learning_rate, batch_size: the projector's AdamW training (linear warm-up over the first tenth).
        prompt_before, prompt_after: the text around a clip's audio tokens; the transcript follows, then the end token.
        max_new_tokens: greedy transcription stops here (or at the end token).
        seed: which sentences, voices and rates; the order of training.
    """

    train_sentences: int = 320
    eval_sentences: int = 30
    train_voices: list[str] = field(default_factory=lambda: list(L1_VOICES[:7]))
    eval_voices: list[str] = field(default_factory=lambda: list(L1_VOICES[7:]))
    rates: list[int] = field(default_factory=lambda: [130, 155, 180])
    epochs: float = 3.0
    learning_rate: float = 2e-3
    batch_size: int = 8
    prompt_before: str = "Speech:"
    prompt_after: str = "\nTranscript:"
    max_new_tokens: int = 40
    seed: int = 0

    @classmethod
    def smoke(cls) -> "AlignmentSettings":
        """A seconds-long run for tests and `--quick`: a few sentences, one epoch, short transcripts."""
        return cls(train_sentences=8, eval_sentences=3, epochs=1, batch_size=4, max_new_tokens=8)

    def __post_init__(self):
        if not (self.train_sentences > 0 and self.eval_sentences > 0 and self.epochs > 0 and self.batch_size > 0):
            raise ValueError("train_sentences, eval_sentences, epochs and batch_size must be positive.")
        if not (self.train_voices and self.eval_voices and self.rates):
            raise ValueError("Alignment needs training voices, held-out voices and at least one rate.")
        if set(self.train_voices) & set(self.eval_voices):
            raise ValueError(f"Held-out voices {self.eval_voices} overlap the training voices {self.train_voices}.")


@dataclass
class Clip:
    """One spoken sentence: its text, how it was spoken and the frozen tower's output (`tokens x group`)."""

    text: str
    voice: str
    rate: int
    states: torch.Tensor = field(repr=False)


@dataclass
class AlignmentResult:
    """Where the aligned projector is, and its figures (`alignment.json`)."""

    folder: Path
    summary: dict

    @property
    def projector_file(self) -> Path:
        return self.folder / PROJECTOR_FILE


# --- speech --------------------------------------------------------------------------------------------------------


def split_sentences(settings: AlignmentSettings) -> tuple[list[str], list[str]]:
    """Disjoint training and held-out sentences from the corpus's graded pools (what learners say, not questions)."""
    sentences = [text for text in pool_sentences() if len(text.split()) >= 3]
    needed = settings.train_sentences + settings.eval_sentences
    if needed > len(sentences):
        raise ValueError(f"{needed} sentences asked for; the pools have {len(sentences)}.")
    order = np.random.default_rng([settings.seed, 26]).permutation(len(sentences))
    chosen = [sentences[index] for index in order[:needed]]
    return chosen[: settings.train_sentences], chosen[settings.train_sentences:]


def tower_states(backbone, feature_extractor, audio: np.ndarray) -> torch.Tensor:
    """The frozen tower's output for one clip, 4 frames a row (what Voxtral's projector takes), valid rows only."""
    prompt = VoxtralSpeechPrompt()
    group = backbone.config.audio_config.intermediate_size
    rows = []
    for unit in prompt.audio_units(feature_extractor, audio, espeak_tts.SAMPLE_RATE):
        with torch.no_grad():
            states = backbone.model.audio_tower(torch.from_numpy(unit.features)[None]).last_hidden_state
        rows.append(states.reshape(-1, group)[: unit.tokens])
    return torch.cat(rows)


def speak(texts: list[str], voices: list[str], settings: AlignmentSettings, backbone, feature_extractor,
          salt: int) -> list[Clip]:
    """Each text spoken once by a voice (with a variant) at a rate drawn from the settings, through the tower."""
    rng = np.random.default_rng([settings.seed, 26, salt])
    espeak_tts.reset()
    clips = []
    for text in texts:
        voice = str(voices[int(rng.integers(len(voices)))])
        rate = int(settings.rates[int(rng.integers(len(settings.rates)))])
        audio = espeak_tts.synthesize(text, voice=voice, rate=rate)
        clips.append(Clip(text, voice, rate, tower_states(backbone, feature_extractor, audio)))
    return clips


# --- sequences -----------------------------------------------------------------------------------------------------


class AlignmentPrompt:
    """Token ids of the text around each clip, and the embedding of a batch of clips with their transcripts."""

    def __init__(self, tokenizer, settings: AlignmentSettings):
        if tokenizer.eos_token_id is None:
            raise AlignmentError("The language model's tokenizer has no end token to end a transcript with.")
        self.tokenizer, self.eos = tokenizer, tokenizer.eos_token_id
        self.before = tokenizer.encode(settings.prompt_before, add_special_tokens=False)
        self.after = tokenizer.encode(settings.prompt_after, add_special_tokens=False)

    def target(self, text: str) -> list[int]:
        return self.tokenizer.encode(" " + text, add_special_tokens=False) + [self.eos]

    def embed(self, backbone, clip: Clip, target: list[int]) -> torch.Tensor:
        """The prompt, the clip's projected audio and the `target` ids (none when transcribing), embedded."""
        embed_tokens = backbone.model.language_model.embed_tokens

        def tokens(ids: list[int]) -> torch.Tensor:
            return embed_tokens(torch.tensor(ids, dtype=torch.long))

        pieces = [tokens(self.before), backbone.model.multi_modal_projector(clip.states), tokens(self.after)]
        return torch.cat(pieces + ([tokens(target)] if target else []))


def transcript_loss(backbone, prompt: AlignmentPrompt, clips: list[Clip]) -> torch.Tensor:
    """Mean cross-entropy of each clip's transcript tokens, given the prompt and the clip's audio."""
    targets = [prompt.target(clip.text) for clip in clips]
    sequences = [prompt.embed(backbone, clip, target) for clip, target in zip(clips, targets)]
    length = max(len(sequence) for sequence in sequences)
    hidden = backbone.config.text_config.hidden_size
    embeds = torch.zeros(len(clips), length, hidden)
    mask = torch.zeros(len(clips), length, dtype=torch.long)
    positions, labels = [], []
    for row, (sequence, target) in enumerate(zip(sequences, targets)):
        embeds[row, : len(sequence)] = sequence
        mask[row, : len(sequence)] = 1
        start = len(sequence) - len(target)
        positions += [(row, start - 1 + offset) for offset in range(len(target))]  # each predicts the next token
        labels += target
    states = backbone.model.language_model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
    rows, columns = zip(*positions)
    logits = backbone.lm_head(states[list(rows), list(columns)])
    return torch.nn.functional.cross_entropy(logits, torch.tensor(labels))


@torch.no_grad()
def transcribe(backbone, prompt: AlignmentPrompt, clip: Clip, max_new_tokens: int) -> str:
    """Greedy transcription of one clip (stops at the end token)."""
    language_model = backbone.model.language_model
    embeds = prompt.embed(backbone, clip, [])[None]
    output = language_model(inputs_embeds=embeds, use_cache=True)
    generated = []
    for _ in range(max_new_tokens):
        token = int(backbone.lm_head(output.last_hidden_state[:, -1]).argmax(-1))
        if token == prompt.eos:
            break
        generated.append(token)
        step = language_model.embed_tokens(torch.tensor([[token]]))
        output = language_model(inputs_embeds=step, cache=output.cache, use_cache=True)
    return prompt.tokenizer.decode(generated, skip_special_tokens=True).strip()


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """WER after Whisper's English normalisation (case, punctuation, numbers) of both sides."""
    import jiwer  # the `lm` extra: only alignment's figure of merit needs it

    normalize = EnglishTextNormalizer({})
    return float(jiwer.wer([normalize(text) for text in references], [normalize(text) or "-" for text in hypotheses]))


def evaluate(backbone, prompt: AlignmentPrompt, clips: list[Clip], settings: AlignmentSettings) -> dict:
    """WER of greedy transcription over `clips`, and a few examples."""
    hypotheses = [transcribe(backbone, prompt, clip, settings.max_new_tokens) for clip in clips]
    return {"wer": word_error_rate([clip.text for clip in clips], hypotheses),
            "examples": [{"reference": clip.text, "voice": clip.voice, "rate": clip.rate, "hypothesis": hypothesis}
                         for clip, hypothesis in zip(clips[:5], hypotheses[:5])]}


# --- training ------------------------------------------------------------------------------------------------------


def freeze_all_but_projector(backbone) -> list[torch.nn.Parameter]:
    for parameter in backbone.parameters():
        parameter.requires_grad_(False)
    trainable = list(backbone.model.multi_modal_projector.parameters())
    for parameter in trainable:
        parameter.requires_grad_(True)
    return trainable


def train_projector(backbone, prompt: AlignmentPrompt, clips: list[Clip], settings: AlignmentSettings) -> list[float]:
    """AdamW on the projector alone; returns each epoch's mean training loss."""
    trainable = freeze_all_but_projector(backbone)
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(clips) / settings.batch_size)
    total = max(1, round(settings.epochs * steps_per_epoch))
    warmup = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup))))
    generator = torch.Generator().manual_seed(settings.seed)
    losses, step = [], 0
    backbone.train()
    while step < total:
        order = torch.randperm(len(clips), generator=generator).tolist()
        epoch_losses = []
        for start in range(0, len(order), settings.batch_size):
            if step == total:
                break
            batch = [clips[index] for index in order[start:start + settings.batch_size]]
            loss = transcript_loss(backbone, prompt, batch)
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            epoch_losses.append(loss.item())
            step += 1
        losses.append(float(np.mean(epoch_losses)))
        print(f"alignment epoch {len(losses)}: loss {losses[-1]:.3f} ({step}/{total} steps)", flush=True)
    backbone.eval()
    return losses


# --- the cached stage ----------------------------------------------------------------------------------------------


def model_type(folder: Path) -> str | None:
    config_file = folder / "config.json"
    return json.loads(config_file.read_text()).get("model_type") if config_file.is_file() else None


def session_checkpoint_holding(folder: Path) -> Path | None:
    """The session checkpoint whose `parts/` holds this backbone folder, else None."""
    parts = folder.resolve().parent
    return parts.parent if parts.name == "parts" and model_type(parts.parent) == SESSION_MODEL_TYPE else None


def load_backbone(backbone_dir: str | Path):
    folder = Path(backbone_dir)
    if model_type(folder) == SESSION_MODEL_TYPE:
        raise AlignmentError(f"{folder}: a session checkpoint, not a backbone: its backbone is "
                             f"{folder / 'parts' / 'voxtral'} (to align a stand-in's projector, build it with "
                             f"`sla build-tiny ... --align`).")
    if model_type(folder) != "voxtral":
        raise AlignmentError(f"{folder}: not a Voxtral-layout backbone folder (its config.json's model_type must be "
                             f"voxtral); build one with `sla build-tiny --backbone voxtral --language-model ...`.")
    backbone = VoxtralForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).eval()
    return backbone, AutoTokenizer.from_pretrained(folder), WhisperFeatureExtractor.from_pretrained(folder)


def alignment_key(backbone, settings: AlignmentSettings) -> str:
    """A fingerprint of what the aligned projector depends on: every weight, the settings and `ALIGNMENT_VERSION`."""
    described = json.dumps(asdict(settings), sort_keys=True, allow_nan=False)
    return f"{module_fingerprint(backbone)}-{hashlib.sha256(described.encode()).hexdigest()[:12]}-v{ALIGNMENT_VERSION}"


def align_backbone(backbone_dir: str | Path, settings: AlignmentSettings | None = None,
                   cache_root: str | Path | None = None) -> AlignmentResult:
    """The projector of the backbone in `backbone_dir` aligned by speech-to-text, with WER before and after: read
    from the cache when this backbone was aligned with these settings before, else trained (minutes to hours on a
    CPU; the summary gives the seconds)."""
    settings = settings or AlignmentSettings()
    backbone, tokenizer, feature_extractor = load_backbone(backbone_dir)
    root = Path(cache_root) if cache_root is not None else cache_dir() / "alignment"
    folder = root / alignment_key(backbone, settings)
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if not (folder / SUMMARY_FILE).is_file():
            summary = run_alignment(backbone, tokenizer, feature_extractor, settings)
            with staged_folder(folder, AlignmentError) as staging:
                save_file({name: tensor.contiguous() for name, tensor in
                           backbone.model.multi_modal_projector.state_dict().items()}, staging / PROJECTOR_FILE)
                (staging / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, allow_nan=False))
    return AlignmentResult(folder, json.loads((folder / SUMMARY_FILE).read_text()))


def run_alignment(backbone, tokenizer, feature_extractor, settings: AlignmentSettings) -> dict:
    """Speaks the sentences, measures WER, trains the projector, measures WER again; returns the figures."""
    seconds = {}
    start = time.perf_counter()
    train_texts, eval_texts = split_sentences(settings)
    train = speak(train_texts, settings.train_voices, settings, backbone, feature_extractor, salt=0)
    held_out = speak(eval_texts, settings.eval_voices, settings, backbone, feature_extractor, salt=1)
    seconds["speech_and_tower"] = round(time.perf_counter() - start, 1)
    prompt = AlignmentPrompt(tokenizer, settings)
    start = time.perf_counter()
    before = evaluate(backbone, prompt, held_out, settings)
    seconds["transcribe_before"] = round(time.perf_counter() - start, 1)
    print(f"alignment: held-out WER before {before['wer']:.3f}", flush=True)
    start = time.perf_counter()
    losses = train_projector(backbone, prompt, train, settings)
    seconds["train"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    after = evaluate(backbone, prompt, held_out, settings)
    seconds["transcribe_after"] = round(time.perf_counter() - start, 1)
    print(f"alignment: held-out WER after {after['wer']:.3f}", flush=True)
    audio_seconds = sum(len(clip.states) for clip in train) / 12.5
    return {"settings": asdict(settings), "wer_before": before["wer"], "wer_after": after["wer"],
            "examples_before": before["examples"], "examples_after": after["examples"], "train_losses": losses,
            "train_clips": len(train), "train_audio_seconds": round(audio_seconds, 1), "eval_clips": len(held_out),
            "seconds": seconds, "torch_threads": torch.get_num_threads()}


def install_projector(backbone_dir: str | Path, result: AlignmentResult) -> None:
    """Writes the aligned projector into a standalone backbone folder. Refuses the backbone part of a built session
    checkpoint: the checkpoint's own weights hold the projector, so installing there would leave the model the user
    loads unaligned."""
    check_installable(backbone_dir)
    write_projector(backbone_dir, result)


def check_installable(backbone_dir: str | Path) -> None:
    """Refuses, before any alignment is trained, a folder that `install_projector` would refuse."""
    checkpoint = session_checkpoint_holding(Path(backbone_dir))
    if checkpoint is not None:
        raise AlignmentError(f"{backbone_dir}: the backbone part of the session checkpoint {checkpoint}, whose own "
                             f"weights hold the projector, so installing here would not align the model it loads. "
                             f"Build the checkpoint aligned instead: `sla build-tiny --backbone voxtral "
                             f"--language-model ... --align`.")


def write_projector(backbone_dir: str | Path, result: AlignmentResult) -> None:
    """Writes the aligned projector into the backbone folder, its other weights unchanged (a checkpoint builder calls
    this before it assembles the checkpoint from the folder)."""
    backbone = VoxtralForConditionalGeneration.from_pretrained(backbone_dir, dtype=torch.float32)
    backbone.model.multi_modal_projector.load_state_dict(load_file(str(result.projector_file)), strict=True)
    backbone.save_pretrained(backbone_dir)


__all__ = [
    "AlignmentError", "AlignmentResult", "AlignmentSettings", "align_backbone", "check_installable",
    "install_projector", "split_sentences", "transcribe", "word_error_rate", "write_projector",
]
