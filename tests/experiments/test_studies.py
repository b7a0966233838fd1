"""Every ablation study end to end in its quick form (one seed, tiny corpus and model), in one workdir: each writes its
JSON, table and plot, and the studies share the runs that are the same model."""

import json

import pytest

from sla_phi4.cli.ablation import main
from sla_phi4.experiments.studies.report import TARGETS


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("ablation")


def study(workdir, name: str, *flags: str) -> dict:
    report = main(["--study", name, "--quick", "--seeds", "0", "--workdir", str(workdir), *flags])
    for extension in ("json", "md", "png"):
        assert (workdir / f"{name}.{extension}").stat().st_size > 0
    assert json.loads((workdir / f"{name}.json").read_text())["study"] == name
    return report


@pytest.fixture(scope="module")
def lora_rank_report(workdir):
    """The lora-rank study, once per test process: the overall-mode study reuses its default run. pytest-xdist may
    send the two tests to different workers (`--dist loadgroup` does not group under pytest 9.2: pytest-xdist#1386),
    so the overall-mode test asks for it too."""
    return study(workdir, "lora-rank")


@pytest.mark.slow
def test_lora_rank_study(workdir, lora_rank_report):
    report = lora_rank_report
    assert report["ranks"] == [4, 8] and report["backbone"] == "voxtral"
    parameters = [report["table"][f"rank {rank}"]["training"]["trainable_parameters"]["mean"] for rank in (4, 8)]
    assert parameters[0] < parameters[1]  # LoRA's share doubles with the rank
    for label in ("rank 4", "rank 8"):
        training = report["table"][label]["training"]
        assert training["seconds_per_step"]["mean"] > 0 and training["train_loss"]["mean"] > 0
        assert set(report["table"][label]["dev"]) == set(TARGETS)
    markdown = (workdir / "lora-rank.md").read_text()
    assert "| 8 (16) |" in markdown and "Dev split" in markdown
    assert {run["folder"].rsplit("/", 1)[-1] for run in report["runs"]["rank 4"]} == {"voxtral-default-quick-seed0"}


@pytest.mark.slow
def test_overall_mode_study_reuses_the_default_run(workdir, lora_rank_report, capsys):
    capsys.readouterr()
    report = study(workdir, "overall-mode")
    assert "Reusing head, seed 0" in capsys.readouterr().out  # the lora-rank study's default run
    post_hoc = report["table"]["mean of the head model's part outputs"]["eval"]["overall"]["rmse"]["mean"]
    assert post_hoc > 0
    assert report["runs"]["part_mean"][0]["folder"].endswith("voxtral-overall_mode-part_mean-quick-seed0")


@pytest.mark.slow
def test_truncation_study(workdir):
    report = study(workdir, "truncation", "--draws", "2")
    whole_run = report["runs"]["trained on whole sessions"][0]
    evaluation = report["training"]["trained on whole sessions"][0]
    for target in TARGETS:  # scoring from the cache gives what `sla score` gave the same sessions
        assert whole_run["whole sessions"]["reported"][target] == pytest.approx(
            evaluation["per_target"][target]["rmse"], abs=1e-4)
    assert set(whole_run) == {"whole sessions", "1 dropped", "2 dropped", "without P1", "without P3", "without P4",
                              "without P5"}
    for condition in ("without P1", "without P3", "without P4", "without P5"):
        part = condition.split()[-1]
        lost = whole_run[condition]["lost"]
        assert lost[part]["sessions"] == lost[part]["warned"] == lost["overall"]["warned"] > 0
    assert report["pipeline_check"] and all(check["ok"] for check in report["pipeline_check"])
    assert set(report["baselines"]) == {"train_mean", "whisper_ridge"}
    assert "trained with --drop_responses 0.15" in report["runs"]
    assert whole_run["1 dropped"]["draw_sd"]["raw"]["overall"] is not None  # two draws: their spread is reported
    assert "Spread over the 2 draws (the standard deviation of one draw's raw overall RMSE" in (
        workdir / "truncation.md").read_text()


@pytest.mark.slow
def test_app_study_on_the_phi4_stand_in(workdir):
    report = study(workdir, "app")
    assert report["backbone"] == "phi4" and set(report["table"]) == {"APP on", "APP off"}
    assert "| overall |" in (workdir / "app.md").read_text()


@pytest.fixture(scope="module")
def tiny_language_model(tmp_path_factory):
    """A tiny pretrained-shaped Llama (written as GGUF, converted as `sla convert-lm` converts SmolLM2)."""
    pytest.importorskip("gguf")
    from sla_phi4.conversion.gguf_lm import convert_gguf_lm
    from sla_phi4.testing.tiny_gguf import write_tiny_gguf

    folder = tmp_path_factory.mktemp("tiny-lm")
    write_tiny_gguf(folder / "tiny.gguf")
    return convert_gguf_lm(folder / "tiny.gguf", folder / "hf")


@pytest.mark.slow
def test_language_study_on_both_corpora(workdir, tiny_language_model, monkeypatch, tmp_path):
    monkeypatch.setenv("SLA_CACHE_DIR", str(tmp_path / "cache"))
    report = study(workdir, "language", "--language_model", str(tiny_language_model))
    assert report["backbone"] == "voxtral" and set(report["corpora"]) == {"content-only", "default"}
    for corpus, values in report["corpora"].items():
        assert list(values["table"]) == ["(a) random decoder", "(b) SmolLM2, projector random",
                                         "(c) SmolLM2, projector aligned"]
        assert set(values["baselines"]) == {"train_mean", "acoustic_ridge", "whisper_ridge"}
        assert values["alignment"]["wer_before"] >= 0 and values["alignment"]["train_clips"] == 8
        folders = [runs[0]["folder"] for runs in values["runs"].values()]
        assert all(f"language-{corpus}" in folder for folder in folders) and len(set(folders)) == 3
    summary = json.loads((workdir / "language-content-only" / "corpus" / "synthetic-summary.json").read_text())
    assert summary["cue_profile"] == "content-only"
    markdown = (workdir / "language.md").read_text()
    assert "Corpus `content-only`" in markdown and "held-out WER" in markdown and "timing ridge RMSE" in markdown


@pytest.mark.slow
def test_language_probe_on_both_corpora(workdir, tiny_language_model, monkeypatch, tmp_path):
    monkeypatch.setenv("SLA_CACHE_DIR", str(tmp_path / "cache"))
    report = study(workdir, "language-probe", "--language_model", str(tiny_language_model))
    assert set(report["corpora"]) == {"content-only", "default"} and report["folds"] == 5
    for probe in report["corpora"].values():
        assert set(probe["baselines"]) == {"train_mean", "timing", "whisper"}
        backbones = probe["backbones"]
        assert list(backbones) == ["(a) random decoder", "(b) SmolLM2, projector random",
                                   "(c) SmolLM2, projector aligned"]
        assert set(backbones["(a) random decoder"]) == {"heard", "head_input", "read", "read_embeddings"}
        assert set(backbones["(c) SmolLM2, projector aligned"]) == {"heard", "head_input"}  # reads as (b) does
        for stats in backbones["(b) SmolLM2, projector random"].values():
            assert all(stats[target]["rmse"]["mean"] > 0 for target in TARGETS)
    markdown = (workdir / "language-probe.md").read_text()
    assert "(b) SmolLM2, projector random: read, middle layer" in markdown and "5-fold cross-validation" in markdown
