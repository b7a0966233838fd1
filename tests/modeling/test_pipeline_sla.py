"""The `spoken-language-assessment` pipeline, saved into a checkpoint and loaded where the package cannot be imported."""

import json
import textwrap

import numpy as np
import pytest
import soundfile
import soxr
import torch

from modeling_sla import SLAForSessionScoring, load_test_format
from modeling_sla.pipeline_sla import (
    TASK,
    UnscorableSessionError,
    format_scores,
    parse_response_file,
    register_sla_pipeline,
    reported_targets,
    save_pretrained_with_pipeline,
    sessions_from_folder,
)
from processing_sla import SessionInputError
from processing_sla.audio_io_sla import AudioInputError
from sla_phi4.testing import make_session, noise_clip, run_isolated


SANDI = load_test_format("sandi2025")


def score_to_cefr(score: float) -> str:
    return SANDI.level("P1", score)


ISOLATED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.modules["modeling_sla"] = None      # the package must not be importable
    sys.modules["processing_sla"] = None
    from transformers import AutoModel, pipeline
    folder, cases = sys.argv[1], json.load(open(sys.argv[2]))
    scorer = pipeline("spoken-language-assessment", model=folder, trust_remote_code=True)
    report = {
        "pipeline_module": type(scorer).__module__, "pipeline_class": type(scorer).__name__,
        "processor_module": type(scorer.processor).__module__,
        "single": scorer(cases["single"], decimals=None),
        "list": scorer(cases["list"], batch_size=2),
        "folder_one": scorer(cases["folder_one"], decimals=None),
        "folder_two": scorer(cases["folder_two"], batch_size=2),
    }
    model = AutoModel.from_pretrained(folder, trust_remote_code=True)
    report["automodel_module"] = type(model).__module__
    print(json.dumps(report, allow_nan=False))
    """
)



def write_clip(path, seconds, seed):
    soundfile.write(str(path), noise_clip(seconds, seed), 16_000)
    return str(path)


@pytest.fixture(scope="module")
def shifted_model(tiny_checkpoint):
    """The tiny model with its P1 output pushed above and its P3 output below the scale, to see clipping."""
    model = SLAForSessionScoring.from_pretrained(tiny_checkpoint).eval()
    names = model.config.score_names
    with torch.no_grad():
        model.head.linear.bias[names.index("P1")] += 4.0
        model.head.linear.bias[names.index("P3")] -= 4.0
    return model


@pytest.fixture(scope="module")
def pipeline_folder(shifted_model, tiny_processor, tmp_path_factory):
    return save_pretrained_with_pipeline(shifted_model, tiny_processor, tmp_path_factory.mktemp("sla-pipeline"))


def expected_scores(model, processor, session) -> list[float]:
    """The in-process model's scores for one session, clipped to the scale."""
    with torch.no_grad():
        raw = model(**processor(session)).scores[0].tolist()
    test_format = model.config.get_test_format()
    return [test_format.target_scale(name).clip(value) for name, value in zip(test_format.score_names, raw)]


def assert_result(result, session_id, expected, names, parts, atol=1e-5):
    """Scores as expected for the session's parts; None for the others and for overall of a partial session."""
    assert result["session_id"] == session_id and result["test_format"] == "sandi2025"
    assert list(result["scores"]) == names and list(result["cefr"]) == names and result["levels"] == result["cefr"]
    complete = set(parts) == {"P1", "P3", "P4", "P5"}
    for name, value in zip(names, expected):
        if name in parts or (name == "overall" and complete):
            assert result["scores"][name] == pytest.approx(value, abs=atol), name
            assert result["cefr"][name] == score_to_cefr(result["scores"][name]), name
        else:
            assert result["scores"][name] is None and result["cefr"][name] is None, name
    not_scored = [name for name in names if result["scores"][name] is None]
    assert [w["part"] for w in result["warnings"] if w["response_id"] is None] == not_scored


# ------------------------------------------------------------------------------------------------- unit tests
def test_clip_and_cefr_helpers():
    clip_score = SANDI.scale.clip
    assert clip_score(1.2) == 2.0 and clip_score(-3) == 2.0
    assert clip_score(6.3) == 5.5 and clip_score(5.5) == 5.5 and clip_score(3.14) == 3.14
    assert score_to_cefr(1.2) == "A2" and score_to_cefr(0.0) == "A2"
    assert score_to_cefr(6.3) == "C1+" and score_to_cefr(5.6) == "C1+"
    assert score_to_cefr(3.74) == "B1+" and score_to_cefr(3.76) == "B2"
    assert score_to_cefr(3.75) == "B2"  # ties go up
    assert [score_to_cefr(2.0 + 0.5 * i) for i in range(8)] == ["A2", "A2+", "B1", "B1+", "B2", "B2+", "C1", "C1+"]
    assert score_to_cefr(2.24) == "A2" and score_to_cefr(2.26) == "A2+" and score_to_cefr(5.24) == "C1"
    with pytest.raises(ValueError, match="non-finite"):
        clip_score(float("nan"))
    scores, levels = format_scores([1.0, 3.744, 3.756, 7.0, 4.5049], SANDI)
    assert scores == {"P1": 2.0, "P3": 3.74, "P4": 3.76, "P5": 5.5, "overall": 4.5}
    assert levels == {"P1": "A2", "P3": "B1+", "P4": "B2", "P5": "C1+", "overall": "B2+"}
    raw, _ = format_scores([3.1, 3.2, 3.3, 3.4, 3.123456], SANDI, decimals=None)
    assert raw["overall"] == 3.123456
    with pytest.raises(ValueError, match="zip"):
        format_scores([3.0], SANDI)  # a score per target


def test_response_file_names(tmp_path):
    assert parse_response_file("SI114J-00011-P10003.flac", SANDI) == ("SI114J-00011", "P10003", "P1")
    assert parse_response_file("/x/y/S2-P50001.wav", SANDI) == ("S2", "P50001", "P5")
    assert parse_response_file("S2-P20001.wav", SANDI) == ("S2", "P20001", None)  # read aloud: not scored
    for bad in ("P10003.flac", "SI114J-00011-Q10003.flac", "SI114J-00011-.wav", "S2-part10001.flac"):
        with pytest.raises(ValueError, match="<submissionID>-<questionID>"):
            parse_response_file(bad, SANDI)
    ielts = load_test_format("ielts-like")
    assert parse_response_file("S2-part2q01.wav", ielts) == ("S2", "part2q01", "part2")
    with pytest.raises(ValueError, match="ielts-like format .part1, part2, part3."):
        parse_response_file("S2-P10003.wav", ielts)
    with pytest.raises(ValueError, match="No response audio"):
        sessions_from_folder(tmp_path, SANDI)
    for name in ("S2-1-P30001.wav", "S2-1-P10003.flac", "S2-1-P10001.FLAC", "S2-1-P20001.flac", "S1-9-P50001.flac",
                 "readme.txt"):
        (tmp_path / name).write_bytes(b"")  # only the names are read here
    sessions = sessions_from_folder(tmp_path, SANDI)
    assert [s["session_id"] for s in sessions] == ["S1-9", "S2-1"]
    assert [r["response_id"] for r in sessions[1]["responses"]] == ["S2-1-P10001", "S2-1-P10003", "S2-1-P30001"]
    assert [r["part"] for r in sessions[1]["responses"]] == ["P1", "P1", "P3"]
    assert sessions[1]["responses"][0] == {"response_id": "S2-1-P10001", "part": "P1",
                                           "audio": str(tmp_path / "S2-1-P10001.FLAC"), "question": None}


def test_saving_leaves_the_model_config_clean(pipeline_folder, shifted_model):
    config = json.loads((pipeline_folder / "config.json").read_text())
    assert config["custom_pipelines"] == {TASK: {"impl": "pipeline_sla.SLAScoringPipeline", "pt": ["AutoModel"]}}
    assert "AutoModel" in config["auto_map"]
    assert "custom_pipelines" not in shifted_model.config.to_dict()


def test_in_process_batching_and_parameters(shifted_model, tiny_processor):
    from transformers import pipeline

    register_sla_pipeline()
    scorer = pipeline(TASK, model=shifted_model, processor=tiny_processor)
    sessions = [make_session("A", [("P1", 1.2)], 0), make_session("B", [("P4", 1.5)], 7),
                make_session("C", [("P5", 0.8)], 11)]
    one_by_one = scorer(sessions, decimals=None)
    batched = scorer(sessions, batch_size=2, decimals=None)
    assert [r["session_id"] for r in batched] == ["A", "B", "C"]
    for single, batch in zip(one_by_one, batched):
        assert batch["warnings"] == single["warnings"] and single["warnings"]
        for name in single["scores"]:
            if single["scores"][name] is None:
                assert batch["scores"][name] is None
            else:
                assert batch["scores"][name] == pytest.approx(single["scores"][name], abs=1e-5)
    assert scorer([]) == []
    with pytest.raises(TypeError, match="Unknown parameter"):
        scorer(sessions[0], top_k=3)
    with pytest.raises(ValueError, match="on_unscorable"):
        scorer(sessions[0], on_unscorable="ignore")
    with pytest.raises(SessionInputError, match="Session x: no responses"):
        scorer({"session_id": "x"})
    with pytest.raises(ValueError, match="must be a dict"):
        scorer([3])


class PidRecordingProcessor:
    """The processor, leaving a file named by the process id of each session it featurizes."""

    def __init__(self, processor, folder):
        self.processor, self.folder = processor, folder

    def featurize_session(self, *args, **kwargs):
        (self.folder / str(__import__("os").getpid())).touch()
        return self.processor.featurize_session(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.processor, name)


def test_the_pipelines_workers_featurize_and_score_bit_for_bit(shifted_model, tiny_processor, tmp_path):
    import os

    from transformers import pipeline

    register_sla_pipeline()
    scorer = pipeline(TASK, model=shifted_model, processor=tiny_processor)
    sessions = [make_session(name, [("P1", 1.2 + 0.1 * seed), ("P3", 2.0)], seed)
                for seed, name in enumerate("ABCDE")]
    inline = scorer(sessions, batch_size=2, decimals=None, num_workers=0)
    scorer.processor = PidRecordingProcessor(tiny_processor, tmp_path)
    ahead = scorer(sessions, batch_size=2, decimals=None, num_workers=2)
    assert ahead == inline and [result["session_id"] for result in ahead] == list("ABCDE")
    pids = {int(path.name) for path in tmp_path.iterdir()}
    assert pids and os.getpid() not in pids  # featurized in the workers, not between forward passes
    broken = {"session_id": "F", "responses": [{"response_id": "F-P3", "part": "P3",
                                                "audio": np.full(16_000, np.nan, np.float32)}]}
    for workers in (0, 2):  # the error itself, in the sessions' order, not the loader's wrapping of it
        with pytest.raises(AudioInputError, match=r"^Session F, response F-P3: audio contains NaN") as raised:
            scorer([*sessions[:2], broken], batch_size=2, num_workers=workers)
        assert raised.value.reason == "non_finite"


# ------------------------------------------------------------------------------------------ isolated loading
def test_pipeline_loads_and_scores_without_the_package(pipeline_folder, shifted_model, tiny_processor, tmp_path):
    names = list(shifted_model.config.score_names)
    audio = tmp_path / "audio"
    audio.mkdir()
    session_a = {"session_id": "A", "responses": [
        {"response_id": "A-P10001", "part": "P1", "audio": write_clip(audio / "a1.flac", 1.2, 0),
         "question": "Where are you from?"},
        {"response_id": "A-P30001", "part": "P3", "audio": write_clip(audio / "a3.flac", 2.0, 1), "question": None},
    ]}
    session_b = {"session_id": "B", "responses": [
        {"part": "P5", "audio": write_clip(audio / "b5.flac", 1.0, 3), "question": "Do you agree?"},
    ]}
    # one submission, files named by response ID (plus files the pipeline must skip)
    one = tmp_path / "SI114J-00011"
    one.mkdir()
    p3 = write_clip(one / "SI114J-00011-P30001.wav", 1.3, 4)
    p1 = write_clip(one / "SI114J-00011-P10003.flac", 0.9, 5)
    write_clip(one / "SI114J-00011-P20001.flac", 1.0, 7)  # read-aloud part: not scored
    (one / "notes.txt").write_text("not audio")
    # two submissions in one folder
    two = tmp_path / "two"
    two.mkdir()
    q1 = write_clip(two / "S2-00001-P10001.flac", 1.0, 8)
    q2 = write_clip(two / "S1-00001-P50002.flac", 1.4, 9)

    cases = {"single": session_a, "list": [session_a, session_b], "folder_one": str(one), "folder_two": str(two)}
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps(cases))
    report = run_isolated(ISOLATED_SCRIPT, pipeline_folder, cases_file, folder=tmp_path)
    assert report["pipeline_module"].startswith("transformers_modules.")
    assert report["pipeline_module"].endswith("pipeline_sla") and report["pipeline_class"] == "SLAScoringPipeline"
    assert report["processor_module"].startswith("transformers_modules.")
    assert report["automodel_module"].startswith("transformers_modules.")
    assert report["automodel_module"].endswith("modeling_sla")

    def expect(session):
        return expected_scores(shifted_model, tiny_processor, session)

    # (a) one session with FLAC paths: a dict, clipped (P1 above, P3 below the scale)
    expected_a = expect(session_a)
    assert expected_a[names.index("P1")] == 5.5 and expected_a[names.index("P3")] == 2.0
    assert_result(report["single"], "A", expected_a, names, ["P1", "P3"])
    assert report["single"]["cefr"]["P1"] == "C1+" and report["single"]["cefr"]["P3"] == "A2"
    # (b) a list of two, in batches of two: a list, rounded to 2 decimals by default
    expected_b = expect(session_b)
    assert isinstance(report["list"], list) and len(report["list"]) == 2
    assert_result(report["list"][0], "A", expected_a, names, ["P1", "P3"], atol=0.005 + 1e-6)
    assert_result(report["list"][1], "B", expected_b, names, ["P5"], atol=0.005 + 1e-6)
    for result in report["list"]:
        assert all(value == round(value, 2) for value in result["scores"].values() if value is not None)
    # (c) a folder of files named by response ID: ordered by part (then question ID, see test_response_file_names),
    # P2 and non-audio files skipped
    expected_one = expect({"session_id": "SI114J-00011", "responses": [
        {"part": "P1", "audio": p1}, {"part": "P3", "audio": p3}]})
    assert len(report["folder_one"]) == 1  # a folder always gives a list, even of one session
    assert_result(report["folder_one"][0], "SI114J-00011", expected_one, names, ["P1", "P3"])
    # a folder of two submissions gives one result per submission, sorted by submission ID
    assert [r["session_id"] for r in report["folder_two"]] == ["S1-00001", "S2-00001"]
    expected_s1 = expect({"session_id": "S1-00001", "responses": [{"part": "P5", "audio": q2}]})
    expected_s2 = expect({"session_id": "S2-00001", "responses": [{"part": "P1", "audio": q1}]})
    assert_result(report["folder_two"][0], "S1-00001", expected_s1, names, ["P5"], atol=0.005 + 1e-6)
    assert_result(report["folder_two"][1], "S2-00001", expected_s2, names, ["P1"], atol=0.005 + 1e-6)
    # noise is not speech: every response is flagged, by the pipeline loaded from the folder too
    assert {(w["response_id"], w["reason"]) for w in report["single"]["warnings"] if w["response_id"]} == {
        ("A-P10001", "no_speech"), ("A-P30001", "no_speech")}


# ------------------------------------------------------------------------------- what cannot be scored is not
SENTENCES = {
    "P1": "I live in a small town near the sea, and I like it very much.",
    "P3": "I would like to talk about my favourite book. It is a long story about a family.",
    "P4": "The graph shows that more people travel by train now than ten years ago.",
    "P5": "I think that children should learn to cook at school, because it is useful.",
}


@pytest.fixture(scope="module")
def spoken():
    from sla_phi4.data.espeak_tts import synthesize

    return {part: 0.5 * synthesize(text) / abs(synthesize(text)).max() for part, text in SENTENCES.items()}


@pytest.fixture(scope="module")
def scorer(tiny_model, tiny_processor):
    from transformers import pipeline

    register_sla_pipeline()
    return pipeline(TASK, model=tiny_model, processor=tiny_processor)


def spoken_session(session_id, spoken, replace=None, parts=("P1", "P3", "P4", "P5")):
    replace = replace or {}
    return {"session_id": session_id, "responses": [
        {"response_id": f"{session_id}-{part}0001", "part": part, "audio": replace.get(part, spoken[part])}
        for part in parts]}


def test_a_complete_spoken_session_is_scored_without_warnings(scorer, spoken):
    result = scorer(spoken_session("full", spoken))
    assert result["warnings"] == []
    assert all(isinstance(value, float) for value in result["scores"].values())
    assert all(level is not None for level in result["cefr"].values())


def test_parts_never_spoken_get_no_score(scorer, spoken):
    """One P1 answer gave P3 4.49 (B2+), P4 4.07, P5 3.89 and overall 4.51: grades for speech that does not exist."""
    result = scorer(spoken_session("p1-only", spoken, parts=("P1",)))
    assert isinstance(result["scores"]["P1"], float) and result["cefr"]["P1"] is not None
    assert {name: result["scores"][name] for name in ("P3", "P4", "P5", "overall")} == dict.fromkeys(
        ("P3", "P4", "P5", "overall"))
    assert [(w["part"], w["reason"]) for w in result["warnings"]] == [
        ("P3", "no_response"), ("P4", "no_response"), ("P5", "no_response"), ("overall", "partial_session")]
    assert "not scored: P3, P4, P5" in result["warnings"][-1]["detail"]


def test_silence_is_flagged_and_skipped_or_refused_on_request(scorer, spoken):
    """Five seconds of silence got overall 3.58 (B1+) with no warning."""
    silent = spoken_session("quiet", spoken, replace={"P3": np.zeros(5 * 16_000, dtype=np.float32)})
    flagged = {"response_id": "quiet-P30001", "part": "P3", "reason": "silent"}
    warned = scorer(silent)
    assert all(value is not None for value in warned["scores"].values())  # "warn": scored, and flagged
    assert [{key: w[key] for key in flagged} for w in warned["warnings"]] == [flagged]
    skipped = scorer(silent, on_unscorable="skip")
    assert skipped["scores"]["P3"] is None and skipped["scores"]["overall"] is None
    assert skipped["scores"]["P1"] == warned["scores"]["P1"]
    assert [(w["part"], w["reason"]) for w in skipped["warnings"]] == [
        ("P3", "silent"), ("P3", "unscorable_audio"), ("overall", "partial_session")]
    with pytest.raises(UnscorableSessionError, match=r"Session quiet: .*response quiet-P30001 \(P3\) silent"):
        scorer(silent, on_unscorable="error")
    assert scorer(spoken_session("fine", spoken), on_unscorable="error")["warnings"] == []


def test_a_folder_reports_what_it_does_not_read(tmp_path, monkeypatch):
    from modeling_sla import pipeline_sla

    for name in ("S1-P10001.flac", "S1-P20001.flac", "S1-P30001.mp3", "notes.txt", ".DS_Store"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "extra").mkdir()
    messages = []
    monkeypatch.setattr(pipeline_sla.logger, "warning", messages.append)
    sessions = sessions_from_folder(tmp_path, SANDI)
    assert [s["session_id"] for s in sessions] == ["S1"]
    assert [r["part"] for r in sessions[0]["responses"]] == ["P1", "P3"]  # the .mp3 is read
    assert messages == [f"{tmp_path}: skipped 2 file(s) that are not .flac, .wav, .mp3, .ogg (.DS_Store, "
                        f"notes.txt); 1 response(s) of parts that are not scored (S1-P20001.flac); 1 learner folder(s) "
                        f"without audio (extra/)"]


def test_duplicate_responses_are_refused_by_the_pipeline(scorer, spoken):
    session = spoken_session("twice", spoken, parts=("P1", "P3"))
    session["responses"].append(dict(session["responses"][0], response_id="twice-P10002"))
    with pytest.raises(SessionInputError, match="Session twice, response twice-P10002: the same audio samples"):
        scorer(session)


def test_reported_targets_rules():
    names = ["P1", "P3", "P4", "P5", "overall"]
    flag = {"response_id": "r", "part": "P4", "reason": "clipped", "detail": "d"}
    assert reported_targets(SANDI, ["P1", "P3", "P4", "P5", "P1"], []) == (names, [])
    assert reported_targets(SANDI, ["P1", "P3", "P4", "P5"], [flag])[0] == names
    reported, warnings = reported_targets(SANDI, ["P1", "P3", "P4", "P5"], [flag], "skip")
    assert reported == ["P1", "P3", "P5"] and [w["reason"] for w in warnings] == [
        "clipped", "unscorable_audio", "partial_session"]
    assert reported_targets(SANDI, ["P1"], [])[0] == ["P1"]
    with pytest.raises(ValueError, match="on_unscorable"):
        reported_targets(SANDI, ["P1"], [], "drop")


def test_reported_targets_follow_the_format():
    """A part scored from `min_responses` answers; overall only with every part; no overall for a test without."""
    values = SANDI.to_dict()
    values["parts"][0]["min_responses"] = 3
    strict = load_test_format(values)
    reported, warnings = reported_targets(strict, ["P1", "P1", "P3", "P4", "P5"], [])
    assert reported == ["P3", "P4", "P5"]
    assert [(w["part"], w["reason"]) for w in warnings] == [("P1", "too_few_responses"), ("overall", "partial_session")]
    assert "2 response(s)" in warnings[0]["detail"] and "from 3" in warnings[0]["detail"]
    values["overall"] = None
    assert reported_targets(load_test_format(values), ["P3"], [])[0] == ["P3"]
    toefl = load_test_format("toefl-like")
    assert reported_targets(toefl, ["task1", "task2", "task3", "task4"], [])[0] == toefl.score_names


def test_learner_folders_in_any_format_give_a_list_and_duplicate_ids_are_refused(scorer, spoken, tmp_path):
    learner = tmp_path / "cohort" / "kim"
    learner.mkdir(parents=True)
    soundfile.write(learner / "P1_01.mp3", spoken["P1"], 16_000, format="MP3", subtype="MPEG_LAYER_III")
    stereo = np.stack([spoken["P3"], spoken["P3"]], axis=1)
    soundfile.write(learner / "P3.ogg", soxr.resample(stereo, 16_000, 44_100), 44_100, format="OGG", subtype="VORBIS")
    results = scorer(str(tmp_path / "cohort"))
    assert isinstance(results, list) and [result["session_id"] for result in results] == ["kim"]
    assert results[0]["scores"]["P1"] is not None and results[0]["scores"]["P3"] is not None
    assert [w["reason"] for w in results[0]["warnings"]] == ["no_response", "no_response", "partial_session"]
    session = spoken_session("twice", spoken, parts=("P1",))
    with pytest.raises(ValueError, match=r"Sessions 0 and 2 of this call both have the session_id 'twice'"):
        scorer([session, spoken_session("other", spoken, parts=("P1",)), session])
