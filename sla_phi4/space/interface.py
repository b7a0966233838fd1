"""The Gradio app: a group of answers for each part of the model's test format, the scores with their levels (and
intervals and referral where the model gives them), a chart, every warning in plain words, and the scoring API
`/score_session` for `gradio_client`."""

import logging
from contextlib import contextmanager
from dataclasses import dataclass

import gradio as gr

from .chart import part_scores_chart
from .render import scores_html, waiting_html, warnings_html
from .scorer import Scorer
from .session import Answer, answers_from_request
from .words import words


LOG = logging.getLogger(__name__)
API_NAME = "score_session"
HOST = "127.0.0.1"
# System fonts only: the page loads nothing from outside the machine it is served from.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "monospace"])
CSS = """
#sla-scores { border-collapse: collapse; width: 100%; }
#sla-scores th, #sla-scores td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; }
#sla-scores tr.not-scored td { color: #888; }
#sla-referral { margin-top: 8px; }
"""


@dataclass(frozen=True)
class AppSettings:
    """What the page says about its model.

    Args:
        model: the model's name as shown (its folder or Hub repo).
        notice: a sentence shown under the title (for example, that a random tiny model's scores mean nothing).
    """

    model: str
    notice: str | None = None


@dataclass(frozen=True)
class AnswerSlot:
    """One place for an answer to a part: its audio (recorded or uploaded) and the question, if typed."""

    part: str
    audio: gr.Audio
    question: gr.Textbox


def intro_markdown(scorer: Scorer, settings: AppSettings) -> str:
    test_format, ui = scorer.test_format, words()["ui"]
    text = f"# {ui['title']}\n" + ui["intro"].format(
        model=settings.model, test=test_format.title, format=test_format.name, low=test_format.scale.min,
        high=test_format.scale.max, level_name=test_format.level_name)
    return text + (f"\n\n**{settings.notice}**" if settings.notice else "")


def part_heading(part) -> str:
    ui = words()["ui"]
    answers = ui["answers_one"] if part.max_responses == 1 else ui["answers_range"].format(
        min=part.min_responses, max=part.max_responses)
    return ui["part_heading"].format(title=part.title, id=part.id, description=part.description[:1].upper()
                                     + part.description[1:], answers=answers)


def answer_slot(part, number: int) -> AnswerSlot:
    """The audio input (microphone or upload) and question box of answer `number` to `part`."""
    ui, key = words()["ui"], f"{part.id}-{number}"
    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", format=None,
                     label=ui["answer"].format(number=number), elem_id=f"sla-audio-{key}")
    question = gr.Textbox(label=ui["question"], lines=1, elem_id=f"sla-question-{key}")
    return AnswerSlot(part.id, audio, question)


def part_slots(part) -> list[AnswerSlot]:
    """A part's answer slots: the first one shown, the others (up to `max_responses`) in a closed accordion."""
    gr.Markdown(part_heading(part))
    slots = [answer_slot(part, 1)]
    if part.max_responses > 1:
        with gr.Accordion(words()["ui"]["more_answers"].format(id=part.id, max=part.max_responses), open=False):
            slots += [answer_slot(part, number) for number in range(2, part.max_responses + 1)]
    return slots


def answers_from_slots(slots: list[AnswerSlot], values: tuple) -> list[Answer]:
    """The answers given in the slots (`values`: each slot's audio then question); slots without audio are left
    out."""
    answers = []
    for index, slot in enumerate(slots):
        audio, question = values[2 * index], values[2 * index + 1]
        if audio:
            answers.append(Answer(slot.part, audio, question or None))
    return answers


@contextmanager
def refusals_shown():
    """Input the app or the model refuses becomes an error shown to the person (the processor's and the pipeline's
    messages name the answer and what is wrong), and one line in the server's log: a client's mistake is no fault of
    the server, so no traceback."""
    try:
        yield
    except ValueError as error:  # SpaceInputError, and the processor's and pipeline's refusals
        LOG.warning("refused a request: %s", one_line_message(error))
        raise gr.Error(str(error), print_exception=False) from error


def one_line_message(error: BaseException) -> str:
    """An error's message on one line, for the log."""
    return " ".join(str(error).split()) or type(error).__name__


def build_app(scorer: Scorer, settings: AppSettings) -> gr.Blocks:
    """The app for `scorer`'s model: its parts come from the model's test format."""
    ui = words()["ui"]
    with gr.Blocks(title=f"{ui['title']}: {settings.model}", analytics_enabled=False) as app:
        gr.Markdown(intro_markdown(scorer, settings))
        with gr.Row():
            with gr.Column(scale=3):
                slots = []
                for part in scorer.test_format.parts:
                    with gr.Group():
                        slots += part_slots(part)
                button = gr.Button(ui["score_button"], variant="primary", elem_id="sla-score-button")
            with gr.Column(scale=2):
                gr.Markdown(f"### {ui['scores']}")
                scores = gr.HTML(waiting_html(), elem_id="sla-scores-panel")
                chart = gr.Plot(label=ui["chart"], format="png", elem_id="sla-chart")
                gr.Markdown(f"### {ui['warnings']}")
                warnings = gr.HTML("", elem_id="sla-warnings-panel")

        def score_page(*values):
            with refusals_shown():
                _, report = scorer.score(answers_from_slots(slots, values))
            return scores_html(report), part_scores_chart(report), warnings_html(report)

        inputs = [component for slot in slots for component in (slot.audio, slot.question)]
        button.click(score_page, inputs, [scores, chart, warnings], api_visibility="private")
        add_scoring_api(scorer)
    return app


def add_scoring_api(scorer: Scorer) -> None:
    """The `/score_session` endpoint: a session as a list of answers and one audio file each (hidden components)."""
    ui = words()["ui"]
    with gr.Group(visible=False):
        responses = gr.JSON(label="responses")
        audio = gr.File(file_count="multiple", type="filepath", label="audio")
        result = gr.JSON(label="result")
        trigger = gr.Button()

    def score_session(responses, audio):
        with refusals_shown():
            output, report = scorer.score(answers_from_request(responses, audio))
        return {**output, "messages": [message.text for message in report.messages]}

    trigger.click(score_session, [responses, audio], result, api_name=API_NAME, api_description=ui["api"])


def launch_options() -> dict:
    """`launch()` arguments every copy of the app uses: the theme (system fonts) and the table's style."""
    return {"theme": THEME, "css": CSS}
