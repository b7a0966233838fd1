"""Scoring sessions with a model: batches of similar length, the pipeline's reporting rules, and what a model says
about a set of sessions beside their marks (`Evidence`, for intervals and fairness)."""

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from modeling_sla.pipeline_sla import reported_targets
from sla_phi4.data.ahead import default_num_workers
from sla_phi4.data.sessions import scorable_rows, session_seconds
from sla_phi4.evaluation.featurizing import loaded_batches
from sla_phi4.evaluation.uncertainty import Evidence, missing_answers
from sla_phi4.training.session_cache import SessionCache, on_device


def default_batch_size() -> int:
    """8 on CUDA; 1 on CPU, where padded batches ran at 0.77x the speed of single sessions (sdpa's masked math
    path; `sla benchmark` measures it)."""
    return 8 if torch.cuda.is_available() else 1


@dataclass
class ScoredSession:
    """One session as scored: its row's index, its scores (NaN for a target it gets no score for), warnings, the
    APP's band probabilities (None without the APP), and whether it was refused (its audio could not be loaded:
    no scores, and a warning saying why)."""

    index: int
    session_id: str
    scores: np.ndarray
    warnings: list[dict]
    app_probs: np.ndarray | None
    refused: bool = False


def score_sessions(model, processor, rows: list[dict], batch_size: int | None = None, on_unscorable: str = "warn",
                   cache: SessionCache | None = None, description: str = "Scoring sessions",
                   on_unreadable: str = "error", seconds: list[float] | None = None, num_workers: int | None = None
                   ) -> Iterator[list[ScoredSession]]:
    """Scores `rows` in batches of similar length (less padding), yielding each batch's sessions as they are scored.
    A target a session gets no score for (the pipeline's rules, `reported_targets`) is NaN. With `cache` (speech
    and APP parts), the frozen encoders' outputs come from it. A session whose audio cannot be loaded stops the
    run (`on_unreadable="error"`) or is refused: yielded with no scores and a warning naming the response and why
    (`"refuse"`). `seconds`: each row's audio seconds, when known (else read from the files' headers).
    `num_workers`: processes that load and featurize batches ahead of the model (default: `default_num_workers` for
    the model's device); the scores do not depend on it. Inputs go to the model's device."""
    batch_size = batch_size or default_batch_size()
    num_workers = default_num_workers(model.device) if num_workers is None else num_workers
    lengths = seconds if seconds is not None else [session_seconds(row) for row in rows]
    order = np.argsort(lengths, kind="stable").tolist()
    batches = [order[start : start + batch_size] for start in range(0, len(rows), batch_size)]
    names = list(model.config.score_names)
    test_format = model.config.get_test_format()
    model.eval()
    loaded = loaded_batches(processor, rows, batches, flags_only=cache is not None, on_unreadable=on_unreadable,
                            num_workers=num_workers)
    with torch.no_grad(), tqdm(total=len(rows), desc=description, unit="session") as progress:
        for batch in loaded:
            scored = [ScoredSession(index, rows[index]["session_id"], np.full(len(names), np.nan), [warning], None,
                                    refused=True) for index, warning in batch.refused.items()]
            if batch.featurized is None:
                yield scored
                progress.update(len(scored))
                continue
            indices = batch.indices
            flags = [session["audio_flags"] for session in batch.featurized]
            checked = []
            for index, session_flags in zip(indices, flags):
                parts = [response["part"] for response in rows[index]["responses"]]
                checked.append(reported_targets(test_format, parts, session_flags, on_unscorable,
                                                rows[index]["session_id"]))
            inputs = cache.batch([rows[index] for index in indices]) if cache is not None else \
                {key: value for key, value in processor.collate(batch.featurized).items() if key != "audio_flags"}
            outputs = model(**on_device(inputs, model.device))
            raw = outputs.scores.float().cpu().numpy()
            probs = None if outputs.app_probs is None else outputs.app_probs.float().cpu().numpy()
            yield scored + [
                ScoredSession(index, rows[index]["session_id"], reported_scores(names, values, reported), warnings,
                              None if probs is None else probs[position])
                for position, (index, values, (reported, warnings)) in enumerate(zip(indices, raw, checked))]
            progress.update(len(indices) + len(scored))


def reported_scores(names: list[str], values, reported: list[str]) -> np.ndarray:
    """A session's raw scores, NaN for the targets it gets no score for."""
    return np.array([value if name in reported else np.nan for name, value in zip(names, values)])


def predict(model, processor, rows: list[dict], batch_size: int | None = None,
            on_unscorable: str = "warn", cache: SessionCache | None = None, app_probs: list | None = None,
            num_workers: int | None = None) -> tuple[np.ndarray, list[list[dict]]]:
    """`(len(rows), num_scores)` scores (NaN for the targets a session gets no score for) and each session's
    warnings, in the order of `rows` (see `score_sessions`). A list given as `app_probs` receives each session's APP
    band probabilities (the model needs its APP)."""
    scores = np.full((len(rows), model.config.num_scores), np.nan)
    warnings: list[list[dict]] = [[] for _ in rows]
    probs: dict[int, np.ndarray] = {}
    for batch in score_sessions(model, processor, rows, batch_size, on_unscorable, cache, num_workers=num_workers):
        for session in batch:
            scores[session.index], warnings[session.index] = session.scores, session.warnings
            probs[session.index] = session.app_probs
    if app_probs is not None:
        app_probs.extend(probs[index] for index in range(len(rows)))
    return scores, warnings


def load_split(model, processor, corpus_root: str, split: str, on_missing: str = "error",
               cache_dir: str | None = None) -> tuple[list[dict], SessionCache | None]:
    """A split's rows in the model's format, and (with `cache_dir`) a session cache that holds their encodings."""
    rows = scorable_rows(corpus_root, split, on_missing, model.config.get_test_format())
    if cache_dir is None:
        return rows, None
    cache = SessionCache(model, processor, folder=cache_dir)
    cache.add(rows, "Encoding sessions (frozen encoders)")
    return rows, cache


def evidence_from_records(rows: list[dict], records: dict[str, dict], test_format
                          ) -> tuple[Evidence, list[list[dict]]]:
    """The evidence and warnings of `rows` from their shard records (every session must have one)."""
    missing = [row["session_id"] for row in rows if row["session_id"] not in records]
    if missing:
        raise ValueError(f"{len(missing)} sessions have no prediction in the shards, e.g. {missing[:3]}.")
    entries = [records[row["session_id"]] for row in rows]
    predictions = np.array([[np.nan if value is None else value for value in entry["scores"]] for entry in entries],
                           dtype=float).reshape(len(rows), len(test_format.score_names))
    warnings = [entry["warnings"] for entry in entries]
    flagged = np.array([any(warning["response_id"] is not None for warning in session) for session in warnings])
    evidence = Evidence([row["session_id"] for row in rows], predictions, marks(rows, test_format.score_names),
                        app_probabilities(entries), missing_answers(rows, test_format), flagged)
    return evidence, warnings


def app_probabilities(entries: list[dict]) -> np.ndarray | None:
    """The records' APP probabilities as one array (NaN rows for refused sessions); None without the APP."""
    known = [entry["app_probs"] for entry in entries if entry.get("app_probs") is not None]
    if not known:
        return None
    width = len(known[0])
    return np.array([[np.nan] * width if entry.get("app_probs") is None else entry["app_probs"]
                     for entry in entries], dtype=float)


def gather_evidence(model, processor, rows: list[dict], batch_size: int | None = None, on_unscorable: str = "warn",
                    cache: SessionCache | None = None) -> tuple[Evidence, list[list[dict]]]:
    """What the model says about `rows` (scores as reported, APP probabilities, the share of answers missing,
    whether a response cannot be assessed) beside their marks; and each session's warnings."""
    test_format = model.config.get_test_format()
    probs = [] if model.app is not None else None
    predictions, warnings = predict(model, processor, rows, batch_size, on_unscorable, cache, app_probs=probs)
    flagged = np.array([any(warning["response_id"] is not None for warning in session) for session in warnings])
    evidence = Evidence([row["session_id"] for row in rows], predictions, marks(rows, test_format.score_names),
                        None if probs is None else np.stack(probs), missing_answers(rows, test_format), flagged)
    return evidence, warnings


def marks(rows: list[dict], names: list[str]) -> np.ndarray:
    return np.array([[np.nan if row.get(name) is None else row[name] for name in names] for row in rows], dtype=float)


__all__ = ["ScoredSession", "default_batch_size", "evidence_from_records", "gather_evidence", "load_split", "marks",
           "predict", "score_sessions"]
