"""How the synthetic corpus speaks one test format: a plan per format (``resources/plan_<format>.json``) gives each
part's kind of question form, its question IDs and times, the learner model's marks on the format's scale, and how
sessions are made incomplete."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modeling_sla.test_format_sla import TestFormat, load_test_format
from sla_phi4.data.synthetic.kit import PART_OFFSET, read_json, resource


FORMS = ("interview", "topic", "diagram", "discussion")  # P1 topics, P3 statements, P4 processes, P5 themes
REAL_KIT = "real_kit"


@dataclass(frozen=True)
class PartPlan:
    """One part: its question form, question IDs (the answers a complete session has), and seconds allotted."""

    id: str
    form: str
    questions: tuple[str, ...]
    speaking_time: float
    thinking_time: float


@dataclass(frozen=True)
class Gaps:
    """Probabilities of a missing part (train split), a missing answer inside a part (every split) and an overall
    mark for a train session that misses a part."""

    part_missing: float
    answer_missing: float
    overall_without_all_parts: float


@dataclass(frozen=True)
class CorpusPlan:
    """Everything the generator needs to know about one test format."""

    test_format: TestFormat
    parts: tuple[PartPlan, ...]
    latent_mean: float
    latent_sd: float
    part_noise_sd: float
    part_offset: dict[str, float]
    gaps: Gaps | str  # REAL_KIT: the real S&I kit's rates (S&I only)

    @property
    def part_ids(self) -> list[str]:
        return [part.id for part in self.parts]

    def part(self, part_id: str) -> PartPlan:
        return self.parts[self.part_ids.index(part_id)]


def _error(path: Path, field: str, problem: str) -> ValueError:
    return ValueError(f"{path}: field {field}: {problem}")


def _part_plan(path: Path, index: int, entry: dict, test_format: TestFormat) -> PartPlan:
    where = f"parts[{index}]"
    expected = test_format.parts[index]
    if entry.get("id") != expected.id:
        raise _error(path, f"{where}.id", f"must be the format's part {expected.id!r} (the format's order)")
    if entry.get("form") not in FORMS:
        raise _error(path, f"{where}.form", f"must be one of {', '.join(FORMS)}, got {entry.get('form')!r}")
    questions = tuple(entry.get("questions") or ())
    if not expected.min_responses <= len(questions) <= expected.max_responses:
        raise _error(path, f"{where}.questions", f"{len(questions)} questions; the format takes "
                                                 f"{expected.min_responses}-{expected.max_responses} answers")
    for question in questions:
        if test_format.part_of_question(question) != expected.id:
            raise _error(path, f"{where}.questions", f"{question!r} does not start with the part's question prefix "
                                                     f"{expected.question_prefix!r}")
    return PartPlan(expected.id, entry["form"], questions, float(entry["speaking_time"]),
                    float(entry["thinking_time"]))


def load_plan(test_format: TestFormat | str = "sandi2025", path: str | Path | None = None) -> CorpusPlan:
    """The plan of a format (default: the package's ``resources/plan_<format name>.json``)."""
    test_format = load_test_format(test_format)
    path = Path(path) if path is not None else resource(f"plan_{test_format.name}.json")
    if not path.is_file():
        raise FileNotFoundError(f"No synthetic corpus plan for the {test_format.name} format ({path}); the package "
                                f"has plans for sandi2025, ielts-like and toefl-like.")
    data = read_json(path)
    if data.get("format") != test_format.name:
        raise _error(path, "format", f"is {data.get('format')!r}, not {test_format.name!r}")
    entries = data.get("parts") or []
    if len(entries) != len(test_format.parts):
        raise _error(path, "parts", f"{len(entries)} parts; the {test_format.name} format has "
                                    f"{len(test_format.parts)}")
    parts = tuple(_part_plan(path, index, entry, test_format) for index, entry in enumerate(entries))
    marks = data["marks"]
    offsets = PART_OFFSET if marks["part_offset"] == REAL_KIT else marks["part_offset"]
    missing = [part.id for part in parts if part.id not in offsets]
    if missing:
        raise _error(path, "marks.part_offset", f"no offset for {', '.join(missing)}")
    gaps = data["gaps"] if data["gaps"] == REAL_KIT else Gaps(**data["gaps"])
    if gaps == REAL_KIT and test_format.name != "sandi2025":
        raise _error(path, "gaps", "the real kit's rates are those of the S&I kit's parts")
    return CorpusPlan(test_format, parts, float(marks["latent_mean"]), float(marks["latent_sd"]),
                      float(marks["part_noise_sd"]), {part.id: float(offsets[part.id]) for part in parts}, gaps)


SANDI_PLAN = load_plan("sandi2025")
# The S&I kit's layout, as the generator speaks it (kept under these names for the S&I corpus's users).
PARTS = tuple(SANDI_PLAN.part_ids)
QUESTION_IDS = {part.id: part.questions for part in SANDI_PLAN.parts}
SPEAKING_TIME = {part.id: part.speaking_time for part in SANDI_PLAN.parts}
THINKING_TIME = {part.id: int(part.thinking_time) for part in SANDI_PLAN.parts}
