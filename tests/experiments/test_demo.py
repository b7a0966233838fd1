"""The main job end to end in its quick form: every step runs, the summary holds the figures the README quotes,
and a second run reuses the corpus and the session cache."""

import json

import pytest

from sla_phi4.cli.demo import main


@pytest.mark.slow
def test_quick_main_job_runs_and_reuses_corpus_and_cache(tmp_path, capsys):
    workdir = tmp_path / "demo"
    summary = main(["--workdir", str(workdir), "--quick", "true"])
    saved = json.loads((workdir / "summary.json").read_text())
    assert saved["eval"]["rmse"] == pytest.approx(summary["eval"]["rmse"])
    assert set(saved["eval"]["baselines"]) == {"train_mean", "acoustic_ridge", "whisper_ridge"}
    assert saved["settings"]["backbone"] == "voxtral" and saved["session"]["warnings"] == []
    assert (workdir / "model" / "README.md").is_file() and (workdir / "model" / "pipeline_sla.py").is_file()
    cached = {path.name: path.stat().st_mtime_ns for path in (workdir / "cache").iterdir()}
    assert any(name.startswith("speech-") for name in cached) and any(name.startswith("app-") for name in cached)
    out = capsys.readouterr().out
    assert "x the pooled-Whisper ridge" in out

    again = main(["--workdir", str(workdir), "--quick", "true", "--model_card", "false"])
    assert "Reusing the corpus" in capsys.readouterr().out
    assert {path.name: path.stat().st_mtime_ns for path in (workdir / "cache").iterdir()} == cached  # none rewritten
    assert again["eval"]["rmse"] == pytest.approx(summary["eval"]["rmse"], abs=1e-6)  # deterministic
