"""The transfer study in its quick form: both arms train on the same drawn sessions, beside the baselines, and a
second run reuses every result on disk."""

import json

import pytest

from sla_phi4.cli.demo import main as demo_main
from sla_phi4.cli.transfer import main as transfer_main
from sla_phi4.experiments.transfer import draw_sessions, session_pool, training_sessions


def test_the_pool_and_the_draws_are_seeded_and_nested_in_the_pool():
    rows = [{"session_id": f"S{index}"} for index in range(30)]
    pool = session_pool(rows, 10)
    assert pool == session_pool(rows, 10) and len({row["session_id"] for row in pool}) == 10
    assert draw_sessions(pool, 4, 0) == draw_sessions(pool, 4, 0) != draw_sessions(pool, 4, 1)
    assert all(row in pool for row in draw_sessions(pool, 4, 2))
    assert {row["session_id"] for row in draw_sessions(pool, 10, 5)} == {row["session_id"] for row in pool}
    with pytest.raises(ValueError, match="the study needs 40"):
        session_pool(rows, 40)


def test_a_resumed_study_keeps_the_sessions_its_finished_runs_trained_on(tmp_path):
    rows = [{"session_id": f"S{index}"} for index in range(30)]
    ids = tmp_path / "n4-seed0.txt"
    first = training_sessions(session_pool(rows, 10), rows, 4, 0, str(ids), finished=False)
    assert ids.read_text().split() == [row["session_id"] for row in first]
    larger_pool = session_pool(rows, 20)  # a larger size added later changes the pool, hence the draws
    assert draw_sessions(larger_pool, 4, 0) != first
    assert training_sessions(larger_pool, rows, 4, 0, str(ids), finished=True) == first
    assert training_sessions(larger_pool, rows, 4, 0, str(ids), finished=False) == draw_sessions(larger_pool, 4, 0)
    ids.write_text("S1\nS99\n")
    with pytest.raises(ValueError, match=r"n4-seed0.txt, line 2: session 'S99' is not in the train split"):
        training_sessions(larger_pool, rows, 4, 0, str(ids), finished=True)


@pytest.mark.slow
def test_quick_transfer_study(tmp_path, capsys):
    demo = tmp_path / "demo"
    demo_main(["--workdir", str(demo), "--quick", "true", "--model_card", "false"])
    workdir = tmp_path / "transfer"
    args = ["--source", str(demo / "model"), "--format", "toefl-like", "--workdir", str(workdir), "--quick", "true"]
    summary = transfer_main(args)
    runs = json.loads((workdir / "runs.json").read_text())
    assert [(run["arm"], run["sessions"], run["seed"]) for run in runs] == [
        ("from scratch", 4, 0), ("from S&I", 4, 0), ("baselines", 4, 0)]
    assert set(runs[2]["metrics"]) == {"train_mean", "acoustic_ridge", "whisper_ridge"}
    for system in ("from scratch", "from S&I", "training mean", "pooled-Whisper ridge"):
        assert summary["overall_rmse"][system][4]["mean"] > 0, system
    assert (workdir / "transfer.png").stat().st_size > 0
    assert "| training sessions | from scratch | from S&I |" in (workdir / "transfer.md").read_text()
    # both arms trained on the same 4 sessions, and score the TOEFL-like format
    ids = (workdir / "ids" / "n4-seed0.txt").read_text().split()
    assert len(ids) == 4
    for arm in ("scratch", "from-sandi"):
        config = json.loads((workdir / "runs" / f"{arm}-n4-seed0" / "stage-sla" / "config.json").read_text())
        assert config["test_format"]["name"] == "toefl-like"
    capsys.readouterr()
    again = transfer_main(args)
    assert "=== from" not in capsys.readouterr().out  # nothing trained again
    assert again["overall_rmse"] == summary["overall_rmse"]
