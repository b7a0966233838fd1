"""The espeak-ng TTS wrapper and the synthetic Speak & Improve corpus (kit layout, marks, determinism)."""

import csv
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from modeling_sla import load_test_format
from sla_phi4.data import espeak_tts
from sla_phi4.data.synthetic import (
    L1_VOICES,
    PARTS,
    QUESTION_IDS,
    corpus_texts,
    kit,
    load_pools,
    make_synthetic_corpus,
    ridge_r2,
    voiced_fraction,
)
from sla_phi4.data.synthetic.pools import POOL_FILES


SPLITS = ("train", "dev", "eval")
TARGETS = PARTS + ("overall",)
FILE_ID = re.compile(r"^([A-Z0-9]{6}-\d{5})-(P[1345]\d{4})$")
HALF_BANDS = {2.0 + 0.5 * i for i in range(8)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic-si")
    summary = make_synthetic_corpus(root, sessions=12, seed=0, duration_scale=0.1, progress=False)
    return root, summary


def read_tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def kit_lists(root: Path, split: str) -> dict[str, list[list[str]]]:
    return {t: read_tsv(root / "reference-materials" / "flists.flac" / f"{split}-sla-{t}.tsv") for t in TARGETS}


def kit_marks(root: Path, split: str) -> dict[str, dict[str, str]]:
    return {t: dict(read_tsv(root / "reference-materials" / "sla-marks" / f"{split}-sla-{t}.tsv")) for t in TARGETS}


def speakers(root: Path) -> dict[str, dict[str, str]]:
    with open(root / "reference-materials" / "speakers.tsv", encoding="utf-8") as handle:
        return {row["submission_id"]: row for row in csv.DictReader(handle, delimiter="\t")}


# --- TTS ------------------------------------------------------------------------------------------------

def test_tts_speaks_16k_float32_non_silent():
    audio = espeak_tts.synthesize("I think this is a good idea.", "en", 160, 50)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.5 < audio.size / espeak_tts.SAMPLE_RATE < 5.0
    assert np.abs(audio).max() > 0.1 and voiced_fraction(audio) > 0.3


def test_tts_duration_grows_with_text_and_shrinks_with_rate():
    short = espeak_tts.synthesize("I live in a small town.", "en", 160)
    long = espeak_tts.synthesize("I live in a small town near the sea, and I like it very much.", "en", 160)
    fast = espeak_tts.synthesize("I live in a small town near the sea, and I like it very much.", "en", 260)
    assert long.size > 1.5 * short.size
    assert fast.size < 0.8 * long.size


def test_tts_l1_voice_changes_the_audio_and_reset_makes_it_repeatable():
    text = "Studying abroad helps you to become more independent."
    english = espeak_tts.synthesize(text, "en")
    spanish = espeak_tts.synthesize(text, "es+f2")
    assert english.size != spanish.size or not np.allclose(english, spanish)
    espeak_tts.reset()
    first = [espeak_tts.synthesize(text, "fr", 140, 40) for _ in range(2)]
    espeak_tts.reset()
    again = [espeak_tts.synthesize(text, "fr", 140, 40) for _ in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_tts_voices_and_errors():
    assert all(espeak_tts.has_voice(v) for v in L1_VOICES)
    assert not espeak_tts.has_voice("no-such-voice")
    with pytest.raises(espeak_tts.EspeakError):
        espeak_tts.synthesize("hello", "no-such-voice")
    assert espeak_tts.synthesize("   ").size == 0


# --- layout -----------------------------------------------------------------------------------------------

def test_layout_lists_and_audio(corpus):
    root, summary = corpus
    seen_sessions = set()
    for split in SPLITS:
        lists = kit_lists(root, split)
        marks = kit_marks(root, split)
        part_files = {}
        for part in PARTS:
            for file_id, rel in lists[part]:
                match = FILE_ID.match(file_id)
                assert match and match.group(2) in QUESTION_IDS[part], file_id
                folder = f"data/flac/{split}/\\d\\d/" + (f"{part}/" if split == "train" else "")
                assert re.fullmatch(folder + re.escape(file_id) + r"\.flac", rel), rel
                assert (root / rel).is_file(), rel
                part_files[file_id] = rel
                assert match.group(1) in marks[part], f"{file_id} listed without a {part} mark"
            assert [f for f, _ in lists[part]] == sorted(f for f, _ in lists[part])
        # every part mark has files, like the real kit
        for part in PARTS:
            listed = {FILE_ID.match(f).group(1) for f, _ in lists[part]}
            assert set(marks[part]) == listed
        # the overall list: every part file of the sessions with an overall mark
        with_overall = set(marks["overall"])
        expected = {f: p for f, p in part_files.items() if FILE_ID.match(f).group(1) in with_overall}
        assert dict(lists["overall"]) == expected
        sessions = {FILE_ID.match(f).group(1) for f in part_files} | set().union(*map(set, marks.values()))
        assert len(sessions) == summary["splits"][split]["sessions"] >= 1
        assert not sessions & seen_sessions
        seen_sessions |= sessions
    assert len(seen_sessions) == 12


def test_audio_is_16k_mono_flac_and_speech(corpus):
    root, _ = corpus
    for split in SPLITS:
        for file_id, rel in kit_lists(root, split)["overall"][:8]:
            info = sf.info(root / rel)
            assert (info.samplerate, info.channels, info.format) == (16000, 1, "FLAC")
            audio, _ = sf.read(root / rel, dtype="float32")
            assert np.abs(audio).max() > 0.1
            assert 0.1 < voiced_fraction(audio) < 1.0
            assert 0.5 < audio.size / 16000 <= 6.0 + 1e-6  # allotted time at scale 0.1 (P3/P4: 6 s)


def test_marks_half_bands_and_overall_is_part_mean(corpus):
    root, _ = corpus
    truth = speakers(root)
    for split in SPLITS:
        marks = kit_marks(root, split)
        for part in PARTS:
            for sid, text in marks[part].items():
                assert re.fullmatch(r"\d\.\d{3}", text)
                assert float(text) in HALF_BANDS
                assert float(text) == float(truth[sid][f"true_{part}"])
        for sid, text in marks["overall"].items():
            parts = [float(truth[sid][f"true_{p}"]) for p in PARTS]
            assert float(text) == pytest.approx(sum(parts) / 4, abs=1e-9)
            if all(sid in marks[p] for p in PARTS):
                assert float(text) == pytest.approx(sum(float(marks[p][sid]) for p in PARTS) / 4, abs=1e-9)
        if split != "train":  # dev and eval are complete, like the real dev
            assert set(marks["overall"]) == set(marks["P1"]) == set(marks["P3"]) == set(marks["P4"]) == set(marks["P5"])


def test_annotations_speakers_and_summary(corpus):
    root, summary = corpus
    table = speakers(root)
    assert len(table) == 12
    for row in table.values():
        assert row["l1_voice"] in L1_VOICES
        assert row["split"] in SPLITS
        for cue in ("rate", "pause", "filler", "disfluency", "length", "lexical"):
            float(row[f"cue_{cue}_z"])
        float(row["latent_z"]), float(row["proficiency"])
    for split in SPLITS:
        listed = {f for part in PARTS for f, _ in kit_lists(root, split)[part]}
        path = root / "reference-materials" / "annotations" / f"{split}-synthetic-trans-ref.json"
        content = json.loads(path.read_text(encoding="utf-8"))
        assert content["ref-type"] == "transcription"
        files = {entry["File-id"]: entry for entry in content["files"]}
        assert set(files) == listed
        for entry in files.values():
            question = json.loads(entry["Question"])
            assert set(question) == {"text", "speaking-time", "thinking-time"} and question["text"]
            words = [w["word"] for w in entry["Transcript"] if "word" in w]
            assert words and all(w == w.upper() for w in words)
            assert entry["Transcript"][-1]["tag"] in ("speech-unit-statement", "speech-unit-incomplete")
    on_disk = json.loads((root / "synthetic-summary.json").read_text())
    for s in (summary, on_disk):
        assert "r2_heldout" in s["ridge_duration_voiced"] and "r2_in_sample" in s["ridge_duration_voiced"]
        assert set(s["cue_correlations_with_latent"]["parameters"]) >= {"rate_wpm", "lexical_level", "fill_target"}
        assert s["sessions"] == 12 and s["responses"] == sum(v["responses"] for v in s["splits"].values())
        assert s["timing"]["sessions_per_s"] > 0


def _digests(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted((root / "reference-materials").rglob("*")):
        if path.is_file():
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    for path in sorted((root / "data").rglob("*.flac")):
        out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_same_seed_same_bytes_any_worker_count_other_seed_differs(corpus, tmp_path):
    root, _ = corpus
    again = make_synthetic_corpus(tmp_path / "again", sessions=12, seed=0, duration_scale=0.1, progress=False,
                                  workers=1)
    assert again["responses"] > 0
    assert _digests(root) == _digests(tmp_path / "again")
    other = tmp_path / "other"
    make_synthetic_corpus(other, sessions=12, seed=1, duration_scale=0.1, progress=False)
    mine, theirs = _digests(root), _digests(other)
    assert mine["reference-materials/speakers.tsv"] != theirs["reference-materials/speakers.tsv"]
    audio_mine = {v for k, v in mine.items() if k.endswith(".flac")}
    audio_theirs = {v for k, v in theirs.items() if k.endswith(".flac")}
    assert audio_mine and audio_theirs and not audio_mine & audio_theirs


# The digests the corpus (12 sessions, seed 0, duration scale 0.1) and corpus_texts() had before the text pools and
# the real kit's statistics moved from code to the data files in sla_phi4/data/synthetic/resources/, and before
# the corpus was made from a test format's plan (the only new file, test_format.json, is checked on its own).
CORPUS_DIGEST = "8975a315c3bb9a2b3beeda9f48e9581d1a0d0136b69825b1bfe2eec63ad6c389"
TEXTS_DIGEST = "fa0f34747770dfca5e38b0ffd202c25e44a728c4f320c3531ace494b29ed5b49"


def test_corpus_bytes_are_pinned(corpus):
    root, _ = corpus
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name not in ("synthetic-summary.json", "test_format.json"):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    assert digest.hexdigest() == CORPUS_DIGEST
    assert json.loads((root / "test_format.json").read_text()) == load_test_format("sandi2025").to_dict()


def test_corpus_texts_are_pinned():
    assert hashlib.sha256("\n".join(corpus_texts()).encode()).hexdigest() == TEXTS_DIGEST


def test_unbalanced_pool_file_is_refused_naming_file_and_topic(tmp_path):
    for name in POOL_FILES:
        (tmp_path / name).write_bytes(kit.resource(name).read_bytes())
    assert load_pools(tmp_path).p3.keys() == load_pools().p3.keys()
    data = json.loads((tmp_path / "p3_topics.json").read_text(encoding="utf-8"))
    topic = next(iter(data["topics"]))
    data["topics"][topic]["B1"].pop()
    (tmp_path / "p3_topics.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"p3_topics\.json: topic '{topic}' has an unbalanced text pool"):
        load_pools(tmp_path)


def test_real_kit_rates_agree_with_its_counts():
    patterns = kit.REAL_TRAIN_PART_PATTERNS
    train, dev = kit.REAL_KIT_RATES["train"], kit.REAL_KIT_RATES["dev"]
    assert train["submissions"] == sum(patterns.values())
    assert train["all_four_parts"] == patterns[PARTS] / train["submissions"]
    with_overall, without_all = kit.REAL_TRAIN_OVERALL_WITHOUT_ALL_PARTS
    assert without_all == train["submissions"] - patterns[PARTS]
    assert train["overall_mark"] == (patterns[PARTS] + with_overall) / train["submissions"]
    for split, rates in (("train", train), ("dev", dev)):
        for part, full in (("P1", 6), ("P5", 5)):
            counts = kit.REAL_ANSWER_COUNTS[split][part]
            missing = sum(counts.values()) - counts[full]
            assert rates[f"{part.lower()}_sessions_missing_answers"] == pytest.approx(missing / sum(counts.values()))
    assert dev["submissions"] == sum(kit.REAL_FOLDERS["dev"].values())
    assert train["submissions"] == sum(kit.REAL_FOLDERS["train"].values())


def test_refuses_to_overwrite_without_flag(corpus):
    root, _ = corpus
    with pytest.raises(FileExistsError):
        make_synthetic_corpus(root, sessions=3, seed=0, duration_scale=0.1, progress=False)


def test_ridge_r2_helper():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 2))
    y = 2.0 * x[:, 0] - x[:, 1]
    fit = ridge_r2(x, y, alpha=1e-6)
    assert fit["r2_in_sample"] > 0.999 and fit["r2_heldout"] > 0.999
    noise = ridge_r2(rng.standard_normal((60, 2)), rng.standard_normal(60))
    assert noise["r2_heldout"] < 0.2


# --- the loader reads the tree ----------------------------------------------------------------------------

def test_load_speak_improve_reads_the_synthetic_tree(corpus):
    from sla_phi4.data.speak_improve import load_speak_improve

    root, summary = corpus
    truth = speakers(root)
    for split in SPLITS:
        rows = load_speak_improve(root, split)
        assert len(rows) == summary["splits"][split]["sessions"]
        marks = kit_marks(root, split)
        for row in rows:
            sid = row["session_id"]
            assert truth[sid]["split"] == split
            for target in TARGETS:
                expected = marks[target].get(sid)
                assert row[target] == (None if expected is None else float(expected))
            for response in row["responses"]:
                assert Path(response["audio"]).is_file()
                assert response["response_id"].startswith(sid + "-")
                assert response["part"] == FILE_ID.match(response["response_id"]).group(2)[:2]
                assert response["question"]
        assert sum(len(r["responses"]) for r in rows) == summary["splits"][split]["responses"]
