"""A speaking test's format as data: its parts, scale, levels, overall rule and kit layout.

A format is one JSON file (`test_format.json`, schema in `test_formats/test_format.schema.json`); a checkpoint
carries its own beside `config.json` and inside it (`config.test_format`), so a loaded model knows its parts and
scale wherever it is loaded. The package ships `sandi2025` (Speak & Improve 2025, the default), `ielts-like` and
`toefl-like` in `test_formats/`.

A model's targets are the parts, in the format's order, then `overall` unless the format has none. Every score
the model outputs is on its target's scale (an overall with a scale of its own, such as 0-30 over parts of 0-4, is
the parts' scale mapped linearly onto it).
"""

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path


FORMAT_FILE = "test_format.json"
OVERALL = "overall"
OVERALL_RULES = ("mean", "weighted", "own_mark")
ROUNDING_RULES = ("step",)
BUILT_IN_FOLDER = Path(__file__).with_name("test_formats")
DEFAULT_FORMAT = "sandi2025"
# Keys starting with these are comments and references (`_doc`, `_source`, `$schema`), ignored when reading.
COMMENT_PREFIXES = ("_", "$")
_TOLERANCE = 1e-9


class TestFormatError(ValueError):
    """A malformed test format; the message names the format's source and the field."""

    __test__ = False  # not a pytest test class


# ------------------------------------------------------------------------------------------------ reading fields
class _Fields:
    """Reads one JSON object of a format, naming `source` and the field's path in every error."""

    def __init__(self, value, path: str, source: str, allowed: tuple[str, ...]):
        self.source, self.path = source, path
        if not isinstance(value, dict):
            raise self.error(path, f"must be an object, got {type(value).__name__}")
        unknown = [key for key in value if not key.startswith(COMMENT_PREFIXES) and key not in allowed]
        if unknown:
            raise self.error(self.join(unknown[0]), f"unknown field; expected one of {', '.join(allowed)}")
        self.value = value

    def error(self, path: str, problem: str) -> TestFormatError:
        return TestFormatError(f"Test format {self.source}: field {path}: {problem}.")

    def join(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, kinds: tuple[type, ...], required: bool = True, default=None):
        if key not in self.value or (not required and self.value[key] is None):
            if required:
                raise self.error(self.join(key), "missing")
            return default
        value = self.value[key]
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            expected = _KIND_NAMES[kinds] if kinds in _KIND_NAMES else " or ".join(kind.__name__ for kind in kinds)
            raise self.error(self.join(key), f"must be {expected}, got {json.dumps(value, allow_nan=False)}")
        return value

    def text(self, key: str, required: bool = True, default: str | None = None) -> str | None:
        value = self.get(key, (str,), required, default)
        if required and not str(value).strip():
            raise self.error(self.join(key), "must not be empty")
        return value

    def number(self, key: str, required: bool = True, default: float | None = None) -> float | None:
        value = self.get(key, (int, float), required, default)
        if value is not None and not math.isfinite(value):
            raise self.error(self.join(key), f"must be a finite number, got {value}")
        return None if value is None else float(value)

    def count(self, key: str) -> int:
        value = self.get(key, (int,))
        if value < 0:
            raise self.error(self.join(key), f"must be a whole number of at least 0, got {value}")
        return value

    def items(self, key: str, required: bool = True) -> list:
        value = self.get(key, (list,), required, [])
        if required and not value:
            raise self.error(self.join(key), "must not be empty")
        return value

    def child(self, key, value, allowed: tuple[str, ...]) -> "_Fields":
        return _Fields(value, self.join(key), self.source, allowed)

    def element(self, key: str, index: int, value, allowed: tuple[str, ...]) -> "_Fields":
        """The fields of item `index` of the list `key`."""
        return _Fields(value, f"{self.join(key)}[{index}]", self.source, allowed)


_KIND_NAMES = {(str,): "a string", (int,): "a whole number", (int, float): "a number", (list,): "a list",
               (dict,): "an object"}


# ---------------------------------------------------------------------------------------------------- the parts
@dataclass(frozen=True)
class Scale:
    """Marks from `min` to `max` in bands `step` apart (S&I: 2.0-5.5 in half bands)."""

    min: float
    max: float
    step: float

    @classmethod
    def read(cls, fields: _Fields) -> "Scale":
        scale = cls(fields.number("min"), fields.number("max"), fields.number("step"))
        if scale.step <= 0:
            raise fields.error(fields.join("step"), f"must be positive, got {scale.step:g}")
        if scale.max <= scale.min:
            raise fields.error(fields.join("max"), f"must be above min ({scale.min:g}), got {scale.max:g}")
        bands = (scale.max - scale.min) / scale.step
        if abs(bands - round(bands)) > 1e-6:
            raise fields.error(fields.join("step"), f"must divide max - min ({scale.max - scale.min:g}) into whole "
                                                    f"bands, got {scale.step:g}")
        return scale

    @property
    def num_bands(self) -> int:
        return round((self.max - self.min) / self.step) + 1

    @property
    def bands(self) -> list[float]:
        """Every band's mark, lowest first."""
        return [self.min + index * self.step for index in range(self.num_bands)]

    @property
    def within(self) -> tuple[float, float]:
        """The agreement thresholds of the metrics: one and two bands (S&I: 0.5 and 1.0)."""
        return (self.step, 2 * self.step)

    def clip(self, score: float) -> float:
        """`score` clipped to the scale; raises ValueError on NaN or infinite scores."""
        score = float(score)
        if not math.isfinite(score):
            raise ValueError(f"The model returned a non-finite score ({score}).")
        return min(max(score, self.min), self.max)

    def band_index(self, score: float) -> int:
        """Index of the nearest band of the clipped score; ties go up (3.75 on the S&I scale is 4.0)."""
        index = math.floor((self.clip(score) - self.min) / self.step + 0.5 + _TOLERANCE)
        return min(max(index, 0), self.num_bands - 1)

    def nearest_band(self, score: float) -> float:
        return self.bands[self.band_index(score)]

    def contains(self, mark: float) -> bool:
        return self.min - _TOLERANCE <= mark <= self.max + _TOLERANCE

    def to_dict(self) -> dict:
        return {"min": self.min, "max": self.max, "step": self.step}


@dataclass(frozen=True)
class Level:
    """The label of the bands from `start` up to the next level's start."""

    start: float
    label: str

    def to_dict(self) -> dict:
        return {"from": self.start, "label": self.label}


def _read_levels(fields: _Fields, key: str, scale: Scale) -> tuple[Level, ...]:
    levels = []
    for index, entry in enumerate(fields.items(key)):
        level_fields = fields.element(key, index, entry, ("from", "label"))
        start, label = level_fields.number("from"), level_fields.text("label")
        where = level_fields.join("from")
        if not scale.contains(start) or abs(scale.nearest_band(start) - start) > 1e-6:
            raise fields.error(where, f"must be a band of the scale {scale.min:g}-{scale.max:g} (step "
                                      f"{scale.step:g}), got {start:g}")
        if index == 0 and abs(start - scale.min) > 1e-6:
            raise fields.error(where, f"the first level must start at the scale's min ({scale.min:g}), got {start:g}")
        if levels and start <= levels[-1].start:
            raise fields.error(where, f"levels must rise; {start:g} follows {levels[-1].start:g}")
        levels.append(Level(start, label))
    return tuple(levels)


def level_of(levels: tuple[Level, ...], scale: Scale, score: float) -> str:
    """The label of the nearest band of `score` (clipped to `scale` first; ties go up)."""
    band = scale.nearest_band(score)
    return [level for level in levels if level.start <= band + 1e-6][-1].label


@dataclass(frozen=True)
class Part:
    """One part of the test, and how many answers it takes."""

    id: str
    title: str
    description: str  # what the session template tells the model about the part
    min_responses: int  # fewer answers than this and the part gets no score
    max_responses: int  # more answers than this and the session is refused
    question_prefix: str  # kit layout: question IDs of this part start with it
    min_speech_seconds: float | None = None  # assessability: the least speech an answer needs (None: the processor's)
    expected_seconds: float | None = None  # how long one answer is meant to last (a far longer one is `too_long`)

    @classmethod
    def read(cls, fields: _Fields) -> "Part":
        part_id = fields.text("id")
        if not part_id.replace("_", "").isalnum() or part_id == OVERALL:
            raise fields.error(fields.join("id"), f"must be letters, digits and '_' (and not {OVERALL!r}), got "
                                                  f"{part_id!r}")
        part = cls(part_id, fields.text("title"), fields.text("description"), fields.count("min_responses"),
                   fields.count("max_responses"), fields.text("question_prefix", required=False, default=part_id),
                   fields.number("min_speech_seconds", required=False),
                   fields.number("expected_seconds", required=False))
        for key in ("min_speech_seconds", "expected_seconds"):
            if getattr(part, key) is not None and getattr(part, key) <= 0:
                raise fields.error(fields.join(key), f"must be positive, got {getattr(part, key):g}")
        if part.min_responses < 1:
            raise fields.error(fields.join("min_responses"), f"must be at least 1, got {part.min_responses}")
        if part.max_responses < part.min_responses:
            raise fields.error(fields.join("max_responses"), f"must be at least min_responses "
                                                             f"({part.min_responses}), got {part.max_responses}")
        if not part.question_prefix.replace("_", "").isalnum():
            raise fields.error(fields.join("question_prefix"), "must be letters, digits and '_'")
        return part

    def to_dict(self) -> dict:
        out = {"id": self.id, "title": self.title, "description": self.description,
               "min_responses": self.min_responses, "max_responses": self.max_responses,
               "question_prefix": self.question_prefix}
        for key in ("min_speech_seconds", "expected_seconds"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True)
class Overall:
    """How the overall mark is formed from the parts (`mean`, `weighted` by `weights`) or given by raters
    (`own_mark`); rounded to its scale's bands (`round="step"`) or not (None); on the parts' scale unless it has its
    own (`scale` and `levels`: the parts' scale is mapped linearly onto it)."""

    rule: str
    weights: dict[str, float] | None = None
    round: str | None = None
    scale: Scale | None = None
    levels: tuple[Level, ...] | None = None

    def to_dict(self) -> dict:
        out = {"rule": self.rule}
        if self.weights is not None:
            out["weights"] = dict(self.weights)
        out["round"] = self.round
        if self.scale is not None:
            out["scale"] = self.scale.to_dict()
            out["levels"] = [level.to_dict() for level in self.levels]
        return out


def _read_overall(fields: _Fields, part_ids: list[str]) -> Overall | None:
    value = fields.value.get("overall", "missing")
    if value == "missing":
        raise fields.error("overall", "missing (null for a test without an overall mark)")
    if value is None:
        return None
    overall = fields.child("overall", value, ("rule", "weights", "round", "scale", "levels"))
    rule = overall.text("rule")
    if rule not in OVERALL_RULES:
        raise overall.error(overall.join("rule"), f"must be one of {', '.join(OVERALL_RULES)}, got {rule!r}")
    weights = None
    if rule == "weighted":
        raw = overall.get("weights", (dict,))
        weight_fields = overall.child("weights", raw, tuple(part_ids))
        weights = {part: weight_fields.number(part) for part in part_ids}
        for part, weight in weights.items():
            if weight <= 0:
                raise overall.error(weight_fields.join(part), f"must be positive, got {weight:g}")
    elif "weights" in overall.value:
        raise overall.error(overall.join("weights"), f"only the 'weighted' rule takes weights (rule is {rule!r})")
    rounding = overall.text("round", required=False)
    if rounding is not None and rounding not in ROUNDING_RULES:
        raise overall.error(overall.join("round"), f"must be null or one of {', '.join(ROUNDING_RULES)}, got "
                                                   f"{rounding!r}")
    scale = levels = None
    if overall.value.get("scale") is not None:
        scale = Scale.read(overall.child("scale", overall.value["scale"], ("min", "max", "step")))
        levels = _read_levels(overall, "levels", scale)
    elif overall.value.get("levels") is not None:
        raise overall.error(overall.join("levels"), "levels of their own need a scale of its own (overall.scale)")
    return Overall(rule, weights, rounding, scale, levels)


@dataclass(frozen=True)
class KitLayout:
    """Where a kit-layout corpus keeps its lists, marks and annotations (`{split}` and `{target}` are filled in;
    paths relative to the corpus root), which question IDs belong to parts that are not scored, and the range a mark
    may have (the target's scale when not given)."""

    file_lists: str = "reference-materials/flists.flac/{split}-sla-{target}.tsv"
    marks: str = "reference-materials/sla-marks/{split}-sla-{target}.tsv"
    annotations: str = "reference-materials/annotations"
    unscored_question_prefixes: tuple[str, ...] = ()
    mark_range: tuple[float, float] | None = None

    @classmethod
    def read(cls, fields: _Fields) -> "KitLayout":
        defaults = cls()
        layout = {}
        for key in ("file_lists", "marks"):
            layout[key] = fields.text(key, required=False, default=getattr(defaults, key))
            missing = [name for name in ("{split}", "{target}") if name not in layout[key]]
            if missing:
                raise fields.error(fields.join(key), f"must contain {' and '.join(missing)}")
        layout["annotations"] = fields.text("annotations", required=False, default=defaults.annotations)
        prefixes = fields.items("unscored_question_prefixes", required=False)
        if not all(isinstance(prefix, str) and prefix for prefix in prefixes):
            raise fields.error(fields.join("unscored_question_prefixes"), "must be a list of non-empty strings")
        layout["unscored_question_prefixes"] = tuple(prefixes)
        mark_range = fields.items("mark_range", required=False) or None
        if mark_range is not None:
            if len(mark_range) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                               for v in mark_range) or mark_range[0] >= mark_range[1]:
                raise fields.error(fields.join("mark_range"), f"must be [low, high] with low < high, got {mark_range}")
            mark_range = (float(mark_range[0]), float(mark_range[1]))
        return cls(**layout, mark_range=mark_range)

    def to_dict(self) -> dict:
        out = {"file_lists": self.file_lists, "marks": self.marks, "annotations": self.annotations,
               "unscored_question_prefixes": list(self.unscored_question_prefixes)}
        if self.mark_range is not None:
            out["mark_range"] = list(self.mark_range)
        return out


# ---------------------------------------------------------------------------------------------------- the format
@dataclass(frozen=True)
class TestFormat:
    """A speaking test's format. Read one with `load_test_format` (a built-in name, a JSON file, or a dict)."""

    __test__ = False  # not a pytest test class

    name: str
    title: str  # how the session template names the test ("Speak & Improve")
    description: str
    level_name: str  # what the levels are called ("CEFR", "band")
    parts: tuple[Part, ...]
    scale: Scale
    levels: tuple[Level, ...]
    overall: Overall | None
    kit: KitLayout = field(default_factory=KitLayout)
    tags: tuple[str, ...] = ()

    # ------------------------------------------------------------------------------------------------ reading
    @classmethod
    def from_dict(cls, value: dict, source: str | None = None) -> "TestFormat":
        """A validated format; a malformed one raises TestFormatError naming `source` and the field."""
        name = value.get("name") if isinstance(value, dict) else None
        fields = _Fields(value, "", source or repr(name or "(unnamed)"), (
            "name", "title", "description", "level_name", "tags", "parts", "scale", "levels", "overall", "kit"))
        parts = []
        for index, entry in enumerate(fields.items("parts")):
            parts.append(Part.read(fields.element("parts", index, entry, (
                "id", "title", "description", "min_responses", "max_responses", "question_prefix",
                "min_speech_seconds", "expected_seconds"))))
        _check_parts(fields, parts)
        scale = Scale.read(fields.child("scale", fields.get("scale", (dict,)), ("min", "max", "step")))
        tags = fields.items("tags", required=False)
        if not all(isinstance(tag, str) and tag for tag in tags):
            raise fields.error("tags", "must be a list of non-empty strings")
        kit = KitLayout.read(fields.child("kit", fields.get("kit", (dict,), required=False, default={}),
                                          ("file_lists", "marks", "annotations", "unscored_question_prefixes",
                                           "mark_range")))
        return cls(
            name=fields.text("name"),
            title=fields.text("title"),
            description=fields.text("description"),
            level_name=fields.text("level_name"),
            parts=tuple(parts),
            scale=scale,
            levels=_read_levels(fields, "levels", scale),
            overall=_read_overall(fields, [part.id for part in parts]),
            kit=kit,
            tags=tuple(tags),
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "TestFormat":
        path = Path(path)
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise TestFormatError(f"Test format {path}: line {error.lineno}, column {error.colno}: not valid JSON "
                                  f"({error.msg}).") from None
        return cls.from_dict(value, str(path))

    def to_dict(self) -> dict:
        return {
            "name": self.name, "title": self.title, "description": self.description, "level_name": self.level_name,
            "tags": list(self.tags), "parts": [part.to_dict() for part in self.parts], "scale": self.scale.to_dict(),
            "levels": [level.to_dict() for level in self.levels],
            "overall": None if self.overall is None else self.overall.to_dict(), "kit": self.kit.to_dict(),
        }

    def save(self, folder: str | os.PathLike) -> Path:
        """Writes `folder/test_format.json`."""
        path = Path(folder) / FORMAT_FILE
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
        path.write_text(text + "\n", encoding="utf-8")
        return path

    # ------------------------------------------------------------------------------------------------ targets
    @property
    def part_ids(self) -> list[str]:
        return [part.id for part in self.parts]

    @property
    def score_names(self) -> list[str]:
        """The model's targets: the parts, then overall unless the format has none."""
        return self.part_ids + ([OVERALL] if self.overall is not None else [])

    def part(self, part_id: str) -> Part:
        for part in self.parts:
            if part.id == part_id:
                return part
        raise KeyError(f"The {self.name} format has no part {part_id!r}; its parts are {', '.join(self.part_ids)}.")

    def target_scale(self, name: str) -> Scale:
        if name == OVERALL and self.overall is not None and self.overall.scale is not None:
            return self.overall.scale
        return self.scale

    def target_levels(self, name: str) -> tuple[Level, ...]:
        if name == OVERALL and self.overall is not None and self.overall.scale is not None:
            return self.overall.levels
        return self.levels

    def level(self, name: str, score: float) -> str:
        """The level label of `score` of target `name` (nearest band, ties up)."""
        return level_of(self.target_levels(name), self.target_scale(name), score)

    def mark_range(self, name: str) -> tuple[float, float]:
        """The range a kit mark of target `name` may have."""
        if self.kit.mark_range is not None:
            return self.kit.mark_range
        scale = self.target_scale(name)
        return scale.min, scale.max

    def output_affine(self, name: str) -> tuple[float, float] | None:
        """`(gain, offset)` that maps a score on the parts' scale onto target `name`'s own scale; None where the
        target is on the parts' scale."""
        target = self.target_scale(name)
        if target == self.scale:
            return None
        gain = (target.max - target.min) / (self.scale.max - self.scale.min)
        return gain, target.min - gain * self.scale.min

    def part_weights(self) -> list[float] | None:
        """The overall rule's weight of each part (normalised), None for a plain mean."""
        if self.overall is None or self.overall.weights is None:
            return None
        total = sum(self.overall.weights.values())
        return [self.overall.weights[part] / total for part in self.part_ids]

    # ------------------------------------------------------------------------------------------------ marks
    def report(self, name: str, score: float, decimals: int | None = 2) -> float:
        """A model score as reported: clipped to the target's scale, overall rounded to its bands where the format
        says so, then rounded to `decimals`."""
        scale = self.target_scale(name)
        value = scale.clip(score)
        if name == OVERALL and self.overall is not None and self.overall.round == "step":
            value = scale.nearest_band(value)
        return value if decimals is None else round(value, decimals)

    def overall_from_parts(self, marks: dict[str, float]) -> float:
        """The overall mark of a session with every part marked, by the format's rule (not for `own_mark`)."""
        if self.overall is None or self.overall.rule == "own_mark":
            raise ValueError(f"The {self.name} format's overall is not formed from the parts.")
        weights = self.part_weights()
        if weights is None:
            value = sum(marks[part] for part in self.part_ids) / float(len(self.parts))
        else:
            value = sum(weight * marks[part] for weight, part in zip(weights, self.part_ids))
        affine = self.output_affine(OVERALL)
        if affine is not None:
            value = affine[0] * value + affine[1]
        if self.overall.round == "step":
            value = self.target_scale(OVERALL).nearest_band(value)
        return value

    # ------------------------------------------------------------------------------------------------ kit layout
    def part_of_question(self, question_id: str) -> str | None:
        """The part whose question prefix starts `question_id` (the rest letters, digits or '_'), else None."""
        for part in self.parts:
            rest = question_id[len(part.question_prefix):]
            if question_id.startswith(part.question_prefix) and (not rest or rest.replace("_", "").isalnum()):
                return part.id
        return None

    def is_unscored_question(self, question_id: str) -> bool:
        """Whether `question_id` belongs to a part of the test that is not scored (S&I's P2 read-aloud)."""
        return any(question_id.startswith(prefix) for prefix in self.kit.unscored_question_prefixes)

    def kit_file(self, kind: str, split: str, target: str) -> str:
        """The path of a kit file (`kind`: `file_lists` or `marks`) relative to the corpus root."""
        return getattr(self.kit, kind).format(split=split, target=target)

    def check_responses(self, session_id: str, parts: list[str]) -> None:
        """Raises ValueError naming the session for a part the format lacks or more answers than it allows."""
        for part_id in dict.fromkeys(parts):
            if part_id not in self.part_ids:
                raise ValueError(f"Session {session_id}: unknown part {part_id!r}; the {self.name} format's parts are "
                                 f"{', '.join(self.part_ids)}.")
            part = self.part(part_id)
            count = parts.count(part_id)
            if count > part.max_responses:
                raise ValueError(f"Session {session_id}: part {part_id} has {count} responses; the {self.name} format "
                                 f"allows at most {part.max_responses} (parts[{self.part_ids.index(part_id)}]."
                                 f"max_responses).")


def _check_parts(fields: _Fields, parts: list[Part]) -> None:
    ids = [part.id for part in parts]
    for index, part in enumerate(parts):
        if ids.index(part.id) != index:
            raise fields.error(f"parts[{index}].id", f"{part.id!r} is already the id of parts[{ids.index(part.id)}]")
    for index, part in enumerate(parts):
        for other_index, other in enumerate(parts):
            if other_index != index and other.question_prefix.startswith(part.question_prefix):
                raise fields.error(f"parts[{other_index}].question_prefix",
                                   f"{other.question_prefix!r} starts with parts[{index}]'s {part.question_prefix!r}: "
                                   f"question IDs would be ambiguous")


# ------------------------------------------------------------------------------------------------------ loading
def built_in_formats() -> list[str]:
    """The names of the formats that ship with the package."""
    if not BUILT_IN_FOLDER.is_dir():
        return []
    return sorted(path.stem for path in BUILT_IN_FOLDER.glob("*.json") if not path.name.endswith(".schema.json"))


def load_test_format(spec: "TestFormat | dict | str | os.PathLike | None" = None) -> TestFormat:
    """A format from a `TestFormat`, a dict, a JSON file, a folder holding `test_format.json`, or a built-in name
    (`sandi2025`, the default, `ielts-like`, `toefl-like`)."""
    if spec is None:
        spec = DEFAULT_FORMAT
    if isinstance(spec, TestFormat):
        return spec
    if isinstance(spec, dict):
        return TestFormat.from_dict(spec)
    path = Path(spec)
    if path.is_dir():
        path = path / FORMAT_FILE
    if path.is_file():
        return TestFormat.from_file(path)
    built_in = BUILT_IN_FOLDER / f"{spec}.json"
    if isinstance(spec, str) and os.sep not in spec and built_in.is_file():
        return TestFormat.from_file(built_in)
    names = ", ".join(built_in_formats()) or "none here: they ship with the sla-phi4 package"
    raise TestFormatError(f"Unknown test format {str(spec)!r}: not a built-in format ({names}) nor a JSON file.")


__all__ = [
    "DEFAULT_FORMAT",
    "FORMAT_FILE",
    "KitLayout",
    "Level",
    "OVERALL",
    "Overall",
    "Part",
    "Scale",
    "TestFormat",
    "TestFormatError",
    "built_in_formats",
    "level_of",
    "load_test_format",
]
