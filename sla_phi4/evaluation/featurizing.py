"""Batches of sessions loaded, checked and featurized ahead of the model, in worker processes (`sla score`).

Each worker builds a batch exactly as the main process would (`sla_phi4.data.ahead`), so the scores are the same bit
for bit whatever the number of workers; batches come back in order.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial

from processing_sla.audio_io_sla import AudioInputError
from processing_sla.processing_sla import SessionInputError
from sla_phi4.data.ahead import worked_ahead


@dataclass
class LoadedBatch:
    """What the processor made of one batch of sessions, session by session.

    Args:
        indices: the rows that loaded, in the batch's order.
        featurized: theirs, as `SLAProcessor.featurize_session` gives them (NumPy arrays and lists: handed over by
            pickling rather than in shared memory), or with `flags_only` only their `audio_flags`; None when none
            loaded. `processor.collate` batches them.
        refused: a refusal warning per row whose audio cannot be loaded.
    """

    indices: list[int]
    featurized: list[dict] | None
    refused: dict[int, dict] = field(default_factory=dict)


def refusal_warning(row: dict, error: Exception) -> dict:
    """The warning of a session whose audio cannot be loaded: the response the error names, and why."""
    reason = getattr(error, "reason", "invalid_session")
    named = [response for response in row["responses"] if f"response {response.get('response_id')}:" in str(error)]
    response = named[0] if named else {"response_id": None, "part": None, "audio": None}
    return {"response_id": response.get("response_id"), "part": response.get("part"), "reason": reason,
            "detail": str(error), "file": response["audio"] if isinstance(response.get("audio"), str) else None}


def session_inputs(processor, session: dict, index: int, flags_only: bool) -> dict:
    """One session featurized with its `audio_flags`, or (`flags_only`, when a session cache holds the encoders'
    outputs) only the flags, from its audio loaded and checked."""
    if flags_only:
        return {"audio_flags": processor.assess_session(session, processor.load_session_audio(session, index), index)}
    return processor.featurize_session(session, index)


def load_batch(processor, rows: list[dict], flags_only: bool, on_unreadable: str, indices: list[int]) -> LoadedBatch:
    """The batch of `indices`: every session that loads, and a refusal for each one that cannot
    (`on_unreadable="refuse"`); with `"error"`, the first loader error is raised."""
    kept, featurized, refused = [], [], {}
    for position, index in enumerate(indices):
        try:
            featurized.append(session_inputs(processor, rows[index], position, flags_only))
        except (AudioInputError, SessionInputError) as error:
            if on_unreadable == "error":
                raise
            refused[index] = refusal_warning(rows[index], error)
            continue
        kept.append(index)
    return LoadedBatch(kept, featurized or None, refused)


def loaded_batches(processor, rows: list[dict], batches: list[list[int]], *, flags_only: bool = False,
                   on_unreadable: str = "error", num_workers: int = 0) -> Iterator[LoadedBatch]:
    """Each batch of `batches` (lists of row indices) loaded by `load_batch`, in order; with `num_workers`, by that
    many processes working ahead of the consumer. A loader error is raised here when `on_unreadable="error"`."""
    return worked_ahead(partial(load_batch, processor, rows, flags_only, on_unreadable), batches, num_workers)


__all__ = ["LoadedBatch", "load_batch", "loaded_batches", "refusal_warning", "session_inputs"]
