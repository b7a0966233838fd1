"""The app's Blocks, without a server: answer slots from the model's test format, and the page's and the API's
functions through the real Scorer, on a fake pipeline whose results carry intervals and a referral."""

import gradio as gr
import pytest
from matplotlib.figure import Figure

from modeling_sla import load_test_format
from sla_phi4.space.interface import API_NAME, AppSettings, build_app
from sla_phi4.space.scorer import Scorer


class FakePipeline:
    """Scores each answered part 3.0 (overall 3.0 once every part is answered), with intervals and a referral."""

    def __init__(self, test_format):
        self.test_format, self.calls = test_format, []

    def __call__(self, session, decimals):
        self.calls.append(session)
        answered = {response["part"] for response in session["responses"]}
        complete = answered == set(self.test_format.part_ids)
        scores = {name: 3.0 if name in answered or (name == "overall" and complete) else None
                  for name in self.test_format.score_names}
        return {"session_id": session["session_id"], "test_format": self.test_format.name, "scores": scores,
                "levels": {name: "x" if value is not None else None for name, value in scores.items()},
                "warnings": [], "intervals": {name: [2.5, 3.5] for name, value in scores.items() if value is not None},
                "refer_to_examiner": not complete, "referral_reasons": [] if complete else ["an incomplete session"]}


def app_for(format_name: str):
    test_format = load_test_format(format_name)
    fake = FakePipeline(test_format)
    return build_app(Scorer("fake", fake), AppSettings(model="fake-model", notice="A notice.")), fake


def audio_slots(app) -> list[str]:
    return [block.elem_id for block in app.blocks.values() if isinstance(block, gr.Audio)]


@pytest.mark.parametrize("format_name, slots", [
    ("sandi2025", ["P1-1", "P1-2", "P1-3", "P1-4", "P1-5", "P1-6", "P3-1", "P4-1", "P5-1", "P5-2", "P5-3", "P5-4",
                   "P5-5"]),
    ("ielts-like", [f"part1-{n}" for n in range(1, 9)] + ["part2-1"] + [f"part3-{n}" for n in range(1, 7)]),
    ("toefl-like", ["task1-1", "task2-1", "task3-1", "task4-1"]),
])
def test_a_slot_for_every_answer_each_part_takes(format_name, slots):
    app, _ = app_for(format_name)
    assert audio_slots(app) == [f"sla-audio-{slot}" for slot in slots]
    text = " ".join(block.value for block in app.blocks.values() if isinstance(block, gr.Markdown) and block.value)
    assert "fake-model" in text and "A notice." in text
    for part in load_test_format(format_name).parts:
        assert f"### {part.title} ({part.id})" in text


def function(app, private: bool):
    (found,) = [fn for fn in app.fns.values() if (fn.api_name == API_NAME) != private]
    return found.fn


def test_the_page_shows_intervals_and_the_referral(tmp_path):
    app, fake = app_for("toefl-like")
    values = ["t1.wav", "What do you prefer?", None, "", "t3.wav", None, None, None]  # task1 and task3 answered
    scores, chart, warnings = function(app, private=True)(*values)
    assert [response["part"] for response in fake.calls[-1]["responses"]] == ["task1", "task3"]
    assert fake.calls[-1]["responses"][0]["question"] == "What do you prefer?"
    assert "<th>Likely range</th>" in scores and '<td data-field="interval">2.50 to 3.50</td>' in scores
    assert 'data-refer="true"' in scores and "Why: an incomplete session." in scores
    assert isinstance(chart, Figure) and "likely range" in chart.axes[0].get_title()
    assert 'data-count="0"' in warnings
    with pytest.raises(gr.Error, match="at least one answer"):
        function(app, private=True)(*([None, ""] * 4))


def test_the_api_returns_the_result_with_its_messages():
    app, _ = app_for("toefl-like")
    score_session = function(app, private=False)
    result = score_session([{"part": part} for part in ("task1", "task2", "task3", "task4")],
                           ["a.wav", "b.wav", "c.wav", "d.wav"])
    assert result["scores"]["overall"] == 3.0 and result["refer_to_examiner"] is False
    assert result["intervals"]["task1"] == [2.5, 3.5] and result["messages"] == []
    with pytest.raises(gr.Error, match="no part P1"):
        score_session([{"part": "P1"}], ["a.wav"])


def test_a_client_mistake_is_one_line_in_the_server_log(caplog):
    app, _ = app_for("toefl-like")
    score_session = function(app, private=False)
    with caplog.at_level("WARNING", logger="sla_phi4.space.interface"):
        with pytest.raises(gr.Error) as error:
            score_session([{"part": "task1"}], ["a.wav", "b.wav"])
    assert error.value.print_exception is False  # gradio prints no traceback for it
    (record,) = [record for record in caplog.records if record.name == "sla_phi4.space.interface"]
    assert record.getMessage().startswith("refused a request: ") and "\n" not in record.getMessage()
    assert "2 audio files" in record.getMessage() and record.exc_info is None
