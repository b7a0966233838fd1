"""The parts of a score report that hold for any cohort, marked or not: every session counted (scored, refused by
reason, flagged by reason, known but without audio), every target with its counts and, where it has no metrics, the
reason; and the records of sessions refused before scoring, merged with the shards' records."""

import numpy as np

from sla_phi4.data.cohort import Cohort
from sla_phi4.evaluation.intake import Intake


MIN_PAIRED = 2  # sessions with both a mark and a score that a target's metrics need


def refused_record(session_id: str, warnings: list[dict], digest: str | None, num_scores: int) -> dict:
    """The record of a session refused before scoring: no scores, its warnings."""
    return {"session_id": session_id, "inputs": digest, "refused": True, "scores": [None] * num_scores,
            "warnings": warnings, "app_probs": None}


def with_dropped_responses(record: dict, dropped: list[dict]) -> dict:
    """A record of a session scored without its missing responses: their warnings first, and a part they leave
    without an answer said to be `missing`, not `no_response`."""
    parts = {warning["part"] for warning in dropped}
    relabelled = [{**warning, "reason": "missing", "detail": "its only answers' files are missing"}
                  if warning["response_id"] is None and warning["reason"] == "no_response" and warning["part"] in parts
                  else warning for warning in record["warnings"]]
    return {**record, "warnings": dropped + relabelled}


def cohort_records(cohort: Cohort, intake: Intake, records: dict[str, dict], num_scores: int) -> dict[str, dict]:
    """Every session's record: the shards' (with dropped responses said), and one per session refused before
    scoring."""
    merged = {}
    for row in cohort.rows:
        session_id = row["session_id"]
        digest = intake.inputs[session_id]["digest"]
        if session_id in intake.refused:
            merged[session_id] = refused_record(session_id, intake.refused[session_id], digest, num_scores)
        elif session_id in intake.dropped:
            merged[session_id] = with_dropped_responses(records[session_id], intake.dropped[session_id])
        else:
            merged[session_id] = records[session_id]
    return merged


def _count(counts: dict, key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def session_counts(cohort: Cohort, records: dict[str, dict]) -> dict:
    """Sessions scored (at least one target), refused (by the reason of their first unusable response, each listed
    with its response, file and reason), flagged (scored, with a response that cannot be assessed: sessions per
    reason), and known but without audio (by reason)."""
    refused, refused_list, flagged, flagged_sessions, scored = {}, [], {}, 0, 0
    for session_id, record in records.items():
        if record.get("refused"):
            first = record["warnings"][0]
            _count(refused, first["reason"])
            refused_list.append({"session_id": session_id, "response_id": first["response_id"],
                                 "file": first.get("file"), "reason": first["reason"], "detail": first["detail"]})
            continue
        scored += any(value is not None for value in record["scores"])
        reasons = {warning["reason"] for warning in record["warnings"] if warning["response_id"] is not None}
        flagged_sessions += bool(reasons)
        for reason in sorted(reasons):
            _count(flagged, reason)
    return {
        "total": len(records),
        "scored": scored,
        "refused": {"count": len(refused_list), "by_reason": refused, "sessions": refused_list},
        "flagged": {"count": flagged_sessions, "by_reason": flagged},
        "missing": {"count": sum(len(ids) for ids in cohort.missing.values()),
                    "by_reason": {reason: len(ids) for reason, ids in cohort.missing.items()},
                    "examples": {reason: ids[:5] for reason, ids in cohort.missing.items()}},
        "skipped": {kind: len(names) for kind, names in cohort.skipped.items()},
        "skipped_examples": {kind: names[:20] for kind, names in cohort.skipped.items()},
    }


def no_metrics_reason(name: str, cohort: Cohort, marked: int, paired: int) -> str:
    """Why a target has no metrics."""
    if cohort.kind != "kit":
        return f"no marks: a {cohort.kind} of recordings carries none"
    path, exists = cohort.mark_files[name]
    if not exists:
        return f"no marks: {path} does not exist"
    if not marked:
        return f"no marks: {path} marks none of these sessions"
    return f"{paired} session(s) with both a mark and a score; metrics need at least {MIN_PAIRED}"


def target_table(predictions: np.ndarray, references: np.ndarray, names: list[str], cohort: Cohort,
                 metrics: dict) -> dict:
    """Per target: sessions scored, marked and both; `reason` (None where it has metrics) says why it has none."""
    table = {}
    for column, name in enumerate(names):
        scored, marked = np.isfinite(predictions[:, column]), np.isfinite(references[:, column])
        paired = int((scored & marked).sum())
        table[name] = {"scored": int(scored.sum()), "marked": int(marked.sum()), "paired": paired,
                       "reason": None if name in metrics else no_metrics_reason(name, cohort, int(marked.sum()),
                                                                                 paired)}
    return table


def format_sessions(report: dict) -> str:
    """Lines on the sessions refused, flagged and missing, and the targets without metrics ('' when none)."""
    sessions, lines = report.get("sessions", {}), []
    for kind in ("refused", "flagged", "missing"):
        section = sessions.get(kind, {})
        if section.get("count"):
            reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(section["by_reason"].items()))
            lines.append(f"{kind.capitalize()} sessions: {section['count']} ({reasons})")
    for session in sessions.get("refused", {}).get("sessions", [])[:10]:
        lines.append(f"  refused {session['session_id']}: {session['reason']}, {session['file']}")
    for kind, count in sessions.get("skipped", {}).items():
        names = sessions.get("skipped_examples", {}).get(kind, [])
        lines.append(f"Not read: {count} {kind} ({', '.join(names[:5])}{', ...' if count > 5 else ''})")
    for name, values in report.get("targets", {}).items():
        if values["reason"]:
            lines.append(f"{name}: {values['scored']} sessions scored, no metrics ({values['reason']})")
    return "\n".join(lines)


__all__ = ["cohort_records", "format_sessions", "session_counts", "target_table"]
