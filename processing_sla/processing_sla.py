"""SLAProcessor: turns learner sessions (audio and questions) into the inputs of SLAForSessionScoring."""

import hashlib
import math
import os

import numpy as np
import torch
from transformers import (
    AutoConfig,
    AutoTokenizer,
    Phi4MultimodalFeatureExtractor,
    PreTrainedConfig,
    WhisperFeatureExtractor,
)
from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin

from .assessability_sla import AssessabilityThresholds, assess_responses
from .audio_io_sla import TARGET_SAMPLING_RATE, AudioInputError, load_audio
from .session_template_sla import PARTS, SESSION_TEMPLATE, TEMPLATE_VERSION, compile_template


PRIOR_TOKEN = "<|app_prior|>"
DEFAULT_SCORE_NAMES = ["P1", "P3", "P4", "P5", "overall"]


class SessionInputError(ValueError):
    """Raised for a malformed session; the message names the session and, where it applies, the response."""


class SLAProcessor(ProcessorMixin):
    r"""
    Builds model inputs for [`SLAForSessionScoring`] from one session or a list of sessions.

    A session is `{"session_id": str, "responses": [{"part": "P1", "audio": ..., "question": str | None,
    "response_id": str (optional)}, ...]}`; `audio` is a file path, a 1-D float array at 16 kHz, or
    `{"array": ..., "sampling_rate": ...}`. Rows of `processing_sla.load_speak_improve` have this shape.

    Args:
        tokenizer: the backbone's tokenizer, with the prior token added.
        audio_feature_extractor (`Phi4MultimodalFeatureExtractor`): log-mel features of every response.
        app_feature_extractor (`WhisperFeatureExtractor`): features of the 30 s windows for the APP (a session's
            responses are packed end to end, then cut into windows).
        chat_template (`str`, *optional*): the session template (Jinja); defaults to `SESSION_TEMPLATE`.
        prior_token (`str`, *optional*): the prior token placed before each session.
        audio_token (`str`): the backbone's audio placeholder token.
        score_names (`list[str]`, *optional*): target names, in the model's output order.
        template_version (`int`, *optional*): version of the session template.
        assessability_thresholds (`dict`, *optional*): when a response cannot be assessed (silent, no or too little
            speech, mostly noise, clipped; see `assessability_sla.AssessabilityThresholds`); defaults to
            `assessability_thresholds.json`. Saved with the processor.
    """

    def __init__(
        self,
        tokenizer,
        audio_feature_extractor,
        app_feature_extractor,
        chat_template: str | None = None,
        prior_token: str = PRIOR_TOKEN,
        audio_token: str | None = None,
        score_names: list[str] | None = None,
        template_version: int = TEMPLATE_VERSION,
        assessability_thresholds: dict | None = None,
        **kwargs,
    ):
        if audio_token is None:
            raise ValueError("`audio_token` (the backbone's audio placeholder) is required.")
        self.prior_token = prior_token
        self.audio_token = audio_token
        self.score_names = list(score_names or DEFAULT_SCORE_NAMES)
        self.template_version = template_version
        thresholds = assessability_thresholds or AssessabilityThresholds.default().to_dict()
        self.assessability_thresholds = AssessabilityThresholds.from_dict(thresholds).to_dict()
        super().__init__(
            tokenizer, audio_feature_extractor, app_feature_extractor, chat_template=chat_template or SESSION_TEMPLATE
        )
        self.prior_token_id = self._special_token_id(prior_token)
        self.audio_token_id = self._special_token_id(audio_token)

    def _special_token_id(self, token: str) -> int:
        token_id = self.tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == self.tokenizer.unk_token_id:
            raise ValueError(f"The tokenizer has no token {token!r}.")
        return token_id

    @classmethod
    def _load_tokenizer_from_pretrained(cls, sub_processor_type, pretrained_model_name_or_path, subfolder="",
                                        **kwargs):
        # The folder's config.json describes the SLA model (remote code); the tokenizer needs none of it, and
        # resolving it would ask whether to trust remote code even when this class is imported directly.
        kwargs.setdefault("config", PreTrainedConfig())
        return super()._load_tokenizer_from_pretrained(
            sub_processor_type, pretrained_model_name_or_path, subfolder=subfolder, **kwargs
        )

    @classmethod
    def from_backbone(
        cls,
        backbone: str | os.PathLike,
        app_encoder: str | os.PathLike | None = None,
        *,
        revision: str | None = None,
        app_encoder_revision: str | None = None,
        **kwargs,
    ) -> "SLAProcessor":
        """Builds a processor from a Phi-4-multimodal repo or folder and a Whisper repo or folder (the default
        Whisper features when `app_encoder` is None, e.g. for a model without APP)."""
        tokenizer = AutoTokenizer.from_pretrained(backbone, revision=revision)
        if PRIOR_TOKEN not in tokenizer.get_vocab():
            tokenizer.add_special_tokens({"additional_special_tokens": [PRIOR_TOKEN]})
        audio_token_id = AutoConfig.from_pretrained(backbone, revision=revision).audio_config.audio_token_id
        audio_feature_extractor = Phi4MultimodalFeatureExtractor.from_pretrained(backbone, revision=revision)
        if app_encoder is None:
            app_feature_extractor = WhisperFeatureExtractor()
        else:
            app_feature_extractor = WhisperFeatureExtractor.from_pretrained(app_encoder, revision=app_encoder_revision)
        return cls(
            tokenizer,
            audio_feature_extractor,
            app_feature_extractor,
            audio_token=tokenizer.convert_ids_to_tokens(audio_token_id),
            **kwargs,
        )

    # ------------------------------------------------------------------------------------------------- public API
    def __call__(
        self, sessions=None, scores=None, return_tensors: str = "pt", assess_audio: bool = True, **kwargs
    ) -> BatchFeature:
        """Renders, tokenizes and featurizes sessions; with `scores`, adds `labels` and `labels_mask`.

        Args:
            sessions: a session dict or a list of them.
            scores: per session a dict `{"P1": 4.0, ..., "overall": 4.1}` (missing or None marks are masked);
                loader rows work directly.
            assess_audio: adds `audio_flags`: per session, the list of `{"response_id", "part", "reason",
                "detail"}` of its responses that cannot be assessed (see `assess_session`). It is not a model
                input (the model ignores it); the pipeline reports it. Training turns it off.
        """
        if return_tensors != "pt":
            raise ValueError("SLAProcessor returns PyTorch tensors only (return_tensors='pt').")
        sessions = self._as_list(sessions, "sessions")
        prepared = [self.prepare_session(session, index) for index, session in enumerate(sessions)]
        batch = self._collate(prepared)
        if assess_audio:
            batch["audio_flags"] = [
                self.assess_session(session, item["audio"], index)
                for index, (session, item) in enumerate(zip(sessions, prepared))
            ]
        if scores is not None:
            scores = self._as_list(scores, "scores")
            if len(scores) != len(sessions):
                raise ValueError(f"{len(scores)} score dicts for {len(sessions)} sessions.")
            batch["labels"], batch["labels_mask"] = self.labels_from_scores(scores)
        return BatchFeature(batch, tensor_type=None)

    def render(self, session: dict, audio_token_counts: list[int] | None = None, index: int = 0) -> str:
        """The session as text: the template filled with its parts, questions and audio placeholders (one per
        response, or `audio_token_counts[i]` for response i in S&I order)."""
        responses = self.ordered_responses(session, index)
        counts = audio_token_counts or [1] * len(responses)
        parts: dict[str, dict] = {}
        for response, count in zip(responses, counts):
            part = parts.setdefault(
                response["part"], {"name": response["part"], "description": PARTS[response["part"]], "responses": []}
            )
            part["responses"].append({"question": response.get("question"), "audio": self.audio_token * count})
        return compile_template(self.chat_template).render(prior_token=self.prior_token, parts=list(parts.values()))

    def ordered_responses(self, session: dict, index: int = 0) -> list[dict]:
        """Validated responses in S&I order (by part, keeping the given order within a part)."""
        if not isinstance(session, dict):
            raise SessionInputError(f"Session {index} must be a dict, got {type(session).__name__}.")
        session_id = session.get("session_id", f"#{index}")
        responses = session.get("responses")
        if responses is not None and not isinstance(responses, (list, tuple)):
            raise SessionInputError(
                f"Session {session_id}: 'responses' must be a list of dicts, got {type(responses).__name__}."
            )
        if not responses:
            raise SessionInputError(f"Session {session_id}: no responses (a session needs at least one audio).")
        order = list(PARTS)
        for position, response in enumerate(responses):
            part = response.get("part") if isinstance(response, dict) else None
            if part not in PARTS:
                raise SessionInputError(
                    f"Session {session_id}, response {self._response_name(session_id, response, position)}: "
                    f"unknown part {part!r}; expected one of {order}."
                )
        return sorted(responses, key=lambda response: order.index(response["part"]))

    def load_session_audio(self, session: dict, index: int = 0) -> list[np.ndarray]:
        """The session's responses as 16 kHz mono arrays, in S&I order."""
        session_id = session.get("session_id", f"#{index}") if isinstance(session, dict) else f"#{index}"
        audio, seen = [], {}
        for position, response in enumerate(self.ordered_responses(session, index)):
            name = self._response_name(session_id, response, position)
            where = f"Session {session_id}, response {name}"
            audio.append(load_audio(response.get("audio"), where, TARGET_SAMPLING_RATE))
            self._refuse_duplicate(where, name, response, audio[-1], seen)
        return audio

    @staticmethod
    def _refuse_duplicate(where: str, name: str, response: dict, array: np.ndarray, seen: dict) -> None:
        """Raises when a response repeats an earlier one of its session (same ID, file or samples): scoring it
        twice would weigh it twice. `seen` maps each identity of the responses so far to the response's name."""
        source = response.get("audio")
        source = source.get("path") if isinstance(source, dict) and source.get("array") is None else source
        identities = {"response ID": name if response.get("response_id") else None,
                      "audio file": os.path.realpath(source) if isinstance(source, (str, os.PathLike)) else None,
                      "audio samples": hashlib.sha1(array.tobytes()).hexdigest()}
        for kind, identity in identities.items():
            if identity is None:
                continue
            if (kind, identity) in seen:
                raise SessionInputError(f"{where}: the same {kind} as response {seen[kind, identity]}; a response "
                                        f"may appear only once in a session.")
            seen[kind, identity] = name

    def assess_session(self, session: dict, audio: list[np.ndarray], index: int = 0) -> list[dict]:
        """Flags `{"response_id", "part", "reason", "detail"}` of the session's responses that cannot be assessed,
        in S&I order (`audio` as `load_session_audio` gives it); empty when every response can be."""
        session_id = session.get("session_id", f"#{index}")
        responses = self.ordered_responses(session, index)
        names = [self._response_name(session_id, response, position) for position, response in enumerate(responses)]
        thresholds = AssessabilityThresholds.from_dict(self.assessability_thresholds)
        return assess_responses(audio, [response["part"] for response in responses], names, thresholds)

    def app_inputs(self, sessions) -> BatchFeature:
        """Only the APP's Whisper inputs of sessions (what stage app needs): no text, no Phi-4 features."""
        sessions = self._as_list(sessions, "sessions")
        audio = [self.load_session_audio(session, index) for index, session in enumerate(sessions)]
        return BatchFeature(self._app_inputs(audio), tensor_type=None)

    def prepare_session(self, session: dict, index: int = 0) -> dict:
        """Loads and featurizes one session's audio and renders its text."""
        audio = self.load_session_audio(session, index)
        features = [self.speech_features(array) for array in audio]
        text = self.render(session, [count for _, count in features], index)
        return {"text": text, "audio": audio, "speech": features}

    def speech_features(self, array: np.ndarray) -> tuple[np.ndarray, int]:
        """Phi-4 log-mel features of one clip, extracted alone (a batched call leaves non-zero frames past a
        shorter clip's end), and its number of audio tokens."""
        extracted = self.audio_feature_extractor(array, sampling_rate=TARGET_SAMPLING_RATE, return_tensors="np")
        return extracted["audio_input_features"][0], int(extracted["audio_embed_sizes"][0])

    def app_windows(self, array: np.ndarray) -> tuple[list[np.ndarray], list[int]]:
        """Splits a clip into the Whisper encoder's windows; returns them with their valid encoder frames."""
        window = self.app_feature_extractor.n_samples
        hop = self.app_feature_extractor.hop_length
        max_frames = self.app_feature_extractor.nb_max_frames
        chunks = [array[start : start + window] for start in range(0, len(array), window)]
        frames = [math.ceil(min(len(chunk) // hop + 1, max_frames) / 2) for chunk in chunks]
        return chunks, frames

    def labels_from_scores(self, scores: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
        """`(batch, num_scores)` labels (0 where absent) and a boolean mask of the marks present."""
        labels = torch.zeros(len(scores), len(self.score_names))
        mask = torch.zeros(len(scores), len(self.score_names), dtype=torch.bool)
        for row, marks in enumerate(scores):
            for column, name in enumerate(self.score_names):
                value = marks.get(name) if isinstance(marks, dict) else None
                if value is None:
                    continue
                value = float(value)
                if math.isfinite(value):
                    labels[row, column], mask[row, column] = value, True
        return labels, mask

    # ---------------------------------------------------------------------------------------------------- helpers
    @staticmethod
    def _as_list(value, name: str) -> list:
        if isinstance(value, dict):
            return [value]
        if value is None or isinstance(value, (str, bytes)):
            raise ValueError(f"`{name}` must be a dict or a list of dicts.")
        return list(value)

    @staticmethod
    def _response_name(session_id: str, response, position: int) -> str:
        if isinstance(response, dict) and response.get("response_id"):
            return str(response["response_id"])
        return f"#{position}"

    def _collate(self, prepared: list[dict]) -> dict:
        texts = [item["text"] for item in prepared]
        encoded = self.tokenizer(texts, padding=True, padding_side="right", return_tensors="pt")
        speech = [clip for item in prepared for clip in item["speech"]]
        batch = {
            "input_ids": encoded["input_ids"],
            "attention_mask": encoded["attention_mask"],
            **self._pad_speech(speech),
            **self._app_inputs([item["audio"] for item in prepared]),
        }
        placeholders = int((batch["input_ids"] == self.audio_token_id).sum())
        if placeholders != int(batch["audio_embed_sizes"].sum()):
            raise ValueError(
                f"Rendered text holds {placeholders} audio tokens but the audio gives "
                f"{int(batch['audio_embed_sizes'].sum())}: the template or tokenizer split the audio placeholder."
            )
        return batch

    @staticmethod
    def _pad_speech(speech: list[tuple[np.ndarray, int]]) -> dict:
        lengths = [features.shape[0] for features, _ in speech]
        padded = np.zeros((len(speech), max(lengths), speech[0][0].shape[1]), dtype=np.float32)
        for row, (features, _) in enumerate(speech):
            padded[row, : features.shape[0]] = features
        return {
            "audio_input_features": torch.from_numpy(padded),
            "audio_feature_lengths": torch.tensor(lengths, dtype=torch.long),
            "audio_embed_sizes": torch.tensor([size for _, size in speech], dtype=torch.long),
        }

    def _app_inputs(self, audio: list[list[np.ndarray]]) -> dict:
        windows, frames, owners = [], [], []
        for session_index, clips in enumerate(audio):
            # A session's responses are packed end to end before windowing: the APP pools over all of them, and
            # packing fills each 30 s Whisper window instead of padding every short answer to 30 s.
            chunks, counts = self.app_windows(np.concatenate(clips))
            windows += chunks
            frames += counts
            owners += [session_index] * len(chunks)
        features = self.app_feature_extractor(
            windows, sampling_rate=TARGET_SAMPLING_RATE, padding="max_length", return_tensors="np"
        )["input_features"]
        return {
            "app_input_features": torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)),
            "app_frame_counts": torch.tensor(frames, dtype=torch.long),
            "app_window_session": torch.tensor(owners, dtype=torch.long),
        }

    @property
    def model_input_names(self) -> list[str]:
        return [
            "input_ids", "attention_mask", "audio_input_features", "audio_feature_lengths", "audio_embed_sizes",
            "app_input_features", "app_frame_counts", "app_window_session",
        ]


__all__ = ["SLAProcessor", "SessionInputError", "AudioInputError", "PRIOR_TOKEN"]
