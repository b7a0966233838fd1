"""Tests of sla_phi4.data.speak_improve against the real kit lists and hand-written bad inputs."""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sla_phi4.data.speak_improve import (
    FEATURES,
    load_speak_improve,
    parse_file_id,
    read_file_list,
    read_marks,
)


KIT = Path(__file__).resolve().parents[3] / "shared" / "sandi2025-kit"
TARGETS = ("P1", "P3", "P4", "P5", "overall")


def _write_stub_flac(path: Path) -> None:
    sf.write(str(path), np.zeros(1600, dtype=np.float32), 16000, format="FLAC")  # 0.1 s of silence


def _line_count(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


# --------------------------------------------------------------------------------------------------
# The real kit layout (lists, marks and annotations copied at run time; stand-in FLACs as hard links)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kit_tree(tmp_path_factory) -> Path:
    if not KIT.is_dir():
        pytest.skip(f"S&I kit lists not found at {KIT}")
    root = tmp_path_factory.mktemp("sandi2025")
    shutil.copytree(KIT / "reference-materials", root / "reference-materials")
    template = root / "stub.flac"
    _write_stub_flac(template)
    paths = set()
    for list_file in (root / "reference-materials" / "flists.flac").glob("*.tsv"):
        for line in list_file.read_text().splitlines():
            if line.strip():
                paths.add(line.split("\t")[1])
    for folder in {os.path.dirname(p) for p in paths}:
        (root / folder).mkdir(parents=True, exist_ok=True)
    for rel in paths:
        try:
            os.link(template, root / rel)  # ~45k files: hard links take well under a second
        except OSError:
            shutil.copyfile(template, root / rel)
    return root


@pytest.fixture(scope="module")
def dev(kit_tree):
    return load_speak_improve(kit_tree, "dev")


@pytest.fixture(scope="module")
def train(kit_tree):
    return load_speak_improve(kit_tree, "train")


def test_dev_counts(dev, kit_tree):
    assert dev.num_rows == 438
    assert dev.features == FEATURES
    for target in TARGETS:
        assert all(value is not None for value in dev[target])
    responses = dev["responses"]
    parts = [r["part"] for rs in responses for r in rs]
    assert parts.count("P1") == 2575
    assert parts.count("P3") == 438 and parts.count("P4") == 438 and parts.count("P5") == 2165
    assert all(os.path.isabs(r["audio"]) and os.path.isfile(r["audio"]) for rs in responses for r in rs)
    first = dev[0]
    assert first["session_id"] == "SI114J-00011"
    assert first["overall"] == 5.25 and first["P1"] == 5.0
    assert first["responses"][0]["audio"] == str(kit_tree / "data/flac/dev/01/SI114J-00011-P10003.flac")


def test_train_counts(train):
    assert train.num_rows == 6642
    marks_dir = KIT / "reference-materials" / "sla-marks"
    for target in TARGETS:
        expected = _line_count(marks_dir / f"train-sla-{target}.tsv")
        assert sum(value is not None for value in train[target]) == expected, target
    counts = {target: sum(value is not None for value in train[target]) for target in TARGETS}
    assert counts == {"P1": 3068, "P3": 3060, "P4": 3005, "P5": 3085, "overall": 1742}
    complete = sum(all(row[p] is not None for p in ("P1", "P3", "P4", "P5")) for row in train)
    assert complete == 1247
    # Incomplete submissions keep exactly the responses the lists give: parts present == parts marked.
    for row in train.select(range(0, train.num_rows, 50)):
        assert {r["part"] for r in row["responses"]} == {p for p in ("P1", "P3", "P4", "P5") if row[p] is not None}
    assert sum(len(rs) for rs in train["responses"]) == 18072 + 3060 + 3005 + 15353


def test_response_order(dev, train):
    for ds in (dev, train):
        for responses in ds["responses"]:
            keys = [(r["part"], r["response_id"].rsplit("-", 1)[1]) for r in responses]
            assert keys == sorted(keys)
            assert all(r["response_id"].rsplit("-", 1)[1].startswith(r["part"]) for r in responses)
    assert dev["session_id"] == sorted(dev["session_id"])
    row = dev[dev["session_id"].index("SI114J-00045")]
    ids = [r["response_id"].rsplit("-", 1)[1] for r in row["responses"]]
    assert ids[0].startswith("P1") and ids[-1].startswith("P5")


def test_questions_from_annotations(dev):
    by_id = {r["response_id"]: r["question"] for rs in dev["responses"] for r in rs}
    assert by_id["SI114J-00045-P10005"] == "How interested are you in the environment?"
    with_question = sum(q is not None for q in by_id.values())
    assert 0 < with_question < len(by_id)


def test_train_loads_fast(kit_tree):
    import time

    start = time.perf_counter()
    load_speak_improve(kit_tree, "train")
    assert time.perf_counter() - start < 5.0


# --------------------------------------------------------------------------------------------------
# Small hand-written trees
# --------------------------------------------------------------------------------------------------

GOOD_LISTS = {
    "P1": ["S-01-P10004\tdata/S-01-P10004.flac", "S-01-P10003\tdata/S-01-P10003.flac", "S-02-P10003\tdata/S-02-P10003.flac"],
    "P3": ["S-01-P30017\tdata/S-01-P30017.flac"],
    "P4": ["S-01-P40018\tdata/S-01-P40018.flac"],
    "P5": ["S-01-P50019\tdata/S-01-P50019.flac", "S-02-P50020\tdata/S-02-P50020.flac"],
    "overall": ["S-01-P10003\tdata/S-01-P10003.flac", "S-01-P40018\tdata/S-01-P40018.flac"],
}
GOOD_MARKS = {
    "P1": ["S-01\t4.0", "S-02\t3.5"],
    "P3": ["S-01\t4.5"],
    "P4": ["S-01\t3.5"],
    "P5": ["S-01\t4.0", "S-02\t3.0"],
    "overall": ["S-01\t4.000"],
}


def make_tree(root: Path, split="dev", lists=None, marks=None, audio=True, annotations=None) -> Path:
    lists = GOOD_LISTS if lists is None else lists
    marks = GOOD_MARKS if marks is None else marks
    (root / "reference-materials" / "flists.flac").mkdir(parents=True, exist_ok=True)
    (root / "reference-materials" / "sla-marks").mkdir(parents=True, exist_ok=True)
    for target, lines in lists.items():
        (root / "reference-materials" / "flists.flac" / f"{split}-sla-{target}.tsv").write_text("\n".join(lines) + "\n")
        if audio:
            for line in lines:
                fields = line.split("\t")
                if len(fields) == 2 and fields[1].strip():
                    path = root / fields[1].strip()
                    path.parent.mkdir(parents=True, exist_ok=True)
                    if not path.exists():
                        _write_stub_flac(path)
    for target, lines in marks.items():
        (root / "reference-materials" / "sla-marks" / f"{split}-sla-{target}.tsv").write_text("\n".join(lines) + "\n")
    if annotations is not None:
        (root / "reference-materials" / "annotations").mkdir(exist_ok=True)
        (root / "reference-materials" / "annotations" / "x.json").write_text(json.dumps(annotations))
    return root


def test_small_tree(tmp_path):
    annotations = {"files": [{"File-id": "S-01-P30017", "Question": json.dumps({"text": "Talk about it.", "speaking-time": 60})}]}
    ds = load_speak_improve(make_tree(tmp_path, annotations=annotations), "dev")
    assert ds["session_id"] == ["S-01", "S-02"]
    s1, s2 = ds[0], ds[1]
    assert [r["response_id"] for r in s1["responses"]] == [
        "S-01-P10003", "S-01-P10004", "S-01-P30017", "S-01-P40018", "S-01-P50019"
    ]
    assert [r["part"] for r in s1["responses"]] == ["P1", "P1", "P3", "P4", "P5"]
    assert s1["responses"][2]["question"] == "Talk about it." and s1["responses"][0]["question"] is None
    assert s1["responses"][0]["audio"] == str(tmp_path / "data" / "S-01-P10003.flac")
    assert (s1["P1"], s1["P3"], s1["P4"], s1["P5"], s1["overall"]) == (4.0, 4.5, 3.5, 4.0, 4.0)
    assert (s2["P1"], s2["P3"], s2["P4"], s2["P5"], s2["overall"]) == (3.5, None, None, 3.0, None)
    assert [r["response_id"] for r in s2["responses"]] == ["S-02-P10003", "S-02-P50020"]


def test_eval_split_without_marks(tmp_path):
    make_tree(tmp_path, split="eval", marks={})
    ds = load_speak_improve(tmp_path, "eval")
    assert ds.num_rows == 2
    for target in TARGETS:
        assert ds[target] == [None, None]
    shutil.rmtree(tmp_path / "reference-materials" / "sla-marks")
    assert load_speak_improve(tmp_path, "eval").num_rows == 2


def test_overall_only_file_is_included(tmp_path):
    lists = dict(GOOD_LISTS, overall=GOOD_LISTS["overall"] + ["S-03-P10003\tdata/S-03-P10003.flac"])
    ds = load_speak_improve(make_tree(tmp_path, lists=lists), "dev")
    row = ds[ds["session_id"].index("S-03")]
    assert [(r["response_id"], r["part"]) for r in row["responses"]] == [("S-03-P10003", "P1")]
    assert row["P1"] is None


def test_overall_list_path_disagrees(tmp_path):
    lists = dict(GOOD_LISTS, overall=["S-01-P10003\tdata/S-01-P10003.flac", "S-01-P40018\tdata/other.flac"])
    make_tree(tmp_path, lists=lists)
    path = tmp_path / "reference-materials" / "flists.flac" / "dev-sla-overall.tsv"
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 2")):
        load_speak_improve(tmp_path, "dev")


def test_marks_without_audio_kept_with_warning(tmp_path):
    marks = dict(GOOD_MARKS, P3=["S-01\t4.5", "S-09\t2.0"])
    make_tree(tmp_path, marks=marks)
    with pytest.warns(UserWarning, match="1 submission"):
        ds = load_speak_improve(tmp_path, "dev")
    row = ds[ds["session_id"].index("S-09")]
    assert row["responses"] == [] and row["P3"] == 2.0


def test_blank_trailing_lines_and_crlf(tmp_path):
    make_tree(tmp_path)
    p1 = tmp_path / "reference-materials" / "flists.flac" / "dev-sla-P1.tsv"
    p1.write_text("\r\n".join(GOOD_LISTS["P1"]) + "\r\n\n  \n")
    marks = tmp_path / "reference-materials" / "sla-marks" / "dev-sla-P1.tsv"
    marks.write_text("\n".join(GOOD_MARKS["P1"]) + "\n\n\n")
    assert load_speak_improve(tmp_path, "dev").num_rows == 2


# ---- malformed inputs: each error names the file and the line ------------------------------------

BAD_LIST_LINES = [
    ("S-01-P10003\tdata/a.flac\textra", "2 tab-separated columns"),
    ("S-01-P10003", "2 tab-separated columns"),
    ("S-01-P10003 data/a.flac", "2 tab-separated columns"),
    ("S-01-P10004\tdata/S-01-P10004.flac", "duplicate file ID"),
    ("P10003\tdata/a.flac", "submission ID"),
    ("-P10003\tdata/a.flac", "submission ID"),
    ("S-01-X10003\tdata/a.flac", "part"),
    ("S-01-P20003\tdata/a.flac", "part"),
    ("S-01-P30017\tdata/a.flac", "part P3, but this is the P1 list"),
    ("\tdata/a.flac", "empty"),
]


@pytest.mark.parametrize("bad_line,what", BAD_LIST_LINES)
def test_bad_list_line(tmp_path, bad_line, what):
    lines = ["S-01-P10004\tdata/S-01-P10004.flac", "S-01-P10003\tdata/S-01-P10003.flac", bad_line, "S-02-P10003\tdata/S-02-P10003.flac"]
    make_tree(tmp_path, lists=dict(GOOD_LISTS, P1=lines))
    path = tmp_path / "reference-materials" / "flists.flac" / "dev-sla-P1.tsv"
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 3:") + ".*" + re.escape(what)):
        load_speak_improve(tmp_path, "dev")


BAD_MARK_LINES = [
    ("S-03\t4.0\t1", "2 tab-separated columns"),
    ("S-03", "2 tab-separated columns"),
    ("S-03\tfour", "not a number"),
    ("S-03\t", "not a number"),
    ("S-03\tnan", "NaN"),
    ("S-03\t6.5", "outside 0-6"),
    ("S-03\t-0.5", "outside 0-6"),
    ("S-03\tinf", "outside 0-6"),
    ("S-01\t3.0", "duplicate submission ID"),
    ("S 03\t3.0", "invalid submission ID"),
]


@pytest.mark.parametrize("target", ["P4", "overall"])
@pytest.mark.parametrize("bad_line,what", BAD_MARK_LINES)
def test_bad_mark_line(tmp_path, bad_line, what, target):
    make_tree(tmp_path, marks=dict(GOOD_MARKS, **{target: ["S-01\t3.5", "S-02\t3.0", bad_line]}))
    path = tmp_path / "reference-materials" / "sla-marks" / f"dev-sla-{target}.tsv"
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 3:") + ".*" + re.escape(what)):
        load_speak_improve(tmp_path, "dev")


def test_blank_line_inside_a_file(tmp_path):
    make_tree(tmp_path, marks=dict(GOOD_MARKS, P1=["S-01\t4.0", "", "S-02\t3.5"]))
    path = tmp_path / "reference-materials" / "sla-marks" / "dev-sla-P1.tsv"
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 2:")):
        load_speak_improve(tmp_path, "dev")


def test_bad_overall_list_line(tmp_path):
    lists = dict(GOOD_LISTS, overall=["S-01-P10003\tdata/S-01-P10003.flac", "S-01-P10003\tdata/S-01-P10003.flac"])
    make_tree(tmp_path, lists=lists)
    path = tmp_path / "reference-materials" / "flists.flac" / "dev-sla-overall.tsv"
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 2:") + ".*duplicate"):
        load_speak_improve(tmp_path, "dev")


def test_helpers(tmp_path):
    assert parse_file_id("SI114J-00011-P10003") == ("SI114J-00011", "P10003", "P1")
    assert parse_file_id("SI114J-00011-P50023") == ("SI114J-00011", "P50023", "P5")
    with pytest.raises(ValueError):
        parse_file_id("SI114J00011P10003")
    path = tmp_path / "l.tsv"
    path.write_text("A-1-P30017\tx.flac\n")
    assert read_file_list(path, "P3") == [("A-1-P30017", "x.flac")]
    path.write_text("A-1\t4.125\n\n")
    assert read_marks(path) == {"A-1": 4.125}


# ---- missing files --------------------------------------------------------------------------------


def test_missing_list_file(tmp_path):
    make_tree(tmp_path)
    path = tmp_path / "reference-materials" / "flists.flac" / "dev-sla-P4.tsv"
    path.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        load_speak_improve(tmp_path, "dev")
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "reference-materials" / "flists.flac" / "test-sla-P1.tsv"))):
        load_speak_improve(tmp_path, "test")


def test_missing_list_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "reference-materials" / "flists.flac"))):
        load_speak_improve(tmp_path, "dev")


def test_on_missing_error(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "data" / "S-01-P30017.flac").unlink()
    (tmp_path / "data" / "S-02-P10003.flac").unlink()
    with pytest.raises(FileNotFoundError, match=r"^2 audio file\(s\).*" + re.escape(str(tmp_path / "data" / "S-01-P30017.flac"))):
        load_speak_improve(tmp_path, "dev")


def test_on_missing_skip(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "data" / "S-01-P30017.flac").unlink()
    with pytest.warns(UserWarning, match=r"skipped 1 missing audio file\(s\); dropped 0 session"):
        ds = load_speak_improve(tmp_path, "dev", on_missing="skip")
    assert ds.num_rows == 2
    s1 = ds[0]
    assert [r["response_id"] for r in s1["responses"]] == ["S-01-P10003", "S-01-P10004", "S-01-P40018", "S-01-P50019"]
    assert s1["P3"] == 4.5  # the session and its marks are kept


def test_on_missing_skip_drops_empty_session(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "data" / "S-02-P10003.flac").unlink()
    (tmp_path / "data" / "S-02-P50020.flac").unlink()
    with pytest.warns(UserWarning, match=r"skipped 2 missing audio file\(s\); dropped 1 session"):
        ds = load_speak_improve(tmp_path, "dev", on_missing="skip")
    assert ds["session_id"] == ["S-01"]


def test_on_missing_skip_everything(tmp_path):
    make_tree(tmp_path, audio=False)
    with pytest.warns(UserWarning, match=r"skipped 7 missing audio file\(s\); dropped 2 session"):
        ds = load_speak_improve(tmp_path, "dev", on_missing="skip")
    assert ds.num_rows == 0 and ds.features == FEATURES


def test_no_warning_when_nothing_missing(tmp_path):
    make_tree(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_speak_improve(tmp_path, "dev", on_missing="skip")


@pytest.mark.parametrize("value", ["ignore", None, "Skip"])
def test_on_missing_invalid(tmp_path, value):
    make_tree(tmp_path)
    with pytest.raises(ValueError, match="on_missing"):
        load_speak_improve(tmp_path, "dev", on_missing=value)


# ---- encodings: kit files as Windows editors save them ---------------------------------------------


def test_byte_order_marks_are_read_as_the_kit_means(tmp_path):
    """A UTF-8 BOM (Windows editors) must not move the first response to a phantom session or hide a mark."""
    make_tree(tmp_path)
    for folder, name in (("flists.flac", "dev-sla-P1.tsv"), ("sla-marks", "dev-sla-P1.tsv"),
                         ("sla-marks", "dev-sla-overall.tsv")):
        path = tmp_path / "reference-materials" / folder / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    annotations = {"files": [{"File-id": "S-01-P30017", "Question": json.dumps({"text": "Talk about it."})}]}
    (tmp_path / "reference-materials" / "annotations").mkdir()
    (tmp_path / "reference-materials" / "annotations" / "x.json").write_bytes(
        b"\xef\xbb\xbf" + json.dumps(annotations).encode())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "marks but no listed audio" warning for a phantom ID
        ds = load_speak_improve(tmp_path, "dev")
    assert ds["session_id"] == ["S-01", "S-02"]
    assert [r["response_id"] for r in ds[0]["responses"]][:2] == ["S-01-P10003", "S-01-P10004"]
    assert ds[0]["P1"] == 4.0 and ds[0]["overall"] == 4.0
    assert ds[0]["responses"][2]["question"] == "Talk about it."


@pytest.mark.parametrize("folder,name", [("flists.flac", "dev-sla-P3.tsv"), ("sla-marks", "dev-sla-P5.tsv")])
def test_non_utf8_bytes_name_the_file_and_line(tmp_path, folder, name):
    make_tree(tmp_path)
    path = tmp_path / "reference-materials" / folder / name
    lines = path.read_bytes().split(b"\n")
    lines[0] = lines[0] + b"\xe9"  # Latin-1 e-acute
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 1:") + ".*UTF-8"):
        load_speak_improve(tmp_path, "dev")


def test_non_utf8_annotations_name_the_file(tmp_path):
    make_tree(tmp_path)
    folder = tmp_path / "reference-materials" / "annotations"
    folder.mkdir()
    (folder / "x.json").write_bytes(b'{"files": [{"File-id": "S-01-P30017", "Question": "Caf\xe9?"}]}')
    with pytest.raises(ValueError, match=re.escape(str(folder / "x.json")) + ".*UTF-8"):
        load_speak_improve(tmp_path, "dev")


@pytest.mark.parametrize("bad_id", ["S-01\u200b", "S-\ufeff01"])
def test_invisible_characters_in_ids_are_refused(tmp_path, bad_id):
    make_tree(tmp_path, marks=dict(GOOD_MARKS, P4=["S-01\t3.5", f"{bad_id}\t3.0"]))
    path = tmp_path / "reference-materials" / "sla-marks" / "dev-sla-P4.tsv"
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 2:") + ".*invisible"):
        load_speak_improve(tmp_path, "dev")
