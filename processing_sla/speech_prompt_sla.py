"""How a session becomes the input of one backbone family: audio units, placeholders and token ids.

Each family (Phi-4-multimodal, Voxtral, Qwen2-Audio) has one small file with a subclass of `SpeechPrompt`; the
processor calls only what is declared here. A session is tokenized piece by piece: the template's own special tokens
become their ids, the audio placeholder is expanded to each clip's token count, and everything else (learner
questions above all) is encoded as plain text, so user text never becomes a special token.
"""

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from transformers import AutoTokenizer


# Private-use characters that fence user text in the rendered template (they are removed from user text first).
USER_TEXT_START, USER_TEXT_END = "\ue000", "\ue001"
_USER_TEXT = re.compile(f"{USER_TEXT_START}(.*?){USER_TEXT_END}", re.S)


@dataclass
class AudioUnit:
    """What the backbone encodes in one pass for part of a clip (the whole clip, or one 30 s window of it)."""

    features: np.ndarray
    frames: int  # valid feature frames
    tokens: int  # audio tokens this unit contributes to the text


class SpeechPrompt(ABC):
    """How one family of audio LLMs hears a session.

    Class attributes:
        model_type: the backbone config's `model_type`.
        template: the family's default session template (Jinja), in its own dialog format.
        special_tokens: the special tokens the template writes (besides the audio and prior tokens).
        supports_packing: whether a session's clips can share what the audio tower encodes in one pass.
    """

    model_type: ClassVar[str]
    template: ClassVar[str]
    special_tokens: ClassVar[tuple[str, ...]]
    supports_packing: ClassVar[bool] = False

    # ---------------------------------------------------------------------------------------------- building
    @abstractmethod
    def feature_extractor(self, repo, revision: str | None):
        """The backbone's audio feature extractor, from its repo or folder."""

    def load_tokenizer(self, repo, revision: str | None):
        """The backbone's tokenizer, from its repo or folder."""
        return AutoTokenizer.from_pretrained(repo, revision=revision)

    @abstractmethod
    def audio_token(self, tokenizer, backbone_config) -> str:
        """The backbone's audio placeholder token."""

    def add_prior_token(self, tokenizer, prior_token: str) -> str:
        """Makes `prior_token` a special token of `tokenizer`; returns the token the template writes."""
        if prior_token not in tokenizer.get_vocab():
            tokenizer.add_special_tokens({"additional_special_tokens": [prior_token]})
        return prior_token

    # ------------------------------------------------------------------------------------------------- audio
    @abstractmethod
    def audio_units(self, feature_extractor, array: np.ndarray, sampling_rate: int) -> list[AudioUnit]:
        """A clip's units, each featurized exactly as if alone."""

    def session_units(
        self, feature_extractor, clips: list[np.ndarray], sampling_rate: int, pack: bool = False
    ) -> tuple[list[AudioUnit], list[int]]:
        """A session's units and each clip's number of audio tokens (clips in the test format's order). Each clip is encoded
        alone; with `pack`, families that support it share windows between a session's clips."""
        if pack:
            raise ValueError(f"The {self.model_type} family encodes every clip alone: packing is not supported.")
        per_clip = [self.audio_units(feature_extractor, clip, sampling_rate) for clip in clips]
        return [unit for units in per_clip for unit in units], [sum(unit.tokens for unit in units) for units in per_clip]

    @abstractmethod
    def pad_units(self, units: list[AudioUnit]) -> dict[str, torch.Tensor]:
        """`audio_input_features`, `audio_feature_lengths` and `audio_embed_sizes` of a batch's units."""

    def pad_token_id(self, tokenizer) -> int:
        """The id that pads sequences on the right (masked out)."""
        if tokenizer.pad_token_id is None:
            raise ValueError("The backbone's tokenizer has no pad token.")
        return tokenizer.pad_token_id

    def placeholder_ids(self, audio_token_id: int, num_tokens: int) -> list[int]:
        """The ids that stand for one clip in the sequence (its audio tokens)."""
        return [audio_token_id] * num_tokens

    # --------------------------------------------------------------------------------------------- text
    def encode_text(self, tokenizer, text: str) -> list[int]:
        """Plain text to ids: no special token is parsed from it."""
        if not text:
            return []
        return tokenizer.encode(text, add_special_tokens=False, split_special_tokens=True)

    def token_id(self, tokenizer, token: str) -> int:
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or (token_id == tokenizer.unk_token_id and token != tokenizer.unk_token):
            raise ValueError(f"The tokenizer has no token {token!r}.")
        return token_id

    def tokenize(self, tokenizer, rendered: str, audio_token: str, clip_tokens: list[int],
                 specials: tuple[str, ...]) -> list[int]:
        """Ids of a rendered session: `specials` (and each audio token, expanded to its clip's `clip_tokens`) become
        ids, fenced user text and the rest are encoded as plain text."""
        splitter = re.compile("|".join(re.escape(token) for token in sorted(set(specials), key=len, reverse=True)))
        audio_token_id = self.token_id(tokenizer, audio_token)
        ids: list[int] = []
        clips_placed = 0
        for index, piece in enumerate(_USER_TEXT.split(rendered)):
            if index % 2:  # user text
                ids += self.encode_text(tokenizer, piece)
                continue
            position = 0
            for match in splitter.finditer(piece):
                ids += self.encode_text(tokenizer, piece[position : match.start()])
                if match.group() == audio_token:
                    if clips_placed == len(clip_tokens):
                        raise ValueError("The session template wrote more audio placeholders than there are clips.")
                    ids += self.placeholder_ids(audio_token_id, clip_tokens[clips_placed])
                    clips_placed += 1
                else:
                    ids.append(self.token_id(tokenizer, match.group()))
                position = match.end()
            ids += self.encode_text(tokenizer, piece[position:])
        if clips_placed != len(clip_tokens):
            raise ValueError(f"The session template wrote {clips_placed} audio placeholders for {len(clip_tokens)} clips.")
        return ids


def fence_user_text(text: str | None) -> str | None:
    """User text fenced for `SpeechPrompt.tokenize` (None stays None)."""
    if text is None:
        return None
    cleaned = str(text).replace(USER_TEXT_START, "").replace(USER_TEXT_END, "")
    return f"{USER_TEXT_START}{cleaned}{USER_TEXT_END}"


__all__ = ["AudioUnit", "SpeechPrompt", "fence_user_text"]
