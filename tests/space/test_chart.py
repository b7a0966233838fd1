"""The chart: a bar per part rising from the bottom of the format's scale, error bars from the intervals, overall
as a line where it shares the parts' scale."""

import io

from matplotlib.collections import LineCollection

from modeling_sla import load_test_format
from sla_phi4.space.chart import part_scores_chart
from sla_phi4.space.explain import explain


SANDI = load_test_format("sandi2025")
TOEFL = load_test_format("toefl-like")


def sandi_result(**extra) -> dict:
    return {"session_id": "s", "test_format": "sandi2025",
            "scores": {"P1": 3.5, "P3": 4.25, "P4": None, "P5": 2.0, "overall": 3.4},
            "levels": {"P1": "B1+", "P3": "B2", "P4": None, "P5": "A2", "overall": "B1+"}, "warnings": [], **extra}


def bars(figure):
    axes = figure.axes[0]
    return [(round(patch.get_y(), 6), round(patch.get_height(), 6)) for patch in axes.patches]


def test_bars_rise_from_the_bottom_of_the_scale_with_labels_and_overall_line():
    figure = part_scores_chart(explain(sandi_result(), SANDI))
    axes = figure.axes[0]
    assert bars(figure) == [(2.0, 1.5), (2.0, 2.25), (2.0, 0.0), (2.0, 0.0)]
    assert [label.get_text() for label in axes.get_xticklabels()] == ["P1", "P3", "P4", "P5"]
    assert [text.get_text() for text in axes.texts] == ["3.50 B1+", "4.25 B2", "not scored", "2.00 A2"]
    assert axes.get_ylim()[0] == 2.0 and axes.get_ylim()[1] > 5.5
    (overall,) = [line for line in axes.get_lines() if line.get_linestyle() == "--"]
    assert overall.get_ydata()[0] == 3.4 and overall.get_label() == "Overall 3.40"
    assert not any(isinstance(item, LineCollection) for item in axes.collections)  # no error bars without intervals
    png = io.BytesIO()
    figure.savefig(png, format="png")
    assert png.getvalue().startswith(b"\x89PNG")


def test_intervals_become_error_bars():
    figure = part_scores_chart(explain(sandi_result(intervals={"P1": [3.0, 4.25], "P3": [4.0, 4.5]}), SANDI))
    axes = figure.axes[0]
    (errors,) = [item for item in axes.collections if isinstance(item, LineCollection)]
    segments = [[tuple(point) for point in segment] for segment in errors.get_segments()]
    assert segments[:2] == [[(0.0, 3.0), (0.0, 4.25)], [(1.0, 4.0), (1.0, 4.5)]]
    assert "likely range" in axes.get_title()


def test_an_overall_on_its_own_scale_is_not_drawn_over_the_parts():
    result = {"session_id": "t", "test_format": "toefl-like",
              "scores": {"task1": 3.0, "task2": 2.0, "task3": 4.0, "task4": 1.0, "overall": 19.0},
              "levels": dict.fromkeys(("task1", "task2", "task3", "task4", "overall"), "x"), "warnings": []}
    axes = part_scores_chart(explain(result, TOEFL)).axes[0]
    assert bars(axes.figure) == [(0.0, 3.0), (0.0, 2.0), (0.0, 4.0), (0.0, 1.0)]
    assert not [line for line in axes.get_lines() if line.get_linestyle() == "--"]
    assert axes.get_ylim()[0] == 0.0 and 4.0 < axes.get_ylim()[1] < 5.0
