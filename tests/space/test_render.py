"""The report as HTML: a row per target with data attributes, a likely-range column only with intervals, the
referral, every warning as an item, and nothing unescaped."""

import re
from html.parser import HTMLParser

from modeling_sla import load_test_format
from sla_phi4.space.explain import explain
from sla_phi4.space.render import scores_html, waiting_html, warnings_html


SANDI = load_test_format("sandi2025")


class Cells(HTMLParser):
    """The text of every element with a data-field or data-reason attribute, by the row's target."""

    def __init__(self):
        super().__init__()
        self.rows, self.items, self.target, self.field, self.reason = {}, [], None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-target" in attrs:
            self.target = attrs["data-target"]
            self.rows[self.target] = {}
        self.field = attrs.get("data-field", self.field if tag not in ("td", "li") else None)
        if tag == "li":
            self.reason = attrs["data-reason"]
            self.items.append([self.reason, attrs["data-part"], attrs.get("data-response"), ""])

    def handle_data(self, data):
        if self.field and self.target:
            self.rows[self.target][self.field] = self.rows[self.target].get(self.field, "") + data
        if self.reason:
            self.items[-1][3] += data

    def handle_endtag(self, tag):
        if tag in ("td", "li"):
            self.field = self.reason = None


def parsed(html: str) -> Cells:
    cells = Cells()
    cells.feed(html)
    return cells


def result(**extra) -> dict:
    return {"session_id": "demo", "test_format": "sandi2025",
            "scores": {"P1": 3.6, "P3": 4.0, "P4": 2.5, "P5": None, "overall": None},
            "levels": {"P1": "B1+", "P3": "B2", "P4": "A2+", "P5": None, "overall": None},
            "warnings": [{"response_id": "P4-1", "part": "P4", "reason": "clipped", "detail": "3 %"},
                         {"response_id": None, "part": "P5", "reason": "no_response", "detail": "-"},
                         {"response_id": None, "part": "overall", "reason": "partial_session", "detail": "-"}],
            **extra}


def test_scores_table_has_a_row_per_target_with_its_fields():
    html = scores_html(explain(result(), SANDI, {"P4-1": 1}))
    assert parsed(html).rows == {
        "P1": {"score": "3.60", "level": "B1+"}, "P3": {"score": "4.00", "level": "B2"},
        "P4": {"score": "2.50", "level": "A2+"}, "P5": {"score": "not scored"}, "overall": {"score": "not scored"}}
    assert "<th>CEFR level</th>" in html and "Likely range" not in html and "sla-referral" not in html
    assert 'data-target="P5" class="not-scored"' in html
    assert "Parts are scored from 2 to 5.5." in html


def test_intervals_get_their_column_and_the_referral_its_line():
    report = explain(result(intervals={"P1": [3.1, 4.12]}, refer_to_examiner=True, referral_reasons=["wide"]), SANDI)
    html = scores_html(report)
    rows = parsed(html).rows
    assert rows["P1"]["interval"] == "3.10 to 4.12" and rows["P3"].get("interval") is None
    assert "<th>Likely range</th>" in html
    assert re.search(r'<p id="sla-referral" data-refer="true"><strong>Refer this session to a human examiner\. '
                     r'Why: wide\.</strong></p>', html)


def test_warnings_are_items_with_their_reason_part_and_answer():
    report = explain(result(), SANDI, {"P4-1": 1})
    items = parsed(warnings_html(report)).items
    assert [item[:3] for item in items] == [["clipped", "P4", "P4-1"], ["no_response", "P5", None],
                                            ["partial_session", "overall", None]]
    assert [item[3] for item in items] == [message.text for message in report.messages]
    assert 'data-count="3"' in warnings_html(report)
    clean = explain({**result(), "warnings": []}, SANDI)
    assert warnings_html(clean) == ('<p id="sla-warnings" data-count="0">No warnings: every answer could be '
                                    'assessed.</p>')
    assert "press Score" in waiting_html()


def test_text_from_the_result_is_escaped():
    hostile = result(warnings=[{"response_id": None, "part": "P1", "reason": "<script>", "detail": "<b>x</b>"}],
                     refer_to_examiner=True, referral_reasons=["<img src=x>"])
    report = explain(hostile, SANDI)
    html = scores_html(report) + warnings_html(report)
    assert "<script>" not in html and "<b>" not in html and "<img" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "&lt;img src=x&gt;" in html
