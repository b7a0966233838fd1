"""What the frozen encoders make of each session, computed once and reused: by every epoch of a training stage and,
kept on disk, by the next stage, by scoring and by the baselines of the same run.

Two parts, each stored under a fingerprint of what produces it, so a changed encoder, template or audio file is never
served from the cache:
- `speech`: the session's token ids and its audio tower's output (`audio_embeds`);
- `app`: the APP's pooled Whisper state (`app_pooled`).
"""

import hashlib
import json
import os
from functools import partial

import numpy as np
import torch
from filelock import FileLock
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from processing_sla.audio_io_sla import AudioInputError
from processing_sla.processing_sla import SessionInputError, pad_right
from sla_phi4.data.ahead import default_num_workers, worked_ahead


PARTS = ("speech", "app")
SAVE_EVERY = 200  # sessions encoded between saves of a long `add`
NAMES = {"speech": ("input_ids", "audio_embeds"), "app": ("app_pooled",)}


def _digest(*chunks) -> str:
    hasher = hashlib.sha256()
    for chunk in chunks:
        hasher.update(chunk if isinstance(chunk, bytes) else str(chunk).encode())
    return hasher.hexdigest()[:16]


def module_fingerprint(*modules: torch.nn.Module) -> str:
    """A digest of every parameter and buffer of `modules` (names, shapes, dtypes and bytes)."""
    hasher = hashlib.sha256()
    for module in modules:
        for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
            hasher.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
            hasher.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return hasher.hexdigest()[:16]


def session_fingerprint(row: dict) -> str:
    """A digest of a session's responses: part, question and audio (a file's path, size and modification time, or
    an array's bytes)."""
    described = []
    for response in row["responses"]:
        audio = response.get("audio")
        if isinstance(audio, (str, os.PathLike)):
            stat = os.stat(audio)
            source = [os.path.abspath(audio), stat.st_size, stat.st_mtime_ns]
        else:
            array = audio.get("array") if isinstance(audio, dict) else audio
            source = [_digest(np.ascontiguousarray(array).tobytes()),
                      audio.get("sampling_rate") if isinstance(audio, dict) else None]
        described.append([response.get("part"), response.get("question"), response.get("response_id"), source])
    return _digest(json.dumps(described, sort_keys=True, allow_nan=False))


def on_device(inputs, device: torch.device) -> dict:
    """The tensors of a batch of model inputs on `device` (other values as they are)."""
    return {key: value.to(device) if torch.is_tensor(value) else value for key, value in inputs.items()}


def loadable_encoder_inputs(processor, missing: tuple[dict, list[str]]) -> dict | None:
    """`encoder_inputs`, or None for a session whose audio cannot be loaded (its scorer refuses it, naming why)."""
    try:
        return encoder_inputs(processor, missing)
    except (AudioInputError, SessionInputError):
        return None


def encoder_inputs(processor, missing: tuple[dict, list[str]]) -> dict:
    """What the frozen encoders need of a session to fill its missing parts, featurized (NumPy arrays: handed over
    by pickling, not in shared memory): the whole session when the speech part is missing, else only the APP's
    Whisper windows (the costliest encoder runs only when needed). `batched_encoder_inputs` batches it."""
    row, parts = missing
    if "speech" in parts:
        return processor.featurize_session(row, assess_audio=False)
    return processor.session_app_features(processor.load_session_audio(row))


def batched_encoder_inputs(processor, featurized: dict) -> dict:
    """A one-session batch of model inputs from `encoder_inputs`: all of them, or only the APP's."""
    if "input_ids" in featurized:
        return processor.collate([featurized])
    return processor.join_app_features([featurized])


def encode_speech_inputs(model, inputs: dict) -> dict[str, torch.Tensor]:
    """What the cache keeps of a one-session batch of processor inputs for the decoder: its token ids and the frozen
    audio tower's output."""
    audio_embeds = model.encode_speech(inputs["audio_input_features"], inputs["audio_feature_lengths"],
                                       inputs["audio_embed_sizes"])
    return {"input_ids": inputs["input_ids"][0], "audio_embeds": audio_embeds}


def pool_app_inputs(model, inputs: dict) -> torch.Tensor:
    """The APP's pooled Whisper state of a one-session batch of processor inputs (or `app_inputs`)."""
    return model.pool_app_features(inputs["app_input_features"], inputs["app_frame_counts"],
                                   inputs["app_window_session"], 1)[0]


def batch_of_cached(items: list[dict[str, torch.Tensor]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Model inputs of a batch from cached items (token ids, audio embeddings, pooled Whisper states: whichever the
    items hold), padded on the right like the processor's batches."""
    batch = {}
    if "input_ids" in items[0]:
        batch.update(pad_right([item["input_ids"] for item in items], pad_token_id))
        batch["audio_embeds"] = torch.cat([item["audio_embeds"] for item in items])
    if items[0].get("app_pooled") is not None:
        batch["app_pooled"] = torch.stack([item["app_pooled"] for item in items])
    return batch


class SessionCache:
    """Per-session inputs of `model` that never change while its frozen encoders don't.

    Args:
        model: an `SLAForSessionScoring`.
        processor: its `SLAProcessor`.
        parts: what to keep: `speech` (token ids and audio-tower output), `app` (pooled Whisper state).
        folder: where to keep them on disk between stages and runs (None: in memory only).
        num_workers: processes that featurize sessions ahead of the encoders in `add` (None: `default_num_workers`
            for the model's device).
    """

    def __init__(self, model, processor, parts=PARTS, folder: str | os.PathLike | None = None,
                 num_workers: int | None = None):
        self.model, self.processor, self.num_workers = model, processor, num_workers
        self.parts = tuple(part for part in parts if part != "app" or model.app is not None)
        self.folder = folder
        self.fingerprints = {part: self._fingerprint(part) for part in self.parts}
        self.stored: dict[str, dict[str, torch.Tensor]] = {part: self._load(part) for part in self.parts}
        self.keys: dict[str, str] = {}

    # --------------------------------------------------------------------------------------------- fingerprints
    def _fingerprint(self, part: str) -> str:
        if part == "app":
            extractor = self.processor.app_feature_extractor.to_json_string()
            return _digest(module_fingerprint(self.model.app.encoder), extractor)
        prompt = [self.processor.backbone_type, self.processor.chat_template, self.processor.test_format,
                  self.processor.audio_token,
                  self.processor.prior_token, self.processor.use_prior_token, len(self.processor.tokenizer),
                  self.processor.audio_feature_extractor.to_json_string()]
        audio = self.model.family.audio_modules(self.model.backbone)
        return _digest(module_fingerprint(*audio), json.dumps(prompt, default=str, allow_nan=False))

    def _path(self, part: str) -> str | None:
        return None if self.folder is None else os.path.join(self.folder, f"{part}-{self.fingerprints[part]}.safetensors")

    def _load(self, part: str) -> dict[str, torch.Tensor]:
        path = self._path(part)
        return load_file(path) if path is not None and os.path.isfile(path) else {}

    def _save(self, part: str) -> None:
        """Writes `part` to disk, merged with what other processes sharing the folder wrote since this one loaded it
        (under a file lock, so that concurrent runs never drop each other's sessions)."""
        path = self._path(part)
        if path is None or int(os.environ.get("RANK", "0")) != 0:
            return
        os.makedirs(self.folder, exist_ok=True)
        with FileLock(f"{path}.lock"):
            if os.path.isfile(path):
                for name, tensor in load_file(path).items():
                    self.stored[part].setdefault(name, tensor)
            temporary = f"{path}.tmp-{os.getpid()}"
            save_file(self.stored[part], temporary)
            os.replace(temporary, path)

    # --------------------------------------------------------------------------------------------------- filling
    def _key(self, row: dict) -> str:
        session_id = row["session_id"]
        if session_id not in self.keys:
            self.keys[session_id] = session_fingerprint(row)
        return self.keys[session_id]

    def _has(self, part: str, key: str) -> bool:
        return all(f"{key}/{name}" in self.stored[part] for name in NAMES[part])

    @torch.no_grad()
    def add(self, rows: list[dict], description: str, num_workers: int | None = None,
            skip_unreadable: bool = False) -> int:
        """Computes what is missing for `rows` (with a progress bar), then writes it to disk. `num_workers` processes
        run the processor ahead of the encoders (default: the cache's own, else `default_num_workers` for the model's
        device). With `skip_unreadable`, a session whose audio cannot be loaded is left out (for its scorer to refuse)
        instead of stopping; returns how many were."""
        missing = [(row, self._missing_parts(row)) for row in rows]
        missing = [(row, parts) for row, parts in missing if parts]
        self.model.eval()
        workers = num_workers if num_workers is not None else self.num_workers
        workers = default_num_workers(self.model.device) if workers is None else workers
        work = loadable_encoder_inputs if skip_unreadable else encoder_inputs
        inputs = worked_ahead(partial(work, self.processor), missing, workers)
        skipped = 0
        for number, ((row, parts), processed) in enumerate(tqdm(zip(missing, inputs), total=len(missing),
                                                                desc=description, unit="session",
                                                                disable=int(os.environ.get("RANK", "0")) != 0),
                                                           start=1):
            if processed is None:
                skipped += 1
                continue
            self._encode(row, parts, processed)
            if number % SAVE_EVERY == 0 and number < len(missing):
                self._save_all()  # a long encoding interrupted keeps what it did
        if missing:
            self._save_all()
        return skipped

    def _missing_parts(self, row: dict) -> list[str]:
        key = self._key(row)
        return [part for part in self.parts if not self._has(part, key)]

    def _save_all(self) -> None:
        for part in self.parts:
            self._save(part)

    def _encode(self, row: dict, parts: list[str], inputs: dict) -> None:
        """Encodes the `parts` that `row` lacks from its processor `inputs` (see `encoder_inputs`)."""
        key = self._key(row)
        inputs = on_device(batched_encoder_inputs(self.processor, inputs), self.model.device)
        if "speech" in parts:
            for name, value in encode_speech_inputs(self.model, inputs).items():  # kept on the CPU, whatever runs them
                self.stored["speech"][f"{key}/{name}"] = (value.float() if value.is_floating_point() else value).cpu() \
                    .contiguous()
        if "app" in parts:
            self.stored["app"][f"{key}/app_pooled"] = pool_app_inputs(self.model, inputs).float().cpu().contiguous()

    def batch(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        """Model inputs of sessions from their cached token ids, audio embeddings and pooled Whisper states."""
        return batch_of_cached([self[row] for row in rows], self.processor.prompt.pad_token_id(self.processor.tokenizer))

    def __getitem__(self, row: dict) -> dict[str, torch.Tensor]:
        """The cached inputs of a session (a loader row)."""
        key = self._key(row)
        return {name: self.stored[part][f"{key}/{name}"] for part in self.parts for name in NAMES[part]}


__all__ = ["PARTS", "SessionCache", "batch_of_cached", "batched_encoder_inputs", "encode_speech_inputs",
           "encoder_inputs", "module_fingerprint", "on_device", "pool_app_inputs", "session_fingerprint"]
