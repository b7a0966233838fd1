"""`sla score` on the cohorts people have (issue 24): an unmarked split, one's own recordings (a manifest, a folder of
learner folders, mixed formats and rates), bad files in a 20-session cohort (each refused or flagged and counted by
reason, the run going on; `--strict` stopping), an overlong answer, reruns after audio or checkpoint changes, missing
files, a case-mismatched ID, deleted mark files, duplicate IDs, and strict JSON in every file a run writes."""

import csv
import json
import os
import shutil

import numpy as np
import pytest
import soundfile
import soxr

from sla_phi4.cli.score import main as score_main
from sla_phi4.data.kit import load_kit
from sla_phi4.evaluation.intake import RefusedSessionError
from sla_phi4.evaluation.scoring import score_corpus, score_recordings
from sla_phi4.evaluation.shards import StaleShardsError
from sla_phi4.strict_json import loads_strict


MARKS = "reference-materials/sla-marks"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A synthetic corpus: train 10 sessions, eval 20, every part answered, short audio."""
    from sla_phi4.data.synthetic import make_synthetic_corpus

    root = tmp_path_factory.mktemp("cohorts") / "corpus"
    make_synthetic_corpus(root, sessions=30, seed=3, duration_scale=0.05, progress=False, gaps=False,
                          splits=("train", "eval"), split_shares={"train": 1 / 3, "eval": 2 / 3})
    return root


def copy_corpus(corpus, tmp_path, marks=True):
    root = tmp_path / "corpus"
    shutil.copytree(corpus, root)
    if not marks:
        for path in (root / MARKS).glob("eval-*"):
            path.unlink()
    return root


def eval_rows(root):
    return list(load_kit(root, "eval"))


def response_file(row, part):
    return next(response["audio"] for response in row["responses"] if response["part"] == part)


def read_report(folder, name="eval"):
    return json.loads((folder / f"{name}_report.json").read_text())


def scores_table(folder):
    with open(folder / "scores.csv", newline="", encoding="utf-8") as handle:
        return {row["session_id"]: row for row in csv.DictReader(handle)}


def noise(seconds, seed=0, rate=16_000):
    return (np.random.default_rng(seed).normal(size=int(seconds * rate)) * 0.1).astype(np.float32)


# ------------------------------------------------------------------------------------- 1. no marks, a report
@pytest.mark.slow
def test_an_unmarked_split_gets_a_report_plots_and_scores(tiny_checkpoint, corpus, tmp_path, capsys):
    root = copy_corpus(corpus, tmp_path, marks=False)
    output = tmp_path / "out"
    score_main(["--checkpoint", str(tiny_checkpoint), "--corpus_root", str(root), "--split", "eval", "--output_dir",
                str(output), "--train_split", ""])
    printed = capsys.readouterr().out
    assert "No target has metrics" in printed and "eval-sla-P5.tsv does not exist" in printed
    report = read_report(output)
    assert report["metrics"] == {} and report["sessions"]["scored"] == 20
    assert set(report["targets"]) == {"P1", "P3", "P4", "P5", "overall"}
    for name, values in report["targets"].items():
        assert values["scored"] == 20 and values["marked"] == 0
        assert values["reason"] == f"no marks: {root / MARKS / f'eval-sla-{name}.tsv'} does not exist"
    assert report["plots"] == ["eval-score-distribution.png"] and (output / "eval-score-distribution.png").is_file()
    table = scores_table(output)
    assert len(table) == 20 and {row["status"] for row in table.values()} == {"scored"}
    assert all(2.0 <= float(row["overall"]) <= 5.5 and row["overall_level"] for row in table.values())


# ---------------------------------------------------------------- 3 + 4. bad files counted, the run goes on
def plant_bad_files(rows):
    """Five sessions' P3 answers broken in five ways; returns {session: expected (kind, reason)}."""
    soundfile_text, empty, nan, truncated, overlong = (rows[index] for index in (2, 5, 8, 11, 14))
    with open(response_file(soundfile_text, "P3"), "w") as handle:
        handle.write("this is a text file, not audio")
    soundfile.write(response_file(empty, "P3"), np.zeros(0, np.float32), 16_000, format="WAV")
    soundfile.write(response_file(nan, "P3"), np.full(8000, np.nan, np.float32), 16_000, format="WAV", subtype="FLOAT")
    whole = response_file(truncated, "P3") + ".whole.wav"
    soundfile.write(whole, noise(3.0), 16_000)
    data = open(whole, "rb").read()
    with open(response_file(truncated, "P3"), "wb") as handle:
        handle.write(data[: len(data) // 3])  # the header still declares 3 s
    soundfile.write(response_file(overlong, "P3"), noise(200.0, seed=1), 16_000, format="FLAC")  # P3: about 60 s
    return {soundfile_text["session_id"]: ("refused", "unreadable"), empty["session_id"]: ("refused", "empty"),
            nan["session_id"]: ("refused", "non_finite"), truncated["session_id"]: ("flagged", "truncated"),
            overlong["session_id"]: ("flagged", "too_long")}


@pytest.mark.slow
def test_bad_files_in_a_20_session_cohort_are_refused_or_flagged_and_counted(tiny_checkpoint, corpus, tmp_path):
    root = copy_corpus(corpus, tmp_path)
    rows = eval_rows(root)
    planted = plant_bad_files(rows)
    report = score_corpus(str(tiny_checkpoint), str(root), "eval", str(tmp_path / "out"), train_split=None)
    sessions = report["sessions"]
    assert sessions["total"] == 20 and sessions["scored"] == 17
    assert sessions["refused"]["by_reason"] == {"unreadable": 1, "empty": 1, "non_finite": 1}
    refused = {entry["session_id"]: entry for entry in sessions["refused"]["sessions"]}
    for session_id, (kind, reason) in planted.items():
        if kind == "refused":
            assert refused[session_id]["reason"] == reason
            assert refused[session_id]["file"].endswith("P30017.flac")
            assert refused[session_id]["response_id"].endswith("-P30017")
    assert sessions["flagged"]["by_reason"]["truncated"] == 1 and sessions["flagged"]["by_reason"]["too_long"] == 1
    table = scores_table(tmp_path / "out")
    for session_id, (kind, reason) in planted.items():
        row = table[session_id]
        assert row["status"] == ("refused" if kind == "refused" else "scored")
        assert reason in row["warnings"] and row["refer_to_examiner"] == "yes"
        assert (row["overall"] == "") == (kind == "refused")
    assert sum(row["status"] == "scored" for row in table.values()) == 17
    # the metrics count the scored sessions only
    assert report["metrics"]["overall"]["count"] == 17 and report["targets"]["overall"]["paired"] == 17
    with pytest.raises(RefusedSessionError, match=r"unreadable; --strict"):
        score_corpus(str(tiny_checkpoint), str(root), "eval", str(tmp_path / "strict"), train_split=None, strict=True)


@pytest.mark.slow
def test_strict_stops_at_a_flagged_session_and_missing_files_are_counted_as_missing(tiny_checkpoint, corpus,
                                                                                     tmp_path):
    from modeling_sla.pipeline_sla import UnscorableSessionError

    root = copy_corpus(corpus, tmp_path)
    rows = eval_rows(root)
    soundfile.write(response_file(rows[0], "P4"), noise(200.0), 16_000, format="FLAC")  # too long
    with pytest.raises(UnscorableSessionError, match="too_long"):
        score_corpus(str(tiny_checkpoint), str(root), "eval", str(tmp_path / "strict"), train_split=None,
                     strict=True)
    os.remove(response_file(rows[3], "P3"))
    refused = score_corpus(str(tiny_checkpoint), str(root), "eval", str(tmp_path / "refuse"), train_split=None)
    assert refused["sessions"]["refused"]["by_reason"] == {"missing": 1}
    assert refused["warnings"]["by_reason"].get("no_response") is None
    skipped = score_corpus(str(tiny_checkpoint), str(root), "eval", str(tmp_path / "skip"), train_split=None,
                           on_missing="skip")
    assert skipped["sessions"]["refused"]["count"] == 0 and skipped["sessions"]["flagged"]["by_reason"]["missing"] == 1
    assert skipped["warnings"]["by_reason"]["missing"] == 2  # the response, and the part it left without answer
    assert "no_response" not in skipped["warnings"]["by_reason"]
    assert skipped["not_scored"]["P3"] == 1 and skipped["not_scored"]["P1"] == 0


# ---------------------------------------------------------------------------------------- 2. nothing stale
@pytest.mark.slow
def test_a_rerun_rescores_exactly_the_changed_sessions_and_refuses_another_checkpoint(tiny_checkpoint, corpus,
                                                                                      tmp_path):
    from sla_phi4.testing.tiny_checkpoint import build_tiny_checkpoint

    root = copy_corpus(corpus, tmp_path)
    output = tmp_path / "out"
    first = score_corpus(str(tiny_checkpoint), str(root), "eval", str(output), train_split=None)
    assert first["scoring"]["scored_now"] == 20 and first["scoring"]["kept"] == 0
    changed = eval_rows(root)[4]
    path = response_file(changed, "P3")
    soundfile.write(path, np.zeros(16_000, np.float32), 16_000, format="FLAC")  # replaced by 1 s of silence
    again = score_corpus(str(tiny_checkpoint), str(root), "eval", str(output), train_split=None)
    assert again["scoring"]["scored_now"] == 1 and again["scoring"]["kept"] == 19
    assert again["scoring"]["stale_lines"] == 1
    assert again["sessions"]["flagged"]["by_reason"] == {"silent": 1}
    assert scores_table(output)[changed["session_id"]]["refer_to_examiner"] == "yes"
    manifest = json.loads((output / "shards" / "manifest.json").read_text())
    entry = manifest["inputs"][changed["session_id"]]["responses"]
    assert {"path", "size", "mtime", "sha256"} <= set(entry[0]) and any(item["path"] == path for item in entry)
    unchanged = score_corpus(str(tiny_checkpoint), str(root), "eval", str(output), train_split=None)
    assert unchanged["scoring"]["scored_now"] == 0
    other = build_tiny_checkpoint(str(tmp_path / "other"), seed=1)
    with pytest.raises(StaleShardsError, match=r"checkpoint_sha256 differ\).*--overwrite"):
        score_corpus(other, str(root), "eval", str(output), train_split=None)
    replaced = score_corpus(other, str(root), "eval", str(output), train_split=None, overwrite=True)
    assert replaced["scoring"]["scored_now"] == 20


# ------------------------------------------------------------------------------ 5. counted by true reason
def test_a_mark_whose_id_differs_in_case_from_its_audio_is_an_error(corpus, tmp_path):
    root = copy_corpus(corpus, tmp_path)
    marks = root / MARKS / "eval-sla-P1.tsv"
    lines = marks.read_text().splitlines()
    session, score = lines[0].split("\t")
    marks.write_text("\n".join([f"{session.lower()}\t{score}"] + lines[1:]) + "\n")
    with pytest.raises(ValueError, match=rf"eval-sla-P1.tsv: submission ID '{session.lower()}' has no audio, but "
                                         rf"the lists have '{session}'"):
        load_kit(root, "eval")


@pytest.mark.slow
def test_targets_without_metrics_say_why(tiny_checkpoint, corpus, tmp_path):
    root = copy_corpus(corpus, tmp_path)
    (root / MARKS / "eval-sla-P5.tsv").unlink()
    p4 = root / MARKS / "eval-sla-P4.tsv"
    p4.write_text(p4.read_text().splitlines()[0] + "\n")  # one marked session: too few for metrics
    report = score_corpus(str(tiny_checkpoint), str(root), "eval", str(tmp_path / "out"), train_split=None)
    assert set(report["metrics"]) == {"P1", "P3", "overall"}
    assert report["targets"]["P5"]["reason"] == f"no marks: {root / MARKS / 'eval-sla-P5.tsv'} does not exist"
    assert report["targets"]["P4"] == {"scored": 20, "marked": 1, "paired": 1,
                                       "reason": "1 session(s) with both a mark and a score; metrics need at least 2"}
    assert report["plots"] == ["eval-score-distribution.png", "eval-pred-vs-ref.png", "eval-error-by-band.png"]


# ---------------------------------------------------------------------------------- 6. own recordings
def write_recordings(corpus, folder):
    """Two learners' recordings from the corpus's eval audio, in mixed formats, rates and channels; returns the
    manifest rows."""
    rows = eval_rows(corpus)[:2]
    layouts = [("anna", rows[0], [("P1", "P1_01.mp3", 44_100, 2), ("P1", "P1_02.ogg", 48_000, 1),
                                  ("P3", "P3.wav", 8_000, 1), ("P4", "P4.flac", 22_050, 2),
                                  ("P5", "P5_1.ogg", 16_000, 1)]),
               ("ben", rows[1], [("P3", "P3.mp3", 24_000, 1)])]
    formats = {".mp3": ("MP3", "MPEG_LAYER_III"), ".ogg": ("OGG", "VORBIS"), ".wav": ("WAV", "PCM_16"),
               ".flac": ("FLAC", "PCM_16")}
    manifest = []
    for learner, row, files in layouts:
        (folder / learner).mkdir(parents=True)
        sources = [response["audio"] for response in row["responses"]]
        for position, (part, name, rate, channels) in enumerate(files):
            source = [path for path in sources if f"-{part}" in path][0 if part != "P1" else position]
            audio, source_rate = soundfile.read(source, dtype="float32")
            audio = soxr.resample(audio, source_rate, rate)
            if channels == 2:
                audio = np.stack([audio, 0.8 * audio], axis=1)
            file_format, subtype = formats[name[name.rindex("."):]]
            soundfile.write(folder / learner / name, audio, rate, format=file_format, subtype=subtype)
            manifest.append({"session_id": learner, "part": part, "audio": f"{folder.name}/{learner}/{name}",
                             "question": "Where do you live?" if part == "P1" else ""})
    (folder / "ben" / "notes.txt").write_text("not audio")
    return manifest


@pytest.mark.slow
def test_own_recordings_from_a_manifest_or_learner_folders_score_alike(tiny_checkpoint, corpus, tmp_path, capsys):
    manifest_rows = write_recordings(corpus, tmp_path / "uploads")
    manifest = tmp_path / "recordings.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["session_id", "part", "audio", "question"])
        writer.writeheader()
        writer.writerows(manifest_rows)
    jsonl = tmp_path / "recordings.jsonl"
    jsonl.write_text("".join(json.dumps({**row, "question": row["question"] or None}) + "\n"
                             for row in manifest_rows))
    score_main(["--checkpoint", str(tiny_checkpoint), "--manifest", str(manifest), "--output_dir",
                str(tmp_path / "csv")])
    assert "no marks: a manifest of recordings carries none" in capsys.readouterr().out
    from_jsonl = score_recordings(str(tiny_checkpoint), str(tmp_path / "jsonl"), manifest=str(jsonl))
    from_folder = score_recordings(str(tiny_checkpoint), str(tmp_path / "folder"), audio_dir=str(tmp_path / "uploads"))
    csv_table, jsonl_table = scores_table(tmp_path / "csv"), scores_table(tmp_path / "jsonl")
    assert csv_table == jsonl_table
    assert csv_table["anna"]["status"] == "scored" and csv_table["ben"]["status"] == "partial"
    assert csv_table["ben"]["P3"] and not csv_table["ben"]["P1"] and "no_response (P1)" in csv_table["ben"]["warnings"]
    assert from_jsonl["sessions"]["scored"] == 2 and from_folder["sessions"]["skipped"] == {
        "file(s) that are not .flac, .wav, .mp3, .ogg": 1}
    folder_table = scores_table(tmp_path / "folder")
    # the folder has no questions: P1 differs from the manifest's (questions are model inputs); P3 alone matches
    assert folder_table["ben"]["P3"] == csv_table["ben"]["P3"]
    for name in ("P1", "P3", "P4", "P5", "overall"):
        assert (tmp_path / "csv" / "predictions" / f"cohort-sla-{name}.tsv").is_file()


def test_manifest_errors_name_the_file_and_line(tmp_path):
    from modeling_sla.test_format_sla import load_test_format
    from sla_phi4.data.recordings_manifest import read_recordings_manifest

    sandi = load_test_format("sandi2025")
    cases = {
        "session_id,part\nA,P1\n": r"no column audio",
        "session_id,part,audio\nA,P1,a.wav\nA,P1,a.wav\n": r"line 3: the same audio file as line 2",
        "session_id,part,audio\nA,P1,a.wav\na,P3,b.wav\n": r"line 3: session ID 'a' differs only in case from 'A' "
                                                            r"\(line 2\)",
        "session_id,part,audio\nA,P7,a.wav\n": r"line 2: unknown part 'P7'",
        "session_id,part,audio\nA,P3,a.wav\nA,P3,b.wav\n": r"lines 2, 3: Session A: part P3 has 2 responses",
        "session_id,part,audio\nA,P1,\n": r"line 2: no audio",
    }
    for text, message in cases.items():
        path = tmp_path / "m.csv"
        path.write_text(text)
        with pytest.raises(ValueError, match=rf"{path}, {message}" if "line" in message else message):
            read_recordings_manifest(path, sandi)
    path.write_text("session_id,part,audio,learner\nA,P2,a.wav\nA,P1,x/b.wav,kim\n")
    found = read_recordings_manifest(path, sandi)
    assert found.skipped == {"response(s) of parts that are not scored": ["line 2"]}
    assert found.ignored_columns == ["learner"]
    assert found.sessions == [{"session_id": "A", "responses": [
        {"response_id": "A-P1-1", "part": "P1", "audio": str(tmp_path / "x" / "b.wav"), "question": None}]}]


def test_learner_folders_refuse_duplicate_ids_and_answers(tmp_path):
    from modeling_sla.session_folders_sla import read_session_folder
    from modeling_sla.test_format_sla import load_test_format

    sandi = load_test_format("sandi2025")
    for name in ("kim/P3.ogg", "kim/P3.wav"):
        (tmp_path / "a" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "a" / name).write_bytes(b"")
    with pytest.raises(ValueError, match=r"Two files for the same answer of session kim: .*P3.ogg and .*P3.wav"):
        read_session_folder(tmp_path / "a", sandi)
    for name in ("Kim/P3.ogg", "kim-P10001.flac"):
        (tmp_path / "b" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "b" / name).write_bytes(b"")
    with pytest.raises(ValueError, match=r"Two sessions with the ID 'kim' .*the folder .*Kim and the file"):
        read_session_folder(tmp_path / "b", sandi)
    (tmp_path / "c" / "lee").mkdir(parents=True)
    for name in ("P1_10.mp3", "P1_2.mp3", "P2.wav", "P5-a.ogg", "P3.FLAC", "P4.m4a", "notes.txt"):
        (tmp_path / "c" / "lee" / name).write_bytes(b"")
    found = read_session_folder(tmp_path / "c", sandi)
    # a phone's P4.m4a stays P4's answer (its reading fails with its name), not a part left unanswered
    assert [response["response_id"] for response in found.sessions[0]["responses"]] == [
        "lee-P1_2", "lee-P1_10", "lee-P3", "lee-P4", "lee-P5-a"]
    assert found.skipped == {"response(s) of parts that are not scored": ["lee/P2.wav"],
                             "file(s) that are not .flac, .wav, .mp3, .ogg": ["lee/notes.txt"]}
    (tmp_path / "c" / "lee" / "answer.wav").write_bytes(b"")
    with pytest.raises(ValueError, match=r"Cannot tell the part of .*answer.wav"):
        read_session_folder(tmp_path / "c", sandi)


# ---------------------------------------------------------------------------------------- 7. strict JSON
@pytest.mark.slow
def test_every_json_a_scoring_run_writes_is_strict(tiny_checkpoint, corpus, tmp_path):
    root = copy_corpus(corpus, tmp_path)
    output = tmp_path / "out"
    report = score_corpus(str(tiny_checkpoint), str(root), "eval", str(output), train_split="train")
    # the training mean is constant: its PCC is undefined, written as null
    assert report["baselines"]["train_mean"]["overall"]["pcc"] != report["baselines"]["train_mean"]["overall"]["pcc"]
    written = sorted(output.rglob("*.json")) + sorted(output.rglob("*.jsonl"))
    assert {path.name for path in written} >= {"eval_report.json", "manifest.json", "eval.rank0.jsonl"}
    for path in written:
        text = path.read_text()
        for line in (text.splitlines() if path.suffix == ".jsonl" else [text]):
            loads_strict(line)
    assert read_report(output)["baselines"]["train_mean"]["overall"]["pcc"] is None
    with pytest.raises(ValueError, match="not strict JSON: NaN"):
        loads_strict('{"pcc": NaN}')


def test_a_batch_holding_an_unloadable_session_scores_the_others(tiny_model, tiny_processor, corpus, tmp_path):
    from processing_sla.audio_io_sla import AudioInputError
    from sla_phi4.evaluation.predictions import score_sessions

    rows = eval_rows(copy_corpus(corpus, tmp_path))[:4]
    soundfile.write(response_file(rows[1], "P3"), np.full(8000, np.nan, np.float32), 16_000, format="WAV",
                    subtype="FLOAT")
    scored = [session for batch in score_sessions(tiny_model, tiny_processor, rows, batch_size=4,
                                                  on_unreadable="refuse") for session in batch]
    assert sorted(session.index for session in scored) == [0, 1, 2, 3]
    refused = [session for session in scored if session.refused]
    assert [session.index for session in refused] == [1] and np.isnan(refused[0].scores).all()
    assert refused[0].warnings[0]["reason"] == "non_finite" and refused[0].warnings[0]["file"].endswith(".flac")
    assert all(np.isfinite(session.scores).all() for session in scored if not session.refused)
    with pytest.raises(AudioInputError, match="NaN"):
        list(score_sessions(tiny_model, tiny_processor, rows, batch_size=4))  # the default stops


def test_the_summary_names_what_was_not_read():
    from sla_phi4.evaluation.cohort_report import format_sessions

    kind = "file(s) that are not .flac, .wav, .mp3, .ogg"
    report = {"sessions": {"skipped": {kind: 2}, "skipped_examples": {kind: ["ben/notes.txt", "manifest.csv"]}}}
    assert format_sessions(report) == f"Not read: 2 {kind} (ben/notes.txt, manifest.csv)"
