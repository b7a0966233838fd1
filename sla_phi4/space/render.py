"""The report as HTML for the app's page. Every value a test reads carries a data attribute (`data-target`,
`data-field`, `data-reason`), and every text is escaped."""

from html import escape

from .explain import Message, Report, ScoreLine
from .words import words


SCORES_ID, WARNINGS_ID, REFERRAL_ID = "sla-scores", "sla-warnings", "sla-referral"


def waiting_html() -> str:
    """What the results area says before anything is scored."""
    return f'<p class="sla-waiting">{escape(words()["waiting"])}</p>'


def score_row(line: ScoreLine, report: Report, with_intervals: bool) -> str:
    table = words()["table"]
    cells = [f"<td>{escape(line.label)}</td>",
             f'<td data-field="score">{escape(report.shown(line.score))}</td>',
             f'<td data-field="level">{escape(line.level or "")}</td>']
    if with_intervals:
        interval = "" if line.interval is None else table["interval_value"].format(
            low=report.shown(line.interval[0]), high=report.shown(line.interval[1]))
        cells.append(f'<td data-field="interval">{escape(interval)}</td>')
    scored = "scored" if line.score is not None else "not-scored"
    return f'<tr data-target="{escape(line.target)}" class="{scored}">{"".join(cells)}</tr>'


def scores_html(report: Report) -> str:
    """The scores table (with a likely-range column where the result has intervals), the scale, and the referral
    where the result has one."""
    table = words()["table"]
    with_intervals = any(line.interval is not None for line in report.lines)
    headers = [table["target"], table["score"], table["level"].format(level_name=report.level_name)]
    headers += [table["interval"]] if with_intervals else []
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    rows = "".join(score_row(line, report, with_intervals) for line in report.lines)
    low, high = next(line.scale for line in report.lines if line.target != "overall")
    html = (f'<table id="{SCORES_ID}" data-session="{escape(report.session_id)}" '
            f'data-format="{escape(report.test_format)}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
            f'<p class="sla-scale">{escape(table["scale"].format(low=f"{low:g}", high=f"{high:g}"))}</p>')
    if report.referral is not None:
        html += (f'<p id="{REFERRAL_ID}" data-refer="{str(report.referral.refer).lower()}">'
                 f'<strong>{escape(report.referral.text)}</strong></p>')
    return html


def message_item(message: Message) -> str:
    response = f' data-response="{escape(message.response_id)}"' if message.response_id else ""
    return (f'<li data-reason="{escape(message.reason)}" data-part="{escape(message.part)}"{response}>'
            f"{escape(message.text)}</li>")


def warnings_html(report: Report) -> str:
    """Every warning as a list item, or the sentence that there are none."""
    if not report.messages:
        return f'<p id="{WARNINGS_ID}" data-count="0">{escape(words()["no_warnings"])}</p>'
    items = "".join(message_item(message) for message in report.messages)
    return f'<ul id="{WARNINGS_ID}" data-count="{len(report.messages)}">{items}</ul>'
