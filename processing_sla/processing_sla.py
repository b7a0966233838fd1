"""SLAProcessor: turns learner sessions (audio and questions) into the inputs of SLAForSessionScoring."""

import hashlib
import json
import math
import os

import numpy as np
import torch
from transformers import AutoConfig, PreTrainedConfig, WhisperFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin
from transformers.utils import cached_file

from .assessability_sla import AssessabilityThresholds, assess_responses
from .audio_header_sla import declared_seconds
from .audio_io_sla import TARGET_SAMPLING_RATE, AudioInputError, load_audio
from .session_template_sla import TEMPLATE_VERSION, compile_template
from .speech_prompt_sla import AudioUnit, fence_user_text
from .speech_prompts_sla import speech_prompt


PRIOR_TOKEN = "<|app_prior|>"
DEFAULT_BACKBONE_TYPE = "phi4_multimodal"
FORMAT_FILE = "test_format.json"


class SessionInputError(ValueError):
    """Raised for a malformed session; the message names the session and, where it applies, the response."""


def pad_right(sequences: list, pad_token_id: int) -> dict:
    """Token sequences padded on the right with `pad_token_id` into `input_ids`, with their `attention_mask`."""
    length = max(len(sequence) for sequence in sequences)
    input_ids = torch.full((len(sequences), length), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        input_ids[row, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
        attention_mask[row, : len(sequence)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


class SLAProcessor(ProcessorMixin):
    r"""
    Builds model inputs for [`SLAForSessionScoring`] from one session or a list of sessions.

    A session is `{"session_id": str, "responses": [{"part": "P1", "audio": ..., "question": str | None,
    "response_id": str (optional)}, ...]}`; `audio` is a file path, a 1-D float array at 16 kHz, or
    `{"array": ..., "sampling_rate": ...}`. Rows of the kit loader (`sla_phi4.data.kit.load_kit`) have this shape.
    Its parts are those of the processor's test format; a part the format lacks, or more answers to a part than the
    format allows, is refused by name.

    What depends on the backbone family (features, audio placeholders, dialog format) comes from its
    `SpeechPrompt` (`speech_prompts_sla.py`). Sessions are tokenized piece by piece: the template's special tokens
    become ids, each audio placeholder is expanded to its clip's token count, and learner text is encoded as plain
    text (a question that contains `<|app_prior|>` stays text).

    Args:
        tokenizer: the backbone's tokenizer, with the prior token added.
        audio_feature_extractor: the backbone's audio features of every response (`Phi4MultimodalFeatureExtractor`,
            or the `WhisperFeatureExtractor` of a Whisper-shaped audio tower).
        app_feature_extractor (`WhisperFeatureExtractor`): features of the 30 s windows for the APP (a session's
            responses are packed end to end, then cut into windows).
        test_format (`dict`): the test format (as in `test_format.json`; `modeling_sla.load_test_format(...)
            .to_dict()`): the session's parts, in order, their descriptions and answer counts, and the test's title.
            Saved as `test_format.json`, not in `processor_config.json`.
        chat_template (`str`, *optional*): the session template (Jinja); defaults to the family's.
        prior_token (`str`, *optional*): the prior token placed before each session.
        audio_token (`str`): the backbone's audio placeholder token.
        score_names (`list[str]`, *optional*): target names, in the model's output order; they follow from the
            format (its parts, then `overall` unless it has none), and a different list is refused.
        template_version (`int`, *optional*): version of the session template.
        assessability_thresholds (`dict`, *optional*): when a response cannot be assessed (silent, no or too little
            speech, mostly noise, clipped; see `assessability_sla.AssessabilityThresholds`); defaults to
            `assessability_thresholds.json`. Saved with the processor.
        backbone_type (`str`, *optional*): the backbone config's `model_type` (`phi4_multimodal`, `voxtral`,
            `qwen2_audio`).
        use_prior_token (`bool`, *optional*): whether sessions start with the prior token; False for a model built
            with `use_app=False`, whose prior token would otherwise enter with an untrained embedding.
        pack_audio (`bool`, *optional*): for Whisper-shaped audio towers (Voxtral, Qwen2-Audio), put a session's
            clips end to end in shared 30 s windows instead of one window per clip (fewer windows for short answers;
            a clip is then encoded beside its neighbours). Off by default: each clip is encoded exactly as alone.
    """

    def __init__(
        self,
        tokenizer,
        audio_feature_extractor,
        app_feature_extractor,
        test_format: dict | None = None,
        chat_template: str | None = None,
        prior_token: str = PRIOR_TOKEN,
        audio_token: str | None = None,
        score_names: list[str] | None = None,
        template_version: int = TEMPLATE_VERSION,
        assessability_thresholds: dict | None = None,
        backbone_type: str = DEFAULT_BACKBONE_TYPE,
        use_prior_token: bool = True,
        pack_audio: bool = False,
        **kwargs,
    ):
        if audio_token is None:
            raise ValueError("`audio_token` (the backbone's audio placeholder) is required.")
        self.test_format = checked_test_format(test_format)
        self.prompt = speech_prompt(backbone_type)
        self.backbone_type = backbone_type
        self.prior_token = prior_token
        self.use_prior_token = use_prior_token
        self.pack_audio = pack_audio
        self.audio_token = audio_token
        self.score_names = format_targets(self.test_format)
        if score_names is not None and list(score_names) != self.score_names:
            raise ValueError(f"`score_names` {list(score_names)} are not the targets of the "
                             f"{self.test_format['name']} format ({self.score_names}).")
        self.template_version = template_version
        thresholds = AssessabilityThresholds.from_dict(
            assessability_thresholds or AssessabilityThresholds.default().to_dict()).to_dict()
        # A part the thresholds do not name takes the format's own minimum of speech, where it gives one.
        format_minimums = {part["id"]: part["min_speech_seconds"] for part in self.test_format["parts"]
                           if part.get("min_speech_seconds") is not None}
        thresholds["min_speech_seconds"] = {**format_minimums, **thresholds["min_speech_seconds"]}
        self.assessability_thresholds = AssessabilityThresholds.from_dict(thresholds).to_dict()
        super().__init__(
            tokenizer, audio_feature_extractor, app_feature_extractor,
            chat_template=chat_template or self.prompt.template,
        )
        self.prior_token_id = self.prompt.token_id(self.tokenizer, prior_token)
        self.audio_token_id = self.prompt.token_id(self.tokenizer, audio_token)
        self._specials = (*self.prompt.special_tokens, audio_token, prior_token)

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
    def get_processor_dict(cls, pretrained_model_name_or_path, **kwargs):
        """As in transformers, with the test format read from `test_format.json`."""
        processor_dict, instantiation_kwargs = super().get_processor_dict(pretrained_model_name_or_path, **kwargs)
        if "test_format" not in instantiation_kwargs:
            hub = {key: kwargs[key] for key in ("cache_dir", "force_download", "local_files_only", "token", "revision",
                                                "subfolder") if kwargs.get(key) is not None}
            path = cached_file(pretrained_model_name_or_path, FORMAT_FILE, _raise_exceptions_for_missing_entries=False,
                               **hub)
            if path is None:
                raise OSError(
                    f"{pretrained_model_name_or_path} has no {FORMAT_FILE}: an SLA processor needs its test format (a "
                    f"checkpoint saved by sla-phi4 carries it beside config.json). A checkpoint saved before test "
                    f"formats existed is a Speak & Improve one: add its format with `python -c \"from modeling_sla "
                    f"import load_test_format; load_test_format('sandi2025').save('{pretrained_model_name_or_path}')\"`."
                )
            with open(path, encoding="utf-8") as handle:
                processor_dict["test_format"] = json.load(handle)
        return processor_dict, instantiation_kwargs

    def to_dict(self) -> dict:
        """As in transformers, without the test format (saved as `test_format.json`)."""
        output = super().to_dict()
        output.pop("test_format", None)
        return output

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        """As in transformers, with the test format as `test_format.json`."""
        os.makedirs(save_directory, exist_ok=True)
        with open(os.path.join(save_directory, FORMAT_FILE), "w", encoding="utf-8") as handle:
            handle.write(json.dumps(self.test_format, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
        return super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)

    @classmethod
    def from_backbone(
        cls,
        backbone: str | os.PathLike,
        app_encoder: str | os.PathLike | None = None,
        *,
        revision: str | None = None,
        app_encoder_revision: str | None = None,
        use_app: bool = True,
        test_format: dict | None = None,
        **kwargs,
    ) -> "SLAProcessor":
        """Builds a processor from an audio LLM repo or folder (Phi-4-multimodal, Voxtral, Qwen2-Audio: read from its
        config's `model_type`), a Whisper repo or folder and the test format (a dict, e.g.
        `modeling_sla.load_test_format("ielts-like").to_dict()`). Without `test_format` the processor is for S&I 2025
        (`sandi2025`, the package's reference test, as `SLAConfig`'s default). With `use_app=False` (or no
        `app_encoder`), sessions carry no prior token."""
        test_format = reference_test_format() if test_format is None else test_format
        backbone_config = AutoConfig.from_pretrained(backbone, revision=revision)
        prompt = speech_prompt(backbone_config.model_type)
        tokenizer = prompt.load_tokenizer(backbone, revision)
        prior_token = prompt.add_prior_token(tokenizer, PRIOR_TOKEN)
        if app_encoder is None:
            app_feature_extractor = WhisperFeatureExtractor()
        else:
            app_feature_extractor = WhisperFeatureExtractor.from_pretrained(app_encoder, revision=app_encoder_revision)
        return cls(
            tokenizer,
            prompt.feature_extractor(backbone, revision),
            app_feature_extractor,
            test_format=test_format,
            prior_token=prior_token,
            audio_token=prompt.audio_token(tokenizer, backbone_config),
            backbone_type=backbone_config.model_type,
            use_prior_token=use_app and app_encoder is not None,
            **kwargs,
        )

    def for_test_format(self, test_format: dict) -> "SLAProcessor":
        """The same processor (tokenizer, feature extractors, template, settings) for another test format: what a
        model started from one trained on another test needs."""
        return type(self)(
            self.tokenizer, self.audio_feature_extractor, self.app_feature_extractor, test_format=test_format,
            chat_template=self.chat_template, prior_token=self.prior_token, audio_token=self.audio_token,
            template_version=self.template_version, assessability_thresholds=self.assessability_thresholds,
            backbone_type=self.backbone_type, use_prior_token=self.use_prior_token, pack_audio=self.pack_audio,
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
        batch = self.collate([self.featurize_session(session, index, assess_audio)
                              for index, session in enumerate(sessions)])
        if scores is not None:
            scores = self._as_list(scores, "scores")
            if len(scores) != len(sessions):
                raise ValueError(f"{len(scores)} score dicts for {len(sessions)} sessions.")
            batch["labels"], batch["labels_mask"] = self.labels_from_scores(scores)
        return BatchFeature(batch, tensor_type=None)

    def render(self, session: dict, index: int = 0) -> str:
        """The session as text: the template filled with the test's title, its parts (with the format's
        descriptions), questions (fenced as user text) and one audio placeholder per response, in the format's order."""
        descriptions = {part["id"]: part["description"] for part in self.test_format["parts"]}
        parts: dict[str, dict] = {}
        for response in self.ordered_responses(session, index):
            part = parts.setdefault(response["part"], {"name": response["part"],
                                                       "description": descriptions[response["part"]], "responses": []})
            part["responses"].append({"question": fence_user_text(response.get("question")), "audio": self.audio_token})
        prior = self.prior_token if self.use_prior_token else ""
        return compile_template(self.chat_template).render(prior_token=prior, test_title=self.test_format["title"],
                                                            parts=list(parts.values()))

    def encode(self, session: dict, clip_tokens: list[int], index: int = 0) -> list[int]:
        """Token ids of a session whose clips (in the format's order) have `clip_tokens` audio tokens each."""
        return self.prompt.tokenize(self.tokenizer, self.render(session, index), self.audio_token, clip_tokens,
                                    self._specials)

    def ordered_responses(self, session: dict, index: int = 0) -> list[dict]:
        """Validated responses in the format's order (by part, keeping the given order within a part). A part the
        format lacks, or more answers to a part than it allows, is refused naming the session."""
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
        limits = {part["id"]: part["max_responses"] for part in self.test_format["parts"]}
        order = list(limits)
        for position, response in enumerate(responses):
            part = response.get("part") if isinstance(response, dict) else None
            if part not in limits:
                raise SessionInputError(
                    f"Session {session_id}, response {self._response_name(session_id, response, position)}: "
                    f"unknown part {part!r}; the {self.test_format['name']} format's parts are {order}."
                )
        for position, part in enumerate(order):
            count = sum(response["part"] == part for response in responses)
            if count > limits[part]:
                raise SessionInputError(
                    f"Session {session_id}: part {part} has {count} responses; the {self.test_format['name']} format "
                    f"allows at most {limits[part]} (parts[{position}].max_responses)."
                )
        return sorted(responses, key=lambda response: order.index(response["part"]))

    def load_session_audio(self, session: dict, index: int = 0) -> list[np.ndarray]:
        """The session's responses as 16 kHz mono arrays, in the format's order."""
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
        in the format's order (`audio` as `load_session_audio` gives it); empty when every response can be."""
        session_id = session.get("session_id", f"#{index}")
        responses = self.ordered_responses(session, index)
        names = [self._response_name(session_id, response, position) for position, response in enumerate(responses)]
        thresholds = AssessabilityThresholds.from_dict(self.assessability_thresholds)
        expected = {part["id"]: part.get("expected_seconds") for part in self.test_format["parts"]}
        return assess_responses(audio, [response["part"] for response in responses], names, thresholds,
                                [self._declared_seconds(response) for response in responses],
                                [expected[response["part"]] for response in responses])

    @staticmethod
    def _declared_seconds(response: dict) -> float | None:
        """The duration a response's file declares in its header (None for audio given as an array)."""
        audio = response.get("audio")
        path = audio.get("path") if isinstance(audio, dict) and audio.get("array") is None else audio
        return declared_seconds(path) if isinstance(path, (str, os.PathLike)) else None

    def app_inputs(self, sessions) -> BatchFeature:
        """Only the APP's Whisper inputs of sessions (what stage app needs): no text, no Phi-4 features."""
        sessions = self._as_list(sessions, "sessions")
        app = [self.session_app_features(self.load_session_audio(session, index))
               for index, session in enumerate(sessions)]
        return BatchFeature(self.join_app_features(app), tensor_type=None)

    def prepare_session(self, session: dict, index: int = 0) -> dict:
        """Loads and featurizes one session's audio and tokenizes its text."""
        audio = self.load_session_audio(session, index)
        units, clip_tokens = self.prompt.session_units(
            self.audio_feature_extractor, audio, TARGET_SAMPLING_RATE, pack=self.pack_audio
        )
        return {"input_ids": self.encode(session, clip_tokens, index), "audio": audio, "units": units}

    def featurize_session(self, session: dict, index: int = 0, assess_audio: bool = True) -> dict:
        """Everything of one session that `collate` batches: token ids, the backbone's audio units, the APP's window
        features and valid frames, and (`assess_audio`) its `audio_flags`; no audio. Sessions featurized one by one
        (in DataLoader workers, say) and collated give the batch `__call__` gives."""
        prepared = self.prepare_session(session, index)
        featurized = {"input_ids": prepared["input_ids"], "units": prepared["units"],
                      **self.session_app_features(prepared["audio"])}
        if assess_audio:
            featurized["audio_flags"] = self.assess_session(session, prepared["audio"], index)
        return featurized

    def collate(self, featurized: list[dict]) -> dict:
        """A batch of model inputs from `featurize_session`'s outputs, padded on the right; with `audio_flags`
        (per session) when every session has them."""
        batch = {
            **self.pad_input_ids([item["input_ids"] for item in featurized]),
            **self.prompt.pad_units([unit for item in featurized for unit in item["units"]]),
            **self.join_app_features(featurized),
        }
        if featurized and all("audio_flags" in item for item in featurized):
            batch["audio_flags"] = [item["audio_flags"] for item in featurized]
        return batch

    def audio_units(self, array: np.ndarray) -> list[AudioUnit]:
        """A clip's audio units for the backbone (the whole clip, or its 30 s windows), each featurized alone."""
        return self.prompt.audio_units(self.audio_feature_extractor, array, TARGET_SAMPLING_RATE)

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

    def pad_input_ids(self, sequences: list) -> dict:
        """`input_ids` padded on the right with the pad token, and the `attention_mask`."""
        return pad_right(sequences, self.prompt.pad_token_id(self.tokenizer))

    def session_app_features(self, clips: list[np.ndarray]) -> dict:
        """The APP's Whisper inputs of one session: `app_features` `(windows, mels, frames)` and `app_frames`, the
        valid encoder frames of each window."""
        # A session's responses are packed end to end before windowing: the APP pools over all of them, and packing
        # fills each 30 s Whisper window instead of padding every short answer to 30 s. Each session is featurized on
        # its own, exactly as alone (and faster than all windows of a batch in one call).
        chunks, counts = self.app_windows(np.concatenate(clips))
        features = self.app_feature_extractor(
            chunks, sampling_rate=TARGET_SAMPLING_RATE, padding="max_length", return_tensors="np"
        )["input_features"]
        return {"app_features": features, "app_frames": counts}

    @staticmethod
    def join_app_features(sessions: list[dict]) -> dict:
        """The APP inputs of a batch: every session's windows, their valid frames and the session each belongs to."""
        features = np.concatenate([session["app_features"] for session in sessions])
        owners = [index for index, session in enumerate(sessions) for _ in session["app_frames"]]
        return {
            "app_input_features": torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)),
            "app_frame_counts": torch.tensor([count for session in sessions for count in session["app_frames"]],
                                             dtype=torch.long),
            "app_window_session": torch.tensor(owners, dtype=torch.long),
        }

    @property
    def model_input_names(self) -> list[str]:
        return [
            "input_ids", "attention_mask", "audio_input_features", "audio_feature_lengths", "audio_embed_sizes",
            "app_input_features", "app_frame_counts", "app_window_session",
        ]


REFERENCE_TEST_FORMAT_FILE = "reference_test_format_sla.json"  # S&I 2025 (modeling_sla/test_formats/sandi2025.json)


def reference_test_format() -> dict:
    """S&I 2025's test format, the package's reference test (`from_backbone`'s default)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), REFERENCE_TEST_FORMAT_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: the reference test format ships with the sla-phi4 package, not with a "
                                "checkpoint's code; pass `test_format` explicitly.")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def checked_test_format(test_format) -> dict:
    """The processor's test format, checked for what the processor reads of it (the package's
    `modeling_sla.TestFormat` checks the whole format)."""
    if test_format is None:
        raise ValueError("SLAProcessor needs the test format (`test_format`: a dict as in test_format.json, e.g. "
                         "`modeling_sla.load_test_format('sandi2025').to_dict()`).")
    if hasattr(test_format, "to_dict"):
        test_format = test_format.to_dict()
    parts = test_format.get("parts") if isinstance(test_format, dict) else None
    if not isinstance(parts, list) or not parts:
        raise ValueError("`test_format`: field parts: a non-empty list of parts is required.")
    for position, part in enumerate(parts):
        for key, kind in (("id", str), ("description", str), ("max_responses", int)):
            if not isinstance(part, dict) or not isinstance(part.get(key), kind):
                raise ValueError(f"`test_format`: field parts[{position}].{key}: a {kind.__name__} is required.")
    for key in ("name", "title"):
        if not isinstance(test_format.get(key), str):
            raise ValueError(f"`test_format`: field {key}: a string is required.")
    return test_format


def format_targets(test_format: dict) -> list[str]:
    """The targets of a test format: its parts, then `overall` unless it has none."""
    return [part["id"] for part in test_format["parts"]] + (["overall"] if test_format.get("overall") else [])


__all__ = ["SLAProcessor", "SessionInputError", "AudioInputError", "PRIOR_TOKEN", "checked_test_format"]
