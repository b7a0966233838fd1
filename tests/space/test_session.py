"""The answers a person gives become the pipeline's session: the format's part order, numbered answers, clear
refusals."""

import pytest

from modeling_sla import load_test_format
from sla_phi4.space.session import Answer, answers_from_request, build_session
from sla_phi4.space.words import SpaceInputError


SANDI = load_test_format("sandi2025")


def test_answers_are_ordered_by_part_and_numbered_within_it():
    answers = [Answer("P5", "c.wav"), Answer("P1", "a.wav", " Where do you live? "), Answer("P1", "b.wav", "  "),
               Answer("P3", "d.wav")]
    session = build_session(answers, SANDI, session_id="S1")
    assert session.inputs["session_id"] == "S1"
    assert session.inputs["responses"] == [
        {"response_id": "P1-1", "part": "P1", "audio": "a.wav", "question": "Where do you live?"},
        {"response_id": "P1-2", "part": "P1", "audio": "b.wav", "question": None},
        {"response_id": "P3-1", "part": "P3", "audio": "d.wav", "question": None},
        {"response_id": "P5-1", "part": "P5", "audio": "c.wav", "question": None},
    ]
    assert session.answer_numbers == {"P1-1": 1, "P1-2": 2, "P3-1": 1, "P5-1": 1}


def test_no_answers_and_unknown_parts_are_refused_in_words():
    with pytest.raises(SpaceInputError, match="at least one answer"):
        build_session([], SANDI)
    with pytest.raises(SpaceInputError, match="no part part1; its parts are P1, P3, P4, P5"):
        build_session([Answer("part1", "a.wav")], SANDI)


def test_an_api_request_pairs_each_response_with_its_audio():
    answers = answers_from_request([{"part": "P1", "question": "Why?"}, {"part": "P3"}], ["a.wav", "b.wav"])
    assert answers == [Answer("P1", "a.wav", "Why?"), Answer("P3", "b.wav", None)]
    with pytest.raises(SpaceInputError, match="2 answers were described but 1 audio files sent"):
        answers_from_request([{"part": "P1"}, {"part": "P3"}], ["a.wav"])
    with pytest.raises(SpaceInputError, match="Response 2 must be a dict with a \"part\""):
        answers_from_request([{"part": "P1"}, "P3"], ["a.wav", "b.wav"])
    assert answers_from_request(None, None) == []
