"""The truncation study's sessions and rules: which responses each condition takes out, what a truncated session gets
reported (lost parts: no score, with a warning, as for any missing part), and how that is counted."""

import numpy as np
import pytest

from modeling_sla.pipeline_sla import save_pretrained_with_pipeline
from sla_phi4.data.session_truncation import whole_session_id
from sla_phi4.experiments.studies.truncated_eval import (
    conditions, distinct_sessions, draw_metrics, lost_targets, mean_over_draws, pipeline_check, reporting,
)
from sla_phi4.testing import make_session


NAMES = ["P1", "P3", "P4", "P5", "overall"]
FULL = [("P1", 0.6), ("P1", 0.7), ("P1", 0.5), ("P3", 1.2), ("P4", 1.1), ("P5", 0.6), ("P5", 0.8)]


def marked(session: dict, value: float = 4.0) -> dict:
    return {**session, **dict.fromkeys(NAMES, value)}


def rows(count: int = 4) -> list[dict]:
    return [marked(make_session(f"S{index}", FULL, seed=index)) for index in range(count)]


def test_conditions_take_out_what_they_say_with_the_same_draws_every_time():
    sessions = rows() + [marked(make_session("only-p1", [("P1", 0.5), ("P1", 0.6)]))]
    found = {condition.name: condition for condition in conditions(sessions, draws=3)}
    assert list(found) == ["whole sessions", "1 dropped", "2 dropped", "without P1", "without P3", "without P4",
                           "without P5"]
    assert found["whole sessions"].draws == [sessions]
    for count in (1, 2):
        assert len(found[f"{count} dropped"].draws) == 3
        for draw in found[f"{count} dropped"].draws:
            assert [len(s["responses"]) for s in draw] == [  # only-p1 cannot lose 2 and keep one: left out
                len(s["responses"]) - count for s in sessions if len(s["responses"]) > count]
    assert found["1 dropped"].draws[0] != found["1 dropped"].draws[1]  # draws differ
    again = {condition.name: condition for condition in conditions(sessions, draws=3)}
    assert [[s["session_id"] for s in d] for d in again["2 dropped"].draws] == [
        [s["session_id"] for s in d] for d in found["2 dropped"].draws]
    for part in ("P1", "P3", "P4", "P5"):
        kept = found[f"without {part}"].draws[0]
        assert all(part not in {r["part"] for r in s["responses"]} for s in kept)
    # a session of P1 alone cannot lose P1 and keep a response: it is left out of that condition only
    assert [whole_session_id(s["session_id"]) for s in found["without P1"].draws[0]] == ["S0", "S1", "S2", "S3"]
    assert len(found["without P3"].draws[0]) == 5
    assert len(distinct_sessions(list(found.values()))) > len(sessions)


def test_lost_parts_and_overall_are_not_reported_and_get_a_warning():
    session = rows(1)[0]
    flags = {"S0": [{"response_id": "S0-P33", "part": "P3", "reason": "silent", "detail": "x"},
                    {"response_id": "S0-P55", "part": "P5", "reason": "clipped", "detail": "y"}]}
    found = {condition.name: condition for condition in conditions([session], draws=1)}
    without_p3 = found["without P3"].draws[0]
    mask, warnings = reporting(NAMES, without_p3, flags)
    assert mask.tolist() == [[True, False, True, True, False]]
    assert [(w["part"], w["reason"]) for w in warnings[0]] == [
        ("P5", "clipped"), ("P3", "no_response"), ("overall", "partial_session")]  # P3's flag left with its response
    assert lost_targets(without_p3[0]) == ["P3", "overall"] and lost_targets(session) == []
    whole_mask, whole_warnings = reporting(NAMES, [session], flags)
    assert whole_mask.all() and len(whole_warnings[0]) == 2


def test_draw_metrics_count_lost_targets_and_score_only_what_is_reported():
    references = np.array([[4.0, 3.0, 5.0, 4.0, 4.0], [3.0, 3.0, 3.0, 3.0, 3.0], [5.0, 4.0, 4.0, 4.0, 4.5]])
    predictions = references + np.array([[0.5, 0.0, 0.0, 0.0, 0.1], [0.5, 2.0, 0.0, 0.0, 0.3], [0.5, 0.0, 0.0, 0.0, 0.2]])
    mask = np.array([[1, 1, 1, 1, 1], [1, 0, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=bool)
    warnings = [[], [{"response_id": None, "part": "P3"}, {"response_id": None, "part": "overall"}], []]
    metrics = draw_metrics(predictions, references, mask, warnings, NAMES)
    assert metrics["reported"]["P3"] == pytest.approx(0.0)  # the lost session's error of 2 is not counted
    assert metrics["raw"]["P3"] == pytest.approx(np.sqrt(4 / 3))
    assert metrics["lost"]["P3"] == {"sessions": 1, "warned": 1, "raw_rmse": None}  # one session: no RMSE
    assert metrics["reported"]["overall"] == pytest.approx(np.sqrt((0.01 + 0.04) / 2))
    assert metrics["lost"]["P1"]["sessions"] == 0
    unwarned = draw_metrics(predictions, references, mask, [[], [], []], NAMES)
    assert unwarned["lost"]["P3"]["warned"] == 0
    averaged = mean_over_draws([metrics, unwarned])
    assert averaged["lost"]["P3"] == {"sessions": 2, "warned": 1, "raw_rmse": None}
    assert averaged["raw"]["P1"] == pytest.approx(0.5)
    assert averaged["draw_sd"]["reported"]["P1"] == pytest.approx(0.0)  # the same RMSE in both draws
    shifted = {**unwarned, "raw": {**unwarned["raw"], "P1": unwarned["raw"]["P1"] + 0.2}}
    assert mean_over_draws([metrics, shifted])["draw_sd"]["raw"]["P1"] == pytest.approx(0.2 / np.sqrt(2))
    assert mean_over_draws([metrics])["draw_sd"]["raw"]["P1"] is None


def test_the_pipeline_reports_no_score_and_a_warning_for_every_part_a_session_lost(tiny_model, tiny_processor,
                                                                                    tmp_path):
    folder = save_pretrained_with_pipeline(tiny_model, tiny_processor, tmp_path / "model")
    checks = pipeline_check(str(folder), conditions(rows(2), draws=2))
    by_condition = {check["condition"]: check for check in checks}
    for part in ("P1", "P3", "P4", "P5"):
        check = by_condition[f"without {part}"]
        assert check["lost"] == [part, "overall"] and check["ok"], check
        assert check["scores"] == {part: None, "overall": None}
        assert [(w["part"], w["reason"]) for w in check["warnings"]] == [
            (part, "no_response"), ("overall", "partial_session")]
    assert all(check["ok"] for check in checks)
