"""A pipeline result in plain words: scores, levels, intervals and referral where the result has them, and one
sentence of words.json for every warning reason the pipeline gives."""

import re
from pathlib import Path

from modeling_sla import load_test_format, pipeline_sla
from processing_sla.assessability_sla import REASONS
from sla_phi4.space.explain import explain
from sla_phi4.space.words import words


SANDI = load_test_format("sandi2025")
TOEFL = load_test_format("toefl-like")


def fake_result(**extra) -> dict:
    """A pipeline result of a session with P1 (two answers, the second silent) and P3, no P4 or P5."""
    return {
        "session_id": "demo", "test_format": "sandi2025",
        "scores": {"P1": 3.62, "P3": 4.0, "P4": None, "P5": None, "overall": None},
        "levels": {"P1": "B1+", "P3": "B2", "P4": None, "P5": None, "overall": None},
        "warnings": [
            {"response_id": "P1-2", "part": "P1", "reason": "silent", "detail": "level -inf dBFS"},
            {"response_id": None, "part": "P4", "reason": "no_response", "detail": "no response"},
            {"response_id": None, "part": "P5", "reason": "too_few_responses", "detail": "0 response(s)"},
            {"response_id": None, "part": "overall", "reason": "partial_session", "detail": "not scored: P4, P5"},
        ],
        **extra,
    }


def test_every_reason_the_pipeline_gives_has_a_sentence():
    """The processor's reasons, and those the pipeline's own code gives (read from its source)."""
    source = Path(pipeline_sla.__file__).read_text(encoding="utf-8")
    given = set(re.findall(r'reason, detail = "(\w+)"', source)) | set(re.findall(r'"reason": "(\w+)"', source))
    assert given == {"no_response", "too_few_responses", "unscorable_audio", "partial_session"}
    assert set(words()["warnings"]) == set(REASONS) | given


def test_scores_levels_and_warnings_in_plain_words():
    report = explain(fake_result(), SANDI, {"P1-1": 1, "P1-2": 2})
    assert [(line.target, line.label, line.score, line.level) for line in report.lines] == [
        ("P1", "Interview (P1)", 3.62, "B1+"), ("P3", "Long turn: a topic (P3)", 4.0, "B2"),
        ("P4", "Long turn: a diagram (P4)", None, None), ("P5", "Communication activity (P5)", None, None),
        ("overall", "Overall", None, None)]
    assert all(line.interval is None and line.scale == (2.0, 5.5) for line in report.lines)
    assert report.referral is None and report.level_name == "CEFR"
    assert [message.text for message in report.messages] == [
        ("Answer 2 to Interview (P1) is silent: nothing was recorded, or the microphone was muted. It was scored all "
         "the same, so its score means little."),
        "Long turn: a diagram (P4) has no answer, so it gets no score.",
        "Communication activity (P5) needs at least 1 answers to be scored, so it gets no score.",
        "There is no overall score: it needs a score for every part of the test.",
    ]
    assert [(m.reason, m.part, m.response_id) for m in report.messages][:2] == [
        ("silent", "P1", "P1-2"), ("no_response", "P4", None)]
    assert report.shown(4.0) == "4.00" and report.shown(None) == "not scored"


def test_intervals_and_referral_are_shown_when_the_result_has_them():
    result = fake_result(intervals={"P1": [3.2, 4.05], "P3": [3.5, 4.5]}, refer_to_examiner=True,
                         referral_reasons=["the interval of P1 is wide",
                                           {"reason": "silent", "detail": "a silent answer"}])
    report = explain(result, SANDI, {"P1-2": 2})
    assert {line.target: line.interval for line in report.lines} == {
        "P1": (3.2, 4.05), "P3": (3.5, 4.5), "P4": None, "P5": None, "overall": None}
    assert report.referral.refer is True
    assert report.referral.reasons == ("the interval of P1 is wide", "a silent answer")
    assert report.referral.text == ("Refer this session to a human examiner. Why: the interval of P1 is wide; a silent "
                                    "answer.")
    assert explain(fake_result(refer_to_examiner=False), SANDI).referral.text == (
        "No need to refer this session to a human examiner.")


def test_an_unknown_reason_shows_its_detail_and_other_formats_their_own_scales():
    result = {"session_id": "t", "test_format": "toefl-like",
              "scores": {"task1": 3.0, "task2": 2.0, "task3": 4.0, "task4": 1.0, "overall": 19.0},
              "levels": {"task1": "good", "task2": "fair", "task3": "excellent", "task4": "limited",
                         "overall": "Low-Intermediate"},
              "warnings": [{"response_id": "task2-1", "part": "task2", "reason": "new_check", "detail": "a new check"}]}
    report = explain(result, TOEFL, {"task2-1": 1})
    assert report.messages[0].text == "Answer 1 to Integrated: a campus situation (task2): a new check"
    scales = {line.target: line.scale for line in report.lines}
    assert scales["task1"] == (0.0, 4.0) and scales["overall"] == (0.0, 30.0)
    assert report.level_name == "level" and report.shown(19.0) == "19.00"
