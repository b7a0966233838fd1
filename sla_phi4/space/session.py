"""The answers a person records or uploads, turned into a session for the `spoken-language-assessment` pipeline."""

from dataclasses import dataclass, field

from .words import input_error


@dataclass(frozen=True)
class Answer:
    """One recorded or uploaded answer.

    Args:
        part: the id of the test part it answers (`P1`).
        audio: the path of its audio file (WAV, FLAC or OGG; any sampling rate).
        question: the question asked, if the person typed it.
    """

    part: str
    audio: str
    question: str | None = None


@dataclass(frozen=True)
class Session:
    """A session ready for the pipeline, and how to name its answers to a person.

    Args:
        inputs: `{"session_id", "responses": [{"response_id", "part", "audio", "question"}]}`, the pipeline's input.
        answer_numbers: each response id's number among its part's answers (1 for the first answer to P1).
    """

    inputs: dict
    answer_numbers: dict[str, int] = field(default_factory=dict)


def part_label(part) -> str:
    """How a part is named to a person: its title and id (`Interview (P1)`)."""
    return f"{part.title} ({part.id})"


def build_session(answers: list[Answer], test_format, session_id: str = "demo") -> Session:
    """The pipeline's session for `answers`, in the format's part order (answers to one part keep their order).

    Each response is named `<part>-<number>` (`P1-2`: the second answer to P1). A part the format lacks, or no answers
    at all, raise SpaceInputError; too many answers to a part are left to the processor, which names the part and the
    format's limit.
    """
    if not answers:
        raise input_error("no_answers")
    order = [part.id for part in test_format.parts]
    for answer in answers:
        if answer.part not in order:
            raise input_error("unknown_part", part=answer.part, parts=", ".join(order))
    responses, numbers = [], {}
    for answer in sorted(answers, key=lambda answer: order.index(answer.part)):
        number = sum(1 for response in responses if response["part"] == answer.part) + 1
        response_id = f"{answer.part}-{number}"
        question = (answer.question or "").strip() or None
        responses.append({"response_id": response_id, "part": answer.part, "audio": answer.audio, "question": question})
        numbers[response_id] = number
    return Session({"session_id": session_id, "responses": responses}, numbers)


def answers_from_request(responses: list, audio: list[str]) -> list[Answer]:
    """The answers of an API request: `responses` (`[{"part", "question"?}]`, in order) and one audio file each."""
    responses, audio = list(responses or []), list(audio or [])
    if len(responses) != len(audio):
        raise input_error("audio_count", answers=len(responses), files=len(audio))
    answers = []
    for number, (response, path) in enumerate(zip(responses, audio), start=1):
        if not isinstance(response, dict) or not isinstance(response.get("part"), str):
            raise input_error("response_shape", number=number, value=repr(response)[:80])
        answers.append(Answer(response["part"], path, response.get("question")))
    return answers
