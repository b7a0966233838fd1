"""Sessions with responses taken out: their IDs, order and marks, and the random and per-part choices."""

import numpy as np
import pytest

from sla_phi4.data.session_truncation import (
    part_positions, random_positions, whole_session_id, without_responses,
)


def session(parts=("P1", "P1", "P3", "P4", "P5", "P5")) -> dict:
    return {"session_id": "S1", "P1": 4.0, "P3": 3.5, "P4": None, "P5": 4.5, "overall": 4.0,
            "responses": [{"response_id": f"S1-{part}{index}", "part": part, "audio": f"{index}.flac"}
                          for index, part in enumerate(parts)]}


def test_taking_responses_out_keeps_order_and_marks_and_names_what_went():
    row = session()
    truncated = without_responses(row, [4, 1])
    assert [r["response_id"] for r in truncated["responses"]] == ["S1-P10", "S1-P32", "S1-P43", "S1-P55"]
    assert truncated["session_id"] == "S1~without~S1-P11+S1-P54"
    assert whole_session_id(truncated["session_id"]) == "S1" and whole_session_id("S1") == "S1"
    assert {key: truncated[key] for key in ("P1", "P3", "P4", "P5", "overall")} == {
        key: row[key] for key in ("P1", "P3", "P4", "P5", "overall")}
    assert len(row["responses"]) == 6  # the whole session is left as it was


def test_taking_nothing_out_is_the_session_itself_and_all_is_refused():
    row = session()
    assert without_responses(row, []) is row
    with pytest.raises(ValueError, match="cannot take out all 6"):
        without_responses(row, range(6))
    with pytest.raises(IndexError):
        without_responses(row, [6])


def test_distinct_truncations_get_distinct_ids():
    row = session()
    ids = {without_responses(row, [position])["session_id"] for position in range(6)}
    assert len(ids) == 6


def test_random_positions_draw_from_every_part_and_follow_the_generator():
    row = session()
    drawn = [random_positions(row, 2, np.random.default_rng([0, i])) for i in range(200)]
    assert all(len(set(positions)) == 2 for positions in drawn)
    assert {position for positions in drawn for position in positions} == set(range(6))  # every part eligible
    again = [random_positions(row, 2, np.random.default_rng([0, i])) for i in range(200)]
    assert drawn == again
    with pytest.raises(ValueError, match="keep one"):
        random_positions(session(("P1", "P3")), 2, np.random.default_rng(0))


def test_part_positions():
    row = session()
    assert part_positions(row, "P1") == [0, 1] and part_positions(row, "P5") == [4, 5]
    assert part_positions(row, "P2") == []
