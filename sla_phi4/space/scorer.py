"""A model's `spoken-language-assessment` pipeline, loaded through `trust_remote_code` from a folder or a Hub repo,
and scoring the answers a person gives."""

from dataclasses import dataclass

from transformers import pipeline

from .explain import Report, explain
from .session import Answer, build_session


TASK = "spoken-language-assessment"
DECIMALS = 2  # the pipeline's rounding, and the app's


@dataclass
class Scorer:
    """One model's pipeline, ready to score sessions.

    Args:
        model: the folder or Hub repo it was loaded from.
        pipeline: its `spoken-language-assessment` pipeline (the model's own code, `trust_remote_code`).
    """

    model: str
    pipeline: object

    @property
    def test_format(self):
        """The model's test format: its parts, scales and levels."""
        return self.pipeline.test_format

    def score(self, answers: list[Answer]) -> tuple[dict, Report]:
        """The pipeline's result for one session of `answers`, and its report in plain words."""
        session = build_session(answers, self.test_format)
        result = self.pipeline(session.inputs, decimals=DECIMALS)
        return result, explain(result, self.test_format, session.answer_numbers, DECIMALS)


def load_scorer(model: str) -> Scorer:
    """The scorer of a model folder or Hub repo saved with its pipeline (as `sla train` and `sla demo` save them)."""
    return Scorer(model, pipeline(TASK, model=model, trust_remote_code=True))
