"""The uncertainty study in its quick form: a model trained elsewhere (`--model`) judged on fresh held-out sessions
of another corpus seed, every interval method calibrated on dev and judged on eval, with fairness by L1."""

import json

import pytest

from sla_phi4.cli.demo import main as demo_main
from sla_phi4.cli.uncertainty_study import main as study_main
from sla_phi4.evaluation.uncertainty import METHODS


@pytest.mark.slow
def test_quick_uncertainty_study_judges_a_given_model_on_new_sessions(tmp_path):
    demo = tmp_path / "demo"
    demo_main(["--workdir", str(demo), "--quick", "true", "--model_card", "false"])
    config_before = (demo / "model" / "config.json").read_bytes()
    workdir = tmp_path / "uncertainty"
    summary = study_main(["--workdir", str(workdir), "--quick", "true", "--model", str(demo / "model"),
                          "--corpus_seed", "1", "--sessions", "44", "--split_shares", "0.1", "0.45", "0.45", "--resplits", "20"])

    # the given model judged on the new corpus's held-out splits; nothing trained, the checkpoint unchanged
    assert summary["model"] == str(demo / "model")
    assert not (workdir / "model").exists() and not (workdir / "base").exists()
    assert (demo / "model" / "config.json").read_bytes() == config_before
    corpus = json.loads((workdir / "corpus" / "synthetic-summary.json").read_text())
    assert corpus["seed"] == 1 and corpus["sessions"] == 44
    assert summary["dev_sessions"] == summary["eval_sessions"] == 20
    assert summary["fairness"]["sessions"] == 20

    # every method calibrated on dev and judged on eval: a coverage and width per target, a rejection curve
    assert set(summary["methods"]) == set(METHODS)
    for method, judged in summary["methods"].items():
        assert judged["calibration"]["method"] == method
        assert set(judged["targets"]) == {"P1", "P3", "P4", "P5", "overall"}
        for target, row in judged["targets"].items():
            assert row["sessions"] == 20 and 0.0 <= row["coverage"] <= 1.0 and row["mean_width"] > 0, (method, target)
        assert judged["rejection"]["model"][0] == pytest.approx(judged["rejection"]["random"][0])
    assert summary["chosen_by_cross_fitting"] in METHODS
    assert summary["fairness"]["columns"]["l1_voice"]["groups"]
    written = json.loads((workdir / "uncertainty.json").read_text())
    assert written["methods"].keys() == summary["methods"].keys()
    assert (workdir / "uncertainty.md").read_text().count("|") > 20
    assert (workdir / "uncertainty.png").stat().st_size > 0

    # the spread over random calibration splits of the pooled held-out sessions, at the study's sizes
    resplits = written["resplits"]
    assert (resplits["splits"], resplits["calibration_sessions"], resplits["judged_sessions"]) == (20, 20, 20)
    for method in METHODS:
        coverage = resplits["methods"][method]["coverage"]
        assert set(coverage) == {"P1", "P3", "P4", "P5", "overall"}
        assert all(row["p05"] <= row["mean"] <= row["p95"] for row in coverage.values())
    assert "Over 20 random splits of the 40 held-out sessions" in (workdir / "uncertainty.md").read_text()
    assert (workdir / "uncertainty-resplits.png").stat().st_size > 0
