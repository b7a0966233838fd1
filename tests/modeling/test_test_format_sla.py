"""Test formats as data: the built-in formats, their rules (levels, rounding, overall, kit names), and every kind of
malformed format refused with an error that names the field."""

import copy
import json
import shutil

import jsonschema
import numpy as np
import pytest
import soundfile

from modeling_sla import TestFormat, TestFormatError, built_in_formats, load_test_format
from modeling_sla.test_format_sla import BUILT_IN_FOLDER
from processing_sla import SessionInputError
from sla_phi4.data.kit import load_kit
from sla_phi4.testing import make_session


SCHEMA = json.loads((BUILT_IN_FOLDER / "test_format.schema.json").read_text())


def test_built_in_formats_load_round_trip_and_follow_the_schema():
    assert built_in_formats() == ["ielts-like", "sandi2025", "toefl-like"]
    for name in built_in_formats():
        test_format = load_test_format(name)
        assert TestFormat.from_dict(test_format.to_dict()) == test_format
        jsonschema.validate(json.loads((BUILT_IN_FOLDER / f"{name}.json").read_text()), SCHEMA)
        jsonschema.validate(test_format.to_dict(), SCHEMA)
    assert load_test_format().name == "sandi2025"  # the default
    assert load_test_format("sandi2025").score_names == ["P1", "P3", "P4", "P5", "overall"]
    assert load_test_format("ielts-like").score_names == ["part1", "part2", "part3", "overall"]
    assert load_test_format("toefl-like").score_names == ["task1", "task2", "task3", "task4", "overall"]


def test_sandi2025_levels_and_reporting_are_the_s_and_i_rules():
    sandi = load_test_format("sandi2025")
    assert [sandi.level("P1", 2.0 + 0.5 * band) for band in range(8)] == [
        "A2", "A2+", "B1", "B1+", "B2", "B2+", "C1", "C1+"]
    assert sandi.level("overall", 3.75) == "B2" and sandi.level("P1", 3.74) == "B1+"  # ties go up
    assert sandi.level("P1", 0.0) == "A2" and sandi.level("P1", 9.0) == "C1+"  # clipped first
    assert sandi.report("overall", 4.1234) == 4.12 and sandi.report("P1", 7.0) == 5.5  # no rounding to bands
    assert sandi.overall_from_parts({"P1": 3.5, "P3": 4.0, "P4": 4.0, "P5": 4.5}) == 4.0
    assert sandi.output_affine("overall") is None and sandi.part_weights() is None
    assert sandi.scale.within == (0.5, 1.0) and sandi.mark_range("overall") == (0.0, 6.0)
    assert sandi.part_of_question("P10003") == "P1" and sandi.part_of_question("P20001") is None
    assert sandi.is_unscored_question("P20001") and not sandi.is_unscored_question("P10003")
    assert sandi.kit_file("marks", "dev", "P3") == "reference-materials/sla-marks/dev-sla-P3.tsv"


def test_ielts_like_rounds_overall_to_half_bands():
    ielts = load_test_format("ielts-like")
    assert ielts.scale.num_bands == 19 and ielts.scale.within == (0.5, 1.0)
    assert ielts.report("overall", 6.25) == 6.5 and ielts.report("overall", 6.2) == 6.0  # nearest half band
    assert ielts.report("part1", 6.2) == 6.2  # parts are not rounded
    assert ielts.overall_from_parts({"part1": 6.0, "part2": 6.5, "part3": 6.0}) == 6.0  # 6.17
    assert ielts.overall_from_parts({"part1": 6.0, "part2": 6.5, "part3": 6.5}) == 6.5  # 6.33
    assert ielts.level("part2", 6.5) == "competent user" and ielts.level("overall", 9.4) == "expert user"
    assert ielts.report("overall", -1.0) == 0.0 and ielts.report("overall", 9.3) == 9.0


def test_toefl_like_reports_overall_on_0_to_30():
    toefl = load_test_format("toefl-like")
    assert toefl.scale.within == (1.0, 2.0) and toefl.target_scale("overall").within == (1.0, 2.0)
    assert toefl.output_affine("overall") == (7.5, 0.0)  # 0-4 onto 0-30
    assert toefl.overall_from_parts({"task1": 4, "task2": 4, "task3": 4, "task4": 4}) == 30.0
    assert toefl.overall_from_parts({"task1": 3, "task2": 2, "task3": 3, "task4": 4}) == 23.0  # 22.5, ties up
    assert toefl.report("overall", 22.4) == 22.0 and toefl.report("task1", 3.37) == 3.37
    assert toefl.level("overall", 9.4) == "Below Basic" and toefl.level("overall", 24.6) == "Advanced"
    assert toefl.level("task1", 2.6) == "good" and toefl.mark_range("overall") == (0.0, 30.0)


# -------------------------------------------------------------------------------------------- malformed formats
def mutated(change) -> dict:
    values = copy.deepcopy(json.loads((BUILT_IN_FOLDER / "ielts-like.json").read_text()))
    change(values)
    return values


MALFORMED = [
    (lambda v: v.pop("parts"), "field parts: missing"),
    (lambda v: v.update(parts=[]), "field parts: must not be empty"),
    (lambda v: v["parts"][1].pop("description"), "field parts[1].description: missing"),
    (lambda v: v["parts"][2].update(max_responses=0), "field parts[2].max_responses: must be at least min_responses"),
    (lambda v: v["parts"][0].update(min_responses=0), "field parts[0].min_responses: must be at least 1"),
    (lambda v: v["parts"][0].update(max_responses="8"), "field parts[0].max_responses: must be a whole number"),
    (lambda v: v["parts"][1].update(id="part1"), "field parts[1].id: 'part1' is already the id of parts[0]"),
    (lambda v: v["parts"][0].update(id="overall"), "field parts[0].id: must be letters"),
    (lambda v: v["parts"][0].update(max_respones=8), "field parts[0].max_respones: unknown field"),
    (lambda v: v["parts"][0].update(question_prefix="part"), "field parts[1].question_prefix: 'part2' starts with"),
    (lambda v: v["scale"].update(step=0), "field scale.step: must be positive"),
    (lambda v: v["scale"].update(step=0.4), "field scale.step: must divide max - min"),
    (lambda v: v["scale"].update(max=-1), "field scale.max: must be above min"),
    (lambda v: v["levels"][0].update({"from": 1}), "field levels[0].from: the first level must start"),
    (lambda v: v["levels"][3].update({"from": 3.3}), "field levels[3].from: must be a band of the scale"),
    (lambda v: v["levels"][4].update({"from": 2}), "field levels[4].from: levels must rise"),
    (lambda v: v.pop("overall"), "field overall: missing"),
    (lambda v: v["overall"].update(rule="median"), "field overall.rule: must be one of mean, weighted, own_mark"),
    (lambda v: v["overall"].update(rule="weighted"), "field overall.weights: missing"),
    (lambda v: v["overall"].update(rule="weighted", weights={"part1": 1, "part2": 2}),
     "field overall.weights.part3: missing"),
    (lambda v: v["overall"].update(weights={"part1": 1}), "field overall.weights: only the 'weighted' rule"),
    (lambda v: v["overall"].update(round="half"), "field overall.round: must be null or one of step"),
    (lambda v: v["overall"].update(levels=[{"from": 0, "label": "x"}]), "field overall.levels: levels of their own"),
    (lambda v: v["kit"].update(marks="sla-marks/{split}.tsv"), "field kit.marks: must contain {target}"),
    (lambda v: v["kit"].update(mark_range=[9, 0]), "field kit.mark_range: must be [low, high]"),
    (lambda v: v.update(name=""), "field name: must not be empty"),
    (lambda v: v["parts"][1].update(min_speech_seconds=-1), "field parts[1].min_speech_seconds: must be positive"),
]


@pytest.mark.parametrize("change, message", MALFORMED)
def test_malformed_formats_are_refused_naming_the_field(change, message):
    values = mutated(change)
    with pytest.raises(TestFormatError, match="Test format 'ielts-like'|Test format '\\(unnamed\\)'") as error:
        TestFormat.from_dict(values)
    assert message in str(error.value)


def test_a_malformed_format_file_is_refused_naming_the_file_and_line(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "name": "x",\n  "parts": [,]\n}\n')
    with pytest.raises(TestFormatError, match=r"broken.json: line 3, column 13: not valid JSON"):
        load_test_format(broken)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(mutated(lambda v: v["scale"].update(step=-1))))
    with pytest.raises(TestFormatError, match=r"wrong.json: field scale.step: must be positive"):
        load_test_format(wrong)
    with pytest.raises(TestFormatError, match="Unknown test format 'gre-like'.*sandi2025"):
        load_test_format("gre-like")
    (tmp_path / "test_format.json").write_text(json.dumps(mutated(lambda v: None)))
    assert load_test_format(tmp_path).name == "ielts-like"  # a folder holding test_format.json


def test_a_checkpoint_without_its_format_is_refused_saying_how_to_add_it(tiny_checkpoint, tmp_path):
    from processing_sla import SLAProcessor

    folder = tmp_path / "saved-before-formats"
    shutil.copytree(tiny_checkpoint, folder)
    (folder / "test_format.json").unlink()
    with pytest.raises(OSError, match=r"saved-before-formats has no test_format\.json.*load_test_format\('sandi2025'\)"
                                      r"\.save\("):
        SLAProcessor.from_pretrained(folder)
    load_test_format("sandi2025").save(folder)  # what the message says to run
    assert SLAProcessor.from_pretrained(folder).test_format["name"] == "sandi2025"


def test_a_weighted_and_an_own_mark_format():
    weighted = load_test_format(mutated(lambda v: v["overall"].update(
        rule="weighted", weights={"part1": 1, "part2": 2, "part3": 1})))
    assert weighted.part_weights() == [0.25, 0.5, 0.25]
    assert weighted.overall_from_parts({"part1": 5.0, "part2": 7.0, "part3": 5.0}) == 6.0
    own = load_test_format(mutated(lambda v: v["overall"].update(rule="own_mark")))
    with pytest.raises(ValueError, match="not formed from the parts"):
        own.overall_from_parts({"part1": 5.0, "part2": 7.0, "part3": 5.0})
    none = load_test_format(mutated(lambda v: v.update(overall=None)))
    assert none.score_names == ["part1", "part2", "part3"]


# ---------------------------------------------------------------------------------------- sessions and kits
def test_the_processor_refuses_parts_and_answers_the_format_lacks(tiny_processor):
    ielts = tiny_processor.for_test_format(load_test_format("ielts-like").to_dict())
    assert ielts.score_names == ["part1", "part2", "part3", "overall"]
    # a long turn needs more speech than a short answer, as the format says (S&I's measured thresholds kept)
    assert ielts.assessability_thresholds["min_speech_seconds"] == {
        "part1": 0.5, "part2": 1.2, "part3": 0.5, "P1": 0.5, "P3": 1.2, "P4": 1.2, "P5": 0.5}
    session = make_session("S", [("part1", 0.6)] * 2 + [("part2", 1.0)])
    assert ielts(session)["input_ids"].shape[0] == 1
    assert "IELTS-like speaking test" in ielts.render(session) and "Part part2, long turn" in ielts.render(session)
    with pytest.raises(SessionInputError, match=r"Session S, response S-P30: unknown part 'P3'; the ielts-like format's "
                                                r"parts are \['part1', 'part2', 'part3'\]"):
        ielts(make_session("S", [("P3", 1.0)]))
    with pytest.raises(SessionInputError, match=r"Session T: part part1 has 9 responses; the ielts-like format allows "
                                                r"at most 8 \(parts\[0\].max_responses\)"):
        ielts(make_session("T", [("part1", 0.5)] * 9))
    with pytest.raises(SessionInputError, match=r"Session U: part P3 has 2 responses; the sandi2025 format allows at "
                                                r"most 1 \(parts\[1\].max_responses\)"):
        tiny_processor(make_session("U", [("P3", 0.7), ("P3", 0.8)]))
    with pytest.raises(ValueError, match=r"field parts\[0\].description"):
        tiny_processor.for_test_format({"name": "x", "title": "X", "parts": [{"id": "a", "max_responses": 1}]})


def write_kit(root, marks: dict[str, str], files: list[str]):
    """A one-split (dev) IELTS-like kit: `files` of part1, and the given mark lines per target."""
    lists = root / "reference-materials" / "flists.flac"
    marks_dir = root / "reference-materials" / "sla-marks"
    lists.mkdir(parents=True)
    marks_dir.mkdir(parents=True)
    audio = root / "a.flac"
    soundfile.write(str(audio), np.zeros(1600, dtype=np.float32), 16_000)
    for part in ("part1", "part2", "part3"):
        rows = [f"{file_id}\ta.flac" for file_id in files] if part == "part1" else []
        (lists / f"dev-sla-{part}.tsv").write_text("".join(row + "\n" for row in rows))
    for target, text in marks.items():
        (marks_dir / f"dev-sla-{target}.tsv").write_text(text)
    load_test_format("ielts-like").save(root)


def test_the_kit_loader_reads_a_format_and_refuses_marks_off_its_scale(tmp_path):
    write_kit(tmp_path / "ok", {"part1": "S-1\t6.5\n", "overall": "S-1\t6.500\n"}, ["S-1-part1q01", "S-1-part1q02"])
    rows = load_kit(tmp_path / "ok", "dev")
    assert rows.column_names == ["session_id", "responses", "part1", "part2", "part3", "overall"]
    assert rows[0]["part1"] == 6.5 and rows[0]["part2"] is None and len(rows[0]["responses"]) == 2
    write_kit(tmp_path / "high", {"part1": "S-1\t6.5\nS-2\t9.5\n"}, ["S-1-part1q01"])
    with pytest.raises(ValueError, match=r"dev-sla-part1.tsv, line 2: score 9.5 is outside 0-9 \(the ielts-like "
                                         r"format's mark range for part1\)"):
        load_kit(tmp_path / "high", "dev")
    write_kit(tmp_path / "many", {}, [f"S-1-part1q{index:02d}" for index in range(9)])
    with pytest.raises(ValueError, match=r"Session S-1: part part1 has 9 responses; the ielts-like format allows at "
                                         r"most 8"):
        load_kit(tmp_path / "many", "dev")
    with pytest.raises(ValueError, match="is the ielts-like format, not sandi2025: this corpus is of another test"):
        load_kit(tmp_path / "ok", "dev", "sandi2025")
    write_kit(tmp_path / "other", {}, ["S-1-P10003"])
    with pytest.raises(ValueError, match=r"line 1: cannot parse the part of file ID 'S-1-P10003'.*part1, part2, "
                                         r"part3"):
        load_kit(tmp_path / "other", "dev")
