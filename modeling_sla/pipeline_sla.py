"""The `spoken-language-assessment` pipeline: scores whole learner sessions with SLAForSessionScoring.

This file is copied flat into saved checkpoints (next to the model code) and loaded from there with
`trust_remote_code=True`, so it imports installed libraries only: never `processing_sla` (the processor arrives as an
object loaded through `AutoProcessor`).

    from transformers import pipeline

    scorer = pipeline("spoken-language-assessment", model="ORG/NAME", trust_remote_code=True)
    scorer({"session_id": "S1", "responses": [{"part": "P1", "audio": "S1-P10003.flac", "question": "..."}]})
    scorer("path/to/folder")            # a list: files named <submissionID>-<questionID>.flac|.wav|.mp3|.ogg,
                                        # or one sub-folder per learner with files named by part (P1_01.mp3)
    scorer([session_a, session_b], batch_size=2)
    scorer(session, on_unscorable="skip")  # no score for a part with a response that cannot be assessed
"""

import os
from collections.abc import Sized
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from transformers import AutoModel, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.pipelines.pt_utils import PipelineDataset, PipelineIterator
from transformers.utils import logging

from .session_folders_sla import parse_response_file, read_session_folder
from .test_format_sla import OVERALL, TestFormat, load_test_format
from .uncertainty_sla import referral, session_difficulty, session_intervals


logger = logging.get_logger(__name__)

TASK = "spoken-language-assessment"
UNSCORABLE_POLICIES = ("warn", "skip", "error")
OVERALL_RULE_WORDS = {"mean": "the mean of", "weighted": "the weighted mean of", "own_mark": "marked on all of"}


# ----------------------------------------------------------------------------------------------- score helpers
def format_scores(raw_scores, test_format: TestFormat, decimals: int | None = 2) -> tuple[dict, dict]:
    """`({target: reported score}, {target: level})`: each score clipped to its target's scale (overall rounded to
    its bands where the format says so) and rounded to `decimals`; the level is that of the score reported."""
    scores, levels = {}, {}
    for name, raw in zip(test_format.score_names, raw_scores, strict=True):
        scores[name] = test_format.report(name, raw, decimals)
        levels[name] = test_format.level(name, scores[name])
    return scores, levels


# -------------------------------------------------------------------------------------------- what is reported
class UnscorableSessionError(ValueError):
    """Raised with `on_unscorable="error"` for a session holding a response that cannot be assessed; the message
    names the session, and each response with its part and reason."""


def reported_targets(
    test_format: TestFormat, response_parts, audio_flags: list[dict], on_unscorable: str = "warn", session_id=None
) -> tuple[list[str], list[dict]]:
    """Which of the format's targets get a score for a session, and the session's warnings.

    Rules:
    - A part is scored only when the session has at least the format's `min_responses` answers to it (S&I: one).
      With `on_unscorable="skip"`, a part with a response that cannot be assessed (an entry of `audio_flags`) is not
      scored either.
    - Overall is scored only when every part is: a partial session gets its parts' scores and no overall (S&I's
      overall is the mean of all four parts).
    - `on_unscorable="warn"` (the default) scores responses that cannot be assessed and reports them;
      `"error"` raises UnscorableSessionError instead.

    Args:
        test_format: the model's test format (`config.get_test_format()`).
        response_parts: the part of each of the session's responses.
        audio_flags: the processor's `{"response_id", "part", "reason", "detail"}` for the responses that cannot be
            assessed.

    Returns:
        The targets scored, and the warnings: every audio flag, then `{"response_id": None, "part", "reason",
        "detail"}` for each target without a score (reason `no_response`, `too_few_responses`, `unscorable_audio`
        or `partial_session`).
    """
    if on_unscorable not in UNSCORABLE_POLICIES:
        raise ValueError(f"`on_unscorable` must be one of {UNSCORABLE_POLICIES}, got {on_unscorable!r}.")
    if audio_flags and on_unscorable == "error":
        reasons = "; ".join(f"response {flag['response_id']} ({flag['part']}) {flag['reason']}: {flag['detail']}"
                            for flag in audio_flags)
        raise UnscorableSessionError(f"Session {session_id}: cannot be assessed (on_unscorable='error'): {reasons}.")
    response_parts = list(response_parts)
    unscorable = {flag["part"] for flag in audio_flags} if on_unscorable == "skip" else set()
    reported, warnings = [], [dict(flag) for flag in audio_flags]
    for part in test_format.parts:
        answers = response_parts.count(part.id)
        if answers and answers >= part.min_responses and part.id not in unscorable:
            reported.append(part.id)
            continue
        if not answers:
            reason, detail = "no_response", "the session has no response of this part"
        elif answers < part.min_responses:
            reason, detail = "too_few_responses", (f"{answers} response(s); the {test_format.name} format scores this "
                                                   f"part from {part.min_responses}")
        else:
            reason, detail = "unscorable_audio", "a response of this part cannot be assessed (on_unscorable='skip')"
        warnings.append({"response_id": None, "part": part.id, "reason": reason, "detail": detail})
    if test_format.overall is not None:
        if len(reported) == len(test_format.parts):
            reported.append(OVERALL)
        else:
            missing = ", ".join(part for part in test_format.part_ids if part not in reported)
            rule = OVERALL_RULE_WORDS[test_format.overall.rule]
            warnings.append({"response_id": None, "part": OVERALL, "reason": "partial_session",
                             "detail": f"overall is {rule} {', '.join(test_format.part_ids)}; not scored: {missing}"})
    return reported, warnings


# ------------------------------------------------------------------------------------------------ folder input
def sessions_from_folder(folder: str | os.PathLike, test_format: TestFormat) -> list[dict]:
    """Sessions from a folder of recordings (files named by response ID, or one sub-folder per learner with files
    named by part; see `session_folders_sla`), one per session ID, sorted; what is not read is counted and reported
    in one warning."""
    found = read_session_folder(folder, test_format)
    if found.skipped:
        logger.warning(f"{os.fspath(folder)}: skipped {found.skipped_summary()}")
    return found.sessions


def refuse_duplicate_sessions(sessions: list) -> None:
    """Raises when two sessions of one call share a session ID (each would be scored, and one result mistaken for
    the other), naming both positions."""
    first: dict[str, int] = {}
    for position, session in enumerate(sessions):
        session_id = session.get("session_id") if isinstance(session, dict) else None
        if session_id is None:
            continue
        if session_id in first:
            raise ValueError(f"Sessions {first[session_id]} and {position} of this call both have the session_id "
                             f"{session_id!r}: give each session its own ID.")
        first[session_id] = position


def _collate_sessions(items: list[dict]) -> dict:
    """Joins preprocessed items (lists of one) into one batch of sessions."""
    return {key: [value for item in items for value in item[key]] for key in items[0]}


# ---------------------------------------------------------------------------------------------------- pipeline
class SLAScoringPipeline(Pipeline):
    """
    Scores learner sessions on the model's test format (`model.config.get_test_format()`): each part and overall
    on their scales, with their levels (S&I: P1, P3, P4, P5 and overall on 2.0-5.5, with CEFR levels).

    Inputs: a session dict `{"session_id", "responses": [{"part", "audio", "question"?, "response_id"?}]}` (audio: a
    file path (WAV, FLAC, MP3 or OGG, any rate and channels), a 16 kHz array or `{"array", "sampling_rate"}`), a list
    of them, or a folder: audio files named by response ID (`<submissionID>-<questionID>.flac`), or one sub-folder per
    learner holding files named by part (`P1_01.mp3`, `P3.ogg`; see `session_folders_sla`). A session gives a dict; a
    list or a folder gives a list (a folder's sorted by session ID). Two sessions of one call with the same
    `session_id` are an error naming both.

    Output per session: `{"session_id", "test_format", "scores": {"P1": 3.62, ..., "overall": 3.71}, "levels":
    {"P1": "B1+", ...}, "warnings": [...]}` (and `"cefr"`, the same as `"levels"`, where the format's levels are
    CEFR's, as S&I's are): exactly the format's targets, each score clipped to its target's scale (overall rounded to
    its bands where the format says so, as IELTS rounds to half bands) and rounded to `decimals` (default 2; None
    keeps them unrounded); each level is that of the nearest band of the score shown.

    What is not scored is `None` (score and level), and `warnings` (empty when all is well) says why, as
    `{"response_id", "part", "reason", "detail"}`:
    - a response that cannot be assessed: `silent`, `no_speech`, `too_little_speech`, `mostly_noise`, `clipped`,
      `truncated` (its file holds less than its header declares), `too_long` (far longer than its part's expected
      answer) (the processor's checks);
    - a part without a response (`no_response`), with fewer than the format's `min_responses`
      (`too_few_responses`), or skipped under `on_unscorable="skip"` (`unscorable_audio`);
    - overall, for a session without every part scored (`partial_session`; S&I's overall is the mean of all four).

    The processor's test format must be the model's: a model never scores a test it was not trained for.

    Call parameters: `batch_size` (sessions per forward pass), `num_workers` (processes that load, check and
    featurize sessions ahead of the model; the scores do not depend on it), `decimals`, and `on_unscorable`:
    `"warn"` (default: score and flag), `"skip"` (no score for a part with a response that cannot be assessed, nor
    for overall) or `"error"` (raise UnscorableSessionError). See `reported_targets` for the rules.
    """

    _load_processor = True
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False
    _load_video_processor = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Compared as dicts: loaded as remote code, the config's and this file's classes are different objects.
        self.test_format = load_test_format(self.model.config.test_format)
        processor_format = getattr(self.processor, "test_format", None)
        if not callable(getattr(self.processor, "featurize_session", None)):
            raise ValueError("The processor cannot featurize sessions one by one (it predates this pipeline): load "
                             "the processor and the model from the same checkpoint.")
        if processor_format is None or load_test_format(processor_format).to_dict() != self.test_format.to_dict():
            theirs = processor_format.get("name") if isinstance(processor_format, dict) else None
            raise ValueError(f"The processor's test format ({theirs}) is not the model's ({self.test_format.name}): "
                             f"a model scores only the test it was trained for. Load both from the same checkpoint.")

    def _sanitize_parameters(self, decimals="unset", on_unscorable=None, **unknown):
        if unknown:
            raise TypeError(f"Unknown parameter(s) of the {TASK} pipeline: {sorted(unknown)}")
        forward, postprocess = {}, {}
        if decimals != "unset":
            if decimals is not None and (isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0):
                raise ValueError(f"`decimals` must be a non-negative int or None, got {decimals!r}.")
            postprocess["decimals"] = decimals
        if on_unscorable is not None:
            if on_unscorable not in UNSCORABLE_POLICIES:
                raise ValueError(f"`on_unscorable` must be one of {UNSCORABLE_POLICIES}, got {on_unscorable!r}.")
            forward["on_unscorable"] = postprocess["on_unscorable"] = on_unscorable
        return {}, forward, postprocess

    def __call__(self, inputs, **kwargs):
        if isinstance(inputs, (str, os.PathLike)):  # a folder: always a list, one result per session
            inputs = [inputs]
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        if isinstance(inputs, list):
            sessions = []
            for item in inputs:
                sessions.extend(sessions_from_folder(item, self.test_format) if isinstance(item, (str, os.PathLike))
                                else [item])
            refuse_duplicate_sessions(sessions)
            return super().__call__(sessions, **kwargs) if sessions else []
        return super().__call__(inputs, **kwargs)

    def preprocess(self, session):
        if isinstance(session, (str, os.PathLike)):
            sessions = sessions_from_folder(session, self.test_format)
            if len(sessions) != 1:
                raise ValueError(
                    f"{session} holds {len(sessions)} submissions; pass the folder itself (not inside a dataset or "
                    f"generator) to score each of them."
                )
            session = sessions[0]
        if not isinstance(session, dict):  # the processor checks the rest and names the session
            raise ValueError(
                "A session must be a dict with 'responses' (a list of {'part', 'audio', 'question'?}), got "
                f"{type(session).__name__}."
            )
        # Loaded, checked and featurized here: in the pipeline's `num_workers` processes when it has some. An error
        # (unreadable audio, a malformed session, named) is raised by `_forward`, in the sessions' order: raised in a
        # worker, the loader would wrap it in its traceback.
        try:
            featurized = self.processor.featurize_session(session)
        except (OSError, ValueError) as error:
            return {"session_id": [session.get("session_id")], "parts": [None], "featurized": [None], "error": [error]}
        return {"session_id": [session.get("session_id")],
                "parts": [[response.get("part") for response in session["responses"]]],
                "featurized": [featurized], "error": [None]}

    def _forward(self, model_inputs, on_unscorable: str = "warn"):
        for error in model_inputs["error"]:
            if error is not None:
                raise error
        batch = self.processor.collate(model_inputs["featurized"])
        if "audio_flags" not in batch:
            raise ValueError("The processor gave no `audio_flags`: it cannot tell what it cannot assess.")
        checks = []
        for session_id, parts, flags in zip(model_inputs["session_id"], model_inputs["parts"], batch["audio_flags"]):
            # raises before the model runs when on_unscorable="error"
            reported_targets(self.test_format, parts, flags, on_unscorable, session_id)
            checks.append({"parts": parts, "audio_flags": flags})
        inputs = {key: value.to(self.device) for key, value in batch.items() if torch.is_tensor(value)}
        outputs = self.model(**inputs)
        app_probs = outputs.app_probs.float() if outputs.app_probs is not None else None
        return {"session_id": list(model_inputs["session_id"]), "scores": outputs.scores.float(),
                "app_probs": app_probs, "checks": checks}

    def postprocess(self, model_outputs, decimals: int | None = 2, on_unscorable: str = "warn"):
        session_id, checks = model_outputs["session_id"], model_outputs["checks"]
        if isinstance(session_id, list):  # an unbatched result keeps its list of one
            session_id, checks = session_id[0], checks[0]
        raw = model_outputs["scores"].reshape(-1).tolist()
        scores, levels = format_scores(raw, self.test_format, decimals)
        reported, warnings = reported_targets(self.test_format, checks["parts"], checks["audio_flags"], on_unscorable,
                                              session_id)
        app_probs = model_outputs.get("app_probs")
        app_probs = None if app_probs is None else app_probs.reshape(-1).tolist()
        intervals, difficulty = self.intervals(raw, reported, app_probs, checks["parts"], decimals)
        refer, reasons = referral(difficulty, checks["audio_flags"], self.model.config.uncertainty)
        result = {
            "session_id": session_id,
            "test_format": self.test_format.name,
            "scores": {name: value if name in reported else None for name, value in scores.items()},
            "levels": {name: level if name in reported else None for name, level in levels.items()},
            "intervals": intervals,
            "refer_to_examiner": refer,
            "referral_reasons": reasons,
            "warnings": warnings,
        }
        if self.test_format.level_name == "CEFR":
            result["cefr"] = dict(result["levels"])
        return result

    def intervals(self, raw: list[float], reported: list[str], app_probs: list[float] | None, parts: list[str],
                  decimals: int | None) -> tuple[dict[str, list[float]] | None, float | None]:
        """`{target: [low, high]}` of the reported scores and the session's difficulty, from the config's calibration
        (None and None without one)."""
        calibration = self.model.config.uncertainty
        if calibration is None:
            return None, None
        clipped = {name: self.test_format.target_scale(name).clip(value)
                   for name, value in zip(self.test_format.score_names, raw) if name in reported}
        most = sum(part.max_responses for part in self.test_format.parts)
        missing = max(0.0, 1.0 - sum(part in self.test_format.part_ids for part in parts) / most)
        scales = {name: (self.test_format.target_scale(name).min, self.test_format.target_scale(name).max)
                  for name in clipped}
        bands = self.model.config.band_values
        bounds = session_intervals(clipped, app_probs, bands, missing, calibration, scales)
        difficulty = session_difficulty(clipped, app_probs, bands, missing, calibration)
        return {name: [value if decimals is None else round(value, decimals) for value in bound]
                for name, bound in bounds.items()}, difficulty

    def get_iterator(
        self, inputs, num_workers: int, batch_size: int, preprocess_params, forward_params, postprocess_params
    ):
        # The default collate pads tensors of batch size one; sessions are collated by the processor instead.
        if isinstance(inputs, Sized):
            dataset = PipelineDataset(inputs, self.preprocess, preprocess_params)
        else:
            num_workers = min(num_workers, 1)
            dataset = PipelineIterator(inputs, self.preprocess, preprocess_params)
        loader = DataLoader(dataset, num_workers=num_workers, batch_size=batch_size, collate_fn=_collate_sessions)
        model_iterator = PipelineIterator(loader, self.forward, forward_params, loader_batch_size=batch_size)
        return PipelineIterator(model_iterator, self.postprocess, postprocess_params)


# ------------------------------------------------------------------------------------------------- registering
def register_sla_pipeline() -> None:
    """Registers `spoken-language-assessment` with transformers (needed to build or save the pipeline in-process;
    a saved checkpoint carries it in `config.json` as `custom_pipelines`)."""
    registered = PIPELINE_REGISTRY.supported_tasks.get(TASK)
    if registered is not None and registered["impl"] is SLAScoringPipeline:
        return
    PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=SLAScoringPipeline, pt_model=AutoModel)


def save_pretrained_with_pipeline(model, processor, folder: str | os.PathLike, **save_kwargs) -> Path:
    """Saves `model` and `processor` to `folder` with the pipeline: `config.json` gets `custom_pipelines`, and this
    file is copied next to the model code, so `pipeline("spoken-language-assessment", model=folder,
    trust_remote_code=True)` works where this package is not installed. Returns the folder."""
    register_sla_pipeline()
    had_custom_pipelines = "custom_pipelines" in model.config.__dict__
    previous = getattr(model.config, "custom_pipelines", None)
    # Keep the model where it is: with an accelerate device map no device may be given, otherwise the model's own.
    device = None if getattr(model, "hf_device_map", None) else model.device
    scorer = SLAScoringPipeline(model=model, processor=processor, task=TASK, device=device)
    try:
        # Writes config.json (with custom_pipelines), the weights, the model code, this file and the tokenizer.
        scorer.save_pretrained(folder, **save_kwargs)
    finally:
        # Do not leave the pipeline in the in-memory config: a later plain `save_pretrained` (e.g. a training
        # checkpoint) would name a pipeline file it does not copy.
        if had_custom_pipelines:
            model.config.custom_pipelines = previous
        else:
            model.config.__dict__.pop("custom_pipelines", None)
    # Pipeline.save_pretrained skips ProcessorMixin objects: without this, the pipeline fails to load its processor.
    processor.save_pretrained(folder)
    return Path(folder)


__all__ = [
    "SLAScoringPipeline",
    "TASK",
    "UNSCORABLE_POLICIES",
    "UnscorableSessionError",
    "format_scores",
    "parse_response_file",
    "refuse_duplicate_sessions",
    "register_sla_pipeline",
    "reported_targets",
    "save_pretrained_with_pipeline",
    "sessions_from_folder",
]
