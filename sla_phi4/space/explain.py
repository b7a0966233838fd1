"""A pipeline result in plain words: each score with its level (and interval), the referral, and every warning as a
sentence of `words.json`."""

from dataclasses import dataclass

from .session import part_label
from .words import words


OVERALL = "overall"


@dataclass(frozen=True)
class ScoreLine:
    """One target of the report.

    Args:
        target: the pipeline's target name (`P1`, `overall`).
        label: how a person reads it (`Interview (P1)`, `Overall`).
        score: the reported score; None where the pipeline gave none.
        level: the score's level (`B1+`); None without a score.
        interval: `(low, high)` where the result carries intervals, else None.
        scale: the target's scale, `(min, max)`.
    """

    target: str
    label: str
    score: float | None
    level: str | None
    interval: tuple[float, float] | None
    scale: tuple[float, float]


@dataclass(frozen=True)
class Message:
    """One warning, in plain words.

    Args:
        reason: the pipeline's reason (`silent`, `no_response`, ...).
        part: the part (or `overall`) it concerns.
        response_id: the answer it concerns, None for a whole part.
        text: the sentence shown.
    """

    reason: str
    part: str
    response_id: str | None
    text: str


@dataclass(frozen=True)
class Referral:
    """Whether the session should go to a human examiner (only where the result says).

    Args:
        refer: the result's `refer_to_examiner`.
        reasons: the result's `referral_reasons`, as text.
        text: what is shown.
    """

    refer: bool
    reasons: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Report:
    """What the app shows for one scored session.

    Args:
        session_id, test_format: from the result.
        level_name: what the format calls its levels (`CEFR`, `band`).
        decimals: the decimals scores are shown with (those the pipeline rounded to).
        lines: the targets in the format's order, overall last.
        messages: every warning of the result, in its order.
        referral: None where the result has no `refer_to_examiner`.
    """

    session_id: str
    test_format: str
    level_name: str
    decimals: int
    lines: tuple[ScoreLine, ...]
    messages: tuple[Message, ...]
    referral: Referral | None

    def shown(self, value: float | None) -> str:
        """A score as the app prints it: `decimals` places, or the words for no score."""
        return words()["not_scored"] if value is None else f"{value:.{self.decimals}f}"


def find_part(test_format, part_id):
    """The format's part of that id, or None (overall, or a part the format lacks)."""
    return next((part for part in test_format.parts if part.id == part_id), None)


def target_label(test_format, target: str) -> str:
    """How a target is named to a person: `Interview (P1)`, `Overall`; an unknown one by its id."""
    if target == OVERALL:
        return words()["overall_label"]
    part = find_part(test_format, target)
    return str(target) if part is None else part_label(part)


def score_lines(result: dict, test_format) -> tuple[ScoreLine, ...]:
    """The result's targets with their scores, levels, intervals (when the result has them) and scales."""
    intervals = result.get("intervals") or {}
    lines = []
    for target in test_format.score_names:
        scale = test_format.target_scale(target)
        interval = intervals.get(target)
        lines.append(ScoreLine(
            target=target, label=target_label(test_format, target), score=result["scores"].get(target),
            level=(result.get("levels") or {}).get(target),
            interval=None if interval is None else (float(interval[0]), float(interval[1])),
            scale=(float(scale.min), float(scale.max)),
        ))
    return tuple(lines)


def warning_subject(warning: dict, test_format, answer_numbers: dict[str, int]) -> str:
    """What a warning is about: an answer, a part, or the overall score."""
    subjects, part = words()["subjects"], warning.get("part")
    if part == OVERALL:
        return subjects["overall"]
    response_id = warning.get("response_id")
    if response_id is None:
        return subjects["part"].format(part=target_label(test_format, part))
    return subjects["answer"].format(number=answer_numbers.get(response_id, response_id),
                                     part=target_label(test_format, part))


def warning_message(warning: dict, test_format, answer_numbers: dict[str, int]) -> Message:
    """One warning of the pipeline as a sentence of `words.json` (an unknown reason shows its own detail)."""
    template = words()["warnings"].get(warning["reason"], words()["unknown_warning"])
    part = find_part(test_format, warning.get("part"))
    text = template.format(subject=warning_subject(warning, test_format, answer_numbers),
                           part=target_label(test_format, warning.get("part")),
                           min_responses=part.min_responses if part else "",
                           detail=warning.get("detail") or warning["reason"])
    return Message(warning["reason"], str(warning.get("part")), warning.get("response_id"), text)


def reason_text(reason) -> str:
    """A referral reason as text: a string as it is, a dict by its `detail` (else its `reason`)."""
    if isinstance(reason, dict):
        return str(reason.get("detail") or reason.get("reason") or reason)
    return str(reason)


def referral(result: dict) -> Referral | None:
    """The result's referral to an examiner in words; None where the result does not say."""
    if "refer_to_examiner" not in result:
        return None
    refer = bool(result["refer_to_examiner"])
    reasons = tuple(reason_text(reason) for reason in result.get("referral_reasons") or ())
    wording = words()["referral"]
    text = wording["refer" if refer else "no_referral"]
    if reasons:
        text += " " + wording["reasons"].format(reasons="; ".join(reasons))
    return Referral(refer, reasons, text)


def explain(result: dict, test_format, answer_numbers: dict[str, int] | None = None, decimals: int = 2) -> Report:
    """The report of one pipeline result (`{"session_id", "test_format", "scores", "levels", "warnings"}`, and
    `"intervals"`, `"refer_to_examiner"`, `"referral_reasons"` where it has them)."""
    numbers = answer_numbers or {}
    return Report(
        session_id=str(result.get("session_id")), test_format=str(result.get("test_format", test_format.name)),
        level_name=test_format.level_name, decimals=decimals, lines=score_lines(result, test_format),
        messages=tuple(warning_message(warning, test_format, numbers) for warning in result.get("warnings", ())),
        referral=referral(result),
    )
