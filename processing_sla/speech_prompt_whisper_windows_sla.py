"""What the families with a Whisper-shaped audio tower share: 30 s windows padded to 3,000 frames, one unit each."""

from abc import abstractmethod

import numpy as np
import torch
from transformers import WhisperFeatureExtractor

from .speech_prompt_sla import AudioUnit, SpeechPrompt


class WhisperWindowSpeechPrompt(SpeechPrompt):
    """A clip is cut into 30 s windows; each is featurized alone and padded to 3,000 frames, as the tower was
    trained. A window's tokens are then the same alone or in any batch, and only its valid tokens (those of real
    audio, not of the padding) enter the sequence.

    Packing (`session_units(..., pack=True)`) instead puts a session's clips end to end, each padded to a whole
    token, and cuts that into windows: a session of short answers takes a few windows instead of one per answer,
    but a clip is then heard beside its neighbours, not alone (still the same in any batch).
    """

    frames_per_token: int
    supports_packing = True

    def feature_extractor(self, repo, revision):
        return WhisperFeatureExtractor.from_pretrained(repo, revision=revision)

    def valid_frames(self, num_samples: int, hop_length: int) -> int:
        """Feature frames of real audio in a window of `num_samples` (the extractor drops the last STFT frame)."""
        return num_samples // hop_length

    @abstractmethod
    def window_tokens(self, frames: int) -> int:
        """Valid audio tokens of a window with `frames` valid feature frames."""

    def audio_units(self, feature_extractor, array, sampling_rate) -> list[AudioUnit]:
        window, hop = feature_extractor.n_samples, feature_extractor.hop_length
        units = []
        for start in range(0, len(array), window):
            piece = array[start : start + window]
            frames = min(self.valid_frames(len(piece), hop), feature_extractor.nb_max_frames)
            if self.window_tokens(frames) == 0:
                continue  # a tail shorter than one token's stretch (a few ms) past a 30 s boundary
            features = feature_extractor(
                piece, sampling_rate=sampling_rate, padding="max_length", return_tensors="np"
            )["input_features"][0]
            units.append(AudioUnit(features.astype(np.float32, copy=False), frames, self.window_tokens(frames)))
        return units

    def session_units(self, feature_extractor, clips, sampling_rate, pack: bool = False):
        if not pack:
            return super().session_units(feature_extractor, clips, sampling_rate)
        stride = self.frames_per_token * feature_extractor.hop_length  # samples per audio token
        padded = [np.pad(clip, (0, -len(clip) % stride)) for clip in clips]
        return self.audio_units(feature_extractor, np.concatenate(padded), sampling_rate), [
            len(clip) // stride for clip in padded]

    def pad_units(self, units: list[AudioUnit]) -> dict[str, torch.Tensor]:
        return {
            "audio_input_features": torch.from_numpy(np.stack([unit.features for unit in units])),
            "audio_feature_lengths": torch.tensor([unit.frames for unit in units], dtype=torch.long),
            "audio_embed_sizes": torch.tensor([unit.tokens for unit in units], dtype=torch.long),
        }


__all__ = ["WhisperWindowSpeechPrompt"]
