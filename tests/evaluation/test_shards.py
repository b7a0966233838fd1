"""Sharded, resumable scoring: balanced shards, whole lines only, refused stale shards; and, end to end, two CPU
processes writing the files of one, and a SIGKILLed run resumed into the files of an uninterrupted one."""

import json

import pytest

from sla_phi4.benchmarks.sharded_scoring import run as run_benchmark
from sla_phi4.evaluation.shards import ShardWriter, balanced_shards, check_manifest, read_shards, shard_path


def test_shards_are_balanced_by_audio_and_cover_every_session_once():
    seconds = {index: float(length) for index, length in enumerate([9, 1, 1, 1, 5, 4, 3, 2, 8, 7])}
    shards = balanced_shards(list(seconds), seconds, 3)
    assert sorted(index for shard in shards for index in shard) == list(seconds)
    loads = [sum(seconds[index] for index in shard) for shard in shards]
    assert max(loads) - min(loads) <= 1.0
    assert shards == balanced_shards(list(seconds), seconds, 3)  # deterministic
    assert balanced_shards([4, 2], seconds, 1) == [[2, 4]]
    assert balanced_shards([], seconds, 2) == [[], []]


def test_incomplete_lines_are_repaired_and_duplicates_counted(tmp_path):
    with ShardWriter(shard_path(str(tmp_path), "eval", 0)) as writer:
        writer.append([{"session_id": "A", "scores": [3.0]}, {"session_id": "B", "scores": [None]}])
    with ShardWriter(shard_path(str(tmp_path), "eval", 1)) as writer:
        writer.append([{"session_id": "B", "scores": [4.0]}])
    with open(shard_path(str(tmp_path), "eval", 1), "a", encoding="utf-8") as handle:
        handle.write('{"session_id": "C", "sco')  # a process killed mid-write
    found = read_shards(str(tmp_path), "eval")
    assert set(found.records) == {"A", "B"} and found.duplicates == 1 and found.repaired == 1
    assert found.records["B"]["scores"] == [None]  # the first line of a session is kept
    assert open(shard_path(str(tmp_path), "eval", 1)).read().endswith("}\n")  # whole lines only now
    assert read_shards(str(tmp_path), "dev").records == {}


def test_shards_of_another_run_are_refused(tmp_path):
    manifest = {"checkpoint": "abc", "split": "eval", "sessions": 10}
    check_manifest(str(tmp_path), manifest)
    check_manifest(str(tmp_path), dict(manifest))  # the same run: resumed
    with pytest.raises(ValueError, match=r"holds predictions of another run \(checkpoint differ\)"):
        check_manifest(str(tmp_path), {**manifest, "checkpoint": "def"})


@pytest.mark.slow
def test_two_processes_and_a_killed_run_resumed_write_the_files_of_one(tmp_path):
    result = run_benchmark(str(tmp_path), sessions=60, large=120)
    assert result["two_processes_identical_files"] and result["resumed_identical_files"]
    assert result["scored_twice"] == 0
    eval_sessions = result["corpus"]["eval_sessions"]
    assert result["resumed_found"] + result["resumed_scored"] == eval_sessions
    assert 0 < result["resumed_found"] < eval_sessions
    report = json.loads((tmp_path / "two" / "eval_report.json").read_text())
    assert report["scoring"]["processes"] == 2
    shards = sorted(path.name for path in (tmp_path / "two" / "shards").iterdir())
    assert shards == ["eval.rank0.jsonl", "eval.rank1.jsonl", "manifest.json"]
    assert result["large_over_small_peak_rss"] < 1.5
